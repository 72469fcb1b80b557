# SPDX-License-Identifier: ISC
"""harness.py: TAP output and fixtures for chatstream's integration tests:
a temp dir, chatstream under real spawn-fcgi, real lighttpd including the
shipped conf/lighttpd-chatstream.conf, real curl, and the demo model's answer.

Environment (automake's AM_TESTS_ENVIRONMENT passes these):
  CHATSTREAM  the binary under test   (default: /work/main/src/chatstream)
  SRCDIR      the repository's top     (default: two levels above this file)
  LIGHTTPD    (default /usr/sbin/lighttpd), SPAWN_FCGI (default: spawn-fcgi on
  PATH or /usr/bin/spawn-fcgi), CURL (default: curl on PATH)
  KEEP_TMP=1  keep the temp dir even when every test passed.

Limits: loopback only (127.0.0.1 and unix sockets); one lighttpd and any
number of chatstream instances per test file; every wait is bounded in both
count and time.  Teardown (atexit, and on SIGTERM/SIGINT/SIGHUP) kills every
process it started, by pid / process group of its own children only; each
child also gets PR_SET_PDEATHSIG so nothing outlives a killed test runner.
"""

import atexit
import ctypes
import json
import os
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import fcgi  # noqa: E402
from sse import SSEParser  # noqa: E402

SRCDIR = os.environ.get("SRCDIR") or os.path.dirname(os.path.dirname(HERE))
CHATSTREAM = os.environ.get("CHATSTREAM") or "/work/main/src/chatstream"
LIGHTTPD = os.environ.get("LIGHTTPD") or "/usr/sbin/lighttpd"
SPAWN_FCGI = os.environ.get("SPAWN_FCGI") or shutil.which("spawn-fcgi") or "/usr/bin/spawn-fcgi"
CURL = os.environ.get("CURL") or shutil.which("curl") or "/usr/bin/curl"
MOUNT = "/chat/"
# Every bound on waiting (they are never assertions about speed: a test waits
# for something to happen and fails only if it never does) is multiplied by
# this: the waiting helpers below (read_until, wait_log, wait_text, wait_gone,
# read_pid, wait_ready, wait_http, curl's --max-time) apply it themselves.
# By default 2, room for a busy machine; TEST_TIME_SCALE=4 make check gives more.
TIME_SCALE = max(1.0, float(os.environ.get("TEST_TIME_SCALE") or 2))


def scaled(seconds):
    """A bound on waiting, in seconds, stretched by TEST_TIME_SCALE."""
    return seconds * TIME_SCALE

# ---------------------------------------------------------------------------
# TAP
# ---------------------------------------------------------------------------

_tap = {"planned": None, "n": 0, "failed": 0, "finished": False}


def _out(line):
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except BrokenPipeError:      # the reader went away: keep tearing down quietly
        pass


def _clean(name):
    # a test name must not contain '#' (it starts a directive) nor newlines
    return str(name).replace("#", "\\#").replace("\n", " ")


def plan(n):
    """Announces n tests up front (optional: done() prints the plan otherwise)."""
    _tap["planned"] = n
    _out("1..%d" % n)


def diag(msg):
    """A '# ' comment on stdout (kept in the test's .log by automake)."""
    for line in str(msg).splitlines() or [""]:
        _out("# " + line)


note = diag


def ok(cond, name=""):
    """One test point; returns bool(cond)."""
    _tap["n"] += 1
    cond = bool(cond)
    if not cond:
        _tap["failed"] += 1
    _out("%s %d - %s" % ("ok" if cond else "not ok", _tap["n"], _clean(name)))
    return cond


def _short(v, limit=600):
    s = repr(v)
    return s if len(s) <= limit else s[:limit] + "...(%d chars)" % len(s)


def is_(got, expected, name=""):
    """ok(got == expected), with both shown when they differ."""
    r = ok(got == expected, name)
    if not r:
        diag("     got: " + _short(got))
        diag("expected: " + _short(expected))
        if isinstance(got, str) and isinstance(expected, str):
            k = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b),
                     min(len(got), len(expected)))
            diag("first difference at index %d: got %r, expected %r"
                 % (k, got[k:k + 20], expected[k:k + 20]))
    return r


def isnt(got, unexpected, name=""):
    r = ok(got != unexpected, name)
    if not r:
        diag("     got: " + _short(got) + " (must differ)")
    return r


def like(got, regex, name=""):
    r = ok(isinstance(got, str) and re.search(regex, got) is not None, name)
    if not r:
        diag("     got: " + _short(got))
        diag("    want: /%s/" % regex)
    return r


def skip(reason, count=1):
    for _ in range(count):
        _tap["n"] += 1
        _out("ok %d # skip %s" % (_tap["n"], _clean(reason)))


def skip_all(reason):
    """The whole file is skipped: '1..0 # SKIP reason', exit status 0."""
    _out("1..0 # SKIP %s" % _clean(reason))
    _tap["finished"] = True
    teardown()
    sys.exit(0)


def bail(reason):
    """'Bail out!': the test file cannot go on.  Exit status 1."""
    _out("Bail out! %s" % _clean(reason))
    _tap["finished"] = True
    _tap["failed"] += 1
    teardown()
    sys.exit(1)


def failed():
    return _tap["failed"]


def done():
    """Prints the plan when it was not announced; exits 0 only when every
    test passed and the count matches the plan."""
    _tap["finished"] = True
    n = _tap["n"]
    status = 0
    if _tap["planned"] is None:
        _out("1..%d" % n)
        if n == 0:
            status = 1
    elif _tap["planned"] != n:
        diag("planned %d tests but ran %d" % (_tap["planned"], n))
        status = 1
    if _tap["failed"]:
        diag("failed %d of %d tests" % (_tap["failed"], n))
        status = 1
    teardown()
    sys.exit(status)


def run(main):
    """Runs main(); an unexpected exception becomes a failed test point with
    the traceback as diagnostics, then done()."""
    try:
        main()
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - report anything
        ok(False, "unexpected exception: %s: %s" % (type(e).__name__, e))
        diag(traceback.format_exc())
        for fx in list(_fixtures):
            fx.dump_logs()
    done()


# ---------------------------------------------------------------------------
# Requirements
# ---------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------
# Processes and teardown
# ---------------------------------------------------------------------------

_fixtures = []
_PR_SET_PDEATHSIG = 1


def _child_setup():
    # runs in the child between fork and exec: die with the test
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # noqa: BLE001
        pass


def _popen(args, **kw):
    return subprocess.Popen(args, preexec_fn=_child_setup, start_new_session=True,
                            close_fds=True, **kw)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie counts as dead
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def read_pid(path, timeout=5):
    """The pid a test's script wrote to path, once it is there (None after timeout s)."""
    timeout = scaled(timeout)
    end = time.monotonic() + timeout
    for _ in range(int(timeout * 100) + 2):
        try:
            with open(path) as f:
                t = f.read().strip()
            if t:
                return int(t)
        except (OSError, ValueError):
            pass
        if time.monotonic() > end:
            return None
        time.sleep(0.01)
    return None


def wait_gone(pid, timeout):
    """True once process pid has exited (None counts as gone), within timeout s."""
    timeout = scaled(timeout)
    end = time.monotonic() + timeout
    for _ in range(int(timeout * 100) + 2):
        if pid is None or not _alive(pid):
            return True
        if time.monotonic() > end:
            break
        time.sleep(0.01)
    return not _alive(pid)


def script(fx, name, body):
    """A /bin/sh script in the fixture's temp dir, executable; its path."""
    p = fx.path(name)
    with open(p, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(p, stat.S_IRWXU)
    return p


HELD_SCRIPT = r"""#!/bin/sh
# A held model: says "NAME waiting ", then waits (at most HOLD s) until the
# test creates TAG.go in %(dir)s, which the test does only once it has seen
# what it waits for (the first token, heartbeats...); then says "released"
# ("unreleased" if the hold ran out).  The prompt is "TAG HOLD NAME".
IFS=' ' read -r tag hold name || true
case "$tag.$hold.$name" in *[!A-Za-z0-9_.-]*|.*|*..*|*.) echo "bad prompt" >&2; exit 2;; esac
case "$hold" in *[!0-9]*) echo "bad hold" >&2; exit 2;; esac
printf '%%s waiting ' "$name"
n=$((hold * 4))
while [ ! -e "%(dir)s/$tag.go" ] && [ "$n" -gt 0 ]; do
	sleep 0.25
	n=$((n - 1))
done
if [ -e "%(dir)s/$tag.go" ]; then printf 'released'; else printf 'unreleased'; fi
"""
_held_tags = [0]


class Held:
    """A held exec model (HELD_SCRIPT): it says a first token, then says the
    rest only when the test releases it, so a test proves by order, not by
    timing, that something reached the client while the model was still
    running: it releases the model only once it has seen that thing, and the
    answer then ends "released".  The script and its release files live in
    gate_dir (world-writable: the model may run as the web server's user)."""

    HOLD_S = 300                # how long a model waits to be released, at most (scaled)

    def __init__(self, fx, gate_dir=None, name="held.sh"):
        self.fx = fx
        self.dir = gate_dir or fx.path("gates")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o777)
        self.script = fx.path(name)
        if not os.path.exists(self.script):      # a running model reads it
            with open(self.script, "w") as f:
                f.write(HELD_SCRIPT % {"dir": self.dir})
            os.chmod(self.script, 0o755)

    def model(self, **kw):
        """The model's config section."""
        m = dict(Held.limits(), backend="exec", command=self.script, kill_grace_ms=500)
        m.update(kw)
        return m

    @staticmethod
    def limits():
        """The exec backend's limits for a held model: it may stay silent for
        as long as it is held (the defaults, 60 s silent and 300 s in all,
        would end a long hold on a busy machine with error timeout)."""
        hold = int(scaled(Held.HOLD_S))
        return {"idle_timeout": hold + 60, "max_duration": hold + 120}

    @staticmethod
    def tag(kind):
        """A fresh tag: the name of one release file."""
        _held_tags[0] += 1
        return "%s%d" % (kind, _held_tags[0])

    def prompt(self, tag, name, hold=None):
        """The prompt for a model held under tag, at most hold s (default
        HOLD_S, scaled) and answering with name."""
        return "%s %d %s" % (tag, scaled(self.HOLD_S) if hold is None else hold, name)

    @staticmethod
    def text(name, released=True):
        """The model's whole answer."""
        return "%s waiting %s" % (name, "released" if released else "unreleased")

    @staticmethod
    def first(res):
        """True once the client has the model's first token."""
        return any(" waiting" in t for t in res.stream().texts)

    def release(self, tag):
        """Lets every model held under tag say the rest; returns True."""
        p = os.path.join(self.dir, tag + ".go")
        with open(p, "w"):
            pass
        os.chmod(p, 0o644)
        return True


def _stop(proc, sig=signal.SIGTERM, wait=5.0):
    """Stops a Popen we started: sig, bounded wait, then SIGKILL to its
    process group (which holds only what it spawned).  Returns the exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=scaled(wait))
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)   # leftovers in its group
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    return proc.returncode


def teardown():
    for fx in list(_fixtures):
        fx.close()
    if _state_dir:
        shutil.rmtree(_state_dir, ignore_errors=True)


# chatstream's default spool is $STATE_DIRECTORY when set (else one under the
# install's localstatedir, which no test may make): every chatstream a test
# starts without spool_dir gets a fresh private one of its own (mode 0700).
_state_dir = None
if not os.environ.get("STATE_DIRECTORY"):
    _state_dir = tempfile.mkdtemp(prefix="chatstream-state-",
                                  dir="/tmp" if len(tempfile.gettempdir()) > 60 else None)
    os.environ["STATE_DIRECTORY"] = _state_dir


def _on_signal(signum, frame):
    _out("Bail out! killed by signal %d" % signum)
    teardown()
    os._exit(128 + signum)


atexit.register(teardown)
for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, _on_signal)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------------------
# The demo model's answer (contract: "Demo answer")
# ---------------------------------------------------------------------------

DEMO_TAIL = ("\n\nThis is chatstream's demo model, streaming token by token: "
             "naïve café, 日本語のテキスト, emoji 🎉🚀. Done.")
CONTROL = "ctl:\r\n\revent: x\ndata: y\n\nid: 9\x00\x1b[1m\x7f "
TOKEN_RE = re.compile(r'[ \t\r\n]*[^ \t\r\n]+|[ \t\r\n]+$')


def demo_text(prompt):
    """TEXT for prompt P (the content of the last user message)."""
    return "You said: " + prompt + DEMO_TAIL


def demo_tokens(prompt, control=False, max_tokens=None):
    """The tokens the demo model sends, in order: CONTROL first when
    control_chars is on, then re.findall(TOKEN_RE, TEXT), cut to max_tokens."""
    toks = TOKEN_RE.findall(demo_text(prompt))
    assert "".join(toks) == demo_text(prompt)
    if control:
        toks = [CONTROL] + toks
    if max_tokens is not None:
        toks = toks[:max_tokens]
    return toks


def word_count(*contents):
    """usage.prompt_tokens: whitespace-separated words over all contents.
    (Use ASCII whitespace in tests; Unicode spaces are not specified.)"""
    return sum(len([w for w in re.split(r"[ \t\r\n\f\v]+", c) if w]) for c in contents)


# ---------------------------------------------------------------------------
# Stream results
# ---------------------------------------------------------------------------

def _parse_header_blocks(raw):
    """curl -D output: one block per response (1xx first); returns the final
    one as (status, [(name, value)])."""
    text = raw.decode("latin-1")
    blocks = [b for b in re.split(r"\r?\n\r?\n", text) if b.strip()]
    status, headers = None, []
    for b in blocks:
        lines = b.split("\n")
        m = re.match(r"HTTP/[\d.]+ (\d{3})", lines[0].strip())
        if not m:
            continue
        st = int(m.group(1))
        hs = []
        for ln in lines[1:]:
            ln = ln.rstrip("\r")
            if ":" in ln:
                k, v = ln.split(":", 1)
                hs.append((k.strip(), v.strip()))
        if 100 <= st < 200:
            continue
        status, headers = st, hs
    return status, headers


class Response:
    """What a client saw: status, headers, body bytes, chunk arrival times,
    and the SSE parse of the body (sse)."""

    def __init__(self):
        self.status = None
        self.headers = []
        self.body = b""
        self.chunks = []          # (time.monotonic(), bytes)
        self.sse = SSEParser()
        self.returncode = None
        self.stderr = ""
        self.started = time.monotonic()
        self.timed_out = False

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None

    @property
    def events(self):
        return self.sse.events

    def stream(self):
        return StreamView(self.sse.events)


class StreamView:
    """chatstream's event sequence, decoded: meta, per-token texts, done or
    error, plus anything unexpected (so tests can check nothing extra came)."""

    def __init__(self, events):
        self.events = events
        self.types = [e.type for e in events]
        self.ids = [e.last_event_id for e in events]
        self.meta = None
        self.done = None
        self.error = None
        self.texts = []
        self.bad_json = []
        self.token_events = []
        for e in events:
            try:
                d = json.loads(e.data)
            except ValueError:
                self.bad_json.append(e)
                continue
            if e.type == "meta":
                self.meta = d if self.meta is None else self.meta
            elif e.type == "message":
                self.token_events.append(e)
                if isinstance(d, dict) and isinstance(d.get("text"), str):
                    self.texts.append(d["text"])
                else:
                    self.bad_json.append(e)
            elif e.type == "done":
                self.done = d
            elif e.type == "error":
                self.error = d

    @property
    def text(self):
        return "".join(self.texts)

    def ids_consecutive(self):
        """Every id is <stream id>.<n> (the meta event's id), n = 1, 2, 3, ..."""
        sid = (self.meta or {}).get("id") if isinstance(self.meta, dict) else None
        return sid is not None and \
            self.ids == ["%s.%d" % (sid, i) for i in range(1, len(self.ids) + 1)]


class CurlStream:
    """A running `curl -sS -N --no-buffer -D headerfile ...`; read() its
    stdout incrementally (chunks timestamped and fed to the SSE parser)."""

    _seq = 0

    def __init__(self, fx, url, method=None, body=None, headers=(), timeout=25,
                 extra=()):
        CurlStream._seq += 1
        n = CurlStream._seq
        self.fx = fx
        self.url = url
        self.res = Response()
        self.headerfile = fx.path("curl-%d.headers" % n)
        self.stderrfile = fx.path("curl-%d.stderr" % n)
        timeout = scaled(timeout)
        args = [CURL, "-sS", "-N", "--no-buffer", "-D", self.headerfile,
                "--max-time", "%g" % timeout]
        if body is not None:
            bodyfile = fx.path("curl-%d.body" % n)
            with open(bodyfile, "wb") as f:
                f.write(body if isinstance(body, bytes) else body.encode("utf-8"))
            args += ["--data-binary", "@" + bodyfile]
        if method:
            args += ["-X", method]
        for h in headers:
            args += ["-H", h]
        args += list(extra)
        args.append(url)
        self.args = args
        self._err = open(self.stderrfile, "wb")
        self.proc = _popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=self._err)
        fx._procs.append(self.proc)
        self.fd = self.proc.stdout.fileno()
        self.eof = False
        self.deadline = time.monotonic() + timeout + 5

    def read(self, timeout=1.0):
        """One chunk (bytes), b"" at EOF, None when nothing came in timeout."""
        if self.eof:
            return b""
        r, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not r:
            return None
        d = os.read(self.fd, 65536)
        t = time.monotonic()
        if not d:
            self.eof = True
            self.res.sse.close(t)
            return b""
        self.res.chunks.append((t, d))
        self.res.body += d
        self.res.sse.feed(d, t)
        return d

    def read_until(self, pred, timeout):
        """Reads until pred(res) is true or EOF or timeout; returns pred(res)."""
        end = time.monotonic() + scaled(timeout)
        for _ in range(1000000):
            if pred(self.res):
                return True
            left = end - time.monotonic()
            if left <= 0 or self.eof:
                return bool(pred(self.res))
            self.read(min(left, 0.5))
        return bool(pred(self.res))

    def finish(self, timeout=None):
        """Reads to EOF (bounded), waits for curl, parses the header file."""
        end = min(self.deadline, time.monotonic() + scaled(timeout if timeout else 60))
        for _ in range(10000000):
            if self.eof:
                break
            left = end - time.monotonic()
            if left <= 0:
                self.res.timed_out = True
                break
            self.read(min(left, 0.5))
        if not self.eof:
            self.kill()
        try:
            self.proc.wait(timeout=max(1.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
        self.res.returncode = self.proc.returncode
        self._collect()
        return self.res

    def kill(self):
        _stop(self.proc, signal.SIGKILL, wait=2)
        if not self.eof:
            self.eof = True
            self.res.sse.close()

    def _collect(self):
        try:
            self.proc.stdout.close()
        except OSError:
            pass
        try:
            self._err.close()
        except OSError:
            pass
        try:
            with open(self.headerfile, "rb") as f:
                self.res.status, self.res.headers = _parse_header_blocks(f.read())
        except OSError:
            pass
        try:
            with open(self.stderrfile, "rb") as f:
                self.res.stderr = f.read().decode("utf-8", "replace")
        except OSError:
            pass


# ---------------------------------------------------------------------------
# Fixture
# ---------------------------------------------------------------------------

class Chatstream:
    """chatstream running under `spawn-fcgi -n -s SOCK -- CHATSTREAM -c CONF`."""

    def __init__(self, fx, config_text, name):
        self.fx = fx
        self.name = name
        self.sock = fx.path(name + ".sock")
        self.conf = fx.write_config(config_text, name + ".conf")
        self.log = fx.path(name + ".log")
        self._logf = open(self.log, "ab")
        self.args = [SPAWN_FCGI, "-n", "-s", self.sock, "--", CHATSTREAM, "-c", self.conf]
        self.proc = _popen(self.args, cwd=fx.tmp, stdin=subprocess.DEVNULL,
                           stdout=self._logf, stderr=self._logf)
        fx._procs.append(self.proc)
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
        try:
            self._logf.close()
        except OSError:
            pass
        self._logf = open(self.log, "ab")
        self.proc = _popen(self.args, cwd=self.fx.tmp, stdin=subprocess.DEVNULL,
                           stdout=self._logf, stderr=self._logf)
        self.fx._procs.append(self.proc)
        self.pid = self._find_pid()
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
        rx = re.compile(regex)
        timeout = scaled(timeout)
        end = time.monotonic() + timeout
        for _ in range(int(timeout / 0.05) + 2):
            for ln in self.log_lines():
                if rx.search(ln):
                    return ln
            if time.monotonic() > end:
                return None
            time.sleep(0.05)
        return None

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


def crash_summary(lines):
    """The sanitizer's (or abort's) report of the last crash in a log, cut to
    its first line, the first frames of its first stack and its SUMMARY."""
    start = None
    for i, ln in enumerate(lines):
        if "ERROR: AddressSanitizer" in ln or "runtime error:" in ln or "ERROR: LeakSanitizer" in ln:
            start = i
    if start is None:
        return [ln for ln in lines[-3:] if ln.strip()]
    out = [lines[start].strip()]
    frames = 0
    for ln in lines[start + 1:]:
        s = ln.strip()
        if s.startswith("#") and frames < 4:
            out.append(s)
            frames += 1
        elif frames and not s.startswith("#"):
            break
    out += [ln.strip() for ln in lines[start:] if ln.startswith("SUMMARY:")][:1]
    return out


def _children(pid):
    out = []
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            out = [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def fcgi_params(method, path, content_type=None, content_length=None, extra=(),
                query=""):
    """The params lighttpd 1.4.69 sends for a request to MOUNT + path with
    this harness's lighttpd config (var.chatstream_mount without the trailing
    slash; observed: SCRIPT_NAME is the mount, PATH_INFO the rest, and
    CONTENT_LENGTH is always set).  content_length None: no CONTENT_LENGTH."""
    mount = MOUNT.rstrip("/")
    uri = MOUNT + path
    p = [
        ("CONTENT_LENGTH", str(content_length if content_length is not None else 0)),
        ("QUERY_STRING", query),
        ("REQUEST_URI", uri + ("?" + query if query else "")),
        ("REDIRECT_STATUS", "200"),
        ("SCRIPT_NAME", mount),
        ("PATH_INFO", "/" + path),
        ("SCRIPT_FILENAME", "/nonexistent" + mount),
        ("DOCUMENT_ROOT", "/nonexistent"),
        ("REQUEST_METHOD", method),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("SERVER_SOFTWARE", "chatstream-tests/fcgi.py"),
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("REQUEST_SCHEME", "http"),
        ("SERVER_PORT", "80"),
        ("SERVER_ADDR", "127.0.0.1"),
        ("SERVER_NAME", "127.0.0.1"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("REMOTE_PORT", "40000"),
        ("HTTP_HOST", "127.0.0.1"),
    ]
    if content_length is None:
        p = [kv for kv in p if kv[0] != "CONTENT_LENGTH"]
    if content_type is not None:
        p.append(("CONTENT_TYPE", content_type))
    p.extend(extra)
    return p


class Lighttpd:
    """lighttpd -D -f generated.conf on 127.0.0.1:PORT, mounting chatstream
    at /chat/ through `include SRCDIR/conf/lighttpd-chatstream.conf`.
    extra: more lines for the generated config (e.g. index-file.names).
    The document root is fx.path("www"); start() probes its /index.html, a
    placeholder unless the test put its own there first.  Put the files
    there before start(), never replace one afterwards: lighttpd's stat
    cache keeps a file's old size for about a second, and serves that many
    bytes of the new content."""

    def __init__(self, fx, chatstream_socket, extra=()):
        self.fx = fx
        self.proc = None
        self.port = None
        www = fx.path("www")
        os.makedirs(www, exist_ok=True)
        os.makedirs(fx.path("upload"), exist_ok=True)
        index = os.path.join(www, "index.html")
        if not os.path.exists(index):
            with open(index, "w") as f:
                f.write("ok\n")
        self.errorlog = fx.path("lighttpd-error.log")
        self.stderr = fx.path("lighttpd.stderr")
        self.snippet = os.path.join(SRCDIR, "conf", "lighttpd-chatstream.conf")
        self.socket = chatstream_socket
        self.conf = fx.path("lighttpd.conf")
        self.extra = list(extra)

    def _write_conf(self, port):
        q = json.dumps    # lighttpd strings take the same escapes for plain paths
        text = "\n".join([
            "# generated by tests/lib/harness.py",
            "server.bind = \"127.0.0.1\"",
            "server.port = %d" % port,
            "server.document-root = %s" % q(self.fx.path("www")),
            "server.errorlog = %s" % q(self.errorlog),
            "server.upload-dirs = ( %s )" % q(self.fx.path("upload")),
            "var.chatstream_mount = %s" % q(MOUNT.rstrip("/")),
            "var.chatstream_socket = %s" % q(self.socket),
            "include %s" % q(self.snippet),
        ] + self.extra + [""])
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self, tries=3):
        last = None
        for _ in range(tries):
            port = free_port()
            self._write_conf(port)
            errf = open(self.stderr, "ab")
            proc = _popen([LIGHTTPD, "-D", "-f", self.conf], cwd=self.fx.tmp,
                          stdin=subprocess.DEVNULL, stdout=errf, stderr=errf)
            errf.close()
            self.fx._procs.append(proc)
            ok_, last = wait_http(port, proc)
            if ok_:
                self.proc, self.port = proc, port
                return True, None
            _stop(proc, signal.SIGTERM, wait=3)
        return False, last

    def url(self, path=""):
        return "http://127.0.0.1:%d%s%s" % (self.port, MOUNT, path)

    def stop(self):
        return _stop(self.proc, signal.SIGTERM, wait=5)


def http_request(port, method, target, headers=(), body=None, timeout=10,
                 version="HTTP/1.0"):
    """A raw HTTP/1.0 request (Connection: close, body read to EOF) for
    bulk/odd requests; returns (status, [(name, value)], body bytes).
    headers: list of "Name: value" strings (sent as given)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    lines = ["%s %s %s" % (method, target, version), "Host: 127.0.0.1:%d" % port,
             "Connection: close"]
    lines += list(headers)
    if body is not None and not any(h.lower().startswith("content-length:") for h in headers):
        lines.append("Content-Length: %d" % len(body))
    req = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
    end = time.monotonic() + timeout
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(req)
        data = b""
        for _ in range(1000000):
            s.settimeout(max(0.01, end - time.monotonic()))
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            data += d
            if time.monotonic() > end:
                raise socket.timeout("HTTP response not finished in %ss" % timeout)
    finally:
        s.close()
    k = data.find(b"\r\n\r\n")
    if k < 0:
        raise OSError("no HTTP header end in %r" % data[:200])
    head, rbody = data[:k].decode("latin-1"), data[k + 4:]
    hl = head.split("\r\n")
    m = re.match(r"HTTP/[\d.]+ (\d{3})", hl[0])
    if not m:
        raise OSError("bad status line %r" % hl[0])
    hs = []
    for ln in hl[1:]:
        if ":" in ln:
            a, b = ln.split(":", 1)
            hs.append((a.strip(), b.strip()))
    return int(m.group(1)), hs, rbody


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
        cs = Chatstream(self, config_text, name)
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
        # clients first, then the front server, then the app
        for p in self._procs:
            if p.args and p.args[0] == CURL:
                _stop(p, signal.SIGKILL, wait=2)
        if self.lighttpd:
            self.lighttpd.stop()
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


BASE_GLOBALS = {
    "threads": 4,
    "max_body": 1048576,
    "heartbeat": 15,
    "shutdown_grace": 1,
    "retry_ms": 2500,
    # Nobody reading ends a stream at once, as on_disconnect says: the tests
    # of disconnects see it promptly.  Tests of the window itself (and of the
    # defaults) drop the key: config({"reconnect_window": None}).
    "reconnect_window": 0,
    "default_model": "demo",
}
DEMO_FAST = {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 0}
# The journal store config() asks for; redis_server.use_redis() fills it.
JOURNAL_DEFAULTS = {}


def _val(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def config(globals_=None, models=None):
    """A chatstream config text: BASE_GLOBALS updated by globals_ (a value of
    None drops the key), then one [model NAME] section per entry of models
    (a dict of options, or raw text).  A fast 'demo' model is added unless
    models names one."""
    g = dict(BASE_GLOBALS)
    globals_ = dict(globals_ or {})
    if "journal" not in globals_ and JOURNAL_DEFAULTS:
        for k, v in JOURNAL_DEFAULTS.items():
            globals_.setdefault(k, v)
        globals_["journal"] = JOURNAL_DEFAULTS["journal"]
    g.update(globals_)
    models = dict(models or {})
    models.setdefault("demo", DEMO_FAST)
    out = ["# chatstream test config, generated by tests/lib/harness.py\n"]
    for k, v in g.items():
        if v is not None:
            out.append("%s = %s\n" % (k, _val(v)))
    for name, opts in models.items():
        out.append("\n[model %s]\n" % name)
        if isinstance(opts, str):
            out.append(opts.strip() + "\n")
        else:
            for k, v in opts.items():
                out.append("%s = %s\n" % (k, _val(v)))
    return "".join(out)


# ---------------------------------------------------------------------------
# Shared checks
# ---------------------------------------------------------------------------

def check_stream(res, expected_text, finish="stop", model="demo", label="",
                 completion_tokens=None, prompt_tokens=None):
    """The assertions every successful stream must satisfy; returns the
    StreamView.  completion_tokens: expected count (None: the number of token
    events; False: not checked); prompt_tokens: expected count or None."""
    lb = (label + ": ") if label else ""
    sv = res.stream()
    is_(res.status, 200, lb + "status 200")
    ok(res.returncode == 0 and not res.timed_out,
       lb + "curl finished cleanly (rc=%s%s)" % (res.returncode, ", timed out" if res.timed_out else ""))
    ok(sv.ids_consecutive() and len(sv.ids) >= 2,
       lb + "every event has an id, 1..%d consecutive" % len(sv.ids))
    if not sv.ids_consecutive():
        diag("ids: %r" % sv.ids[:50])
    ok(sv.types[:1] == ["meta"], lb + "first event is meta")
    is_((sv.meta or {}).get("model"), model, lb + "meta.model is %s" % model)
    ok(sv.types[-1:] == ["done"], lb + "last event is done")
    mid = sv.types[1:-1]
    ok(all(t == "message" for t in mid), lb + "only unnamed (message) events between meta and done")
    if not all(t == "message" for t in mid):
        diag("types: %r" % sorted(set(sv.types)))
    ok(not sv.bad_json, lb + "every event's data is the expected JSON")
    for e in sv.bad_json[:3]:
        diag("bad event: %r" % e)
    is_(sv.text, expected_text, lb + "streamed text is exact")
    d = sv.done or {}
    is_(d.get("finish_reason"), finish, lb + "finish_reason %s" % finish)
    u = d.get("usage") if isinstance(d.get("usage"), dict) else {}
    if completion_tokens is None:
        completion_tokens = len(sv.texts)
    if completion_tokens is not False:
        is_(u.get("completion_tokens"), completion_tokens, lb + "usage.completion_tokens")
    if prompt_tokens is not None:
        is_(u.get("prompt_tokens"), prompt_tokens, lb + "usage.prompt_tokens")
    ok(isinstance(u.get("prompt_tokens"), int) and isinstance(u.get("total_tokens"), int)
       and u.get("total_tokens") == u.get("prompt_tokens", 0) + u.get("completion_tokens", 0),
       lb + "usage.total_tokens = prompt + completion")
    return sv


# ---------------------------------------------------------------------------
# Other front servers: Apache httpd and nginx, each started in the foreground
# with a generated config of its own (ServerRoot / prefix in the temp dir,
# 127.0.0.1:PORT only) that includes the shipped conf/ snippet under test.
# Added for the deployment tests (tests/t_front_*.py); nothing above uses it.
# ---------------------------------------------------------------------------

APACHE2 = os.environ.get("APACHE2") or "/usr/sbin/apache2"
APACHE_MODULES = os.environ.get("APACHE_MODULES") or "/usr/lib/apache2/modules"
APACHE_MIME_TYPES = os.environ.get("APACHE_MIME_TYPES") or "/etc/mime.types"
NGINX = os.environ.get("NGINX") or "/usr/sbin/nginx"
NGINX_FASTCGI_PARAMS = os.environ.get("NGINX_FASTCGI_PARAMS") or "/etc/nginx/fastcgi_params"
# the unprivileged user the front servers' workers run as (Debian's)
WEB_USER = os.environ.get("WEB_USER") or "www-data"


def executable(path):
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def require_front(*paths):
    """Skips the whole file when one of paths (a front server's binary or
    module) or curl/spawn-fcgi is missing; bails out when the chatstream
    binary or a shipped snippet is missing (a failure, not a skip)."""
    missing = [p for p in list(paths) + [CURL, SPAWN_FCGI] if not os.path.exists(p)]
    if missing:
        skip_all("missing: " + ", ".join(missing))
    if not executable(CHATSTREAM):
        bail("chatstream binary not found or not executable: %s (set CHATSTREAM)" % CHATSTREAM)


def snippet_path(name):
    """SRCDIR/conf/NAME; bails out when it is not there."""
    p = os.path.join(SRCDIR, "conf", name)
    if not os.path.isfile(p):
        bail("shipped snippet not found: %s (set SRCDIR)" % p)
    return p


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def wait_text(read, regex, timeout=5.0):
    """The first line of read() (a callable returning text) that matches
    regex, polling (bounded); None if none came in timeout."""
    rx = re.compile(regex)
    timeout = scaled(timeout)
    end = time.monotonic() + timeout
    for _ in range(int(timeout / 0.02) + 2):
        for ln in read().splitlines():
            if rx.search(ln):
                return ln
        if time.monotonic() > end:
            return None
        time.sleep(0.02)
    return None


def web_user_ids():
    """(uid, gid) of WEB_USER, or None when there is no such user."""
    import pwd
    try:
        pw = pwd.getpwnam(WEB_USER)
    except KeyError:
        return None
    return pw.pw_uid, pw.pw_gid


def share_with_web_user(fx, *paths):
    """Lets the front server's unprivileged workers reach the temp dir (0755)
    and each of paths (sockets, scripts: 0666/0755 as fits).  The temp dir
    holds only throw-away test files."""
    os.chmod(fx.tmp, 0o755)
    for p in paths:
        if os.path.isdir(p):
            os.chmod(p, 0o777)
        elif os.access(p, os.X_OK):
            os.chmod(p, 0o755)
        else:
            os.chmod(p, 0o666)


def wait_http(port, proc, target="/index.html", timeout=10):
    """GET target on 127.0.0.1:port until it answers 200 (bounded);
    (True, None) or (False, why)."""
    timeout = scaled(timeout)
    end = time.monotonic() + timeout
    last = None
    for _ in range(int(timeout / 0.05) + 2):
        if proc.poll() is not None:
            return False, "exited with status %s" % proc.returncode
        try:
            st, _, _ = http_request(port, "GET", target, timeout=2)
            if st == 200:
                return True, None
            last = "status %s" % st
        except OSError as e:
            last = str(e)
        if time.monotonic() > end:
            break
        time.sleep(0.05)
    return False, last


class ChatstreamTCP(Chatstream):
    """chatstream under `spawn-fcgi -n -a 127.0.0.1 -p PORT -- CHATSTREAM -c CONF`;
    .sock is the ("127.0.0.1", PORT) address (fcgi.request takes either)."""

    def __init__(self, fx, config_text, name, port=None):
        self.fx = fx
        self.name = name
        self.port = port or free_port()
        self.sock = ("127.0.0.1", self.port)
        self.conf = fx.write_config(config_text, name + ".conf")
        self.log = fx.path(name + ".log")
        self._logf = open(self.log, "ab")
        self.args = [SPAWN_FCGI, "-n", "-a", "127.0.0.1", "-p", str(self.port), "--",
                     CHATSTREAM, "-c", self.conf]
        self.proc = _popen(self.args, cwd=fx.tmp, stdin=subprocess.DEVNULL,
                           stdout=self._logf, stderr=self._logf)
        fx._procs.append(self.proc)
        self.pid = self._find_pid()


class WebServer:
    """What the front-server fixtures below share: start the server on a free
    loopback port (bounded retries), its URLs, its logs, stop.  Subclasses set
    self.dir, conf, stderr, errorlog, mount, fx, and provide _write_conf(port)
    and _argv()."""

    stop_wait = 5

    def start(self, tries=3):
        last = None
        for _ in range(tries):
            port = free_port()
            self._write_conf(port)
            with open(self.stderr, "ab") as errf:
                proc = _popen(self._argv(), cwd=self.dir,
                              stdin=subprocess.DEVNULL, stdout=errf, stderr=errf)
            self.fx._procs.append(proc)
            ok_, last = wait_http(port, proc)
            if ok_:
                self.proc, self.port = proc, port
                return True, None
            _stop(proc, signal.SIGTERM, wait=5)
        return False, "%s; %s" % (last, read_text(self.stderr)[-800:] + read_text(self.errorlog)[-800:])

    def url(self, path="", mount=None):
        return "http://127.0.0.1:%d%s%s" % (self.port, self.mount if mount is None else mount,
                                            path)

    def log_text(self):
        return read_text(self.errorlog)

    def logs(self):
        return [self.errorlog, self.stderr]

    def stop(self):
        return _stop(self.proc, signal.SIGTERM, wait=self.stop_wait)


class Apache(WebServer):
    """`apache2 -D FOREGROUND -f generated.conf`: its own ServerRoot,
    DefaultRuntimeDir, PidFile and ErrorLog in DIR (a subdirectory of the
    temp dir), Listen 127.0.0.1:PORT, `User WEB_USER`, `<Directory />
    Require all denied` as Debian has it, only the modules named (e.g.
    "mpm_event", "authz_core", "proxy", "proxy_fcgi"), then body: the
    test's lines, typically Defines and an Include of the shipped snippet.
    body may hold {port} and {dir}.  url(path, mount) is http://127.0.0.1:PORT
    + mount + path."""

    def __init__(self, fx, modules, body, name="apache", mount=MOUNT, loglevel="info"):
        self.fx = fx
        self.name = name
        self.modules = list(modules)
        self.body = body
        self.mount = mount
        self.loglevel = loglevel
        self.dir = fx.path(name)
        os.makedirs(os.path.join(self.dir, "www"), exist_ok=True)
        with open(os.path.join(self.dir, "www", "index.html"), "w") as f:
            f.write("ok\n")
        self.conf = os.path.join(self.dir, "httpd.conf")
        self.errorlog = os.path.join(self.dir, "error.log")
        self.stderr = os.path.join(self.dir, "stderr.log")
        self.proc = None
        self.port = None

    def module_paths(self):
        return [os.path.join(APACHE_MODULES, "mod_%s.so" % m) for m in self.modules]

    def _write_conf(self, port):
        d = self.dir
        lines = [
            "# generated by tests/lib/harness.py (Apache fixture)",
            'ServerRoot "%s"' % d,
            'DefaultRuntimeDir "%s"' % d,
            'PidFile "%s/httpd.pid"' % d,
            'ErrorLog "%s"' % self.errorlog,
            "LogLevel %s" % self.loglevel,
            "Listen 127.0.0.1:%d" % port,
            "ServerName 127.0.0.1",
            "User %s" % WEB_USER,
            "Group %s" % WEB_USER,
        ]
        lines += ['LoadModule %s_module "%s"' % (m, p)
                  for m, p in zip(self.modules, self.module_paths())]
        if "mime" in self.modules:
            lines.append('TypesConfig "%s"' % APACHE_MIME_TYPES)
        lines += [
            'DocumentRoot "%s/www"' % d,
            "<Directory />",
            "    AllowOverride None",
            "    Require all denied",
            "</Directory>",
            '<Directory "%s/www">' % d,
            "    Require all granted",
            "</Directory>",
            "",
            self.body.replace("{port}", str(port)).replace("{dir}", d),
            "",
        ]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines))

    def check_syntax(self):
        """apache2 -t on the generated config: (ok, output)."""
        self._write_conf(self.port or 8)
        p = subprocess.run([APACHE2, "-t", "-f", self.conf], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        return p.returncode == 0, p.stdout.decode("utf-8", "replace")

    # SIGTERM: the parent stops its children (and mod_fcgid's processes)
    stop_wait = 8

    def _argv(self):
        return [APACHE2, "-D", "FOREGROUND", "-f", self.conf]


class Nginx(WebServer):
    """`nginx -p DIR -c DIR/nginx.conf -e DIR/error.log -g 'daemon off;'`:
    master + 1 worker as WEB_USER, pid, logs and temp paths in DIR, a copy
    of Debian's stock fastcgi_params next to the config (so the snippet's
    `include fastcgi_params;` finds the same file it finds in /etc/nginx),
    http_body inside http {} (e.g. the upstream the snippet names) and
    server_body inside server { listen 127.0.0.1:PORT; } (e.g. an include
    of the snippet).  Both may hold {port} and {dir}."""

    def __init__(self, fx, http_body, server_body, name="nginx", mount=MOUNT):
        self.fx = fx
        self.name = name
        self.http_body = http_body
        self.server_body = server_body
        self.mount = mount
        self.dir = fx.path(name)
        for sub in ("www", "tmp", "logs"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        with open(os.path.join(self.dir, "www", "index.html"), "w") as f:
            f.write("ok\n")
        shutil.copyfile(NGINX_FASTCGI_PARAMS, os.path.join(self.dir, "fastcgi_params"))
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.errorlog = os.path.join(self.dir, "error.log")
        self.stderr = os.path.join(self.dir, "stderr.log")
        self.proc = None
        self.port = None

    def _write_conf(self, port):
        d = self.dir

        def sub(t):
            return t.replace("{port}", str(port)).replace("{dir}", d)

        tmp = os.path.join(d, "tmp")
        text = "\n".join([
            "# generated by tests/lib/harness.py (nginx fixture)",
            "user %s;" % WEB_USER,
            "worker_processes 1;",
            "pid %s/nginx.pid;" % d,
            "error_log %s info;" % self.errorlog,
            "events { worker_connections 1024; }",
            "http {",
            "    access_log %s/access.log;" % d,
            "    default_type application/octet-stream;",
            "    client_body_temp_path %s/body;" % tmp,
            "    fastcgi_temp_path %s/fastcgi;" % tmp,
            "    proxy_temp_path %s/proxy;" % tmp,
            "    uwsgi_temp_path %s/uwsgi;" % tmp,
            "    scgi_temp_path %s/scgi;" % tmp,
            sub(self.http_body),
            "    server {",
            "        listen 127.0.0.1:%d;" % port,
            "        server_name localhost;",
            "        root %s/www;" % d,
            sub(self.server_body),
            "    }",
            "}",
            "",
        ])
        with open(self.conf, "w") as f:
            f.write(text)

    # SIGTERM is nginx's fast shutdown (SIGQUIT would wait for open streams)
    def _argv(self):
        return [NGINX, "-p", self.dir, "-c", self.conf, "-e", self.errorlog,
                "-g", "daemon off;"]


class LighttpdConf(WebServer):
    """`lighttpd -D -f generated.conf` on 127.0.0.1:PORT with body (the
    test's lines: vars and an include of a shipped snippet; may hold {port}
    and {dir}) -- for setups the Lighttpd fixture above does not cover
    (bin-path, other mounts, other timeouts)."""

    def __init__(self, fx, body, name="lighttpd", mount=MOUNT):
        self.fx = fx
        self.name = name
        self.body = body
        self.mount = mount
        self.dir = fx.path(name)
        for sub in ("www", "upload"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        with open(os.path.join(self.dir, "www", "index.html"), "w") as f:
            f.write("ok\n")
        self.conf = os.path.join(self.dir, "lighttpd.conf")
        self.errorlog = os.path.join(self.dir, "error.log")
        self.stderr = os.path.join(self.dir, "stderr.log")
        self.proc = None
        self.port = None

    def _write_conf(self, port):
        d = self.dir
        q = json.dumps
        text = "\n".join([
            "# generated by tests/lib/harness.py (LighttpdConf fixture)",
            'server.bind = "127.0.0.1"',
            "server.port = %d" % port,
            "server.document-root = %s" % q(os.path.join(d, "www")),
            "server.errorlog = %s" % q(self.errorlog),
            "server.upload-dirs = ( %s )" % q(os.path.join(d, "upload")),
            self.body.replace("{port}", str(port)).replace("{dir}", d),
            "",
        ])
        with open(self.conf, "w") as f:
            f.write(text)

    def _argv(self):
        return [LIGHTTPD, "-D", "-f", self.conf]

    def log_text(self):
        # lighttpd -D passes the stderr of what it spawns (bin-path) to its own
        return read_text(self.errorlog) + read_text(self.stderr)


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
        cs = ChatstreamTCP(self, config_text, name)
        self.chatstreams.append(cs)
        ready, info = cs.wait_ready()
        if not ready or cs.pid is None:
            diag("chatstream did not come up: %s" % info)
            diag("command: %s" % " ".join(cs.args))
            diag("log:\n" + cs.log_text()[-4000:])
            bail("chatstream did not start")
        return cs

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

    def close(self):
        if self.closed:
            return
        if _tap["failed"] and not _tap.get("dumped"):
            _tap["dumped"] = True
            self.dump_logs()
        for p in self._procs:
            if p.args and p.args[0] == CURL:
                _stop(p, signal.SIGKILL, wait=2)
        for fr in self.fronts:
            fr.stop()
        Fixture.close(self)


def todo_ok(cond, name, reason):
    """A TAP TODO test point ('# TODO reason'): automake's tap-driver counts
    a failure as XFAIL (the suite passes) and a pass as XPASS (the suite
    fails, so the TODO gets removed once the cause is fixed)."""
    _tap["n"] += 1
    cond = bool(cond)
    _out("%s %d - %s # TODO %s" % ("ok" if cond else "not ok", _tap["n"], _clean(name),
                                   _clean(reason)))
    return cond
