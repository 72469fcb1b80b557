/* journal.c: the journal interface, dispatched to the store the configuration names. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

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
    const char *model, struct journal **out, struct cs_error *err)
{
	const struct journal_store *s = store_of(cf);

	if (s == NULL)
		return cs_fail(err, 404, "not_found", "streams are not kept (journal = off)");
	return s->create(cf, id, owner, model, out, err);
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
journal_cancel(const struct conf *cf, const char *id, const char *user, struct cs_error *err)
{
	const struct journal_store *s = store_of(cf);

	if (s == NULL)
		return cs_fail(err, 404, "not_found", "streams are not kept (journal = off)");
	if (!journal_valid_id(id))
		return journal_not_found(err);
	return s->cancel(cf, id, user, err);
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
