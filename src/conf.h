/* conf.h: the configuration file: global keys and one section per named model. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_CONF_H
#define CS_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "log.h"

struct backend_ops;

/* One `key = value` line of a model section, kept for the backend to parse. */
struct conf_option {
	char *key;
	char *value;
	int line;
	int used;       /* set by the backend that consumed it; unused keys are errors */
};

struct model_conf {
	char *name;                        /* the request's "model" */
	int line;                          /* line of the [model NAME] header */
	int keep_going;                    /* on_disconnect = continue (else cancel) */
	int grace;                         /* continue: seconds more after the reconnect window */
	int reconnect_window;              /* seconds; -1: the global one */
	const struct backend_ops *backend;
	struct conf_option *opts;          /* owned, nopts entries */
	size_t nopts;
	void *backend_conf;                /* owned by the backend (configure/unconfigure) */
	struct model_conf *next;
};

enum journal_kind { JOURNAL_OFF, JOURNAL_FILE, JOURNAL_REDIS };

/* Who may GET /metrics: nobody (404), loopback addresses (else 403), anyone. */
enum metrics_access { METRICS_OFF, METRICS_LOOPBACK, METRICS_ANY };

struct conf {
	int threads;              /* concurrent streams; one more thread answers 503 */
	size_t thread_stack;      /* bytes per worker thread stack */
	size_t max_body;          /* request body limit (413 past it) */
	int max_json_depth;       /* JSON nesting limit */
	size_t max_event;         /* largest single SSE event, bytes */
	int heartbeat;            /* seconds of silence before a ':' comment */
	int write_timeout;        /* seconds a blocked write to the front server may take */
	int shutdown_grace;       /* seconds open streams get after SIGTERM */
	int retry_ms;             /* the `retry:` sent to EventSource clients */
	int reconnect_window;     /* seconds a journaled stream waits for a reader; -1: from retry_ms */
	int leave_window;         /* the same once a reader said it leaves (DELETE ?leaving) */
	int retry_after;          /* Retry-After seconds on 503 */
	int backlog;              /* listen(2) backlog when chatstream binds itself */
	enum log_format log_format;
	int debug;
	char *mount;              /* may be NULL: the URL prefix chatstream is mounted at */
	enum metrics_access metrics;  /* who may scrape /metrics; off records nothing */
	char *cors_origins;       /* may be NULL: space-separated origins given CORS headers */
	enum journal_kind journal;  /* where streams are kept for resuming */
	char *spool_dir;          /* the file journal's directory */
	int journal_ttl;          /* seconds a finished stream stays resumable */
	size_t journal_max_bytes; /* cap on one stream's journal */
	int lease_timeout;        /* seconds without a lease renewal = producer dead; 0: 3 heartbeats */
	char *redis_address;      /* journal = redis: host:port, [v6]:port or a unix socket path */
	char *redis_prefix;       /* the start of every key chatstream makes */
	int redis_timeout_ms;     /* connect and command timeout */
	char *redis_user;         /* may be NULL: AUTH with the password only */
	char *redis_password_env; /* may be NULL: the variable holding the password */
	char *redis_password;     /* taken from that variable at load; never logged */
	char *default_model;      /* name of a model section */
	struct model_conf *models;
	char *path;               /* the file read, NULL for built-in defaults */
};

/* Fills c with the built-in defaults and one model "demo" (backend demo). */
int  conf_defaults(struct conf *c, struct cs_error *err);

/*
 * Reads and validates path into c (which must be zeroed or freed).  On
 * failure err->line is the offending line (0 for the file as a whole) and c
 * holds nothing that needs freeing.  Every problem found is also written to
 * `report` (may be NULL) one line each, so --check-config lists them all.
 */
struct buf;
int  conf_load(struct conf *c, const char *path, struct buf *report,
    struct cs_error *err);

/* Releases everything c owns, including the backends' parsed options. */
void conf_free(struct conf *c);

/* Returns the model named name, or the default when name is NULL; NULL if none. Borrowed. */
const struct model_conf *conf_model(const struct conf *c, const char *name);

/*
 * The value of environment variable name, which then leaves the environment
 * (so no child process inherits a secret).  Asking again for the same name
 * gives the same value.  NULL when unset.  Borrowed; call before threads start.
 */
const char *conf_secret_env(const char *name);

/*
 * Milliseconds a journaled stream of model m (may be NULL) goes on with
 * nobody reading it before the model's on_disconnect applies: the model's
 * reconnect_window, else the global one, or when neither is set three
 * retry_ms and 5 s.
 */
int64_t conf_reconnect_window_ms(const struct conf *c, const struct model_conf *m);

/* Helpers for backends parsing their options. Each marks the option used. */
struct conf_option *conf_opt(struct model_conf *m, const char *key);
int conf_opt_int(struct model_conf *m, const char *key, long min, long max,
    long *out, struct cs_error *err);    /* absent: *out untouched, returns 0 */
int conf_opt_bool(struct model_conf *m, const char *key, int *out,
    struct cs_error *err);
int conf_opt_double(struct model_conf *m, const char *key, double min,
    double max, double *out, struct cs_error *err);

#endif
