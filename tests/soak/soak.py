#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""soak.py: thousands of streams against chatstream under faults, then the
invariants a long-running server must keep.

Topology: two chatstream processes (A and B) under spawn-fcgi on loopback
TCP ports, sharing one spool (file journal); this script plays the front
server and speaks FastCGI to them directly (tests/lib/fcgi.py), so a closed
connection is a client that went away, as front servers signal it.  Phases:

  file    A + B, journal = file: streams of the paced demo model and of an
          exec model; random client disconnects, reconnects with
          Last-Event-ID to either process, DELETEs while a reader follows;
          SIGKILL of B mid-run (then B is started again); three exec
          streams whose command leaves a background child behind.
  redis   A + B again, journal = redis (a redis-server of our own, on a
          loopback port), the same load; Redis is SIGKILLed and started
          again mid-run; afterwards a new stream resumes exactly.
  enospc  C with its spool on a 256 KiB tmpfs, nearly full already, under
          streams with long answers; then the filler goes and a new stream
          resumes exactly.
  emfile  D under RLIMIT_NOFILE = 64, more streams at once than it has fds
          for; then it must answer /health and serve a whole stream.

Every reader ends in one of: a terminal event (done / error of any type,
including history_lost and interrupted), a well-formed HTTP error status,
or a violation: "silent" (FCGI_END_REQUEST with no terminal event),
"dropped" (the connection closed under it while no fault was being
injected there), "hang" (nothing, not even a heartbeat, for 20 s) or
"resume_404" (the file journal forgot an advertised stream).
Reassembled text (over every reconnect) must be what the model produces:
exact after done/stop, a prefix otherwise, event ids 1..N each once.

Invariants at the end of each phase, after a quiet period: each surviving
chatstream's fds and threads are back to its baseline (taken after a
warm-up, within the slack below), it has no child process, no process it
started was left behind (this script is a child subreaper, so orphans of
exec commands come back to it and are counted), and it still serves.
Once all are stopped, no log holds a sanitizer report.

Limits: loopback only; every loop is bounded in count and time; the
tmpfs is mounted only when running as root and always unmounted; every
process started is stopped at exit (harness.py's teardown).  Usage:
  soak.py [--streams N] [--seconds S] [--workers W] [--phases file,redis,enospc,emfile]
"""

import argparse
import collections
import ctypes
import json
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import fcgi  # noqa: E402
import harness  # noqa: E402
from harness import (ChatstreamTCP, Fixture, config, demo_text, diag, fcgi_params,  # noqa: E402
                     ok, script)
from sse import SSEParser  # noqa: E402

FD_SLACK = 2          # fds a process may hold above its baseline after the quiet period
REDIS_POOL = 16       # journal_redis.c keeps up to POOL_MAX idle connections: more slack
THREAD_SLACK = 0      # threads: none
READ_SILENCE = 20.0   # no byte for this long (heartbeat is 1 s) is a hang
STREAM_CAP = 90.0     # one reader's whole life, reconnects included
QUIET = 12.0          # after the load: lease (3 s), grace (6 s) and exec kills settle
EXEC_TOKENS = 16
EMFILE_LIMIT = 64     # RLIMIT_NOFILE of the emfile phase's chatstream
EMFILE_STREAMS = 120  # streams opened at once against it
EMFILE_FREE = 8       # fds left free to it under load (its soft limit lowered)
EMFILE_EPISODES = 3   # out-of-fds episodes at accept the flood may log (2 lines each)

PR_SET_CHILD_SUBREAPER = 36

# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


class Figures:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = collections.Counter()       # started, completed, disconnected, ...
        self.outcomes = collections.Counter()
        self.faults = collections.Counter()
        self.violations = []                 # (kind, detail)
        self.http = collections.Counter()
        self.head_waits = collections.defaultdict(list)   # phase -> s from connect to head
        self.phase = "-"
        self.logs = collections.Counter()      # chatstream's warnings, by shape
        self.logged = collections.Counter()    # outcomes chatstream logged, by phase

    def add(self, key, n=1):
        with self.lock:
            self.c[key] += n

    def outcome(self, name):
        with self.lock:
            self.outcomes[name] += 1

    def fault(self, name, n=1):
        with self.lock:
            self.faults[name] += n

    def violation(self, kind, detail):
        with self.lock:
            self.violations.append((kind, "[%s] %s" % (self.phase, detail)))


# ---------------------------------------------------------------------------
# One FastCGI reader
# ---------------------------------------------------------------------------

class Conn:
    """One request to a chatstream over FastCGI, read incrementally:
    status/headers once the CGI head is in, SSE events after it.
    end: None while open; "end" (FCGI_END_REQUEST), "eof" (closed under
    us), "hang" (silent READ_SILENCE s), "refused" (no connect)."""

    def __init__(self, addr, method, path, body=b"", headers=(), ctype=None):
        self.method = method
        self.status = None
        self.headers = []
        self.body = b""
        self.sse = SSEParser()
        self.end = None
        self.err = None
        self._head = b""
        self.t0 = time.monotonic()
        self.t_head = None          # when the CGI head was in
        extra = list(headers)
        p = fcgi_params(method, path, content_type=ctype,
                        content_length=len(body), extra=extra)
        try:
            self.c = fcgi.FcgiClient(addr, timeout=10)
            self.c.begin()
            self.c.params(p)
            self.c.stdin(body)
        except OSError as e:
            self.c = None
            self.end = "refused"
            self.err = str(e)

    def read(self, timeout=READ_SILENCE):
        """One chunk; False once the connection is over (self.end says how)."""
        if self.end:
            return False
        try:
            d = self.c.read_stdout(timeout=timeout)
        except socket.timeout:
            self.end = "hang"
            return False
        except (OSError, fcgi.FcgiError) as e:
            self.end = "eof"
            self.err = str(e)
            return False
        if not d:
            self.end = "end" if self.c.ended else "eof"
            self.sse.close()
            return False
        if self.status is None:
            self._head += d
            k = self._head.find(b"\r\n\r\n")
            if k < 0:
                return True
            try:
                self.t_head = time.monotonic()
                self.status, self.headers, rest = fcgi.parse_cgi_response(self._head)
            except (fcgi.FcgiError, ValueError):
                self.status, rest = 0, b""
            d = rest
        if self.status == 200:
            self.sse.feed(d)
        else:
            self.body += d
        return True

    def events(self):
        out = []
        for e in self.sse.events:
            ids = [v for k, v in e.fields if k == "id"]
            out.append((ids[-1] if ids else None, e.type, e.data))
        return out

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def close(self):
        if self.c is not None:
            self.c.close()


def terminal(ev):
    """'done:<finish_reason>' / 'error:<type>' for a terminal event, else None."""
    _, typ, data = ev
    if typ not in ("done", "error"):
        return None
    try:
        d = json.loads(data)
    except ValueError:
        return typ + ":badjson"
    if typ == "done":
        return "done:%s" % d.get("finish_reason")
    e = d.get("error") if isinstance(d, dict) else None
    return "error:%s" % (e.get("type") if isinstance(e, dict) else "?")


def request(addr, method, path, headers=(), timeout=10):
    try:
        st, _, body, _ = fcgi.request(addr, fcgi_params(method, path, extra=list(headers)),
                                      b"", timeout=timeout)
        return st, body
    except (OSError, fcgi.FcgiError) as e:
        return None, str(e).encode()


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------

class Proc:
    """A chatstream under test: cs (harness.ChatstreamTCP), a name, whether a
    fault is being injected into it (drops from it are then expected)."""

    def __init__(self, fx, text, name, prefix=()):
        self.fx, self.name = fx, name
        self.cs = ChatstreamTCP(fx, text, name)
        if prefix:
            self.cs.stop()
            self.cs.args = list(prefix) + self.cs.args
            self.cs.restart()
        else:
            ready, info = self.cs.wait_ready()
            if not ready:
                raise RuntimeError("%s did not come up: %s\n%s"
                                   % (name, info, self.cs.log_text()[-2000:]))
        fx.chatstreams.append(self.cs)
        self.faulty = False        # a fault is being injected: drops expected
        self.down = False          # killed, not yet restarted
        self.baseline = None
        self.fd_slack = FD_SLACK

    @property
    def addr(self):
        return self.cs.sock

    def counts(self):
        pid = self.cs.pid
        try:
            fds = len(os.listdir("/proc/%d/fd" % pid))
            thr = len(os.listdir("/proc/%d/task" % pid))
        except (OSError, TypeError):
            return None
        return {"fds": fds, "threads": thr, "children": children_of(pid)}

    def fd_list(self):
        """Its fds, sockets with their TCP/unix peers where /proc/net says."""
        out = []
        peers = socket_peers(self.cs.pid)
        try:
            for fd in sorted(os.listdir("/proc/%d/fd" % self.cs.pid), key=int):
                try:
                    t = os.readlink("/proc/%d/fd/%s" % (self.cs.pid, fd))
                except OSError:
                    continue
                m = re.match(r"socket:\[(\d+)\]", t)
                if m and m.group(1) in peers:
                    t += " " + peers[m.group(1)]
                out.append("%s->%s" % (fd, t))
        except OSError:
            pass
        return out


def socket_peers(pid):
    """inode -> "local > remote state" for the TCP sockets in pid's netns."""
    out = {}
    states = {"01": "ESTABLISHED", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
              "0A": "LISTEN", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "09": "LAST_ACK"}

    def addr(h):
        ip, port = h.split(":")
        return "%s:%d" % (".".join(str(int(ip[i:i + 2], 16)) for i in (6, 4, 2, 0)), int(port, 16))

    try:
        with open("/proc/%d/net/tcp" % pid) as f:
            for ln in f.readlines()[1:]:
                c = ln.split()
                out[c[9]] = "%s > %s %s" % (addr(c[1]), addr(c[2]), states.get(c[3], c[3]))
    except (OSError, IndexError, ValueError):
        pass
    return out


def proc_stat(pid):
    try:
        with open("/proc/%s/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s.rsplit(")", 1)[1].split()
    return {"state": rest[0], "ppid": int(rest[1]), "pgid": int(rest[2])}


def cmdline(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return "?"


def children_of(ppid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            st = proc_stat(p)
            if st and st["ppid"] == ppid and st["state"] != "Z":
                out.append(int(p))
    return out


def reap():
    """Reaps our zombie children (orphans handed to us as subreaper)."""
    for _ in range(10000):
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def strays(known):
    """Processes handed to this script (subreaper) that it did not start:
    orphans of something chatstream started."""
    reap()
    mine = set(known)
    return [p for p in children_of(os.getpid()) if p not in mine]


# ---------------------------------------------------------------------------
# The load
# ---------------------------------------------------------------------------

WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron "
         "pi rho sigma tau upsilon phi chi psi omega").split()


def exec_text():
    return "".join("x%d " % i for i in range(EXEC_TOKENS))


class Load:
    """Runs streams from `workers` threads until n have started or the
    deadline passes.  choose() picks a live process; mix gives each
    scenario's weight; models: (name, expected text of prompt or None)."""

    def __init__(self, figs, procs, n, deadline, workers, mix, models, seed, long_prompt=False):
        self.figs, self.procs, self.n = figs, procs, n
        self.deadline, self.workers, self.mix = deadline, workers, mix
        self.models = models
        self.rng_lock = threading.Lock()
        self.rng = random.Random(seed)
        self.next = 0
        self.long_prompt = long_prompt
        # a 404 to a resume is a violation, but for Redis: restarted empty, it has forgotten
        self.resume_404_ok = False

    def rand(self):
        with self.rng_lock:
            return random.Random(self.rng.getrandbits(64))

    def take(self):
        with self.rng_lock:
            if self.next >= self.n or time.monotonic() > self.deadline:
                return None
            self.next += 1
            return self.next

    def choose(self, r, avoid=None):
        live = [p for p in self.procs if not p.down and p is not avoid]
        if not live:
            live = [p for p in self.procs if not p.down] or self.procs
        return r.choice(live)

    def run(self):
        ts = [threading.Thread(target=self._worker, daemon=True) for _ in range(self.workers)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(max(1.0, self.deadline - time.monotonic() + STREAM_CAP + 30))
        return sum(1 for t in ts if t.is_alive())

    def _worker(self):
        for _ in range(1000000):
            k = self.take()
            if k is None:
                return
            try:
                self.stream(k, self.rand())
            except Exception as e:  # noqa: BLE001 - a bug here is a failed stream
                self.figs.violation("soak_exception", "%s: %r" % (type(e).__name__, e))

    def stream(self, k, r):
        figs = self.figs
        scen = r.choices([m[0] for m in self.mix], [m[1] for m in self.mix])[0]
        model, expect = r.choice(self.models)
        if self.long_prompt:
            prompt = "soak %d " % k + " ".join(r.choice(WORDS) for _ in range(150))
        else:
            prompt = "soak %d %s %s" % (k, r.choice(WORDS), r.choice(WORDS))
        want = expect(prompt)
        body = json.dumps({"prompt": prompt, "model": model}).encode()
        figs.add("started")
        figs.add("model:" + model)
        proc = self.choose(r)
        conn = Conn(proc.addr, "POST", "", body, ctype="application/json")
        for _ in range(3):                 # the process was down: another one
            if conn.end != "refused":
                break
            figs.add("refused_rerouted")
            proc = self.choose(r, avoid=proc)
            conn.close()
            conn = Conn(proc.addr, "POST", "", body, ctype="application/json")
        evs, sid, resumable = [], None, False
        cuts = r.randint(1, 2) if scen == "disconnect" else 0
        delete_after = r.randint(1, 12) if scen == "delete" else None
        deleted = False
        t_end = time.monotonic() + STREAM_CAP
        outcome, http_retries = None, 0
        for _conn_no in range(12):
            if _conn_no == 0:
                self.head_wait(conn)
            cut_after = r.randint(1, 14) if cuts > 0 else None
            n_here = 0
            while time.monotonic() < t_end:
                if not conn.read():
                    break
                new = conn.events()[n_here:]
                for ev in new:
                    n_here += 1
                    evs.append(ev)
                    if ev[1] == "meta" and sid is None:
                        try:
                            m = json.loads(ev[2])
                        except ValueError:
                            m = {}
                        sid = m.get("id") or conn.header("X-Stream-Id")
                        resumable = bool(m.get("resume"))
                        if not resumable:
                            figs.add("no_resume_url")
                t = terminal(evs[-1]) if evs else None
                if t:
                    break
                if cut_after is not None and n_here >= cut_after and resumable:
                    break
                if delete_after is not None and not deleted and len(evs) >= delete_after and sid:
                    deleted = True
                    dp = self.choose(r)
                    st, _ = request(dp.addr, "DELETE", "streams/" + sid)
                    figs.add("deleted")
                    figs.http["DELETE %s" % st] += 1
            t = terminal(evs[-1]) if evs else None
            if t:
                conn.close()
                outcome = t
                break
            if conn.end is None and time.monotonic() >= t_end:
                conn.close()
                outcome = "hang"
                break
            if conn.end is None:                       # our own cut
                conn.close()
                cuts -= 1
                figs.add("disconnected")
            elif conn.status is not None and conn.status != 200:
                figs.http["%s %s" % (conn.method, conn.status)] += 1
                if conn.status == 503 and http_retries < 3 and (sid or _conn_no == 0):
                    http_retries += 1
                    figs.add("retried_503")
                    time.sleep(0.5 + r.random())
                    if _conn_no == 0 and not sid:
                        proc = self.choose(r)
                        conn.close()
                        conn = Conn(proc.addr, "POST", "", body, ctype="application/json")
                        continue
                elif conn.status == 204 and evs and evs[-1][0] is not None:
                    outcome = "http_204"
                    break
                else:
                    outcome = "http_%d" % conn.status
                    break
            elif conn.end == "end":
                outcome = "silent"
                break
            elif conn.end == "hang":
                outcome = "hang"
                break
            else:                                      # eof / refused under us
                if proc.faulty or proc.down:
                    figs.add("cut_by_fault")
                else:
                    outcome = "dropped"
                    break
                if not (sid and resumable):
                    outcome = "cut_by_fault_unresumable"
                    break
            if not (sid and resumable):
                outcome = "unresumable"
                break
            if conn.end is None or conn.end in ("eof", "refused") or conn.status == 503:
                time.sleep(r.random() * 0.3)
                last = next((e[0] for e in reversed(evs) if e[0] is not None), None)
                proc = self.choose(r, avoid=proc if (proc.down or proc.faulty) else None)
                hs = [("HTTP_LAST_EVENT_ID", last)] if last else []
                conn.close()
                conn = Conn(proc.addr, "GET", "streams/" + sid, headers=hs)
                figs.add("resumed")
        else:
            outcome = "too_many_reconnects"
        conn.close()
        figs.outcome(outcome)
        self.check(k, sid, scen, model, want, evs, outcome, deleted)

    def head_wait(self, conn):
        """Reads the POST's head; the longest wait for one is a figure."""
        for _ in range(1000):
            if conn.t_head is not None or conn.end:
                break
            if not conn.read():
                break
        if conn.t_head is not None:
            w = conn.t_head - conn.t0
            with self.figs.lock:
                self.figs.head_waits[self.figs.phase].append(w)

    def check(self, k, sid, scen, model, want, evs, outcome, deleted):
        figs = self.figs
        bad = None
        if outcome in ("silent", "dropped", "hang", "too_many_reconnects"):
            bad = outcome
        ids = [int(i) for i, _, _ in evs if i is not None and i.isdigit()]
        texts = []
        for _, typ, data in evs:
            if typ == "message":
                try:
                    texts.append(json.loads(data)["text"])
                except (ValueError, KeyError, TypeError):
                    texts.append("\ufffdBAD")
        text = "".join(texts)
        if bad is None and outcome == "http_404" and not self.resume_404_ok:
            bad = "resume_404"      # the file journal keeps it journal_ttl: it is there
        if bad is None and ids != list(range(1, len(ids) + 1)):
            bad = "ids_not_consecutive"
        if bad is None and want is not None:
            if outcome == "done:stop" and text != want:
                bad = "text_not_exact"
            elif not want.startswith(text):
                bad = "text_not_prefix"
        if bad is None and outcome == "done:stop":
            figs.add("completed")
        if bad is None and deleted and outcome not in ("done:cancelled", "done:stop"):
            if not outcome.startswith(("error:", "http_")):
                bad = "delete_" + outcome
        if bad:
            figs.violation(bad, "stream %d id=%s (%s, %s, %s): outcome %s, %d events, "
                           "ids %s..., text ...%r" % (k, sid, scen, model,
                                                      "deleted" if deleted else "-", outcome,
                                                      len(evs), ids[:5], text[-60:]))


# ---------------------------------------------------------------------------
# Phases
# ---------------------------------------------------------------------------

def base_conf(extra, models):
    g = {"threads": 64, "heartbeat": 1, "shutdown_grace": 1, "journal_ttl": 120,
         "max_body": "1M"}
    g.update(extra)
    return config(g, models)


def demo_models(fx, pace=60):
    tick = script(fx, "tick.sh", 'i=0\nwhile [ $i -lt %d ]; do printf "x%%d " $i; sleep 0.03; '
                  'i=$((i+1)); done\n' % EXEC_TOKENS)
    bg = script(fx, "bg.sh", "sleep 600 &\necho started\n")
    return {
        "demo": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": pace,
                 "on_disconnect": "continue", "grace": 6, "max_tokens": 4096},
        "democancel": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": pace,
                       "on_disconnect": "cancel", "grace": 2},
        "tick": {"backend": "exec", "command": tick, "on_disconnect": "continue", "grace": 6,
                 "kill_grace_ms": 300, "idle_timeout": 10, "max_duration": 60},
        "bg": {"backend": "exec", "command": bg, "on_disconnect": "cancel", "grace": 2,
               "kill_grace_ms": 300, "idle_timeout": 3, "max_duration": 20},
    }


MIX = [("complete", 45), ("disconnect", 35), ("delete", 20)]
MODELS = [("demo", demo_text), ("demo", demo_text), ("demo", demo_text),
          ("democancel", demo_text), ("tick", lambda p: exec_text())]


def warm(procs):
    """One whole stream on each, then baselines."""
    for p in procs:
        c = Conn(p.addr, "POST", "", json.dumps({"prompt": "warm up", "model": "demo"}).encode(),
                 ctype="application/json")
        for _ in range(2000):
            if not c.read():
                break
        c.close()
    time.sleep(1.5)
    for p in procs:
        p.baseline = p.counts()


def one_exact(p, q=None, label=""):
    """A new stream on p, cut after 3 events, resumed on q (or p): exact?"""
    q = q or p
    prompt = "after the faults %s" % label
    c = Conn(p.addr, "POST", "", json.dumps({"prompt": prompt, "model": "demo"}).encode(),
             ctype="application/json")
    for _ in range(200):
        if len(c.events()) >= 3 or not c.read():
            break
    evs = c.events()[:3]
    c.close()
    sid = None
    if evs and evs[0][1] == "meta":
        m = json.loads(evs[0][2])
        sid = m.get("id") if m.get("resume") else None
    if not sid:
        return False, "no resumable stream (status %s, events %r)" % (c.status, evs[:2])
    g = Conn(q.addr, "GET", "streams/" + sid, headers=[("HTTP_LAST_EVENT_ID", "3")])
    for _ in range(5000):
        if not g.read():
            break
    g.close()
    whole = evs + g.events()
    text = "".join(json.loads(d)["text"] for _, t, d in whole if t == "message")
    ids = [i for i, _, _ in whole]
    good = (g.status == 200 and text == demo_text(prompt) and whole[-1][1] == "done"
            and ids == [str(i) for i in range(1, len(ids) + 1)])
    return good, "status %s, %d events, last %r" % (g.status, len(whole), whole[-1:])


def check_procs(figs, procs, label, known_pids):
    """Quiet period, then the per-process invariants."""
    time.sleep(QUIET)
    for p in procs:
        if p.down:
            continue
        ok(p.cs.alive(), "%s: %s is alive" % (label, p.name))
        st, _ = request(p.addr, "GET", "health")
        ok(st == 200, "%s: %s still serves /health (status %s)" % (label, p.name, st))
        now = p.counts() or {"fds": -1, "threads": -1, "children": ["gone"]}
        b = p.baseline
        figs.c["%s %s fds before/after" % (label, p.name)] = "%d/%d" % (b["fds"], now["fds"])
        figs.c["%s %s threads before/after" % (label, p.name)] = "%d/%d" % (b["threads"],
                                                                           now["threads"])
        figs.c["%s %s children before/after" % (label, p.name)] = "%d/%d" % (
            len(b["children"]), len(now["children"]))
        if not ok(now["fds"] <= b["fds"] + p.fd_slack,
                  "%s: %s fds back to baseline (%d, baseline %d, slack %d)"
                  % (label, p.name, now["fds"], b["fds"], p.fd_slack)):
            diag("fds now: " + ", ".join(p.fd_list()))
            figs.violation("fd_leak", "%s %s: %d fds, baseline %d" % (label, p.name, now["fds"],
                                                                    b["fds"]))
        if not ok(now["threads"] <= b["threads"] + THREAD_SLACK,
                  "%s: %s threads back to baseline (%d, baseline %d)"
                  % (label, p.name, now["threads"], b["threads"])):
            figs.violation("thread_leak", "%s %s: %d threads, baseline %d"
                           % (label, p.name, now["threads"], b["threads"]))
        if not ok(not now["children"], "%s: %s has no child process (%d)"
                  % (label, p.name, len(now["children"]))):
            for c in now["children"][:5]:
                diag("child %d: %s" % (c, cmdline(c)))
            figs.violation("child_leak", "%s %s: %s" % (label, p.name,
                                                        [cmdline(c) for c in now["children"]]))
    for p in procs:
        log_figures(figs, label, p)
    left = strays(known_pids())
    figs.c["%s orphaned processes" % label] = len(left)
    if not ok(not left, "%s: no orphan of an exec command left (%d)" % (label, len(left))):
        for c in left[:5]:
            diag("orphan %d (pgid %s): %s" % (c, (proc_stat(c) or {}).get("pgid"), cmdline(c)))
        figs.violation("orphan_process", "%s: %s" % (label, [cmdline(c) for c in left]))
        for c in left:                    # ours now (subreaper): stop them
            try:
                os.kill(c, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.2)
        reap()


def log_figures(figs, label, p):
    """Counts the log's lines other than `stream:` ones, by message shape
    (ids and numbers blanked), and the streams' outcomes it logged."""
    shapes = collections.Counter()
    outc = collections.Counter()
    for ln in p.cs.log_lines():
        m = re.match(r"^\S+ chatstream\[\d+\] (.*)$", ln)
        msg = m.group(1) if m else ln
        if msg.startswith("stream: "):
            o = re.search(r" outcome=(\S+)(?: detail=(\S+))?", msg)
            if o:
                outc[o.group(1) + (":" + o.group(2) if o.group(2) else "")] += 1
            continue
        if msg.startswith("info: "):
            continue
        shape = re.sub(r"[A-Za-z0-9_-]{22}", "<id>", msg)
        shape = re.sub(r"/[^ :]*", "<path>", shape)
        shape = re.sub(r"\d+", "N", shape)
        shapes[shape[:110]] += 1
    for k, v in shapes.items():
        figs.logs["%s %s: %s" % (label, p.name, k)] += v
    for k, v in outc.items():
        figs.logged[label + " " + k] += v


def finish_load(figs, load, label, fault=None):
    """Runs the load in threads while fault(load), if any, runs here: a
    process started from a thread would die with it (PR_SET_PDEATHSIG)."""
    res = []
    lt = threading.Thread(target=lambda: res.append(load.run()), daemon=True)
    lt.start()
    stop = threading.Event()
    peak = {}

    def sample():
        for _ in range(100000):
            for p in load.procs:
                c = None if p.down else p.counts()
                if c:
                    k = p.name
                    f, t = peak.get(k, (0, 0))
                    peak[k] = (max(f, c["fds"]), max(t, c["threads"]))
            if stop.wait(0.2):
                return

    st = threading.Thread(target=sample, daemon=True)
    st.start()
    if fault is not None:
        fault(load)
    lt.join(max(1.0, load.deadline - time.monotonic() + STREAM_CAP + 60))
    stop.set()
    st.join(5)
    for k, (f, t) in peak.items():
        figs.c["%s %s peak fds/threads under load" % (label, k)] = "%d/%d" % (f, t)
    stuck = res[0] if res else load.workers
    ok(stuck == 0, "%s: every worker finished in its time bound (%d stuck)" % (label, stuck))


def kill_b(figs, a, b, load):
    """SIGKILL B when 40 % of the streams have started; start it again 4 s later."""
    for _ in range(6000):
        if load.next >= load.n * 0.4 or time.monotonic() > load.deadline:
            break
        time.sleep(0.05)
    if time.monotonic() > load.deadline:
        return
    b.faulty = True
    b.down = True
    os.kill(b.cs.pid, signal.SIGKILL)
    figs.fault("SIGKILL chatstream")
    diag("fault: SIGKILL %s (pid %d) after %d streams started" % (b.name, b.cs.pid, load.next))
    time.sleep(4)
    ready, info = b.cs.restart()
    diag("%s started again: %s (pid %s)" % (b.name, ready, b.cs.pid))
    b.down = False
    time.sleep(1.5)
    b.faulty = False
    figs.fault("chatstream restarted")


def phase_file(fx, figs, n, seconds, workers):
    text = base_conf({"journal": "file", "spool_dir": fx.path("spool")}, demo_models(fx))
    a = Proc(fx, text, "file-A")
    b = Proc(fx, text, "file-B")
    warm([a, b])
    # three exec streams whose command leaves `sleep 600` running behind it
    for i in range(3):
        c = Conn(a.addr, "POST", "", json.dumps({"prompt": "bg", "model": "bg"}).encode(),
                 ctype="application/json")
        for _ in range(500):
            if not c.read(timeout=30):
                break
        ev = c.events()
        t = terminal(ev[-1]) if ev else None
        figs.add("bg exec streams")
        figs.outcome("bg:" + str(t or c.end))
        if not t:
            figs.violation("silent", "bg exec stream %d: %s" % (i, c.end))
        c.close()
    deadline = time.monotonic() + seconds
    load = Load(figs, [a, b], n, deadline, workers, MIX, MODELS, seed=1)
    finish_load(figs, load, "file", lambda ld: kill_b(figs, a, b, ld))
    good, info = one_exact(a, b, "file")
    ok(good, "file: after the faults a stream on A resumes exactly on B (%s)" % info)
    # B was started again: its counts are compared with the first B's baseline
    check_procs(figs, [a, b], "file", lambda: [p.pid for p in fx._procs])
    for p in (a, b):
        p.cs.stop()


def phase_redis(fx, figs, n, seconds, workers):
    import redis_server
    if not redis_server.built_with_redis():
        diag("redis phase skipped: chatstream built without --with-redis")
        figs.c["redis phase"] = "skipped (no hiredis)"
        return
    rs = redis_server.RedisServer(fx).start()
    text = base_conf({"journal": "redis", "redis_address": rs.address,
                      "redis_prefix": "soak:"}, demo_models(fx))
    a = Proc(fx, text, "redis-A")
    b = Proc(fx, text, "redis-B")
    a.fd_slack = b.fd_slack = FD_SLACK + REDIS_POOL     # its idle connections
    warm([a, b])
    deadline = time.monotonic() + seconds
    load = Load(figs, [a, b], n, deadline, workers, MIX, MODELS, seed=2)
    load.resume_404_ok = True

    def restart_redis(figs, a, b, load):
        for _ in range(6000):
            if load.next >= load.n * 0.4 or time.monotonic() > load.deadline:
                break
            time.sleep(0.05)
        if time.monotonic() > load.deadline:
            return
        a.faulty = b.faulty = True      # readers' journal connections break
        rs.stop()
        figs.fault("Redis SIGKILL")
        diag("fault: Redis killed after %d streams started" % load.next)
        time.sleep(2)
        rs.start()
        figs.fault("Redis restarted")
        time.sleep(2)
        a.faulty = b.faulty = False
    
    finish_load(figs, load, "redis", lambda ld: restart_redis(figs, a, b, ld))
    good, info = one_exact(a, b, "redis")
    ok(good, "redis: after the restart a new stream on A resumes exactly on B (%s)" % info)
    check_procs(figs, [a, b], "redis", lambda: [p.pid for p in fx._procs])
    for p in (a, b):
        p.cs.stop()
    rs.stop()


class Unmount:
    """Unmounts a mount point once (lazily when busy); on harness's
    fixture list, so its teardown (atexit, SIGTERM/SIGINT/SIGHUP) runs it
    after the chatstream fixture stopped the processes using it."""

    def __init__(self, mnt):
        self.mnt = mnt
        self.done = False

    def close(self):
        if self.done:
            return
        self.done = True
        if os.path.ismount(self.mnt):
            r = subprocess.run(["umount", self.mnt], capture_output=True, timeout=20)
            if r.returncode != 0:
                subprocess.run(["umount", "-l", self.mnt], capture_output=True, timeout=20)
        if self in harness._fixtures:
            harness._fixtures.remove(self)


def phase_enospc(fx, figs, n, seconds, workers):
    if os.geteuid() != 0:
        diag("enospc phase skipped: mounting a tmpfs needs root")
        figs.c["enospc phase"] = "skipped (not root)"
        return
    mnt = fx.path("tiny")
    os.makedirs(mnt, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "soak-tiny", mnt],
                       capture_output=True, timeout=20)
    if r.returncode != 0:
        diag("enospc phase skipped: mount failed: %s" % r.stderr.decode(errors="replace"))
        figs.c["enospc phase"] = "skipped (mount failed)"
        return
    c = None
    guard = Unmount(mnt)
    harness._fixtures.append(guard)     # teardown unmounts it on a signal too
    try:
        spool = os.path.join(mnt, "spool")
        text = base_conf({"journal": "file", "spool_dir": spool}, demo_models(fx, pace=200))
        c = Proc(fx, text, "enospc-C")
        warm([c])
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:             # leave about 24 KiB
            st = os.statvfs(mnt)
            f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - 24 * 1024))
        figs.fault("ENOSPC: spool tmpfs filled")
        deadline = time.monotonic() + seconds
        load = Load(figs, [c], n, deadline, workers, MIX,
                    [("demo", demo_text), ("democancel", demo_text)], seed=3, long_prompt=True)
        finish_load(figs, load, "enospc")
        st = os.statvfs(mnt)
        figs.c["enospc free bytes at the end of the load"] = st.f_bavail * st.f_frsize
        os.unlink(filler)
        good, info = one_exact(c, None, "enospc")
        ok(good, "enospc: the filler removed, a new stream resumes exactly (%s)" % info)
        check_procs(figs, [c], "enospc", lambda: [p.pid for p in fx._procs])
    finally:
        if c is not None:
            c.cs.stop()
        guard.close()
        ok(not os.path.ismount(mnt), "enospc: the tmpfs is unmounted")


def limit_leaving(pid, k):
    """The RLIMIT_NOFILE that leaves pid exactly k free fd numbers."""
    taken = set(int(x) for x in os.listdir("/proc/%d/fd" % pid))
    free = 0
    for i in range(1 << 20):
        if i not in taken:
            free += 1
            if free == k + 1:
                return i
    return None


def phase_emfile(fx, figs, n, seconds, workers):
    limit = EMFILE_LIMIT
    # Demo models only (one fd a stream): the start-up fd budget lets most of
    # the 96 threads in under the hard limit.  Then the soft limit of the
    # running process is lowered to leave EMFILE_FREE fds, as when something
    # else took them: accepts and journal opens run out of fds for real.
    models = demo_models(fx, pace=10)
    models = {"demo": models["demo"]}
    text = base_conf({"journal": "file", "spool_dir": fx.path("spool-emfile"), "threads": 96},
                     models)
    d = Proc(fx, text, "emfile-D", prefix=["prlimit", "--nofile=%d:%d" % (limit, limit), "--"])
    warm([d])
    m = re.search(r"serving (\d+) streams", d.cs.log_text())
    figs.c["emfile RLIMIT_NOFILE"] = limit
    figs.c["emfile stream threads the fd budget allows"] = m.group(1) if m else 96
    figs.c["emfile baseline fds"] = d.baseline["fds"]
    soft = limit_leaving(d.cs.pid, EMFILE_FREE)
    resource.prlimit(d.cs.pid, resource.RLIMIT_NOFILE, (soft, limit))
    figs.c["emfile soft RLIMIT_NOFILE under load"] = soft
    figs.fault("EMFILE: RLIMIT_NOFILE %d (%d fds free), %d streams at once"
               % (soft, EMFILE_FREE, n))
    deadline = time.monotonic() + seconds
    # all at once: as many workers as streams
    load = Load(figs, [d], n, deadline, n, [("complete", 80), ("disconnect", 20)],
                [("demo", demo_text)], seed=4)
    d.faulty = False
    finish_load(figs, load, "emfile")
    resource.prlimit(d.cs.pid, resource.RLIMIT_NOFILE, (limit, limit))
    accepts = [ln for ln in d.cs.log_text().splitlines() if " accept" in ln]
    figs.c["emfile accept log lines"] = len(accepts)
    ok(len(accepts) <= 2 * EMFILE_EPISODES,
       "emfile: out of fds at accept is logged per episode, not per failed accept "
       "(%d lines)" % len(accepts))
    st, _ = request(d.addr, "GET", "health")
    ok(st == 200, "emfile: D answers /health after the flood (status %s)" % st)
    good, info = one_exact(d, None, "emfile")
    ok(good, "emfile: a new stream on D resumes exactly after the flood (%s)" % info)
    check_procs(figs, [d], "emfile", lambda: [p.pid for p in fx._procs])
    d.cs.stop()


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def report(figs, t0, args):
    c = figs.c
    print("")
    print("== soak figures (%.0f s, %d streams asked, %d workers) =="
          % (time.monotonic() - t0, args.streams, args.workers))
    for k in ("started", "completed", "disconnected", "resumed", "deleted", "cut_by_fault",
              "refused_rerouted", "retried_503", "no_resume_url", "bg exec streams",
              "sanitizer reports"):
        print("  %-34s %s" % (k, c.get(k, 0)))
    for k in sorted(x for x in c if x.startswith("model:")):
        print("  streams of %-23s %s" % (k[6:], c[k]))
    for ph, hw in figs.head_waits.items():
        hw = sorted(hw)
        print("  %-7s wait for a POST's response head: median %.3f s, 99th %.3f s, max %.3f s"
              % (ph, hw[len(hw) // 2], hw[min(len(hw) - 1, int(len(hw) * 0.99))], hw[-1]))
    print("  outcomes:")
    for k, v in sorted(figs.outcomes.items(), key=lambda kv: -kv[1]):
        print("    %-32s %d" % (k, v))
    print("  HTTP statuses other than 200 (request, status):")
    for k, v in sorted(figs.http.items()):
        print("    %-32s %d" % (k, v))
    print("  faults injected:")
    for k, v in figs.faults.items():
        print("    %-50s %d" % (k, v))
    print("  processes:")
    procs = ("before/after", "peak", "orphan", "phase")
    for k in sorted(x for x in c if any(w in x for w in procs)
                    or x.startswith(("emfile", "enospc"))):
        print("    %-50s %s" % (k, c[k]))
    print("  chatstream's own log: stream outcomes (phase outcome[:detail]):")
    for k, v in sorted(figs.logged.items()):
        print("    %-50s %d" % (k, v))
    print("  chatstream's own log: other lines (phase process: message shape):")
    for k, v in sorted(figs.logs.items(), key=lambda kv: -kv[1])[:25]:
        print("    %6d  %s" % (v, k))
    kinds = collections.Counter(k for k, _ in figs.violations)
    print("  errors seen (invariant violations by kind): %d" % len(figs.violations))
    for k, v in kinds.most_common():
        print("    %-32s %d" % (k, v))
        byphase = collections.Counter(d[1:d.index("]")] for kk, d in figs.violations if kk == k)
        print("      by phase: " + ", ".join("%s %d" % kv for kv in sorted(byphase.items())))
        for kind, det in [x for x in figs.violations if x[0] == k][:3]:
            print("      e.g. " + det[:300])


def main():
    ap = argparse.ArgumentParser(description="chatstream soak under faults")
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=420)
    ap.add_argument("--workers", type=int, default=40)
    ap.add_argument("--phases", default="file,redis,enospc,emfile")
    args = ap.parse_args()
    phases = [p for p in args.phases.split(",") if p]
    harness.require_tools()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except OSError:
        pass
    figs = Figures()
    fx = Fixture("soak")
    t0 = time.monotonic()
    # streams and seconds shared out: file 55 %, redis 35 %, enospc 10 %; emfile a fixed flood
    share = {"file": 0.55, "redis": 0.35, "enospc": 0.10}
    tot = sum(share[p] for p in phases if p in share) or 1
    for ph in phases:
        frac = share.get(ph, 0) / tot
        n = max(20, int(args.streams * frac))
        secs = max(20.0, args.seconds * 0.85 * frac)
        if ph == "emfile":
            n, secs = EMFILE_STREAMS, 40.0
        diag("phase %s: up to %d streams in %.0f s" % (ph, n, secs))
        t1 = time.monotonic()
        figs.phase = ph
        if ph == "file":
            phase_file(fx, figs, n, secs, args.workers)
        elif ph == "redis":
            phase_redis(fx, figs, n, secs, args.workers)
        elif ph == "enospc":
            phase_enospc(fx, figs, n, secs, min(args.workers, 24))
        elif ph == "emfile":
            phase_emfile(fx, figs, n, secs, n)
        else:
            diag("unknown phase %s" % ph)
            continue
        diag("phase %s took %.0f s" % (ph, time.monotonic() - t1))
    # sanitizer builds: LeakSanitizer reports when a process exits (each
    # phase stopped its own with SIGTERM); any report in any log fails
    reports = []
    for cs in fx.chatstreams:
        cs.stop()
        lines = cs.log_lines()
        if any("ERROR: AddressSanitizer" in ln or "ERROR: LeakSanitizer" in ln or
               "runtime error:" in ln for ln in lines):
            reports.append((cs.name, harness.crash_summary(lines)))
    figs.c["sanitizer reports"] = len(reports)
    if not ok(not reports, "no sanitizer report in any chatstream log (%d)" % len(reports)):
        for name, summ in reports:
            diag("%s: %s" % (name, " | ".join(summ)))
            figs.violation("sanitizer", "%s: %s" % (name, " | ".join(summ)[:300]))
    ok(not figs.violations, "no reader ended silent, dropped, hung or with wrong text "
       "(%d violations)" % len(figs.violations))
    harness._tap["dumped"] = True      # the logs stay in the kept temp dir
    report(figs, t0, args)
    n = harness._tap["n"]
    f = harness._tap["failed"]
    print("\n%d passed, %d failed" % (n - f, f))
    harness.done()


if __name__ == "__main__":
    harness.run(main)
