/* unit_conf.c: the configuration file: values, sections, defaults, each error with its line. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "buf.h"
#include "conf.h"
#include "error.h"
#include "tap.h"

#define REPORT_CAP	(1u << 20)

/* One conf_load() of a temporary file holding text. */
struct loaded {
	struct conf c;
	struct buf report;
	struct cs_error err;
	char path[64];
	int rc;
};

/* Writes text to a new temporary file; its name goes to path. Returns 0 or -1. */
static int
write_temp(const char *text, size_t len, char *path, size_t size)
{
	int fd;
	ssize_t n;

	snprintf(path, size, "/tmp/unit_conf.XXXXXX");
	if ((fd = mkstemp(path)) == -1)
		return -1;
	n = write(fd, text, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/* Loads text (len bytes) as a config file; the file is removed afterwards. */
static void
load_n(struct loaded *l, const char *text, size_t len)
{
	memset(l, 0, sizeof(*l));
	buf_init(&l->report, REPORT_CAP);
	cs_error_clear(&l->err);
	if (write_temp(text, len, l->path, sizeof(l->path)) == -1) {
		diag("cannot write a temporary file");
		l->rc = -2;
		return;
	}
	l->rc = conf_load(&l->c, l->path, &l->report, &l->err);
	unlink(l->path);
}

static void
load(struct loaded *l, const char *text)
{
	load_n(l, text, strlen(text));
}

static const char *
report_text(const struct loaded *l)
{
	return l->report.data != NULL ? l->report.data : "";
}

/* Releases what a load left: the report, and the conf when it succeeded. */
static void
unload(struct loaded *l)
{
	if (l->rc == 0)
		conf_free(&l->c);
	buf_free(&l->report);
}

/* Counts the report's lines. */
static int
report_lines(const struct loaded *l)
{
	const char *s = report_text(l);
	int n = 0;

	for (; *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return n;
}

/*
 * 1 when the report has a line "PATH:LINE: ..." (or "PATH: ..." when line is
 * 0) whose message contains needle.
 */
static int
report_has(const struct loaded *l, int line, const char *needle)
{
	char prefix[96];
	const char *s = report_text(l);
	size_t plen;

	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", l->path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", l->path);
	plen = strlen(prefix);
	while (*s != '\0') {
		const char *nl = strchr(s, '\n');
		size_t len = nl != NULL ? (size_t)(nl - s) : strlen(s);

		if (len >= plen && memcmp(s, prefix, plen) == 0) {
			char *msg = strndup(s + plen, len - plen);
			int found = strstr(msg, needle) != NULL;

			free(msg);
			if (found)
				return 1;
		}
		s += len;
		if (*s == '\n')
			s++;
	}
	return 0;
}

static void
show_report(const struct loaded *l)
{
	diag("report was:\n%s", report_text(l));
}

/* A file that must fail with one problem at line (0: the whole file) whose message has needle. */
static void
one_error(const char *text, int line, const char *needle, const char *what)
{
	struct loaded l;
	int good = 1;

	load(&l, text);
	good &= is_int(l.rc, -1, "%s: conf_load fails", what);
	good &= ok(report_has(&l, line, needle), "%s: reported at line %d: %s", what, line, needle);
	good &= is_int(report_lines(&l), 1, "%s: one problem reported", what);
	good &= is_int(l.err.line, line, "%s: err.line %d", what, line);
	good &= ok(strstr(l.err.message, needle) != NULL, "%s: err.message", what);
	good &= is_str(l.err.type, "config", "%s: err.type config", what);
	good &= ok(l.c.models == NULL && l.c.path == NULL && l.c.mount == NULL &&
	    l.c.default_model == NULL, "%s: conf left empty", what);
	if (!good)
		show_report(&l);
	unload(&l);
}

/* A file that must load. */
static int
loads(struct loaded *l, const char *text, const char *what)
{
	load(l, text);
	if (!is_int(l->rc, 0, "%s: loads", what)) {
		show_report(l);
		return 0;
	}
	is_int(l->report.len, 0, "%s: nothing reported", what);
	return 1;
}

static void
test_valid(void)
{
	static const char text[] =
	    "# chatstream test configuration\n"
	    "; a comment of the other kind\n"
	    "   # an indented comment\n"
	    "\n"
	    "threads = 8\n"
	    "thread_stack = 256k\n"
	    "max_body=1M\n"
	    "\tmax_json_depth\t=\t16\t\n"
	    "max_event = 64K\n"
	    "heartbeat = 5\n"
	    "write_timeout = 30\n"
	    "shutdown_grace = 0\n"
	    "retry_ms = 1500\n"
	    "retry_after = 7\n"
	    "backlog = 128\n"
	    "log_format = json\n"
	    "debug = yes\n"
	    "mount = /chat\n"
	    "default_model = echo\n"
	    "\n"
	    "[model demo]\n"
	    "backend = demo\n"
	    "tokens_per_second = 0\n"
	    "; comment inside a section\n"
	    "max_tokens = 50\n"
	    "control_chars = true\n"
	    "\n"
	    "[ model   echo ]\n"
	    "backend = exec\n"
	    "command = /bin/cat -u 'a b' \"c \\\"d\\\"\"\n"
	    "input = messages\n"
	    "max_duration = 10\n";
	struct loaded l;
	const struct model_conf *m, *d, *e;
	char path[64];

	if (!loads(&l, text, "valid file")) {
		unload(&l);
		return;
	}
	is_int(l.c.threads, 8, "threads");
	is_int(l.c.thread_stack, 256 * 1024, "thread_stack 256k");
	is_int(l.c.max_body, 1024 * 1024, "max_body 1M");
	is_int(l.c.max_json_depth, 16, "max_json_depth, tabs around");
	is_int(l.c.max_event, 64 * 1024, "max_event 64K");
	is_int(l.c.heartbeat, 5, "heartbeat");
	is_int(l.c.write_timeout, 30, "write_timeout");
	is_int(l.c.shutdown_grace, 0, "shutdown_grace 0");
	is_int(l.c.retry_ms, 1500, "retry_ms");
	is_int(l.c.retry_after, 7, "retry_after");
	is_int(l.c.backlog, 128, "backlog");
	is_int(l.c.log_format, LOG_FORMAT_JSON, "log_format json");
	is_int(l.c.debug, 1, "debug yes");
	is_str(l.c.mount, "/chat", "mount");
	is_str(l.c.default_model, "echo", "default_model");
	is_str(l.c.path, l.path, "path kept");

	d = l.c.models;
	if (ok(d != NULL && d->next != NULL && d->next->next == NULL, "two models")) {
		e = d->next;
		is_str(d->name, "demo", "first model in file order: demo");
		is_int(d->line, 21, "demo header line");
		ok(d->backend == &backend_demo, "demo: backend demo");
		ok(d->backend_conf != NULL, "demo: configured");
		is_int(d->nopts, 4, "demo: four options");
		is_str(e->name, "echo", "second model: echo (spaces in the header)");
		is_int(e->line, 28, "echo header line");
		ok(e->backend == &backend_exec, "echo: backend exec");
		ok(e->backend_conf != NULL, "echo: configured");
		if (is_int(e->nopts, 4, "echo: four options")) {
			is_str(e->opts[1].key, "command", "echo: option key");
			is_str(e->opts[1].value, "/bin/cat -u 'a b' \"c \\\"d\\\"\"",
			    "echo: value kept verbatim for the backend");
			is_int(e->opts[1].line, 30, "echo: option line");
			ok(e->opts[0].used && e->opts[1].used && e->opts[2].used && e->opts[3].used,
			    "echo: every option used");
		}
		m = conf_model(&l.c, NULL);
		ok(m == e, "conf_model(NULL) is the default_model");
		ok(conf_model(&l.c, "demo") == d, "conf_model(\"demo\")");
		ok(conf_model(&l.c, "echo") == e, "conf_model(\"echo\")");
		ok(conf_model(&l.c, "nope") == NULL, "conf_model of an unknown name: NULL");
		ok(conf_model(&l.c, "Demo") == NULL, "model names are case-sensitive");
	}
	snprintf(path, sizeof(path), "%s", l.path);
	conf_free(&l.c);
	ok(l.c.models == NULL && l.c.path == NULL && l.c.mount == NULL &&
	    l.c.default_model == NULL, "conf_free clears the conf");
	l.rc = -1;	/* already freed */
	unload(&l);
}

static void
test_valid_misc(void)
{
	struct loaded l;

	/* No default_model: the first model is the default. */
	if (loads(&l, "[model b]\nbackend = demo\n[model a]\nbackend = demo\n", "no default_model")) {
		ok(l.c.default_model == NULL, "no default_model: NULL");
		ok(conf_model(&l.c, NULL) == l.c.models, "no default_model: conf_model(NULL) is the first");
		is_str(conf_model(&l.c, NULL)->name, "b", "no default_model: first in file order");
		/* Defaults survive for everything not set. */
		is_int(l.c.threads, 64, "default threads 64");
		is_int(l.c.max_body, 1024 * 1024, "default max_body 1M");
		is_int(l.c.max_json_depth, 32, "default max_json_depth 32");
		is_int(l.c.heartbeat, 15, "default heartbeat 15");
		is_int(l.c.log_format, LOG_FORMAT_TEXT, "default log_format text");
		is_int(l.c.debug, 0, "default debug off");
		ok(l.c.mount == NULL, "default mount NULL");
	}
	unload(&l);

	/* CRLF line endings, no newline at the end, repeated keys. */
	if (loads(&l, "threads = 2\r\nthreads = 3\r\nmount = /a\r\nmount = /b\r\n"
	    "debug = on\r\ndebug = off\r\n[model m]\r\nbackend = demo\r\n"
	    "max_tokens = 5\r\nmax_tokens = 6", "CRLF and repeated keys")) {
		is_int(l.c.threads, 3, "repeated global: last wins");
		is_str(l.c.mount, "/b", "repeated string global: last wins");
		is_int(l.c.debug, 0, "debug off");
		if (ok(l.c.models != NULL, "CRLF: model loaded")) {
			is_str(l.c.models->name, "m", "CRLF: name without \\r");
			is_str(l.c.models->opts[0].value, "demo", "CRLF: value without \\r");
			ok(l.c.models->opts[1].used && l.c.models->opts[2].used,
			    "repeated model option: every occurrence used");
		}
	}
	unload(&l);

	/* Size suffixes and boundaries. */
	if (loads(&l, "thread_stack = 64k\nmax_body = 1g\nmax_event = 4096\n"
	    "[model m]\nbackend = demo\n", "size boundaries")) {
		is_int(l.c.thread_stack, 64 * 1024, "thread_stack 64k (the minimum)");
		is_int(l.c.max_body, 1024LL * 1024 * 1024, "max_body 1g (the maximum)");
		is_int(l.c.max_event, 4096, "max_event 4096 without a suffix");
	}
	unload(&l);
	if (loads(&l, "thread_stack = 128K\nmax_body = 1G\nmax_event = 2m\n"
	    "[model m]\nbackend = demo\n", "upper-case and lower-case suffixes")) {
		is_int(l.c.thread_stack, 128 * 1024, "128K");
		is_int(l.c.max_body, 1024 * 1024 * 1024, "1G");
		is_int(l.c.max_event, 2 * 1024 * 1024, "2m");
	}
	unload(&l);

	/* Booleans. */
	{
		static const char *const yes[] = { "true", "yes", "on", "1" };
		static const char *const no[] = { "false", "no", "off", "0" };
		char text[128];
		size_t i;

		for (i = 0; i < 4; i++) {
			snprintf(text, sizeof(text), "debug = %s\n[model m]\nbackend = demo\n", yes[i]);
			if (loads(&l, text, "debug = yes-ish"))
				is_int(l.c.debug, 1, "debug = %s is 1", yes[i]);
			unload(&l);
			snprintf(text, sizeof(text), "debug = 1\ndebug = %s\n[model m]\nbackend = demo\n",
			    no[i]);
			if (loads(&l, text, "debug = no-ish"))
				is_int(l.c.debug, 0, "debug = %s is 0", no[i]);
			unload(&l);
		}
	}

	/* '=' inside a value; an empty value for a string key. */
	if (loads(&l, "[model x]\nbackend = exec\ncommand = /bin/sh -c 'a=b; echo $a'\n",
	    "= inside a value")) {
		is_str(l.c.models->opts[1].key, "command", "= inside a value: key");
		is_str(l.c.models->opts[1].value, "/bin/sh -c 'a=b; echo $a'",
		    "= inside a value: value");
	}
	unload(&l);

	/* Model names may hold any non-blank characters but '"'. */
	if (loads(&l, "default_model = gpt-4o.mini_v2\n[model gpt-4o.mini_v2]\nbackend = demo\n",
	    "model name with punctuation"))
		is_str(conf_model(&l.c, NULL)->name, "gpt-4o.mini_v2", "punctuated name");
	unload(&l);
}

static void
test_errors(void)
{
	static const char model[] = "[model m]\nbackend = demo\n";
	static const struct {
		const char *globals;	/* prepended to a valid model section */
		int line;
		const char *needle;
		const char *what;
	} g[] = {
		{ "threads = 4\nfrobnicate = 1\n", 2, "unknown setting \"frobnicate\"",
		    "unknown global key" },
		{ "Threads = 4\n", 1, "unknown setting \"Threads\"", "keys are case-sensitive" },
		{ "backend = demo\n", 1, "unknown setting \"backend\"", "model option outside a section" },
		{ "threads = four\n", 1, "threads: expected an integer", "bad integer" },
		{ "threads = 4x\n", 1, "threads:", "integer with junk" },
		{ "threads =\n", 1, "threads:", "empty integer" },
		{ "threads = 1k\n", 1, "threads:", "size suffix on an integer key" },
		{ "threads = 99999999999999999999\n", 1, "threads:", "integer overflow" },
		{ "threads = 18446744073709551617\n", 1, "threads:", "integer past 2^64" },
		{ "threads = +4\n", 1, "threads: expected an integer", "integer with '+'" },
		{ "threads = 4 4\n", 1, "threads:", "integer, a space, digits" },
		{ "threads = 0x10\n", 1, "threads:", "hex integer" },
		{ "\nshutdown_grace = -0\n", 2, "shutdown_grace:", "'-' on a key with no negatives" },
		{ "max_body = +1k\n", 1, "max_body: expected a size", "size with '+'" },
		{ "max_body = -0\n", 1, "max_body:", "size with '-'" },
		{ "max_body = 5x\n", 1, "max_body:", "size with junk" },
		{ "max_event = 18446744073709551617\n", 1, "max_event:", "size past 2^64" },
		{ "threads = 0\n", 1, "from 1 to 100000", "threads below the range" },
		{ "\n\nthreads = 100001\n", 3, "from 1 to 100000", "threads above the range" },
		{ "heartbeat = 3601\n", 1, "heartbeat:", "heartbeat above the range" },
		{ "max_json_depth = 1\n", 1, "max_json_depth:", "max_json_depth below the range" },
		{ "backlog = 65536\n", 1, "backlog:", "backlog above the range" },
		{ "retry_ms = -1\n", 1, "retry_ms:", "negative retry_ms" },
		{ "thread_stack = 63k\n", 1, "thread_stack: expected a size", "thread_stack too small" },
		{ "max_body = 2g\n", 1, "max_body:", "max_body too big" },
		{ "max_body = 0\n", 1, "max_body:", "max_body 0" },
		{ "max_body = -1\n", 1, "max_body:", "negative size" },
		{ "max_body = 12q\n", 1, "max_body:", "bad size suffix" },
		{ "max_body = k\n", 1, "max_body:", "suffix without digits" },
		{ "max_body = 1.5M\n", 1, "max_body:", "fractional size" },
		{ "max_body = 1 M\n", 1, "max_body:", "space before the suffix" },
		{ "max_body = 1kk\n", 1, "max_body:", "double suffix" },
		{ "max_event = 99999999999999g\n", 1, "max_event:", "size overflow" },
		{ "debug = maybe\n", 1, "debug: expected true or false", "bad bool" },
		{ "debug = TRUE\n", 1, "debug:", "bool is case-sensitive" },
		{ "log_format = xml\n", 1, "log_format: expected text or json", "bad log_format" },
		{ "log_format =\n", 1, "log_format:", "empty log_format" },
		{ "threads 4\n", 1, "expected key = value", "line without =" },
		{ "# ok\n  just words\n", 2, "expected key = value", "indented line without =" },
		{ " = 4\n", 1, "missing key", "missing key" },
		{ "mount = chat\n", 0, "mount \"chat\" must start with /", "mount without /" },
		{ "default_model = nope\n", 0, "default_model \"nope\" names no [model] section",
		    "default_model naming no model" },
	};
	static const struct {
		const char *text;
		int line;
		const char *needle;
		const char *what;
	} f[] = {
		{ "[model demo\nbackend = demo\n[model m]\nbackend = demo\n", 1,
		    "malformed section header", "unterminated section header" },
		{ "[model m]\nbackend = demo\n[model x] junk\n", 3, "malformed section header",
		    "junk after a section header" },
		{ "[model m]\nbackend = demo\n[server]\n", 3, "unknown section [server]",
		    "unknown section" },
		/* A bad header's body is skipped, not read as global settings. */
		{ "[modle x]\nbackend = demo\nmax_tokens = 5\n[model m]\nbackend = demo\n", 1,
		    "unknown section [modle x]", "misspelt section with a body" },
		{ "[model m]\nbackend = demo\n[model]\n", 3, "unknown section [model]",
		    "model without a name" },
		{ "[model m]\nbackend = demo\n[models x]\n", 3, "unknown section [models x]",
		    "[models x]" },
		{ "[model m]\nbackend = demo\n[model a b]\n", 3, "unknown section",
		    "model name with a space" },
		{ "[model m]\nbackend = demo\n[model \"q\"]\n", 3, "unknown section",
		    "quoted model name" },
		{ "[model m]\nbackend = demo\n[model\tx\ty]\n", 3, "unknown section",
		    "model name with a tab" },
		{ "threads = 2\n\n[model m]\nmax_tokens = 5\n", 3,
		    "model \"m\" has no \"backend\"", "model without backend" },
		{ "[model m]\n\nbackend = gpt\n", 3, "unknown backend \"gpt\"", "unknown backend" },
		{ "[model m]\nbackend =\n", 2, "unknown backend \"\"", "empty backend" },
		{ "[model m]\nbackend = demo\ncommand = /bin/cat\n", 3,
		    "unknown option \"command\" for backend demo", "unknown option for demo" },
		{ "[model m]\nbackend = exec\ncommand = /bin/cat\nttft_ms = 5\n", 4,
		    "unknown option \"ttft_ms\" for backend exec", "unknown option for exec" },
		{ "[model m]\nbackend = demo\ntokens_per_second = fast\n", 3,
		    "tokens_per_second: expected an integer", "bad demo integer" },
		{ "[model m]\nbackend = demo\nmax_tokens = 0\n", 3, "max_tokens:",
		    "demo max_tokens out of range" },
		{ "[model m]\nbackend = demo\nmax_tokens = +5\n", 3,
		    "max_tokens: expected an integer", "demo integer with '+'" },
		{ "[model m]\nbackend = demo\nmax_tokens = 5x\n", 3,
		    "max_tokens: expected an integer", "demo integer with junk" },
		{ "[model m]\nbackend = demo\n\nttft_ms = 99999999999999999999\n", 4,
		    "ttft_ms: expected an integer", "demo integer overflow" },
		{ "[model m]\nbackend = demo\ngrace = +1\n", 3, "grace:", "grace with '+'" },
		{ "[model m]\nbackend = demo\ngrace = -0\n", 3, "grace:", "grace with '-'" },
		{ "[model m]\nbackend = demo\ncontrol_chars = sometimes\n", 3, "control_chars:",
		    "bad demo bool" },
		{ "\n[model m]\nbackend = exec\ninput = prompt\n", 2,
		    "backend exec needs \"command\"", "exec without command" },
		{ "[model m]\nbackend = exec\n\ncommand = /bin/echo \"abc\n", 4,
		    "unbalanced quotes", "unbalanced double quote" },
		{ "[model m]\nbackend = exec\ncommand = /bin/echo 'abc\n", 3,
		    "unbalanced quotes", "unbalanced single quote" },
		{ "[model m]\nbackend = exec\ncommand = /bin/echo \"a\\\"\n", 3,
		    "unbalanced quotes", "escaped closing quote leaves it open" },
		{ "[model m]\nbackend = exec\ncommand =\n", 3, "empty", "empty command" },
		{ "[model m]\nbackend = exec\ncommand = '' \"\"\n", 3, "empty",
		    "command of empty words only" },
		{ "[model m]\nbackend = exec\ncommand = /bin/cat\ninput = stdin\n", 4,
		    "input: expected prompt or messages", "bad exec input" },
		{ "[model m]\nbackend = exec\ncommand = /bin/cat\nmax_duration = 0\n", 4,
		    "max_duration:", "exec max_duration out of range" },
		{ "[model m]\nbackend = demo\n\n[model m]\nbackend = demo\n", 4,
		    "model \"m\" is defined twice (first on line 1)", "duplicate model" },
		{ "threads = 4\n", 0, "no [model NAME] section", "no model at all" },
		{ "", 0, "no [model NAME] section", "empty file" },
		{ "# only\n; comments\n\n", 0, "no [model NAME] section", "comments only" },
	};
	char text[512];
	size_t i;

	for (i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", g[i].globals, model);
		one_error(text, g[i].line, g[i].needle, g[i].what);
	}
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		one_error(f[i].text, f[i].line, f[i].needle, f[i].what);
}

static void
test_many_errors(void)
{
	struct loaded l;
	static const char parse_errors[] =
	    "threads = zero\n"          /* 1 */
	    "bogus = 1\n"               /* 2 */
	    "debug = perhaps\n"         /* 3 */
	    "log_format = yaml\n"       /* 4 */
	    "[model a]\n"               /* 5 */
	    "backend = demo\n"          /* 6 */
	    "[weird]\n"                 /* 7 */
	    "[model c]\n"               /* 8 */
	    "backend = demo\n"          /* 9 */
	    "no equals here\n"          /* 10 */
	    "[model b\n";               /* 11 */
	static const char validation_errors[] =
	    "default_model = a\n"       /* 1 */
	    "[model a]\n"               /* 2 */
	    "backend = demo\n"          /* 3 */
	    "bogus = 1\n"               /* 4 */
	    "[model b]\n"               /* 5 */
	    "tokens = 3\n"              /* 6 */
	    "[model a]\n"               /* 7 */
	    "backend = nope\n"          /* 8 */
	    "[model e]\n"               /* 9 */
	    "backend = exec\n"          /* 10 */
	    "[model q]\n"               /* 11 */
	    "backend = exec\n"          /* 12 */
	    "command = 'oops\n";        /* 13 */

	load(&l, parse_errors);
	is_int(l.rc, -1, "many parse errors: fails");
	ok(report_has(&l, 1, "threads:"), "many: line 1 bad integer");
	ok(report_has(&l, 2, "unknown setting \"bogus\""), "many: line 2 unknown key");
	ok(report_has(&l, 3, "debug:"), "many: line 3 bad bool");
	ok(report_has(&l, 4, "log_format:"), "many: line 4 bad log_format");
	ok(report_has(&l, 7, "unknown section [weird]"), "many: line 7 unknown section");
	ok(report_has(&l, 10, "expected key = value"), "many: line 10 no =");
	ok(report_has(&l, 11, "malformed section header"), "many: line 11 malformed header");
	if (!is_int(report_lines(&l), 7, "many parse errors: seven lines"))
		show_report(&l);
	is_int(l.err.line, 1, "many parse errors: err is the first (line 1)");
	unload(&l);

	load(&l, validation_errors);
	is_int(l.rc, -1, "many validation errors: fails");
	ok(report_has(&l, 4, "unknown option \"bogus\" for backend demo"),
	    "many: line 4 unknown option");
	ok(report_has(&l, 5, "model \"b\" has no \"backend\""), "many: line 5 no backend");
	ok(report_has(&l, 7, "model \"a\" is defined twice (first on line 2)"),
	    "many: line 7 duplicate");
	ok(report_has(&l, 8, "unknown backend \"nope\""), "many: line 8 unknown backend");
	ok(report_has(&l, 9, "backend exec needs \"command\""), "many: line 9 exec without command");
	ok(report_has(&l, 13, "unbalanced quotes"), "many: line 13 unbalanced quotes");
	if (!is_int(report_lines(&l), 6, "many validation errors: six lines"))
		show_report(&l);
	ok(l.err.line > 0, "many validation errors: err has a line");
	unload(&l);

	/* The two kinds together: --check-config must list them all. */
	load(&l, "bogus = 1\n[model m]\nmax_tokens = 5\n[model n]\nbackend = demo\nx = 1\n");
	is_int(l.rc, -1, "parse and validation errors: fails");
	ok(report_has(&l, 1, "unknown setting \"bogus\""), "mixed: line 1 unknown key");
	ok(report_has(&l, 2, "model \"m\" has no \"backend\""),
	    "mixed: line 2 no backend, listed with the parse error");
	ok(report_has(&l, 6, "unknown option \"x\" for backend demo"),
	    "mixed: line 6 unknown option, listed with the parse error");
	if (!is_int(report_lines(&l), 3, "mixed errors: three lines"))
		show_report(&l);
	is_int(l.err.line, 1, "mixed errors: err is the first (line 1)");
	unload(&l);
}

static void
test_long_line(void)
{
	struct loaded l;
	size_t n = 10000, i;
	char *text = malloc(n + 200);
	char *p = text;

	p += sprintf(p, "threads = 2\nmount = /");
	for (i = 0; i < n; i++)
		*p++ = 'a';
	p += sprintf(p, "\nbogus = 1\n[model m]\nbackend = demo\n");
	load_n(&l, text, (size_t)(p - text));
	is_int(l.rc, -1, "long line: fails");
	ok(report_has(&l, 2, "line longer than"), "long line: reported on line 2");
	ok(report_has(&l, 3, "unknown setting \"bogus\""),
	    "long line: the next line is still line 3");
	if (!is_int(report_lines(&l), 2, "long line: two problems, no junk from its tail"))
		show_report(&l);
	unload(&l);

	/* A line of 8000 bytes is fine. */
	p = text;
	p += sprintf(p, "mount = /");
	for (i = 0; i < 8000; i++)
		*p++ = 'b';
	p += sprintf(p, "\n[model m]\nbackend = demo\n");
	load_n(&l, text, (size_t)(p - text));
	if (is_int(l.rc, 0, "8000-byte line: loads"))
		is_int(strlen(l.c.mount), 8001, "8000-byte line: value whole");
	else
		show_report(&l);
	unload(&l);
	free(text);
}

static void
test_missing_file(void)
{
	struct conf c;
	struct buf report;
	struct cs_error err;
	static const char path[] = "/tmp/unit_conf.does-not-exist/chatstream.conf";
	char want[160];

	memset(&c, 0, sizeof(c));
	buf_init(&report, REPORT_CAP);
	cs_error_clear(&err);
	is_int(conf_load(&c, path, &report, &err), -1, "missing file: -1");
	ok(err.message[0] != '\0', "missing file: a message");
	ok(strstr(err.message, "No such file") != NULL || strstr(err.message, "cannot open") != NULL,
	    "missing file: message says why (%s)", err.message);
	is_int(err.line, 0, "missing file: line 0");
	snprintf(want, sizeof(want), "%s: ", path);
	ok(report.data != NULL && strncmp(report.data, want, strlen(want)) == 0,
	    "missing file: report names the file");
	ok(c.models == NULL && c.path == NULL, "missing file: conf left empty");
	buf_free(&report);

	/* Without report or err. */
	is_int(conf_load(&c, path, NULL, NULL), -1, "missing file, no report, no err: -1");
	ok(c.path == NULL, "missing file, no report: conf left empty");

	/* A directory cannot be read as a file. */
	buf_init(&report, REPORT_CAP);
	cs_error_clear(&err);
	is_int(conf_load(&c, "/tmp", &report, &err), -1, "a directory: -1");
	ok(report.len > 0, "a directory: reported");
	ok(c.path == NULL && c.models == NULL, "a directory: conf left empty");
	buf_free(&report);
}

static void
test_no_report(void)
{
	struct loaded l;
	struct conf c;
	struct cs_error err;
	char path[64];
	static const char text[] = "threads = x\n[model m]\nbackend = demo\n";

	/* report and err may be NULL. */
	memset(&c, 0, sizeof(c));
	if (write_temp(text, sizeof(text) - 1, path, sizeof(path)) == 0) {
		is_int(conf_load(&c, path, NULL, NULL), -1, "NULL report and err: fails");
		cs_error_clear(&err);
		is_int(conf_load(&c, path, NULL, &err), -1, "NULL report: fails");
		is_int(err.line, 1, "NULL report: err.line 1");
		unlink(path);
	} else
		ok(0, "temporary file");
	if (write_temp("[model m]\nbackend = demo\n", 25, path, sizeof(path)) == 0) {
		is_int(conf_load(&c, path, NULL, NULL), 0, "valid, NULL report and err: loads");
		conf_free(&c);
		unlink(path);
	} else
		ok(0, "temporary file");
	/* A conf can be loaded again after conf_free. */
	if (loads(&l, "[model a]\nbackend = demo\n", "reload after free")) {
		conf_free(&l.c);
		buf_free(&l.report);
		load(&l, "[model b]\nbackend = demo\n");
		ok(l.rc == 0 && strcmp(l.c.models->name, "b") == 0, "reload: second file");
	}
	unload(&l);
}

static void
test_defaults(void)
{
	struct conf c;
	struct cs_error err;
	const struct model_conf *m;

	memset(&c, 0, sizeof(c));
	cs_error_clear(&err);
	if (!is_int(conf_defaults(&c, &err), 0, "conf_defaults: 0"))
		return;
	m = conf_model(&c, NULL);
	if (ok(m != NULL, "conf_defaults: a default model")) {
		is_str(m->name, "demo", "conf_defaults: model demo");
		ok(m->backend == &backend_demo, "conf_defaults: backend demo");
		ok(m->backend_conf != NULL, "conf_defaults: demo configured");
		ok(m->next == NULL, "conf_defaults: only one model");
	}
	ok(conf_model(&c, "demo") == m, "conf_defaults: conf_model(\"demo\")");
	is_str(c.default_model, "demo", "conf_defaults: default_model demo");
	ok(c.path == NULL, "conf_defaults: no path");
	ok(c.mount == NULL, "conf_defaults: no mount");
	is_int(c.threads, 64, "conf_defaults: threads 64");
	is_int(c.max_json_depth, 32, "conf_defaults: max_json_depth 32");
	is_int(c.max_body, 1024 * 1024, "conf_defaults: max_body 1M");
	is_int(c.max_event, 1024 * 1024, "conf_defaults: max_event 1M");
	is_int(c.heartbeat, 15, "conf_defaults: heartbeat 15");
	is_int(c.write_timeout, 60, "conf_defaults: write_timeout 60");
	is_int(c.shutdown_grace, 10, "conf_defaults: shutdown_grace 10");
	is_int(c.retry_ms, 3000, "conf_defaults: retry_ms 3000");
	is_int(c.retry_after, 2, "conf_defaults: retry_after 2");
	is_int(c.backlog, 1024, "conf_defaults: backlog 1024");
	is_int(c.log_format, LOG_FORMAT_TEXT, "conf_defaults: log_format text");
	ok(c.thread_stack >= 64 * 1024, "conf_defaults: thread_stack sane");
	conf_free(&c);
	ok(c.models == NULL && c.default_model == NULL, "conf_defaults: conf_free clears");
}

static void
test_opt_helpers(void)
{
	struct conf_option opts[] = {
		{ (char *)"n", (char *)"5", 10, 0 },
		{ (char *)"n", (char *)"7", 11, 0 },
		{ (char *)"big", (char *)"100", 12, 0 },
		{ (char *)"b", (char *)"off", 13, 0 },
		{ (char *)"bad", (char *)"perhaps", 14, 0 },
		{ (char *)"d", (char *)"0.25", 15, 0 },
		{ (char *)"dx", (char *)"1e999", 16, 0 },
		{ (char *)"junk", (char *)"3z", 17, 0 },
	};
	struct model_conf m;
	struct cs_error err;
	long v = -1;
	int b = -1;
	double d = -1;

	memset(&m, 0, sizeof(m));
	m.name = (char *)"t";
	m.opts = opts;
	m.nopts = sizeof(opts) / sizeof(opts[0]);
	cs_error_clear(&err);

	ok(conf_opt(&m, "absent") == NULL, "conf_opt: absent is NULL");
	ok(conf_opt(&m, "n") == &opts[1], "conf_opt: last occurrence wins");
	ok(opts[0].used && opts[1].used, "conf_opt: every occurrence marked used");
	ok(!opts[2].used, "conf_opt: others not marked");

	is_int(conf_opt_int(&m, "absent", 0, 10, &v, &err), 0, "conf_opt_int: absent is 0");
	is_int(v, -1, "conf_opt_int: absent leaves *out");
	is_int(conf_opt_int(&m, "n", 0, 10, &v, &err), 0, "conf_opt_int: in range");
	is_int(v, 7, "conf_opt_int: the last value");
	v = -1;
	is_int(conf_opt_int(&m, "big", 0, 99, &v, &err), -1, "conf_opt_int: out of range");
	is_int(err.line, 12, "conf_opt_int: err.line is the option's line");
	ok(strstr(err.message, "big") != NULL && strstr(err.message, "100") != NULL,
	    "conf_opt_int: message names the key and value");
	is_int(v, -1, "conf_opt_int: failure leaves *out");
	is_int(conf_opt_int(&m, "junk", 0, 99, &v, &err), -1, "conf_opt_int: junk");
	is_int(err.line, 17, "conf_opt_int: junk line");
	is_int(conf_opt_int(&m, "big", 100, 100, &v, &err), 0, "conf_opt_int: min == max");

	is_int(conf_opt_bool(&m, "b", &b, &err), 0, "conf_opt_bool: off");
	is_int(b, 0, "conf_opt_bool: off is 0");
	is_int(conf_opt_bool(&m, "bad", &b, &err), -1, "conf_opt_bool: perhaps");
	is_int(err.line, 14, "conf_opt_bool: line");

	is_int(conf_opt_double(&m, "d", 0, 1, &d, &err), 0, "conf_opt_double: 0.25");
	ok(d == 0.25, "conf_opt_double: value");
	is_int(conf_opt_double(&m, "d", 0.5, 1, &d, &err), -1, "conf_opt_double: below min");
	is_int(err.line, 15, "conf_opt_double: line");
	is_int(conf_opt_double(&m, "dx", 0, 1e300, &d, &err), -1, "conf_opt_double: overflow");
	is_int(conf_opt_double(&m, "junk", 0, 10, &d, &err), -1, "conf_opt_double: junk");
}

/* However many secrets there are, each leaves the environment once read. */
static void
test_secret_env(void)
{
	char name[32], value[64];
	const char *got[40];
	int i, bad_value = 0, left = 0, bad_again = 0;

	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "CS_UNIT_SECRET_%02d", i);
		snprintf(value, sizeof(value), "secret-value-%02d", i);
		setenv(name, value, 1);
	}
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "CS_UNIT_SECRET_%02d", i);
		snprintf(value, sizeof(value), "secret-value-%02d", i);
		got[i] = conf_secret_env(name);
		if (got[i] == NULL || strcmp(got[i], value) != 0)
			bad_value++;
		if (getenv(name) != NULL)
			left++;
	}
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "CS_UNIT_SECRET_%02d", i);
		if (conf_secret_env(name) != got[i])
			bad_again++;
	}
	is_int(bad_value, 0, "conf_secret_env: 40 secrets, every value returned");
	is_int(left, 0, "conf_secret_env: none of the 40 is left in the environment");
	is_int(bad_again, 0, "conf_secret_env: asking again gives the same value");
	ok(conf_secret_env("CS_UNIT_SECRET_NEVER_SET") == NULL,
	    "conf_secret_env: an unset variable gives NULL");
}

int
main(void)
{
	test_valid();
	test_valid_misc();
	test_errors();
	test_many_errors();
	test_long_line();
	test_missing_file();
	test_no_report();
	test_defaults();
	test_opt_helpers();
	test_secret_env();
	return done_testing();
}
