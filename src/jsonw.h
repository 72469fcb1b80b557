/* jsonw.h: appending JSON string literals to a buf without building a json-c tree. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_JSONW_H
#define CS_JSONW_H

#include <stddef.h>

#include "buf.h"

/*
 * Appends s[0..len) escaped as the inside of a JSON string (no quotes):
 * '"', '\\' and every control character are escaped, so the result is
 * always one line.  s must be valid UTF-8.  Returns 0, or -1 on b's cap.
 */
int jsonw_chars(struct buf *b, const char *s, size_t len);

/* The same between double quotes. */
int jsonw_string(struct buf *b, const char *s, size_t len);

#endif
