/* event_id.h: reading a Last-Event-ID, `<stream id>.<n>` or a bare `<n>`. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_EVENT_ID_H
#define CS_EVENT_ID_H

#include <stddef.h>
#include <stdint.h>

/* The longest stream id an event id may name (as journal_valid_id()). */
#define EVENT_ID_STREAM_MAX 64

/*
 * Parses s[0..len) as an event id: either `<stream>.<n>` (stream: 16 to 64
 * base64url characters; n: digits as num_parse() takes them), copied to
 * stream (EVENT_ID_STREAM_MAX + 1 bytes) with *n; or the bare digits `<n>`,
 * which name no stream (stream is then ""). Returns 0, or -1 when s is
 * neither (stream and *n then untouched).
 */
int event_id_parse(const char *s, size_t len, char *stream, uint64_t *n);

#endif
