#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_fcgi_params.py: FastCGI params longer than 127 bytes (4-byte length
encoding) are read correctly: through lighttpd with a 300-byte custom header
and a header name over 127 bytes, and straight from fcgi.py with long names,
long values, a value spanning two FCGI_PARAMS records, and STDIN sent in
tiny records."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import fcgi  # noqa: E402
from harness import (check_stream, config, demo_text, demo_tokens, diag,  # noqa: E402
                     fcgi_params, is_, ok, run, setup)
from sse import parse_all  # noqa: E402


def main():
    fx, cs = setup(config(), "fcgi-params")

    # --- through lighttpd -----------------------------------------------------
    P = "long header test"
    body = json.dumps({"prompt": P}).encode()
    r = fx.curl(body=body, content_type="application/json",
                headers=["X-Long-Header: " + "v" * 300])
    check_stream(r, demo_text(P), "stop", completion_tokens=len(demo_tokens(P)),
                 label="300-byte X-Long-Header via lighttpd (HTTP_X_LONG_HEADER, 4-byte length)")
    r = fx.curl(body=body, content_type="application/json",
                headers=["X-" + "N" * 150 + ": " + "w" * 200])
    check_stream(r, demo_text(P), "stop", label="150-byte header name via lighttpd (4-byte name length)")

    # --- straight over FastCGI -----------------------------------------------
    long_params = [
        ("HTTP_X_" + "A" * 200, "v" * 300),           # long name, long value
        ("HTTP_X_SHORT", "s" * 128),                   # the 128 boundary: 4 bytes
        ("HTTP_X_" + "B" * 121, "x"),                  # name exactly 128 bytes
        ("HTTP_X_127", "t" * 127),                     # 127: still 1 byte
        ("HTTP_COOKIE", "c=" + "k" * 70000),           # spans two PARAMS records
    ]
    ok(fcgi.encode_nv("HTTP_X_" + "B" * 121, "x")[:4] == b"\x80\x00\x00\x80",
       "fcgi.py encodes a 128-byte name with a 4-byte length")

    st, hs, rb, c = cs.request(fcgi_params("GET", "health", extra=long_params), b"")
    is_(st, 200, "direct GET /health with long params: 200")
    ok(isinstance(_json(rb), dict) and _json(rb).get("status") == "ok",
       "direct GET /health with long params: status ok")
    is_((c.protocol_status, c.app_status is not None), (fcgi.FCGI_REQUEST_COMPLETE, True),
        "direct GET /health: FCGI_END_REQUEST with FCGI_REQUEST_COMPLETE")

    params = fcgi_params("POST", "", "application/json", content_length=len(body),
                         extra=long_params)
    st, hs, rb, c = cs.request(params, body)
    stream_ok(st, hs, rb, c, P, "direct POST with long params")

    st, hs, rb, c = cs.request(params, body, stdin_chunk=1)
    stream_ok(st, hs, rb, c, P, "direct POST with the body in 1-byte STDIN records")

    # params in many small PARAMS records (a pair split across records)
    with fcgi.FcgiClient(cs.sock, timeout=10) as c:
        c.begin()
        raw = b"".join(fcgi.encode_nv(k, v) for k, v in params)
        for k in range(0, len(raw), 61):
            c.send_raw(fcgi.record(fcgi.FCGI_PARAMS, 1, raw[k:k + 61]))
        c.params([], end=True)
        c.stdin(body, chunk=5)
        out = c.read_all()
    st, hs, rb = fcgi.parse_cgi_response(out)
    stream_ok(st, hs, rb, c, P, "direct POST with params split into 61-byte records")

    ok(cs.alive(), "chatstream is still running")


def _json(b):
    try:
        return json.loads(b.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def stream_ok(st, hs, rb, c, prompt, label):
    is_(st, 200, label + ": 200")
    ct = next((v for k, v in hs if k.lower() == "content-type"), "")
    is_(ct.lower(), "text/event-stream; charset=utf-8", label + ": event-stream")
    p = parse_all(rb)
    types = [e.type for e in p.events]
    ok(types[:1] == ["meta"] and types[-1:] == ["done"], label + ": meta first, done last")
    text = ""
    for e in p.events:
        if e.type == "message":
            d = _json(e.data.encode("utf-8"))
            text += d.get("text", "") if isinstance(d, dict) else ""
    is_(text, demo_text(prompt), label + ": exact text")
    is_(c.protocol_status, fcgi.FCGI_REQUEST_COMPLETE, label + ": FCGI_REQUEST_COMPLETE")
    if st != 200:
        diag("body: %r" % rb[:300])


run(main)
