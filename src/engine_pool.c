/*
 * The thread-pool rule (docs/design.md, "Rule 6: hand-offs and thread
 * pools"), all of it: a front end's queue of requests it read and has
 * neither answered nor handed on (handoff), the wakeups that hand them to
 * workers, a worker's take of the oldest job when it runs or right after
 * a reply, the job given back when the worker leaves the CPU before it
 * could have dequeued, and the reply that settles which job it had
 * (eng_trace_move_job). Uses threads and traces; connections call it.
 */
#include <stdint.h>
#include "engine_internal.h"

void eng_handoff_remove(struct thread *t, __u64 trace)
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

void eng_handoff_push(struct thread *t, __u64 trace)
{
	/* a new request's id is above every listed one: nothing to remove */
	if (trace <= t->handoff_max)
		eng_handoff_remove(t, trace);
	if (t->n_handoff == HANDOFF_MAX)
		eng_handoff_remove(t, t->handoff[0]);
	t->handoff[t->n_handoff++] = trace;
	t->handoff_max = u64max(t->handoff_max, trace);
}

/*
 * Trace id was offered to thread to (woken while it was queued), or taken
 * by it: to may hold its work from now on.
 */
static void offer_note(struct krt_engine *e, __u64 id, const struct thread *to, __u64 ts)
{
	struct trace *tr = eng_trace_find(e, id);
	unsigned int i;

	if (!tr || !to)
		return;
	if (!tr->n_offer && !tr->offer_many)
		tr->offer_ns = ts;
	for (i = 0; i < tr->n_offer; i++)
		if (tr->offer_tids[i] == to->tid)
			return;
	if (tr->n_offer < sizeof(tr->offer_tids) / sizeof(tr->offer_tids[0]))
		tr->offer_tids[tr->n_offer++] = to->tid;
	else
		tr->offer_many = true;
}

/*
 * The oldest request thread f read and nobody took or answered yet. With
 * none queued, a request f handed by wakeup to a worker that has not
 * touched it yet: the woken worker lost the race for the queue to the
 * running thread asking now (taker, not NULL).
 */
__u64 eng_handoff_pick(struct krt_engine *e, struct thread *f, struct thread *taker, __u64 ts)
{
	unsigned int i;

	while (f->n_handoff) {
		__u64 id = f->handoff[0];
		struct trace *tr = eng_trace_find(e, id);

		eng_handoff_remove(f, id);
		if (tr && !tr->answered) {
			tr->handoff_from = f->tid;
			return id;
		}
	}
	for (i = 0; taker && i < HANDED_MAX; i++) {
		unsigned int k = (f->handed_next + i) % HANDED_MAX; /* oldest first */
		struct thread *w;
		__u64 id = f->handed[k].trace;

		if (!id || f->handed[k].tid == taker->tid)
			continue;
		w = eng_thread_find(e, f->handed[k].tid);
		if (w && w->cur == id && w->wake_claim && !w->claim_active) {
			struct trace *tr = eng_trace_find(e, id);

			if (tr)
				tr->handoff_from = f->tid;
			offer_note(e, id, taker, ts);
			f->handed[k].trace = 0;
			eng_thread_set_trace(e, w, 0, ts);
			return id;
		}
	}
	return 0;
}

/* A job taken but not used goes back to the head of f's queue. */
void eng_handoff_return(struct thread *f, __u64 trace)
{
	eng_handoff_remove(f, trace);
	if (f->n_handoff == HANDOFF_MAX)
		f->n_handoff--; /* the newest falls off */
	memmove(&f->handoff[1], &f->handoff[0], f->n_handoff * sizeof(f->handoff[0]));
	f->handoff[0] = trace;
	f->n_handoff++;
	f->handoff_max = u64max(f->handoff_max, trace);
}

/*
 * Pool worker t dequeues now (it runs after a wakeup, or goes on right
 * after a reply): the oldest job of its feeder's queue, tentatively until
 * it sends (rule 6).
 */
bool eng_worker_take(struct krt_engine *e, struct thread *t, __u64 ts, const char *why)
{
	struct thread *f = t->feeder ? eng_thread_find(e, t->feeder) : NULL;
	__u64 pick = f ? eng_handoff_pick(e, f, NULL, ts) : 0;

	if (!pick)
		return false;
	offer_note(e, pick, t, ts);
	eng_thread_set_trace(e, t, pick, ts);
	t->guess = true;
	/* until t uses it, a worker asking while running may take it over */
	eng_handed_remember(f, t->tid, pick);
	t->wake_claim = true;
	t->claim_active = false;
	t->took_job = true;
	t->took_cpu_ns = 0;
	t->job_trace = pick;
	t->job_ts = ts;
	eng_vlog(e, ts, t, t->tid, pick, "takes trace %llu from %s[%u] (%s)",
		 (unsigned long long)pick, f->comm, f->tid, why);
	return true;
}

void eng_handed_remember(struct thread *f, __u32 tid, __u64 trace)
{
	f->handed[f->handed_next].tid = tid;
	f->handed[f->handed_next].trace = trace;
	f->handed_next = (f->handed_next + 1) % HANDED_MAX;
}

/* The thread of t's container that read the last request. */
void eng_reader_remember(struct krt_engine *e, struct thread *t)
{
	unsigned int i;

	if (!t->container[0])
		return;
	for (i = 0; i < e->n_readers; i++) {
		if (e->readers[i].container == t->container) {
			e->readers[i].tid = t->tid;
			return;
		}
	}
	if (e->n_readers < MAX_READERS) {
		e->readers[e->n_readers].container = t->container;
		e->readers[e->n_readers++].tid = t->tid;
	}
}

/*
 * A thread with no trace and no known feeder sends for some request: at
 * the start of a capture, a pool worker's first job. If its container's
 * request reader holds a request it did nothing with itself (it only
 * reads and queues), that is the job: the oldest such request.
 */
static void orphan_takes(struct krt_engine *e, struct thread *t, __u64 ts)
{
	struct thread *f = NULL;
	unsigned int i;

	for (i = 0; i < e->n_readers && !f; i++)
		if (e->readers[i].container == t->container && e->readers[i].tid != t->tid)
			f = eng_thread_find(e, e->readers[i].tid);
	if (!f)
		return;
	for (i = 0; i < f->n_handoff; i++) {
		__u64 id = f->handoff[i];
		struct trace *tr = eng_trace_find(e, id);

		if (tr && !tr->answered && (tr->pub.ingress.tid != f->tid || !tr->ingress_acted)) {
			eng_handoff_remove(f, id);
			tr->handoff_from = f->tid;
			offer_note(e, id, t, ts);
			eng_thread_set_trace(e, t, id, ts);
			t->wake_claim = true;
			t->guess = true;
			t->feeder = f->tid;
			/*
			 * The first to send is not always the first that
			 * dequeued: its reply settles which job it had.
			 */
			t->job_trace = id;
			t->job_ts = ts - 1;
			eng_vlog(e, ts, t, t->tid, id, "takes trace %llu from %s[%u] (first job)",
				 (unsigned long long)id, f->comm, f->tid);
			return;
		}
	}
}

/*
 * --sample: thread t sends, not as a reply, a record the kernel flags as
 * maybe an unsampled request's work (KRT_XF_MAYBE_UNSAMPLED): the queue
 * it takes jobs from also holds requests the engine never sees, so its
 * feeder's queue here says nothing of which job it has. A worker that
 * answers its feeder's clients itself works on a provisional trace of its
 * own, one per job (serial: the kernel counts the jobs it began on a
 * guess); its reply names the request and moves the job there
 * (eng_pool_reply_sent), and a job no recorded reply names was an
 * unsampled request's: never emitted. False: not such a worker.
 */
bool eng_pool_sampled_job(struct krt_engine *e, struct thread *t, __u32 serial, __u64 ts)
{
	struct trace *cur = eng_trace_find(e, t->cur), *p;

	if (!t->answers_feeder)
		return false;
	if (cur && cur->provisional && t->sampled_job == serial && !t->replied)
		return true;
	p = eng_trace_new_provisional(e, ts);
	eng_thread_set_trace(e, t, p->pub.id, ts);
	t->sampled_job = serial;
	t->replied = false;
	t->guess = true;
	t->wake_claim = false;
	t->claim_active = true;
	t->took_job = false;
	t->job_trace = p->pub.id;
	t->job_ts = ts - 1;
	eng_vlog(e, ts, t, t->tid, 0, "begins job %u on a guess (sampling): provisional trace",
		 serial);
	return true;
}

/*
 * Thread t sends, not as a reply on a connection it serves: a pool worker
 * done with its request that sends for a new one without having slept
 * took the next job from its feeder's queue without a wakeup; a thread
 * with no trace and no feeder may be a worker's first job (orphan_takes).
 */
/*
 * Nothing left in f's queue, yet worker taker sends for a job: a sibling
 * took its request (woken first, it dequeued another). The oldest request
 * f handed out lately and nobody answered is the guess, shared with the
 * sibling holding it: the replies settle who had which.
 */
static __u64 handed_guess(struct krt_engine *e, struct thread *f, struct thread *taker)
{
	unsigned int i;

	for (i = 0; i < HANDED_MAX; i++) {
		unsigned int k = (f->handed_next + i) % HANDED_MAX; /* oldest first */
		__u64 id = f->handed[k].trace;
		struct trace *tr;

		if (!id || f->handed[k].tid == taker->tid)
			continue;
		tr = eng_trace_find(e, id);
		if (tr && !tr->answered)
			return id;
	}
	return 0;
}

void eng_pool_send_begins(struct krt_engine *e, struct thread *t, __u64 ts)
{
	if (t->runs_goroutines)
		return; /* no pool: the kernel swaps its trace with its goroutines */
	if (t->feeder && (!t->cur || t->replied)) {
		struct thread *f = eng_thread_find(e, t->feeder);
		__u64 pick = f ? eng_handoff_pick(e, f, t, ts) : 0;

		if (!pick && f && t->answers_feeder)
			pick = handed_guess(e, f, t);
		if (pick) {
			offer_note(e, pick, t, ts);
			eng_thread_set_trace(e, t, pick, ts);
			t->wake_claim = true;
			t->guess = true;
			t->job_trace = pick;
			t->job_ts = ts - 1;
			eng_vlog(e, ts, t, t->tid, pick,
				 "takes trace %llu from %s[%u] (hand-off, no wakeup)",
				 (unsigned long long)pick, f->comm, f->tid);
		}
	}
	if (!t->cur && !t->feeder && t->container[0])
		orphan_takes(e, t, ts);
}

/*
 * Thread t replied to a client of the gateway with trace tag, on the
 * connection thread reader read the request from. True when t, a worker
 * that does not sleep, dequeues its next job right after its reply.
 */
bool eng_pool_reply_sent(struct krt_engine *e, struct thread *t, __u64 tag, __u32 reader)
{
	/*
	 * A pool worker's reply names the job it really dequeued: what it did
	 * since it took another one belongs to this request.
	 */
	struct trace *job = eng_trace_find(e, t->job_trace);

	/*
	 * A Go thread is no pool worker: the goroutine that answered is not
	 * the one that did the thread's earlier work, and the kernel tagged
	 * each transfer with its goroutine's trace already (moving them
	 * would undo that).
	 */
	if (t->runs_goroutines) {
		t->job_trace = 0;
		if (tag == t->cur) {
			t->replied = true;
			eng_handoff_remove(t, tag);
		}
		return false;
	}
	if (t->job_trace && t->job_trace != tag &&
	    ((t->feeder && t->feeder == reader) || (job && job->provisional))) {
		struct thread *f = eng_thread_find(e, t->feeder);
		struct trace *was = job;

		eng_trace_move_job(e, t, t->job_trace, tag, t->job_ts, ~0ULL);
		/*
		 * The job it was thought to hold is still in the queue: another
		 * worker dequeues it (at the start of a capture, one never seen
		 * before, which sends with no trace). Not a provisional one.
		 */
		if (f && was && !was->answered && !was->provisional)
			eng_handoff_return(f, t->job_trace);
	}
	t->job_trace = 0;
	/* another thread answers what this one read: it is fed by it */
	if (reader && reader != t->tid) {
		struct thread *r = eng_thread_find(e, reader);

		t->feeder = reader;
		t->answers_feeder = true;
		if (r)
			r->feeds = true;
	}
	/*
	 * Answering its own request, or (a pool worker) any request of its
	 * feeder, ends the job: whatever trace the worker held (possibly a
	 * wrong guess) is done with once it blocks.
	 */
	if (tag == t->cur || (t->feeder && t->feeder == reader)) {
		t->replied = true;
		eng_handoff_remove(t, tag);
	}
	return t->answers_feeder && t->feeder == reader;
}

/* A pool worker ran [since, now) on CPU: its time since it took its job. */
void eng_pool_ran(struct thread *t, __u64 since, __u64 now)
{
	if (t->took_job && now > since)
		t->took_cpu_ns += now - since;
}

/*
 * Worker t leaves the CPU (state 0: preempted). Took a job and leaves
 * before it could have dequeued: blocked (queue empty, or its lock taken)
 * or preempted (often by the next woken worker, which then dequeues
 * first). The job is still the queue's oldest; a preempted worker takes
 * again when it runs.
 */
void eng_pool_switch_out(struct krt_engine *e, struct thread *t, __s64 state, __u64 ts)
{
	struct thread *f;
	struct trace *tr;

	if (!t->cur || !t->took_job || t->claim_active || t->took_cpu_ns >= DEQUEUE_MAX_NS)
		return;
	f = eng_thread_find(e, t->feeder);
	tr = eng_trace_find(e, t->cur);
	if (f && tr && !tr->answered)
		eng_handoff_return(f, t->cur);
	eng_vlog(e, ts, t, t->tid, t->cur,
		 "SWITCH out %s before using trace %llu (%llu ns on CPU): back to the queue",
		 state ? "blocked" : "preempted", (unsigned long long)t->cur,
		 (unsigned long long)t->took_cpu_ns);
	eng_thread_set_trace(e, t, 0, ts);
	if (!state)
		t->take_on_run = true;
}

/*
 * A worker that ran a while with its job and blocks (another lock:
 * malloc's, a log's) is still at work on it: its claim does not end.
 */
bool eng_pool_at_work(const struct thread *t)
{
	return !t->replied && t->took_job && t->took_cpu_ns >= DEQUEUE_MAX_NS;
}

/* Worker t runs: woken for a job, it dequeues now. */
void eng_pool_switch_in(struct krt_engine *e, struct thread *t, __u64 ts)
{
	if (!t->take_on_run)
		return;
	t->take_on_run = false;
	if (!t->cur)
		eng_worker_take(e, t, ts, "runs after a wakeup");
}

/*
 * Threads of one process (import knows processes by container only): an
 * ftrace capture also records the wake-up of a receiver by a sender in
 * another container (the socket's data delivered in the sender's context).
 */
static bool same_process(const struct thread *a, const struct thread *b)
{
	if (a->pid && b->pid && a->pid != a->tid && b->pid != b->tid)
		return a->pid == b->pid;
	return a->container[0] && a->container == b->container;
}

/*
 * Thread t sends bytes of trace tag, not as a reply: it works on that
 * request itself (a downstream call), not one it queues for a pool. Its
 * wake-ups of sibling threads were for a lock (a runtime's global lock,
 * an allocator's), not hand-offs of this request. (An event loop works on
 * several requests in turn: the send's tag names the one.) Returns the
 * doubt of the send: a guess of the pool rules not confirmed yet.
 */
/* The reader of tr works on it itself: it was not handed to a pool. */
static void offer_withdrawn(struct trace *tr)
{
	tr->handoff_from = 0;
	tr->n_offer = 0;
	tr->offer_many = false;
}

/*
 * None of the threads tr was offered to or taken by made a transfer since
 * (a background thread's wake-up: redis's for jemalloc's or its bio
 * threads; a lock's): nobody else worked on it.
 */
static bool offer_untaken(struct krt_engine *e, const struct trace *tr)
{
	unsigned int i;

	if (tr->offer_many)
		return false;
	for (i = 0; i < tr->n_offer; i++) {
		const struct thread *w = eng_thread_find(e, tr->offer_tids[i]);

		if (w && w->last_xfer_ns >= tr->offer_ns)
			return false;
	}
	return true;
}

__u32 eng_pool_acts(struct krt_engine *e, struct thread *t, __u64 tag)
{
	struct trace *tr = eng_trace_find(e, tag);

	eng_handoff_remove(t, tag);
	if (tr && tr->handoff_from == t->tid)
		offer_withdrawn(tr);
	return tag == t->cur && t->guess ? KRT_UNCERTAIN_HANDOFF : 0;
}

/*
 * Thread t answered request tr, whose request bytes were sure, on the
 * request's own connection: the reply names the request, so the guesses
 * that put t's work in tr are settled; a sibling of the thread that
 * offered tr to a pool took it (import knows processes by container only).
 */
void eng_pool_settled(struct krt_engine *e, struct thread *t, struct trace *tr)
{
	struct thread *f = eng_thread_find(e, tr->handoff_from);

	eng_trace_settle(tr, t->tid, t->job_ts);
	if (tr->pub.id == t->cur)
		t->guess = false;
	if (f && f != t &&
	    ((f->pid && f->pid == t->pid) || (f->container[0] && f->container == t->container)))
		tr->handed_settled = true;
	/*
	 * The thread that offered it answers it itself, and nobody it was
	 * offered to worked since: it never left that thread.
	 */
	if (f == t && offer_untaken(e, tr)) {
		eng_vlog(e, e->now, t, t->tid, tr->pub.id,
			 "answers trace %llu it offered: nobody took it (no transfer since)",
			 (unsigned long long)tr->pub.id);
		offer_withdrawn(tr);
	}
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
void eng_handoff_on_wakeup(struct krt_engine *e, struct thread *waker, struct thread *target,
			   __u64 ts)
{
	__u64 pick = 0;

	/* another process: socket data, which the bytes follow (import sees these) */
	if (!same_process(waker, target))
		return;
	waker->woke_ns = ts; /* the hand-back's order (queued_before) */
	/*
	 * Go threads wake each other for the runtime (an idle P, a netpoller's
	 * ready goroutine): the goroutines' hand-offs are followed in the
	 * kernel (bpf/goroutines.bpf.h), not by thread wake-ups.
	 */
	if (waker->runs_goroutines || target->runs_goroutines)
		return;
	/*
	 * Requests the waker read and neither answered nor worked on itself
	 * are offered to the woken thread's pool (or the wake-up is for a
	 * lock: the waker then works on them itself, see eng_pool_acts).
	 * Either way the kernel cannot tell which one a worker dequeues.
	 */
	for (unsigned int i = 0; i < waker->n_handoff; i++) {
		struct trace *tr = eng_trace_find(e, waker->handoff[i]);

		if (tr && !tr->answered)
			offer_note(e, tr->pub.id, target, ts);
		if (tr && !tr->handoff_from && !tr->answered) {
			tr->handoff_from = waker->tid;
			eng_vlog(
			    e, ts, waker, waker->tid, tr->pub.id,
			    "WAKEUP %s[%u]: trace %llu offered to a pool (or a lock's wake-up)",
			    target->comm[0] ? target->comm : "?", target->tid,
			    (unsigned long long)tr->pub.id);
		}
	}
	/*
	 * A worker that worked on a job without sending anything and blocked
	 * is between requests when its feeder, with requests queued, wakes it
	 * (a lock it waited on mid-job is rarely released by the feeder just
	 * as requests wait in the queue).
	 */
	if (target->cur && target->took_job && !target->claim_active && !target->replied &&
	    !target->oncpu && target->feeder == waker->tid && waker->n_handoff) {
		eng_vlog(e, ts, target, target->tid, target->cur,
			 "woken by its feeder with requests queued: done with trace %llu",
			 (unsigned long long)target->cur);
		eng_thread_set_trace(e, target, 0, ts);
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

		if (target->oncpu && ts > target->oncpu_since)
			ran += ts - target->oncpu_since;
		target->take_on_run = true;
		if (!target->cur || target->replied ||
		    (target->took_job && !target->claim_active && ran < DEQUEUE_MAX_NS))
			return;
	}
	if (target->cur) {
		if (waker->cur && target->cur != waker->cur) {
			e->sum.wakeup_conflicts++;
			eng_vlog(e, ts, waker, waker->tid, waker->cur,
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
		/*
		 * A feeder handed its current request; a thread that reads and
		 * answers its own (a JVM's pool thread waking another for a
		 * lock) is still at work on it when it blocks.
		 */
		for (i = 0; i < waker->n_handoff && waker->feeds; i++)
			if (waker->handoff[i] == waker->cur)
				waker->replied = true; /* handed its current request */
		eng_vlog(e, ts, waker, waker->tid, waker->cur,
			 "WAKEUP %s[%u]: takes the oldest queued request when it runs",
			 target->comm[0] ? target->comm : "?", target->tid);
		return;
	}
	pick = waker->cur;
	if (!pick)
		return;
	eng_thread_set_trace(e, target, pick, ts);
	target->wake_claim = true;
	target->guess = true;
	target->claim_active = false;
	/* handed over its current request: idle once it blocks (rule 5) */
	if (pick == waker->cur)
		waker->replied = true;
	eng_vlog(e, ts, waker, waker->tid, pick, "WAKEUP %s[%u] => trace %llu (hand-off)",
		 target->comm[0] ? target->comm : "?", target->tid, (unsigned long long)pick);
}

static bool tid_in(const __u32 *set, unsigned int n, __u32 tid)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (set[i] == tid)
			return true;
	return false;
}

/*
 * Hop h of trace tr, sent by a thread w's job called (not w) to a thread
 * that is not the job's yet: the reply to a call its receiver made, not a
 * call of the job's? So when the receiver's end of the connection sent to
 * h's sender in tr after the job began (since) and before h, from a thread
 * outside the job (set): a server of one thread (redis, an event loop)
 * answers the job's call and another request's in one turn, and both its
 * replies sit in tr when the job's untagged call took the server's
 * current trace. Only a send after `since` counts: a callee that calls
 * out on a pooled connection may have read a reply on it for tr's own
 * request before the job began.
 */
static bool job_hop_answers_outsider(const struct trace *tr, const struct krt_hop *h,
				     const __u32 *set, unsigned int n, __u64 since)
{
	__u64 at = h->send_ns ? h->send_ns : h->recv_ns;
	size_t i;

	for (i = 0; i < tr->pub.n_hops; i++) {
		const struct krt_hop *o = &tr->pub.hops[i];
		__u64 o_at = o->send_ns ? o->send_ns : o->recv_ns;

		if (o == h || eng_hop_dead(o) || o_at <= since || o_at >= at ||
		    tid_in(set, n, o->from_tid))
			continue;
		if (krt_addr_eq(&o->from_addr, &h->to_addr) &&
		    krt_addr_eq(&o->to_addr, &h->from_addr))
			return true;
	}
	return false;
}

/*
 * Pool worker w answered request `to` while its work in (since, until]
 * went to trace `from` (the job it was thought to have dequeued): the reply
 * (or the hand-back of the job to its loop) names the job it really had.
 * Its hops then, and those of the threads it called (transitively, its
 * sibling workers and feeder excepted), move to `to`, with those threads'
 * rows when nothing else of theirs stays behind. Moved hops stay in place
 * as dead entries (segments in flight keep their hop index) and are
 * dropped at emission. Only finished hops move.
 */
unsigned int eng_trace_move_job(struct krt_engine *e, struct thread *w, __u64 from, __u64 to,
				__u64 since, __u64 until)
{
	struct trace *a = eng_trace_live(e, from), *b = eng_trace_live(e, to);
	__u32 set[8] = {w->tid}, keep[8];
	unsigned int n = 1, n_keep = 0, moved = 0;
	size_t i, j;

	if (!a || !b || a == b)
		return 0;
	for (i = 0; i < a->pub.n_hops; i++) {
		struct krt_hop *h = &a->pub.hops[i];
		__u64 at = h->send_ns ? h->send_ns : h->recv_ns;
		struct thread *to_t;

		/* what w received in its job is its job's too (a reply to its call) */
		if (eng_hop_dead(h) || at <= since || at > until ||
		    (!tid_in(set, n, h->from_tid) && h->to_tid != w->tid) ||
		    (!h->to_tid && !h->recv_ns))
			continue;
		/* a callee's reply to another request's call stays (its receiver's) */
		if (h->from_tid != w->tid && h->to_tid != w->tid && !tid_in(set, n, h->to_tid) &&
		    job_hop_answers_outsider(a, h, set, n, since))
			continue;
		if (h->to_tid && h->to_tid != w->tid) {
			to_t = eng_thread_find(e, h->to_tid);
			if (to_t &&
			    (to_t->tid == w->feeder || (w->feeder && to_t->feeder == w->feeder) ||
			     same_process(to_t, w)))
				continue; /* a sibling's or the feeder's: not this job's */
			if (!tid_in(set, n, h->to_tid) && n < 8)
				set[n++] = h->to_tid;
		}
		if (h->uncertain && a->n_uncertain)
			a->n_uncertain--;
		h->uncertain &= ~KRT_UNCERTAIN_HANDOFF; /* the reply settled it */
		/* since the take, and in the request's time: a sampling guess too */
		if (at >= b->pub.start_ns)
			h->uncertain &= ~KRT_UNCERTAIN_SAMPLING;
		if (h->uncertain)
			b->n_uncertain++;
		eng_trace_add_hop(b, h);
		memset(h, 0, sizeof(*h));
		moved++;
		a->n_dead++;
	}
	b->handed_settled = true;
	if (!moved)
		return 0;
	eng_thread_touched(w, b->pub.id, b->last_ns); /* its work is there now */
	/* rows of threads with nothing left in `from` go along */
	for (i = 0; i < a->pub.n_hops && n_keep < 8; i++) {
		const struct krt_hop *h = &a->pub.hops[i];

		if (eng_hop_dead(h))
			continue;
		if (tid_in(set, n, h->from_tid) && !tid_in(keep, n_keep, h->from_tid))
			keep[n_keep++] = h->from_tid;
		if (tid_in(set, n, h->to_tid) && !tid_in(keep, n_keep, h->to_tid) && n_keep < 8)
			keep[n_keep++] = h->to_tid;
	}
	for (i = 0; i < a->pub.n_threads;) {
		struct krt_thread_stat *st = &a->pub.threads[i], *bt;
		struct thread *t = eng_thread_find(e, st->tid);

		if (!tid_in(set, n, st->tid) || tid_in(keep, n_keep, st->tid) || !t) {
			i++;
			continue;
		}
		bt = eng_trace_thread(b, t, st->first_ns, st->last_ns);
		bt->cpu_ns += st->cpu_ns;
		bt->runq_ns += st->runq_ns;
		for (j = i + 1; j < a->pub.n_threads; j++)
			a->pub.threads[j - 1] = a->pub.threads[j];
		a->pub.n_threads--;
	}
	eng_trace_compact(e, a);
	eng_vlog(e, since, w, w->tid, to,
		 "answers trace %llu: its job's %u hops move from trace %llu",
		 (unsigned long long)to, moved, (unsigned long long)from);
	return moved;
}

/* ---------------------------------------------------------------------- */
/* The hand-back: a worker tells its loop a job is done, the loop answers  */

/*
 * The channel of a notification: the receiving socket (live), or on
 * import, where the capture names no socket, the thread's process.
 */
static struct notify_chan *chan_get(struct krt_engine *e, const struct thread *t, __u64 chan)
{
	struct notify_chan *c, *old = &e->chans[0];
	__u64 key = chan;
	unsigned int i;

	if (!key && t->container[0])
		key = (__u64)(uintptr_t)t->container | 1ULL << 63;
	else if (!key)
		key = (t->pid && t->pid != t->tid ? t->pid : t->tid) | 1ULL << 62;
	for (i = 0; i < NOTIFY_CHANS; i++) {
		c = &e->chans[i];
		if (c->key == key)
			return c;
		if (c->last_ns < old->last_ns)
			old = c; /* free slots have 0 */
	}
	memset(old, 0, sizeof(*old));
	old->key = key;
	return old;
}

/*
 * Notifications read in full reach their reader's list of finished jobs.
 * at_once: how many one receive completed (several: c is batched).
 */
static void handback_bind(struct krt_engine *e, struct thread *l, struct trace *y,
			  const struct handback *job);
static void group_check(struct krt_engine *e, struct thread *l);
static unsigned int job_pull(struct krt_engine *e, struct thread *w, struct trace *y, __u64 since,
			     __u64 until, __u64 began, unsigned int *moved);

/* Reply `trace` of reader l was given `job` by an order in doubt. */
static void group_add(struct thread *l, __u64 trace, const struct handback *job)
{
	unsigned int i;

	for (i = 0; i < l->n_group; i++) {
		if (l->group[i].trace == trace) {
			l->group[i].job = *job;
			return;
		}
	}
	if (l->n_group == HANDBACK_GROUP) {
		l->group_bad = true;
		return;
	}
	l->group[l->n_group].trace = trace;
	l->group[l->n_group++].job = *job;
}

/*
 * On a batched channel (its reader reads several notifications at once)
 * the bytes' reads say nothing of the order: jobs reach the reader when
 * sent, in the order they were sent, which is the order its runtime
 * queued them unless order_doubt says otherwise (eng_pool_handback).
 * A reply that came before its job was sent (owed) takes the next one.
 */
/*
 * A one-by-one reader's reply owed a job (read_ahead_owes) is paid by the
 * late send whose bytes it read: its worker woke the reader during this
 * job, before that reply. Another send (the read one's was lost: the
 * reader would be one job ahead from then on) pays nothing.
 */
static bool paid_ahead(const struct thread *r, const struct thread *w, const struct handback *job)
{
	return w && w->woke_reader_ns > job->since && w->woke_reader_ns < r->owed_ahead_ns;
}

/*
 * Reader r's first job, on a batched channel: its replies that took no
 * job before (no channel known then) may have been owed it, as a known
 * batched reader's are (eng_pool_handback): asyncio runs a worker's
 * result callback before its byte when the loop is awake. Those written
 * after the job's dispatch, to a request read before its end, are
 * owed from now, oldest first, on a guess (seen: the first replies of a
 * new asgi server; the first took no job and every later one took its
 * predecessor's, sure of it). The job's dispatch (or first transfer,
 * disp_hi) bounds it: its result was not ready before.
 */
static void unpaid_owe(struct krt_engine *e, struct thread *r, const struct handback *job)
{
	unsigned int i;

	for (i = 0; i < r->n_unpaid && r->n_reply_owed < HANDBACK_RECENT; i++) {
		struct trace *y = eng_trace_find(e, r->unpaid[i].trace);

		if (!y || y->handback_taken || r->unpaid[i].ts <= job->disp_hi ||
		    y->pub.ingress.ts_ns >= job->until)
			continue;
		r->reply_owed[r->n_reply_owed++] = y->pub.id;
		r->handback_trace = y->pub.id;
		y->handback_taken = true;
		y->handback_ns = r->unpaid[i].ts;
		y->order_guess = true;
		eng_vlog(e, r->unpaid[i].ts, r, r->tid, y->pub.id,
			 "HAND-BACK owed: a reply before the first notification was read");
	}
	r->n_unpaid = 0;
}

static void chan_deliver(struct krt_engine *e, struct notify_chan *c)
{
	struct thread *r = c->reader ? eng_thread_find(e, c->reader) : NULL;
	unsigned int at_once = 0, i;

	for (i = 0; i < c->n && c->q[i].end <= c->rcvd; i++)
		at_once++;
	if (at_once > 1)
		c->batched = true;
	while (c->n && (c->q[0].end <= c->rcvd || (c->batched && r))) {
		struct handback *job = &c->q[0].job;

		/* a thread waking itself (its own loop's call) hands nothing back */
		if (r && job->tid != r->tid) {
			struct thread *w = eng_thread_find(e, job->tid);
			struct trace *owed = NULL;

			if (w)
				w->notify_reader = r->tid; /* its wake-ups of w may be dispatches */

			r->reads_batched = c->batched;
			job->in_batch = (c->batched && job->order_doubt) || c->disorder;
			if (c->disorder)
				c->disorder--;
			if (!r->handback_known) {
				r->handback_known = true;
				if (c->batched)
					unpaid_owe(e, r, job);
			}
			if (!c->batched && r->n_reply_owed && !paid_ahead(r, w, job)) {
				/* a send lost, or read ahead without a wake-up */
				r->n_reply_owed = 0;
				r->handback_doubt = true;
			}
			while (r->n_reply_owed && !owed) {
				owed = eng_trace_live(e, r->reply_owed[0]);
				memmove(&r->reply_owed[0], &r->reply_owed[1],
					--r->n_reply_owed * sizeof(r->reply_owed[0]));
			}
			if (owed) {
				/* a reply owed it; one by one: read ahead of its send */
				if (c->batched)
					job->order_doubt = true;
				/* its loop took its result early: w's next dispatch may be, too */
				if (c->batched && w && w->notified_ns == job->until)
					w->disp_floor_ns = w->floor_cand_ns;
				job->in_batch = true;
				handback_bind(e, r, owed, job);
				group_check(e, r);
			} else {
				if (r->n_done == DONE_MAX) {
					/* bounded: the oldest is forgotten, its reply stays a guess
					 */
					memmove(&r->done[0], &r->done[1],
						--r->n_done * sizeof(r->done[0]));
				}
				r->done[r->n_done++] = *job;
			}
			eng_vlog(e, job->until, r, r->tid, r->cur,
				 "NOTIFIED by %u: %u finished job(s)%s", job->tid, r->n_done,
				 owed ? " (owed to a reply)" : "");
		}
		memmove(&c->q[0], &c->q[1], --c->n * sizeof(c->q[0]));
	}
}

/*
 * Worker t notifies c, preempted at `since` after its last transfer (it
 * may have queued its job before it left the CPU): the jobs other
 * workers notified since then may have been queued after its, so their
 * order, and the traces they went to, are not known.
 */
static bool chan_order_doubt(struct krt_engine *e, struct notify_chan *c, const struct thread *t,
			     __u64 since)
{
	struct thread *r = c->reader ? eng_thread_find(e, c->reader) : NULL;
	bool doubt = false;
	unsigned int i;

	for (i = 0; i < c->n; i++) {
		if (c->q[i].job.tid != t->tid && c->q[i].job.until > since) {
			c->q[i].job.order_doubt = true;
			doubt = true;
		}
	}
	if (!r || !c->batched)
		return doubt;
	for (i = 0; i < r->n_done; i++) {
		if (r->done[i].tid != t->tid && r->done[i].until > since) {
			r->done[i].order_doubt = true;
			r->done[i].in_batch = true;
			doubt = true;
		}
	}
	for (i = 0; i < HANDBACK_RECENT; i++) {
		struct trace *y;

		if (r->answered[i].job.until <= since || !r->answered[i].trace)
			continue;
		y = eng_trace_live(e, r->answered[i].trace);
		if (y) {
			y->order_guess = true;
			group_add(r, y->pub.id, &r->answered[i].job);
		}
		doubt = true;
	}
	return doubt;
}

/*
 * The bytes of a send on a channel whose reader sleeps on it arrive when
 * the send wakes the reader, before the send ends (and its hook runs):
 * worker t's send ending at `end` arrived at its wake-up of the reader,
 * if it woke it since its last transfer, else at `end`. A send that ended
 * first but arrived later (another CPU's, a few microseconds apart) comes
 * second in the channel: on a channel read one notification at a time,
 * the two unread jobs of equal size trade places.
 */
static void notify_arrival_order(struct krt_engine *e, struct notify_chan *c,
				 const struct thread *t, __u64 end)
{
	__u64 arrived = end;
	unsigned int k = c->n;

	if (t->woke_reader_ns && t->woke_reader_ns <= end && t->woke_reader_ns > t->last_xfer_ns &&
	    end - t->woke_reader_ns < NOTIFY_WAKE_NS)
		arrived = t->woke_reader_ns;
	if (k && c->one_by_one && !c->batched && c->last_arrived_ns > arrived &&
	    c->q[k - 1].job.tid != t->tid && c->q[k - 1].len == c->q[k].len &&
	    c->q[k - 1].end - c->q[k - 1].len >= c->rcvd) {
		struct handback x = c->q[k - 1].job;

		c->q[k - 1].job = c->q[k].job;
		c->q[k].job = x;
		eng_vlog(e, end, t, t->tid, 0,
			 "NOTIFY arrived at %llu, before %u's send that ended first: goes first",
			 (unsigned long long)arrived, x.tid);
		return; /* c->last_arrived_ns: the later one's still */
	}
	c->last_arrived_ns = arrived;
}

/*
 * Worker t's send woke the channel's reader, asleep on it (its bytes
 * arrived then), and the reader read the channel after that but before
 * this send's record, with every byte it read explained by other sends: t
 * was preempted between the wake-up and its hook for longer than
 * notify_arrival_order trusts (NOTIFY_WAKE_NS), and a read one at a time
 * took t's bytes first, credited to another worker's job (seen: thrift,
 * two requests' jobs swapped, live at 16 connections). The reader's
 * replies since the wake-up are not sure, nor its next ones until its jobs
 * and replies are in step again (handback_doubt).
 */
static void notify_overtaken(struct krt_engine *e, const struct notify_chan *c,
			     const struct thread *t)
{
	struct thread *r;
	unsigned int i;

	if (!c->one_by_one || c->batched || c->rcvd > c->sent || !t->woke_reader_ns ||
	    t->woke_reader_ns <= t->last_xfer_ns || t->woke_reader_ns >= c->last_rcv_ns)
		return;
	r = c->reader ? eng_thread_find(e, c->reader) : NULL;
	if (!r || r == t)
		return;
	r->handback_doubt = true;
	for (i = 0; i < HANDBACK_RECENT; i++) {
		struct trace *y = eng_trace_live(e, r->answered[i].trace);

		if (y && y->pub.end_ns > t->woke_reader_ns)
			y->handback_guess = true;
	}
	eng_vlog(e, e->now, t, t->tid, 0,
		 "NOTIFY woke %u at %llu, read since as another's: hand-backs in doubt", r->tid,
		 (unsigned long long)t->woke_reader_ns);
}

/*
 * Import: t's newest notification, already delivered to its batched reader
 * (a batched channel hands a job over when sent), was a TCP send after all
 * (the first send on a new connection, claimed when the fd showed TCP):
 * its job, still unanswered, is no job (seen: asgi, a new worker's first
 * redis command taken for a notification, its loop's next reply given it
 * and every later one its predecessor's job, sure of it).
 */
static void retract_delivered(struct krt_engine *e, struct notify_chan *c, struct thread *t,
			      __u64 bytes)
{
	struct thread *r = c->reader ? eng_thread_find(e, c->reader) : NULL;
	int i;

	if (!r || !c->batched)
		return;
	for (i = r->n_done - 1; i >= 0; i--) {
		if (r->done[i].tid != t->tid || r->done[i].until != t->notified_ns)
			continue;
		t->notified_ns = r->done[i].since; /* no job ended there */
		memmove(&r->done[i], &r->done[i + 1], (r->n_done - i - 1) * sizeof(r->done[0]));
		r->n_done--;
		c->sent -= bytes;
		eng_vlog(e, e->now, t, t->tid, 0, "NOTIFY retracted: a TCP send, no job");
		return;
	}
}

/*
 * KRT_EV_NOTIFY: a send on a channel is a worker done with its job (since
 * its previous notification); a receive hands the jobs whose bytes it read
 * in full to the reader, in the order they were sent. A receive seen
 * before its send (another CPU's hook) is kept as bytes read ahead.
 */
void eng_pool_notify(struct krt_engine *e, const struct krt_event *ev)
{
	const struct krt_notify *nt = &ev->notify;
	struct thread *t = eng_thread_touch(e, ev->tid, ev->pid, ev->comm);
	struct notify_chan *c;

	if (!t || !nt->bytes)
		return;
	c = chan_get(e, t, nt->chan);
	c->last_ns = ev->ts_ns;
	if (nt->flags & KRT_NF_RETRACT) {
		/* import: t's newest unread send of that size was TCP after all */
		for (int i = c->n - 1; i >= 0; i--) {
			__u64 start = i ? c->q[i - 1].end : c->q[i].end - nt->bytes;

			if (c->q[i].job.tid != t->tid || c->q[i].end - start != nt->bytes ||
			    c->q[i].end <= c->rcvd)
				continue;
			for (int k = i + 1; k < c->n; k++)
				c->q[k].end -= nt->bytes;
			c->sent -= nt->bytes;
			if (t->notified_ns == c->q[i].job.until)
				t->notified_ns = c->q[i].job.since; /* no job ended there */
			memmove(&c->q[i], &c->q[i + 1], (c->n - i - 1) * sizeof(c->q[0]));
			c->n--;
			return;
		}
		retract_delivered(e, c, t, nt->bytes);
		return;
	}
	if (nt->dir == KRT_DIR_SEND) {
		notify_overtaken(e, c, t);
		if (c->n == NOTIFY_QUEUE)
			memmove(&c->q[0], &c->q[1], --c->n * sizeof(c->q[0]));
		c->sent += nt->bytes;
		c->q[c->n].end = c->sent;
		c->q[c->n].job.tid = t->tid;
		c->q[c->n].job.since = t->notified_ns;
		c->q[c->n].job.until = ev->ts_ns;
		c->q[c->n].job.in_batch = false;
		c->q[c->n].job.disp_lo = t->job_wake_ns ? t->job_wake_ns : t->notified_ns;
		c->q[c->n].job.disp_hi = t->job_wake_ns	   ? t->job_wake_ns
					 : t->job_first_ns ? t->job_first_ns
							   : ev->ts_ns;
		if (t->job_remote_ns && t->job_wake_ns && t->job_remote_ns < t->job_wake_ns &&
		    t->job_remote_ns < c->q[c->n].job.disp_lo)
			c->q[c->n].job.disp_lo = t->job_remote_ns;
		if (t->disp_floor_ns && t->disp_floor_ns < c->q[c->n].job.disp_lo)
			c->q[c->n].job.disp_lo = t->disp_floor_ns;
		t->disp_floor_ns = 0;
		t->floor_cand_ns = t->last_xfer_ns; /* chan_deliver: if a reply owed it */
		t->job_remote_ns = 0;
		t->notify_reader = c->reader;
		c->q[c->n].job.first = t->job_first_ns ? t->job_first_ns : ev->ts_ns;
		t->job_wake_ns = t->job_first_ns = 0;
		c->q[c->n].job.pre_ns = t->preempted_ns;
		c->q[c->n].job.queued_by = t->preempted_ns ? t->queued_by_ns : 0;
		if (t->preempted_ns)
			eng_vlog(e, ev->ts_ns, t, t->tid, 0,
				 "NOTIFY preempted at %llu since its last transfer, queued by %llu",
				 (unsigned long long)t->preempted_ns,
				 (unsigned long long)c->q[c->n].job.queued_by);
		c->q[c->n].job.order_doubt =
		    t->preempted_ns && chan_order_doubt(e, c, t, t->preempted_ns);
		c->q[c->n].len = nt->bytes;
		notify_arrival_order(e, c, t, ev->ts_ns);
		c->n++;
		t->notified_ns = ev->ts_ns;
		t->preempted_ns = 0;
		t->queued_by_ns = 0;
		/*
		 * After a pause: the worker handed its job back, done with it.
		 * Its wake-up of its loop usually says so (a hand-off), but one
		 * that comes while the loop holds another request's trace is a
		 * conflict and says nothing: a worker at work on a job (more
		 * than DEQUEUE_MAX_NS on CPU), or holding a trace it was handed
		 * before its loop was known as its feeder, then kept that trace
		 * for good, declined every later job its loop offered it
		 * ("keeps trace (conflict)"), and its calls went out under a
		 * request answered long before. The hand-backs were then the only thing naming
		 * its jobs, nothing to check them against: one reply that took
		 * none, or a job notified late, and every later reply took its
		 * predecessor's, sure of it (thrift with 50 ms warm-ups, whole
		 * windows wrong). Its claim ends at its next block, and it takes
		 * the next job its loop queues.
		 */
		if (t->loop_after_pause && t->cur)
			t->replied = true;
	} else {
		c->rcvd += nt->bytes;
		c->reader = t->tid;
		c->last_rcv_ns = ev->ts_ns;
		/*
		 * A reader that asks for more than it gets (asyncio's
		 * recv(4096)) could have read several at once; one that asks
		 * for exactly one notification (thrift's 8-byte pointer)
		 * reads them one by one. Not known: the former.
		 */
		if (!nt->asked || nt->asked > nt->bytes)
			c->batched = true;
		else
			c->one_by_one = true;
		if (c->rcvd > c->sent)
			c->disorder = 2; /* the late send, and the one that overtook it */
	}
	chan_deliver(e, c);
}

/*
 * The hops of w's job in tr, (since, until]: w's own and those of the
 * threads it called outside its process; their hand-off guesses are
 * settled (the job is known).
 */
static unsigned int settle_job(struct krt_engine *e, struct trace *tr, struct thread *w,
			       __u64 since, __u64 until)
{
	__u32 set[8] = {w->tid};
	unsigned int n = 1, found = 0;
	size_t i;

	for (i = 0; i < tr->pub.n_hops; i++) {
		struct krt_hop *h = &tr->pub.hops[i];
		__u64 at = h->send_ns ? h->send_ns : h->recv_ns;
		struct thread *to_t;

		if (eng_hop_dead(h) || at <= since || at > until)
			continue;
		if (!tid_in(set, n, h->from_tid) && h->to_tid != w->tid)
			continue;
		if (h->to_tid && !tid_in(set, n, h->to_tid)) {
			to_t = eng_thread_find(e, h->to_tid);
			if (!to_t || same_process(to_t, w))
				continue;
			if (n < 8)
				set[n++] = h->to_tid;
		}
		found++;
		if (!(h->uncertain & KRT_UNCERTAIN_HANDOFF))
			continue;
		h->uncertain &= ~KRT_UNCERTAIN_HANDOFF;
		if (!h->uncertain && tr->n_uncertain)
			tr->n_uncertain--;
	}
	return found;
}

/*
 * Thread l replies for trace tag on a connection it serves, with finished
 * jobs it was notified of: the oldest is this request's. With one job
 * pending, the notification decides. With several, the order decides when
 * the loop reads its notifications one by one (each a receive, acted on
 * before the next: thrift's TNonblockingServer arms the connection's write
 * per notification, and libevent runs the writable connections in the
 * order they were armed). A loop that reads several at once (asyncio's
 * self-pipe) answers in the order its runtime queued the jobs, before
 * their bytes were written: the order the notifications were sent, not
 * read, unless a worker left the CPU between queuing its job and sending
 * (preempted since its last transfer, struct thread's preempted_ns):
 * then the jobs notified meanwhile may be answered before or after its,
 * and those traces stay uncertain (tr->handback_guess), as does a reply
 * written before any job was notified, and the one before it. The
 * worker's work between its previous notification and this one goes to
 * tag, wherever the pool rules guessed it.
 */
/*
 * l sent for y before its reply at `now` (a thread that calls downstream
 * itself, not a loop waiting for a worker's job): no job is owed to it.
 */
static bool reader_worked(const struct trace *y, const struct thread *l, __u64 now)
{
	size_t i;

	for (i = 0; i < y->pub.n_hops; i++)
		if (y->pub.hops[i].from_tid == l->tid && y->pub.hops[i].send_ns &&
		    y->pub.hops[i].send_ns < now)
			return true;
	return false;
}

/*
 * Loop l answers y with no job pending, having read notification bytes
 * whose send is not recorded yet (its worker's hook ran late, preempted by
 * the loop it woke: chan_deliver's disorder). Those bytes were this
 * reply's job: it is owed the job their send delivers. Without this, the
 * job waits for the next reply, and every later reply of a loop that is
 * never idle takes its predecessor's, sure of it (thrift under load).
 * Which send the bytes were is not known: y stays uncertain.
 */
static void read_ahead_owes(struct krt_engine *e, struct thread *l, struct trace *y)
{
	unsigned int i;

	for (i = 0; i < NOTIFY_CHANS; i++) {
		const struct notify_chan *c = &e->chans[i];

		if (!c->key || c->reader != l->tid || c->batched)
			continue;
		if (c->rcvd <= c->sent) {
			/*
			 * A hand-back reply with no job notified, none read
			 * ahead: a job it read was not seen, or one will come
			 * that no reply takes, and the next replies would take
			 * their predecessors' jobs. Unsure until the jobs and
			 * replies are in step again (a reply takes the last).
			 */
			if (c->one_by_one && l->handback_trace)
				l->handback_doubt = true;
			continue;
		}
		if (l->n_reply_owed == HANDBACK_RECENT)
			memmove(&l->reply_owed[0], &l->reply_owed[1],
				--l->n_reply_owed * sizeof(l->reply_owed[0]));
		l->reply_owed[l->n_reply_owed++] = y->pub.id;
		l->owed_ahead_ns = e->now;
		l->handback_trace = y->pub.id;
		y->handback_taken = true;
		y->handback_ns = e->now;
		y->handback_guess = true;
		eng_vlog(e, e->now, l, l->tid, y->pub.id,
			 "HAND-BACK owed: its notification read before its send was seen");
		return;
	}
}

/*
 * After a pause, loop l answers y (read at read_ns) with no job left, on a
 * channel it reads one notification at a time (thrift), while a job is
 * queued there that was sent after y was read and before l's last
 * receive: in a pipe read oldest first, that receive read it, and this
 * reply is its (the jobs queued before y was read, then, too: they are
 * not its). The channel's counts lag: receives of l's were not recorded
 * (seen: the first after the hooks came back, its worker's send recorded;
 * up to three), and every receive since was credited to a send before its
 * own, each job reaching l that many receives late. Its replies, which come
 * right after their receive, then took their predecessors' jobs, sure of
 * it, reply after reply (thrift with 50 ms warm-ups, whole windows
 * wrong), and those that found none (the one before dropped as stale)
 * took none. The count catches up with that send: its job is this
 * reply's, on a guess, as are the replies since the pause still open.
 */
static bool recv_lost_catch_up(struct krt_engine *e, struct thread *l, __u64 read_ns)
{
	unsigned int i, k, j;

	if (!l->loop_after_pause || l->reads_batched)
		return false;
	for (i = 0; i < NOTIFY_CHANS; i++) {
		struct notify_chan *c = &e->chans[i];

		if (!c->key || c->reader != l->tid || c->batched || !c->one_by_one)
			continue;
		/*
		 * Jobs queued before y was read are not its; its job was read
		 * after them (oldest first), so they were read too (several
		 * receives lost: seen, 24 bytes behind).
		 */
		for (k = 0; k < c->n && c->q[k].job.until <= read_ns; k++)
			;
		if (k == c->n || c->q[k].end <= c->rcvd || c->q[k].job.tid == l->tid ||
		    c->q[k].job.until >= c->last_rcv_ns)
			continue;
		eng_vlog(e, e->now, l, l->tid, 0,
			 "HAND-BACK catches up: %llu bytes read by receives not seen",
			 (unsigned long long)(c->q[k].end - c->rcvd));
		/* one at a time: several at once would say the loop reads them so */
		for (j = 0; j <= k && c->n; j++) {
			c->rcvd = u64max(c->rcvd, c->q[0].end);
			chan_deliver(e, c);
		}
		while (l->n_done && l->done[0].until <= read_ns)
			memmove(&l->done[0], &l->done[1], --l->n_done * sizeof(l->done[0]));
		for (j = 0; j < HANDBACK_RECENT; j++) {
			struct trace *a = eng_trace_live(e, l->answered[j].trace);

			if (a)
				a->handback_guess = true;
		}
		l->handback_doubt = true;
		return l->n_done;
	}
	return false;
}

/*
 * No job left behind the ones l's replies took: in step again. Not at a
 * reply to another request read under a trace that took its job (again):
 * the job of one of its requests may be notified late.
 */
static void handback_in_step(struct krt_engine *e, struct thread *l, bool again)
{
	if (again || !l->handback_unsettled || l->n_done)
		return;
	l->handback_unsettled = false;
	eng_vlog(e, e->now, l, l->tid, 0, "HAND-BACK in step: no job left behind the replies");
}

void eng_pool_handback(struct krt_engine *e, struct thread *l, __u64 tag, bool read_since)
{
	struct trace *y = eng_trace_live(e, tag), *prev;
	struct handback job;
	__u64 read_ns = 0;
	bool stale = false, again = false;
	size_t i;

	/* a Go thread is no loop of a pool: the kernel follows its goroutines */
	if (l->runs_goroutines || !y)
		return;
	/*
	 * y's reply took its job: this send is the rest of that reply, or
	 * (after a pause, a request read on the side since its last reply)
	 * the reply to another request read under y. Seen: thrift's front
	 * after a pause, its threads in the middle of requests read unseen,
	 * each given the trace of the thread that handed it its pooled client
	 * (a condition variable's wake-up: the trace of the store's reply to
	 * a request read unseen); the store then reads request after request
	 * under that one trace. Each is a job of its own: a reply that took
	 * none would leave its job to the next reply, and every later reply
	 * would take its predecessor's, sure of it (the jobs notified
	 * climbing to 6-8 and staying there; with short warm-ups, whole
	 * windows wrong). This reply takes a job as any other, and y, whose
	 * requests the kernel cannot tell apart, is unsure of its calls. So
	 * is the loop, until a later reply finds no job left behind (not
	 * this one: the job of one of y's requests may be notified late).
	 */
	if (tag == l->handback_trace || y->handback_taken) {
		if (!read_since || !l->loop_after_pause || !l->handback_known)
			return;
		again = true;
		y->handback_guess = true;
		l->handback_unsettled = true;
		eng_vlog(e, e->now, l, l->tid, tag,
			 "HAND-BACK again: another request read under this trace, out of step");
	}
	/*
	 * Out of step since a pause: whichever job it gets is a guess. No job
	 * left behind the ones replies took (none pending, or the stale ones
	 * dropped below): none of a request read before the pause is among
	 * them; its reply, when seen, unsettles the loop again (reply_unseen
	 * in engine_conn.c), its job maybe still to come.
	 */
	if (l->handback_unsettled)
		y->handback_guess = true;
	handback_in_step(e, l, again);
	/* the last receive of l on y's side since y came in */
	for (i = 0; i < y->pub.n_hops; i++) {
		const struct krt_hop *h = &y->pub.hops[i];

		if (h->to_tid == l->tid && h->recv_ns > read_ns)
			read_ns = h->recv_ns;
	}
	if (!l->n_done && !recv_lost_catch_up(e, l, read_ns) && !l->reads_batched) {
		if (!l->handback_known) {
			if (l->n_unpaid == HANDBACK_RECENT)
				memmove(&l->unpaid[0], &l->unpaid[1],
					--l->n_unpaid * sizeof(l->unpaid[0]));
			l->unpaid[l->n_unpaid].trace = tag;
			l->unpaid[l->n_unpaid++].ts = e->now;
		}
		read_ahead_owes(e, l, y);
		return;
	}
	/*
	 * A job notified before l read this request cannot be its: a reply
	 * whose hand-back was not seen (its send or receive lost, a capture's
	 * byte count off) left it behind. Dropped, or every later reply
	 * would take its predecessor's job.
	 */
	while (l->n_done && l->done[0].until < read_ns) {
		memmove(&l->done[0], &l->done[1], --l->n_done * sizeof(l->done[0]));
		stale = true;
	}
	handback_in_step(e, l, again);
	if (!l->n_done && stale)
		recv_lost_catch_up(e, l, read_ns);
	if (!l->n_done) {
		/*
		 * A loop that reads notifications in batches may answer before
		 * the job's notification is sent (the worker queued its result,
		 * then left the CPU before it wrote its byte): the next one is
		 * this reply's, on a guess, and the previous reply's job may
		 * have been this one's: both join the order's doubt, which the
		 * dispatch may settle once the job is sent (group_check).
		 */
		if (!l->reads_batched || reader_worked(y, l, e->now))
			return;
		i = (l->answered_next + HANDBACK_RECENT - 1) % HANDBACK_RECENT;
		prev = eng_trace_live(e, l->answered[i].trace);
		if (prev) {
			prev->order_guess = true;
			group_add(l, prev->pub.id, &l->answered[i].job);
		}
		if (l->n_reply_owed == HANDBACK_RECENT)
			memmove(&l->reply_owed[0], &l->reply_owed[1],
				--l->n_reply_owed * sizeof(l->reply_owed[0]));
		l->reply_owed[l->n_reply_owed++] = tag;
		l->handback_trace = tag;
		y->handback_taken = true;
		y->handback_ns = e->now;
		if (!prev)
			l->group_bad = true;
		y->order_guess = true; /* its job, when sent, joins the group */
		eng_vlog(e, e->now, l, l->tid, tag, "HAND-BACK owed: no job notified yet");
		return;
	}
	job = l->done[0];
	if (stale || l->handback_doubt)
		y->handback_guess = true;
	memmove(&l->done[0], &l->done[1], --l->n_done * sizeof(l->done[0]));
	if (!l->n_done || stale)
		l->handback_doubt = false;
	handback_in_step(e, l, again);
	l->handback_trace = tag;
	y->handback_taken = true;
	y->handback_ns = e->now;
	handback_bind(e, l, y, &job);
	group_check(e, l);
}

/*
 * Under an interpreter lock, the order the jobs were queued (asyncio's
 * ready queue, the order of the replies) as far as the kernel saw it:
 * a job whose worker was not preempted since its last transfer was
 * queued as it sent (it holds the lock until just before its send); one
 * whose worker was, no earlier than that preemption, and before its
 * queued_by wake-up when known: it held the lock from that wake-up until
 * it queued (or had queued and let the lock go there), so a job sent by
 * a worker not preempted more than QUEUE_MARGIN_NS after that wake-up
 * was queued later.
 */
#define QUEUE_MARGIN_NS 30000ULL

static bool queued_before(const struct handback *x, const struct handback *y)
{
	if (!y->pre_ns && !x->pre_ns)
		return x->until < y->until;
	if (!y->pre_ns)
		return y->until > x->until ||
		       (x->queued_by && y->until > x->queued_by + QUEUE_MARGIN_NS);
	if (!x->pre_ns)
		return x->until < y->pre_ns;
	if (x->queued_by)
		return x->queued_by + QUEUE_MARGIN_NS < y->pre_ns;
	return x->until < y->pre_ns;
}

/*
 * A resolved group gave trace id the job: a later doubt (chan_order_doubt)
 * takes l's recent replies with the jobs they hold now, not the ones the
 * notification order first bound to them.
 */
static void answered_rebind(struct thread *l, __u64 id, const struct handback *job)
{
	unsigned int i;

	for (i = 0; i < HANDBACK_RECENT; i++)
		if (l->answered[i].trace == id)
			l->answered[i].job = *job;
}

/*
 * idx[0..n) = 0..n-1 in the order of key, ties kept in index order (an
 * insertion sort: a hand-back group holds at most HANDBACK_GROUP).
 */
static void order_by(unsigned int *idx, unsigned int n, const __u64 *key)
{
	for (unsigned int i = 0; i < n; i++) {
		unsigned int j = i;

		for (; j > 0 && key[i] < key[idx[j - 1]]; j--)
			idx[j] = idx[j - 1];
		idx[j] = i;
	}
}

/*
 * The replies of a doubt on the hand-back's order follow the order their
 * jobs were queued: when queued_before orders every pair of the group's
 * jobs one way, the k-th reply had the k-th job queued (each job's
 * first transfer after the request it is given was read). Jobs bound
 * otherwise move there.
 */
enum queue_result { QUEUE_NOT_KNOWN, QUEUE_SETTLED, QUEUE_AGAINST_DISPATCH };

#define DISPATCH_PASS_NS 200000ULL

/* The group's dispatches, in their order, each within DISPATCH_PASS_NS of the last. */
static bool dispatch_one_pass(const struct thread *l, unsigned int n)
{
	__u64 lo = ~0ULL, hi = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		lo = l->group[i].job.disp_hi < lo ? l->group[i].job.disp_hi : lo;
		hi = l->group[i].job.disp_hi > hi ? l->group[i].job.disp_hi : hi;
	}
	return hi - lo < (__u64)(n - 1) * DISPATCH_PASS_NS;
}

static enum queue_result resolve_by_queue(struct krt_engine *e, struct thread *l, struct trace **y,
					  unsigned int n, const unsigned int *disp_to)
{
	unsigned int rank[HANDBACK_GROUP], by_reply[HANDBACK_GROUP], to_job[HANDBACK_GROUP], i, j;
	__u64 reply_ns[HANDBACK_GROUP];

	for (i = 0; i < n; i++) {
		/*
		 * A reply written before the notification of the job bound to
		 * it: that job, or another, was queued long before its send
		 * with no preemption seen; the sends do not tell the order.
		 */
		if (!y[i]->handback_ns ||
		    (y[i]->handback_ns < l->group[i].job.until && !l->group[i].job.queued_by))
			return QUEUE_NOT_KNOWN;
		rank[i] = 0;
		reply_ns[i] = y[i]->handback_ns;
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < n; j++) {
			bool ij, ji;

			if (i == j)
				continue;
			ij = queued_before(&l->group[i].job, &l->group[j].job);
			ji = queued_before(&l->group[j].job, &l->group[i].job);
			if (ij == ji)
				return QUEUE_NOT_KNOWN; /* not known, or contradictory */
			if (ji)
				rank[i]++;
		}
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < n; j++)
			if (j != i && rank[j] == rank[i])
				return QUEUE_NOT_KNOWN;
		to_job[rank[i]] = i;
	}
	order_by(by_reply, n, reply_ns);
	for (i = 0; i < n; i++) {
		const struct handback *job = &l->group[to_job[i]].job;

		if (job->first < y[by_reply[i]]->pub.ingress.ts_ns)
			return QUEUE_NOT_KNOWN; /* at work before that request was read */
	}
	/*
	 * The dispatch order, known too, says otherwise, and the loop
	 * dispatched the group's jobs in one pass (wake-ups less than
	 * DISPATCH_PASS_NS apart: the dispatch, not the interpreter lock):
	 * one of the two readings is wrong, and which is not known. 36
	 * recorded asgi runs (54000 requests), 954 groups settled by the
	 * lock's order with the dispatch known: 947 agreed, all right; of the
	 * 7 that disagreed, the 2 wrong had their dispatches 47 and 90 us
	 * apart, the 5 right 0.5 to 4.5 ms.
	 */
	for (i = 0; disp_to && i < n; i++) {
		if (disp_to[to_job[i]] != by_reply[i] && dispatch_one_pass(l, n)) {
			eng_vlog(
			    e, e->now, l, l->tid, y[0]->pub.id,
			    "HAND-BACK order of %u jobs: the lock's and the dispatch's disagree",
			    n);
			return QUEUE_AGAINST_DISPATCH;
		}
	}
	for (i = 0; i < n; i++) {
		const struct handback *job = &l->group[to_job[i]].job;
		struct trace *to = y[by_reply[i]];
		struct thread *w = eng_thread_find(e, job->tid);

		if (w)
			job_pull(e, w, to, u64max(job->since, to->pub.ingress.ts_ns), job->until,
				 job->since, NULL);
		answered_rebind(l, to->pub.id, job);
	}
	for (i = 0; i < n; i++)
		y[i]->order_guess = false;
	eng_vlog(e, e->now, l, l->tid, y[0]->pub.id, "HAND-BACK order of %u jobs by queue", n);
	return QUEUE_SETTLED;
}

/*
 * The pool dispatches jobs in the order the loop read the requests (anyio
 * queues each for one idle worker and wakes that worker alone). The
 * replies of a doubt on the hand-back's order, once none of its jobs is
 * pending: when every job's dispatch is known to come before the next
 * one's, and after its request was read, the k-th request read had the
 * k-th job dispatched; jobs bound otherwise move there, and the doubt is
 * settled. Else the traces stay uncertain.
 */
static bool resolve_group(struct krt_engine *e, struct thread *l)
{
	unsigned int n = l->n_group, by_read[HANDBACK_GROUP], by_disp[HANDBACK_GROUP],
		     disp_to[HANDBACK_GROUP], i;
	__u64 read_ns[HANDBACK_GROUP], disp_hi[HANDBACK_GROUP];
	struct trace *y[HANDBACK_GROUP];
	bool dispatched = true;

	if (n < 2 || l->group_bad)
		return false;
	for (i = 0; i < n; i++) {
		y[i] = eng_trace_live(e, l->group[i].trace);
		if (!y[i])
			return false;
		read_ns[i] = y[i]->pub.ingress.ts_ns;
		disp_hi[i] = l->group[i].job.disp_hi;
		if (!l->group[i].job.disp_lo)
			dispatched = false;
	}
	order_by(by_read, n, read_ns);
	order_by(by_disp, n, disp_hi);
	for (i = 0; i < n && dispatched; i++) {
		const struct handback *job = &l->group[by_disp[i]].job;

		if (i + 1 < n && job->disp_hi >= l->group[by_disp[i + 1]].job.disp_lo)
			dispatched = false; /* which was dispatched first is not known */
		else if (job->disp_hi < y[by_read[i]]->pub.ingress.ts_ns)
			dispatched = false; /* dispatched before that request was read */
		else
			disp_to[by_disp[i]] = by_read[i];
	}
	switch (resolve_by_queue(e, l, y, n, dispatched ? disp_to : NULL)) {
	case QUEUE_SETTLED:
		return true;
	case QUEUE_AGAINST_DISPATCH:
		return false;
	default:
		break;
	}
	if (!dispatched)
		return false;
	for (i = 0; i < n; i++) {
		const struct handback *job = &l->group[by_disp[i]].job;
		struct trace *to = y[by_read[i]];
		struct thread *w = eng_thread_find(e, job->tid);

		/*
		 * Pulled from wherever it is: the group's bindings may be
		 * stale (an earlier group moved the job), and a binding left
		 * w's work before its request in another trace (the guess).
		 */
		if (w)
			job_pull(e, w, to, u64max(job->since, to->pub.ingress.ts_ns), job->until,
				 job->since, NULL);
		answered_rebind(l, to->pub.id, job);
	}
	for (i = 0; i < n; i++)
		y[i]->order_guess = false;
	eng_vlog(e, e->now, l, l->tid, y[0]->pub.id, "HAND-BACK order of %u jobs by dispatch", n);
	return true;
}

/* A doubt on l's order whose jobs are all bound: settled if it can be. */
static void group_check(struct krt_engine *e, struct thread *l)
{
	unsigned int i;

	if (!l->n_group)
		return;
	for (i = 0; i < l->n_done; i++)
		if (l->done[i].order_doubt)
			return;
	if (l->n_reply_owed)
		return;
	resolve_group(e, l);
	l->n_group = 0;
	l->group_bad = false;
}

/*
 * Worker w sent in (from, until], before the request its job is bound to
 * was read (a new worker's first job has no previous notification to
 * bound it): that work is another job's, or the binding is wrong. The
 * traces holding it are marked uncertain; true if there were any.
 */
static bool worked_before(struct krt_engine *e, const struct thread *w, __u64 from, __u64 until)
{
	bool any = false;
	size_t i, k;

	for (k = 0; k < TOUCHED_MAX; k++) {
		struct trace *tr;

		if (!w->touched[k].id || w->touched[k].last_ns <= from)
			continue;
		tr = eng_trace_live(e, w->touched[k].id);
		for (i = 0; tr && i < tr->pub.n_hops; i++) {
			const struct krt_hop *h = &tr->pub.hops[i];

			if (h->from_tid == w->tid && h->send_ns > from && h->send_ns <= until) {
				tr->handback_guess = true;
				any = true;
				break;
			}
		}
	}
	return any;
}

/*
 * Trace tr's reply took a job after `since` (the worker's previous
 * notification), while (or after) the worker did this one under tr's
 * name: the request its guess (the kernel's tag) named was answered with
 * another's job. Not a worker's stale guess of a request answered before
 * (a pool worker keeps its last trace).
 */
static bool answered_since(const struct trace *tr, __u64 since)
{
	return tr && tr->handback_taken && tr->handback_ns > since;
}

/*
 * w's work in (since, until] goes to y: it is in traces w had activity in
 * after `since`: those w remembers (struct thread's touched), unless one it
 * forgot was touched after since; then every open trace active since then
 * (pub.end_ns is a trace's latest activity). Returns the hops found.
 * *moved (NULL: not wanted): those taken from a request answered with
 * another job since the job `began` (answered_since); the rest were y's, a
 * request's still to be answered (a wake-up's wrong guess of which worker
 * took which), or a worker's stale guess.
 */
static unsigned int job_pull(struct krt_engine *e, struct thread *w, struct trace *y, __u64 since,
			     __u64 until, __u64 began, unsigned int *moved)
{
	unsigned int found = 0, n, shifted = 0;
	size_t i;

	if (w->touched_lost > since) {
		for (i = 0; i < e->n_open; i++) {
			if (e->open[i] == y || e->open[i]->pub.end_ns <= since)
				continue;
			n = eng_trace_move_job(e, w, e->open[i]->pub.id, y->pub.id, since, until);
			if (answered_since(e->open[i], began))
				shifted += n;
			found += n;
		}
	} else {
		struct touched_trace list[TOUCHED_MAX];

		/* a copy: moving a job touches w's list */
		memcpy(list, w->touched, sizeof(list));
		for (i = 0; i < TOUCHED_MAX; i++) {
			if (!list[i].id || list[i].last_ns <= since ||
			    eng_trace_live(e, list[i].id) == y)
				continue;
			n = eng_trace_move_job(e, w, list[i].id, y->pub.id, since, until);
			if (answered_since(eng_trace_live(e, list[i].id), began))
				shifted += n;
			found += n;
		}
	}
	if (moved)
		*moved = shifted;
	return found + settle_job(e, y, w, since, until);
}

/*
 * After a pause, loop l (it reads its notifications in batches: asyncio's
 * self-pipe) binds to y a job whose worker left the CPU before it sent the
 * notification (job->pre_ns), and l wrote a reply to another request in
 * between: the worker had queued its result and let the interpreter lock
 * go (the write of its byte drops it), the loop ran that callback and
 * answered, and only then did the worker send. That reply may have been
 * this job's. If it was, it took another's job, sure of it, and so did
 * every reply since, each one its successor's (seen: asgi at 16
 * connections, a window 0.5 s after a 50 ms warm-up, 4 jobs behind; the
 * group's order by queue then bound five requests to the wrong worker,
 * sure of it, and the next reply outside the group too). Which reply had
 * which job is not known: l's replies since that preemption are guesses,
 * and l is out of step until a reply finds no job left behind
 * (handback_in_step). Live and --sample keep the kernel's notification
 * order as before: the rule is gated on loop_after_pause.
 */
static void handback_late_notify(struct krt_engine *e, struct thread *l, struct trace *y,
				 const struct handback *job)
{
	bool between = false;
	unsigned int i;

	if (!l->loop_after_pause || !l->reads_batched || !job->pre_ns)
		return;
	for (i = 0; i < HANDBACK_RECENT && !between; i++) {
		const struct trace *a = eng_trace_live(e, l->answered[i].trace);

		between =
		    a && a != y && a->handback_ns > job->pre_ns && a->handback_ns < job->until;
	}
	if (!between)
		return;
	for (i = 0; i < HANDBACK_RECENT; i++) {
		struct trace *a = eng_trace_live(e, l->answered[i].trace);

		if (a && a->handback_ns > job->pre_ns)
			a->handback_guess = true;
	}
	y->handback_guess = true;
	if (!l->handback_unsettled)
		eng_vlog(
		    e, job->until, l, l->tid, y->pub.id,
		    "HAND-BACK notified after a reply written while its worker was off the CPU: "
		    "out of step");
	l->handback_unsettled = true;
}

/*
 * The worker's work between its previous notification and this one goes
 * to y, wherever the pool guessed it.
 */
static void handback_bind(struct krt_engine *e, struct thread *l, struct trace *y,
			  const struct handback *job)
{
	__u64 tag = y->pub.id, since;
	unsigned int found = 0, moved = 0;
	struct thread *w;

	if (job->in_batch && job->order_doubt) {
		y->order_guess = true;
		group_add(l, tag, job);
	} else if (job->in_batch) {
		y->handback_guess = true;
	}
	l->answered[l->answered_next].trace = tag;
	l->answered[l->answered_next].job = *job;
	l->answered_next = (l->answered_next + 1) % HANDBACK_RECENT;
	w = eng_thread_find(e, job->tid);
	if (!w)
		return;
	if (l->loop_after_pause) {
		y->job_tid = w->tid;
		y->job_until = job->until;
	}
	handback_late_notify(e, l, y, job);
	/* the job began after its request came in, and after w's previous one */
	since = u64max(job->since, y->pub.ingress.ts_ns);
	if (job->since < since && worked_before(e, w, job->since, since))
		y->handback_guess = true;
	found = job_pull(e, w, y, since, job->until, job->since, &moved);
	/*
	 * After a pause: the job's work went to a request answered already,
	 * with a job of its own (the worker's guess when its loop woke it;
	 * live, the kernel's tag). Once, a wake-up's wrong guess of which
	 * queued request a worker took, put right. Reply after reply: the
	 * loop is one job behind (a job notified late, or a reply that took
	 * none: a request read unseen), each reply takes its predecessor's
	 * job, and moves its work away from the request the kernel named
	 * (seen: thrift with 50 ms warm-ups, whole windows wrong, sure of
	 * it). Which is right is not known then: the replies are unsure and
	 * the loop out of step (the warm-up waits) until a reply takes the
	 * work the kernel gave it.
	 */
	if (!moved || !l->loop_after_pause) {
		l->handback_shifts = 0;
	} else if (++l->handback_shifts >= HANDBACK_SHIFTS) {
		y->handback_guess = true;
		if (!l->handback_unsettled)
			eng_vlog(e, job->until, l, l->tid, tag,
				 "HAND-BACK takes answered requests' work, reply after reply: "
				 "out of step");
		l->handback_unsettled = true;
	}
	/*
	 * A job that left no transfer: the worker's were not recorded (with
	 * --sample, a wake-up's guess passed it an unsampled request's mark),
	 * or it made no call. Its trace is not known to be whole.
	 */
	if (!found)
		y->handback_guess = true;
	y->handed_settled = true;
	eng_vlog(e, job->until, l, l->tid, tag, "HAND-BACK of %s[%u]'s job: trace %llu%s", w->comm,
		 w->tid, (unsigned long long)tag,
		 y->handback_guess || y->order_guess ? " (order not known)" : "");
}

/*
 * A sampling pause, before the open traces go out: a worker of a loop's
 * pool has done work since its last notification (its job not handed back
 * yet) that the pool's guesses, or the kernel's tag of its last trace,
 * put in some trace; the hand-back that would settle it will not come.
 * Those traces are not known to be whole (seen: asgi at 16 connections, a
 * request answered before the pause kept two other jobs' calls made on
 * its workers' stale trace after its reply, sure of it).
 */
static bool hops_since(const struct trace *tr, __u32 tid, __u64 since)
{
	size_t i;

	for (i = 0; i < tr->pub.n_hops; i++) {
		const struct krt_hop *h = &tr->pub.hops[i];
		__u64 at = h->from_tid == tid ? h->send_ns : h->to_tid == tid ? h->recv_ns : 0;

		if (!eng_hop_dead(h) && at > since)
			return true;
	}
	return false;
}

void eng_pool_pause(struct krt_engine *e)
{
	struct thread *w;
	size_t i, k;

	table_for_each(&e->threads, i, w)
	{
		if (!w->notified_ns && !w->notify_reader)
			continue; /* no worker of a hand-back seen */
		for (k = 0; k < e->n_open; k++)
			if (e->open[k]->pub.end_ns > w->notified_ns &&
			    hops_since(e->open[k], w->tid, w->notified_ns))
				e->open[k]->handback_guess = true;
	}
}

/* krt_engine_settled: no loop's hand-backs out of step since a pause. */
bool eng_pool_in_step(struct krt_engine *e)
{
	struct thread *t;
	size_t i;

	table_for_each(&e->threads, i, t)
	{
		if (t->handback_unsettled)
			return false;
	}
	return true;
}

/*
 * A sampling pause: the notification channels' running counts and queued
 * jobs, and the request readers of the pool warm-up (orphan_takes) are
 * request state; a fresh engine's start learns them again.
 */
void eng_pool_forget(struct krt_engine *e)
{
	memset(e->chans, 0, sizeof(e->chans));
	memset(e->readers, 0, sizeof(e->readers));
	e->n_readers = 0;
}
