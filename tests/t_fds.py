#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_fds.py: the fds chatstream's streams need, against RLIMIT_NOFILE.

- --check-config with `threads = 100` under a hard fd limit of 64
  (prlimit): exits 1 and says how many fds the threads need, the hard
  limit, how many streams it serves, and what to raise (LimitNOFILE=).
  Under soft 64 / hard 4096 it is OK.
- Started under soft 64 / hard 4096 with threads = 100: the soft limit is
  raised to what they need (/proc/PID/limits), /health says capacity 100,
  a stream runs to done.
- Started under 64 / 64 with threads = 100: a warning says so, and it
  serves the streams the limit allows (/health capacity), not 100.
- A stream costs one fd while it waits (its connection): with the soft
  limit lowered on the running process so that 3 streams + 1 fds are free,
  three streams held at once all get a `resume` URL (the journal is not
  kept open).
- A journal that cannot be created (one fd free: the connection takes it)
  is visible: the stream still runs to done
  but its meta event has no `resume`; one warning line names the stream
  and the reason (Too many open files); a POST asking for 202 gets 503
  with Retry-After instead; a resume (GET /streams/<id>) out of fds is 503
  with Retry-After, not 404.  With the limit back, streams are resumable.
- Out of fds at accept: with 2 fds free and 12 streams asked at once, every
  client gets its stream to done or a 503 JSON error with Retry-After (none
  is left waiting or dropped), the log has a few `accept:` lines, not one
  per failed accept, and with the limit back a stream runs to done.
- A 503 does not hold the thread that sent it: with the one stream thread
  busy, a client that got its 503 and keeps writing to the connection does
  not stop the next client from getting its own 503 while it does."""

import json
import os
import re
import resource
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import fcgi  # noqa: E402
import sse  # noqa: E402
from harness import (CHATSTREAM, Fixture, config, diag, fcgi_params, is_, like,  # noqa: E402
                     ok, require_tools, run, _popen)

PROMPT = "one two three four five six"


def chat_body(model="demo"):
    return json.dumps({"prompt": PROMPT, "model": model}).encode()


def post(sock, model="demo", extra=(), timeout=20):
    body = chat_body(model)
    return fcgi.request(sock, fcgi_params("POST", "", "application/json", len(body),
                                          extra=extra), body, timeout=timeout)


def events_of(body):
    return sse.parse_all(body).events


def meta_of(body):
    for e in events_of(body):
        if e.type == "meta":
            return json.loads(e.data)
    return {}


def header(headers, name):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def limit_leaving(pid, k):
    """The RLIMIT_NOFILE that leaves pid exactly k free fd numbers (a new fd
    takes the lowest free number, and fails when that is not below the limit)."""
    taken = set(int(x) for x in os.listdir("/proc/%d/fd" % pid))
    free = 0
    for i in range(1 << 20):
        if i not in taken:
            free += 1
            if free == k + 1:
                return i
    return None


def soft_nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        for ln in f:
            if ln.startswith("Max open files"):
                return int(ln.split()[3])
    return None


def check_config(fx, conf, limit):
    return subprocess.run(["prlimit", "--nofile=%s" % limit, "--", CHATSTREAM, "-c", conf,
                           "--check-config"], capture_output=True, text=True, timeout=20)


class Direct:
    """chatstream -s SOCK under `prlimit --nofile=LIMIT` (prlimit execs it: same pid)."""

    def __init__(self, fx, name, text, limit):
        self.sock = fx.path(name + ".sock")
        self.log = fx.path(name + ".log")
        conf = fx.write_config(text, name + ".conf")
        self._logf = open(self.log, "ab")
        self.proc = _popen(["prlimit", "--nofile=%s" % limit, "--", CHATSTREAM, "-c", conf,
                            "-s", self.sock], cwd=fx.tmp, stdin=subprocess.DEVNULL,
                           stdout=self._logf, stderr=self._logf)
        fx._procs.append(self.proc)
        self.pid = self.proc.pid

    def ready(self):
        end = time.monotonic() + 10
        while time.monotonic() < end and self.proc.poll() is None:
            try:
                st, _, body, _ = fcgi.request(self.sock, fcgi_params("GET", "health"), b"",
                                              timeout=2)
                if st == 200:
                    return json.loads(body)
            except (OSError, fcgi.FcgiError):
                pass
            time.sleep(0.05)
        return None

    def log_text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")


def budget_tests(fx):
    conf = fx.write_config(config({"threads": 100, "journal": "file",
                                   "spool_dir": fx.path("spool")}), "t100.conf")
    r = check_config(fx, conf, "64:64")
    is_(r.returncode, 1, "--check-config, threads = 100, hard limit 64: exits 1")
    like(r.stderr, r"threads = 100 needs ~\d+ fds, RLIMIT_NOFILE hard limit is 64: "
         r"serve at most \d+, or raise the limit \(LimitNOFILE=",
         "--check-config says what is needed, the limit, what it serves, what to raise")
    r = check_config(fx, conf, "64:4096")
    is_(r.returncode, 0, "--check-config under soft 64, hard 4096: OK (%s)" % r.stdout.strip())

    text = config({"threads": 100, "journal": "file", "spool_dir": fx.path("spool")})
    cs = Direct(fx, "raised", text, "64:4096")
    health = cs.ready()
    ok(health is not None, "soft 64, hard 4096, threads = 100: it starts")
    if health is None:
        diag(cs.log_text()[-2000:])
        return
    is_(health.get("capacity"), 100, "/health: capacity 100")
    m = re.search(r"fds: ~(\d+) for 100 streams; RLIMIT_NOFILE (\d+)", cs.log_text())
    ok(m is not None, "the start-up line says the fds it needs and its limit")
    soft = soft_nofile(cs.pid)
    ok(m is not None and soft is not None and soft >= int(m.group(1)) > 64,
       "the soft limit was raised to what 100 streams need (%s, need %s)"
       % (soft, m.group(1) if m else "?"))
    st, _, body, _ = post(cs.sock)
    ev = events_of(body)
    ok(st == 200 and ev and ev[-1].type == "done", "and a stream runs to done")

    cs = Direct(fx, "capped", text, "64:64")
    health = cs.ready()
    ok(health is not None, "hard limit 64, threads = 100: it starts anyway")
    if health is None:
        diag(cs.log_text()[-2000:])
        return
    m = re.search(r"warn: threads = 100 needs ~\d+ fds, RLIMIT_NOFILE hard limit is 64: "
                  r"serve at most (\d+).*; serving (\d+) streams", cs.log_text())
    ok(m is not None, "a warning says the 100 threads cannot be served, and what is")
    n = int(m.group(1)) if m else -1
    ok(0 < n < 100 and health.get("capacity") == n,
       "/health capacity is what the limit serves (%s of 100)" % health.get("capacity"))
    st, _, body, _ = post(cs.sock)
    ev = events_of(body)
    ok(st == 200 and ev and ev[-1].type == "done", "a stream runs to done")


def journal_tests(fx):
    text = config({"threads": 8, "journal": "file", "spool_dir": fx.path("spool2"),
                   "journal_ttl": 3600},
                  {"slow": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 4}})
    cs = fx.start_chatstream(text, "emfile")
    _, hard = resource.prlimit(cs.pid, resource.RLIMIT_NOFILE)

    # Three streams held at once with 3 + 1 fds free: one fd each.
    base = open_fds(cs.pid)
    resource.prlimit(cs.pid, resource.RLIMIT_NOFILE, (limit_leaving(cs.pid, 4), hard))
    results = [None] * 3

    def one(i):
        try:
            results[i] = post(cs.sock, "slow")
        except (OSError, fcgi.FcgiError) as e:
            results[i] = e
    ts = []
    for i in range(3):
        t = threading.Thread(target=one, args=(i,))
        t.start()
        ts.append(t)
        time.sleep(0.3)
    for t in ts:
        t.join(30)
    resource.prlimit(cs.pid, resource.RLIMIT_NOFILE, (hard, hard))
    metas = [meta_of(r[2]) if isinstance(r, tuple) else {} for r in results]
    diag("open fds before: %d; metas: %s" % (base, metas))
    ok(all("resume" in m for m in metas),
       "3 streams held at once with 4 fds free: every one resumable")

    # The connection takes the last fd: no journal.  (Wait for the streams'
    # connections to close: each logs its line before its socket closes.)
    end = time.monotonic() + 10
    while open_fds(cs.pid) > base and time.monotonic() < end:
        time.sleep(0.05)
    resource.prlimit(cs.pid, resource.RLIMIT_NOFILE, (limit_leaving(cs.pid, 1), hard))
    st, _, body, _ = post(cs.sock)
    ev = events_of(body)
    meta = meta_of(body)
    is_(st, 200, "one fd free: the stream is answered")
    ok("resume" not in meta and meta.get("id"), "its meta event has no resume URL (%s)" % meta)
    ok(ev and ev[-1].type == "done" and json.loads(ev[-1].data)["finish_reason"] == "stop",
       "it runs to done all the same")
    sid = meta.get("id", "?")
    warn = [ln for ln in cs.log_lines() if " warn: " in ln and sid in ln]
    is_(len(warn), 1, "one warning line names the stream")
    ok(warn and "not resumable" in warn[0] and "Too many open files" in warn[0],
       "and says why: %s" % (warn[0] if warn else None))
    st, hs, body, _ = post(cs.sock, extra=[("HTTP_ACCEPT", "application/json")])
    is_(st, 503, "a POST asking for 202 without a journal: 503")
    ok(header(hs, "Retry-After") is not None, "with Retry-After")
    resumable = metas[0].get("id") if metas and metas[0] else None
    if resumable:
        st, hs, body, _ = fcgi.request(cs.sock, fcgi_params("GET", "streams/" + resumable),
                                       b"", timeout=10)
        is_(st, 503, "a resume out of fds: 503, not 404")
        ok(header(hs, "Retry-After") is not None, "with Retry-After")
    else:
        ok(False, "a resume out of fds: 503 (no stream to resume)")
        ok(False, "with Retry-After")
    resource.prlimit(cs.pid, resource.RLIMIT_NOFILE, (hard, hard))
    st, _, body, _ = post(cs.sock)
    ok(st == 200 and "resume" in meta_of(body), "with the limit back: resumable again")


def accept_tests(fx):
    text = config({"threads": 16, "journal": "off"},
                  {"slow": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 8}})
    cs = fx.start_chatstream(text, "accept")
    _, hard = resource.prlimit(cs.pid, resource.RLIMIT_NOFILE)
    st, _, _, _ = post(cs.sock, "slow")
    is_(st, 200, "accept: a stream before the limit is lowered")
    resource.prlimit(cs.pid, resource.RLIMIT_NOFILE, (limit_leaving(cs.pid, 2), hard))
    n = 12
    results = [None] * n

    def one(i):
        try:
            results[i] = post(cs.sock, "slow", timeout=60)
        except (OSError, fcgi.FcgiError) as e:
            results[i] = e
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(90)
    resource.prlimit(cs.pid, resource.RLIMIT_NOFILE, (hard, hard))
    done = refused = 0
    bad = []
    for r in results:
        if isinstance(r, tuple) and r[0] == 200 and events_of(r[2]) and \
                events_of(r[2])[-1].type == "done":
            done += 1
        elif isinstance(r, tuple) and r[0] == 503 and header(r[1], "Retry-After") and \
                json.loads(r[2]).get("error", {}).get("type") == "overloaded":
            refused += 1
        else:
            bad.append(r if not isinstance(r, tuple) else r[:3])
    diag("%d streams with 2 fds free: %d done, %d refused with 503" % (n, done, refused))
    ok(not bad, "every client got its stream or a 503 JSON with Retry-After (%s)" % bad[:3])
    ok(refused > 0, "some were refused with 503 (the limit was hit)")
    st, _, body, _ = post(cs.sock, "slow")
    ev = events_of(body)
    ok(st == 200 and ev and ev[-1].type == "done", "with the limit back, a stream runs to done")
    lines = [ln for ln in cs.log_lines() if "accept" in ln and "accept_" not in ln]
    diag("accept lines: %d: %s" % (len(lines), lines[:4]))
    ok(len(lines) <= 4, "a few `accept:` log lines, not one per failed accept (%d)" % len(lines))


def linger_tests(fx):
    text = config({"threads": 1, "journal": "off"},
                  {"slow": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 2}})
    cs = fx.start_chatstream(text, "linger")
    body = json.dumps({"prompt": " ".join(["word"] * 40), "model": "slow"}).encode()
    held = fcgi.FcgiClient(cs.sock, timeout=30)
    held.begin()
    held.params(fcgi_params("POST", "", "application/json", len(body)))
    held.stdin(body)
    first = held.read_stdout(timeout=20)
    ok(first.startswith(b"Status: 200") or b"event:" in first or first.startswith(b"Content"),
       "linger: the one stream thread is busy")
    a = fcgi.FcgiClient(cs.sock, timeout=20)
    a.begin()
    a.params(fcgi_params("POST", "", "application/json", len(body)))
    a.stdin(body)
    out = a.read_all(timeout=20)
    ok(out.startswith(b"Status: 503") and a.ended, "a second stream: 503, the response ended")
    b_result = []

    def b():
        try:
            st, _, _, _ = post(cs.sock, "slow", timeout=30)
            b_result.append(st)
        except (OSError, fcgi.FcgiError) as e:
            b_result.append(repr(e))
    tb = threading.Thread(target=b)
    tb.start()
    # The first client goes on writing after its 503 (a byte now and then)
    # until the next one is answered, or for at most 30 s.
    trickling = True
    for _ in range(300):
        if b_result:
            break
        try:
            a.send_raw(b"x")
        except OSError:
            pass
        time.sleep(0.1)
    else:
        trickling = False
    answered_while_trickling = bool(b_result) and trickling
    a.close()
    tb.join(40)
    held.close()
    is_(b_result[:1], [503], "the next stream gets its 503 too")
    ok(answered_while_trickling,
       "while the first client still holds and writes to its connection")


def main():
    require_tools()
    if subprocess.run(["prlimit", "--version"], capture_output=True).returncode != 0:
        ok(False, "prlimit (util-linux) is needed")
        return
    fx = Fixture("fds")
    budget_tests(fx)
    journal_tests(fx)
    accept_tests(fx)
    linger_tests(fx)


run(main)
