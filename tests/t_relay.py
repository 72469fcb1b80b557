#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_relay.py: the `openai` backend relaying a real upstream, with no
hand-written mock: chatstream B (demo backend) behind its own lighttpd serves
/chat/v1/chat/completions; chatstream A (backend openai, base_url = B's
lighttpd) is reached through the fixture's lighttpd (and once over FastCGI
directly).  The text A's client receives equals what B's demo produces
(demo_text, and B's own answer fetched directly); finish_reason and usage
pass through; B's demo faults drive A's error paths (fail_after, a stall past
A's idle_timeout, control characters, 1-byte chunks); an unknown upstream
model (the upstream's 404, passed on) and an unreachable upstream (502) are
HTTP errors before any stream;
heartbeats reach A's client while B is silent; a client that leaves A ends
B's stream too (both log client_gone, long before B's natural end); the API
key reaches the upstream as `Authorization: Bearer KEY` (seen by
tests/lib/fake_upstream.py) and appears in no response, log or file.

Processes: B + lighttpd-b, A + lighttpd (all loopback), a fake upstream thread
for the key check only.  About 25 s."""

import json
import os
import re
import secrets
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (CONTROL, DEMO_FAST, CurlStream, Fixture, check_stream,  # noqa: E402
                     config, demo_text, demo_tokens, diag, free_port, is_, like, ok,
                     require_tools, run, word_count)
from fake_upstream import FAKE_TEXT, FakeUpstream  # noqa: E402
from relay import (FcgiReader, OpenAIView, all_files, fcgi_stream,  # noqa: E402
                   find_secret, start_named_lighttpd)

STALL = 3             # B's stall (s)
SLOW_TPS = 10         # B's paced model for the cancellation
LONG_PROMPT = " ".join("word%d" % i for i in range(85))    # ~100 tokens: ~10 s at 10/s
KEY = "sk-relaytest-" + secrets.token_hex(12)
KEY_FILE_KEY = "sk-relayfile-" + secrets.token_hex(12)
KEY_ENV = "CHATSTREAM_TEST_RELAY_KEY"

responses = []        # (label, bytes) of everything A sent to its clients


def keep(label, res):
    """Keeps what a client saw of A (status line, headers, body) for the key grep."""
    hs = "".join("%s: %s\n" % kv for kv in res.headers).encode("utf-8", "replace")
    responses.append((label, hs + b"\n" + res.body + res.stderr.encode("utf-8", "replace")))
    return res


def post(fx, url, payload, label, timeout=25):
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return keep(label, CurlStream(fx, url, body=body, headers=["Content-Type: application/json"],
                                  timeout=timeout).finish())


def stream_lines(cs, regex):
    rx = re.compile(regex)
    return [ln for ln in cs.stream_lines() if rx.search(ln)]


def wait_count(cs, regex, count, timeout):
    """Waits (bounded) until count stream log lines of cs match regex; returns them."""
    end = time.monotonic() + timeout
    for _ in range(int(timeout * 50) + 2):
        got = stream_lines(cs, regex)
        if len(got) >= count or time.monotonic() > end:
            return got
        time.sleep(0.02)
    return stream_lines(cs, regex)


def field(line, name):
    m = re.search(r" %s=(\S+)" % name, line or "")
    return m.group(1) if m else None


def main():
    require_tools()
    fx = Fixture("relay")
    up = FakeUpstream()
    fx.on_close(up.close)

    # --- B: the demo upstream, behind its own lighttpd ------------------------
    B = fx.start_chatstream(config({"heartbeat": 15, "debug": True}, {
        "demo": DEMO_FAST,
        "fail": dict(DEMO_FAST, fail_after=3),
        "stall": dict(DEMO_FAST, stall_after=3, stall_seconds=STALL),
        "control": dict(DEMO_FAST, control_chars=True),
        "chunk1": dict(DEMO_FAST, chunk_bytes=1),
        "slow": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": SLOW_TPS},
    }), name="B")
    ltb = start_named_lighttpd(fx, B, "lighttpd-b")
    base = "http://127.0.0.1:%d/chat/v1" % ltb.port
    dead = "http://127.0.0.1:%d/v1" % free_port()      # nothing listens there

    # --- A: the relay ---------------------------------------------------------
    keyfile = fx.path("upstream.key")
    with open(keyfile, "w") as f:
        f.write(KEY_FILE_KEY + "\n")
    os.environ[KEY_ENV] = KEY

    def relay(model, **kw):
        d = {"backend": "openai", "base_url": base, "model": model, "api_key_env": KEY_ENV}
        d.update(kw)
        return d

    A = fx.start_chatstream(config({"heartbeat": 1, "debug": True}, {
        "demo": relay("demo"),
        "fail": relay("fail"),
        "stall_timeout": relay("stall", idle_timeout=1),
        "stall_heartbeat": relay("stall", idle_timeout=10),
        "control": relay("control"),
        "chunk1": relay("chunk1"),
        "slow": relay("slow"),
        "nomodel": relay("no-such-model"),
        "dead": {"backend": "openai", "base_url": dead, "api_key_env": KEY_ENV,
                 "connect_timeout": 2},
        "keycheck": {"backend": "openai", "base_url": up.base_url, "model": "ok",
                     "api_key_env": KEY_ENV},
        "keyfile": {"backend": "openai", "base_url": up.base_url, "model": "ok",
                    "api_key_file": keyfile},
    }), name="A")
    del os.environ[KEY_ENV]          # later children (curl, node) never see it
    fx.start_lighttpd(A)
    a_url = fx.url
    b_url = ltb.url

    # --- native POST / through A ----------------------------------------------
    P = "relay me, please"
    toks = demo_tokens(P)
    r = post(fx, a_url(), {"prompt": P}, "native")
    sv = check_stream(r, demo_text(P), "stop", model="demo", completion_tokens=len(toks),
                      prompt_tokens=word_count(P), label="A native")
    is_(sv.texts, toks, "A native: one event per upstream token, in order")
    line = A.wait_log(r"model=demo backend=openai .*outcome=done")
    ok(line is not None, "A logged the relayed stream: backend=openai outcome=done")

    # B's own answer, fetched directly, is the same text
    rb = post(fx, b_url("v1/chat/completions"), {"messages": [{"role": "user", "content": P}],
                                                "stream": True}, "B direct")
    vb = OpenAIView.of(rb)
    is_(vb.text, demo_text(P), "B direct: its OpenAI stream carries demo_text")
    is_(sv.text, vb.text, "A's text equals B's own answer")

    # max_tokens reaches B; finish_reason length comes back
    r = post(fx, a_url(), {"prompt": P, "max_tokens": 5}, "max_tokens")
    check_stream(r, "".join(toks[:5]), "length", model="demo", completion_tokens=5,
                 label="A max_tokens 5")

    # messages (system + history) reach B: its answer quotes the last user message
    msgs = [{"role": "system", "content": "be brief"},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": "second question ü 🎉"}]
    r = post(fx, a_url(), {"messages": msgs}, "messages")
    check_stream(r, demo_text("second question ü 🎉"), "stop", model="demo",
                 prompt_tokens=word_count(*[m["content"] for m in msgs]),
                 completion_tokens=len(demo_tokens("second question ü 🎉")),
                 label="A messages")

    # --- /v1/chat/completions through A -----------------------------------------
    v1 = a_url("v1/chat/completions")
    m1 = [{"role": "user", "content": P}]
    r = post(fx, v1, {"model": "demo", "messages": m1, "stream": True,
                      "stream_options": {"include_usage": True}}, "v1 stream")
    v = OpenAIView.of(r)
    is_(r.status, 200, "A /v1 stream: 200")
    like(r.header("Content-Type") or "", r"^text/event-stream", "A /v1 stream: text/event-stream")
    is_(v.text, demo_text(P), "A /v1 stream: text equals B's demo answer")
    is_(v.texts, toks, "A /v1 stream: one chunk per upstream token")
    is_(v.finish_reason, "stop", "A /v1 stream: finish_reason stop")
    is_(v.usage, {"prompt_tokens": word_count(P), "completion_tokens": len(toks),
                  "total_tokens": word_count(P) + len(toks)}, "A /v1 stream: usage chunk")
    ok(v.done and v.after_done == 0, "A /v1 stream: ends with data: [DONE]")
    ok(not v.errors and not v.bad and not v.named,
       "A /v1 stream: only unnamed chunk events")
    # an event id ends with the event's number (whatever names the stream before it)
    is_([i.rsplit(".", 1)[-1] for i in v.ids], [str(i) for i in range(1, len(r.events) + 1)],
        "A /v1 stream: every event numbered 1, 2, 3, ..., [DONE] too (resumable)")
    is_(v.role, "assistant", "A /v1 stream: first delta has role assistant")
    ok(all(c.get("model") == "demo" and c.get("id", "").startswith("chatcmpl-")
           and isinstance(c.get("created"), int) for c in v.chunks),
       "A /v1 stream: every chunk has id chatcmpl-*, created, model demo")
    ok(len({c.get("id") for c in v.chunks}) == 1, "A /v1 stream: one id for all chunks")
    is_(len(r.sse.comments), 0, "A /v1 stream: no comments (no heartbeat was needed)")

    r = post(fx, v1, {"model": "demo", "messages": m1, "stream": True}, "v1 stream no usage")
    v = OpenAIView.of(r)
    ok(v.text == demo_text(P) and v.usage is None and v.done,
       "A /v1 stream without include_usage: exact text, no usage chunk, [DONE]")

    r = post(fx, v1, {"model": "demo", "messages": m1}, "v1 json")
    j = r.json() or {}
    is_(r.status, 200, "A /v1 non-stream: 200")
    like(r.header("Content-Type") or "", r"^application/json", "A /v1 non-stream: JSON")
    is_(j.get("object"), "chat.completion", "A /v1 non-stream: object chat.completion")
    ch = (j.get("choices") or [{}])[0]
    is_((ch.get("message") or {}).get("content"), demo_text(P),
        "A /v1 non-stream: message.content equals B's demo answer")
    is_(ch.get("finish_reason"), "stop", "A /v1 non-stream: finish_reason stop")
    is_(j.get("usage"), {"prompt_tokens": word_count(P), "completion_tokens": len(toks),
                         "total_tokens": word_count(P) + len(toks)}, "A /v1 non-stream: usage")

    r = keep("models", CurlStream(fx, a_url("v1/models")).finish())
    ids = [m.get("id") for m in (r.json() or {}).get("data", [])]
    ok(r.status == 200 and "demo" in ids and "keycheck" in ids and len(ids) == 11,
       "A GET /v1/models lists A's 11 models (%s)" % ",".join(map(str, ids)))

    # --- B's faults drive A's error paths --------------------------------------
    r = post(fx, a_url(), {"prompt": P, "model": "fail"}, "fail native")
    sv = r.stream()
    is_(r.status, 200, "fail_after 3: A had begun (200)")
    is_(sv.texts, toks[:3], "fail_after 3: the 3 tokens before the failure were relayed")
    is_(sv.types[-1:], ["error"], "fail_after 3: A ends with event: error")
    err = (sv.error or {}).get("error", {})
    is_(err.get("type"), "upstream_error", "fail_after 3: error type upstream_error")
    like(err.get("message", ""), r"demo failure injected after 3 tokens",
         "fail_after 3: the upstream's message is passed on")
    ok(A.wait_log(r"model=fail .*outcome=error detail=upstream_error") is not None,
       "fail_after 3: A logs outcome=error detail=upstream_error")

    r = post(fx, v1, {"model": "fail", "messages": m1, "stream": True}, "fail v1")
    v = OpenAIView.of(r)
    e = v.error() or {}
    ok(v.texts == toks[:3] and e.get("code") == "upstream_error" and not v.done
       and "message" in e and "type" in e and "param" in e,
       "fail_after 3 on /v1: 3 chunks, then an OpenAI-shaped error chunk (code "
       "upstream_error), no [DONE]")
    r = post(fx, v1, {"model": "fail", "messages": m1}, "fail v1 json")
    e = (r.json() or {}).get("error") or {}
    ok(r.status == 502 and e.get("code") == "upstream_error" and
       set(e) == {"message", "type", "param", "code"},
       "fail_after 3 on /v1 non-stream: 502 with an OpenAI-shaped error (%s %r)"
       % (r.status, e))

    # a stall longer than A's idle_timeout (1 s): event: error type timeout
    t0 = time.monotonic()
    r = post(fx, a_url(), {"prompt": P, "model": "stall_timeout"}, "stall timeout")
    sv = r.stream()
    is_(sv.texts, toks[:3], "stall > idle_timeout: the 3 tokens before the stall arrived")
    is_((sv.error or {}).get("error", {}).get("type"), "timeout",
        "stall > idle_timeout: event: error type timeout")
    el = time.monotonic() - t0
    diag("stall > idle_timeout: A gave up %.1f s after the request; B's stall lasts %d s"
         % (el, STALL))
    ok(sv.done is None and len(sv.texts) == 3,
       "stall > idle_timeout: A gave up before B's stall ended (no token after it, no done)")
    ok(A.wait_log(r"model=stall_timeout .*outcome=timeout") is not None,
       "stall > idle_timeout: A logs outcome=timeout")

    # heartbeats reach A's client while B is silent (A heartbeat 1 < stall 3 < idle 10)
    r = post(fx, a_url(), {"prompt": P, "model": "stall_heartbeat"}, "stall heartbeat")
    sv = check_stream(r, demo_text(P), "stop", model="stall_heartbeat",
                      completion_tokens=len(toks), label="B stalls 3 s")
    ev = r.events
    k = 3      # meta + 3 tokens: the stall follows event index 3
    during = [c for c in r.sse.comments if c.after_events == k + 1]
    if len(ev) > k + 1:
        diag("B stalls 3 s: %.2f s between the 3rd and the 4th token"
             % (ev[k + 1].time - ev[k].time))
    ok(len(during) >= 2 and all(c.text.strip() == "ping" for c in during),
       "B stalls 3 s: A's client got %d ': ping' heartbeats between the 3rd and the 4th token"
       % len(during))
    ok(len(ev) > k + 1 and len(during) >= 1 and during[0].time < ev[k + 1].time,
       "B stalls 3 s: the first heartbeat reached the client before the 4th token did "
       "(in an earlier read), not in a burst with it")
    r = post(fx, v1, {"model": "stall_heartbeat", "messages": m1, "stream": True}, "stall v1")
    v = OpenAIView.of(r)
    ok(v.text == demo_text(P) and v.done and len(v.comments) >= 2,
       "B stalls 3 s, /v1: exact text, [DONE], %d heartbeat comments" % len(v.comments))

    # control characters: relayed exactly, framing intact
    r = post(fx, a_url(), {"prompt": P, "model": "control"}, "control")
    sv = check_stream(r, CONTROL + demo_text(P), "stop", model="control",
                      completion_tokens=False, label="control_chars")
    ok(sv.texts[:1] == [CONTROL], "control_chars: the first token is CONTROL, byte-exact")
    ok(all("\n" not in e.data for e in r.events), "control_chars: every event is one data line")
    rb = post(fx, b_url(), {"prompt": P, "model": "control"}, "B control")
    is_(sv.text, rb.stream().text, "control_chars: A's text equals B's native answer")

    # 1-byte chunks at B (split UTF-8): the text is exact
    r = post(fx, a_url(), {"prompt": P, "model": "chunk1"}, "chunk1")
    sv = check_stream(r, demo_text(P), "stop", model="chunk1", completion_tokens=False,
                      label="chunk_bytes 1")
    ok(all("\ufffd" not in t for t in sv.texts), "chunk_bytes 1: no U+FFFD")

    # --- errors before the stream ---------------------------------------------
    for path, label in (("", "native"), ("v1/chat/completions", "/v1")):
        pl = ({"prompt": P, "model": "nomodel"} if not path else
              {"model": "nomodel", "messages": m1, "stream": True})
        r = post(fx, a_url(path), pl, "nomodel " + label)
        e = (r.json() or {}).get("error") or {}
        # the upstream's 404 keeps its meaning: the client is not to retry
        is_(r.status, 404, "unknown upstream model (%s): the upstream's 404" % label)
        like(r.header("Content-Type") or "", r"^application/json",
             "unknown upstream model (%s): a JSON body, no stream" % label)
        is_(e.get("type") if not path else e.get("code"),
            "upstream_rejected" if not path else "model_not_found",
            "unknown upstream model (%s): %s" % (label, "upstream_rejected" if not path
                                                 else "the upstream's code model_not_found"))
        like(e.get("message", ""), r"no-such-model",
             "unknown upstream model (%s): the upstream's reason is passed on" % label)
        if path:
            is_(sorted(e), ["code", "message", "param", "type"],
                "unknown upstream model (/v1): OpenAI's error shape")
        pl["model"] = "dead"
        r = post(fx, a_url(path), pl, "dead " + label)
        e = (r.json() or {}).get("error") or {}
        is_(r.status, 502, "unreachable upstream (%s): 502" % label)
        is_(e.get("type") if not path else e.get("code"), "upstream_unreachable",
            "unreachable upstream (%s): upstream_unreachable" % label)
        ok(not r.events, "unreachable upstream (%s): no SSE at all" % label)

    # --- cancellation: A's client leaves, B's stream ends too -----------------
    before_a = len(stream_lines(A, r"model=slow .*outcome=client_gone"))
    before_b = len(stream_lines(B, r"model=slow .*outcome=client_gone"))
    st = CurlStream(fx, a_url(), body=json.dumps({"prompt": LONG_PROMPT, "model": "slow"}),
                    headers=["Content-Type: application/json"], timeout=30)
    ok(st.read_until(lambda res: len(res.stream().texts) >= 3, 10),
       "cancel via lighttpd: three tokens arrived from the paced B")
    t_kill = time.monotonic()
    st.kill()
    keep("cancel lighttpd", st.res)
    la = wait_count(A, r"model=slow .*outcome=client_gone", before_a + 1, 5)
    t_a = time.monotonic() - t_kill
    lb = wait_count(B, r"model=slow .*outcome=client_gone", before_b + 1, 5)
    t_b = time.monotonic() - t_kill
    ok(len(la) > before_a, "cancel via lighttpd: A logs outcome=client_gone (%.2f s)" % t_a)
    ok(len(lb) > before_b, "cancel via lighttpd: B logs outcome=client_gone (%.2f s)" % t_b)
    dur = int(field(lb[-1], "duration_ms") or 10 ** 9) if len(lb) > before_b else 10 ** 9
    sent = int(field(lb[-1], "events") or 10 ** 9) if len(lb) > before_b else 10 ** 9
    full = len(demo_tokens(LONG_PROMPT)) + 2
    diag("cancel via lighttpd: B's stream ended %.2f s after the kill, %d ms long (its "
         "natural length is ~%d s)" % (t_b, dur, len(demo_tokens(LONG_PROMPT)) // SLOW_TPS))
    ok(sent < full, "cancel via lighttpd: B ended its stream before the end of the answer "
       "(%s of its %d events sent)" % (sent, full))
    if lb:
        diag("B: " + lb[-1])

    # the same with A's FastCGI connection closed directly (A notices at once)
    c = fcgi_stream(A, "", {"prompt": LONG_PROMPT, "model": "slow"})
    rd = FcgiReader(c)
    ok(rd.read_until(lambda x: len([e for e in x.events if e.type == "message"]) >= 3, 10),
       "cancel via FastCGI: three tokens arrived")
    responses.append(("cancel fcgi", rd.raw + rd.body))
    t_close = time.monotonic()
    c.close()
    la = wait_count(A, r"model=slow .*outcome=client_gone", before_a + 2, 5)
    t_a = time.monotonic() - t_close
    lb = wait_count(B, r"model=slow .*outcome=client_gone", before_b + 2, 5)
    t_b = time.monotonic() - t_close
    ok(len(la) > before_a + 1 and t_a < 1.0,
       "cancel via FastCGI: A logs client_gone at once (%.2f s)" % t_a)
    ok(len(lb) > before_b + 1 and t_b < 3,
       "cancel via FastCGI: B logs client_gone %.2f s after the close" % t_b)

    # every stream thread is free again (threads = 4): four streams at once complete
    sts = [CurlStream(fx, a_url(), body=json.dumps({"prompt": "again %d" % i}),
                      headers=["Content-Type: application/json"]) for i in range(4)]
    res = [keep("again", s.finish()) for s in sts]
    ok(all(x.status == 200 and x.stream().text == demo_text("again %d" % i)
           for i, x in enumerate(res)),
       "after the cancellations A serves 4 concurrent streams (all threads free)")

    # --- the API key ----------------------------------------------------------
    r = post(fx, a_url(), {"prompt": "k", "model": "keycheck"}, "keycheck")
    ok(r.status == 200 and r.stream().text == FAKE_TEXT, "keycheck: A relayed the test upstream")
    q = up.last("ok")
    is_(q.header("Authorization") if q else None, "Bearer " + KEY,
        "api_key_env: the upstream got Authorization: Bearer KEY")
    r = post(fx, a_url(), {"prompt": "k", "model": "keyfile"}, "keyfile")
    q = up.last("ok")
    ok(r.status == 200 and q is not None and q.header("Authorization") == "Bearer " + KEY_FILE_KEY,
       "api_key_file: the upstream got Authorization: Bearer KEY (first line of the file)")
    ok(q is not None and len(q.header_all("Authorization")) == 1,
       "exactly one Authorization header upstream")
    fx.lighttpd.stop()
    ltb.stop()
    files = [p for p in all_files(fx.tmp) if p != keyfile]
    hits = find_secret(KEY, files, responses) + find_secret(KEY_FILE_KEY, files, responses)
    is_(hits, [], "neither key appears in any response A sent (%d) nor in any of the %d files "
        "of the run (A/B logs, lighttpd logs, curl headers)" % (len(responses), len(files)))
    logs = [A.log, B.log, fx.lighttpd.errorlog, ltb.errorlog]
    ok(all(os.path.exists(p) for p in logs) and os.path.getsize(A.log) > 0,
       "the logs grepped exist (A, B, both lighttpd error logs)")
    ok(A.alive() and B.alive(), "A and B are still running")


run(main)
