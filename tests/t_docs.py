#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_docs.py: the documents lead where they say.  In README.md, doc/*.md and
every other Markdown file of the tree: each relative link names a file or
directory that exists, and each #anchor a heading of the file it points at
(as GitHub makes anchors of headings).  In README.md and doc/*.md: each file
of the tree named in backquotes (`scripts/quickstart.sh`, `src/conf.c`)
exists, each `key = value` and each key set in an ini example is a key the
code takes (src/conf.c and the backends), each `METHOD /route` is a path
src/ spells out, and each source file named in doc/hacking.md's layout
table is in src/.  Run in a `make distcheck` tree, it also proves that the
tarball ships what the documents use.  Needs no chatstream and no servers."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import confkeys  # noqa: E402
from harness import diag, is_, ok, run  # noqa: E402

TOP = os.environ.get("SRCDIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP_DIRS = {".git", "node_modules", "_build", "__pycache__", "corpus", "artifacts"}

FENCE_RE = re.compile(r"^( {0,3})(```+|~~~+)(.*)$")
LINK_RE = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN_RE = re.compile(r"(`+)(.+?)\1")
HEADING_RE = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
PATH_RE = re.compile(r"^(?:scripts|tests|conf|src|bench|man|www|doc)/[A-Za-z0-9_./-]*[A-Za-z0-9_]\.[a-z0-9]+$"
                     r"|^(?:configure\.ac|Makefile\.am|LICENSE|README\.md|\.ci/run)$")
ROUTE_RE = re.compile(r"^(?:GET|POST|DELETE|HEAD|PUT) (/\S*)$")
SETTING_RE = re.compile(r"^([a-z][a-z0-9_]*) = \S")
PLACEHOLDERS = {"key"}                      # `key = value`: the syntax itself


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def markdown_files():
    """Every Markdown file of the tree, README.md and doc/ first."""
    first = [os.path.join(TOP, "README.md")]
    docdir = os.path.join(TOP, "doc")
    if os.path.isdir(docdir):
        first += sorted(os.path.join(docdir, f) for f in os.listdir(docdir) if f.endswith(".md"))
    rest = []
    for root, dirs, files in os.walk(TOP):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for f in sorted(files):
            p = os.path.join(root, f)
            if f.endswith(".md") and p not in first:
                rest.append(p)
    return [p for p in first if os.path.exists(p)] + rest


def split(text):
    """(prose lines, [(info string, code text)] of the fenced blocks)."""
    prose, blocks, fence, info, body = [], [], None, "", []
    for line in text.splitlines():
        m = FENCE_RE.match(line)
        if fence is None:
            if m:
                fence, info, body = m.group(2), m.group(3).strip(), []
                prose.append("")
            else:
                prose.append(line)
        elif m and m.group(2).startswith(fence[0]) and len(m.group(2)) >= len(fence) \
                and not m.group(3).strip():
            blocks.append((info, "\n".join(body)))
            fence = None
            prose.append("")
        else:
            body.append(line)
            prose.append("")
    return prose, blocks


def slug(heading):
    """GitHub's anchor of a heading: the text without markup, lower case,
    punctuation dropped, each space a hyphen."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)   # a link's text
    text = text.replace("`", "").replace("*", "")
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


_ANCHORS = {}


def anchors(path):
    """The anchors of a Markdown file's headings (and of its <a name=...>)."""
    cache = _ANCHORS
    if path not in cache:
        seen, out = {}, set()
        prose, _ = split(read(path))
        for line in prose:
            m = HEADING_RE.match(line)
            if not m:
                continue
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else "%s-%d" % (base, n))
        for m in re.finditer(r'<a\s+(?:name|id)="([^"]+)"', read(path)):
            out.add(m.group(1))
        cache[path] = out
    return cache[path]


def links(path):
    """[(line number, target)] of the inline links outside code."""
    prose, _ = split(read(path))
    out = []
    for i, line in enumerate(prose, 1):
        line = CODE_SPAN_RE.sub(lambda m: "x" * len(m.group(0)), line)
        for m in LINK_RE.finditer(line):
            out.append((i, m.group(1)))
    return out


def broken_links(path):
    """[message] for each link of path that leads nowhere."""
    bad = []
    rel = os.path.relpath(path, TOP)
    for line, target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            continue                        # http:, https:, mailto:
        file_part, _, frag = target.partition("#")
        dest = path if not file_part else os.path.normpath(
            os.path.join(os.path.dirname(path), file_part))
        where = "%s:%d: %s" % (rel, line, target)
        if not os.path.realpath(dest).startswith(os.path.realpath(TOP) + os.sep) \
                and os.path.realpath(dest) != os.path.realpath(TOP):
            bad.append(where + " (leaves the tree)")
        elif not os.path.exists(dest):
            bad.append(where + " (no such file)")
        elif frag and dest.endswith(".md") and frag not in anchors(dest):
            bad.append(where + " (no heading #%s there)" % frag)
        elif frag and not dest.endswith(".md"):
            bad.append(where + " (an anchor into a file that is not Markdown)")
    return bad


def named_paths(path):
    """[(line number, path)] of the tree's files named in backquotes."""
    prose, _ = split(read(path))
    out = []
    for i, line in enumerate(prose, 1):
        for m in CODE_SPAN_RE.finditer(line):
            word = m.group(2).strip()
            if PATH_RE.match(word):
                out.append((i, word))
    return out


def settings(path):
    """[(where, key)] of `key = value` spans and of keys set in ini blocks."""
    prose, blocks = split(read(path))
    rel = os.path.relpath(path, TOP)
    out = []
    for i, line in enumerate(prose, 1):
        for m in CODE_SPAN_RE.finditer(line):
            s = SETTING_RE.match(m.group(2).strip())
            if s and s.group(1) not in PLACEHOLDERS:
                out.append(("%s:%d" % (rel, i), s.group(1)))
    for info, code in blocks:
        if info != "ini":
            continue
        for cl in code.splitlines():
            s = re.match(r"^([a-z][a-z0-9_]*)\s*=", cl)
            if s:
                out.append(("%s (ini example)" % rel, s.group(1)))
    return out


def routes(path):
    """[(line number, route)] of `METHOD /route` spans; `<id>` and the query dropped."""
    prose, _ = split(read(path))
    out = []
    for i, line in enumerate(prose, 1):
        for m in CODE_SPAN_RE.finditer(line):
            r = ROUTE_RE.match(m.group(2).strip())
            if r:
                out.append((i, re.sub(r"<[^>]*>.*$", "", r.group(1).split("?")[0])))
    return out


def code_routes():
    """Every string literal of src/*.c that starts with '/': the routes among them."""
    found = set()
    src = os.path.join(TOP, "src")
    for f in sorted(os.listdir(src)):
        if f.endswith(".c"):
            found |= set(re.findall(r'"(/[^"\\]*)"', read(os.path.join(src, f))))
    # a route table's "/streams/*" is the doc's /streams/<id>
    return found | {r[:-1] for r in found if r.endswith("/*")}


def layout_files(path):
    """The source files named in the first column of the Layout table."""
    text = read(path)
    m = re.search(r"^## Layout\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    names = []
    for row in (m.group(1) if m else "").splitlines():
        if row.startswith("|") and not row.startswith("|---"):
            first = row.split("|")[1]
            names += re.findall(r"`([A-Za-z0-9_]+\.[ch])`", first)
    return names


def main():
    files = markdown_files()
    main_docs = [p for p in files if os.path.relpath(p, TOP) == "README.md"
                 or os.path.relpath(p, TOP).startswith("doc" + os.sep)]
    ok(os.path.join(TOP, "README.md") in files, "README.md is there")
    for want in ("deploy.md", "configuration.md", "operations.md", "hacking.md"):
        ok(os.path.exists(os.path.join(TOP, "doc", want)), "doc/%s is there" % want)

    # The README links into doc/ for every document there.
    readme_targets = {os.path.normpath(t.partition("#")[0]) for _, t in links(os.path.join(TOP, "README.md"))}
    unlinked = sorted(os.path.relpath(p, TOP) for p in main_docs
                      if os.path.relpath(p, TOP) != "README.md"
                      and os.path.relpath(p, TOP) not in readme_targets)
    is_(unlinked, [], "the README links to every document in doc/")

    n, bad = 0, []
    for path in files:
        n += len(links(path))
        bad += broken_links(path)
    ok(n > 50, "%d links in %d Markdown files" % (n, len(files)))
    ok(not bad, "every relative link leads to a file, every #anchor to a heading")
    for b in bad:
        diag(b)

    missing = []
    for path in main_docs:
        for line, p in named_paths(path):
            if not os.path.exists(os.path.join(TOP, p)):
                missing.append("%s:%d: %s" % (os.path.relpath(path, TOP), line, p))
    ok(not missing, "every file the README and doc/ name in backquotes exists")
    for m in missing:
        diag(m)

    keys = set().union(*confkeys.code_keys(TOP).values())
    ok(len(keys) > 40, "%d configuration keys read from src/" % len(keys))
    unknown, count = [], 0
    for path in main_docs:
        for where, key in settings(path):
            count += 1
            if key not in keys:
                unknown.append("%s: %s" % (where, key))
    ok(count > 10, "%d settings shown in the README and doc/" % count)
    ok(not unknown, "every setting the README and doc/ show is a key the code takes")
    for u in unknown:
        diag(u)

    known, named, unrouted = code_routes(), 0, []
    for path in main_docs:
        for line, r in routes(path):
            named += 1
            if r not in known:
                unrouted.append("%s:%d: %s" % (os.path.relpath(path, TOP), line, r))
    ok(named >= 5, "%d routes named in the README and doc/" % named)
    ok(not unrouted, "every route the README and doc/ name is one the code knows")
    for u in unrouted:
        diag(u)

    hacking = os.path.join(TOP, "doc", "hacking.md")
    names = layout_files(hacking) if os.path.exists(hacking) else []
    ok(len(names) > 10, "doc/hacking.md's layout table names %d source files" % len(names))
    gone = sorted(x for x in names if not os.path.exists(os.path.join(TOP, "src", x)))
    is_(gone, [], "every source file doc/hacking.md's layout names is in src/")


run(main)
