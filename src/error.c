/* error.c: filling the shared cs_error record. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "error.h"

int
cs_vfail(struct cs_error *err, int status, const char *type, const char *fmt,
    va_list ap)
{
	if (err == NULL)
		return -1;
	err->status = status;
	err->type = type;
	err->param[0] = err->code[0] = err->kind[0] = '\0';
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	return -1;
}

int
cs_fail(struct cs_error *err, int status, const char *type, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cs_vfail(err, status, type, fmt, ap);
	va_end(ap);
	return -1;
}

int
cs_param(struct cs_error *err, const char *name)
{
	if (err != NULL)
		snprintf(err->param, sizeof(err->param), "%s", name);
	return -1;
}

void
cs_error_clear(struct cs_error *err)
{
	if (err == NULL)
		return;
	memset(err, 0, sizeof(*err));
}
