/* route.c: which route a request is for, relative to wherever the front server mounts chatstream. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

static size_t
path_len(const char *uri)
{
	return strcspn(uri, "?#");
}

/*
 * Matches pattern (a route; "*" stands for one non-empty path segment)
 * against the end of path[0..len) at a '/' boundary.  Returns the length of
 * the matched tail, or 0.
 */
static size_t
match_tail(const char *path, size_t len, const char *pattern)
{
	size_t start;

	for (start = 0; start < len; start++) {
		const char *p = pattern, *s = path + start, *end = path + len;

		if (path[start] != '/')
			continue;
		while (*p != '\0' && s < end) {
			if (*p == '*') {
				const char *seg = s;

				while (s < end && *s != '/')
					s++;
				if (s == seg)
					break;
				p++;
			} else if (*p++ != *s++)
				break;
		}
		if (*p == '\0' && s == end)
			return len - start;
	}
	return 0;
}

static int
set_route(char *out, size_t size, const char *p, size_t n)
{
	if (n == 0 || p[0] != '/') {
		if (size < n + 2)
			return -1;
		out[0] = '/';
		memcpy(out + 1, p, n);
		out[n + 1] = '\0';
		return 0;
	}
	if (size < n + 1)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

static int
route_path(const char *mount, const char *path_info, const char *path,
    const struct route *table, char *out, size_t size)
{
	size_t len, i;

	len = path_len(path);
	if (mount != NULL) {
		size_t ml = strlen(mount);

		while (ml > 0 && mount[ml - 1] == '/')
			ml--;
		if (len >= ml && strncmp(path, mount, ml) == 0 &&
		    (len == ml || path[ml] == '/'))
			return set_route(out, size, path + ml, len - ml);
		return set_route(out, size, path, len);
	}
	if (path_info != NULL && *path_info != '\0')
		return set_route(out, size, path_info, strlen(path_info));
	/*
	 * No PATH_INFO: the front server put the whole path in SCRIPT_NAME (as
	 * nginx's stock fastcgi_params do), so the mount is unknown.  A known
	 * route at the end of the path is taken; anything else is the mount.
	 */
	for (i = 0; table != NULL && table[i].path != NULL; i++) {
		size_t n;

		if (strcmp(table[i].path, "/") == 0)
			continue;
		if ((n = match_tail(path, len, table[i].path)) > 0)
			return set_route(out, size, path + len - n, n);
	}
	return set_route(out, size, "/", 1);
}

int
route_resolve(const char *mount, const char *path_info, const char *script_name,
    const char *request_uri, const struct route *table, char *out, size_t size)
{
	const char *sn = script_name != NULL ? script_name : "";
	const char *pi = path_info != NULL ? path_info : "";
	char *joined;
	int rc;

	if (request_uri != NULL && *request_uri != '\0')
		return route_path(mount, path_info, request_uri, table, out, size);
	/* CGI/1.1 has no REQUEST_URI: the URI path is SCRIPT_NAME + PATH_INFO. */
	if ((joined = malloc(strlen(sn) + strlen(pi) + 1)) == NULL)
		return -1;
	stpcpy(stpcpy(joined, sn), pi);
	rc = route_path(mount, path_info, joined, table, out, size);
	free(joined);
	return rc;
}

/* 1 when route is the whole of pattern (route starts with '/'). */
static int
match_whole(const char *route, const char *pattern)
{
	size_t len = strlen(route);

	return len > 0 && match_tail(route, len, pattern) == len;
}

/* 1 when method is one of methods ("GET, HEAD"). */
static int
has_method(const char *methods, const char *method)
{
	size_t n = strlen(method);
	const char *p = methods;

	if (n == 0)
		return 0;
	while (*p != '\0') {
		size_t m = strcspn(p, ", ");

		if (m == n && strncmp(p, method, n) == 0)
			return 1;
		p += m;
		p += strspn(p, ", ");
	}
	return 0;
}

const struct route *
route_lookup(const struct route *table, const char *route, const char *method,
    const char **arg, enum error_style *style, char *allow, size_t size)
{
	const struct route *r;
	size_t used = 0;
	int found = 0;

	*arg = NULL;
	if (size > 0)
		allow[0] = '\0';
	for (r = table; r->path != NULL; r++) {
		const char *star;

		if (!match_whole(route, r->path))
			continue;
		if (!found)
			*style = r->style;
		found = 1;
		if (has_method(r->methods, method)) {
			if ((star = strchr(r->path, '*')) != NULL)
				*arg = route + (star - r->path);
			return r;
		}
		if (used < size) {
			int n = snprintf(allow + used, size - used, "%s%s",
			    used > 0 ? ", " : "", r->methods);

			used = n < 0 ? size : used + (size_t)n;
		}
	}
	return NULL;
}

/* RFC 3986 pchar, one byte at a time (a '%' must start "%HH"). */
static int
is_pchar(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("-._~!$&'()*+,;=:@%", c) != NULL);
}

static int
is_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * 1 when p[0..n) is a canonical local path, safe to send in a Location
 * header as it is: empty, or "/"-separated non-empty segments of pchar, none
 * of them "." or ".." (spelt with %2e too, as URL parsers read them).  So no
 * "//host" (another site), no control byte, space, quote, backslash or
 * non-ASCII byte.
 */
static int
canonical_path(const char *p, size_t n)
{
	size_t i = 0;

	if (n == 0)
		return 1;
	while (i < n) {
		size_t dots = 0, units = 0;

		if (p[i++] != '/' || i == n || p[i] == '/')
			return 0;
		for (; i < n && p[i] != '/'; units++) {
			if (!is_pchar((unsigned char)p[i]))
				return 0;
			if (p[i] == '%') {
				if (i + 2 >= n || !is_hex((unsigned char)p[i + 1]) || !is_hex((unsigned char)p[i + 2]))
					return 0;
				if (p[i + 1] == '2' && (p[i + 2] == 'e' || p[i + 2] == 'E'))
					dots++;
				i += 3;
			} else {
				if (p[i] == '.')
					dots++;
				i++;
			}
		}
		if (dots == units && units <= 2)
			return 0;
	}
	return 1;
}

/* The length of path[0..n) without route at its end (or its trailing '/' for route "/"). */
static size_t
strip_route(const char *path, size_t n, const char *route)
{
	size_t rl = strlen(route);

	if (n >= rl && strncmp(path + n - rl, route, rl) == 0)
		n -= rl;
	else if (strcmp(route, "/") == 0 && n > 0 && path[n - 1] == '/')
		n--;
	return n;
}

/* Takes p[0..n) without its trailing '/'s into out when it is canonical and fits. */
static int
take_mount(const char *p, size_t n, char *out, size_t size)
{
	while (n > 0 && p[n - 1] == '/')
		n--;
	if (n >= size || !canonical_path(p, n))
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

int
route_mount(const char *mount, const char *request_uri, const char *script_name,
    const char *route, char *out, size_t size)
{
	if (size == 0)
		return -1;
	out[0] = '\0';
	if (mount != NULL) {
		if (take_mount(mount, strlen(mount), out, size) == 0)
			return 0;
	} else {
		/* REQUEST_URI is the raw request; SCRIPT_NAME the front server's normalised path. */
		if (request_uri != NULL && take_mount(request_uri,
		    strip_route(request_uri, path_len(request_uri), route), out, size) == 0)
			return 0;
		if (script_name != NULL && take_mount(script_name,
		    strip_route(script_name, strlen(script_name), route), out, size) == 0)
			return 0;
	}
	out[0] = '\0';
	return -1;
}
