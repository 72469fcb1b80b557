#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_incremental.py: tokens reach the client as they are produced, not in one
burst at the end, through lighttpd (with the shipped snippet's
stream-response-body = 2) and curl --no-buffer:

  paced   the demo model at 20 tokens/s: the first, middle and last tokens
          came in three different reads, in that order, the meta event no
          later than the first token;
  held    an exec model that says one token and then waits until the test
          has read it (the test releases it then): the first token reached
          the client while the model was still running.

Only order is asserted (which read brought what, and what the client had
when the model went on), never durations; the bounds on waiting only keep a
broken build from hanging."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (Fixture, Held, check_stream, config, demo_text, demo_tokens,  # noqa: E402
                     diag, ok, require_tools, run)

TPS = 20


def main():
    require_tools()
    fx = Fixture("incremental")
    h = Held(fx)
    cs = fx.start_chatstream(config(models={
        "paced": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": TPS},
        "held": h.model()}))
    fx.start_lighttpd(cs)
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
    diag("first token at +%.3f s, last at +%.3f s (spread %.3f s, generation %.3f s), "
         "%d reads for %d token events" % (first - r.started, last - r.started, last - first,
                                            expected, len(set(e.time for e in tev)), len(tev)))
    meta = next(e for e in r.events if e.type == "meta")
    ok(meta.time <= first, "the meta event arrived no later than the first token")
    half = tev[len(tev) // 2].time
    ok(first < half < last, "the first, the middle and the last token came in three reads, "
       "in that order")

    tag = Held.tag("inc")
    st = fx.curl_start(body=json.dumps({"prompt": h.prompt(tag, "x"), "model": "held"}),
                       content_type="application/json", timeout=Held.HOLD_S + 30)
    seen = st.read_until(Held.first, 60)
    ended = st.eof
    h.release(tag)
    ok(seen and not ended, "held: the first token reached the client while the model was "
       "still running (it is released only now)")
    r = st.finish()
    check_stream(r, Held.text("x"), "stop", model="held", label="held", completion_tokens=False)


run(main)
