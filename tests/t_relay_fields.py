#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_relay_fields.py: OpenAI's request as OpenAI defines it, relayed
losslessly.  What an `openai` backend sends upstream is read where it
arrives, at tests/lib/fake_upstream.py (a test double that records every
request):
  - every field chatstream does not set itself (tools, tool_choice,
    parallel_tool_calls, response_format, seed, logprobs, top_logprobs,
    top_p, penalties, logit_bias, user, metadata, reasoning_effort, top_k,
    min_p, an unknown one, stop, temperature, max_completion_tokens) arrives
    equal as JSON; so do the messages: developer, a user `name`, an
    assistant's tool_calls with content null, a tool message, content parts
    (text, image_url, input_audio, file); chatstream's own model, stream and
    stream_options.include_usage (the client's other stream options kept);
    a native POST / with a prompt too;
  - drop_fields drops; the max_tokens ceiling lowers max_tokens and
    max_completion_tokens and fills one in when the request has none;
  - n above 1 is sent upstream and its choices come back (t_relay_choices.py);
  - the demo backend: an image part is a 400 whose param names it (/v1 and
    native), n = 2 a 400 param n, a whole tool round trip (assistant
    tool_calls, tool message) a 200 with an answer; an exec
    model with input = messages gets the tool call and its answer;
  - a relay chain A (openai) -> lighttpd -> B (openai) -> the fake upstream:
    the same fields arrive after two hops; A -> B (demo): B's 400 naming the
    image part reaches A's client with its param, and a tool round trip is
    answered as the demo answers it directly.

Processes: chatstream A behind lighttpd, chatstream B behind its own lighttpd,
the fake upstream as a thread.  About 5 s."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (DEMO_FAST, CurlStream, Fixture, config, diag, is_, ok,  # noqa: E402
                     require_tools, run)
from fake_upstream import FAKE_TEXT, FakeUpstream  # noqa: E402
from relay import OpenAIView, start_named_lighttpd  # noqa: E402

QUESTION = "What is the weather in Paris?"
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=",
                                            "detail": "low"}}
HISTORY = [
    {"role": "developer", "content": "Answer with tools when you can."},
    {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
    {"role": "user", "content": QUESTION, "name": "ann"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "{\"c\": 18, \"sky\": \"clear\"}"},
    {"role": "assistant", "content": "18 °C and clear."},
    {"role": "user", "content": [
        {"type": "text", "text": "And this one? "},
        IMAGE,
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-abc", "filename": "notes.pdf"}},
        {"type": "text", "text": "Thanks 🎉"}]},
]
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"], "additionalProperties": False},
    "strict": True}}]
# Every field chatstream passes on without reading it, with values whose JSON
# form is easy to get wrong (floats, nested objects, negative, large ints).
FIELDS = {
    "tools": TOOLS,
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": False,
    "response_format": {"type": "json_schema", "json_schema": {
        "name": "answer", "strict": True,
        "schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}},
    "seed": 4242424242,
    "logprobs": True,
    "top_logprobs": 5,
    "top_p": 0.9,
    "frequency_penalty": -0.5,
    "presence_penalty": 1.25,
    "logit_bias": {"50256": -100, "1234": 3},
    "user": "user-1234",
    "metadata": {"team": "qa", "run": "7"},
    "reasoning_effort": "low",
    "top_k": 40,
    "min_p": 0.05,
    "service_tier": "default",
    "x_vendor_extension": {"nested": [1, 2.5, None, "ü"], "flag": True},
    "temperature": 0.7,
    "stop": ["END", "\n\n"],
    "max_completion_tokens": 321,
}
TOOL_ROUND = [
    {"role": "user", "content": QUESTION},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_9", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call_9", "content": "18 C"},
]
EXEC_SCRIPT = "#!/bin/sh\nexec cat\n"


FX = []


def post(url, payload, timeout=20):
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return CurlStream(FX[0], url, body=body, headers=["Content-Type: application/json"],
                      timeout=timeout).finish()


def without(d, *keys):
    return {k: v for k, v in d.items() if k not in keys}


def error_of(res):
    try:
        return (res.json() or {}).get("error") or {}
    except ValueError:
        return {}


def main():
    require_tools()
    fx = Fixture("relay-fields")
    FX.append(fx)
    up = FakeUpstream()
    fx.on_close(up.close)
    exec_cmd = fx.path("echo-input.sh")
    with open(exec_cmd, "w") as f:
        f.write(EXEC_SCRIPT)
    os.chmod(exec_cmd, 0o755)

    def to_up(model="ok", **kw):
        return dict({"backend": "openai", "base_url": up.base_url, "model": model}, **kw)

    # B: relays to the fake upstream, and a demo model; behind its own lighttpd
    B = fx.start_chatstream(config({}, {"ok": to_up(), "demo": DEMO_FAST}), name="B")
    ltb = start_named_lighttpd(fx, B, "lighttpd-b")
    b_base = ltb.url("v1")

    def to_b(model):
        return {"backend": "openai", "base_url": b_base, "model": model}

    A = fx.start_chatstream(config({}, {
        "ok": to_up(),
        "dropper": to_up(drop_fields="logit_bias  user\tx_vendor_extension"),
        "capped": to_up(max_tokens=100),
        "capdrop": to_up(max_tokens=100, drop_fields="max_tokens"),
        "demo": DEMO_FAST,
        "exec": {"backend": "exec", "command": exec_cmd, "input": "messages"},
        "chain": to_b("ok"),
        "chaindemo": to_b("demo"),
    }), name="A")
    fx.start_lighttpd(A)
    v1 = fx.url("v1/chat/completions")

    # --- every field and every kind of message, /v1 streaming -----------------
    sent = dict(FIELDS, model="ok", messages=HISTORY, stream=True,
                stream_options={"include_usage": False, "include_obfuscation": False})
    r = post(v1, sent)
    v = OpenAIView.of(r)
    ok(r.status == 200 and v.text == FAKE_TEXT and v.done,
       "a request with tools, a tool round trip and media parts is relayed (status %d)"
       % r.status)
    if r.status != 200:
        diag(r.body[:400])
    q = up.last("ok")
    got = (q.json or {}) if q is not None else {}
    for k in FIELDS:
        is_(got.get(k), FIELDS[k], "upstream got %s as sent" % k)
    is_(got.get("messages"), HISTORY,
        "upstream got the messages as sent: developer, name, tool_calls with content null, "
        "the tool message, text/image_url/input_audio/file parts")
    is_(got.get("model"), "ok", "upstream got the section's model")
    ok(got.get("stream") is True, "upstream got stream: true")
    is_(got.get("stream_options"), {"include_usage": True, "include_obfuscation": False},
        "upstream got stream_options with include_usage true, the client's other option kept")
    is_(sorted(set(got) - set(FIELDS)), ["messages", "model", "stream", "stream_options"],
        "upstream got nothing chatstream made up")

    # --- the same, not streamed, in the native API ---------------------------
    r = post(v1, dict(without(sent, "stream", "stream_options")))
    got = (up.last("ok").json or {})
    ok(r.status == 200 and without(got, "stream", "stream_options", "model") ==
       without(sent, "stream", "stream_options", "model"),
       "stream: false: the same fields and messages arrive")
    r = post(fx.url(), {"model": "ok", "prompt": "hi", "system": "sys", "seed": 7,
                        "tools": TOOLS, "tool_choice": "auto", "user": "u"})
    got = (up.last("ok").json or {})
    ok(r.status == 200 and got.get("messages") == [{"role": "system", "content": "sys"},
                                                   {"role": "user", "content": "hi"}]
       and got.get("seed") == 7 and got.get("tools") == TOOLS and got.get("user") == "u"
       and got.get("tool_choice") == "auto" and "prompt" not in got and "system" not in got,
       "native POST /: prompt and system become messages, the other fields pass on")

    # --- drop_fields, the max_tokens ceiling, n --------------------------------
    post(v1, dict(sent, model="dropper"))
    got = (up.last("ok").json or {})
    ok("logit_bias" not in got and "user" not in got and "x_vendor_extension" not in got,
       "drop_fields: logit_bias, user and x_vendor_extension are not sent")
    ok(got.get("seed") == FIELDS["seed"] and got.get("tools") == TOOLS
       and got.get("messages") == HISTORY,
       "drop_fields: the other fields and the messages still are")

    def cap(model, extra):
        r = post(v1, dict({"model": model, "messages": TOOL_ROUND[:1]}, **extra))
        g = up.last("ok").json or {}
        return r.status, g.get("max_tokens"), g.get("max_completion_tokens")

    is_(cap("capped", {"max_tokens": 5000}), (200, 100, None),
        "ceiling 100: max_tokens 5000 is sent as 100")
    is_(cap("capped", {"max_completion_tokens": 5000}), (200, None, 100),
        "ceiling 100: max_completion_tokens 5000 is sent as 100")
    is_(cap("capped", {"max_tokens": 50}), (200, 50, None),
        "ceiling 100: max_tokens 50 is sent as is")
    is_(cap("capped", {}), (200, 100, None),
        "ceiling 100: a request without a limit is sent max_tokens 100")
    is_(cap("capdrop", {"max_tokens": 5000}), (200, None, 100),
        "ceiling 100, max_tokens dropped: max_completion_tokens 100 instead")
    is_(cap("ok", {}), (200, None, None), "no ceiling: no limit added")

    r = post(v1, {"model": "ok", "messages": TOOL_ROUND, "n": 2})
    g = up.last("ok").json or {}
    ok(r.status == 200 and g.get("n") == 2 and len((r.json() or {}).get("choices") or []) == 2,
       "openai, n = 2: sent upstream, two choices back (t_relay_choices.py has the rest) "
       "(%d, n %r)" % (r.status, g.get("n")))

    # --- demo and exec: text only, tool rounds accepted ------------------------
    media = [{"role": "user", "content": "first"},
             {"role": "user", "content": [{"type": "text", "text": "look: "}, IMAGE]}]
    r = post(v1, {"model": "demo", "messages": media})
    e = error_of(r)
    ok(r.status == 400 and e.get("param") == "messages[1].content[1]"
       and e.get("type") == "invalid_request_error" and "image_url" in e.get("message", ""),
       "demo, an image part on /v1: 400 invalid_request_error, param "
       "messages[1].content[1] (%d %s)" % (r.status, e))
    r = post(fx.url(), {"model": "demo", "messages": media})
    e = error_of(r)
    ok(r.status == 400 and e.get("param") == "messages[1].content[1]",
       "demo, an image part on POST /: 400 with param messages[1].content[1] (%d %s)"
       % (r.status, e))
    r = post(v1, {"model": "demo", "messages": TOOL_ROUND[:1], "n": 2})
    e = error_of(r)
    ok(r.status == 400 and e.get("param") == "n", "demo, n = 2: 400 param n (%d %s)"
       % (r.status, e))

    r = post(v1, {"model": "demo", "messages": TOOL_ROUND, "tools": TOOLS})
    j = r.json() if r.status == 200 else {}
    demo_round = ((j.get("choices") or [{}])[0].get("message") or {}).get("content")
    ok(r.status == 200 and isinstance(demo_round, str) and demo_round != "",
       "demo, a tool round trip (assistant tool_calls, tool message): 200 and an answer "
       "(%d)" % r.status)

    r = post(v1, {"model": "exec", "messages": TOOL_ROUND})
    j = r.json() if r.status == 200 else {}
    text = ((j.get("choices") or [{}])[0].get("message") or {}).get("content") or ""
    try:
        line = json.loads(text)
    except ValueError:
        line = {}
    is_(line.get("messages"), [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "", "tool_calls": TOOL_ROUND[1]["tool_calls"]},
        {"role": "tool", "content": "18 C", "tool_call_id": "call_9"}],
        "exec, input = messages: the tool call and its answer reach the command")

    # --- a relay chain: A -> lighttpd -> B -> the fake upstream ---------------
    n0 = len(up.requests)
    r = post(v1, dict(sent, model="chain"))
    v = OpenAIView.of(r)
    got = (up.last("ok").json or {}) if len(up.requests) > n0 else {}
    ok(r.status == 200 and v.text == FAKE_TEXT, "chain A -> B -> upstream: the answer comes back")
    is_(without(got, "model", "stream", "stream_options"),
        without(sent, "model", "stream", "stream_options"),
        "chain A -> B -> upstream: every field and message arrives after two hops")

    r = post(v1, {"model": "chaindemo", "messages": media})
    e = error_of(r)
    ok(r.status == 400 and e.get("param") == "messages[1].content[1]",
       "chain A -> B (demo), an image part: B's 400 reaches A's client with its param "
       "(%d %s)" % (r.status, e))
    r = post(v1, {"model": "chaindemo", "messages": TOOL_ROUND, "tools": TOOLS,
                  "stream": True})
    v = OpenAIView.of(r)
    ok(r.status == 200 and v.text == demo_round,
       "chain A -> B (demo), a tool round trip: B's demo answer, as A's own demo gives it "
       "(%d)" % r.status)
    ok(A.alive() and B.alive(), "A and B are still running")


run(main)
