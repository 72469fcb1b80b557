/* handler.c: one request from route to log line, with a single teardown path. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "clock.h"
#include "event_id.h"
#include "cors.h"
#include "follow.h"
#include "journal.h"
#include "handler.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "num.h"
#include "pump.h"
#include "request.h"
#include "responses.h"
#include "route.h"
#include "sse.h"
#include "stream.h"

#define ROUTE_MAX 1024

struct request_ctx;

/* The handlers of the route table; arg is what the row's '*' matched. */
static void create_native(struct request_ctx *, const char *);
static void create_openai(struct request_ctx *, const char *);
static void create_response(struct request_ctx *, const char *);
static void get_response(struct request_ctx *, const char *);
static void cancel_response(struct request_ctx *, const char *);
static void health(struct request_ctx *, const char *);
static void list_models(struct request_ctx *, const char *);
static void get_model(struct request_ctx *, const char *);
static void resume_stream(struct request_ctx *, const char *);
static void cancel_stream(struct request_ctx *, const char *);
static void serve_metrics(struct request_ctx *, const char *);
static void set_head_extra(struct request_ctx *, const char *);

/* Every route below the mount: one row a path and handler. */
static const struct route routes[] = {
	/* path                   methods      errors        handler */
	{ "/",                    "POST",      ERROR_NATIVE, create_native },
	{ "/health",              "GET, HEAD", ERROR_NATIVE, health },
	{ "/v1/chat/completions", "POST",      ERROR_OPENAI, create_openai },
	{ "/v1/responses",        "POST",      ERROR_OPENAI, create_response },
	{ "/v1/responses/*",      "GET",       ERROR_OPENAI, get_response },
	{ "/v1/responses/*/cancel", "POST",    ERROR_OPENAI, cancel_response },
	{ "/v1/models",           "GET, HEAD", ERROR_OPENAI, list_models },
	{ "/v1/models/*",         "GET, HEAD", ERROR_OPENAI, get_model },
	{ "/streams/*",           "GET",       ERROR_NATIVE, resume_stream },
	{ "/streams/*",           "DELETE",    ERROR_NATIVE, cancel_stream },
	{ "/metrics",             "GET, HEAD", ERROR_NATIVE, serve_metrics },
	{ NULL, NULL, ERROR_NATIVE, NULL }
};

/* The route of a request that has none. */
static char unrouted[] = "-";

/* Everything one request holds; released in one place, request_end(). */
struct request_ctx {
	struct conn *conn;
	struct runtime *rt;
	enum error_style style;       /* OpenAI-shaped errors on the /v1 routes */
	char *route;                  /* owned, or unrouted */
	char *mount;                  /* owned, may be NULL: the URL path chatstream is mounted at */
	int mount_ok;                 /* mount is canonical: URLs can be built on it */
	char client[64], method[16];  /* copies: the connection may end first */
	char *resume_url;             /* owned, may be NULL: the stream's URL when it is kept */
	char retried[EVENT_ID_STREAM_MAX + 1];  /* the stream a POST retry follows */
	struct stream_record rec;
	int64_t started_ms;
	int counted;                  /* holds one of the rt->active slots */
	char *body;
	struct chat_request req;
	struct responses_req rr;      /* POST /v1/responses: what the response echoes */
	char response[STREAM_ID_LEN + 1];   /* /v1/responses/<id>: its stream's id */
	struct stream stream;
	int stream_opened;
	const struct backend_ops *backend;
	void *run;
	struct journal *journal;
	struct journal_reader *reader;
	char head_extra[CONN_HEAD_EXTRA_MAX];  /* the lines every head carries (conn.h) */
};

static void
request_end(struct request_ctx *x)
{
	if (x->run != NULL)
		x->backend->stop(x->run);
	if (x->journal != NULL) {
		/* Readers of the journal must learn the stream is over, however it ended. */
		pump_finish(&x->stream, chat_request_words(&x->req));
		journal_close(x->journal);
	}
	journal_reader_close(x->reader);
	if (x->stream_opened) {
		x->rec.events = x->stream.events;
		x->rec.bytes = x->stream.bytes;
		x->rec.ttft_ms = x->stream.first_token_ms < 0 ? -1 :
		    x->stream.first_token_ms - x->stream.started_ms;
		stream_close(&x->stream);
	}
	chat_request_free(&x->req);
	responses_req_free(&x->rr);
	free(x->body);
	if (x->counted) {
		atomic_fetch_sub(&x->rt->active, 1);
		metrics_gauge(MG_STREAMS_OPEN, -1);
	}
	x->rec.duration_ms = clock_ms() - x->started_ms;
	log_stream(&x->rec);
	metrics_request(&x->rec, x->stream_opened ? x->stream.tokens : 0);
	metrics_gauge(MG_THREADS_BUSY, -1);
	x->conn->head_extra = NULL;   /* it points into x */
	/* After the log line: it names the route. */
	if (x->route != unrouted)
		free(x->route);
	free(x->mount);
	free(x->resume_url);
}

/* Answers with an error before any stream started. */
static void
reject(struct request_ctx *x, const struct cs_error *e, const char *headers)
{
	x->rec.status = e->status;
	x->rec.outcome = "rejected";
	x->rec.detail = e->type;
	if (http_send_error(x->conn, x->style, e, headers) == -1)
		x->rec.outcome = "client_gone";
}

/* GET and HEAD /health: status, version, models, load. */
static void
health(struct request_ctx *x, const char *arg)
{
	const struct model_conf *m;
	json_object *o = json_object_new_object(), *models = json_object_new_array();
	int head_only = strcmp(x->method, "HEAD") == 0;

	(void)arg;

	json_object_object_add(o, "status", json_object_new_string(
	    atomic_load(&x->rt->shutdown_at) != 0 ? "shutting_down" : "ok"));
	json_object_object_add(o, "version", json_object_new_string(PACKAGE_VERSION));
	for (m = x->rt->conf->models; m != NULL; m = m->next)
		json_object_array_add(models, json_object_new_string(m->name));
	json_object_object_add(o, "models", models);
	json_object_object_add(o, "default_model", json_object_new_string(
	    conf_model(x->rt->conf, NULL)->name));
	json_object_object_add(o, "streams", json_object_new_int(atomic_load(&x->rt->active)));
	json_object_object_add(o, "capacity", json_object_new_int(x->rt->conf->threads));
	x->rec.status = 200;
	x->rec.outcome = "done";
	if (http_send_json(x->conn, 200, NULL, head_only ? NULL : o) == -1)
		x->rec.outcome = "client_gone";
	json_object_put(o);
}

/* GET /metrics: the whole host's figures, to whom the metrics key allows (else 404 or 403). */
static void
serve_metrics(struct request_ctx *x, const char *arg)
{
	int head_only = strcmp(x->method, "HEAD") == 0;
	struct buf out;
	struct cs_error e;

	(void)arg;
	cs_error_clear(&e);
	if (metrics_refused(x->rt->conf, conn_param(x->conn, "REMOTE_ADDR"), &e) == -1) {
		reject(x, &e, NULL);
		return;
	}
	buf_init(&out, METRICS_TEXT_MAX);
	if (metrics_render(&out) == -1) {
		cs_fail(&e, 503, "overloaded", "out of memory");
		reject(x, &e, NULL);
	} else {
		x->rec.status = 200;
		x->rec.outcome = "done";
		if (http_send_text(x->conn, 200, METRICS_CONTENT_TYPE, out.data,
		    head_only ? 0 : out.len) == -1)
			x->rec.outcome = "client_gone";
	}
	buf_free(&out);
}

/* OpenAI's model object for m; created is when the process started. */
static json_object *
model_object(const struct request_ctx *x, const struct model_conf *m)
{
	json_object *e = json_object_new_object();

	json_object_object_add(e, "id", json_object_new_string(m->name));
	json_object_object_add(e, "object", json_object_new_string("model"));
	json_object_object_add(e, "created", json_object_new_int64(x->rt->started));
	json_object_object_add(e, "owned_by", json_object_new_string("chatstream"));
	return e;
}

/* Sends o (taken) as the 200 answer; nothing but the head for HEAD. */
static void
send_object(struct request_ctx *x, json_object *o)
{
	x->rec.status = 200;
	x->rec.outcome = "done";
	if (http_send_json(x->conn, 200, NULL, strcmp(x->method, "HEAD") == 0 ?
	    NULL : o) == -1)
		x->rec.outcome = "client_gone";
	json_object_put(o);
}

/* GET /v1/models: the configured models in OpenAI's list shape. */
static void
list_models(struct request_ctx *x, const char *arg)
{
	const struct model_conf *m;
	json_object *o = json_object_new_object(), *data = json_object_new_array();

	(void)arg;
	json_object_object_add(o, "object", json_object_new_string("list"));
	for (m = x->rt->conf->models; m != NULL; m = m->next)
		json_object_array_add(data, model_object(x, m));
	json_object_object_add(o, "data", data);
	send_object(x, o);
}

/* GET /v1/models/<id>: one configured model, or 404 model_not_found. */
static void
get_model(struct request_ctx *x, const char *id)
{
	const struct model_conf *m;
	struct cs_error e;

	for (m = x->rt->conf->models; m != NULL; m = m->next)
		if (strcmp(m->name, id) == 0) {
			send_object(x, model_object(x, m));
			return;
		}
	cs_error_clear(&e);
	cs_fail(&e, 404, "model_not_found", "the model \"%.64s\" does not exist", id);
	cs_param(&e, "model");
	reject(x, &e, NULL);
}

/* Reads the whole body after checking its length and type. Returns 0, or -1 with e filled. */
static int
read_body(struct request_ctx *x, size_t *lenp, enum body_kind *kind, struct cs_error *e)
{
	const struct conf *cf = x->rt->conf;
	const char *cl = conn_param(x->conn, "CONTENT_LENGTH");
	uint64_t want;
	size_t got = 0;

	if (cl == NULL || *cl == '\0')
		return cs_fail(e, 411, "length_required",
		    "a Content-Length is required");
	if (num_parse(cl, strlen(cl), UINT64_MAX, &want) == -1)
		return cs_fail(e, 400, "invalid_request", "malformed Content-Length");
	if (want > cf->max_body)
		return cs_fail(e, 413, "payload_too_large",
		    "the body is %llu bytes; the limit is %zu",
		    (unsigned long long)want, cf->max_body);
	if (request_body_kind(conn_param(x->conn, "CONTENT_TYPE"), kind, e) == -1)
		return -1;
	if ((x->body = malloc((size_t)want + 1)) == NULL)
		return cs_fail(e, 503, "overloaded", "out of memory");
	while (got < want) {
		ssize_t n = x->conn->ops->read(x->conn, x->body + got, (size_t)want - got);

		if (n <= 0)
			return cs_fail(e, 400, "invalid_request",
			    "the body ended after %zu of %llu bytes", got,
			    (unsigned long long)want);
		got += (size_t)n;
	}
	x->body[got] = '\0';
	*lenp = got;
	return 0;
}

/*
 * Every stream and every reader of one holds a thread for its whole life:
 * takes one of the `threads` slots, or answers 503 with Retry-After.
 */
static int
take_slot(struct request_ctx *x)
{
	const struct conf *cf = x->rt->conf;
	struct cs_error e;
	char retry[64];

	cs_error_clear(&e);
	snprintf(retry, sizeof(retry), "Retry-After: %d\r\n", cf->retry_after);
	if (atomic_load(&x->rt->shutdown_at) != 0) {
		cs_fail(&e, 503, "overloaded", "the server is shutting down");
		reject(x, &e, retry);
		return -1;
	}
	x->counted = 1;
	metrics_gauge(MG_STREAMS_OPEN, 1);
	if (atomic_fetch_add(&x->rt->active, 1) >= cf->threads) {
		cs_fail(&e, 503, "overloaded", "all %d streams are busy; retry shortly",
		    cf->threads);
		reject(x, &e, retry);
		return -1;
	}
	return 0;
}

/* Accept: application/json (and not text/event-stream), or Prefer: respond-async. */
static int
wants_async(struct conn *c)
{
	const char *accept = conn_param(c, "HTTP_ACCEPT");
	const char *prefer = conn_param(c, "HTTP_PREFER");

	if (prefer != NULL && strstr(prefer, "respond-async") != NULL)
		return 1;
	return accept != NULL && strstr(accept, "application/json") != NULL &&
	    strstr(accept, "text/event-stream") == NULL;
}

/*
 * Sends 202 with the stream's URL and ends the response; the stream runs on.
 * Not inlined: its buffer stays off the stack under the running stream.
 */
static __attribute__((noinline)) int
accepted(struct request_ctx *x)
{
	json_object *o = json_object_new_object();
	char loc[ROUTE_MAX + 64];     /* "Location: " + mount + "/streams/" + id */
	int rc;

	json_object_object_add(o, "id", json_object_new_string(x->stream.id));
	json_object_object_add(o, "url", json_object_new_string(x->resume_url));
	snprintf(loc, sizeof(loc), "Location: %s\r\n", x->resume_url);
	rc = http_send_json(x->conn, 202, loc, o);
	json_object_put(o);
	x->rec.status = 202;
	x->conn->ops->finish(x->conn);
	return rc;
}

/*
 * The value of parameter name (with its '=') in query string qs (may be
 * NULL), its length in *len; a parameter without '=' matches name without
 * it (its value is empty).  NULL when absent.
 */
static const char *
query_param(const char *qs, const char *name, size_t *len)
{
	size_t nl = strlen(name);
	const char *p;

	for (p = qs; p != NULL; p = strchr(p, '&') != NULL ? strchr(p, '&') + 1 : NULL)
		if (strncmp(p, name, nl) == 0 && (p[nl] == '=' || p[nl] == '&' ||
		    p[nl] == '\0')) {
			p += nl + (p[nl] == '=');
			*len = strcspn(p, "&");
			return p;
		}
	return NULL;
}

/* GET /streams/<id>: replay after Last-Event-ID, then follow. */
static void
resume_stream(struct request_ctx *x, const char *id)
{
	const char *lei = conn_param(x->conn, "HTTP_LAST_EVENT_ID");
	const char *qs = conn_param(x->conn, "QUERY_STRING");
	const char *user = conn_param(x->conn, "REMOTE_USER");
	char named[EVENT_ID_STREAM_MAX + 1];
	struct follow_result fr;
	enum outcome o;
	uint64_t after = 0;
	size_t lei_len = 0;
	struct cs_error e;
	char retry[64];

	cs_error_clear(&e);
	snprintf(retry, sizeof(retry), "Retry-After: %d\r\n", x->rt->conf->retry_after);
	if (x->rt->conf->journal == JOURNAL_OFF) {
		cs_fail(&e, 404, "not_found", "streams are not kept (journal = off)");
		reject(x, &e, NULL);
		return;
	}
	if (lei != NULL)
		lei_len = strlen(lei);
	else if ((lei = query_param(qs, "last_event_id", &lei_len)) == NULL)
		lei_len = 0;
	/* An event id as stream_emit() writes it, <id>.<n>, or the bare <n>. */
	if (lei_len > 0 && event_id_parse(lei, lei_len, named, &after) == -1) {
		cs_fail(&e, 400, "invalid_request", "Last-Event-ID must be an event id");
		reject(x, &e, NULL);
		return;
	}
	if (lei_len > 0 && named[0] != '\0' && strcmp(named, id) != 0) {
		cs_fail(&e, 400, "invalid_request", "Last-Event-ID names another stream");
		reject(x, &e, NULL);
		return;
	}
	if (take_slot(x) == -1)
		return;
	if (journal_open(x->rt->conf, id, user, &x->reader, &e) == -1) {
		x->reader = NULL;
		reject(x, &e, e.status == 503 ? retry : NULL);
		return;
	}
	metrics_count(MC_RESUMES, 1);
	x->rec.stream_id = id;
	set_head_extra(x, id);
	o = follow_run(x->conn, x->rt, id, x->reader, after, 1, &fr);
	x->rec.outcome = outcome_name(o);
	if (fr.status == 0 && o == OUTCOME_JOURNAL_UNAVAILABLE) {
		cs_fail(&e, 503, "journal_unavailable", "the stream store cannot be read");
		reject(x, &e, retry);
		return;
	}
	x->rec.status = fr.status;
	x->rec.events = fr.events;
	x->rec.bytes = fr.bytes;
}

/*
 * A POST retry whose stream cannot be followed: 200 and `event: error` of
 * type history_lost (OpenAI's error chunk on /v1), a complete stream that
 * ends.  fetch-event-source hands the event to the page and stops; an
 * error status would make it retry without end, and a new answer would be
 * the one it has half of, twice.
 */
static void
history_lost(struct request_ctx *x, int openai)
{
	struct follow_result fr;

	x->rec.outcome = "error";
	x->rec.detail = "history_lost";
	if (follow_lost(x->conn, x->retried, openai ? JOURNAL_OPENAI : JOURNAL_NATIVE,
	    &fr) == -1)
		x->rec.outcome = "client_gone";
	x->rec.status = fr.status;
	x->rec.events = fr.events;
	x->rec.bytes = fr.bytes;
}

/*
 * A POST that follows stream x->retried instead of generating (a retry with
 * Last-Event-ID, or one with a known Idempotency-Key): the events after
 * `after`, live or replayed; history_lost when the stream is not kept; 503
 * when the store cannot be read.
 */
static void
follow_retried(struct request_ctx *x, int openai, uint64_t after)
{
	const char *user = conn_param(x->conn, "REMOTE_USER");
	struct follow_result fr;
	enum outcome o;
	struct cs_error e;
	char retry[64];

	cs_error_clear(&e);
	snprintf(retry, sizeof(retry), "Retry-After: %d\r\n", x->rt->conf->retry_after);
	x->rec.stream_id = x->retried;
	if (journal_open(x->rt->conf, x->retried, user, &x->reader, &e) == -1) {
		x->reader = NULL;
		if (e.status == 503)
			reject(x, &e, retry);   /* the store is down: a retry may do */
		else
			history_lost(x, openai);
		return;
	}
	/* A stream that ended and this client has it all: 200, empty, which ends the retries. */
	set_head_extra(x, x->retried);
	o = follow_run(x->conn, x->rt, x->retried, x->reader, after, 0, &fr);
	x->rec.outcome = outcome_name(o);
	if (fr.status == 0 && o == OUTCOME_JOURNAL_UNAVAILABLE) {
		cs_fail(&e, 503, "journal_unavailable", "the stream store cannot be read");
		reject(x, &e, retry);
		return;
	}
	x->rec.status = fr.status;
	x->rec.events = fr.events;
	x->rec.bytes = fr.bytes;
}

/*
 * A POST carrying Last-Event-ID is a client retrying after a drop with the
 * same body (fetch-event-source does so by default): it follows the stream
 * the id names, after that event, in the stream's own format, instead of
 * generating the answer again.  Its owner must be the one who started it
 * (else it is not found).  An id that names no stream it can follow (an
 * expired, unknown or someone else's stream, or a bare number, which names
 * none) gets history_lost, never a second answer.  Returns 1 when it
 * answered the request, 0 when the POST carries no Last-Event-ID.
 */
static int
retry_post(struct request_ctx *x, int openai)
{
	const char *lei = conn_param(x->conn, "HTTP_LAST_EVENT_ID");
	uint64_t after;

	if (lei == NULL || *lei == '\0')
		return 0;
	if (event_id_parse(lei, strlen(lei), x->retried, &after) == -1 ||
	    x->retried[0] == '\0' || x->rt->conf->journal == JOURNAL_OFF) {
		history_lost(x, openai);
		return 1;
	}
	if (take_slot(x) == -1)
		return 1;
	follow_retried(x, openai, after);
	return 1;
}

/*
 * Idempotency-Key (the IETF httpapi draft): a POST whose key this owner
 * used for a stream that is still kept follows that stream from its start,
 * instead of generating the answer again; the first POST with a key records
 * it (key -> its stream id).  Called once the stream's id is known and its
 * backend started.  Returns 1 when the request was answered (followed, or
 * refused), 0 when it goes on, *keyed set when its key was recorded.
 */
static int
follow_key(struct request_ctx *x, int openai, int *keyed)
{
	const char *key = conn_param(x->conn, "HTTP_IDEMPOTENCY_KEY");
	const char *user = conn_param(x->conn, "REMOTE_USER");
	struct cs_error e;
	size_t i, n;
	int rc;

	*keyed = 0;
	if (key == NULL || *key == '\0' || x->rt->conf->journal == JOURNAL_OFF)
		return 0;
	cs_error_clear(&e);
	for (i = 0, n = strlen(key); i < n; i++)
		if (key[i] < 0x20 || key[i] > 0x7e)
			break;
	if (i < n || n > 255) {
		cs_fail(&e, 400, "invalid_request",
		    "Idempotency-Key must be 1 to 255 printable ASCII characters");
		reject(x, &e, NULL);
		return 1;
	}
	if ((rc = journal_claim_key(x->rt->conf, user, key, x->stream.id, x->retried,
	    &e)) == -1) {
		log_warnx("stream %s: Idempotency-Key not recorded: %s", x->stream.id, e.message);
		return 0;
	}
	if (rc == 0) {
		*keyed = 1;
		return 0;
	}
	/* Another request made the stream: this one reads it, from the start. */
	x->backend->stop(x->run);
	x->run = NULL;
	stream_close(&x->stream);
	x->stream_opened = 0;
	x->rec.model = x->rec.backend = NULL;
	follow_retried(x, openai, 0);
	return 1;
}

/*
 * DELETE /streams/<id>: ask the producer, wherever it runs, to stop; with
 * ?leaving (a page going away, which cannot tell a reload from a closed
 * tab), to stop unless a reader is back within leave_window.
 */
static void
cancel_stream(struct request_ctx *x, const char *id)
{
	const char *user = conn_param(x->conn, "REMOTE_USER");
	size_t n;
	int leaving = query_param(conn_param(x->conn, "QUERY_STRING"), "leaving", &n) != NULL;
	json_object *o;
	struct cs_error e;

	cs_error_clear(&e);
	if (x->rt->conf->journal == JOURNAL_OFF)
		cs_fail(&e, 404, "not_found", "streams are not kept (journal = off)");
	if (e.status != 0 || journal_cancel(x->rt->conf, id, user,
	    leaving ? JOURNAL_STOP_LEAVING : JOURNAL_STOP_NOW, &e) == -1) {
		reject(x, &e, NULL);
		return;
	}
	x->rec.stream_id = id;
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, leaving ? "leaving" : "cancelled", json_object_new_boolean(1));
	x->rec.status = 202;
	x->rec.outcome = "done";
	if (http_send_json(x->conn, 202, NULL, o) == -1)
		x->rec.outcome = "client_gone";
	json_object_put(o);
}

/*
 * The route and the mount are found in ROUTE_MAX buffers on the stack, then
 * kept as copies of their size: a thread keeps every stack page its deepest
 * call ever touched, so the big buffers live only in these two (not inlined)
 * functions, never under the stream that runs for minutes.
 */

/* The route below the mount.  Returns 0, or -1 with e filled (404, 503). */
static __attribute__((noinline)) int
find_route(struct request_ctx *x, struct cs_error *e)
{
	char route[ROUTE_MAX];

	if (route_resolve(x->rt->conf->mount, conn_param(x->conn, "PATH_INFO"),
	    conn_param(x->conn, "SCRIPT_NAME"), conn_param(x->conn, "REQUEST_URI"),
	    routes, route, sizeof(route)) == -1)
		return cs_fail(e, 404, "not_found", "no such path");
	if ((x->route = strdup(route)) == NULL) {
		x->route = unrouted;
		return cs_fail(e, 503, "overloaded", "out of memory");
	}
	x->rec.path = x->route;
	return 0;
}

/* The mount: the request's URL path without the route at its end, if canonical. */
static __attribute__((noinline)) void
find_mount(struct request_ctx *x)
{
	char mount[ROUTE_MAX];

	x->mount_ok = route_mount(x->rt->conf->mount, conn_param(x->conn, "REQUEST_URI"),
	    conn_param(x->conn, "SCRIPT_NAME"), x->route, mount, sizeof(mount)) == 0 &&
	    (x->mount = strdup(mount)) != NULL;
}

/* The stream's URL, mount + /streams/ + id; caller frees; NULL without memory. */
static char *
stream_url(const struct request_ctx *x)
{
	size_t n = strlen(x->mount) + sizeof("/streams/") + STREAM_ID_LEN;
	char *url = malloc(n);

	if (url != NULL)
		snprintf(url, n, "%s/streams/%s", x->mount, x->stream.id);
	return url;
}

/* Creates the stream's journal and its resume URL. Returns 0, or -1 with e filled. */
static int
attach_journal(struct request_ctx *x, struct cs_error *e)
{
	const char *user = conn_param(x->conn, "REMOTE_USER");

	if (journal_create(x->rt->conf, x->stream.id, user != NULL ? user : "",
	    x->stream.model->name, x->stream.format == STREAM_OPENAI ? JOURNAL_OPENAI :
	    STREAM_FORMAT_RESPONSES(x->stream.format) ? JOURNAL_RESPONSES : JOURNAL_NATIVE,
	    &x->journal, e) == -1) {
		x->journal = NULL;
		return -1;
	}
	/* Built of the checked mount and our id only. */
	if (x->mount_ok && (x->resume_url = stream_url(x)) == NULL) {
		journal_close(x->journal);
		x->journal = NULL;
		return cs_fail(e, 503, "overloaded", "out of memory");
	}
	x->stream.journal = x->journal;
	x->stream.resume_url = x->resume_url;
	return 0;
}

/* stream_begin()'s hook for a direct reader: it still gets its answer if this fails. */
static void
begin_journal(struct stream *s, void *arg)
{
	struct cs_error e;

	cs_error_clear(&e);
	if (attach_journal(arg, &e) == -1)
		log_warnx("stream %s: not resumable: %s", s->id, e.message);
}

/* The APIs that start a stream. */
enum api { API_NATIVE, API_CHAT, API_RESPONSES };

/*
 * A background response (POST /v1/responses, "background": true) is
 * answered at once with its object, status queued, like the native API's
 * 202: its first events are journaled first, so that a GET that follows
 * finds them.  Not inlined, as accepted().  Returns 0, or -1 when the
 * client has gone.
 */
static __attribute__((noinline)) int
accepted_response(struct request_ctx *x, struct conn *c)
{
	struct responses_view v;
	struct buf b;
	int rc;

	(void)stream_begin(&x->stream);
	journal_flush(x->journal);
	memset(&v, 0, sizeof(v));
	v.id = x->stream.id;
	v.created = x->stream.created;
	v.model = x->stream.model->name;
	v.status = "queued";
	v.rr = &x->rr;
	buf_init(&b, x->rt->conf->max_event);
	rc = responses_object(&b, &v) == -1 ? -1 :
	    http_send_text(c, 200, "application/json", b.data, b.len);
	buf_free(&b);
	x->rec.status = 200;
	c->ops->finish(c);
	return rc;
}

/* A POST /v1/responses body, its item_reference items found among the caller's responses. */
static int
parse_responses(struct request_ctx *x, size_t len, struct cs_error *e)
{
	struct responses_refs refs;
	struct responses_resolver resolver = { responses_refs_find, &refs };
	int rc;

	responses_refs_init(&refs, x->rt->conf, conn_param(x->conn, "REMOTE_USER"));
	rc = responses_parse(x->body, len, x->rt->conf->max_json_depth, &resolver, &x->req,
	    &x->rr, e);
	responses_refs_free(&refs);
	return rc;
}

/*
 * POST / (native events), POST /v1/chat/completions (OpenAI's format) and
 * POST /v1/responses (the Responses API's): check capacity, read and
 * validate the body, start the backend, run the stream.  Everything taken
 * here is released by request_end().
 */
static void
create_stream(struct request_ctx *x, enum api api)
{
	int openai = api != API_NATIVE;
	struct runtime *rt = x->rt;
	const struct conf *cf = rt->conf;
	const struct model_conf *m;
	enum stream_format format = STREAM_NATIVE;
	struct cs_error e, early;
	enum body_kind kind = BODY_JSON;
	size_t len = 0;
	char retry[64];
	int keyed = 0, journaled;
	/* 202 and a GET to follow: the native API (OpenAI's clients read the POST)... */
	int async = !openai && wants_async(x->conn);
	struct conn *client = x->conn;

	cs_error_clear(&e);
	cs_error_clear(&early);
	snprintf(retry, sizeof(retry), "Retry-After: %d\r\n", cf->retry_after);
	if (async && cf->journal != JOURNAL_OFF && !x->mount_ok) {
		/* 202 promises a URL, and none can be built on this request's path. */
		cs_fail(&e, 400, "invalid_request", "the request path is not canonical");
		reject(x, &e, NULL);
		return;
	}
	if (api != API_RESPONSES && retry_post(x, openai))
		return;
	if (take_slot(x) == -1)
		return;
	if (read_body(x, &len, &kind, &e) == -1 ||
	    (openai && kind != BODY_JSON && cs_fail(&e, 415, "unsupported_media_type",
	    "%s takes application/json", api == API_CHAT ? "/v1/chat/completions" :
	    "/v1/responses") == -1) ||
	    (api == API_RESPONSES ? parse_responses(x, len, &e) :
	    request_parse(kind, x->body, len, cf->max_json_depth, &x->req, &e)) == -1) {
		reject(x, &e, NULL);
		return;
	}
	/* Metadata is in every object event: it must leave the answer room in one. */
	if (api == API_RESPONSES && x->rr.metadata != NULL &&
	    strlen(x->rr.metadata) > cf->max_event / 4) {
		cs_fail(&e, 400, "invalid_request", "\"metadata\" is too large for this server "
		    "(max_event): %zu bytes as JSON, at most %zu", strlen(x->rr.metadata),
		    cf->max_event / 4);
		cs_param(&e, "metadata");
		reject(x, &e, NULL);
		return;
	}
	/* ...and background responses, which are answered with their object. */
	if (api == API_RESPONSES && x->rr.background && cf->journal == JOURNAL_OFF) {
		cs_fail(&e, 400, "invalid_request", "background responses need the journal, "
		    "and this server keeps none (journal = off)");
		cs_param(&e, "background");
		reject(x, &e, NULL);
		return;
	}
	if (api == API_RESPONSES)
		async = x->rr.background && !x->req.stream;
	/* The request holds copies: the body is not kept for the stream's life. */
	free(x->body);
	x->body = NULL;
	/* The native stream carries one answer, whatever the backend. */
	if (api == API_NATIVE && x->req.n > 1) {
		cs_fail(&e, 400, "invalid_request", "POST / gives one answer: \"n\" must be 1 "
		    "(/v1/chat/completions takes more)");
		cs_param(&e, "n");
		reject(x, &e, NULL);
		return;
	}
	if ((m = conf_model(cf, x->req.model)) == NULL) {
		cs_fail(&e, openai ? 404 : 400, openai ? "model_not_found" : "invalid_request",
		    "unknown model \"%s\"", x->req.model);
		cs_param(&e, "model");
		reject(x, &e, NULL);
		return;
	}
	if (api == API_CHAT)
		format = x->req.stream ? STREAM_OPENAI : STREAM_OPENAI_JSON;
	else if (api == API_RESPONSES)
		format = x->req.stream || async ? STREAM_RESPONSES : STREAM_RESPONSES_JSON;
	x->rec.model = m->name;
	x->rec.backend = m->backend->name;
	if (stream_open(&x->stream, cf, m, x->conn, format, &e) == -1) {
		reject(x, &e, NULL);
		return;
	}
	x->stream.include_usage = x->req.include_usage;
	x->stream.resp = &x->rr;
	x->stream.background = x->rr.background;
	/* Matched here for every backend, even one whose upstream also applies them. */
	stopseq_init(&x->stream.stop, x->req.stop, x->req.nstop);
	/* n choices, for a backend that gives them (the others refuse n > 1). */
	if (api == API_CHAT && x->req.n > 1 && stream_choices(&x->stream, (int)x->req.n) == -1) {
		cs_fail(&e, 503, "overloaded", "out of memory");
		reject(x, &e, retry);
		return;
	}
	x->stream_opened = 1;
	x->rec.stream_id = x->stream.id;
	set_head_extra(x, x->stream.id);
	x->backend = m->backend;
	if (m->backend->start(m, &x->req, &x->run, &e) == -1) {
		x->run = NULL;
		log_warnx("stream %s: backend %s: %s", x->stream.id, m->backend->name, e.message);
		reject(x, &e, NULL);
		return;
	}
	/*
	 * Every stream is kept for resume; a stream: false answer is not a
	 * stream, but a response is stored (store, as OpenAI's), for GET and
	 * for the item_reference items of later requests.
	 */
	journaled = (!STREAM_FORMAT_JSON(format) || (format == STREAM_RESPONSES_JSON &&
	    x->rr.store)) && cf->journal != JOURNAL_OFF;
	if (journaled && api != API_RESPONSES && follow_key(x, openai, &keyed))
		return;
	if (journaled) {
		if (!async && (keyed || STREAM_FORMAT_JSON(format))) {
			/* Kept at once: a retry with the key may come before the first byte;
			   a stream: false answer has no first event to wait for. */
			begin_journal(&x->stream, x);
		} else if (!async) {
			/* Kept from the first byte sent: a request refused before has none. */
			x->stream.on_begin = begin_journal;
			x->stream.on_begin_arg = x;
		} else if (attach_journal(x, &e) == -1) {
			/* 202 promises a stream to GET: without a journal there is none. */
			reject(x, &e, e.status == 503 ? retry : NULL);
			return;
		}
	}
	if (x->journal != NULL && async && api == API_RESPONSES) {
		/* The response object now; the client polls or follows with GET. */
		stream_detach(&x->stream);
		if (accepted_response(x, client) == -1) {
			x->rec.outcome = "client_gone";
			return;
		}
	} else if (x->journal != NULL && async) {
		/* 202: the client follows with GET (EventSource); the work goes on here. */
		if (accepted(x) == -1) {
			x->rec.outcome = "client_gone";
			return;
		}
		stream_detach(&x->stream);
	}
	x->rec.outcome = outcome_name(pump_run(&x->stream, m->backend, x->run, rt,
	    chat_request_words(&x->req), &x->rec.detail, &early));
	if (x->journal != NULL && async)
		return;   /* answered already: a failure was the readers' error event */
	if (x->stream.state != STREAM_HEAD) {
		x->rec.status = 200;
	} else if (early.status != 0) {
		/* Failed before anything was sent: a proper status, not an event. */
		x->rec.status = early.status;
		if (early.retry_after > 0)
			snprintf(retry, sizeof(retry), "Retry-After: %d\r\n", early.retry_after);
		if (http_send_error(x->conn, x->style, &early,
		    early.status == 503 || early.status == 429 ? retry : NULL) == -1)
			x->rec.outcome = "client_gone";
	}
}

/* POST /: a stream of native events. */
static void
create_native(struct request_ctx *x, const char *arg)
{
	(void)arg;
	create_stream(x, API_NATIVE);
}

/* POST /v1/chat/completions: a stream in OpenAI's format. */
static void
create_openai(struct request_ctx *x, const char *arg)
{
	(void)arg;
	create_stream(x, API_CHAT);
}

/* POST /v1/responses: the Responses API, streamed, whole, or in the background. */
static void
create_response(struct request_ctx *x, const char *arg)
{
	(void)arg;
	create_stream(x, API_RESPONSES);
}

/*
 * The stream id of a response id, resp_<stream id>, into id (STREAM_ID_LEN
 * + 1 bytes); arg may go on with "/..." (cancel).  Returns 0, or -1 with e
 * filled (404).
 */
static int
response_id(struct request_ctx *x, const char *arg, char *id, struct cs_error *e)
{
	size_t n = strcspn(arg, "/");

	if (x->rt->conf->journal == JOURNAL_OFF)
		return cs_fail(e, 404, "not_found", "responses are not kept (journal = off)");
	if (n != 5 + STREAM_ID_LEN || strncmp(arg, "resp_", 5) != 0)
		return cs_fail(e, 404, "not_found", "no such response");
	memcpy(id, arg + 5, STREAM_ID_LEN);
	id[STREAM_ID_LEN] = '\0';
	return 0;
}

/*
 * GET /v1/responses/<id>: the response object as its journal holds it;
 * with ?stream=true its events, those after ?starting_after=<n> (a
 * sequence_number), then the new ones as they come.
 */
static void
get_response(struct request_ctx *x, const char *arg)
{
	const char *user = conn_param(x->conn, "REMOTE_USER");
	const char *qs = conn_param(x->conn, "QUERY_STRING");
	const char *v;
	char *id = x->response;
	struct follow_result fr;
	json_object *o;
	struct cs_error e;
	uint64_t after = 0;
	size_t len = 0;
	enum outcome oc;

	cs_error_clear(&e);
	if (response_id(x, arg, id, &e) == -1) {
		reject(x, &e, NULL);
		return;
	}
	x->rec.stream_id = id;
	set_head_extra(x, id);
	if ((v = query_param(qs, "stream", &len)) == NULL || len != 4 ||
	    strncmp(v, "true", 4) != 0) {
		if (responses_load(x->rt->conf, id, user, 0, &o, &e) == -1)
			reject(x, &e, NULL);
		else
			send_object(x, o);
		return;
	}
	if ((v = query_param(qs, "starting_after", &len)) != NULL) {
		/* sequence_number n is the event numbered n + 1. */
		if (num_parse(v, len, UINT64_MAX - 1, &after) == -1) {
			cs_fail(&e, 400, "invalid_request", "\"starting_after\" must be a "
			    "sequence_number");
			cs_param(&e, "starting_after");
			reject(x, &e, NULL);
			return;
		}
		after++;
	}
	if (take_slot(x) == -1)
		return;
	if (journal_open(x->rt->conf, id, user, &x->reader, &e) == -1 ||
	    (journal_reader_format(x->reader) != JOURNAL_RESPONSES &&
	    cs_fail(&e, 404, "not_found", "no such response") == -1)) {
		reject(x, &e, NULL);
		return;
	}
	metrics_count(MC_RESUMES, 1);
	oc = follow_run(x->conn, x->rt, id, x->reader, after, 0, &fr);
	x->rec.outcome = outcome_name(oc);
	if (fr.status == 0 && oc == OUTCOME_JOURNAL_UNAVAILABLE) {
		cs_fail(&e, 503, "journal_unavailable", "the stream store cannot be read");
		reject(x, &e, NULL);
		return;
	}
	x->rec.status = fr.status;
	x->rec.events = fr.events;
	x->rec.bytes = fr.bytes;
}

/* How long a cancel waits for the response to end, to answer with its last state. */
#define CANCEL_WAIT_MS 5000

/*
 * POST /v1/responses/<id>/cancel: stops it, wherever it runs (as DELETE
 * /streams/<id>), and answers with its object once it has ended.
 */
static void
cancel_response(struct request_ctx *x, const char *arg)
{
	const char *user = conn_param(x->conn, "REMOTE_USER");
	char *id = x->response;
	json_object *o, *st;
	struct cs_error e;

	cs_error_clear(&e);
	if (response_id(x, arg, id, &e) == -1 ||
	    responses_load(x->rt->conf, id, user, 0, &o, &e) == -1) {
		reject(x, &e, NULL);
		return;
	}
	json_object_put(o);
	x->rec.stream_id = id;
	set_head_extra(x, id);
	if (journal_cancel(x->rt->conf, id, user, JOURNAL_STOP_NOW, &e) == -1 ||
	    responses_load(x->rt->conf, id, user, CANCEL_WAIT_MS, &o, &e) == -1) {
		reject(x, &e, NULL);
		return;
	}
	/* Asked, and not ended in time: it is being cancelled. */
	if (json_object_object_get_ex(o, "status", &st) &&
	    (strcmp(json_object_get_string(st), "in_progress") == 0 ||
	    strcmp(json_object_get_string(st), "queued") == 0))
		json_object_object_add(o, "status", json_object_new_string("cancelled"));
	send_object(x, o);
}

/*
 * The head lines of every answer: x-request-id (id: the stream's, else a
 * fresh one) and, for an Origin that cors_origins lists, the CORS lines.
 */
static void
set_head_extra(struct request_ctx *x, const char *id)
{
	const char *origin = conn_param(x->conn, "HTTP_ORIGIN");
	char fresh[STREAM_ID_LEN + 1];

	if (id == NULL)
		id = stream_new_id(fresh) == 0 ? fresh : "-";
	snprintf(x->head_extra, sizeof(x->head_extra), "X-Request-Id: %s\r\n", id);
	if (cors_allowed(x->rt->conf->cors_origins, origin))
		cors_head(x->head_extra, sizeof(x->head_extra), origin);
	x->conn->head_extra = x->head_extra;
}

/*
 * OPTIONS from an origin cors_origins lists: the CORS preflight's 204.
 * Returns 0 when answered, -1 when it is not a preflight of an allowed
 * origin (the caller answers 405 as for any other method).
 */
static int
preflight(struct request_ctx *x, const char *allow)
{
	const char *origin = conn_param(x->conn, "HTTP_ORIGIN");
	char buf[CONN_HEAD_EXTRA_MAX];
	int rc;

	if (!cors_allowed(x->rt->conf->cors_origins, origin) ||
	    conn_param(x->conn, "HTTP_ACCESS_CONTROL_REQUEST_METHOD") == NULL)
		return -1;
	snprintf(buf, sizeof(buf), "%s", x->head_extra);
	if (cors_preflight(buf, sizeof(buf), allow,
	    conn_param(x->conn, "HTTP_ACCESS_CONTROL_REQUEST_HEADERS")) == -1)
		return -1;
	rc = http_send_empty(x->conn, 204, buf);
	x->rec.status = 204;
	x->rec.outcome = rc == 0 ? "done" : "client_gone";
	return 0;
}

/* Answers the request for its route and method from the table. */
static void
dispatch(struct request_ctx *x, const char *method)
{
	const struct route *r;
	const char *arg;
	struct cs_error e;
	char allow[128], hdr[160];

	cs_error_clear(&e);
	/* Errors under /v1/ are OpenAI's, even for a path it does not have. */
	if (strncmp(x->route, "/v1/", 4) == 0)
		x->style = ERROR_OPENAI;
	if ((r = route_lookup(routes, x->route, method, &arg, &x->style,
	    allow, sizeof(allow))) != NULL) {
		r->handle(x, arg);
		return;
	}
	if (allow[0] == '\0') {
		cs_fail(&e, 404, "not_found", "no such path");
		reject(x, &e, NULL);
		return;
	}
	/* Who may not scrape learns no more from another method than from GET. */
	if (strcmp(x->route, "/metrics") == 0 &&
	    metrics_refused(x->rt->conf, conn_param(x->conn, "REMOTE_ADDR"), &e) == -1) {
		reject(x, &e, NULL);
		return;
	}
	if (strcmp(method, "OPTIONS") == 0 && preflight(x, allow) == 0)
		return;
	cs_fail(&e, 405, "method_not_allowed", "use %s here", allow);
	snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
	reject(x, &e, hdr);
}

/* The request's record and route; 0, or -1 (e set) when it has no route. */
static int
request_begin(struct request_ctx *x, struct conn *c, struct runtime *rt, struct cs_error *e)
{
	const char *method = conn_param(c, "REQUEST_METHOD");

	memset(x, 0, sizeof(*x));
	x->conn = c;
	x->rt = rt;
	x->started_ms = clock_ms();
	metrics_gauge(MG_THREADS_BUSY, 1);
	x->rec.stream_id = NULL;
	x->rec.ttft_ms = -1;
	snprintf(x->client, sizeof(x->client), "%s", conn_param(c, "REMOTE_ADDR") != NULL ?
	    conn_param(c, "REMOTE_ADDR") : "-");
	snprintf(x->method, sizeof(x->method), "%s", method != NULL ? method : "-");
	x->rec.client = x->client;
	x->rec.method = x->method;
	x->route = unrouted;
	x->rec.path = x->route;
	set_head_extra(x, NULL);
	cs_error_clear(e);
	if (log_debug_enabled()) {
		char m[40], pi[260], sn[260], ru[260];

		log_debug("request: method=%s path_info=%s script_name=%s request_uri=%s",
		    log_word(m, sizeof(m), method),
		    log_word(pi, sizeof(pi), conn_param(c, "PATH_INFO")),
		    log_word(sn, sizeof(sn), conn_param(c, "SCRIPT_NAME")),
		    log_word(ru, sizeof(ru), conn_param(c, "REQUEST_URI")));
	}
	return find_route(x, e);
}

void
handle_request(struct conn *c, struct runtime *rt)
{
	struct request_ctx x;
	const char *method;
	struct cs_error e;

	if (request_begin(&x, c, rt, &e) == -1) {
		reject(&x, &e, NULL);
	} else {
		method = conn_param(c, "REQUEST_METHOD");
		find_mount(&x);
		dispatch(&x, method != NULL ? method : "");
	}
	request_end(&x);
}

void
handle_refused(struct conn *c, struct runtime *rt)
{
	struct request_ctx x;
	struct cs_error e;
	char retry[64];

	request_begin(&x, c, rt, &e);
	cs_error_clear(&e);
	cs_fail(&e, 503, "overloaded", "the server is out of file descriptors; retry shortly");
	snprintf(retry, sizeof(retry), "Retry-After: %d\r\n", rt->conf->retry_after);
	reject(&x, &e, retry);
	request_end(&x);
}
