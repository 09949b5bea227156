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

static void put_thread(struct krt_json *j, const struct krt_trace *t,
		       const struct krt_thread_stat *th)
{
	size_t n = strnlen(th->comm, KRT_COMM_LEN), n_goids, i;
	__u32 goids[KRT_THREAD_GOIDS_MAX];

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
	n_goids = krt_thread_goids(t, th->tid, goids, KRT_THREAD_GOIDS_MAX);
	if (n_goids) {
		KRT_JSON_KEY(j, "goids");
		krt_json_arr_begin(j);
		for (i = 0; i < n_goids; i++)
			krt_json_u64(j, goids[i]);
		krt_json_arr_end(j);
	}
	krt_json_obj_end(j);
}

static void put_hop(struct krt_json *j, const struct krt_hop *h)
{
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
