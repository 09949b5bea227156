/*
 * A small streaming JSON emitter (bpftool's json_writer idea): the caller
 * opens objects and arrays, writes keys and values, and the emitter places
 * the commas. Strings are escaped; bytes that are not valid UTF-8 become
 * U+FFFD so the output always parses.
 *
 * Output is gathered in the emitter and written when a top-level value is
 * complete (or krt_json_flush() is called, or the buffer is full): a live
 * run writes hundreds of items per trace, and a stdio call per item cost
 * more than the items. Whoever writes to the same FILE between items uses
 * krt_json_newline() or flushes first.
 */
#ifndef KRT_JSON_OUT_H
#define KRT_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>

#define KRT_JSON_MAX_DEPTH 32

#define KRT_JSON_BUF 8192

struct krt_json {
	FILE *f;
	int depth;
	bool after_key;			    /* next value follows "key": */
	bool has_items[KRT_JSON_MAX_DEPTH]; /* a comma is due before the next item */
	size_t n;			    /* bytes waiting in buf */
	/*
	 * A trace's timestamps share their leading digits, and its addresses
	 * a few IPs: the last leading digits (v / 10^8, 0 = none) and the
	 * IPv4 addresses lately written (direct-mapped by the last octet; a
	 * length of 0 = empty), kept already formatted.
	 */
	__u64 hi, hi_word;
	unsigned int hi_len;
	__u32 ip_key[8];
	__u8 ip_len[8];
	char ip_str[8][16];
	char buf[KRT_JSON_BUF];
};

void krt_json_init(struct krt_json *j, FILE *f);
/* Writes out what the emitter holds (done by itself after a top-level value). */
void krt_json_flush(struct krt_json *j);
/* A newline between items (JSON lines, readable arrays): no comma, no item. */
void krt_json_newline(struct krt_json *j);
void krt_json_key(struct krt_json *j, const char *key);
/*
 * A key given as a string literal (ours need no escape): "key": in one
 * copy, its length known at compile time, without krt_json_key's strlen
 * and scan (12 % of a JSON replay's instructions, callgrind).
 */
#define KRT_JSON_KEY(j, lit) krt_json_key_quoted((j), "\"" lit "\":", sizeof(lit) + 2)
#define KRT_JSON_KV_U64(j, lit, v) krt_json_kv_u64_quoted((j), "\"" lit "\":", sizeof(lit) + 2, (v))
void krt_json_key_quoted_slow(struct krt_json *j, const char *quoted, size_t n);

/* Called before every value and key: places the comma between items. */
static inline void krt_json_before_item(struct krt_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->has_items[j->depth]) {
		if (j->n == sizeof(j->buf))
			krt_json_flush(j);
		j->buf[j->n++] = ',';
	}
	j->has_items[j->depth] = true;
}

/*
 * Objects and arrays open and close inline: a trace's JSON has a few
 * dozen of them, a call each cost more than what they write.
 */
static inline void krt_json_open_level(struct krt_json *j, char c)
{
	krt_json_before_item(j);
	if (j->n == sizeof(j->buf))
		krt_json_flush(j);
	j->buf[j->n++] = c;
	/* Deeper nesting than we ever produce: keep writing, stop tracking. */
	if (j->depth < KRT_JSON_MAX_DEPTH - 1)
		j->depth++;
	j->has_items[j->depth] = false;
}

static inline void krt_json_close_level(struct krt_json *j, char c)
{
	if (j->n == sizeof(j->buf))
		krt_json_flush(j);
	j->buf[j->n++] = c;
	if (j->depth > 0)
		j->depth--;
	/* a top-level value is complete: out it goes, before anything else is written */
	if (!j->depth)
		krt_json_flush(j);
}

static inline void krt_json_obj_begin(struct krt_json *j)
{
	krt_json_open_level(j, '{');
}

static inline void krt_json_obj_end(struct krt_json *j)
{
	krt_json_close_level(j, '}');
}

static inline void krt_json_arr_begin(struct krt_json *j)
{
	krt_json_open_level(j, '[');
}

static inline void krt_json_arr_end(struct krt_json *j)
{
	krt_json_close_level(j, ']');
}

/* Inline: n is a constant at every KRT_JSON_KEY, the copy a few moves. */
static inline void krt_json_key_quoted(struct krt_json *j, const char *quoted, size_t n)
{
	krt_json_before_item(j);
	if (n > sizeof(j->buf) - j->n) {
		krt_json_key_quoted_slow(j, quoted, n);
		return;
	}
	__builtin_memcpy(j->buf + j->n, quoted, n);
	j->n += n;
	j->after_key = true;
}

/* v's digits at p (up to 20 bytes at p may change); returns their end */
char *krt_json_digits(struct krt_json *j, char *p, __u64 v);
void krt_json_kv_u64_slow(struct krt_json *j, const char *quoted, size_t n, __u64 v);

/* KRT_JSON_KV_U64: key and number with one check of the room left */
static inline void krt_json_kv_u64_quoted(struct krt_json *j, const char *quoted, size_t n, __u64 v)
{
	krt_json_before_item(j);
	if (n + 20 <= sizeof(j->buf) - j->n) {
		char *p = j->buf + j->n;

		__builtin_memcpy(p, quoted, n);
		j->n = (size_t)(krt_json_digits(j, p + n, v) - j->buf);
		return;
	}
	krt_json_kv_u64_slow(j, quoted, n, v);
}

void krt_json_str(struct krt_json *j, const char *s);
void krt_json_strn(struct krt_json *j, const char *s, size_t n);
/* a number at the buffer's end (comma placed already) */
void krt_json_u64_slow(struct krt_json *j, __u64 v);

static inline void krt_json_u64(struct krt_json *j, __u64 v)
{
	krt_json_before_item(j);
	if (20 <= sizeof(j->buf) - j->n) {
		j->n = (size_t)(krt_json_digits(j, j->buf + j->n, v) - j->buf);
		return;
	}
	krt_json_u64_slow(j, v);
}
void krt_json_i64(struct krt_json *j, long long v);
void krt_json_bool(struct krt_json *j, bool v);
/* A 64-bit integer as a decimal string (OTLP/JSON encodes them so). */
void krt_json_u64_str(struct krt_json *j, __u64 v);
/* Nanoseconds as microseconds with three decimals (Chrome Trace "ts"). */
void krt_json_ns_as_us(struct krt_json *j, __u64 ns);
/* A value already formatted as JSON (a number); written verbatim. */
void krt_json_raw(struct krt_json *j, const char *text);

/* Key and value in one call. */
void krt_json_kv_str(struct krt_json *j, const char *key, const char *s);
void krt_json_kv_u64(struct krt_json *j, const char *key, __u64 v);

/* Writes s (n bytes) as a quoted, escaped JSON string (no comma placed). */
void krt_json_write_string(struct krt_json *j, const char *s, size_t n);
/*
 * An IPv4 address "a.b.c.d:port" (struct krt_addr's family KRT_AF_INET,
 * ip its addr[0..3] as stored, port) as a string value; false (nothing
 * written) when the buffer has too little room.
 */
bool krt_json_ipv4(struct krt_json *j, const __u8 ip[4], __u16 port);
/*
 * The same string written at p, inside the buffer, the caller having
 * checked the room (KRT_JSON_IPV4_MAX) and placed the comma; returns its end.
 */
#define KRT_JSON_IPV4_MAX (1 + 16 + 8 + 1)
char *krt_json_ipv4_at(struct krt_json *j, char *p, const __u8 ip[4], __u16 port);
/* n bytes that need no escape (printable ASCII, no quote or backslash) as a string */
void krt_json_str_plain(struct krt_json *j, const char *s, size_t n);

#endif
