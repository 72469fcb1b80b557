/* stream_delta.h: what stream.c and stream_delta.c share: the event route and the gathered parts. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_STREAM_DELTA_H
#define CS_STREAM_DELTA_H

#include "buf.h"
#include "stream.h"

/* STREAM_OPENAI_JSON: one tool call being put together. */
struct stream_call {
	struct buf id, name, args;
};

/* Numbers, frames, journals and delivers one event (stream.c). Returns as stream_token(). */
int  stream_emit(struct stream *s, const char *name, const char *data, size_t len);

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
