#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_front_apache_cgi.py: Apache 2.4 running chatstream as a plain CGI program
(one process per request), with the shipped conf/apache-cgi.conf Included as
it is (the test Defines the binary and config, the snippet's documented
knobs; for the heartbeat check, also a 2 s script timeout on a second
mount).  chatstream's log lines reach Apache's error log as "AH01215: stderr
from ...".

mod_cgi under the prefork MPM (what Debian's a2enmod cgi picks there) gets
the full set of checks; the control for the heartbeat check is a second
mount whose chatstream config has a 30 s heartbeat, cut by the 2 s
CGIScriptTimeout (Apache logs AH01220; the client sees the end only
KeepAliveTimeout later, set to 1 s here).  When Apache gives up on a request
(client gone, timeout) it stops reading the program's stderr and the program
ends with the request, so chatstream's last log line for that stream is lost (it
never reached the error log in any run): the abort
check then skips the log assertion and times the exec backend's exit
instead (chatstream kills the backend's process group; Apache never
signals it).

mod_cgid under the event MPM (what Debian's a2enmod cgi picks there): stdout
is the same unix socket as stdin, and Apache shuts down its writing side once
it has sent the request body.  chatstream's CGI mode must not take that
half-close for a client that left (it once did: every stream ended after its
first event); the stream must complete exactly."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import frontcheck as fc  # noqa: E402
from harness import (APACHE2, APACHE_MODULES, CHATSTREAM, Apache,  # noqa: E402
                     FrontFixture, diag, is_, ok, require_front, run, share_with_web_user,
                     snippet_path, todo_ok, wait_text, web_user_ids)

PREFORK = ["mpm_prefork", "authz_core", "alias", "env", "cgi"]
EVENT = ["mpm_event", "authz_core", "alias", "env", "cgid"]


# one Apache process per open stream under prefork: start enough of them up
# front (Apache's own pace is 1, 2, 4, ... 32 new processes a second)
PREFORK_SIZE = """StartServers 60
MinSpareServers 10
MaxSpareServers 80
ServerLimit 150
MaxRequestWorkers 150
# After the script timeout Apache leaves the client's connection open until
# KeepAliveTimeout (default 5 s) without ending the chunked body; 1 s keeps
# the control's end inside the stall, where it is timed.
KeepAliveTimeout 1"""


def body(snippet, conf, ctl_conf=None, extra=""):
    """The snippet at /chat as shipped; with ctl_conf also at /chat-hb with a
    2 s script timeout (the heartbeat check: not for the others, where
    starting 50 processes on a busy machine may take longer) and at
    /chat-ctl with that timeout and the 30 s heartbeat config (the control)."""
    lines = [
        extra,
        'Define CHATSTREAM_BIN "%s"' % CHATSTREAM,
        'Define CHATSTREAM_CONFIG "%s"' % conf,
        'Include "%s"' % snippet,
    ]
    if ctl_conf:
        lines += [
            "# the heartbeat check: a 2 s script timeout",
            "Define CHATSTREAM_MOUNT /chat-hb",
            "Define CHATSTREAM_TIMEOUT %d" % fc.SERVER_TIMEOUT,
            'Include "%s"' % snippet,
            "# the control: the same with a 30 s heartbeat",
            "Define CHATSTREAM_MOUNT /chat-ctl",
            'Define CHATSTREAM_CONFIG "%s"' % ctl_conf,
            'Include "%s"' % snippet,
        ]
    return "\n".join(lines)


def main():
    require_front(APACHE2, *[os.path.join(APACHE_MODULES, "mod_%s.so" % m)
                             for m in sorted(set(PREFORK + EVENT))])
    fx = FrontFixture("apache-cgi")
    snippet = snippet_path("apache-cgi.conf")
    script, piddir = fc.write_quiet_script(fx, spool_owner=web_user_ids())
    conf = fx.write_config(fc.front_config(script))
    ctl_conf = fx.write_config(fc.front_config(script, heartbeat=30), "control.conf")
    share_with_web_user(fx, conf, ctl_conf)

    # --- mod_cgi, prefork MPM ------------------------------------------------
    ap = fx.start_front(Apache(fx, PREFORK, body(snippet, conf, ctl_conf, PREFORK_SIZE),
                               name="prefork"))
    log = ap.log_text

    def url(p):
        return ap.url(p, "/chat/")

    fc.check_routes(fx, url, "mod_cgi", log, path_info=True)
    fc.check_too_large(fx, url, "mod_cgi")
    stall = fc.start_stall(fx, lambda p: ap.url(p, "/chat-hb/"))
    control = fc.start_stall(fx, lambda p: ap.url(p, "/chat-ctl/"))
    fc.check_unbuffered(fx, url, "mod_cgi")
    fc.check_stall_survives(stall, "mod_cgi: heartbeats")
    # Apache stops reading the program's stderr when it gives up on a request:
    # chatstream's last log line of a stream Apache gave up on goes nowhere
    lost = "mod_cgi no longer reads the program's stderr by then: the log line is lost"
    fc.check_stall_cut(control, "mod_cgi: control (heartbeat 30 s)", None,
                       server_timeout=fc.SERVER_TIMEOUT + 1)
    t = wait_text(log, r"AH01220: Timeout waiting for output from CGI script", timeout=1)
    ok(t is not None, "mod_cgi: Apache logged its script timeout (AH01220)")
    fc.check_abort(fx, url, "mod_cgi: abort", log, piddir, "cgiabort", log_lost=lost)
    fc.check_big(fx, url, "mod_cgi")
    fc.check_concurrent(fx, url, "mod_cgi")

    # --- mod_cgid, event MPM ------------------------------------------------
    ev = fx.start_front(Apache(fx, EVENT, body(snippet, conf,
                                               extra='ScriptSock "{dir}/cgid.sock"'),
                               name="event"))

    def eurl(p):
        return ev.url(p, "/chat/")

    r = fc.get(fx, eurl("health"))
    is_(r.status, 200, "mod_cgid: GET /health answers 200")
    r = fc.post(fx, eurl(""), {"prompt": "through cgid", "model": "bulk"}).finish()
    sv = r.stream()
    is_(r.status, 200, "mod_cgid: a stream starts (200)")
    done = sv.done is not None and sv.text == fc.demo_text("through cgid")
    line = wait_text(ev.log_text, r"stream: id=%s .*outcome=" % (sv.meta or {}).get("id", "?"),
                     timeout=3)
    if line:
        diag("mod_cgid: " + line[line.find("stream: "):])
    # mod_cgid half-closes the request socket that is also stdout: chatstream
    # must not take that for a client that left.
    ok(done, "mod_cgid: the stream completes with done and the exact text")
    ok(ap.proc.poll() is None and ev.proc.poll() is None, "both Apaches are still running")


run(main)
