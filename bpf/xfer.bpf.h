/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* One socket transfer: its tag, its deferred send, its record. */
#ifndef KRT_XFER_BPF_H
#define KRT_XFER_BPF_H

#include "tagging.bpf.h"
#include "deferred.bpf.h"
#include "sock.bpf.h"

static __always_inline int handle_xfer(const struct xfer_sock *f, int ret, __u8 dir,
				       __u64 pid_tgid)
{
	const struct krt_tuple *tuple = &f->tuple;
	struct krt_event *e;
	struct krt_xfer *x;
	__u32 seq = f->seq;
	__u64 trace = 0;	/* 64-bit: see the flags below */
	/* 64-bit flags: clang 14 spills bools in one size and fills in another (verifier: "invalid size of register fill") */
	__u64 have_seq = f->have_seq, decided = true, got_peer = false, read_already = false;
	__u64 waiting = false, to_peer = false;
	struct krt_dir_key wk = {};	/* this transfer's direction: sender -> receiver */
	struct krt_dir_tags *dt = NULL;
	struct krt_xfer_peer peer = {};	/* zeroed: clang may load it before testing got_peer */
	__u64 cookie = f->id;
	__u64 clk = 0;		/* this hook's clock, read once (clock_now) */
	struct krt_cpu carry = {};	/* a receive: the thread's time for its trace before */

	if (kernel_tags && have_seq) {
		if (dir == KRT_DIR_SEND) {
			trace = tag_send((__u32)pid_tgid, pid_tgid >> 32, cookie, tuple, &to_peer);
			/* a guess travels with the bytes; the record lets the engine decide */
			decided = trace_decided(trace);
			/*
			 * A send to a traced container waits for its receiver,
			 * published before its tag: a receiver that finds the
			 * tag finds the waiting send too.
			 */
			dir_key(&wk, &tuple->local, &tuple->remote);
			dt = dir_get(&wk);
			if (dt && merge_hops && decided && !(trace & KRT_TRACE_SAMPLED_OUT) &&
			    to_peer) {
				struct krt_deferred_send *d = send_slot(dt);

				if (d) {
					struct krt_xfer_peer *ps = &d->send;

					ps->ts_ns = clock_now(&clk);
					ps->sock_id = cookie;
					ps->tid = (__u32)pid_tgid;
					ps->pid = pid_tgid >> 32;
					ps->seq = seq;
					ps->bytes = ret;
					ps->trace_id = trace;
					ps->cpu = bpf_get_smp_processor_id();
					read_syscall_nr(&ps->syscall_nr, &ps->fd);
					/* two loads through the task's BTF pointer, not a helper call */
					__builtin_memcpy(ps->comm,
							 bpf_get_current_task_btf()->comm,
							 sizeof(ps->comm));
					__sync_val_compare_and_swap(&d->state, KRT_DEFER_BUSY,
								    KRT_DEFER_WAITING);
					waiting = true;
				}
			}
			if (dt)
				read_already = tag_store(dt, seq, ret, trace);
			if (dt && waiting && read_already)
				send_unwait(dt, &wk, seq);
			if (waiting)
				return 0;
		} else {
			/* only sampling without CPU in the kernel needs the trace before */
			__u32 old = sample_rate > 1 && !cpu_in_kernel ?
					    thread_trace((__u32)pid_tgid) : 0;

			/* the gateway's bytes carry no tag: no direction state */
			dir_key(&wk, &tuple->remote, &tuple->local);
			if (!is_gateway(&tuple->remote))
				dt = dir_get(&wk);
			trace = tag_receive((__u32)pid_tgid, pid_tgid >> 32, cookie, tuple, seq,
					    ret, &decided, dt, &clk, &carry);
			if (sample_rate > 1 && !cpu_in_kernel && old != trace)
				sampling_switch(pid_tgid, trace);
		}
		if (trace & KRT_TRACE_SAMPLED_OUT) {
			COUNT(sampled_out);
			/* no record to carry it: the time before goes on its own */
			if (carry.oncpu_ns || carry.runq_ns)
				cpu_record(&carry, clock_now(&clk));
			return 0;
		}
	}

	/* even undecided: a receive that missed the tag may still find the send */
	if (merge_hops && have_seq && dir == KRT_DIR_RECV && dt) {
		got_peer = recv_takes_send(dt, &wk, seq, ret, &peer);
		/*
		 * It missed the tag and the sender missed it (both hooks at
		 * once): the send it took carries the tag.
		 */
		if (got_peer && !decided && trace_decided(peer.trace_id)) {
			trace = peer.trace_id;
			recv_takes_tag((__u32)pid_tgid, pid_tgid >> 32, cookie, trace, &clk,
				       &carry);
			decided = true;
		}
	}

	e = event_reserve_at(KRT_EV_XFER, clock_now(&clk));
	if (!e)
		return 0;
	event_fill_current(e);
	x = &e->xfer;
	x->dir = dir;
	x->bytes = ret;
	x->enter_ns = e->ts_ns;
	x->sock_id = cookie;
	read_syscall(x);
	x->tuple = *tuple;
	if (have_seq) {
		x->seq = seq;
		x->flags |= KRT_XF_SEQ;
	}
	/*
	 * A receive whose bytes carried no tag (untraced peer, or the sender's
	 * hook not run yet) was not decided here: the engine's rules decide.
	 */
	if (kernel_tags && have_seq && decided) {
		x->trace_id = trace;
		x->flags |= KRT_XF_TAGGED;
	}
	if (got_peer) {
		x->peer = peer;
		x->flags |= KRT_XF_PEER;
	}
	if (carry.oncpu_ns || carry.runq_ns) {
		x->cpu_before = carry;
		x->flags |= KRT_XF_CPU;
	}
	event_submit(e);
	return 0;
}

#endif /* KRT_XFER_BPF_H */
