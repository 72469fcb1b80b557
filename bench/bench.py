#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""bench.py: the chatstream benchmarks (run them with bench/run.sh).

  concurrency  N slow demo streams held open through lighttpd to ONE chatstream;
               chatstream's RSS, threads and fds with all N streaming
  throughput   fast demo streams run to the end; SSE events per chatstream
               CPU-second, through lighttpd and straight over FastCGI
  disconnect   an exec model; the time from the client's close to the
               command's exit, through lighttpd and straight over FastCGI
  metrics      short streams with metrics = off and = any in turn; chatstream
               CPU per stream, and the cost of a scrape

Every process it starts is recorded in WORK/pids and stopped at the end
(run.sh's trap stops whatever is left by those ids).  Python stdlib only.
"""

import argparse
import asyncio
import datetime
import math
import os
import random
import re
import resource
import signal
import socket
import struct
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import sseload  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
SNIPPET = os.path.join(TOP, "conf", "lighttpd-chatstream.conf")


def out(*a):
    print(*a, flush=True)


def note(msg):
    out("  .. " + msg)


# --- processes ----------------------------------------------------------------

class Procs:
    """Starts processes, records their pids, and stops exactly those."""

    def __init__(self, work):
        self.work = work
        self.procs = []
        self.pidfile = os.path.join(work, "pids")

    def start(self, argv, log_path):
        log = open(log_path, "ab")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True)
        log.close()
        self.procs.append(p)
        with open(self.pidfile, "a") as f:
            f.write("%d\n" % p.pid)
        return p

    def stop(self, p, grace=15):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in list(reversed(self.procs)):
            try:
                self.stop(p, grace=5)
            except Exception:   # noqa: BLE001 - cleanup goes on
                pass


# --- /proc --------------------------------------------------------------------

def proc_status(pid):
    d = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "VmSize", "Threads", "RssAnon", "RssFile"):
                d[k] = int(v.split()[0])
    return d


def meminfo(key):
    """A /proc/meminfo figure in KiB (system-wide)."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def proc_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def proc_cpu(pid):
    """utime + stime of the whole process (all threads, living and dead), seconds."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_state(pid):
    """'R', 'S', 'Z', ... or None when the pid is gone (reaped)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return st[st.rindex(")") + 2]


def smaps_breakdown(pid, stack_size):
    """RSS (KiB) of chatstream split into thread stacks, malloc heap/arenas and the rest.
    A thread stack is an anonymous mapping of thread_stack bytes (or that minus
    its guard page, when the guard became its own mapping)."""
    res = {"stacks": 0, "stack_maps": 0, "heap": 0, "other": 0}
    cur = None
    stack_kb = stack_size // 1024
    try:
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                if "-" in line.split(" ", 1)[0] and not line[0].isupper():
                    parts = line.split()
                    lo, hi = (int(x, 16) for x in parts[0].split("-"))
                    size_kb = (hi - lo) // 1024
                    name = parts[5] if len(parts) > 5 else ""
                    if name == "" and stack_kb - 8 <= size_kb <= stack_kb:
                        cur = "stacks"
                        res["stack_maps"] += 1
                    elif name == "[heap]" or (name == "" and size_kb >= 1024):
                        cur = "heap"
                    else:
                        cur = "other"
                elif line.startswith("Rss:") and cur is not None:
                    res[cur] += int(line.split()[1])
    except OSError:
        return None
    return res


# --- servers ------------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_conf(path, glob, models):
    lines = ["# generated by bench/bench.py"]
    lines += ["%s = %s" % kv for kv in glob.items()]
    for name, opts in models.items():
        lines.append("")
        lines.append("[model %s]" % name)
        lines += ["%s = %s" % kv for kv in opts.items()]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def read_text(path):
    """A log file's text so far ("" before it exists)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def banner(title, binary, machine_extra=""):
    """The head of a benchmark's output: when, which binary from which source, what machine."""
    out("%s, %s" % (title, datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")))
    out("binary: %s (%s)" % (binary, subprocess.run(
        [binary, "--version"], capture_output=True, text=True).stdout.strip()))
    rev = subprocess.run(["git", "-C", TOP, "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip()
    if rev:
        out("source: %s at %s (the working tree, as built)" % (TOP, rev))
    out("machine: %d CPUs, %s%s" % (
        os.cpu_count(), open("/proc/meminfo").readline().split(":")[1].strip(), machine_extra))


class Chatstream:
    def __init__(self, bench, name, glob, models, debug=False):
        self.b = bench
        self.conf = os.path.join(bench.work, name + ".conf")
        self.sock = os.path.join(bench.work, name + ".sock")
        self.log = os.path.join(bench.work, name + ".log")
        # The journal as shipped (file), its spool in the scratch directory
        # (the default spool_dir is the system's, under localstatedir).
        g = {"log_format": "text", "shutdown_grace": 1, "backlog": 4096,
             "spool_dir": os.path.join(bench.work, name + ".spool")}
        g.update(glob)
        write_conf(self.conf, g, models)
        chk = subprocess.run([bench.bin, "-c", self.conf, "--check-config"],
                             capture_output=True, text=True)
        if chk.returncode != 0:
            raise RuntimeError("config rejected: " + chk.stdout + chk.stderr)
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        argv = ["spawn-fcgi", "-n", "-b", "4096", "-s", self.sock, "--", bench.bin,
                "-c", self.conf] + (["-d"] if debug else [])
        self.p = bench.procs.start(argv, self.log)
        self.pid = self.p.pid        # spawn-fcgi -n execs chatstream: same pid
        t_end = time.monotonic() + 60
        while time.monotonic() < t_end:
            if "serving FastCGI" in self.read_log() or self.p.poll() is not None:
                break
            time.sleep(0.05)
        text = self.read_log()
        if "serving FastCGI" not in text:
            raise RuntimeError("chatstream did not start:\n" + text[-2000:])
        self.started_line = [ln for ln in text.splitlines() if "serving FastCGI" in ln][0]

    def read_log(self):
        return read_text(self.log)

    def stream_lines(self):
        return [ln for ln in self.read_log().splitlines() if " stream: " in ln]

    def warnings(self):
        return [ln for ln in self.read_log().splitlines() if " warn: " in ln or " fatal: " in ln]

    def stop(self):
        self.b.procs.stop(self.p)


class Lighttpd:
    def __init__(self, bench, name, sock, max_fds, max_conns):
        self.b = bench
        self.port = free_port()
        self.conf = os.path.join(bench.work, name + ".conf")
        self.log = os.path.join(bench.work, name + ".log")
        docroot = os.path.join(bench.work, "www")
        os.makedirs(docroot, exist_ok=True)
        with open(self.conf, "w") as f:
            f.write("\n".join([
                "# generated by bench/bench.py",
                'var.chatstream_mount  = "/chat/"',
                'var.chatstream_socket = "%s"' % sock,
                'server.bind           = "127.0.0.1"',
                "server.port           = %d" % self.port,
                'server.document-root  = "%s"' % docroot,
                'server.errorlog       = "%s"' % self.log,
                "server.max-fds        = %d" % max_fds,
                "server.max-connections = %d" % max_conns,
                "server.listen-backlog = 4096",
                'include "%s"' % SNIPPET, ""]))
        self.p = bench.procs.start(["lighttpd", "-D", "-f", self.conf], self.log)
        self.pid = self.p.pid
        t_end = time.monotonic() + 20
        while time.monotonic() < t_end:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                break
            except OSError:
                if self.p.poll() is not None:
                    break
                time.sleep(0.05)
        else:
            raise RuntimeError("lighttpd did not listen on %d" % self.port)
        if self.p.poll() is not None:
            raise RuntimeError("lighttpd exited:\n" + self.read_log()[-2000:])

    def read_log(self):
        return read_text(self.log)

    def stop(self):
        self.b.procs.stop(self.p)


def kib(x):
    return "%.1f MiB" % (x / 1024.0) if x >= 10240 else "%d KiB" % x


def pct(vals, p):
    if not vals:
        return float("nan")
    v = sorted(vals)
    k = max(0, min(len(v) - 1, int(math.ceil(p / 100.0 * len(v))) - 1))
    return v[k]


def outcomes(lines):
    c = {}
    for ln in lines:
        m = re.search(r" outcome=(\S+)", ln)
        k = m.group(1) if m else "?"
        c[k] = c.get(k, 0) + 1
    return c


def log_time(line):
    """Epoch seconds of a chatstream log line (UTC, ms resolution)."""
    ts = line.split(" ", 1)[0]
    dt = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.replace(tzinfo=datetime.timezone.utc).timestamp()


def summarize(errors):
    return ", ".join("%s: %d" % kv for kv in sorted(errors.items(), key=lambda kv: -kv[1]))


# --- the benchmarks -------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.bin = args.binary
        self.work = args.work
        self.procs = Procs(self.work)
        self.nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.results = {}
        self.rng = random.Random(1)

    # 1. concurrency ---------------------------------------------------------------
    def concurrency(self):
        a = self.args
        out("")
        out("== 1. Concurrency: N slow demo streams (1 token/s) through lighttpd to ONE chatstream")
        out("   fd limit (RLIMIT_NOFILE) of every process here: soft %d, hard %d" % self.nofile)
        # The baseline: chatstream's RSS with the default 64 threads and nothing open.
        base = Chatstream(self, "cs-base", {"threads": 64}, {"demo": {"backend": "demo"}})
        time.sleep(0.5)
        self.base_rss = proc_status(base.pid)["VmRSS"]
        base.stop()
        out("   chatstream idle RSS with threads = 64 (the default): %s" % kib(self.base_rss))
        prev_ok = True
        for n in a.n:
            if not prev_ok:
                out("")
                out("-- N = %d: skipped (N = %d did not hold)" % (n, prev_n))
                continue
            r = self.concurrency_n(n)
            self.results.setdefault("concurrency", []).append(r)
            prev_ok, prev_n = r["held"], n

    def concurrency_n(self, n):
        a = self.args
        out("")
        out("-- N = %d" % n)
        words = a.slow_words
        glob = {"threads": n, "heartbeat": 3600, "write_timeout": 120}
        models = {"slow": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 1,
                           "max_tokens": 1000000}}
        t0 = time.monotonic()
        ks0 = meminfo("KernelStack")
        cs = Chatstream(self, "cs-c%d" % n, glob, models)
        out("   chatstream pid %d: %s (started in %.1f s)" % (
            cs.pid, cs.started_line.split(" info: ", 1)[-1], time.monotonic() - t0))
        time.sleep(1.0)
        idle = proc_status(cs.pid)
        idle_fds = proc_fds(cs.pid)
        idle_smaps = smaps_breakdown(cs.pid, 128 * 1024)
        ks_idle = meminfo("KernelStack")
        stack = 128 * 1024
        # lighttpd holds 2 fds per stream (client + FastCGI socket); one lighttpd
        # cannot hold more than (fd limit - reserve) / 2 of them.
        per_front = (soft_limit(self) - 200) // 2
        fronts = a.fronts or max(1, math.ceil(n / per_front))
        max_conns = math.ceil(n / fronts) + 64
        lts = [Lighttpd(self, "lighttpd-c%d-%d" % (n, i), cs.sock, soft_limit(self), max_conns)
               for i in range(fronts)]
        why = ("" if fronts == 1 else
               " (one lighttpd holds at most ~%d streams: 2 fds each under the fd limit %d)"
               % (per_front, soft_limit(self)))
        out("   lighttpd front(s): %d%s; server.max-fds = %d, server.max-connections = %d each"
            % (fronts, why, soft_limit(self), max_conns))
        time.sleep(0.5)
        lt_idle = sum(proc_status(lt.pid)["VmRSS"] for lt in lts)
        prompt = " ".join("w%d" % (i % 10) for i in range(words))
        req = sseload.http_request_bytes(sseload.chat_body(prompt, "slow"))
        targets = [("tcp", "127.0.0.1", lt.port) for lt in lts]
        res = asyncio.run(self._hold(n, req, targets, cs, lts))
        # Close everything; chatstream logs one line per stream as each one ends.
        t_end = time.monotonic() + 60
        want = res["opened"]
        while time.monotonic() < t_end and len(cs.stream_lines()) < want:
            time.sleep(0.2)
        res["close_s"] = time.monotonic() - res.pop("t_closed")
        res["outcomes"] = outcomes(cs.stream_lines())
        res["cs_warn"] = cs.warnings()
        res["lt_log"] = [ln for lt in lts for ln in lt.read_log().splitlines()
                         if "server started" not in ln and "server stopped" not in ln]
        for lt in lts:
            lt.stop()
        cs.stop()
        res.update(n=n, idle=idle, idle_fds=idle_fds, lt_idle=lt_idle, fronts=fronts,
                   prompt_bytes=len(prompt), idle_smaps=idle_smaps, ks=ks_idle - ks0)
        self.print_concurrency(res, stack)
        return res

    async def _hold(self, n, req, targets, cs, lts):
        a = self.args
        errors = {}
        t0 = time.monotonic()
        ramp_deadline = n / a.rate + 60
        streams = await sseload.open_many(targets, n, req, a.rate, ramp_deadline, errors)
        ramp_s = time.monotonic() - t0
        # Wait for every stream to answer (status + first event) or fail.
        t_end = time.monotonic() + 30 + n / 500.0
        while time.monotonic() < t_end:
            pending = sum(1 for s in streams if s.first_event is None and not s.closed)
            if pending == 0:
                break
            await asyncio.sleep(0.25)
        await asyncio.sleep(a.settle)
        samples = []
        for i in range(3):
            now = time.monotonic()
            live = sum(1 for s in streams if not s.closed and s.last_event is not None
                       and now - s.last_event < 2.5)
            st = proc_status(cs.pid)
            samples.append({
                "streaming": live, "rss": st["VmRSS"],
                "open": sum(1 for s in streams if not s.closed and s.status is not None), "threads": st["Threads"],
                "fds": proc_fds(cs.pid), "hwm": st["VmHWM"],
                "lt_rss": sum(proc_status(lt.pid)["VmRSS"] for lt in lts),
                "lt_fds": sum(proc_fds(lt.pid) for lt in lts),
            })
            if i < 2:
                await asyncio.sleep(1.0)
        smaps = smaps_breakdown(cs.pid, 128 * 1024)
        statuses = {}
        for s in streams:
            k = "HTTP %s" % s.status if s.status is not None else "no answer"
            if s.closed:
                k += " (closed%s)" % (": " + s.error if s.error else "")
            statuses[k] = statuses.get(k, 0) + 1
        events = sum(s.events for s in streams)
        done = sum(1 for s in streams if s.done)
        t_closed = time.monotonic()
        for s in streams:
            s.transport.close()
        await asyncio.sleep(0.2)
        return {"opened": len(streams), "errors": errors, "ramp_s": ramp_s,
                "samples": samples, "smaps": smaps, "statuses": statuses,
                "events": events, "done": done, "t_closed": t_closed}

    def print_concurrency(self, r, stack):
        n = r["n"]
        s = r["samples"][-1]
        live = min(x["streaming"] for x in r["samples"])
        r["held"] = live >= n
        r["live"] = live
        idle_rss = r["idle"]["VmRSS"]
        # Per stream open (answered, not closed) at the last sample: a client
        # too busy to read every stream in time still holds them all open.
        opened = s["open"]
        per = (s["rss"] - idle_rss) / max(opened, 1)
        allin = (s["rss"] - self.base_rss) / max(opened, 1)
        r["per_stream_kib"], r["allin_kib"], r["rss"] = per, allin, s["rss"]
        out("   streams: %d requested at %d/s, %d connected in %.1f s; answers: %s"
            % (n, self.args.rate, r["opened"], r["ramp_s"], summarize(r["statuses"])))
        if r["errors"]:
            out("   connection errors: %s" % summarize(r["errors"]))
        out("   streaming (an event in the last 2.5 s), over 3 samples 1 s apart: %s"
            % " / ".join(str(x["streaming"]) for x in r["samples"]))
        out("   chatstream idle (threads started, no stream): RSS %s, %d threads, %d fds"
            % (kib(idle_rss), r["idle"]["Threads"], r["idle_fds"]))
        out("   chatstream with the streams open:  RSS %s, %d threads, %d fds (peak RSS %s)"
            % (kib(s["rss"]), s["threads"], s["fds"], kib(s["hwm"])))
        out("   RSS per stream = (RSS_with_N - RSS_idle) / streams open (%d) = %.1f KiB   "
            "[target <= 32 KiB]" % (opened, per))
        out("   all-in per stream incl. its idle thread = (RSS_with_N - RSS_idle_64_threads) / "
            "streams = %.1f KiB" % allin)
        out("   idle cost of a started thread = (RSS_idle - RSS_idle_64) / N = %.1f KiB"
            % ((idle_rss - self.base_rss) / n))
        for label, m in (("idle", r["idle_smaps"]), ("streaming", r["smaps"])):
            if m:
                out("   chatstream RSS by mapping, %-9s: thread stacks %s (%d stacks, %.1f KiB "
                    "each), malloc heap+arenas %s, other %s"
                    % (label, kib(m["stacks"]), m["stack_maps"],
                       m["stacks"] / max(m["stack_maps"], 1), kib(m["heap"]), kib(m["other"])))
        if r["smaps"] and r["idle_smaps"]:
            d = {k: (r["smaps"][k] - r["idle_smaps"][k]) / max(opened, 1)
                 for k in ("stacks", "heap", "other")}
            out("   per stream: +%.1f KiB thread stack, +%.1f KiB malloc heap, +%.1f KiB other"
                % (d["stacks"], d["heap"], d["other"]))
        out("   not in RSS: kernel stacks of the threads, KernelStack +%s system-wide "
            "(%.1f KiB per thread)" % (kib(r["ks"]), r["ks"] / (n + 1)))
        out("   lighttpd (%d process%s): RSS %s idle, %s with the streams (%.1f KiB per stream), "
            "%d fds" % (r["fronts"], "" if r["fronts"] == 1 else "es", kib(r["lt_idle"]),
                        kib(s["lt_rss"]), (s["lt_rss"] - r["lt_idle"]) / max(opened, 1),
                        s["lt_fds"]))
        out("   prompt %d bytes; events received while held: %d; streams that finished early: %d"
            % (r["prompt_bytes"], r["events"], r["done"]))
        out("   after the client closed: %d stream log lines in %.1f s, outcomes: %s"
            % (sum(r["outcomes"].values()), r["close_s"], summarize(r["outcomes"])))
        if r["cs_warn"]:
            out("   chatstream warnings (%d), first: %s" % (len(r["cs_warn"]), r["cs_warn"][0]))
        if r["lt_log"]:
            uniq = {}
            for ln in r["lt_log"]:
                k = re.sub(r"^\S+ \S+ ", "", ln)
                k = re.sub(r"\d+", "N", k)
                uniq[k] = uniq.get(k, 0) + 1
            out("   lighttpd error log (%d lines): %s" % (
                len(r["lt_log"]), "; ".join("%dx %s" % (c, k[:160]) for k, c in
                                            sorted(uniq.items(), key=lambda kv: -kv[1])[:4])))
        out("   => N = %d %s" % (n, "HELD: all streams open and streaming" if r["held"] else
                                 "did NOT hold: %d of %d streaming" % (live, n)))

    # 4. metrics -----------------------------------------------------------------
    def metrics(self):
        """Short streams straight to chatstream's socket with metrics = off and
        = any in turn (off, any, off, any, ...): chatstream CPU per request,
        and the cost of a scrape."""
        a = self.args
        out("")
        out("== 4. Metrics: short streams with metrics = off and = any, in turn")
        models = {"fast": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 0}}
        prompt = " ".join("word%d" % i for i in range(a.metrics_words))
        req = sseload.fcgi_request_bytes(sseload.chat_body(prompt, "fast"))
        out("   %d streams per run, %d clients, %d token events each, direct FastCGI, "
            "journal = off; %d rounds" % (a.metrics_streams, a.clients, a.metrics_words, a.metrics_rounds))
        rows = {"off": [], "any": []}
        scrapes = []
        for rnd in range(a.metrics_rounds):
            # Every other round the other way round, lest a drift favour one.
            for mode in ("off", "any") if rnd % 2 == 0 else ("any", "off"):
                cs = Chatstream(self, "cs-metrics-%s-%d" % (mode, rnd),
                                {"threads": max(64, 2 * a.clients), "metrics": mode,
                                 "journal": "off"}, models)
                target = ("unix", cs.sock)
                asyncio.run(sseload.run_to_end(target, req, True, a.clients, a.clients, 60))
                c0 = proc_cpu(cs.pid)
                r = asyncio.run(sseload.run_to_end(target, req, True, a.metrics_streams,
                                                   a.clients, a.tp_timeout))
                r["cpu"] = proc_cpu(cs.pid) - c0
                rows[mode].append(r)
                if mode == "any":
                    c0, t0 = proc_cpu(cs.pid), time.monotonic()
                    n = sum(scrape_once(cs.sock) for _ in range(a.metrics_scrapes))
                    scrapes.append((n, proc_cpu(cs.pid) - c0, time.monotonic() - t0))
                cs.stop()
        out("   %-9s %5s %9s %8s %10s %12s %14s" % ("metrics", "round", "streams ok",
            "wall s", "streams/s", "chatstr CPU s", "CPU per stream"))
        for rnd in range(a.metrics_rounds):
            for mode in ("off", "any"):
                r = rows[mode][rnd]
                out("   %-9s %5d %5d/%-4d %8.2f %10.0f %12.2f %11.1f us"
                    % (mode, rnd + 1, r["ok"], a.metrics_streams, r["wall"],
                       r["streams"] / r["wall"], r["cpu"],
                       1e6 * r["cpu"] / max(r["streams"], 1)))
        per = {m: 1e6 * sum(r["cpu"] for r in v) / max(sum(r["streams"] for r in v), 1)
               for m, v in rows.items()}
        rate = {m: sum(r["streams"] for r in v) / sum(r["wall"] for r in v)
                for m, v in rows.items()}
        out("   all rounds: CPU per stream off %.1f us, any %.1f us (%+.1f us, %+.1f %%); "
            "streams/s off %.0f, any %.0f" % (per["off"], per["any"], per["any"] - per["off"],
                                             100 * (per["any"] - per["off"]) / per["off"],
                                             rate["off"], rate["any"]))
        med = {m: statistics.median(1e6 * r["cpu"] / max(r["streams"], 1) for r in v)
               for m, v in rows.items()}
        out("   median of the rounds: CPU per stream off %.1f us, any %.1f us (%+.1f us)"
            % (med["off"], med["any"], med["any"] - med["off"]))
        n = sum(x[0] for x in scrapes)
        out("   scrapes: %d answered 200, %.0f us chatstream CPU and %.2f ms wall each "
            "(one process, one file)" % (n, 1e6 * sum(x[1] for x in scrapes) / max(n, 1),
                                         1e3 * sum(x[2] for x in scrapes) / max(n, 1)))
        self.results["metrics"] = {"per": per, "rate": rate}

    # 2. throughput ---------------------------------------------------------------
    def throughput(self):
        a = self.args
        out("")
        out("== 2. Throughput: fast demo streams (tokens_per_second = 0) run to the end")
        models = {"fast": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 0,
                           "max_tokens": 10000000}}
        cs = Chatstream(self, "cs-tp", {"threads": max(64, 2 * a.clients), "heartbeat": 15},
                        models)
        lt = Lighttpd(self, "lighttpd-tp", cs.sock, soft_limit(self), 1024)
        prompt = " ".join("word%d" % (i % 100) for i in range(a.fast_words))
        body = sseload.chat_body(prompt, "fast")
        modes = [("lighttpd", ("tcp", "127.0.0.1", lt.port), sseload.http_request_bytes(body),
                  False),
                 ("direct FastCGI", ("unix", cs.sock), sseload.fcgi_request_bytes(body), True)]
        out("   %d streams per run, %d clients in parallel, prompt of %d words (%d bytes), "
            "one SSE event per token" % (a.streams, a.clients, a.fast_words, len(prompt)))
        rows = []
        for name, target, req, fcgi in modes:
            asyncio.run(sseload.run_to_end(target, req, fcgi, a.clients, a.clients, 60))  # warm-up
            nlines = len(cs.stream_lines())
            c0, l0, t0 = proc_cpu(cs.pid), proc_cpu(lt.pid), os.times()
            r = asyncio.run(sseload.run_to_end(target, req, fcgi, a.streams, a.clients,
                                               a.tp_timeout))
            c1, l1, t1 = proc_cpu(cs.pid), proc_cpu(lt.pid), os.times()
            time.sleep(0.3)
            lines = cs.stream_lines()[nlines:]
            logged = sum(int(m.group(1)) for m in
                         (re.search(r" events=(\d+)", ln) for ln in lines) if m)
            r.update(name=name, cs_cpu=c1 - c0, lt_cpu=(l1 - l0) if not fcgi else None,
                     cl_cpu=(t1.user + t1.system) - (t0.user + t0.system), logged=logged,
                     outcomes=outcomes(lines))
            rows.append(r)
        out("   events per stream: %s (meta + tokens + done)" % ", ".join(
            "%s %.0f" % (r["name"], r["events"] / max(r["streams"], 1)) for r in rows))
        out("   %-15s %9s %7s %9s %11s %10s %12s %11s %9s"
            % ("path", "events", "wall s", "events/s", "chatstr CPU", "events per",
               "lighttpd CPU", "client CPU", "streams"))
        out("   %-15s %9s %7s %9s %11s %10s %12s %11s %9s"
            % ("", "", "", "(wall)", "s", "CPU-s", "s", "s", "ok"))
        for r in rows:
            out("   %-15s %9d %7.2f %9.0f %11.2f %10.0f %12s %11.2f %5d/%d"
                % (r["name"], r["events"], r["wall"], r["events"] / r["wall"], r["cs_cpu"],
                   r["events"] / r["cs_cpu"] if r["cs_cpu"] > 0 else float("nan"),
                   "%.2f" % r["lt_cpu"] if r["lt_cpu"] is not None else "-", r["cl_cpu"],
                   r["ok"], a.streams))
        for r in rows:
            extra = ""
            if r["errors"]:
                extra = "; errors: " + summarize(r["errors"])
            out("   %s: chatstream logged %d events for %d streams (%s)%s"
                % (r["name"], r["logged"], sum(r["outcomes"].values()),
                   summarize(r["outcomes"]), extra))
        out("   (2 cores shared by chatstream, lighttpd and this Python client: the wall rate is "
            "bounded by the client; events per chatstream CPU-second is the figure to compare)")
        self.results["throughput"] = rows
        lt.stop()
        cs.stop()

    # 3. disconnect latency ----------------------------------------------------------
    def disconnect(self):
        a = self.args
        out("")
        out("== 3. Disconnect latency: exec model; the client reads a few tokens, then closes")
        piddir = os.path.join(self.work, "child-pids")
        os.makedirs(piddir, exist_ok=True)
        child = "%s %s %s" % (sys.executable, os.path.join(HERE, "slow_child.py"), piddir)
        common = {"backend": "exec", "input": "prompt", "max_duration": 300,
                  "idle_timeout": 60, "kill_grace_ms": 2000}
        models = {"slowexec": dict(common, command="%s %s" % (child, a.child_interval)),
                  "silentexec": dict(common, command="%s %s 1" % (child, a.child_interval))}
        hb = 2
        # reconnect_window = 0: the stream stops when its client leaves (the
        # window's own cost is bench/window.sh's)
        cs = Chatstream(self, "cs-dc", {"threads": 16, "heartbeat": hb, "reconnect_window": 0},
                        models, debug=True)
        lt = Lighttpd(self, "lighttpd-dc", cs.sock, soft_limit(self), 1024)
        out("   command: slow_child.py, a token every %s s (SIGTERM ends it at once); "
            "kill_grace_ms = 2000, heartbeat = %d s" % (a.child_interval, hb))
        out("   the client closes at a random moment within the gap to chatstream's next write "
            "(next token, or heartbeat)")
        http = ("tcp", "127.0.0.1", lt.port)
        plans = [
            ("lighttpd", http, False, "slowexec", a.read_tokens, a.child_interval, a.reps),
            ("direct FastCGI", ("unix", cs.sock), True, "slowexec", a.read_tokens,
             a.child_interval, a.reps),
            ("lighttpd, silent", http, False, "silentexec", 1, hb, min(a.reps, 5)),
        ]
        rows = []
        for name, target, fcgi, model, ntok, gap, reps in plans:
            res = {"name": name, "exit": [], "reap": [], "stopped": [], "logged": [],
                   "outcomes": {}, "fail": []}
            for i in range(reps):
                tag = "%s%d" % (re.sub(r"[^A-Za-z]", "", name)[:8], i)
                try:
                    self.one_disconnect(cs, target, fcgi, model, ntok, gap, tag, piddir, res)
                except Exception as e:   # noqa: BLE001 - reported, the run goes on
                    res["fail"].append("%s: %s" % (tag, e))
            rows.append(res)
        out("   %-16s %4s | %-24s | %-24s | %-24s | %-24s"
            % ("path", "runs", "close -> child exited", "close -> child reaped",
               "chatstream 'stopped X ms'", "close -> stream log line"))
        out("   %-16s %4s | %-24s | %-24s | %-24s | %-24s"
            % ("", "", "p50 / p95 / max ms", "p50 / p95 / max ms", "p50 / p95 / max ms",
               "p50 / p95 / max ms"))

        def f(v):
            if not v:
                return "-"
            return "%.1f / %.1f / %.1f" % (pct(v, 50), pct(v, 95), max(v))
        for r in rows:
            out("   %-16s %4d | %-24s | %-24s | %-24s | %-24s"
                % (r["name"], len(r["exit"]), f(r["exit"]), f(r["reap"]), f(r["stopped"]),
                   f(r["logged"])))
        for r in rows:
            out("   %s: outcomes %s%s" % (r["name"], summarize(r["outcomes"]),
                                          ("; failures: " + "; ".join(r["fail"][:3]))
                                          if r["fail"] else ""))
        out("   target: client close -> child exit <= 50 ms.  lighttpd 1.4 notices a closed client "
            "only when it next writes")
        out("   to it, so through lighttpd the delay is the wait for chatstream's next write: "
            "up to the token interval")
        out("   (%s s) while the model talks, up to the heartbeat (%d s here, 15 s by default) "
            "while it is silent." % (a.child_interval, hb))
        self.results["disconnect"] = rows
        lt.stop()
        cs.stop()

    def one_disconnect(self, cs, target, fcgi, model, ntok, gap, tag, piddir, res):
        body = sseload.chat_body(tag, model)
        req = sseload.fcgi_request_bytes(body) if fcgi else sseload.http_request_bytes(body)
        sock = socket.socket(socket.AF_INET if target[0] == "tcp" else socket.AF_UNIX)
        sock.settimeout(10)
        sock.connect((target[1], target[2]) if target[0] == "tcp" else target[1])
        s = sseload.Stream(req, fcgi=fcgi)
        s.transport = sock
        sock.sendall(req)
        want = 1 + ntok                   # meta + tokens
        t_end = time.monotonic() + 10 + ntok * gap
        while s.events < want and time.monotonic() < t_end:
            data = sock.recv(65536)
            if not data:
                break
            s.data_received(data)
        pidfile = os.path.join(piddir, tag + ".pid")
        if s.events < want or not os.path.exists(pidfile):
            sock.close()
            raise RuntimeError("stream gave %d events, status %s" % (s.events, s.status))
        pid = int(open(pidfile).read())
        if proc_state(pid) in (None, "Z"):
            sock.close()
            raise RuntimeError("child %d not running before the close" % pid)
        # The user closes at a random moment between two tokens.
        time.sleep(self.rng.uniform(0, gap))
        w_close = time.time()
        t_close = time.monotonic()
        sock.close()
        t_exit = t_reap = None
        deadline = t_close + 5
        while True:
            st = proc_state(pid)
            now = time.monotonic()
            if t_exit is None and st in (None, "Z", "X"):
                t_exit = now
            if st is None:
                t_reap = now
                break
            if now > deadline:
                break
            time.sleep(0.0002)
        if t_exit is None:
            raise RuntimeError("child %d still running 5 s after the close" % pid)
        res["exit"].append((t_exit - t_close) * 1000)
        if t_reap is not None:
            res["reap"].append((t_reap - t_close) * 1000)
        # chatstream's own lines: "exec: pid N stopped X ms after the stop" and the stream line.
        line = stopped = None
        t_end = time.monotonic() + 5
        while time.monotonic() < t_end and (line is None or stopped is None):
            text = cs.read_log()
            m = re.search(r"exec: pid %d stopped (\d+) ms after the stop" % pid, text)
            if m:
                stopped = int(m.group(1))
            if s.stream_id:
                for ln in text.splitlines():
                    if " stream: id=%s " % s.stream_id in ln:
                        line = ln
            time.sleep(0.02)
        if stopped is not None:
            res["stopped"].append(float(stopped))
        if line is not None:
            res["logged"].append((log_time(line) - w_close) * 1000)
            o = re.search(r" outcome=(\S+)", line)
            k = o.group(1) if o else "?"
            res["outcomes"][k] = res["outcomes"].get(k, 0) + 1
        os.unlink(pidfile)


def scrape_once(sock):
    """GET /metrics over FastCGI on sock; 1 when it answered 200, else 0."""
    params = [("REQUEST_METHOD", "GET"), ("SCRIPT_NAME", "/chat"), ("PATH_INFO", "/metrics"),
              ("REQUEST_URI", "/chat/metrics"), ("QUERY_STRING", ""),
              ("REMOTE_ADDR", "127.0.0.1"), ("SERVER_PROTOCOL", "HTTP/1.1")]
    req = (sseload._record(sseload.FCGI_BEGIN_REQUEST,
                           struct.pack("!HB5x", sseload.FCGI_RESPONDER, 0))
           + sseload._record(sseload.FCGI_PARAMS, b"".join(sseload._nv(k, v) for k, v in params))
           + struct.pack("!BBHHBB", 1, sseload.FCGI_PARAMS, 1, 0, 0, 0)
           + struct.pack("!BBHHBB", 1, sseload.FCGI_STDIN, 1, 0, 0, 0))
    data = b""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(10)
        c.connect(sock)
        c.sendall(req)
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    return 1 if b"Status: 200" in data and b"chatstream_requests_total" in data else 0


def soft_limit(b):
    return b.nofile[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--only", default="concurrency,throughput,disconnect,metrics")
    ap.add_argument("-n", "--n", default="1000,10000",
                    help="stream counts for the concurrency test (default 1000,10000)")
    ap.add_argument("--rate", type=float, default=1000, help="new streams per second (1000)")
    ap.add_argument("--settle", type=float, default=3, help="seconds held before sampling (3)")
    ap.add_argument("--fronts", type=int, default=0,
                    help="lighttpd processes in front (default: as few as the fd limit allows)")
    ap.add_argument("--slow-words", type=int, default=300,
                    help="prompt words of a slow stream = seconds it lasts (300)")
    ap.add_argument("--streams", type=int, default=1500,
                    help="throughput: streams per run (1500)")
    ap.add_argument("--clients", type=int, default=8, help="throughput: parallel clients (8)")
    ap.add_argument("--fast-words", type=int, default=2000,
                    help="throughput: prompt words = token events per stream (2000)")
    ap.add_argument("--tp-timeout", type=float, default=120)
    ap.add_argument("--reps", type=int, default=20, help="disconnect: repetitions per path (20)")
    ap.add_argument("--read-tokens", type=int, default=3)
    ap.add_argument("--child-interval", type=float, default=0.5,
                    help="disconnect: seconds between the command's tokens (0.5)")
    ap.add_argument("--metrics-streams", type=int, default=3000,
                    help="metrics: short streams per run (3000)")
    ap.add_argument("--metrics-words", type=int, default=20,
                    help="metrics: token events per short stream (20)")
    ap.add_argument("--metrics-rounds", type=int, default=6,
                    help="metrics: runs with metrics off and on, in turn (6)")
    ap.add_argument("--metrics-scrapes", type=int, default=200,
                    help="metrics: scrapes timed after each run with metrics on (200)")
    args = ap.parse_args()
    args.n = [int(x) for x in args.n.split(",") if x.strip()]
    only = set(args.only.split(","))

    def on_term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    b = Bench(args)
    banner("chatstream benchmarks", args.binary, "; lighttpd %s" % subprocess.run(
        ["lighttpd", "-v"], capture_output=True, text=True).stdout.split()[0])
    env = " ".join("%s=%s" % kv for kv in sorted(os.environ.items())
                   if kv[0].startswith(("MALLOC_", "GLIBC_TUNABLES")))
    if env:
        out("environment passed to chatstream: " + env)
    t0 = time.monotonic()
    rc = 0
    try:
        for name in ("concurrency", "throughput", "disconnect", "metrics"):
            if name in only:
                try:
                    with open("/proc/loadavg") as f:
                        load = " ".join(f.read().split()[:3])
                    out("")
                    out("[load average before %s: %s; other processes on the machine share its "
                        "2 CPUs]" % (name, load))
                    getattr(b, name)()
                except Exception as e:  # noqa: BLE001 - one benchmark failing ends only itself
                    out("   !! %s failed: %s: %s" % (name, type(e).__name__, e))
                    rc = 1
                finally:
                    b.procs.stop_all()
    except KeyboardInterrupt as e:
        out("interrupted (%s)" % (e or "SIGINT"))
        rc = 130
    finally:
        b.procs.stop_all()
    out("")
    out("total time %.0f s; logs and configs in %s" % (time.monotonic() - t0, args.work))
    return rc


if __name__ == "__main__":
    sys.exit(main())
