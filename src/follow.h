/* follow.h: a reader of a journaled stream: replay after Last-Event-ID, then follow it live. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_FOLLOW_H
#define CS_FOLLOW_H

#include <stdint.h>

#include "conn.h"
#include "journal.h"
#include "log.h"
#include "runtime.h"

struct follow_result {
	int status;           /* HTTP status sent: 200, or 204 when nothing is left */
	uint64_t events;      /* events sent */
	uint64_t bytes;       /* body bytes sent */
};

/*
 * Answers GET /streams/<id> on c from reader r (borrowed): 204 when the
 * stream has finished and nothing follows `after`; else the events after
 * `after`, then new ones as they are journaled, until done or error.  Sends
 * `event: error` of type history_lost when events after `after` are no
 * longer kept, and interrupted when the producer died.  Returns the outcome
 * for the log: OUTCOME_DONE (also for 204), OUTCOME_CLIENT_GONE,
 * OUTCOME_ERROR, OUTCOME_SHUTDOWN (this process stops; the stream goes on),
 * or OUTCOME_JOURNAL_UNAVAILABLE when the store failed before anything was
 * sent (res->status is 0: the caller answers 503).
 */
enum outcome follow_run(struct conn *c, struct runtime *rt, const char *id,
    struct journal_reader *r, uint64_t after, struct follow_result *res);

#endif
