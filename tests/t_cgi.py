#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_cgi.py: chatstream as a plain CGI program (one request per process, no FastCGI),
run by real lighttpd's mod_cgi with the configuration named in CHATSTREAM_CONF:
streams arrive incrementally and exact, errors keep their status and JSON body,
/health answers, a client that leaves ends the process through its teardown (logged),
and, with no process living long enough to sweep on a timer, requests sweep the
spool now and then (journal_ttl = 1 here): an ended stream's journal goes, then the
note of its loss."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402
from harness import (CHATSTREAM, LIGHTTPD, CurlStream, Fixture, _popen, check_stream,  # noqa: E402
                     config, demo_text, diag, free_port, http_request, is_, like, ok,
                     require_tools, run)


def start_lighttpd_cgi(fx, conf_path, log_path):
    q = json.dumps
    for _ in range(3):
        port = free_port()
        text = "\n".join([
            'server.modules += ( "mod_alias", "mod_cgi", "mod_setenv" )',
            'server.bind = "127.0.0.1"',
            "server.port = %d" % port,
            "server.document-root = %s" % q(fx.path("www")),
            "server.stream-response-body = 2",
            'alias.url = ( "/cgi/chat" => %s )' % q(CHATSTREAM),
            '$HTTP["url"] =~ "^/cgi/chat" { cgi.assign = ( "" => "" ) }',
            'setenv.add-environment = ( "CHATSTREAM_CONF" => %s )' % q(conf_path),
            "",
        ])
        with open(fx.path("lighttpd-cgi.conf"), "w") as f:
            f.write(text)
        os.makedirs(fx.path("www"), exist_ok=True)
        with open(log_path, "ab") as logf:
            proc = _popen([LIGHTTPD, "-D", "-f", fx.path("lighttpd-cgi.conf")], cwd=fx.tmp,
                          stdout=logf, stderr=logf)
        fx._procs.append(proc)
        for _ in range(100):
            if proc.poll() is not None:
                break
            try:
                st, _, _ = http_request(port, "GET", "/cgi/chat/health", timeout=2)
                if st:
                    return port
            except OSError:
                time.sleep(0.05)
    return None


class CgiFixture(Fixture):
    port = None

    def url(self, path=""):
        return "http://127.0.0.1:%d/cgi/chat/%s" % (self.port, path)


def main():
    require_tools()
    fx = CgiFixture("cgi")
    # mod_cgi passes no environment of its own (no STATE_DIRECTORY): a spool here
    spool = fx.path("spool")
    conf = fx.write_config(config({"spool_dir": spool, "journal_ttl": 1}, {
        "paced": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 20},
        "slow": {"backend": "demo", "tokens_per_second": 2}}))
    # lighttpd -D passes a CGI program's stderr through to its own
    errlog = fx.path("lighttpd-error.log")
    fx.port = start_lighttpd_cgi(fx, conf, errlog)
    if fx.port is None:
        harness.bail("lighttpd with mod_cgi did not start")

    h = fx.curl("health")
    is_(h.status, 200, "CGI: /health answers")
    is_((h.json() or {}).get("status"), "ok", "CGI: /health says ok")

    P = "over cgi"
    r = fx.chat({"prompt": P, "model": "paced"})
    sv = check_stream(r, demo_text(P), "stop", model="paced", label="CGI")
    sid = (sv.meta or {}).get("id", "none")
    journal = os.path.join(spool, sid)
    ok(os.path.isfile(journal), "CGI: the stream's journal is in the spool")
    times = [e.time for e in sv.token_events]
    if len(times) >= 3:
        diag("first to last token: %.2f s" % (times[-1] - times[0]))
    ok(len(times) >= 3 and times[0] < times[len(times) // 2] < times[-1],
       "CGI: tokens arrive spread over the generation, not in one burst: the first, the "
       "middle and the last came in three reads, in that order")

    r = fx.curl("", body=b'{"prompt": ', content_type="application/json")
    is_(r.status, 400, "CGI: malformed JSON gets 400")
    is_((r.json() or {}).get("error", {}).get("type"), "invalid_json", "CGI: JSON error body")
    r = fx.curl("", method="GET")
    is_(r.status, 405, "CGI: GET / gets 405")
    is_(r.header("Allow"), "POST", "CGI: with Allow: POST")

    st = fx.curl_start(body=json.dumps({"prompt": "x", "model": "slow"}),
                       content_type="application/json")
    ok(st.read_until(lambda res: len(res.stream().texts) >= 1, 10), "CGI: slow stream started")
    st.kill()
    found = None
    end = time.monotonic() + 10
    for _ in range(200):
        with open(errlog, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        found = [ln for ln in log.splitlines() if "model=slow" in ln and
                 ("outcome=client_gone" in ln or "outcome=shutdown" in ln)]
        if found or time.monotonic() > end:
            break
        time.sleep(0.05)
    # lighttpd sends its CGI child SIGTERM when the client leaves; chatstream
    # takes that as the end of the stream and still runs its teardown
    ok(bool(found), "CGI: the process noticed the client leaving and logged it")
    if found:
        diag(found[0])

    # the spool is swept by requests, now and then (every journal_ttl, 1 s here)

    def requests_until(cond):
        end = time.monotonic() + 15
        for _ in range(100):
            fx.curl("health")
            if cond() or time.monotonic() > end:
                break
            time.sleep(0.3)
        return cond()

    ok(requests_until(lambda: not os.path.exists(journal) and os.path.isfile(journal + ".expired")),
       "CGI: later requests sweep: the ended stream's journal is dropped after journal_ttl")
    r = fx.curl("streams/%s?last_event_id=0" % sid)
    like(r.body.decode("utf-8", "replace"), "history_lost",
         "CGI: ... and a resume from 0 is told its history is lost")
    # the note of the loss is kept 10 ttl: aged here instead of waited for
    old = time.time() - 3600
    if os.path.exists(journal + ".expired"):
        os.utime(journal + ".expired", (old, old))
    ok(requests_until(lambda: not [n for n in os.listdir(spool) if n.startswith(sid)]),
       "CGI: ... then the note of its loss: nothing of the stream is left")


run(main)
