/* http.h: CGI/FastCGI response heads and the JSON bodies sent before any stream starts. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_HTTP_H
#define CS_HTTP_H

#include <json-c/json.h>

#include "conn.h"
#include "error.h"

/* The reason phrase for status ("Unknown" for codes we never send). Static. */
const char *http_reason(int status);

/*
 * Sends a complete JSON response: a Status line, the extra header lines
 * (may be NULL; each ending in "\r\n"), and body (borrowed; NULL sends a
 * head only, for HEAD).  Returns 0, or -1 when the client is gone.
 */
int http_send_json(struct conn *c, int status, const char *extra_headers,
    json_object *body);

/*
 * Sends a response without a body (a 204): the Status line and the header
 * lines of extra (each ending in "\r\n").  Returns 0, or -1 when the client
 * is gone.
 */
int http_send_empty(struct conn *c, int status, const char *extra);

/*
 * Sends a complete response of len bytes of body (NULL or 0 for a head
 * only) with the given Content-Type.  Returns 0, or -1 when the client is gone.
 */
int http_send_text(struct conn *c, int status, const char *content_type,
    const char *body, size_t len);

/*
 * Sends e->status with {"error": {"type", "message"}} (native) or OpenAI's
 * {"error": {"message", "type", "param", "code"}}.  Returns as above.
 */
int http_send_error(struct conn *c, enum error_style style,
    const struct cs_error *e, const char *extra_headers);

#endif
