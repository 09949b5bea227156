/*
 * Output writers: structural checks of every format on a hand-built trace.
 * `test_writers --emit DIR` writes every format for the sample traces into
 * DIR, for tests/unit/writers_formats.sh to check with real tools.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <getopt.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>
#include "addr.h"
#include "cli_common.h"
#include "http_post.h"
#include "json_out.h"
#include "writer.h"
#include "writer_util.h"

#define MS 1000000ULL
#define T0 (256ULL * 1000000000ULL + 938989000ULL)

static struct krt_addr addr(const char *ip, __u16 port)
{
	struct krt_addr a;

	assert_int_equal(krt_addr_parse_ip(ip, &a), 0);
	a.port = port;
	return a;
}

/*
 * A three-tier request: gateway -> web/nginx[812] -> app/python3[900] ->
 * redis outside the traced set, and back; plus a thread whose comm and
 * container hold a quote, to exercise escaping.
 */
struct sample {
	struct krt_trace t;
	struct krt_thread_stat threads[3];
	struct krt_hop hops[6];
	struct krt_slice slices[5];
};

static void sample_init(struct sample *s, __u64 id, __u64 base)
{
	memset(s, 0, sizeof(*s));
	s->threads[0] = (struct krt_thread_stat){ .tid = 812, .pid = 812, .comm = "nginx",
						  .container = "web", .cpu_ns = 120000,
						  .first_ns = base, .last_ns = base + 1200000 };
	s->threads[1] = (struct krt_thread_stat){ .tid = 900, .pid = 899, .comm = "python3",
						  .container = "app", .cpu_ns = 800000,
						  .first_ns = base + 12000, .last_ns = base + 1100000 };
	s->threads[2] = (struct krt_thread_stat){ .tid = 901, .pid = 899, .comm = "we\"ird\\x",
						  .container = "app", .cpu_ns = 5000,
						  .first_ns = base + 500000, .last_ns = base + 510000 };
	s->hops[0] = (struct krt_hop){ 0, 812, addr("172.24.0.1", 51234), addr("172.24.0.2", 80),
				       120, 0, base };
	s->hops[1] = (struct krt_hop){ 812, 900, addr("172.24.0.2", 40000),
				       addr("172.24.0.3", 8000), 79, base + 10000, base + 20000 };
	s->hops[2] = (struct krt_hop){ 900, 0, addr("172.24.0.3", 41000), addr("172.24.0.9", 6379),
				       30, base + 300000, 0 };
	s->hops[3] = (struct krt_hop){ 0, 900, addr("172.24.0.9", 6379), addr("172.24.0.3", 41000),
				       12, 0, base + 400000 };
	s->hops[4] = (struct krt_hop){ 900, 812, addr("172.24.0.3", 8000),
				       addr("172.24.0.2", 40000), 200, base + 1000000,
				       base + 1010000 };
	s->hops[5] = (struct krt_hop){ 812, 0, addr("172.24.0.2", 80), addr("172.24.0.1", 51234),
				       250, base + 1150000, 0 };
	s->slices[0] = (struct krt_slice){ 812, base, base + 15000 };
	s->slices[1] = (struct krt_slice){ 900, base + 18000, base + 310000 };
	s->slices[2] = (struct krt_slice){ 900, base + 395000, base + 1005000 };
	s->slices[3] = (struct krt_slice){ 901, base + 500000, base + 505000 };
	s->slices[4] = (struct krt_slice){ 812, base + 1008000, base + 1200000 };
	s->t.id = id;
	s->t.ingress.client = addr("172.24.0.1", 51234);
	s->t.ingress.server = addr("172.24.0.2", 80);
	s->t.ingress.tid = 812;
	s->t.ingress.ts_ns = base;
	s->t.start_ns = base;
	s->t.end_ns = base + 1234000;
	s->t.n_threads = 3;
	s->t.threads = s->threads;
	s->t.n_hops = 6;
	s->t.hops = s->hops;
	s->t.n_slices = 5;
	s->t.slices = s->slices;
}

static void summary_init(struct krt_summary *sum)
{
	memset(sum, 0, sizeof(*sum));
	sum->events = 120;
	sum->events_by_type[KRT_EV_SWITCH] = 80;
	sum->events_by_type[KRT_EV_XFER] = 40;
	sum->traces = 2;
	sum->hops = 12;
	sum->unattributed_cpu_ns = 4242;
	sum->source.malformed = 3;
}

/* Runs a writer over traces a and b, then sum; returns what it wrote (caller frees). */
static char *write_two(struct krt_writer *(*make)(FILE *), const struct sample *a,
		       const struct sample *b, const struct krt_summary *sum, int *finish_ret)
{
	struct krt_writer *w;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r;

	assert_non_null(f);
	w = make(f);
	assert_non_null(w);
	assert_int_equal(w->ops->trace(w, &a->t), 0);
	assert_int_equal(w->ops->trace(w, &b->t), 0);
	r = w->ops->finish(w, sum);
	if (finish_ret)
		*finish_ret = r;
	else
		assert_int_equal(r, 0);
	w->ops->destroy(w);
	fclose(f);
	return buf;
}

/* Runs a writer over two sample traces and returns what it wrote (caller frees). */
static char *run_writer(struct krt_writer *(*make)(FILE *), int *finish_ret)
{
	struct sample a, b;
	struct krt_summary sum;

	sample_init(&a, 1, T0);
	sample_init(&b, 2, T0 + 5 * MS);
	summary_init(&sum);
	return write_two(make, &a, &b, &sum, finish_ret);
}

static struct krt_writer *make_text(FILE *f)
{
	return krt_writer_text_new(f, false);
}

static struct krt_writer *make_text_color(FILE *f)
{
	return krt_writer_text_new(f, true);
}

static struct krt_writer *make_dot_all(FILE *f)
{
	return krt_writer_dot_new(f, 0);
}

static struct krt_writer *make_dot_2(FILE *f)
{
	return krt_writer_dot_new(f, 2);
}

static struct krt_writer *make_dot_99(FILE *f)
{
	return krt_writer_dot_new(f, 99);
}

static struct krt_writer *make_otlp(FILE *f)
{
	return krt_writer_otlp_new(f, NULL);
}

static struct krt_writer *make_html(FILE *f)
{
	return krt_writer_html_new(f, "KRTrace <test> & \"report\"");
}

/* Splits text into lines in place; returns the count. */
static size_t split_lines(char *text, char **lines, size_t max)
{
	size_t n = 0;
	char *save = NULL, *l;

	for (l = strtok_r(text, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	return n;
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("missing key \"%s\" in %s", key, json_object_to_json_string(o));
	return v;
}

static void assert_keys_exactly(json_object *o, const char *const *keys, size_t n)
{
	size_t i;

	assert_true(json_object_is_type(o, json_type_object));
	assert_int_equal(json_object_object_length(o), n);
	for (i = 0; i < n; i++)
		get(o, keys[i]);
}

/* ---- json_out ---- */

static void test_json_escaping(void **state)
{
	static const char nasty[] = "q\"b\\s/\n\t\x01\x7f caf\xc3\xa9 \xff\xfe end";
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct krt_json j;
	json_object *o, *v;

	krt_json_init(&j, f);
	krt_json_obj_begin(&j);
	krt_json_kv_str(&j, "s", nasty);
	krt_json_key(&j, "a");
	krt_json_arr_begin(&j);
	krt_json_u64(&j, 18446744073709551615ULL);
	krt_json_i64(&j, -5);
	krt_json_bool(&j, true);
	krt_json_u64_str(&j, 7);
	krt_json_ns_as_us(&j, 1234567);
	krt_json_ns_as_us(&j, 5);
	krt_json_arr_end(&j);
	krt_json_obj_end(&j);
	fclose(f);

	o = json_tokener_parse(buf);
	assert_non_null(o);
	v = get(o, "s");
	/* Valid UTF-8 survives; the invalid bytes become U+FFFD (EF BF BD). */
	assert_string_equal(json_object_get_string(v),
			    "q\"b\\s/\n\t\x01\x7f caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd end");
	v = get(o, "a");
	assert_int_equal(json_object_array_length(v), 6);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 3)), "7");
	assert_true(strstr(buf, "1234.567") != NULL);
	assert_true(strstr(buf, ",0.005]") != NULL);
	assert_true(strstr(buf, "18446744073709551615") != NULL);
	json_object_put(o);
	free(buf);
}

/*
 * Numbers formatted by hand (two digits at a time, straight into the
 * emitter's buffer or through a copy at its end) are printf's: every
 * power of ten and its neighbours, 0..1099, random ones, with the buffer
 * filled to every offset near its end.
 */
static void test_json_numbers_as_printf(void **state)
{
	char *buf = NULL, *want = NULL;
	size_t len = 0, wlen = 0;
	FILE *f = open_memstream(&buf, &len), *w = open_memstream(&want, &wlen);
	struct krt_json j;
	__u64 v, p = 1;
	unsigned int i, k;

	krt_json_init(&j, f);
	krt_json_arr_begin(&j);
	fputc('[', w);
	for (k = 0; k < 20; k++, p *= 10) {
		__u64 near[3] = {p - 1, p, p + 1};

		for (i = 0; i < 3; i++) {
			krt_json_u64(&j, near[i]);
			fprintf(w, "%s%llu", ftell(w) > 1 ? "," : "", (unsigned long long)near[i]);
		}
	}
	srand(18);
	for (i = 0; i < 1100 + 3 * KRT_JSON_BUF; i++) {
		v = i < 1100 ? i : ((__u64)rand() << 33 ^ (__u64)rand() << 11 ^ rand()) >> (i % 60);
		krt_json_u64(&j, v);
		fprintf(w, ",%llu", (unsigned long long)v);
	}
	krt_json_arr_end(&j);
	fputc(']', w);
	fclose(f);
	fclose(w);
	assert_int_equal(len, wlen);
	assert_memory_equal(buf, want, len);
	free(buf);
	free(want);
}

/*
 * KRT_JSON_KV_U64 (key and number in one check of the room left) writes
 * printf's digits: powers of ten and neighbours, random numbers, at every
 * offset near the buffer's end.
 */
static void test_json_kv_u64_as_printf(void **state)
{
	char *buf = NULL, *want = NULL;
	size_t len = 0, wlen = 0;
	FILE *f = open_memstream(&buf, &len), *w = open_memstream(&want, &wlen);
	struct krt_json j;
	__u64 v, p = 1;
	unsigned int i, k;

	krt_json_init(&j, f);
	krt_json_obj_begin(&j);
	fputc('{', w);
	for (k = 0; k < 20; k++, p *= 10) {
		__u64 near[3] = {p - 1, p, p + 1};

		for (i = 0; i < 3; i++) {
			KRT_JSON_KV_U64(&j, "ts_ns", near[i]);
			fprintf(w, "%s\"ts_ns\":%llu", ftell(w) > 1 ? "," : "",
				(unsigned long long)near[i]);
		}
	}
	srand(19);
	for (i = 0; i < 3 * KRT_JSON_BUF; i++) {
		v = ((__u64)rand() << 33 ^ (__u64)rand() << 11 ^ rand()) >> (i % 64);
		KRT_JSON_KV_U64(&j, "a", v);
		fprintf(w, ",\"a\":%llu", (unsigned long long)v);
	}
	/* timestamps: leading digits kept from the last one, changing now and then */
	for (i = 0, v = 99999990000000ULL; i < 3 * KRT_JSON_BUF; i++, v += 7919 * 1000 + i % 3) {
		KRT_JSON_KV_U64(&j, "ts", i % 5 ? v : v / 1000);
		fprintf(w, ",\"ts\":%llu", (unsigned long long)(i % 5 ? v : v / 1000));
	}
	krt_json_obj_end(&j);
	fputc('}', w);
	fclose(f);
	fclose(w);
	assert_true(len > 2 * KRT_JSON_BUF);
	assert_int_equal(len, wlen);
	assert_memory_equal(buf, want, len);
	free(buf);
	free(want);
}

/*
 * KRT_JSON_KEY (a literal, copied whole, inline) and krt_json_str_plain
 * write what krt_json_key and krt_json_str write: commas, nesting, and
 * across the buffer's end at every offset.
 */
static void test_json_literal_keys_as_key(void **state)
{
	char *buf = NULL, *want = NULL;
	size_t len = 0, wlen = 0;
	FILE *f = open_memstream(&buf, &len), *w = open_memstream(&want, &wlen);
	static const char addr[] = "172.24.0.1:8080";
	struct krt_json j, k;
	unsigned int i;

	krt_json_init(&j, f);
	krt_json_init(&k, w);
	krt_json_obj_begin(&j);
	krt_json_obj_begin(&k);
	for (i = 0; i < 3 * KRT_JSON_BUF / 8; i++) {
		KRT_JSON_KV_U64(&j, "from", i);
		krt_json_kv_u64(&k, "from", i);
		KRT_JSON_KEY(&j, "to_addr");
		krt_json_str_plain(&j, &addr[i % 5], 15 - i % 5);
		krt_json_key(&k, "to_addr");
		krt_json_str(&k, &addr[i % 5]);
		KRT_JSON_KEY(&j, "seq");
		krt_json_key(&k, "seq");
		krt_json_arr_begin(&j);
		krt_json_arr_begin(&k);
		krt_json_u64(&j, i);
		krt_json_u64(&k, i);
		KRT_JSON_KEY(&j, "x"); /* a key in an array: what krt_json_key makes of it */
		krt_json_key(&k, "x");
		krt_json_u64(&j, 1);
		krt_json_u64(&k, 1);
		krt_json_arr_end(&j);
		krt_json_arr_end(&k);
	}
	krt_json_obj_end(&j);
	krt_json_obj_end(&k);
	fclose(f);
	fclose(w);
	assert_true(len > 2 * KRT_JSON_BUF);
	assert_int_equal(len, wlen);
	assert_memory_equal(buf, want, len);
	free(buf);
	free(want);
}

/*
 * krt_json_ipv4 (IPs kept formatted, direct-mapped by the last octet)
 * writes what krt_json_str of krt_addr_str writes: IPs sharing a slot,
 * every port length, at every offset near the buffer's end.
 */
static void test_json_ipv4_as_addr_str(void **state)
{
	char *buf = NULL, *want = NULL, s[KRT_ADDR_STRLEN];
	size_t len = 0, wlen = 0;
	FILE *f = open_memstream(&buf, &len), *w = open_memstream(&want, &wlen);
	static const __u16 ports[] = {0, 7, 80, 443, 8080, 65535};
	struct krt_json j, k;
	struct krt_addr a = addr("0.0.0.0", 0);
	unsigned int i;

	krt_json_init(&j, f);
	krt_json_init(&k, w);
	krt_json_arr_begin(&j);
	krt_json_arr_begin(&k);
	for (i = 0; i < 3 * KRT_JSON_BUF / 4; i++) {
		a.addr[0] = (__u8)(i % 3 ? 172 : 10);
		a.addr[1] = (__u8)(i % 7 * 40);
		a.addr[2] = (__u8)(i / 7 % 2);
		a.addr[3] = (__u8)(i % 4 * 8 + 1); /* 1, 9, 17, 25: one slot */
		a.port = ports[i % 6];
		if (!krt_json_ipv4(&j, a.addr, a.port))
			krt_json_str(&j, krt_addr_str(&a, s, sizeof(s)));
		krt_json_str(&k, krt_addr_str(&a, s, sizeof(s)));
	}
	krt_json_arr_end(&j);
	krt_json_arr_end(&k);
	fclose(f);
	fclose(w);
	assert_true(len > 2 * KRT_JSON_BUF);
	assert_int_equal(len, wlen);
	assert_memory_equal(buf, want, len);
	free(buf);
	free(want);
}

/* Addresses as writers print them (IPv4 is formatted by hand). */
static void test_addr_str(void **state)
{
	struct krt_addr a = addr("0.0.0.0", 0), b = addr("255.255.255.255", 65535),
			c = addr("172.24.0.10", 8080), d = addr("fd00::1", 443);
	char buf[64], tiny[8];

	assert_string_equal(krt_addr_str(&a, buf, sizeof(buf)), "0.0.0.0:0");
	assert_string_equal(krt_addr_str(&b, buf, sizeof(buf)), "255.255.255.255:65535");
	assert_string_equal(krt_addr_str(&c, buf, sizeof(buf)), "172.24.0.10:8080");
	assert_string_equal(krt_addr_str(&d, buf, sizeof(buf)), "[fd00::1]:443");
	/* a short buffer is cut, never overrun */
	assert_string_equal(krt_addr_str(&c, tiny, sizeof(tiny)), "172.24.");
}

/*
 * IPv4 by hand (an octet at a time, the port in one 8-byte word) is
 * inet_ntop's and printf's: every octet value in every place, every port.
 */
static void test_addr_str_every_octet_and_port(void **state)
{
	char buf[KRT_ADDR_STRLEN], ip[INET_ADDRSTRLEN], want[KRT_ADDR_STRLEN + 8];
	struct krt_addr a = addr("0.0.0.0", 0);
	unsigned int i, k;

	for (k = 0; k < 4; k++) {
		for (i = 0; i < 256; i++) {
			memset(a.addr, (int)(k * 61 + 7), 4);
			a.addr[k] = (__u8)i;
			a.port = (__u16)(i * 257);
			inet_ntop(AF_INET, a.addr, ip, sizeof(ip));
			snprintf(want, sizeof(want), "%s:%u", ip, a.port);
			assert_string_equal(krt_addr_str(&a, buf, sizeof(buf)), want);
		}
	}
	for (i = 0; i < 65536; i++) {
		a.port = (__u16)i;
		inet_ntop(AF_INET, a.addr, ip, sizeof(ip));
		snprintf(want, sizeof(want), "%s:%u", ip, a.port);
		assert_string_equal(krt_addr_str(&a, buf, sizeof(buf)), want);
	}
}

/* Milliseconds and counts as the text writer prints them (formatted by hand). */
static void test_fmt_numbers(void **state)
{
	char buf[32], tiny[4];

	assert_string_equal(krt_fmt_ms(0, buf, sizeof(buf)), "0.000");
	assert_string_equal(krt_fmt_ms(1234567, buf, sizeof(buf)), "1.234");
	assert_string_equal(krt_fmt_ms(18446744073709551615ULL, buf, sizeof(buf)),
			    "18446744073709.551");
	assert_string_equal(krt_fmt_ms(1234567, tiny, sizeof(tiny)), "1.2");
	assert_string_equal(krt_fmt_u64(0, buf), "0");
	assert_string_equal(krt_fmt_u64(18446744073709551615ULL, buf), "18446744073709551615");
}

/* ---- JSON lines: docs/outputs.md's schema exactly ---- */

static void test_json_lines_schema(void **state)
{
	static const char *const trace_keys[] = { "trace_id", "ingress", "start_ns", "end_ns",
						  "threads", "hops" };
	static const char *const ingress_keys[] = { "client", "server", "tid", "ts_ns" };
	static const char *const thread_keys[] = { "tid", "pid", "comm", "container",
						   "cpu_ns", "first_ns", "last_ns" };
	static const char *const hop_keys[] = { "from", "from_addr", "to", "to_addr",
						"bytes", "send_ns", "recv_ns" };
	char *out = run_writer(krt_writer_json_new, NULL), *lines[16];
	size_t n = split_lines(out, lines, 16), i;
	json_object *o, *th, *hops, *sum;

	assert_int_equal(n, 3);
	for (i = 0; i < 2; i++) {
		o = json_tokener_parse(lines[i]);
		assert_non_null(o);
		assert_keys_exactly(o, trace_keys, 6);
		assert_int_equal(json_object_get_int64(get(o, "trace_id")), i + 1);
		assert_keys_exactly(get(o, "ingress"), ingress_keys, 4);
		assert_string_equal(json_object_get_string(get(get(o, "ingress"), "client")),
				    "172.24.0.1:51234");
		assert_int_equal(json_object_get_int64(get(get(o, "ingress"), "tid")), 812);
		th = get(o, "threads");
		assert_int_equal(json_object_array_length(th), 3);
		assert_keys_exactly(json_object_array_get_idx(th, 0), thread_keys, 7);
		assert_string_equal(json_object_get_string(get(json_object_array_get_idx(th, 2),
							       "comm")), "we\"ird\\x");
		assert_string_equal(json_object_get_string(get(json_object_array_get_idx(th, 1),
							       "container")), "app");
		hops = get(o, "hops");
		assert_int_equal(json_object_array_length(hops), 6);
		assert_keys_exactly(json_object_array_get_idx(hops, 1), hop_keys, 7);
		assert_int_equal(json_object_get_int64(get(json_object_array_get_idx(hops, 0),
							   "from")), 0);
		assert_string_equal(json_object_get_string(get(json_object_array_get_idx(hops, 2),
							       "to_addr")), "172.24.0.9:6379");
		/* 64-bit values stay exact. */
		assert_true((uint64_t)json_object_get_int64(get(o, "start_ns")) ==
			    T0 + i * 5 * MS);
		json_object_put(o);
	}
	o = json_tokener_parse(lines[2]);
	assert_non_null(o);
	assert_int_equal(json_object_object_length(o), 1);
	sum = get(o, "summary");
	assert_int_equal(json_object_get_int64(get(sum, "events")), 120);
	assert_int_equal(json_object_get_int64(get(sum, "malformed")), 3);
	assert_int_equal(json_object_get_int64(get(sum, "unattributed_cpu_ns")), 4242);
	assert_int_equal(json_object_get_int64(get(sum, "traces")), 2);
	get(sum, "lost");
	get(sum, "ring_drops");
	get(sum, "map_full");
	get(sum, "sample_rate");
	assert_int_equal(json_object_object_length(get(sum, "events_by_type")),
			 KRT_EV_TYPE_MAX - 1);
	json_object_put(o);
	free(out);
}

/* ---- the "uncertain" mark (docs/outputs.md): only where the kernel could not decide ---- */

static size_t count_str(const char *hay, const char *needle);

/* Trace 1 decided, trace 2 with a guessed hand-off on its redis call. */
static char *run_writer_uncertain(struct krt_writer *(*make)(FILE *))
{
	struct sample a, b;
	struct krt_summary sum;

	sample_init(&a, 1, T0);
	sample_init(&b, 2, T0 + 5 * MS);
	b.hops[2].uncertain = KRT_UNCERTAIN_HANDOFF;
	b.hops[3].uncertain = KRT_UNCERTAIN_HANDOFF | KRT_UNCERTAIN_SAMPLING;
	b.t.uncertain = KRT_UNCERTAIN_HANDOFF | KRT_UNCERTAIN_SAMPLING;
	summary_init(&sum);
	sum.uncertain_traces = 1;
	sum.uncertain_hops = 2;
	return write_two(make, &a, &b, &sum, NULL);
}

/* Go hops: the goroutine ids, on the ends that have one, only there. */
static void test_json_hop_goids(void **state)
{
	struct sample a;
	struct krt_writer *w;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	json_object *o, *hops, *th, *v;

	(void)state;
	assert_non_null(f);
	sample_init(&a, 1, T0);
	a.hops[1].to_goid = 123;	/* received by goroutine 123 */
	a.hops[4].from_goid = 123;	/* its reply */
	a.hops[4].to_goid = 4000000000u;
	w = krt_writer_json_new(f);
	assert_non_null(w);
	assert_int_equal(w->ops->trace(w, &a.t), 0);
	w->ops->destroy(w);
	fclose(f);
	o = json_tokener_parse(buf);
	assert_non_null(o);
	hops = get(o, "hops");
	assert_false(json_object_object_get_ex(json_object_array_get_idx(hops, 1), "from_goid",
					       &v));
	assert_int_equal(json_object_get_int64(get(json_object_array_get_idx(hops, 1),
						   "to_goid")), 123);
	assert_int_equal(json_object_get_int64(get(json_object_array_get_idx(hops, 4),
						   "from_goid")), 123);
	assert_true(json_object_get_int64(get(json_object_array_get_idx(hops, 4), "to_goid")) ==
		    4000000000LL);
	assert_false(json_object_object_get_ex(json_object_array_get_idx(hops, 0), "to_goid", &v));
	/* per thread: the goroutines its hops name, each once; none for the others */
	th = get(o, "threads");
	v = get(json_object_array_get_idx(th, 1), "goids");	/* 900: received and replied */
	assert_int_equal(json_object_array_length(v), 1);
	assert_int_equal(json_object_get_int64(json_object_array_get_idx(v, 0)), 123);
	v = get(json_object_array_get_idx(th, 0), "goids");	/* 812 */
	assert_int_equal(json_object_array_length(v), 1);
	assert_false(json_object_object_get_ex(json_object_array_get_idx(th, 2), "goids", &v));
	json_object_put(o);
	free(buf);

	/* text: the thread table names them after the row */
	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	a.hops[2].from_goid = 7;	/* 900 again, another goroutine */
	w = krt_writer_text_new(f, false);
	assert_non_null(w);
	assert_int_equal(w->ops->trace(w, &a.t), 0);
	w->ops->destroy(w);
	fclose(f);
	assert_non_null(strstr(buf, "  g123 g7\n"));
	assert_non_null(strstr(buf, "  g4000000000\n"));
	assert_int_equal(count_str(buf, " g"), 3);
	free(buf);
}

static void test_uncertain_every_format(void **state)
{
	char *out = run_writer_uncertain(krt_writer_json_new), *lines[16], why[KRT_UNCERTAIN_STRLEN];
	size_t n = split_lines(out, lines, 16), i;
	json_object *o, *hops, *v;

	assert_string_equal(krt_uncertain_str(0, why, sizeof(why)), "");
	assert_string_equal(krt_uncertain_str(KRT_UNCERTAIN_ONEWAY | KRT_UNCERTAIN_HANDOFF, why,
					      sizeof(why)), "handoff,oneway");
	assert_int_equal(n, 3);
	o = json_tokener_parse(lines[0]);
	assert_false(json_object_object_get_ex(o, "uncertain", &v));
	hops = get(o, "hops");
	for (i = 0; i < json_object_array_length(hops); i++)
		assert_false(json_object_object_get_ex(json_object_array_get_idx(hops, i),
						       "uncertain", &v));
	json_object_put(o);
	o = json_tokener_parse(lines[1]);
	assert_string_equal(json_object_get_string(get(o, "uncertain")), "handoff,sampling");
	hops = get(o, "hops");
	assert_false(json_object_object_get_ex(json_object_array_get_idx(hops, 1), "uncertain", &v));
	assert_string_equal(json_object_get_string(get(json_object_array_get_idx(hops, 2),
						       "uncertain")), "handoff");
	assert_string_equal(json_object_get_string(get(json_object_array_get_idx(hops, 3),
						       "uncertain")), "handoff,sampling");
	json_object_put(o);
	o = json_tokener_parse(lines[2]);
	assert_int_equal(json_object_get_int64(get(get(o, "summary"), "uncertain_traces")), 1);
	assert_int_equal(json_object_get_int64(get(get(o, "summary"), "uncertain_hops")), 2);
	json_object_put(o);
	free(out);

	out = run_writer_uncertain(make_text);
	assert_non_null(strstr(out, "trace 1  ingress 172.24.0.1:51234 -> 172.24.0.2:80 by "
				    "web/nginx[812]  start 256.938989 s  duration 1.234 ms\n"));
	assert_non_null(strstr(out, "duration 1.234 ms  uncertain: handoff,sampling\n"));
	assert_non_null(strstr(out, "app/python3[900] -> 172.24.0.9:6379  30 B  latency -  "
				    "uncertain: handoff\n"));
	assert_int_equal(count_str(out, "uncertain:"), 3);
	assert_non_null(strstr(out, "uncertain traces         1\n"));
	assert_non_null(strstr(out, "uncertain hops           2\n"));
	free(out);

	out = run_writer_uncertain(make_html);
	assert_non_null(strstr(out, "<p class=\"warn\">uncertain: handoff,sampling"));
	assert_int_equal(count_str(out, "<tr class=\"warn\" title=\"uncertain: handoff"), 2);
	assert_non_null(strstr(out, "title=\"uncertain: handoff,sampling\">? "));
	assert_non_null(strstr(out, "<tr><th>uncertain traces</th><td class=\"n warn\">1</td>"));
	free(out);
}

/*
 * Windowed sampling: a trace cut short by a pause says "window", and the
 * summary counts the pauses (text: only when there were any).
 */
static char *run_writer_paused(struct krt_writer *(*make)(FILE *), __u64 pauses)
{
	struct sample a, b;
	struct krt_summary sum;

	sample_init(&a, 1, T0);
	sample_init(&b, 2, T0 + 5 * MS);
	b.t.incomplete = KRT_INCOMPLETE_WINDOW;
	summary_init(&sum);
	sum.incomplete_traces = 1;
	sum.pauses = pauses;
	return write_two(make, &a, &b, &sum, NULL);
}

static void test_pauses_every_format(void **state)
{
	char *out = run_writer_paused(krt_writer_json_new, 3), *lines[16];
	json_object *o, *v;

	assert_int_equal(split_lines(out, lines, 16), 3);
	o = json_tokener_parse(lines[1]);
	v = get(o, "incomplete");
	assert_int_equal(json_object_array_length(v), 1);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)), "window");
	json_object_put(o);
	o = json_tokener_parse(lines[2]);
	assert_int_equal(json_object_get_int64(get(get(o, "summary"), "pauses")), 3);
	json_object_put(o);
	free(out);

	out = run_writer_paused(krt_writer_raw_new, 3);
	assert_non_null(strstr(out, "\nsummary\tpauses\t3\n"));
	free(out);

	out = run_writer_paused(make_text, 3);
	assert_non_null(strstr(out, "  INCOMPLETE (window)"));
	assert_non_null(strstr(out, "\n  pauses (sampling windows) 3\n"));
	free(out);
	out = run_writer_paused(make_text, 0);
	assert_null(strstr(out, "pauses"));
	free(out);
}

/* ---- text ---- */

static void test_text(void **state)
{
	char *out = run_writer(make_text, NULL);

	assert_non_null(strstr(out, "trace 1  ingress 172.24.0.1:51234 -> 172.24.0.2:80 by "
				    "web/nginx[812]  start 256.938989 s  duration 1.234 ms\n"));
	assert_non_null(strstr(out, "trace 2  ingress"));
	assert_non_null(strstr(out, "  web/nginx[812] "));
	assert_non_null(strstr(out, "app/python3[900]"));
	assert_non_null(strstr(out, "+0.010 ms  web/nginx[812] -> app/python3[900]  79 B  "
				    "latency 0.010 ms\n"));
	/* Address nodes for the gateway and for the untraced redis. */
	assert_non_null(strstr(out, "+0.000 ms  172.24.0.1:51234 -> web/nginx[812]  120 B  "
				    "latency -\n"));
	assert_non_null(strstr(out, "app/python3[900] -> 172.24.0.9:6379  30 B"));
	assert_non_null(strstr(out, "summary\n"));
	assert_non_null(strstr(out, "malformed lines"));
	assert_null(strchr(out, '\033'));
	assert_null(strstr(out, "run-queue"));	/* import: no run-queue figures */
	free(out);

	out = run_writer(make_text_color, NULL);
	assert_non_null(strchr(out, '\033'));
	free(out);
}

/* A task name is chosen by the traced program: no escape sequence reaches the terminal. */
static void test_text_sanitizes_comm(void **state)
{
	struct sample a;
	struct krt_summary sum;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct krt_writer *w = krt_writer_text_new(f, false);

	sample_init(&a, 1, T0);
	memcpy(a.threads[0].comm, "ev\033[2Jil\n", 10);
	summary_init(&sum);
	assert_int_equal(w->ops->trace(w, &a.t), 0);
	assert_int_equal(w->ops->finish(w, &sum), 0);
	w->ops->destroy(w);
	fclose(f);
	assert_null(strchr(buf, '\033'));
	assert_non_null(strstr(buf, "web/ev?[2Jil?[812]"));
	free(buf);
}

/* Live path: run-queue delay gets its column. */
static void test_text_runq(void **state)
{
	struct sample a;
	struct krt_summary sum;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct krt_writer *w = krt_writer_text_new(f, false);

	sample_init(&a, 1, T0);
	a.threads[1].runq_ns = 42000;
	summary_init(&sum);
	assert_int_equal(w->ops->trace(w, &a.t), 0);
	assert_int_equal(w->ops->finish(w, &sum), 0);
	w->ops->destroy(w);
	fclose(f);
	assert_non_null(strstr(buf, "last ms  run-queue ms\n"));
	assert_non_null(strstr(buf, "0.012        1.100          0.042\n"));
	free(buf);
}

/* ---- raw TSV ---- */

static size_t count_fields(const char *line)
{
	size_t n = 1;

	for (; *line; line++)
		n += *line == '\t';
	return n;
}

static void test_raw(void **state)
{
	char *out = run_writer(krt_writer_raw_new, NULL), *lines[128];
	size_t n = split_lines(out, lines, 128), i, traces = 0, threads = 0, hops = 0, sums = 0;

	for (i = 0; i < n; i++) {
		if (!strncmp(lines[i], "trace\t", 6)) {
			assert_int_equal(count_fields(lines[i]), 10);
			traces++;
		} else if (!strncmp(lines[i], "thread\t", 7)) {
			assert_int_equal(count_fields(lines[i]), 10);
			threads++;
		} else if (!strncmp(lines[i], "hop\t", 4)) {
			assert_int_equal(count_fields(lines[i]), 10);
			hops++;
		} else if (!strncmp(lines[i], "summary\t", 8)) {
			assert_int_equal(count_fields(lines[i]), 3);
			sums++;
		} else {
			fail_msg("unknown record: %s", lines[i]);
		}
	}
	assert_int_equal(traces, 2);
	assert_int_equal(threads, 6);
	assert_int_equal(hops, 12);
	assert_true(sums > 5);
	assert_string_equal(lines[0], "trace\t1\t256938989000\t256940223000\t1234000\t"
				      "172.24.0.1:51234\t172.24.0.2:80\t812\t3\t6");
	assert_string_equal(lines[4], "hop\t1\t1\t0\t172.24.0.1:51234\t812\t172.24.0.2:80\t"
				      "120\t0\t256938989000");
	free(out);
}

/* ---- Chrome trace ---- */

static void test_chrome(void **state)
{
	char *out = run_writer(krt_writer_chrome_new, NULL);
	json_object *o = json_tokener_parse(out), *evs;
	size_t i, n, x = 0, meta = 0, starts = 0, ends = 0, k;
	int64_t s_ids[64], f_ids[64];

	assert_non_null(o);
	evs = get(o, "traceEvents");
	n = json_object_array_length(evs);
	assert_true(n > 10);
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(evs, i);
		const char *ph = json_object_get_string(get(e, "ph"));

		get(e, "pid");
		get(e, "tid");
		if (!strcmp(ph, "X")) {
			assert_true(json_object_get_double(get(e, "dur")) >= 0);
			assert_true(json_object_get_double(get(e, "ts")) > 256000000.0);
			assert_true(!strncmp(json_object_get_string(get(e, "name")), "trace ", 6));
			x++;
		} else if (!strcmp(ph, "M")) {
			get(get(e, "args"), "name");
			meta++;
		} else if (!strcmp(ph, "s")) {
			s_ids[starts++] = json_object_get_int64(get(e, "id"));
		} else if (!strcmp(ph, "f")) {
			assert_string_equal(json_object_get_string(get(e, "bp")), "e");
			f_ids[ends++] = json_object_get_int64(get(e, "id"));
		}
		assert_true(starts < 64 && ends < 64);
	}
	assert_int_equal(x, 10);
	/* Two containers and three threads, each declared once. */
	assert_int_equal(meta, 5);
	/* Thread-to-thread hops: 812->900 and 900->812, twice. */
	assert_int_equal(starts, 4);
	assert_int_equal(ends, 4);
	for (i = 0; i < starts; i++) {
		for (k = 0; k < ends && f_ids[k] != s_ids[i]; k++)
			;
		assert_true(k < ends);
	}
	json_object_put(o);
	free(out);
}

/* A flow must bind inside a slice of its thread even when the hop time is outside. */
static void test_chrome_anchor_and_no_slices(void **state)
{
	struct sample a;
	struct krt_summary sum;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct krt_writer *w = krt_writer_chrome_new(f);
	json_object *o, *evs;
	size_t i, x = 0, s = 0;

	sample_init(&a, 7, T0);
	a.t.n_slices = 0;	/* live path with CPU aggregated in the kernel */
	summary_init(&sum);
	assert_int_equal(w->ops->trace(w, &a.t), 0);
	assert_int_equal(w->ops->finish(w, &sum), 0);
	w->ops->destroy(w);
	fclose(f);
	o = json_tokener_parse(buf);
	assert_non_null(o);
	evs = get(o, "traceEvents");
	for (i = 0; i < json_object_array_length(evs); i++) {
		json_object *e = json_object_array_get_idx(evs, i);
		const char *ph = json_object_get_string(get(e, "ph"));

		x += !strcmp(ph, "X");
		s += !strcmp(ph, "s");
	}
	assert_int_equal(x, 3);	/* one activity span per thread */
	assert_int_equal(s, 2);
	json_object_put(o);
	free(buf);
}

/* ---- DOT ---- */

static size_t count_str(const char *hay, const char *needle)
{
	size_t n = 0;

	for (hay = strstr(hay, needle); hay; hay = strstr(hay + 1, needle))
		n++;
	return n;
}

static void test_dot(void **state)
{
	char *out = run_writer(make_dot_all, NULL);
	int r;

	assert_int_equal(count_str(out, "digraph "), 2);
	assert_int_equal(count_str(out, "{"), count_str(out, "}"));
	assert_non_null(strstr(out, "subgraph \"cluster_web\""));
	assert_non_null(strstr(out, "subgraph \"cluster_app\""));
	assert_non_null(strstr(out, "we\\\"ird\\\\x[901]"));
	assert_non_null(strstr(out, "\"a172.24.0.9:6379\""));
	assert_non_null(strstr(out, "\"t812\" -> \"t900\" [label=\"2: 79 B\\n0.010 ms\"]"));
	assert_int_equal(count_str(out, "\" -> \""), 12);
	free(out);

	out = run_writer(make_dot_2, NULL);
	assert_int_equal(count_str(out, "digraph "), 1);
	assert_non_null(strstr(out, "digraph \"trace 2\""));
	free(out);

	out = run_writer(make_dot_99, &r);
	assert_int_equal(r, -1);
	assert_non_null(strstr(out, "digraph \"no traces\""));
	free(out);
}

/* ---- OTLP ---- */

static bool is_hex(const char *s, size_t len)
{
	size_t i;

	if (strlen(s) != len)
		return false;
	for (i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return strspn(s, "0") != len;
}

static const char *attr_value(json_object *attrs, const char *key, const char *type)
{
	size_t i;

	for (i = 0; i < json_object_array_length(attrs); i++) {
		json_object *a = json_object_array_get_idx(attrs, i);

		if (!strcmp(json_object_get_string(get(a, "key")), key))
			return json_object_get_string(get(get(a, "value"), type));
	}
	return NULL;
}

/* Checks one TracesData line; returns the number of spans. */
static size_t check_traces_data(json_object *o, char *trace_id_out)
{
	json_object *rs = get(o, "resourceSpans"), *spans_all[16];
	char span_ids[16][17];
	size_t i, k, n = 0, roots = 0;
	const char *trace_id = NULL;

	assert_true(json_object_array_length(rs) >= 1);
	for (i = 0; i < json_object_array_length(rs); i++) {
		json_object *r = json_object_array_get_idx(rs, i), *ss, *scope, *spans;

		assert_non_null(attr_value(get(get(r, "resource"), "attributes"), "service.name",
					   "stringValue"));
		ss = json_object_array_get_idx(get(r, "scopeSpans"), 0);
		scope = get(ss, "scope");
		assert_string_equal(json_object_get_string(get(scope, "name")), "krtrace");
		get(scope, "version");
		spans = get(ss, "spans");
		for (k = 0; k < json_object_array_length(spans); k++) {
			json_object *sp = json_object_array_get_idx(spans, k);
			const char *tid = json_object_get_string(get(sp, "traceId"));
			json_object *st = get(sp, "startTimeUnixNano"), *en = get(sp, "endTimeUnixNano");

			assert_true(is_hex(tid, 32));
			if (!trace_id)
				trace_id = tid;
			assert_string_equal(tid, trace_id);
			assert_true(is_hex(json_object_get_string(get(sp, "spanId")), 16));
			assert_true(json_object_is_type(st, json_type_string));
			assert_true(json_object_is_type(en, json_type_string));
			assert_true(strtoull(json_object_get_string(en), NULL, 10) >=
				    strtoull(json_object_get_string(st), NULL, 10));
			/* Converted to Unix time: after 2020. */
			assert_true(strtoull(json_object_get_string(st), NULL, 10) >
				    1577836800ULL * 1000000000ULL);
			assert_non_null(attr_value(get(sp, "attributes"), "thread.id", "intValue"));
			assert_non_null(attr_value(get(sp, "attributes"), "krtrace.cpu_ns", "intValue"));
			/* Sends and receives as span events with Unix times as strings. */
			{
				json_object *evs = get(sp, "events");
				size_t e;

				for (e = 0; e < json_object_array_length(evs); e++) {
					json_object *ev = json_object_array_get_idx(evs, e);
					const char *name = json_object_get_string(get(ev, "name"));

					assert_true(!strcmp(name, "send") || !strcmp(name, "recv"));
					assert_true(json_object_is_type(get(ev, "timeUnixNano"),
									json_type_string));
				}
				if (!strcmp(json_object_get_string(get(sp, "name")), "nginx[812]"))
					assert_int_equal(json_object_array_length(evs), 4);
			}
			assert_true(n < 16);
			spans_all[n] = sp;
			strcpy(span_ids[n], json_object_get_string(get(sp, "spanId")));
			n++;
		}
	}
	/* Exactly one root (kind SERVER); every parent is a span of the same trace. */
	for (i = 0; i < n; i++) {
		json_object *parent = NULL;

		if (!json_object_object_get_ex(spans_all[i], "parentSpanId", &parent)) {
			roots++;
			assert_int_equal(json_object_get_int(get(spans_all[i], "kind")), 2);
			continue;
		}
		for (k = 0; k < n && strcmp(span_ids[k], json_object_get_string(parent)); k++)
			;
		assert_true(k < n && k != i);
	}
	assert_int_equal(roots, 1);
	if (trace_id_out)
		strcpy(trace_id_out, trace_id);
	return n;
}

static struct krt_writer *make_json_host(FILE *f)
{
	return krt_writer_json_new_host(f, "host-a");
}

/* --host-name: "host" and a 128-bit "trace_id_hex" equal to the OTLP traceId. */
static void test_json_host_trace_id_hex(void **state)
{
	char *out = run_writer(make_json_host, NULL), *otlp = run_writer(make_otlp, NULL);
	char *lines[8], *olines[8];
	size_t n = split_lines(out, lines, 8), i;
	json_object *o, *p;

	assert_int_equal(split_lines(otlp, olines, 8), 2);
	assert_int_equal(n, 3);
	for (i = 0; i < 2; i++) {
		const char *hex;

		o = json_tokener_parse(lines[i]);
		p = json_tokener_parse(olines[i]);
		assert_non_null(o);
		assert_non_null(p);
		hex = json_object_get_string(get(o, "trace_id_hex"));
		assert_true(is_hex(hex, 32));
		assert_string_equal(json_object_get_string(get(o, "host")), "host-a");
		assert_string_equal(hex, json_object_get_string(get(json_object_array_get_idx(
			get(json_object_array_get_idx(get(json_object_array_get_idx(
				get(p, "resourceSpans"), 0), "scopeSpans"), 0), "spans"), 0),
			"traceId")));
		/* The low half is the trace number. */
		assert_int_equal(strtoull(hex + 16, NULL, 16), json_object_get_uint64(get(o, "trace_id")));
		json_object_put(o);
		json_object_put(p);
	}
	free(out);
	free(otlp);
}

/* OTLP: a Go thread's span names the goroutines of its hops (krtrace.goids). */
static void test_otlp_goids(void **state)
{
	struct sample a;
	struct krt_writer *w;
	char *buf = NULL;
	size_t len = 0, i, k, seen = 0;
	FILE *f = open_memstream(&buf, &len);
	json_object *o, *rs;

	(void)state;
	assert_non_null(f);
	sample_init(&a, 1, T0);
	a.hops[1].to_goid = 123;
	a.hops[4].from_goid = 7;
	w = krt_writer_otlp_new(f, NULL);
	assert_non_null(w);
	assert_int_equal(w->ops->trace(w, &a.t), 0);
	w->ops->destroy(w);
	fclose(f);
	o = json_tokener_parse(buf);
	assert_non_null(o);
	rs = get(o, "resourceSpans");
	for (i = 0; i < json_object_array_length(rs); i++) {
		json_object *ss = json_object_array_get_idx(get(json_object_array_get_idx(rs, i),
								 "scopeSpans"), 0);
		json_object *spans = get(ss, "spans");

		for (k = 0; k < json_object_array_length(spans); k++) {
			json_object *at = get(json_object_array_get_idx(spans, k), "attributes");
			const char *tid = attr_value(at, "thread.id", "intValue");
			const char *g = attr_value(at, "krtrace.goids", "stringValue");

			seen++;
			if (!strcmp(tid, "900"))	/* received as 123, sent as 7 */
				assert_string_equal(g, "123 7");
			else
				assert_null(g);
		}
	}
	assert_int_equal(seen, a.t.n_threads);
	json_object_put(o);
	free(buf);
}

static void test_otlp_file(void **state)
{
	char *out = run_writer(make_otlp, NULL), *lines[8], id1[33], id2[33];
	size_t n = split_lines(out, lines, 8);
	json_object *o;

	assert_int_equal(n, 2);
	o = json_tokener_parse(lines[0]);
	assert_non_null(o);
	assert_int_equal(check_traces_data(o, id1), 3);
	/* Two containers: two resources. */
	assert_int_equal(json_object_array_length(get(o, "resourceSpans")), 2);
	assert_non_null(strstr(lines[0], "\"parentSpanId\""));
	json_object_put(o);
	o = json_tokener_parse(lines[1]);
	assert_non_null(o);
	check_traces_data(o, id2);
	/* Same run, different traces: same run half, different trace half. */
	assert_memory_equal(id1, id2, 16);
	assert_memory_not_equal(id1 + 16, id2 + 16, 16);
	json_object_put(o);
	free(out);
}

/* ---- HTTP POST ---- */

struct listener {
	int fd;
	int port;
	int status;		/* what to answer */
	int requests;		/* how many to accept */
	char request[1 << 16];	/* the last request received */
	size_t len;
	pthread_t thread;
};

static void *listen_main(void *arg)
{
	struct listener *l = arg;
	int i;

	for (i = 0; i < l->requests; i++) {
		int c = accept(l->fd, NULL, NULL);
		char reply[128];
		ssize_t n;
		char *body;
		size_t want = SIZE_MAX;

		if (c < 0)
			break;
		l->len = 0;
		/* Read the header, then Content-Length bytes of body. */
		while (l->len < sizeof(l->request) - 1) {
			n = read(c, l->request + l->len, sizeof(l->request) - 1 - l->len);
			if (n <= 0)
				break;
			l->len += n;
			l->request[l->len] = '\0';
			body = strstr(l->request, "\r\n\r\n");
			if (body && want == SIZE_MAX) {
				char *cl = strcasestr(l->request, "Content-Length:");

				want = (body + 4 - l->request) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
			}
			if (l->len >= want)
				break;
		}
		snprintf(reply, sizeof(reply), "HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n",
			 l->status);
		if (write(c, reply, strlen(reply)) < 0)
			perror("write");
		close(c);
	}
	return NULL;
}

static void listener_start(struct listener *l, int status, int requests)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	memset(l, 0, sizeof(*l));
	l->status = status;
	l->requests = requests;
	l->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(l->fd >= 0);
	assert_int_equal(bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l->fd, 8), 0);
	assert_int_equal(getsockname(l->fd, (struct sockaddr *)&sa, &sl), 0);
	l->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&l->thread, NULL, listen_main, l), 0);
}

static void listener_stop(struct listener *l)
{
	pthread_join(l->thread, NULL);
	close(l->fd);
}

static void test_http_url(void **state)
{
	struct krt_http_url u;

	assert_int_equal(krt_http_parse_url("http://127.0.0.1:4318/v1/traces", &u), 0);
	assert_string_equal(u.host, "127.0.0.1");
	assert_string_equal(u.port, "4318");
	assert_string_equal(u.path, "/v1/traces");
	assert_int_equal(krt_http_parse_url("http://collector", &u), 0);
	assert_string_equal(u.port, "80");
	assert_string_equal(u.path, "/");
	assert_int_equal(krt_http_parse_url("http://[::1]:4318/v1/traces", &u), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(krt_http_parse_url("https://x/v1", &u), -1);
	assert_int_equal(krt_http_parse_url("http://:80/", &u), -1);
	assert_int_equal(krt_http_parse_url("http://h:8x/", &u), -1);
	assert_int_equal(krt_http_parse_url("http://[::1/", &u), -1);
}

static void test_http_post(void **state)
{
	struct listener l;
	char url[64], err[256];
	int status;

	listener_start(&l, 200, 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/traces", l.port);
	status = krt_http_post(url, "application/json", "{\"a\":1}", 7, 2000, err, sizeof(err));
	listener_stop(&l);
	assert_int_equal(status, 200);
	assert_true(!strncmp(l.request, "POST /v1/traces HTTP/1.1\r\n", 26));
	assert_non_null(strstr(l.request, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(l.request, "Content-Length: 7\r\n"));
	assert_non_null(strstr(l.request, "\r\n\r\n{\"a\":1}"));

	/* Nobody listening on the (now closed) port: an error naming the cause. */
	status = krt_http_post(url, "application/json", "{}", 2, 1000, err, sizeof(err));
	assert_int_equal(status, -1);
	assert_non_null(strstr(err, "onnection refused"));
}

static void test_otlp_endpoint(void **state)
{
	struct listener l;
	char url[64], *body;
	struct krt_writer *w;
	struct sample a, b;
	struct krt_summary sum;
	json_object *o;

	listener_start(&l, 200, 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/traces", l.port);
	w = krt_writer_otlp_new(NULL, url);
	assert_non_null(w);
	sample_init(&a, 1, T0);
	sample_init(&b, 2, T0 + MS);
	summary_init(&sum);
	assert_int_equal(w->ops->trace(w, &a.t), 0);
	assert_int_equal(w->ops->trace(w, &b.t), 0);
	assert_int_equal(w->ops->finish(w, &sum), 0);
	w->ops->destroy(w);
	listener_stop(&l);
	assert_true(!strncmp(l.request, "POST /v1/traces HTTP/1.1\r\n", 26));
	body = strstr(l.request, "\r\n\r\n");
	assert_non_null(body);
	o = json_tokener_parse(body + 4);
	assert_non_null(o);
	/* One batch: both traces, two containers each. */
	assert_int_equal(json_object_array_length(get(o, "resourceSpans")), 4);
	json_object_put(o);
}

static void test_otlp_endpoint_failure_keeps_file(void **state)
{
	struct listener l;
	char url[64], *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct krt_writer *w;
	struct sample a;
	struct krt_summary sum;

	/* The collector rejects the batch: reported, the file output stays whole. */
	listener_start(&l, 400, 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/traces", l.port);
	w = krt_writer_otlp_new(f, url);
	sample_init(&a, 1, T0);
	summary_init(&sum);
	assert_int_equal(w->ops->trace(w, &a.t), 0);
	/* Warned about on stderr; the file is complete, but the run fails for it. */
	assert_int_equal(w->ops->finish(w, &sum), KRT_WRITER_UNDELIVERED);
	w->ops->destroy(w);
	listener_stop(&l);
	fclose(f);
	assert_int_equal(count_str(buf, "\"resourceSpans\""), 1);
	free(buf);
}

/* ---- HTML ---- */

static void test_html(void **state)
{
	char *out = run_writer(make_html, NULL);

	assert_true(!strncmp(out, "<!DOCTYPE html>", 15));
	assert_non_null(strstr(out, "</html>"));
	assert_non_null(strstr(out, "KRTrace &lt;test&gt; &amp; &quot;report&quot;"));
	assert_non_null(strstr(out, "web/nginx[812]"));
	assert_non_null(strstr(out, "we&quot;ird\\x[901]"));
	/* Self-contained: nothing fetched from elsewhere. */
	assert_null(strstr(out, "src=\"http"));
	assert_null(strstr(out, "href=\"http"));
	assert_null(strstr(out, "<script src"));
	/* A graph per trace, or the page says why there is none. */
	/* A timeline per trace, drawn without Graphviz: thread rows, slices, hop arrows. */
	assert_int_equal(count_str(out, "<svg class=\"timeline\""), 2);
	assert_int_equal(count_str(out, "<title>on CPU "), 10);
	assert_int_equal(count_str(out, "marker-end=\"url(#arrow-1)\""), 2);
	assert_int_equal(count_str(out, "<circle "), 8);
	assert_true(count_str(out, "<svg") == 5 || strstr(out, "Graphviz") != NULL);
	/* The service map sums both traces: 2 hops web -> app, gateway by IP. */
	assert_non_null(strstr(out, "Service map"));
	if (count_str(out, "<svg") == 5)
		assert_non_null(strstr(out, "gateway 172.24.0.1"));
	free(out);
}

/* Without Graphviz the page says so, and still has its timelines and tables. */
static void test_html_without_graphviz(void **state)
{
	char *path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	char *out;

	setenv("PATH", "/nonexistent", 1);
	out = run_writer(make_html, NULL);
	if (path)
		setenv("PATH", path, 1);
	free(path);
	assert_non_null(strstr(out, "Graph not rendered: Graphviz"));
	assert_int_equal(count_str(out, "<svg"), 2);	/* the two timelines */
	assert_non_null(strstr(out, "</html>"));
	free(out);
}

/* A trace too big for Graphviz gets its tables and a note, not a stalled run. */
static void test_html_big_trace(void **state)
{
	struct sample a;
	struct krt_summary sum;
	struct krt_hop *hops = calloc(5000, sizeof(*hops));
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&buf, &len);
	struct krt_writer *w = krt_writer_html_new(f, "big");

	assert_non_null(hops);
	sample_init(&a, 1, T0);
	for (i = 0; i < 5000; i++)
		hops[i] = (struct krt_hop){ 812, 900, addr("172.24.0.2", 40000),
					    addr("172.24.0.3", 8000), 1, T0 + i, T0 + i + 1 };
	a.t.hops = hops;
	a.t.n_hops = 5000;
	summary_init(&sum);
	assert_int_equal(w->ops->trace(w, &a.t), 0);
	assert_int_equal(w->ops->finish(w, &sum), 0);
	w->ops->destroy(w);
	fclose(f);
	assert_non_null(strstr(buf, "Flow graph not drawn: 5000 hops"));
	assert_non_null(strstr(buf, "</html>"));
	free(buf);
	free(hops);
}

/* A trace with nothing in it (no thread, no hop, unknown addresses): every writer copes. */
static void test_empty_trace_every_writer(void **state)
{
	struct krt_writer *(*const makers[])(FILE *) = {
		make_text, krt_writer_raw_new, krt_writer_json_new, krt_writer_chrome_new,
		make_dot_all, make_html, make_otlp,
	};
	struct krt_trace t = { .id = 9 };
	struct krt_summary sum;
	size_t k;

	memset(&sum, 0, sizeof(sum));
	for (k = 0; k < sizeof(makers) / sizeof(makers[0]); k++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		struct krt_writer *w = makers[k](f);

		assert_non_null(w);
		assert_int_equal(w->ops->trace(w, &t), 0);
		assert_int_equal(w->ops->finish(w, &sum), 0);
		w->ops->destroy(w);
		fclose(f);
		/* The JSON formats still parse. */
		if (makers[k] == krt_writer_chrome_new) {
			json_object *o = json_tokener_parse(buf);

			assert_non_null(o);
			json_object_put(o);
		}
		if (makers[k] == krt_writer_json_new) {
			json_object *o = json_tokener_parse(buf);

			assert_non_null(o);
			assert_int_equal(json_object_get_int(get(o, "trace_id")), 9);
			/* Unknown addresses print as addr.c has them ("?" and the port). */
			assert_true(!strncmp(json_object_get_string(get(get(o, "ingress"), "client")), "?", 1));
			json_object_put(o);
		}
		free(buf);
	}
}

/* ---- shared options ---- */

static void test_output_options(void **state)
{
	struct krt_output_opts o = { 0 };
	struct krt_outputs outs;
	char dir[] = "/tmp/krt-writers-XXXXXX", path[128], out_path[128], chrome_path[128];
	int i, found = 0;

	assert_int_equal(krt_output_opt(&o, 'R', NULL), 1);
	assert_int_equal(krt_output_opt(&o, 'x', NULL), 0);
	for (i = 0; krt_output_long_options[i].name; i++) {
		if (!strcmp(krt_output_long_options[i].name, "trace")) {
			assert_int_equal(krt_output_opt(&o, krt_output_long_options[i].val, "abc"), -1);
			assert_int_equal(krt_output_opt(&o, krt_output_long_options[i].val, "12"), 1);
			found++;
		}
		if (!strcmp(krt_output_long_options[i].name, "json"))
			assert_int_equal(krt_output_opt(&o, krt_output_long_options[i].val, NULL), 1);
	}
	assert_int_equal(found, 1);
	assert_int_equal(o.dot_trace, 12);
	assert_non_null(strstr(krt_output_help, "--chrome"));
	/* -R with --json, and --trace without --dot, are refused. */
	assert_int_equal(krt_outputs_open(&outs, &o, "test"), -1);
	o.raw = false;
	assert_int_equal(krt_outputs_open(&outs, &o, "test"), -1);

	assert_non_null(mkdtemp(dir));
	memset(&o, 0, sizeof(o));
	snprintf(out_path, sizeof(out_path), "%s/out.jsonl", dir);
	o.out_path = out_path;
	snprintf(chrome_path, sizeof(chrome_path), "%s/t.json", dir);
	o.chrome_path = chrome_path;
	o.json = true;
	o.color = 1;
	assert_int_equal(krt_outputs_open(&outs, &o, "test"), 0);
	assert_int_equal(outs.n, 2);
	assert_true(outs.need_slices);
	assert_false(outs.color);	/* a file is not a terminal */
	assert_null(outs.verbose_out);
	{
		struct sample a;
		struct krt_summary sum;

		sample_init(&a, 1, T0);
		summary_init(&sum);
		krt_outputs_on_trace(&a.t, &outs);
		assert_int_equal(krt_outputs_close(&outs, &sum), 0);
	}
	snprintf(path, sizeof(path), "%s/t.json", dir);
	{
		json_object *j = json_object_from_file(path);

		assert_non_null(j);
		json_object_put(j);
	}
	/* -V goes with the text, but not between JSON lines. */
	{
		struct krt_output_opts v = { .verbose_pass = true, .json = true };

		assert_int_equal(krt_outputs_open(&outs, &v, "test"), 0);
		assert_ptr_equal(outs.verbose_out, stderr);
		assert_int_equal(krt_outputs_close(&outs, NULL), 0);
		v.json = false;
		assert_int_equal(krt_outputs_open(&outs, &v, "test"), 0);
		assert_ptr_equal(outs.verbose_out, stdout);
		assert_int_equal(krt_outputs_close(&outs, NULL), 0);
	}
	/* An output file that cannot be created: an error naming it. */
	o.chrome_path = "/nonexistent-dir/x.json";
	assert_int_equal(krt_outputs_open(&outs, &o, "test"), -1);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

/*
 * A failed run (no summary): the outputs do not replace what was there
 * (a good report stays), and nothing is left behind.
 */
static void test_close_without_summary(void **state)
{
	struct krt_output_opts o = { .json = true };
	struct krt_outputs outs;
	char dir[] = "/tmp/krt-close-XXXXXX", main_path[128], chrome_path[128], cmd[160];
	struct sample a;
	FILE *f;
	char line[8192];

	assert_non_null(mkdtemp(dir));
	snprintf(main_path, sizeof(main_path), "%s/out.jsonl", dir);
	snprintf(chrome_path, sizeof(chrome_path), "%s/t.json", dir);
	f = fopen(main_path, "w");
	assert_non_null(f);
	fputs("previous result\n", f);
	fclose(f);
	o.out_path = main_path;
	o.chrome_path = chrome_path;
	assert_int_equal(krt_outputs_open(&outs, &o, "test"), 0);
	sample_init(&a, 1, T0);
	krt_outputs_on_trace(&a.t, &outs);
	assert_int_equal(krt_outputs_close(&outs, NULL), 0);
	assert_int_equal(access(chrome_path, F_OK), -1);
	f = fopen(main_path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "previous result\n");
	assert_null(fgets(line, sizeof(line), f));
	fclose(f);
	/* no temporary file left in the directory */
	snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq 1", dir);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* A successful run replaces the file; an output that is also an input is refused. */
static void test_output_replaced_and_input_refused(void **state)
{
	struct krt_output_opts o = { .json = true };
	struct krt_outputs outs;
	char dir[] = "/tmp/krt-replace-XXXXXX", main_path[128], other[128], cmd[160];
	struct sample a;
	struct krt_summary sum;
	struct stat st;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(main_path, sizeof(main_path), "%s/out.jsonl", dir);
	f = fopen(main_path, "w");
	assert_non_null(f);
	fputs("previous result\n", f);
	fclose(f);
	o.out_path = main_path;
	assert_int_equal(krt_outputs_open(&outs, &o, "test"), 0);
	/* not yet replaced while the run goes on */
	assert_int_equal(stat(main_path, &st), 0);
	assert_int_equal(st.st_size, strlen("previous result\n"));
	sample_init(&a, 1, T0);
	summary_init(&sum);
	krt_outputs_on_trace(&a.t, &outs);
	assert_int_equal(krt_outputs_close(&outs, &sum), 0);
	assert_int_equal(stat(main_path, &st), 0);
	assert_true(st.st_size > 100);
	assert_true((st.st_mode & 0044) != 0 || (umask(022) & 0044));

	/* the same file as an input, by another name: refused, left intact */
	snprintf(other, sizeof(other), "%s/./out.jsonl", dir);
	o.inputs[0] = other;
	assert_int_equal(krt_outputs_open(&outs, &o, "test"), -1);
	o.inputs[0] = NULL;
	assert_int_equal(stat(main_path, &st), 0);
	assert_true(st.st_size > 100);
	/* two outputs on one file */
	o.html_path = other;
	assert_int_equal(krt_outputs_open(&outs, &o, "test"), -1);
	o.html_path = NULL;
	/* a write error names the file */
	o.out_path = "/dev/full";
	assert_int_equal(krt_outputs_open(&outs, &o, "test"), 0);
	krt_outputs_on_trace(&a.t, &outs);
	assert_int_equal(krt_outputs_close(&outs, &sum), -1);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* -C colours only a terminal, and NO_COLOR always wins. */
static void test_color_only_on_terminal(void **state)
{
	struct krt_output_opts o = { .color = 1 };
	struct krt_outputs outs;
	char tty[64];
	int master, slave;
	const char *saved = getenv("NO_COLOR");

	assert_int_equal(openpty(&master, &slave, tty, NULL, NULL), 0);
	o.out_path = tty;
	unsetenv("NO_COLOR");
	assert_int_equal(krt_outputs_open(&outs, &o, "test"), 0);
	assert_true(outs.color);
	assert_int_equal(krt_outputs_close(&outs, NULL), 0);
	setenv("NO_COLOR", "1", 1);
	assert_int_equal(krt_outputs_open(&outs, &o, "test"), 0);
	assert_false(outs.color);
	assert_int_equal(krt_outputs_close(&outs, NULL), 0);
	/* An empty NO_COLOR does not count (no-color.org). */
	setenv("NO_COLOR", "", 1);
	assert_int_equal(krt_outputs_open(&outs, &o, "test"), 0);
	assert_true(outs.color);
	assert_int_equal(krt_outputs_close(&outs, NULL), 0);
	/* Not asked for: no colour even on a terminal. */
	o.color = 0;
	assert_int_equal(krt_outputs_open(&outs, &o, "test"), 0);
	assert_false(outs.color);
	assert_int_equal(krt_outputs_close(&outs, NULL), 0);
	if (saved)
		setenv("NO_COLOR", saved, 1);
	else
		unsetenv("NO_COLOR");
	close(slave);
	close(master);
}

/* ---- --emit DIR: every format for the shell suite ---- */

static int emit_all(const char *dir)
{
	struct krt_output_opts o = { 0 };
	struct krt_outputs outs;
	struct sample a, b;
	struct krt_summary sum;
	char p[6][512];
	const char *endpoint = getenv("KRT_TEST_OTLP_ENDPOINT");
	int ret;

	snprintf(p[0], sizeof(p[0]), "%s/out.jsonl", dir);
	snprintf(p[1], sizeof(p[1]), "%s/trace.json", dir);
	snprintf(p[2], sizeof(p[2]), "%s/flow.dot", dir);
	snprintf(p[3], sizeof(p[3]), "%s/report.html", dir);
	snprintf(p[4], sizeof(p[4]), "%s/otlp.jsonl", dir);
	o.json = true;
	o.out_path = p[0];
	o.chrome_path = p[1];
	o.dot_path = p[2];
	o.html_path = p[3];
	o.otlp_path = p[4];
	o.otlp_endpoint = endpoint && endpoint[0] ? endpoint : NULL;
	if (krt_outputs_open(&outs, &o, "test_writers"))
		return 1;
	sample_init(&a, 1, T0);
	sample_init(&b, 2, T0 + 3 * MS);
	b.threads[1].container = "";	/* a thread of unknown container */
	summary_init(&sum);
	krt_outputs_on_trace(&a.t, &outs);
	krt_outputs_on_trace(&b.t, &outs);
	ret = krt_outputs_close(&outs, &sum);
	/* The other main formats, each into its own file. */
	memset(&o, 0, sizeof(o));
	snprintf(p[5], sizeof(p[5]), "%s/out.tsv", dir);
	o.raw = true;
	o.out_path = p[5];
	if (krt_outputs_open(&outs, &o, "test_writers"))
		return 1;
	krt_outputs_on_trace(&a.t, &outs);
	krt_outputs_on_trace(&b.t, &outs);
	ret |= krt_outputs_close(&outs, &sum);
	/* The same traces POSTed as protobuf, with their OTLP/JSON file beside. */
	if (endpoint && endpoint[0]) {
		memset(&o, 0, sizeof(o));
		snprintf(p[5], sizeof(p[5]), "%s/otlp-pb.jsonl", dir);
		o.out_path = "/dev/null";
		o.otlp_path = p[5];
		o.otlp_endpoint = endpoint;
		o.otlp_protobuf = true;
		o.host_name = "host-a";
		if (krt_outputs_open(&outs, &o, "test_writers"))
			return 1;
		krt_outputs_on_trace(&a.t, &outs);
		krt_outputs_on_trace(&b.t, &outs);
		ret |= krt_outputs_close(&outs, &sum);
	}
	memset(&o, 0, sizeof(o));
	snprintf(p[5], sizeof(p[5]), "%s/out.txt", dir);
	o.out_path = p[5];
	if (krt_outputs_open(&outs, &o, "test_writers"))
		return 1;
	krt_outputs_on_trace(&a.t, &outs);
	krt_outputs_on_trace(&b.t, &outs);
	ret |= krt_outputs_close(&outs, &sum);
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_escaping),
		cmocka_unit_test(test_json_numbers_as_printf),
		cmocka_unit_test(test_json_literal_keys_as_key),
		cmocka_unit_test(test_json_kv_u64_as_printf),
		cmocka_unit_test(test_json_ipv4_as_addr_str),
		cmocka_unit_test(test_addr_str),
		cmocka_unit_test(test_addr_str_every_octet_and_port),
		cmocka_unit_test(test_fmt_numbers),
		cmocka_unit_test(test_json_lines_schema),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_uncertain_every_format),
		cmocka_unit_test(test_pauses_every_format),
		cmocka_unit_test(test_text_sanitizes_comm),
		cmocka_unit_test(test_text_runq),
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_chrome),
		cmocka_unit_test(test_chrome_anchor_and_no_slices),
		cmocka_unit_test(test_dot),
		cmocka_unit_test(test_otlp_file),
		cmocka_unit_test(test_otlp_goids),
		cmocka_unit_test(test_json_host_trace_id_hex),
		cmocka_unit_test(test_http_url),
		cmocka_unit_test(test_http_post),
		cmocka_unit_test(test_otlp_endpoint),
		cmocka_unit_test(test_otlp_endpoint_failure_keeps_file),
		cmocka_unit_test(test_html),
		cmocka_unit_test(test_html_big_trace),
		cmocka_unit_test(test_html_without_graphviz),
		cmocka_unit_test(test_empty_trace_every_writer),
		cmocka_unit_test(test_output_options),
		cmocka_unit_test(test_color_only_on_terminal),
		cmocka_unit_test(test_close_without_summary),
		cmocka_unit_test(test_json_hop_goids),
		cmocka_unit_test(test_output_replaced_and_input_refused),
	};

	if (argc == 3 && !strcmp(argv[1], "--emit"))
		return emit_all(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
