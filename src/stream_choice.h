/* stream_choice.h: what stream.c and stream_delta.c share about the choices of an answer. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_STREAM_CHOICE_H
#define CS_STREAM_CHOICE_H

#include "buf.h"
#include "stopseq.h"
#include "stream.h"
#include "utf8.h"

/*
 * One choice of an answer with several (stream_choices()).  The first part
 * is the state struct stream holds for the selected choice: it waits here
 * while another is selected (choices[s->choice] holds nothing meanwhile).
 * The rest is always here.
 */
struct stream_choice {
	struct utf8_carry carry;
	struct stopseq stop;
	struct buf answer;
	int answer_cut;
	struct buf logprobs, reasoning, refusal;
	const char *reasoning_field;
	struct stream_call *calls;
	size_t ncalls;
	/* Always here: */
	char finish[32];          /* how it ended ([a-z_]); "" while it goes on */
	int ended;                /* stream_choice_finish() was called for it */
};

/* Makes choice i (0..s->nchoices-1) the selected one, ended or not. */
void stream_choice_load(struct stream *s, int i);

/* Appends {"index":N with N the selected choice (an OpenAI chunk's choice). Returns 0 or -1. */
int  stream_choice_index(struct buf *b, const struct stream *s);

/* Releases the choices' state (not the selected one's: stream_delta_close()). */
void stream_choices_free(struct stream *s);

#endif
