/* conn_cgi.c: the connection of a plain CGI request: environment, stdin, stdout. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "conn.h"

static const char *
cgi_param(struct conn *c, const char *name)
{
	(void)c;
	return getenv(name);
}

static ssize_t
cgi_read(struct conn *c, char *buf, size_t len)
{
	ssize_t n;

	(void)c;
	do
		n = read(STDIN_FILENO, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

static int
cgi_write(struct conn *c, const char *buf, size_t len)
{
	/* CGI output is written through at once: a pipe has no framing to batch. */
	while (len > 0 && !c->broken) {
		ssize_t n = write(STDOUT_FILENO, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			c->broken = 1;
			break;
		}
		buf += n;
		len -= (size_t)n;
	}
	return c->broken ? -1 : 0;
}

static int
cgi_flush(struct conn *c)
{
	return c->broken ? -1 : 0;
}

static int
cgi_hangup_fd(struct conn *c)
{
	(void)c;
	return STDOUT_FILENO;
}

static void
cgi_finish(struct conn *c)
{
	int fd = open("/dev/null", O_WRONLY);

	/* The front server sees the end of the response when stdout closes. */
	if (fd != -1) {
		dup2(fd, STDOUT_FILENO);
		close(fd);
	}
	c->broken = 1;
}

static const struct conn_ops cgi_ops = {
	cgi_param, cgi_read, cgi_write, cgi_flush, cgi_hangup_fd, cgi_finish
};

void
conn_cgi_init(struct conn *c)
{
	c->ops = &cgi_ops;
	c->impl = NULL;
	c->broken = 0;
	c->head_extra = NULL;
	/*
	 * Not POLLRDHUP: under mod_cgid stdout is the request's socket, which
	 * Apache half-closes once the body is sent.  A pipe's reader leaving
	 * shows as POLLERR, a socket's full close as POLLHUP.
	 */
	c->hup_events = 0;
}
