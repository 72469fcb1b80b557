# SPDX-License-Identifier: ISC
"""responses_util.py: reading a Responses API stream as a client does: its
events, and the response they build, applied as the OpenAI SDK's
ResponseAccumulator applies them, strictly.  Reads data only."""

import json

__all__ = ["Inconsistent", "accumulate", "events", "shape"]


def events(r):
    """[(event name, data dict)] of a response's SSE events."""
    return [(e.type, json.loads(e.data)) for e in r.events]


class Inconsistent(Exception):
    pass


def accumulate(evs):
    """The response the events build, applied as the OpenAI SDK's
    ResponseAccumulator applies them, strictly: raises Inconsistent on an
    event about an item or a part that was not added, or of another kind."""
    snap = None
    for t, d in evs:
        if t == "response.created":
            snap = json.loads(json.dumps(d["response"]))
            continue
        if snap is None:
            raise Inconsistent("%s before response.created" % t)
        if t in ("response.completed", "response.incomplete", "response.failed",
                 "response.in_progress"):
            continue
        i = d.get("output_index")
        if t == "response.output_item.added":
            if i != len(snap["output"]):
                raise Inconsistent("item added at %r, expected %d" % (i, len(snap["output"])))
            snap["output"].append(json.loads(json.dumps(d["item"])))
            continue
        if i is None or i >= len(snap["output"]):
            raise Inconsistent("%s: no output item %r" % (t, i))
        item = snap["output"][i]
        if d.get("item_id") is not None and d["item_id"] != item["id"]:
            raise Inconsistent("%s: item_id %s is not item %d's" % (t, d["item_id"], i))
        if t == "response.output_item.done":
            snap["output"][i] = d["item"]
        elif t == "response.content_part.added":
            if d["content_index"] != len(item["content"]):
                raise Inconsistent("part added at %r" % d["content_index"])
            item["content"].append(dict(d["part"]))
        elif t == "response.content_part.done":
            item["content"][d["content_index"]] = d["part"]
        else:
            kind, want, field = {
                "response.output_text.delta": ("message", "output_text", "text"),
                "response.output_text.done": ("message", "output_text", "text"),
                "response.refusal.delta": ("message", "refusal", "refusal"),
                "response.refusal.done": ("message", "refusal", "refusal"),
                "response.reasoning_text.delta": ("reasoning", "reasoning_text", "text"),
                "response.reasoning_text.done": ("reasoning", "reasoning_text", "text"),
                "response.function_call_arguments.delta": ("function_call", None, "arguments"),
                "response.function_call_arguments.done": ("function_call", None, "arguments"),
            }.get(t, (None, None, None))
            if kind is None:
                raise Inconsistent("unknown event %s" % t)
            if item["type"] != kind:
                raise Inconsistent("%s on a %s item" % (t, item["type"]))
            target = item
            if want is not None:
                parts = item["content"]
                if d["content_index"] >= len(parts) or parts[d["content_index"]]["type"] != want:
                    raise Inconsistent("%s: content %r is not %s" % (t, d["content_index"], want))
                target = parts[d["content_index"]]
            if t.endswith(".delta"):
                target[field] += d["delta"]
            else:
                target[field] = d[field]
    return snap


def shape(output):
    """An output list without what varies between two runs (ids, logprobs)."""
    out = []
    for it in output:
        it = dict(it)
        it.pop("id", None)
        if "content" in it:
            it["content"] = [{k: v for k, v in p.items() if k != "logprobs"}
                             for p in it["content"]]
        out.append(it)
    return out
