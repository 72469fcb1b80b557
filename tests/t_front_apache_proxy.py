#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_front_apache_proxy.py: Apache 2.4 + mod_proxy_fcgi with the shipped
conf/apache-proxy-fcgi.conf, Included as it is (the test only Defines the
backend, mount and timeout, the snippet's documented knobs), in front of
chatstream under spawn-fcgi on a unix socket and on TCP 127.0.0.1.

Apache runs in the foreground (apache2 -D FOREGROUND -f generated.conf, own
ServerRoot, Listen 127.0.0.1:PORT, event MPM, workers as www-data) with
mod_deflate compressing text/event-stream server-wide, so the snippet's
no-gzip is what keeps the stream uncompressed (a control mount without it
gets gzip).  The proxy timeout is 2 s and chatstream's heartbeat 1 s: a 5 s
stall in the model must survive; a third mount to a chatstream whose
heartbeat is 30 s is the control that the 2 s timeout cuts; a ProxyPass
without flushpackets=on is the control for unbuffered delivery (the whole
answer then arrives at once, at the end).  The unix-socket chatstream relies
on the snippet's proxy-fcgi-pathinfo (PATH_INFO=/health); the TCP one also
has `mount` set in its config (the other documented way).

Found: without proxy-fcgi-pathinfo, Apache sends SCRIPT_NAME=/chat/health
and no PATH_INFO.  Apache notices a client that left only when a write to it
fails, which takes two writes: with a silent backend, the second heartbeat
after the client left (1.7 s here; the measured time is in the
diagnostics).  When the proxy timeout strikes mid-stream, Apache drops
chatstream's connection at once but leaves the client's open, without the
end of the chunked body, until KeepAliveTimeout (5 s)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import frontcheck as fc  # noqa: E402
from harness import (APACHE2, APACHE_MODULES, Apache, FrontFixture,  # noqa: E402
                     http_request, is_, ok, require_front, run, share_with_web_user,
                     snippet_path)

MODULES = ["mpm_event", "authz_core", "mime", "proxy", "proxy_fcgi", "setenvif", "env",
           "filter", "deflate"]


def main():
    require_front(APACHE2, *[os.path.join(APACHE_MODULES, "mod_%s.so" % m) for m in MODULES])
    fx = FrontFixture("apache-proxy")
    snippet = snippet_path("apache-proxy-fcgi.conf")
    script, piddir = fc.write_quiet_script(fx)
    share_with_web_user(fx)
    cs = fx.start_chatstream(fc.front_config(script), "unix")
    tcp = fx.start_chatstream_tcp(fc.front_config(script, globals_={"mount": "/chat"}), "tcp")
    ctl = fx.start_chatstream(fc.front_config(script, heartbeat=30), "control")
    share_with_web_user(fx, cs.sock, ctl.sock)

    body = "\n".join([
        "AddType text/html .html",
        "# compress everything compressible: the snippet must keep event streams out of it",
        "AddOutputFilterByType DEFLATE text/html text/plain application/json text/event-stream",
        "",
        "# 1: TCP, the snippet's default mount /chat",
        'Define CHATSTREAM_BACKEND "fcgi://127.0.0.1:%d"' % tcp.port,
        "Define CHATSTREAM_TIMEOUT %d" % fc.SERVER_TIMEOUT,
        'Include "%s"' % snippet,
        "# 2: unix socket",
        "Define CHATSTREAM_MOUNT /chat-unix",
        'Define CHATSTREAM_BACKEND "unix:%s|fcgi://localhost"' % cs.sock,
        'Include "%s"' % snippet,
        "# 3: the control, a chatstream with heartbeat 30",
        "Define CHATSTREAM_MOUNT /chat-ctl",
        'Define CHATSTREAM_BACKEND "unix:%s|fcgi://control"' % ctl.sock,
        'Include "%s"' % snippet,
        "# 4: controls for no-gzip and flushpackets=on, without the snippet",
        'ProxyPass "/chat-gz/" "unix:%s|fcgi://gz/" flushpackets=on' % cs.sock,
        'ProxyPass "/chat-nofp/" "unix:%s|fcgi://nofp/"' % cs.sock,
        '<LocationMatch "^/chat-(gz|nofp)/">',
        "    Require all granted",
        "</LocationMatch>",
    ])
    ap = fx.start_front(Apache(fx, MODULES, body))

    def unix_url(p):
        return ap.url(p, "/chat-unix/")

    def tcp_url(p):
        return ap.url(p, "/chat/")

    def ctl_url(p):
        return ap.url(p, "/chat-ctl/")

    # mod_deflate is really on: a static page comes gzipped, and so does an
    # event stream on a mount without the snippet's no-gzip
    with open(os.path.join(ap.dir, "www", "page.html"), "w") as f:
        f.write("<p>compress me</p>\n" * 200)
    st, hs, _ = http_request(ap.port, "GET", "/page.html", headers=["Accept-Encoding: gzip"])
    is_([v for k, v in hs if k.lower() == "content-encoding"], ["gzip"],
        "mod_deflate is active: a static page is gzipped")
    r = fc.post(fx, ap.url("", "/chat-gz/"), {"prompt": "zip", "model": "bulk"},
                headers=["Accept-Encoding: gzip"]).finish()
    is_((r.status, r.header("Content-Encoding")), (200, "gzip"),
        "control: without the snippet's no-gzip, mod_deflate compresses the event stream")

    fc.check_routes(fx, unix_url, "unix", cs.log_text, path_info=True)
    fc.check_too_large(fx, unix_url, "unix")
    fc.check_routes(fx, tcp_url, "tcp", tcp.log_text, path_info=True)

    stalls = [(fc.start_stall(fx, unix_url), "unix: heartbeats"),
              (fc.start_stall(fx, tcp_url), "tcp: heartbeats")]
    control = fc.start_stall(fx, ctl_url)
    nofp = fc.start_held(fx, lambda p: ap.url(p, "/chat-nofp/"))

    fc.check_unbuffered(fx, unix_url, "unix", gzip=True)
    fc.check_unbuffered(fx, tcp_url, "tcp", gzip=True)

    for cst, label in stalls:
        fc.check_stall_survives(cst, label)
    fc.check_stall_cut(control, "control (heartbeat 30 s)", ctl.log_text)
    fc.check_burst(nofp, "control: ProxyPass without flushpackets=on")

    fc.check_abort(fx, unix_url, "unix: abort", cs.log_text, piddir, "unixabort")
    fc.check_abort(fx, tcp_url, "tcp: abort", tcp.log_text, piddir, "tcpabort")

    fc.check_big(fx, unix_url, "unix")
    fc.check_big(fx, tcp_url, "tcp")

    fc.check_concurrent(fx, unix_url, "unix")
    fc.check_concurrent(fx, tcp_url, "tcp")

    ok(cs.alive() and tcp.alive(), "both chatstreams are still running")


run(main)
