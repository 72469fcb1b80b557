/*
 * fuzz_request.c: request bodies (JSON, form, text) and the Content-Type
 * check.  A body is either refused with a 400 of type invalid_json or
 * invalid_request, or gives a request whose every field keeps its
 * documented promises (request.h, backend.h).
 *
 * Input: a byte choosing the body kind (or, when 3 mod 4, a Content-Type
 * header to classify) and the JSON depth limit, then the body.
 */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "request.h"
#include "utf8.h"

static void
check_request(const struct chat_request *req)
{
	size_t i;
	int prompt_found = 0, prompt_media = 0;

	FUZZ_CHECK(req->nmessages >= 1 && req->messages != NULL, "no message");
	for (i = 0; i < req->nmessages; i++) {
		const struct chat_message *m = &req->messages[i];

		FUZZ_CHECK(strcmp(m->role, "system") == 0 || strcmp(m->role, "user") == 0 ||
		    strcmp(m->role, "assistant") == 0 || strcmp(m->role, "tool") == 0,
		    "a role other than system, user, assistant, tool");
		FUZZ_CHECK(m->other_parts == 0 || req->other_param[0] != '\0',
		    "a part that is not text, not noted");
		FUZZ_CHECK(m->content[m->content_len] == '\0', "content not NUL-terminated");
		FUZZ_CHECK(utf8_valid(m->content, m->content_len), "content not valid UTF-8");
		if (req->prompt == m->content && strcmp(m->role, "user") == 0) {
			prompt_found = 1;
			prompt_media = m->other_parts > 0;
		}
	}
	FUZZ_CHECK(prompt_found, "the prompt is not a user message");
	/* An image (or a sound, a file) alone is a prompt. */
	FUZZ_CHECK(req->prompt_len > 0 || prompt_media, "an empty prompt");
	FUZZ_CHECK(req->n >= 0 && req->n <= 128, "n out of range");
	FUZZ_CHECK(req->model == NULL || (strlen(req->model) > 0 && strlen(req->model) <= 128 &&
	    utf8_valid(req->model, strlen(req->model))), "a bad model name");
	FUZZ_CHECK(req->max_tokens >= 0 && req->max_tokens <= 1000000, "max_tokens out of range");
	FUZZ_CHECK(!req->has_temperature || (isfinite(req->temperature) &&
	    req->temperature >= 0 && req->temperature <= 2), "temperature out of range");
	FUZZ_CHECK(req->nstop <= 4, "more than 4 stop sequences");
	for (i = 0; i < req->nstop; i++)
		FUZZ_CHECK(strlen(req->stop[i]) >= 1 && strlen(req->stop[i]) <= 256,
		    "a stop sequence of the wrong size");
	FUZZ_CHECK(chat_request_words(req) >= 1 || prompt_media, "a prompt without a word");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned how = fuzz_byte(&in);
	struct chat_request req;
	struct cs_error err;
	enum body_kind kind;

	cs_error_clear(&err);
	if (how % 4 == 3) {
		char ct[512];
		size_t n = in.n < sizeof(ct) - 1 ? in.n : sizeof(ct) - 1;

		memcpy(ct, in.p, n);
		ct[n] = '\0';
		if (request_body_kind(ct, &kind, &err) == 0)
			FUZZ_CHECK(kind == BODY_JSON || kind == BODY_FORM || kind == BODY_TEXT,
			    "an unknown body kind");
		else
			FUZZ_CHECK(err.status == 415, "a refused Content-Type that is not a 415");
		return 0;
	}
	memset(&req, 0, sizeof(req));
	kind = how % 4 == 0 ? BODY_JSON : how % 4 == 1 ? BODY_FORM : BODY_TEXT;
	if (request_parse(kind, (const char *)in.p, in.n, 1 + (int)(how >> 2) % 64, &req,
	    &err) == 0)
		check_request(&req);
	else
		FUZZ_CHECK(err.status == 400 && (strcmp(err.type, "invalid_json") == 0 ||
		    strcmp(err.type, "invalid_request") == 0), "a refusal that is not a 400");
	chat_request_free(&req);
	return 0;
}
