#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_metrics.py: GET /metrics gives the whole host's figures, whichever of its
processes answers.

- Three chatstream processes accept on one FastCGI socket (as spawn-fcgi -F 3
  runs them) and share one spool_dir, with metrics = loopback.  A few streams and resumes first: the
  events, tokens and journal appends counted are the ones the clients got.
- Then 60 requests at once, 8 in flight: done on POST / and on
  /v1/chat/completions, 400, 404, 413, readers that leave mid-stream, and
  resumes of kept streams.  Every counter's increase is exactly what was
  asked, in each of several scrapes (answered by more than one process), and
  the output passes promtool's lint.
- One process SIGKILLed and one stopped with SIGTERM, each replaced: no count
  is lost, and the processes gauge counts the live ones.
- An openai model whose upstream answers and one whose upstream fails: the
  upstream error by type and both first bytes are counted.  chatstream run
  as CGI with the same spool (one process per request): its requests count in
  the FastCGI host's scrape, its files are folded as it ends, and a scrape
  through CGI gives the same figures.
- A resume told history_lost is counted as such.
- metrics = off (the default): /metrics is 404 and nothing is counted in the
  spool; metrics = loopback: a forged REMOTE_ADDR 192.0.2.7 gets 403, 127.0.0.1
  and ::1 get 200.
- Debian's prometheus scrapes the host through lighttpd on loopback, and its
  query API returns the same totals."""

import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (Fixture, _popen, _stop, config, demo_tokens, diag, fcgi_params,  # noqa: E402
                     free_port, is_, ok, require_tools, run, scaled, skip)
from fake_upstream import FakeUpstream  # noqa: E402
from harness import CHATSTREAM  # noqa: E402
from multiproc import Host, delta, get, parse  # noqa: E402
import fcgi  # noqa: E402

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
LONG = " ".join("w%d" % i for i in range(300))


def post(host, body, path="", ctype="application/json", length=None):
    b = body.encode() if isinstance(body, str) else body
    params = fcgi_params("POST", path, content_type=ctype,
                         content_length=len(b) if length is None else length)
    return host.request(params, b if length is None else b"")


def count_ids(body):
    """Events with an id: line in an SSE body."""
    return sum(1 for ln in body.decode("utf-8").split("\n") if ln.startswith("id: "))


def tokens_of(body):
    return sum(1 for ln in body.decode("utf-8").split("\n") if ln.startswith('data: {"text"'))


def leave_mid_stream(host):
    """A reader that goes after its first token: the front server closes."""
    b = json.dumps({"prompt": LONG, "model": "slow"}).encode()
    c = fcgi.FcgiClient(host.sock, timeout=scaled(20))
    try:
        c.begin()
        c.params(fcgi_params("POST", "", content_type="application/json",
                             content_length=len(b)))
        c.stdin(b)
        got = b""
        while b'data: {"text"' not in got:
            chunk = c.read_stdout(timeout=scaled(20))
            if not chunk:
                break
            got += chunk
        return b'data: {"text"' in got
    finally:
        c.close()


def scrapers(host):
    """The processes whose log has a /metrics request."""
    return [i for i in range(len(host.procs)) if "path=/metrics " in host.log_text(i)]


def scrape(host, label=""):
    st, text = host.scrape()
    if st != 200:
        diag("scrape %s: status %d: %s" % (label, st, text[:300]))
    return parse(text), text


def main():
    require_tools()
    fx = Fixture("metrics")
    spool = fx.path("spool")
    up = FakeUpstream()
    fx.on_close(up.close)
    text = config({"threads": 16, "metrics": "loopback", "spool_dir": spool},
                  {"slow": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 20},
                   "up_ok": {"backend": "openai", "base_url": up.base_url, "model": "ok"},
                   "up_500": {"backend": "openai", "base_url": up.base_url,
                              "model": "status500"}})
    host = Host(fx, text, 3)
    ok(host.wait_ready(), "three processes serve on one socket")

    # -- a clean phase: events, tokens, bytes and journal appends ------------
    before, _ = scrape(host, "first")
    ok(get(before, "chatstream_build_info", version=get_version(host)) == 1,
       "chatstream_build_info{version} 1")
    is_(get(before, "chatstream_processes"), 3.0, "processes gauge: 3 live processes")
    is_(get(before, "chatstream_threads"), 48.0, "threads gauge: 16 stream threads each")
    events = tokens = 0
    ids = []
    for i in range(6):
        st, hdrs, body, _ = post(host, json.dumps({"prompt": "count me %d" % i}))
        ids.append(dict(hdrs).get("X-Stream-Id"))
        events += count_ids(body)
        tokens += tokens_of(body)
        is_(tokens_of(body), len(demo_tokens("count me %d" % i)), "stream %d is whole" % i)
    resumed_events = 0
    for sid in ids[:2]:
        st, _, body, _ = host.request(fcgi_params("GET", "streams/" + sid,
                                                  extra=[("HTTP_LAST_EVENT_ID", "3")]))
        is_(st, 200, "resume of a kept stream")
        resumed_events += count_ids(body)
    after, _ = scrape(host, "clean")
    d = delta(after, before)
    is_(get(d, "chatstream_tokens_sent_total"), float(tokens), "tokens sent: as received")
    is_(get(d, "chatstream_events_sent_total"), float(events + resumed_events),
        "events sent: as received by first and resumed readers")
    is_(get(d, "chatstream_journal_appends_total"), float(events),
        "journal appends: every event of the POSTed streams")
    ok(get(d, "chatstream_journal_appended_bytes_total") > 0, "journal bytes counted")
    is_(get(d, "chatstream_resumes_total"), 2.0, "resumes: 2")
    is_(get(d, "chatstream_time_to_first_token_seconds_count"), 6.0, "ttft observed per stream")

    # -- 60 requests at once -------------------------------------------------
    jobs = []
    jobs += [("done", lambda i=i: post(host, json.dumps({"prompt": "load %d" % i})))
             for i in range(15)]
    jobs += [("v1", lambda i=i: post(host, json.dumps(
        {"model": "demo", "messages": [{"role": "user", "content": "v1 %d" % i}],
         "stream": True}), path="v1/chat/completions")) for i in range(5)]
    jobs += [("400", lambda: post(host, "{not json"))] * 8
    jobs += [("404", lambda: host.request(fcgi_params("GET", "no/such/path")))] * 8
    jobs += [("413", lambda: post(host, "x", length=10 * 1024 * 1024))] * 6
    jobs += [("gone", lambda: leave_mid_stream(host))] * 8
    jobs += [("resume", lambda i=i: host.request(fcgi_params(
        "GET", "streams/" + ids[i % len(ids)], extra=[("HTTP_LAST_EVENT_ID", "2")])))
        for i in range(10)]
    is_(len(jobs), 60, "60 requests")
    before = after
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futs = [(kind, pool.submit(fn)) for kind, fn in jobs]
        for kind, f in futs:
            results.setdefault(kind, []).append(f.result())
    status = {k: sorted(set(r if isinstance(r, bool) else r[0] for r in v))
              for k, v in results.items()}
    is_(status, {"done": [200], "v1": [200], "400": [400], "404": [404], "413": [413],
                 "gone": [True], "resume": [200]}, "every request got what it asked for")
    want = [
        (("chatstream_requests_total", {"route": "/", "outcome": "done"}), 15),
        (("chatstream_requests_total", {"route": "/v1/chat/completions", "outcome": "done"}), 5),
        (("chatstream_requests_total", {"route": "/", "outcome": "rejected"}), 14),
        (("chatstream_requests_total", {"route": "other", "outcome": "rejected"}), 8),
        (("chatstream_requests_total", {"route": "/", "outcome": "client_gone"}), 8),
        (("chatstream_requests_total", {"route": "/streams/*", "outcome": "done"}), 10),
        (("chatstream_rejections_total", {"status": "400"}), 8),
        (("chatstream_rejections_total", {"status": "404"}), 8),
        (("chatstream_rejections_total", {"status": "413"}), 6),
        (("chatstream_resumes_total", {}), 10),
        (("chatstream_stream_duration_seconds_count", {}), 38),
        (("chatstream_time_to_first_token_seconds_count", {}), 28),
    ]
    # The log line of a reader that left may come a moment after its client closed.
    end = time.monotonic() + scaled(10)
    while True:
        after, text = scrape(host, "load")
        d = delta(after, before)
        if get(d, "chatstream_requests_total", route="/", outcome="client_gone") >= 8 or \
                time.monotonic() > end:
            break
        time.sleep(0.1)
    # Scrapes until two processes have answered one (each is checked).
    scrapes = [d]
    for _ in range(30):
        if len(scrapers(host)) >= 2 and len(scrapes) >= 4:
            break
        s, _ = scrape(host, "again")
        scrapes.append(delta(s, before))
    for n, d in enumerate(scrapes):
        got = {"%s%s" % (k[0], json.dumps(k[1], sort_keys=True)): get(d, k[0], **k[1])
               for k, _ in want}
        exp = {"%s%s" % (k[0], json.dumps(k[1], sort_keys=True)): float(v) for k, v in want}
        is_(got, exp, "scrape %d: the counters add up to the requests made" % (n + 1))
        other = sum(v for k, v in d.items() if k[0] == "chatstream_requests_total" and
                    dict(k[1]).get("route") != "/metrics")
        is_(other, 60.0, "scrape %d: 60 requests besides scrapes" % (n + 1))
    ok(len(scrapers(host)) >= 2, "scrapes were answered by %d of the 3 processes" %
       len(scrapers(host)))
    is_(get(after, "chatstream_streams_open"), 0.0, "no stream open after the load")
    if os.access(PROMTOOL, os.X_OK):
        lint = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                              capture_output=True, timeout=scaled(30))
        is_(lint.returncode, 0, "promtool check metrics: clean (%s)" %
            lint.stdout.decode()[-200:].strip())
    else:
        skip("needs promtool (Debian's prometheus)")

    # -- processes come and go ------------------------------------------------
    base = {k: v for k, v in scrape(host, "pre-restart")[0].items()
            if k[0] != "chatstream_requests_total" or dict(k[1]).get("route") != "/metrics"}
    host.kill_one(signal.SIGKILL)
    host.start_one()
    host.kill_one(signal.SIGTERM)
    host.start_one()
    ok(host.wait_ready(), "two processes replaced")
    now, _ = scrape(host, "post-restart")
    lost = {k: (v, now.get(k, 0.0)) for k, v in base.items()
            if k[0].endswith("_total") or k[0].endswith("_count") or k[0].endswith("_bucket")
            if now.get(k, 0.0) != v}
    is_(lost, {}, "a killed and a stopped process: no counter changed")
    is_(get(now, "chatstream_processes"), 3.0, "processes gauge: the 3 live ones")
    left = sorted(os.listdir(os.path.join(spool, ".metrics")))
    is_(len([n for n in left if n.startswith(".metrics.p.")]), 3,
        "one file per live process (the others folded): %s" % left)

    # -- openai upstreams, and CGI processes counting into the same spool -------
    before, _ = scrape(host, "pre-upstream")
    is_(post(host, json.dumps({"prompt": "relay", "model": "up_ok"}))[0], 200,
        "an upstream that answers")
    is_(post(host, json.dumps({"prompt": "relay", "model": "up_500"}))[0], 502,
        "an upstream that fails: 502")
    cgi = [cgi_request(host.conf, "POST", json.dumps({"prompt": "cgi %d" % i}))
           for i in range(3)] + [cgi_request(host.conf, "POST", "{oops")]
    is_([c[:12] for c in cgi], [b"Status: 200 "] * 3 + [b"Status: 400 "],
        "CGI: three streams and a 400")
    after, _ = scrape(host, "post-upstream")
    d = delta(after, before)
    is_(get(d, "chatstream_upstream_errors_total", type="upstream_error"), 1.0,
        "upstream errors: one upstream_error")
    is_(get(d, "chatstream_upstream_first_byte_seconds_count"), 2.0,
        "upstream latency to first byte: both upstream answers observed")
    is_(get(d, "chatstream_requests_total", route="/", outcome="done"), 4.0,
        "requests: the relayed one and the three CGI streams")
    is_(get(d, "chatstream_rejections_total", status="400"), 1.0, "rejections: the CGI 400")
    left = sorted(n for n in os.listdir(os.path.join(spool, ".metrics"))
                  if n.startswith(".metrics.p."))
    is_(len(left), 3, "CGI processes folded their files as they ended")
    st = cgi_request(host.conf, "GET", "", path="/metrics")
    ok(st.startswith(b"Status: 200 ") and
       b'chatstream_requests_total{route="/",outcome="done"} %d' %
       int(get(after, "chatstream_requests_total", route="/", outcome="done")) in st,
       "CGI: a scrape there gives the host's figures too")

    # -- who may scrape --------------------------------------------------------
    off = Host(fx, config({"spool_dir": fx.path("spool-off")}), 1, name="off")
    ok(off.wait_ready(), "a process with the default config")
    is_(off.scrape()[0], 404, "metrics off (default): /metrics is 404")
    is_(off.request(fcgi_params("POST", "metrics", content_length=0))[0], 404,
        "metrics off: POST /metrics is 404 too, as on an unknown path")
    post(off, json.dumps({"prompt": "not counted"}))
    ok(not os.path.exists(fx.path("spool-off", ".metrics")), "metrics off: nothing counted")
    lo = Host(fx, config({"metrics": "loopback", "spool_dir": fx.path("spool-lo"),
                          "journal_ttl": 1}), 1, name="lo")
    ok(lo.wait_ready(), "a process with metrics = loopback")
    is_(lo.scrape("192.0.2.7")[0], 403, "loopback: REMOTE_ADDR 192.0.2.7 is refused")
    is_(lo.scrape("127.0.0.1")[0], 200, "loopback: 127.0.0.1 may scrape")
    is_(lo.scrape("::1")[0], 200, "loopback: ::1 may scrape")
    st, hdrs, _, _ = lo.request(fcgi_params("POST", "metrics", content_length=0))
    is_((st, dict(hdrs).get("Allow")), (405, "GET, HEAD"), "POST /metrics: 405, Allow: GET, HEAD")

    # -- a resume told history_lost (journal_ttl = 1: the journal soon expires) --
    st, hdrs, _, _ = post(lo, json.dumps({"prompt": "soon forgotten"}))
    sid = dict(hdrs).get("X-Stream-Id", "")
    lost = False
    end = time.monotonic() + scaled(20)
    while not lost and time.monotonic() < end:
        time.sleep(0.25)
        _, _, body, _ = lo.request(fcgi_params("GET", "streams/" + sid,
                                               extra=[("HTTP_LAST_EVENT_ID", "1")]))
        lost = b"history_lost" in body
    ok(lost, "a resume after journal_ttl is told history_lost")
    m = parse(lo.scrape()[1])
    is_(get(m, "chatstream_resumes_history_lost_total"), 1.0 if lost else 0.0,
        "history_lost counted once")
    ok(get(m, "chatstream_resumes_total") >= 1, "and among the resumes")

    # -- Debian's prometheus ----------------------------------------------------
    prometheus_scrapes(fx, host)


def cgi_request(conf, method, body, path="/"):
    """chatstream as a CGI program, one request; its whole output."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GATEWAY_INTERFACE": "CGI/1.1",
           "REQUEST_METHOD": method, "SCRIPT_NAME": "/chat", "PATH_INFO": path,
           "REQUEST_URI": "/chat" + path, "REMOTE_ADDR": "127.0.0.1",
           "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_LENGTH": str(len(body.encode())),
           "CONTENT_TYPE": "application/json"}
    r = subprocess.run([CHATSTREAM, "-c", conf], input=body.encode(), env=env,
                       capture_output=True, timeout=scaled(30))
    return r.stdout


def get_version(host):
    st, _, body, _ = host.request(fcgi_params("GET", "health"))
    return json.loads(body)["version"]


def prom_query(port, q):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": q}))
    with urllib.request.urlopen(url, timeout=5) as r:
        res = json.loads(r.read())["data"]["result"]
    return float(res[0]["value"][1]) if res else None


def prometheus_scrapes(fx, host):
    if not os.access(PROMETHEUS, os.X_OK):
        skip("needs Debian's prometheus (scripts/install-deps.sh --tests)")
        return
    lt = fx.start_lighttpd(host)
    port = free_port()
    cfg = fx.path("prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: chatstream\n"
                "    metrics_path: /chat/metrics\n"
                "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % lt.port)
    logf = open(fx.path("prometheus.log"), "ab")
    p = _popen([PROMETHEUS, "--config.file=" + cfg, "--storage.tsdb.path=" + fx.path("tsdb"),
                "--web.listen-address=127.0.0.1:%d" % port], cwd=fx.tmp,
               stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
    logf.close()
    fx._procs.append(p)
    fx.on_close(lambda: _stop(p, signal.SIGTERM, wait=5))
    for i in range(4):
        post(host, json.dumps({"prompt": "seen by prometheus %d" % i}))
    mine, _ = scrape(host, "for prometheus")
    checks = {
        'sum(chatstream_requests_total{route="/",outcome="done"})':
            get(mine, "chatstream_requests_total", route="/", outcome="done"),
        'chatstream_rejections_total{status="413"}':
            get(mine, "chatstream_rejections_total", status="413"),
        "chatstream_tokens_sent_total": get(mine, "chatstream_tokens_sent_total"),
        "chatstream_resumes_total": get(mine, "chatstream_resumes_total"),
        "chatstream_stream_duration_seconds_count":
            get(mine, "chatstream_stream_duration_seconds_count"),
        "chatstream_processes": 3.0,
    }
    got = {}
    end = time.monotonic() + scaled(60)
    while time.monotonic() < end:
        try:
            got = {q: prom_query(port, q) for q in checks}
        except (OSError, ValueError, KeyError):
            got = {}
        if got == checks:
            break
        time.sleep(0.5)
    is_(got, checks, "prometheus scraped the host: its queries give the same totals")
    if got != checks:
        with open(fx.path("prometheus.log"), "rb") as f:
            diag(f.read().decode("utf-8", "replace")[-2000:])


if __name__ == "__main__":
    run(main)
