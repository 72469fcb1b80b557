/* journal_store.h: what each journal store (file, redis) provides; journal.c calls the configured one. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_JOURNAL_STORE_H
#define CS_JOURNAL_STORE_H

#include "journal.h"

/*
 * One table per store.  Each function has the contract of its journal_*
 * namesake in journal.h; a store's handles begin with the base structs below
 * so journal.c can find the table again.  journal.c checks ids
 * (journal_valid_id) before open and cancel: stores get only valid ones.
 */
struct journal_store {
	const char *name;
	int  (*check)(const struct conf *cf, struct cs_error *err);
	int  (*check_config)(const struct conf *cf, struct cs_error *err);  /* may be NULL */
	int  (*create)(const struct conf *cf, const char *id, const char *owner,
	    const char *model, enum journal_format format, struct journal **out,
	    struct cs_error *err);
	int  (*append)(struct journal *j, uint64_t seq, const char *name,
	    const char *frame, size_t len);
	int  (*flush)(struct journal *j);
	int  (*fd)(struct journal *j);
	void (*tick)(struct journal *j, int64_t now, struct journal_state *st);
	int64_t (*next_tick)(const struct journal *j);
	void (*close)(struct journal *j);
	int  (*open)(const struct conf *cf, const char *id, const char *user,
	    struct journal_reader **out, struct cs_error *err);
	int  (*read)(struct journal_reader *r, uint64_t after, struct buf *out,
	    struct journal_read *res);
	int  (*reader_fd)(struct journal_reader *r);
	void (*reader_close)(struct journal_reader *r);
	int  (*cancel)(const struct conf *cf, const char *id, const char *user,
	    enum journal_stop how, struct cs_error *err);
	int  (*claim_key)(const struct conf *cf, const char *owner, const char *key,
	    const char *id, char *found, struct cs_error *err);
	void (*sweep)(const struct conf *cf);
	void (*sweep_due)(const struct conf *cf, int every);   /* may be NULL */
};

/* The first member of every store's producer and reader handle. */
struct journal {
	const struct journal_store *store;
};
struct journal_reader {
	const struct journal_store *store;
	enum journal_format format;   /* set by the store's open */
};

extern const struct journal_store journal_file_store;
#ifdef HAVE_HIREDIS
extern const struct journal_store journal_redis_store;
#endif

/* Shared by the stores. */
int     journal_valid_id(const char *id);    /* 16..64 of [A-Za-z0-9_-] */
int64_t journal_lease_ms(const struct conf *cf);
int     journal_not_found(struct cs_error *err);
/*
 * Idempotency keys: name gets "k" and 32 hex digits of a hash of owner and
 * key (34 bytes with the NUL); text gets "owner\nkey\nid\n" (cap bytes);
 * key_match() reads such a text back: 1 with found set when it is owner's
 * key, else 0.
 */
#define JOURNAL_KEY_NAME 34
void    journal_key_name(char *name, const char *owner, const char *key);
int     journal_key_text(char *text, size_t cap, const char *owner, const char *key,
    const char *id);
int     journal_key_match(const char *text, const char *owner, const char *key, char *found);
/* 1 when name is an event that ends a stream (done, error). */
int     journal_terminal(const char *name);
/* A format as the stores keep it ("native", "openai"), and back (unknown: native). */
const char *journal_format_name(enum journal_format f);
enum journal_format journal_format_of(const char *name, size_t len);

#endif
