/* route.c: which route a request is for, relative to wherever the front server mounts chatstream. */
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
    const char *const *routes, char *out, size_t size)
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
	for (i = 0; routes != NULL && routes[i] != NULL; i++) {
		size_t n = match_tail(path, len, routes[i]);

		if (n > 0)
			return set_route(out, size, path + len - n, n);
	}
	return set_route(out, size, "/", 1);
}

int
request_route(const char *mount, const char *path_info, const char *script_name,
    const char *request_uri, const char *const *routes, char *out, size_t size)
{
	const char *sn = script_name != NULL ? script_name : "";
	const char *pi = path_info != NULL ? path_info : "";
	char *joined;
	int rc;

	if (request_uri != NULL && *request_uri != '\0')
		return route_path(mount, path_info, request_uri, routes, out, size);
	/* CGI/1.1 has no REQUEST_URI: the URI path is SCRIPT_NAME + PATH_INFO. */
	if ((joined = malloc(strlen(sn) + strlen(pi) + 1)) == NULL)
		return -1;
	stpcpy(stpcpy(joined, sn), pi);
	rc = route_path(mount, path_info, joined, routes, out, size);
	free(joined);
	return rc;
}

void
request_mount(const char *mount, const char *request_uri, const char *script_name,
    const char *route, char *out, size_t size)
{
	size_t n, rl = strlen(route);

	if (mount != NULL) {
		snprintf(out, size, "%s", mount);
	} else if (request_uri != NULL) {
		n = path_len(request_uri);
		if (n >= rl && strncmp(request_uri + n - rl, route, rl) == 0)
			n -= rl;
		else if (strcmp(route, "/") == 0 && n > 0 && request_uri[n - 1] == '/')
			n--;
		snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), request_uri);
	} else
		snprintf(out, size, "%s", script_name != NULL ? script_name : "");
	n = strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
}
