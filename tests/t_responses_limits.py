#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_responses_limits.py: Responses API answers that press on max_event
(8192 here) end properly, streamed and stored, through lighttpd with curl;
the answers come from a fake upstream (tests/lib/fake_upstream.py, a test
double: these sizes are easiest to make exactly there):
  - text that JSON-escapes six-fold past the cap: streamed, it ends with
    response.incomplete; stream: false, a 200 object, incomplete, stored so;
  - 60 tokens each with five top_logprobs, stream: false: the object has
    them all; the stored response (GET) is completed, as answered;
  - 1 KB of text then 100 tool calls: the calls that fit are whole, the
    rest left out, and the response ends incomplete, streamed and not;
  - metadata too large for max_event is a 400 naming metadata.
Processes: chatstream behind lighttpd; the fake upstream as threads."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import Fixture, config, is_, ok, require_tools, run  # noqa: E402
from fake_upstream import FakeUpstream  # noqa: E402
from responses_util import events  # noqa: E402


def post(fx, payload):
    body = json.dumps(payload).encode("utf-8")
    return fx.curl("v1/responses", body=body, content_type="application/json")


def stored(fx, obj):
    return fx.curl("v1/responses/" + obj.get("id", "none")).json() or {}


def main():
    require_tools()
    fx = Fixture("responses-limits")
    up = FakeUpstream()
    fx.on_close(up.close)
    cs = fx.start_chatstream(config({"spool_dir": fx.path("spool"), "max_event": "8192"}, {
        name: {"backend": "openai", "base_url": up.base_url, "model": name}
        for name in ("control_text", "logprobs_many", "calls_many")}))
    fx.start_lighttpd(cs)

    evs = events(post(fx, {"model": "control_text", "input": "hi", "stream": True}))
    is_(evs[-1][0] if evs else None, "response.incomplete",
        "escape-heavy text past the cap, streamed: ends with response.incomplete")
    r = post(fx, {"model": "control_text", "input": "hi"})
    obj = r.json() if r.status == 200 else {}
    is_((r.status, obj.get("status"), stored(fx, obj).get("status")),
        (200, "incomplete", "incomplete"),
        "escape-heavy text past the cap, stream false: 200, incomplete, stored so")

    r = post(fx, {"model": "logprobs_many", "input": "hi"})
    obj = r.json() if r.status == 200 else {}
    lp = ((obj.get("output") or [{}])[0].get("content") or [{}])[0].get("logprobs") or []
    is_((r.status, obj.get("status"), len(lp)), (200, "completed", 60),
        "60 tokens' logprobs, stream false: all in the object")
    got = stored(fx, obj)
    is_((got.get("status"), got.get("output_text", None) is None and
         got["output"][0]["content"][0]["text"] if got.get("output") else None),
        ("completed", obj["output"][0]["content"][0]["text"] if obj.get("output") else 0),
        "60 tokens' logprobs, stream false: stored completed, with its text")

    evs = events(post(fx, {"model": "calls_many", "input": "hi", "stream": True}))
    last = evs[-1][1].get("response", {}) if evs else {}
    calls = [it for it in last.get("output", []) if it["type"] == "function_call"]
    is_(evs[-1][0] if evs else None, "response.incomplete",
        "100 calls past the cap, streamed: ends with response.incomplete")
    ok(0 < len(calls) < 100 and all(it["arguments"] == "{}" for it in calls) and
       [it["name"] for it in calls] == ["get_weather_%d" % k for k in range(len(calls))],
       "100 calls past the cap, streamed: the first %d whole, the rest left out" % len(calls))
    r = post(fx, {"model": "calls_many", "input": "hi"})
    obj = r.json() if r.status == 200 else {}
    is_((r.status, obj.get("status"), stored(fx, obj).get("status")),
        (200, "incomplete", "incomplete"), "100 calls past the cap, stream false: 200, incomplete")

    md = {"k%02d" % i + "k" * 60: "v" * 512 for i in range(16)}
    r = post(fx, {"model": "calls_many", "input": "hi", "metadata": md})
    e = (r.json() or {}).get("error") or {} if r.status == 400 else {}
    is_((r.status, e.get("param")), (400, "metadata"),
        "metadata too large for max_event: 400, param metadata")
    ok(cs.alive(), "chatstream still runs")


run(main)
