/* route.h: which route a request is for, relative to wherever the front server mounts chatstream. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_ROUTE_H
#define CS_ROUTE_H

#include <stddef.h>

#include "error.h"

struct request_ctx;

/*
 * One row of the route table: the methods a path below the mount takes and
 * who answers them.  A path may have several rows (one handler each); the
 * Allow header of a 405 lists their methods in table order.  A table ends
 * with a row whose path is NULL.
 */
struct route {
	const char *path;           /* "/health"; '*' stands for one non-empty segment */
	const char *methods;        /* as in Allow: "GET, HEAD" */
	enum error_style style;     /* how errors on the path are shaped */
	void (*handle)(struct request_ctx *x, const char *arg);  /* arg: what '*' matched, or NULL */
};

/*
 * Resolves the route relative to the mount point into out (NUL-terminated,
 * starting with '/', without the query string).  With mount (the configured
 * prefix) it is stripped from the URI path.  Without it, PATH_INFO is the
 * route when the front server sets it; else the path of a row of table at
 * the end of the URI path; else "/" (the mount itself).  Any argument may
 * be NULL.  Returns 0, or -1 when out is too small.
 */
int route_resolve(const char *mount, const char *path_info,
    const char *script_name, const char *request_uri,
    const struct route *table, char *out, size_t size);

/*
 * Looks route and method up in table.  Returns the row that answers them,
 * with *arg what its '*' matched (a pointer into route) or NULL; else NULL,
 * with allow (size bytes) holding the methods the path takes, ", "-separated
 * as in an Allow header (405), or "" when no row has the path (404).
 * *style is set to the first row of the path's, and left alone without one.
 */
const struct route *route_lookup(const struct route *table, const char *route,
    const char *method, const char **arg, enum error_style *style,
    char *allow, size_t size);

/*
 * Writes into out (size bytes) the URL path chatstream is mounted at, without
 * a trailing '/': the configured mount; else REQUEST_URI's path without the
 * route found by route_resolve(); else SCRIPT_NAME likewise (the front
 * server's normalised path, when the raw REQUEST_URI is not canonical).
 * Only a canonical local path is taken: "/"-separated non-empty segments of
 * RFC 3986 pchar, none "." or "..", so that it goes into a Location header
 * as it is (no "//host", no CR, LF, space or non-ASCII byte).  Any string
 * may be NULL but route.  Returns 0, or -1 with out "" when there is none:
 * then no URL of chatstream's can be given to the client.
 */
int route_mount(const char *mount, const char *request_uri,
    const char *script_name, const char *route, char *out, size_t size);

#endif
