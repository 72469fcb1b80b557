/* route.h: which route a request is for, relative to wherever the front server mounts chatstream. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_ROUTE_H
#define CS_ROUTE_H

#include <stddef.h>

/*
 * Resolves the route relative to the mount point into out (NUL-terminated,
 * starting with '/', without the query string).  With mount (the configured
 * prefix) it is stripped from the URI path.  Without it, PATH_INFO is the
 * route when the front server sets it; else a known route from routes
 * (NULL-terminated; "*" matches one path segment) at the end of the URI path;
 * else "/" (the mount itself).  Any
 * argument may be NULL.  Returns 0, or -1 when out is too small.
 */
int request_route(const char *mount, const char *path_info,
    const char *script_name, const char *request_uri,
    const char *const *routes, char *out, size_t size);

/*
 * Writes into out (size bytes) the URL path chatstream is mounted at, without
 * a trailing '/': the configured mount; else REQUEST_URI's path without the
 * route found by request_route(); else SCRIPT_NAME likewise (the front
 * server's normalised path, when the raw REQUEST_URI is not canonical).
 * Only a canonical local path is taken: "/"-separated non-empty segments of
 * RFC 3986 pchar, none "." or "..", so that it goes into a Location header
 * as it is (no "//host", no CR, LF, space or non-ASCII byte).  Any string
 * may be NULL but route.  Returns 0, or -1 with out "" when there is none:
 * then no URL of chatstream's can be given to the client.
 */
int request_mount(const char *mount, const char *request_uri,
    const char *script_name, const char *route, char *out, size_t size);

#endif
