/* unit_stream.c: the exact bytes a reader gets in each of the three formats. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "buf.h"
#include "conf.h"
#include "memconn.h"
#include "stream.h"
#include "tap.h"
#include "stream_wire.h"

/* Each case compares a stream's whole response with the expected one (stream_wire.h). */

/* The head, the retry line, the comment, and the start of the meta event. */
#define NATIVE_HEAD SSE_HEAD \
    "retry: 3000\n" \
    ": chatstream\n" \
    "event: meta\n"

/* How every OpenAI chunk starts. */
#define CHUNK "{\"id\":\"chatcmpl-@ID@\",\"object\":\"chat.completion.chunk\"," \
    "\"created\":@T@,\"model\":\"demo\",\"system_fingerprint\":\"chatstream-" PACKAGE_VERSION "\"," \
    "\"choices\":["

/* Tokens as a backend hands them: a UTF-8 character split over two, a quote, a newline. */
static void
tokens(struct stream *s)
{
	ok(stream_token(s, "Hello", 5) == 0, "a token");
	ok(stream_token(s, ", w\xc3", 4) == 0, "a token ending in half a character");
	ok(stream_token(s, "\xb6rld \"x\"\n", 9) == 0, "its other half, a quote, a newline");
}

static void
native(const struct conf *cf)
{
	struct backend_result res = { NULL, 0, 0 };
	struct memconn w;
	struct stream s;

	open_stream(&s, &w, cf, STREAM_NATIVE);
	s.resume_url = "/chat/streams/x";
	ok(stream_begin(&s) == 0, "native: begin");
	is_int(w.flushes, 1, "native: the head and the meta event in one flush");
	tokens(&s);
	ok(stream_heartbeat(&s) == 0, "native: heartbeat");
	ok(stream_done(&s, &res, 3) == 0, "native: done");
	is_int(w.flushes, 6, "native: one flush per event and heartbeat");
	is_wire(&w, &s, NATIVE_HEAD
	    "data: {\"id\":\"@ID@\",\"model\":\"demo\",\"created\":@T@,"
	    "\"resume\":\"/chat/streams/x\"}\nid: @ID@.1\n\n"
	    "data: {\"text\":\"Hello\"}\nid: @ID@.2\n\n"
	    "data: {\"text\":\", w\"}\nid: @ID@.3\n\n"
	    "data: {\"text\":\"\xc3\xb6rld \\\"x\\\"\\n\"}\nid: @ID@.4\n\n"
	    ": ping\n"
	    "event: done\ndata: {\"finish_reason\":\"stop\",\"usage\":{\"prompt_tokens\":3,"
	    "\"completion_tokens\":3,\"total_tokens\":6},\"ttft_ms\":@MS@,\"duration_ms\":@MS@}\n"
	    "id: @ID@.5\n\n",
	    "native: the whole response");
	close_stream(&s, &w);
}

static void
openai(const struct conf *cf)
{
	struct backend_result res = { "length", 4, 7 };
	struct memconn w;
	struct stream s;

	open_stream(&s, &w, cf, STREAM_OPENAI);
	s.include_usage = 1;
	ok(stream_begin(&s) == 0, "openai: begin");
	tokens(&s);
	ok(stream_heartbeat(&s) == 0, "openai: heartbeat");
	ok(stream_done(&s, &res, 3) == 0, "openai: done");
	is_wire(&w, &s, SSE_HEAD
	    "data: " CHUNK "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
	    "\"finish_reason\":null}],\"usage\":null}\nid: @ID@.1\n\n"
	    "data: " CHUNK "{\"index\":0,\"delta\":{\"content\":\"Hello\"},"
	    "\"finish_reason\":null}],\"usage\":null}\nid: @ID@.2\n\n"
	    "data: " CHUNK "{\"index\":0,\"delta\":{\"content\":\", w\"},"
	    "\"finish_reason\":null}],\"usage\":null}\nid: @ID@.3\n\n"
	    "data: " CHUNK "{\"index\":0,\"delta\":{\"content\":\"\xc3\xb6rld \\\"x\\\"\\n\"},"
	    "\"finish_reason\":null}],\"usage\":null}\nid: @ID@.4\n\n"
	    ": ping\n"
	    "data: " CHUNK "{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}],\"usage\":null}\nid: @ID@.5\n\n"
	    "data: " CHUNK "],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":7,"
	    "\"total_tokens\":10}}\nid: @ID@.6\n\n"
	    "data: [DONE]\nid: @ID@.7\n\n",
	    "openai: the whole response");
	close_stream(&s, &w);
}

#define COMPLETION(content) \
    "{\"id\":\"chatcmpl-@ID@\",\"object\":\"chat.completion\",\"created\":@T@," \
    "\"model\":\"demo\",\"system_fingerprint\":\"chatstream-" PACKAGE_VERSION "\"," \
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\"," \
    "\"content\":\"" content "\"},\"logprobs\":null," \
    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":3," \
    "\"total_tokens\":6}}\n"

static void
openai_json(const struct conf *cf)
{
	struct backend_result res = { NULL, 0, 0 };
	struct memconn w;
	struct stream s;

	/* An answer ready before any heartbeat: the head and the object, nothing else. */
	open_stream(&s, &w, cf, STREAM_OPENAI_JSON);
	ok(stream_begin(&s) == 0, "json: begin");
	tokens(&s);
	is_int(w.bytes.len, 0, "json: nothing is sent before the answer is whole");
	ok(stream_done(&s, &res, 3) == 0, "json: done");
	is_wire(&w, &s, JSON_HEAD COMPLETION("Hello, w\xc3\xb6rld \\\"x\\\"\\n"),
	    "json: the whole response");
	close_stream(&s, &w);

	/* A slow answer: each heartbeat a space, the first with the head, each flushed. */
	open_stream(&s, &w, cf, STREAM_OPENAI_JSON);
	ok(stream_begin(&s) == 0, "json, slow: begin");
	ok(stream_token(&s, "Hello", 5) == 0, "json, slow: a token");
	ok(stream_heartbeat(&s) == 0, "json, slow: a heartbeat");
	is_wire(&w, &s, JSON_HEAD " ", "json, slow: the head and a space, at the first heartbeat");
	is_int(w.flushed, w.bytes.len, "json, slow: flushed");
	ok(stream_token(&s, ", w\xc3", 4) == 0 && stream_heartbeat(&s) == 0 &&
	    stream_token(&s, "\xb6rld \"x\"\n", 9) == 0, "json, slow: more tokens, a heartbeat");
	ok(stream_done(&s, &res, 3) == 0, "json, slow: done");
	is_wire(&w, &s, JSON_HEAD "  " COMPLETION("Hello, w\xc3\xb6rld \\\"x\\\"\\n"),
	    "json, slow: the spaces, then the object");
	close_stream(&s, &w);
}

static void
errors(const struct conf *cf)
{
	struct memconn w;
	struct stream s;

	open_stream(&s, &w, cf, STREAM_NATIVE);
	ok(stream_token(&s, "Hi", 2) == 0, "native error: a token commits the response");
	ok(stream_error(&s, "timeout", "too slow") == 0, "native error: error");
	is_wire(&w, &s, NATIVE_HEAD
	    "data: {\"id\":\"@ID@\",\"model\":\"demo\",\"created\":@T@}\nid: @ID@.1\n\n"
	    "data: {\"text\":\"Hi\"}\nid: @ID@.2\n\n"
	    "event: error\ndata: {\"error\":{\"type\":\"timeout\",\"message\":\"too slow\"}}\n"
	    "id: @ID@.3\n\n",
	    "native error: the whole response");
	ok(stream_error(&s, "timeout", "again") == -1, "native error: nothing after the end");
	close_stream(&s, &w);

	open_stream(&s, &w, cf, STREAM_OPENAI);
	ok(stream_token(&s, "Hi", 2) == 0, "openai error: a token commits the response");
	ok(stream_error(&s, "upstream_error", "the upstream failed") == 0, "openai error: error");
	is_wire(&w, &s, SSE_HEAD
	    "data: " CHUNK "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
	    "\"finish_reason\":null}]}\nid: @ID@.1\n\n"
	    "data: " CHUNK "{\"index\":0,\"delta\":{\"content\":\"Hi\"},"
	    "\"finish_reason\":null}]}\nid: @ID@.2\n\n"
	    "data: {\"error\":{\"message\":\"the upstream failed\",\"type\":\"server_error\","
	    "\"param\":null,\"code\":\"upstream_error\"}}\nid: @ID@.3\n\n",
	    "openai error: the whole response");
	close_stream(&s, &w);

	open_stream(&s, &w, cf, STREAM_OPENAI_JSON);
	ok(stream_token(&s, "Hi", 2) == 0, "json error: a token");
	ok(stream_error(&s, "upstream_error", "the upstream failed") == -1,
	    "json error: refused before anything was sent (the caller sends a status)");
	is_int(w.bytes.len, 0, "json error: nothing sent");
	close_stream(&s, &w);

	open_stream(&s, &w, cf, STREAM_OPENAI_JSON);
	ok(stream_token(&s, "Hi", 2) == 0 && stream_heartbeat(&s) == 0,
	    "json error after a heartbeat: a token, a heartbeat");
	ok(stream_error(&s, "upstream_error", "the upstream failed") == 0,
	    "json error after a heartbeat: error");
	is_wire(&w, &s, JSON_HEAD " {\"error\":{\"message\":\"the upstream failed\","
	    "\"type\":\"server_error\",\"param\":null,\"code\":\"upstream_error\"}}\n",
	    "json error after a heartbeat: status 200 is out; the body is OpenAI's error object");
	ok(stream_done(&s, &(struct backend_result){ NULL, 0, 0 }, 0) == -1,
	    "json error after a heartbeat: nothing after the end");
	close_stream(&s, &w);

	open_stream(&s, &w, cf, STREAM_NATIVE);
	w.fail_at = 2;
	ok(stream_begin(&s) == 0, "gone: begin");
	ok(stream_token(&s, "Hi", 2) == -1 && s.gone, "gone: a failed write says the reader left");
	ok(stream_heartbeat(&s) == -1, "gone: and so does the next heartbeat");
	close_stream(&s, &w);
}

/* What is not text, as a backend hands it: reasoning, a tool call in fragments, logprobs. */
#define LOGPROBS "{\"content\":[{\"token\":\"Hi\",\"logprob\":-0.5,\"top_logprobs\":[]}]}"

static void
parts(struct stream *s, const char *field)
{
	ok(stream_reasoning(s, field, "Think \"x\"\n", 10) == 0, "reasoning");
	ok(stream_logprobs(s, LOGPROBS, strlen(LOGPROBS)) == 0 && stream_token(s, "Hi", 2) == 0,
	    "logprobs, then their text");
	ok(stream_tool_call(s, 0, "call_1", "get_weather", "", 0) == 0,
	    "a tool call's first fragment: id and name, no arguments");
	ok(stream_tool_call(s, 0, NULL, NULL, "{\"city\":", 8) == 0 &&
	    stream_tool_call(s, 0, NULL, NULL, "\"Paris\"}", 8) == 0, "its arguments in two");
	ok(stream_tool_call(s, 1, "call_2", "now", "{}", 2) == 0, "a second call, whole");
	ok(stream_refusal(s, "No.", 3) == 0, "a refusal");
	ok(stream_usage_details(s, "{\"completion_tokens_details\":{\"reasoning_tokens\":1}}",
	    52) == 0, "usage details");
}

static void
delta(const struct conf *cf)
{
	struct backend_result res = { "tool_calls", 0, 0 };
	struct memconn w;
	struct stream s;

	open_stream(&s, &w, cf, STREAM_NATIVE);
	ok(stream_begin(&s) == 0, "native parts: begin");
	parts(&s, NULL);
	ok(stream_done(&s, &res, 3) == 0, "native parts: done");
	is_wire(&w, &s, NATIVE_HEAD
	    "data: {\"id\":\"@ID@\",\"model\":\"demo\",\"created\":@T@}\nid: @ID@.1\n\n"
	    "event: reasoning\ndata: {\"text\":\"Think \\\"x\\\"\\n\"}\nid: @ID@.2\n\n"
	    "data: {\"text\":\"Hi\",\"logprobs\":" LOGPROBS "}\nid: @ID@.3\n\n"
	    "event: tool_call\ndata: {\"index\":0,\"id\":\"call_1\",\"name\":\"get_weather\","
	    "\"arguments\":\"\"}\nid: @ID@.4\n\n"
	    "event: tool_call\ndata: {\"index\":0,\"arguments\":\"{\\\"city\\\":\"}\nid: @ID@.5\n\n"
	    "event: tool_call\ndata: {\"index\":0,\"arguments\":\"\\\"Paris\\\"}\"}\nid: @ID@.6\n\n"
	    "event: tool_call\ndata: {\"index\":1,\"id\":\"call_2\",\"name\":\"now\","
	    "\"arguments\":\"{}\"}\nid: @ID@.7\n\n"
	    "event: refusal\ndata: {\"text\":\"No.\"}\nid: @ID@.8\n\n"
	    "event: done\ndata: {\"finish_reason\":\"tool_calls\",\"usage\":{\"prompt_tokens\":3,"
	    "\"completion_tokens\":7,\"total_tokens\":10,\"completion_tokens_details\":"
	    "{\"reasoning_tokens\":1}},\"ttft_ms\":@MS@,\"duration_ms\":@MS@}\nid: @ID@.9\n\n",
	    "native parts: named events for what is not text");
	close_stream(&s, &w);

	open_stream(&s, &w, cf, STREAM_OPENAI);
	s.include_usage = 1;
	ok(stream_begin(&s) == 0, "openai parts: begin");
	parts(&s, "reasoning");
	ok(stream_done(&s, &res, 3) == 0, "openai parts: done");
	is_wire(&w, &s, SSE_HEAD
	    "data: " CHUNK "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
	    "\"finish_reason\":null}],\"usage\":null}\nid: @ID@.1\n\n"
	    "data: " CHUNK "{\"index\":0,\"delta\":{\"reasoning\":\"Think \\\"x\\\"\\n\"},"
	    "\"finish_reason\":null}],\"usage\":null}\nid: @ID@.2\n\n"
	    "data: " CHUNK "{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"logprobs\":" LOGPROBS ","
	    "\"finish_reason\":null}],\"usage\":null}\nid: @ID@.3\n\n"
	    "data: " CHUNK "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\","
	    "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},"
	    "\"finish_reason\":null}],\"usage\":null}\nid: @ID@.4\n\n"
	    "data: " CHUNK "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
	    "{\"arguments\":\"{\\\"city\\\":\"}}]},\"finish_reason\":null}],\"usage\":null}\nid: @ID@.5\n\n"
	    "data: " CHUNK "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
	    "{\"arguments\":\"\\\"Paris\\\"}\"}}]},\"finish_reason\":null}],\"usage\":null}\nid: @ID@.6\n\n"
	    "data: " CHUNK "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_2\","
	    "\"type\":\"function\",\"function\":{\"name\":\"now\",\"arguments\":\"{}\"}}]},"
	    "\"finish_reason\":null}],\"usage\":null}\nid: @ID@.7\n\n"
	    "data: " CHUNK "{\"index\":0,\"delta\":{\"refusal\":\"No.\"},"
	    "\"finish_reason\":null}],\"usage\":null}\nid: @ID@.8\n\n"
	    "data: " CHUNK "{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}],"
	    "\"usage\":null}\nid: @ID@.9\n\n"
	    "data: " CHUNK "],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":7,"
	    "\"total_tokens\":10,\"completion_tokens_details\":{\"reasoning_tokens\":1}}}\n"
	    "id: @ID@.10\n\n"
	    "data: [DONE]\nid: @ID@.11\n\n",
	    "openai parts: tool_calls, reasoning, refusal and logprobs deltas");
	close_stream(&s, &w);

	open_stream(&s, &w, cf, STREAM_OPENAI_JSON);
	parts(&s, NULL);
	ok(stream_done(&s, &res, 3) == 0, "json parts: done");
	is_wire(&w, &s, JSON_HEAD
	    "{\"id\":\"chatcmpl-@ID@\",\"object\":\"chat.completion\",\"created\":@T@,"
	    "\"model\":\"demo\",\"system_fingerprint\":\"chatstream-" PACKAGE_VERSION "\","
	    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hi\","
	    "\"reasoning_content\":\"Think \\\"x\\\"\\n\",\"refusal\":\"No.\",\"tool_calls\":["
	    "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
	    "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
	    "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"now\","
	    "\"arguments\":\"{}\"}}]},"
	    "\"logprobs\":{\"content\":[{\"token\":\"Hi\",\"logprob\":-0.5,\"top_logprobs\":[]}]},"
	    "\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":3,"
	    "\"completion_tokens\":7,\"total_tokens\":10,\"completion_tokens_details\":"
	    "{\"reasoning_tokens\":1}}}\n",
	    "json parts: the message gathers tool_calls (arguments joined), reasoning, refusal");
	close_stream(&s, &w);

	/* Only a tool call: content is null, as OpenAI's. */
	open_stream(&s, &w, cf, STREAM_OPENAI_JSON);
	ok(stream_tool_call(&s, 0, "c", "f", "{}", 2) == 0, "json, a call only: the call");
	ok(stream_done(&s, &res, 3) == 0, "json, a call only: done");
	ok(strstr(w.bytes.data, "\"message\":{\"role\":\"assistant\",\"content\":null,"
	    "\"tool_calls\":[{\"id\":\"c\",") != NULL, "json, a call only: content null");
	close_stream(&s, &w);
}

/* Arguments longer than one event: several fragments, the id and name in the first only. */
static void
long_call(const struct conf *base)
{
	struct conf cf = *base;
	struct memconn w;
	struct stream s;
	char args[3000];
	struct buf joined;
	const char *p;
	int events = 0, named = 0;
	size_t i;

	cf.max_event = 4096;
	for (i = 0; i < sizeof(args); i++)
		args[i] = "abc\"\n"[i % 5];
	open_stream(&s, &w, &cf, STREAM_NATIVE);
	ok(stream_tool_call(&s, 3, "id", "fn", args, sizeof(args)) == 0, "long call: sent");
	buf_init(&joined, sizeof(args) * 2);
	for (p = w.bytes.data; (p = strstr(p, "event: tool_call\ndata: ")) != NULL; events++) {
		const char *a = strstr(p, "\"arguments\":\"") + 13, *end = strstr(a, "\"}\n");

		named += strstr(p, "\"name\":\"fn\"") != NULL && strstr(p, "\"name\":\"fn\"") < end;
		for (; a < end; a++) {
			if (*a == '\\') {
				a++;
				buf_addc(&joined, *a == 'n' ? '\n' : *a);
			} else
				buf_addc(&joined, *a);
		}
		p = end;
	}
	ok(events > 1, "long call: %d events", events);
	is_int(named, 1, "long call: the name in the first only");
	is_mem(joined.data, joined.len, args, sizeof(args), "long call: the fragments join");
	buf_free(&joined);
	close_stream(&s, &w);
}

/* A stream:false answer longer than one event (max_event) still goes out whole. */
static void
long_json(const struct conf *base)
{
	struct conf cf = *base;
	struct memconn w;
	struct stream s;
	char text[1000];
	int i, ok_all = 1;
	const char *body;

	cf.max_event = 4096;
	memset(text, 'a', sizeof(text));
	open_stream(&s, &w, &cf, STREAM_OPENAI_JSON);
	for (i = 0; i < 6; i++)
		ok_all &= stream_token(&s, text, sizeof(text)) == 0 &&
		    stream_reasoning(&s, NULL, "\"", 1) == 0;
	ok(ok_all && stream_tool_call(&s, 0, "c", "f", text, sizeof(text)) == 0,
	    "long json: 6000 bytes of text, 6 quotes of reasoning, 1000 of arguments");
	ok(stream_done(&s, &(struct backend_result){ NULL, 0, 0 }, 1) == 0, "long json: done");
	body = w.bytes.data != NULL ? strstr(w.bytes.data, "\r\n\r\n") : NULL;
	ok(body != NULL && w.bytes.len - (size_t)(body - w.bytes.data) > 7000 &&
	    strstr(body, "\"reasoning_content\":\"\\\"\\\"\\\"\\\"\\\"\\\"\"") != NULL &&
	    w.bytes.data[w.bytes.len - 2] == '}', "long json: the whole object, over max_event");
	close_stream(&s, &w);
}

int
main(void)
{
	struct conf cf;
	struct cs_error err;

	if (conf_defaults(&cf, &err) == -1) {
		diag("no configuration: %s", err.message);
		return 1;
	}
	native(&cf);
	openai(&cf);
	openai_json(&cf);
	errors(&cf);
	delta(&cf);
	long_call(&cf);
	long_json(&cf);
	conf_free(&cf);
	return done_testing();
}
