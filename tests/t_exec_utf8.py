#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_exec_utf8.py: invalid UTF-8 from an exec model never costs text.  With the
smallest max_event (4096), a command writes a Latin-1 'A\\xe9' pattern: each
lone byte becomes U+FFFD (three bytes), so the sanitised text of one read is
much larger than the bytes read.  The client must receive all of it, split over
as many events as needed, and `done` counting those events."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import Fixture, check_stream, config, is_, ok, require_tools, run, script  # noqa: E402

TAIL = b" and then more valid text"


def writer(fx, name, repeat, writes):
    """A command writing b'A\\xe9' * repeat + TAIL in `writes` equal parts."""
    prog = fx.path(name + ".py")
    with open(prog, "w") as f:
        f.write("import sys, time\n"
                "data = b'A\\xe9' * %d + %r\n"
                "n = len(data) // %d + 1\n"
                "for i in range(0, len(data), n):\n"
                "    sys.stdout.buffer.write(data[i:i + n])\n"
                "    sys.stdout.flush()\n"
                "    time.sleep(0.01)\n" % (repeat, TAIL, writes))
    return script(fx, name + ".sh", "exec python3 %s\n" % prog)


def main():
    require_tools()
    fx = Fixture("exec-utf8")
    cs = fx.start_chatstream(config({"threads": 2, "max_event": 4096}, {
        "latin1": {"backend": "exec", "command": writer(fx, "latin1", 300, 1)},
        "latin1big": {"backend": "exec", "command": writer(fx, "latin1big", 5000, 3)},
    }))
    fx.start_lighttpd(cs)

    for model, repeat in (("latin1", 300), ("latin1big", 5000)):
        want = "A\ufffd" * repeat + TAIL.decode()
        r = fx.chat({"prompt": "x", "model": model})
        sv = check_stream(r, want, "stop", model=model, label=model)
        ok(len(sv.texts) >= 2, "%s: the text came in several events (%d)" % (model, len(sv.texts)))
        is_(len(sv.text.encode()), 4 * repeat + len(TAIL),
            "%s: %d bytes of text arrived" % (model, 4 * repeat + len(TAIL)))
        ok(all(len(e.data) <= 4096 for e in sv.token_events),
           "%s: every event is within max_event" % model)

    # the OpenAI shape, streamed, gets all of it too
    r = fx.chat({"model": "latin1", "stream": True, "messages": [{"role": "user", "content": "x"}]},
                path="v1/chat/completions")
    got = []
    for e in r.events:
        if e.data == "[DONE]":
            continue
        try:
            d = json.loads(e.data)
            got.append(d["choices"][0]["delta"].get("content") or "")
        except (ValueError, KeyError, IndexError, TypeError):
            got.append(None)
    is_("".join(g for g in got if g is not None), "A\ufffd" * 300 + TAIL.decode(),
        "OpenAI format: all the text arrived")
    ok(r.events and r.events[-1].data == "[DONE]", "OpenAI format: ends with [DONE]")
    ok(cs.alive(), "chatstream still runs")


run(main)
