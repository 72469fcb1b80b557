#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_openai_wait.py: `"stream": false` on /v1/chat/completions while the
model works, behind lighttpd (conf/lighttpd-chatstream.conf) and Apache
mod_proxy_fcgi (conf/apache-proxy-fcgi.conf), both to one chatstream whose
heartbeat is 1 s.

  abandoned   the client leaves (curl killed) while an exec model is still
              answering, token by token, 0.2 s apart (150 tokens in all):
              chatstream logs outcome=client_gone for it and the command's
              process is gone, having written fewer than its 150 tokens.
              Those front servers notice a client's leaving only when they
              write to it: the spaces chatstream writes every heartbeat
              while the answer is not ready are those writes.
  slow        an answer that takes longer than a heartbeat: status 200, a
              body of spaces then the chat.completion, which parses as JSON
              and holds the whole answer.
  failure     after a heartbeat: status 200 is out, so the body is OpenAI's
              error object (code backend_error); before any heartbeat: the
              error's own HTTP status (500), as before.

Assertions are about order and outcome (the client left while the model was
still answering), not durations."""

import json
import os
import stat
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import frontcheck as fc  # noqa: E402
from harness import (APACHE2, APACHE_MODULES, DEMO_FAST, LIGHTTPD, Apache,  # noqa: E402
                     FrontFixture, LighttpdConf, _alive, config, demo_text, diag, is_,
                     like, ok, read_pid, require_front, run, scaled, share_with_web_user,
                     snippet_path, wait_gone)

TOKENS = 150
MODULES = ["mpm_event", "authz_core", "mime", "proxy", "proxy_fcgi", "setenvif", "env",
           "filter", "deflate"]
P = "please answer this question slowly word by word so that it takes a while"

TICKER = r"""#!/bin/sh
# A model that answers %(n)d tokens 0.2 s apart and counts them in DIR/TAG.progress.
IFS= read -r tag || true
case "$tag" in ''|*[!A-Za-z0-9_-]*) echo "bad tag" >&2; exit 2;; esac
echo $$ > "%(dir)s/$tag.pid"
i=0
while [ $i -lt %(n)d ]; do
	i=$((i + 1))
	printf 't%%d ' $i
	echo $i >> "%(dir)s/$tag.progress"
	sleep 0.2
done
"""


def progress(piddir, tag):
    try:
        with open(os.path.join(piddir, tag + ".progress")) as f:
            return len(f.read().split())
    except OSError:
        return 0


def chat(model, content):
    return {"model": model, "stream": False,
            "messages": [{"role": "user", "content": content}]}


def check_abandoned(fx, url, label, cs, piddir, tag):
    """The client leaves while the ticker answers: client_gone, command stopped early."""
    before = len(cs.log_text().splitlines())
    cst = fc.post(fx, url("v1/chat/completions"), chat("ticker", tag), timeout=60)
    end = time.monotonic() + scaled(20)
    while progress(piddir, tag) < 3 and time.monotonic() < end:
        cst.read(0.2)
    pid = read_pid(os.path.join(piddir, tag + ".pid"))
    ok(pid is not None and _alive(pid) and progress(piddir, tag) >= 3,
       label + ": the model is answering (pid %s, %d tokens)" % (pid, progress(piddir, tag)))
    cst.kill()
    line = None
    end = time.monotonic() + scaled(20)
    while line is None and time.monotonic() < end:
        for ln in cs.log_text().splitlines()[before:]:
            if " stream: " in ln and "model=ticker" in ln and " outcome=" in ln:
                line = ln
        time.sleep(0.1)
    ok(line is not None and " outcome=client_gone" in line,
       label + ": chatstream logged outcome=client_gone")
    if line:
        diag(label + ": " + line[line.find("stream: "):])
    gone = pid is not None and wait_gone(pid, 10)
    ok(gone, label + ": the model's command is gone")
    n = progress(piddir, tag)
    ok(gone and n < TOKENS, label + ": it stopped early: %d of its %d tokens" % (n, TOKENS))


def check_slow(fx, url, label):
    r = fc.post(fx, url("v1/chat/completions"), chat("slow", P)).finish()
    is_(r.status, 200, label + ", slow answer: 200")
    body = r.body.decode("utf-8", "replace")
    n = len(body) - len(body.lstrip(" "))
    ok(n >= 1, label + ", slow answer: the body starts with spaces (%d)" % n)
    try:
        o = json.loads(body)
    except ValueError:
        o = {}
    is_(o.get("object"), "chat.completion", label + ", slow answer: then one chat.completion")
    is_(((o.get("choices") or [{}])[0].get("message") or {}).get("content"), demo_text(P),
        label + ", slow answer: the whole answer")


def check_failures(fx, url, label):
    r = fc.post(fx, url("v1/chat/completions"), chat("slowfail", P)).finish()
    is_(r.status, 200, label + ", failure after a heartbeat: 200 (it was out)")
    body = r.body.decode("utf-8", "replace")
    ok(body.startswith(" "), label + ", failure after a heartbeat: spaces first")
    try:
        e = json.loads(body).get("error") or {}
    except (ValueError, AttributeError):
        e = {}
    is_((e.get("code"), e.get("type")), ("backend_error", "server_error"),
        label + ", failure after a heartbeat: the body is OpenAI's error object")
    like(e.get("message") or "", r"demo failure injected",
         label + ", failure after a heartbeat: its message")
    r = fc.post(fx, url("v1/chat/completions"), chat("fastfail", P)).finish()
    is_(r.status, 500, label + ", failure before any heartbeat: its own status, 500")
    e = (r.json() or {}).get("error") or {}
    is_(e.get("code"), "backend_error", label + ", failure before any heartbeat: its error")


def main():
    require_front(LIGHTTPD, APACHE2,
                  *[os.path.join(APACHE_MODULES, "mod_%s.so" % m) for m in MODULES])
    fx = FrontFixture("openai-wait")
    piddir = fx.path("pids")
    os.makedirs(piddir, exist_ok=True)
    os.chmod(piddir, 0o777)
    spool = fx.path("spool")
    os.makedirs(spool, mode=0o700, exist_ok=True)
    ticker = fx.path("ticker.sh")
    with open(ticker, "w") as f:
        f.write(TICKER % {"dir": piddir, "n": TOKENS})
    os.chmod(ticker, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    share_with_web_user(fx)
    cs = fx.start_chatstream(config({"heartbeat": 1, "spool_dir": spool}, {
        "ticker": {"backend": "exec", "command": ticker, "kill_grace_ms": 500},
        # 10 tokens a second: the prompt's answer takes more than a heartbeat
        "slow": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 10},
        "slowfail": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 5,
                     "fail_after": 10},
        "fastfail": dict(DEMO_FAST, fail_after=3),
    }))
    share_with_web_user(fx, cs.sock)
    q = json.dumps
    lt = fx.start_front(LighttpdConf(fx, "\n".join([
        'var.chatstream_mount = "/chat"',
        "var.chatstream_socket = %s" % q(cs.sock),
        "include %s" % q(snippet_path("lighttpd-chatstream.conf"))])))
    ap = fx.start_front(Apache(fx, MODULES, "\n".join([
        'Define CHATSTREAM_BACKEND "unix:%s|fcgi://localhost"' % cs.sock,
        'Include "%s"' % snippet_path("apache-proxy-fcgi.conf")])))

    for front, label in ((lt, "lighttpd"), (ap, "apache")):
        def url(p, front=front):
            return front.url(p, "/chat/")
        check_abandoned(fx, url, label, cs, piddir, label + "abandon")
        check_slow(fx, url, label)
        check_failures(fx, url, label)
    ok(cs.alive(), "chatstream is still running")


run(main)
