#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_stream.py: a normal stream as a client sees it through lighttpd (with the
shipped conf/lighttpd-chatstream.conf) and real curl: headers, retry, ids,
meta/tokens/done, max_tokens, the three request body formats, GET /health,
and distinct stream ids."""

import json
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (DEMO_FAST, check_stream, config, demo_text, demo_tokens,  # noqa: E402
                     diag, fcgi_params, is_, isnt, like, ok, run, setup, word_count)

RETRY_MS = 2500


def main():
    fx, cs = setup(config(
        {"retry_ms": RETRY_MS},
        {"demo": DEMO_FAST,
         "small": dict(DEMO_FAST, max_tokens=5),
         "slowstart": dict(DEMO_FAST, ttft_ms=300)}), "stream")

    # --- one JSON prompt -----------------------------------------------------
    P = "hello there, streaming world"
    toks = demo_tokens(P)
    t0 = int(time.time())
    r = fx.chat({"prompt": P})
    t1 = int(time.time())

    is_((r.header("Content-Type") or "").lower(), "text/event-stream; charset=utf-8",
        "Content-Type: text/event-stream; charset=utf-8")
    is_(r.header("Cache-Control"), "no-cache", "Cache-Control: no-cache")
    is_(r.header("X-Accel-Buffering"), "no", "X-Accel-Buffering: no")
    sid = r.header("X-Stream-Id")
    like(sid or "", r"^[A-Za-z0-9_-]{22}$", "X-Stream-Id is 22 URL-safe base64 characters")
    # No Content-Length: lighttpd adds one by itself when the whole response
    # came in before it sent the headers (an unpaced demo stream does), so
    # check chatstream's own headers over FastCGI, and lighttpd's answer for
    # a stream that is still running when the headers go out.
    body = json.dumps({"prompt": P}).encode()
    st, hs, _, _ = cs.request(fcgi_params("POST", "", "application/json", len(body)), body)
    is_([v for k, v in hs if k.lower() == "content-length"], [],
        "chatstream sends no Content-Length on a stream (FastCGI)")
    rs = fx.chat({"prompt": P, "model": "slowstart"})
    is_(rs.status, 200, "slow-start stream via lighttpd: 200")
    is_(rs.header("Content-Length"), None, "no Content-Length on a stream via lighttpd")
    is_(len(r.header_all("X-Stream-Id")), 1, "exactly one X-Stream-Id header")

    ok(r.body.startswith(b"retry: "), "body starts with a retry: field")
    is_(r.sse.retry, RETRY_MS, "retry: equals the configured retry_ms")
    ok(any(c.after_events == 0 for c in r.sse.comments),
       "a comment comes before the first event")
    is_(len(r.sse.retries), 1, "exactly one retry: field in the stream")

    sv = check_stream(r, demo_text(P), "stop", completion_tokens=len(toks),
                      prompt_tokens=word_count(P), label="json prompt")
    is_(sv.texts, toks, "one event per demo token, in order")

    m = sv.meta or {}
    is_(m.get("id"), sid, "meta.id equals X-Stream-Id")
    is_(m.get("model"), "demo", "meta.model is demo")
    ok(isinstance(m.get("created"), int) and t0 - 2 <= m["created"] <= t1 + 2,
       "meta.created is the current unix time (%r, now %d)" % (m.get("created"), t1))
    d = sv.done or {}
    ok(isinstance(d.get("ttft_ms"), int) and d["ttft_ms"] >= 0, "done.ttft_ms is a number >= 0")
    ok(isinstance(d.get("duration_ms"), int) and d["duration_ms"] >= 0,
       "done.duration_ms is a number >= 0")
    ok(all(e.data and "\n" not in e.data for e in r.events),
       "each event's data is a single line")

    line = cs.wait_log(r"stream: id=%s " % re.escape(sid or "?"))
    ok(line is not None, "chatstream logged the stream")
    if line:
        like(line, r" status=200 ", "log line has status=200")
        like(line, r" outcome=done(\s|$)", "log line has outcome=done")
        like(line, r" method=POST ", "log line has method=POST")
        like(line, r" model=demo ", "log line has model=demo")

    # --- max_tokens ----------------------------------------------------------
    r = fx.chat({"prompt": P, "max_tokens": 5})
    sv = check_stream(r, "".join(toks[:5]), "length", completion_tokens=5,
                      label="max_tokens 5")
    is_(sv.texts, toks[:5], "max_tokens 5: the first five tokens")

    r = fx.chat({"prompt": P, "model": "small", "max_tokens": 100})
    check_stream(r, "".join(toks[:5]), "length", model="small", completion_tokens=5,
                 label="max_tokens 100 clamped to the model's 5")

    r = fx.chat({"prompt": P, "model": "small"})
    check_stream(r, "".join(toks[:5]), "length", model="small", completion_tokens=5,
                 label="model max_tokens 5 without request max_tokens")

    # --- messages ------------------------------------------------------------
    msgs = [{"role": "system", "content": "be brief"},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": "second question here"}]
    r = fx.chat({"messages": msgs, "model": "demo"})
    check_stream(r, demo_text("second question here"), "stop",
                 completion_tokens=len(demo_tokens("second question here")),
                 prompt_tokens=word_count(*[m["content"] for m in msgs]),
                 label="messages body")

    # --- form-urlencoded -----------------------------------------------------
    P2 = "form prompt & more = café + 100%"
    body = urllib.parse.urlencode({"prompt": P2, "model": "demo"}).encode("ascii")
    r = fx.curl(body=body, content_type="application/x-www-form-urlencoded")
    check_stream(r, demo_text(P2), "stop", completion_tokens=len(demo_tokens(P2)),
                 prompt_tokens=word_count(P2), label="form-urlencoded body")

    # --- text/plain ----------------------------------------------------------
    P3 = "plain text prompt\nwith two lines and ünïcödé"
    r = fx.curl(body=P3.encode("utf-8"), content_type="text/plain")
    check_stream(r, demo_text(P3), "stop", completion_tokens=len(demo_tokens(P3)),
                 prompt_tokens=word_count(P3), label="text/plain body")

    # What browsers send: fetch() with a string body uses text/plain;charset=UTF-8,
    # and JSON clients often add a charset parameter.
    r = fx.curl(body=P3.encode("utf-8"), content_type="text/plain;charset=UTF-8")
    check_stream(r, demo_text(P3), "stop", label="text/plain;charset=UTF-8 body")
    r = fx.curl(body=json.dumps({"prompt": P}).encode(),
                content_type="application/json; charset=utf-8")
    check_stream(r, demo_text(P), "stop", label="application/json; charset=utf-8 body")

    # --- GET /health ---------------------------------------------------------
    r = fx.curl("health")
    is_(r.status, 200, "GET /health: 200")
    like((r.header("Content-Type") or "").lower(), r"^application/json",
         "GET /health: Content-Type application/json")
    h = r.json()
    ok(isinstance(h, dict), "GET /health: body is a JSON object")
    h = h if isinstance(h, dict) else {}
    is_(h.get("status"), "ok", "GET /health: status ok")
    ok(isinstance(h.get("version"), str) and h.get("version"), "GET /health: version is a string")
    ok(isinstance(h.get("models"), list) and "demo" in h["models"] and "small" in h["models"],
       "GET /health: models lists demo and small")
    if not (isinstance(h.get("models"), list)):
        diag("health body: %r" % r.body[:300])

    # --- two streams, two ids -------------------------------------------------
    a = fx.chat({"prompt": "one"})
    b = fx.chat({"prompt": "two"})
    ida, idb = a.header("X-Stream-Id"), b.header("X-Stream-Id")
    ok(ida and idb, "both streams have an X-Stream-Id")
    isnt(ida, idb, "two streams have different ids")
    is_(((a.stream().meta or {}).get("id"), (b.stream().meta or {}).get("id")), (ida, idb),
        "each meta.id matches its own X-Stream-Id")


run(main)
