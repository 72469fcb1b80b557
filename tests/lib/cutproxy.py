# SPDX-License-Identifier: ISC
"""cutproxy.py: a TEST TOOL that breaks connections on purpose.

A loopback TCP proxy for chatstream's browser tests: it listens on
127.0.0.1:PORT and relays every connection to 127.0.0.1:UPSTREAM byte for
byte, except that a connection carrying a request whose path starts with
`prefix` (by default /chat/streams/, the stream route EventSource reads) and
whose method is one of `methods` (by default GET) is
cut after `cut_after` bytes of response: the proxy forwards exactly that
many bytes, then closes both sides (a FIN, or a RST when cut_mode says so).
The cut usually falls inside an event or inside a chunk of the chunked
body, which is what a flaky network does to a browser: EventSource sees a
network error and reconnects with Last-Event-ID.

It can also answer a stream request itself with `503 Service Unavailable`
(`reject`: which of the stream requests, counting from 1), as a front
server does while its backend restarts: EventSource gives up on any status
but 200, so the page has to start a new one.

It watches the client's side to find each request (request line, headers,
Content-Length bodies; keep-alive connections carry several) and records
what it saw in `log` (time.time(), connection number, kind, details):
"request" with the method, path and Last-Event-ID header, "cut" with the
byte count, "reject", "close".

Limits: HTTP/1.x only (no TLS, no HTTP/2, no chunked request bodies);
loopback only; at most max_conns connections over its life (later ones are
refused by closing them at once); every socket has a timeout and every
thread is a daemon; stop() closes everything and joins the threads (bounded).
Never use it anywhere but in a test.
"""

import itertools
import socket
import struct
import threading
import time

__all__ = ["CutProxy"]


class _Conn:
    def __init__(self, n, client, upstream):
        self.n = n
        self.client = client
        self.upstream = upstream
        self.budget = None          # response bytes left before the cut, or None
        self.cut_at = None          # the cut's size, for the log
        self.lock = threading.Lock()
        self.closed = False
        self.reqbuf = b""
        self.body_left = 0


class CutProxy:
    """CutProxy(upstream_port, cut_after=[500], prefix="/chat/streams/").
    cut_after: byte counts, used in turn for successive cut connections;
    cut_mode: "fin", "rst" or "alternate"; cuts: how many connections to cut
    at most (None: all); reject: numbers of the stream requests (1 = the
    first) answered 503 by the proxy itself, never reaching upstream;
    methods: the request methods whose answers are cut (GET: EventSource;
    add POST to cut a POST's own stream, as fetch-event-source reads it);
    stall: seconds between the last byte a cut connection gets and the cut
    (0: at once; a client may then never see those last bytes, as when a
    network stalls and only then drops, when it always does)."""

    REJECT = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
              b"Content-Length: 12\r\nRetry-After: 1\r\nConnection: close\r\n\r\nunavailable\n")

    def __init__(self, upstream_port, cut_after=(500,), prefix="/chat/streams/",
                 cut_mode="alternate", cuts=None, reject=(), max_conns=200, timeout=60.0,
                 methods=("GET",), stall=0.0):
        self.upstream_port = upstream_port
        self.cut_after = itertools.cycle(list(cut_after))
        self.prefix = prefix.encode("latin-1")
        self.cut_mode = cut_mode
        self.cuts_left = cuts
        self.methods = tuple(methods)
        self.stall = stall
        self.reject = set(reject)
        self._stream_reqs = 0
        self.max_conns = max_conns
        self.timeout = timeout
        self.log = []
        self._log_lock = threading.Lock()
        self._conns = []
        self._threads = []
        self._stop = threading.Event()
        self._n = 0
        self._cut_n = 0
        self.port = None
        self._lsock = None

    # -- public ---------------------------------------------------------------
    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        s.settimeout(0.2)
        self._lsock = s
        self.port = s.getsockname()[1]
        self._spawn(self._accept_loop)
        return self.port

    def stop(self):
        self._stop.set()
        try:
            self._lsock.close()
        except (OSError, AttributeError):
            pass
        for c in list(self._conns):
            self._close(c, "stop")
        end = time.monotonic() + 5
        for t in list(self._threads):
            t.join(max(0.0, end - time.monotonic()))

    def entries(self, kind=None):
        with self._log_lock:
            return [e for e in self.log if kind is None or e["kind"] == kind]

    # -- internals ------------------------------------------------------------
    def _record(self, conn, kind, **kw):
        e = {"t": time.time(), "conn": conn.n if conn else None, "kind": kind}
        e.update(kw)
        with self._log_lock:
            self.log.append(e)

    def _spawn(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        self._threads.append(t)
        t.start()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                cs, _ = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._n += 1
            if self._n > self.max_conns:
                cs.close()
                continue
            try:
                us = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                cs.close()
                continue
            for s in (cs, us):
                s.settimeout(0.2)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = _Conn(self._n, cs, us)
            self._conns.append(c)
            self._record(c, "accept")
            self._spawn(self._pump_up, c)
            self._spawn(self._pump_down, c)

    def _close(self, c, why, rst=False):
        with c.lock:
            if c.closed:
                return
            c.closed = True
        if rst:
            try:
                c.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        for s in (c.client, c.upstream):
            try:
                if not rst:
                    s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        self._record(c, "close", why=why)

    def _recv(self, c, s, deadline):
        """bytes, b"" at EOF/closed, None on a timeout tick."""
        while not self._stop.is_set() and not c.closed:
            if time.monotonic() > deadline:
                return b""
            try:
                return s.recv(65536)
            except socket.timeout:
                return None
            except OSError:
                return b""
        return b""

    def _parse_requests(self, c, data):
        """Finds the requests in the client's bytes (headers + Content-Length
        bodies).  Returns True when the proxy answered one itself (reject)."""
        buf = c.reqbuf + data
        for _ in range(1000):
            if c.body_left:
                k = min(c.body_left, len(buf))
                c.body_left -= k
                buf = buf[k:]
                if c.body_left:
                    break
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > 65536:
                    buf = b""      # not HTTP we understand: stop looking
                break
            head, buf = buf[:end], buf[end + 4:]
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ")
            method = parts[0].decode("latin-1", "replace")
            path = parts[1] if len(parts) > 1 else b""
            headers = {}
            for ln in lines[1:]:
                if b":" in ln:
                    k, v = ln.split(b":", 1)
                    headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
            try:
                c.body_left = int(headers.get("content-length", "0"))
            except ValueError:
                c.body_left = 0
            cut = None
            if path.startswith(self.prefix) and method in self.methods:
                self._stream_reqs += 1
                if self._stream_reqs in self.reject:
                    self._record(c, "request", method=method,
                                 path=path.decode("latin-1", "replace"),
                                 last_event_id=headers.get("last-event-id"), cut_after=None,
                                 rejected=True)
                    self._record(c, "reject", status=503)
                    return True
            if path.startswith(self.prefix) and method in self.methods and (
                    self.cuts_left is None or self.cuts_left > 0):
                cut = next(self.cut_after)
                if self.cuts_left is not None:
                    self.cuts_left -= 1
            with c.lock:
                c.budget = cut      # a later request on this connection is not cut
                c.cut_at = cut
            self._record(c, "request", method=method, path=path.decode("latin-1", "replace"),
                         last_event_id=headers.get("last-event-id"), cut_after=cut,
                         rejected=False)
        c.reqbuf = buf
        return False

    def _pump_up(self, c):
        """client -> upstream, watching for requests."""
        deadline = time.monotonic() + self.timeout
        while True:
            d = self._recv(c, c.client, deadline)
            if d is None:
                continue
            if not d:
                self._close(c, "client closed")
                return
            if self._parse_requests(c, d):
                try:
                    c.client.sendall(self.REJECT)
                except OSError:
                    pass
                self._close(c, "rejected")
                return
            try:
                c.upstream.sendall(d)
            except OSError:
                self._close(c, "upstream write failed")
                return

    def _pump_down(self, c):
        """upstream -> client, cutting after the budget."""
        deadline = time.monotonic() + self.timeout
        while True:
            d = self._recv(c, c.upstream, deadline)
            if d is None:
                continue
            if not d:
                self._close(c, "upstream closed")
                return
            with c.lock:
                budget = c.budget
            if budget is not None and len(d) >= budget:
                try:
                    c.client.sendall(d[:budget])
                except OSError:
                    pass
                self._cut_n += 1
                rst = self.cut_mode == "rst" or (self.cut_mode == "alternate"
                                                 and self._cut_n % 2 == 0)
                self._record(c, "cut", after=c.cut_at, rst=rst)
                # let the client read the last bytes before the cut (a RST
                # discards what the kernel has not handed over yet)
                if self.stall or rst:
                    time.sleep(max(self.stall, 0.05))
                self._close(c, "cut", rst=rst)
                return
            if budget is not None:
                with c.lock:
                    c.budget = budget - len(d)
            try:
                c.client.sendall(d)
            except OSError:
                self._close(c, "client write failed")
                return
