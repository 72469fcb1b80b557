#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_resume_procs.py: one stream, two chatstream processes.  A and B run under
two spawn-fcgi instances (two sockets) sharing one spool_dir, each behind its
own lighttpd; every request is real curl.

- Produce on A (POST, paced), read k events, drop; resume on B with
  `Last-Event-ID: k`: the text is exact, ids 1..N each once.  A 202 stream
  made on A is read whole on B.
- A follower on B wakes promptly when A appends (inotify, not sleep-polling):
  each event reaches it about when it reaches A's own reader.  While the
  model is silent it gets `: ping` heartbeats as A's own reader does.
- DELETE on B stops the producer on A (its exec child is gone) and A's
  reader gets done finish_reason cancelled.
- on_disconnect = cancel: a follower on B keeps the stream on A going after
  A's POST client leaves; when the follower leaves too, A stops.
- B stopped (SIGTERM) under a follower: the follower gets `event: error`
  type shutdown (no `id:`) and resumes on A exactly; B is started again.
- A SIGKILLed mid-stream (heartbeat = 1, so lease_timeout = 3 s): the
  follower on B gets `event: error` type interrupted (no `id:`) in < 15 s,
  a later resume on B is told the same at once, and B keeps serving."""

import bisect
import json
import os
import re
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (Fixture, _alive, check_stream, config, demo_text, demo_tokens,  # noqa: E402
                     diag, is_, ok, require_tools, run, todo_ok)
from redis_server import journal_from_env  # noqa: E402
from resume_util import (Front, evlist, explain_journal_failures, json_of, max_gap,  # noqa: E402
                         meta_of, n_events, read_pid, read_together, script, stream_path,
                         texts_of, wait_gone)

PROMPT = "one stream read by two processes"
LONG = " ".join("word%d" % i for i in range(120))


def body_of(prompt, model):
    return json.dumps({"prompt": prompt, "model": model})


def main():
    require_tools()
    fx = Fixture("resume-procs")
    journal_from_env(fx)
    pidfile = fx.path("exec.pid")
    pauses = script(fx, "pauses.sh",
                    # four 2.3 s silences: each starts at another phase of the
                    # producer's 1 s lease renewals
                    'i=0\nwhile [ $i -lt 4 ]; do printf "t%d " $i; sleep 2.3; i=$((i+1)); done\n')
    slow = script(fx, "slow.sh",
                  'echo $$ > "$1"\ni=0\nwhile [ $i -lt 300 ]; do printf "tok%d " $i; sleep 0.1; '
                  "i=$((i+1)); done\n")
    # reconnect_window = 0: on_disconnect applies as soon as nobody reads
    text = config({"heartbeat": 1, "threads": 8, "spool_dir": fx.path("spool"),
                   "reconnect_window": 0}, {
        "paced": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 40,
                  "on_disconnect": "continue", "grace": 10},
        "long": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 40,
                 "on_disconnect": "continue", "grace": 10},
        "pauses": {"backend": "exec", "command": pauses, "on_disconnect": "continue", "grace": 10},
        "exec": {"backend": "exec", "command": "%s %s" % (slow, pidfile),
                 "on_disconnect": "cancel", "grace": 2, "kill_grace_ms": 500},
    })
    a = fx.start_chatstream(text, name="a")
    b = fx.start_chatstream(text, name="b")
    ok(a.pid != b.pid and a.sock != b.sock, "two chatstream processes on two sockets (pids %s, %s)"
       % (a.pid, b.pid))
    fa, fb = Front(fx, a, "lighttpd-a"), Front(fx, b, "lighttpd-b")
    t0 = time.monotonic()
    try:
        steps(fx, a, b, fa, fb, pidfile)
    finally:
        explain_journal_failures(fx.chatstreams)
    diag("took %.1f s" % (time.monotonic() - t0))


def steps(fx, a, b, fa, fb, pidfile):
    # --- produce on A, resume on B -------------------------------------------
    N = len(demo_tokens(PROMPT)) + 2
    for k in (1, 2, 7, N // 2, N - 1):
        st = fa.start(body=body_of(PROMPT, "paced"))
        st.read_until(lambda r: n_events(r) >= k, 10)
        st.kill()
        url = meta_of(st.res).get("resume")
        part1 = evlist(st.res.events)[:k]
        r = fb.curl(stream_path(url), headers=["Last-Event-ID: %d" % k])
        whole = part1 + evlist(r.events)
        good = (r.status == 200 and [i for i, _, _ in whole] == [str(i) for i in range(1, N + 1)]
                and "".join(texts_of(whole)) == demo_text(PROMPT)
                and whole[-1][1] == "done")
        ok(good, "k=%d: POST on A, Last-Event-ID: %d on B: exact text, ids 1..%d once" % (k, k, N))
        if not good:
            diag("status %s ids %r" % (r.status, [i for i, _, _ in whole]))
        sid = url.rsplit("/", 1)[-1] if url else "?"
        ok(a.wait_log(r"id=%s .*method=POST" % re.escape(sid), 5)
           and b.wait_log(r"id=%s .*method=GET .*status=200" % re.escape(sid), 5),
           "k=%d: A logged the POST, B the GET" % k)

    r = fa.curl(body=body_of(PROMPT, "paced"), headers=["Accept: application/json"])
    is_(r.status, 202, "202 from A")
    g = fb.curl(stream_path(r.header("Location")))
    check_stream(g, demo_text(PROMPT), "stop", model="paced", label="the 202 stream of A read on B")

    # --- wake-up latency across processes -------------------------------------
    st = fa.start(body=body_of(LONG, "long"))
    st.read_until(lambda r: n_events(r) >= 1, 10)
    url = meta_of(st.res).get("resume")
    fol = fb.start(stream_path(url), headers=["Last-Event-ID: 1"])
    read_together([st, fol], 30)
    st.finish(timeout=5)
    fol.finish(timeout=5)
    # ids are <stream id>.<n>: keyed by n
    ta = {(e.last_event_id or "").rsplit(".", 1)[-1]: e.time for e in st.res.events}
    tb = {(e.last_event_id or "").rsplit(".", 1)[-1]: e.time for e in fol.res.events}
    # events B got while following live (not the first ones it replayed)
    common = sorted((int(i) for i in tb if i in ta and int(i) > 5), key=int)
    lags = [tb[str(i)] - ta[str(i)] for i in common]
    ok(len(lags) > 50, "follower on B got %d live events" % len(lags))
    if lags:
        # how far ahead A's reader was, in events, when B's follower got each
        # event: order, not time (a follower that polled instead of waking
        # would fall several events behind at 40 tokens/s)
        arrivals = sorted(ta.values())
        ahead = [bisect.bisect_right(arrivals, tb[str(i)]) - i for i in common]
        med, worst = statistics.median(lags), max(lags)
        diag("lag of B's follower behind A's reader: median %.1f ms, max %.1f ms; "
             "A's reader was ahead by a median of %s events, at most %d"
             % (med * 1000, worst * 1000, statistics.median(ahead), max(ahead)))
        ok(statistics.median(ahead) <= 2,
           "follower on B wakes promptly: when it got an event, A's reader was a median of "
           "%s events ahead (tokens are 25 ms apart)" % statistics.median(ahead))
    is_(fol.res.stream().text, st.res.stream().text,
        "the follower on B got the same text as A's reader")
    is_(st.res.stream().text, demo_text(LONG), "A's reader got the whole answer")

    # --- heartbeats of a follower on B while the model is silent --------------
    st = fa.start(body=body_of("x", "pauses"))
    st.read_until(lambda r: n_events(r) >= 1, 10)
    fol = fb.start(stream_path(meta_of(st.res).get("resume")))
    read_together([st, fol], 20)
    st.finish(timeout=5)
    fol.finish(timeout=5)
    is_(fol.res.stream().text, "t0 t1 t2 t3 ", "pauses: the follower on B got the text")
    pa = sum(1 for c in st.res.sse.comments if c.text.strip() == "ping")
    pb = sum(1 for c in fol.res.sse.comments if c.text.strip() == "ping")
    ga, gb = max_gap(st.res), max_gap(fol.res)
    diag("four 2.3 s pauses, heartbeat 1 s: A's reader %d pings, longest silence %.2f s; "
         "follower on B %d pings, longest silence %.2f s" % (pa, ga, pb, gb))
    ok(pa >= 4, "A's reader gets pings while the model is silent (%d)" % pa)
    ok(pb >= 4, "the follower on B gets pings while the model is silent (%d)" % pb)

    # --- DELETE on B stops A's producer ---------------------------------------
    st = fa.start(body=body_of("x", "exec"))
    ok(st.read_until(lambda r: n_events(r) >= 3, 10), "exec stream on A")
    pid = read_pid(pidfile)
    sid = meta_of(st.res).get("id", "?")
    t1 = time.monotonic()
    r = fb.curl("streams/%s" % sid, method="DELETE")
    is_(r.status, 202, "DELETE on B -> 202")
    ok(wait_gone(pid, 5), "DELETE on B: A's exec child is gone (%.2f s)" % (time.monotonic() - t1))
    res = st.finish(timeout=10)
    is_((res.stream().done or {}).get("finish_reason"), "cancelled",
        "DELETE on B: A's reader gets done finish_reason cancelled")
    ok(a.wait_log(r"id=%s .*method=POST .*outcome=cancelled" % re.escape(sid), 5),
       "A logs the producer's outcome=cancelled")
    os.unlink(pidfile)

    # --- cancel policy: a follower on B keeps A's stream going -----------------
    st = fa.start(body=body_of("x", "exec"))
    st.read_until(lambda r: n_events(r) >= 3, 10)
    pid = read_pid(pidfile)
    sid = meta_of(st.res).get("id", "?")
    fol = fb.start("streams/%s" % sid, headers=["Last-Event-ID: 3"])
    ok(fol.read_until(lambda r: n_events(r) >= 2, 10), "cancel policy: a follower on B reads")
    st.kill()
    n0 = n_events(fol.res)
    fol.read_until(lambda r: False, 1.5)
    ok(n_events(fol.res) >= n0 + 8 and _alive(pid),
       "cancel policy: A's POST client left, the follower on B keeps the stream going "
       "(%d more events)" % (n_events(fol.res) - n0))
    fol.kill()
    t1 = time.monotonic()
    ok(wait_gone(pid, 5), "cancel policy: the last reader (on B) left -> A's exec child is gone "
       "(%.2f s)" % (time.monotonic() - t1))
    line = a.wait_log(r"id=%s .*method=POST .*outcome=" % re.escape(sid), 5)
    ok(line and "outcome=done" not in line, "A logged the stream's end: %s"
       % (re.search(r"outcome=\S+( detail=\S+)?", line or "") or re.match("", "")).group(0))
    os.unlink(pidfile)

    # --- B restarted (SIGTERM) under a follower: it resumes on A -----------------
    st = fa.start(body=body_of(LONG, "long"))
    st.read_until(lambda r: n_events(r) >= 3, 10)
    url = meta_of(st.res).get("resume")
    fol = fb.start(stream_path(url), headers=["Last-Event-ID: 2"], timeout=30)
    ok(fol.read_until(lambda r: n_events(r) >= 5, 10), "SIGTERM: a follower on B reads A's stream")
    t1 = time.monotonic()
    b.stop()                     # SIGTERM; shutdown_grace = 1 s
    res = fol.finish(timeout=10)
    # Only B stops; the stream goes on at A.  So B's reader is closed without
    # a terminal event, and the client reconnects (here: to A) to carry on.
    last = res.events[-1] if res.events else None
    ok(last is not None and last.type == "message",
       "SIGTERM on B: its follower's response ends with no done/error event (%.1f s)"
       % (time.monotonic() - t1))
    part1 = evlist(res.events)
    k = int(part1[-1][0]) if part1 and part1[-1][0] else 2
    r = fa.curl(stream_path(url), headers=["Last-Event-ID: %d" % k], timeout=30)
    whole = part1 + evlist(r.events)
    ok([i for i, _, _ in whole] == [str(i) for i in range(3, len(whole) + 3)]
       and "".join(texts_of(whole)) == demo_text(LONG)[len("".join(demo_tokens(LONG)[:1])):]
       and whole[-1][1] == "done",
       "the client resumes on A after Last-Event-ID: %d: exact text to done" % k)
    st.finish(timeout=30)
    is_(st.res.stream().text, demo_text(LONG), "A's own reader was not disturbed")
    ready, info = b.restart()
    ok(ready, "B restarted on its socket")

    # --- A SIGKILLed mid-stream ------------------------------------------------
    st = fa.start(body=body_of(LONG, "long"))
    st.read_until(lambda r: n_events(r) >= 3, 10)
    url = meta_of(st.res).get("resume")
    fol = fb.start(stream_path(url), headers=["Last-Event-ID: 3"], timeout=40)
    ok(fol.read_until(lambda r: n_events(r) >= 5, 10), "SIGKILL: a follower on B reads A's stream")
    os.kill(a.pid, signal.SIGKILL)
    t_kill = time.monotonic()
    fol.read_until(lambda r: any(e.type == "error" for e in r.events), 20)
    t_err = time.monotonic() - t_kill
    res = fol.finish(timeout=5)
    last = res.events[-1] if res.events else None
    err = json_of(last.data).get("error", {}) if last else {}
    ok(last is not None and last.type == "error" and err.get("type") == "interrupted",
       "SIGKILL: the follower on B gets event: error type interrupted")
    diag("SIGKILL: interrupted %.1f s after the kill (heartbeat 1 s, lease 3 s)" % t_err)
    ok(last is not None and all(k != "id" for k, _ in last.fields), "interrupted carries no id:")
    ids = [i for i, _, _ in evlist(res.events[:-1])]
    ok(ids == [str(i) for i in range(4, 4 + len(ids))],
       "SIGKILL: the events before it are in order")
    ok(not a.alive(), "A is gone")
    r = fb.curl(stream_path(url), headers=["Last-Event-ID: 3"], timeout=10)
    evs = r.events
    ok(r.status == 200 and evs and evs[-1].type == "error"
       and json_of(evs[-1].data).get("error", {}).get("type") == "interrupted",
       "a later resume on B replays what was kept, then interrupted")
    if not (r.status == 200 and evs and evs[-1].type == "error"):
        diag("status %s, %d events, last %r, body tail %r"
             % (r.status, len(evs), evs[-1:], r.body[-200:]))
    ok(b.alive(), "B keeps running")
    r = fb.curl(body=body_of(PROMPT, "paced"))
    check_stream(r, demo_text(PROMPT), "stop", model="paced", label="B serves a new stream")


run(main)
