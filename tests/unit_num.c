/* unit_num.c: strict decimal parsing and the reason phrase of every status chatstream sends. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "http.h"
#include "num.h"
#include "tap.h"

static void
num_is(const char *s, uint64_t max, uint64_t want)
{
	uint64_t v = 12345;

	if (is_int(num_parse(s, strlen(s), max, &v), 0, "num \"%s\": accepted", s))
		ok(v == want, "num \"%s\": %llu", s, (unsigned long long)want);
}

static void
num_bad(const char *s, size_t len, uint64_t max, const char *what)
{
	uint64_t v = 12345;

	is_int(num_parse(s, len, max, &v), -1, "num %s: refused", what);
	ok(v == 12345, "num %s: result untouched", what);
}

static void
test_num(void)
{
	num_is("0", UINT64_MAX, 0);
	num_is("5", UINT64_MAX, 5);
	num_is("007", UINT64_MAX, 7);
	num_is("18446744073709551615", UINT64_MAX, UINT64_MAX);
	num_is("9223372036854775807", INT64_MAX, INT64_MAX);
	num_is("1000000", 1000000, 1000000);
	num_is("5", 5, 5);

	num_bad("", 0, UINT64_MAX, "empty");
	num_bad(NULL, 0, UINT64_MAX, "NULL");
	num_bad(" 5", 2, UINT64_MAX, "\" 5\"");
	num_bad("+2", 2, UINT64_MAX, "\"+2\"");
	num_bad(" -1", 3, UINT64_MAX, "\" -1\"");
	num_bad("-1", 2, UINT64_MAX, "\"-1\"");
	num_bad("5 ", 2, UINT64_MAX, "\"5 \"");
	num_bad("5\n", 2, UINT64_MAX, "\"5\\n\"");
	num_bad("0x10", 4, UINT64_MAX, "\"0x10\"");
	num_bad("1e3", 3, UINT64_MAX, "\"1e3\"");
	num_bad("1\0002", 3, UINT64_MAX, "a NUL inside");
	num_bad("18446744073709551616", 20, UINT64_MAX, "2^64");
	num_bad("99999999999999999999999", 23, UINT64_MAX, "23 nines");
	num_bad("9223372036854775808", 19, INT64_MAX, "INT64_MAX + 1");
	num_bad("1000001", 7, 1000000, "max + 1");
	num_bad("7", 1, 5, "one digit above a one-digit max");
	num_bad("6", 1, 5, "max + 1 (one digit)");
	/* len bounds the parse: the rest of the string is not looked at. */
	{
		uint64_t v = 0;

		is_int(num_parse("12&x=3", 2, UINT64_MAX, &v), 0, "num: len stops at 2");
		ok(v == 12, "num: \"12\" of \"12&x=3\"");
	}
}

static void
test_reasons(void)
{
	/* Every status chatstream sends (src/, grep "cs_fail(" and "Status:"). */
	static const struct {
		int status;
		const char *reason;
	} sent[] = {
		{ 200, "OK" }, { 202, "Accepted" }, { 204, "No Content" },
		{ 400, "Bad Request" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 411, "Length Required" },
		{ 413, "Content Too Large" }, { 415, "Unsupported Media Type" },
		{ 429, "Too Many Requests" }, { 500, "Internal Server Error" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
	};
	size_t i;

	for (i = 0; i < sizeof(sent) / sizeof(sent[0]); i++)
		is_str(http_reason(sent[i].status), sent[i].reason, "reason of %d",
		    sent[i].status);
}

int
main(void)
{
	test_num();
	test_reasons();
	return done_testing();
}
