/* event_id.c: reading a Last-Event-ID, `<stream id>.<n>` or a bare `<n>`. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <string.h>

#include "event_id.h"
#include "num.h"

static int
b64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int
event_id_parse(const char *s, size_t len, char *stream, uint64_t *n)
{
	const char *dot = len > 0 ? memchr(s, '.', len) : NULL;
	size_t slen, i;
	uint64_t v;

	if (dot == NULL) {
		if (num_parse(s, len, INT64_MAX, &v) == -1)
			return -1;
		stream[0] = '\0';
		*n = v;
		return 0;
	}
	slen = (size_t)(dot - s);
	if (slen < 16 || slen > EVENT_ID_STREAM_MAX)
		return -1;
	for (i = 0; i < slen; i++)
		if (!b64url(s[i]))
			return -1;
	if (num_parse(dot + 1, len - slen - 1, INT64_MAX, &v) == -1)
		return -1;
	memcpy(stream, s, slen);
	stream[slen] = '\0';
	*n = v;
	return 0;
}
