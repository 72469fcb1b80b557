/* unit_stream_choices.c: the exact bytes of an answer of several choices, handed over interleaved. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "backend.h"
#include "buf.h"
#include "conf.h"
#include "memconn.h"
#include "stopseq.h"
#include "stream.h"
#include "tap.h"
#include "stream_wire.h"

/*
 * A backend selects a choice, then hands over its pieces: each choice keeps
 * its own half characters, held-back stop-sequence starts, logprobs, tool
 * calls and finish_reason, and every event names its choice (the
 * responses compared as stream_wire.h says).
 */

/* One OpenAI chunk event: its choices' JSON, its number. */
#define CHUNK(choices, n) "data: {\"id\":\"chatcmpl-@ID@\",\"object\":\"chat.completion.chunk\"," \
    "\"created\":@T@,\"model\":\"demo\",\"system_fingerprint\":\"chatstream-" PACKAGE_VERSION \
    "\",\"choices\":[" choices "],\"usage\":null}\nid: @ID@." n "\n\n"

/* The same without stream_options.include_usage. */
#define CHUNK1(choices, n) "data: {\"id\":\"chatcmpl-@ID@\",\"object\":\"chat.completion.chunk\"," \
    "\"created\":@T@,\"model\":\"demo\",\"system_fingerprint\":\"chatstream-" PACKAGE_VERSION \
    "\",\"choices\":[" choices "]}\nid: @ID@." n "\n\n"

#define LOGPROBS "{\"content\":[{\"token\":\"a\",\"logprob\":-0.5,\"top_logprobs\":[]}]}"

/*
 * Two choices as an upstream interleaves them: each ends a piece in half a
 * character that its next piece completes; logprobs for choice 0's text;
 * a tool call in fragments in choice 1, which ends first.
 */
static void
interleave(struct stream *s)
{
	ok(stream_select_choice(s, 0) == 0 && stream_logprobs(s, LOGPROBS,
	    strlen(LOGPROBS)) == 0 && stream_token(s, "a\xc3", 2) == 0,
	    "choice 0: logprobs, text ending in half a character");
	ok(stream_select_choice(s, 1) == 0 && stream_token(s, "b\xe6\x97", 3) == 0,
	    "choice 1: text ending in two thirds of a character");
	ok(stream_select_choice(s, 0) == 0 && stream_token(s, "\xa9!", 2) == 0,
	    "choice 0: the rest of its character");
	ok(stream_select_choice(s, 1) == 0 && stream_token(s, "\xa5", 1) == 0 &&
	    stream_tool_call(s, 0, "call_1", "f", "{\"x\":", 5) == 0,
	    "choice 1: the rest of its character, a tool call's first fragment");
	ok(stream_select_choice(s, 0) == 0 && stream_reasoning(s, NULL, "hm", 2) == 0,
	    "choice 0: reasoning");
	ok(stream_select_choice(s, 1) == 0 && stream_tool_call(s, 0, NULL, NULL, "1}", 2) == 0 &&
	    stream_choice_finish(s, "tool_calls") == 0, "choice 1: the call's end, its finish");
	ok(stream_select_choice(s, 1) == -1, "choice 1 has ended: not selected again");
	ok(stream_select_choice(s, s->nchoices) == -1 && stream_select_choice(s, -1) == -1,
	    "no choice past the last, no choice -1");
	ok(stream_select_choice(s, 0) == 0 && stream_refusal(s, "no", 2) == 0,
	    "choice 0: a refusal");
}

static void
openai(const struct conf *cf)
{
	struct backend_result res = { "length", 4, 9 };
	struct memconn w;
	struct stream s;

	open_stream(&s, &w, cf, STREAM_OPENAI);
	s.include_usage = 1;
	ok(stream_choices(&s, 2) == 0, "openai: two choices");
	ok(stream_begin(&s) == 0, "openai: begin");
	interleave(&s);
	ok(stream_done(&s, &res, 3) == 0, "openai: done");
	is_wire(&w, &s, SSE_HEAD
	    CHUNK("{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
	    "\"finish_reason\":null}", "1")
	    CHUNK("{\"index\":1,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
	    "\"finish_reason\":null}", "2")
	    CHUNK("{\"index\":0,\"delta\":{\"content\":\"a\"},\"logprobs\":" LOGPROBS ","
	    "\"finish_reason\":null}", "3")
	    CHUNK("{\"index\":1,\"delta\":{\"content\":\"b\"},\"finish_reason\":null}", "4")
	    CHUNK("{\"index\":0,\"delta\":{\"content\":\"\xc3\xa9!\"},\"finish_reason\":null}", "5")
	    CHUNK("{\"index\":1,\"delta\":{\"content\":\"\xe6\x97\xa5\"},\"finish_reason\":null}", "6")
	    CHUNK("{\"index\":1,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\","
	    "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\":\"}}]},"
	    "\"finish_reason\":null}", "7")
	    CHUNK("{\"index\":0,\"delta\":{\"reasoning_content\":\"hm\"},\"finish_reason\":null}", "8")
	    CHUNK("{\"index\":1,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
	    "{\"arguments\":\"1}\"}}]},\"finish_reason\":null}", "9")
	    CHUNK("{\"index\":1,\"delta\":{},\"finish_reason\":\"tool_calls\"}", "10")
	    CHUNK("{\"index\":0,\"delta\":{\"refusal\":\"no\"},\"finish_reason\":null}", "11")
	    CHUNK("{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}", "12")
	    "data: {\"id\":\"chatcmpl-@ID@\",\"object\":\"chat.completion.chunk\","
	    "\"created\":@T@,\"model\":\"demo\",\"system_fingerprint\":\"chatstream-"
	    PACKAGE_VERSION "\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
	    "\"completion_tokens\":9,\"total_tokens\":12}}\nid: @ID@.13\n\n"
	    "data: [DONE]\nid: @ID@.14\n\n",
	    "openai: each choice's pieces with its index, whole characters, each finish once");
	close_stream(&s, &w);
}

static void
openai_json(const struct conf *cf)
{
	struct backend_result res = { "length", 4, 9 };
	struct memconn w;
	struct stream s;

	open_stream(&s, &w, cf, STREAM_OPENAI_JSON);
	ok(stream_choices(&s, 3) == 0, "json: three choices");
	interleave(&s);
	ok(stream_done(&s, &res, 3) == 0, "json: done");
	is_wire(&w, &s, JSON_HEAD
	    "{\"id\":\"chatcmpl-@ID@\",\"object\":\"chat.completion\",\"created\":@T@,"
	    "\"model\":\"demo\",\"system_fingerprint\":\"chatstream-" PACKAGE_VERSION "\","
	    "\"choices\":["
	    "{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"a\xc3\xa9!\","
	    "\"reasoning_content\":\"hm\",\"refusal\":\"no\"},\"logprobs\":{\"content\":"
	    "[{\"token\":\"a\",\"logprob\":-0.5,\"top_logprobs\":[]}]},\"finish_reason\":\"length\"},"
	    "{\"index\":1,\"message\":{\"role\":\"assistant\",\"content\":\"b\xe6\x97\xa5\","
	    "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
	    "\"arguments\":\"{\\\"x\\\":1}\"}}]},\"logprobs\":null,\"finish_reason\":\"tool_calls\"},"
	    "{\"index\":2,\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
	    "\"finish_reason\":\"length\"}],"
	    "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":9,\"total_tokens\":12}}\n",
	    "json: one message per choice, each with its parts and its finish_reason");
	close_stream(&s, &w);
}

/* Each choice matches the stop sequences on its own; a match ends that choice only. */
static void
stops(const struct conf *cf)
{
	static char *seq[] = { (char *)"END" };
	struct backend_result res = { "stop", 0, 0 };
	struct memconn w;
	struct stream s;

	open_stream(&s, &w, cf, STREAM_OPENAI);
	stopseq_init(&s.stop, seq, 1);
	ok(stream_choices(&s, 2) == 0, "stop: two choices");
	ok(stream_select_choice(&s, 0) == 0 && stream_token(&s, "xxEN", 4) == 0,
	    "stop: choice 0 ends in what may start END");
	ok(stream_select_choice(&s, 1) == 0 && stream_token(&s, "yyE", 3) == 0,
	    "stop: choice 1 too, its own");
	ok(stream_select_choice(&s, 0) == 0 && stream_token(&s, "D and more", 10) == 0 &&
	    s.stop.matched, "stop: choice 0 completes END");
	ok(stream_select_choice(&s, 1) == 0 && !s.stop.matched &&
	    stream_token(&s, "Z zz", 4) == 0, "stop: choice 1 goes on, its E was no stop");
	ok(stream_select_choice(&s, 0) == 0 && stream_token(&s, "dropped", 7) == 0 &&
	    stream_choice_finish(&s, "length") == 0, "stop: choice 0 says more, then ends");
	ok(stream_done(&s, &res, 0) == 0, "stop: done");
	is_wire(&w, &s, SSE_HEAD
	    CHUNK1("{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
	    "\"finish_reason\":null}", "1")
	    CHUNK1("{\"index\":1,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
	    "\"finish_reason\":null}", "2")
	    CHUNK1("{\"index\":0,\"delta\":{\"content\":\"xx\"},\"finish_reason\":null}", "3")
	    CHUNK1("{\"index\":1,\"delta\":{\"content\":\"yy\"},\"finish_reason\":null}", "4")
	    CHUNK1("{\"index\":1,\"delta\":{\"content\":\"E\"},\"finish_reason\":null}", "5")
	    CHUNK1("{\"index\":1,\"delta\":{\"content\":\"Z zz\"},\"finish_reason\":null}", "6")
	    CHUNK1("{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}", "7")
	    CHUNK1("{\"index\":1,\"delta\":{},\"finish_reason\":\"stop\"}", "8")
	    "data: [DONE]\nid: @ID@.9\n\n",
	    "stop: what each choice held back is its own; END ends choice 0 only");
	close_stream(&s, &w);
}

/* The formats of one answer: a choice past 0 is refused, so nothing of it can reach them. */
static void
one_answer(const struct conf *cf)
{
	static const enum stream_format f[] = { STREAM_NATIVE, STREAM_RESPONSES,
	    STREAM_RESPONSES_JSON };
	static const char *const name[] = { "native", "responses", "responses json" };
	struct memconn w;
	struct stream s;
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		open_stream(&s, &w, cf, f[i]);
		ok(stream_choices(&s, 2) == -1, "%s: no choices", name[i]);
		ok(stream_select_choice(&s, 1) == -1 && stream_select_choice(&s, 0) == 0,
		    "%s: choice 1 refused, choice 0 selected", name[i]);
		ok(stream_choice_finish(&s, "length") == 0, "%s: a choice's finish does nothing",
		    name[i]);
		is_int(w.bytes.len, 0, "%s: nothing sent", name[i]);
		close_stream(&s, &w);
	}
	open_stream(&s, &w, cf, STREAM_OPENAI);
	ok(stream_choices(&s, STREAM_MAX_CHOICES + 1) == -1 && stream_choices(&s, 0) == -1,
	    "openai: 0 or more than %d choices refused", STREAM_MAX_CHOICES);
	ok(stream_choices(&s, 1) == 0 && stream_select_choice(&s, 1) == -1,
	    "openai: one choice is the stream as it was");
	ok(stream_choices(&s, STREAM_MAX_CHOICES) == 0 &&
	    stream_select_choice(&s, STREAM_MAX_CHOICES - 1) == 0, "openai: %d choices",
	    STREAM_MAX_CHOICES);
	ok(stream_token(&s, "last", 4) == 0 && strstr(w.bytes.data,
	    "{\"index\":127,\"delta\":{\"content\":\"last\"}") != NULL,
	    "openai: the last choice's text names it");
	close_stream(&s, &w);
}

/*
 * Gathered whole (stream: false), the choices share one answer's cap: a
 * choice past its share (here 32 KiB / 4 = 8 KiB) is cut, finish_reason
 * length; the others are whole.
 */
static void
shared_caps(struct conf *cf)
{
	struct backend_result res = { "stop", 0, 0 };
	size_t keep = cf->max_event;
	char big[10000];
	json_object *o = NULL, *choices, *c;
	const char *body;
	struct memconn w;
	struct stream s;
	int i;

	cf->max_event = 4096;
	memset(big, 'x', sizeof(big));
	open_stream(&s, &w, cf, STREAM_OPENAI_JSON);
	ok(stream_choices(&s, 4) == 0, "shared caps: four choices");
	for (i = 0; i < 4; i++) {
		ok(stream_select_choice(&s, i) == 0 && (i == 1 ?
		    stream_token(&s, big, sizeof(big)) : stream_token(&s, "ok", 2)) == 0 &&
		    stream_choice_finish(&s, "stop") == 0, "shared caps: choice %d's text", i);
	}
	ok(stream_done(&s, &res, 0) == 0, "shared caps: done");
	body = w.bytes.data != NULL ? strstr(w.bytes.data, "\r\n\r\n") : NULL;
	if (body != NULL)
		o = json_tokener_parse(body + 4);
	choices = o != NULL ? json_object_object_get(o, "choices") : NULL;
	ok(choices != NULL && json_object_array_length(choices) == 4, "shared caps: four choices");
	for (i = 0; choices != NULL && i < 4; i++) {
		size_t len;

		c = json_object_array_get_idx(choices, (size_t)i);
		len = (size_t)json_object_get_string_len(json_object_object_get(
		    json_object_object_get(c, "message"), "content"));
		if (i == 1)
			ok(len <= 8192 && len > 4096 && strcmp(json_object_get_string(json_object_object_get(c,
			    "finish_reason")), "length") == 0,
			    "shared caps: the choice past its share is cut within it (%zu of 10000 "
			    "bytes; its share 8192), length", len);
		else
			ok(len == 2 && strcmp(json_object_get_string(json_object_object_get(c,
			    "finish_reason")), "stop") == 0, "shared caps: choice %d whole, stop", i);
	}
	json_object_put(o);
	close_stream(&s, &w);
	cf->max_event = keep;
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
	openai(&cf);
	openai_json(&cf);
	stops(&cf);
	one_answer(&cf);
	shared_caps(&cf);
	conf_free(&cf);
	return done_testing();
}
