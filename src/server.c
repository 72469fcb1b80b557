/* server.c: the FastCGI worker pool with a spare thread for 503s, graceful SIGTERM, and CGI mode. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "clock.h"
#include "conn.h"
#include "handler.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "num.h"
#include "runtime.h"
#include "server.h"

#define SD_LISTEN_FDS_START 3

static int
is_listening_socket(int fd)
{
	int on = 0;
	socklen_t len = sizeof(on);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on;
}

static int
listen_unix(const char *path, int backlog)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("socket path too long: %s", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("socket");
		return -1;
	}
	/* A stale socket from an earlier run is replaced; any other file is not. */
	{
		struct stat st;

		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path);
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, backlog) == -1) {
		log_warn("cannot listen on %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

static int
listen_tcp(const char *spec, int backlog)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints, *res, *ai;
	int fd = -1, on = 1, rc;
	size_t hl;

	if (colon == NULL || colon == spec || colon[1] == '\0') {
		log_warnx("-b wants HOST:PORT (e.g. 127.0.0.1:9000 or [::1]:9000), got %s", spec);
		return -1;
	}
	hl = (size_t)(colon - spec);
	if (spec[0] == '[' && colon[-1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		log_warnx("host too long in %s", spec);
		return -1;
	}
	memcpy(host, spec, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, colon + 1, &hints, &res)) != 0) {
		log_warnx("cannot resolve %s: %s", spec, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		log_warn("cannot listen on %s", spec);
	return fd;
}

int
server_listen_fd(const struct listen_spec *spec, int backlog)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	uint64_t npid, nfds;

	if (spec->unix_path != NULL)
		return listen_unix(spec->unix_path, backlog);
	if (spec->tcp != NULL)
		return listen_tcp(spec->tcp, backlog);
	if (pid != NULL && fds != NULL &&
	    num_parse(pid, strlen(pid), INT64_MAX, &npid) == 0 && npid == (uint64_t)getpid() &&
	    num_parse(fds, strlen(fds), INT32_MAX, &nfds) == 0 && nfds >= 1) {
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
		if (!is_listening_socket(SD_LISTEN_FDS_START)) {
			log_warnx("LISTEN_FDS is set but fd %d is not a listening socket",
			    SD_LISTEN_FDS_START);
			return -1;
		}
		fcntl(SD_LISTEN_FDS_START, F_SETFD, FD_CLOEXEC);
		return SD_LISTEN_FDS_START;
	}
	if (is_listening_socket(STDIN_FILENO))
		return STDIN_FILENO;
	return -2;
}

/* The shared state of the worker threads. */
struct pool {
	struct runtime rt;
	int listen_fd;
	pthread_mutex_t accept_mu;    /* one thread at a time waits in accept */
	pthread_cond_t finished;      /* a request ended: its fds are free again */
	atomic_int reserve_fd;        /* /dev/null, given up to accept one at EMFILE; -1 */
	long out_of_fds;              /* failed accepts of this EMFILE episode */
	long refused;                 /* connections of this episode answered 503 */
	int64_t out_since_ms;         /* when the episode began, 0 outside one */
	int64_t out_last_ms;          /* the episode's last failed accept */
	atomic_int stopping;
};

static void
prepare_connection(FCGX_Request *req, const struct conf *cf)
{
	struct timeval tv = { cf->write_timeout, 0 };

	/* A command we spawn must not inherit another request's connection. */
	fcntl(req->ipcFd, F_SETFD, FD_CLOEXEC);
	/* A front server that stops reading cannot hold a thread forever. */
	setsockopt(req->ipcFd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/*
 * The process is out of fds (EMFILE, ENFILE): one warning per episode, and
 * its end (an accept that works a second after the last that did not) is
 * logged with a count.  Called with accept_mu held; err 0 for an accept that
 * worked, -1 when the pool stops.
 */
static void
episode(struct pool *p, int err)
{
	int64_t now = clock_ms();

	if (err > 0) {
		p->out_last_ms = now;
		if (p->out_of_fds++ == 0) {
			p->out_since_ms = now;
			errno = err;
			log_warn("accept: out of fds; waiting connections get 503 "
			    "while a spare fd lasts, else wait for a stream to end");
		}
	} else if (p->out_of_fds > 0 && (err == -1 || now - p->out_last_ms >= 1000)) {
		log_info("accept: fds free again after %lld ms (%ld failed accepts, "
		    "%ld connections answered 503)", (long long)(now - p->out_since_ms),
		    p->out_of_fds, p->refused);
		p->out_of_fds = 0;
		p->refused = 0;
		p->out_since_ms = 0;
	}
}

/*
 * Opens the reserve fd when there is none: at each accept, and by the worker
 * that answered on it the moment its connection is closed, before streams'
 * journals take the fd back.
 */
static int
take_reserve(struct pool *p)
{
	int fd, none = -1;

	if (atomic_load(&p->reserve_fd) != -1)
		return 0;
	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		return errno == EMFILE || errno == ENFILE ? errno : 0;
	if (!atomic_compare_exchange_strong(&p->reserve_fd, &none, fd))
		close(fd);
	return 0;
}

/* Waits, accept_mu held, until a request ends (its fds freed) or 200 ms passed. */
static void
wait_for_fds(struct pool *p)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 200 * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&p->finished, &p->accept_mu, &ts);
}

/*
 * Waits for the next request; returns 0 (*refused set when it came in on the
 * reserve fd and must only be answered 503), or -1 when the pool is stopping.
 */
static int
accept_next(struct pool *p, FCGX_Request *req, int *refused)
{
	int rc = -1, err;

	*refused = 0;
	pthread_mutex_lock(&p->accept_mu);
	while (!atomic_load(&p->stopping)) {
		struct pollfd pfd[2] = {
			{ .fd = p->listen_fd, .events = POLLIN },
			{ .fd = p->rt.shutdown_fd, .events = POLLIN },
		};

		/*
		 * Out of fds even for the reserve: a connection accepted now
		 * would take the fd the reserve needs, and the ones behind it
		 * would wait unanswered until a stream ends.
		 */
		if ((err = take_reserve(p)) != 0) {
			episode(p, err);
			wait_for_fds(p);
			continue;
		}
		if (poll(pfd, 2, -1) == -1) {
			if (errno != EINTR)
				log_warn("poll on the listening socket");
			continue;
		}
		if (pfd[1].revents & POLLIN)
			break;
		if (!(pfd[0].revents & (POLLIN | POLLERR | POLLHUP)))
			continue;
		/* The socket is non-blocking: another process may have taken it first. */
		rc = FCGX_Accept_r(req);
		if (rc == 0) {
			episode(p, 0);
			break;
		}
		if ((rc == -EMFILE || rc == -ENFILE) && atomic_load(&p->reserve_fd) != -1) {
			/* The spare fd lets this one in, to be told to come back. */
			close(atomic_exchange(&p->reserve_fd, -1));
			episode(p, -rc);
			if ((rc = FCGX_Accept_r(req)) == 0) {
				*refused = 1;
				p->refused++;
				break;
			}
		}
		if (rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM) {
			/* Nothing to gain by retrying before a stream gives its fds back. */
			episode(p, -rc);
			wait_for_fds(p);
		} else if (rc != -EAGAIN && rc != -EWOULDBLOCK && rc != -EINTR &&
		    rc != -ECONNABORTED) {
			errno = -rc;
			log_warn("accept");
			wait_for_fds(p);
		}
		rc = -1;
	}
	pthread_mutex_unlock(&p->accept_mu);
	return rc;
}

/*
 * Ends the request and closes its connection.  libfcgi's close shuts the
 * connection down for writing and then waits up to 2 s for the peer's EOF,
 * lest unread input turn the close into a reset that loses the response; a
 * peer that keeps the connection open after the response (one retrying after
 * a 503, say) would hold this thread that long.  So the rest of the input is
 * read here, for at most a second and up to a cap, and with none left the
 * connection is closed at once.
 */
static void
finish_request(FCGX_Request *req)
{
	struct timeval tv = { 0, 250000 };
	int64_t until = clock_ms() + 1000;
	size_t total = 0;

	/*
	 * Each read waits 250 ms at most; all of them, about a second (a byte
	 * at a time: FCGX_GetStr would go on reading a trickle until it has
	 * them all; a byte comes from libfcgi's buffer without a system call).
	 */
	if (req->in != NULL && FCGX_GetError(req->in) == 0 &&
	    setsockopt(req->ipcFd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0) {
		while (total < ((size_t)1 << 20) && clock_ms() < until &&
		    FCGX_GetChar(req->in) != EOF)
			total++;
		if (FCGX_HasSeenEOF(req->in) == EOF && FCGX_GetError(req->in) == 0)
			req->detached = 1;
	}
	FCGX_Finish_r(req);
}

static void *
worker(void *arg)
{
	struct pool *p = arg;
	FCGX_Request req;
	struct conn c;
	int refused;

	if (FCGX_InitRequest(&req, p->listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_warnx("FCGX_InitRequest failed");
		return NULL;
	}
	while (accept_next(p, &req, &refused) == 0) {
		prepare_connection(&req, p->rt.conf);
		conn_fcgi_init(&c, &req);
		if (refused)
			handle_refused(&c, &p->rt);
		else
			handle_request(&c, &p->rt);
		finish_request(&req);
		if (refused)
			(void)take_reserve(p);
		/* Its fds are free: an acceptor waiting out EMFILE may try again. */
		pthread_cond_broadcast(&p->finished);
	}
	FCGX_Free(&req, 1);
	return NULL;
}

/* Drops expired streams from the journal now and then, while the pool runs. */
static void *
sweeper(void *arg)
{
	struct pool *p = arg;
	int every = p->rt.conf->journal_ttl < 60 ? p->rt.conf->journal_ttl : 60;

	for (;;) {
		struct pollfd pfd = { .fd = p->rt.shutdown_fd, .events = POLLIN };

		journal_sweep(p->rt.conf);
		if (poll(&pfd, 1, every * 1000) > 0)
			return NULL;
	}
}

/* Blocks the signals that the signal thread takes; workers never see EINTR from them. */
static void
block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int
server_run_fastcgi(struct conf *cf, int listen_fd)
{
	struct pool p;
	pthread_attr_t attr;
	pthread_t *threads, sweep_thread;
	sigset_t set;
	int sweeping = 0;
	int i, n = cf->threads + 1, started = 0, sig = 0;
	uint64_t one = 1;

	memset(&p, 0, sizeof(p));
	p.rt.conf = cf;
	p.rt.started = (int64_t)time(NULL);
	p.listen_fd = listen_fd;
	atomic_init(&p.rt.shutdown_at, 0);
	atomic_init(&p.rt.active, 0);
	atomic_init(&p.stopping, 0);
	pthread_mutex_init(&p.accept_mu, NULL);
	pthread_cond_init(&p.finished, NULL);
	atomic_init(&p.reserve_fd, -1);
	if ((p.rt.shutdown_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
		log_warn("eventfd");
		return 1;
	}
	block_signals(&set);
	if (FCGX_Init() != 0) {
		log_warnx("FCGX_Init failed");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
	if ((threads = calloc((size_t)n, sizeof(*threads))) == NULL) {
		log_warnx("out of memory");
		return 1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, cf->thread_stack);
	for (i = 0; i < n; i++) {
		int rc = pthread_create(&threads[i], &attr, worker, &p);

		if (rc != 0) {
			errno = rc;
			log_warn("could only start %d of %d threads", started, n);
			break;
		}
		started++;
	}
	pthread_attr_destroy(&attr);
	if (cf->journal != JOURNAL_OFF && started >= 2 &&
	    pthread_create(&sweep_thread, NULL, sweeper, &p) == 0)
		sweeping = 1;
	if (started < 2) {
		log_warnx("not enough threads to serve");
		atomic_store(&p.stopping, 1);
		eventfd_write(p.rt.shutdown_fd, one);
	} else {
		metrics_gauge(MG_THREADS, started - 1);
		log_info("serving FastCGI: %d stream threads + 1 spare, heartbeat %ds",
		    started - 1, cf->heartbeat);
		while (sigwait(&set, &sig) == 0 && sig == SIGHUP)
			log_info("SIGHUP ignored (restart to reload the configuration)");
		log_info("signal %d: no new requests; open streams have %ds",
		    sig, cf->shutdown_grace);
		atomic_store(&p.rt.shutdown_at, clock_ms() + (int64_t)cf->shutdown_grace * 1000);
		atomic_store(&p.stopping, 1);
		eventfd_write(p.rt.shutdown_fd, one);
	}
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	if (sweeping)
		pthread_join(sweep_thread, NULL);
	free(threads);
	close(p.rt.shutdown_fd);
	pthread_mutex_destroy(&p.accept_mu);
	pthread_cond_destroy(&p.finished);
	episode(&p, -1);
	if (atomic_load(&p.reserve_fd) != -1)
		close(atomic_load(&p.reserve_fd));
	log_info("stopped");
	return 0;
}

int
server_run_cgi(struct conf *cf)
{
	struct runtime rt;
	struct conn c;

	sigset_t set;

	memset(&rt, 0, sizeof(rt));
	rt.conf = cf;
	rt.started = (int64_t)time(NULL);
	atomic_init(&rt.shutdown_at, 0);
	atomic_init(&rt.active, 0);
	/*
	 * Front servers end a CGI program whose client left with SIGTERM
	 * (lighttpd does): the signal becomes readable on an fd, so the stream
	 * ends through its normal teardown (the backend stopped, the log line
	 * written) instead of the process dying mid-stream.
	 */
	block_signals(&set);
	rt.shutdown_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	conn_cgi_init(&c);
	metrics_gauge(MG_THREADS, 1);
	handle_request(&c, &rt);
	/* The response ends here (stdout closed); then, now and then, a sweep. */
	c.ops->finish(&c);
	journal_sweep_due(cf, cf->journal_ttl < 60 ? cf->journal_ttl : 60);
	if (rt.shutdown_fd >= 0)
		close(rt.shutdown_fd);
	return 0;
}
