/* backend_openai.c: relays to an OpenAI-compatible chat-completions upstream over libcurl. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "backend.h"
#include "clock.h"
#include "curl_pool.h"
#include "log.h"
#include "metrics.h"
#include "num.h"
#include "redact.h"
#include "sse_parse.h"
#include "stream.h"
#include "upstream_responses.h"

#define MAX_SOCKS 4
#define ERRBODY_MAX (64 * 1024)
/*
 * After data: [DONE], how long curl may go on reading the end of the
 * response (the last chunk) before done goes out anyway.  A transfer removed
 * unfinished closes its connection; a finished one is back in its multi
 * handle's cache, which the pool lends to the next stream.  The end is
 * normally already on its way.
 */
#define DONE_DRAIN_MS 250

struct openai_conf {
	char *url;                /* base_url + "/chat/completions" */
	char *responses_url;      /* base_url + "/responses" */
	int responses;            /* POST /v1/responses goes to responses_url, as it is */
	char *upstream_model;
	char *api_key;            /* secret: sent upstream only, never logged or echoed */
	char **headers;           /* extra "Name: value" lines */
	size_t nheaders;
	long connect_timeout;     /* seconds */
	long idle_timeout;        /* seconds without a byte from the upstream */
	long max_duration;        /* seconds for the whole answer */
	char *ca_file;
	int tls_verify;
	long max_line;            /* cap on one upstream SSE line or event */
	char **drop;              /* request fields not passed on (drop_fields) */
	size_t ndrop;
	long max_tokens;          /* ceiling on max_tokens / max_completion_tokens; 0: none */
};

struct sock {
	curl_socket_t fd;
	int what;                 /* CURL_POLL_IN / OUT / INOUT */
};

struct openai_run {
	const struct openai_conf *cf;
	CURLM *multi;                      /* borrowed from curl_pool until stop() */
	CURL *easy;
	struct curl_slist *hdrs;
	struct sse_parser parser;
	struct stream *s;                  /* the stream being fed (during step) */
	struct sock socks[MAX_SOCKS];
	int nsocks;
	int64_t timer_ms;                  /* when curl wants to be called; -1: never */
	int64_t started_ms, last_data_ms;
	long http_status;
	int accepted;                      /* 2xx: 1 until step() said BACKEND_BEGIN, then 2 */
	int again;                         /* step() has more to do at once */
	struct buf errbody;                /* the body of a non-2xx answer */
	int retry_after;                   /* the upstream's Retry-After seconds; 0: none */
	int saw_done;
	int64_t drain_until_ms;            /* after [DONE]: done is due then at the latest; -1 */
	char finish[32];
	long prompt_tokens, completion_tokens;
	int failed;                        /* err holds why; the transfer is aborted */
	struct cs_error err;
	int finished;
	CURLcode result;
	/* Owned, NULL unless the upstream speaks the Responses API for this request. */
	struct upstream_responses *ur;
};

static void
free_conf(struct openai_conf *c)
{
	size_t i;

	if (c == NULL)
		return;
	free(c->url);
	free(c->responses_url);
	free(c->upstream_model);
	if (c->api_key != NULL) {
		explicit_bzero(c->api_key, strlen(c->api_key));
		free(c->api_key);
	}
	for (i = 0; i < c->nheaders; i++)
		free(c->headers[i]);
	free(c->headers);
	free(c->ca_file);
	for (i = 0; i < c->ndrop; i++)
		free(c->drop[i]);
	free(c->drop);
	free(c);
}

static int
opt_err(struct cs_error *err, const struct conf_option *o, const char *msg)
{
	cs_fail(err, 500, "config", "%s: %s", o->key, msg);
	err->line = o->line;
	return -1;
}

/* Reads the key from the first line of a file; the key itself never reaches a message. */
static char *
read_key_file(const char *path, const char **why)
{
	char line[4096];
	FILE *fp = fopen(path, "r");
	size_t n;

	if (fp == NULL) {
		*why = strerror(errno);
		return NULL;
	}
	if (fgets(line, sizeof(line), fp) == NULL) {
		fclose(fp);
		*why = "the file is empty";
		return NULL;
	}
	fclose(fp);
	n = strcspn(line, "\r\n");
	while (n > 0 && isspace((unsigned char)line[n - 1]))
		n--;
	line[n] = '\0';
	if (n == 0) {
		*why = "the first line is empty";
		return NULL;
	}
	return strdup(line);
}

/* Fields chatstream sets itself in the upstream request: never dropped, never the client's. */
static const char *const own_fields[] = {
	"model", "messages", "stream", "stream_options", "prompt", "system"
};

static int
is_own_field(const char *k)
{
	size_t i;

	for (i = 0; i < sizeof(own_fields) / sizeof(own_fields[0]); i++)
		if (strcmp(k, own_fields[i]) == 0)
			return 1;
	return 0;
}

/* drop_fields = NAME...: the request fields the upstream must not see. */
static int
drop_fields(struct openai_conf *c, const struct conf_option *o, struct cs_error *err)
{
	const char *p = o->value;

	for (;;) {
		size_t n;
		char **d;

		p += strspn(p, " \t");
		if ((n = strcspn(p, " \t")) == 0)
			return 0;
		if (n > 64 || strspn(p, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") < n)
			return opt_err(err, o, "expected field names of [A-Za-z0-9_.-]");
		if ((d = realloc(c->drop, (c->ndrop + 1) * sizeof(*d))) == NULL)
			return opt_err(err, o, "out of memory");
		c->drop = d;
		if ((d[c->ndrop] = strndup(p, n)) == NULL)
			return opt_err(err, o, "out of memory");
		c->ndrop++;
		if (is_own_field(d[c->ndrop - 1]))
			return opt_err(err, o, "model, messages, stream, stream_options, "
			    "prompt and system are chatstream's to set");
		p += n;
	}
}

static int
dropped(const struct openai_conf *cf, const char *k)
{
	size_t i;

	for (i = 0; i < cf->ndrop; i++)
		if (strcmp(k, cf->drop[i]) == 0)
			return 1;
	return 0;
}

static int
openai_configure(struct model_conf *m, struct cs_error *err)
{
	struct openai_conf *c = calloc(1, sizeof(*c));
	struct conf_option *o, *env, *file;
	size_t i, n;

	if (c == NULL)
		return cs_fail(err, 500, "config", "out of memory");
	c->connect_timeout = 10;
	c->idle_timeout = 120;
	c->max_duration = 900;
	c->tls_verify = 1;
	c->max_line = 1024 * 1024;
	if ((o = conf_opt(m, "base_url")) == NULL) {
		cs_fail(err, 500, "config", "model \"%s\": backend openai needs \"base_url\"", m->name);
		err->line = m->line;
		goto fail;
	}
	if (strncmp(o->value, "http://", 7) != 0 && strncmp(o->value, "https://", 8) != 0) {
		opt_err(err, o, "must start with http:// or https://");
		goto fail;
	}
	n = strlen(o->value);
	while (n > 0 && o->value[n - 1] == '/')
		n--;
	if ((c->url = malloc(n + sizeof("/chat/completions"))) == NULL)
		goto oom;
	memcpy(c->url, o->value, n);
	strcpy(c->url + n, "/chat/completions");
	if ((c->responses_url = malloc(n + sizeof("/responses"))) == NULL)
		goto oom;
	memcpy(c->responses_url, o->value, n);
	strcpy(c->responses_url + n, "/responses");
	o = conf_opt(m, "model");
	if ((c->upstream_model = strdup(o != NULL ? o->value : m->name)) == NULL)
		goto oom;
	env = conf_opt(m, "api_key_env");
	file = conf_opt(m, "api_key_file");
	if (env != NULL && file != NULL) {
		opt_err(err, file, "give api_key_env or api_key_file, not both");
		goto fail;
	}
	if (env != NULL) {
		const char *v = conf_secret_env(env->value);

		if (v == NULL || *v == '\0') {
			opt_err(err, env, "the environment variable is not set");
			goto fail;
		}
		if ((c->api_key = strdup(v)) == NULL)
			goto oom;
	} else if (file != NULL) {
		const char *why = NULL;

		if ((c->api_key = read_key_file(file->value, &why)) == NULL) {
			opt_err(err, file, why != NULL ? why : "out of memory");
			goto fail;
		}
	}
	for (i = 0; i < m->nopts; i++) {
		char **h;

		if (strcmp(m->opts[i].key, "header") != 0)
			continue;
		m->opts[i].used = 1;
		if (strchr(m->opts[i].value, ':') == NULL ||
		    strpbrk(m->opts[i].value, "\r\n") != NULL) {
			opt_err(err, &m->opts[i], "expected \"Name: value\"");
			goto fail;
		}
		if ((h = realloc(c->headers, (c->nheaders + 1) * sizeof(*h))) == NULL)
			goto oom;
		c->headers = h;
		if ((h[c->nheaders] = strdup(m->opts[i].value)) == NULL)
			goto oom;
		c->nheaders++;
	}
	if ((o = conf_opt(m, "ca_file")) != NULL && (c->ca_file = strdup(o->value)) == NULL)
		goto oom;
	if ((o = conf_opt(m, "drop_fields")) != NULL && drop_fields(c, o, err) == -1)
		goto fail;
	if (conf_opt_int(m, "connect_timeout", 1, 600, &c->connect_timeout, err) == -1 ||
	    conf_opt_int(m, "idle_timeout", 1, 86400, &c->idle_timeout, err) == -1 ||
	    conf_opt_int(m, "max_duration", 1, 86400, &c->max_duration, err) == -1 ||
	    conf_opt_int(m, "max_line", 1024, 64L * 1024 * 1024, &c->max_line, err) == -1 ||
	    conf_opt_int(m, "max_tokens", 1, 1000000, &c->max_tokens, err) == -1 ||
	    conf_opt_bool(m, "tls_verify", &c->tls_verify, err) == -1 ||
	    conf_opt_bool(m, "responses", &c->responses, err) == -1)
		goto fail;
	m->backend_conf = c;
	curl_pool_ref();
	return 0;
oom:
	cs_fail(err, 500, "config", "out of memory");
fail:
	free_conf(c);
	return -1;
}

static void
openai_unconfigure(struct model_conf *m)
{
	if (m->backend_conf == NULL)
		return;
	free_conf(m->backend_conf);
	m->backend_conf = NULL;
	curl_pool_unref();
}

/* Marks the run failed (first reason wins); the caller then aborts the transfer. */
static int
fail(struct openai_run *r, int status, const char *type, const char *msg)
{
	if (!r->failed) {
		r->failed = 1;
		cs_fail(&r->err, status, type, "%s", msg);
	}
	return 1;
}

/*
 * Appends an upstream's message to err->message, safe to show a client:
 * printable, cut to fit, and without the API key, whole or in part, even if
 * the upstream echoed it.  It is cut once, here, after the key is masked.
 */
static void
add_upstream_text(const struct openai_conf *cf, struct cs_error *err, const char *text)
{
	size_t n = strlen(err->message);

	redact(cf->api_key, text, strlen(text), err->message + n, sizeof(err->message) - n);
}

/* A string member of o, or NULL. */
static const char *
str_of(json_object *o, const char *key, size_t *len)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

/*
 * Relays what choice c (selected in the stream) brings, losslessly:
 * reasoning (under the upstream's key), logprobs with their text, a
 * refusal, tool-call fragments.  Returns 0, -2 (the stream failed) or -3
 * (a tool call without a usable index).
 */
static int
relay_delta(struct openai_run *r, json_object *c)
{
	static const char *const reasoning[] = { "reasoning_content", "reasoning" };
	json_object *delta, *v;
	const char *t;
	size_t len, i, n;

	if (!json_object_object_get_ex(c, "delta", &delta) ||
	    !json_object_is_type(delta, json_type_object))
		return 0;
	for (i = 0; i < 2; i++) {
		const char *first;
		size_t flen;

		if ((t = str_of(delta, reasoning[i], &len)) == NULL || len == 0)
			continue;
		/* The same text under both keys (a server keeping the old name too): once. */
		if (i == 1 && (first = str_of(delta, reasoning[0], &flen)) != NULL &&
		    flen == len && memcmp(first, t, len) == 0)
			continue;
		if (stream_reasoning(r->s, reasoning[i], t, len) == -2)
			return -2;
	}
	if (json_object_object_get_ex(c, "logprobs", &v) &&
	    json_object_is_type(v, json_type_object) &&
	    (t = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE)) != NULL &&
	    stream_logprobs(r->s, t, strlen(t)) == -2)
		return -2;
	if ((t = str_of(delta, "content", &len)) != NULL && len > 0 &&
	    stream_token(r->s, t, len) == -2)
		return -2;
	if ((t = str_of(delta, "refusal", &len)) != NULL && len > 0 &&
	    stream_refusal(r->s, t, len) == -2)
		return -2;
	if (!json_object_object_get_ex(delta, "tool_calls", &v) ||
	    !json_object_is_type(v, json_type_array))
		return 0;
	n = json_object_array_length(v);
	for (i = 0; i < n; i++) {
		json_object *tc = json_object_array_get_idx(v, i), *ix, *fn = NULL;
		const char *id, *name = NULL, *args = NULL;
		size_t idlen, nlen, alen = 0;
		int64_t index;

		if (!json_object_is_type(tc, json_type_object))
			continue;
		/* Some upstreams leave the index out of a whole call: its place then. */
		index = json_object_object_get_ex(tc, "index", &ix) ?
		    (json_object_is_type(ix, json_type_int) ? json_object_get_int64(ix) : -1) :
		    (int64_t)i;
		if (index < 0 || index >= STREAM_MAX_CALLS)
			return -3;
		id = str_of(tc, "id", &idlen);
		if (json_object_object_get_ex(tc, "function", &fn) &&
		    json_object_is_type(fn, json_type_object)) {
			name = str_of(fn, "name", &nlen);
			args = str_of(fn, "arguments", &alen);
		}
		if (stream_tool_call(r->s, (int)index, id, name, args != NULL ? args : "",
		    alen) == -2)
			return -2;
	}
	return 0;
}

/* The upstream's usage members beyond the counts (*_details...) go to the client. */
static void
usage_details(struct openai_run *r, json_object *usage)
{
	json_object *x = json_object_new_object();
	const char *t;

	json_object_object_foreach(usage, k, v) {
		if (strcmp(k, "prompt_tokens") != 0 && strcmp(k, "completion_tokens") != 0 &&
		    strcmp(k, "total_tokens") != 0 && !json_object_is_type(v, json_type_null))
			json_object_object_add(x, k, json_object_get(v));
	}
	if (json_object_object_length(x) > 0 && (t = json_object_to_json_string_ext(x,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) != NULL)
		(void)stream_usage_details(r->s, t, strlen(t));
	json_object_put(x);
}

/* One event of an upstream that speaks the Responses API (o is taken). */
static int
on_responses_event(struct openai_run *r, json_object *o)
{
	const char *why = NULL;
	int rc = upstream_responses_event(r->ur, r->s, o, &why);

	switch (rc) {
	case 1:
		/* Its end, as [DONE] is a chat completion's. */
		r->saw_done = 1;
		snprintf(r->finish, sizeof(r->finish), "%s", r->ur->finish);
		r->prompt_tokens = r->ur->input_tokens;
		r->completion_tokens = r->ur->output_tokens;
		break;
	case -1:
		if (!r->failed) {
			fail(r, 502, "upstream_error", "");
			add_upstream_text(r->cf, &r->err, why);
		}
		break;
	case -3:
		fail(r, 502, "upstream_protocol_error", why);
		break;
	case -2:
		fail(r, 500, "internal_error", "the answer could not be sent");
		break;
	}
	json_object_put(o);
	return rc < 0 ? 1 : 0;
}

static int
on_event(void *ctx, const char *type, const char *data, size_t len)
{
	struct openai_run *r = ctx;
	json_tokener *tok;
	json_object *o, *v, *choices;

	(void)type;
	if (r->saw_done)
		return 0;
	if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		r->saw_done = 1;
		return 0;
	}
	if ((tok = json_tokener_new_ex(64)) == NULL)
		return fail(r, 500, "internal_error", "out of memory");
	o = json_tokener_parse_ex(tok, data, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		json_tokener_free(tok);
		return fail(r, 502, "upstream_protocol_error",
		    "the upstream sent an event that is not a JSON object");
	}
	json_tokener_free(tok);
	if (r->ur != NULL)
		return on_responses_event(r, o);
	if (json_object_object_get_ex(o, "error", &v)) {
		json_object *m;
		const char *text = json_object_is_type(v, json_type_string) ?
		    json_object_get_string(v) : json_object_object_get_ex(v, "message", &m) ?
		    json_object_get_string(m) : "unspecified error";

		if (!r->failed) {
			fail(r, 502, "upstream_error", "");
			add_upstream_text(r->cf, &r->err, text != NULL ? text : "");
		}
		json_object_put(o);
		return 1;
	}
	if (json_object_object_get_ex(o, "choices", &choices) &&
	    json_object_is_type(choices, json_type_array)) {
		size_t k, nc = json_object_array_length(choices);

		for (k = 0; k < nc; k++) {
			json_object *c = json_object_array_get_idx(choices, k), *ix, *fr;
			int64_t index = (int64_t)k;
			int rc;

			if (!json_object_is_type(c, json_type_object))
				continue;
			if (json_object_object_get_ex(c, "index", &ix) &&
			    json_object_is_type(ix, json_type_int))
				index = json_object_get_int64(ix);
			/*
			 * A choice the stream does not carry (past the request's n;
			 * any but 0 in a format of one answer) or that has ended: dropped.
			 */
			if (index < 0 || index >= STREAM_MAX_CHOICES ||
			    stream_select_choice(r->s, (int)index) == -1)
				continue;
			if ((rc = relay_delta(r, c)) != 0) {
				json_object_put(o);
				return rc == -3 ? fail(r, 502, "upstream_protocol_error",
				    "the upstream sent a tool call without a valid index") :
				    fail(r, 500, "internal_error", "the answer could not be sent");
			}
			if (json_object_object_get_ex(c, "finish_reason", &fr) &&
			    json_object_is_type(fr, json_type_string)) {
				const char *f = json_object_get_string(fr);

				/* It goes into our JSON unquoted by json-c: only [a-z_] passes. */
				if (*f != '\0' && strspn(f, "abcdefghijklmnopqrstuvwxyz_") == strlen(f))
					snprintf(r->finish, sizeof(r->finish), "%s", f);
				else
					snprintf(r->finish, sizeof(r->finish), "stop");
				/* With several choices, this one's finish chunk goes out now. */
				if (stream_choice_finish(r->s, r->finish) == -2) {
					json_object_put(o);
					return fail(r, 500, "internal_error",
					    "the answer could not be sent");
				}
			}
		}
	}
	if (json_object_object_get_ex(o, "usage", &v) && json_object_is_type(v, json_type_object)) {
		json_object *n;

		if (json_object_object_get_ex(v, "prompt_tokens", &n))
			r->prompt_tokens = (long)json_object_get_int64(n);
		if (json_object_object_get_ex(v, "completion_tokens", &n))
			r->completion_tokens = (long)json_object_get_int64(n);
		usage_details(r, v);
	}
	json_object_put(o);
	return 0;
}

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct openai_run *r = ud;
	size_t n = size * nmemb;
	int rc;

	r->last_data_ms = clock_ms();
	if (r->http_status == 0) {
		metrics_upstream_first_byte(r->last_data_ms - r->started_ms);
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->http_status);
		/* The upstream accepted the request: now the client's 200 is due. */
		if (r->http_status >= 200 && r->http_status < 300)
			r->accepted = 1;
	}
	if (r->http_status < 200 || r->http_status >= 300) {
		if (r->errbody.len < ERRBODY_MAX)
			buf_add(&r->errbody, ptr, n < ERRBODY_MAX - r->errbody.len ?
			    n : ERRBODY_MAX - r->errbody.len);
		return n;
	}
	/* Nothing after [DONE] is part of the answer: curl reads on only to end the response. */
	if (r->saw_done)
		return n;
	rc = sse_parse_feed(&r->parser, ptr, n);
	if (rc == SSE_PARSE_TOO_BIG)
		fail(r, 502, "upstream_protocol_error", "an upstream event exceeded max_line");
	return r->failed ? CURL_WRITEFUNC_ERROR : n;
}

/* The most a client is told to wait, whatever the upstream says. */
#define RETRY_AFTER_MAX 3600

/*
 * A Retry-After value in seconds, 1..RETRY_AFTER_MAX (a longer wait is
 * clamped), or 0 when it is not delta-seconds (an HTTP date, junk, 0):
 * the caller's own default then applies.
 */
static int
retry_after_of(const char *v, size_t len)
{
	uint64_t secs;

	while (len > 0 && (*v == ' ' || *v == '\t'))
		v++, len--;
	while (len > 0 && strchr(" \t\r\n", v[len - 1]) != NULL)
		len--;
	if (len == 0 || strspn(v, "0123456789") < len)
		return 0;
	if (num_parse(v, len, RETRY_AFTER_MAX, &secs) == -1)
		return RETRY_AFTER_MAX;   /* all digits, only too many of them */
	return (int)secs;
}

static size_t
on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct openai_run *r = ud;
	size_t n = size * nmemb;

	if (n > 12 && strncasecmp(ptr, "Retry-After:", 12) == 0)
		r->retry_after = retry_after_of(ptr + 12, n - 12);
	return n;
}

static int
on_socket(CURL *e, curl_socket_t fd, int what, void *ud, void *sockp)
{
	struct openai_run *r = ud;
	int i;

	(void)e;
	(void)sockp;
	for (i = 0; i < r->nsocks && r->socks[i].fd != fd; i++)
		;
	if (what == CURL_POLL_REMOVE) {
		if (i < r->nsocks)
			r->socks[i] = r->socks[--r->nsocks];
		return 0;
	}
	if (i == r->nsocks) {
		if (r->nsocks == MAX_SOCKS)
			return -1;
		r->nsocks++;
	}
	r->socks[i].fd = fd;
	r->socks[i].what = what;
	return 0;
}

static int
on_timer(CURLM *m, long timeout_ms, void *ud)
{
	struct openai_run *r = ud;

	(void)m;
	r->timer_ms = timeout_ms < 0 ? -1 : clock_ms() + timeout_ms;
	return 0;
}

/*
 * The chat-completions request body: the client's, with every field
 * chatstream does not set itself passed on as it came (tools, tool_choice,
 * response_format, seed, logprobs, n, unknown ones...) but those the model
 * section drops; the messages as sent; the section's model; a stream with
 * usage; max_tokens under the section's ceiling.  Caller puts it.
 */
static json_object *
request_body(const struct openai_conf *cf, const struct chat_request *req)
{
	static const char *const limits[] = { "max_tokens", "max_completion_tokens" };
	json_object *o = json_object_new_object(), *msgs = json_object_new_array(), *so, *v;
	size_t i;
	int capped = 0;

	json_object_object_add(o, "model", json_object_new_string(cf->upstream_model));
	for (i = 0; i < req->nmessages; i++) {
		const struct chat_message *cm = &req->messages[i];
		json_object *m;

		if (cm->json != NULL) {
			json_object_array_add(msgs, json_object_get(cm->json));
			continue;
		}
		m = json_object_new_object();
		json_object_object_add(m, "role", json_object_new_string(cm->role));
		json_object_object_add(m, "content",
		    json_object_new_string_len(cm->content, (int)cm->content_len));
		json_object_array_add(msgs, m);
	}
	json_object_object_add(o, "messages", msgs);
	if (req->body != NULL) {
		json_object_object_foreach(req->body, k, val) {
			if (!is_own_field(k) && !dropped(cf, k))
				json_object_object_add(o, k, json_object_get(val));
		}
	}
	json_object_object_add(o, "stream", json_object_new_boolean(1));
	/* The client's stream options, but usage always: done carries it. */
	so = json_object_new_object();
	if (req->body != NULL && json_object_object_get_ex(req->body, "stream_options", &v) &&
	    json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, k, val)
			json_object_object_add(so, k, json_object_get(val));
	}
	json_object_object_add(so, "include_usage", json_object_new_boolean(1));
	json_object_object_add(o, "stream_options", so);
	if (req->body == NULL && req->max_tokens > 0)
		json_object_object_add(o, "max_tokens", json_object_new_int64(req->max_tokens));
	if (req->body == NULL && req->has_temperature)
		json_object_object_add(o, "temperature", json_object_new_double(req->temperature));
	if (req->body == NULL && req->nstop > 0) {
		json_object *stop = json_object_new_array();

		for (i = 0; i < req->nstop; i++)
			json_object_array_add(stop, json_object_new_string(req->stop[i]));
		json_object_object_add(o, "stop", stop);
	}
	if (cf->max_tokens > 0) {
		for (i = 0; i < 2; i++)
			if (json_object_object_get_ex(o, limits[i], &v) && !json_object_is_type(v,
			    json_type_null)) {
				capped = 1;
				if (json_object_get_int64(v) > cf->max_tokens)
					json_object_object_add(o, limits[i],
					    json_object_new_int64(cf->max_tokens));
			}
		/* None asked for: the ceiling is the limit, under a name not dropped. */
		for (i = 0; i < 2 && !capped; i++)
			if (!dropped(cf, limits[i])) {
				json_object_object_add(o, limits[i], json_object_new_int64(cf->max_tokens));
				capped = 1;
			}
	}
	return o;
}

static void
openai_stop(void *run)
{
	struct openai_run *r = run;

	if (r == NULL)
		return;
	/* Removing an unfinished transfer closes its connection: the upstream stops. */
	if (r->easy != NULL) {
		curl_multi_remove_handle(r->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_pool_give(r->multi);
	curl_slist_free_all(r->hdrs);
	sse_parse_free(&r->parser);
	buf_free(&r->errbody);
	free(r->ur);
	free(r);
}

/*
 * The body for the upstream's own /responses (see upstream_responses_body()),
 * without the fields the model section drops, max_output_tokens under its
 * ceiling.  NULL when out of memory.  Caller puts it.
 */
static json_object *
responses_body(const struct openai_conf *cf, const struct chat_request *req)
{
	json_object *o = upstream_responses_body(req, cf->upstream_model), *v;
	size_t i;

	if (o == NULL)
		return NULL;
	for (i = 0; i < cf->ndrop; i++)
		if (strcmp(cf->drop[i], "input") != 0 && strcmp(cf->drop[i], "store") != 0)
			json_object_object_del(o, cf->drop[i]);
	if (cf->max_tokens > 0 && !dropped(cf, "max_output_tokens") &&
	    (!json_object_object_get_ex(o, "max_output_tokens", &v) ||
	    json_object_is_type(v, json_type_null) || json_object_get_int64(v) > cf->max_tokens))
		json_object_object_add(o, "max_output_tokens", json_object_new_int64(cf->max_tokens));
	return o;
}

static int
openai_start(const struct model_conf *m, const struct chat_request *req, void **out,
    struct cs_error *err)
{
	const struct openai_conf *cf = m->backend_conf;
	struct openai_run *r = calloc(1, sizeof(*r));
	json_object *body;
	char auth[4200];
	size_t i;
	int ok;

	if (r == NULL)
		return cs_fail(err, 503, "overloaded", "out of memory");
	/* The upstream is not to be asked for more than one: the answer has one. */
	if (req->n > 1 && dropped(cf, "n")) {
		free(r);
		cs_fail(err, 400, "invalid_request", "model \"%s\" gives one choice: "
		    "\"n\" must be 1", m->name);
		return cs_param(err, "n");
	}
	r->cf = cf;
	/* curl sets its timer when the transfer is added; until then, step() at once. */
	r->timer_ms = clock_ms();
	r->drain_until_ms = -1;
	r->started_ms = r->last_data_ms = clock_ms();
	/* An event's data may be a whole max_line, plus the LF each data line adds. */
	sse_parse_init(&r->parser, (size_t)cf->max_line, (size_t)cf->max_line + 1, on_event, r);
	buf_init(&r->errbody, ERRBODY_MAX);
	r->multi = curl_pool_take();
	r->easy = curl_easy_init();
	if (r->multi == NULL || r->easy == NULL) {
		openai_stop(r);
		return cs_fail(err, 503, "overloaded", "cannot start an upstream transfer");
	}
	r->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	r->hdrs = curl_slist_append(r->hdrs, "Accept: text/event-stream");
	if (cf->api_key != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cf->api_key);
		r->hdrs = curl_slist_append(r->hdrs, auth);
		explicit_bzero(auth, sizeof(auth));
	}
	for (i = 0; i < cf->nheaders; i++)
		r->hdrs = curl_slist_append(r->hdrs, cf->headers[i]);
	if (cf->responses && req->responses != NULL) {
		/* The upstream speaks the Responses API: the request goes as it came. */
		if ((r->ur = malloc(sizeof(*r->ur))) != NULL)
			upstream_responses_init(r->ur);
		body = r->ur != NULL ? responses_body(cf, req) : NULL;
	} else
		body = request_body(cf, req);
	ok = r->hdrs != NULL && body != NULL &&
	    curl_easy_setopt(r->easy, CURLOPT_URL, r->ur != NULL ? cf->responses_url :
	    cf->url) == CURLE_OK &&
	    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
	    curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS,
	    json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE)) == CURLE_OK;
	json_object_put(body);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_SHARE, curl_pool_share());
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT, cf->connect_timeout);
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(r->easy, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, cf->tls_verify ? 1L : 0L);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, cf->tls_verify ? 2L : 0L);
	if (cf->ca_file != NULL)
		curl_easy_setopt(r->easy, CURLOPT_CAINFO, cf->ca_file);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_multi_setopt(r->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(r->multi, CURLMOPT_SOCKETDATA, r);
	curl_multi_setopt(r->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(r->multi, CURLMOPT_TIMERDATA, r);
	if (!ok || curl_multi_add_handle(r->multi, r->easy) != CURLM_OK) {
		openai_stop(r);
		return cs_fail(err, 503, "overloaded", "cannot start an upstream transfer");
	}
	*out = r;
	return 0;
}

static int
openai_pollfds(void *run, struct pollfd *pfd, int max, int64_t *wake)
{
	struct openai_run *r = run;
	int i, n = 0;
	int64_t idle = r->last_data_ms + r->cf->idle_timeout * 1000;
	int64_t total = r->started_ms + r->cf->max_duration * 1000;

	for (i = 0; i < r->nsocks && n < max; i++) {
		pfd[n].fd = r->socks[i].fd;
		pfd[n].events = (short)((r->socks[i].what & CURL_POLL_IN ? POLLIN : 0) |
		    (r->socks[i].what & CURL_POLL_OUT ? POLLOUT : 0));
		pfd[n++].revents = 0;
	}
	*wake = idle < total ? idle : total;
	if (r->again)
		*wake = 0;
	if (r->timer_ms >= 0 && r->timer_ms < *wake)
		*wake = r->timer_ms;
	if (r->drain_until_ms >= 0 && r->drain_until_ms < *wake)
		*wake = r->drain_until_ms;
	return n;
}

/*
 * The status a client gets for an upstream's non-2xx one: the same for a
 * 4xx about the request (400, 404, 409, 413, 415, 422, 429), else 502.
 */
static int
client_status(long upstream)
{
	switch (upstream) {
	case 400: case 404: case 409: case 413: case 415: case 422: case 429:
		return (int)upstream;
	default:
		return 502;
	}
}

/*
 * Copies the upstream error's string field name into out (size bytes), safe
 * to show a client: a word of [A-Za-z0-9_.-] (anything else makes it ""),
 * the API key masked as in messages.
 */
static void
upstream_word(const struct openai_conf *cf, json_object *e, const char *name,
    char *out, size_t size)
{
	json_object *v;
	const char *w;
	size_t n;

	out[0] = '\0';
	if (!json_object_object_get_ex(e, name, &v) || !json_object_is_type(v, json_type_string))
		return;
	w = json_object_get_string(v);
	n = strlen(w);
	if (n == 0 || n >= size || strspn(w, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-[]") != n)
		return;
	redact(cf->api_key, w, n, out, size);
}

/* Maps a finished transfer's outcome to the end of the stream. */
static enum backend_status
finish(struct openai_run *r, struct backend_result *res, struct cs_error *err)
{
	if (r->failed) {
		*err = r->err;
		return BACKEND_FAILED;
	}
	if (r->http_status == 0)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->http_status);
	if (r->result != CURLE_OK && r->http_status == 0) {
		cs_fail(err, 502, "upstream_unreachable", "cannot reach the upstream: %s",
		    curl_easy_strerror(r->result));
		return BACKEND_FAILED;
	}
	if (r->http_status < 200 || r->http_status >= 300) {
		json_object *o = json_tokener_parse(r->errbody.data != NULL ? r->errbody.data : "");
		json_object *e = NULL, *m;
		const char *text = NULL;
		int status = client_status(r->http_status);

		if (o != NULL && json_object_object_get_ex(o, "error", &e))
			text = json_object_is_type(e, json_type_string) ? json_object_get_string(e) :
			    json_object_object_get_ex(e, "message", &m) ? json_object_get_string(m) : NULL;
		/*
		 * A refusal of the request itself (OpenAI's error object with a 4xx
		 * but 401/403/407) is the client's to fix: its status and the
		 * upstream's type, code and param pass on, so SDKs do not retry.
		 * A rate limit may be retried later.  Anything else (5xx, a refused
		 * key, a page that is no OpenAI error) is chatstream's upstream
		 * failing: 502.
		 */
		if (r->http_status == 429) {
			cs_fail(err, 429, "upstream_rate_limited", "the upstream is rate limiting: ");
			/* Only the delta-seconds form; an HTTP date falls back to ours. */
			err->retry_after = r->retry_after;
		} else if (status != 502 && e != NULL && json_object_is_type(e, json_type_object))
			cs_fail(err, status, "upstream_rejected", "the upstream refused the request: ");
		else
			cs_fail(err, 502, "upstream_error", "the upstream answered %ld: ",
			    r->http_status);
		add_upstream_text(r->cf, err, text != NULL ? text : "no details");
		if (err->status != 502 && err->status != 429 && e != NULL &&
		    json_object_is_type(e, json_type_object)) {
			upstream_word(r->cf, e, "type", err->kind, sizeof(err->kind));
			upstream_word(r->cf, e, "code", err->code, sizeof(err->code));
			upstream_word(r->cf, e, "param", err->param, sizeof(err->param));
		}
		json_object_put(o);
		return BACKEND_FAILED;
	}
	/* After [DONE] the answer is whole, however the response itself ended. */
	if (!r->saw_done && (r->result != CURLE_OK || r->finish[0] == '\0')) {
		cs_fail(err, 502, "upstream_truncated", "the upstream's answer ended early%s%s",
		    r->result != CURLE_OK ? ": " : "",
		    r->result != CURLE_OK ? curl_easy_strerror(r->result) : "");
		return BACKEND_FAILED;
	}
	/* stop, length, content_filter, tool_calls...: the upstream's word, kept in r until stop(). */
	res->finish_reason = r->finish[0] != '\0' ? r->finish : "stop";
	res->prompt_tokens = r->prompt_tokens;
	res->completion_tokens = r->completion_tokens;
	return BACKEND_DONE;
}

static enum backend_status
step(void *run, const struct pollfd *pfd, int n, struct stream *s,
    struct backend_result *res, struct cs_error *err)
{
	struct openai_run *r = run;
	int i, running, left;
	int64_t now;
	CURLMsg *msg;

	r->s = s;
	r->again = 0;
	for (i = 0; i < n && !r->failed; i++) {
		int ev = 0;

		if (pfd[i].revents == 0)
			continue;
		if (pfd[i].revents & (POLLIN | POLLHUP))
			ev |= CURL_CSELECT_IN;
		if (pfd[i].revents & POLLOUT)
			ev |= CURL_CSELECT_OUT;
		if (pfd[i].revents & POLLERR)
			ev |= CURL_CSELECT_ERR;
		curl_multi_socket_action(r->multi, pfd[i].fd, ev, &running);
	}
	now = clock_ms();
	if (!r->failed && r->timer_ms >= 0 && now >= r->timer_ms) {
		r->timer_ms = -1;
		curl_multi_socket_action(r->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	while ((msg = curl_multi_info_read(r->multi, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE) {
			r->finished = 1;
			r->result = msg->data.result;
		}
	if (r->accepted == 1) {
		/* The client's 200 goes out before whatever this step brought is ended. */
		r->accepted = 2;
		r->again = 1;
		return BACKEND_BEGIN;
	}
	now = clock_ms();
	/*
	 * [DONE] is the end, whether or not the upstream ends the response; curl
	 * gets DONE_DRAIN_MS to read that end, so that the connection is back in
	 * the cache before the client sees done and sends its next request.
	 */
	if (r->saw_done && !r->finished && !r->failed) {
		if (r->drain_until_ms < 0)
			r->drain_until_ms = now + DONE_DRAIN_MS;
		if (now < r->drain_until_ms)
			return BACKEND_MORE;
		r->finished = 1;
	}
	if (r->failed || r->finished)
		return finish(r, res, err);
	if (now >= r->started_ms + r->cf->max_duration * 1000) {
		cs_fail(err, 504, "timeout", "the upstream's answer took longer than %lds",
		    r->cf->max_duration);
		return BACKEND_FAILED;
	}
	if (now >= r->last_data_ms + r->cf->idle_timeout * 1000) {
		cs_fail(err, 504, "timeout", "the upstream sent nothing for %lds",
		    r->cf->idle_timeout);
		return BACKEND_FAILED;
	}
	return BACKEND_MORE;
}

static enum backend_status
openai_step(void *run, const struct pollfd *pfd, int n, struct stream *s,
    struct backend_result *res, struct cs_error *err)
{
	enum backend_status st = step(run, pfd, n, s, res, err);

	if (st == BACKEND_FAILED)
		metrics_upstream_error(err->type);
	return st;
}

const struct backend_ops backend_openai = {
	"openai", 1, 6, openai_configure, openai_unconfigure, openai_start,
	openai_pollfds, openai_step, openai_stop
};
