/* main.c: command line of chatstream; everything else lives in libchatstream. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <json-c/json.h>

#include "buf.h"
#include "conf.h"
#include "fdbudget.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "spool.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONF SYSCONFDIR "/chatstream.conf"

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: chatstream [-d] [-c FILE] [-s SOCKET | -b HOST:PORT]\n"
	    "       chatstream [-c FILE] --check-config\n"
	    "       chatstream --help | --version\n"
	    "\n"
	    "Streams a model's answer to a POSTed prompt as Server-Sent Events,\n"
	    "behind a web server speaking FastCGI (or CGI).\n"
	    "\n"
	    "  -c, --config FILE    configuration (default: $CHATSTREAM_CONF, else\n"
	    "                       " DEFAULT_CONF " if it exists, else built-in demo)\n"
	    "  -s, --socket PATH    listen for FastCGI on a unix socket\n"
	    "  -b, --bind HOST:PORT listen for FastCGI on TCP (keep it on loopback)\n"
	    "  -d, --debug          debug logging\n"
	    "      --check-config   validate the configuration, list every problem, exit\n"
	    "  -h, --help           this text\n"
	    "  -V, --version        version\n"
	    "\n"
	    "Without -s or -b, chatstream serves FastCGI on a socket passed on fd 0\n"
	    "(spawn-fcgi, lighttpd bin-path, mod_fcgid) or by systemd (LISTEN_FDS),\n"
	    "and otherwise answers one CGI request from its environment.\n");
}

/*
 * FastCGI: every stream holds fds for its life; raises RLIMIT_NOFILE to what
 * cf->threads need, or serves fewer streams and says so.  Returns 0, or -1
 * when not even one stream can be served.
 */
static int
fd_budget(struct conf *cf)
{
	struct rlimit rl;
	char msg[512];
	long need, base = fdbudget_open_now() + 1;   /* the shutdown eventfd comes later */
	int max;

	if (fdbudget_apply(cf, 1, base, &need, &max, msg, sizeof(msg)) == -1) {
		if (max < 1) {
			log_warnx("%s", msg);
			return -1;
		}
		log_warnx("%s; serving %d streams", msg, max);
		cf->threads = max;
		need = fdbudget_need(cf, max, base);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_info("fds: ~%ld for %d streams; RLIMIT_NOFILE %llu (hard %llu)", need,
		    cf->threads, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "bind", required_argument, NULL, 'b' },
		{ "debug", no_argument, NULL, 'd' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct listen_spec spec = { NULL, NULL };
	const char *path = getenv("CHATSTREAM_CONF");
	struct conf cf;
	struct cs_error err;
	struct buf report;
	char msg[512];
	long need;
	int ch, check = 0, debug = 0, fd, rc, max;

	while ((ch = getopt_long(argc, argv, "c:s:b:dhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 's': spec.unix_path = optarg; break;
		case 'b': spec.tcp = optarg; break;
		case 'd': debug = 1; break;
		case 'C': check = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("chatstream %s\n", PACKAGE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (spec.unix_path != NULL && spec.tcp != NULL) {
		fprintf(stderr, "chatstream: -s and -b exclude each other\n");
		return 2;
	}
	if (path == NULL && access(DEFAULT_CONF, F_OK) == 0)
		path = DEFAULT_CONF;

	cs_error_clear(&err);
	buf_init(&report, 64 * 1024);
	rc = path != NULL ? conf_load(&cf, path, &report, &err) : conf_defaults(&cf, &err);
	if (rc == -1) {
		fputs(report.len > 0 ? report.data : err.message, stderr);
		if (report.len == 0)
			fputc('\n', stderr);
		buf_free(&report);
		return 1;
	}
	buf_free(&report);
	if (check) {
		if (journal_check_config(&cf, &err) == -1) {
			fprintf(stderr, "%s: %s\n", path != NULL ? path : "built-in defaults",
			    err.message);
			conf_free(&cf);
			return 1;
		}
		/* As served: the listening socket and the shutdown eventfd will be open too. */
		if (fdbudget_apply(&cf, 0, fdbudget_open_now() + 2, &need, &max, msg,
		    sizeof(msg)) == -1) {
			fprintf(stderr, "%s: %s\n", path != NULL ? path : "built-in defaults", msg);
			conf_free(&cf);
			return 1;
		}
		printf("%s: OK (%d threads, default model %s; ~%ld fds)\n",
		    path != NULL ? path : "built-in defaults", cf.threads,
		    conf_model(&cf, NULL)->name, need);
		conf_free(&cf);
		return 0;
	}
	log_init("chatstream", cf.log_format, debug || cf.debug);
	if (journal_check(&cf, &err) == -1) {
		if (strcmp(err.type, SPOOL_UNSAFE) == 0) {
			log_warnx("%s; not starting", err.message);
			conf_free(&cf);
			return 1;
		}
		/* Streams still work; only resuming them does not. */
		log_warnx("%s; streams will not be resumable (journal = off)", err.message);
		cf.journal = JOURNAL_OFF;
	}

	fd = server_listen_fd(&spec, cf.backlog);
	if (fd != -1)
		metrics_open(&cf);    /* before the fd budget counts what is open */
	if (fd >= 0 && fd_budget(&cf) == -1)
		rc = 1;
	else if (fd == -1)
		rc = 1;
	else if (fd == -2)
		rc = server_run_cgi(&cf);
	else
		rc = server_run_fastcgi(&cf, fd);
	metrics_close();
	conf_free(&cf);
	return rc;
}
