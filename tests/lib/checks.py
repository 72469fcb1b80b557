# SPDX-License-Identifier: ISC
"""checks.py: the assertions every successful stream must satisfy.
"""

from tap import diag, is_, ok


def check_stream(res, expected_text, finish="stop", model="demo", label="",
                 completion_tokens=None, prompt_tokens=None):
    """The assertions every successful stream must satisfy; returns the
    StreamView.  completion_tokens: expected count (None: the number of token
    events; False: not checked); prompt_tokens: expected count or None."""
    lb = (label + ": ") if label else ""
    sv = res.stream()
    is_(res.status, 200, lb + "status 200")
    ok(res.returncode == 0 and not res.timed_out,
       lb + "curl finished cleanly (rc=%s%s)" % (res.returncode, ", timed out" if res.timed_out else ""))
    ok(sv.ids_consecutive() and len(sv.ids) >= 2,
       lb + "every event has an id, 1..%d consecutive" % len(sv.ids))
    if not sv.ids_consecutive():
        diag("ids: %r" % sv.ids[:50])
    ok(sv.types[:1] == ["meta"], lb + "first event is meta")
    is_((sv.meta or {}).get("model"), model, lb + "meta.model is %s" % model)
    ok(sv.types[-1:] == ["done"], lb + "last event is done")
    mid = sv.types[1:-1]
    ok(all(t == "message" for t in mid), lb + "only unnamed (message) events between meta and done")
    if not all(t == "message" for t in mid):
        diag("types: %r" % sorted(set(sv.types)))
    ok(not sv.bad_json, lb + "every event's data is the expected JSON")
    for e in sv.bad_json[:3]:
        diag("bad event: %r" % e)
    is_(sv.text, expected_text, lb + "streamed text is exact")
    d = sv.done or {}
    is_(d.get("finish_reason"), finish, lb + "finish_reason %s" % finish)
    u = d.get("usage") if isinstance(d.get("usage"), dict) else {}
    if completion_tokens is None:
        completion_tokens = len(sv.texts)
    if completion_tokens is not False:
        is_(u.get("completion_tokens"), completion_tokens, lb + "usage.completion_tokens")
    if prompt_tokens is not None:
        is_(u.get("prompt_tokens"), prompt_tokens, lb + "usage.prompt_tokens")
    ok(isinstance(u.get("prompt_tokens"), int) and isinstance(u.get("total_tokens"), int)
       and u.get("total_tokens") == u.get("prompt_tokens", 0) + u.get("completion_tokens", 0),
       lb + "usage.total_tokens = prompt + completion")
    return sv
