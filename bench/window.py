#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""window.py: what the reconnect window costs (run it with bench/window.sh).

A stream whose reader leaves goes on, journaled, for the reconnect window, in
case the client comes back; when nobody does, everything made in that time
is made for nobody.  For each window (reconnect_window = 0, and the default
derived from retry_ms) and each model, STREAMS clients open a stream
straight over FastCGI (closing the connection is the client leaving, as
nginx does), read the meta event and READ tokens, and close without a word.
Nobody comes back.  Figures per abandoned stream:

  tokens after   token events made after the client left (the producer's
                 logged events minus those the client had, minus the closing
                 done event)
  s after        seconds from the client leaving to the stream's end (its
                 log line; outcome=client_gone detail=abandoned)
  chatstream CPU chatstream's own utime + stime (/proc/PID/stat) from the
                 clients leaving to the last stream's end, per stream
  model CPU      exec model only: the children's CPU (cutime + cstime of
                 chatstream, counted when each child is reaped) over the run,
                 per stream; the window's cost is the difference to window 0

Models: `demo` at the shipped pace (ttft_ms 300, 20 tokens/s, an answer
longer than any window), and `exec` running bench/burn_child.py, a stand-in
for a local model that spends BURN ms of CPU per token at 20 tokens/s.
Reuses bench.py's process handling and sseload.py's FastCGI client.
"""
import argparse
import os
import re
import signal
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sseload  # noqa: E402
from bench import CLK_TCK, Chatstream, Procs, banner, log_time, outcomes, summarize  # noqa: E402


def out(*a):
    print(*a, flush=True)


def child_cpu(pid):
    """cutime + cstime of pid: the CPU of its reaped children, seconds."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return (int(fields[13]) + int(fields[14])) / CLK_TCK


def own_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class WindowBench:
    def __init__(self, args):
        self.args = args
        self.bin = args.binary
        self.work = args.work
        self.procs = Procs(self.work)

    def models(self):
        return {
            "demo": {"backend": "demo", "ttft_ms": 300, "tokens_per_second": 20,
                     "max_tokens": 100000},
            "exec": {"backend": "exec",
                     "command": "%s %s 0.05 %g" % (sys.executable,
                                                   os.path.join(HERE, "burn_child.py"),
                                                   self.args.burn_ms)},
        }

    def run(self, window, model):
        a = self.args
        glob = {"threads": a.streams + 8, "heartbeat": 15, "retry_ms": a.retry_ms}
        if window != "default":
            glob["reconnect_window"] = int(window)
        name = "w%s-%s" % (window, model)
        cs = Chatstream(self, name, glob, self.models())
        try:
            return self.measure(cs, model)
        finally:
            self.procs.stop(cs.p)

    def measure(self, cs, model):
        a = self.args
        prompt = " ".join("w%d" % i for i in range(a.words))
        req = sseload.fcgi_request_bytes(sseload.chat_body(prompt, model))
        socks = []
        cpu0 = child_cpu(cs.pid)
        for _ in range(a.streams):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(30)
            s.connect(cs.sock)
            s.sendall(req)
            socks.append((s, sseload.Stream(req, fcgi=True)))
        want = 1 + a.read
        for s, st in socks:
            t_end = time.monotonic() + 30
            while st.events < want and time.monotonic() < t_end:
                data = s.recv(65536)
                if not data:
                    break
                st.data_received(data)
            if st.events < want:
                raise RuntimeError("a stream gave %d events, status %s" % (st.events, st.status))
        wall_left = time.time()
        own_left = own_cpu(cs.pid)
        for s, _ in socks:
            s.close()
        ids = {st.stream_id: st.events for _, st in socks}
        t_end = time.monotonic() + a.timeout
        lines = {}
        while time.monotonic() < t_end and len(lines) < len(ids):
            for ln in cs.stream_lines():
                m = re.search(r" stream: id=(\S+) ", ln)
                if m and m.group(1) in ids and "method=POST" in ln:
                    lines[m.group(1)] = ln
            time.sleep(0.1)
        own_end = own_cpu(cs.pid)
        # The exec children are reaped as their streams end.
        time.sleep(0.5)
        cpu_end = child_cpu(cs.pid)
        after, secs = [], []
        for sid, got in ids.items():
            ln = lines.get(sid)
            if ln is None:
                continue
            m = re.search(r" events=(\d+)", ln)
            if m:
                after.append(int(m.group(1)) - got - 1)
            secs.append(log_time(ln) - wall_left)
        n = len(ids)
        return {
            "streams": n, "ended": len(lines),
            "outcomes": outcomes(lines.values()),
            "tokens_after": statistics.mean(after) if after else float("nan"),
            "s_after": statistics.median(secs) if secs else float("nan"),
            "own_cpu": (own_end - own_left) / n,
            "model_cpu": (cpu_end - cpu0) / n,
        }


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--windows", default="0,default",
                    help="reconnect_window values, seconds or 'default' (0,default)")
    ap.add_argument("--models", default="demo,exec", help="demo,exec")
    ap.add_argument("--streams", type=int, default=10, help="abandoned streams per run (10)")
    ap.add_argument("--read", type=int, default=3, help="tokens a client reads before leaving (3)")
    ap.add_argument("--words", type=int, default=2000,
                    help="prompt words: the demo answer outlasts any window (2000)")
    ap.add_argument("--retry-ms", type=int, default=3000, help="retry_ms, as shipped (3000)")
    ap.add_argument("--burn-ms", type=float, default=5,
                    help="exec model: CPU milliseconds per token (5; 20 tokens/s)")
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()

    def on_term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    banner("chatstream reconnect-window benchmark", args.binary)
    out("retry_ms %d (default window: 3 x retry_ms + 5 s = %.0f s); %d streams per run, each "
        "left after meta + %d tokens; nobody comes back"
        % (args.retry_ms, (3 * args.retry_ms + 5000) / 1000.0, args.streams, args.read))
    b = WindowBench(args)
    rows = []
    try:
        for model in args.models.split(","):
            for w in args.windows.split(","):
                r = b.run(w.strip(), model.strip())
                rows.append((model, w, r))
                out("  .. %s, window %s: %d/%d ended (%s)" % (
                    model, w, r["ended"], r["streams"], summarize(r["outcomes"])))
    finally:
        b.procs.stop_all()
    out("")
    out("%-6s %-9s %14s %9s %16s %11s" % ("model", "window", "tokens after", "s after",
                                          "chatstream CPU", "model CPU"))
    base = {m: r["model_cpu"] for m, w, r in rows if w.strip() == "0"}
    for model, w, r in rows:
        extra = ""
        if model == "exec" and model in base and w.strip() != "0":
            extra = "  (+%.3f s over window 0)" % (r["model_cpu"] - base[model])
        out("%-6s %-9s %14.1f %9.2f %14.4f s %9.3f s%s" % (
            model, w, r["tokens_after"], r["s_after"], r["own_cpu"],
            r["model_cpu"] if model == "exec" else float("nan"), extra))
    out("(per abandoned stream; model CPU only for exec)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
