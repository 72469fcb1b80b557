/* backend.h: the interface every model backend implements, and the registry of them. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_BACKEND_H
#define CS_BACKEND_H

#include <poll.h>
#include <stdint.h>

#include "conf.h"
#include "error.h"

struct stream;
struct json_object;

struct chat_message {
	char *role;      /* "system" (also for "developer"), "user", "assistant" or "tool"; owned */
	char *content;   /* its text parts joined ("" for none): UTF-8, owned, NUL-terminated;
	                    may hold NULs itself */
	size_t content_len;
	int other_parts; /* content parts that are not text (image_url, input_audio, file...) */
	struct json_object *json;  /* borrowed from chat_request.body: the message as sent,
	                              NULL for one chatstream made (prompt, system, a form) */
};

/* A validated request, as every backend sees it. Owned by the request parser. */
struct chat_request {
	char *model;                 /* NULL: the configured default */
	struct chat_message *messages;
	size_t nmessages;
	size_t messages_cap;         /* slots allocated in messages */
	const char *prompt;          /* borrowed: content of the last user message */
	size_t prompt_len;
	long max_tokens;             /* 0: the model's own limit */
	double temperature;
	int has_temperature;
	char **stop;                 /* owned, nstop strings: stop sequences */
	size_t nstop;
	int stream;                  /* /v1/chat/completions: "stream": true */
	int include_usage;           /* "stream_options": {"include_usage": true} */
	long n;                      /* "n": the choices asked for, 1 to 128; 0 when absent */
	/*
	 * Owned: the JSON body as parsed, so that a relay can pass on the fields
	 * chatstream does not read itself; NULL for form and text bodies.
	 */
	struct json_object *body;
	/*
	 * Owned, NULL but for POST /v1/responses: that body as sent, for an
	 * openai backend that relays to its upstream's own /responses.
	 */
	struct json_object *responses;
	char other_param[64];        /* "" or where the first part that is not text is,
	                                e.g. "messages[2].content[1]" */
	char other_type[32];         /* that part's "type" */
};

enum backend_status {
	BACKEND_MORE,     /* call pollfds/step again */
	BACKEND_BEGIN,    /* the work is accepted (deferred_begin): commit the response, then as MORE */
	BACKEND_DONE,     /* finished normally; result filled */
	BACKEND_FAILED    /* failed; err filled (type "timeout" for time limits) */
};

struct backend_result {
	const char *finish_reason;   /* [a-z_]+: static, or the run's own until stop() */
	long prompt_tokens;
	long completion_tokens;
};

/*
 * A backend turns a chat_request into token text.  The stream's event loop
 * owns the waiting: the backend says which fds it wants and when it next
 * wants to run, and the loop calls step() when one is ready or the time has
 * come.  step() hands text to stream_token(), which may be called with any
 * bytes: the stream holds back split UTF-8 and replaces invalid bytes.
 */
struct backend_ops {
	const char *name;
	/*
	 * Set when the response is to be committed only once the backend knows
	 * the upstream accepted the request (step() returns BACKEND_BEGIN), so
	 * that an early upstream failure can still be answered with an HTTP status.
	 */
	int deferred_begin;
	/* The most fds a running stream of this backend holds at once (fdbudget.c). */
	int fds;
	/* Parses m->opts into m->backend_conf; fills err (with err->line) on a bad option. */
	int  (*configure)(struct model_conf *m, struct cs_error *err);
	/* Frees m->backend_conf. */
	void (*unconfigure)(struct model_conf *m);
	/* Starts the work; *run is owned by the backend until stop(). Errors map to a status. */
	int  (*start)(const struct model_conf *m, const struct chat_request *req,
	    void **run, struct cs_error *err);
	/*
	 * Fills up to max pollfds and sets *wake (monotonic ms; -1 for none) to
	 * when step() must run even if no fd is ready.  Returns the count used.
	 */
	int  (*pollfds)(void *run, struct pollfd *pfd, int max, int64_t *wake);
	/* Does the work that is ready; pfd holds the revents of pollfds()'s fds. */
	enum backend_status (*step)(void *run, const struct pollfd *pfd, int n,
	    struct stream *s, struct backend_result *res, struct cs_error *err);
	/* Ends the work at once (kills the child, closes the upstream) and frees run. */
	void (*stop)(void *run);
};

/* Returns the backend called name, or NULL. */
const struct backend_ops *backend_find(const char *name);

/* Most fds a backend may ask to poll. */
#define BACKEND_MAX_FDS 8

extern const struct backend_ops backend_demo;
extern const struct backend_ops backend_exec;
extern const struct backend_ops backend_openai;

#endif
