/* sse.h: the Server-Sent Events encoder; no payload can inject a field, an event or an id. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_SSE_H
#define CS_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * Appends one complete event to out: `event:` (when name is not NULL; CR
 * and LF are dropped from it), one `data:` line per line of data (split on
 * CRLF, CR and LF, so a bare CR cannot start a new field), `id:` (when
 * id > 0; last, so a client that records an id as soon as it reads it has
 * read the whole event by then), then the blank line that dispatches it.
 * LF line endings only.
 * Returns 0, or -1 when out's cap would be exceeded (out is then unchanged).
 */
int sse_event(struct buf *out, uint64_t id, const char *name,
    const char *data, size_t len);

/*
 * The same, with the id naming its stream: `id: <stream>.<id>` (stream is a
 * stream id, base64url, so the last '.' separates the two; NULL: `id: <id>`).
 */
int sse_event_of(struct buf *out, const char *stream, uint64_t id,
    const char *name, const char *data, size_t len);

/* Appends a comment line (`: text`, CR/LF/NUL dropped). Returns 0 or -1 as above. */
int sse_comment(struct buf *out, const char *text);

/* Appends a `retry: ms` field line. Returns 0 or -1 as above. */
int sse_retry(struct buf *out, unsigned ms);

#endif
