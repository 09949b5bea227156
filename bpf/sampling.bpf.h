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

	__sync_fetch_and_add(&traces_started, 1);
	if (sample_rate > 1 && (id - 1) % sample_rate)
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
