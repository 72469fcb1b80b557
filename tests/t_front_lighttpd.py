#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_front_lighttpd.py: lighttpd 1.4 in front of chatstream in both shipped
forms, each included as it is: conf/lighttpd-chatstream.conf with chatstream
under spawn-fcgi on a unix socket, and conf/lighttpd-chatstream-binpath.conf
with lighttpd starting chatstream itself ("bin-path", socket on fd 0, its
stderr on lighttpd's).  The test's lighttpd.conf sets the snippets'
variables and server.max-write-idle = 2, lighttpd's idle limit for a
response in progress (it has no FastCGI read timeout by default); lighttpd
checks it once a second, so the control (a second lighttpd with the same
snippet, to a chatstream with a 30 s heartbeat) is cut 2-3 s into its
stall.  (A lighttpd.conf can include the snippet only once: it sets
server.stream-response-body, and lighttpd refuses a second assignment.)  A
third lighttpd, with a copy of the snippet without its
server.stream-response-body line, is the control for unbuffered delivery:
the whole answer then arrives at once, at the end.

Found: with a mount without trailing slash lighttpd sends SCRIPT_NAME=/chat
and PATH_INFO=/health.  lighttpd 1.4.69 notices a client that left only at
its next write to it: with a silent backend, the next heartbeat (0.7 s here,
4.7 s with a 5 s heartbeat), not at once as nginx does."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import frontcheck as fc  # noqa: E402
from harness import (CHATSTREAM, LIGHTTPD, FrontFixture, LighttpdConf, bail,  # noqa: E402
                     ok, read_text, require_front, run, snippet_path)

q = json.dumps


def main():
    require_front(LIGHTTPD)
    fx = FrontFixture("lighttpd")
    sock_snippet = snippet_path("lighttpd-chatstream.conf")
    bin_snippet = snippet_path("lighttpd-chatstream-binpath.conf")
    script, piddir = fc.write_quiet_script(fx)
    cs = fx.start_chatstream(fc.front_config(script))
    ctl = fx.start_chatstream(fc.front_config(script, heartbeat=30), "control")
    idle = "server.max-write-idle = %d" % fc.SERVER_TIMEOUT

    # --- socket + spawn-fcgi, and the control (another lighttpd: the snippet
    # sets server.* values, so one lighttpd.conf can include it only once) ----
    def socket_conf(sock):
        return "\n".join([
            idle,
            'var.chatstream_mount = "/chat"',
            "var.chatstream_socket = %s" % q(sock),
            "include %s" % q(sock_snippet),
        ])

    lt = fx.start_front(LighttpdConf(fx, socket_conf(cs.sock), name="socket"))
    lc = fx.start_front(LighttpdConf(fx, socket_conf(ctl.sock), name="control"))
    # and the control for unbuffered delivery: the snippet without its
    # server.stream-response-body line (lighttpd's default, 0, then applies)
    text = read_text(sock_snippet)
    line = "server.stream-response-body = 2\n"
    if text.count(line) != 1:
        bail("the lighttpd snippet no longer has exactly one %r" % line)
    nosrb = fx.path("lighttpd-chatstream-default-srb.conf")
    with open(nosrb, "w") as f:
        f.write(text.replace(line, ""))
    lb = fx.start_front(LighttpdConf(fx, "\n".join([
        'var.chatstream_mount = "/chat"',
        "var.chatstream_socket = %s" % q(cs.sock),
        "include %s" % q(nosrb)]), name="buffered"))

    def url(p):
        return lt.url(p, "/chat/")

    fc.check_routes(fx, url, "socket", cs.log_text, path_info=True)
    fc.check_too_large(fx, url, "socket")
    stall = fc.start_stall(fx, url)
    control = fc.start_stall(fx, lambda p: lc.url(p, "/chat/"))
    buffered = fc.start_held(fx, lambda p: lb.url(p, "/chat/"))
    fc.check_unbuffered(fx, url, "socket")
    fc.check_stall_survives(stall, "socket: heartbeats")
    fc.check_stall_cut(control, "socket: control (heartbeat 30 s)", ctl.log_text)
    fc.check_burst(buffered, "control: without server.stream-response-body = 2")
    fc.check_abort(fx, url, "socket: abort", cs.log_text, piddir, "ltabort")
    fc.check_big(fx, url, "socket")
    fc.check_concurrent(fx, url, "socket")

    # --- bin-path: lighttpd starts chatstream -------------------------------
    conf = fx.write_config(fc.front_config(script), "binpath.conf")
    body = "\n".join([
        idle,
        'var.chatstream_mount = "/chat"',
        "var.chatstream_socket = %s" % q(fx.path("spawned.sock")),
        "var.chatstream_bin = %s" % q(CHATSTREAM),
        "var.chatstream_conf = %s" % q(conf),
        "include %s" % q(bin_snippet),
    ])
    bp = fx.start_front(LighttpdConf(fx, body, name="binpath"))
    log = bp.log_text

    def burl(p):
        return bp.url(p, "/chat/")

    fc.check_routes(fx, burl, "bin-path", log, path_info=True)
    stall = fc.start_stall(fx, burl)
    fc.check_unbuffered(fx, burl, "bin-path")
    fc.check_stall_survives(stall, "bin-path: heartbeats")
    fc.check_abort(fx, burl, "bin-path: abort", log, piddir, "binpathabort")
    fc.check_big(fx, burl, "bin-path")
    fc.check_concurrent(fx, burl, "bin-path")
    ok(cs.alive() and lt.proc.poll() is None and bp.proc.poll() is None,
       "chatstream and both lighttpds are still running")


run(main)
