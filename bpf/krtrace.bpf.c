// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * KRTrace live path, kernel side.
 *
 * Every program starts with the same pre-filter: the current task's tgid
 * must be in traced_tgids, otherwise it returns before touching anything
 * else, so untraced processes pay one hash lookup per hook hit.
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
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "krtrace_event.h"
#include "krtrace_bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Knobs set by the loader between open and load. */
const volatile __u64 wakeup_bytes = 256 * 1024;
const volatile bool trace_switch = true;
const volatile bool trace_wakeup = true;

/* Loss counters, read by the loader at exit (never silent). */
__u64 ring_drops = 0;
__u64 map_full = 0;
__u64 sock_unreadable = 0;
__u64 records = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KRT_MAX_TRACED_TGIDS);
	__type(key, __u32);
	__type(value, __u8);
} traced_tgids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

static __always_inline bool tgid_traced(__u32 tgid)
{
	return bpf_map_lookup_elem(&traced_tgids, &tgid) != NULL;
}

static __always_inline struct krt_event *event_reserve(__u32 type)
{
	struct krt_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&ring_drops, 1);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	e->type = type;
	e->cpu = bpf_get_smp_processor_id();
	return e;
}

static __always_inline void event_fill_current(struct krt_event *e)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

/*
 * Batched wake-up: only wake the consumer once enough data is waiting; the
 * loader's poll timer picks up the rest.
 */
static __always_inline void event_submit(struct krt_event *e)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	__sync_fetch_and_add(&records, 1);
	bpf_ringbuf_submit(e, flags);
}

static __always_inline bool sock_is_tcp(struct sock *sk, __u16 *family)
{
	__u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (fam != KRT_AF_INET && fam != KRT_AF_INET6)
		return false;
	/* sk_protocol became a plain field in 5.6; CO-RE reads both layouts. */
	if (bpf_core_field_size(sk->sk_protocol) == sizeof(__u16)) {
		if (BPF_CORE_READ(sk, sk_protocol) != KRT_IPPROTO_TCP)
			return false;
	} else if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != KRT_IPPROTO_TCP) {
		return false;
	}
	*family = fam;
	return true;
}

static __always_inline void read_tuple(struct sock *sk, __u16 family, struct krt_tuple *t)
{
	t->local.family = family;
	t->remote.family = family;
	t->local.port = BPF_CORE_READ(sk, __sk_common.skc_num);
	t->remote.port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == KRT_AF_INET) {
		/* sizes spelled out: the READ_INTO macros size by *dst (one byte) */
		bpf_core_read(t->local.addr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(t->remote.addr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(t->local.addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(t->remote.addr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/*
 * The syscall that led here and its fd, from the task's saved user
 * registers: cheaper than a sys_enter hook on every syscall of the machine.
 */
static __always_inline void read_syscall(struct krt_xfer *x)
{
	x->fd = -1;
#if defined(__TARGET_ARCH_x86)
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	long nr = BPF_CORE_READ(regs, orig_ax);

	switch (nr) {
	case KRT_NR_read:
	case KRT_NR_write:
	case KRT_NR_readv:
	case KRT_NR_writev:
	case KRT_NR_sendto:
	case KRT_NR_recvfrom:
	case KRT_NR_sendmsg:
	case KRT_NR_recvmsg:
	case KRT_NR_sendmmsg:
	case KRT_NR_recvmmsg:
		x->syscall_nr = nr;
		x->fd = (__s32)BPF_CORE_READ(regs, di);
		break;
	default:
		/* io_uring, sendfile, splice, kernel sockets: fd unknown */
		if (nr >= 0 && nr < 0xffff)
			x->syscall_nr = nr;
		break;
	}
#endif
}

static __always_inline int handle_xfer(struct sock *sk, int ret, __u8 dir)
{
	struct krt_event *e;
	struct krt_xfer *x;
	__u16 family;
	__u32 seq;

	if (!sk || ret <= 0)
		return 0;
	if (!tgid_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	if (!sock_is_tcp(sk, &family))
		return 0;

	e = event_reserve(KRT_EV_XFER);
	if (!e)
		return 0;
	event_fill_current(e);
	x = &e->xfer;
	x->dir = dir;
	x->bytes = ret;
	x->enter_ns = e->ts_ns;
	x->sock_id = bpf_get_socket_cookie(sk);
	read_syscall(x);
	read_tuple(sk, family, &x->tuple);
	/* The hook runs after the transfer: the sequence moved by ret bytes. */
	if (dir == KRT_DIR_SEND) {
		if (bpf_core_read(&seq, sizeof(seq), &((struct tcp_sock *)sk)->write_seq))
			goto unreadable;
	} else {
		if (bpf_core_read(&seq, sizeof(seq), &((struct tcp_sock *)sk)->copied_seq))
			goto unreadable;
	}
	x->seq = (__u32)(seq - (__u32)ret);
	x->flags |= KRT_XF_SEQ;
	event_submit(e);
	return 0;

unreadable:
	__sync_fetch_and_add(&sock_unreadable, 1);
	event_submit(e);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(krt_sock_send, struct sock *sk, int ret, int flags)
{
	return handle_xfer(sk, ret, KRT_DIR_SEND);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(krt_sock_recv, struct sock *sk, int ret, int flags)
{
	/* A peek leaves the bytes queued: the real receive comes later. */
	if (flags & KRT_MSG_PEEK)
		return 0;
	return handle_xfer(sk, ret, KRT_DIR_RECV);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(krt_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	struct krt_event *e;
	__u8 one = 1;

	if (!tgid_traced(ptgid))
		return 0;
	/* A new process (not a thread) of a traced process is traced too. */
	if (ctgid != ptgid &&
	    bpf_map_update_elem(&traced_tgids, &ctgid, &one, BPF_ANY))
		__sync_fetch_and_add(&map_full, 1);

	e = event_reserve(KRT_EV_FORK);
	if (!e)
		return 0;
	event_fill_current(e);
	e->fork.parent_pid = ptgid;
	e->fork.parent_tid = parent->pid;
	e->fork.child_pid = ctgid;
	e->fork.child_tid = child->pid;
	bpf_probe_read_kernel_str(e->fork.child_comm, sizeof(e->fork.child_comm), child->comm);
	event_submit(e);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(krt_exit, struct task_struct *task)
{
	__u32 tgid = task->tgid, tid = task->pid;
	struct krt_event *e;

	if (!tgid_traced(tgid))
		return 0;
	e = event_reserve(KRT_EV_EXIT);
	if (e) {
		e->pid = tgid;
		e->tid = tid;
		bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), task->comm);
		event_submit(e);
	}
	/*
	 * The group leader's exit ends the process for us; a later tgid reuse
	 * by an unrelated process must not be traced.
	 */
	if (tid == tgid)
		bpf_map_delete_elem(&traced_tgids, &tgid);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(krt_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 prev_tgid = prev->tgid, next_tgid = next->tgid;
	struct krt_event *e;

	if (!trace_switch)
		return 0;
	if (!tgid_traced(prev_tgid) && !tgid_traced(next_tgid))
		return 0;
	e = event_reserve(KRT_EV_SWITCH);
	if (!e)
		return 0;
	e->pid = prev_tgid;
	e->tid = prev->pid;
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), prev->comm);
	e->sw.prev_tid = prev->pid;
	e->sw.prev_pid = prev_tgid;
	e->sw.next_tid = next->pid;
	e->sw.next_pid = next_tgid;
	/* 0 = preempted and still runnable, as in the sched_switch event. */
	e->sw.prev_state = preempt ? 0 : (BPF_CORE_READ(prev, __state) & 0xff) ?: 1;
	__builtin_memcpy(e->sw.prev_comm, e->comm, sizeof(e->comm));
	bpf_probe_read_kernel_str(e->sw.next_comm, sizeof(e->sw.next_comm), next->comm);
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
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 target_tgid = p->tgid;
	struct krt_event *e;

	if (!trace_wakeup)
		return 0;
	if ((pid_tgid >> 32) != target_tgid || !tgid_traced(target_tgid))
		return 0;
	if ((__u32)pid_tgid == (__u32)p->pid)
		return 0;
	e = event_reserve(KRT_EV_WAKEUP);
	if (!e)
		return 0;
	event_fill_current(e);
	e->wakeup.target_tid = p->pid;
	e->wakeup.target_pid = target_tgid;
	event_submit(e);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(krt_sock_state, struct sock *sk, int oldstate, int newstate)
{
	struct krt_event *e;
	__u16 family;

	if (!tgid_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	if (!sock_is_tcp(sk, &family))
		return 0;
	e = event_reserve(KRT_EV_SOCK_STATE);
	if (!e)
		return 0;
	event_fill_current(e);
	e->state.oldstate = oldstate;
	e->state.newstate = newstate;
	e->state.sock_id = bpf_get_socket_cookie(sk);
	read_tuple(sk, family, &e->state.tuple);
	event_submit(e);
	return 0;
}
