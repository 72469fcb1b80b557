# SPDX-License-Identifier: ISC
"""fixture.py: one test file's world: a temp dir, chatstream under real
spawn-fcgi (on a unix socket or a loopback port), lighttpd or other front
servers in front of it; close() (also run at teardown) stops it all.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import fcgi
from clients import CurlStream, fcgi_params
from fronts import Lighttpd
from logs import read_text, wait_text
from procs import _alive, _children, _fixtures, _popen, _stop, free_port
from tap import _tap, bail, diag, skip_all
from testenv import CHATSTREAM, CURL, LIGHTTPD, SPAWN_FCGI, SRCDIR, scaled


def require_tools():
    """Skips the whole file when lighttpd, spawn-fcgi or curl is missing
    (the only reasons to skip); bails out when the chatstream binary is not
    there (that is a failure, not a skip)."""
    missing = [p for p in (LIGHTTPD, SPAWN_FCGI, CURL)
               if not (os.path.isfile(p) and os.access(p, os.X_OK))]
    if missing:
        skip_all("missing tool(s): " + ", ".join(missing))
    if not (os.path.isfile(CHATSTREAM) and os.access(CHATSTREAM, os.X_OK)):
        bail("chatstream binary not found or not executable: %s (set CHATSTREAM)" % CHATSTREAM)
    snippet = os.path.join(SRCDIR, "conf", "lighttpd-chatstream.conf")
    if not os.path.isfile(snippet):
        bail("lighttpd snippet not found: %s (set SRCDIR)" % snippet)


class Chatstream:
    """chatstream running under `spawn-fcgi -n -s SOCK -- CHATSTREAM -c CONF`."""

    def __init__(self, fx, config_text, name):
        self.fx = fx
        self.name = name
        self.sock = self._address()
        self.conf = fx.write_config(config_text, name + ".conf")
        self.log = fx.path(name + ".log")
        self.args = [SPAWN_FCGI, "-n"] + self._listen() + ["--", CHATSTREAM, "-c", self.conf]
        self._logf = None
        self._spawn()

    def _address(self):
        """Where it listens, as fcgi.request takes it: a unix socket's path."""
        return self.fx.path(self.name + ".sock")

    def _listen(self):
        """spawn-fcgi's options for that address."""
        return ["-s", self.sock]

    def _spawn(self):
        """Starts self.args with the log appended to; sets proc and pid."""
        if self._logf is not None:
            try:
                self._logf.close()
            except OSError:
                pass
        self._logf = open(self.log, "ab")
        self.proc = _popen(self.args, cwd=self.fx.tmp, stdin=subprocess.DEVNULL,
                           stdout=self._logf, stderr=self._logf)
        self.fx._procs.append(self.proc)
        self.pid = self._find_pid()

    def _find_pid(self):
        """spawn-fcgi -n execs the app in its own process; wait (bounded) until
        that pid runs chatstream, else look for a child that does."""
        want = os.path.realpath(CHATSTREAM)
        end = time.monotonic() + 5
        for _ in range(500):
            if self.proc.poll() is not None:
                return None
            try:
                if os.path.realpath("/proc/%d/exe" % self.proc.pid) == want:
                    return self.proc.pid
            except OSError:
                pass
            for pid in _children(self.proc.pid):
                try:
                    if os.path.realpath("/proc/%d/exe" % pid) == want:
                        return pid
                except OSError:
                    pass
            if time.monotonic() > end:
                break
            time.sleep(0.01)
        # a wrapper (e.g. a script) may run it under another name
        return self.proc.pid if self.proc.poll() is None else None

    def restart(self):
        """Starts a new chatstream on the same socket, config and log (after
        a crash); returns (ready, info).  pid changes."""
        _stop(self.proc, signal.SIGKILL, wait=2)
        self._spawn()
        return self.wait_ready()

    def alive(self):
        return self.pid is not None and _alive(self.pid)

    def wait_ready(self, timeout=10):
        """GET /health over FastCGI until it answers 200 (bounded)."""
        timeout = scaled(timeout)
        end = time.monotonic() + timeout
        last = None
        for _ in range(int(timeout / 0.05) + 2):
            if self.proc.poll() is not None:
                return False, "chatstream exited with status %s" % self.proc.returncode
            try:
                st, _, body, _ = fcgi.request(self.sock, fcgi_params("GET", "health"),
                                              b"", timeout=2)
                if st == 200:
                    return True, body
                last = "status %d: %r" % (st, body[:200])
            except (OSError, fcgi.FcgiError) as e:
                last = "%s: %s" % (type(e).__name__, e)
            if time.monotonic() > end:
                break
            time.sleep(0.05)
        return False, last

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_lines(self):
        return self.log_text().splitlines()

    def stream_lines(self):
        return [ln for ln in self.log_lines() if " stream: " in ln]

    def wait_log(self, regex, timeout=5.0):
        """The first log line matching regex, polling (bounded); None if none."""
        return wait_text(self.log_text, regex, timeout)

    def request(self, params, body=b"", timeout=10, stdin_chunk=fcgi.MAX_CONTENT):
        """A FastCGI request straight to the socket; (status, headers, body, client)."""
        return fcgi.request(self.sock, params, body, timeout=timeout, stdin_chunk=stdin_chunk)

    def stop(self):
        rc = _stop(self.proc, signal.SIGTERM, wait=5)
        try:
            self._logf.close()
        except OSError:
            pass
        return rc


class ChatstreamTCP(Chatstream):
    """chatstream under `spawn-fcgi -n -a 127.0.0.1 -p PORT -- CHATSTREAM -c CONF`;
    .sock is the ("127.0.0.1", PORT) address (fcgi.request takes either)."""

    def __init__(self, fx, config_text, name, port=None):
        self.port = port or free_port()
        Chatstream.__init__(self, fx, config_text, name)

    def _address(self):
        return ("127.0.0.1", self.port)

    def _listen(self):
        return ["-a", "127.0.0.1", "-p", str(self.port)]


class Fixture:
    """Everything one test file starts; close() (also run by teardown) stops it all."""

    def __init__(self, name="test"):
        base = None
        if len(tempfile.gettempdir()) > 60:    # keep unix socket paths < 108 bytes
            base = "/tmp"
        self.tmp = tempfile.mkdtemp(prefix="chatstream-%s-" % name, dir=base)
        self._procs = []
        self.chatstreams = []
        self.lighttpd = None
        self.closed = False
        self._on_close = []
        _fixtures.append(self)

    def on_close(self, fn):
        """fn() runs first when the fixture closes (a fake upstream's close, say)."""
        self._on_close.append(fn)
        return fn

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def write_config(self, text, name="chatstream.conf"):
        p = self.path(name)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
        return p

    def start_chatstream(self, config_text, name="chatstream"):
        """Starts chatstream under spawn-fcgi and waits until /health answers;
        bails out (with its log) when it does not come up."""
        return self._started(Chatstream(self, config_text, name))

    def _started(self, cs):
        """cs, once its /health answers; bails out (with its log) when it does not."""
        self.chatstreams.append(cs)
        ready, info = cs.wait_ready()
        if not ready or cs.pid is None:
            diag("chatstream did not come up: %s" % info)
            diag("command: %s" % " ".join(cs.args))
            diag("log:\n" + cs.log_text()[-4000:])
            bail("chatstream did not start")
        return cs

    def start_lighttpd(self, chatstream, extra=()):
        """extra: lines appended to the generated lighttpd.conf."""
        lt = Lighttpd(self, chatstream.sock, extra)
        started, info = lt.start()
        if not started:
            diag("lighttpd did not come up: %s" % info)
            self.dump_logs()
            bail("lighttpd did not start")
        self.lighttpd = lt
        return lt

    def url(self, path=""):
        return self.lighttpd.url(path)

    def _stop_fronts(self):
        if self.lighttpd:
            self.lighttpd.stop()

    def curl_start(self, path="", method=None, body=None, headers=(), timeout=25,
                   content_type=None, extra=()):
        hs = list(headers)
        if content_type is not None:
            hs.append("Content-Type: " + content_type)
        return CurlStream(self, self.url(path), method=method, body=body, headers=hs,
                          timeout=timeout, extra=extra)

    def curl(self, path="", method=None, body=None, headers=(), timeout=25,
             content_type=None, extra=()):
        """One complete request with real curl through lighttpd; a Response."""
        return self.curl_start(path, method, body, headers, timeout, content_type,
                               extra).finish()

    def chat(self, payload, timeout=25, path="", headers=()):
        """POST payload (a dict, sent as JSON) to the mount; a Response."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return self.curl(path, body=body, content_type="application/json",
                         timeout=timeout, headers=headers)

    def dump_logs(self):
        for cs in self.chatstreams:
            diag("--- %s log (last lines) ---" % cs.name)
            diag("\n".join(cs.log_lines()[-30:]))
        if self.lighttpd:
            for p in (self.lighttpd.errorlog, self.lighttpd.stderr):
                try:
                    with open(p, "rb") as f:
                        t = f.read().decode("utf-8", "replace")
                    if t.strip():
                        diag("--- %s ---" % os.path.basename(p))
                        diag("\n".join(t.splitlines()[-20:]))
                except OSError:
                    pass

    def close(self):
        if self.closed:
            return
        self.closed = True
        if _tap["failed"] and not _tap.get("dumped"):
            _tap["dumped"] = True
            self.dump_logs()
        for fn in self._on_close:
            fn()
        # clients first, then the front servers, then the app
        for p in self._procs:
            if p.args and p.args[0] == CURL:
                _stop(p, signal.SIGKILL, wait=2)
        self._stop_fronts()
        for cs in self.chatstreams:
            cs.stop()
        for p in self._procs:
            _stop(p, signal.SIGKILL, wait=2)
        if _tap["failed"] or os.environ.get("KEEP_TMP"):
            diag("temp dir kept: %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if self in _fixtures:
            _fixtures.remove(self)


def setup(config_text, name="test", lighttpd=True):
    """require_tools(), then a Fixture with chatstream (and lighttpd) running.
    Returns (fixture, chatstream)."""
    require_tools()
    fx = Fixture(name)
    cs = fx.start_chatstream(config_text)
    if lighttpd:
        fx.start_lighttpd(cs)
    return fx, cs


class FrontFixture(Fixture):
    """A Fixture with any number of front servers (Apache, Nginx,
    LighttpdConf, or the Lighttpd above): start_front() starts one and bails
    out (with logs) when it does not come up; url() goes through the first
    one started; close() stops clients, then the fronts, then chatstream."""

    def __init__(self, name="test"):
        Fixture.__init__(self, name)
        self.fronts = []

    def start_front(self, front):
        started, info = front.start()
        if not started:
            diag("%s did not come up: %s" % (front.name, info))
            self.dump_logs()
            _tap["dumped"] = True
            bail("%s did not start" % front.name)
        self.fronts.append(front)
        return front

    def start_chatstream_tcp(self, config_text, name="chatstream"):
        """start_chatstream() on a loopback port (ChatstreamTCP)."""
        return self._started(ChatstreamTCP(self, config_text, name))

    def url(self, path=""):
        if self.fronts:
            return self.fronts[0].url(path)
        return Fixture.url(self, path)

    def dump_logs(self):
        Fixture.dump_logs(self)
        for fr in self.fronts:
            for p in fr.logs():
                t = read_text(p)
                if t.strip():
                    diag("--- %s: %s (last lines) ---" % (fr.name, os.path.basename(p)))
                    diag("\n".join(t.splitlines()[-30:]))

    def _stop_fronts(self):
        for fr in self.fronts:
            fr.stop()
        Fixture._stop_fronts(self)
