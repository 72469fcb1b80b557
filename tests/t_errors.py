#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_errors.py: every error a client can get before a stream starts (status,
JSON body {"error":{"type","message"}}, Allow on 405), then 2,000 hostile
requests (seeded, mixed garbage bodies, types, paths and methods, most through
lighttpd, some straight over FastCGI) after which the same chatstream process
is alive and still streams correctly."""

import json
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import fcgi  # noqa: E402
from harness import (check_stream, config, crash_summary, demo_text, diag, fcgi_params,  # noqa: E402
                     http_request, is_, like, ok, run, setup)
from sse import parse_all  # noqa: E402

MAX_BODY = 4096
MAX_DEPTH = 16
TYPE_FOR = {400: ("invalid_json", "invalid_request"), 404: ("not_found",),
            405: ("method_not_allowed",), 411: ("length_required",),
            413: ("payload_too_large",), 415: ("unsupported_media_type",)}


def error_problem(status, headers, body, exp_status=None, exp_type=None):
    """None when (status, headers, body) is a well-formed chatstream error
    (matching exp_status/exp_type if given), else a description."""
    if exp_status is not None and status != exp_status:
        return "status %s, expected %s (body %r)" % (status, exp_status, body[:200])
    ct = next((v for k, v in headers if k.lower() == "content-type"), "")
    if not ct.lower().startswith("application/json"):
        return "Content-Type %r is not application/json (body %r)" % (ct, body[:200])
    try:
        j = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return "body is not JSON: %r" % body[:200]
    e = j.get("error") if isinstance(j, dict) else None
    if not isinstance(e, dict) or not isinstance(e.get("type"), str) \
            or not isinstance(e.get("message"), str):
        return "body is not {\"error\":{\"type\",\"message\"}}: %r" % body[:200]
    if exp_type is not None and e["type"] != exp_type:
        return "error.type %r, expected %r" % (e["type"], exp_type)
    if status in TYPE_FOR and e["type"] not in TYPE_FOR[status]:
        return "error.type %r does not fit status %d" % (e["type"], status)
    return None


def main():
    fx, cs = setup(config({"max_body": MAX_BODY, "max_json_depth": MAX_DEPTH}), "errors")
    pid0 = cs.pid

    def expect(label, exp_status, exp_type, path="", method=None, body=None,
               ctype="application/json", headers=()):
        r = fx.curl(path, method=method, body=body, content_type=ctype, headers=headers)
        prob = error_problem(r.status, r.headers, r.body, exp_status, exp_type)
        ok(prob is None, "%s -> %d %s" % (label, exp_status, exp_type))
        if prob:
            diag(prob)
        return r

    J = "application/json"
    # --- 400 invalid_json ----------------------------------------------------
    expect("malformed JSON", 400, "invalid_json", body=b'{"prompt": "x"')
    expect("trailing garbage after JSON", 400, "invalid_json", body=b'{"prompt": "x"} x')
    expect("not JSON at all", 400, "invalid_json", body=b"hello")
    deep = b'{"prompt":"x","a":' + b"[" * (MAX_DEPTH * 4) + b"]" * (MAX_DEPTH * 4) + b"}"
    expect("nesting deeper than max_json_depth", 400, "invalid_json", body=deep)
    # --- 400 invalid_request -------------------------------------------------
    expect("missing prompt", 400, "invalid_request", body=b'{"model":"demo"}')
    expect("empty object", 400, "invalid_request", body=b"{}")
    expect("empty prompt", 400, "invalid_request", body=b'{"prompt":""}')
    expect("prompt is a number", 400, "invalid_request", body=b'{"prompt":5}')
    expect("prompt is null", 400, "invalid_request", body=b'{"prompt":null}')
    expect("model is a number", 400, "invalid_request", body=b'{"prompt":"x","model":7}')
    expect("max_tokens is a string", 400, "invalid_request", body=b'{"prompt":"x","max_tokens":"5"}')
    expect("temperature is a string", 400, "invalid_request",
           body=b'{"prompt":"x","temperature":"hot"}')
    expect("messages is a string", 400, "invalid_request", body=b'{"messages":"hi"}')
    expect("message content is a number", 400, "invalid_request",
           body=b'{"messages":[{"role":"user","content":5}]}')
    expect("empty messages", 400, "invalid_request", body=b'{"messages":[]}')
    expect("top-level array", 400, "invalid_request", body=b'["prompt"]')
    expect("invalid UTF-8 in a JSON prompt", 400, "invalid_request",
           body=b'{"prompt":"caf\xe9 \xff\xfe"}')
    expect("invalid UTF-8 in a text/plain prompt", 400, "invalid_request",
           body=b"caf\xe9 \xc0\xaf", ctype="text/plain")
    expect("invalid UTF-8 in a form prompt", 400, "invalid_request",
           body=b"prompt=caf%E9%FF", ctype="application/x-www-form-urlencoded")
    expect("empty form prompt", 400, "invalid_request",
           body=b"prompt=", ctype="application/x-www-form-urlencoded")
    expect("empty text/plain body", 400, "invalid_request", body=b"", ctype="text/plain")
    expect("unknown model", 400, "invalid_request", body=b'{"prompt":"x","model":"no-such-model"}')
    # --- 404 -----------------------------------------------------------------
    expect("GET unknown path", 404, "not_found", path="nope", ctype=None)
    expect("POST unknown path", 404, "not_found", path="nope", body=b'{"prompt":"x"}')
    expect("POST unknown two-segment path", 404, "not_found", path="nope/deeper",
           body=b'{"prompt":"x"}')
    expect("GET unknown path ending in /health", 404, "not_found", path="nope/health", ctype=None)
    # --- 405 + Allow ---------------------------------------------------------
    r = expect("GET on the stream route", 405, "method_not_allowed", ctype=None)
    like(r.header("Allow") or "", r"\bPOST\b", "405 on / has Allow listing POST")
    r = expect("PUT on the stream route", 405, "method_not_allowed", method="PUT",
               body=b'{"prompt":"x"}')
    like(r.header("Allow") or "", r"\bPOST\b", "405 (PUT /) has Allow listing POST")
    r = expect("POST /health", 405, "method_not_allowed", path="health", body=b"{}")
    like(r.header("Allow") or "", r"\bGET\b", "405 on /health has Allow listing GET")
    r = expect("DELETE /health", 405, "method_not_allowed", path="health", method="DELETE",
               ctype=None)
    like(r.header("Allow") or "", r"\bGET\b", "405 (DELETE /health) has Allow listing GET")
    # --- 411 -----------------------------------------------------------------
    # lighttpd 1.4.69 answers a POST without Content-Length (and without
    # chunked encoding) with its own HTML 411 and never calls the backend;
    # a chunked POST is buffered and arrives with CONTENT_LENGTH set (the
    # snippet's stream-request-body = 0).  So chatstream's 411 is tested by
    # playing the front server with fcgi.py.
    st, hs, body = http_request(fx.lighttpd.port, "POST", "/chat/",
                                headers=["Content-Type: application/json"])
    is_(st, 411, "lighttpd itself answers a POST without Content-Length with 411")
    r = fx.curl(body=b'{"prompt":"chunked"}', content_type=J,
                headers=["Transfer-Encoding: chunked"])
    check_stream(r, demo_text("chunked"), "stop", label="chunked upload via lighttpd")
    st, hs, body, _ = cs.request(fcgi_params("POST", "", J, content_length=None),
                                 b'{"prompt":"x"}')
    prob = error_problem(st, hs, body, 411, "length_required")
    ok(prob is None, "FastCGI POST without CONTENT_LENGTH -> 411 length_required")
    if prob:
        diag(prob)
    # --- 413 -----------------------------------------------------------------
    big = json.dumps({"prompt": "x" * (MAX_BODY + 10)}).encode()
    expect("JSON body over max_body", 413, "payload_too_large", body=big)
    expect("text/plain body over max_body", 413, "payload_too_large",
           body=b"y" * (MAX_BODY + 1), ctype="text/plain")
    r = fx.curl(body=json.dumps({"prompt": "x" * (MAX_BODY - 100)}).encode(), content_type=J)
    is_(r.status, 200, "a body just under max_body is accepted")
    st, hs, body, _ = cs.request(fcgi_params("POST", "", J, content_length=10 ** 12),
                                 b'{"prompt":"x"}')
    prob = error_problem(st, hs, body, 413, "payload_too_large")
    ok(prob is None, "FastCGI CONTENT_LENGTH=10^12 -> 413 without reading a body")
    if prob:
        diag(prob)
    # --- 415 -----------------------------------------------------------------
    expect("application/xml", 415, "unsupported_media_type", body=b"<p>x</p>",
           ctype="application/xml")
    expect("text/html", 415, "unsupported_media_type", body=b"<p>x</p>", ctype="text/html")
    expect("multipart/form-data", 415, "unsupported_media_type",
           body=b"--b\r\n\r\nx\r\n--b--\r\n", ctype="multipart/form-data; boundary=b")
    line = cs.wait_log(r" status=415 .*outcome=rejected")
    ok(line is not None, "a rejected request is logged with status=415 outcome=rejected")
    # A media type with an empty parameter: streamed (200) or refused (415), never a crash.
    for ct in ("application/json;", "text/plain; "):
        r = fx.curl(body=b'{"prompt":"x"}', content_type=ct)
        ok(r.status in (200, 415) and cs.alive(),
           "Content-Type %r is answered 200 or 415 and chatstream survives (got %s, %s)"
           % (ct, r.status, "alive" if cs.alive() else "chatstream died"))
        if not cs.alive():
            for ln in crash_summary(cs.log_lines()):
                diag("    " + ln)
            cs.restart()
            pid0 = cs.pid
            diag("restarted chatstream (pid %s) to go on" % pid0)
            time.sleep(1.2)    # lighttpd keeps a dead backend disabled for a second

    # --- 2,000 hostile requests ----------------------------------------------
    hostile(fx, cs)

    ok(cs.alive() and cs.pid == pid0, "chatstream is alive with the same pid (%s)" % pid0)
    r = fx.chat({"prompt": "still here after the storm"})
    check_stream(r, demo_text("still here after the storm"), "stop", label="after hostile input")


def garbage_body(rng):
    k = rng.randrange(16)
    if k == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(300)))
    if k == 1:
        s = json.dumps({"prompt": "hello " * rng.randrange(1, 20), "model": "demo"})
        return s[:rng.randrange(len(s))].encode()
    if k == 2:
        n = rng.choice([MAX_DEPTH - 2, MAX_DEPTH, MAX_DEPTH + 1, 200, 1500])
        o, c = rng.choice([("[", "]"), ('{"a":', "}")])
        return ('{"prompt":"x","z":' + o * n + "1" + c * n + "}").encode()
    if k == 3:
        return rng.choice([b'{"prompt":1e999}', b'{"prompt":"x","max_tokens":-1}',
                           b'{"prompt":"x","max_tokens":99999999999999999999999}',
                           b'{"prompt":"x","max_tokens":1.5}', b'{"prompt":"x","temperature":-1e308}',
                           b'{"prompt":["x"]}', b'{"prompt":{"a":1}}', b'{"messages":[1,2]}',
                           b'{"messages":[{"role":"robot","content":"x"}]}',
                           b'{"messages":[{"content":"x"}]}', b'{"messages":[{"role":"user"}]}',
                           b'{"messages":[{"role":"assistant","content":"x"}]}',
                           b'{"prompt":"x","prompt":"y"}', b"null", b"true", b"0", b'""'])
    if k == 4:
        return rng.choice([b'{"prompt":"\xc0\x80"}', b'{"prompt":"\xed\xa0\x80"}',
                           b'{"prompt":"\xf4\x90\x80\x80"}', b'{"prompt":"\xe6\x97"}',
                           b'{"prompt":"\\ud800"}', b'{"prompt":"\\udc00\\ud800"}',
                           b'{"prompt":"\\u0000"}', b'{"prompt":"\\uZZZZ"}', b'{"prompt":"\\'])
    if k == 5:
        return b"x" * rng.choice([MAX_BODY, MAX_BODY + 1, MAX_BODY * 3])
    if k == 6:
        return rng.choice([b"prompt=%", b"prompt=%zz", b"prompt=%00x", b"&&&=&=",
                           b"prompt=a&prompt=b", b"model=demo", b"prompt=x&model=",
                           b"prompt=x&max_tokens=abc", b"prompt=" + b"%41" * 500,
                           b"=x", b"prompt"])
    if k == 7:
        return ("\u202e\u0000\r\n\r" * rng.randrange(1, 50)).encode()
    if k in (8, 9, 10):
        p = rng.choice(["hi", "a\nb", "\r\r\n", "data: x\n\n", "🎉" * 30, "x" * 2000])
        return json.dumps({"prompt": p, "max_tokens": rng.choice([1, 3, 500])}).encode()
    if k == 11:
        return b""
    if k == 12:
        return json.dumps({"prompt": "x", "model": "demo" + "\u0000" * rng.randrange(3)}).encode()
    if k == 13:
        return b'{"prompt":"x",' + b'"k":1,' * rng.randrange(1, 400) + b'"e":0}'
    if k == 14:
        return b'{"prompt":"' + b"\\n" * rng.randrange(1, 1500) + b'"}'
    return b"\xef\xbb\xbf" + b'{"prompt":"bom"}'


CTYPES = ["application/json", "application/json; charset=utf-8", "text/plain",
          "text/plain; charset=latin1", "application/x-www-form-urlencoded",
          "APPLICATION/JSON", "application/json;;;", "application/jsonx", "json",
          "application/xml", "multipart/form-data; boundary=x", "", None, "*/*",
          "application/json; charset=utf-8; charset=ascii", "text/plain" + " " * 200]
PATHS = ["", "", "", "health", "nope", "a/b/c", "health/", "?x=1", "health?x=%01",
         "x" * 300, "%F0%9F%8E%89", "//", "./health"]
METHODS = ["POST"] * 8 + ["GET", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]


def hostile(fx, cs, total=2000, direct_every=10, time_limit=60.0):
    seed = int(os.environ.get("HOSTILE_SEED", "20251121"))
    rng = random.Random(seed)
    diag("hostile loop: seed %d (set HOSTILE_SEED to change)" % seed)
    problems = []
    counts = {}
    lighttpd_html = 0
    deaths = 0
    crash_sites = {}      # crash site -> [count, first request #, request, report]
    start = time.monotonic()
    n = 0
    for n in range(1, total + 1):
        if time.monotonic() - start > time_limit:
            n -= 1
            break
        method = rng.choice(METHODS)
        path = rng.choice(PATHS)
        ctype = rng.choice(CTYPES)
        body = garbage_body(rng) if method not in ("GET", "HEAD") or rng.random() < 0.2 else None
        try:
            if n % direct_every == 0:
                st, hs, rb = hostile_direct(cs, rng, method, path, ctype, body)
            else:
                hdrs = []
                if ctype is not None:
                    hdrs.append("Content-Type: " + ctype)
                if rng.random() < 0.1:
                    hdrs.append("X-Junk: " + "j" * rng.randrange(1, 4000))
                st, hs, rb = http_request(fx.lighttpd.port, method, "/chat/" + path, hdrs,
                                          body, timeout=10)
        except (OSError, fcgi.FcgiError) as e:
            problems.append("#%d %s /%s ctype=%r body=%r: %s: %s" % (
                n, method, path[:40], ctype, (body or b"")[:60], type(e).__name__, e))
            st = None
        if not cs.alive():
            deaths += 1
            what = "%s /%s ctype=%r body=%r%s" % (method, path[:40], ctype, (body or b"")[:60],
                                                 " via FastCGI" if n % direct_every == 0 else "")
            summary = crash_summary(cs.log_lines())
            site = next((ln for ln in summary if " src/" in ln), summary[0] if summary else "?")
            site = re.sub(r"^#\d+ 0x[0-9a-f]+ (in )?", "", site)
            if site not in crash_sites:
                crash_sites[site] = [0, n, what, summary]
            crash_sites[site][0] += 1
            if deaths >= 10:
                break
            ready, info = cs.restart()     # go on, to find what else breaks it
            if not ready:
                problems.append("restart failed: %s" % info)
                break
            # lighttpd disables a dead backend for a while: wait until it is back
            for _ in range(100):
                try:
                    if http_request(fx.lighttpd.port, "GET", "/chat/health", timeout=2)[0] == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.1)
            continue
        if st is None:
            continue
        counts[st] = counts.get(st, 0) + 1
        prob = judge(st, hs, rb, method, path)
        if prob == "lighttpd":
            lighttpd_html += 1
        elif prob:
            problems.append("#%d %s /%s ctype=%r body=%r: %s"
                            % (n, method, path[:40], ctype, (body or b"")[:60], prob))
    elapsed = time.monotonic() - start
    diag("hostile loop: %d requests in %.1f s; statuses %s; %d answered by lighttpd itself"
         % (n, elapsed, dict(sorted(counts.items())), lighttpd_html))
    ok(n == total, "all %d hostile requests were made within %.0f s (made %d)"
       % (total, time_limit, n))
    ok(deaths == 0, "chatstream never died during the hostile loop (%d deaths)" % deaths)
    for site, (count, first, what, summary) in crash_sites.items():
        diag("crashed %d time(s) in %s; first at request #%d: %s" % (count, site, first, what))
        for ln in summary:
            diag("    " + ln)
    ok(not problems, "every other hostile request got a well-formed answer (%d problems)"
       % len(problems))
    for p in problems[:60]:
        diag(p)


def hostile_direct(cs, rng, method, path, ctype, body):
    """Straight to chatstream: odd but protocol-valid FastCGI (odd params)."""
    body = body or b""
    cl = rng.choice([str(len(body))] * 4 + ["", "-1", "abc", " 5", "5 ", "0x10", "1e3",
                                             "18446744073709551616", "99999999999999999999",
                                             str(len(body) + 50), str(max(0, len(body) - 3)),
                                             None])
    params = fcgi_params(method, path.split("?")[0], ctype, content_length=0,
                         query=path.split("?")[1] if "?" in path else "")
    params = [(k, v) for k, v in params if k != "CONTENT_LENGTH"]
    if cl is not None:
        params.append(("CONTENT_LENGTH", cl))
    r = rng.random()
    if r < 0.1:
        params = [(k, v) for k, v in params if k != "REQUEST_METHOD"]
    elif r < 0.2:
        params = [(k, v) for k, v in params if k not in ("SCRIPT_NAME", "PATH_INFO", "REQUEST_URI")]
    elif r < 0.3:
        params.append(("HTTP_" + "X" * rng.randrange(100, 3000), "v" * rng.randrange(0, 3000)))
    st, hs, rb, _ = cs.request(params, body, timeout=10,
                               stdin_chunk=rng.choice([1, 7, 4096, 65535]))
    return st, hs, rb


def judge(st, hs, rb, method, path):
    """None when the answer is acceptable, 'lighttpd' for lighttpd's own
    4xx pages, else a description."""
    ct = next((v for k, v in hs if k.lower() == "content-type"), "")
    if st == 200:
        if method == "HEAD":
            return None
        if ct.lower().startswith("text/event-stream"):
            p = parse_all(rb)
            types = [e.type for e in p.events]
            if not types or types[0] != "meta" or types[-1] not in ("done", "error"):
                return "200 stream with events %r" % types[:5] + "..." + repr(types[-3:])
            if types[-1] == "error":
                return "200 stream ended in an error event: %r" % p.events[-1].data[:200]
            sid = next((v for k, v in hs if k.lower() == "x-stream-id"), "")
            ids = [e.last_event_id for e in p.events]
            if ids != ["%s.%d" % (sid, i) for i in range(1, len(ids) + 1)]:
                return "200 stream ids not consecutive"
            return None
        if ct.lower().startswith("application/json"):
            try:
                j = json.loads(rb.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                return "200 JSON body not JSON: %r" % rb[:100]
            return None if isinstance(j, dict) and j.get("status") == "ok" else \
                "200 JSON body unexpected: %r" % rb[:100]
        return "200 with Content-Type %r" % ct
    if st in TYPE_FOR:
        if method == "HEAD":
            return None
        if ct.lower().startswith("text/html") and st in (400, 411, 413):
            return "lighttpd"
        return error_problem(st, hs, rb)
    return "unexpected status %s (body %r)" % (st, rb[:200])


run(main)
