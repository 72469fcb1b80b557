/* error.h: the one error convention of chatstream: 0 on success, -1 and a filled cs_error. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_ERROR_H
#define CS_ERROR_H

#include <stdarg.h>

/*
 * Every fallible function in chatstream returns int: 0 on success, -1 on
 * failure.  When it takes a `struct cs_error *err` (which may be NULL when the
 * caller does not care), a failure fills it with what a client or operator
 * needs: the HTTP status the failure maps to before a stream has started, a
 * short machine-readable type, and a human sentence.  Nothing is allocated:
 * the error lives in the caller's storage.
 */
struct cs_error {
	int status;          /* HTTP status before the stream starts, e.g. 400 */
	const char *type;    /* static string, e.g. "invalid_request" */
	char message[256];   /* human-readable, never contains secrets */
	int line;            /* config line number, 0 when not applicable */
	int retry_after;     /* seconds for a Retry-After header, 0 for none */
	char param[64];      /* the request field at fault (OpenAI's "param"), "" for none */
	char code[64];       /* an upstream's error code, passed on as OpenAI's "code"; "" for type */
	char kind[64];       /* an upstream's error type (OpenAI's "type"); "" for the status's */
};

/* How error bodies are shaped: ours, or OpenAI's for the /v1 routes (http.c). */
enum error_style { ERROR_NATIVE, ERROR_OPENAI };

/* Fills err (if not NULL) and returns -1, so callers can `return cs_fail(...)`. */
int cs_fail(struct cs_error *err, int status, const char *type,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The same with a va_list. */
int cs_vfail(struct cs_error *err, int status, const char *type,
    const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

/* Sets err's param to name (cut to fit); err may be NULL.  Returns -1. */
int cs_param(struct cs_error *err, const char *name);

/* Clears err to "no error". */
void cs_error_clear(struct cs_error *err);

#endif
