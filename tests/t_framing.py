#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""t_framing.py: no payload can break SSE framing.  The control_chars demo
model's first token (CR, LF, CRLF, fake `event:`/`data:`/`id:` lines, NUL,
ESC, DEL) and prompts full of line breaks, NUL, quotes, backslashes and emoji
reach the client exactly, with no extra events or fields; chunk_bytes = 1 and 2
(UTF-8 characters split across backend chunks) still give exact text without
U+FFFD; a 64 KiB prompt streams intact."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import (CONTROL, DEMO_FAST, check_stream, config, demo_text,  # noqa: E402
                     demo_tokens, diag, is_, ok, run, setup, word_count)

# retry: belongs to the first event's block (it precedes meta); its count is checked apart.
ALLOWED_FIELDS = {"id", "event", "data", "retry"}


def clean_framing(r, label):
    """No field other than id/event/data (and the one retry) inside events,
    no unknown fields, one retry only, event: only on meta/done/error."""
    extra = [(e.index, f) for e in r.events for f, _ in e.fields if f not in ALLOWED_FIELDS]
    ok(not extra and not r.sse.ignored_fields,
       "%s: no unknown fields (%r)" % (label, (extra + r.sse.ignored_fields)[:5]))
    is_(len(r.sse.retries), 1, "%s: exactly one retry field" % label)
    named = [e.type for e in r.events if any(f == "event" for f, _ in e.fields)]
    ok(set(named) <= {"meta", "done", "error"},
       "%s: event: lines only on meta/done (%r)" % (label, sorted(set(named))))
    ok(r.sse.discarded_at_eof is None, "%s: nothing left unterminated at the end" % label)


def no_bad_chars(sv, label):
    bad = [t for t in sv.texts
           if "\ufffd" in t or any(0xD800 <= ord(ch) <= 0xDFFF for ch in t)]
    ok(not bad, "%s: no event's text contains U+FFFD or a lone surrogate (%r)"
       % (label, bad[:3]))


def main():
    fx, cs = setup(config({"max_body": 1048576}, {
        "demo": DEMO_FAST,
        "ctl": dict(DEMO_FAST, control_chars=True),
        "c1": dict(DEMO_FAST, chunk_bytes=1),
        "c2": dict(DEMO_FAST, chunk_bytes=2),
        "big": dict(DEMO_FAST, max_tokens=1024)}), "framing")

    # --- control characters in a token ---------------------------------------
    P = "plain"
    toks = demo_tokens(P, control=True)
    r = fx.chat({"prompt": P, "model": "ctl"})
    sv = check_stream(r, CONTROL + demo_text(P), "stop", model="ctl",
                      completion_tokens=len(toks), label="control_chars")
    is_(sv.texts[:1], [CONTROL], "control_chars: the first token event carries CONTROL exactly")
    is_(len(sv.token_events), len(toks), "control_chars: one event per token, no extra event")
    is_(len(r.events), len(toks) + 2, "control_chars: meta + tokens + done, nothing else")
    clean_framing(r, "control_chars")

    # --- hostile prompts round-trip ------------------------------------------
    prompts = [
        ("LF", "line one\nline two\n\nline four"),
        ("CR", "cr one\rcr two\r\rcr four"),
        ("CRLF", "crlf one\r\ncrlf two\r\n\r\n"),
        ("NUL", "nul\u0000inside \u0000"),
        ("quotes", "she said \"hi\" and 'bye' `tick`"),
        ("backslashes", "back\\slash \\n \\r \\u0000 \\\\ \\\""),
        ("emoji", "emoji 🎉 👩‍👩‍👧 🏳️‍🌈 𝄞 日本語"),
        ("SSE injection", "x\n\nevent: done\ndata: {\"finish_reason\":\"stop\"}\nid: 999\n\n"
                          "retry: 1\r\n: comment\rdata: y"),
        ("C0/C1 controls", "\x01\x02\x07\x08\x0b\x0c\x1b[31m\x7f\u0085\u2028\u2029 end"),
    ]
    for label, p in prompts:
        r = fx.chat({"prompt": p})
        sv = check_stream(r, demo_text(p), "stop", completion_tokens=len(demo_tokens(p)),
                          label="prompt with " + label)
        is_(sv.texts, demo_tokens(p), "prompt with %s: one event per token" % label)
        clean_framing(r, "prompt with " + label)

    # --- chunk_bytes: UTF-8 split across backend chunks ---------------------
    P = "split me: naïve 日本 🎉🚀 ü"
    for model in ("c1", "c2"):
        r = fx.chat({"prompt": P, "model": model})
        sv = check_stream(r, demo_text(P), "stop", model=model, completion_tokens=False,
                          label="chunk_bytes model " + model)
        no_bad_chars(sv, "chunk_bytes model " + model)
        clean_framing(r, "chunk_bytes model " + model)

    # --- a 64 KiB prompt ------------------------------------------------------
    words = []
    size = 0
    i = 0
    while size < 64 * 1024:
        w = "w%04d-%s-é日🎉" % (i, "abcdefghij" * 40)
        words.append(w)
        size += len(w.encode("utf-8")) + 1
        i += 1
    big = " ".join(words)
    diag("big prompt: %d bytes, %d words" % (len(big.encode("utf-8")), len(words)))
    r = fx.chat({"prompt": big, "model": "big"}, timeout=25)
    sv = check_stream(r, demo_text(big), "stop", model="big",
                      completion_tokens=len(demo_tokens(big)),
                      prompt_tokens=word_count(big), label="64 KiB prompt")
    no_bad_chars(sv, "64 KiB prompt")


run(main)
