# SPDX-License-Identifier: ISC
"""sdk_util.py: the JS clients of tests/sdk (pinned in its package.json):
where they are installed and installing them with tests/sdk/setup.sh.

    where = sdk_dir()             # tests/sdk, or a temp dir for a read-only tree
    ready, out = install(where)   # False: skip the test (offline, not root)
    res = run_script(where, "x.mjs", [url, ...], "the SDK script")
                                  # its JSON result, or None (a failed test point)

Limits: setup.sh may reach the npm registry (npm ci) when a pinned version is
missing; it is given 600 s."""

import json
import os
import subprocess
import tempfile
import time

from harness import SRCDIR, diag, is_, ok

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


def run_script(where, script, args, what, timeout=180):
    """Runs node where/script args (next to its node_modules) and returns the JSON
    it prints, after the test points that it finished within timeout, printed
    its JSON and exited 0; None when it did not finish or printed no JSON."""
    t0 = time.monotonic()
    try:
        p = subprocess.run(["node", os.path.join(where, script)] + list(args),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, cwd=where)
    except subprocess.TimeoutExpired:
        ok(False, "%s finished within %d s" % (what, timeout))
        return None
    diag("node %s ran %.1f s, exit %d" % (script, time.monotonic() - t0, p.returncode))
    if p.stderr.strip():
        diag("stderr: " + p.stderr.decode("utf-8", "replace")[-2000:])
    try:
        res = json.loads(p.stdout.decode("utf-8"))
    except ValueError:
        ok(False, "%s printed its JSON result" % what)
        diag("stdout: %r" % p.stdout[-2000:])
        return None
    is_(p.returncode, 0, "%s exited 0" % what)
    return res
