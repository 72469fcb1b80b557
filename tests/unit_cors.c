/* unit_cors.c: cors_origins' check and matching, and the CORS header lines, capped. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cors.h"
#include "tap.h"

static void
test_check(void)
{
	struct cs_error e;

	ok(cors_check("http://localhost:5173 https://app.example.com", NULL) == 0,
	    "two origins");
	ok(cors_check("  https://[::1]:8443\t", NULL) == 0, "an IPv6 origin, blanks around");
	ok(cors_check("", NULL) == 0, "empty: none");
	ok(cors_check("app.example.com", &e) == -1, "no scheme: refused");
	ok(strstr(e.message, "app.example.com") != NULL, "the message names it (%s)", e.message);
	ok(cors_check("https://app.example.com/", NULL) == -1, "a trailing slash: refused");
	ok(cors_check("https://a.example/x", NULL) == -1, "a path: refused");
	ok(cors_check("https://u@a.example", NULL) == -1, "userinfo: refused");
	ok(cors_check("ftp://a.example", NULL) == -1, "another scheme: refused");
	ok(cors_check("https://", NULL) == -1, "no host: refused");
	ok(cors_check("*", NULL) == -1, "a wildcard: refused");
}

static void
test_allowed(void)
{
	const char *list = "http://localhost:5173 https://app.example.com";

	ok(cors_allowed(list, "http://localhost:5173"), "the first");
	ok(cors_allowed(list, "https://app.example.com"), "the last");
	ok(!cors_allowed(list, "https://app.example.co"), "a prefix of one: no");
	ok(!cors_allowed(list, "https://app.example.com.evil"), "one as a prefix: no");
	ok(!cors_allowed(list, "http://localhost:5173 https://app.example.com"),
	    "the whole list: no");
	ok(!cors_allowed(list, "HTTP://LOCALHOST:5173"), "another case: no (exact match)");
	ok(!cors_allowed(list, ""), "empty Origin: no");
	ok(!cors_allowed(list, NULL), "no Origin: no");
	ok(!cors_allowed(NULL, "http://localhost:5173"), "no list: no");
	ok(!cors_allowed(list, "null"), "the opaque origin null: no");
}

static void
test_heads(void)
{
	char out[1024], small[40];

	out[0] = '\0';
	ok(cors_head(out, sizeof(out), "http://a.example") == 0, "head lines");
	is_str(out, "Access-Control-Allow-Origin: http://a.example\r\nVary: Origin\r\n"
	    "Access-Control-Expose-Headers: X-Stream-Id, Location, x-request-id\r\n",
	    "Allow-Origin, Vary, Expose-Headers");
	out[0] = '\0';
	ok(cors_preflight(out, sizeof(out), "GET, DELETE", "content-type, x-stainless-os") == 0,
	    "preflight lines");
	is_str(out, "Access-Control-Allow-Methods: GET, DELETE\r\n"
	    "Access-Control-Allow-Headers: content-type, x-stainless-os\r\n"
	    "Access-Control-Max-Age: 600\r\n", "the asked headers echoed");
	out[0] = '\0';
	cors_preflight(out, sizeof(out), "POST", "x-a\r\nSet-Cookie: a=b");
	ok(strstr(out, "Set-Cookie") == NULL && strstr(out, "Authorization") != NULL,
	    "a list with CR/LF is not echoed: the fixed list");
	strcpy(small, "X: 1\r\n");
	ok(cors_head(small, sizeof(small), "http://a.example") == -1, "too small: -1");
	is_str(small, "X: 1\r\n", "too small: out left as it was");
}

int
main(void)
{
	test_check();
	test_allowed();
	test_heads();
	return done_testing();
}
