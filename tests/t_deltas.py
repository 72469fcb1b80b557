#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_deltas.py: what is not text, relayed losslessly by the `openai` backend
from an upstream (tests/lib/fake_upstream.py, a test double: a real
chatstream cannot produce reasoning or refusals) that sends it in pieces of
a few characters, its bytes cut in pieces of 1..23 that split lines and
characters:
  - /v1/chat/completions streamed: delta.reasoning_content (and
    delta.reasoning, under the upstream's key; the same text under both
    keys at once, once), delta.content with its
    logprobs in the same chunk, delta.tool_calls fragments (index, id, type,
    function.name, function.arguments) that reassemble to the upstream's
    exact calls, finish_reason tool_calls, usage details in the usage chunk;
    delta.refusal;
  - /v1 "stream": false: message.tool_calls (arguments joined),
    message.reasoning_content, message.refusal, logprobs.content, usage
    details;
  - the native POST /: `event: reasoning`, `event: tool_call` and
    `event: refusal`, reassembled the same, done with finish_reason
    tool_calls and the usage details;
  - resume: GET /streams/<id> replays those events exactly, from the start
    and after any of them (Last-Event-ID), native and OpenAI format;
  - the relay chain A -> lighttpd -> B (chatstream's demo that reasons and
    calls tools): the request's tools reach B, B's reasoning and tool call
    reach A's clients, /v1 and native.
t_deltas_redis.py runs it all again with the journal in Redis.
Processes: chatstream A behind lighttpd, chatstream B behind lighttpd-b; the
fake upstream as threads."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (DEMO_FAST, Fixture, config, demo_text, diag, is_, ok, require_tools,  # noqa: E402
                     run)
from fake_upstream import PARTS, FakeUpstream  # noqa: E402
from deltas import native_collect, v1_collect  # noqa: E402
from redis_server import journal_from_env  # noqa: E402
from relay import start_named_lighttpd  # noqa: E402
from resume_util import evlist, meta_of, stream_path  # noqa: E402

P = "what is the weather in Paris"
CALLS = [{"id": i, "name": n, "arguments": a} for i, n, a in PARTS["calls"]]


def v1(fx, model, stream):
    return fx.chat({"model": model, "stream": stream, "stream_options": {"include_usage": True},
                    "messages": [{"role": "user", "content": P}]} if stream else
                   {"model": model, "messages": [{"role": "user", "content": P}]},
                   path="v1/chat/completions")


def v1_stream_tests(fx):
    for model, key in (("tools", "reasoning_content"), ("tools_r", "reasoning")):
        r = v1(fx, model, True)
        is_(r.status, 200, "%s, /v1 stream: 200" % model)
        got = v1_collect(r)
        is_(got[key], PARTS["reasoning"], "%s, /v1 stream: delta.%s reassembles" % (model, key))
        other = "reasoning" if key == "reasoning_content" else "reasoning_content"
        is_(got[other], "", "%s, /v1 stream: nothing under delta.%s" % (model, other))
        is_(got["content"], PARTS["content"], "%s, /v1 stream: the text" % model)
        is_(got["calls"], CALLS, "%s, /v1 stream: tool_calls fragments reassemble to the "
            "upstream's calls (ids, names, arguments)" % model)
        ok(got["types_ok"], "%s, /v1 stream: each call's first fragment has type function" % model)
        is_(got["logprobs"], PARTS["logprobs"]["content"],
            "%s, /v1 stream: the logprobs, with their text" % model)
        is_(got["finish"], "tool_calls", "%s, /v1 stream: finish_reason tool_calls" % model)
        u = got["usage"] or {}
        is_((u.get("completion_tokens_details"), u.get("prompt_tokens_details")),
            (PARTS["usage"]["completion_tokens_details"], PARTS["usage"]["prompt_tokens_details"]),
            "%s, /v1 stream: usage details pass through" % model)
        ok(got["done"], "%s, /v1 stream: [DONE]" % model)
    r = fx.chat({"prompt": P, "model": "tools_b"})
    is_(native_collect(r)["reasoning"], PARTS["reasoning"],
        "the same reasoning under both keys at once: native, once")
    got = v1_collect(v1(fx, "tools_b", True))
    is_((got["reasoning_content"], got["reasoning"]), (PARTS["reasoning"], ""),
        "the same reasoning under both keys at once: /v1, once, as reasoning_content")
    r = v1(fx, "refusal", True)
    got = v1_collect(r)
    is_(got["refusal"], PARTS["refusal"], "refusal, /v1 stream: delta.refusal reassembles")
    is_(got["finish"], "stop", "refusal, /v1 stream: finish_reason stop")


def v1_json_tests(fx):
    r = v1(fx, "tools", False)
    c = ((r.json() or {}).get("choices") or [{}])[0]
    m = c.get("message") or {}
    is_(m.get("reasoning_content"), PARTS["reasoning"], "/v1 JSON: message.reasoning_content")
    is_(m.get("content"), PARTS["content"], "/v1 JSON: message.content")
    is_([{"id": t.get("id"), "name": t["function"]["name"],
          "arguments": t["function"]["arguments"]} for t in m.get("tool_calls") or []], CALLS,
        "/v1 JSON: message.tool_calls, arguments joined")
    is_(c.get("finish_reason"), "tool_calls", "/v1 JSON: finish_reason tool_calls")
    is_((c.get("logprobs") or {}).get("content"), PARTS["logprobs"]["content"],
        "/v1 JSON: logprobs.content")
    is_(((r.json() or {}).get("usage") or {}).get("completion_tokens_details"),
        PARTS["usage"]["completion_tokens_details"], "/v1 JSON: usage details")
    r = v1(fx, "tools_r", False)
    m = (((r.json() or {}).get("choices") or [{}])[0]).get("message") or {}
    is_(m.get("reasoning"), PARTS["reasoning"], "/v1 JSON: message.reasoning, the upstream's key")
    r = v1(fx, "refusal", False)
    m = (((r.json() or {}).get("choices") or [{}])[0]).get("message") or {}
    is_((m.get("content"), m.get("refusal")), (None, PARTS["refusal"]),
        "/v1 JSON: refusal, content null")


def native_tests(fx):
    r = fx.chat({"prompt": P, "model": "tools"})
    got = native_collect(r)
    is_(got["reasoning"], PARTS["reasoning"], "native: event: reasoning reassembles")
    is_(got["text"], PARTS["content"], "native: the text")
    is_(got["calls"], CALLS, "native: event: tool_call fragments reassemble")
    d = got["done"] or {}
    is_(d.get("finish_reason"), "tool_calls", "native: done says tool_calls")
    is_((d.get("usage") or {}).get("completion_tokens_details"),
        PARTS["usage"]["completion_tokens_details"], "native: done has the usage details")
    r2 = fx.chat({"prompt": P, "model": "refusal"})
    is_(native_collect(r2)["refusal"], PARTS["refusal"], "native: event: refusal reassembles")
    return r


def resume_tests(fx, r):
    posted = evlist(r.events)
    url = meta_of(r).get("resume")
    g = fx.curl(stream_path(url))
    is_(evlist(g.events), posted, "native resume from the start: the same events, exactly")
    kinds = [t for _, t, _ in posted]
    ks = [kinds.index("reasoning"), kinds.index("tool_call") + 1, len(posted) - 3]
    for k in ks:
        g = fx.curl(stream_path(url), headers=["Last-Event-ID: %s" % posted[k][0]])
        is_(evlist(g.events), posted[k + 1:],
            "native resume after event %s (%s): exactly the events after it" %
            (posted[k][0], posted[k][1]))
    r = v1(fx, "tools", True)
    sid = r.header("X-Stream-Id") or "none"
    posted = evlist(r.events)
    g = fx.curl("streams/%s" % sid)
    is_(evlist(g.events), posted, "/v1 resume from the start: the same chunks, exactly")
    k = len(posted) // 2
    g = fx.curl("streams/%s" % sid, headers=["Last-Event-ID: %s" % posted[k][0]])
    is_(evlist(g.events), posted[k + 1:], "/v1 resume mid tool call: exactly the chunks after it")
    is_(v1_collect(g)["calls"][-1]["arguments"][-5:], CALLS[-1]["arguments"][-5:],
        "/v1 resume: the arguments' end comes again")


WHY = "B reasons first: ünïcode 🎉, then answers."
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {
    "type": "object", "properties": {"q": {"type": "string"}}}}}


def chain_tests(fx):
    """A relays B's demo, which reasons and calls tools."""
    r = fx.chat({"model": "chain", "stream": True, "tools": [TOOL],
                 "messages": [{"role": "user", "content": P}]}, path="v1/chat/completions")
    got = v1_collect(r)
    is_(got["reasoning_content"], WHY, "chain, /v1 stream: B's reasoning reaches A's client")
    is_(([(c["name"], c["arguments"]) for c in got["calls"]], got["finish"]),
        ([("lookup", '{"q":"%s"}' % P)], "tool_calls"),
        "chain, /v1 stream: the tools reach B, B's tool call reaches A's client")
    ok(all((c["id"] or "").startswith("call_demo_") for c in got["calls"]),
       "chain, /v1 stream: with B's call id")
    r = fx.chat({"model": "chain", "prompt": P})
    got = native_collect(r)
    is_((got["reasoning"], got["text"]), (WHY, demo_text(P)),
        "chain, native: event: reasoning, then the text")


def main():
    require_tools()
    fx = Fixture("deltas")
    journal_from_env(fx)
    up = FakeUpstream()
    fx.on_close(up.close)
    b = fx.start_chatstream(config({}, {"agent": dict(DEMO_FAST, reasoning=WHY)}), name="B")
    ltb = start_named_lighttpd(fx, b, "lighttpd-b")
    cs = fx.start_chatstream(config({"spool_dir": fx.path("spool")}, {
        "chain": {"backend": "openai", "base_url": "http://127.0.0.1:%d/chat/v1" % ltb.port,
                  "model": "agent"},
        "tools": {"backend": "openai", "base_url": up.base_url, "model": "tools"},
        "tools_r": {"backend": "openai", "base_url": up.base_url, "model": "tools_reasoning"},
        "tools_b": {"backend": "openai", "base_url": up.base_url, "model": "tools_both"},
        "refusal": {"backend": "openai", "base_url": up.base_url, "model": "refusal"},
    }))
    fx.start_lighttpd(cs)
    v1_stream_tests(fx)
    v1_json_tests(fx)
    r = native_tests(fx)
    resume_tests(fx, r)
    chain_tests(fx)
    ok(cs.alive(), "chatstream still runs")
    if not cs.alive():
        diag("\n".join(cs.log_lines()[-20:]))


run(main)
