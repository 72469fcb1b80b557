/* responses.c: a POST /v1/responses body into the chat_request every backend takes. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "request.h"
#include "responses.h"

/* OpenAI's limits on metadata: 16 pairs, keys up to 64 characters, values up to 512. */
#define META_PAIRS 16
#define META_KEY 64
#define META_VALUE 512

static int bad(struct cs_error *, const char *, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* A 400 invalid_request about param. */
static int
bad(struct cs_error *err, const char *param, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cs_vfail(err, 400, "invalid_request", fmt, ap);
	va_end(ap);
	return cs_param(err, param);
}

static int
is_null(json_object *v)
{
	return v == NULL || json_object_is_type(v, json_type_null);
}

/* root[name] when present and not null, else NULL. */
static json_object *
field(json_object *root, const char *name)
{
	json_object *v;

	return json_object_object_get_ex(root, name, &v) && !is_null(v) ? v : NULL;
}

static int
is_number(json_object *v)
{
	return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

/* A part's text: "refusal" for a refusal part, "text" for the others. */
static json_object *
part_text(json_object *part, const char *type)
{
	return field(part, strcmp(type, "refusal") == 0 ? "refusal" : "text");
}

/*
 * A message's content (at param, e.g. "input[2].content"), or a function
 * call's output: a string, or parts of type input_text (or, when outputs,
 * an assistant's output_text and refusal), joined.  Other parts (images,
 * files, audio) are refused.  Returns 0 with *text owned by the caller, or -1.
 */
static int
content_text(json_object *c, const char *param, int outputs, char **text, size_t *len,
    struct cs_error *err)
{
	size_t j, n, total = 0;
	char *p;

	if (json_object_is_type(c, json_type_string)) {
		n = (size_t)json_object_get_string_len(c);
		if ((*text = malloc(n + 1)) == NULL)
			return cs_fail(err, 500, "internal_error", "out of memory");
		memcpy(*text, json_object_get_string(c), n + 1);
		*len = n;
		return 0;
	}
	if (!json_object_is_type(c, json_type_array))
		return bad(err, param, "%s must be a string or an array of parts", param);
	n = json_object_array_length(c);
	for (j = 0; j < n; j++) {
		json_object *part = json_object_array_get_idx(c, j), *t, *type;
		const char *ty;

		if (!json_object_is_type(part, json_type_object) ||
		    (type = field(part, "type")) == NULL || !json_object_is_type(type, json_type_string))
			return bad(err, param, "%s[%zu] must be a part with a \"type\"", param, j);
		ty = json_object_get_string(type);
		if (strcmp(ty, "input_text") != 0 && (!outputs || (strcmp(ty, "output_text") != 0 &&
		    strcmp(ty, "refusal") != 0))) {
			char at[96];

			snprintf(at, sizeof(at), "%s[%zu]", param, j);
			return bad(err, at, "%s: parts of type \"%.32s\" are not supported; %s", at,
			    ty, outputs ? "input_text, output_text and refusal are" :
			    "input_text is");
		}
		if ((t = part_text(part, ty)) == NULL || !json_object_is_type(t, json_type_string))
			return bad(err, param, "%s[%zu].%s must be a string", param, j,
			    strcmp(ty, "refusal") == 0 ? "refusal" : "text");
		total += (size_t)json_object_get_string_len(t);
	}
	if ((p = malloc(total + 1)) == NULL)
		return cs_fail(err, 500, "internal_error", "out of memory");
	*text = p;
	*len = total;
	for (j = 0; j < n; j++) {
		json_object *part = json_object_array_get_idx(c, j);
		json_object *t = part_text(part, json_object_get_string(field(part, "type")));

		memcpy(p, json_object_get_string(t), (size_t)json_object_get_string_len(t));
		p += json_object_get_string_len(t);
	}
	*p = '\0';
	return 0;
}

/* What the input items are parsed into. */
struct items {
	struct chat_request *req;
	json_object *msgs;       /* req->body's "messages": owns each message's JSON */
	const struct responses_resolver *refs;   /* may be NULL */
};

/* Appends a message whose JSON is m (taken: msgs owns it), with text as its content. */
static int
add(struct items *it, const char *role, const char *text, size_t len, json_object *m,
    const char *param, struct cs_error *err)
{
	if (m == NULL || json_object_array_add(it->msgs, m) != 0) {
		json_object_put(m);
		return cs_fail(err, 500, "internal_error", "out of memory");
	}
	if (request_add_message_json(it->req, role, text, len, m, err) == -1)
		return cs_param(err, param);
	return 0;
}

/* item[name] as a string (non-empty unless empty_ok), else a 400 naming param.name. */
static int
string_of(json_object *item, const char *name, int empty_ok, const char *param,
    json_object **out, struct cs_error *err)
{
	char at[64];

	snprintf(at, sizeof(at), "%s.%s", param, name);
	if ((*out = field(item, name)) == NULL || !json_object_is_type(*out, json_type_string) ||
	    (!empty_ok && json_object_get_string_len(*out) == 0))
		return bad(err, at, "%s must be a%s string", at, empty_ok ? "" : " non-empty");
	return 0;
}

/* A message item: {role, content} as text (developer becomes system). */
static int
message_item(struct items *it, json_object *item, const char *param, struct cs_error *err)
{
	json_object *role, *content, *m;
	const char *r;
	char at[64], *text = NULL;
	size_t len = 0;
	int rc;

	if ((role = field(item, "role")) == NULL || !json_object_is_type(role, json_type_string))
		return bad(err, param, "%s.role must be a string", param);
	r = json_object_get_string(role);
	if (strcmp(r, "user") != 0 && strcmp(r, "system") != 0 &&
	    strcmp(r, "developer") != 0 && strcmp(r, "assistant") != 0)
		return bad(err, param, "%s.role must be user, system, developer or assistant", param);
	if (strcmp(r, "developer") == 0)
		r = "system";
	if ((content = field(item, "content")) == NULL)
		return bad(err, param, "%s.content is missing", param);
	snprintf(at, sizeof(at), "%s.content", param);
	if (content_text(content, at, 1, &text, &len, err) == -1)
		return -1;
	if ((m = json_object_new_object()) != NULL) {
		json_object_object_add(m, "role", json_object_new_string(r));
		json_object_object_add(m, "content", json_object_new_string_len(text, (int)len));
	}
	rc = add(it, r, text, len, m, param, err);
	free(text);
	return rc;
}

/*
 * A function_call item: a tool call of an assistant message, the one just
 * before when it is an assistant message made from an item (parallel calls,
 * or text then calls), else a new one with content null.
 */
static int
call_item(struct items *it, json_object *item, const char *param, struct cs_error *err)
{
	struct chat_request *req = it->req;
	struct chat_message *last = req->nmessages > 0 ? &req->messages[req->nmessages - 1] :
	    NULL;
	json_object *id, *name, *args, *call, *fn, *calls, *m;

	if (string_of(item, "call_id", 0, param, &id, err) == -1 ||
	    string_of(item, "name", 0, param, &name, err) == -1 ||
	    string_of(item, "arguments", 1, param, &args, err) == -1)
		return -1;
	if ((call = json_object_new_object()) == NULL || (fn = json_object_new_object()) == NULL) {
		json_object_put(call);
		return cs_fail(err, 500, "internal_error", "out of memory");
	}
	json_object_object_add(call, "id", json_object_get(id));
	json_object_object_add(call, "type", json_object_new_string("function"));
	json_object_object_add(fn, "name", json_object_get(name));
	json_object_object_add(fn, "arguments", json_object_get(args));
	json_object_object_add(call, "function", fn);
	if (last != NULL && last->json != NULL && strcmp(last->role, "assistant") == 0) {
		m = last->json;
		if (!json_object_object_get_ex(m, "tool_calls", &calls)) {
			calls = json_object_new_array();
			json_object_object_add(m, "tool_calls", calls);
		}
		if (calls == NULL || json_object_array_add(calls, call) != 0) {
			json_object_put(call);
			return cs_fail(err, 500, "internal_error", "out of memory");
		}
		return 0;
	}
	if ((m = json_object_new_object()) != NULL) {
		json_object_object_add(m, "role", json_object_new_string("assistant"));
		json_object_object_add(m, "content", NULL);
		calls = json_object_new_array();
		json_object_array_add(calls, call);
		json_object_object_add(m, "tool_calls", calls);
	} else
		json_object_put(call);
	return add(it, "assistant", "", 0, m, param, err);
}

/* A function_call_output item: a tool message, its output as text. */
static int
output_item(struct items *it, json_object *item, const char *param, struct cs_error *err)
{
	json_object *id, *out, *m;
	char at[64], *text = NULL;
	size_t len = 0;
	int rc;

	if (string_of(item, "call_id", 0, param, &id, err) == -1)
		return -1;
	snprintf(at, sizeof(at), "%s.output", param);
	if ((out = field(item, "output")) == NULL)
		return bad(err, at, "%s is missing", at);
	if (content_text(out, at, 0, &text, &len, err) == -1)
		return -1;
	if ((m = json_object_new_object()) != NULL) {
		json_object_object_add(m, "role", json_object_new_string("tool"));
		json_object_object_add(m, "tool_call_id", json_object_get(id));
		json_object_object_add(m, "content", json_object_new_string_len(text, (int)len));
	}
	rc = add(it, "tool", text, len, m, param, err);
	free(text);
	return rc;
}

static int input_item(struct items *, json_object *, size_t, int, struct cs_error *);

/* An item_reference: the output item of an earlier response it names, as if sent. */
static int
reference_item(struct items *it, json_object *item, size_t i, const char *param,
    struct cs_error *err)
{
	json_object *id, *found = NULL;
	int rc;

	if (it->refs == NULL)
		return bad(err, param, "%s: item_reference items are not supported here: send "
		    "the items in full (with \"store\": false, the AI SDK does)", param);
	if (string_of(item, "id", 0, param, &id, err) == -1)
		return -1;
	/*
	 * A reasoning item would be left out once found: it is not looked up,
	 * so that one of a response that was not kept (stream: false) does too.
	 */
	if (strncmp(json_object_get_string(id), "rs_", 3) == 0)
		return 0;
	if (it->refs->find(it->refs->arg, json_object_get_string(id), &found, err) == -1)
		return cs_param(err, param);
	if (found == NULL)
		return bad(err, param, "%s: item \"%.64s\" is not kept: send the item in full "
		    "(with \"store\": false, the AI SDK does)", param, json_object_get_string(id));
	rc = input_item(it, found, i, 1, err);
	json_object_put(found);
	return rc;
}

/*
 * One item of "input" (resolved: found by an item_reference): a message,
 * function_call, function_call_output, reasoning (skipped: nothing a chat
 * completion takes) or item_reference.
 */
static int
input_item(struct items *it, json_object *item, size_t i, int resolved, struct cs_error *err)
{
	char param[32];
	json_object *type;
	const char *ty = "message";

	snprintf(param, sizeof(param), "input[%zu]", i);
	if (!json_object_is_type(item, json_type_object))
		return bad(err, param, "%s must be an object", param);
	if ((type = field(item, "type")) != NULL) {
		if (!json_object_is_type(type, json_type_string))
			return bad(err, param, "%s.type must be a string", param);
		ty = json_object_get_string(type);
	}
	if (strcmp(ty, "message") == 0)
		return message_item(it, item, param, err);
	if (strcmp(ty, "function_call") == 0)
		return call_item(it, item, param, err);
	if (strcmp(ty, "function_call_output") == 0)
		return output_item(it, item, param, err);
	if (strcmp(ty, "reasoning") == 0)
		return 0;
	if (strcmp(ty, "item_reference") == 0 && !resolved)
		return reference_item(it, item, i, param, err);
	return bad(err, param, "%s: items of type \"%.32s\" are not supported", param, ty);
}

/* "metadata": up to 16 string values, kept as JSON to echo. */
static int
metadata(struct responses_req *rr, json_object *v, struct cs_error *err)
{
	const char *s;

	if (!json_object_is_type(v, json_type_object))
		return bad(err, "metadata", "\"metadata\" must be an object");
	if (json_object_object_length(v) > META_PAIRS)
		return bad(err, "metadata", "\"metadata\" holds at most %d pairs", META_PAIRS);
	json_object_object_foreach(v, key, val) {
		if (strlen(key) > META_KEY || !json_object_is_type(val, json_type_string) ||
		    json_object_get_string_len(val) > META_VALUE)
			return bad(err, "metadata", "\"metadata\" values must be strings of at most "
			    "%d characters, keys at most %d", META_VALUE, META_KEY);
	}
	s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if ((rr->metadata = strdup(s)) == NULL)
		return cs_fail(err, 500, "internal_error", "out of memory");
	return 0;
}

/* A boolean field into *out; absent or null leaves it. */
static int
boolean(json_object *root, const char *name, int *out, struct cs_error *err)
{
	json_object *v = field(root, name);

	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return bad(err, name, "\"%s\" must be true or false", name);
	*out = json_object_get_boolean(v);
	return 0;
}

/* A number field from lo to hi into *out, *has set; absent or null leaves them. */
static int
number(json_object *root, const char *name, double lo, double hi, double *out, int *has,
    struct cs_error *err)
{
	json_object *v = field(root, name);
	double d;

	if (v == NULL)
		return 0;
	d = json_object_get_double(v);
	if (!is_number(v) || !isfinite(d) || d < lo || d > hi)
		return bad(err, name, "\"%s\" must be a number from %g to %g", name, lo, hi);
	*out = d;
	*has = 1;
	return 0;
}

/* Adds root[from] to body as name, when given. */
static void
pass(json_object *body, const char *name, json_object *root, const char *from)
{
	json_object *v = field(root, from);

	if (v != NULL)
		json_object_object_add(body, name, json_object_get(v));
}

/*
 * A Responses API tool or text format (flat: type, name, description,
 * its body, strict) in chat-completions shape, nested under its type:
 * {"type": type, type: {name, description, body, strict}}, each field only
 * when given.  The caller owns it.
 */
static json_object *
nested(const char *type, json_object *flat, const char *body)
{
	json_object *o = json_object_new_object(), *in = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string(type));
	pass(in, "name", flat, "name");
	pass(in, "description", flat, "description");
	pass(in, body, flat, body);
	pass(in, "strict", flat, "strict");
	json_object_object_add(o, type, in);
	return o;
}

/*
 * "tools": function tools, {type, name, description, parameters, strict},
 * into chat-completions' {type, function: {name, description, parameters,
 * strict}}, and "tool_choice" with them (a function's {type, name} as {type,
 * function: {name}}); "parallel_tool_calls" as it is.  None of them is
 * passed on without a function tool, as a chat completion refuses that.
 * Other tools (web_search, file_search...) are 400s: no backend runs them.
 */
static int
tools(json_object *root, json_object *body, struct cs_error *err)
{
	json_object *v = field(root, "tools"), *out, *choice = NULL, *c, *t, *fn;
	size_t i, n;
	char at[48];

	if ((c = field(root, "tool_choice")) != NULL) {
		const char *ty;

		if (json_object_is_type(c, json_type_string)) {
			ty = json_object_get_string(c);
			if (strcmp(ty, "auto") == 0 || strcmp(ty, "none") == 0 ||
			    strcmp(ty, "required") == 0)
				choice = json_object_get(c);
		} else if (json_object_is_type(c, json_type_object) &&
		    (t = field(c, "type")) != NULL && json_object_is_type(t, json_type_string) &&
		    strcmp(json_object_get_string(t), "function") == 0 &&
		    (t = field(c, "name")) != NULL && json_object_is_type(t, json_type_string)) {
			choice = json_object_new_object();
			fn = json_object_new_object();
			json_object_object_add(choice, "type", json_object_new_string("function"));
			json_object_object_add(fn, "name", json_object_get(t));
			json_object_object_add(choice, "function", fn);
		}
		if (choice == NULL)
			return bad(err, "tool_choice", "\"tool_choice\" must be \"auto\", \"none\", "
			    "\"required\" or {\"type\": \"function\", \"name\": ...}");
	}
	if (v == NULL) {
		json_object_put(choice);
		return 0;
	}
	if (!json_object_is_type(v, json_type_array)) {
		json_object_put(choice);
		return bad(err, "tools", "\"tools\" must be an array");
	}
	out = json_object_new_array();
	for (i = 0, n = json_object_array_length(v); i < n; i++) {
		json_object *tool = json_object_array_get_idx(v, i), *type, *name;

		snprintf(at, sizeof(at), "tools[%zu]", i);
		if (!json_object_is_type(tool, json_type_object) ||
		    (type = field(tool, "type")) == NULL ||
		    !json_object_is_type(type, json_type_string)) {
			bad(err, at, "%s must be a tool with a \"type\"", at);
			goto fail;
		}
		if (strcmp(json_object_get_string(type), "function") != 0) {
			bad(err, at, "%s: tools of type \"%.32s\" are not supported, as no "
			    "backend here runs them: give function tools", at,
			    json_object_get_string(type));
			goto fail;
		}
		if ((name = field(tool, "name")) == NULL ||
		    !json_object_is_type(name, json_type_string)) {
			snprintf(at, sizeof(at), "tools[%zu].name", i);
			bad(err, at, "%s must be a string", at);
			goto fail;
		}
		json_object_array_add(out, nested("function", tool, "parameters"));
	}
	if (n == 0) {
		json_object_put(out);
		json_object_put(choice);
		return 0;
	}
	json_object_object_add(body, "tools", out);
	if (choice != NULL)
		json_object_object_add(body, "tool_choice", choice);
	pass(body, "parallel_tool_calls", root, "parallel_tool_calls");
	return 0;
fail:
	json_object_put(out);
	json_object_put(choice);
	return -1;
}

/*
 * The chat-completions fields an openai backend passes upstream, into
 * body (chat_request.body, whose "messages" are chatstream's own):
 * max_output_tokens as max_tokens, temperature, top_p, user (or
 * safety_identifier), reasoning.effort as reasoning_effort, text.format as
 * response_format, the tools.  Returns 0 or -1.
 */
static int
chat_body(json_object *root, json_object *body, struct cs_error *err)
{
	json_object *v, *f;

	pass(body, "max_tokens", root, "max_output_tokens");
	pass(body, "temperature", root, "temperature");
	pass(body, "top_p", root, "top_p");
	pass(body, "user", root, "safety_identifier");
	pass(body, "user", root, "user");
	if ((v = field(root, "reasoning")) != NULL && json_object_is_type(v, json_type_object))
		pass(body, "reasoning_effort", v, "effort");
	if ((v = field(root, "text")) != NULL && json_object_is_type(v, json_type_object) &&
	    (f = field(v, "format")) != NULL && json_object_is_type(f, json_type_object) &&
	    (v = field(f, "type")) != NULL && json_object_is_type(v, json_type_string)) {
		if (strcmp(json_object_get_string(v), "json_schema") == 0) {
			json_object_object_add(body, "response_format",
			    nested("json_schema", f, "schema"));
		} else if (strcmp(json_object_get_string(v), "json_object") == 0)
			json_object_object_add(body, "response_format", json_object_get(f));
	}
	return tools(root, body, err);
}

/* The body's fields, once it is known to be a JSON object. */
static int
fields(json_object *root, const struct responses_resolver *refs, struct chat_request *req,
    struct responses_req *rr, struct cs_error *err)
{
	struct items it;
	json_object *v, *input;
	size_t i, n;

	/* The body owns the JSON of the messages made from items, as a chat body does. */
	if ((req->body = json_object_new_object()) == NULL ||
	    (it.msgs = json_object_new_array()) == NULL ||
	    json_object_object_add(req->body, "messages", it.msgs) != 0)
		return cs_fail(err, 500, "internal_error", "out of memory");
	it.req = req;
	it.refs = refs;

	if ((v = field(root, "previous_response_id")) != NULL)
		return bad(err, "previous_response_id", "\"previous_response_id\" is not "
		    "supported: responses are not stored as conversations; send the whole "
		    "conversation in \"input\"");
	if ((v = field(root, "conversation")) != NULL)
		return bad(err, "conversation", "\"conversation\" is not supported: "
		    "send the whole conversation in \"input\"");
	if ((v = field(root, "model")) != NULL) {
		size_t len = (size_t)json_object_get_string_len(v);

		if (!json_object_is_type(v, json_type_string) || len == 0 || len > 128 ||
		    memchr(json_object_get_string(v), '\0', len) != NULL)
			return bad(err, "model", "\"model\" must be a model name");
		if ((req->model = strdup(json_object_get_string(v))) == NULL)
			return cs_fail(err, 500, "internal_error", "out of memory");
	}
	if ((v = field(root, "max_output_tokens")) != NULL) {
		int64_t t = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || t < 1 || t > 1000000)
			return bad(err, "max_output_tokens", "\"max_output_tokens\" must be an "
			    "integer from 1 to 1000000");
		rr->max_output_tokens = req->max_tokens = (long)t;
	}
	if (number(root, "temperature", 0, 2, &rr->temperature, &rr->has_temperature, err) == -1 ||
	    number(root, "top_p", 0, 1, &rr->top_p, &rr->has_top_p, err) == -1 ||
	    boolean(root, "stream", &req->stream, err) == -1 ||
	    boolean(root, "background", &rr->background, err) == -1 ||
	    boolean(root, "store", &rr->store, err) == -1)
		return -1;
	req->temperature = rr->temperature;
	req->has_temperature = rr->has_temperature;
	if ((v = field(root, "metadata")) != NULL && metadata(rr, v, err) == -1)
		return -1;
	if ((v = field(root, "instructions")) != NULL) {
		if (!json_object_is_type(v, json_type_string))
			return bad(err, "instructions", "\"instructions\" must be a string");
		if (request_add_message(req, "system", json_object_get_string(v),
		    (size_t)json_object_get_string_len(v), err) == -1)
			return cs_param(err, "instructions");
	}
	if ((input = field(root, "input")) == NULL)
		return bad(err, "input", "\"input\" is required");
	if (json_object_is_type(input, json_type_string)) {
		if (request_add_message(req, "user", json_object_get_string(input),
		    (size_t)json_object_get_string_len(input), err) == -1)
			return cs_param(err, "input");
	} else if (json_object_is_type(input, json_type_array)) {
		for (i = 0, n = json_object_array_length(input); i < n; i++)
			if (input_item(&it, json_object_array_get_idx(input, i), i, 0, err) == -1)
				return -1;
	} else
		return bad(err, "input", "\"input\" must be a string or an array of items");
	if (request_finish(req, err) == -1)
		return cs_param(err, "input");
	return chat_body(root, req->body, err);
}

int
responses_parse(const char *body, size_t len, int max_depth,
    const struct responses_resolver *refs, struct chat_request *req,
    struct responses_req *rr, struct cs_error *err)
{
	json_object *root;
	int rc;

	rr->store = 1;
	if (request_json_object(body, len, max_depth, &root, err) == -1)
		return -1;
	rc = fields(root, refs, req, rr, err);
	req->responses = root;   /* for an upstream that speaks this API itself */
	return rc;
}

void
responses_req_free(struct responses_req *rr)
{
	free(rr->metadata);
	memset(rr, 0, sizeof(*rr));
}
