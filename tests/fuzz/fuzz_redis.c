/*
 * fuzz_redis.c: Redis replies as the Redis journal store reads them.  The
 * input is what "Redis" answers, byte for byte, on a socket: first to the
 * owner lookup of journal_open(), then to a reader's rounds (TIME, HMGET,
 * EXISTS, ZADD, PEXPIRE, XREAD, XREAD BLOCK), read to the end of the
 * input; then, parsed again, to a producer awaiting replies of each kind.
 * Any reply, malformed or hostile, is refused or handled: no crash, no
 * read past a reply, and a reader only ever goes forward.
 *
 * hiredis 0.14 allocates an array reply's element table before its
 * elements arrive: "*2000000000" alone asks for 16 GB.  Redis is trusted
 * not to say that, so inputs declaring such arrays are skipped.
 *
 * Input: a byte for the reader's user and Last-Event-ID, then the replies.
 */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#ifdef HAVE_HIREDIS
#include "journal_redis.c"

#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"

#define ID "fuzzfuzzfuzzfuzzfuzz00"
#define ARRAY_MAX 100000

/* 1 when the input declares an array hiredis would allocate too much for. */
static int
huge_array(const uint8_t *p, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		unsigned long long v = 0;

		if (p[i] != '*')
			continue;
		for (j = i + 1; j < n && p[j] >= '0' && p[j] <= '9' && v <= ARRAY_MAX; j++)
			v = v * 10 + (p[j] - '0');
		if (v > ARRAY_MAX)
			return 1;
	}
	return 0;
}

/* The reader's side: owner lookup, then reads until the input is used up. */
static void
read_side(const struct conf *cf, const uint8_t *p, size_t n, unsigned how)
{
	struct redis_reader *r;
	struct journal_read res;
	struct buf out;
	redisContext *rc;
	char *owner = NULL;
	uint64_t after = how >> 1;
	int sv[2], round, found;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return;
	if (write(sv[1], p, n) != (ssize_t)n || shutdown(sv[1], SHUT_WR) == -1 ||
	    (rc = redisConnectFd(sv[0])) == NULL) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		abort();
	r->base.store = &journal_redis_store;
	r->cf = cf;
	r->rc = rc;
	make_keys(&r->k, cf->redis_prefix, ID);
	memcpy(r->member, "member", 7);
	buf_init(&out, cf->max_event * 4 + 4096);
	found = stream_owner(rc, &r->k, &owner);
	FUZZ_CHECK(found >= -1 && found <= 1, "an owner lookup's odd result");
	FUZZ_CHECK(found == 1 || owner == NULL, "an owner without a stream");
	if (found == 1 && !may_see(owner, (how & 1) ? "alice" : NULL))
		goto out;
	for (round = 0; found == 1 && round < 1000; round++) {
		memset(&res, 0xff, sizeof(res));
		if (redis_read(&r->base, after, &out, &res) == -1)
			break;
		FUZZ_CHECK(out.len <= out.cap, "a read past its buffer");
		FUZZ_CHECK(res.last_seq >= after, "a read went back");
		FUZZ_CHECK(!res.more || out.len > 0, "\"more\" without progress");
		if (out.len > 0)
			FUZZ_CHECK(res.last_seq > after, "frames without a new seq");
		after = res.last_seq;
		buf_reset(&out);
		if (res.finished || res.lost || res.interrupted)
			break;
	}
out:
	free(owner);
	reader_drop_reply(r);
	redisFree(r->rc);               /* closes sv[0] */
	close(sv[1]);
	buf_free(&out);
	free(r);
}

/* The producer's side: every reply taken as the answer to what it awaits. */
static void
produce_side(const struct conf *cf, const uint8_t *p, size_t n)
{
	static const enum want wants[] = { W_IGNORE, W_META, W_EXPIRE, W_CANCEL, W_READERS,
	    W_TIME };
	struct redis_journal j;
	redisReader *rd = redisReaderCreate();
	void *reply;
	unsigned k = 0;

	if (rd == NULL)
		return;
	memset(&j, 0, sizeof(j));
	j.cf = cf;
	if (redisReaderFeed(rd, (const char *)p, n) == REDIS_OK)
		while (redisReaderGetReply(rd, &reply) == REDIS_OK && reply != NULL) {
			await(&j, wants[k++ % 6]);
			take_reply(&j, reply);
		}
	FUZZ_CHECK(j.want_head == j.want_tail, "a reply not taken");
	redisReaderFree(rd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conf cf;
	static int ready;
	struct fuzz_in in = { data, size };
	unsigned how = fuzz_byte(&in);

	if (in.n > 65536 || huge_array(in.p, in.n))
		return 0;
	if (!ready) {
		FUZZ_CHECK(conf_defaults(&cf, NULL) == 0, "no configuration");
		cf.journal = JOURNAL_REDIS;
		cf.max_event = 4096;
		ready = 1;
	}
	read_side(&cf, in.p, in.n, how);
	produce_side(&cf, in.p, in.n);
	return 0;
}
#endif
