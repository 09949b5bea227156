/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* One socket transfer: its tag, its deferred send, its record. */
#ifndef KRT_XFER_BPF_H
#define KRT_XFER_BPF_H

#include "tagging.bpf.h"
#include "deferred.bpf.h"
#include "sock.bpf.h"

/*
 * With sampling, an undecided send of thread tid whose own record would
 * carry no sampling flag (xfer_record: no doubt to tell, no job serial):
 * a pool feeder's worker (its feeder hides nothing from the engine), a
 * server reading a worker's guessed call (redis), any thread with no
 * maybe_unsampled. Its merged form is that record (krt_peer_send_fill).
 */
static __always_inline bool send_says_nothing_sampled(__u32 tid)
{
	struct krt_thread_state *th = thread_find(tid);

	return !th || (!th->maybe_unsampled &&
		       !(th->pooled && !th->evloop && !(th->pool_hidden & ~KRT_POOL_HIDDEN_CALLS)));
}

/*
 * A send: its tag (tag_send), stored in its direction for the receiver. A
 * send to a traced container waits for its receiver, published before its
 * tag: a receiver that finds the tag finds the waiting send too. True when
 * the send waits (no record now: it rides in the receive's).
 */
static __always_inline bool xfer_send_tags(const struct xfer_sock *f, int ret, __u64 pid_tgid,
					   __u64 *trace, __u64 *decided, __u64 *clk,
					   const bool guess_waits)
{
	struct krt_dir_key wk = {}; /* sender -> receiver */
	struct krt_dir_tags *dt;
	__u64 to_peer = false, waiting = false, read_already;

	PROF_START();
	*trace = tag_send((__u32)pid_tgid, pid_tgid >> 32, f->id, &f->tuple, &to_peer);
	PROF_MARK(SEND_TAG);
	/* a guess travels with the bytes; the record lets the engine decide */
	*decided = trace_decided(*trace);
	dir_key(&wk, &f->tuple.local, &f->tuple.remote);
	dt = dir_get(&wk);
	PROF_MARK(SEND_DIR);
	if (!dt)
		return false;
	/*
	 * A guess waits too (a pool worker's call to redis or a backend: one
	 * record per hop instead of two), untagged in the receive's record
	 * (KRT_PEER_UNDECIDED); with sampling only a send whose record says
	 * nothing more (send_says_nothing_sampled: not one that carries
	 * KRT_XF_MAYBE_UNSAMPLED and the worker's job serial). Only where the
	 * caller says so (guess_waits, a constant: the socket hooks; the
	 * syscall-exit program is at the verifier's limit without it).
	 */
	if (merge_hops &&
	    (*decided ||
	     (guess_waits && (!sampling_on() || send_says_nothing_sampled((__u32)pid_tgid)))) &&
	    !(*trace & KRT_TRACE_SAMPLED_OUT) && to_peer)
		waiting = send_wait(dt, f->id, pid_tgid, f->seq, ret, *trace,
				    go_running_goid((__u32)pid_tgid), clk);
	PROF_MARK(SEND_WAIT);
	read_already = tag_store(dt, f->seq, ret, *trace, (__u32)pid_tgid);
	if (waiting && read_already)
		send_unwait(dt, &wk, f->seq);
	PROF_MARK(SEND_STORE);
	return waiting;
}

/*
 * A receive: the tag of the bytes it read becomes its thread's trace
 * (tag_receive). Returns its direction's state (NULL from the gateway,
 * whose bytes carry no tag).
 */
static __always_inline struct krt_dir_tags *xfer_recv_tags(const struct xfer_sock *f, int ret,
							   __u64 pid_tgid, struct krt_dir_key *wk,
							   __u64 *trace, __u64 *decided, __u64 *clk,
							   struct krt_cpu *carry,
							   struct krt_remote_ctx *remote)
{
	struct krt_dir_tags *dt = NULL;
	/* only sampling without CPU in the kernel needs the trace before */
	__u32 old = sampling_on() && !cpu_in_kernel ? thread_trace((__u32)pid_tgid) : 0;

	PROF_START();
	dir_key(wk, &f->tuple.remote, &f->tuple.local);
	if (!is_gateway(&f->tuple.remote))
		dt = dir_get(wk);
	PROF_MARK(RECV_DIR);
	*trace = tag_receive((__u32)pid_tgid, pid_tgid >> 32, f->id, &f->tuple, f->seq, ret,
			     decided, dt, clk, carry, remote);
	/* 0 from a trace: a receive recorded untagged, the thread's trace unchanged */
	PROF_MARK(RECV_TAG);
	if (sampling_on() && !cpu_in_kernel && old != *trace && *trace)
		sampling_switch(pid_tgid, *trace);
	/*
	 * Bytes from a traced container whose tag is not stored yet (the
	 * sender's hook runs after its transfer): the thread's unsampled trace
	 * says nothing about them (they may be a sampled request's reply).
	 * Recorded untagged, as without sampling: the sender's tagged record
	 * or the waiting send decides.
	 */
	if (sampling_on() && !*decided && (*trace & KRT_TRACE_SAMPLED_OUT)) {
		struct krt_thread_state *th = thread_find((__u32)pid_tgid);

		/*
		 * Or the tag came meanwhile (late_tag on the sender's CPU: the
		 * thread holds it now, pending no more): that receive too (m3's
		 * loop, a backend reply read while its trace was an unsampled
		 * request's, went unrecorded).
		 */
		if (th && (th->tag_pending || th->trace != *trace))
			*trace = 0;
	}
	return dt;
}

/*
 * A receive takes the send waiting for it (merge_hops), even undecided: a
 * receive that missed the tag may still find the send, and when the sender
 * missed the receive too (both hooks at once), the send carries the tag.
 */
static __always_inline __u64 xfer_recv_merge(struct krt_dir_tags *dt, const struct krt_dir_key *wk,
					     const struct xfer_sock *f, int ret, __u64 pid_tgid,
					     struct krt_xfer_peer *peer, __u64 *trace,
					     __u64 *decided, __u64 *clk, struct krt_cpu *carry)
{
	if (!recv_takes_send(dt, wk, f->seq, ret, peer))
		return false;
	if (!*decided && trace_decided(peer->trace_id)) {
		*trace = peer->trace_id;
		recv_takes_tag((__u32)pid_tgid, pid_tgid >> 32, f->id, *trace, clk, carry);
		*decided = true;
	}
	return true;
}

/* The transfer's record: tagged when the kernel decided, with what rides in it. */
static __always_inline void xfer_record(const struct xfer_sock *f, int ret, __u8 dir, __u64 trace,
					__u64 tagged, const struct krt_xfer_peer *peer,
					__u64 got_peer, const struct krt_cpu *carry,
					const struct krt_remote_ctx *remote, __u64 *clk)
{
	struct krt_event *e = event_reserve_at(KRT_EV_XFER, clock_now(clk));
	struct krt_xfer *x;

	if (!e)
		return;
	event_fill_current(e);
	x = &e->xfer;
	x->goid = go_running_goid(e->tid);
	x->dir = dir;
	x->bytes = ret;
	x->enter_ns = e->ts_ns;
	x->sock_id = f->id;
	read_syscall(x);
	x->tuple = f->tuple;
	if (f->have_seq) {
		x->seq = f->seq;
		x->flags |= KRT_XF_SEQ;
	}
	/*
	 * A receive whose bytes carried no tag (untraced peer, or the sender's
	 * hook not run yet) was not decided here: the engine's rules decide.
	 */
	if (tagged) {
		x->trace_id = trace;
		x->flags |= KRT_XF_TAGGED;
	}
	if (got_peer) {
		x->peer = *peer;
		x->flags |= KRT_XF_PEER;
	} else if (remote->run) {
		x->remote = *remote;
		x->flags |= KRT_XF_REMOTE;
	}
	if (carry->oncpu_ns || carry->runq_ns) {
		x->cpu_before = *carry;
		x->flags |= KRT_XF_CPU;
	}
	/*
	 * A guess that may be an unsampled request's work (any undecided
	 * record of a pool worker: the queue it takes jobs from holds
	 * unsampled requests too), or a reply whose request's work went
	 * unrecorded: the engine says so.
	 */
	if (sampling_on()) {
		struct krt_thread_state *th = thread_find(e->tid);

		if (th && th->maybe_unsampled == KRT_MAYBE_UNSAMPLED_HIDDEN) {
			/* an event loop's unsampled request read: recorded, hidden */
			x->flags |= KRT_XF_SAMPLED_OUT;
			th->maybe_unsampled = 0;
		} else if (th && th->maybe_unsampled == KRT_MAYBE_UNSAMPLED_REPLY) {
			x->flags |= KRT_XF_MAYBE_UNSAMPLED;
			th->maybe_unsampled = 0;
		} else if (th && th->maybe_unsampled == KRT_MAYBE_UNSAMPLED_LOOP && !th->pooled) {
			/* a send under a sampled mark may be an unsampled request's */
			if (tagged && dir == KRT_DIR_SEND)
				x->flags |= KRT_XF_MAYBE_UNSAMPLED;
		} else if (th &&
			   (th->maybe_unsampled || (th->pooled && !th->evloop &&
						    !(th->pool_hidden & ~KRT_POOL_HIDDEN_CALLS))) &&
			   !tagged) {
			x->flags |= KRT_XF_MAYBE_UNSAMPLED;
			/* untagged: the field names the worker's job (it changes with each) */
			x->trace_id = th->job_serial;
		}
	}
	event_submit(e);
}

/* One socket transfer of a traced thread, from any of the transfer hooks. */
/*
 * guess_waits (a constant per program): an undecided send to a traced
 * container waits for its receiver like a decided one (xfer_send_tags).
 */
static __always_inline int handle_xfer(const struct xfer_sock *f, int ret, __u8 dir, __u64 pid_tgid,
				       const bool guess_waits)
{
	/*
	 * 64-bit flags: clang 14 spills bools in one size and fills in
	 * another (verifier: "invalid size of register fill").
	 */
	__u64 have_seq = f->have_seq, decided = true, got_peer = false;
	__u64 trace = 0;
	struct krt_dir_key wk = {}; /* a receive's direction: sender -> receiver */
	struct krt_dir_tags *dt = NULL;
	struct krt_xfer_peer peer = {};	   /* zeroed: clang may load it before testing got_peer */
	__u64 clk = 0;			   /* this hook's clock, read once (clock_now) */
	struct krt_cpu carry = {};	   /* a receive: the thread's time for its trace before */
	struct krt_remote_ctx remote = {}; /* a receive: the other host's trace it continues */

	if (kernel_tags && have_seq) {
		if (dir == KRT_DIR_SEND) {
			if (xfer_send_tags(f, ret, pid_tgid, &trace, &decided, &clk, guess_waits))
				return 0;
		} else {
			dt = xfer_recv_tags(f, ret, pid_tgid, &wk, &trace, &decided, &clk, &carry,
					    &remote);
		}
		if (trace & KRT_TRACE_SAMPLED_OUT) {
			COUNT_PLAIN(sampled_out_xfer);
			/* no record to carry it: the time before goes on its own */
			if (carry.oncpu_ns || carry.runq_ns)
				cpu_record(&carry, clock_now(&clk));
			return 0;
		}
	}
	if (merge_hops && have_seq && dir == KRT_DIR_RECV && dt)
		got_peer = xfer_recv_merge(dt, &wk, f, ret, pid_tgid, &peer, &trace, &decided, &clk,
					   &carry);
	xfer_record(f, ret, dir, trace, kernel_tags && have_seq && decided, &peer, got_peer, &carry,
		    &remote, &clk);
	if (dir == KRT_DIR_SEND)
		PROF_MARK(SEND_RECORD);
	else
		PROF_MARK(RECV_RECORD);
	return 0;
}

#endif /* KRT_XFER_BPF_H */
