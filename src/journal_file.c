/* journal_file.c: the file journal: one file per stream in a spool shared by a host's processes. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "journal_store.h"
#include "log.h"
#include "spool.h"

/*
 * <spool>/ holds, per stream:
 *   <id>          the journal: records "<seq> <name> <len>\n" + <len> bytes.
 *                 The first, "0 stream <len>\n", holds the owner, the model,
 *                 the creation time and the format (native, openai; none in
 *                 an older version's: native), one per line, whole or not
 *                 at all; it is written when the stream is created, before
 *                 its id is given out.  Each later record is an event and
 *                 its exact SSE frame ("overflow", with no bytes, marks
 *                 where journal_max_bytes stopped it).
 *                 Its mtime is the producer's lease: every append renews it,
 *                 and the producer touches it at least three times a lease.
 *                 Mode 0600 while the producer writes it; 0400 once it is
 *                 done, that chmod's ctime being when the stream ended.  Every
 *                 reader holds a shared flock on it, so the producer counts
 *                 readers by trying an exclusive one.
 *   <id>.cancel   created by a DELETE; the producer looks for it at every
 *                 tick (every POLL_MS)
 *   <id>.leave    created by a DELETE ?leaving (a reader leaves); the
 *                 producer takes it (removes it) at its next tick
 *   k<hash>.key   an Idempotency-Key: "owner\nkey\nid\n" (see journal_key_name());
 *                 made with O_EXCL by the first request with the key, kept
 *                 while stream <id>'s journal is
 *   <id>.expired  written by the sweeper (whole: <id>.tmp, then rename) when
 *                 it drops the journal: the last seq, then the stream
 *                 record's lines, so the owner stays known
 * The spool is this user's alone (see spool.c) and every file in it is
 * reached through its fd, never following a symlink; new files are made
 * with O_EXCL.
 * Ids are [A-Za-z0-9_-]: no stream's name is another's.  One inode per
 * stream, no directory: on ext4 creating an inode is most of what a short
 * stream's journal costs.  Records are appended in batches, one write(2)
 * each, on an O_APPEND fd; readers parse only complete records, so a
 * half-written tail is simply read later.  The producer holds no fd while
 * it waits: it opens <id> for each batch (and for a tick that must count
 * readers), so a stream costs one fd, its connection, not two.
 */

#define RECORD_HEAD_MAX 64
/* The stream record: owner, model, creation time and format. */
#define STREAM_RECORD_MAX 1024
#define ENDED_MODE 0400
/*
 * The producer looks for a cancel request this often; a reader without
 * inotify (fs.inotify.max_user_instances reached) looks for new events this
 * often.  The producer has no inotify instance: creating and closing one
 * cost more than all of a short stream's appends.
 */
#define POLL_MS 250

struct file_journal {
	struct journal base;
	const struct conf *cf;
	int64_t next_tick, next_lease;
	size_t bytes;
	int overflowed;
	int warned;                   /* a failed write was logged (once a stream) */
	struct buf batch;             /* records appended since the last flush */
	uint64_t batch_seq;           /* the seq of the batch's first record */
	int spool;                    /* the spool's fd (spool_fd(): not ours to close) */
	char *cancel_name;            /* <id>.cancel, in the same allocation */
	char name[];                  /* <id> */
};

static int  file_flush(struct journal *);
static void file_reader_close(struct journal_reader *);

/* Past this, a batch is written at once instead of at the next flush. */
#define BATCH_BYTES (32 * 1024)

struct file_reader {
	struct journal_reader base;
	const struct conf *cf;
	int events_fd, inotify_fd;    /* events_fd -1: expired */
	uint64_t expired_seq;         /* when expired: the last seq it had */
	off_t offset;                 /* bytes of events consumed into pending */
	struct buf pending;           /* an incomplete record */
	int finished, lost;
	uint64_t last_seq;            /* the last seq seen in the file */
	uint64_t overflow;            /* the first seq the cap kept out; 0: none */
};

static int
file_check(const struct conf *cf, struct cs_error *err)
{
	if (cf->journal == JOURNAL_OFF)
		return 0;
	return spool_fd(cf->spool_dir, err) == -1 ? -1 : 0;
}

static int
file_check_config(const struct conf *cf, struct cs_error *err)
{
	return spool_check(cf->spool_dir, err);
}

/* <id><suffix>, in name (96 bytes); "" (no such file) if it does not fit. */
static const char *
named(char *name, const char *id, const char *suffix)
{
	return snprintf(name, 96, "%s%s", id, suffix) < 96 ? name : "";
}

/* <spool>/<id><suffix> into path; -1 when it does not fit. */
static int
stream_path(char *path, size_t size, const struct conf *cf, const char *id,
    const char *suffix)
{
	int n = snprintf(path, size, "%s/%s%s", cf->spool_dir, id, suffix);

	return n >= 0 && (size_t)n < size ? 0 : -1;
}

/* A new file name in dirfd holding text; a file left there (a crash) is replaced. */
static int
write_file(int dirfd, const char *name, const char *text)
{
	int fd;
	ssize_t n;

	unlinkat(dirfd, name, 0);
	if ((fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/*
 * An inotify instance watching path, or -1: the instances are a per-user
 * resource (128 by default), so callers fall back to looking every POLL_MS.
 */
static int
watch(const char *path, uint32_t mask)
{
	static atomic_int warned;
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd != -1 && inotify_add_watch(fd, path, mask | IN_DONT_FOLLOW) != -1)
		return fd;
	if (fd != -1)
		close(fd);
	if (atomic_exchange(&warned, 1) == 0)
		log_warn("journal: inotify unavailable (see fs.inotify.max_user_instances); "
		    "streams are polled every %d ms", POLL_MS);
	return -1;
}

/* How often the producer renews its lease: three times per lease period. */
static int64_t
lease_every(const struct conf *cf)
{
	int64_t every = journal_lease_ms(cf) / 3;

	return every > 0 ? every : 1000;
}

/* Opens the producer's journal to append (its records) or to read (its locks). */
static int
events_open(const struct file_journal *j, int flags)
{
	return openat(j->spool, j->name, flags | O_CLOEXEC | O_NOFOLLOW, 0600);
}

/*
 * Per stream: create <id>, one write of the stream record.  No fd is kept:
 * each flush, the ticks that count readers and the close open <id> anew,
 * relative to the spool's fd.
 * Small on the stack: every thread keeps the pages its deepest call touched.
 */
static int
file_create(const struct conf *cf, const char *id, const char *owner,
    const char *model, enum journal_format format, struct journal **out,
    struct cs_error *err)
{
	struct file_journal *j;
	char head[RECORD_HEAD_MAX];
	size_t i, il = strlen(id);
	struct iovec iov[2];
	int fd = -1, hl, saved, spool;

	if ((spool = spool_fd(cf->spool_dir, NULL)) == -1)
		return cs_fail(err, 503, "journal_unavailable", "cannot create the stream's journal");
	if ((j = calloc(1, sizeof(*j) + 2 * (il + 1) + sizeof(".cancel"))) == NULL)
		return cs_fail(err, 503, "overloaded", "out of memory");
	j->base.store = &journal_file_store;
	j->cf = cf;
	j->spool = spool;
	j->cancel_name = j->name + il + 1;
	buf_init(&j->batch, 2 * BATCH_BYTES);
	memcpy(j->name, id, il + 1);
	memcpy(j->cancel_name, id, il);
	memcpy(j->cancel_name + il, ".cancel", sizeof(".cancel"));
	/* The stream record, whole (readers take the owner and the format from it). */
	if (buf_printf(&j->batch, "%s\n%s\n%lld\n%s\n", owner != NULL ? owner : "", model,
	    (long long)time(NULL), journal_format_name(format)) == -1 ||
	    j->batch.len >= STREAM_RECORD_MAX) {
		errno = E2BIG;
		goto fail;
	}
	for (i = 0; i < j->batch.len; i++)
		if (j->batch.data[i] == '\r')
			j->batch.data[i] = ' ';
	hl = snprintf(head, sizeof(head), "0 stream %zu\n", j->batch.len);
	iov[0] = (struct iovec){ head, (size_t)hl };
	iov[1] = (struct iovec){ j->batch.data, j->batch.len };
	/* The stream record goes out at once: readers check the owner in it. */
	if ((fd = events_open(j, O_WRONLY | O_CREAT | O_EXCL | O_APPEND)) == -1 ||
	    writev(fd, iov, 2) != (ssize_t)((size_t)hl + j->batch.len))
		goto fail;
	close(fd);
	buf_reset(&j->batch);
	/* Creating the file just set the lease (its mtime). */
	j->next_lease = clock_ms() + lease_every(cf);
	j->next_tick = clock_ms() + POLL_MS;
	*out = &j->base;
	return 0;
fail:
	saved = errno;
	if (fd != -1) {
		close(fd);
		unlinkat(j->spool, j->name, 0);
	}
	buf_free(&j->batch);
	free(j);
	return cs_fail(err, 503, "journal_unavailable", "cannot create the stream's journal: %s",
	    strerror(saved));
}

/* Writes v in decimal at p; returns the number of digits. */
static int
put_u64(char *p, uint64_t v)
{
	char digits[20];
	int n = 0, i;

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	for (i = 0; i < n; i++)
		p[i] = digits[n - 1 - i];
	return n;
}

/*
 * "<seq> <name> <len>\n" into head (RECORD_HEAD_MAX bytes), without printf:
 * this runs for every event.  Returns its length, or -1 (a name over 15).
 */
static int
record_head(char *head, uint64_t seq, const char *name, size_t len)
{
	size_t nl = strlen(name);
	int h;

	if (nl > 15)
		return -1;
	h = put_u64(head, seq);
	head[h++] = ' ';
	memcpy(head + h, name, nl);
	h += (int)nl;
	head[h++] = ' ';
	h += put_u64(head + h, len);
	head[h++] = '\n';
	return h;
}

/* Logs a failed journal write once a stream; errno is the failure's. */
static void
append_failed(struct file_journal *j, const char *what)
{
	if (!j->warned) {
		j->warned = 1;
		log_warn("journal %s/%s: %s", j->cf->spool_dir, j->name, what);
	}
}

/*
 * Events from seq on cannot be kept (no fd, no space, no memory): readers
 * are told with an overflow record, as past journal_max_bytes; only the
 * stream's end is kept after it.
 */
static void
lose(struct file_journal *j, uint64_t seq)
{
	char head[RECORD_HEAD_MAX];
	int hl;

	if (j->overflowed)
		return;
	log_warn("journal %s/%s: events from %" PRIu64 " on are not kept",
	    j->cf->spool_dir, j->name, seq);
	j->overflowed = 1;
	if (j->batch.len == 0)
		j->batch_seq = seq;
	hl = snprintf(head, sizeof(head), "%" PRIu64 " overflow 0\n", seq);
	buf_add(&j->batch, head, (size_t)hl);
}

static int
file_append(struct journal *base, uint64_t seq, const char *name, const char *frame,
    size_t len)
{
	struct file_journal *j = (struct file_journal *)base;
	char head[RECORD_HEAD_MAX];
	int hl, terminal = journal_terminal(name);
	size_t mark;

	/* Past the cap only the end is kept, so readers still learn how it ended. */
	if (j->overflowed && !terminal)
		return 0;
	if (!j->overflowed && j->bytes + len > j->cf->journal_max_bytes && !terminal) {
		/* Past the cap: readers that get here learn the rest is not kept. */
		j->overflowed = 1;
		if (j->batch.len == 0)
			j->batch_seq = seq;
		hl = snprintf(head, sizeof(head), "%" PRIu64 " overflow 0\n", seq);
		if (buf_add(&j->batch, head, (size_t)hl) == -1)
			return -1;
		return file_flush(&j->base);
	}
	if ((hl = record_head(head, seq, name, len)) == -1)
		return -1;
	j->bytes += (size_t)hl + len;
	if (j->batch.len + (size_t)hl + len > j->batch.cap && file_flush(&j->base) == -1) {
		lose(j, seq);
		return -1;
	}
	if ((size_t)hl + len > j->batch.cap) {
		/* A frame bigger than a whole batch goes out on its own. */
		struct iovec iov[2] = { { head, (size_t)hl }, { (void *)(uintptr_t)frame, len } };
		int fd = events_open(j, O_WRONLY | O_APPEND);
		ssize_t n = fd != -1 ? writev(fd, iov, 2) : -1;

		if (fd != -1)
			close(fd);
		if (n != (ssize_t)((size_t)hl + len)) {
			lose(j, seq);
			return -1;
		}
		return 0;
	}
	mark = j->batch.len;
	if (mark == 0)
		j->batch_seq = seq;
	if (buf_add(&j->batch, head, (size_t)hl) == -1 ||
	    buf_add(&j->batch, frame, len) == -1) {
		j->batch.len = mark;          /* out of memory: this event is not kept */
		lose(j, seq);
		return -1;
	}
	return j->batch.len >= BATCH_BYTES ? file_flush(&j->base) : 0;
}

static int
file_flush(struct journal *base)
{
	struct file_journal *j = (struct file_journal *)base;
	ssize_t n = -1;
	int fd;

	if (j->batch.len == 0)
		return 0;
	/* One write on an O_APPEND fd: readers see whole records or none of a batch's tail. */
	if ((fd = events_open(j, O_WRONLY | O_APPEND)) == -1 && j->batch.len <= BATCH_BYTES &&
	    (errno == EMFILE || errno == ENFILE)) {
		/* Out of fds for a moment: the batch waits for the next flush. */
		append_failed(j, "retrying at the next event");
		return -1;
	}
	if (fd != -1) {
		n = write(fd, j->batch.data, j->batch.len);
		close(fd);
	}
	if (n != (ssize_t)j->batch.len) {
		/* The batch may have held the overflow record itself: it goes again. */
		buf_reset(&j->batch);
		j->overflowed = 0;
		lose(j, j->batch_seq);
		return -1;
	}
	buf_reset(&j->batch);
	/* The write renewed the lease (the file's mtime). */
	j->next_lease = clock_ms() + lease_every(j->cf);
	return 0;
}

static int
file_fd(struct journal *base)
{
	(void)base;
	return -1;                    /* tick looks for cancel every POLL_MS */
}

static int64_t
file_next_tick(const struct journal *base)
{
	const struct file_journal *j = (const struct file_journal *)base;

	return j->next_tick;
}

static void
drain(int fd)
{
	char ev[4096];

	while (fd != -1 && read(fd, ev, sizeof(ev)) > 0)
		;
}

static void
file_tick(struct journal *base, int64_t now, struct journal_state *st)
{
	struct file_journal *j = (struct file_journal *)base;
	struct stat cancel;
	char leave[96];
	int fd;

	st->cancel = fstatat(j->spool, j->cancel_name, &cancel, AT_SYMLINK_NOFOLLOW) == 0;
	/* Taken once: a later leave is a new one. */
	st->leaving = unlinkat(j->spool, named(leave, j->name, ".leave"), 0) == 0;
	/* A reader holds a shared lock; an exclusive one is free only with none. */
	st->readers = 0;
	if (st->count_readers) {
		if ((fd = events_open(j, O_RDONLY)) == -1)
			st->readers = 1;      /* cannot tell: do not end the stream for it */
		else {
			if (flock(fd, LOCK_EX | LOCK_NB) == -1)
				st->readers = 1;
			close(fd);            /* drops the lock if taken */
		}
	}
	if (now >= j->next_lease) {
		utimensat(j->spool, j->name, NULL, AT_SYMLINK_NOFOLLOW);
		j->next_lease = now + lease_every(j->cf);
	}
	j->next_tick = j->next_lease < now + POLL_MS ? j->next_lease : now + POLL_MS;
}

static void
file_close(struct journal *base)
{
	struct file_journal *j = (struct file_journal *)base;
	ssize_t n;
	int fd;

	/* The last batch and the end (see the top of this file) through one open. */
	if ((fd = events_open(j, O_WRONLY | O_APPEND)) != -1) {
		if (j->batch.len > 0 && (n = write(fd, j->batch.data, j->batch.len)) !=
		    (ssize_t)j->batch.len)
			log_warn("journal %s/%s: the stream's last events are not kept",
			    j->cf->spool_dir, j->name);
		fchmod(fd, ENDED_MODE);
		close(fd);
	} else if (errno != ENOENT) {             /* ENOENT: swept */
		log_warn("journal %s/%s: cannot write the stream's end", j->cf->spool_dir, j->name);
		fchmodat(j->spool, j->name, ENDED_MODE, 0);
	}
	buf_free(&j->batch);
	free(j);
}

/* Decimal digits at *p into *v, at most max: 0, or -1 (none, too many, over max). */
static int
get_u64(const char **p, const char *end, uint64_t max, uint64_t *v)
{
	const char *q = *p;

	for (*v = 0; q < end && *q >= '0' && *q <= '9'; q++) {
		if (*v > (max - (uint64_t)(*q - '0')) / 10)
			return -1;
		*v = *v * 10 + (uint64_t)(*q - '0');
	}
	if (q == *p || q - *p > 20)
		return -1;
	*p = q;
	return 0;
}

/*
 * The head of the record at p (n bytes there), "<seq> <name> <len>\n",
 * parsed strictly: digits only, one space between fields, a name of 1..15
 * of [A-Za-z0-9_-], a length of at most max.  Returns the head's length
 * with *seq, name (16 bytes) and *len set; 0 when it is not all there yet;
 * -1 when it is not a record head (no length can wrap or stall a reader).
 */
static int
parse_head(const char *p, size_t n, size_t max, uint64_t *seq, char *name, size_t *len)
{
	const char *q = p, *end = p + (n < RECORD_HEAD_MAX ? n : RECORD_HEAD_MAX), *nl;
	uint64_t v;
	size_t nl_len = 0;

	if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
		return n < RECORD_HEAD_MAX ? 0 : -1;
	if (get_u64(&q, nl, UINT64_MAX, seq) == -1 || q == nl || *q++ != ' ')
		return -1;
	while (q < nl && nl_len < 15 && ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
	    (*q >= '0' && *q <= '9') || *q == '_' || *q == '-'))
		name[nl_len++] = *q++;
	name[nl_len] = '\0';
	if (nl_len == 0 || q == nl || *q++ != ' ' || get_u64(&q, nl, max, &v) == -1 || q != nl)
		return -1;
	*len = (size_t)v;
	return (int)(nl - p) + 1;
}

/*
 * Reads the stream record at the start of an events file into text (size
 * bytes, NUL-terminated).  Returns its content (owner, model, creation time,
 * one per line) and sets *end to the offset of the first event; NULL when
 * there is no complete stream record (being created, or an older version's).
 */
static char *
stream_record(int fd, char *text, size_t size, off_t *end)
{
	ssize_t n = pread(fd, text, size - 1, 0);
	uint64_t seq;
	size_t len;
	char name[16];
	int hl;

	if (n <= 0)
		return NULL;
	text[n] = '\0';
	if ((hl = parse_head(text, (size_t)n, size, &seq, name, &len)) <= 0 || seq != 0 ||
	    strcmp(name, "stream") != 0 || (size_t)hl + len > (size_t)n)
		return NULL;
	text[hl + len] = '\0';
	*end = (off_t)(hl + len);
	return text + hl;
}

/* The format in a stream record's lines (owner, model, created, format). */
static enum journal_format
record_format(const char *lines)
{
	const char *p = lines, *nl;
	int i;

	for (i = 0; i < 3; i++) {
		if ((p = strchr(p, '\n')) == NULL)
			return JOURNAL_NATIVE;
		p++;
	}
	if ((nl = strchr(p, '\n')) == NULL)
		return JOURNAL_NATIVE;
	return journal_format_of(p, (size_t)(nl - p));
}

/*
 * Opens stream id if user may see it: *events, with *start the offset of its
 * first event, or, when the sweeper dropped the journal, *events = -1 and
 * *expired_seq its last seq; *format as it was created.  Returns 0, -1: no
 * such stream for user, or -2: out of fds (or memory) for now.
 */
static int
open_stream(const struct conf *cf, const char *id, const char *user, int *events,
    off_t *start, uint64_t *expired_seq, enum journal_format *format)
{
	char name[96], text[RECORD_HEAD_MAX + STREAM_RECORD_MAX + 1], *owner = NULL, *nl = NULL;
	const char *p;
	int fd, spool;
	ssize_t n;

	*events = -1;
	if ((spool = spool_fd(cf->spool_dir, NULL)) == -1)
		return -1;
	if ((*events = openat(spool, id, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) != -1)
		owner = stream_record(*events, text, sizeof(text), start);
	else if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
		return -2;
	else if (errno == ENOENT && (fd = openat(spool, named(name, id, ".expired"),
	    O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) != -1) {
		/* "<last seq>\n" + the stream record's lines. */
		n = read(fd, text, sizeof(text) - 1);
		close(fd);
		text[n > 0 ? n : 0] = '\0';
		p = text;
		if (get_u64(&p, text + strlen(text), UINT64_MAX, expired_seq) == 0 && *p == '\n')
			owner = (char *)p + 1;
	}
	if (owner != NULL) {
		*format = record_format(owner);
		if ((nl = strchr(owner, '\n')) != NULL)
			*nl = '\0';
	}
	/* A stream made by an authenticated user is that user's alone. */
	if (owner == NULL || nl == NULL ||
	    (owner[0] != '\0' && (user == NULL || strcmp(owner, user) != 0))) {
		if (*events != -1)
			close(*events);
		return -1;
	}
	return 0;
}

static int
file_open(const struct conf *cf, const char *id, const char *user,
    struct journal_reader **out, struct cs_error *err)
{
	struct file_reader *r;
	char path[4096];
	int events, rc;
	off_t start = 0;
	uint64_t expired_seq = 0;
	enum journal_format format = JOURNAL_NATIVE;

	if ((rc = open_stream(cf, id, user, &events, &start, &expired_seq, &format)) == -2)
		return cs_fail(err, 503, "journal_unavailable", "cannot open the stream: %s",
		    strerror(errno));
	if (rc == -1)
		return journal_not_found(err);
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		if (events != -1)
			close(events);
		return cs_fail(err, 503, "overloaded", "out of memory");
	}
	r->base.store = &journal_file_store;
	r->base.format = format;
	r->cf = cf;
	r->events_fd = events;
	r->offset = start;
	r->inotify_fd = -1;
	buf_init(&r->pending, cf->max_event + RECORD_HEAD_MAX + 1024);
	if (events == -1) {
		r->lost = 1;                      /* expired: nothing to follow */
		r->expired_seq = expired_seq;
	} else {
		flock(events, LOCK_SH);           /* counts this reader (see journal_tick) */
		stream_path(path, sizeof(path), cf, id, "");
		r->inotify_fd = watch(path, IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF);
	}
	*out = &r->base;
	return 0;
}

static int
file_reader_fd(struct journal_reader *base)
{
	struct file_reader *r = (struct file_reader *)base;

	return r->inotify_fd;
}

static int
lease_expired(struct file_reader *r)
{
	struct stat st;
	struct timespec now;

	if (fstat(r->events_fd, &st) == -1)
		return 1;
	clock_gettime(CLOCK_REALTIME, &now);
	return ((int64_t)(now.tv_sec - st.st_mtim.tv_sec) * 1000 +
	    (now.tv_nsec - st.st_mtim.tv_nsec) / 1000000) > journal_lease_ms(r->cf);
}

static int
file_read(struct journal_reader *base, uint64_t after, struct buf *out,
    struct journal_read *res)
{
	struct file_reader *r = (struct file_reader *)base;
	char chunk[16384];
	ssize_t n;

	drain(r->inotify_fd);
	res->last_seq = after;
	res->lost = res->interrupted = res->more = 0;
	res->finished = r->finished;
	if (r->lost) {
		res->lost = r->expired_seq > after;
		res->finished = 1;
		return 0;
	}
	for (;;) {
		const char *p;
		uint64_t seq;
		char name[16];
		size_t len, hl, room;
		int h;

		/* Parse every complete record in pending; a record must fit in it. */
		while (r->pending.len > 0) {
			p = r->pending.data;
			h = parse_head(p, r->pending.len, r->pending.cap, &seq, name, &len);
			if (h == -1 || (h > 0 && (size_t)h + len > r->pending.cap)) {
				log_warnx("journal: a corrupt record at offset %lld",
				    (long long)(r->offset - (off_t)r->pending.len));
				return -1;
			}
			hl = (size_t)h;
			if (hl == 0 || r->pending.len < hl + len)
				break;                    /* the record is still being written */
			if (strcmp(name, "overflow") == 0) {
				r->overflow = seq;    /* events from seq on are not kept */
				buf_consume(&r->pending, hl + len);
				continue;
			}
			if (r->overflow != 0 && seq > after &&
			    (after + 1 > r->overflow ? after + 1 : r->overflow) < seq) {
				/* Events between the cap and this one are gone. */
				r->lost = 1;
				res->lost = 1;
				res->finished = 1;
				return 0;
			}
			if (seq > after) {
				if (out->len == 0 && len > out->cap) {
					log_warnx("journal: an event larger than the reader's buffer");
					return -1;
				}
				if (out->len + len > out->cap) {
					res->more = 1;    /* out is full: the rest next time */
					return 0;
				}
				buf_add(out, p + hl, len);
				res->last_seq = seq;
			}
			r->last_seq = seq;
			if (strcmp(name, "done") == 0 || strcmp(name, "error") == 0)
				r->finished = 1;
			buf_consume(&r->pending, hl + len);
		}
		/* No more than pending has room for: it holds one record at most. */
		room = r->pending.cap - r->pending.len;
		n = pread(r->events_fd, chunk, room < sizeof(chunk) ? room : sizeof(chunk), r->offset);
		if (n <= 0)
			break;
		if (buf_add(&r->pending, chunk, (size_t)n) == -1) {
			log_warnx("journal: a record is larger than max_event");
			return -1;
		}
		r->offset += n;
	}
	res->finished = r->finished;
	if (r->overflow != 0 && !r->finished && after + 1 >= r->overflow) {
		/* Still running past the cap: what follows will not be kept. */
		res->lost = 1;
		return 0;
	}
	if (!r->finished && lease_expired(r))
		res->interrupted = 1;
	return 0;
}

static void
file_reader_close(struct journal_reader *base)
{
	struct file_reader *r = (struct file_reader *)base;

	if (r->events_fd != -1)
		close(r->events_fd);      /* drops the shared lock */
	if (r->inotify_fd != -1)
		close(r->inotify_fd);
	buf_free(&r->pending);
	free(r);
}

static int
file_cancel(const struct conf *cf, const char *id, const char *user,
    enum journal_stop how, struct cs_error *err)
{
	char name[96];
	int events, fd;
	off_t start;
	uint64_t seq;
	enum journal_format format;

	if ((fd = open_stream(cf, id, user, &events, &start, &seq, &format)) == -2)
		return cs_fail(err, 503, "journal_unavailable", "cannot reach the stream");
	if (fd == -1)
		return journal_not_found(err);
	if (events != -1)
		close(events);
	/* Not O_EXCL: a second DELETE finds it there. */
	if ((fd = openat(spool_fd(cf->spool_dir, NULL), named(name, id,
	    how == JOURNAL_STOP_LEAVING ? ".leave" : ".cancel"),
	    O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600)) == -1)
		return cs_fail(err, 503, "journal_unavailable", "cannot reach the stream");
	close(fd);
	return 0;
}

/* The seq of the last complete record in an events file (0 when none). */
static uint64_t
last_seq_of(int fd)
{
	char head[RECORD_HEAD_MAX], name[16];
	uint64_t seq, last = 0;
	struct stat st;
	off_t off = 0;
	size_t len;
	ssize_t n;
	int hl;

	if (fstat(fd, &st) == -1)
		return 0;
	/* pread got n bytes from off, so the file has st_size - off >= n >= hl more. */
	while ((n = pread(fd, head, sizeof(head), off)) > 0 &&
	    (hl = parse_head(head, (size_t)n, (size_t)st.st_size, &seq, name, &len)) > 0 &&
	    len <= (size_t)(st.st_size - off - hl)) {
		last = seq;
		off += hl + (off_t)len;
	}
	return last;
}

/* Removes stream id's files. */
static void
remove_stream(int spoolfd, const char *id)
{
	static const char *const suffixes[] = { "", ".cancel", ".leave", ".expired", ".tmp" };
	char name[96];
	size_t i;

	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		unlinkat(spoolfd, named(name, id, suffixes[i]), 0);
}

/*
 * Drops stream id's journal, keeping a note of its last seq and its owner so
 * resumes learn of the loss.  A journal without a stream record (its
 * creation failed half-way) goes altogether.
 */
static void
expire(int spoolfd, const char *id)
{
	char rec[RECORD_HEAD_MAX + STREAM_RECORD_MAX + 1], text[32 + sizeof(rec)], *meta = NULL;
	char name[96], tmp[96];
	off_t start;
	int fd, n = 0;

	if ((fd = openat(spoolfd, id, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) != -1) {
		if ((meta = stream_record(fd, rec, sizeof(rec), &start)) != NULL)
			n = snprintf(text, sizeof(text), "%" PRIu64 "\n%s", last_seq_of(fd), meta);
		close(fd);
	}
	if (meta == NULL) {
		remove_stream(spoolfd, id);
		return;
	}
	/* Whole or not at all: readers take the owner from it. */
	if (n < (int)sizeof(text) && write_file(spoolfd, named(tmp, id, ".tmp"), text) == 0 &&
	    renameat(spoolfd, tmp, spoolfd, named(name, id, ".expired")) == 0)
		unlinkat(spoolfd, id, 0);
}

#define KEY_TEXT_MAX 1024

/* Reads key file name into text (cap bytes, NUL-terminated); its length, or -1. */
static ssize_t
read_key(int spool, const char *name, char *text, size_t cap)
{
	ssize_t n;
	int fd;

	if ((fd = openat(spool, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, text, cap - 1);
	close(fd);
	if (n < 0)
		return -1;
	text[n] = '\0';
	return n;
}

static int
file_claim_key(const struct conf *cf, const char *owner, const char *key,
    const char *id, char *found, struct cs_error *err)
{
	char name[JOURNAL_KEY_NAME + sizeof(".key")], text[KEY_TEXT_MAX], old[KEY_TEXT_MAX];
	int spool, fd, tries;
	ssize_t n;

	if ((spool = spool_fd(cf->spool_dir, NULL)) == -1)
		return cs_fail(err, 503, "journal_unavailable", "cannot reach the spool");
	if (journal_key_text(text, sizeof(text), owner, key, id) == -1)
		return cs_fail(err, 400, "invalid_request", "Idempotency-Key too long");
	journal_key_name(name, owner, key);
	strcat(name, ".key");
	if ((fd = openat(spool, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600)) != -1) {
		n = write(fd, text, strlen(text));
		close(fd);
		if (n == (ssize_t)strlen(text))
			return 0;
		unlinkat(spool, name, 0);
		return cs_fail(err, 503, "journal_unavailable", "cannot record the key");
	}
	if (errno != EEXIST)
		return cs_fail(err, 503, "journal_unavailable", "cannot record the key: %s",
		    strerror(errno));
	/* Its maker writes it right after making it: a short wait for the whole text. */
	for (tries = 0; tries < 50; tries++) {
		const char *p;
		int lines = 0;

		if ((n = read_key(spool, name, old, sizeof(old))) < 0)
			old[0] = '\0';
		for (p = old; (p = strchr(p, '\n')) != NULL; p++)
			lines++;
		if (lines >= 3)
			break;
		usleep(2000);
	}
	/* Another owner's or key's (a hash collision): this request goes on unrecorded. */
	return journal_key_match(old, owner, key, found) ? 1 : 0;
}

/*
 * Every stream's files are looked at through the entry of its journal (<id>),
 * or, once expired, of <id>.expired; a .cancel or .tmp left without either
 * (a crash half-way) goes once it is older than a dead stream would be.
 */
static void
file_sweep(const struct conf *cf)
{
	DIR *d;
	struct dirent *e;
	int64_t ttl = cf->journal_ttl, dead = ttl + journal_lease_ms(cf) / 1000;
	char id[96], name[96], *dot;
	struct stat st, other;
	int spool, fd;

	/* Its own open of the spool: a directory stream's offset is not to be shared. */
	if (cf->journal == JOURNAL_OFF || (spool = spool_fd(cf->spool_dir, NULL)) == -1 ||
	    (fd = openat(spool, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		int sfd = dirfd(d);
		int64_t now = (int64_t)time(NULL);

		if (snprintf(id, sizeof(id), "%s", e->d_name) >= (int)sizeof(id))
			continue;
		if ((dot = strchr(id, '.')) != NULL)
			*dot = '\0';
		if (!journal_valid_id(id) || fstatat(sfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (dot == NULL && S_ISREG(st.st_mode)) {
			/* Ended (read-only): its ctime is when; running: its mtime is the lease. */
			if ((st.st_mode & S_IWUSR) == 0 ? now - st.st_ctim.tv_sec > ttl :
			    now - st.st_mtim.tv_sec > dead)
				expire(sfd, id);
		} else if (dot != NULL && strcmp(dot + 1, "key") == 0) {
			/* An Idempotency-Key goes with its stream's journal. */
			char text[KEY_TEXT_MAX], *sid, *end;

			if (now - st.st_mtim.tv_sec > dead && read_key(sfd, e->d_name, text,
			    sizeof(text)) >= 0 && (sid = strchr(text, '\n')) != NULL &&
			    (sid = strchr(sid + 1, '\n')) != NULL &&
			    (end = strchr(++sid, '\n')) != NULL) {
				*end = '\0';
				if (!journal_valid_id(sid) ||
				    fstatat(sfd, sid, &other, AT_SYMLINK_NOFOLLOW) == -1)
					unlinkat(sfd, e->d_name, 0);
			}
		} else if (dot != NULL && strcmp(dot + 1, "expired") == 0) {
			/* The note of a loss is kept ten times as long, then the rest goes. */
			if (now - st.st_mtim.tv_sec > 10 * ttl)
				remove_stream(sfd, id);
		} else if (dot != NULL && (strcmp(dot + 1, "cancel") == 0 ||
		    strcmp(dot + 1, "leave") == 0 || strcmp(dot + 1, "tmp") == 0) && now - st.st_mtim.tv_sec > dead &&
		    fstatat(sfd, id, &other, AT_SYMLINK_NOFOLLOW) == -1 &&
		    fstatat(sfd, named(name, id, ".expired"), &other, AT_SYMLINK_NOFOLLOW) == -1)
			unlinkat(sfd, e->d_name, 0);
	}
	closedir(d);
}

/*
 * The stamp of the last sweep: its mtime is when one began; whoever holds
 * its lock is sweeping.  Not a stream's name (ids never start with a dot).
 */
#define SWEEP_STAMP ".sweep"

/* 1 when st was modified less than `every` seconds ago (a stamp ahead of the clock is not). */
static int
recent(const struct stat *st, int every)
{
	int64_t age = (int64_t)time(NULL) - (int64_t)st->st_mtim.tv_sec;

	return age >= 0 && age < every;
}

static void
file_sweep_due(const struct conf *cf, int every)
{
	struct stat st;
	int spool, fd;

	if (cf->journal == JOURNAL_OFF || (spool = spool_fd(cf->spool_dir, NULL)) == -1)
		return;
	/* Most requests stop here, at one fstatat. */
	if (fstatat(spool, SWEEP_STAMP, &st, AT_SYMLINK_NOFOLLOW) == 0 && recent(&st, every))
		return;
	if ((fd = openat(spool, SWEEP_STAMP, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC, 0600)) == -1)
		return;
	/* One sweeper at a time; the others go on at once. */
	if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 &&
	    (st.st_size == 0 || !recent(&st, every))) {
		/* Stamped first: the requests that look meanwhile leave it to this one. */
		if (ftruncate(fd, 1) == 0 && futimens(fd, NULL) == 0)
			file_sweep(cf);
	}
	close(fd);
}

const struct journal_store journal_file_store = {
	.name = "file",
	.check = file_check,
	.check_config = file_check_config,
	.create = file_create,
	.append = file_append,
	.flush = file_flush,
	.fd = file_fd,
	.tick = file_tick,
	.next_tick = file_next_tick,
	.close = file_close,
	.open = file_open,
	.read = file_read,
	.reader_fd = file_reader_fd,
	.reader_close = file_reader_close,
	.cancel = file_cancel,
	.claim_key = file_claim_key,
	.sweep = file_sweep,
	.sweep_due = file_sweep_due,
};
