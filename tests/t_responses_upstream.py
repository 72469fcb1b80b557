#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_responses_upstream.py: an `openai` model with `responses = true` relays
POST /v1/responses to its upstream's own /responses, through lighttpd with curl:
  - the relay chain A -> lighttpd -> B, B being a real chatstream whose demo
    model reasons and calls tools: A's client gets B's reasoning and tool
    call as A's own output items, streamed; the function_call_output sent
    back to A reaches B as an item and the answer quotes it; B was asked on
    /v1/responses (its log), and A's chat completions still go to B's
    /v1/chat/completions;
  - a fake upstream (tests/lib/fake_upstream.py, a test double: B cannot
    produce reasoning summaries, logprobs or an upstream failure) that sends
    a reasoning summary, text with logprobs and two function calls in pieces
    cut across lines: the client gets them as reasoning, the message with
    the logprobs, and two function_call items with the upstream's call ids,
    exactly; usage and its details; the stored response (GET) is the same;
    the request the upstream got: its /responses path, the client's fields
    as sent (tools in the Responses shape, text, metadata), input as items,
    the section's model, stream true, store false, no background;
    drop_fields and max_tokens apply;
  - an upstream's response.failed reaches a streaming client as
    response.failed with the upstream's message, and a stream: false one as
    a 502 error.
Processes: chatstream A behind lighttpd, chatstream B behind lighttpd-b; the
fake upstream as threads."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import DEMO_FAST, Fixture, config, diag, is_, ok, require_tools, run  # noqa: E402
from fake_upstream import PARTS, FakeUpstream  # noqa: E402
from relay import start_named_lighttpd  # noqa: E402
from responses_util import Inconsistent, accumulate, events  # noqa: E402

P = "the weather in Paris, ünïcode 🎉"
INSTR = "be brief"
WHY = "The user asks for the weather, so I call get_weather."
TOOL = {"type": "function", "name": "get_weather", "description": "the weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}
RESULT = '{"temperature": 21, "sky": "clear"}'


def post(fx, payload):
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return fx.curl("v1/responses", body=body, content_type="application/json")


def built(evs, what):
    try:
        return accumulate(evs)
    except Inconsistent as e:
        diag("%s: %s" % (what, e))
        return {"output": []}


def chain_tests(fx, b):
    r = post(fx, {"model": "rchain", "input": P, "tools": [TOOL], "stream": True})
    is_(r.status, 200, "chain: 200")
    evs = events(r)
    snap = built(evs, "chain")
    out = snap["output"]
    is_([it["type"] for it in out], ["reasoning", "function_call"],
        "chain: B's reasoning and call, as A's output items")
    is_(out[0]["content"][0]["text"] if out and out[0].get("content") else None, WHY,
        "chain: the reasoning's text")
    call = out[1] if len(out) > 1 else {}
    is_((call.get("name"), json.loads(call.get("arguments") or "null")),
        ("get_weather", {"city": P}), "chain: the call, its name and arguments")
    ok(sum(1 for t, _ in evs if t == "response.function_call_arguments.delta") > 3,
       "chain: the arguments come in pieces, as B wrote them")
    is_(evs[-1][0] if evs else None, "response.completed", "chain: completed")
    ok(any("/v1/responses" in ln for ln in b.log_lines()),
       "chain: B was asked on /v1/responses")

    r = post(fx, {"model": "rchain", "tools": [TOOL], "input": [
        {"role": "user", "content": P},
        {"type": "function_call", "call_id": call.get("call_id"), "name": "get_weather",
         "arguments": call.get("arguments")},
        {"type": "function_call_output", "call_id": call.get("call_id"), "output": RESULT}]})
    obj = r.json() if r.status == 200 else {}
    is_((r.status, obj.get("output_text", None) or
         "".join(p.get("text", "") for it in obj.get("output", []) if it["type"] == "message"
                 for p in it["content"])),
        (200, "The tool returned: " + RESULT),
        "chain: the call's output sent back reaches B as an item; the answer quotes it")
    n = sum(1 for ln in b.log_lines() if "/v1/chat/completions" in ln)
    r = fx.chat({"model": "rchain", "messages": [{"role": "user", "content": "hi"}]},
                path="v1/chat/completions")
    is_((r.status, sum(1 for ln in b.log_lines() if "/v1/chat/completions" in ln)),
        (200, n + 1), "chain: A's chat completions still go to B's /v1/chat/completions")


def parts_tests(fx, up):
    r = post(fx, {"model": "rparts", "input": P, "instructions": INSTR, "stream": True,
                  "tools": [TOOL], "text": {"format": {"type": "text"}},
                  "metadata": {"k": "v"}, "max_output_tokens": 500, "background": False})
    evs = events(r)
    snap = built(evs, "parts")
    out = snap["output"]
    is_([it["type"] for it in out], ["reasoning", "message", "function_call", "function_call"],
        "parts: reasoning, message and two calls, in the upstream's order")
    is_(out[0]["content"][0]["text"] if out and out[0].get("content") else None,
        PARTS["reasoning"], "parts: the upstream's reasoning summary, as reasoning")
    is_(out[1]["content"][0]["text"] if len(out) > 1 else None, PARTS["content"],
        "parts: the message's text")
    is_(sum([d["logprobs"] for t, d in evs if t == "response.output_text.delta"], []),
        PARTS["logprobs"]["content"], "parts: the text's logprobs")
    is_([(it.get("call_id"), it.get("name"), it.get("arguments")) for it in out[2:]],
        PARTS["calls"], "parts: the calls with the upstream's call ids, exactly")
    last = evs[-1][1] if evs else {}
    u = (last.get("response") or {}).get("usage") or {}
    is_((evs[-1][0] if evs else None, u.get("input_tokens"), u.get("output_tokens"),
         (u.get("input_tokens_details") or {}).get("cached_tokens"),
         (u.get("output_tokens_details") or {}).get("reasoning_tokens")),
        ("response.completed", 41, 97, 7, 23), "parts: completed, the upstream's usage")
    rid = (last.get("response") or {}).get("id")
    is_(fx.curl("v1/responses/%s" % rid).json(), last.get("response"),
        "parts: stored: GET gives response.completed's object")

    got = up.last("responses_parts")
    body = (got.json if got is not None else None) or {}
    is_((got.path if got is not None else "").rsplit("/", 1)[-1], "responses",
        "parts: the upstream was asked on its /responses")
    is_(body.get("input"), [{"role": "system", "content": INSTR},
                            {"role": "user", "content": P}],
        "parts: instructions and input as items")
    is_((body.get("model"), body.get("stream"), body.get("store"), "background" in body),
        ("responses_parts", True, False, False),
        "parts: the section's model, stream true, store false, no background")
    is_((body.get("tools"), body.get("text"), body.get("metadata"),
         body.get("max_output_tokens")),
        ([TOOL], {"format": {"type": "text"}}, {"k": "v"}, 500),
        "parts: the client's fields as sent (tools in the Responses shape)")

    post(fx, {"model": "rcap", "input": P, "metadata": {"k": "v"}, "max_output_tokens": 5000})
    got = up.last("responses_parts")
    body = (got.json if got is not None else None) or {}
    is_(("metadata" in body, body.get("max_output_tokens")), (False, 64),
        "drop_fields and max_tokens apply to what goes to /responses")


def fail_tests(fx):
    r = post(fx, {"model": "rfail", "input": P, "stream": True})
    evs = events(r)
    last = evs[-1][1] if evs else {}
    err = (last.get("response") or {}).get("error") or {}
    is_((evs[-1][0] if evs else None, err.get("code")), ("response.failed", "upstream_error"),
        "failed upstream, streamed: response.failed, code upstream_error")
    ok("boom" in (err.get("message") or ""), "failed upstream, streamed: the upstream's message")
    r = post(fx, {"model": "rfail", "input": P})
    e = (r.json() or {}).get("error") or {} if r.status != 200 else {}
    is_((r.status, "boom" in (e.get("message") or "")), (502, True),
        "failed upstream, stream false: 502 with the upstream's message")


def main():
    require_tools()
    fx = Fixture("responses-upstream")
    up = FakeUpstream()
    fx.on_close(up.close)
    b = fx.start_chatstream(config({}, {"agent": dict(DEMO_FAST, reasoning=WHY)}), name="B")
    ltb = start_named_lighttpd(fx, b, "lighttpd-b")
    cs = fx.start_chatstream(config({"spool_dir": fx.path("spool")}, {
        "rchain": {"backend": "openai", "base_url": "http://127.0.0.1:%d/chat/v1" % ltb.port,
                   "model": "agent", "responses": "true"},
        "rparts": {"backend": "openai", "base_url": up.base_url, "model": "responses_parts",
                   "responses": "true"},
        "rcap": {"backend": "openai", "base_url": up.base_url, "model": "responses_parts",
                 "responses": "true", "max_tokens": "64", "drop_fields": "metadata"},
        "rfail": {"backend": "openai", "base_url": up.base_url, "model": "responses_failed",
                  "responses": "true"},
    }))
    fx.start_lighttpd(cs)
    chain_tests(fx, b)
    parts_tests(fx, up)
    fail_tests(fx)
    ok(cs.alive() and b.alive(), "both chatstreams still run")


run(main)
