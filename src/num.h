/* num.h: strict decimal parsing for numbers that arrive as text (headers, params, query strings). */
/* SPDX-License-Identifier: ISC */
#ifndef CS_NUM_H
#define CS_NUM_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parses s[0..len) as a decimal number: one or more ASCII digits and nothing
 * else (no sign, no space, no "0x"), at most max.  strtoull() would take
 * " 5", "+2" and " -1" (the last as 2^64 - 1); this takes none of them.
 * Returns 0 with *out set, or -1 (empty, not all digits, or above max).
 */
int num_parse(const char *s, size_t len, uint64_t max, uint64_t *out);

#endif
