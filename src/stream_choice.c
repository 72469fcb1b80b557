/* stream_choice.c: an answer of several choices: each its own state, one selected at a time. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "stream_choice.h"
#include "stream_delta.h"

/*
 * The selected choice's state lives in struct stream, where every writer
 * (stream.c, stream_delta.c) finds it; selecting another swaps the two:
 * a copy of a few hundred bytes, no allocation, nothing at all for an
 * answer of one choice.
 */
static void
exchange(struct stream *s, struct stream_choice *c)
{
	struct stream_choice t = *c;

	c->carry = s->carry;
	c->stop = s->stop;
	c->answer = s->answer;
	c->answer_cut = s->answer_cut;
	c->logprobs = s->logprobs;
	c->reasoning = s->reasoning;
	c->refusal = s->refusal;
	c->reasoning_field = s->reasoning_field;
	c->calls = s->calls;
	c->ncalls = s->ncalls;
	s->carry = t.carry;
	s->stop = t.stop;
	s->answer = t.answer;
	s->answer_cut = t.answer_cut;
	s->logprobs = t.logprobs;
	s->reasoning = t.reasoning;
	s->refusal = t.refusal;
	s->reasoning_field = t.reasoning_field;
	s->calls = t.calls;
	s->ncalls = t.ncalls;
}

/* Lowers an empty buffer's cap to its n-th share, but not below floor (nor above it was). */
static void
share(struct buf *b, int n, size_t floor)
{
	size_t part = b->cap / (size_t)n;

	if (part < floor)
		part = floor < b->cap ? floor : b->cap;
	b->cap = part;
}

int
stream_choices(struct stream *s, int n)
{
	struct stream_choice *c;
	int i;

	if (n < 1 || n > STREAM_MAX_CHOICES || s->choices != NULL ||
	    (s->format != STREAM_OPENAI && s->format != STREAM_OPENAI_JSON))
		return -1;
	if (n == 1)
		return 0;
	if ((c = calloc((size_t)n, sizeof(*c))) == NULL)
		return -1;
	/* Gathered whole, the choices share one answer's caps: n answers cost what one may. */
	if (s->format == STREAM_OPENAI_JSON) {
		share(&s->answer, n, s->conf->max_event);
		share(&s->logprobs, n, s->conf->max_event);
		share(&s->reasoning, n, s->conf->max_event);
		share(&s->refusal, n, s->conf->max_event);
	}
	/* Each starts as the stream's own did: empty, with the same caps and stop sequences. */
	for (i = 0; i < n; i++) {
		c[i].stop = s->stop;
		buf_init(&c[i].answer, s->answer.cap);
		buf_init(&c[i].logprobs, s->logprobs.cap);
		buf_init(&c[i].reasoning, s->reasoning.cap);
		buf_init(&c[i].refusal, s->refusal.cap);
	}
	s->choices = c;
	s->nchoices = n;
	s->choice = 0;
	return 0;
}

void
stream_choice_load(struct stream *s, int i)
{
	if (i == s->choice || s->choices == NULL)
		return;
	exchange(s, &s->choices[s->choice]);
	exchange(s, &s->choices[i]);
	s->choice = i;
}

int
stream_select_choice(struct stream *s, int i)
{
	if (i < 0 || i >= s->nchoices || (s->choices != NULL && s->choices[i].ended))
		return -1;
	stream_choice_load(s, i);
	return 0;
}

int
stream_choice_index(struct buf *b, const struct stream *s)
{
	if (s->choice == 0)   /* every event of an answer of one choice */
		return buf_add(b, "{\"index\":0", 10);
	return buf_add(b, "{\"index\":", 9) == -1 ||
	    buf_add_u64(b, (uint64_t)s->choice) == -1 ? -1 : 0;
}

void
stream_choices_free(struct stream *s)
{
	int i;
	size_t k;

	for (i = 0; i < s->nchoices && s->choices != NULL; i++) {
		struct stream_choice *c = &s->choices[i];

		buf_free(&c->answer);
		buf_free(&c->logprobs);
		buf_free(&c->reasoning);
		buf_free(&c->refusal);
		for (k = 0; k < c->ncalls; k++) {
			buf_free(&c->calls[k].id);
			buf_free(&c->calls[k].name);
			buf_free(&c->calls[k].args);
		}
		free(c->calls);
	}
	free(s->choices);
	s->choices = NULL;
	s->nchoices = 1;
	s->choice = 0;
}
