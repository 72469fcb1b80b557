#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_sdk_responses.py: the Responses API (/v1/responses) through lighttpd with
the JS clients pinned in tests/sdk/package.json (tests/sdk/responses.mjs).
The OpenAI Node SDK: responses.create streamed (the typed events in order,
sequence_number 0, 1, 2, ..., one delta per token, response.completed with the
usage) and not (output_text, usage, a request id); its stream helper's
finalResponse(); background: true (queued at once), responses.retrieve until
completed, responses.retrieve(id, {stream: true}) and with starting_after
(exactly the events after it), also while the response runs (a held model
the script releases once it reads the replay);
responses.cancel (cancelled, and so when retrieved again); previous_response_id
raised as a 400 BadRequestError naming the param.  The Vercel AI SDK's default
provider, openai("demo"), which speaks the Responses API: streamText gives the
exact text one piece per token, finish reason stop and the usage; generateText
the text.

Skipped (not failed) only when node/npm or the clients cannot be installed
(offline, not root): chatstream is not at fault then."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (DEMO_FAST, Fixture, Held, config, demo_text, demo_tokens,  # noqa: E402
                     diag, is_, ok, require_tools, run, skip_all, word_count)
from sdk_util import install, run_script, sdk_dir  # noqa: E402

OPENING = ["response.created", "response.in_progress", "response.output_item.added",
           "response.content_part.added"]
CLOSING = ["response.output_text.done", "response.content_part.done",
           "response.output_item.done", "response.completed"]


def main():
    require_tools()
    where = sdk_dir()
    ready, out = install(where)
    if not ready:
        skip_all("the JS clients could not be installed: %s"
                 % " ".join(out.strip().splitlines()[-2:]))
    diag(out.strip().splitlines()[-1] if out.strip() else "clients ready")
    fx = Fixture("sdk-responses")
    held = Held(fx)
    fx.start_lighttpd(fx.start_chatstream(config({}, {
        "held": held.model(),
        "demo": DEMO_FAST,
        "slow": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 40},
        "stall": dict(DEMO_FAST, stall_after=3, stall_seconds=60),
    })))
    tag = Held.tag("sdk")
    P = "responses ü 🎉"
    toks = demo_tokens(P)
    text = demo_text(P)
    res = run_script(where, "responses.mjs", [fx.url("v1"), P, held.prompt(tag, "sdk"), os.path.join(held.dir, tag + ".go")], "the clients' script",
                     timeout=180)
    if res is None:
        return
    for k, v in res.items():
        if isinstance(v, dict) and v.get("error"):
            diag("%s raised %s" % (k, json.dumps(v["error"])))

    s = res.get("streamed") or {}
    is_(s.get("types"), OPENING + ["response.output_text.delta"] * len(toks) + CLOSING,
        "openai create stream: the events in order, one delta per token")
    is_(s.get("seqs"), list(range(len(s.get("types") or []))),
        "openai create stream: sequence_number 0, 1, 2, ...")
    is_("".join(s.get("deltas") or []), text, "openai create stream: the exact text")
    last = s.get("last") or {}
    is_((last.get("status"), last.get("text")), ("completed", text),
        "openai create stream: response.completed with the text")
    is_((last.get("usage") or {}).get("input_tokens"), word_count("be brief", P),
        "openai create stream: usage.input_tokens")
    is_((last.get("usage") or {}).get("output_tokens"), len(toks),
        "openai create stream: usage.output_tokens")

    w = res.get("whole") or {}
    is_((w.get("object"), w.get("status"), w.get("output_text")), ("response", "completed", text),
        "openai create: the response object; output_text is the text")
    is_((w.get("usage") or {}).get("total_tokens"), word_count(P) + len(toks),
        "openai create: usage.total_tokens")
    ok(w.get("request_id"), "openai create: a request id (x-request-id)")
    h = res.get("helper") or {}
    is_((h.get("status"), h.get("output_text")), ("completed", text),
        "openai responses.stream().finalResponse(): completed, the text")

    b = res.get("background") or {}
    is_((b.get("created") or {}).get("status"), "queued", "background: queued at once")
    is_(((b.get("done") or {}).get("status"), (b.get("done") or {}).get("output_text")),
        ("completed", text), "background: responses.retrieve until completed: the text")
    al = b.get("all") or {}
    is_(al.get("types"), OPENING + ["response.output_text.delta"] * len(toks) + CLOSING,
        "background: retrieve(stream: true) replays every event")
    af = b.get("after") or {}
    is_(af.get("seqs"), (al.get("seqs") or [])[6:], "background: starting_after 5: exactly "
        "the events after 5 (no gap, no duplicate)")
    is_(af.get("types"), (al.get("types") or [])[6:], "background: starting_after 5: "
        "the same events")

    lv = res.get("live") or {}
    is_(((lv.get("part") or {}).get("status"), (lv.get("part") or {}).get("output_text")),
        ("in_progress", "sdk waiting "), "live: retrieved while it runs (held): in_progress, "
        "the text so far")
    la = lv.get("after") or {}
    is_(la.get("seqs"), list(range(4, 4 + len(la.get("seqs") or []))) or None,
        "live: starting_after 3 follows from 4 on, consecutive")
    is_((la.get("types") or [None])[-1], "response.completed", "live: followed to the end")
    is_("".join(la.get("deltas") or []), Held.text("sdk"),
        "live: replayed, then (released) followed live: the whole text")

    c = res.get("cancel") or {}
    is_((c.get("part") or {}).get("status"), "in_progress", "cancel: running first")
    is_((c.get("cancelled") or {}).get("status"), "cancelled",
        "responses.cancel: status cancelled")
    is_((c.get("later") or {}).get("status"), "cancelled", "cancel: retrieved: cancelled")
    ok(text.startswith((c.get("later") or {}).get("output_text") or "x") and
       (c.get("later") or {}).get("output_text") != text,
       "cancel: the output is the text so far")

    e = (res.get("previous") or {}).get("error") or {}
    is_((e.get("name"), e.get("status"), e.get("param")),
        ("BadRequestError", 400, "previous_response_id"),
        "previous_response_id: BadRequestError naming the param")

    a = res.get("ai") or {}
    is_(a.get("error"), None, "ai streamText(openai('demo')): no error")
    is_("".join(a.get("pieces") or []), text, "ai streamText: the exact text")
    is_(len(a.get("pieces") or []), len(toks), "ai streamText: one piece per token")
    is_(a.get("finishReason"), "stop", "ai streamText: finish reason stop")
    is_((a.get("usage") or {}).get("outputTokens"), len(toks), "ai streamText: output tokens")
    g = res.get("ai_generate") or {}
    is_(g.get("text"), text, "ai generateText(openai('demo')): the text")


run(main)
