# SPDX-License-Identifier: ISC
"""choices.py: reassembling a /v1 chat-completions stream of several choices
as the OpenAI SDKs do, one message per choice "index" (v1_choices), and the
same from an OpenAI Node SDK script's view.  Pure functions of events."""

import json

__all__ = ["v1_choices", "expected_choice"]


def _jl(data):
    try:
        return json.loads(data)
    except (TypeError, ValueError):
        return {}


def v1_choices(events):
    """A dict: "choices" (index -> role, content, reasoning_content, refusal,
    calls [{id, name, arguments}], logprobs items, finish, finishes: how many
    finish chunks, late: pieces after its finish), "order" (the index of
    every choice as it came, chunk by chunk), "per_chunk" (choices per
    chunk), "usage", "usage_at" and "done_at" (event positions), "events"."""
    out = {"choices": {}, "order": [], "per_chunk": [], "usage": None, "usage_at": None,
           "done_at": None, "events": len(events)}
    for n, e in enumerate(events):
        if e.data == "[DONE]":
            out["done_at"] = n
            continue
        c = _jl(e.data)
        if c.get("usage"):
            out["usage"], out["usage_at"] = c["usage"], n
        chs = c.get("choices") or []
        out["per_chunk"].append(len(chs))
        for ch in chs:
            k = ch.get("index")
            st = out["choices"].setdefault(k, {
                "role": None, "content": "", "reasoning_content": "", "refusal": "",
                "calls": {}, "logprobs": [], "finish": None, "finishes": 0, "late": 0})
            d = ch.get("delta") or {}
            if st["finish"] is not None and (d or ch.get("logprobs")):
                st["late"] += 1
            st["role"] = d.get("role") or st["role"]
            for f in ("content", "reasoning_content", "refusal"):
                if isinstance(d.get(f), str):
                    st[f] += d[f]
            if ch.get("logprobs"):
                st["logprobs"] += ch["logprobs"].get("content") or []
            for tc in d.get("tool_calls") or []:
                call = st["calls"].setdefault(tc.get("index"), {"id": None, "name": None,
                                                                "arguments": ""})
                if "id" in tc:
                    call["id"] = tc["id"]
                fn = tc.get("function") or {}
                if "name" in fn:
                    call["name"] = fn["name"]
                call["arguments"] += fn.get("arguments") or ""
            if ch.get("finish_reason"):
                st["finish"] = ch["finish_reason"]
                st["finishes"] += 1
            out["order"].append((n, k, "finish" if ch.get("finish_reason") else
                                 "content" if d.get("content") else "other"))
    for st in out["choices"].values():
        st["calls"] = [st["calls"][i] for i in sorted(st["calls"])]
    return out


def expected_choice(p):
    """What v1_choices should find for a choice of fake_upstream's choice_parts()."""
    return {"role": "assistant", "content": p["content"], "reasoning_content": p["reasoning"],
            "refusal": "", "calls": [{"id": i, "name": n, "arguments": a}
                                     for i, n, a in p["calls"]],
            "logprobs": p["logprobs"], "finish": p["finish"], "finishes": 1, "late": 0}
