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
 *                              its runtime.g may be one whose goroutine
 *                              ended on a thread that still names it as
 *                              running: that thread forgets it;
 *   runtime.ready(gp)          (lazy: on runtime.send and runtime.recv,
 *                              the channel operations that ready the
 *                              goroutine parked on the other side, on the
 *                              waker's stack, R14 the waker's g, gp in
 *                              their sudog; or on runtime.goready)
 *                              gp is made runnable by the running goroutine
 *                              over a channel (not by a lock, WaitGroup or
 *                              timer: see handoff_skips): a hand-off, or
 *                              the return of a shared resource, which the
 *                              runtime does not tell apart. A goroutine that
 *                              read its request on a server connection (OWN)
 *                              keeps it. One that was given its trace
 *                              (started for it, or handed it: BOUND) and has
 *                              not sent since takes only the trace of an OWN
 *                              waker (a request handing work out), not that
 *                              of a goroutine returning a pooled connection.
 *                              Any other (none, or done: OPEN; net/http's
 *                              connection writer) takes its waker's. One
 *                              not seen since the start or the last pause
 *                              (UNKNOWN: its request may be one the tracer
 *                              never saw) takes only that of a waker
 *                              handing work it holds. A
 *                              request's own goroutine readied by one working
 *                              for another trace was blocked handing work
 *                              over: the waker takes that work's trace. A
 *                              waker that opened a connection nothing was
 *                              sent on yet hands that connection over to
 *                              the request it readies (go_hand_dial).
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

/*
 * Set by the reader while it pauses (windowed sampling): the Go runtime's
 * probes return at once. Their detach waits for a grace period of the
 * kernel's per probe (one after the other: a pause of go-http and
 * go-fanout took 200-350 ms), so the reader detaches them in the
 * background, after this.
 */
volatile __u32 go_probes_paused = 0;

/* The Go probes do nothing now (the sync of a kernel hook is not asked). */
static __always_inline bool go_probes_off(void)
{
	return empty_hooks || !kernel_tags || go_probes_paused;
}

/*
 * A thread's running goroutine: struct krt_go_running, in the thread's slot
 * of thread_slots (include/krtrace_bpf.h), NULL when the thread has no state.
 */
static __always_inline struct krt_go_running *go_running_of(__u32 tid)
{
	return thread_go(thread_find(tid));
}

/* The goroutine running on tid for the records (0: not a followed Go thread). */
static __always_inline __u32 go_running_goid(__u32 tid)
{
	struct krt_go_running *run;

	/* tid is the current thread: not a Go process's, no lookup */
	if (!go_process(bpf_get_current_pid_tgid() >> 32))
		return 0;
	run = go_running_of(tid);

	return run ? (__u32)run->goid : 0;
}

/* Whether a goroutine's trace can be replaced by its waker's. */
enum krt_go_origin {
	KRT_GO_OPEN,  /* none, or done with it (sent since): by any waker */
	KRT_GO_BOUND, /* given (started for it, handed it): by an OWN waker */
	KRT_GO_OWN,   /* read on a server connection: never */
	/*
	 * Not seen since the tracer started or last paused (no state: it
	 * ran, was started or was handed its work while nothing watched),
	 * and neither read a request nor sent since: it may be working for
	 * a request the tracer never saw (a handler whose request came in
	 * during a pause). By an OWN or BOUND waker only (one handing work
	 * it holds); see krt_go_ready.
	 */
	KRT_GO_UNKNOWN,
};

/*
 * What a goroutine working for a request the tracer never saw carries: an
 * unsampled request's mark with sampling (its transfers go unrecorded, its
 * downstreams take it: not the trace they had before), none otherwise.
 */
static __always_inline __u32 go_unknown_trace(void)
{
	return sampling_on() ? KRT_TRACE_SAMPLED_OUT : 0;
}

/*
 * A goroutine's thread state. While it runs, the live copy is the state of
 * the thread it runs on (on_tid); this one is brought up to date when it
 * leaves: when its thread runs another goroutine, or when it runs or is
 * readied elsewhere while its last thread went idle with it (a goroutine
 * that parks does not pass through a probe: its thread may sleep with it).
 */
struct krt_go_state {
	__u32 trace;
	__u32 on_tid; /* running there (its state is that thread's), or 0 */
	__u8 claim;   /* enum krt_claim */
	__u8 origin;
	__u8 entry_server;
	__u8 dialed; /* its krt_go_running's, while it does not run */
	__u32 goid;  /* 0 until it first runs (a reused runtime.g starts afresh) */
	__u64 entry_cookie;
};

/* LRU: goroutines that end leave states behind; a new one starts afresh. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct krt_go_key);
	__type(value, struct krt_go_state);
} go_states SEC(".maps");

/*
 * Per CPU (COUNT): go_switches, goroutine switches that changed a thread's
 * trace; go_handoffs, goroutines that took a trace from their waker;
 * go_synced, goroutine changes a hook found (lazy). 16 go_synced per
 * go-fanout request: a machine-wide atomic bounced its cache line between
 * CPUs.
 */
__u64 go_inherited = 0; /* goroutines started with their creator's trace */
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
/* How the goroutine that runs as run on thread state t holds its trace now. */
static __always_inline __u8 go_origin_now(const struct krt_thread_state *t,
					  const struct krt_go_running *run)
{
	if (go_owns(t))
		return KRT_GO_OWN;
	if (run && run->origin == KRT_GO_UNKNOWN && !t->sent && !(t->trace & KRT_TRACE_ID_MASK))
		return KRT_GO_UNKNOWN;
	if (!(t->trace & KRT_TRACE_ID_MASK) || t->sent)
		return KRT_GO_OPEN; /* passed its work on */
	/* a trace of its own it took from bytes it read: open, as an OWN one's */
	return !run || run->origin == KRT_GO_OWN || run->origin == KRT_GO_UNKNOWN ? KRT_GO_OPEN
										  : run->origin;
}

static __always_inline void go_take(struct krt_go_state *st, const struct krt_thread_state *t,
				    const struct krt_go_running *run)
{
	st->trace = t->trace;
	st->claim = t->claim == KRT_CLAIM_REPLIED ? KRT_CLAIM_REPLIED : KRT_CLAIM_OPEN;
	st->entry_cookie = t->entry_cookie;
	st->entry_server = t->entry_server;
	st->origin = go_origin_now(t, run);
	st->dialed = run ? run->dialed : 0;
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
	t = thread_find(other);
	run = thread_go(t);
	if (run && run->g == g) {
		go_take(st, t, run);
		run->g = 0;
		__sync_fetch_and_add(&go_moved, 1);
	}
	st->on_tid = 0;
}

/*
 * A Go thread takes another goroutine's trace: the time of the one that
 * leaves goes out as an item of this CPU's batch (events.bpf.h), which is
 * marked busy first and gives the time (a transfer hook can be
 * interrupted). As ring records of their own, two stretches each, they
 * were 2.8 and 3.9 of the 11 and 14 records of a go-http and go-fanout
 * request. The stretch is gathered in go_stash, not on the stack: the
 * hooks' frames with krt_go_sync's are at the 512-byte limit. When the
 * batch cannot take it (busy, or not batching yet), a record of its own.
 */
static __always_inline void go_set_trace(struct krt_thread_state *t, __u32 tid, __u32 tgid,
					 __u32 trace)
{
	struct krt_sched_batch *b;
	struct krt_sched_item *it;
	__u64 clk = 0;

	if (t->trace == trace)
		return;
	it = cpu_in_kernel && !t->shown_oncpu ? batch_busy_add(&b, KRT_EV_CPU, &clk) : NULL;
	if (!it) {
		thread_set_trace(t, tid, tgid, NULL, trace, &clk, NULL);
		return;
	}
	thread_set_trace(t, tid, tgid, NULL, trace, &clk, &t->go_stash);
	if (!t->go_stash.oncpu_ns && !t->go_stash.runq_ns) {
		batch_busy_cancel(b);
		return;
	}
	it->prev_tid = tid;
	it->prev_pid = tgid;
	__builtin_memcpy(it->prev_comm, bpf_get_current_task_btf()->comm, sizeof(it->prev_comm));
	it->next_tid = t->go_stash.trace_id;
	it->cpu.oncpu_ns = t->go_stash.oncpu_ns;
	it->cpu.runq_ns = t->go_stash.runq_ns;
	batch_busy_done(b);
	__builtin_memset(&t->go_stash, 0, sizeof(t->go_stash));
}

/*
 * Goroutine g (goid) runs on thread tid now: the state of the goroutine
 * that ran here is put away, g's is put on the thread (the CPU time so far
 * goes to the trace it was gathered for). run: tid's krt_go_running, st:
 * g's state, when the caller has them (NULL: looked up here).
 */
static __always_inline void go_run(__u32 tid, __u32 tgid, __u64 g, __u64 goid,
				   struct krt_go_running *run, struct krt_go_state *st, bool prof)
{
	struct krt_go_key k = {.g = g, .tgid = tgid};
	/* no state: not seen since the start or the last pause */
	struct krt_go_state fresh = {.trace = go_unknown_trace(), .origin = KRT_GO_UNKNOWN};
	struct krt_thread_state *t;

	/* run is in tid's slot: its state beside it, no second lookup */
	t = run ? go_thread_state(run) : thread_get(tid);
	if (!t)
		return;
	if (!run)
		run = thread_go(t);
	if (!run || run->g == g)
		return;
	/* the goroutine that ran here leaves: its state is put away */
	if (run->g) {
		struct krt_go_key pk = {.g = run->g, .tgid = tgid};
		struct krt_go_state *ps = bpf_map_lookup_elem(&go_states, &pk), put = {};

		go_take(ps ? ps : &put, t, run);
		if (!ps)
			bpf_map_update_elem(&go_states, &pk, &put, BPF_ANY);
	}
	if (!st)
		st = bpf_map_lookup_elem(&go_states, &k);
	if (!st) {
		bpf_map_update_elem(&go_states, &k, &fresh, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&go_states, &k);
		if (!st)
			return;
	}
	PROF_MARK_IF(prof, GO_PUT);
	st->goid = goid;
	go_settle(st, g, tid);
	if (t->trace != st->trace)
		COUNT(go_switches);
	go_set_trace(t, tid, tgid, st->trace);
	t->claim = st->claim;
	t->entry_cookie = st->entry_cookie;
	t->entry_server = st->entry_server;
	t->pooled = 0;
	t->go_thread = 1;
	t->tag_pending = 0;
	t->sent = 0;
	st->on_tid = tid;
	run->g = g;
	run->goid = goid;
	run->origin = st->origin;
	run->dialed = st->dialed;
	PROF_MARK_IF(prof, GO_SWAP);
}

/* runtime.execute(gp): probed only when the hooks cannot find g (not lazy) */
SEC("uprobe")
int krt_go_execute(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), g = ctx->ax, goid = 0;
	__u32 tgid = pid_tgid >> 32;
	struct krt_go_proc *proc;

	if (go_probes_off())
		return 0;
	proc = bpf_map_lookup_elem(&go_procs, &tgid);
	if (!proc || !g)
		return 0;
	bpf_probe_read_user(&goid, sizeof(goid), (void *)(g + proc->goid_off));
	go_run((__u32)pid_tgid, tgid, g, goid, NULL, NULL, false);
	return 0;
}

/*
 * Lazy goroutine switches (proc->lazy): runtime.execute is the hottest of
 * the runtime's functions (12-23 uprobe traps per request at 14-35 us each
 * here), so it is not probed. Every hook that reads or changes the thread
 * state in a Go process (a transfer, a connect, the runtime.ready and
 * gostartcallfn probes) first asks the thread which goroutine it runs: the
 * runtime.g pointer in its TLS (the FS base saved in its task), and when
 * that is the scheduler's g0 (goid 0: ready and newproc1 run on the system
 * stack), the goroutine its M serves (g.m.curg). A goroutine that changed
 * since the thread's last hook is switched to here. What is lost: the
 * CPU time between a goroutine switch and the thread's next hook goes to
 * the goroutine that ran before.
 *
 * reg_g: the g register (R14, Go's register ABI) at a uprobe on a runtime
 * function, 0 at a kernel hook (the TLS slot is read).
 *
 * Cost: it runs at every Go transfer and hand-off (27 and 18 of them per
 * go-fanout request), and each bpf_probe_read_user costs 80-150 ns here.
 * The thread's TLS slot, g0 and m.curg field are fixed for its life
 * (krt_go_running): a goroutine that did not change since the thread's last
 * hook costs one map lookup and one read (the TLS slot, or at a runtime
 * probe on g0 the curg field); it cost five reads and two lookups when
 * everything was read through go_procs each time (0.9 us per ready hit).
 *
 * A global function: the verifier checks it once, not inlined in each
 * program that calls it.
 */
/*
 * At a kernel hook inside a syscall of a Go thread: the g register (R14) in
 * the registers the syscall saved. Go enters a syscall from its own code
 * (syscall.Syscall6 on the goroutine's stack), where R14 holds the running
 * g: one kernel load, where the thread's TLS slot is a user read (80-150
 * ns, at 10 and 20 Go transfers per go-http and go-fanout request). A hint
 * only: taken when it is the thread's goroutine or one whose state is
 * known (a runtime.g of this process); else the TLS slot is read.
 */
static __always_inline __u64 go_syscall_g(void)
{
#if defined(__TARGET_ARCH_x86)
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	return regs->r14;
#else
	return 0;
#endif
}

/*
 * The sync, inline: run is the thread's krt_go_running when the caller
 * looked it up (NULL: looked up here); returns it as it is after the sync
 * (NULL when the thread has none yet, or it was just made).
 */
static __always_inline struct krt_go_running *go_sync(__u64 pid_tgid, __u64 reg_g,
						      struct krt_go_running *run, bool prof)
{
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	__u64 g = reg_g, goid = 0, m = 0, g0 = 0, tls_slot = 0, curg_slot = 0;
	struct krt_go_key k = {.tgid = tgid};
	struct krt_go_state *st = NULL;
	struct krt_go_proc *proc;

	if (empty_hooks || !kernel_tags)
		return NULL;
	if (!run)
		run = go_running_of(tid);
	if (run && run->tls_slot && run->slots_tgid == tgid) {
		if (!g) {
			__u64 hint = go_syscall_g();

			if (hint && hint == run->g) {
				PROF_MARK_IF(prof, GO_SAME);
				return run;
			}
			k.g = hint;
			if (hint && hint != run->g0 && (st = bpf_map_lookup_elem(&go_states, &k))) {
				/*
				 * A key of go_states is a runtime.g of this process.
				 * One gostartcallfn made has no goid yet (newproc1
				 * sets it after): read once here, where the TLS
				 * read and a second lookup of the same state were
				 * (3 new goroutines per go-fanout request).
				 */
				goid = st->goid;
				if (!goid && (proc = bpf_map_lookup_elem(&go_procs, &tgid)))
					bpf_probe_read_user(&goid, sizeof(goid),
							    (void *)(hint + proc->goid_off));
				if (goid) {
					PROF_MARK_IF(prof, GO_HINT);
					go_run(tid, tgid, hint, goid, run, st, prof);
					COUNT(go_synced);
					return run;
				}
			}
			if (bpf_probe_read_user(&g, sizeof(g), (void *)run->tls_slot))
				return run;
		}
		if (!g || g == run->g)
			return run;
		if (g == run->g0) {
			/* the scheduler's stack: the goroutine its m serves */
			if (bpf_probe_read_user(&g, sizeof(g), (void *)run->curg_slot) || !g ||
			    g == run->g)
				return run;
		}
		/* a goroutine that ran before: its goid is in its state */
		k.g = g;
		st = bpf_map_lookup_elem(&go_states, &k);
		if (st && st->goid) {
			go_run(tid, tgid, g, st->goid, run, st, false);
			COUNT(go_synced);
			PROF_MARK_IF(prof, GO_SLOW);
			return run;
		}
	}
	proc = bpf_map_lookup_elem(&go_procs, &tgid);
	if (!proc || !proc->lazy)
		return run;
	if (!run || !run->tls_slot || run->slots_tgid != tgid) {
		/* the thread's first hook: where to read, from its task and g0 */
#if defined(__TARGET_ARCH_x86)
		tls_slot = bpf_get_current_task_btf()->thread.fsbase;
#endif
		if (!tls_slot)
			return run;
		tls_slot += (__s64)proc->tls_g_off;
		if (!g && bpf_probe_read_user(&g, sizeof(g), (void *)tls_slot))
			return run;
		if (!g)
			return run;
	}
	bpf_probe_read_user(&goid, sizeof(goid), (void *)(g + proc->goid_off));
	if (!goid) {
		/* g0 (or gsignal): the goroutine this thread's M runs */
		if (bpf_probe_read_user(&m, sizeof(m), (void *)(g + proc->g_m_off)) || !m)
			return run;
		g0 = g;
		curg_slot = m + proc->m_curg_off;
		if (bpf_probe_read_user(&g, sizeof(g), (void *)curg_slot) || !g)
			return run;
		if (!run || g != run->g)
			bpf_probe_read_user(&goid, sizeof(goid), (void *)(g + proc->goid_off));
		st = NULL; /* looked up for the g0 */
	}
	if (goid) {
		go_run(tid, tgid, g, goid, run, st, false);
		COUNT(go_synced);
	}
	/*
	 * The thread's slots, learnt once (g0 at its first hook on the system
	 * stack); go_run made its entry (if not, the next hook learns them).
	 */
	if ((tls_slot || g0) && (run = go_running_of(tid))) {
		if (tls_slot) {
			run->tls_slot = tls_slot;
			run->slots_tgid = tgid;
			run->skips_known = 0; /* ready learns them again */
			run->g0 = 0;	      /* learnt again, with its m */
		}
		if (g0 && g0 != run->g0) {
			run->g0 = g0;
			run->curg_slot = curg_slot;
		}
	}
	return run;
}

__noinline int krt_go_sync(__u64 pid_tgid, __u64 reg_g)
{
	/* profiled from the socket hooks only (reg_g 0), which start a profile */
	go_sync(pid_tgid, reg_g, NULL, !reg_g);
	return 0;
}

/*
 * Thread tid exits. Lazy: the state of the goroutine it ran last is still
 * the thread's (no execute put it away): the goroutine keeps it.
 */
static __always_inline void go_thread_gone(__u32 tid, __u32 tgid)
{
	struct krt_thread_state *t = thread_find(tid);
	struct krt_go_running *run = thread_go(t);

	if (!run)
		return;
	if (run->g) {
		struct krt_go_key k = {.g = run->g, .tgid = tgid};
		struct krt_go_state *st = bpf_map_lookup_elem(&go_states, &k);

		if (st && st->on_tid == tid)
			go_take(st, t, run);
	}
	/* its slot goes with the thread's state (thread_forget) */
}

__u64 go_reused = 0; /* new goroutines on the runtime.g of one still on its thread */

/*
 * A runtime.g is reused: the goroutine that had it ended, and the thread it
 * ended on still names it as running (no probe sees a goroutine exit). That
 * thread's next execute would put its state (the dead goroutine's trace)
 * away under k, over the new goroutine's; or, running the new one next, it
 * would keep it. The thread forgets it.
 */
static __always_inline void go_forget_dead(const struct krt_go_key *k, struct krt_go_state *old)
{
	struct krt_go_running *run;
	__u32 other;

	if (!old || !old->on_tid)
		return;
	other = old->on_tid;
	run = go_running_of(other);
	if (run && run->g == k->g) {
		run->g = 0;
		__sync_fetch_and_add(&go_reused, 1);
	}
}

/*
 * A connection a goroutine opened and has not handed over yet (net/http's
 * dialer goroutine, started by the request that asked first): by
 * (goroutine, process), the connection's socket cookie.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct krt_go_key);
	__type(value, __u64);
} go_dials SEC(".maps");

__u64 go_dials_handed = 0; /* new connections handed to a request of another trace */

/* The goroutine running on tid (a Go process's thread) opens connection cookie. */
static __always_inline void go_note_dial(__u32 tid, __u32 tgid, __u64 cookie)
{
	struct krt_go_running *run = go_running_of(tid);
	struct krt_go_key k = {.tgid = tgid};

	if (!run || !run->g)
		return;
	k.g = run->g;
	bpf_map_update_elem(&go_dials, &k, &cookie, BPF_ANY);
	run->dialed = 1;
}

/*
 * The goroutine running on tid readies st, a request's goroutine (its own,
 * or given its trace): when it opened a connection nothing was sent on yet,
 * that connection is what it hands over (net/http's dialer delivering a new
 * pooled connection to whichever request waits first, not always the one it
 * was started for). The first send on it carries st's trace, not that of
 * connect time: the connection's writer goroutine, started by the dialer,
 * may write before any hand-off reached it.
 */
static __always_inline void go_hand_dial(__u32 tid, __u32 tgid, const struct krt_go_state *st,
					 struct krt_go_running *run)
{
	struct krt_go_key k = {.tgid = tgid};
	struct krt_conn_side *c;
	__u64 *cookie;

	if (!(st->trace & KRT_TRACE_ID_MASK) || st->origin == KRT_GO_OPEN)
		return;
	/* dialed: most wakers never opened a connection (no go_dials lookup) */
	if (!run)
		run = go_running_of(tid);
	if (!run || !run->g || !run->dialed)
		return;
	k.g = run->g;
	cookie = bpf_map_lookup_elem(&go_dials, &k);
	run->dialed = 0;
	if (!cookie)
		return;
	c = conn_find(*cookie);
	if (c && c->client && !c->sent_any && c->connect_trace != st->trace) {
		c->connect_trace = st->trace;
		__sync_fetch_and_add(&go_dials_handed, 1);
	}
	bpf_map_delete_elem(&go_dials, &k);
}

SEC("uprobe")
int krt_go_newproc(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct krt_go_key k = {.tgid = tgid};
	struct krt_go_state st = {}, *old;
	struct krt_go_running *run;
	struct krt_thread_state *t;
	struct krt_go_proc *proc;

	if (go_probes_off())
		return 0;
	proc = bpf_map_lookup_elem(&go_procs, &tgid);
	if (!proc)
		return 0;
	if (proc->lazy)
		krt_go_sync(pid_tgid, ctx->r14);
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
	/* started by one working for a request not seen (go_origin_now): so is it */
	if (t && !t->sent && !(t->trace & KRT_TRACE_ID_MASK) && (run = thread_go(t)) &&
	    run->origin == KRT_GO_UNKNOWN) {
		st.trace = go_unknown_trace();
		st.origin = KRT_GO_UNKNOWN;
	}
	/*
	 * Go reuses a dead goroutine's runtime.g (its free list): its state is
	 * written over in place, where an update of the LRU map allocates an
	 * element and frees the old one (1.2-1.4 us per newproc hit with it).
	 */
	old = bpf_map_lookup_elem(&go_states, &k);
	go_forget_dead(&k, old);
	if (old)
		*old = st;
	else
		bpf_map_update_elem(&go_states, &k, &st, BPF_ANY);
	return 0;
}

/* The goroutine running on thread tid takes trace (handed work it picked up). */
static __always_inline void go_pick_up(struct krt_thread_state *t, __u32 tid, __u32 tgid,
				       __u32 trace)
{
	struct krt_go_running *run = thread_go(t);

	go_set_trace(t, tid, tgid, trace);
	t->claim = KRT_CLAIM_OPEN;
	t->entry_cookie = 0;
	t->entry_server = 0;
	t->sent = 0;
	if (run)
		run->origin = trace & KRT_TRACE_ID_MASK ? KRT_GO_BOUND : KRT_GO_OPEN;
	COUNT(go_handoffs);
}

/*
 * Channels (when the process's channel operations are probed, runtime.ready
 * is not: it also wakes the waiters of locks, WaitGroups and timers, which
 * hand no work over). A value goes from sender to receiver in one of three
 * ways, each seen by the probe of the goroutine that runs when it happens:
 *
 *   a receiver is parked       the sender's chansend (or select) finds it
 *                              in recvq: the receiver's state takes the
 *                              sender's trace now (go_give);
 *   a sender is parked         the receiver's chanrecv (or select) finds it
 *                              in sendq (unbuffered, or a full ring): the
 *                              receiver takes the sender's (go_take_value);
 *   a buffered ring, nobody    the sender's chansend leaves its trace under
 *   parked                     (channel, slot sendx); the receive that
 *                              takes slot recvx applies it: no runtime.ready
 *                              ever tells of this one (net/http's connection
 *                              writer finding the next request queued kept
 *                              the trace of the one it wrote before).
 *
 * Every one by the rules of the hand-off: an OWN receiver keeps its trace,
 * a BOUND one takes only an OWN sender's (a pooled connection put back by
 * another request's helper is no hand-off), an OPEN one takes any, none
 * included. The fields are read before the runtime locks the channel: two
 * goroutines sending into one ring at once may see the same slot (the later
 * entry stands); a select with more than one ready case is not followed
 * (which one it takes is random).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct krt_go_slot_key);
	__type(value, struct krt_go_slot);
} go_slots SEC(".maps");

__u64 go_chan_handoffs = 0; /* goroutines that took a trace over a channel */
__u64 go_chan_unpaired = 0; /* values taken from a ring that no send noted */

static __always_inline __u64 go_chan_field(__u64 c, __u16 off)
{
	__u64 v = 0;

	bpf_probe_read_user(&v, sizeof(v), (void *)(c + off));
	return v;
}

/* The first goroutine parked on a wait queue (waitq.first: a sudog; sudog.g). */
static __always_inline __u64 go_chan_waiter(__u64 c, __u16 waitq_off)
{
	__u64 sg = go_chan_field(c, waitq_off);

	return sg ? go_chan_field(sg, 0) : 0;
}

static __always_inline struct krt_go_proc *go_chan_proc(__u32 tgid, __u64 reg_g)
{
	struct krt_go_proc *proc;

	if (go_probes_off())
		return NULL;
	proc = bpf_map_lookup_elem(&go_procs, &tgid);
	if (!proc || !proc->chans)
		return NULL;
	if (proc->lazy)
		krt_go_sync((__u64)tgid << 32 | (__u32)bpf_get_current_pid_tgid(), reg_g);
	return proc;
}

static __always_inline struct krt_go_state *go_state_of(__u64 g, __u32 tgid)
{
	struct krt_go_key k = {.g = g, .tgid = tgid};
	struct krt_go_state *st = bpf_map_lookup_elem(&go_states, &k),
			    fresh = {.trace = go_unknown_trace(), .origin = KRT_GO_UNKNOWN};

	if (st)
		return st;
	bpf_map_update_elem(&go_states, &k, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&go_states, &k);
}

#define KRT_GO_TRACE_BITS (KRT_TRACE_ID_MASK | KRT_TRACE_SAMPLED_OUT)

/* Whether a receiver holding its trace as `to` takes a value sent by `from`. */
static __always_inline bool go_takes(__u8 to, __u8 from)
{
	return to == KRT_GO_OPEN || (to == KRT_GO_BOUND && from == KRT_GO_OWN) ||
	       (to == KRT_GO_UNKNOWN && (from == KRT_GO_OWN || from == KRT_GO_BOUND));
}

/* The running goroutine (thread state t) takes a value sent with trace, origin. */
static __always_inline void go_take_value(struct krt_thread_state *t, __u32 tid, __u32 tgid,
					  __u32 trace, __u8 origin)
{
	struct krt_go_running *run = thread_go(t);

	if ((t->trace & KRT_GO_TRACE_BITS) == trace || !go_takes(go_origin_now(t, run), origin))
		return;
	go_pick_up(t, tid, tgid, trace);
	__sync_fetch_and_add(&go_chan_handoffs, 1);
}

/* The running goroutine (thread state t) hands a value to goroutine gp, parked. */
static __always_inline void go_give(struct krt_thread_state *t, __u32 tid, __u32 tgid, __u64 gp)
{
	struct krt_go_running *run = thread_go(t);
	struct krt_go_state *st = go_state_of(gp, tgid);
	__u32 trace = t->trace & KRT_GO_TRACE_BITS;

	if (!st)
		return;
	go_settle(st, gp, tid);
	if (st->trace == trace || !go_takes(st->origin, go_origin_now(t, run)))
		return;
	st->trace = trace;
	st->origin = trace & KRT_TRACE_ID_MASK ? KRT_GO_BOUND : KRT_GO_OPEN;
	st->claim = KRT_CLAIM_OPEN;
	st->entry_cookie = 0;
	st->entry_server = 0;
	__sync_fetch_and_add(&go_chan_handoffs, 1);
}

/* A send on c by the goroutine running on tid (chansend, or a select's send case). */
static __always_inline void go_chan_send(struct krt_go_proc *proc, __u64 c, __u32 tid, __u32 tgid)
{
	struct krt_thread_state *t = thread_find(tid);
	__u64 size, qcount, gp;

	if (!t)
		return;
	gp = go_chan_waiter(c, proc->recvq_off);
	if (gp) {
		go_give(t, tid, tgid, gp);
		return;
	}
	size = go_chan_field(c, proc->dataqsiz_off);
	qcount = go_chan_field(c, proc->qcount_off);
	if (size && qcount < size) {
		struct krt_go_running *run = thread_go(t);
		struct krt_go_slot_key k = {.chan = c, .tgid = tgid};
		struct krt_go_slot v = {.trace = t->trace & KRT_GO_TRACE_BITS,
					.origin = go_origin_now(t, run)};

		k.slot = go_chan_field(c, proc->sendx_off);
		bpf_map_update_elem(&go_slots, &k, &v, BPF_ANY);
	}
	/* else it parks: its receiver finds it in sendq */
}

/* A receive on c by the goroutine running on tid (chanrecv, or a select's case). */
static __always_inline void go_chan_recv(struct krt_go_proc *proc, __u64 c, __u32 tid, __u32 tgid)
{
	__u64 size = go_chan_field(c, proc->dataqsiz_off);
	__u64 qcount = size ? go_chan_field(c, proc->qcount_off) : 0;
	struct krt_thread_state *t = thread_find(tid);
	struct krt_go_state *st;
	__u64 sender;

	if (!t)
		return;
	if (qcount) {
		struct krt_go_slot_key k = {.chan = c, .tgid = tgid};
		struct krt_go_slot *v;

		k.slot = go_chan_field(c, proc->recvx_off);
		v = bpf_map_lookup_elem(&go_slots, &k);
		if (v) {
			go_take_value(t, tid, tgid, v->trace, v->origin);
			bpf_map_delete_elem(&go_slots, &k);
		} else {
			__sync_fetch_and_add(&go_chan_unpaired, 1);
		}
		if (qcount < size)
			return;
	}
	sender = go_chan_waiter(c, proc->sendq_off);
	if (!sender || !(st = go_state_of(sender, tgid)))
		return;
	go_settle(st, sender, tid);
	if (!qcount) {
		/* unbuffered: the value is the parked sender's own */
		go_take_value(t, tid, tgid, st->trace & KRT_GO_TRACE_BITS, st->origin);
	} else {
		/* a full ring: the runtime moves the sender's value into the freed slot */
		struct krt_go_slot_key k = {.chan = c, .tgid = tgid};
		struct krt_go_slot v = {.trace = st->trace & KRT_GO_TRACE_BITS,
					.origin = st->origin};

		k.slot = go_chan_field(c, proc->recvx_off);
		bpf_map_update_elem(&go_slots, &k, &v, BPF_ANY);
	}
}

SEC("uprobe")
int krt_go_chansend(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), c = ctx->ax;
	struct krt_go_proc *proc = go_chan_proc(pid_tgid >> 32, ctx->r14);

	if (proc && c)
		go_chan_send(proc, c, (__u32)pid_tgid, pid_tgid >> 32);
	return 0;
}

SEC("uprobe")
int krt_go_chanrecv(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), c = ctx->ax;
	struct krt_go_proc *proc = go_chan_proc(pid_tgid >> 32, ctx->r14);

	if (proc && c)
		go_chan_recv(proc, c, (__u32)pid_tgid, pid_tgid >> 32);
	return 0;
}

#define KRT_GO_SELECT_MAX 8 /* cases looked at (net/http's selects: up to 6) */

/*
 * selectgo(cas0 *scase, order0 *uint16, pc0 *uintptr, nsends, nrecvs int,
 * block bool): the scases (16 bytes: c, elem) are the sends, then the
 * receives. Followed when exactly one case is ready now (one it waits on
 * otherwise is readied by the other side's probe).
 */
SEC("uprobe")
int krt_go_selectgo(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), cas0 = ctx->ax;
	__u64 nsends = ctx->di, ncases = ctx->di + ctx->si, chosen = 0;
	__u32 tgid = pid_tgid >> 32, ready = 0, send = 0;
	struct krt_go_proc *proc = go_chan_proc(tgid, ctx->r14);

	if (!proc || !cas0 || ncases > KRT_GO_SELECT_MAX)
		return 0;
	for (int i = 0; i < KRT_GO_SELECT_MAX; i++) {
		__u64 c, size, qcount;

		if (i >= ncases)
			break;
		c = go_chan_field(cas0 + 16 * i, 0);
		if (!c)
			continue; /* a nil channel: never ready */
		size = go_chan_field(c, proc->dataqsiz_off);
		qcount = size ? go_chan_field(c, proc->qcount_off) : 0;
		if (i < nsends ? go_chan_field(c, proc->recvq_off) || qcount < size
			       : qcount || go_chan_field(c, proc->sendq_off)) {
			ready++;
			chosen = c;
			send = i < nsends;
		}
	}
	if (ready != 1)
		return 0;
	if (send)
		go_chan_send(proc, chosen, (__u32)pid_tgid, tgid);
	else
		go_chan_recv(proc, chosen, (__u32)pid_tgid, tgid);
	return 0;
}

/*
 * A goroutine not seen since the start or the last pause (st, UNKNOWN) is
 * readied by the one running on thread state t: true when that decides it.
 * One that may be working for a request the tracer never saw must not take
 * a trace from whoever readies it: a worker done with a sampled request's
 * job, taking the next job from a handler blocked handing it over (the
 * handler's request came in while the tracer was paused), gave that
 * handler the sampled trace and kept it for the job (go-fanout after a
 * resume: its reply and the job's backend call in the sampled request).
 * A waker handing work of its own (OWN, or BOUND and not sent since: a
 * request's goroutine waking net/http's connection writer) still gives it
 * (false). A waker done with its work takes over the unseen request's
 * work instead; one working for an unseen request itself passes its mark.
 */
static __always_inline bool go_unknown_readied(struct krt_thread_state *t, __u32 tid, __u32 tgid,
					       struct krt_go_state *st, struct krt_go_running *run)
{
	__u8 waker;

	if (!run)
		run = thread_go(t);
	waker = go_origin_now(t, run);
	if (waker == KRT_GO_OWN || waker == KRT_GO_BOUND)
		return false;
	if (waker == KRT_GO_UNKNOWN) {
		st->trace = t->trace & KRT_GO_TRACE_BITS;
		return true;
	}
	go_pick_up(t, tid, tgid, go_unknown_trace());
	if (run)
		run->origin = KRT_GO_UNKNOWN;
	return true;
}

/*
 * Goroutine gp is readied by the one running on thread tid (thread state t,
 * goroutine part run: after the sync): the hand-off rules (top of file).
 */
static __always_inline int go_readied(struct krt_thread_state *t, struct krt_go_running *run,
				      __u32 tid, __u32 tgid, __u64 gp)
{
	struct krt_go_key k = {.g = gp, .tgid = tgid};
	/* no state: not seen since the start or the last pause */
	struct krt_go_state *st, fresh = {.trace = go_unknown_trace(), .origin = KRT_GO_UNKNOWN};

	if (!t || !(t->trace & (KRT_TRACE_ID_MASK | KRT_TRACE_SAMPLED_OUT)) || !gp)
		return 0;
	st = bpf_map_lookup_elem(&go_states, &k);
	if (!st) {
		bpf_map_update_elem(&go_states, &k, &fresh, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&go_states, &k);
		if (!st)
			return 0;
	}
	PROF_MARK(READY_STATE);
	go_settle(st, k.g, tid);
	go_hand_dial(tid, tgid, st, run);
	if (st->trace == t->trace) {
		PROF_MARK(READY_REST);
		return 0;
	}
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
	if (st->origin == KRT_GO_UNKNOWN && go_unknown_readied(t, tid, tgid, st, run))
		return 0;
	st->trace = t->trace;
	st->origin = KRT_GO_BOUND;
	st->claim = KRT_CLAIM_OPEN;
	st->entry_cookie = 0;
	COUNT(go_handoffs);
	return 0;
}

SEC("uprobe")
int krt_go_ready(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct krt_go_running *run;
	struct krt_thread_state *t;
	struct krt_go_proc *proc;
	__u64 skip = ctx->bx;
	bool learn = false;
	__u32 skips;

	if (go_probes_off())
		return 0;
	PROF_START();
	/*
	 * A lazy process's thread keeps its process's handoff_skips in its
	 * goroutine part (learnt here once its slots are), which the sync and
	 * go_hand_dial take too: the thread's state, looked up once, where
	 * go_procs, the sync's and go_hand_dial's lookups were three (15 ready
	 * hits per go-fanout request), and then a hash map's and the thread's
	 * state were two.
	 */
	t = thread_find(tid);
	run = thread_go(t);
	if (run && run->skips_known && run->slots_tgid == tgid) {
		skips = run->handoff_skips;
	} else {
		proc = bpf_map_lookup_elem(&go_procs, &tgid);
		if (!proc)
			return 0;
		skips = proc->handoff_skips;
		learn = proc->lazy;
		if (!learn)
			run = NULL; /* runtime.execute's probe keeps it: no sync */
	}
	/*
	 * Only a channel's wake-up hands a value over: a lock released, a
	 * WaitGroup done or a timer fired makes a goroutine runnable with
	 * nothing of its waker's (a connection's writer blocked on a mutex in
	 * the middle of a request's write took the trace of whoever unlocked).
	 */
	if (skips && (skip > 31 || !(skips & (1u << skip))))
		return 0;
	if (run || learn)
		run = go_sync(pid_tgid, ctx->r14, run, false);
	PROF_MARK(READY_SYNC);
	if (learn && run && run->tls_slot && run->slots_tgid == tgid) {
		run->handoff_skips = skips;
		run->skips_known = 1;
	}
	if (!t)
		t = thread_find(tid); /* made by the sync */
	return go_readied(t, run, tid, tgid, ctx->ax);
}

/*
 * runtime.send(c, sg, ep, unlockf, skip) and runtime.recv(c, sg, ...): a
 * channel operation of the running goroutine (R14) found the other side
 * parked (sg, a sudog: its g first) and readies it; lazy processes only
 * (src/live_source.c, go_wake_on_chan). Where runtime.goready's probe
 * trapped at every wake-up of the process (locks, semaphores, WaitGroups,
 * timers, closes, sync.Cond: 7.4 hits per go-http request, 5.2 of them
 * channel sends), these see the channels' only: no traceskip to test,
 * one user read (sg.g) more.
 */
SEC("uprobe")
int krt_go_chan_ready(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), gp = 0;
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct krt_go_running *run;
	struct krt_thread_state *t;

	if (go_probes_off())
		return 0;
	PROF_START();
	if (bpf_probe_read_user(&gp, sizeof(gp), (void *)ctx->bx) || !gp)
		return 0;
	t = thread_find(tid);
	run = go_sync(pid_tgid, ctx->r14, thread_go(t), false);
	PROF_MARK(READY_SYNC);
	if (!t)
		t = thread_find(tid); /* made by the sync */
	return go_readied(t, run, tid, tgid, gp);
}

#endif
