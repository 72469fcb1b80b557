#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_sdk_clients.py: three JS clients of OpenAI's chat-completions streaming
(pinned in tests/sdk/package.json, installed by tests/sdk/setup.sh) read
chatstream's /v1/chat/completions through lighttpd: the official OpenAI
Node SDK, the Vercel AI SDK (`ai` with `@ai-sdk/openai`'s chat-completions
provider, openai.chat(model)) and LangChain JS (`@langchain/openai`'s
ChatOpenAI).  chatstream's chunks carry SSE `id:` fields (so the stream can
be resumed) and, while the model is silent, `: ping` comments: each client
gets the exact text, one piece per token, and raises nothing, with ids alone
(a fast model) and with ids and pings mixed (a model that stalls longer
than `heartbeat`).

Skipped (not failed) only when node/npm or the clients cannot be installed
(offline, not root): chatstream is not at fault then."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (DEMO_FAST, config, demo_text, demo_tokens, diag, is_,  # noqa: E402
                     ok, require_tools, run, setup, skip_all)
from sdk_util import install, run_script, sdk_dir  # noqa: E402

STALL = 2
CLIENTS = ("openai", "ai", "langchain")


def main():
    require_tools()
    where = sdk_dir()
    ready, out = install(where)
    if not ready:
        skip_all("the JS clients could not be installed: %s"
                 % " ".join(out.strip().splitlines()[-2:]))
    diag(out.strip().splitlines()[-1] if out.strip() else "clients ready")
    fx, cs = setup(config({"heartbeat": 1}, {
        "demo": DEMO_FAST,
        "stall": dict(DEMO_FAST, stall_after=2, stall_seconds=STALL),
    }), "sdk-clients")
    P = "three clients ü 🎉"
    toks = demo_tokens(P)

    # what the clients will read: every event numbered, pings in the stalling one
    r = fx.curl("v1/chat/completions", body=json.dumps(
        {"model": "stall", "messages": [{"role": "user", "content": P}], "stream": True}),
        content_type="application/json")
    ids = [e.last_event_id for e in r.events]
    ok(len(ids) == len(r.events) > len(toks) and all(ids) and len(set(ids)) == len(ids),
       "the stream the clients read: an id: on each of its %d events" % len(r.events))
    ok(len(r.sse.comments) >= 1, "... and %d `: ping` comments while the model stalls"
       % len(r.sse.comments))

    res = run_script(where, "clients.mjs", [fx.url("v1"), P, "demo", "stall"], "the clients' script",
                     timeout=180)
    if res is None:
        return
    for client in CLIENTS:
        for model, what in (("demo", "ids"), ("stall", "ids and pings")):
            got = (res.get(client) or {}).get(model) or {}
            lb = "%s, %s (%s)" % (client, model, what)
            is_(got.get("error"), None, lb + ": no error raised")
            is_(got.get("text"), demo_text(P), lb + ": the exact text")
            is_(got.get("pieces"), len(toks), lb + ": one piece per token")


run(main)
