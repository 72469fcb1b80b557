/* fuzz.h: what every fuzz harness shares: the libFuzzer entry point and property checks. */
#ifndef CS_FUZZ_H
#define CS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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

#endif
