#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_modes.py: every way chatstream finds its FastCGI socket: its own unix socket
(-s), its own TCP socket (-b 127.0.0.1:PORT, and [::1] where the host has IPv6),
a socket passed by systemd-style activation (LISTEN_FDS, fd 3), and lighttpd
spawning it with "bin-path" (socket on fd 0).  Each serves /health and a stream,
and -s/-b/LISTEN_FDS processes exit 0 on SIGTERM.  The LISTEN_FDS case is set up
by this test the way systemd does it (no systemd runs here)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import fcgi  # noqa: E402
import harness  # noqa: E402
from harness import (CHATSTREAM, LIGHTTPD, Fixture, _popen, _stop, config,  # noqa: E402
                     demo_text, diag, fcgi_params, free_port, http_request, is_, ok,
                     require_tools, run)
from sse import SSEParser  # noqa: E402


def wait_health(address, proc, timeout=10):
    end = time.monotonic() + timeout
    for _ in range(400):
        if proc.poll() is not None:
            return None
        try:
            st, _, body, _ = fcgi.request(address, fcgi_params("GET", "health"), b"", timeout=2)
            return st
        except (OSError, fcgi.FcgiError):
            if time.monotonic() > end:
                return None
            time.sleep(0.025)
    return None


def stream_text(address, prompt):
    body = json.dumps({"prompt": prompt}).encode()
    st, _, rbody, _ = fcgi.request(address, fcgi_params("POST", "", "application/json", len(body)),
                                   body, timeout=10)
    p = SSEParser()
    p.feed(rbody, time.monotonic())
    p.close()
    text = "".join(json.loads(e.data)["text"] for e in p.events if e.type == "message")
    return st, text, [e.type for e in p.events]


def check_served(label, address, proc):
    is_(wait_health(address, proc), 200, label + ": /health answers")
    st, text, types = stream_text(address, label)
    is_(st, 200, label + ": a stream starts")
    is_(text, demo_text(label), label + ": its text is exact")
    is_(types[-1:], ["done"], label + ": it ends with done")


def check_sigterm(label, proc):
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=harness.scaled(30))   # an ASan build checks for leaks on its way out
    except subprocess.TimeoutExpired:
        rc = None
    is_(rc, 0, label + ": exits 0 on SIGTERM")


def start(fx, args, log, **kw):
    with open(log, "ab") as f:
        p = _popen([CHATSTREAM] + args, cwd=fx.tmp, stdin=subprocess.DEVNULL, stdout=f,
                   stderr=f, **kw)
    fx._procs.append(p)
    return p


def main():
    require_tools()
    fx = Fixture("modes")
    conf = fx.write_config(config())

    sock = fx.path("own.sock")
    p = start(fx, ["-c", conf, "-s", sock], fx.path("unix.log"))
    check_served("-s unix socket", sock, p)
    check_sigterm("-s unix socket", p)

    port = free_port()
    p = start(fx, ["-c", conf, "-b", "127.0.0.1:%d" % port], fx.path("tcp.log"))
    check_served("-b 127.0.0.1", ("127.0.0.1", port), p)
    check_sigterm("-b 127.0.0.1", p)

    try:
        s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s6.bind(("::1", 0))
        port6 = s6.getsockname()[1]
        s6.close()
    except OSError:
        port6 = None
    if port6 is None:
        harness.skip("no IPv6 loopback on this host", 5)
    else:
        p = start(fx, ["-c", conf, "-b", "[::1]:%d" % port6], fx.path("tcp6.log"))
        check_served("-b [::1]", ("::1", port6), p)
        check_sigterm("-b [::1]", p)

    # systemd socket activation: the listening socket on fd 3, LISTEN_PID = our pid
    act = fx.path("activated.sock")
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(act)
    ls.listen(16)
    lfd = ls.fileno()

    def activate():
        if lfd != 3:
            os.dup2(lfd, 3)
        os.set_inheritable(3, True)
        os.environ["LISTEN_FDS"] = "1"
        os.environ["LISTEN_PID"] = str(os.getpid())

    with open(fx.path("activated.log"), "ab") as f:
        p = subprocess.Popen([CHATSTREAM, "-c", conf], cwd=fx.tmp, stdin=subprocess.DEVNULL,
                             stdout=f, stderr=f, close_fds=False, preexec_fn=activate,
                             start_new_session=True)
    fx._procs.append(p)
    ls.close()
    check_served("LISTEN_FDS", act, p)
    check_sigterm("LISTEN_FDS", p)

    # lighttpd spawns chatstream itself (bin-path): the socket arrives on fd 0
    q = json.dumps
    os.makedirs(fx.path("www"), exist_ok=True)
    lport = free_port()
    with open(fx.path("binpath.conf"), "w") as f:
        f.write("\n".join([
            'server.modules += ( "mod_fastcgi" )',
            'server.bind = "127.0.0.1"',
            "server.port = %d" % lport,
            "server.document-root = %s" % q(fx.path("www")),
            "server.errorlog = %s" % q(fx.path("binpath-error.log")),
            "server.stream-response-body = 2",
            'fastcgi.server = ( "/chat" => ((',
            '    "socket" => %s,' % q(fx.path("spawned.sock")),
            '    "bin-path" => %s,' % q(CHATSTREAM),
            '    "bin-environment" => ( "CHATSTREAM_CONF" => %s ),' % q(conf),
            '    "check-local" => "disable",',
            '    "max-procs" => 1,',
            ")))", ""]))
    with open(fx.path("binpath.stderr"), "ab") as f:
        lt = _popen([LIGHTTPD, "-D", "-f", fx.path("binpath.conf")], cwd=fx.tmp,
                    stdin=subprocess.DEVNULL, stdout=f, stderr=f)
    fx._procs.append(lt)
    st = body = None
    for _ in range(200):
        try:
            st, _, body = http_request(lport, "POST", "/chat/", headers=["Content-Type: text/plain"],
                                       body="spawned by lighttpd", timeout=5)
            break
        except OSError:
            time.sleep(0.05)
    is_(st, 200, "bin-path: lighttpd-spawned chatstream streams")
    p2 = SSEParser()
    p2.feed(body or b"", time.monotonic())
    p2.close()
    text = "".join(json.loads(e.data)["text"] for e in p2.events if e.type == "message")
    is_(text, demo_text("spawned by lighttpd"), "bin-path: the text is exact")
    _stop(lt)


run(main)
