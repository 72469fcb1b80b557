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

/* What the events read so far say. */
struct seen {
	json_object *response;   /* owned, may be NULL: the last response object carried */
	int ended;               /* it came with the last event (completed, failed, incomplete) */
	struct buf text;         /* the deltas so far, as text */
};

/* One event's data: keeps its response object, or its text delta. */
static void
take(struct seen *sn, const char *data, size_t len)
{
	json_object *o = json_tokener_parse(data), *type, *v;
	const char *ty;

	(void)len;
	if (o == NULL || !json_object_object_get_ex(o, "type", &type)) {
		json_object_put(o);
		return;
	}
	ty = json_object_get_string(type);
	if (json_object_object_get_ex(o, "response", &v) &&
	    json_object_is_type(v, json_type_object)) {
		json_object_put(sn->response);
		sn->response = json_object_get(v);
		sn->ended = strcmp(ty, "response.completed") == 0 ||
		    strcmp(ty, "response.failed") == 0 || strcmp(ty, "response.incomplete") == 0;
	} else if (strcmp(ty, "response.output_text.delta") == 0 &&
	    json_object_object_get_ex(o, "delta", &v))
		(void)buf_add(&sn->text, json_object_get_string(v),
		    (size_t)json_object_get_string_len(v));   /* past the cap: cut */
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

/* The object of a stream still running (or cut short): the answer so far, as its item. */
static void
so_far(json_object *o, const char *id, const struct buf *text, const struct journal_read *jr)
{
	json_object *output = json_object_new_array(), *item, *part, *content;
	char mid[64];

	snprintf(mid, sizeof(mid), "msg_%s", id);
	item = json_object_new_object();
	json_object_object_add(item, "id", json_object_new_string(mid));
	json_object_object_add(item, "type", json_object_new_string("message"));
	json_object_object_add(item, "status", json_object_new_string(
	    jr->interrupted || jr->lost ? "incomplete" : "in_progress"));
	json_object_object_add(item, "role", json_object_new_string("assistant"));
	content = json_object_new_array();
	part = json_object_new_object();
	json_object_object_add(part, "type", json_object_new_string("output_text"));
	json_object_object_add(part, "text", json_object_new_string_len(
	    text->data != NULL ? text->data : "", (int)text->len));
	json_object_object_add(part, "annotations", json_object_new_array());
	json_object_object_add(part, "logprobs", json_object_new_array());
	json_object_array_add(content, part);
	json_object_object_add(item, "content", content);
	json_object_array_add(output, item);
	json_object_object_add(o, "output", output);
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
	buf_init(&sn.text, responses_answer_cap(cf));
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
		so_far(sn.response, id, &sn.text, &jr);
	*out = sn.response;
	sn.response = NULL;
	rc = 0;
out:
	json_object_put(sn.response);
	buf_free(&sn.text);
	buf_free(&frames);
	journal_reader_close(r);
	return rc;
}
