/*
 * fuzz_encode.c: the encoder round trip.  Any token bytes, sent through a
 * stream (UTF-8 sanitising, JSON escaping, SSE framing) to a connection,
 * then read back by a WHATWG event-stream parser written here from the
 * spec and a JSON parser, give back exactly the sanitised text, whatever
 * the token boundaries and heartbeats in between; events are numbered 1,
 * 2, 3, ... and the stream ends with its done event.  Some of the pieces go
 * as a tool call's argument fragments instead: they read back (native
 * tool_call events, OpenAI delta.tool_calls, the message's tool_calls) as
 * the same pieces each sanitised.
 *
 * Input: a byte choosing the format and max_event, two bytes seeding the
 * token boundaries, then the token bytes.
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
#include "sse.h"
#include "stream.h"
#include "utf8.h"

#define WIRE_CAP	(64u << 20)

/* The reading side: events as a WHATWG EventSource sees them. */
struct reader {
	struct buf text;          /* the token text, decoded */
	struct buf args;          /* the tool call's arguments, decoded */
	struct buf data;          /* the event being read */
	char type[64];
	char id[32];
	uint64_t next_id;         /* the number the next event's id must carry */
	int format, events, ended;
	int raw;                  /* keep the last event as it is (type, data, id) */
	char raw_type[64], raw_id[32];
};

static void
dispatch(struct reader *r)
{
	json_object *o, *v;
	const char *type = r->type[0] != '\0' ? r->type : "message";

	if (r->data.len == 0)
		goto reset;
	r->data.data[--r->data.len] = '\0';          /* the last data line's LF */
	FUZZ_CHECK(!r->ended, "an event after the end");
	if (r->raw) {
		buf_reset(&r->text);
		FUZZ_CHECK(buf_add(&r->text, r->data.data, r->data.len) == 0, "data over the cap");
		snprintf(r->raw_type, sizeof(r->raw_type), "%s", type);
		snprintf(r->raw_id, sizeof(r->raw_id), "%s", r->id);
		r->events++;
		goto reset;
	}
	r->events++;
	if (r->format == STREAM_NATIVE || r->format == STREAM_OPENAI) {
		const char *n = strrchr(r->id, '.');

		/* <stream id>.<n>: the number after the last dot. */
		FUZZ_CHECK(n != NULL && strtoull(n + 1, NULL, 10) == r->next_id,
		    "an event out of order");
		r->next_id++;
	}
	if (r->format == STREAM_OPENAI && strcmp(r->data.data, "[DONE]") == 0) {
		r->ended = 1;
		goto reset;
	}
	o = json_tokener_parse(r->data.data);
	FUZZ_CHECK(o != NULL, "an event whose data is not JSON");
	if (r->format == STREAM_NATIVE && strcmp(type, "message") == 0) {
		FUZZ_CHECK(json_object_object_get_ex(o, "text", &v) &&
		    json_object_is_type(v, json_type_string), "a token event without text");
		FUZZ_CHECK(buf_add(&r->text, json_object_get_string(v),
		    (size_t)json_object_get_string_len(v)) == 0, "text over the cap");
	} else if (r->format == STREAM_NATIVE && strcmp(type, "tool_call") == 0) {
		FUZZ_CHECK(json_object_object_get_ex(o, "arguments", &v) &&
		    json_object_is_type(v, json_type_string), "a tool_call without arguments");
		FUZZ_CHECK(buf_add(&r->args, json_object_get_string(v),
		    (size_t)json_object_get_string_len(v)) == 0, "arguments over the cap");
	} else if (r->format == STREAM_NATIVE) {
		FUZZ_CHECK(strcmp(type, "meta") == 0 || strcmp(type, "done") == 0,
		    "an event neither meta, message, tool_call nor done");
		FUZZ_CHECK(strcmp(type, "meta") != 0 || r->events == 1, "meta not first");
		r->ended = strcmp(type, "done") == 0;
	} else if (json_object_object_get_ex(o, "choices", &v) &&
	    (v = json_object_array_get_idx(v, 0)) != NULL &&
	    json_object_object_get_ex(v, "delta", &v)) {
		json_object *d = v;

		if (json_object_object_get_ex(d, "content", &v)) {
			FUZZ_CHECK(json_object_is_type(v, json_type_string), "content not a string");
			FUZZ_CHECK(buf_add(&r->text, json_object_get_string(v),
			    (size_t)json_object_get_string_len(v)) == 0, "text over the cap");
		}
		if (json_object_object_get_ex(d, "tool_calls", &v)) {
			FUZZ_CHECK((v = json_object_array_get_idx(v, 0)) != NULL &&
			    json_object_object_get_ex(v, "function", &v) &&
			    json_object_object_get_ex(v, "arguments", &v) &&
			    json_object_is_type(v, json_type_string), "a tool call without arguments");
			FUZZ_CHECK(buf_add(&r->args, json_object_get_string(v),
			    (size_t)json_object_get_string_len(v)) == 0, "arguments over the cap");
		}
	}
	json_object_put(o);
reset:
	buf_reset(&r->data);
	r->type[0] = '\0';
}

static void
field(struct reader *r, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len), *value = "";
	size_t nlen = len, vlen = 0;

	if (len == 0) {
		dispatch(r);
		return;
	}
	if (line[0] == ':')
		return;
	if (colon != NULL) {
		nlen = (size_t)(colon - line);
		value = colon + 1;
		vlen = len - nlen - 1;
		if (vlen > 0 && value[0] == ' ') {
			value++;
			vlen--;
		}
	}
	if (nlen == 4 && memcmp(line, "data", 4) == 0) {
		FUZZ_CHECK(buf_add(&r->data, value, vlen) == 0 && buf_addc(&r->data, '\n') == 0,
		    "data over the cap");
	} else if (nlen == 5 && memcmp(line, "event", 5) == 0) {
		snprintf(r->type, sizeof(r->type), "%.*s", (int)vlen, value);
	} else if (nlen == 2 && memcmp(line, "id", 2) == 0 && memchr(value, '\0', vlen) == NULL)
		snprintf(r->id, sizeof(r->id), "%.*s", (int)vlen, value);
}

/* Reads an event stream (CRLF, CR or LF line ends; one BOM dropped). */
static void
read_stream(struct reader *r, const char *s, size_t len)
{
	size_t i = 0, start;

	if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	for (start = i; i < len; i++) {
		if (s[i] != '\r' && s[i] != '\n')
			continue;
		field(r, s + start, i - start);
		if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
			i++;
		start = i + 1;
	}
	/* What is not ended by a blank line is not an event: nothing to do. */
}

/* The body of a non-streamed answer: its message content. */
static void
read_json(struct reader *r, const char *s)
{
	json_object *o = json_tokener_parse(s), *v;

	FUZZ_CHECK(o != NULL, "the answer is not JSON");
	FUZZ_CHECK(json_object_object_get_ex(o, "choices", &v) &&
	    (v = json_object_array_get_idx(v, 0)) != NULL &&
	    json_object_object_get_ex(v, "message", &v) &&
	    json_object_object_get_ex(v, "content", &v) &&
	    (json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_null)),
	    "the answer has no content");
	/* null: no text beside a tool call (checked below: the text must be empty). */
	FUZZ_CHECK(v == NULL || buf_add(&r->text, json_object_get_string(v),
	    (size_t)json_object_get_string_len(v)) == 0, "text over the cap");
	json_object_object_get_ex(o, "choices", &v);
	v = json_object_array_get_idx(v, 0);
	json_object_object_get_ex(v, "message", &v);
	if (json_object_object_get_ex(v, "tool_calls", &v)) {
		FUZZ_CHECK((v = json_object_array_get_idx(v, 0)) != NULL &&
		    json_object_object_get_ex(v, "function", &v) &&
		    json_object_object_get_ex(v, "arguments", &v) &&
		    json_object_is_type(v, json_type_string), "a tool call without arguments");
		FUZZ_CHECK(buf_add(&r->args, json_object_get_string(v),
		    (size_t)json_object_get_string_len(v)) == 0, "arguments over the cap");
	}
	r->ended = 1;
	json_object_put(o);
}

/*
 * The encoder alone: one event of any data, with a name cut from the data,
 * reads back as that data (its CR, LF and CRLF line ends all read as LF),
 * that name less CR, LF and NUL, and that id.
 */
static void
raw_round_trip(const char *data, size_t len, uint64_t id)
{
	struct reader r;
	struct buf out, expect;
	char name[48];
	size_t i, nl = 0;

	for (i = 0; i < len && i < 16; i++)
		name[i] = data[i];
	name[i] = '\0';
	memset(&r, 0, sizeof(r));
	r.raw = 1;
	buf_init(&r.text, WIRE_CAP);
	buf_init(&r.data, WIRE_CAP);
	buf_init(&out, 8 * len + 256);
	buf_init(&expect, len + 1);
	FUZZ_CHECK(sse_event(&out, id, name, data, len) == 0, "an event did not fit");
	read_stream(&r, out.data, out.len);
	FUZZ_CHECK(r.events == 1, "one event did not read as one event");
	for (i = 0; i < len; i++) {
		if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
			continue;
		FUZZ_CHECK(buf_addc(&expect, data[i] == '\r' ? '\n' : data[i]) == 0, "cap");
	}
	FUZZ_CHECK(r.text.len == expect.len && (expect.len == 0 ||
	    memcmp(r.text.data, expect.data, expect.len) == 0),
	    "event data read back differs from the data sent");
	for (i = 0; name[i] != '\0'; i++)
		if (name[i] != '\r' && name[i] != '\n')
			name[nl++] = name[i];
	name[nl] = '\0';
	FUZZ_CHECK(strcmp(r.raw_type, nl > 0 ? name : "message") == 0,
	    "the event name read back differs");
	FUZZ_CHECK(id == 0 || strtoull(r.raw_id, NULL, 10) == id, "the id read back differs");
	buf_free(&r.text);
	buf_free(&r.data);
	buf_free(&out);
	buf_free(&expect);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t max_events[] = { 4096, 8192, 65536, 1 << 20 };
	struct fuzz_in in = { data, size };
	unsigned how = fuzz_byte(&in), seed = fuzz_byte(&in) << 8;
	struct backend_result res = { "stop", 0, 0 };
	struct utf8_carry carry = { { 0 }, 0 };
	struct reader r;
	struct buf text_in, want_args;
	struct memconn w;
	struct stream s;
	struct conf cf;
	struct buf expect;
	const char *body;
	size_t off = 0;
	int format = how % 3 == 0 ? STREAM_NATIVE : how % 3 == 1 ? STREAM_OPENAI :
	    STREAM_OPENAI_JSON;

	seed |= fuzz_byte(&in);
	raw_round_trip((const char *)in.p, in.n, seed);
	memset(&cf, 0, sizeof(cf));
	if (conf_defaults(&cf, NULL) == -1)
		return 0;
	cf.max_event = max_events[(how >> 2) & 3];
	memconn_init(&w, WIRE_CAP, 0);
	FUZZ_CHECK(stream_open(&s, &cf, conf_model(&cf, NULL), &w.c, (enum stream_format)format,
	    NULL) == 0, "the stream did not open");
	/* Tokens of 0 to 63 bytes (or up to 4095), heartbeats between some. */
	seed |= 1;
	buf_init(&text_in, in.n + 1);
	buf_init(&want_args, 3 * in.n + 16);
	while (off < in.n) {
		size_t n;

		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % ((seed & 0x100000) ? 4096 : 64);
		if (n > in.n - off)
			n = in.n - off;
		if ((seed >> 4) % 5 == 0) {
			/* A tool call's fragment: each one sanitised on its own. */
			struct utf8_carry c = { { 0 }, 0 };

			FUZZ_CHECK(stream_tool_call(&s, 0, "call", "f", (const char *)in.p + off,
			    n) == 0, "a tool-call fragment was refused");
			fuzz_sanitize(&c, (const char *)in.p + off, n, 1, 3 * in.n + 16, &want_args);
		} else {
			FUZZ_CHECK(stream_token(&s, (const char *)in.p + off, n) == 0,
			    "a token was refused (its text would be lost)");
			FUZZ_CHECK(buf_add(&text_in, in.p + off, n) == 0, "cap");
		}
		if ((seed >> 8) % 7 == 0)
			FUZZ_CHECK(stream_heartbeat(&s) == 0, "a heartbeat failed");
		off += n;
	}
	FUZZ_CHECK(stream_done(&s, &res, 0) == 0, "the stream did not end");
	stream_close(&s);
	conf_free(&cf);

	/* The head, then the body. */
	FUZZ_CHECK(w.bytes.data != NULL && (body = strstr(w.bytes.data, "\r\n\r\n")) != NULL,
	    "no head");
	body += 4;
	memset(&r, 0, sizeof(r));
	r.format = format;
	r.next_id = 1;
	buf_init(&r.text, WIRE_CAP);
	buf_init(&r.data, WIRE_CAP);
	buf_init(&r.args, WIRE_CAP);
	if (format == STREAM_OPENAI_JSON)
		read_json(&r, body);
	else
		read_stream(&r, body, w.bytes.len - (size_t)(body - w.bytes.data));
	FUZZ_CHECK(r.ended, "the stream has no end event");

	buf_init(&expect, 3 * in.n + 16);
	fuzz_sanitize(&carry, text_in.data != NULL ? text_in.data : "", text_in.len, 1,
	    3 * in.n + 16, &expect);
	FUZZ_CHECK(r.text.len == expect.len && (expect.len == 0 ||
	    memcmp(r.text.data, expect.data, expect.len) == 0),
	    "the text read back differs from the text sent");
	FUZZ_CHECK(r.args.len == want_args.len && (want_args.len == 0 ||
	    memcmp(r.args.data, want_args.data, want_args.len) == 0),
	    "the tool call's arguments read back differ from those sent");
	buf_free(&expect);
	buf_free(&text_in);
	buf_free(&want_args);
	buf_free(&r.args);
	buf_free(&r.text);
	buf_free(&r.data);
	memconn_free(&w);
	return 0;
}
