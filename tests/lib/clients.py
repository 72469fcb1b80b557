# SPDX-License-Identifier: ISC
"""clients.py: the client side: curl through the front server (CurlStream,
Response, StreamView), raw HTTP/1.0 requests, and the FastCGI params
lighttpd sends.
"""

import json
import os
import re
import select
import signal
import socket
import subprocess
import time

from procs import _popen, _stop
from sse import SSEParser
from testenv import CURL, MOUNT, scaled


def _parse_header_blocks(raw):
    """curl -D output: one block per response (1xx first); returns the final
    one as (status, [(name, value)])."""
    text = raw.decode("latin-1")
    blocks = [b for b in re.split(r"\r?\n\r?\n", text) if b.strip()]
    status, headers = None, []
    for b in blocks:
        lines = b.split("\n")
        m = re.match(r"HTTP/[\d.]+ (\d{3})", lines[0].strip())
        if not m:
            continue
        st = int(m.group(1))
        hs = []
        for ln in lines[1:]:
            ln = ln.rstrip("\r")
            if ":" in ln:
                k, v = ln.split(":", 1)
                hs.append((k.strip(), v.strip()))
        if 100 <= st < 200:
            continue
        status, headers = st, hs
    return status, headers


class Response:
    """What a client saw: status, headers, body bytes, chunk arrival times,
    and the SSE parse of the body (sse)."""

    def __init__(self):
        self.status = None
        self.headers = []
        self.body = b""
        self.chunks = []          # (time.monotonic(), bytes)
        self.sse = SSEParser()
        self.returncode = None
        self.stderr = ""
        self.started = time.monotonic()
        self.timed_out = False

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None

    @property
    def events(self):
        return self.sse.events

    def stream(self):
        return StreamView(self.sse.events)


class StreamView:
    """chatstream's event sequence, decoded: meta, per-token texts, done or
    error, plus anything unexpected (so tests can check nothing extra came)."""

    def __init__(self, events):
        self.events = events
        self.types = [e.type for e in events]
        self.ids = [e.last_event_id for e in events]
        self.meta = None
        self.done = None
        self.error = None
        self.texts = []
        self.bad_json = []
        self.token_events = []
        for e in events:
            try:
                d = json.loads(e.data)
            except ValueError:
                self.bad_json.append(e)
                continue
            if e.type == "meta":
                self.meta = d if self.meta is None else self.meta
            elif e.type == "message":
                self.token_events.append(e)
                if isinstance(d, dict) and isinstance(d.get("text"), str):
                    self.texts.append(d["text"])
                else:
                    self.bad_json.append(e)
            elif e.type == "done":
                self.done = d
            elif e.type == "error":
                self.error = d

    @property
    def text(self):
        return "".join(self.texts)

    def ids_consecutive(self):
        return self.ids == [str(i) for i in range(1, len(self.ids) + 1)]


class CurlStream:
    """A running `curl -sS -N --no-buffer -D headerfile ...`; read() its
    stdout incrementally (chunks timestamped and fed to the SSE parser)."""

    _seq = 0

    def __init__(self, fx, url, method=None, body=None, headers=(), timeout=25,
                 extra=()):
        CurlStream._seq += 1
        n = CurlStream._seq
        self.fx = fx
        self.url = url
        self.res = Response()
        self.headerfile = fx.path("curl-%d.headers" % n)
        self.stderrfile = fx.path("curl-%d.stderr" % n)
        timeout = scaled(timeout)
        args = [CURL, "-sS", "-N", "--no-buffer", "-D", self.headerfile,
                "--max-time", "%g" % timeout]
        if body is not None:
            bodyfile = fx.path("curl-%d.body" % n)
            with open(bodyfile, "wb") as f:
                f.write(body if isinstance(body, bytes) else body.encode("utf-8"))
            args += ["--data-binary", "@" + bodyfile]
        if method:
            args += ["-X", method]
        for h in headers:
            args += ["-H", h]
        args += list(extra)
        args.append(url)
        self.args = args
        self._err = open(self.stderrfile, "wb")
        self.proc = _popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=self._err)
        fx._procs.append(self.proc)
        self.fd = self.proc.stdout.fileno()
        self.eof = False
        self.deadline = time.monotonic() + timeout + 5

    def read(self, timeout=1.0):
        """One chunk (bytes), b"" at EOF, None when nothing came in timeout."""
        if self.eof:
            return b""
        r, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not r:
            return None
        d = os.read(self.fd, 65536)
        t = time.monotonic()
        if not d:
            self.eof = True
            self.res.sse.close(t)
            return b""
        self.res.chunks.append((t, d))
        self.res.body += d
        self.res.sse.feed(d, t)
        return d

    def read_until(self, pred, timeout):
        """Reads until pred(res) is true or EOF or timeout; returns pred(res)."""
        end = time.monotonic() + scaled(timeout)
        for _ in range(1000000):
            if pred(self.res):
                return True
            left = end - time.monotonic()
            if left <= 0 or self.eof:
                return bool(pred(self.res))
            self.read(min(left, 0.5))
        return bool(pred(self.res))

    def finish(self, timeout=None):
        """Reads to EOF (bounded), waits for curl, parses the header file."""
        end = min(self.deadline, time.monotonic() + scaled(timeout if timeout else 60))
        for _ in range(10000000):
            if self.eof:
                break
            left = end - time.monotonic()
            if left <= 0:
                self.res.timed_out = True
                break
            self.read(min(left, 0.5))
        if not self.eof:
            self.kill()
        try:
            self.proc.wait(timeout=max(1.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
        self.res.returncode = self.proc.returncode
        self._collect()
        return self.res

    def kill(self):
        _stop(self.proc, signal.SIGKILL, wait=2)
        if not self.eof:
            self.eof = True
            self.res.sse.close()

    def _collect(self):
        try:
            self.proc.stdout.close()
        except OSError:
            pass
        try:
            self._err.close()
        except OSError:
            pass
        try:
            with open(self.headerfile, "rb") as f:
                self.res.status, self.res.headers = _parse_header_blocks(f.read())
        except OSError:
            pass
        try:
            with open(self.stderrfile, "rb") as f:
                self.res.stderr = f.read().decode("utf-8", "replace")
        except OSError:
            pass


def fcgi_params(method, path, content_type=None, content_length=None, extra=(),
                query=""):
    """The params lighttpd 1.4.69 sends for a request to MOUNT + path with
    this harness's lighttpd config (var.chatstream_mount without the trailing
    slash; observed: SCRIPT_NAME is the mount, PATH_INFO the rest, and
    CONTENT_LENGTH is always set).  content_length None: no CONTENT_LENGTH."""
    mount = MOUNT.rstrip("/")
    uri = MOUNT + path
    p = [
        ("CONTENT_LENGTH", str(content_length if content_length is not None else 0)),
        ("QUERY_STRING", query),
        ("REQUEST_URI", uri + ("?" + query if query else "")),
        ("REDIRECT_STATUS", "200"),
        ("SCRIPT_NAME", mount),
        ("PATH_INFO", "/" + path),
        ("SCRIPT_FILENAME", "/nonexistent" + mount),
        ("DOCUMENT_ROOT", "/nonexistent"),
        ("REQUEST_METHOD", method),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("SERVER_SOFTWARE", "chatstream-tests/fcgi.py"),
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("REQUEST_SCHEME", "http"),
        ("SERVER_PORT", "80"),
        ("SERVER_ADDR", "127.0.0.1"),
        ("SERVER_NAME", "127.0.0.1"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("REMOTE_PORT", "40000"),
        ("HTTP_HOST", "127.0.0.1"),
    ]
    if content_length is None:
        p = [kv for kv in p if kv[0] != "CONTENT_LENGTH"]
    if content_type is not None:
        p.append(("CONTENT_TYPE", content_type))
    p.extend(extra)
    return p


def http_request(port, method, target, headers=(), body=None, timeout=10,
                 version="HTTP/1.0"):
    """A raw HTTP/1.0 request (Connection: close, body read to EOF) for
    bulk/odd requests; returns (status, [(name, value)], body bytes).
    headers: list of "Name: value" strings (sent as given)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    lines = ["%s %s %s" % (method, target, version), "Host: 127.0.0.1:%d" % port,
             "Connection: close"]
    lines += list(headers)
    if body is not None and not any(h.lower().startswith("content-length:") for h in headers):
        lines.append("Content-Length: %d" % len(body))
    req = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
    end = time.monotonic() + timeout
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(req)
        data = b""
        for _ in range(1000000):
            s.settimeout(max(0.01, end - time.monotonic()))
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            data += d
            if time.monotonic() > end:
                raise socket.timeout("HTTP response not finished in %ss" % timeout)
    finally:
        s.close()
    k = data.find(b"\r\n\r\n")
    if k < 0:
        raise OSError("no HTTP header end in %r" % data[:200])
    head, rbody = data[:k].decode("latin-1"), data[k + 4:]
    hl = head.split("\r\n")
    m = re.match(r"HTTP/[\d.]+ (\d{3})", hl[0])
    if not m:
        raise OSError("bad status line %r" % hl[0])
    hs = []
    for ln in hl[1:]:
        if ":" in ln:
            a, b = ln.split(":", 1)
            hs.append((a.strip(), b.strip()))
    return int(m.group(1)), hs, rbody
