#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_browser.py: the chat page (www/) in a real browser.  lighttpd serves the
page next to chatstream (mounted at /chat/, as in the README), Debian's
headless Chromium driven by playwright-core (tests/browser/chat.test.mjs)
loads it, streams a paced demo answer (POST -> 202, then the browser's own
EventSource on the stream's url) and checks that partial text shows while it
streams and that the final text is exactly the demo's answer, stops a slow
stream with the Stop button (a DELETE of the stream: chatstream must log the
DELETE and outcome=cancelled for the producer), shows HTTP and in-stream
errors, shows a model's reasoning (event: reasoning) folded above its
answer and keeps it on a reload, shows the tools a model calls (an `openai`
model relaying tests/lib/fake_upstream.py's tool calls), and is labelled and keyboard operable.  A second chatstream without
resumable streams (journal = off, mounted at /plain/) answers the POST with
200 text/event-stream: the page's fetch() fallback reads it, and Stop aborts
it (outcome=client_gone).  Screenshots go to tests/artifacts/ (or
$ARTIFACTS_DIR).  Reconnects (Last-Event-ID) are tested by
tests/t_browser_resume.py.

What it needs is installed by tests/browser/setup.sh (run here; as root it
apt-get installs chromium, and nodejs/npm when there is no node, and runs
npm ci for the pinned playwright-core).  Without root and without those, the
file is skipped."""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402
from harness import (SRCDIR, bail, config, demo_text, demo_tokens, diag, is_, ok,  # noqa: E402
                     require_tools, run, skip_all, Fixture)
from fake_upstream import PARTS, FakeUpstream  # noqa: E402

BROWSER_DIR = os.path.join(SRCDIR, "tests", "browser")
WWW = os.path.join(SRCDIR, "www")
PAGE_FILES = ("index.html", "app.js", "app.css")
PROMPT = "Hello from a real browser"
REASONING = "The user greets me from a browser: I will answer <b>plainly</b>."
SETUP_TIMEOUT = 1200        # a fresh machine downloads chromium first
NODE_TIMEOUT = harness.scaled(90)   # the node script's own deadline is 60 s, scaled alike


def run_setup(fx):
    """tests/browser/setup.sh [DEPS_DIR]; returns DEPS_DIR (holding
    node_modules/playwright-core).  node_modules goes next to package.json
    in the source tree when that is writable, else into the temp dir."""
    deps = BROWSER_DIR
    if not os.access(BROWSER_DIR, os.W_OK):
        deps = fx.path("browser-deps")
        os.makedirs(deps, exist_ok=True)
    cmd = ["bash", os.path.join(BROWSER_DIR, "setup.sh"), deps]
    t0 = time.monotonic()
    try:
        p = harness._popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        fx._procs.append(p)
        out, _ = p.communicate(timeout=SETUP_TIMEOUT)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        harness._stop(p, signal.SIGTERM, wait=5)
        out, rc = b"(timed out after %d s)" % SETUP_TIMEOUT, -1
    text = out.decode("utf-8", "replace").strip()
    if rc != 0:
        diag(text[-3000:])
        if os.geteuid() != 0:
            skip_all("browser test needs chromium, node and playwright-core: "
                     "run tests/browser/setup.sh as root")
        bail("tests/browser/setup.sh failed (status %s)" % rc)
    for ln in text.splitlines():
        if ln.startswith("browser/setup:"):
            diag(ln)
    diag("setup took %.1f s" % (time.monotonic() - t0))
    return deps


def install_page(fx):
    """The page goes into the fixture's document root, as a deployment would
    serve it.  Call it before fx.start_lighttpd(): lighttpd keeps a file's
    size in its stat cache for about a second, so an index.html replaced
    after lighttpd's start-up probe served the placeholder can go out with
    the placeholder's length (CI got a 3-byte page "<!D" that way, which
    runs no script and makes no request)."""
    www = fx.path("www")
    os.makedirs(www, exist_ok=True)
    for f in PAGE_FILES:
        shutil.copyfile(os.path.join(WWW, f), os.path.join(www, f))


def shipped_config(fx, models=""):
    """conf/chatstream.conf as shipped, with only what a test needs on top:
    its own spool directory, then models (raw [model NAME] sections)."""
    with open(os.path.join(SRCDIR, "conf", "chatstream.conf"), encoding="utf-8") as f:
        shipped = f.read()
    return "spool_dir = %s\n%s\n%s" % (fx.path("spool"), shipped, models)


def install_fetch_event_source(fx, deps):
    """@microsoft/fetch-event-source (npm, installed by setup.sh) under
    the document root's fes/, with a page that loads it as an ES module and
    hands it to the test as window.fetchEventSource.  The package's ES
    modules import "./fetch" without ".js", which only a bundler resolves:
    the copies say "./fetch.js".  Call it before fx.start_lighttpd() (see
    install_page)."""
    src = os.path.join(deps, "node_modules", "@microsoft", "fetch-event-source", "lib", "esm")
    dst = fx.path("www", "fes")
    os.makedirs(dst, exist_ok=True)
    for f in ("index.js", "fetch.js", "parse.js"):
        with open(os.path.join(src, f), encoding="utf-8") as i:
            text = re.sub(r"""(from\s+['"]\./[a-z]+)(['"])""", r"\1.js\2", i.read())
        with open(os.path.join(dst, f), "w", encoding="utf-8") as o:
            o.write(text)
    with open(os.path.join(dst, "index.html"), "w", encoding="utf-8") as o:
        o.write('<!DOCTYPE html>\n<meta charset="utf-8">\n<title>fetch-event-source</title>\n'
                '<script type="module">\nimport { fetchEventSource } from "./index.js";\n'
                'window.fetchEventSource = fetchEventSource;\n'
                'document.title = "ready";\n</script>\n')


def artifacts_dir(fx):
    d = os.environ.get("ARTIFACTS_DIR") or os.path.join(SRCDIR, "tests", "artifacts")
    try:
        os.makedirs(d, exist_ok=True)
        if os.access(d, os.W_OK):
            return d
    except OSError:
        pass
    diag("artifacts dir %s is not writable: screenshots stay in the temp dir" % d)
    return fx.path("artifacts")


def kill_profile_procs(profile):
    """Chromium processes that outlived the node script: exactly those whose
    command line names this test's own profile dir, and their children."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if profile.encode() in cmd:
            pids.append(int(name))
    for pid in list(pids):
        pids.extend(harness._children(pid))
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return pids


def run_node(fx, deps, env, script="chat.test.mjs"):
    """Runs tests/browser/SCRIPT; each JSON line becomes a TAP point or data."""
    node = shutil.which("node") or "/usr/bin/node"
    errf = open(fx.path("node.stderr"), "wb")
    p = harness._popen([node, os.path.join(BROWSER_DIR, script)], cwd=fx.tmp,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errf,
                       env=env)
    errf.close()
    fx._procs.append(p)
    data = {}
    ended = False
    buf = b""
    end = time.monotonic() + NODE_TIMEOUT
    fd = p.stdout.fileno()
    for _ in range(1000000):
        left = end - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not r:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            line = line.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                m = json.loads(line)
            except ValueError:
                diag("node: " + line)
                continue
            if m.get("t") == "ok":
                ok(m.get("ok"), m.get("name", "?"))
                for d in m.get("diag") or []:
                    diag("  " + d)
            elif m.get("t") == "info":
                data.setdefault(m["key"], []).append(m.get("value"))
            elif m.get("t") == "diag":
                diag(m.get("text", ""))
            elif m.get("t") == "end":
                ended = True
    if p.poll() is None:
        try:
            p.wait(timeout=10 if ended else 0.1)
        except subprocess.TimeoutExpired:
            pass
    rc = harness._stop(p, signal.SIGTERM, wait=5)
    ok(ended and rc == 0, "the browser script ran to its end (exit status %s)" % rc)
    if not (ended and rc == 0):
        try:
            with open(fx.path("node.stderr"), "rb") as f:
                diag("node stderr:\n" + f.read().decode("utf-8", "replace")[-3000:])
        except OSError:
            pass
    return data


def main():
    require_tools()
    fx = Fixture("browser")
    deps = run_setup(fx)
    up = FakeUpstream()          # a model that calls tools, for the page to show
    fx.on_close(up.close)
    models = {
        # paced, so the answer takes a few seconds and can be seen growing
        "demo": {"backend": "demo", "ttft_ms": 200, "tokens_per_second": 10},
        # 23 tokens at 2/s: about 12 s for its answer, unless Stop ends it
        "slow": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 2},
        "broken": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 20, "fail_after": 3},
        # reasons first (event: reasoning), then the demo's answer
        "thinker": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 0,
                    "reasoning": REASONING},
        # an upstream that reasons, says a word and calls two tools
        "caller": {"backend": "openai", "base_url": up.base_url, "model": "tools"},
    }
    cs = fx.start_chatstream(config({"heartbeat": 2, "spool_dir": fx.path("spool")}, models))
    # the same models without resumable streams: the page falls back to fetch()
    plain = fx.start_chatstream(config({"heartbeat": 2, "journal": "off"}, models), name="plain")
    install_page(fx)
    # what a site's lighttpd.conf has around the shipped snippet: an index
    # file and MIME types (Debian's default configuration sets both)
    lt = fx.start_lighttpd(cs, extra=[
        'index-file.names = ( "index.html" )',
        'mimetype.assign = ( ".html" => "text/html; charset=utf-8",'
        ' ".js" => "text/javascript; charset=utf-8", ".css" => "text/css; charset=utf-8",'
        ' ".png" => "image/png" )',
        'fastcgi.server += ( "/plain" => (( "socket" => "%s", "check-local" => "disable" )) )'
        % plain.sock,
    ])
    profile = fx.path("chromium-profile")
    os.makedirs(profile)
    arts = artifacts_dir(fx)

    env = dict(os.environ)
    env.update({
        "CS_URL": "http://127.0.0.1:%d/" % lt.port,
        "CS_PROMPT": PROMPT,
        "CS_EXPECTED": demo_text(PROMPT),
        "CS_MODEL": "demo",
        "CS_SLOW_MODEL": "slow",
        "CS_FAIL_MODEL": "broken",
        "CS_THINK_MODEL": "thinker",
        "CS_REASONING": REASONING,
        "CS_CALL_MODEL": "caller",
        "CS_CALLS": "\n".join("%s(%s)" % (n, a) for _, n, a in PARTS["calls"]),
        "CS_CALL_TEXT": PARTS["content"],
        "CS_PLAIN": "/plain/",
        "CS_PROFILE": profile,
        "CS_ARTIFACTS": arts,
        "CS_DEPS": deps,
        "CS_CHROMIUM": "/usr/bin/chromium",
        "CS_DEADLINE_MS": "60000",
    })
    t0 = time.monotonic()
    data = run_node(fx, deps, env)
    left = kill_profile_procs(profile)
    ok(not left, "no browser process outlived the script")
    if left:
        diag("killed leftover browser pids: %r" % left)
    diag("browser part took %.1f s; %s" % (time.monotonic() - t0, ", ".join(data.get("browser", []))))
    for s in data.get("screenshot", []):
        diag("screenshot: %s" % s)

    # chatstream's side of the streams
    def line_for(c, sid, method):
        if not sid:
            return None
        return c.wait_log(r"stream: id=%s .*method=%s .*outcome=" % (re.escape(sid), method),
                          timeout=5)

    sid = (data.get("done_stream_id") or [""])[0]
    line = line_for(cs, sid, "POST")
    ok(line is not None and re.search(r" model=demo .*status=202 .*outcome=done(\s|$)", line),
       "server: the full stream's POST was logged status=202 outcome=done")
    if line is None or "outcome=done" not in line:
        diag("log line: %r" % line)
    line = line_for(cs, sid, "GET")
    ok(line is not None and re.search(r" path=/streams/%s .*status=200 .*outcome=done(\s|$)"
                                      % re.escape(sid), line),
       "server: the EventSource's GET /streams/<id> was logged status=200 outcome=done")

    sid = (data.get("stopped_stream_id") or [""])[0]
    ok(sid, "the page showed the stopped stream's id (from the 202 and event: meta)")
    line = line_for(cs, sid, "DELETE")
    ok(line is not None and re.search(r" path=/streams/%s .*status=202 " % re.escape(sid), line),
       "server: Stop sent DELETE /streams/<id>, answered 202")
    line = line_for(cs, sid, "POST")
    ok(line is not None and re.search(r" model=slow .*outcome=cancelled(\s|$)", line),
       "server: Stop ended the producer with outcome=cancelled")
    m = re.search(r" events=(\d+) .* duration_ms=(\d+)", line or "")
    full = len(demo_tokens("Please stop me")) + 2
    ok(m and int(m.group(1)) < full,
       "server: the slow model's work stopped before the end of its answer (%s of its %d "
       "events, duration_ms=%s)" % (m.group(1) if m else "?", full, m.group(2) if m else "?"))
    if line is None:
        diag("\n".join(cs.stream_lines()[-10:]))

    sid = (data.get("early_stopped_stream_id") or [""])[0]
    line = line_for(cs, sid, "POST")
    m = re.search(r" duration_ms=(\d+)", line or "")
    ok(line is not None and re.search(r" model=slow .*status=202 .*outcome=cancelled(\s|$)", line)
       and m and int(m.group(1)) < 6000,
       "server: Stop before the 202 reached the page: DELETE, the producer ended at once "
       "(outcome=cancelled, duration_ms=%s)" % (m.group(1) if m else "?"))
    if line is None or "outcome=cancelled" not in line:
        diag("log line: %r" % line)

    # the fetch() fallback, on the chatstream without journal
    sid = (data.get("fallback_stream_id") or [""])[0]
    line = line_for(plain, sid, "POST")
    ok(line is not None and re.search(r" model=demo .*status=200 .*outcome=done(\s|$)", line),
       "server (journal = off): the fallback stream was logged status=200 outcome=done")
    sid = (data.get("fallback_stopped_stream_id") or [""])[0]
    line = line_for(plain, sid, "POST")
    ok(line is not None and re.search(r" model=slow .*outcome=client_gone(\s|$)", line),
       "server (journal = off): Stop aborted the fallback stream, outcome=client_gone")
    if line is None:
        diag("\n".join(plain.stream_lines()[-10:]))

    # one idle check that nothing is left streaming
    for c in (cs, plain):
        health = json.loads(c.request(harness.fcgi_params("GET", "health"))[2] or b"{}")
        is_(health.get("streams"), 0, "server (%s): no stream is left open" % c.name)


if __name__ == "__main__":
    run(main)
