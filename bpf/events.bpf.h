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

/*
 * Switch and wake-up records, batched per CPU (include/krtrace_bpf.h,
 * struct krt_sched_batch). The sched hooks run with interrupts off, and
 * the flush program on the CPU from an IPI: nothing comes between them.
 * A transfer hook (a notify record) can be preempted or interrupted while
 * it adds its item, so it marks the batch busy first (batch_busy_add):
 * while it is, the sched hooks send records of their own and the flush
 * sends no item (it says how old the ones it left are).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct krt_sched_batch);
} sched_batches SEC(".maps");

/*
 * Set by the reader once it has flushed a batch on a CPU (the flush
 * program runs there): until then, and if it cannot, one record each.
 */
bool sched_batching = false;

/* The batch into the ring, one record, and empty again. */
static __always_inline void sched_batch_flush(struct krt_sched_batch *b, bool reader)
{
	__u32 n = b->n;
	__u64 size, avail, before, flags = BPF_RB_NO_WAKEUP;

	if (!n && !reader)
		return;
	b->flush = reader;
	if (n > KRT_SCHED_BATCH_ITEMS)
		n = KRT_SCHED_BATCH_ITEMS;
	b->n = n;
	b->held = 0;
	/*
	 * The reader's flush interrupted a transfer hook adding an item: the
	 * items stay (their count is the hook's to raise); the record says
	 * how old the oldest left is, its time known (ours is newer than the
	 * reader's flush if it reads the clock after this).
	 */
	if (reader && b->busy) {
		if (b->busy != KRT_BATCH_BUSY)
			b->held = b->busy;
		if (n && (!b->held || b->items[0].ts_ns < b->held))
			b->held = b->items[0].ts_ns;
		n = 0;
	}
	b->type = KRT_REC_SCHED_BATCH;
	b->cpu = bpf_get_smp_processor_id();
	b->ts_ns = n ? b->items[(n - 1) & (KRT_SCHED_BATCH_ITEMS - 1)].ts_ns : 0;
	size = offsetof(struct krt_sched_batch, items) + n * sizeof(struct krt_sched_item);
	/* the consumer's wake-up as in event_submit, for this record's size */
	avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	before = avail;
	avail += size + 8;
	if ((avail & wakeup_mask) != (before & wakeup_mask))
		flags = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&events, b, size, flags))
		__sync_fetch_and_add(&ring_drops, 1);
	else
		COUNT(records);
	if (b->held)
		return;
	b->n = 0;
}

/*
 * A slot of this CPU's batch for a switch or wake-up at ts (type), to be
 * filled by the caller and then closed with sched_item_done; NULL when
 * not batching (the caller sends a record of its own).
 */
static __always_inline struct krt_sched_item *sched_item_add(struct krt_sched_batch **bp,
							     __u32 type, __u64 ts)
{
	__u32 zero = 0;
	struct krt_sched_batch *b = bpf_map_lookup_elem(&sched_batches, &zero);
	struct krt_sched_item *it;

	*bp = b;
	if (!b || !sched_batching || b->busy)
		return NULL;
	if (b->n >= KRT_SCHED_BATCH_ITEMS)
		sched_batch_flush(b, false);
	it = &b->items[b->n & (KRT_SCHED_BATCH_ITEMS - 1)];
	__builtin_memset(it, 0, sizeof(*it));
	it->ts_ns = ts;
	it->type = type;
	return it;
}

static __always_inline void sched_item_done(struct krt_sched_batch *b)
{
	if (++b->n >= KRT_SCHED_BATCH_ITEMS)
		sched_batch_flush(b, false);
}

/*
 * A transfer hook's slot in this CPU's batch (sched_item_add's, for hooks
 * that can be preempted): the batch is marked busy, then the clock read
 * (*ts), so that a flush that finds it busy knows the item's age or that
 * it is newer than the flush. NULL when not batching or busy (another
 * task's hook, preempted in the middle: a record of its own). Closed with
 * batch_busy_done.
 */
static __always_inline struct krt_sched_item *batch_busy_add(struct krt_sched_batch **bp,
							     __u32 type, __u64 *ts)
{
	__u32 zero = 0;
	struct krt_sched_batch *b = bpf_map_lookup_elem(&sched_batches, &zero);
	struct krt_sched_item *it;

	*bp = b;
	if (!b || !sched_batching || b->busy)
		return NULL;
	/* compiler barriers: an interrupt on this CPU sees the stores in this order */
	b->busy = KRT_BATCH_BUSY;
	asm volatile("" ::: "memory");
	*ts = bpf_ktime_get_ns();
	b->busy = *ts;
	asm volatile("" ::: "memory");
	if (b->n >= KRT_SCHED_BATCH_ITEMS)
		sched_batch_flush(b, false);
	it = &b->items[b->n & (KRT_SCHED_BATCH_ITEMS - 1)];
	__builtin_memset(it, 0, sizeof(*it));
	it->ts_ns = *ts;
	it->type = type;
	return it;
}

static __always_inline void batch_busy_done(struct krt_sched_batch *b)
{
	asm volatile("" ::: "memory");
	if (++b->n >= KRT_SCHED_BATCH_ITEMS)
		sched_batch_flush(b, false);
	asm volatile("" ::: "memory");
	b->busy = 0;
}

/* The slot of batch_busy_add left unused (nothing to say after all). */
static __always_inline void batch_busy_cancel(struct krt_sched_batch *b)
{
	asm volatile("" ::: "memory");
	b->busy = 0;
}

#endif /* KRT_EVENTS_BPF_H */
