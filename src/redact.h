/* redact.h: redacts a secret from text before it is cut. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_REDACT_H
#define CS_REDACT_H

#include <stddef.h>

/* The shortest piece of a secret masked where the text is cut. */
#define REDACT_MIN	4

/*
 * Copies in[0..len) into out (size bytes, NUL-terminated) so that it can be
 * shown to anyone: control bytes become spaces, and the text is cut to fit,
 * at a UTF-8 character boundary.  The secret is masked with '*' before the
 * cut, wherever it appears in the whole of in, so a copy that crosses the
 * cut is masked in the part that is kept.  Both ends of the kept text count
 * as cuts (in may itself be a piece of something longer): a tail that is a
 * prefix of the secret, or a head that is a suffix of it, of REDACT_MIN
 * bytes or more (or half the secret, rounded up, when that is less) is
 * masked too, so that of a secret cut in two and redacted piece by piece,
 * at least one piece is masked.  secret may be NULL or empty: nothing is
 * masked.  in may hold NULs (they become spaces).  Returns the length
 * written to out: at most size - 1, and 0 when size is 0 (nothing written).
 */
size_t redact(const char *secret, const char *in, size_t len, char *out, size_t size);

#endif
