/*
 * Goroutines on import: a capture with Go's uprobe events (go_execute,
 * go_start, go_ready; docs/handoffs.md, "Goroutine events in a capture")
 * gives each goroutine to the
 * engine as a unit of its own (ftrace_normalize.c): its transfers and CPU
 * come under its own tid, so the thread rules hold per goroutine. What a
 * thread never does, a goroutine does: it is started with its creator's
 * trace, and it is handed a trace over a channel. Those are the live
 * path's rules (bpf/goroutines.bpf.h), applied here to the units:
 *
 *   start    the new goroutine takes its creator's trace; bound to it when
 *            the creator read that request itself (a fan-out), open
 *            otherwise (net/http's dialer starting a connection's reader
 *            and writer: they serve whoever hands them work);
 *   ready    a channel's wake-up: a goroutine that read its request (own)
 *            keeps it, and its waker, working for no request of its own,
 *            takes it (it was blocked handing work over); one bound to its
 *            trace and silent since takes only an own waker's; any other
 *            (none, or sent since: open) takes its waker's.
 *   execute  the unit that ran on the thread leaves the CPU, the goroutine
 *            takes it: CPU time goes to the goroutine's trace.
 */
#include "engine_internal.h"

enum go_origin {
	GO_OPEN,  /* none, or done with it (sent since): by any waker */
	GO_BOUND, /* given (started for it, handed it): by an own waker */
	GO_OWN,	  /* read on a server connection: never */
};

static bool go_owns(const struct thread *t)
{
	return t->cur && t->cur == t->go_own_trace;
}

static enum go_origin go_origin_now(const struct thread *t)
{
	if (go_owns(t))
		return GO_OWN;
	if (!t->cur || t->go_sent)
		return GO_OPEN;
	return t->go_origin == GO_BOUND ? GO_BOUND : GO_OPEN;
}

/* A goroutine's unit: found, or new in the process of like (a unit of it). */
static struct thread *go_unit(struct krt_engine *e, __u32 tid, const struct thread *like,
			      const char *comm)
{
	struct thread *t = eng_thread_find(e, tid);

	if (!t) {
		t = eng_thread_new(e, tid, like ? like->pid : 0, comm);
		t->go_thread = like ? eng_thread_shown_tid(like) : 0;
		if (like && !t->container[0])
			t->container = like->container;
	}
	t->traced = true;
	t->runs_goroutines = true;
	return t;
}

/* t takes trace, handed to it (the goroutine is bound to it until it sends). */
static void go_hand(struct krt_engine *e, struct thread *t, __u64 trace, __u64 ts)
{
	eng_thread_set_trace(e, t, trace, ts);
	t->go_own_trace = 0;
	t->go_sent = false;
	t->go_origin = trace ? GO_BOUND : GO_OPEN;
}

void eng_go_owns(struct thread *t)
{
	if (!t->runs_goroutines || !t->cur)
		return;
	t->go_own_trace = t->cur;
	t->go_origin = GO_OPEN; /* once it takes another trace, it is open */
}

void eng_go_sent(struct thread *t)
{
	if (t->runs_goroutines)
		t->go_sent = true;
}

void eng_go_event(struct krt_engine *e, const struct krt_event *ev)
{
	const struct krt_goroutine *g = &ev->go;
	struct thread *from, *to;

	if (!ev->tid || !g->target_tid)
		return;
	from = eng_thread_touch(e, ev->tid, ev->pid, ev->comm);
	from->runs_goroutines = true;
	to = go_unit(e, g->target_tid, from, ev->comm);
	switch (g->op) {
	case KRT_GO_OP_EXECUTE:
		if (from->oncpu) {
			eng_charge(e, from, from->oncpu_since, ev->ts_ns);
			from->oncpu = false;
		}
		to->oncpu = true;
		to->oncpu_since = ev->ts_ns;
		to->go_thread = g->thread;
		e->sum.go_switches++;
		break;
	case KRT_GO_OP_START:
		go_hand(e, to, from->cur, ev->ts_ns);
		to->go_origin = go_owns(from) ? GO_BOUND : GO_OPEN;
		if (from->cur) {
			e->sum.go_inherited++;
			eng_vlog(e, ev->ts_ns, to, to->tid, to->cur,
				 "goroutine started by %u: its trace %llu (%s)", from->tid,
				 (unsigned long long)from->cur,
				 to->go_origin == GO_BOUND ? "bound" : "open");
		}
		break;
	case KRT_GO_OP_READY:
		if (!from->cur || to->cur == from->cur)
			break;
		if (go_origin_now(to) == GO_OWN) {
			/* a request's own goroutine readied by one working for another trace */
			if (!go_owns(from)) {
				eng_vlog(e, ev->ts_ns, from, from->tid, to->cur,
					 "readies goroutine %u, whose request it takes over",
					 to->tid);
				go_hand(e, from, to->cur, ev->ts_ns);
				e->sum.go_handoffs++;
			}
			break;
		}
		if (go_origin_now(to) == GO_BOUND && !go_owns(from))
			break;
		eng_vlog(e, ev->ts_ns, to, to->tid, from->cur,
			 "readied by goroutine %u: takes its trace %llu", from->tid,
			 (unsigned long long)from->cur);
		go_hand(e, to, from->cur, ev->ts_ns);
		e->sum.go_handoffs++;
		break;
	}
}
