# SPDX-License-Identifier: ISC
"""models.py: the models the tests stream from: the demo model's answer
(contract: "Demo answer") and the held exec model, which says the rest only
when the test releases it.
"""

import os
import re

from testenv import scaled


DEMO_TAIL = ("\n\nThis is chatstream's demo model, streaming token by token: "
             "naïve café, 日本語のテキスト, emoji 🎉🚀. Done.")
CONTROL = "ctl:\r\n\revent: x\ndata: y\n\nid: 9\x00\x1b[1m\x7f "
TOKEN_RE = re.compile(r'[ \t\r\n]*[^ \t\r\n]+|[ \t\r\n]+$')


def demo_text(prompt):
    """TEXT for prompt P (the content of the last user message)."""
    return "You said: " + prompt + DEMO_TAIL


def demo_tokens(prompt, control=False, max_tokens=None):
    """The tokens the demo model sends, in order: CONTROL first when
    control_chars is on, then re.findall(TOKEN_RE, TEXT), cut to max_tokens."""
    toks = TOKEN_RE.findall(demo_text(prompt))
    assert "".join(toks) == demo_text(prompt)
    if control:
        toks = [CONTROL] + toks
    if max_tokens is not None:
        toks = toks[:max_tokens]
    return toks


def word_count(*contents):
    """usage.prompt_tokens: whitespace-separated words over all contents.
    (Use ASCII whitespace in tests; Unicode spaces are not specified.)"""
    return sum(len([w for w in re.split(r"[ \t\r\n\f\v]+", c) if w]) for c in contents)


HELD_SCRIPT = r"""#!/bin/sh
# A held model: says "NAME waiting ", then waits (at most HOLD s) until the
# test creates TAG.go in %(dir)s, which the test does only once it has seen
# what it waits for (the first token, heartbeats...); then says "released"
# ("unreleased" if the hold ran out).  The prompt is "TAG HOLD NAME".
IFS=' ' read -r tag hold name || true
case "$tag.$hold.$name" in *[!A-Za-z0-9_.-]*|.*|*..*|*.) echo "bad prompt" >&2; exit 2;; esac
case "$hold" in *[!0-9]*) echo "bad hold" >&2; exit 2;; esac
printf '%%s waiting ' "$name"
n=$((hold * 4))
while [ ! -e "%(dir)s/$tag.go" ] && [ "$n" -gt 0 ]; do
	sleep 0.25
	n=$((n - 1))
done
if [ -e "%(dir)s/$tag.go" ]; then printf 'released'; else printf 'unreleased'; fi
"""
_held_tags = [0]


class Held:
    """A held exec model (HELD_SCRIPT): it says a first token, then says the
    rest only when the test releases it, so a test proves by order, not by
    timing, that something reached the client while the model was still
    running: it releases the model only once it has seen that thing, and the
    answer then ends "released".  The script and its release files live in
    gate_dir (world-writable: the model may run as the web server's user)."""

    HOLD_S = 300                # how long a model waits to be released, at most (scaled)

    def __init__(self, fx, gate_dir=None, name="held.sh"):
        self.fx = fx
        self.dir = gate_dir or fx.path("gates")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o777)
        self.script = fx.path(name)
        if not os.path.exists(self.script):      # a running model reads it
            with open(self.script, "w") as f:
                f.write(HELD_SCRIPT % {"dir": self.dir})
            os.chmod(self.script, 0o755)

    def model(self, **kw):
        """The model's config section."""
        m = dict(Held.limits(), backend="exec", command=self.script, kill_grace_ms=500)
        m.update(kw)
        return m

    @staticmethod
    def limits():
        """The exec backend's limits for a held model: it may stay silent for
        as long as it is held (the defaults, 60 s silent and 300 s in all,
        would end a long hold on a busy machine with error timeout)."""
        hold = int(scaled(Held.HOLD_S))
        return {"idle_timeout": hold + 60, "max_duration": hold + 120}

    @staticmethod
    def tag(kind):
        """A fresh tag: the name of one release file."""
        _held_tags[0] += 1
        return "%s%d" % (kind, _held_tags[0])

    def prompt(self, tag, name, hold=None):
        """The prompt for a model held under tag, at most hold s (default
        HOLD_S, scaled) and answering with name."""
        return "%s %d %s" % (tag, scaled(self.HOLD_S) if hold is None else hold, name)

    @staticmethod
    def text(name, released=True):
        """The model's whole answer."""
        return "%s waiting %s" % (name, "released" if released else "unreleased")

    @staticmethod
    def first(res):
        """True once the client has the model's first token."""
        return any(" waiting" in t for t in res.stream().texts)

    def release(self, tag):
        """Lets every model held under tag say the rest; returns True."""
        p = os.path.join(self.dir, tag + ".go")
        with open(p, "w"):
            pass
        os.chmod(p, 0o644)
        return True
