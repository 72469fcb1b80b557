# SPDX-License-Identifier: ISC
"""deltas.py: reassembling what is not text from a response, as the OpenAI
SDKs do (v1_collect: a /v1 chat-completions stream) and as a chat page would
(native_collect: chatstream's native events).  Pure functions of a Response."""

import json

__all__ = ["jl", "v1_collect", "native_collect"]


def jl(data):
    try:
        return json.loads(data)
    except (TypeError, ValueError):
        return {}


def v1_collect(r):
    """Reassembles a /v1 stream as an OpenAI SDK does: a dict of its parts."""
    out = {"reasoning_content": "", "reasoning": "", "content": "", "refusal": "",
           "calls": {}, "finish": None, "usage": None, "logprobs": [], "done": False,
           "types_ok": True}
    for e in r.events:
        if e.data == "[DONE]":
            out["done"] = True
            continue
        c = jl(e.data)
        if c.get("usage"):
            out["usage"] = c["usage"]
        for ch in c.get("choices") or []:
            d = ch.get("delta") or {}
            for k in ("reasoning_content", "reasoning", "content", "refusal"):
                if isinstance(d.get(k), str):
                    out[k] += d[k]
            if ch.get("logprobs"):
                out["logprobs"] += ch["logprobs"].get("content") or []
            for tc in d.get("tool_calls") or []:
                call = out["calls"].setdefault(tc["index"], {"id": None, "name": None,
                                                             "arguments": ""})
                if "id" in tc:
                    call["id"] = tc["id"]
                    out["types_ok"] &= tc.get("type") == "function"
                fn = tc.get("function") or {}
                if "name" in fn:
                    call["name"] = fn["name"]
                call["arguments"] += fn.get("arguments") or ""
            out["finish"] = ch.get("finish_reason") or out["finish"]
    out["calls"] = [out["calls"][k] for k in sorted(out["calls"])]
    return out


def native_collect(r):
    out = {"reasoning": "", "refusal": "", "text": "", "calls": {}, "done": None}
    for e in r.events:
        d = jl(e.data)
        if e.type == "reasoning":
            out["reasoning"] += d.get("text", "")
        elif e.type == "refusal":
            out["refusal"] += d.get("text", "")
        elif e.type == "message":
            out["text"] += d.get("text", "")
        elif e.type == "tool_call":
            call = out["calls"].setdefault(d.get("index"), {"id": None, "name": None,
                                                            "arguments": ""})
            call["id"] = d.get("id", call["id"])
            call["name"] = d.get("name", call["name"])
            call["arguments"] += d.get("arguments", "")
        elif e.type == "done":
            out["done"] = d
    out["calls"] = [out["calls"][k] for k in sorted(out["calls"])]
    return out
