/* One trace as OpenTelemetry spans (the model is described in otlp_spans.h). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "otlp_spans.h"
#include "trace_id.h"

struct span_plan {
	int parent;	 /* index into t->threads, -1 = root */
	bool calls_down; /* sends to a thread it is the parent of, or to a peer */
	__u64 bytes_in, bytes_out;
};

/*
 * A span id from the span hash of its thread (krt_span_hash32: this host's
 * run word and the tid, as the kernel writes it in the TCP option) and the
 * trace id, so that the host a trace continues on names its parent span
 * from the option alone.
 */
static void span_id(const __u8 trace_id[16], __u32 span_hash, __u8 out[8])
{
	__u64 hi = 0, lo = 0, id;
	int i;

	for (i = 0; i < 8; i++) {
		hi = hi << 8 | trace_id[i];
		lo = lo << 8 | trace_id[8 + i];
	}
	id = (__u64)span_hash << 32 | (__u32)krt_mix64(hi ^ krt_mix64(lo));
	for (i = 7; i >= 0; i--, id >>= 8)
		out[i] = (__u8)id;
}

static size_t root_index(const struct krt_trace *t)
{
	const struct krt_thread_stat *th = krt_trace_thread(t, t->ingress.tid);

	return th ? (size_t)(th - t->threads) : 0;
}

/* Parents follow the hops in order, from the root: each thread is reached once. */
static void plan_spans(const struct krt_trace *t, struct span_plan *plan, bool *reached)
{
	size_t root = root_index(t), i;

	for (i = 0; i < t->n_threads; i++)
		plan[i] = (struct span_plan){.parent = (int)root};
	plan[root].parent = -1;
	reached[root] = true;
	for (i = 0; i < t->n_hops; i++) {
		const struct krt_hop *h = &t->hops[i];
		const struct krt_thread_stat *from = krt_trace_thread(t, h->from_tid);
		const struct krt_thread_stat *to = krt_trace_thread(t, h->to_tid);
		size_t fi = from ? (size_t)(from - t->threads) : 0;
		size_t ti = to ? (size_t)(to - t->threads) : 0;

		if (from && h->from_tid)
			plan[fi].bytes_out += h->bytes;
		if (to && h->to_tid)
			plan[ti].bytes_in += h->bytes;
		if (!from || !h->from_tid)
			continue;
		if (to && h->to_tid && !reached[ti] && reached[fi]) {
			reached[ti] = true;
			plan[ti].parent = (int)fi;
			plan[fi].calls_down = true;
		} else if (!h->to_tid && fi != root &&
			   !krt_addr_eq(&h->to_addr, &t->ingress.client)) {
			/* A call to a peer outside the traced set (a database). */
			plan[fi].calls_down = true;
		}
	}
}

/*
 * The thread's sends and receives of this trace as span events, so a trace
 * viewer shows when the bytes left and arrived and from or to whom.
 */
static int build_events(struct krt_otlp_span *s, const struct krt_otlp_run *run,
			const struct krt_trace *t, __u32 tid)
{
	size_t i;

	for (i = 0; i < t->n_hops; i++) {
		const struct krt_hop *h = &t->hops[i];
		bool out = h->from_tid == tid, in = h->to_tid == tid;
		struct krt_otlp_event *ev;
		__u64 ts;

		if (!out && !in)
			continue;
		if (s->n_events == KRT_OTLP_MAX_EVENTS) {
			s->dropped_events++;
			continue;
		}
		if (!s->events) {
			s->events = calloc(KRT_OTLP_MAX_EVENTS, sizeof(*s->events));
			if (!s->events)
				return -1;
		}
		ts = out ? h->send_ns : h->recv_ns;
		if (!ts)
			ts = krt_hop_ts(h);
		ev = &s->events[s->n_events++];
		ev->time_ns = ts + run->offset_ns;
		ev->out = out;
		if (out)
			krt_node_name(t, h->to_tid, &h->to_addr, ev->peer, sizeof(ev->peer));
		else
			krt_node_name(t, h->from_tid, &h->from_addr, ev->peer, sizeof(ev->peer));
		ev->bytes = h->bytes;
	}
	return 0;
}

static void attr_str(struct krt_otlp_span *s, const char *key, const char *val)
{
	if (s->n_attrs < KRT_OTLP_MAX_ATTRS)
		s->attrs[s->n_attrs++] = (struct krt_otlp_attr){.key = key, .str = val};
}

static void attr_int(struct krt_otlp_span *s, const char *key, __u64 val)
{
	if (s->n_attrs < KRT_OTLP_MAX_ATTRS)
		s->attrs[s->n_attrs++] = (struct krt_otlp_attr){.key = key, .num = val};
}

/*
 * A Go program's thread (goroutines followed live): the goroutines that did
 * its I/O for this trace, as in the JSON threads' "goids" (a string: OTLP
 * has arrays, but the other attributes' readers expect scalars).
 */
static void goids_attr(struct krt_otlp_span *s, const struct krt_trace *t, __u32 tid)
{
	__u32 goids[KRT_THREAD_GOIDS_MAX];
	size_t n = krt_thread_goids(t, tid, goids, KRT_THREAD_GOIDS_MAX), i, at = 0;

	if (!n)
		return;
	for (i = 0; i < n; i++)
		at += (size_t)snprintf(s->goids + at, sizeof(s->goids) - at, "%s%u", i ? " " : "",
				       goids[i]);
	attr_str(s, "krtrace.goids", s->goids);
}

static const char *container_of(const struct krt_thread_stat *th)
{
	return th->container && th->container[0] ? th->container : "unknown";
}

static int build_span(struct krt_otlp_span *s, const struct krt_otlp_run *run,
		      const struct krt_trace *t, const struct span_plan *plan, size_t i,
		      const __u8 trace_id[16])
{
	const struct krt_thread_stat *th = &t->threads[i];

	memcpy(s->comm, th->comm, KRT_COMM_LEN);
	s->comm[KRT_COMM_LEN] = '\0';
	snprintf(s->name, sizeof(s->name), "%s[%u]", s->comm, th->tid);
	s->service = container_of(th);
	span_id(trace_id, krt_span_hash32(krt_run_word(), th->tid), s->span_id);
	if (plan[i].parent >= 0) {
		s->has_parent = true;
		span_id(trace_id, krt_span_hash32(krt_run_word(), t->threads[plan[i].parent].tid),
			s->parent_id);
	} else if (t->remote.run) {
		/* the root continues the other host's span that sent the request */
		s->has_parent = true;
		span_id(trace_id, t->remote.span, s->parent_id);
	}
	s->kind =
	    plan[i].parent < 0 || !plan[i].calls_down ? KRT_OTLP_KIND_SERVER : KRT_OTLP_KIND_CLIENT;
	s->start_ns = th->first_ns + run->offset_ns;
	s->end_ns = (th->last_ns > th->first_ns ? th->last_ns : th->first_ns) + run->offset_ns;
	attr_int(s, "thread.id", th->tid);
	attr_str(s, "thread.name", s->comm);
	attr_int(s, "process.pid", th->pid);
	attr_str(s, "krtrace.comm", s->comm);
	attr_int(s, "krtrace.trace_id", t->id);
	attr_int(s, "krtrace.cpu_ns", th->cpu_ns);
	attr_int(s, "krtrace.runq_ns", th->runq_ns);
	attr_int(s, "krtrace.bytes_in", plan[i].bytes_in);
	attr_int(s, "krtrace.bytes_out", plan[i].bytes_out);
	goids_attr(s, t, th->tid);
	return build_events(s, run, t, th->tid);
}

int krt_otlp_trace_build(struct krt_otlp_trace *m, const struct krt_otlp_run *run,
			 const struct krt_trace *t)
{
	struct span_plan *plan = NULL;
	bool *reached = NULL;
	size_t i;

	memset(m, 0, sizeof(*m));
	krt_trace_id128(t, m->trace_id);
	snprintf(m->run_hex, sizeof(m->run_hex), "%016" PRIx64, (uint64_t)krt_run_word());
	m->host = run->host;
	if (!t->n_threads)
		return 0;
	plan = calloc(t->n_threads, sizeof(*plan));
	reached = calloc(t->n_threads, sizeof(*reached));
	m->spans = calloc(t->n_threads, sizeof(*m->spans));
	if (!plan || !reached || !m->spans)
		goto fail;
	plan_spans(t, plan, reached);
	for (i = 0; i < t->n_threads; i++) {
		m->n_spans++;
		if (build_span(&m->spans[i], run, t, plan, i, m->trace_id))
			goto fail;
	}
	free(plan);
	free(reached);
	return 0;
fail:
	free(plan);
	free(reached);
	krt_otlp_trace_release(m);
	return -1;
}

void krt_otlp_trace_release(struct krt_otlp_trace *m)
{
	size_t i;

	for (i = 0; i < m->n_spans; i++)
		free(m->spans[i].events);
	free(m->spans);
	m->spans = NULL;
	m->n_spans = 0;
}

bool krt_otlp_first_of_service(const struct krt_otlp_trace *m, size_t i)
{
	size_t k;

	for (k = 0; k < i; k++)
		if (!strcmp(m->spans[k].service, m->spans[i].service))
			return false;
	return true;
}
