#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_responses_deltas.py: what is not text, in the Responses API (POST
/v1/responses through lighttpd with curl), from an `openai` backend whose
upstream (tests/lib/fake_upstream.py, a test double: a real chatstream cannot
produce reasoning, logprobs or refusals) sends reasoning, text with logprobs
and two tool calls, each in pieces of a few characters cut across lines:
  - stream: true: every part is an output item of its own, added as it first
    comes (output_index 0, 1, 2, ... in that order): a reasoning item
    (response.reasoning_text.delta), the message (response.output_text.delta
    with its logprobs), one function_call item per call (call_id and name
    from the model; response.function_call_arguments.delta, many per call);
    the events apply, in order, as the OpenAI SDK's accumulator applies them
    (strictly: an event about an item or part not added is an error), and the
    result equals response.completed's output; each item's done events come
    after its deltas; usage has the reasoning and cached token details;
  - a refusal is the message's refusal part (response.refusal.delta/.done);
  - stream: false: the same output in the response object, logprobs in the
    text part; stored unless store is false (GET gives it back, and ?stream=true
    its events, which apply in order);
  - GET /v1/responses/<id>: the completed object; while the model still
    works (background), the items so far with their texts so far, in
    progress; GET ?stream=true replays the events exactly.
Processes: chatstream behind lighttpd; the fake upstream as threads."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import Fixture, config, diag, is_, ok, require_tools, run  # noqa: E402
from fake_upstream import PARTS, FakeUpstream  # noqa: E402
from responses_util import Inconsistent, accumulate, events, shape  # noqa: E402

P = "what is the weather in Paris"


def post(fx, payload):
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return fx.curl("v1/responses", body=body, content_type="application/json")


def stream_tests(fx):
    r = post(fx, {"model": "tools", "input": P, "stream": True})
    is_(r.status, 200, "stream: 200")
    evs = events(r)
    types = [t for t, _ in evs]
    ok(all(d.get("type") == t for t, d in evs) and
       [d["sequence_number"] for _, d in evs] == list(range(len(evs))),
       "stream: every event named by its type, numbered 0, 1, 2, ...")
    try:
        snap = accumulate(evs)
        ok(True, "stream: the events apply in order, as the OpenAI SDK applies them")
    except Inconsistent as e:
        ok(False, "stream: the events apply in order, as the OpenAI SDK applies them")
        diag(str(e))
        return None
    out = snap["output"]
    is_([it["type"] for it in out], ["reasoning", "message", "function_call", "function_call"],
        "stream: the items in the order the model gave them: reasoning, text, two calls")
    is_(out[0]["content"][0]["text"] if out[0].get("content") else None, PARTS["reasoning"],
        "stream: the reasoning's text reassembles exactly")
    is_(out[1]["content"][0]["text"], PARTS["content"], "stream: the message's text")
    calls = [(it["call_id"], it["name"], it["arguments"]) for it in out[2:]]
    is_(calls, PARTS["calls"], "stream: each call's call_id, name and arguments, exactly")
    for n, it in enumerate(out[2:]):
        iid = it["id"]
        deltas = [k for k, (t, d) in enumerate(evs)
                  if t == "response.function_call_arguments.delta" and d["item_id"] == iid]
        done = [k for k, (t, d) in enumerate(evs)
                if t == "response.output_item.done" and d["item"]["id"] == iid]
        ok(len(deltas) > 3 and len(done) == 1 and max(deltas) < done[0],
           "stream: call %d's arguments come in %d deltas, all before its item is done"
           % (n, len(deltas)))
    lp = [d["logprobs"] for t, d in evs if t == "response.output_text.delta"]
    is_(sum(lp, []), PARTS["logprobs"]["content"],
        "stream: the text's logprobs ride on its delta, as the Responses API's items")
    last = evs[-1][1]
    is_(types[-1], "response.completed", "stream: ends with response.completed")
    is_(last["response"]["status"], "completed", "stream: status completed (the calls asked for)")
    is_(shape(last["response"]["output"]), shape(out),
        "stream: response.completed's output is what the events built")
    is_(len({it["id"] for it in out}), 4, "stream: four distinct item ids")
    u = last["response"]["usage"]
    is_((u["input_tokens"], u["output_tokens"],
         u["input_tokens_details"]["cached_tokens"],
         u["output_tokens_details"]["reasoning_tokens"]),
        (41, 97, 7, 23), "stream: the upstream's usage, with its token details")

    r = post(fx, {"model": "refusal", "input": P, "stream": True})
    evs = events(r)
    try:
        snap = accumulate(evs)
    except Inconsistent as e:
        diag(str(e))
        snap = {"output": []}
    is_([(it["type"], [p["type"] for p in it.get("content", [])]) for it in snap["output"]],
        [("message", ["refusal"])], "refusal: the message, with one refusal part")
    is_(snap["output"][0]["content"][0].get("refusal") if snap["output"] else None,
        PARTS["refusal"], "refusal: response.refusal.delta reassembles exactly")
    ok(any(t == "response.refusal.done" and d["refusal"] == PARTS["refusal"] for t, d in evs),
       "refusal: response.refusal.done carries it whole")
    return last["response"]


def json_tests(fx, streamed):
    r = post(fx, {"model": "tools", "input": P})
    is_(r.status, 200, "stream false: 200")
    obj = r.json()
    is_(shape(obj["output"]), shape(streamed["output"]),
        "stream false: the same output items as streamed")
    is_(obj["output"][1]["content"][0]["logprobs"], PARTS["logprobs"]["content"],
        "stream false: the text part has its logprobs")
    got = fx.curl("v1/responses/" + obj["id"]).json()
    ok(got.get("status") == "completed" and shape(got.get("output") or []) == shape(obj["output"])
       and got.get("usage") == obj["usage"],
       "stream false: stored (store defaults to true): GET gives the same response")
    try:
        built = accumulate(events(fx.curl("v1/responses/%s?stream=true" % obj["id"])))
        ok(shape(built["output"]) == shape(obj["output"]),
           "stream false, stored: its journaled events apply in order and build the same output")
    except Inconsistent as e:
        ok(False, "stream false, stored: its journaled events apply in order and build the same "
           "output")
        diag(str(e))
    r = post(fx, {"model": "tools", "input": P, "store": False})
    rid = r.json().get("id") if r.status == 200 else None
    is_((r.status, fx.curl("v1/responses/%s" % rid).status), (200, 404),
        "stream false, store false: answered, not kept (404 on GET)")
    r = post(fx, {"model": "refusal", "input": P})
    obj = r.json()
    is_(obj["output"][0]["content"], [{"type": "refusal", "refusal": PARTS["refusal"]}],
        "stream false: a refusal is the message's refusal part")


def retrieve_tests(fx, streamed):
    got = fx.curl("v1/responses/" + streamed["id"]).json()
    is_(got, streamed, "retrieve: the completed object, as response.completed had it")
    r = fx.curl("v1/responses/%s?stream=true" % streamed["id"])
    evs = events(r)
    try:
        is_(shape(accumulate(evs)["output"]), shape(streamed["output"]),
            "retrieve ?stream=true: the replayed events build the same output")
    except Inconsistent as e:
        ok(False, "retrieve ?stream=true: the replayed events build the same output")
        diag(str(e))

    # A model still at work: the items so far, with their texts so far.
    r = post(fx, {"model": "hang", "input": P, "background": True})
    rid = r.json()["id"] if r.status == 200 else "none"
    obj = None
    for _ in range(400):
        obj = fx.curl("v1/responses/" + rid).json()
        out = obj.get("output") or []
        if len(out) == 4 and out[3].get("arguments") == PARTS["calls"][1][2]:
            break
        time.sleep(0.05)
    out = obj.get("output") or []
    is_(obj.get("status"), "in_progress", "retrieve, at work: in_progress")
    is_([(it["type"], it["status"]) for it in out],
        [("reasoning", "in_progress"), ("message", "in_progress"),
         ("function_call", "in_progress"), ("function_call", "in_progress")],
        "retrieve, at work: the four items so far, in progress")
    is_((out[0]["content"][0]["text"] if out and out[0].get("content") else None,
         out[1]["content"][0]["text"] if len(out) > 1 and out[1].get("content") else None,
         [(it.get("call_id"), it.get("name"), it.get("arguments")) for it in out[2:]]),
        (PARTS["reasoning"], PARTS["content"], PARTS["calls"]),
        "retrieve, at work: each item's text and arguments so far")
    r = fx.curl("v1/responses/%s/cancel" % rid, body=b"")
    is_(r.json().get("status") if r.status == 200 else r.status, "cancelled",
        "cancel: the response at work is cancelled")


def main():
    require_tools()
    fx = Fixture("responses-deltas")
    up = FakeUpstream()
    fx.on_close(up.close)
    cs = fx.start_chatstream(config({"spool_dir": fx.path("spool")}, {
        "tools": {"backend": "openai", "base_url": up.base_url, "model": "tools"},
        "refusal": {"backend": "openai", "base_url": up.base_url, "model": "refusal"},
        "hang": {"backend": "openai", "base_url": up.base_url, "model": "tools_hang"},
    }))
    fx.start_lighttpd(cs)
    streamed = stream_tests(fx)
    if streamed is not None:
        json_tests(fx, streamed)
        retrieve_tests(fx, streamed)
    ok(cs.alive(), "chatstream still runs")


run(main)
