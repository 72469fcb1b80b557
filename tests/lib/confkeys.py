# SPDX-License-Identifier: ISC
"""confkeys.py: the configuration keys the code takes, read from the sources
(src/conf.c's global table, the keys every model section takes, and each
src/backend_NAME.c's options), for the tests that hold documents to them
(t_man.py, t_docs.py).  Reads files only."""

import glob
import os
import re

# A global key: G("name", K_TYPE, field, min, max) in conf.c's table.
GLOBAL_RE = re.compile(r'^\s*G\(\s*"([a-z0-9_]+)"\s*,', re.M)
# A model option: conf_opt(m, "key"), conf_opt_int(m, "key", ...) and the
# like, or a key matched by hand in the options list (a repeatable key).
OPT_RE = re.compile(r'\bconf_opt(?:_[a-z]+)?\(\s*[a-z_]+\s*,\s*"([a-z0-9_]+)"')
LIST_RE = re.compile(r'opts\[[a-z_]+\]\.key\s*,\s*"([a-z0-9_]+)"')


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def code_keys(top):
    """{group: set of keys}: "global", "model" and one group per backend."""
    conf = _read(os.path.join(top, "src", "conf.c"))
    m = re.search(r'global_keys\[\]\s*=\s*\{(.*?)\n\};', conf, re.S)
    groups = {"global": set(GLOBAL_RE.findall(m.group(1) if m else "")),
              "model": set(OPT_RE.findall(conf)) | set(LIST_RE.findall(conf))}
    for path in sorted(glob.glob(os.path.join(top, "src", "backend_*.c"))):
        name = os.path.basename(path)[len("backend_"):-len(".c")]
        text = _read(path)
        groups[name] = set(OPT_RE.findall(text)) | set(LIST_RE.findall(text))
    return groups
