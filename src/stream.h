/* stream.h: the stream object, the one place every event of a stream passes through. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_STREAM_H
#define CS_STREAM_H

#include <stdint.h>

#include "backend.h"
#include "buf.h"
#include "conf.h"
#include "conn.h"
#include "stopseq.h"
#include "utf8.h"

struct journal;
struct responses_req;

#define STREAM_ID_LEN 22   /* 128 random bits, base64url without padding */

/* What the reader gets. */
enum stream_format {
	STREAM_NATIVE,        /* meta, {"text"} per token, done/error; ids <id>.1, <id>.2, ... */
	STREAM_OPENAI,        /* OpenAI chat.completion.chunk events, then data: [DONE]; ids too */
	STREAM_OPENAI_JSON,   /* no stream: one chat.completion object at the end, after
	                         a space per heartbeat while the model works */
	STREAM_RESPONSES,     /* the Responses API's typed events (responses_stream.c); ids too */
	STREAM_RESPONSES_JSON /* no stream: one response object at the end, as OPENAI_JSON */
};

/* The formats without events: one JSON object at the end. */
#define STREAM_FORMAT_JSON(f) ((f) == STREAM_OPENAI_JSON || (f) == STREAM_RESPONSES_JSON)
/* The Responses API's formats. */
#define STREAM_FORMAT_RESPONSES(f) ((f) == STREAM_RESPONSES || (f) == STREAM_RESPONSES_JSON)

/* The most choices one answer may have (the request's n). */
#define STREAM_MAX_CHOICES 128

/* The most tool calls one answer may make, and the longest id or name of one. */
#define STREAM_MAX_CALLS 128
#define STREAM_CALL_WORD 256

/* Where the response is; it only moves forward. */
enum stream_state {
	STREAM_HEAD,      /* nothing sent: a failure can still be answered with an HTTP status */
	STREAM_BODY,      /* the head (status 200) was sent: failures are error events now */
	STREAM_ENDED      /* done or error was sent */
};

/*
 * A stream numbers its events 1, 2, 3, ..., frames them as SSE and delivers
 * them to its reader (the POST's own connection, if any) and to its journal,
 * if it has one (for readers that resume: stream_emit() in stream.c appends
 * every event to it).  Backends only hand it bytes (text, reasoning, tool
 * calls' arguments: see stream_delta.c for what is not text); the SSE
 * encoder only sees finished payloads.  This file writes every response head of a stream
 * (stream_head()).
 *
 * The response is committed (status 200 sent, state STREAM_BODY) by
 * stream_begin(), or by the first token or heartbeat.  Until then a failure
 * can still be answered with an HTTP error status instead of an error event.
 */
struct stream {
	char id[STREAM_ID_LEN + 1];
	const struct conf *conf;            /* borrowed */
	const struct model_conf *model;     /* borrowed */
	struct conn *conn;                  /* borrowed: the first reader; NULL when detached */
	struct journal *journal;            /* borrowed, may be NULL: where events are kept */
	const char *resume_url;             /* borrowed, may be NULL: GET it to resume */
	/* May be NULL: run by stream_begin() before anything is sent (to attach a journal). */
	void (*on_begin)(struct stream *s, void *arg);
	void *on_begin_arg;
	enum stream_format format;
	enum stream_state state;
	int gone;                           /* the reader has left (a write to it failed) */
	int include_usage;                  /* STREAM_OPENAI: send the usage chunk */
	const struct responses_req *resp;   /* borrowed: STREAM_RESPONSES(_JSON)'s request */
	int background;                     /* runs to its end with no reader (pump.c) */
	int64_t created;                    /* unix time */
	uint64_t seq;                       /* id of the last event sent */
	struct buf out;                     /* encoded bytes of one event */
	struct buf payload;                 /* JSON payload of one token event */
	struct buf text;                    /* sanitised text of one token */
	struct buf answer;                  /* the whole answer: OPENAI_JSON; RESPONSES(_JSON),
	                                       JSON-escaped, for the done events and object */
	int answer_cut;                     /* the answer outgrew its cap */
	struct buf chunk_head;              /* STREAM_OPENAI: how every chunk starts */
	struct utf8_carry carry;            /* split UTF-8 held back */
	struct stopseq stop;                /* the request's stop sequences; stop.matched: ended */
	int64_t started_ms, first_token_ms, last_write_ms;
	uint64_t events, bytes;
	long tokens;                        /* token events sent */
	int lost;                           /* some text could not be sent */
	/* What is not text (stream_delta.c): */
	struct buf piece;                   /* sanitised text of one non-text event */
	struct buf logprobs;                /* logprobs for the next text event; JSON: all items */
	struct buf usage_extra;             /* usage members the backend added, e.g. *_details */
	struct buf reasoning, refusal;      /* the whole of each (RESPONSES(_JSON): JSON-escaped) */
	const char *reasoning_field;        /* STREAM_OPENAI_JSON: the key reasoning came as */
	struct stream_call *calls;          /* the tool calls, by index (not STREAM_OPENAI) */
	size_t ncalls;
	/* RESPONSES(_JSON): the output items in the order they came (responses_stream.c). */
	int items[STREAM_MAX_CALLS + 2];    /* RESPONSES_MESSAGE, _REASONING or a call's index */
	int nitems;
	int text_part, refusal_part;        /* the message's content parts: index, or -1 */
	/*
	 * The choices (stream_choices()): the fields above that belong to one
	 * answer (carry, stop, answer, logprobs, reasoning, refusal, calls) are
	 * the selected choice's; the others' wait in choices[].
	 */
	int choice;                         /* the selected one: 0 unless chosen */
	int nchoices;                       /* 1 unless stream_choices() said more */
	struct stream_choice *choices;      /* owned: nchoices of them; NULL for one */
};

/*
 * Appends to out the head of a response about stream id: status 200 with
 * format's content type (text/event-stream, or application/json for
 * STREAM_OPENAI_JSON), or status 204 (nothing to read), which stops
 * EventSource.  id "" (no stream to name) sends no X-Stream-Id.  extra:
 * header lines (each ending in CRLF) added as they are, "" for none.
 * Returns 0, or -1 when out is full.
 */
int  stream_head(struct buf *out, int status, enum stream_format format, const char *id,
    const char *extra);

/* Fills a fresh random stream id into id (STREAM_ID_LEN + 1 bytes). Returns 0 or -1. */
int  stream_new_id(char *id);

/*
 * Prepares s for a stream of model m to conn, with no stop sequences (set
 * them with stopseq_init(&s->stop, ...)).  Returns 0 or -1 (no random source).
 */
int  stream_open(struct stream *s, const struct conf *cf,
    const struct model_conf *m, struct conn *conn, enum stream_format format,
    struct cs_error *err);

/*
 * Commits the response: the head, then (native) the retry line, a comment
 * and the meta event, or (OpenAI) the first chunk, flushed.  Does nothing
 * past STREAM_HEAD, and nothing at all for STREAM_OPENAI_JSON, whose head
 * goes out with the answer or the first heartbeat.  Returns 0, or -1 when
 * the reader has gone.
 */
int  stream_begin(struct stream *s);

/*
 * Sends bytes[0..len) as one token event, or several when its text passes
 * one event's cap (nothing when all of it is an incomplete UTF-8 sequence
 * or the start of a stop sequence, held back for the next call).  Once a
 * stop sequence is complete, s->stop.matched is set: the text before it is
 * sent, the rest (now and later) dropped, and the caller ends the stream
 * with finish_reason "stop".  Any bytes are accepted.  Returns 0; -1 when
 * the reader has gone, the bytes consumed all the same (every event of them
 * journaled when the stream has a journal: the caller must not send them
 * again); or -2 when text could not be sent (out of memory): the backend
 * then fails the stream, and stream_done() would send an error.
 */
int  stream_token(struct stream *s, const char *bytes, size_t len);

/*
 * What is not text, each as its own event(s), numbered and journaled like
 * tokens (stream_delta.c).  In the OpenAI chunk format a delta of
 * `tool_calls`, `reasoning_content` (or the field given), `refusal`; in the
 * native one `event: tool_call`, `event: reasoning`, `event: refusal`;
 * STREAM_OPENAI_JSON gathers them into the message.  Text is sanitised as
 * tokens' is (each call on its own: give whole characters) and split over
 * several events when it passes one event's cap.  Returns as stream_token().
 *
 * stream_tool_call(): a fragment of tool call index (0..STREAM_MAX_CALLS-1):
 * id and name (NULL when absent; cut to STREAM_CALL_WORD bytes) come with a
 * call's first fragment, args[0..len) is the next piece of its arguments
 * (the pieces concatenate to the JSON text of them).
 */
int  stream_tool_call(struct stream *s, int index, const char *id, const char *name,
    const char *args, size_t len);

/* Reasoning text; field: the OpenAI delta key ("reasoning"), NULL for reasoning_content. */
int  stream_reasoning(struct stream *s, const char *field, const char *text, size_t len);

int  stream_refusal(struct stream *s, const char *text, size_t len);

/*
 * The logprobs object (JSON text, as OpenAI's choice has it) of the text
 * handed over next: it goes in the same event, or in one of its own when
 * both do not fit in one; STREAM_OPENAI_JSON gathers its "content" items.
 * One bigger than an event is dropped.  Returns as stream_token().
 */
int  stream_logprobs(struct stream *s, const char *json, size_t len);

/*
 * Members to add to the usage object at the end (JSON text of an object,
 * e.g. {"completion_tokens_details":{...}}), replacing earlier ones.
 * Returns 0, or -1 when they do not fit (they are dropped).
 */
int  stream_usage_details(struct stream *s, const char *json, size_t len);

/*
 * STREAM_OPENAI(_JSON): the answer has n choices (1..STREAM_MAX_CHOICES; 1
 * changes nothing), each with its own text, tool calls, reasoning, refusal, logprobs, held
 * back bytes (a split character, the start of a stop sequence: s->stop as
 * it is now, so call this after stopseq_init()) and finish_reason.  Every
 * event of a choice carries its "index"; a stop sequence ends its choice,
 * not the stream.  Other formats carry one answer: this fails.  Memory:
 * streamed, a choice holds only what is held back; STREAM_OPENAI_JSON
 * gathers every choice whole, and the n choices share what one answer may
 * gather (each its n-th, but never less than one max_event): past its
 * share a choice is cut, finish_reason "length".  Returns 0, or -1 (out of
 * memory, or not an OpenAI format).
 */
int  stream_choices(struct stream *s, int n);

/*
 * What the backend hands over next (tokens, tool calls, reasoning, refusal,
 * logprobs, stream_choice_finish()) is choice i's.  Choice 0 is selected
 * until this is called.  Returns 0, or -1 when s has no choice i (every
 * format but the OpenAI ones has only choice 0) or choice i has ended: the
 * caller drops what it has of it; the selection does not change.
 */
int  stream_select_choice(struct stream *s, int i);

/*
 * The selected choice ended with finish_reason reason ([a-z_], else "stop";
 * "stop" whatever it says when one of the request's stop sequences ended
 * it).  With several choices, STREAM_OPENAI sends what that choice held
 * back and its finish chunk now, and STREAM_OPENAI_JSON keeps the reason for
 * the object; with one, it does nothing: stream_done() says how the answer
 * ended.  Returns as stream_token().
 */
int  stream_choice_finish(struct stream *s, const char *reason);

/*
 * Ends the stream with `event: done` (STREAM_OPENAI: a finish chunk for
 * each choice that has not had one, with res's finish_reason; the usage
 * chunk; data: [DONE]). Returns 0 or -1 as above.
 */
int  stream_done(struct stream *s, const struct backend_result *res,
    long prompt_tokens);

/*
 * Ends the stream with `event: error` of the given type (OpenAI formats:
 * OpenAI's error object).  STREAM_OPENAI_JSON before any heartbeat: sends
 * nothing and returns -1, for the caller to answer with an HTTP status;
 * after one, the error object is the body.  Returns 0 or -1 as above.
 */
int  stream_error(struct stream *s, const char *type, const char *message);

/*
 * Sends a heartbeat: a `: ping` comment, or for STREAM_OPENAI_JSON a space
 * (the first one with the head: the response is committed then).
 * Returns 0 or -1 as above.
 */
int  stream_heartbeat(struct stream *s);

/*
 * For the format writers (responses_stream.c): numbers data[0..len) (it
 * must be the payload of event number s->seq + 1), frames it as SSE with
 * the event name sse_name (NULL: none), appends it to the journal as
 * journal_name (message, or done/error for the last one) and delivers it.
 * Returns 0, -1 (reader gone; the event journaled) or -2 (did not fit).
 */
int  stream_emit_event(struct stream *s, const char *sse_name, const char *journal_name,
    const char *data, size_t len);

/* Goes on without the first reader: events then only reach the journal. */
void stream_detach(struct stream *s);

/* Releases what s holds (not the connection). */
void stream_close(struct stream *s);

#endif
