/*
 * The attribution engine (docs/design.md).
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
 * Files, each calling only those below it:
 *   engine.c         the API, event dispatch, scheduling and process life
 *                    cycle, housekeeping (emission of completed traces)
 *   engine_conn.c    connections: byte matching, rules 1-3, socket state,
 *                    their own flush and pruning
 *   engine_pool.c    the thread-pool rule (rule 6): hand-off queues, takes
 *   engine_loop.c    the event-loop rule: which request a loop's send is for
 *   engine_trace.c   traces (stats, hops, slices, emission), a thread's
 *                    current trace and its CPU time, kernel tags
 *   engine_thread.c  the thread registry, addresses' identity
 *   engine_util.c    hash tables, allocation, the -V decision log
 * engine_internal.h holds the state they share; src/trace_data.h what the
 * engine hands to writers.
 */
#include "engine_internal.h"

/* ---------------------------------------------------------------------- */
/* Scheduling, process life cycle, wakeups                                */

static void on_switch(struct krt_engine *e, const struct krt_event *ev)
{
	const struct krt_switch *sw = &ev->sw;
	struct thread *prev =
	    eng_thread_listed_or_known(e, sw->prev_tid, sw->prev_pid, sw->prev_comm);
	struct thread *next =
	    eng_thread_listed_or_known(e, sw->next_tid, sw->next_pid, sw->next_comm);

	if (prev && prev->traced) {
		if (prev->oncpu) {
			eng_pool_ran(prev, prev->oncpu_since, ev->ts_ns);
			eng_charge(e, prev, prev->oncpu_since, ev->ts_ns);
			prev->oncpu = false;
		}
		/* a pool worker that took a job and did not use it gives it back */
		eng_pool_switch_out(e, prev, sw->prev_state, ev->ts_ns);
		/*
		 * The hand-back's order (engine_pool.c): preempted since its last
		 * transfer, and since it last blocked (a worker that blocked
		 * waited for something, the interpreter lock, before it queued).
		 */
		if (sw->prev_state == 0 && !prev->preempted_ns)
			prev->preempted_ns = ev->ts_ns;
		else if (sw->prev_state != 0)
			prev->preempted_ns = 0;
		if (sw->prev_state == 0 && prev->woke_ns > prev->last_xfer_ns &&
		    prev->woke_ns > prev->notified_ns)
			prev->queued_by_ns = prev->woke_ns;
		else
			prev->queued_by_ns = 0;
		/*
		 * Rule 5: answered and now blocked -> idle, not request time. A
		 * claim that came from a wakeup ends at the first block: the
		 * work item handed over is done (or waits for something that
		 * will bring its own trace). A pool worker at work on its job
		 * keeps it.
		 */
		if (sw->prev_state != 0 && prev->cur && eng_pool_at_work(prev)) {
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
		eng_pool_switch_in(e, next, ev->ts_ns);
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
		child = eng_thread_new(e, f->child_tid, f->child_pid, f->child_comm);
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
		eng_charge(e, t, t->oncpu_since, ev->ts_ns);
		t->oncpu = false;
	}
	eng_thread_set_trace(e, t, 0, e->now);
	eng_thread_forget(e, t);
}

/* Rule 6 (engine_pool.c): a wakeup inside a traced process may hand a trace on. */
static void on_wakeup(struct krt_engine *e, const struct krt_event *ev)
{
	struct thread *waker = eng_thread_listed_or_known(e, ev->tid, ev->pid, ev->comm);
	struct thread *target;

	if (!ev->tid) {
		/*
		 * Recorded in the idle task (import: sched_wakeup runs on the
		 * target's CPU when another CPU queued the wake-up there): the
		 * waker is not known, it may be a worker's reader dispatching
		 * a job (engine_pool.c).
		 */
		target = eng_thread_find(e, ev->wakeup.target_tid);
		if (target && target->notify_reader && !target->job_wake_ns &&
		    !target->job_first_ns && !target->job_remote_ns)
			target->job_remote_ns = ev->ts_ns;
		return;
	}
	if (!waker || !waker->traced || ev->wakeup.target_tid == ev->tid)
		return;
	target = eng_thread_listed_or_known(e, ev->wakeup.target_tid, ev->wakeup.target_pid, NULL);
	if (!target) {
		/* same process as a traced waker: a thread we have not seen yet */
		if (!waker->cur || !ev->wakeup.target_pid || ev->wakeup.target_pid != waker->pid)
			return;
		target = eng_thread_new(e, ev->wakeup.target_tid, ev->wakeup.target_pid, NULL);
		target->traced = true;
		target->container = waker->container;
	}
	if (!target->traced)
		return;
	if (target->notify_reader == waker->tid && !target->job_wake_ns && !target->job_first_ns)
		target->job_wake_ns = ev->ts_ns; /* a dispatch, maybe (engine_pool.c) */
	if (waker->notify_reader == target->tid)
		waker->woke_reader_ns = ev->ts_ns; /* its notification's bytes, maybe */
	eng_handoff_on_wakeup(e, waker, target, ev->ts_ns);
}

static void on_cpu(struct krt_engine *e, const struct krt_event *ev)
{
	const struct krt_cpu *c = &ev->oncpu;
	struct thread *t = eng_thread_touch(e, ev->tid, ev->pid, ev->comm);
	__u64 id = 0, start = ev->ts_ns > c->oncpu_ns ? ev->ts_ns - c->oncpu_ns : 0;
	struct trace *tr;

	if (c->trace_id == KRT_CPU_FOLLOWS) {
		/* the kernel's trace was a guess: the one decided here */
		id = t ? t->cur : 0;
	} else if (c->trace_id) {
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

static void maintenance(struct krt_engine *e)
{
	e->events_since_maint = 0;
	if (!e->cfg.linger_ns)
		return;
	/*
	 * Often (the walk is short): traces go out steadily as they complete,
	 * not in bursts of a quarter linger's worth.
	 */
	e->next_maint_ns = e->now + u64max(u64min(e->cfg.linger_ns / 4, MAINT_INTERVAL_NS), 1000);
	emit_completed(e);
	eng_conn_prune(e);
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

/*
 * A loss: which trace it touched, nobody can tell (a dropped record names
 * none), so every trace in flight now says it may be incomplete, and so
 * will every trace that turns out to have started before it (sources
 * report a loss with the newest time they saw: older events may still
 * come).
 */
static void on_lost(struct krt_engine *e, const struct krt_event *ev)
{
	__u32 reason = ev->lost.reason < KRT_INCOMPLETE_CAUSES ? ev->lost.reason : KRT_LOST_CAPTURE;

	if (reason == KRT_LOST_CAPTURE || reason == KRT_LOST_RING_FULL) {
		e->sum.lost_events += ev->lost.count;
		/* every connection's running offsets may be off from here on */
		e->loss_epoch++;
		e->loss_ns = ev->ts_ns;
	}
	eng_trace_mark_loss(e, ev->ts_ns, reason, ev->lost.since_ns);
	if (e->cfg.verbose)
		eng_vlog(
		    e, ev->ts_ns, NULL, ev->tid, 0, "LOST %llu (%s): %zu open traces incomplete",
		    (unsigned long long)ev->lost.count, krt_incomplete_name(reason), e->n_open);
}

static int cmp_trace_id(const void *a, const void *b)
{
	return eng_cmp_u64((*(struct trace *const *)a)->pub.id,
			   (*(struct trace *const *)b)->pub.id);
}

/* Every open trace goes to the writers, in id order. */
static void emit_all(struct krt_engine *e)
{
	size_t i;

	if (e->n_open)
		qsort(e->open, e->n_open, sizeof(*e->open), cmp_trace_id);
	for (i = 0; i < e->n_open; i++)
		eng_trace_emit(e, e->open[i]);
	e->n_open = 0;
}

/*
 * Windowed sampling's pause: from ts on the tracer saw nothing (its hooks
 * detached) and the kernel forgot every request; what comes next starts
 * afresh, as a tracer started then would see it, mid-traffic. Every
 * request in flight ends here (an unanswered one says so: its window's
 * drain was too short) and every piece of request state goes, so that no
 * CPU, hop or guess of before reaches a request after. The run's summary
 * stays, and so do the threads' identities (their forks are not seen
 * again) and the trace ids' sequence (ids stay unique in the run).
 */
static void on_pause(struct krt_engine *e, const struct krt_event *ev)
{
	struct thread *t;
	size_t i;

	e->sum.pauses++;
	/* no CPU across the gap: what ran until the pause is charged, then ends */
	table_for_each(&e->threads, i, t)
	{
		if (t->oncpu) {
			eng_charge(e, t, t->oncpu_since, ev->ts_ns);
			t->oncpu = false;
		}
	}
	if (e->cfg.verbose)
		eng_vlog(e, ev->ts_ns, NULL, 0, 0, "PAUSE: %zu open traces end, state forgotten",
			 e->n_open);
	eng_trace_mark_loss(e, ev->ts_ns, KRT_LOST_WINDOW, 0);
	eng_conn_flush(e); /* what waited for its send or receive never gets it */
	eng_pool_pause(e); /* workers' jobs not handed back: never settled */
	emit_all(e);	   /* hidden and provisional ones are dropped there */
	table_for_each(&e->threads, i, t) eng_thread_restart(t);
	eng_conn_forget(e);
	eng_pool_forget(e);
	eng_kmap_forget(e);
	eng_go_forget(e);
}

bool krt_engine_settled(struct krt_engine *e)
{
	/* and no event loop out of step (engine_unseen.c) */
	return eng_pool_in_step(e) && eng_loop_in_step(e);
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
		on_lost(e, ev);
		break;
	case KRT_EV_NOTIFY:
		eng_pool_notify(e, ev);
		break;
	case KRT_EV_RECV_WAIT:
		eng_on_recv_wait(e, ev);
		break;
	case KRT_EV_GO:
		eng_go_event(e, ev);
		break;
	case KRT_EV_PAUSE:
		on_pause(e, ev);
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

void krt_engine_flush(struct krt_engine *e)
{
	struct thread *t;
	size_t i;

	/* on-CPU intervals still open run until the last event */
	table_for_each(&e->threads, i, t)
	{
		if (t->oncpu) {
			eng_charge(e, t, t->oncpu_since, e->now);
			t->oncpu_since = e->now;
		}
	}
	eng_conn_flush(e);
	emit_all(e);
}

struct krt_summary *krt_engine_summary(struct krt_engine *e)
{
	return &e->sum;
}

void krt_engine_free(struct krt_engine *e)
{
	struct thread *t;
	size_t i;

	if (!e)
		return;
	table_for_each(&e->threads, i, t) free(t);
	eng_conn_free_all(e);
	for (i = 0; i < e->n_open; i++)
		eng_trace_free(e->open[i]);
	eng_table_free(&e->threads);
	eng_table_free(&e->traces);
	free(e->kmap);
	free(e->go_slots);
	free(e->open);
	for (i = 0; i < e->n_names; i++)
		free(e->names[i]);
	free(e->names);
	free(e->listed);
	free(e);
}
