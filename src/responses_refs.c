/* responses_refs.c: item_reference ids resolved to the output items of the caller's earlier responses. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <string.h>

#include <json-c/json.h>

#include "responses.h"
#include "stream.h"

/* The most earlier responses one request may name: each is read from its journal. */
#define REFS_LOADS 16

_Static_assert(sizeof(((struct responses_refs *)0)->id) > STREAM_ID_LEN,
    "responses_refs.id holds a stream id");

void
responses_refs_init(struct responses_refs *r, const struct conf *cf, const char *user)
{
	memset(r, 0, sizeof(*r));
	r->cf = cf;
	r->user = user;
}

void
responses_refs_free(struct responses_refs *r)
{
	json_object_put(r->response);
	r->response = NULL;
}

/*
 * The stream id in an output item's id (msg_<id>, rs_<id>, fc_<id>_<n>)
 * into id (STREAM_ID_LEN + 1 bytes).  Returns 0, or -1 for no such id.
 */
static int
stream_of(const char *item, char *id)
{
	size_t pre, n = strlen(item);

	if (strncmp(item, "msg_", 4) == 0)
		pre = 4;
	else if (strncmp(item, "rs_", 3) == 0 || strncmp(item, "fc_", 3) == 0)
		pre = 3;
	else
		return -1;
	if (n < pre + STREAM_ID_LEN || (item[0] != 'f' && n != pre + STREAM_ID_LEN))
		return -1;
	memcpy(id, item + pre, STREAM_ID_LEN);
	id[STREAM_ID_LEN] = '\0';
	return 0;
}

int
responses_refs_find(void *arg, const char *item, json_object **out, struct cs_error *err)
{
	struct responses_refs *r = arg;
	char id[STREAM_ID_LEN + 1];
	json_object *o, *output;
	struct cs_error e;
	size_t i, n;

	*out = NULL;
	if (r->cf->journal == JOURNAL_OFF || stream_of(item, id) == -1)
		return 0;
	if (r->response == NULL || strcmp(id, r->id) != 0) {
		json_object_put(r->response);
		r->response = NULL;
		if (r->loads++ == REFS_LOADS)
			return cs_fail(err, 400, "invalid_request", "item_reference items may name "
			    "the items of %d earlier responses at most: send the others in full",
			    REFS_LOADS);
		cs_error_clear(&e);
		if (responses_load(r->cf, id, r->user, 0, &o, &e) == -1) {
			if (e.status == 404)
				return 0;   /* unknown, expired, or someone else's */
			if (err != NULL)
				*err = e;
			return -1;
		}
		memcpy(r->id, id, sizeof(id));
		r->response = o;
	}
	if (!json_object_object_get_ex(r->response, "output", &output) ||
	    !json_object_is_type(output, json_type_array))
		return 0;
	for (i = 0, n = json_object_array_length(output); i < n; i++) {
		json_object *it = json_object_array_get_idx(output, i), *v;

		if (json_object_object_get_ex(it, "id", &v) &&
		    json_object_is_type(v, json_type_string) &&
		    strcmp(json_object_get_string(v), item) == 0) {
			*out = json_object_get(it);
			return 0;
		}
	}
	return 0;
}
