/*
 * fuzz_conf.c: the configuration file.  A file is either refused, with
 * every problem reported on a line of the file (or line 0) and nothing left
 * to free, or loaded with its values in range and its default model there.
 *
 * Input: the file.
 */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "buf.h"
#include "conf.h"
#include "fuzz.h"

static char path[64];

/* Writes the input to the one temporary file every run reuses; -1 when it cannot. */
static int
write_input(const uint8_t *data, size_t size)
{
	int fd;
	ssize_t n;

	if (path[0] == '\0') {
		snprintf(path, sizeof(path), "%s/fuzz_conf.XXXXXX",
		    getenv("TMPDIR") != NULL && strlen(getenv("TMPDIR")) < 32 ?
		    getenv("TMPDIR") : "/tmp");
		if ((fd = mkstemp(path)) == -1)
			return -1;
		close(fd);
		/* The file goes when the process does, whichever way it ends. */
	}
	if ((fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)) == -1)
		return -1;
	n = write(fd, data, size);
	close(fd);
	return n == (ssize_t)size ? 0 : -1;
}

static void
remove_input(void)
{
	if (path[0] != '\0')
		unlink(path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int registered;
	struct conf c;
	struct buf report;
	struct cs_error err;
	const struct model_conf *m;
	size_t i;
	int lines = 1;

	if (!registered) {
		atexit(remove_input);
		registered = 1;
	}
	if (write_input(data, size) == -1)
		return 0;
	for (i = 0; i < size; i++)
		lines += data[i] == '\n';
	memset(&c, 0, sizeof(c));
	cs_error_clear(&err);
	buf_init(&report, 1 << 20);
	if (conf_load(&c, path, &report, &err) == -1) {
		FUZZ_CHECK(err.line >= 0 && err.line <= lines, "an error on a line past the file");
		FUZZ_CHECK(report.len > 0, "a refusal with nothing reported");
		FUZZ_CHECK(c.models == NULL && c.path == NULL && c.spool_dir == NULL,
		    "a refused file left something to free");
	} else {
		FUZZ_CHECK(c.threads >= 1, "no thread");
		FUZZ_CHECK(c.max_event > 0 && c.max_body > 0, "a zero cap");
		FUZZ_CHECK(c.spool_dir != NULL && c.redis_address != NULL &&
		    c.redis_prefix != NULL, "a store setting missing");
		FUZZ_CHECK((m = conf_model(&c, NULL)) != NULL, "no default model");
		for (m = c.models; m != NULL; m = m->next) {
			FUZZ_CHECK(m->backend != NULL, "a model without a backend");
			FUZZ_CHECK(conf_model(&c, m->name) != NULL, "a model not found by its name");
			for (i = 0; i < m->nopts; i++)
				FUZZ_CHECK(m->opts[i].used, "an unused option was accepted");
		}
		conf_free(&c);
	}
	buf_free(&report);
	return 0;
}
