#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_resume_openai.py: OpenAI-format streams (/v1/chat/completions with
"stream": true) are journaled and resumable like native ones, across two
chatstream processes A and B (two spawn-fcgi instances, each behind its own
lighttpd) that share only the journal: the spool directory, or with
CS_TEST_JOURNAL=redis (t_resume_openai_redis.py) a Redis.

- The OpenAI Node SDK (tests/sdk/resume.mjs) streams from A through
  tests/lib/cutproxy.py, which cuts the POST's response mid-way (after 700,
  1900, 3100 bytes).  The SDK raises the broken connection; the script then
  GETs /streams/<X-Stream-Id> (on B, on A, on B) with Last-Event-ID, the id
  of the last event the SDK was handed (a `fetch` of its own notes them as
  they go by), and reads it with the SDK's Stream.fromSSEResponse(): the two
  parts' content is the exact answer, each token once, ending with
  finish_reason stop, the usage chunk and [DONE].  A paced model (the
  resume follows it live) and a fast one (the resume replays a finished
  stream).
- A finished stream replayed from 0 on B (curl): the same frames as the POST
  on A, ids and all, [DONE] last; after its last id: 204; ?last_event_id=k:
  exactly the events after k.  The SDK reads the replay to the same text.
- A failure mid-stream (fail_after = 3) is journaled as the stream's end:
  replayed on B it ends with the same `data: {"error": ...}`; after it: 204.
  The SDK raises it, as it did live.
- Errors the follower makes are in OpenAI's shape: history_lost (past
  journal_max_bytes) and interrupted (A SIGKILLed under a follower on B)
  arrive as `data: {"error": {"message", "type", "param", "code"}}` with
  chatstream's type as the code, no `event:` and no `id:`; the SDK raises
  them as an APIError with that code.

Skipped (not failed) only when node/npm or the SDK cannot be installed
(offline, not root): chatstream is not at fault then."""

import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (DEMO_FAST, Fixture, config, demo_text, demo_tokens, diag,  # noqa: E402
                     is_, ok, require_tools, run, skip_all, word_count)
from cutproxy import CutProxy  # noqa: E402
from redis_server import journal_from_env  # noqa: E402
from resume_util import Front, evlist, explain_journal_failures, json_of, n_events  # noqa: E402
from sdk_util import install, sdk_dir  # noqa: E402

PROMPT = "an OpenAI stream, cut and resumed ü 🎉"
LONG = " ".join("word%d" % i for i in range(300))
CUT_AFTER = (1000, 1900, 3100)
CONTINUE = {"on_disconnect": "continue", "grace": 10}


def chat_body(model, prompt=PROMPT, usage=True):
    b = {"model": model, "stream": True, "messages": [{"role": "user", "content": prompt}]}
    if usage:
        b["stream_options"] = {"include_usage": True}
    return json.dumps(b)


def seq_of(event_id):
    """An event id's number: the id itself, or what follows the last dot
    of an id that also names its stream."""
    return (event_id or "").rsplit(".", 1)[-1]


def mount_of(front):
    """http://127.0.0.1:PORT/chat: the mount, as resume.mjs wants it."""
    return front.url("").rstrip("/")


class Node:
    """tests/sdk/resume.mjs, run where its node_modules are."""

    def __init__(self, where):
        self.where = where

    def __call__(self, *args, timeout=180):
        t0 = time.monotonic()
        try:
            p = subprocess.run(["node", os.path.join(self.where, "resume.mjs")] +
                               [str(a) for a in args], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                               cwd=self.where)
        except subprocess.TimeoutExpired:
            ok(False, "resume.mjs %s finished within %d s" % (args[0], timeout))
            return {}
        if p.returncode != 0 or p.stderr.strip():
            diag("resume.mjs %s: exit %d, %.1f s, stderr: %s" % (
                args[0], p.returncode, time.monotonic() - t0,
                p.stderr.decode("utf-8", "replace")[-2000:]))
        try:
            return json.loads(p.stdout.decode("utf-8"))
        except ValueError:
            ok(False, "resume.mjs %s printed its JSON result" % args[0])
            diag("stdout: %r" % p.stdout[-2000:])
            return {}


def openai_error(ev):
    """The error object of an OpenAI-format error event, or {}."""
    return json_of(ev[2]).get("error") or {} if ev else {}


def main():
    require_tools()
    where = sdk_dir()
    ready, out = install(where)
    if not ready:
        skip_all("the OpenAI Node SDK could not be installed: %s"
                 % " ".join(out.strip().splitlines()[-2:]))
    fx = Fixture("resume-openai")
    journal_from_env(fx)
    text = config({"heartbeat": 1, "threads": 8, "spool_dir": fx.path("spool"),
                   "journal_max_bytes": 16384}, {
        "paced": dict(DEMO_FAST, tokens_per_second=40, **CONTINUE),
        "demo": dict(DEMO_FAST, **CONTINUE),
        "long": dict(DEMO_FAST, tokens_per_second=40, **CONTINUE),
        "fail": dict(DEMO_FAST, fail_after=3),
    })
    a = fx.start_chatstream(text, name="a")
    b = fx.start_chatstream(text, name="b")
    fa, fb = Front(fx, a, "lighttpd-a"), Front(fx, b, "lighttpd-b")
    proxy = CutProxy(fa.lt.port, cut_after=CUT_AFTER, prefix="/chat/v1/chat/completions",
                     methods=("POST",))
    port = proxy.start()
    fx.on_close(proxy.stop)
    t0 = time.monotonic()
    try:
        steps(fx, a, b, fa, fb, proxy, port, Node(where))
    finally:
        explain_journal_failures(fx.chatstreams)
    diag("took %.1f s" % (time.monotonic() - t0))


def sdk_cuts(a, fa, fb, proxy, port, node):
    toks = demo_tokens(PROMPT)
    words = word_count(PROMPT)
    usage = {"prompt_tokens": words, "completion_tokens": len(toks),
             "total_tokens": words + len(toks)}
    # the role chunk, one per token, finish_reason, usage: the SDK's chunks; then [DONE]
    chunks = len(toks) + 3
    for model, rounds in (("paced", len(CUT_AFTER)), ("demo", 1)):
        cuts0 = len(proxy.entries("cut"))
        res = node("cut", "http://127.0.0.1:%d/chat/v1" % port, PROMPT, model, rounds,
                   mount_of(fb), mount_of(fa))
        got = res.get("rounds") or []
        is_(len(got), rounds, "%s: %d streams POSTed through the proxy" % (model, rounds))
        is_(len(proxy.entries("cut")) - cuts0, rounds, "%s: the proxy cut each of them" % model)
        for i, r in enumerate(got):
            first, rest = r.get("first") or {}, r.get("rest") or {}
            where = "B" if r.get("mount") == mount_of(fb) else "A"
            lb = "%s, cut %d, resumed on %s" % (model, i + 1, where)
            sid = r.get("streamId") or ""
            ok(re.match(r"^[A-Za-z0-9_-]{22}$", sid) is not None,
               lb + ": the SDK's response has the X-Stream-Id")
            ok(first.get("error") is not None and first.get("finish_reason") is None,
               lb + ": the SDK raised the cut mid-stream (%s)"
               % (first.get("error") or {}).get("message"))
            ok(r.get("lastId") is not None and 0 < len(first.get("text") or "")
               < len(demo_text(PROMPT)),
               lb + ": it had %d chunks, up to event id %s" % (first.get("chunks", 0),
                                                             r.get("lastId")))
            is_(rest.get("status"), 200, lb + ": GET /streams/<id> with Last-Event-ID: 200")
            is_(rest.get("error"), None, lb + ": the SDK read the rest without an error")
            is_((first.get("text") or "") + (rest.get("text") or ""), demo_text(PROMPT),
                lb + ": the two parts' content is the exact answer")
            is_(first.get("chunks", 0) + rest.get("chunks", 0), chunks,
                lb + ": every chunk once (%d + %d)" % (first.get("chunks", 0),
                                                     rest.get("chunks", 0)))
            ok(rest.get("finish_reason") == "stop" and rest.get("usage") == usage,
               lb + ": finish_reason stop and the usage chunk")
            ok(a.wait_log(r"id=%s .*method=POST .*outcome=done" % re.escape(sid), 10),
               lb + ": A generated it once, to the end")


def replays(a, b, fa, fb, node):
    # --- a finished stream, replayed from 0 on B ---------------------------------
    r = fa.curl("v1/chat/completions", body=chat_body("demo"))
    sid = r.header("X-Stream-Id") or "none"
    posted = evlist(r.events)
    g = fb.curl("streams/%s" % sid)
    replayed = evlist(g.events)
    is_(g.status, 200, "replay on B of a finished OpenAI stream: 200")
    ok(len(posted) > 5 and replayed == posted,
       "replay from 0: the POST's %d frames, ids and data, byte for byte" % len(posted))
    ok(bool(replayed) and replayed[-1][2] == "[DONE]" and all(t == "message" for _, t, _ in
                                                               replayed),
       "replay from 0: unnamed chunks, data: [DONE] last")
    last = posted[-1][0] if posted else "0"
    g = fb.curl("streams/%s" % sid, headers=["Last-Event-ID: %s" % last])
    is_(g.status, 204, "after its last id (%s): 204, nothing more to come" % last)
    k = posted[4][0] if len(posted) > 4 else "0"
    g = fb.curl("streams/%s?last_event_id=%s" % (sid, k))
    is_(evlist(g.events), posted[5:], "?last_event_id=%s: exactly the events after it" % k)
    s = node("read", mount_of(fb), sid)
    ok(s.get("status") == 200 and s.get("error") is None and s.get("text") ==
       demo_text(PROMPT) and s.get("finish_reason") == "stop",
       "the SDK reads the replay from 0: the exact answer, finish_reason stop (%r)"
       % s.get("error"))

    # --- a failure mid-stream is the journaled end ---------------------------------
    r = fa.curl("v1/chat/completions", body=chat_body("fail"))
    sid = r.header("X-Stream-Id") or "none"
    posted = evlist(r.events)
    err = openai_error(posted[-1] if posted else None)
    ok(err.get("code") == "backend_error" and posted[-1][1] == "message",
       "fail: the POST ends with data: {\"error\": ...} (code %s)" % err.get("code"))
    g = fb.curl("streams/%s" % sid)
    is_(evlist(g.events), posted, "fail: replayed on B, the same frames, the error last")
    g = fb.curl("streams/%s" % sid, headers=["Last-Event-ID: %s" % posted[-1][0]])
    is_(g.status, 204, "fail: after the error's id: 204 (the error ended the stream)")
    s = node("read", mount_of(fb), sid)
    e = s.get("error") or {}
    ok(e.get("isAPIError") and "demo failure injected" in (e.get("message") or ""),
       "fail: the SDK reading the replay raises the error as an APIError (%s)" % e.get("message"))
    is_(s.get("text"), "".join(demo_tokens(PROMPT)[:3]), "fail: after the 3 tokens before it")

    # --- history_lost, in OpenAI's shape ------------------------------------------
    r = fa.curl("v1/chat/completions", body=chat_body("demo", LONG), timeout=30)
    sid = r.header("X-Stream-Id") or "none"
    is_(r.stream().error, None, "a stream past journal_max_bytes: the POST's reader gets it all")
    g = fb.curl("streams/%s" % sid, headers=["Last-Event-ID: 2"])
    evs = evlist(g.events)
    err = openai_error(evs[-1] if evs else None)
    ok(bool(evs) and evs[-1][1] == "message" and evs[-1][0] is None and
       err.get("code") == "history_lost" and err.get("type") == "server_error" and
       "param" in err and err.get("message"),
       "history_lost: data: {\"error\": {message, type, param, code: history_lost}}, "
       "no event:, no id: (%r)" % (evs[-1:],))
    s = node("read", mount_of(fb), sid, "2")
    e = s.get("error") or {}
    ok(e.get("isAPIError") and e.get("code") == "history_lost",
       "history_lost: the SDK raises an APIError with code history_lost (%s)" % e.get("name"))


def interrupted(a, fa, fb):
    st = fa.start("v1/chat/completions", body=chat_body("long", LONG), timeout=40)
    st.read_until(lambda r: n_events(r) >= 3, 10)
    # the chunks' id is chatcmpl-<stream id> (the headers are parsed at the end)
    sid = (json_of(st.res.events[0].data).get("id") or "chatcmpl-none")[9:] \
        if st.res.events else "none"
    fol = fb.start("streams/%s" % sid, headers=["Last-Event-ID: 2"], timeout=40)
    ok(fol.read_until(lambda r: n_events(r) >= 5, 10), "SIGKILL: a follower on B reads A's stream")
    os.kill(a.pid, signal.SIGKILL)
    fol.read_until(lambda r: any(e.data.startswith('{"error"') for e in r.events), 20)
    res = fol.finish(timeout=5)
    evs = evlist(res.events)
    err = openai_error(evs[-1] if evs else None)
    ok(bool(evs) and evs[-1][1] == "message" and evs[-1][0] is None and
       err.get("code") == "interrupted" and err.get("type") == "server_error",
       "SIGKILL: the follower on B gets data: {\"error\": {... code: interrupted}}, "
       "no event:, no id:")
    ids = [seq_of(i) for i, _, _ in evs[:-1]]
    ok(ids == [str(i) for i in range(3, 3 + len(ids))], "SIGKILL: the events before it in order")


def steps(fx, a, b, fa, fb, proxy, port, node):
    sdk_cuts(a, fa, fb, proxy, port, node)
    replays(a, b, fa, fb, node)
    interrupted(a, fa, fb)


run(main)
