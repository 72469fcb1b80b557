/* journal_redis.c: the Redis journal: Redis Streams shared by chatstream processes on many hosts. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "clock.h"
#include "journal_store.h"
#include "log.h"
#include "num.h"
#include "redis_conn.h"
#include "stream.h"

/*
 * Keys, for stream <id> under the configured prefix <p>:
 *   <p><id>          hash: owner, model, created, format (native, openai;
 *                    none from an older version: native); ended and last
 *                    (the last seq) once the producer is done; cancel set
 *                    by a DELETE; leave counted up by each DELETE ?leaving
 *                    (a reader leaves)
 *   <p><id>:events   stream: entry <seq>-0 with fields n (the event's name)
 *                    and f (its SSE frame, exactly as a reader gets it)
 *   <p><id>:lease    the producer's lease: renewed with PX while it lives
 *   <p><id>:readers  sorted set: one member per reader, scored with the
 *                    wall-clock ms until which it counts (renewed by it)
 * Expiry does the sweeping: the events live journal_ttl after the end (or
 * after the last lease renewal of a producer that died), the hash ten times
 * as long so that a late resume learns its history is gone instead of
 * getting a 404.
 *
 * The byte cap works as in the file journal: past journal_max_bytes only the
 * terminal event is added.  Readers see the missing seqs as a gap and report
 * history_lost, which also covers events lost while Redis was unreachable.
 * There is no MAXLEN: trimming the head would drop the start of the answer
 * while keeping its end, the reverse of what a resuming reader needs.
 *
 * Each producer and each reader holds one connection while it lives
 * (readers block in XREAD on theirs), taken from and given back to a small
 * per-process pool of idle ones, which also serves one-off commands
 * (DELETE).  A producer whose connection breaks goes on serving its direct
 * reader; its ticks reconnect, every second at first, then ever less often
 * up to every 30 s,
 * so an unreachable Redis never holds up an event.  What Redis refuses is
 * not lost silently: a refused XADD is a gap (history_lost), a refused hash
 * or lease is sent again at the next tick, a stream Redis refuses to create
 * is a 503.  Readers are counted in Redis' clock (TIME), not the hosts'.
 */

#define POLL_MS 250            /* the producer looks for a cancel this often */
#define RECONNECT_MS 1000      /* a producer first retries an unreachable Redis after this, */
#define RECONNECT_STEADY 5     /* this many times, */
#define RECONNECT_MAX_MS 30000 /* then ever less often, up to this */
#define BATCH_COMMANDS 64      /* appended events sent without waiting for a flush */
#define BATCH_BYTES (32 * 1024) /* or this many bytes of them */
#define WANT_MAX 256           /* replies a producer may owe (a power of two) */
#define READ_COUNT 64          /* entries per XREAD */

struct keys {
	char meta[160], events[168], lease[168], readers[168];
};

struct redis_journal {
	struct journal base;
	const struct conf *cf;
	redisContext *rc;          /* NULL while Redis is unreachable */
	struct keys k;
	char *owner, *model;       /* owned */
	enum journal_format format;
	char xadd_head[224];       /* "XADD <events>" in RESP: the start of every append */
	struct buf batch;          /* XADDs in RESP since the last flush */
	int batched;               /* how many */
	unsigned char want[WANT_MAX];      /* what each reply owed is for (enum want) */
	unsigned want_head, want_tail;
	int events_expire;         /* the events key exists and needs its expiry set */
	size_t bytes;
	int overflowed, cancel, readers;
	long long leaves;          /* the leave count last seen */
	int leaving;               /* it grew since the last tick */
	int meta_failed;           /* Redis refused the hash or the lease: send them again */
	uint64_t last_seq;
	int64_t skew;              /* Redis' clock minus ours, ms */
	int64_t next_tick, next_lease, next_connect, backoff;
	int failures;              /* reconnects failed in a row */
};

struct redis_reader {
	struct journal_reader base;
	const struct conf *cf;
	redisContext *rc;
	struct keys k;
	char member[STREAM_ID_LEN + 1];  /* this reader in the readers set: random */
	redisReply *reply;         /* the last XREAD's reply, being handed out */
	const redisReply *entries; /* its entries */
	size_t next;               /* the next entry to hand out */
	uint64_t seen;             /* XREAD goes on after this seq */
	int64_t skew;              /* Redis' clock minus ours, ms */
	int started, inflight, finished, lost, interrupted;
	int fresh;                 /* handing out a BLOCK's entries: block again at once */
	int broken;                /* a command failed: the connection is not reused */
	int64_t next_check;        /* renew the membership, look at the lease */
};

static void
make_keys(struct keys *k, const char *prefix, const char *id)
{
	snprintf(k->meta, sizeof(k->meta), "%.80s%s", prefix, id);
	snprintf(k->events, sizeof(k->events), "%s:events", k->meta);
	snprintf(k->lease, sizeof(k->lease), "%s:lease", k->meta);
	snprintf(k->readers, sizeof(k->readers), "%s:readers", k->meta);
}

static int
unavailable(struct cs_error *err)
{
	return cs_fail(err, 503, "journal_unavailable", "the stream store (Redis) is unreachable");
}

/* The seq of an entry id as chatstream writes them, "<seq>-0"; -1 for any other. */
static int
entry_seq(const redisReply *id, uint64_t *seq)
{
	if (id->type != REDIS_REPLY_STRING || id->len < 3 ||
	    memcmp(id->str + id->len - 2, "-0", 2) != 0)
		return -1;
	return num_parse(id->str, id->len - 2, UINT64_MAX, seq);
}

static int
redis_check(const struct conf *cf, struct cs_error *err)
{
	char host[256];
	redisContext *rc;
	int port;

	if (redis_conn_address(cf->redis_address, host, sizeof(host), &port) == -1)
		return cs_fail(err, 500, "config", "redis_address \"%s\": expected host:port, "
		    "[v6]:port or a socket path", cf->redis_address);
	if ((rc = redis_conn_take(cf)) == NULL)
		log_warnx("journal: redis %s is unreachable for now; streams are not resumable "
		    "until it is back", cf->redis_address);
	redis_conn_put(rc, 1);
	return 0;
}

/* ---- the producer ---- */

/*
 * The producer never waits for Redis on an event: a flush writes the batch
 * and goes on; replies are read as they arrive (at the next flush, or at a
 * tick, which does wait).  `want` remembers what each awaited reply is for.
 */
enum want {
	W_IGNORE,       /* an XADD: one refused is a gap, which readers are told of */
	W_META,         /* the hash, its expiry, the lease: refused, they are sent again */
	W_EXPIRE,       /* the events' expiry: refused, it is set again */
	W_CANCEL,       /* HGET cancel */
	W_LEAVE,        /* HGET leave */
	W_READERS,      /* ZCOUNT of the readers */
	W_TIME          /* TIME */
};

static void
producer_broken(struct redis_journal *j)
{
	log_warnx("journal: redis %s: %s; stream events are not kept until it is back",
	    j->cf->redis_address, j->rc->err ? j->rc->errstr : "connection lost");
	redisFree(j->rc);
	j->rc = NULL;
	j->want_head = j->want_tail = 0;
	buf_reset(&j->batch);
	j->batched = 0;
	j->backoff = RECONNECT_MS;
	j->next_connect = clock_ms() + j->backoff;
}

/* Notes that the command just appended has a reply to read, and what it means. */
static void
await(struct redis_journal *j, enum want w)
{
	j->want[j->want_tail++ % WANT_MAX] = (unsigned char)w;
}

/* Appends a command whose reply means w; one that could not be appended owes none. */
static void
cmd(struct redis_journal *j, enum want w, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = redisvAppendCommand(j->rc, fmt, ap);
	va_end(ap);
	if (rc == REDIS_OK)
		await(j, w);
	else if (w == W_META)
		j->meta_failed = 1;
	else if (w == W_EXPIRE)
		j->events_expire = 1;
}

static void
take_reply(struct redis_journal *j, redisReply *r)
{
	switch (j->want[j->want_head++ % WANT_MAX]) {
	case W_CANCEL:
		if (r->type == REDIS_REPLY_STRING) {
			j->cancel = 1;
			j->next_tick = clock_ms();
		}
		break;
	case W_LEAVE: {
		long long n = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;

		if (n > j->leaves)
			j->leaving = 1;
		j->leaves = n;
		break;
	}
	case W_READERS:
		if (r->type == REDIS_REPLY_INTEGER)
			j->readers = (int)r->integer;
		break;
	case W_TIME:
		j->skew = redis_conn_skew(r, j->skew);
		break;
	case W_META:
		/* e.g. -LOADING after a restart, -OOM, -READONLY: try again at the next tick */
		if (r->type == REDIS_REPLY_ERROR) {
			log_warnx("journal: redis: %s", r->str);
			j->meta_failed = 1;
		}
		break;
	case W_EXPIRE:
		if (r->type == REDIS_REPLY_ERROR) {
			log_warnx("journal: redis: %s", r->str);
			j->events_expire = 1;
		}
		break;
	default:
		if (r->type == REDIS_REPLY_ERROR)
			log_warnx("journal: redis: %s", r->str);
		break;
	}
	freeReplyObject(r);
}

/*
 * Writes what is appended, then reads the replies that have come (all of
 * them when `wait`).  0, or -1 when the connection broke (then closed).
 */
static int
producer_sync(struct redis_journal *j, int wait)
{
	int done = 0;
	void *r;

	while (!done)
		if (redisBufferWrite(j->rc, &done) != REDIS_OK)
			goto broken;
	while (j->want_head != j->want_tail) {
		r = NULL;
		if (redisGetReplyFromReader(j->rc, &r) != REDIS_OK)
			goto broken;
		if (r == NULL) {
			struct pollfd p = { .fd = j->rc->fd, .events = POLLIN };

			if (!wait && poll(&p, 1, 0) <= 0)
				return 0;       /* the rest later */
			if (redisBufferRead(j->rc) != REDIS_OK)
				goto broken;
			continue;
		}
		take_reply(j, r);
	}
	return 0;
broken:
	producer_broken(j);
	return -1;
}

/* Queues the stream's hash and lease. */
static void
send_meta(struct redis_journal *j)
{
	int64_t lease = journal_lease_ms(j->cf);

	j->meta_failed = 0;
	cmd(j, W_META, "HSET %s owner %s model %s created %lld format %s", j->k.meta,
	    j->owner, j->model, (long long)time(NULL), journal_format_name(j->format));
	cmd(j, W_META, "PEXPIRE %s %lld", j->k.meta,
	    (long long)(10LL * j->cf->journal_ttl * 1000 + lease));
	cmd(j, W_META, "SET %s 1 PX %lld", j->k.lease, (long long)lease);
}

/* Connects (again) when the time has come. 0 when connected. */
static int
producer_connect(struct redis_journal *j)
{
	if (j->rc != NULL)
		return 0;
	if (clock_ms() < j->next_connect)
		return -1;
	if ((j->rc = redis_conn_open(j->cf)) == NULL) {
		/* A restart takes seconds: every second for a while, then less often. */
		if (++j->failures > RECONNECT_STEADY)
			j->backoff = j->backoff * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS :
			    j->backoff * 2;
		j->next_connect = clock_ms() + j->backoff;
		return -1;
	}
	j->failures = 0;
	j->backoff = RECONNECT_MS;
	/* Redis may have restarted empty: the stream must be findable again. */
	send_meta(j);
	j->events_expire = 1;
	log_info("journal: redis %s reachable again", j->cf->redis_address);
	return 0;
}

static int
redis_flush(struct journal *base)
{
	struct redis_journal *j = (struct redis_journal *)base;

	if (j->rc == NULL || j->batched == 0)
		return 0;
	/* The batch is RESP already: one append, no formatting per event. */
	if (redisAppendFormattedCommand(j->rc, j->batch.data, j->batch.len) != REDIS_OK)
		return -1;
	for (; j->batched > 0; j->batched--)
		await(j, W_IGNORE);
	buf_reset(&j->batch);
	if (j->events_expire) {
		cmd(j, W_EXPIRE, "PEXPIRE %s %lld", j->k.events,
		    (long long)(j->cf->journal_ttl * 1000LL + journal_lease_ms(j->cf)));
		j->events_expire = 0;
	}
	/* Never more replies owed than `want` can remember.  (A cancel is the tick's to see.) */
	return producer_sync(j, (j->want_tail - j->want_head) > WANT_MAX / 2);
}

/* Adds `$<len>\r\n<s>\r\n`, a RESP bulk string. */
static int
bulk(struct buf *b, const char *s, size_t len)
{
	return buf_addc(b, '$') == -1 || buf_add_u64(b, len) == -1 ||
	    buf_add(b, "\r\n", 2) == -1 || buf_add(b, s, len) == -1 ||
	    buf_add(b, "\r\n", 2) == -1 ? -1 : 0;
}

static int
redis_append(struct journal *base, uint64_t seq, const char *name, const char *frame,
    size_t len)
{
	struct redis_journal *j = (struct redis_journal *)base;
	int terminal = journal_terminal(name);
	char idtext[32];
	struct buf id = { idtext, 0, sizeof(idtext), sizeof(idtext) };
	size_t mark;

	j->last_seq = seq;
	/* Past the cap only the end is kept; readers see the gap as history_lost. */
	if (!terminal && (j->overflowed || j->bytes + len > j->cf->journal_max_bytes)) {
		j->overflowed = 1;
		return 0;
	}
	/* Reconnecting is the tick's work, never an event's: a lost event is a gap. */
	if (j->rc == NULL)
		return -1;
	if (j->batch.len > 0 && j->batch.len + len > BATCH_BYTES && redis_flush(base) == -1)
		return -1;
	mark = j->batch.len;
	/* XADD <events> <seq>-0 n <name> f <frame> */
	if (buf_add_u64(&id, seq) == -1 || buf_add(&id, "-0", 2) == -1 ||
	    buf_add(&j->batch, j->xadd_head, strlen(j->xadd_head)) == -1 ||
	    bulk(&j->batch, id.data, id.len) == -1 ||
	    buf_add(&j->batch, "$1\r\nn\r\n", 7) == -1 ||
	    bulk(&j->batch, name, strlen(name)) == -1 ||
	    buf_add(&j->batch, "$1\r\nf\r\n", 7) == -1 ||
	    bulk(&j->batch, frame, len) == -1) {
		j->batch.len = mark;    /* no half command may reach Redis */
		log_warnx("journal: an event larger than max_event");
		return -1;
	}
	if (j->bytes == 0)
		j->events_expire = 1;
	j->bytes += len;
	return ++j->batched >= BATCH_COMMANDS ? redis_flush(base) : 0;
}

static int
redis_fd(struct journal *base)
{
	(void)base;
	return -1;      /* cancels are polled: see POLL_MS */
}

static int64_t
redis_next_tick(const struct journal *base)
{
	return ((const struct redis_journal *)base)->next_tick;
}

static void
redis_tick(struct journal *base, int64_t now, struct journal_state *st)
{
	struct redis_journal *j = (struct redis_journal *)base;
	int64_t lease = journal_lease_ms(j->cf);

	j->next_tick = now + POLL_MS;
	if (producer_connect(j) == 0 && redis_flush(base) == 0 && j->rc != NULL) {
		if (j->meta_failed) {
			send_meta(j);
			j->events_expire = 1;
		}
		cmd(j, W_CANCEL, "HGET %s cancel", j->k.meta);
		cmd(j, W_LEAVE, "HGET %s leave", j->k.meta);
		/* Readers' memberships are in Redis' time: hosts' clocks may differ. */
		cmd(j, W_READERS, "ZCOUNT %s %lld +inf", j->k.readers,
		    (long long)(clock_wall_ms() + j->skew));
		cmd(j, W_TIME, "TIME");
		if (now >= j->next_lease) {
			cmd(j, W_META, "SET %s 1 PX %lld", j->k.lease, (long long)lease);
			cmd(j, W_META, "PEXPIRE %s %lld", j->k.meta,
			    (long long)(10LL * j->cf->journal_ttl * 1000 + lease));
			cmd(j, W_EXPIRE, "PEXPIRE %s %lld", j->k.events,
			    (long long)(j->cf->journal_ttl * 1000LL + lease));
			j->next_lease = now + lease / 3;
		}
		producer_sync(j, 1);
	}
	st->cancel = j->cancel;
	st->readers = j->readers;
	st->leaving = j->leaving;
	j->leaving = 0;
}

static void
redis_close(struct journal *base)
{
	struct redis_journal *j = (struct redis_journal *)base;

	j->next_connect = 0;
	if (producer_connect(j) == 0 && redis_flush(base) == 0 && j->rc != NULL) {
		cmd(j, W_IGNORE, "HSET %s ended 1 last %" PRIu64, j->k.meta, j->last_seq);
		cmd(j, W_IGNORE, "PEXPIRE %s %lld", j->k.events,
		    (long long)j->cf->journal_ttl * 1000);
		cmd(j, W_IGNORE, "PEXPIRE %s %lld", j->k.meta,
		    10LL * j->cf->journal_ttl * 1000);
		cmd(j, W_IGNORE, "DEL %s", j->k.lease);
		if (producer_sync(j, 1) == -1)
			log_warnx("journal: redis: could not mark a stream ended");
	}
	/* Back to the pool only with no reply still owed on it. */
	redis_conn_put(j->rc, j->rc != NULL && j->want_head == j->want_tail);
	buf_free(&j->batch);
	free(j->owner);
	free(j->model);
	free(j);
}

static int
redis_create(const struct conf *cf, const char *id, const char *owner,
    const char *model, enum journal_format format, struct journal **out,
    struct cs_error *err)
{
	struct redis_journal *j;
	int attempt;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return cs_fail(err, 503, "overloaded", "out of memory");
	j->base.store = &journal_redis_store;
	j->cf = cf;
	j->format = format;
	make_keys(&j->k, cf->redis_prefix, id);
	snprintf(j->xadd_head, sizeof(j->xadd_head), "*7\r\n$4\r\nXADD\r\n$%zu\r\n%s\r\n",
	    strlen(j->k.events), j->k.events);
	buf_init(&j->batch, cf->max_event + BATCH_BYTES);
	j->backoff = RECONNECT_MS;
	if ((j->owner = strdup(owner != NULL ? owner : "")) == NULL ||
	    (j->model = strdup(model)) == NULL)
		goto fail;
	/* A pooled connection may be stale (Redis restarted): then one fresh try. */
	for (attempt = 0; attempt < 2; attempt++) {
		if ((j->rc = attempt == 0 ? redis_conn_take(cf) : redis_conn_open(cf)) == NULL)
			break;
		send_meta(j);
		cmd(j, W_TIME, "TIME");
		if (producer_sync(j, 1) == 0)
			break;
	}
	if (j->rc == NULL || j->meta_failed) {
		/* Unreachable, or it refused the stream (-LOADING, -OOM, -READONLY, -NOPERM). */
		redis_conn_put(j->rc, j->rc != NULL);
		goto fail;
	}
	j->next_tick = clock_ms() + POLL_MS;
	j->next_lease = clock_ms() + journal_lease_ms(cf) / 3;
	*out = &j->base;
	return 0;
fail:
	buf_free(&j->batch);
	free(j->owner);
	free(j->model);
	free(j);
	return unavailable(err);
}

/* ---- readers ---- */

/* Field `name` of a hash reply in HMGET order i; NULL when absent. */
static const char *
field(const redisReply *r, size_t i)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
	    r->element[i]->type != REDIS_REPLY_STRING)
		return NULL;
	return r->element[i]->str;
}

static void
reader_drop_reply(struct redis_reader *r)
{
	freeReplyObject(r->reply);
	r->reply = NULL;
	r->entries = NULL;
	r->next = 0;
}

/* Keeps an XREAD reply to hand out; a nil reply (nothing new) is freed. */
static void
reader_take(struct redis_reader *r, redisReply *reply)
{
	const redisReply *s;

	reader_drop_reply(r);
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
	    (s = reply->element[0])->type != REDIS_REPLY_ARRAY || s->elements < 2 ||
	    s->element[1]->type != REDIS_REPLY_ARRAY || s->element[1]->elements == 0) {
		freeReplyObject(reply);
		return;
	}
	r->reply = reply;
	r->entries = s->element[1];
	{
		const redisReply *last = r->entries->element[r->entries->elements - 1];

		uint64_t seq;

		/* Not one of ours: handing it out refuses it. */
		if (last->type == REDIS_REPLY_ARRAY && last->elements == 2 &&
		    entry_seq(last->element[0], &seq) == 0)
			r->seen = seq;
	}
}

static int64_t
check_ms(const struct conf *cf)
{
	int64_t c = journal_lease_ms(cf) / 3;

	return c < 200 ? 200 : c;
}

/*
 * The reader's regular look, in one round trip: is the stream ended (and at
 * which seq), is the lease alive; renew this reader; what comes after seen.
 * Asked in that order so that "ended" means XREAD has seen every event.
 */
static int
reader_poll(struct redis_reader *r, uint64_t after)
{
	int64_t lease = journal_lease_ms(r->cf);
	redisReply *time = NULL, *meta = NULL, *alive = NULL, *x = NULL;
	int rc = -1;

	/* A failed command leaves replies unread: the caller then drops the connection. */
	redisAppendCommand(r->rc, "TIME");
	redisAppendCommand(r->rc, "HMGET %s ended last owner", r->k.meta);
	redisAppendCommand(r->rc, "EXISTS %s", r->k.lease);
	/* The membership is in Redis' time (see redis_tick), as of the last look. */
	redisAppendCommand(r->rc, "ZADD %s %lld %s", r->k.readers,
	    (long long)(clock_wall_ms() + r->skew + lease), r->member);
	redisAppendCommand(r->rc, "PEXPIRE %s %lld", r->k.readers, (long long)(2 * lease));
	redisAppendCommand(r->rc, "XREAD COUNT %d STREAMS %s %" PRIu64 "-0", READ_COUNT,
	    r->k.events, r->seen);
	if (redis_conn_reply(r->rc, &time) != 0 || redis_conn_reply(r->rc, &meta) != 0 ||
	    redis_conn_reply(r->rc, &alive) != 0 || redis_conn_skip(r->rc, 2) != 0 ||
	    redis_conn_reply(r->rc, &x) != 0)
		goto out;
	r->skew = redis_conn_skew(time, r->skew);
	r->next_check = clock_ms() + check_ms(r->cf);
	reader_take(r, x);
	x = NULL;
	rc = 0;
	if (r->entries != NULL)
		goto out;                       /* more to hand out */
	if (field(meta, 0) != NULL) {
		const char *last = field(meta, 1);
		uint64_t n;

		/*
		 * Ended, and nothing comes after `after`: done, unless it was
		 * expired (or its last seq is not a number: nothing to vouch for).
		 */
		if (last != NULL && (num_parse(last, strlen(last), UINT64_MAX, &n) == -1 ||
		    n > after))
			r->lost = 1;
		else
			r->finished = 1;
	} else if (field(meta, 2) == NULL)
		r->lost = 1;                    /* the stream's keys have expired */
	else if (alive->type == REDIS_REPLY_INTEGER && alive->integer == 0)
		r->interrupted = 1;
out:
	freeReplyObject(time);
	freeReplyObject(meta);
	freeReplyObject(alive);
	freeReplyObject(x);
	return rc;
}

/* Sends XREAD BLOCK without waiting; its reply makes the connection readable. */
static int
reader_block(struct redis_reader *r)
{
	int done = 0;

	if (redisAppendCommand(r->rc, "XREAD BLOCK %lld COUNT %d STREAMS %s %" PRIu64 "-0",
	    (long long)check_ms(r->cf), READ_COUNT, r->k.events, r->seen) != REDIS_OK)
		return -1;
	while (!done)
		if (redisBufferWrite(r->rc, &done) != REDIS_OK)
			return -1;
	r->inflight = 1;
	return 0;
}

/* The reply to XREAD BLOCK if it has come: 1 with *out set, 0 not yet, -1 on failure. */
static int
reader_collect(struct redis_reader *r, redisReply **out)
{
	struct pollfd p = { .fd = r->rc->fd, .events = POLLIN };
	void *reply = NULL;

	if (redisGetReplyFromReader(r->rc, &reply) != REDIS_OK)
		return -1;
	if (reply == NULL) {
		if (poll(&p, 1, 0) <= 0)
			return 0;
		if (redisBufferRead(r->rc) != REDIS_OK ||
		    redisGetReplyFromReader(r->rc, &reply) != REDIS_OK)
			return -1;
		if (reply == NULL)
			return 0;               /* part of it: the rest wakes us again */
	}
	r->inflight = 0;
	if (((redisReply *)reply)->type == REDIS_REPLY_ERROR) {
		/* e.g. -UNBLOCKED after a failover */
		log_warnx("journal: redis: %s", ((redisReply *)reply)->str);
		freeReplyObject(reply);
		return -1;
	}
	*out = reply;
	return 1;
}

static int
read_entries(struct redis_reader *r, uint64_t after, struct buf *out,
    struct journal_read *res)
{
	size_t start = out->len;
	redisReply *reply;
	int rc;

	memset(res, 0, sizeof(*res));
	res->last_seq = after;
	if (!r->started) {
		r->started = 1;
		r->seen = after;
	}
	for (;;) {
		/* Hand out what the last XREAD brought. */
		while (r->entries != NULL && r->next < r->entries->elements) {
			const redisReply *e = r->entries->element[r->next];
			const char *name;
			const redisReply *frame;
			uint64_t seq;

			/* [id, [n, name, f, frame]], all strings: anything else is not ours. */
			if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
			    entry_seq(e->element[0], &seq) == -1 ||
			    e->element[1]->type != REDIS_REPLY_ARRAY || e->element[1]->elements != 4 ||
			    e->element[1]->element[1]->type != REDIS_REPLY_STRING ||
			    e->element[1]->element[3]->type != REDIS_REPLY_STRING) {
				log_warnx("journal: redis: an entry of %s is not chatstream's", r->k.events);
				return -1;
			}
			name = e->element[1]->element[1]->str;
			frame = e->element[1]->element[3];
			if (seq <= res->last_seq) {
				r->next++;
				continue;
			}
			if (seq != res->last_seq + 1) {
				/* A gap: the cap, or Redis was away while these were made. */
				r->lost = 1;
				break;
			}
			if (out->len + frame->len > out->cap) {
				res->more = 1;
				return 0;
			}
			buf_add(out, frame->str, frame->len);
			res->last_seq = seq;
			r->next++;
			if (journal_terminal(name)) {
				r->finished = 1;
				break;
			}
		}
		if (r->lost || r->finished || r->interrupted) {
			reader_drop_reply(r);
			res->lost = r->lost;
			res->finished = r->finished || r->lost;
			res->interrupted = r->interrupted;
			return 0;
		}
		reader_drop_reply(r);
		if (!r->inflight && !r->fresh && out->len > start) {
			/* Replaying: let the caller send this batch before the next is read. */
			res->more = 1;
			return 0;
		}
		if (r->inflight) {
			if ((rc = reader_collect(r, &reply)) == -1)
				return -1;
			if (rc == 0)
				return 0;               /* nothing yet: poll the fd */
			reader_take(r, reply);
			if (r->entries != NULL) {
				r->fresh = 1;
				continue;
			}
			/* BLOCK timed out: time for the regular look. */
		} else if (r->fresh && clock_ms() < r->next_check) {
			/* Following live: one round trip per batch, not two. */
			r->fresh = 0;
			return reader_block(r);
		}
		r->fresh = 0;
		if (reader_poll(r, res->last_seq) == -1)
			return -1;
		if (r->entries != NULL || r->lost || r->finished || r->interrupted)
			continue;
		/* Caught up with a live stream: wait in Redis for what comes next. */
		return reader_block(r);
	}
}

static int
redis_read(struct journal_reader *base, uint64_t after, struct buf *out,
    struct journal_read *res)
{
	struct redis_reader *r = (struct redis_reader *)base;

	if (read_entries(r, after, out, res) == -1) {
		r->broken = 1;
		return -1;
	}
	return 0;
}

static int
redis_reader_fd(struct journal_reader *base)
{
	return ((struct redis_reader *)base)->rc->fd;
}

static void
redis_reader_close(struct journal_reader *base)
{
	struct redis_reader *r = (struct redis_reader *)base;
	redisContext *rc = r->rc;

	reader_drop_reply(r);
	if (r->inflight || r->broken) {
		/* Blocked in XREAD (or failed): this connection cannot be reused. */
		redisFree(rc);
		rc = redis_conn_take(r->cf);
	}
	/* Leave the readers set now, not when the membership runs out. */
	if (rc != NULL && r->started) {
		redisAppendCommand(rc, "ZREM %s %s", r->k.readers, r->member);
		redis_conn_put(rc, redis_conn_skip(rc, 1) != -1);
	} else
		redis_conn_put(rc, 1);
	free(r);
}

/*
 * Who made stream k (its hash's owner), on rc: 1 and *owner (allocated)
 * when it exists, 0 when it does not, -1 when the connection failed.
 */
static int
stream_owner(redisContext *rc, const struct keys *k, char **owner)
{
	redisReply *r;
	int found;

	*owner = NULL;
	redisAppendCommand(rc, "HGET %s owner", k->meta);
	if (redis_conn_reply(rc, &r) != 0) {
		freeReplyObject(r);
		return -1;
	}
	found = r->type == REDIS_REPLY_STRING;
	if (found && (*owner = strdup(r->str)) == NULL)
		found = -1;
	freeReplyObject(r);
	return found;
}

/* A stream made by an authenticated user is that user's alone. */
static int
may_see(const char *owner, const char *user)
{
	return owner[0] == '\0' || (user != NULL && strcmp(owner, user) == 0);
}

/*
 * A connection from the pool on which stream k's owner was read: a pooled
 * connection may be stale (Redis restarted), so a failure gets one fresh
 * try.  NULL with err filled: 503 when unreachable, 404 when the stream is
 * unknown, expired or not user's.
 */
static redisContext *
open_stream(const struct conf *cf, const struct keys *k, const char *user,
    struct cs_error *err)
{
	redisContext *rc = NULL;
	char *owner = NULL;
	int attempt, found = -1;

	for (attempt = 0; attempt < 2 && found == -1; attempt++) {
		if ((rc = attempt == 0 ? redis_conn_take(cf) : redis_conn_open(cf)) == NULL)
			break;
		if ((found = stream_owner(rc, k, &owner)) == -1) {
			redis_conn_put(rc, 0);
			rc = NULL;
		}
	}
	if (rc == NULL) {
		unavailable(err);
		return NULL;
	}
	if (found == 0 || !may_see(owner, user)) {
		free(owner);
		redis_conn_put(rc, 1);
		journal_not_found(err);
		return NULL;
	}
	free(owner);
	return rc;
}

/* Stream k's format, on rc: 0 with *format set (native when the hash has none), -1 failed. */
static int
read_format(redisContext *rc, const struct keys *k, enum journal_format *format)
{
	redisReply *r;

	*format = JOURNAL_NATIVE;
	redisAppendCommand(rc, "HGET %s format", k->meta);
	if (redis_conn_reply(rc, &r) != 0) {
		freeReplyObject(r);
		return -1;
	}
	if (r->type == REDIS_REPLY_STRING)
		*format = journal_format_of(r->str, r->len);
	freeReplyObject(r);
	return 0;
}

static int
redis_open(const struct conf *cf, const char *id, const char *user,
    struct journal_reader **out, struct cs_error *err)
{
	struct redis_reader *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return cs_fail(err, 503, "overloaded", "out of memory");
	r->base.store = &journal_redis_store;
	r->cf = cf;
	make_keys(&r->k, cf->redis_prefix, id);
	if (stream_new_id(r->member) == -1) {
		free(r);
		return cs_fail(err, 503, "overloaded", "no random source");
	}
	if ((r->rc = open_stream(cf, &r->k, user, err)) == NULL) {
		free(r);
		return -1;
	}
	if (read_format(r->rc, &r->k, &r->base.format) == -1) {
		redis_conn_put(r->rc, 0);
		free(r);
		return unavailable(err);
	}
	*out = &r->base;
	return 0;
}

static int
redis_cancel(const struct conf *cf, const char *id, const char *user,
    enum journal_stop how, struct cs_error *err)
{
	redisContext *rc;
	struct keys k;
	int ok;

	make_keys(&k, cf->redis_prefix, id);
	if ((rc = open_stream(cf, &k, user, err)) == NULL)
		return -1;
	/* Should the hash expire in between, the flag must not live on alone. */
	if (how == JOURNAL_STOP_LEAVING)
		redisAppendCommand(rc, "HINCRBY %s leave 1", k.meta);
	else
		redisAppendCommand(rc, "HSETNX %s cancel 1", k.meta);
	redisAppendCommand(rc, "PEXPIRE %s %lld", k.meta, 10LL * cf->journal_ttl * 1000 +
	    journal_lease_ms(cf));
	ok = redis_conn_skip(rc, 2);
	redis_conn_put(rc, ok != -1);
	ok = ok == 0;
	return ok ? 0 : unavailable(err);
}

/* SET NX of <prefix>key:<hash>, or GET of the stream it names already. */
static int
redis_claim_key(const struct conf *cf, const char *owner, const char *key,
    const char *id, char *found, struct cs_error *err)
{
	char name[JOURNAL_KEY_NAME], kname[128], text[1024];
	redisContext *rc;
	redisReply *r = NULL;
	int rc2, got = 0;

	if (journal_key_text(text, sizeof(text), owner, key, id) == -1)
		return cs_fail(err, 400, "invalid_request", "Idempotency-Key too long");
	journal_key_name(name, owner, key);
	snprintf(kname, sizeof(kname), "%.80skey:%s", cf->redis_prefix, name);
	if ((rc = redis_conn_take(cf)) == NULL)
		return unavailable(err);
	redisAppendCommand(rc, "SET %s %s NX PX %lld", kname, text,
	    10LL * cf->journal_ttl * 1000 + journal_lease_ms(cf));
	if ((rc2 = redis_conn_reply(rc, &r)) != 0)
		goto fail;
	if (r->type == REDIS_REPLY_STATUS) {
		freeReplyObject(r);
		redis_conn_put(rc, 1);
		return 0;
	}
	freeReplyObject(r);
	redisAppendCommand(rc, "GET %s", kname);
	if ((rc2 = redis_conn_reply(rc, &r)) != 0)
		goto fail;
	if (r->type == REDIS_REPLY_STRING)
		got = journal_key_match(r->str, owner, key, found);
	freeReplyObject(r);
	redis_conn_put(rc, 1);
	return got ? 1 : 0;
fail:
	freeReplyObject(r);
	redis_conn_put(rc, rc2 > 0);
	return unavailable(err);
}

const struct journal_store journal_redis_store = {
	.name = "redis",
	.check = redis_check,
	.create = redis_create,
	.append = redis_append,
	.flush = redis_flush,
	.fd = redis_fd,
	.tick = redis_tick,
	.next_tick = redis_next_tick,
	.close = redis_close,
	.open = redis_open,
	.read = redis_read,
	.reader_fd = redis_reader_fd,
	.reader_close = redis_reader_close,
	.cancel = redis_cancel,
	.claim_key = redis_claim_key,
	.sweep = NULL,
};
