/* utf8.h: strict UTF-8 validation and a streaming sanitiser that never splits a character. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_UTF8_H
#define CS_UTF8_H

#include <stddef.h>

#include "buf.h"

/* Returns 1 when s[0..len) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int utf8_valid(const char *s, size_t len);

/*
 * Bytes carried between chunks: an incomplete trailing sequence (at most 3
 * bytes) is held back until the next chunk completes it.
 */
struct utf8_carry {
	unsigned char bytes[4];
	size_t len;
};

/*
 * Appends the well-formed text of carry + in[0..len) to out, replacing each
 * maximal ill-formed subpart with U+FFFD (as the WHATWG decoder does).  An
 * incomplete sequence at the end is kept in carry, unless final is set, in
 * which case it becomes U+FFFD.  Output only ends at a character boundary:
 * what would pass out's cap is left for the next call.  Never fails.
 *
 * Returns how many bytes of in were consumed.  When that is less than len,
 * or final is set and carry->len is still not 0, out is full: the caller
 * takes its text, empties it and calls again with the rest.  Progress needs
 * out empty with a cap of at least UTF8_MAX_OUT bytes (or out of memory).
 */
size_t utf8_sanitize(struct utf8_carry *carry, const char *in, size_t len,
    int final, struct buf *out);

/* The most one character (or one U+FFFD) adds to the output. */
#define UTF8_MAX_OUT 4

#endif
