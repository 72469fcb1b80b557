#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_relay_faults.py: the `openai` backend against upstream faults a real
chatstream upstream cannot produce, played by tests/lib/fake_upstream.py (a
test double, loopback only):
  - after the first byte (event: error): a malformed JSON event, a non-object
    event, a truncated stream (connection closed; chunked body cut), a
    mid-stream {"error"} (also one echoing the key), an event bigger than
    max_line (one line, and many lines);
  - before the first byte (an HTTP status): 500, 401 (message echoing the
    key), 404 with an HTML body, 429 with Retry-After, an empty 200, an
    upstream that never answers (504, or 200 at the first heartbeat then
    event: error timeout);
  - exact text however the upstream frames it: a trickle of single bytes and
    of half-lines (split UTF-8), 20 `: ping` comments per event, CRLF + BOM +
    id/retry fields, \\u escapes with surrogate pairs, a body ended by the
    connection close;
  - limits and cancellation: max_duration on an endless upstream; the upstream
    connection closes at once when the client leaves (FastCGI close, and curl
    killed behind lighttpd);
  - HTTPS with a self-signed certificate: refused by default; ca_file;
    tls_verify = false;
  - the request sent upstream (URL, headers, key, body mapping), connection
    reuse (also when the response's end comes a moment after data: [DONE]),
    4 concurrent streams, and the API key, even when the upstream echoes it
    back, reaches no client, log or file.


Processes: chatstream A (heartbeat 15) behind lighttpd; chatstream A2
(heartbeat 1) reached over FastCGI directly; the fake upstreams as threads.
About 15 s."""

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (CurlStream, Fixture, check_stream, config, diag, is_,  # noqa: E402
                     like, ok, require_tools, run, skip)
from fake_upstream import (FAKE_TEXT, FAKE_TOKENS, FAKE_USAGE,  # noqa: E402
                           SCENARIOS, FakeUpstream)
from relay import (FcgiReader, OpenAIView, all_files, fcgi_stream,  # noqa: E402
                   find_secret)

KEY = "sk-faulttest-" + secrets.token_hex(12)
KEY_ENV = "CHATSTREAM_TEST_FAULT_KEY"
MAX_LINE = 2048
responses = []


def keep(label, res):
    hs = "".join("%s: %s\n" % kv for kv in res.headers).encode("utf-8", "replace")
    responses.append((label, hs + b"\n" + res.body))
    return res


def chat(fx, payload, path="", label=None):
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return keep(label or payload.get("model", "?"),
                fx.curl(path, body=body, content_type="application/json", timeout=30))


def err_of(res, openai=False):
    """(status, type-or-code, message) of an error answered before the stream."""
    e = (res.json() or {}).get("error") or {}
    return res.status, e.get("code" if openai else "type"), e.get("message", "")


def stream_err(res):
    e = (res.stream().error or {}).get("error") or {}
    return e.get("type"), e.get("message", "")


def main():
    require_tools()
    fx = Fixture("relay-faults")
    up = FakeUpstream()
    fx.on_close(up.close)

    # an HTTPS upstream with a self-signed certificate (for 127.0.0.1)
    cert, key = fx.path("cert.pem"), fx.path("key.pem")
    tls_up = None
    if shutil.which("openssl"):
        try:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60, check=True)
            tls_up = FakeUpstream(tls=(cert, key))
            fx.on_close(tls_up.close)
        except (OSError, subprocess.SubprocessError):
            tls_up = None

    models = {}
    for s in SCENARIOS:
        models[s] = {"backend": "openai", "base_url": up.base_url, "model": s,
                     "api_key_env": KEY_ENV,
                     "idle_timeout": {"stall_headers": 1, "done_then_hang": 2}.get(s, 5),
                     "max_line": MAX_LINE, "header": "X-Extra: yes"}
    # a second model with two extra headers and no key
    models["nokey"] = ("backend = openai\nbase_url = %s/\nmodel = ok\n"
                       "header = X-One: 1\nheader = X-Two: two words\n" % up.base_url)
    models["capped"] = {"backend": "openai", "base_url": up.base_url, "model": "endless",
                        "max_duration": 1}
    if tls_up is not None:
        tb = {"backend": "openai", "base_url": tls_up.base_url, "model": "ok",
              "api_key_env": KEY_ENV, "connect_timeout": 5}
        models["tls_default"] = tb
        models["tls_ca"] = dict(tb, ca_file=cert)
        models["tls_noverify"] = dict(tb, tls_verify=False)
    text = config({"heartbeat": 15, "debug": True, "default_model": "ok", "retry_after": 9},
                  models)
    os.environ[KEY_ENV] = KEY
    A = fx.start_chatstream(text, name="A")
    models2 = {"stall_headers": dict(models["stall_headers"], idle_timeout=3),
               "ok": models["ok"]}
    A2 = fx.start_chatstream(config({"heartbeat": 1, "default_model": "ok"}, models2), name="A2")
    del os.environ[KEY_ENV]
    fx.start_lighttpd(A)

    # --- the request sent upstream --------------------------------------------
    msgs = [{"role": "system", "content": "be brief"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "answer"},
            {"role": "user", "content": "second ü 🎉"}]
    r = chat(fx, {"model": "ok", "messages": msgs, "max_tokens": 50, "temperature": 0.5,
                  "stop": ["END", "\n\n"]})
    sv = check_stream(r, FAKE_TEXT, "stop", model="ok", completion_tokens=False,
                      label="ok (chunked, keep-alive)")
    is_(sv.texts, FAKE_TOKENS, "ok: one event per upstream delta")
    q = up.last("ok")
    ok(q is not None, "the fake upstream got the request")
    q = q or up.requests[-1]
    is_((q.method, q.path), ("POST", "/v1/chat/completions"),
        "POST to base_url + /chat/completions")
    is_(q.header("Authorization"), "Bearer " + KEY, "Authorization: Bearer KEY (api_key_env)")
    like(q.header("Content-Type") or "", r"^application/json", "Content-Type: application/json")
    is_(q.header("Accept"), "text/event-stream", "Accept: text/event-stream")
    is_(q.header("X-Extra"), "yes", "the configured extra header is sent")
    j = q.json or {}
    is_(j.get("model"), "ok", "body: the upstream model name")
    is_(j.get("messages"), msgs, "body: the messages, in order, roles and contents kept")
    ok(j.get("stream") is True and j.get("stream_options") == {"include_usage": True},
       "body: stream true, stream_options.include_usage true")
    ok(j.get("max_tokens") == 50 and j.get("temperature") == 0.5,
       "body: max_tokens and temperature passed on")
    is_(j.get("stop"), ["END", "\n\n"], "body: stop sequences passed on")
    d = sv.done or {}
    u = d.get("usage") or {}
    is_(u.get("completion_tokens"), FAKE_USAGE["completion_tokens"],
        "done.usage.completion_tokens is the upstream's (55)")
    ok(u.get("prompt_tokens") == FAKE_USAGE["prompt_tokens"],
            "done.usage.prompt_tokens is the upstream's (777; got %r)" % u.get("prompt_tokens"))

    r = chat(fx, {"model": "ok", "prompt": "hi", "system": "sys prompt"})
    j = (up.last("ok").json or {}) if up.last("ok") else {}
    is_(j.get("messages"), [{"role": "system", "content": "sys prompt"},
                            {"role": "user", "content": "hi"}],
        "native prompt + system become a system and a user message")
    ok("max_tokens" not in j and "temperature" not in j and "stop" not in j,
       "no max_tokens/temperature/stop upstream when the client gave none")

    r = chat(fx, {"model": "nokey", "prompt": "hi"})
    q = up.last("ok")
    ok(r.status == 200 and r.stream().text == FAKE_TEXT and q is not None
       and q.header("Authorization") is None and q.header("X-One") == "1"
       and q.header("X-Two") == "two words" and q.path == "/v1/chat/completions",
       "no key configured: no Authorization header; two `header` lines both sent; "
       "a trailing / in base_url is fine")

    # connection reuse: back-to-back requests share one upstream connection
    n0 = len(up.requests)
    for i in range(3):
        chat(fx, {"model": "ok", "prompt": "reuse %d" % i})
    conns = [q.conn for q in up.requests[n0:]]
    ok(len(conns) == 3 and len(set(conns)) == 1,
       "three sequential streams reuse one upstream connection (connections %s)" % conns)

    # the same when the response's last chunk comes a moment after data: [DONE]
    # (done waits for it, briefly, so that the connection goes back to the cache)
    n0 = len(up.requests)
    res = [chat(fx, {"model": "done_late_end", "prompt": "late %d" % i}) for i in range(3)]
    conns = [q.conn for q in up.requests[n0:]]
    ok(all(x.stream().text == FAKE_TEXT and x.stream().types[-1:] == ["done"] for x in res),
       "[DONE] a moment before the response's end: the whole text, then done")
    ok(len(conns) == 3 and len(set(conns)) == 1,
       "[DONE] a moment before the response's end: three streams reuse one upstream "
       "connection (connections %s)" % conns)

    # /v1 stream and non-stream with the upstream's usage
    r = chat(fx, {"model": "ok", "messages": msgs, "stream": True,
                  "stream_options": {"include_usage": True}}, "v1/chat/completions")
    v = OpenAIView.of(r)
    ok(v.text == FAKE_TEXT and v.finish_reason == "stop" and v.done,
       "/v1 stream: exact text, finish_reason stop, [DONE]")
    is_((v.usage or {}).get("completion_tokens"), FAKE_USAGE["completion_tokens"],
        "/v1 stream: usage.completion_tokens is the upstream's")
    ok(v.usage == FAKE_USAGE, "/v1 stream: the usage chunk is the upstream's (%r)" % v.usage)
    r = chat(fx, {"model": "ok", "messages": msgs}, "v1/chat/completions")
    j = r.json() or {}
    is_(((j.get("choices") or [{}])[0].get("message") or {}).get("content"), FAKE_TEXT,
        "/v1 non-stream: the whole answer")

    # --- exact text however the upstream frames it ----------------------------
    for s, what in (("ok_close", "body ended by the connection close"),
                    ("ascii_escapes", "\\u escapes and surrogate pairs"),
                    ("crlf_bom", "BOM, CRLF, id/retry fields, comments"),
                    ("pings", "20 `: ping` comments per event"),
                    ("halflines", "pieces of 1..37 bytes cutting lines and characters"),
                    ("trickle", "every byte on its own, 1 ms apart")):
        r = chat(fx, {"model": s, "prompt": "hi"})
        sv = check_stream(r, FAKE_TEXT, "stop", model=s, completion_tokens=False,
                          label="%s (%s)" % (s, what))
        ok(all("\ufffd" not in t for t in sv.texts), "%s: no U+FFFD" % s)
    r = chat(fx, {"model": "ok_length", "prompt": "hi"})
    check_stream(r, FAKE_TEXT, "length", model="ok_length", completion_tokens=False,
                 label="finish_reason length passes through")
    r = chat(fx, {"model": "ok_filter", "prompt": "hi"})
    sv = r.stream()
    ok(sv.text == FAKE_TEXT and sv.types[-1:] == ["done"],
       "finish_reason content_filter: the whole text and done")
    ok((sv.done or {}).get("finish_reason") == "content_filter",
            "finish_reason content_filter passes through (got %r)"
            % (sv.done or {}).get("finish_reason"))
    t0 = time.monotonic()
    r = chat(fx, {"model": "done_then_hang", "prompt": "hi"})
    el = time.monotonic() - t0
    sv = r.stream()
    is_(sv.text, FAKE_TEXT, "data: [DONE] but the response never ends: the whole text arrived")
    ok(sv.types[-1:] == ["done"],
            "data: [DONE] ends the stream with done at once, not with the idle timeout's "
            "error (got %s after %.1f s, idle_timeout 2)" % (sv.types[-1:], el))
    r = chat(fx, {"model": "trickle", "messages": msgs, "stream": True}, "v1/chat/completions")
    v = OpenAIView.of(r)
    ok(v.text == FAKE_TEXT and v.done, "trickle on /v1: exact text and [DONE]")

    # four streams at once share the process's connection cache (threads = 4)
    sts = [CurlStream(fx, fx.url(), body=json.dumps({"model": "halflines", "prompt": "c%d" % i}),
                      headers=["Content-Type: application/json"], timeout=20) for i in range(4)]
    res = [keep("concurrent", x.finish()) for x in sts]
    ok(all(x.status == 200 and x.stream().text == FAKE_TEXT and x.stream().done for x in res),
       "4 concurrent relayed streams (half-line pieces): all exact")

    # max_duration caps an upstream that never ends
    t0 = time.monotonic()
    r = chat(fx, {"model": "capped", "prompt": "hi"})
    el = time.monotonic() - t0
    t, m = stream_err(r)
    ok(t == "timeout" and len(r.stream().texts) >= 5 and el < 3,
       "max_duration 1 on an endless upstream: tokens, then event: error timeout after "
       "%.1f s (%s: %s)" % (el, t, m))

    # TLS: verification on by default; ca_file; tls_verify = false
    if tls_up is None:
        skip("openssl cannot make a test certificate", 4)
    else:
        r = chat(fx, {"model": "tls_default", "prompt": "hi"})
        st, t, m = err_of(r)
        ok(st == 502 and t == "upstream_unreachable" and tls_up.wait_tls_failure(5) and
           not tls_up.requests,
           "TLS, self-signed certificate, verify on (default): 502 upstream_unreachable, "
           "no request sent (%s %s: %s; %d failed handshakes, %d requests)"
           % (st, t, m, len(tls_up.tls_failures), len(tls_up.requests)))
        r = chat(fx, {"model": "tls_ca", "prompt": "hi"})
        q = tls_up.last("ok")
        ok(r.status == 200 and r.stream().text == FAKE_TEXT and q is not None
           and q.header("Authorization") == "Bearer " + KEY,
           "TLS with ca_file = the certificate: exact text, key sent over TLS")
        r = chat(fx, {"model": "tls_noverify", "prompt": "hi"})
        ok(r.status == 200 and r.stream().text == FAKE_TEXT,
           "TLS with tls_verify = false: exact text")
        r = chat(fx, {"model": "tls_default", "messages": msgs, "stream": True},
                 "v1/chat/completions")
        st, code, m = err_of(r, True)
        ok(st == 502 and code == "upstream_unreachable",
           "TLS failure on /v1: 502 upstream_unreachable (%s %s)" % (st, code))

    # --- faults after the first byte: event: error ----------------------------
    for s, typ, ntok, msg in (
            ("malformed", "upstream_protocol_error", 2, None),
            ("not_object", "upstream_protocol_error", 1, None),
            ("big_event", "upstream_protocol_error", 1, "max_line"),
            ("big_multiline", "upstream_protocol_error", 1, "max_line"),
            ("truncated", "upstream_truncated", 2, None),
            ("truncated_chunked", "upstream_truncated", 2, None),
            ("midstream_error", "upstream_error", 2, "the upstream fell over at step 2")):
        r = chat(fx, {"model": s, "prompt": "hi"})
        sv = r.stream()
        t, m = stream_err(r)
        ok(r.status == 200 and sv.types[:1] == ["meta"] and sv.types[-1:] == ["error"],
           "%s: 200, then the stream ends with event: error" % s)
        is_(t, typ, "%s: error type %s" % (s, typ))
        is_(sv.texts, FAKE_TOKENS[:ntok], "%s: the %d token(s) before the fault arrived"
            % (s, ntok))
        if msg:
            like(m, re.escape(msg), "%s: the message says %r" % (s, msg))
        ok(A.wait_log(r"model=%s .*outcome=error detail=%s" % (s, typ)) is not None,
           "%s: logged outcome=error detail=%s" % (s, typ))
    r = chat(fx, {"model": "midstream_echo", "prompt": "hi"})
    t, m = stream_err(r)
    ok(t == "upstream_error" and KEY not in m and "Bearer **" in m,
       "a mid-stream error echoing the Authorization header: the key is masked (%s)" % m)
    r = chat(fx, {"model": "malformed", "messages": msgs, "stream": True},
             "v1/chat/completions")
    v = OpenAIView.of(r)
    e = v.error() or {}
    ok(v.texts == FAKE_TOKENS[:2] and e.get("code") == "upstream_protocol_error" and not v.done,
       "malformed on /v1: 2 chunks, an error chunk (code upstream_protocol_error), no [DONE]")
    r = chat(fx, {"model": "truncated", "messages": msgs}, "v1/chat/completions")
    st, code, m = err_of(r, True)
    ok(st == 502 and code == "upstream_truncated",
       "truncated on /v1 non-stream: 502 upstream_truncated (%s %s)" % (st, code))

    # --- faults before the first byte: an HTTP status, no stream --------------
    for s, want, typ, msg in (
            ("status500", 502, "upstream_error", "The model crashed: boom"),
            ("slow500", 502, "upstream_error", "The model crashed: boom"),
            ("status404_html", 502, "upstream_error", "404"),
            ("status401", 502, "upstream_error", "Incorrect API key provided"),
            ("status429", 429, "upstream_rate_limited", "Rate limit reached"),
            ("stall_headers", 504, "timeout", "sent nothing")):
        r = chat(fx, {"model": s, "prompt": "hi"})
        st, t, m = err_of(r)
        is_((st, t), (want, typ), "%s: %d %s before any stream" % (s, want, typ))
        like(r.header("Content-Type") or "", r"^application/json", "%s: a JSON error body" % s)
        like(m, re.escape(msg), "%s: the message says %r" % (s, msg))
        r = chat(fx, {"model": s, "messages": msgs, "stream": True}, "v1/chat/completions")
        st, code, m = err_of(r, True)
        e = (r.json() or {}).get("error") or {}
        ok(st == want and code == typ and sorted(e) == ["code", "message", "param", "type"],
           "%s on /v1: %d, OpenAI's error shape, code %s" % (s, want, typ))
    r = chat(fx, {"model": "status401", "prompt": "hi"}, label="401 again")
    body = r.body.decode("utf-8", "replace")
    ok(KEY not in body and "Bearer **" in body,
       "401 whose message echoes the Authorization header: the key is masked")
    ok(not any(k.lower() == "www-authenticate" for k, _ in r.headers),
       "401: the upstream's WWW-Authenticate header is not passed on")
    r = chat(fx, {"model": "status429", "prompt": "hi"}, label="429 again")
    ok(r.header("Retry-After") is not None,
       "429: a Retry-After header (%r)" % r.header("Retry-After"))
    ok(r.header("Retry-After") == "7", "429: the upstream's Retry-After (7) is kept (got %r)"
            % r.header("Retry-After"))
    # Retry-After 99999999999 does not fit an int: clamped to an hour, and
    # chatstream goes on serving; an HTTP date or a signed number is not
    # delta-seconds, so the client gets chatstream's own retry_after.
    for s, want in (("status429_huge", "3600"), ("status429_date", "9"),
                    ("status429_sign", "9")):
        for path, body in (("", {"model": s, "prompt": "hi"}),
                           ("v1/chat/completions", {"model": s, "messages": msgs})):
            r = chat(fx, body, path)
            ok(r.status == 429 and r.header("Retry-After") == want,
               "%s%s: 429, Retry-After %s (got %s %r)" % (s, " on /v1" if path else "", want,
                                                         r.status, r.header("Retry-After")))
    r = chat(fx, {"model": "ok", "prompt": "hi"}, label="after the 429s")
    ok(r.status == 200 and A.alive(), "chatstream still serves after the 429s (%s)" % r.status)
    r = chat(fx, {"model": "empty_200", "prompt": "hi"})
    st, t, m = err_of(r)
    is_(st, 502, "an empty 200 answer: 502 before any stream")
    ok(t == "upstream_truncated" and "answered 0" not in m,
            "an empty 200 answer is upstream_truncated (got %s: %s)" % (t, m))

    # an upstream that never answers, with heartbeat 1 on A2: the first heartbeat
    # commits the 200, and the idle timeout (3 s) then ends the stream
    c = fcgi_stream(A2, "", {"model": "stall_headers", "prompt": "hi"})
    rd = FcgiReader(c)
    t0 = time.monotonic()
    rd.read_until(lambda x: False, 8)
    el = time.monotonic() - t0
    c.close()
    responses.append(("A2 stall", rd.raw + rd.body))
    types = [e.type for e in rd.events]
    err = [json.loads(e.data) for e in rd.events if e.type == "error"]
    ok(rd.status == 200 and types[:1] == ["meta"] and types[-1:] == ["error"]
       and (err[-1].get("error") or {}).get("type") == "timeout",
       "silent upstream + heartbeat 1: 200 at the first heartbeat, then event: error "
       "timeout (%s, %s)" % (rd.status, types))
    diag("silent upstream: the stream ended %.1f s after the request (idle_timeout 3 s)" % el)
    ok(len(rd.sse.comments) >= 2, "silent upstream: heartbeats (1 s) before the 3 s idle "
       "timeout's error (%d comments)" % len(rd.sse.comments))

    # --- cancellation: the upstream connection closes when the client leaves --
    def endless_conn(n0, timeout=5):
        end = time.monotonic() + timeout
        for _ in range(1000):
            for q in up.requests[n0:]:
                if (q.json or {}).get("model") == "endless":
                    return q.conn
            if time.monotonic() > end:
                return None
            time.sleep(0.01)
        return None

    n0 = len(up.requests)
    c = fcgi_stream(A, "", {"model": "endless", "prompt": "hi"})
    rd = FcgiReader(c)
    ok(rd.read_until(lambda x: len([e for e in x.events if e.type == "message"]) >= 3, 10),
       "endless upstream: tokens arrive")
    conn = endless_conn(n0)
    t_close = time.monotonic()
    c.close()
    t_up = up.wait_closed(conn, 5) if conn else None
    ms = (t_up - t_close) * 1000 if t_up else None
    ok(ms is not None,
       "client gone (FastCGI close): the endless upstream's connection was closed (%s ms "
       "later)" % ("%.1f" % ms if ms is not None else "never"))
    ok(A.wait_log(r"model=endless .*outcome=client_gone") is not None,
       "client gone: A logs outcome=client_gone")

    # the reader leaves while the upstream is still silent (before its headers):
    # the upstream request stops at once too
    n0 = len(up.requests)
    c = fcgi_stream(A2, "", {"model": "stall_headers", "prompt": "hi"})
    conn = None
    end = time.monotonic() + 5
    for _ in range(1000):
        qs = [q for q in up.requests[n0:] if (q.json or {}).get("model") == "stall_headers"]
        if qs or time.monotonic() > end:
            conn = qs[0].conn if qs else None
            break
        time.sleep(0.01)
    t_close = time.monotonic()
    c.close()
    t_up = up.wait_closed(conn, 5) if conn else None
    ms = (t_up - t_close) * 1000 if t_up else None
    ok(ms is not None and A2.wait_log(r"model=stall_headers .*outcome=client_gone"),
       "client gone while the upstream has not answered yet: the upstream connection "
       "was closed (%s ms later), for the client's leaving, not by the idle timeout"
       % ("%.1f" % ms if ms is not None else "never"))

    n0 = len(up.requests)
    st = CurlStream(fx, fx.url(), body=json.dumps({"model": "endless", "prompt": "hi"}),
                    headers=["Content-Type: application/json"], timeout=20)
    ok(st.read_until(lambda res: len(res.stream().texts) >= 3, 10),
       "endless via lighttpd: tokens arrive")
    conn = endless_conn(n0)
    t_kill = time.monotonic()
    st.kill()
    keep("endless lighttpd", st.res)
    t_up = up.wait_closed(conn, 5) if conn else None
    ms = (t_up - t_kill) * 1000 if t_up else None
    ok(ms is not None,
       "client gone (curl killed, lighttpd): the endless upstream's connection was closed "
       "(%s ms later; A notices at its next write, one upstream token ~50 ms)"
       % ("%.1f" % ms if ms is not None else "never"))

    # --- the key: echoed by the 401 upstream, yet nowhere to be found ----------
    fx.lighttpd.stop()
    files = all_files(fx.tmp)
    is_(find_secret(KEY, files, responses), [],
        "the key appears in no response (%d), log or file (%d), though the 401 upstream "
        "echoed it" % (len(responses), len(files)))
    ok(A.alive() and A2.alive(), "A and A2 are still running")
    ok(not [ln for ln in A.log_lines() + A2.log_lines()
            if "AddressSanitizer" in ln or "runtime error" in ln],
       "no sanitizer reports in the logs")


run(main)
