/* pump.c: the per-stream event loop: backend fds and timers, client hang-up, heartbeats, shutdown. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "pump.h"

static int64_t
earliest(int64_t a, int64_t b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

const char *
pump_run(struct stream *s, const struct backend_ops *b, void *run,
    struct runtime *rt, long prompt_tokens, const char **detail,
    struct cs_error *early)
{
	struct pollfd pfd[BACKEND_MAX_FDS + 2];
	const int64_t heartbeat_ms = (int64_t)s->conf->heartbeat * 1000;
	int hup_fd = s->conn->ops->hangup_fd(s->conn);
	int64_t stop_at = -1;     /* shutdown deadline, once seen */

	*detail = NULL;
	for (;;) {
		struct backend_result res = { NULL, 0, 0 };
		struct cs_error err;
		int64_t wake = -1, now, deadline;
		int nb, n, i, ready = 0, rc;
		enum backend_status st;

		nb = b->pollfds(run, pfd, BACKEND_MAX_FDS, &wake);
		n = nb;
		if (hup_fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = hup_fd, .events = POLLRDHUP };
		if (stop_at < 0 && rt->shutdown_fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = rt->shutdown_fd, .events = POLLIN };
		now = clock_ms();
		deadline = earliest(earliest(wake, s->last_write_ms + heartbeat_ms), stop_at);
		rc = poll(pfd, (nfds_t)n, deadline < now ? 0 :
		    (int)(deadline - now > 3600000 ? 3600000 : deadline - now));
		if (rc < 0 && errno != EINTR) {
			log_warn("stream %s: poll", s->id);
			stream_error(s, "internal_error", "internal error");
			*detail = "internal_error";
			return "error";
		}
		for (i = nb; rc > 0 && i < n; i++) {
			if (pfd[i].fd == hup_fd &&
			    (pfd[i].revents & (POLLRDHUP | POLLHUP | POLLERR)))
				s->gone = 1;
			if (pfd[i].fd == rt->shutdown_fd && (pfd[i].revents & POLLIN))
				stop_at = atomic_load(&rt->shutdown_at);
		}
		if (s->gone)
			return "client_gone";
		now = clock_ms();
		if (stop_at >= 0 && now >= stop_at) {
			*detail = "shutdown";
			if (!s->begun)
				cs_fail(early, 503, "shutdown", "the server is shutting down");
			else
				stream_error(s, "shutdown", "the server is shutting down");
			return "shutdown";
		}
		for (i = 0; rc > 0 && i < nb; i++)
			if (pfd[i].revents != 0)
				ready = 1;
		if (ready || (wake >= 0 && now >= wake)) {
			cs_error_clear(&err);
			st = b->step(run, pfd, nb, s, &res, &err);
			if (s->gone)
				return "client_gone";
			if (st == BACKEND_DONE) {
				if (stream_done(s, &res, prompt_tokens) == -1)
					return "client_gone";
				return "done";
			}
			if (st == BACKEND_FAILED) {
				const char *type = err.type != NULL ? err.type : "backend_error";

				*detail = type;
				if (!s->begun)
					*early = err;
				else if (stream_error(s, type, err.message) == -1)
					return "client_gone";
				return strcmp(type, "timeout") == 0 ? "timeout" : "error";
			}
		}
		if (clock_ms() - s->last_write_ms >= heartbeat_ms &&
		    stream_heartbeat(s) == -1)
			return "client_gone";
	}
}
