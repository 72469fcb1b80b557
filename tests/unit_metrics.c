/* unit_metrics.c: who may scrape, and a killed process's counts still in the host's figures. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "metrics.h"
#include "tap.h"

static int
refused(const struct conf *cf, const char *addr)
{
	struct cs_error e;

	cs_error_clear(&e);
	return metrics_refused(cf, addr, &e) == -1 ? e.status : 0;
}

static void
record(const char *path, const char *outcome, int status, int64_t ttft)
{
	struct stream_record r;

	memset(&r, 0, sizeof(r));
	r.path = path;
	r.outcome = outcome;
	r.status = status;
	r.ttft_ms = ttft;
	r.duration_ms = 30;
	r.events = 5;
	r.bytes = 100;
	metrics_request(&r, 3);
}

/* The count of files in dir whose name starts with prefix. */
static int
files(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d != NULL && (e = readdir(d)) != NULL)
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	if (d != NULL)
		closedir(d);
	return n;
}

int
main(void)
{
	struct conf cf;
	struct cs_error err;
	struct buf out;
	char tmpl[] = "/tmp/unit_metrics.XXXXXX", dir[64], cmd[128];
	pid_t pid;
	int st;

	plan(21);
	cs_error_clear(&err);
	if (conf_defaults(&cf, &err) == -1 || mkdtemp(tmpl) == NULL)
		return 1;

	is_int(refused(&cf, "127.0.0.1"), 404, "metrics = off (the default): 404 for anyone");
	cf.metrics = METRICS_LOOPBACK;
	is_int(refused(&cf, "127.0.0.1"), 0, "loopback: 127.0.0.1");
	is_int(refused(&cf, "127.200.3.4"), 0, "loopback: all of 127.0.0.0/8");
	is_int(refused(&cf, "::1"), 0, "loopback: ::1");
	is_int(refused(&cf, "::ffff:127.0.0.1"), 0, "loopback: IPv4 loopback mapped in IPv6");
	is_int(refused(&cf, "192.0.2.7"), 403, "loopback: another address gets 403");
	is_int(refused(&cf, "::2"), 403, "loopback: ::2 is not ::1");
	is_int(refused(&cf, "127.0.0.1 "), 403, "loopback: not an address, 403");
	is_int(refused(&cf, NULL), 403, "loopback: no REMOTE_ADDR, 403");
	cf.metrics = METRICS_ANY;
	is_int(refused(&cf, "192.0.2.7"), 0, "any: every address");

	free(cf.spool_dir);
	cf.spool_dir = strdup(tmpl);
	snprintf(dir, sizeof(dir), "%s/.metrics", tmpl);

	/* A process that counts and dies without a word, as SIGKILL leaves one. */
	if ((pid = fork()) == 0) {
		metrics_open(&cf);
		metrics_gauge(MG_THREADS, 7);
		record("/", "done", 200, 4);
		record("/", "done", 200, 40);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	is_int(files(dir, ".metrics.p."), 1, "the dead process's file is left");

	metrics_open(&cf);
	metrics_gauge(MG_THREADS, 4);
	record("/", "rejected", 413, -1);
	record("/streams/abcdef", "done", 200, -1);
	record("/nope", "rejected", 404, -1);
	metrics_gauge(MG_STREAMS_OPEN, 1);
	buf_init(&out, METRICS_TEXT_MAX);
	ok(metrics_render(&out) == 0, "renders");
	ok(strstr(out.data, "chatstream_requests_total{route=\"/\",outcome=\"done\"} 2\n") != NULL,
	    "the dead process's requests count");
	ok(strstr(out.data, "chatstream_rejections_total{status=\"413\"} 1\n") != NULL &&
	    strstr(out.data, "chatstream_requests_total{route=\"other\",outcome=\"rejected\"} 1\n")
	    != NULL, "rejections by status; an unknown path is route other");
	ok(strstr(out.data, "chatstream_requests_total{route=\"/streams/*\",outcome=\"done\"} 1\n")
	    != NULL, "a stream's id is not a label value");
	ok(strstr(out.data, "chatstream_threads 4\n") != NULL &&
	    strstr(out.data, "chatstream_processes 1\n") != NULL &&
	    strstr(out.data, "chatstream_streams_open 1\n") != NULL,
	    "gauges: the live process only");
	ok(strstr(out.data, "chatstream_time_to_first_token_seconds_bucket{le=\"0.005\"} 1\n") !=
	    NULL && strstr(out.data,
	    "chatstream_time_to_first_token_seconds_bucket{le=\"0.05\"} 2\n") != NULL &&
	    strstr(out.data, "chatstream_time_to_first_token_seconds_sum 0.044\n") != NULL &&
	    strstr(out.data, "chatstream_time_to_first_token_seconds_count 2\n") != NULL,
	    "ttft histogram: cumulative buckets, sum in seconds");
	ok(strstr(out.data, "chatstream_tokens_sent_total 9\n") != NULL &&
	    strstr(out.data, "chatstream_stream_duration_seconds_count 3\n") != NULL,
	    "tokens and stream durations of the requests that were not rejected");
	is_int(files(dir, ".metrics.p."), 1, "the dead file is folded: only the live one is left");
	metrics_close();
	is_int(files(dir, ".metrics.p."), 0, "a process that ends folds its own file");
	buf_free(&out);

	metrics_open(&cf);
	{
		/* Not a test: what the request hook costs, for bench/README.md. */
		struct timespec t0, t1;
		int i;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (i = 0; i < 1000000; i++)
			record("/", "done", 200, 4);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		diag("metrics_request: %.0f ns a call (1e6 calls, one thread)",
		    ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e6);
	}
	buf_init(&out, METRICS_TEXT_MAX);
	metrics_render(&out);
	ok(strstr(out.data, "chatstream_requests_total{route=\"/\",outcome=\"done\"} 1000002\n") != NULL &&
	    strstr(out.data, "chatstream_rejections_total{status=\"404\"} 1\n") != NULL,
	    "the next process sees every count so far");
	metrics_close();
	buf_free(&out);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	if (system(cmd) != 0)
		diag("could not remove %s", tmpl);
	conf_free(&cf);
	return done_testing();
}
