/* spool.h: the file journal's directory, opened once, trusted only when it is this user's alone. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_SPOOL_H
#define CS_SPOOL_H

#include "error.h"

/* err->type when the spool could be another user's doing: never use it. */
#define SPOOL_UNSAFE "unsafe_spool"

/*
 * The spool at path as a directory fd, for openat() and its kin: made when
 * missing (mode 0700, missing parents 0755), opened with O_NOFOLLOW and
 * accepted only when it is a directory owned by the effective uid with no
 * group or other permission bits.  Opened once per process and path; the fd
 * belongs to the process (callers never close it).  Thread-safe.
 * Returns the fd, or -1 with err filled (type SPOOL_UNSAFE: see above).
 */
int spool_fd(const char *path, struct cs_error *err);

/*
 * The same checks without making or keeping anything, for --check-config:
 * 0 when path is a safe spool or does not exist yet (start-up makes it).
 */
int spool_check(const char *path, struct cs_error *err);

#endif
