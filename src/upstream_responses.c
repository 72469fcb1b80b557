/* upstream_responses.c: an upstream's Responses API events (response.*), read into a stream. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "backend.h"
#include "stream.h"
#include "upstream_responses.h"

void
upstream_responses_init(struct upstream_responses *u)
{
	size_t i;

	memset(u, 0, sizeof(*u));
	for (i = 0; i < UPSTREAM_ITEMS; i++)
		u->call_of[i] = -1;
}

/* A string member of o, or NULL; *len its length. */
static const char *
str(json_object *o, const char *key, size_t *len)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

/* o's output_index when it is one an item may have, else -1. */
static int
output_index(json_object *o)
{
	json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(o, "output_index", &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	n = json_object_get_int64(v);
	return n >= 0 && n < UPSTREAM_ITEMS ? (int)n : -1;
}

/* The plain JSON text of o. */
static const char *
text_of(json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* A text delta with its logprobs (the Responses API's array: chat's "content" items). */
static int
text_delta(struct stream *s, json_object *o)
{
	json_object *lp;
	const char *t;
	size_t len;
	int rc;

	if ((t = str(o, "delta", &len)) == NULL || len == 0)
		return 0;
	if (json_object_object_get_ex(o, "logprobs", &lp) &&
	    json_object_is_type(lp, json_type_array) && json_object_array_length(lp) > 0) {
		json_object *w = json_object_new_object();

		json_object_object_add(w, "content", json_object_get(lp));
		rc = stream_logprobs(s, text_of(w), strlen(text_of(w)));
		json_object_put(w);
		if (rc == -2)
			return -2;
	}
	return stream_token(s, t, len) == -2 ? -2 : 0;
}

/* The length of an item's "arguments" as it starts (some servers give them whole). */
static size_t
alen_of(json_object *item)
{
	size_t len = 0;

	return str(item, "arguments", &len) != NULL ? len : 0;
}

/* A function_call item as it starts: a tool call of the stream's, its id and name. */
static int
call_added(struct upstream_responses *u, struct stream *s, json_object *o)
{
	json_object *item;
	const char *type, *id, *name, *args;
	size_t tlen, ilen, nlen, alen = 0;
	int at = output_index(o);

	if (!json_object_object_get_ex(o, "item", &item) ||
	    (type = str(item, "type", &tlen)) == NULL || strcmp(type, "function_call") != 0)
		return 0;   /* a message, reasoning, a hosted tool's call: their deltas say it */
	if (at < 0 || u->call_of[at] >= 0 || u->ncalls >= STREAM_MAX_CALLS)
		return -3;
	u->call_of[at] = (short)u->ncalls++;
	u->args_came[at] = alen_of(item) > 0;
	id = str(item, "call_id", &ilen);
	name = str(item, "name", &nlen);
	if ((args = str(item, "arguments", &alen)) == NULL)
		args = "";
	return stream_tool_call(s, u->call_of[at], id, name, args, alen) == -2 ? -2 : 0;
}

/* The usage, in the stream's (chat-completions) terms, and how the response ended. */
static void
ended(struct upstream_responses *u, struct stream *s, json_object *response)
{
	json_object *usage, *d, *n, *x;

	if (!json_object_object_get_ex(response, "usage", &usage) ||
	    !json_object_is_type(usage, json_type_object))
		return;
	if (json_object_object_get_ex(usage, "input_tokens", &n))
		u->input_tokens = (long)json_object_get_int64(n);
	if (json_object_object_get_ex(usage, "output_tokens", &n))
		u->output_tokens = (long)json_object_get_int64(n);
	x = json_object_new_object();
	if (json_object_object_get_ex(usage, "input_tokens_details", &d) &&
	    json_object_is_type(d, json_type_object))
		json_object_object_add(x, "prompt_tokens_details", json_object_get(d));
	if (json_object_object_get_ex(usage, "output_tokens_details", &d) &&
	    json_object_is_type(d, json_type_object))
		json_object_object_add(x, "completion_tokens_details", json_object_get(d));
	if (json_object_object_length(x) > 0)
		(void)stream_usage_details(s, text_of(x), strlen(text_of(x)));
	json_object_put(x);
}

/* The upstream's message in an error object (or "error" string), else a word of ours. */
static const char *
message_of(json_object *e, const char *otherwise)
{
	const char *m;
	size_t len;

	if (e != NULL && json_object_is_type(e, json_type_string))
		return json_object_get_string(e);
	return (m = str(e, "message", &len)) != NULL ? m : otherwise;
}

int
upstream_responses_event(struct upstream_responses *u, struct stream *s, json_object *o,
    const char **why)
{
	json_object *response = NULL, *v;
	const char *type, *t;
	size_t len;
	int at;

	if ((type = str(o, "type", &len)) == NULL) {
		*why = "the upstream sent an event without a type";
		return -3;
	}
	(void)json_object_object_get_ex(o, "response", &response);
	if (strcmp(type, "response.output_text.delta") == 0) {
		u->text_came = 1;
		return text_delta(s, o);
	}
	if (strcmp(type, "response.output_text.done") == 0) {
		/* A server that sends the text whole, at the end only. */
		if (u->text_came || (t = str(o, "text", &len)) == NULL || len == 0)
			return 0;
		u->text_came = 1;
		return stream_token(s, t, len) == -2 ? -2 : 0;
	}
	if (strcmp(type, "response.reasoning_text.delta") == 0 ||
	    strcmp(type, "response.reasoning_summary_text.delta") == 0)
		return (t = str(o, "delta", &len)) != NULL && len > 0 &&
		    stream_reasoning(s, NULL, t, len) == -2 ? -2 : 0;
	if (strcmp(type, "response.refusal.delta") == 0)
		return (t = str(o, "delta", &len)) != NULL && len > 0 &&
		    stream_refusal(s, t, len) == -2 ? -2 : 0;
	if (strcmp(type, "response.output_item.added") == 0) {
		int rc = call_added(u, s, o);

		if (rc == -3)
			*why = "the upstream sent a function call without a usable output_index";
		return rc;
	}
	if (strcmp(type, "response.function_call_arguments.delta") == 0) {
		if ((at = output_index(o)) < 0 || u->call_of[at] < 0) {
			*why = "the upstream sent arguments of a call it did not add";
			return -3;
		}
		if ((t = str(o, "delta", &len)) == NULL || len == 0)
			return 0;
		u->args_came[at] = 1;
		return stream_tool_call(s, u->call_of[at], NULL, NULL, t, len) == -2 ? -2 : 0;
	}
	if (strcmp(type, "response.function_call_arguments.done") == 0) {
		/* A server that sends a call's arguments whole, at the end only. */
		if ((at = output_index(o)) < 0 || u->call_of[at] < 0 || u->args_came[at] ||
		    (t = str(o, "arguments", &len)) == NULL || len == 0)
			return 0;
		u->args_came[at] = 1;
		return stream_tool_call(s, u->call_of[at], NULL, NULL, t, len) == -2 ? -2 : 0;
	}
	if (strcmp(type, "response.completed") == 0) {
		u->finish = u->ncalls > 0 ? "tool_calls" : "stop";
		ended(u, s, response);
		return 1;
	}
	if (strcmp(type, "response.incomplete") == 0) {
		json_object *d;

		u->finish = "length";
		if (response != NULL && json_object_object_get_ex(response, "incomplete_details", &d) &&
		    (t = str(d, "reason", &len)) != NULL && strcmp(t, "content_filter") == 0)
			u->finish = "content_filter";
		ended(u, s, response);
		return 1;
	}
	if (strcmp(type, "response.failed") == 0) {
		*why = message_of(response != NULL && json_object_object_get_ex(response, "error",
		    &v) ? v : NULL, "the upstream's response failed");
		return -1;
	}
	if (strcmp(type, "error") == 0) {
		/* The error event has its fields at the top, or (some servers) in "error". */
		*why = message_of(json_object_object_get_ex(o, "error", &v) ? v : o,
		    "the upstream sent an error");
		return -1;
	}
	return 0;
}

/* The client's fields chatstream sets itself or gives as input. */
static const char *const own[] = {
	"model", "input", "instructions", "stream", "store", "background",
	"previous_response_id", "conversation", "stream_options"
};

static int
is_own(const char *k)
{
	size_t i;

	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (strcmp(k, own[i]) == 0)
			return 1;
	return 0;
}

/* A chat message as input items: a message, function calls, or a call's output. */
static void
add_items(json_object *input, const struct chat_message *m)
{
	json_object *it, *calls = NULL, *v;
	size_t i, n;

	if (m->json != NULL)
		(void)json_object_object_get_ex(m->json, "tool_calls", &calls);
	if (strcmp(m->role, "tool") == 0) {
		it = json_object_new_object();
		json_object_object_add(it, "type", json_object_new_string("function_call_output"));
		if (m->json != NULL && json_object_object_get_ex(m->json, "tool_call_id", &v))
			json_object_object_add(it, "call_id", json_object_get(v));
		json_object_object_add(it, "output",
		    json_object_new_string_len(m->content, (int)m->content_len));
		json_object_array_add(input, it);
		return;
	}
	if (m->content_len > 0 || calls == NULL) {
		it = json_object_new_object();
		json_object_object_add(it, "role", json_object_new_string(m->role));
		json_object_object_add(it, "content",
		    json_object_new_string_len(m->content, (int)m->content_len));
		json_object_array_add(input, it);
	}
	if (calls == NULL || !json_object_is_type(calls, json_type_array))
		return;
	for (i = 0, n = json_object_array_length(calls); i < n; i++) {
		json_object *c = json_object_array_get_idx(calls, i), *fn;

		if (!json_object_object_get_ex(c, "function", &fn))
			continue;
		it = json_object_new_object();
		json_object_object_add(it, "type", json_object_new_string("function_call"));
		if (json_object_object_get_ex(c, "id", &v))
			json_object_object_add(it, "call_id", json_object_get(v));
		if (json_object_object_get_ex(fn, "name", &v))
			json_object_object_add(it, "name", json_object_get(v));
		if (json_object_object_get_ex(fn, "arguments", &v))
			json_object_object_add(it, "arguments", json_object_get(v));
		json_object_array_add(input, it);
	}
}

json_object *
upstream_responses_body(const struct chat_request *req, const char *model)
{
	json_object *o = json_object_new_object(), *input = json_object_new_array();
	size_t i;

	if (o == NULL || input == NULL) {
		json_object_put(o);
		json_object_put(input);
		return NULL;
	}
	json_object_object_add(o, "model", json_object_new_string(model));
	for (i = 0; i < req->nmessages; i++)
		add_items(input, &req->messages[i]);
	json_object_object_add(o, "input", input);
	if (req->responses != NULL) {
		json_object_object_foreach(req->responses, k, v) {
			if (!is_own(k))
				json_object_object_add(o, k, json_object_get(v));
		}
	}
	json_object_object_add(o, "stream", json_object_new_boolean(1));
	json_object_object_add(o, "store", json_object_new_boolean(0));
	return o;
}
