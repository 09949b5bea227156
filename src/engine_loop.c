/*
 * The event-loop rule (docs/handoffs.md, "Event loops"): the requests a
 * thread read and owes a send (owed), what its last receive held (tick)
 * and the requests that sent nothing downstream yet (fresh), and which of
 * them an event loop's send is for (eng_loop_pick). Called from
 * engine_conn.c's send and receive paths; looks traces up, so it sits
 * above engine_trace.c. A thread that runs goroutines is no loop (the
 * kernel tags each transfer with its goroutine's trace, and engine_conn.c
 * asks the rule only of other threads): its lists are not kept (27 of
 * 31 engine events of a go-fanout request are its transfers).
 */
#include "engine_internal.h"

/*
 * t's owed entry i: its trace, or NULL when it was let go of here (answered
 * or finished: nothing is owed to it any more).
 */
static struct trace *owed_live(struct krt_engine *e, struct thread *t, unsigned int i)
{
	struct trace *tr = eng_trace_find(e, t->owed[i]);

	if (tr && !tr->answered)
		return tr;
	eng_owed_remove(t, t->owed[i]);
	return NULL;
}

/*
 * A full owed list: let go of the traces nothing is owed to any more, so
 * that only live ones are ever overwritten. An overwritten one sets
 * owed_lost, which holds until the thread owes nothing: an event loop
 * whose queue never empties (Node.js at 16 connections) would refuse
 * every loop-rule pick for good.
 */
static void owed_prune(struct krt_engine *e, struct thread *t)
{
	unsigned int i = 0;

	while (i < t->n_owed)
		if (owed_live(e, t, i))
			i++;
}

/* t received bytes of trace and owes it a send (see struct thread's owed). */
void eng_owed_add(struct krt_engine *e, struct thread *t, __u64 trace)
{
	unsigned int i;

	if (!trace || t->runs_goroutines)
		return;
	for (i = 0; i < t->n_owed; i++)
		if (t->owed[i] == trace)
			return;
	if (t->n_owed == OWED_MAX)
		owed_prune(e, t);
	if (t->n_owed == OWED_MAX) {
		memmove(t->owed, t->owed + 1, (OWED_MAX - 1) * sizeof(t->owed[0]));
		t->n_owed--;
		t->owed_lost = true;
	}
	t->owed[t->n_owed++] = trace;
}

/* t sent bytes of trace: it owes it nothing more. */
void eng_owed_remove(struct thread *t, __u64 trace)
{
	unsigned int i;

	if (t->runs_goroutines)
		return;
	for (i = 0; i < t->n_owed; i++) {
		if (t->owed[i] == trace) {
			memmove(t->owed + i, t->owed + i + 1,
				(t->n_owed - i - 1) * sizeof(t->owed[0]));
			t->n_owed--;
			break;
		}
	}
	if (!t->n_owed)
		t->owed_lost = false;
}

/*
 * Does t owe a send to a live, unanswered trace other than tag? Then a
 * send it makes under tag only because tag is its current trace may be
 * that other trace's (an event loop that read B's request or reply after
 * A's, and writes A's next call now). Answered or finished traces are
 * let go here. An overflow of the list counts only for such a thread.
 */
bool eng_owed_other(struct krt_engine *e, struct thread *t, __u64 tag)
{
	unsigned int i = 0;
	bool other = false, reads = false;

	while (i < t->n_owed) {
		struct trace *tr = owed_live(e, t, i);

		if (!tr)
			continue;
		/*
		 * Only requests this thread read itself: a pool worker that
		 * owes a trace its reader handed it is the pool rules' case.
		 */
		if (tr->pub.ingress.tid == t->tid) {
			reads = true;
			other |= t->owed[i] != tag;
		}
		i++;
	}
	return other || (t->owed_lost && reads);
}

/*
 * t's send under tag was marked "loop": each other request t read and
 * owes a send may have lost that send to tag's trace, so it is not sure
 * to be whole either.
 */
void eng_owed_mark_others(struct krt_engine *e, struct thread *t, __u64 tag)
{
	unsigned int i;

	for (i = 0; i < t->n_owed; i++) {
		struct trace *tr = t->owed[i] != tag ? eng_trace_find(e, t->owed[i]) : NULL;

		if (tr && tr->pub.ingress.tid == t->tid)
			tr->pub.uncertain |= KRT_UNCERTAIN_LOOP;
	}
}

void eng_loop_list_add(__u64 *list, __u8 *n, __u64 trace, bool *lost)
{
	unsigned int i;

	for (i = 0; i < *n; i++)
		if (list[i] == trace)
			return;
	if (*n == LOOP_LIST_MAX) {
		memmove(list, list + 1, (LOOP_LIST_MAX - 1) * sizeof(list[0]));
		(*n)--;
		if (lost)
			*lost = true;
	}
	list[(*n)++] = trace;
}

bool eng_loop_list_remove(__u64 *list, __u8 *n, __u64 trace)
{
	unsigned int i;

	for (i = 0; i < *n; i++) {
		if (list[i] == trace) {
			memmove(list + i, list + i + 1, (*n - i - 1) * sizeof(list[0]));
			(*n)--;
			return true;
		}
	}
	return false;
}

/* t sent or received on a socket: is it its process's only thread that does? */
void eng_loop_note_io(struct krt_engine *e, struct thread *t)
{
	struct thread *leader = t->pid == t->tid ? t : eng_thread_find(e, t->pid);

	if (!t->pid || !leader)
		return;
	if (!leader->proc_io_tid)
		leader->proc_io_tid = t->tid;
	else if (leader->proc_io_tid != t->tid)
		leader->proc_io_multi = true;
}

/* A receive of t begins: what it reads is the loop's next callback. */
void eng_loop_tick_begin(struct thread *t, __u64 serial)
{
	t->tick_serial = serial;
	t->n_tick = 0;
	t->tick_unknown = false;
}

/* The receive held bytes of trace (in byte order). */
void eng_loop_tick_add(struct thread *t, __u64 trace)
{
	if (trace && !t->runs_goroutines)
		eng_loop_list_add(t->tick, &t->n_tick, trace, NULL);
}

/* t read a new request: its first downstream send is still to come. */
void eng_loop_fresh_add(struct thread *t, __u64 trace)
{
	if (trace && !t->runs_goroutines)
		eng_loop_list_add(t->fresh, &t->n_fresh, trace, &t->fresh_lost);
}

/*
 * t sent bytes of trace (a call or its answer): it acted on it. tick_pick:
 * the loop rule named it as the callback of t's last receive.
 */
void eng_loop_acted(struct krt_engine *e, struct thread *t, __u64 trace, bool tick_pick)
{
	struct trace *tr;

	if (t->runs_goroutines)
		return;
	eng_loop_list_remove(t->tick, &t->n_tick, trace);
	/*
	 * Put back by a re-sync: the callback of a reply to a call in flight
	 * under it is another request's work, not its start.
	 */
	tr = t->loop_after_pause ? eng_trace_find(e, trace) : NULL;
	if (tr && tr->loop_refresh) {
		if (tick_pick)
			return;
		tr->loop_refresh = false;
	}
	if (eng_loop_list_remove(t->fresh, &t->n_fresh, trace) && t->loop_after_pause)
		eng_loop_list_add(t->started, &t->n_started, trace, NULL);
	if (!t->n_fresh)
		t->fresh_lost = false;
}

/*
 * The oldest entry of list that t read itself and is still unanswered.
 * stale: set when it let go of a request a re-sync after a pause found
 * named calls of another request (loop_stale), answered since: bytes of
 * such a call are another request's work, never a request's first call.
 */
static __u64 loop_first_stale(struct krt_engine *e, struct thread *t, __u64 *list, __u8 *n,
			      bool *stale)
{
	while (*n) {
		struct trace *tr = eng_trace_find(e, list[0]);

		if (tr && !tr->answered && tr->pub.ingress.tid == t->tid)
			return list[0];
		/*
		 * After a pause, bytes of an answered request (its calls' replies
		 * all come before its reply) are of a call named after it that
		 * was another's: never a request's first call either.
		 */
		if (tr && (tr->loop_stale || (t->loop_after_pause && tr->answered)))
			*stale = true;
		eng_loop_list_remove(list, n, list[0]);
	}
	return 0;
}

__u64 eng_loop_first(struct krt_engine *e, struct thread *t, __u64 *list, __u8 *n)
{
	bool stale = false;

	return loop_first_stale(e, t, list, n, &stale);
}

/*
 * The loop rule: which trace a send of event loop t is for, when it owes
 * sends to several (eng_owed_other). A single-threaded loop runs the
 * callbacks of what one receive read, in byte order, before anything else
 * (Node.js runs the callbacks of pipelined replies read together in
 * order, each sending its next call at once); work it deferred comes
 * after, and a request's first downstream send waits in the order the
 * requests were read (a keep-alive pool hands a freed socket to the
 * oldest waiting request). So: the oldest trace of the last receive that
 * has not acted since, else the oldest request read that has sent
 * nothing downstream. 0 when that is not known (the receive held bytes of
 * no known trace, or a list overflowed).
 */
static __u64 loop_pick(struct krt_engine *e, struct thread *t, bool reused_conn, const char **why,
		       bool *tick_pick)
{
	bool stale = false;
	__u64 pick, next;

	if (!eng_loop_alone(e, t))
		return 0; /* not the one thread of its process doing socket I/O */
	if (t->owed_lost || t->tick_unknown)
		return 0;
	pick = loop_first_stale(e, t, t->tick, &t->n_tick, &stale);
	/*
	 * Its last receive held bytes of a call named after a request that
	 * a re-sync found was another's: the callback is that one's work, not
	 * known whose; never the oldest request not started's first call.
	 */
	if (!pick && stale)
		return 0;
	next = t->fresh_lost ? 0 : eng_loop_first(e, t, t->fresh, &t->n_fresh);
	/*
	 * A send on the connection whose reply it just read, a connection
	 * that serves one request at a time (a keep-alive pool's socket):
	 * that reply settled its request's call there, so the send may as well
	 * be the oldest waiting request's (the pool lends the freed socket).
	 */
	if (pick && reused_conn && (t->fresh_lost || (next && next != pick)))
		return 0;
	if (pick) {
		*why = "event loop: callback of its last receive";
		*tick_pick = true;
		return pick;
	}
	if (t->fresh_lost)
		return 0;
	pick = next;
	if (pick)
		*why = "event loop: oldest request not started";
	return pick;
}

/*
 * Any pick of a loop in doubt (see struct thread's loop_doubt) may be a
 * request's read while the hooks were off: the request it names is not
 * sure to be whole, or its own.
 */
__u64 eng_loop_pick(struct krt_engine *e, struct thread *t, bool reused_conn, const char **why,
		    bool *tick_pick)
{
	__u64 pick = loop_pick(e, t, reused_conn, why, tick_pick);
	struct trace *tr = pick && t->loop_doubt ? eng_trace_find(e, pick) : NULL;

	if (tr && !tr->loop_unseen)
		tr->pub.uncertain |= KRT_UNCERTAIN_LOOP;
	return pick;
}

/* Is t its process's one thread doing socket I/O (the loop rule's loop)? */
bool eng_loop_alone(struct krt_engine *e, const struct thread *t)
{
	const struct thread *leader = t->pid == t->tid ? t : eng_thread_find(e, t->pid);

	return t->pid && leader && leader->proc_io_tid == t->tid && !leader->proc_io_multi &&
	       !t->runs_goroutines;
}
