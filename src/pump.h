/* pump.h: drives one backend into one stream until it ends, the reader leaves, or shutdown. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_PUMP_H
#define CS_PUMP_H

#include "backend.h"
#include "runtime.h"
#include "stream.h"

/*
 * Waits on the backend's fds and timers, the reader's hang-up and shutdown
 * at once; sends heartbeats when the stream is silent; ends the stream with
 * done or error.  Does not stop the backend (the caller's teardown does).
 * Returns the outcome for the log: "done", "client_gone", "error",
 * "timeout" or "shutdown" (static strings); *detail gets an error type or NULL.
 * When the stream ends in failure before anything was sent (s->begun is
 * still 0), *early holds the error, for the caller to answer with its status.
 */
const char *pump_run(struct stream *s, const struct backend_ops *b, void *run,
    struct runtime *rt, long prompt_tokens, const char **detail,
    struct cs_error *early);

#endif
