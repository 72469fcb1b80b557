#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_sse_parser.py: the test suite's own SSE parser (tests/lib/sse.py) against
the WHATWG HTML "server-sent events" rules, fed whole and in every chunking
of 1..7 bytes, so the oracle the other tests trust is itself checked.
Needs no chatstream and no servers."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import is_, ok, run  # noqa: E402
from sse import SSEParser, parse_all  # noqa: E402


def summary(p):
    return ([(e.type, e.data, e.last_event_id) for e in p.events],
            [c.text for c in p.comments], p.retry)


def check(label, data, events, comments=None, retry=None):
    whole = summary(parse_all(data))
    same = all(summary(parse_all(data, k)) == whole for k in range(1, 8))
    ok(same, label + ": same result in every chunking")
    is_(whole[0], events, label + ": events")
    if comments is not None:
        is_(whole[1], comments, label + ": comments")
    if retry is not None:
        is_(whole[2], retry, label + ": retry")


def main():
    # cases modelled on the WHATWG spec text
    check("data lines joined with LF", b"data: YHOO\ndata: +2\ndata: 10\n\n",
          [("message", "YHOO\n+2\n10", "")])
    check("four blocks, the last one unterminated",
          b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n",
          [("message", "first event", "1"), ("message", "second event", "")],
          comments=[" test stream"])
    check("empty data lines", b"data\n\ndata\ndata\n\ndata:",
          [("message", "", ""), ("message", "\n", "")])
    check("one space after the colon dropped", b"data:test\n\ndata: test\n\n",
          [("message", "test", ""), ("message", "test", "")])
    # line endings
    check("CRLF, CR and LF", b"data: a\r\ndata: b\rdata: c\n\r\n",
          [("message", "a\nb\nc", "")])
    check("CR then LF across chunks is one line end", b"data: x\r\n\r\n",
          [("message", "x", "")])
    check("CR CR is two line ends", b"data: x\r\rdata: y\r\r", [("message", "x", ""), ("message", "y", "")])
    # BOM
    check("one leading BOM stripped", b"\xef\xbb\xbfdata: a\n\n", [("message", "a", "")])
    check("a second BOM is not stripped", b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n", [])
    # fields
    check("event type, reset after dispatch", b"event: x\ndata: 1\n\ndata: 2\n\n",
          [("x", "1", ""), ("message", "2", "")])
    check("id persists, NUL id ignored", b"id: 5\ndata: a\n\nid: 6\x007\ndata: b\n\nid\ndata: c\n\n",
          [("message", "a", "5"), ("message", "b", "5"), ("message", "c", "")])
    check("retry digits only", b"retry: 10\nretry: 1x\nretry: -5\nretry:\n", [], retry=10)
    check("unknown fields ignored", b"foo: bar\ndata: a\nDATA: b\n\n", [("message", "a", "")])
    check("event with no data dispatches nothing", b"event: x\n\ndata: y\n\n", [("message", "y", "")])
    check("unterminated event at EOF discarded", b"data: a\n\ndata: b\n", [("message", "a", "")])
    check("comment only", b":\n: hi\n\n", [], comments=["", " hi"])
    # UTF-8
    check("UTF-8 split across chunks", "data: café 🎉\n\n".encode(), [("message", "café 🎉", "")])
    check("invalid UTF-8 becomes U+FFFD", b"data: a\xffb\n\n", [("message", "a\ufffdb", "")])
    p = SSEParser()
    p.feed(b"data: 1\n\n", t=1.0)
    p.feed(b"data: 2\n", t=2.0)
    p.feed(b"\n", t=3.0)
    is_([e.time for e in p.events], [1.0, 3.0], "events carry the time of the chunk that completed them")


run(main)
