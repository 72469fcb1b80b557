/* helpers.h: what several C tests share: a growable byte string and a deterministic PRNG. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_TEST_HELPERS_H
#define CS_TEST_HELPERS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * A growable byte string, independent of buf.c (which some of the tests
 * test): always NUL-terminated once anything was added; aborts when out of
 * memory.  Start with { NULL, 0, 0 }; str_free() releases it.
 */
struct str {
	char *p;
	size_t len, alloc;
};

static inline void
str_add(struct str *s, const void *p, size_t n)
{
	if (s->len + n + 1 > s->alloc) {
		size_t a = s->alloc ? s->alloc : 64;

		while (a < s->len + n + 1)
			a *= 2;
		if ((s->p = realloc(s->p, a)) == NULL)
			abort();
		s->alloc = a;
	}
	if (n > 0)
		memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = '\0';
}

static inline void
str_adds(struct str *s, const char *z)
{
	str_add(s, z, strlen(z));
}

static inline void
str_reset(struct str *s)
{
	s->len = 0;
	if (s->p != NULL)
		s->p[0] = '\0';
}

static inline void
str_set(struct str *s, const void *p, size_t n)
{
	s->len = 0;
	str_add(s, p, n);
}

static inline void
str_free(struct str *s)
{
	free(s->p);
	memset(s, 0, sizeof(*s));
}

/*
 * splitmix64: the same sequence on every run and machine for one seed, so
 * a failing random case can be replayed.  rng_seed() first, in main().
 */
static uint64_t rng_state;

static inline void
rng_seed(uint64_t seed)
{
	rng_state = seed;
}

static inline uint64_t
rng(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

#endif
