#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_sdk_fields.py: the official OpenAI Node SDK (tests/sdk/fields.mjs)
sends what an agent sends through chatstream (behind lighttpd) to an
`openai` backend whose upstream, tests/lib/fake_upstream.py, records it:
a streamed request with response_format (json_schema), tools, tool_choice,
parallel_tool_calls, seed, user and a tool round trip in its history (a
developer message, an assistant's tool_calls with content null, the tool
message) arrives with every one of them equal, as JSON, to what the SDK
sent; so does a JSON-mode request with max_completion_tokens, not streamed.
The demo backend answers the same tool round trip (as it does over curl), and an image part is raised as BadRequestError with
param messages[0].content[1].

Skipped (not failed) only when node/npm or the SDK cannot be installed."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from fake_upstream import FAKE_TEXT, FakeUpstream  # noqa: E402
from harness import (config, diag, is_, ok, require_tools, run, setup,  # noqa: E402
                     skip_all)
from sdk_util import install, run_script, sdk_dir  # noqa: E402

OURS = ("model", "stream", "stream_options")


def main():
    require_tools()
    where = sdk_dir()
    ready, out = install(where)
    if not ready:
        skip_all("the OpenAI Node SDK could not be installed: %s"
                 % " ".join(out.strip().splitlines()[-2:]))
    up = FakeUpstream()
    fx, cs = setup(config({}, {
        "rec": {"backend": "openai", "base_url": up.base_url, "model": "ok"},
    }), "sdk-fields")
    fx.on_close(up.close)

    res = run_script(where, "fields.mjs", [fx.url("v1")], "the SDK script",
                     timeout=120)
    if res is None:
        return
    diag("openai %s" % res.get("sdkVersion"))

    sent = res.get("sent") or {}
    got = [q.json or {} for q in up.requests if q.path.endswith("/chat/completions")]
    is_(len(got), 2, "the upstream got two requests")
    got += [{}, {}]

    a = res.get("agent") or {}
    is_((a.get("error"), a.get("text")), (None, FAKE_TEXT),
        "agent request (streamed): the SDK reads the upstream's answer")
    want = sent.get("agent") or {}
    for k in sorted(set(want) - set(OURS)):
        is_(got[0].get(k), want[k], "agent request: the upstream got %s as the SDK sent it" % k)
    ok(got[0].get("stream") is True, "agent request: streamed upstream")

    j = res.get("jsonMode") or {}
    is_((j.get("error"), j.get("text")), (None, FAKE_TEXT),
        "JSON mode (not streamed): the SDK reads the upstream's answer")
    want = sent.get("jsonMode") or {}
    for k in sorted(set(want) - set(OURS)):
        is_(got[1].get(k), want[k], "JSON mode: the upstream got %s as the SDK sent it" % k)

    # the demo's answer to the same history, over curl
    sent_round = res.get("sentRound") or {}
    r = fx.curl("v1/chat/completions", body=json.dumps(sent_round),
                content_type="application/json")
    j = r.json() if r.status == 200 else {}
    want = ((j.get("choices") or [{}])[0].get("message") or {}).get("content")
    d = res.get("demoRound") or {}
    ok(d.get("error") is None and isinstance(want, str) and want != "" and
       d.get("text") == want,
       "demo, a tool round trip: answered, as over curl (%s)" % (d.get("error"),))
    e = (res.get("demoImage") or {}).get("error") or {}
    is_((e.get("name"), e.get("status"), e.get("param")),
        ("BadRequestError", 400, "messages[0].content[1]"),
        "demo, an image part: BadRequestError, param messages[0].content[1]")
    ok(cs.alive(), "chatstream is still running")


run(main)
