/*
 * Live, Go programs whose goroutines are followed (bpf/goroutines.bpf.h):
 * the trace each goroutine last held, as the engine saw it.
 *
 * The kernel swaps a thread's trace with the goroutine it runs, and tags
 * nearly every transfer with it. Where it does not decide (the goroutine's
 * last receive read bytes whose sender's hook had not run yet: its trace
 * is a guess until the tag comes, tag_pending), the engine's rules do, and
 * rule 2 names the thread's current trace: the trace of the last bytes any
 * goroutine received on that thread. One thread runs the goroutines of
 * many requests: net/http's connection reader read the next request's
 * backend reply on the thread between a handler's redis command and the
 * read of its reply, and the handler's next command went into that other
 * request, with the reply to it and everything it read after (go-http,
 * one wrong and one missing request about one in 3000 at 4-16
 * connections). Rule 2 for a goroutine is the trace of the last bytes it
 * received or sent itself, on whichever thread: kept here per (process,
 * goid), direct-mapped (a goroutine seen again after its slot was taken
 * is not known: its send is marked uncertain).
 */
#include "engine_internal.h"

static struct go_slot *go_slot(struct krt_engine *e, __u32 pid, __u32 goid, bool make)
{
	if (!e->go_slots) {
		if (!make)
			return NULL;
		e->go_slots = eng_xcalloc(GO_SLOTS, sizeof(*e->go_slots));
	}
	return &e->go_slots[(goid ^ (pid * 0x9e3779b1u)) & (GO_SLOTS - 1)];
}

void eng_go_note(struct krt_engine *e, const struct thread *t, __u32 goid, __u64 trace, __u64 ts)
{
	struct go_slot *s;

	/* not an import's goroutine unit (engine_go.c): its own trace is its unit's */
	if (!goid || !trace || !t->runs_goroutines || t->go_thread)
		return;
	s = go_slot(e, t->pid, goid, true);
	/* a receive decided late (its send came after) is older than what came since */
	if (s->pid == t->pid && s->goid == goid && s->ts > ts)
		return;
	s->pid = t->pid;
	s->goid = goid;
	s->trace = trace;
	s->ts = ts;
}

__u64 eng_go_current(struct krt_engine *e, const struct thread *t, __u32 goid, bool *known)
{
	const struct go_slot *s = go_slot(e, t->pid, goid, false);

	*known = s && s->pid == t->pid && s->goid == goid && eng_trace_find(e, s->trace);
	return *known ? s->trace : 0;
}

void eng_go_forget(struct krt_engine *e)
{
	if (e->go_slots)
		memset(e->go_slots, 0, GO_SLOTS * sizeof(*e->go_slots));
}
