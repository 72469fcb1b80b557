/* unit_responses.c: Responses API bodies into requests, and the response object they echo. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "backend.h"
#include "buf.h"
#include "error.h"
#include "request.h"
#include "responses.h"
#include "stream.h"
#include "stream_delta.h"
#include "tap.h"

#define DEPTH	32	/* the configured default max_json_depth */

/* Parses body; 0 or -1 as responses_parse(), req and rr left for the caller to free. */
static int
parse(const char *body, struct chat_request *req, struct responses_req *rr, struct cs_error *e)
{
	memset(req, 0, sizeof(*req));
	memset(rr, 0, sizeof(*rr));
	cs_error_clear(e);
	return responses_parse(body, strlen(body), DEPTH, NULL, req, rr, e);
}

/* body[name] as compact JSON (valid until body changes). */
static const char *
json_of(json_object *body, const char *name)
{
	json_object *v;

	if (body == NULL || !json_object_object_get_ex(body, name, &v))
		return "(absent)";
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
}

/*
 * A resolver that knows the output items of one earlier response (and
 * counts its calls); "fail" makes it fail as a store would.
 */
static const char *kept = "[{\"id\":\"msg_K\",\"type\":\"message\",\"status\":"
    "\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\","
    "\"text\":\"Let me look.\",\"annotations\":[]}]},{\"id\":\"rs_K\",\"type\":"
    "\"reasoning\",\"summary\":[]},{\"id\":\"fc_K_0\",\"type\":\"function_call\","
    "\"status\":\"completed\",\"call_id\":\"call_k\",\"name\":\"f\",\"arguments\":"
    "\"{}\"}]";
static int finds;

static int
find(void *arg, const char *id, json_object **item, struct cs_error *err)
{
	json_object *items = arg;
	size_t i;

	finds++;
	*item = NULL;
	if (strcmp(id, "fail") == 0)
		return cs_fail(err, 503, "journal_unavailable", "the stream store cannot be read");
	for (i = 0; i < json_object_array_length(items); i++) {
		json_object *it = json_object_array_get_idx(items, i);

		if (strcmp(json_object_get_string(json_object_object_get(it, "id")), id) == 0)
			*item = json_object_get(it);
	}
	return 0;
}

static void
refused_by(const struct responses_resolver *refs, const char *body, const char *param,
    int status, const char *what)
{
	struct chat_request req;
	struct responses_req rr;
	struct cs_error e;
	int rc;

	memset(&req, 0, sizeof(req));
	memset(&rr, 0, sizeof(rr));
	cs_error_clear(&e);
	rc = responses_parse(body, strlen(body), DEPTH, refs, &req, &rr, &e);
	is_int(rc, -1, "%s: refused", what);
	is_int(e.status, status, "%s: %d", what, status);
	is_str(e.param, param, "%s: param %s", what, param);
	if (status == 400 && strchr(param, '[') != NULL)
		ok(strstr(e.message, param) != NULL, "%s: the message names %s (%s)", what,
		    param, e.message);
	chat_request_free(&req);
	responses_req_free(&rr);
}

static void
refused(const char *body, const char *param, const char *what)
{
	refused_by(NULL, body, param, 400, what);
}

static void
test_input(void)
{
	struct chat_request req;
	struct responses_req rr;
	struct cs_error e;

	is_int(parse("{\"input\":\"hi there\",\"instructions\":\"be brief\"}", &req, &rr, &e), 0,
	    "string input: accepted");
	is_int((long long)req.nmessages, 2, "string input: instructions, then the user message");
	is_str(req.messages[0].role, "system", "instructions: a system message");
	is_str(req.messages[1].content, "hi there", "string input: the user's text");
	is_mem(req.prompt, req.prompt_len, "hi there", 8, "string input: the prompt");
	is_int(rr.store, 1, "store: true unless given");
	chat_request_free(&req);
	responses_req_free(&rr);

	is_int(parse("{\"model\":\"demo\",\"stream\":true,\"background\":true,\"store\":false,"
	    "\"max_output_tokens\":7,\"temperature\":0.5,\"top_p\":0.9,\"tools\":[],"
	    "\"metadata\":{\"a\":\"b\"},\"input\":[{\"role\":\"developer\",\"content\":\"sys\"},"
	    "{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\","
	    "\"text\":\"earlier\"}]},{\"role\":\"user\",\"content\":[{\"type\":\"input_text\","
	    "\"text\":\"one \"},{\"type\":\"input_text\",\"text\":\"two\"}]}]}", &req, &rr, &e), 0,
	    "items: accepted");
	is_int((long long)req.nmessages, 3, "items: three messages");
	is_str(req.messages[0].role, "system", "items: developer becomes system");
	is_str(req.messages[1].content, "earlier", "items: the assistant's output_text");
	is_str(req.messages[2].content, "one two", "items: input_text parts joined");
	is_str(req.model, "demo", "model");
	ok(req.stream && rr.background && !rr.store, "stream, background, store");
	is_int(req.max_tokens, 7, "max_output_tokens is the backend's max_tokens");
	ok(req.has_temperature && req.temperature == 0.5, "temperature");
	ok(rr.has_top_p && rr.top_p == 0.9, "top_p kept to echo");
	is_str(rr.metadata, "{\"a\":\"b\"}", "metadata kept to echo");
	is_str(json_of(req.body, "messages"), "[{\"role\":\"system\",\"content\":\"sys\"},"
	    "{\"role\":\"assistant\",\"content\":\"earlier\"},{\"role\":\"user\","
	    "\"content\":\"one two\"}]", "items: each message's JSON, in the body");
	ok(req.messages[2].json == json_object_array_get_idx(json_object_object_get(req.body,
	    "messages"), 2), "items: a message's json is the body's");
	json_object_object_del(req.body, "messages");
	is_str(json_object_to_json_string_ext(req.body, JSON_C_TO_STRING_PLAIN),
	    "{\"max_tokens\":7,\"temperature\":0.5,\"top_p\":0.9}",
	    "the body an openai backend passes on: chat-completions names, no empty tools");
	chat_request_free(&req);
	responses_req_free(&rr);
}

static void
test_refused(void)
{
	refused("{\"input\":\"x\",\"previous_response_id\":\"resp_1\"}", "previous_response_id",
	    "previous_response_id");
	refused("{\"input\":\"x\",\"conversation\":\"c\"}", "conversation", "conversation");
	refused("{}", "input", "no input");
	refused("{\"input\":\"  \"}", "input", "a blank prompt");
	refused("{\"input\":[{\"role\":\"assistant\",\"content\":\"x\"}]}", "input",
	    "no user message");
	refused("{\"input\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "input[0]", "role tool");
	refused("{\"input\":[{\"type\":\"item_reference\",\"id\":\"x\"}]}", "input[0]",
	    "an item_reference, no resolver");
	refused("{\"input\":[{\"role\":\"user\",\"content\":\"q\"},{\"type\":"
	    "\"function_call\",\"name\":\"f\",\"arguments\":\"{}\"}]}", "input[1].call_id",
	    "a function_call without call_id");
	refused("{\"input\":[{\"role\":\"user\",\"content\":\"q\"},{\"type\":"
	    "\"function_call\",\"call_id\":\"c\",\"name\":\"\",\"arguments\":\"{}\"}]}",
	    "input[1].name", "a function_call with an empty name");
	refused("{\"input\":[{\"role\":\"user\",\"content\":\"q\"},{\"type\":"
	    "\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":{}}]}",
	    "input[1].arguments", "a function_call whose arguments are not a string");
	refused("{\"input\":[{\"role\":\"user\",\"content\":\"q\"},{\"type\":"
	    "\"function_call_output\",\"output\":\"x\"}]}", "input[1].call_id",
	    "a function_call_output without call_id");
	refused("{\"input\":[{\"role\":\"user\",\"content\":\"q\"},{\"type\":"
	    "\"function_call_output\",\"call_id\":\"c\"}]}", "input[1].output",
	    "a function_call_output without output");
	refused("{\"input\":[{\"role\":\"user\",\"content\":\"q\"},{\"type\":"
	    "\"function_call_output\",\"call_id\":\"c\",\"output\":[{\"type\":\"input_text\","
	    "\"text\":\"a\"},{\"type\":\"input_image\",\"image_url\":\"u\"}]}]}",
	    "input[1].output[1]", "a function_call_output with an image");
	refused("{\"input\":[{\"role\":\"user\",\"content\":\"q\"},{\"type\":"
	    "\"function_call_output\",\"call_id\":\"c\",\"output\":[{\"type\":\"output_text\","
	    "\"text\":\"a\"}]}]}", "input[1].output[0]", "a function_call_output with output_text");
	refused("{\"input\":[{\"type\":\"web_search_call\",\"id\":\"ws\"},\"x\"]}", "input[0]",
	    "a web_search_call item");
	refused("{\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":\"f\"},"
	    "{\"type\":\"web_search\"}]}", "tools[1]", "a web_search tool");
	refused("{\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"function\":"
	    "{\"name\":\"f\"}}]}", "tools[0].name", "a tool in chat-completions shape");
	refused("{\"input\":\"x\",\"tools\":[\"f\"]}", "tools[0]", "a tool not an object");
	refused("{\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],"
	    "\"tool_choice\":\"sometimes\"}", "tool_choice", "tool_choice not a choice");
	refused("{\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],"
	    "\"tool_choice\":{\"type\":\"file_search\"}}", "tool_choice",
	    "tool_choice of a hosted tool");
	refused("{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":"
	    "\"a\"},{\"type\":\"input_image\",\"image_url\":\"u\"}]}]}", "input[0].content[1]",
	    "an image part");
	refused("{\"input\":\"x\",\"max_output_tokens\":0}", "max_output_tokens",
	    "max_output_tokens 0");
	refused("{\"input\":\"x\",\"temperature\":2.5}", "temperature", "temperature 2.5");
	refused("{\"input\":\"x\",\"top_p\":\"1\"}", "top_p", "top_p a string");
	refused("{\"input\":\"x\",\"background\":1}", "background", "background not a boolean");
	refused("{\"input\":\"x\",\"metadata\":{\"a\":1}}", "metadata", "metadata not strings");
	refused("{\"input\":\"x\",\"tools\":{}}", "tools", "tools not an array");
	refused("{\"input\":\"x\",\"model\":\"\"}", "model", "an empty model");
}

/* A tool round trip as items: what each backend sees, and what an openai one sends. */
static void
test_tools(void)
{
	struct chat_request req;
	struct responses_req rr;
	struct cs_error e;

	is_int(parse("{\"input\":[{\"role\":\"user\",\"content\":\"weather?\"},"
	    "{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[{\"type\":\"summary_text\","
	    "\"text\":\"think\"}],\"encrypted_content\":\"e\"},"
	    "{\"type\":\"function_call\",\"id\":\"fc_1\",\"status\":\"completed\","
	    "\"call_id\":\"call_a\",\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":"
	    "\\\"Paris\\\"}\"},"
	    "{\"type\":\"function_call\",\"call_id\":\"call_b\",\"name\":\"get_time\","
	    "\"arguments\":\"{}\"},"
	    "{\"type\":\"function_call_output\",\"call_id\":\"call_a\",\"output\":\"18 C\"},"
	    "{\"type\":\"function_call_output\",\"call_id\":\"call_b\",\"output\":["
	    "{\"type\":\"input_text\",\"text\":\"noon \"},{\"type\":\"input_text\","
	    "\"text\":\"UTC\"}]},"
	    "{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":"
	    "\"output_text\",\"text\":\"Checking more.\"}]},"
	    "{\"type\":\"function_call\",\"call_id\":\"call_c\",\"name\":\"get_weather\","
	    "\"arguments\":\"{}\"},"
	    "{\"type\":\"function_call_output\",\"call_id\":\"call_c\",\"output\":\"\"}],"
	    "\"tools\":[{\"type\":\"function\",\"name\":\"get_weather\",\"description\":"
	    "\"d\",\"parameters\":{\"type\":\"object\"},\"strict\":true},{\"type\":"
	    "\"function\",\"name\":\"get_time\"}],\"tool_choice\":{\"type\":\"function\","
	    "\"name\":\"get_time\"},\"parallel_tool_calls\":false}", &req, &rr, &e), 0,
	    "a tool round trip as items: accepted (%s)", e.message);
	is_int((long long)req.nmessages, 6, "the reasoning skipped, the parallel calls merged: "
	    "six messages");
	if (req.nmessages == 6) {
		is_str(req.messages[1].role, "assistant", "function_call: an assistant message");
		is_mem(req.messages[1].content, req.messages[1].content_len, "", 0,
		    "function_call: its text is empty");
		is_str(req.messages[2].role, "tool", "function_call_output: a tool message");
		is_str(req.messages[2].content, "18 C", "function_call_output: the output is its text");
		is_str(req.messages[3].content, "noon UTC", "function_call_output: parts joined");
		is_str(req.messages[4].content, "Checking more.", "the assistant's text, then a call");
		ok(req.messages[5].json != NULL && req.messages[5].content_len == 0,
		    "an empty output: a tool message with empty content");
	}
	is_mem(req.prompt, req.prompt_len, "weather?", 8, "the prompt: the last user message");
	is_str(json_of(req.body, "messages"),
	    "[{\"role\":\"user\",\"content\":\"weather?\"},"
	    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
	    "{\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
	    "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
	    "{\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"get_time\","
	    "\"arguments\":\"{}\"}}]},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"call_a\",\"content\":\"18 C\"},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"call_b\",\"content\":\"noon UTC\"},"
	    "{\"role\":\"assistant\",\"content\":\"Checking more.\",\"tool_calls\":["
	    "{\"id\":\"call_c\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
	    "\"arguments\":\"{}\"}}]},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"call_c\",\"content\":\"\"}]",
	    "the messages' JSON: one assistant message for the parallel calls, the text and "
	    "its call in one, tool messages");
	is_str(json_of(req.body, "tools"), "[{\"type\":\"function\",\"function\":{\"name\":"
	    "\"get_weather\",\"description\":\"d\",\"parameters\":{\"type\":\"object\"},"
	    "\"strict\":true}},{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}]",
	    "tools: in chat-completions shape");
	is_str(json_of(req.body, "tool_choice"), "{\"type\":\"function\",\"function\":"
	    "{\"name\":\"get_time\"}}", "tool_choice: a function's, in chat-completions shape");
	is_str(json_of(req.body, "parallel_tool_calls"), "false", "parallel_tool_calls: as is");
	chat_request_free(&req);
	responses_req_free(&rr);

	is_int(parse("{\"input\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":"
	    "\"assistant\",\"content\":[{\"type\":\"refusal\",\"refusal\":\"I can't.\","
	    "\"text\":\"longer than the refusal\"}]},{\"role\":\"user\",\"content\":\"q\"}]}",
	    &req, &rr, &e), 0, "an assistant's refusal part: accepted");
	is_str(req.nmessages == 3 ? req.messages[1].content : "", "I can't.",
	    "an assistant's refusal part: its refusal is the text");
	chat_request_free(&req);
	responses_req_free(&rr);

	is_int(parse("{\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],"
	    "\"tool_choice\":\"required\"}", &req, &rr, &e), 0, "tool_choice required: accepted");
	is_str(json_of(req.body, "tool_choice"), "\"required\"", "tool_choice: a string as is");
	is_str(json_of(req.body, "parallel_tool_calls"), "(absent)",
	    "parallel_tool_calls: absent when not given");
	chat_request_free(&req);
	responses_req_free(&rr);
	is_int(parse("{\"input\":\"x\",\"tools\":[],\"tool_choice\":\"auto\","
	    "\"parallel_tool_calls\":true}", &req, &rr, &e), 0, "no tools, a tool_choice: accepted");
	ok(strcmp(json_of(req.body, "tools"), "(absent)") == 0 &&
	    strcmp(json_of(req.body, "tool_choice"), "(absent)") == 0 &&
	    strcmp(json_of(req.body, "parallel_tool_calls"), "(absent)") == 0,
	    "no function tools: neither tools, tool_choice nor parallel_tool_calls passed on");
	chat_request_free(&req);
	responses_req_free(&rr);
}

/* item_reference items, found through a resolver. */
static void
test_references(void)
{
	json_object *items = json_tokener_parse(kept);
	struct responses_resolver refs = { find, items };
	struct chat_request req;
	struct responses_req rr;
	struct cs_error e;
	const char *body;

	body = "{\"input\":[{\"role\":\"user\",\"content\":\"q\"},"
	    "{\"type\":\"item_reference\",\"id\":\"msg_K\"},{\"type\":\"item_reference\","
	    "\"id\":\"rs_K\"},{\"type\":\"item_reference\",\"id\":\"fc_K_0\"},"
	    "{\"type\":\"function_call_output\",\"call_id\":\"call_k\",\"output\":\"r\"}]}";

	memset(&req, 0, sizeof(req));
	memset(&rr, 0, sizeof(rr));
	cs_error_clear(&e);
	finds = 0;
	is_int(responses_parse(body, strlen(body), DEPTH, &refs, &req, &rr, &e), 0,
	    "item_reference: accepted (%s)", e.message);
	is_int(finds, 2, "item_reference: each id looked up, but a reasoning item's");
	is_str(json_of(req.body, "messages"), "[{\"role\":\"user\",\"content\":\"q\"},"
	    "{\"role\":\"assistant\",\"content\":\"Let me look.\",\"tool_calls\":["
	    "{\"id\":\"call_k\",\"type\":\"function\",\"function\":{\"name\":\"f\","
	    "\"arguments\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_k\","
	    "\"content\":\"r\"}]",
	    "item_reference: the items it names, as if sent (the reasoning skipped)");
	chat_request_free(&req);
	responses_req_free(&rr);
	json_object_put(items);	/* the request holds its own references */

	items = json_tokener_parse(kept);
	refs.arg = items;
	refused_by(&refs, "{\"input\":[{\"role\":\"user\",\"content\":\"q\"},"
	    "{\"type\":\"item_reference\",\"id\":\"msg_gone\"}]}", "input[1]", 400,
	    "item_reference to an item not kept");
	refused_by(&refs, "{\"input\":[{\"role\":\"user\",\"content\":\"q\"},"
	    "{\"type\":\"item_reference\"}]}", "input[1].id", 400, "item_reference without id");
	memset(&req, 0, sizeof(req));
	memset(&rr, 0, sizeof(rr));
	body = "{\"input\":[{\"role\":\"user\",\"content\":\"q\"},{\"type\":"
	    "\"item_reference\",\"id\":\"rs_gone\"}]}";
	finds = 0;
	ok(responses_parse(body, strlen(body), DEPTH, &refs, &req, &rr, &e) == 0 && finds == 0 &&
	    req.nmessages == 1, "item_reference to a reasoning item not kept: left out unread");
	chat_request_free(&req);
	responses_req_free(&rr);
	refused_by(&refs, "{\"input\":[{\"role\":\"user\",\"content\":\"q\"},"
	    "{\"type\":\"item_reference\",\"id\":\"fail\"}]}", "input[1]", 503,
	    "item_reference when the store fails");
	json_object_put(items);
}

static void
test_object(void)
{
	struct responses_req rr;
	struct responses_view v;
	struct stream s;
	struct stream_call *c;
	struct conf cf;
	struct buf b;
	json_object *o, *x, *item;

	/* A stream that gave reasoning, then text, then a tool call: three items. */
	memset(&cf, 0, sizeof(cf));
	cf.max_event = 65536;
	memset(&s, 0, sizeof(s));
	s.conf = &cf;
	s.format = STREAM_RESPONSES_JSON;
	strcpy(s.id, "ID");
	s.text_part = 0;
	s.refusal_part = -1;
	buf_init(&s.answer, 1024);
	buf_init(&s.reasoning, 1024);
	buf_init(&s.refusal, 1024);
	buf_init(&s.logprobs, 1024);
	buf_init(&s.usage_extra, 1024);
	(void)buf_adds(&s.answer, "a\\nb");
	(void)buf_adds(&s.reasoning, "think");
	(void)buf_adds(&s.usage_extra, "\"completion_tokens_details\":{\"reasoning_tokens\":4}");
	c = stream_call_slot(&s, 0);
	ok(c != NULL, "object: a call slot");
	(void)buf_adds(&c->name, "get_weather");
	(void)buf_adds(&c->args, "{\\\"city\\\":1}");
	s.items[0] = RESPONSES_REASONING;
	s.items[1] = RESPONSES_MESSAGE;
	s.items[2] = 0;
	s.nitems = 3;
	memset(&rr, 0, sizeof(rr));
	rr.store = 1;
	rr.max_output_tokens = 5;
	rr.metadata = "{\"k\":\"v\"}";
	memset(&v, 0, sizeof(v));
	v.id = "ID";
	v.created = 7;
	v.model = "m\"odel";
	v.status = "completed";
	v.rr = &rr;
	v.s = &s;
	v.item_status = "completed";
	v.has_usage = 1;
	v.input_tokens = 2;
	v.output_tokens = 3;
	buf_init(&b, 8192);
	is_int(responses_object(&b, &v), 0, "object: written");
	o = json_tokener_parse(b.data);
	ok(o != NULL, "object: JSON");
	ok(json_object_object_get_ex(o, "id", &x) && strcmp(json_object_get_string(x),
	    "resp_ID") == 0, "object: id resp_<id>");
	ok(json_object_object_get_ex(o, "model", &x) && strcmp(json_object_get_string(x),
	    "m\"odel") == 0, "object: the model, escaped");
	ok(json_object_object_get_ex(o, "output", &x) && json_object_array_length(x) == 3,
	    "object: three output items");
	item = json_object_array_get_idx(x, 0);
	ok(strcmp(json_object_get_string(json_object_object_get(item, "type")), "reasoning") == 0 &&
	    strcmp(json_object_get_string(json_object_object_get(item, "id")), "rs_ID") == 0 &&
	    strcmp(json_object_get_string(json_object_object_get(json_object_array_get_idx(
	    json_object_object_get(item, "content"), 0), "text")), "think") == 0,
	    "object: output[0] the reasoning, its text whole");
	item = json_object_array_get_idx(x, 1);
	ok(strcmp(json_object_get_string(json_object_object_get(item, "id")), "msg_ID") == 0 &&
	    strcmp(json_object_get_string(json_object_object_get(json_object_array_get_idx(
	    json_object_object_get(item, "content"), 0), "text")), "a\nb") == 0,
	    "object: output[1] the message, its text unescaped once");
	item = json_object_array_get_idx(x, 2);
	ok(strcmp(json_object_get_string(json_object_object_get(item, "type")),
	    "function_call") == 0 &&
	    strcmp(json_object_get_string(json_object_object_get(item, "id")), "fc_ID_0") == 0 &&
	    strcmp(json_object_get_string(json_object_object_get(item, "call_id")),
	    "call_ID_0") == 0 &&
	    strcmp(json_object_get_string(json_object_object_get(item, "name")),
	    "get_weather") == 0 &&
	    strcmp(json_object_get_string(json_object_object_get(item, "arguments")),
	    "{\"city\":1}") == 0,
	    "object: output[2] the call: its ids, name, arguments (a call_id made when none came)");
	ok(json_object_object_get_ex(o, "usage", &x) &&
	    json_object_get_int(json_object_object_get(json_object_object_get(x,
	    "output_tokens_details"), "reasoning_tokens")) == 4,
	    "object: usage.output_tokens_details.reasoning_tokens from the backend's details");
	ok(json_object_object_get_ex(o, "usage", &x) &&
	    json_object_get_int(json_object_object_get(x, "total_tokens")) == 5,
	    "object: usage.total_tokens");
	ok(json_object_object_get_ex(o, "metadata", &x) &&
	    strcmp(json_object_get_string(json_object_object_get(x, "k")), "v") == 0,
	    "object: metadata");
	ok(json_object_object_get_ex(o, "max_output_tokens", &x) && json_object_get_int(x) == 5,
	    "object: max_output_tokens");
	json_object_put(o);
	buf_free(&b);
	buf_init(&b, 64);
	is_int(responses_object(&b, &v), -1, "object: -1 past the buffer's cap");
	buf_free(&b);
	buf_free(&s.answer);
	stream_delta_close(&s);   /* the rest, and the call */
}

int
main(void)
{
	test_input();
	test_refused();
	test_tools();
	test_references();
	test_object();
	return done_testing();
}
