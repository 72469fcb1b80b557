/* unit_buf.c: the capped byte buffer: caps, printf, consume and reset. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tap.h"

/* 1 when b holds exactly s[0..len) followed by a NUL. */
static int
holds(const struct buf *b, const char *s, size_t len)
{
	if (b->len != len)
		return 0;
	if (len == 0)
		return b->data == NULL || b->data[0] == '\0';
	return memcmp(b->data, s, len) == 0 && b->data[len] == '\0';
}

static void
test_init(void)
{
	struct buf b;

	buf_init(&b, 10);
	ok(b.data == NULL && b.len == 0 && b.alloc == 0 && b.cap == 10,
	    "init: empty, nothing allocated, cap kept");
	buf_reset(&b);
	ok(b.data == NULL && b.len == 0, "reset of an unallocated buffer");
	buf_consume(&b, 0);
	ok(b.data == NULL && b.len == 0, "consume 0 of an unallocated buffer");
	buf_free(&b);
	ok(b.data == NULL && b.len == 0, "free of an unallocated buffer");
	is_int(buf_add(&b, "", 0), 0, "add of 0 bytes: 0");
	ok(holds(&b, "", 0) && b.data != NULL,
	    "add of 0 bytes: allocated and NUL-terminated");
	buf_free(&b);
}

static void
test_caps(void)
{
	struct buf b;

	buf_init(&b, 5);
	is_int(buf_adds(&b, "abc"), 0, "cap 5: add 'abc'");
	ok(holds(&b, "abc", 3), "cap 5: holds 'abc'");
	is_int(buf_adds(&b, "def"), -1, "cap 5: add 'def' overflows");
	ok(holds(&b, "abc", 3), "cap 5: unchanged after overflow");
	is_int(buf_add(&b, "de", 2), 0, "cap 5: add 'de' fills exactly");
	ok(holds(&b, "abcde", 5), "cap 5: holds 'abcde'");
	is_int(buf_addc(&b, 'f'), -1, "cap 5 full: addc overflows");
	is_int(buf_add(&b, "", 0), 0, "cap 5 full: add of 0 bytes is fine");
	ok(holds(&b, "abcde", 5), "cap 5 full: unchanged");
	buf_free(&b);

	buf_init(&b, 0);
	is_int(buf_addc(&b, 'x'), -1, "cap 0: addc overflows");
	is_int(buf_adds(&b, ""), 0, "cap 0: empty string fits");
	ok(holds(&b, "", 0), "cap 0: empty");
	buf_free(&b);

	buf_init(&b, 1);
	is_int(buf_addc(&b, '\0'), 0, "cap 1: a NUL byte fits");
	ok(b.len == 1 && b.data[0] == '\0' && b.data[1] == '\0',
	    "cap 1: NUL stored, still terminated");
	buf_free(&b);

	/* Huge lengths must be refused, not wrapped around. */
	buf_init(&b, 100);
	buf_adds(&b, "ab");
	is_int(buf_add(&b, "x", SIZE_MAX), -1, "add of SIZE_MAX bytes: -1");
	is_int(buf_add(&b, "x", SIZE_MAX - 1), -1,
	    "add of SIZE_MAX - 1 bytes: -1");
	ok(holds(&b, "ab", 2), "unchanged after absurd lengths");
	buf_free(&b);
}

static void
test_growth(void)
{
	struct buf b;
	char *want;
	size_t i, n = 100000, bad = 0;

	if ((want = malloc(n)) == NULL)
		abort();
	for (i = 0; i < n; i++)
		want[i] = (char)('a' + i % 26);
	buf_init(&b, n);
	for (i = 0; i < n; i++)
		if (buf_addc(&b, want[i]) != 0)
			bad++;
	is_int(bad, 0, "%zu single-byte appends up to the cap: all 0", n);
	ok(holds(&b, want, n), "%zu bytes held in order, NUL-terminated", n);
	is_int(buf_addc(&b, 'z'), -1, "one more past the cap: -1");
	ok(b.alloc <= n + 1, "storage never exceeds cap + 1 (%zu)", b.alloc);
	buf_free(&b);

	/* One append larger than the first allocation. */
	buf_init(&b, 3 * n);
	buf_adds(&b, "<");
	is_int(buf_add(&b, want, n), 0, "one %zu-byte append: 0", n);
	is_int(buf_add(&b, want, n), 0, "another: 0");
	ok(b.len == 2 * n + 1 && memcmp(b.data + 1, want, n) == 0 &&
	    memcmp(b.data + 1 + n, want, n) == 0 && b.data[b.len] == '\0',
	    "both held after '<'");
	buf_free(&b);
	free(want);
}

static void
test_printf(void)
{
	struct buf b;
	char big[1000];

	buf_init(&b, 64);
	is_int(buf_printf(&b, "%d-%s", 42, "x"), 0, "printf: 0");
	is_str(b.data, "42-x", "printf: text");
	is_int(buf_printf(&b, "|%05u|", 7u), 0, "printf appends");
	is_str(b.data, "42-x|00007|", "printf: appended text");
	is_int(b.len, 11, "printf: len");
	is_int(buf_printf(&b, "%s", ""), 0, "printf of nothing: 0");
	is_int(b.len, 11, "printf of nothing: len unchanged");
	buf_free(&b);

	buf_init(&b, 10);
	is_int(buf_printf(&b, "%d", 1234567890), 0, "printf filling cap 10: 0");
	is_str(b.data, "1234567890", "printf filling cap 10: text");
	is_int(buf_printf(&b, "%d", 1), -1, "printf past the cap: -1");
	ok(holds(&b, "1234567890", 10), "printf past the cap: unchanged");
	buf_free(&b);

	buf_init(&b, 10);
	buf_adds(&b, "abc");
	is_int(buf_printf(&b, "%s", "12345678"), -1,
	    "printf that would overflow by 1: -1");
	ok(holds(&b, "abc", 3), "printf overflow: unchanged");
	is_int(buf_printf(&b, "%s", "1234567"), 0, "printf that fits: 0");
	ok(holds(&b, "abc1234567", 10), "printf that fits: text");
	buf_free(&b);

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b, 4096);
	buf_adds(&b, "[");
	is_int(buf_printf(&b, "%s]", big), 0, "printf of 1000 bytes: 0");
	ok(b.len == 1001 && b.data[0] == '[' && b.data[999] == 'q' &&
	    b.data[1000] == ']' && b.data[1001] == '\0',
	    "printf of 1000 bytes: grown, text intact");
	buf_free(&b);

	buf_init(&b, 0);
	is_int(buf_printf(&b, "%s", ""), 0, "cap 0: empty printf fits");
	ok(holds(&b, "", 0), "cap 0: empty printf leaves it empty");
	buf_free(&b);
}

static void
test_consume(void)
{
	struct buf b;

	buf_init(&b, 64);
	buf_adds(&b, "abcdef");
	buf_consume(&b, 0);
	ok(holds(&b, "abcdef", 6), "consume 0: unchanged");
	buf_consume(&b, 2);
	ok(holds(&b, "cdef", 4), "consume 2: 'cdef'");
	buf_consume(&b, 3);
	ok(holds(&b, "f", 1), "consume 3: 'f'");
	buf_consume(&b, 1);
	ok(holds(&b, "", 0) && b.data != NULL, "consume all: empty, terminated");
	is_int(buf_adds(&b, "xyz"), 0, "append after consume");
	ok(holds(&b, "xyz", 3), "append after consume: 'xyz'");
	buf_consume(&b, 3);
	ok(holds(&b, "", 0), "consume exactly len: empty");
	buf_free(&b);

	/* Consumed space is usable again under the cap. */
	buf_init(&b, 4);
	buf_adds(&b, "abcd");
	buf_consume(&b, 3);
	is_int(buf_adds(&b, "efg"), 0, "cap 4: room again after consume");
	ok(holds(&b, "defg", 4), "cap 4: 'defg'");
	buf_free(&b);

	/* Binary content survives the move. */
	buf_init(&b, 16);
	buf_add(&b, "a\0b\0c", 5);
	buf_consume(&b, 1);
	ok(holds(&b, "\0b\0c", 4), "consume keeps embedded NULs");
	buf_free(&b);
}

static void
test_reset_free(void)
{
	struct buf b;
	char *p;
	size_t alloc;

	buf_init(&b, 1000);
	buf_adds(&b, "hello world");
	p = b.data;
	alloc = b.alloc;
	buf_reset(&b);
	ok(holds(&b, "", 0), "reset: empty and terminated");
	ok(b.data == p && b.alloc == alloc, "reset: storage kept");
	is_int(b.cap, 1000, "reset: cap kept");
	is_int(buf_adds(&b, "again"), 0, "append after reset");
	ok(holds(&b, "again", 5), "append after reset: 'again'");
	buf_free(&b);
	ok(b.data == NULL && b.len == 0 && b.alloc == 0, "free: nothing held");
	is_int(b.cap, 1000, "free: cap kept");
	is_int(buf_adds(&b, "reuse"), 0, "append after free");
	ok(holds(&b, "reuse", 5), "append after free: 'reuse'");
	buf_free(&b);
}

static void
test_unlimited(void)
{
	struct buf b;

	/*
	 * SIZE_MAX is the natural "no limit"; cap + 1 must not wrap to 0.  An
	 * empty append comes first so that a wrong allocation shows up as a
	 * failed test rather than as a heap overflow.
	 */
	buf_init(&b, SIZE_MAX);
	is_int(buf_add(&b, "", 0), 0, "cap SIZE_MAX: add of 0 bytes");
	if (!ok(b.alloc > 0, "cap SIZE_MAX: storage allocated (alloc %zu)",
	    b.alloc)) {
		ok(0, "cap SIZE_MAX: add 'hello' (not tried: no storage)");
		ok(0, "cap SIZE_MAX: holds 'hello' (not tried: no storage)");
	} else {
		is_int(buf_adds(&b, "hello"), 0, "cap SIZE_MAX: add 'hello'");
		ok(b.alloc >= 6 && holds(&b, "hello", 5),
		    "cap SIZE_MAX: holds 'hello'");
	}
	buf_free(&b);
}

int
main(void)
{
	plan(72);
	test_init();
	test_caps();
	test_growth();
	test_printf();
	test_consume();
	test_reset_free();
	test_unlimited();
	return done_testing();
}
