/* journal.c: the journal interface, dispatched to the store the configuration names. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "journal_store.h"
#include "metrics.h"

static const struct journal_store *
store_of(const struct conf *cf)
{
	switch (cf->journal) {
#ifdef HAVE_HIREDIS
	case JOURNAL_REDIS:
		return &journal_redis_store;
#endif
	case JOURNAL_FILE:
		return &journal_file_store;
	default:
		return NULL;
	}
}

int
journal_valid_id(const char *id)
{
	size_t i;

	for (i = 0; id[i] != '\0'; i++)
		if (!((id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= 'a' && id[i] <= 'z') ||
		    (id[i] >= '0' && id[i] <= '9') || id[i] == '-' || id[i] == '_'))
			return 0;
	return i >= 16 && i <= 64;
}

int64_t
journal_lease_ms(const struct conf *cf)
{
	return (int64_t)(cf->lease_timeout > 0 ? cf->lease_timeout : 3 * cf->heartbeat) * 1000;
}

int
journal_not_found(struct cs_error *err)
{
	return cs_fail(err, 404, "not_found", "no such stream (unknown, expired, or not yours)");
}

int
journal_terminal(const char *name)
{
	return strcmp(name, "done") == 0 || strcmp(name, "error") == 0;
}

/* FNV-1a, 64 bits, over owner, a NUL and key, from basis. */
static uint64_t
key_hash(uint64_t basis, const char *owner, const char *key)
{
	uint64_t h = basis;
	const unsigned char *p;

	for (p = (const unsigned char *)owner; *p != '\0'; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	h *= 0x100000001b3ULL;
	for (p = (const unsigned char *)key; *p != '\0'; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return h;
}

void
journal_key_name(char *name, const char *owner, const char *key)
{
	/* Not a secret, only a name: the record itself says whose key it is. */
	snprintf(name, JOURNAL_KEY_NAME, "k%016llx%016llx",
	    (unsigned long long)key_hash(0xcbf29ce484222325ULL, owner, key),
	    (unsigned long long)key_hash(0x84222325cbf29ce4ULL, owner, key));
}

int
journal_key_text(char *text, size_t cap, const char *owner, const char *key, const char *id)
{
	int n = snprintf(text, cap, "%s\n%s\n%s\n", owner, key, id);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int
journal_key_match(const char *text, const char *owner, const char *key, char *found)
{
	size_t ol = strlen(owner), kl = strlen(key), il;
	const char *id;

	if (strncmp(text, owner, ol) != 0 || text[ol] != '\n' ||
	    strncmp(text + ol + 1, key, kl) != 0 || text[ol + 1 + kl] != '\n')
		return 0;
	id = text + ol + 1 + kl + 1;
	il = strcspn(id, "\n");
	if (il == 0 || il > JOURNAL_KEY_ID_MAX || id[il] != '\n')
		return 0;
	memcpy(found, id, il);
	found[il] = '\0';
	return journal_valid_id(found);
}

int
journal_claim_key(const struct conf *cf, const char *owner, const char *key,
    const char *id, char *found, struct cs_error *err)
{
	const struct journal_store *s = store_of(cf);

	if (s == NULL || s->claim_key == NULL)
		return cs_fail(err, 404, "not_found", "streams are not kept (journal = off)");
	return s->claim_key(cf, owner != NULL ? owner : "", key, id, found, err);
}

const char *
journal_format_name(enum journal_format f)
{
	return f == JOURNAL_OPENAI ? "openai" : "native";
}

enum journal_format
journal_format_of(const char *name, size_t len)
{
	return len == 6 && memcmp(name, "openai", 6) == 0 ? JOURNAL_OPENAI : JOURNAL_NATIVE;
}

int
journal_check(const struct conf *cf, struct cs_error *err)
{
	const struct journal_store *s = store_of(cf);

	return s != NULL ? s->check(cf, err) : 0;
}

int
journal_check_config(const struct conf *cf, struct cs_error *err)
{
	const struct journal_store *s = store_of(cf);

	return s != NULL && s->check_config != NULL ? s->check_config(cf, err) : 0;
}

int
journal_create(const struct conf *cf, const char *id, const char *owner,
    const char *model, enum journal_format format, struct journal **out,
    struct cs_error *err)
{
	const struct journal_store *s = store_of(cf);

	if (s == NULL)
		return cs_fail(err, 404, "not_found", "streams are not kept (journal = off)");
	return s->create(cf, id, owner, model, format, out, err);
}

int
journal_append(struct journal *j, uint64_t seq, const char *name, const char *frame,
    size_t len)
{
	if (j->store->append(j, seq, name, frame, len) == -1)
		return -1;
	metrics_count(MC_JOURNAL_APPENDS, 1);
	metrics_count(MC_JOURNAL_BYTES, len);
	return 0;
}

int
journal_flush(struct journal *j)
{
	return j->store->flush(j);
}

int
journal_fd(struct journal *j)
{
	return j->store->fd(j);
}

void
journal_tick(struct journal *j, int64_t now, struct journal_state *st)
{
	j->store->tick(j, now, st);
}

int64_t
journal_next_tick(const struct journal *j)
{
	return j->store->next_tick(j);
}

void
journal_close(struct journal *j)
{
	if (j != NULL)
		j->store->close(j);
}

int
journal_open(const struct conf *cf, const char *id, const char *user,
    struct journal_reader **out, struct cs_error *err)
{
	const struct journal_store *s = store_of(cf);

	if (s == NULL)
		return cs_fail(err, 404, "not_found", "streams are not kept (journal = off)");
	if (!journal_valid_id(id))
		return journal_not_found(err);
	return s->open(cf, id, user, out, err);
}

enum journal_format
journal_reader_format(const struct journal_reader *r)
{
	return r->format;
}

int
journal_read(struct journal_reader *r, uint64_t after, struct buf *out,
    struct journal_read *res)
{
	return r->store->read(r, after, out, res);
}

int
journal_reader_fd(struct journal_reader *r)
{
	return r->store->reader_fd(r);
}

void
journal_reader_close(struct journal_reader *r)
{
	if (r != NULL)
		r->store->reader_close(r);
}

int
journal_cancel(const struct conf *cf, const char *id, const char *user,
    enum journal_stop how, struct cs_error *err)
{
	const struct journal_store *s = store_of(cf);

	if (s == NULL)
		return cs_fail(err, 404, "not_found", "streams are not kept (journal = off)");
	if (!journal_valid_id(id))
		return journal_not_found(err);
	return s->cancel(cf, id, user, how, err);
}

void
journal_sweep(const struct conf *cf)
{
	const struct journal_store *s = store_of(cf);

	if (s != NULL && s->sweep != NULL)
		s->sweep(cf);
}

void
journal_sweep_due(const struct conf *cf, int every)
{
	const struct journal_store *s = store_of(cf);

	if (s != NULL && s->sweep_due != NULL)
		s->sweep_due(cf, every);
}
