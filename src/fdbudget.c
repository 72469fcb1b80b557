/* fdbudget.c: counts the fds a configuration's streams hold and raises RLIMIT_NOFILE to fit. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/resource.h>

#include "backend.h"
#include "fdbudget.h"

/* stdio, the listening socket and eventfd aside: the sweeper, logging, a config read. */
#define FD_RESERVE 32
/* Idle Redis connections a process keeps (journal_redis.c's POOL_MAX). */
#define REDIS_POOL 16

int
fdbudget_per_thread(const struct conf *cf)
{
	const struct model_conf *m;
	int backend = 0;

	for (m = cf->models; m != NULL; m = m->next)
		if (m->backend != NULL && m->backend->fds > backend)
			backend = m->backend->fds;
	/* The FastCGI connection; a Redis journal's connection (producer and reader alike). */
	return 1 + backend + (cf->journal == JOURNAL_REDIS ? 1 : 0);
}

static long
reserve(const struct conf *cf, int threads)
{
	long r = FD_RESERVE;

	if (cf->journal == JOURNAL_FILE)
		r += 2L * ((threads + 1L) / 8);   /* a resume: the journal, an inotify instance */
	else if (cf->journal == JOURNAL_REDIS)
		r += REDIS_POOL;
	return r;
}

long
fdbudget_need(const struct conf *cf, int threads, long base)
{
	return base + (threads + 1L) * fdbudget_per_thread(cf) + reserve(cf, threads);
}

int
fdbudget_max_threads(const struct conf *cf, long limit, long base)
{
	long lo = 0, hi = cf->threads > 0 ? cf->threads : 1;

	/* need() grows with threads: the largest that fits, by bisection. */
	if (fdbudget_need(cf, 1, base) > limit)
		return 0;
	while (lo < hi) {
		long mid = lo + (hi - lo + 1) / 2;

		if (fdbudget_need(cf, (int)mid, base) <= limit)
			lo = mid;
		else
			hi = mid - 1;
	}
	return (int)lo;
}

long
fdbudget_open_now(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (d == NULL)
		return 3;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	/* Less the fd opendir itself held. */
	return n - 1 > 3 ? n - 1 : 3;
}

int
fdbudget_apply(const struct conf *cf, int raise, long base, long *need, int *max,
    char *msg, size_t size)
{
	struct rlimit rl;
	long hard;

	*need = fdbudget_need(cf, cf->threads, base);
	*max = cf->threads;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 0;                 /* nothing to hold it against */
	hard = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (rlim_t)0x7fffffff ?
	    0x7fffffff : (long)rl.rlim_max;
	if ((rlim_t)*need <= rl.rlim_cur)
		return 0;
	if (raise) {
		rl.rlim_cur = (rlim_t)(*need <= hard ? *need : hard);
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1 && getrlimit(RLIMIT_NOFILE, &rl) == 0)
			hard = (long)rl.rlim_cur;
	}
	if (*need <= hard)
		return 0;
	*max = fdbudget_max_threads(cf, hard, base);
	snprintf(msg, size, "threads = %d needs ~%ld fds, RLIMIT_NOFILE hard limit is %ld: "
	    "serve at most %d, or raise the limit (LimitNOFILE= in the systemd unit, "
	    "ulimit -Hn, or prlimit)", cf->threads, *need, hard, *max);
	return -1;
}
