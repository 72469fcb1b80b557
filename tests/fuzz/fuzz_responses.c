/*
 * fuzz_responses.c: POST /v1/responses bodies.  A body is either refused
 * (a 400 of type invalid_json or invalid_request, a 413, or the resolver's
 * 503), or gives a request whose messages keep their promises (request.h,
 * backend.h) and whose chat-completions body is what an openai backend may
 * send as it is: each message's JSON is in the body's "messages", with the
 * message's role; tool messages answer a call id; tool calls are functions
 * with an id and a name; tools are functions in chat-completions shape, and
 * tool_choice and parallel_tool_calls come only with them.
 *
 * Input: a byte choosing the JSON depth limit, then the body.  Its
 * item_reference ids are resolved by a stand-in for the journal: "msg_..."
 * an assistant message, "fc_..." a function call, "fail" a store failure,
 * anything else not kept.
 */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <string.h>

#include <json-c/json.h>

#include "fuzz.h"
#include "request.h"
#include "responses.h"

static int
find(void *arg, const char *id, json_object **item, struct cs_error *err)
{
	(void)arg;
	*item = NULL;
	if (strcmp(id, "fail") == 0)
		return cs_fail(err, 503, "journal_unavailable", "the stream store cannot be read");
	if (strncmp(id, "msg_", 4) == 0)
		*item = json_tokener_parse("{\"id\":\"msg_1\",\"type\":\"message\",\"role\":"
		    "\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"earlier\"}]}");
	else if (strncmp(id, "fc_", 3) == 0)
		*item = json_tokener_parse("{\"id\":\"fc_1_0\",\"type\":\"function_call\","
		    "\"call_id\":\"call_1\",\"name\":\"f\",\"arguments\":\"{}\"}");
	return 0;
}

static int
is_string(json_object *o, const char *name)
{
	json_object *v;

	return json_object_object_get_ex(o, name, &v) && json_object_is_type(v, json_type_string);
}

/* A tool call as chat completions write it. */
static void
check_call(json_object *call)
{
	json_object *fn, *type;

	FUZZ_CHECK(is_string(call, "id") && json_object_get_string_len(
	    json_object_object_get(call, "id")) > 0, "a tool call without an id");
	FUZZ_CHECK(json_object_object_get_ex(call, "type", &type) &&
	    strcmp(json_object_get_string(type), "function") == 0, "a tool call not a function");
	FUZZ_CHECK(json_object_object_get_ex(call, "function", &fn) && is_string(fn, "name") &&
	    is_string(fn, "arguments"), "a tool call without a name or arguments");
}

static void
check_body(const struct chat_request *req)
{
	json_object *msgs, *tools, *v;
	size_t i, n, with_json = 0;

	FUZZ_CHECK(req->body != NULL && json_object_object_get_ex(req->body, "messages", &msgs) &&
	    json_object_is_type(msgs, json_type_array), "no messages array in the body");
	n = json_object_array_length(msgs);
	for (i = 0; i < req->nmessages; i++) {
		const struct chat_message *m = &req->messages[i];
		json_object *role, *calls;
		size_t j;

		if (m->json == NULL)
			continue;
		FUZZ_CHECK(with_json < n && json_object_array_get_idx(msgs, with_json) == m->json,
		    "a message's JSON not the body's, in order");
		with_json++;
		FUZZ_CHECK(json_object_object_get_ex(m->json, "role", &role) &&
		    strcmp(json_object_get_string(role), m->role) == 0,
		    "a message's JSON with another role");
		if (strcmp(m->role, "tool") == 0)
			FUZZ_CHECK(is_string(m->json, "tool_call_id"), "a tool message without its id");
		if (json_object_object_get_ex(m->json, "tool_calls", &calls)) {
			FUZZ_CHECK(strcmp(m->role, "assistant") == 0 &&
			    json_object_is_type(calls, json_type_array) &&
			    json_object_array_length(calls) > 0, "tool calls not an assistant's");
			for (j = 0; j < json_object_array_length(calls); j++)
				check_call(json_object_array_get_idx(calls, j));
		}
	}
	FUZZ_CHECK(with_json == n, "a message in the body that the request does not have");
	if (!json_object_object_get_ex(req->body, "tools", &tools)) {
		FUZZ_CHECK(!json_object_object_get_ex(req->body, "tool_choice", &v) &&
		    !json_object_object_get_ex(req->body, "parallel_tool_calls", &v),
		    "tool_choice or parallel_tool_calls without tools");
		return;
	}
	FUZZ_CHECK(json_object_is_type(tools, json_type_array) &&
	    json_object_array_length(tools) > 0, "tools not a non-empty array");
	for (i = 0; i < json_object_array_length(tools); i++) {
		json_object *t = json_object_array_get_idx(tools, i), *fn;

		FUZZ_CHECK(json_object_object_get_ex(t, "function", &fn) && is_string(fn, "name") &&
		    !json_object_object_get_ex(t, "name", &v), "a tool not in chat-completions shape");
	}
}

static void
check_request(const struct chat_request *req)
{
	size_t i;
	int prompt_found = 0;

	FUZZ_CHECK(req->nmessages >= 1 && req->messages != NULL, "no message");
	for (i = 0; i < req->nmessages; i++) {
		const struct chat_message *m = &req->messages[i];

		FUZZ_CHECK(strcmp(m->role, "system") == 0 || strcmp(m->role, "user") == 0 ||
		    strcmp(m->role, "assistant") == 0 || strcmp(m->role, "tool") == 0,
		    "a role other than system, user, assistant, tool");
		FUZZ_CHECK(m->content[m->content_len] == '\0', "content not NUL-terminated");
		FUZZ_CHECK(utf8_valid(m->content, m->content_len), "content not valid UTF-8");
		if (req->prompt == m->content && strcmp(m->role, "user") == 0)
			prompt_found = 1;
	}
	FUZZ_CHECK(prompt_found, "the prompt is not a user message");
	FUZZ_CHECK(req->prompt_len > 0, "an empty prompt");
	FUZZ_CHECK(req->max_tokens >= 0 && req->max_tokens <= 1000000, "max_tokens out of range");
	check_body(req);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned depth = fuzz_byte(&in);
	struct responses_resolver refs = { find, NULL };
	struct chat_request req;
	struct responses_req rr;
	struct cs_error err;

	cs_error_clear(&err);
	memset(&req, 0, sizeof(req));
	memset(&rr, 0, sizeof(rr));
	if (responses_parse((const char *)in.p, in.n, 1 + (int)depth % 64, &refs, &req, &rr,
	    &err) == 0)
		check_request(&req);
	else
		FUZZ_CHECK((err.status == 400 && (strcmp(err.type, "invalid_json") == 0 ||
		    strcmp(err.type, "invalid_request") == 0)) || err.status == 413 ||
		    (err.status == 503 && memmem(in.p, in.n, "fail", 4) != NULL),
		    "a refusal that is not a 400, a 413 or the store's 503");
	chat_request_free(&req);
	responses_req_free(&rr);
	return 0;
}
