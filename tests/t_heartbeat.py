#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_heartbeat.py: while the backend is silent, chatstream sends `:` comments
every `heartbeat` seconds, and they reach the client through lighttpd as they
are sent; the stream then completes normally.  heartbeat = 1.

  stall   the demo model with stall_after = 2, stall_seconds = 4: the
          heartbeats come between the 2nd and the 3rd token, and the stream
          ends with done;
  held    an exec model that says one token and then stays silent until the
          test releases it, which the test does once two heartbeats have
          reached it (or, failing, after a bound): the heartbeats reached
          the client while the model was silent, not in a burst at the end.

Only order is asserted (what had arrived when), never durations: the
bound on waiting for the heartbeats only keeps a broken build from hanging."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (Fixture, Held, check_stream, config, demo_text, demo_tokens,  # noqa: E402
                     diag, ok, require_tools, run)

STALL = 4
STALL_AFTER = 2


def main():
    require_tools()
    fx = Fixture("heartbeat")
    h = Held(fx)
    cs = fx.start_chatstream(config({"heartbeat": 1}, {
        "stall": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 0,
                  "stall_after": STALL_AFTER, "stall_seconds": STALL},
        "held": h.model(),
    }))
    fx.start_lighttpd(cs)
    P = "wait for it"
    toks = demo_tokens(P)
    r = fx.chat({"prompt": P, "model": "stall"}, timeout=25)
    sv = check_stream(r, demo_text(P), "stop", model="stall", completion_tokens=len(toks))
    ev = r.events
    if len(ev) < 4:
        ok(False, "enough events to find the stall")
        return
    k = STALL_AFTER              # ev[0] is meta: ev[k] is the last token before the stall
    during = [c for c in r.sse.comments if c.after_events == k + 1]
    diag("stall of %.2f s between event id %s and id %s; comments in it: %r at %s" % (
        ev[k + 1].time - ev[k].time, ev[k].id, ev[k + 1].id, [c.text for c in during],
        ["+%.2f" % (c.time - ev[k].time) for c in during]))
    ok(len(during) >= 2, "at least 2 heartbeat comments arrived between the 2nd and the 3rd "
       "token, during the %d s stall (%d)" % (STALL, len(during)))
    ok(sv.done is not None, "the stream then completed with done")

    # --- a model silent until the client has seen two heartbeats -------------
    tag = Held.tag("hb")
    st = fx.curl_start(body=json.dumps({"prompt": h.prompt(tag, "x"), "model": "held"}),
                       content_type="application/json", timeout=Held.HOLD_S + 30)

    def beats(res):
        return [c for c in res.sse.comments if c.after_events >= 2]   # after meta and a token

    seen = st.read_until(lambda res: Held.first(res) and len(beats(res)) >= 2, 60)
    ok(seen, "held: the first token, then two heartbeats, reached the client while the "
       "model was silent (it is released only now)")
    h.release(tag)
    r = st.finish()
    check_stream(r, Held.text("x"), "stop", model="held", label="held", completion_tokens=False)


run(main)
