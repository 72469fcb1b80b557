/* conn_fcgi.c: the connection of a FastCGI request accepted by libfcgi. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <poll.h>

#include <fcgiapp.h>

#include "conn.h"

static const char *
fcgi_param(struct conn *c, const char *name)
{
	FCGX_Request *r = c->impl;

	return FCGX_GetParam(name, r->envp);
}

static ssize_t
fcgi_read(struct conn *c, char *buf, size_t len)
{
	FCGX_Request *r = c->impl;
	int n;

	if (len > 1 << 30)
		len = 1 << 30;
	n = FCGX_GetStr(buf, (int)len, r->in);
	if (n == 0 && FCGX_GetError(r->in) != 0)
		return -1;
	return n;
}

/*
 * libfcgi stores write errors on the stream instead of returning them
 * (FCGX_FFlush returns 0 on an already-failed stream), so the error state is
 * read back after every call.
 */
static int
fcgi_write(struct conn *c, const char *buf, size_t len)
{
	FCGX_Request *r = c->impl;

	while (len > 0 && !c->broken) {
		int chunk = len > 1 << 20 ? 1 << 20 : (int)len;

		if (FCGX_PutStr(buf, chunk, r->out) != chunk ||
		    FCGX_GetError(r->out) != 0)
			c->broken = 1;
		buf += chunk;
		len -= (size_t)chunk;
	}
	return c->broken ? -1 : 0;
}

static int
fcgi_flush(struct conn *c)
{
	FCGX_Request *r = c->impl;

	if (!c->broken && (FCGX_FFlush(r->out) != 0 || FCGX_GetError(r->out) != 0))
		c->broken = 1;
	return c->broken ? -1 : 0;
}

static int
fcgi_hangup_fd(struct conn *c)
{
	FCGX_Request *r = c->impl;

	return r->ipcFd;
}

static void
fcgi_finish(struct conn *c)
{
	FCGX_Request *r = c->impl;

	/* Sends FCGI_END_REQUEST and closes; the worker's own Finish is then a no-op. */
	FCGX_Finish_r(r);
	c->broken = 1;
}

static const struct conn_ops fcgi_ops = {
	fcgi_param, fcgi_read, fcgi_write, fcgi_flush, fcgi_hangup_fd, fcgi_finish
};

void
conn_fcgi_init(struct conn *c, FCGX_Request *req)
{
	c->ops = &fcgi_ops;
	c->impl = req;
	c->broken = 0;
	c->head_extra = NULL;
	/* Front servers close the FastCGI connection when the client goes. */
	c->hup_events = POLLRDHUP;
}
