/*
 * Engine traces: per-trace thread stats, hops and slices as they grow, their
 * emission to the writers, and the map of kernel-decided trace ids (live).
 */
#include "engine_internal.h"

/* ---------------------------------------------------------------------- */
/* Traces                                                                  */

static bool trace_eq(const void *obj, const void *key)
{
	return ((const struct trace *)obj)->pub.id == *(const __u64 *)key;
}

struct trace *eng_trace_find_slow(struct krt_engine *e, __u64 id)
{
	struct trace *tr;

	if (!id)
		return NULL;
	tr = eng_table_find(&e->traces, mix64(id), &id, trace_eq);
	if (tr)
		e->trace_cache[id & (ENG_TRACE_CACHE - 1)] = tr;
	return tr;
}

/* tr leaves the table of traces (freed next). */
static void trace_unlist(struct krt_engine *e, struct trace *tr)
{
	eng_table_remove(&e->traces, mix64(tr->pub.id), tr);
	if (e->trace_cache[tr->pub.id & (ENG_TRACE_CACHE - 1)] == tr)
		e->trace_cache[tr->pub.id & (ENG_TRACE_CACHE - 1)] = NULL;
}

/* Like eng_trace_find, but counts a reference to an already-emitted trace. */
struct trace *eng_trace_live(struct krt_engine *e, __u64 id)
{
	struct trace *tr = eng_trace_find(e, id);

	if (!tr && id)
		e->sum.late_events++;
	return tr;
}

/* Provisional traces' ids: apart from the emitted ones, never shown. */
#define KRT_PROVISIONAL_ID (1ULL << 62)

static struct trace *trace_new_id(struct krt_engine *e, __u64 ts, __u64 id)
{
	struct trace *tr = eng_xcalloc(1, sizeof(*tr));

	tr->pub.id = id;
	tr->pub.start_ns = tr->pub.end_ns = ts;
	tr->last_ns = ts;
	tr->created_ns = e->now;
	/* started before a loss already reported (its events came late) */
	for (unsigned int c = 0; c < KRT_INCOMPLETE_CAUSES; c++)
		if (e->loss_at[c] && ts <= e->loss_at[c])
			tr->pub.incomplete |= 1u << c;
	eng_table_insert(&e->traces, mix64(tr->pub.id), tr);
	if (e->n_open == e->cap_open) {
		e->cap_open = e->cap_open ? e->cap_open * 2 : 64;
		e->open = eng_xrealloc(e->open, e->cap_open * sizeof(*e->open));
	}
	e->open[e->n_open++] = tr;
	return tr;
}

struct trace *eng_trace_new(struct krt_engine *e, __u64 ts)
{
	return trace_new_id(e, ts, ++e->next_trace_id);
}

struct trace *eng_trace_new_provisional(struct krt_engine *e, __u64 ts)
{
	struct trace *tr = trace_new_id(e, ts, KRT_PROVISIONAL_ID + ++e->next_provisional_id);

	tr->provisional = true;
	return tr;
}

void eng_trace_activity(struct trace *tr, __u64 ts)
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

/* Remember that t had activity in trace id at ts (struct thread's touched). */
void eng_thread_touched(struct thread *t, __u64 id, __u64 ts)
{
	struct touched_trace *old = &t->touched[t->touched_last];
	size_t i;

	/* ids are listed once each (trace ids are not 0) */
	if (id && old->id == id) {
		if (ts > old->last_ns)
			old->last_ns = ts;
		return;
	}
	old = &t->touched[0];
	for (i = 0; i < TOUCHED_MAX; i++) {
		if (t->touched[i].id == id) {
			if (ts > t->touched[i].last_ns)
				t->touched[i].last_ns = ts;
			t->touched_last = (unsigned int)i;
			return;
		}
		if (t->touched[i].last_ns < old->last_ns)
			old = &t->touched[i];
	}
	if (old->id && old->last_ns > t->touched_lost)
		t->touched_lost = old->last_ns;
	old->id = id;
	old->last_ns = ts;
	t->touched_last = (unsigned int)(old - t->touched);
}

/* The stats row of thread t in trace tr, created on first activity. */
struct krt_thread_stat *eng_trace_thread(struct trace *tr, struct thread *t, __u64 first,
					 __u64 last)
{
	struct krt_thread_stat *st = NULL;
	size_t i;

	for (i = tr->pub.n_threads; i-- > 0;) {
		if (tr->pub.threads[i].tid == eng_thread_shown_tid(t)) {
			st = &tr->pub.threads[i];
			break;
		}
	}
	if (!st) {
		if (tr->pub.n_threads == tr->cap_threads) {
			tr->cap_threads = tr->cap_threads ? tr->cap_threads * 2 : 4;
			tr->pub.threads = eng_xrealloc(tr->pub.threads,
						       tr->cap_threads * sizeof(*tr->pub.threads));
		}
		st = &tr->pub.threads[tr->pub.n_threads++];
		memset(st, 0, sizeof(*st));
		st->tid = eng_thread_shown_tid(t);
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
	eng_trace_activity(tr, last);
	eng_thread_touched(t, tr->pub.id, last);
	return st;
}

__u32 eng_trace_add_hop(struct trace *tr, const struct krt_hop *h)
{
	if (tr->pub.n_hops == tr->cap_hops) {
		tr->cap_hops = tr->cap_hops ? tr->cap_hops * 2 : 8;
		tr->pub.hops = eng_xrealloc(tr->pub.hops, tr->cap_hops * sizeof(*tr->pub.hops));
	}
	tr->pub.hops[tr->pub.n_hops] = *h;
	eng_trace_activity(tr, h->recv_ns ? h->recv_ns : h->send_ns);
	return (__u32)tr->pub.n_hops++;
}

/*
 * A trace whose hops were mostly moved out (a pool worker's staging trace:
 * each job's work lands in its guess, the hand-back moves it to the request
 * it answered) drops the dead entries: each later move walks every hop, and
 * a worker's guess that stays one trace collected thousands (the reader
 * spent half its time there on thrift and asgi). Indexes stored before
 * (a segment's send hop, a side's ingress position) name the generation
 * they were taken in and are found again (eng_trace_send_hop).
 */
void eng_trace_compact(struct krt_engine *e, struct trace *tr)
{
	size_t i, n = 0;

	if (tr->n_dead < 32 || tr->n_dead * 2 < tr->pub.n_hops)
		return;
	for (i = 0; i < tr->pub.n_hops; i++)
		if (!eng_hop_dead(&tr->pub.hops[i]))
			tr->pub.hops[n++] = tr->pub.hops[i];
	tr->pub.n_hops = n;
	tr->n_dead = 0;
	tr->hops_gen = ++e->hops_gen;
}

/*
 * The index of the send hop a segment named (hop, taken before a
 * compaction of tr perhaps): the hop is the one its sender made at send_ns.
 * ~0 when it is no longer in tr.
 */
__u32 eng_trace_send_hop(const struct trace *tr, __u32 hop, __u64 send_ns, __u32 from_tid)
{
	size_t i;

	if (hop < tr->pub.n_hops && tr->pub.hops[hop].send_ns == send_ns &&
	    tr->pub.hops[hop].from_tid == from_tid)
		return hop;
	if (!tr->hops_gen)
		return hop; /* never compacted: the index holds (a moved hop is dead) */
	for (i = u64min(hop, tr->pub.n_hops); i-- > 0;)
		if (tr->pub.hops[i].send_ns == send_ns && tr->pub.hops[i].from_tid == from_tid)
			return (__u32)i;
	return ~0U;
}

void eng_trace_add_slice(struct trace *tr, __u32 tid, __u64 start, __u64 end)
{
	struct krt_slice *s;

	if (tr->pub.n_slices == tr->cap_slices) {
		tr->cap_slices = tr->cap_slices ? tr->cap_slices * 2 : 8;
		tr->pub.slices =
		    eng_xrealloc(tr->pub.slices, tr->cap_slices * sizeof(*tr->pub.slices));
	}
	s = &tr->pub.slices[tr->pub.n_slices++];
	s->tid = tid;
	s->start_ns = start;
	s->end_ns = end;
}

/* Stable merge sort: hops and slices keep their order of arrival on ties. */
#define SMALL_SORT 32	    /* elements sorted by insertion */
#define SMALL_SORT_SIZE 256 /* bytes at most per element sorted so */
typedef int (*cmp_fn)(const void *a, const void *b);

/* inlined: each caller's comparison inline, not called per pair */
static inline __attribute__((always_inline)) void merge_sort(void *base, size_t n, size_t size,
							     cmp_fn cmp)
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
	if (n <= SMALL_SORT && size <= SMALL_SORT_SIZE) {
		/*
		 * A trace's few threads and hops: insertion from the first out
		 * of order, each moved before every element greater than it
		 * only (stable, as the merge), and no allocation.
		 */
		char x[SMALL_SORT_SIZE];
		size_t j;

		for (; i < n; i++) {
			if (cmp(a + (i - 1) * size, a + i * size) <= 0)
				continue;
			memcpy(x, a + i * size, size);
			for (j = i; j > 0 && cmp(a + (j - 1) * size, x) > 0; j--)
				;
			memmove(a + (j + 1) * size, a + j * size, (i - j) * size);
			memcpy(a + j * size, x, size);
		}
		return;
	}
	tmp = eng_xcalloc(n, size);
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

int eng_cmp_u64(__u64 a, __u64 b)
{
	return a < b ? -1 : a > b;
}

static int cmp_thread_stat(const void *a, const void *b)
{
	return eng_cmp_u64(((const struct krt_thread_stat *)a)->first_ns,
			   ((const struct krt_thread_stat *)b)->first_ns);
}

static __u64 hop_key(const struct krt_hop *h)
{
	return h->send_ns ? h->send_ns : h->recv_ns;
}

static int cmp_hop(const void *a, const void *b)
{
	return eng_cmp_u64(hop_key(a), hop_key(b));
}

static int cmp_slice(const void *a, const void *b)
{
	return eng_cmp_u64(((const struct krt_slice *)a)->start_ns,
			   ((const struct krt_slice *)b)->start_ns);
}

void eng_trace_free(struct trace *tr)
{
	free(tr->pub.threads);
	free(tr->pub.hops);
	free(tr->pub.slices);
	free(tr);
}

/* Hop `hop` of tr was decided by a guess (enum krt_uncertain why). */
void eng_trace_mark_hop(struct trace *tr, __u32 hop, __u32 why)
{
	if (!why || hop >= tr->pub.n_hops)
		return;
	if (!tr->pub.hops[hop].uncertain)
		tr->n_uncertain++;
	tr->pub.hops[hop].uncertain |= why;
}

/*
 * The doubt of the request a server answers on from -> to: that of the
 * newest request hop of tr on the reverse direction (a reply belongs to
 * the request its bytes answer, right or wrong with it).
 */
__u32 eng_trace_request_doubt(const struct trace *tr, const struct krt_addr *from,
			      const struct krt_addr *to)
{
	size_t i;

	if (!tr->n_uncertain)
		return 0;
	for (i = tr->pub.n_hops; i-- > 0;) {
		const struct krt_hop *h = &tr->pub.hops[i];

		if (krt_addr_eq(&h->from_addr, to) && krt_addr_eq(&h->to_addr, from))
			return h->uncertain;
	}
	return 0;
}

/*
 * Thread tid answered a request of tr itself: the reply names the request
 * (bytes on the request's own connection), so the hand-off guesses that
 * put its calls in tr are settled; with sampling, those since its take
 * of the job (since; 0: none known) too.
 */
void eng_trace_settle(struct trace *tr, __u32 tid, __u64 since)
{
	size_t i;

	for (i = 0; tr->n_uncertain && i < tr->pub.n_hops; i++) {
		struct krt_hop *h = &tr->pub.hops[i];
		__u64 at = h->send_ns ? h->send_ns : h->recv_ns;
		__u32 clear = KRT_UNCERTAIN_HANDOFF;

		/*
		 * A pool worker's guesses with sampling (maybe an unsampled
		 * job's work): settled from the job it took on, and never
		 * before the request began.
		 */
		if (since && at >= since && at >= tr->pub.start_ns)
			clear |= KRT_UNCERTAIN_SAMPLING;
		if (!(h->uncertain & clear) || (h->from_tid != tid && h->to_tid != tid))
			continue;
		h->uncertain &= ~clear;
		if (!h->uncertain)
			tr->n_uncertain--;
	}
}

/*
 * After a pause: the worker whose job tr's reply took made transfers in tr
 * after it handed that job back: another job's, which the kernel tagged
 * with the worker's last trace and whose own hand-back never moved them
 * (seen: thrift with 50 ms warm-ups, its loop jobs behind, a request
 * answered with the next job's redis calls too, sure of it). Which
 * request they were is not known: tr is not sure.
 */
static bool worked_after_job(const struct trace *tr)
{
	size_t i;

	for (i = 0; i < tr->pub.n_hops; i++) {
		const struct krt_hop *h = &tr->pub.hops[i];

		if ((h->from_tid == tr->job_tid && h->send_ns > tr->job_until) ||
		    (h->to_tid == tr->job_tid && h->recv_ns > tr->job_until))
			return true;
	}
	return false;
}

/* Hand the trace to the writers and forget it (caller removes it from open[]). */
void eng_trace_emit(struct krt_engine *e, struct trace *tr)
{
	struct krt_trace *p = &tr->pub;

	size_t i, n = 0;

	/* a job no reply named, or an unsampled request: an unsampled request's work */
	if (tr->provisional || tr->hidden) {
		trace_unlist(e, tr);
		eng_trace_free(tr);
		return;
	}
	for (i = 0; i < p->n_hops; i++) {
		if (eng_hop_dead(&p->hops[i]))
			continue;
		p->hops[n++] = p->hops[i];
		/* goroutines (import) are shown on the threads they ran on */
		if (p->hops[i].from_thread)
			p->hops[n - 1].from_tid = p->hops[i].from_thread;
		if (p->hops[i].to_thread)
			p->hops[n - 1].to_tid = p->hops[i].to_thread;
		if (p->hops[i].uncertain) {
			p->uncertain |= p->hops[i].uncertain;
			e->sum.uncertain_hops++;
		}
	}
	p->n_hops = n;
	if (tr->job_tid && worked_after_job(tr))
		tr->handback_guess = true;
	if (tr->ingress_thread)
		p->ingress.tid = tr->ingress_thread;
	/* offered to a pool, and no sibling of the offering thread answered it */
	if ((tr->handoff_from && !tr->handed_settled) || tr->handback_guess || tr->order_guess)
		p->uncertain |= KRT_UNCERTAIN_HANDOFF;
	if (p->uncertain)
		e->sum.uncertain_traces++;
	merge_sort(p->threads, p->n_threads, sizeof(*p->threads), cmp_thread_stat);
	merge_sort(p->hops, p->n_hops, sizeof(*p->hops), cmp_hop);
	merge_sort(p->slices, p->n_slices, sizeof(*p->slices), cmp_slice);
	if (!e->cfg.keep_slices)
		p->n_slices = 0;
	e->sum.traces++;
	if (p->incomplete)
		e->sum.incomplete_traces++;
	e->sum.hops += p->n_hops;
	if (e->cfg.on_trace)
		e->cfg.on_trace(p, e->cfg.cb_ctx);
	if (p->id > e->max_emitted_id)
		e->max_emitted_id = p->id;
	trace_unlist(e, tr);
	eng_trace_free(tr);
}

/* ---------------------------------------------------------------------- */
/* A thread's current trace                                                */

/* Charge [start, end) on CPU to t's current trace. */
void eng_charge(struct krt_engine *e, struct thread *t, __u64 start, __u64 end)
{
	struct trace *tr;
	__u64 d;

	if (end <= start)
		return;
	d = end - start;
	tr = t->cur ? eng_trace_live(e, t->cur) : NULL;
	if (!tr) {
		e->sum.unattributed_cpu_ns += d;
		return;
	}
	eng_trace_thread(tr, t, start, end)->cpu_ns += d;
	e->sum.attributed_cpu_ns += d;
	if (e->cfg.keep_slices)
		eng_trace_add_slice(tr, eng_thread_shown_tid(t), start, end);
}

/* Change t's current trace at ts; the running on-CPU interval is split here. */
void eng_thread_set_trace(struct krt_engine *e, struct thread *t, __u64 id, __u64 ts)
{
	struct trace *tr;

	if (t->cur == id)
		return;
	if (t->oncpu) {
		eng_charge(e, t, t->oncpu_since, ts);
		t->oncpu_since = ts;
	}
	if ((tr = eng_trace_find(e, t->cur)) && tr->holders)
		tr->holders--;
	if ((tr = eng_trace_find(e, id)))
		tr->holders++;
	t->cur = id;
	t->replied = false;
	t->wake_claim = false;
	t->guess = false;
	t->took_job = false;
}

/* ---------------------------------------------------------------------- */
/* Kernel tags (live)                                                      */

struct kmap_entry *eng_kmap_find(struct krt_engine *e, __u32 kid)
{
	struct kmap_entry *k = e->kmap ? &e->kmap[kid & (KMAP_SLOTS - 1)] : NULL;

	return k && kid && k->kernel_id == kid ? k : NULL;
}

/* Kernel id kid names engine trace tr from now on. */
void eng_kmap_bind(struct krt_engine *e, __u32 kid, struct trace *tr)
{
	struct kmap_entry *k;

	if (!kid || tr->kernel_id || eng_kmap_find(e, kid))
		return;
	/*
	 * Written through at once: ids are sequential, so a lazily mapped
	 * table took its 4 MiB a page at a time over the first 2^18 requests
	 * (7 minutes at 600 a second, hours at a low rate), and a service's
	 * memory looked like a leak until then. Its full size from the start.
	 */
	if (!e->kmap) {
		volatile char *page;
		size_t off;

		e->kmap = eng_xcalloc(KMAP_SLOTS, sizeof(*e->kmap));
		/* a store per page (a memset after calloc the compiler may drop) */
		page = (volatile char *)e->kmap;
		for (off = 0; off < KMAP_SLOTS * sizeof(*e->kmap); off += 4096)
			page[off] = 0;
	}
	tr->kernel_id = kid;
	tr->pub.kernel_id = kid;
	/* an id 2^18 older leaves its slot */
	k = &e->kmap[kid & (KMAP_SLOTS - 1)];
	k->kernel_id = kid;
	k->trace_id = tr->pub.id;
}

/*
 * use_kernel_tags: the engine trace of a kernel-decided id. An id never
 * seen (its ingress was lost or sampled differently) gets a trace of its
 * own, without ingress. Entries outlive their trace for a while, so a
 * straggler of an emitted trace is counted late, not made a new trace.
 */
__u64 eng_kernel_trace(struct krt_engine *e, __u32 kid, __u64 ts)
{
	struct kmap_entry *k;
	struct trace *tr;

	if (!kid)
		return 0;
	k = eng_kmap_find(e, kid);
	if (k)
		return k->trace_id;
	tr = eng_trace_new(e, ts);
	eng_kmap_bind(e, kid, tr);
	return tr->pub.id;
}

/*
 * A sampling pause: the kernel forgot every request, and may number them
 * afresh; an id of before the pause names nothing after it. The table's
 * memory stays (its pages are written in once, eng_kmap_bind).
 */
void eng_kmap_forget(struct krt_engine *e)
{
	if (e->kmap)
		memset(e->kmap, 0, KMAP_SLOTS * sizeof(*e->kmap));
}

/*
 * --debug check-tags: the rules chose trace rule where the kernel chose kt
 * (kid its id). -V names each one: which transfer, which trace each side chose.
 */
static void tag_disagreement(struct krt_engine *e, const struct krt_xfer *x, __u32 kid, __u64 rule,
			     __u64 kt, __u64 ts)
{
	e->sum.kernel_tag_disagreements++;
	eng_vlog(e, ts, NULL, 0, kt,
		 "TAGS DISAGREE on a %s: rules trace %llu, kernel trace %llu (id %u)",
		 !x			  ? "receive decided by its send"
		 : x->dir == KRT_DIR_SEND ? "send"
					  : "receive",
		 (unsigned long long)rule, (unsigned long long)kt, kid);
}

/*
 * Apply KRT_XF_TAGGED to the rules' decision (rule) for a send or receive.
 * check: compare the two now (--debug check-tags); false when the rules
 * decide later (a receive whose send is not seen yet: eng_check_kernel_tag).
 */
static __u64 apply_kernel_tag(struct krt_engine *e, const struct krt_xfer *x, __u64 rule, __u64 ts,
			      bool check)
{
	struct kmap_entry *k;
	struct trace *tr;
	__u64 kt;

	if (!(x->flags & KRT_XF_TAGGED) || !(e->cfg.use_kernel_tags || e->cfg.check_kernel_tags))
		return rule;
	if (e->cfg.use_kernel_tags) {
		kt = eng_kernel_trace(e, x->trace_id, ts);
		/* --sample: a pool feeder's unsampled request, recorded for its rules */
		if (x->flags & KRT_XF_SAMPLED_OUT && (tr = eng_trace_find(e, kt)))
			tr->hidden = true;
		if (check && e->cfg.check_kernel_tags && kt != rule)
			tag_disagreement(e, x, x->trace_id, rule, kt, ts);
		return kt;
	}
	if (!check)
		return rule;
	/* check only: the first sight of a kernel id binds it to the rules' trace */
	k = x->trace_id ? eng_kmap_find(e, x->trace_id) : NULL;
	if (!k && x->trace_id && rule && (tr = eng_trace_find(e, rule)) && !tr->kernel_id) {
		eng_kmap_bind(e, x->trace_id, tr);
		return rule;
	}
	kt = k ? k->trace_id : 0;
	if (kt != rule)
		tag_disagreement(e, x, x->trace_id, rule, kt, ts);
	return rule;
}

__u64 eng_apply_kernel_tag(struct krt_engine *e, const struct krt_xfer *x, __u64 rule, __u64 ts)
{
	return apply_kernel_tag(e, x, rule, ts, true);
}

__u64 eng_apply_kernel_tag_unchecked(struct krt_engine *e, const struct krt_xfer *x, __u64 ts)
{
	return apply_kernel_tag(e, x, 0, ts, false);
}

/*
 * --debug check-tags, late: the rules decided rule for bytes a receive read
 * before their send was seen (its kernel id kid, from its record).
 */
void eng_check_kernel_tag(struct krt_engine *e, __u32 kid, __u64 rule, __u64 ts)
{
	struct krt_xfer x = {.dir = KRT_DIR_RECV, .flags = KRT_XF_TAGGED, .trace_id = kid};
	struct kmap_entry *k;
	__u64 kt;

	e->sum.kernel_tag_late_checks++;
	if (!e->cfg.use_kernel_tags) {
		apply_kernel_tag(e, &x, rule, ts, true);
		return;
	}
	/* its trace was made (or found) at the receive; gone since: emitted, not checked */
	k = kid ? eng_kmap_find(e, kid) : NULL;
	if (kid && !k)
		return;
	kt = k ? k->trace_id : 0;
	if (kt != rule)
		tag_disagreement(e, NULL, kid, rule, kt, ts);
}

/*
 * A trace in flight when a loss is reported: a thread holds it, its reply
 * has not gone out, or it was active just before. A capture's LOST line
 * sits where its events went missing (10 ms of reach), as does an
 * import's unresolved send; the live counters are seen some time after
 * their drops (the ring holds up to a second), except a clamped record's,
 * reported right after it was handed over; an unreported loss the bytes
 * showed (a misalignment) was found at the receive after it.
 */
#define LOSS_REACH_CAPTURE_NS (10ULL * 1000 * 1000)
#define LOSS_REACH_LIVE_NS (1000ULL * 1000 * 1000)
/* a clamped record was handed over just before its report: its trace was active then */
#define LOSS_REACH_REORDER_NS (20ULL * 1000 * 1000)

static bool loss_may_touch(const struct trace *tr, __u64 ts, __u32 reason, __u64 since)
{
	__u64 reach = LOSS_REACH_LIVE_NS;

	/*
	 * A sampling pause: nothing after it is seen, so whatever was not
	 * answered yet is cut short; an answered request was whole (the
	 * window's drain let its stragglers come).
	 */
	if (reason == KRT_LOST_WINDOW)
		return !tr->answered;

	if (reason == KRT_LOST_CAPTURE || reason == KRT_LOST_UNRESOLVED ||
	    reason == KRT_LOST_UNREPORTED)
		reach = LOSS_REACH_CAPTURE_NS;
	else if (reason == KRT_LOST_REORDER)
		reach = LOSS_REACH_REORDER_NS;
	/*
	 * A clamped record's own time: the rules ran without it from then on
	 * (an event loop's send 200 ms late under load: each "oldest request
	 * not started" pick one request off, sure of it, for traces answered
	 * and ended before the report). Every trace active since may be off.
	 */
	if (reason == KRT_LOST_REORDER && since && since < ts && ts - since > reach)
		reach = ts - since + LOSS_REACH_REORDER_NS;

	return tr->holders || !tr->answered || tr->last_ns + reach >= ts;
}

/*
 * Every open trace the loss at ts may have touched says so, and so will
 * every trace that turns out to have started before it (eng_trace_new).
 */
void eng_trace_mark_loss(struct krt_engine *e, __u64 ts, __u32 reason, __u64 since)
{
	size_t i;

	if (ts > e->loss_at[reason])
		e->loss_at[reason] = ts;
	for (i = 0; i < e->n_open; i++)
		if (loss_may_touch(e->open[i], ts, reason, since))
			e->open[i]->pub.incomplete |= 1u << reason;
}

const char *krt_incomplete_name(unsigned int i)
{
	static const char *const names[KRT_INCOMPLETE_CAUSES] = {
	    [KRT_LOST_CAPTURE] = "lost_events",	       /* import: the capture's LOST lines */
	    [KRT_LOST_RING_FULL] = "ring_drop",	       /* live: ring buffer full */
	    [KRT_LOST_TABLE_FULL] = "table_full",      /* a state table at its bound */
	    [KRT_LOST_REORDER] = "reorder_clamp",      /* live: behind the reorder window */
	    [KRT_LOST_UNRESOLVED] = "unresolved_xfer", /* import: a send's connection unknown */
	    [KRT_LOST_UNREPORTED] = "unreported_loss", /* bytes misaligned, no loss reported */
	    [KRT_LOST_WINDOW] = "window",	       /* live: unanswered at a sampling pause */
	};

	return i < KRT_INCOMPLETE_CAUSES ? names[i] : NULL;
}
