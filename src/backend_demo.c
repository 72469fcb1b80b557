/* backend_demo.c: a deterministic, paced answer built from the prompt; needs no network. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "backend.h"
#include "clock.h"
#include "request.h"
#include "stream.h"

/*
 * The answer is TEXT = "You said: " + prompt + TAIL, cut into tokens that are
 * a run of whitespace followed by a run of non-whitespace (the last token may
 * be whitespace only), so the tokens concatenate to TEXT exactly.
 * doc/backends.md documents this; the tests compute the same thing independently.
 *
 * Like a real model it may reason first (the `reasoning` text, streamed the
 * same way as reasoning) and call a tool: when the request offers tools (and
 * tool_choice is not "none") and its last message is not a tool's result, the
 * answer is one call of the first tool (or of tool_choice's, or of
 * `tool_call`'s) with finish_reason tool_calls, its arguments in fragments of
 * ARG_BYTES; after a tool's result, TEXT = "The tool returned: " + result.
 */
#define ARG_BYTES 8
static const char tool_head[] = "The tool returned: ";
static const char head[] = "You said: ";
static const char tail[] = "\n\nThis is chatstream's demo model, streaming token by "
    "token: na\xc3\xafve caf\xc3\xa9, \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae"
    "\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88, emoji \xf0\x9f\x8e\x89\xf0\x9f\x9a\x80. Done.";
/* Sent first with control_chars = true: every byte that could break SSE framing. */
static const char control[] = "ctl:\r\n\revent: x\ndata: y\n\nid: 9\0\x1b[1m\x7f ";

struct demo_conf {
	long ttft_ms;
	long tokens_per_second;   /* 0: as fast as possible */
	long max_tokens;
	long fail_after;          /* 0: never */
	long stall_after;         /* -1: never */
	long stall_seconds;
	long chunk_bytes;         /* 0: whole tokens */
	int control_chars;
	char *reasoning;          /* NULL: none */
	char *tool_call;          /* NULL: the first tool offered */
	char *tool_arguments;     /* NULL: made from the tool's parameters */
};

struct demo_run {
	const struct demo_conf *cf;
	char *text;               /* owned: the whole answer */
	size_t len, pos;          /* pos: bytes already sent */
	long limit;               /* tokens allowed */
	long sent;                /* tokens (or chunks) sent */
	int control_pending;
	int stalled;
	int64_t next_ms;          /* when the next token is due */
	size_t rpos;              /* reasoning bytes already sent */
	char *args;               /* owned: a tool call's arguments; NULL: no call */
	size_t alen, apos;
	char *call_name;          /* owned */
	char call_id[32];
	int call_begun;
};

static void
free_conf(struct demo_conf *c)
{
	if (c == NULL)
		return;
	free(c->reasoning);
	free(c->tool_call);
	free(c->tool_arguments);
	free(c);
}

static int
demo_configure(struct model_conf *m, struct cs_error *err)
{
	struct demo_conf *c = calloc(1, sizeof(*c));
	struct conf_option *o;

	if (c == NULL)
		return cs_fail(err, 500, "config", "out of memory");
	c->ttft_ms = 0;
	c->tokens_per_second = 20;
	c->max_tokens = 256;
	c->stall_after = -1;
	if (conf_opt_int(m, "ttft_ms", 0, 600000, &c->ttft_ms, err) == -1 ||
	    conf_opt_int(m, "tokens_per_second", 0, 1000000, &c->tokens_per_second, err) == -1 ||
	    conf_opt_int(m, "max_tokens", 1, 10000000, &c->max_tokens, err) == -1 ||
	    conf_opt_int(m, "fail_after", 0, 10000000, &c->fail_after, err) == -1 ||
	    conf_opt_int(m, "stall_after", 0, 10000000, &c->stall_after, err) == -1 ||
	    conf_opt_int(m, "stall_seconds", 0, 86400, &c->stall_seconds, err) == -1 ||
	    conf_opt_int(m, "chunk_bytes", 0, 1 << 20, &c->chunk_bytes, err) == -1 ||
	    conf_opt_bool(m, "control_chars", &c->control_chars, err) == -1)
		goto fail;
	if ((o = conf_opt(m, "tool_arguments")) != NULL) {
		json_object *a = json_tokener_parse(o->value);
		int obj = a != NULL && json_object_is_type(a, json_type_object);

		json_object_put(a);
		if (!obj) {
			cs_fail(err, 500, "config", "tool_arguments: must be a JSON object");
			err->line = o->line;
			goto fail;
		}
	}
	if (((o = conf_opt(m, "reasoning")) != NULL && (c->reasoning = strdup(o->value)) == NULL) ||
	    ((o = conf_opt(m, "tool_call")) != NULL && (c->tool_call = strdup(o->value)) == NULL) ||
	    ((o = conf_opt(m, "tool_arguments")) != NULL &&
	    (c->tool_arguments = strdup(o->value)) == NULL)) {
		cs_fail(err, 500, "config", "out of memory");
		goto fail;
	}
	m->backend_conf = c;
	return 0;
fail:
	free_conf(c);
	return -1;
}

static void
demo_unconfigure(struct model_conf *m)
{
	free_conf(m->backend_conf);
	m->backend_conf = NULL;
}

/* The name of the tool the request makes the demo call, or NULL for none. */
static const char *
tool_to_call(const struct demo_conf *cf, const struct chat_request *req, json_object **params)
{
	json_object *tools, *choice, *t, *fn, *v, *name;
	size_t i;
	const char *want = cf->tool_call;

	*params = NULL;
	if (req->body == NULL || !json_object_object_get_ex(req->body, "tools", &tools) ||
	    !json_object_is_type(tools, json_type_array) ||
	    (req->nmessages > 0 && strcmp(req->messages[req->nmessages - 1].role, "tool") == 0))
		return NULL;
	if (json_object_object_get_ex(req->body, "tool_choice", &choice)) {
		if (json_object_is_type(choice, json_type_string) &&
		    strcmp(json_object_get_string(choice), "none") == 0)
			return NULL;
		/* {"type": "function", "function": {"name": ...}} */
		if (json_object_object_get_ex(choice, "function", &fn) &&
		    json_object_object_get_ex(fn, "name", &v) &&
		    json_object_is_type(v, json_type_string))
			want = json_object_get_string(v);
	}
	for (i = 0; i < json_object_array_length(tools); i++) {
		t = json_object_array_get_idx(tools, i);
		if (!json_object_object_get_ex(t, "function", &fn) ||
		    !json_object_object_get_ex(fn, "name", &name) ||
		    !json_object_is_type(name, json_type_string))
			continue;
		if (want != NULL && strcmp(want, json_object_get_string(name)) != 0)
			continue;
		json_object_object_get_ex(fn, "parameters", params);
		return json_object_get_string(name);
	}
	return NULL;
}

/*
 * Arguments for the parameters' schema, the same for the same request: each
 * property a string (the prompt), a number (42), a boolean (true), an array
 * ([]), an object ({}), or null.  Returns a malloc'ed JSON text or NULL.
 */
static char *
make_arguments(json_object *params, const struct chat_request *req)
{
	json_object *args = json_object_new_object(), *props, *type;
	char *out;

	if (params != NULL && json_object_object_get_ex(params, "properties", &props) &&
	    json_object_is_type(props, json_type_object)) {
		json_object_object_foreach(props, k, p) {
			const char *ty = json_object_object_get_ex(p, "type", &type) &&
			    json_object_is_type(type, json_type_string) ?
			    json_object_get_string(type) : "";
			json_object *v = NULL;

			if (strcmp(ty, "string") == 0)
				v = json_object_new_string_len(req->prompt, (int)req->prompt_len);
			else if (strcmp(ty, "number") == 0 || strcmp(ty, "integer") == 0)
				v = json_object_new_int(42);
			else if (strcmp(ty, "boolean") == 0)
				v = json_object_new_boolean(1);
			else if (strcmp(ty, "array") == 0)
				v = json_object_new_array();
			else if (strcmp(ty, "object") == 0)
				v = json_object_new_object();
			json_object_object_add(args, k, v);
		}
	}
	out = strdup(json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(args);
	return out;
}

/* Sets up r's tool call, if the request makes one. Returns 0, or -1 out of memory. */
static int
plan_call(struct demo_run *r, const struct chat_request *req)
{
	json_object *params;
	const char *name = tool_to_call(r->cf, req, &params);
	uint32_t h = 2166136261u;
	size_t i;

	if (name == NULL)
		return 0;
	if ((r->call_name = strdup(name)) == NULL ||
	    (r->args = r->cf->tool_arguments != NULL ? strdup(r->cf->tool_arguments) :
	    make_arguments(params, req)) == NULL)
		return -1;
	r->alen = strlen(r->args);
	/* An id that is the same for the same prompt (FNV-1a), as a test wants it. */
	for (i = 0; i < req->prompt_len; i++)
		h = (h ^ (unsigned char)req->prompt[i]) * 16777619u;
	snprintf(r->call_id, sizeof(r->call_id), "call_demo_%08x", (unsigned)h);
	return 0;
}

static void demo_stop(void *run);

static int
demo_start(const struct model_conf *m, const struct chat_request *req, void **out,
    struct cs_error *err)
{
	struct demo_run *r = calloc(1, sizeof(*r));
	const struct chat_message *last = req->nmessages > 0 ?
	    &req->messages[req->nmessages - 1] : NULL;
	int tool = last != NULL && strcmp(last->role, "tool") == 0;
	const char *h = tool ? tool_head : head, *p = tool ? last->content : req->prompt;
	size_t hl = strlen(h), pl = tool ? last->content_len : req->prompt_len;
	size_t tl = tool ? 0 : sizeof(tail) - 1;

	if (chat_request_text_only(req, m->name, err) == -1) {
		free(r);
		return -1;
	}
	if (r == NULL || (r->text = malloc(hl + pl + tl)) == NULL) {
		free(r);
		return cs_fail(err, 500, "internal_error", "out of memory");
	}
	r->cf = m->backend_conf;
	memcpy(r->text, h, hl);
	memcpy(r->text + hl, p, pl);
	memcpy(r->text + hl + pl, tail, tl);
	r->len = hl + pl + tl;
	if (plan_call(r, req) == -1) {
		demo_stop(r);
		return cs_fail(err, 500, "internal_error", "out of memory");
	}
	r->limit = r->cf->max_tokens;
	if (req->max_tokens > 0 && req->max_tokens < r->limit)
		r->limit = req->max_tokens;
	r->control_pending = r->cf->control_chars;
	r->next_ms = clock_ms() + r->cf->ttft_ms;
	*out = r;
	return 0;
}

static int
demo_pollfds(void *run, struct pollfd *pfd, int max, int64_t *wake)
{
	struct demo_run *r = run;

	(void)pfd;
	(void)max;
	*wake = r->next_ms;
	return 0;
}

static int
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Length of the next token of text at pos: whitespace run + non-whitespace run. */
static size_t
word_at(const char *text, size_t len, size_t pos)
{
	size_t i = pos;

	while (i < len && is_ws(text[i]))
		i++;
	while (i < len && !is_ws(text[i]))
		i++;
	return i - pos;
}

/* Length of the next token at pos (raw chunks with chunk_bytes). */
static size_t
next_token(const struct demo_run *r)
{
	if (r->cf->chunk_bytes > 0) {
		size_t left = r->len - r->pos;
		return left < (size_t)r->cf->chunk_bytes ? left : (size_t)r->cf->chunk_bytes;
	}
	return word_at(r->text, r->len, r->pos);
}

/* Length of the next argument fragment: ARG_BYTES or so, whole characters. */
static size_t
next_fragment(const struct demo_run *r)
{
	size_t n = r->alen - r->apos < ARG_BYTES ? r->alen - r->apos : ARG_BYTES;

	while (r->apos + n < r->alen && ((unsigned char)r->args[r->apos + n] & 0xC0) == 0x80)
		n++;
	return n;
}

/*
 * Sends what comes before the text: a reasoning token, or a tool-call
 * fragment (instead of the text).  Returns 1 when it sent one (*rc set),
 * 0 when the text is next.
 */
static int
before_text(struct demo_run *r, struct stream *s, int *rc)
{
	const char *why = r->cf->reasoning;
	size_t n;

	if (why != NULL && r->rpos < strlen(why)) {
		n = word_at(why, strlen(why), r->rpos);
		*rc = stream_reasoning(s, NULL, why + r->rpos, n);
		r->rpos += n;
		return 1;
	}
	if (r->args == NULL)
		return 0;
	if (!r->call_begun) {
		r->call_begun = 1;
		*rc = stream_tool_call(s, 0, r->call_id, r->call_name, "", 0);
		return 1;
	}
	n = next_fragment(r);
	*rc = stream_tool_call(s, 0, NULL, NULL, r->args + r->apos, n);
	r->apos += n;
	return 1;
}

static enum backend_status
demo_step(void *run, const struct pollfd *pfd, int n, struct stream *s,
    struct backend_result *res, struct cs_error *err)
{
	struct demo_run *r = run;
	const struct demo_conf *cf = r->cf;
	int64_t now = clock_ms();

	(void)pfd;
	(void)n;
	/* Emit every token that is due (several when the loop ran late, or at rate 0). */
	while (now >= r->next_ms) {
		size_t tl;
		int rc;

		if (r->sent < r->limit && r->args != NULL && r->call_begun && r->apos >= r->alen) {
			res->finish_reason = "tool_calls";
			res->completion_tokens = r->sent;
			return BACKEND_DONE;
		}
		if (r->args == NULL && ((r->pos >= r->len && !r->control_pending) ||
		    r->sent >= r->limit)) {
			res->finish_reason = r->pos >= r->len && !r->control_pending ? "stop" : "length";
			res->completion_tokens = r->sent;
			return BACKEND_DONE;
		}
		if (cf->fail_after > 0 && r->sent >= cf->fail_after) {
			cs_fail(err, 500, "backend_error",
			    "demo failure injected after %ld tokens", r->sent);
			return BACKEND_FAILED;
		}
		if (cf->stall_after >= 0 && r->sent >= cf->stall_after && !r->stalled) {
			r->stalled = 1;
			r->next_ms = now + cf->stall_seconds * 1000;
			return BACKEND_MORE;
		}
		if (r->sent >= r->limit) {
			res->finish_reason = "length";
			res->completion_tokens = r->sent;
			return BACKEND_DONE;
		}
		if (before_text(r, s, &rc))
			r->sent++;
		else if (r->control_pending) {
			r->control_pending = 0;
			r->sent++;
			rc = stream_token(s, control, sizeof(control) - 1);
		} else {
			tl = next_token(r);
			rc = stream_token(s, r->text + r->pos, tl);
			/* Consumed even when the reader has gone (-1): it is journaled. */
			r->pos += tl;
			r->sent++;
		}
		if (rc == -2) {
			cs_fail(err, 500, "internal_error", "the answer could not be sent");
			return BACKEND_FAILED;
		}
		if (cf->tokens_per_second > 0)
			r->next_ms += 1000 / cf->tokens_per_second;
		if (rc == -1)
			return BACKEND_MORE;   /* the reader has gone: the loop sees it */
		if (cf->tokens_per_second == 0 && r->sent % 64 == 0)
			return BACKEND_MORE;   /* let the loop look at the client now and then */
	}
	return BACKEND_MORE;
}

static void
demo_stop(void *run)
{
	struct demo_run *r = run;

	if (r == NULL)
		return;
	free(r->text);
	free(r->args);
	free(r->call_name);
	free(r);
}

const struct backend_ops backend_demo = {
	"demo", 0, 0, demo_configure, demo_unconfigure, demo_start, demo_pollfds,
	demo_step, demo_stop
};
