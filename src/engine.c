/*
 * The attribution engine (SPEC §3).
 *
 * Events arrive in timestamp order. The engine keeps three kinds of state:
 *  - threads (tid -> identity, current trace, on-CPU interval),
 *  - connection directions (src -> dst: queued send segments waiting to be
 *    received, receives waiting for their send, and the state of the socket
 *    whose local end is src: "side" state used by the tagging rules),
 *  - open traces (id -> thread stats, hops, slices).
 * All three live in open-addressing hash tables; objects are allocated once
 * per thread / connection / trace, never per event.
 *
 * Byte matching: every send appends a segment {offset, len, trace} to its
 * direction; a receive consumes a byte range of the reverse direction and
 * yields one hop per overlapping segment. Offsets are TCP sequence numbers
 * on the live path (KRT_XF_SEQ) and running byte counts on import.
 *
 * A send immediately records a hop to the destination *address* (to_tid 0)
 * in its trace; the receive that consumes those bytes turns that hop into a
 * thread-to-thread hop. So bytes nobody traced receives (gateway client, a
 * database outside the containers) still show up as hops to an address
 * node, whenever the trace is emitted.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"
#include "addr.h"

/* TCP states as in include/net/tcp_states.h. */
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_LISTEN 10

/* Per-direction cap on queued send segments (bounded memory). */
#define MAX_SEGMENTS 1024
/*
 * A segment nobody received for this long (event time) never will be: the
 * receiver is untraced (a database outside the containers).
 */
#define SEGMENT_MAX_AGE_NS (10ULL * 1000000000ULL)
/* Receives waiting for their send ("pending receive"), per direction. */
#define MAX_PENDING 8
/* How long (event time) a pending receive waits for its send. */
#define PENDING_NS 100000000ULL
/* Requests remembered per connection side for pipelined replies (rule 3a). */
#define SIDE_REQS 4
/* Received traces a thread may still hand to a worker (rule 6). */
#define HANDOFF_MAX 8
/* Recent wakeup hand-offs remembered per feeder thread. */
#define HANDED_MAX 4
/* Recent (trace, entry direction) pairs remembered per thread (rule 5). */
#define RECENT_ENTRIES 4
/* Housekeeping (linger emission, pruning) runs at most this often. */
#define MAINT_EVENTS 4096
/* A trace still held by a thread is force-emitted after this much idleness. */
#define HELD_TRACE_MAX_IDLE_NS (60ULL * 1000000000ULL)
/* connect()s whose local port is not known yet, remembered at most. */
#define MAX_CONNECTS 64
#define CONNECT_MAX_NS (5ULL * 1000000000ULL)
/* Kernel trace ids are remembered this long after binding (late stragglers). */
#define KMAP_KEEP_NS (60ULL * 1000000000ULL)
/* Connection directions idle this long are pruned (with linger only). */
#define DIR_IDLE_NS (30ULL * 1000000000ULL)

/* ---------------------------------------------------------------------- */
/* Open-addressing hash table of object pointers.                          */

struct slot {
	__u64 hash;
	void *obj;
};

struct table {
	struct slot *slots;
	size_t cap;	/* power of two */
	size_t used;	/* live objects */
	size_t tombs;	/* deleted slots */
};

/* Marks a deleted slot: probing continues past it. */
static char tombstone_mark;
#define TOMBSTONE ((void *)&tombstone_mark)

typedef bool (*table_eq_fn)(const void *obj, const void *key);

static __u64 mix64(__u64 x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p) {
		fprintf(stderr, "krtrace: engine: out of memory\n");
		abort();
	}
	return p;
}

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p) {
		fprintf(stderr, "krtrace: engine: out of memory\n");
		abort();
	}
	return p;
}

static void table_init(struct table *t)
{
	t->cap = 64;
	t->slots = xcalloc(t->cap, sizeof(*t->slots));
	t->used = t->tombs = 0;
}

static void *table_find(const struct table *t, __u64 hash, const void *key, table_eq_fn eq)
{
	size_t mask = t->cap - 1, i = hash & mask;

	for (;;) {
		const struct slot *s = &t->slots[i];

		if (!s->obj)
			return NULL;
		if (s->obj != TOMBSTONE && s->hash == hash && eq(s->obj, key))
			return s->obj;
		i = (i + 1) & mask;
	}
}

static void table_put_raw(struct slot *slots, size_t cap, __u64 hash, void *obj)
{
	size_t mask = cap - 1, i = hash & mask;

	while (slots[i].obj && slots[i].obj != TOMBSTONE)
		i = (i + 1) & mask;
	slots[i].hash = hash;
	slots[i].obj = obj;
}

static void table_resize(struct table *t, size_t cap)
{
	struct slot *old = t->slots;
	size_t i, old_cap = t->cap;

	t->slots = xcalloc(cap, sizeof(*t->slots));
	t->cap = cap;
	t->tombs = 0;
	for (i = 0; i < old_cap; i++)
		if (old[i].obj && old[i].obj != TOMBSTONE)
			table_put_raw(t->slots, cap, old[i].hash, old[i].obj);
	free(old);
}

static void table_insert(struct table *t, __u64 hash, void *obj)
{
	if ((t->used + t->tombs + 1) * 10 > t->cap * 7)
		table_resize(t, t->used * 2 + 2 > t->cap ? t->cap * 2 : t->cap);
	/* a tombstone may be reused; count it back */
	{
		size_t mask = t->cap - 1, i = hash & mask;

		while (t->slots[i].obj && t->slots[i].obj != TOMBSTONE)
			i = (i + 1) & mask;
		if (t->slots[i].obj == TOMBSTONE)
			t->tombs--;
		t->slots[i].hash = hash;
		t->slots[i].obj = obj;
	}
	t->used++;
}

static void table_remove(struct table *t, __u64 hash, const void *obj)
{
	size_t mask = t->cap - 1, i = hash & mask;

	for (;;) {
		struct slot *s = &t->slots[i];

		if (!s->obj)
			return;
		if (s->obj == obj) {
			s->obj = TOMBSTONE;
			t->used--;
			t->tombs++;
			return;
		}
		i = (i + 1) & mask;
	}
}

static void table_free(struct table *t)
{
	free(t->slots);
	t->slots = NULL;
	t->cap = t->used = t->tombs = 0;
}

#define table_for_each(tab, i, o)                                                   \
	for ((i) = 0; (i) < (tab)->cap; (i)++)                                      \
		if (((o) = (tab)->slots[(i)].obj) != NULL && (o) != TOMBSTONE)

/* ---------------------------------------------------------------------- */
/* State                                                                   */

struct recent_entry {
	__u64 trace;
	__u64 dir_serial;	/* the direction whose receive made trace current */
};

struct thread {
	__u32 tid;
	__u32 pid;		/* tgid; 0 = unknown */
	char comm[KRT_COMM_LEN];
	const char *container;	/* interned; "" when unknown */
	bool traced;
	bool oncpu;
	bool replied;		/* rule 5: sent on the entry connection of cur */
	bool wake_claim;	/* cur came from a wakeup (rule 6) */
	__u64 oncpu_since;
	__u64 cur;		/* current trace id; 0 = none */
	__u64 recv_count;	/* receives so far (pending receive completion) */
	struct recent_entry recent[RECENT_ENTRIES];
	unsigned int recent_next;
	/*
	 * Traces this thread received and has neither answered nor handed to
	 * another thread yet, oldest first: a thread-pool front end reads
	 * requests A then B, then wakes one worker per request (rule 6).
	 */
	__u64 handoff[HANDOFF_MAX];
	__u8 n_handoff;
	__u32 feeder;		/* thread that hands this one its requests (pool) */
	bool claim_active;	/* sent or received since a wakeup handed cur */
	/* Recent wakeup hand-offs by this thread (a woken worker may idle). */
	struct {
		__u32 tid;
		__u64 trace;
	} handed[HANDED_MAX];
	__u8 handed_next;
	struct krt_addr ip_checked;	/* last local IP tried for the container */
};

struct segment {
	__u64 off, len;
	__u64 used;		/* bytes consumed from the start */
	__u64 trace;
	__u64 send_ns;
	__u32 from_tid;
	__u32 hop;		/* index of the send's hop in the trace; ~0 = none */
};

struct pending_recv {
	__u64 off, len;
	__u64 recv_ns;
	__u64 recv_count;	/* receiver's recv_count right after this receive */
	__u32 to_tid;
};

enum side_role { ROLE_UNKNOWN = 0, ROLE_SERVER, ROLE_CLIENT };

struct dir {
	struct krt_addr src, dst;
	__u64 hash;
	__u64 serial;		/* unique, never reused (rule 5 entry lists) */
	struct dir *rev;
	__u64 send_next;	/* end of the last send (offset space) */
	__u64 recv_next;	/* end of the last receive */
	__u64 seq_ref;		/* live: last unwrapped sequence number */
	bool seq_init;
	struct segment *q;	/* ring of queued send segments */
	__u32 q_head, q_len, q_cap;
	struct pending_recv pend[MAX_PENDING];
	__u32 n_pend;
	__u64 last_ns;
	__u64 sends;		/* sends seen on this direction */
	/* State of the socket whose local end is src. */
	__u32 side_last_tid;		/* last traced thread that used src */
	__u64 side_last_recv_trace;	/* trace of the last bytes it received */
	bool side_received;
	/*
	 * Requests received on this side and not yet answered, oldest first
	 * (pipelining: one read may carry several requests; replies go out in
	 * request order). side_req_answered: bytes went out for the oldest.
	 */
	__u64 side_req[SIDE_REQS];
	__u8 side_req_n;
	bool side_req_answered;
	bool side_ingress;		/* container end of a gateway connection */
	__u32 side_ingress_tid;		/* thread that read the request on it */
	bool side_in_request;		/* received from gateway, not replied yet */
	bool side_connect_pending;	/* rule 3b: first send not done yet */
	__u8 side_role;
	__u32 side_connect_tid;
	__u64 side_connect_trace;
};

struct trace {
	struct krt_trace pub;
	size_t cap_threads, cap_hops, cap_slices;
	__u32 holders;		/* threads whose current trace this is */
	__u32 kernel_id;	/* kernel tag mapped to this trace; 0 none */
	__u64 last_ns;		/* last activity (event time) */
	bool answered;		/* a reply went out on its ingress connection */
};

struct kmap_entry {
	__u32 kernel_id;
	__u64 trace_id;
	__u64 created_ns;
};

struct pending_connect {
	__u64 sock_id;
	struct krt_addr local_ip;	/* port unknown yet */
	struct krt_addr remote;
	__u32 tid;
	__u64 trace;
	__u64 ts;
	bool live;
};

struct listed_slot {
	__u32 pid;
	__u32 idx;		/* index in cfg->pids->v */
};

struct krt_engine {
	struct krt_engine_config cfg;
	struct krt_summary sum;
	struct table threads, dirs, traces, kmap;
	struct trace **open;	/* open traces in id order */
	size_t n_open, cap_open;
	__u64 next_trace_id;
	__u64 max_emitted_id;
	__u64 next_dir_serial;
	__u64 now;
	__u64 events_since_maint;
	__u64 next_maint_ns;	/* event time of the next housekeeping (linger) */
	__u64 last_dir_prune_ns;
	char **names;		/* interned container names */
	size_t n_names;
	struct listed_slot *listed;	/* set of listed pids -> container */
	size_t listed_cap, listed_src_n;
	const struct krt_pids *listed_src;
	struct pending_connect connects[MAX_CONNECTS];
	unsigned int connects_next;
};

/* ---------------------------------------------------------------------- */
/* Small helpers                                                           */

static __u64 u64max(__u64 a, __u64 b)
{
	return a > b ? a : b;
}

static __u64 u64min(__u64 a, __u64 b)
{
	return a < b ? a : b;
}

static const char *intern(struct krt_engine *e, const char *name)
{
	size_t i;

	if (!name || !*name)
		return "";
	for (i = 0; i < e->n_names; i++)
		if (!strcmp(e->names[i], name))
			return e->names[i];
	e->names = xrealloc(e->names, (e->n_names + 1) * sizeof(*e->names));
	e->names[e->n_names] = strdup(name);
	if (!e->names[e->n_names]) {
		fprintf(stderr, "krtrace: engine: out of memory\n");
		abort();
	}
	return e->names[e->n_names++];
}

static bool is_gateway(const struct krt_engine *e, const struct krt_addr *a)
{
	return e->cfg.gateway.family && krt_ip_eq(a, &e->cfg.gateway);
}

/* The listed pids change when live discovery adds containers: rebuild lazily. */
static void listed_rebuild(struct krt_engine *e)
{
	const struct krt_pids *p = e->cfg.pids;
	size_t i, cap = 16;

	while (p && cap < p->n * 4)
		cap *= 2;
	free(e->listed);
	e->listed = xcalloc(cap, sizeof(*e->listed));
	e->listed_cap = cap;
	e->listed_src_n = p ? p->n : 0;
	e->listed_src = p;
	for (i = 0; p && i < p->n; i++) {
		__u32 pid = p->v[i].pid;
		size_t j = mix64(pid) & (cap - 1);

		if (!pid)
			continue;
		while (e->listed[j].pid && e->listed[j].pid != pid)
			j = (j + 1) & (cap - 1);
		if (!e->listed[j].pid) {
			e->listed[j].pid = pid;
			e->listed[j].idx = i;
		}
	}
}

/* The container entry listing pid, or NULL. */
static const struct krt_container *listed_find(struct krt_engine *e, __u32 pid)
{
	const struct krt_pids *p = e->cfg.pids;
	size_t j;

	if (!p || !pid)
		return NULL;
	if (e->listed_src != p || e->listed_src_n != p->n || !e->listed)
		listed_rebuild(e);
	j = mix64(pid) & (e->listed_cap - 1);
	while (e->listed[j].pid) {
		if (e->listed[j].pid == pid)
			return &p->v[e->listed[j].idx];
		j = (j + 1) & (e->listed_cap - 1);
	}
	return NULL;
}

static const struct krt_container *container_by_ip(struct krt_engine *e,
						   const struct krt_addr *ip, size_t *count)
{
	const struct krt_pids *p = e->cfg.pids;
	const struct krt_container *found = NULL;
	size_t i;

	*count = 0;
	for (i = 0; p && i < p->n; i++) {
		if (krt_ip_eq(&p->v[i].ip, ip)) {
			if (!found)
				found = &p->v[i];
			(*count)++;
		}
	}
	return found;
}

/* ---------------------------------------------------------------------- */
/* Verbose (-V) decision log                                               */

#define C_RESET "\033[0m"
#define C_DIM "\033[2m"
#define C_BOLD "\033[1m"
#define C_RED "\033[31m"

static const char *trace_colors[] = { "\033[32m", "\033[33m", "\033[34m",
				      "\033[35m", "\033[36m", "\033[91m" };

static void vlog(struct krt_engine *e, __u64 ts, const struct thread *t, __u32 tid,
		 __u64 trace, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/*
 * One line: "  SECS.USECS comm[tid] <what>". A trace id mentioned by the
 * line colours it (same colour for the same trace) with -C.
 */
static void vlog(struct krt_engine *e, __u64 ts, const struct thread *t, __u32 tid,
		 __u64 trace, const char *fmt, ...)
{
	FILE *f = e->cfg.verbose;
	va_list ap;

	if (!f)
		return;
	fprintf(f, "%s%6llu.%06llu%s %s[%u] ", e->cfg.color ? C_DIM : "",
		(unsigned long long)(ts / 1000000000ULL),
		(unsigned long long)(ts % 1000000000ULL / 1000), e->cfg.color ? C_RESET : "",
		t && t->comm[0] ? t->comm : "?", t ? t->tid : tid);
	if (e->cfg.color && trace)
		fputs(trace_colors[trace % (sizeof(trace_colors) / sizeof(trace_colors[0]))], f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	if (e->cfg.color && trace)
		fputs(C_RESET, f);
	fputc('\n', f);
}

/* ---------------------------------------------------------------------- */
/* Traces                                                                  */

static bool trace_eq(const void *obj, const void *key)
{
	return ((const struct trace *)obj)->pub.id == *(const __u64 *)key;
}

static struct trace *trace_find(struct krt_engine *e, __u64 id)
{
	if (!id)
		return NULL;
	return table_find(&e->traces, mix64(id), &id, trace_eq);
}

/* Like trace_find, but counts a reference to an already-emitted trace. */
static struct trace *trace_live(struct krt_engine *e, __u64 id)
{
	struct trace *tr = trace_find(e, id);

	if (!tr && id)
		e->sum.late_events++;
	return tr;
}

static struct trace *trace_new(struct krt_engine *e, __u64 ts)
{
	struct trace *tr = xcalloc(1, sizeof(*tr));

	tr->pub.id = ++e->next_trace_id;
	tr->pub.start_ns = tr->pub.end_ns = ts;
	tr->last_ns = ts;
	table_insert(&e->traces, mix64(tr->pub.id), tr);
	if (e->n_open == e->cap_open) {
		e->cap_open = e->cap_open ? e->cap_open * 2 : 64;
		e->open = xrealloc(e->open, e->cap_open * sizeof(*e->open));
	}
	e->open[e->n_open++] = tr;
	return tr;
}

static void trace_activity(struct trace *tr, __u64 ts)
{
	if (ts > tr->pub.end_ns)
		tr->pub.end_ns = ts;
	if (ts < tr->pub.start_ns)
		tr->pub.start_ns = ts;
	if (ts > tr->last_ns)
		tr->last_ns = ts;
}

static __u32 thread_pid(const struct thread *t)
{
	return t->pid ? t->pid : t->tid;
}

/* The stats row of thread t in trace tr, created on first activity. */
static struct krt_thread_stat *trace_thread(struct trace *tr, const struct thread *t,
					    __u64 first, __u64 last)
{
	struct krt_thread_stat *st = NULL;
	size_t i;

	for (i = tr->pub.n_threads; i-- > 0;) {
		if (tr->pub.threads[i].tid == t->tid) {
			st = &tr->pub.threads[i];
			break;
		}
	}
	if (!st) {
		if (tr->pub.n_threads == tr->cap_threads) {
			tr->cap_threads = tr->cap_threads ? tr->cap_threads * 2 : 4;
			tr->pub.threads = xrealloc(tr->pub.threads,
						   tr->cap_threads * sizeof(*tr->pub.threads));
		}
		st = &tr->pub.threads[tr->pub.n_threads++];
		memset(st, 0, sizeof(*st));
		st->tid = t->tid;
		st->first_ns = first;
		st->last_ns = last;
	}
	/* identity may improve over time (container by IP, comm after exec) */
	st->pid = thread_pid(t);
	memcpy(st->comm, t->comm, sizeof(st->comm));
	st->container = t->container;
	if (first < st->first_ns)
		st->first_ns = first;
	if (last > st->last_ns)
		st->last_ns = last;
	trace_activity(tr, last);
	return st;
}

static __u32 trace_add_hop(struct trace *tr, const struct krt_hop *h)
{
	if (tr->pub.n_hops == tr->cap_hops) {
		tr->cap_hops = tr->cap_hops ? tr->cap_hops * 2 : 8;
		tr->pub.hops = xrealloc(tr->pub.hops, tr->cap_hops * sizeof(*tr->pub.hops));
	}
	tr->pub.hops[tr->pub.n_hops] = *h;
	trace_activity(tr, h->recv_ns ? h->recv_ns : h->send_ns);
	return (__u32)tr->pub.n_hops++;
}

static void trace_add_slice(struct trace *tr, __u32 tid, __u64 start, __u64 end)
{
	struct krt_slice *s;

	if (tr->pub.n_slices == tr->cap_slices) {
		tr->cap_slices = tr->cap_slices ? tr->cap_slices * 2 : 8;
		tr->pub.slices = xrealloc(tr->pub.slices,
					  tr->cap_slices * sizeof(*tr->pub.slices));
	}
	s = &tr->pub.slices[tr->pub.n_slices++];
	s->tid = tid;
	s->start_ns = start;
	s->end_ns = end;
}

/* Stable merge sort: hops and slices keep their order of arrival on ties. */
typedef int (*cmp_fn)(const void *a, const void *b);

static void merge_sort(void *base, size_t n, size_t size, cmp_fn cmp)
{
	char *a = base, *tmp;
	size_t width, i;

	if (n < 2)
		return;
	/* already sorted is the common case: check first */
	for (i = 1; i < n; i++)
		if (cmp(a + (i - 1) * size, a + i * size) > 0)
			break;
	if (i == n)
		return;
	tmp = xcalloc(n, size);
	for (width = 1; width < n; width *= 2) {
		for (i = 0; i < n; i += 2 * width) {
			size_t lo = i, mid = u64min(i + width, n), hi = u64min(i + 2 * width, n);
			size_t l = lo, r = mid, k = lo;

			while (l < mid && r < hi) {
				if (cmp(a + r * size, a + l * size) < 0)
					memcpy(tmp + k++ * size, a + r++ * size, size);
				else
					memcpy(tmp + k++ * size, a + l++ * size, size);
			}
			memcpy(tmp + k * size, a + l * size, (mid - l) * size);
			k += mid - l;
			memcpy(tmp + k * size, a + r * size, (hi - r) * size);
		}
		memcpy(a, tmp, n * size);
	}
	free(tmp);
}

static int cmp_u64(__u64 a, __u64 b)
{
	return a < b ? -1 : a > b;
}

static int cmp_thread_stat(const void *a, const void *b)
{
	return cmp_u64(((const struct krt_thread_stat *)a)->first_ns,
		       ((const struct krt_thread_stat *)b)->first_ns);
}

static __u64 hop_key(const struct krt_hop *h)
{
	return h->send_ns ? h->send_ns : h->recv_ns;
}

static int cmp_hop(const void *a, const void *b)
{
	return cmp_u64(hop_key(a), hop_key(b));
}

static int cmp_slice(const void *a, const void *b)
{
	return cmp_u64(((const struct krt_slice *)a)->start_ns,
		       ((const struct krt_slice *)b)->start_ns);
}

static bool kmap_eq(const void *obj, const void *key)
{
	return ((const struct kmap_entry *)obj)->kernel_id == *(const __u32 *)key;
}

static void trace_free(struct trace *tr)
{
	free(tr->pub.threads);
	free(tr->pub.hops);
	free(tr->pub.slices);
	free(tr);
}

/* Hand the trace to the writers and forget it (caller removes it from open[]). */
static void trace_emit(struct krt_engine *e, struct trace *tr)
{
	struct krt_trace *p = &tr->pub;

	merge_sort(p->threads, p->n_threads, sizeof(*p->threads), cmp_thread_stat);
	merge_sort(p->hops, p->n_hops, sizeof(*p->hops), cmp_hop);
	merge_sort(p->slices, p->n_slices, sizeof(*p->slices), cmp_slice);
	if (!e->cfg.keep_slices)
		p->n_slices = 0;
	e->sum.traces++;
	e->sum.hops += p->n_hops;
	if (e->cfg.on_trace)
		e->cfg.on_trace(p, e->cfg.cb_ctx);
	if (p->id > e->max_emitted_id)
		e->max_emitted_id = p->id;
	table_remove(&e->traces, mix64(p->id), tr);
	trace_free(tr);
}

/* ---------------------------------------------------------------------- */
/* Threads                                                                 */

static bool thread_eq(const void *obj, const void *key)
{
	return ((const struct thread *)obj)->tid == *(const __u32 *)key;
}

static struct thread *thread_find(struct krt_engine *e, __u32 tid)
{
	if (!tid)
		return NULL;
	return table_find(&e->threads, mix64(tid), &tid, thread_eq);
}

static struct thread *thread_new(struct krt_engine *e, __u32 tid, __u32 pid, const char *comm)
{
	struct thread *t = xcalloc(1, sizeof(*t));
	const struct krt_container *c;

	t->tid = tid;
	t->pid = pid;
	t->container = "";
	if (comm)
		memcpy(t->comm, comm, KRT_COMM_LEN);
	t->comm[KRT_COMM_LEN - 1] = 0;
	if ((c = listed_find(e, tid))) {
		t->container = intern(e, c->name);
		if (!t->pid)
			t->pid = tid;	/* a listed pid is a process: tgid == tid */
	} else if ((c = listed_find(e, pid))) {
		t->container = intern(e, c->name);
	}
	table_insert(&e->threads, mix64(tid), t);
	return t;
}

/*
 * The current task of a non-SWITCH event: traced by definition (sources
 * already filter), created on first sight.
 */
static struct thread *thread_touch(struct krt_engine *e, __u32 tid, __u32 pid, const char *comm)
{
	struct thread *t;

	if (!tid)
		return NULL;
	t = thread_find(e, tid);
	if (!t)
		t = thread_new(e, tid, pid, comm);
	t->traced = true;
	if (pid && !t->pid)
		t->pid = pid;
	if (comm && comm[0] && strncmp(t->comm, comm, KRT_COMM_LEN)) {
		memcpy(t->comm, comm, KRT_COMM_LEN);
		t->comm[KRT_COMM_LEN - 1] = 0;
	}
	return t;
}

/* A thread named in a SWITCH/WAKEUP: known, or listed in the PIDs file. */
static struct thread *thread_listed_or_known(struct krt_engine *e, __u32 tid, __u32 pid,
					     const char *comm)
{
	struct thread *t;

	if (!tid)
		return NULL;
	t = thread_find(e, tid);
	if (t)
		return t;
	if (listed_find(e, tid) || listed_find(e, pid)) {
		t = thread_new(e, tid, pid, comm);
		t->traced = true;
	}
	return t;
}

/* Import fallback: the container whose IP is the thread's local socket IP. */
static void thread_container_by_ip(struct krt_engine *e, struct thread *t,
				   const struct krt_addr *local)
{
	const struct krt_container *c;
	size_t n;

	if (t->container[0] || krt_ip_eq(&t->ip_checked, local))
		return;
	t->ip_checked = *local;
	c = container_by_ip(e, local, &n);
	if (!c)
		return;
	t->container = intern(e, c->name);
	if (!t->pid)
		t->pid = n == 1 ? c->pid : t->tid;
}

/* Charge [start, end) on CPU to t's current trace. */
static void charge(struct krt_engine *e, struct thread *t, __u64 start, __u64 end)
{
	struct trace *tr;
	__u64 d;

	if (end <= start)
		return;
	d = end - start;
	tr = t->cur ? trace_live(e, t->cur) : NULL;
	if (!tr) {
		e->sum.unattributed_cpu_ns += d;
		return;
	}
	trace_thread(tr, t, start, end)->cpu_ns += d;
	e->sum.attributed_cpu_ns += d;
	if (e->cfg.keep_slices)
		trace_add_slice(tr, t->tid, start, end);
}

/* Change t's current trace at ts; the running on-CPU interval is split here. */
static void thread_set_trace(struct krt_engine *e, struct thread *t, __u64 id, __u64 ts)
{
	struct trace *tr;

	if (t->cur == id)
		return;
	if (t->oncpu) {
		charge(e, t, t->oncpu_since, ts);
		t->oncpu_since = ts;
	}
	if ((tr = trace_find(e, t->cur)) && tr->holders)
		tr->holders--;
	if ((tr = trace_find(e, id)))
		tr->holders++;
	t->cur = id;
	t->replied = false;
	t->wake_claim = false;
}

static void thread_add_entry(struct thread *t, __u64 trace, __u64 dir_serial)
{
	unsigned int i;

	for (i = 0; i < RECENT_ENTRIES; i++) {
		if (t->recent[i].trace == trace && t->recent[i].dir_serial == dir_serial)
			return;
	}
	t->recent[t->recent_next].trace = trace;
	t->recent[t->recent_next].dir_serial = dir_serial;
	t->recent_next = (t->recent_next + 1) % RECENT_ENTRIES;
}

static bool thread_has_entry(const struct thread *t, __u64 trace, __u64 dir_serial)
{
	unsigned int i;

	for (i = 0; i < RECENT_ENTRIES; i++) {
		if (t->recent[i].trace == trace && t->recent[i].dir_serial == dir_serial)
			return true;
	}
	return false;
}

static void thread_free(struct krt_engine *e, struct thread *t)
{
	thread_set_trace(e, t, 0, e->now);
	table_remove(&e->threads, mix64(t->tid), t);
	free(t);
}

/* ---------------------------------------------------------------------- */
/* Connection directions                                                   */

struct dir_key {
	const struct krt_addr *src, *dst;
};

static bool dir_eq(const void *obj, const void *key)
{
	const struct dir *d = obj;
	const struct dir_key *k = key;

	return krt_addr_eq(&d->src, k->src) && krt_addr_eq(&d->dst, k->dst);
}

static __u64 dir_hash(const struct krt_addr *src, const struct krt_addr *dst)
{
	return mix64(krt_addr_hash(src) * 31 + krt_addr_hash(dst));
}

static struct dir *dir_alloc(struct krt_engine *e, const struct krt_addr *src,
			     const struct krt_addr *dst)
{
	struct dir *d = xcalloc(1, sizeof(*d));

	d->src = *src;
	d->dst = *dst;
	d->hash = dir_hash(src, dst);
	d->serial = ++e->next_dir_serial;
	table_insert(&e->dirs, d->hash, d);
	return d;
}

/* Direction src -> dst; both directions of the connection are made together. */
static struct dir *conn_get(struct krt_engine *e, const struct krt_addr *src,
			    const struct krt_addr *dst, __u64 ts)
{
	struct dir_key k = { src, dst };
	struct dir *d = table_find(&e->dirs, dir_hash(src, dst), &k, dir_eq);

	if (!d) {
		d = dir_alloc(e, src, dst);
		d->rev = dir_alloc(e, dst, src);
		d->rev->rev = d;
	}
	d->last_ns = d->rev->last_ns = ts;
	return d;
}

static struct segment *seg_at(struct dir *d, __u32 i)
{
	return &d->q[(d->q_head + i) % d->q_cap];
}

static __u64 queued_end(const struct dir *d)
{
	return d->send_next;
}

/*
 * Is addr (the src end of d) a traced endpoint: used by a traced thread, or
 * an address of a listed container (and not the gateway)?
 */
static bool endpoint_traced(struct krt_engine *e, const struct dir *d)
{
	size_t n;

	if (is_gateway(e, &d->src))
		return false;
	if (d->side_last_tid)
		return true;
	return container_by_ip(e, &d->src, &n) != NULL;
}

/* The unreceived rest of a segment leaves the queue: it stays a hop to an address. */
static void seg_drop(struct krt_engine *e, struct dir *d, struct segment *s)
{
	__u64 rest = s->len > s->used ? s->len - s->used : 0;

	if (rest && endpoint_traced(e, d->rev))
		e->sum.unmatched_send_bytes += rest;
}

static void pending_drop(struct krt_engine *e, struct dir *d, __u32 i)
{
	e->sum.unmatched_recv_bytes += d->pend[i].len;
	memmove(&d->pend[i], &d->pend[i + 1], (d->n_pend - i - 1) * sizeof(d->pend[0]));
	d->n_pend--;
}

/*
 * A pending receive that waited too long: its send was never seen. Resync
 * the send offset past it, otherwise every later send would pair with the
 * receive before it (import offsets are running counts).
 */
static void pending_expire(struct krt_engine *e, struct dir *d, __u64 now, bool all)
{
	while (d->n_pend && (all || d->pend[0].recv_ns + PENDING_NS < now)) {
		__u64 end = d->pend[0].off + d->pend[0].len;

		if (end > d->send_next)
			d->send_next = end;
		pending_drop(e, d, 0);
	}
}

/* Forget the data state of a connection that (re)opens on the same tuple. */
static void dir_reset_data(struct krt_engine *e, struct dir *d)
{
	while (d->q_len) {
		seg_drop(e, d, seg_at(d, 0));
		d->q_head = (d->q_head + 1) % d->q_cap;
		d->q_len--;
	}
	pending_expire(e, d, 0, true);
	d->send_next = d->recv_next = 0;
	d->sends = 0;
	d->seq_init = false;
	d->side_last_recv_trace = 0;
	d->side_received = false;
	d->side_req_n = 0;
	d->side_req_answered = false;
	d->side_ingress = false;
	d->side_ingress_tid = 0;
	d->side_in_request = false;
}

static void dir_free_pair(struct krt_engine *e, struct dir *d)
{
	struct dir *r = d->rev;

	dir_reset_data(e, d);
	dir_reset_data(e, r);
	table_remove(&e->dirs, d->hash, d);
	table_remove(&e->dirs, r->hash, r);
	free(d->q);
	free(r->q);
	free(d);
	free(r);
}

/* Unwrap a 32-bit TCP sequence number to 64 bits near the last one seen. */
static __u64 seq_unwrap(struct dir *d, __u64 seq)
{
	__u32 s = (__u32)seq;
	__u64 v;

	if (!d->seq_init) {
		d->seq_init = true;
		d->seq_ref = (1ULL << 32) + s;
		/* offsets of this direction now live in sequence space */
		d->send_next = d->recv_next = d->seq_ref;
		return d->seq_ref;
	}
	v = d->seq_ref + (__s64)(__s32)(s - (__u32)d->seq_ref);
	if (v > d->seq_ref)
		d->seq_ref = v;
	return v;
}

static void seg_push(struct krt_engine *e, struct dir *d, const struct segment *s)
{
	while (d->q_len && seg_at(d, 0)->send_ns + SEGMENT_MAX_AGE_NS < s->send_ns) {
		seg_drop(e, d, seg_at(d, 0));
		d->q_head = (d->q_head + 1) % d->q_cap;
		d->q_len--;
		e->sum.dropped_segments++;
	}
	if (d->q_len == d->q_cap) {
		if (d->q_cap >= MAX_SEGMENTS) {
			/* nobody is receiving this direction (untraced peer): drop oldest */
			seg_drop(e, d, seg_at(d, 0));
			d->q_head = (d->q_head + 1) % d->q_cap;
			d->q_len--;
			e->sum.dropped_segments++;
		} else {
			__u32 cap = d->q_cap ? d->q_cap * 2 : 4, i;
			struct segment *q = xcalloc(cap, sizeof(*q));

			for (i = 0; i < d->q_len; i++)
				q[i] = *seg_at(d, i);
			free(d->q);
			d->q = q;
			d->q_cap = cap;
			d->q_head = 0;
		}
	}
	*seg_at(d, d->q_len++) = *s;
}

static const char *addr_s(const struct krt_addr *a, char *buf)
{
	return krt_addr_str(a, buf, KRT_ADDR_STRLEN);
}

/* ---------------------------------------------------------------------- */
/* Kernel tags (live)                                                      */

static struct kmap_entry *kmap_find(struct krt_engine *e, __u32 kid)
{
	return table_find(&e->kmap, mix64(kid), &kid, kmap_eq);
}

/* Kernel id kid names engine trace tr from now on. */
static void kmap_bind(struct krt_engine *e, __u32 kid, struct trace *tr)
{
	struct kmap_entry *k;

	if (!kid || tr->kernel_id || kmap_find(e, kid))
		return;
	tr->kernel_id = kid;
	k = xcalloc(1, sizeof(*k));
	k->kernel_id = kid;
	k->trace_id = tr->pub.id;
	k->created_ns = e->now;
	table_insert(&e->kmap, mix64(kid), k);
}

/*
 * use_kernel_tags: the engine trace of a kernel-decided id. An id never
 * seen (its ingress was lost or sampled differently) gets a trace of its
 * own, without ingress. Entries outlive their trace for a while, so a
 * straggler of an emitted trace is counted late, not made a new trace.
 */
static __u64 kernel_trace(struct krt_engine *e, __u32 kid, __u64 ts)
{
	struct kmap_entry *k;
	struct trace *tr;

	if (!kid)
		return 0;
	k = kmap_find(e, kid);
	if (k)
		return k->trace_id;
	tr = trace_new(e, ts);
	kmap_bind(e, kid, tr);
	return tr->pub.id;
}

/* Apply KRT_XF_TAGGED to the rules' decision (rule) for a send or receive. */
static __u64 apply_kernel_tag(struct krt_engine *e, const struct krt_xfer *x, __u64 rule,
			      __u64 ts)
{
	struct kmap_entry *k;
	struct trace *tr;
	__u64 kt;

	if (!(x->flags & KRT_XF_TAGGED) || !(e->cfg.use_kernel_tags || e->cfg.check_kernel_tags))
		return rule;
	if (e->cfg.use_kernel_tags) {
		kt = kernel_trace(e, x->trace_id, ts);
		if (e->cfg.check_kernel_tags && kt != rule)
			e->sum.kernel_tag_disagreements++;
		return kt;
	}
	/* check only: the first sight of a kernel id binds it to the rules' trace */
	k = x->trace_id ? kmap_find(e, x->trace_id) : NULL;
	if (!k && x->trace_id && rule && (tr = trace_find(e, rule)) && !tr->kernel_id) {
		kmap_bind(e, x->trace_id, tr);
		return rule;
	}
	kt = k ? k->trace_id : 0;
	if (kt != rule)
		e->sum.kernel_tag_disagreements++;
	return rule;
}

/* Drop kernel-id entries whose trace was emitted long ago. */
static void kmap_prune(struct krt_engine *e)
{
	struct kmap_entry *k;
	size_t i;

	table_for_each(&e->kmap, i, k) {
		if (k->created_ns + KMAP_KEEP_NS < e->now && !trace_find(e, k->trace_id)) {
			table_remove(&e->kmap, mix64(k->kernel_id), k);
			free(k);
		}
	}
	if (e->kmap.tombs > e->kmap.cap / 4)
		table_resize(&e->kmap, e->kmap.cap);
}

/* ---------------------------------------------------------------------- */
/* Byte matching                                                           */

/*
 * k bytes of segment s (sent on d) reach thread to (NULL: unknown
 * receiver). The send's hop to the address node shrinks by k, or becomes
 * the thread-to-thread hop when it is consumed whole.
 */
static void seg_deliver(struct krt_engine *e, struct dir *d, struct segment *s, __u64 k,
			struct thread *to, __u64 recv_ns)
{
	struct trace *tr;
	struct krt_hop h;

	s->used += k;
	tr = s->trace ? trace_live(e, s->trace) : NULL;
	if (!tr && to && to->cur)
		tr = trace_find(e, to->cur);	/* untagged bytes: receiver's trace */
	if (!tr)
		return;
	if (s->hop != ~0U && trace_find(e, s->trace) == tr && s->hop < tr->pub.n_hops) {
		struct krt_hop *sh = &tr->pub.hops[s->hop];

		if (sh->to_tid == 0 && sh->recv_ns == 0 && sh->bytes <= k) {
			sh->to_tid = to ? to->tid : 0;
			sh->recv_ns = recv_ns;
			sh->bytes = k;
			s->hop = ~0U;
			trace_activity(tr, recv_ns);
			if (to)
				trace_thread(tr, to, recv_ns, recv_ns);
			return;
		}
		sh->bytes -= u64min(sh->bytes, k);
	}
	memset(&h, 0, sizeof(h));
	h.from_tid = s->from_tid;
	h.to_tid = to ? to->tid : 0;
	h.from_addr = d->src;
	h.to_addr = d->dst;
	h.bytes = k;
	h.send_ns = s->send_ns;
	h.recv_ns = recv_ns;
	trace_add_hop(tr, &h);
	if (to)
		trace_thread(tr, to, recv_ns, recv_ns);
}

static void side_req_received(struct dir *side, __u64 trace);

static void handoff_remove(struct thread *t, __u64 trace)
{
	unsigned int i;

	for (i = 0; i < t->n_handoff; i++) {
		if (t->handoff[i] == trace) {
			memmove(&t->handoff[i], &t->handoff[i + 1],
				(t->n_handoff - i - 1) * sizeof(t->handoff[0]));
			t->n_handoff--;
			return;
		}
	}
}

static void handoff_push(struct thread *t, __u64 trace)
{
	handoff_remove(t, trace);
	if (t->n_handoff == HANDOFF_MAX)
		handoff_remove(t, t->handoff[0]);
	t->handoff[t->n_handoff++] = trace;
}

static void thread_set_trace(struct krt_engine *e, struct thread *t, __u64 id, __u64 ts);

/*
 * The oldest request thread f read and nobody took or answered yet. With
 * none queued, a request f handed by wakeup to a worker that has not
 * touched it yet: the woken worker lost the race for the queue to the
 * running thread asking now (taker, not NULL).
 */
static __u64 handoff_pick(struct krt_engine *e, struct thread *f, struct thread *taker,
			  __u64 ts)
{
	unsigned int i;

	while (f->n_handoff) {
		__u64 id = f->handoff[0];
		struct trace *tr = trace_find(e, id);

		handoff_remove(f, id);
		if (tr && !tr->answered)
			return id;
	}
	for (i = 0; taker && i < HANDED_MAX; i++) {
		unsigned int k = (f->handed_next + i) % HANDED_MAX;	/* oldest first */
		struct thread *w;
		__u64 id = f->handed[k].trace;

		if (!id || f->handed[k].tid == taker->tid)
			continue;
		w = thread_find(e, f->handed[k].tid);
		if (w && w->cur == id && w->wake_claim && !w->claim_active) {
			f->handed[k].trace = 0;
			thread_set_trace(e, w, 0, ts);
			return id;
		}
	}
	return 0;
}

static void handed_remember(struct thread *f, __u32 tid, __u64 trace)
{
	f->handed[f->handed_next].tid = tid;
	f->handed[f->handed_next].trace = trace;
	f->handed_next = (f->handed_next + 1) % HANDED_MAX;
}

/* A traced receive learnt the trace of the bytes: rule 2. */
static void receiver_takes(struct krt_engine *e, struct thread *t, struct dir *d, __u64 trace,
			   __u64 ts)
{
	if (!trace)
		return;
	if (trace != t->cur)
		handoff_push(t, trace);
	thread_set_trace(e, t, trace, ts);
	thread_add_entry(t, trace, d->serial);
	d->rev->side_last_recv_trace = trace;
}

/* A send completes receives that were waiting for it. Returns bytes used. */
static void match_pending(struct krt_engine *e, struct dir *d, struct segment *s)
{
	while (d->n_pend && s->used < s->len) {
		struct pending_recv *p = &d->pend[0];
		__u64 a = u64max(s->off + s->used, p->off);
		__u64 b = u64min(s->off + s->len, p->off + p->len);
		struct thread *to;

		if (b <= a) {
			if (p->off + p->len <= s->off + s->used) {
				pending_drop(e, d, 0);	/* before this send: lost */
				continue;
			}
			break;	/* pending is after this segment */
		}
		if (a > p->off)
			e->sum.unmatched_recv_bytes += a - p->off;
		s->used = a - s->off;
		to = thread_find(e, p->to_tid);
		seg_deliver(e, d, s, b - a, to, p->recv_ns);
		side_req_received(d->rev, s->trace);
		if (to && to->recv_count == p->recv_count && s->trace)
			receiver_takes(e, to, d, s->trace, p->recv_ns);
		p->len = p->off + p->len - b;
		p->off = b;
		if (!p->len)
			memmove(&d->pend[0], &d->pend[1], --d->n_pend * sizeof(d->pend[0]));
	}
}

/* A request's bytes (trace id) were received on this side. */
static void side_req_received(struct dir *side, __u64 trace)
{
	if (!trace || (side->side_req_n && side->side_req[side->side_req_n - 1] == trace))
		return;
	if (side->side_req_n == 1 && side->side_req_answered) {
		/* the previous request was answered: keep-alive, next request */
		side->side_req[0] = trace;
		side->side_req_answered = false;
		return;
	}
	if (side->side_req_n == SIDE_REQS) {
		memmove(&side->side_req[0], &side->side_req[1],
			(SIDE_REQS - 1) * sizeof(side->side_req[0]));
		side->side_req_n--;
	}
	side->side_req[side->side_req_n++] = trace;
}

/*
 * The request a server's send on this side answers: the oldest one not yet
 * answered. A request stays the answer while no later one is queued, so a
 * reply written in several sends keeps its tag.
 */
static __u64 side_req_reply(struct dir *side)
{
	if (!side->side_req_n)
		return 0;
	if (side->side_req_answered && side->side_req_n > 1) {
		memmove(&side->side_req[0], &side->side_req[1],
			(side->side_req_n - 1) * sizeof(side->side_req[0]));
		side->side_req_n--;
	}
	side->side_req_answered = true;
	return side->side_req[0];
}

struct pending_connect;
static struct pending_connect *connect_find(struct krt_engine *e, __u64 sock_id,
					    const struct krt_tuple *tp, __u32 tid);
static void dir_set_connect(struct dir *d, __u32 tid, __u64 trace);

static bool side_is_server(const struct dir *side)
{
	if (side->side_role)
		return side->side_role == ROLE_SERVER;
	return side->src.port < 32768 && side->dst.port >= 32768;
}

static void on_send(struct krt_engine *e, const struct krt_event *ev, struct krt_tuple *tp)
{
	const struct krt_xfer *x = &ev->xfer;
	struct dir *d = conn_get(e, &tp->local, &tp->remote, ev->ts_ns);
	struct thread *t;
	struct segment s;
	struct trace *tr;
	const char *why = "no trace";
	__u64 tag = 0;

	if (ev->tid)
		t = thread_touch(e, ev->tid, ev->pid, ev->comm);
	else
		t = thread_find(e, d->side_last_tid);	/* probe in another context */
	if (t) {
		d->side_last_tid = t->tid;
		thread_container_by_ip(e, t, &tp->local);
		if (!d->sends && !d->side_connect_pending) {
			/* first send: its connect() may not have shown the port */
			struct pending_connect *c = connect_find(e, 0, tp, t->tid);

			if (c) {
				dir_set_connect(d, c->tid, c->trace);
				c->live = false;
			}
		}
		if (t->feeder && (!t->cur || t->replied) && !d->side_ingress &&
		    !(side_is_server(d) && d->side_received)) {
			/*
			 * A pool worker done with its request sends for a new
			 * one without having slept: it took the next job from
			 * its feeder's queue without a wakeup (rule 6).
			 */
			struct thread *f = thread_find(e, t->feeder);
			__u64 pick = f ? handoff_pick(e, f, t, ev->ts_ns) : 0;

			if (pick) {
				thread_set_trace(e, t, pick, ev->ts_ns);
				t->wake_claim = true;
				vlog(e, ev->ts_ns, t, t->tid, pick,
				     "takes trace %llu from %s[%u] (hand-off, no wakeup)",
				     (unsigned long long)pick, f->comm, f->tid);
			}
		}
		/* rule 3 */
		if (side_is_server(d) && d->side_received && d->side_req_n) {
			tag = side_req_reply(d);
			why = d->side_req_n > 1 ? "reply on request conn, pipelined"
						: "reply on request conn";
		} else if (d->side_connect_pending && d->side_connect_tid == t->tid &&
			   d->side_connect_trace) {
			tag = d->side_connect_trace;
			why = "deferred: trace at connect";
		} else if (t->cur) {
			tag = t->cur;
			why = "current";
		}
		t->claim_active = true;
	}
	d->side_connect_pending = false;
	d->sends++;
	if (x->flags & KRT_XF_TAGGED && (e->cfg.use_kernel_tags || e->cfg.check_kernel_tags)) {
		__u64 k = apply_kernel_tag(e, x, tag, ev->ts_ns);

		if (k != tag)
			why = "kernel tag";
		tag = k;
	}
	/* the traced side answered: the next gateway receive is a new request */
	d->side_in_request = false;
	if (t && t->cur && thread_has_entry(t, t->cur, d->rev->serial)) {
		t->replied = true;
		handoff_remove(t, t->cur);	/* answered here, not handed off */
	}
	if (d->side_ingress && tag) {
		/* the reply to the client: that request is done */
		struct trace *done = trace_find(e, tag);

		if (done)
			done->answered = true;
		/* another thread answers what this one read: it is fed by it */
		if (t && d->side_ingress_tid && d->side_ingress_tid != t->tid)
			t->feeder = d->side_ingress_tid;
		/*
		 * Answering its own request, or (a pool worker) any request of
		 * its feeder, ends the job: whatever trace the worker held
		 * (possibly a wrong guess) is done with once it blocks.
		 */
		if (t && (tag == t->cur || (t->feeder && t->feeder == d->side_ingress_tid))) {
			t->replied = true;
			handoff_remove(t, tag);
		}
	}

	memset(&s, 0, sizeof(s));
	s.off = x->flags & KRT_XF_SEQ ? seq_unwrap(d, x->seq) : d->send_next;
	s.len = x->bytes;
	s.trace = tag;
	s.send_ns = ev->ts_ns;
	s.from_tid = t ? t->tid : 0;
	s.hop = ~0U;
	if (s.off + s.len > d->send_next)
		d->send_next = s.off + s.len;

	if (e->cfg.verbose) {
		char a[KRT_ADDR_STRLEN], b[KRT_ADDR_STRLEN];

		vlog(e, ev->ts_ns, t, ev->tid, tag, "SEND %s -> %s %llu B  tag %llu (%s)",
		     addr_s(&d->src, a), addr_s(&d->dst, b), (unsigned long long)s.len,
		     (unsigned long long)tag, why);
	}
	if (!s.len)
		return;
	tr = tag ? trace_live(e, tag) : NULL;
	if (tr) {
		struct krt_hop h = { .from_tid = s.from_tid, .from_addr = d->src,
				     .to_addr = d->dst, .bytes = s.len, .send_ns = s.send_ns };

		s.hop = trace_add_hop(tr, &h);
		if (t)
			trace_thread(tr, t, ev->ts_ns, ev->ts_ns);
	}
	match_pending(e, d, &s);
	/* the gateway's client is never traced: its bytes stay a hop to the address */
	if (s.used < s.len && !is_gateway(e, &d->dst))
		seg_push(e, d, &s);
}

/* Rule 1: a receive from the gateway. */
static void on_ingress(struct krt_engine *e, const struct krt_event *ev, struct thread *t,
		       struct dir *d, __u64 len)
{
	struct dir *side = d->rev;
	const char *why = "same request";
	struct trace *tr = NULL;
	struct krt_hop h;
	__u32 kid = 0;
	__u64 id = 0;

	if (side->side_in_request)
		tr = trace_find(e, side->side_last_recv_trace);
	if (ev->xfer.flags & KRT_XF_TAGGED && e->cfg.use_kernel_tags && ev->xfer.trace_id) {
		/* the kernel decided whether this is a new request */
		struct kmap_entry *k = kmap_find(e, ev->xfer.trace_id);
		struct trace *kt = k ? trace_find(e, k->trace_id) : NULL;

		if (e->cfg.check_kernel_tags && kt != tr)
			e->sum.kernel_tag_disagreements++;
		if (k && !kt)
			e->sum.late_events++;	/* its trace is gone: rules decide */
		else
			tr = kt;
		kid = k ? 0 : ev->xfer.trace_id;
	}
	if (!tr) {
		tr = trace_new(e, ev->ts_ns);
		tr->pub.ingress.client = d->src;
		tr->pub.ingress.server = d->dst;
		tr->pub.ingress.tid = t->tid;
		tr->pub.ingress.ts_ns = ev->ts_ns;
		side->side_in_request = true;
		why = "ingress";
	}
	if (kid)
		kmap_bind(e, kid, tr);
	id = tr->pub.id;
	if (ev->xfer.flags & KRT_XF_TAGGED && !e->cfg.use_kernel_tags)
		apply_kernel_tag(e, &ev->xfer, id, ev->ts_ns);
	side->side_role = ROLE_SERVER;
	side->side_received = true;
	side->side_ingress = true;
	side->side_ingress_tid = t->tid;
	memset(&h, 0, sizeof(h));
	h.to_tid = t->tid;
	h.from_addr = d->src;
	h.to_addr = d->dst;
	h.bytes = len;
	h.recv_ns = ev->ts_ns;
	trace_add_hop(tr, &h);
	receiver_takes(e, t, d, id, ev->ts_ns);
	side_req_received(side, id);
	trace_thread(tr, t, ev->ts_ns, ev->ts_ns);
	if (e->cfg.verbose) {
		char a[KRT_ADDR_STRLEN], b[KRT_ADDR_STRLEN];

		vlog(e, ev->ts_ns, t, t->tid, id, "RECV %s -> %s %llu B  => trace %llu (%s)",
		     addr_s(&d->src, a), addr_s(&d->dst, b), (unsigned long long)len,
		     (unsigned long long)id, why);
	}
}

static void on_recv(struct krt_engine *e, const struct krt_event *ev, struct krt_tuple *tp)
{
	const struct krt_xfer *x = &ev->xfer;
	struct dir *d = conn_get(e, &tp->remote, &tp->local, ev->ts_ns);
	struct dir *side = d->rev;
	struct thread *t;
	__u64 off, len, end, tag = 0, covered_to;
	const char *why = "";

	if (ev->tid)
		t = thread_touch(e, ev->tid, ev->pid, ev->comm);
	else
		t = thread_find(e, side->side_last_tid);

	if (x->flags & KRT_XF_NO_SYSCALL && x->bytes == 0) {
		off = d->recv_next;
		len = queued_end(d) > off ? queued_end(d) - off : 0;
	} else if (x->flags & KRT_XF_SEQ) {
		off = seq_unwrap(d, x->seq);
		len = x->bytes;
	} else {
		off = d->recv_next;
		len = x->bytes;
	}
	end = off + len;
	if (end > d->recv_next)
		d->recv_next = end;
	pending_expire(e, d, ev->ts_ns, false);
	if (!t)
		return;	/* nobody to attribute to (no context, socket never seen) */
	side->side_last_tid = t->tid;
	thread_container_by_ip(e, t, &tp->local);
	t->recv_count++;
	t->claim_active = true;

	if (is_gateway(e, &d->src)) {
		on_ingress(e, ev, t, d, len);
		return;
	}

	/* segments entirely before this receive were never received: drop them */
	while (d->q_len && seg_at(d, 0)->off + seg_at(d, 0)->len <= off) {
		seg_drop(e, d, seg_at(d, 0));
		d->q_head = (d->q_head + 1) % d->q_cap;
		d->q_len--;
	}
	covered_to = off;
	while (d->q_len) {
		struct segment *s = seg_at(d, 0);
		__u64 a = u64max(s->off + s->used, off), b = u64min(s->off + s->len, end);

		if (s->off >= end)
			break;
		if (b > a) {
			seg_deliver(e, d, s, b - a, t, ev->ts_ns);
			if (s->trace)
				tag = s->trace;
			side_req_received(side, s->trace);
			covered_to = b;
		}
		s->used = b - s->off > s->used ? b - s->off : s->used;
		if (s->used < s->len)
			break;
		d->q_head = (d->q_head + 1) % d->q_cap;
		d->q_len--;
	}
	if (x->flags & KRT_XF_TAGGED && (e->cfg.use_kernel_tags || e->cfg.check_kernel_tags))
		tag = apply_kernel_tag(e, x, tag, ev->ts_ns);
	if (tag) {
		receiver_takes(e, t, d, tag, ev->ts_ns);
		why = "bytes' tag";
	}
	side->side_received = true;

	/* bytes beyond everything sent so far */
	if (end > covered_to) {
		__u64 from = u64max(covered_to, off), excess = end - from;

		if (endpoint_traced(e, d)) {
			struct pending_recv *p;

			/* the send may still come (probe in the receiver's context) */
			if (d->n_pend == MAX_PENDING)
				pending_drop(e, d, 0);
			p = &d->pend[d->n_pend++];
			p->off = from;
			p->len = excess;
			p->recv_ns = ev->ts_ns;
			p->recv_count = t->recv_count;
			p->to_tid = t->tid;
			why = tag ? "bytes' tag, rest pending" : "pending: send not seen yet";
		} else {
			struct trace *tr = trace_find(e, t->cur);

			e->sum.untraced_peer_recvs++;
			if (tr) {
				struct krt_hop h = { .to_tid = t->tid, .from_addr = d->src,
						     .to_addr = d->dst, .bytes = excess,
						     .recv_ns = ev->ts_ns };

				trace_add_hop(tr, &h);
				trace_thread(tr, t, ev->ts_ns, ev->ts_ns);
			}
			if (!tag)
				why = "untraced peer: trace unchanged";
		}
	}
	if (e->cfg.verbose) {
		char a[KRT_ADDR_STRLEN], b[KRT_ADDR_STRLEN];

		vlog(e, ev->ts_ns, t, t->tid, t->cur, "RECV %s -> %s %llu B  => trace %llu (%s)",
		     addr_s(&d->src, a), addr_s(&d->dst, b), (unsigned long long)len,
		     (unsigned long long)t->cur, why);
	}
}

static void on_xfer(struct krt_engine *e, const struct krt_event *ev)
{
	struct krt_tuple tp = ev->xfer.tuple;

	krt_addr_unmap_v4(&tp.local);
	krt_addr_unmap_v4(&tp.remote);
	if (!tp.local.family || !tp.remote.family)
		return;	/* connection unknown: the source counts these */
	if (ev->xfer.dir == KRT_DIR_SEND)
		on_send(e, ev, &tp);
	else if (ev->xfer.dir == KRT_DIR_RECV)
		on_recv(e, ev, &tp);
}

/* ---------------------------------------------------------------------- */
/* Scheduling, process life cycle, socket state                           */

static void on_switch(struct krt_engine *e, const struct krt_event *ev)
{
	const struct krt_switch *sw = &ev->sw;
	struct thread *prev = thread_listed_or_known(e, sw->prev_tid, sw->prev_pid, sw->prev_comm);
	struct thread *next = thread_listed_or_known(e, sw->next_tid, sw->next_pid, sw->next_comm);

	if (prev && prev->traced) {
		if (prev->oncpu) {
			charge(e, prev, prev->oncpu_since, ev->ts_ns);
			prev->oncpu = false;
		}
		/*
		 * Rule 5: answered and now blocked -> idle, not request time. A
		 * claim that came from a wakeup ends at the first block: the
		 * work item handed over is done (or waits for something that
		 * will bring its own trace).
		 */
		if (sw->prev_state != 0 && prev->cur && (prev->replied || prev->wake_claim)) {
			vlog(e, ev->ts_ns, prev, prev->tid, prev->cur,
			     "SWITCH out blocked: trace %llu claim ended",
			     (unsigned long long)prev->cur);
			thread_set_trace(e, prev, 0, ev->ts_ns);
		}
	}
	if (next && next->traced) {
		next->oncpu = true;
		next->oncpu_since = ev->ts_ns;
	}
}

static void on_fork(struct krt_engine *e, const struct krt_event *ev)
{
	const struct krt_fork *f = &ev->fork;
	__u32 ptid = f->parent_tid ? f->parent_tid : ev->tid;
	struct thread *parent = thread_touch(e, ptid, f->parent_pid ? f->parent_pid : ev->pid,
					     ptid == ev->tid ? ev->comm : NULL);
	struct thread *child;

	if (!f->child_tid)
		return;
	child = thread_find(e, f->child_tid);
	if (!child)
		child = thread_new(e, f->child_tid, f->child_pid, f->child_comm);
	child->traced = true;
	if (f->child_pid)
		child->pid = f->child_pid;
	if (f->child_comm[0])
		memcpy(child->comm, f->child_comm, KRT_COMM_LEN);
	child->comm[KRT_COMM_LEN - 1] = 0;
	if (parent && !child->container[0])
		child->container = parent->container;
	/*
	 * Import: child_pid is 0, a new thread and a new process look the
	 * same, so the tgid stays unknown (reported as the tid) unless the
	 * container fallback by IP supplies the listed pid.
	 */
}

static void on_exit_ev(struct krt_engine *e, const struct krt_event *ev)
{
	struct thread *t = thread_find(e, ev->tid);

	if (!t)
		return;
	if (t->oncpu) {
		charge(e, t, t->oncpu_since, ev->ts_ns);
		t->oncpu = false;
	}
	thread_free(e, t);
}

/*
 * Rule 6: a wakeup passes a trace to a target that holds none (none, or its
 * claim ended). The trace passed is the oldest one the waker received and
 * has neither answered nor handed off yet (a thread-pool front end reads
 * requests A and B, then wakes a worker for each, in order), else the
 * waker's current trace. A target that already works on a trace keeps it:
 * a wakeup is a weaker signal than bytes received (futexes also wake for
 * locks, timers and unrelated queues), so it never overrides; the overlap
 * is counted as a conflict.
 *
 * The waker of a sched_wakeup is not traced by the event itself: ftrace
 * records wakeups of a traced target from any task (the gateway's client
 * waking the server), so only a waker already traced can hand off.
 */
static void on_wakeup(struct krt_engine *e, const struct krt_event *ev)
{
	struct thread *waker = thread_listed_or_known(e, ev->tid, ev->pid, ev->comm);
	struct thread *target;
	__u64 pick = 0;

	if (!waker || !waker->traced || ev->wakeup.target_tid == ev->tid)
		return;
	target = thread_listed_or_known(e, ev->wakeup.target_tid, ev->wakeup.target_pid, NULL);
	if (!target) {
		/* same process as a traced waker: a thread we have not seen yet */
		if (!waker->cur || !ev->wakeup.target_pid || ev->wakeup.target_pid != waker->pid)
			return;
		target = thread_new(e, ev->wakeup.target_tid, ev->wakeup.target_pid, NULL);
		target->traced = true;
		target->container = waker->container;
	}
	if (!target->traced)
		return;
	if (target->cur) {
		if (waker->cur && target->cur != waker->cur) {
			e->sum.wakeup_conflicts++;
			vlog(e, ev->ts_ns, waker, waker->tid, waker->cur,
			     "WAKEUP %s[%u] keeps trace %llu (conflict)",
			     target->comm[0] ? target->comm : "?", target->tid,
			     (unsigned long long)target->cur);
		}
		return;
	}
	pick = handoff_pick(e, waker, NULL, ev->ts_ns);
	if (pick) {
		target->feeder = waker->tid;
		handed_remember(waker, target->tid, pick);
	} else {
		pick = waker->cur;
	}
	if (!pick)
		return;
	thread_set_trace(e, target, pick, ev->ts_ns);
	target->wake_claim = true;
	target->claim_active = false;
	/* handed over its current request: idle once it blocks (rule 5) */
	if (pick == waker->cur)
		waker->replied = true;
	vlog(e, ev->ts_ns, waker, waker->tid, pick, "WAKEUP %s[%u] => trace %llu (hand-off)",
	     target->comm[0] ? target->comm : "?", target->tid, (unsigned long long)pick);
}

/* Rule 3b: the first send on a connection carries the trace current at connect. */
static void dir_set_connect(struct dir *d, __u32 tid, __u64 trace)
{
	d->side_role = ROLE_CLIENT;
	d->rev->side_role = ROLE_SERVER;
	d->side_connect_pending = true;
	d->side_connect_tid = tid;
	d->side_connect_trace = trace;
	d->side_last_tid = tid;
}

/*
 * connect() enters SYN_SENT before the local port is chosen (the event shows
 * sport 0): remember it until the tuple is known (SYN_SENT -> ESTABLISHED,
 * or the first send of that thread to that peer).
 */
static void connect_remember(struct krt_engine *e, const struct krt_sock_state *st,
			     const struct krt_tuple *tp, struct thread *t, __u64 ts)
{
	struct pending_connect *c = &e->connects[e->connects_next];

	e->connects_next = (e->connects_next + 1) % MAX_CONNECTS;
	c->sock_id = st->sock_id;
	c->local_ip = tp->local;
	c->local_ip.port = 0;
	c->remote = tp->remote;
	c->tid = t->tid;
	c->trace = t->cur;
	c->ts = ts;
	c->live = true;
}

/* The oldest remembered connect matching sock_id, or (ip, peer[, tid]). */
static struct pending_connect *connect_find(struct krt_engine *e, __u64 sock_id,
					    const struct krt_tuple *tp, __u32 tid)
{
	struct pending_connect *best = NULL;
	unsigned int i;

	for (i = 0; i < MAX_CONNECTS; i++) {
		struct pending_connect *c = &e->connects[i];

		if (!c->live || c->ts + CONNECT_MAX_NS < e->now) {
			c->live = false;
			continue;
		}
		if (sock_id && c->sock_id && c->sock_id != sock_id)
			continue;
		if (!krt_ip_eq(&c->local_ip, &tp->local) || !krt_addr_eq(&c->remote, &tp->remote))
			continue;
		if (tid && c->tid != tid)
			continue;
		if (sock_id && c->sock_id == sock_id)
			return c;	/* the same socket: certain */
		if (!best || c->ts < best->ts)
			best = c;
	}
	return best;
}

static void on_sock_state(struct krt_engine *e, const struct krt_event *ev)
{
	const struct krt_sock_state *st = &ev->state;
	struct krt_tuple tp = st->tuple;
	struct pending_connect *c;
	struct thread *t;
	struct dir *d;

	krt_addr_unmap_v4(&tp.local);
	krt_addr_unmap_v4(&tp.remote);
	if (!tp.local.family || !tp.remote.family)
		return;
	t = thread_touch(e, ev->tid, ev->pid, ev->comm);
	if (st->newstate == TCP_SYN_SENT && !tp.local.port) {
		if (t) {
			connect_remember(e, st, &tp, t, ev->ts_ns);
			if (e->cfg.verbose) {
				char b[KRT_ADDR_STRLEN];

				vlog(e, ev->ts_ns, t, t->tid, t->cur, "CONNECT -> %s  trace %llu",
				     addr_s(&tp.remote, b), (unsigned long long)t->cur);
			}
		}
		return;
	}
	if (!tp.local.port || !tp.remote.port)
		return;
	d = conn_get(e, &tp.local, &tp.remote, ev->ts_ns);	/* side = local end */
	switch (st->newstate) {
	case TCP_SYN_SENT:
		/* a new connection on this tuple: forget the old one's bytes */
		dir_reset_data(e, d);
		dir_reset_data(e, d->rev);
		d->side_role = ROLE_CLIENT;
		d->rev->side_role = ROLE_SERVER;
		if (t) {
			dir_set_connect(d, t->tid, t->cur);
			vlog(e, ev->ts_ns, t, t->tid, t->cur, "CONNECT (SYN_SENT) trace %llu",
			     (unsigned long long)t->cur);
		}
		break;
	case TCP_SYN_RECV:
		if (st->oldstate == TCP_LISTEN || d->side_role != ROLE_SERVER) {
			dir_reset_data(e, d);
			dir_reset_data(e, d->rev);
		}
		d->side_role = ROLE_SERVER;
		d->rev->side_role = ROLE_CLIENT;
		break;
	case TCP_ESTABLISHED:
		if (st->oldstate == TCP_SYN_SENT) {
			d->side_role = ROLE_CLIENT;
			d->rev->side_role = ROLE_SERVER;
			c = connect_find(e, st->sock_id, &tp, 0);
			if (c && !d->side_connect_pending) {
				dir_reset_data(e, d);
				dir_reset_data(e, d->rev);
				dir_set_connect(d, c->tid, c->trace);
				c->live = false;
			}
		} else if (st->oldstate == TCP_SYN_RECV) {
			d->side_role = ROLE_SERVER;
			d->rev->side_role = ROLE_CLIENT;
		}
		break;
	default:
		break;
	}
}

static void on_cpu(struct krt_engine *e, const struct krt_event *ev)
{
	const struct krt_cpu *c = &ev->oncpu;
	struct thread *t = thread_touch(e, ev->tid, ev->pid, ev->comm);
	__u64 id = 0, start = ev->ts_ns > c->oncpu_ns ? ev->ts_ns - c->oncpu_ns : 0;
	struct trace *tr;

	if (c->trace_id) {
		struct kmap_entry *k = kmap_find(e, c->trace_id);

		if (k)
			id = k->trace_id;
		else if (e->cfg.use_kernel_tags)
			id = kernel_trace(e, c->trace_id, ev->ts_ns);
		else if (t)
			id = t->cur;	/* no kernel mapping: the rules' trace */
	}
	tr = id ? trace_live(e, id) : NULL;
	if (!tr || !t) {
		e->sum.unattributed_cpu_ns += c->oncpu_ns;
		return;
	}
	trace_thread(tr, t, start, ev->ts_ns);
	for (size_t i = 0; i < tr->pub.n_threads; i++) {
		if (tr->pub.threads[i].tid == t->tid) {
			tr->pub.threads[i].cpu_ns += c->oncpu_ns;
			tr->pub.threads[i].runq_ns += c->runq_ns;
			break;
		}
	}
	e->sum.attributed_cpu_ns += c->oncpu_ns;
	if (e->cfg.keep_slices && c->oncpu_ns)
		trace_add_slice(tr, t->tid, start, ev->ts_ns);
}

/* ---------------------------------------------------------------------- */
/* Housekeeping: linger emission and pruning                               */

static void emit_completed(struct krt_engine *e)
{
	size_t i, k = 0;

	for (i = 0; i < e->n_open; i++) {
		struct trace *tr = e->open[i];
		__u64 idle = e->now > tr->last_ns ? e->now - tr->last_ns : 0;

		if ((tr->holders == 0 && idle >= e->cfg.linger_ns) ||
		    idle >= u64max(HELD_TRACE_MAX_IDLE_NS, e->cfg.linger_ns * 10))
			trace_emit(e, tr);
		else
			e->open[k++] = tr;
	}
	e->n_open = k;
}

static void prune_dirs(struct krt_engine *e)
{
	__u64 limit = u64max(DIR_IDLE_NS, e->cfg.linger_ns * 10);
	struct dir *d;
	size_t i;

	if (e->now < limit)
		return;
	table_for_each(&e->dirs, i, d) {
		/* the pair is visited twice; decide on the lower serial */
		if (d->serial > d->rev->serial)
			continue;
		if (d->last_ns + limit < e->now && d->rev->last_ns + limit < e->now) {
			if (d->q_len)
				e->sum.dropped_segments += d->q_len;
			if (d->rev->q_len)
				e->sum.dropped_segments += d->rev->q_len;
			dir_free_pair(e, d);
		}
	}
	/* deleted slots pile up in a long run: rebuild when they dominate */
	if (e->dirs.tombs > e->dirs.cap / 4)
		table_resize(&e->dirs, e->dirs.cap);
}

static void maintenance(struct krt_engine *e)
{
	struct dir *d;
	size_t i;

	e->events_since_maint = 0;
	if (!e->cfg.linger_ns)
		return;
	/* a quarter of the linger keeps emission close to completion time */
	e->next_maint_ns = e->now + u64max(e->cfg.linger_ns / 4, 1000);
	emit_completed(e);
	if (e->now - e->last_dir_prune_ns >= 1000000000ULL) {
		e->last_dir_prune_ns = e->now;
		table_for_each(&e->dirs, i, d)
			pending_expire(e, d, e->now, false);
		prune_dirs(e);
		kmap_prune(e);
	}
}

/* ---------------------------------------------------------------------- */
/* API                                                                     */

struct krt_engine *krt_engine_new(const struct krt_engine_config *cfg)
{
	struct krt_engine *e = xcalloc(1, sizeof(*e));

	e->cfg = *cfg;
	krt_addr_unmap_v4(&e->cfg.gateway);
	table_init(&e->threads);
	table_init(&e->dirs);
	table_init(&e->traces);
	table_init(&e->kmap);
	return e;
}

void krt_engine_feed(struct krt_engine *e, const struct krt_event *ev)
{
	e->sum.events++;
	if (ev->type < KRT_EV_TYPE_MAX)
		e->sum.events_by_type[ev->type]++;
	if (!e->sum.first_ns || ev->ts_ns < e->sum.first_ns)
		e->sum.first_ns = ev->ts_ns;
	if (ev->ts_ns > e->sum.last_ns)
		e->sum.last_ns = ev->ts_ns;
	/* out-of-order input: keep time monotonic for the engine's own state */
	if (ev->ts_ns > e->now)
		e->now = ev->ts_ns;

	switch (ev->type) {
	case KRT_EV_FORK:
		on_fork(e, ev);
		break;
	case KRT_EV_EXIT:
		on_exit_ev(e, ev);
		break;
	case KRT_EV_SWITCH:
		on_switch(e, ev);
		break;
	case KRT_EV_XFER:
		on_xfer(e, ev);
		break;
	case KRT_EV_SOCK_STATE:
		on_sock_state(e, ev);
		break;
	case KRT_EV_WAKEUP:
		on_wakeup(e, ev);
		break;
	case KRT_EV_CPU:
		on_cpu(e, ev);
		break;
	case KRT_EV_LOST:
		e->sum.lost_events += ev->lost.count;
		if (e->cfg.verbose)
			vlog(e, ev->ts_ns, NULL, ev->tid, 0, "LOST %llu events",
			     (unsigned long long)ev->lost.count);
		break;
	default:
		break;
	}
	if (++e->events_since_maint >= MAINT_EVENTS ||
	    (e->cfg.linger_ns && e->now >= e->next_maint_ns && e->events_since_maint >= 64))
		maintenance(e);
}

static int cmp_trace_id(const void *a, const void *b)
{
	return cmp_u64((*(struct trace *const *)a)->pub.id, (*(struct trace *const *)b)->pub.id);
}

void krt_engine_flush(struct krt_engine *e)
{
	struct thread *t;
	struct dir *d;
	size_t i;

	/* on-CPU intervals still open run until the last event */
	table_for_each(&e->threads, i, t) {
		if (t->oncpu) {
			charge(e, t, t->oncpu_since, e->now);
			t->oncpu_since = e->now;
		}
	}
	table_for_each(&e->dirs, i, d) {
		pending_expire(e, d, e->now, true);
		for (__u32 j = 0; j < d->q_len; j++) {
			struct segment *s = seg_at(d, j);

			seg_drop(e, d, s);
			s->used = s->len;	/* counted once */
		}
	}
	if (e->n_open)
		qsort(e->open, e->n_open, sizeof(*e->open), cmp_trace_id);
	for (i = 0; i < e->n_open; i++)
		trace_emit(e, e->open[i]);
	e->n_open = 0;
}

struct krt_summary *krt_engine_summary(struct krt_engine *e)
{
	return &e->sum;
}

void krt_engine_free(struct krt_engine *e)
{
	struct thread *t;
	struct dir *d;
	struct kmap_entry *k;
	size_t i;

	if (!e)
		return;
	table_for_each(&e->threads, i, t)
		free(t);
	table_for_each(&e->dirs, i, d) {
		free(d->q);
		free(d);
	}
	table_for_each(&e->kmap, i, k)
		free(k);
	for (i = 0; i < e->n_open; i++)
		trace_free(e->open[i]);
	table_free(&e->threads);
	table_free(&e->dirs);
	table_free(&e->traces);
	table_free(&e->kmap);
	free(e->open);
	for (i = 0; i < e->n_names; i++)
		free(e->names[i]);
	free(e->names);
	free(e->listed);
	free(e);
}

const char *krt_event_type_name(__u32 type)
{
	static const char *const names[KRT_EV_TYPE_MAX] = {
		[KRT_EV_FORK] = "fork",	    [KRT_EV_EXIT] = "exit",
		[KRT_EV_SWITCH] = "switch", [KRT_EV_XFER] = "xfer",
		[KRT_EV_SOCK_STATE] = "sock_state", [KRT_EV_WAKEUP] = "wakeup",
		[KRT_EV_CPU] = "cpu",	    [KRT_EV_LOST] = "lost",
	};

	if (type < KRT_EV_TYPE_MAX && names[type])
		return names[type];
	return "unknown";
}
