/* responses_stream.c: a stream's events in the Responses API's shape (response.*, typed, numbered). */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <string.h>

#include "jsonw.h"
#include "responses.h"
#include "stream.h"

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

/* The view of s's response now: status, and the answer when the item exists. */
static void
view_of(const struct stream *s, struct responses_view *v, const char *status, int with_text)
{
	memset(v, 0, sizeof(*v));
	v->id = s->id;
	v->created = s->created;
	v->model = s->model->name;
	v->status = status;
	v->rr = s->resp;
	if (with_text) {
		v->text = s->answer.data != NULL ? s->answer.data : "";
		v->text_len = s->answer.len;
	}
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
	buf_reset(&s->payload);
	return buf_printf(&s->payload, "{\"type\":\"%s\",\"sequence_number\":%llu", type,
	    (unsigned long long)s->seq);
}

/* The head of an event about the message's text: item, output and content index. */
static int
text_head(struct stream *s, const char *type)
{
	return start(s, type) == -1 || buf_printf(&s->payload, ",\"item_id\":\"msg_%s\","
	    "\"output_index\":0,\"content_index\":0", s->id) == -1 ? -1 : 0;
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

	view_of(s, &v, "in_progress", 0);
	if (object_event(s, "response.created", &v) == -1 ||
	    send(s, "response.created", NULL, &gone) == -2 ||
	    object_event(s, "response.in_progress", &v) == -1 ||
	    send(s, "response.in_progress", NULL, &gone) == -2)
		return -2;
	return gone ? -1 : 0;
}

/*
 * The message item and its output_text part, added before its first text
 * (or at the end, empty): output items are added as they come, so that
 * other kinds (function calls) can take their turn.
 */
static int
open_message(struct stream *s)
{
	int gone = 0;

	if (s->message_open)
		return 0;
	s->message_open = 1;
	if (start(s, "response.output_item.added") == -1 ||
	    buf_adds(&s->payload, ",\"output_index\":0,\"item\":") == -1 ||
	    responses_item(&s->payload, s->id, "in_progress", NULL, 0, 0) == -1 ||
	    buf_addc(&s->payload, '}') == -1 ||
	    send(s, "response.output_item.added", NULL, &gone) == -2 ||
	    text_head(s, "response.content_part.added") == -1 ||
	    buf_adds(&s->payload, ",\"part\":{\"type\":\"output_text\",\"text\":\"\","
	    "\"annotations\":[],\"logprobs\":[]}}") == -1 ||
	    send(s, "response.content_part.added", NULL, &gone) == -2)
		return -2;
	return gone ? -1 : 0;
}

int
responses_delta(struct stream *s)
{
	size_t from;
	int rc, opened;

	if ((opened = open_message(s)) == -2)
		return -2;
	if (text_head(s, "response.output_text.delta") == -1 ||
	    buf_adds(&s->payload, ",\"delta\":\"") == -1)
		return -2;
	from = s->payload.len;
	if (jsonw_chars(&s->payload, s->text.data, s->text.len) == -1)
		return -2;
	/* The done events repeat the whole answer: keep it escaped, as far as it fits. */
	if (!s->answer_cut && buf_add(&s->answer, s->payload.data + from,
	    s->payload.len - from) == -1)
		s->answer_cut = 1;
	if (buf_adds(&s->payload, "\",\"logprobs\":[]}") == -1)
		return -2;
	rc = stream_emit_event(s, "response.output_text.delta", NULL, s->payload.data,
	    s->payload.len);
	buf_reset(&s->payload);
	return rc == 0 ? opened : rc;
}

int
responses_end(struct stream *s, const char *finish, long input_tokens, long output_tokens)
{
	struct ending e = ending_of(s, finish);
	const char *text = s->answer.data != NULL ? s->answer.data : "";
	struct responses_view v;
	int gone = 0;

	view_of(s, &v, e.status, 1);
	v.item_status = e.item_status;
	v.incomplete = e.incomplete;
	v.has_usage = 1;
	v.input_tokens = input_tokens;
	v.output_tokens = output_tokens;
	if ((gone = open_message(s)) == -2)
		return -2;
	gone = gone == -1;
	if (text_head(s, "response.output_text.done") == -1 ||
	    buf_adds(&s->payload, ",\"text\":\"") == -1 ||
	    buf_add(&s->payload, text, s->answer.len) == -1 ||
	    buf_adds(&s->payload, "\",\"logprobs\":[]}") == -1 ||
	    send(s, "response.output_text.done", NULL, &gone) == -2 ||
	    text_head(s, "response.content_part.done") == -1 ||
	    buf_adds(&s->payload, ",\"part\":{\"type\":\"output_text\",\"text\":\"") == -1 ||
	    buf_add(&s->payload, text, s->answer.len) == -1 ||
	    buf_adds(&s->payload, "\",\"annotations\":[],\"logprobs\":[]}}") == -1 ||
	    send(s, "response.content_part.done", NULL, &gone) == -2 ||
	    start(s, "response.output_item.done") == -1 ||
	    buf_adds(&s->payload, ",\"output_index\":0,\"item\":") == -1 ||
	    responses_item(&s->payload, s->id, e.item_status, text, s->answer.len, 1) == -1 ||
	    buf_addc(&s->payload, '}') == -1 ||
	    send(s, "response.output_item.done", NULL, &gone) == -2 ||
	    object_event(s, e.event, &v) == -1 ||
	    send(s, e.event, "done", &gone) == -2)
		return -2;
	return gone ? -1 : 0;
}

int
responses_fail(struct stream *s, const char *type, const char *message)
{
	struct responses_view v;
	int gone = 0;

	view_of(s, &v, "failed", s->answer.len > 0);
	v.item_status = "incomplete";
	v.error_code = type;
	v.error_message = message;
	if (object_event(s, "response.failed", &v) == -1 ||
	    send(s, "response.failed", "error", &gone) == -2)
		return -2;
	return gone ? -1 : 0;
}

int
responses_final(const struct stream *s, struct buf *b, const char *finish,
    long input_tokens, long output_tokens)
{
	struct ending e = ending_of(s, finish);
	struct responses_view v;

	view_of(s, &v, e.status, 1);
	v.item_status = e.item_status;
	v.incomplete = e.incomplete;
	v.has_usage = 1;
	v.input_tokens = input_tokens;
	v.output_tokens = output_tokens;
	return responses_object(b, &v);
}
