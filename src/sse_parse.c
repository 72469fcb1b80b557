/* sse_parse.c: incremental SSE parsing from arbitrary chunks, per the WHATWG event-stream rules. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <string.h>

#include "sse_parse.h"

void
sse_parse_init(struct sse_parser *p, size_t max_line, size_t max_event,
    sse_event_cb cb, void *ctx)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->line, max_line);
	buf_init(&p->data, max_event);
	p->cb = cb;
	p->ctx = ctx;
}

void
sse_parse_free(struct sse_parser *p)
{
	buf_free(&p->line);
	buf_free(&p->data);
}

int
sse_parse_pending(const struct sse_parser *p)
{
	return p->line.len > 0 || p->data.len > 0;
}

/* A blank line: hand the event over, then start a new one. */
static int
dispatch(struct sse_parser *p)
{
	int rc = 0;

	if (p->data.len > 0) {
		/* Every data line added an LF; the last one is not part of the data. */
		p->data.data[--p->data.len] = '\0';
		rc = p->cb(p->ctx, p->type[0] != '\0' ? p->type : "message",
		    p->data.data, p->data.len);
	}
	buf_reset(&p->data);
	p->type[0] = '\0';
	return rc;
}

static int
process_line(struct sse_parser *p)
{
	const char *line = p->line.data != NULL ? p->line.data : "";
	size_t len = p->line.len, nlen, vlen;
	const char *colon, *value;
	int rc = 0;

	if (len == 0)
		return dispatch(p);
	if (line[0] == ':')
		goto out;                     /* a comment: pings, keep-alives */
	colon = memchr(line, ':', len);
	nlen = colon != NULL ? (size_t)(colon - line) : len;
	value = colon != NULL ? colon + 1 : line + len;
	vlen = (size_t)(line + len - value);
	if (vlen > 0 && value[0] == ' ') {
		value++;
		vlen--;
	}
	if (nlen == 4 && memcmp(line, "data", 4) == 0) {
		if (buf_add(&p->data, value, vlen) == -1 || buf_addc(&p->data, '\n') == -1)
			rc = SSE_PARSE_TOO_BIG;
	} else if (nlen == 5 && memcmp(line, "event", 5) == 0) {
		size_t n = vlen < sizeof(p->type) - 1 ? vlen : sizeof(p->type) - 1;

		memcpy(p->type, value, n);
		p->type[n] = '\0';
	}
	/* id, retry and unknown fields do not matter to a relay. */
out:
	buf_reset(&p->line);
	return rc;
}

int
sse_parse_feed(struct sse_parser *p, const char *bytes, size_t len)
{
	size_t i = 0;

	if (!p->started && len > 0) {
		/* One leading BOM is dropped; its bytes may arrive in pieces. */
		static const char bom[] = "\xEF\xBB\xBF";
		size_t have = p->line.len, n = 0;

		while (have + n < 3 && n < len && bytes[n] == bom[have + n])
			n++;
		if (have + n == 3) {
			buf_reset(&p->line);
			p->started = 1;
			i = n;
		} else if (n == len) {
			return buf_add(&p->line, bytes, len) == -1 ? SSE_PARSE_TOO_BIG : 0;
		} else
			p->started = 1;   /* not a BOM: any bytes held are an ordinary line start */
	}
	while (i < len) {
		size_t start = i;
		int rc;

		if (p->after_cr) {
			p->after_cr = 0;
			if (bytes[i] == '\n') {
				i++;
				continue;
			}
		}
		while (i < len && bytes[i] != '\n' && bytes[i] != '\r')
			i++;
		if (buf_add(&p->line, bytes + start, i - start) == -1)
			return SSE_PARSE_TOO_BIG;
		if (i == len)
			break;
		p->after_cr = bytes[i] == '\r';
		i++;
		if ((rc = process_line(p)) != 0)
			return rc;
	}
	return 0;
}
