/* unit_request.c: Content-Types and request bodies (JSON, form, text) into requests. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "backend.h"
#include "error.h"
#include "request.h"
#include "utf8.h"
#include "tap.h"

#define DEPTH	32	/* the configured default max_json_depth */
#define SZ(lit)	(sizeof(lit) - 1)	/* length of a string literal, NULs included */

/* ------------------------------------------------------------ content type */

static void
kind_is(const char *ct, int want, const char *what)
{
	struct cs_error e;
	enum body_kind k = (enum body_kind)-1;

	cs_error_clear(&e);
	if (is_int(request_body_kind(ct, &k, &e), 0, "content-type %s: accepted", what))
		is_int(k, want, "content-type %s: kind", what);
	else
		diag("    status %d: %s", e.status, e.message);
}

static void
kind_415(const char *ct, const char *what)
{
	struct cs_error e;
	enum body_kind k = BODY_TEXT;

	cs_error_clear(&e);
	is_int(request_body_kind(ct, &k, &e), -1, "content-type %s: rejected", what);
	is_int(e.status, 415, "content-type %s: 415", what);
	is_str(e.type, "unsupported_media_type", "content-type %s: type", what);
	ok(e.message[0] != '\0', "content-type %s: has a message", what);
}

static void
test_body_kind(void)
{
	kind_is("application/json", BODY_JSON, "application/json");
	kind_is("application/json; charset=utf-8", BODY_JSON, "json; charset=utf-8");
	kind_is("application/json;charset=UTF-8", BODY_JSON, "json;charset=UTF-8");
	kind_is("application/json; charset=\"utf-8\"", BODY_JSON, "json; quoted charset");
	kind_is("application/json; charset=us-ascii", BODY_JSON, "json; charset=us-ascii");
	kind_is("APPLICATION/JSON", BODY_JSON, "APPLICATION/JSON");
	kind_is("Application/Json ; Charset=Utf-8", BODY_JSON, "mixed case with parameters");
	kind_is("application/json; foo=bar; charset=utf-8", BODY_JSON, "json; two parameters");
	kind_is("application/json\t; charset=utf-8", BODY_JSON, "json, tab before ;");
	kind_is("application/x-www-form-urlencoded", BODY_FORM, "form");
	kind_is("application/x-www-form-urlencoded; charset=UTF-8", BODY_FORM, "form; charset");
	kind_is("text/plain", BODY_TEXT, "text/plain");
	kind_is("text/plain;charset=utf-8", BODY_TEXT, "text/plain;charset=utf-8");
	kind_is("TEXT/PLAIN; format=flowed", BODY_TEXT, "TEXT/PLAIN; format=flowed");

	kind_415(NULL, "missing");
	kind_415("", "empty");
	kind_415("text/html", "text/html");
	kind_415("application/jsonx", "application/jsonx");
	kind_415("application/js", "application/js");
	kind_415("text/plainx; charset=utf-8", "text/plainx");
	kind_415("multipart/form-data; boundary=x", "multipart/form-data");
	kind_415("application/json; charset=latin1", "json; charset=latin1");
	kind_415("application/json; charset=ISO-8859-1", "json; charset=ISO-8859-1");
	kind_415("text/plain; charset=utf-16", "text/plain; charset=utf-16");
	kind_415("application/x-www-form-urlencoded; charset=\"windows-1252\"",
	    "form; quoted windows-1252");
	kind_415("application/json; charset=utf-8; charset=latin1", "json; second charset latin1");
	/* The charset is one exact token, not a prefix. */
	kind_415("application/json; charset=utf-8x", "json; charset=utf-8x");
	kind_415("application/json; charset=\"utf-8x\"", "json; quoted charset utf-8x");
	kind_415("application/json; charset=utf-80", "json; charset=utf-80");
	kind_415("application/json; charset=us-asciiz", "json; charset=us-asciiz");
	kind_415("application/json; charset=\"utf-8", "json; unterminated quoted charset");
	kind_415("application/json; charset=utf-8 x", "json; charset utf-8 then a word");
	kind_415("application/json; charset=", "json; empty charset");
	kind_415("application/json; charset=\"\"", "json; empty quoted charset");
	kind_415("application/json; charset", "json; charset without a value");
	kind_415("application/json; charset=utf-8\"", "json; charset with a stray quote");
	kind_415("application/json; charset=utf-8, latin1", "json; charset list");
	kind_is("application/json; CHARSET=\"UTF-8\"", BODY_JSON, "json; CHARSET=\"UTF-8\"");
	kind_is("application/json; charset=\"utf\\-8\"", BODY_JSON,
	    "json; quoted-pair in a quoted charset");
	kind_is("application/json; charset=utf-8;", BODY_JSON, "json; trailing semicolon");
	kind_is("application/json ; charset=utf-8 ; q=x", BODY_JSON, "json; spaces around ;");
}

/* ------------------------------------------------------------------ bodies */

struct parsed {
	struct chat_request req;
	struct cs_error err;
	int rc;
};

/* Parses body[0..len) into p (which the caller frees with done()). */
static void
parse_n(struct parsed *p, enum body_kind kind, const char *body, size_t len, int depth)
{
	char *copy = malloc(len > 0 ? len : 1);

	/* An exact-size heap copy without a NUL lets ASan catch reads past len. */
	memcpy(copy, body, len);
	memset(&p->req, 0, sizeof(p->req));
	cs_error_clear(&p->err);
	p->rc = request_parse(kind, copy, len, depth, &p->req, &p->err);
	free(copy);
	/* Whatever happened, nothing the request holds may point into the body. */
}

static void
parse(struct parsed *p, enum body_kind kind, const char *body)
{
	parse_n(p, kind, body, strlen(body), DEPTH);
}

static void
done(struct parsed *p)
{
	chat_request_free(&p->req);
	ok(p->req.messages == NULL && p->req.nmessages == 0 && p->req.model == NULL &&
	    p->req.prompt == NULL, "chat_request_free clears the request");
}

/* Every message's content is valid UTF-8 and NUL-terminated; roles are known. */
static int
well_formed(const struct chat_request *r)
{
	size_t i;

	for (i = 0; i < r->nmessages; i++) {
		const struct chat_message *m = &r->messages[i];

		if (m->role == NULL || m->content == NULL ||
		    !utf8_valid(m->content, m->content_len) || m->content[m->content_len] != '\0')
			return 0;
		if (strcmp(m->role, "system") != 0 && strcmp(m->role, "user") != 0 &&
		    strcmp(m->role, "assistant") != 0 && strcmp(m->role, "tool") != 0)
			return 0;
	}
	if (r->prompt != NULL && !utf8_valid(r->prompt, r->prompt_len))
		return 0;
	return 1;
}

/* Expects success; checks the prompt. Leaves p parsed (caller checks more, then done()). */
static int
ok_parse(struct parsed *p, enum body_kind kind, const char *body, size_t len,
    const char *prompt, size_t plen, const char *what)
{
	parse_n(p, kind, body, len, DEPTH);
	if (!is_int(p->rc, 0, "%s: parses", what)) {
		diag("    status %d type %s: %s", p->err.status,
		    p->err.type != NULL ? p->err.type : "(null)", p->err.message);
		return 0;
	}
	is_mem(p->req.prompt, p->req.prompt_len, prompt, plen, "%s: prompt", what);
	ok(well_formed(&p->req), "%s: well-formed messages", what);
	return 1;
}

/* ok_parse() of two string literals (which may hold NULs). */
#define OKP(p, kind, body, prompt, ...) \
	ok_parse((p), (kind), (body), SZ(body), (prompt), SZ(prompt), __VA_ARGS__)

/* A JSON/form/text body that must parse to prompt (a C string). */
static void
good(enum body_kind kind, const char *body, const char *prompt, const char *what)
{
	struct parsed p;

	ok_parse(&p, kind, body, strlen(body), prompt, strlen(prompt), what);
	done(&p);
}

/* A body that must fail with 400 and the given type. */
static void
bad_n(enum body_kind kind, const char *body, size_t len, int depth, const char *type,
    const char *what)
{
	struct parsed p;

	parse_n(&p, kind, body, len, depth);
	is_int(p.rc, -1, "%s: rejected", what);
	is_int(p.err.status, 400, "%s: 400", what);
	is_str(p.err.type, type, "%s: type %s", what, type);
	if (p.rc == -1)
		ok(p.err.message[0] != '\0', "%s: has a message", what);
	else
		ok(0, "%s: has a message", what);
	ok(well_formed(&p.req), "%s: nothing ill-formed kept", what);
	chat_request_free(&p.req);
}

static void
bad(enum body_kind kind, const char *body, const char *type, const char *what)
{
	bad_n(kind, body, strlen(body), DEPTH, type, what);
}

static void
bad_json(const char *body, const char *what)
{
	bad(BODY_JSON, body, "invalid_json", what);
}

static void
bad_req(const char *body, const char *what)
{
	bad(BODY_JSON, body, "invalid_request", what);
}

static void
test_json_fields(void)
{
	struct parsed p;

	if (OKP(&p, BODY_JSON, "{\"prompt\":\"Hello there\"}", "Hello there",
	    "json prompt")) {
		ok(p.req.model == NULL, "json prompt: no model");
		is_int(p.req.max_tokens, 0, "json prompt: max_tokens unset");
		is_int(p.req.has_temperature, 0, "json prompt: no temperature");
		is_int(p.req.nmessages, 1, "json prompt: one message");
		is_str(p.req.messages[0].role, "user", "json prompt: role user");
		ok(p.req.prompt == p.req.messages[0].content,
		    "json prompt: prompt borrows the user message");
	}
	done(&p);

	{
		static const char body[] =
		    "{\"model\":\"demo\",\"prompt\":\"hi\",\"max_tokens\":12,"
		    "\"temperature\":0.5,\"system\":\"Be brief.\"}";

		if (ok_parse(&p, BODY_JSON, body, sizeof(body) - 1, "hi", 2, "json all fields")) {
			is_str(p.req.model, "demo", "json all fields: model");
			is_int(p.req.max_tokens, 12, "json all fields: max_tokens");
			is_int(p.req.has_temperature, 1, "json all fields: has_temperature");
			ok(p.req.temperature == 0.5, "json all fields: temperature 0.5");
			is_int(p.req.nmessages, 2, "json all fields: two messages");
			is_str(p.req.messages[0].role, "system", "json all fields: system first");
			is_str(p.req.messages[0].content, "Be brief.", "json all fields: system text");
			is_str(p.req.messages[1].role, "user", "json all fields: then user");
		}
		done(&p);
	}

	/* A number as the very last byte of the object, no whitespace after it. */
	if (OKP(&p, BODY_JSON, "{\"prompt\":\"x\",\"max_tokens\":5}", "x",
	    "number right before the closing brace"))
		is_int(p.req.max_tokens, 5, "number right before the closing brace: 5");
	done(&p);
	if (OKP(&p, BODY_JSON, "{\"prompt\":\"x\",\"temperature\":2}", "x",
	    "integer temperature 2"))
		ok(p.req.temperature == 2.0 && p.req.has_temperature, "integer temperature: 2.0");
	done(&p);
	if (OKP(&p, BODY_JSON, "{\"prompt\":\"x\",\"temperature\":0}", "x",
	    "temperature 0"))
		ok(p.req.temperature == 0.0 && p.req.has_temperature, "temperature 0 is set");
	done(&p);
	if (OKP(&p, BODY_JSON, "{\"prompt\":\"x\",\"max_tokens\":1000000}", "x",
	    "max_tokens 1000000"))
		is_int(p.req.max_tokens, 1000000, "max_tokens 1000000 kept");
	done(&p);
	if (OKP(&p, BODY_JSON, "{\"prompt\":\"x\",\"max_tokens\":1}", "x",
	    "max_tokens 1"))
		is_int(p.req.max_tokens, 1, "max_tokens 1 kept");
	done(&p);
	if (OKP(&p, BODY_JSON, "{\"prompt\":\"x\",\"max_completion_tokens\":7}", "x",
	    "max_completion_tokens"))
		is_int(p.req.max_tokens, 7, "max_completion_tokens sets max_tokens");
	done(&p);
	if (OKP(&p, BODY_JSON,
	    "{\"model\":null,\"prompt\":\"x\",\"max_tokens\":null,\"temperature\":null,"
	    "\"system\":null}", "x", "null fields count as absent")) {
		ok(p.req.model == NULL && p.req.max_tokens == 0 && !p.req.has_temperature &&
		    p.req.nmessages == 1, "null fields: nothing set");
	}
	done(&p);
	if (OKP(&p, BODY_JSON,
	    " \n\t{ \"prompt\" : \"x\" , \"extra\" : [1, {\"a\": null}] } \r\n ", "x",
	    "whitespace around and unknown keys ignored"))
		is_int(p.req.nmessages, 1, "unknown keys: one message");
	done(&p);
	if (OKP(&p, BODY_JSON, "{\"prompt\":\"a\",\"prompt\":\"b\"}", "b",
	    "repeated JSON key: last wins"))
		is_int(p.req.nmessages, 1, "repeated JSON key: one message");
	done(&p);
	good(BODY_JSON, "{\"prompt\":\"caf\\u00e9 \\u65e5\\u672c \\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\n\"}",
	    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 \"q\" \\ / \n",
	    "json escapes and a surrogate pair");
	good(BODY_JSON, "{\"prompt\":\"na\xc3\xafve \xf0\x9f\x8e\x89\"}",
	    "na\xc3\xafve \xf0\x9f\x8e\x89", "raw UTF-8 in a JSON string");
	{
		char model[129];
		char body[200];

		memset(model, 'm', 128);
		model[128] = '\0';
		snprintf(body, sizeof(body), "{\"model\":\"%s\",\"prompt\":\"x\"}", model);
		if (ok_parse(&p, BODY_JSON, body, strlen(body), "x", 1, "128-byte model name"))
			is_str(p.req.model, model, "128-byte model name kept");
		done(&p);
		snprintf(body, sizeof(body), "{\"model\":\"%sm\",\"prompt\":\"x\"}", model);
		bad_req(body, "129-byte model name");
	}
}

static void
test_json_nul(void)
{
	struct parsed p;

	/* \u0000 is kept; prompt_len counts it. */
	if (OKP(&p, BODY_JSON, "{\"prompt\":\"a\\u0000b\"}", "a\0b",
	    "\\u0000 inside a prompt")) {
		is_int(p.req.prompt_len, 3, "\\u0000: prompt_len 3");
		is_int(p.req.messages[0].content_len, 3, "\\u0000: content_len 3");
		ok(p.req.prompt[3] == '\0', "\\u0000: still NUL-terminated");
	}
	done(&p);
	if (OKP(&p, BODY_JSON, "{\"prompt\":\"\\u0000x\"}", "\0x",
	    "leading \\u0000 kept"))
		is_int(p.req.prompt_len, 2, "leading \\u0000: prompt_len 2");
	done(&p);
	bad_req("{\"prompt\":\"x\",\"model\":\"de\\u0000mo\"}", "\\u0000 in a model name");
}

static void
test_json_surrogates(void)
{
	static const char *const lone[] = {
		"{\"prompt\":\"\\ud800\"}",
		"{\"prompt\":\"a\\ud800b\"}",
		"{\"prompt\":\"\\udc00\"}",
		"{\"prompt\":\"\\ud800\\u0041\"}",
		"{\"prompt\":\"\\ud800\\ud800\"}",
		"{\"prompt\":\"\\udfff\\ud800\"}",
		"{\"prompt\":\"x\",\"system\":\"\\ud800\"}",
		"{\"messages\":[{\"role\":\"user\",\"content\":\"\\udbff\"}]}",
		"{\"prompt\":\"x\",\"model\":\"\\ud800\"}",
	};
	size_t i;

	/* A lone surrogate: either 400, or valid UTF-8 (e.g. U+FFFD) in the prompt. */
	for (i = 0; i < sizeof(lone) / sizeof(lone[0]); i++) {
		struct parsed p;

		parse(&p, BODY_JSON, lone[i]);
		if (p.rc == 0)
			ok(well_formed(&p.req) && (p.req.model == NULL ||
			    utf8_valid(p.req.model, strlen(p.req.model))),
			    "lone surrogate %zu: accepted as valid UTF-8", i);
		else
			ok(p.err.status == 400, "lone surrogate %zu: rejected with 400", i);
		chat_request_free(&p.req);
	}
}

static void
test_json_bad_utf8(void)
{
	static const struct {
		const char *s;
		const char *what;
	} bytes[] = {
		{ "\xff", "byte FF" },
		{ "a\x80", "lone continuation" },
		{ "\xc0\x80", "overlong NUL" },
		{ "\xc1\xbf", "overlong 2-byte" },
		{ "\xe0\x80\xaf", "overlong 3-byte" },
		{ "\xed\xa0\x80", "encoded surrogate" },
		{ "\xf4\x90\x80\x80", "above U+10FFFF" },
		{ "\xe6\x97", "truncated sequence" },
		{ "\xf0\x9f\x98", "truncated 4-byte" },
	};
	char body[64];
	size_t i;

	for (i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++) {
		struct parsed p;

		snprintf(body, sizeof(body), "{\"prompt\":\"%s\"}", bytes[i].s);
		parse(&p, BODY_JSON, body);
		is_int(p.rc, -1, "JSON prompt with %s: rejected", bytes[i].what);
		is_int(p.err.status, 400, "JSON prompt with %s: 400", bytes[i].what);
		ok(well_formed(&p.req), "JSON prompt with %s: nothing ill-formed kept",
		    bytes[i].what);
		chat_request_free(&p.req);

		snprintf(body, sizeof(body), "{\"prompt\":\"x\",\"system\":\"%s\"}", bytes[i].s);
		parse(&p, BODY_JSON, body);
		ok(p.rc == -1 && p.err.status == 400, "JSON system with %s: 400", bytes[i].what);
		chat_request_free(&p.req);

		snprintf(body, sizeof(body), "{\"prompt\":\"x\",\"model\":\"%s\"}", bytes[i].s);
		parse(&p, BODY_JSON, body);
		ok(p.rc == -1 && p.err.status == 400, "JSON model with %s: 400", bytes[i].what);
		chat_request_free(&p.req);
	}
}

static void
test_json_messages(void)
{
	struct parsed p;
	static const char conv[] =
	    "{\"messages\":["
	    "{\"role\":\"system\",\"content\":\"sys\"},"
	    "{\"role\":\"developer\",\"content\":\"dev\"},"
	    "{\"role\":\"user\",\"content\":\"first\"},"
	    "{\"role\":\"assistant\",\"content\":\"reply\"},"
	    "{\"role\":\"user\",\"content\":\"second question\"},"
	    "{\"role\":\"assistant\",\"content\":\"\"}"
	    "]}";
	static const char parts[] =
	    "{\"messages\":[{\"role\":\"user\",\"content\":["
	    "{\"type\":\"text\",\"text\":\"Hello, \"},"
	    "{\"type\":\"text\",\"text\":\"wor\\u0000ld\"},"
	    "{\"text\":\"!\"}"
	    "]}]}";

	if (ok_parse(&p, BODY_JSON, conv, sizeof(conv) - 1, "second question", 15,
	    "messages: last user message is the prompt")) {
		if (is_int(p.req.nmessages, 6, "messages: six kept")) {
			is_str(p.req.messages[0].role, "system", "messages[0] system");
			is_str(p.req.messages[1].role, "system", "messages[1] developer maps to system");
			is_str(p.req.messages[1].content, "dev", "messages[1] content");
			is_str(p.req.messages[2].role, "user", "messages[2] user");
			is_str(p.req.messages[3].role, "assistant", "messages[3] assistant");
			is_str(p.req.messages[3].content, "reply", "messages[3] content");
			ok(p.req.prompt == p.req.messages[4].content,
			    "messages: prompt borrows messages[4]");
			is_int(p.req.messages[5].content_len, 0, "messages[5] empty assistant kept");
		}
		is_int(chat_request_words(&p.req), 6, "messages: words over every message");
	}
	done(&p);

	if (ok_parse(&p, BODY_JSON, parts, sizeof(parts) - 1, "Hello, wor\0ld!", 14,
	    "messages: content parts concatenated"))
		is_int(p.req.nmessages, 1, "content parts: one message");
	done(&p);

	good(BODY_JSON, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"\"},"
	    "{\"type\":\"text\",\"text\":\"x\"}]}]}", "x", "content parts: empty part");
	good(BODY_JSON, "{\"system\":\"s\",\"messages\":[{\"role\":\"user\",\"content\":\"u\"}]}",
	    "u", "system with messages");
	good(BODY_JSON, "{\"prompt\":null,\"messages\":[{\"role\":\"user\",\"content\":\"u\"}]}",
	    "u", "prompt null with messages");
	good(BODY_JSON, "{\"messages\":[{\"role\":\"user\",\"content\":\"u\",\"name\":\"bob\"}]}",
	    "u", "unknown message keys ignored");

	bad_req("{\"messages\":[]}", "messages: empty array");
	bad_req("{\"messages\":{}}", "messages: an object");
	bad_req("{\"messages\":\"hi\"}", "messages: a string");
	bad_req("{\"messages\":[\"hi\"]}", "messages: element a string");
	bad_req("{\"messages\":[null]}", "messages: element null");
	bad_req("{\"messages\":[{\"content\":\"hi\"}]}", "messages: role missing");
	bad_req("{\"messages\":[{\"role\":5,\"content\":\"hi\"}]}", "messages: role a number");
	bad_req("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
	    "{\"role\":\"tool\",\"content\":\"hi\"}]}", "messages: tool without tool_call_id");
	bad_req("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
	    "{\"role\":\"tool\",\"content\":\"hi\",\"tool_call_id\":5}]}",
	    "messages: tool_call_id a number");
	bad_req("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"c\"}]}", "messages: tool without content");
	bad_req("{\"messages\":[{\"role\":\"function\",\"content\":\"hi\"}]}",
	    "messages: role function");
	bad_req("{\"messages\":[{\"role\":\"User\",\"content\":\"hi\"}]}", "messages: role User");
	bad_req("{\"messages\":[{\"role\":\"\",\"content\":\"hi\"}]}", "messages: empty role");
	bad_req("{\"messages\":[{\"role\":\"user\"}]}", "messages: content missing");
	bad_req("{\"messages\":[{\"role\":\"user\",\"content\":null}]}", "messages: content null");
	bad_req("{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages: content a number");
	bad_req("{\"messages\":[{\"role\":\"user\",\"content\":{\"text\":\"x\"}}]}",
	    "messages: content an object");
	bad_req("{\"messages\":[{\"role\":\"user\",\"content\":[{\"image_url\":{\"url\":\"x\"}}]}]}",
	    "messages: part without a type");
	bad_req("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":5}]}]}",
	    "messages: part type a number");
	bad_req("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}",
	    "messages: text part without text");
	bad_req("{\"messages\":[{\"role\":\"user\",\"content\":null}]}", "messages: user content null");
	bad_req("{\"messages\":[{\"role\":\"user\",\"content\":[\"x\"]}]}",
	    "messages: part a string");
	bad_req("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":5}]}]}",
	    "messages: part text a number");
	bad_req("{\"messages\":[{\"role\":\"user\",\"content\":[]}]}",
	    "messages: no parts (empty prompt)");
	bad_req("{\"messages\":[{\"role\":\"system\",\"content\":\"s\"}]}",
	    "messages: no user message");
	bad_req("{\"messages\":[{\"role\":\"assistant\",\"content\":\"a\"}]}",
	    "messages: only assistant");
	bad_req("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
	    "{\"role\":\"user\",\"content\":\"  \"}]}", "messages: last user message blank");
	bad_req("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"bad\"}]}",
	    "messages: a bad message after a good one");
	bad_req("{\"prompt\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"y\"}]}",
	    "both prompt and messages");
}

/* Tool calls, their answers and content parts of every kind, kept as sent. */
static void
test_json_tools(void)
{
	struct parsed p;
	struct cs_error e;
	static const char round[] =
	    "{\"messages\":["
	    "{\"role\":\"user\",\"content\":\"weather in Paris?\",\"name\":\"ann\"},"
	    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
	    "\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":\"{}\"}}]},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"18 C\"},"
	    "{\"role\":\"assistant\",\"tool_calls\":[]},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"call_2\","
	    "\"content\":[{\"type\":\"text\",\"text\":\"sunny\"}]}"
	    "],\"tools\":[{\"type\":\"function\"}],\"seed\":7}";
	static const char media[] =
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
	    "{\"role\":\"assistant\",\"content\":[{\"type\":\"refusal\",\"refusal\":\"no\"}]},"
	    "{\"role\":\"user\",\"content\":["
	    "{\"type\":\"text\",\"text\":\"what is \"},"
	    "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AA==\"}},"
	    "{\"type\":\"text\",\"text\":\"this?\"},"
	    "{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"AA==\",\"format\":\"wav\"}}]}]}";
	static const char image_only[] =
	    "{\"messages\":[{\"role\":\"user\",\"content\":["
	    "{\"type\":\"file\",\"file\":{\"file_id\":\"f\"}}]}],\"n\":2}";

	if (OKP(&p, BODY_JSON, round, "weather in Paris?", "tool round trip")) {
		if (is_int(p.req.nmessages, 5, "tool round trip: five messages")) {
			is_str(p.req.messages[1].role, "assistant", "tool calls: assistant");
			is_int(p.req.messages[1].content_len, 0, "tool calls: content null is \"\"");
			is_str(p.req.messages[2].role, "tool", "tool answer: role tool");
			is_str(p.req.messages[2].content, "18 C", "tool answer: its content");
			is_str(p.req.messages[4].content, "sunny", "tool answer: text parts");
			ok(p.req.messages[1].json == json_object_array_get_idx(
			    json_object_object_get(p.req.body, "messages"), 1),
			    "tool calls: the message as sent is kept");
		}
		ok(p.req.body != NULL && json_object_object_get(p.req.body, "tools") != NULL &&
		    json_object_get_int(json_object_object_get(p.req.body, "seed")) == 7,
		    "tool round trip: the body keeps the fields chatstream does not read");
		is_str(p.req.other_param, "", "tool round trip: text only");
		is_int(chat_request_text_only(&p.req, "demo", &e), 0,
		    "tool round trip: fine for a text-only backend");
	}
	done(&p);

	if (OKP(&p, BODY_JSON, media, "what is this?", "media parts: the text parts are the prompt")) {
		is_str(p.req.messages[1].content, "no", "refusal part: its text");
		is_int(p.req.messages[2].other_parts, 2, "media parts: two that are not text");
		is_str(p.req.other_param, "messages[2].content[1]", "media parts: the first noted");
		is_int(chat_request_text_only(&p.req, "demo", &e), -1,
		    "media parts: refused by a text-only backend");
		is_int(e.status, 400, "media parts: 400");
		is_str(e.param, "messages[2].content[1]", "media parts: param names the part");
		ok(strstr(e.message, "image_url") != NULL && strstr(e.message, "demo") != NULL,
		    "media parts: the message names the part's type and the model");
	}
	done(&p);

	if (OKP(&p, BODY_JSON, image_only, "", "a file alone is a prompt")) {
		is_int(p.req.n, 2, "n 2 kept");
		is_str(p.req.other_param, "messages[0].content[0]", "file part noted");
	}
	done(&p);
	if (OKP(&p, BODY_JSON, "{\"prompt\":\"x\",\"n\":3}", "x", "n 3")) {
		is_int(chat_request_text_only(&p.req, "demo", &e), -1, "n 3: refused by demo");
		is_str(e.param, "n", "n 3: param n");
	}
	done(&p);
	bad_req("{\"prompt\":\"x\",\"n\":0}", "n 0");
	bad_req("{\"prompt\":\"x\",\"n\":129}", "n 129");
	bad_req("{\"prompt\":\"x\",\"n\":\"2\"}", "n a string");
	bad_req("{\"messages\":[{\"role\":\"user\",\"content\":[]}]}", "no parts at all");
}

static void
test_json_types(void)
{
	bad_req("{\"prompt\":5}", "prompt a number");
	bad_req("{\"prompt\":[\"x\"]}", "prompt an array");
	bad_req("{\"prompt\":{}}", "prompt an object");
	bad_req("{\"prompt\":true}", "prompt a boolean");
	bad_req("{\"prompt\":\"x\",\"model\":5}", "model a number");
	bad_req("{\"prompt\":\"x\",\"model\":[]}", "model an array");
	bad_req("{\"prompt\":\"x\",\"model\":\"\"}", "model empty");
	bad_req("{\"prompt\":\"x\",\"max_tokens\":\"5\"}", "max_tokens a string");
	bad_req("{\"prompt\":\"x\",\"max_tokens\":true}", "max_tokens a boolean");
	bad_req("{\"prompt\":\"x\",\"max_tokens\":[5]}", "max_tokens an array");
	bad_req("{\"prompt\":\"x\",\"max_tokens\":5.5}", "max_tokens a float");
	bad_req("{\"prompt\":\"x\",\"max_tokens\":5.0}", "max_tokens 5.0");
	bad_req("{\"prompt\":\"x\",\"max_tokens\":5e2}", "max_tokens 5e2");
	bad_req("{\"prompt\":\"x\",\"max_tokens\":0}", "max_tokens 0");
	bad_req("{\"prompt\":\"x\",\"max_tokens\":-1}", "max_tokens -1");
	bad_req("{\"prompt\":\"x\",\"max_tokens\":1000001}", "max_tokens 1000001");
	bad_req("{\"prompt\":\"x\",\"max_tokens\":9223372036854775807}", "max_tokens INT64_MAX");
	bad_req("{\"prompt\":\"x\",\"max_tokens\":18446744073709551615}", "max_tokens UINT64_MAX");
	bad_req("{\"prompt\":\"x\",\"max_tokens\":99999999999999999999999}", "max_tokens huge");
	bad_req("{\"prompt\":\"x\",\"max_tokens\":-9223372036854775809}",
	    "max_tokens below INT64_MIN");
	bad_req("{\"prompt\":\"x\",\"max_completion_tokens\":0}", "max_completion_tokens 0");
	bad_req("{\"prompt\":\"x\",\"temperature\":\"0.5\"}", "temperature a string");
	bad_req("{\"prompt\":\"x\",\"temperature\":false}", "temperature a boolean");
	bad_req("{\"prompt\":\"x\",\"temperature\":2.5}", "temperature 2.5");
	bad_req("{\"prompt\":\"x\",\"temperature\":2.0000001}", "temperature just above 2");
	bad_req("{\"prompt\":\"x\",\"temperature\":-0.1}", "temperature -0.1");
	bad_req("{\"prompt\":\"x\",\"temperature\":3}", "temperature integer 3");
	bad_req("{\"prompt\":\"x\",\"temperature\":1e400}", "temperature 1e400 (infinite)");
	bad_req("{\"prompt\":\"x\",\"system\":5}", "system a number");
	bad_req("{\"prompt\":\"x\",\"system\":[\"s\"]}", "system an array");
	bad_req("{\"system\":\"only a system prompt\"}", "system without a prompt");
	bad_req("{}", "empty object");
	bad_req("{\"prompt\":null}", "prompt null alone");
	bad_req("{\"prompt\":\"\"}", "empty prompt");
	bad_req("{\"prompt\":\"   \"}", "blank prompt");
	bad_req("{\"prompt\":\" \\t\\r\\n \\f\\u000b\"}", "whitespace-only prompt");
	/* Valid JSON that is not an object is a bad request, not bad JSON. */
	bad_req("[]", "top-level array");
	bad_req("[{\"prompt\":\"x\"}]", "top-level array of a request");
	bad_req("\"x\"", "top-level string");
	bad_req("5 ", "top-level number and a space");
	bad_req("5", "top-level number at the very end of input");
	bad_req("-0.5e3", "top-level float at the very end of input");
	bad_req("true", "top-level true");
	bad_req("false", "top-level false");
	bad_req("null", "top-level null");
}

static void
test_json_syntax(void)
{
	char *deep;
	size_t i, n;
	struct parsed p;

	bad_json("", "empty body");
	bad_json("   \n", "whitespace-only body");
	bad_json("{", "lone brace");
	bad_json("{\"prompt\":\"x\"", "incomplete object");
	bad_json("{\"prompt\":\"x", "incomplete string");
	bad_json("{\"prompt\":\"x\",\"max_tokens\":5", "incomplete after a number");
	bad_json("{\"prompt\":", "incomplete after a colon");
	bad_json("{\"prompt\":\"x\"} x", "trailing garbage");
	bad_json("{\"prompt\":\"x\"}{}", "two objects");
	bad_json("{\"prompt\":\"x\"}]", "trailing bracket");
	bad_json("{\"prompt\":\"x\",}", "trailing comma");
	bad_json("{\"prompt\" \"x\"}", "missing colon");
	bad_json("{prompt:\"x\"}", "unquoted key");
	bad_json("{\"prompt\":\"x\"} // comment", "comment after the object");
	bad_json("{\"prompt\":\"x\",\"max_tokens\":+5}", "number with a plus sign");
	bad_json("{\"prompt\":\"x\",\"max_tokens\":05}", "number with a leading zero");
	bad_json("{\"prompt\":\"x\",\"max_tokens\":0x10}", "hex number");
	bad_json("{\"prompt\":\"\\x41\"}", "bad escape \\x");
	bad_json("{\"prompt\":\"\\u12\"}", "short \\u escape");
	bad_n(BODY_JSON, "{\"prompt\":\"x\"}\0", 15, DEPTH, "invalid_json", "NUL after the object");
	bad_n(BODY_JSON, "{\"prompt\":\"a\0b\"}", 16, DEPTH, "invalid_json", "raw NUL in a string");

	/* Trailing whitespace of every JSON kind is fine. */
	good(BODY_JSON, "{\"prompt\":\"x\"}\r\n\t ", "x", "trailing whitespace");

	/* Depth: max_depth levels parse, one more is invalid_json. */
	good(BODY_JSON, "{\"a\":[[[[[[[[[[1]]]]]]]]]],\"prompt\":\"x\"}", "x", "11 levels within 32");
	n = 100;
	deep = malloc(2 * n + 40);
	strcpy(deep, "{\"prompt\":\"x\",\"a\":");
	for (i = 0; i < n; i++)
		strcat(deep, "[");
	for (i = 0; i < n; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	bad_n(BODY_JSON, deep, strlen(deep), DEPTH, "invalid_json", "101 levels with max_depth 32");
	free(deep);
	{
		static const char d3[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
		static const char d5[] = "{\"messages\":[{\"role\":\"user\",\"content\":"
		    "[{\"type\":\"text\",\"text\":\"x\"}]}]}";

		parse_n(&p, BODY_JSON, "{\"prompt\":\"x\"}", 14, 2);
		is_int(p.rc, 0, "1 level with max_depth 2 parses");
		chat_request_free(&p.req);
		parse_n(&p, BODY_JSON, d3, sizeof(d3) - 1, 3);
		is_int(p.rc, 0, "3 levels (messages) with max_depth 3 parse");
		if (p.rc == -1)
			diag("    %s", p.err.message);
		chat_request_free(&p.req);
		bad_n(BODY_JSON, d3, sizeof(d3) - 1, 2, "invalid_json",
		    "3 levels with max_depth 2");
		parse_n(&p, BODY_JSON, d5, sizeof(d5) - 1, 5);
		is_int(p.rc, 0, "5 levels (content parts) with max_depth 5 parse");
		if (p.rc == -1)
			diag("    %s", p.err.message);
		chat_request_free(&p.req);
		bad_n(BODY_JSON, d5, sizeof(d5) - 1, 4, "invalid_json",
		    "5 levels with max_depth 4");
	}
}

static void
test_form(void)
{
	struct parsed p;

	if (OKP(&p, BODY_FORM, "prompt=Hello+there%21", "Hello there!",
	    "form: + and %21")) {
		is_int(p.req.nmessages, 1, "form: one message");
		is_str(p.req.messages[0].role, "user", "form: role user");
	}
	done(&p);
	{
		static const char body[] = "model=demo&max_tokens=7&temperature=1.5&"
		    "system=Be%20brief.&prompt=caf%C3%A9%20%e6%97%a5";

		if (ok_parse(&p, BODY_FORM, body, sizeof(body) - 1, "caf\xc3\xa9 \xe6\x97\xa5", 9,
		    "form: every field")) {
			is_str(p.req.model, "demo", "form: model");
			is_int(p.req.max_tokens, 7, "form: max_tokens");
			ok(p.req.temperature == 1.5 && p.req.has_temperature, "form: temperature");
			if (is_int(p.req.nmessages, 2, "form: system and user")) {
				is_str(p.req.messages[0].role, "system", "form: system first");
				is_str(p.req.messages[0].content, "Be brief.", "form: system decoded");
			}
		}
		done(&p);
	}
	if (OKP(&p, BODY_FORM, "prompt=first&prompt=second", "second",
	    "form: repeated key, last wins"))
		is_int(p.req.nmessages, 1, "form: repeated key, one message");
	done(&p);
	if (OKP(&p, BODY_FORM, "system=a&system=b&prompt=x", "x",
	    "form: repeated system")) {
		if (is_int(p.req.nmessages, 2, "form: repeated system, two messages"))
			is_str(p.req.messages[0].content, "b", "form: repeated system, last wins");
	}
	done(&p);
	if (OKP(&p, BODY_FORM, "max_tokens=3&max_tokens=9&prompt=x", "x",
	    "form: repeated max_tokens"))
		is_int(p.req.max_tokens, 9, "form: repeated max_tokens, last wins");
	done(&p);
	good(BODY_FORM, "foo=bar&prompt=x&baz&=q&&", "x", "form: unknown and odd keys ignored");
	good(BODY_FORM, "pro%6Dpt=x", "x", "form: percent-encoded key");
	good(BODY_FORM, "prompt=a%3Db%26c%2Bd%25", "a=b&c+d%", "form: encoded = & + %");
	good(BODY_FORM, "prompt=x=y", "x=y", "form: second = is part of the value");
	good(BODY_FORM, "prompt=%41%4a%4A%7e", "AJJ~", "form: hex digits of either case");
	good(BODY_FORM, "prompt=x&", "x", "form: trailing &");
	good(BODY_FORM, "&prompt=x", "x", "form: leading &");
	if (OKP(&p, BODY_FORM, "prompt=a%00b", "a\0b", "form: %00 kept in the prompt"))
		is_int(p.req.prompt_len, 3, "form: %%00 counted in prompt_len");
	done(&p);

	bad(BODY_FORM, "", "invalid_request", "form: empty body");
	bad(BODY_FORM, "prompt=", "invalid_request", "form: empty prompt");
	bad(BODY_FORM, "prompt", "invalid_request", "form: prompt without =");
	bad(BODY_FORM, "prompt=+++", "invalid_request", "form: blank prompt");
	bad(BODY_FORM, "system=x", "invalid_request", "form: system only");
	bad(BODY_FORM, "prompt=%", "invalid_request", "form: lone %");
	bad(BODY_FORM, "prompt=%4", "invalid_request", "form: % and one digit");
	bad(BODY_FORM, "prompt=%4&x=1", "invalid_request", "form: % and one digit before &");
	bad(BODY_FORM, "prompt=%zz", "invalid_request", "form: %zz");
	bad(BODY_FORM, "prompt=%g0", "invalid_request", "form: %g0");
	bad(BODY_FORM, "prompt=x&%=1", "invalid_request", "form: bad escape in a key");
	bad(BODY_FORM, "prompt=%ff", "invalid_request", "form: %ff");
	bad(BODY_FORM, "prompt=%C3", "invalid_request", "form: truncated UTF-8");
	bad(BODY_FORM, "prompt=%C0%80", "invalid_request", "form: overlong NUL");
	bad(BODY_FORM, "prompt=%ED%A0%80", "invalid_request", "form: encoded surrogate");
	bad(BODY_FORM, "prompt=x&system=%80", "invalid_request", "form: bad UTF-8 in system");
	bad(BODY_FORM, "prompt=x&model=%ff", "invalid_request", "form: bad UTF-8 in model");
	bad_n(BODY_FORM, "prompt=\xff", 8, DEPTH, "invalid_request", "form: raw byte FF");
	bad(BODY_FORM, "prompt=x&model=", "invalid_request", "form: empty model");
	bad(BODY_FORM, "prompt=x&model=a%00b", "invalid_request", "form: NUL in model");
	bad(BODY_FORM, "prompt=x&max_tokens=", "invalid_request", "form: empty max_tokens");
	bad(BODY_FORM, "prompt=x&max_tokens=abc", "invalid_request", "form: max_tokens abc");
	bad(BODY_FORM, "prompt=x&max_tokens=5x", "invalid_request", "form: max_tokens 5x");
	bad(BODY_FORM, "prompt=x&max_tokens=5.0", "invalid_request", "form: max_tokens 5.0");
	bad(BODY_FORM, "prompt=x&max_tokens=0", "invalid_request", "form: max_tokens 0");
	/* Digits only: what strtoll() would take with a sign or a space is refused. */
	bad(BODY_FORM, "prompt=x&max_tokens=+5", "invalid_request", "form: max_tokens +5");
	bad(BODY_FORM, "prompt=x&max_tokens=%205", "invalid_request", "form: max_tokens ' 5'");
	bad(BODY_FORM, "prompt=x&max_tokens=+%205", "invalid_request", "form: max_tokens '+ 5'");
	bad(BODY_FORM, "prompt=x&max_tokens=%09-1", "invalid_request", "form: max_tokens '\\t-1'");
	bad(BODY_FORM, "prompt=x&max_tokens=18446744073709551621", "invalid_request",
	    "form: max_tokens 2^64 + 5");
	bad(BODY_FORM, "prompt=x&max_tokens=-3", "invalid_request", "form: max_tokens -3");
	bad(BODY_FORM, "prompt=x&max_tokens=1000001", "invalid_request",
	    "form: max_tokens 1000001");
	bad(BODY_FORM, "prompt=x&max_tokens=99999999999999999999", "invalid_request",
	    "form: max_tokens overflowing");
	bad(BODY_FORM, "prompt=x&max_tokens=5%00", "invalid_request",
	    "form: max_tokens with a NUL after the digits");
	bad(BODY_FORM, "prompt=x&temperature=", "invalid_request", "form: empty temperature");
	bad(BODY_FORM, "prompt=x&temperature=warm", "invalid_request", "form: temperature warm");
	bad(BODY_FORM, "prompt=x&temperature=2.5", "invalid_request", "form: temperature 2.5");
	bad(BODY_FORM, "prompt=x&temperature=-1", "invalid_request", "form: temperature -1");
	bad(BODY_FORM, "prompt=x&temperature=nan", "invalid_request", "form: temperature nan");
	bad(BODY_FORM, "prompt=x&temperature=inf", "invalid_request", "form: temperature inf");
	bad(BODY_FORM, "prompt=x&temperature=1e999", "invalid_request", "form: temperature 1e999");
	bad(BODY_FORM, "prompt=x&temperature=1x", "invalid_request", "form: temperature 1x");
	/* A key is its whole decoded text: "prompt\0junk" is not "prompt". */
	bad(BODY_FORM, "prompt%00junk=hello", "invalid_request", "form: key with a NUL is unknown");
}

static void
test_text(void)
{
	struct parsed p;

	if (OKP(&p, BODY_TEXT, "  Tell me a story.\n", "  Tell me a story.\n",
	    "text: body is the prompt verbatim")) {
		is_int(p.req.nmessages, 1, "text: one message");
		is_str(p.req.messages[0].role, "user", "text: role user");
		ok(p.req.model == NULL && p.req.max_tokens == 0 && !p.req.has_temperature,
		    "text: nothing else set");
	}
	done(&p);
	good(BODY_TEXT, "prompt=x&model=y", "prompt=x&model=y", "text: form-like text is literal");
	good(BODY_TEXT, "{\"prompt\":\"x\"}", "{\"prompt\":\"x\"}", "text: JSON-like text is literal");
	good(BODY_TEXT, "caf\xc3\xa9 \xf0\x9f\x8e\x89", "caf\xc3\xa9 \xf0\x9f\x8e\x89", "text: UTF-8");
	if (OKP(&p, BODY_TEXT, "a\0b", "a\0b", "text: NUL kept"))
		is_int(p.req.prompt_len, 3, "text: NUL counted");
	done(&p);
	bad(BODY_TEXT, "", "invalid_request", "text: empty");
	bad(BODY_TEXT, " \t\r\n", "invalid_request", "text: whitespace only");
	bad(BODY_TEXT, "\xff", "invalid_request", "text: byte FF");
	bad(BODY_TEXT, "ok \xc3", "invalid_request", "text: truncated at the end");
	bad(BODY_TEXT, "\xc0\xaf", "invalid_request", "text: overlong");
	bad(BODY_TEXT, "\xed\xbf\xbf", "invalid_request", "text: encoded surrogate");
	bad(BODY_TEXT, "\xf5\x80\x80\x80", "invalid_request", "text: F5 lead byte");
}

static void
test_bad_kind(void)
{
	struct parsed p;

	parse(&p, (enum body_kind)42, "hello");
	is_int(p.rc, -1, "unknown body kind: rejected");
	is_int(p.err.status, 500, "unknown body kind: 500");
	chat_request_free(&p.req);
}

/* err may be NULL when the caller does not care. */
static void
test_null_err(void)
{
	struct chat_request r;
	enum body_kind k;

	is_int(request_body_kind(NULL, &k, NULL), -1, "NULL err: missing Content-Type");
	is_int(request_body_kind("text/html", &k, NULL), -1, "NULL err: text/html");
	memset(&r, 0, sizeof(r));
	is_int(request_parse(BODY_JSON, "{", 1, DEPTH, &r, NULL), -1, "NULL err: bad JSON");
	chat_request_free(&r);
	is_int(request_parse(BODY_JSON, "{\"prompt\":5}", 12, DEPTH, &r, NULL), -1,
	    "NULL err: bad field");
	chat_request_free(&r);
	is_int(request_parse(BODY_FORM, "prompt=%zz", 10, DEPTH, &r, NULL), -1, "NULL err: bad form");
	chat_request_free(&r);
	is_int(request_parse(BODY_TEXT, "\xff", 1, DEPTH, &r, NULL), -1, "NULL err: bad text");
	chat_request_free(&r);
	is_int(request_parse(BODY_TEXT, "ok", 2, DEPTH, &r, NULL), 0, "NULL err: good text");
	chat_request_free(&r);
}

static void
test_words(void)
{
	struct parsed p;
	struct chat_request r;
	struct chat_message m[3];

	parse(&p, BODY_TEXT, "hello world");
	is_int(chat_request_words(&p.req), 2, "words: two");
	chat_request_free(&p.req);
	parse(&p, BODY_TEXT, "  leading\tand\ntrailing \r\n  ");
	is_int(chat_request_words(&p.req), 3, "words: mixed whitespace around");
	chat_request_free(&p.req);
	parse(&p, BODY_TEXT, "one");
	is_int(chat_request_words(&p.req), 1, "words: one");
	chat_request_free(&p.req);
	parse(&p, BODY_TEXT, "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	is_int(chat_request_words(&p.req), 2, "words: UTF-8 bytes are not whitespace");
	chat_request_free(&p.req);
	parse(&p, BODY_JSON, "{\"system\":\"be brief\",\"prompt\":\"a b  c\"}");
	is_int(chat_request_words(&p.req), 5, "words: system and prompt both count");
	chat_request_free(&p.req);
	parse(&p, BODY_JSON, "{\"prompt\":\"a\\u0000b\"}");
	is_int(chat_request_words(&p.req), 1, "words: a NUL is not a separator");
	chat_request_free(&p.req);

	/* Word runs do not carry across messages. */
	memset(&r, 0, sizeof(r));
	m[0].role = (char *)"user";
	m[0].content = (char *)"ab";
	m[0].content_len = 2;
	m[1].role = (char *)"assistant";
	m[1].content = (char *)"cd ";
	m[1].content_len = 3;
	m[2].role = (char *)"user";
	m[2].content = (char *)"";
	m[2].content_len = 0;
	r.messages = m;
	r.nmessages = 3;
	is_int(chat_request_words(&r), 2, "words: each message starts afresh");
	r.nmessages = 0;
	is_int(chat_request_words(&r), 0, "words: no messages, no words");
}

int
main(void)
{
	test_body_kind();
	test_json_fields();
	test_json_nul();
	test_json_surrogates();
	test_json_bad_utf8();
	test_json_messages();
	test_json_tools();
	test_json_types();
	test_json_syntax();
	test_form();
	test_text();
	test_bad_kind();
	test_null_err();
	test_words();
	return done_testing();
}
