/* metrics.c: counting into this process's metrics file, and summing every process's on a scrape. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics_layout.h"
#include "spool.h"

/*
 * The metrics files, in the spool's directory .metrics (ids of streams never
 * start with a dot, so the journal's sweep leaves it be), made 0700 and
 * trusted on the spool's terms, this user's alone:
 *   .metrics.p.<pid>.<ns>  one per process, flock()ed by it while it lives;
 *   .metrics.sum           the exited processes' counters, folded together;
 *   .metrics.tmp           the next .metrics.sum while it is written;
 *   .metrics.lock          flock()ed by whoever folds or sums.
 * A process that ends cleanly folds its own file; one that was killed
 * leaves it, and the next scrape or start-up folds it.  .metrics.sum names
 * the last file folded in, so a crash between the rename that adds a file
 * and the unlink that removes it never counts it twice.
 */
#define PREFIX      ".metrics.p."
#define SUM_NAME    ".metrics.sum"
#define TMP_NAME    ".metrics.tmp"
#define LOCK_NAME   ".metrics.lock"
#define NEW_FMT     ".metrics.new.%ld"
/* Live processes' files at most; past it a process counts for itself only. */
#define MAX_FILES   1024

static struct metrics_block *mine;     /* NULL while metrics are off */
static int mine_fd = -1;               /* -1: in memory only */
static int spool = -1;                 /* the spool's .metrics directory */
static char mine_name[64];

static const char *const routes[] = { METRICS_ROUTES };
static const char *const outcomes[] = { METRICS_OUTCOMES };
static const int statuses[] = { METRICS_STATUSES };
static const char *const uperrs[] = { METRICS_UPSTREAM_ERRORS };
static const int64_t bounds[] = { METRICS_BUCKETS_MS };

/* The index of s in names (n of them, the last the catch-all). */
static int
label(const char *const *names, int n, const char *s)
{
	int i;

	for (i = 0; s != NULL && i < n - 1; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return n - 1;
}

static int
route_label(const char *path)
{
	if (path != NULL && strncmp(path, "/streams/", 9) == 0)
		return 4;
	if (path != NULL && strncmp(path, "/v1/responses/", 14) == 0)
		return 7;
	return label(routes, MR_N, path);
}

static void
add(int i, uint64_t n)
{
	atomic_fetch_add_explicit(&mine->c[i], n, memory_order_relaxed);
}

static void
observe(enum metrics_hist h, int64_t ms)
{
	int b;

	if (ms < 0)
		ms = 0;
	for (b = 0; b < MB_N && ms > bounds[b]; b++)
		;
	add(MI_HIST(h, b), 1);
	add(MI_HSUM(h), (uint64_t)ms);
}

void
metrics_request(const struct stream_record *r, long tokens)
{
	int route, s;

	if (mine == NULL)
		return;
	route = route_label(r->path);
	add(MI_REQ(route, label(outcomes, MO_N, r->outcome)), 1);
	if (r->outcome != NULL && strcmp(r->outcome, "rejected") == 0) {
		for (s = 0; s < MS_N - 1 && statuses[s] != r->status; s++)
			;
		add(MI_REJ(s), 1);
		return;
	}
	if (r->ttft_ms >= 0)
		observe(MH_TTFT, r->ttft_ms);
	/* Streams: an answer (POST /, /v1/chat/completions, /v1/responses) or a resumed reading. */
	if (route == 0 || route == 1 || route == 4 || route == 6)
		observe(MH_DURATION, r->duration_ms);
	if (tokens > 0)
		add(MI_TOKENS, (uint64_t)tokens);
	add(MI_EVENTS, r->events);
	add(MI_BYTES, r->bytes);
}

void
metrics_gauge(enum metrics_gauge g, int delta)
{
	if (mine != NULL)
		atomic_fetch_add_explicit(&mine->g[g], delta, memory_order_relaxed);
}

void
metrics_count(enum metrics_counter c, uint64_t n)
{
	if (mine != NULL)
		add(MI_C(c), n);
}

void
metrics_upstream_first_byte(int64_t ms)
{
	if (mine != NULL)
		observe(MH_UPSTREAM_FIRST_BYTE, ms);
}

void
metrics_upstream_error(const char *type)
{
	if (mine != NULL)
		add(MI_UPERR(label(uperrs, MU_N, type)), 1);
}

/* Takes the fold lock (blocking: folds and sums are short). The lock's fd, or -1. */
static int
lock_spool(void)
{
	int fd = openat(spool, LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd != -1 && flock(fd, LOCK_EX) == -1) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Reads the accumulated file into b (zeros when there is none or it is not ours). */
static void
read_sum(struct metrics_block *b)
{
	int fd = openat(spool, SUM_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	memset(b, 0, sizeof(*b));
	if (fd != -1) {
		if (pread(fd, b, sizeof(*b), 0) != (ssize_t)sizeof(*b) ||
		    memcmp(b->magic, METRICS_MAGIC, 8) != 0 || b->size != sizeof(*b))
			memset(b, 0, sizeof(*b));
		close(fd);
	}
	memcpy(b->magic, METRICS_MAGIC, 8);
	b->size = sizeof(*b);
	b->folded[sizeof(b->folded) - 1] = '\0';
}

/*
 * Adds from's counters to the accumulated file, naming it folded, and then
 * removes it.  Called with the fold lock held.  Returns 0 or -1.
 */
static int
fold(const struct metrics_block *from, const char *name)
{
	struct metrics_block sum;
	int fd, i, rc = -1;

	read_sum(&sum);
	for (i = 0; i < MI_N; i++)
		sum.c[i] += atomic_load_explicit(&from->c[i], memory_order_relaxed);
	snprintf(sum.folded, sizeof(sum.folded), "%s", name);
	if ((fd = openat(spool, TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	if (write(fd, &sum, sizeof(sum)) == (ssize_t)sizeof(sum) && fdatasync(fd) == 0 &&
	    renameat(spool, TMP_NAME, spool, SUM_NAME) == 0)
		rc = 0;
	close(fd);
	if (rc == 0)
		unlinkat(spool, name, 0);
	return rc;
}

/*
 * Maps a process file read-only: *live says whether its process still holds
 * it.  Returns the block (munmap it), or NULL for what is not a metrics
 * file of this layout and this user.
 */
static const struct metrics_block *
map_file(const char *name, int *live)
{
	struct metrics_block *b;
	struct stat st;
	int fd;

	if ((fd = openat(spool, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_size != (off_t)sizeof(*b)) {
		close(fd);
		return NULL;
	}
	b = mmap(NULL, sizeof(*b), PROT_READ, MAP_SHARED, fd, 0);
	*live = flock(fd, LOCK_SH | LOCK_NB) == -1 && errno == EWOULDBLOCK;
	close(fd);
	if (b == MAP_FAILED)
		return NULL;
	if (memcmp(b->magic, METRICS_MAGIC, 8) != 0 || b->size != sizeof(*b)) {
		munmap(b, sizeof(*b));
		return NULL;
	}
	return b;
}

/*
 * With the fold lock held: folds the files of exited processes, and, when t
 * is not NULL, adds up the accumulated file and the live ones into it.
 * Returns the count of live files.
 */
static int
sweep(struct metrics_total *t)
{
	struct metrics_block sum;
	struct dirent *e;
	DIR *d;
	int fd, live, n = 0, i;

	read_sum(&sum);
	if ((fd = openat(spool, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return 0;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		const struct metrics_block *b;

		if (strncmp(e->d_name, PREFIX, sizeof(PREFIX) - 1) != 0 ||
		    (b = map_file(e->d_name, &live)) == NULL)
			continue;
		if (!live && strcmp(e->d_name, sum.folded) == 0)
			unlinkat(spool, e->d_name, 0);   /* counted already */
		else if (!live && fold(b, e->d_name) == 0)
			read_sum(&sum);
		else if (n < MAX_FILES) {
			/* A live process, or a dead one that could not be folded (counters only). */
			n += live;
			for (i = 0; t != NULL && i < MI_N; i++)
				t->c[i] += atomic_load_explicit(&b->c[i], memory_order_relaxed);
			for (i = 0; t != NULL && live && i < MG_COUNT; i++)
				t->g[i] += atomic_load_explicit(&b->g[i], memory_order_relaxed);
		}
		munmap((void *)(uintptr_t)b, sizeof(*b));
	}
	closedir(d);
	for (i = 0; t != NULL && i < MI_N; i++)
		t->c[i] += sum.c[i];
	return n;
}

/* Makes this process's file, complete and locked before it has its name. Returns 0 or -1. */
static int
make_file(void)
{
	struct metrics_block init;
	struct timespec ts;
	char tmp[64];
	void *p;
	int fd;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(tmp, sizeof(tmp), NEW_FMT, (long)getpid());
	snprintf(mine_name, sizeof(mine_name), PREFIX "%ld.%lld", (long)getpid(),
	    (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	unlinkat(spool, tmp, 0);
	if ((fd = openat(spool, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	/*
	 * Written whole before it is mapped: a sparse page would be allocated
	 * by the first count instead, and a full disk would then be a SIGBUS.
	 */
	memset(&init, 0, sizeof(init));
	init.size = sizeof(init);
	init.pid = (uint32_t)getpid();
	memcpy(init.magic, METRICS_MAGIC, 8);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1 ||
	    pwrite(fd, &init, sizeof(init), 0) != (ssize_t)sizeof(init) ||
	    (p = mmap(NULL, sizeof(*mine), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) ==
	    MAP_FAILED) {
		close(fd);
		unlinkat(spool, tmp, 0);
		return -1;
	}
	mine = p;
	if (renameat(spool, tmp, spool, mine_name) == -1) {
		munmap(p, sizeof(*mine));
		mine = NULL;
		close(fd);
		unlinkat(spool, tmp, 0);
		return -1;
	}
	mine_fd = fd;
	return 0;
}

/* The spool's .metrics directory, made when missing and checked as the spool is; fd or -1. */
static int
open_dir(const struct conf *cf, struct cs_error *e)
{
	struct stat st;
	int sp, fd;

	if ((sp = spool_fd(cf->spool_dir, e)) == -1)
		return -1;
	if (mkdirat(sp, ".metrics", 0700) == -1 && errno != EEXIST) {
		cs_fail(e, 500, "config", "%s/.metrics: %s", cf->spool_dir, strerror(errno));
		return -1;
	}
	if ((fd = openat(sp, ".metrics", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		cs_fail(e, 500, "config", "%s/.metrics: %s", cf->spool_dir, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		cs_fail(e, 500, SPOOL_UNSAFE, "%s/.metrics is not this user's alone (mode 0700)",
		    cf->spool_dir);
		close(fd);
		return -1;
	}
	return fd;
}

void
metrics_open(const struct conf *cf)
{
	struct cs_error e;
	int lk, n;

	if (cf->metrics == METRICS_OFF || mine != NULL)
		return;
	cs_error_clear(&e);
	if ((spool = open_dir(cf, &e)) == -1)
		log_warnx("metrics: %s; /metrics shows this process alone", e.message);
	else if ((lk = lock_spool()) == -1)
		log_warn("metrics: %s/.metrics/" LOCK_NAME, cf->spool_dir);
	else {
		n = sweep(NULL);
		if (n >= MAX_FILES)
			log_warnx("metrics: %d processes count in %s already; this one counts "
			    "for itself only", n, cf->spool_dir);
		else if (make_file() == -1)
			log_warn("metrics: cannot make a file in %s; /metrics shows this "
			    "process alone", cf->spool_dir);
		close(lk);
	}
	if (mine == NULL) {
		if (spool != -1)
			close(spool);
		spool = -1;
		mine = calloc(1, sizeof(*mine));
	}
}

void
metrics_close(void)
{
	struct metrics_block *b = mine;
	int lk;

	if (b == NULL)
		return;
	mine = NULL;
	if (mine_fd == -1) {
		free(b);
		return;
	}
	if ((lk = lock_spool()) != -1) {
		fold(b, mine_name);
		close(lk);
	}
	munmap(b, sizeof(*b));
	close(mine_fd);
	mine_fd = -1;
}

int
metrics_collect(struct metrics_total *t)
{
	int lk, i;

	memset(t, 0, sizeof(*t));
	if (mine != NULL && spool != -1 && (lk = lock_spool()) != -1) {
		t->processes = sweep(t);
		close(lk);
		return 0;
	}
	t->local = 1;
	t->processes = 1;
	for (i = 0; mine != NULL && i < MI_N; i++)
		t->c[i] = atomic_load(&mine->c[i]);
	for (i = 0; mine != NULL && i < MG_COUNT; i++)
		t->g[i] = atomic_load(&mine->g[i]);
	return mine != NULL && spool != -1 ? -1 : 0;
}
