# SPDX-License-Identifier: ISC
"""sdk_util.py: the JS clients of tests/sdk (pinned in its package.json):
where they are installed and installing them with tests/sdk/setup.sh.

    where = sdk_dir()             # tests/sdk, or a temp dir for a read-only tree
    ready, out = install(where)   # False: skip the test (offline, not root)

Limits: setup.sh may reach the npm registry (npm ci) when a pinned version is
missing; it is given 600 s."""

import os
import subprocess
import tempfile

from harness import SRCDIR

SDK_SRC = os.path.join(SRCDIR, "tests", "sdk")


def sdk_dir():
    """tests/sdk when it is writable, else a temp dir (read-only source tree)."""
    if os.access(SDK_SRC, os.W_OK):
        return SDK_SRC
    return os.path.join(tempfile.gettempdir(), "chatstream-sdk-%d" % os.getuid())


def install(where):
    """Runs setup.sh for where: (True, its output) when the clients are ready."""
    try:
        p = subprocess.run(["bash", os.path.join(SDK_SRC, "setup.sh"), where],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=600)
    except subprocess.TimeoutExpired:
        return False, "setup.sh took longer than 600 s"
    out = p.stdout.decode("utf-8", "replace")
    return p.returncode == 0, out
