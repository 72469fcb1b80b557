/* http.c: response heads and JSON bodies for the answers that are not streams. */
#include "config.h"

#include <stdio.h>
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
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default:  return "Unknown";
	}
}

int
http_send_json(struct conn *c, int status, const char *extra_headers,
    json_object *body)
{
	const char *text = NULL;
	char head[512];
	int n;

	if (body != NULL)
		text = json_object_to_json_string_ext(body,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	n = snprintf(head, sizeof(head),
	    "Status: %d %s\r\n"
	    "Content-Type: application/json; charset=utf-8\r\n"
	    "Cache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "%s\r\n",
	    status, http_reason(status), extra_headers != NULL ? extra_headers : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	if (c->ops->write(c, head, (size_t)n) == -1)
		return -1;
	if (text != NULL && (c->ops->write(c, text, strlen(text)) == -1 ||
	    c->ops->write(c, "\n", 1) == -1))
		return -1;
	return c->ops->flush(c);
}

int
http_send_error(struct conn *c, const struct cs_error *e, const char *extra_headers)
{
	json_object *body = json_object_new_object(), *err = json_object_new_object();
	int rc;

	json_object_object_add(err, "type", json_object_new_string(e->type != NULL ?
	    e->type : "internal_error"));
	json_object_object_add(err, "message", json_object_new_string(e->message));
	json_object_object_add(body, "error", err);
	rc = http_send_json(c, e->status != 0 ? e->status : 500, extra_headers, body);
	json_object_put(body);
	return rc;
}
