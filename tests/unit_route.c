/* unit_route.c: the route below the mount, the mount itself, and the route table's answers. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "tap.h"

/* Rows with only a path: what route_resolve() looks at. */
static const struct route routes[] = {
	{ .path = "/health" }, { .path = "/streams/*" }, { .path = NULL }
};

/* ------------------------------------------------------------------ routes */

/* Runs route_resolve into a fresh buffer of size bytes; *out holds the result or "". */
static int
route_sz(const char *mount, const char *pi, const char *sn, const char *ru,
    const struct route *r, size_t size, char *out)
{
	char *tmp = malloc(size > 0 ? size : 1);
	int rc;

	/* A heap buffer of exactly size bytes lets ASan catch any overrun. */
	memset(tmp, 'Z', size > 0 ? size : 1);
	rc = route_resolve(mount, pi, sn, ru, r, tmp, size);
	if (rc == 0)
		snprintf(out, 256, "%s", tmp);
	else
		out[0] = '\0';
	free(tmp);
	return rc;
}

/* One route check: mount, PATH_INFO, SCRIPT_NAME, REQUEST_URI -> expected. */
static void
route_is(const char *mount, const char *pi, const char *sn, const char *ru,
    const char *want, const char *what)
{
	char out[256];
	int rc = route_sz(mount, pi, sn, ru, routes, 128, out);

	if (!is_int(rc, 0, "route %s: returns 0", what))
		return;
	is_str(out, want, "route %s: %s", what, want);
}

static void
test_route_mount(void)
{
	/* With a mount, the prefix is stripped from REQUEST_URI. */
	route_is("/chat", NULL, "/chat", "/chat/streams/abc?x=1", "/streams/abc",
	    "mount: prefix stripped, query dropped");
	route_is("/chat/", NULL, "/chat", "/chat/streams/abc", "/streams/abc",
	    "mount with a trailing slash");
	route_is("/chat//", NULL, NULL, "/chat/health", "/health",
	    "mount with several trailing slashes");
	route_is("/chat", NULL, "/chat", "/chat", "/", "mount itself is /");
	route_is("/chat", NULL, "/chat", "/chat/", "/", "mount itself with a slash is /");
	route_is("/chat", NULL, "/chat", "/chat?a=b", "/", "mount itself with a query is /");
	route_is("/chat", NULL, "/chat", "/chat#frag", "/", "mount itself with a fragment is /");
	route_is("/chat", NULL, NULL, "/chat/anything/deep?q", "/anything/deep",
	    "mount: unknown routes pass through");
	route_is("/chat", NULL, NULL, "/chatty/health", "/chatty/health",
	    "mount is matched at a / boundary only");
	route_is("/chat", NULL, NULL, "/other/health", "/other/health",
	    "a path outside the mount is kept whole");
	route_is("/", NULL, NULL, "/health", "/health", "mount / strips nothing");
	route_is("", NULL, NULL, "/health?x", "/health", "empty mount strips nothing");
	route_is("/chat", NULL, "/chat/health", NULL, "/health",
	    "mount: SCRIPT_NAME used when REQUEST_URI is absent");
	route_is("/chat", NULL, "/chat/health", "", "/health",
	    "mount: SCRIPT_NAME used when REQUEST_URI is empty");
	route_is("/chat", NULL, NULL, NULL, "/", "mount: no path at all is /");
	route_is("/chat", "/ignored", "/chat", "/chat/health", "/health",
	    "mount: REQUEST_URI wins over PATH_INFO");
	/*
	 * Without REQUEST_URI (it is not a CGI/1.1 variable: e.g. Python's
	 * CGIHTTPRequestHandler does not set it), the URI path is
	 * SCRIPT_NAME + PATH_INFO, so the PATH_INFO part must not be lost.
	 */
	route_is("/chat", "/health", "/chat", NULL, "/health",
	    "mount: SCRIPT_NAME=/chat PATH_INFO=/health without REQUEST_URI");
}

static void
test_route_nomount(void)
{
	/* nginx: the whole path in SCRIPT_NAME (and REQUEST_URI), no PATH_INFO. */
	route_is(NULL, NULL, "/chat/health", "/chat/health", "/health",
	    "nginx: SCRIPT_NAME holds the whole path");
	route_is(NULL, NULL, "/chat/health", NULL, "/health",
	    "SCRIPT_NAME only (no REQUEST_URI)");
	route_is(NULL, "", "/chat/streams/abc", NULL, "/streams/abc",
	    "SCRIPT_NAME only, empty PATH_INFO, wildcard route");
	/* lighttpd splits after the next '/', one way or the other. */
	route_is(NULL, NULL, "/chat/health", "/chat/health?verbose=1", "/health",
	    "lighttpd: SCRIPT_NAME=/chat/health, no PATH_INFO");
	route_is(NULL, "/health", "/chat", "/chat/health", "/health",
	    "lighttpd: SCRIPT_NAME=/chat PATH_INFO=/health");
	route_is(NULL, "/abc", "/chat/streams", "/chat/streams/abc", "/abc",
	    "PATH_INFO wins over a route at the end of the path");
	route_is(NULL, "/health", "/chat/streams", "/chat/streams/abc?x", "/health",
	    "PATH_INFO wins over REQUEST_URI");
	route_is(NULL, "/health", "/chat", NULL, "/health",
	    "SCRIPT_NAME=/chat PATH_INFO=/health, no REQUEST_URI");
	/* Query strings and fragments never take part. */
	route_is(NULL, NULL, NULL, "/chat/health?x=/streams/abc", "/health",
	    "query stripped before matching");
	route_is(NULL, NULL, NULL, "/chat/streams/abc?x=1", "/streams/abc",
	    "query stripped from a wildcard route");
	route_is(NULL, NULL, NULL, "/chat/streams/abc#top", "/streams/abc",
	    "fragment stripped");
	route_is(NULL, NULL, NULL, "/health", "/health", "route at the root");
	route_is(NULL, NULL, NULL, "/a/b/c/health", "/health", "route under a deep mount");
	route_is(NULL, NULL, NULL, "/streams/x", "/streams/x", "wildcard route at the root");
	route_is(NULL, NULL, NULL, "/health/streams/1", "/streams/1",
	    "route names inside the mount do not confuse the match");
	/* '/' boundaries and the one-segment wildcard. */
	route_is(NULL, NULL, NULL, "/chat/myhealth", "/",
	    "route must start at a / boundary");
	route_is(NULL, NULL, NULL, "/chat/health/", "/", "trailing slash is another path");
	route_is(NULL, NULL, NULL, "/chat/healthz", "/", "longer last segment is another path");
	route_is(NULL, NULL, NULL, "/chat/streams/", "/", "* needs a non-empty segment");
	route_is(NULL, NULL, NULL, "/chat/streams", "/", "* needs a segment at all");
	route_is(NULL, NULL, NULL, "/chat/streams/a/b", "/", "* matches one segment only");
	route_is(NULL, "/streams/", "/chat", "/chat/streams/", "/streams/",
	    "unmatched wildcard falls back to PATH_INFO");
	/* Unknown routes: PATH_INFO, else the mount itself. */
	route_is(NULL, "/foo", "/chat", "/chat/foo", "/foo", "unknown: PATH_INFO");
	route_is(NULL, "foo", "/chat", "/chat/foo", "/foo",
	    "unknown: PATH_INFO without a leading slash gets one");
	route_is(NULL, NULL, "/chat/foo", "/chat/foo", "/", "unknown, no PATH_INFO: /");
	route_is(NULL, "", "/chat/foo", "/chat/foo", "/", "unknown, empty PATH_INFO: /");
	route_is(NULL, NULL, NULL, NULL, "/", "no arguments at all: /");
	route_is(NULL, NULL, NULL, "", "/", "empty REQUEST_URI: /");
	route_is(NULL, NULL, NULL, "?health", "/", "REQUEST_URI that is only a query: /");
}

static void
test_route_misc(void)
{
	char out[256];
	static const struct route star[] = { { .path = "/*" }, { .path = NULL } };
	static const struct route two[] = { { .path = "/a/*/c" }, { .path = "/a/b" }, { .path = NULL } };
	static const struct route none[] = { { .path = NULL } };

	is_int(route_sz(NULL, "/x", "/chat", "/chat/health", NULL, 64, out), 0,
	    "NULL routes: returns 0");
	is_str(out, "/x", "NULL routes: PATH_INFO");
	is_int(route_sz(NULL, "/x", "/chat", "/chat/health", none, 64, out), 0,
	    "empty routes: returns 0");
	is_str(out, "/x", "empty routes: PATH_INFO");
	route_sz(NULL, NULL, NULL, "/m/q?z", star, 64, out);
	is_str(out, "/q", "route \"/*\" takes the last segment");
	route_sz(NULL, NULL, NULL, "/m/a/b/c", two, 64, out);
	is_str(out, "/a/b/c", "wildcard in the middle of a route");
	route_sz(NULL, NULL, NULL, "/m/a/b", two, 64, out);
	is_str(out, "/a/b", "second route in the list");
	route_sz(NULL, NULL, NULL, "/m/a//c", two, 64, out);
	is_str(out, "/", "a middle * does not match an empty segment");

	/* Output buffer sizes: exact fit, one short. */
	is_int(route_sz(NULL, NULL, NULL, "/chat/health", routes, 8, out), 0,
	    "\"/health\" fits in 8 bytes");
	is_str(out, "/health", "\"/health\" in exactly 8 bytes");
	is_int(route_sz(NULL, NULL, NULL, "/chat/health", routes, 7, out), -1,
	    "\"/health\" in 7 bytes: -1");
	is_int(route_sz(NULL, NULL, NULL, "/chat/x", routes, 2, out), 0, "\"/\" fits in 2 bytes");
	is_str(out, "/", "\"/\" in exactly 2 bytes");
	is_int(route_sz(NULL, NULL, NULL, "/chat/x", routes, 1, out), -1, "\"/\" in 1 byte: -1");
	is_int(route_sz(NULL, NULL, NULL, "/chat/x", routes, 0, out), -1, "\"/\" in 0 bytes: -1");
	is_int(route_sz(NULL, "abc", NULL, NULL, routes, 5, out), 0,
	    "PATH_INFO \"abc\" becomes \"/abc\" in 5 bytes");
	is_str(out, "/abc", "slash added to PATH_INFO");
	is_int(route_sz(NULL, "abc", NULL, NULL, routes, 4, out), -1,
	    "PATH_INFO \"abc\" in 4 bytes: -1");
	is_int(route_sz("/chat", NULL, NULL, "/chat/streams/abc", routes, 13, out), 0,
	    "mount: \"/streams/abc\" fits in 13 bytes");
	is_int(route_sz("/chat", NULL, NULL, "/chat/streams/abc", routes, 12, out), -1,
	    "mount: \"/streams/abc\" in 12 bytes: -1");
	is_int(route_sz("/chat", NULL, NULL, "/chat", routes, 1, out), -1,
	    "mount itself in 1 byte: -1");
}

/* ------------------------------------------------------------------ mounts */

/* route_mount into a heap buffer of exactly size bytes; want NULL: -1 and "". */
static void
mount_is(const char *mount, const char *ru, const char *sn, const char *route,
    size_t size, const char *want, const char *what)
{
	char *out = malloc(size);
	int rc;

	memset(out, 'Z', size);
	rc = route_mount(mount, ru, sn, route, out, size);
	if (want == NULL) {
		is_int(rc, -1, "mount %s: none", what);
		is_str(out, "", "mount %s: out is empty", what);
	} else if (is_int(rc, 0, "mount %s: found", what))
		is_str(out, want, "mount %s: %s", what, want);
	free(out);
}

static void
test_mount(void)
{
	char big[700];

	mount_is("/chat", "/x/y/", "/x/y", "/", 64, "/chat", "configured");
	mount_is("/chat/", NULL, NULL, "/", 64, "/chat", "configured, trailing slash");
	mount_is("/", NULL, NULL, "/", 64, "", "configured root");
	mount_is("/chat\r\nX: y", "/chat/", "/chat", "/", 64, NULL,
	    "configured with CR LF is not used");
	mount_is(NULL, "/chat/?a=1", "/chat", "/", 64, "/chat", "REQUEST_URI");
	mount_is(NULL, "/a/b/chat/health", "/a/b/chat", "/health", 64, "/a/b/chat",
	    "REQUEST_URI without the route");
	mount_is(NULL, "/", "", "/", 64, "", "at the root");
	mount_is(NULL, "/~u/c%20d/", NULL, "/", 64, "/~u/c%20d", "pchar and %HH kept");
	/* A raw REQUEST_URI that is not canonical gives way to SCRIPT_NAME. */
	mount_is(NULL, "//evil.example/../chat/", "/chat", "/", 64, "/chat",
	    "//evil.example/../chat/: SCRIPT_NAME");
	mount_is(NULL, "//evil.example/chat/", "/chat/", "/", 64, "/chat",
	    "//host: SCRIPT_NAME (nginx's whole path)");
	mount_is(NULL, "/chat/\r\nSet-Cookie: a=b/", "/chat", "/", 64, "/chat",
	    "CR LF in REQUEST_URI: SCRIPT_NAME");
	mount_is(NULL, "/a/./chat/", "/chat", "/", 64, "/chat", "a . segment");
	mount_is(NULL, "/a/%2E%2e/chat/", "/chat", "/", 64, "/chat", "a %2e%2e segment");
	mount_is(NULL, "/a\\b/", "/chat", "/", 64, "/chat", "a backslash");
	mount_is(NULL, "/caf\xc3\xa9/", "/chat", "/", 64, "/chat", "a raw non-ASCII byte");
	mount_is(NULL, "/a%2/", "/chat", "/", 64, "/chat", "a short %-escape");
	mount_is(NULL, "/a%zz/", "/chat", "/", 64, "/chat", "a bad %-escape");
	mount_is(NULL, "/a b/", "/chat", "/", 64, "/chat", "a space");
	mount_is(NULL, "/a\"b/", "/chat", "/", 64, "/chat", "a quote");
	mount_is(NULL, "//evil.example/../chat/", "//evil.example", "/", 64, NULL,
	    "nothing canonical: none");
	mount_is(NULL, "/a/.../chat/", NULL, "/", 64, "/a/.../chat", "... is a name");
	/* Too long for out: none rather than cut. */
	mount_is(NULL, "/abcdefgh/", NULL, "/", 9, NULL, "9 bytes and a NUL in 9");
	mount_is(NULL, "/abcdefg/", NULL, "/", 9, "/abcdefg", "8 bytes and a NUL in 9");
	/* A 698-byte path is a mount like any other. */
	memset(big, 'a', sizeof(big));
	big[0] = '/';
	big[sizeof(big) - 2] = '/';
	big[sizeof(big) - 1] = '\0';
	{
		char want[sizeof(big)];

		memcpy(want, big, sizeof(big) - 2);
		want[sizeof(big) - 2] = '\0';
		mount_is(NULL, big, "/chat", "/", 1024, want, "a 697-byte mount");
	}
}

/* ------------------------------------------------------------------- table */

static void h_a(struct request_ctx *x, const char *arg) { (void)x; (void)arg; }
static void h_b(struct request_ctx *x, const char *arg) { (void)x; (void)arg; }

static const struct route table[] = {
	{ "/",           "POST",      ERROR_NATIVE, h_a },
	{ "/health",     "GET, HEAD", ERROR_NATIVE, h_a },
	{ "/v1/models",  "GET, HEAD", ERROR_OPENAI, h_b },
	{ "/streams/*",  "GET",       ERROR_NATIVE, h_a },
	{ "/streams/*",  "DELETE",    ERROR_NATIVE, h_b },
	{ NULL, NULL, ERROR_NATIVE, NULL }
};

#define STYLE_UNSET 99	/* a style route_lookup() never sets */

/* Looks route and method up; want is the row's index, or -1 with the Allow value. */
static void
lookup_is(const char *route, const char *method, int want, const char *want_allow,
    const char *want_arg, int want_style)
{
	enum error_style style = (enum error_style)STYLE_UNSET;
	const char *arg = "unset";
	char allow[64];
	const struct route *r;

	memset(allow, 'Z', sizeof(allow));
	r = route_lookup(table, route, method, &arg, &style, allow, sizeof(allow));
	is_int(r == NULL ? -1 : (int)(r - table), want, "%s %s: row %d", method, route, want);
	if (want_allow != NULL)
		is_str(allow, want_allow, "%s %s: Allow \"%s\"", method, route, want_allow);
	if (want_arg == NULL)
		ok(arg == NULL, "%s %s: no argument", method, route);
	else
		is_str(arg != NULL ? arg : "(null)", want_arg, "%s %s: argument %s", method, route,
		    want_arg);
	is_int((int)style, want_style, "%s %s: error style %d", method, route, want_style);
}

static void
test_lookup(void)
{
	enum error_style style = ERROR_OPENAI;
	const char *arg;
	char small[8];

	lookup_is("/", "POST", 0, NULL, NULL, ERROR_NATIVE);
	lookup_is("/health", "GET", 1, NULL, NULL, ERROR_NATIVE);
	lookup_is("/health", "HEAD", 1, NULL, NULL, ERROR_NATIVE);
	lookup_is("/v1/models", "HEAD", 2, NULL, NULL, ERROR_OPENAI);
	lookup_is("/streams/abc", "GET", 3, NULL, "abc", ERROR_NATIVE);
	lookup_is("/streams/abc", "DELETE", 4, NULL, "abc", ERROR_NATIVE);

	/* 405: the path's methods, in table order, as Allow lists them. */
	lookup_is("/", "GET", -1, "POST", NULL, ERROR_NATIVE);
	lookup_is("/health", "POST", -1, "GET, HEAD", NULL, ERROR_NATIVE);
	lookup_is("/health", "DELETE", -1, "GET, HEAD", NULL, ERROR_NATIVE);
	lookup_is("/v1/models", "POST", -1, "GET, HEAD", NULL, ERROR_OPENAI);
	lookup_is("/streams/abc", "PUT", -1, "GET, DELETE", NULL, ERROR_NATIVE);
	lookup_is("/streams/abc", "OPTIONS", -1, "GET, DELETE", NULL, ERROR_NATIVE);
	/* Methods are exact, case and all. */
	lookup_is("/health", "get", -1, "GET, HEAD", NULL, ERROR_NATIVE);
	lookup_is("/health", "GE", -1, "GET, HEAD", NULL, ERROR_NATIVE);
	lookup_is("/health", "GET, HEAD", -1, "GET, HEAD", NULL, ERROR_NATIVE);
	lookup_is("/health", "", -1, "GET, HEAD", NULL, ERROR_NATIVE);

	/* 404: no row has the path; the style is left as it was. */
	lookup_is("/nope", "GET", -1, "", NULL, STYLE_UNSET);
	lookup_is("/health/", "GET", -1, "", NULL, STYLE_UNSET);
	lookup_is("/healthz", "GET", -1, "", NULL, STYLE_UNSET);
	lookup_is("/streams/", "GET", -1, "", NULL, STYLE_UNSET);
	lookup_is("/streams", "GET", -1, "", NULL, STYLE_UNSET);
	lookup_is("/streams/a/b", "GET", -1, "", NULL, STYLE_UNSET);
	lookup_is("/x/streams/a", "GET", -1, "", NULL, STYLE_UNSET);
	lookup_is("", "GET", -1, "", NULL, STYLE_UNSET);
	is_int(route_lookup(table, "/nope", "GET", &arg, &style, small, sizeof(small)) == NULL,
	    1, "404 keeps the caller's style: none");
	is_int(style, ERROR_OPENAI, "404 keeps the caller's style");

	/* An Allow longer than its buffer is cut, never overrun. */
	memset(small, 'Z', sizeof(small));
	ok(route_lookup(table, "/streams/x", "PUT", &arg, &style, small, sizeof(small)) == NULL,
	    "405 into a small buffer");
	ok(memchr(small, '\0', sizeof(small)) != NULL, "a small Allow is NUL-terminated");
	ok(strncmp(small, "GET, DELETE", strlen(small)) == 0, "a small Allow is a prefix");
}

/* The table's paths are what a request without PATH_INFO is routed by. */
static void
test_resolve_table(void)
{
	char out[256];

	route_sz(NULL, NULL, NULL, "/chat/v1/models", table, 64, out);
	is_str(out, "/v1/models", "a table path at the end of REQUEST_URI");
	route_sz(NULL, NULL, "/chat/streams/q1", NULL, table, 64, out);
	is_str(out, "/streams/q1", "a table path with '*' at the end of SCRIPT_NAME");
	route_sz(NULL, NULL, NULL, "/chat/", table, 64, out);
	is_str(out, "/", "the mount itself, with \"/\" in the table");
	route_sz(NULL, NULL, NULL, "/chat/health/", table, 64, out);
	is_str(out, "/", "a trailing slash is not the table's \"/\" at the end");
}

int
main(void)
{
	test_route_mount();
	test_route_nomount();
	test_route_misc();
	test_mount();
	test_lookup();
	test_resolve_table();
	return done_testing();
}
