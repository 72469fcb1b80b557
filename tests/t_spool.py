#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_spool.py: the file journal's spool as another local user would attack it.

- A spool another user made first (owned by nobody, mode 0777) holding a
  forged ended journal and <id>.tmp -> a file of ours: chatstream refuses to
  start (FastCGI and CGI: exit 1, saying why), --check-config fails, and the
  file is unchanged afterwards (the sweeper would have written through it).
- Its own spool open to others (0777), a symlink, a file: refused alike.
- A missing spool is made, mode 0700, and used.
- Without spool_dir, the spool is $STATE_DIRECTORY, else $RUNTIME_DIRECTORY.
- DELETE with a symlink planted as <id>.cancel does not follow it.
Runs as root (chown to nobody); straight FastCGI (fcgi.py), no front server."""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import fcgi  # noqa: E402
from harness import (CHATSTREAM, SPAWN_FCGI, Fixture, _popen, _stop, config,  # noqa: E402
                     diag, fcgi_params, is_, like, ok, require_tools, run, skip)

NOBODY = 65534
ID = "ForgedForgedForged01"
# What another user wrote: a finished stream anyone may read.
FORGED = ("0 stream 13\n\nevil\n1700000000\n"
          "1 done 41\nid: 1\nevent: done\ndata: {\"forged\":1}\n\n")


def cs_run(args, env=None, timeout=20):
    e = dict(os.environ)
    e.pop("CHATSTREAM_CONF", None)
    e.update(env or {})
    p = subprocess.run([CHATSTREAM] + args, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout, env=e)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def start(fx, conf, name):
    """chatstream under spawn-fcgi; (process, log path)."""
    log = fx.path(name + ".log")
    with open(log, "ab") as f:
        p = _popen([SPAWN_FCGI, "-n", "-s", fx.path(name + ".sock"), "--", CHATSTREAM,
                    "-c", conf], cwd=fx.tmp, stdin=subprocess.DEVNULL, stdout=f, stderr=f)
    fx._procs.append(p)
    return p, log


def wait_exit(p, timeout):
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def refused(fx, spool, why, label, ttl=300):
    """chatstream with spool_dir = spool: --check-config, FastCGI and CGI all
    refuse it, naming why."""
    conf = fx.write_config(config({"spool_dir": spool, "journal_ttl": ttl}),
                           label.replace(" ", "_").replace("'", "") + ".conf")
    rc, out, err = cs_run(["-c", conf, "--check-config"])
    ok(rc == 1 and why in err, "%s: --check-config fails (rc %d): %s" % (label, rc, err.strip()))
    p, log = start(fx, conf, label.replace(" ", "_").replace("'", ""))
    rc = wait_exit(p, 8)
    ok(rc not in (None, 0), "%s: chatstream refuses to start (exit status %s)" % (label, rc))
    like(read(log) or "", re.escape(why) + ".*not starting", "%s: ... and says why" % label)
    if rc is None:
        _stop(p)
    rc, out, err = cs_run([], env={"CHATSTREAM_CONF": conf, "REQUEST_METHOD": "GET",
                                   "PATH_INFO": "/health", "GATEWAY_INTERFACE": "CGI/1.1"})
    ok(rc == 1 and out == "", "%s: in CGI mode too (exit %d, no response)" % (label, rc))


def planted(fx):
    """A spool someone else made first (0777), with a forged ended journal
    and <id>.tmp -> a file of ours; journal_ttl 1, so a sweeper would expire
    the forged stream at once, writing <id>.tmp."""
    spool = fx.path("taken")
    os.makedirs(spool)
    os.chown(spool, NOBODY, NOBODY)
    os.chmod(spool, 0o777)
    victim = fx.path("victim")
    with open(victim, "w") as f:
        f.write("precious\n")
    j = os.path.join(spool, ID)
    with open(j, "w") as f:
        f.write(FORGED)
    os.chmod(j, 0o400)
    os.lchown(j, NOBODY, NOBODY)
    os.symlink(victim, os.path.join(spool, ID + ".tmp"))
    os.lchown(os.path.join(spool, ID + ".tmp"), NOBODY, NOBODY)
    refused(fx, spool, "belongs to uid %d" % NOBODY, "another user's spool", ttl=1)
    is_(read(victim), "precious\n", "the file <id>.tmp pointed to is unchanged")
    ok(os.path.islink(os.path.join(spool, ID + ".tmp")) and os.path.exists(j),
       "nothing in that spool was touched")


def fcgi_post(sock, model):
    body = json.dumps({"prompt": "x", "model": model}).encode()
    st, hs, rbody, _ = fcgi.request(sock, fcgi_params(
        "POST", "", "application/json", len(body),
        extra=[("HTTP_ACCEPT", "application/json")]), body, timeout=10)
    m = re.search(r'"id":"([A-Za-z0-9_-]+)"', rbody.decode("utf-8", "replace"))
    return st, m.group(1) if m else None


def default_spool(fx):
    """No spool_dir: $STATE_DIRECTORY, else $RUNTIME_DIRECTORY (systemd's)."""
    for var in ("STATE_DIRECTORY", "RUNTIME_DIRECTORY"):
        d = fx.path(var.lower())
        os.makedirs(d, mode=0o700)
        saved = {k: os.environ.pop(k, None) for k in ("STATE_DIRECTORY", "RUNTIME_DIRECTORY")}
        os.environ[var] = d
        try:
            cs = fx.start_chatstream(config({"spool_dir": None}), var.lower())
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None)
                if v is not None:
                    os.environ[k] = v
        st, sid = fcgi_post(cs.sock, "demo")
        ok(st == 202 and sid and os.path.exists(os.path.join(d, sid)),
           "no spool_dir, $%s set: the stream's journal is in it (status %s)" % (var, st))
        cs.stop()


def cancel_symlink(fx):
    spool = fx.path("spool")
    cs = fx.start_chatstream(config({"spool_dir": spool}, {
        "slow": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 2,
                 "on_disconnect": "continue"}}), "own")
    st = os.stat(spool)
    ok(st.st_mode & 0o777 == 0o700 and st.st_uid == os.geteuid(),
       "a missing spool is made, this user's, mode 0700 (got %o)" % (st.st_mode & 0o777))
    st, sid = fcgi_post(cs.sock, "slow")
    is_(st, 202, "a stream in it (202)")
    target = fx.path("made-by-cancel")
    os.symlink(target, os.path.join(spool, "%s.cancel" % sid))
    fcgi.request(cs.sock, fcgi_params("DELETE", "streams/%s" % sid), b"", timeout=10)
    ok(not os.path.exists(target), "DELETE: a symlink planted as <id>.cancel is not followed")
    os.unlink(os.path.join(spool, "%s.cancel" % sid))
    fcgi.request(cs.sock, fcgi_params("DELETE", "streams/%s" % sid), b"", timeout=10)
    cs.stop()


def main():
    require_tools()
    fx = Fixture("spool")
    if os.geteuid() != 0:
        skip("needs root to make another user's spool", 6)
    else:
        planted(fx)
    spool = fx.path("open")
    os.makedirs(spool)
    os.chmod(spool, 0o777)
    refused(fx, spool, "mode 0777", "an open spool")
    good = fx.path("good")
    os.makedirs(good, mode=0o700)
    os.symlink(good, fx.path("link"))
    refused(fx, fx.path("link"), "symbolic link", "a symlinked spool")
    cancel_symlink(fx)
    default_spool(fx)


run(main)
