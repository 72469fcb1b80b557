/* metrics_text.c: the host's figures in Prometheus' text exposition format, version 0.0.4. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "metrics_layout.h"

static const char *const routes[] = { METRICS_ROUTES };
static const char *const outcomes[] = { METRICS_OUTCOMES };
static const int statuses[] = { METRICS_STATUSES };
static const char *const uperrs[] = { METRICS_UPSTREAM_ERRORS };
static const int64_t bounds[] = { METRICS_BUCKETS_MS };

/* Every append below: a failure (the cap reached) is remembered in *bad. */
#define P(...) (*bad |= buf_printf(o, __VA_ARGS__) == -1)

static void
head(int *bad, struct buf *o, const char *name, const char *type, const char *help)
{
	P("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A sum of milliseconds in seconds, exactly (no float rounding). */
static void
seconds(int *bad, struct buf *o, uint64_t ms)
{
	P("%llu.%03llu", (unsigned long long)(ms / 1000),
	    (unsigned long long)(ms % 1000));
}

/* A bucket bound of ms in seconds, as Prometheus writes them: 0.005, 0.05, 1, 2.5. */
static void
bound(int *bad, struct buf *o, uint64_t ms)
{
	char frac[8];
	int n;

	n = snprintf(frac, sizeof(frac), "%03llu", (unsigned long long)(ms % 1000));
	while (n > 0 && frac[n - 1] == '0')
		frac[--n] = '\0';
	P("%llu%s%s", (unsigned long long)(ms / 1000), n > 0 ? "." : "", frac);
}

static void
histogram(int *bad, struct buf *o, const struct metrics_total *t, enum metrics_hist h,
    const char *name, const char *help)
{
	uint64_t n = 0;
	int b;

	head(bad, o, name, "histogram", help);
	for (b = 0; b <= MB_N; b++) {
		n += t->c[MI_HIST(h, b)];
		if (b < MB_N) {
			P("%s_bucket{le=\"", name);
			bound(bad, o, (uint64_t)bounds[b]);
			P("\"} %llu\n", (unsigned long long)n);
		} else
			P("%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)n);
	}
	P("%s_sum ", name);
	seconds(bad, o, t->c[MI_HSUM(h)]);
	P("\n%s_count %llu\n", name, (unsigned long long)n);
}

static void
counter(int *bad, struct buf *o, const char *name, uint64_t v, const char *help)
{
	head(bad, o, name, "counter", help);
	P("%s %llu\n", name, (unsigned long long)v);
}

static void
gauge(int *bad, struct buf *o, const char *name, int64_t v, const char *help)
{
	head(bad, o, name, "gauge", help);
	P("%s %lld\n", name, (long long)v);
}

int
metrics_render(struct buf *o)
{
	struct metrics_total t;
	int r, i, failed = 0, *bad = &failed;

	metrics_collect(&t);
	head(bad, o, "chatstream_build_info", "gauge", "The running version.");
	P("chatstream_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	gauge(bad, o, "chatstream_processes", t.processes,
	    "chatstream processes counting into these figures now.");
	gauge(bad, o, "chatstream_streams_open", t.g[MG_STREAMS_OPEN],
	    "Requests holding a stream slot: answers being generated and resumed readings.");
	gauge(bad, o, "chatstream_threads_busy", t.g[MG_THREADS_BUSY],
	    "Worker threads inside a request.");
	gauge(bad, o, "chatstream_threads", t.g[MG_THREADS],
	    "Stream threads of all processes (the streams they can hold at once).");

	head(bad, o, "chatstream_requests_total", "counter",
	    "Requests finished, by route and outcome (one per log line).");
	for (r = 0; r < MR_N; r++)
		for (i = 0; i < MO_N; i++)
			P("chatstream_requests_total{route=\"%s\",outcome=\"%s\"} %llu\n",
			    routes[r], outcomes[i], (unsigned long long)t.c[MI_REQ(r, i)]);
	head(bad, o, "chatstream_rejections_total", "counter",
	    "Requests answered with an error status before any stream, by status.");
	for (i = 0; i < MS_N; i++) {
		if (statuses[i] != 0)
			P("chatstream_rejections_total{status=\"%d\"} %llu\n",
			    statuses[i], (unsigned long long)t.c[MI_REJ(i)]);
		else
			P("chatstream_rejections_total{status=\"other\"} %llu\n",
			    (unsigned long long)t.c[MI_REJ(i)]);
	}
	histogram(bad, o, &t, MH_TTFT, "chatstream_time_to_first_token_seconds",
	    "From the request's start to its first token sent.");
	histogram(bad, o, &t, MH_DURATION, "chatstream_stream_duration_seconds",
	    "Whole streams (POST /, /v1/chat/completions, /v1/responses, GET /streams/<id>) "
	    "not rejected.");
	counter(bad, o, "chatstream_tokens_sent_total", t.c[MI_TOKENS],
	    "Token events sent to streams' first readers.");
	counter(bad, o, "chatstream_events_sent_total", t.c[MI_EVENTS],
	    "Events sent, to first readers and resumed ones.");
	counter(bad, o, "chatstream_sent_bytes_total", t.c[MI_BYTES],
	    "Response body bytes of streams sent.");

	head(bad, o, "chatstream_upstream_errors_total", "counter",
	    "Failed answers of openai backends, by error type.");
	for (i = 0; i < MU_N; i++)
		P("chatstream_upstream_errors_total{type=\"%s\"} %llu\n", uperrs[i],
		    (unsigned long long)t.c[MI_UPERR(i)]);
	histogram(bad, o, &t, MH_UPSTREAM_FIRST_BYTE, "chatstream_upstream_first_byte_seconds",
	    "From the upstream request's start to its first response byte.");

	counter(bad, o, "chatstream_journal_appends_total", t.c[MI_C(MC_JOURNAL_APPENDS)],
	    "Events written to stream journals.");
	counter(bad, o, "chatstream_journal_appended_bytes_total", t.c[MI_C(MC_JOURNAL_BYTES)],
	    "Bytes of events written to stream journals.");
	counter(bad, o, "chatstream_resumes_total", t.c[MI_C(MC_RESUMES)],
	    "Readings of a kept stream (GET /streams/<id>) that reached its journal.");
	counter(bad, o, "chatstream_resumes_history_lost_total", t.c[MI_C(MC_HISTORY_LOST)],
	    "Resumed readings told history_lost: the events asked for were no longer kept.");
	counter(bad, o, "chatstream_resumes_interrupted_total", t.c[MI_C(MC_INTERRUPTED)],
	    "Resumed readings told interrupted: the producing process had stopped.");
	return failed ? -1 : 0;
}

/* 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104 (an IPv4 loopback client on a dual-stack socket). */
static int
loopback(const char *addr)
{
	unsigned char a[16];
	static const unsigned char one[16] = { [15] = 1 };
	static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (addr == NULL)
		return 0;
	if (inet_pton(AF_INET, addr, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, addr, a) == 1)
		return memcmp(a, one, 16) == 0 || (memcmp(a, mapped, 12) == 0 && a[12] == 127);
	return 0;
}

int
metrics_refused(const struct conf *cf, const char *remote_addr, struct cs_error *err)
{
	if (cf->metrics == METRICS_OFF)
		return cs_fail(err, 404, "not_found", "no such path");
	if (cf->metrics == METRICS_LOOPBACK && !loopback(remote_addr))
		return cs_fail(err, 403, "forbidden", "metrics are served to loopback clients only");
	return 0;
}
