#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_disconnect.py: a client that goes away mid-stream ends the stream at
chatstream (log outcome=client_gone, long before the answer would have
finished): through lighttpd by killing curl, and as a front server that
closes its FastCGI connection mid-response (fcgi.py).  chatstream keeps
serving afterwards."""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import fcgi  # noqa: E402
from harness import (check_stream, config, demo_text, diag, fcgi_params,  # noqa: E402
                     ok, run, setup)
from sse import SSEParser  # noqa: E402

TPS = 10
# ~100 tokens at 10/s: about 10 s if nobody hung up
PROMPT = " ".join("word%d" % i for i in range(85))


def stream_line(cs, sid, timeout):
    return cs.wait_log(r"stream: id=%s .*outcome=" % re.escape(sid), timeout=timeout)


def main():
    fx, cs = setup(config({"heartbeat": 1}, {
        "slow": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": TPS}}), "disconnect")
    body = json.dumps({"prompt": PROMPT, "model": "slow"}).encode()

    # --- curl killed mid-stream ----------------------------------------------
    cst = fx.curl_start(body=body, content_type="application/json", timeout=25)
    got = cst.read_until(lambda r: len([e for e in r.events if e.type == "message"]) >= 3, 10)
    ok(got, "curl: three tokens arrived before hanging up")
    meta = next((e for e in cst.res.events if e.type == "meta"), None)
    sid = json.loads(meta.data).get("id") if meta else None
    t_kill = time.monotonic()
    cst.kill()
    line = stream_line(cs, sid or "?", timeout=5) if sid else None
    elapsed = time.monotonic() - t_kill
    ok(line is not None, "curl: chatstream logged the stream's end within 5 s (%.1f s)" % elapsed)
    ok(line is not None and re.search(r" outcome=client_gone(\s|$)", line),
       "curl: the stream ended with outcome=client_gone")
    if line:
        diag(line)

    # --- FastCGI connection closed mid-response --------------------------------
    c = fcgi.FcgiClient(cs.sock, timeout=10)
    c.begin()
    c.params(fcgi_params("POST", "", "application/json", len(body)))
    c.stdin(body)
    p = SSEParser()
    raw = b""
    for _ in range(200):
        d = c.read_stdout(timeout=5)
        if not d:
            break
        raw += d
        k = raw.find(b"\r\n\r\n")
        if k >= 0:
            p = SSEParser()
            p.feed(raw[k + 4:])
            if len([e for e in p.events if e.type == "message"]) >= 3:
                break
    meta = next((e for e in p.events if e.type == "meta"), None)
    sid2 = json.loads(meta.data).get("id") if meta else None
    ok(sid2 is not None and len(p.events) >= 4, "fcgi: meta and three tokens arrived")
    c.close()
    t_close = time.monotonic()
    line = stream_line(cs, sid2 or "?", timeout=5) if sid2 else None
    ok(line is not None, "fcgi: chatstream logged the stream's end within 5 s (%.1f s)"
       % (time.monotonic() - t_close))
    ok(line is not None and re.search(r" outcome=client_gone(\s|$)", line),
       "fcgi: the stream ended with outcome=client_gone")
    if line:
        diag(line)

    # --- still serving ----------------------------------------------------------
    ok(cs.alive(), "chatstream is alive")
    r = fx.chat({"prompt": "after the hang-ups"})
    check_stream(r, demo_text("after the hang-ups"), "stop", label="a stream after the hang-ups")


run(main)
