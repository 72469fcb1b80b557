#!/usr/bin/env python3
"""journal.py: what the stream journal costs (run it with bench/journal.sh).

  throughput  fast demo streams run to the end straight over FastCGI (no front
              server) to three chatstream processes: `journal = off`,
              `journal = file` (spool on /tmp's filesystem, like the default
              spool_dir) and `journal = file` with its spool on tmpfs, in
              rotating order for several rounds; SSE events per chatstream
              CPU-second (utime + stime from /proc/PID/stat), medians, ratios
  bytes       size of each stream's journal (<spool_dir>/<id>; <spool_dir>/<id>/events
              before the one-file layout) divided by the stream's token events
  reconnect   time from a reconnect (GET /streams/<id> with Last-Event-ID) to
              the first replayed event, on a finished and on a live stream;
              and how far a follower lags behind the producer's own connection
  redis       not built: reported as such

Reuses bench.py's process handling (Procs, Chatstream: spawn-fcgi -n on a unix
socket) and sseload.py's FastCGI client.  Every process it starts is recorded in
WORK/pids and stopped at the end.  Python stdlib only.
"""

import argparse
import asyncio
import datetime
import os
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import sseload  # noqa: E402
from bench import CLK_TCK, Chatstream, Procs, outcomes, pct, summarize  # noqa: E402


def out(*a):
    print(*a, flush=True)


def cpu_split(pid):
    """(utime, stime) of the whole process (all threads), seconds."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def fstype(path):
    """The filesystem type of path; for ext4, whether it has a journal (without one,
    ext4 does not reuse an inode for 60 s after its deletion, and creating files
    gets slower the more files the whole filesystem deleted in the last minute)."""
    lines = subprocess.run(["df", "-T", path], capture_output=True, text=True).stdout.split("\n")
    if len(lines) < 2 or not lines[1]:
        return "?"
    dev, fs = lines[1].split()[:2]
    if fs == "ext4":
        try:
            with open("/sys/fs/ext4/%s/journal_task" % os.path.basename(dev)) as f:
                if f.read().strip() == "<none>":
                    fs += " without a journal: recently deleted inodes are not reused"
        except OSError:
            pass
    return fs


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def journal_file(spool, name):
    """(path of stream `name`'s journal, whether the stream ended), in either layout:
    one file <id>, made read-only when the stream ends; or (before) a directory
    <id>/ with events and, once ended, an empty `ended`.  (None, False) for
    anything else (<id>.cancel, <id>.expired)."""
    p = os.path.join(spool, name)
    if "." in name or not os.path.exists(p):
        return None, False
    if os.path.isdir(p):
        ev = os.path.join(p, "events")
        return (ev if os.path.exists(ev) else None), os.path.exists(os.path.join(p, "ended"))
    return p, not os.stat(p).st_mode & 0o200


# --- FastCGI requests of any method (sseload's records, its params) -------------

def fcgi_request(method, path, body=b"", headers=()):
    """A whole FastCGI request (keep_conn = 0) with the params lighttpd 1.4.69
    sends for a mount of /chat/; headers: (name, value) as HTTP_* params."""
    uri = sseload.MOUNT + path
    params = [
        ("CONTENT_LENGTH", str(len(body))), ("QUERY_STRING", ""), ("REQUEST_URI", uri),
        ("REDIRECT_STATUS", "200"), ("SCRIPT_NAME", uri),
        ("SCRIPT_FILENAME", "/nonexistent" + uri), ("DOCUMENT_ROOT", "/nonexistent"),
        ("REQUEST_METHOD", method), ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("SERVER_SOFTWARE", "chatstream-bench"), ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("REQUEST_SCHEME", "http"), ("SERVER_PORT", "80"), ("SERVER_ADDR", "127.0.0.1"),
        ("SERVER_NAME", "127.0.0.1"), ("REMOTE_ADDR", "127.0.0.1"),
        ("REMOTE_PORT", "40000"), ("HTTP_HOST", "127.0.0.1"),
    ]
    if body:
        params.append(("CONTENT_TYPE", "application/json"))
    params += [("HTTP_" + k.upper().replace("-", "_"), v) for k, v in headers]
    p = b"".join(sseload._nv(k, v) for k, v in params)
    end = lambda t: struct.pack("!BBHHBB", 1, t, 1, 0, 0, 0)  # noqa: E731
    return (sseload._record(sseload.FCGI_BEGIN_REQUEST,
                            struct.pack("!HB5x", sseload.FCGI_RESPONDER, 0))
            + sseload._record(sseload.FCGI_PARAMS, p) + end(sseload.FCGI_PARAMS)
            + (sseload._record(sseload.FCGI_STDIN, body) if body else b"")
            + end(sseload.FCGI_STDIN))


class Reader:
    """One FastCGI request whose answer is read event by event, with the time
    (monotonic) each event's last byte arrived.  For the latency parts: a few
    streams at a time, so clarity beats speed here."""

    def __init__(self, sock):
        self.sock = sock
        self.r = self.w = None
        self.rbuf = b""
        self.body = b""
        self.head = None          # dict of the response head, once read
        self.status = None
        self.ended = False        # END_REQUEST or EOF
        self.t_open = None

    async def open(self, request):
        self.t_open = time.monotonic()
        self.r, self.w = await asyncio.open_unix_connection(self.sock)
        self.w.write(request)
        await self.w.drain()

    async def _more(self):
        """Reads once; appends the STDOUT content to body.  False at the end."""
        if self.ended:
            return False
        data = await self.r.read(65536)
        if not data:
            self.ended = True
            return False
        self.rbuf += data
        pos = 0
        while len(self.rbuf) - pos >= 8:
            _, rtype, _, clen, pad, _ = struct.unpack_from("!BBHHBB", self.rbuf, pos)
            if pos + 8 + clen + pad > len(self.rbuf):
                break
            if rtype == sseload.FCGI_STDOUT:
                self.body += self.rbuf[pos + 8:pos + 8 + clen]
            elif rtype == sseload.FCGI_END_REQUEST:
                self.ended = True
            pos += 8 + clen + pad
        self.rbuf = self.rbuf[pos:]
        return True

    async def read_head(self):
        while self.head is None:
            sep = self.body.find(b"\r\n\r\n")
            if sep >= 0:
                head, self.body = self.body[:sep], self.body[sep + 4:]
                self.head = {}
                for ln in head.split(b"\r\n"):
                    k, _, v = ln.partition(b":")
                    self.head[k.strip().lower().decode()] = v.strip().decode()
                self.status = int(self.head.get("status", "200").split()[0])
                break
            if not await self._more():
                raise EOFError("no response head")
        return self.status

    async def next_event(self):
        """(id, name, time) of the next SSE event, or None at the end."""
        await self.read_head()
        while True:
            sep = self.body.find(b"\n\n")
            while sep >= 0:
                block, self.body = self.body[:sep], self.body[sep + 2:]
                eid, name = None, "message"
                for ln in block.split(b"\n"):
                    if ln.startswith(b"id: "):
                        eid = int(ln[4:])
                    elif ln.startswith(b"event: "):
                        name = ln[7:].decode()
                if eid is not None or name == "error":
                    return eid, name, time.monotonic()
                sep = self.body.find(b"\n\n")      # retry:/comment blocks
            if not await self._more():
                return None

    def close(self):
        if self.w is not None:
            self.w.close()


# --- the benchmark ----------------------------------------------------------------

class JournalBench:
    def __init__(self, args):
        self.args = args
        self.bin = args.binary
        self.work = args.work
        self.procs = Procs(self.work)
        self.results = {}
        # Journal settings compared: (key, label, spool directory or None).  Each
        # spool is a fresh directory, removed at the end.
        self.modes = [("off", "off", None),
                      ("file", "file", tempfile.mkdtemp(prefix="spool.",
                                                        dir=args.spool_in or self.work))]
        if args.tmpfs_in and os.access(args.tmpfs_in, os.W_OK):
            self.modes.append(("tmpfs", "file, tmpfs",
                               tempfile.mkdtemp(prefix="chatstream-jbench-spool.",
                                                dir=args.tmpfs_in)))
        if args.compare_binary:
            # The same `file` settings run by another build (one from before a change,
            # say), side by side in the same rounds: load drifts between runs.
            self.modes += [(k + "-cmp", lab + " (cmp)",
                            tempfile.mkdtemp(prefix=os.path.basename(sp).split(".")[0] + "-cmp.",
                                             dir=os.path.dirname(sp)))
                           for k, lab, sp in self.modes[1:]]
        self.spool = self.modes[1][2]       # the `file` journal the other parts use
        self.label = {k: lab for k, lab, _ in self.modes}

    def spools(self):
        return [sp for _, _, sp in self.modes if sp is not None]

    def models(self):
        return {
            "fast": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 0,
                     "max_tokens": 10000000},
            "live": {"backend": "demo", "ttft_ms": 0,
                     "tokens_per_second": self.args.live_tps, "max_tokens": 10000000,
                     "on_disconnect": "continue", "grace": 30},
        }

    def start(self):
        common = {"threads": 64, "heartbeat": 15}
        self.cs = {}
        for key, label, spool in self.modes:
            g = dict(common, journal="off") if spool is None else dict(
                common, journal="file", spool_dir=spool, journal_ttl=300,
                journal_max_bytes="16M")
            self.bin = self.args.compare_binary if key.endswith("-cmp") else self.args.binary
            self.cs[key] = Chatstream(self, "cs-" + key, g, self.models())
            self.bin = self.args.binary
        for key, label, spool in self.modes:
            cs = self.cs[key]
            out("   chatstream journal = %-11s pid %d%s: %s" % (
                label, cs.pid, "" if spool is None else ", spool_dir %s (%s)" % (
                    spool, fstype(spool)), cs.started_line.split(" info: ", 1)[-1]))
            if key.endswith("-cmp"):
                out("      binary %s" % self.args.compare_binary)

    # 1. throughput ----------------------------------------------------------------
    def throughput(self):
        a = self.args
        keys = [k for k, _, _ in self.modes]
        out("")
        out("== 1. Throughput: fast demo streams straight over FastCGI, journal %s"
            % " vs ".join(self.label[k] for k in keys))
        out("   %d rounds; each round runs every shape once per journal setting, the order "
            "rotating per round; %d clients in parallel; the spools are not emptied between "
            "runs (journal_ttl = 300)" % (a.rounds, a.clients))
        shapes = []
        for label, words, streams in (("long", a.words, a.streams),
                                      ("short", a.short_words, a.short_streams)):
            if streams <= 0:
                continue
            prompt = " ".join("word%d" % (i % 100) for i in range(words))
            req = sseload.fcgi_request_bytes(sseload.chat_body(prompt, "fast"))
            shapes.append((label, words, streams, req))
        runs = {(s[0], m): [] for s in shapes for m in keys}
        # Warm-up: a few streams of each shape on each process.
        for label, words, streams, req in shapes:
            for m in keys:
                asyncio.run(sseload.run_to_end(("unix", self.cs[m].sock), req, True,
                                               a.clients, a.clients, 60))
        seq = 0
        for rnd in range(a.rounds):
            order = keys[rnd % len(keys):] + keys[:rnd % len(keys)]
            for label, words, streams, req in shapes:
                for m in order:
                    before = set(os.listdir(self.spool)) if m == "file" else None
                    r = self.one_run(m, req, streams)
                    r["round"], r["seq"], r["mode"] = rnd + 1, seq, m
                    seq += 1
                    runs[(label, m)].append(r)
                    if m == "file" and (label, "bytes") not in self.results:
                        self.results[(label, "bytes")] = self.journal_bytes(
                            set(os.listdir(self.spool)) - before)
            out("   round %d/%d done (order %s; load average %s)" % (
                rnd + 1, a.rounds, ", ".join(self.label[m] for m in order), loadavg()))
        self.results["throughput"] = (shapes, runs)
        self.print_throughput(shapes, runs, keys)

    def one_run(self, mode, req, streams):
        a = self.args
        cs = self.cs[mode]
        nlines = len(cs.stream_lines())
        u0, s0 = cpu_split(cs.pid)
        r = asyncio.run(sseload.run_to_end(("unix", cs.sock), req, True, streams, a.clients,
                                           a.tp_timeout))
        u1, s1 = cpu_split(cs.pid)
        t_end = time.monotonic() + 5
        while time.monotonic() < t_end and len(cs.stream_lines()) < nlines + r["streams"]:
            time.sleep(0.05)
        lines = cs.stream_lines()[nlines:]
        r["logged"] = sum(int(m.group(1)) for m in
                          (re.search(r" events=(\d+)", ln) for ln in lines) if m)
        r["outcomes"] = outcomes(lines)
        r["utime"], r["stime"] = u1 - u0, s1 - s0
        r["cpu"] = r["utime"] + r["stime"]
        r["eps"] = r["events"] / r["cpu"] if r["cpu"] > 0 else float("nan")
        return r

    def journal_bytes(self, names):
        """Journal size per token event over the streams `names` of the spool."""
        res = {"streams": 0, "bytes": 0, "tokens": 0, "records": 0, "frame_tok": 0,
               "head_tok": 0, "du_kb": 0}
        for name in sorted(names):
            d = os.path.join(self.spool, name)
            path, ended = journal_file(self.spool, name)
            if path is None or not ended:
                continue
            with open(path, "rb") as f:
                data = f.read()
            pos = 0
            while pos < len(data):
                nl = data.index(b"\n", pos)
                _, rname, ln = data[pos:nl].split(b" ")
                ln = int(ln)
                res["records"] += 1
                if rname == b"message":
                    res["tokens"] += 1
                    res["frame_tok"] += ln
                    res["head_tok"] += nl + 1 - pos
                pos = nl + 1 + ln
            res["streams"] += 1
            res["bytes"] += len(data)
            res["du_kb"] += int(subprocess.run(["du", "-sk", d], capture_output=True,
                                               text=True).stdout.split()[0])
        return res

    def print_throughput(self, shapes, runs, keys):
        out("")
        med = statistics.median
        fit = {}
        for label, words, streams, _ in shapes:
            allr = sorted((r for m in keys for r in runs[(label, m)]), key=lambda r: r["seq"])
            ev = med(r["events"] / max(r["streams"], 1) for r in allr)
            out("   -- %s streams: %d-word prompt, %.0f events each (meta + tokens + done), "
                "%d streams per run" % (label, words, ev, streams))
            out("   %-5s %-11s %9s %7s %9s %7s %7s %7s %12s %9s" % (
                "round", "journal", "events", "wall s", "ev/s wall", "CPU s", "user s", "sys s",
                "ev per CPU-s", "ok"))
            for r in allr:
                out("   %-5d %-11s %9d %7.2f %9.0f %7.2f %7.2f %7.2f %12.0f %5d/%d" % (
                    r["round"], self.label[r["mode"]], r["events"], r["wall"],
                    r["events"] / r["wall"], r["cpu"], r["utime"], r["stime"], r["eps"], r["ok"],
                    streams))
            off = runs[(label, "off")]
            m_off = med(r["eps"] for r in off)
            for m in keys:
                rs = runs[(label, m)]
                us = lambda k: med(1e6 * r[k] / r["events"] for r in rs)  # noqa: E731
                out("   %-11s median %7.0f events per chatstream CPU-s (min %.0f, max %.0f); "
                    "CPU per event %.2f us = user %.2f + sys %.2f" % (
                        self.label[m], med(r["eps"] for r in rs), min(r["eps"] for r in rs),
                        max(r["eps"] for r in rs), us("cpu"), us("utime"), us("stime")))
                fit.setdefault(m, []).append(
                    (ev, med(1e6 * r["cpu"] / max(r["streams"], 1) for r in rs)))
            for m in keys[1:]:
                rs = runs[(label, m)]
                m_j = med(r["eps"] for r in rs)
                paired = med(j["eps"] / o["eps"] for o, j in zip(off, rs))
                cost = 1 - m_j / m_off
                out("   ** %s, journal = %s: %s/off = %.3f (median of the per-round ratios %.3f):"
                    " it costs %.1f %% of the unjournaled throughput (target <= 10 %%: %s)" % (
                        label, self.label[m], self.label[m], m_j / m_off, paired, 100 * cost,
                        "met" if cost <= 0.10 else "NOT met"))
            errs, outc, agree, n = {}, {}, 0, 0
            for r in allr:
                n += 1
                agree += r["logged"] == r["events"]
                for k, v in r["errors"].items():
                    errs[k] = errs.get(k, 0) + v
                for k, v in r["outcomes"].items():
                    outc[k] = outc.get(k, 0) + v
            out("   chatstream logged: %s; events in its log = client's count in %d/%d runs%s" % (
                summarize(outc), agree, n, ("; errors: " + summarize(errs)) if errs else ""))
            b = self.results.get((label, "bytes"))
            if b and b["tokens"]:
                out("   ** journal bytes per token: %.1f (events files %d bytes / %d token "
                    "events, %d streams)" % (b["bytes"] / b["tokens"], b["bytes"], b["tokens"],
                                             b["streams"]))
                out("      a token record = %.1f bytes of SSE frame (what the client gets) + %.1f "
                    "bytes of record head; on disk (du) %.0f KiB per stream, "
                    "%.1f bytes per token" % (
                        b["frame_tok"] / b["tokens"], b["head_tok"] / b["tokens"],
                        b["du_kb"] / b["streams"], b["du_kb"] * 1024.0 / b["tokens"]))
            out("")
        if len(shapes) == 2:
            # CPU per stream = fixed + per_event * events, from the two shapes' medians.
            out("   CPU per stream split into a fixed part and a part per event (from the two "
                "shapes' medians):")
            base = None
            for m in keys:
                (e1, c1), (e2, c2) = fit[m]
                per_ev = (c1 - c2) / (e1 - e2)
                fixed = c2 - per_ev * e2
                extra = "" if base is None else "  (journal adds %+.2f us per event, %+.0f us " \
                    "per stream)" % (per_ev - base[0], fixed - base[1])
                base = base or (per_ev, fixed)
                out("   %-11s %.2f us per event + %.0f us per stream%s" % (
                    self.label[m], per_ev, fixed, extra))

    # 2. reconnect ------------------------------------------------------------------
    def reconnect(self):
        a = self.args
        out("")
        out("== 2. Reconnect: GET /streams/<id> with Last-Event-ID to the first replayed event "
            "(journal = file, direct FastCGI)")
        out("   timed from the start of connect() to the arrival of the first event's bytes; "
            "%d repetitions per row" % a.reps)
        self.rows = []
        asyncio.run(self._finished())
        asyncio.run(self._live())
        asyncio.run(self._follow())
        out("   %-52s %8s %8s %8s %8s  %s" % ("case", "p50 ms", "p95 ms", "max ms", "min ms",
                                              "check"))
        for name, vals, check in self.rows:
            out("   %-52s %8.2f %8.2f %8.2f %8.2f  %s" % (
                name, pct(vals, 50), pct(vals, 95), max(vals), min(vals), check))
        self.results["reconnect"] = self.rows

    async def _post(self, model, words):
        prompt = " ".join("word%d" % (i % 100) for i in range(words))
        rd = Reader(self.cs["file"].sock)
        await rd.open(sseload.fcgi_request_bytes(sseload.chat_body(prompt, model)))
        await rd.read_head()
        return rd, rd.head.get("x-stream-id")

    def _get(self, sid, last):
        hdr = [("Accept", "text/event-stream")]
        if last is not None:
            hdr.append(("Last-Event-ID", str(last)))
        return fcgi_request("GET", "streams/" + sid, headers=hdr)

    async def _finished(self):
        a = self.args
        # A finished stream: the same shape as the long throughput streams.
        rd, sid = await self._post("fast", a.words)
        n = 0
        while await rd.next_event() is not None:
            n += 1
        rd.close()
        out("   finished stream %s: %d events, journal %d bytes" % (
            sid, n, os.path.getsize(journal_file(self.spool, sid)[0])))
        cases = [("finished, Last-Event-ID 1 (replay %d events)" % (n - 1), 1),
                 ("finished, Last-Event-ID %d (replay %d)" % (n // 2, n - n // 2), n // 2),
                 ("finished, Last-Event-ID %d (replay only done)" % (n - 1), n - 1)]
        for name, k in cases:
            first, whole, bad = [], [], 0
            for _ in range(a.reps):
                g = Reader(self.cs["file"].sock)
                await g.open(self._get(sid, k))
                ev = await g.next_event()
                if ev is None or ev[0] != k + 1:
                    bad += 1
                else:
                    first.append(1000 * (ev[2] - g.t_open))
                last = ev
                while ev is not None:
                    last, ev = ev, await g.next_event()
                if last is not None and last[1] == "done":
                    whole.append(1000 * (last[2] - g.t_open))
                g.close()
            self.rows.append((name, first, "first id = %d in %d/%d" % (k + 1, len(first), a.reps)))
            if k < n // 2:
                self.rows.append(("  ... to its last event (done)", whole,
                                  "done in %d/%d" % (len(whole), a.reps)))
        t204 = []
        for _ in range(a.reps):
            g = Reader(self.cs["file"].sock)
            await g.open(self._get(sid, n))
            st = await g.read_head()
            if st == 204:
                t204.append(1000 * (time.monotonic() - g.t_open))
            g.close()
        self.rows.append(("finished, Last-Event-ID %d (after done: 204)" % n, t204,
                          "204 in %d/%d" % (len(t204), a.reps)))

    async def _live(self):
        """The client's connection drops after k events; it reconnects `gap` later,
        while the stream is still being generated (on_disconnect = continue)."""
        a = self.args
        k = 5
        first, caught, checks = [], [], 0
        for _ in range(a.reps):
            rd, sid = await self._post("live", a.live_words)
            for _ in range(k):
                await rd.next_event()
            rd.close()
            await asyncio.sleep(a.gap)
            g = Reader(self.cs["file"].sock)
            await g.open(self._get(sid, k))
            ev = await g.next_event()
            if ev is not None and ev[0] == k + 1:
                first.append(1000 * (ev[2] - g.t_open))
                checks += 1
            # The events journaled during the gap come in the same burst.
            missed = int(a.gap * a.live_tps) - 1
            while ev is not None and ev[0] < k + 1 + missed:
                ev = await g.next_event()
            if ev is not None:
                caught.append(1000 * (ev[2] - g.t_open))
            d = Reader(self.cs["file"].sock)
            await d.open(fcgi_request("DELETE", "streams/" + sid))
            await d.read_head()
            d.close()
            while ev is not None and ev[1] not in ("done", "error"):
                ev = await g.next_event()
            g.close()
        self.rows.append(("live (%d tok/s), dropped after %d, back %.0f ms later"
                          % (a.live_tps, k, 1000 * a.gap), first,
                          "first id = %d in %d/%d" % (k + 1, checks, a.reps)))
        self.rows.append(("  ... to the %d events missed in the gap" % (int(a.gap * a.live_tps) - 1),
                          caught, "%d/%d" % (len(caught), a.reps)))

    async def _follow(self):
        """Producer's own connection and a follower side by side: for each event,
        arrival at the follower minus arrival on the producer's connection."""
        a = self.args
        lags = []
        streams = max(1, a.reps // 5)
        for _ in range(streams):
            rd, sid = await self._post("live", a.live_words)
            for _ in range(3):
                await rd.next_event()
            g = Reader(self.cs["file"].sock)
            await g.open(self._get(sid, 3))
            seen = {}

            async def pump(r, tag):
                while True:
                    ev = await r.next_event()
                    if ev is None or ev[1] in ("done", "error") or ev[0] >= 3 + a.follow_events:
                        return
                    seen.setdefault(ev[0], {})[tag] = ev[2]
            await asyncio.wait_for(asyncio.gather(pump(rd, "p"), pump(g, "f")),
                                   a.follow_events / a.live_tps + 10)
            lags += [1000 * (v["f"] - v["p"]) for v in seen.values() if "p" in v and "f" in v]
            d = Reader(self.cs["file"].sock)
            await d.open(fcgi_request("DELETE", "streams/" + sid))
            await d.read_head()
            d.close()
            rd.close()
            g.close()
        self.rows.append(("live follow lag: follower minus producer's connection", lags,
                          "%d events, %d streams" % (len(lags), streams)))

    # 3. redis ----------------------------------------------------------------------
    def redis(self):
        out("")
        out("== 3. redis")
        conf = os.path.join(self.work, "cs-redis.conf")
        with open(conf, "w") as f:
            f.write("journal = redis\n[model demo]\nbackend = demo\n")
        chk = subprocess.run([self.bin, "-c", conf, "--check-config"], capture_output=True,
                             text=True)
        out("   redis: not built (--check-config on `journal = redis`: %s)" % (
            (chk.stdout + chk.stderr).strip().replace("\n", "; ")))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--only", default="throughput,reconnect,redis")
    ap.add_argument("--rounds", type=int, default=5, help="rounds; each runs every setting once, in rotating order (5)")
    ap.add_argument("--clients", type=int, default=8, help="parallel clients (8)")
    ap.add_argument("--words", type=int, default=2000,
                    help="long streams: prompt words (2000: 2019 events)")
    ap.add_argument("--streams", type=int, default=300, help="long streams per run (300)")
    ap.add_argument("--short-words", type=int, default=200,
                    help="short streams: prompt words (200: 219 events)")
    ap.add_argument("--short-streams", type=int, default=1500,
                    help="short streams per run (1500; 0 skips the shape)")
    ap.add_argument("--tp-timeout", type=float, default=60)
    ap.add_argument("--spool-in", default="",
                    help="make the `file` spool directory in this directory (default: the "
                         "scratch directory, on /tmp's filesystem like the default spool_dir)")
    ap.add_argument("--tmpfs-in", default="/dev/shm",
                    help="also run `file` with its spool in this directory (default /dev/shm, "
                         "a tmpfs; '' skips it)")
    ap.add_argument("--compare-binary", default="",
                    help="also run the `file` settings with this chatstream (a build from "
                         "before a change, say), in the same rounds: rows marked (cmp)")
    ap.add_argument("--reps", type=int, default=20, help="reconnect: repetitions per row (20)")
    ap.add_argument("--live-tps", type=int, default=50,
                    help="reconnect: tokens per second of the live stream (50)")
    ap.add_argument("--live-words", type=int, default=1000,
                    help="reconnect: prompt words of the live stream (1000)")
    ap.add_argument("--gap", type=float, default=0.2,
                    help="reconnect: seconds between the drop and the reconnect (0.2)")
    ap.add_argument("--follow-events", type=int, default=20,
                    help="reconnect: events compared per stream for the follow lag (20)")
    args = ap.parse_args()
    only = set(args.only.split(","))

    def on_term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    b = JournalBench(args)
    out("chatstream journal benchmark, %s" % datetime.datetime.now().astimezone().strftime(
        "%Y-%m-%d %H:%M %Z"))
    out("binary: %s (%s)" % (args.binary, subprocess.run(
        [args.binary, "--version"], capture_output=True, text=True).stdout.strip()))
    rev = subprocess.run(["git", "-C", TOP, "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip()
    if rev:
        out("source: %s at %s (the working tree, as built)" % (TOP, rev))
    out("machine: %d CPUs, %s" % (
        os.cpu_count(), open("/proc/meminfo").readline().split(":")[1].strip()))
    out("load average at start: %s (other processes share the CPUs)" % loadavg())
    t0 = time.monotonic()
    rc = 0
    try:
        if only & {"throughput", "reconnect"}:
            b.start()
        for name in ("throughput", "reconnect", "redis"):
            if name in only:
                try:
                    getattr(b, name)()
                except Exception as e:  # noqa: BLE001 - one part failing ends only itself
                    out("   !! %s failed: %s: %s" % (name, type(e).__name__, e))
                    rc = 1
        for k, cs in getattr(b, "cs", {}).items():
            w = cs.warnings()
            if w:
                out("   chatstream (journal = %s) warnings: %d, first: %s" % (k, len(w), w[0]))
    except KeyboardInterrupt as e:
        out("interrupted (%s)" % (e or "SIGINT"))
        rc = 130
    finally:
        b.procs.stop_all()
        if os.environ.get("BENCH_KEEP") != "1":
            for sp in b.spools():
                shutil.rmtree(sp, ignore_errors=True)
        else:
            out("kept the spools: " + " ".join(b.spools()))
    out("")
    out("total time %.0f s; logs and configs in %s" % (time.monotonic() - t0, args.work))
    return rc


if __name__ == "__main__":
    sys.exit(main())
