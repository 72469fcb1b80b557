#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_sdk_tools.py: a full tool loop through chatstream's /v1/chat/completions,
behind lighttpd, with the demo model that reasons and calls tools, driven by
three JS clients (tests/sdk/tools.mjs, versions pinned in tests/sdk):
  - the OpenAI Node SDK by hand (create: a tool call with finish_reason
    tool_calls; the `tool` message back; create: an answer that quotes the
    tool's result), its streaming helper (argument deltas, the call
    assembled by finalChatCompletion()) and runTools() (the SDK's own loop);
  - LangChain JS ChatOpenAI.bindTools(): invoke() gives tool_calls with
    parsed args (and the reasoning in additional_kwargs), a ToolMessage gets
    the answer, stream() assembles the same call from tool_call_chunks;
  - the Vercel AI SDK's chat provider (openai.chat(id)) streamText with an
    executing tool: tool-input deltas token by token, the tool-call, its
    result, then the answer's text in the second step;
  - the Responses API: the OpenAI SDK's responses.create (a reasoning item
    and a function_call item, status completed; the output sent back with a
    function_call_output item; an answer quoting the result) and
    responses.stream() (argument deltas, the call in finalResponse()); the AI
    SDK's default provider (openai(id)) streamText as with the chat one.
Skipped (not failed) only when node/npm or the clients cannot be installed."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import DEMO_FAST, config, diag, is_, ok, require_tools, run, setup, skip_all  # noqa: E402
from sdk_util import install, run_script, sdk_dir  # noqa: E402

P = "the weather in Paris, ünïcode 🎉"
WHY = "The user asks for the weather, so I call get_weather."
ARGS = json.dumps({"city": P}, ensure_ascii=False, separators=(",", ":"))
RESULT = json.dumps({"city": P, "temperature": 21, "sky": "clear"}, ensure_ascii=False,
                    separators=(",", ":"))
ANSWER = "The tool returned: " + RESULT


def main():
    require_tools()
    where = sdk_dir()
    ready, out = install(where)
    if not ready:
        skip_all("the JS clients could not be installed: %s"
                 % " ".join(out.strip().splitlines()[-2:]))
    fx, cs = setup(config({}, {"agent": dict(DEMO_FAST, reasoning=WHY)}), "sdk-tools")
    res = run_script(where, "tools.mjs", [fx.url("v1"), P, "agent"], "the clients' script",
                     timeout=180)
    if res is None:
        return
    for k, v in res.items():
        if isinstance(v, dict) and v.get("error"):
            diag("%s: %s" % (k, v["error"]))

    o = res.get("openaiRoundTrip") or {}
    call = o.get("call") or {}
    is_((o.get("finish1"), o.get("content1")), ("tool_calls", None),
        "OpenAI SDK: the first answer is a tool call, content null")
    is_((call.get("type"), call.get("name"), call.get("arguments")),
        ("function", "get_weather", ARGS), "OpenAI SDK: the call: get_weather with its arguments")
    ok((call.get("id") or "").startswith("call_"), "OpenAI SDK: the call has an id")
    is_(o.get("reasoning1"), WHY, "OpenAI SDK: message.reasoning_content")
    is_((o.get("finish2"), o.get("answer")), ("stop", ANSWER),
        "OpenAI SDK: after the tool message, an answer quoting the result")

    o = res.get("openaiStream") or {}
    is_((o.get("call") or {}).get("arguments"), ARGS,
        "OpenAI SDK streaming helper: finalChatCompletion() assembles the call")
    is_(o.get("joined"), ARGS, "OpenAI SDK streaming helper: the argument deltas join")
    ok((o.get("deltas") or 0) > 3, "OpenAI SDK streaming helper: %s argument deltas"
       % o.get("deltas"))
    is_(o.get("finish"), "tool_calls", "OpenAI SDK streaming helper: finish_reason tool_calls")

    o = res.get("openaiRunTools") or {}
    is_(o.get("calls"), [{"city": P}], "OpenAI SDK runTools(): the tool ran once, with the city")
    is_(o.get("answer"), ANSWER, "OpenAI SDK runTools(): the final answer quotes the result")

    o = res.get("langchain") or {}
    is_(((o.get("call") or {}).get("name"), (o.get("call") or {}).get("args")),
        ("get_weather", {"city": P}), "LangChain bindTools: invoke() gives the tool call, args parsed")
    is_((o.get("reasoning"), o.get("streamedReasoning")), (WHY, WHY),
        "LangChain: the reasoning in additional_kwargs.reasoning_content, invoked and streamed")
    is_(o.get("answer"), ANSWER, "LangChain: after a ToolMessage, the answer quotes the result")
    is_(o.get("streamed"), o.get("call") and dict(o["call"]),
        "LangChain stream(): the chunks assemble to the same call")
    ok((o.get("chunks") or 0) > 3, "LangChain stream(): %s tool_call_chunks" % o.get("chunks"))

    for key, who in (("vercel", "AI SDK streamText"),
                     ("vercelResponses", "AI SDK default provider (Responses) streamText")):
        o = res.get(key) or {}
        is_([(c.get("name"), c.get("input")) for c in o.get("calls") or []],
            [("get_weather", {"city": P})], "%s: the tool call" % who)
        is_(o.get("input"), ARGS, "%s: tool-input deltas join to the arguments" % who)
        ok((o.get("inputDeltas") or 0) > 3, "%s: %s tool-input deltas"
           % (who, o.get("inputDeltas")))
        is_(o.get("results"), [{"city": P, "temperature": 21, "sky": "clear"}],
            "%s: the tool ran" % who)
        is_((o.get("finishes"), o.get("text")), (["tool-calls", "stop"], ANSWER),
            "%s: step 1 tool-calls, step 2 the answer quoting the result" % who)

    o = res.get("responsesRoundTrip") or {}
    is_((o.get("status1"), o.get("types1")), ("completed", ["reasoning", "function_call"]),
        "OpenAI SDK responses.create: completed, a reasoning item then a function_call item")
    is_(o.get("reasoning1"), WHY, "OpenAI SDK responses.create: the reasoning item's text")
    call = o.get("call") or {}
    is_((call.get("name"), call.get("arguments")), ("get_weather", ARGS),
        "OpenAI SDK responses.create: the call: get_weather with its arguments")
    ok((call.get("call_id") or "").startswith("call_"), "OpenAI SDK responses.create: a call_id")
    is_((o.get("status2"), o.get("answer")), ("completed", ANSWER),
        "OpenAI SDK responses.create: after function_call_output, an answer quoting the result")
    o = res.get("responsesStream") or {}
    is_((o.get("call") or {}).get("arguments"), ARGS,
        "OpenAI SDK responses.stream(): finalResponse() has the call")
    is_(o.get("joined"), ARGS, "OpenAI SDK responses.stream(): the argument deltas join")
    ok((o.get("deltas") or 0) > 3, "OpenAI SDK responses.stream(): %s argument deltas"
       % o.get("deltas"))
    ok(cs.alive(), "chatstream still runs")


run(main)
