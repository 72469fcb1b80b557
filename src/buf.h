/* buf.h: a byte buffer whose capacity limit is fixed at creation (after curl's dynbuf). */
/* SPDX-License-Identifier: ISC */
#ifndef CS_BUF_H
#define CS_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data;      /* owned; always NUL-terminated after a successful append */
	size_t len;
	size_t alloc;
	size_t cap;      /* hard limit on len; appends past it fail */
};

/* Prepares an empty buffer that may hold at most cap bytes. Allocates nothing yet. */
void buf_init(struct buf *b, size_t cap);
/* Releases the storage; the buffer is empty and reusable afterwards. */
void buf_free(struct buf *b);
/* Empties the buffer, keeping its storage. */
void buf_reset(struct buf *b);
/* Appends; returns 0, or -1 (buffer unchanged) on overflow of cap or out of memory. */
int  buf_add(struct buf *b, const void *data, size_t len);
int  buf_addc(struct buf *b, char c);
int  buf_adds(struct buf *b, const char *s);
int  buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends v in decimal (the per-event path: no printf). Returns 0 or -1. */
int  buf_add_u64(struct buf *b, uint64_t v);
/* Removes the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);

#endif
