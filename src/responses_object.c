/* responses_object.c: the Responses API's response object and its message item, as JSON text. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <string.h>

#include "jsonw.h"
#include "responses.h"

int
responses_item(struct buf *b, const char *id, const char *status, const char *text,
    size_t text_len, int with_content)
{
	if (buf_printf(b, "{\"id\":\"msg_%s\",\"type\":\"message\",\"status\":\"%s\","
	    "\"role\":\"assistant\",\"content\":[", id, status) == -1)
		return -1;
	if (with_content && (buf_adds(b, "{\"type\":\"output_text\",\"text\":\"") == -1 ||
	    buf_add(b, text, text_len) == -1 ||
	    buf_adds(b, "\",\"annotations\":[],\"logprobs\":[]}") == -1))
		return -1;
	return buf_adds(b, "]}");
}

/* A number the request gave, or null. */
static int
add_number(struct buf *b, const char *name, int has, double v)
{
	return has ? buf_printf(b, ",\"%s\":%g", name, v) : buf_printf(b, ",\"%s\":null", name);
}

int
responses_object(struct buf *b, const struct responses_view *v)
{
	const struct responses_req *rr = v->rr;

	if (buf_printf(b, "{\"id\":\"resp_%s\",\"object\":\"response\",\"created_at\":%lld,"
	    "\"status\":\"%s\",\"background\":%s,", v->id, (long long)v->created, v->status,
	    rr != NULL && rr->background ? "true" : "false") == -1)
		return -1;
	if (v->error_code == NULL) {
		if (buf_adds(b, "\"error\":null") == -1)
			return -1;
	} else if (buf_printf(b, "\"error\":{\"code\":\"%s\",\"message\":", v->error_code) == -1 ||
	    jsonw_string(b, v->error_message, strlen(v->error_message)) == -1 ||
	    buf_addc(b, '}') == -1)
		return -1;
	if ((v->incomplete == NULL ? buf_adds(b, ",\"incomplete_details\":null") :
	    buf_printf(b, ",\"incomplete_details\":{\"reason\":\"%s\"}", v->incomplete)) == -1 ||
	    buf_adds(b, ",\"instructions\":null") == -1)
		return -1;
	if ((rr != NULL && rr->max_output_tokens > 0 ?
	    buf_printf(b, ",\"max_output_tokens\":%ld", rr->max_output_tokens) :
	    buf_adds(b, ",\"max_output_tokens\":null")) == -1 ||
	    buf_adds(b, ",\"model\":") == -1 ||
	    jsonw_string(b, v->model, strlen(v->model)) == -1 ||
	    buf_adds(b, ",\"output\":[") == -1 ||
	    (v->text != NULL && responses_item(b, v->id, v->item_status, v->text, v->text_len,
	    1) == -1) ||
	    buf_adds(b, "],\"parallel_tool_calls\":true,\"previous_response_id\":null,"
	    "\"reasoning\":{\"effort\":null,\"summary\":null}") == -1 ||
	    buf_printf(b, ",\"store\":%s", rr == NULL || rr->store ? "true" : "false") == -1 ||
	    add_number(b, "temperature", rr != NULL && rr->has_temperature,
	    rr != NULL ? rr->temperature : 0) == -1 ||
	    buf_adds(b, ",\"text\":{\"format\":{\"type\":\"text\"}},\"tool_choice\":\"auto\","
	    "\"tools\":[]") == -1 ||
	    add_number(b, "top_p", rr != NULL && rr->has_top_p, rr != NULL ? rr->top_p : 0) == -1 ||
	    buf_adds(b, ",\"truncation\":\"disabled\",\"usage\":") == -1)
		return -1;
	if ((v->has_usage ? buf_printf(b, "{\"input_tokens\":%ld,\"input_tokens_details\":"
	    "{\"cached_tokens\":0},\"output_tokens\":%ld,\"output_tokens_details\":"
	    "{\"reasoning_tokens\":0},\"total_tokens\":%ld}", v->input_tokens, v->output_tokens,
	    v->input_tokens + v->output_tokens) : buf_adds(b, "null")) == -1)
		return -1;
	return buf_printf(b, ",\"metadata\":%s}", rr != NULL && rr->metadata != NULL ?
	    rr->metadata : "{}");
}
