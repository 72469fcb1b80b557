/* follow.c: replaying a journaled stream after Last-Event-ID and following it as it grows. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "follow.h"
#include "log.h"
#include "metrics.h"
#include "sse.h"
#include "stream.h"

/* Writes out to the reader; 0, or -1 when it has gone. */
static int
send_out(struct conn *c, struct buf *out, struct follow_result *res)
{
	if (out->len == 0)
		return 0;
	if (c->ops->write(c, out->data, out->len) == -1 || c->ops->flush(c) == -1)
		return -1;
	res->bytes += out->len;
	buf_reset(out);
	return 0;
}

static int send_error(struct conn *, struct buf *, enum journal_format, const char *,
    const char *, struct follow_result *);

int
follow_lost(struct conn *c, const char *id, enum journal_format format,
    struct follow_result *res)
{
	struct buf out;
	int rc;

	memset(res, 0, sizeof(*res));
	res->status = 200;
	buf_init(&out, 1024);
	rc = stream_head(&out, 200, format == JOURNAL_OPENAI ? STREAM_OPENAI : STREAM_NATIVE,
	    id, conn_head_extra(c)) == -1 ? -1 : send_error(c, &out, format, "history_lost",
	    "the stream this retry continues is no longer kept; send the request again "
	    "without Last-Event-ID", res);
	buf_free(&out);
	return rc;
}

/*
 * An error the reader must hear of, in the stream's format (OpenAI's: the
 * shape its SDKs raise mid-stream, chatstream's type as the code); it
 * carries no id, as no producer numbered it.
 */
static int
send_error(struct conn *c, struct buf *out, enum journal_format format, const char *type,
    const char *msg, struct follow_result *res)
{
	char data[256];

	if (format == JOURNAL_OPENAI)
		snprintf(data, sizeof(data), "{\"error\":{\"message\":\"%s\","
		    "\"type\":\"server_error\",\"param\":null,\"code\":\"%s\"}}", msg, type);
	else
		snprintf(data, sizeof(data), "{\"error\":{\"type\":\"%s\",\"message\":\"%s\"}}",
		    type, msg);
	if (sse_event(out, 0, format == JOURNAL_OPENAI ? NULL : "error", data,
	    strlen(data)) == -1)
		return -1;
	res->events++;
	return send_out(c, out, res);
}

/* Counts the events in the frames just read (each starts with "id: "). */
static uint64_t
count_events(const struct buf *b, size_t from)
{
	uint64_t n = 0;
	size_t i;

	for (i = from; i + 4 <= b->len; i++)
		if ((i == 0 || b->data[i - 1] == '\n') && memcmp(b->data + i, "id: ", 4) == 0)
			n++;
	return n;
}

enum outcome
follow_run(struct conn *c, struct runtime *rt, const char *id,
    struct journal_reader *r, uint64_t after, int no_content,
    struct follow_result *res)
{
	const struct conf *cf = rt->conf;
	enum journal_format format = journal_reader_format(r);
	struct journal_read jr;
	struct buf out;
	int hup_fd = c->ops->hangup_fd(c), jfd = journal_reader_fd(r);
	int64_t every = (int64_t)cf->heartbeat * 1000, check, last_write = clock_ms();
	enum outcome outcome = OUTCOME_ERROR;

	memset(res, 0, sizeof(*res));
	buf_init(&out, cf->max_event * 4 + 4096);
	/* Check the producer's lease about three times per lease period. */
	check = (int64_t)(cf->lease_timeout > 0 ? cf->lease_timeout : 3 * cf->heartbeat) * 1000 / 3;
	if (check < 200)
		check = 200;
	if (stream_head(&out, 200, STREAM_NATIVE, id, conn_head_extra(c)) == -1 ||
	    sse_retry(&out, (unsigned)cf->retry_ms) == -1)
		goto out;
	{
		size_t head = out.len;

		if (journal_read(r, after, &out, &jr) == -1) {
			/* Nothing sent yet: the caller answers 503. */
			outcome = OUTCOME_JOURNAL_UNAVAILABLE;
			goto out;
		}
		if (no_content && jr.finished && !jr.lost && out.len == head) {
			/* Nothing after `after` and nothing to come: this stops EventSource. */
			buf_reset(&out);
			res->status = 204;
			if (stream_head(&out, 204, STREAM_NATIVE, id, conn_head_extra(c)) == -1 ||
			    send_out(c, &out, res) == -1)
				outcome = OUTCOME_CLIENT_GONE;
			else
				outcome = OUTCOME_DONE;
			goto out;
		}
		res->status = 200;
		res->events += count_events(&out, head);
	}
	for (;;) {
		struct pollfd pfd[3];
		int n = 0, rc;

		after = jr.last_seq;
		if (out.len > 0)
			last_write = clock_ms();
		if (send_out(c, &out, res) == -1) {
			outcome = OUTCOME_CLIENT_GONE;
			break;
		}
		if (jr.lost) {
			metrics_count(MC_HISTORY_LOST, 1);
			send_error(c, &out, format, "history_lost",
			    "events after the given id are no longer kept", res);
			outcome = OUTCOME_ERROR;
			break;
		}
		if (jr.finished) {
			outcome = OUTCOME_DONE;
			break;
		}
		if (jr.interrupted) {
			metrics_count(MC_INTERRUPTED, 1);
			send_error(c, &out, format, "interrupted",
			    "the process generating this stream stopped", res);
			outcome = OUTCOME_ERROR;
			break;
		}
		if (atomic_load(&rt->shutdown_at) != 0 && clock_ms() >= atomic_load(&rt->shutdown_at)) {
			/*
			 * Only this reader's process stops; the stream goes on elsewhere.
			 * Closing without a terminal event makes the client reconnect.
			 */
			outcome = OUTCOME_SHUTDOWN;
			break;
		}
		if (jr.more) {
			/* A long history: keep replaying without waiting. */
			size_t mark = out.len;

			if (journal_read(r, after, &out, &jr) == -1)
				goto unavailable;
			res->events += count_events(&out, mark);
			continue;
		}
		if (jfd >= 0)
			pfd[n++] = (struct pollfd){ .fd = jfd, .events = POLLIN };
		if (hup_fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = hup_fd, .events = c->hup_events };
		{
			/* Until the next heartbeat is due, the next lease check, or (no inotify) soon. */
			int64_t wait = last_write + every - clock_ms();

			if (wait > check)
				wait = check;
			if (jfd < 0 && wait > 100)
				wait = 100;
			rc = poll(pfd, (nfds_t)n, wait > 0 ? (int)wait : 0);
		}
		if (rc < 0 && errno != EINTR)
			break;
		if (hup_fd >= 0 && (pfd[n - 1].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
			outcome = OUTCOME_CLIENT_GONE;
			break;
		}
		{
			size_t mark = out.len;

			if (journal_read(r, after, &out, &jr) == -1)
				goto unavailable;
			res->events += count_events(&out, mark);
		}
		if (out.len == 0 && clock_ms() - last_write >= every && buf_adds(&out, ": ping\n") == -1)
			break;
	}
	goto out;
unavailable:
	/* The store failed under a stream already begun: say so; the client may retry. */
	send_out(c, &out, res);
	send_error(c, &out, format, "journal_unavailable", "the stream store cannot be read", res);
	outcome = OUTCOME_ERROR;
out:
	buf_free(&out);
	return outcome;
}
