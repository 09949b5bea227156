/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Constants of the BPF side that vmlinux.h does not carry (macros). */
#ifndef KRTRACE_BPF_H
#define KRTRACE_BPF_H

#define KRT_MAX_TRACED_TGIDS 65536
#define KRT_IPPROTO_TCP 6
#define KRT_MSG_PEEK 2
#define KRT_S_IFMT 0170000
#define KRT_S_IFSOCK 0140000
#define KRT_TCP_SYN_SENT 2
#define KRT_TCP_CLOSE 7

/*
 * Kernel tagging: state tables (arrays, open addressing). A thread's,
 * connection's or direction's state lives in the first free of KRT_PROBES
 * slots from the one its tid / socket cookie / key hash picks.
 */
#define KRT_THREAD_SLOTS 65536	/* powers of two */
#define KRT_CONN_SLOTS 65536
#define KRT_DIR_SLOTS 16384	/* connection directions */
#define KRT_PROBES 4
#define KRT_TAG_SEGS 8		/* send segments remembered per connection direction */
#define KRT_IDLE_FLUSH_NS (50ULL * 1000 * 1000)	/* unattributed CPU: batch size */
#define KRT_SIDE_REQS 4		/* requests queued unanswered on one server side */

/*
 * A kernel trace value: id in the low 30 bits; SAMPLED_OUT = not sampled;
 * UNSURE = the kernel's guess, not a decision (a thread-pool hand-off: which
 * queued request a woken worker dequeues is not visible here). Records of
 * an unsure thread go out untagged, with its context switches, so that the
 * engine's rules decide for it; bytes it sends carry the doubt along.
 */
#define KRT_TRACE_SAMPLED_OUT 0x80000000u
#define KRT_TRACE_UNSURE 0x40000000u
#define KRT_TRACE_ID_MASK 0x3fffffffu

struct krt_thread_state {
	__u32 trace;		/* current trace value, 0 = none */
	__u8 replied;		/* sent on its entry connection since the trace began */
	__u8 shown_oncpu;	/* user space saw it switch in: its switch-out is due */
	__u8 handed;		/* the trace came by a wake-up and nothing was sent since */
	__u8 pooled;		/* has been handed a trace by a wake-up: a pool worker */
	__u8 tag_pending;	/* its last receive's tag is not stored yet */
	__u8 runq_known;	/* runq_base holds the task's run_delay */
	__u8 pad[6];
	__u64 entry_cookie;	/* socket whose receive set the trace; 0 = hand-off */
	/* on-CPU time gathered here (cpu_in_kernel), sent when the trace changes */
	__u64 oncpu_since;	/* switch-in time while on CPU, else 0 */
	__u64 acc_oncpu;	/* on-CPU ns not yet sent, all for .trace */
	__u64 acc_runq;		/* run-queue delay ns not yet sent */
	__u64 woken_at;		/* last wake-up (kernels without sched_info) */
	__u64 runq_base;	/* sched_info.run_delay already counted */
	__u64 acc_idle;		/* on-CPU ns with no trace, sent in larger batches */
};

struct krt_conn_side {
	__u32 last_recv_trace;	/* trace of the last bytes received on this socket */
	__u32 connect_trace;	/* trace current when this side connected */
	__u8 client;		/* this side connected (SYN_SENT seen) */
	__u8 origin_known;	/* client is reliable (not a pre-existing connection) */
	__u8 in_request;	/* received since this side last sent */
	__u8 sent_any;
	/* server side: requests received, oldest first (pipelining, m3) */
	__u32 req[KRT_SIDE_REQS];
	__u8 req_n;
	__u8 req_answered;	/* req[0] was answered (its reply may go on) */
	__u8 peer;		/* the remote end: 0 not looked up, 1 traced container, 2 not */
	__u8 pad;
};

/*
 * A slot of the state tables: its owner's id (0 = free; with the
 * top bit set while the slot is being filled) and state.
 */
#define KRT_SLOT_FILL_BIT 0x80000000u	/* thread ids stay below 2^22 */
struct krt_thread_slot {
	__u32 tid;
	__u32 pad;
	struct krt_thread_state st;
};

struct krt_conn_slot {
	__u64 cookie;
	struct krt_conn_side c;
};

struct krt_dir_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport, dport;
	__u32 family;
};

/* The sender's view of direction k (local = the sending end). */
static __inline__ __attribute__((always_inline)) void
krt_dir_key_tuple(const struct krt_dir_key *k, struct krt_tuple *t)
{
	__builtin_memset(t, 0, sizeof(*t));
	t->local.family = k->family;
	t->remote.family = k->family;
	t->local.port = k->sport;
	t->remote.port = k->dport;
	__builtin_memcpy(t->local.addr, k->saddr, 16);
	__builtin_memcpy(t->remote.addr, k->daddr, 16);
}

/*
 * A receive that found no tag: the sender's hook runs after its transfer,
 * so on another CPU the receiver can read the bytes first. The send that
 * follows finds this and gives the receiver its tag late.
 */
struct krt_untagged_recv {
	__u64 cookie;		/* receiving socket */
	__u32 tid;		/* receiving thread */
	__u32 seq, len;
	__u32 pid;
	__u32 prev_trace;	/* the thread's trace at that receive */
	__u32 made_pending;	/* that receive set the thread's tag_pending */
};

struct krt_tag_seg {
	__u32 seq, len, trace, pad;
};

/*
 * A send to a traced peer, not emitted yet: the receive that reads it
 * carries it in its own record (one record per hop instead of two).
 * state: 0 empty, 1 waiting, 2 taken by someone (sender or receiver)
 * who is copying it out; the word changes by compare-and-swap only.
 */
#define KRT_DEFER_EMPTY 0
#define KRT_DEFER_WAITING 1
#define KRT_DEFER_BUSY 2

struct krt_deferred_send {
	__u32 state;
	__u32 pad;
	struct krt_xfer_peer send;
};

/*
 * Everything known of one connection direction (sender -> receiver), in
 * one map value so that a transfer looks it up once.
 */
struct krt_dir_tags {
	struct krt_tag_seg seg[KRT_TAG_SEGS];
	__u32 next;
	__u32 sync;			/* target of the barrier's locked add */
	struct krt_untagged_recv untagged;	/* .len 0: none */
	struct krt_deferred_send wait;	/* a send waiting for its receiver */
};

/*
 * A slot of the directions' array: claim 0 free, 1 being filled (its key
 * not complete yet), 2 in use; it changes by compare-and-swap only.
 */
#define KRT_SLOT_FREE 0
#define KRT_SLOT_FILLING 1
#define KRT_SLOT_USED 2

struct krt_dir_slot {
	__u32 claim;
	__u32 pad;
	struct krt_dir_key key;
	struct krt_dir_tags dt;
};

/* A traced peer's address (container IP): sends to it may wait for their receiver. */
struct krt_peer_key {
	__u8 addr[16];
	__u32 family;
};

/* Hot counters, one 64-byte line per CPU (summed by user space). */
#define KRT_MAX_CPUS 256
struct krt_pcpu_counters {
	__u64 records;		/* ring records submitted */
	__u64 sampled_out;	/* records not emitted: unsampled requests */
	__u64 hops_merged;	/* receives that carried their send */
	__u64 sends_flushed;	/* waiting sends emitted on their own */
	__u64 pad[4];
};

/* x86-64 syscall numbers of the socket transfers we name in records. */
#define KRT_NR_read 0
#define KRT_NR_write 1
#define KRT_NR_readv 19
#define KRT_NR_writev 20
#define KRT_NR_sendto 44
#define KRT_NR_recvfrom 45
#define KRT_NR_sendmsg 46
#define KRT_NR_recvmsg 47
#define KRT_NR_recvmmsg 299
#define KRT_NR_sendmmsg 307

#endif
