#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""journal.py: what the stream journal costs (run it with bench/journal.sh).

  throughput  fast demo streams run to the end straight over FastCGI (no front
              server) to one chatstream per journal setting: `journal = off`,
              `journal = file` (spool on /tmp's filesystem, a disk one like the default
              spool_dir), `journal = file` with its spool on tmpfs, and
              `journal = redis` (a redis-server of its own on loopback), in
              rotating order for several rounds; SSE events per chatstream
              CPU-second (utime + stime from /proc/PID/stat), medians, ratios;
              for redis also the redis-server's CPU and Redis' command counts
  bytes       file: size of each stream's journal (<spool_dir>/<id>;
              <spool_dir>/<id>/events before the one-file layout) divided by the
              stream's token events; redis: MEMORY USAGE of <prefix><id>:events,
              the same
  reconnect   time from a reconnect (GET /streams/<id> with Last-Event-ID) to
              the first replayed event, on a finished and on a live stream;
              and how far a follower lags behind the producer's own connection;
              for each of the file and the redis journal
  redis       the Redis store in the two parts above (--only redis alone: both
              parts with off and redis only).  When redis-server or the store
              is not there, that is said and the rest runs.

Reuses bench.py's process handling (Procs, Chatstream: spawn-fcgi -n on a unix
socket) and sseload.py's FastCGI client.  Every process it starts (chatstream,
redis-server) is recorded in WORK/pids and stopped at the end.  Python stdlib
only: Redis is spoken to with the small RESP client below.
"""
import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
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
from bench import (CLK_TCK, Chatstream, Procs, banner, free_port, outcomes, pct,  # noqa: E402
                   summarize)


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


# --- Redis: a RESP client and a redis-server of the benchmark's own ---------------

class RespError(Exception):
    pass


class Resp:
    """A minimal RESP2 client for the benchmark's own redis-server (loopback, no
    password): pipelined commands, replies as bytes, int, list or None; an error
    reply comes back as a RespError object in its place.  Every read is bounded
    by the socket timeout."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.f = self.sock.makefile("rb")

    @staticmethod
    def _encode(args):
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(parts)

    def _reply(self):
        line = self.f.readline()
        if not line.endswith(b"\r\n"):
            raise EOFError("redis-server closed the connection")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest
        if t == b"-":
            return RespError(rest.decode("utf-8", "replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RespError("unexpected reply %r" % line[:40])

    def pipeline(self, cmds, chunk=100):
        res = []
        for i in range(0, len(cmds), chunk):
            part = cmds[i:i + chunk]
            self.sock.sendall(b"".join(self._encode(c) for c in part))
            res += [self._reply() for _ in part]
        return res

    def cmd(self, *args):
        r = self.pipeline([args])[0]
        if isinstance(r, RespError):
            raise r
        return r

    def close(self):
        self.f.close()
        self.sock.close()


REDIS_PREFIX = "jbench:"
# Counters of INFO compared before and after a run; commands are "cmd:<name>" (calls).
INFO_KEYS = ("total_connections_received", "total_commands_processed",
             "total_net_input_bytes", "total_net_output_bytes", "used_memory",
             "expired_keys", "evicted_keys")
# Commands the benchmark itself sends (left out of chatstream's command counts).
OWN_COMMANDS = ("info", "memory|usage", "scan", "xrange", "xlen", "ping")


class RedisServer:
    """redis-server on 127.0.0.1 and a free port, no persistence, its files in
    WORK/redis; started through Procs (so its pid is in WORK/pids)."""

    def __init__(self, bench, path):
        self.port = free_port()
        self.dir = os.path.join(bench.work, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.log = os.path.join(self.dir, "redis.log")
        self.version = subprocess.run([path, "--version"], capture_output=True, text=True,
                                      timeout=10).stdout.strip()
        self.p = bench.procs.start([path, "--bind", "127.0.0.1", "--port", str(self.port),
                                    "--save", "", "--appendonly", "no", "--dir", self.dir,
                                    "--logfile", self.log, "--daemonize", "no"], self.log)
        self.pid = self.p.pid
        self.cli = None
        t_end = time.monotonic() + 10
        while time.monotonic() < t_end and self.p.poll() is None:
            try:
                self.cli = Resp(self.port, timeout=10)
                if self.cli.cmd("PING") == b"PONG":
                    return
            except OSError:
                pass
            time.sleep(0.05)
        with open(self.log, errors="replace") as f:
            raise RuntimeError("redis-server did not answer PING within 10 s: "
                               + f.read()[-500:].replace("\n", "; "))

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def stats(self):
        """The INFO counters of INFO_KEYS and the calls of every command."""
        d = {}
        for ln in self.cli.cmd("INFO", "all").decode().splitlines():
            k, sep, v = ln.partition(":")
            if not sep:
                continue
            if k.startswith("cmdstat_"):
                d["cmd:" + k[8:]] = int(v.split(",")[0].split("=")[1])
            elif k in INFO_KEYS:
                d[k] = int(v)
        return d

    def keys(self, pattern, limit=1000000):
        """Every key matching pattern (SCAN; at most `limit` iterations)."""
        found, cursor = set(), b"0"
        for _ in range(limit):
            cursor, ks = self.cli.cmd("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            found.update(ks)
            if cursor == b"0":
                break
        return found


def delta(a, b):
    return {k: b.get(k, 0) - a.get(k, 0) for k in set(a) | set(b)}


def chatstream_commands(d):
    """{command: calls} of a stats delta, without the benchmark's own commands."""
    return {k[4:]: v for k, v in d.items()
            if k.startswith("cmd:") and v > 0 and k[4:] not in OWN_COMMANDS}


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
    def __init__(self, args, file_modes=True, with_redis=True):
        self.args = args
        self.bin = args.binary
        self.work = args.work
        self.procs = Procs(self.work)
        self.results = {}
        self.with_redis = with_redis
        self.redis = None       # the RedisServer, once it runs
        # Journal settings compared: (key, label, spool directory or None).  Each
        # spool is a fresh directory, removed at the end.  `redis` is added by
        # start() when its server runs.
        self.modes = [("off", "off", None)]
        if file_modes:
            self.modes.append(("file", "file", tempfile.mkdtemp(
                prefix="spool.", dir=args.spool_in or self.work)))
            if args.tmpfs_in and os.access(args.tmpfs_in, os.W_OK):
                self.modes.append(("tmpfs", "file, tmpfs",
                                   tempfile.mkdtemp(prefix="chatstream-jbench-spool.",
                                                    dir=args.tmpfs_in)))
            if args.compare_binary:
                # The same `file` settings run by another build (one from before a
                # change, say), side by side in the same rounds: load drifts between runs.
                self.modes += [(k + "-cmp", lab + " (cmp)",
                                tempfile.mkdtemp(prefix=os.path.basename(sp).split(".")[0] +
                                                 "-cmp.", dir=os.path.dirname(sp)))
                               for k, lab, sp in self.modes[1:]]
        # the `file` journal the other parts use (None without the file modes)
        self.spool = self.modes[1][2] if file_modes else None
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

    def start_redis(self):
        """Starts redis-server when it and chatstream's Redis store are there and
        adds the `redis` setting; otherwise says why not (the rest goes on)."""
        path = self.args.redis_server
        if not path:
            out("   redis: left out (--redis-server '')")
            return
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            out("   redis: not measured: %s not found (Debian: redis-server; "
                "scripts/install-deps.sh installs it)" % path)
            return
        conf = os.path.join(self.work, "cs-redis-probe.conf")
        with open(conf, "w") as f:
            f.write("journal = redis\nredis_address = 127.0.0.1:1\n"
                    "[model demo]\nbackend = demo\n")
        chk = subprocess.run([self.bin, "-c", conf, "--check-config"], capture_output=True,
                             text=True, timeout=30)
        if chk.returncode != 0:
            out("   redis: not built: this chatstream has no Redis store (configure --with-redis "
                "with libhiredis-dev; --check-config on `journal = redis`: %s)" % (
                    (chk.stdout + chk.stderr).strip().replace("\n", "; ")))
            return
        try:
            self.redis = RedisServer(self, path)
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            out("   redis: not measured: %s" % e)
            return
        self.modes.append(("redis", "redis", None))
        self.label["redis"] = "redis"

    def journal_conf(self, key, spool):
        if key == "off":
            return {"journal": "off"}
        if key == "redis":
            return {"journal": "redis", "redis_address": self.redis.address,
                    "redis_prefix": REDIS_PREFIX, "journal_ttl": 300,
                    "journal_max_bytes": "16M"}
        return {"journal": "file", "spool_dir": spool, "journal_ttl": 300,
                "journal_max_bytes": "16M"}

    def start(self):
        common = {"threads": 64, "heartbeat": 15}
        if self.with_redis:
            self.start_redis()
        self.cs = {}
        for key, label, spool in list(self.modes):
            g = dict(common, **self.journal_conf(key, spool))
            self.bin = self.args.compare_binary if key.endswith("-cmp") else self.args.binary
            try:
                self.cs[key] = Chatstream(self, "cs-" + key, g, self.models())
            except RuntimeError as e:
                if key != "redis":
                    raise
                out("   redis: not measured: chatstream with journal = redis did not start: %s"
                    % str(e).replace("\n", "; ")[-500:])
                self.modes.remove((key, label, spool))
            finally:
                self.bin = self.args.binary
        for key, label, spool in self.modes:
            cs = self.cs[key]
            where = ""
            if spool is not None:
                where = ", spool_dir %s (%s)" % (spool, fstype(spool))
            elif key == "redis":
                where = ", redis_address %s" % self.redis.address
            out("   chatstream journal = %-11s pid %d%s: %s" % (
                label, cs.pid, where, cs.started_line.split(" info: ", 1)[-1]))
            if key.endswith("-cmp"):
                out("      binary %s" % self.args.compare_binary)
        if self.redis is not None:
            out("   redis-server pid %d on %s (%s; --save '' --appendonly no, dir %s)" % (
                self.redis.pid, self.redis.address, self.redis.version.split(" sha=")[0],
                self.redis.dir))

    def redis_cpu(self):
        return cpu_split(self.redis.pid) if self.redis is not None else (0.0, 0.0)

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
                    before = None
                    if m == "file":
                        before = set(os.listdir(self.spool))
                    elif m == "redis":
                        before = self.redis.keys(REDIS_PREFIX + "*:events")
                    r = self.one_run(m, req, streams)
                    r["round"], r["seq"], r["mode"] = rnd + 1, seq, m
                    seq += 1
                    runs[(label, m)].append(r)
                    if m == "file" and (label, "bytes") not in self.results:
                        self.results[(label, "bytes")] = self.journal_bytes(
                            set(os.listdir(self.spool)) - before)
                    if m == "redis" and (label, "rbytes") not in self.results:
                        self.results[(label, "rbytes")] = self.redis_bytes(
                            self.redis.keys(REDIS_PREFIX + "*:events") - before,
                            r["redis"]["used_memory"])
            out("   round %d/%d done (order %s; load average %s)" % (
                rnd + 1, a.rounds, ", ".join(self.label[m] for m in order), loadavg()))
        self.results["throughput"] = (shapes, runs)
        self.print_throughput(shapes, runs, keys)

    def one_run(self, mode, req, streams):
        a = self.args
        cs = self.cs[mode]
        nlines = len(cs.stream_lines())
        st0 = self.redis.stats() if mode == "redis" else None
        ru0, rs0 = self.redis_cpu()
        u0, s0 = cpu_split(cs.pid)
        r = asyncio.run(sseload.run_to_end(("unix", cs.sock), req, True, streams, a.clients,
                                           a.tp_timeout))
        u1, s1 = cpu_split(cs.pid)
        t_end = time.monotonic() + 5
        while time.monotonic() < t_end and len(cs.stream_lines()) < nlines + r["streams"]:
            time.sleep(0.05)
        # After the log lines: each stream's last commands (journal close) are done.
        ru1, rs1 = self.redis_cpu()
        if mode == "redis":
            r["redis"] = delta(st0, self.redis.stats())
        lines = cs.stream_lines()[nlines:]
        r["logged"] = sum(int(m.group(1)) for m in
                          (re.search(r" events=(\d+)", ln) for ln in lines) if m)
        r["outcomes"] = outcomes(lines)
        r["utime"], r["stime"] = u1 - u0, s1 - s0
        r["cpu"] = r["utime"] + r["stime"]
        r["eps"] = r["events"] / r["cpu"] if r["cpu"] > 0 else float("nan")
        # redis-server's CPU over the run: its work for a redis run, its idle otherwise
        r["srv_utime"], r["srv_stime"] = ru1 - ru0, rs1 - rs0
        r["srv_cpu"] = r["srv_utime"] + r["srv_stime"]
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

    def redis_bytes(self, keys, used_memory):
        """Redis' own accounting of the streams `keys` (<prefix><id>:events) per
        token event: MEMORY USAGE (SAMPLES 0: every entry counted) of the events
        streams, and of the streams' hashes; used_memory is INFO's growth over
        the run that made them."""
        res = {"streams": 0, "mem": 0, "mem_meta": 0, "tokens": 0, "records": 0,
               "frame_tok": 0, "frame_all": 0, "used_memory": used_memory}
        keys = sorted(keys)
        metas = [k[:-len(b":events")] for k in keys]
        cli = self.redis.cli
        mems = cli.pipeline([("MEMORY", "USAGE", k, "SAMPLES", 0) for k in keys])
        mems_meta = cli.pipeline([("MEMORY", "USAGE", k, "SAMPLES", 0) for k in metas])
        for i in range(0, len(keys), 20):
            ranges = cli.pipeline([("XRANGE", k, "-", "+") for k in keys[i:i + 20]])
            for k, entries, mem, mem_meta in zip(keys[i:i + 20], ranges, mems[i:i + 20],
                                                 mems_meta[i:i + 20]):
                if not isinstance(entries, list) or not entries or \
                        not isinstance(mem, int) or entries[-1][1][1] != b"done":
                    continue
                for _, fields in entries:
                    f = dict(zip(fields[::2], fields[1::2]))
                    res["records"] += 1
                    res["frame_all"] += len(f[b"f"])
                    if f[b"n"] == b"message":
                        res["tokens"] += 1
                        res["frame_tok"] += len(f[b"f"])
                res["streams"] += 1
                res["mem"] += mem
                res["mem_meta"] += mem_meta if isinstance(mem_meta, int) else 0
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
                out("   %-5d %-11s %9d %7.2f %9.0f %7.2f %7.2f %7.2f %12.0f %5d/%d%s" % (
                    r["round"], self.label[r["mode"]], r["events"], r["wall"],
                    r["events"] / r["wall"], r["cpu"], r["utime"], r["stime"], r["eps"], r["ok"],
                    streams, "  + redis-server %.2f s" % r["srv_cpu"] if r["mode"] == "redis"
                    else ""))
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
            if "redis" in keys:
                fit["redis+srv"] = fit.get("redis+srv", []) + [self.print_redis(
                    label, ev, runs, keys, m_off)]
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
            b = self.results.get((label, "rbytes"))
            if b and b["tokens"]:
                out("   ** redis journal bytes per token: %.1f (MEMORY USAGE of the events streams "
                    "%d bytes / %d token events, %d streams)" % (
                        b["mem"] / b["tokens"], b["mem"], b["tokens"], b["streams"]))
                out("      of which %.1f bytes of SSE frame per token (%.1f per entry over all "
                    "%d entries); plus the stream's hash: %.0f bytes per stream; INFO "
                    "used_memory grew %.1f bytes per token over that run" % (
                        b["frame_tok"] / b["tokens"], b["frame_all"] / b["records"],
                        b["records"], b["mem_meta"] / b["streams"],
                        b["used_memory"] / b["tokens"]))
            out("")
        if len(shapes) == 2:
            # CPU per stream = fixed + per_event * events, from the two shapes' medians.
            out("   CPU per stream split into a fixed part and a part per event (from the two "
                "shapes' medians):")
            base = None
            for m in keys + (["redis+srv"] if "redis" in keys else []):
                (e1, c1), (e2, c2) = fit[m]
                per_ev = (c1 - c2) / (e1 - e2)
                fixed = c2 - per_ev * e2
                extra = "" if base is None else "  (journal adds %+.2f us per event, %+.0f us " \
                    "per stream)" % (per_ev - base[0], fixed - base[1])
                base = base or (per_ev, fixed)
                out("   %-11s %.2f us per event + %.0f us per stream%s" % (
                    self.label.get(m, "redis + redis-server"), per_ev, fixed, extra))

    def print_redis(self, label, ev, runs, keys, m_off):
        """The redis setting's figures beyond chatstream's own CPU: redis-server's
        CPU, events per (chatstream + redis-server) CPU-second, Redis' command
        counts.  Returns (events per stream, CPU us per stream of both) for the fit."""
        med = statistics.median
        rs = runs[(label, "redis")]
        off = runs[(label, "off")]
        idle = [r["srv_cpu"] / r["wall"] for m in keys if m != "redis" for r in runs[(label, m)]]
        srv = med(r["srv_cpu"] for r in rs)
        out("   redis-server CPU in the redis runs: median %.2f s per run (user %.2f + sys %.2f) "
            "= %.2f us per event, %.0f %% of chatstream's own CPU in those runs%s" % (
                srv, med(r["srv_utime"] for r in rs), med(r["srv_stime"] for r in rs),
                med(1e6 * r["srv_cpu"] / r["events"] for r in rs),
                100 * med(r["srv_cpu"] / r["cpu"] for r in rs),
                "; idle (the other runs) %.3f CPU-s per wall second" % med(idle) if idle else ""))
        both = [r["events"] / (r["cpu"] + r["srv_cpu"]) for r in rs]
        m_both = med(both)
        paired = med(b / o["eps"] for o, b in zip(off, both))
        out("   ** %s, journal = redis, counting redis-server's CPU too: median %.0f events per "
            "(chatstream + redis-server) CPU-s (min %.0f, max %.0f); vs off (no redis-server) "
            "%.3f (per-round %.3f): the Redis journal's whole cost on one host %.1f %%" % (
                label, m_both, min(both), max(both), m_both / m_off, paired,
                100 * (1 - m_both / m_off)))
        tot, nev, nst = {}, 0, 0
        for r in rs:
            nev += r["events"]
            nst += r["streams"]
            for k, v in r["redis"].items():
                tot[k] = tot.get(k, 0) + v
        cmds = chatstream_commands(tot)
        out("   Redis' accounting over the %d redis runs (%d streams, %d events): commands per "
            "stream %s = %.3f per event" % (
                len(rs), nst, nev, ", ".join("%s %.1f" % (k.upper(), v / nst) for k, v in
                                             sorted(cmds.items(), key=lambda kv: -kv[1])),
                sum(cmds.values()) / nev))
        out("      waits for Redis (HGET cancel: one per 250 ms tick, the only place a running "
            "producer waits for replies): %.1f per stream = one per %.0f events; "
            "connections %.2f per stream; "
            "%.1f bytes to Redis and %.1f back per event%s" % (
                cmds.get("hget", 0) / nst, nev / max(cmds.get("hget", 0), 1),
                tot.get("total_connections_received", 0) / nst,
                tot.get("total_net_input_bytes", 0) / nev,
                tot.get("total_net_output_bytes", 0) / nev,
                "; keys expired during the runs: %d" % tot["expired_keys"]
                if tot.get("expired_keys") else ""))
        return ev, med(1e6 * (r["cpu"] + r["srv_cpu"]) / max(r["streams"], 1) for r in rs)

    # 2. reconnect ------------------------------------------------------------------
    def reconnect(self):
        a = self.args
        stores = [m for m in ("file", "redis") if m in self.cs]
        out("")
        out("== 2. Reconnect: GET /streams/<id> with Last-Event-ID to the first replayed event "
            "(journal = %s, direct FastCGI)" % " and ".join(stores))
        out("   timed from the start of connect() to the arrival of the first event's bytes; "
            "%d repetitions per row (p99 of %d is their maximum)" % (a.reps, a.reps))
        self.results["reconnect"] = {}
        for store in stores:
            self.store = store
            self.rows = []
            out("   -- journal = %s" % store)
            parts = ((self._finished, "finished: making the stream, then %d reconnects"
                      % (4 * a.reps)),
                     (self._live, "live: %d streams, each dropped and reconnected once"
                      % a.reps),
                     (self._follow, "follow: a follower beside the producer, %d streams"
                      % max(1, a.reps // 5)))
            for part, what in parts:
                st0 = self.redis.stats() if store == "redis" else None
                asyncio.run(part())
                if st0 is not None:
                    cmds = chatstream_commands(delta(st0, self.redis.stats()))
                    out("   Redis commands (%s): %s" % (what, ", ".join(
                        "%s %d" % (k.upper(), v) for k, v in
                        sorted(cmds.items(), key=lambda kv: -kv[1]))))
            out("   %-52s %8s %8s %8s %8s %8s  %s" % (
                "case", "p50 ms", "p95 ms", "p99 ms", "max ms", "min ms", "check"))
            for name, vals, check in self.rows:
                if not vals:
                    out("   %-52s %8s  %s" % (name, "-", check))
                    continue
                out("   %-52s %8.2f %8.2f %8.2f %8.2f %8.2f  %s" % (
                    name, pct(vals, 50), pct(vals, 95), pct(vals, 99), max(vals), min(vals),
                    check))
            self.results["reconnect"][store] = self.rows

    def journal_size(self, sid):
        if self.store == "redis":
            k = REDIS_PREFIX + sid + ":events"
            return "%d entries, MEMORY USAGE %d bytes" % (
                self.redis.cli.cmd("XLEN", k),
                self.redis.cli.cmd("MEMORY", "USAGE", k, "SAMPLES", 0))
        return "%d bytes" % os.path.getsize(journal_file(self.spool, sid)[0])

    async def _post(self, model, words):
        prompt = " ".join("word%d" % (i % 100) for i in range(words))
        rd = Reader(self.cs[self.store].sock)
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
        out("   finished stream %s: %d events, journal %s" % (sid, n, self.journal_size(sid)))
        cases = [("finished, Last-Event-ID 1 (replay %d events)" % (n - 1), 1),
                 ("finished, Last-Event-ID %d (replay %d)" % (n // 2, n - n // 2), n // 2),
                 ("finished, Last-Event-ID %d (replay only done)" % (n - 1), n - 1)]
        for name, k in cases:
            first, whole, bad = [], [], 0
            for _ in range(a.reps):
                g = Reader(self.cs[self.store].sock)
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
            g = Reader(self.cs[self.store].sock)
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
            g = Reader(self.cs[self.store].sock)
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
            d = Reader(self.cs[self.store].sock)
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
            g = Reader(self.cs[self.store].sock)
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
            d = Reader(self.cs[self.store].sock)
            await d.open(fcgi_request("DELETE", "streams/" + sid))
            await d.read_head()
            d.close()
            rd.close()
            g.close()
        self.rows.append(("live follow lag: follower minus producer's connection", lags,
                          "%d events, %d streams" % (len(lags), streams)))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--only", default="throughput,reconnect,redis",
                    help="parts, comma-separated: throughput, reconnect, and redis: the Redis "
                         "store in them (redis alone: both parts with off and redis only)")
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
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or
                    "/usr/bin/redis-server",
                    help="the redis-server the redis setting runs (default: from PATH; '' leaves "
                         "the Redis store out)")
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
    parts = [p for p in ("throughput", "reconnect") if p in only]
    file_modes = bool(parts)
    if not parts and "redis" in only:
        parts = ["throughput", "reconnect"]

    def on_term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    b = JournalBench(args, file_modes, "redis" in only)
    banner("chatstream journal benchmark", args.binary)
    out("load average at start: %s (other processes share the CPUs)" % loadavg())
    t0 = time.monotonic()
    rc = 0
    try:
        if parts:
            b.start()
            if not file_modes and "redis" not in b.cs:
                parts = []          # --only redis without Redis: nothing to compare
        for name in parts:
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
