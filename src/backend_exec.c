/* backend_exec.c: runs a configured command (never a shell) and streams its stdout. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "backend.h"
#include "clock.h"
#include "log.h"
#include "request.h"
#include "stream.h"

extern char **environ;

enum exec_input { INPUT_PROMPT, INPUT_MESSAGES };

struct exec_conf {
	char **argv;              /* owned, NULL-terminated */
	enum exec_input input;
	long max_duration;        /* seconds */
	long idle_timeout;        /* seconds without output */
	long kill_grace_ms;       /* between SIGTERM and SIGKILL */
};

struct exec_run {
	const struct exec_conf *cf;
	pid_t pid;                    /* the command; reaped only in exec_stop() */
	pid_t pgid;                   /* its process group: everything it started */
	int pidfd;
	int in_fd, out_fd, err_fd;    /* -1 once closed */
	char *input;                  /* owned: what goes to stdin */
	size_t input_len, input_pos;
	int64_t started_ms, last_out_ms;
	int exited;                   /* the command has exited (a zombie until stop) */
	int exit_code, exit_signal;   /* how: its exit status, or the signal that killed it */
	long chunks;
	char errline[512];            /* one stderr line being assembled */
	size_t errlen;
};

static void
free_argv(char **argv)
{
	size_t i;

	for (i = 0; argv != NULL && argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

/*
 * Splits a command line into words the way a reader expects, without a
 * shell: whitespace separates; '...' is literal; "..." allows \" and \\.
 * No variables, globs or redirections.  Returns NULL on unbalanced quotes.
 */
static char **
split_command(const char *s)
{
	size_t n = 0, cap = 8, len = strlen(s);
	char **argv = calloc(cap, sizeof(*argv)), *word = malloc(len + 1);

	if (argv == NULL || word == NULL)
		goto fail;
	for (;;) {
		size_t w = 0;
		int any = 0;

		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		while (*s != '\0' && *s != ' ' && *s != '\t') {
			any = 1;
			if (*s == '\'') {
				const char *e = strchr(s + 1, '\'');

				if (e == NULL)
					goto fail;
				memcpy(word + w, s + 1, (size_t)(e - s - 1));
				w += (size_t)(e - s - 1);
				s = e + 1;
			} else if (*s == '"') {
				for (s++; *s != '"'; s++) {
					if (*s == '\0')
						goto fail;
					if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
						s++;
					word[w++] = *s;
				}
				s++;
			} else
				word[w++] = *s++;
		}
		if (!any)
			continue;
		if (n + 2 > cap) {
			char **p = realloc(argv, (cap *= 2) * sizeof(*argv));

			if (p == NULL)
				goto fail;
			argv = p;
		}
		if ((argv[n] = malloc(w + 1)) == NULL)
			goto fail;
		memcpy(argv[n], word, w);
		argv[n++][w] = '\0';
		argv[n] = NULL;
	}
	free(word);
	if (n == 0 || argv[0][0] == '\0') {
		free_argv(argv);
		return NULL;
	}
	return argv;
fail:
	free(word);
	free_argv(argv);
	return NULL;
}

static int
exec_configure(struct model_conf *m, struct cs_error *err)
{
	struct exec_conf *c = calloc(1, sizeof(*c));
	struct conf_option *o;

	if (c == NULL)
		return cs_fail(err, 500, "config", "out of memory");
	c->max_duration = 300;
	c->idle_timeout = 60;
	c->kill_grace_ms = 2000;
	if ((o = conf_opt(m, "command")) == NULL) {
		cs_fail(err, 500, "config", "model \"%s\": backend exec needs \"command\"", m->name);
		err->line = m->line;
		goto fail;
	}
	if ((c->argv = split_command(o->value)) == NULL) {
		cs_fail(err, 500, "config", "command: empty or unbalanced quotes");
		err->line = o->line;
		goto fail;
	}
	if ((o = conf_opt(m, "input")) != NULL) {
		if (strcmp(o->value, "prompt") == 0)
			c->input = INPUT_PROMPT;
		else if (strcmp(o->value, "messages") == 0)
			c->input = INPUT_MESSAGES;
		else {
			cs_fail(err, 500, "config", "input: expected prompt or messages, got \"%s\"",
			    o->value);
			err->line = o->line;
			goto fail;
		}
	}
	if (conf_opt_int(m, "max_duration", 1, 86400, &c->max_duration, err) == -1 ||
	    conf_opt_int(m, "idle_timeout", 1, 86400, &c->idle_timeout, err) == -1 ||
	    conf_opt_int(m, "kill_grace_ms", 0, 60000, &c->kill_grace_ms, err) == -1)
		goto fail;
	m->backend_conf = c;
	return 0;
fail:
	free_argv(c->argv);
	free(c);
	return -1;
}

static void
exec_unconfigure(struct model_conf *m)
{
	struct exec_conf *c = m->backend_conf;

	if (c != NULL)
		free_argv(c->argv);
	free(c);
	m->backend_conf = NULL;
}

/* The bytes written to the command's stdin. Returns 0 or -1. */
static int
make_input(struct exec_run *r, const struct chat_request *req)
{
	json_object *o, *arr;
	const char *text;
	size_t i;

	if (r->cf->input == INPUT_PROMPT) {
		if ((r->input = malloc(req->prompt_len + 1)) == NULL)
			return -1;
		memcpy(r->input, req->prompt, req->prompt_len);
		r->input_len = req->prompt_len;
		return 0;
	}
	o = json_object_new_object();
	arr = json_object_new_array();
	for (i = 0; i < req->nmessages; i++) {
		static const char *const keep[] = { "name", "tool_call_id", "tool_calls" };
		json_object *m = json_object_new_object(), *v;
		size_t k;

		json_object_object_add(m, "role", json_object_new_string(req->messages[i].role));
		json_object_object_add(m, "content", json_object_new_string_len(
		    req->messages[i].content, (int)req->messages[i].content_len));
		/* A tool call and its answer reach the command as they were sent. */
		for (k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
			if (req->messages[i].json != NULL &&
			    json_object_object_get_ex(req->messages[i].json, keep[k], &v))
				json_object_object_add(m, keep[k], json_object_get(v));
		json_object_array_add(arr, m);
	}
	json_object_object_add(o, "messages", arr);
	if (req->max_tokens > 0)
		json_object_object_add(o, "max_tokens", json_object_new_int64(req->max_tokens));
	if (req->has_temperature)
		json_object_object_add(o, "temperature", json_object_new_double(req->temperature));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	r->input_len = strlen(text) + 1;
	if ((r->input = malloc(r->input_len)) != NULL) {
		memcpy(r->input, text, r->input_len - 1);
		r->input[r->input_len - 1] = '\n';
	}
	json_object_put(o);
	return r->input == NULL ? -1 : 0;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int
exec_start(const struct model_conf *m, const struct chat_request *req, void **out,
    struct cs_error *err)
{
	struct exec_run *r = calloc(1, sizeof(*r));
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, deflt;
	int rc;

	if (chat_request_text_only(req, m->name, err) == -1) {
		free(r);
		return -1;
	}
	if (r == NULL)
		return cs_fail(err, 503, "overloaded", "out of memory");
	r->cf = m->backend_conf;
	r->pidfd = r->in_fd = r->out_fd = r->err_fd = -1;
	if (make_input(r, req) == -1) {
		free(r);
		return cs_fail(err, 503, "overloaded", "out of memory");
	}
	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(outp, O_CLOEXEC) == -1 ||
	    pipe2(errp, O_CLOEXEC) == -1) {
		rc = errno;
		goto fail_fds;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, outp[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, errp[1], STDERR_FILENO);
#ifdef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&deflt);
	sigaddset(&deflt, SIGPIPE);
	sigaddset(&deflt, SIGTERM);
	sigaddset(&deflt, SIGINT);
	sigaddset(&deflt, SIGHUP);
	sigaddset(&deflt, SIGUSR1);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &deflt);
	/* Its own process group, so the whole tree it starts can be stopped. */
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawnp(&r->pid, r->cf->argv[0], &fa, &attr, r->cf->argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0)
		goto fail_fds;
	close(in[0]);
	close(outp[1]);
	close(errp[1]);
	r->in_fd = in[1];
	r->out_fd = outp[0];
	r->err_fd = errp[0];
	fcntl(r->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(r->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(r->err_fd, F_SETFL, O_NONBLOCK);
	r->pgid = r->pid;   /* setpgroup(0): the command leads a group of its own */
	r->pidfd = (int)syscall(SYS_pidfd_open, r->pid, 0);
	r->started_ms = r->last_out_ms = clock_ms();
	if (r->input_len == 0)
		close_fd(&r->in_fd);
	log_debug("exec: started %s as pid %ld", r->cf->argv[0], (long)r->pid);
	*out = r;
	return 0;
fail_fds:
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&outp[0]);
	close_fd(&outp[1]);
	close_fd(&errp[0]);
	close_fd(&errp[1]);
	free(r->input);
	free(r);
	log_warnx("exec: cannot run %s: %s", ((const struct exec_conf *)m->backend_conf)->argv[0],
	    strerror(rc));
	return cs_fail(err, 503, "backend_unavailable", "the model's command could not be started");
}

static int
exec_pollfds(void *run, struct pollfd *pfd, int max, int64_t *wake)
{
	struct exec_run *r = run;
	int n = 0;

	(void)max;
	if (r->in_fd >= 0)
		pfd[n++] = (struct pollfd){ .fd = r->in_fd, .events = POLLOUT };
	if (r->out_fd >= 0)
		pfd[n++] = (struct pollfd){ .fd = r->out_fd, .events = POLLIN };
	if (r->err_fd >= 0)
		pfd[n++] = (struct pollfd){ .fd = r->err_fd, .events = POLLIN };
	if (r->pidfd >= 0 && !r->exited)
		pfd[n++] = (struct pollfd){ .fd = r->pidfd, .events = POLLIN };
	*wake = r->started_ms + r->cf->max_duration * 1000;
	if (r->last_out_ms + r->cf->idle_timeout * 1000 < *wake)
		*wake = r->last_out_ms + r->cf->idle_timeout * 1000;
	if (r->pidfd < 0 && !r->exited && clock_ms() + 50 < *wake)
		*wake = clock_ms() + 50;   /* no pidfd (old kernel): poll for the exit */
	return n;
}

static void
feed_stdin(struct exec_run *r)
{
	while (r->in_fd >= 0 && r->input_pos < r->input_len) {
		ssize_t n = write(r->in_fd, r->input + r->input_pos, r->input_len - r->input_pos);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			close_fd(&r->in_fd);   /* EPIPE: it does not read stdin */
			return;
		}
		r->input_pos += (size_t)n;
	}
	close_fd(&r->in_fd);
}

/* Sends the command's stderr to the log, a line at a time, never to the client. */
static void
drain_stderr(struct exec_run *r, const struct stream *s)
{
	char chunk[4096];
	ssize_t n, i;

	while ((n = read(r->err_fd, chunk, sizeof(chunk))) > 0) {
		for (i = 0; i < n; i++) {
			if (chunk[i] == '\n' || r->errlen == sizeof(r->errline) - 1) {
				r->errline[r->errlen] = '\0';
				log_warnx("stream %s: command stderr: %s", s->id, r->errline);
				r->errlen = 0;
				if (chunk[i] == '\n')
					continue;
			}
			r->errline[r->errlen++] = chunk[i] >= 0x20 || chunk[i] < 0 ? chunk[i] : '?';
		}
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		if (r->errlen > 0) {
			r->errline[r->errlen] = '\0';
			log_warnx("stream %s: command stderr: %s", s->id, r->errline);
			r->errlen = 0;
		}
		close_fd(&r->err_fd);
	}
}

/*
 * Notes whether the command has exited, without reaping it: a zombie keeps
 * its pid, so the process group's id cannot be reused while exec_stop() has
 * yet to kill what is left of the group.
 */
static void
check_exit(struct exec_run *r)
{
	siginfo_t si;

	if (r->exited)
		return;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	    si.si_pid == r->pid) {
		r->exited = 1;
		if (si.si_code == CLD_EXITED)
			r->exit_code = si.si_status;
		else
			r->exit_signal = si.si_status;
	}
}

/* Reads what the command wrote before it exited (bounded: others may still write). */
static int
drain_stdout(struct exec_run *r, struct stream *s)
{
	char chunk[16384];
	int i;

	for (i = 0; r->out_fd >= 0 && i < 64; i++) {
		ssize_t got = read(r->out_fd, chunk, sizeof(chunk));

		if (got > 0) {
			r->chunks++;
			if (stream_token(s, chunk, (size_t)got) != 0)
				return -1;
		} else if (got == 0 || (errno != EAGAIN && errno != EINTR))
			close_fd(&r->out_fd);
		else if (errno == EAGAIN)
			break;
	}
	return 0;
}

static enum backend_status
exec_step(void *run, const struct pollfd *pfd, int n, struct stream *s,
    struct backend_result *res, struct cs_error *err)
{
	struct exec_run *r = run;
	int64_t now;
	char chunk[16384];
	ssize_t got;

	(void)pfd;
	(void)n;
	if (r->in_fd >= 0)
		feed_stdin(r);
	if (r->err_fd >= 0)
		drain_stderr(r, s);
	if (r->out_fd >= 0) {
		got = read(r->out_fd, chunk, sizeof(chunk));
		if (got > 0) {
			r->last_out_ms = clock_ms();
			r->chunks++;
			switch (stream_token(s, chunk, (size_t)got)) {
			case -1:
				return BACKEND_MORE;   /* the reader has gone: the loop sees it */
			case -2:
				cs_fail(err, 500, "internal_error", "the answer could not be sent");
				return BACKEND_FAILED;
			}
		} else if (got == 0 || (errno != EAGAIN && errno != EINTR))
			close_fd(&r->out_fd);
	}
	check_exit(r);
	if (r->exited) {
		/*
		 * The command's exit ends its output, even when something it
		 * started still holds stdout open: exec_stop() ends that.
		 */
		if (drain_stdout(r, s) == -1) {
			if (s->gone)
				return BACKEND_MORE;
			cs_fail(err, 500, "internal_error", "the answer could not be sent");
			return BACKEND_FAILED;
		}
		if (r->err_fd >= 0)
			drain_stderr(r, s);
		res->completion_tokens = s->tokens;
		if (r->exit_signal == 0 && r->exit_code == 0) {
			res->finish_reason = "stop";
			return BACKEND_DONE;
		}
		if (r->exit_signal == 0)
			cs_fail(err, 502, "backend_error", "the model's command exited with status %d",
			    r->exit_code);
		else
			cs_fail(err, 502, "backend_error", "the model's command was killed by signal %d",
			    r->exit_signal);
		return BACKEND_FAILED;
	}
	now = clock_ms();
	if (now >= r->started_ms + r->cf->max_duration * 1000) {
		cs_fail(err, 504, "timeout", "the model's command ran longer than %lds",
		    r->cf->max_duration);
		return BACKEND_FAILED;
	}
	if (now >= r->last_out_ms + r->cf->idle_timeout * 1000) {
		cs_fail(err, 504, "timeout", "the model's command was silent for %lds",
		    r->cf->idle_timeout);
		return BACKEND_FAILED;
	}
	return BACKEND_MORE;
}

/* Waits up to ms for the child to exit. */
static void
wait_exit(struct exec_run *r, long ms)
{
	int64_t until = clock_ms() + ms;

	for (;;) {
		int64_t left;

		check_exit(r);
		if (r->exited || (left = until - clock_ms()) <= 0)
			return;
		if (r->pidfd >= 0) {
			struct pollfd p = { .fd = r->pidfd, .events = POLLIN };

			poll(&p, 1, (int)left);
		} else
			usleep(left > 5 ? 5000 : (useconds_t)left * 1000);
	}
}

static void
exec_stop(void *run)
{
	struct exec_run *r = run;
	int64_t t0 = clock_ms();

	if (r == NULL)
		return;
	close_fd(&r->in_fd);
	close_fd(&r->out_fd);
	close_fd(&r->err_fd);
	check_exit(r);
	/*
	 * The whole group goes, whether or not the command is still there: what
	 * it left running in the background would outlive the stream.  Until the
	 * command is reaped, at the end, its zombie keeps the group's id ours.
	 */
	kill(-r->pgid, SIGTERM);
	if (!r->exited) {
		wait_exit(r, r->cf->kill_grace_ms);
		log_debug("exec: pid %ld stopped %lld ms after the stop", (long)r->pid,
		    (long long)(clock_ms() - t0));
	}
	kill(-r->pgid, SIGKILL);
	kill(r->pid, SIGKILL);   /* in case it left its group */
	while (waitpid(r->pid, NULL, 0) == -1 && errno == EINTR)
		;
	close_fd(&r->pidfd);
	free(r->input);
	free(r);
}

const struct backend_ops backend_exec = {
	"exec", 0, 6, exec_configure, exec_unconfigure, exec_start, exec_pollfds,
	exec_step, exec_stop
};
