/*
 * replay.c: runs a fuzz harness over every file of its corpus, as one TAP
 * test, in builds without libFuzzer (and in every `make check`).
 *
 * The program is a harness linked with this file and named replay_<name>;
 * its corpus is $FUZZ_CORPUS/<name> (or the directory given as argv[1]).
 * Each input gets FUZZ_REPLAY_TIMEOUT seconds (default 30): a hang is a
 * failure that names the input, and so is a crash (a signal, or a sanitizer
 * report) and a violated property (the harness calls abort()).  An empty or
 * missing corpus fails too.
 */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#define INPUT_MAX	(1024 * 1024)

int LLVMFuzzerInitialize(int *, char ***) __attribute__((weak));
void __sanitizer_set_death_callback(void (*)(void)) __attribute__((weak));

static const char *name = "?";
static char current[4096 + 256] = "(none)";

/* Says which input failed, from a signal handler or a sanitizer's death: write(2) only. */
static void
say_failed(const char *what)
{
	static const char pre[] = "not ok 1 - ";
	const char *parts[] = { pre, name, ": ", what, " on ", current, "\n" };
	size_t i;

	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (write(STDOUT_FILENO, parts[i], strlen(parts[i])) == -1)
			break;
}

static void
on_signal(int sig)
{
	say_failed(sig == SIGALRM ? "timeout (a hang)" :
	    sig == SIGABRT ? "abort (a crash or a violated property)" : "crash");
	_exit(1);
}

static void
on_sanitizer_death(void)
{
	say_failed("sanitizer report (see the log)");
}

static int
by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Reads path whole into *data (malloc'd). Returns its length, or -1. */
static ssize_t
slurp(const char *path, uint8_t **data)
{
	struct stat st;
	ssize_t n, got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size > INPUT_MAX ||
	    (*data = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return -1;
	}
	while (got < st.st_size && (n = read(fd, *data + got, (size_t)(st.st_size - got))) > 0)
		got += n;
	close(fd);
	return got;
}

int
main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/'), *env = getenv("FUZZ_CORPUS");
	const char *timeout = getenv("FUZZ_REPLAY_TIMEOUT");
	char dir[2048], path[4096 + 256];
	struct dirent **ents;
	struct sigaction sa;
	int n, i, count = 0;
	unsigned secs = timeout != NULL ? (unsigned)atoi(timeout) : 30;

	base = base != NULL ? base + 1 : argv[0];
	if (strncmp(base, "lt-", 3) == 0)
		base += 3;
	name = strncmp(base, "replay_", 7) == 0 ? base + 7 : base;
	if (argc > 1)
		snprintf(dir, sizeof(dir), "%s", argv[1]);
	else
		snprintf(dir, sizeof(dir), "%s/%s", env != NULL ? env : "tests/fuzz/corpus", name);
	printf("1..1\n");
	fflush(stdout);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	if (__sanitizer_set_death_callback != NULL)
		__sanitizer_set_death_callback(on_sanitizer_death);
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);

	if ((n = scandir(dir, &ents, NULL, by_name)) == -1) {
		printf("not ok 1 - %s: corpus %s: %s\n", name, dir, strerror(errno));
		return 1;
	}
	for (i = 0; i < n; i++) {
		uint8_t *data = NULL;
		ssize_t len;

		if (ents[i]->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		if ((len = slurp(path, &data)) == -1) {
			free(data);
			continue;
		}
		snprintf(current, sizeof(current), "%s", path);
		alarm(secs);
		LLVMFuzzerTestOneInput(data, (size_t)len);
		alarm(0);
		free(data);
		count++;
	}
	for (i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	if (count == 0) {
		printf("not ok 1 - %s: no input in %s\n", name, dir);
		return 1;
	}
	printf("ok 1 - %s: %d inputs replayed, no crash, hang or violated property\n", name, count);
	return 0;
}
