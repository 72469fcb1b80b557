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
 * Answers GET /streams/<id> (and a POST retry) on c from reader r
 * (borrowed): when the stream has finished and nothing follows `after`,
 * 204 if no_content is set (EventSource stops on it), else 200 and an
 * empty stream; otherwise the events after `after`, then new ones as they
 * are journaled, until done or error (an OpenAI-format stream's
 * data: [DONE]).  Sends an error of type history_lost when events after
 * `after` are no longer kept, and interrupted when the producer died:
 * `event: error`, or for an OpenAI-format stream OpenAI's
 * `data: {"error": ...}` with the type as its code.  Returns the outcome
 * for the log: OUTCOME_DONE (also for 204), OUTCOME_CLIENT_GONE,
 * OUTCOME_ERROR, OUTCOME_SHUTDOWN (this process stops; the stream goes on),
 * or OUTCOME_JOURNAL_UNAVAILABLE when the store failed before anything was
 * sent (res->status is 0: the caller answers 503).
 */
enum outcome follow_run(struct conn *c, struct runtime *rt, const char *id,
    struct journal_reader *r, uint64_t after, int no_content,
    struct follow_result *res);

/*
 * Answers a POST retry whose stream cannot be followed (id: the one it
 * names, "" for none): a 200 stream with only an error of type
 * history_lost, in format's shape.  Returns 0, or -1 when the reader has
 * gone; res as follow_run() fills it.
 */
int follow_lost(struct conn *c, const char *id, enum journal_format format,
    struct follow_result *res);

#endif
