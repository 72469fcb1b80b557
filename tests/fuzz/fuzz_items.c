/*
 * fuzz_items.c: a Responses API stream's output items.  Any mix of text,
 * reasoning, refusal, logprobs and tool-call fragments (three calls, in
 * any order), in pieces of any bytes, sent through a STREAM_RESPONSES
 * stream, reads back as a client that applies the events as the OpenAI
 * SDK's accumulator does: every event named by its type and numbered 0, 1,
 * 2, ...; every item added at the next output_index; every delta and done
 * event about an item (and content part) already added, of its kind; the
 * text deltas joined give back exactly the sanitised text; nothing after
 * the final event; and the response the events built is the final
 * event's.  STREAM_RESPONSES_JSON: the object has the same items, its text
 * the sanitised text unless cut.
 *
 * Input: a byte choosing the format and max_event, two bytes seeding the
 * kinds and the boundaries, then the bytes.
 */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "conf.h"
#include "conn.h"
#include "fuzz.h"
#include "../memconn.h"
#include "stream.h"
#include "utf8.h"

#define WIRE_CAP	(64u << 20)
#define LOGPROBS	"{\"content\":[{\"token\":\"t\",\"logprob\":-0.5,\"bytes\":null," \
			"\"top_logprobs\":[]}]}"

static const char *
str(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) : NULL;
}

static int
num(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int) ?
	    json_object_get_int(v) : -1;
}

/* A deep copy of o (NULL for none), the caller's. */
static json_object *
copy_of(json_object *o)
{
	json_object *c = NULL;

	FUZZ_CHECK(o != NULL && json_object_deep_copy(o, &c, NULL) == 0, "nothing to copy");
	return c;
}

/* Appends the string d[from] to o[key], a string (either may hold NULs). */
static void
append(json_object *o, const char *key, json_object *d, const char *from)
{
	json_object *had, *text;
	struct buf b;

	FUZZ_CHECK(json_object_object_get_ex(o, key, &had) &&
	    json_object_is_type(had, json_type_string) &&
	    json_object_object_get_ex(d, from, &text) &&
	    json_object_is_type(text, json_type_string), "a delta to a field that is not there");
	buf_init(&b, WIRE_CAP);
	FUZZ_CHECK(buf_add(&b, json_object_get_string(had),
	    (size_t)json_object_get_string_len(had)) == 0 &&
	    buf_add(&b, json_object_get_string(text),
	    (size_t)json_object_get_string_len(text)) == 0, "cap");
	json_object_object_add(o, key, json_object_new_string_len(b.data, (int)b.len));
	buf_free(&b);
}

/* What the events built, and the text the deltas carried. */
struct client {
	json_object *snap;      /* the response, as built */
	json_object *final;     /* the last event's response */
	struct buf text;        /* the text deltas, joined */
	int events;
};

/* One event applied as the OpenAI SDK's ResponseAccumulator applies it, strictly. */
static void
apply(struct client *c, const char *name, json_object *d)
{
	const char *type = str(d, "type"), *iid;
	json_object *output, *item, *content, *part, *v;
	int at, ci;

	FUZZ_CHECK(c->final == NULL, "an event after the final one");
	FUZZ_CHECK(type != NULL && strcmp(type, name) == 0, "an event not named by its type");
	FUZZ_CHECK(num(d, "sequence_number") == c->events, "a sequence_number out of order");
	c->events++;
	if (strcmp(type, "response.created") == 0) {
		FUZZ_CHECK(c->snap == NULL && json_object_object_get_ex(d, "response", &v),
		    "created twice, or without its response");
		c->snap = copy_of(v);
		return;
	}
	FUZZ_CHECK(c->snap != NULL, "an event before response.created");
	if (strcmp(type, "response.completed") == 0 || strcmp(type, "response.incomplete") == 0 ||
	    strcmp(type, "response.failed") == 0) {
		FUZZ_CHECK(json_object_object_get_ex(d, "response", &v), "an end without its response");
		c->final = json_object_get(v);
		return;
	}
	if (strcmp(type, "response.in_progress") == 0)
		return;
	output = json_object_object_get(c->snap, "output");
	at = num(d, "output_index");
	if (strcmp(type, "response.output_item.added") == 0) {
		FUZZ_CHECK(at == (int)json_object_array_length(output), "an item added out of order");
		json_object_array_add(output, copy_of(json_object_object_get(d, "item")));
		return;
	}
	FUZZ_CHECK(at >= 0 && at < (int)json_object_array_length(output),
	    "an event about an item not added");
	item = json_object_array_get_idx(output, (size_t)at);
	iid = str(d, "item_id");
	FUZZ_CHECK(iid == NULL || strcmp(iid, str(item, "id")) == 0, "an item_id not its item's");
	if (strcmp(type, "response.output_item.done") == 0) {
		v = copy_of(json_object_object_get(d, "item"));
		FUZZ_CHECK(strcmp(str(v, "id"), str(item, "id")) == 0, "another item done");
		json_object_array_put_idx(output, (size_t)at, v);
		return;
	}
	if (strncmp(type, "response.function_call_arguments.", 33) == 0) {
		FUZZ_CHECK(strcmp(str(item, "type"), "function_call") == 0, "arguments of no call");
		if (type[33] == 'd' && type[34] == 'e')
			append(item, "arguments", d, "delta");
		else
			json_object_object_add(item, "arguments",
			    json_object_get(json_object_object_get(d, "arguments")));
		return;
	}
	content = json_object_object_get(item, "content");
	ci = num(d, "content_index");
	FUZZ_CHECK(content != NULL && ci >= 0, "a part event without a part");
	if (strcmp(type, "response.content_part.added") == 0) {
		FUZZ_CHECK(ci == (int)json_object_array_length(content), "a part added out of order");
		json_object_array_add(content, copy_of(json_object_object_get(d, "part")));
		return;
	}
	FUZZ_CHECK(ci < (int)json_object_array_length(content), "an event about a part not added");
	part = json_object_array_get_idx(content, (size_t)ci);
	if (strcmp(type, "response.content_part.done") == 0) {
		json_object_array_put_idx(content, (size_t)ci,
		    copy_of(json_object_object_get(d, "part")));
	} else if (strcmp(type, "response.output_text.delta") == 0) {
		FUZZ_CHECK(strcmp(str(part, "type"), "output_text") == 0, "text in another part");
		append(part, "text", d, "delta");
		v = json_object_object_get(d, "delta");
		FUZZ_CHECK(buf_add(&c->text, json_object_get_string(v),
		    (size_t)json_object_get_string_len(v)) == 0, "cap");
	} else if (strcmp(type, "response.output_text.done") == 0 ||
	    strcmp(type, "response.reasoning_text.done") == 0) {
		json_object_object_add(part, "text", json_object_get(json_object_object_get(d, "text")));
	} else if (strcmp(type, "response.reasoning_text.delta") == 0) {
		FUZZ_CHECK(strcmp(str(part, "type"), "reasoning_text") == 0, "reasoning elsewhere");
		append(part, "text", d, "delta");
	} else if (strcmp(type, "response.refusal.delta") == 0) {
		FUZZ_CHECK(strcmp(str(part, "type"), "refusal") == 0, "a refusal elsewhere");
		append(part, "refusal", d, "delta");
	} else if (strcmp(type, "response.refusal.done") == 0) {
		json_object_object_add(part, "refusal",
		    json_object_get(json_object_object_get(d, "refusal")));
	} else
		FUZZ_CHECK(0, "an event of no known type");
}

/* The SSE events of body: `event:` and `data:` lines (one data line each: JSON). */
static void
read_events(struct client *c, char *body)
{
	char *ev, *save = NULL;

	for (ev = strtok_r(body, "\n", &save); ev != NULL; ev = strtok_r(NULL, "\n", &save)) {
		static char name[128];
		json_object *d;

		if (strncmp(ev, "event: ", 7) == 0) {
			snprintf(name, sizeof(name), "%s", ev + 7);
			continue;
		}
		if (strncmp(ev, "data: ", 6) != 0)
			continue;
		FUZZ_CHECK((d = json_tokener_parse(ev + 6)) != NULL, "data that is not JSON");
		apply(c, name, d);
		json_object_put(d);
	}
}

/* The output items with what a client keeps of them (not the logprobs: they ride on deltas). */
static const char *
items_of(json_object *response, json_object **keep)
{
	json_object *copy = copy_of(json_object_object_get(response, "output"));
	size_t i, j;

	for (i = 0; i < json_object_array_length(copy); i++) {
		json_object *content = json_object_object_get(json_object_array_get_idx(copy, i),
		    "content");

		for (j = 0; content != NULL && j < json_object_array_length(content); j++)
			json_object_object_del(json_object_array_get_idx(content, j), "logprobs");
	}
	*keep = copy;
	return json_object_to_json_string_ext(copy, JSON_C_TO_STRING_PLAIN);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t max_events[] = { 4096, 8192, 65536, 1 << 20 };
	static const char *const finishes[] = { "stop", "length", "tool_calls", "cancelled" };
	struct fuzz_in in = { data, size };
	unsigned how = fuzz_byte(&in), seed = fuzz_byte(&in) << 8;
	struct backend_result res = { NULL, 0, 0 };
	struct utf8_carry carry = { { 0 }, 0 };
	int started[3] = { 0, 0, 0 };
	struct buf text_in, expect;
	struct client c;
	struct memconn w;
	struct stream s;
	struct conf cf;
	json_object *a, *b;
	char *body;
	size_t off = 0;
	int format = how & 1 ? STREAM_RESPONSES_JSON : STREAM_RESPONSES;

	seed |= fuzz_byte(&in);
	memset(&cf, 0, sizeof(cf));
	if (conf_defaults(&cf, NULL) == -1)
		return 0;
	cf.max_event = max_events[(how >> 1) & 3];
	res.finish_reason = finishes[(how >> 3) & 3];
	memconn_init(&w, WIRE_CAP, 0);
	FUZZ_CHECK(stream_open(&s, &cf, conf_model(&cf, NULL), &w.c, (enum stream_format)format,
	    NULL) == 0, "the stream did not open");
	buf_init(&text_in, in.n + 1);
	seed |= 1;
	while (off < in.n) {
		const char *p = (const char *)in.p + off;
		size_t n;
		int k;

		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % ((seed & 0x100000) ? 4096 : 48);
		if (n > in.n - off)
			n = in.n - off;
		switch ((seed >> 4) % 6) {
		case 0:
			FUZZ_CHECK(stream_reasoning(&s, NULL, p, n) == 0, "reasoning refused");
			break;
		case 1:
			FUZZ_CHECK(stream_refusal(&s, p, n) == 0, "a refusal refused");
			break;
		case 2:
			k = (int)((seed >> 8) % 3);
			FUZZ_CHECK(stream_tool_call(&s, k, started[k] ? NULL : "call\"id",
			    started[k] ? NULL : "f\\n", p, n) == 0, "a call's fragment refused");
			started[k] = 1;
			break;
		case 3:
			FUZZ_CHECK(stream_logprobs(&s, LOGPROBS, strlen(LOGPROBS)) == 0,
			    "logprobs refused");
			/* FALLTHROUGH */
		default:
			FUZZ_CHECK(stream_token(&s, p, n) == 0, "a token refused");
			FUZZ_CHECK(buf_add(&text_in, p, n) == 0, "cap");
		}
		if ((seed >> 9) % 7 == 0)
			FUZZ_CHECK(stream_heartbeat(&s) == 0, "a heartbeat failed");
		off += n;
	}
	FUZZ_CHECK(stream_done(&s, &res, 0) == 0, "the stream did not end");
	stream_close(&s);
	conf_free(&cf);

	FUZZ_CHECK(w.bytes.data != NULL && (body = strstr(w.bytes.data, "\r\n\r\n")) != NULL,
	    "no head");
	body += 4;
	buf_init(&expect, 3 * in.n + 16);
	fuzz_sanitize(&carry, text_in.data != NULL ? text_in.data : "", text_in.len, 1,
	    3 * in.n + 16, &expect);
	memset(&c, 0, sizeof(c));
	buf_init(&c.text, WIRE_CAP);
	if (format == STREAM_RESPONSES) {
		read_events(&c, body);
		FUZZ_CHECK(c.final != NULL, "no final event");
		FUZZ_CHECK(c.text.len == expect.len && (expect.len == 0 ||
		    memcmp(c.text.data, expect.data, expect.len) == 0),
		    "the text deltas differ from the text sent");
		FUZZ_CHECK(strcmp(items_of(c.snap, &a), items_of(c.final, &b)) == 0,
		    "the response the events built is not the final one");
		json_object_put(a);
		json_object_put(b);
	} else {
		json_object *o = json_tokener_parse(body), *out, *it;
		size_t i;

		FUZZ_CHECK(o != NULL, "the response object is not JSON");
		out = json_object_object_get(o, "output");
		FUZZ_CHECK(out != NULL && json_object_array_length(out) > 0, "no output items");
		for (i = 0; i < json_object_array_length(out); i++) {
			it = json_object_array_get_idx(out, i);
			FUZZ_CHECK(str(it, "id") != NULL && str(it, "type") != NULL, "an item's id, type");
			if (strcmp(str(it, "type"), "message") == 0 &&
			    strcmp(str(o, "status"), "completed") == 0) {
				json_object *parts = json_object_object_get(it, "content");
				size_t j;

				for (j = 0; j < json_object_array_length(parts); j++) {
					json_object *pt = json_object_array_get_idx(parts, j), *t;

					FUZZ_CHECK(!json_object_object_get_ex(pt, "text", &t) ||
					    ((size_t)json_object_get_string_len(t) == expect.len &&
					    (expect.len == 0 || memcmp(json_object_get_string(t),
					    expect.data, expect.len) == 0)),
					    "the object's text differs from the text sent");
				}
			}
		}
		json_object_put(o);
	}
	json_object_put(c.snap);
	json_object_put(c.final);
	buf_free(&c.text);
	buf_free(&expect);
	buf_free(&text_in);
	memconn_free(&w);
	return 0;
}
