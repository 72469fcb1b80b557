# SPDX-License-Identifier: ISC
"""fcgi.py: a minimal FastCGI client that plays the front server's side (what
lighttpd, nginx or Apache do) for protocol-level tests of chatstream.

It speaks FastCGI 1.0 over a unix socket (or TCP): FCGI_BEGIN_REQUEST with role
RESPONDER, FCGI_PARAMS records (name/value lengths encoded in 1 byte when
< 128, else 4 bytes with the high bit set), the empty PARAMS record, FCGI_STDIN
in chunks plus the empty STDIN record; then it reads FCGI_STDOUT, FCGI_STDERR
and FCGI_END_REQUEST.  STDOUT can be read incrementally (read_stdout()) and
the connection can be closed mid-response (close()), which is how front
servers signal a client that went away (none of them sends FCGI_ABORT_REQUEST).

Limits: one request per connection (no multiplexing, no FCGI_KEEP_CONN reuse
beyond what the caller does by hand), no FCGI_GET_VALUES, no FCGI_DATA
(filter role).  Every read has a timeout; nothing here loops unbounded.
"""

import socket
import struct
import time

__all__ = ["FCGI_BEGIN_REQUEST", "FCGI_ABORT_REQUEST", "FCGI_END_REQUEST",
           "FCGI_PARAMS", "FCGI_STDIN", "FCGI_STDOUT", "FCGI_STDERR",
           "FCGI_RESPONDER", "FcgiError", "FcgiClient", "encode_nv",
           "record", "parse_cgi_response", "request"]

FCGI_VERSION_1 = 1
FCGI_BEGIN_REQUEST = 1
FCGI_ABORT_REQUEST = 2
FCGI_END_REQUEST = 3
FCGI_PARAMS = 4
FCGI_STDIN = 5
FCGI_STDOUT = 6
FCGI_STDERR = 7
FCGI_DATA = 8
FCGI_GET_VALUES = 9
FCGI_GET_VALUES_RESULT = 10
FCGI_UNKNOWN_TYPE = 11

FCGI_RESPONDER = 1
FCGI_KEEP_CONN = 1

FCGI_REQUEST_COMPLETE = 0

MAX_CONTENT = 65535


class FcgiError(Exception):
    pass


def _len_bytes(n):
    if n < 128:
        return bytes([n])
    if n > 0x7FFFFFFF:
        raise ValueError("name/value too long")
    return struct.pack(">I", n | 0x80000000)


def encode_nv(name, value):
    """One name-value pair: lengths in 1 byte (< 128) or 4 bytes (high bit set)."""
    if isinstance(name, str):
        name = name.encode("latin-1")
    if isinstance(value, str):
        value = value.encode("utf-8")
    return _len_bytes(len(name)) + _len_bytes(len(value)) + name + value


def record(rtype, request_id, content=b"", padding=None):
    """One record; padding defaults to aligning the record to 8 bytes."""
    if len(content) > MAX_CONTENT:
        raise ValueError("record content too long")
    if padding is None:
        padding = (-len(content)) % 8
    return (struct.pack(">BBHHBx", FCGI_VERSION_1, rtype, request_id,
                        len(content), padding) + content + b"\0" * padding)


def _records(rtype, request_id, data):
    """data split into as many records as needed (never the empty record)."""
    out = []
    for k in range(0, len(data), MAX_CONTENT):
        out.append(record(rtype, request_id, data[k:k + MAX_CONTENT]))
    return b"".join(out)


class FcgiClient:
    """One connection to a FastCGI application.

    c = FcgiClient("/path.sock"); c.begin(); c.params({...}); c.stdin(body)
    then read_stdout() repeatedly (returns b"" once FCGI_END_REQUEST came) or
    read_all().  close() at any time drops the connection."""

    def __init__(self, address, timeout=10.0, request_id=1):
        self.request_id = request_id
        self.timeout = timeout
        if isinstance(address, tuple):
            self.sock = socket.create_connection(address, timeout=timeout)
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(address)
        self._rbuf = b""
        self.stdout_chunks = []      # (time.monotonic(), bytes) per STDOUT record
        self.stderr = b""
        self.ended = False
        self.app_status = None
        self.protocol_status = None
        self.eof = False
        self.other_records = []      # (type, content) of unexpected records

    # -- sending -----------------------------------------------------------
    def send_raw(self, data):
        self.sock.sendall(data)

    def begin(self, role=FCGI_RESPONDER, flags=0):
        body = struct.pack(">HB5x", role, flags)
        self.sock.sendall(record(FCGI_BEGIN_REQUEST, self.request_id, body))

    def params(self, params, end=True):
        """params: dict or list of (name, value); str or bytes each.  Sends
        them in PARAMS records, then (end=True) the empty PARAMS record."""
        items = params.items() if isinstance(params, dict) else params
        data = b"".join(encode_nv(k, v) for k, v in items)
        if data:
            self.sock.sendall(_records(FCGI_PARAMS, self.request_id, data))
        if end:
            self.sock.sendall(record(FCGI_PARAMS, self.request_id, b""))

    def stdin(self, body=b"", chunk=MAX_CONTENT, end=True):
        """Sends body in STDIN records of at most chunk bytes, then (end=True)
        the empty STDIN record."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        chunk = max(1, min(chunk, MAX_CONTENT))
        for k in range(0, len(body), chunk):
            self.sock.sendall(record(FCGI_STDIN, self.request_id, body[k:k + chunk]))
        if end:
            self.sock.sendall(record(FCGI_STDIN, self.request_id, b""))

    def abort(self):
        self.sock.sendall(record(FCGI_ABORT_REQUEST, self.request_id, b""))

    # -- receiving ---------------------------------------------------------
    def _fill(self, need, deadline):
        while len(self._rbuf) < need:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("FastCGI read timed out")
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(65536)
            except ConnectionResetError:
                d = b""
            if not d:
                self.eof = True
                return False
            self._rbuf += d
        return True

    def read_record(self, timeout=None):
        """Returns (type, request_id, content), or None at EOF."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        if not self._fill(8, deadline):
            if self._rbuf:
                raise FcgiError("EOF inside a record header (%d bytes)" % len(self._rbuf))
            return None
        ver, rtype, rid, clen, plen = struct.unpack(">BBHHBx", self._rbuf[:8])
        if ver != FCGI_VERSION_1:
            raise FcgiError("bad record version %d" % ver)
        if not self._fill(8 + clen + plen, deadline):
            raise FcgiError("EOF inside a record body")
        content = self._rbuf[8:8 + clen]
        self._rbuf = self._rbuf[8 + clen + plen:]
        return rtype, rid, content

    def read_stdout(self, timeout=None):
        """Reads records until some STDOUT content arrives; returns it.
        Returns b"" once FCGI_END_REQUEST arrived (or at EOF).  STDERR
        content is collected in self.stderr."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for _ in range(100000):
            if self.ended or self.eof:
                return b""
            rec = self.read_record(timeout=max(0.0, deadline - time.monotonic()))
            if rec is None:
                return b""
            rtype, rid, content = rec
            if rid != self.request_id and rtype != FCGI_UNKNOWN_TYPE:
                raise FcgiError("record for request id %d, expected %d" % (rid, self.request_id))
            if rtype == FCGI_STDOUT:
                if content:
                    self.stdout_chunks.append((time.monotonic(), content))
                    return content
            elif rtype == FCGI_STDERR:
                self.stderr += content
            elif rtype == FCGI_END_REQUEST:
                if len(content) < 8:
                    raise FcgiError("short FCGI_END_REQUEST body")
                self.app_status, self.protocol_status = struct.unpack(">IB3x", content[:8])
                self.ended = True
                return b""
            else:
                self.other_records.append((rtype, content))
        raise FcgiError("too many records")

    def read_all(self, timeout=None):
        """Reads until FCGI_END_REQUEST or EOF; returns all STDOUT bytes."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        out = []
        for _ in range(1000000):
            d = self.read_stdout(timeout=max(0.0, deadline - time.monotonic()))
            if not d:
                break
            out.append(d)
        return b"".join(out)

    def stdout(self):
        return b"".join(c for _, c in self.stdout_chunks)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def parse_cgi_response(data):
    """Splits a CGI response (what the app writes on STDOUT) into
    (status:int, headers: list of (name, value), body: bytes).  Status comes
    from the Status: header (200 when absent).  Header lines end with LF or
    CRLF; raises FcgiError when the header block is not terminated."""
    k_crlf = data.find(b"\r\n\r\n")
    k_lf = data.find(b"\n\n")
    if k_crlf < 0 and k_lf < 0:
        raise FcgiError("no end of CGI headers in %r" % data[:200])
    if k_lf < 0 or (0 <= k_crlf < k_lf):
        head, body = data[:k_crlf], data[k_crlf + 4:]
    else:
        head, body = data[:k_lf], data[k_lf + 2:]
    headers = []
    status = 200
    for line in head.split(b"\n"):
        line = line.rstrip(b"\r")
        if not line:
            continue
        if b":" not in line:
            raise FcgiError("bad CGI header line %r" % line)
        name, value = line.split(b":", 1)
        name = name.decode("latin-1")
        value = value.strip().decode("latin-1")
        headers.append((name, value))
        if name.lower() == "status":
            status = int(value.split()[0])
    return status, headers, body


def request(address, params, body=b"", timeout=10.0, stdin_chunk=MAX_CONTENT):
    """One complete request; returns (status, headers, body, client)."""
    with FcgiClient(address, timeout=timeout) as c:
        c.begin()
        c.params(params)
        c.stdin(body, chunk=stdin_chunk)
        out = c.read_all()
    status, headers, rbody = parse_cgi_response(out)
    return status, headers, rbody, c
