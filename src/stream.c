/* stream.c: numbering, framing and delivering a stream's events, one flush per event. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_SYS_RANDOM_H
#include <sys/random.h>
#endif

#include <json-c/json.h>

#include "clock.h"
#include "sse.h"
#include "stream.h"

/* A buffer that grew past this for one big event is given back afterwards. */
#define KEEP_BYTES (16 * 1024)

int
stream_new_id(char *id)
{
	static const char b64url[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char r[16];
	size_t got = 0;
	unsigned bits = 0, acc = 0, i, o = 0;

	while (got < sizeof(r)) {
		ssize_t n = getrandom(r + got, sizeof(r) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	for (i = 0; i < sizeof(r); i++) {
		acc = (acc << 8) | r[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			id[o++] = b64url[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		id[o++] = b64url[(acc << (6 - bits)) & 63];
	id[o] = '\0';
	return 0;
}

int
stream_open(struct stream *s, const struct conf *cf, const struct model_conf *m,
    struct conn *conn, struct cs_error *err)
{
	memset(s, 0, sizeof(*s));
	if (stream_new_id(s->id) == -1)
		return cs_fail(err, 500, "internal_error", "no random source: %s",
		    strerror(errno));
	s->conf = cf;
	s->model = m;
	s->conn = conn;
	buf_init(&s->out, cf->max_event + 256);
	buf_init(&s->payload, cf->max_event);
	buf_init(&s->text, cf->max_event / 6);
	s->started_ms = clock_ms();
	s->last_write_ms = s->started_ms;
	s->first_token_ms = -1;
	return 0;
}

/* Writes and flushes what is in s->out; the reader is gone when this fails. */
static int
deliver(struct stream *s)
{
	struct conn *c = s->conn;

	if (s->gone)
		return -1;
	if (c->ops->write(c, s->out.data, s->out.len) == -1 || c->ops->flush(c) == -1) {
		s->gone = 1;
		return -1;
	}
	s->bytes += s->out.len;
	s->last_write_ms = clock_ms();
	if (s->out.alloc > KEEP_BYTES)
		buf_free(&s->out);
	else
		buf_reset(&s->out);
	return 0;
}

/*
 * The single route of every event: number it, frame it, deliver it.  A
 * journal of the stream (for Last-Event-ID resume) belongs here.
 */
static int
stream_emit(struct stream *s, const char *name, const char *data, size_t len)
{
	if (sse_event(&s->out, s->seq + 1, name, data, len) == -1) {
		buf_reset(&s->out);
		return -2;
	}
	s->seq++;
	s->events++;
	return deliver(s);
}

static int
emit_json(struct stream *s, const char *name, json_object *o)
{
	const char *text = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	int rc = stream_emit(s, name, text, strlen(text));

	json_object_put(o);
	return rc;
}

int
stream_begin(struct stream *s)
{
	json_object *meta;

	if (buf_printf(&s->out,
	    "Status: 200 OK\r\n"
	    "Content-Type: text/event-stream; charset=utf-8\r\n"
	    "Cache-Control: no-cache\r\n"
	    "X-Accel-Buffering: no\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "X-Stream-Id: %s\r\n"
	    "\r\n", s->id) == -1 ||
	    sse_retry(&s->out, (unsigned)s->conf->retry_ms) == -1 ||
	    sse_comment(&s->out, "chatstream") == -1)
		return -1;
	/* The head goes out with the meta event: one flush, one FastCGI record. */
	meta = json_object_new_object();
	json_object_object_add(meta, "id", json_object_new_string(s->id));
	json_object_object_add(meta, "model", json_object_new_string(s->model->name));
	json_object_object_add(meta, "created", json_object_new_int64((int64_t)time(NULL)));
	return emit_json(s, "meta", meta) == 0 ? 0 : -1;
}

/* Appends s[0..len) as the body of a JSON string (without quotes). */
static int
add_json_chars(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, start = 0;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		char esc[7];
		size_t n = 2;

		if (ch >= 0x20 && ch != '"' && ch != '\\' && ch != 0x7f)
			continue;
		if (buf_add(b, s + start, i - start) == -1)
			return -1;
		start = i + 1;
		esc[0] = '\\';
		switch (ch) {
		case '"':  esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
			n = 6;
		}
		if (buf_add(b, esc, n) == -1)
			return -1;
	}
	return buf_add(b, s + start, len - start);
}

/* Sends whatever sanitised text is pending in s->text as one token event. */
static int
emit_text(struct stream *s)
{
	int rc;

	if (s->text.len == 0)
		return 0;
	/* {"text":"..."} is built in a reused buffer: no allocation per token. */
	buf_reset(&s->payload);
	if (buf_add(&s->payload, "{\"text\":\"", 9) == -1 ||
	    add_json_chars(&s->payload, s->text.data, s->text.len) == -1 ||
	    buf_add(&s->payload, "\"}", 2) == -1)
		rc = -2;
	else
		rc = stream_emit(s, NULL, s->payload.data, s->payload.len);
	if (s->payload.alloc > KEEP_BYTES)
		buf_free(&s->payload);
	if (s->text.alloc > KEEP_BYTES)
		buf_free(&s->text);
	else
		buf_reset(&s->text);
	if (rc == 0) {
		s->tokens++;
		if (s->first_token_ms < 0)
			s->first_token_ms = clock_ms();
	}
	return rc == -2 ? 0 : rc;
}

int
stream_token(struct stream *s, const char *bytes, size_t len)
{
	/* A token too big for one event is split over several, never dropped. */
	size_t piece = s->text.cap - 8;

	do {
		size_t n = len < piece ? len : piece;

		if (s->gone)
			return -1;
		if (utf8_sanitize(&s->carry, bytes, n, 0, &s->text) == -1 ||
		    emit_text(s) == -1)
			return -1;
		bytes += n;
		len -= n;
	} while (len > 0);
	return 0;
}

/* Flushes a held-back incomplete sequence (as U+FFFD) before the stream ends. */
static int
finish_text(struct stream *s)
{
	if (s->carry.len == 0)
		return 0;
	if (utf8_sanitize(&s->carry, "", 0, 1, &s->text) == -1)
		return 0;
	return emit_text(s);
}

int
stream_done(struct stream *s, const struct backend_result *res, long prompt_tokens)
{
	json_object *o, *usage;
	int64_t now;

	if (s->ended || finish_text(s) == -1)
		return -1;
	now = clock_ms();
	s->ended = 1;
	o = json_object_new_object();
	usage = json_object_new_object();
	json_object_object_add(o, "finish_reason", json_object_new_string(
	    res->finish_reason != NULL ? res->finish_reason : "stop"));
	json_object_object_add(usage, "prompt_tokens", json_object_new_int64(prompt_tokens));
	json_object_object_add(usage, "completion_tokens", json_object_new_int64(
	    res->completion_tokens > 0 ? res->completion_tokens : s->tokens));
	json_object_object_add(usage, "total_tokens", json_object_new_int64(prompt_tokens +
	    (res->completion_tokens > 0 ? res->completion_tokens : s->tokens)));
	json_object_object_add(o, "usage", usage);
	json_object_object_add(o, "ttft_ms", s->first_token_ms < 0 ? NULL :
	    json_object_new_int64(s->first_token_ms - s->started_ms));
	json_object_object_add(o, "duration_ms", json_object_new_int64(now - s->started_ms));
	return emit_json(s, "done", o) == 0 ? 0 : -1;
}

int
stream_error(struct stream *s, const char *type, const char *message)
{
	json_object *o, *e;

	if (s->ended)
		return -1;
	finish_text(s);
	s->ended = 1;
	o = json_object_new_object();
	e = json_object_new_object();
	json_object_object_add(e, "type", json_object_new_string(type));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_object_add(o, "error", e);
	return emit_json(s, "error", o) == 0 ? 0 : -1;
}

int
stream_heartbeat(struct stream *s)
{
	if (buf_adds(&s->out, ": ping\n") == -1)
		return -1;
	return deliver(s);
}

void
stream_close(struct stream *s)
{
	buf_free(&s->out);
	buf_free(&s->payload);
	buf_free(&s->text);
}
