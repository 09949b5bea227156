/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The BPF programs' state as user space reads it too (mmapped tables, the
 * counters in .bss), and the constants of the BPF side that vmlinux.h does
 * not carry. Included after krtrace_event.h, by bpf/ and by the loader.
 */
#ifndef KRTRACE_BPF_H
#define KRTRACE_BPF_H

#include "krtrace_rules.h"

#define KRT_MAX_TRACED_TGIDS 65536
#define KRT_IPPROTO_TCP 6
#define KRT_SOCK_STREAM 1
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
#define KRT_THREAD_SLOTS 65536 /* powers of two */
#define KRT_CONN_SLOTS 65536
#define KRT_DIR_SLOTS 16384 /* connection directions */
#define KRT_PROBES 4
/*
 * Send segments (their tags) remembered per connection direction: a receive
 * finds the tag of each send it reads among them. A server that reads a
 * pipeline late reads as many sends at once as its client had outstanding:
 * m3 (an event loop, 16 clients on 2 upstream connections) had 14 on one
 * under load, and with 8 the oldest 6 requests' tags were gone, its side's
 * queue began at the 7th and each reply named a request 6 later
 * (test_pipeline_deeper_than_8). As deep as a side's queue (KRT_SIDE_REQS).
 */
#define KRT_TAG_SEGS 16
#define KRT_IDLE_FLUSH_NS (50ULL * 1000 * 1000) /* unattributed CPU: batch size */

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

/*
 * Which new requests the gateway door samples (the BPF global
 * sample_phase, written by the reader): RULE, one in sample_rate under the
 * rate cap; windowed sampling (--sample-window) opens a window with ALL and
 * keeps the phases around it (warm-up, drain) at NONE, where every new
 * request is traced hidden, as an unsampled one is under RULE.
 */
enum krt_sample_phase {
	KRT_PHASE_RULE = 0,
	KRT_PHASE_ALL = 1,
	KRT_PHASE_NONE = 2,
};
_Static_assert(KRT_PEER_UNDECIDED == KRT_TRACE_UNSURE, "a merged send's doubt");

/*
 * A thread's claim on its trace (struct krt_thread_state .claim), the
 * states of one small machine (docs/design.md, "Rule 5: claim end"):
 *
 *   OPEN ----send on its entry connection, or a server reply----> REPLIED
 *   any ----woken by a thread of its process, having no trace---> HANDED
 *   HANDED ----a send, or a receive that sets its trace---------> OPEN
 *   any ----a receive that brings another trace or connection--> OPEN
 *
 * A thread that blocks while REPLIED or HANDED with a trace ends its claim
 * (trace 0, OPEN): idle is not request time.
 */
enum krt_claim {
	KRT_CLAIM_OPEN = 0,    /* working on its trace (or has none) */
	KRT_CLAIM_REPLIED = 1, /* answered its request since the trace began */
	KRT_CLAIM_HANDED = 2,  /* the trace came by a wake-up, nothing sent since */
};

/*
 * oncpu_since of a thread on CPU for an unsampled request: its time is
 * dropped, so no clock is read for it (the count starts when it takes a
 * sampled request while it runs).
 */
#define KRT_ONCPU_UNCOUNTED 1ULL
/*
 * What a thread's exec_base holds (bpf/cpu.bpf.h, run_reconcile): nothing
 * yet; its runtime at its last switch-out (no switch-in seen since); that
 * less the switch-in's time (timed); or a switch-in seen untimed (its time
 * not counted here, or counted from later on: no check).
 */
enum krt_exec_state {
	KRT_EXEC_UNKNOWN = 0,
	KRT_EXEC_OUT,
	KRT_EXEC_TIMED,
	KRT_EXEC_UNTIMED,
};
/* A run the kernel counts longer than the hooks saw by more than this lost a stretch. */
#define KRT_EXEC_SLACK_NS (100ULL * 1000)

/*
 * With sampling, what a thread's records may miss (krt_thread_state
 * .maybe_unsampled): its unsure trace is a guess while the queue it took
 * a job from also holds unsampled requests (GUESS: its untagged records
 * say so), or its work for the sampled request it answers now went
 * unrecorded (REPLY: that reply says so), or it read an unsampled request
 * at the door and has sent nothing under that request's mark since (LOOP:
 * an event loop may be sending for it under a sampled request's mark; its
 * tagged sends say so).
 */
enum krt_maybe_unsampled {
	KRT_MAYBE_UNSAMPLED_GUESS = 1,
	KRT_MAYBE_UNSAMPLED_REPLY = 2,
	KRT_MAYBE_UNSAMPLED_LOOP = 3,
	KRT_MAYBE_UNSAMPLED_HIDDEN = 4, /* its receive now is an event loop's hidden request's */
};

/*
 * krt_thread_state .pooled: handed a trace by a wake-up (a pool worker),
 * and one that answers clients itself (a server reply of its own): the
 * queue it takes jobs from holds requests it answers (open_sampled).
 */
enum krt_pooled {
	KRT_POOLED_WORKER = 1,
	KRT_POOLED_ANSWERS = 2,
};

/* krt_thread_state .door_reader: read requests at the door, and sent calls since */
enum krt_door_reader {
	KRT_DOOR_READER = 1,
	KRT_DOOR_READER_CALLS = 2,
};

/*
 * krt_thread_state .pool_hidden, with sampling: a pool feeder (it woke an
 * idle sibling while holding a request it read and had not answered) and
 * the workers it feeds. The hand-offs' rules need every request the feeder
 * queued: the pool's queue would hold requests the engine never sees, and
 * a loop that answers for its workers (the hand-back) needs its replies
 * and their notifications for every request. So the feeder's unsampled
 * requests are recorded as hidden ones (never shown), and neither it nor
 * its workers take the sampling guesses: they are traced as without
 * sampling, at full tracing's cost. Which feeders: one that reads at the
 * door and makes no call itself (it queues: m2's reader, uvicorn's loop;
 * not a JVM's pool thread, which calls out and wakes a collector's thread:
 * CALLS), and a hand-back's loop (HANDBACK: it reads its workers'
 * notifications; its requests from traced peers too). Not a server that
 * wakes background threads with a request open (redis: jemalloc's, bio's).
 * CALLS alone marks no pool member: such a thread takes the sampling
 * guesses as any other (the rules test pool_hidden & ~CALLS).
 */
enum krt_pool_hidden {
	KRT_POOL_HIDDEN_FEEDER = 1,
	KRT_POOL_HIDDEN_WORKER = 2,
	KRT_POOL_HIDDEN_CALLS = 4,
	KRT_POOL_HIDDEN_HANDBACK = 8,
};

/*
 * krt_thread_state .uncounted, sampling: time of the thread no rule reads,
 * so not counted (no clock read at its switches, no CPU record:
 * bpf/cpu.bpf.h). An unsampled request's (KRT_TRACE_SAMPLED_OUT) never is.
 */
enum krt_uncounted {
	/* its last trace was an unsampled or hidden request's, and it has none now */
	KRT_UNCOUNTED_IDLE = 1,
	/*
	 * its trace (while it holds it) is a hidden request it read at the
	 * door (an event loop's or pool feeder's, recorded for the engine's
	 * rules, never shown): its transfers are what the rules read, its
	 * time goes to no shown trace (bench_replay KRT_DROP_HIDDEN=cpupool)
	 */
	KRT_UNCOUNTED_HIDDEN = 2,
};

/*
 * krt_thread_state .calls_since_recv: the count (KRT_CALLS_COUNT), a call on
 * a connection that had sent before, and the receive was a reply to a call
 */
#define KRT_CALLS_COUNT 0x3f
#define KRT_CALLS_AFTER_REPLY 0x40
#define KRT_CALLS_REUSED 0x80
/* krt_thread_state .evloop: a loop for good, or during its loop trial only */
#define KRT_EVLOOP 1
#define KRT_EVLOOP_TRIAL 2

#define KRT_LOOP_TRIAL 64
#define KRT_LOOP_TRIAL_OVER 255

struct krt_thread_state {
	__u32 trace;	  /* current trace value, 0 = none */
	__u8 claim;	  /* enum krt_claim */
	__u8 shown_oncpu; /* user space saw it switch in: its switch-out is due */
	__u8 pooled;	  /* enum krt_pooled: a pool worker */
	__u8 tag_pending; /* its last receive's tag is not stored yet */
	__u8 runq_known;  /* runq_base holds the task's run_delay */
	/* bpf/goroutines.bpf.h: sent since its goroutine came; read its trace on a server side */
	__u8 sent;
	__u8 entry_server;
	__u8 go_thread;	      /* a Go process's thread: its trace follows goroutines */
	__u8 maybe_unsampled; /* sampling, enum krt_maybe_unsampled */
	__u8 job_serial;      /* a pool worker's jobs begun on a guess, counted */
	__u16 touched;	      /* krt_epoch when last looked up: idle states age out */
	__u64 entry_cookie;   /* socket whose receive set the trace; 0 = hand-off */
	/* on-CPU time gathered here (cpu_in_kernel), sent when the trace changes */
	__u64 oncpu_since; /* switch-in time while on CPU (KRT_ONCPU_UNCOUNTED: for an
			    * unsampled request, not counted), else 0 */
	__u64 acc_oncpu;   /* on-CPU ns not yet sent, all for .trace */
	__u64 acc_runq;	   /* run-queue delay ns not yet sent */
	/*
	 * Sampling: an event loop (it sent two calls after one receive, i.e.
	 * for several callbacks: its sends' tags are guesses the engine's
	 * loop rule corrects). Its unsampled requests are recorded as hidden
	 * ones (bpf/tagging.bpf.h, tag_receive). KRT_EVLOOP_TRIAL: taken for
	 * one during its loop trial on calls that were first sends only; it
	 * stays one if it showed reply_calls before the trial ends
	 * (tag_send, loop_hides).
	 */
	__u8 evloop;
	__u8 calls_since_recv; /* calls sent since its last receive (up to 2), and
				* KRT_CALLS_REUSED, KRT_CALLS_AFTER_REPLY */
	/*
	 * Sampling: it called on a connection used before right after reading
	 * a reply (node's next call of a request): its calls after one receive
	 * make it a loop for good, first sends or not (tag_send).
	 */
	__u8 reply_calls;
	__u8 door_reader; /* it read a request at the door (enum krt_door_reader) */
	/*
	 * Sampling, before evloop is known: a door reader that reads a new
	 * request while another is open hides its unsampled ones for the
	 * next KRT_LOOP_TRIAL requests (counted down), in case it is a loop
	 * (a request it missed would shift the loop rule's queue);
	 * KRT_LOOP_TRIAL_OVER: done, not shown to be one.
	 */
	__u8 loop_trial;
	__u8 pool_hidden; /* sampling: enum krt_pool_hidden */
	__u8 uncounted;	  /* sampling: enum krt_uncounted */
	__u8 exec_state;  /* enum krt_exec_state */
	/*
	 * The slot's first cache line ends here (the tid, then the fields
	 * above): what the transfer and wake-up hooks use on every hit, so
	 * that a receive or a waker's look at its target touches one line of
	 * the thread's slot. Below: a switch-out's run-queue base, the Go
	 * stash, time with no trace, what this kernel does not use.
	 */
	__u64 runq_base; /* sched_info.run_delay already counted */
	__u64 acc_idle;	 /* on-CPU ns with no trace, sent in larger batches */
	/*
	 * A Go thread: the leaving goroutine's time on its way into the CPU's
	 * batch (bpf/goroutines.bpf.h, go_set_trace); empty between hooks
	 */
	struct krt_cpu go_stash;
	/*
	 * The kernel's runtime count of the task (se.sum_exec_runtime) at its
	 * last switch-out, less its switch-in time once that is timed
	 * (exec_state): what a run took by the kernel's count, beside what the
	 * hooks saw of it (bpf/cpu.bpf.h, run_reconcile).
	 */
	__u64 exec_base;
	__u64 woken_at; /* last wake-up (kernels without sched_info) */
};

/*
 * With sampling, a process's sampled requests read and not answered yet
 * (bpf/sampling.bpf.h, open_sampled_op).
 */
#define KRT_OPEN_SAMPLED 4
struct krt_open_sampled {
	__u32 tgid;
	__u32 id[KRT_OPEN_SAMPLED];
	__u64 since[KRT_OPEN_SAMPLED];
};

/* What a connection side knows of its remote end (krt_conn_side .peer). */
enum krt_peer {
	KRT_PEER_UNKNOWN = 0, /* not looked up yet */
	KRT_PEER_TRACED = 1,  /* a traced container: its receivers read what we send */
	KRT_PEER_UNTRACED = 2,
};

struct krt_conn_side {
	/* server side: requests received, oldest first (pipelining) */
	struct krt_side_reqs reqs;
	__u32 last_recv_trace; /* trace of the last bytes received on this socket */
	__u32 connect_trace;   /* trace current when this side connected */
	__u8 client;	       /* this side connected (SYN_SENT seen) */
	__u8 origin_known;     /* client is reliable (not a pre-existing connection) */
	__u8 in_request;       /* received since this side last sent */
	__u8 sent_any;
	__u8 peer; /* enum krt_peer */
	__u8 pad;
	__u16 touched; /* krt_epoch when last looked up: idle states age out */
};

/*
 * A slot of the state tables starts with its claim word, changed by
 * compare-and-swap only (bpf/tables.bpf.h, slot_take): 0 = free. The
 * threads' and connections' words hold their owner's id (tid, socket
 * cookie), with KRT_SLOT_FILL_BIT set while the slot is being filled;
 * the directions' word is KRT_SLOT_FILLING, then KRT_SLOT_USED (the key
 * lives beside it).
 */
#define KRT_SLOT_FREE 0ULL
#define KRT_SLOT_FILL_BIT (1ULL << 63) /* tids stay below 2^22, cookies below 2^63 */
#define KRT_SLOT_FILLING 1ULL
#define KRT_SLOT_USED 2ULL

/*
 * Slots are cache-line aligned: neighbours (a pool's workers have
 * consecutive tids; a connection's two sides, cookies made one after the
 * other) are used from different CPUs, and a line they shared moved
 * between those CPUs on every hit.
 */
/*
 * A Go process's thread: its running goroutine (by tid): its runtime.g,
 * goid and trace origin; and where the hooks read which goroutine runs
 * (lazy, bpf/goroutines.bpf.h krt_go_sync), fixed for the thread's life:
 * its TLS slot of runtime.g, its g0 (the scheduler's g) and its m's curg
 * field. All zero for any other thread, and for a Go thread not seen yet.
 */
struct krt_go_running {
	__u64 g;
	__u32 goid; /* low 32 bits, as in the records (krt_xfer.goid) */
	/* its process's krt_go_proc.handoff_skips, when skips_known (krt_go_ready) */
	__u32 handoff_skips;
	__u64 tls_slot;
	__u64 g0;
	__u64 curg_slot;
	__u32 slots_tgid; /* the process the slots are of (a tid reused elsewhere) */
	__u8 origin;
	__u8 dialed; /* the goroutine may have a connection in go_dials */
	__u8 skips_known;
	__u8 pad;
};

/*
 * The goroutine part (go) is in the thread's slot, its third line: it was
 * a hash map of its own (go_running), looked up at every Go transfer (the
 * sync and the record's goid: twice), runtime.ready and gostartcallfn hit,
 * next to the thread's state in this table (thread_find, a few inlined
 * array accesses) that the same hooks look up anyway. go is not part of
 * st: what a hook clears or user space forgets of a thread's request
 * state (st) is not where its goroutine is read from.
 */
struct krt_thread_slot {
	__u64 tid;
	struct krt_thread_state st;
	struct krt_go_running go __attribute__((aligned(64)));
} __attribute__((aligned(64)));

struct krt_conn_slot {
	__u64 cookie;
	struct krt_conn_side c;
} __attribute__((aligned(64)));

struct krt_dir_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport, dport;
	__u32 family;
};

/* The sender's view of direction k (local = the sending end). */
static __inline__ __attribute__((always_inline)) void krt_dir_key_tuple(const struct krt_dir_key *k,
									struct krt_tuple *t)
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
	__u64 cookie; /* receiving socket */
	__u32 tid;    /* receiving thread */
	__u32 seq, len;
	__u32 pid;
	__u32 prev_trace;   /* the thread's trace at that receive */
	__u32 made_pending; /* that receive set the thread's tag_pending */
};

struct krt_tag_seg {
	__u32 seq, len, trace;
	__u32 from; /* the sending thread (a pooled connection's user) */
};

/*
 * A send to a traced peer, not emitted yet: the receive that reads it
 * carries it in its own record (one record per hop instead of two).
 * The state word changes by compare-and-swap only.
 */
enum krt_defer_state {
	KRT_DEFER_EMPTY = 0,
	KRT_DEFER_WAITING = 1, /* a send waits for its receiver */
	KRT_DEFER_BUSY = 2,    /* taken by the sender or the receiver, who copies it out */
};

/*
 * Everything known of one connection direction (sender -> receiver), in
 * one map value so that a transfer looks it up once. What a hop's sender
 * writes and its receiver then reads (the next segment, the waiting send's
 * state, the segment, the waiting send) fills as few cache lines as it
 * can: each of them moves from one CPU to the other on every hop.
 */
struct krt_dir_tags {
	/*
	 * First, in the slot's first cache line with its key: what every
	 * send writes and every receive reads besides the segments.
	 */
	__u32 next;
	__u32 sync;    /* target of the barrier's locked add */
	__u16 touched; /* krt_epoch when last looked up */
	__u16 pad;
	__u32 wait_state; /* enum krt_defer_state: wait_send's, by compare-and-swap */
	struct krt_tag_seg seg[KRT_TAG_SEGS];
	struct krt_untagged_recv untagged; /* .len 0: none (the untagged receive's) */
	__u8 pad_line[32];
	struct krt_xfer_peer wait_send; /* a send waiting for its receiver: the slot's last line */
};

/*
 * A slot of the directions' array: claim KRT_SLOT_FREE / _FILLING (key not
 * complete) / _USED. Cache-line aligned (the array's values start on a
 * page): sender and receiver hit it from two CPUs on every transfer, and a
 * slot straddling lines made each of them miss on more lines, its
 * neighbour's too.
 */
struct krt_dir_slot {
	__u64 claim;
	struct krt_dir_key key;
	struct krt_dir_tags dt;
} __attribute__((aligned(64)));

/* A traced peer's address (container IP): sends to it may wait for their receiver. */
struct krt_peer_key {
	__u8 addr[16];
	__u32 family;
};

/*
 * The hook profile (`make HOOK_PROFILE=1`, bench/hook_profile.sh): the
 * programs' run time by segment of their path, for what perf cannot see
 * (JITed programs). Each segment's time runs from the mark before to its
 * own (a clock read and a call: KRT_PROF_CALIB, an empty segment, is that
 * price). Not in the default build.
 */
enum krt_prof_slot {
	KRT_PROF_SEND_SOCK,   /* a TCP send: AF_UNIX test, the socket's fields */
	KRT_PROF_SEND_TAG,    /* tag_send: thread and connection state, rule 3 */
	KRT_PROF_SEND_DIR,    /* the direction's state (dir_get) */
	KRT_PROF_SEND_WAIT,   /* a send waiting for its receiver (send_wait) */
	KRT_PROF_SEND_STORE,  /* the tag stored (tag_store, late tag) */
	KRT_PROF_SEND_RECORD, /* a send's own record */
	KRT_PROF_RECV_SOCK,
	KRT_PROF_RECV_DIR,
	KRT_PROF_RECV_TAG,    /* tag_receive */
	KRT_PROF_RECV_RECORD, /* the waiting send taken, the record */
	KRT_PROF_NOTIFY_SEND, /* AF_UNIX bytes: a notification item */
	KRT_PROF_NOTIFY_RECV,
	KRT_PROF_SWITCH_STATE, /* a switch of a traced task: its threads' state */
	KRT_PROF_SWITCH_CPU,   /* switch_cpu_in_kernel (time, shown sides' item) */
	KRT_PROF_WAKE_OTHER,   /* a wake-up from another process or a Go thread */
	KRT_PROF_WAKE_ITEM,    /* a wake-up inside a process: hand-off, batch item */
	KRT_PROF_GO_SYNC,      /* a Go thread's transfer: its goroutine (krt_go_sync) */
	KRT_PROF_GO_SAME,      /* go_sync: the goroutine did not change (its lookup, R14) */
	KRT_PROF_GO_HINT,      /* go_sync: another goroutine, its state looked up */
	KRT_PROF_GO_PUT,       /* go_run: the thread's state, the leaving one's put away */
	KRT_PROF_GO_SWAP,      /* go_run: settle, trace (batch item), fields, counters */
	KRT_PROF_GO_SLOW,      /* go_sync: TLS read or first hook (go_procs) */
	KRT_PROF_READY_SYNC,   /* krt_go_ready: go_running, skips, sync */
	KRT_PROF_READY_STATE,  /* krt_go_ready: thread, the readied g's state */
	KRT_PROF_READY_REST,   /* krt_go_ready: settle, dial, the hand-off rule */
	KRT_PROF_CALIB,	       /* two marks back to back: a mark's own price */
	KRT_PROF_SLOTS
};
#define KRT_PROF_NAMES                                                                             \
	{                                                                                          \
		"send_sock", "send_tag", "send_dir", "send_wait", "send_store", "send_record",     \
		    "recv_sock", "recv_dir", "recv_tag", "recv_record", "notify_send",             \
		    "notify_recv", "switch_state", "switch_cpu", "wake_other", "wake_item",        \
		    "go_sync", "go_same", "go_hint", "go_put", "go_swap", "go_slow", "ready_sync", \
		    "ready_state", "ready_rest", "calib"                                           \
	}

/*
 * Hot counters, two 64-byte lines per CPU (summed by user space).
 * Records not emitted for unsampled requests, bumped on every unsampled hit,
 * are counted in three parts so that a plain increment (no locked add) is
 * exact: a program never runs nested in itself on a CPU, and each part is
 * written by programs that cannot interrupt one another: the transfer
 * hooks (sock_send and sock_recv, in process context with preemption off;
 * or sys_exit alone), the scheduler's (switch, waking: interrupts off).
 * The other writers (cpu_flush outside a switch, the socket state hook,
 * which runs in softirqs too) use a locked add.
 */
#define KRT_MAX_CPUS 256
struct krt_pcpu_counters {
	__u64 records;		/* ring records submitted */
	__u64 sampled_out_xfer; /* not emitted: transfers (plain, transfer hooks only) */
	__u64 hops_merged;	/* receives that carried their send */
	__u64 sends_flushed;	/* waiting sends emitted on their own */
	__u64 traces_started;	/* requests seen at the gateway door, sampled or not */
	/* Go (bpf/goroutines.bpf.h): bumped at goroutine changes the hooks find */
	__u64 go_synced;
	__u64 go_switches;
	__u64 go_handoffs;
	__u64 sampled_out_sched; /* not emitted: switches, wake-ups (plain, sched hooks only) */
	__u64 sampled_out;	 /* not emitted: the rest (locked add) */
	/* runs longer by the kernel's count than the hooks saw (plain in sched hooks) */
	__u64 runs_unseen;
} __attribute__((aligned(64)));

/*
 * Switch, wake-up and (at a switch) CPU records batched per CPU (bpf/events.bpf.h,
 * sched_item_add): the sched hooks run with interrupts off, so a CPU's
 * batch is theirs alone, except while a transfer hook adds a notify item
 * (busy: the others leave it alone); it goes into the ring as one record when full,
 * and the reader flushes every CPU's before it reads the ring (the
 * krt_sched_flush program, run on each CPU), so that no item waits past
 * the reorder window. On asgi and thrift these were 20 and 12 of 33 and
 * 27 ring records per request. A ring record, never an engine event: its
 * type is outside enum krt_event_type and the live source splits it into
 * the SWITCH, WAKEUP, CPU and NOTIFY events the kernel would have sent.
 */
#define KRT_REC_SCHED_BATCH 0x5b
/*
 * A power of two. 64 (16 before): the reader flushes every 50 ms, by which
 * time a loaded CPU's batch has filled many times over, so a full batch's
 * ring record (reserve, copy, commit) came every 16 items; at 64, batch
 * records per request went from 1.54 to 0.39 on asgi, 0.99 to 0.24 on
 * thrift, 0.58 to 0.15 on java (bench/cost_models.sh).
 */
#define KRT_SCHED_BATCH_ITEMS 64

struct krt_sched_item {
	__u64 ts_ns;
	__u32 type;	  /* KRT_EV_SWITCH, KRT_EV_WAKEUP or KRT_EV_CPU */
	__s32 prev_state; /* a switch's (krt_switch.prev_state) */
	/*
	 * A switch's sides (tid 0: not shown); a wake-up's waker (prev) and
	 * target (next); a CPU item's thread (prev) and trace (next_tid:
	 * krt_cpu.trace_id).
	 */
	__u32 prev_tid, prev_pid;
	__u32 next_tid, next_pid;
	char prev_comm[KRT_COMM_LEN];
	union {
		char next_comm[KRT_COMM_LEN]; /* a switch's next side */
		struct {
			__u64 oncpu_ns, runq_ns;
		} cpu; /* a CPU item's (krt_cpu) */
		/*
		 * A notify item's (krt_notify; its thread in prev, its
		 * direction in prev_state, fd in next_tid, the bytes asked
		 * for in next_pid, at most 2^32 - 1)
		 */
		struct {
			__u64 chan, bytes;
		} notify;
	};
};

/* The ring record: its head is krt_event's (ts_ns: the last item's). */
struct krt_sched_batch {
	__u64 ts_ns;
	__u32 type; /* KRT_REC_SCHED_BATCH */
	__u32 cpu;
	__u32 n;     /* items */
	__u32 flush; /* the reader's flush: sent even with no item (it counts them) */
	/*
	 * A transfer hook adds an item (it can be preempted or interrupted
	 * meanwhile): KRT_BATCH_BUSY, then the item's time; 0 when nobody does.
	 */
	__u64 busy;
	/*
	 * A reader's flush that found the batch busy sends no item: the oldest
	 * it left there (0: none older than the flush).
	 */
	__u64 held;
	struct krt_sched_item items[KRT_SCHED_BATCH_ITEMS];
};
#define KRT_BATCH_BUSY 1
_Static_assert(sizeof(struct krt_sched_item) == 64, "krt_sched_item: ABI");
_Static_assert(KRT_REC_SCHED_BATCH >= KRT_EV_TYPE_MAX, "no engine event type");

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

/*
 * User space reads these through mmapped maps and the skeleton's .bss:
 * a size change is an ABI change for both sides.
 */
_Static_assert(sizeof(struct krt_thread_state) == 112, "krt_thread_state: ABI");
_Static_assert(sizeof(struct krt_thread_slot) == 192, "krt_thread_slot: ABI");
_Static_assert(__builtin_offsetof(struct krt_thread_slot, go) == 128,
	       "krt_thread_slot: a Go thread's goroutine in its third line");
_Static_assert(__builtin_offsetof(struct krt_thread_slot, st.runq_base) == 64,
	       "krt_thread_slot: the hooks' fields in its first line");
_Static_assert(sizeof(struct krt_conn_slot) == 192, "krt_conn_slot: ABI");
_Static_assert(sizeof(struct krt_dir_slot) == 448, "krt_dir_slot: ABI");
_Static_assert(sizeof(struct krt_conn_side) == 152, "krt_conn_side: ABI");
_Static_assert(sizeof(struct krt_dir_key) == 40, "krt_dir_key: ABI");
_Static_assert(
    __builtin_offsetof(struct krt_dir_slot, dt.wait_state) < 64 &&
	__builtin_offsetof(struct krt_dir_slot, dt.wait_send) == sizeof(struct krt_dir_slot) - 64 &&
	sizeof(struct krt_xfer_peer) == 64,
    "krt_dir_slot: the waiting send's state in the key's line, the send in a line of its own");
_Static_assert(sizeof(struct krt_pcpu_counters) == 128, "two cache lines per CPU");
_Static_assert(KRT_TAG_SEGS >= KRT_SIDE_REQS,
	       "a side queues as many pipelined requests as a receive finds tags of");

#endif
