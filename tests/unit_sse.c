/* unit_sse.c: the SSE encoder, checked byte for byte and by a WHATWG-rule parser. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sse.h"
#include "helpers.h"
#include "tap.h"

#define BIG	(1u << 22)	/* output cap that the tests never reach */
#define MAXEV	8		/* events the parser records */

/* memcmp() that accepts NULL for an empty buffer. */
static int
memeq(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/*
 * --- an event-stream parser written from the WHATWG HTML spec, section
 * 9.2.6 "Interpreting an event stream" (bytes instead of decoded text: the
 * structure is ASCII, so decoding changes nothing that matters here) ---
 */

struct sse_event {
	struct str type;	/* "message" when no event type was given */
	struct str data;
	struct str lastid;	/* the source's last event ID string after dispatch */
};

struct sse_parse {
	struct sse_event ev[MAXEV];
	int nev;		/* events dispatched */
	int empty;		/* blank lines that dispatched nothing (empty data) */
	int comments;
	int f_data, f_event, f_id, f_retry, f_other;
	int id_ignored;		/* id fields ignored because they hold NUL */
	long retry;		/* last valid retry value, -1 when none */
	int pending;		/* an undispatched event or unterminated line at EOF */
	struct str databuf, typebuf, idbuf;
};

static void
parse_dispatch(struct sse_parse *p)
{
	struct sse_event *e;

	/* 1. The last event ID string is set from the buffer (which persists). */
	/* 2. Empty data buffer: reset data and type, dispatch nothing. */
	if (p->databuf.len == 0) {
		p->empty++;
		str_set(&p->typebuf, "", 0);
		return;
	}
	/* 3. Remove one trailing LF. */
	if (p->databuf.p[p->databuf.len - 1] == '\n')
		p->databuf.len--;
	if (p->nev < MAXEV) {
		e = &p->ev[p->nev];
		str_set(&e->data, p->databuf.p, p->databuf.len);
		if (p->typebuf.len > 0)
			str_set(&e->type, p->typebuf.p, p->typebuf.len);
		else
			str_set(&e->type, "message", 7);
		str_set(&e->lastid, p->idbuf.p != NULL ? p->idbuf.p : "",
		    p->idbuf.len);
	}
	p->nev++;
	str_set(&p->databuf, "", 0);
	str_set(&p->typebuf, "", 0);
}

static void
parse_field(struct sse_parse *p, const char *f, size_t flen, const char *v,
    size_t vlen)
{
	size_t i;

	if (flen == 5 && memcmp(f, "event", 5) == 0) {
		p->f_event++;
		str_set(&p->typebuf, v, vlen);
	} else if (flen == 4 && memcmp(f, "data", 4) == 0) {
		p->f_data++;
		str_add(&p->databuf, v, vlen);
		str_add(&p->databuf, "\n", 1);
	} else if (flen == 2 && memcmp(f, "id", 2) == 0) {
		p->f_id++;
		if (memchr(v, '\0', vlen) != NULL)
			p->id_ignored++;
		else
			str_set(&p->idbuf, v, vlen);
	} else if (flen == 5 && memcmp(f, "retry", 5) == 0) {
		p->f_retry++;
		for (i = 0; i < vlen; i++)
			if (v[i] < '0' || v[i] > '9')
				return;
		if (vlen > 0)
			p->retry = strtol(v, NULL, 10);
	} else
		p->f_other++;
}

static void
parse(struct sse_parse *p, const char *in, size_t len)
{
	size_t pos = 0;

	memset(p, 0, sizeof(*p));
	p->retry = -1;
	str_set(&p->databuf, "", 0);
	str_set(&p->typebuf, "", 0);
	str_set(&p->idbuf, "", 0);
	while (pos < len) {
		const char *line = in + pos, *colon;
		size_t eol = pos, n;

		/* Lines end in CRLF, LF or CR. */
		while (eol < len && in[eol] != '\r' && in[eol] != '\n')
			eol++;
		if (eol == len) {
			p->pending = 1;	/* no end of line: never processed */
			break;
		}
		n = eol - pos;
		if (in[eol] == '\r' && eol + 1 < len && in[eol + 1] == '\n')
			pos = eol + 2;
		else
			pos = eol + 1;

		if (n == 0)
			parse_dispatch(p);
		else if (line[0] == ':')
			p->comments++;
		else if ((colon = memchr(line, ':', n)) != NULL) {
			const char *v = colon + 1;
			size_t vlen = n - (size_t)(v - line);

			if (vlen > 0 && *v == ' ') {
				v++;
				vlen--;
			}
			parse_field(p, line, (size_t)(colon - line), v, vlen);
		} else
			parse_field(p, line, n, "", 0);
	}
	/* At end of file an incomplete event is discarded. */
	if (p->databuf.len > 0 || p->typebuf.len > 0)
		p->pending = 1;
}

static void
parse_free(struct sse_parse *p)
{
	int i;

	for (i = 0; i < MAXEV; i++) {
		str_free(&p->ev[i].type);
		str_free(&p->ev[i].data);
		str_free(&p->ev[i].lastid);
	}
	str_free(&p->databuf);
	str_free(&p->typebuf);
	str_free(&p->idbuf);
}

/* --- expectations --- */

/* The data the spec says a client sees: CRLF and CR become LF. */
static void
normalise(const char *d, size_t len, struct str *o)
{
	size_t i;

	str_set(o, "", 0);
	for (i = 0; i < len; i++) {
		if (d[i] == '\r') {
			str_add(o, "\n", 1);
			if (i + 1 < len && d[i + 1] == '\n')
				i++;
		} else
			str_add(o, d + i, 1);
	}
}

static size_t
count_lines(const char *d, size_t len)
{
	size_t i, n = 1;

	for (i = 0; i < len; i++) {
		if (d[i] == '\n' || d[i] == '\r')
			n++;
		if (d[i] == '\r' && i + 1 < len && d[i + 1] == '\n')
			i++;
	}
	return n;
}

static char why[512];

/*
 * Encodes one event into a fresh buffer, re-parses it and checks everything
 * a client could observe.  Returns 0, or -1 with the reason in why.
 */
static int
roundtrip(uint64_t id, const char *name, const char *data, size_t len)
{
	struct sse_parse p;
	struct buf out;
	struct str want, wtype;
	char wid[32];
	int rc = -1;

	memset(&want, 0, sizeof(want));
	memset(&wtype, 0, sizeof(wtype));
	buf_init(&out, BIG);
	if (sse_event(&out, id, name, data, len) != 0) {
		snprintf(why, sizeof(why), "sse_event returned -1");
		buf_free(&out);
		return -1;
	}
	parse(&p, out.data, out.len);
	normalise(data, len, &want);
	str_set(&wtype, "", 0);
	if (name != NULL) {
		const char *q;

		for (q = name; *q != '\0'; q++)
			if (*q != '\r' && *q != '\n')
				str_add(&wtype, q, 1);
	}
	if (wtype.len == 0)
		str_set(&wtype, "message", 7);
	if (id > 0)
		snprintf(wid, sizeof(wid), "%" PRIu64, id);
	else
		wid[0] = '\0';

	if (memchr(out.data, '\r', out.len) != NULL)
		snprintf(why, sizeof(why), "output contains a CR");
	else if (out.len < 2 || out.data[out.len - 1] != '\n' ||
	    out.data[out.len - 2] != '\n')
		snprintf(why, sizeof(why), "output does not end in a blank line");
	else if (p.nev != 1 || p.empty != 0)
		snprintf(why, sizeof(why), "%d events dispatched (%d empty), "
		    "want exactly 1", p.nev, p.empty);
	else if (p.pending)
		snprintf(why, sizeof(why), "an unterminated line or event is left");
	else if (p.comments != 0 || p.f_retry != 0 || p.f_other != 0)
		snprintf(why, sizeof(why), "injected lines: %d comments, %d retry, "
		    "%d unknown fields", p.comments, p.f_retry, p.f_other);
	else if (p.f_id != (id > 0) || p.f_event != (name != NULL))
		snprintf(why, sizeof(why), "%d id fields and %d event fields",
		    p.f_id, p.f_event);
	else if ((size_t)p.f_data != count_lines(data, len))
		snprintf(why, sizeof(why), "%d data fields for %zu lines",
		    p.f_data, count_lines(data, len));
	else if (!memeq(p.ev[0].data.p, p.ev[0].data.len, want.p, want.len))
		snprintf(why, sizeof(why), "data differs: got %zu bytes, want "
		    "%zu", p.ev[0].data.len, want.len);
	else if (!memeq(p.ev[0].type.p, p.ev[0].type.len, wtype.p, wtype.len))
		snprintf(why, sizeof(why), "event type '%s', want '%s'",
		    p.ev[0].type.p, wtype.p);
	else if (strcmp(p.ev[0].lastid.p, wid) != 0)
		snprintf(why, sizeof(why), "last event id '%s', want '%s'",
		    p.ev[0].lastid.p, wid);
	else
		rc = 0;
	parse_free(&p);
	str_free(&want);
	str_free(&wtype);
	buf_free(&out);
	return rc;
}

static const char *const pieces[] = {
	"\r", "\n", "\r\n", "\n\r", "\0", ":", " ", "data:", "data: ",
	"id: 9", "id:", "event: x", "retry: 1", ": c", "\xEF\xBB\xBF", "\xFF",
	"a", "b", "\r\n\r\n", "\n\n",
};

/* Fills d[0..len) with hostile bytes. */
static void
gen_fill(char *d, size_t len)
{
	size_t n = 0;

	while (n < len) {
		const char *s;
		size_t k;

		if (rng() % 4 == 0) {
			d[n++] = (char)rng();
			continue;
		}
		k = (size_t)(rng() % (sizeof(pieces) / sizeof(pieces[0])));
		s = pieces[k];
		k = s[0] == '\0' ? 1 : strlen(s);
		if (k > len - n)
			k = len - n;
		memcpy(d + n, s, k);
		n += k;
	}
}

/* Fills d with up to max hostile bytes; returns the length. */
static size_t
gen_hostile(char *d, size_t max)
{
	size_t len = (size_t)(rng() % (max + 1));

	gen_fill(d, len);
	return len;
}

/* --- the tests --- */

static void
expect_event(uint64_t id, const char *name, const char *data, size_t len,
    const char *want, size_t wantlen, const char *what)
{
	struct buf out;

	buf_init(&out, BIG);
	is_int(sse_event(&out, id, name, data, len), 0, "%s: returns 0", what);
	is_mem(out.data, out.len, want, wantlen, "%s: exact bytes", what);
	if (!ok(roundtrip(id, name, data, len) == 0, "%s: parser sees one clean "
	    "event", what))
		diag("%s", why);
	buf_free(&out);
}

#define EV(id, name, data, want, what) \
	expect_event((id), (name), (data), sizeof(data) - 1, (want), \
	    sizeof(want) - 1, (what))

static void
test_exact(void)
{
	EV(0, NULL, "hello", "data: hello\n\n", "plain");
	EV(7, "msg", "hello", "event: msg\ndata: hello\nid: 7\n\n",
	    "id, event and data");
	EV(UINT64_MAX, NULL, "x", "data: x\nid: 18446744073709551615\n\n",
	    "largest id");
	EV(0, NULL, "", "data: \n\n", "empty data");
	EV(0, NULL, "a\nb", "data: a\ndata: b\n\n", "LF");
	EV(0, NULL, "a\rb", "data: a\ndata: b\n\n", "CR");
	EV(0, NULL, "a\r\nb", "data: a\ndata: b\n\n", "CRLF");
	EV(0, NULL, "a\n\rb", "data: a\ndata: \ndata: b\n\n",
	    "LF CR is two line breaks");
	EV(0, NULL, "a\r", "data: a\ndata: \n\n", "lone CR at end");
	EV(0, NULL, "a\n", "data: a\ndata: \n\n", "LF at end");
	EV(0, NULL, "\r", "data: \ndata: \n\n", "only CR");
	EV(0, NULL, "\r\n", "data: \ndata: \n\n", "only CRLF");
	EV(0, NULL, "\n\n", "data: \ndata: \ndata: \n\n", "\\n\\n");
	EV(0, NULL, "\r\r\n", "data: \ndata: \ndata: \n\n", "CR CRLF");
	EV(0, NULL, "a\n\nid: 9\n\ndata: x",
	    "data: a\ndata: \ndata: id: 9\ndata: \ndata: data: x\n\n",
	    "blank lines and field look-alikes");
	EV(0, NULL, "data: x", "data: data: x\n\n", "'data: x' payload");
	EV(0, NULL, "id: 9", "data: id: 9\n\n", "'id: 9' payload");
	EV(0, NULL, ": comment", "data: : comment\n\n", "comment look-alike");
	EV(0, NULL, " lead", "data:  lead\n\n", "leading space is kept");
	EV(0, NULL, "a\0b", "data: a\0b\n\n", "NUL in data");
	EV(0, NULL, "\0", "data: \0\n\n", "only NUL");
	EV(1, "a\rb\nc", "x", "event: abc\ndata: x\nid: 1\n\n",
	    "CR and LF dropped from event name");
	EV(1, "x\r\ndata: injected\r\n", "y",
	    "event: xdata: injected\ndata: y\nid: 1\n\n",
	    "injection attempt in event name");
	EV(0, "", "x", "event: \ndata: x\n\n", "empty event name");
	EV(0, "\r\n", "x", "event: \ndata: x\n\n",
	    "event name of only CR LF");
}

static void
test_nul_in_name(void)
{
	static const char name[] = "ab\0\nevent: evil";
	struct buf out;

	/* A C string ends at its NUL, so nothing after it can reach the wire. */
	buf_init(&out, BIG);
	sse_event(&out, 0, name, "x", 1);
	is_str(out.data, "event: ab\ndata: x\n\n",
	    "event name with NUL: cut there");
	buf_free(&out);
}

/* NULL with length 0 is the usual "no data"; last, as a crash here hides nothing. */
static void
test_null_data(void)
{
	struct buf out;

	buf_init(&out, BIG);
	is_int(sse_event(&out, 3, NULL, NULL, 0), 0, "NULL data, len 0: 0");
	is_str(out.data, "data: \nid: 3\n\n", "NULL data, len 0: empty event");
	buf_free(&out);
}

static void
test_big(void)
{
	const size_t n = 64 * 1024;
	struct buf out;
	char *d, *want;
	size_t i;

	if ((d = malloc(n)) == NULL || (want = malloc(n + 8)) == NULL)
		abort();
	memset(d, 'x', n);
	memcpy(want, "data: ", 6);
	memcpy(want + 6, d, n);
	memcpy(want + 6 + n, "\n\n", 2);
	buf_init(&out, BIG);
	is_int(sse_event(&out, 0, NULL, d, n), 0, "64 KiB one line: 0");
	is_mem(out.data, out.len, want, n + 8, "64 KiB one line: exact bytes");
	buf_free(&out);

	memset(d, '\n', n);
	if (!ok(roundtrip(5, "big", d, n) == 0, "64 KiB of LF: one event, %zu "
	    "LFs of data", n))
		diag("%s", why);
	memset(d, '\r', n);
	if (!ok(roundtrip(5, "big", d, n) == 0, "64 KiB of CR: one event"))
		diag("%s", why);
	for (i = 0; i < n; i += 2)
		memcpy(d + i, "\r\n", 2);
	if (!ok(roundtrip(5, "big", d, n) == 0, "64 KiB of CRLF: one event"))
		diag("%s", why);
	gen_fill(d, n);
	if (!ok(roundtrip(UINT64_MAX, "big\r\n", d, n) == 0, "%zu hostile "
	    "bytes: one event", n))
		diag("%s", why);
	free(d);
	free(want);
}

static void
test_random(void)
{
	char d[256], name[32];
	long bad = 0;
	int n;

	for (n = 0; n < 20000; n++) {
		size_t len = gen_hostile(d, sizeof(d)), nl;
		uint64_t id = rng() % 3 == 0 ? 0 : rng() >> (rng() % 64);
		const char *np = NULL;

		if (rng() % 2 == 0) {
			nl = gen_hostile(name, sizeof(name) - 1);
			name[nl] = '\0';
			np = name;
		}
		if (roundtrip(id, np, d, len) != 0 && bad++ < 5)
			diag("random event %d (%zu bytes): %s", n, len, why);
	}
	ok(bad == 0, "20000 random hostile events: each parses as exactly one "
	    "event with the normalised data, given id and type, nothing else");
}

static void
test_stream(void)
{
	static const char want[] =
	    ": hello\n"
	    "retry: 3000\n"
	    "event: a\ndata: one\ndata: two\nid: 1\n\n"
	    ": keep-alive\n"
	    "data: three\n\n";
	struct sse_parse p;
	struct buf out;

	buf_init(&out, BIG);
	is_int(sse_comment(&out, "hello"), 0, "stream: comment");
	is_int(sse_retry(&out, 3000), 0, "stream: retry");
	is_int(sse_event(&out, 1, "a", "one\r\ntwo", 8), 0, "stream: event 1");
	is_int(sse_comment(&out, "keep-alive"), 0, "stream: keep-alive");
	is_int(sse_event(&out, 0, NULL, "three", 5), 0, "stream: event 2");
	is_mem(out.data, out.len, want, sizeof(want) - 1, "stream: exact bytes");
	parse(&p, out.data, out.len);
	is_int(p.nev, 2, "stream: two events dispatched");
	is_int(p.comments, 2, "stream: two comments");
	is_int(p.retry, 3000, "stream: retry 3000 understood");
	is_str(p.ev[0].data.p, "one\ntwo", "stream: event 1 data");
	is_str(p.ev[0].type.p, "a", "stream: event 1 type");
	is_str(p.ev[1].data.p, "three", "stream: event 2 data");
	is_str(p.ev[1].type.p, "message", "stream: event 2 type");
	is_str(p.ev[1].lastid.p, "1", "stream: id 1 persists to event 2");
	ok(!p.pending && p.empty == 0 && p.f_other == 0, "stream: nothing "
	    "pending, empty or unknown");
	parse_free(&p);
	buf_free(&out);
}

static void
test_comment_retry(void)
{
	struct sse_parse p;
	struct buf out;

	buf_init(&out, BIG);
	sse_comment(&out, "hi");
	is_str(out.data, ": hi\n", "comment: exact");
	buf_reset(&out);
	sse_comment(&out, "");
	is_str(out.data, ": \n", "empty comment: exact");
	buf_reset(&out);
	sse_comment(&out, "a\nb\rc\r\ndata: x\n\nd");
	is_str(out.data, ": abcdata: xd\n", "comment: CR and LF dropped");
	parse(&p, out.data, out.len);
	ok(p.comments == 1 && p.nev == 0 && p.empty == 0 && p.f_data == 0 &&
	    !p.pending, "comment: parses as one comment and nothing else");
	parse_free(&p);
	buf_reset(&out);
	sse_retry(&out, 0);
	is_str(out.data, "retry: 0\n", "retry 0: exact");
	buf_reset(&out);
	sse_retry(&out, UINT_MAX);
	is_str(out.data, "retry: 4294967295\n", "retry UINT_MAX: exact");
	parse(&p, out.data, out.len);
	ok(p.f_retry == 1 && p.retry == 4294967295L && p.nev == 0 &&
	    p.empty == 0, "retry: parses as one retry field");
	parse_free(&p);
	buf_free(&out);
}

/* Every cap below the needed size fails and leaves the buffer as it was. */
static int
overflow_event(uint64_t id, const char *name, const char *data, size_t len,
    int kind)
{
	static const char pfx[] = "PFX";
	struct buf out;
	size_t need, cap;
	int rc, bad = 0;

	buf_init(&out, BIG);
	buf_adds(&out, pfx);
	if (kind == 0)
		rc = sse_event(&out, id, name, data, len);
	else if (kind == 1)
		rc = sse_comment(&out, data);
	else
		rc = sse_retry(&out, (unsigned)id);
	need = out.len;
	buf_free(&out);
	if (rc != 0)
		return 1;
	for (cap = 0; cap <= need; cap++) {
		buf_init(&out, cap);
		if (cap >= 3)
			buf_adds(&out, pfx);
		if (kind == 0)
			rc = sse_event(&out, id, name, data, len);
		else if (kind == 1)
			rc = sse_comment(&out, data);
		else
			rc = sse_retry(&out, (unsigned)id);
		if (cap == need) {
			if (rc != 0 || out.len != need)
				bad++;
		} else if (rc != -1) {
			bad++;
		} else if (cap >= 3 ? out.len != 3 || memcmp(out.data, pfx, 4) :
		    out.len != 0 || (out.data != NULL && out.data[0] != '\0')) {
			if (bad++ == 0)
				diag("cap %zu of %zu: buffer changed to %zu bytes",
				    cap, need, out.len);
		}
		buf_free(&out);
	}
	return bad;
}

static void
test_overflow(void)
{
	static const char big[] = "line one\r\nline two\rthree\n\nfour";

	is_int(overflow_event(0, NULL, "hello", 5, 0), 0,
	    "event, every too-small cap: -1 and buffer unchanged");
	is_int(overflow_event(UINT64_MAX, "na\rme", big, sizeof(big) - 1, 0), 0,
	    "event with id, name and 5 lines, every too-small cap: -1, unchanged");
	is_int(overflow_event(42, "", "", 0, 0), 0,
	    "empty event, every too-small cap: -1, unchanged");
	is_int(overflow_event(0, NULL, "a\nb\r\nc", 0, 1), 0,
	    "comment, every too-small cap: -1, unchanged");
	is_int(overflow_event(123456, NULL, NULL, 0, 2), 0,
	    "retry, every too-small cap: -1, unchanged");
}

int
main(void)
{
	rng_seed(0xC0FFEEULL);
	plan(112);
	test_exact();
	test_nul_in_name();
	test_big();
	test_random();
	test_stream();
	test_comment_retry();
	test_overflow();
	test_null_data();
	return done_testing();
}
