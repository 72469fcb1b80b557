/* unit_journal.c: the file journal through journal.h, and the files it leaves in a fresh spool. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "journal.h"
#include "journal_store.h"
#include "spool.h"
#include "tap.h"

/* An owner longer than a whole stream record may be (1024 bytes, journal_file.c). */
#define LONG_OWNER 1100

/*
 * Limits: one process (the cross-process behaviour, inotify wake-ups and
 * DELETE through a front server are the integration tests' t_resume*.py);
 * times are faked with utimensat(2) where the sweeper reads an mtime, and
 * one sleep of a second covers the ended stream's ctime.  Another user's
 * spool is made with chown when run as root, skipped otherwise.
 */

static char spool[64];

/* Sets the soft fd limit to the lowest free fd: no new fd until it is put back. */
static void
no_fds(struct rlimit *saved)
{
	struct rlimit rl;
	int fd = 0;

	getrlimit(RLIMIT_NOFILE, saved);
	while (fcntl(fd, F_GETFD) != -1)
		fd++;
	rl = *saved;
	rl.rlim_cur = (rlim_t)fd;
	setrlimit(RLIMIT_NOFILE, &rl);
}

static char *
path_of(char *p, size_t size, const char *name)
{
	snprintf(p, size, "%s/%s", spool, name);
	return p;
}

/* The whole content of spool/name into b (reset first); -1 if unreadable. */
static int
slurp(const char *name, struct buf *b)
{
	char p[128], chunk[4096];
	int fd = open(path_of(p, sizeof(p), name), O_RDONLY);
	ssize_t n;

	buf_reset(b);
	if (fd == -1)
		return -1;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(b, chunk, (size_t)n);
	close(fd);
	return 0;
}

static int
exists(const char *name)
{
	char p[128];
	struct stat st;

	return stat(path_of(p, sizeof(p), name), &st) == 0;
}

static int
mode_of(const char *name)
{
	char p[128];
	struct stat st;

	return stat(path_of(p, sizeof(p), name), &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

/* Sets name's mtime `ago` seconds back. */
static void
age(const char *name, int ago)
{
	char p[128];
	struct timespec t[2];

	clock_gettime(CLOCK_REALTIME, &t[0]);
	t[0].tv_sec -= ago;
	t[1] = t[0];
	utimensat(AT_FDCWD, path_of(p, sizeof(p), name), t, 0);
}

/* The whole content of the file at path, in text (size bytes); "" if unreadable. */
static const char *
content_of(const char *path, char *text, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd != -1 ? read(fd, text, size - 1) : -1;

	if (fd != -1)
		close(fd);
	text[n > 0 ? n : 0] = '\0';
	return text;
}

/*
 * A spool chatstream must refuse (journal_check and journal_check_config
 * fail with SPOOL_UNSAFE) and leave as it was; what names the problem.
 */
static void
refused(struct conf *cf, const char *path, const char *what, const char *label)
{
	struct cs_error err;
	char *saved = cf->spool_dir;
	int rc;

	cf->spool_dir = (char *)path;
	cs_error_clear(&err);
	rc = journal_check(cf, &err);
	ok(rc == -1 && err.type != NULL && strcmp(err.type, SPOOL_UNSAFE) == 0 &&
	    strstr(err.message, what) != NULL, "%s: refused (%s)", label, err.message);
	cs_error_clear(&err);
	rc = journal_check_config(cf, &err);
	ok(rc == -1 && err.type != NULL && strcmp(err.type, SPOOL_UNSAFE) == 0,
	    "%s: --check-config refuses it too", label);
	cf->spool_dir = saved;
}

/* The spool: made 0700 when missing; another's, an open one, a symlink, a file refused. */
static void
spool_tests(struct conf *cf)
{
	char path[128], target[128];
	struct cs_error err;
	struct stat st;
	char *saved = cf->spool_dir;

	cf->spool_dir = path_of(path, sizeof(path), "new");
	is_int(journal_check_config(cf, &err), 0, "--check-config: a spool yet to be made passes");
	ok(lstat(path, &st) == -1, "... and is not made by the check");
	is_int(journal_check(cf, &err), 0, "start-up: a missing spool is made");
	ok(lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700,
	    "... a directory, mode 0700");
	is_int(journal_check_config(cf, &err), 0, "--check-config: this user's 0700 spool passes");
	cf->spool_dir = saved;

	path_of(path, sizeof(path), "open");
	mkdir(path, 0700);
	chmod(path, 0777);
	refused(cf, path, "mode 0777", "a spool anyone may write to");
	chmod(path, 0750);
	refused(cf, path, "mode 0750", "a spool its group may read");
	rmdir(path);
	path_of(path, sizeof(path), "link");
	symlink(path_of(target, sizeof(target), "new"), path);
	refused(cf, path, "symbolic link", "a spool that is a symlink (to a good one)");
	unlink(path);
	close(open(path_of(path, sizeof(path), "file"), O_WRONLY | O_CREAT, 0600));
	refused(cf, path, "not a directory", "a spool that is a file");
	unlink(path);
	if (geteuid() == 0) {
		path_of(path, sizeof(path), "nobody");
		mkdir(path, 0700);
		chown(path, 65534, 65534);
		refused(cf, path, "belongs to uid 65534", "another user's spool, even mode 0700");
		chmod(path, 0777);
		refused(cf, path, "belongs to uid 65534", "another user's open spool");
		rmdir(path);
	} else
		diag("not root: another user's spool is not tried");
	rmdir(path_of(path, sizeof(path), "new"));
}

/* Writes spool/id: a stream record (no owner), then records; mode 0600. */
static void
craft(const char *id, const char *records)
{
	const char *meta = "\ndemo\n1700000000\n";
	char p[128];
	FILE *f = fopen(path_of(p, sizeof(p), id), "w");

	if (f == NULL)
		return;
	fprintf(f, "0 stream %zu\n%s%s", strlen(meta), meta, records);
	fclose(f);
}

/*
 * Records no producer writes: each ends its reader with an error (-1), never
 * a loop; a record still being written (a short frame or head) is waited
 * for (0, nothing read).  Every read is repeated: the answer stays.
 */
static void
crafted_tests(const struct conf *cf, struct buf *out)
{
	static const struct { const char *label, *records; int rc; } cases[] = {
		{ "a negative length", "1 message -3\nid: 1\n\n", -1 },
		{ "a length that wraps to the head's", "1 message -14\nid: 1\n\n", -1 },
		{ "a length of 2^64-1", "1 message 18446744073709551615\nx", -1 },
		{ "a length past 2^64", "1 message 99999999999999999999999\nx", -1 },
		{ "a length past the reader's cap", "1 message 4000000\nx", -1 },
		{ "a length with a non-digit", "1 message 1x\nx", -1 },
		{ "a length with a sign", "1 message +1\nx", -1 },
		{ "an empty length", "1 message \nx", -1 },
		{ "a negative seq", "-1 message 1\nx", -1 },
		{ "a seq with a space first", " 1 message 1\nx", -1 },
		{ "two spaces", "1  message 1\nx", -1 },
		{ "a name with a space", "1 mess age 1\nx", -1 },
		{ "a name of 16", "1 messagemessagexy 1\nx", -1 },
		{ "a head of 64 bytes without its newline",
		    "1 message 1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", -1 },
		{ "a NUL in the head", "1 mess\0age 1\nx", -1 },
		{ "a truncated frame", "1 message 50\nid: 1\n", 0 },
		{ "a truncated head", "1 messa", 0 },
	};
	const char *id = "EEEEEEEEEEEEEEEEEEEEEE";
	struct journal_reader *r;
	struct journal_read res;
	struct cs_error err;
	uint64_t after;
	size_t i;
	char p[128];
	int rc, n, again;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *rec = cases[i].records;
		size_t len = strlen(rec);
		FILE *f;

		if (strcmp(cases[i].label, "a NUL in the head") == 0)
			len = 14;
		craft(id, "");
		if ((f = fopen(path_of(p, sizeof(p), id), "a")) != NULL) {
			fwrite(rec, 1, len, f);
			fclose(f);
		}
		for (after = 0; after <= 1; after++) {
			if (journal_open(cf, id, NULL, &r, &err) == -1) {
				ok(0, "%s: opens", cases[i].label);
				continue;
			}
			buf_reset(out);
			/* A reader told "more" reads at once: a bounded number of times here. */
			n = 0;
			while ((rc = journal_read(r, after, out, &res)) == 0 && res.more && ++n < 100)
				;
			again = journal_read(r, after, out, &res);
			journal_reader_close(r);
			if (cases[i].rc == -1)
				ok(rc == -1 && again == -1, "%s, after %d: the reader ends with an error",
				    cases[i].label, (int)after);
			else
				ok(rc == 0 && again == 0 && out->len == 0 && !res.finished && !res.more,
				    "%s, after %d: nothing yet, waiting for the rest", cases[i].label,
				    (int)after);
		}
	}
	/* The sweeper reads the last seq of a dead stream's journal: it ends too. */
	craft(id, "1 message -14\nid: 1\n\n");
	age(id, 3600);
	journal_sweep(cf);
	ok(!exists(id) && exists("EEEEEEEEEEEEEEEEEEEEEE.expired"),
	    "sweep: a dead stream with a crafted record is expired (the sweep ends)");
	unlink(path_of(p, sizeof(p), "EEEEEEEEEEEEEEEEEEEEEE.expired"));
}

/* A stream whose producer died an hour ago: the next sweep expires it. */
static void
dead_stream(const char *id)
{
	craft(id, "");
	age(id, 3600);
}

/* CGI mode's sweeps: at most one per `every` seconds, whoever asks. */
static void
sweep_due_tests(const struct conf *cf)
{
	const char *id = "FFFFFFFFFFFFFFFFFFFFFF", *id2 = "GGGGGGGGGGGGGGGGGGGGGG";
	char p[128];

	dead_stream(id);
	journal_sweep_due(cf, 3600);
	ok(!exists(id) && exists("FFFFFFFFFFFFFFFFFFFFFF.expired") && exists(".sweep"),
	    "sweep_due: the first ever sweeps, and leaves its stamp");
	dead_stream(id2);
	journal_sweep_due(cf, 3600);
	ok(exists(id2), "sweep_due: a sweep less than `every` ago: no sweep");
	age(".sweep", 7200);
	journal_sweep_due(cf, 3600);
	ok(!exists(id2) && exists("GGGGGGGGGGGGGGGGGGGGGG.expired"),
	    "sweep_due: once `every` has passed, the next one sweeps");
	unlink(path_of(p, sizeof(p), "FFFFFFFFFFFFFFFFFFFFFF.expired"));
	unlink(path_of(p, sizeof(p), "GGGGGGGGGGGGGGGGGGGGGG.expired"));
	unlink(path_of(p, sizeof(p), ".sweep"));
}

/* Everything a new reader of id (as user) gets after `after`, into out. */
static int
read_all(const struct conf *cf, const char *id, const char *user, uint64_t after,
    struct buf *out, struct journal_read *res)
{
	struct journal_reader *r;
	struct cs_error err;
	int rc;

	buf_reset(out);
	if (journal_open(cf, id, user, &r, &err) == -1)
		return -err.status;
	do
		rc = journal_read(r, after, out, res);
	while (rc == 0 && res->more && (after = res->last_seq) > 0);
	journal_reader_close(r);
	return rc;
}

/* The format id's reader reports, or -1 when it cannot be opened. */
static int
format_of(const struct conf *cf, const char *id)
{
	struct journal_reader *r;
	struct cs_error err;
	int f;

	if (journal_open(cf, id, NULL, &r, &err) == -1)
		return -1;
	f = (int)journal_reader_format(r);
	journal_reader_close(r);
	return f;
}

int
main(void)
{
	const char *id = "AAAAAAAAAAAAAAAAAAAAAA", *free_id = "BBBBBBBBBBBBBBBBBBBBBB";
	const char *dead_id = "DDDDDDDDDDDDDDDDDDDDDD";
	const char *openai_id = "HHHHHHHHHHHHHHHHHHHHHH";
	const char *meta = "id: 1\nevent: meta\ndata: {}\n\n", *tok = "id: 2\ndata: {\"text\":\"hi\"}\n\n";
	const char *done = "id: 4\nevent: done\ndata: {}\n\n";
	struct conf cf;
	struct cs_error err;
	struct journal *j, *k;
	struct journal_reader *r;
	struct journal_state st = { .count_readers = 1 };
	struct journal_read res;
	struct buf b, want, big;
	char p[128], victim[128], text[64];
	size_t i;
	int fd;

	snprintf(spool, sizeof(spool), "/tmp/unit_journal.XXXXXX");
	if (mkdtemp(spool) == NULL || conf_defaults(&cf, &err) == -1) {
		diag("no spool directory or configuration");
		return 1;
	}
	free(cf.spool_dir);
	cf.spool_dir = strdup(spool);
	cf.journal = JOURNAL_FILE;
	cf.journal_ttl = 300;
	buf_init(&b, 1 << 22);
	buf_init(&want, 1 << 22);
	buf_init(&big, 1 << 20);

	spool_tests(&cf);

	/* Creating: one file, its stream record first, on disk at once. */
	is_int(journal_check(&cf, &err), 0, "check: the spool is usable");
	is_int(journal_create(&cf, id, "alice", "demo", JOURNAL_NATIVE, &j, &err), 0, "create");
	ok(exists(id) && mode_of(id) == 0600, "create: <spool>/<id>, mode 0600");
	slurp(id, &b);
	ok(b.len > 0 && strncmp(b.data, "0 stream ", 9) == 0 && strstr(b.data, "\nalice\ndemo\n"),
	    "create: the stream record (owner, model) is written before any event");
	is_int(journal_create(&cf, id, "alice", "demo", JOURNAL_NATIVE, &k, &err), -1,
	    "create of an existing id fails");

	/* Appending: the frames come back byte for byte, a big one too. */
	for (i = 0; i < 100000; i++)
		buf_addc(&big, (char)('a' + i % 26));
	buf_adds(&big, "\n\n");
	journal_append(j, 1, "meta", meta, strlen(meta));
	journal_append(j, 2, "message", tok, strlen(tok));
	journal_append(j, 3, "message", big.data, big.len);
	is_int(journal_flush(j), 0, "flush");
	buf_adds(&want, meta);
	buf_adds(&want, tok);
	buf_add(&want, big.data, big.len);
	is_int(read_all(&cf, id, "alice", 0, &b, &res), 0, "the owner reads the stream");
	is_mem(b.data, b.len, want.data, want.len, "the frames after 0, the big one included");
	ok(res.last_seq == 3 && !res.finished && !res.lost && !res.interrupted,
	    "running: last_seq 3, not finished, not interrupted");
	is_int(read_all(&cf, id, "bob", 0, &b, &res), -404, "someone else: 404");
	is_int(read_all(&cf, id, NULL, 0, &b, &res), -404, "nobody authenticated: 404");
	is_int(journal_cancel(&cf, id, "bob", JOURNAL_STOP_NOW, &err), -1, "someone else cannot cancel");

	/* Ticks: readers are counted, a cancel is seen. */
	journal_tick(j, 0, &st);
	ok(st.readers == 0 && st.cancel == 0, "tick: no reader, no cancel");
	is_int(journal_open(&cf, id, "alice", &r, &err), 0, "a reader opens");
	journal_tick(j, 0, &st);
	is_int(st.readers, 1, "tick: one reader while it is open");
	journal_reader_close(r);
	journal_tick(j, 0, &st);
	is_int(st.readers, 0, "tick: none once it closed");
	is_int(journal_cancel(&cf, id, "bob", JOURNAL_STOP_LEAVING, &err), -1,
	    "someone else cannot say the reader leaves");
	is_int(journal_cancel(&cf, id, "alice", JOURNAL_STOP_LEAVING, &err), 0, "the owner's reader leaves");
	journal_tick(j, 0, &st);
	ok(st.leaving == 1 && st.cancel == 0, "tick: the leave seen, not a cancel");
	journal_tick(j, 0, &st);
	ok(st.leaving == 0 && !exists("AAAAAAAAAAAAAAAAAAAAAA.leave"), "tick: a leave is seen once");
	is_int(journal_cancel(&cf, id, "alice", JOURNAL_STOP_NOW, &err), 0, "the owner cancels");
	journal_tick(j, 0, &st);
	ok(st.cancel == 1 && exists("AAAAAAAAAAAAAAAAAAAAAA.cancel"), "tick: cancel seen (<id>.cancel)");
	is_int(journal_fd(j), -1, "the producer holds no inotify instance");

	/* Ending: the done record, then the file turns read-only. */
	journal_append(j, 4, "done", done, strlen(done));
	journal_close(j);
	is_int(mode_of(id), 0400, "closed: mode 0400 marks the end");
	is_int(read_all(&cf, id, "alice", 3, &b, &res), 0, "read after 3");
	ok(b.len == strlen(done) && res.finished && res.last_seq == 4, "after 3: just done, finished");

	/* A stream without owner is anyone's. */
	journal_create(&cf, free_id, "", "demo", JOURNAL_NATIVE, &k, &err);
	journal_append(k, 1, "meta", meta, strlen(meta));
	journal_close(k);
	is_int(read_all(&cf, free_id, NULL, 0, &b, &res), 0, "no owner: anyone reads it");

	/* The format is kept with the stream: readers answer in kind. */
	is_int(format_of(&cf, free_id), JOURNAL_NATIVE, "format: native as created");
	is_int(journal_create(&cf, openai_id, "", "demo", JOURNAL_OPENAI, &k, &err), 0,
	    "format: an OpenAI-format stream");
	journal_append(k, 1, "message", tok, strlen(tok));
	journal_append(k, 2, "done", "id: 2\ndata: [DONE]\n\n", 20);
	journal_close(k);
	is_int(format_of(&cf, openai_id), JOURNAL_OPENAI, "format: openai as created");
	is_int(read_all(&cf, openai_id, NULL, 0, &b, &res), 0, "format: read the OpenAI stream");
	ok(res.finished && res.last_seq == 2, "format: its done ([DONE]) ends it for readers");
	craft("IIIIIIIIIIIIIIIIIIIIII", "");
	is_int(format_of(&cf, "IIIIIIIIIIIIIIIIIIIIII"), JOURNAL_NATIVE,
	    "format: a record without one (an older version's) is native");
	unlink(path_of(p, sizeof(p), "IIIIIIIIIIIIIIIIIIIIII"));
	{
		char owner[LONG_OWNER];

		memset(owner, 'o', sizeof(owner) - 1);
		owner[sizeof(owner) - 1] = '\0';
		is_int(journal_create(&cf, "JJJJJJJJJJJJJJJJJJJJJJ", owner, "demo", JOURNAL_OPENAI,
		    &k, &err), -1, "a stream record too long to keep whole is refused");
		ok(!exists("JJJJJJJJJJJJJJJJJJJJJJ"), "... and leaves no file");
	}

	/*
	 * Out of fds: the producer keeps none, so a batch that cannot be written
	 * waits for the next flush; past a batch's worth, readers are told the
	 * rest is lost (never a silent gap), and the end is still kept.
	 */
	{
		const char *eid = "EEEEEEEEEEEEEEEEEEEEEE";
		char frame[1024];
		struct rlimit saved;
		uint64_t seq;

		memset(frame, 'x', sizeof(frame) - 2);
		memcpy(frame + sizeof(frame) - 2, "\n\n", 2);
		journal_create(&cf, eid, "", "demo", JOURNAL_NATIVE, &k, &err);
		journal_append(k, 1, "meta", meta, strlen(meta));
		is_int(journal_flush(k), 0, "no fds: a first flush");
		no_fds(&saved);
		journal_append(k, 2, "message", tok, strlen(tok));
		is_int(journal_flush(k), -1, "no fds: the flush fails");
		setrlimit(RLIMIT_NOFILE, &saved);
		is_int(journal_flush(k), 0, "fds back: the next flush writes the held batch");
		is_int(read_all(&cf, eid, NULL, 0, &b, &res), 0, "read it");
		ok(res.last_seq == 2 && !res.lost, "nothing lost (last_seq %llu)",
		    (unsigned long long)res.last_seq);
		no_fds(&saved);
		for (seq = 3; seq < 3 + 64; seq++)
			journal_append(k, seq, "message", frame, sizeof(frame));
		setrlimit(RLIMIT_NOFILE, &saved);
		journal_append(k, seq, "done", done, strlen(done));
		journal_close(k);
		is_int(read_all(&cf, eid, NULL, 0, &b, &res), 0, "read it again");
		ok(res.lost && res.finished && res.last_seq == 2,
		    "64 KiB of events without fds: the reader is told they are lost");
		is_int(read_all(&cf, eid, NULL, seq - 1, &b, &res), 0, "read after the lost events");
		ok(!res.lost && res.finished && b.len == strlen(done), "the end was kept");
		unlink(path_of(p, sizeof(p), eid));
	}

	/* A symlink where chatstream writes is never followed. */
	snprintf(victim, sizeof(victim), "%s-victim", spool);
	symlink(victim, path_of(p, sizeof(p), "BBBBBBBBBBBBBBBBBBBBBB.cancel"));
	journal_cancel(&cf, free_id, NULL, JOURNAL_STOP_NOW, &err);
	ok(access(victim, F_OK) == -1, "cancel: a symlink planted as <id>.cancel is not followed");
	unlink(p);
	fd = open(victim, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ok(fd != -1 && write(fd, "precious", 8) == 8, "a file outside the spool");
	close(fd);
	symlink(victim, path_of(p, sizeof(p), "AAAAAAAAAAAAAAAAAAAAAA.tmp"));

	/* Sweeping: an ended stream past the ttl, a dead producer. */
	cf.journal_ttl = 1;
	journal_create(&cf, dead_id, "", "demo", JOURNAL_NATIVE, &k, &err);
	journal_append(k, 1, "meta", meta, strlen(meta));
	journal_flush(k);
	age(dead_id, 3600);
	is_int(read_all(&cf, dead_id, NULL, 0, &b, &res), 0, "a producer whose lease ran out");
	ok(res.interrupted && !res.finished, "its reader is told: interrupted");
	sleep(2);                 /* the ended streams' ctime, a second or more back */
	journal_sweep(&cf);
	ok(!exists(id) && exists("AAAAAAAAAAAAAAAAAAAAAA.expired"), "sweep: ended past ttl -> expired");
	ok(!exists(dead_id) && exists("DDDDDDDDDDDDDDDDDDDDDD.expired"),
	    "sweep: the dead producer's stream too");
	is_str(content_of(victim, text, sizeof(text)), "precious",
	    "sweep: a symlink planted as <id>.tmp is not followed (its target unchanged)");
	unlink(victim);
	slurp("AAAAAAAAAAAAAAAAAAAAAA.expired", &b);
	ok(b.len > 0 && strncmp(b.data, "4\nalice\ndemo\n", 13) == 0,
	    "expired: the last seq, then the owner and model");
	is_int(read_all(&cf, id, "bob", 0, &b, &res), -404, "expired: still not bob's (404)");
	is_int(read_all(&cf, id, "alice", 0, &b, &res), 0, "expired: the owner may ask");
	ok(res.lost && res.finished && b.len == 0, "expired, from 0: history lost");
	is_int(format_of(&cf, openai_id), JOURNAL_OPENAI, "expired: the format is still known");
	is_int(read_all(&cf, id, "alice", 4, &b, &res), 0, "expired, after the last event");
	ok(!res.lost && res.finished, "expired, after the last event: nothing lost, finished");
	journal_close(k);
	age("AAAAAAAAAAAAAAAAAAAAAA.expired", 3600);
	journal_sweep(&cf);
	ok(!exists("AAAAAAAAAAAAAAAAAAAAAA.expired") && !exists("AAAAAAAAAAAAAAAAAAAAAA.cancel"),
	    "sweep: past 10 ttl, the note and the cancel go");
	is_int(read_all(&cf, id, "alice", 0, &b, &res), -404, "then the stream is unknown");

	/* A crafted record must end a reader (or the sweep), not spin it: a watchdog. */
	alarm(60);
	crafted_tests(&cf, &b);
	alarm(0);
	sweep_due_tests(&cf);

	/* Idempotency keys: one owner's key names one stream; swept with it. */
	{
		const char *eid = "EEEEEEEEEEEEEEEEEEEEEE";
		char found[JOURNAL_KEY_ID_MAX + 1] = "", name[JOURNAL_KEY_NAME + 8];

		is_int(journal_claim_key(&cf, "alice", "k1", eid, found, &err), 0,
		    "key: the first claim records it");
		is_int(journal_claim_key(&cf, "alice", "k1", "FFFFFFFFFFFFFFFFFFFFFF", found, &err), 1,
		    "key: a second claim finds it");
		is_str(found, eid, "key: ... naming the first stream");
		is_int(journal_claim_key(&cf, "bob", "k1", "GGGGGGGGGGGGGGGGGGGGGG", found, &err), 0,
		    "key: another owner's same key is another key");
		is_int(journal_claim_key(&cf, "", "alice\nk1", "GGGGGGGGGGGGGGGGGGGGGG", found, &err), 0,
		    "key: owner and key cannot be run together");
		journal_key_name(name, "alice", "k1");
		strcat(name, ".key");
		ok(exists(name) && mode_of(name) == 0600, "key: k<hash>.key in the spool, mode 0600");
		journal_sweep(&cf);
		ok(exists(name), "key: a fresh key stays");
		age(name, 3600);
		journal_key_name(name, "bob", "k1");
		strcat(name, ".key");
		age(name, 3600);
		journal_key_name(name, "", "alice\nk1");
		strcat(name, ".key");
		age(name, 3600);
		journal_sweep(&cf);
		ok(!exists(name), "key: an old key whose stream is gone is swept");
	}

	/* Leave nothing behind (the stream without owner ended past the ttl too). */
	age("BBBBBBBBBBBBBBBBBBBBBB.expired", 3600);
	age("DDDDDDDDDDDDDDDDDDDDDD.expired", 3600);
	age("HHHHHHHHHHHHHHHHHHHHHH.expired", 3600);
	journal_sweep(&cf);
	ok(rmdir(spool) == 0, "the spool is empty at the end");
	buf_free(&b);
	buf_free(&want);
	buf_free(&big);
	conf_free(&cf);
	return done_testing();
}
