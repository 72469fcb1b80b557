#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_exec.py: the exec backend through lighttpd: a real command's stdout streams to
the client, its stderr goes to the log only, a non-zero exit and time limits end the
stream with `event: error`, and a client that leaves takes the command with it
(its process is gone and the stream thread is free again).  The commands are small
sh scripts written by the test."""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (Fixture, _alive, check_stream, config, diag, is_, ok, read_pid,  # noqa: E402
                     require_tools, run, script, wait_gone)


def live_with_arg(arg):
    """The pids of live (not zombie) processes with arg among their arguments."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if arg.encode() in args and _alive(int(d)):
            found.append(int(d))
    return found


def wait_none_with_arg(arg, timeout=5, none=True):
    """True once no live process has arg among its arguments (or, none=False,
    once one has), within a bounded wait."""
    end = time.monotonic() + timeout
    while bool(live_with_arg(arg)) == none:
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def main():
    require_tools()
    fx = Fixture("exec")
    pidfile = fx.path("child.pid")
    echo = script(fx, "echo.sh", "printf 'got: '\ncat\nprintf ' end'\n")
    utf8 = script(fx, "utf8.sh",
                  # "héllo 🎉" one byte at a time, so characters are split across reads
                  "for b in 150 303 251 154 154 157 040 360 237 216 211; do\n"
                  "  printf \"\\\\$b\"; sleep 0.02\ndone\n")
    fail = script(fx, "fail.sh", "printf 'partial '\necho 'secret diagnostics' >&2\nexit 3\n")
    silent = script(fx, "silent.sh", "echo $$ > %s\nprintf 'one '\nexec sleep 30\n" % pidfile)
    chatty = script(fx, "chatty.sh", "while :; do printf 'x '; sleep 0.1; done\n")
    # unique arguments, so the test finds its own background sleeps in /proc
    orphan_arg = "301.%d" % os.getpid()
    group_arg = "302.%d" % os.getpid()
    orphan = script(fx, "orphan.sh", "sleep %s &\necho started\n" % orphan_arg)
    slow = script(fx, "slow.sh",
                  "echo $$ > %s\nsleep %s &\n"
                  "i=0\nwhile [ $i -lt 300 ]; do printf 'tok%%d ' $i; sleep 0.1; "
                  "i=$((i+1)); done\n" % (pidfile, group_arg))
    # API keys in chatstream's environment, one for each of 20 openai models:
    # the commands an exec model runs must inherit none of them.
    secrets = {"CS_EXEC_TEST_KEY_%02d" % i: "sk-exec-must-not-see-%02d-%d" % (i, os.getpid())
               for i in range(20)}
    keyed = {"keyed%02d" % i: {"backend": "openai", "base_url": "http://127.0.0.1:9/v1",
                               "api_key_env": "CS_EXEC_TEST_KEY_%02d" % i} for i in range(20)}
    os.environ.update(secrets)
    cs = fx.start_chatstream(config({"threads": 1}, dict(keyed, **{
        "env": {"backend": "exec", "command": "/usr/bin/env"},
        "echo": {"backend": "exec", "command": echo},
        "messages": {"backend": "exec", "command": "/bin/cat", "input": "messages"},
        "utf8": {"backend": "exec", "command": utf8},
        "fail": {"backend": "exec", "command": fail},
        "silent": {"backend": "exec", "command": silent, "idle_timeout": 1,
                   "kill_grace_ms": 200},
        "chatty": {"backend": "exec", "command": chatty, "max_duration": 1},
        "slow": {"backend": "exec", "command": slow, "kill_grace_ms": 500},
        "orphan": {"backend": "exec", "command": orphan, "idle_timeout": 60},
        "missing": {"backend": "exec", "command": "/nonexistent/model --flag"},
    })))
    for k in secrets:
        del os.environ[k]
    fx.start_lighttpd(cs)

    r = fx.chat({"prompt": "x", "model": "env"})
    envtext = r.stream().text
    ok("PATH=" in envtext, "an exec command gets chatstream's environment")
    leaked = sorted(k for k, v in secrets.items() if v in envtext or k in envtext)
    is_(leaked, [], "but none of the 20 openai models' API key variables")

    # stdout streams back; the prompt arrived on stdin
    P = "line one\nline \"two\" ü"
    r = fx.chat({"prompt": P, "model": "echo"})
    check_stream(r, "got: " + P + " end", "stop", model="echo", completion_tokens=False)

    # input = messages: the command reads the chat as one JSON line
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi\u0000there"}]
    r = fx.chat({"messages": msgs, "model": "messages", "max_tokens": 7})
    sv = r.stream()
    try:
        got = json.loads(sv.text)
    except ValueError:
        got = None
    is_(got, {"messages": msgs, "max_tokens": 7}, "input = messages: stdin held the chat as JSON")

    # multi-byte characters split across reads are never split across events
    r = fx.chat({"prompt": "x", "model": "utf8"})
    sv = check_stream(r, "h\u00e9llo \U0001F389", "stop", model="utf8", completion_tokens=False)
    ok(all("\ufffd" not in t for t in sv.texts), "no U+FFFD: held-back bytes were completed")

    # a non-zero exit: event: error; stderr goes to the log, not to the client
    r = fx.chat({"prompt": "x", "model": "fail"})
    sv = r.stream()
    is_(r.status, 200, "failing command: the stream had started (200)")
    is_(sv.types[-1:], ["error"], "failing command: the stream ends with event: error")
    is_((sv.error or {}).get("error", {}).get("type"), "backend_error", "error type backend_error")
    ok("status 3" in (sv.error or {}).get("error", {}).get("message", ""),
       "the error names the exit status")
    is_(sv.text, "partial ", "output before the failure was delivered")
    ok(b"secret diagnostics" not in r.body, "stderr never reaches the client")
    ok(cs.wait_log(r"command stderr: secret diagnostics") is not None, "stderr is in the log")
    ok(cs.wait_log(r"model=fail .*outcome=error") is not None, "log: outcome=error")

    # idle timeout: event: error type timeout, and the silent command is stopped
    r = fx.chat({"prompt": "x", "model": "silent"})
    sv = r.stream()
    is_((sv.error or {}).get("error", {}).get("type"), "timeout", "idle_timeout: error type timeout")
    ok(cs.wait_log(r"model=silent .*outcome=timeout") is not None, "log: outcome=timeout")
    pid = read_pid(pidfile)
    ok(pid is not None and wait_gone(pid, 5), "the silent command was stopped (pid %s)" % pid)
    os.unlink(pidfile)

    # max_duration on a command that never stops talking
    r = fx.chat({"prompt": "x", "model": "chatty"})
    sv = r.stream()
    is_((sv.error or {}).get("error", {}).get("type"), "timeout", "max_duration: error type timeout")
    ok(sv.text.startswith("x "), "output before the limit was delivered")

    # a command that cannot start: an error status before any stream
    r = fx.chat({"prompt": "x", "model": "missing"})
    is_(r.status, 503, "a command that cannot run: 503 before the stream")
    is_((r.json() or {}).get("error", {}).get("type"), "backend_unavailable",
        "error type backend_unavailable")

    # the command exits while a background child it started still holds stdout:
    # its exit ends the output (no wait for idle_timeout, 60 s, which would end
    # the stream with a timeout error long after curl's 25 s), and the child goes
    r = fx.chat({"prompt": "x", "model": "orphan"})
    check_stream(r, "started\n", "stop", model="orphan", label="background child",
                 completion_tokens=False)
    ok(wait_none_with_arg(orphan_arg),
       "the background child (sleep %s) is gone once the stream ended" % orphan_arg)
    for pid in live_with_arg(orphan_arg):
        os.kill(pid, signal.SIGKILL)

    # the client leaves mid-stream: the command is killed and the thread is free
    st = fx.curl_start(body=json.dumps({"prompt": "x", "model": "slow"}),
                       content_type="application/json")
    ok(st.read_until(lambda res: len(res.stream().texts) >= 3, 10), "slow stream started")
    pid = read_pid(pidfile)
    ok(pid is not None and _alive(pid), "the command runs (pid %s)" % pid)
    ok(wait_none_with_arg(group_arg, none=False), "and so does the background child it started")
    st.kill()
    t0 = time.monotonic()
    gone = pid is not None and wait_gone(pid, 5)
    ok(gone, "the command is gone after the client left (%.0f ms)" % ((time.monotonic() - t0) * 1000))
    ok(wait_none_with_arg(group_arg),
       "and so is the background child it started (sleep %s): the whole group" % group_arg)
    for pid in live_with_arg(group_arg):
        os.kill(pid, signal.SIGKILL)
    ok(cs.wait_log(r"model=slow .*outcome=client_gone") is not None, "log: outcome=client_gone")
    # threads = 1: only a freed thread can serve this one
    r = fx.chat({"prompt": "again", "model": "echo"})
    check_stream(r, "got: again end", "stop", model="echo", label="after the disconnect",
                 completion_tokens=False)
    ok(cs.alive(), "chatstream still runs")


run(main)
