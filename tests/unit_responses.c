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
	return responses_parse(body, strlen(body), DEPTH, req, rr, e);
}

static void
refused(const char *body, const char *param, const char *what)
{
	struct chat_request req;
	struct responses_req rr;
	struct cs_error e;

	is_int(parse(body, &req, &rr, &e), -1, "%s: refused", what);
	is_int(e.status, 400, "%s: 400", what);
	is_str(e.param, param, "%s: param %s", what, param);
	chat_request_free(&req);
	responses_req_free(&rr);
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
	is_str(json_object_to_json_string_ext(req.body, JSON_C_TO_STRING_PLAIN),
	    "{\"max_tokens\":7,\"temperature\":0.5,\"top_p\":0.9}",
	    "the body an openai backend passes on: chat-completions names");
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
	refused("{\"input\":[{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\","
	    "\"arguments\":\"{}\"}]}", "input[0]", "a function_call item");
	refused("{\"input\":[{\"type\":\"item_reference\",\"id\":\"x\"}]}", "input[0]",
	    "an item_reference");
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
	test_object();
	return done_testing();
}
