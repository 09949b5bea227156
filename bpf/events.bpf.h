/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* The ring buffer and the records the programs write into it. */
#ifndef KRT_EVENTS_BPF_H
#define KRT_EVENTS_BPF_H

#include "common.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

static __always_inline struct krt_event *event_reserve_at(__u32 type, __u64 ts)
{
	struct krt_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&ring_drops, 1);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = ts;
	e->type = type;
	e->cpu = bpf_get_smp_processor_id();
	return e;
}

static __always_inline struct krt_event *event_reserve(__u32 type)
{
	return event_reserve_at(type, bpf_ktime_get_ns());
}

/* The current task's ids and name: plain loads through its BTF pointer. */
static __always_inline void event_fill_current(struct krt_event *e)
{
	struct task_struct *task = bpf_get_current_task_btf();

	e->pid = task->tgid;
	e->tid = task->pid;
	__builtin_memcpy(e->comm, task->comm, sizeof(e->comm));
}

/*
 * Batched wake-up: wake the consumer only when the unread data crosses a
 * multiple of wakeup_bytes; the loader's poll timer picks up the rest.
 * A power of two, compared under a mask: two divisions per record were
 * a measurable part of a record's cost.
 * Waking on every record above the threshold would cost a self-IPI per
 * record exactly when the consumer lags (measured: 6x per write), making
 * a slow consumer slower still.
 */
static __always_inline void event_submit(struct krt_event *e)
{
	/* this record is already counted in the unread data, with its header */
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u64 before = avail > sizeof(*e) + 8 ? avail - sizeof(*e) - 8 : 0;
	__u64 flags = BPF_RB_NO_WAKEUP;

	if ((avail & wakeup_mask) != (before & wakeup_mask))
		flags = BPF_RB_FORCE_WAKEUP;
	COUNT(records);
	bpf_ringbuf_submit(e, flags);
}

#endif /* KRT_EVENTS_BPF_H */
