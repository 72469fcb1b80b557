# SPDX-License-Identifier: ISC
"""sseload.py: asyncio clients for the chatstream benchmarks (Python stdlib only).

Two transports open the same kind of stream:
  * HTTP/1.0 to lighttpd (no chunked encoding, so the body is the raw SSE);
  * FastCGI straight to chatstream's unix socket (a minimal FastCGI client,
    sending the params lighttpd 1.4 sends), to see chatstream without lighttpd.

A stream is counted in events: every SSE event chatstream sends starts with an
"id: N" line, which always follows a newline ("retry:"/comment lines come first),
so occurrences of b"\\nid: " are events.  Heartbeat comments are not events.
"""

import asyncio
import json
import struct
import time

MOUNT = "/chat/"
EVENT_MARK = b"\nid: "
# How OpenAI's chat chunks ([DONE]) and the Responses API (its last event) end.
END_MARKS = (b"data: [DONE]", b"event: response.completed")
END_TAIL = max(len(m) for m in END_MARKS) - 1

# --- FastCGI ------------------------------------------------------------------

FCGI_BEGIN_REQUEST, FCGI_ABORT_REQUEST, FCGI_END_REQUEST = 1, 2, 3
FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT, FCGI_STDERR = 4, 5, 6, 7
FCGI_RESPONDER = 1


def _record(rtype, content, req_id=1):
    out = []
    # Content of one record is at most 65535 bytes.
    for i in range(0, max(len(content), 1), 65535):
        chunk = content[i:i + 65535]
        pad = (8 - len(chunk) % 8) % 8
        out.append(struct.pack("!BBHHBB", 1, rtype, req_id, len(chunk), pad, 0)
                   + chunk + b"\0" * pad)
    return b"".join(out)


def _nv(name, value):
    name, value = name.encode(), value.encode()

    def ln(n):
        return bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)
    return ln(len(name)) + ln(len(value)) + name + value


def fcgi_request_bytes(body, path=""):
    """BEGIN_REQUEST, PARAMS (as lighttpd 1.4.69 sends them), STDIN; keep_conn = 0."""
    uri = MOUNT + path
    params = [
        ("CONTENT_LENGTH", str(len(body))), ("CONTENT_TYPE", "application/json"),
        ("QUERY_STRING", ""), ("REQUEST_URI", uri), ("REDIRECT_STATUS", "200"),
        ("SCRIPT_NAME", uri), ("SCRIPT_FILENAME", "/nonexistent" + uri),
        ("DOCUMENT_ROOT", "/nonexistent"), ("REQUEST_METHOD", "POST"),
        ("SERVER_PROTOCOL", "HTTP/1.1"), ("SERVER_SOFTWARE", "chatstream-bench"),
        ("GATEWAY_INTERFACE", "CGI/1.1"), ("REQUEST_SCHEME", "http"),
        ("SERVER_PORT", "80"), ("SERVER_ADDR", "127.0.0.1"), ("SERVER_NAME", "127.0.0.1"),
        ("REMOTE_ADDR", "127.0.0.1"), ("REMOTE_PORT", "40000"), ("HTTP_HOST", "127.0.0.1"),
    ]
    p = b"".join(_nv(k, v) for k, v in params)
    return (_record(FCGI_BEGIN_REQUEST, struct.pack("!HB5x", FCGI_RESPONDER, 0))
            + _record(FCGI_PARAMS, p) + struct.pack("!BBHHBB", 1, FCGI_PARAMS, 1, 0, 0, 0)
            + (_record(FCGI_STDIN, body) if body else b"")
            + struct.pack("!BBHHBB", 1, FCGI_STDIN, 1, 0, 0, 0))


def http_request_bytes(body, host="127.0.0.1"):
    return (("POST %s HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\n"
             "Accept: text/event-stream\r\nContent-Length: %d\r\n\r\n")
            % (MOUNT, host, len(body))).encode() + body


def chat_body(prompt, model):
    return json.dumps({"prompt": prompt, "model": model}).encode()


# --- one stream ---------------------------------------------------------------

class Stream(asyncio.Protocol):
    """One SSE stream over HTTP/1.0 or FastCGI; counts events as bytes arrive.

    status: HTTP status (from the status line, or chatstream's "Status:" header);
    events: SSE events seen; first_event/last_event: monotonic times;
    done: the "done" event was seen; error: why it ended early, if it did."""

    __slots__ = ("transport", "request", "fcgi", "status", "events", "bytes",
                 "first_event", "last_event", "done", "error", "closed", "head",
                 "tail", "rbuf", "stream_id", "t_open", "on_event", "closed_fut",
                 "want_close_after", "endtail")

    def __init__(self, request, fcgi=False, on_event=None, want_close_after=None):
        self.transport = None
        self.request = request
        self.fcgi = fcgi
        self.status = None
        self.events = 0
        self.bytes = 0
        self.first_event = None
        self.last_event = None
        self.done = False
        self.error = None
        self.closed = False
        self.head = b""          # response head until parsed; None after
        self.tail = b""          # last bytes of the body, for marks split across reads
        self.endtail = b""       # the same for the end marks (END_MARKS)
        self.rbuf = b""          # FastCGI: an incomplete record
        self.stream_id = None
        self.t_open = time.monotonic()
        self.on_event = on_event
        self.closed_fut = None
        self.want_close_after = want_close_after

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    # The body as chatstream produced it (SSE), whatever the transport.
    def _body(self, data):
        if self.head is not None:
            self.head += data
            sep = self.head.find(b"\r\n\r\n")
            if sep < 0:
                if len(self.head) > 65536:
                    self.error = "head too large"
                    self.transport.close()
                return
            head, data = self.head[:sep], self.head[sep + 4:]
            self.head = None
            lines = head.split(b"\r\n")
            if lines[0].startswith(b"HTTP/"):
                try:
                    self.status = int(lines[0].split()[1])
                except (IndexError, ValueError):
                    self.status = -1
            else:
                self.status = 200
            for ln in lines[1:]:
                k, _, v = ln.partition(b":")
                k = k.strip().lower()
                if k == b"status":
                    try:
                        self.status = int(v.split()[0])
                    except (IndexError, ValueError):
                        self.status = -1
                elif k == b"x-stream-id":
                    self.stream_id = v.strip().decode("ascii", "replace")
            data = b"\n" + data     # the first "id:" line may open the body
        if not data:
            return
        self.bytes += len(data)
        # The end of the OpenAI formats (its name may come a read before its id line).
        if not self.done:
            end = self.endtail + data
            self.done = any(m in end for m in END_MARKS)
            self.endtail = end[-END_TAIL:]
        buf = self.tail + data
        n = buf.count(EVENT_MARK)
        if n:
            now = time.monotonic()
            if self.first_event is None:
                self.first_event = now
            self.last_event = now
            self.events += n
            if not self.done and b"event: done" in buf:
                self.done = True
            if self.on_event is not None:
                self.on_event(self, n)
            if self.want_close_after is not None and self.events >= self.want_close_after:
                self.want_close_after = None
                if self.closed_fut is not None and not self.closed_fut.done():
                    self.closed_fut.set_result(self.events)
        self.tail = buf[-(len(EVENT_MARK) - 1):]

    def data_received(self, data):
        if not self.fcgi:
            self._body(data)
            return
        self.rbuf += data
        buf = self.rbuf
        pos = 0
        while len(buf) - pos >= 8:
            _, rtype, _, clen, pad, _ = struct.unpack_from("!BBHHBB", buf, pos)
            end = pos + 8 + clen + pad
            if end > len(buf):
                break
            if rtype == FCGI_STDOUT and clen:
                self._body(buf[pos + 8:pos + 8 + clen])
            elif rtype == FCGI_END_REQUEST:
                self.closed = True
            pos = end
        self.rbuf = buf[pos:]

    def connection_lost(self, exc):
        self.closed = True
        if exc is not None and self.error is None:
            self.error = type(exc).__name__
        if self.closed_fut is not None and not self.closed_fut.done():
            self.closed_fut.set_result(self.events)


async def open_stream(target, request, fcgi=False, **kw):
    """target: ("tcp", host, port) or ("unix", path). Returns the Stream, or
    raises OSError when the connection cannot be made."""
    loop = asyncio.get_running_loop()
    s = Stream(request, fcgi=fcgi, **kw)
    if target[0] == "tcp":
        await loop.create_connection(lambda: s, target[1], target[2])
    else:
        await loop.create_unix_connection(lambda: s, target[1])
    return s


# --- many held streams (concurrency) -------------------------------------------

async def open_many(targets, n, request, rate, deadline_s, errors):
    """Opens n streams at about `rate` per second, round-robin over targets.
    Connection errors are counted in errors[kind]; returns the Streams opened."""
    streams = []
    sem = asyncio.Semaphore(256)
    t0 = time.monotonic()

    async def one(i):
        async with sem:
            try:
                s = await asyncio.wait_for(
                    open_stream(targets[i % len(targets)], request), 10)
                streams.append(s)
            except (OSError, asyncio.TimeoutError) as e:
                k = getattr(e, "strerror", None) or type(e).__name__
                errors[k] = errors.get(k, 0) + 1

    tasks = []
    for i in range(n):
        due = t0 + i / rate
        now = time.monotonic()
        if now > t0 + deadline_s:
            errors["not attempted (ramp deadline)"] = n - i
            break
        if due > now:
            await asyncio.sleep(due - now)
        tasks.append(asyncio.ensure_future(one(i)))
    if tasks:
        await asyncio.gather(*tasks)
    return streams


# --- throughput (streams run to the end) -----------------------------------------

async def run_to_end(target, request, fcgi, total, parallel, timeout_s):
    """Runs `total` streams, `parallel` at a time, each to its end.
    Returns dict: streams, ok, events, bytes, errors, wall."""
    res = {"streams": 0, "ok": 0, "events": 0, "bytes": 0, "errors": {}, "wall": 0.0}
    loop = asyncio.get_running_loop()
    counter = iter(range(total))
    t0 = time.monotonic()
    stop_at = t0 + timeout_s

    async def worker():
        for _ in counter:
            if time.monotonic() > stop_at:
                res["errors"]["time limit"] = res["errors"].get("time limit", 0) + 1
                continue
            fut = loop.create_future()
            try:
                s = Stream(request, fcgi=fcgi)
                s.closed_fut = fut
                if target[0] == "tcp":
                    await loop.create_connection(lambda: s, target[1], target[2])
                else:
                    await loop.create_unix_connection(lambda: s, target[1])
                await asyncio.wait_for(fut, max(1.0, stop_at - time.monotonic()))
            except (OSError, asyncio.TimeoutError) as e:
                k = getattr(e, "strerror", None) or type(e).__name__
                res["errors"][k] = res["errors"].get(k, 0) + 1
                if s.transport is not None:
                    s.transport.close()
                continue
            res["streams"] += 1
            res["events"] += s.events
            res["bytes"] += s.bytes
            if s.status == 200 and s.done:
                res["ok"] += 1
            else:
                k = "status %s, done=%s, %s" % (s.status, s.done, s.error)
                res["errors"][k] = res["errors"].get(k, 0) + 1

    await asyncio.gather(*(worker() for _ in range(parallel)))
    res["wall"] = time.monotonic() - t0
    return res
