/* pump.c: the per-stream event loop: backend fds and timers, client hang-up, heartbeats, shutdown. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include "clock.h"
#include "journal.h"
#include "log.h"
#include "pump.h"

/*
 * Who reads a detached stream, as the journal's ticks tell: `seen` readers at
 * the last tick, and `left` once one said it leaves (DELETE ?leaving, a page
 * going away) until a reader arrives after it (a reload is back).
 */
struct readers {
	int seen;
	int left;
};

static int64_t
earliest(int64_t a, int64_t b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/*
 * The first reader (the POST's own connection) has gone.  A journaled stream
 * goes on without it: readers may follow it, and the one that left may come
 * back (a retry with Last-Event-ID); the pump ends it when nobody has read
 * it for the reconnect window (and, on_disconnect = continue, the model's
 * grace after it), or, a background stream, never.  Without a journal nothing could resume: it ends now.
 * Returns 1 when it goes on.
 */
static int
go_on_alone(struct stream *s, int *hup_fd, int64_t *alone_since, struct readers *rd)
{
	struct journal_state js = { .count_readers = 1 };
	int64_t now = clock_ms();

	if (s->journal == NULL)
		return 0;
	journal_tick(s->journal, now, &js);
	log_debug("stream %s: the first reader left; going on (%d other readers)",
	    s->id, js.readers);
	stream_detach(s);
	*hup_fd = -1;
	*alone_since = js.readers || s->background ? -1 : now;
	rd->left |= js.leaving;
	rd->seen = js.readers;
	return 1;
}

/*
 * Ends s with an error event, or, when nothing was sent to a reader that can
 * still be answered with a status, leaves the error in *early for the caller.
 * Returns o, or OUTCOME_CLIENT_GONE when the reader turned out to be gone.
 */
static enum outcome
fail(struct stream *s, int answered, const struct cs_error *err,
    struct cs_error *early, enum outcome o)
{
	int begun = s->state != STREAM_HEAD;

	if (!begun && !answered) {
		/* A stored stream: false response keeps its failure all the same. */
		if (s->format == STREAM_RESPONSES_JSON)
			(void)stream_error(s, err->type != NULL ? err->type : "backend_error",
			    err->message);
		*early = *err;
		return o;
	}
	if (stream_error(s, err->type != NULL ? err->type : "backend_error",
	    err->message) == -1 && begun)
		return OUTCOME_CLIENT_GONE;
	return o;
}

void
pump_finish(struct stream *s, long prompt_tokens)
{
	struct backend_result res = { "cancelled", 0, 0 };

	if (s->journal == NULL || s->state == STREAM_ENDED)
		return;
	stream_detach(s);
	stream_done(s, &res, prompt_tokens);
}

enum outcome
pump_run(struct stream *s, const struct backend_ops *b, void *run,
    struct runtime *rt, long prompt_tokens, const char **detail,
    struct cs_error *early)
{
	struct pollfd pfd[BACKEND_MAX_FDS + 2];
	const int64_t heartbeat_ms = (int64_t)s->conf->heartbeat * 1000;
	int hup_fd = s->conn != NULL ? s->conn->ops->hangup_fd(s->conn) : -1;
	const short hup_events = s->conn != NULL ? s->conn->hup_events : 0;
	int jfd = -1;
	/* Nobody reading this long ends the stream: the window, then continue's grace. */
	const int64_t grace_ms = (int64_t)s->model->grace * 1000;
	const int64_t alone_ms = conf_reconnect_window_ms(s->conf, s->model) +
	    (s->model->keep_going ? grace_ms : 0);
	/* A 202 stream waits for its first reader at least `grace`, whatever the window. */
	const int64_t first_ms = alone_ms > grace_ms ? alone_ms : grace_ms;
	int64_t stop_at = -1;     /* shutdown deadline, once seen */
	/* A reader that said it leaves: the shorter leave_window, never longer. */
	const int64_t leave_ms = (int64_t)s->conf->leave_window * 1000 < alone_ms ?
	    (int64_t)s->conf->leave_window * 1000 : alone_ms;
	/* Detached with no reader; a background stream runs to its end whoever reads. */
	int64_t alone_since = s->conn == NULL && !s->background ? clock_ms() : -1;
	int64_t window;
	int had_reader = s->conn != NULL;
	struct readers rd = { 0, 0 };
	const int answered = s->conn == NULL;  /* 202 sent: failures go to the readers */

	*detail = NULL;
	/* A deferred begin waits for the backend's word (BACKEND_BEGIN). */
	if (s->conn != NULL && !b->deferred_begin && stream_begin(s) == -1)
		return OUTCOME_CLIENT_GONE;
	for (;;) {
		struct backend_result res = { NULL, 0, 0 };
		struct cs_error err;
		int64_t wake = -1, now, deadline;
		int nb, n, i, ready = 0, rc, jready = 0;
		enum backend_status st;

		nb = b->pollfds(run, pfd, BACKEND_MAX_FDS, &wake);
		n = nb;
		/* The journal may be attached when the stream begins, mid-loop. */
		jfd = s->journal != NULL ? journal_fd(s->journal) : -1;
		if (hup_fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = hup_fd, .events = hup_events };
		if (stop_at < 0 && rt->shutdown_fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = rt->shutdown_fd, .events = POLLIN };
		if (jfd >= 0)
			pfd[n++] = (struct pollfd){ .fd = jfd, .events = POLLIN };
		now = clock_ms();
		deadline = earliest(earliest(wake, s->last_write_ms + heartbeat_ms), stop_at);
		if (s->journal != NULL)
			deadline = earliest(deadline, journal_next_tick(s->journal));
		window = rd.left ? leave_ms : had_reader ? alone_ms : first_ms;
		if (alone_since >= 0)
			deadline = earliest(deadline, alone_since + window);
		/*
		 * Readers see every event before we wait; a producer with more ready
		 * at once (no wait) goes on filling the batch (the store writes a full
		 * one by itself).
		 */
		if (s->journal != NULL && deadline > now)
			journal_flush(s->journal);
		rc = poll(pfd, (nfds_t)n, deadline < now ? 0 :
		    (int)(deadline - now > 3600000 ? 3600000 : deadline - now));
		if (rc < 0 && errno != EINTR) {
			log_warn("stream %s: poll", s->id);
			stream_error(s, "internal_error", "internal error");
			*detail = "internal_error";
			return OUTCOME_ERROR;
		}
		for (i = nb; rc > 0 && i < n; i++) {
			if (pfd[i].fd == hup_fd &&
			    (pfd[i].revents & (POLLRDHUP | POLLHUP | POLLERR)))
				s->gone = 1;
			if (pfd[i].fd == rt->shutdown_fd && (pfd[i].revents & POLLIN))
				stop_at = atomic_load(&rt->shutdown_at);
			if (pfd[i].fd == jfd && (pfd[i].revents & POLLIN))
				jready = 1;
		}
		now = clock_ms();
		if (s->gone && !go_on_alone(s, &hup_fd, &alone_since, &rd))
			return OUTCOME_CLIENT_GONE;
		if (s->journal != NULL && (jready || now >= journal_next_tick(s->journal))) {
			struct journal_state js = { .count_readers = s->conn == NULL };

			journal_tick(s->journal, now, &js);
			if (js.cancel) {
				res.finish_reason = "cancelled";
				stream_done(s, &res, prompt_tokens);
				return OUTCOME_CANCELLED;
			}
			if (js.leaving)
				rd.left = 1;
			else if (js.readers > rd.seen)
				rd.left = 0;     /* someone came back after the leave */
			rd.seen = js.readers;
			if (s->conn == NULL && js.readers) {
				alone_since = -1;
				had_reader = 1;
			} else if (s->conn == NULL && alone_since < 0 && !s->background)
				alone_since = now;
		}
		/* Nobody came back in time: nobody will read what follows. */
		window = rd.left ? leave_ms : had_reader ? alone_ms : first_ms;
		if (alone_since >= 0 && now >= alone_since + window) {
			res.finish_reason = "cancelled";
			stream_done(s, &res, prompt_tokens);
			*detail = rd.left ? "left" : "abandoned";
			return rd.left ? OUTCOME_CANCELLED : OUTCOME_CLIENT_GONE;
		}
		if (stop_at >= 0 && now >= stop_at) {
			*detail = "shutdown";
			cs_fail(&err, 503, "shutdown", "the server is shutting down");
			(void)fail(s, answered, &err, early, OUTCOME_SHUTDOWN);
			return OUTCOME_SHUTDOWN;
		}
		for (i = 0; rc > 0 && i < nb; i++)
			if (pfd[i].revents != 0)
				ready = 1;
		if (ready || (wake >= 0 && now >= wake)) {
			cs_error_clear(&err);
			st = b->step(run, pfd, nb, s, &res, &err);
			if (st == BACKEND_BEGIN)
				(void)stream_begin(s);   /* a reader gone is seen next */
			if (s->gone && !go_on_alone(s, &hup_fd, &alone_since, &rd))
				return OUTCOME_CLIENT_GONE;
			if (s->stop.matched && s->choices == NULL) {
				/*
				 * A stop sequence ends the answer; the caller stops the
				 * backend.  Of several choices it ends only its own.
				 */
				st = BACKEND_DONE;
				res.finish_reason = "stop";
				res.completion_tokens = 0;
			}
			if (st == BACKEND_DONE) {
				/* The model's own count wins over our word count. */
				if (stream_done(s, &res, res.prompt_tokens > 0 ?
				    res.prompt_tokens : prompt_tokens) == -1)
					return OUTCOME_CLIENT_GONE;
				return OUTCOME_DONE;
			}
			if (st == BACKEND_FAILED) {
				if (err.type == NULL)
					err.type = "backend_error";
				*detail = err.type;
				return fail(s, answered, &err, early, strcmp(err.type, "timeout") == 0 ?
				    OUTCOME_TIMEOUT : OUTCOME_ERROR);
			}
		}
		if (clock_ms() - s->last_write_ms >= heartbeat_ms &&
		    stream_heartbeat(s) == -1)
			return OUTCOME_CLIENT_GONE;
	}
}
