/* redis_conn.h: connections to Redis: address, connect and authenticate, a per-process pool, replies. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_REDIS_CONN_H
#define CS_REDIS_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "conf.h"

/*
 * Splits addr (redis_address) into host (hostsz bytes) and *port:
 * host:port, [v6]:port or host (port 6379), or a unix socket path (port 0).
 * Returns 0, or -1 when it is none of these.
 */
int redis_conn_address(const char *addr, char *host, size_t hostsz, int *port);

/*
 * A new connection to cf's Redis, authenticated (redis_user,
 * redis_password), with redis_timeout_ms on every call; the caller frees it
 * with redisFree() or redis_conn_put().  NULL when Redis is unreachable or
 * refuses the credentials (logged; the password never is).
 */
redisContext *redis_conn_open(const struct conf *cf);

/* An idle connection from the per-process pool, else a new one (as above). */
redisContext *redis_conn_take(const struct conf *cf);

/*
 * Gives rc (may be NULL) back to the pool, which takes ownership; a
 * connection that failed (ok == 0), or one the full pool has no room for,
 * is closed.
 */
void redis_conn_put(redisContext *rc, int ok);

/*
 * Reads one reply into *out (the caller frees it with freeReplyObject();
 * NULL when none came).  Returns 0; 1 for an error reply (logged); -1 when
 * the connection failed.
 */
int redis_conn_reply(redisContext *rc, redisReply **out);

/* Reads n replies and drops them: 0, 1 when one was an error, -1 when the connection failed. */
int redis_conn_skip(redisContext *rc, int n);

/*
 * Redis' clock minus ours (ms), from a TIME reply (seconds, microseconds);
 * old when r is not one.
 */
int64_t redis_conn_skew(const redisReply *r, int64_t old);

#endif
