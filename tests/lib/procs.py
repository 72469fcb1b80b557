# SPDX-License-Identifier: ISC
"""procs.py: the processes a test starts: each one in its own process group,
dying with the test (PR_SET_PDEATHSIG), stopped with a bounded wait, and
all of them torn down at exit and on SIGTERM/SIGINT/SIGHUP (every fixture
in _fixtures is closed); pids, free ports, small scripts.
"""

import atexit
import ctypes
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

from tap import _out
from testenv import scaled


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


def _children(pid):
    out = []
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            out = [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out
