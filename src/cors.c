/* cors.c: which web origins may call chatstream from a browser, and the headers that say so. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cors.h"

/* What a preflight allows when the request's own list cannot be echoed. */
#define CORS_HEADERS "Content-Type, Authorization, Accept, Last-Event-ID, " \
	"Idempotency-Key, Prefer, OpenAI-Organization, OpenAI-Project, " \
	"X-Stainless-Lang, X-Stainless-Package-Version, X-Stainless-OS, " \
	"X-Stainless-Arch, X-Stainless-Runtime, X-Stainless-Runtime-Version, " \
	"X-Stainless-Retry-Count, X-Stainless-Timeout, X-Stainless-Helper-Method"
#define CORS_HEADERS_MAX 512
#define CORS_MAX_AGE 600

/* Whether the len bytes at o are one origin: scheme "://" host[:port], nothing else. */
static int
origin_ok(const char *o, size_t len)
{
	size_t skip, i;

	if (len > 7 && strncmp(o, "http://", 7) == 0)
		skip = 7;
	else if (len > 8 && strncmp(o, "https://", 8) == 0)
		skip = 8;
	else
		return 0;
	for (i = skip; i < len; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789.-:[]", o[i]) == NULL || o[i] == '\0')
			return 0;
	return 1;
}

int
cors_check(const char *list, struct cs_error *err)
{
	const char *p = list;
	size_t n;

	while (*(p += strspn(p, " \t")) != '\0') {
		n = strcspn(p, " \t");
		if (!origin_ok(p, n) || n > 255)
			return cs_fail(err, 500, "config", "cors_origins: \"%.*s\" is not "
			    "an origin (scheme://host[:port])", (int)(n > 80 ? 80 : n), p);
		p += n;
	}
	return 0;
}

int
cors_allowed(const char *list, const char *origin)
{
	size_t n, len;

	if (list == NULL || origin == NULL || *origin == '\0')
		return 0;
	len = strlen(origin);
	while (*(list += strspn(list, " \t")) != '\0') {
		n = strcspn(list, " \t");
		if (n == len && memcmp(list, origin, n) == 0)
			return 1;
		list += n;
	}
	return 0;
}

static int append(char *, size_t, const char *, ...) __attribute__((format(printf, 3, 4)));

/* Appends fmt's output to out, or leaves out alone when it does not fit. */
static int
append(char *out, size_t size, const char *fmt, ...)
{
	size_t used = strlen(out);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out + used, size - used, fmt, ap);
	va_end(ap);

	if (n < 0 || (size_t)n >= size - used) {
		out[used] = '\0';
		return -1;
	}
	return 0;
}

int
cors_head(char *out, size_t size, const char *origin)
{
	return append(out, size, "Access-Control-Allow-Origin: %s\r\n"
	    "Vary: Origin\r\n"
	    "Access-Control-Expose-Headers: %s\r\n",
	    origin, "X-Stream-Id, Location, x-request-id");
}

/* Whether a requested header list is safe to echo: tokens, commas and spaces only. */
static int
headers_ok(const char *h)
{
	size_t n = strlen(h);

	return n > 0 && n < CORS_HEADERS_MAX &&
	    strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_, ") == n;
}

int
cors_preflight(char *out, size_t size, const char *allow, const char *req_headers)
{
	return append(out, size, "Access-Control-Allow-Methods: %s\r\n"
	    "Access-Control-Allow-Headers: %s\r\n"
	    "Access-Control-Max-Age: %d\r\n", allow,
	    req_headers != NULL && headers_ok(req_headers) ? req_headers : CORS_HEADERS,
	    CORS_MAX_AGE);
}
