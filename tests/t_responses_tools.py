#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_responses_tools.py: a tool round trip through POST /v1/responses, the
history sent back as a Responses client sends it (a user message, reasoning,
function_call items, function_call_output items), through lighttpd:
  - the demo model offered tools answers after the function_call_output with
    "The tool returned: " + the output (stream: false and true; an output
    given as input_text parts joined);
  - an openai backend (tests/lib/fake_upstream.py, which records what it
    receives) is sent exactly the chat-completions history: one assistant
    message with content null and both parallel calls as tool_calls, a tool
    message per output, the reasoning left out; the Responses tools in
    chat-completions shape, tool_choice {type, function: {name}},
    parallel_tool_calls as given, and nothing else;
  - an exec model with input = messages gets the tool calls and the tool
    messages;
  - item_reference: the message item of an earlier streamed response
    (msg_<stream id>) is sent upstream as the assistant message it was, its
    function_call item (fc_<stream id>_0) as the assistant's tool call, its
    reasoning item (rs_<stream id>) left out, also one of a stream: false
    response, which is not kept; an unknown id, or one of another user's response (FastCGI with
    REMOTE_USER), is a 400 with param input[i] saying it is not kept;
  - a hosted tool (web_search) is a 400 naming tools[i], an image in a
    function_call_output a 400 naming its part.
Processes: chatstream behind lighttpd, the fake upstream as a thread."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (DEMO_FAST, Fixture, config, demo_text, diag, fcgi_params,  # noqa: E402
                     is_, ok, require_tools, run)
from fake_upstream import FAKE_TEXT, FakeUpstream  # noqa: E402
from redis_server import journal_from_env  # noqa: E402

Q = "What is the weather in Paris? ünï 🎉"
INSTR = "Use the tools."
ARGS = json.dumps({"city": "Paris"}, separators=(",", ":"))
RESULT = '{"temperature": 21, "sky": "clear"}'
# Responses-shaped tools, and what a chat-completions upstream must get for them.
PARAMS = {"type": "object", "properties": {"city": {"type": "string"}},
          "required": ["city"], "additionalProperties": False}
TOOLS = [{"type": "function", "name": "get_weather", "description": "The weather in a city",
          "parameters": PARAMS, "strict": True},
         {"type": "function", "name": "get_time", "parameters": {"type": "object",
                                                                 "properties": {}}}]
CHAT_TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city", "parameters": PARAMS,
    "strict": True}},
    {"type": "function", "function": {"name": "get_time", "parameters": {
        "type": "object", "properties": {}}}}]
CALL = {"type": "function_call", "id": "fc_1", "status": "completed", "call_id": "call_1",
        "name": "get_weather", "arguments": ARGS}
OUTPUT = {"type": "function_call_output", "call_id": "call_1", "output": RESULT}
# Two calls in parallel, with a reasoning item before them as a client sends it back.
HISTORY = [
    {"role": "user", "content": Q},
    {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "hm"}],
     "encrypted_content": "opaque"},
    CALL,
    {"type": "function_call", "call_id": "call_2", "name": "get_time", "arguments": "{}"},
    OUTPUT,
    {"type": "function_call_output", "call_id": "call_2", "output": [
        {"type": "input_text", "text": "noon "}, {"type": "input_text", "text": "UTC"}]},
]
CHAT_HISTORY = [
    {"role": "system", "content": INSTR},
    {"role": "user", "content": Q},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": ARGS}},
        {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": RESULT},
    {"role": "tool", "tool_call_id": "call_2", "content": "noon UTC"},
]
EXEC_SCRIPT = "#!/bin/sh\nexec cat\n"


def post(fx, payload):
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return fx.curl("v1/responses", body=body, content_type="application/json")


def fcgi_post(cs, payload, user):
    """POST /v1/responses straight to chatstream as a front server with REMOTE_USER."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    status, _, out, _ = cs.request(fcgi_params("POST", "v1/responses", "application/json",
                                               len(body), extra=[("REMOTE_USER", user)]),
                                   body, timeout=20)
    return status, out


def text_of(obj):
    """The text of a response object's message item."""
    for item in (obj or {}).get("output") or []:
        if item.get("type") == "message":
            return "".join(p.get("text", "") for p in item.get("content") or [])
    return None


def error_of(r):
    try:
        return (r.json() or {}).get("error") or {}
    except ValueError:
        return {}


def deltas(r):
    out, last = [], None
    for e in r.events:
        try:
            d = json.loads(e.data)
        except ValueError:
            continue
        if d.get("type") == "response.output_text.delta":
            out.append(d.get("delta", ""))
        last = d
    return "".join(out), last


def demo(fx):
    """The demo model answers with the tool's output."""
    sent = {"model": "demo", "tools": TOOLS, "input": [{"role": "user", "content": Q}, CALL,
                                                       OUTPUT]}
    r = post(fx, sent)
    o = r.json() if r.status == 200 else {}
    is_((r.status, (o or {}).get("status"), text_of(o)),
        (200, "completed", "The tool returned: " + RESULT),
        "demo, stream false: the answer quotes the function_call_output")
    if r.status != 200:
        diag(r.body[:300])
    r = post(fx, dict(sent, stream=True))
    text, last = deltas(r)
    is_((r.status, text, (last or {}).get("type")),
        (200, "The tool returned: " + RESULT, "response.completed"),
        "demo, stream true: the deltas quote the function_call_output, then completed")
    r = post(fx, {"model": "demo", "tools": TOOLS, "input": HISTORY})
    is_((r.status, text_of(r.json() if r.status == 200 else {})),
        (200, "The tool returned: noon UTC"),
        "demo, parallel calls: the last output, its input_text parts joined")


def relayed(fx, up):
    """An openai upstream gets the chat-completions history, tools and choice exactly."""
    r = post(fx, {"model": "relay", "instructions": INSTR, "input": HISTORY, "tools": TOOLS,
                  "tool_choice": {"type": "function", "name": "get_weather"},
                  "parallel_tool_calls": False, "store": False, "stream": True})
    text, last = deltas(r)
    is_((r.status, text, (last or {}).get("type")), (200, FAKE_TEXT, "response.completed"),
        "openai backend: the upstream's answer comes back")
    q = up.last("ok")
    got = (q.json or {}) if q is not None else {}
    is_(got.get("messages"), CHAT_HISTORY,
        "openai backend: one assistant message with both tool_calls and content null, a "
        "tool message per output, the reasoning left out")
    is_(got.get("tools"), CHAT_TOOLS, "openai backend: the tools in chat-completions shape")
    is_(got.get("tool_choice"), {"type": "function", "function": {"name": "get_weather"}},
        "openai backend: tool_choice {type, function: {name}}")
    is_(got.get("parallel_tool_calls"), False, "openai backend: parallel_tool_calls as given")
    is_(sorted(got), ["messages", "model", "parallel_tool_calls", "stream", "stream_options",
                      "tool_choice", "tools"],
        "openai backend: nothing of the Responses request besides")
    r = post(fx, {"model": "relay", "input": HISTORY[:1], "tools": TOOLS,
                  "tool_choice": "required"})
    got = (up.last("ok").json or {}) if up.last("ok") is not None else {}
    is_((r.status, got.get("tool_choice"), "parallel_tool_calls" in got),
        (200, "required", False), "openai backend: tool_choice \"required\" as is")


def exec_model(fx):
    r = post(fx, {"model": "exec", "input": [{"role": "user", "content": Q}, CALL, OUTPUT]})
    try:
        line = json.loads(text_of(r.json()) or "")
    except (ValueError, TypeError):
        line = {}
    is_(line.get("messages"), [
        {"role": "user", "content": Q},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": ARGS}}]},
        {"role": "tool", "content": RESULT, "tool_call_id": "call_1"}],
        "exec, input = messages: the tool call and its output reach the command")


def references(fx, cs, up):
    """item_reference: the caller's earlier output items, resolved from the journal."""
    r = post(fx, {"model": "demo", "input": Q, "stream": True})
    _, last = deltas(r)
    sid = r.header("X-Stream-Id") or ""
    items = ((last or {}).get("response") or {}).get("output") or [{}]
    mid = "msg_" + sid
    is_(items[0].get("id"), mid, "an earlier response's message item is msg_<stream id>")
    r = post(fx, {"model": "relay", "input": [
        {"role": "user", "content": Q}, {"type": "item_reference", "id": mid},
        {"role": "user", "content": "and tomorrow?"}]})
    got = (up.last("ok").json or {}) if up.last("ok") is not None else {}
    is_((r.status, got.get("messages")), (200, [
        {"role": "user", "content": Q}, {"role": "assistant", "content": demo_text(Q)},
        {"role": "user", "content": "and tomorrow?"}]),
        "item_reference: the earlier answer is sent upstream as the assistant's message")

    # A call the demo made (after its reasoning), referred to by its items' ids.
    r = post(fx, {"model": "agent", "input": Q, "tools": TOOLS, "stream": True})
    _, last = deltas(r)
    made = ((last or {}).get("response") or {}).get("output") or []
    sid = r.header("X-Stream-Id") or ""
    call = ([it for it in made if it.get("type") == "function_call"] or [{}])[0]
    is_([(it.get("type"), it.get("id")) for it in made],
        [("reasoning", "rs_" + sid), ("function_call", "fc_%s_0" % sid)],
        "the demo's call: a reasoning item rs_<id>, a function_call item fc_<id>_0")
    r = post(fx, {"model": "relay", "tools": TOOLS, "input": [
        {"role": "user", "content": Q}, {"type": "item_reference", "id": "rs_" + sid},
        {"type": "item_reference", "id": "fc_%s_0" % sid},
        {"type": "function_call_output", "call_id": call.get("call_id"), "output": RESULT}]})
    got = (up.last("ok").json or {}) if up.last("ok") is not None else {}
    is_((r.status, got.get("messages")), (200, [
        {"role": "user", "content": Q},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call.get("call_id"), "type": "function", "function": {
                "name": call.get("name"), "arguments": call.get("arguments")}}]},
        {"role": "tool", "tool_call_id": call.get("call_id"), "content": RESULT}]),
        "item_reference to a reasoning and a function_call item: the reasoning left out, the "
        "call sent upstream as the assistant's tool_calls")

    # stream: false: stored too (store), so its call item is referred to as well.
    r = post(fx, {"model": "agent", "input": Q, "tools": TOOLS})
    made = (r.json() or {}).get("output") or [] if r.status == 200 else []
    refs = [{"type": "item_reference", "id": it.get("id")} for it in made]
    cid = ([it.get("call_id") for it in made if it.get("type") == "function_call"] or [""])[0]
    r = post(fx, {"model": "agent", "tools": TOOLS,
                  "input": [{"role": "user", "content": Q}] + refs + [
                      {"type": "function_call_output", "call_id": cid, "output": RESULT}]})
    is_(([it.get("type") for it in made], r.status,
         text_of(r.json() if r.status == 200 else {})),
        (["reasoning", "function_call"], 200, "The tool returned: " + RESULT),
        "item_reference to the reasoning and the call of a stream: false response: resolved")

    gone = "msg_" + "A" * 22
    r = post(fx, {"model": "demo", "input": [{"role": "user", "content": Q},
                                             {"type": "item_reference", "id": gone}]})
    e = error_of(r)
    ok(r.status == 400 and e.get("param") == "input[1]" and "not kept" in e.get("message", ""),
       "item_reference to an unknown item: 400, param input[1], not kept (%d %s)"
       % (r.status, e))

    status, out = fcgi_post(cs, {"model": "demo", "input": Q, "stream": True}, "alice")
    mine = None
    for line in out.decode("utf-8", "replace").splitlines():
        if line.startswith("data: ") and '"response.completed"' in line:
            mine = (json.loads(line[6:])["response"]["output"][0]).get("id")
    ok(status == 200 and mine is not None, "alice's streamed response: %s" % mine)
    ask = {"model": "demo", "input": [{"role": "user", "content": Q},
                                      {"type": "item_reference", "id": mine or gone},
                                      {"role": "user", "content": "more"}]}
    status, out = fcgi_post(cs, ask, "bob")
    try:
        e = json.loads(out).get("error") or {}
    except (ValueError, AttributeError):
        e = {}
    ok(status == 400 and e.get("param") == "input[1]" and "not kept" in e.get("message", ""),
       "item_reference to another user's item: 400, param input[1], not kept (%d %s)"
       % (status, e))
    status, out = fcgi_post(cs, ask, "alice")
    try:
        o = json.loads(out)
    except ValueError:
        o = {}
    is_((status, text_of(o)), (200, demo_text("more")),
        "item_reference to one's own item: accepted")


def refused(fx):
    r = post(fx, {"model": "relay", "input": Q, "tools": [TOOLS[0], {"type": "web_search"}]})
    e = error_of(r)
    ok(r.status == 400 and e.get("param") == "tools[1]" and "web_search" in e.get("message", ""),
       "a web_search tool: 400 naming tools[1] (%d %s)" % (r.status, e))
    r = post(fx, {"model": "relay", "input": [
        {"role": "user", "content": Q}, CALL,
        {"type": "function_call_output", "call_id": "call_1", "output": [
            {"type": "input_image", "image_url": "http://x/y.png"}]}]})
    e = error_of(r)
    ok(r.status == 400 and e.get("param") == "input[2].output[0]",
       "an image in a function_call_output: 400 naming input[2].output[0] (%d %s)"
       % (r.status, e))


def main():
    require_tools()
    fx = Fixture("responses-tools")
    journal_from_env(fx)
    up = FakeUpstream()
    fx.on_close(up.close)
    exec_cmd = fx.path("echo-input.sh")
    with open(exec_cmd, "w") as f:
        f.write(EXEC_SCRIPT)
    os.chmod(exec_cmd, 0o755)
    cs = fx.start_chatstream(config({}, {
        "relay": {"backend": "openai", "base_url": up.base_url, "model": "ok"},
        "demo": DEMO_FAST,
        "agent": dict(DEMO_FAST, reasoning="I will call a tool."),
        "exec": {"backend": "exec", "command": exec_cmd, "input": "messages"},
    }))
    fx.start_lighttpd(cs)
    demo(fx)
    relayed(fx, up)
    exec_model(fx)
    references(fx, cs, up)
    refused(fx)
    ok(cs.alive(), "chatstream still runs")


run(main)
