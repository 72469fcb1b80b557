/*
 * fuzz_sse_parse.c: the upstream SSE parser fed the same bytes whole and in
 * random chunks: the events, the return code and the pending state must be
 * the same, every event within the caps.
 *
 * Input: a byte choosing the caps, two bytes seeding the chunk sizes, then
 * the stream.
 */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "sse_parse.h"

struct seen {
	struct buf log;           /* every event: type, NUL, length, data */
	size_t max_event;
	int stop_after;           /* the callback stops the parser at this event (0: never) */
	int events;
};

static int
on_event(void *ctx, const char *type, const char *data, size_t len)
{
	struct seen *s = ctx;

	FUZZ_CHECK(len <= s->max_event, "an event over max_event");
	FUZZ_CHECK(data[len] == '\0', "event data not NUL-terminated");
	FUZZ_CHECK(strlen(type) > 0 && strlen(type) < 64, "event type empty or too long");
	FUZZ_CHECK(buf_adds(&s->log, type) == 0 && buf_addc(&s->log, '\0') == 0 &&
	    buf_add_u64(&s->log, len) == 0 && buf_addc(&s->log, ':') == 0 &&
	    buf_add(&s->log, data, len) == 0, "event log full");
	if (++s->events == s->stop_after)
		return 7;
	return 0;
}

/* Parses in[0..len) whole (seed 0) or in pieces; returns the feed's result. */
static int
parse(const char *in, size_t len, unsigned caps, unsigned seed, struct seen *s,
    int *pending)
{
	struct sse_parser p;
	size_t max_line = 8 + (caps & 15) * 16, off = 0;
	int rc = 0;

	s->max_event = 16 + ((caps >> 4) & 7) * 64;
	s->stop_after = caps & 0x80 ? 3 : 0;
	s->events = 0;
	buf_init(&s->log, 4 * len + 4096);
	sse_parse_init(&p, max_line, s->max_event, on_event, s);
	while (seed != 0 && off < len && rc == 0) {
		size_t n;

		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % 9;
		if (n > len - off)
			n = len - off;
		rc = sse_parse_feed(&p, in + off, n);
		off += n;
	}
	if (rc == 0)
		rc = sse_parse_feed(&p, in + off, len - off);
	*pending = sse_parse_pending(&p);
	sse_parse_free(&p);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned caps = fuzz_byte(&in), seed = fuzz_byte(&in) << 8;
	struct seen whole, split;
	int rc1, rc2, pend1, pend2;

	seed |= fuzz_byte(&in);
	rc1 = parse((const char *)in.p, in.n, caps, 0, &whole, &pend1);
	rc2 = parse((const char *)in.p, in.n, caps, seed | 1, &split, &pend2);
	FUZZ_CHECK(rc1 == 0 || rc1 == SSE_PARSE_TOO_BIG || rc1 == 7, "an unexpected result");
	FUZZ_CHECK(rc1 == rc2, "the result depends on how the input was split");
	FUZZ_CHECK(whole.log.len == split.log.len && (whole.log.len == 0 ||
	    memcmp(whole.log.data, split.log.data, whole.log.len) == 0),
	    "the events depend on how the input was split");
	if (rc1 == 0)
		FUZZ_CHECK(pend1 == pend2, "the pending state depends on the split");
	buf_free(&whole.log);
	buf_free(&split.log);
	return 0;
}
