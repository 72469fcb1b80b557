# SPDX-License-Identifier: ISC
"""relay.py: helpers shared by the relay tests (t_relay.py, t_relay_faults.py)
and bench/relay.py, on top of harness.py:

  NamedLighttpd     one more lighttpd next to the fixture's own (its own port
                    and files), e.g. in front of the upstream chatstream B;
                    start_named_lighttpd() starts one or bails out;
  OpenAIView        an OpenAI-format stream (chat.completion.chunk events, data:
                    [DONE]) decoded: text, finish_reason, usage, errors;
  fcgi_stream       a POST straight to a chatstream's FastCGI socket (the front
  FcgiReader        server's side, closable at will), read incrementally;
  todo_ok           tap.todo_ok, a TAP TODO test point, imported from here;
  find_secret       which files / byte strings contain a secret (raw or
  all_files         JSON-escaped); every file under a directory.

Limits: loopback only, every wait bounded, processes stopped by the fixture.
"""

import json
import os
import time

import fcgi
import harness
from harness import bail, diag, scaled, todo_ok  # noqa: F401 (todo_ok: for the tests)
from sse import SSEParser


class NamedLighttpd(harness.Lighttpd):
    """harness.Lighttpd with its files prefixed by name (NAME.conf,
    NAME-error.log, NAME.stderr), so two can run in one fixture; mounts the
    given chatstream at /chat/ with the shipped snippet, as the fixture's does.
    The fixture's close() kills its process (it is in fx._procs); stop() it
    first for a clean shutdown."""

    def __init__(self, fx, chatstream, name):
        harness.Lighttpd.__init__(self, fx, chatstream.sock)
        self.name = name
        self.errorlog = fx.path(name + "-error.log")
        self.stderr = fx.path(name + ".stderr")
        self.conf = fx.path(name + ".conf")

    def logs(self):
        out = []
        for p in (self.errorlog, self.stderr):
            try:
                with open(p, "rb") as f:
                    out.append(f.read())
            except OSError:
                pass
        return b"".join(out)


def start_named_lighttpd(fx, chatstream, name):
    lt = NamedLighttpd(fx, chatstream, name)
    started, info = lt.start()
    if not started:
        diag("lighttpd %s did not come up: %s" % (name, info))
        fx.dump_logs()
        bail("lighttpd %s did not start" % name)
    return lt


class OpenAIView:
    """An OpenAI-format stream decoded from its SSE events."""

    def __init__(self, events, comments=()):
        self.events = events
        self.comments = list(comments)
        self.chunks = []          # decoded chat.completion.chunk objects
        self.errors = []          # {"error": ...} objects
        self.bad = []             # events that are neither
        self.done = False         # the last event is data: [DONE]
        self.after_done = 0       # events after [DONE]
        self.named = [e for e in events if e.type != "message"]
        self.ids = [e.last_event_id for e in events if e.last_event_id]
        for e in events:
            if self.done:
                self.after_done += 1
                continue
            if e.data == "[DONE]":
                self.done = True
                continue
            try:
                d = json.loads(e.data)
            except ValueError:
                self.bad.append(e)
                continue
            if isinstance(d, dict) and "error" in d:
                self.errors.append(d)
            elif isinstance(d, dict) and d.get("object") == "chat.completion.chunk":
                self.chunks.append(d)
            else:
                self.bad.append(e)

    @classmethod
    def of(cls, res):
        return cls(res.events, res.sse.comments)

    def _choices(self):
        for c in self.chunks:
            for ch in c.get("choices") or []:
                yield ch

    @property
    def texts(self):
        return [ch.get("delta", {}).get("content") for ch in self._choices()
                if isinstance(ch.get("delta", {}).get("content"), str)
                and ch["delta"]["content"] != ""]

    @property
    def text(self):
        return "".join(self.texts)

    @property
    def finish_reason(self):
        fr = [ch.get("finish_reason") for ch in self._choices() if ch.get("finish_reason")]
        return fr[-1] if fr else None

    @property
    def usage(self):
        u = [c.get("usage") for c in self.chunks if isinstance(c.get("usage"), dict)]
        return u[-1] if u else None

    @property
    def role(self):
        for ch in self._choices():
            r = ch.get("delta", {}).get("role")
            if r:
                return r
        return None

    def error(self):
        return (self.errors[-1].get("error") if self.errors else None) or None


def fcgi_stream(cs, path, payload, timeout=10):
    """Starts a POST of payload (JSON) to chatstream's own FastCGI socket as
    lighttpd would send it; returns an open fcgi.FcgiClient whose STDOUT the
    caller reads (read_stdout) and may close() at any time."""
    body = json.dumps(payload).encode("utf-8")
    c = fcgi.FcgiClient(cs.sock, timeout=timeout)
    c.begin()
    c.params(harness.fcgi_params("POST", path, "application/json", len(body)))
    c.stdin(body)
    return c


class FcgiReader:
    """Reads a FastCGI response incrementally: status/headers once the CGI head
    is complete, then the body through an SSE parser (chunk arrival times kept)."""

    def __init__(self, client):
        self.c = client
        self.raw = b""
        self.head_done = False
        self.status = None
        self.headers = []
        self.body = b""
        self.sse = SSEParser()
        self.ended = False

    def read(self, timeout=1.0):
        """Reads one STDOUT record (or nothing in timeout); False once ended."""
        if self.ended:
            return False
        try:
            d = self.c.read_stdout(timeout=timeout)
        except OSError:          # socket.timeout included: nothing arrived
            return True
        if not d:
            self.ended = True
            self.sse.close()
            return False
        t = time.monotonic()
        if not self.head_done:
            self.raw += d
            k = self.raw.find(b"\r\n\r\n")
            if k < 0:
                return True
            st, hs, rest = fcgi.parse_cgi_response(self.raw[:k + 4])
            self.status, self.headers, self.head_done = st, hs, True
            d = self.raw[k + 4:]
        self.body += d
        if d:
            self.sse.feed(d, t)
        return True

    def read_until(self, pred, timeout):
        end = time.monotonic() + scaled(timeout)
        for _ in range(100000):
            if pred(self):
                return True
            left = end - time.monotonic()
            if left <= 0 or not self.read(min(left, 0.5)):
                return bool(pred(self))
        return bool(pred(self))

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def events(self):
        return self.sse.events


def find_secret(secret, paths=(), blobs=()):
    """Names of the files (paths) and labelled blobs ((label, bytes)) holding
    secret, also in its JSON-escaped form."""
    needles = {secret.encode("utf-8"), json.dumps(secret)[1:-1].encode("utf-8")}
    hits = []
    for p in paths:
        try:
            with open(p, "rb") as f:
                data = f.read()
        except OSError:
            continue
        if any(n in data for n in needles):
            hits.append(p)
    for label, data in blobs:
        if isinstance(data, str):
            data = data.encode("utf-8", "replace")
        if any(n in data for n in needles):
            hits.append(label)
    return hits


def all_files(top):
    """Every regular file under top (the fixture's temp dir: logs, configs...)."""
    out = []
    for dirpath, _, files in os.walk(top):
        for f in files:
            out.append(os.path.join(dirpath, f))
    return out
