#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_hostile.py: request bytes a front server may pass on untouched, sent
straight over FastCGI (tests/lib/fcgi.py) so the test controls every param:

- the 202's Location (and the meta event's resume URL) is built of the mount
  and the stream id only: a 600-byte path, "//evil.example/../chat/" and CR/LF
  in REQUEST_URI give a local URL under the mount, or a clean 400, and never
  put request bytes into a header;
- the log stays one valid line per request (text, JSON, debug) whatever the
  path, method or client holds: control bytes, newlines forging a `stream:`
  line, quotes, invalid UTF-8, 1,000 escaped bytes;
- numbers are digits only (Last-Event-ID, ?last_event_id=, Content-Length);
- a charset is an exact token; every status has its own reason phrase;
- a request refused with 502 before its stream began leaves no journal and
  counts no events;
- a body of max_body bytes holding ~30,000 messages is taken, one byte more
  is 413.

Limits: loopback only; one chatstream per log format, one fake upstream
(tests/lib/fake_upstream.py) for the 429/502/504 answers."""

import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import fcgi  # noqa: E402
from fake_upstream import FakeUpstream  # noqa: E402
from harness import (Fixture, config, diag, fcgi_params, is_, ok, require_tools,  # noqa: E402
                     run, wait_text)
from sse import parse_all  # noqa: E402

REASONS = {200: "OK", 202: "Accepted", 204: "No Content", 400: "Bad Request",
           404: "Not Found", 405: "Method Not Allowed", 411: "Length Required",
           413: "Content Too Large", 415: "Unsupported Media Type",
           429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}
SEEN = {}          # status -> reason phrases seen, for the reason check at the end
MAX_BODY = 1048576


def params(method, path_info, request_uri, script_name="/chat", ctype=None, clen=None,
           extra=()):
    """lighttpd's params for a mount at script_name, with REQUEST_URI and
    PATH_INFO as given (str or bytes, sent as they are)."""
    p = [(k, v) for k, v in fcgi_params(method, "", ctype, clen)
         if k not in ("REQUEST_URI", "PATH_INFO", "SCRIPT_NAME")]
    p += [("REQUEST_URI", request_uri), ("PATH_INFO", path_info),
          ("SCRIPT_NAME", script_name)]
    return p + list(extra)


def send(cs, p, body=b""):
    """(status, headers, body, raw head) or (None, [], b"", raw) when the
    answer is no CGI response at all."""
    with fcgi.FcgiClient(cs.sock, timeout=15) as c:
        c.begin()
        c.params(p)
        c.stdin(body)
        out = c.read_all()
    head = out.split(b"\r\n\r\n", 1)[0]
    try:
        st, hs, rb = fcgi.parse_cgi_response(out)
    except fcgi.FcgiError:
        return None, [], b"", head
    for k, v in hs:
        if k.lower() == "status":
            SEEN.setdefault(st, set()).add(v.split(" ", 1)[1] if " " in v else "")
    return st, hs, rb, head


def header(hs, name):
    return next((v for k, v in hs if k.lower() == name.lower()), None)


def post(cs, request_uri, path_info="/", script_name="/chat", prompt="hi", accept=None,
         model=None, extra=()):
    b = {"prompt": prompt}
    if model:
        b["model"] = model
    body = json.dumps(b).encode()
    ex = list(extra)
    if accept:
        ex.append(("HTTP_ACCEPT", accept))
    return send(cs, params("POST", path_info, request_uri, script_name, "application/json",
                           len(body), ex), body)


def meta_of(rb):
    evs = parse_all(rb).events
    m = next((e for e in evs if e.type == "meta"), None)
    try:
        return json.loads(m.data) if m else None, evs
    except ValueError:
        return None, evs


def json_body(rb):
    try:
        return json.loads(rb.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def error_type(rb):
    j = json_body(rb)
    e = j.get("error") if isinstance(j, dict) else None
    return e.get("type") if isinstance(e, dict) else None


def resume(cs, url, lei=None, query="", mount="/chat"):
    """GET url (a local path under mount) straight over FastCGI."""
    ex = [("HTTP_LAST_EVENT_ID", lei)] if lei is not None else []
    pi = url[len(mount):] if url.startswith(mount + "/") else url
    p = params("GET", pi, url + ("?" + query if query else ""), mount, extra=ex)
    p = [(k, query if k == "QUERY_STRING" else v) for k, v in p]
    return send(cs, p)


def test_location(cs):
    # --- a 600-byte path ------------------------------------------------------
    mount = "/" + "a" * 600 + "/chat"
    st, hs, rb, head = post(cs, mount + "/", script_name=mount, accept="application/json")
    loc = header(hs, "Location")
    j = json_body(rb) or {}
    ok(st == 202 or (st is not None and 400 <= st < 500),
       "600-byte path: a proper 202 or a clean 4xx (got %r, head %r)" % (st, head[:80]))
    if st == 202:
        sid = j.get("id", "")
        is_(loc, mount + "/streams/" + sid, "600-byte path: Location is mount/streams/<id>")
        is_(j.get("url"), loc, "600-byte path: body url is the Location")
        st2, _, rb2, _ = resume(cs, mount + "/streams/" + sid, mount=mount) if sid else (None, [], b"", b"")
        evs = parse_all(rb2).events
        ok(st2 == 200 and [e.type for e in evs][-1:] == ["done"],
           "600-byte path: GET Location streams the answer to done (%r)" % st2)
    else:
        ok(False, "600-byte path: Location is mount/streams/<id> (no 202)")
        ok(False, "600-byte path: body url is the Location (no 202)")
        ok(False, "600-byte path: GET Location streams the answer to done (no 202)")

    # --- //evil.example/../chat/ ------------------------------------------------
    st, hs, rb, head = post(cs, "//evil.example/../chat/", accept="application/json")
    loc = header(hs, "Location") or ""
    is_(st, 202, "//evil.example/../chat/: 202")
    ok(re.fullmatch(r"/chat/streams/[A-Za-z0-9_-]{16,64}", loc) is not None,
       "//evil.example/../chat/: Location %r is a local path under /chat" % loc)
    is_((json_body(rb) or {}).get("url"), loc, "//evil.example/../chat/: body url = Location")
    st, hs, rb, _ = post(cs, "//evil.example/../chat/")
    m, _ = meta_of(rb)
    r = (m or {}).get("resume", "")
    ok(st == 200 and re.fullmatch(r"/chat/streams/[A-Za-z0-9_-]{16,64}", r or "") is not None,
       "//evil.example/../chat/, direct: meta.resume %r is under /chat" % r)

    # --- CR/LF in REQUEST_URI -------------------------------------------------
    for label, uri in (("CRLF", b"/chat/x\r\nSet-Cookie: evil=1\r\nX-Injected: 1/"),
                       ("bare LF", b"/chat/x\nX-Injected: 1/"),
                       ("bare CR", b"/chat/x\rX-Injected: 1/")):
        st, hs, rb, head = post(cs, uri, accept="application/json")
        names = [k.lower() for k, _ in hs]
        ok(st in (202, 400) and b"X-Injected" not in head and b"evil=1" not in head
           and "set-cookie" not in names and "x-injected" not in names,
           "%s in REQUEST_URI: never in a header (status %r, head %r)" % (label, st, head[:200]))
        loc = header(hs, "Location")
        ok(loc is None or re.fullmatch(r"/chat/streams/[A-Za-z0-9_-]{16,64}", loc),
           "%s in REQUEST_URI: Location %r is a plain local path" % (label, loc))
        st, hs, rb, head = post(cs, uri)
        m, _ = meta_of(rb)
        r = (m or {}).get("resume")
        ok(st == 200 and b"X-Injected" not in head and (r is None or ("\n" not in r and "\r" not in r
                                                               and "Injected" not in r)),
           "%s in REQUEST_URI, direct: no request bytes in the head or meta.resume (%r)"
           % (label, r))

    # --- nothing canonical at all: 202 is refused, a direct stream has no URL ---
    st, hs, rb, _ = post(cs, "//evil.example/../chat/", script_name="//evil.example",
                         accept="application/json")
    ok(st == 400 and error_type(rb) == "invalid_request" and header(hs, "Location") is None,
       "no canonical mount: 202 refused with a JSON 400 (%r %r)" % (st, rb[:120]))
    st, hs, rb, _ = post(cs, "//evil.example/../chat/", script_name="//evil.example")
    m, evs = meta_of(rb)
    ok(st == 200 and m is not None and "resume" not in m and evs[-1].type == "done",
       "no canonical mount, direct: the answer streams, with no resume URL")


def hostile_requests(cs):
    """Requests whose logged fields hold what breaks a log; returns their count."""
    forged = "\n2001-01-01T00:00:00.000Z chatstream[1] stream: id=FORGED client=6.6.6.6 " \
             "method=GET path=/ model=- backend=- status=200 ttft_ms=-1 events=0 bytes=0 " \
             "duration_ms=0 outcome=done\n"
    ctl = "".join(chr(c) for c in range(1, 32)) + "\x7f"
    paths = [
        "/" + forged,
        "/x" + ctl + "\"q\" \\ \\x0a",
        "/\u00e9\u65e5\U0001F389",                  # valid UTF-8 stays
        b"/bad\xff\xfe\xc3(\xed\xa0\x80\xf8\x88\x80\x80\x80",  # invalid UTF-8
        "/" + ctl * 32,                              # ~1,000 escaped bytes
        "/" + "\"" * 400,
        "/" + "\\" * 400,
        "/" + "\xe9" * 300,
    ]
    n = 0
    for p in paths:
        pb = p.encode() if isinstance(p, str) else p
        st, _, _, _ = send(cs, params("GET", pb, b"/chat" + pb))
        ok(st == 404, "hostile path %r: 404" % pb[:40])
        n += 1
    # a method, a client address and a stream id of the same kind
    for k, v in (("REQUEST_METHOD", "GE\nT" + forged), ("REMOTE_ADDR", "1.2.3.4" + forged),
                 ("REQUEST_METHOD", b"\xff\"x y\"")):
        p = [(a, v if a == k else b) for a, b in params("GET", "/health", "/chat/health")]
        st, _, _, _ = send(cs, p)
        ok(st in (200, 405), "hostile %s %r: answered (%r)" % (k, v[:20], st))
        n += 1
    st, _, _, _ = send(cs, params("GET", "/streams/" + forged, "/chat/streams/x"))
    ok(st in (400, 404), "hostile stream id: refused (%r)" % st)
    n += 1
    return n


def stream_lines_text(lines):
    return [ln for ln in lines if re.match(r"\S+ \S+\[\d+\] stream: ", ln)]


def test_log(cs, fmt, nreq):
    rx = r'"stream"' if fmt == "json" else r" stream: "

    def enough():
        t = cs.log_text()
        return len(re.findall(rx, t)) >= nreq or None

    wait_text(lambda: "x" if enough() else "", "x", timeout=10)
    raw = open(cs.log, "rb").read()
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    bad_utf8 = [ln for ln in lines if not _utf8(ln)]
    ok(not bad_utf8, "%s log: every line is valid UTF-8 (%d are not)" % (fmt, len(bad_utf8)))
    for ln in bad_utf8[:3]:
        diag("not UTF-8: %r" % ln[:200])
    text = [ln.decode("utf-8", "replace") for ln in lines]
    ok(all(len(ln) <= 2048 for ln in lines), "%s log: no line over 2,048 bytes" % fmt)
    ok(not any("FORGED" in ln and ln.startswith("2001-") for ln in text),
       "%s log: no forged line" % fmt)
    if fmt == "json":
        objs, bad = [], []
        for ln in text:
            try:
                objs.append(json.loads(ln))
            except ValueError:
                bad.append(ln)
        ok(not bad, "json log: every line parses with json.loads (%d do not)" % len(bad))
        for ln in bad[:3]:
            diag("bad line (%d bytes): %r" % (len(ln), ln[:300]))
        streams = [o for o in objs if isinstance(o, dict) and "stream" in o]
        ok(all(isinstance(o.get("status"), int) and o.get("status") > 0 and o.get("outcome")
               for o in streams),
           "json log: every stream line has its status and outcome")
        ok(not any(o.get("stream") == "FORGED" for o in streams),
           "json log: no stream line with a forged id")
        ok(all(isinstance(o, dict) and "level" in o and "time" in o for o in objs),
           "json log: every line is one of ours (time, level)")
        hostile = [o for o in streams if o.get("status") == 404]
        ok(len(hostile) >= 9, "json log: the hostile requests' lines are there (%d)" % len(hostile))
    else:
        foreign = [ln for ln in text if not re.match(r"\d{4}-\d\d-\d\dT\S+Z \S+\[\d+\] "
                                                     r"(stream|info|warn|debug|fatal): ", ln)]
        ok(not foreign, "text log: every line starts as ours (%d do not)" % len(foreign))
        for ln in foreign[:3]:
            diag("foreign line: %r" % ln[:200])
        sl = stream_lines_text(text)
        shape = re.compile(r"\S+ \S+\[\d+\] stream: id=\S+ client=\S+ method=\S+ path=\S+ "
                           r"model=\S+ backend=\S+ status=\d+ ttft_ms=-?\d+ events=\d+ "
                           r"bytes=\d+ duration_ms=\d+ outcome=\S+( detail=\S+)?$")
        badl = [ln for ln in sl if not shape.match(ln)]
        ok(not badl, "text log: every stream line is key=value words, status and outcome kept")
        for ln in badl[:3]:
            diag("bad stream line: %r" % ln[:300])
        ids = [re.match(r"\S+ \S+\[\d+\] stream: id=(\S+)", ln).group(1) for ln in sl]
        ok("FORGED" not in ids, "text log: no stream line with a forged id")
        dbg = [ln for ln in text if " debug: request: " in ln]
        shape = re.compile(r".* debug: request: method=\S+ path_info=\S+ script_name=\S+ "
                           r"request_uri=\S+$")
        ok(dbg and all(shape.match(ln) for ln in dbg),
           "text log: every debug request line keeps its four words")


def _utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def test_numbers(cs):
    st, hs, rb, _ = post(cs, "/chat/")
    m, evs = meta_of(rb)
    sid = (m or {}).get("id", "")
    last = int((evs[-1].last_event_id or "0").rsplit(".", 1)[-1]) if evs else 0
    ok(st == 200 and sid and last >= 3, "a finished stream to resume (%d events)" % last)
    url = "/chat/streams/" + sid
    st, _, rb, _ = resume(cs, url, lei="2")
    evs = parse_all(rb).events
    ok(st == 200 and evs and evs[0].last_event_id == sid + ".3",
       "Last-Event-ID 2: replay from event 3 (id <stream>.3)")
    for v in (" 5", "+2", " -1", "-1", "5 ", "0x1", "1e1", "\t3", "99999999999999999999", "3,4"):
        st, hs, rb, _ = resume(cs, url, lei=v)
        ok(st == 400 and error_type(rb) == "invalid_request",
           "Last-Event-ID %r: 400 invalid_request (got %r)" % (v, st))
        st, hs, rb, _ = resume(cs, url, query="last_event_id=" + v.replace(" ", "%20")
                               .replace("\t", "%09").replace("+", "+"))
        ok(st == 400 and error_type(rb) == "invalid_request",
           "?last_event_id=%r: 400 invalid_request (got %r)" % (v, st))
    st, _, rb, _ = resume(cs, url, query="x=1&last_event_id=2&y=2")
    evs = parse_all(rb).events
    ok(st == 200 and evs and evs[0].last_event_id == sid + ".3",
       "?x=1&last_event_id=2&y=2: replay from event 3")
    st, _, _, _ = resume(cs, url, lei=str(last))
    is_(st, 204, "Last-Event-ID of the last event of a finished stream: 204")

    body = json.dumps({"prompt": "hi"}).encode()
    for v in (" %d" % len(body), "+%d" % len(body), "%d " % len(body), "0x%x" % len(body)):
        st, _, rb, _ = send(cs, params("POST", "/", "/chat/", ctype="application/json",
                                       clen=v), body)
        ok(st == 400 and error_type(rb) == "invalid_request",
           "Content-Length %r: 400 (got %r)" % (v, st))
    for ct in ("application/json; charset=utf-8x", "application/json; charset=\"utf-8x\"",
               "application/json; charset=utf-80"):
        st, _, rb, _ = send(cs, params("POST", "/", "/chat/", ctype=ct, clen=len(body)), body)
        ok(st == 415 and error_type(rb) == "unsupported_media_type",
           "Content-Type %r: 415 (got %r)" % (ct, st))
    st, _, _, _ = send(cs, params("POST", "/", "/chat/", ctype="application/json; charset=\"UTF-8\"",
                                  clen=len(body)), body)
    is_(st, 200, "Content-Type with charset=\"UTF-8\": 200")


def test_statuses(cs):
    """Makes chatstream send each status it can be made to send here."""
    body = json.dumps({"prompt": "hi"}).encode()
    send(cs, params("GET", "/nope", "/chat/nope"))                                   # 404
    send(cs, params("PUT", "/", "/chat/", ctype="application/json", clen=2), b"{}")  # 405
    send(cs, params("POST", "/", "/chat/", ctype="application/json"), b"")           # 411
    send(cs, params("POST", "/", "/chat/", ctype="application/json",
                    clen=MAX_BODY + 1), b"")                                         # 413
    send(cs, params("POST", "/", "/chat/", ctype="text/html", clen=len(body)), body)  # 415
    send(cs, params("POST", "/", "/chat/", ctype="application/json", clen=2), b"{}")  # 400
    for model in ("up502", "up504", "up429"):
        post(cs, "/chat/", model=model)
    want = {200, 202, 204, 400, 404, 405, 411, 413, 415, 429, 502, 504}
    ok(want <= set(SEEN), "statuses sent here: %s (missing %s)"
       % (sorted(SEEN), sorted(want - set(SEEN))))
    for st in sorted(SEEN):
        is_(sorted(SEEN[st]), [REASONS.get(st, "?")], "status %d has its reason phrase" % st)


def test_502_journal(cs, spool):
    before = set(os.listdir(spool)) if os.path.isdir(spool) else set()
    n0 = len(cs.stream_lines())
    st, hs, rb, _ = post(cs, "/chat/", model="up502")
    is_(st, 502, "upstream 500: 502 before the stream began")
    ok(header(hs, "X-Stream-Id") is None, "502: no stream id given out")
    wait_text(lambda: "x" if len(cs.stream_lines()) > n0 else "", "x", timeout=10)
    ln = (cs.stream_lines()[n0:] or [""])[-1]
    ok("status=502" in ln and " events=0 " in ln,
       "502: logged with events=0 (%s)" % ln[ln.find("status="):][:80])
    after = set(os.listdir(spool)) if os.path.isdir(spool) else set()
    is_(sorted(after - before), [], "502: no journal left in the spool")
    # after a 202 the same failure is the readers' error event, not a "cancelled" done
    st, hs, rb, _ = post(cs, "/chat/", model="up502", accept="application/json")
    url = (json_body(rb) or {}).get("url") or ""
    st2, _, rb2, _ = resume(cs, url) if st == 202 else (None, [], b"", b"")
    evs = parse_all(rb2).events
    err = json.loads(evs[-1].data).get("error", {}) if evs and evs[-1].type == "error" else {}
    ok(st == 202 and st2 == 200 and [e.type for e in evs] == ["meta", "error"]
       and err.get("type") == "upstream_error",
       "upstream 500 after a 202: GET gets meta, then error upstream_error (%r)"
       % [e.type for e in evs])
    # a stream that did begin is journaled as before
    st, hs, rb, _ = post(cs, "/chat/")
    sid = header(hs, "X-Stream-Id") or ""
    st2, _, rb2, _ = resume(cs, "/chat/streams/" + sid)
    ok(st == 200 and st2 == 200 and parse_all(rb2).events[-1:][0].type == "done",
       "a stream that began is journaled and resumable")


def test_many_messages(cs):
    one = {"role": "user", "content": "w"}
    unit = len(json.dumps(one, separators=(",", ":"))) + 1
    head = '{"messages":['
    n = (MAX_BODY - len(head) - 2) // unit
    body = (head + ",".join([json.dumps(one, separators=(",", ":"))] * n) + "]}").encode()
    body += b" " * (MAX_BODY - len(body))
    is_(len(body), MAX_BODY, "a body of exactly max_body bytes")
    st, hs, rb, _ = send(cs, params("POST", "/", "/chat/", ctype="application/json",
                                    clen=len(body)), body)
    evs = parse_all(rb).events
    done = next((e for e in evs if e.type == "done"), None)
    usage = (json.loads(done.data).get("usage") or {}) if done else {}
    ok(st == 200 and usage.get("prompt_tokens") == n,
       "%d messages in max_body bytes: streamed, all %d counted (%r)"
       % (n, n, usage.get("prompt_tokens")))
    body += b" "
    st, _, rb, _ = send(cs, params("POST", "/", "/chat/", ctype="application/json",
                                   clen=len(body)), body)
    ok(st == 413 and error_type(rb) == "payload_too_large",
       "one byte over max_body: 413 payload_too_large (%r)" % st)


def main():
    require_tools()
    fx = Fixture("hostile")
    up = FakeUpstream()
    fx.on_close(up.close)
    models = {
        "up502": {"backend": "openai", "base_url": up.base_url, "model": "status500"},
        "up504": {"backend": "openai", "base_url": up.base_url, "model": "stall_headers",
                  "idle_timeout": 1},
        "up429": {"backend": "openai", "base_url": up.base_url, "model": "status429"},
    }
    spool_t = fx.path("spool-t")
    T = fx.start_chatstream(config({"debug": True, "spool_dir": spool_t,
                                    "max_body": MAX_BODY}, models), name="text")
    J = fx.start_chatstream(config({"debug": True, "log_format": "json",
                                    "spool_dir": fx.path("spool-j")}), name="json")

    test_location(T)
    test_numbers(T)
    test_statuses(T)
    test_502_journal(T, spool_t)
    test_many_messages(T)
    n0 = len(stream_lines_text(T.log_lines()))
    nt = hostile_requests(T)
    test_log(T, "text", n0 + nt)
    nj = hostile_requests(J)
    test_log(J, "json", nj + 1)
    ok(T.alive() and J.alive(), "both chatstreams still run")


if __name__ == "__main__":
    run(main)
