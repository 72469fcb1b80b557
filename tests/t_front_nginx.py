#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_front_nginx.py: nginx with the shipped conf/nginx-chatstream.conf in
front of chatstream under spawn-fcgi (unix socket).  The snippet is included
as it is, except that the test's copy has fastcgi_read_timeout 2s instead of
60s (each substitution must match exactly once, or the test fails); the
`upstream chatstream` it names is the test's, in http {}.  nginx runs in the
foreground (nginx -p DIR -c generated.conf -g 'daemon off;', 127.0.0.1:PORT,
worker as www-data) with gzip on for text/event-stream server-wide, so the
snippet's `gzip off` is what keeps the stream uncompressed.

Controls, derived from the snippet the same way: /chat-ctl/ to a chatstream
with a 30 s heartbeat (the 2 s read timeout cuts its stall); /chat-gz/
without `gzip off` (nginx then compresses the event stream); /chat-nb/
without `fastcgi_buffering off` (still streams: chatstream's
X-Accel-Buffering: no does the same), and /chat-buf/ without it and with
`fastcgi_ignore_headers X-Accel-Buffering` (the whole answer then arrives at
once, at the end).

Found: nginx's stock fastcgi_params send SCRIPT_NAME=/chat/health and no
PATH_INFO; the snippet's fastcgi_split_path_info gives SCRIPT_NAME=/chat,
PATH_INFO=/health.  nginx closes the FastCGI connection as soon as the client
leaves."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import frontcheck as fc  # noqa: E402
from harness import (NGINX, NGINX_FASTCGI_PARAMS, FrontFixture, Nginx, bail,  # noqa: E402
                     is_, ok, read_text, require_front, run, share_with_web_user,
                     snippet_path)


def derive(text, subs):
    """text with each (old, new) replaced; each old must occur exactly once."""
    for old, new in subs:
        if text.count(old) != 1:
            bail("the nginx snippet no longer has exactly one %r" % old)
        text = text.replace(old, new)
    return text


def main():
    require_front(NGINX, NGINX_FASTCGI_PARAMS)
    fx = FrontFixture("nginx")
    snippet = read_text(snippet_path("nginx-chatstream.conf"))
    script, piddir = fc.write_quiet_script(fx)
    cs = fx.start_chatstream(fc.front_config(script))
    ctl = fx.start_chatstream(fc.front_config(script, heartbeat=30), "control")
    share_with_web_user(fx, cs.sock, ctl.sock)

    timeout = ("fastcgi_read_timeout 60s;", "fastcgi_read_timeout %ds;" % fc.SERVER_TIMEOUT)

    def mount(name):
        return [("location /chat/ {", "location /chat-%s/ {" % name),
                ("^(/chat)(/.*)$", "^(/chat-%s)(/.*)$" % name)]

    nobuf = ("    fastcgi_buffering off;\n", "")
    variants = {
        "chatstream.conf": derive(snippet, [timeout]),
        "control.conf": derive(snippet, [timeout] + mount("ctl") + [
            ("fastcgi_pass chatstream;", "fastcgi_pass chatstream_control;")]),
        "gz.conf": derive(snippet, [timeout] + mount("gz") + [("    gzip off;\n", "")]),
        # without fastcgi_buffering off: chatstream's X-Accel-Buffering: no
        # still turns buffering off ...
        "nb.conf": derive(snippet, [timeout, nobuf] + mount("nb")),
        # ... unless nginx is told to ignore that header
        "buf.conf": derive(snippet, [timeout, nobuf] + mount("buf") + [
            ("fastcgi_pass chatstream;",
             "fastcgi_pass chatstream;\n    fastcgi_ignore_headers X-Accel-Buffering;")]),
    }
    d = fx.path("nginx-snippets")
    os.makedirs(d)
    for name, text in variants.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    http = "\n".join([
        "    upstream chatstream { server unix:%s; }" % cs.sock,
        "    upstream chatstream_control { server unix:%s; }" % ctl.sock,
        "    # compress what can be compressed: the snippet must keep event streams out",
        "    gzip on;",
        "    gzip_min_length 1;",
        "    gzip_types text/event-stream application/json text/plain;",
    ])
    server = "\n".join("        include %s;" % os.path.join(d, n) for n in sorted(variants))
    ng = fx.start_front(Nginx(fx, http, server))
    log = cs.log_text

    def url(p):
        return ng.url(p, "/chat/")

    r = fc.post(fx, ng.url("", "/chat-gz/"), {"prompt": "zip", "model": "bulk"},
                headers=["Accept-Encoding: gzip"]).finish()
    is_((r.status, r.header("Content-Encoding")), (200, "gzip"),
        "control: without the snippet's gzip off, nginx compresses the event stream")

    fc.check_routes(fx, url, "nginx", log, path_info=True)
    fc.check_too_large(fx, url, "nginx")
    stall = fc.start_stall(fx, url)
    control = fc.start_stall(fx, lambda p: ng.url(p, "/chat-ctl/"))
    nb = fc.start_held(fx, lambda p: ng.url(p, "/chat-nb/"), burst=False)
    buf = fc.start_held(fx, lambda p: ng.url(p, "/chat-buf/"))
    fc.check_unbuffered(fx, url, "nginx", gzip=True)
    fc.check_stall_survives(stall, "nginx: heartbeats")
    fc.check_stall_cut(control, "nginx: control (heartbeat 30 s)", ctl.log_text)
    fc.check_burst(nb, "control: without fastcgi_buffering off (X-Accel-Buffering: no)",
                   burst=False)
    fc.check_burst(buf, "control: without fastcgi_buffering off, X-Accel-Buffering ignored")
    fc.check_abort(fx, url, "nginx: abort", log, piddir, "nginxabort")
    fc.check_big(fx, url, "nginx")
    fc.check_concurrent(fx, url, "nginx")
    ok(cs.alive() and ng.proc.poll() is None, "chatstream and nginx are still running")


run(main)
