/* stream.c: numbering, framing and delivering a stream's events, one flush per event. */
/* SPDX-License-Identifier: ISC */
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
#include "http.h"
#include "journal.h"
#include "jsonw.h"
#include "responses.h"
#include "sse.h"
#include "stream.h"
#include "stream_choice.h"
#include "stream_delta.h"

/* A buffer that grew past this for one big event is given back afterwards. */
#define KEEP_BYTES (16 * 1024)

/* chat.completion(.chunk)'s system_fingerprint: which chatstream answered. */
#define SYSTEM_FINGERPRINT "chatstream-" PACKAGE_VERSION

/* A token payload's bytes besides its text and chunk_head (the OpenAI shape is longest). */
#define TOKEN_FRAME 96
/* The same for a response.output_text.delta event (it has no chunk_head). */
#define RESPONSES_FRAME 256

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
    struct conn *conn, enum stream_format format, struct cs_error *err)
{
	memset(s, 0, sizeof(*s));
	if (stream_new_id(s->id) == -1)
		return cs_fail(err, 500, "internal_error", "no random source: %s",
		    strerror(errno));
	s->conf = cf;
	s->model = m;
	s->conn = conn;
	s->format = format;
	s->nchoices = 1;
	s->created = (int64_t)time(NULL);
	buf_init(&s->out, cf->max_event + 256 + CONN_HEAD_EXTRA_MAX);
	buf_init(&s->payload, cf->max_event);
	buf_init(&s->answer, STREAM_FORMAT_RESPONSES(format) ?
	    responses_answer_cap(cf) : cf->max_event * 8);
	buf_init(&s->chunk_head, 1024);
	s->started_ms = clock_ms();
	s->last_write_ms = s->started_ms;
	s->first_token_ms = -1;
	if (format == STREAM_OPENAI && (buf_printf(&s->chunk_head,
	    "{\"id\":\"chatcmpl-%s\",\"object\":\"chat.completion.chunk\","
	    "\"created\":%lld,\"model\":", s->id, (long long)s->created) == -1 ||
	    jsonw_string(&s->chunk_head, m->name, strlen(m->name)) == -1 ||
	    buf_adds(&s->chunk_head, ",\"system_fingerprint\":\"" SYSTEM_FINGERPRINT "\","
	    "\"choices\":[") == -1))
		return cs_fail(err, 500, "internal_error", "model name too long");
	/*
	 * A token event's payload is its head, the text JSON-escaped (at most 6
	 * bytes a byte) and a tail: the text is capped so that it always fits.
	 */
	buf_init(&s->text, (cf->max_event - s->chunk_head.len - (STREAM_FORMAT_RESPONSES(format) ?
	    RESPONSES_FRAME : TOKEN_FRAME)) / 6);
	if (s->text.cap < UTF8_MAX_OUT + 32)
		return cs_fail(err, 500, "internal_error", "max_event too small");
	stream_delta_open(s);
	s->text_part = s->refusal_part = -1;
	return 0;
}

/* Writes and flushes what is in s->out; the reader is gone when this fails. */
static int
deliver(struct stream *s)
{
	struct conn *c = s->conn;

	if (s->gone) {
		/* The journal has the event; the next one starts afresh. */
		buf_reset(&s->out);
		return -1;
	}
	if (c == NULL) {
		/* Detached: the journal has the events; nobody reads this copy. */
		s->last_write_ms = clock_ms();
		buf_reset(&s->out);
		return 0;
	}
	if (c->ops->write(c, s->out.data, s->out.len) == -1 || c->ops->flush(c) == -1) {
		s->gone = 1;
		buf_reset(&s->out);
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
 * The single route of every event: number it, frame it, append it to the
 * journal (if any, for Last-Event-ID resume), deliver it.  An event's id
 * names its stream and its number, `<stream id>.<n>`, so a Last-Event-ID
 * alone says where to resume (a POST retry carries nothing else).  OpenAI's
 * frames are all unnamed (data: only, with an id: its SDKs pass over): there
 * the name (done for data: [DONE], error) only tells the journal which event
 * ends the stream.
 */
int
stream_emit_event(struct stream *s, const char *sse_name, const char *journal_name,
    const char *data, size_t len)
{
	size_t mark = s->out.len;

	if (sse_event_of(&s->out, s->id, s->seq + 1, sse_name, data, len) == -1) {
		buf_reset(&s->out);
		return -2;
	}
	s->seq++;
	s->events++;
	if (s->journal != NULL)
		journal_append(s->journal, s->seq, journal_name != NULL ? journal_name : "message",
		    s->out.data + mark, s->out.len - mark);
	if (STREAM_FORMAT_JSON(s->format)) {
		/* A kept stream: false response: its events are the journal's only. */
		s->out.len = mark;
		return 0;
	}
	return deliver(s);
}

/*
 * The native and chat-completions shapes' route.  A Responses stream's
 * events are all written by responses_stream.c: a payload of another shape
 * never reaches its reader.
 */
int
stream_emit(struct stream *s, const char *name, const char *data, size_t len)
{
	if (STREAM_FORMAT_RESPONSES(s->format))
		return s->gone ? -1 : 0;
	return stream_emit_event(s, s->format == STREAM_NATIVE ? name : NULL, name, data, len);
}

void
stream_detach(struct stream *s)
{
	s->conn = NULL;
	s->gone = 0;
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

/*
 * The end of a chunk after its choices: with stream_options.include_usage
 * every chunk but the last has "usage": null, as OpenAI's do.
 */
const char *
stream_chunk_end(const struct stream *s)
{
	return s->include_usage ? "],\"usage\":null}" : "]}";
}

/* Emits the chunk_head + rest (a JSON tail) as one OpenAI chunk event. */
static int
emit_chunk(struct stream *s, const char *rest)
{
	int rc;

	buf_reset(&s->payload);
	if (buf_add(&s->payload, s->chunk_head.data, s->chunk_head.len) == -1 ||
	    buf_adds(&s->payload, rest) == -1)
		return -2;
	rc = stream_emit(s, NULL, s->payload.data, s->payload.len);
	buf_reset(&s->payload);
	return rc;
}

int
stream_head(struct buf *out, int status, enum stream_format format, const char *id,
    const char *extra)
{
	/* No stream to name (a retry naming none): no X-Stream-Id. */
	const char *sid = *id != '\0' ? "X-Stream-Id: " : "", *eol = *id != '\0' ? "\r\n" : "";

	if (status == 204)
		return buf_printf(out, "Status: 204 No Content\r\n%s\r\n", extra);
	if (STREAM_FORMAT_JSON(format))
		return buf_printf(out,
		    "Status: %d %s\r\n"
		    "Content-Type: application/json\r\n"
		    "Cache-Control: no-store\r\n"
		    "%s%s%s"
		    "%s\r\n", status, http_reason(status), sid, id, eol, extra);
	return buf_printf(out,
	    "Status: %d %s\r\n"
	    "Content-Type: text/event-stream; charset=utf-8\r\n"
	    "Cache-Control: no-cache\r\n"
	    "X-Accel-Buffering: no\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "%s%s%s"
	    "%s\r\n", status, http_reason(status), sid, id, eol, extra);
}

int
stream_begin(struct stream *s)
{
	json_object *meta;

	if (s->state != STREAM_HEAD || STREAM_FORMAT_JSON(s->format))
		return s->gone ? -1 : 0;
	s->state = STREAM_BODY;
	if (s->on_begin != NULL)
		s->on_begin(s, s->on_begin_arg);
	if (stream_head(&s->out, 200, s->format, s->id, conn_head_extra(s->conn)) == -1)
		return -1;
	/* The head goes out with the first event: one flush, one FastCGI record. */
	if (s->format == STREAM_OPENAI) {
		char rest[128];
		int i, rc, gone = 0;

		/* Each choice's first chunk has the role, as OpenAI's. */
		for (i = 0; i < s->nchoices; i++) {
			snprintf(rest, sizeof(rest), "{\"index\":%d,\"delta\":{\"role\":"
			    "\"assistant\",\"content\":\"\"},\"finish_reason\":null}%s", i,
			    stream_chunk_end(s));
			if ((rc = emit_chunk(s, rest)) == -2)
				return -1;
			gone |= rc == -1;
		}
		return gone ? -1 : 0;
	}
	if (s->format == STREAM_RESPONSES)
		return responses_begin(s) == 0 ? 0 : -1;
	if (sse_retry(&s->out, (unsigned)s->conf->retry_ms) == -1 ||
	    sse_comment(&s->out, "chatstream") == -1)
		return -1;
	meta = json_object_new_object();
	json_object_object_add(meta, "id", json_object_new_string(s->id));
	json_object_object_add(meta, "model", json_object_new_string(s->model->name));
	json_object_object_add(meta, "created", json_object_new_int64(s->created));
	if (s->resume_url != NULL)
		json_object_object_add(meta, "resume", json_object_new_string(s->resume_url));
	return emit_json(s, "meta", meta) == 0 ? 0 : -1;
}

/*
 * Builds the payload of a token event of s->text in s->payload, with the
 * pending logprobs when lp is set (they are then taken).  The payload is
 * built in a reused buffer: no allocation per token.  Returns 0 or -1 (cap).
 */
static int
text_payload(struct stream *s, int lp)
{
	struct buf *b = &s->payload;
	int rc;

	buf_reset(b);
	if (s->format == STREAM_OPENAI)
		rc = buf_add(b, s->chunk_head.data, s->chunk_head.len) == -1 ||
		    /* Choice 0 (every token of an answer of one) costs nothing more. */
		    (s->choice == 0 ? buf_adds(b, "{\"index\":0,\"delta\":{\"content\":\"") :
		    stream_choice_index(b, s) == -1 ? -1 :
		    buf_adds(b, ",\"delta\":{\"content\":\"")) == -1 ||
		    jsonw_chars(b, s->text.data, s->text.len) == -1 ||
		    buf_adds(b, "\"}") == -1 ||
		    (lp && (buf_adds(b, ",\"logprobs\":") == -1 ||
		    buf_add(b, s->logprobs.data, s->logprobs.len) == -1)) ||
		    buf_adds(b, ",\"finish_reason\":null}") == -1 ||
		    buf_adds(b, stream_chunk_end(s)) == -1;
	else
		rc = buf_add(b, "{\"text\":\"", 9) == -1 ||
		    jsonw_chars(b, s->text.data, s->text.len) == -1 ||
		    buf_addc(b, '"') == -1 ||
		    (lp && (buf_adds(b, ",\"logprobs\":") == -1 ||
		    buf_add(b, s->logprobs.data, s->logprobs.len) == -1)) ||
		    buf_addc(b, '}') == -1;
	if (rc != 0) {
		buf_reset(b);
		return -1;
	}
	if (lp)
		buf_reset(&s->logprobs);
	return 0;
}

/*
 * Sends whatever sanitised text is pending in s->text as one token event.
 * Returns 0; -1 when the reader has gone (the event still has its id and is
 * journaled: it counts as sent); or -2 when the text could not be sent (out
 * of memory): it is lost, and s->lost says so.
 */
static int
emit_text(struct stream *s)
{
	int rc = 0;

	if (s->text.len == 0)
		return 0;
	if (s->format == STREAM_OPENAI_JSON) {
		/* The answer is capped; what does not fit is lost, and said so at the end. */
		if (!s->answer_cut && buf_add(&s->answer, s->text.data, s->text.len) == -1)
			s->answer_cut = 1;
	} else if (STREAM_FORMAT_RESPONSES(s->format)) {
		rc = responses_delta(s);   /* it begins the stream when it has to */
	} else {
		int built, rc2;

		/* A reader gone at the head: the token still goes to the journal. */
		if (s->state == STREAM_HEAD)
			(void)stream_begin(s);
		/* Logprobs go with the text, or alone first when both do not fit. */
		built = s->logprobs.len > 0 && text_payload(s, 1) == 0;
		if (!built && s->logprobs.len > 0)
			rc = stream_delta_flush(s);
		if (rc != -2 && !built && text_payload(s, 0) == -1)
			rc = -2;
		if (rc != -2 && (rc2 = stream_emit(s, NULL, s->payload.data,
		    s->payload.len)) != 0)
			rc = rc2;
		if (s->payload.alloc > KEEP_BYTES)
			buf_free(&s->payload);
	}
	if (s->text.alloc > KEEP_BYTES)
		buf_free(&s->text);
	else
		buf_reset(&s->text);
	if (rc == 0 || rc == -1) {
		s->tokens++;
		if (s->first_token_ms < 0)
			s->first_token_ms = clock_ms();
	} else if (rc == -2)
		s->lost = 1;
	return rc;
}

/*
 * Sanitises bytes[0..len) (final: and what is held back) into token events:
 * text that would pass s->text's cap goes out in several, split between
 * characters, never dropped.  A reader gone on the way does not stop it:
 * all of the bytes are consumed and journaled, once, for those who resume.
 * Returns 0, -1 (gone: consumed all the same) or -2 (lost), as emit_text.
 */
static int
send_text(struct stream *s, const char *bytes, size_t len, int final)
{
	int gone = s->gone;

	if (gone && s->journal == NULL)
		return -1;   /* nobody will ever read it */
	for (;;) {
		size_t used;
		int rc, left;

		used = utf8_sanitize(&s->carry, bytes, len, final, &s->text);
		bytes += used;
		len -= used;
		left = len > 0 || (final && s->carry.len > 0);
		if (left && s->text.len == 0) {
			s->lost = 1;   /* no progress: out of memory */
			return -2;
		}
		if ((rc = emit_text(s)) == -2)
			return rc;
		if (rc == -1)
			gone = 1;
		if (!left)
			return gone ? -1 : 0;
	}
}

int
stream_token(struct stream *s, const char *bytes, size_t len)
{
	const char *held;
	size_t nheld, nin;
	int rc = 0, rc2;

	if (s->lost)
		return -2;
	/* What the stop sequences let through: held bytes released, then some of these. */
	(void)stopseq_feed(&s->stop, bytes, len, &held, &nheld, &nin);
	if (nheld > 0)
		rc = send_text(s, held, nheld, 0);
	if (rc != -2 && nin > 0 && (rc2 = send_text(s, bytes, nin, 0)) != 0)
		rc = rc2;
	return rc;
}

/*
 * Flushes what is held back before the stream ends: the start of a stop
 * sequence that never came, and an incomplete UTF-8 sequence (as U+FFFD).
 */
static int
finish_text(struct stream *s)
{
	const char *held;
	size_t nheld = stopseq_flush(&s->stop, &held);

	if (s->lost)
		return 0;
	if (nheld > 0 && send_text(s, held, nheld, 0) == -1)
		return -1;
	if (s->carry.len > 0 && !s->lost && send_text(s, "", 0, 1) == -1)
		return -1;
	/* Logprobs whose text never came (held back, then dropped by a stop). */
	return s->lost ? 0 : stream_delta_flush(s) == -1 ? -1 : 0;
}

/* finish_text() for every choice that has not ended; the selected one stays selected. */
static int
finish_texts(struct stream *s)
{
	int i, sel = s->choice, rc = 0;

	if (s->choices == NULL)
		return finish_text(s);
	for (i = 0; i < s->nchoices && !s->lost; i++) {
		if (s->choices[i].ended)
			continue;
		stream_choice_load(s, i);
		if (finish_text(s) == -1)
			rc = -1;   /* the rest still goes to the journal */
	}
	stream_choice_load(s, sel);
	return rc;
}

/* STREAM_OPENAI: the selected choice's finish chunk. Returns as emit_chunk(). */
static int
finish_chunk(struct stream *s, const char *finish)
{
	char rest[128];

	snprintf(rest, sizeof(rest), "{\"index\":%d,\"delta\":{},\"finish_reason\":\"%s\"}%s",
	    s->choice, finish, stream_chunk_end(s));
	return emit_chunk(s, rest);
}

int
stream_choice_finish(struct stream *s, const char *reason)
{
	struct stream_choice *c;
	size_t n = strlen(reason);
	int rc, rc2;

	if (s->lost)
		return -2;
	if (s->choices == NULL || s->state == STREAM_ENDED || s->choices[s->choice].ended)
		return s->gone ? -1 : 0;
	c = &s->choices[s->choice];
	c->ended = 1;
	/* It goes into our JSON unquoted: only [a-z_] passes. */
	snprintf(c->finish, sizeof(c->finish), "%s", s->stop.matched || n == 0 ||
	    n >= sizeof(c->finish) || strspn(reason, "abcdefghijklmnopqrstuvwxyz_") != n ?
	    "stop" : reason);
	if (s->format == STREAM_OPENAI && s->state == STREAM_HEAD)
		(void)stream_begin(s);
	rc = finish_text(s);
	if (s->lost)
		return -2;
	if (s->format != STREAM_OPENAI)
		return rc;
	if ((rc2 = finish_chunk(s, c->finish)) == -2) {
		s->lost = 1;
		return -2;
	}
	return rc == -1 || rc2 == -1 ? -1 : 0;
}

static int
add_usage(const struct stream *s, struct buf *b, long prompt_tokens, long completion_tokens)
{
	return buf_printf(b, "{\"prompt_tokens\":%ld,\"completion_tokens\":%ld,"
	    "\"total_tokens\":%ld", prompt_tokens, completion_tokens,
	    prompt_tokens + completion_tokens) == -1 || stream_delta_usage(s, b) == -1 ||
	    buf_addc(b, '}') == -1 ? -1 : 0;
}

/*
 * STREAM_OPENAI_JSON has no events.  Its head goes out with the answer, or,
 * when the answer is slow, with the first heartbeat, which (like every later
 * one) is a space: JSON allows whitespace before the value.  That write is
 * what lets a front server that notices a client's leaving only when it
 * writes to it (lighttpd, Apache) notice, and it keeps proxies' idle timers
 * alive.  From then on the status is 200 whatever happens: a failure is an
 * OpenAI error object as the body instead of the chat.completion.
 */
static int
json_heartbeat(struct stream *s)
{
	if (s->state == STREAM_HEAD) {
		if (stream_head(&s->out, 200, s->format, s->id, conn_head_extra(s->conn)) == -1)
			return -1;
		s->state = STREAM_BODY;
	}
	if (buf_addc(&s->out, ' ') == -1)
		return -1;
	return deliver(s);
}

/*
 * The finish_reason of the selected choice: its own when it ended before
 * the answer (several choices), "stop" when a stop sequence ended it, else
 * the answer's.
 */
static const char *
choice_reason(const struct stream *s, const char *finish)
{
	if (s->choices == NULL)
		return finish;
	if (s->choices[s->choice].finish[0] != '\0')
		return s->choices[s->choice].finish;
	return s->stop.matched ? "stop" : finish;
}

/* STREAM_OPENAI_JSON: appends the selected choice, its message and finish_reason, to b. */
static int
add_choice(struct stream *s, struct buf *b, const char *finish)
{
	return (s->choice > 0 && buf_addc(b, ',') == -1) ||
	    stream_choice_index(b, s) == -1 ||
	    buf_adds(b, ",\"message\":{\"role\":\"assistant\",\"content\":") == -1 ||
	    /* No text beside tool calls or a refusal: null, as OpenAI's. */
	    (s->answer.len == 0 && (s->ncalls > 0 || s->refusal.len > 0) ?
	    buf_adds(b, "null") :
	    jsonw_string(b, s->answer.data != NULL ? s->answer.data : "", s->answer.len)) == -1 ||
	    stream_delta_message(s, b) == -1 ||
	    buf_adds(b, "},\"logprobs\":") == -1 ||
	    (s->logprobs.len > 0 ? buf_adds(b, "{\"content\":[") == -1 ||
	    buf_add(b, s->logprobs.data, s->logprobs.len) == -1 || buf_adds(b, "]}") == -1 :
	    buf_adds(b, "null") == -1) ||
	    /* Cut (past its cap: max_event * 8, or its share of it): length, whatever it said. */
	    buf_printf(b, ",\"finish_reason\":\"%s\"}", s->answer_cut ? "length" :
	    choice_reason(s, finish)) == -1 ? -1 : 0;
}

/* STREAM_OPENAI_JSON: the whole chat.completion object, and the head unless it is out. */
static int
send_completion(struct stream *s, const char *finish, long prompt_tokens,
    long completion_tokens)
{
	struct buf body, *b = &body;
	size_t size = 6 * strlen(s->model->name) + 1024;
	int rc = -1, i, sel = s->choice;

	/* Room for every part of every choice JSON-escaped (6 bytes a byte at most), and the frame. */
	for (i = 0; i < s->nchoices; i++) {
		stream_choice_load(s, i);
		size += 6 * s->answer.len + stream_delta_size(s) + 256;
	}
	buf_init(b, size);
	if (buf_printf(b, "{\"id\":\"chatcmpl-%s\",\"object\":\"chat.completion\","
	    "\"created\":%lld,\"model\":", s->id, (long long)s->created) == -1 ||
	    jsonw_string(b, s->model->name, strlen(s->model->name)) == -1 ||
	    buf_adds(b, ",\"system_fingerprint\":\"" SYSTEM_FINGERPRINT "\","
	    "\"choices\":[") == -1)
		goto out;
	for (i = 0; i < s->nchoices; i++) {
		stream_choice_load(s, i);
		if (add_choice(s, b, finish) == -1)
			goto out;
	}
	if (buf_adds(b, "],\"usage\":") == -1 ||
	    add_usage(s, b, prompt_tokens, completion_tokens) == -1 ||
	    buf_adds(b, "}\n") == -1 ||
	    (s->state == STREAM_HEAD && stream_head(&s->out, 200, s->format, s->id, conn_head_extra(s->conn)) == -1))
		goto out;
	s->state = STREAM_ENDED;
	if (s->gone || s->conn == NULL)
		goto out;
	if ((s->out.len > 0 && s->conn->ops->write(s->conn, s->out.data, s->out.len) == -1) ||
	    s->conn->ops->write(s->conn, b->data, b->len) == -1 ||
	    s->conn->ops->flush(s->conn) == -1) {
		s->gone = 1;
		goto out;
	}
	s->bytes += s->out.len + b->len;
	buf_reset(&s->out);
	rc = 0;
out:
	stream_choice_load(s, sel);
	buf_free(b);
	return rc;
}

/* STREAM_RESPONSES_JSON: the whole response object, as send_completion() its own. */
static int
send_response(struct stream *s, const char *finish, long prompt_tokens,
    long completion_tokens)
{
	struct buf b;
	int rc = -1;

	/* The texts are capped to leave the object room in one max_event; logprobs come besides. */
	buf_init(&b, s->conf->max_event + s->logprobs.len);
	if (s->answer_cut)
		finish = "length";
	if (responses_final(s, &b, finish, prompt_tokens, completion_tokens) == -1 ||
	    buf_addc(&b, '\n') == -1 || (s->state == STREAM_HEAD &&
	    stream_head(&s->out, 200, s->format, s->id, conn_head_extra(s->conn)) == -1))
		goto out;
	s->state = STREAM_ENDED;
	if (s->gone || s->conn == NULL)
		goto out;   /* gone, or detached: the journal has it */
	if ((s->out.len > 0 && s->conn->ops->write(s->conn, s->out.data, s->out.len) == -1) ||
	    s->conn->ops->write(s->conn, b.data, b.len) == -1 ||
	    s->conn->ops->flush(s->conn) == -1) {
		s->gone = 1;
		goto out;
	}
	s->bytes += s->out.len + b.len;
	buf_reset(&s->out);
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

int
stream_done(struct stream *s, const struct backend_result *res, long prompt_tokens)
{
	const char *finish = res->finish_reason != NULL ? res->finish_reason : "stop";
	long completion;
	json_object *o, *usage;
	int64_t now;

	if (s->state == STREAM_ENDED || finish_texts(s) == -1)
		return -1;
	if (s->lost)   /* never `done` over an answer with a hole in it */
		return stream_error(s, "internal_error", "part of the answer could not be sent");
	if (s->state == STREAM_HEAD && stream_begin(s) == -1)
		return -1;
	completion = res->completion_tokens > 0 ? res->completion_tokens : s->tokens;
	if (s->format == STREAM_RESPONSES_JSON) {
		/* Kept (store): its journal ends as a stream's would, for GET and references. */
		if (s->journal != NULL)
			(void)responses_end(s, finish, prompt_tokens, completion);
		s->journal = NULL;   /* it has its end, whatever happens to the answer */
		return send_response(s, finish, prompt_tokens, completion);
	}
	if (s->format == STREAM_OPENAI_JSON)
		return send_completion(s, finish, prompt_tokens, completion);
	s->state = STREAM_ENDED;
	if (s->format == STREAM_RESPONSES)
		return responses_end(s, finish, prompt_tokens, completion) == 0 ? 0 : -1;
	if (s->format == STREAM_OPENAI) {
		int rc, gone = 0, i;

		/* A reader gone on the way: the rest still goes to the journal, [DONE] last. */
		for (i = 0; i < s->nchoices; i++) {
			if (s->choices != NULL) {
				if (s->choices[i].ended)
					continue;   /* its finish chunk is out */
				stream_choice_load(s, i);
			}
			if ((rc = finish_chunk(s, choice_reason(s, finish))) == -2)
				return -1;
			gone |= rc == -1;
		}
		if (s->include_usage) {
			struct buf u;

			buf_init(&u, 256);
			rc = buf_adds(&u, "],\"usage\":") == -1 ||
			    add_usage(s, &u, prompt_tokens, completion) == -1 ||
			    buf_addc(&u, '}') == -1 ? -2 : emit_chunk(s, u.data);
			buf_free(&u);
			if (rc == -2)
				return -1;
			gone |= rc == -1;
		}
		return stream_emit(s, "done", "[DONE]", 6) == 0 && !gone ? 0 : -1;
	}
	now = clock_ms();
	o = json_object_new_object();
	usage = json_object_new_object();
	json_object_object_add(o, "finish_reason", json_object_new_string(finish));
	json_object_object_add(usage, "prompt_tokens", json_object_new_int64(prompt_tokens));
	json_object_object_add(usage, "completion_tokens", json_object_new_int64(completion));
	json_object_object_add(usage, "total_tokens", json_object_new_int64(prompt_tokens +
	    completion));
	if (s->usage_extra.len > 0) {
		/* The backend's usage members, e.g. completion_tokens_details. */
		struct buf x;
		json_object *e;

		buf_init(&x, s->usage_extra.len + 2);
		if (buf_addc(&x, '{') == 0 && buf_add(&x, s->usage_extra.data,
		    s->usage_extra.len) == 0 && buf_addc(&x, '}') == 0 &&
		    (e = json_tokener_parse(x.data)) != NULL) {
			json_object_object_foreach(e, k, v)
				json_object_object_add(usage, k, json_object_get(v));
			json_object_put(e);
		}
		buf_free(&x);
	}
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

	/*
	 * Kept (store): retrieved as failed, whatever its reader is answered.
	 * The journal has its end then: nothing more goes there.
	 */
	if (s->format == STREAM_RESPONSES_JSON && s->journal != NULL && s->state != STREAM_ENDED) {
		finish_texts(s);
		(void)responses_fail(s, type, message);
		s->journal = NULL;
	}
	if (s->state == STREAM_ENDED ||
	    (s->state == STREAM_HEAD && STREAM_FORMAT_JSON(s->format)))
		return -1;   /* nothing was sent: the caller answers with an HTTP error */
	finish_texts(s);
	if (s->state == STREAM_HEAD && stream_begin(s) == -1)
		return -1;
	s->state = STREAM_ENDED;
	if (s->format == STREAM_RESPONSES)
		return responses_fail(s, type, message) == 0 ? 0 : -1;
	o = json_object_new_object();
	e = json_object_new_object();
	if (s->format == STREAM_NATIVE) {
		json_object_object_add(e, "type", json_object_new_string(type));
		json_object_object_add(e, "message", json_object_new_string(message));
	} else {
		/* OpenAI's shape: the SDKs raise it as an APIError mid-stream. */
		json_object_object_add(e, "message", json_object_new_string(message));
		json_object_object_add(e, "type", json_object_new_string("server_error"));
		json_object_object_add(e, "param", NULL);
		json_object_object_add(e, "code", json_object_new_string(type));
	}
	json_object_object_add(o, "error", e);
	if (STREAM_FORMAT_JSON(s->format)) {
		/* After heartbeats: the body is the error object (see json_heartbeat()). */
		int rc = buf_adds(&s->out, json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) == -1 ||
		    buf_addc(&s->out, '\n') == -1 ? -1 : deliver(s);

		json_object_put(o);
		return rc;
	}
	return emit_json(s, "error", o) == 0 ? 0 : -1;
}

int
stream_heartbeat(struct stream *s)
{
	if (STREAM_FORMAT_JSON(s->format))
		return json_heartbeat(s);
	if (s->state == STREAM_HEAD)
		return stream_begin(s);
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
	buf_free(&s->answer);
	buf_free(&s->chunk_head);
	stream_delta_close(s);
	stream_choices_free(s);
}
