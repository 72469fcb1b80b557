/* handler.h: answering one request: routing, validation, and running its stream. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_HANDLER_H
#define CS_HANDLER_H

#include "conn.h"
#include "runtime.h"

/* Answers the request on c completely (the caller then finishes the connection). */
void handle_request(struct conn *c, struct runtime *rt);
/*
 * Answers the request on c with 503 and Retry-After without running it: it
 * was accepted on the fd kept in reserve for when the process is out of fds.
 */
void handle_refused(struct conn *c, struct runtime *rt);

#endif
