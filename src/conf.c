/* conf.c: the INI-style configuration file: parsing, validation with line numbers, defaults. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "buf.h"
#include "conf.h"
#include "cors.h"
#include "num.h"

#ifdef CS_SANITIZED
#define STACK_DEFAULT (512 * 1024)   /* ASan's redzones need room */
#else
#define STACK_DEFAULT (128 * 1024)
#endif

enum key_type { K_INT, K_SIZE, K_BOOL, K_STR, K_LOGFMT, K_JOURNAL, K_METRICS };

struct global_key {
	const char *name;
	enum key_type type;
	size_t offset;
	long long min, max;
};

#define G(name, type, field, min, max) \
	{ name, type, offsetof(struct conf, field), min, max }
static const struct global_key global_keys[] = {
	G("threads", K_INT, threads, 1, 100000),
	G("thread_stack", K_SIZE, thread_stack, 64 * 1024, 64 * 1024 * 1024),
	G("max_body", K_SIZE, max_body, 1, 1024LL * 1024 * 1024),
	G("max_json_depth", K_INT, max_json_depth, 2, 1000),
	G("max_event", K_SIZE, max_event, 4096, 256LL * 1024 * 1024),
	G("heartbeat", K_INT, heartbeat, 1, 3600),
	G("write_timeout", K_INT, write_timeout, 1, 86400),
	G("shutdown_grace", K_INT, shutdown_grace, 0, 3600),
	G("retry_ms", K_INT, retry_ms, 0, 3600000),
	G("reconnect_window", K_INT, reconnect_window, 0, 86400),
	G("leave_window", K_INT, leave_window, 0, 86400),
	G("retry_after", K_INT, retry_after, 0, 3600),
	G("backlog", K_INT, backlog, 1, 65535),
	G("log_format", K_LOGFMT, log_format, 0, 0),
	G("debug", K_BOOL, debug, 0, 1),
	G("mount", K_STR, mount, 0, 0),
	G("metrics", K_METRICS, metrics, 0, 0),
	G("cors_origins", K_STR, cors_origins, 0, 0),
	G("default_model", K_STR, default_model, 0, 0),
	G("journal", K_JOURNAL, journal, 0, 0),
	G("spool_dir", K_STR, spool_dir, 0, 0),
	G("journal_ttl", K_INT, journal_ttl, 1, 30 * 86400),
	G("journal_max_bytes", K_SIZE, journal_max_bytes, 4096, 1LL << 34),
	G("lease_timeout", K_INT, lease_timeout, 0, 3600),
	G("redis_address", K_STR, redis_address, 0, 0),
	G("redis_prefix", K_STR, redis_prefix, 0, 0),
	G("redis_timeout_ms", K_INT, redis_timeout_ms, 10, 60000),
	G("redis_user", K_STR, redis_user, 0, 0),
	G("redis_password_env", K_STR, redis_password_env, 0, 0),
};
#undef G

static void
conf_set_defaults(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	c->threads = 64;
	c->thread_stack = STACK_DEFAULT;
	c->max_body = 1024 * 1024;
	c->max_json_depth = 32;
	c->max_event = 1024 * 1024;
	c->heartbeat = 15;
	c->write_timeout = 60;
	c->shutdown_grace = 10;
	c->retry_ms = 3000;
	c->reconnect_window = -1;   /* from retry_ms: conf_reconnect_window_ms() */
	c->leave_window = 5;        /* a reload is back well within it */
	c->retry_after = 2;
	c->backlog = 1024;
	c->log_format = LOG_FORMAT_TEXT;
	c->journal = JOURNAL_FILE;
	c->journal_ttl = 300;
	c->journal_max_bytes = 16 * 1024 * 1024;
	c->redis_timeout_ms = 1000;
}

static char *xstrdup(const char *s);

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif

/*
 * The file journal's spool when none is configured: the directory systemd
 * made for the service (StateDirectory=, else RuntimeDirectory=; the first of
 * a list, its symlink resolved as DynamicUser= makes one), else one under
 * localstatedir.  Never one under a world-writable directory such as /tmp,
 * where another user could make it first.  Caller frees.
 */
static char *
default_spool(void)
{
	static const char *const vars[] = { "STATE_DIRECTORY", "RUNTIME_DIRECTORY" };
	char *dir, *real;
	const char *v;
	size_t i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		if ((v = getenv(vars[i])) == NULL || v[0] != '/')
			continue;
		if ((dir = strndup(v, strcspn(v, ":"))) == NULL)
			abort();
		if ((real = realpath(dir, NULL)) != NULL) {
			free(dir);
			return real;
		}
		return dir;
	}
	return xstrdup(LOCALSTATEDIR "/lib/chatstream");
}

/* The stores' settings when none are configured: a spool private to this service, a local Redis. */
static void
conf_default_stores(struct conf *c)
{
	if (c->spool_dir == NULL)
		c->spool_dir = default_spool();
	if (c->redis_address == NULL)
		c->redis_address = xstrdup("127.0.0.1:6379");
	if (c->redis_prefix == NULL)
		c->redis_prefix = xstrdup("chatstream:");
}

/*
 * Every secret taken from the environment, kept for the life of the process.
 * It grows as needed: each name comes from one line of the configuration,
 * so the file bounds it; there is no count past which a secret stays behind.
 */
static struct secret { char *name, *value; } *taken;
static size_t ntaken, ataken;

const char *
conf_secret_env(const char *name)
{
	const char *v;
	size_t i;

	for (i = 0; i < ntaken; i++)
		if (strcmp(taken[i].name, name) == 0)
			return taken[i].value;
	if ((v = getenv(name)) == NULL)
		return NULL;
	if (ntaken == ataken) {
		size_t n = ataken != 0 ? ataken * 2 : 16;
		struct secret *p;

		if (n > SIZE_MAX / sizeof(*p) || (p = realloc(taken, n * sizeof(*p))) == NULL)
			fatalx("out of memory");
		taken = p;
		ataken = n;
	}
	taken[ntaken].name = xstrdup(name);
	taken[ntaken].value = xstrdup(v);
	if (unsetenv(name) == -1)
		fatalx("cannot remove %s from the environment", name);
	return taken[ntaken++].value;
}

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatalx("out of memory");
	return p;
}

static struct model_conf *
model_new(struct conf *c, const char *name, int line)
{
	struct model_conf *m, **tail;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		fatalx("out of memory");
	m->name = xstrdup(name);
	m->line = line;
	for (tail = &c->models; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = m;
	return m;
}

static void
model_add_opt(struct model_conf *m, const char *key, const char *value, int line)
{
	struct conf_option *o;

	o = realloc(m->opts, (m->nopts + 1) * sizeof(*m->opts));
	if (o == NULL)
		fatalx("out of memory");
	m->opts = o;
	o = &m->opts[m->nopts++];
	o->key = xstrdup(key);
	o->value = xstrdup(value);
	o->line = line;
	o->used = 0;
}

const struct model_conf *
conf_model(const struct conf *c, const char *name)
{
	const struct model_conf *m;

	if (name == NULL)
		name = c->default_model;
	if (name == NULL)
		return c->models;
	for (m = c->models; m != NULL; m = m->next)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

struct conf_option *
conf_opt(struct model_conf *m, const char *key)
{
	size_t i;

	/* The last occurrence wins, as in most INI readers. */
	for (i = m->nopts; i-- > 0;)
		if (strcmp(m->opts[i].key, key) == 0) {
			size_t j;

			for (j = 0; j < m->nopts; j++)
				if (strcmp(m->opts[j].key, key) == 0)
					m->opts[j].used = 1;
			return &m->opts[i];
		}
	return NULL;
}

/*
 * A decimal integer, strictly: ASCII digits, a '-' first only when min is
 * negative; no space, no '+', nothing after.  Range checks are the caller's.
 */
static int
parse_llong(const char *s, long long min, long long *out)
{
	int neg = min < 0 && s[0] == '-';
	uint64_t v;

	if (num_parse(s + neg, strlen(s + neg), neg ? (uint64_t)LLONG_MAX + 1 :
	    (uint64_t)LLONG_MAX, &v) == -1)
		return -1;
	*out = neg ? (long long)(0 - v) : (long long)v;
	return 0;
}

/* A byte count (digits only) with an optional k/K, m/M or g/G suffix (powers of 1024). */
static int
parse_size(const char *s, long long *out)
{
	size_t n = strlen(s);
	long long mult = 1;
	uint64_t v;

	if (n == 0)
		return -1;
	switch (s[n - 1]) {
	case 'k': case 'K': mult = 1024; break;
	case 'm': case 'M': mult = 1024 * 1024; break;
	case 'g': case 'G': mult = 1024 * 1024 * 1024; break;
	}
	if (mult != 1)
		n--;
	if (num_parse(s, n, (uint64_t)((1LL << 50) / mult), &v) == -1)
		return -1;
	*out = (long long)v * mult;
	return 0;
}

static int
parse_bool(const char *s, int *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on") || !strcmp(s, "1"))
		*out = 1;
	else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off") || !strcmp(s, "0"))
		*out = 0;
	else
		return -1;
	return 0;
}

static int
conf_err(struct cs_error *err, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
conf_err(struct cs_error *err, int line, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL)
		err->line = line;
	va_start(ap, fmt);
	cs_vfail(err, 500, "config", fmt, ap);
	va_end(ap);
	return -1;
}

int
conf_opt_int(struct model_conf *m, const char *key, long min, long max,
    long *out, struct cs_error *err)
{
	struct conf_option *o = conf_opt(m, key);
	long long v;

	if (o == NULL)
		return 0;
	if (parse_llong(o->value, min, &v) == -1 || v < min || v > max)
		return conf_err(err, o->line, "%s: expected an integer from %ld to %ld, got \"%s\"",
		    key, min, max, o->value);
	*out = (long)v;
	return 0;
}

int
conf_opt_bool(struct model_conf *m, const char *key, int *out, struct cs_error *err)
{
	struct conf_option *o = conf_opt(m, key);

	if (o == NULL)
		return 0;
	if (parse_bool(o->value, out) == -1)
		return conf_err(err, o->line, "%s: expected true or false, got \"%s\"",
		    key, o->value);
	return 0;
}

int
conf_opt_double(struct model_conf *m, const char *key, double min, double max,
    double *out, struct cs_error *err)
{
	struct conf_option *o = conf_opt(m, key);
	char *end;
	double v;

	if (o == NULL)
		return 0;
	/* Plain decimal only: strtod() would also take " 1", "+1", "0x1p0" and "inf". */
	errno = 0;
	v = strtod(o->value, &end);
	if (o->value[strspn(o->value, "0123456789.-eE")] != '\0' ||
	    errno != 0 || end == o->value || *end != '\0' || !(v >= min && v <= max))
		return conf_err(err, o->line, "%s: expected a number from %g to %g, got \"%s\"",
		    key, min, max, o->value);
	*out = v;
	return 0;
}

static int
set_global(struct conf *c, const char *key, const char *value, int line,
    struct cs_error *err)
{
	const struct global_key *k = NULL;
	size_t i;
	long long v;
	char *field;

	for (i = 0; i < sizeof(global_keys) / sizeof(global_keys[0]); i++)
		if (strcmp(global_keys[i].name, key) == 0)
			k = &global_keys[i];
	if (k == NULL)
		return conf_err(err, line, "unknown setting \"%s\"", key);
	field = (char *)c + k->offset;
	switch (k->type) {
	case K_INT:
	case K_SIZE:
		if ((k->type == K_INT ? parse_llong(value, k->min, &v) :
		    parse_size(value, &v)) == -1 ||
		    v < k->min || v > k->max)
			return conf_err(err, line, "%s: expected %s from %lld to %lld, got \"%s\"",
			    key, k->type == K_INT ? "an integer" : "a size", k->min, k->max, value);
		if (k->type == K_INT)
			*(int *)(void *)field = (int)v;
		else
			*(size_t *)(void *)field = (size_t)v;
		break;
	case K_BOOL:
		if (parse_bool(value, (int *)(void *)field) == -1)
			return conf_err(err, line, "%s: expected true or false, got \"%s\"", key, value);
		break;
	case K_STR:
		free(*(char **)(void *)field);
		*(char **)(void *)field = xstrdup(value);
		break;
	case K_JOURNAL:
		if (strcmp(value, "file") == 0)
			c->journal = JOURNAL_FILE;
		else if (strcmp(value, "off") == 0)
			c->journal = JOURNAL_OFF;
		else if (strcmp(value, "redis") == 0) {
#ifdef HAVE_HIREDIS
			c->journal = JOURNAL_REDIS;
#else
			return conf_err(err, line, "journal: this chatstream was built without Redis "
			    "(configure --with-redis, with libhiredis-dev installed)");
#endif
		} else
			return conf_err(err, line, "journal: expected file, redis or off, got \"%s\"",
			    value);
		break;
	case K_METRICS:
		if (strcmp(value, "off") == 0)
			c->metrics = METRICS_OFF;
		else if (strcmp(value, "loopback") == 0)
			c->metrics = METRICS_LOOPBACK;
		else if (strcmp(value, "any") == 0)
			c->metrics = METRICS_ANY;
		else
			return conf_err(err, line, "metrics: expected off, loopback or any, got \"%s\"",
			    value);
		break;
	case K_LOGFMT:
		if (strcmp(value, "text") == 0)
			c->log_format = LOG_FORMAT_TEXT;
		else if (strcmp(value, "json") == 0)
			c->log_format = LOG_FORMAT_JSON;
		else
			return conf_err(err, line, "log_format: expected text or json, got \"%s\"", value);
		break;
	}
	return 0;
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Records one problem: in the report (all of them) and in err (the first). */
static void
note(struct buf *report, const char *path, struct cs_error *first,
    const struct cs_error *e, int *nerr)
{
	if (report != NULL) {
		if (e->line > 0)
			buf_printf(report, "%s:%d: %s\n", path, e->line, e->message);
		else
			buf_printf(report, "%s: %s\n", path, e->message);
	}
	if (*nerr == 0 && first != NULL)
		*first = *e;
	(*nerr)++;
}

/* The keys every model section may have, whatever its backend. */
static int
model_common(struct model_conf *m, struct cs_error *err)
{
	struct conf_option *o;
	long grace = 30, window = -1;

	m->keep_going = 0;
	if ((o = conf_opt(m, "on_disconnect")) != NULL) {
		if (strcmp(o->value, "continue") == 0)
			m->keep_going = 1;
		else if (strcmp(o->value, "cancel") == 0)
			m->keep_going = 0;
		else
			return conf_err(err, o->line,
			    "on_disconnect: expected cancel or continue, got \"%s\"", o->value);
	}
	if (conf_opt_int(m, "grace", 0, 86400, &grace, err) == -1)
		return -1;
	m->grace = (int)grace;
	if (conf_opt_int(m, "reconnect_window", 0, 86400, &window, err) == -1)
		return -1;
	m->reconnect_window = (int)window;
	return 0;
}

/*
 * A client told `retry: R` comes back R ms after a drop; one whose first
 * try fails (the network still down, a proxy restarting) tries again R ms
 * later, and some back off.  Three retries cover two failed ones; 5 s more
 * cover a slow network's DNS, TCP and TLS and the producer's look for
 * readers.  With the default retry_ms of 3000 this is 14 s.
 */
int64_t
conf_reconnect_window_ms(const struct conf *c, const struct model_conf *m)
{
	if (m != NULL && m->reconnect_window >= 0)
		return (int64_t)m->reconnect_window * 1000;
	if (c->reconnect_window >= 0)
		return (int64_t)c->reconnect_window * 1000;
	return 3 * (int64_t)c->retry_ms + 5000;
}

/* Checks the settings that span lines, and hands each model's options to its backend. */
static void
conf_validate(struct conf *c, struct buf *report, const char *path,
    struct cs_error *first, int *nerr)
{
	struct model_conf *m, *o;
	struct cs_error e;
	size_t i;

	if (c->models == NULL) {
		conf_err(&e, 0, "no [model NAME] section: at least one model is needed");
		note(report, path, first, &e, nerr);
	}
	for (m = c->models; m != NULL; m = m->next) {
		struct conf_option *b;

		for (o = c->models; o != m; o = o->next)
			if (strcmp(o->name, m->name) == 0) {
				conf_err(&e, m->line, "model \"%s\" is defined twice (first on line %d)",
				    m->name, o->line);
				note(report, path, first, &e, nerr);
			}
		if ((b = conf_opt(m, "backend")) == NULL) {
			conf_err(&e, m->line, "model \"%s\" has no \"backend\" (demo, exec or openai)", m->name);
			note(report, path, first, &e, nerr);
			continue;
		}
		if ((m->backend = backend_find(b->value)) == NULL) {
			conf_err(&e, b->line, "unknown backend \"%s\" (demo, exec or openai)", b->value);
			note(report, path, first, &e, nerr);
			continue;
		}
		cs_error_clear(&e);
		if (model_common(m, &e) == -1) {
			note(report, path, first, &e, nerr);
			continue;
		}
		if (m->backend->configure(m, &e) == -1) {
			note(report, path, first, &e, nerr);
			m->backend = NULL;
			continue;
		}
		for (i = 0; i < m->nopts; i++)
			if (!m->opts[i].used) {
				conf_err(&e, m->opts[i].line, "unknown option \"%s\" for backend %s",
				    m->opts[i].key, m->backend->name);
				note(report, path, first, &e, nerr);
			}
	}
	if (c->default_model != NULL && conf_model(c, c->default_model) == NULL) {
		conf_err(&e, 0, "default_model \"%s\" names no [model] section", c->default_model);
		note(report, path, first, &e, nerr);
	}
	if (c->mount != NULL && c->mount[0] != '/') {
		conf_err(&e, 0, "mount \"%s\" must start with /", c->mount);
		note(report, path, first, &e, nerr);
	}
	if (c->cors_origins != NULL && cors_check(c->cors_origins, &e) == -1)
		note(report, path, first, &e, nerr);
	if (c->redis_password_env != NULL) {
		const char *v = conf_secret_env(c->redis_password_env);

		if (v == NULL || *v == '\0') {
			conf_err(&e, 0, "redis_password_env: $%s is not set", c->redis_password_env);
			note(report, path, first, &e, nerr);
		} else
			c->redis_password = xstrdup(v);
	}
}

int
conf_load(struct conf *c, const char *path, struct buf *report, struct cs_error *err)
{
	FILE *fp;
	char line[8192];
	struct model_conf *section = NULL;
	struct cs_error e;
	int lineno = 0, nerr = 0, skip = 0;

	conf_set_defaults(c);
	c->path = xstrdup(path);
	if ((fp = fopen(path, "r")) == NULL) {
		conf_err(&e, 0, "cannot open: %s", strerror(errno));
		note(report, path, err, &e, &nerr);
		conf_free(c);
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *s, *eq, *key, *value;
		size_t n = strlen(line);

		lineno++;
		if (n == sizeof(line) - 1 && line[n - 1] != '\n') {
			int ch;

			conf_err(&e, lineno, "line longer than %zu bytes", sizeof(line) - 2);
			note(report, path, err, &e, &nerr);
			while ((ch = fgetc(fp)) != EOF && ch != '\n')
				;
			continue;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']'), *name;

			if (end == NULL || trim(end + 1)[0] != '\0') {
				conf_err(&e, lineno, "malformed section header (expected [model NAME])");
				note(report, path, err, &e, &nerr);
				section = NULL;
				skip = 1;
				continue;
			}
			*end = '\0';
			s = trim(s + 1);
			if (strncmp(s, "model", 5) != 0 || !isspace((unsigned char)s[5]) ||
			    *(name = trim(s + 5)) == '\0' || strpbrk(name, " \t\"") != NULL) {
				conf_err(&e, lineno, "unknown section [%s] (expected [model NAME])", s);
				note(report, path, err, &e, &nerr);
				section = NULL;
				skip = 1;
				continue;
			}
			section = model_new(c, name, lineno);
			skip = 0;
			continue;
		}
		if ((eq = strchr(s, '=')) == NULL) {
			conf_err(&e, lineno, "expected key = value");
			note(report, path, err, &e, &nerr);
			continue;
		}
		*eq = '\0';
		key = trim(s);
		value = trim(eq + 1);
		if (*key == '\0') {
			conf_err(&e, lineno, "missing key before =");
			note(report, path, err, &e, &nerr);
			continue;
		}
		if (skip)
			continue;	/* the body of a bad section header: already reported */
		if (section != NULL)
			model_add_opt(section, key, value, lineno);
		else if (set_global(c, key, value, lineno, &e) == -1)
			note(report, path, err, &e, &nerr);
	}
	fclose(fp);
	conf_validate(c, report, path, err, &nerr);
	conf_default_stores(c);
	if (nerr > 0) {
		conf_free(c);
		return -1;
	}
	return 0;
}

int
conf_defaults(struct conf *c, struct cs_error *err)
{
	struct model_conf *m;

	conf_set_defaults(c);
	m = model_new(c, "demo", 0);
	model_add_opt(m, "backend", "demo", 0);
	c->default_model = xstrdup("demo");
	m->backend = &backend_demo;
	conf_opt(m, "backend");
	conf_default_stores(c);
	model_common(m, err);
	if (m->backend->configure(m, err) == -1) {
		conf_free(c);
		return -1;
	}
	return 0;
}

void
conf_free(struct conf *c)
{
	struct model_conf *m, *next;
	size_t i;

	for (m = c->models; m != NULL; m = next) {
		next = m->next;
		if (m->backend != NULL && m->backend->unconfigure != NULL)
			m->backend->unconfigure(m);
		for (i = 0; i < m->nopts; i++) {
			free(m->opts[i].key);
			free(m->opts[i].value);
		}
		free(m->opts);
		free(m->name);
		free(m);
	}
	free(c->mount);
	free(c->cors_origins);
	free(c->spool_dir);
	free(c->redis_address);
	free(c->redis_prefix);
	free(c->redis_user);
	free(c->redis_password_env);
	if (c->redis_password != NULL) {
		explicit_bzero(c->redis_password, strlen(c->redis_password));
		free(c->redis_password);
	}
	free(c->default_model);
	free(c->path);
	memset(c, 0, sizeof(*c));
}
