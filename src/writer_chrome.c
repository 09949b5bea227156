/*
 * Chrome Trace Event JSON (--chrome FILE), for Perfetto UI and
 * chrome://tracing: a process per container, a thread track per thread
 * (comm[tid]), each on-CPU slice of a trace as a complete ("X") event named
 * "trace N", and each hop between two threads as a flow arrow ("s" -> "f")
 * from the sending slice to the receiving one.
 *
 * Everything a trace needs is inside the trace, so events are streamed as
 * traces complete; the writer keeps only the names it already declared
 * (one entry per container and per thread), never the traces themselves.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "json_out.h"
#include "writer_util.h"

#define MAX_CONTAINERS 4096	/* beyond this, threads share an "other" process */

struct tid_set {
	__u32 *slots;		/* open addressing, 0 = empty (tid 0 is never stored) */
	size_t cap, n;
};

struct chrome_priv {
	struct krt_json j;
	bool started;
	char **containers;	/* index + 1 = the Chrome pid of the container */
	size_t n_containers;
	struct tid_set named;	/* threads whose thread_name is written */
	__u64 next_flow_id;
	__u64 traces, slices, flows;
};

static bool tid_set_has(const struct tid_set *s, __u32 tid)
{
	size_t i;

	if (!s->cap)
		return false;
	for (i = (tid * 2654435761u) & (s->cap - 1); s->slots[i]; i = (i + 1) & (s->cap - 1))
		if (s->slots[i] == tid)
			return true;
	return false;
}

static int tid_set_add(struct tid_set *s, __u32 tid)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64, k;
		__u32 *slots = calloc(cap, sizeof(*slots));

		if (!slots)
			return -1;
		for (k = 0; k < s->cap; k++) {
			if (!s->slots[k])
				continue;
			for (i = (s->slots[k] * 2654435761u) & (cap - 1); slots[i]; i = (i + 1) & (cap - 1))
				;
			slots[i] = s->slots[k];
		}
		free(s->slots);
		s->slots = slots;
		s->cap = cap;
	}
	for (i = (tid * 2654435761u) & (s->cap - 1); s->slots[i]; i = (i + 1) & (s->cap - 1))
		if (s->slots[i] == tid)
			return 0;
	s->slots[i] = tid;
	s->n++;
	return 0;
}

static void start(struct chrome_priv *p)
{
	if (p->started)
		return;
	p->started = true;
	krt_json_obj_begin(&p->j);
	krt_json_key(&p->j, "traceEvents");
	krt_json_arr_begin(&p->j);
}

static void put_metadata(struct chrome_priv *p, const char *what, __u32 pid, __u32 tid,
			 const char *name)
{
	struct krt_json *j = &p->j;

	fputc('\n', j->f);
	krt_json_obj_begin(j);
	krt_json_kv_str(j, "name", what);
	krt_json_kv_str(j, "ph", "M");
	krt_json_kv_u64(j, "pid", pid);
	krt_json_kv_u64(j, "tid", tid);
	krt_json_key(j, "args");
	krt_json_obj_begin(j);
	krt_json_kv_str(j, "name", name);
	krt_json_obj_end(j);
	krt_json_obj_end(j);
}

/* The Chrome pid of a container: declared (process_name) the first time it is seen. */
static __u32 container_pid(struct chrome_priv *p, const char *container)
{
	const char *name = container && container[0] ? container : "(no container)";
	char **grown;
	size_t i;

	for (i = 0; i < p->n_containers; i++)
		if (!strcmp(p->containers[i], name))
			return i + 1;
	if (p->n_containers >= MAX_CONTAINERS)
		return MAX_CONTAINERS + 1;
	grown = realloc(p->containers, (p->n_containers + 1) * sizeof(*grown));
	if (!grown)
		return MAX_CONTAINERS + 1;
	p->containers = grown;
	p->containers[p->n_containers] = strdup(name);
	if (!p->containers[p->n_containers])
		return MAX_CONTAINERS + 1;
	p->n_containers++;
	put_metadata(p, "process_name", p->n_containers, 0, name);
	return p->n_containers;
}

static __u32 thread_pid(struct chrome_priv *p, const struct krt_thread_stat *th)
{
	char comm[KRT_COMM_LEN + 1], name[KRT_COMM_LEN + 16];
	__u32 pid = container_pid(p, th->container);

	if (!tid_set_has(&p->named, th->tid) && !tid_set_add(&p->named, th->tid)) {
		memcpy(comm, th->comm, KRT_COMM_LEN);
		comm[KRT_COMM_LEN] = '\0';
		snprintf(name, sizeof(name), "%s[%u]", comm, th->tid);
		put_metadata(p, "thread_name", pid, th->tid, name);
	}
	return pid;
}

static void put_slice(struct chrome_priv *p, const struct krt_trace *t, __u32 pid, __u32 tid,
		      __u64 start_ns, __u64 end_ns, const char *kind)
{
	struct krt_json *j = &p->j;
	char name[48];

	snprintf(name, sizeof(name), "trace %" PRIu64, (uint64_t)t->id);
	fputc('\n', j->f);
	krt_json_obj_begin(j);
	krt_json_kv_str(j, "name", name);
	krt_json_kv_str(j, "cat", "krtrace");
	krt_json_kv_str(j, "ph", "X");
	krt_json_kv_u64(j, "pid", pid);
	krt_json_kv_u64(j, "tid", tid);
	krt_json_key(j, "ts");
	krt_json_ns_as_us(j, start_ns);
	krt_json_key(j, "dur");
	krt_json_ns_as_us(j, end_ns > start_ns ? end_ns - start_ns : 0);
	krt_json_key(j, "args");
	krt_json_obj_begin(j);
	krt_json_kv_u64(j, "trace_id", t->id);
	krt_json_kv_str(j, "kind", kind);
	krt_json_obj_end(j);
	krt_json_obj_end(j);
	p->slices++;
}

/*
 * The time inside one of tid's slices nearest to ts, where a flow can bind
 * ("bp":"e" binds to the enclosing slice). Returns false if tid has none.
 */
static bool anchor(const struct krt_trace *t, __u32 tid, __u64 ts, __u64 *at)
{
	__u64 best_dist = UINT64_MAX, lo, hi, x, dist;
	size_t i;
	bool found = false;

	for (i = 0; i < t->n_slices; i++) {
		const struct krt_slice *s = &t->slices[i];

		if (s->tid != tid)
			continue;
		lo = s->start_ns;
		hi = s->end_ns > s->start_ns ? s->end_ns - 1 : s->start_ns;
		x = ts < lo ? lo : ts > hi ? hi : ts;
		dist = x > ts ? x - ts : ts - x;
		if (dist < best_dist) {
			best_dist = dist;
			*at = x;
			found = true;
		}
	}
	return found;
}

static void put_flow_end(struct chrome_priv *p, const char *ph, __u64 id, __u32 pid, __u32 tid,
			 __u64 ts)
{
	struct krt_json *j = &p->j;

	fputc('\n', j->f);
	krt_json_obj_begin(j);
	krt_json_kv_str(j, "name", "hop");
	krt_json_kv_str(j, "cat", "krtrace.flow");
	krt_json_kv_str(j, "ph", ph);
	krt_json_kv_u64(j, "id", id);
	krt_json_kv_u64(j, "pid", pid);
	krt_json_kv_u64(j, "tid", tid);
	krt_json_key(j, "ts");
	krt_json_ns_as_us(j, ts);
	if (ph[0] == 'f')
		krt_json_kv_str(j, "bp", "e");
	krt_json_obj_end(j);
}

/* A hop whose other end is an address: an instant event on the thread's track. */
static void put_instant(struct chrome_priv *p, const struct krt_trace *t, __u32 pid, __u32 tid,
			__u64 ts, const char *verb, const struct krt_hop *h,
			const struct krt_addr *peer)
{
	struct krt_json *j = &p->j;
	char addr[KRT_ADDR_STRLEN], name[KRT_ADDR_STRLEN + 64];

	snprintf(name, sizeof(name), "%s %" PRIu64 " B %s %s", verb, (uint64_t)h->bytes,
		 verb[0] == 's' ? "to" : "from", krt_addr_str(peer, addr, sizeof(addr)));
	fputc('\n', j->f);
	krt_json_obj_begin(j);
	krt_json_kv_str(j, "name", name);
	krt_json_kv_str(j, "cat", "krtrace");
	krt_json_kv_str(j, "ph", "i");
	krt_json_kv_str(j, "s", "t");
	krt_json_kv_u64(j, "pid", pid);
	krt_json_kv_u64(j, "tid", tid);
	krt_json_key(j, "ts");
	krt_json_ns_as_us(j, ts);
	krt_json_key(j, "args");
	krt_json_obj_begin(j);
	krt_json_kv_u64(j, "trace_id", t->id);
	krt_json_obj_end(j);
	krt_json_obj_end(j);
}

static void put_hop(struct chrome_priv *p, const struct krt_trace *t, const __u32 *pids,
		    const struct krt_hop *h)
{
	const struct krt_thread_stat *from = h->from_tid ? krt_trace_thread(t, h->from_tid) : NULL;
	const struct krt_thread_stat *to = h->to_tid ? krt_trace_thread(t, h->to_tid) : NULL;
	__u64 send_ts = h->send_ns ? h->send_ns : h->recv_ns;
	__u64 recv_ts = h->recv_ns ? h->recv_ns : h->send_ns;
	__u64 s_at, f_at, id;

	if (from && to) {
		if (!anchor(t, from->tid, send_ts, &s_at) || !anchor(t, to->tid, recv_ts, &f_at))
			return;
		id = ++p->next_flow_id;
		put_flow_end(p, "s", id, pids[from - t->threads], from->tid, s_at);
		put_flow_end(p, "f", id, pids[to - t->threads], to->tid, f_at);
		p->flows++;
	} else if (to && !h->from_tid) {
		put_instant(p, t, pids[to - t->threads], to->tid, recv_ts, "recv", h, &h->from_addr);
	} else if (from && !h->to_tid) {
		put_instant(p, t, pids[from - t->threads], from->tid, send_ts, "send", h, &h->to_addr);
	}
}

static int chrome_trace(struct krt_writer *w, const struct krt_trace *t)
{
	struct chrome_priv *p = w->priv;
	__u32 *pids = calloc(t->n_threads ? t->n_threads : 1, sizeof(*pids));
	size_t i;

	if (!pids)
		return -1;
	start(p);
	for (i = 0; i < t->n_threads; i++)
		pids[i] = thread_pid(p, &t->threads[i]);
	for (i = 0; i < t->n_slices; i++) {
		const struct krt_slice *s = &t->slices[i];
		const struct krt_thread_stat *th = krt_trace_thread(t, s->tid);

		if (th)
			put_slice(p, t, pids[th - t->threads], s->tid, s->start_ns, s->end_ns, "cpu");
	}
	/*
	 * Without on-CPU slices (the live path may aggregate CPU time in the
	 * kernel), draw each thread's activity span so the trace still shows.
	 */
	if (!t->n_slices) {
		struct krt_trace spans = *t;
		struct krt_slice *sl = calloc(t->n_threads ? t->n_threads : 1, sizeof(*sl));

		if (!sl) {
			free(pids);
			return -1;
		}
		for (i = 0; i < t->n_threads; i++) {
			const struct krt_thread_stat *th = &t->threads[i];

			sl[i] = (struct krt_slice){ th->tid, th->first_ns,
						    th->last_ns > th->first_ns ? th->last_ns : th->first_ns + 1 };
			put_slice(p, t, pids[i], th->tid, sl[i].start_ns, sl[i].end_ns, "activity");
		}
		spans.slices = sl;
		spans.n_slices = t->n_threads;
		for (i = 0; i < t->n_hops; i++)
			put_hop(p, &spans, pids, &t->hops[i]);
		free(sl);
	} else {
		for (i = 0; i < t->n_hops; i++)
			put_hop(p, t, pids, &t->hops[i]);
	}
	free(pids);
	p->traces++;
	return 0;
}

static int chrome_finish(struct krt_writer *w, const struct krt_summary *s)
{
	struct chrome_priv *p = w->priv;
	struct krt_json *j = &p->j;

	start(p);
	krt_json_arr_end(j);
	krt_json_kv_str(j, "displayTimeUnit", "ms");
	krt_json_key(j, "otherData");
	krt_json_obj_begin(j);
	krt_json_kv_str(j, "generator", "krtrace " KRT_VERSION);
	krt_json_kv_str(j, "clock", "CLOCK_MONOTONIC");
	krt_json_kv_u64(j, "traces", p->traces);
	krt_json_kv_u64(j, "slices", p->slices);
	krt_json_kv_u64(j, "flows", p->flows);
	krt_json_kv_u64(j, "unattributed_cpu_ns", s->unattributed_cpu_ns);
	krt_json_obj_end(j);
	krt_json_obj_end(j);
	fputc('\n', j->f);
	if (fflush(w->out) || ferror(w->out)) {
		fprintf(stderr, "krtrace: writing the Chrome trace file: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static void chrome_destroy(struct krt_writer *w)
{
	struct chrome_priv *p = w->priv;
	size_t i;

	for (i = 0; i < p->n_containers; i++)
		free(p->containers[i]);
	free(p->containers);
	free(p->named.slots);
	free(p);
	krt_writer_free(w);
}

static const struct krt_writer_ops chrome_ops = {
	.name = "chrome",
	.trace = chrome_trace,
	.finish = chrome_finish,
	.destroy = chrome_destroy,
};

struct krt_writer *krt_writer_chrome_new(FILE *out)
{
	struct chrome_priv *p = calloc(1, sizeof(*p));
	struct krt_writer *w;

	if (!p)
		return NULL;
	krt_json_init(&p->j, out);
	w = krt_writer_alloc(&chrome_ops, out, p);
	if (!w)
		free(p);
	return w;
}
