# SPDX-License-Identifier: ISC
"""resume_util.py: helpers shared by the resumable-stream tests
(t_resume.py, t_resume_procs.py): events as (id, type, data), exec scripts
that write their pid, bounded waits for a process to go, reading several
curl streams at once with true arrival times, another lighttpd in front of a
given chatstream, chatstream run as another user, and a diagnosis of
journals chatstream could not create.

Limits: every wait is bounded in count and time; nothing here starts a
process except through harness (which tears it down)."""

import json
import os
import re
import select
import subprocess
import time

from harness import (CHATSTREAM, SPAWN_FCGI, Chatstream, CurlStream, LighttpdConf,
                     _alive, bail, diag, free_port, _popen, read_pid, script,
                     scaled, snippet_path, wait_gone)


STREAM_EVENT_ID = re.compile(r"^([A-Za-z0-9_-]{16,64})\.([0-9]+)$")


def evlist(events):
    """(id field or None, type, data) per event; the id is the event's own
    `id:` line, not the parser's persisting last event id.  chatstream's ids
    are <stream id>.<n>: when every id has that form and names one stream,
    the ids given are the numbers n (as strings), so tests compare positions;
    otherwise the ids are given as sent (and compare unequal)."""
    out = []
    for e in events:
        ids = [v for k, v in e.fields if k == "id"]
        out.append((ids[-1] if ids else None, e.type, e.data))
    found = [STREAM_EVENT_ID.match(i) for i, _, _ in out if i is not None]
    if found and all(found) and len(set(m.group(1) for m in found)) == 1:
        out = [(STREAM_EVENT_ID.match(i).group(2) if i is not None else None, t, d)
               for i, t, d in out]
    return out


def texts_of(evs):
    """The token texts of an evlist()."""
    out = []
    for _, t, d in evs:
        if t == "message":
            try:
                out.append(json.loads(d)["text"])
            except (ValueError, KeyError, TypeError):
                out.append("<bad %r>" % d)
    return out


def json_of(data):
    try:
        v = json.loads(data)
    except (TypeError, ValueError):
        return {}
    return v if isinstance(v, dict) else {}


def meta_of(res):
    """The data of the first meta event of a Response, as a dict."""
    for e in res.events:
        if e.type == "meta":
            return json_of(e.data)
    return {}


def no_id(event):
    return all(k != "id" for k, _ in event.fields)


def n_events(res):
    return len(res.events)


def stream_path(url):
    """/chat/streams/ID -> streams/ID (paths relative to the /chat/ mount)."""
    m = re.match(r"^/chat/(streams/[A-Za-z0-9_-]+)$", url or "")
    return m.group(1) if m else "streams/invalid-url"


def read_together(streams, timeout):
    """Reads several CurlStreams as their data comes (one select over all),
    so each chunk's time is its arrival time; until all are at EOF (or
    timeout s, scaled)."""
    end = time.monotonic() + scaled(timeout)
    for _ in range(1000000):
        live = [s for s in streams if not s.eof]
        left = end - time.monotonic()
        if not live or left <= 0:
            return
        r, _, _ = select.select([s.fd for s in live], [], [], min(left, 0.5))
        for s in live:
            if s.fd in r:
                s.read(0)


def max_gap(res):
    """The longest time between two chunks of a Response."""
    ts = [t for t, _ in res.chunks]
    return max((b - a for a, b in zip(ts, ts[1:])), default=0.0)


class Front:
    """Another lighttpd (LighttpdConf, the shipped snippet, mount /chat) in
    front of chatstream cs; `before` are lines put ahead of the snippet
    (e.g. mod_auth).  start()/curl() as the Fixture's, with real curl."""

    def __init__(self, fx, cs, name, before=()):
        self.fx = fx
        self.lt = LighttpdConf(fx, "\n".join(list(before) + [
            'var.chatstream_mount = "/chat"',
            'var.chatstream_socket = "%s"' % cs.sock,
            'include "%s"' % snippet_path("lighttpd-chatstream.conf"),
        ]), name=name)
        started, info = self.lt.start()
        if not started:
            diag("%s did not come up: %s" % (name, info))
            fx.dump_logs()
            bail("%s did not start" % name)

    def url(self, path=""):
        return self.lt.url(path)

    def start(self, path="", body=None, headers=(), method=None, timeout=25, user=None,
              content_type="application/json"):
        hs = list(headers)
        if body is not None and content_type:
            hs.append("Content-Type: " + content_type)
        extra = ["-u", "%s:pw-%s" % (user, user)] if user else []
        return CurlStream(self.fx, self.lt.url(path), method=method, body=body, headers=hs,
                          timeout=timeout, extra=extra)

    def curl(self, path="", **kw):
        return self.start(path, **kw).finish()


def inotify_in_use():
    """inotify instances open on the host (all processes we can see)."""
    n = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir("/proc/%s/fd" % pid):
                try:
                    if os.readlink("/proc/%s/fd/%s" % (pid, fd)) == "anon_inode:inotify":
                        n += 1
                except OSError:
                    pass
        except OSError:
            pass
    return n


def explain_journal_failures(chatstreams):
    """When a chatstream could not create or follow a journal, says so (and
    how many inotify instances the host has open against the per-user limit):
    the file journal takes one inotify instance per stream and per reader."""
    bad = []
    for cs in chatstreams:
        bad += [ln for ln in cs.log_lines()
                if "not resumable" in ln or "detail=journal_unavailable" in ln]
    if not bad:
        return
    try:
        with open("/proc/sys/fs/inotify/max_user_instances") as f:
            limit = f.read().strip()
    except OSError:
        limit = "?"
    diag("chatstream could not create or follow %d journal(s); inotify instances open now: %d, "
         "fs.inotify.max_user_instances = %s (per user, shared with every other process):"
         % (len(bad), inotify_in_use(), limit))
    for ln in bad[:5]:
        diag("  " + ln)


class ChatstreamAs(Chatstream):
    """chatstream under `spawn-fcgi -n -a 127.0.0.1 -p PORT -u USER -- CHATSTREAM
    -c CONF` (root only): a user of its own, so per-user limits (inotify
    instances) count only its own use.  .sock is ("127.0.0.1", PORT).  The
    temp dir becomes world-readable (0755) and the config 0644 so USER can
    read it."""

    def __init__(self, fx, config_text, name, user="nobody"):
        self.fx = fx
        self.name = name
        self.port = free_port()
        self.sock = ("127.0.0.1", self.port)
        self.conf = fx.write_config(config_text, name + ".conf")
        os.chmod(fx.tmp, 0o755)
        os.chmod(self.conf, 0o644)
        self.log = fx.path(name + ".log")
        self._logf = open(self.log, "ab")
        self.args = [SPAWN_FCGI, "-n", "-a", "127.0.0.1", "-p", str(self.port), "-u", user,
                     "--", CHATSTREAM, "-c", self.conf]
        self.proc = _popen(self.args, cwd=fx.tmp, stdin=subprocess.DEVNULL,
                           stdout=self._logf, stderr=self._logf)
        fx._procs.append(self.proc)
        self.pid = self._find_pid()
