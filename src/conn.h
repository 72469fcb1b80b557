/* conn.h: one request's connection to the front server, FastCGI or CGI, behind one interface. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_CONN_H
#define CS_CONN_H

#include <stddef.h>
#include <sys/types.h>

struct conn;

/* The most bytes of head_extra (below). */
#define CONN_HEAD_EXTRA_MAX 1024

struct conn_ops {
	/* Returns the CGI parameter name (borrowed, lives as long as the request), or NULL. */
	const char *(*param)(struct conn *c, const char *name);
	/* Reads up to len body bytes; returns the count, 0 at end of body, -1 on error. */
	ssize_t (*read)(struct conn *c, char *buf, size_t len);
	/* Queues len bytes for the front server; returns 0, or -1 when the connection broke. */
	int (*write)(struct conn *c, const char *buf, size_t len);
	/* Sends everything queued now; returns 0, or -1 when the connection broke. */
	int (*flush)(struct conn *c);
	/* The fd whose hang-up means the client has gone (poll it for POLLRDHUP), or -1. */
	int (*hangup_fd)(struct conn *c);
	/* Ends the response now; the request's thread may go on working without it. */
	void (*finish)(struct conn *c);
};

struct conn {
	const struct conn_ops *ops;
	void *impl;               /* FCGX_Request * or NULL for CGI */
	int broken;               /* a write failed: the client is gone */
	short hup_events;         /* what to poll hangup_fd for (POLLHUP/ERR always count) */
	/*
	 * Borrowed, may be NULL: header lines (each ending in CRLF, at most
	 * CONN_HEAD_EXTRA_MAX bytes in all) that every
	 * response head of the request carries (http.c, stream_head()).
	 */
	const char *head_extra;
};

/* The connection's extra head lines, "" for none; c may be NULL. */
static inline const char *
conn_head_extra(const struct conn *c)
{
	return c != NULL && c->head_extra != NULL ? c->head_extra : "";
}

/* A connection over the process's environment, stdin and stdout (plain CGI). */
void conn_cgi_init(struct conn *c);

/* A connection over an accepted libfcgi request (borrowed, must outlive c). */
struct FCGX_Request;
void conn_fcgi_init(struct conn *c, struct FCGX_Request *req);

static inline const char *
conn_param(struct conn *c, const char *name)
{
	return c->ops->param(c, name);
}

#endif
