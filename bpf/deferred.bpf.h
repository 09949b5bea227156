/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Deferred sends (merge_hops): a send to a traced container waits in its
 * direction's slot for the receive that reads it, and rides in that
 * receive's record; it goes out on its own when the receiver missed it.
 */
#ifndef KRT_DEFERRED_BPF_H
#define KRT_DEFERRED_BPF_H

#include "events.bpf.h"
#include "tables.bpf.h"
#include "sock.bpf.h"

/* A waiting send as a SEND record of its own (direction k: sender -> receiver). */
static __always_inline void emit_waiting_send(const struct krt_dir_key *k,
					      const struct krt_xfer_peer *ps)
{
	struct krt_event *e = event_reserve(KRT_EV_XFER);
	struct krt_tuple t;

	if (!e)
		return;
	krt_dir_key_tuple(k, &t);
	krt_peer_send_fill(e, ps, &t);
	COUNT(sends_flushed);
	event_submit(e);
}

/*
 * The direction's waiting-send slot, claimed for a send that will wait in
 * it for its receiver; false when a send already waits there (a stream the
 * receiver reads in bulk: the newer sends go out at once, the waiting one
 * rides in the receive that reads it) or someone is copying it.
 */
static __always_inline bool send_slot(struct krt_dir_tags *dt)
{
	return dt->wait_state == KRT_DEFER_EMPTY &&
	       __sync_val_compare_and_swap(&dt->wait_state, KRT_DEFER_EMPTY, KRT_DEFER_BUSY) ==
		   KRT_DEFER_EMPTY;
}

/*
 * A send of trace (decided, or with full tracing a guess: KRT_PEER_UNDECIDED)
 * to a traced container waits in its direction for the receive that reads
 * it; false when the slot is taken (it goes out in its own record).
 */
static __always_inline bool send_wait(struct krt_dir_tags *dt, __u64 cookie, __u64 pid_tgid,
				      __u32 seq, int ret, __u32 trace, __u32 goid, __u64 *clk)
{
	struct krt_xfer_peer *ps;

	if (!send_slot(dt))
		return false;
	ps = &dt->wait_send;
	ps->ts_ns = clock_now(clk);
	ps->sock_id = cookie;
	ps->tid = (__u32)pid_tgid;
	ps->pid = pid_tgid >> 32;
	ps->seq = seq;
	ps->bytes = ret;
	ps->trace_id = trace;
	ps->goid = goid;
	ps->cpu = bpf_get_smp_processor_id();
	read_syscall_nr(&ps->syscall_nr, &ps->fd);
	/* two loads through the task's BTF pointer, not a helper call */
	__builtin_memcpy(ps->comm, bpf_get_current_task_btf()->comm, sizeof(ps->comm));
	__sync_val_compare_and_swap(&dt->wait_state, KRT_DEFER_BUSY, KRT_DEFER_WAITING);
	return true;
}

/*
 * A receive of [seq, seq + len) on direction k: the waiting send it reads
 * rides in its record (true). One that ends before these bytes was read
 * unseen (or while its slot was busy): it goes out on its own.
 */
static __always_inline bool recv_takes_send(struct krt_dir_tags *dt, const struct krt_dir_key *k,
					    __u32 seq, __u32 len, struct krt_xfer_peer *out)
{
	__u32 off;

	if (dt->wait_state != KRT_DEFER_WAITING ||
	    __sync_val_compare_and_swap(&dt->wait_state, KRT_DEFER_WAITING, KRT_DEFER_BUSY) !=
		KRT_DEFER_WAITING)
		return false;
	off = dt->wait_send.seq - seq; /* where the send starts, from these bytes */
	if (off < len || seq - dt->wait_send.seq < dt->wait_send.bytes) {
		*out = dt->wait_send;
		COUNT(hops_merged);
		__sync_val_compare_and_swap(&dt->wait_state, KRT_DEFER_BUSY, KRT_DEFER_EMPTY);
		return true;
	}
	if ((__s32)off < 0) {
		emit_waiting_send(k, &dt->wait_send);
		__sync_val_compare_and_swap(&dt->wait_state, KRT_DEFER_BUSY, KRT_DEFER_EMPTY);
		return false;
	}
	/* later bytes than these: it keeps waiting */
	__sync_val_compare_and_swap(&dt->wait_state, KRT_DEFER_BUSY, KRT_DEFER_WAITING);
	return false;
}

/*
 * Direction k's waiting send goes out now (its connection closes), and the
 * direction leaves the map: the map holds open connections only.
 */
static __always_inline void flush_waiting(const struct krt_dir_key *k)
{
	struct krt_dir_tags *dt = dir_find(k);
	if (!dt)
		return;
	if (dt->wait_state == KRT_DEFER_WAITING &&
	    __sync_val_compare_and_swap(&dt->wait_state, KRT_DEFER_WAITING, KRT_DEFER_BUSY) ==
		KRT_DEFER_WAITING)
		emit_waiting_send(k, &dt->wait_send);
	else if (dt->wait_state != KRT_DEFER_EMPTY)
		return; /* being copied: the next close or the exit collects it */
	dir_forget(k);
}

/* The receiver read these bytes first: our waiting send goes out now. */
static __always_inline void send_unwait(struct krt_dir_tags *dt, const struct krt_dir_key *k,
					__u32 seq)
{
	if (__sync_val_compare_and_swap(&dt->wait_state, KRT_DEFER_WAITING, KRT_DEFER_BUSY) !=
	    KRT_DEFER_WAITING)
		return; /* the receiver took it: merged after all */
	if (dt->wait_send.seq != seq) {
		/* a later send waits there now: ours went out already */
		__sync_val_compare_and_swap(&dt->wait_state, KRT_DEFER_BUSY, KRT_DEFER_WAITING);
		return;
	}
	emit_waiting_send(k, &dt->wait_send);
	__sync_val_compare_and_swap(&dt->wait_state, KRT_DEFER_BUSY, KRT_DEFER_EMPTY);
}

#endif /* KRT_DEFERRED_BPF_H */
