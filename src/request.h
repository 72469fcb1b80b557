/* request.h: turning an HTTP request's route and body into a validated chat_request. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_REQUEST_H
#define CS_REQUEST_H

#include <stddef.h>

#include "backend.h"
#include "error.h"
#include "route.h"

enum body_kind { BODY_JSON, BODY_FORM, BODY_TEXT };

/* Maps a Content-Type header to a body kind; 415 for anything else (or a non-UTF-8 charset). */
int request_body_kind(const char *content_type, enum body_kind *kind,
    struct cs_error *err);

/*
 * Parses body[0..len) of the given kind into req (zeroed by the caller),
 * which then owns copies of everything it needs; release it with
 * chat_request_free() whether or not this fails.  Errors are 400s with type
 * invalid_json or invalid_request.
 */
int request_parse(enum body_kind kind, const char *body, size_t len,
    int max_depth, struct chat_request *req, struct cs_error *err);

void chat_request_free(struct chat_request *req);

/*
 * Parses body[0..len) as one JSON object (blank space around it allowed)
 * into *out, owned by the caller (json_object_put()).  Errors: 413 for a
 * body too large, else 400s of type invalid_json (malformed, incomplete,
 * too deep, trailing data) or invalid_request (not UTF-8, not an object).
 */
int request_json_object(const char *body, size_t len, int max_depth,
    struct json_object **out, struct cs_error *err);

/*
 * For parsers of other request shapes: appends a message (role "system",
 * "user" or "assistant"; content copied, checked to be UTF-8), and checks
 * that req ends up with a prompt (the last user message, not blank).
 * Both return 0, or -1 with err filled (400, or 500 out of memory).
 */
int request_add_message(struct chat_request *req, const char *role,
    const char *content, size_t len, struct cs_error *err);
/*
 * The same with the message's JSON object (role "tool" allowed too), which
 * an openai backend sends as it is: json is borrowed and must be owned by
 * req->body (e.g. in an array there), so that it lives as long as req.
 */
int request_add_message_json(struct chat_request *req, const char *role,
    const char *content, size_t len, struct json_object *json, struct cs_error *err);
int request_finish(struct chat_request *req, struct cs_error *err);

/*
 * For a backend of model that takes text and gives one choice: a 400 naming
 * the first content part that is not text (param "messages[i].content[j]"),
 * or "n" above 1.  Returns 0 or -1.
 */
int chat_request_text_only(const struct chat_request *req, const char *model,
    struct cs_error *err);

/* Counts whitespace-separated words over every message: the usage prompt_tokens. */
long chat_request_words(const struct chat_request *req);

#endif
