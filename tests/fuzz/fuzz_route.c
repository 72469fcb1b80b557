/*
 * fuzz_route.c: splitting a request's URI into the mount and the route, and
 * looking the route up in the route table (a row, or an Allow that fits).
 * The route always starts with '/' and fits its buffer; the mount has no
 * trailing '/'; with a configured mount, the mount is exactly it.
 *
 * Input: a byte saying which CGI parameters are set, then up to four
 * NUL-separated strings: mount, PATH_INFO, SCRIPT_NAME, REQUEST_URI.
 */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "route.h"

/* The paths and methods of the handler's route table (handler.c). */
static const struct route routes[] = {
	{ .path = "/", .methods = "POST" },
	{ .path = "/health", .methods = "GET, HEAD" },
	{ .path = "/v1/chat/completions", .methods = "POST", .style = ERROR_OPENAI },
	{ .path = "/v1/models", .methods = "GET, HEAD", .style = ERROR_OPENAI },
	{ .path = "/streams/*", .methods = "GET" },
	{ .path = "/streams/*", .methods = "DELETE" },
	{ .path = NULL }
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned set = fuzz_byte(&in);
	char copy[4096 + 4], *field[4] = { NULL, NULL, NULL, NULL };
	char route[1024], mount[1024];
	const char *p;
	size_t n, i;

	if (in.n > 4096)
		return 0;
	memcpy(copy, in.p, in.n);
	memset(copy + in.n, 0, 4);
	/* Split at NULs into the four strings; an unset one stays NULL. */
	for (p = copy, i = 0; i < 4; i++) {
		if ((size_t)(p - copy) <= in.n && (set & (1u << i)))
			field[i] = (char *)p;
		if ((size_t)(p - copy) <= in.n)
			p += strlen(p) + 1;
	}
	if (route_resolve(field[0], field[1], field[2], field[3], routes, route,
	    (set & 0x10) ? 16 : sizeof(route)) == -1)
		return 0;
	n = strlen(route);
	FUZZ_CHECK(route[0] == '/', "a route that does not start with '/'");
	FUZZ_CHECK(n < ((set & 0x10) ? 16 : sizeof(route)), "a route past its buffer");
	/* The route looked up with PATH_INFO as the method: a row, or an Allow that fits. */
	{
		enum error_style style = ERROR_NATIVE;
		const struct route *r;
		const char *arg;
		char allow[64];
		size_t asz = (set & 0x40) ? 8 : sizeof(allow);

		r = route_lookup(routes, route, field[1] != NULL ? field[1] : "", &arg, &style,
		    allow, asz);
		FUZZ_CHECK(r == NULL || arg == NULL || (arg > route && arg < route + n),
		    "an argument outside the route");
		FUZZ_CHECK(r != NULL || memchr(allow, '\0', asz) != NULL,
		    "an Allow past its buffer");
	}
	route_mount(field[0], field[3], field[2], route, mount,
	    (set & 0x20) ? 8 : sizeof(mount));
	n = strlen(mount);
	FUZZ_CHECK(n < ((set & 0x20) ? 8 : sizeof(mount)), "a mount past its buffer");
	FUZZ_CHECK(n == 0 || mount[n - 1] != '/', "a mount ending in '/'");
	if (field[0] != NULL && !(set & 0x20) && strlen(field[0]) < sizeof(mount)) {
		size_t ml = strlen(field[0]);

		while (ml > 0 && field[0][ml - 1] == '/')
			ml--;
		FUZZ_CHECK(n == ml && strncmp(mount, field[0], ml) == 0,
		    "the mount is not the configured one");
	}
	return 0;
}
