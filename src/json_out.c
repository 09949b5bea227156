/*
 * Streaming JSON emitter: commas, nesting and string escaping.
 *
 * A live run writes a trace per request, a few hundred small items each:
 * they are gathered here and go out in one write per top-level value, and
 * numbers are formatted here, not by fprintf (locked fputc and fprintf per
 * item were most of the live reader's CPU at a steady state).
 */
#include <inttypes.h>
#include <string.h>
#include "dec_digits.h"
#include "json_out.h"

void krt_json_flush(struct krt_json *j)
{
	if (j->n)
		fwrite(j->buf, 1, j->n, j->f);
	j->n = 0;
}

static void put_n(struct krt_json *j, const char *s, size_t n)
{
	if (n > sizeof(j->buf) - j->n) {
		krt_json_flush(j);
		if (n > sizeof(j->buf)) {
			fwrite(s, 1, n, j->f);
			return;
		}
	}
	memcpy(j->buf + j->n, s, n);
	j->n += n;
}

static void put_c(struct krt_json *j, char c)
{
	if (j->n == sizeof(j->buf))
		krt_json_flush(j);
	j->buf[j->n++] = c;
}

static void put_s(struct krt_json *j, const char *s)
{
	put_n(j, s, strlen(s));
}

static void put_u64(struct krt_json *j, __u64 v)
{
	char buf[KRT_DEC_MAX], *p;

	if (sizeof(j->buf) - j->n >= KRT_DEC_MAX) {
		j->n = (size_t)(krt_json_digits(j, j->buf + j->n, v) - j->buf);
		return;
	}
	p = krt_dec_digits(buf + sizeof(buf), v);
	put_n(j, p, buf + sizeof(buf) - p);
}

void krt_json_init(struct krt_json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->after_key = false;
	memset(j->has_items, 0, sizeof(j->has_items));
	j->n = 0;
	j->hi = 0;
	memset(j->ip_len, 0, sizeof(j->ip_len));
}

void krt_json_newline(struct krt_json *j)
{
	put_c(j, '\n');
}

/* Called before every value and key: places the comma between items. */
static void before_item(struct krt_json *j)
{
	krt_json_before_item(j);
}

/* Bytes that go out as they are: printable ASCII but the quote and the backslash. */
static const bool plain_byte[256] = {
    [0x20 ... 0x21] = true, [0x23 ... 0x5b] = true, [0x5d ... 0x7e] = true};

static bool json_plain(unsigned char c)
{
	return plain_byte[c];
}

/* How many of s's first n bytes go out as they are. */
static size_t plain_len(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && json_plain((unsigned char)s[i]))
		i++;
	return i;
}

void krt_json_key(struct krt_json *j, const char *key)
{
	size_t n = strlen(key);

	before_item(j);
	/* our keys need no escape: in one copy, quotes and colon around */
	if (n + 3 <= sizeof(j->buf) - j->n && plain_len(key, n) == n) {
		char *p = j->buf + j->n;

		p[0] = '"';
		memcpy(p + 1, key, n);
		p[n + 1] = '"';
		p[n + 2] = ':';
		j->n += n + 3;
	} else {
		krt_json_write_string(j, key, n);
		put_c(j, ':');
	}
	j->after_key = true;
}

void krt_json_key_quoted_slow(struct krt_json *j, const char *quoted, size_t n)
{
	put_n(j, quoted, n);
	j->after_key = true;
}

void krt_json_str_plain(struct krt_json *j, const char *s, size_t n)
{
	before_item(j);
	if (n + 2 <= sizeof(j->buf) - j->n) {
		char *p = j->buf + j->n;

		p[0] = '"';
		memcpy(p + 1, s, n);
		p[n + 1] = '"';
		j->n += n + 2;
		return;
	}
	put_c(j, '"');
	put_n(j, s, n);
	put_c(j, '"');
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	__u32 cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Reject overlong forms, surrogates and values past U+10FFFF. */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

void krt_json_write_string(struct krt_json *j, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, len;

	if (n + 2 <= sizeof(j->buf) - j->n && plain_len(str, n) == n) {
		/* nothing to escape (names, addresses): in one copy */
		j->buf[j->n] = '"';
		memcpy(j->buf + j->n + 1, str, n);
		j->buf[j->n + n + 1] = '"';
		j->n += n + 2;
		return;
	}
	put_c(j, '"');
	while (i < n) {
		unsigned char c = s[i];
		size_t run = i;

		/* a run of plain bytes in one write */
		while (run < n && json_plain(s[run]))
			run++;
		if (run > i) {
			put_n(j, str + i, run - i);
			i = run;
			continue;
		}
		switch (c) {
		case '"':
			put_s(j, "\\\"");
			break;
		case '\\':
			put_s(j, "\\\\");
			break;
		case '\n':
			put_s(j, "\\n");
			break;
		case '\r':
			put_s(j, "\\r");
			break;
		case '\t':
			put_s(j, "\\t");
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				char u[7] = {'\\',
					     'u',
					     '0',
					     '0',
					     "0123456789abcdef"[c >> 4],
					     "0123456789abcdef"[c & 15],
					     0};

				put_s(j, u);
			} else {
				len = utf8_seq_len(s + i, n - i);
				if (!len) {
					put_s(j, "\\ufffd");
				} else {
					put_n(j, str + i, len);
					i += len;
					continue;
				}
			}
		}
		i++;
	}
	put_c(j, '"');
}

void krt_json_strn(struct krt_json *j, const char *s, size_t n)
{
	before_item(j);
	krt_json_write_string(j, s, n);
}

void krt_json_str(struct krt_json *j, const char *s)
{
	if (!s)
		s = "";
	krt_json_strn(j, s, strlen(s));
}

void krt_json_u64_slow(struct krt_json *j, __u64 v)
{
	put_u64(j, v);
}

_Static_assert(KRT_DEC_MAX == 20, "krt_json_kv_u64_quoted keeps 20 bytes of room");

char *krt_json_digits(struct krt_json *j, char *p, __u64 v)
{
	__u64 hi, w;

	/* tids, goids, byte counts: a pair or two from the table */
	if (v < 10000) {
		unsigned int lo = (unsigned int)v % 100, top = (unsigned int)v / 100;

		if (top) {
			if (top >= 10) {
				__builtin_memcpy(p, &krt_dec_pairs[2 * top], 2);
				p += 2;
			} else {
				*p++ = (char)('0' + top);
			}
			__builtin_memcpy(p, &krt_dec_pairs[2 * lo], 2);
			return p + 2;
		}
		if (lo >= 10) {
			__builtin_memcpy(p, &krt_dec_pairs[2 * lo], 2);
			return p + 2;
		}
		*p = (char)('0' + lo);
		return p + 1;
	}
	if (v < 100000000 || v >= 10000000000000000ULL)
		return krt_dec_put(p, v);
	/* 9 to 16 digits (timestamps): the leading ones as last time, mostly */
	hi = v / 100000000;
	if (hi != j->hi) {
		unsigned int skip;

		w = krt_dec_lanes8((__u32)hi);
		skip = (unsigned int)__builtin_ctzll(w) >> 3;
		j->hi_word = (w + KRT_DEC_ASCII) >> (8 * skip);
		j->hi_len = 8 - skip;
		j->hi = hi;
	}
	__builtin_memcpy(p, &j->hi_word, 8);
	p += j->hi_len;
	w = krt_dec_lanes8((__u32)(v - hi * 100000000)) + KRT_DEC_ASCII;
	__builtin_memcpy(p, &w, 8);
	return p + 8;
}

char *krt_json_ipv4_at(struct krt_json *j, char *p, const __u8 ip[4], __u16 port)
{
	unsigned int k = ip[3] & 7;
	__u32 key;

	__builtin_memcpy(&key, ip, 4);
	if (!j->ip_len[k] || j->ip_key[k] != key) {
		char *s = j->ip_str[k];

		for (int i = 0; i < 4; i++) {
			s = krt_dec_put_octet(s, ip[i]);
			*s++ = i < 3 ? '.' : ':';
		}
		j->ip_key[k] = key;
		j->ip_len[k] = (__u8)(s - j->ip_str[k]);
	}
	*p++ = '"';
	__builtin_memcpy(p, j->ip_str[k], 16);
	p = krt_dec_put(p + j->ip_len[k], port);
	*p++ = '"';
	return p;
}

bool krt_json_ipv4(struct krt_json *j, const __u8 ip[4], __u16 port)
{
	/* '"', "255.255.255.255:" (16), the port's word (8), '"' */
	if (1 + 2 + 16 + 8 >= sizeof(j->buf) - j->n)
		return false;
	krt_json_before_item(j);
	j->n = (size_t)(krt_json_ipv4_at(j, j->buf + j->n, ip, port) - j->buf);
	return true;
}

/* KRT_JSON_KV_U64 at the buffer's end: comma placed already */
void krt_json_kv_u64_slow(struct krt_json *j, const char *quoted, size_t n, __u64 v)
{
	krt_json_key_quoted_slow(j, quoted, n);
	krt_json_u64(j, v);
}

void krt_json_i64(struct krt_json *j, long long v)
{
	before_item(j);
	if (v < 0)
		put_c(j, '-');
	put_u64(j, v < 0 ? -(unsigned long long)v : (unsigned long long)v);
}

void krt_json_bool(struct krt_json *j, bool v)
{
	before_item(j);
	put_s(j, v ? "true" : "false");
}

void krt_json_u64_str(struct krt_json *j, __u64 v)
{
	before_item(j);
	put_c(j, '"');
	put_u64(j, v);
	put_c(j, '"');
}

void krt_json_ns_as_us(struct krt_json *j, __u64 ns)
{
	char frac[4] = {'.', (char)('0' + ns / 100 % 10), (char)('0' + ns / 10 % 10),
			(char)('0' + ns % 10)};

	before_item(j);
	put_u64(j, ns / 1000);
	put_n(j, frac, sizeof(frac));
}

void krt_json_raw(struct krt_json *j, const char *text)
{
	before_item(j);
	put_s(j, text);
}

void krt_json_kv_str(struct krt_json *j, const char *key, const char *s)
{
	krt_json_key(j, key);
	krt_json_str(j, s);
}

void krt_json_kv_u64(struct krt_json *j, const char *key, __u64 v)
{
	krt_json_key(j, key);
	krt_json_u64(j, v);
}
