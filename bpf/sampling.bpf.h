/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* New trace ids at the gateway door, and which requests are sampled. */
#ifndef KRT_SAMPLING_BPF_H
#define KRT_SAMPLING_BPF_H

#include "events.bpf.h"
#include "tables.bpf.h"

/* A new request at the gateway door: its id, and whether it is sampled. */
static __always_inline __u32 trace_new(void)
{
	__u32 id = (__sync_fetch_and_add(&next_trace_id, 1) + 1) & KRT_TRACE_ID_MASK;
	__u32 phase = sampling_on() ? sample_phase : KRT_PHASE_RULE;

	COUNT(traces_started);
	/*
	 * The reader's phase first (only with sampling on: the hidden
	 * requests' machinery is needed for the unsampled ones): between
	 * windows every new request is traced hidden, in a window every one
	 * is sampled, under the rate cap still.
	 */
	if (phase == KRT_PHASE_NONE)
		return id | KRT_TRACE_SAMPLED_OUT;
	if (phase != KRT_PHASE_ALL && sample_rate > 1 && (id - 1) % sample_rate)
		return id | KRT_TRACE_SAMPLED_OUT;
	/*
	 * The rate cap: each second's first rate_cap requests (of those the
	 * 1-in-N rule kept). The CPU that sees a new second first resets the
	 * count; one that counted in the new second before the reset only
	 * lets one more through (at most one per CPU).
	 */
	if (rate_cap) {
		__u64 sec = bpf_ktime_get_ns() / 1000000000ULL, cur = rate_second;

		if (sec > cur && __sync_val_compare_and_swap(&rate_second, cur, sec) == cur)
			rate_count = 0;
		if (__sync_fetch_and_add(&rate_count, 1) >= rate_cap) {
			__sync_fetch_and_add(&traces_capped, 1);
			return id | KRT_TRACE_SAMPLED_OUT;
		}
	}
	__sync_fetch_and_add(&traces_sampled, 1);
	return id;
}

/*
 * With sampling, the sampled requests a process has read and not answered
 * yet (at most KRT_OPEN_SAMPLED at once, each for at most
 * KRT_OPEN_SAMPLED_NS: a request never answered does not hold the window
 * open). While one is open, the guess of an unsampled job given to a pool
 * worker that answers its clients itself (KRT_POOLED_ANSWERS) is not
 * trusted: the job it dequeues may be the sampled one, so its work is
 * recorded (unsure, without a guess) and the reply that names its request
 * decides (the engine's provisional jobs); an unsampled job's records are
 * dropped there. Outside that window its queue holds unsampled requests
 * only, and nothing is recorded for them. Not a worker that hands its job
 * back to a loop (thrift): the loop's replies to unsampled requests are
 * not recorded, so nothing could place its work; the records would buy
 * nothing.
 */
#define KRT_OPEN_SAMPLED_NS 1000000000ULL
#define KRT_OPEN_PROCS 1024 /* a power of two */

/*
 * A process's open sampled requests, in a plain array indexed by its tgid
 * (no map lookup: its key would need stack, and the transfer programs'
 * stack is full). A slot whose owner is another process (tgids alike in
 * their low bits) is taken over by the process that reads a sampled
 * request; the other one then asks in vain (its workers' guesses stay).
 */
struct krt_open_sampled open_sampled[KRT_OPEN_PROCS] = {};

enum krt_open_op { KRT_OPEN_ASK, KRT_OPEN_READ, KRT_OPEN_ANSWERED, KRT_OPEN_GONE };

/*
 * Process tgid read (KRT_OPEN_READ) or answered (KRT_OPEN_ANSWERED) sampled
 * request id; KRT_OPEN_ASK: does it hold one open; KRT_OPEN_GONE: it
 * exited. A global function: the
 * verifier checks it once, not in each path of the transfer programs (the
 * syscall-exit program is near its instruction limit); without stack of
 * its own (theirs is full). Unlocked: CPUs racing on one process's slots
 * may lose an entry, which closes the window early (the worker's reply
 * says "sampling") or leaves it open up to KRT_OPEN_SAMPLED_NS (records).
 */
__noinline int open_sampled_op(__u32 tgid, __u32 id, int op)
{
	__u32 k = tgid & (KRT_OPEN_PROCS - 1);
	struct krt_open_sampled *o;
	__u64 now;
	int i, free = -1, open = 0;

	asm volatile("" : "+r"(k)); /* the bound checked on this register (tgid_word) */
	if (k >= KRT_OPEN_PROCS)
		return 0;
	o = &open_sampled[k];
	if (o->tgid != tgid) {
		if (op != KRT_OPEN_READ)
			return 0;
		__builtin_memset(o->id, 0, sizeof(o->id));
		o->tgid = tgid;
	}
	if (op == KRT_OPEN_GONE) {
		o->tgid = 0;
		return 0;
	}
	now = bpf_ktime_get_ns();
#pragma unroll
	for (i = 0; i < KRT_OPEN_SAMPLED; i++) {
		if (o->id[i] == id && id) {
			if (op == KRT_OPEN_ANSWERED)
				o->id[i] = 0;
			return op == KRT_OPEN_READ;
		}
		if (o->id[i] && now - o->since[i] < KRT_OPEN_SAMPLED_NS)
			open = 1;
		else if (free < 0)
			free = i;
	}
	if (op != KRT_OPEN_READ)
		return open;
	/* a free or expired slot, else one of the open ones */
	if (free < 0)
		free = id;
	o->id[free & (KRT_OPEN_SAMPLED - 1)] = id;
	o->since[free & (KRT_OPEN_SAMPLED - 1)] = now;
	return 1;
}

/*
 * With sampling, a running thread that moves to an unsampled request
 * leaves user space's view as if it switched out (its time from now on
 * belongs to no traced request), and comes back as if it switched in when
 * it takes a sampled request again.
 */
static __always_inline void sampling_switch(__u64 pid_tgid, __u32 trace)
{
	__u32 tid = (__u32)pid_tgid;
	struct krt_thread_state *t = thread_find(tid);
	bool out = trace & KRT_TRACE_SAMPLED_OUT;
	struct krt_event *e;

	if (!t || (out && !t->shown_oncpu) || (!out && t->shown_oncpu))
		return;
	e = event_reserve(KRT_EV_SWITCH);
	if (!e)
		return;
	event_fill_current(e);
	if (out) {
		e->sw.prev_tid = tid;
		e->sw.prev_pid = pid_tgid >> 32;
		__builtin_memcpy(e->sw.prev_comm, e->comm, sizeof(e->comm));
	} else {
		e->sw.next_tid = tid;
		e->sw.next_pid = pid_tgid >> 32;
		__builtin_memcpy(e->sw.next_comm, e->comm, sizeof(e->comm));
	}
	t->shown_oncpu = !out;
	event_submit(e);
}

#endif /* KRT_SAMPLING_BPF_H */
