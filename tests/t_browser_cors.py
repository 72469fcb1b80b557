#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_browser_cors.py: chatstream called from a page of another origin, in a
real browser (Debian's headless Chromium driven by playwright-core,
tests/browser/cors.test.mjs).  Two tiny pages are served from two more
loopback ports (another port is another origin); cors_origins lists the
first.  From it, a chat completion (JSON and Authorization: a preflight
first), GET v1/models/demo and a native stream succeed, and the page reads
x-request-id and X-Stream-Id; from the second, the browser refuses every
answer.  Needs what tests/t_browser.py needs (skipped alike)."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import Fixture, config, demo_text, diag, ok, require_tools, run  # noqa: E402
from pageserver import PageServer  # noqa: E402
import t_browser  # noqa: E402  (its helpers: setup, node runner)

PAGE = "<!doctype html><html><head><title>elsewhere</title></head><body>a page</body></html>\n"


def main():
    require_tools()
    fx = Fixture("browser-cors")
    deps = t_browser.run_setup(fx)
    allowed, other = PageServer(PAGE), PageServer(PAGE)
    fx.on_close(allowed.close)
    fx.on_close(other.close)
    cs = fx.start_chatstream(config({"cors_origins": "http://example.org " + allowed.origin}))
    lt = fx.start_lighttpd(cs)
    profile = fx.path("chromium-profile")
    os.makedirs(profile)
    env = dict(os.environ)
    env.update({
        "CS_API": fx.url(""),
        "CS_PAGE_ALLOWED": allowed.url,
        "CS_PAGE_OTHER": other.url,
        "CS_EXPECTED": demo_text("hi"),
        "CS_PROFILE": profile,
        "CS_DEPS": deps,
        "CS_CHROMIUM": "/usr/bin/chromium",
        "CS_DEADLINE_MS": "60000",
    })
    diag("chatstream at port %d; pages at %s and %s" % (lt.port, allowed.origin, other.origin))
    t0 = time.monotonic()
    t_browser.run_node(fx, deps, env, script="cors.test.mjs")
    left = t_browser.kill_profile_procs(profile)
    ok(not left, "no browser process outlived the script")
    diag("browser part took %.1f s" % (time.monotonic() - t0))
    ok(cs.wait_log(r"method=OPTIONS .*status=204", timeout=5) is not None,
       "chatstream answered the browser's preflight (204)")


run(main)
