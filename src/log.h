/* log.h: one-line diagnostics on stderr, which the front server keeps in its error log. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_LOG_H
#define CS_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Set once at start-up, before threads exist. */
void log_init(const char *progname, enum log_format format, int debug);
int  log_debug_enabled(void);

/* err(3)-style names. Each call writes one line with a single write(2). */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));   /* appends strerror(errno) */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Copies s (NULL gives "-") into dst (size bytes) as one word of a log line:
 * control bytes, DEL, space, '"', '\\' and bytes that are not UTF-8 become
 * \xHH; cut to fit with "...".  For request values put in a message (every
 * message is also cleaned of control bytes, so no value starts a new line).
 * Returns dst.
 */
const char *log_word(char *dst, size_t size, const char *s);

/* How a stream, or a reader of one, ended: the log line's outcome. */
enum outcome {
	OUTCOME_DONE,                /* ended with done (or 204: nothing left to read) */
	OUTCOME_CANCELLED,           /* stopped by DELETE /streams/<id> */
	OUTCOME_CLIENT_GONE,         /* the reader left (detail "abandoned": and nobody came back) */
	OUTCOME_ERROR,               /* ended with an error */
	OUTCOME_TIMEOUT,             /* the backend took too long */
	OUTCOME_SHUTDOWN,            /* the server is shutting down */
	OUTCOME_JOURNAL_UNAVAILABLE  /* the store could not be read; nothing was sent */
};

/* The outcome's name in the log (static): "done", "client_gone", ... */
const char *outcome_name(enum outcome o);

/* The one summary line written when a stream (or a rejected request) ends. */
struct stream_record {
	const char *stream_id;   /* "-" when no stream was created */
	const char *client;      /* REMOTE_ADDR, may be NULL */
	const char *method;
	const char *path;
	const char *model;       /* may be NULL */
	const char *backend;     /* may be NULL */
	int status;              /* HTTP status sent */
	int64_t ttft_ms;         /* -1 when no token was sent */
	uint64_t events;
	uint64_t bytes;
	int64_t duration_ms;
	const char *outcome;     /* outcome_name(), or rejected when refused with a status */
	const char *detail;      /* may be NULL: error type or message */
};
void log_stream(const struct stream_record *r);

#endif
