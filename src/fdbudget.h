/* fdbudget.h: the fds `threads` streams need, held against RLIMIT_NOFILE at start-up. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_FDBUDGET_H
#define CS_FDBUDGET_H

#include <stddef.h>

#include "conf.h"

/*
 * Every stream holds a worker thread, and the thread holds fds for as long
 * as the stream lives: its FastCGI connection, what the busiest configured
 * backend keeps open while it runs, and the journal's (a Redis connection;
 * the file journal keeps none while it waits, it opens its file per batch).
 * fdbudget_per_thread() is that count.
 */
int  fdbudget_per_thread(const struct conf *cf);

/*
 * Fds a process serving `threads` streams needs at most: `base` already
 * open (stdio, the listening socket), threads + 1 (the spare that answers
 * 503) times the per-thread count, and a reserve for short-lived fds (a
 * journal batch being written, the sweeper, DELETE) and for resumes, which
 * hold the stream's journal (and an inotify instance) besides their
 * connection: the reserve covers one resume in eight threads.
 */
long fdbudget_need(const struct conf *cf, int threads, long base);

/* The most threads `limit` fds serve with `base` open: 0 when not even one. */
int  fdbudget_max_threads(const struct conf *cf, long limit, long base);

/* The fds open in this process now (/proc/self/fd), at least 3. */
long fdbudget_open_now(void);

/*
 * Holds cf->threads against RLIMIT_NOFILE: raises the soft limit to what
 * they need, up to the hard limit, when `raise` is set.  Returns 0 when they
 * fit.  Returns -1 when they do not, with *max the threads the hard limit
 * serves and msg (size bytes) one line saying so and what to raise.
 * *need is the count needed either way.
 */
int  fdbudget_apply(const struct conf *cf, int raise, long base, long *need, int *max,
    char *msg, size_t size);

#endif
