# SPDX-License-Identifier: ISC
"""multiproc.py: several chatstream processes accepting on one FastCGI socket,
as `spawn-fcgi -F N`, mod_fcgid or a systemd socket with several services
run them; and Prometheus text parsing for the tests of /metrics.

Host makes the listening unix socket itself and starts each process with it
on fd 0 (what spawn-fcgi does), each with its own log, so one process can be
killed and another started on the same socket while the rest serve on.

Limits: unix sockets only; processes are stopped by their own pids."""

import re
import signal
import socket
import time

from harness import CHATSTREAM, _alive, _popen, _stop, diag, fcgi_params, scaled
import fcgi


class Host:
    """n chatstream processes on one socket, sharing one config."""

    def __init__(self, fx, config_text, n, name="host"):
        self.fx = fx
        self.name = name
        self.sock = fx.path(name + ".sock")
        self.conf = fx.write_config(config_text, name + ".conf")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.sock)
        self.listener.listen(128)
        self.procs = []
        self.logs = []
        self.started = 0
        self.wanted = []             # the processes meant to be running
        fx.on_close(self.stop)
        for _ in range(n):
            self.start_one()

    def start_one(self):
        """Starts one more process on the socket; returns its Popen."""
        log = self.fx.path("%s-%d.log" % (self.name, self.started))
        self.started += 1
        with open(log, "ab") as lf:
            p = _popen([CHATSTREAM, "-c", self.conf], cwd=self.fx.tmp,
                       stdin=self.listener.fileno(), stdout=lf, stderr=lf)
        self.fx._procs.append(p)
        self.procs.append(p)
        self.logs.append(log)
        self.wanted.append(p)
        return p

    def live(self):
        return [p for p in self.procs if p.poll() is None and _alive(p.pid)]

    def kill_one(self, sig=signal.SIGKILL):
        """Stops the first live process with sig and waits for it to end."""
        p = self.live()[0]
        self.wanted.remove(p)
        _stop(p, sig, wait=scaled(5))
        return p

    def request(self, params, body=b"", timeout=20):
        return fcgi.request(self.sock, params, body, timeout=scaled(timeout))

    def scrape(self, remote_addr=None):
        """GET /metrics over FastCGI; (status, body text)."""
        params = fcgi_params("GET", "metrics")
        if remote_addr is not None:
            params = [kv for kv in params if kv[0] != "REMOTE_ADDR"]
            params.append(("REMOTE_ADDR", remote_addr))
        st, _, body, _ = self.request(params)
        return st, body.decode("utf-8", "replace")

    def wait_ready(self, timeout=10):
        """Every process is up: each has written its start-up log line."""
        end = time.monotonic() + scaled(timeout)
        while time.monotonic() < end:
            if any(p.poll() is not None for p in self.procs if p in self.wanted):
                break
            if all(_has(log, "serving FastCGI") for log in self.logs_of_live()):
                return True
            time.sleep(0.05)
        self.dump()
        return False

    def logs_of_live(self):
        return [self.logs[i] for i, p in enumerate(self.procs) if p.poll() is None]

    def log_text(self, i):
        try:
            with open(self.logs[i], "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def dump(self):
        for i in range(len(self.procs)):
            diag("--- %s process %d ---\n%s" % (self.name, i, self.log_text(i)[-2000:]))

    def stop(self):
        for p in self.procs:
            _stop(p, signal.SIGTERM, wait=5)
        try:
            self.listener.close()
        except OSError:
            pass


def _has(path, text):
    try:
        with open(path, "rb") as f:
            return text.encode() in f.read()
    except OSError:
        return False


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """Prometheus text format -> {(name, frozenset(labels.items())): float}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m is None:
            raise ValueError("not a sample line: %r" % line)
        labels = frozenset(_LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def get(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(after, before):
    """after - before, per sample."""
    return {k: v - before.get(k, 0.0) for k, v in after.items()}
