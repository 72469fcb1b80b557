# SPDX-License-Identifier: ISC
"""redis_server.py: a real redis-server (Debian's) for the tests, on a
loopback port of its own in the fixture's temp dir, with no persistence, and
the switch that makes harness.config() write `journal = redis`.

    rs = RedisServer(fx).start()     # bails when redis-server cannot start
    use_redis(rs)                    # every config() from here journals to it
    rs.stop(); rs.start()            # same port: "Redis went away, came back"
    rs.cli("KEYS", "*")              # a command's reply, via redis-cli

The server is one of the fixture's processes, so teardown stops it.
"""

import os
import shutil
import socket
import subprocess
import time

import harness
from harness import bail, diag, free_port, skip_all

REDIS_SERVER = (os.environ.get("REDIS_SERVER") or shutil.which("redis-server") or
                "/usr/bin/redis-server")
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


def built_with_redis():
    """True when the chatstream under test has the Redis store (configure
    found hiredis): it then accepts `journal = redis` in --check-config."""
    path = os.path.join("/tmp", "cs-redis-probe-%d.conf" % os.getpid())
    with open(path, "w") as f:
        f.write(harness.config({"journal": "redis"}))
    try:
        r = subprocess.run([harness.CHATSTREAM, "--check-config", "-c", path],
                           capture_output=True, timeout=10)
        return r.returncode == 0
    finally:
        os.unlink(path)


class RedisServer:
    def __init__(self, fx, password=None, name="redis"):
        self.fx = fx
        self.name = name
        self.password = password
        self.port = free_port()
        self.dir = fx.path(name)
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.log = os.path.join(self.dir, "redis.log")

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self, timeout=10):
        args = [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port),
                "--dir", self.dir, "--save", "", "--appendonly", "no",
                "--logfile", self.log, "--daemonize", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = harness._popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.fx._procs.append(self.proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if self.cli("PING").strip() == "PONG":
                    return self
            except (OSError, subprocess.SubprocessError):
                pass
            time.sleep(0.05)
        diag("redis-server did not come up; its log:\n" + self.log_text()[-2000:])
        bail("redis-server did not start")

    def stop(self):
        """Stops the server at once (SIGKILL: as if its host went away)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        # until the port is free again, a restart would fail
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            s = socket.socket()
            try:
                s.connect(("127.0.0.1", self.port))
            except OSError:
                return
            finally:
                s.close()
            time.sleep(0.05)

    def cli(self, *args, timeout=5):
        cmd = [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port)]
        env = dict(os.environ)
        if self.password:
            env["REDISCLI_AUTH"] = self.password
        r = subprocess.run(cmd + [str(a) for a in args], capture_output=True, timeout=timeout,
                           env=env)
        return r.stdout.decode("utf-8", "replace")

    def log_text(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def use_redis(rs, prefix="cs-test:"):
    """From now on harness.config() writes `journal = redis` at rs (unless a
    test sets journal itself, e.g. to off)."""
    harness.JOURNAL_DEFAULTS.clear()
    harness.JOURNAL_DEFAULTS.update({"journal": "redis", "redis_address": rs.address,
                                     "redis_prefix": prefix})


def journal_from_env(fx):
    """CS_TEST_JOURNAL=redis (set by the t_*_redis.py wrappers): start a
    redis-server and journal every stream of this test file to it.  Skips
    the whole file when chatstream was built without the Redis store."""
    if os.environ.get("CS_TEST_JOURNAL") != "redis":
        return None
    if not built_with_redis():
        skip_all("chatstream was built without the Redis store (configure --with-redis)")
    rs = RedisServer(fx).start()
    use_redis(rs)
    diag("journal = redis at %s" % rs.address)
    return rs
