#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_demo_tools.py: the demo model reasons and calls tools like a real model,
deterministically, through lighttpd:
  - with `reasoning` set it streams that text as reasoning tokens first
    (delta.reasoning_content; native `event: reasoning`), one per word;
  - offered tools, it calls the first (or tool_choice's, or the configured
    `tool_call`'s) with arguments made from the tool's parameters (a string
    property gets the prompt, a number 42...), or the configured
    `tool_arguments`, in fragments of a few bytes that join to that JSON,
    with finish_reason tool_calls; /v1 streamed and not, and native;
  - given the history back with the tool's result last (the assistant's
    message with content null and tool_calls, then a `tool` message), it
    answers "The tool returned: " + the result, finish_reason stop;
  - tool_choice "none", or no tools: the usual answer.
Processes: chatstream behind lighttpd."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import DEMO_FAST, Fixture, config, demo_text, is_, ok, require_tools, run  # noqa: E402
from deltas import native_collect, v1_collect  # noqa: E402

P = "Paris, in ünïcode 🎉"
WHY = "The user asks about the weather: I will call a tool."
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "the weather in a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}, "days": {"type": "integer"},
        "metric": {"type": "boolean"}}, "required": ["city"]}}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {
    "type": "object", "properties": {"tz": {"type": "string"}}}}}
ARGS = json.dumps({"city": P, "days": 42, "metric": True}, ensure_ascii=False,
                  separators=(",", ":"))
RESULT = '{"temperature": 21, "sky": "clear"}'


def v1(fx, payload):
    return fx.chat(dict({"model": "agent"}, **payload), path="v1/chat/completions")


def msgs(*extra):
    return [{"role": "user", "content": P}] + list(extra)


def main():
    require_tools()
    fx = Fixture("demo-tools")
    agent = dict(DEMO_FAST, reasoning=WHY)
    cs = fx.start_chatstream(config({"spool_dir": fx.path("spool")}, {
        "agent": agent,
        "fixed": dict(DEMO_FAST, tool_call="get_time", tool_arguments='{"tz": "UTC"}'),
    }))
    fx.start_lighttpd(cs)

    r = v1(fx, {"stream": True, "messages": msgs(), "tools": [WEATHER, TIME]})
    got = v1_collect(r)
    is_(got["reasoning_content"], WHY, "/v1 stream: the configured reasoning first")
    n_why = sum(1 for e in r.events if '"reasoning_content"' in e.data)
    is_(n_why, len(WHY.split(" ")), "/v1 stream: one reasoning chunk per word")
    is_(len(got["calls"]), 1, "/v1 stream: one tool call")
    call = got["calls"][0] if got["calls"] else {}
    is_(call.get("name"), "get_weather", "/v1 stream: the first tool offered")
    is_(call.get("arguments"), ARGS, "/v1 stream: arguments from the parameters' schema")
    frags = sum(1 for e in r.events if '"arguments"' in e.data)
    ok(frags > 4, "/v1 stream: the arguments in %d fragments" % frags)
    ok((call.get("id") or "").startswith("call_"), "/v1 stream: a call id")
    is_(got["content"], "", "/v1 stream: no text beside the call")
    is_(got["finish"], "tool_calls", "/v1 stream: finish_reason tool_calls")
    r2 = v1(fx, {"stream": True, "messages": msgs(), "tools": [WEATHER, TIME]})
    is_(v1_collect(r2)["calls"], got["calls"], "/v1 stream: the same call for the same request")

    r = v1(fx, {"messages": msgs(), "tools": [WEATHER, TIME],
                "tool_choice": {"type": "function", "function": {"name": "get_time"}}})
    c = ((r.json() or {}).get("choices") or [{}])[0]
    m = c.get("message") or {}
    tc = (m.get("tool_calls") or [{}])[0]
    is_((tc.get("function") or {}).get("name"), "get_time", "/v1 JSON: tool_choice's tool")
    is_((tc.get("function") or {}).get("arguments"), json.dumps({"tz": P}, ensure_ascii=False,
                                                                separators=(",", ":")),
        "/v1 JSON: its arguments, joined")
    is_((m.get("content"), m.get("reasoning_content"), c.get("finish_reason")),
        (None, WHY, "tool_calls"), "/v1 JSON: content null, the reasoning, tool_calls")

    history = msgs({"role": "assistant", "content": None, "tool_calls": [
        {"id": call.get("id"), "type": "function",
         "function": {"name": "get_weather", "arguments": ARGS}}]},
        {"role": "tool", "tool_call_id": call.get("id"), "content": RESULT})
    r = v1(fx, {"stream": True, "messages": history, "tools": [WEATHER, TIME]})
    got = v1_collect(r)
    is_(got["content"], "The tool returned: " + RESULT, "/v1 stream: after the tool's result, "
        "an answer that quotes it")
    is_((got["calls"], got["finish"]), ([], "stop"), "/v1 stream: no call then, finish stop")
    is_(got["reasoning_content"], WHY, "/v1 stream: reasoning before that answer too")

    r = v1(fx, {"stream": True, "messages": msgs(), "tools": [WEATHER], "tool_choice": "none"})
    got = v1_collect(r)
    is_((got["content"], got["calls"], got["finish"]), (demo_text(P), [], "stop"),
        "/v1 stream: tool_choice none: the usual answer")

    r = fx.chat({"model": "agent", "messages": msgs(), "tools": [WEATHER]})
    got = native_collect(r)
    is_(got["reasoning"], WHY, "native: event: reasoning")
    is_([(c["name"], c["arguments"]) for c in got["calls"]], [("get_weather", ARGS)],
        "native: event: tool_call fragments join to the call")
    is_((got["done"] or {}).get("finish_reason"), "tool_calls", "native: done says tool_calls")

    r = fx.chat({"model": "fixed", "messages": msgs(), "tools": [WEATHER, TIME]})
    got = native_collect(r)
    is_([(c["name"], c["arguments"]) for c in got["calls"]], [("get_time", '{"tz": "UTC"}')],
        "configured tool_call and tool_arguments")
    r = fx.chat({"model": "fixed", "messages": msgs()})
    is_(native_collect(r)["text"], demo_text(P), "no tools offered: the usual answer")
    ok(cs.alive(), "chatstream still runs")


run(main)
