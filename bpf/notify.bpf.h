/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Local notifications: bytes on a connected AF_UNIX socket of a traced
 * process. A pool worker that finished a job writes to a socketpair to wake
 * the event loop that will answer (thrift's TNonblockingServer, asyncio's
 * self-pipe); the loop reads it and writes the reply. The bytes name no
 * request: the record carries only the channel and the length, and the
 * engine's pool rule binds the worker's job to the loop's next reply
 * (docs/handoffs.md, "The hand-back").
 */
#ifndef KRT_NOTIFY_BPF_H
#define KRT_NOTIFY_BPF_H

#include "events.bpf.h"
#include "sock.bpf.h"
#include "sampling.bpf.h"

/* A kernel address as an id that does not show it: keyed (sock_id_key). */
static __always_inline __u64 keyed_id(__u64 v)
{
	return v ? v ^ sock_id_key : 0;
}

/*
 * An AF_UNIX socket at address self, connected to peer (0: not
 * connected), moved ret bytes in direction dir: a KRT_EV_NOTIFY record
 * naming the receiving socket (the peer on a send).
 */
static __always_inline void notify_emit(__u64 peer, __u64 self, int ret, __u8 dir)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct krt_sched_batch *b;
	struct krt_sched_item *it;
	__u64 chan, asked = 0, ts;
	struct krt_event *e;
	__s32 fd = -1;
	__u16 nr = 0;

	/*
	 * Sampling: a loop's replies to unsampled requests are not recorded,
	 * so its notifications could not be matched to replies in order (a
	 * stale job would be bound to the next sampled reply), unless it is a
	 * pool feeder (krt_pool_hidden): a hand-back loop, whose replies are
	 * all recorded from its first notification on (its unsampled requests
	 * hidden). Its workers' sends are recorded from the first, whatever
	 * their trace (a job begun before the feeder was known, a new thread's
	 * first job), or the reads would run ahead of them; the reads of a
	 * thread that feeds no pool are not.
	 */
	if (sampling_on() && dir == KRT_DIR_RECV) {
		struct krt_thread_state *th = thread_find((__u32)bpf_get_current_pid_tgid());

		if (!th || !(th->pool_hidden & KRT_POOL_HIDDEN_FEEDER))
			return;
		th->pool_hidden |= KRT_POOL_HIDDEN_HANDBACK;
	}
	/* a receive on a socket not connected (a datagram one bound to a path): no channel */
	if (!peer)
		return;
	chan = keyed_id(dir == KRT_DIR_SEND ? peer : self);
	if (!chan)
		return;
	read_syscall_nr(&nr, &fd);
#if defined(__TARGET_ARCH_x86)
	if (dir == KRT_DIR_RECV && (nr == KRT_NR_read || nr == KRT_NR_recvfrom)) {
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);

		asked = regs->dx; /* read(fd, buf, count), recvfrom(.., len, ..) */
	}
#endif
	/*
	 * In this CPU's batch (2 of the 12-13 ring records of an asgi or
	 * thrift request were these), marked busy while it is added: a
	 * transfer hook can be interrupted, and the syscall-exit one
	 * preempted.
	 */
	it = batch_busy_add(&b, KRT_EV_NOTIFY, &ts);
	if (it) {
		it->prev_tid = task->pid;
		it->prev_pid = task->tgid;
		__builtin_memcpy(it->prev_comm, task->comm, sizeof(it->prev_comm));
		it->prev_state = dir;
		it->next_tid = fd;
		it->next_pid = asked < 0xffffffffULL ? asked : 0xffffffffULL;
		it->notify.chan = chan;
		it->notify.bytes = ret;
		batch_busy_done(b);
		return;
	}
	e = event_reserve(KRT_EV_NOTIFY);
	if (!e)
		return;
	event_fill_current(e);
	e->notify.dir = dir;
	e->notify.bytes = ret;
	e->notify.chan = chan;
	e->notify.fd = fd;
	e->notify.asked = asked;
	event_submit(e);
}

/*
 * sk (a trusted BTF pointer) moved ret bytes in direction dir: when it is a
 * connected AF_UNIX socket, a KRT_EV_NOTIFY record naming the receiving
 * socket (the peer on a send). True when sk is AF_UNIX (recorded or not).
 * Not inlined: its locals stay out of the socket hooks' frame (the hook
 * and the transfer function it calls share a 512-byte stack).
 */
static __noinline bool notify_record(struct sock *sk, int ret, __u8 dir)
{
	struct unix_sock *us;
	__u64 peer = 0, self = 0;
	const void *sk_addr = sk;

	if (!sk || sk->__sk_common.skc_family != KRT_AF_UNIX)
		return false;
	us = bpf_skc_to_unix_sock(sk);
	if (!us)
		return true;
	/* the addresses as numbers: the verifier forbids XOR on a pointer */
	bpf_probe_read_kernel(&peer, sizeof(peer), &us->peer);
	bpf_probe_read_kernel(&self, sizeof(self), &sk_addr);
	notify_emit(peer, self, ret, dir);
	return true;
}

#endif /* KRT_NOTIFY_BPF_H */
