#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_sdk.py: the official OpenAI Node SDK (npm "openai", pinned in
tests/sdk/package.json, installed by tests/sdk/setup.sh) against chatstream's
/v1 endpoints through lighttpd: a streamed chat completion with
stream_options.include_usage gives demo_text, finish_reason stop and the usage;
a non-streaming call gives the same; an unknown model is raised as an APIError
with status 404 (streaming and not); `: ping` heartbeats mid-stream (demo
stall + heartbeat 1) do not disturb the SDK's parser; a mid-stream failure is
raised as an APIError; aborting the SDK's request mid-stream ends chatstream's
stream (client_gone); client.models.list() lists the configured models; client.models.retrieve()
gives one (unknown: NotFoundError); responses carry a request id
(`_request_id`) and system_fingerprint.  An upstream's 400 (a fake upstream
answering context_length_exceeded) is raised as BadRequestError with the
upstream's code and param, and, with the SDK's default retries, the upstream
sees exactly one request.
A non-streaming answer slower than a heartbeat comes after spaces (one per
heartbeat), which the SDK's JSON parsing takes; a failure after such a space
comes with status 200 (it was out), and its body is OpenAI's error object:
the SDK raises nothing, it returns that object (no `choices`).

Skipped (not failed) only when node/npm or the SDK cannot be installed
(offline, not root): chatstream is not at fault then."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from fake_upstream import FakeUpstream  # noqa: E402
from sdk_util import install, run_script, sdk_dir  # noqa: E402
from harness import (DEMO_FAST, config, demo_text, demo_tokens, diag,  # noqa: E402
                     is_, like, ok, require_tools, run, setup, skip_all, word_count)

STALL = 3


def main():
    require_tools()
    where = sdk_dir()
    ready, out = install(where)
    if not ready:
        skip_all("the OpenAI Node SDK could not be installed: %s"
                 % " ".join(out.strip().splitlines()[-2:]))
    diag(out.strip().splitlines()[-1] if out.strip() else "sdk ready")
    up = FakeUpstream()
    fx, cs = setup(config({"heartbeat": 1}, {
        "ctx": {"backend": "openai", "base_url": up.base_url, "model": "status400_context"},
        "demo": DEMO_FAST,
        "stall": dict(DEMO_FAST, stall_after=2, stall_seconds=STALL),
        "fail": dict(DEMO_FAST, fail_after=3),
        "slow": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 10},
        "slower": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 5},
        "slowfail": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 5, "fail_after": 8},
    }), "sdk")
    fx.on_close(up.close)
    P = "hello from the SDK ü 🎉"
    toks = demo_tokens(P)
    words = word_count("be brief", P)
    usage = {"prompt_tokens": words, "completion_tokens": len(toks),
             "total_tokens": words + len(toks)}

    res = run_script(where, "sdk.mjs", [fx.url("v1"), P], "the SDK script",
                     timeout=120)
    if res is None:
        return
    diag("openai %s on node %s" % (res.get("sdkVersion"), res.get("node")))

    # streamed, with usage
    s = res.get("stream") or {}
    is_(s.get("error"), None, "stream: no error raised")
    is_(s.get("text"), demo_text(P), "stream: the SDK's text is demo_text")
    is_(s.get("contentChunks"), len(toks), "stream: one content chunk per demo token")
    is_(s.get("finish_reason"), "stop", "stream: finish_reason stop")
    is_(s.get("usage"), usage, "stream: usage chunk (prompt words, completion tokens)")
    is_(s.get("roles"), ["assistant"], "stream: the role comes once, assistant")
    ok(len(s.get("ids") or []) == 1 and (s.get("ids") or [""])[0].startswith("chatcmpl-"),
       "stream: one chatcmpl- id for every chunk (%r)" % s.get("ids"))
    is_(s.get("models"), ["demo"], "stream: chunk.model is demo")
    is_(s.get("objects"), ["chat.completion.chunk"], "stream: object chat.completion.chunk")

    # not streamed
    w = res.get("whole") or {}
    is_(w.get("error"), None, "non-stream: no error raised")
    is_(w.get("object"), "chat.completion", "non-stream: object chat.completion")
    is_(w.get("text"), demo_text(P), "non-stream: message.content is demo_text")
    is_(w.get("role"), "assistant", "non-stream: message.role assistant")
    is_(w.get("finish_reason"), "stop", "non-stream: finish_reason stop")
    is_(w.get("usage"), usage, "non-stream: usage")

    # unknown model: an APIError with status 404
    for key, label in (("unknownStream", "stream"), ("unknownWhole", "non-stream")):
        e = (res.get(key) or {}).get("error") or {}
        ok(e.get("isAPIError") is True, "unknown model (%s): raised an APIError (%s)"
           % (label, e.get("name")))
        is_(e.get("status"), 404, "unknown model (%s): status 404" % label)
        is_(e.get("name"), "NotFoundError", "unknown model (%s): NotFoundError" % label)
        is_(e.get("code"), "model_not_found", "unknown model (%s): code model_not_found" % label)
        like(e.get("message") or "", r"no-such-model", "unknown model (%s): message names it"
             % label)

    # heartbeats mid-stream: the SDK's parser skips the comments
    h = res.get("heartbeat") or {}
    is_(h.get("error"), None, "heartbeat: no error raised")
    is_(h.get("text"), demo_text(P), "heartbeat: exact text across the `: ping` comments")
    is_(h.get("finish_reason"), "stop", "heartbeat: finish_reason stop")
    is_(h.get("usage"), usage, "heartbeat: usage")
    gaps = h.get("gaps_ms") or [0]
    diag("heartbeat: the SDK's largest gap between chunks: %d ms (the stall is %d s)"
         % (max(gaps), STALL))
    # the comments really were there: ask chatstream over curl for the same stream
    r = fx.curl("v1/chat/completions", body=json.dumps(
        {"model": "stall", "messages": [{"role": "user", "content": P}], "stream": True}),
        content_type="application/json")
    ok(len(r.sse.comments) >= 2, "heartbeat: the same stream carries %d `: ping` comments"
       % len(r.sse.comments))

    # a mid-stream failure: an APIError from the iterator; non-stream: the demo
    # backend's failure status (500, type backend_error) before any body
    f = res.get("failStream") or {}
    e = f.get("error") or {}
    ok(e.get("isAPIError") is True, "mid-stream failure: raised an APIError (%s: %s)"
       % (e.get("name"), e.get("message")))
    is_(f.get("text"), "".join(toks[:3]), "mid-stream failure: the 3 tokens before it arrived")
    like(e.get("message") or "", r"demo failure injected",
         "mid-stream failure: the error's message")
    e = (res.get("failWhole") or {}).get("error") or {}
    ok(e.get("isAPIError") is True and e.get("status") == 500
       and (e.get("error") or {}).get("code") == "backend_error",
       "failure, non-stream: an APIError with status 500, code backend_error (%s %s)"
       % (e.get("name"), e.get("status")))

    # abort mid-stream: chatstream sees the reader leave
    a = res.get("abort") or {}
    ok(a.get("aborted") is True and a.get("error") is None,
       "abort: the SDK aborted after 3 chunks (%r)" % a.get("error"))
    line = cs.wait_log(r"model=slow .*outcome=client_gone", timeout=5)
    ok(line is not None, "abort: chatstream logged outcome=client_gone for the slow stream")

    # not streamed, slower than a heartbeat: spaces, then the object
    w = res.get("slowWhole") or {}
    is_(w.get("error"), None, "slow non-stream: no error raised")
    is_((w.get("object"), w.get("text"), w.get("finish_reason")),
        ("chat.completion", demo_text(P), "stop"),
        "slow non-stream: the SDK parsed the chat.completion after the spaces")
    r = fx.curl("v1/chat/completions", body=json.dumps(
        {"model": "slower", "messages": [{"role": "user", "content": P}]}),
        content_type="application/json")
    ok(r.status == 200 and r.body.startswith(b" ") and r.body.lstrip().startswith(b"{"),
       "slow non-stream: the same answer over curl starts with %d space(s)"
       % (len(r.body) - len(r.body.lstrip(b" "))))
    # ... and failing after a heartbeat: 200 was out; the body is the error object
    w = res.get("slowFailWhole") or {}
    is_(w.get("error"), None, "slow non-stream failure: the SDK raises nothing (status 200)")
    is_(((w.get("bodyError") or {}).get("code"), w.get("hasChoices")), ("backend_error", False),
        "slow non-stream failure: it returns OpenAI's error object, without choices")

    # models
    m = res.get("models") or {}
    is_(m.get("error"), None, "models.list(): no error")
    is_(sorted(x.get("id") for x in m.get("models") or []),
        ["ctx", "demo", "fail", "slow", "slower", "slowfail", "stall"],
        "models.list(): the configured models")
    ok(all(x.get("object") == "model" for x in m.get("models") or []),
       "models.list(): object model")
    m = res.get("retrieve") or {}
    is_((m.get("error"), m.get("id"), m.get("object")), (None, "demo", "model"),
        "models.retrieve('demo'): the model object")
    ok(isinstance(m.get("created"), int) and m["created"] > 1000000000,
       "models.retrieve: created is a real time (%r)" % m.get("created"))
    ok(m.get("requestId"), "models.retrieve: _request_id is set (%r)" % m.get("requestId"))
    e = (res.get("retrieveUnknown") or {}).get("error") or {}
    is_((e.get("name"), e.get("status")), ("NotFoundError", 404),
        "models.retrieve('no-such-model'): NotFoundError")
    w = res.get("whole") or {}
    ok(w.get("requestId"), "chat completion: _request_id is set (%r)" % w.get("requestId"))
    ok(str(w.get("systemFingerprint") or "").startswith("chatstream-"),
       "chat completion: system_fingerprint (%r)" % w.get("systemFingerprint"))

    # an upstream 400: BadRequestError, not retried
    e = (res.get("upstream400") or {}).get("error") or {}
    is_((e.get("name"), e.get("status"), e.get("code"), (e.get("error") or {}).get("param")),
        ("BadRequestError", 400, "context_length_exceeded", "messages"),
        "upstream 400: BadRequestError with the upstream's code and param")
    n = len([r for r in up.requests if r.path.endswith("/chat/completions")])
    is_(n, 1, "upstream 400: the upstream saw exactly one request (no retries)")


run(main)
