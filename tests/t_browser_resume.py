#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_browser_resume.py: the chat page in headless Chromium over a network that
keeps cutting the answer.  lighttpd serves the page (www/) next to chatstream
(/chat/, the shipped conf/chatstream.conf as it is: its demo model,
on_disconnect = cancel, retry_ms = 3000, the reconnect window that gives);
Chromium talks to
lighttpd through tests/lib/cutproxy.py, a loopback proxy that cuts every
connection to /chat/streams/ after a few hundred bytes (FIN and RST in turn),
so the page's EventSource is cut several times during one answer and the
browser reconnects with Last-Event-ID each time.  tests/browser/resume.test.mjs
drives the page; this file checks:

- the page's final text is exactly the answer, each token once, and it
  showed "Reconnecting…" (the node script);
- the proxy cut several connections, and each reconnect carried the
  Last-Event-ID of the last event the browser had whole, always increasing;
- the proxy answers one reconnect with 503 itself (as a front server does
  while chatstream restarts): the browser's EventSource gives up on that,
  and the page opens a new one with ?last_event_id=N;
- after done the browser stops reconnecting: the proxy sees no new
  /chat/streams/ request in the 3 s after the page's done;
- chatstream: one POST (202, outcome=done) and one GET per connection.

A screenshot goes to tests/artifacts/chat-resume.png (and, when caught,
chat-reconnecting.png).  Needs what tests/t_browser.py needs
(tests/browser/setup.sh); skipped likewise without it."""

import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, HERE)
from cutproxy import CutProxy  # noqa: E402
from harness import (Fixture, demo_text, demo_tokens, diag, is_, ok,  # noqa: E402
                     require_tools, run)
import t_browser  # noqa: E402  (its helpers: setup, page install, node runner)

PROMPT = "Hello through a network that keeps dropping the connection again and again"
QUIET_MS = 3000
# response bytes each cut connection gets: the head (~270 bytes through
# lighttpd) and the retry line, then a few events; the three sizes cut at
# different places inside events and chunks
CUT_AFTER = (520, 610, 700)
# the third stream request (the second reconnect) gets a 503 from the proxy
REJECT = (3,)


def main():
    require_tools()
    fx = Fixture("browser-resume")
    deps = t_browser.run_setup(fx)
    # the defaults: a reader cut off is not a cancel while it comes back
    cs = fx.start_chatstream(t_browser.shipped_config(fx))
    t_browser.install_page(fx)    # before lighttpd starts: see install_page
    lt = fx.start_lighttpd(cs, extra=[
        'index-file.names = ( "index.html" )',
        'mimetype.assign = ( ".html" => "text/html; charset=utf-8",'
        ' ".js" => "text/javascript; charset=utf-8", ".css" => "text/css; charset=utf-8" )',
    ])
    proxy = CutProxy(lt.port, cut_after=CUT_AFTER, prefix="/chat/streams/", cut_mode="alternate",
                     reject=REJECT, max_conns=100, timeout=90)
    port = proxy.start()
    profile = fx.path("chromium-profile")
    os.makedirs(profile)
    arts = t_browser.artifacts_dir(fx)
    env = dict(os.environ)
    env.update({
        "CS_URL": "http://127.0.0.1:%d/" % port,
        "CS_PROMPT": PROMPT,
        "CS_EXPECTED": demo_text(PROMPT),
        "CS_MODEL": "demo",
        "CS_PROFILE": profile,
        "CS_ARTIFACTS": arts,
        "CS_DEPS": deps,
        "CS_CHROMIUM": "/usr/bin/chromium",
        "CS_DEADLINE_MS": "50000",
        "CS_QUIET_MS": str(QUIET_MS),
        "CS_REJECTS": str(len(REJECT)),
    })
    t0 = time.monotonic()
    try:
        data = t_browser.run_node(fx, deps, env, script="resume.test.mjs")
    finally:
        proxy.stop()
    left = t_browser.kill_profile_procs(profile)
    ok(not left, "no browser process outlived the script")
    diag("browser part took %.1f s; page states: %s" % (time.monotonic() - t0,
                                                        (data.get("states") or ["?"])[0]))
    for s in data.get("screenshot", []):
        diag("screenshot: %s" % s)

    # --- what the proxy saw ------------------------------------------------------
    reqs = [e for e in proxy.entries("request") if e["path"].startswith("/chat/streams/")]
    cuts = proxy.entries("cut")
    rejected = [e for e in reqs if e["rejected"]]
    sid = (data.get("stream_id") or [""])[0]
    diag("stream %s: %d GETs of /chat/streams/, %d cut (%s), %d answered 503" % (
        sid, len(reqs), len(cuts), ", ".join("%d%s" % (c["after"], " RST" if c["rst"] else "")
                                             for c in cuts), len(rejected)))
    ok(len(cuts) >= 3, "the proxy cut the answer's connection several times (%d)" % len(cuts))
    ok(sid and all(e["path"].split("?")[0] == "/chat/streams/" + sid for e in reqs),
       "every /chat/streams/ request was for the page's stream")
    is_(len(reqs), len(cuts) + len(rejected) + 1,
        "one GET per cut and per 503, plus the last one, which ran to done")

    def position(e):
        """Where a request resumes: its Last-Event-ID header, else ?last_event_id."""
        if e["last_event_id"] is not None:
            return e["last_event_id"]
        m = re.search(r"[?&]last_event_id=([^&]*)", e["path"])
        return m.group(1) if m else None

    leis = [position(e) for e in reqs]
    diag("requests: %r" % ["%s%s" % (e["path"].replace("/chat/streams/" + sid, "") or "-",
                                     " LEI %s" % e["last_event_id"] if e["last_event_id"] else "")
                           for e in reqs])
    ok(leis[:1] == [None], "the first GET starts from the beginning")
    def seqno(x):
        """n of an event id <stream id>.<n> naming this stream, else None."""
        m = re.match(r"^%s\.([0-9]+)$" % re.escape(sid or "?"), x or "")
        return int(m.group(1)) if m else None

    # a cut before the first whole event leaves the browser no id: it starts
    # over from the beginning (as it must); from the first id on, every
    # reconnect names one
    first = next((i for i, x in enumerate(leis) if x is not None), len(leis))
    nums = [seqno(x) for x in leis[first:] if seqno(x) is not None]
    # a cut can fall before the first whole event a connection carries (a
    # replay goes out in one piece): the next reconnect then names the same
    # event again, so the positions advance over the cuts, not at each one
    ok(first >= 1 and len(nums) == len(leis) - first
       and all(b >= a for a, b in zip(nums, nums[1:])) and len(set(nums)) >= 3,
       "every reconnect after the first event said where to resume, never going back, "
       "moving on over the cuts")
    k = next((i for i, e in enumerate(reqs) if e["rejected"]), None)
    after = reqs[k + 1] if k is not None and k + 1 < len(reqs) else None
    ok(after is not None and after["last_event_id"] is None
       and re.search(r"\?last_event_id=%s$" % re.escape(str(leis[k])), after["path"]),
       "after the 503 the page opened a new EventSource with ?last_event_id=%s"
       % (leis[k] if k is not None else "?"))
    done_at = (data.get("done_at") or [0])[0] / 1000.0
    late = [e for e in reqs if e["t"] > done_at]
    ok(done_at and not late, "after done, no new /chat/streams/ connection for %.0f s (%d late)"
       % (QUIET_MS / 1000.0, len(late)))
    posts = [e for e in proxy.entries("request") if e["method"] == "POST"]
    is_(len(posts), 1, "one POST")

    # --- chatstream's side --------------------------------------------------------
    line = (cs.wait_log(r"stream: id=%s .*method=POST .*outcome=" % re.escape(sid), timeout=5)
            if sid else None)
    ok(line and " status=202 " in line and "outcome=done" in line
       and " events=%d " % (len(demo_tokens(PROMPT)) + 2) in line,
       "server: the answer was generated once, to its end: the POST is logged status=202 "
       "outcome=done with all its events")
    gets = [ln for ln in cs.stream_lines() if "method=GET path=/streams/%s " % sid in ln]
    end = time.monotonic() + 5
    for _ in range(100):
        gets = [ln for ln in cs.stream_lines() if "method=GET path=/streams/%s " % sid in ln]
        if len(gets) >= len(reqs) - len(rejected) or time.monotonic() > end:
            break
        time.sleep(0.05)
    is_(len(gets), len(reqs) - len(rejected), "server: one GET line per connection that reached it")
    # chatstream logs a GET when it ends, in the order the GETs end, not the
    # order they started: a reader cut just before done is noticed at its
    # next write, when the stream ends, and logged beside the last reader in
    # either order.  A cut reader can even log outcome=done: chatstream had
    # written everything, the proxy dropped the rest.  So the last
    # connection is found by what it carried: the events after its
    # Last-Event-ID, up to the POST's last one.
    def field(ln, name):
        m = re.search(r" %s=(\S+)" % name, ln or "")
        return m.group(1) if m else "?"

    total = int(field(line, "events")) if field(line, "events").isdigit() else -1
    last = leis[-1] if leis and leis[-1] is not None else "0"
    n = seqno(last)
    want = total - n if n is not None else (total if last == "0" else -1)
    outcomes = ["%s/%s" % (field(ln, "events"), field(ln, "outcome")) for ln in gets]
    ok("%d/done" % want in outcomes,
       "server: the last GET (from event %s) got the %d events after it and ended with the stream "
       "(outcome=done)" % (last, want))
    ok(gets and all(field(ln, "outcome") in ("done", "client_gone") for ln in gets),
       "server: every GET ended as client_gone or done (done: the cut came after chatstream "
       "had written the end)")
    diag("GETs in log order (events/outcome): %s" % " ".join(outcomes))


if __name__ == "__main__":
    run(main)
