# SPDX-License-Identifier: ISC
"""frontcheck.py: the checks every deployment test (tests/t_front_*.py) runs
through its real front server, so each setup is held to the same contract:

  routes       /health and / under the mount, an unknown path 404, and the
               FastCGI/CGI params chatstream saw (its debug log);
  too large    a body over max_body gets chatstream's own 413, not the front
               server's;
  unbuffered   a held stream: the model says its first token, then waits
               until the test has read that token through the front server
               (the test then releases it) before it says the rest; a
               buffering setup keeps the first token from the test while the
               model waits (the test gives up after a bound, and fails);
  heartbeat    a 5 s stall in the demo model, longer than the server's idle
               timeout (set to 2 s by the test), survives thanks to 1 s
               heartbeats (more of them between the tokens around the stall
               than the timeout has seconds): the stream ends with done;  and, as a control, the
               same stall from a chatstream with a 30 s heartbeat is cut by
               that timeout;
  abort        curl killed while the exec backend is silent: chatstream logs
               outcome=client_gone and the command's process is gone;
               how long the setup took to notice is reported (a front
               server that notices only when it writes to the client
               notices at the next heartbeat);
  big          one 64 KiB event, and a 10,000-event stream, exact;
  concurrent   50 held streams at once, all complete and exact, none waiting
               for another to end: each holds after its first token until
               all 50 first tokens have arrived, so all 50 were open at once.

The checks assert order (what the client had seen when the model did
something), not how long things took, so a loaded machine does not fail them.
The bounds on waiting (curl --max-time, log polling, how long a held model
waits) only keep a broken setup from hanging; harness.scaled() stretches them
(TEST_TIME_SCALE).  The one lower bound left (a front server's idle timeout
did not fire before it was due) cannot be broken by a slow machine.

Limits: one curl process per stream (50 at once in `concurrent`); reads are
select()-driven and bounded in count and time.
"""

import json
import os
import re
import select
import stat
import threading
import time
from datetime import datetime, timezone

from harness import (CurlStream, Held, _alive, check_stream, config, demo_text,  # noqa: F401
                     demo_tokens, diag, is_, like, ok, read_pid, scaled, wait_gone, wait_text)

PACED_TPS = 10
HEARTBEAT = 1
STALL_AFTER = 2
STALL = 5
SERVER_TIMEOUT = 2          # the front server's idle timeout in the tests' configs
UNBUF_PROMPT = "please count these thirteen words slowly so that the stream takes time"
JSON_CT = "Content-Type: application/json"

QUIET_SCRIPT = r"""#!/bin/sh
# A model that answers three tokens, then thinks silently (until killed).
# The prompt is a tag naming the pid file, so a test finds this process.
IFS= read -r tag || true
case "$tag" in ''|*[!A-Za-z0-9_-]*) echo "bad tag" >&2; exit 2;; esac
echo $$ > "%(dir)s/$tag.pid"
printf 'one '; sleep 0.1; printf 'two '; sleep 0.1; printf 'three '
exec sleep 30
"""


def write_quiet_script(fx, name="quiet.sh", spool_owner=None):
    """The exec backend's command for `abort`, and the (world-writable) dir
    where it leaves its pid; returns (script path, pid dir).  Also makes the
    spool dir front_config() gives chatstream, next to it: mode 0700 and
    owned by spool_owner ((uid, gid) of the user chatstream runs as; None:
    this one), as chatstream requires."""
    piddir = fx.path("pids")
    os.makedirs(piddir, exist_ok=True)
    os.chmod(piddir, 0o777)
    spool = fx.path("spool")
    os.makedirs(spool, mode=0o700, exist_ok=True)
    os.chmod(spool, 0o700)
    if spool_owner:
        os.chown(spool, *spool_owner)
    p = fx.path(name)
    with open(p, "w") as f:
        f.write(QUIET_SCRIPT % {"dir": piddir})
    os.chmod(p, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    Held(fx, piddir, "gate.sh")
    return p, piddir


GATE_WAIT = 120             # how long the test waits for first tokens, at most (scaled)


def held(fx):
    """The held model (harness.Held) front_config() names "gate"."""
    return Held(fx, fx.path("pids"), "gate.sh")


def front_config(script, threads=60, heartbeat=HEARTBEAT, globals_=None):
    """chatstream's config for the front tests: paced, stall, bulk and quiet
    (exec: script) models; debug on (the log shows the params received);
    the stream journal in the temp dir (spool/ next to script), so nothing
    is left behind in /tmp, whichever user chatstream runs as.
    The gate model is the held model (harness.Held: gate.sh next to script).
    The quiet model (the abort check) says on_disconnect = cancel, the
    default, explicitly: with `continue` the model would go on for a reader
    who may come back, by design."""
    g = {"threads": threads, "heartbeat": heartbeat, "debug": True,
         "default_model": "paced", "shutdown_grace": 1,
         "spool_dir": os.path.join(os.path.dirname(script), "spool")}
    g.update(globals_ or {})
    quiet = {"backend": "exec", "command": script, "kill_grace_ms": 500,
             "on_disconnect": "cancel"}
    return config(g, {
        "paced": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": PACED_TPS},
        "stall": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 0,
                  "stall_after": STALL_AFTER, "stall_seconds": STALL},
        "bulk": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 0, "max_tokens": 20000},
        "gate": dict(Held.limits(), backend="exec", kill_grace_ms=500,   # harness.Held
                     command=os.path.join(os.path.dirname(script), "gate.sh")),
        "quiet": quiet,
    })


class TimedCurl(CurlStream):
    """A CurlStream that also records when its output ended (eof_time)."""

    def __init__(self, *a, **kw):
        CurlStream.__init__(self, *a, **kw)
        self.eof_time = None

    def read(self, timeout=1.0):
        was = self.eof
        d = CurlStream.read(self, timeout)
        if d == b"" and not was and self.eof_time is None:
            self.eof_time = time.monotonic()
        return d


def read_in_background(cst, on_first=None):
    """Reads cst in a thread of its own (so its arrival times are real while
    the test does other things) until EOF or curl's --max-time; join_reader()
    before finish().  on_first(res) is called after each read until it
    returns true."""
    def loop():
        pending = on_first
        for _ in range(100000):
            if cst.eof or time.monotonic() > cst.deadline:
                break
            cst.read(0.2)
            if pending is not None and pending(cst.res):
                pending = None
    t = threading.Thread(target=loop, daemon=True)
    cst.reader = t
    t.start()
    return cst


def join_reader(cst):
    t = getattr(cst, "reader", None)
    if t is not None:
        t.join(max(0.0, cst.deadline - time.monotonic()) + 1)
        cst.reader = None


def post(fx, url, payload, headers=(), timeout=30):
    """Starts curl POSTing payload (dict, as JSON) to url; a TimedCurl."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return TimedCurl(fx, url, body=body, headers=[JSON_CT] + list(headers), timeout=timeout)


def get(fx, url, timeout=10):
    return TimedCurl(fx, url, timeout=timeout).finish()


# ---------------------------------------------------------------------------

def check_routes(fx, url, label, read_log, path_info=True):
    """GET /health, GET / (405, a stream needs POST), GET /nope and /x/health
    (404), GET /streams/<id> (chatstream's JSON 404) under the mount; with
    path_info, chatstream's debug log shows PATH_INFO=/health for the health
    request.  Returns the debug line of the health request."""
    r = get(fx, url("health"))
    is_(r.status, 200, label + ": GET /health answers 200")
    is_((r.json() or {}).get("status"), "ok", label + ": /health says ok")
    r = get(fx, url(""))
    is_(r.status, 405, label + ": GET on the mount is 405 (a stream wants POST)")
    r = get(fx, url("nope"))
    is_(r.status, 404, label + ": an unknown path under the mount is 404")
    r = get(fx, url("x/health"))
    is_(r.status, 404, label + ": /x/health is not /health")
    r = get(fx, url("streams/AAAAAAAAAAAAAAAAAAAAAA"))
    is_((r.status, ((r.json() or {}).get("error") or {}).get("type")), (404, "not_found"),
        label + ": GET /streams/<unknown id> reaches chatstream (its JSON 404)")
    line = wait_text(read_log, r"debug: request: method=GET path_info=\S+ script_name=\S+ "
                     r"request_uri=\S*/health$", timeout=3)
    ok(line is not None, label + ": chatstream logged the params of GET /health")
    if line:
        diag(label + ": " + line.split("debug: ", 1)[-1])
        if path_info:
            like(line, r" path_info=/health ", label + ": PATH_INFO is /health")
    return line


def check_too_large(fx, url, label):
    """A body of 1 MiB + 1 (chatstream's max_body is 1 MiB) gets chatstream's
    own 413 JSON error, not the front server's limit."""
    r = TimedCurl(fx, url(""), body=b"x" * (1048576 + 1),
                  headers=["Content-Type: text/plain"], timeout=20).finish()
    is_((r.status, ((r.json() or {}).get("error") or {}).get("type")),
        (413, "payload_too_large"),
        label + ": a body over max_body gets chatstream's 413 payload_too_large")


def check_unbuffered(fx, url, label, gzip=False):
    """A held stream: the client reads the model's first token while the model
    is still waiting (the test releases it only once it has that token, or
    after GATE_WAIT, failing).  A front server that buffers the response
    keeps that token from the client until the model has ended.
    gzip: the client offers gzip (the front server is configured to compress
    what it can), and the stream must still come uncompressed and
    incremental."""
    h = held(fx)
    tag = Held.tag("unbuf")
    hs = ["Accept-Encoding: gzip"] if gzip else []
    cst = post(fx, url(""), {"prompt": h.prompt(tag, "u"), "model": "gate"}, headers=hs,
               timeout=Held.HOLD_S + 30)
    seen = cst.read_until(Held.first, GATE_WAIT)
    ended = cst.eof
    h.release(tag)               # now, whatever happened: `seen` is the proof
    r = cst.finish()
    check_stream(r, Held.text("u"), "stop", model="gate", label=label, completion_tokens=False)
    is_((r.header("Content-Type") or "").lower(), "text/event-stream; charset=utf-8",
        label + ": Content-Type text/event-stream")
    if gzip:
        is_(r.header("Content-Encoding"), None,
            label + ": no Content-Encoding although the client accepts gzip")
    ok(seen and not ended,
       label + ": the first token reached the client while the model was still running "
       "(it is held until the test has read that token)")
    return r


def start_held(fx, url, burst=True):
    """Starts the held stream of check_unbuffered, read in the background (the
    reader releases the model when the first token arrives); for check_burst.
    burst: the setup is expected to buffer, so the model holds only a few
    seconds (it will not be released)."""
    h = held(fx)
    tag = Held.tag("held")
    hold = 3 if burst else None
    cst = post(fx, url(""), {"prompt": h.prompt(tag, "h", hold), "model": "gate"},
               timeout=(3 if burst else Held.HOLD_S) + 30)
    cst.gate = tag
    return read_in_background(cst, lambda res: Held.first(res) and h.release(tag))


def check_burst(cst, label, burst=True):
    """The control for check_unbuffered (a start_held() stream): a setup
    without its buffering line delivers nothing until the model has ended, so
    the model was never released (burst=False: it still streams, and the
    model was released)."""
    join_reader(cst)
    r = cst.finish()
    sv = r.stream()
    ok(sv.done is not None and sv.text in (Held.text("h", True), Held.text("h", False)),
       label + ": the stream is complete")
    if burst:
        is_(sv.text, Held.text("h", released=False),
            label + ": ... and nothing reached the client before the model had ended "
            "(it was never released)")
    else:
        is_(sv.text, Held.text("h", released=True),
            label + ": ... and the first token reached the client while the model ran "
            "(it was released)")
    tev = sv.token_events
    if tev:
        diag("%s: %d tokens arrived within %.2f s" % (label, len(tev), tev[-1].time - tev[0].time))
    return r


def start_stall(fx, url):
    """Starts a stream that stalls STALL s after STALL_AFTER tokens, read in
    the background."""
    return read_in_background(post(fx, url(""), {"prompt": "wait for it", "model": "stall"},
                                   timeout=30))


def check_stall_survives(cst, label, server_timeout=SERVER_TIMEOUT):
    """The stream completed with done although the model stalled for longer
    than the front server's idle timeout: heartbeats (one a second, by
    chatstream's clock) reached the client between the two tokens around the
    stall, more of them than the timeout has seconds.  (That the same stall
    is cut without heartbeats is the control, check_stall_cut.)"""
    join_reader(cst)
    r = cst.finish()
    P = "wait for it"
    check_stream(r, demo_text(P), "stop", model="stall", label=label,
                 completion_tokens=len(demo_tokens(P)))
    ev = r.events
    if len(ev) < 4:
        ok(False, label + ": enough events to find the stall")
        return r
    k = STALL_AFTER              # ev[0] is meta: ev[k] is the last token before the stall
    gap = ev[k + 1].time - ev[k].time
    during = [c for c in r.sse.comments if c.after_events == k + 1]
    ts = [ev[k].time] + [c.time for c in during] + [ev[k + 1].time]
    silence = max(b - a for a, b in zip(ts, ts[1:]))
    diag("%s: stall of %.2f s between events %s and %s, %d heartbeats in it, longest silence "
         "%.2f s; the server's idle timeout is %s s" % (label, gap, ev[k].id, ev[k + 1].id,
                                                        len(during), silence, server_timeout))
    ok(len(during) > server_timeout // HEARTBEAT,
       label + ": %d heartbeats reached the client between the tokens around the stall "
       "(more than the %d a second that fit in the server's %s s idle timeout)"
       % (len(during), server_timeout // HEARTBEAT, server_timeout))
    return r


def check_stall_cut(cst, label, read_log, server_timeout=SERVER_TIMEOUT):
    """The control: chatstream without (timely) heartbeats.  The front
    server's idle timeout ends the stream during the stall: the client gets no
    done, and chatstream sees its connection closed (client_gone) about
    server_timeout into the stall.  That the cut came during the stall, not
    after it, is order: the tokens after the stall come at once and end the
    stream with done, so a stream without done that got only the tokens
    before the stall was cut in it.  (When the client itself sees
    the end differs: Apache's mod_proxy_fcgi, for one, leaves the client
    connection open until KeepAliveTimeout.)  read_log None: chatstream's log
    line is lost in this setup; the client's end is checked instead.  The one
    duration checked is a lower bound (the cut came no earlier than the
    server's timeout), which a slow machine cannot break."""
    join_reader(cst)
    r = cst.finish()
    sv = r.stream()
    ok(sv.done is None and sv.error is None,
       label + ": without heartbeats the stream was cut (no done, no error event)")
    is_(len(sv.texts), STALL_AFTER, label + ": the tokens before the stall arrived, "
        "and none after it")
    seen = "%.2f s after the last event" % (cst.eof_time - r.events[-1].time) \
        if cst.eof_time and r.events else None
    if read_log is None:
        diag("%s: the client saw the end %s (status %s, curl rc %s)"
             % (label, seen, r.status, r.returncode))
        cut = cst.eof_time - r.events[-1].time if seen else -1
        ok(cut >= server_timeout - 0.5,
           label + ": the client saw the end %.2f s after the last event, not before the "
           "server's %s s idle timeout" % (cut, server_timeout))
        return r
    sid = (sv.meta or {}).get("id") or "?"
    line = wait_text(read_log, r"stream: id=%s .*outcome=" % re.escape(sid), timeout=3)
    m = re.search(r" events=(\d+) .* duration_ms=(\d+) outcome=(\w+)", line or "")
    if m:
        dur = int(m.group(2)) / 1000.0
        diag("%s: chatstream: outcome=%s after %.2f s, %s events; the client saw the end %s"
             % (label, m.group(3), dur, m.group(1), seen))
        is_(m.group(3), "client_gone", label + ": chatstream saw the front server hang up")
        ok(dur >= server_timeout - 0.5,
           label + ": ... not before the server's %s s idle timeout (%.2f s)"
           % (server_timeout, dur))
    else:
        ok(False, label + ": chatstream logged the end of the stream (%r)" % line)
        ok(False, label + ": ... at the server's idle timeout")
    return r


def log_time(line):
    """The wall-clock time (epoch seconds) at the start of a chatstream log line
    (text format), or None; Apache's mod_cgi prefix before it is skipped."""
    m = re.search(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z chatstream\[", line or "")
    if not m:
        return None
    return datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=timezone.utc).timestamp()


def check_abort(fx, url, label, read_log, piddir, tag, log_lost=None):
    """curl is killed while the exec backend is silent (after three tokens):
    chatstream logs outcome=client_gone and the command's process is gone
    (chatstream killed it: it runs in a process group of its own, which no
    front server signals).  log_lost: the reason the setup loses chatstream's
    last log line; that check is then left out (said in a diag line, not a
    TAP skip: the suite counts a skip as a failure).  Returns the seconds from the
    kill until chatstream logged the end (or, with log_lost, until the
    command was gone), or None."""
    cst = post(fx, url(""), {"prompt": tag, "model": "quiet"})
    got = cst.read_until(lambda r: "three" in r.stream().text, 10)
    ok(got, label + ": the exec backend's first tokens arrived")
    pid = read_pid(os.path.join(piddir, tag + ".pid"))
    ok(pid is not None and _alive(pid), label + ": the backend command runs (pid %s)" % pid)
    meta = next((e for e in cst.res.events if e.type == "meta"), None)
    sid = json.loads(meta.data).get("id") if meta else None
    time.sleep(0.3)              # the command is now silent
    t_kill = time.time()
    cst.kill()
    noticed = None
    if log_lost:
        gone = pid is not None and wait_gone(pid, 10)
        if gone:
            noticed = time.time() - t_kill
        diag("%s: chatstream's log line is not checked: %s" % (label, log_lost))
    else:
        line = wait_text(read_log, r"stream: id=%s .*outcome=" % re.escape(sid or "?"),
                         timeout=10)
        ok(line is not None and re.search(r" outcome=client_gone(\s|$)", line),
           label + ": chatstream logged outcome=client_gone")
        if line:
            diag(label + ": " + line[line.find("stream: "):])
            t = log_time(line)
            if t is not None:
                noticed = t - t_kill
        gone = pid is not None and wait_gone(pid, 5)
    ok(gone, label + ": the backend command's process is gone")
    if noticed is not None:
        diag("%s: %s %.2f s after curl was killed (heartbeat %d s)"
             % (label, "the backend command was gone" if log_lost else
                "chatstream logged the client's leaving", noticed, HEARTBEAT))
    return noticed


BIG_UNIT = "0123456789abcdef-\u00e9\u65e5\U0001f389|"


def check_big(fx, url, label):
    """One 64 KiB event; then a 10,000-event stream; both exact."""
    P = ""
    i = 0
    while len(P.encode("utf-8")) < 65536:
        P += "%05d" % i + BIG_UNIT
        i += 1
    r = post(fx, url(""), {"prompt": P, "model": "bulk"}, timeout=30).finish()
    sv = check_stream(r, demo_text(P), "stop", model="bulk", label=label + ": 64 KiB event")
    big = [t for t in sv.texts if len(t.encode("utf-8")) >= 65536]
    is_(big, [" " + P], label + ": the 64 KiB token arrived as one event, exact")

    P2 = " ".join("w%d" % n for n in range(10000))
    toks = demo_tokens(P2, max_tokens=10000)
    t0 = time.monotonic()
    r = post(fx, url(""), {"prompt": P2, "model": "bulk", "max_tokens": 10000},
             timeout=60).finish()
    sv = check_stream(r, "".join(toks), "length", model="bulk", completion_tokens=10000,
                      label=label + ": 10,000 events")
    is_(len(sv.token_events), 10000, label + ": 10,000 token events")
    is_(sv.ids[-1:], ["%s.10002" % (sv.meta or {}).get("id")], label + ": ids run 1..10002")
    diag("%s: 10,000-event stream in %.2f s" % (label, time.monotonic() - t0))


def check_concurrent(fx, url, label, n=50, timeout=None):
    """n held streams started at once all complete, exact; and none of them
    waited for another to end.  Each model says its first token and then
    holds; the test releases them all only once every one of the n first
    tokens has arrived.  So all n were open at once, whatever the machine's
    speed; a setup that served fewer than n at a time would hold the rest
    back until a stream ended, and no stream can end before the release: the
    test then releases after GATE_WAIT and counts how many had started."""
    h = held(fx)
    tag = Held.tag("conc")
    names = ["s%d" % i for i in range(n)]
    if timeout is None:
        timeout = Held.HOLD_S + 60
    streams = [post(fx, url(""), {"prompt": h.prompt(tag, nm), "model": "gate"},
                    timeout=timeout) for nm in names]
    first = {}                   # stream index -> arrival time of its first token
    ended = {}                   # stream index -> arrival time of its EOF

    def pump(until):
        live = [s for s in streams if not s.eof]
        if not live:
            return
        r, _, _ = select.select([s.fd for s in live], [], [], 0.5)
        for i, s in enumerate(streams):
            if s.eof or s.fd not in r:
                continue
            s.read(0)
            if i not in first and Held.first(s.res):
                first[i] = time.monotonic()
            if s.eof:
                ended[i] = time.monotonic()

    end = time.monotonic() + scaled(GATE_WAIT)
    for _ in range(1000000):
        if len(first) == n or len(ended) == n or time.monotonic() > end:
            break
        pump(end)
    opened = len(first)
    ended_before = len(ended)
    h.release(tag)
    end = time.monotonic() + scaled(timeout) + 5
    for _ in range(1000000):
        if all(s.eof for s in streams) or time.monotonic() > end:
            break
        pump(end)
    res = [s.finish(timeout=5) for s in streams]
    bad = []
    for i, (nm, r) in enumerate(zip(names, res)):
        sv = r.stream()
        why = None
        if r.status != 200:
            why = "status %s" % r.status
        elif sv.done is None:
            why = "no done (%s)" % (sv.error or "cut")
        elif sv.text != Held.text(nm):
            why = "text differs (%r)" % sv.text
        elif not sv.ids_consecutive():
            why = "ids not consecutive"
        elif r.returncode != 0:
            why = "curl rc %s" % r.returncode
        if why:
            bad.append((i, why))
    ok(not bad, label + ": all %d streams completed with done, exact text and ids (%d bad)"
       % (n, len(bad)))
    for i, why in bad[:5]:
        diag("%s: stream %d: %s: %r" % (label, i, why, res[i].body[:200]))
    spans = [(r.events[0].time, r.events[-1].time) for r in res if r.events]
    most = max([sum(1 for a, b in spans if a <= t <= b) for t, _ in spans] or [0])
    if spans:
        t0 = min(r.started for r in res)
        diag("%s: curls started over %.2f s; %d first tokens in by +%.2f s, then released; "
             "streams ended from +%.2f to +%.2f s; at most %d open at once"
             % (label, max(r.started for r in res) - t0, opened,
                max(first.values() or [t0]) - t0, min(b for _, b in spans) - t0,
                max(b for _, b in spans) - t0, most))
    ok(opened == n and ended_before == 0,
       label + ": no stream waited for another to end: all %d had their first token before "
       "any was let finish (%d had it, %d had ended)" % (n, opened, ended_before))
    return res
