/* runtime.h: the state a running chatstream process shares between its request threads. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_RUNTIME_H
#define CS_RUNTIME_H

#include <stdatomic.h>
#include <stdint.h>

#include "conf.h"

struct runtime {
	const struct conf *conf;      /* read-only once threads run */
	int shutdown_fd;              /* eventfd: readable once shutdown began; -1 if none */
	atomic_llong shutdown_at;     /* clock_ms() deadline for open streams; 0 while running */
	atomic_int active;            /* streams open now */
	int64_t started;              /* time(NULL) when the process started: the models' "created" */
};

#endif
