/*
 * unit_sse_parse.c: the incremental upstream SSE parser (src/sse_parse.c) fed
 * split-everywhere input, compared with a reference parse of the whole input.
 *
 * The reference below is written from the WHATWG HTML rules ("Interpreting an
 * event stream"), over bytes: one leading BOM dropped; lines end in CRLF, LF
 * or CR; ':' starts a comment; "name: value" (one space dropped), a line
 * without a colon is a field with an empty value; data lines are joined with
 * LF; a blank line dispatches (nothing when the data is empty) and resets the
 * type; what is not terminated by a blank line at the end is pending.  It
 * adds sse_parse.h's caps: a line longer than max_line, or an event whose
 * data (counting the LF after each data line) exceeds max_event, stops the
 * parse with SSE_PARSE_TOO_BIG; event names are cut to 63 bytes.
 *
 * Every input is fed cut at every position (2 pieces), byte by byte, at
 * every pair of positions (3 pieces, small inputs) or random pairs, and in
 * random runs of pieces; each way must give the reference's events, return
 * code and pending state.  Explicit cases pin the rules a shared mistake of
 * both parsers would hide (CR|LF across chunks, split BOM, split UTF-8).
 */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse_parse.h"
#include "helpers.h"
#include "tap.h"

#define TYPE_MAX 63	/* sse_parser.type holds 64 bytes with the NUL */

/* One event, serialised unambiguously: "<type>\x1f<len>:<data>\n". */
static void
ser_event(struct str *out, const char *type, size_t tlen, const char *data, size_t len)
{
	char n[32];

	str_add(out, type, tlen);
	snprintf(n, sizeof(n), "\x1f%zu:", len);
	str_adds(out, n);
	str_add(out, data, len);
	str_add(out, "\n", 1);
}

/* --- the outcome of one parse --- */

struct result {
	struct str events;	/* serialised events, in order */
	int nev;
	int rc;			/* 0, SSE_PARSE_TOO_BIG, or the callback's value */
	int pending;		/* only meaningful when rc == 0 */
};

static void
result_free(struct result *r)
{
	str_free(&r->events);
}

/* --- the reference: whole input, WHATWG rules + the documented caps --- */

static void
reference(const char *in, size_t len, size_t max_line, size_t max_event,
    struct result *res)
{
	struct str data = { NULL, 0, 0 };
	char type[TYPE_MAX + 1] = "";
	size_t pos = 0;

	memset(res, 0, sizeof(*res));
	if (len >= 3 && memcmp(in, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *line = in + pos, *colon, *v;
		size_t eol = pos, n, nlen, vlen;

		while (eol < len && in[eol] != '\r' && in[eol] != '\n')
			eol++;
		n = eol - pos;
		if (n > max_line) {
			res->rc = SSE_PARSE_TOO_BIG;
			break;
		}
		if (eol == len) {		/* unterminated last line */
			res->pending = n > 0 || data.len > 0;
			goto out;
		}
		pos = eol + 1;
		if (in[eol] == '\r' && pos < len && in[pos] == '\n')
			pos++;
		if (n == 0) {
			if (data.len > 0) {
				const char *t = type[0] != '\0' ? type : "message";

				ser_event(&res->events, t, strlen(t), data.p, data.len - 1);
				res->nev++;
			}
			str_reset(&data);
			type[0] = '\0';
			continue;
		}
		if (line[0] == ':')
			continue;
		colon = memchr(line, ':', n);
		nlen = colon != NULL ? (size_t)(colon - line) : n;
		v = colon != NULL ? colon + 1 : line + n;
		vlen = (size_t)(line + n - v);
		if (vlen > 0 && *v == ' ') {
			v++;
			vlen--;
		}
		if (nlen == 4 && memcmp(line, "data", 4) == 0) {
			if (data.len + vlen + 1 > max_event) {
				res->rc = SSE_PARSE_TOO_BIG;
				break;
			}
			str_add(&data, v, vlen);
			str_add(&data, "\n", 1);
		} else if (nlen == 5 && memcmp(line, "event", 5) == 0) {
			size_t k = vlen < TYPE_MAX ? vlen : TYPE_MAX;

			memcpy(type, v, k);
			type[k] = '\0';
		}
	}
	res->pending = data.len > 0;
out:
	if (res->rc != 0)
		res->pending = 0;
	str_free(&data);
}

/* --- the parser under test, fed in pieces --- */

struct collect {
	struct str *events;
	int nev;
	int stop_after;		/* return 7 from the callback after this many; 0: never */
};

static int
on_ev(void *ctx, const char *type, const char *data, size_t len)
{
	struct collect *c = ctx;

	ser_event(c->events, type, strlen(type), data, len);
	/* the data is NUL-terminated as promised */
	if (data[len] != '\0')
		str_adds(c->events, "<data not NUL-terminated>");
	c->nev++;
	return c->stop_after > 0 && c->nev >= c->stop_after ? 7 : 0;
}

/* Feeds in[0..len) cut at the given ascending positions. */
static void
run_cuts(const char *in, size_t len, const size_t *cuts, int ncuts, size_t max_line,
    size_t max_event, struct result *res)
{
	struct sse_parser p;
	struct collect c;
	size_t from = 0;
	int i;

	memset(res, 0, sizeof(*res));
	c.events = &res->events;
	c.nev = 0;
	c.stop_after = 0;
	sse_parse_init(&p, max_line, max_event, on_ev, &c);
	for (i = 0; i <= ncuts && res->rc == 0; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		char *piece;

		/* each piece in its own allocation, so ASan sees any read past it */
		if ((piece = malloc(to - from + 1)) == NULL)
			abort();
		memcpy(piece, in + from, to - from);
		res->rc = sse_parse_feed(&p, piece, to - from);
		free(piece);
		from = to;
	}
	res->pending = res->rc == 0 ? sse_parse_pending(&p) : 0;
	res->nev = c.nev;
	sse_parse_free(&p);
}

static int
same(const struct result *a, const struct result *b)
{
	return a->rc == b->rc && a->pending == b->pending && a->events.len == b->events.len &&
	    (a->events.len == 0 || memcmp(a->events.p, b->events.p, a->events.len) == 0);
}

static char first_diff[256];

static void
note_diff(const char *how, const struct result *got, const struct result *want)
{
	if (first_diff[0] != '\0')
		return;
	snprintf(first_diff, sizeof(first_diff),
	    "%s: got rc=%d pending=%d %d events (%zu bytes), want rc=%d pending=%d "
	    "%d events (%zu bytes)", how, got->rc, got->pending, got->nev, got->events.len,
	    want->rc, want->pending, want->nev, want->events.len);
}

static size_t
rnd(size_t n)
{
	return n == 0 ? 0 : (size_t)(rng() % n);
}

/*
 * Every way of cutting one input against the reference.  Returns the number
 * of mismatches; the first is described in first_diff.
 */
static long
check_all_splits(const char *label, const char *in, size_t len, size_t max_line,
    size_t max_event, int exhaustive3, int random3)
{
	struct result want, got;
	size_t cuts[4096], i, j;
	long bad = 0, runs = 0;
	int k;

	reference(in, len, max_line, max_event, &want);
	first_diff[0] = '\0';
	/* the whole input at once */
	run_cuts(in, len, NULL, 0, max_line, max_event, &got);
	runs++;
	if (!same(&got, &want))
		bad++, note_diff("whole", &got, &want);
	result_free(&got);
	/* 2 pieces: every position, including empty first/last pieces */
	for (i = 0; i <= len; i++) {
		cuts[0] = i;
		run_cuts(in, len, cuts, 1, max_line, max_event, &got);
		runs++;
		if (!same(&got, &want)) {
			char how[64];

			snprintf(how, sizeof(how), "2-way at %zu", i);
			bad++, note_diff(how, &got, &want);
		}
		result_free(&got);
	}
	/* byte by byte */
	if (len > 0 && len < sizeof(cuts) / sizeof(cuts[0])) {
		for (i = 0; i + 1 < len; i++)
			cuts[i] = i + 1;
		run_cuts(in, len, cuts, (int)(len - 1), max_line, max_event, &got);
		runs++;
		if (!same(&got, &want))
			bad++, note_diff("byte by byte", &got, &want);
		result_free(&got);
	}
	/* 3 pieces: every pair of positions, or random pairs */
	if (exhaustive3) {
		for (i = 0; i <= len; i++)
			for (j = i; j <= len; j++) {
				cuts[0] = i;
				cuts[1] = j;
				run_cuts(in, len, cuts, 2, max_line, max_event, &got);
				runs++;
				if (!same(&got, &want)) {
					char how[64];

					snprintf(how, sizeof(how), "3-way at %zu,%zu", i, j);
					bad++, note_diff(how, &got, &want);
				}
				result_free(&got);
			}
	}
	for (k = 0; k < random3; k++) {
		i = rnd(len + 1);
		j = rnd(len + 1);
		cuts[0] = i < j ? i : j;
		cuts[1] = i < j ? j : i;
		run_cuts(in, len, cuts, 2, max_line, max_event, &got);
		runs++;
		if (!same(&got, &want)) {
			char how[64];

			snprintf(how, sizeof(how), "random 3-way at %zu,%zu", cuts[0], cuts[1]);
			bad++, note_diff(how, &got, &want);
		}
		result_free(&got);
	}
	/* random runs of 1..7-byte pieces */
	for (k = 0; k < 50 && len < sizeof(cuts) / sizeof(cuts[0]); k++) {
		int n = 0;

		for (i = 1 + rnd(7); i < len; i += 1 + rnd(7))
			cuts[n++] = i;
		run_cuts(in, len, cuts, n, max_line, max_event, &got);
		runs++;
		if (!same(&got, &want))
			bad++, note_diff("random small pieces", &got, &want);
		result_free(&got);
	}
	if (bad > 0)
		diag("%s: %ld of %ld ways differ; first: %s", label, bad, runs, first_diff);
	result_free(&want);
	return bad;
}

/* --- explicit expectations (not from the reference) --- */

/* Feeds the pieces (NULL-terminated list of {ptr,len}) and returns the result. */
struct piece {
	const char *p;
	size_t n;
};

#define P(s)	{ (s), sizeof(s) - 1 }
#define PEND	{ NULL, 0 }

static void
feed_pieces(const struct piece *pc, size_t max_line, size_t max_event, struct result *res)
{
	struct str all = { NULL, 0, 0 };
	size_t cuts[64];
	int n = 0;

	for (; pc->p != NULL; pc++) {
		str_add(&all, pc->p, pc->n);
		if (pc[1].p != NULL)
			cuts[n++] = all.len;
	}
	run_cuts(all.p != NULL ? all.p : "", all.len, cuts, n, max_line, max_event, res);
	str_free(&all);
}

/* The serialisation of the expected events, given as type/data pairs. */
static void
expect(struct str *out, int n, ...)
{
	va_list ap;
	int i;

	str_reset(out);
	va_start(ap, n);
	for (i = 0; i < n; i++) {
		const char *t = va_arg(ap, const char *);
		const char *d = va_arg(ap, const char *);
		size_t dl = va_arg(ap, size_t);

		ser_event(out, t, strlen(t), d, dl);
	}
	va_end(ap);
}

#define EV(t, d)	(t), (d), sizeof(d) - 1

static void
pinned(const char *name, const struct piece *pc, int nev_want, const struct str *want,
    int rc_want, int pending_want)
{
	struct result got;

	feed_pieces(pc, 1 << 20, 1 << 20, &got);
	ok(got.rc == rc_want && got.pending == pending_want && got.nev == nev_want &&
	    got.events.len == want->len &&
	    (want->len == 0 || memcmp(got.events.p, want->p, want->len) == 0),
	    "%s", name);
	if (!(got.events.len == want->len &&
	    (want->len == 0 || memcmp(got.events.p, want->p, want->len) == 0)))
		is_mem(got.events.p, got.events.len, want->p, want->len, "  %s: events", name);
	if (got.rc != rc_want || got.pending != pending_want || got.nev != nev_want)
		diag("  rc=%d pending=%d nev=%d, want rc=%d pending=%d nev=%d", got.rc,
		    got.pending, got.nev, rc_want, pending_want, nev_want);
	result_free(&got);
}

static void
test_pinned(void)
{
	struct str w = { NULL, 0, 0 };

	{
		/* CR ends one chunk, LF starts the next: one line end, not two */
		const struct piece pc[] = { P("data: a\r"), P("\ndata: b\r"), P("\n\r"),
		    P("\n"), PEND };

		expect(&w, 1, EV("message", "a\nb"));
		pinned("CR | LF across chunks is one line end (one event \"a\\nb\")", pc, 1, &w, 0, 0);
	}
	{
		/* CR CR: two line ends, the second a blank line */
		const struct piece pc[] = { P("data: a\r"), P("\r"), P("data: b\n\n"), PEND };

		expect(&w, 2, EV("message", "a"), EV("message", "b"));
		pinned("CR | CR is two line ends: a blank line dispatches", pc, 2, &w, 0, 0);
	}
	{
		/* a lone CR, then LF as the next chunk's first byte after a feed of 0 bytes */
		const struct piece pc[] = { P("data: a\r"), { "", 0 }, P("\n\n"), PEND };

		expect(&w, 1, EV("message", "a"));
		pinned("CR | (empty chunk) | LF: still one line end", pc, 1, &w, 0, 0);
	}
	{
		const struct piece pc[] = { P("\xEF"), P("\xBB"), P("\xBF"), P("data: x\n\n"), PEND };

		expect(&w, 1, EV("message", "x"));
		pinned("BOM split 1|1|1 across chunks is dropped", pc, 1, &w, 0, 0);
	}
	{
		const struct piece pc[] = { P("\xEF\xBB"), P("\xBF" "data: x\n\n"), PEND };

		expect(&w, 1, EV("message", "x"));
		pinned("BOM split 2|1 is dropped", pc, 1, &w, 0, 0);
	}
	{
		/* a BOM later in the stream is part of the line: the field name is not "data" */
		const struct piece pc[] = { P("data: a\n\n\xEF\xBB\xBF" "data: b\n\n"), PEND };

		expect(&w, 1, EV("message", "a"));
		pinned("a BOM not at the start is not dropped (its line is an unknown field)",
		    pc, 1, &w, 0, 0);
	}
	{
		/* only one BOM is dropped */
		const struct piece pc[] = { P("\xEF\xBB\xBF\xEF\xBB\xBF" "data: a\n\n"), PEND };

		str_reset(&w);
		pinned("two BOMs: only the first is dropped", pc, 0, &w, 0, 0);
	}
	{
		/* a BOM-like start that is not a BOM stays part of the line */
		const struct piece pc[] = { P("\xEF\xBB"), P("data: a\n\ndata: b\n\n"), PEND };

		expect(&w, 1, EV("message", "b"));
		pinned("an incomplete BOM is not dropped", pc, 1, &w, 0, 0);
	}
	{
		/* UTF-8 sequences split in every place: bytes arrive unchanged */
		const struct piece pc[] = { P("data: caf\xC3"), P("\xA9 \xE6"), P("\x97"),
		    P("\xA5 \xF0\x9F"), P("\x8E"), P("\x89\n"), P("\n"), PEND };

		expect(&w, 1, EV("message", "caf\xC3\xA9 \xE6\x97\xA5 \xF0\x9F\x8E\x89"));
		pinned("UTF-8 split across chunks arrives byte-exact", pc, 1, &w, 0, 0);
	}
	{
		const struct piece pc[] = { P("data: one\ndata:two\ndata:  three\ndata\n\n"), PEND };

		expect(&w, 1, EV("message", "one\ntwo\n three\n"));
		pinned("multi-line data: joined with LF; one space dropped; \"data\" alone adds an "
		    "empty line", pc, 1, &w, 0, 0);
	}
	{
		const struct piece pc[] = { P(": ping\n\n: ping\r\n\r\n:\n"), P("data: x\n"),
		    P(": mid-event comment\n\n"), PEND };

		expect(&w, 1, EV("message", "x"));
		pinned("comments and pings dispatch nothing, even mid-event", pc, 1, &w, 0, 0);
	}
	{
		const struct piece pc[] = { P("event: delta\ndata: 1\n\ndata: 2\n\nevent: x\n\n"
		    "data: 3\n\nevent\ndata: 4\n\n"), PEND };

		expect(&w, 4, EV("delta", "1"), EV("message", "2"), EV("message", "3"),
		    EV("message", "4"));
		pinned("event: names the next event only; an event without data resets it",
		    pc, 4, &w, 0, 0);
	}
	{
		const struct piece pc[] = { P("id: 7\nretry: 10\nfoo: bar\nfoo\ndata: x\n\n"), PEND };

		expect(&w, 1, EV("message", "x"));
		pinned("id, retry and unknown fields (with or without colon) are ignored",
		    pc, 1, &w, 0, 0);
	}
	{
		const struct piece pc[] = { P("data: {\"choices\":[]}\n\n"), P("data: [DO"),
		    P("NE]\n\n"), PEND };

		expect(&w, 2, EV("message", "{\"choices\":[]}"), EV("message", "[DONE]"));
		pinned("data: [DONE] split across chunks arrives as the event \"[DONE]\"",
		    pc, 2, &w, 0, 0);
	}
	{
		const struct piece pc[] = { P("data: a\0b\n\n"), PEND };

		expect(&w, 1, EV("message", "a\0b"));
		pinned("a NUL inside data is kept (len, not strlen)", pc, 1, &w, 0, 0);
	}
	{
		const struct piece pc[] = { P("data:\n\n"), PEND };

		expect(&w, 1, EV("message", ""));
		pinned("\"data:\" with nothing dispatches an empty event", pc, 1, &w, 0, 0);
	}
	{
		/* names longer than the 63-byte field are cut, never overflow */
		const struct piece pc[] = { P("event: "), P("0123456789012345678901234567890123456789"
		    "0123456789012345678901234567890123456789"), P("\ndata: x\n\n"), PEND };

		expect(&w, 1, EV("012345678901234567890123456789012345678901234567890123456789012",
		    "x"));
		pinned("an 80-byte event name is cut to 63 bytes", pc, 1, &w, 0, 0);
	}
	str_free(&w);
}

/* sse_parse_pending: what a truncated stream leaves. */
static int
pending_of(const char *in, size_t len, size_t split)
{
	struct result r;
	size_t cut = split;
	int pend;

	run_cuts(in, len, &cut, split <= len ? 1 : 0, 1 << 20, 1 << 20, &r);
	pend = r.pending;
	result_free(&r);
	return pend;
}

static void
test_pending(void)
{
	static const struct {
		const char *in;
		int want;
		const char *what;
	} cases[] = {
		{ "", 0, "nothing fed" },
		{ "data: x\n\n", 0, "a complete event" },
		{ "data: x\n\ndata: [DONE]\n\n", 0, "a complete stream" },
		{ "data: x", 1, "an unterminated data line" },
		{ "data: x\n", 1, "a data line without the blank line" },
		{ "data: x\r", 1, "a data line ended by CR only" },
		{ "data: {\"choices\":[{\"delta\":{\"content\":\"hel", 1,
		  "a JSON chunk cut mid-way" },
		{ ": ping", 1, "an unterminated comment line" },
		{ ": ping\n", 0, "a terminated comment" },
		{ "\xEF\xBB", 1, "half a BOM" },
		{ "\xEF\xBB\xBF", 0, "just a BOM" },
		{ "event: x\n", 0, "an event name without data" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in), k;
		int all_same = 1;

		for (k = 0; k <= len; k++)
			if (pending_of(cases[i].in, len, k) != cases[i].want)
				all_same = 0;
		ok(all_same && pending_of(cases[i].in, len, (size_t)-1) == cases[i].want,
		    "pending %d for %s (every 2-way split)", cases[i].want, cases[i].what);
	}
}

/* The caps: a line over max_line or an event over max_event fails, however fed. */
static void
test_caps(void)
{
	struct result r, ref;
	char line[64], in[256];
	size_t len, k;
	int i, good;

	/* a 16-byte line is fine with max_line 16; 17 is too big */
	memcpy(line, "data: 0123456789", 16);      /* 16 bytes */
	memcpy(in, line, 16);
	memcpy(in + 16, "\n\n", 2);
	run_cuts(in, 18, NULL, 0, 16, 1024, &r);
	ok(r.rc == 0 && r.nev == 1, "a line of exactly max_line bytes is accepted");
	result_free(&r);
	memcpy(in, "data: 0123456789X\n\n", 19);
	for (good = 1, k = 0; k <= 19; k++) {
		run_cuts(in, 19, &k, 1, 16, 1024, &r);
		good &= r.rc == SSE_PARSE_TOO_BIG && r.nev == 0;
		result_free(&r);
	}
	ok(good, "a line of max_line + 1 bytes: SSE_PARSE_TOO_BIG at every 2-way split");
	/* the cap holds before the line ends: an endless line cannot grow the buffer */
	{
		struct sse_parser p;
		struct collect c;
		struct str ev = { NULL, 0, 0 };
		int rc = 0;

		c.events = &ev;
		c.nev = 0;
		c.stop_after = 0;
		sse_parse_init(&p, 1024, 1024, on_ev, &c);
		for (i = 0; i < 100000 && rc == 0; i++)
			rc = sse_parse_feed(&p, "xxxxxxxx", 8);
		ok(rc == SSE_PARSE_TOO_BIG && i == 129 && p.line.len <= 1024,
		    "an endless line fails as soon as it passes max_line (after %d feeds, line "
		    "buffer %zu bytes)", i, p.line.len);
		sse_parse_free(&p);
		str_free(&ev);
	}
	{
		/* ... and an endless comment too */
		struct sse_parser p;
		struct collect c;
		struct str ev = { NULL, 0, 0 };
		int rc;

		c.events = &ev;
		c.nev = 0;
		c.stop_after = 0;
		sse_parse_init(&p, 1024, 1024, on_ev, &c);
		rc = sse_parse_feed(&p, ":", 1);
		for (i = 0; i < 100000 && rc == 0; i++)
			rc = sse_parse_feed(&p, "        ", 8);
		ok(rc == SSE_PARSE_TOO_BIG && p.line.alloc <= 1025,
		    "an endless comment line fails at max_line too");
		sse_parse_free(&p);
		str_free(&ev);
	}
	/* the event cap: data lines add up (each with its LF) */
	len = (size_t)snprintf(in, sizeof(in), "data: 1234567\ndata: 1234567\n\n");
	run_cuts(in, len, NULL, 0, 64, 16, &r);
	ok(r.rc == 0 && r.nev == 1, "two 7-byte data lines fit max_event 16 (7+1+7+1)");
	result_free(&r);
	len = (size_t)snprintf(in, sizeof(in), "data: 1234567\ndata: 1234567\ndata: 1\n\n");
	for (good = 1, k = 0; k <= len; k++) {
		run_cuts(in, len, &k, 1, 64, 16, &r);
		good &= r.rc == SSE_PARSE_TOO_BIG && r.nev == 0;
		result_free(&r);
	}
	ok(good, "an event whose data lines exceed max_event: SSE_PARSE_TOO_BIG at every split");
	/* events before the oversized one are delivered; the cap is per event */
	len = (size_t)snprintf(in, sizeof(in),
	    "data: 1234567\ndata: 123456\n\ndata: 1234567\ndata: 123456\n\ndata: %s\n\n",
	    "0123456789ABCDEFGH");
	reference(in, len, 64, 16, &ref);
	run_cuts(in, len, NULL, 0, 64, 16, &r);
	ok(r.rc == SSE_PARSE_TOO_BIG && r.nev == 2 && same(&r, &ref),
	    "the cap is per event: two 14-byte events pass, the 18-byte one fails");
	result_free(&r);
	result_free(&ref);
}

/* A callback's non-zero return stops the parse and is returned. */
static void
test_callback_stop(void)
{
	struct sse_parser p;
	struct collect c;
	struct str ev = { NULL, 0, 0 };
	const char in[] = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
	int rc;

	c.events = &ev;
	c.nev = 0;
	c.stop_after = 2;
	sse_parse_init(&p, 1024, 1024, on_ev, &c);
	rc = sse_parse_feed(&p, in, sizeof(in) - 1);
	ok(rc == 7 && c.nev == 2, "the callback's non-zero return (7) stops the parse after "
	    "event 2 (rc=%d, events=%d)", rc, c.nev);
	sse_parse_free(&p);
	str_free(&ev);
}

/* --- the corpus for the split comparison --- */

static const struct {
	const char *name;
	const char *in;
	size_t len;	/* 0: strlen */
	int exhaustive3;
} corpus[] = {
	{ "an OpenAI stream (LF)",
	  "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
	  "\"content\":\"\"},\"finish_reason\":null}]}\n\n"
	  "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\xC3\xA9 "
	  "\xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x8E\x89\"},\"finish_reason\":null}]}\n\n"
	  ": ping\n\n"
	  "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
	  "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3,"
	  "\"total_tokens\":5}}\n\n"
	  "data: [DONE]\n\n", 0, 0 },
	{ "CRLF everywhere with a BOM, comments and event names",
	  "\xEF\xBB\xBF: hello\r\n\r\nevent: delta\r\ndata: a\r\ndata: b\r\n\r\n"
	  ": ping\r\ndata: \xF0\x9F\x9A\x80\r\n\r\nevent: error\r\ndata: {\"error\":{}}\r\n\r\n"
	  "data: [DONE]\r\n\r\n", 0, 1 },
	{ "CR-only line ends",
	  "\xEF\xBB\xBF" "data: one\rdata: two\r\rid: 1\r: c\revent: e\rdata: \xC3\xA9\r\r"
	  "data: [DONE]\r\r", 0, 1 },
	{ "mixed CR, LF, CRLF and CR CR LF",
	  "data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r\ndata: e\n\r\r\n\n", 0, 1 },
	{ "fields without colon, empty values, spaces",
	  "data\ndata:\ndata: \ndata:  x\n\nevent\ndata:y\n\nevent:\ndata:z\r\n\r\n"
	  "foo\nretry\nid\n:\n\n", 0, 1 },
	{ "truncated: no blank line after the last event",
	  "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[{\"delta\":"
	  "{\"content\":\"b\"}}]}\n", 0, 1 },
	{ "truncated mid-line",
	  "data: x\n\ndata: {\"choices\":[{\"delta\":{\"cont", 0, 1 },
	{ "NUL bytes and invalid UTF-8 pass through",
	  "data: a\0b\xFF\xC3\n\ndata: \xE6\x97\n\n", 21, 1 },
	{ "only comments and blank lines",
	  ": ping\n\n\n\r\n\r: a\r\n:b\n\n", 0, 1 },
	{ "half a BOM then text",
	  "\xEF\xBB" "data: a\n\ndata: b\n\n", 0, 1 },
};

static void
test_corpus(void)
{
	size_t i;

	for (i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
		size_t len = corpus[i].len ? corpus[i].len : strlen(corpus[i].in);
		struct result ref;

		reference(corpus[i].in, len, 1 << 20, 1 << 20, &ref);
		ok(check_all_splits(corpus[i].name, corpus[i].in, len, 1 << 20, 1 << 20,
		    corpus[i].exhaustive3, corpus[i].exhaustive3 ? 0 : 3000) == 0,
		    "%s: every split gives the reference's %d events, rc %d, pending %d",
		    corpus[i].name, ref.nev, ref.rc, ref.pending);
		result_free(&ref);
	}
	/* the same corpus with tight caps: the TOO_BIG point does not depend on the split */
	for (i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
		size_t len = corpus[i].len ? corpus[i].len : strlen(corpus[i].in);
		long bad = 0;
		size_t cap;

		for (cap = 4; cap <= 40; cap += 6)
			bad += check_all_splits(corpus[i].name, corpus[i].in, len, cap, cap + 3,
			    0, 200);
		ok(bad == 0, "%s: with caps 4..40 every split agrees with the reference "
		    "(events before the cap, then SSE_PARSE_TOO_BIG)", corpus[i].name);
	}
}

/* Random streams built from the tricky pieces, random caps, random splits. */
static void
test_random(void)
{
	static const char *const atoms[] = {
		"data:", "data: ", "data", "event:", "event: e", "event: message", ":", ": ping",
		"id: 1", "retry: 5", "x", "[DONE]", " ", "\r", "\n", "\r\n", "\n\n", "\r\n\r\n",
		"\xEF\xBB\xBF", "\xC3\xA9", "\xC3", "\xA9", "\xF0\x9F\x8E\x89", "\0", "{\"a\":1}",
	};
	const int ninputs = 1500;
	long bad = 0;
	int t, tooBig = 0, pend = 0;

	for (t = 0; t < ninputs; t++) {
		struct str in = { NULL, 0, 0 };
		struct result ref;
		int n = 1 + (int)rnd(40), k;
		size_t cap = rnd(4) == 0 ? 4 + rnd(30) : 1 << 20;

		if (rnd(3) == 0)
			str_add(&in, "\xEF\xBB\xBF", 3);
		for (k = 0; k < n; k++) {
			const char *a = atoms[rnd(sizeof(atoms) / sizeof(atoms[0]))];

			str_add(&in, a, a[0] == '\0' ? 1 : strlen(a));
		}
		reference(in.p, in.len, cap, cap, &ref);
		tooBig += ref.rc == SSE_PARSE_TOO_BIG;
		pend += ref.pending;
		bad += check_all_splits("random", in.p, in.len, cap, cap, 0, 20) != 0;
		result_free(&ref);
		str_free(&in);
	}
	ok(bad == 0, "%d random streams of SSE fragments (with random caps; %d hit a cap, %d "
	    "end pending): every split agrees with the reference (%ld differ)", ninputs,
	    tooBig, pend, bad);
}

int
main(void)
{
	rng_seed(0x5EEDF00DULL);
	diag("PRNG seed 0x%" PRIx64, rng_state);
	test_pinned();
	test_pending();
	test_caps();
	test_callback_stop();
	test_corpus();
	test_random();
	return done_testing();
}
