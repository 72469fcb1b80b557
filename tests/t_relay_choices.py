#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_relay_choices.py: `n` above 1 relayed from an `openai` upstream on
POST /v1/chat/completions.  The upstream (tests/lib/fake_upstream.py's
choices scenario, a test double) answers n choices interleaved chunk by
chunk: choice 0 reasons and answers with logprobs, choice 1 answers and
calls a tool in fragments and ends first, choices past 1 are cut short;
one chunk carries two choices at once; its bytes come in pieces that cut
lines and characters.
  - "stream": true (curl): every choice's role, text, reasoning, tool call,
    logprobs and finish_reason arrive under its "index", intact, one choice
    per chunk, interleaved as the upstream sent them; each choice's finish
    once (choice 1's before choice 0 is done); the usage chunk and [DONE]
    once, last; n = 3 too.
  - "stream": false: the chat.completion has n choices, each its message
    (content, reasoning_content, tool_calls, logprobs) and finish_reason.
  - resume: GET /streams/<id> replays the n choices' chunks exactly, from the
    start and after a Last-Event-ID mid-way; a retried POST with
    Last-Event-ID gets the rest without a second upstream request.
  - the OpenAI Node SDK (tests/sdk/choices.mjs): the streaming helper's
    finalChatCompletion(), the raw stream and a non-streamed completion
    all see both choices whole (skipped when the SDK cannot be installed).
  - formats of one answer: POST / and POST /v1/responses to the same
    upstream (which sends 2 choices unasked) carry choice 0 only, nothing
    of choice 1; POST / with n = 2 is a 400 naming n, the demo's n = 2 on /v1
    too, and an `openai` model whose drop_fields has n: none reaches the
    upstream.
Processes: chatstream behind lighttpd; the fake upstream as threads."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (DEMO_FAST, Fixture, config, diag, is_, ok, require_tools, run,  # noqa: E402
                     skip)
from choices import expected_choice, v1_choices  # noqa: E402
from fake_upstream import CHOICES_USAGE, FakeUpstream, choice_parts  # noqa: E402
from resume_util import evlist  # noqa: E402
from sdk_util import install, run_script, sdk_dir  # noqa: E402

MSGS = [{"role": "user", "content": "give me two answers"}]


def body(n, stream=True, model="pair", **kw):
    b = dict({"model": model, "messages": MSGS, "n": n, "stream": stream}, **kw)
    if stream:
        b["stream_options"] = {"include_usage": True}
    return b


def error_of(r):
    return (r.json() or {}).get("error") or {}


def switches(order, a, b):
    """How often the stream goes from choice a to choice b or back."""
    ks = [k for _, k, _ in order if k in (a, b)]
    return sum(1 for x, y in zip(ks, ks[1:]) if x != y)


def check_stream(r, n, what):
    is_(r.status, 200, "%s: 200" % what)
    got = v1_choices(r.events)
    for k in range(n):
        is_(got["choices"].get(k), expected_choice(choice_parts(k)),
            "%s: choice %d: role, text, reasoning, tool call, logprobs, one finish_reason "
            "%s, nothing after it" % (what, k, choice_parts(k)["finish"]))
    is_(sorted(got["choices"]), list(range(n)), "%s: choices 0..%d, no other" % (what, n - 1))
    ok(set(got["per_chunk"]) <= {0, 1}, "%s: one choice per chunk, as OpenAI's" % what)
    ok(switches(got["order"], 0, 1) >= 10, "%s: choices 0 and 1 interleaved as the upstream "
       "sent them (%d switches)" % (what, switches(got["order"], 0, 1)))
    fin1 = [i for i, k, t in got["order"] if k == 1 and t == "finish"]
    last0 = [i for i, k, t in got["order"] if k == 0 and t == "content"]
    ok(fin1 and last0 and fin1[0] < last0[-1], "%s: choice 1's finish before choice 0's "
       "last text, as the upstream sent it" % what)
    is_((got["usage"], got["usage_at"], got["done_at"]),
        (CHOICES_USAGE, got["events"] - 2, got["events"] - 1),
        "%s: the usage chunk, then [DONE], once, last" % what)
    ids = [i for i, _, _ in evlist(r.events)]
    ok(all(i is not None for i in ids) and [int(i) for i in ids] ==
       list(range(1, len(ids) + 1)), "%s: every event numbered, 1..%d" % (what, len(ids)))
    return got


def stream_tests(fx, up):
    r = fx.chat(body(2), path="v1/chat/completions")
    check_stream(r, 2, "n 2, stream")
    sent = up.last("choices")
    is_((sent.json or {}).get("n") if sent else None, 2, "n 2: the upstream is asked for 2")
    r3 = fx.chat(body(3), path="v1/chat/completions")
    check_stream(r3, 3, "n 3, stream")
    return r


def json_tests(fx):
    r = fx.chat(body(2, stream=False), path="v1/chat/completions")
    is_(r.status, 200, "n 2, stream false: 200")
    j = r.json() or {}
    cs = j.get("choices") or []
    is_([c.get("index") for c in cs], [0, 1], "n 2, stream false: choices 0 and 1")
    for k, c in enumerate(cs[:2]):
        p = choice_parts(k)
        m = c.get("message") or {}
        calls = [{"id": t.get("id"), "name": (t.get("function") or {}).get("name"),
                  "arguments": (t.get("function") or {}).get("arguments")}
                 for t in m.get("tool_calls") or []]
        is_((m.get("role"), m.get("content"), m.get("reasoning_content"), calls,
             (c.get("logprobs") or {}).get("content") or [], c.get("finish_reason")),
            ("assistant", p["content"], p["reasoning"] or None,
             [{"id": i, "name": nm, "arguments": a} for i, nm, a in p["calls"]],
             p["logprobs"], p["finish"]),
            "n 2, stream false: choice %d's whole message and finish_reason %s" %
            (k, p["finish"]))
    is_(j.get("usage"), CHOICES_USAGE, "n 2, stream false: the upstream's usage")


def resume_tests(fx, up, r):
    sid = r.header("X-Stream-Id") or "none"
    posted = evlist(r.events)
    if not ok(len(posted) > 8, "resume: a stream of both choices to resume (%d events)"
              % len(posted)):
        return
    g = fx.curl("streams/%s" % sid)
    is_(evlist(g.events), posted, "resume from the start: the same chunks of both choices, "
        "exactly")
    k = len(posted) // 2
    g = fx.curl("streams/%s" % sid, headers=["Last-Event-ID: %s.%s" % (sid, posted[k][0])])
    is_(evlist(g.events), posted[k + 1:], "resume after event %s: exactly the chunks after it"
        % posted[k][0])
    whole = v1_choices(r.events[:k + 1] + g.events)
    is_([whole["choices"].get(i) for i in (0, 1)],
        [expected_choice(choice_parts(i)) for i in (0, 1)],
        "resume: the part read and the rest make both choices whole")
    before = len(up.requests)
    p = fx.chat(body(2), path="v1/chat/completions",
                headers=["Last-Event-ID: %s.%s" % (sid, posted[3][0])])
    is_((p.status, evlist(p.events)), (200, posted[4:]),
        "a retried POST with Last-Event-ID: the chunks after it, both choices")
    is_(len(up.requests), before, "the retried POST asks the upstream nothing")


def sdk_tests(fx):
    where = sdk_dir()
    ready, out = install(where)
    if not ready:
        skip("the OpenAI Node SDK could not be installed: %s" %
             " ".join(out.strip().splitlines()[-2:]), 4)
        return
    res = run_script(where, "choices.mjs", [fx.url("v1"), "pair", "2"], "choices.mjs")
    if res is None:
        return
    want = []
    for k in (0, 1):
        p = choice_parts(k)
        want.append({"index": k, "role": "assistant", "content": p["content"],
                     "reasoning_content": p["reasoning"] or None,
                     "calls": [{"id": i, "name": nm, "arguments": a} for i, nm, a in p["calls"]],
                     "logprobs": p["logprobs"] or None, "finish": p["finish"]})
    h = res.get("helper") or {}
    # The helper keeps a delta field it does not know (reasoning_content) as
    # its last piece, for one choice as for several: not compared there.
    is_([dict(c, reasoning_content=None) for c in h.get("choices") or []],
        [dict(c, reasoning_content=None) for c in want],
        "SDK stream helper: finalChatCompletion() has both choices, each whole with its "
        "finish_reason")
    w = res.get("whole") or {}
    is_(w.get("choices"), want, "SDK, stream false: both choices whole")
    raw = res.get("raw") or {}
    is_(raw.get("text"), {"0": choice_parts(0)["content"], "1": choice_parts(1)["content"]},
        "SDK raw stream: each choice's text, in order")
    if raw.get("error") or h.get("error") or w.get("error"):
        diag("SDK errors: %s" % json.dumps(res)[:2000])


def one_answer_tests(fx, up):
    p0 = choice_parts(0)
    r = fx.chat({"model": "pair", "prompt": "one answer"})
    texts = "".join((json.loads(e.data) or {}).get("text", "") for e in r.events
                    if e.type == "message")
    reasoning = "".join((json.loads(e.data) or {}).get("text", "") for e in r.events
                        if e.type == "reasoning")
    done = [json.loads(e.data) for e in r.events if e.type == "done"]
    is_((r.status, texts, reasoning, [e.type for e in r.events if e.type == "tool_call"],
         [d.get("finish_reason") for d in done]),
        (200, p0["content"], p0["reasoning"], [], ["stop"]),
        "POST / (an upstream sending 2 choices unasked): choice 0's text and reasoning, "
        "nothing of choice 1, done once")
    r = fx.chat({"model": "pair", "input": "one answer"}, path="v1/responses")
    j = r.json() or {}
    outs = j.get("output") or []
    text = "".join(c.get("text", "") for o in outs if o.get("type") == "message"
                   for c in o.get("content") or [])
    is_((r.status, text, [o.get("type") for o in outs if o.get("type") == "function_call"]),
        (200, p0["content"], []),
        "POST /v1/responses (2 choices unasked): choice 0's text, no call of choice 1")
    r = fx.chat({"model": "pair", "input": "one answer", "stream": True}, path="v1/responses")
    deltas = "".join(json.loads(e.data).get("delta", "") for e in r.events
                     if e.type == "response.output_text.delta")
    is_((r.status, deltas), (200, p0["content"]),
        "POST /v1/responses streamed: choice 0's text only")

    before = len(up.requests)
    r = fx.chat({"model": "pair", "prompt": "x", "n": 2})
    is_((r.status, error_of(r).get("param")), (400, "n"), "POST / with n 2: 400 param n")
    for stream in (True, False):
        r = fx.chat(body(2, stream=stream, model="demo"), path="v1/chat/completions")
        is_((r.status, error_of(r).get("param")), (400, "n"),
            "demo, n 2, stream %s: 400 param n" % stream)
    r = fx.chat(body(2, model="single"), path="v1/chat/completions")
    is_((r.status, error_of(r).get("param")), (400, "n"),
        "openai with drop_fields = n, n 2: 400 param n")
    is_(len(up.requests), before, "none of them reaches the upstream")


def main():
    require_tools()
    fx = Fixture("relay-choices")
    up = FakeUpstream()
    fx.on_close(up.close)
    cs = fx.start_chatstream(config({"spool_dir": fx.path("spool")}, {
        "pair": {"backend": "openai", "base_url": up.base_url, "model": "choices"},
        "single": {"backend": "openai", "base_url": up.base_url, "model": "choices",
                   "drop_fields": "n"},
        "demo": DEMO_FAST,
    }))
    fx.start_lighttpd(cs)
    r = stream_tests(fx, up)
    json_tests(fx)
    resume_tests(fx, up, r)
    one_answer_tests(fx, up)
    sdk_tests(fx)
    ok(cs.alive(), "chatstream still runs")
    if not cs.alive():
        diag("\n".join(cs.log_lines()[-20:]))


run(main)
