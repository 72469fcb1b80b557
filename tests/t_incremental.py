#!/usr/bin/python3
"""t_incremental.py: tokens reach the client as they are produced, not in one
burst at the end: the demo model paced at 20 tokens/s through lighttpd (with
the shipped snippet's stream-response-body = 2) and curl --no-buffer.  Only
relative timings within one run are compared; no absolute limits."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (check_stream, config, demo_text, demo_tokens, diag,  # noqa: E402
                     ok, run, setup)

TPS = 20


def main():
    fx, cs = setup(config(models={
        "paced": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": TPS}}), "incremental")
    P = "please count these thirteen words slowly so that the stream takes time"
    toks = demo_tokens(P)
    diag("%d tokens at %d tokens/s" % (len(toks), TPS))
    ok(28 <= len(toks) <= 34, "the prompt makes about 30 tokens (%d)" % len(toks))
    expected = (len(toks) - 1) / float(TPS)

    r = fx.chat({"prompt": P, "model": "paced"}, timeout=25)
    sv = check_stream(r, demo_text(P), "stop", model="paced", completion_tokens=len(toks))
    tev = sv.token_events
    if len(tev) < 2:
        ok(False, "at least two token events arrived")
        return
    first, last = tev[0].time, tev[-1].time
    spread = last - first
    diag("first token at +%.3f s, last at +%.3f s (spread %.3f s, generation %.3f s)"
         % (first - r.started, last - r.started, spread, expected))
    ok(spread > 0.5 * expected,
       "the first token arrived well before the last (%.2f s apart > 50%% of %.2f s)"
       % (spread, expected))
    reads = len(set(e.time for e in tev))
    ok(reads >= len(tev) // 2,
       "token events arrived in many separate reads (%d reads for %d events)" % (reads, len(tev)))
    meta = next(e for e in r.events if e.type == "meta")
    ok(meta.time <= first, "the meta event arrived no later than the first token")
    half = tev[len(tev) // 2].time
    ok(first < half < last, "the middle token arrived strictly between the first and the last")


run(main)
