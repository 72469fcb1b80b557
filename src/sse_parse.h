/* sse_parse.h: an incremental Server-Sent Events parser (WHATWG rules) with hard size caps. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_SSE_PARSE_H
#define CS_SSE_PARSE_H

#include <stddef.h>

#include "buf.h"

/*
 * Called once per dispatched event: type is "message" unless an `event:`
 * field named another; data (NUL-terminated, len bytes) is the data lines
 * joined with LF.  Returns 0 to go on; anything else stops the parser and is
 * returned by sse_parse_feed().
 */
typedef int (*sse_event_cb)(void *ctx, const char *type, const char *data,
    size_t len);

struct sse_parser {
	struct buf line;          /* the line being read (cap: max_line) */
	struct buf data;          /* the event's data so far (cap: max_event) */
	char type[64];            /* the event type (longer names are cut) */
	int after_cr;             /* the last byte was CR: an LF next is the same line end */
	int started;              /* past the optional BOM */
	sse_event_cb cb;
	void *ctx;
};

/* Prepares p; nothing is allocated until bytes arrive. */
void sse_parse_init(struct sse_parser *p, size_t max_line, size_t max_event,
    sse_event_cb cb, void *ctx);

/*
 * Feeds bytes split anywhere (lines, CRLF pairs and UTF-8 sequences may
 * straddle calls).  Returns 0; SSE_PARSE_TOO_BIG when a line or an event
 * exceeds its cap; or the callback's non-zero return.
 */
#define SSE_PARSE_TOO_BIG (-100)
int  sse_parse_feed(struct sse_parser *p, const char *bytes, size_t len);

/* 1 when an event or a line has begun but not been dispatched (a truncated stream). */
int  sse_parse_pending(const struct sse_parser *p);

/* Releases p's buffers. */
void sse_parse_free(struct sse_parser *p);

#endif
