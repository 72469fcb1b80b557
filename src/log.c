/* log.c: one-line diagnostics on stderr in text or JSON, each line a single write. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "log.h"
#include "utf8.h"

static const char *log_progname = "chatstream";
static enum log_format log_fmt = LOG_FORMAT_TEXT;
static int log_dbg;

void
log_init(const char *progname, enum log_format format, int debug)
{
	if (progname != NULL)
		log_progname = progname;
	log_fmt = format;
	log_dbg = debug;
}

int
log_debug_enabled(void)
{
	return log_dbg;
}

/* What log_clean() turns into \xHH besides control bytes, DEL and bytes that are not UTF-8. */
#define ESC_WORD	0x1	/* space, '"' and '\\': a key=value word of the text format */
#define ESC_QUOTE	0x2	/* '"' and '\\': a JSON string that stays as long as it is */

/* The length of the well-formed UTF-8 sequence at p[0..n) of 2 to 4 bytes, or 0. */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	size_t len = p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3 :
	    p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;

	return len != 0 && len <= n && utf8_valid((const char *)p, len) ? len : 0;
}

/*
 * Copies s (NULL or "" gives "-") into dst (size bytes, NUL-terminated) so
 * that it stays inside one line, and one field of it: well-formed UTF-8 is
 * kept; control bytes, DEL, bytes that are not UTF-8 and what esc names
 * become \xHH.  What does not fit is cut at a character boundary, marked by
 * "...".  Returns dst.
 */
static const char *
log_clean(char *dst, size_t size, const char *s, int esc)
{
	const unsigned char *p = (const unsigned char *)(s != NULL && *s != '\0' ? s : "-");
	size_t o = 0, n = strlen((const char *)p), i = 0;

	while (i < n) {
		size_t k = p[i] >= 0x80 ? utf8_seq(p + i, n - i) : 1;
		int hex = k == 0 || p[i] < 0x20 || p[i] == 0x7f ||
		    ((esc & (ESC_WORD | ESC_QUOTE)) && (p[i] == '"' || p[i] == '\\')) ||
		    ((esc & ESC_WORD) && p[i] == ' ');
		size_t need = hex ? 4 : k;

		/* Room for this, and for "..." should anything follow it. */
		if (o + need + (i + (hex ? 1 : k) < n ? 3 : 0) >= size) {
			if (o + 3 < size) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (hex) {
			snprintf(dst + o, 5, "\\x%02x", p[i]);
			i++;
		} else {
			memcpy(dst + o, p + i, k);
			i += k;
		}
		o += need;
	}
	dst[o] = '\0';
	return dst;
}

const char *
log_word(char *dst, size_t size, const char *s)
{
	return log_clean(dst, size, s, ESC_WORD);
}

/* Writes the n bytes snprintf() put in line (of size bytes): one write(2), cut to fit. */
static void
write_line(char *line, int n, size_t size)
{
	size_t len;

	if (n < 0)
		return;
	len = (size_t)n;
	if (len >= size) {
		len = size - 1;
		line[len - 1] = '\n';
	}
	while (len > 0) {
		ssize_t w = write(STDERR_FILENO, line, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		line += w;
		len -= (size_t)w;
	}
}

static void
timestamp(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static void vlog(const char *, const char *, va_list, int)
    __attribute__((format(printf, 2, 0)));

static void
vlog(const char *level, const char *fmt, va_list ap, int errnum)
{
	char raw[1024], msg[1024], ts[64], line[1536];
	int n;

	vsnprintf(raw, sizeof(raw), fmt, ap);
	if (errnum != 0) {
		size_t used = strlen(raw);
		snprintf(raw + used, sizeof(raw) - used, ": %s", strerror(errnum));
	}
	timestamp(ts, sizeof(ts));
	if (log_fmt == LOG_FORMAT_JSON) {
		/* Even if json-c doubles every byte of msg, the line fits: valid JSON. */
		json_object *o = json_object_new_object();
		json_object_object_add(o, "time", json_object_new_string(ts));
		json_object_object_add(o, "level", json_object_new_string(level));
		json_object_object_add(o, "msg", json_object_new_string(
		    log_clean(msg, (sizeof(line) - 128) / 2, raw, 0)));
		n = snprintf(line, sizeof(line), "%s\n",
		    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		n = snprintf(line, sizeof(line), "%s %s[%ld] %s: %s\n", ts,
		    log_progname, (long)getpid(), level, log_clean(msg, sizeof(msg), raw, 0));
	}
	write_line(line, n, sizeof(line));
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("info", fmt, ap, 0);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vlog("warn", fmt, ap, saved);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("warn", fmt, ap, 0);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_dbg)
		return;
	va_start(ap, fmt);
	vlog("debug", fmt, ap, 0);
	va_end(ap);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("fatal", fmt, ap, 0);
	va_end(ap);
	exit(1);
}

const char *
outcome_name(enum outcome o)
{
	switch (o) {
	case OUTCOME_DONE:
		return "done";
	case OUTCOME_CANCELLED:
		return "cancelled";
	case OUTCOME_CLIENT_GONE:
		return "client_gone";
	case OUTCOME_ERROR:
		return "error";
	case OUTCOME_TIMEOUT:
		return "timeout";
	case OUTCOME_SHUTDOWN:
		return "shutdown";
	case OUTCOME_JOURNAL_UNAVAILABLE:
		return "journal_unavailable";
	}
	return "error";
}

/* The bounds of each field of a stream line, in bytes once escaped. */
struct fields {
	char id[72], client[72], method[40], path[260], model[140], backend[72];
	char outcome[40], detail[200];
};

static void
clean_fields(struct fields *f, const struct stream_record *r, int esc)
{
	log_clean(f->id, sizeof(f->id), r->stream_id, esc);
	log_clean(f->client, sizeof(f->client), r->client, esc);
	log_clean(f->method, sizeof(f->method), r->method, esc);
	log_clean(f->path, sizeof(f->path), r->path, esc);
	log_clean(f->model, sizeof(f->model), r->model, esc);
	log_clean(f->backend, sizeof(f->backend), r->backend, esc);
	log_clean(f->outcome, sizeof(f->outcome), r->outcome, esc);
	log_clean(f->detail, sizeof(f->detail), r->detail, esc);
}

/*
 * Every field is escaped and bounded (struct fields), so the line always
 * fits: one request, one line, with its status and outcome.
 */
void
log_stream(const struct stream_record *r)
{
	struct fields f;
	char ts[64], line[2048];
	int n;

	timestamp(ts, sizeof(ts));
	if (log_fmt == LOG_FORMAT_JSON) {
		json_object *o = json_object_new_object();

		clean_fields(&f, r, ESC_QUOTE);
		json_object_object_add(o, "time", json_object_new_string(ts));
		json_object_object_add(o, "level", json_object_new_string("info"));
		json_object_object_add(o, "stream", json_object_new_string(f.id));
		json_object_object_add(o, "client", json_object_new_string(f.client));
		json_object_object_add(o, "method", json_object_new_string(f.method));
		json_object_object_add(o, "path", json_object_new_string(f.path));
		json_object_object_add(o, "model", json_object_new_string(f.model));
		json_object_object_add(o, "backend", json_object_new_string(f.backend));
		json_object_object_add(o, "status", json_object_new_int(r->status));
		json_object_object_add(o, "ttft_ms", json_object_new_int64(r->ttft_ms));
		json_object_object_add(o, "events", json_object_new_uint64(r->events));
		json_object_object_add(o, "bytes", json_object_new_uint64(r->bytes));
		json_object_object_add(o, "duration_ms", json_object_new_int64(r->duration_ms));
		json_object_object_add(o, "outcome", json_object_new_string(f.outcome));
		if (r->detail != NULL)
			json_object_object_add(o, "detail", json_object_new_string(f.detail));
		n = snprintf(line, sizeof(line), "%s\n",
		    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		clean_fields(&f, r, ESC_WORD);
		n = snprintf(line, sizeof(line),
		    "%s %s[%ld] stream: id=%s client=%s method=%s path=%s model=%s "
		    "backend=%s status=%d ttft_ms=%lld events=%llu bytes=%llu "
		    "duration_ms=%lld outcome=%s%s%s\n",
		    ts, log_progname, (long)getpid(), f.id, f.client, f.method, f.path,
		    f.model, f.backend, r->status,
		    (long long)r->ttft_ms, (unsigned long long)r->events,
		    (unsigned long long)r->bytes, (long long)r->duration_ms,
		    f.outcome, r->detail != NULL ? " detail=" : "",
		    r->detail != NULL ? f.detail : "");
	}
	write_line(line, n, sizeof(line));
}
