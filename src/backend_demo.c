/* backend_demo.c: a deterministic, paced answer built from the prompt; needs no network. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "clock.h"
#include "request.h"
#include "stream.h"

/*
 * The answer is TEXT = "You said: " + prompt + TAIL, cut into tokens that are
 * a run of whitespace followed by a run of non-whitespace (the last token may
 * be whitespace only), so the tokens concatenate to TEXT exactly.
 * doc/backends.md documents this; the tests compute the same thing independently.
 */
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
};

static int
demo_configure(struct model_conf *m, struct cs_error *err)
{
	struct demo_conf *c = calloc(1, sizeof(*c));

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
	    conf_opt_bool(m, "control_chars", &c->control_chars, err) == -1) {
		free(c);
		return -1;
	}
	m->backend_conf = c;
	return 0;
}

static void
demo_unconfigure(struct model_conf *m)
{
	free(m->backend_conf);
	m->backend_conf = NULL;
}

static int
demo_start(const struct model_conf *m, const struct chat_request *req, void **out,
    struct cs_error *err)
{
	struct demo_run *r = calloc(1, sizeof(*r));
	size_t hl = sizeof(head) - 1, tl = sizeof(tail) - 1;

	if (chat_request_text_only(req, m->name, err) == -1) {
		free(r);
		return -1;
	}
	if (r == NULL || (r->text = malloc(hl + req->prompt_len + tl)) == NULL) {
		free(r);
		return cs_fail(err, 500, "internal_error", "out of memory");
	}
	r->cf = m->backend_conf;
	memcpy(r->text, head, hl);
	memcpy(r->text + hl, req->prompt, req->prompt_len);
	memcpy(r->text + hl + req->prompt_len, tail, tl);
	r->len = hl + req->prompt_len + tl;
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

/* Length of the next token at pos: whitespace run + non-whitespace run. */
static size_t
next_token(const struct demo_run *r)
{
	size_t i = r->pos;

	if (r->cf->chunk_bytes > 0) {
		size_t left = r->len - r->pos;
		return left < (size_t)r->cf->chunk_bytes ? left : (size_t)r->cf->chunk_bytes;
	}
	while (i < r->len && is_ws(r->text[i]))
		i++;
	while (i < r->len && !is_ws(r->text[i]))
		i++;
	return i - r->pos;
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

		if ((r->pos >= r->len && !r->control_pending) || r->sent >= r->limit) {
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
		if (r->control_pending) {
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
	free(r);
}

const struct backend_ops backend_demo = {
	"demo", 0, 0, demo_configure, demo_unconfigure, demo_start, demo_pollfds,
	demo_step, demo_stop
};
