/* responses_store.c: a response object rebuilt from its stream's journal (GET /v1/responses/<id>). */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "clock.h"
#include "journal.h"
#include "responses.h"
#include "stream.h"

/* The output items a response may have: a message, a reasoning, the tool calls. */
#define SEEN_ITEMS (STREAM_MAX_CALLS + 2)

/* What the events read so far say. */
struct seen {
	json_object *response;   /* owned, may be NULL: the last response object carried */
	int ended;               /* it came with the last event (completed, failed, incomplete) */
	json_object *items;      /* owned: the output items as added, by output index */
	char done[SEEN_ITEMS];   /* the item came whole (output_item.done) */
	struct buf text[SEEN_ITEMS][2];   /* the deltas so far, by item and content part */
};

/* An int member of o, or -1. */
static int
int_of(json_object *o, const char *key)
{
	json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return -1;
	n = json_object_get_int64(v);
	return n >= 0 && n < SEEN_ITEMS ? (int)n : -1;
}

/* One event's data: keeps its response object, its items and parts, or its text delta. */
static void
take(struct seen *sn, const char *data, size_t len)
{
	json_object *o = json_tokener_parse(data), *type, *v, *item, *content;
	const char *ty;
	int out, part;

	(void)len;
	if (o == NULL || !json_object_object_get_ex(o, "type", &type)) {
		json_object_put(o);
		return;
	}
	ty = json_object_get_string(type);
	out = int_of(o, "output_index");
	part = int_of(o, "content_index");
	item = out >= 0 ? json_object_array_get_idx(sn->items, (size_t)out) : NULL;
	if (json_object_object_get_ex(o, "response", &v) &&
	    json_object_is_type(v, json_type_object)) {
		json_object_put(sn->response);
		sn->response = json_object_get(v);
		sn->ended = strcmp(ty, "response.completed") == 0 ||
		    strcmp(ty, "response.failed") == 0 || strcmp(ty, "response.incomplete") == 0;
	} else if ((strcmp(ty, "response.output_item.added") == 0 ||
	    strcmp(ty, "response.output_item.done") == 0) && out >= 0 &&
	    json_object_object_get_ex(o, "item", &v) && json_object_is_type(v, json_type_object)) {
		json_object_array_put_idx(sn->items, (size_t)out, json_object_get(v));
		sn->done[out] = strcmp(ty, "response.output_item.done") == 0;
	} else if (strcmp(ty, "response.content_part.added") == 0 && item != NULL && part >= 0 &&
	    json_object_object_get_ex(item, "content", &content) &&
	    json_object_is_type(content, json_type_array) &&
	    json_object_object_get_ex(o, "part", &v))
		json_object_array_put_idx(content, (size_t)part, json_object_get(v));
	else if (out >= 0 && json_object_object_get_ex(o, "delta", &v) &&
	    json_object_is_type(v, json_type_string))
		/* Text, refusal, reasoning or arguments: past the cap, cut. */
		(void)buf_add(&sn->text[out][part > 0], json_object_get_string(v),
		    (size_t)json_object_get_string_len(v));
	json_object_put(o);
}

/* Every `data: ` line of the SSE frames in b (one per event: JSON has no newline). */
static void
take_frames(struct seen *sn, struct buf *b)
{
	size_t i = 0;

	while (i < b->len) {
		char *nl = memchr(b->data + i, '\n', b->len - i);
		size_t end = nl != NULL ? (size_t)(nl - b->data) : b->len;

		if (end - i > 6 && memcmp(b->data + i, "data: ", 6) == 0) {
			b->data[end] = '\0';
			take(sn, b->data + i + 6, end - i - 6);
		}
		i = end + 1;
	}
	buf_reset(b);
}

/* The object for a stream that has journaled nothing yet. */
static json_object *
queued(const char *id)
{
	struct responses_view v;
	struct buf b;
	json_object *o;

	memset(&v, 0, sizeof(v));
	v.id = id;
	v.model = "";
	v.status = "queued";
	buf_init(&b, 4096);
	o = responses_object(&b, &v) == 0 ? json_tokener_parse(b.data) : NULL;
	buf_free(&b);
	return o;
}

/* Sets o[key] to text so far (when o has that key: the part or item it belongs to). */
static void
fill(json_object *o, const char *key, const struct buf *text)
{
	if (o != NULL && json_object_object_get_ex(o, key, NULL))
		json_object_object_add(o, key, json_object_new_string_len(
		    text->data != NULL ? text->data : "", (int)text->len));
}

/* The object of a stream still running (or cut short): its items with the text so far. */
static void
so_far(json_object *o, struct seen *sn, const struct journal_read *jr)
{
	const char *status = jr->interrupted || jr->lost ? "incomplete" : "in_progress";
	size_t i, j, n = json_object_array_length(sn->items);

	for (i = 0; i < n; i++) {
		json_object *item = json_object_array_get_idx(sn->items, i), *content;

		if (item == NULL || sn->done[i])
			continue;
		json_object_object_add(item, "status", json_object_new_string(status));
		fill(item, "arguments", &sn->text[i][0]);
		if (!json_object_object_get_ex(item, "content", &content) ||
		    !json_object_is_type(content, json_type_array))
			continue;
		for (j = 0; j < json_object_array_length(content) && j < 2; j++) {
			json_object *part = json_object_array_get_idx(content, j);

			fill(part, "text", &sn->text[i][j]);
			fill(part, "refusal", &sn->text[i][j]);
		}
	}
	json_object_object_add(o, "output", json_object_get(sn->items));
	if (jr->interrupted || jr->lost) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "code", json_object_new_string(
		    jr->lost ? "history_lost" : "interrupted"));
		json_object_object_add(e, "message", json_object_new_string(jr->lost ?
		    "the events of this response are no longer kept" :
		    "the process generating this response stopped"));
		json_object_object_add(o, "status", json_object_new_string("failed"));
		json_object_object_add(o, "error", e);
	}
}

int
responses_load(const struct conf *cf, const char *id, const char *user, int wait_ms,
    json_object **out, struct cs_error *err)
{
	struct journal_reader *r;
	struct journal_read jr;
	struct seen sn;
	struct buf frames;
	uint64_t after = 0;
	size_t i;
	int64_t deadline = clock_ms() + wait_ms;
	int rc = -1;

	*out = NULL;
	if (journal_open(cf, id, user, &r, err) == -1)
		return -1;
	if (journal_reader_format(r) != JOURNAL_RESPONSES) {
		/* Another API's stream: not a response. */
		journal_reader_close(r);
		cs_fail(err, 404, "not_found", "no such response");
		return -1;
	}
	memset(&sn, 0, sizeof(sn));
	sn.items = json_object_new_array();
	for (i = 0; i < SEEN_ITEMS; i++) {
		buf_init(&sn.text[i][0], responses_answer_cap(cf));
		buf_init(&sn.text[i][1], responses_answer_cap(cf));
	}
	buf_init(&frames, cf->max_event * 4 + 4096);
	for (;;) {
		int64_t left;
		struct pollfd pfd;

		if (journal_read(r, after, &frames, &jr) == -1) {
			cs_fail(err, 503, "journal_unavailable", "the stream store cannot be read");
			goto out;
		}
		after = jr.last_seq;
		take_frames(&sn, &frames);
		if (jr.more)
			continue;
		left = deadline - clock_ms();
		if (jr.finished || jr.lost || jr.interrupted || left <= 0)
			break;
		/* Waiting for the end (a cancel): the reader's fd, or a short sleep without one. */
		pfd.fd = journal_reader_fd(r);
		pfd.events = POLLIN;
		(void)poll(&pfd, pfd.fd >= 0 ? 1 : 0, left > 100 ? 100 : (int)left);
	}
	if (sn.response == NULL && (sn.response = queued(id)) == NULL) {
		cs_fail(err, 503, "overloaded", "out of memory");
		goto out;
	}
	if (!sn.ended)
		so_far(sn.response, &sn, &jr);
	*out = sn.response;
	sn.response = NULL;
	rc = 0;
out:
	json_object_put(sn.response);
	json_object_put(sn.items);
	for (i = 0; i < SEEN_ITEMS; i++) {
		buf_free(&sn.text[i][0]);
		buf_free(&sn.text[i][1]);
	}
	buf_free(&frames);
	journal_reader_close(r);
	return rc;
}
