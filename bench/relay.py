#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""bench/relay.py: what the `openai` relay backend costs, on loopback.

  latency     per-token arrival latency at an HTTP client, through lighttpd + A
              (chatstream, backend openai) + lighttpd B + B (chatstream), versus
              straight from lighttpd B + B, in one run.  B's model is an exec command that
              writes one token every 1/RATE s, each token carrying its own
              CLOCK_MONOTONIC send time, so for every token
                  latency = arrival at the client - time the token was written
              on both paths, and "added per token" is relay minus direct
              (difference of the percentiles).  Rounds alternate (a direct
              stream alone, then a relayed one alone, order flipped every
              round) so the two paths never compete for the CPUs.
              Target: p50 <= 0.5 ms, p99 <= 2 ms added.
  ttft        time to first token (request sent -> first token event), B's demo
              model (ttft_ms 0), direct and through A, alternating.
  disconnect  a tiny raw-socket SSE server in this script is A's upstream; a
              FastCGI client straight to A's socket (so A learns of the close at
              once) reads 3 tokens and closes; the figure is the time from that
              close to the upstream seeing its connection closed (recv -> b'').
              Target <= 50 ms.  The same through lighttpd A for comparison
              (lighttpd 1.4.69 notices a gone client only at its next write).

It prints the figures (and --json FILE writes them).  Not a test: exit 0 when
it ran, whatever the figures.

Usage:
  bench/relay.py                       # builds a release chatstream (no sanitizers) first
  bench/relay.py --binary src/chatstream
  bench/relay.py --git HEAD            # release build of the last commit, not the working tree
  bench/relay.py --rounds 20 --tokens 100 --rate 50 --ttft-reps 40 --disconnect-reps 30

Needs lighttpd, spawn-fcgi, python3 (stdlib only) and, for the build, the build
tools.  Loopback only; every loop is bounded in count and time; every process
it starts is stopped at the end (tests/lib/harness.py's teardown, also on
Ctrl-C).  Do not run it beside the test suite or another benchmark: the
figures move with any other load (the load average is printed).
"""

import argparse
import datetime
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
LIB = os.path.join(TOP, "tests", "lib")

TICKER = r'''
import os, sys, time
n, rate = int(sys.argv[1]), float(sys.argv[2])
period = 1e9 / rate
t0 = time.monotonic_ns()
for i in range(n):
    due = t0 + int(i * period)
    for _ in range(10000):
        now = time.monotonic_ns()
        if now >= due:
            break
        time.sleep(min((due - now) / 1e9, 0.05))
    os.write(1, b"%d " % time.monotonic_ns())
'''


def out(*a):
    print(*a, flush=True)


def pct(xs, p):
    """Nearest-rank percentile of xs (p in 0..100)."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def build_release(work, rev=None):
    """A release build (plain ./configure) of a copy of the working tree, or
    of git revision rev (git archive) when given."""
    build = os.path.join(work, "build")
    os.makedirs(build)
    out("building a release chatstream (no sanitizers) from %s in %s"
        % ("git " + rev if rev else "the working tree", build))
    if rev:
        src = subprocess.Popen(["git", "archive", "--format=tar", rev], cwd=TOP,
                               stdout=subprocess.PIPE)
    else:
        excl = ["--exclude=.git", "--exclude=*.o", "--exclude=*.a", "--exclude=./Makefile",
                "--exclude=./config.status", "--exclude=./config.h", "--exclude=./config.log",
                "--exclude=./stamp-h1", "--exclude=./src/chatstream", "--exclude=./_build",
                "--exclude=./bench", "--exclude=./autom4te.cache", "--exclude=node_modules"]
        src = subprocess.Popen(["tar", "-cf", "-"] + excl + ["."], cwd=TOP,
                               stdout=subprocess.PIPE)
    subprocess.run(["tar", "-xf", "-", "-C", build], stdin=src.stdout, check=True, timeout=300)
    src.wait(timeout=60)
    if rev:
        out("  git %s = %s" % (rev, subprocess.run(
            ["git", "rev-parse", "--short", rev], cwd=TOP, stdout=subprocess.PIPE,
            timeout=30).stdout.decode().strip()))
    log = open(os.path.join(work, "build.log"), "wb")
    try:
        if not os.access(os.path.join(build, "configure"), os.X_OK):
            subprocess.run(["autoreconf", "-fi"], cwd=build, stdout=log, stderr=log,
                           check=True, timeout=600)
        subprocess.run(["./configure", "-q"], cwd=build, stdout=log, stderr=log, check=True,
                       timeout=600)
        subprocess.run(["make", "-j2", "src/chatstream"], cwd=build, stdout=log, stderr=log,
                       check=True, timeout=1200)
    except subprocess.SubprocessError:
        log.close()
        with open(os.path.join(work, "build.log"), "rb") as f:
            sys.stderr.write(f.read()[-3000:].decode("utf-8", "replace"))
        raise SystemExit("relay.py: the release build failed")
    log.close()
    return os.path.join(build, "src", "chatstream")


# --- an HTTP/1.0 SSE client that timestamps every read ---------------------------

class HttpStream:
    """POSTs JSON to 127.0.0.1:port (HTTP/1.0: lighttpd streams the body and
    closes); read() on readability; events get the monotonic ns of the read
    that completed them."""

    def __init__(self, sse_mod, port, path, payload):
        body = json.dumps(payload).encode()
        req = ("POST %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\n\r\n" % (path, len(body))).encode() + body
        self.t_start = time.monotonic_ns()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(req)
        self.sock.setblocking(False)
        self.head = b""
        self.status = None
        self.parser = sse_mod.SSEParser()
        self.eof = False

    def fileno(self):
        return self.sock.fileno()

    def read(self):
        try:
            d = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            d = b""
        t = time.monotonic_ns()
        if not d:
            self.eof = True
            self.parser.close()
            return
        if self.status is None:
            self.head += d
            k = self.head.find(b"\r\n\r\n")
            if k < 0:
                return
            self.status = int(self.head.split(b" ", 2)[1])
            d = self.head[k + 4:]
        if d:
            self.parser.feed(d, t)

    def tokens(self):
        """(arrival ns, text) of every token event."""
        res = []
        for e in self.parser.events:
            if e.type == "message":
                try:
                    res.append((e.time, json.loads(e.data)["text"]))
                except (ValueError, KeyError, TypeError):
                    pass
        return res

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def pump(streams, timeout):
    end = time.monotonic() + timeout
    for _ in range(1000000):
        live = [s for s in streams if not s.eof]
        if not live or time.monotonic() > end:
            return not live
        r, _, _ = select.select(live, [], [], min(0.5, max(0.0, end - time.monotonic())))
        for s in r:
            s.read()
    return False


# --- the raw upstream of the disconnect part ------------------------------------

class RawUpstream:
    """A minimal OpenAI-style SSE server: answers every POST with a token every
    `period` s until the client closes (bounded: 30 s); records, per
    connection, when the request arrived and when recv() returned b''."""

    def __init__(self, period=0.02):
        self.period = period
        self.lock = threading.Lock()
        self.closed = {}          # conn -> monotonic ns of the EOF
        self.requested = {}       # conn -> monotonic ns the request was read
        self.n = 0
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.port = self.srv.getsockname()[1]
        self.stopping = False
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    def _accept(self):
        for _ in range(100000):
            if self.stopping:
                return
            r, _, _ = select.select([self.srv], [], [], 0.2)
            if not r:
                continue
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            with self.lock:
                self.n += 1
                k = self.n
            threading.Thread(target=self._serve, args=(c, k), daemon=True).start()

    def _serve(self, c, k):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        end = time.monotonic() + 30
        try:
            for _ in range(10000):
                if b"\r\n\r\n" in buf or time.monotonic() > end:
                    break
                r, _, _ = select.select([c], [], [], 1.0)
                if r:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
            head, _, body = buf.partition(b"\r\n\r\n")
            n = 0
            for ln in head.split(b"\r\n"):
                if ln.lower().startswith(b"content-length:"):
                    n = int(ln.split(b":")[1])
            for _ in range(10000):
                if len(body) >= n or time.monotonic() > end:
                    break
                r, _, _ = select.select([c], [], [], 1.0)
                if r:
                    d = c.recv(65536)
                    if not d:
                        return
                    body += d
            with self.lock:
                self.requested[k] = time.monotonic_ns()
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                      b"Connection: close\r\n\r\n"
                      b'data: {"choices":[{"index":0,"delta":{"role":"assistant",'
                      b'"content":""}}]}\n\n')
            i = 0
            nxt = time.monotonic()
            while time.monotonic() < end:
                now = time.monotonic()
                if now >= nxt:
                    c.sendall(b'data: {"choices":[{"index":0,"delta":{"content":"t%d "}}]}\n\n' % i)
                    i += 1
                    nxt += self.period
                r, _, _ = select.select([c], [], [], max(0.0, nxt - time.monotonic()))
                if r:
                    try:
                        d = c.recv(65536)
                    except OSError:
                        d = b""
                    if not d:
                        t = time.monotonic_ns()
                        with self.lock:
                            self.closed[k] = t
                        return
        except OSError:
            with self.lock:
                self.closed.setdefault(k, time.monotonic_ns())
        finally:
            c.close()

    def last_conn(self):
        with self.lock:
            return max(self.requested) if self.requested else None

    def wait_closed(self, k, timeout):
        end = time.monotonic() + timeout
        for _ in range(int(timeout * 1000) + 2):
            with self.lock:
                if k in self.closed:
                    return self.closed[k]
            if time.monotonic() > end:
                return None
            time.sleep(0.0005)
        return None

    def stop(self):
        self.stopping = True
        self.t.join(timeout=2)
        self.srv.close()


# --- the parts ---------------------------------------------------------------------

def part_latency(ctx, a, rounds, ntok, rate):
    """Alternating rounds: a direct stream alone, then a relayed one alone (the
    order flips every round), so the two never compete for the CPUs."""
    sse = ctx["sse"]
    lat = {"direct": [], "relay": []}
    bad = 0
    for rnd in range(rounds + 1):           # round 0 warms up (A's upstream connection)
        order = ("direct", "relay") if rnd % 2 == 0 else ("relay", "direct")
        for which in order:
            port = ctx["portB"] if which == "direct" else ctx["portA"]
            s = HttpStream(sse, port, "/chat/", {"prompt": "latency %d" % rnd, "model": "tick"})
            done = pump([s], ntok / rate + 15)
            got = []
            for t_arr, text in s.tokens():
                for w in text.split():
                    try:
                        got.append((t_arr - int(w)) / 1e6)
                    except ValueError:
                        continue
            s.close()
            if not done or s.status != 200 or len(got) != ntok:
                bad += 1
                out("   .. round %d %s: status %s, %d of %d tokens%s"
                    % (rnd, which, s.status, len(got), ntok, "" if done else ", timed out"))
            if rnd > 0:
                lat[which] += got
    lat["bad_rounds"] = bad
    return lat


def part_ttft(ctx, reps):
    sse = ctx["sse"]
    res = {"direct": [], "relay": []}
    for i in range(reps):
        order = ("direct", "relay") if i % 2 == 0 else ("relay", "direct")
        for which in order:
            port = ctx["portB"] if which == "direct" else ctx["portA"]
            s = HttpStream(sse, port, "/chat/", {"prompt": "ttft %d" % i, "model": "demo50",
                                                 "max_tokens": 3})
            pump([s], 10)
            toks = s.tokens()
            if s.status == 200 and toks:
                res[which].append((toks[0][0] - s.t_start) / 1e6)
            else:
                res.setdefault("failed", []).append((which, s.status, len(toks)))
                out("   .. ttft %d %s: status %s, %d tokens" % (i, which, s.status, len(toks)))
            s.close()
    return res


def part_disconnect(ctx, up, reps, A, fcgi, relay_mod):
    res = {"fcgi": [], "lighttpd": [], "missed": 0}
    sse = ctx["sse"]
    for i in range(reps):
        # straight FastCGI: A notices the close at once (POLLRDHUP)
        c = relay_mod.fcgi_stream(A, "", {"prompt": "dc %d" % i, "model": "raw"})
        rd = relay_mod.FcgiReader(c)
        rd.read_until(lambda x: len([e for e in x.events if e.type == "message"]) >= 3, 10)
        k = up.last_conn()
        t_close = time.monotonic_ns()
        c.close()
        t_up = up.wait_closed(k, 5) if k else None
        if t_up is None:
            res["missed"] += 1
        else:
            res["fcgi"].append((t_up - t_close) / 1e6)
        # through lighttpd: noticed at A's next write (the next upstream token)
        s = HttpStream(sse, ctx["portA"], "/chat/", {"prompt": "dcl %d" % i, "model": "raw"})
        end = time.monotonic() + 10
        while len(s.tokens()) < 3 and not s.eof and time.monotonic() < end:
            r, _, _ = select.select([s], [], [], 0.5)
            if r:
                s.read()
        k = up.last_conn()
        t_close = time.monotonic_ns()
        s.close()
        t_up = up.wait_closed(k, 5) if k else None
        if t_up is None:
            res["missed"] += 1
        else:
            res["lighttpd"].append((t_up - t_close) / 1e6)
        time.sleep(0.05)
    return res


def fmt(xs):
    return "n=%d p50 %.3f  p90 %.3f  p95 %.3f  p99 %.3f  max %.3f ms" % (
        len(xs), pct(xs, 50), pct(xs, 90), pct(xs, 95), pct(xs, 99),
        max(xs) if xs else float("nan"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", help="chatstream to benchmark (default: a fresh release build)")
    ap.add_argument("--git", metavar="REV",
                    help="build the release binary from this git revision (git archive), "
                    "not from the working tree")
    ap.add_argument("--rounds", type=int, default=15, help="latency rounds (pairs of streams)")
    ap.add_argument("--tokens", type=int, default=100, help="tokens per latency stream")
    ap.add_argument("--rate", type=float, default=50, help="tokens per second at B")
    ap.add_argument("--ttft-reps", type=int, default=40)
    ap.add_argument("--disconnect-reps", type=int, default=30)
    ap.add_argument("--json", help="also write the raw figures to this file")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args()
    for v in ("rounds", "tokens", "ttft_reps", "disconnect_reps"):
        if not 1 <= getattr(args, v) <= 10000:
            ap.error("--%s must be 1..10000" % v.replace("_", "-"))
    if not 1 <= args.rate <= 1000:
        ap.error("--rate must be 1..1000")

    work = tempfile.mkdtemp(prefix="chatstream-relaybench-", dir="/tmp")
    binary = os.path.abspath(args.binary) if args.binary else build_release(work, args.git)
    os.environ["CHATSTREAM"] = binary
    os.environ["SRCDIR"] = TOP
    if args.keep:
        os.environ["KEEP_TMP"] = "1"        # the fixture then keeps its temp dir
    else:
        os.environ.pop("KEEP_TMP", None)
    sys.path.insert(0, LIB)
    import fcgi  # noqa: F401,E402
    import harness  # noqa: E402
    import relay as relay_mod  # noqa: E402
    import sse as sse_mod  # noqa: E402

    try:
        asan = b"libasan" in subprocess.run(["ldd", binary], stdout=subprocess.PIPE,
                                            timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        asan = False
    harness.require_tools()
    fx = harness.Fixture("relaybench")
    up = RawUpstream(period=0.02)
    ticker = fx.path("ticker.py")
    with open(ticker, "w") as f:
        f.write(TICKER)
    cfg_b = harness.config({"threads": 16, "heartbeat": 15}, {
        "tick": {"backend": "exec", "command": "%s %s %d %g" % (sys.executable, ticker,
                                                               args.tokens, args.rate),
                 "idle_timeout": 30},
        "demo50": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 50},
    })
    B = fx.start_chatstream(cfg_b, name="B")
    ltb = relay_mod.start_named_lighttpd(fx, B, "lighttpd-b")
    base = "http://127.0.0.1:%d/chat/v1" % ltb.port
    cfg_a = harness.config({"threads": 16, "heartbeat": 15}, {
        "tick": {"backend": "openai", "base_url": base, "model": "tick"},
        "demo50": {"backend": "openai", "base_url": base, "model": "demo50"},
        "raw": {"backend": "openai", "base_url": "http://127.0.0.1:%d/v1" % up.port},
    })
    A = fx.start_chatstream(cfg_a, name="A")
    lta = fx.start_lighttpd(A)
    ctx = {"sse": sse_mod, "portA": lta.port, "portB": ltb.port}

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out("chatstream relay benchmark, %s" % when)
    out("binary %s%s" % (binary, "  (WARNING: AddressSanitizer build)" if asan else ""))
    out("machine: %d CPUs, load average %s" % (os.cpu_count(),
                                                " ".join(open("/proc/loadavg").read().split()[:3])))
    out("")
    t0 = time.monotonic()
    lat = part_latency(ctx, A, args.rounds, args.tokens, args.rate)
    out("1. per-token latency (token written by B's command -> token event read by the client)")
    out("   %d rounds x %d tokens at %g tok/s; each round one direct and one relayed stream,"
        " one after the other" % (args.rounds, args.tokens, args.rate))
    out("   direct  (lighttpd B + B)          : " + fmt(lat["direct"]))
    out("   relayed (lighttpd A + A + B path) : " + fmt(lat["relay"]))
    add50 = pct(lat["relay"], 50) - pct(lat["direct"], 50)
    add99 = pct(lat["relay"], 99) - pct(lat["direct"], 99)
    out("   ADDED by the relay: p50 %.3f ms (target <= 0.5), p99 %.3f ms (target <= 2)"
        % (add50, add99))
    if lat["bad_rounds"]:
        out("   WARNING: %d round(s) incomplete" % lat["bad_rounds"])
    out("   (%.1f s)" % (time.monotonic() - t0))
    out("")

    t0 = time.monotonic()
    tt = part_ttft(ctx, args.ttft_reps)
    out("2. time to first token (request sent -> first token event), demo model, ttft_ms 0")
    out("   direct : " + fmt(tt["direct"]))
    out("   relayed: " + fmt(tt["relay"]))
    out("   TTFT difference: p50 %.3f ms, p90 %.3f ms"
        % (pct(tt["relay"], 50) - pct(tt["direct"], 50),
           pct(tt["relay"], 90) - pct(tt["direct"], 90)))
    out("   (%.1f s)" % (time.monotonic() - t0))
    out("")

    t0 = time.monotonic()
    dc = part_disconnect(ctx, up, args.disconnect_reps, A, fcgi, relay_mod)
    out("3. client disconnect -> upstream connection closed (upstream token every 20 ms)")
    out("   FastCGI client closes (A learns at once): " + fmt(dc["fcgi"]) + "  (target <= 50)")
    out("   HTTP client closes, through lighttpd A  : " + fmt(dc["lighttpd"]))
    if dc["missed"]:
        out("   WARNING: %d close(s) not seen within 5 s" % dc["missed"])
    out("   (%.1f s)" % (time.monotonic() - t0))

    if lat["bad_rounds"] or tt.get("failed") or dc["missed"] or not (A.alive() and B.alive()):
        for cs in (A, B):
            out("--- last lines of %s's log ---" % cs.name)
            out("\n".join(cs.log_lines()[-15:]))
    gone_a = len([ln for ln in A.stream_lines() if "outcome=client_gone" in ln])
    out("")
    out("A logged %d client_gone streams; A alive: %s, B alive: %s"
        % (gone_a, A.alive(), B.alive()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"when": when, "binary": binary, "asan": asan, "args": vars(args),
                       "latency": lat, "ttft": tt, "disconnect": dc}, f)
    up.stop()
    fx.close()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        out("kept %s and %s" % (work, fx.tmp))


if __name__ == "__main__":
    main()
