/* pump.h: drives one backend into one stream until it ends, the reader leaves, or shutdown. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_PUMP_H
#define CS_PUMP_H

#include "backend.h"
#include "log.h"
#include "runtime.h"
#include "stream.h"

/*
 * Commits the response (unless the backend defers it: BACKEND_BEGIN), then
 * waits on the backend's fds and timers, the reader's hang-up and shutdown
 * at once; sends heartbeats when the stream is silent; ends the stream with
 * done or error.  This file is the one that ends streams (stream_done(),
 * stream_error()).  Does not stop the backend (the caller's teardown does).
 * Returns the outcome for the log: OUTCOME_DONE, OUTCOME_CANCELLED (DELETE),
 * OUTCOME_CLIENT_GONE, OUTCOME_ERROR, OUTCOME_TIMEOUT or OUTCOME_SHUTDOWN;
 * *detail gets an error type (or "abandoned") or NULL.  When the stream
 * ends in failure before anything was sent to its reader (s->state is still
 * STREAM_HEAD), *early holds the error, for the caller to answer with its
 * status; a stream already answered with 202 (detached) gets an error event.
 */
enum outcome pump_run(struct stream *s, const struct backend_ops *b, void *run,
    struct runtime *rt, long prompt_tokens, const char **detail,
    struct cs_error *early);

/*
 * Ends a journaled stream that nothing ended (its request failed or ended
 * early) with done, finish_reason "cancelled", so that its readers learn it
 * is over.  Does nothing without a journal or once the stream has ended.
 */
void pump_finish(struct stream *s, long prompt_tokens);

#endif
