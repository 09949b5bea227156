/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Goroutines: a Go program runs its goroutines M:N on a few threads, so the
 * thread state the rest of the programs keep (the trace a thread works for,
 * its entry connection, whether it answered) belongs, in a Go process, to
 * the goroutine running on the thread. Three uprobes on the Go runtime
 * (attached per process by user space, offsets from src/go_binary.c) swap
 * that state as goroutines come and go:
 *
 *   runtime.execute(gp)        gp starts running on this thread: the state
 *                              of the goroutine that ran here is put away,
 *                              gp's is put on the thread (the CPU time so far
 *                              goes to the trace it was gathered for);
 *   runtime.gostartcallfn(&gp.sched, fn)
 *                              called once per new goroutine by its creator,
 *                              whose state is on the thread: the new one
 *                              starts with its creator's trace (fan-out);
 *   runtime.ready(gp)          gp is made runnable by the running goroutine
 *                              (channel, WaitGroup, lock): a hand-off, or
 *                              the return of a shared resource, which the
 *                              runtime does not tell apart. A goroutine that
 *                              read its request on a server connection (OWN)
 *                              keeps it. One that was given its trace
 *                              (started for it, or handed it: BOUND) and has
 *                              not sent since takes only the trace of an OWN
 *                              waker (a request handing work out), not that
 *                              of a goroutine returning a pooled connection.
 *                              Any other (none, or done: OPEN; net/http's
 *                              connection writer) takes its waker's. A
 *                              request's own goroutine readied by one working
 *                              for another trace was blocked handing work
 *                              over: the waker takes that work's trace.
 *
 * The Go register ABI (amd64, Go 1.17+) passes the first arguments in RAX,
 * RBX, RCX. Only entry probes: a uretprobe rewrites the return address on a
 * goroutine stack the runtime may move.
 */
#ifndef KRT_GOROUTINES_BPF_H
#define KRT_GOROUTINES_BPF_H

#include "tagging.bpf.h"
#include "krtrace_go.h"

/* Go processes whose goroutines are followed (user space fills it). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct krt_go_proc);
} go_procs SEC(".maps");

/* A thread's running goroutine (by tid): its runtime.g, goid and trace origin. */
struct krt_go_running {
	__u64 g;
	__u64 goid;
	__u8 origin;
	__u8 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct krt_go_running);
} go_running SEC(".maps");

/* The goroutine running on tid for the records (0: not a followed Go thread). */
static __always_inline __u32 go_running_goid(__u32 tid)
{
	struct krt_go_running *run = bpf_map_lookup_elem(&go_running, &tid);

	return run ? (__u32)run->goid : 0;
}

/* Whether a goroutine's trace can be replaced by its waker's. */
enum krt_go_origin {
	KRT_GO_OPEN,		/* none, or done with it (sent since): by any waker */
	KRT_GO_BOUND,		/* given (started for it, handed it): by an OWN waker */
	KRT_GO_OWN,		/* read on a server connection: never */
};

/*
 * A goroutine's thread state. While it runs, the live copy is the state of
 * the thread it runs on (on_tid); this one is brought up to date when it
 * leaves: when its thread runs another goroutine, or when it runs or is
 * readied elsewhere while its last thread went idle with it (a goroutine
 * that parks does not pass through a probe: its thread may sleep with it).
 */
struct krt_go_state {
	__u32 trace;
	__u32 on_tid;		/* running there (its state is that thread's), or 0 */
	__u8 claim;		/* enum krt_claim */
	__u8 origin;
	__u8 entry_server;
	__u8 pad[5];
	__u64 entry_cookie;
};

/* LRU: goroutines that end leave states behind; a new one starts afresh. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct krt_go_key);
	__type(value, struct krt_go_state);
} go_states SEC(".maps");

__u64 go_switches = 0;	/* goroutine switches that changed a thread's trace */
__u64 go_inherited = 0;	/* goroutines started with their creator's trace */
__u64 go_handoffs = 0;	/* goroutines that took a trace from their waker */
__u64 go_moved = 0;	/* goroutines whose state was fetched from the thread they left */

/*
 * The goroutine on thread state t read its request on a server connection
 * (and has not taken another trace since: its downstream replies keep it).
 */
static __always_inline bool go_owns(const struct krt_thread_state *t)
{
	return t->entry_server && (t->trace & KRT_TRACE_ID_MASK);
}

/* Copies thread state t into st (the goroutine that ran as run leaves thread t). */
static __always_inline void go_take(struct krt_go_state *st, const struct krt_thread_state *t,
				    const struct krt_go_running *run)
{
	st->trace = t->trace;
	st->claim = t->claim == KRT_CLAIM_REPLIED ? KRT_CLAIM_REPLIED : KRT_CLAIM_OPEN;
	st->entry_cookie = t->entry_cookie;
	st->entry_server = t->entry_server;
	if (go_owns(t))
		st->origin = KRT_GO_OWN;
	else if (!(t->trace & KRT_TRACE_ID_MASK) || t->sent)
		st->origin = KRT_GO_OPEN;	/* passed its work on */
	else
		st->origin = run->origin == KRT_GO_OWN ? KRT_GO_OPEN : run->origin;
	st->on_tid = 0;
}

/*
 * Brings st (goroutine g) up to date when it is still live on a thread
 * other than tid: the state there is its, unless that thread has run
 * another goroutine since.
 */
static __always_inline void go_settle(struct krt_go_state *st, __u64 g, __u32 tid)
{
	__u32 other = st->on_tid;
	struct krt_go_running *run;
	struct krt_thread_state *t;

	if (!other || other == tid)
		return;
	run = bpf_map_lookup_elem(&go_running, &other);
	t = thread_find(other);
	if (run && run->g == g && t) {
		go_take(st, t, run);
		run->g = 0;
		__sync_fetch_and_add(&go_moved, 1);
	}
	st->on_tid = 0;
}

SEC("uprobe")
int krt_go_execute(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), g = ctx->ax, goid = 0;
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct krt_go_running *run, next = { .g = g };
	struct krt_go_key k = { .g = g, .tgid = tgid };
	struct krt_go_state *st, fresh = {};
	struct krt_thread_state *t;
	struct krt_go_proc *proc;

	if (empty_hooks || !kernel_tags)
		return 0;
	proc = bpf_map_lookup_elem(&go_procs, &tgid);
	if (!proc || !g)
		return 0;
	t = thread_get(tid);
	if (!t)
		return 0;
	run = bpf_map_lookup_elem(&go_running, &tid);
	if (run && run->g == g)
		return 0;
	/* the goroutine that ran here leaves: its state is put away */
	if (run && run->g) {
		struct krt_go_key pk = { .g = run->g, .tgid = tgid };
		struct krt_go_state *ps = bpf_map_lookup_elem(&go_states, &pk), put = {};

		go_take(ps ? ps : &put, t, run);
		if (!ps)
			bpf_map_update_elem(&go_states, &pk, &put, BPF_ANY);
	}
	st = bpf_map_lookup_elem(&go_states, &k);
	if (!st) {
		bpf_map_update_elem(&go_states, &k, &fresh, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&go_states, &k);
		if (!st)
			return 0;
	}
	go_settle(st, g, tid);
	if (t->trace != st->trace)
		__sync_fetch_and_add(&go_switches, 1);
	thread_set_trace(t, tid, tgid, NULL, st->trace, NULL, NULL);
	t->claim = st->claim;
	t->entry_cookie = st->entry_cookie;
	t->entry_server = st->entry_server;
	t->pooled = 0;
	t->tag_pending = 0;
	t->sent = 0;
	st->on_tid = tid;
	next.origin = st->origin;
	bpf_probe_read_user(&goid, sizeof(goid), (void *)(g + proc->goid_off));
	next.goid = goid;
	bpf_map_update_elem(&go_running, &tid, &next, BPF_ANY);
	return 0;
}

SEC("uprobe")
int krt_go_newproc(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct krt_go_key k = { .tgid = tgid };
	struct krt_go_state st = {};
	struct krt_thread_state *t;
	struct krt_go_proc *proc;

	if (empty_hooks || !kernel_tags)
		return 0;
	proc = bpf_map_lookup_elem(&go_procs, &tgid);
	if (!proc)
		return 0;
	k.g = ctx->ax - proc->sched_off;
	t = thread_find(tid);
	/*
	 * A runtime.g is reused: a new goroutine of no request starts with none.
	 * Started by a request's own goroutine, it works for that request (a
	 * fan-out); started by another (net/http's dialer starting a
	 * connection's reader and writer), it serves whoever hands it work.
	 */
	if (t && (t->trace & (KRT_TRACE_ID_MASK | KRT_TRACE_SAMPLED_OUT))) {
		st.trace = t->trace;
		st.origin = go_owns(t) ? KRT_GO_BOUND : KRT_GO_OPEN;
		__sync_fetch_and_add(&go_inherited, 1);
	}
	bpf_map_update_elem(&go_states, &k, &st, BPF_ANY);
	return 0;
}

/* The goroutine running on thread tid takes trace (handed work it picked up). */
static __always_inline void go_pick_up(struct krt_thread_state *t, __u32 tid, __u32 tgid,
				       __u32 trace)
{
	struct krt_go_running *run = bpf_map_lookup_elem(&go_running, &tid);

	thread_set_trace(t, tid, tgid, NULL, trace, NULL, NULL);
	t->claim = KRT_CLAIM_OPEN;
	t->entry_cookie = 0;
	t->entry_server = 0;
	t->sent = 0;
	if (run)
		run->origin = KRT_GO_BOUND;
	__sync_fetch_and_add(&go_handoffs, 1);
}

SEC("uprobe")
int krt_go_ready(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct krt_go_key k = { .g = ctx->ax, .tgid = tgid };
	struct krt_go_state *st, fresh = {};
	struct krt_thread_state *t;

	if (empty_hooks || !kernel_tags)
		return 0;
	if (!bpf_map_lookup_elem(&go_procs, &tgid))
		return 0;
	t = thread_find(tid);
	if (!t || !(t->trace & (KRT_TRACE_ID_MASK | KRT_TRACE_SAMPLED_OUT)))
		return 0;
	st = bpf_map_lookup_elem(&go_states, &k);
	if (!st) {
		bpf_map_update_elem(&go_states, &k, &fresh, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&go_states, &k);
		if (!st)
			return 0;
	}
	go_settle(st, k.g, tid);
	if (st->trace == t->trace)
		return 0;
	if (st->origin == KRT_GO_OWN) {
		/*
		 * A request's own goroutine readied by one working for another
		 * trace: it was blocked handing work over (an unbuffered
		 * channel send), and the waker is taking that work.
		 */
		if (!go_owns(t) && (st->trace & KRT_TRACE_ID_MASK))
			go_pick_up(t, tid, tgid, st->trace);
		return 0;
	}
	if (st->origin == KRT_GO_BOUND && !go_owns(t))
		return 0;
	st->trace = t->trace;
	st->origin = KRT_GO_BOUND;
	st->claim = KRT_CLAIM_OPEN;
	st->entry_cookie = 0;
	__sync_fetch_and_add(&go_handoffs, 1);
	return 0;
}

/* Go processes' threads wake each other to run goroutines: no hand-off there. */
static __always_inline bool go_process(__u32 tgid)
{
	return bpf_map_lookup_elem(&go_procs, &tgid) != NULL;
}

#endif
