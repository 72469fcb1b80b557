/* unit_fdbudget.c: the fds a configuration's streams need, and RLIMIT_NOFILE raised to fit. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <string.h>
#include <sys/resource.h>

#include "backend.h"
#include "conf.h"
#include "fdbudget.h"
#include "tap.h"

int
main(void)
{
	struct conf cf;
	struct cs_error err;
	struct rlimit rl, saved;
	char msg[512], want[128];
	long need;
	int max, n;

	plan(15);
	cs_error_clear(&err);
	if (conf_defaults(&cf, &err) == -1)
		return 1;

	/* Per thread: the connection, the backend's, the journal's. */
	cf.journal = JOURNAL_FILE;
	is_int(fdbudget_per_thread(&cf), 1, "demo, file journal: the connection alone");
	cf.journal = JOURNAL_REDIS;
	is_int(fdbudget_per_thread(&cf), 2, "demo, redis journal: and a Redis connection");
	cf.journal = JOURNAL_OFF;
	cf.models->backend = &backend_exec;
	is_int(fdbudget_per_thread(&cf), 1 + backend_exec.fds, "exec: and its pipes and pidfd");
	cf.models->backend = &backend_demo;

	/* 10000 streams with the file journal fit under 20000 fds. */
	cf.journal = JOURNAL_FILE;
	cf.threads = 10000;
	need = fdbudget_need(&cf, 10000, 4);
	ok(need > 10001 && need < 20000, "file: 10000 streams need %ld fds (< 20000)", need);
	ok(fdbudget_need(&cf, 10001, 4) > need, "one more stream needs more");
	cf.journal = JOURNAL_REDIS;
	ok(fdbudget_need(&cf, 10000, 4) > 20000, "redis: 10000 streams need more than 20000");

	/* The most a limit serves: need(max) fits, need(max + 1) does not. */
	cf.threads = 100000;
	max = fdbudget_max_threads(&cf, 20000, 4);
	ok(max > 0 && fdbudget_need(&cf, max, 4) <= 20000 &&
	    fdbudget_need(&cf, max + 1, 4) > 20000, "20000 fds serve at most %d (redis)", max);
	is_int(fdbudget_max_threads(&cf, 10, 4), 0, "10 fds serve none");
	cf.threads = 50;
	is_int(fdbudget_max_threads(&cf, 20000, 4), 50, "never more than threads");

	/* Applied: the soft limit is raised to the need, up to the hard limit. */
	cf.journal = JOURNAL_FILE;
	getrlimit(RLIMIT_NOFILE, &saved);
	rl = saved;
	rl.rlim_cur = 64;
	setrlimit(RLIMIT_NOFILE, &rl);
	cf.threads = 100;
	is_int(fdbudget_apply(&cf, 0, 4, &need, &max, msg, sizeof(msg)), 0,
	    "100 threads under hard %llu: fit", (unsigned long long)saved.rlim_max);
	getrlimit(RLIMIT_NOFILE, &rl);
	is_int((long long)rl.rlim_cur, 64, "without raise, the soft limit stays");
	fdbudget_apply(&cf, 1, 4, &need, &max, msg, sizeof(msg));
	getrlimit(RLIMIT_NOFILE, &rl);
	is_int((long long)rl.rlim_cur, need, "raised to what they need (%ld)", need);

	/* More than the hard limit serves: said, with what to do. */
	rl.rlim_max = rl.rlim_cur = 1000;
	setrlimit(RLIMIT_NOFILE, &rl);
	cf.threads = 5000;
	is_int(fdbudget_apply(&cf, 1, 4, &need, &max, msg, sizeof(msg)), -1,
	    "5000 threads, hard limit 1000: do not fit");
	n = snprintf(want, sizeof(want), "threads = 5000 needs ~%ld fds, RLIMIT_NOFILE hard limit "
	    "is 1000: serve at most %d, or raise", need, max);
	ok(n > 0 && strncmp(msg, want, (size_t)n) == 0 && strstr(msg, "LimitNOFILE=") != NULL,
	    "the message: %s", msg);
	ok(max > 0 && fdbudget_need(&cf, max, 4) <= 1000, "and at most %d is right", max);
	conf_free(&cf);
	return done_testing();
}
