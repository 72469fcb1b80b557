/* stream_delta.h: what stream.c and stream_delta.c share: the event route and the gathered parts. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_STREAM_DELTA_H
#define CS_STREAM_DELTA_H

#include "buf.h"
#include "stream.h"

/* One tool call being put together (STREAM_OPENAI_JSON, the Responses formats). */
struct stream_call {
	struct buf id, name, args;
};

/* Numbers, frames, journals and delivers one event (stream.c). Returns as stream_token(). */
int  stream_emit(struct stream *s, const char *name, const char *data, size_t len);

/*
 * The tool call of index (0..STREAM_MAX_CALLS-1), made on first use; s
 * owns it.  NULL: index out of range, or out of memory.
 */
struct stream_call *stream_call_slot(struct stream *s, int index);

/* Sets a call's id or name to w[0..len) unless it has one (or w is NULL). Returns 0 or -1. */
int  stream_call_word(struct buf *to, const char *w, size_t len);

/* How an OpenAI chunk ends after its choices (stream.c). */
const char *stream_chunk_end(const struct stream *s);

/* Sizes the buffers of stream_delta.c (stream_open()). */
void stream_delta_open(struct stream *s);

/* Sends pending logprobs in an event of their own. Returns as stream_token(). */
int  stream_delta_flush(struct stream *s);

/*
 * STREAM_OPENAI_JSON: appends the message's members besides role and
 * content (reasoning, refusal, tool_calls), each starting with a comma.
 */
int  stream_delta_message(const struct stream *s, struct buf *b);

/* The most bytes stream_delta_message() and stream_delta_usage() append, with logprobs. */
size_t stream_delta_size(const struct stream *s);

/* Appends the usage members the backend added, each after a comma. Returns 0 or -1. */
int  stream_delta_usage(const struct stream *s, struct buf *b);

void stream_delta_close(struct stream *s);

#endif
