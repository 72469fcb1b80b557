/* unit_stopseq.c: stop sequence matching across every split of the text, against a plain reference. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <string.h>

#include "stopseq.h"
#include "tap.h"

#define MAXTEXT 128

/*
 * The text a stop cuts: up to the start of the match that ends first (the
 * longest of those).  Returns its length; *hit 1 on a match.
 */
static size_t
reference(const char *text, size_t len, char *const *seq, size_t n, int *hit)
{
	size_t end, j, l;

	for (end = 1; end <= len; end++) {
		size_t best = len + 1;

		for (j = 0; j < n; j++) {
			l = strlen(seq[j]);
			if (l <= end && memcmp(text + end - l, seq[j], l) == 0 &&
			    end - l < best)
				best = end - l;
		}
		if (best <= len) {
			*hit = 1;
			return best;
		}
	}
	*hit = 0;
	return len;
}

/* How much of a prefix of the text no match may still start in: what must be released by now. */
static size_t
releasable(const char *text, size_t len, char *const *seq, size_t n)
{
	size_t at, j;

	for (at = 0; at < len; at++)
		for (j = 0; j < n; j++)
			if (strlen(seq[j]) > len - at &&
			    memcmp(text + at, seq[j], len - at) == 0)
				return at;
	return len;
}

struct run {
	char got[MAXTEXT];
	size_t ngot;
	int early;   /* a byte was held that could not start a match */
	int matched;
};

static void
take(struct run *r, const char *p, size_t n)
{
	if (n > 0 && r->ngot + n <= sizeof(r->got))
		memcpy(r->got + r->ngot, p, n);
	r->ngot += n;
}

/* Feeds text cut at the offsets cuts[0..ncuts) (ascending), then flushes. */
static void
feed(struct run *r, const char *text, size_t len, char *const *seq, size_t n,
    const size_t *cuts, size_t ncuts)
{
	struct stopseq st;
	size_t from = 0, i, nh, nin;
	const char *h;

	memset(r, 0, sizeof(*r));
	stopseq_init(&st, seq, n);
	for (i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;

		r->matched = stopseq_feed(&st, text + from, to - from, &h, &nh, &nin);
		take(r, h, nh);
		take(r, text + from, nin);
		from = to;
		if (!r->matched && r->ngot != releasable(text, to, seq, n))
			r->early = 1;
	}
	if (!r->matched) {
		nh = stopseq_flush(&st, &h);
		take(r, h, nh);
	}
}

/* Every split in two and in three pieces, and byte by byte, agree with the reference. */
static void
check(const char *name, const char *text, char *const *seq, size_t n)
{
	size_t len = strlen(text), want, a, b, cuts[MAXTEXT];
	int hit, bad = 0, early = 0;
	struct run r;

	want = reference(text, len, seq, n, &hit);
	for (a = 0; a <= len; a++)
		for (b = a; b <= len; b++) {
			cuts[0] = a;
			cuts[1] = b;
			feed(&r, text, len, seq, n, cuts, 2);
			if (r.ngot != want || memcmp(r.got, text, want) != 0 || r.matched != hit)
				bad++;
			early += r.early;
		}
	for (a = 0; a < len; a++)
		cuts[a] = a + 1;
	feed(&r, text, len, seq, n, cuts, len > 0 ? len - 1 : 0);
	ok(!bad && r.ngot == want && memcmp(r.got, text, want) == 0 && r.matched == hit,
	    "%s: cut at %zu (%s), at every split", name, want, hit ? "match" : "no match");
	ok(!early && !r.early, "%s: bytes that cannot start a match are released at once", name);
}

int
main(void)
{
	char *demo[] = { "demo" };
	char *aab[] = { "aab" };
	char *several[] = { "xyz", "lo w", "world", "o" };
	char *utf8[] = { "\xC3\xA9t\xC3\xA9", "\xE2\x82\xAC" };
	char *ending[] = { "ld", "world" };
	char *nl[] = { "\n\n" };
	char *none[] = { "zzz" };
	struct stopseq st;
	const char *h;
	size_t nh, nin;

	check("one sequence", "this is a demo text", demo, 1);
	check("overlapping prefixes", "xaaab tail", aab, 1);
	check("almost a match", "aaaa aab", aab, 1);
	check("several sequences, the first complete wins", "hello world xyz", several, 4);
	check("several sequences, the longest of those ending together", "a world", ending, 2);
	check("several, one a prefix of the text's end", "hell lo wo", several + 1, 2);
	check("UTF-8", "un \xC3\xA9t\xC3\xA9 \xC3\xA0 1\xE2\x82\xAC", utf8, 2);
	check("UTF-8, the second sequence first", "1\xE2\x82\xAC \xC3\xA9t\xC3\xA9", utf8, 2);
	check("at the very start", "demo and more", demo, 1);
	check("the whole text", "demo", demo, 1);
	check("at the very end", "a demo", demo, 1);
	check("a prefix at the end is flushed", "a dem", demo, 1);
	check("blank lines", "a\nb\n\nc", nl, 1);
	check("no match", "nothing to see", none, 1);
	check("no sequences", "passes as is", none, 0);

	/* After a match nothing more passes. */
	stopseq_init(&st, demo, 1);
	ok(stopseq_feed(&st, "x demo y", 8, &h, &nh, &nin) == 1 && nh == 0 && nin == 2,
	    "a match releases what precedes it");
	ok(stopseq_feed(&st, "more", 4, &h, &nh, &nin) == 1 && nh == 0 && nin == 0,
	    "and nothing after");
	/* The longest held tail is one byte short of the longest sequence. */
	{
		char big[STOPSEQ_MAX_LEN + 1], *seq[] = { big };

		memset(big, 'a', STOPSEQ_MAX_LEN);
		big[STOPSEQ_MAX_LEN] = '\0';
		stopseq_init(&st, seq, 1);
		ok(stopseq_feed(&st, big, STOPSEQ_MAX_LEN - 1, &h, &nh, &nin) == 0 &&
		    nh == 0 && nin == 0 && st.nheld == STOPSEQ_MAX_LEN - 1,
		    "a %d-byte prefix is held", STOPSEQ_MAX_LEN - 1);
		ok(stopseq_feed(&st, "b", 1, &h, &nh, &nin) == 0 &&
		    nh == STOPSEQ_MAX_LEN - 1 && nin == 1 && st.nheld == 0,
		    "and released with the byte that rules the match out");
	}
	return done_testing();
}
