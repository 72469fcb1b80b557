/* responses.h: OpenAI's Responses API (/v1/responses): its request, its object, its events. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_RESPONSES_H
#define CS_RESPONSES_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "buf.h"
#include "conf.h"
#include "error.h"

struct json_object;
struct stream;

/* What a Responses request asks besides the chat_request every backend sees. */
struct responses_req {
	int background;          /* "background": true: answered at once, runs detached */
	int store;               /* "store", echoed (a stream is journaled either way) */
	long max_output_tokens;  /* 0: none */
	double temperature;
	int has_temperature;
	double top_p;
	int has_top_p;
	char *metadata;          /* owned, may be NULL: the "metadata" object, as JSON */
};

/*
 * Finds the output item called id (msg_<stream id>, rs_<stream id>,
 * fc_<stream id>_<n>) among the caller's earlier responses, for an
 * "item_reference" input item.  Returns 0 with *item a new reference (the
 * caller's: json_object_put()), or NULL when no such item is kept (unknown,
 * expired, someone else's); -1 with err filled when it cannot tell.
 */
struct responses_resolver {
	int  (*find)(void *arg, const char *id, struct json_object **item,
	    struct cs_error *err);
	void *arg;
};

/*
 * responses.c.  Parses a POST /v1/responses body into req (zeroed by the
 * caller; release it with chat_request_free() whatever happens) and rr
 * (zeroed; release with responses_req_free()): "input" (a string, or items:
 * messages of role user, system, developer or assistant whose content is a
 * string or input_text/output_text parts; function_call items, consecutive
 * ones in one assistant message with tool_calls; function_call_output items
 * as tool messages; reasoning items, skipped; item_reference items, found
 * through refs), "instructions" (a system message first), "model",
 * "max_output_tokens", "temperature", "top_p", "stream", "background",
 * "store", "metadata", "tools" (function tools), "tool_choice",
 * "parallel_tool_calls"; the other fields OpenAI defines are accepted and
 * not used.  req->body gets the fields an openai backend passes on, in
 * chat-completions terms (max_tokens, temperature, top_p, user,
 * reasoning_effort, response_format, tools, tool_choice,
 * parallel_tool_calls), and a "messages" array owning the JSON object of
 * each message made from an item (chat_message.json); req->responses the
 * body itself.  refs may be NULL:
 * item_reference items are then refused.  previous_response_id,
 * conversation, other item types, tools other than functions and non-text
 * parts are 400s naming their param.  Returns 0, or -1 with err filled (400
 * invalid_json, invalid_request; 413; 500; refs' errors).
 */
int  responses_parse(const char *body, size_t len, int max_depth,
    const struct responses_resolver *refs, struct chat_request *req,
    struct responses_req *rr, struct cs_error *err);
void responses_req_free(struct responses_req *rr);

/* An output item's code in stream.items: the message, the reasoning, or a tool call's index. */
#define RESPONSES_MESSAGE   (-1)
#define RESPONSES_REASONING (-2)

/* How much of an item or a part responses_object.c writes (flags). */
#define RESPONSES_WHOLE     1   /* its text, else empty as it starts */
#define RESPONSES_LOGPROBS  2   /* and the text's gathered logprobs (stream: false's object) */

/* A response object, as responses_object() writes it. Every pointer borrowed. */
struct responses_view {
	const char *id;              /* the stream id: the object's is resp_<id> */
	int64_t created;             /* unix time */
	const char *model;
	const char *status;          /* queued, in_progress, completed, incomplete, failed, cancelled */
	const struct responses_req *rr;  /* may be NULL: parameters not echoed */
	const struct stream *s;      /* may be NULL: no output; else its items, whole */
	const char *item_status;     /* the items': in_progress, completed, incomplete */
	int logprobs;                /* the text part has the gathered logprobs */
	int has_usage;               /* usage is given (else null) */
	long input_tokens, output_tokens;
	const char *error_code;      /* NULL: "error": null */
	const char *error_message;
	const char *incomplete;      /* incomplete_details.reason; NULL: null */
};

/*
 * responses_object.c.  Appends to b the response object v describes; an
 * output item of stream s (code: see above) as it starts (whole 0: no
 * content, arguments "") or whole (RESPONSES_WHOLE, and RESPONSES_LOGPROBS),
 * with the given status; the item's id, quoted (msg_<id>, rs_<id>,
 * fc_<id>_<n>); one content part of the message (part: its index) or of
 * the reasoning (part 0), empty or whole.
 * The texts come from the stream, kept JSON-escaped (responses_stream.c).
 * All return 0, or -1 on b's cap.
 */
int  responses_object(struct buf *b, const struct responses_view *v);
int  responses_item(struct buf *b, const struct stream *s, int code, const char *status,
    int whole);
int  responses_item_id(struct buf *b, const struct stream *s, int code);
int  responses_part(struct buf *b, const struct stream *s, int code, int part, int whole);

/*
 * responses_stream.c: a Responses stream's output (STREAM_RESPONSES: its
 * events, each sent through stream_emit_event() with its type as the SSE
 * event name and its sequence_number, the stream's event number less one;
 * STREAM_RESPONSES_JSON: only kept, for the object at the end).  Output
 * items are added as they first come: the message (for text or a refusal),
 * the reasoning, each tool call as a function_call item; every text is
 * kept JSON-escaped for the done events and the object, all of them
 * together within responses_answer_cap() (past it the answer is cut, and
 * the response ends incomplete).
 * begin: response.created, response.in_progress.
 * delta: the text pending in s->text (response.output_text.delta, with the
 * pending logprobs when they fit); reasoning: response.reasoning_text.delta;
 * refusal: response.refusal.delta; call: a function_call item (call index,
 * its id and name, given with its first fragment, sanitised) and
 * response.function_call_arguments.delta of args.
 * end: every item's done events in output order, then response.completed,
 * response.incomplete (finish "length", "content_filter", a cut answer) or
 * response.failed with status cancelled (finish "cancelled").
 * fail: response.failed with the error and the output so far.
 * All return 0, -1 (reader gone, the events journaled) or -2 (not sent:
 * out of memory).
 */
int  responses_begin(struct stream *s);
int  responses_delta(struct stream *s);
int  responses_reasoning(struct stream *s, const char *text, size_t len);
int  responses_refusal(struct stream *s, const char *text, size_t len);
int  responses_call(struct stream *s, int index, const struct buf *id, const struct buf *name,
    const char *args, size_t len);
int  responses_end(struct stream *s, const char *finish, long input_tokens,
    long output_tokens);
int  responses_fail(struct stream *s, const char *type, const char *message);
/*
 * The whole response object of a STREAM_RESPONSES_JSON stream (stream:
 * false) into b, as responses_end() would finish it.  Returns 0 or -1.
 */
int  responses_final(struct stream *s, struct buf *b, const char *finish,
    long input_tokens, long output_tokens);
/* The bytes of a stream's texts kept for the done events (JSON-escaped), all together. */
size_t responses_answer_cap(const struct conf *cf);

/*
 * responses_store.c.  The response object of stream id as its journal
 * holds it now (for GET /v1/responses/<id>): the last one its events
 * carried, with the answer so far; "failed" when its producer died.
 * wait_ms > 0: first waits that long at most for the stream to end (for
 * cancel).  *out is the caller's (json_object_put()).  Returns 0, or -1
 * with err filled (404 unknown or someone else's, 503 store failure).
 */
int  responses_load(const struct conf *cf, const char *id, const char *user,
    int wait_ms, struct json_object **out, struct cs_error *err);

/*
 * responses_refs.c.  A responses_resolver's arg for the output items of
 * the responses of user (borrowed, may be NULL) that cf's journal keeps;
 * it keeps the last response it read.  Release it with
 * responses_refs_free().  responses_refs_find() is the resolver's find:
 * items of someone else's response, or of one no longer kept, are not
 * found; naming more than 16 responses is a 400.
 */
struct responses_refs {
	const struct conf *cf;
	const char *user;
	char id[32];                   /* the stream id of response */
	struct json_object *response;  /* owned, may be NULL: the last response read */
	int loads;                     /* responses read */
};
void responses_refs_init(struct responses_refs *r, const struct conf *cf,
    const char *user);
int  responses_refs_find(void *arg, const char *id, struct json_object **item,
    struct cs_error *err);
void responses_refs_free(struct responses_refs *r);

#endif
