#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_relay_reuse.py: the relay keeps reusing its upstream connections when
many streams, one after another and at once, run on a few worker threads,
and every answer stays whole.

Each connection cache is used by one thread at a time (libcurl does not
support sharing one across threads): this checks that reuse survived that.
chatstream runs with threads = 3 and is talked to over FastCGI directly; the
fake upstream (tests/lib/fake_upstream.py, loopback) numbers the TCP
connections it accepts.  Three phases: 20 streams one after another; 8
rounds of 3 streams at once (the upstream's answer in pieces 5 ms apart, so
they overlap); 3 clients each running 10 streams back to back, then a
/v1 stream from each, all at once.  Every answer must be the upstream's
exact text, then done with its usage; the upstream must have seen far fewer
connections than requests (at most two per stream that can run at once);
streams one after another use one connection; and chatstream stops cleanly
(exit 0, no sanitizer report: the connection caches are freed).  No time is
measured: overlap is checked from the order of events.

Processes: one chatstream, the fake upstream as a thread.  About 10 s."""

import json
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (Fixture, StreamView, config, diag, fcgi_params, is_, ok,  # noqa: E402
                     require_tools, run)
from fake_upstream import FAKE_TEXT, FAKE_USAGE, FakeUpstream  # noqa: E402
from relay import OpenAIView  # noqa: E402
from sse import parse_all  # noqa: E402

THREADS = 3
SEQUENTIAL = 20
ROUNDS = 8
CLIENTS = 3
EACH = 10


class Tally:
    """Every answer and how many streams were open at once (by event order)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.open = 0
        self.most = 0
        self.answers = []         # (label, problem or None)

    def enter(self):
        with self.lock:
            self.open += 1
            self.most = max(self.most, self.open)

    def leave(self, label, problem):
        with self.lock:
            self.open -= 1
            self.answers.append((label, problem))


def problem_native(st, body):
    v = StreamView(parse_all(body).events)
    usage = (v.done or {}).get("usage") or {}
    if st != 200 or v.text != FAKE_TEXT or v.done is None or v.error is not None:
        return "status %s, events %s, text %r" % (st, v.types, v.text[:40])
    if usage.get("completion_tokens") != FAKE_USAGE["completion_tokens"]:
        return "done without the upstream's usage: %r" % v.done
    return None


def problem_v1(st, body):
    p = parse_all(body)
    v = OpenAIView(p.events, p.comments)
    if st != 200 or v.text != FAKE_TEXT or not v.done or v.finish_reason != "stop":
        return "status %s, text %r, [DONE] %s" % (st, v.text[:40], v.done)
    return None


def stream(cs, tally, label, model, v1=False):
    if v1:
        payload = {"model": model, "messages": [{"role": "user", "content": label}],
                   "stream": True}
    else:
        payload = {"model": model, "prompt": label}
    body = json.dumps(payload).encode("utf-8")
    tally.enter()
    problem = "no answer"
    try:
        st, _, rbody, _ = cs.request(fcgi_params("POST", "v1/chat/completions" if v1 else "",
                                                 "application/json", len(body)),
                                     body, timeout=30)
        problem = (problem_v1 if v1 else problem_native)(st, rbody)
    except Exception as e:  # noqa: BLE001 - any failure is this answer's problem
        problem = "%s: %s" % (type(e).__name__, e)
    finally:
        tally.leave(label, problem)


def at_once(fns):
    ts = [threading.Thread(target=f) for f in fns]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    return not any(t.is_alive() for t in ts)


def main():
    require_tools()
    fx = Fixture("relay-reuse")
    up = FakeUpstream()
    fx.on_close(up.close)
    models = {s: {"backend": "openai", "base_url": up.base_url, "model": s}
              for s in ("ok", "halflines")}
    A = fx.start_chatstream(config({"threads": THREADS, "journal": "off"}, models), name="A")
    tally = Tally()

    # 1. one after another
    for i in range(SEQUENTIAL):
        stream(A, tally, "seq %d" % i, "ok")
    seq_conns = sorted({q.conn for q in up.requests})
    ok(len(seq_conns) == 1,
       "%d streams one after another: one upstream connection (got %s)"
       % (SEQUENTIAL, seq_conns))

    # 2. rounds of THREADS streams at once
    done = True
    for r in range(ROUNDS):
        done &= at_once([lambda k=k: stream(A, tally, "round %d.%d" % (r, k), "halflines")
                         for k in range(THREADS)])
    ok(done, "%d rounds of %d streams at once: all ended" % (ROUNDS, THREADS))
    ok(tally.most >= 2, "streams did overlap (at most %d open at once)" % tally.most)

    # 3. clients each running streams back to back, all at once
    def client(c):
        for i in range(EACH):
            stream(A, tally, "client %d.%d" % (c, i), "ok" if i % 2 else "halflines")
        stream(A, tally, "client %d v1" % c, "halflines", v1=True)
    ok(at_once([lambda c=c: client(c) for c in range(CLIENTS)]),
       "%d clients x %d streams back to back: all ended" % (CLIENTS, EACH + 1))

    bad = [(label, p) for label, p in tally.answers if p is not None]
    if bad:
        diag("first bad answer: %s: %s" % bad[0])
    is_(len(bad), 0, "every answer (%d) is the upstream's exact text, then done with "
        "its usage" % len(tally.answers))
    nreq = len(up.requests)
    conns = sorted({q.conn for q in up.requests})
    is_(nreq, len(tally.answers), "each stream made one upstream request")
    diag("%d requests over %d upstream connections (%d accepted), at most %d streams "
         "at once" % (nreq, len(conns), up._conns, tally.most))
    ok(0 < len(conns) <= 2 * (THREADS + 1) and len(conns) * 4 < nreq,
       "connections are reused: %d requests over %d connections (at most %d allowed)"
       % (nreq, len(conns), 2 * (THREADS + 1)))
    rc = A.stop()
    log = A.log_lines()
    san = [ln for ln in log if "Sanitizer" in ln or "runtime error" in ln]
    if san:
        diag("\n".join(san[:5]))
    ok(rc == 0 and not san, "chatstream stops cleanly: exit %s, no sanitizer report "
       "(leaks included)" % rc)


run(main)
