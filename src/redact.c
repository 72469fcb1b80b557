/* redact.c: redacts a secret from text before it is cut. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <string.h>

#include "redact.h"

/* Longest j >= min such that s[n-j..n) is key[0..j); 0 when none. */
static size_t
prefix_at_end(const char *s, size_t n, const char *key, size_t klen, size_t min)
{
	size_t j = klen < n ? klen : n;

	for (; j >= min; j--)
		if (memcmp(s + n - j, key, j) == 0)
			return j;
	return 0;
}

/* Longest j >= min such that s[0..j) is key[klen-j..klen); 0 when none. */
static size_t
suffix_at_start(const char *s, size_t n, const char *key, size_t klen, size_t min)
{
	size_t j = klen < n ? klen : n;

	for (; j >= min; j--)
		if (memcmp(s, key + klen - j, j) == 0)
			return j;
	return 0;
}

size_t
redact(const char *secret, const char *in, size_t len, char *out, size_t size)
{
	size_t klen = secret != NULL ? strlen(secret) : 0;
	size_t cut = len, i, j, back, min;

	if (size == 0)
		return 0;
	/* Where the text is cut: never inside a UTF-8 sequence (at most 3 bytes back). */
	if (cut > size - 1) {
		cut = size - 1;
		for (back = 0; back < 3 && cut > 0 &&
		    ((unsigned char)in[cut] & 0xc0) == 0x80; back++)
			cut--;
	}
	for (i = 0; i < cut; i++)
		out[i] = (unsigned char)in[i] < 0x20 || in[i] == 0x7f ? ' ' : in[i];
	out[cut] = '\0';
	if (klen == 0)
		return cut;
	/* Every whole copy in all of in, also one that overlaps another or the cut. */
	for (i = 0; i < cut && klen <= len - i; i++)
		if (memcmp(in + i, secret, klen) == 0)
			memset(out + i, '*', klen < cut - i ? klen : cut - i);
	/*
	 * The ends of the kept text: the rest of a piece of the secret may lie
	 * beyond.  A short secret lowers the bar to half its length, so that
	 * of any two pieces it is cut into, at least one is masked.
	 */
	min = (klen + 1) / 2 < REDACT_MIN ? (klen + 1) / 2 : REDACT_MIN;
	if ((j = prefix_at_end(in, cut, secret, klen, min)) > 0)
		memset(out + cut - j, '*', j);
	if ((j = suffix_at_start(in, cut, secret, klen, min)) > 0)
		memset(out, '*', j);
	return cut;
}
