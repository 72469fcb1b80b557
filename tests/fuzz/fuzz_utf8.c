/*
 * fuzz_utf8.c: the UTF-8 sanitiser.  Its output is valid UTF-8, valid input
 * comes out unchanged, and the result is the same however the input is
 * split into chunks (incomplete sequences carried between them).
 *
 * Input: two bytes seeding the chunk sizes, then the text.
 */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "utf8.h"

/*
 * Sanitises in[0..len) in one call, or in pieces drawn from seed when seed
 * != 0, through an output window of cap bytes.
 */
static void
sanitize(const char *in, size_t len, unsigned seed, size_t cap, struct buf *out)
{
	struct utf8_carry carry = { { 0 }, 0 };
	size_t off = 0;

	while (seed != 0 && off < len) {
		size_t n;

		seed ^= seed << 7;
		seed ^= seed >> 9;
		seed &= 0xffff;
		if (seed == 0)
			seed = 1;
		n = seed % 8 == 0 ? 0 : seed % 5;      /* empty pieces too */
		if (n > len - off)
			n = len - off;
		fuzz_sanitize(&carry, in + off, n, 0, cap, out);
		FUZZ_CHECK(carry.len <= 3, "more than 3 bytes carried");
		off += n;
	}
	fuzz_sanitize(&carry, in + off, len - off, 1, cap, out);
	FUZZ_CHECK(carry.len == 0, "bytes left carried after the final piece");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned seed = fuzz_byte(&in) << 8;
	struct buf whole, split;
	const char *text;

	seed |= fuzz_byte(&in);
	text = (const char *)in.p;
	/* Each input byte becomes at most one U+FFFD (3 bytes). */
	buf_init(&whole, 3 * in.n + 16);
	buf_init(&split, 3 * in.n + 16);
	sanitize(text, in.n, 0, 3 * in.n + 16, &whole);
	FUZZ_CHECK(utf8_valid(whole.data != NULL ? whole.data : "", whole.len),
	    "the sanitised text is not valid UTF-8");
	if (utf8_valid(text, in.n))
		FUZZ_CHECK(whole.len == in.n && memcmp(whole.data != NULL ? whole.data : "",
		    text, in.n) == 0, "valid input was changed");
	else
		FUZZ_CHECK(whole.len != in.n || memcmp(whole.data, text, in.n) != 0,
		    "invalid input came out unchanged");
	/* Split, and through a window of 4 to 35 bytes: the same text. */
	sanitize(text, in.n, seed | 1, UTF8_MAX_OUT + (seed >> 11), &split);
	FUZZ_CHECK(split.len == whole.len && (whole.len == 0 ||
	    memcmp(split.data, whole.data, whole.len) == 0),
	    "the result depends on how the input was split");
	buf_free(&whole);
	buf_free(&split);
	return 0;
}
