/* utf8.c: strict UTF-8 validation and sanitising with hold-back of incomplete sequences. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <string.h>
#include <sys/types.h>

#include "utf8.h"

static const char replacement[] = "\xEF\xBF\xBD";

/*
 * Looks at s[0..len) which starts with a non-ASCII byte.  Returns the length
 * of the well-formed sequence there (2..4); or 0 when the sequence is
 * incomplete but could still become well-formed; or -k when the first k bytes
 * form a maximal ill-formed subpart.
 */
static int
sequence(const unsigned char *s, size_t len)
{
	unsigned char lo = 0x80, hi = 0xBF;
	int need, i;

	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		need = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		need = 3;
		if (s[0] == 0xE0)
			lo = 0xA0;
		else if (s[0] == 0xED)
			hi = 0x9F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		need = 4;
		if (s[0] == 0xF0)
			lo = 0x90;
		else if (s[0] == 0xF4)
			hi = 0x8F;
	} else
		return -1;

	for (i = 1; i < need; i++) {
		if ((size_t)i >= len)
			return 0;
		if (s[i] < lo || s[i] > hi)
			return -i;
		lo = 0x80;
		hi = 0xBF;
	}
	return need;
}

int
utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		int n;

		if (s[i] < 0x80) {
			i++;
			continue;
		}
		n = sequence(s + i, len - i);
		if (n <= 0)
			return 0;
		i += (size_t)n;
	}
	return 1;
}

/* Room left in out before its cap. */
static size_t
room(const struct buf *out)
{
	return out->cap > out->len ? out->cap - out->len : 0;
}

/*
 * Completes (or gives up on) the sequence held in carry with the first bytes
 * of s[0..len).  Returns the bytes of s used, or -1 when what it has to write
 * does not fit in out (carry and out unchanged).
 */
static ssize_t
finish_carry(struct utf8_carry *c, const unsigned char *s, size_t len,
    int final, struct buf *out)
{
	unsigned char seq[4];
	size_t take = len < sizeof(seq) - c->len ? len : sizeof(seq) - c->len;
	size_t have = c->len + take;
	int n;

	memcpy(seq, c->bytes, c->len);
	if (take > 0)
		memcpy(seq + c->len, s, take);
	n = sequence(seq, have);
	if (n == 0 && !final) {
		/* Still incomplete: all of s (fewer than 4 bytes) joins the carry. */
		memcpy(c->bytes, seq, have);
		c->len = have;
		return (ssize_t)len;
	}
	if (n > 0) {
		/* A held sequence is a viable prefix: it completes past c->len. */
		if ((size_t)n > room(out) || buf_add(out, seq, (size_t)n) == -1)
			return -1;
		take = (size_t)n - c->len;
	} else {
		/*
		 * Ill-formed (or cut short by the end of the stream): one U+FFFD
		 * for the maximal subpart, which ends at or after the held bytes;
		 * the rest is read again as fresh input.
		 */
		if (room(out) < 3 || buf_add(out, replacement, 3) == -1)
			return -1;
		take = n == 0 ? len : (size_t)-n - c->len;
	}
	c->len = 0;
	return (ssize_t)take;
}

size_t
utf8_sanitize(struct utf8_carry *c, const char *in, size_t len, int final,
    struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, start;

	if (c->len > 0) {
		ssize_t used = finish_carry(c, s, len, final, out);

		if (used < 0)
			return 0;
		i = (size_t)used;
	}
	if (i == len)
		return len;
	/* s[start..i) is well-formed and fits: it goes out in one piece. */
	for (start = i; i < len; ) {
		int n = s[i] < 0x80 ? 1 : sequence(s + i, len - i);

		if (n > 0) {
			if ((size_t)n > room(out) - (i - start))
				break;
			i += (size_t)n;
			continue;
		}
		if (buf_add(out, s + start, i - start) == -1)
			return start;
		start = i;
		if (n == 0 && !final) {
			/* An incomplete sequence at the end waits for the next call. */
			memcpy(c->bytes, s + i, len - i);
			c->len = len - i;
			return len;
		}
		if (room(out) < 3 || buf_add(out, replacement, 3) == -1)
			return i;
		i += n == 0 ? len - i : (size_t)-n;
		start = i;
	}
	if (buf_add(out, s + start, i - start) == -1)
		return start;
	return i;
}
