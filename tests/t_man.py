#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_man.py: the documents of record agree with the code.  Every key the
configuration parser takes (src/conf.c's global table, the keys every model
section takes, and each src/backend_NAME.c's options) is documented in
man/chatstream.conf.5 under its group, and the page documents no key the
code does not take; every key appears in conf/chatstream.conf, set or in a
commented example; and the pages render without warnings.  Needs no
chatstream and no servers."""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import confkeys  # noqa: E402
from harness import diag, is_, ok, run  # noqa: E402

TOP = os.environ.get("SRCDIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(TOP, "man", "chatstream.conf.5")
PAGES = [PAGE, os.path.join(TOP, "man", "chatstream.1")]

def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def code_keys():
    """{group: set of keys}: "global", "model" and one group per backend."""
    return confkeys.code_keys(TOP)


def page_keys():
    """{group: set of keys} from the page's .Ss subsections and .It Cm key lines."""
    groups, group = {}, None
    for line in read(PAGE).splitlines():
        if line.startswith(".Sh "):
            group = None
        elif line.startswith(".Ss "):
            title = line[4:].strip()
            b = re.fullmatch(r"backend = ([a-z0-9_]+)", title)
            group = ("global" if title == "Global keys" else
                     "model" if title == "Model sections" else
                     b.group(1) if b else "?" + title)
        m = re.match(r"\.It Cm ([a-z0-9_]+)\b", line)
        if m and group is not None:
            groups.setdefault(group, set()).add(m.group(1))
    return groups


def lint(path):
    """Warnings from every formatter at hand: [(tool, text)]."""
    out = []
    if shutil.which("groff"):
        p = subprocess.run(["groff", "-mdoc", "-ww", "-z", path],
                           capture_output=True, text=True, check=False)
        out.append(("groff", (p.stderr + ("" if p.returncode == 0 else
                                          "exit %d" % p.returncode)).strip()))
    if shutil.which("mandoc"):
        p = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", path],
                           capture_output=True, text=True, check=False)
        out.append(("mandoc", (p.stdout + p.stderr).strip()))
    return out


def code_options():
    """The options src/main.c takes: {"-c", "--config", ...} from its getopt_long call."""
    src = read(os.path.join(TOP, "src", "main.c"))
    opts = set("--" + n for n in re.findall(r'\{\s*"([a-z-]+)",\s*(?:no|required)_argument', src))
    m = re.search(r'getopt_long\(argc, argv, "([^"]*)"', src)
    if m:
        opts |= set("-" + c for c in m.group(1).replace(":", ""))
    return opts


def page_options(page):
    """The options chatstream(1) describes: each .It Fl entry of its list."""
    opts = set()
    for line in page.splitlines():
        if line.startswith(".It Fl "):
            for f in re.findall(r"Fl (-?[A-Za-z-]+)", line):
                opts.add("-" + f)
    return opts


def main():
    code = code_keys()
    ok(len(code["global"]) >= 20, "%d global keys found in src/conf.c" % len(code["global"]))
    ok({"backend", "on_disconnect", "grace"} <= code["model"],
       "the keys every model takes found in src/conf.c (%s)" % " ".join(sorted(code["model"])))
    for b in ("demo", "exec", "openai"):
        ok(code.get(b), "backend %s's options found (%s)" % (b, " ".join(sorted(code.get(b, ())))))

    page = page_keys()
    for group in sorted(set(code) | set(page)):
        have, want = page.get(group, set()), code.get(group, set())
        missing, extra = sorted(want - have), sorted(have - want)
        ok(not missing and not extra,
           "chatstream.conf(5) documents exactly the %s keys" % group)
        if missing:
            diag("missing from man/chatstream.conf.5: " + " ".join(missing))
        if extra:
            diag("in man/chatstream.conf.5 but not taken by the code: " + " ".join(extra))

    every = set().union(*code.values())
    sample = read(os.path.join(TOP, "conf", "chatstream.conf"))
    shown = set(re.findall(r"^[#;]?[ \t]*([a-z0-9_]+)[ \t]*=", sample, re.M))
    missing = sorted(every - shown)
    ok(not missing, "conf/chatstream.conf shows every key, set or commented")
    if missing:
        diag("missing from conf/chatstream.conf: " + " ".join(missing))
    unknown = sorted(set(re.findall(r"^[ \t]*([a-z0-9_]+)[ \t]*=", sample, re.M)) - every)
    is_(unknown, [], "conf/chatstream.conf sets no key the code does not take")

    want = code_options()
    ok(len(want) >= 10, "src/main.c's options found (%s)" % " ".join(sorted(want)))
    have = page_options(read(PAGES[1]))
    is_(sorted(have ^ want), [], "chatstream(1) documents exactly the options src/main.c takes")
    if have - want:
        diag("in man/chatstream.1 but not taken: " + " ".join(sorted(have - want)))
    if want - have:
        diag("missing from man/chatstream.1: " + " ".join(sorted(want - have)))

    for path in PAGES:
        name = os.path.basename(path)
        ok(read(path).startswith('.\\" SPDX-License-Identifier: ISC\n'),
           "%s starts with its licence line" % name)
        results = lint(path)
        ok(results, "a formatter is installed to check %s (groff or mandoc)" % name)
        for tool, text in results:
            is_(text, "", "%s renders %s without warnings" % (tool, name))


run(main)
