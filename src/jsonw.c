/* jsonw.c: JSON string escaping straight into a buffer, for the per-token hot path. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include "jsonw.h"

int
jsonw_chars(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, start = 0;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		char esc[6];
		size_t n = 2;

		if (ch >= 0x20 && ch != '"' && ch != '\\' && ch != 0x7f)
			continue;
		if (buf_add(b, s + start, i - start) == -1)
			return -1;
		start = i + 1;
		esc[0] = '\\';
		switch (ch) {
		case '"':  esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
			n = 6;
		}
		if (buf_add(b, esc, n) == -1)
			return -1;
	}
	return buf_add(b, s + start, len - start);
}

int
jsonw_string(struct buf *b, const char *s, size_t len)
{
	size_t mark = b->len;

	if (buf_addc(b, '"') == -1 || jsonw_chars(b, s, len) == -1 ||
	    buf_addc(b, '"') == -1) {
		b->len = mark;
		if (b->data != NULL)
			b->data[mark] = '\0';
		return -1;
	}
	return 0;
}
