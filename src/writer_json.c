/*
 * JSON lines (docs/outputs.md, a public interface): one object per trace, then one
 * {"summary":{...}} object. Keys and nesting must not change.
 */
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "json_out.h"
#include "trace_id.h"
#include "writer_util.h"

static void put_addr(struct krt_json *j, const struct krt_addr *a)
{
	char buf[KRT_ADDR_STRLEN];

	/* IPv4 (nearly all): straight into the emitter's buffer, quoted */
	if (a->family == KRT_AF_INET && krt_json_ipv4(j, a->addr, a->port))
		return;
	/* an address needs no escape: digits, dots, colons, brackets, hex */
	krt_json_str_plain(j, buf, strlen(krt_addr_str(a, buf, sizeof(buf))));
}

#define kv_addr(j, lit, a) (KRT_JSON_KEY(j, lit), put_addr(j, a))

/* Optional: present only when the kernel could not decide (docs/outputs.md). */
static void kv_uncertain(struct krt_json *j, __u32 bits)
{
	char why[KRT_UNCERTAIN_STRLEN];

	if (bits)
		krt_json_kv_str(j, "uncertain", krt_uncertain_str(bits, why, sizeof(why)));
}

/* a literal at p; returns its end */
#define LIT(p, s) (__builtin_memcpy((p), (s), sizeof(s) - 1), (p) + sizeof(s) - 1)

/*
 * A thread's object without its two strings, at most: keys (~80 bytes),
 * 5 numbers of 20 digits, the goids of 10 digits and their commas, and the
 * digit writers' scratch.
 */
#define THREAD_MAX (256 + KRT_THREAD_GOIDS_MAX * 11)
/* A string escaped: 6 bytes per byte at most (\u00XX), and its quotes. */
#define ESCAPED_MAX(n) (6 * (n) + 2)

/*
 * A thread's object straight into the emitter's buffer after one check of
 * the room, as put_hop_fast does for hops; false (nothing written) when
 * the buffer has too little left.
 */
static bool put_thread_fast(struct krt_json *j, const struct krt_thread_stat *th,
			    const __u32 *goids, size_t n_goids)
{
	size_t n = strnlen(th->comm, KRT_COMM_LEN), i;
	const char *container = th->container ? th->container : "";
	size_t nc = strlen(container);
	char *p;

	if (sizeof(j->buf) - j->n < THREAD_MAX + ESCAPED_MAX(n) + ESCAPED_MAX(nc))
		return false;
	krt_json_before_item(j);
	p = j->buf + j->n;
	p = LIT(p, "{\"tid\":");
	p = krt_json_digits(j, p, th->tid);
	p = LIT(p, ",\"pid\":");
	p = krt_json_digits(j, p, th->pid);
	p = LIT(p, ",\"comm\":");
	j->n = (size_t)(p - j->buf);
	krt_json_write_string(j, th->comm, n);
	p = LIT(j->buf + j->n, ",\"container\":");
	j->n = (size_t)(p - j->buf);
	krt_json_write_string(j, container, nc);
	p = LIT(j->buf + j->n, ",\"cpu_ns\":");
	p = krt_json_digits(j, p, th->cpu_ns);
	p = LIT(p, ",\"first_ns\":");
	p = krt_json_digits(j, p, th->first_ns);
	p = LIT(p, ",\"last_ns\":");
	p = krt_json_digits(j, p, th->last_ns);
	if (n_goids) {
		p = LIT(p, ",\"goids\":[");
		for (i = 0; i < n_goids; i++) {
			if (i)
				*p++ = ',';
			p = krt_json_digits(j, p, goids[i]);
		}
		*p++ = ']';
	}
	*p++ = '}';
	j->n = (size_t)(p - j->buf);
	return true;
}

static void put_thread(struct krt_json *j, const struct krt_trace *t,
		       const struct krt_thread_stat *th)
{
	size_t n = strnlen(th->comm, KRT_COMM_LEN), n_goids, i;
	__u32 goids[KRT_THREAD_GOIDS_MAX];

	n_goids = krt_thread_goids(t, th->tid, goids, KRT_THREAD_GOIDS_MAX);
	if (put_thread_fast(j, th, goids, n_goids))
		return;
	krt_json_obj_begin(j);
	KRT_JSON_KV_U64(j, "tid", th->tid);
	KRT_JSON_KV_U64(j, "pid", th->pid);
	KRT_JSON_KEY(j, "comm");
	krt_json_strn(j, th->comm, n);
	KRT_JSON_KEY(j, "container");
	krt_json_str(j, th->container ? th->container : "");
	KRT_JSON_KV_U64(j, "cpu_ns", th->cpu_ns);
	KRT_JSON_KV_U64(j, "first_ns", th->first_ns);
	KRT_JSON_KV_U64(j, "last_ns", th->last_ns);
	if (n_goids) {
		KRT_JSON_KEY(j, "goids");
		krt_json_arr_begin(j);
		for (i = 0; i < n_goids; i++)
			krt_json_u64(j, goids[i]);
		krt_json_arr_end(j);
	}
	krt_json_obj_end(j);
}

/*
 * A hop's object, at most this long: 13 keys (~130 bytes), 9 numbers of
 * 20 digits at most, two addresses, and the digit writers' scratch.
 */
#define HOP_MAX 512

/*
 * A hop between IPv4 addresses with nothing uncertain (nearly all) written
 * straight into the emitter's buffer after one check of the room: the
 * same bytes as the item-by-item emitter below, without its comma and
 * room bookkeeping per item (about a third of the JSON writer's
 * instructions). Returns false, writing nothing, when it does not apply.
 */
static bool put_hop_fast(struct krt_json *j, const struct krt_hop *h)
{
	char *p;

	if (h->uncertain || h->from_addr.family != KRT_AF_INET ||
	    h->to_addr.family != KRT_AF_INET || sizeof(j->buf) - j->n < HOP_MAX)
		return false;
	krt_json_before_item(j);
	p = j->buf + j->n;
	p = LIT(p, "{\"from\":");
	p = krt_json_digits(j, p, h->from_tid);
	if (h->from_goid) {
		p = LIT(p, ",\"from_goid\":");
		p = krt_json_digits(j, p, h->from_goid);
	}
	p = LIT(p, ",\"from_addr\":");
	p = krt_json_ipv4_at(j, p, h->from_addr.addr, h->from_addr.port);
	p = LIT(p, ",\"to\":");
	p = krt_json_digits(j, p, h->to_tid);
	if (h->to_goid) {
		p = LIT(p, ",\"to_goid\":");
		p = krt_json_digits(j, p, h->to_goid);
	}
	p = LIT(p, ",\"to_addr\":");
	p = krt_json_ipv4_at(j, p, h->to_addr.addr, h->to_addr.port);
	p = LIT(p, ",\"bytes\":");
	p = krt_json_digits(j, p, h->bytes);
	p = LIT(p, ",\"send_ns\":");
	p = krt_json_digits(j, p, h->send_ns);
	p = LIT(p, ",\"recv_ns\":");
	p = krt_json_digits(j, p, h->recv_ns);
	if (h->has_seq) {
		p = LIT(p, ",\"seq\":[");
		p = krt_json_digits(j, p, h->seq);
		*p++ = ',';
		p = krt_json_digits(j, p, (__u32)(h->seq + h->bytes));
		*p++ = ']';
	}
	*p++ = '}';
	j->n = (size_t)(p - j->buf);
	return true;
}

static void put_hop(struct krt_json *j, const struct krt_hop *h)
{
	if (put_hop_fast(j, h))
		return;
	krt_json_obj_begin(j);
	KRT_JSON_KV_U64(j, "from", h->from_tid);
	if (h->from_goid)
		KRT_JSON_KV_U64(j, "from_goid", h->from_goid);
	kv_addr(j, "from_addr", &h->from_addr);
	KRT_JSON_KV_U64(j, "to", h->to_tid);
	if (h->to_goid)
		KRT_JSON_KV_U64(j, "to_goid", h->to_goid);
	kv_addr(j, "to_addr", &h->to_addr);
	KRT_JSON_KV_U64(j, "bytes", h->bytes);
	KRT_JSON_KV_U64(j, "send_ns", h->send_ns);
	KRT_JSON_KV_U64(j, "recv_ns", h->recv_ns);
	if (h->has_seq) {
		/* [first, end) TCP sequence numbers: how krtrace merge finds the other end */
		KRT_JSON_KEY(j, "seq");
		krt_json_arr_begin(j);
		krt_json_u64(j, h->seq);
		krt_json_u64(j, (__u32)(h->seq + h->bytes));
		krt_json_arr_end(j);
	}
	kv_uncertain(j, h->uncertain);
	krt_json_obj_end(j);
}

static int json_trace(struct krt_writer *w, const struct krt_trace *t)
{
	struct krt_json j;
	size_t i;

	krt_json_init(&j, w->out);
	krt_json_obj_begin(&j);
	KRT_JSON_KV_U64(&j, "trace_id", t->id);
	if (w->priv) {
		char hex[KRT_TRACE_ID_HEX_LEN + 1];

		krt_trace_id_hex(t, hex);
		krt_json_kv_str(&j, "trace_id_hex", hex);
		krt_json_kv_str(&j, "host", w->priv);
	}
	KRT_JSON_KEY(&j, "ingress");
	krt_json_obj_begin(&j);
	kv_addr(&j, "client", &t->ingress.client);
	kv_addr(&j, "server", &t->ingress.server);
	KRT_JSON_KV_U64(&j, "tid", t->ingress.tid);
	KRT_JSON_KV_U64(&j, "ts_ns", t->ingress.ts_ns);
	krt_json_obj_end(&j);
	KRT_JSON_KV_U64(&j, "start_ns", t->start_ns);
	KRT_JSON_KV_U64(&j, "end_ns", t->end_ns);
	if (t->incomplete) {
		/* only on traces a loss may have touched (docs/outputs.md) */
		KRT_JSON_KEY(&j, "incomplete");
		krt_json_arr_begin(&j);
		for (i = 0; i < KRT_INCOMPLETE_CAUSES; i++)
			if (t->incomplete & (1u << i))
				krt_json_str(&j, krt_incomplete_name(i));
		krt_json_arr_end(&j);
	}
	kv_uncertain(&j, t->uncertain);
	KRT_JSON_KEY(&j, "threads");
	krt_json_arr_begin(&j);
	for (i = 0; i < t->n_threads; i++)
		put_thread(&j, t, &t->threads[i]);
	krt_json_arr_end(&j);
	KRT_JSON_KEY(&j, "hops");
	krt_json_arr_begin(&j);
	for (i = 0; i < t->n_hops; i++)
		put_hop(&j, &t->hops[i]);
	krt_json_arr_end(&j);
	krt_json_obj_end(&j);
	fputc('\n', w->out);
	return 0;
}

static int json_finish(struct krt_writer *w, const struct krt_summary *s)
{
	struct krt_json j;
	size_t i;
	__u32 type;

	krt_json_init(&j, w->out);
	krt_json_obj_begin(&j);
	KRT_JSON_KEY(&j, "summary");
	krt_json_obj_begin(&j);
	for (i = 0; i < krt_n_summary_fields; i++) {
		const struct krt_summary_field *f = &krt_summary_fields[i];

		krt_json_kv_u64(&j, f->key, krt_summary_value(f, s));
		if (strcmp(f->key, "events"))
			continue;
		KRT_JSON_KEY(&j, "events_by_type");
		krt_json_obj_begin(&j);
		for (type = 1; type < KRT_EV_TYPE_MAX; type++)
			krt_json_kv_u64(&j, krt_event_type_name(type), s->events_by_type[type]);
		krt_json_obj_end(&j);
	}
	krt_json_obj_end(&j);
	krt_json_obj_end(&j);
	fputc('\n', w->out);
	return 0;
}

static void json_destroy(struct krt_writer *w)
{
	free(w->priv);
	krt_writer_free(w);
}

static const struct krt_writer_ops json_ops = {
    .name = "json",
    .trace = json_trace,
    .finish = json_finish,
    .destroy = json_destroy,
};

struct krt_writer *krt_writer_json_new(FILE *out)
{
	return krt_writer_alloc(&json_ops, out, NULL);
}

struct krt_writer *krt_writer_json_new_host(FILE *out, const char *host)
{
	char *h = NULL;
	struct krt_writer *w;

	if (host && !(h = strdup(host)))
		return NULL;
	w = krt_writer_alloc(&json_ops, out, h);
	if (!w)
		free(h);
	return w;
}
