/* unit_stream_gone.c: a reader lost at any event; the journal still has every token once. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "backend.h"
#include "buf.h"
#include "conf.h"
#include "conn.h"
#include "journal.h"
#include "memconn.h"
#include "stream.h"
#include "tap.h"

/*
 * A stream to a connection whose writes fail from its Nth on, with a file
 * journal in a fresh spool (mode 0700).  When the write fails the test does
 * what the pump does with a journaled stream: it detaches the stream and
 * lets the producer go on.  Whatever N, the journal must then hold the
 * whole answer exactly once: what a resuming reader reassembles is the text
 * of an uncut run, and the ids (<stream id>.<n>) run 1, 2, 3, ... without a
 * gap.  The same in OpenAI's format, whose journal must end with data: [DONE];
 * and the same for reasoning and a tool call's argument fragments, whose
 * text a reader reassembles with the answer's.
 */

/* What a resuming reader makes of a journal: the text, the tokens, the usage. */
struct replay {
	struct buf text;
	long tokens, completion;
	int ordered, done;
};

static void
replay_frames(const char *p, const char *end, struct replay *rp)
{
	uint64_t want = 1;

	rp->ordered = 1;
	while (p < end) {
		const char *stop = strstr(p, "\n\n");
		char ev[32] = "message", data[8192];
		unsigned long long id = 0;
		json_object *o, *v;

		if (stop == NULL)
			break;
		data[0] = '\0';
		while (p < stop) {
			const char *nl = memchr(p, '\n', (size_t)(stop - p) + 1);
			size_t n = (size_t)(nl - p);

			if (n > 4 && strncmp(p, "id: ", 4) == 0) {
				/* <stream id>.<n> */
				const char *dot = memchr(p + 4, '.', n - 4);

				id = dot != NULL ? strtoull(dot + 1, NULL, 10) : 0;
			}
			else if (n > 7 && n < 7 + sizeof(ev) && strncmp(p, "event: ", 7) == 0)
				snprintf(ev, sizeof(ev), "%.*s", (int)(n - 7), p + 7);
			else if (n > 6 && n < 6 + sizeof(data) && strncmp(p, "data: ", 6) == 0)
				snprintf(data, sizeof(data), "%.*s", (int)(n - 6), p + 6);
			p = nl + 1;
		}
		p = stop + 2;
		if (id != want++)
			rp->ordered = 0;
		if (strcmp(data, "[DONE]") == 0) {
			rp->done = p == end;     /* OpenAI's end, and the journal's last */
			continue;
		}
		if ((o = json_tokener_parse(data)) == NULL)
			continue;
		if (json_object_object_get_ex(o, "choices", &v)) {
			/* An OpenAI chunk: the content of its delta, or the usage. */
			json_object *c = json_object_array_get_idx(v, 0), *d;

			if (c != NULL && json_object_object_get_ex(c, "delta", &d)) {
				json_object *t = NULL;

				/* Text, reasoning, or a tool call's arguments: one token each. */
				if (json_object_object_get_ex(d, "tool_calls", &t))
					t = json_object_array_get_idx(t, 0);
				if ((t != NULL && json_object_object_get_ex(t, "function", &t) &&
				    json_object_object_get_ex(t, "arguments", &t)) ||
				    (json_object_object_get_ex(d, "content", &t) &&
				    json_object_get_string_len(t) > 0) ||
				    json_object_object_get_ex(d, "reasoning_content", &t)) {
					buf_add(&rp->text, json_object_get_string(t),
					    (size_t)json_object_get_string_len(t));
					rp->tokens++;
				}
			}
			if (json_object_object_get_ex(o, "usage", &v) &&
			    json_object_object_get_ex(v, "completion_tokens", &v))
				rp->completion = (long)json_object_get_int64(v);
			json_object_put(o);
			continue;
		}
		if ((strcmp(ev, "message") == 0 || strcmp(ev, "reasoning") == 0) &&
		    json_object_object_get_ex(o, "text", &v)) {
			buf_add(&rp->text, json_object_get_string(v),
			    (size_t)json_object_get_string_len(v));
			rp->tokens++;
		} else if (strcmp(ev, "tool_call") == 0 &&
		    json_object_object_get_ex(o, "arguments", &v)) {
			buf_add(&rp->text, json_object_get_string(v),
			    (size_t)json_object_get_string_len(v));
			rp->tokens++;
		} else if (strcmp(ev, "done") == 0 && json_object_object_get_ex(o, "usage", &v) &&
		    json_object_object_get_ex(v, "completion_tokens", &v)) {
			rp->completion = (long)json_object_get_int64(v);
			rp->done = 1;
		}
		json_object_put(o);
	}
}

/* Reads the whole journal of id into rp. Returns 0 or -1. */
static int
replay(const struct conf *cf, const char *id, struct replay *rp)
{
	struct journal_reader *r;
	struct journal_read res;
	struct cs_error err;
	struct buf out;
	uint64_t after = 0;
	int rc;

	buf_init(&out, 1 << 22);
	buf_reset(&rp->text);
	rp->tokens = rp->completion = 0;
	rp->done = 0;
	if (journal_open(cf, id, NULL, &r, &err) == -1) {
		buf_free(&out);
		return -1;
	}
	do
		rc = journal_read(r, after, &out, &res);
	while (rc == 0 && res.more && (after = res.last_seq) > 0);
	journal_reader_close(r);
	if (rc == 0 && out.len > 0)
		replay_frames(out.data, out.data + out.len, rp);
	buf_free(&out);
	return rc;
}

/*
 * What the producer does: the demo model, big chunks as the exec backend
 * reads them, or reasoning and a tool call in big fragments.
 */
enum producer { DEMO, CHUNKS, CALLS };

static const char *
prompt_of(void)
{
	return "hello there, resuming reader";
}

/*
 * Runs one stream whose writes fail from the fail_at-th (0: never) and
 * replays its journal into rp.  Returns the events the wire was offered, or -1.
 */
static int
run(struct conf *cf, enum producer what, enum stream_format format, int fail_at,
    struct replay *rp)
{
	const struct model_conf *m = cf->models;
	struct memconn w;
	struct chat_request req;
	struct backend_result res = { NULL, 0, 0 };
	struct cs_error err;
	struct stream s;
	struct journal *j;
	void *r = NULL;
	enum backend_status st = BACKEND_MORE;
	int i;

	memconn_init(&w, 0, fail_at);
	memset(&req, 0, sizeof(req));
	req.prompt = prompt_of();
	req.prompt_len = strlen(req.prompt);
	if (stream_open(&s, cf, m, &w.c, format, &err) == -1 ||
	    journal_create(cf, s.id, "", m->name, format == STREAM_OPENAI ? JOURNAL_OPENAI :
	    JOURNAL_NATIVE, &j, &err) == -1)
		return -1;
	s.journal = j;
	s.include_usage = 1;
	if (what == DEMO) {
		if (m->backend->start(m, &req, &r, &err) == -1)
			return -1;
		while (st == BACKEND_MORE) {
			st = m->backend->step(r, NULL, 0, &s, &res, &err);
			if (s.gone)
				stream_detach(&s);   /* the pump, on_disconnect = continue */
		}
		m->backend->stop(r);
	} else if (what == CALLS) {
		char chunk[3000];

		for (i = 0; i < 5; i++) {
			memset(chunk, 'a' + i, sizeof(chunk));
			memcpy(chunk + 1000, "\xe6\x97\xa5\"\n", 5);
			/* Each consumed even when the reader has gone: it is journaled. */
			if (i == 0 && stream_tool_call(&s, 0, "call_1", "f", "", 0) == -1 && s.gone)
				stream_detach(&s);
			if (stream_reasoning(&s, NULL, chunk, 1500) == -1 && s.gone)
				stream_detach(&s);
			if (stream_tool_call(&s, 0, NULL, NULL, chunk, sizeof(chunk)) == -1 && s.gone)
				stream_detach(&s);
		}
		res.finish_reason = "tool_calls";
		st = BACKEND_DONE;
	} else {
		char chunk[3000];

		for (i = 0; i < 5; i++) {
			memset(chunk, 'a' + i, sizeof(chunk));
			memcpy(chunk + 1000, "\xe6\x97\xa5\xe6\x9c\xac", 6);  /* never split inside */
			if (stream_token(&s, chunk, sizeof(chunk)) == -1 && s.gone)
				stream_detach(&s);
		}
		res.completion_tokens = 0;   /* counted by the stream, as exec does */
		st = BACKEND_DONE;
	}
	if (st == BACKEND_DONE)
		stream_done(&s, &res, 0);
	journal_flush(j);
	journal_close(j);
	stream_close(&s);
	memconn_free(&w);
	if (replay(cf, s.id, rp) == -1)
		return -1;
	return w.writes;
}

static void
cuts(struct conf *cf, enum producer what, enum stream_format format, const char *label)
{
	struct replay whole, cut;
	int events, n, bad = 0, misordered = 0, unfinished = 0, miscounted = 0;

	buf_init(&whole.text, 1 << 20);
	buf_init(&cut.text, 1 << 20);
	events = run(cf, what, format, 0, &whole);
	ok(events > 5 && whole.done && whole.ordered && whole.tokens == whole.completion,
	    "%s, uncut: %d events, %ld tokens, usage says %ld", label, events,
	    whole.tokens, whole.completion);
	if (what == DEMO)
		ok(whole.text.len > 10 && memcmp(whole.text.data, "You said: hello", 15) == 0,
		    "%s, uncut: the demo's text", label);
	for (n = 1; n <= events; n++) {
		if (run(cf, what, format, n, &cut) == -1) {
			bad++;
			continue;
		}
		if (cut.text.len != whole.text.len ||
		    memcmp(cut.text.data, whole.text.data, whole.text.len) != 0) {
			if (bad++ == 0)
				diag("cut at event %d: %zu bytes replayed, %zu expected: %.*s", n,
				    cut.text.len, whole.text.len, (int)(cut.text.len < 200 ?
				    cut.text.len : 200), cut.text.data);
		}
		misordered += !cut.ordered;
		unfinished += !cut.done;
		miscounted += cut.tokens != whole.tokens || cut.completion != whole.completion;
	}
	is_int(bad, 0, "%s: a reader cut at any of the %d events, resuming, "
	    "reads the whole text exactly once", label, events);
	is_int(misordered, 0, "%s: ids run 1, 2, 3, ... whatever the cut", label);
	is_int(unfinished, 0, "%s: the journal ends with %s whatever the cut", label,
	    format == STREAM_OPENAI ? "data: [DONE]" : "done");
	is_int(miscounted, 0, "%s: as many token events as uncut, and usage agrees", label);
	buf_free(&whole.text);
	buf_free(&cut.text);
}

/* The demo as fast as it goes: tokens_per_second = 0. */
static int
demo_unpaced(struct model_conf *m, struct cs_error *err)
{
	struct conf_option *o = realloc(m->opts, (m->nopts + 1) * sizeof(*o));

	if (o == NULL)
		return -1;
	m->opts = o;
	o += m->nopts++;
	memset(o, 0, sizeof(*o));
	o->key = strdup("tokens_per_second");
	o->value = strdup("0");
	m->backend->unconfigure(m);
	return o->key == NULL || o->value == NULL ? -1 : m->backend->configure(m, err);
}

/* Removes the spool's files (flat: the journal makes no directories) and the spool. */
static void
remove_spool(const char *spool)
{
	DIR *d = opendir(spool);
	struct dirent *e;
	char p[512];

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", spool, e->d_name);
		unlink(p);
	}
	if (d != NULL)
		closedir(d);
	rmdir(spool);
}

int
main(void)
{
	char spool[64];
	struct conf cf;
	struct cs_error err;

	snprintf(spool, sizeof(spool), "/tmp/unit_stream_gone.XXXXXX");
	if (mkdtemp(spool) == NULL || conf_defaults(&cf, &err) == -1 ||
	    demo_unpaced(cf.models, &err) == -1) {
		diag("no spool directory or configuration");
		return 1;
	}
	free(cf.spool_dir);
	cf.spool_dir = strdup(spool);
	cf.journal = JOURNAL_FILE;
	cf.journal_ttl = 300;
	if (journal_check(&cf, &err) == -1) {
		diag("spool: %s", err.message);
		return 1;
	}

	cuts(&cf, DEMO, STREAM_NATIVE, "demo");
	cuts(&cf, DEMO, STREAM_OPENAI, "demo, OpenAI's format");
	/* Small events: each 3000-byte chunk goes out in many, as exec splits them. */
	cf.max_event = 1024;
	cuts(&cf, CHUNKS, STREAM_NATIVE, "chunks over an event's cap");
	cuts(&cf, CHUNKS, STREAM_OPENAI, "chunks over an event's cap, OpenAI's format");
	cuts(&cf, CALLS, STREAM_NATIVE, "reasoning and a tool call over an event's cap");
	cuts(&cf, CALLS, STREAM_OPENAI, "reasoning and a tool call, OpenAI's format");

	conf_free(&cf);
	remove_spool(spool);
	return done_testing();
}
