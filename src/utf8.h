/* utf8.h: strict UTF-8 validation and a streaming sanitiser that never splits a character. */
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
 * which case it becomes U+FFFD.  Returns 0, or -1 when out's cap is reached.
 */
int utf8_sanitize(struct utf8_carry *carry, const char *in, size_t len,
    int final, struct buf *out);

#endif
