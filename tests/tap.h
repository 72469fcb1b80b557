/* tap.h: a tiny header-only Test Anything Protocol producer for the C unit tests. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_TAP_H
#define CS_TAP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/*
 * Usage: plan(n) (or none, then done_testing() prints the plan), then ok(),
 * is_int(), is_str(), is_mem() and diag(); end main() with
 * `return done_testing();`, which is 0 only when every test passed and the
 * count matches the plan.  Diagnostics go to stderr as "# " lines.
 */

#define TAP_SHOW	160	/* bytes of a mismatching value shown in a diagnostic */

struct tap_state {
	int planned;		/* -1 until plan() */
	int run;
	int failed;
};

static struct tap_state tap_state = { -1, 0, 0 };

static inline void tap_vdiag(const char *, va_list)
    __attribute__((format(printf, 1, 0)));
static inline void
tap_vdiag(const char *fmt, va_list ap)
{
	char line[4096], *p, *nl;

	vsnprintf(line, sizeof(line), fmt, ap);
	fflush(stdout);
	for (p = line;; p = nl + 1) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl = '\0';
		fprintf(stderr, "# %s\n", p);
		if (nl == NULL)
			break;
	}
	fflush(stderr);
}

static inline void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void
diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vdiag(fmt, ap);
	va_end(ap);
}

static inline void
plan(int n)
{
	tap_state.planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

/* Prints one result line; the description never breaks the TAP line. */
static inline int tap_vresult(int, const char *, int, const char *, va_list)
    __attribute__((format(printf, 4, 0)));
static inline int
tap_vresult(int pass, const char *file, int line, const char *fmt, va_list ap)
{
	char desc[512], *p;

	vsnprintf(desc, sizeof(desc), fmt, ap);
	for (p = desc; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r' || *p == '#')
			*p = ' ';
	tap_state.run++;
	if (!pass)
		tap_state.failed++;
	printf("%sok %d - %s\n", pass ? "" : "not ", tap_state.run, desc);
	fflush(stdout);
	if (!pass)
		diag("  Failed test '%s'\n  at %s line %d.", desc, file, line);
	return pass;
}

static inline int tap_ok(int, const char *, int, const char *, ...)
    __attribute__((format(printf, 4, 5)));
static inline int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vresult(pass, file, line, fmt, ap);
	va_end(ap);
	return pass;
}

/* Writes s[0..len) as a C string literal, at most TAP_SHOW bytes from off. */
static inline void
tap_escape(char *dst, size_t dstlen, const void *s, size_t len, size_t off)
{
	const unsigned char *p = s;
	size_t i, o = 0, end;

	end = len - off > TAP_SHOW ? off + TAP_SHOW : len;
	o += (size_t)snprintf(dst + o, dstlen - o, "%s\"", off > 0 ? "..." : "");
	for (i = off; i < end && o + 8 < dstlen; i++) {
		unsigned char c = p[i];

		if (c == '\n')
			o += (size_t)snprintf(dst + o, dstlen - o, "\\n");
		else if (c == '\r')
			o += (size_t)snprintf(dst + o, dstlen - o, "\\r");
		else if (c == '\t')
			o += (size_t)snprintf(dst + o, dstlen - o, "\\t");
		else if (c == '\\' || c == '"')
			o += (size_t)snprintf(dst + o, dstlen - o, "\\%c", c);
		else if (c < 0x20 || c >= 0x7F)
			o += (size_t)snprintf(dst + o, dstlen - o, "\\x%02X", c);
		else
			dst[o++] = (char)c;
	}
	snprintf(dst + o, dstlen - o, "\"%s (%zu bytes)", end < len ? "..." : "",
	    len);
}

static inline int tap_is_mem(const void *, size_t, const void *, size_t,
    const char *, int, const char *, ...) __attribute__((format(printf, 7, 8)));
static inline int
tap_is_mem(const void *got, size_t gotlen, const void *want, size_t wantlen,
    const char *file, int line, const char *fmt, ...)
{
	const unsigned char *g = got, *w = want;
	char gs[TAP_SHOW * 4 + 64], ws[TAP_SHOW * 4 + 64];
	size_t at, from;
	va_list ap;
	int pass;

	/* NULL stands for "no bytes" when its length is 0. */
	if ((got == NULL && gotlen > 0) || (want == NULL && wantlen > 0))
		pass = 0;
	else
		pass = gotlen == wantlen &&
		    (gotlen == 0 || memcmp(got, want, gotlen) == 0);
	va_start(ap, fmt);
	tap_vresult(pass, file, line, fmt, ap);
	va_end(ap);
	if (pass)
		return 1;
	if ((got == NULL && gotlen > 0) || (want == NULL && wantlen > 0)) {
		diag("         got: %s (%zu bytes)\n    expected: %s (%zu bytes)",
		    got == NULL ? "NULL" : "(not NULL)", gotlen,
		    want == NULL ? "NULL" : "(not NULL)", wantlen);
		return 0;
	}
	if (got == NULL)
		got = g = (const unsigned char *)"";
	if (want == NULL)
		want = w = (const unsigned char *)"";
	for (at = 0; at < gotlen && at < wantlen && g[at] == w[at]; at++)
		continue;
	from = at > 16 ? at - 16 : 0;
	tap_escape(gs, sizeof(gs), got, gotlen, from < gotlen ? from : gotlen);
	tap_escape(ws, sizeof(ws), want, wantlen, from < wantlen ? from : wantlen);
	diag("         got: %s\n    expected: %s\n    first difference at byte %zu",
	    gs, ws, at);
	return 0;
}

static inline int tap_is_str(const char *, const char *, const char *, int,
    const char *, ...) __attribute__((format(printf, 5, 6)));
static inline int
tap_is_str(const char *got, const char *want, const char *file, int line,
    const char *fmt, ...)
{
	char desc[512];
	va_list ap;
	int pass;

	va_start(ap, fmt);
	if (got == NULL || want == NULL) {
		pass = got == want;
		tap_vresult(pass, file, line, fmt, ap);
		va_end(ap);
		if (!pass)
			diag("         got: %s\n    expected: %s",
			    got == NULL ? "NULL" : "(a string)",
			    want == NULL ? "NULL" : "(a string)");
		return pass;
	}
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	return tap_is_mem(got, got != NULL ? strlen(got) : 0, want,
	    want != NULL ? strlen(want) : 0, file, line, "%s", desc);
}

static inline int tap_is_int(long long, long long, const char *, int,
    const char *, ...) __attribute__((format(printf, 5, 6)));
static inline int
tap_is_int(long long got, long long want, const char *file, int line,
    const char *fmt, ...)
{
	va_list ap;
	int pass = got == want;

	va_start(ap, fmt);
	tap_vresult(pass, file, line, fmt, ap);
	va_end(ap);
	if (!pass)
		diag("         got: %lld\n    expected: %lld", got, want);
	return pass;
}

#define ok(cond, ...)	tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) \
	tap_is_int((long long)(got), (long long)(want), __FILE__, __LINE__, \
	    __VA_ARGS__)
#define is_str(got, want, ...) \
	tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)
#define is_mem(got, gotlen, want, wantlen, ...) \
	tap_is_mem((got), (gotlen), (want), (wantlen), __FILE__, __LINE__, \
	    __VA_ARGS__)

/* Ends the run: prints the plan if none was given; returns the exit status. */
static inline int
done_testing(void)
{
	if (tap_state.planned < 0) {
		printf("1..%d\n", tap_state.run);
		tap_state.planned = tap_state.run;
	}
	fflush(stdout);
	if (tap_state.run != tap_state.planned) {
		diag("Looks like you planned %d tests but ran %d.",
		    tap_state.planned, tap_state.run);
		return 255;
	}
	if (tap_state.failed > 0) {
		diag("Looks like you failed %d test%s of %d.", tap_state.failed,
		    tap_state.failed == 1 ? "" : "s", tap_state.run);
		return tap_state.failed > 254 ? 254 : tap_state.failed;
	}
	return 0;
}

#endif
