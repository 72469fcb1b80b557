/* upstream_responses.h: an upstream's Responses API events, read into a stream. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_UPSTREAM_RESPONSES_H
#define CS_UPSTREAM_RESPONSES_H

#include "stream.h"

struct chat_request;
struct json_object;

/* The output items an upstream response may have that are followed. */
#define UPSTREAM_ITEMS 256

/*
 * What the events read so far say: which output item is which tool call
 * (the stream numbers calls 0, 1, 2, ... as they come), and how it ended.
 */
struct upstream_responses {
	short call_of[UPSTREAM_ITEMS];   /* output_index -> call index; -1: not a call */
	char args_came[UPSTREAM_ITEMS];  /* a call's arguments came in deltas */
	int text_came;                   /* some text came in deltas */
	int ncalls;
	const char *finish;              /* NULL until it ends: stop, tool_calls, length,
	                                    content_filter */
	long input_tokens, output_tokens;
};

void upstream_responses_init(struct upstream_responses *u);

/*
 * Feeds one event of an upstream's Responses stream (o: its data, a JSON
 * object with a "type") into s: output_text deltas (with their logprobs)
 * as tokens (or its done event's text when no delta came), reasoning_text and reasoning_summary_text deltas as
 * reasoning, refusal deltas as a refusal, function_call items and their
 * arguments (deltas, or whole in the done event when none came) as tool
 * calls; response.completed and
 * response.incomplete end it (u->finish, the usage and its details given
 * to s); other events (the done ones, hosted tools') carry nothing the
 * stream takes and are passed over.  Returns 0; 1 when the response has
 * ended; -1 when the upstream says it failed (a response.failed or error
 * event) or -3 when the event is not the API's, *why then saying why (the
 * upstream's message, borrowed from o: mask it before showing it); -2
 * when the stream failed (as stream_token()).
 */
int  upstream_responses_event(struct upstream_responses *u, struct stream *s,
    struct json_object *o, const char **why);

/*
 * The request body for an upstream's POST /responses, from a POST
 * /v1/responses request (req->responses set): the client's fields as sent,
 * but those chatstream sets itself ("model": the given one; "stream": true;
 * "store": false, as chatstream keeps the response; no "background",
 * "previous_response_id" or "conversation") and "input" and
 * "instructions", which are req's messages as items again, with the
 * references already resolved (messages; an assistant's tool calls as
 * function_call items; tool messages as function_call_output items).
 * NULL when out of memory.  The caller owns it.
 */
struct json_object *upstream_responses_body(const struct chat_request *req,
    const char *model);

#endif
