/* memconn.c: an in-memory connection for tests: writes kept in a buffer, or failing on cue. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <string.h>

#include "memconn.h"

static const char *
memconn_param(struct conn *c, const char *name)
{
	(void)c;
	(void)name;
	return NULL;
}

static ssize_t
memconn_read(struct conn *c, char *buf, size_t len)
{
	(void)c;
	(void)buf;
	(void)len;
	return 0;
}

static int
memconn_write(struct conn *c, const char *buf, size_t len)
{
	struct memconn *m = (struct memconn *)c;

	m->writes++;
	if (m->fail_at > 0 && m->writes >= m->fail_at) {
		c->broken = 1;
		return -1;
	}
	if (m->bytes.cap == 0)
		return 0;
	return buf_add(&m->bytes, buf, len);
}

static int
memconn_flush(struct conn *c)
{
	struct memconn *m = (struct memconn *)c;

	m->flushes++;
	m->flushed = m->bytes.len;
	return c->broken ? -1 : 0;
}

static int
memconn_hangup_fd(struct conn *c)
{
	(void)c;
	return -1;
}

static void
memconn_finish(struct conn *c)
{
	(void)c;
}

static const struct conn_ops memconn_ops = {
	memconn_param, memconn_read, memconn_write, memconn_flush, memconn_hangup_fd,
	memconn_finish
};

void
memconn_init(struct memconn *m, size_t cap, int fail_at)
{
	memset(m, 0, sizeof(*m));
	m->c.ops = &memconn_ops;
	buf_init(&m->bytes, cap);
	m->fail_at = fail_at;
}

void
memconn_free(struct memconn *m)
{
	buf_free(&m->bytes);
}
