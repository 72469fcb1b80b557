/* log.c: one-line diagnostics on stderr in text or JSON, each line a single write. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "log.h"

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
	char msg[1024], ts[64], line[1400];
	int n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (errnum != 0) {
		size_t used = strlen(msg);
		snprintf(msg + used, sizeof(msg) - used, ": %s", strerror(errnum));
	}
	timestamp(ts, sizeof(ts));
	if (log_fmt == LOG_FORMAT_JSON) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "time", json_object_new_string(ts));
		json_object_object_add(o, "level", json_object_new_string(level));
		json_object_object_add(o, "msg", json_object_new_string(msg));
		n = snprintf(line, sizeof(line), "%s\n",
		    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		n = snprintf(line, sizeof(line), "%s %s[%ld] %s: %s\n", ts,
		    log_progname, (long)getpid(), level, msg);
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

static const char *
or_dash(const char *s)
{
	return (s != NULL && *s != '\0') ? s : "-";
}

/* A text-format field value: no spaces or control characters, so lines stay parseable. */
static const char *
field(const char *s, char *tmp, size_t size)
{
	size_t i;

	s = or_dash(s);
	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		tmp[i] = ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f) ? '?' : s[i];
	tmp[i] = '\0';
	return tmp;
}

void
log_stream(const struct stream_record *r)
{
	char ts[64], line[1400];
	int n;

	timestamp(ts, sizeof(ts));
	if (log_fmt == LOG_FORMAT_JSON) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "time", json_object_new_string(ts));
		json_object_object_add(o, "level", json_object_new_string("info"));
		json_object_object_add(o, "stream", json_object_new_string(or_dash(r->stream_id)));
		json_object_object_add(o, "client", json_object_new_string(or_dash(r->client)));
		json_object_object_add(o, "method", json_object_new_string(or_dash(r->method)));
		json_object_object_add(o, "path", json_object_new_string(or_dash(r->path)));
		json_object_object_add(o, "model", json_object_new_string(or_dash(r->model)));
		json_object_object_add(o, "backend", json_object_new_string(or_dash(r->backend)));
		json_object_object_add(o, "status", json_object_new_int(r->status));
		json_object_object_add(o, "ttft_ms", json_object_new_int64(r->ttft_ms));
		json_object_object_add(o, "events", json_object_new_uint64(r->events));
		json_object_object_add(o, "bytes", json_object_new_uint64(r->bytes));
		json_object_object_add(o, "duration_ms", json_object_new_int64(r->duration_ms));
		json_object_object_add(o, "outcome", json_object_new_string(or_dash(r->outcome)));
		if (r->detail != NULL)
			json_object_object_add(o, "detail", json_object_new_string(r->detail));
		n = snprintf(line, sizeof(line), "%s\n",
		    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		char path[256], model[130], client[64], method[16];

		n = snprintf(line, sizeof(line),
		    "%s %s[%ld] stream: id=%s client=%s method=%s path=%s model=%s "
		    "backend=%s status=%d ttft_ms=%lld events=%llu bytes=%llu "
		    "duration_ms=%lld outcome=%s%s%s\n",
		    ts, log_progname, (long)getpid(), or_dash(r->stream_id),
		    field(r->client, client, sizeof(client)),
		    field(r->method, method, sizeof(method)),
		    field(r->path, path, sizeof(path)),
		    field(r->model, model, sizeof(model)), or_dash(r->backend), r->status,
		    (long long)r->ttft_ms, (unsigned long long)r->events,
		    (unsigned long long)r->bytes, (long long)r->duration_ms,
		    or_dash(r->outcome), r->detail != NULL ? " detail=" : "",
		    r->detail != NULL ? r->detail : "");
	}
	write_line(line, n, sizeof(line));
}
