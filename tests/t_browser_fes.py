#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_browser_fes.py: @microsoft/fetch-event-source (npm), the POST + SSE
library most chat UIs use, in headless Chromium, on chatstream's POST /
over a network that cuts the answer three times.  chatstream runs with the
shipped conf/chatstream.conf (its demo model, on_disconnect = cancel,
retry_ms = 3000) behind lighttpd; tests/lib/cutproxy.py between Chromium and
lighttpd cuts the first three POSTs' responses after a few hundred bytes
(FIN and RST in turn).  The library, with its defaults, POSTs the same body
again with Last-Event-ID after each cut.  tests/browser/fes.test.mjs checks
what the library delivered (the exact answer, each token once, one stream);
this file checks:

- the proxy cut three POSTs, and every POST after the first carried the
  Last-Event-ID of the last event before its cut, never going back;
- chatstream generated the answer once: every POST was answered from the
  same stream (one stream id in the log), which ran to the end
  (outcome=done, all its events);
- nothing is left streaming.

The proxy cuts at once after the bytes it passes, so the library may never
see the last of them; tests/t_browser_fes_stall.py runs the same with a
stall before each cut, so that it always does.

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
from cutproxy import CutProxy  # noqa: E402
import harness  # noqa: E402
from harness import Fixture, demo_text, demo_tokens, diag, is_, ok, require_tools, run  # noqa: E402
import t_browser  # noqa: E402  (its helpers: setup, page install, node runner)

PROMPT = "Hello from fetch-event-source through a network that drops the answer"
# response bytes each cut POST gets: the head (~270 bytes through lighttpd)
# and the retry line, then some events; cut inside events at different places
CUT_AFTER = (560, 650, 740)
CUTS = 3


def main(stall=0.0, name="browser-fes"):
    """stall: seconds the proxy waits between the last bytes it passes and
    each cut (tests/t_browser_fes_stall.py)."""
    require_tools()
    fx = Fixture(name)
    deps = t_browser.run_setup(fx)
    cs = fx.start_chatstream(t_browser.shipped_config(fx))
    t_browser.install_page(fx)
    t_browser.install_fetch_event_source(fx, deps)
    lt = fx.start_lighttpd(cs, extra=[
        'index-file.names = ( "index.html" )',
        'mimetype.assign = ( ".html" => "text/html; charset=utf-8",'
        ' ".js" => "text/javascript; charset=utf-8" )',
    ])
    proxy = CutProxy(lt.port, cut_after=CUT_AFTER, prefix="/chat/", methods=("POST",),
                     cuts=CUTS, max_conns=100, timeout=90, stall=stall)
    port = proxy.start()
    profile = fx.path("chromium-profile")
    os.makedirs(profile)
    env = dict(os.environ)
    env.update({
        "CS_URL": "http://127.0.0.1:%d/fes/" % port,
        "CS_ENDPOINT": "http://127.0.0.1:%d/chat/" % port,
        "CS_PROMPT": PROMPT,
        "CS_EXPECTED": demo_text(PROMPT),
        "CS_MODEL": "demo",
        "CS_PROFILE": profile,
        "CS_DEPS": deps,
        "CS_CHROMIUM": "/usr/bin/chromium",
        "CS_DEADLINE_MS": "60000",
    })
    t0 = time.monotonic()
    try:
        data = t_browser.run_node(fx, deps, env, script="fes.test.mjs")
    finally:
        proxy.stop()
    left = t_browser.kill_profile_procs(profile)
    ok(not left, "no browser process outlived the script")
    diag("browser part took %.1f s" % (time.monotonic() - t0))

    # --- what the proxy saw ------------------------------------------------------
    posts = [e for e in proxy.entries("request") if e["method"] == "POST"]
    cuts = proxy.entries("cut")
    diag("POSTs: %r; cuts after %s bytes" % (
        [e["last_event_id"] or "-" for e in posts], [c["after"] for c in cuts]))
    is_(len(cuts), CUTS, "the proxy cut the answer %d times" % CUTS)
    is_(len(posts), CUTS + 1, "one POST, then one more after each cut")

    def seq(x):
        m = re.search(r"(?:^|\.)([0-9]+)$", x or "")
        return int(m.group(1)) if m else None

    leis = [seq(e["last_event_id"]) for e in posts[1:]]
    ok(posts and posts[0]["last_event_id"] is None and leis and None not in leis
       and all(b >= a for a, b in zip(leis, leis[1:])),
       "each POST after a cut said where to resume (Last-Event-ID), never going back")

    # --- chatstream's side --------------------------------------------------------
    sid = (data.get("stream_id") or [""])[0]
    full = len(demo_tokens(PROMPT)) + 2
    line = (cs.wait_log(r"stream: id=%s .*method=POST .*outcome=done" % re.escape(sid),
                        timeout=harness.scaled(5)) if sid else None)
    m = re.search(r" events=(\d+) ", line or "")
    ok(line and m and int(m.group(1)) == full,
       "server: the stream ran to its end once (outcome=done, all %d events)" % full)
    if not line:
        diag("\n".join(cs.stream_lines()[-10:]))
    ids = set(re.findall(r"stream: id=(\S+) .*method=POST ", "\n".join(cs.stream_lines())))
    is_(sorted(ids), [sid], "server: every POST was logged against that one stream: "
                            "one generation")
    health = json.loads(cs.request(harness.fcgi_params("GET", "health"))[2] or b"{}")
    is_(health.get("streams"), 0, "server: no stream is left open")


if __name__ == "__main__":
    run(main)
