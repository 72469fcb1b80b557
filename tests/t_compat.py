#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_compat.py: what OpenAI's clients and browsers on another origin look for,
over curl through lighttpd.  CORS: an Origin that cors_origins lists gets
Access-Control-Allow-Origin (that origin), Vary: Origin and the exposed
headers on every route (JSON answers, errors, native and OpenAI streams);
its OPTIONS preflight is a 204 with the route's methods, the asked-for
headers and a Max-Age; any other origin gets no CORS header and its OPTIONS
stays a 405.  Every answer has an x-request-id (the stream id for streams).
GET /v1/models/{id} gives OpenAI's model object (unknown: 404
model_not_found, param model); `created` is a real time, the same in the
list.  Chunks and completions carry system_fingerprint; with
stream_options.include_usage every chunk but the usage one has usage: null.
Validation errors name the field in `param`.  An upstream 400 (prompt over
the context) reaches the client as 400 with the upstream's type, code and
param, made once; an upstream 401 or 500 stays a 502."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import Fixture, config, diag, is_, ok, require_tools, run  # noqa: E402
from fake_upstream import FakeUpstream  # noqa: E402

ALLOWED = "http://127.0.0.1:9"
OTHER = "http://evil.example"
EXPOSE = {"x-stream-id", "location", "x-request-id"}


def cors_of(r):
    return {k.lower(): v for k, v in r.headers if k.lower().startswith("access-control-")
            or k.lower() == "vary"}


def main():
    require_tools()
    fx = Fixture("compat")
    up = FakeUpstream()
    fx.on_close(up.close)
    t0 = int(time.time())
    models = {
        "ctx": {"backend": "openai", "base_url": up.base_url, "model": "status400_context"},
        "badkey": {"backend": "openai", "base_url": up.base_url, "model": "status401"},
        "crash": {"backend": "openai", "base_url": up.base_url, "model": "status500"},
    }
    cs = fx.start_chatstream(config({"cors_origins": "%s http://localhost:5173" % ALLOWED},
                                    models))
    fx.start_lighttpd(cs)
    t1 = int(time.time())

    # --- CORS on every route, for a listed origin ------------------------------
    hdr = ["Origin: " + ALLOWED]
    chat = json.dumps({"model": "demo", "messages": [{"role": "user", "content": "hi"}],
                       "stream": True})
    cases = [
        ("GET /health", dict(path="health")),
        ("GET /v1/models", dict(path="v1/models")),
        ("POST / (native stream)", dict(path="", body='{"prompt":"hi"}',
                                        content_type="application/json")),
        ("POST /v1/chat/completions (stream)", dict(path="v1/chat/completions", body=chat,
                                                    content_type="application/json")),
        ("GET /nope (404)", dict(path="nope")),
        ("POST /v1/chat/completions (400)", dict(path="v1/chat/completions", body="{",
                                                 content_type="application/json")),
    ]
    for label, kw in cases:
        r = fx.curl(headers=hdr, **kw)
        c = cors_of(r)
        ok(c.get("access-control-allow-origin") == ALLOWED and c.get("vary") == "Origin"
           and {h.strip().lower() for h in c.get("access-control-expose-headers", "")
                .split(",")} == EXPOSE,
           "%s (%d): listed Origin gets Allow-Origin, Vary and Expose-Headers (%r)"
           % (label, r.status or 0, c))

    # --- no CORS for an origin not listed --------------------------------------
    for label, path in (("GET /v1/models", "v1/models"), ("GET /health", "health")):
        r = fx.curl(path, headers=["Origin: " + OTHER])
        is_((r.status, cors_of(r)), (200, {}), "%s from an unlisted origin: no CORS headers"
            % label)
    r = fx.curl("v1/models", headers=["Origin: " + ALLOWED + "/"])
    is_(cors_of(r), {}, "an origin that only starts like a listed one: no CORS headers")

    # --- preflights -------------------------------------------------------------
    asked = "content-type, authorization, x-stainless-os, x-stainless-retry-count"
    r = fx.curl("v1/chat/completions", method="OPTIONS",
                headers=hdr + ["Access-Control-Request-Method: POST",
                               "Access-Control-Request-Headers: " + asked])
    c = cors_of(r)
    is_(r.status, 204, "preflight of /v1/chat/completions from a listed origin: 204")
    is_(c.get("access-control-allow-origin"), ALLOWED, "preflight: Allow-Origin")
    is_(c.get("access-control-allow-methods"), "POST", "preflight: Allow-Methods POST")
    is_(c.get("access-control-allow-headers"), asked, "preflight: the asked headers allowed")
    ok(int(c.get("access-control-max-age", "0")) > 0, "preflight: a Max-Age (%r)"
       % c.get("access-control-max-age"))
    r = fx.curl("streams/abc", method="OPTIONS",
                headers=hdr + ["Access-Control-Request-Method: DELETE"])
    is_((r.status, cors_of(r).get("access-control-allow-methods")), (204, "GET, DELETE"),
        "preflight of /streams/{id}: the route table's methods")
    r = fx.curl("v1/chat/completions", method="OPTIONS",
                headers=hdr + ["Access-Control-Request-Method: POST",
                               "Access-Control-Request-Headers: x-a, x-b(1)"])
    ok(r.status == 204 and "authorization" in
       cors_of(r).get("access-control-allow-headers", "").lower(),
       "preflight with a malformed header list: the fixed list instead")
    r = fx.curl("v1/chat/completions", method="OPTIONS",
                headers=["Origin: " + OTHER, "Access-Control-Request-Method: POST"])
    is_((r.status, cors_of(r)), (405, {}), "preflight from an unlisted origin: 405, no CORS")

    # --- x-request-id -----------------------------------------------------------
    a, b = fx.curl("health"), fx.curl("nope")
    ida, idb = a.header("x-request-id"), b.header("x-request-id")
    ok(ida and idb and ida != idb, "x-request-id on a 200 and a 404, each its own (%r %r)"
       % (ida, idb))
    for label, body in (("stream", dict(stream=True)), ("non-stream", {})):
        r = fx.chat(dict({"model": "demo", "messages": [{"role": "user", "content": "hi"}]},
                         **body), path="v1/chat/completions")
        ok(r.header("x-request-id") is not None
           and r.header("x-request-id") == r.header("x-stream-id"),
           "chat completion (%s): x-request-id is the stream id (%r)"
           % (label, r.header("x-request-id")))

    # --- models -----------------------------------------------------------------
    r = fx.curl("v1/models/demo")
    m = r.json() or {}
    is_((r.status, m.get("id"), m.get("object"), m.get("owned_by")),
        (200, "demo", "model", "chatstream"), "GET /v1/models/demo: the model object")
    ok(isinstance(m.get("created"), int) and t0 - 2 <= m["created"] <= t1 + 2,
       "created is the process's start (%r in [%d, %d])" % (m.get("created"), t0, t1))
    lst = (fx.curl("v1/models").json() or {}).get("data") or []
    ok(lst and all(x.get("created") == m.get("created") for x in lst),
       "the list's created is the same")
    r = fx.curl("v1/models/no-such")
    e = (r.json() or {}).get("error") or {}
    is_((r.status, e.get("code"), e.get("param")), (404, "model_not_found", "model"),
        "GET /v1/models/no-such: 404 model_not_found, param model")

    # --- system_fingerprint, usage: null ---------------------------------------
    r = fx.chat({"model": "demo", "messages": [{"role": "user", "content": "hi there"}],
                 "stream": True, "stream_options": {"include_usage": True}},
                path="v1/chat/completions")
    chunks = [json.loads(ev.data) for ev in r.events if ev.data != "[DONE]"]
    ok(len(chunks) >= 3 and all(str(c.get("system_fingerprint", "")).startswith("chatstream-")
                                for c in chunks),
       "every chunk has system_fingerprint chatstream-<version> (%d chunks)" % len(chunks))
    ok(all("usage" in c and c["usage"] is None for c in chunks[:-1])
       and isinstance(chunks[-1].get("usage"), dict),
       "include_usage: usage null on every chunk but the last, which has it")
    r = fx.chat({"model": "demo", "messages": [{"role": "user", "content": "hi"}],
                 "stream": True}, path="v1/chat/completions")
    chunks = [json.loads(ev.data) for ev in r.events if ev.data != "[DONE]"]
    ok(chunks and all("usage" not in c for c in chunks), "without include_usage: no usage key")
    r = fx.chat({"model": "demo", "messages": [{"role": "user", "content": "hi"}]},
                path="v1/chat/completions")
    ok(str((r.json() or {}).get("system_fingerprint", "")).startswith("chatstream-"),
       "chat.completion has system_fingerprint")

    # --- param --------------------------------------------------------------------
    for label, body, param in (
            ("max_tokens a string", {"max_tokens": "x"}, "max_tokens"),
            ("messages not an array", {"messages": "hi"}, "messages"),
            ("a message without content", {"messages": [{"role": "user"}]},
             "messages[0].content"),
            ("temperature 9", {"temperature": 9}, "temperature"),
            ("unknown model", {"model": "nope"}, "model")):
        req = dict({"model": "demo", "messages": [{"role": "user", "content": "hi"}]}, **body)
        r = fx.chat(req, path="v1/chat/completions")
        e = (r.json() or {}).get("error") or {}
        is_(e.get("param"), param, "%s: param %s (%d %s)" % (label, param, r.status or 0,
                                                                e.get("message")))

    # --- upstream errors --------------------------------------------------------------
    for stream in (False, True):
        n0 = len(up.requests)
        r = fx.chat({"model": "ctx", "messages": [{"role": "user", "content": "long"}],
                     "stream": stream}, path="v1/chat/completions")
        e = (r.json() or {}).get("error") or {}
        is_((r.status, e.get("type"), e.get("code"), e.get("param")),
            (400, "invalid_request_error", "context_length_exceeded", "messages"),
            "upstream 400 (stream %s): 400 with the upstream's type, code, param" % stream)
        ok("maximum context length" in (e.get("message") or ""),
           "upstream 400: its message passes (%r)" % e.get("message"))
        is_(len(up.requests) - n0, 1, "upstream 400: one request made upstream")
    for model, label in (("badkey", "401 (our key)"), ("crash", "500")):
        r = fx.chat({"model": model, "messages": [{"role": "user", "content": "x"}]},
                    path="v1/chat/completions")
        e = (r.json() or {}).get("error") or {}
        is_((r.status, e.get("code")), (502, "upstream_error"),
            "upstream %s: 502 upstream_error" % label)
    r = fx.chat({"model": "ctx", "prompt": "x"})
    e = (r.json() or {}).get("error") or {}
    is_((r.status, e.get("type"), e.get("param")), (400, "upstream_rejected", "messages"),
        "native POST /: the upstream 400 as a 400, with param")
    diag("fake upstream served %d requests" % len(up.requests))


run(main)
