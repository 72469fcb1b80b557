# SPDX-License-Identifier: ISC
"""fake_upstream.py: a TEST DOUBLE of an OpenAI-compatible chat-completions
server, used only for the upstream faults a real chatstream upstream cannot
produce (tests/t_relay_faults.py), and to see the request chatstream's
`openai` backend really sends (headers, API key, body).  The normal relay is
tested against a real chatstream (demo backend) behind lighttpd, with no mock:
tests/t_relay.py.  Nothing here is a reference for what a real server does
beyond the wire format of OpenAI's streaming chat completions.

A threaded HTTP/1.1 server on 127.0.0.1 (port chosen by the kernel).  The
upstream model name in the POSTed JSON body ("model") picks the scenario, so
one chatstream config maps each [model NAME] to one scenario with
`model = SCENARIO`.  Scenarios (see SCENARIOS below):

  ok, ok_close, ok_length, ok_filter, ascii_escapes, crlf_bom, pings, trickle,
  halflines, malformed, not_object, truncated, truncated_chunked, empty_200,
  done_late_end, done_then_hang, midstream_error, midstream_echo, status500,
  status401, status400_context, status401_filler, midstream_filler, status429, status429_huge,
  status429_date, status429_sign, status404_html,
  big_event, big_multiline, stall_headers, slow500, endless,
  tools, tools_reasoning, tools_both, refusal (what is not text, in tiny
  pieces: see parts_body), responses_parts, responses_failed (the same as
  the Responses API's events, for POST /responses: see responses_body), tools_hang (tools' parts, then nothing but
  comments until the client leaves), logprobs_many, calls_many,
  control_text (answers that press on max_event),
  choices (the request's n choices, 2 when it has none, interleaved: see
  choices_body)

Every request is recorded (method, path, headers, body, connection number,
arrival time), and so is the time each connection was closed by the client.
FakeUpstream(tls=(cert, key)) serves HTTPS instead (failed handshakes are
recorded in tls_failures).

Limits: loopback only; at most MAX_CONNS connections are served at once (more
are closed at once); request bodies over MAX_BODY are refused (413); every
scenario ends within its own bounded time (the longest, endless and
stall_headers, after LONGEST seconds); a connection idle for IDLE seconds
between requests is closed.  close() stops the server and waits (bounded)
for its threads.
"""

import json
import select
import socket
import socketserver
import ssl
import threading
import time

from harness import scaled

__all__ = ["FakeUpstream", "FAKE_TOKENS", "FAKE_TEXT", "FAKE_USAGE", "PARTS", "choice_parts",
           "CHOICES_USAGE"]

MAX_CONNS = 32
MAX_BODY = 1 << 20
IDLE = 10.0
LONGEST = 30.0
LATE_END = 0.05

# The answer of the streaming scenarios: multi-byte characters in several
# tokens (2-, 3- and 4-byte UTF-8), a JSON-escaped quote and backslash, a
# newline and a tab.
FAKE_TOKENS = ["Héllo", ", wörld", "! 日本語", " 🎉🚀", " \"quoted\\\"", "\n\ttab", " done."]
FAKE_TEXT = "".join(FAKE_TOKENS)
# Upstream usage numbers no local count could produce.
FAKE_USAGE = {"prompt_tokens": 777, "completion_tokens": 55, "total_tokens": 832}


# What the tools scenarios send besides text, each in pieces of a few characters.
PARTS = {
    "reasoning": "The user wants the weather: call get_weather, then the time. "
                 "ünïcödé 日本 🎉 \"q\" \\ end.",
    "content": "Checking…",
    "logprobs": {"content": [{"token": "Checking", "logprob": -0.25, "bytes": None,
                              "top_logprobs": []},
                             {"token": "…", "logprob": -1.5, "bytes": [226, 128, 166],
                              "top_logprobs": []}]},
    "calls": [("call_fake_1", "get_weather",
               '{"city": "Paris", "unit": "celsius", "note": "a \\"quote\\" and 🎉"}'),
              ("call_fake_2", "get_time", '{"tz": "Europe/Paris"}')],
    "refusal": "I can’t help with that — sorry. 🙅",
    "usage": {"prompt_tokens": 41, "completion_tokens": 97, "total_tokens": 138,
              "prompt_tokens_details": {"cached_tokens": 7},
              "completion_tokens_details": {"reasoning_tokens": 23}},
}


def pieces(text, n=3):
    return [text[k:k + n] for k in range(0, len(text), n)]


def parts_body(kind, reasoning_key="reasoning_content"):
    """The events of an answer with what is not text, every part in pieces of
    a few characters: kind "tools" (reasoning under reasoning_key, or under
    both keys with "both"; text with logprobs, two tool
    calls whose arguments come 3 characters at a time, finish tool_calls) or
    "refusal" (a refusal, finish stop); usage with details either way."""
    out = [sse(chunk_obj({"role": "assistant", "content": None}))]
    if kind == "refusal":
        for p in pieces(PARTS["refusal"]):
            out.append(sse(chunk_obj({"refusal": p})))
        finish = "stop"
    else:
        for p in pieces(PARTS["reasoning"], 2):
            keys = ["reasoning_content", "reasoning"] if reasoning_key == "both" else [reasoning_key]
            out.append(sse(chunk_obj({k: p for k in keys})))
        c = chunk_obj({"content": PARTS["content"]})
        c["choices"][0]["logprobs"] = PARTS["logprobs"]
        out.append(sse(c))
        for k, (cid, name, args) in enumerate(PARTS["calls"]):
            out.append(sse(chunk_obj({"tool_calls": [{
                "index": k, "id": cid, "type": "function",
                "function": {"name": name, "arguments": ""}}]})))
            for p in pieces(args):
                out.append(sse(chunk_obj({"tool_calls": [{
                    "index": k, "function": {"arguments": p}}]})))
        finish = "tool_calls"
    out.append(sse(chunk_obj({}, finish)))
    out.append(sse(chunk_obj(usage=PARTS["usage"], choices=False)))
    out.append(b"data: [DONE]\n\n")
    return out


# What choice k of the choices scenario says (choices past 2 say what 2 does,
# with their number): 0 reasons and answers with logprobs, 1 answers and
# calls a tool, the others are cut short.
def choice_parts(k):
    if k == 0:
        return {"reasoning": "Zero thinks first: ü 🎉", "content": "Héllo from choice zero: 日本語 🎉 \"q\" \\ end.",
                "calls": [], "finish": "stop",
                "logprobs": [{"token": "Hél", "logprob": -0.125, "bytes": [72, 195, 169, 108],
                              "top_logprobs": []}]}
    if k == 1:
        return {"reasoning": "", "content": "Choice one calls a tool… ✓",
                "calls": [("call_one_1", "get_weather", '{"city": "Paris", "note": "🎉 \\"x\\""}')],
                "finish": "tool_calls", "logprobs": []}
    return {"reasoning": "", "content": "Choice %d: ünïcödé" % k, "calls": [],
            "finish": "length", "logprobs": []}


CHOICES_USAGE = {"prompt_tokens": 12, "completion_tokens": 345, "total_tokens": 357}


def choices_body(n):
    """The events of an answer of n choices as OpenAI interleaves them: a
    role chunk each, then a piece of each choice in turn (reasoning, text
    with logprobs on its first piece, tool-call fragments: see choice_parts),
    each choice's finish chunk as soon as it is done (the shorter ones
    first), one chunk carrying two choices at once (1 before 0); usage,
    [DONE]."""
    queues = []
    for k in range(n):
        p = choice_parts(k)
        q = [{"role": "assistant", "content": ""}]
        q += [{"reasoning_content": x} for x in pieces(p["reasoning"], 2)]
        q += [{"content": x} for x in pieces(p["content"])]
        for j, (cid, name, args) in enumerate(p["calls"]):
            q.append({"tool_calls": [{"index": j, "id": cid, "type": "function",
                                      "function": {"name": name, "arguments": ""}}]})
            q += [{"tool_calls": [{"index": j, "function": {"arguments": a}}]}
                  for a in pieces(args)]
        items = [{"index": k, "delta": d, "finish_reason": None} for d in q]
        first = next((i for i, d in enumerate(q) if "content" in d and d["content"]), None)
        if p["logprobs"] and first is not None:
            items[first]["logprobs"] = {"content": p["logprobs"]}
        items.append({"index": k, "delta": {}, "finish_reason": p["finish"]})
        queues.append(items)
    out = []
    rnd = 0
    while any(queues):
        row = [q.pop(0) for q in queues if q]
        rnd += 1
        if rnd == 5 and len(row) >= 2:
            o = chunk_obj()
            o["choices"] = [row[1], row[0]]
            out.append(sse(o))
            row = row[2:]
        for c in row:
            o = chunk_obj()
            o["choices"] = [c]
            out.append(sse(o))
    out.append(sse(chunk_obj(usage=CHOICES_USAGE, choices=False)))
    out.append(b"data: [DONE]\n\n")
    return out


def responses_body(fail=False):
    """The events of a Responses API answer (POST /responses) with every part
    in pieces of a few characters: a reasoning item whose summary grows by
    response.reasoning_summary_text.delta, a message whose text comes with
    its logprobs, two function_call items, the first one's arguments 3
    characters at a time, the second's whole in its done event only (as some
    servers send them), response.completed with the usage and its details; with fail,
    response.failed after the text instead."""
    n = [0]

    def ev(obj):
        obj["sequence_number"] = n[0]
        n[0] += 1
        return b"event: %s\ndata: %s\n\n" % (obj["type"].encode(),
                                                json.dumps(obj).encode("utf-8"))

    resp = {"id": "resp_up", "object": "response", "status": "in_progress", "output": []}
    out = [ev({"type": "response.created", "response": resp})]
    out.append(ev({"type": "response.output_item.added", "output_index": 0,
                   "item": {"id": "rs_up", "type": "reasoning", "summary": []}}))
    for p in pieces(PARTS["reasoning"], 2):
        out.append(ev({"type": "response.reasoning_summary_text.delta", "item_id": "rs_up",
                       "output_index": 0, "summary_index": 0, "delta": p}))
    out.append(ev({"type": "response.output_item.added", "output_index": 1,
                   "item": {"id": "msg_up", "type": "message", "role": "assistant",
                            "content": []}}))
    out.append(ev({"type": "response.output_text.delta", "item_id": "msg_up",
                   "output_index": 1, "content_index": 0, "delta": PARTS["content"],
                   "logprobs": PARTS["logprobs"]["content"]}))
    if fail:
        out.append(ev({"type": "response.failed", "response": dict(resp, status="failed", error={
            "code": "server_error", "message": "The model crashed: boom"})}))
        return out
    for k, (cid, name, args) in enumerate(PARTS["calls"]):
        at = 2 + k
        out.append(ev({"type": "response.output_item.added", "output_index": at,
                       "item": {"id": "fc_up%d" % k, "type": "function_call", "call_id": cid,
                                "name": name, "arguments": "", "status": "in_progress"}}))
        for p in pieces(args) if k == 0 else []:
            out.append(ev({"type": "response.function_call_arguments.delta",
                           "item_id": "fc_up%d" % k, "output_index": at, "delta": p}))
        out.append(ev({"type": "response.function_call_arguments.done",
                       "item_id": "fc_up%d" % k, "output_index": at, "arguments": args}))
    u = PARTS["usage"]
    out.append(ev({"type": "response.completed", "response": dict(resp, status="completed", usage={
        "input_tokens": u["prompt_tokens"], "output_tokens": u["completion_tokens"],
        "total_tokens": u["total_tokens"],
        "input_tokens_details": u["prompt_tokens_details"],
        "output_tokens_details": u["completion_tokens_details"]})}))
    return out


class Recorded:
    """One request as the fake upstream saw it."""

    __slots__ = ("method", "path", "headers", "body", "json", "conn", "time")

    def __init__(self, method, path, headers, body, conn, t):
        self.method = method
        self.path = path
        self.headers = headers          # [(name, value)] in arrival order
        self.body = body
        try:
            self.json = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            self.json = None
        self.conn = conn
        self.time = t

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]


class _Gone(Exception):
    """The client closed the connection."""


def chunk_obj(delta=None, finish=None, usage=None, model="fake", choices=True):
    o = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000,
         "model": model}
    if choices:
        o["choices"] = [{"index": 0, "delta": delta if delta is not None else {},
                         "finish_reason": finish}]
    else:
        o["choices"] = []
    if usage is not None:
        o["usage"] = usage
    return o


def sse(obj, ascii_=False, eol="\n"):
    data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=ascii_,
                                                       separators=(",", ":"))
    return ("data: " + data + eol + eol).encode("utf-8")


def normal_body(finish="stop", ascii_=False, eol="\n", tokens=FAKE_TOKENS):
    """The events of a complete, well-formed streamed answer, as bytes."""
    out = [sse(chunk_obj({"role": "assistant", "content": ""}), ascii_, eol)]
    for t in tokens:
        out.append(sse(chunk_obj({"content": t}), ascii_, eol))
    out.append(sse(chunk_obj({}, finish), ascii_, eol))
    out.append(sse(chunk_obj(usage=FAKE_USAGE, choices=False), ascii_, eol))
    out.append(("data: [DONE]" + eol + eol).encode())
    return out


class _Handler(socketserver.BaseRequestHandler):
    """One connection: HTTP/1.1 requests, one after another (keep-alive)."""

    def setup(self):
        self.up = self.server.upstream
        self.conn_no = self.up._new_conn()
        self.sock = self.request
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rbuf = b""
        self.deadline = time.monotonic() + LONGEST + 30
        self.tls_error = None
        if self.up.ssl_ctx is not None:
            # the handshake runs here, in the connection's thread, bounded
            self.sock.settimeout(10)
            try:
                self.sock = self.up.ssl_ctx.wrap_socket(self.sock, server_side=True)
                self.sock.settimeout(None)
            except (ssl.SSLError, OSError) as e:
                self.tls_error = str(e)
                self.up._tls_failed(self.conn_no, self.tls_error)

    # -- reading -------------------------------------------------------------
    def _recv(self, timeout):
        pending = getattr(self.sock, "pending", None)
        if not (pending and pending()):       # TLS: bytes already decrypted
            r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
            if not r:
                return None
        try:
            d = self.sock.recv(65536)
        except (ConnectionResetError, OSError):
            d = b""
        if not d:
            raise _Gone()
        return d

    def _read_request(self):
        end = time.monotonic() + IDLE
        for _ in range(10000):
            k = self.rbuf.find(b"\r\n\r\n")
            if k >= 0:
                break
            if len(self.rbuf) > 65536 or time.monotonic() > end:
                return None
            d = self._recv(end - time.monotonic())
            if d is not None:
                self.rbuf += d
        else:
            return None
        head, self.rbuf = self.rbuf[:k].decode("latin-1"), self.rbuf[k + 4:]
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return None
        headers = []
        for ln in lines[1:]:
            if ":" in ln:
                a, b = ln.split(":", 1)
                headers.append((a.strip(), b.strip()))
        n = 0
        for a, b in headers:
            if a.lower() == "content-length":
                n = int(b)
        if n > MAX_BODY:
            self._send_head(413, [("Content-Length", "0"), ("Connection", "close")])
            return None
        for _ in range(100000):
            if len(self.rbuf) >= n or time.monotonic() > end:
                break
            d = self._recv(end - time.monotonic())
            if d is not None:
                self.rbuf += d
        body, self.rbuf = self.rbuf[:n], self.rbuf[n:]
        return Recorded(parts[0], parts[1], headers, body, self.conn_no, time.monotonic())

    # -- writing -------------------------------------------------------------
    def _send(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, OSError):
            raise _Gone()

    def _send_head(self, status, headers):
        reason = {200: "OK", 401: "Unauthorized", 404: "Not Found", 413: "Too Large",
                  429: "Too Many Requests", 500: "Internal Server Error"}.get(status, "X")
        head = "HTTP/1.1 %d %s\r\n" % (status, reason)
        head += "".join("%s: %s\r\n" % kv for kv in headers) + "\r\n"
        self._send(head.encode("latin-1"))

    def _sleep(self, seconds):
        """Sleeps, noticing a client that closes meanwhile (raises _Gone)."""
        end = time.monotonic() + seconds
        for _ in range(100000):
            left = end - time.monotonic()
            if left <= 0:
                return
            d = self._recv(min(left, 0.05))
            if d is not None:
                self.rbuf += d       # pipelined bytes: kept, never expected

    def _stream_head(self, chunked=True, close=False):
        hs = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")]
        if chunked:
            hs.append(("Transfer-Encoding", "chunked"))
        if close or not chunked:
            hs.append(("Connection", "close"))
        self._send_head(200, hs)
        self.chunked = chunked

    def _body(self, data):
        if not data:
            return
        if self.chunked:
            self._send(b"%x\r\n" % len(data) + data + b"\r\n")
        else:
            self._send(data)

    def _end(self):
        if self.chunked:
            self._send(b"0\r\n\r\n")

    def _json(self, status, obj, extra=(), raw=None):
        body = raw if raw is not None else json.dumps(obj).encode("utf-8")
        self._send_head(status, [("Content-Type", "application/json" if raw is None
                                  else "text/html"),
                                 ("Content-Length", str(len(body)))] + list(extra))
        self._send(body)

    # -- the connection ----------------------------------------------------
    def handle(self):
        if self.tls_error is not None:
            self.up._closed(self.conn_no)
            return
        try:
            for _ in range(1000):
                if time.monotonic() > self.deadline:
                    break
                req = self._read_request()
                if req is None:
                    break
                self.up._record(req)
                keep = self._serve(req)
                if not keep:
                    break
        except _Gone:
            pass
        finally:
            self.up._closed(self.conn_no)

    def _serve(self, req):
        """Answers req; returns True when the connection may serve another."""
        name = (req.json or {}).get("model") if isinstance(req.json, dict) else None
        fn = getattr(self, "s_" + str(name), None) if name else None
        if fn is None:
            self._json(404, {"error": {"message": "unknown model %r" % name,
                                       "type": "invalid_request_error", "param": None,
                                       "code": "model_not_found"}})
            return True
        return bool(fn(req))

    # -- scenarios -------------------------------------------------------------
    # Each returns True when the connection stays usable (keep-alive).

    def s_ok(self, req):
        self._stream_head(chunked=True)
        for ev in normal_body():
            self._body(ev)
        self._end()
        return True

    def s_ok_close(self, req):
        """No length, no chunking: the body ends when the connection closes."""
        self._stream_head(chunked=False)
        for ev in normal_body():
            self._body(ev)
        return False

    def s_ok_length(self, req):
        self._stream_head()
        for ev in normal_body(finish="length"):
            self._body(ev)
        self._end()
        return True

    def s_ascii_escapes(self, req):
        """Non-ASCII as \\uXXXX escapes, emoji as surrogate pairs."""
        self._stream_head()
        for ev in normal_body(ascii_=True):
            self._body(ev)
        self._end()
        return True

    def s_crlf_bom(self, req):
        """A BOM, CRLF line ends, id:/retry:/event: lines and comments."""
        self._stream_head()
        self._body(b"\xef\xbb\xbfretry: 1000\r\n: hello\r\n\r\n")
        for k, ev in enumerate(normal_body(eol="\r\n")):
            self._body(b"id: %d\r\n" % k + ev)
        self._end()
        return True

    def s_pings(self, req):
        """Twenty `: ping` comments before every event, one inside an event."""
        self._stream_head()
        for k, ev in enumerate(normal_body()):
            self._body(b": ping\n\n" * 20)
            if k == 2:
                ev = b": keep-alive inside the event\n" + ev
            self._body(ev)
        self._end()
        return True

    def s_trickle(self, req):
        """Every byte of the body written on its own, 1 ms apart."""
        self._stream_head(chunked=False)
        for b in b"".join(normal_body()):
            self._send(bytes([b]))
            time.sleep(0.001)
        return False

    def s_halflines(self, req):
        """The body in pieces of 1..37 bytes that cut lines and characters, 5 ms apart."""
        self._stream_head()
        data = b"".join(normal_body())
        k, n = 0, 0
        while k < len(data):
            step = 1 + (n * 7) % 37
            self._body(data[k:k + step])
            k += step
            n += 1
            time.sleep(0.005)
        self._end()
        return True

    def _parts(self, body):
        """body's bytes in pieces of 1..23 bytes that cut lines and characters."""
        self._stream_head()
        data = b"".join(body)
        k, n = 0, 0
        while k < len(data):
            step = 1 + (n * 5) % 23
            self._body(data[k:k + step])
            k += step
            n += 1
            if n % 16 == 0:
                time.sleep(0.001)
        self._end()
        return True

    def s_tools(self, req):
        return self._parts(parts_body("tools"))

    def s_tools_reasoning(self, req):
        """The same with reasoning under "reasoning", as some servers send it."""
        return self._parts(parts_body("tools", "reasoning"))

    def s_tools_both(self, req):
        """The reasoning under both keys at once, the same text."""
        return self._parts(parts_body("tools", "both"))

    def s_refusal(self, req):
        return self._parts(parts_body("refusal"))

    def s_choices(self, req):
        """The request's n choices (2 when it asks for none: a choice the
        client did not ask for), interleaved, in pieces that cut lines and characters."""
        n = (req.json or {}).get("n") if isinstance(req.json, dict) else None
        return self._parts(choices_body(n if isinstance(n, int) and 1 <= n <= 8 else 2))

    def s_responses_parts(self, req):
        """A Responses API stream (for POST /responses): see responses_body."""
        return self._parts(responses_body())

    def s_responses_failed(self, req):
        """A Responses API stream that ends with response.failed."""
        return self._parts(responses_body(fail=True))

    def s_logprobs_many(self, req):
        """60 tokens, each with its logprobs and 5 top_logprobs."""
        out = [sse(chunk_obj({"role": "assistant", "content": None}))]
        for k in range(60):
            c = chunk_obj({"content": "tok%d " % k})
            c["choices"][0]["logprobs"] = {"content": [{
                "token": "tok%d " % k, "logprob": -0.5, "bytes": None,
                "top_logprobs": [{"token": "x%d" % j, "logprob": -1.0, "bytes": None}
                                 for j in range(5)]}]}
            out.append(sse(c))
        out += [sse(chunk_obj({}, "stop")), b"data: [DONE]\n\n"]
        return self._parts(out)

    def s_calls_many(self, req):
        """1000 bytes of text, then 100 tool calls, finish tool_calls."""
        out = [sse(chunk_obj({"role": "assistant", "content": None}))]
        out += [sse(chunk_obj({"content": "x" * 100})) for _ in range(10)]
        out += [sse(chunk_obj({"tool_calls": [{
            "index": k, "id": "call_%03d" % k, "type": "function",
            "function": {"name": "get_weather_%d" % k, "arguments": "{}"}}]}))
            for k in range(100)]
        out += [sse(chunk_obj({}, "tool_calls")), b"data: [DONE]\n\n"]
        return self._parts(out)

    def s_control_text(self, req):
        """One token of 3000 U+0001 characters: six bytes each, JSON-escaped."""
        return self._parts([sse(chunk_obj({"role": "assistant", "content": None})),
                            sse(chunk_obj({"content": "\x01" * 3000})),
                            sse(chunk_obj({}, "stop")), b"data: [DONE]\n\n"])

    def s_tools_hang(self, req):
        """The parts of tools without their end, then a comment every 50 ms
        until the client leaves (bounded by LONGEST)."""
        self._stream_head()
        self._body(b"".join(parts_body("tools")[:-3]))
        end = time.monotonic() + LONGEST
        while time.monotonic() < end:
            self._body(b": wait\n\n")
            self._sleep(0.05)
        self._end()
        return False

    def s_malformed(self, req):
        self._stream_head()
        body = normal_body()
        for ev in body[:3]:
            self._body(ev)
        self._body(b"data: {\"choices\": [{\"delta\": {\"content\": \"x\"}\n\n")
        for ev in body[3:]:
            self._body(ev)
        self._end()
        return True

    def s_not_object(self, req):
        self._stream_head()
        body = normal_body()
        for ev in body[:2]:
            self._body(ev)
        self._body(b"data: [1, 2, 3]\n\n")
        self._end()
        return True

    def s_truncated(self, req):
        """Two tokens, then the connection closes: no finish_reason, no [DONE]."""
        self._stream_head(chunked=False)
        for ev in normal_body()[:3]:
            self._body(ev)
        return False

    def s_truncated_chunked(self, req):
        """Chunked, two tokens, then the connection closes without the last chunk."""
        self._stream_head(chunked=True)
        for ev in normal_body()[:3]:
            self._body(ev)
        self._send(b"40\r\ndata: {\"choices\"")     # half a chunk, then gone
        return False

    def s_empty_200(self, req):
        self._send_head(200, [("Content-Type", "text/event-stream"), ("Content-Length", "0")])
        return True

    def s_midstream_error(self, req):
        self._stream_head()
        for ev in normal_body()[:3]:
            self._body(ev)
        self._body(sse({"error": {"message": "the upstream fell over\nat step 2",
                                  "type": "server_error", "param": None, "code": None}}))
        self._end()
        return True

    def s_midstream_echo(self, req):
        """A mid-stream error whose message echoes the Authorization header."""
        self._stream_head()
        for ev in normal_body()[:3]:
            self._body(ev)
        auth = req.header("Authorization") or "(none)"
        self._body(sse({"error": {"message": "token %s revoked" % auth, "type": "auth"}}))
        self._end()
        return True

    def s_ok_filter(self, req):
        """finish_reason content_filter."""
        self._stream_head()
        for ev in normal_body(finish="content_filter"):
            self._body(ev)
        self._end()
        return True

    def s_done_late_end(self, req):
        """A complete answer whose last chunk (the end of the response) comes
        LATE_END seconds after data: [DONE]; the connection stays usable."""
        self._stream_head()
        for ev in normal_body():
            self._body(ev)
        self._sleep(LATE_END)
        self._end()
        return True

    def s_done_then_hang(self, req):
        """A complete answer up to data: [DONE], then the response is never
        ended (no last chunk) until the client leaves (bounded by LONGEST)."""
        self._stream_head()
        for ev in normal_body():
            self._body(ev)
        self._sleep(LONGEST)
        return False

    def s_status500(self, req):
        self._json(500, {"error": {"message": "The model crashed: boom", "type": "server_error",
                                   "param": None, "code": None}})
        return True

    def s_status400_context(self, req):
        """400 as OpenAI answers a prompt longer than the model's context."""
        self._json(400, {"error": {"message": "This model's maximum context length is 8192 "
                                   "tokens. However, your messages resulted in 9000 tokens.",
                                   "type": "invalid_request_error", "param": "messages",
                                   "code": "context_length_exceeded"}})
        return True

    def s_status401(self, req):
        """401 whose message echoes the Authorization header it got, like a
        careless upstream: the key must not reach chatstream's client."""
        auth = req.header("Authorization") or "(none)"
        self._json(401, {"error": {"message": "Incorrect API key provided: %s. Check it." % auth,
                                   "type": "invalid_request_error", "param": None,
                                   "code": "invalid_api_key"}},
                   extra=[("WWW-Authenticate", "Bearer realm=\"%s\"" % auth)])
        return True

    @staticmethod
    def _filler_message(req):
        """N filler bytes, then the key the request carried (Authorization:
        Bearer KEY), then more words; N is the last message's content, a
        number (0..10000).  The key's place moves with N, across every place
        where chatstream may cut the message."""
        auth = req.header("Authorization") or "Bearer (none)"
        key = auth[7:] if auth.startswith("Bearer ") else auth
        msgs = (req.json or {}).get("messages") or [{}]
        try:
            n = max(0, min(10000, int(str(msgs[-1].get("content", "0")).strip())))
        except ValueError:
            n = 0
        return "x" * n + " key=" + key + " is not valid."

    def s_status401_filler(self, req):
        """401 whose message is _filler_message(): the key at any offset."""
        self._json(401, {"error": {"message": self._filler_message(req),
                                   "type": "invalid_request_error", "param": None,
                                   "code": "invalid_api_key"}})
        return True

    def s_midstream_filler(self, req):
        """Two tokens, then a mid-stream error whose message is _filler_message()."""
        self._stream_head()
        for ev in normal_body()[:3]:
            self._body(ev)
        self._body(sse({"error": {"message": self._filler_message(req), "type": "auth"}}))
        self._end()
        return True

    def s_status429(self, req):
        self._json(429, {"error": {"message": "Rate limit reached for requests",
                                   "type": "requests", "param": None,
                                   "code": "rate_limit_exceeded"}},
                   extra=[("Retry-After", "7")])
        return True

    def _rate_limited(self, retry_after):
        self._json(429, {"error": {"message": "Rate limit reached for requests",
                                   "type": "requests", "param": None,
                                   "code": "rate_limit_exceeded"}},
                   extra=[("Retry-After", retry_after)])
        return True

    def s_status429_huge(self, req):
        """A Retry-After past any int (and past 2^32)."""
        return self._rate_limited("99999999999")

    def s_status429_date(self, req):
        """Retry-After as an HTTP date, its other form."""
        return self._rate_limited("Wed, 21 Oct 2015 07:28:00 GMT")

    def s_status429_sign(self, req):
        """A number with a sign: not delta-seconds."""
        return self._rate_limited("+5")

    def s_status404_html(self, req):
        self._json(404, None, raw=b"<html><body><h1>404 Not Found</h1></body></html>\n")
        return True

    def s_big_event(self, req):
        """One data line of 5000 bytes (chatstream under test: max_line 2048)."""
        self._stream_head()
        body = normal_body()
        for ev in body[:2]:
            self._body(ev)
        self._body(sse(chunk_obj({"content": "x" * 5000})))
        for ev in body[2:]:
            self._body(ev)
        self._end()
        return True

    def s_big_multiline(self, req):
        """One event of 5 data lines of 1000 bytes: each line fits 2048, the event does not."""
        self._stream_head()
        body = normal_body()
        for ev in body[:2]:
            self._body(ev)
        self._body(b"".join(b"data: " + b" " * 1000 + b"\n" for _ in range(5)) + b"\n")
        for ev in body[2:]:
            self._body(ev)
        self._end()
        return True

    def s_stall_headers(self, req):
        """Reads the request and answers nothing (bounded by LONGEST)."""
        self._sleep(LONGEST)
        return False

    def s_slow500(self, req):
        self._sleep(0.3)
        return self.s_status500(req)

    def s_endless(self, req):
        """A token every 50 ms until the client leaves (bounded by LONGEST)."""
        self._stream_head()
        self._body(sse(chunk_obj({"role": "assistant", "content": ""})))
        end = time.monotonic() + LONGEST
        n = 0
        while time.monotonic() < end:
            self._body(sse(chunk_obj({"content": "tok%d " % n})))
            n += 1
            self.up._progress(self.conn_no, n)
            self._sleep(0.05)
        self._end()
        return False


SCENARIOS = sorted(n[2:] for n in dir(_Handler) if n.startswith("s_"))


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, upstream):
        self.upstream = upstream
        self.slots = threading.BoundedSemaphore(MAX_CONNS)
        socketserver.TCPServer.__init__(self, ("127.0.0.1", 0), _Handler)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)       # over MAX_CONNS: refused at once
            return
        socketserver.ThreadingMixIn.process_request(self, request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            socketserver.ThreadingMixIn.process_request_thread(self, request, client_address)
        finally:
            self.slots.release()


class FakeUpstream:
    """start() it, point chatstream's base_url at base_url, read requests /
    closed afterwards; close() when done (idempotent)."""

    def __init__(self, tls=None):
        """tls: (certfile, keyfile) to serve HTTPS instead of HTTP."""
        self._lock = threading.Lock()
        self.requests = []          # Recorded, in arrival order (at most 10000)
        self.closed = {}            # connection number -> time.monotonic() of its close
        self.progress = {}          # connection number -> tokens sent (endless)
        self.tls_failures = []      # (connection number, error) of failed handshakes
        self._conns = 0
        self.ssl_ctx = None
        if tls is not None:
            self.ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ssl_ctx.load_cert_chain(tls[0], tls[1])
        self._srv = _Server(self)
        self.port = self._srv.server_address[1]
        self.base_url = "%s://127.0.0.1:%d/v1" % ("https" if tls else "http", self.port)
        self._thread = threading.Thread(target=self._srv.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _new_conn(self):
        with self._lock:
            self._conns += 1
            return self._conns

    def _record(self, req):
        with self._lock:
            if len(self.requests) < 10000:
                self.requests.append(req)

    def _closed(self, conn):
        with self._lock:
            self.closed[conn] = time.monotonic()

    def _tls_failed(self, conn, err):
        with self._lock:
            self.tls_failures.append((conn, err))

    def _progress(self, conn, n):
        with self._lock:
            self.progress[conn] = n

    def last(self, model=None):
        """The last request (for model, when given), or None."""
        with self._lock:
            for r in reversed(self.requests):
                if model is None or (isinstance(r.json, dict) and r.json.get("model") == model):
                    return r
        return None

    def wait_closed(self, conn, timeout):
        """The time conn was closed, waiting (bounded) for it; None if still open."""
        timeout = scaled(timeout)
        end = time.monotonic() + timeout
        for _ in range(int(timeout * 200) + 2):
            with self._lock:
                if conn in self.closed:
                    return self.closed[conn]
            if time.monotonic() > end:
                break
            time.sleep(0.005)
        return None

    def wait_tls_failure(self, timeout):
        """True once a failed handshake is recorded, waiting (bounded) for one:
        the connection's thread records it after the client already gave up."""
        timeout = scaled(timeout)
        end = time.monotonic() + timeout
        for _ in range(int(timeout * 200) + 2):
            with self._lock:
                if self.tls_failures:
                    return True
            if time.monotonic() > end:
                break
            time.sleep(0.005)
        return False

    def close(self):
        if self._srv is None:
            return
        self._srv.shutdown()
        self._srv.server_close()
        self._thread.join(timeout=5)
        self._srv = None
