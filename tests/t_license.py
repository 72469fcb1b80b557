#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_license.py: the licence packagers look for: LICENSE at the top of the
tree, ISC, and an SPDX-License-Identifier line near the top of every source,
script, test, page and configuration file the tarball ships.  Needs no
chatstream and no servers."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import ok, run  # noqa: E402

TOP = os.environ.get("SRCDIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAG = "SPDX-License-Identifier: ISC"
DIRS = ["src", "tests", "scripts", "bench", "www", "conf", "man"]
SUFFIXES = (".c", ".h", ".py", ".sh", ".mjs", ".js", ".css", ".html", ".conf", ".service",
            ".socket", ".1", ".5")
SKIP = {"node_modules", "corpus", "_build", "__pycache__"}


def sources():
    for d in DIRS:
        for root, dirs, files in os.walk(os.path.join(TOP, d)):
            dirs[:] = sorted(x for x in dirs if x not in SKIP)
            for f in sorted(files):
                if f.endswith(SUFFIXES):
                    yield os.path.join(root, f)
    for f in ("configure.ac", "Makefile.am"):
        yield os.path.join(TOP, f)


def main():
    with open(os.path.join(TOP, "LICENSE"), encoding="utf-8") as f:
        text = f.read()
    ok("Permission to use, copy, modify, and distribute this software" in text,
       "LICENSE holds the ISC licence")
    missing, n = [], 0
    for path in sources():
        if not os.path.exists(path):
            continue
        n += 1
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(2000)
        if TAG not in head:
            missing.append(os.path.relpath(path, TOP))
    ok(n > 100, "%d files looked at" % n)
    ok(not missing, "every file names its licence (%s)" % (", ".join(missing) or "none missing"))


run(main)
