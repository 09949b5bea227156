/*
 * Raw output (-R): tab-separated records, one per line, for scripts.
 * The first column names the record; the columns of each record are fixed
 * (docs/raw-format.md is the same table for readers of the docs):
 *
 *   trace   id start_ns end_ns duration_ns client server ingress_tid n_threads n_hops
 *   thread  trace_id tid pid container comm cpu_ns runq_ns first_ns last_ns
 *   hop     trace_id seq from_tid from_addr to_tid to_addr bytes send_ns recv_ns
 *   summary key value
 *
 * Records of one trace come together: its trace line, then its thread lines
 * (by first activity), then its hop lines (seq 1, 2, ... in order). Summary
 * lines come last, one per counter. Times are CLOCK_MONOTONIC nanoseconds,
 * 0 when unknown; tid 0 means "not a traced thread" (the address is the
 * node); addresses are ip:port, IPv6 as [ip]:port; an unknown container is
 * "-". Tabs and newlines inside comm become spaces so the columns hold.
 */
#include <inttypes.h>
#include <string.h>
#include "addr.h"
#include "writer_util.h"

#define U64(x) ((uint64_t)(x))

static void put_field(FILE *f, const char *s, size_t max)
{
	size_t i;

	if (!s || !s[0]) {
		fputc('-', f);
		return;
	}
	for (i = 0; i < max && s[i]; i++)
		fputc(s[i] == '\t' || s[i] == '\n' || s[i] == '\r' ? ' ' : s[i], f);
}

static int raw_trace(struct krt_writer *w, const struct krt_trace *t)
{
	char a[KRT_ADDR_STRLEN], b[KRT_ADDR_STRLEN];
	size_t i;

	fprintf(w->out,
		"trace\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%s\t%s\t%u\t%zu\t%zu\n",
		U64(t->id), U64(t->start_ns), U64(t->end_ns),
		U64(t->end_ns > t->start_ns ? t->end_ns - t->start_ns : 0),
		krt_addr_str(&t->ingress.client, a, sizeof(a)),
		krt_addr_str(&t->ingress.server, b, sizeof(b)), t->ingress.tid, t->n_threads,
		t->n_hops);
	for (i = 0; i < t->n_threads; i++) {
		const struct krt_thread_stat *th = &t->threads[i];

		fprintf(w->out, "thread\t%" PRIu64 "\t%u\t%u\t", U64(t->id), th->tid, th->pid);
		put_field(w->out, th->container, KRT_NAME_LEN);
		fputc('\t', w->out);
		put_field(w->out, th->comm, KRT_COMM_LEN);
		fprintf(w->out, "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n",
			U64(th->cpu_ns), U64(th->runq_ns), U64(th->first_ns), U64(th->last_ns));
	}
	for (i = 0; i < t->n_hops; i++) {
		const struct krt_hop *h = &t->hops[i];

		fprintf(w->out,
			"hop\t%" PRIu64 "\t%zu\t%u\t%s\t%u\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
			"\n",
			U64(t->id), i + 1, h->from_tid, krt_addr_str(&h->from_addr, a, sizeof(a)),
			h->to_tid, krt_addr_str(&h->to_addr, b, sizeof(b)), U64(h->bytes),
			U64(h->send_ns), U64(h->recv_ns));
	}
	return 0;
}

static void put_summary(FILE *f, const char *key, __u64 v)
{
	fprintf(f, "summary\t%s\t%" PRIu64 "\n", key, U64(v));
}

static int raw_finish(struct krt_writer *w, const struct krt_summary *s)
{
	char key[64];
	size_t i;
	__u32 type;

	for (i = 0; i < krt_n_summary_fields; i++) {
		const struct krt_summary_field *f = &krt_summary_fields[i];

		put_summary(w->out, f->key, krt_summary_value(f, s));
		if (strcmp(f->key, "events"))
			continue;
		for (type = 1; type < KRT_EV_TYPE_MAX; type++) {
			snprintf(key, sizeof(key), "events.%s", krt_event_type_name(type));
			put_summary(w->out, key, s->events_by_type[type]);
		}
	}
	return 0;
}

static void raw_destroy(struct krt_writer *w)
{
	krt_writer_free(w);
}

static const struct krt_writer_ops raw_ops = {
    .name = "raw",
    .trace = raw_trace,
    .finish = raw_finish,
    .destroy = raw_destroy,
};

struct krt_writer *krt_writer_raw_new(FILE *out)
{
	return krt_writer_alloc(&raw_ops, out, NULL);
}
