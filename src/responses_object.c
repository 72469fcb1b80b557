/* responses_object.c: the Responses API's response object and its output items, as JSON text. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <string.h>

#include <json-c/json.h>

#include "jsonw.h"
#include "responses.h"
#include "stream.h"
#include "stream_delta.h"

int
responses_item_id(struct buf *b, const struct stream *s, int code)
{
	/* On every delta's head: no printf. */
	if (buf_adds(b, code == RESPONSES_MESSAGE ? "\"msg_" : code == RESPONSES_REASONING ?
	    "\"rs_" : "\"fc_") == -1 || buf_adds(b, s->id) == -1)
		return -1;
	return (code >= 0 && (buf_addc(b, '_') == -1 || buf_add_u64(b, (uint64_t)code) == -1)) ||
	    buf_addc(b, '"') == -1 ? -1 : 0;
}

/* A text kept JSON-escaped, as a JSON string: "" unless whole. */
static int
kept(struct buf *b, const struct buf *text, int whole)
{
	return buf_addc(b, '"') == -1 || (whole && text->len > 0 &&
	    buf_add(b, text->data, text->len) == -1) || buf_addc(b, '"') == -1 ? -1 : 0;
}

int
responses_part(struct buf *b, const struct stream *s, int code, int part, int whole)
{
	if (code == RESPONSES_REASONING)
		return buf_adds(b, "{\"type\":\"reasoning_text\",\"text\":") == -1 ||
		    kept(b, &s->reasoning, whole) == -1 || buf_addc(b, '}') == -1 ? -1 : 0;
	if (part == s->refusal_part)
		return buf_adds(b, "{\"type\":\"refusal\",\"refusal\":") == -1 ||
		    kept(b, &s->refusal, whole) == -1 || buf_addc(b, '}') == -1 ? -1 : 0;
	/*
	 * Streamed, logprobs ride on the deltas; without a stream they are
	 * gathered, for the object the client gets (not the journal's events:
	 * they could pass max_event).
	 */
	return buf_adds(b, "{\"type\":\"output_text\",\"text\":") == -1 ||
	    kept(b, &s->answer, whole) == -1 ||
	    buf_adds(b, ",\"annotations\":[],\"logprobs\":[") == -1 ||
	    ((whole & RESPONSES_LOGPROBS) && s->logprobs.len > 0 &&
	    buf_add(b, s->logprobs.data, s->logprobs.len) == -1) ||
	    buf_adds(b, "]}") == -1 ? -1 : 0;
}

/* A function call's call_id: the model's, or one made from the item's when it gave none. */
static int
call_id(struct buf *b, const struct stream *s, int code)
{
	const struct stream_call *c = &s->calls[code];

	if (c->id.len > 0)
		return jsonw_string(b, c->id.data, c->id.len);
	return buf_printf(b, "\"call_%s_%d\"", s->id, code);
}

int
responses_item(struct buf *b, const struct stream *s, int code, const char *status, int whole)
{
	const struct stream_call *c;
	int i, n;

	if (buf_adds(b, "{\"id\":") == -1 || responses_item_id(b, s, code) == -1)
		return -1;
	if (code == RESPONSES_MESSAGE) {
		n = (s->text_part >= 0) + (s->refusal_part >= 0);
		if (buf_printf(b, ",\"type\":\"message\",\"status\":\"%s\",\"role\":\"assistant\","
		    "\"content\":[", status) == -1)
			return -1;
		for (i = 0; whole && i < n; i++)
			if ((i > 0 && buf_addc(b, ',') == -1) ||
			    responses_part(b, s, code, i, whole) == -1)
				return -1;
		return buf_adds(b, "]}");
	}
	if (code == RESPONSES_REASONING)
		return buf_printf(b, ",\"type\":\"reasoning\",\"status\":\"%s\",\"summary\":[],"
		    "\"content\":[", status) == -1 ||
		    (whole && responses_part(b, s, code, 0, whole) == -1) ||
		    buf_adds(b, "],\"encrypted_content\":null}") == -1 ? -1 : 0;
	c = &s->calls[code];
	return buf_printf(b, ",\"type\":\"function_call\",\"status\":\"%s\",\"arguments\":",
	    status) == -1 || kept(b, &c->args, whole) == -1 ||
	    buf_adds(b, ",\"call_id\":") == -1 || call_id(b, s, code) == -1 ||
	    buf_adds(b, ",\"name\":") == -1 ||
	    jsonw_string(b, c->name.data != NULL ? c->name.data : "", c->name.len) == -1 ||
	    buf_addc(b, '}') == -1 ? -1 : 0;
}

/*
 * The usage details the backend gave in chat-completions terms
 * (prompt_tokens_details.cached_tokens, completion_tokens_details.
 * reasoning_tokens), 0 when it gave none.
 */
static void
details(const struct stream *s, long *cached, long *reasoning)
{
	json_object *o, *d, *n;
	struct buf x;

	*cached = *reasoning = 0;
	if (s == NULL || s->usage_extra.len == 0)
		return;
	buf_init(&x, s->usage_extra.len + 2);
	if (buf_addc(&x, '{') == 0 && buf_add(&x, s->usage_extra.data, s->usage_extra.len) == 0 &&
	    buf_addc(&x, '}') == 0 && (o = json_tokener_parse(x.data)) != NULL) {
		if (json_object_object_get_ex(o, "prompt_tokens_details", &d) &&
		    json_object_object_get_ex(d, "cached_tokens", &n))
			*cached = (long)json_object_get_int64(n);
		if (json_object_object_get_ex(o, "completion_tokens_details", &d) &&
		    json_object_object_get_ex(d, "reasoning_tokens", &n))
			*reasoning = (long)json_object_get_int64(n);
		json_object_put(o);
	}
	buf_free(&x);
}

/* A number the request gave, or null. */
static int
add_number(struct buf *b, const char *name, int has, double v)
{
	return has ? buf_printf(b, ",\"%s\":%g", name, v) : buf_printf(b, ",\"%s\":null", name);
}

int
responses_object(struct buf *b, const struct responses_view *v)
{
	const struct responses_req *rr = v->rr;
	long cached, reasoning;
	int i;

	if (buf_printf(b, "{\"id\":\"resp_%s\",\"object\":\"response\",\"created_at\":%lld,"
	    "\"status\":\"%s\",\"background\":%s,", v->id, (long long)v->created, v->status,
	    rr != NULL && rr->background ? "true" : "false") == -1)
		return -1;
	if (v->error_code == NULL) {
		if (buf_adds(b, "\"error\":null") == -1)
			return -1;
	} else if (buf_printf(b, "\"error\":{\"code\":\"%s\",\"message\":", v->error_code) == -1 ||
	    jsonw_string(b, v->error_message, strlen(v->error_message)) == -1 ||
	    buf_addc(b, '}') == -1)
		return -1;
	if ((v->incomplete == NULL ? buf_adds(b, ",\"incomplete_details\":null") :
	    buf_printf(b, ",\"incomplete_details\":{\"reason\":\"%s\"}", v->incomplete)) == -1 ||
	    buf_adds(b, ",\"instructions\":null") == -1)
		return -1;
	if ((rr != NULL && rr->max_output_tokens > 0 ?
	    buf_printf(b, ",\"max_output_tokens\":%ld", rr->max_output_tokens) :
	    buf_adds(b, ",\"max_output_tokens\":null")) == -1 ||
	    buf_adds(b, ",\"model\":") == -1 ||
	    jsonw_string(b, v->model, strlen(v->model)) == -1 ||
	    buf_adds(b, ",\"output\":[") == -1)
		return -1;
	for (i = 0; v->s != NULL && i < v->s->nitems; i++)
		if ((i > 0 && buf_addc(b, ',') == -1) ||
		    responses_item(b, v->s, v->s->items[i], v->item_status, RESPONSES_WHOLE |
		    (v->logprobs ? RESPONSES_LOGPROBS : 0)) == -1)
			return -1;
	if (buf_adds(b, "],\"parallel_tool_calls\":true,\"previous_response_id\":null,"
	    "\"reasoning\":{\"effort\":null,\"summary\":null}") == -1 ||
	    buf_printf(b, ",\"store\":%s", rr == NULL || rr->store ? "true" : "false") == -1 ||
	    add_number(b, "temperature", rr != NULL && rr->has_temperature,
	    rr != NULL ? rr->temperature : 0) == -1 ||
	    buf_adds(b, ",\"text\":{\"format\":{\"type\":\"text\"}},\"tool_choice\":\"auto\","
	    "\"tools\":[]") == -1 ||
	    add_number(b, "top_p", rr != NULL && rr->has_top_p, rr != NULL ? rr->top_p : 0) == -1 ||
	    buf_adds(b, ",\"truncation\":\"disabled\",\"usage\":") == -1)
		return -1;
	details(v->s, &cached, &reasoning);
	if ((v->has_usage ? buf_printf(b, "{\"input_tokens\":%ld,\"input_tokens_details\":"
	    "{\"cached_tokens\":%ld},\"output_tokens\":%ld,\"output_tokens_details\":"
	    "{\"reasoning_tokens\":%ld},\"total_tokens\":%ld}", v->input_tokens, cached,
	    v->output_tokens, reasoning, v->input_tokens + v->output_tokens) :
	    buf_adds(b, "null")) == -1)
		return -1;
	return buf_printf(b, ",\"metadata\":%s}", rr != NULL && rr->metadata != NULL ?
	    rr->metadata : "{}");
}
