/* responses_stream.c: a stream's events in the Responses API's shape (response.*, typed, numbered). */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <string.h>

#include "jsonw.h"
#include "responses.h"
#include "stream.h"
#include "stream_delta.h"

/* What the object and the done events around the answer need, besides it. */
#define OBJECT_ROOM (16 * 1024)

size_t
responses_answer_cap(const struct conf *cf)
{
	return cf->max_event > 2 * OBJECT_ROOM ? cf->max_event - OBJECT_ROOM : cf->max_event / 4;
}

/* How a finish reason ends a response: its status, incomplete reason, last event. */
struct ending {
	const char *status;
	const char *item_status;
	const char *incomplete;
	const char *event;
};

static struct ending
ending_of(const struct stream *s, const char *finish)
{
	struct ending e = { "completed", "completed", NULL, "response.completed" };

	if (strcmp(finish, "cancelled") == 0) {
		/* The API has no event of its own for it: the failure event, status cancelled. */
		e.status = "cancelled";
		e.item_status = "incomplete";
		e.event = "response.failed";
	} else if (strcmp(finish, "length") == 0 || strcmp(finish, "content_filter") == 0 ||
	    s->answer_cut) {
		e.status = e.item_status = "incomplete";
		e.incomplete = strcmp(finish, "content_filter") == 0 ? "content_filter" :
		    "max_output_tokens";
		e.event = "response.incomplete";
	}
	return e;
}

/* The view of s's response now, with its output items. */
static void
view_of(const struct stream *s, struct responses_view *v, const char *status,
    const char *item_status)
{
	memset(v, 0, sizeof(*v));
	v->id = s->id;
	v->created = s->created;
	v->model = s->model->name;
	v->status = status;
	v->rr = s->resp;
	v->s = s;
	v->item_status = item_status;
}

/* The output index of item code, or -1 when it has not come. */
static int
index_of(const struct stream *s, int code)
{
	int i;

	for (i = 0; i < s->nitems; i++)
		if (s->items[i] == code)
			return i;
	return -1;
}

/* Sends s->payload as event `type` (journaled as journal_name); *gone notes a reader gone. */
static int
send(struct stream *s, const char *type, const char *journal_name, int *gone)
{
	int rc = stream_emit_event(s, type, journal_name, s->payload.data, s->payload.len);

	buf_reset(&s->payload);
	if (rc == -1)
		*gone = 1;
	return rc == -2 ? -2 : 0;
}

/* Starts s->payload as the event of type `type`, numbered as the next event. */
static int
start(struct stream *s, const char *type)
{
	struct buf *b = &s->payload;

	/* Every delta starts here: no printf on the per-event path. */
	buf_reset(b);
	return buf_adds(b, "{\"type\":\"") == -1 || buf_adds(b, type) == -1 ||
	    buf_adds(b, "\",\"sequence_number\":") == -1 || buf_add_u64(b, s->seq) == -1 ? -1 : 0;
}

/* The head of an event about item code (and its content part, when part >= 0). */
static int
item_head(struct stream *s, const char *type, int code, int part)
{
	struct buf *b = &s->payload;

	return start(s, type) == -1 || buf_adds(b, ",\"item_id\":") == -1 ||
	    responses_item_id(b, s, code) == -1 || buf_adds(b, ",\"output_index\":") == -1 ||
	    buf_add_u64(b, (uint64_t)index_of(s, code)) == -1 ||
	    (part >= 0 && (buf_adds(b, ",\"content_index\":") == -1 ||
	    buf_add_u64(b, (uint64_t)part) == -1)) ? -1 : 0;
}

/* An event carrying the whole response object: created, in_progress and the last ones. */
static int
object_event(struct stream *s, const char *type, const struct responses_view *v)
{
	return start(s, type) == -1 || buf_adds(&s->payload, ",\"response\":") == -1 ||
	    responses_object(&s->payload, v) == -1 || buf_addc(&s->payload, '}') == -1 ? -1 : 0;
}

int
responses_begin(struct stream *s)
{
	struct responses_view v;
	int gone = 0;

	view_of(s, &v, "in_progress", "in_progress");
	if (object_event(s, "response.created", &v) == -1 ||
	    send(s, "response.created", NULL, &gone) == -2 ||
	    object_event(s, "response.in_progress", &v) == -1 ||
	    send(s, "response.in_progress", NULL, &gone) == -2)
		return -2;
	return gone ? -1 : 0;
}

/*
 * Whether s has events, begun: a Responses stream; a stream: false one that
 * is kept (store) has them too, in its journal only (stream_emit_event()).
 */
static int
has_events(struct stream *s)
{
	if (s->format == STREAM_RESPONSES) {
		if (s->state == STREAM_HEAD)
			(void)stream_begin(s);
		return 1;
	}
	if (s->journal == NULL)
		return 0;
	if (s->seq == 0)
		(void)responses_begin(s);
	return 1;
}

/* content_part.added (or .done, whole) of item code's part. */
static int
part_event(struct stream *s, const char *type, int code, int part, int whole, int *gone)
{
	return item_head(s, type, code, part) == -1 ||
	    buf_adds(&s->payload, ",\"part\":") == -1 ||
	    responses_part(&s->payload, s, code, part, whole) == -1 ||
	    buf_addc(&s->payload, '}') == -1 ||
	    send(s, type, NULL, gone) == -2 ? -2 : 0;
}

/*
 * Adds item code to the output, as it starts (the reasoning with its one
 * content part): items are added as they first come, so the output is in
 * the order the model gave them.  Returns 0, -1 (gone) or -2.
 */
static int
add_item(struct stream *s, int code)
{
	int gone = 0, events;

	if (index_of(s, code) >= 0)
		return 0;
	if (s->nitems >= (int)(sizeof(s->items) / sizeof(s->items[0])))
		return -2;
	/* Begun first: response.created has no output yet. */
	events = has_events(s);
	s->items[s->nitems++] = code;
	if (!events)
		return 0;
	if (start(s, "response.output_item.added") == -1 ||
	    buf_printf(&s->payload, ",\"output_index\":%d,\"item\":", s->nitems - 1) == -1 ||
	    responses_item(&s->payload, s, code, "in_progress", 0) == -1 ||
	    buf_addc(&s->payload, '}') == -1 ||
	    send(s, "response.output_item.added", NULL, &gone) == -2 ||
	    (code == RESPONSES_REASONING &&
	    part_event(s, "response.content_part.added", code, 0, 0, &gone) == -2))
		return -2;
	return gone ? -1 : 0;
}

/* Adds the message, and its content part *part (text or refusal) as the next one. */
static int
add_part(struct stream *s, int *part)
{
	int gone = 0, rc;

	if ((rc = add_item(s, RESPONSES_MESSAGE)) == -2)
		return -2;
	gone = rc == -1;
	if (*part >= 0)
		return gone ? -1 : 0;
	*part = (s->text_part >= 0) + (s->refusal_part >= 0);
	if (has_events(s) &&
	    part_event(s, "response.content_part.added", RESPONSES_MESSAGE, *part, 0, &gone) == -2)
		return -2;
	return gone ? -1 : 0;
}

/* Every text kept for the done events, in bytes, with room for the calls' ids and names. */
static size_t
kept_bytes(const struct stream *s)
{
	size_t n = s->answer.len + s->reasoning.len + s->refusal.len, i;

	for (i = 0; i < s->ncalls; i++)
		n += s->calls[i].args.len + 6 * (s->calls[i].id.len + s->calls[i].name.len) + 128;
	return n;
}

/* Whether n more bytes kept leave the object and the done events room in one event. */
static int
fits(const struct stream *s, size_t n)
{
	size_t cap = responses_answer_cap(s->conf), meta = s->resp != NULL &&
	    s->resp->metadata != NULL ? strlen(s->resp->metadata) : 0;

	/* The metadata is in every object too (the handler keeps it under max_event / 4). */
	return kept_bytes(s) + n + meta <= cap;
}

/* Keeps escaped[0..len) (JSON-escaped text) in b while all kept fits; past it, cut. */
static void
keep(struct stream *s, struct buf *b, const char *escaped, size_t len)
{
	if (s->answer_cut)
		return;
	if (!fits(s, len) || buf_add(b, escaped, len) == -1)
		s->answer_cut = 1;
}

/*
 * A delta event of item code (part: its content index, -1 for none) with
 * text[0..len) as its "delta", kept in b; tail closes it (logprobs...).
 * Without a stream only kept.  Returns 0, -1 (gone) or -2 (nothing sent
 * or kept: out of memory, or too big for one event).
 */
static int
delta_event(struct stream *s, const char *type, int code, int part, struct buf *b,
    const char *text, size_t len, const char *tail)
{
	size_t from, n;
	int rc;

	if (!has_events(s)) {
		/* Escaped straight into b, taken back when it does not fit: no copy per token. */
		size_t mark = b->len;

		if (!s->answer_cut && (jsonw_chars(b, text, len) == -1 || !fits(s, 0))) {
			b->len = mark;
			if (b->data != NULL)
				b->data[mark] = '\0';
			s->answer_cut = 1;
		}
		return 0;
	}
	if (item_head(s, type, code, part) == -1 || buf_adds(&s->payload, ",\"delta\":\"") == -1)
		return -2;
	from = s->payload.len;
	if (jsonw_chars(&s->payload, text, len) == -1)
		return -2;
	n = s->payload.len - from;
	if (buf_addc(&s->payload, '"') == -1 || buf_adds(&s->payload, tail) == -1) {
		buf_reset(&s->payload);
		return -2;
	}
	/* Kept once sent (journaled): a -2 is retried by the caller, not kept twice. */
	if ((rc = stream_emit_event(s, type, NULL, s->payload.data, s->payload.len)) != -2)
		keep(s, b, s->payload.data + from, n);
	buf_reset(&s->payload);
	return rc;
}

int
responses_delta(struct stream *s)
{
	struct buf tail;
	int rc, gone;

	if ((rc = add_part(s, &s->text_part)) == -2)
		return -2;
	gone = rc == -1;
	if (s->format == STREAM_RESPONSES_JSON || s->logprobs.len == 0) {
		/* Without a stream, logprobs are gathered for the object at the end. */
		rc = delta_event(s, "response.output_text.delta", RESPONSES_MESSAGE, s->text_part,
		    &s->answer, s->text.data, s->text.len, ",\"logprobs\":[]}");
		return rc == 0 && gone ? -1 : rc;
	}
	/* This text's logprobs go with it when both fit in one event, else not at all. */
	buf_init(&tail, s->logprobs.len + 32);
	rc = buf_adds(&tail, ",\"logprobs\":[") == -1 ||
	    buf_add(&tail, s->logprobs.data, s->logprobs.len) == -1 ||
	    buf_adds(&tail, "]}") == -1 ? -2 :
	    delta_event(s, "response.output_text.delta", RESPONSES_MESSAGE, s->text_part,
	    &s->answer, s->text.data, s->text.len, tail.data);
	buf_free(&tail);
	buf_reset(&s->logprobs);
	if (rc == -2)
		rc = delta_event(s, "response.output_text.delta", RESPONSES_MESSAGE, s->text_part,
		    &s->answer, s->text.data, s->text.len, ",\"logprobs\":[]}");
	return rc == 0 && gone ? -1 : rc;
}

int
responses_reasoning(struct stream *s, const char *text, size_t len)
{
	int rc, gone;

	if ((rc = add_item(s, RESPONSES_REASONING)) == -2)
		return -2;
	gone = rc == -1;
	rc = delta_event(s, "response.reasoning_text.delta", RESPONSES_REASONING, 0,
	    &s->reasoning, text, len, "}");
	return rc == 0 && gone ? -1 : rc;
}

int
responses_refusal(struct stream *s, const char *text, size_t len)
{
	int rc, gone;

	if ((rc = add_part(s, &s->refusal_part)) == -2)
		return -2;
	gone = rc == -1;
	rc = delta_event(s, "response.refusal.delta", RESPONSES_MESSAGE, s->refusal_part,
	    &s->refusal, text, len, "}");
	return rc == 0 && gone ? -1 : rc;
}

int
responses_call(struct stream *s, int index, const struct buf *id, const struct buf *name,
    const char *args, size_t len)
{
	struct stream_call *c;
	int rc, gone;

	/* A call past the cap is left out: its item could not be in the object. */
	if (index_of(s, index) < 0 && (s->answer_cut || !fits(s, 6 * ((id != NULL ? id->len : 0) +
	    (name != NULL ? name->len : 0)) + 128))) {
		s->answer_cut = 1;
		return s->gone ? -1 : 0;
	}
	if ((c = stream_call_slot(s, index)) == NULL)
		return -2;
	/* The item is added with what the call's first fragment says. */
	if ((id != NULL && stream_call_word(&c->id, id->data, id->len) == -1) ||
	    (name != NULL && stream_call_word(&c->name, name->data, name->len) == -1) ||
	    (rc = add_item(s, index)) == -2)
		return -2;
	gone = rc == -1;
	if (len == 0)
		return gone ? -1 : 0;
	rc = delta_event(s, "response.function_call_arguments.delta", index, -1, &c->args,
	    args, len, "}");
	return rc == 0 && gone ? -1 : rc;
}

/* An item's done events, whole, with the given status. */
static int
close_item(struct stream *s, int code, const char *status, int *gone)
{
	int i, n;

	if (code == RESPONSES_MESSAGE) {
		n = (s->text_part >= 0) + (s->refusal_part >= 0);
		for (i = 0; i < n; i++) {
			int refusal = i == s->refusal_part;

			if (item_head(s, refusal ? "response.refusal.done" :
			    "response.output_text.done", code, i) == -1 ||
			    buf_adds(&s->payload, refusal ? ",\"refusal\":\"" : ",\"text\":\"") == -1 ||
			    buf_add(&s->payload, refusal ? s->refusal.data : s->answer.data,
			    refusal ? s->refusal.len : s->answer.len) == -1 ||
			    buf_adds(&s->payload, refusal ? "\"}" : "\",\"logprobs\":[]}") == -1 ||
			    send(s, refusal ? "response.refusal.done" : "response.output_text.done",
			    NULL, gone) == -2 ||
			    part_event(s, "response.content_part.done", code, i, 1, gone) == -2)
				return -2;
		}
	} else if (code == RESPONSES_REASONING) {
		if (item_head(s, "response.reasoning_text.done", code, 0) == -1 ||
		    buf_adds(&s->payload, ",\"text\":\"") == -1 ||
		    buf_add(&s->payload, s->reasoning.data, s->reasoning.len) == -1 ||
		    buf_adds(&s->payload, "\"}") == -1 ||
		    send(s, "response.reasoning_text.done", NULL, gone) == -2 ||
		    part_event(s, "response.content_part.done", code, 0, 1, gone) == -2)
			return -2;
	} else {
		const struct stream_call *c = &s->calls[code];

		if (item_head(s, "response.function_call_arguments.done", code, -1) == -1 ||
		    buf_adds(&s->payload, ",\"name\":") == -1 ||
		    jsonw_string(&s->payload, c->name.data != NULL ? c->name.data : "",
		    c->name.len) == -1 ||
		    buf_adds(&s->payload, ",\"arguments\":\"") == -1 ||
		    buf_add(&s->payload, c->args.data, c->args.len) == -1 ||
		    buf_adds(&s->payload, "\"}") == -1 ||
		    send(s, "response.function_call_arguments.done", NULL, gone) == -2)
			return -2;
	}
	if (start(s, "response.output_item.done") == -1 ||
	    buf_printf(&s->payload, ",\"output_index\":%d,\"item\":", index_of(s, code)) == -1 ||
	    responses_item(&s->payload, s, code, status, 1) == -1 ||
	    buf_addc(&s->payload, '}') == -1 ||
	    send(s, "response.output_item.done", NULL, gone) == -2)
		return -2;
	return 0;
}

/* An answer with no output at all still has its message, empty. */
static int
some_output(struct stream *s)
{
	return s->nitems > 0 ? 0 : add_part(s, &s->text_part);
}

/* The view of s's response as finish e ends it, with the usage. */
static void
ended_view(const struct stream *s, struct responses_view *v, const struct ending *e,
    long input_tokens, long output_tokens)
{
	view_of(s, v, e->status, e->item_status);
	v->incomplete = e->incomplete;
	v->has_usage = 1;
	v->input_tokens = input_tokens;
	v->output_tokens = output_tokens;
}

/*
 * The end of a response whose object outgrew one event (it cannot, the
 * texts being capped, unless something unforeseen grew): response.failed,
 * without the output, so that readers and the journal still see an end.
 */
static void
outgrown_view(const struct stream *s, struct responses_view *v)
{
	view_of(s, v, "failed", "incomplete");
	v->s = NULL;
	v->error_code = "internal_error";
	v->error_message = "the response outgrew max_event";
}

static int
outgrown(struct stream *s, int *gone)
{
	struct responses_view v;

	outgrown_view(s, &v);
	if (object_event(s, "response.failed", &v) == -1 ||
	    send(s, "response.failed", "error", gone) == -2)
		return -2;
	return *gone ? -1 : 0;
}

int
responses_end(struct stream *s, const char *finish, long input_tokens, long output_tokens)
{
	struct ending e = ending_of(s, finish);
	struct responses_view v;
	int gone = 0, i, rc;

	if ((rc = some_output(s)) == -2)
		return -2;
	gone = rc == -1;
	for (i = 0; i < s->nitems; i++)
		if (close_item(s, s->items[i], e.item_status, &gone) == -2)
			return -2;
	ended_view(s, &v, &e, input_tokens, output_tokens);
	if (object_event(s, e.event, &v) == -1)
		return outgrown(s, &gone);
	if (send(s, e.event, "done", &gone) == -2)
		return -2;
	return gone ? -1 : 0;
}

int
responses_fail(struct stream *s, const char *type, const char *message)
{
	struct responses_view v;
	int gone = 0;

	(void)has_events(s);
	view_of(s, &v, "failed", "incomplete");
	v.error_code = type;
	v.error_message = message;
	if (object_event(s, "response.failed", &v) == -1) {
		v.s = NULL;   /* the output is what did not fit: the error alone */
		if (object_event(s, "response.failed", &v) == -1)
			return -2;
	}
	if (send(s, "response.failed", "error", &gone) == -2)
		return -2;
	return gone ? -1 : 0;
}

int
responses_final(struct stream *s, struct buf *b, const char *finish,
    long input_tokens, long output_tokens)
{
	struct ending e = ending_of(s, finish);
	struct responses_view v;

	if (some_output(s) == -2)
		return -1;
	ended_view(s, &v, &e, input_tokens, output_tokens);
	v.logprobs = 1;
	if (responses_object(b, &v) == 0)
		return 0;
	/* As outgrown(): failed, without the output, rather than no answer. */
	buf_reset(b);
	outgrown_view(s, &v);
	return responses_object(b, &v);
}
