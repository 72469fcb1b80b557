/* stopseq.c: stop sequences matched across token boundaries, holding back only what could still match. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <string.h>

#include "stopseq.h"

void
stopseq_init(struct stopseq *st, char *const *seq, size_t n)
{
	size_t i;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < n && st->n < STOPSEQ_MAX_N; i++) {
		size_t l = seq[i] != NULL ? strlen(seq[i]) : 0;

		if (l == 0 || l > STOPSEQ_MAX_LEN)
			continue;
		st->seq[st->n] = seq[i];
		st->len[st->n++] = l;
		if (l > st->maxlen)
			st->maxlen = l;
	}
}

/* The text seen as held ++ in: does s[0..n) occur at offset at? (n may pass its end: a prefix test) */
static int
occurs(const struct stopseq *st, const char *in, size_t len, size_t at,
    const char *s, size_t n)
{
	size_t i, total = st->nheld + len;

	for (i = 0; i < n && at + i < total; i++) {
		size_t k = at + i;
		char c = k < st->nheld ? st->held[k] : in[k - st->nheld];

		if (c != s[i])
			return 0;
	}
	return i == n || at + i == total;
}

int
stopseq_feed(struct stopseq *st, const char *in, size_t len,
    const char **held, size_t *nheld, size_t *nin)
{
	size_t total = st->nheld + len, cut = total, end = total + 1, keep, i, j;

	*held = st->out;
	*nheld = 0;
	*nin = 0;
	if (st->matched)
		return 1;
	if (st->n == 0) {
		*nin = len;
		return 0;
	}
	/*
	 * The match that ends first (then the longest of those): the one a
	 * reader of the text byte by byte sees complete first.  It starts in
	 * what was held...
	 */
	for (i = 0; i < st->nheld; i++)
		for (j = 0; j < st->n; j++)
			if (i + st->len[j] <= total && i + st->len[j] <= end &&
			    (i + st->len[j] < end || i < cut) &&
			    occurs(st, in, len, i, st->seq[j], st->len[j])) {
				end = i + st->len[j];
				cut = i;
			}
	/* ... or wholly in in. */
	for (j = 0; len > 0 && j < st->n; j++) {
		/* Only where it would end no later than the best so far. */
		size_t span = end > total ? len : end > st->nheld ? end - st->nheld : 0;
		const char *p = memmem(in, span, st->seq[j], st->len[j]);
		size_t at = p != NULL ? st->nheld + (size_t)(p - in) : 0;

		if (p != NULL && (at + st->len[j] < end ||
		    (at + st->len[j] == end && at < cut))) {
			end = at + st->len[j];
			cut = at;
		}
	}
	if (cut < total) {
		st->matched = 1;
		keep = cut;   /* released up to the match; the rest dropped */
	} else {
		/* No match: hold back from the first offset where a sequence could still begin. */
		keep = total > st->maxlen - 1 ? total - (st->maxlen - 1) : 0;
		for (; keep < total; keep++) {
			for (j = 0; j < st->n; j++)
				if (total - keep < st->len[j] &&
				    occurs(st, in, len, keep, st->seq[j], st->len[j]))
					break;
			if (j < st->n)
				break;
		}
	}
	/* Release [0, keep): first from held, then from in. */
	*nheld = keep < st->nheld ? keep : st->nheld;
	memcpy(st->out, st->held, *nheld);
	*nin = keep > st->nheld ? keep - st->nheld : 0;
	if (st->matched) {
		st->nheld = 0;
		return 1;
	}
	/* Hold [keep, total): fewer than maxlen bytes. */
	if (keep < st->nheld) {
		memmove(st->held, st->held + keep, st->nheld - keep);
		st->nheld -= keep;
		if (len > 0)
			memcpy(st->held + st->nheld, in, len);
		st->nheld += len;
	} else if (total > keep) {
		memcpy(st->held, in + (keep - st->nheld), total - keep);
		st->nheld = total - keep;
	} else {
		st->nheld = 0;
	}
	return 0;
}

size_t
stopseq_flush(struct stopseq *st, const char **held)
{
	size_t n = st->nheld;

	memcpy(st->out, st->held, n);
	*held = st->out;
	st->nheld = 0;
	return n;
}
