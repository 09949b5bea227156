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

#define MAX_CONTAINERS 4096 /* beyond this, threads share an "other" process */

struct tid_set {
	__u32 *slots; /* open addressing, 0 = empty (tid 0 is never stored) */
	size_t cap, n;
};

struct chrome_priv {
	struct krt_json j;
	bool started;
	char **containers; /* index + 1 = the Chrome pid of the container */
	size_t n_containers;
	struct tid_set named; /* threads whose thread_name is written */
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
			for (i = (s->slots[k] * 2654435761u) & (cap - 1); slots[i];
			     i = (i + 1) & (cap - 1))
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
	KRT_JSON_KEY(&p->j, "traceEvents");
	krt_json_arr_begin(&p->j);
}

static void put_metadata(struct chrome_priv *p, const char *what, __u32 pid, __u32 tid,
			 const char *name)
{
	struct krt_json *j = &p->j;

	krt_json_newline(j);
	krt_json_obj_begin(j);
	krt_json_kv_str(j, "name", what);
	krt_json_kv_str(j, "ph", "M");
	KRT_JSON_KV_U64(j, "pid", pid);
	KRT_JSON_KV_U64(j, "tid", tid);
	KRT_JSON_KEY(j, "args");
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
	krt_json_newline(j);
	krt_json_obj_begin(j);
	krt_json_kv_str(j, "name", name);
	krt_json_kv_str(j, "cat", "krtrace");
	krt_json_kv_str(j, "ph", "X");
	KRT_JSON_KV_U64(j, "pid", pid);
	KRT_JSON_KV_U64(j, "tid", tid);
	KRT_JSON_KEY(j, "ts");
	krt_json_ns_as_us(j, start_ns);
	KRT_JSON_KEY(j, "dur");
	krt_json_ns_as_us(j, end_ns > start_ns ? end_ns - start_ns : 0);
	KRT_JSON_KEY(j, "args");
	krt_json_obj_begin(j);
	KRT_JSON_KV_U64(j, "trace_id", t->id);
	krt_json_kv_str(j, "kind", kind);
	krt_json_obj_end(j);
	krt_json_obj_end(j);
	p->slices++;
}

/*
 * Per-trace lookups, so that a trace with many hops and slices costs
 * O((hops + slices) log slices), not hops x slices.
 */
struct tid_pos {
	__u32 tid;
	__u32 pos; /* index in t->threads */
};

struct trace_index {
	struct tid_pos *threads;	 /* sorted by tid */
	const struct krt_slice **slices; /* sorted by tid, then start */
	size_t n_threads, n_slices;
};

static int by_tid(const void *x, const void *y)
{
	const struct tid_pos *a = x, *b = y;

	return a->tid < b->tid ? -1 : a->tid > b->tid;
}

static int by_tid_start(const void *x, const void *y)
{
	const struct krt_slice *a = *(const struct krt_slice *const *)x;
	const struct krt_slice *b = *(const struct krt_slice *const *)y;

	if (a->tid != b->tid)
		return a->tid < b->tid ? -1 : 1;
	return a->start_ns < b->start_ns ? -1 : a->start_ns > b->start_ns;
}

static int index_build(struct trace_index *ix, const struct krt_trace *t,
		       const struct krt_slice *slices, size_t n_slices)
{
	size_t i;

	ix->n_threads = t->n_threads;
	ix->n_slices = n_slices;
	ix->threads = calloc(t->n_threads ? t->n_threads : 1, sizeof(*ix->threads));
	ix->slices = calloc(n_slices ? n_slices : 1, sizeof(*ix->slices));
	if (!ix->threads || !ix->slices) {
		free(ix->threads);
		free(ix->slices);
		return -1;
	}
	for (i = 0; i < t->n_threads; i++)
		ix->threads[i] = (struct tid_pos){t->threads[i].tid, (__u32)i};
	qsort(ix->threads, ix->n_threads, sizeof(*ix->threads), by_tid);
	for (i = 0; i < n_slices; i++)
		ix->slices[i] = &slices[i];
	qsort(ix->slices, ix->n_slices, sizeof(*ix->slices), by_tid_start);
	return 0;
}

static void index_free(struct trace_index *ix)
{
	free(ix->threads);
	free(ix->slices);
}

/* Position of tid in t->threads, -1 when the trace does not list it. */
static long index_thread(const struct trace_index *ix, __u32 tid)
{
	struct tid_pos key = {tid, 0}, *hit;

	if (!tid)
		return -1;
	hit = bsearch(&key, ix->threads, ix->n_threads, sizeof(key), by_tid);
	return hit ? (long)hit->pos : -1;
}

static __u64 clamp_into(const struct krt_slice *s, __u64 ts)
{
	__u64 lo = s->start_ns, hi = s->end_ns > s->start_ns ? s->end_ns - 1 : s->start_ns;

	return ts < lo ? lo : ts > hi ? hi : ts;
}

/*
 * The time inside one of tid's slices nearest to ts, where a flow can bind
 * ("bp":"e" binds to the enclosing slice). Returns false if tid has none.
 * A thread's slices do not overlap, so the candidates are the last slice
 * starting at or before ts and the first one starting after it.
 */
static bool anchor(const struct trace_index *ix, __u32 tid, __u64 ts, __u64 *at)
{
	size_t lo = 0, hi = ix->n_slices, mid, k;
	__u64 best = UINT64_MAX, x, d;
	bool found = false;

	/* First slice with (tid, start) > (tid, ts). */
	while (lo < hi) {
		const struct krt_slice *s;

		mid = (lo + hi) / 2;
		s = ix->slices[mid];
		if (s->tid < tid || (s->tid == tid && s->start_ns <= ts))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (k = lo ? lo - 1 : lo; k <= lo && k < ix->n_slices; k++) {
		if (ix->slices[k]->tid != tid)
			continue;
		x = clamp_into(ix->slices[k], ts);
		d = x > ts ? x - ts : ts - x;
		if (d < best) {
			best = d;
			*at = x;
			found = true;
		}
	}
	return found;
}

static void put_flow_end(struct chrome_priv *p, const char *ph, __u64 id, __u32 pid, __u32 tid,
			 __u64 ts, __u64 bytes)
{
	struct krt_json *j = &p->j;
	char name[32];

	/* Both ends carry the same name: viewers pair flow events by id and name. */
	snprintf(name, sizeof(name), "%" PRIu64 " B", (uint64_t)bytes);
	krt_json_newline(j);
	krt_json_obj_begin(j);
	krt_json_kv_str(j, "name", name);
	krt_json_kv_str(j, "cat", "krtrace.flow");
	krt_json_kv_str(j, "ph", ph);
	KRT_JSON_KV_U64(j, "id", id);
	KRT_JSON_KV_U64(j, "pid", pid);
	KRT_JSON_KV_U64(j, "tid", tid);
	KRT_JSON_KEY(j, "ts");
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
	krt_json_newline(j);
	krt_json_obj_begin(j);
	krt_json_kv_str(j, "name", name);
	krt_json_kv_str(j, "cat", "krtrace");
	krt_json_kv_str(j, "ph", "i");
	krt_json_kv_str(j, "s", "t");
	KRT_JSON_KV_U64(j, "pid", pid);
	KRT_JSON_KV_U64(j, "tid", tid);
	KRT_JSON_KEY(j, "ts");
	krt_json_ns_as_us(j, ts);
	KRT_JSON_KEY(j, "args");
	krt_json_obj_begin(j);
	KRT_JSON_KV_U64(j, "trace_id", t->id);
	krt_json_obj_end(j);
	krt_json_obj_end(j);
}

static void put_hop(struct chrome_priv *p, const struct krt_trace *t, const struct trace_index *ix,
		    const __u32 *pids, const struct krt_hop *h)
{
	long from = index_thread(ix, h->from_tid), to = index_thread(ix, h->to_tid);
	__u64 send_ts = h->send_ns ? h->send_ns : h->recv_ns;
	__u64 recv_ts = h->recv_ns ? h->recv_ns : h->send_ns;
	__u64 s_at, f_at, id;

	if (from >= 0 && to >= 0) {
		if (!anchor(ix, h->from_tid, send_ts, &s_at) ||
		    !anchor(ix, h->to_tid, recv_ts, &f_at))
			return;
		id = ++p->next_flow_id;
		put_flow_end(p, "s", id, pids[from], h->from_tid, s_at, h->bytes);
		put_flow_end(p, "f", id, pids[to], h->to_tid, f_at, h->bytes);
		p->flows++;
	} else if (to >= 0 && !h->from_tid) {
		put_instant(p, t, pids[to], h->to_tid, recv_ts, "recv", h, &h->from_addr);
	} else if (from >= 0 && !h->to_tid) {
		put_instant(p, t, pids[from], h->from_tid, send_ts, "send", h, &h->to_addr);
	}
}

static int chrome_trace(struct krt_writer *w, const struct krt_trace *t)
{
	struct chrome_priv *p = w->priv;
	__u32 *pids = calloc(t->n_threads ? t->n_threads : 1, sizeof(*pids));
	struct krt_slice *spans = NULL;
	const struct krt_slice *slices = t->slices;
	size_t n_slices = t->n_slices, i;
	struct trace_index ix;
	long pos;

	if (!pids)
		return -1;
	/*
	 * Without on-CPU slices (the live path may aggregate CPU time in the
	 * kernel), draw each thread's activity span so the trace still shows.
	 */
	if (!n_slices && t->n_threads) {
		spans = calloc(t->n_threads, sizeof(*spans));
		if (!spans) {
			free(pids);
			return -1;
		}
		for (i = 0; i < t->n_threads; i++) {
			const struct krt_thread_stat *th = &t->threads[i];

			spans[i] = (struct krt_slice){
			    th->tid, th->first_ns,
			    th->last_ns > th->first_ns ? th->last_ns : th->first_ns + 1};
		}
		slices = spans;
		n_slices = t->n_threads;
	}
	if (index_build(&ix, t, slices, n_slices)) {
		free(spans);
		free(pids);
		return -1;
	}
	start(p);
	for (i = 0; i < t->n_threads; i++)
		pids[i] = thread_pid(p, &t->threads[i]);
	for (i = 0; i < n_slices; i++) {
		pos = index_thread(&ix, slices[i].tid);
		if (pos >= 0)
			put_slice(p, t, pids[pos], slices[i].tid, slices[i].start_ns,
				  slices[i].end_ns, spans ? "activity" : "cpu");
	}
	for (i = 0; i < t->n_hops; i++)
		put_hop(p, t, &ix, pids, &t->hops[i]);
	index_free(&ix);
	free(spans);
	free(pids);
	p->traces++;
	/* the file's array stays open across traces: each trace goes out whole */
	krt_json_flush(&p->j);
	return 0;
}

static int chrome_finish(struct krt_writer *w, const struct krt_summary *s)
{
	struct chrome_priv *p = w->priv;
	struct krt_json *j = &p->j;

	start(p);
	krt_json_arr_end(j);
	krt_json_kv_str(j, "displayTimeUnit", "ms");
	KRT_JSON_KEY(j, "otherData");
	krt_json_obj_begin(j);
	krt_json_kv_str(j, "generator", "krtrace " KRT_VERSION);
	krt_json_kv_str(j, "clock", "CLOCK_MONOTONIC");
	KRT_JSON_KV_U64(j, "traces", p->traces);
	KRT_JSON_KV_U64(j, "slices", p->slices);
	KRT_JSON_KV_U64(j, "flows", p->flows);
	KRT_JSON_KV_U64(j, "unattributed_cpu_ns", s->unattributed_cpu_ns);
	krt_json_obj_end(j);
	krt_json_obj_end(j);
	krt_json_newline(j);
	krt_json_flush(j);
	if (fflush(w->out) || ferror(w->out))
		return -1; /* the caller names the file */
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
