/*
 * fuzz_journal.c: the file journal's record reader, through journal.h.  The
 * input is put in a spool as a stream's journal (or as what the sweeper
 * leaves of an expired one); a reader then reads it to its end the way
 * follow.c does.  Every read ends (no hang), stays within its buffer, and
 * one that says "more" has made progress: seqs only go up.
 *
 * Input: a byte choosing the file (journal or expired) and the reader's
 * user, a byte for Last-Event-ID, then the file's content.
 */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "fuzz.h"
#include "journal.h"

#define ID "fuzzfuzzfuzzfuzzfuzz00"

static struct conf cf;
static char spool[64], journal_path[128], expired_path[128];

static void
cleanup(void)
{
	unlink(journal_path);
	unlink(expired_path);
	rmdir(spool);
	conf_free(&cf);
}

/* A private spool (0700, ours) and a configuration using it; -1 when it cannot. */
static int
setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(spool, sizeof(spool), "%s/fuzz_journal.XXXXXX",
	    tmp != NULL && strlen(tmp) < 32 ? tmp : "/tmp");
	if (mkdtemp(spool) == NULL || conf_defaults(&cf, NULL) == -1)
		return -1;
	free(cf.spool_dir);
	if ((cf.spool_dir = strdup(spool)) == NULL)
		return -1;
	cf.journal = JOURNAL_FILE;
	cf.max_event = 4096;          /* the smallest allowed: caps are met soonest */
	snprintf(journal_path, sizeof(journal_path), "%s/%s", spool, ID);
	snprintf(expired_path, sizeof(expired_path), "%s/%s.expired", spool, ID);
	atexit(cleanup);
	return journal_check(&cf, NULL);
}

static int
put(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd == -1)
		return -1;
	n = write(fd, data, size);
	close(fd);
	return n == (ssize_t)size ? 0 : -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct fuzz_in in = { data, size };
	unsigned how = fuzz_byte(&in);
	uint64_t after = fuzz_byte(&in);
	struct journal_reader *r;
	struct journal_read res;
	struct cs_error err;
	struct buf out;
	int round;

	if (!ready) {
		FUZZ_CHECK(setup() == 0, "no spool to fuzz in");
		ready = 1;
	}
	unlink(journal_path);
	unlink(expired_path);
	if (put((how & 1) ? expired_path : journal_path, in.p, in.n) == -1)
		return 0;
	if (journal_open(&cf, ID, (how & 2) ? "alice" : NULL, &r, &err) == -1) {
		FUZZ_CHECK(err.status == 404 || err.status == 503, "a refusal not 404 or 503");
		return 0;
	}
	/* As follow.c reads: out holds a few events, each read goes on from the last. */
	buf_init(&out, cf.max_event * 4 + 4096);
	for (round = 0; round < 10000; round++) {
		memset(&res, 0xff, sizeof(res));
		if (journal_read(r, after, &out, &res) == -1)
			break;
		FUZZ_CHECK(out.len <= out.cap, "a read past its buffer");
		FUZZ_CHECK(res.last_seq >= after, "a read went back");
		FUZZ_CHECK(res.finished <= 1 && res.lost <= 1 && res.interrupted <= 1 &&
		    res.more <= 1, "a flag left unset");
		FUZZ_CHECK(!res.more || (out.len > 0 && res.last_seq > after),
		    "\"more\" without progress: the caller would spin");
		if (out.len > 0)
			FUZZ_CHECK(res.last_seq > after, "frames without a new seq");
		after = res.last_seq;
		buf_reset(&out);
		if (!res.more)
			break;
	}
	journal_reader_close(r);
	buf_free(&out);
	return 0;
}
