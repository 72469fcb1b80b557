/* sse.c: Server-Sent Events framing with LF endings and CR/LF/NUL-safe fields. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <inttypes.h>
#include <string.h>

#include "sse.h"

/* Appends s[0..len) without CR, LF or NUL: the characters that would end a field. */
static int
add_field_value(struct buf *out, const char *s, size_t len)
{
	size_t i, start = 0;

	for (i = 0; i < len; i++) {
		if (s[i] != '\r' && s[i] != '\n' && s[i] != '\0')
			continue;
		if (buf_add(out, s + start, i - start) == -1)
			return -1;
		start = i + 1;
	}
	return buf_add(out, s + start, len - start);
}

int
sse_event(struct buf *out, uint64_t id, const char *name, const char *data,
    size_t len)
{
	return sse_event_of(out, NULL, id, name, data, len);
}

int
sse_event_of(struct buf *out, const char *stream, uint64_t id, const char *name,
    const char *data, size_t len)
{
	size_t mark = out->len, i = 0, start = 0;

	if (name != NULL && (buf_add(out, "event: ", 7) == -1 ||
	    add_field_value(out, name, strlen(name)) == -1 ||
	    buf_addc(out, '\n') == -1))
		goto overflow;
	for (;;) {
		if (i < len && data[i] != '\r' && data[i] != '\n') {
			i++;
			continue;
		}
		if (buf_add(out, "data: ", 6) == -1 ||
		    (i > start && buf_add(out, data + start, i - start) == -1) ||
		    buf_addc(out, '\n') == -1)
			goto overflow;
		if (i >= len)
			break;
		if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
			i++;
		start = ++i;
	}
	/*
	 * The id last: a client that takes an id: line as read (as
	 * fetch-event-source does), not when the event is dispatched, must not
	 * skip an event it lost to a cut between its id and its end.
	 */
	if (id > 0 && (buf_add(out, "id: ", 4) == -1 ||
	    (stream != NULL && (add_field_value(out, stream, strlen(stream)) == -1 ||
	    buf_addc(out, '.') == -1)) ||
	    buf_add_u64(out, id) == -1 || buf_addc(out, '\n') == -1))
		goto overflow;
	if (buf_addc(out, '\n') == -1)
		goto overflow;
	return 0;
overflow:
	out->len = mark;
	if (out->data != NULL)
		out->data[mark] = '\0';
	return -1;
}

int
sse_comment(struct buf *out, const char *text)
{
	size_t mark = out->len;

	if (buf_add(out, ": ", 2) == -1 ||
	    add_field_value(out, text, strlen(text)) == -1 ||
	    buf_addc(out, '\n') == -1) {
		out->len = mark;
		if (out->data != NULL)
			out->data[mark] = '\0';
		return -1;
	}
	return 0;
}

int
sse_retry(struct buf *out, unsigned ms)
{
	return buf_printf(out, "retry: %u\n", ms);
}
