/* unit_utf8.c: utf8_valid and the streaming sanitiser against a WHATWG reference decoder. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "utf8.h"
#include "helpers.h"
#include "tap.h"

#define BIG	(1u << 20)	/* output cap that the tests never reach */
#define MAXIN	64		/* longest generated input */

static const char fffd[] = "\xEF\xBF\xBD";

/* memcmp() that accepts NULL for an empty buffer. */
static int
memeq(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* Expected outputs generated with Python 3.11: in.decode('utf-8', 'replace'). */
static const struct {
	const char *in;
	size_t inlen;
	const char *out;
	size_t outlen;
	int valid;
} classic[] = {
	{ "", 0,
	    "", 0, 1 },
	{ "A", 1,
	    "A", 1, 1 },
	{ "\x00", 1,
	    "\x00", 1, 1 },
	{ "a\x00" "b", 3,
	    "a\x00" "b", 3, 1 },
	{ "\x7F", 1,
	    "\x7F", 1, 1 },
	{ "\xC3\xA9", 2,
	    "\xC3\xA9", 2, 1 },
	{ "\xE2\x82\xAC", 3,
	    "\xE2\x82\xAC", 3, 1 },
	{ "\xF0\x9F\x98\x80", 4,
	    "\xF0\x9F\x98\x80", 4, 1 },
	{ "\xEF\xBF\xBD", 3,
	    "\xEF\xBF\xBD", 3, 1 },
	{ "\xC2\x80", 2,
	    "\xC2\x80", 2, 1 },
	{ "\xDF\xBF", 2,
	    "\xDF\xBF", 2, 1 },
	{ "\xE0\xA0\x80", 3,
	    "\xE0\xA0\x80", 3, 1 },
	{ "\xED\x9F\xBF", 3,
	    "\xED\x9F\xBF", 3, 1 },
	{ "\xEE\x80\x80", 3,
	    "\xEE\x80\x80", 3, 1 },
	{ "\xEF\xBF\xBF", 3,
	    "\xEF\xBF\xBF", 3, 1 },
	{ "\xF0\x90\x80\x80", 4,
	    "\xF0\x90\x80\x80", 4, 1 },
	{ "\xF4\x8F\xBF\xBF", 4,
	    "\xF4\x8F\xBF\xBF", 4, 1 },
	{ "\xC0\x80", 2,
	    "\xEF\xBF\xBD\xEF\xBF\xBD", 6, 0 },
	{ "\xC1\xBF", 2,
	    "\xEF\xBF\xBD\xEF\xBF\xBD", 6, 0 },
	{ "\xE0\x80\x80", 3,
	    "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 9, 0 },
	{ "\xE0\x9F\xBF", 3,
	    "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 9, 0 },
	{ "\xED\xA0\x80", 3,
	    "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 9, 0 },
	{ "\xED\xBF\xBF", 3,
	    "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 9, 0 },
	{ "\xED\xA0\xBD\xED\xB8\x80", 6,
	    "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 18, 0 },
	{ "\xF0\x80\x80", 3,
	    "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 9, 0 },
	{ "\xF0\x80\x80\x80", 4,
	    "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 12, 0 },
	{ "\xF0\x8F\xBF\xBF", 4,
	    "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 12, 0 },
	{ "\xF4\x90\x80\x80", 4,
	    "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 12, 0 },
	{ "\xF5\x80\x80\x80", 4,
	    "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 12, 0 },
	{ "\xF7\xBF\xBF\xBF", 4,
	    "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 12, 0 },
	{ "\xF8\x88\x80\x80\x80", 5,
	    "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 15, 0 },
	{ "\xFC\x84\x80\x80\x80\x80", 6,
	    "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 18, 0 },
	{ "\xFF", 1,
	    "\xEF\xBF\xBD", 3, 0 },
	{ "\xFE\xFF", 2,
	    "\xEF\xBF\xBD\xEF\xBF\xBD", 6, 0 },
	{ "\x80", 1,
	    "\xEF\xBF\xBD", 3, 0 },
	{ "\xBF", 1,
	    "\xEF\xBF\xBD", 3, 0 },
	{ "\xBF\x80", 2,
	    "\xEF\xBF\xBD\xEF\xBF\xBD", 6, 0 },
	{ "\x80\x80\x80", 3,
	    "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 9, 0 },
	{ "A\x80" "B", 3,
	    "A\xEF\xBF\xBD" "B", 5, 0 },
	{ "\xC2", 1,
	    "\xEF\xBF\xBD", 3, 0 },
	{ "\xC3", 1,
	    "\xEF\xBF\xBD", 3, 0 },
	{ "\xE2\x82", 2,
	    "\xEF\xBF\xBD", 3, 0 },
	{ "\xF0\x9F\x98", 3,
	    "\xEF\xBF\xBD", 3, 0 },
	{ "\xF4", 1,
	    "\xEF\xBF\xBD", 3, 0 },
	{ "\xF4\x8F", 2,
	    "\xEF\xBF\xBD", 3, 0 },
	{ "\xE0", 1,
	    "\xEF\xBF\xBD", 3, 0 },
	{ "\xE0\xA0", 2,
	    "\xEF\xBF\xBD", 3, 0 },
	{ "\xE2\x82" "A", 3,
	    "\xEF\xBF\xBD" "A", 4, 0 },
	{ "\xF0\x9F\x98" "A", 4,
	    "\xEF\xBF\xBD" "A", 4, 0 },
	{ "\xE2" "A\x82", 3,
	    "\xEF\xBF\xBD" "A\xEF\xBF\xBD", 7, 0 },
	{ "\xC3\xC3\xA9", 3,
	    "\xEF\xBF\xBD\xC3\xA9", 5, 0 },
	{ "\xF0\x9F\x98\xE2\x82\xAC", 6,
	    "\xEF\xBF\xBD\xE2\x82\xAC", 6, 0 },
	{ "a\xE1\x80\xE2\xF0\x91\x92\xF1\xBF" "A", 10,
	    "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "A", 14, 0 },
	{ "a\xF1\x80\x80\xE1\x80\xC2" "b\x80" "c\x80\xBF" "d", 13,
	    "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD" "d", 22, 0 },
	{ "\xC0\xAF", 2,
	    "\xEF\xBF\xBD\xEF\xBF\xBD", 6, 0 },
	{ "\xE0\x80\xAF", 3,
	    "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 9, 0 },
	{ "\xF0\x80\x80\xAF", 4,
	    "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 12, 0 },
};

#define NCLASSIC	(sizeof(classic) / sizeof(classic[0]))

/* Bytes at every boundary of the decoder's decision table. */
static const unsigned char edge[] = {
	0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1,
	0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3,
	0xF4, 0xF5, 0xFF,
};

#define NEDGE	(sizeof(edge) / sizeof(edge[0]))

/* --- reference: the WHATWG Encoding Standard's UTF-8 decoder, written from the spec --- */

static size_t
encode_cp(unsigned char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | cp >> 18);
	o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
	o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

struct ref {
	unsigned char out[MAXIN * 3 + 16];
	size_t len;
	int errors;
	int pending;		/* bytes needed still outstanding at the end */
	int count_only;		/* only count errors: out is not written */
};

static void
ref_emit(struct ref *r, const unsigned char *s, size_t n)
{
	if (!r->count_only)
		memcpy(r->out + r->len, s, n);
	r->len += n;
}

/* Decodes in[0..len); at end of input, eof decides whether a pending sequence is an error. */
static void
ref_decode(const unsigned char *in, size_t len, int eof, struct ref *r)
{
	unsigned char e[4];
	uint32_t cp = 0;
	unsigned lower = 0x80, upper = 0xBF;
	int needed = 0, seen = 0;
	size_t i = 0;

	r->len = 0;
	r->errors = 0;
	while (i < len) {
		unsigned b = in[i];

		if (needed == 0) {
			i++;
			if (b <= 0x7F) {
				e[0] = (unsigned char)b;
				ref_emit(r, e, 1);
			} else if (b >= 0xC2 && b <= 0xDF) {
				needed = 1;
				cp = b & 0x1F;
			} else if (b >= 0xE0 && b <= 0xEF) {
				if (b == 0xE0)
					lower = 0xA0;
				if (b == 0xED)
					upper = 0x9F;
				needed = 2;
				cp = b & 0xF;
			} else if (b >= 0xF0 && b <= 0xF4) {
				if (b == 0xF0)
					lower = 0x90;
				if (b == 0xF4)
					upper = 0x8F;
				needed = 3;
				cp = b & 0x7;
			} else {
				ref_emit(r, (const unsigned char *)fffd, 3);
				r->errors++;
			}
			continue;
		}
		if (b < lower || b > upper) {
			/* Error; the byte is "prepended to the stream": not consumed. */
			cp = 0;
			needed = seen = 0;
			lower = 0x80;
			upper = 0xBF;
			ref_emit(r, (const unsigned char *)fffd, 3);
			r->errors++;
			continue;
		}
		i++;
		lower = 0x80;
		upper = 0xBF;
		cp = cp << 6 | (b & 0x3F);
		if (++seen == needed) {
			ref_emit(r, e, encode_cp(e, cp));
			cp = 0;
			needed = seen = 0;
		}
	}
	r->pending = needed;
	if (eof && needed != 0) {
		ref_emit(r, (const unsigned char *)fffd, 3);
		r->errors++;
	}
}

static int
ref_valid(const void *s, size_t len)
{
	struct ref r;

	r.count_only = 1;
	ref_decode(s, len, 1, &r);
	return r.errors == 0;
}

/* 1 when c[0..len) is a non-empty proper prefix of some well-formed character. */
static int
ref_viable(const unsigned char *c, size_t len)
{
	struct ref r;

	r.count_only = 0;
	if (len == 0 || len > 3)
		return 0;
	ref_decode(c, len, 0, &r);
	return r.len == 0 && r.errors == 0 && r.pending > 0;
}

static uint32_t
rng_below(uint32_t n)
{
	return (uint32_t)(rng() % n);
}

/* Fills in with up to max hostile bytes; returns the length. */
static size_t
gen_hostile(unsigned char *in, size_t max)
{
	size_t len = rng_below((uint32_t)max + 1), n = 0;

	while (n < len) {
		unsigned char tmp[4];
		uint32_t cp;
		size_t k;

		switch (rng_below(10)) {
		case 0: case 1: case 2: case 3: case 4:
			in[n++] = edge[rng_below(NEDGE)];
			break;
		case 5: case 6:
			in[n++] = (unsigned char)rng();
			break;
		default:
			/* A whole or a truncated valid character. */
			do
				cp = rng_below(4) == 0 ? rng_below(0x80) :
				    rng_below(0x110000);
			while (cp >= 0xD800 && cp <= 0xDFFF);
			k = encode_cp(tmp, cp);
			if (rng_below(3) == 0 && k > 1)
				k = 1 + rng_below((uint32_t)k - 1);
			if (k > len - n)
				k = len - n;
			memcpy(in + n, tmp, k);
			n += k;
			break;
		}
	}
	return len;
}

/* --- driving the sanitiser --- */

static char why[256];

/*
 * Feeds in[0..len) as chunks ending at cuts[0..ncuts) and at len, then (unless
 * last_final) a final empty call.  Checks every call's return, output delta
 * and carry.  Returns 0, or -1 with the reason in why.
 */
static int
feed(const unsigned char *in, size_t len, const size_t *cuts, size_t ncuts,
    int last_final, struct buf *out)
{
	struct utf8_carry carry;
	size_t at = 0, k;

	memset(&carry, 0xA5, sizeof(carry));
	carry.len = 0;
	buf_reset(out);
	for (k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : len, mark = out->len;
		int final = last_final && k == ncuts;

		if (utf8_sanitize(&carry, (const char *)in + at, end - at, final,
		    out) != end - at) {
			snprintf(why, sizeof(why), "call %zu left input", k);
			return -1;
		}
		if (out->len > mark &&
		    !ref_valid(out->data + mark, out->len - mark)) {
			snprintf(why, sizeof(why), "call %zu output is not "
			    "valid UTF-8", k);
			return -1;
		}
		if (!final && carry.len != 0 &&
		    !ref_viable(carry.bytes, carry.len)) {
			snprintf(why, sizeof(why), "call %zu holds back %zu "
			    "bytes that cannot become a character", k,
			    carry.len);
			return -1;
		}
		at = end;
	}
	if (!last_final) {
		size_t mark = out->len;

		if (utf8_sanitize(&carry, NULL, 0, 1, out) != 0) {
			snprintf(why, sizeof(why), "final call consumed bytes");
			return -1;
		}
		if (out->len > mark &&
		    !ref_valid(out->data + mark, out->len - mark)) {
			snprintf(why, sizeof(why), "final call output is not "
			    "valid UTF-8");
			return -1;
		}
	}
	if (carry.len != 0) {
		snprintf(why, sizeof(why), "carry not empty after final");
		return -1;
	}
	return 0;
}

struct tally {
	long runs;
	long bad;
};

static void
tally_fail(struct tally *t, const unsigned char *in, size_t len,
    const char *what)
{
	char hex[MAXIN * 3 + 1];
	size_t i;

	if (t->bad++ >= 5)
		return;
	for (i = 0; i < len && i < MAXIN; i++)
		snprintf(hex + i * 3, 4, "%02X ", in[i]);
	hex[i * 3] = '\0';
	diag("input [%s]: %s", hex, what);
}

/*
 * Checks one input every way: one-shot against the reference, split in two at
 * every boundary (with a separate final call and with final on the last
 * chunk), byte by byte, and, when extra is set, a few random 3-way splits.
 */
static void
check_input(const unsigned char *in, size_t len, struct buf *out,
    struct buf *one, struct tally *t, int extra)
{
	struct ref r;
	size_t cuts[MAXIN] = { 0 }, k;

	t->runs++;
	r.count_only = 0;
	ref_decode(in, len, 1, &r);
	if (feed(in, len, NULL, 0, 1, one) == -1) {
		tally_fail(t, in, len, why);
		return;
	}
	if (!memeq(one->data, one->len, r.out, r.len)) {
		tally_fail(t, in, len, "one-shot output differs from the "
		    "WHATWG reference");
		return;
	}
	if (utf8_valid((const char *)in, len) != (r.errors == 0)) {
		tally_fail(t, in, len, "utf8_valid disagrees with the reference");
		return;
	}
	for (k = 0; k <= len; k++) {
		int lf;

		for (lf = 0; lf <= 1; lf++) {
			if (feed(in, len, &k, 1, lf, out) == -1) {
				tally_fail(t, in, len, why);
				return;
			}
			if (!memeq(out->data, out->len, one->data, one->len)) {
				snprintf(why, sizeof(why), "split at %zu%s "
				    "differs from one-shot", k,
				    lf ? " (final on last chunk)" : "");
				tally_fail(t, in, len, why);
				return;
			}
		}
	}
	for (k = 0; k + 1 < len; k++)
		cuts[k] = k + 1;
	if (feed(in, len, cuts, len > 0 ? len - 1 : 0, 0, out) == -1 ||
	    !memeq(out->data, out->len, one->data, one->len)) {
		tally_fail(t, in, len, "byte-by-byte differs from one-shot");
		return;
	}
	for (k = 0; extra && k < 4 && len > 0; k++) {
		size_t c[2];

		c[0] = rng_below((uint32_t)len + 1);
		c[1] = c[0] + rng_below((uint32_t)(len - c[0]) + 1);
		if (feed(in, len, c, 2, 0, out) == -1 ||
		    !memeq(out->data, out->len, one->data, one->len)) {
			snprintf(why, sizeof(why), "3-way split at %zu,%zu "
			    "differs from one-shot", c[0], c[1]);
			tally_fail(t, in, len, why);
			return;
		}
	}
}

/* --- the tests --- */

static void
test_reference(void)
{
	struct ref r;
	size_t i, bad = 0;

	/* The reference itself must agree with Python before it judges. */
	r.count_only = 0;
	for (i = 0; i < NCLASSIC; i++) {
		ref_decode((const unsigned char *)classic[i].in,
		    classic[i].inlen, 1, &r);
		if (!memeq(r.out, r.len, classic[i].out, classic[i].outlen)) {
			diag("reference decoder disagrees with Python on case "
			    "%zu", i);
			bad++;
		}
	}
	ok(bad == 0, "reference decoder matches Python's decode('utf-8', "
	    "'replace') on %zu cases", NCLASSIC);
}

static void
test_valid_classics(void)
{
	static const struct {
		const char *s;
		size_t len;
		int want;
		const char *what;
	} v[] = {
		{ "", 0, 1, "empty" },
		{ "hello", 5, 1, "ASCII" },
		{ "\0", 1, 1, "NUL" },
		{ "a\0b\0", 4, 1, "embedded NULs" },
		{ "\xC2\x80", 2, 1, "U+0080" },
		{ "\xDF\xBF", 2, 1, "U+07FF" },
		{ "\xE0\xA0\x80", 3, 1, "U+0800" },
		{ "\xED\x9F\xBF", 3, 1, "U+D7FF" },
		{ "\xEE\x80\x80", 3, 1, "U+E000" },
		{ "\xEF\xBF\xBF", 3, 1, "U+FFFF" },
		{ "\xF0\x90\x80\x80", 4, 1, "U+10000" },
		{ "\xF4\x8F\xBF\xBF", 4, 1, "U+10FFFF" },
		{ "\xC0\x80", 2, 0, "overlong NUL C0 80" },
		{ "\xC1\xBF", 2, 0, "overlong C1 BF" },
		{ "\xE0\x80\x80", 3, 0, "overlong E0 80 80" },
		{ "\xE0\x9F\xBF", 3, 0, "overlong E0 9F BF" },
		{ "\xF0\x80\x80\x80", 4, 0, "overlong F0 80 80 80" },
		{ "\xF0\x8F\xBF\xBF", 4, 0, "overlong F0 8F BF BF" },
		{ "\xED\xA0\x80", 3, 0, "surrogate U+D800" },
		{ "\xED\xBF\xBF", 3, 0, "surrogate U+DFFF" },
		{ "\xED\xA0\xBD\xED\xB8\x80", 6, 0, "CESU-8 surrogate pair" },
		{ "\xF4\x90\x80\x80", 4, 0, "U+110000 F4 90 80 80" },
		{ "\xF5\x80\x80\x80", 4, 0, "F5 lead" },
		{ "\xF8\x88\x80\x80\x80", 5, 0, "5-byte form" },
		{ "\xFE", 1, 0, "FE" },
		{ "\xFF", 1, 0, "FF" },
		{ "\x80", 1, 0, "stray continuation 80" },
		{ "a\xBF" "b", 3, 0, "stray continuation BF between ASCII" },
		{ "\xC3", 1, 0, "truncated 2-byte" },
		{ "\xE2\x82", 2, 0, "truncated 3-byte" },
		{ "\xF0\x9F\x98", 3, 0, "truncated 4-byte" },
		{ "\xE2\x82" "A", 3, 0, "3-byte interrupted by ASCII" },
		{ "\xC3\xA9\xC3", 3, 0, "valid then truncated" },
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		is_int(utf8_valid(v[i].s, v[i].len), v[i].want, "utf8_valid: %s",
		    v[i].what);
}

static void
test_sanitize_classics(void)
{
	struct buf out;
	size_t i, bad = 0;

	buf_init(&out, BIG);
	for (i = 0; i < NCLASSIC; i++) {
		struct utf8_carry c = { { 0 }, 0 };
		size_t rc;

		buf_reset(&out);
		rc = utf8_sanitize(&c, classic[i].in, classic[i].inlen, 1, &out);
		if (rc != classic[i].inlen || !memeq(out.data, out.len, classic[i].out,
		    classic[i].outlen)) {
			is_mem(out.data, out.len, classic[i].out,
			    classic[i].outlen, "sanitize classic case %zu", i);
			bad++;
		}
		if (utf8_valid(classic[i].in, classic[i].inlen) !=
		    classic[i].valid) {
			diag("utf8_valid wrong on classic case %zu", i);
			bad++;
		}
	}
	ok(bad == 0, "sanitize (one-shot) and utf8_valid match Python on %zu "
	    "classic cases", NCLASSIC);

	/* A few spelled out, so a failure reads well. */
	{
		struct utf8_carry c = { { 0 }, 0 };

		buf_reset(&out);
		utf8_sanitize(&c, "\xF0\x80\x80", 3, 1, &out);
		is_mem(out.data, out.len, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD",
		    9, "F0 80 80 -> three U+FFFD (F0 ill-formed at 2nd byte)");
		buf_reset(&out);
		utf8_sanitize(&c, "\xF0\x9F\x98", 3, 1, &out);
		is_mem(out.data, out.len, fffd, 3,
		    "truncated F0 9F 98 at end -> one U+FFFD");
		buf_reset(&out);
		utf8_sanitize(&c, "\xED\xA0\x80", 3, 1, &out);
		is_mem(out.data, out.len, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD",
		    9, "surrogate ED A0 80 -> three U+FFFD");
		buf_reset(&out);
		utf8_sanitize(&c, "a\0b", 3, 1, &out);
		is_mem(out.data, out.len, "a\0b", 3, "NUL passes through");
	}
	buf_free(&out);
}

static void
test_every_scalar(void)
{
	struct buf out;
	unsigned char e[4];
	uint32_t cp;
	long bad_valid = 0, bad_san = 0, bad_sur = 0, bad_over = 0;

	buf_init(&out, BIG);
	for (cp = 0; cp <= 0x10FFFF; cp++) {
		struct utf8_carry c = { { 0 }, 0 };
		size_t n = encode_cp(e, cp);
		int surrogate = cp >= 0xD800 && cp <= 0xDFFF;

		if (utf8_valid((const char *)e, n) != !surrogate)
			surrogate ? bad_sur++ : bad_valid++;
		buf_reset(&out);
		if (utf8_sanitize(&c, (const char *)e, n, 1, &out) != n ||
		    (surrogate ? out.len != 9 : !memeq(out.data, out.len, e, n)))
			bad_san++;
	}
	ok(bad_valid == 0, "utf8_valid accepts every scalar value's encoding");
	ok(bad_sur == 0, "utf8_valid rejects all 2048 encoded surrogates");
	ok(bad_san == 0, "sanitize passes every scalar value through unchanged "
	    "and turns each surrogate into 3 U+FFFD");

	/* Overlong encodings of every code point, and values past U+10FFFF. */
	for (cp = 0; cp < 0x10000; cp++) {
		unsigned char o[4];

		o[0] = (unsigned char)(0xF0 | cp >> 18);
		o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		o[3] = (unsigned char)(0x80 | (cp & 0x3F));
		if (utf8_valid((const char *)o, 4))
			bad_over++;
		if (cp < 0x800) {
			o[0] = (unsigned char)(0xE0 | cp >> 12);
			o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
			o[2] = (unsigned char)(0x80 | (cp & 0x3F));
			if (utf8_valid((const char *)o, 3))
				bad_over++;
		}
		if (cp < 0x80) {
			o[0] = (unsigned char)(0xC0 | cp >> 6);
			o[1] = (unsigned char)(0x80 | (cp & 0x3F));
			if (utf8_valid((const char *)o, 2))
				bad_over++;
		}
	}
	for (cp = 0x110000; cp <= 0x1FFFFF; cp++) {
		encode_cp(e, cp);
		if (utf8_valid((const char *)e, 4))
			bad_over++;
	}
	ok(bad_over == 0, "utf8_valid rejects every overlong form and every "
	    "value above U+10FFFF");
	buf_free(&out);
}

static void
test_exhaustive_pairs(void)
{
	struct buf out, one;
	struct tally t = { 0, 0 };
	unsigned a, b;

	buf_init(&out, BIG);
	buf_init(&one, BIG);
	for (a = 0; a < 256; a++) {
		unsigned char in[2] = { (unsigned char)a, 0 };

		check_input(in, 1, &out, &one, &t, 0);
		for (b = 0; b < 256; b++) {
			in[1] = (unsigned char)b;
			check_input(in, 2, &out, &one, &t, 0);
		}
	}
	ok(t.bad == 0, "all %ld 1- and 2-byte inputs: one-shot = reference, "
	    "every split = one-shot, output valid", t.runs);
	buf_free(&out);
	buf_free(&one);
}

static void
test_exhaustive_edges(void)
{
	struct buf out, one;
	struct tally t = { 0, 0 };
	unsigned char in[5];
	size_t len, i, n, total;

	buf_init(&out, BIG);
	buf_init(&one, BIG);
	for (len = 3; len <= 4; len++) {
		for (total = 1, i = 0; i < len; i++)
			total *= NEDGE;
		for (n = 0; n < total; n++) {
			size_t x = n;

			for (i = 0; i < len; i++) {
				in[i] = edge[x % NEDGE];
				x /= NEDGE;
			}
			check_input(in, len, &out, &one, &t, 0);
		}
	}
	ok(t.bad == 0, "all %ld 3- and 4-byte inputs over %zu boundary bytes: "
	    "one-shot = reference, every split = one-shot", t.runs, NEDGE);
	buf_free(&out);
	buf_free(&one);
}

static void
test_random(void)
{
	struct buf out, one;
	struct tally t = { 0, 0 };
	unsigned char in[MAXIN];
	int n;

	buf_init(&out, BIG);
	buf_init(&one, BIG);
	for (n = 0; n < 20000; n++) {
		size_t len = gen_hostile(in, n % 4 == 0 ? MAXIN : 16);

		check_input(in, len, &out, &one, &t, 1);
	}
	ok(t.bad == 0, "%ld random hostile inputs: one-shot = reference; 2-way "
	    "(every cut), 3-way and byte-by-byte feeds = one-shot", t.runs);
	buf_free(&out);
	buf_free(&one);
}

static void
test_hold_back(void)
{
	struct utf8_carry c = { { 0 }, 0 };
	struct buf out;

	buf_init(&out, BIG);
	is_int(utf8_sanitize(&c, "ab\xE2\x82", 4, 0, &out), 4,
	    "partial euro sign: all 4 bytes consumed");
	is_mem(out.data, out.len, "ab", 2, "partial euro sign: only 'ab' out");
	is_int(c.len, 2, "partial euro sign: 2 bytes carried");
	is_int(utf8_sanitize(&c, "\xAC" "c", 2, 0, &out), 2,
	    "completion: both bytes consumed");
	is_mem(out.data, out.len, "ab\xE2\x82\xAC" "c", 6,
	    "completion: euro sign and 'c' out");
	is_int(c.len, 0, "completion: nothing carried");

	buf_reset(&out);
	utf8_sanitize(&c, "x\xF0", 2, 0, &out);
	utf8_sanitize(&c, "\x9F", 1, 0, &out);
	utf8_sanitize(&c, "\x98", 1, 0, &out);
	is_mem(out.data, out.len, "x", 1, "3 of 4 bytes across 3 calls: held");
	utf8_sanitize(&c, "", 0, 0, &out);
	is_mem(out.data, out.len, "x", 1, "empty non-final call: still held");
	utf8_sanitize(&c, NULL, 0, 1, &out);
	is_mem(out.data, out.len, "x\xEF\xBF\xBD", 4,
	    "final call: held F0 9F 98 becomes one U+FFFD");
	is_int(c.len, 0, "final call: carry empty");

	buf_reset(&out);
	utf8_sanitize(&c, "\xE2", 1, 0, &out);
	utf8_sanitize(&c, "A", 1, 0, &out);
	is_mem(out.data, out.len, "\xEF\xBF\xBD" "A", 4,
	    "held E2 then 'A': U+FFFD then 'A' at once, nothing held");
	is_int(c.len, 0, "held E2 then 'A': carry empty");

	buf_reset(&out);
	utf8_sanitize(&c, "\xE2", 1, 0, &out);
	utf8_sanitize(&c, "\xF0\x9F", 2, 0, &out);
	is_mem(out.data, out.len, fffd, 3,
	    "held E2 then F0 9F: one U+FFFD, F0 9F now held");
	is_int(c.len, 2, "held E2 then F0 9F: 2 bytes carried");
	utf8_sanitize(&c, "\x98\x80", 2, 0, &out);
	is_mem(out.data, out.len, "\xEF\xBF\xBD\xF0\x9F\x98\x80", 7,
	    "... then 98 80 completes U+1F600");

	buf_reset(&out);
	utf8_sanitize(&c, "\x80", 1, 0, &out);
	is_mem(out.data, out.len, fffd, 3,
	    "stray continuation is replaced at once, not held");
	is_int(c.len, 0, "stray continuation: carry empty");
	buf_free(&out);
}

static void
test_cap(void)
{
	struct utf8_carry c = { { 0 }, 0 };
	struct buf out;

	buf_init(&out, 3);
	is_int(utf8_sanitize(&c, "abcd", 4, 0, &out), 3,
	    "cap 3, 'abcd': 3 bytes consumed");
	is_mem(out.data, out.len, "abc", 3, "cap 3, 'abcd': 'abc' out");
	buf_free(&out);

	buf_init(&out, 4);
	buf_adds(&out, "ab");
	is_int(utf8_sanitize(&c, "x\xE2\x82\xAC", 4, 0, &out), 1,
	    "cap 4 holding 'ab', 'x' and a euro sign: only 'x' consumed");
	is_mem(out.data, out.len, "abx", 3,
	    "... the euro sign is not cut: 'abx' out");
	buf_free(&out);

	buf_init(&out, 5);
	buf_adds(&out, "abc");
	is_int(utf8_sanitize(&c, "\xFF" "d", 2, 1, &out), 0,
	    "cap 5 holding 'abc', FF: nothing consumed (U+FFFD needs 3)");
	is_mem(out.data, out.len, "abc", 3, "... out unchanged");
	buf_reset(&out);
	is_int(utf8_sanitize(&c, "\xFF" "d", 2, 1, &out), 2,
	    "... emptied: both bytes consumed");
	is_mem(out.data, out.len, "\xEF\xBF\xBD" "d", 4, "... U+FFFD and 'd' out");

	buf_reset(&out);
	utf8_sanitize(&c, "\xE2\x82", 2, 0, &out);
	buf_adds(&out, "abc");
	is_int(utf8_sanitize(&c, "\xAC" "e", 2, 0, &out), 0,
	    "cap 5 holding 'abc', held E2 82 then AC: nothing consumed");
	is_int(c.len, 2, "... E2 82 still held");
	buf_reset(&out);
	is_int(utf8_sanitize(&c, "\xAC" "e", 2, 0, &out), 2,
	    "... emptied: both bytes consumed");
	is_mem(out.data, out.len, "\xE2\x82\xAC" "e", 4, "... euro sign and 'e' out");

	buf_reset(&out);
	utf8_sanitize(&c, "\xE2", 1, 0, &out);
	buf_adds(&out, "abc");
	is_int(utf8_sanitize(&c, NULL, 0, 1, &out), 0,
	    "cap 5 holding 'abc', held E2, final call: nothing consumed");
	is_int(c.len, 1, "... E2 still held: the caller must call again");
	buf_reset(&out);
	utf8_sanitize(&c, NULL, 0, 1, &out);
	is_mem(out.data, out.len, fffd, 3, "... emptied: held E2 becomes U+FFFD");
	is_int(c.len, 0, "... nothing held");
	buf_free(&out);

	buf_init(&out, 0);
	is_int(utf8_sanitize(&c, "a", 1, 1, &out), 0,
	    "cap 0, 'a': nothing consumed, nothing written");
	is_int(out.len, 0, "cap 0: out empty");
	buf_free(&out);
}

/*
 * Sanitises in[0..len) fed in chunks of chunk bytes through an output capped
 * at cap, the way the stream does: after every call the output is taken as
 * one piece (one event) and emptied, and a call that left input (or, at the
 * end, a held sequence) is repeated with the rest.  Every piece must be valid
 * UTF-8 within the cap, and every call must make progress.  The pieces are
 * appended to all.  Returns 0, or -1 with the reason in why.
 */
static int
feed_capped(const unsigned char *in, size_t len, size_t chunk, size_t cap,
    struct buf *all)
{
	struct utf8_carry c = { { 0 }, 0 };
	struct buf out;
	size_t at = 0, end = 0, rounds = 0;
	int rc = -1;

	buf_init(&out, cap);
	buf_reset(all);
	snprintf(why, sizeof(why), "cap %zu, chunks of %zu: did not finish",
	    cap, chunk);
	while (rounds++ < 4 * len + 16) {
		size_t used;
		int final, left;

		if (at == end)
			end = len - at < chunk ? len : at + chunk;
		final = end == len;
		used = utf8_sanitize(&c, (const char *)in + at, end - at, final,
		    &out);
		left = used < end - at || (final && c.len > 0);
		at += used;
		if (out.len > cap || (out.len > 0 &&
		    !ref_valid(out.data, out.len))) {
			snprintf(why, sizeof(why), "cap %zu, chunks of %zu: a "
			    "piece of %zu bytes is over the cap or invalid", cap,
			    chunk, out.len);
			break;
		}
		if (left && out.len == 0) {
			snprintf(why, sizeof(why), "cap %zu, chunks of %zu: "
			    "no progress at byte %zu", cap, chunk, at);
			break;
		}
		buf_add(all, out.data, out.len);
		buf_reset(&out);
		if (final && !left) {
			rc = 0;
			break;
		}
	}
	buf_free(&out);
	return rc;
}

static void
test_cap_sweep(void)
{
	static const size_t chunks[] = { 1, 2, 3, 5, 0, 1, 2, 3 };
	struct buf all;
	struct tally t = { 0, 0 };
	unsigned char in[MAXIN];
	size_t cap, k;
	int n;

	buf_init(&all, BIG);
	for (n = 0; n < 400; n++) {
		size_t len = gen_hostile(in, MAXIN);
		struct ref r;

		r.count_only = 0;
		ref_decode(in, len, 1, &r);
		for (cap = UTF8_MAX_OUT; cap <= 24; cap++) {
			for (k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
				/* Small chunks, and chunks at cap - 1, cap, cap + 1, cap + 2. */
				size_t chunk = k < 4 ? chunks[k] : cap - 1 + chunks[k];

				t.runs++;
				if (feed_capped(in, len, chunk, cap, &all) == -1)
					tally_fail(&t, in, len, why);
				else if (!memeq(all.data, all.len, r.out, r.len))
					tally_fail(&t, in, len, "capped pieces differ "
					    "from the WHATWG reference");
			}
		}
	}
	ok(t.bad == 0, "%ld capped feeds (caps %d..24, chunks around the cap): "
	    "valid pieces within the cap, never stuck, together = reference",
	    t.runs, UTF8_MAX_OUT);
	buf_free(&all);
}

static void
test_cap_valid_unchanged(void)
{
	struct buf all;
	struct tally t = { 0, 0 };
	unsigned char in[MAXIN];
	size_t cap;
	int n;

	buf_init(&all, BIG);
	for (n = 0; n < 2000; n++) {
		size_t len = 0;

		/* Whole characters only: valid text of 1- to 4-byte characters. */
		while (len + 4 <= MAXIN && rng_below(16) != 0) {
			uint32_t cp;

			do
				cp = rng_below(4) == 0 ? rng_below(0x80) :
				    rng_below(0x110000);
			while (cp >= 0xD800 && cp <= 0xDFFF);
			len += encode_cp(in + len, cp);
		}
		for (cap = UTF8_MAX_OUT; cap <= 12; cap++) {
			t.runs++;
			if (feed_capped(in, len, 1 + rng_below(2 * (uint32_t)cap),
			    cap, &all) == -1)
				tally_fail(&t, in, len, why);
			else if (!memeq(all.data, all.len, in, len))
				tally_fail(&t, in, len, "valid input changed");
		}
	}
	ok(t.bad == 0, "%ld capped feeds of valid text: passed through "
	    "unchanged, split only between characters", t.runs);
	buf_free(&all);
}

/* A token stream of 'A', E9 (a lone Latin-1 byte) triples where it is invalid. */
static void
test_cap_tripling(void)
{
	static const char tail[] = " and then more valid text";
	const size_t caps[] = { 4, 5, 6, 7, 97, 676, 677, 678, 679, 680, 681,
	    682, 683 };
	unsigned char in[2 * 400 + sizeof(tail)];
	struct buf all, want;
	size_t i, k, bad = 0, runs = 0, len = 0;

	for (i = 0; i < 400; i++) {
		in[len++] = 'A';
		in[len++] = 0xE9;
	}
	memcpy(in + len, tail, sizeof(tail) - 1);
	len += sizeof(tail) - 1;
	buf_init(&all, BIG);
	buf_init(&want, BIG);
	for (i = 0; i < 400; i++)
		buf_add(&want, "A\xEF\xBF\xBD", 4);
	buf_adds(&want, tail);
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		for (k = 0; k < 12; k++) {
			size_t chunk = k < 6 ? caps[i] - 8 + k * 3 :
			    (size_t)1 << (k + 1);

			if (chunk == 0 || chunk > len)
				chunk = len;
			runs++;
			if (feed_capped(in, len, chunk, caps[i], &all) == -1 ||
			    !memeq(all.data, all.len, want.data, want.len)) {
				if (bad++ < 5)
					diag("cap %zu, chunks of %zu: %s", caps[i],
					    chunk, all.len != want.len ? "text lost" :
					    why);
			}
		}
	}
	ok(bad == 0, "('A' E9) x 400 + text through caps near 682 (max_event "
	    "4096 / 6) in %zu feeds: all text arrives, E9 as U+FFFD", runs);
	buf_free(&all);
	buf_free(&want);
}

int
main(void)
{
	rng_seed(0x5eed5eed5eedULL);
	plan(84);
	test_reference();
	test_valid_classics();
	test_sanitize_classics();
	test_every_scalar();
	test_exhaustive_pairs();
	test_exhaustive_edges();
	test_random();
	test_hold_back();
	test_cap();
	test_cap_sweep();
	test_cap_valid_unchanged();
	test_cap_tripling();
	return done_testing();
}
