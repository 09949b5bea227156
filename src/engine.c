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
 *
 * Files: engine.c (identity, threads, CPU time, wakeups, housekeeping, the
 * API), engine_conn.c (connections, byte matching, rules 1-3, hand-off
 * queues), engine_trace.c (trace assembly and emission, kernel tags),
 * engine_util.c (hash tables), engine_internal.h (shared state).
 */
#include <stdarg.h>
#include "engine_internal.h"

/* ---------------------------------------------------------------------- */
/* Small helpers                                                           */

static const char *intern(struct krt_engine *e, const char *name)
{
	size_t i;

	if (!name || !*name)
		return "";
	for (i = 0; i < e->n_names; i++)
		if (!strcmp(e->names[i], name))
			return e->names[i];
	e->names = eng_xrealloc(e->names, (e->n_names + 1) * sizeof(*e->names));
	e->names[e->n_names] = strdup(name);
	if (!e->names[e->n_names]) {
		fprintf(stderr, "krtrace: engine: out of memory\n");
		abort();
	}
	return e->names[e->n_names++];
}

bool eng_is_gateway(const struct krt_engine *e, const struct krt_addr *a)
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
	e->listed = eng_xcalloc(cap, sizeof(*e->listed));
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

const struct krt_container *eng_container_by_ip(struct krt_engine *e, const struct krt_addr *ip,
						size_t *count)
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

static const char *trace_colors[] = {"\033[32m", "\033[33m", "\033[34m",
				     "\033[35m", "\033[36m", "\033[91m"};

/*
 * One line: "  SECS.USECS comm[tid] <what>". A trace id mentioned by the
 * line colours it (same colour for the same trace) with -C.
 */
void eng_vlog(struct krt_engine *e, __u64 ts, const struct thread *t, __u32 tid, __u64 trace,
	      const char *fmt, ...)
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
/* Threads                                                                 */

static bool thread_eq(const void *obj, const void *key)
{
	return ((const struct thread *)obj)->tid == *(const __u32 *)key;
}

struct thread *eng_thread_find(struct krt_engine *e, __u32 tid)
{
	if (!tid)
		return NULL;
	return eng_table_find(&e->threads, mix64(tid), &tid, thread_eq);
}

static struct thread *thread_new(struct krt_engine *e, __u32 tid, __u32 pid, const char *comm)
{
	struct thread *t = eng_xcalloc(1, sizeof(*t));
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
			t->pid = tid; /* a listed pid is a process: tgid == tid */
	} else if ((c = listed_find(e, pid))) {
		t->container = intern(e, c->name);
	}
	eng_table_insert(&e->threads, mix64(tid), t);
	return t;
}

/*
 * The current task of a non-SWITCH event: traced by definition (sources
 * already filter), created on first sight.
 */
struct thread *eng_thread_touch(struct krt_engine *e, __u32 tid, __u32 pid, const char *comm)
{
	struct thread *t;

	if (!tid)
		return NULL;
	t = eng_thread_find(e, tid);
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
	t = eng_thread_find(e, tid);
	if (t)
		return t;
	if (listed_find(e, tid) || listed_find(e, pid)) {
		t = thread_new(e, tid, pid, comm);
		t->traced = true;
	}
	return t;
}

/* Import fallback: the container whose IP is the thread's local socket IP. */
void eng_thread_container_by_ip(struct krt_engine *e, struct thread *t,
				const struct krt_addr *local)
{
	const struct krt_container *c;
	size_t n;

	if (t->container[0] || krt_ip_eq(&t->ip_checked, local))
		return;
	t->ip_checked = *local;
	c = eng_container_by_ip(e, local, &n);
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
	tr = t->cur ? eng_trace_live(e, t->cur) : NULL;
	if (!tr) {
		e->sum.unattributed_cpu_ns += d;
		return;
	}
	eng_trace_thread(tr, t, start, end)->cpu_ns += d;
	e->sum.attributed_cpu_ns += d;
	if (e->cfg.keep_slices)
		eng_trace_add_slice(tr, t->tid, start, end);
}

/* Change t's current trace at ts; the running on-CPU interval is split here. */
void eng_thread_set_trace(struct krt_engine *e, struct thread *t, __u64 id, __u64 ts)
{
	struct trace *tr;

	if (t->cur == id)
		return;
	if (t->oncpu) {
		charge(e, t, t->oncpu_since, ts);
		t->oncpu_since = ts;
	}
	if ((tr = eng_trace_find(e, t->cur)) && tr->holders)
		tr->holders--;
	if ((tr = eng_trace_find(e, id)))
		tr->holders++;
	t->cur = id;
	t->replied = false;
	t->wake_claim = false;
	t->took_job = false;
}

void eng_thread_add_entry(struct thread *t, __u64 trace, __u64 dir_serial)
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

bool eng_thread_has_entry(const struct thread *t, __u64 trace, __u64 dir_serial)
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
	eng_thread_set_trace(e, t, 0, e->now);
	eng_table_remove(&e->threads, mix64(t->tid), t);
	free(t);
}

/* ---------------------------------------------------------------------- */
/* Scheduling, process life cycle, wakeups                                */

static void on_switch(struct krt_engine *e, const struct krt_event *ev)
{
	const struct krt_switch *sw = &ev->sw;
	struct thread *prev = thread_listed_or_known(e, sw->prev_tid, sw->prev_pid, sw->prev_comm);
	struct thread *next = thread_listed_or_known(e, sw->next_tid, sw->next_pid, sw->next_comm);

	if (prev && prev->traced) {
		if (prev->oncpu) {
			if (prev->took_job && ev->ts_ns > prev->oncpu_since)
				prev->took_cpu_ns += ev->ts_ns - prev->oncpu_since;
			charge(e, prev, prev->oncpu_since, ev->ts_ns);
			prev->oncpu = false;
		}
		/*
		 * Rule 5: answered and now blocked -> idle, not request time. A
		 * claim that came from a wakeup ends at the first block: the
		 * work item handed over is done (or waits for something that
		 * will bring its own trace).
		 */
		if (prev->cur && prev->took_job && !prev->claim_active &&
		    prev->took_cpu_ns < DEQUEUE_MAX_NS) {
			/*
			 * Took a job and leaves the CPU before it could have
			 * dequeued: blocked (queue empty, or its lock taken) or
			 * preempted (often by the next woken worker, which then
			 * dequeues first). The job is still the queue's oldest;
			 * a preempted worker takes again when it runs.
			 */
			struct thread *f = eng_thread_find(e, prev->feeder);
			struct trace *tr = eng_trace_find(e, prev->cur);

			if (f && tr && !tr->answered)
				eng_handoff_return(f, prev->cur);
			eng_vlog(e, ev->ts_ns, prev, prev->tid, prev->cur,
				 "SWITCH out %s before using trace %llu (%llu ns on CPU): back to "
				 "the queue",
				 sw->prev_state ? "blocked" : "preempted",
				 (unsigned long long)prev->cur,
				 (unsigned long long)prev->took_cpu_ns);
			eng_thread_set_trace(e, prev, 0, ev->ts_ns);
			if (!sw->prev_state)
				prev->take_on_run = true;
		}
		/*
		 * A worker that ran a while with its job and blocks (another
		 * lock: malloc's, a log's) is still at work on it.
		 */
		if (sw->prev_state != 0 && prev->cur && !prev->replied && prev->took_job &&
		    prev->took_cpu_ns >= DEQUEUE_MAX_NS) {
			eng_vlog(e, ev->ts_ns, prev, prev->tid, prev->cur,
				 "SWITCH out blocked: keeps trace %llu (at work: %llu ns on CPU)",
				 (unsigned long long)prev->cur,
				 (unsigned long long)prev->took_cpu_ns);
		} else if (sw->prev_state != 0 && prev->cur &&
			   (prev->replied || prev->wake_claim)) {
			eng_vlog(e, ev->ts_ns, prev, prev->tid, prev->cur,
				 "SWITCH out blocked: trace %llu claim ended",
				 (unsigned long long)prev->cur);
			eng_thread_set_trace(e, prev, 0, ev->ts_ns);
		}
	}
	if (next && next->traced) {
		next->oncpu = true;
		next->oncpu_since = ev->ts_ns;
		if (next->take_on_run) {
			next->take_on_run = false;
			if (!next->cur)
				eng_worker_take(e, next, ev->ts_ns, "runs after a wakeup");
		}
	}
}

static void on_fork(struct krt_engine *e, const struct krt_event *ev)
{
	const struct krt_fork *f = &ev->fork;
	__u32 ptid = f->parent_tid ? f->parent_tid : ev->tid;
	struct thread *parent = eng_thread_touch(e, ptid, f->parent_pid ? f->parent_pid : ev->pid,
						 ptid == ev->tid ? ev->comm : NULL);
	struct thread *child;

	if (!f->child_tid)
		return;
	child = eng_thread_find(e, f->child_tid);
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
	struct thread *t = eng_thread_find(e, ev->tid);

	if (!t)
		return;
	if (t->oncpu) {
		charge(e, t, t->oncpu_since, ev->ts_ns);
		t->oncpu = false;
	}
	thread_free(e, t);
}

/*
 * Rule 6, hand-off by scheduler causality. A wakeup passes a trace only to
 * a target between requests (none held, its claim ended, or it answered);
 * a target at work keeps its trace: a wakeup is a weaker signal than bytes
 * received (futexes also wake for locks, timers and unrelated queues), so it
 * never overrides, and the overlap is counted as a conflict.
 *
 * Thread pools (a waker that read requests it has neither answered nor
 * handed on: its queue, oldest first):
 *  - the woken worker takes the queue's oldest request when it runs, not at
 *    the wakeup (condvar wakeups go to any worker, and the first to run
 *    dequeues first); a worker's wakeup by its feeder or a sibling worker
 *    (the queue's lock released) lets it take again;
 *  - a worker that answered and goes on without sleeping takes the oldest
 *    right after its reply;
 *  - a worker that leaves the CPU within DEQUEUE_MAX_NS of CPU time after a
 *    take, having sent nothing, did not dequeue (queue empty, lock taken,
 *    preempted by the next worker): the request goes back to the head;
 *  - the reply settles it: a worker answering another request than the one
 *    it was thought to hold moves its work since the take to the answered
 *    request (eng_trace_move_job).
 * Without a queue, the waker's current trace passes (run_in_executor).
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
	/*
	 * A worker that worked on a job without sending anything and blocked
	 * is between requests when its feeder, with requests queued, wakes it
	 * (a lock it waited on mid-job is rarely released by the feeder just
	 * as requests wait in the queue).
	 */
	if (target->cur && target->took_job && !target->claim_active && !target->replied &&
	    !target->oncpu && target->feeder == waker->tid && waker->n_handoff) {
		eng_vlog(e, ev->ts_ns, target, target->tid, target->cur,
			 "woken by its feeder with requests queued: done with trace %llu",
			 (unsigned long long)target->cur);
		eng_thread_set_trace(e, target, 0, ev->ts_ns);
	}
	/*
	 * A worker known to answer its feeder's clients takes its request
	 * when it runs: several woken workers race for the queue, and the
	 * wakeup order is not the order they dequeue; the first to run
	 * takes the oldest. A sibling worker's wakeup (the queue's lock
	 * released) lets it retry. The wakeup may come just before the
	 * worker blocks, still holding its last request: it takes the next
	 * one when it runs again.
	 */
	if (target->feeder && (target->feeder == waker->tid || target->feeder == waker->feeder)) {
		__u64 ran = target->took_cpu_ns;

		if (target->oncpu && ev->ts_ns > target->oncpu_since)
			ran += ev->ts_ns - target->oncpu_since;
		target->take_on_run = true;
		if (!target->cur || target->replied ||
		    (target->took_job && !target->claim_active && ran < DEQUEUE_MAX_NS))
			return;
	}
	if (target->cur) {
		if (waker->cur && target->cur != waker->cur) {
			e->sum.wakeup_conflicts++;
			eng_vlog(e, ev->ts_ns, waker, waker->tid, waker->cur,
				 "WAKEUP %s[%u] keeps trace %llu (conflict)",
				 target->comm[0] ? target->comm : "?", target->tid,
				 (unsigned long long)target->cur);
		}
		return;
	}
	if (waker->n_handoff) {
		/*
		 * The waker queued requests it read: the woken thread takes
		 * the oldest when it runs (first job of a pool worker, too).
		 */
		unsigned int i;

		target->feeder = waker->tid;
		target->take_on_run = true;
		for (i = 0; i < waker->n_handoff; i++)
			if (waker->handoff[i] == waker->cur)
				waker->replied = true; /* handed its current request */
		eng_vlog(e, ev->ts_ns, waker, waker->tid, waker->cur,
			 "WAKEUP %s[%u]: takes the oldest queued request when it runs",
			 target->comm[0] ? target->comm : "?", target->tid);
		return;
	}
	pick = waker->cur;
	if (!pick)
		return;
	eng_thread_set_trace(e, target, pick, ev->ts_ns);
	target->wake_claim = true;
	target->claim_active = false;
	/* handed over its current request: idle once it blocks (rule 5) */
	if (pick == waker->cur)
		waker->replied = true;
	eng_vlog(e, ev->ts_ns, waker, waker->tid, pick, "WAKEUP %s[%u] => trace %llu (hand-off)",
		 target->comm[0] ? target->comm : "?", target->tid, (unsigned long long)pick);
}

static void on_cpu(struct krt_engine *e, const struct krt_event *ev)
{
	const struct krt_cpu *c = &ev->oncpu;
	struct thread *t = eng_thread_touch(e, ev->tid, ev->pid, ev->comm);
	__u64 id = 0, start = ev->ts_ns > c->oncpu_ns ? ev->ts_ns - c->oncpu_ns : 0;
	struct trace *tr;

	if (c->trace_id) {
		struct kmap_entry *k = eng_kmap_find(e, c->trace_id);

		if (k)
			id = k->trace_id;
		else if (e->cfg.use_kernel_tags)
			id = eng_kernel_trace(e, c->trace_id, ev->ts_ns);
		else if (t)
			id = t->cur; /* no kernel mapping: the rules' trace */
	}
	tr = id ? eng_trace_live(e, id) : NULL;
	if (!tr || !t) {
		e->sum.unattributed_cpu_ns += c->oncpu_ns;
		return;
	}
	eng_trace_thread(tr, t, start, ev->ts_ns);
	for (size_t i = 0; i < tr->pub.n_threads; i++) {
		if (tr->pub.threads[i].tid == t->tid) {
			tr->pub.threads[i].cpu_ns += c->oncpu_ns;
			tr->pub.threads[i].runq_ns += c->runq_ns;
			break;
		}
	}
	e->sum.attributed_cpu_ns += c->oncpu_ns;
	if (e->cfg.keep_slices && c->oncpu_ns)
		eng_trace_add_slice(tr, t->tid, start, ev->ts_ns);
}

/* ---------------------------------------------------------------------- */
/* Housekeeping: linger emission and pruning                               */

/*
 * open[] is in creation order, and a trace created less than a linger ago
 * cannot have been idle that long: the walk stops at the first such trace,
 * so it costs the traces due and the few long-held ones, not every open
 * trace (tens of thousands at a few thousand requests/s).
 */
static void emit_completed(struct krt_engine *e)
{
	size_t i, k = 0;

	for (i = 0; i < e->n_open; i++) {
		struct trace *tr = e->open[i];
		__u64 idle = e->now > tr->last_ns ? e->now - tr->last_ns : 0;

		if (tr->created_ns + e->cfg.linger_ns > e->now)
			break;
		if ((tr->holders == 0 && idle >= e->cfg.linger_ns) ||
		    idle >= u64max(HELD_TRACE_MAX_IDLE_NS, e->cfg.linger_ns * 10))
			eng_trace_emit(e, tr);
		else
			e->open[k++] = tr;
	}
	if (k < i)
		memmove(&e->open[k], &e->open[i], (e->n_open - i) * sizeof(*e->open));
	e->n_open = k + (e->n_open - i);
}

static void prune_dirs(struct krt_engine *e)
{
	__u64 limit = u64max(DIR_IDLE_NS, e->cfg.linger_ns * 10);
	struct dir *d;
	size_t i;

	if (e->now < limit)
		return;
	table_for_each(&e->dirs, i, d)
	{
		/* the pair is visited twice; decide on the lower serial */
		if (d->serial > d->rev->serial)
			continue;
		if (d->last_ns + limit < e->now && d->rev->last_ns + limit < e->now) {
			if (d->q_len)
				e->sum.dropped_segments += d->q_len;
			if (d->rev->q_len)
				e->sum.dropped_segments += d->rev->q_len;
			eng_dir_free_pair(e, d);
		}
	}
	/* deleted slots pile up in a long run: rebuild when they dominate */
	if (e->dirs.tombs > e->dirs.cap / 4)
		eng_table_resize(&e->dirs, e->dirs.cap);
}

static void maintenance(struct krt_engine *e)
{
	struct dir *d;
	size_t i;

	e->events_since_maint = 0;
	if (!e->cfg.linger_ns)
		return;
	/*
	 * Often (the walk is short): traces go out steadily as they complete,
	 * not in bursts of a quarter linger's worth.
	 */
	e->next_maint_ns = e->now + u64max(u64min(e->cfg.linger_ns / 4, MAINT_INTERVAL_NS), 1000);
	emit_completed(e);
	if (e->now - e->last_dir_prune_ns >= 1000000000ULL) {
		e->last_dir_prune_ns = e->now;
		table_for_each(&e->dirs, i, d) eng_pending_expire(e, d, e->now, false);
		prune_dirs(e);
	}
}

/* ---------------------------------------------------------------------- */
/* API                                                                     */

struct krt_engine *krt_engine_new(const struct krt_engine_config *cfg)
{
	struct krt_engine *e = eng_xcalloc(1, sizeof(*e));

	e->cfg = *cfg;
	krt_addr_unmap_v4(&e->cfg.gateway);
	eng_table_init(&e->threads);
	eng_table_init(&e->dirs);
	eng_table_init(&e->traces);
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
		eng_on_xfer(e, ev);
		break;
	case KRT_EV_SOCK_STATE:
		eng_on_sock_state(e, ev);
		break;
	case KRT_EV_WAKEUP:
		on_wakeup(e, ev);
		break;
	case KRT_EV_CPU:
		on_cpu(e, ev);
		break;
	case KRT_EV_LOST:
		e->sum.lost_events += ev->lost.count;
		/* every connection's running offsets may be off from here on */
		e->loss_epoch++;
		e->loss_ns = ev->ts_ns;
		if (e->cfg.verbose)
			eng_vlog(e, ev->ts_ns, NULL, ev->tid, 0, "LOST %llu events",
				 (unsigned long long)ev->lost.count);
		break;
	default:
		break;
	}
	/*
	 * Housekeeping on event time, not every few thousand events: each
	 * run used to walk every open trace (with a 5 s linger, tens of
	 * thousands, each a cache miss: 8 % of the live reader's CPU).
	 */
	if (e->cfg.linger_ns && ++e->events_since_maint >= 64 && e->now >= e->next_maint_ns)
		maintenance(e);
}

static int cmp_trace_id(const void *a, const void *b)
{
	return eng_cmp_u64((*(struct trace *const *)a)->pub.id,
			   (*(struct trace *const *)b)->pub.id);
}

void krt_engine_flush(struct krt_engine *e)
{
	struct thread *t;
	struct dir *d;
	size_t i;

	/* on-CPU intervals still open run until the last event */
	table_for_each(&e->threads, i, t)
	{
		if (t->oncpu) {
			charge(e, t, t->oncpu_since, e->now);
			t->oncpu_since = e->now;
		}
	}
	table_for_each(&e->dirs, i, d)
	{
		eng_pending_expire(e, d, e->now, true);
		for (__u32 j = 0; j < d->q_len; j++) {
			struct segment *s = eng_seg_at(d, j);

			eng_seg_drop(e, d, s);
			s->used = s->len; /* counted once */
		}
	}
	if (e->n_open)
		qsort(e->open, e->n_open, sizeof(*e->open), cmp_trace_id);
	for (i = 0; i < e->n_open; i++)
		eng_trace_emit(e, e->open[i]);
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
	size_t i;

	if (!e)
		return;
	table_for_each(&e->threads, i, t) free(t);
	table_for_each(&e->dirs, i, d)
	{
		free(d->q);
		free(d);
	}
	for (i = 0; i < e->n_open; i++)
		eng_trace_free(e->open[i]);
	eng_table_free(&e->threads);
	eng_table_free(&e->dirs);
	eng_table_free(&e->traces);
	free(e->kmap);
	free(e->open);
	for (i = 0; i < e->n_names; i++)
		free(e->names[i]);
	free(e->names);
	free(e->listed);
	free(e);
}
