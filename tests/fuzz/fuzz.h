/* fuzz.h: what every fuzz harness shares: the libFuzzer entry point and property checks. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_FUZZ_H
#define CS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "utf8.h"

/*
 * Each tests/fuzz/fuzz_<name>.c defines this: it runs one input and
 * returns 0.  A harness checks properties, not only that nothing crashed:
 * a violated one is reported by FUZZ_CHECK, which aborts, so libFuzzer
 * saves the input and replay.c names it.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, what) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz: property violated: %s (%s:%d)\n",	\
		    (what), __FILE__, __LINE__);				\
		abort();						\
	}								\
} while (0)

/* Takes bytes from the front of an input: the choices a harness makes (splits, options). */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

/* The next byte, or 0 when the input is used up. */
static inline unsigned
fuzz_byte(struct fuzz_in *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

/*
 * Sanitises in[0..len) through an output window of cap bytes (at least
 * UTF8_MAX_OUT), appending each window's text to out, as the stream does
 * with its event buffer: the sanitiser must go on whatever the cap.
 */
static inline void
fuzz_sanitize(struct utf8_carry *c, const char *in, size_t len, int final, size_t cap,
    struct buf *out)
{
	struct buf win;
	size_t used, rounds = 0;

	buf_init(&win, cap < UTF8_MAX_OUT ? UTF8_MAX_OUT : cap);
	for (;;) {
		used = utf8_sanitize(c, in, len, final, &win);
		FUZZ_CHECK(win.len == 0 || buf_add(out, win.data, win.len) == 0,
		    "the sanitised text outgrew 3 bytes an input byte");
		FUZZ_CHECK(used <= len, "consumed more than it was given");
		in += used;
		len -= used;
		if (len == 0 && !(final && c->len != 0))
			break;
		FUZZ_CHECK(win.len > 0 || used > 0, "the sanitiser made no progress");
		FUZZ_CHECK(++rounds <= 2 * (len + c->len) + 8, "the sanitiser made no progress");
		buf_reset(&win);
	}
	buf_free(&win);
}

#endif
