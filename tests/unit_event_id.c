/* unit_event_id.c: Last-Event-ID parsing, both forms, and the ids the SSE encoder writes. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "event_id.h"
#include "sse.h"
#include "tap.h"

#define SID "AbCdEfGhIjKlMnOpQrSt-_"

static void
good(const char *s, const char *want_stream, uint64_t want_n)
{
	char stream[EVENT_ID_STREAM_MAX + 1] = "x";
	uint64_t n = 777;

	if (is_int(event_id_parse(s, strlen(s), stream, &n), 0, "\"%s\": accepted", s)) {
		is_str(stream, want_stream, "\"%s\": stream", s);
		ok(n == want_n, "\"%s\": n = %llu", s, (unsigned long long)want_n);
	}
}

static void
bad(const char *s)
{
	char stream[EVENT_ID_STREAM_MAX + 1] = "x";
	uint64_t n = 777;

	is_int(event_id_parse(s, strlen(s), stream, &n), -1, "\"%s\": refused", s);
	ok(n == 777 && strcmp(stream, "x") == 0, "\"%s\": untouched", s);
}

int
main(void)
{
	struct buf b;

	plan(33);
	good("0", "", 0);
	good("42", "", 42);
	good(SID ".7", SID, 7);
	good(SID ".0", SID, 0);
	bad("");
	bad(".5");
	bad(SID ".");
	bad(SID ".x");
	bad(SID ".-1");
	bad("short.5");          /* not a stream id: too short */
	bad("AbCdEfGhIjKlMnOp+/.5");  /* base64, not base64url */
	bad(SID ".5.6");
	bad(" 5");
	/* What the encoder writes, the parser reads back. */
	buf_init(&b, 4096);
	ok(sse_event_of(&b, SID, 12, "meta", "{}", 2) == 0, "encoded");
	is_str(b.data, "event: meta\ndata: {}\nid: " SID ".12\n\n", "id names its stream");
	buf_reset(&b);
	ok(sse_event_of(&b, NULL, 3, NULL, "x", 1) == 0 &&
	    strcmp(b.data, "data: x\nid: 3\n\n") == 0, "no stream: a bare number");
	buf_free(&b);
	return done_testing();
}
