/* http.c: response heads and JSON bodies for the answers that are not streams. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "http.h"

const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default:  return "Unknown";
	}
}

#define HEAD_FMT \
	"Status: %d %s\r\n" \
	"Content-Type: application/json; charset=utf-8\r\n" \
	"Cache-Control: no-store\r\n" \
	"X-Content-Type-Options: nosniff\r\n" \
	"%s%s\r\n"

int
http_send_json(struct conn *c, int status, const char *extra_headers,
    json_object *body)
{
	const char *text = NULL, *extra = extra_headers != NULL ? extra_headers : "";
	char *head;
	int n, rc = -1;

	if (body != NULL)
		text = json_object_to_json_string_ext(body,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	/* Sized to fit: the extra headers are the caller's, bounded by it. */
	n = snprintf(NULL, 0, HEAD_FMT, status, http_reason(status), extra,
	    conn_head_extra(c));
	if (n < 0 || (head = malloc((size_t)n + 1)) == NULL)
		return -1;
	snprintf(head, (size_t)n + 1, HEAD_FMT, status, http_reason(status), extra,
	    conn_head_extra(c));
	if (c->ops->write(c, head, (size_t)n) == -1)
		goto out;
	if (text != NULL && (c->ops->write(c, text, strlen(text)) == -1 ||
	    c->ops->write(c, "\n", 1) == -1))
		goto out;
	rc = c->ops->flush(c);
out:
	free(head);
	return rc;
}

int
http_send_empty(struct conn *c, int status, const char *extra)
{
	struct buf out;
	int rc;

	buf_init(&out, strlen(extra) + 64);
	rc = buf_printf(&out, "Status: %d %s\r\n%s\r\n", status, http_reason(status),
	    extra) == -1 || c->ops->write(c, out.data, out.len) == -1 ? -1 : c->ops->flush(c);
	buf_free(&out);
	return rc;
}

int
http_send_text(struct conn *c, int status, const char *content_type, const char *body,
    size_t len)
{
	char head[512];
	int n;

	n = snprintf(head, sizeof(head), "Status: %d %s\r\nContent-Type: %s\r\n"
	    "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\r\n",
	    status, http_reason(status), content_type);
	if (n < 0 || (size_t)n >= sizeof(head) || c->ops->write(c, head, (size_t)n) == -1)
		return -1;
	if (body != NULL && len > 0 && c->ops->write(c, body, len) == -1)
		return -1;
	return c->ops->flush(c);
}

/* OpenAI's error "type" for an HTTP status. */
static const char *
openai_type(int status)
{
	switch (status) {
	case 401: return "authentication_error";
	case 403: return "permission_error";
	case 404: return "not_found_error";
	case 429: return "rate_limit_error";
	default:  return status < 500 ? "invalid_request_error" : "server_error";
	}
}

int
http_send_error(struct conn *c, enum error_style style, const struct cs_error *e,
    const char *extra_headers)
{
	json_object *body = json_object_new_object(), *err = json_object_new_object();
	const char *type = e->type != NULL ? e->type : "internal_error";
	int status = e->status != 0 ? e->status : 500, rc;

	if (style == ERROR_OPENAI) {
		json_object_object_add(err, "message", json_object_new_string(e->message));
		json_object_object_add(err, "type", json_object_new_string(
		    e->kind[0] != '\0' ? e->kind : openai_type(status)));
		json_object_object_add(err, "param", e->param[0] != '\0' ?
		    json_object_new_string(e->param) : NULL);
		json_object_object_add(err, "code", json_object_new_string(
		    e->code[0] != '\0' ? e->code : type));
	} else {
		json_object_object_add(err, "type", json_object_new_string(type));
		json_object_object_add(err, "message", json_object_new_string(e->message));
		if (e->param[0] != '\0')
			json_object_object_add(err, "param", json_object_new_string(e->param));
	}
	json_object_object_add(body, "error", err);
	rc = http_send_json(c, status, extra_headers, body);
	json_object_put(body);
	return rc;
}
