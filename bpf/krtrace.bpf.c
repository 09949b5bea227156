// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * KRTrace live path, kernel side.
 *
 * Every program starts with the same pre-filter: the current task's tgid
 * must have its bit set in traced_bits, otherwise it returns before touching
 * anything else, so untraced processes pay one load per hook hit (a plain
 * global array: no helper call, no hashing).
 *
 * Socket transfers come from tp_btf/sock_send_length and sock_recv_length:
 * they fire once per completed socket send/receive (write, writev, sendto,
 * sendmsg, sendmmsg, read, readv, ...) with the struct sock and the length,
 * after the transfer, so enter and exit are merged by construction and the
 * TCP sequence of the first byte is the socket's sequence minus the length.
 *
 * Records go to one ring buffer without a wake-up per record (a wake-up per
 * record made each traced syscall 6.5-7x slower here); the consumer is woken
 * when the unread data passes wakeup_bytes and also polls on a short timer.
 *
 * By default (kernel_tags, cpu_in_kernel, merge_hops) the attribution rules
 * of docs/design.md run here: a receive from the gateway starts a trace,
 * sends tag their TCP sequence range, receives take the tag of the bytes
 * they read, a server's reply answers the oldest unanswered request of its
 * connection; on-CPU time is summed per thread and trace; a send to a
 * traced container waits for the receive that reads it and rides in its
 * record. A pool worker woken through a queue gets an UNSURE trace: which
 * queued request it dequeues is not visible here, so its records go out
 * untagged, with its switches, for the engine's rules to decide.
 *
 * This file holds the programs (SEC) only; what they run lives in headers
 * by concern, each including what it needs:
 *   common.bpf.h    knobs, counters, the traced-process filter, the clock
 *   events.bpf.h    the ring buffer and its records
 *   sock.bpf.h      what a hook reads of a socket and of its syscall
 *   tables.bpf.h    thread / connection / direction state, one claim protocol
 *   cpu.bpf.h       on-CPU and run-queue time per thread and trace, switch records
 *   sampling.bpf.h  trace ids at the gateway, sampling
 *   tagging.bpf.h   the tags sends store and receives take, a thread's claim
 *   deferred.bpf.h  sends waiting for their receiver (merge_hops)
 *   xfer.bpf.h      one transfer: tags, deferred send, record
 *   notify.bpf.h    bytes on an AF_UNIX socketpair: a worker waking its loop
 *   goroutines.bpf.h  Go processes: thread state follows the goroutine (uprobes)
 * The state user space reads too, and the rules both sides run, are in
 * include/krtrace_bpf.h and include/krtrace_rules.h.
 */
#include "goroutines.bpf.h"
#include "xfer.bpf.h"
#include "notify.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * The socket hooks' transfers, one global function per direction (a
 * constant direction each): a global function is checked once by the
 * verifier, and its stack is not the hook's. The hook calls krt_go_sync
 * (a Go thread's goroutine) before it; the two frames inlined in one
 * program passed the 512-byte stack limit.
 */
__noinline int krt_sock_xfer_send(const struct xfer_sock *f, int ret, __u64 pid_tgid)
{
	if (!f)
		return 0;
	return handle_xfer(f, ret, KRT_DIR_SEND, pid_tgid, true);
}

__noinline int krt_sock_xfer_recv(const struct xfer_sock *f, int ret, __u64 pid_tgid)
{
	if (!f)
		return 0;
	return handle_xfer(f, ret, KRT_DIR_RECV, pid_tgid, true);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(krt_sock_send, struct sock *sk, int ret, int flags)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct xfer_sock f = {};

	if (empty_hooks)
		return 0;
	if (ret <= 0 || !tgid_traced(pid_tgid >> 32) || prefilter_hooks)
		return 0;
	PROF_START();
	if (notify_record(sk, ret, KRT_DIR_SEND)) {
		PROF_MARK(NOTIFY_SEND);
		return 0;
	}
	if (!xfer_sock_btf(sk, ret, KRT_DIR_SEND, &f))
		return 0;
	PROF_MARK(SEND_SOCK);
	PROF_MARK(CALIB);
	/* a Go thread: the goroutine it runs now (no runtime.execute probe) */
	if (go_process(pid_tgid >> 32)) {
		krt_go_sync(pid_tgid, 0);
		PROF_MARK(GO_SYNC);
	}
	return krt_sock_xfer_send(&f, ret, pid_tgid);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(krt_sock_recv, struct sock *sk, int ret, int flags)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct xfer_sock f = {};

	if (empty_hooks)
		return 0;
	/* A peek leaves the bytes queued: the real receive comes later. */
	if (ret <= 0 || (flags & KRT_MSG_PEEK) || !tgid_traced(pid_tgid >> 32) || prefilter_hooks)
		return 0;
	PROF_START();
	if (notify_record(sk, ret, KRT_DIR_RECV)) {
		PROF_MARK(NOTIFY_RECV);
		return 0;
	}
	if (!xfer_sock_btf(sk, ret, KRT_DIR_RECV, &f))
		return 0;
	PROF_MARK(RECV_SOCK);
	/* a Go thread: the goroutine it runs now (no runtime.execute probe) */
	if (go_process(pid_tgid >> 32)) {
		krt_go_sync(pid_tgid, 0);
		PROF_MARK(GO_SYNC);
	}
	return krt_sock_xfer_recv(&f, ret, pid_tgid);
}

/*
 * Fallback for kernels without sock_send_length/sock_recv_length (before
 * 6.3), or with --syscall-hooks: a transfer is read at the exit of its
 * socket syscall, from the fd's socket. Every syscall of the machine runs
 * this hook (untraced ones return after two compares and one load);
 * sendfile, splice, io_uring and the mmsg calls are not seen.
 */
/*
 * The syscall-exit program's transfers, one global function per direction
 * (each with a constant direction, as in the socket hooks): the verifier
 * checks each once, with its arguments unknown, not inline under every
 * state krt_sys_exit reaches it with. A guess's send goes out on its own
 * here (guess_waits false), as before.
 */
__noinline int krt_sys_xfer_send(const struct xfer_sock *f, int ret, __u64 pid_tgid)
{
	if (!f)
		return 0;
	return handle_xfer(f, ret, KRT_DIR_SEND, pid_tgid, false);
}

__noinline int krt_sys_xfer_recv(const struct xfer_sock *f, int ret, __u64 pid_tgid)
{
	if (!f)
		return 0;
	return handle_xfer(f, ret, KRT_DIR_RECV, pid_tgid, false);
}

/*
 * An AF_UNIX socket's bytes at syscall exit (sk: its address, read through
 * the fd table): the local notification the socket hooks record
 * (notify.bpf.h), so that the hand-back pools (thrift, asyncio) are
 * followed with the fallback too.
 */
__noinline int krt_sys_notify(__u64 sk, int ret, __u8 dir)
{
	struct unix_sock *us = (struct unix_sock *)sk;
	__u64 peer = (__u64)BPF_CORE_READ(us, peer);

	notify_emit(peer, sk, ret, dir);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(krt_sys_exit, struct pt_regs *regs, long ret)
{
	if (empty_hooks)
		return 0;
#if defined(__TARGET_ARCH_x86)
	struct xfer_sock f = {};
	__u64 pid_tgid, flags = 0, unix_sk = 0;
	__u8 dir;

	if (ret <= 0)
		return 0;
	switch (regs->orig_ax) {
	case KRT_NR_write:
	case KRT_NR_writev:
	case KRT_NR_sendto:
	case KRT_NR_sendmsg:
		dir = KRT_DIR_SEND;
		break;
	case KRT_NR_read:
	case KRT_NR_readv:
		dir = KRT_DIR_RECV;
		break;
	case KRT_NR_recvfrom:
		flags = regs->r10; /* recvfrom(fd, buf, len, flags, ...) */
		dir = KRT_DIR_RECV;
		break;
	case KRT_NR_recvmsg:
		flags = regs->dx; /* recvmsg(fd, msg, flags) */
		dir = KRT_DIR_RECV;
		break;
	default:
		return 0;
	}
	pid_tgid = bpf_get_current_pid_tgid();
	if ((flags & KRT_MSG_PEEK) || !tgid_traced(pid_tgid >> 32) || prefilter_hooks)
		return 0;
	if (!xfer_sock_fd(regs->di, ret, dir, &f, &unix_sk))
		return unix_sk ? krt_sys_notify(unix_sk, ret, dir) : 0;
	if (dir == KRT_DIR_SEND)
		return krt_sys_xfer_send(&f, ret, pid_tgid);
	return krt_sys_xfer_recv(&f, ret, pid_tgid);
#else
	return 0;
#endif
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(krt_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	struct krt_event *e;

	if (empty_hooks)
		return 0;
	if (!tgid_traced(ptgid))
		return 0;
	/* A new process (not a thread) of a traced process is traced too. */
	if (ctgid != ptgid)
		tgid_set_traced(ctgid, true);
	/* a reused tid starts clean (state left by a thread whose exit we missed) */
	thread_forget(child->pid);

	e = event_reserve(KRT_EV_FORK);
	if (!e)
		return 0;
	event_fill_current(e);
	e->fork.parent_pid = ptgid;
	e->fork.parent_tid = parent->pid;
	e->fork.child_pid = ctgid;
	e->fork.child_tid = child->pid;
	__builtin_memcpy(e->fork.child_comm, child->comm, sizeof(e->fork.child_comm));
	event_submit(e);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(krt_exit, struct task_struct *task)
{
	__u32 tgid = task->tgid, tid = task->pid;
	struct krt_event *e;

	if (empty_hooks)
		return 0;
	if (!tgid_traced(tgid)) {
		/*
		 * A thread of a process no longer traced (its leader exited
		 * first): its slot goes, or it would stay held for good.
		 */
		thread_forget(tid);
		return 0;
	}
	if (cpu_in_kernel) {
		struct krt_thread_state *t = thread_find(tid);

		if (t)
			cpu_flush(t, tid, tgid, task->comm, NULL, NULL, false);
	}
	if (kernel_tags && go_process(tgid))
		go_thread_gone(tid, tgid);
	thread_forget(tid);
	e = event_reserve(KRT_EV_EXIT);
	if (e) {
		e->pid = tgid;
		e->tid = tid;
		__builtin_memcpy(e->comm, task->comm, sizeof(e->comm));
		event_submit(e);
	}
	/*
	 * The group leader's exit ends the process for us; a later tgid reuse
	 * by an unrelated process must not be traced.
	 */
	if (tid == tgid) {
		tgid_set_traced(tgid, false);
		go_process_gone(tgid);
		if (sampling_on())
			open_sampled_op(tgid, 0, KRT_OPEN_GONE);
	}
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(krt_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 prev_tgid = prev->tgid, next_tgid = next->tgid;
	__u32 prev_tid = prev->pid, next_tid = next->pid;
	bool prev_traced = tgid_traced(prev_tgid), next_traced = tgid_traced(next_tgid);
	bool prev_keep = prev_traced, next_keep = next_traced;
	struct krt_thread_state *pt = NULL, *nt = NULL;
	struct krt_event *e;
	__s64 state;

	if (empty_hooks)
		return 0;
	if ((!prev_traced && !next_traced) || prefilter_hooks)
		return 0;
	PROF_START();
	/*
	 * 0 = still runnable, as in the sched_switch event: preempted, or
	 * rescheduled on its way back to user space (preempt is false there,
	 * the state TASK_RUNNING): not blocked.
	 */
	state = preempt ? 0 : (prev->__state & 0xff);
	if (kernel_tags) {
		pt = prev_traced ? thread_find(prev_tid) : NULL;
		nt = next_traced ? thread_find(next_tid) : NULL;
		/*
		 * Unsampled requests leave no switch records, except the
		 * switch-out of a thread user space saw switching in (else it
		 * would count the thread on CPU until its next record).
		 */
		if (pt && (pt->trace & KRT_TRACE_SAMPLED_OUT) && !pt->shown_oncpu)
			prev_keep = false;
		if (nt && (nt->trace & KRT_TRACE_SAMPLED_OUT))
			next_keep = false;
		if (cpu_in_kernel) {
			int r;

			PROF_MARK(SWITCH_STATE);
			r = switch_cpu_in_kernel(prev, next, pt, nt, prev_tid, prev_tgid, next_tid,
						 next_traced, state);
			PROF_MARK(SWITCH_CPU);
			return r;
		}
		if (pt && claim_ends(pt, state))
			claim_end(pt);
		if (!prev_keep && !next_keep) {
			COUNT_PLAIN(sampled_out_sched);
			return 0;
		}
		if (pt)
			pt->shown_oncpu = 0;
		if (nt)
			nt->shown_oncpu = 1;
	}
	if (!trace_switch)
		return 0;
	e = event_reserve(KRT_EV_SWITCH);
	if (!e)
		return 0;
	e->pid = prev_tgid;
	e->tid = prev_tid;
	__builtin_memcpy(e->comm, prev->comm, sizeof(e->comm));
	e->sw.prev_tid = prev_tid;
	e->sw.prev_pid = prev_tgid;
	e->sw.next_tid = next_tid;
	e->sw.next_pid = next_tgid;
	e->sw.prev_state = state;
	__builtin_memcpy(e->sw.prev_comm, e->comm, sizeof(e->comm));
	__builtin_memcpy(e->sw.next_comm, next->comm, sizeof(e->sw.next_comm));
	event_submit(e);
	return 0;
}

/*
 * sched_waking runs in the waker's context (sched_wakeup may run on the
 * target's CPU from an IPI), so current really is the waker. Only wake-ups
 * inside one process are hand-offs (queue + futex between threads): a
 * wake-up of another process comes from socket data processed in softirq
 * on the sender's stack (an acceptor woken by a SYN), and socket bytes are
 * already followed by the transfer records.
 */
SEC("tp_btf/sched_waking")
int BPF_PROG(krt_waking, struct task_struct *p)
{
	__u32 target_tgid = p->tgid;
	struct krt_sched_batch *b;
	struct krt_sched_item *it;
	struct task_struct *task;
	struct krt_event *e;
	__u64 pid_tgid;

	if (empty_hooks)
		return 0;
	/* every wake-up of the machine comes here: untraced targets leave first */
	if (!tgid_traced(target_tgid) || prefilter_hooks)
		return 0;
	PROF_START();
	pid_tgid = bpf_get_current_pid_tgid();
	if (cpu_in_kernel && !runq_from_sched_info()) {
		__u32 ttid = p->pid;
		struct krt_thread_state *w = thread_get(ttid);

		if (w)
			w->woken_at = bpf_ktime_get_ns();
	}
	if (!trace_wakeup)
		return 0;
	/* a Go process's threads wake each other to run goroutines: no hand-off (go_bits) */
	if ((pid_tgid >> 32) != target_tgid || go_process(target_tgid)) {
		PROF_MARK(WAKE_OTHER);
		return 0;
	}
	if ((__u32)pid_tgid == (__u32)p->pid)
		return 0;
	if (kernel_tags) {
		__u32 waker_trace = thread_trace((__u32)pid_tgid), target_tid = p->pid;
		struct krt_thread_state *t;

		/*
		 * Hand-off policy: the waker's trace passes to a woken thread
		 * that has none (never had one, or its claim ended); a thread
		 * still on another request keeps it.
		 */
		if (waker_trace) {
			t = thread_get(target_tid);
			if (t && sampling_on() && !t->evloop)
				pool_hidden_learn(thread_find((__u32)pid_tgid), t,
						  !(t->trace & KRT_TRACE_ID_MASK));
			/* not an event loop (sampling): its own reads name its requests */
			if (t && (!(t->trace & KRT_TRACE_ID_MASK) || pool_hidden_stale(t)) &&
			    !t->evloop) {
				__u32 guess = pool_hidden_guess(t, waker_trace);

				/*
				 * An unsampled request's guess to a worker that
				 * answers its clients, while a sampled request
				 * of its process is open: no guess.
				 */
				if (sampling_on() && (guess & KRT_TRACE_SAMPLED_OUT) &&
				    (t->pooled & KRT_POOLED_ANSWERS) &&
				    open_sampled_op(target_tgid, 0, KRT_OPEN_ASK))
					guess = 0;
				thread_handed_trace(t, target_tid, target_tgid, p->comm, guess);
			}
		}
		if (waker_trace & KRT_TRACE_SAMPLED_OUT) {
			COUNT_PLAIN(sampled_out_sched);
			return 0;
		}
	}
	/*
	 * In this CPU's batch: a wake-up of another task runs with interrupts
	 * off (under the target's pi_lock).
	 */
	task = bpf_get_current_task_btf();
	it = sched_item_add(&b, KRT_EV_WAKEUP, bpf_ktime_get_ns());
	if (!it)
		goto record;
	it->prev_tid = task->pid;
	it->prev_pid = task->tgid;
	__builtin_memcpy(it->prev_comm, task->comm, sizeof(it->prev_comm));
	it->next_tid = p->pid;
	it->next_pid = target_tgid;
	sched_item_done(b);
	PROF_MARK(WAKE_ITEM);
	return 0;
record:
	e = event_reserve(KRT_EV_WAKEUP);
	if (!e)
		return 0;
	event_fill_current(e);
	e->wakeup.target_tid = p->pid;
	e->wakeup.target_pid = target_tgid;
	event_submit(e);
	return 0;
}

/*
 * Run by the reader on each CPU (BPF_PROG_TEST_RUN, BPF_F_TEST_RUN_ON_CPU:
 * an IPI, interrupts off) before it reads the ring: that CPU's batched
 * switches and wake-ups go into the ring now (events.bpf.h).
 */
SEC("raw_tp")
int krt_sched_flush(void *ctx)
{
	__u32 zero = 0;
	struct krt_sched_batch *b = bpf_map_lookup_elem(&sched_batches, &zero);

	if (b)
		sched_batch_flush(b, true);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(krt_sock_state, struct sock *sk, int oldstate, int newstate)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), cookie;
	struct krt_conn_side *c;
	struct krt_event *e;
	__u16 family;

	if (empty_hooks)
		return 0;
	if (kernel_tags && newstate == KRT_TCP_CLOSE) {
		/* in any context: the last state change often runs in softirq */
		cookie = sock_state_id(sk);
		conn_forget(cookie);
		/*
		 * Its directions leave the tags map (so that live entries are
		 * open connections), a send nobody will read any more first.
		 */
		if (sock_is_tcp((struct sock *)sk, &family)) {
			struct krt_tuple t = {};
			struct krt_dir_key k = {};

			read_tuple((struct sock *)sk, family, &t);
			dir_key(&k, &t.local, &t.remote);
			flush_waiting(&k);
			dir_key(&k, &t.remote, &t.local);
			flush_waiting(&k);
		}
	}
	if (!tgid_traced(pid_tgid >> 32))
		return 0;
	if (!sock_is_tcp((struct sock *)sk, &family))
		return 0;
	cookie = sock_state_id(sk);
	if (kernel_tags && newstate == KRT_TCP_SYN_SENT) {
		/* connect(2) of a Go thread: the goroutine it runs now */
		if (go_process(pid_tgid >> 32))
			krt_go_sync(pid_tgid, 0);
		c = conn_get(cookie);
		if (c) {
			c->client = 1;
			c->origin_known = 1;
			c->connect_trace = thread_trace((__u32)pid_tgid);
			/* a goroutine's: it may hand the connection to another request */
			if (go_process(pid_tgid >> 32))
				go_note_dial((__u32)pid_tgid, pid_tgid >> 32, cookie);
		}
	}
	if (kernel_tags && sampling_on() &&
	    (thread_trace((__u32)pid_tgid) & KRT_TRACE_SAMPLED_OUT)) {
		COUNT(sampled_out); /* in softirqs too: locked */
		return 0;
	}
	e = event_reserve(KRT_EV_SOCK_STATE);
	if (!e)
		return 0;
	event_fill_current(e);
	e->state.oldstate = oldstate;
	e->state.newstate = newstate;
	e->state.sock_id = cookie;
	read_tuple((struct sock *)sk, family, &e->state.tuple);
	event_submit(e);
	return 0;
}
#include "tcpopt.bpf.h"
