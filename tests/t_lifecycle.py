#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_lifecycle.py: capacity and shutdown as a client sees them.  With every stream
thread busy, a new stream gets 503 with Retry-After and a JSON body at once, while
the open streams carry on and /health still answers.  On SIGTERM, open streams that
outlive shutdown_grace end with `event: error` type shutdown, streams that finish in
time end normally, and chatstream exits 0."""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (Fixture, check_stream, config, demo_text, demo_tokens, diag, is_, ok,  # noqa: E402
                     require_tools, run, scaled)

SLOW = {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 2}


def open_slow(fx, model="slow"):
    st = fx.curl_start(body=json.dumps({"prompt": "a b c d e f g h i j", "model": model}),
                       content_type="application/json", timeout=30)
    st.read_until(lambda res: len(res.stream().texts) >= 1, 10)
    return st


def main():
    require_tools()

    # --- capacity -------------------------------------------------------
    fx = Fixture("capacity")
    cs = fx.start_chatstream(config({"threads": 2, "retry_after": 7}, {"slow": SLOW}))
    fx.start_lighttpd(cs)
    a, b = open_slow(fx), open_slow(fx)
    ok(len(a.res.stream().texts) >= 1 and len(b.res.stream().texts) >= 1,
       "two slow streams are open (threads = 2)")
    r = fx.chat({"prompt": "one more"})
    is_(r.status, 503, "a third stream gets 503")
    is_(r.header("Retry-After"), "7", "with Retry-After from the configuration")
    is_((r.json() or {}).get("error", {}).get("type"), "overloaded", "and a JSON error of type overloaded")
    ok(not a.eof and not b.eof, "the 503 came while both streams were still open")
    h = fx.curl("health")
    is_(h.status, 200, "/health answers at capacity")
    is_((h.json() or {}).get("streams"), 2, "/health counts the 2 open streams")
    a.kill()
    b.kill()
    ok(cs.wait_log(r"outcome=client_gone") is not None, "the aborted streams are logged")
    # the threads come back: a new stream succeeds (bounded retries while they finish)
    r = None
    for _ in range(50):
        r = fx.chat({"prompt": "after"})
        if r.status != 503:
            break
        time.sleep(0.1)
    check_stream(r, demo_text("after"), "stop", label="after capacity frees")
    fx.close()

    # --- SIGTERM with open streams ----------------------------------------
    fx = Fixture("sigterm")
    cs = fx.start_chatstream(config({"threads": 4, "shutdown_grace": 1},
                                    {"slow": SLOW,
                                     "short": {"backend": "demo", "tokens_per_second": 20,
                                               "max_tokens": 4}}))
    fx.start_lighttpd(cs)
    long1, long2 = open_slow(fx), open_slow(fx)
    short = fx.curl_start(body=json.dumps({"prompt": "quick", "model": "short"}),
                          content_type="application/json", timeout=30)
    short.read_until(lambda res: len(res.stream().texts) >= 1, 10)
    t0 = time.monotonic()
    os.kill(cs.pid, signal.SIGTERM)
    for st, name in ((long1, "first long stream"), (long2, "second long stream")):
        res = st.finish(timeout=15)
        sv = res.stream()
        is_(sv.types[-1:], ["error"], name + " ends with event: error")
        is_((sv.error or {}).get("error", {}).get("type"), "shutdown", name + ": type shutdown")
        ok(sv.ids_consecutive(), name + ": ids stay consecutive")
    elapsed = time.monotonic() - t0
    diag("streams ended %.2f s after SIGTERM (shutdown_grace = 1)" % elapsed)
    res = short.finish(timeout=15)
    check_stream(res, "".join(demo_tokens("quick", max_tokens=4)), "length", model="short",
                 label="a stream that ends within the grace")
    rc = None
    try:
        rc = cs.proc.wait(timeout=scaled(30))
    except Exception:  # noqa: BLE001
        pass
    is_(rc, 0, "chatstream exits 0 after SIGTERM")
    ok(len([ln for ln in cs.stream_lines() if "outcome=shutdown" in ln]) == 2,
       "two streams logged with outcome=shutdown")
    fx.close()


run(main)
