/* stream_delta.c: the events of what is not text: tool calls, reasoning, refusals, logprobs. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "clock.h"
#include "jsonw.h"
#include "responses.h"
#include "stream_choice.h"
#include "stream_delta.h"

/*
 * A tool-call event's bytes besides its arguments' and those of the token
 * frame (stream.c's TOKEN_FRAME): counted in text bytes, escaped six-fold.
 */
#define CALL_FRAME 16

/* A buffer that grew past this for one big event is given back afterwards. */
#define KEEP_BYTES (16 * 1024)

enum piece_kind { PIECE_REASONING, PIECE_REFUSAL, PIECE_TOOL };

/* One non-text event's kind and, for a tool call, what comes before its arguments. */
struct piece {
	enum piece_kind kind;
	const char *field;      /* PIECE_REASONING: the OpenAI delta key */
	int index;              /* PIECE_TOOL */
	struct buf id, name;    /* PIECE_TOOL: sanitised; empty when absent or already sent */
	int has_id, has_name;
};

void
stream_delta_open(struct stream *s)
{
	size_t whole = s->conf->max_event * 8;

	buf_init(&s->piece, s->text.cap);
	buf_init(&s->logprobs, STREAM_FORMAT_JSON(s->format) ? whole : s->conf->max_event / 2);
	buf_init(&s->usage_extra, 4096);
	buf_init(&s->reasoning, whole);
	buf_init(&s->refusal, whole);
}

void
stream_delta_close(struct stream *s)
{
	size_t i;

	buf_free(&s->piece);
	buf_free(&s->logprobs);
	buf_free(&s->usage_extra);
	buf_free(&s->reasoning);
	buf_free(&s->refusal);
	for (i = 0; i < s->ncalls; i++) {
		buf_free(&s->calls[i].id);
		buf_free(&s->calls[i].name);
		buf_free(&s->calls[i].args);
	}
	free(s->calls);
	s->calls = NULL;
	s->ncalls = 0;
}

/* Copies a word (an id, a name) sanitised and cut to cap bytes into b. */
static void
word(struct buf *b, const char *w, size_t cap)
{
	struct utf8_carry carry = { { 0 }, 0 };

	buf_init(b, cap);
	if (w != NULL)
		(void)utf8_sanitize(&carry, w, strlen(w), 1, b);
}

/* The payload of one event of p with text[0..len) (already sanitised), in s->payload. */
static int
payload(struct stream *s, const struct piece *p, const char *text, size_t len)
{
	struct buf *b = &s->payload;
	int openai = s->format == STREAM_OPENAI;

	buf_reset(b);
	if (openai && (buf_add(b, s->chunk_head.data, s->chunk_head.len) == -1 ||
	    stream_choice_index(b, s) == -1 || buf_adds(b, ",\"delta\":{") == -1))
		return -1;
	switch (p->kind) {
	case PIECE_REASONING:
	case PIECE_REFUSAL:
		if (buf_addc(b, openai ? '"' : '{') == -1 || buf_adds(b, !openai ? "\"text" :
		    p->kind == PIECE_REFUSAL ? "refusal" : p->field) == -1 ||
		    buf_adds(b, "\":\"") == -1)
			return -1;
		break;
	case PIECE_TOOL:
		if (buf_printf(b, openai ? "\"tool_calls\":[{\"index\":%d" : "{\"index\":%d",
		    p->index) == -1 ||
		    (p->has_id && (buf_adds(b, ",\"id\":") == -1 ||
		    jsonw_string(b, p->id.data != NULL ? p->id.data : "", p->id.len) == -1 ||
		    (openai && buf_adds(b, ",\"type\":\"function\"") == -1))) ||
		    (openai && buf_adds(b, ",\"function\":{") == -1) ||
		    (p->has_name && (buf_adds(b, openai ? "\"name\":" : ",\"name\":") == -1 ||
		    jsonw_string(b, p->name.data != NULL ? p->name.data : "", p->name.len) == -1 ||
		    (openai && buf_addc(b, ',') == -1))) ||
		    buf_adds(b, openai ? "\"arguments\":\"" : ",\"arguments\":\"") == -1)
			return -1;
		break;
	}
	if (jsonw_chars(b, text, len) == -1 || buf_addc(b, '"') == -1)
		return -1;
	if (openai)
		return buf_adds(b, p->kind == PIECE_TOOL ? "}}]},\"finish_reason\":null}" :
		    "},\"finish_reason\":null}") == -1 || buf_adds(b, stream_chunk_end(s)) == -1 ?
		    -1 : 0;
	return buf_addc(b, '}');
}

struct stream_call *
stream_call_slot(struct stream *s, int index)
{
	struct stream_call *c;
	size_t i;

	if (index < 0 || index >= STREAM_MAX_CALLS)
		return NULL;
	if ((size_t)index >= s->ncalls) {
		if ((c = realloc(s->calls, (size_t)(index + 1) * sizeof(*c))) == NULL)
			return NULL;
		s->calls = c;
		for (i = s->ncalls; i <= (size_t)index; i++) {
			buf_init(&c[i].id, STREAM_CALL_WORD);
			buf_init(&c[i].name, STREAM_CALL_WORD);
			buf_init(&c[i].args, s->conf->max_event * 8);
		}
		s->ncalls = (size_t)index + 1;
	}
	return &s->calls[index];
}

int
stream_call_word(struct buf *to, const char *w, size_t len)
{
	if (w == NULL || len == 0 || to->len > 0)
		return 0;   /* absent, or the call has one already */
	return buf_add(to, w, len);
}

/* STREAM_OPENAI_JSON: gathers text[0..len) of p into the message. */
static int
gather(struct stream *s, const struct piece *p, const char *text, size_t len)
{
	struct stream_call *c;
	size_t i, total;

	switch (p->kind) {
	case PIECE_REASONING:
		s->reasoning_field = p->field;
		return buf_add(&s->reasoning, text, len);
	case PIECE_REFUSAL:
		return buf_add(&s->refusal, text, len);
	case PIECE_TOOL:
		break;
	}
	if ((c = stream_call_slot(s, p->index)) == NULL)
		return -1;
	/* The calls' arguments share one cap, the answer's (one choice's share of it). */
	for (i = 0, total = len; i < s->ncalls; i++)
		total += s->calls[i].args.len;
	if (total > s->answer.cap)
		return -1;
	if ((p->has_id && p->id.len > 0 && (buf_reset(&c->id), buf_add(&c->id, p->id.data,
	    p->id.len)) == -1) ||
	    (p->has_name && p->name.len > 0 && buf_add(&c->name, p->name.data, p->name.len) == -1))
		return -1;
	return buf_add(&c->args, text, len);
}

/* The Responses API's formats: its events, or its object's parts (responses_stream.c). */
static int
to_responses(struct stream *s, const struct piece *p, const char *text, size_t len)
{
	switch (p->kind) {
	case PIECE_REASONING:
		return responses_reasoning(s, text, len);
	case PIECE_REFUSAL:
		return responses_refusal(s, text, len);
	case PIECE_TOOL:
		break;
	}
	return responses_call(s, p->index, p->has_id ? &p->id : NULL,
	    p->has_name ? &p->name : NULL, text, len);
}

/*
 * Sends bytes[0..len) as events of p: one at least for a tool call (its
 * first fragment may have no arguments yet), as many as the cap needs.
 */
static int
send_piece(struct stream *s, struct piece *p, const char *bytes, size_t len)
{
	struct utf8_carry carry = { { 0 }, 0 };
	int gone = s->gone, rc;
	size_t room = s->text.cap - CALL_FRAME;

	if (s->lost)
		return -2;
	if (s->state == STREAM_ENDED || (gone && s->journal == NULL))
		return -1;
	if (s->stop.matched)
		return gone ? -1 : 0;   /* the answer ended at a stop sequence */
	if (p->kind == PIECE_TOOL)
		room -= p->id.len + p->name.len;
	if (s->format != STREAM_OPENAI_JSON && s->state == STREAM_HEAD)
		(void)stream_begin(s);
	if (s->logprobs.len > 0 && s->format != STREAM_OPENAI_JSON &&
	    stream_delta_flush(s) == -2)
		return -2;
	for (;;) {
		size_t used;
		int left;

		buf_reset(&s->piece);
		s->piece.cap = room;
		used = utf8_sanitize(&carry, bytes, len, 1, &s->piece);
		bytes += used;
		len -= used;
		left = len > 0 || carry.len > 0;
		if (left && s->piece.len == 0) {
			s->lost = 1;
			return -2;
		}
		if (s->format == STREAM_OPENAI_JSON) {
			if (gather(s, p, s->piece.data != NULL ? s->piece.data : "",
			    s->piece.len) == -1)
				s->answer_cut = 1;   /* said at the end: finish_reason length */
			rc = 0;
		} else if (STREAM_FORMAT_RESPONSES(s->format))
			rc = to_responses(s, p, s->piece.data != NULL ? s->piece.data : "",
			    s->piece.len);
		else if (payload(s, p, s->piece.data != NULL ? s->piece.data : "",
		    s->piece.len) == -1) {
			s->lost = 1;
			return -2;
		} else
			rc = stream_emit(s, p->kind == PIECE_TOOL ? "tool_call" :
			    p->kind == PIECE_REFUSAL ? "refusal" : "reasoning",
			    s->payload.data, s->payload.len);
		if (rc == -2) {
			s->lost = 1;
			return -2;
		}
		gone |= rc == -1;
		s->tokens++;
		if (s->first_token_ms < 0)
			s->first_token_ms = clock_ms();
		/* The id and the name come once, with the first fragment. */
		p->has_id = p->has_name = 0;
		buf_reset(&p->id);
		buf_reset(&p->name);
		if (!left)
			break;
	}
	/* Buffers grown for one big piece are given back, as stream.c does. */
	if (s->payload.alloc > KEEP_BYTES)
		buf_free(&s->payload);
	if (s->piece.alloc > KEEP_BYTES)
		buf_free(&s->piece);
	return gone ? -1 : 0;
}

int
stream_tool_call(struct stream *s, int index, const char *id, const char *name,
    const char *args, size_t len)
{
	struct piece p = { PIECE_TOOL, NULL, index, { NULL, 0, 0, 0 }, { NULL, 0, 0, 0 },
	    id != NULL, name != NULL };
	/* An id and a name leave room for some arguments in one event, however small. */
	size_t cap = (s->text.cap - CALL_FRAME - UTF8_MAX_OUT) / 2;
	int rc;

	if (index < 0 || index >= STREAM_MAX_CALLS)
		return -2;
	if (cap > STREAM_CALL_WORD)
		cap = STREAM_CALL_WORD;
	word(&p.id, id, cap);
	word(&p.name, name, cap);
	rc = send_piece(s, &p, args, len);
	buf_free(&p.id);
	buf_free(&p.name);
	return rc;
}

int
stream_reasoning(struct stream *s, const char *field, const char *text, size_t len)
{
	struct piece p = { PIECE_REASONING, field != NULL ? field : "reasoning_content", 0,
	    { NULL, 0, 0, 0 }, { NULL, 0, 0, 0 }, 0, 0 };

	if (len == 0)
		return s->gone ? -1 : 0;
	return send_piece(s, &p, text, len);
}

int
stream_refusal(struct stream *s, const char *text, size_t len)
{
	struct piece p = { PIECE_REFUSAL, NULL, 0, { NULL, 0, 0, 0 }, { NULL, 0, 0, 0 }, 0, 0 };

	if (len == 0)
		return s->gone ? -1 : 0;
	return send_piece(s, &p, text, len);
}

/*
 * STREAM_OPENAI_JSON and the Responses formats: appends the "content" items
 * of logprobs json to s->logprobs (the Responses API's logprobs are those
 * items, in an array).
 */
static void
gather_logprobs(struct stream *s, const char *json, size_t len)
{
	json_tokener *tok = json_tokener_new_ex(32);
	json_object *o = NULL, *items;
	size_t i, n;

	if (tok == NULL)
		return;
	o = json_tokener_parse_ex(tok, json, (int)len);
	json_tokener_free(tok);
	if (o != NULL && json_object_object_get_ex(o, "content", &items) &&
	    json_object_is_type(items, json_type_array)) {
		n = json_object_array_length(items);
		for (i = 0; i < n; i++) {
			size_t mark = s->logprobs.len;

			if ((s->logprobs.len > 0 && buf_addc(&s->logprobs, ',') == -1) ||
			    buf_adds(&s->logprobs, json_object_to_json_string_ext(
			    json_object_array_get_idx(items, i), JSON_C_TO_STRING_PLAIN |
			    JSON_C_TO_STRING_NOSLASHESCAPE)) == -1) {
				s->logprobs.len = mark;   /* the rest does not fit: dropped */
				break;
			}
		}
	}
	json_object_put(o);
}

int
stream_logprobs(struct stream *s, const char *json, size_t len)
{
	int rc = 0;

	if (s->lost)
		return -2;
	if (s->format == STREAM_OPENAI_JSON || STREAM_FORMAT_RESPONSES(s->format)) {
		gather_logprobs(s, json, len);
		return 0;
	}
	/* Two in a row: the first had no text; it goes alone. */
	if (s->logprobs.len > 0)
		rc = stream_delta_flush(s);
	if (rc != -2 && (buf_add(&s->logprobs, json, len) == -1 ||
	    len + s->chunk_head.len + 128 > s->conf->max_event))
		buf_reset(&s->logprobs);   /* too big for one event: dropped */
	return rc;
}

int
stream_delta_flush(struct stream *s)
{
	struct buf *b = &s->payload;
	int rc;

	/* Gathered ones wait for their text (or the end). */
	if (s->logprobs.len == 0 || s->format == STREAM_OPENAI_JSON ||
	    STREAM_FORMAT_RESPONSES(s->format))
		return 0;
	if (s->state == STREAM_HEAD)
		(void)stream_begin(s);
	buf_reset(b);
	rc = s->format == STREAM_OPENAI ?
	    buf_add(b, s->chunk_head.data, s->chunk_head.len) == -1 ||
	    stream_choice_index(b, s) == -1 ||
	    buf_adds(b, ",\"delta\":{},\"logprobs\":") == -1 ||
	    buf_add(b, s->logprobs.data, s->logprobs.len) == -1 ||
	    buf_adds(b, ",\"finish_reason\":null}") == -1 ||
	    buf_adds(b, stream_chunk_end(s)) == -1 :
	    buf_adds(b, "{\"text\":\"\",\"logprobs\":") == -1 ||
	    buf_add(b, s->logprobs.data, s->logprobs.len) == -1 || buf_addc(b, '}') == -1;
	buf_reset(&s->logprobs);
	if (rc != 0)
		return 0;   /* cannot happen: its size was checked on the way in */
	return stream_emit(s, NULL, b->data, b->len);
}

int
stream_usage_details(struct stream *s, const char *json, size_t len)
{
	json_tokener *tok = json_tokener_new_ex(32);
	json_object *o = NULL;
	int rc = -1, first = 1;

	buf_reset(&s->usage_extra);
	if (tok == NULL)
		return -1;
	o = json_tokener_parse_ex(tok, json, (int)len);
	json_tokener_free(tok);
	if (o != NULL && json_object_is_type(o, json_type_object)) {
		rc = 0;
		json_object_object_foreach(o, k, v) {
			if (rc == -1)
				break;
			rc = (!first && buf_addc(&s->usage_extra, ',') == -1) ||
			    jsonw_string(&s->usage_extra, k, strlen(k)) == -1 ||
			    buf_addc(&s->usage_extra, ':') == -1 ||
			    buf_adds(&s->usage_extra, json_object_to_json_string_ext(v,
			    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) == -1 ? -1 : 0;
			first = 0;
		}
	}
	if (rc == -1)
		buf_reset(&s->usage_extra);
	json_object_put(o);
	return rc;
}

int
stream_delta_usage(const struct stream *s, struct buf *b)
{
	if (s->usage_extra.len == 0)
		return 0;
	return buf_addc(b, ',') == -1 ||
	    buf_add(b, s->usage_extra.data, s->usage_extra.len) == -1 ? -1 : 0;
}

size_t
stream_delta_size(const struct stream *s)
{
	size_t n = 6 * (s->reasoning.len + s->refusal.len) + s->logprobs.len +
	    s->usage_extra.len + 256, i;

	for (i = 0; i < s->ncalls; i++)
		n += 6 * (s->calls[i].id.len + s->calls[i].name.len + s->calls[i].args.len) + 96;
	return n;
}

/* Appends ,"key":"text" (JSON-escaped). */
static int
member(struct buf *b, const char *key, const struct buf *text)
{
	return buf_printf(b, ",\"%s\":", key) == -1 ||
	    jsonw_string(b, text->data != NULL ? text->data : "", text->len) == -1 ? -1 : 0;
}

int
stream_delta_message(const struct stream *s, struct buf *b)
{
	size_t i;

	if ((s->reasoning.len > 0 && member(b, s->reasoning_field != NULL ?
	    s->reasoning_field : "reasoning_content", &s->reasoning) == -1) ||
	    (s->refusal.len > 0 && member(b, "refusal", &s->refusal) == -1))
		return -1;
	if (s->ncalls == 0)
		return 0;
	if (buf_adds(b, ",\"tool_calls\":[") == -1)
		return -1;
	for (i = 0; i < s->ncalls; i++) {
		const struct stream_call *c = &s->calls[i];

		if (buf_adds(b, i > 0 ? ",{\"id\":" : "{\"id\":") == -1 ||
		    jsonw_string(b, c->id.data != NULL ? c->id.data : "", c->id.len) == -1 ||
		    buf_adds(b, ",\"type\":\"function\",\"function\":{\"name\":") == -1 ||
		    jsonw_string(b, c->name.data != NULL ? c->name.data : "", c->name.len) == -1 ||
		    buf_adds(b, ",\"arguments\":") == -1 ||
		    jsonw_string(b, c->args.data != NULL ? c->args.data : "", c->args.len) == -1 ||
		    buf_adds(b, "}}") == -1)
			return -1;
	}
	return buf_addc(b, ']');
}
