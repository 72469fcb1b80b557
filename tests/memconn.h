/* memconn.h: an in-memory connection for tests: writes kept in a buffer, or failing on cue. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_MEMCONN_H
#define CS_MEMCONN_H

#include <stddef.h>

#include "buf.h"
#include "conn.h"

/*
 * A connection with no parameters and no body whose writes go to bytes (cap
 * fixed at init; 0 keeps nothing, only counts), as a client would receive
 * them.  From the fail_at-th write on (0: never) writes fail, as to a client
 * that has gone.  It has no hang-up fd.
 */
struct memconn {
	struct conn c;           /* first: a struct conn * is a struct memconn * */
	struct buf bytes;        /* owned: what was written */
	int writes;              /* write calls so far, failed ones included */
	int flushes;             /* flush calls so far */
	size_t flushed;          /* bytes.len at the last flush */
	int fail_at;
};

/* Prepares m; release it with memconn_free(). */
void memconn_init(struct memconn *m, size_t cap, int fail_at);

/* Releases what m holds. */
void memconn_free(struct memconn *m);

#endif
