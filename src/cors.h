/* cors.h: which web origins may call chatstream from a browser, and the headers that say so. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_CORS_H
#define CS_CORS_H

#include <stddef.h>

#include "error.h"

/*
 * Checks a cors_origins value: space-separated origins, each
 * "http://" or "https://" and a host[:port] without path, query or
 * userinfo.  Returns 0, or -1 with err filled.
 */
int cors_check(const char *list, struct cs_error *err);

/* Whether origin (may be NULL) is one of list's (may be NULL), byte for byte. */
int cors_allowed(const char *list, const char *origin);

/*
 * Appends to out (NUL-terminated, size bytes in all) the header lines a
 * response to an allowed origin carries.  Returns 0, or -1 when they do
 * not fit (out is then left as it was).
 */
int cors_head(char *out, size_t size, const char *origin);

/*
 * Appends the lines of a preflight's answer: allow (the route's methods,
 * as in Allow), the headers asked for in req_headers (may be NULL; a
 * malformed list gets the fixed list of those SDKs send) and a Max-Age.
 * Returns as cors_head().
 */
int cors_preflight(char *out, size_t size, const char *allow, const char *req_headers);

#endif
