#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_front_systemd.py: the shipped conf/chatstream.socket + conf/chatstream.service.

systemd itself cannot run here (no systemd as PID 1 in the test machine), so:
  - the units are checked with `systemd-analyze verify` (ExecStart's two
    paths pointed at the build) and `systemd-analyze security --offline`
    (exposure at most 2.0); both skipped when systemd-analyze is missing;
  - socket activation is EMULATED the way systemd does it, from the units'
    own values: the test creates the ListenStream socket (moved into the
    temp dir) with SocketMode and SocketGroup, then runs ExecStart (paths
    pointed at the build and a test config) with the socket as fd 3,
    LISTEN_FDS=1, LISTEN_PID, a clean environment, UMask, NoNewPrivileges,
    StateDirectory= (made in the temp dir with StateDirectoryMode, passed
    as STATE_DIRECTORY: the default spool), and, for DynamicUser=yes, an
    unprivileged uid (nobody) -- not the
    namespaces and filters (ProtectSystem, SystemCallFilter ...), which
    only systemd can set up;
  - lighttpd with the shipped conf/lighttpd-chatstream.conf is the front
    server (server.max-write-idle = 2 s, as in t_front_lighttpd.py).
Checked: a request made before chatstream starts waits in the socket's
queue and is answered; the usual front checks (frontcheck.py); SIGTERM as
`systemctl stop` sends it (KillMode=mixed) ends an open stream with
event: error type shutdown after shutdown_grace and exits 0; a restarted
chatstream serves again on the same socket."""

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import frontcheck as fc  # noqa: E402
import harness  # noqa: E402
from harness import (CHATSTREAM, LIGHTTPD, SRCDIR, CurlStream, FrontFixture,  # noqa: E402
                     LighttpdConf, _child_setup, _stop, bail, diag, is_, like, ok, read_text,
                     require_front, run, share_with_web_user, snippet_path)

SYSTEMD_ANALYZE = os.environ.get("SYSTEMD_ANALYZE") or shutil.which("systemd-analyze") \
    or "/usr/bin/systemd-analyze"
INSTALLED_BIN = "/usr/local/bin/chatstream"
INSTALLED_CONF = "/usr/local/etc/chatstream.conf"
q = json.dumps


def parse_unit(path):
    """{section: [(key, value), ...]} of a unit file (no line continuations)."""
    out, sec = {}, None
    with open(path) as f:
        for ln in f:
            ln = ln.strip()
            if not ln or ln[0] in "#;":
                continue
            if ln.startswith("[") and ln.endswith("]"):
                sec = ln[1:-1]
                out.setdefault(sec, [])
            elif "=" in ln and sec:
                k, v = ln.split("=", 1)
                out[sec].append((k.strip(), v.strip()))
    return out


def value(unit, sec, key, default=None):
    vals = [v for k, v in unit.get(sec, []) if k == key]
    return vals[-1] if vals else default


def yes(v):
    return (v or "").lower() in ("1", "yes", "true", "on")


class Activated:
    """chatstream started the way systemd starts chatstream.service on
    chatstream.socket's listening socket (see the file's docstring)."""

    def __init__(self, fx, service, lsock, conf, name):
        self.fx = fx
        self.log = fx.path(name + ".log")
        argv = shlex.split(value(service, "Service", "ExecStart"))
        if argv[0] != INSTALLED_BIN or argv[1:] != ["-c", INSTALLED_CONF]:
            bail("ExecStart is not '%s -c %s' any more: %r" % (INSTALLED_BIN, INSTALLED_CONF, argv))
        self.argv = [CHATSTREAM, "-c", conf]
        kw = {}
        if yes(value(service, "Service", "DynamicUser")) or value(service, "Service", "User"):
            kw.update(user=65534, group=65534, extra_groups=[])     # nobody / nogroup
        um = value(service, "Service", "UMask")
        if um:
            kw["umask"] = int(um, 8)
        nnp = yes(value(service, "Service", "NoNewPrivileges"))
        lfd = lsock.fileno()
        env = dict(PATH="/usr/local/bin:/usr/bin:/bin", LISTEN_FDS="1",
                   LISTEN_FDNAMES="chatstream.socket")
        # StateDirectory=: made (moved into the temp dir) with StateDirectoryMode
        # (systemd's default 0755), owned by the service's user
        self.state = None
        if value(service, "Service", "StateDirectory"):
            self.state = fx.path("state", value(service, "Service", "StateDirectory"))
            os.makedirs(self.state, exist_ok=True)
            os.chmod(fx.path("state"), 0o755)
            os.chmod(self.state, int(value(service, "Service", "StateDirectoryMode", "0755"), 8))
            os.chown(self.state, kw.get("user", 0), kw.get("group", 0))
            env["STATE_DIRECTORY"] = self.state

        def setup():
            _child_setup()                      # die with the test
            if nnp:
                import ctypes
                ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)   # PR_SET_NO_NEW_PRIVS
            os.dup2(lfd, 3)
            for k in list(os.environ):
                del os.environ[k]
            os.environ.update(env, LISTEN_PID=str(os.getpid()))

        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen(self.argv, cwd="/", stdin=subprocess.DEVNULL, stdout=f,
                                         stderr=f, preexec_fn=setup, pass_fds=(3,),
                                         start_new_session=True, **kw)
        fx._procs.append(self.proc)

    def log_text(self):
        return read_text(self.log)


def check_units(fx, sock_unit, svc_unit, conf):
    if not os.path.exists(SYSTEMD_ANALYZE):
        harness.skip("systemd-analyze not installed", 3)
        return
    d = fx.path("units")
    os.makedirs(d)
    shutil.copy(sock_unit, d)
    with open(svc_unit) as f:
        text = f.read()
    with open(os.path.join(d, "chatstream.service"), "w") as f:
        f.write(text.replace(INSTALLED_BIN, CHATSTREAM).replace(INSTALLED_CONF, conf))
    units = [os.path.join(d, "chatstream.socket"), os.path.join(d, "chatstream.service")]
    p = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no"] + units, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = p.stdout.decode("utf-8", "replace").strip()
    ok(p.returncode == 0 and not out,
       "systemd-analyze verify: both units load without a warning (rc %d)" % p.returncode)
    if out:
        diag(out)
    p = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=yes", "--threshold=20", units[1]],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    out = p.stdout.decode("utf-8", "replace")
    level = [ln for ln in out.splitlines() if "Overall exposure level" in ln]
    diag(level[0] if level else out[-600:])
    ok(p.returncode == 0, "systemd-analyze security --offline: exposure at most 2.0")
    like(level[0] if level else "", r"exposure level for chatstream\.service: [0-9.]+ OK",
         "... rated OK")


def main():
    require_front(LIGHTTPD)
    fx = FrontFixture("systemd")
    sock_unit = os.path.join(SRCDIR, "conf", "chatstream.socket")
    svc_unit = os.path.join(SRCDIR, "conf", "chatstream.service")
    for p in (sock_unit, svc_unit):
        if not os.path.isfile(p):
            bail("shipped unit not found: %s" % p)
    sockcfg, svc = parse_unit(sock_unit), parse_unit(svc_unit)
    script, piddir = fc.write_quiet_script(fx)
    # no spool_dir: the service's default, StateDirectory=
    conf = fx.write_config(fc.front_config(script, globals_={"spool_dir": None}))
    share_with_web_user(fx, conf)
    check_units(fx, sock_unit, svc_unit, conf)

    # --- the socket, as systemd creates it from chatstream.socket -----------
    listen = value(sockcfg, "Socket", "ListenStream")
    is_(listen, "/run/chatstream/chatstream.sock", "chatstream.socket listens on "
        "/run/chatstream/chatstream.sock")
    is_(value(sockcfg, "Socket", "Accept", "no"), "no", "Accept=no: one process for all")
    sockdir = fx.path("run", "chatstream")
    os.makedirs(sockdir)
    os.chmod(sockdir, int(value(sockcfg, "Socket", "DirectoryMode", "0755"), 8))
    spath = os.path.join(sockdir, "chatstream.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(spath)
    lsock.listen(128)
    import grp
    import pwd
    os.chown(spath, pwd.getpwnam(value(sockcfg, "Socket", "SocketUser", "root")).pw_uid,
             grp.getgrnam(value(sockcfg, "Socket", "SocketGroup", "root")).gr_gid)
    os.chmod(spath, int(value(sockcfg, "Socket", "SocketMode", "0666"), 8))

    body = "\n".join([
        "server.max-write-idle = %d" % fc.SERVER_TIMEOUT,
        'var.chatstream_mount = "/chat"',
        "var.chatstream_socket = %s" % q(spath),
        "include %s" % q(snippet_path("lighttpd-chatstream.conf")),
    ])
    lt = fx.start_front(LighttpdConf(fx, body))

    def url(p):
        return lt.url(p, "/chat/")

    # a request before chatstream runs: it waits in the socket's queue
    early = CurlStream(fx, url("health"), timeout=20)
    time.sleep(0.5)
    ok(early.proc.poll() is None, "before chatstream starts, a request waits (not refused)")
    cs = Activated(fx, svc, lsock, conf, "activated")
    r = early.finish()
    is_(r.status, 200, "... and is answered once chatstream is started on the socket")
    status = read_text("/proc/%d/status" % cs.proc.pid)
    like(status, r"\nUid:\s+65534\s",
         "chatstream runs unprivileged (DynamicUser emulated as nobody)")
    like(status, r"\nNoNewPrivs:\s+1", "... with NoNewPrivileges")

    log = cs.log_text
    fc.check_routes(fx, url, "systemd", log, path_info=True)
    fc.check_too_large(fx, url, "systemd")
    stall = fc.start_stall(fx, url)
    fc.check_unbuffered(fx, url, "systemd")
    fc.check_stall_survives(stall, "systemd: heartbeats")
    fc.check_abort(fx, url, "systemd: abort", log, piddir, "sdabort")
    fc.check_big(fx, url, "systemd")
    fc.check_concurrent(fx, url, "systemd")
    ok(cs.state and os.path.isdir(cs.state) and os.listdir(cs.state),
       "the stream journal is kept in StateDirectory= ($STATE_DIRECTORY), the default spool")
    ok("not be resumable" not in log() and "unsafe" not in log(),
       "... which chatstream accepts (StateDirectoryMode=0700)")

    # --- systemctl stop: SIGTERM to the main process (KillMode=mixed) ---------
    is_(value(svc, "Service", "KillMode"), "mixed",
        "KillMode=mixed: SIGTERM goes to chatstream only")
    stop_timeout = float(value(svc, "Service", "TimeoutStopSec", "90"))
    st = fc.post(fx, url(""), {"prompt": fc.UNBUF_PROMPT, "model": "paced"})
    ok(st.read_until(lambda res: len(res.stream().texts) >= 2, 10), "a stream is open")
    t0 = time.monotonic()
    cs.proc.send_signal(signal.SIGTERM)
    try:
        rc = cs.proc.wait(timeout=min(stop_timeout, harness.scaled(15)))
    except subprocess.TimeoutExpired:
        rc = None
    took = time.monotonic() - t0
    is_(rc, 0, "SIGTERM: chatstream exits 0 (after %.1f s; TimeoutStopSec=%g)"
        % (took, stop_timeout))
    res = st.finish(timeout=10)
    err = res.stream().error or {}
    is_((err.get("error") or {}).get("type"), "shutdown",
        "the open stream ended with event: error type shutdown (shutdown_grace 1 s)")
    ok(os.path.exists(spath), "the socket file is still there (it belongs to chatstream.socket)")

    # --- Restart=: a new chatstream on the same listening socket -------------
    cs2 = Activated(fx, svc, lsock, conf, "restarted")
    r = fc.get(fx, url("health"), timeout=10)
    is_(r.status, 200, "a restarted chatstream serves on the same socket")
    P = "after the restart"
    r = fc.post(fx, url(""), {"prompt": P, "model": "bulk"}).finish()
    is_(r.stream().text, fc.demo_text(P), "... streams exact text")
    _stop(cs2.proc, signal.SIGTERM, wait=10)
    lsock.close()


run(main)
