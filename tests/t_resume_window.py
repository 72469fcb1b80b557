#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_resume_window.py: a reader leaving is not a cancel, and a POST retried
with Last-Event-ID resumes its stream.  Two chatstream processes A and B
share one journal (a spool, or Redis under t_resume_window_redis.py), each
behind its own lighttpd, with tests/lib/cutproxy.py in front of both; every
client is real curl.

- Event ids name their stream: `id: <stream id>.<n>`.
- POST / cut three times by the proxy, each time retried the way
  @microsoft/fetch-event-source does (the same body, `Last-Event-ID: <the
  last id it had>`), alternately on A and B: the parts together are the
  exact answer, every event once, one X-Stream-Id, and ONE generation in
  the logs (one POST line with backend=demo; the retries log backend=-).
- The 202 flow with the shipped defaults (on_disconnect = cancel, the
  derived reconnect window): the reader is cut, comes back on the other
  process with Last-Event-ID, and gets the whole answer, finish_reason stop.
- A client that leaves without a word (reconnect_window = 4, a slow model):
  a reader that comes back within the window finds the stream still going
  (it gets tokens made after the first client left); once it leaves too and
  nobody comes back, the producer ends `outcome=client_gone
  detail=abandoned`, after that reader's own line, with fewer tokens than
  the whole answer, and a late GET gets done finish_reason cancelled.
- A model's own reconnect_window (0) wins over the global one.
- DELETE still stops at once: a 202 stream nobody reads, deleted within the
  window, ends outcome=cancelled (not abandoned).
- A reader that says it leaves (DELETE ?leaving, what the chat page sends on
  pagehide): 202; a reader back on the other process in time (a reload)
  finds the stream going on; when it says it leaves too and nobody comes
  back, the producer ends outcome=cancelled detail=left (leave_window, not
  the reconnect window's abandoned), with fewer tokens than the whole
  answer.
- GET /streams/<id> still takes the bare number (Last-Event-ID: 5 and
  ?last_event_id=5), takes the new form, and answers 400 to a new-form id
  naming another stream.
- A POST retry naming an unknown stream, or carrying a bare number, gets
  200 and `event: error` history_lost (OpenAI's error chunk on
  /v1/chat/completions), and no generation; a retry after the stream's last
  event gets 200 and nothing (not 204, which fetch-event-source would retry
  on).
- Idempotency-Key: a POST cut before its first event (so it has no
  Last-Event-ID) and sent again with the same key, on the other process,
  reads the first one's stream from its start: the exact answer, one
  generation; two POSTs at once with one key share one stream; another key
  is another stream."""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cutproxy import CutProxy  # noqa: E402
from harness import (CurlStream, Fixture, config, demo_text, demo_tokens, diag, is_,  # noqa: E402
                     ok, require_tools, run, scaled)
from redis_server import journal_from_env  # noqa: E402
from resume_util import Front, explain_journal_failures, json_of, meta_of  # noqa: E402

PROMPT = "a stream that survives three cuts and comes back whole"
LONG = " ".join("word%d" % i for i in range(60))
LONGER = " ".join("w%d" % i for i in range(200))   # at 10 tokens/s, longer than the test
ID_RE = re.compile(r"^([A-Za-z0-9_-]{22})\.([0-9]+)$")


def body_of(prompt, model):
    return json.dumps({"prompt": prompt, "model": model})


def ids_of(res):
    return [e.last_event_id for e in res.events]


def seq(i):
    m = ID_RE.match(i or "")
    return int(m.group(2)) if m else None


def text_of(events):
    out = []
    for e in events:
        if e.type == "message":
            out.append(json_of(e.data).get("text", "<bad>"))
    return "".join(out)


def post_lines(cs, sid):
    return [ln for ln in cs.stream_lines() if "id=%s " % sid in ln and "method=POST" in ln]


def wait_lines(css, pred, want, timeout):
    end = time.monotonic() + scaled(timeout)
    lines = []
    for _ in range(100000):
        lines = [ln for cs in css for ln in cs.stream_lines() if pred(ln)]
        if len(lines) >= want or time.monotonic() > end:
            break
        time.sleep(0.05)
    return lines


class Proxied:
    """A cutproxy in front of a Front; start() as Front.start, through it."""

    def __init__(self, fx, front, cuts, cut_after):
        self.fx = fx
        self.front = front
        self.px = CutProxy(front.lt.port, cut_after=cut_after, prefix="/chat/", cuts=cuts,
                           methods=("GET", "POST"))
        self.px.start()
        fx.on_close(self.px.stop)

    def url(self, path=""):
        return "http://127.0.0.1:%d/chat/%s" % (self.px.port, path)

    def start(self, path="", body=None, headers=(), method=None, timeout=25):
        hs = list(headers)
        if body is not None:
            hs.append("Content-Type: application/json")
        return CurlStream(self.fx, self.url(path), method=method, body=body, headers=hs,
                          timeout=timeout)


def post_retries(fx, a, b, pa, pb):
    """POST / cut three times, retried as fetch-event-source does."""
    body = body_of(LONG, "paced")
    events, sids, statuses, leis = [], [], [], []
    last = None
    targets = [pa, pb, pa, pb, pa, pb, pa, pb]
    for n, t in enumerate(targets):
        hs = ["Last-Event-ID: %s" % last] if last else []
        res = t.start(body=body, headers=hs, method="POST", timeout=30).finish(timeout=30)
        statuses.append(res.status)
        sids.append(res.header("X-Stream-Id"))
        leis.append(last)
        got = [e for e in res.events if e.last_event_id is not None]
        events += got
        if got:
            last = got[-1].last_event_id
        if any(e.type in ("done", "error") for e in res.events):
            break
    diag("POST tries: statuses %r, Last-Event-IDs %r" % (statuses, leis))
    cuts = len(pa.px.entries("cut")) + len(pb.px.entries("cut"))
    is_(cuts, 3, "the proxy cut the POST's answer three times")
    sid = sids[0]
    ok(sid and all(s == sid for s in sids),
       "every retry answered with the first POST's stream (X-Stream-Id %s)" % sid)
    ids = [e.last_event_id for e in events]
    ok(all(ID_RE.match(i or "") and ID_RE.match(i).group(1) == sid for i in ids),
       "every event id is <stream id>.<n> naming that stream")
    is_([seq(i) for i in ids], list(range(1, len(ids) + 1)),
        "the parts together: ids 1..%d, each once, in order" % len(ids))
    is_(text_of(events), demo_text(LONG), "the parts together: the exact answer, each token once")
    done = [e for e in events if e.type == "done"]
    ok(len(done) == 1 and json_of(done[0].data).get("finish_reason") == "stop",
       "one done, finish_reason stop")
    gens = wait_lines([a, b], lambda ln: "id=%s " % sid in ln and "method=POST" in ln
                      and "backend=demo" in ln, 1, 10)
    time.sleep(0.3)
    gens = [ln for cs in (a, b) for ln in cs.stream_lines()
            if "id=%s " % sid in ln and "method=POST" in ln and "backend=demo" in ln]
    is_(len(gens), 1, "one generation in the logs (one POST line with backend=demo)")
    retries = [ln for cs in (a, b) for ln in cs.stream_lines()
               if "id=%s " % sid in ln and "method=POST" in ln and "backend=-" in ln]
    ok(len(retries) == len(statuses) - 1,
       "each retry is logged as a reader of that stream (%d)" % len(retries))
    others = [ln for cs in (a, b) for ln in cs.stream_lines()
              if "method=POST" in ln and "backend=demo" in ln and "id=%s " % sid not in ln]
    is_(others, [], "no other generation started")
    return sid, len(ids)


def get_forms(fb, sid, n):
    """GET /streams/<id>: the bare number, the new form, another stream's id."""
    r = fb.curl("streams/%s" % sid, headers=["Last-Event-ID: 5"])
    is_([seq(i) for i in ids_of(r)], list(range(6, n + 1)),
        "GET with a bare Last-Event-ID: 5 (the old form): events 6..%d" % n)
    r = fb.curl("streams/%s?last_event_id=5" % sid)
    is_([seq(i) for i in ids_of(r)], list(range(6, n + 1)), "?last_event_id=5: events 6..%d" % n)
    r = fb.curl("streams/%s" % sid, headers=["Last-Event-ID: %s.7" % sid])
    is_([seq(i) for i in ids_of(r)], list(range(8, n + 1)),
        "Last-Event-ID: <stream>.7: events 8..%d" % n)
    r = fb.curl("streams/%s?last_event_id=%s.7" % (sid, sid))
    is_([seq(i) for i in ids_of(r)], list(range(8, n + 1)), "?last_event_id=<stream>.7: events 8..")
    other = "A" * 22
    r = fb.curl("streams/%s" % sid, headers=["Last-Event-ID: %s.7" % other])
    is_(r.status, 400, "a new-form Last-Event-ID naming another stream: 400")


def lost_retries(fx, a, b, fa, fb, sid, n):
    """POST retries that cannot be followed: history_lost, no generation."""
    before = len([ln for cs in (a, b) for ln in cs.stream_lines() if "backend=demo" in ln])
    for lei, what in (("QUJDREVGR0hJSktMTU5PUFFS.4", "an unknown stream"),
                      ("4", "a bare number (it names no stream)")):
        r = fa.curl(body=body_of(PROMPT, "paced"), method="POST",
                    headers=["Last-Event-ID: %s" % lei])
        sv = [(e.type, json_of(e.data).get("error", {}).get("type")) for e in r.events]
        ok(r.status == 200 and sv == [("error", "history_lost")],
           "POST retry naming %s: 200 and one event: error history_lost (%s %r)"
           % (what, r.status, sv))
    r = fb.curl("v1/chat/completions", method="POST", headers=["Last-Event-ID: %s.4" % ("Q" * 22)],
                body=json.dumps({"model": "paced", "stream": True,
                                 "messages": [{"role": "user", "content": "hi"}]}))
    datas = [json_of(e.data) for e in r.events]
    ok(r.status == 200 and len(datas) == 1
       and (datas[0].get("error") or {}).get("code") == "history_lost",
       "the same on /v1/chat/completions: OpenAI's error chunk, code history_lost (%r)" % datas)
    r = fb.curl(body=body_of(LONG, "paced"), method="POST",
                headers=["Last-Event-ID: %s.%d" % (sid, n)])
    ok(r.status == 200 and len(r.events) == 0,
       "a POST retry after the stream's last event: 200 and nothing more (status %s, %d events)"
       % (r.status, len(r.events)))
    time.sleep(0.3)
    after = len([ln for cs in (a, b) for ln in cs.stream_lines() if "backend=demo" in ln])
    is_(after, before, "none of these retries started a generation")
    lost = [ln for ln in a.stream_lines() if "detail=history_lost" in ln and "method=POST" in ln]
    is_(len(lost), 2, "A logs each lost retry: method=POST outcome=error detail=history_lost")


def accepted_flow(fx, a, fa, pa, fb):
    """202 with the shipped defaults: the reader is cut and comes back."""
    r = fa.curl(body=body_of(PROMPT, "shipped"), method="POST", headers=["Accept: application/json"])
    url = r.json().get("url") if r.status == 202 else None
    is_(r.status, 202, "202 flow: POST answered 202")
    sid = (url or "").rsplit("/", 1)[-1]
    first = pa.start("streams/%s" % sid, timeout=20).finish(timeout=20)
    ids = ids_of(first)
    ok(len(pa.px.entries("cut")) == 1 and first.stream().done is None,
       "202 flow: the reader was cut before done (%d events)" % len(ids))
    time.sleep(1.0)     # the client's retry: EventSource waits retry_ms
    hs = ["Last-Event-ID: %s" % ids[-1]] if ids else []
    rest = fb.curl("streams/%s" % sid, headers=hs, timeout=30)
    evs = [e for e in first.events if e.last_event_id] + rest.events
    is_(text_of(evs), demo_text(PROMPT), "202 flow: reconnected on the other process, the exact answer")
    is_([seq(e.last_event_id) for e in evs], list(range(1, len(evs) + 1)),
        "202 flow: every event once")
    d = rest.stream().done or {}
    is_(d.get("finish_reason"), "stop", "202 flow: finish_reason stop (not cancelled)")
    line = wait_lines([a], lambda ln: "id=%s " % sid in ln and "method=POST" in ln, 1, 10)
    ok(line and "outcome=done" in line[0], "202 flow: the producer logs outcome=done")


def leaves(fx, c, fc):
    """A client leaves without a word; one comes back within the window, then nobody."""
    total = len(demo_tokens(LONGER, max_tokens=1000))
    st = fc.start(body=body_of(LONGER, "slow"), method="POST", timeout=60)
    ok(st.read_until(lambda r: len([e for e in r.events if e.type == "message"]) >= 3, 20),
       "leave: the POST streams")
    sid = meta_of(st.res).get("id", "?")
    k = seq(ids_of(st.res)[-1]) or 0
    st.kill()
    back = fc.start("streams/%s" % sid, headers=["Last-Event-ID: %s.%d" % (sid, k)], timeout=60)
    got = back.read_until(lambda r: len([e for e in r.events if e.type == "message"]) >= 4, 20)
    evs = back.res.events
    ok(got and (back.res.stream().done is None),
       "leave: a reader back within the window finds the stream going on (%d events after %d)"
       % (len(evs), k))
    ok(evs and seq(evs[0].last_event_id) == k + 1, "leave: it resumes right after the last id")
    back.kill()
    t0 = time.monotonic()
    lines = wait_lines([c], lambda ln: "id=%s " % sid in ln and "method=POST" in ln, 1, 40)
    diag("after the last reader left: %.1f s to the producer's line" % (time.monotonic() - t0))
    line = lines[0] if lines else ""
    ok("outcome=client_gone" in line and "detail=abandoned" in line,
       "leave: nobody back -> outcome=client_gone detail=abandoned")
    order = [ln for ln in c.stream_lines() if "id=%s " % sid in ln]
    ok(len(order) >= 2 and "method=GET" in order[0] and "method=POST" in order[-1],
       "leave: the producer ended after the returning reader's own line")
    r = fc.curl("streams/%s" % sid, headers=["Last-Event-ID: %s.%d" % (sid, k)], timeout=20)
    d = r.stream().done or {}
    is_(d.get("finish_reason"), "cancelled", "leave: a late GET gets done finish_reason cancelled")
    n = (d.get("usage") or {}).get("completion_tokens")
    ok(isinstance(n, int) and 0 < n < total,
       "leave: fewer tokens were generated than the whole answer (%s of about %d)" % (n, total))


def leaving(fx, a, b, fa, fb):
    """DELETE ?leaving: a reload is back in time and the answer goes on; a closed tab is not."""
    total = len(demo_tokens(LONGER, max_tokens=1000))
    st = fa.start(body=body_of(LONGER, "slow"), method="POST", timeout=60)
    ok(st.read_until(lambda r: len([e for e in r.events if e.type == "message"]) >= 3, 20),
       "leaving: the POST streams")
    sid = meta_of(st.res).get("id", "?")
    k = seq(ids_of(st.res)[-1]) or 0
    d = fa.curl("streams/%s?leaving" % sid, method="DELETE")
    ok(d.status == 202 and (d.json() or {}).get("leaving") is True,
       "leaving: DELETE ?leaving: 202 {\"leaving\": true}")
    st.kill()
    back = fb.start("streams/%s" % sid, headers=["Last-Event-ID: %s.%d" % (sid, k)], timeout=60)
    got = back.read_until(lambda r: len([e for e in r.events if e.type == "message"]) >= 4, 20)
    ok(got and back.res.stream().done is None,
       "leaving: a reader back in time (a reload, on the other process) finds it going on")
    k = seq(ids_of(back.res)[-1]) or k
    d = fb.curl("streams/%s?leaving" % sid, method="DELETE")
    is_(d.status, 202, "leaving: that reader says it leaves too: 202")
    back.kill()
    lines = wait_lines([a], lambda ln: "id=%s " % sid in ln and "method=POST" in ln, 1, 40)
    line = lines[0] if lines else ""
    ok("outcome=cancelled" in line and "detail=left" in line,
       "leaving: nobody back -> outcome=cancelled detail=left, at the end of leave_window "
       "(not client_gone detail=abandoned, the reconnect window's)")
    gets = [ln for ln in b.stream_lines() if "id=%s " % sid in ln and "method=GET" in ln]
    ok(gets and "method=GET" in gets[0],
       "leaving: the returning reader was served by the other process (its GET is in b's log)")
    r = fb.curl("streams/%s" % sid, headers=["Last-Event-ID: %s.%d" % (sid, k)], timeout=20)
    dn = r.stream().done or {}
    n = (dn.get("usage") or {}).get("completion_tokens")
    ok(dn.get("finish_reason") == "cancelled" and isinstance(n, int) and 0 < n < total,
       "leaving: a late GET gets done cancelled, fewer tokens than the whole answer (%s of "
       "about %d)" % (n, total))


def delete_now(fx, c, fc):
    r = fc.curl(body=body_of(LONGER, "slow"), method="POST", headers=["Accept: application/json"])
    sid = (r.json() or {}).get("id", "?") if r.status == 202 else "?"
    d = fc.curl("streams/%s" % sid, method="DELETE")
    is_(d.status, 202, "DELETE within the window: 202")
    lines = wait_lines([c], lambda ln: "id=%s " % sid in ln and "method=POST" in ln, 1, 10)
    ok(lines and "outcome=cancelled" in lines[0] and "abandoned" not in lines[0],
       "DELETE stops the stream at once: outcome=cancelled, not abandoned at the window's end")


def keyed(fx, a, b, fa, fb, pa):
    """Idempotency-Key: a POST cut before its first event, retried with the
    same key, reads the stream the first made; two at once make one."""
    body = body_of(LONG, "paced")
    key = "Idempotency-Key: \"k-%d\"" % os.getpid()
    before = set(ln for cs in (a, b) for ln in cs.stream_lines() if "backend=demo" in ln)
    first = pa.start(body=body, method="POST", headers=[key], timeout=30).finish(timeout=30)
    ok(len(pa.px.entries("cut")) == 1 and not first.events,
       "key: the first POST was cut before its first event (%d events)" % len(first.events))
    again = fb.curl(body=body, method="POST", headers=[key], timeout=30)
    sv = again.stream()
    is_(sv.text, demo_text(LONG), "key: the retry with the same key gets the exact answer")
    ok(sv.ids_consecutive() and (sv.done or {}).get("finish_reason") == "stop",
       "key: from its first event (ids 1..%d), to done" % len(sv.ids))
    sid = (sv.meta or {}).get("id")
    wait_lines([a, b], lambda ln: "id=%s " % sid in ln and "backend=demo" in ln, 1, 10)
    time.sleep(0.3)
    gens = [ln for cs in (a, b) for ln in cs.stream_lines()
            if "backend=demo" in ln and ln not in before]
    ok(len(gens) == 1 and "id=%s " % sid in gens[0] and gens[0] in a.stream_lines(),
       "key: one generation, the first POST's, on A (%d new)" % len(gens))
    # two at once, on A and on B, with a fresh key
    key2 = "Idempotency-Key: k2-%d" % os.getpid()
    before = len([ln for cs in (a, b) for ln in cs.stream_lines() if "backend=demo" in ln])
    s1 = fa.start(body=body, method="POST", headers=[key2], timeout=30)
    s2 = fb.start(body=body, method="POST", headers=[key2], timeout=30)
    r1, r2 = s1.finish(timeout=30), s2.finish(timeout=30)
    ok(r1.stream().text == demo_text(LONG) and r2.stream().text == demo_text(LONG),
       "key: two POSTs at once with one key both get the exact answer")
    is_(r1.header("X-Stream-Id"), r2.header("X-Stream-Id"), "key: ... from one stream")
    time.sleep(0.5)
    after = len([ln for cs in (a, b) for ln in cs.stream_lines() if "backend=demo" in ln])
    is_(after - before, 1, "key: ... made by one generation")
    r3 = fa.curl(body=body, method="POST", headers=["Idempotency-Key: other-%d" % os.getpid()])
    ok(r3.header("X-Stream-Id") not in (None, r1.header("X-Stream-Id")),
       "key: another key is another stream")


def own_window(fx, a, fa):
    """A model's own reconnect_window (0) wins over the global one (14 s)."""
    st = fa.start(body=body_of(LONGER, "dear"), method="POST", timeout=60)
    ok(st.read_until(lambda r: len([e for e in r.events if e.type == "message"]) >= 2, 20),
       "own window: the POST streams")
    sid = meta_of(st.res).get("id", "?")
    st.kill()
    lines = wait_lines([a], lambda ln: "id=%s " % sid in ln and "method=POST" in ln, 1, 40)
    line = lines[0] if lines else ""
    m = re.search(r" events=(\d+)", line)
    ok("outcome=client_gone detail=abandoned" in line and m and int(m.group(1)) < 100,
       "own window: the model's reconnect_window = 0 ended it when its client left, long "
       "before the 100 tokens the global window would have let it make (%s events)"
       % (m.group(1) if m else "?"))


def main():
    require_tools()
    fx = Fixture("resume-window")
    journal_from_env(fx)
    models = {
        "paced": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 40},
        # the shipped model section's policy
        "shipped": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 10,
                    "on_disconnect": "cancel", "grace": 30},
        "slow": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 10, "max_tokens": 1000},
        # its own window: 0, where the global one would outlast its answer
        "dear": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 10, "max_tokens": 100,
                 "reconnect_window": 0},
    }
    # retry_ms as shipped: the window is derived from it (14 s)
    text = config({"heartbeat": 2, "threads": 8, "spool_dir": fx.path("spool"),
                   "retry_ms": 3000, "reconnect_window": None,
                   "leave_window": max(5, int(scaled(5)))}, models)
    a = fx.start_chatstream(text, name="a")
    b = fx.start_chatstream(text, name="b")
    c = fx.start_chatstream(config({"heartbeat": 2, "threads": 8, "spool_dir": fx.path("spool"),
                                    "reconnect_window": int(scaled(4))}, models), name="c")
    fa, fb, fc = Front(fx, a, "lighttpd-a"), Front(fx, b, "lighttpd-b"), Front(fx, c, "lighttpd-c")
    try:
        pa = Proxied(fx, fa, 2, (700, 1800))
        pb = Proxied(fx, fb, 1, (1200,))
        sid, n = post_retries(fx, a, b, pa, pb)
        get_forms(fb, sid, n)
        lost_retries(fx, a, b, fa, fb, sid, n)
        pa2 = Proxied(fx, fa, 1, (600,))
        accepted_flow(fx, a, fa, pa2, fb)
        pa3 = Proxied(fx, fa, 1, (100,))
        keyed(fx, a, b, fa, fb, pa3)
        own_window(fx, a, fa)
        leaves(fx, c, fc)
        delete_now(fx, c, fc)
        leaving(fx, a, b, fa, fb)
    finally:
        explain_journal_failures(fx.chatstreams)


if __name__ == "__main__":
    run(main)
