/* stopseq.h: stop sequences matched across token boundaries, holding back only what could still match. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_STOPSEQ_H
#define CS_STOPSEQ_H

#include <stddef.h>

#define STOPSEQ_MAX_LEN 256   /* longest sequence, in bytes */
#define STOPSEQ_MAX_N   4     /* most sequences (OpenAI's limit) */

/*
 * A text arrives in pieces; the matcher releases each byte as soon as no
 * sequence can start there, holds back the few that could still begin one,
 * and, once a sequence is complete (the first to end; the longest of those
 * ending together), releases what precedes it and nothing more.  Bytes are compared as bytes: sequences are UTF-8 without NUL.
 */
struct stopseq {
	const char *seq[STOPSEQ_MAX_N];   /* borrowed, NUL-terminated */
	size_t len[STOPSEQ_MAX_N];
	size_t n;
	size_t maxlen;                    /* of the longest sequence */
	char held[STOPSEQ_MAX_LEN];       /* a tail that is a prefix of some sequence */
	size_t nheld;
	char out[STOPSEQ_MAX_LEN];        /* released held bytes, until the next call */
	int matched;                      /* a sequence was found: the text ends */
};

/*
 * Prepares st for the n sequences seq[] (borrowed: they must outlive st).
 * Sequences beyond STOPSEQ_MAX_N, empty or longer than STOPSEQ_MAX_LEN are
 * ignored (the request parser refuses them).  n == 0: every byte passes.
 */
void   stopseq_init(struct stopseq *st, char *const *seq, size_t n);

/*
 * Feeds in[0..len).  What is released, in order, is *held (*nheld bytes,
 * valid until the next call) then in[0..*nin).  Returns 1 when a sequence
 * matched (st->matched: what follows it, and every later feed, is dropped),
 * else 0.
 */
int    stopseq_feed(struct stopseq *st, const char *in, size_t len,
    const char **held, size_t *nheld, size_t *nin);

/* At the end of the text: returns the count of held bytes, pointed to by *held, and forgets them. */
size_t stopseq_flush(struct stopseq *st, const char **held);

#endif
