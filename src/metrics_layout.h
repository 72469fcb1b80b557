/* metrics_layout.h: the fixed layout of a metrics file and the label sets it counts by (metrics.c, metrics_text.c). */
/* SPDX-License-Identifier: ISC */
#ifndef CS_METRICS_LAYOUT_H
#define CS_METRICS_LAYOUT_H

#include <stdatomic.h>
#include <stdint.h>

#include "metrics.h"

/* Label values; the last of each set takes everything else. */
#define METRICS_ROUTES \
	"/", "/v1/chat/completions", "/v1/models", "/health", "/streams/*", "/metrics", \
	"/v1/responses", "/v1/responses/*", "other"
#define MR_N 9
#define METRICS_OUTCOMES \
	"done", "client_gone", "cancelled", "error", "timeout", "shutdown", "rejected", \
	"journal_unavailable", "other"
#define MO_N 9
#define METRICS_STATUSES \
	400, 401, 403, 404, 405, 408, 411, 413, 415, 429, 500, 502, 503, 504, 0
#define MS_N 15
#define METRICS_UPSTREAM_ERRORS \
	"upstream_unreachable", "upstream_error", "upstream_rate_limited", \
	"upstream_truncated", "upstream_protocol_error", "timeout", "other"
#define MU_N 7
/* Histogram bucket bounds in ms (le, inclusive); one more bucket is +Inf. */
#define METRICS_BUCKETS_MS \
	5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000, 300000
#define MB_N 15

enum metrics_hist { MH_TTFT, MH_DURATION, MH_UPSTREAM_FIRST_BYTE, MH_N };

/* Index of each counter in a block's c[]. */
#define MI_REQ(r, o)    ((r) * MO_N + (o))
#define MI_REJ(s)       (MR_N * MO_N + (s))
#define MI_UPERR(u)     (MI_REJ(MS_N) + (u))
#define MI_HIST(h, b)   (MI_UPERR(MU_N) + (h) * (MB_N + 2) + (b))   /* b == MB_N: +Inf */
#define MI_HSUM(h)      MI_HIST(h, MB_N + 1)                        /* observed ms, summed */
#define MI_TOKENS       MI_HIST(MH_N, 0)
#define MI_EVENTS       (MI_TOKENS + 1)
#define MI_BYTES        (MI_TOKENS + 2)
#define MI_C(c)         (MI_TOKENS + 3 + (c))
#define MI_N            MI_C(MC_COUNT)

#define METRICS_MAGIC "csmtr001"

/*
 * One process's figures (a .metrics.p.* file), or the exited processes'
 * folded together (.metrics.sum, whose g[] is unused).  Only ever grows:
 * a new layout gets a new magic, and files of another are left alone.
 */
struct metrics_block {
	char magic[8];
	uint32_t size;                    /* sizeof(struct metrics_block) */
	uint32_t pid;
	char folded[64];                  /* .metrics.sum: the last file folded in */
	_Atomic uint64_t c[MI_N];
	_Atomic int64_t g[MG_COUNT];
};

/* The sum of a host's blocks, plain numbers. */
struct metrics_total {
	uint64_t c[MI_N];
	int64_t g[MG_COUNT];
	int processes;                    /* live ones */
	int local;                        /* only this process's figures (no spool) */
};

/* Sums every block of the host into t. Returns 0, or -1 (t then holds this process's). */
int metrics_collect(struct metrics_total *t);

#endif
