/* unit_redact.c: redact() masks a secret wherever text is cut: whole, across the cut, in pieces. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "redact.h"
#include "tap.h"

/* No byte of these keys is 'x', the filler of the sweeps. */
static const char KEY[] = "sk-TEST-0123456789abcdefghijklmnopQ";
/* As long as an OpenAI project key (164 bytes): it crosses both cuts at once. */
static const char LONGKEY[] = "sk-proj-"
    "AbCdEfGhIjKlMnOpQrStUvWyZ0123456789-_abcdefghijklmnopqrstuvwyz"
    "ABCDEFGHIJKLMNOPQRSTUVWYZ0123456789-_abcdefghijklmnopqrstuvwyz"
    "0123456789ABCDEFGHIJKLMNOPQRSTUV";

/* 1 when s[0..n) contains needle[0..m). */
static int
has(const char *s, size_t n, const char *needle, size_t m)
{
	size_t i;

	for (i = 0; m <= n && i <= n - m; i++)
		if (memcmp(s + i, needle, m) == 0)
			return 1;
	return 0;
}

/*
 * Why out[0..n) leaks key, or NULL: the whole key anywhere, a tail that is a
 * prefix of it or a head that is a suffix of it of at least min bytes.
 */
static const char *
leak(const char *out, size_t n, const char *key, size_t min)
{
	size_t klen = strlen(key), j;

	if (has(out, n, key, klen))
		return "the whole key";
	for (j = min; j <= klen && j <= n; j++) {
		if (memcmp(out + n - j, key, j) == 0)
			return "a prefix of the key at the end";
		if (memcmp(out, key + klen - j, j) == 0)
			return "a suffix of the key at the start";
	}
	return NULL;
}

static void
basics(void)
{
	char out[256];
	size_t n;

	n = redact(NULL, "a\tb\nc\x7f", 6, out, sizeof(out));
	ok(n == 6 && strcmp(out, "a b c ") == 0, "no key: control bytes become spaces");
	n = redact("", "plain text", 10, out, sizeof(out));
	ok(n == 10 && strcmp(out, "plain text") == 0, "an empty key masks nothing");
	n = redact(KEY, "a\0b", 3, out, sizeof(out));
	ok(n == 3 && strcmp(out, "a b") == 0, "a NUL in the text becomes a space");
	ok(redact(KEY, "abc", 3, out, 0) == 0, "size 0: nothing written");
	n = redact(KEY, "abc", 3, out, 1);
	ok(n == 0 && out[0] == '\0', "size 1: an empty string");
	n = redact(KEY, "a\xc3\xa9", 3, out, 3);
	ok(n == 1 && strcmp(out, "a") == 0, "the cut does not split a UTF-8 character");
	n = redact(KEY, "\xe6\x97\xa5\xe6\x97\xa5", 6, out, 6);
	ok(n == 3 && strcmp(out, "\xe6\x97\xa5") == 0,
	    "the cut backs off to the start of a 3-byte character");
}

static void
whole(void)
{
	char in[512], out[512], want[512];
	size_t klen = strlen(KEY), n;

	snprintf(in, sizeof(in), "before %s after", KEY);
	snprintf(want, sizeof(want), "before %*s after", (int)klen, "");
	memset(want + 7, '*', klen);
	n = redact(KEY, in, strlen(in), out, sizeof(out));
	is_str(out, want, "a whole key in the middle is masked, the rest kept");
	ok(n == strlen(in), "nothing cut: the length is kept");

	snprintf(in, sizeof(in), "%s and %s", KEY, KEY);
	redact(KEY, in, strlen(in), out, sizeof(out));
	ok(!has(out, strlen(out), KEY, 4) && strstr(out, " and ") != NULL &&
	    strspn(out, "*") == klen, "a key appearing twice: both masked");

	redact("abab", "xababab y", 9, out, sizeof(out));
	is_str(out, "x****** y", "overlapping copies are all masked");

	redact("Bearer", "Bearer Bearer", 13, out, sizeof(out));
	is_str(out, "****** ******", "copies that touch are all masked");
}

/*
 * filler(N) + " key=" + KEY + " and more", for N in 0..400, cut to size - 1:
 * no piece of the key of REDACT_MIN bytes or more survives at the cut, and
 * every byte that is not the key's is kept as it was.  With chained set,
 * the result is cut again, to 255 bytes, as an error message would be.
 */
static void
sweep(const char *key, size_t size, int chained)
{
	char in[1024], out[1024], out2[256];
	size_t klen = strlen(key), n, len, i, fill, bad = 0, changed = 0, wronglen = 0;
	const char *why = NULL;

	for (fill = 0; fill <= 400; fill++) {
		memset(in, 'x', fill);
		len = fill + (size_t)snprintf(in + fill, sizeof(in) - fill, " key=%s and more", key);
		n = redact(key, in, len, out, size);
		if (chained)
			n = redact(key, out, n, out2, sizeof(out2));
		if (n != (len < (chained ? sizeof(out2) : size) ? len :
		    (chained ? sizeof(out2) : size) - 1))
			wronglen++;
		if (chained)
			memcpy(out, out2, n + 1);
		if ((why = leak(out, n, key, REDACT_MIN)) != NULL || has(out, n, key, REDACT_MIN)) {
			if (bad++ == 0)
				diag("filler %zu: %s: \"%s\"", fill, why != NULL ? why :
				    "the key's first bytes", out + (n > 60 ? n - 60 : 0));
		}
		for (i = 0; i < n; i++)
			if ((i < fill + 5 || i >= fill + 5 + klen) && out[i] != in[i]) {
				if (changed++ == 0)
					diag("filler %zu: byte %zu changed", fill, i);
				break;
			}
	}
	ok(bad == 0, "%zu-byte key, size %zu%s, filler 0..400 then the key: no piece of "
	    "the key of %d+ bytes at the cut, and not its head anywhere (%zu bad)", klen, size,
	    chained ? " then 256" : "", REDACT_MIN, bad);
	ok(changed == 0, "%zu-byte key, size %zu%s: the text around the key is kept "
	    "(%zu changed)", klen, size, chained ? " then 256" : "", changed);
	ok(wronglen == 0, "%zu-byte key, size %zu%s: the text is cut to exactly size - 1 "
	    "(%zu wrong)", klen, size, chained ? " then 256" : "", wronglen);
}

/* KEY[k..] + " tail": the text starts inside the key. */
static void
heads(void)
{
	char in[256], out[256], want[256];
	size_t klen = strlen(KEY), k, bad = 0;

	for (k = 0; k <= klen; k++) {
		snprintf(in, sizeof(in), "%s tail", KEY + k);
		if (klen - k >= REDACT_MIN) {
			memset(want, '*', klen - k);
			strcpy(want + klen - k, " tail");
		} else
			strcpy(want, in);
		redact(KEY, in, strlen(in), out, sizeof(out));
		if (strcmp(out, want) != 0 && bad++ == 0)
			diag("from byte %zu of the key: got \"%s\", want \"%s\"", k, out, want);
	}
	ok(bad == 0, "text starting inside the key: a head that is a suffix of %d+ bytes "
	    "is masked, a shorter one kept (%zu bad)", REDACT_MIN, bad);
}

/*
 * The text cut in two at every byte, each piece redacted alone (as chunks
 * would be), then joined: the key never shows whole, nor its first or last
 * REDACT_MIN bytes.
 */
static void
chunks(const char *key, const char *label)
{
	char in[256], a[256], b[256], joined[512];
	size_t klen = strlen(key), len, p, na, nb, bad = 0;
	size_t min = klen < REDACT_MIN ? klen : REDACT_MIN;

	len = (size_t)snprintf(in, sizeof(in), "<%s>", key);
	for (p = 0; p <= len; p++) {
		na = redact(key, in, p, a, sizeof(a));
		nb = redact(key, in + p, len - p, b, sizeof(b));
		memcpy(joined, a, na);
		memcpy(joined + na, b, nb);
		if ((has(joined, na + nb, key, klen) ||
		    (klen >= 2 * REDACT_MIN && (has(joined, na + nb, key, min) ||
		    has(joined, na + nb, key + klen - min, min)))) && bad++ == 0)
			diag("%s split at %zu: \"%.*s\"", label, p, (int)(na + nb), joined);
	}
	ok(bad == 0, "%s, cut in two at every byte, pieces redacted alone: no whole key%s "
	    "(%zu bad)", label, klen >= 2 * REDACT_MIN ? ", no head or tail of it" : "", bad);
}

int
main(void)
{
	static const char *shorts[] = { "a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg" };
	char out[64], label[64];
	size_t i;

	basics();
	whole();
	sweep(KEY, 256, 0);
	sweep(KEY, 300, 0);
	sweep(KEY, 300, 1);
	sweep(KEY, 64, 0);
	sweep(LONGKEY, 256, 0);
	sweep(LONGKEY, 300, 1);
	heads();
	chunks(KEY, "a long key");
	for (i = 0; i < sizeof(shorts) / sizeof(shorts[0]); i++) {
		snprintf(label, sizeof(label), "a %zu-byte key", strlen(shorts[i]));
		chunks(shorts[i], label);
	}
	redact("abc", "x abc y abcabc", 14, out, sizeof(out));
	is_str(out, "x *** y ******", "a 3-byte key: its whole copies are masked");
	redact("abc", "the ab", 6, out, sizeof(out));
	is_str(out, "the **", "a 3-byte key: 2 of its bytes at the end are masked");
	return done_testing();
}
