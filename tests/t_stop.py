#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_stop.py: stop sequences through lighttpd for the demo, exec and openai
backends (an upstream that ignores them): the text ends right before the first
stop sequence to appear, even one that spans tokens (or reads), the stop text is never sent, the stream ends with
finish_reason "stop" (native done, OpenAI chunks and JSON) and the command is
stopped; a resume replays the same cut text; a start of a sequence that never
completes is sent at the end; more than 4 sequences is a 400."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (DEMO_FAST, Fixture, check_stream, config, demo_text, demo_tokens,  # noqa: E402
                     diag, is_, ok, read_pid, require_tools, run, script, wait_gone)
from fake_upstream import FAKE_TEXT, FakeUpstream  # noqa: E402
from resume_util import meta_of, stream_path  # noqa: E402

P = "where does it stop"
EXEC_TEXT = "alpha beta STOP gamma"
KEY_ENV = "CHATSTREAM_TEST_STOP_KEY"


def v1(fx, model, stop, stream):
    return fx.chat({"model": model, "stream": stream, "stop": stop,
                    "messages": [{"role": "user", "content": P}]},
                   path="v1/chat/completions")


def v1_stream(r):
    """(content, finish_reason of the last chunk, ended with [DONE])."""
    text, finish = [], None
    for e in r.events:
        if e.data == "[DONE]":
            continue
        try:
            c = json.loads(e.data)["choices"]
        except (ValueError, KeyError, TypeError):
            return None, None, False
        if c:
            text.append(c[0].get("delta", {}).get("content") or "")
            finish = c[0].get("finish_reason") or finish
    return "".join(text), finish, bool(r.events) and r.events[-1].data == "[DONE]"


def both_formats(fx, model, stop, want, label):
    """The OpenAI formats, streamed and not, cut where the native one is."""
    r = v1(fx, model, stop, True)
    text, finish, done = v1_stream(r)
    is_(text, want, "%s, /v1 stream: the text ends right before the stop" % label)
    is_(finish, "stop", "%s, /v1 stream: finish_reason stop" % label)
    ok(done, "%s, /v1 stream: ends with [DONE]" % label)
    r = v1(fx, model, stop, False)
    try:
        c = r.json()["choices"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        c = {}
    is_(c.get("message", {}).get("content"), want,
        "%s, /v1 JSON: the content ends right before the stop" % label)
    is_(c.get("finish_reason"), "stop", "%s, /v1 JSON: finish_reason stop" % label)


def demo_tests(fx):
    full = demo_text(P)
    cases = [
        # "chatstream's demo model": the sequence spans three tokens
        ("spanning tokens", "s demo mod"),
        ("UTF-8", "é, 日本"),
        ("the first of several to appear", ["never there", "token by", "demo"]),
        ("at the very start", "You said"),
    ]
    for label, stop in cases:
        seqs = [stop] if isinstance(stop, str) else stop
        want = full[:min(full.find(s) for s in seqs if s in full)]
        r = fx.chat({"prompt": P, "stop": stop})
        sv = check_stream(r, want, "stop", label="demo, " + label)
        ok(not any(s in sv.text for s in seqs), "demo, %s: no stop text was sent" % label)
        both_formats(fx, "demo", stop, want, "demo, " + label)

    # a resume replays the cut text
    want = full[:full.find("s demo mod")]
    r = fx.chat({"prompt": P, "stop": ["s demo mod"]})
    url = meta_of(r).get("resume")
    rr = fx.curl(stream_path(url))
    check_stream(rr, want, "stop", label="demo, resumed")
    is_([e.data for e in rr.events], [e.data for e in r.events],
        "demo, resumed: the same events as the POST")

    # the start of a sequence that never comes is sent at the end
    r = fx.chat({"prompt": P, "stop": "Done.!"})
    check_stream(r, full, "stop", label="demo, a prefix at the end",
                 completion_tokens=len(demo_tokens(P)))


def exec_tests(fx, pidfile):
    want = EXEC_TEXT[:EXEC_TEXT.find("beta ST")]
    r = fx.chat({"prompt": P, "model": "cmd", "stop": "beta ST"})
    check_stream(r, want, "stop", model="cmd", label="exec")
    pid = read_pid(pidfile)
    ok(pid is not None and wait_gone(pid, 10), "exec: the command is stopped")
    os.unlink(pidfile)
    url = meta_of(r).get("resume")
    check_stream(fx.curl(stream_path(url)), want, "stop", model="cmd", label="exec, resumed")
    both_formats(fx, "cmd", ["beta ST"], want, "exec")


def relay_tests(fx, up):
    """An upstream that ignores stop: chatstream cuts the text all the same."""
    stop = "wörld! 日"
    want = FAKE_TEXT[:FAKE_TEXT.find(stop)]
    r = fx.chat({"prompt": P, "model": "relay", "stop": [stop]})
    check_stream(r, want, "stop", model="relay", completion_tokens=False, label="relay")
    q = up.last("ok")
    is_((q.json or {}).get("stop") if q is not None else None, [stop],
        "relay: stop is passed upstream")
    both_formats(fx, "relay", [stop], want, "relay")


def refusals(fx):
    for stop, what in [(["a", "b", "c", "d", "e"], "5 sequences"), ([""], "an empty one"),
                       (["a", 3], "a number"), ({"a": 1}, "an object")]:
        r = fx.chat({"prompt": P, "stop": stop})
        is_(r.status, 400, "native: %s is a 400" % what)
        r = v1(fx, "demo", stop, True)
        is_(r.status, 400, "/v1: %s is a 400" % what)
        try:
            msg = r.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            msg = ""
        ok('"stop"' in msg, "/v1: %s: the error names \"stop\"" % what)
        if '"stop"' not in msg:
            diag(r.body[:300])
    r = fx.chat({"prompt": P, "stop": ["a", "b", "c", "dummy"]})
    is_(r.status, 200, "4 sequences are accepted")


def main():
    require_tools()
    fx = Fixture("stop")
    pidfile = fx.path("cmd.pid")
    cmd = script(fx, "cmd.sh", "echo $$ > %s\nprintf 'alpha be'\nsleep 0.2\n"
                 "printf 'ta STOP gamma'\nexec sleep 60\n" % pidfile)
    up = FakeUpstream()
    fx.on_close(up.close)
    os.environ[KEY_ENV] = "sk-stop-test-%d" % os.getpid()
    cs = fx.start_chatstream(config({"spool_dir": fx.path("spool")}, {
        "demo": DEMO_FAST,
        "cmd": {"backend": "exec", "command": cmd},
        "relay": {"backend": "openai", "base_url": up.base_url, "model": "ok",
                  "api_key_env": KEY_ENV},
    }))
    del os.environ[KEY_ENV]
    fx.start_lighttpd(cs)
    demo_tests(fx)
    exec_tests(fx, pidfile)
    relay_tests(fx, up)
    refusals(fx)
    ok(cs.alive(), "chatstream still runs")


run(main)
