#!/usr/bin/python3
"""t_heartbeat.py: while the backend is silent, chatstream sends `:` comments
every `heartbeat` seconds, and they reach the client through lighttpd as they
are sent; the stream then completes normally.  Demo model with heartbeat = 1,
stall_after = 2, stall_seconds = 3."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (check_stream, config, demo_text, demo_tokens, diag,  # noqa: E402
                     is_, ok, run, setup)

STALL = 3


def main():
    fx, cs = setup(config({"heartbeat": 1}, {
        "stall": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 0,
                  "stall_after": 2, "stall_seconds": STALL}}), "heartbeat")
    P = "wait for it"
    toks = demo_tokens(P)
    r = fx.chat({"prompt": P, "model": "stall"}, timeout=25)
    sv = check_stream(r, demo_text(P), "stop", model="stall", completion_tokens=len(toks))
    ev = r.events
    if len(ev) < 4:
        ok(False, "enough events to find the stall")
        return
    # the stall: the largest gap between two consecutive events
    k = max(range(len(ev) - 1), key=lambda i: ev[i + 1].time - ev[i].time)
    gap = ev[k + 1].time - ev[k].time
    diag("largest gap %.2f s between event id %s and id %s" % (gap, ev[k].id, ev[k + 1].id))
    is_(k, 2, "the stall comes after meta + 2 tokens (stall_after = 2)")
    ok(gap >= STALL - 0.5, "the stall lasts about %d s (%.2f s)" % (STALL, gap))
    during = [c for c in r.sse.comments if c.after_events == k + 1]
    diag("comments during the stall: %r at %s" % (
        [c.text for c in during], ["+%.2f" % (c.time - ev[k].time) for c in during]))
    ok(len(during) >= 2, "at least 2 heartbeat comments arrived during the %d s stall (%d)"
       % (STALL, len(during)))
    if len(during) >= 2:
        ok(during[-1].time - during[0].time >= 0.5,
           "the heartbeats arrived spread over the stall, not in one burst (%.2f s apart)"
           % (during[-1].time - during[0].time))
    else:
        ok(False, "the heartbeats arrived spread over the stall")
    ok(all(ev[k].time <= c.time <= ev[k + 1].time for c in during),
       "each heartbeat arrived between the events around the stall")
    ok(sv.done is not None, "the stream then completed with done")


run(main)
