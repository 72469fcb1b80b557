/* redis_conn.c: connections to Redis: address, connect and authenticate, a per-process pool, replies. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "clock.h"
#include "log.h"
#include "num.h"
#include "redis_conn.h"

#define POOL_MAX 16            /* idle connections kept per process */

/*
 * Splits redis_address into a host and port (host:port, [v6]:port, host)
 * or a unix socket path (port 0).  -1 when it is neither.
 */
int
redis_conn_address(const char *addr, char *host, size_t hostsz, int *port)
{
	const char *colon, *end;
	uint64_t p = 6379;

	*port = 0;
	if (addr[0] == '/') {
		if (strlen(addr) >= hostsz)
			return -1;
		strcpy(host, addr);
		return 0;
	}
	if (addr[0] == '[') {
		if ((end = strchr(addr, ']')) == NULL)
			return -1;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			return -1;
		addr++;
	} else {
		colon = strrchr(addr, ':');
		end = colon != NULL ? colon : addr + strlen(addr);
	}
	if (end == addr || (size_t)(end - addr) >= hostsz)
		return -1;
	memcpy(host, addr, (size_t)(end - addr));
	host[end - addr] = '\0';
	if (colon != NULL) {
		if (num_parse(colon + 1, strlen(colon + 1), 65535, &p) == -1 || p < 1)
			return -1;
	}
	*port = (int)p;
	return 0;
}

/* Reads one reply; -1 when the connection failed. An error reply is logged and returns 1. */
int
redis_conn_reply(redisContext *rc, redisReply **out)
{
	void *r = NULL;

	*out = NULL;
	if (redisGetReply(rc, &r) != REDIS_OK || r == NULL)
		return -1;
	*out = r;
	if ((*out)->type == REDIS_REPLY_ERROR) {
		log_warnx("journal: redis: %s", (*out)->str);
		return 1;
	}
	return 0;
}

/* Reads n replies and drops them: 0, 1 when one was an error, -1 when the connection failed. */
int
redis_conn_skip(redisContext *rc, int n)
{
	redisReply *r;
	int rc_ = 0, got;

	while (n-- > 0) {
		if ((got = redis_conn_reply(rc, &r)) == -1)
			return -1;
		if (got == 1)
			rc_ = 1;
		freeReplyObject(r);
	}
	return rc_;
}

/*
 * Redis' clock minus ours (ms), from a TIME reply (seconds, microseconds);
 * `old` when the reply is not one.
 */
int64_t
redis_conn_skew(const redisReply *r, int64_t old)
{
	uint64_t sec, usec;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING ||
	    num_parse(r->element[0]->str, r->element[0]->len, (uint64_t)INT64_MAX / 2000,
	    &sec) == -1 ||
	    num_parse(r->element[1]->str, r->element[1]->len, 999999, &usec) == -1)
		return old;
	return (int64_t)sec * 1000 + (int64_t)usec / 1000 - clock_wall_ms();
}

/* A new connection, authenticated, with the configured timeouts; NULL when Redis is unreachable. */
redisContext *
redis_conn_open(const struct conf *cf)
{
	struct timeval tv = { cf->redis_timeout_ms / 1000, (cf->redis_timeout_ms % 1000) * 1000 };
	char host[256];
	redisContext *rc;
	redisReply *r;
	int port;

	if (redis_conn_address(cf->redis_address, host, sizeof(host), &port) == -1)
		return NULL;
	rc = port == 0 ? redisConnectUnixWithTimeout(host, tv) :
	    redisConnectWithTimeout(host, port, tv);
	if (rc == NULL || rc->err) {
		log_debug("journal: redis %s: %s", cf->redis_address,
		    rc != NULL ? rc->errstr : "out of memory");
		redisFree(rc);
		return NULL;
	}
	if (redisSetTimeout(rc, tv) != REDIS_OK || (port != 0 && redisEnableKeepAlive(rc) != REDIS_OK))
		goto fail;
	if (cf->redis_password != NULL) {
		/* The password goes to Redis only: never into a log line. */
		if (cf->redis_user != NULL)
			redisAppendCommand(rc, "AUTH %s %s", cf->redis_user, cf->redis_password);
		else
			redisAppendCommand(rc, "AUTH %s", cf->redis_password);
		if (redis_conn_reply(rc, &r) != 0) {
			freeReplyObject(r);
			log_warnx("journal: redis %s refused the credentials", cf->redis_address);
			goto fail;
		}
		freeReplyObject(r);
	}
	return rc;
fail:
	redisFree(rc);
	return NULL;
}

/* The per-process pool of connections for one-off commands. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static redisContext *pool[POOL_MAX];
static int pool_n;

redisContext *
redis_conn_take(const struct conf *cf)
{
	redisContext *rc = NULL;

	pthread_mutex_lock(&pool_lock);
	if (pool_n > 0)
		rc = pool[--pool_n];
	pthread_mutex_unlock(&pool_lock);
	return rc != NULL ? rc : redis_conn_open(cf);
}

/* Returns rc to the pool; a connection that failed (ok == 0) is closed. */
void
redis_conn_put(redisContext *rc, int ok)
{
	if (rc == NULL)
		return;
	pthread_mutex_lock(&pool_lock);
	if (ok && pool_n < POOL_MAX) {
		pool[pool_n++] = rc;
		rc = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	redisFree(rc);
}
