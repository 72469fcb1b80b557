/* stream_wire.h: what the stream unit tests share: a stream into memory, its wire compared. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_TEST_STREAM_WIRE_H
#define CS_TEST_STREAM_WIRE_H

/*
 * Include after tap.h.  A case runs a stream into an in-memory connection
 * and compares what it received, byte for byte, with the expected
 * response: in the expected text @ID@ stands for the stream's id and @T@
 * for its creation time; the timings of a native done event (ttft_ms,
 * duration_ms) are read as @MS@, as they depend on the clock.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "memconn.h"
#include "stream.h"

#define WIRE_CAP (1 << 20)

#define SSE_HEAD \
    "Status: 200 OK\r\n" \
    "Content-Type: text/event-stream; charset=utf-8\r\n" \
    "Cache-Control: no-cache\r\n" \
    "X-Accel-Buffering: no\r\n" \
    "X-Content-Type-Options: nosniff\r\n" \
    "X-Stream-Id: @ID@\r\n" \
    "\r\n"

#define JSON_HEAD \
    "Status: 200 OK\r\n" \
    "Content-Type: application/json\r\n" \
    "Cache-Control: no-store\r\n" \
    "X-Stream-Id: @ID@\r\n" \
    "\r\n"

/* want with @ID@ and @T@ filled in from s, into out. */
static inline void
expand(struct buf *out, const char *want, const struct stream *s)
{
	char t[32];

	snprintf(t, sizeof(t), "%lld", (long long)s->created);
	buf_reset(out);
	while (*want != '\0') {
		if (strncmp(want, "@ID@", 4) == 0) {
			buf_adds(out, s->id);
			want += 4;
		} else if (strncmp(want, "@T@", 3) == 0) {
			buf_adds(out, t);
			want += 3;
		} else
			buf_addc(out, *want++);
	}
}

/* got with the digits after "ttft_ms": and "duration_ms": as @MS@, into out. */
static inline void
mask_timings(struct buf *out, const char *got, size_t len)
{
	const char *end = got + len;

	buf_reset(out);
	while (got < end) {
		if ((size_t)(end - got) > 10 && (strncmp(got, "\"ttft_ms\":", 10) == 0 ||
		    strncmp(got, "\"duration_ms\":", 14) == 0)) {
			size_t n = got[1] == 't' ? 10 : 14;

			buf_add(out, got, n);
			buf_adds(out, "@MS@");
			for (got += n; got < end && isdigit((unsigned char)*got); got++)
				continue;
		} else
			buf_addc(out, *got++);
	}
}

/* Compares what w received (timings masked) with want, expanded for s. */
static inline void
is_wire(const struct memconn *w, const struct stream *s, const char *want, const char *what)
{
	struct buf got, exp;

	buf_init(&got, WIRE_CAP);
	buf_init(&exp, WIRE_CAP);
	mask_timings(&got, w->bytes.data != NULL ? w->bytes.data : "", w->bytes.len);
	expand(&exp, want, s);
	is_mem(got.data, got.len, exp.data, exp.len, "%s", what);
	buf_free(&got);
	buf_free(&exp);
}

static inline void
open_stream(struct stream *s, struct memconn *w, const struct conf *cf,
    enum stream_format format)
{
	memconn_init(w, WIRE_CAP, 0);
	if (stream_open(s, cf, conf_model(cf, NULL), &w->c, format, NULL) == -1) {
		diag("stream_open failed");
		exit(1);
	}
}

static inline void
close_stream(struct stream *s, struct memconn *w)
{
	stream_close(s);
	memconn_free(w);
}

#endif
