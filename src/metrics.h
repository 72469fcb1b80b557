/* metrics.h: the whole host's counters, one small file per process in the spool, summed on a scrape. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_METRICS_H
#define CS_METRICS_H

#include <stdint.h>

#include "buf.h"
#include "conf.h"
#include "error.h"
#include "log.h"

/*
 * Every process that serves (FastCGI or one CGI request) counts into its
 * own fixed-layout file in spool_dir, mapped shared and updated with
 * atomics, and holds an flock(2) on it for its life.  A scrape, in any of
 * the processes, sums every file it finds there: the counters of all of
 * them, live or exited, and the gauges of the live ones only (a file no one
 * holds locked belongs to a process that has gone).  Exited processes'
 * files are folded into one accumulated file, so the spool holds at most
 * one file per live process and one more.  Nothing is recorded with
 * metrics = off: every hook below then returns at once.
 */

/* Gauges: the live processes' values are added up. */
enum metrics_gauge {
	MG_STREAMS_OPEN,     /* requests holding one of the `threads` slots */
	MG_THREADS_BUSY,     /* worker threads inside a request */
	MG_THREADS,          /* stream threads configured */
	MG_COUNT
};

/* Counters without labels. */
enum metrics_counter {
	MC_JOURNAL_APPENDS,       /* events written to a journal */
	MC_JOURNAL_BYTES,         /* their bytes */
	MC_RESUMES,               /* GET /streams/<id> that reached the journal */
	MC_HISTORY_LOST,          /* resumes told history_lost */
	MC_INTERRUPTED,           /* resumes told interrupted */
	MC_COUNT
};

/*
 * Starts recording for this process when cf->metrics is not off: makes its
 * file in cf->spool_dir (or, when the spool cannot be used, counts in memory
 * for this process alone, and says so).  Holds two fds until
 * metrics_close().  Call once, before threads start; the server then sets
 * MG_THREADS to the stream threads it serves.
 */
void metrics_open(const struct conf *cf);

/* Folds this process's counters into the accumulated file and removes its own. */
void metrics_close(void);

/* The hooks.  Each is a few atomic additions; thread-safe; no-ops when off. */
void metrics_request(const struct stream_record *r, long tokens);
void metrics_gauge(enum metrics_gauge g, int delta);
void metrics_count(enum metrics_counter c, uint64_t n);
void metrics_upstream_first_byte(int64_t ms);
void metrics_upstream_error(const char *type);

/* The exposition's media type, and the most it may take. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_TEXT_MAX (256 * 1024)

/*
 * Whether a client at remote_addr (may be NULL) may scrape: returns 0, or
 * -1 with err filled: 404 when metrics are off, 403 when they are for
 * loopback clients and this is not one.
 */
int metrics_refused(const struct conf *cf, const char *remote_addr, struct cs_error *err);

/*
 * Appends the whole host's figures to out in Prometheus' text format
 * (version 0.0.4).  Returns 0, or -1 when out's cap is reached.
 */
int metrics_render(struct buf *out);

#endif
