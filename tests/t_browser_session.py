#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_browser_session.py: the chat page (www/) as a conversation that
survives a reload, and what a closed tab costs, in headless Chromium.
chatstream runs with the shipped conf/chatstream.conf (its demo model,
on_disconnect = cancel, the reconnect window its retry_ms gives), plus a
slower demo model, behind lighttpd; tests/browser/session.test.mjs drives
the page.  Checked there: a second question carries the first exchange in
"messages"; a reload in the middle of an answer brings the conversation
back and ends with the exact answer, each token once.  Checked here, in
chatstream's log:

- the reloaded answer was generated once, to its end (one POST,
  outcome=done with all its events), and read again after the reload
  from where the page was;
- the reload's pagehide said the page leaves (DELETE ?leaving), and the
  reloaded page was back in time: the answer went on;
- a tab closed in the middle of an answer says the same as it goes, and
  nobody comes back: the model stops at the end of leave_window, before
  the reconnect window would have (outcome=cancelled detail=left, not
  client_gone detail=abandoned), and before the end of its answer;
- the same tab with sessionStorage refusing writes (nothing a reload could
  continue) stops it at once: the page's DELETE as it goes, then
  outcome=cancelled.

Needs what tests/t_browser.py needs (tests/browser/setup.sh); skipped
likewise without it."""

import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import Fixture, demo_text, demo_tokens, diag, is_, ok, require_tools, run  # noqa: E402
import t_browser  # noqa: E402  (its helpers: setup, page install, node runner)

SLOW = "[model slow]\nbackend = demo\nttft_ms = 0\ntokens_per_second = 4\n"
Q1 = "What is a server-sent event?"
Q2 = "And how does a browser resume one?"
Q3 = "Tell me once more, slowly, while I reload this page in the middle of the answer"
# long enough that the answer outlasts the reconnect window (some 30 s at 4 tokens/s)
LONG = "Please write a long answer " + " ".join("word%d" % i for i in range(100))
LONG2 = "Another long answer please " + " ".join("more%d" % i for i in range(100))


def stream_line(cs, sid, method, timeout):
    if not sid:
        return None
    return cs.wait_log(r"stream: id=%s .*method=%s .*outcome=" % (re.escape(sid), method),
                       timeout=timeout)


def field(line, name):
    m = re.search(r" %s=(\S+)" % name, line or "")
    return m.group(1) if m else "?"


def main():
    require_tools()
    fx = Fixture("browser-session")
    deps = t_browser.run_setup(fx)
    cs = fx.start_chatstream(t_browser.shipped_config(fx, SLOW))
    t_browser.install_page(fx)
    lt = fx.start_lighttpd(cs, extra=[
        'index-file.names = ( "index.html" )',
        'mimetype.assign = ( ".html" => "text/html; charset=utf-8",'
        ' ".js" => "text/javascript; charset=utf-8", ".css" => "text/css; charset=utf-8" )',
    ])
    profile = fx.path("chromium-profile")
    os.makedirs(profile)
    cases = {"q1": Q1, "a1": demo_text(Q1), "q2": Q2, "a2": demo_text(Q2), "q3": Q3,
             "a3": demo_text(Q3), "long": LONG, "long2": LONG2}
    env = dict(os.environ)
    env.update({
        "CS_URL": "http://127.0.0.1:%d/" % lt.port,
        "CS_MODEL": "demo",
        "CS_SLOW_MODEL": "slow",
        "CS_CASES": json.dumps(cases),
        "CS_PROFILE": profile,
        "CS_ARTIFACTS": t_browser.artifacts_dir(fx),
        "CS_DEPS": deps,
        "CS_CHROMIUM": "/usr/bin/chromium",
        "CS_DEADLINE_MS": "90000",
    })
    t0 = time.monotonic()
    data = t_browser.run_node(fx, deps, env, script="session.test.mjs")
    left = t_browser.kill_profile_procs(profile)
    ok(not left, "no browser process outlived the script")
    diag("browser part took %.1f s" % (time.monotonic() - t0))
    for s in data.get("screenshot", []):
        diag("screenshot: %s" % s)

    # --- the reload: one generation, to its end, read again from where the page was
    sid = (data.get("reload_stream_id") or [""])[0]
    line = stream_line(cs, sid, "POST", harness.scaled(10))
    full = len(demo_tokens(Q3)) + 2
    ok(line and field(line, "outcome") == "done" and field(line, "events") == str(full),
       "server: the reloaded answer was generated once, to its end (outcome=done, %d events)"
       % full)
    posts = [ln for ln in cs.stream_lines() if "method=POST" in ln and "id=%s " % sid in ln]
    is_(len(posts), 1, "server: one POST for it")
    gets = [ln for ln in cs.stream_lines() if "method=GET path=/streams/%s" % sid in ln]
    ok(len(gets) >= 2 and any(field(ln, "outcome") == "done" for ln in gets),
       "server: the page read it before the reload, and again after it, to the end (%d GETs)"
       % len(gets))
    if not line:
        diag("\n".join(cs.stream_lines()[-12:]))

    leaves = [ln for ln in cs.stream_lines()
              if "method=DELETE path=/streams/%s" % (data.get("reload_stream_id") or [""])[0] in ln]
    ok(leaves and all(field(ln, "status") == "202" for ln in leaves),
       "server: the reload's pagehide said the page leaves (DELETE ?leaving: 202), "
       "and the answer went on")

    # --- the closed tabs: the model stopped before the end of its answer
    long_full = len(demo_tokens(LONG)) + 2
    sid = (data.get("closed_stream_id") or [""])[0]
    dline = stream_line(cs, sid, "DELETE", harness.scaled(10))
    ok(dline and field(dline, "status") == "202",
       "server: a tab closed mid-answer said it leaves (DELETE ?leaving: 202)")
    line = stream_line(cs, sid, "POST", harness.scaled(60))
    ok(line and field(line, "outcome") == "cancelled" and field(line, "detail") == "left"
       and field(line, "events").isdigit() and int(field(line, "events")) < long_full,
       "server: and nobody came back: the model stopped at the end of leave_window, "
       "before its answer's end (outcome=%s detail=%s, %s of %d events)"
       % (field(line, "outcome"), field(line, "detail"), field(line, "events"), long_full))
    shown = (data.get("closed_shown_tokens") or [0])[0]
    m = re.search(r" events=(\d+) ", line or "")
    if m and shown:
        diag("closed tab: %s; %s tokens showed when it closed, the model made %d more (%.1f s "
             "at 4 tokens/s) before it stopped; the whole answer is %d events"
             % (field(line, "outcome"), shown, int(m.group(1)) - 1 - shown,
                (int(m.group(1)) - 1 - shown) / 4.0, long_full))

    long2_full = len(demo_tokens(LONG2)) + 2
    sid = (data.get("nostore_stream_id") or [""])[0]
    dline = stream_line(cs, sid, "DELETE", harness.scaled(10))
    ok(dline and field(dline, "status") == "202",
       "server: a tab without storage sent DELETE /streams/<id> as it closed (status=202)")
    line = stream_line(cs, sid, "POST", harness.scaled(10))
    ok(line and field(line, "outcome") == "cancelled" and field(line, "events").isdigit()
       and int(field(line, "events")) < long2_full,
       "server: and the model stopped at once (outcome=%s, %s of %d events)"
       % (field(line, "outcome"), field(line, "events"), long2_full))

    health = json.loads(cs.request(harness.fcgi_params("GET", "health"))[2] or b"{}")
    is_(health.get("streams"), 0, "server: no stream is left open")


if __name__ == "__main__":
    run(main)
