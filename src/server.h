/* server.h: running chatstream: listening socket, worker threads, signals, or one CGI request. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_SERVER_H
#define CS_SERVER_H

#include "conf.h"

/* Where requests come from. */
struct listen_spec {
	const char *unix_path;    /* -s PATH, may be NULL */
	const char *tcp;          /* -b HOST:PORT, may be NULL */
};

/*
 * Opens the listening socket chosen by spec, or the one inherited from
 * systemd (LISTEN_FDS) or on fd 0 (spawn-fcgi, lighttpd bin-path, mod_fcgid).
 * Returns the fd, -2 when there is none (run as CGI), -1 on error (logged).
 */
int server_listen_fd(const struct listen_spec *spec, int backlog);

/* Serves FastCGI on listen_fd until SIGTERM/SIGINT; returns the exit status. */
int server_run_fastcgi(struct conf *cf, int listen_fd);

/* Answers the one CGI request in the environment; returns the exit status. */
int server_run_cgi(struct conf *cf);

#endif
