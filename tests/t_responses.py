#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_responses.py: POST /v1/responses (the Responses API) through lighttpd with
curl.  stream: true gives the typed events in OpenAI's order (response.created,
response.in_progress, output_item.added, content_part.added, one
output_text.delta per token, output_text.done, content_part.done,
output_item.done, response.completed), the SSE event name equal to each data's
type, sequence_number 0, 1, 2, ... and the usage; stream: false gives the
response object; max_output_tokens ends with response.incomplete; a backend
failing mid-way ends with response.failed (and is retrieved as failed).  An openai
backend (a fake upstream) is sent the request as a chat completion (top_p, user,
reasoning.effort and text.format translated).
background: true answers 200 at once with the object (queued); GET
/v1/responses/<id> retrieves it (in progress with the answer so far, then
completed); GET ?stream=true replays its events, and with starting_after=N
exactly those after N (no gap, no duplicate); POST .../cancel stops a running
one (status cancelled, also when retrieved later).  A streamed background
response runs to its end after its reader left; one not in the background
ends then (reconnect_window 0).  previous_response_id,
conversation, items of a hosted tool and image parts are 400s naming their param;
background without a journal is a 400; unknown ids and a chat completion's
stream id are 404s.  t_responses_redis.py runs it again with `journal = redis`."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (DEMO_FAST, Fixture, Held, config, demo_text, demo_tokens,  # noqa: E402
                     fcgi_params, is_, ok, require_tools, run, word_count)
from fake_upstream import FAKE_TEXT, FakeUpstream  # noqa: E402
from redis_server import journal_from_env  # noqa: E402

P = "tell me about streams"
INSTR = "be brief"
OPENING = ["response.created", "response.in_progress", "response.output_item.added",
           "response.content_part.added"]
CLOSING = ["response.output_text.done", "response.content_part.done",
           "response.output_item.done"]


def post(fx, payload, path="v1/responses"):
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return fx.curl(path, body=body, content_type="application/json")


def events(r):
    """[(event name, data dict)] of a response's SSE events."""
    out = []
    for e in r.events:
        try:
            out.append((e.type, json.loads(e.data)))
        except ValueError:
            out.append((e.type, None))
    return out


def sequence_ok(evs, first=0):
    """Each data's type is its event name; sequence_numbers first, first+1, ..."""
    return all(d is not None and d.get("type") == t for t, d in evs) and \
        [d.get("sequence_number") for _, d in evs] == list(range(first, first + len(evs)))


def text_of(obj):
    try:
        return obj["output"][0]["content"][0]["text"]
    except (KeyError, IndexError, TypeError):
        return None


def retrieve(fx, rid):
    return fx.curl("v1/responses/" + rid)


def wait_for(fx, rid, pred, tries=200):
    """GET the response until pred(object) holds (bounded); the last object."""
    obj = None
    for _ in range(tries):
        obj = retrieve(fx, rid).json()
        if obj is not None and pred(obj):
            return obj
        time.sleep(0.05)
    return obj


def streaming(fx):
    toks = demo_tokens(P)
    r = post(fx, {"model": "demo", "input": P, "instructions": INSTR, "stream": True})
    is_(r.status, 200, "stream: 200")
    ok((r.header("Content-Type") or "").startswith("text/event-stream"),
       "stream: text/event-stream")
    evs = events(r)
    names = [t for t, _ in evs]
    is_(names, OPENING + ["response.output_text.delta"] * len(toks) + CLOSING +
        ["response.completed"], "stream: the events in OpenAI's order, one delta a token")
    ok(sequence_ok(evs), "stream: each data's type is its event name; "
       "sequence_number 0, 1, 2, ... consecutive")
    deltas = [d["delta"] for t, d in evs if t == "response.output_text.delta"]
    is_(deltas, toks, "stream: the deltas are the tokens")
    sid = r.header("X-Stream-Id")
    created = evs[0][1]["response"]
    is_(created.get("id"), "resp_%s" % sid, "stream: the response id is resp_<stream id>")
    is_((created.get("object"), created.get("status"), created.get("model")),
        ("response", "in_progress", "demo"), "stream: created: object, status, model")
    item = evs[2][1]
    is_((item["output_index"], item["item"]["type"], item["item"]["role"],
         item["item"]["id"]), (0, "message", "assistant", "msg_%s" % sid),
        "stream: the message item is added")
    ok(all(d.get("item_id") == "msg_%s" % sid and d.get("output_index") == 0 and
           d.get("content_index") == 0 for t, d in evs if t == "response.output_text.delta"),
       "stream: every delta names the item, output 0, content 0")
    is_(evs[-4][1].get("text"), demo_text(P), "stream: output_text.done has the whole text")
    done = evs[-1][1]["response"]
    is_((done["status"], text_of(done)), ("completed", demo_text(P)),
        "stream: completed: status and output text")
    words = word_count(INSTR, P)
    is_(done.get("usage", {}).get("input_tokens"), words, "stream: usage.input_tokens")
    is_(done.get("usage", {}).get("output_tokens"), len(toks), "stream: usage.output_tokens")
    is_(done.get("usage", {}).get("total_tokens"), words + len(toks),
        "stream: usage.total_tokens")
    ok(all(e.last_event_id.startswith(sid + ".") for e in r.events),
       "stream: every event has an id of its stream (for resume)")
    # Its events are kept: the stream is retrievable and replayable.
    got = retrieve(fx, "resp_" + sid).json() or {}
    is_((got.get("status"), text_of(got)), ("completed", demo_text(P)),
        "stream: retrieved afterwards: completed with the text")

    # Items: developer and user messages with parts, the last user message is the prompt.
    r = post(fx, {"model": "demo", "stream": True, "input": [
        {"role": "developer", "content": "be brief"},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "first "}, {"type": "input_text", "text": "part"}]},
    ]})
    deltas = [d["delta"] for t, d in events(r) if t == "response.output_text.delta"]
    is_("".join(deltas), demo_text("first part"), "items: parts joined, the user's text answered")

    r = post(fx, {"model": "demo", "input": P, "stream": True, "max_output_tokens": 3})
    evs = events(r)
    is_(evs[-1][0], "response.incomplete", "max_output_tokens: response.incomplete")
    is_(evs[-1][1]["response"].get("incomplete_details"), {"reason": "max_output_tokens"},
        "max_output_tokens: incomplete_details.reason")
    is_(len([1 for t, _ in evs if t == "response.output_text.delta"]), 3,
        "max_output_tokens: 3 deltas")


def failed(fx):
    """A backend failing mid-way: response.failed, kept as failed."""
    r = post(fx, {"model": "fail", "input": P, "stream": True})
    evs = events(r)
    ok(sequence_ok(evs), "failure: numbered and typed like the rest")
    last = evs[-1][1].get("response", {}) if evs else {}
    is_((evs[-1][0] if evs else None, last.get("status"), (last.get("error") or {}).get("code")),
        ("response.failed", "failed", "backend_error"),
        "failure: response.failed, status failed, the error's code")
    is_(len([1 for t, _ in evs if t == "response.output_text.delta"]), 3,
        "failure: the 3 deltas before it")
    got = retrieve(fx, last.get("id", "")).json() or {}
    is_((got.get("status"), text_of(got)), ("failed", "".join(demo_tokens(P)[:3])),
        "failure: retrieved: failed, with the text so far")


def relayed(fx, up):
    """An openai backend: the request goes upstream as a chat completion."""
    r = post(fx, {"model": "relay", "input": [{"role": "user", "content": P}],
                  "instructions": INSTR, "stream": True, "max_output_tokens": 50,
                  "temperature": 0.25})
    evs = events(r)
    is_("".join(d["delta"] for t, d in evs if t == "response.output_text.delta"), FAKE_TEXT,
        "openai backend: the upstream's text as deltas")
    is_(evs[-1][0] if evs else None, "response.completed", "openai backend: completed")
    req = (up.last("ok").json or {}) if up.last("ok") else {}
    is_(req.get("messages"), [{"role": "system", "content": INSTR},
                              {"role": "user", "content": P}],
        "openai backend: instructions and input sent upstream as chat messages")
    is_((req.get("max_tokens"), req.get("temperature")), (50, 0.25),
        "openai backend: max_output_tokens as max_tokens, temperature")
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    r = post(fx, {"model": "relay", "input": P, "stream": True, "top_p": 0.5, "user": "u1",
                  "reasoning": {"effort": "low"}, "text": {"format": {
                      "type": "json_schema", "name": "n", "schema": schema, "strict": True}}})
    req = (up.last("ok").json or {}) if up.last("ok") else {}
    is_((req.get("top_p"), req.get("user"), req.get("reasoning_effort")), (0.5, "u1", "low"),
        "openai backend: top_p, user, reasoning.effort as reasoning_effort")
    is_(req.get("response_format"), {"type": "json_schema", "json_schema": {
        "name": "n", "schema": schema, "strict": True}},
        "openai backend: text.format as response_format")
    o = post(fx, {"model": "relay", "input": P}).json() or {}
    is_((o.get("status"), text_of(o)), ("completed", FAKE_TEXT),
        "openai backend, stream false: the response object")


def whole(fx):
    r = post(fx, {"model": "demo", "input": P, "metadata": {"k": "v"}, "temperature": 0.5})
    o = r.json() or {}
    is_(r.status, 200, "stream false: 200")
    ok((r.header("Content-Type") or "").startswith("application/json"),
       "stream false: application/json")
    is_((o.get("object"), o.get("status"), o.get("model")), ("response", "completed", "demo"),
        "stream false: a completed response object")
    ok(str(o.get("id", "")).startswith("resp_"), "stream false: id resp_...")
    is_(text_of(o), demo_text(P), "stream false: output[0] is the message with the text")
    is_((o.get("output") or [{}])[0].get("type"), "message", "stream false: a message item")
    is_(o.get("usage", {}).get("output_tokens"), len(demo_tokens(P)),
        "stream false: usage.output_tokens")
    is_((o.get("metadata"), o.get("temperature")), ({"k": "v"}, 0.5),
        "stream false: metadata and temperature echoed")


def background(fx, held):
    r = post(fx, {"model": "slow", "input": P, "background": True})
    o = r.json() or {}
    is_(r.status, 200, "background: 200 at once (as OpenAI, not 202)")
    is_((o.get("status"), o.get("background")), ("queued", True),
        "background: the object, status queued")
    rid = o.get("id", "")
    done = wait_for(fx, rid, lambda x: x.get("status") != "in_progress") or {}
    is_((done.get("status"), text_of(done)), ("completed", demo_text(P)),
        "background: retrieved, completed with the whole text")
    full = fx.curl("v1/responses/%s?stream=true" % rid)
    evs = events(full)
    is_(evs[-1][0] if evs else None, "response.completed", "background: stream=true replays "
        "all events, to response.completed")
    ok(sequence_ok(evs), "background: the replay is numbered from 0, consecutive")
    for n in (0, 5, len(evs) - 2):
        part = events(fx.curl("v1/responses/%s?stream=true&starting_after=%d" % (rid, n)))
        is_(part, evs[n + 1:], "background: starting_after=%d replays exactly the events "
            "after %d (no gap, no duplicate)" % (n, n))
    r = fx.curl("v1/responses/%s?stream=true&starting_after=x" % rid)
    is_((r.status, (r.json() or {}).get("error", {}).get("param")), (400, "starting_after"),
        "background: a bad starting_after is a 400")

    # Live: resumed while it runs (a held model), the stream follows it to its end.
    tag = Held.tag("bg")
    o = post(fx, {"model": "held", "input": held.prompt(tag, "bg"),
                  "background": True}).json() or {}
    rid = o.get("id", "")
    part = wait_for(fx, rid, lambda x: len(text_of(x) or "") > 0) or {}
    is_((part.get("status"), text_of(part)), ("in_progress", "bg waiting "),
        "background: retrieved mid-way: in_progress, the text so far")
    follow = fx.curl_start("v1/responses/%s?stream=true&starting_after=2" % rid)
    ok(follow.read_until(lambda res: any(e.type == "response.output_text.delta"
                                         for e in res.events), 20),
       "background: the replay comes while the model is held")
    held.release(tag)
    evs = events(follow.finish())
    ok(sequence_ok(evs, 3), "background: followed from 3 on, consecutive")
    is_(evs[-1][0] if evs else None, "response.completed", "background: followed to the end")
    is_("".join(d["delta"] for t, d in evs if t == "response.output_text.delta"),
        Held.text("bg"), "background: replayed, then followed live: the whole text")


def streamed(fx, held, background):
    """A streamed response of the held model, read to its first delta: (curl, id, tag)."""
    tag = Held.tag("left")
    body = json.dumps({"model": "held", "input": held.prompt(tag, "left"), "stream": True,
                       "background": background}).encode()
    s = fx.curl_start("v1/responses", body=body, content_type="application/json")
    ok(s.read_until(lambda res: any(e.type == "response.output_text.delta"
                                    for e in res.events), 20),
       "background %s, streamed: the first delta came" % background)
    return s, (events(s.res)[0][1] or {}).get("response", {}).get("id", ""), tag


def streamed_background(fx, held):
    bg, bg_id, bg_tag = streamed(fx, held, True)
    fg, fg_id, _ = streamed(fx, held, False)
    bg.kill()
    fg.kill()
    # The heartbeat (1 s) makes lighttpd notice; the background one's came first.
    got = wait_for(fx, fg_id, lambda x: x.get("status") != "in_progress") or {}
    is_(got.get("status"), "cancelled", "not background, streamed: ends when its reader "
        "leaves (reconnect_window 0)")
    got = retrieve(fx, bg_id).json() or {}
    is_(got.get("status"), "in_progress", "background, streamed: runs on without its reader")
    held.release(bg_tag)
    got = wait_for(fx, bg_id, lambda x: x.get("status") != "in_progress") or {}
    is_((got.get("status"), text_of(got)), ("completed", Held.text("left")),
        "background, streamed: completed without its reader, the whole text kept")


def stored_left(fx, held):
    """stream: false, stored: its reader leaves while the model works (the
    head came with the first heartbeat's space): the response ends as a
    stream would (cancelled, reconnect_window 0) and is kept so."""
    tag = Held.tag("json")
    body = json.dumps({"model": "held", "input": held.prompt(tag, "json")}).encode()
    s = fx.curl_start("v1/responses", body=body, content_type="application/json")
    ok(s.read_until(lambda res: b" " in res.body, 20),
       "stream false, stored: a heartbeat's space while the model works")
    sid = ""
    with open(s.headerfile, encoding="latin-1") as f:
        for line in f:
            if line.lower().startswith("x-stream-id:"):
                sid = line.split(":", 1)[1].strip()
    s.kill()
    got = wait_for(fx, "resp_" + sid, lambda x: x.get("status") != "in_progress") or {}
    is_(got.get("status"), "cancelled",
        "stream false, stored, its reader gone: kept, ended cancelled")
    held.release(tag)
    r = post(fx, {"model": "demo", "input": P})
    is_(r.status, 200, "stream false, stored, its reader gone: chatstream serves on")


def cancel(fx):
    o = post(fx, {"model": "stall", "input": P, "background": True}).json() or {}
    rid = o.get("id", "")
    part = wait_for(fx, rid, lambda x: len(text_of(x) or "") > 0) or {}
    is_(part.get("status"), "in_progress", "cancel: the response runs (stalled)")
    r = fx.curl("v1/responses/%s/cancel" % rid, method="POST", body=b"")
    c = r.json() or {}
    is_((r.status, c.get("id"), c.get("status")), (200, rid, "cancelled"),
        "cancel: 200, the object, status cancelled")
    later = retrieve(fx, rid).json() or {}
    is_(later.get("status"), "cancelled", "cancel: retrieved later: cancelled")
    ok(demo_text(P).startswith(text_of(later) or "x") and text_of(later) != demo_text(P),
       "cancel: the output is the text so far, not the whole")
    evs = events(fx.curl("v1/responses/%s?stream=true" % rid))
    is_(evs[-1][1]["response"]["status"] if evs else None, "cancelled",
        "cancel: the stream's last event says cancelled")


def refused(fx, cs_off):
    cases = [
        ({"model": "demo", "input": P, "previous_response_id": "resp_x"},
         "previous_response_id"),
        ({"model": "demo", "input": P, "conversation": "conv_x"}, "conversation"),
        ({"model": "demo"}, "input"),
        ({"model": "demo", "input": 3}, "input"),
        ({"model": "demo", "input": [{"type": "web_search_call", "id": "ws_1"}, P]},
         "input[0]"),
        ({"model": "demo", "input": [{"role": "user", "content": [
            {"type": "input_image", "image_url": "http://x/y.png"}]}]},
         "input[0].content[0]"),
        ({"model": "demo", "input": P, "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": "demo", "input": P, "temperature": 3}, "temperature"),
    ]
    for payload, param in cases:
        r = post(fx, payload)
        e = (r.json() or {}).get("error") or {}
        is_((r.status, e.get("param")), (400, param), "400 with param %s" % param)
        ok(param.split("[")[0] in e.get("message", ""), "the message names %s" % param)
    r = post(fx, {"model": "nope", "input": P})
    is_(r.status, 404, "an unknown model is a 404")
    is_(retrieve(fx, "resp_AAAAAAAAAAAAAAAAAAAAAA").status, 404, "an unknown id: 404")
    is_(retrieve(fx, "nope").status, 404, "not a response id: 404")
    r = fx.chat({"model": "demo", "stream": True, "messages": [{"role": "user", "content": P}]},
                path="v1/chat/completions")
    is_(retrieve(fx, "resp_" + (r.header("X-Stream-Id") or "")).status, 404,
        "a chat completion's stream is not a response: 404")
    body = json.dumps({"model": "demo", "input": P, "background": True}).encode()
    status, _, out, _ = cs_off.request(fcgi_params("POST", "v1/responses", "application/json",
                                                   len(body)), body)
    e = {}
    try:
        e = json.loads(out).get("error", {})
    except (ValueError, AttributeError):
        pass
    is_((status, e.get("param")), (400, "background"),
        "journal = off: background is a 400 naming background")


def main():
    require_tools()
    fx = Fixture("responses")
    journal_from_env(fx)
    held = Held(fx)
    up = FakeUpstream()
    fx.on_close(up.close)
    fx.start_lighttpd(fx.start_chatstream(config({"heartbeat": 1}, {
        "relay": {"backend": "openai", "base_url": up.base_url, "model": "ok"},
        "held": held.model(),
        "demo": DEMO_FAST,
        "slow": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 40},
        "stall": dict(DEMO_FAST, stall_after=3, stall_seconds=60),
        "fail": dict(DEMO_FAST, fail_after=3),
    })))
    cs_off = fx.start_chatstream(config({"journal": "off"}), "nojournal")
    streaming(fx)
    whole(fx)
    failed(fx)
    relayed(fx, up)
    background(fx, held)
    cancel(fx)
    streamed_background(fx, held)
    stored_left(fx, held)
    refused(fx, cs_off)


run(main)
