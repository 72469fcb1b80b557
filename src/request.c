/* request.c: request bodies (JSON, form, plain text) into a validated chat_request. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "num.h"
#include "request.h"
#include "utf8.h"

#define BAD_REQUEST(err, ...) bad_request(err, __VA_ARGS__)

static int bad_request(struct cs_error *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * A 400 invalid_request whose param names the field at fault: the messages
 * name it first in quotes ("max_tokens" must...), or start with messages.
 */
static int
bad_request(struct cs_error *err, const char *fmt, ...)
{
	const char *q;
	va_list ap;

	va_start(ap, fmt);
	cs_vfail(err, 400, "invalid_request", fmt, ap);
	va_end(ap);
	if (err == NULL)
		return -1;
	if (strncmp(err->message, "message", 7) == 0)
		return cs_param(err, "messages");
	if ((q = strchr(err->message, '"')) != NULL && strchr(q + 1, '"') != NULL)
		snprintf(err->param, sizeof(err->param), "%.*s",
		    (int)(strchr(q + 1, '"') - q - 1), q + 1);
	return -1;
}

/* RFC 9110 tchar: what a token (a parameter's name, or its value unquoted) is made of. */
static int
is_tchar(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * Checks a media type's parameters (p points after the type/subtype):
 * *( OWS ";" OWS [ name "=" ( token / quoted-string ) ] ) per RFC 9110.
 * Every charset must be exactly utf-8 or us-ascii, whatever the case,
 * quoted or not.  Returns 0, -1 for a malformed list, -2 for another charset.
 */
static int
charset_ok(const char *p)
{
	char val[16];

	for (;;) {
		const char *name;
		size_t nlen, vlen = 0;
		int long_val = 0;

		p += strspn(p, " \t");
		if (*p == '\0')
			return 0;
		if (*p++ != ';')
			return -1;
		p += strspn(p, " \t");
		if (*p == ';' || *p == '\0')
			continue;
		for (name = p; is_tchar((unsigned char)*p); p++)
			;
		if ((nlen = (size_t)(p - name)) == 0 || *p++ != '=')
			return -1;
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				else if (*p == '\0' || (unsigned char)*p < 0x20 ||
				    *p == 0x7f)
					return -1;
				if (vlen + 1 < sizeof(val))
					val[vlen++] = *p;
				else
					long_val = 1;
			}
			p++;
		} else {
			for (; is_tchar((unsigned char)*p); p++) {
				if (vlen + 1 < sizeof(val))
					val[vlen++] = *p;
				else
					long_val = 1;
			}
			if (vlen == 0)
				return -1;
		}
		val[vlen] = '\0';
		if (nlen == 7 && strncasecmp(name, "charset", 7) == 0 && (long_val ||
		    (strcasecmp(val, "utf-8") != 0 && strcasecmp(val, "us-ascii") != 0)))
			return -2;
	}
}

int
request_body_kind(const char *ct, enum body_kind *kind, struct cs_error *err)
{
	static const struct {
		const char *type;
		enum body_kind kind;
	} kinds[] = {
		{ "application/json", BODY_JSON },
		{ "application/x-www-form-urlencoded", BODY_FORM },
		{ "text/plain", BODY_TEXT },
	};
	size_t n, i;

	if (ct == NULL || *ct == '\0')
		return cs_fail(err, 415, "unsupported_media_type",
		    "a Content-Type is required: application/json, "
		    "application/x-www-form-urlencoded or text/plain");
	n = strcspn(ct, "; \t");
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strlen(kinds[i].type) == n && strncasecmp(ct, kinds[i].type, n) == 0)
			break;
	if (i == sizeof(kinds) / sizeof(kinds[0]))
		return cs_fail(err, 415, "unsupported_media_type",
		    "Content-Type %.*s is not supported: use application/json, "
		    "application/x-www-form-urlencoded or text/plain",
		    (int)(n > 64 ? 64 : n), ct);
	/* Any charset other than UTF-8 (or its ASCII subset) would be misread. */
	switch (charset_ok(ct + n)) {
	case -1:
		return cs_fail(err, 415, "unsupported_media_type",
		    "malformed Content-Type parameters");
	case -2:
		return cs_fail(err, 415, "unsupported_media_type",
		    "only the UTF-8 charset is supported");
	}
	*kind = kinds[i].kind;
	return 0;
}

static char *
copy_text(const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (p != NULL) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

static int
is_blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!isspace((unsigned char)s[i]))
			return 0;
	return 1;
}

/* Appends a message; json (may be NULL) is the message as sent, borrowed from req->body. */
static int
add_message(struct chat_request *req, const char *role, const char *content,
    size_t len, json_object *json, struct cs_error *err)
{
	struct chat_message *m;

	if (!utf8_valid(content, len))
		return BAD_REQUEST(err, "%s content is not valid UTF-8", role);
	if (req->nmessages == req->messages_cap) {
		/* Doubling: n messages cost O(n) copies, not O(n^2); max_body bounds n. */
		size_t cap = req->messages_cap == 0 ? 4 : req->messages_cap * 2;

		if (cap > SIZE_MAX / sizeof(*m) ||
		    (m = realloc(req->messages, cap * sizeof(*m))) == NULL)
			return cs_fail(err, 500, "internal_error", "out of memory");
		req->messages = m;
		req->messages_cap = cap;
	}
	m = &req->messages[req->nmessages];
	memset(m, 0, sizeof(*m));
	if ((m->role = strdup(role)) == NULL ||
	    (m->content = copy_text(content, len)) == NULL) {
		free(m->role);
		return cs_fail(err, 500, "internal_error", "out of memory");
	}
	m->content_len = len;
	m->json = json;
	req->nmessages++;
	return 0;
}

/* Points req->prompt at the last user message; 400 when there is none or it is empty. */
static int
finish(struct chat_request *req, struct cs_error *err)
{
	size_t i;

	for (i = req->nmessages; i-- > 0;)
		if (strcmp(req->messages[i].role, "user") == 0) {
			req->prompt = req->messages[i].content;
			req->prompt_len = req->messages[i].content_len;
			break;
		}
	if (req->prompt == NULL)
		return BAD_REQUEST(err, "a prompt is required (\"prompt\", or a \"user\" message)");
	/* An image, a sound or a file is a prompt too (for the backends that take them). */
	if (is_blank(req->prompt, req->prompt_len) && req->messages[i].other_parts == 0)
		return BAD_REQUEST(err, "the prompt is empty");
	return 0;
}

static int
set_model(struct chat_request *req, const char *s, size_t len, struct cs_error *err)
{
	if (len == 0 || len > 128 || !utf8_valid(s, len) || memchr(s, '\0', len) != NULL)
		return BAD_REQUEST(err, "\"model\" must be a model name");
	free(req->model);
	if ((req->model = copy_text(s, len)) == NULL)
		return cs_fail(err, 500, "internal_error", "out of memory");
	return 0;
}

static int
set_max_tokens(struct chat_request *req, long long v, struct cs_error *err)
{
	if (v < 1 || v > 1000000)
		return BAD_REQUEST(err, "\"max_tokens\" must be an integer from 1 to 1000000");
	req->max_tokens = (long)v;
	return 0;
}

static int
set_temperature(struct chat_request *req, double v, struct cs_error *err)
{
	if (!isfinite(v) || v < 0 || v > 2)
		return BAD_REQUEST(err, "\"temperature\" must be a number from 0 to 2");
	req->temperature = v;
	req->has_temperature = 1;
	return 0;
}

/* A 400 about the field at (e.g. "messages[2].content"), which is its param. */
static int
bad_at(struct cs_error *err, const char *at, const char *what)
{
	cs_fail(err, 400, "invalid_request", "%s %s", at, what);
	return cs_param(err, at);
}

/*
 * Whether part is text: a "text" part (or one with a "text" and no type)
 * or an assistant's "refusal".  *t is then its text, NULL when it has none.
 */
static int
text_part(json_object *part, json_object **t)
{
	json_object *type;
	const char *ty = NULL;

	*t = NULL;
	if (json_object_object_get_ex(part, "type", &type))
		ty = json_object_get_string(type);
	if (ty == NULL || strcmp(ty, "text") == 0)
		return json_object_object_get_ex(part, "text", t) || ty != NULL;
	if (strcmp(ty, "refusal") != 0)
		return 0;
	json_object_object_get_ex(part, "refusal", t);
	return 1;
}

/*
 * messages[i]'s content c (may be NULL: absent): a string, null (as an
 * assistant's with tool_calls), or OpenAI's array of content parts, each an
 * object with a string "type".  The text parts are joined into m->content;
 * the others (image_url, input_audio, file...) are counted, and the first of
 * the request is noted for the backends that take text only.  m->content is
 * borrowed from c, or joined in *joined, which the caller frees.
 */
static int
json_content(struct chat_request *req, size_t i, const char *role, json_object *c,
    struct chat_message *m, char **joined, struct cs_error *err)
{
	size_t j, n, total = 0;
	char at[64], *p;

	snprintf(at, sizeof(at), "messages[%zu].content", i);

	if (c == NULL || json_object_is_type(c, json_type_null)) {
		/* Only an assistant's turn may be all tool calls, or a refusal. */
		if (strcmp(role, "assistant") != 0)
			return bad_at(err, at, "is missing");
		m->content = (char *)"";
		return 0;
	}
	if (json_object_is_type(c, json_type_string)) {
		m->content = (char *)json_object_get_string(c);
		m->content_len = (size_t)json_object_get_string_len(c);
		return 0;
	}
	if (!json_object_is_type(c, json_type_array))
		return bad_at(err, at, "must be a string or an array of content parts");
	n = json_object_array_length(c);
	for (j = 0; j < n; j++) {
		json_object *part = json_object_array_get_idx(c, j), *type = NULL, *t;

		snprintf(at, sizeof(at), "messages[%zu].content[%zu]", i, j);
		if (!json_object_is_type(part, json_type_object))
			return bad_at(err, at, "must be a content part (an object)");
		if (json_object_object_get_ex(part, "type", &type) &&
		    !json_object_is_type(type, json_type_string))
			return bad_at(err, at, "has a \"type\" that is not a string");
		if (text_part(part, &t)) {
			if (t == NULL || !json_object_is_type(t, json_type_string))
				return bad_at(err, at, "has a text that is not a string");
			total += (size_t)json_object_get_string_len(t);
			continue;
		}
		if (type == NULL)
			return bad_at(err, at, "has no \"type\"");
		if (m->other_parts++ == 0 && req->other_param[0] == '\0') {
			memcpy(req->other_param, at, sizeof(at));
			snprintf(req->other_type, sizeof(req->other_type), "%s",
			    json_object_get_string(type));
		}
	}
	if ((p = *joined = malloc(total + 1)) == NULL)
		return cs_fail(err, 500, "internal_error", "out of memory");
	m->content = p;
	m->content_len = total;
	for (j = 0; j < n; j++) {
		json_object *t;

		if (text_part(json_object_array_get_idx(c, j), &t)) {
			memcpy(p, json_object_get_string(t), (size_t)json_object_get_string_len(t));
			p += json_object_get_string_len(t);
		}
	}
	*p = '\0';
	return 0;
}

/*
 * OpenAI's messages: system, developer (kept as system), user, assistant
 * (content null or absent with tool_calls) and tool (with tool_call_id).
 * Each keeps its JSON for the relay; what else it holds (name, tool_calls)
 * is the upstream's to check.
 */
static int
json_messages(struct chat_request *req, json_object *arr, struct cs_error *err)
{
	size_t i, n;

	if (!json_object_is_type(arr, json_type_array))
		return BAD_REQUEST(err, "\"messages\" must be an array");
	n = json_object_array_length(arr);
	if (n == 0)
		return BAD_REQUEST(err, "\"messages\" is empty");
	for (i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(arr, i), *role, *content = NULL, *id;
		struct chat_message tmp;
		const char *r;
		char at[64], *joined = NULL;
		int rc;

		memset(&tmp, 0, sizeof(tmp));
		snprintf(at, sizeof(at), "messages[%zu]", i);
		if (!json_object_is_type(o, json_type_object))
			return bad_at(err, at, "must be an object");
		snprintf(at, sizeof(at), "messages[%zu].role", i);
		if (!json_object_object_get_ex(o, "role", &role) ||
		    !json_object_is_type(role, json_type_string))
			return bad_at(err, at, "must be a string");
		r = json_object_get_string(role);
		if (strcmp(r, "system") != 0 && strcmp(r, "user") != 0 &&
		    strcmp(r, "assistant") != 0 && strcmp(r, "developer") != 0 &&
		    strcmp(r, "tool") != 0)
			return bad_at(err, at, "must be system, developer, user, assistant or tool");
		snprintf(at, sizeof(at), "messages[%zu].tool_call_id", i);
		if (strcmp(r, "tool") == 0 && (!json_object_object_get_ex(o, "tool_call_id", &id) ||
		    !json_object_is_type(id, json_type_string)))
			return bad_at(err, at, "must be a string: a tool message answers a tool call");
		json_object_object_get_ex(o, "content", &content);
		if (json_content(req, i, r, content, &tmp, &joined, err) == -1)
			return -1;
		rc = add_message(req, strcmp(r, "developer") == 0 ? "system" : r,
		    tmp.content, tmp.content_len, o, err);
		free(joined);
		if (rc == -1)
			return -1;
		req->messages[req->nmessages - 1].other_parts = tmp.other_parts;
	}
	return 0;
}

/* "stop": a string or an array of up to 4 strings. */
static int
json_stop(struct chat_request *req, json_object *v, struct cs_error *err)
{
	size_t i, n;

	if (json_object_is_type(v, json_type_null))
		return 0;
	if (json_object_is_type(v, json_type_string)) {
		n = 1;
	} else if (json_object_is_type(v, json_type_array) &&
	    (n = json_object_array_length(v)) <= 4) {
		for (i = 0; i < n; i++)
			if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string))
				return BAD_REQUEST(err, "\"stop\" must hold strings");
	} else
		return BAD_REQUEST(err, "\"stop\" must be a string or up to 4 strings");
	if ((req->stop = calloc(n, sizeof(*req->stop))) == NULL)
		return cs_fail(err, 500, "internal_error", "out of memory");
	for (i = 0; i < n; i++) {
		json_object *s = json_object_is_type(v, json_type_string) ? v :
		    json_object_array_get_idx(v, i);
		size_t len = (size_t)json_object_get_string_len(s);

		/* Kept as a C string: a NUL would silently cut it short. */
		if (len == 0 || len > 256 || !utf8_valid(json_object_get_string(s), len) ||
		    memchr(json_object_get_string(s), '\0', len) != NULL)
			return BAD_REQUEST(err, "each \"stop\" must be 1 to 256 bytes of UTF-8, "
			    "without NUL");
		if ((req->stop[i] = copy_text(json_object_get_string(s), len)) == NULL)
			return cs_fail(err, 500, "internal_error", "out of memory");
		req->nstop++;
	}
	return 0;
}

int
request_json_object(const char *body, size_t len, int max_depth, json_object **out,
    struct cs_error *err)
{
	json_tokener *tok;
	json_object *root;
	enum json_tokener_error jerr;
	size_t end;
	int rc = -1;

	*out = NULL;
	if (len > INT32_MAX)
		return cs_fail(err, 413, "payload_too_large", "body too large");
	if ((tok = json_tokener_new_ex(max_depth + 1)) == NULL)
		return cs_fail(err, 500, "internal_error", "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, body, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue) {
		/* Numbers are only complete once the end of input is seen. */
		root = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = len;	/* the first call consumed everything */
	}
	if (jerr != json_tokener_success) {
		if (jerr == json_tokener_error_parse_utf8_string)
			BAD_REQUEST(err, "the body is not valid UTF-8");
		else if (jerr == json_tokener_error_depth)
			cs_fail(err, 400, "invalid_json", "JSON nested deeper than %d levels", max_depth);
		else if (jerr == json_tokener_continue)
			cs_fail(err, 400, "invalid_json", "JSON body is incomplete");
		else
			cs_fail(err, 400, "invalid_json", "malformed JSON: %s",
			    json_tokener_error_desc(jerr));
	} else if (end < len && !is_blank(body + end, len - end))
		cs_fail(err, 400, "invalid_json", "trailing data after the JSON value");
	else if (!json_object_is_type(root, json_type_object))
		BAD_REQUEST(err, "the body must be a JSON object");
	else {
		*out = root;
		root = NULL;
		rc = 0;
	}
	json_object_put(root);
	json_tokener_free(tok);
	return rc;
}

static int
parse_json(const char *body, size_t len, int max_depth, struct chat_request *req,
    struct cs_error *err)
{
	json_object *root, *v, *prompt = NULL, *system = NULL, *messages = NULL;
	int rc = -1;

	if (request_json_object(body, len, max_depth, &root, err) == -1)
		return -1;
	/* Kept, parsed, for the relay; the messages borrow from it. */
	req->body = root;
	if (json_object_object_get_ex(root, "model", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_string)) {
			BAD_REQUEST(err, "\"model\" must be a string");
			goto out;
		}
		if (set_model(req, json_object_get_string(v), (size_t)json_object_get_string_len(v), err) == -1)
			goto out;
	}
	if ((json_object_object_get_ex(root, "max_tokens", &v) ||
	    json_object_object_get_ex(root, "max_completion_tokens", &v)) &&
	    !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_int)) {
			BAD_REQUEST(err, "\"max_tokens\" must be an integer");
			goto out;
		}
		errno = 0;
		if (set_max_tokens(req, json_object_get_int64(v), err) == -1)
			goto out;
	}
	if (json_object_object_get_ex(root, "temperature", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)) {
			BAD_REQUEST(err, "\"temperature\" must be a number");
			goto out;
		}
		if (set_temperature(req, json_object_get_double(v), err) == -1)
			goto out;
	}
	if (json_object_object_get_ex(root, "stream", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			BAD_REQUEST(err, "\"stream\" must be true or false");
			goto out;
		}
		req->stream = json_object_get_boolean(v);
	}
	if (json_object_object_get_ex(root, "stream_options", &v) && !json_object_is_type(v, json_type_null)) {
		json_object *u;

		if (!json_object_is_type(v, json_type_object)) {
			BAD_REQUEST(err, "\"stream_options\" must be an object");
			goto out;
		}
		if (json_object_object_get_ex(v, "include_usage", &u)) {
			if (!json_object_is_type(u, json_type_boolean)) {
				BAD_REQUEST(err, "\"include_usage\" must be true or false");
				goto out;
			}
			req->include_usage = json_object_get_boolean(u);
		}
	}
	if (json_object_object_get_ex(root, "n", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
		    json_object_get_int64(v) > 128) {
			BAD_REQUEST(err, "\"n\" must be an integer from 1 to 128");
			goto out;
		}
		req->n = (long)json_object_get_int64(v);
	}
	if (json_object_object_get_ex(root, "stop", &v) && json_stop(req, v, err) == -1)
		goto out;
	json_object_object_get_ex(root, "prompt", &prompt);
	json_object_object_get_ex(root, "system", &system);
	json_object_object_get_ex(root, "messages", &messages);
	if (system != NULL && !json_object_is_type(system, json_type_string)) {
		BAD_REQUEST(err, "\"system\" must be a string");
		goto out;
	}
	if (prompt != NULL && messages != NULL) {
		BAD_REQUEST(err, "give either \"prompt\" or \"messages\", not both");
		goto out;
	}
	if (system != NULL && add_message(req, "system", json_object_get_string(system),
	    (size_t)json_object_get_string_len(system), NULL, err) == -1)
		goto out;
	if (prompt != NULL) {
		if (!json_object_is_type(prompt, json_type_string)) {
			BAD_REQUEST(err, "\"prompt\" must be a string");
			goto out;
		}
		if (add_message(req, "user", json_object_get_string(prompt),
		    (size_t)json_object_get_string_len(prompt), NULL, err) == -1)
			goto out;
	} else if (messages != NULL && json_messages(req, messages, err) == -1)
		goto out;
	rc = finish(req, err);
out:
	return rc;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes one application/x-www-form-urlencoded component into a new string. */
static char *
form_decode(const char *s, size_t len, size_t *outlen)
{
	char *out = malloc(len + 1), *p = out;
	size_t i;

	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (s[i] == '+')
			*p++ = ' ';
		else if (s[i] == '%') {
			int hi, lo;

			if (i + 2 >= len || (hi = hexval((unsigned char)s[i + 1])) < 0 ||
			    (lo = hexval((unsigned char)s[i + 2])) < 0) {
				free(out);
				return NULL;
			}
			*p++ = (char)(hi << 4 | lo);
			i += 2;
		} else
			*p++ = s[i];
	}
	*p = '\0';
	*outlen = (size_t)(p - out);
	return out;
}

static int
parse_form(const char *body, size_t len, struct chat_request *req, struct cs_error *err)
{
	const char *p = body, *end = body + len;
	char *prompt = NULL, *system = NULL;
	size_t prompt_len = 0, system_len = 0;
	int rc = -1;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *eq;
		size_t klen, vlen;
		char *key = NULL, *val = NULL;

		if (amp == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq == NULL)
			eq = amp;
		key = form_decode(p, (size_t)(eq - p), &klen);
		val = form_decode(eq < amp ? eq + 1 : amp, eq < amp ? (size_t)(amp - eq - 1) : 0, &vlen);
		p = amp + 1;
		if (key == NULL || val == NULL) {
			free(key);
			free(val);
			BAD_REQUEST(err, "malformed percent-encoding in the form body");
			goto out;
		}
		if (!utf8_valid(val, vlen)) {
			free(key);
			free(val);
			BAD_REQUEST(err, "form field is not valid UTF-8");
			goto out;
		}
		if (strlen(key) != klen) {
			/* a key holding %00 is no key we know */
		} else if (strcmp(key, "prompt") == 0) {
			free(prompt);
			prompt = val;
			prompt_len = vlen;
			val = NULL;
		} else if (strcmp(key, "system") == 0) {
			free(system);
			system = val;
			system_len = vlen;
			val = NULL;
		} else if (strcmp(key, "model") == 0) {
			if (set_model(req, val, vlen, err) == -1)
				goto bad;
		} else if (strcmp(key, "max_tokens") == 0) {
			uint64_t v;

			/* Digits only: strtoll() would also take " 5" and "+5". */
			if (num_parse(val, vlen, INT64_MAX, &v) == -1) {
				BAD_REQUEST(err, "\"max_tokens\" must be an integer");
				goto bad;
			}
			if (set_max_tokens(req, (long long)v, err) == -1)
				goto bad;
		} else if (strcmp(key, "temperature") == 0) {
			char *e;
			double v = strtod(val, &e);

			if (e == val || (size_t)(e - val) != vlen) {
				BAD_REQUEST(err, "\"temperature\" must be a number");
				goto bad;
			}
			if (set_temperature(req, v, err) == -1)
				goto bad;
		}
		free(key);
		free(val);
		continue;
bad:
		free(key);
		free(val);
		goto out;
	}
	if (system != NULL && add_message(req, "system", system, system_len, NULL, err) == -1)
		goto out;
	if (prompt != NULL && add_message(req, "user", prompt, prompt_len, NULL, err) == -1)
		goto out;
	rc = finish(req, err);
out:
	free(prompt);
	free(system);
	return rc;
}

int
request_parse(enum body_kind kind, const char *body, size_t len, int max_depth,
    struct chat_request *req, struct cs_error *err)
{
	switch (kind) {
	case BODY_JSON:
		return parse_json(body, len, max_depth, req, err);
	case BODY_FORM:
		return parse_form(body, len, req, err);
	case BODY_TEXT:
		if (!utf8_valid(body, len))
			return BAD_REQUEST(err, "the body is not valid UTF-8");
		if (add_message(req, "user", body, len, NULL, err) == -1)
			return -1;
		return finish(req, err);
	}
	return cs_fail(err, 500, "internal_error", "unknown body kind");
}

void
chat_request_free(struct chat_request *req)
{
	size_t i;

	for (i = 0; i < req->nmessages; i++) {
		free(req->messages[i].role);
		free(req->messages[i].content);
	}
	free(req->messages);
	for (i = 0; i < req->nstop; i++)
		free(req->stop[i]);
	free(req->stop);
	free(req->model);
	json_object_put(req->body);
	json_object_put(req->responses);
	memset(req, 0, sizeof(*req));
}

int
chat_request_text_only(const struct chat_request *req, const char *model,
    struct cs_error *err)
{
	if (req->other_param[0] != '\0') {
		cs_fail(err, 400, "invalid_request", "%s is a \"%s\" part: model \"%s\" "
		    "takes text only", req->other_param, req->other_type, model);
		return cs_param(err, req->other_param);
	}
	if (req->n > 1) {
		cs_fail(err, 400, "invalid_request", "model \"%s\" gives one choice: "
		    "\"n\" must be 1", model);
		return cs_param(err, "n");
	}
	return 0;
}

long
chat_request_words(const struct chat_request *req)
{
	long words = 0;
	size_t i, j;

	for (i = 0; i < req->nmessages; i++) {
		int in = 0;

		for (j = 0; j < req->messages[i].content_len; j++) {
			int sp = isspace((unsigned char)req->messages[i].content[j]);

			if (!sp && !in)
				words++;
			in = !sp;
		}
	}
	return words;
}

/* For other request shapes (responses.c): the checks and copies of the chat parser. */
int
request_add_message(struct chat_request *req, const char *role, const char *content,
    size_t len, struct cs_error *err)
{
	return add_message(req, role, content, len, NULL, err);
}

int
request_finish(struct chat_request *req, struct cs_error *err)
{
	return finish(req, err);
}

int
request_add_message_json(struct chat_request *req, const char *role, const char *content,
    size_t len, json_object *json, struct cs_error *err)
{
	return add_message(req, role, content, len, json, err);
}
