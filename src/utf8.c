/* utf8.c: strict UTF-8 validation and sanitising with hold-back of incomplete sequences. */
#include "config.h"

#include <string.h>

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

/* Sanitises s[0..len); returns bytes consumed (an incomplete tail is left). */
static int
sanitize_run(const unsigned char *s, size_t len, int final, struct buf *out,
    size_t *consumed)
{
	size_t i = 0, start = 0;

	while (i < len) {
		int n;

		if (s[i] < 0x80) {
			i++;
			continue;
		}
		n = sequence(s + i, len - i);
		if (n > 0) {
			i += (size_t)n;
			continue;
		}
		if (buf_add(out, s + start, i - start) == -1)
			return -1;
		if (n == 0 && !final) {
			*consumed = i;
			return 0;
		}
		if (buf_add(out, replacement, 3) == -1)
			return -1;
		i += n == 0 ? len - i : (size_t)-n;
		start = i;
	}
	if (buf_add(out, s + start, i - start) == -1)
		return -1;
	*consumed = len;
	return 0;
}

int
utf8_sanitize(struct utf8_carry *c, const char *in, size_t len, int final,
    struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t used;

	/* First complete (or give up on) the sequence carried from last time. */
	while (c->len > 0 && (len > 0 || final)) {
		int n;

		if (len > 0) {
			c->bytes[c->len++] = *s++;
			len--;
		}
		n = sequence(c->bytes, c->len);
		if (n == 0 && (len > 0 || !final))
			continue;
		if (n > 0) {
			if (buf_add(out, c->bytes, (size_t)n) == -1)
				return -1;
			c->len = 0;
			break;
		}
		/* Ill-formed: one U+FFFD for the maximal subpart, re-scan the rest. */
		if (buf_add(out, replacement, 3) == -1)
			return -1;
		{
			size_t k = n == 0 ? c->len : (size_t)-n;
			unsigned char rest[4];
			size_t restlen = c->len - k;

			memcpy(rest, c->bytes + k, restlen);
			c->len = 0;
			if (restlen > 0 && sanitize_run(rest, restlen, final && len == 0,
			    out, &used) == -1)
				return -1;
			if (restlen > 0 && used < restlen) {
				memcpy(c->bytes, rest + used, restlen - used);
				c->len = restlen - used;
			}
		}
		if (c->len == 0)
			break;
	}
	if (len == 0)
		return 0;
	if (sanitize_run(s, len, final, out, &used) == -1)
		return -1;
	if (used < len) {
		memcpy(c->bytes, s + used, len - used);
		c->len = len - used;
	}
	return 0;
}
