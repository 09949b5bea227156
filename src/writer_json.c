/*
 * JSON lines (SPEC §4, a public interface): one object per trace, then one
 * {"summary":{...}} object. Keys and nesting must not change.
 */
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "json_out.h"
#include "trace_id.h"
#include "writer_util.h"

static void kv_addr(struct krt_json *j, const char *key, const struct krt_addr *a)
{
	char buf[KRT_ADDR_STRLEN];

	krt_json_kv_str(j, key, krt_addr_str(a, buf, sizeof(buf)));
}

static void put_thread(struct krt_json *j, const struct krt_thread_stat *th)
{
	size_t n = strnlen(th->comm, KRT_COMM_LEN);

	krt_json_obj_begin(j);
	krt_json_kv_u64(j, "tid", th->tid);
	krt_json_kv_u64(j, "pid", th->pid);
	krt_json_key(j, "comm");
	krt_json_strn(j, th->comm, n);
	krt_json_kv_str(j, "container", th->container ? th->container : "");
	krt_json_kv_u64(j, "cpu_ns", th->cpu_ns);
	krt_json_kv_u64(j, "first_ns", th->first_ns);
	krt_json_kv_u64(j, "last_ns", th->last_ns);
	krt_json_obj_end(j);
}

static void put_hop(struct krt_json *j, const struct krt_hop *h)
{
	krt_json_obj_begin(j);
	krt_json_kv_u64(j, "from", h->from_tid);
	kv_addr(j, "from_addr", &h->from_addr);
	krt_json_kv_u64(j, "to", h->to_tid);
	kv_addr(j, "to_addr", &h->to_addr);
	krt_json_kv_u64(j, "bytes", h->bytes);
	krt_json_kv_u64(j, "send_ns", h->send_ns);
	krt_json_kv_u64(j, "recv_ns", h->recv_ns);
	krt_json_obj_end(j);
}

static int json_trace(struct krt_writer *w, const struct krt_trace *t)
{
	struct krt_json j;
	size_t i;

	krt_json_init(&j, w->out);
	krt_json_obj_begin(&j);
	krt_json_kv_u64(&j, "trace_id", t->id);
	if (w->priv) {
		char hex[KRT_TRACE_ID_HEX_LEN + 1];

		krt_trace_id_hex(t, hex);
		krt_json_kv_str(&j, "trace_id_hex", hex);
		krt_json_kv_str(&j, "host", w->priv);
	}
	krt_json_key(&j, "ingress");
	krt_json_obj_begin(&j);
	kv_addr(&j, "client", &t->ingress.client);
	kv_addr(&j, "server", &t->ingress.server);
	krt_json_kv_u64(&j, "tid", t->ingress.tid);
	krt_json_kv_u64(&j, "ts_ns", t->ingress.ts_ns);
	krt_json_obj_end(&j);
	krt_json_kv_u64(&j, "start_ns", t->start_ns);
	krt_json_kv_u64(&j, "end_ns", t->end_ns);
	krt_json_key(&j, "threads");
	krt_json_arr_begin(&j);
	for (i = 0; i < t->n_threads; i++)
		put_thread(&j, &t->threads[i]);
	krt_json_arr_end(&j);
	krt_json_key(&j, "hops");
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
	const struct krt_source_stats *src = &s->source;
	struct krt_json j;
	__u32 type;

	krt_json_init(&j, w->out);
	krt_json_obj_begin(&j);
	krt_json_key(&j, "summary");
	krt_json_obj_begin(&j);
	krt_json_kv_u64(&j, "events", s->events);
	krt_json_key(&j, "events_by_type");
	krt_json_obj_begin(&j);
	for (type = 1; type < KRT_EV_TYPE_MAX; type++) {
		const char *name = krt_event_type_name(type);

		krt_json_kv_u64(&j, name ? name : "unknown", s->events_by_type[type]);
	}
	krt_json_obj_end(&j);
	krt_json_kv_u64(&j, "lost", krt_summary_lost(s));
	krt_json_kv_u64(&j, "malformed", src->malformed);
	krt_json_kv_u64(&j, "unknown_events", src->unknown_events);
	krt_json_kv_u64(&j, "lines", src->lines);
	krt_json_kv_u64(&j, "input_bytes", src->bytes);
	krt_json_kv_u64(&j, "ring_records", src->ring_records);
	krt_json_kv_u64(&j, "ring_drops", src->ring_drops);
	krt_json_kv_u64(&j, "map_full", src->map_full);
	krt_json_kv_u64(&j, "sock_unreadable", src->sock_unreadable);
	krt_json_kv_u64(&j, "unresolved_xfers", src->unresolved_xfers);
	krt_json_kv_u64(&j, "non_socket_io", src->non_socket_io);
	krt_json_kv_u64(&j, "ack_probes", src->ack_probes);
	krt_json_kv_u64(&j, "unpaired_syscalls", src->unpaired_syscalls);
	krt_json_kv_u64(&j, "no_address", src->no_address);
	krt_json_kv_u64(&j, "reordered", src->reordered);
	krt_json_kv_u64(&j, "table_full", src->table_full);
	krt_json_kv_u64(&j, "sample_rate", src->sample_rate > 1 ? src->sample_rate : 1);
	krt_json_kv_u64(&j, "traces", s->traces);
	krt_json_kv_u64(&j, "hops", s->hops);
	krt_json_kv_u64(&j, "attributed_cpu_ns", s->attributed_cpu_ns);
	krt_json_kv_u64(&j, "unattributed_cpu_ns", s->unattributed_cpu_ns);
	krt_json_kv_u64(&j, "unmatched_recv_bytes", s->unmatched_recv_bytes);
	krt_json_kv_u64(&j, "unmatched_send_bytes", s->unmatched_send_bytes);
	krt_json_kv_u64(&j, "untraced_peer_recvs", s->untraced_peer_recvs);
	krt_json_kv_u64(&j, "duplicate_probes", s->duplicate_probes);
	krt_json_kv_u64(&j, "late_events", s->late_events);
	krt_json_kv_u64(&j, "dropped_segments", s->dropped_segments);
	krt_json_kv_u64(&j, "wakeup_conflicts", s->wakeup_conflicts);
	krt_json_kv_u64(&j, "resyncs", s->resyncs);
	krt_json_kv_u64(&j, "silent_losses", s->silent_losses);
	krt_json_kv_u64(&j, "kernel_tag_disagreements", s->kernel_tag_disagreements);
	krt_json_kv_u64(&j, "first_ns", s->first_ns);
	krt_json_kv_u64(&j, "last_ns", s->last_ns);
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
