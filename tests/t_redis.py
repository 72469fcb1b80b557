#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_redis.py: what only the Redis journal store does.  Two chatstream
instances A and B (own spools, own lighttpd each) share one real
redis-server (Debian's, on loopback, password required), as two hosts
behind a load balancer would.  The rest of the resume behaviour runs with
Redis in t_resume_redis.py and t_resume_procs_redis.py.

- The password comes from redis_password_env: streams work, the password
  is in no log line, and a command an exec model runs does not inherit it.
- A 202 stream made on A is read whole on B; B's spool stays empty.
- Keys: while a stream runs its lease key lives; once it ends the lease is
  gone, the events expire after journal_ttl and the stream's hash after
  ten times that.
- Redis unreachable: a 202 POST -> 503 JSON (type journal_unavailable)
  with Retry-After; GET /streams/<id> -> 503 the same way; a plain POST
  still gets its whole answer (not resumable: no resume URL); DELETE ->
  503.  The processes keep running.
- Redis back: A and B serve resumable streams again, without a restart.
- Redis killed under a running stream: A's own reader gets the whole
  answer; B's follower gets `event: error` type journal_unavailable.  When
  Redis comes back (empty), the producer reconnects: a resume from 0 is told
  history_lost (never a silent gap); a resume after the last event it
  journaled again is exact.
- Redis refuses writes (maxmemory, -OOM): a 202 POST -> 503, a DELETE is
  not answered 202; accepted again once Redis takes writes.
- A wrong password: a 202 POST -> 503, and the process keeps serving."""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (Fixture, check_stream, config, demo_text, demo_tokens,  # noqa: E402
                     diag, is_, ok, require_tools, run)
from redis_server import RedisServer, built_with_redis, use_redis  # noqa: E402
from resume_util import (Front, evlist, json_of, meta_of, n_events, script,  # noqa: E402
                         stream_path, texts_of)
import harness  # noqa: E402

PASSWORD = "redis-pw-7c1e9b"
PROMPT = "an answer kept in redis"
LONG = " ".join("w%d" % i for i in range(160))   # ~4.5 s at 40 tokens/s


def body_of(prompt, model, **kw):
    d = {"prompt": prompt, "model": model}
    d.update(kw)
    return json.dumps(d)


def error_type(res):
    try:
        return res.json()["error"]["type"]
    except (ValueError, KeyError, TypeError):
        return None


def main():
    require_tools()
    fx = Fixture("redis")
    if not built_with_redis():
        harness.skip_all("chatstream was built without the Redis store (configure --with-redis)")
    rs = RedisServer(fx, password=PASSWORD).start()
    use_redis(rs, prefix="t-redis:")
    os.environ["CS_TEST_REDIS_PW"] = PASSWORD
    env_dump = script(fx, "env.sh", 'printf "pw=%s" "${CS_TEST_REDIS_PW:-unset}"\n')
    models = {
        "paced": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 40,
                  "on_disconnect": "continue", "grace": 10},
        "env": {"backend": "exec", "command": env_dump},
    }
    common = {"heartbeat": 1, "threads": 8, "journal_ttl": 3,
              "redis_password_env": "CS_TEST_REDIS_PW", "redis_timeout_ms": 500}
    a = fx.start_chatstream(config(dict(common, spool_dir=fx.path("spool-a")), models), name="a")
    b = fx.start_chatstream(config(dict(common, spool_dir=fx.path("spool-b")), models), name="b")
    fa, fb = Front(fx, a, "lighttpd-a"), Front(fx, b, "lighttpd-b")

    # --- the password ----------------------------------------------------------
    r = fa.curl(body=body_of("show me", "env"))
    text = "".join(texts_of(evlist(r.events)))
    is_(text, "pw=unset", "an exec model's command does not inherit the Redis password")

    # --- across hosts ------------------------------------------------------------
    r = fa.curl(body=body_of(PROMPT, "paced"), headers=["Accept: application/json"])
    is_(r.status, 202, "202 from A")
    sid = (r.header("Location") or "").rsplit("/", 1)[-1]
    lease_live = rs.cli("EXISTS", "t-redis:%s:lease" % sid).strip()
    g = fb.curl(stream_path(r.header("Location")))
    check_stream(g, demo_text(PROMPT), "stop", model="paced", label="the 202 stream of A read on B")
    for name, spool in (("A", "spool-a"), ("B", "spool-b")):
        p = fx.path(spool)
        ok(not os.path.exists(p) or not os.listdir(p), "%s's spool holds nothing" % name)

    # --- keys and expiry -----------------------------------------------------------
    is_(lease_live, "1", "the lease key exists while the stream runs")
    a.wait_log(r"id=%s .*method=POST .*outcome=" % re.escape(sid), 10)
    ttl_events = int(rs.cli("PTTL", "t-redis:%s:events" % sid).strip() or -9)
    ttl_meta = int(rs.cli("PTTL", "t-redis:%s" % sid).strip() or -9)
    ok(0 < ttl_events <= 3000, "the ended stream's events expire after journal_ttl (%d ms)"
       % ttl_events)
    ok(3000 < ttl_meta <= 30000, "its hash lives ten times as long (%d ms)" % ttl_meta)
    is_(rs.cli("EXISTS", "t-redis:%s:lease" % sid).strip(), "0", "the lease key is gone")
    time.sleep(3.3)
    r = fb.curl("streams/" + sid)
    evs = evlist(r.events)
    ok(r.status == 200 and evs and evs[-1][1] == "error" and
       json_of(evs[-1][2]).get("error", {}).get("type") == "history_lost",
       "after journal_ttl a resume from 0 is told history_lost (not 404, not 204)")
    r = fb.curl("streams/" + "x" * 22)
    is_(r.status, 404, "an unknown id -> 404")

    # --- Redis unreachable ----------------------------------------------------------
    r = fa.curl(body=body_of(PROMPT, "paced"), headers=["Accept: application/json"])
    old = (r.header("Location") or "").rsplit("/", 1)[-1]
    rs.stop()
    r = fa.curl(body=body_of(PROMPT, "paced"), headers=["Accept: application/json"])
    ok(r.status == 503 and error_type(r) == "journal_unavailable" and r.header("Retry-After"),
       "Redis down: a 202 POST -> 503 journal_unavailable with Retry-After (got %s %s)"
       % (r.status, r.body[:200]))
    r = fb.curl("streams/" + old)
    ok(r.status == 503 and error_type(r) == "journal_unavailable" and r.header("Retry-After"),
       "Redis down: GET /streams/<id> -> 503 journal_unavailable (got %s)" % r.status)
    r = fb.curl("streams/" + old, method="DELETE")
    ok(r.status == 503 and error_type(r) == "journal_unavailable",
       "Redis down: DELETE -> 503 journal_unavailable (got %s)" % r.status)
    r = fa.curl(body=body_of(PROMPT, "paced"))
    check_stream(r, demo_text(PROMPT), "stop", model="paced",
                 label="Redis down: a plain POST still gets its whole answer")
    ok(not meta_of(r).get("resume"), "...and is not offered a resume URL")
    ok(a.alive() and b.alive(), "both processes still run")

    # --- Redis back --------------------------------------------------------------------
    rs.start()
    r = fa.curl(body=body_of(PROMPT, "paced"), headers=["Accept: application/json"])
    is_(r.status, 202, "Redis back: 202 from A again, without a restart")
    g = fb.curl(stream_path(r.header("Location") or "/streams/none"))
    check_stream(g, demo_text(PROMPT), "stop", model="paced", label="Redis back: read whole on B")

    # --- Redis killed under a running stream ---------------------------------------------
    N = len(demo_tokens(LONG)) + 2
    st = fa.start(body=body_of(LONG, "paced"))
    st.read_until(lambda res: n_events(res) >= 5, 10)
    url = meta_of(st.res).get("resume")
    fol = fb.start(stream_path(url), headers=["Last-Event-ID: 5"])
    fol.read_until(lambda res: n_events(res) >= 3, 10)
    rs.stop()
    fol.finish(timeout=15)
    fevs = evlist(fol.res.events)
    ok(fevs and fevs[-1][1] == "error" and fevs[-1][0] is None and
       json_of(fevs[-1][2]).get("error", {}).get("type") == "journal_unavailable",
       "Redis killed: B's follower gets event: error journal_unavailable (no id)")
    time.sleep(1.5)
    rs.start()
    st.finish(timeout=30)
    whole = evlist(st.res.events)
    ok(len(whole) == N and whole[-1][1] == "done" and
       "".join(texts_of(whole)) == demo_text(LONG),
       "Redis killed: A's own reader still gets the whole answer (%d of %d events)"
       % (len(whole), N))
    r = fb.curl(stream_path(url))
    evs = evlist(r.events)
    ok(r.status == 200 and evs and evs[-1][1] == "error" and
       json_of(evs[-1][2]).get("error", {}).get("type") == "history_lost",
       "Redis back empty: a resume from 0 is told history_lost, never a silent gap")
    ids = rs.cli("XRANGE", "t-redis:%s:events" % url.rsplit("/", 1)[-1], "-", "+").split()
    kept = [int(x[:-2]) for x in ids if re.fullmatch(r"\d+-0", x)]
    if kept:
        k = kept[0] - 1
        r = fb.curl(stream_path(url), headers=["Last-Event-ID: %d" % k])
        tail = evlist(r.events)
        ok(r.status == 200 and [int(i) for i, _, _ in tail] == list(range(k + 1, N + 1)) and
           "".join(texts_of(whole[:k] + tail)) == demo_text(LONG),
           "the producer journaled again once Redis was back: a resume after %d is exact" % k)
    else:
        ok(False, "the producer journaled again once Redis was back (no events in Redis)")
    ok(a.alive() and b.alive(), "both processes still run")

    # --- Redis refuses writes ---------------------------------------------------------------
    rs.cli("CONFIG", "SET", "maxmemory", "1")     # noeviction (the default): writes get -OOM
    r = fa.curl(body=body_of(PROMPT, "paced"), headers=["Accept: application/json"])
    ok(r.status == 503 and error_type(r) == "journal_unavailable",
       "Redis refuses writes (-OOM): a 202 POST -> 503, not a stream nobody can find (got %s)"
       % r.status)
    r = fb.curl(stream_path(url), method="DELETE")
    ok(r.status in (503, 404) and error_type(r) in ("journal_unavailable", "not_found"),
       "...and a DELETE is not answered as done (got %s)" % r.status)
    rs.cli("CONFIG", "SET", "maxmemory", "0")
    r = fa.curl(body=body_of(PROMPT, "paced"), headers=["Accept: application/json"])
    is_(r.status, 202, "Redis accepts writes again: 202")

    # --- a wrong password ------------------------------------------------------------------
    os.environ["CS_TEST_REDIS_PW_BAD"] = "not-the-password"
    c = fx.start_chatstream(config(dict(common, redis_password_env="CS_TEST_REDIS_PW_BAD",
                                        spool_dir=fx.path("spool-c")), models), name="c")
    fc = Front(fx, c, "lighttpd-c")
    r = fc.curl(body=body_of(PROMPT, "paced"), headers=["Accept: application/json"])
    ok(r.status == 503 and error_type(r) == "journal_unavailable",
       "a wrong Redis password: a 202 POST -> 503 (got %s)" % r.status)
    ok(c.alive(), "...and the process keeps serving")

    for cs in (a, b, c):
        ok(PASSWORD not in cs.log_text() and "not-the-password" not in cs.log_text(),
           "%s logged no password" % cs.name)
    diag("B's log:\n" + "\n".join(b.log_lines()[-8:]))


run(main)
