/* journal.h: a stream's events kept for readers that join late or come back (Last-Event-ID). */
/* SPDX-License-Identifier: ISC */
#ifndef CS_JOURNAL_H
#define CS_JOURNAL_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"
#include "error.h"

/*
 * The producer (the thread generating a stream) appends every event, as the
 * exact SSE bytes a reader gets, and renews a lease while it lives.  Readers,
 * in any process sharing the store, replay the events after a Last-Event-ID
 * and then follow new ones.  The store is chosen by the `journal` setting:
 * `file` (a spool directory shared by the processes of one host,
 * journal_file.c) or `redis` (shared by hosts, journal_redis.c, built when
 * hiredis is found).
 */
struct journal;           /* the producer's handle */
struct journal_reader;    /* one reader's handle */

/* The shape of a stream's events, kept with it so that readers answer in kind. */
enum journal_format {
	JOURNAL_NATIVE,       /* chatstream's events, ending with event: done or error */
	JOURNAL_OPENAI        /* OpenAI's chat.completion.chunk events, ending with data: [DONE] */
};

/* What tick() tells the producer. */
struct journal_state {
	int count_readers;    /* in: the caller needs `readers` (a store may skip it otherwise) */
	int cancel;           /* someone asked to stop the stream (DELETE) */
	int leaving;          /* a reader said it is leaving (DELETE ?leaving) since the last tick */
	int readers;          /* readers other than the producer's own connection */
};

/*
 * Producer.  journal_create() makes the stream known (owner may be "": no
 * owner) with its format; the handle is owned by the caller and released by
 * journal_close(), which marks the stream ended.  All return 0, or -1 with
 * err filled.
 */
int  journal_create(const struct conf *cf, const char *id, const char *owner,
    const char *model, enum journal_format format, struct journal **out,
    struct cs_error *err);
/*
 * Appends one event: seq, its name (meta, message, done, error) and its SSE
 * frame.  The name is the journal's, not the frame's: done and error end the
 * stream for its readers (an OpenAI stream's data: [DONE] is its done).
 * Events are written in batches: journal_flush() writes what is held, and
 * must run before the producer waits (the pump does, before each poll that
 * may block).
 */
int  journal_append(struct journal *j, uint64_t seq, const char *name,
    const char *frame, size_t len);
int  journal_flush(struct journal *j);
/* An fd that becomes readable when a cancel may have been requested; -1: tick does it. */
int  journal_fd(struct journal *j);
/* Renews the lease when due, reads cancel requests and the reader count. */
void journal_tick(struct journal *j, int64_t now, struct journal_state *st);
/* When tick() must run next (monotonic ms). */
int64_t journal_next_tick(const struct journal *j);
void journal_close(struct journal *j);

/*
 * Readers.  journal_open() finds stream id for user (NULL or "" when the
 * front server authenticated nobody); unknown, expired or someone else's →
 * -1 with err 404.  The reader counts as one while it is open.
 */
int  journal_open(const struct conf *cf, const char *id, const char *user,
    struct journal_reader **out, struct cs_error *err);
/* The format the stream was created with (JOURNAL_NATIVE when its record names none). */
enum journal_format journal_reader_format(const struct journal_reader *r);

/* What a read found. */
struct journal_read {
	uint64_t last_seq;    /* the last event id appended to out (or `after`) */
	int finished;         /* a done or error event was read: nothing will follow */
	int lost;             /* events after `after` are no longer kept */
	int interrupted;      /* not finished, and the producer's lease ran out */
	int more;             /* out filled up: more is there to read at once */
};

/*
 * Appends to out the frames of the events after `after` that have been
 * journaled since the last call (out is capped by its creator; the read
 * stops early when it is full and goes on next time).  Returns 0 or -1.
 */
int  journal_read(struct journal_reader *r, uint64_t after, struct buf *out,
    struct journal_read *res);
/* An fd that becomes readable when the stream may have changed; -1: poll often. */
int  journal_reader_fd(struct journal_reader *r);
void journal_reader_close(struct journal_reader *r);

/* How journal_cancel() asks a stream to stop. */
enum journal_stop {
	JOURNAL_STOP_NOW,     /* at once (DELETE) */
	JOURNAL_STOP_LEAVING  /* a reader leaves: stop unless one is back within leave_window */
};

/* Asks the producer of stream id to stop. 404 as journal_open(); 0 when asked. */
int  journal_cancel(const struct conf *cf, const char *id, const char *user,
    enum journal_stop how, struct cs_error *err);

/*
 * Idempotency-Key: records that owner's ("" for nobody) key names stream
 * id, unless the key names a stream already: then copies that stream's id
 * into found (JOURNAL_KEY_ID_MAX + 1 bytes) and returns 1.  Returns 0 when
 * recorded, -1 with err filled when the store failed.  The record is kept
 * as long as its stream's journal (file) or ten journal_ttl (redis).
 */
#define JOURNAL_KEY_ID_MAX 64
int  journal_claim_key(const struct conf *cf, const char *owner, const char *key,
    const char *id, char *found, struct cs_error *err);

/* Removes what has outlived journal_ttl. Safe to run from any process at any time. */
void journal_sweep(const struct conf *cf);
/*
 * journal_sweep(), unless any process sharing the store began one less than
 * `every` seconds ago or is sweeping now: for CGI mode, where no process
 * lives long enough to sweep on a timer, so requests take turns.
 */
void journal_sweep_due(const struct conf *cf, int every);

/*
 * Checks that the store is usable, at start-up: the file store makes its
 * spool directory when missing and opens it.  A spool that is not this
 * user's alone (another owner, group or other permissions, a symlink, not a
 * directory) fails with err->type SPOOL_UNSAFE ("unsafe_spool"): chatstream
 * must not run with it.
 */
int  journal_check(const struct conf *cf, struct cs_error *err);
/* The same for --check-config, making nothing: a spool yet to be made passes. */
int  journal_check_config(const struct conf *cf, struct cs_error *err);

#endif
