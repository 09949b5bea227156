/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The normalised event ABI of KRTrace.
 *
 * Both sources produce exactly these records: the BPF programs write them
 * into the ring buffer, and the ftrace-report normaliser builds them from
 * parsed report lines. The attribution engine consumes nothing else.
 *
 * Plain fixed-size types only: this header is included by the bpf/ programs
 * (after vmlinux.h) and by user space (after <linux/types.h>).
 */
#ifndef KRTRACE_EVENT_H
#define KRTRACE_EVENT_H

#include "krtrace_tcp_option.h"

#define KRT_COMM_LEN 16
/* 5: KRT_EV_NOTIFY, 6: KRT_EV_RECV_WAIT, 7: KRT_EV_GO, 8: KRT_EV_PAUSE */
#define KRT_ABI_VERSION 8

enum krt_event_type {
	KRT_EV_FORK = 1,       /* a traced thread created a thread or process */
	KRT_EV_EXIT = 2,       /* a traced thread exited */
	KRT_EV_SWITCH = 3,     /* sched_switch involving a traced thread */
	KRT_EV_XFER = 4,       /* one completed socket send or receive */
	KRT_EV_SOCK_STATE = 5, /* inet_sock_set_state on a traced socket */
	KRT_EV_WAKEUP = 6,     /* a traced thread woke another thread */
	KRT_EV_CPU = 7,	       /* on-CPU time aggregated in the kernel */
	KRT_EV_LOST = 8,       /* the source lost events (ring full, ftrace overrun) */
	KRT_EV_NOTIFY = 9,     /* bytes on a socket inside one host that is no TCP
				* connection (AF_UNIX socketpair): a thread telling
				* another that work is done (docs/handoffs.md) */
	KRT_EV_RECV_WAIT = 10, /* import: a receive on a TCP socket found no bytes
				* (EAGAIN): the task that made it waits for them
				* (payload: .xfer, dir RECV, bytes 0) */
	KRT_EV_GO = 11,	       /* import: a goroutine event of a capture with Go's
				* uprobes (payload: .go; docs/handoffs.md,
				* "Goroutine events in a capture") */
	KRT_EV_PAUSE = 12,     /* live, windowed sampling: from ts_ns until the next
				* event the tracer saw nothing and forgot every
				* request (its hot hooks detached, its kernel
				* request state cleared); no payload */
	KRT_EV_TYPE_MAX
};

enum krt_xfer_dir {
	KRT_DIR_SEND = 1,
	KRT_DIR_RECV = 2,
};

enum krt_xfer_flags {
	KRT_XF_SEQ = 1 << 0,		 /* .seq holds the TCP sequence of the first byte */
	KRT_XF_TAGGED = 1 << 1,		 /* .trace_id was decided in the kernel */
	KRT_XF_NO_SYSCALL = 1 << 2,	 /* inferred from tcp_probe / rcv_space_adjust
					  * outside a known syscall (writev, readv) */
	KRT_XF_SAMPLED_OUT = 1 << 3,	 /* kernel, sampling: an event loop read an
					  * unsampled request at the door; recorded
					  * like a sampled one, never shown */
	KRT_XF_PEER = 1 << 4,		 /* a RECV carrying the send it read (.peer):
					  * one ring record for both ends of a hop */
	KRT_XF_CPU = 1 << 5,		 /* a RECV carrying its thread's on-CPU time for
					  * the trace it had before (.cpu_before), a CPU
					  * event at the same time, just before it */
	KRT_XF_REMOTE = 1 << 6,		 /* a RECV from a peer host that started a trace
					  * here, carrying the trace it continues
					  * (.remote, from the TCP option) */
	KRT_XF_MAYBE_UNSAMPLED = 1 << 7, /* kernel, sampling: a pool worker's guess
					  * that may be an unsampled request's
					  * work (docs/outputs.md, "Confidence");
					  * untagged, .trace_id holds the worker's
					  * job serial (it changes with each job
					  * begun on a guess) */
};

/* Address families as on Linux (AF_INET, AF_INET6). */
#define KRT_AF_INET 2
#define KRT_AF_INET6 10

struct krt_addr {
	__u8 family; /* 0 = unknown, KRT_AF_INET, KRT_AF_INET6 */
	__u8 pad;
	__u16 port;    /* host byte order */
	__u8 addr[16]; /* network byte order; IPv4 in addr[0..3] */
};

/* A TCP connection seen from one socket: local is the socket's own end. */
struct krt_tuple {
	struct krt_addr local;
	struct krt_addr remote;
};

struct krt_fork {
	__u32 parent_pid, parent_tid;
	__u32 child_pid, child_tid; /* child_pid == child_tid for a process */
	char child_comm[KRT_COMM_LEN];
};

struct krt_switch {
	__u32 prev_tid, prev_pid; /* pid (tgid) 0 when unknown */
	__u32 next_tid, next_pid;
	__s64 prev_state; /* 0: preempted (still runnable); else blocked */
	char prev_comm[KRT_COMM_LEN];
	char next_comm[KRT_COMM_LEN];
};

struct krt_wakeup {
	__u32 target_tid, target_pid;
};

struct krt_cpu {
	__u64 oncpu_ns; /* time on CPU ending at ts_ns */
	__u64 runq_ns;	/* run-queue delay (wakeup -> switch-in) */
	__u32 trace_id; /* 0 = unattributed; KRT_CPU_FOLLOWS: see below */
	__u32 pad;
};

/*
 * krt_cpu.trace_id of a thread whose trace the kernel only guessed (bytes
 * read with an unsure tag) and that is no pool worker: its time is summed
 * here like a decided one's, for the trace the engine decides for the
 * thread (its current one when the record comes), instead of going out as
 * switch records. Outside the trace id space (KRT_TRACE_ID_MASK).
 */
#define KRT_CPU_FOLLOWS 0xffffffffu

/*
 * krt_xfer_peer.trace_id of a send the kernel did not decide (a pool
 * worker's guess: KRT_TRACE_UNSURE of include/krtrace_bpf.h); with
 * sampling only one whose own record would carry no KRT_XF_MAYBE_UNSAMPLED
 * (bpf/xfer.bpf.h, send_says_nothing_sampled).
 */
#define KRT_PEER_UNDECIDED 0x40000000u
_Static_assert(KRT_XF_TAGGED == 1 << 1, "krt_peer_send_fill sets it by shifting");

/*
 * The send a receive read, kept in the kernel until the receiver came
 * (live path only): the live source turns it back into a SEND event.
 */
struct krt_xfer_peer {
	__u64 ts_ns;   /* when the send completed */
	__u64 sock_id; /* the sender's socket */
	__u32 tid, pid;
	__u32 seq, bytes; /* TCP sequence of its first byte, length */
	__u32 trace_id;	  /* the kernel's tag of the sent bytes; with
			   * KRT_PEER_UNDECIDED a guess: the send is
			   * untagged, as a record of its own would be */
	__u32 goid;	  /* the sending goroutine (low 32 bits; krt_xfer.goid) */
	__s32 fd;
	__u16 syscall_nr;
	__u16 cpu;
	char comm[KRT_COMM_LEN];
};

struct krt_xfer {
	__u8 dir;	  /* enum krt_xfer_dir */
	__u8 flags;	  /* enum krt_xfer_flags */
	__u16 syscall_nr; /* 0 when inferred without a syscall */
	__s32 fd;	  /* -1 when unknown */
	__u64 bytes;	  /* RECV with KRT_XF_NO_SYSCALL and bytes 0: a receive
			   * of unknown size (readv) that consumed everything
			   * queued on the connection */
	__u64 seq;	  /* KRT_XF_SEQ: send: write_seq before; recv: copied_seq before */
	__u64 sock_id;	  /* socket identity: its cookie; with the syscall hooks, its
			   * address XORed with a per-run key */
	__u64 enter_ns;	  /* syscall entry (== ts_ns when unknown) */
	__u32 trace_id;	  /* KRT_XF_TAGGED: the kernel's decision */
	__u32 goid;	  /* live, Go programs whose goroutines are followed: the
			   * goroutine running on tid (low 32 bits), 0 = unknown */
	/*
	 * local end = the socket of the thread in tid. A SEND inferred from a
	 * tcp_probe that fired in another task's context (backlog processing)
	 * has tid 0 and local = the sender's end (the probe's daddr:dport): the
	 * engine finds the sender by address.
	 */
	struct krt_tuple tuple;
	/* a receive read a local send, or bytes from another host: never both */
	union {
		struct krt_xfer_peer peer;    /* KRT_XF_PEER (RECV): the send it read */
		struct krt_remote_ctx remote; /* KRT_XF_REMOTE (RECV) */
	};
	struct krt_cpu cpu_before; /* KRT_XF_CPU (RECV) */
};
/* goid took the pad: the ring records keep their size */
_Static_assert(sizeof(struct krt_xfer) == 48 + sizeof(struct krt_tuple) +
					      sizeof(struct krt_xfer_peer) + sizeof(struct krt_cpu),
	       "krt_xfer: ABI");

/*
 * A send or receive on a local socket that is no TCP connection: an
 * AF_UNIX socketpair a pool worker writes to wake its event loop (thrift's
 * TNonblockingServer, asyncio's self-pipe). Only its length and the
 * channel matter: the bytes name no request.
 */
enum krt_notify_flags {
	/*
	 * Import: an earlier SEND of this thread (bytes as it said) was a TCP
	 * send after all (its probe fired later, in the receiver's context):
	 * take it back if it was not read yet.
	 */
	KRT_NF_RETRACT = 1 << 0,
};

struct krt_notify {
	__u8 dir;   /* enum krt_xfer_dir */
	__u8 flags; /* enum krt_notify_flags */
	__u8 pad[2];
	__s32 fd; /* -1 when unknown */
	__u64 bytes;
	/*
	 * The channel: the RECEIVING socket's identity (on a send, the peer
	 * socket's), keyed as sock_id is; 0 = not known (import): the
	 * channel of the thread's process.
	 */
	__u64 chan;
	/*
	 * A receive: the bytes it asked for (read/recvfrom's length), 0 when
	 * not known. One that asked for more than it got could have read
	 * several notifications at once.
	 */
	__u64 asked;
};

struct krt_sock_state {
	__s32 oldstate, newstate; /* TCP_* numbers as in the kernel */
	__u64 sock_id;
	struct krt_tuple tuple;
};

/*
 * What was lost (krt_lost.reason). Every trace open when a loss is
 * reported, or started before it, says it may be incomplete, and why.
 */
enum krt_lost_reason {
	KRT_LOST_CAPTURE = 0,	 /* the capture's own "LOST n EVENTS" (import) */
	KRT_LOST_RING_FULL = 1,	 /* live: records dropped, ring buffer full */
	KRT_LOST_TABLE_FULL = 2, /* kernel states not kept (live), import state dropped */
	KRT_LOST_REORDER = 3,	 /* live: records behind the reorder window (clamped) */
	KRT_LOST_UNRESOLVED = 4, /* import: sends whose connection could not be told */
	KRT_LOST_UNREPORTED = 5, /* engine: bytes misaligned, no loss reported (not sent) */
	KRT_LOST_WINDOW = 6,	 /* engine: unanswered at a KRT_EV_PAUSE (not sent): the
				  * sampling window's drain was too short for it */
};

struct krt_lost {
	__u64 count;
	__u32 reason; /* enum krt_lost_reason */
	__u32 pad;
	/*
	 * KRT_LOST_REORDER: the own time of the oldest record clamped since the
	 * last report (0: not known). The record went to the engine up to the
	 * reorder window's span later than it happened: every trace active
	 * since may have been decided without it.
	 */
	__u64 since_ns;
};

/*
 * Import of a capture with goroutine events: each goroutine is a unit of
 * attribution of its own, named by a tid outside the kernel's range
 * (KRT_GO_UNIT_BASE + n): the normaliser gives a Go thread's transfers and
 * CPU to the goroutine that runs on it (the last runtime.execute there).
 */
#define KRT_GO_UNIT_BASE 0x40000000u

enum krt_go_op {
	/* .tid (the goroutine, or thread, that ran) leaves the CPU to target_tid */
	KRT_GO_OP_EXECUTE = 1,
	KRT_GO_OP_START, /* .tid starts goroutine target_tid (runtime.gostartcallfn) */
	KRT_GO_OP_READY, /* .tid readies goroutine target_tid (runtime.ready, a channel's) */
};

struct krt_goroutine {
	__u32 op;	   /* enum krt_go_op */
	__u32 target_tid;  /* the goroutine executed, started or readied */
	__u64 target_goid; /* its goid, 0 = not known yet (a new one) */
	__u32 thread;	   /* the thread it happened on (the event's task) */
	__u32 pad;
};

struct krt_event {
	__u64 ts_ns; /* CLOCK_MONOTONIC (the report's own clock on import) */
	__u32 type;  /* enum krt_event_type */
	__u32 cpu;
	__u32 pid; /* tgid of the current task; 0 when unknown (import) */
	__u32 tid; /* thread id of the current task */
	char comm[KRT_COMM_LEN];
	union {
		struct krt_fork fork;
		struct krt_switch sw;
		struct krt_wakeup wakeup;
		struct krt_xfer xfer;
		struct krt_sock_state state;
		struct krt_cpu oncpu;
		struct krt_lost lost;
		struct krt_notify notify;
		struct krt_goroutine go;
	};
};

/*
 * The SEND a krt_xfer_peer describes, as the sender's own event (ev zeroed
 * by the caller, t the sender's view of the connection). The kernel (a
 * waiting send emitted on its own) and the live source (a merged hop split
 * in two) both build it here, so the two cannot drift apart.
 */
static __inline__ __attribute__((always_inline)) void
krt_peer_send_fill(struct krt_event *ev, const struct krt_xfer_peer *ps, const struct krt_tuple *t)
{
	__u32 sure = ((ps->trace_id / KRT_PEER_UNDECIDED) & 1) ^ 1;

	ev->ts_ns = ps->ts_ns;
	ev->type = KRT_EV_XFER;
	ev->cpu = ps->cpu;
	ev->pid = ps->pid;
	ev->tid = ps->tid;
	__builtin_memcpy(ev->comm, ps->comm, KRT_COMM_LEN);
	ev->xfer.dir = KRT_DIR_SEND;
	/*
	 * Tagged unless undecided, without a branch: inlined in the kernel's
	 * syscall-exit program, a fork here doubled what the verifier walks
	 * after it (the program is at its 1M-instruction limit).
	 */
	ev->xfer.flags = KRT_XF_SEQ | (sure << 1);
	ev->xfer.trace_id = ps->trace_id & (0u - sure);
	ev->xfer.syscall_nr = ps->syscall_nr;
	ev->xfer.fd = ps->fd;
	ev->xfer.bytes = ps->bytes;
	ev->xfer.seq = ps->seq;
	ev->xfer.sock_id = ps->sock_id;
	ev->xfer.enter_ns = ps->ts_ns;
	ev->xfer.goid = ps->goid;
	ev->xfer.tuple = *t;
}

#endif /* KRTRACE_EVENT_H */
