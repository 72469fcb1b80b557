#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""formats.py: what each API's stream costs (run it with bench/formats.sh).

The same demo answer (a fast demo model: no pacing) streamed straight over
FastCGI (no front server) to one chatstream with the shipped journal
(`journal = file`), in each API's format:

  native      POST /                        meta, {"text"} per token, done
  chat        POST /v1/chat/completions     chat.completion.chunk per token, [DONE]
  responses   POST /v1/responses            response.* typed events, output_text.delta
                                            per token, the done events and the object
  chat+tools, responses+tools
              the demo's tool model (reasoning, then a tool call whose
              arguments come a few bytes at a time), in both OpenAI formats

With --compare-binary P, a second chatstream run by P (a build from before a
change, say) serves the same shapes in the same rounds: rows marked (cmp).

Several rounds, the order rotating per round; per shape the medians of
chatstream's CPU per stream (utime + stime from /proc/PID/stat over the run)
and of the bytes and events a stream sends, and the CPU ratio to `chat`.
Reuses bench.py's process handling and sseload.py's FastCGI client; every
process it starts is recorded in WORK/pids and stopped at the end.
"""
import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sseload  # noqa: E402
from bench import Chatstream, Procs, banner, outcomes  # noqa: E402
from journal import cpu_split, loadavg  # noqa: E402


def out(*a):
    print(*a, flush=True)


TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
RTOOL = {"type": "function", "name": "get_weather", "parameters": TOOL["function"]["parameters"]}


def shapes(prompt):
    """(name, path, body) of each shape."""
    msgs = [{"role": "user", "content": prompt}]
    return [
        ("native", "", {"model": "fast", "prompt": prompt}),
        ("chat", "v1/chat/completions", {"model": "fast", "stream": True, "messages": msgs}),
        ("responses", "v1/responses", {"model": "fast", "stream": True, "input": prompt}),
        ("chat+tools", "v1/chat/completions", {"model": "agent", "stream": True,
                                               "messages": msgs, "tools": [TOOL]}),
        ("responses+tools", "v1/responses", {"model": "agent", "stream": True,
                                             "input": prompt, "tools": [RTOOL]}),
    ]


class FormatsBench:
    def __init__(self, args):
        self.args = args
        self.bin = args.binary
        self.work = args.work
        self.procs = Procs(self.work)

    def start(self):
        self.servers = [("", self.chatstream("cs"))]
        if self.args.compare_binary:
            self.bin = self.args.compare_binary
            self.servers.append((" (cmp)", self.chatstream("cmp")))
            self.bin = self.args.binary
        words = " ".join("word%d" % (i % 100) for i in range(self.args.words))
        self.shapes = [(n, sseload.fcgi_request_bytes(json.dumps(b).encode(), path))
                       for n, path, b in shapes(words)]

    def chatstream(self, name):
        words = " ".join("word%d" % (i % 100) for i in range(self.args.words))
        return Chatstream(self, name, {"threads": 64, "heartbeat": 15}, {
            "fast": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 0,
                     "max_tokens": 10000000},
            "agent": {"backend": "demo", "ttft_ms": 0, "tokens_per_second": 0,
                      "max_tokens": 10000000, "reasoning": words,
                      "tool_arguments": json.dumps({"city": words})},
        })

    def one_run(self, cs, req):
        a = self.args
        n0 = len(cs.stream_lines())
        u0, s0 = cpu_split(cs.pid)
        r = asyncio.run(sseload.run_to_end(("unix", cs.sock), req, True, a.streams,
                                           a.clients, a.timeout))
        u1, s1 = cpu_split(cs.pid)
        t_end = time.monotonic() + 5
        while time.monotonic() < t_end and len(cs.stream_lines()) < n0 + r["streams"]:
            time.sleep(0.05)
        lines = cs.stream_lines()[n0:]
        r["outcomes"] = outcomes(lines)
        r["cpu"] = (u1 - u0) + (s1 - s0)
        return r

    def run(self):
        a = self.args
        names = [n + mark for n, _ in self.shapes for mark, _ in self.servers]
        runs = {n: [] for n in names}
        for n, req in self.shapes:      # warm-up
            for _, cs in self.servers:
                asyncio.run(sseload.run_to_end(("unix", cs.sock), req, True, a.clients,
                                               a.clients, a.timeout))
        for rnd in range(a.rounds):
            order = self.shapes[rnd % len(self.shapes):] + self.shapes[:rnd % len(self.shapes)]
            for n, req in order:
                # This build and the other side by side, in turn first.
                for mark, cs in self.servers[rnd % 2:] + self.servers[:rnd % 2]:
                    runs[n + mark].append(self.one_run(cs, req))
            out("   round %d/%d done (load average %s)" % (rnd + 1, a.rounds, loadavg()))
        out("")
        out("   %-22s %12s %10s %10s %8s  %s" % ("shape", "CPU/stream", "vs chat", "bytes",
                                                 "events", "outcomes"))
        # The ratio is to this build's chat (the other build's to its own).
        base = {mark: statistics.median(r["cpu"] / max(1, r["streams"]) for r in
                                        runs["chat" + mark]) for mark, _ in self.servers}
        for n in names:
            rs = runs[n]
            cpu = statistics.median(r["cpu"] / max(1, r["streams"]) for r in rs)
            byt = statistics.median(r["bytes"] / max(1, r["streams"]) for r in rs)
            ev = statistics.median(r["events"] / max(1, r["streams"]) for r in rs)
            oc = {}
            for r in rs:
                for k, v in r["outcomes"].items():
                    oc[k] = oc.get(k, 0) + v
            bad = {}
            for r in rs:
                for k, v in r["errors"].items():
                    bad[k] = bad.get(k, 0) + v
            out("   %-22s %9.3f ms %9.2fx %10.0f %8.0f  %s%s" % (
                n, cpu * 1000, cpu / base[" (cmp)" if n.endswith(" (cmp)") else ""], byt, ev,
                ", ".join("%s %d" % kv for kv in sorted(oc.items())),
                "; client errors: %s" % ", ".join("%s %d" % kv for kv in sorted(bad.items()))
                if bad else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--rounds", type=int, default=5, help="rounds (5)")
    ap.add_argument("--streams", type=int, default=200, help="streams per shape and round (200)")
    ap.add_argument("--clients", type=int, default=8, help="parallel clients (8)")
    ap.add_argument("--words", type=int, default=300,
                    help="prompt words: the demo says them back, one token each (300)")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--compare-binary", default="",
                    help="also run the shapes with this chatstream (a build from before a "
                         "change, say), in the same rounds: rows marked (cmp)")
    args = ap.parse_args()

    def on_term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    b = FormatsBench(args)
    banner("chatstream formats benchmark", args.binary)
    out("load average at start: %s (other processes share the CPUs)" % loadavg())
    out("== Each API's stream of the same answer: %d streams per shape and round, %d clients, "
        "%d rounds" % (args.streams, args.clients, args.rounds))
    try:
        b.start()
        b.run()
    finally:
        b.procs.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
