#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_relay_redact.py: the API key, echoed by the upstream inside a long error
message, reaches chatstream's clients neither whole nor in part, wherever in
the message it sits.

The fake upstream (tests/lib/fake_upstream.py, loopback) answers with
N filler bytes, then ` key=KEY is not valid.`, for N = 0..320, which moves the
key across every place chatstream cuts the message: an HTTP 401 before the
stream (the client gets a JSON error: native and /v1) and an {"error"} event
mid-stream (the client gets event: error, or OpenAI's error chunk on /v1).
KEY has the shape and length (164 bytes) of an OpenAI project key.  For each
answer: the status and error type are right, the message is the upstream's,
cut to fit, with the key masked by `*` (at most 3 of its first bytes may
remain where the cut falls inside it, and nothing else is changed); no answer,
log line or file holds the key's first 4 bytes or any 8 bytes in a row of it.

Processes: one chatstream (FastCGI, talked to directly, no front server) and
the fake upstream as a thread.  About 15 s (more under the sanitizers)."""

import json
import os
import secrets
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (Fixture, config, diag, fcgi_params, is_, ok,  # noqa: E402
                     require_tools, run)
from fake_upstream import FakeUpstream  # noqa: E402
from relay import OpenAIView, all_files  # noqa: E402
from sse import parse_all  # noqa: E402

KEY = "sk-proj-" + secrets.token_urlsafe(120)[:156]
KEY_ENV = "CHATSTREAM_TEST_REDACT_KEY"
FILLERS = range(0, 321)
V1_EVERY = 8                  # /v1 checked on every 8th filler length
MSG_MAX = 255                 # an error message's bytes (struct cs_error)
HTTP_PREFIX = "the upstream answered 401: "


def upstream_message(n):
    """What the fake upstream says for filler length n (as in fake_upstream.py)."""
    return "x" * n + " key=" + KEY + " is not valid."


def check_message(got, n, prefix):
    """None when got is prefix + the upstream's message for filler n, cut to
    MSG_MAX bytes, the key masked (up to 3 of its first bytes may show at the
    cut); else what is wrong."""
    if not isinstance(got, str) or not got.startswith(prefix):
        return "not %r + the upstream's message: %r" % (prefix, got)
    text = upstream_message(n)
    room = MSG_MAX - len(prefix)
    body = got[len(prefix):]
    if len(body) != min(len(text), room):
        return "%d bytes, want %d" % (len(body), min(len(text), room))
    at = n + len(" key=")
    masked = text[:at] + "*" * len(KEY) + text[at + len(KEY):]
    if body == masked[:len(body)]:
        return None
    if 0 < len(body) - at < 4 and body == text[:len(body)]:
        return None           # 1..3 bytes of the key's head at the cut
    return "got %r, want %r" % (body[-60:], masked[:len(body)][-60:])


def leaks(data):
    """The pieces of KEY that data (bytes or str) holds: its first 4 bytes, or
    any 8 bytes of it in a row."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    # JSON may escape '/' or nothing at all here: urlsafe keys need no escaping
    found = []
    if KEY[:4] in data:
        found.append("head %r" % KEY[:4])
    for i in range(len(KEY) - 7):
        if KEY[i:i + 8] in data:
            found.append("bytes %d..%d" % (i, i + 8))
            break
    return found


def post(cs, path, payload):
    body = json.dumps(payload).encode("utf-8")
    st, hs, rbody, _ = cs.request(fcgi_params("POST", path, "application/json", len(body)),
                                  body, timeout=20)
    raw = "".join("%s: %s\n" % kv for kv in hs).encode("utf-8") + b"\n" + rbody
    return st, rbody, raw


def main():
    require_tools()
    fx = Fixture("relay-redact")
    up = FakeUpstream()
    fx.on_close(up.close)
    models = {s: {"backend": "openai", "base_url": up.base_url, "model": s,
                  "api_key_env": KEY_ENV, "idle_timeout": 10}
              for s in ("status401_filler", "midstream_filler")}
    os.environ[KEY_ENV] = KEY
    A = fx.start_chatstream(config({"threads": 2, "debug": True, "journal": "file",
                                    "spool_dir": fx.path("spool")}, models), name="A")
    del os.environ[KEY_ENV]

    seen = []                 # (label, raw bytes of a response)
    bad = {"http": [], "http_v1": [], "event": [], "event_v1": []}
    counts = dict.fromkeys(bad, 0)

    def note_bad(kind, n, what):
        if not bad[kind]:
            diag("%s, filler %d: %s" % (kind, n, what))
        bad[kind].append(n)

    for n in FILLERS:
        # 401 before the stream: a JSON error body
        st, body, raw = post(A, "", {"model": "status401_filler", "prompt": str(n)})
        seen.append(("401 filler %d" % n, raw))
        counts["http"] += 1
        try:
            e = json.loads(body.decode("utf-8")).get("error") or {}
        except (ValueError, UnicodeDecodeError, AttributeError):
            e = {}
        why = (("status %s, type %r" % (st, e.get("type")))
               if (st, e.get("type")) != (502, "upstream_error")
               else check_message(e.get("message"), n, HTTP_PREFIX))
        if why:
            note_bad("http", n, why)

        # mid-stream {"error"}: event: error
        st, body, raw = post(A, "", {"model": "midstream_filler", "prompt": str(n)})
        seen.append(("midstream filler %d" % n, raw))
        counts["event"] += 1
        evs = parse_all(body).events
        errs = [json.loads(ev.data) for ev in evs if ev.type == "error"]
        e = (errs[-1].get("error") if errs else None) or {}
        why = (("status %s, events %s" % (st, [ev.type for ev in evs]))
               if st != 200 or not errs or e.get("type") != "upstream_error"
               else check_message(e.get("message"), n, ""))
        if why:
            note_bad("event", n, why)

        if n % V1_EVERY:
            continue
        msgs = [{"role": "user", "content": str(n)}]
        st, body, raw = post(A, "v1/chat/completions",
                             {"model": "status401_filler", "messages": msgs, "stream": True})
        seen.append(("/v1 401 filler %d" % n, raw))
        counts["http_v1"] += 1
        try:
            e = json.loads(body.decode("utf-8")).get("error") or {}
        except (ValueError, UnicodeDecodeError, AttributeError):
            e = {}
        why = (("status %s, code %r" % (st, e.get("code")))
               if (st, e.get("code")) != (502, "upstream_error")
               else check_message(e.get("message"), n, HTTP_PREFIX))
        if why:
            note_bad("http_v1", n, why)

        st, body, raw = post(A, "v1/chat/completions",
                             {"model": "midstream_filler", "messages": msgs, "stream": True})
        seen.append(("/v1 midstream filler %d" % n, raw))
        counts["event_v1"] += 1
        p = parse_all(body)
        v = OpenAIView(p.events, p.comments)
        e = v.error() or {}
        why = (("status %s, error %r" % (st, e))
               if st != 200 or e.get("code") != "upstream_error"
               else check_message(e.get("message"), n, ""))
        if why:
            note_bad("event_v1", n, why)

    for kind, what in (("http", "401 before the stream: 502 upstream_error (JSON body)"),
                       ("http_v1", "401 before the stream on /v1: 502, code upstream_error"),
                       ("event", "mid-stream error: event: error upstream_error"),
                       ("event_v1", "mid-stream error on /v1: an error chunk, "
                                    "code upstream_error")):
        ok(not bad[kind], "%s, %d filler lengths: the upstream's message, cut to fit, "
           "the key masked (wrong for fillers %s)" % (what, counts[kind], bad[kind][:10]))

    hits = [(label, leaks(raw)) for label, raw in seen]
    hits = [h for h in hits if h[1]]
    if hits:
        diag("first: %s: %s" % hits[0])
    is_(len(hits), 0, "no answer (%d) holds the key's first 4 bytes or 8 bytes of it in a row"
        % len(seen))
    ok(len(up.requests) == len(seen) and all(
        (q.header("Authorization") or "") == "Bearer " + KEY for q in up.requests),
       "every request reached the upstream with the key (%d of %d)"
       % (len(up.requests), len(seen)))

    A.stop()
    log = A.log_text()
    ok(log.count(" stream: ") >= len(seen) and not leaks(log),
       "the log has a line per stream (%d) and no piece of the key (%s)"
       % (log.count(" stream: "), leaks(log)))
    files = [p for p in all_files(fx.tmp) if not p.endswith(".sock")]
    held = []
    for p in files:
        try:
            with open(p, "rb") as f:
                if leaks(f.read()):
                    held.append(os.path.basename(p))
        except OSError:
            pass
    is_(held, [], "no file (%d: logs, journals, configs) holds a piece of the key"
        % len(files))
    ok(not [ln for ln in log.splitlines() if "AddressSanitizer" in ln or "runtime error" in ln],
       "no sanitizer reports in the log")


run(main)
