/*
 * Private to the attribution engine (src/engine*.c): the state its parts
 * share. Nothing outside the engine includes this; the API is src/engine.h.
 * "Rule 1" .. "rule 6" (3a, 3b) in the engine's comments are the sections
 * of docs/design.md.
 */
#ifndef KRT_ENGINE_INTERNAL_H
#define KRT_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"
#include "addr.h"
#include "krtrace_rules.h"

/* TCP states as in include/net/tcp_states.h. */
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_LAST_ACK 9
#define TCP_LISTEN 10

/* Per-direction cap on queued send segments (bounded memory). */
#define MAX_SEGMENTS 1024
/*
 * A segment nobody received for this long (event time) never will be: the
 * receiver is untraced (a database outside the containers).
 */
#define SEGMENT_MAX_AGE_NS (10ULL * 1000000000ULL)
/* Receives waiting for their send ("pending receive"), per direction. */
#define MAX_PENDING 8
/* How long (event time) a pending receive waits for its send. */
#define PENDING_NS 100000000ULL
/* Requests remembered per connection side for pipelined replies (rule 3a). */
/*
 * Received traces a thread may still hand to a worker (rule 6): a pool's
 * queue can be as deep as its clients outnumber its workers (m2 of
 * docs/handoffs.md at 16 connections: 12 waiting); beyond this the oldest
 * falls off, and every later take is the wrong one until replies settle it.
 */
#define HANDOFF_MAX 64
/* Containers whose tasks were seen moving between threads (import, Go). */
#define TASKS_MOVE_MAX 16
/* Containers whose last request reader is remembered (pool warm-up). */
#define MAX_READERS 64
/* Recent wakeup hand-offs remembered per feeder thread. */
#define HANDED_MAX 4
/*
 * A pool worker dequeues in a few microseconds on CPU: one that blocks
 * sooner after taking a job did not get it (queue empty, or its lock
 * taken); one that ran longer is at work on it.
 */
#define DEQUEUE_MAX_NS 30000ULL
/* Finished jobs a loop thread was notified of and has not answered yet. */
#define DONE_MAX 16
/* hand-backs in a row taking answered requests' work: out of step */
#define HANDBACK_SHIFTS 2
/* Local notification channels (AF_UNIX socketpairs) followed at once. */
#define NOTIFY_CHANS 32
/* Notifications sent and not read yet, per channel. */
#define NOTIFY_QUEUE 16
/* a worker's wake-up of its reader this close before its send's end is the send's */
#define NOTIFY_WAKE_NS 50000ULL
/* a loop's last hand-backs kept for a later doubt, and replies owed a job */
#define HANDBACK_RECENT 16
/* replies of one doubt on the hand-back's order settled together */
#define HANDBACK_GROUP 16
/* Recent (trace, entry direction) pairs remembered per thread (rule 5). */
#define RECENT_ENTRIES 4
/*
 * A send whose syscall began this long after a pending receive completed
 * cannot have carried its bytes: the receive's own send was lost.
 */
#define PENDING_CAUSAL_SLACK_NS 200000ULL
/* Send segments this long older than a receive's syscall were available to it. */
#define AVAIL_SLACK_NS 200000ULL
/*
 * A misalignment no reported loss explains starts an implicit loss (every
 * connection re-aligns), at most once per this much event time.
 */
#define SILENT_LOSS_GAP_NS 100000000ULL
/* Housekeeping (emission of completed traces) runs this often at most, in event time. */
#define MAINT_INTERVAL_NS (50ULL * 1000 * 1000)
/* A trace still held by a thread is force-emitted after this much idleness. */
#define HELD_TRACE_MAX_IDLE_NS (60ULL * 1000000000ULL)
/* connect()s whose local port is not known yet, remembered at most. */
#define MAX_CONNECTS 64
#define CONNECT_MAX_NS (5ULL * 1000000000ULL)
/*
 * Kernel trace ids are remembered in a direct-mapped array indexed by the
 * id: the kernel hands ids out in sequence, so an id stays until 2^18 later
 * requests (about a minute at 5000 requests/s) for a straggler to be
 * counted late, and the ids in use sit next to each other (a hash table of
 * a minute's ids missed the cache on every lookup). 4 MiB at most.
 */
#define KMAP_SLOTS (1u << 18)
/*
 * Live Go: each goroutine's last trace (engine_goroutine.c), direct-mapped
 * by (process, goid). A process has a few hundred goroutines at work at a
 * time here (one per request and connection); goids are handed out in
 * sequence, so the ones at work sit in distinct slots. 64 KiB.
 */
#define GO_SLOTS (1u << 12)
struct go_slot {
	__u32 pid, goid;
	__u64 trace;
	__u64 ts; /* the transfer that gave it */
};
/*
 * Connection directions idle this long are pruned (with linger only); a
 * connection one of whose ends closed, sooner: nothing more is sent on it
 * once both directions are quiet, and one new connection per request
 * (700 a second) kept 30 s of them, about 60 MiB (bench/soak.sh with
 * KRT_SOAK_PER_CONN=1). Both at least a few lingers (traces still open).
 */
#define DIR_IDLE_NS (30ULL * 1000000000ULL)
#define DIR_CLOSED_IDLE_NS (5ULL * 1000000000ULL)

/* ---------------------------------------------------------------------- */
/* Open-addressing hash table of object pointers.                          */

struct slot {
	__u64 hash;
	void *obj;
};

struct table {
	struct slot *slots;
	size_t cap;   /* power of two */
	size_t used;  /* live objects */
	size_t tombs; /* deleted slots */
};

/* Marks a deleted slot: probing continues past it. */
extern char eng_tombstone_mark;
#define TOMBSTONE ((void *)&eng_tombstone_mark)

typedef bool (*table_eq_fn)(const void *obj, const void *key);
#define table_for_each(tab, i, o)                                                                  \
	for ((i) = 0; (i) < (tab)->cap; (i)++)                                                     \
		if (((o) = (tab)->slots[(i)].obj) != NULL && (o) != TOMBSTONE)

static inline __u64 mix64(__u64 x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static inline __u64 u64max(__u64 a, __u64 b)
{
	return a > b ? a : b;
}

static inline __u64 u64min(__u64 a, __u64 b)
{
	return a < b ? a : b;
}

/* ---------------------------------------------------------------------- */
/* State                                                                   */

struct recent_entry {
	__u64 trace;
	__u64 dir_serial; /* the direction whose receive made trace current */
};

/*
 * A thread's owed list holds every live request an event loop read and
 * has not acted on, plus, after a sampling pause, the hidden traces of the
 * requests it read while the hooks were off (engine_unseen.c): at 16
 * connections Node.js owes 16 requests and those, more than 16 entries.
 * An overflow (owed_lost) holds until the loop owes nothing, which a
 * queue that never empties never does: every loop-rule pick refused and
 * the whole window `loop` uncertain. So twice the other lists' size.
 */
#define OWED_MAX 32
/* The loop rule's other lists: tick, fresh, started (engine_loop.c). */
#define LOOP_LIST_MAX 16

#define TOUCHED_MAX 8

struct thread {
	__u32 tid;
	__u32 pid; /* tgid; 0 = unknown */
	char comm[KRT_COMM_LEN];
	const char *container; /* interned; "" when unknown */
	bool traced;
	bool oncpu;
	bool replied;	 /* rule 5: sent on the entry connection of cur */
	bool wake_claim; /* cur came from a wakeup (rule 6) */
	/*
	 * cur is a guess of the pool rules (a wake-up or a queue take) that
	 * no bytes and no reply confirmed yet: what it sends is "uncertain".
	 */
	bool guess;
	__u64 oncpu_since;
	__u64 cur;	       /* current trace id; 0 = none */
	__u64 recv_count;      /* receives so far (pending receive completion) */
	__u64 last_sent_trace; /* tag of its last send with one */
	__u64 last_sent_ns;    /* when it sent last */
	__u64 last_xfer_ns;    /* its last transfer (send or receive) */
	struct recent_entry recent[RECENT_ENTRIES];
	unsigned int recent_next;
	/*
	 * Traces this thread received and has neither answered nor handed to
	 * another thread yet, oldest first: a thread-pool front end reads
	 * requests A then B, then wakes one worker per request (rule 6).
	 */
	__u64 handoff[HANDOFF_MAX];
	__u8 n_handoff;
	/*
	 * Traces whose bytes this thread received and that it has sent
	 * nothing of since (an event loop that read requests B and C while A
	 * waits): its next send may be any of them, whatever cur says. Oldest
	 * overwritten when full (owed_lost: then no send is sure until the
	 * thread owes nothing).
	 */
	__u64 owed[OWED_MAX];
	__u8 n_owed;
	bool owed_lost;
	/*
	 * What decides which owed trace an event loop's send is for (the
	 * loop rule, docs/handoffs.md): the traces of its last receive that
	 * have not acted since (sent or answered), in byte order, and the
	 * requests it read that have sent nothing downstream yet, in the
	 * order read. tick_unknown: the last receive held bytes of no known
	 * trace (an untraced peer, or a send not seen yet).
	 */
	__u64 tick[LOOP_LIST_MAX];
	__u8 n_tick;
	bool tick_unknown;
	__u64 tick_serial; /* the direction its last receive read */
	__u64 fresh[LOOP_LIST_MAX];
	__u8 n_fresh;
	bool fresh_lost;
	/*
	 * An event loop after a sampling pause (engine_unseen.c, "unseen
	 * requests"): it may still serve requests it read while the hooks were
	 * off, whose calls and replies the loop rule would charge to the
	 * requests it read since. loop_after_pause: a pause came (set by
	 * eng_thread_restart, kept to the next: these checks and the kernel's
	 * "no trace" not believed, eng_loop_kernel_zero_off). loop_doubt:
	 * evidence of such a request was seen
	 * (a reply to a call no seen send made, or a reply to the gateway on a
	 * connection with no request read), and the loop's replies have not
	 * been seen in step since: its picks are marked uncertain.
	 * loop_in_step counts its replies to the gateway in step with its last
	 * receive since the last evidence.
	 */
	bool loop_after_pause;
	bool loop_doubt;
	__u8 loop_in_step;
	/*
	 * After a pause: the requests the loop rule took out of fresh since
	 * (a send counted as their first), in that order; a reply out of
	 * step with the loop's last receive tells how many of the last ones
	 * were another request's (eng_loop_replied: they go back to fresh).
	 */
	__u64 started[LOOP_LIST_MAX];
	__u8 n_started;
	/*
	 * The kernel's trace of this thread is not the engine's: it received
	 * bytes the engine's rules gave another trace than the kernel's tag
	 * (struct segment's over_kernel), so its kernel tags are ignored until
	 * it receives bytes both agree on.
	 */
	bool kernel_off;
	/*
	 * Kept on a process's leader (tid == pid): the thread that does its
	 * socket transfers, and whether more than one does. The loop rule
	 * decides only for a process whose one thread does them all (Node.js,
	 * a C epoll loop); in a Go program or a thread pool other threads
	 * send for the requests a thread read.
	 */
	__u32 proc_io_tid;
	bool proc_io_multi;
	/*
	 * Kept across a sampling pause (structure, not request state): more
	 * than one of its threads did socket I/O before it. After the pause a
	 * pool's process looks like a loop until a second thread transfers:
	 * the unseen-request checks (engine_unseen.c) are for loops only.
	 */
	bool proc_io_multi_ever;
	/*
	 * Its transfers name a goroutine (a Go program followed by uprobes):
	 * the kernel swaps the thread's trace with the goroutine it runs, so
	 * what it owes as a thread says nothing of a send's trace.
	 */
	bool runs_goroutines;
	/*
	 * Import, a goroutine (engine_go.c): the trace it read as a request
	 * on a server connection (it owns it while it holds it), whether it
	 * was handed its trace (enum go_origin), and sent since.
	 */
	__u64 go_own_trace;
	__u8 go_origin;
	bool go_sent;
	__u32 go_thread;     /* a goroutine's unit: the thread it runs on (0: not one) */
	__u32 feeder;	     /* thread that hands this one its requests (pool) */
	bool claim_active;   /* sent or received since a wakeup handed cur */
	bool answers_feeder; /* has answered a client of its feeder */
	bool feeds;	     /* another thread answered a request it read */
	/*
	 * Woken by its feeder (or a sibling worker): the job is taken when the
	 * worker runs (take_on_run); cur came from such a take, or from the
	 * queue right after a reply, and goes back to the queue's head if the
	 * worker blocks before using it (took_job).
	 */
	bool take_on_run;
	bool took_job;
	__u64 took_cpu_ns;	 /* on CPU since it took the job */
	__u64 job_trace, job_ts; /* the job it last took from the queue, and when */
	__u32 sampled_job;	 /* --sample: the kernel's serial of its provisional job */
	/* Recent wakeup hand-offs by this thread (a woken worker may idle). */
	struct {
		__u32 tid;
		__u64 trace;
	} handed[HANDED_MAX];
	__u8 handed_next;
	struct krt_addr ip_checked; /* last local IP tried for the container */
	/*
	 * The hand-back (docs/handoffs.md): a worker's last notification to
	 * its loop (the end of its last job), and a loop's finished jobs it
	 * was notified of and has not answered yet, oldest first.
	 */
	__u64 notified_ns;
	struct handback {
		__u32 tid;	    /* the worker */
		__u64 since, until; /* its previous notification, this one */
		bool in_batch;	    /* read at once with others: their order unknown */
		/*
		 * Another worker's notification went out while this one's
		 * sender was off the CPU before it sent: which job its runtime
		 * queued first is not known.
		 */
		bool order_doubt;
		/*
		 * Its worker's first preemption since its last transfer (0:
		 * none), and, when its last switch-out before the send was a
		 * preemption after it woke a thread of its process, that
		 * wake-up: its job was queued before it (queued_by, 0: not
		 * known). engine_pool.c queued_before.
		 */
		__u64 pre_ns, queued_by;
		__u64 first; /* its worker's first transfer since `since` */
		/*
		 * When its job was dispatched: its reader's first wake-up of
		 * the worker after its previous notification (lo == hi), else
		 * between that notification and its first transfer.
		 */
		__u64 disp_lo, disp_hi;
	} done[DONE_MAX];
	__u8 n_done;
	__u64 handback_trace; /* the last trace a hand-back went to */
	/*
	 * A reader of a channel that reads several notifications at once
	 * (reads_batched): the jobs it bound to its last replies (a later
	 * notification may show their order was not known), and its replies
	 * that came before their job's notification was sent (reply_owed: the
	 * next notification is theirs, on a guess; also a one-by-one reader's
	 * reply to bytes it read before their send was seen).
	 */
	bool reads_batched;
	/* a reply found no job: jobs and replies may be out of step */
	bool handback_doubt;
	/*
	 * A loop after a sampling pause: jobs of requests read before it
	 * (their replies not known as such) may be pending among the known
	 * ones, each putting every later reply one job behind. Its hand-backs
	 * are guesses until a reply finds no job left behind the ones replies
	 * took (eng_pool_handback), the count of jobs and replies in step.
	 */
	bool handback_unsettled;
	/* consecutive hand-backs that took answered requests' work (engine_pool.c) */
	__u8 handback_shifts;
	struct {
		__u64 trace;
		struct handback job;
	} answered[HANDBACK_RECENT];
	__u8 answered_next;
	/*
	 * The replies whose jobs' order is in doubt, with the job each was
	 * given: once none is pending, the dispatch order may settle them
	 * (engine_pool.c resolve_group). group_bad: it cannot.
	 */
	struct {
		__u64 trace;
		struct handback job;
	} group[HANDBACK_GROUP];
	__u8 n_group;
	bool group_bad;
	__u64 reply_owed[HANDBACK_RECENT];
	__u8 n_reply_owed;
	/*
	 * Before its first job is delivered (handback_known), a loop's
	 * replies that took no job, not known to be hand-backs: a batched
	 * reader's may have been owed that job (engine_pool.c unpaid_owe).
	 */
	struct {
		__u64 trace, ts;
	} unpaid[HANDBACK_RECENT];
	__u8 n_unpaid;
	bool handback_known;
	__u64 owed_ahead_ns; /* its last reply owed a job read ahead of its send */
	/*
	 * When it was first preempted (left the CPU runnable) since its last
	 * transfer or notification: a job it queued before then may be
	 * notified after other workers' (0: not preempted since).
	 */
	__u64 preempted_ns;
	/*
	 * Its last wake-up of a thread of its own process, and, when its last
	 * switch-out was a preemption after such a wake-up since its last
	 * transfer, that wake-up (0: none, or it blocked since): under an
	 * interpreter lock, a worker that queued its job and was preempted
	 * queued it before anything its lock's next holder queued.
	 */
	__u64 woke_ns, queued_by_ns;
	/*
	 * A worker notifying a reader: that reader, its first wake-up of the
	 * worker since the worker's last notification (a dispatch, when the
	 * pool wakes the one worker it queued the job for), and the worker's
	 * first transfer since then.
	 */
	__u32 notify_reader;
	__u64 job_wake_ns, job_first_ns;
	/*
	 * Its loop answered its last job before that job's notification was
	 * sent (a reply owed it): the loop took its result early (asyncio:
	 * the loop, awake, runs the callback without waiting for the byte) and
	 * may have dispatched the next job to it before the send, with no
	 * wake-up. The next job's dispatch is then known only to come after
	 * its last transfer before that notification (floor_cand_ns; 0: not
	 * so).
	 */
	__u64 disp_floor_ns, floor_cand_ns;
	__u64 job_remote_ns; /* a wake-up of unknown origin before job_wake_ns */
	/*
	 * When it last woke that reader: a send on the channel wakes a reader
	 * asleep on it as its bytes arrive, before the send ends.
	 */
	__u64 woke_reader_ns;
	/*
	 * The traces this thread last had activity in, so that a hand-back
	 * visits those instead of every open trace (thousands with the
	 * linger: a walk of them cost the reader 140 us per thrift request).
	 * touched_lost is the latest activity an evicted entry had: a job
	 * that began before it may have work in a trace no longer listed.
	 */
	struct touched_trace {
		__u64 id, last_ns;
	} touched[TOUCHED_MAX];
	__u64 touched_lost;
	unsigned int touched_last; /* the entry touched last: most touches repeat it */
	/*
	 * No trace above this is listed in handoff (the largest id ever put
	 * there): a new request's id is, and its push skips the search of a
	 * list a Go listener keeps full (5 % of a go-fanout replay).
	 */
	__u64 handoff_max;
};

struct segment {
	__u64 off, len;
	__u64 used; /* bytes consumed from the start */
	__u64 trace;
	__u64 send_ns;
	__u32 from_tid;
	__u32 from_goid;   /* the sender's goroutine (Go, live), 0 = unknown */
	__u32 from_thread; /* import, a goroutine: the thread it sent on */
	__u32 hop;	   /* index of the send's hop in the trace; ~0 = none */
	__u32 uncertain;   /* enum krt_uncertain of the send */
	/*
	 * The engine's trace differs from the kernel's tag of the send (the
	 * loop rule decided): the receiver takes the engine's, not the tag.
	 */
	bool over_kernel;
	/*
	 * A server's reply sent while bytes it read since its last reply had
	 * no send seen (engine_conn.c on_send): the request it answers may be
	 * one the queue did not hold yet, its tag the request answered before.
	 * An event loop reading it cannot tell which of its requests the
	 * callback is for (its receive's tick is not known).
	 */
	bool answers_unseen;
	/*
	 * A server's reply sent with more requests of its side queued after
	 * the one it answers: it may answer them too (redis writes the replies
	 * of pipelined commands read together in one send). Their order is
	 * the order of the callbacks the client runs for it.
	 */
	__u64 also[KRT_SIDE_REQS - 1];
	__u8 n_also;
};

struct pending_recv {
	__u64 off, len;
	__u64 recv_ns;
	__u64 recv_count; /* receiver's recv_count right after this receive */
	__u32 to_tid;
	__u32 to_goid;	  /* the receiver's goroutine (Go, live), 0 = unknown */
	__u64 loss_epoch; /* the engine's loss epoch when it was received */
	/*
	 * --debug check-tags: the receive came before its send (no rule could
	 * decide yet): the kernel's id for these bytes (check_kid), checked
	 * against the rules' trace (check_rule: the last traced send that
	 * covers them) once their last byte is matched, or when dropped.
	 */
	bool check;
	__u32 check_kid;
	__u64 check_rule;
};

enum side_role { ROLE_UNKNOWN = 0, ROLE_SERVER, ROLE_CLIENT };

struct dir {
	struct krt_addr src, dst;
	__u64 hash;
	__u64 serial;	/* unique, never reused (rule 5 entry lists) */
	bool pipelined; /* server side: it had several requests queued at once */
	/*
	 * Server side: more requests were queued than side_reqs keeps; the
	 * replies answer requests it forgot until the queue drains.
	 */
	bool side_overflow;
	/*
	 * Server side: what it read since its last reply came from sends seen
	 * with no trace (an untraced request on a pooled connection): its next
	 * replies answer that request, not the one answered before.
	 */
	bool side_untraced;
	/*
	 * Server side: a request was queued from bytes whose trace the rules
	 * chose over the kernel's tag; the kernel's queue holds its tag, so
	 * the engine's rule 3a answers replies here, not the kernel's.
	 */
	bool side_engine;
	/*
	 * Client's direction: a request's next request on it followed the
	 * reply to its last (redis: SET, then GET): a send after a reply on
	 * it may be the replied request's, whatever waits for a connection.
	 */
	bool trace_repeats;
	bool replied_since_send; /* the reverse direction received since its last send */
	__u64 last_req_trace;	 /* the tag of its last send */
	struct dir *rev;
	__u64 send_next; /* end of the last send (offset space) */
	__u64 recv_next; /* end of the last receive */
	__u64 seq_ref;	 /* live: last unwrapped sequence number */
	bool seq_init;
	struct segment *q; /* ring of queued send segments */
	__u32 q_head, q_len, q_cap;
	struct pending_recv pend[MAX_PENDING];
	__u32 n_pend;
	__u64 last_ns;
	__u64 sends; /* sends seen on this direction */
	/*
	 * The engine's loss epoch this direction's offsets are aligned to: a
	 * direction older than the last KRT_EV_LOST re-aligns at its next
	 * receive (its offsets are running counts without sequence numbers).
	 */
	__u64 loss_epoch;
	/* State of the socket whose local end is src. */
	__u32 side_last_tid;	    /* last traced thread that used src */
	__u64 side_last_recv_trace; /* trace of the last bytes it received */
	bool side_received;
	/*
	 * Requests received on this side and not yet answered, oldest first
	 * (pipelining: one read may carry several requests; replies go out in
	 * request order). side_reqs.answered: bytes went out for the oldest.
	 */
	struct krt_side_reqs side_reqs; /* include/krtrace_rules.h, as in the kernel */
	__u64 side_reply_epoch;		/* engine loss epoch at its last reply (rule 3a) */
	__u64 side_reply_ns;		/* time of its last reply send (rule 3a) */
	__u64 side_recv_ns;		/* time of its last receive */
	__u8 side_batch_base;		/* side_reqs.n before that receive */
	bool side_ingress;		/* container end of a gateway connection */
	__u32 side_ingress_tid;		/* thread that read the request on it */
	__u64 side_ingress_ns;		/* last receive from the gateway */
	size_t side_ingress_hops;	/* hops of that request right after it */
	__u32 side_ingress_gen;		/* its trace's hops_gen then */
	bool side_in_request;		/* received from gateway, not replied yet */
	bool side_connect_pending;	/* rule 3b: first send not done yet */
	bool side_closed;		/* src's socket closed, or began to (FIN sent) */
	__u64 side_unseen;		/* a loop's reply to a request read unseen: its trace */
	__u32 side_wait_tid;		/* import: thread whose receive on it found nothing */
	__u8 side_role;
	__u32 side_connect_tid;
	__u64 side_connect_trace;
};

struct trace {
	struct krt_trace pub;
	size_t cap_threads, cap_hops, cap_slices;
	__u32 holders;	      /* threads whose current trace this is */
	__u32 kernel_id;      /* kernel tag mapped to this trace; 0 none */
	__u64 last_ns;	      /* last activity (event time) */
	__u64 created_ns;     /* engine time at creation: open[] is in this order */
	bool answered;	      /* a reply went out on its ingress connection */
	bool ingress_acted;   /* the thread that read it sent for it itself */
	__u32 ingress_thread; /* import, a goroutine read it: on this thread */
	__u32 n_uncertain;    /* hops marked uncertain and not settled */
	/*
	 * A hand-back bound a worker's job to it while its loop had several
	 * finished jobs to answer: the order of the replies decided (FIFO).
	 */
	bool handback_guess;
	/* its job was given by an order in doubt (engine_pool.c resolve_group) */
	bool order_guess;
	/*
	 * Its loop's reply took a hand-back job, or is owed one: one request,
	 * one job. A later send on it (a body written after other replies, a
	 * retransmission an import took for a send) takes none.
	 */
	bool handback_taken;
	__u64 handback_ns; /* when that reply went out */
	/*
	 * After a pause: the worker whose job its reply took, and when that
	 * job was handed back (eng_trace_emit: that worker's transfers in it
	 * after then are another job's).
	 */
	__u32 job_tid;
	__u64 job_until;
	/*
	 * Offered to a pool: the thread that read it woke a sibling while it
	 * held the request unanswered and had not worked on it itself
	 * (handoff_from), or a worker took it from that thread's queue on a
	 * guess. Its work may sit in another trace until a thread other than
	 * handoff_from answers it (handed_settled). 0: never offered, or the
	 * reader went on to work on it itself (the wake-up was for a lock).
	 */
	__u32 handoff_from;
	bool handed_settled;
	/*
	 * The threads it was offered to (woken while it was queued) or taken
	 * by, from offer_ns on; offer_many: more than fit. If none of them
	 * made a transfer since, the offer was not taken (a lock's or a
	 * background thread's wake-up) and its reader answering it settles it.
	 */
	__u32 offer_tids[2];
	__u8 n_offer;
	bool offer_many;
	__u64 offer_ns;
	/*
	 * --sample: a pool worker's job begun on a guess that may be an
	 * unsampled request's (eng_pool_sampled_job). Never emitted: a reply
	 * of the worker moves its work to the request it names.
	 */
	bool provisional;
	/*
	 * Hops moved out (dead, eng_hop_dead) and not compacted yet, and the
	 * generation of its last compaction (eng_trace_compact; 0: never):
	 * an index stored before it is found again by its send.
	 */
	size_t n_dead;
	__u32 hops_gen;
	/*
	 * --sample: an unsampled request an event loop read (KRT_XF_SAMPLED_OUT),
	 * recorded so that the loop rule sees every request; never emitted.
	 */
	bool hidden;
	/*
	 * A hidden trace standing for a request an event loop read while the
	 * hooks were off (engine_unseen.c, eng_loop_unseen_recv): the work the
	 * loop does for it after a pause goes here, not to a request it read
	 * since.
	 */
	bool loop_unseen;
	/*
	 * An event loop's request that a re-sync after a pause put back among
	 * those not started (engine_unseen.c, loop_resync): the calls in flight
	 * under it are another request's, and a send the loop rule names as
	 * the callback of a reply to one does not take it out again (another
	 * send under it does: its start). loop_stale: named by the
	 * loop rule before a re-sync: the calls in flight under it may be
	 * another request's, so its replies tell nothing of the loop's step.
	 */
	bool loop_refresh;
	bool loop_stale;
	/*
	 * After a pause: calls an event loop sent under this trace whose
	 * reply bytes it has not received under it yet (eng_loop_replied: a
	 * server that answered two pipelined calls in one send named only one
	 * of them, the other's reply came under that one's trace).
	 */
	__u16 loop_calls;
};

/*
 * A local notification channel (KRT_EV_NOTIFY): bytes sent and read so
 * far, and the sends not read yet, each with its worker's job.
 */
struct notify_chan {
	__u64 key; /* 0: free */
	__u64 sent, rcvd;
	__u64 last_ns;
	__u32 reader; /* the thread that reads it */
	/*
	 * A receive read several notifications at once: the reader's runtime
	 * queued their jobs before writing the bytes (asyncio's
	 * call_soon_threadsafe), so the bytes' order need not be the order
	 * it answers in.
	 */
	bool batched;
	/* a receive asked for exactly what it got: read one at a time (thrift) */
	bool one_by_one;
	/*
	 * A receive read bytes whose send was not recorded yet (its hook ran
	 * late: the sender was preempted by the reader it woke): which send it
	 * read is not known, nor for the send that overtook it. The next
	 * deliveries are guesses.
	 */
	__u8 disorder;
	/* when the last send's bytes arrived (engine_pool.c notify_arrival_order) */
	__u64 last_arrived_ns;
	__u64 last_rcv_ns; /* its last receive */
	struct {
		__u64 end; /* sent count after this send */
		__u64 len; /* its bytes */
		struct handback job;
	} q[NOTIFY_QUEUE];
	__u8 n;
};

struct kmap_entry {
	__u64 trace_id;
	__u32 kernel_id; /* 0: the slot is empty */
};

struct pending_connect {
	__u64 sock_id;
	struct krt_addr local_ip; /* port unknown yet */
	struct krt_addr remote;
	__u32 tid;
	__u64 trace;
	__u64 ts;
	bool live;
};

struct listed_slot {
	__u32 pid;
	__u32 idx; /* index in cfg->pids->v */
};

#define ENG_THREAD_CACHE 256
#define ENG_TRACE_CACHE 1024

struct krt_engine {
	struct krt_engine_config cfg;
	struct krt_summary sum;
	struct table threads, dirs, traces;
	/*
	 * The thread, trace and direction last found: an event looks its
	 * thread, its trace and its connection up several times over, and
	 * each table lookup was a cache miss or two (a fifth of the engine's
	 * CPU on thrift). Cleared when what they point to is freed.
	 */
	struct dir *dir_hit;
	/*
	 * Threads and traces found lately, direct-mapped by tid and by id: an
	 * event looks up two or three threads and traces, and a one-entry
	 * cache missed on most (events of several threads interleave). A
	 * slot is cleared when what it points to is freed.
	 */
	struct thread *thread_cache[ENG_THREAD_CACHE];
	struct trace *trace_cache[ENG_TRACE_CACHE];
	struct kmap_entry *kmap;  /* KMAP_SLOTS, allocated on first use */
	struct go_slot *go_slots; /* GO_SLOTS, allocated on first use */
	struct trace **open;	  /* open traces in id order */
	size_t n_open, cap_open;
	__u32 hops_gen; /* the last compaction's generation (eng_trace_compact) */
	__u64 next_trace_id;
	__u64 next_provisional_id; /* provisional traces: ids from KRT_PROVISIONAL_ID */
	__u64 max_emitted_id;
	__u64 next_dir_serial;
	__u64 loss_epoch; /* KRT_EV_LOST events seen */
	__u64 loss_ns;	  /* time of the last one */
	/* per loss cause (enum krt_lost_reason): time of the last, 0 = none yet */
	__u64 loss_at[KRT_INCOMPLETE_CAUSES];
	__u64 now;
	__u64 events_since_maint;
	__u64 next_maint_ns; /* event time of the next housekeeping (linger) */
	__u64 last_dir_prune_ns;
	char **names; /* interned container names */
	size_t n_names;
	struct listed_slot *listed; /* set of listed pids -> container */
	size_t listed_cap;
	unsigned long listed_src_gen; /* krt_pids.gen when the index was built */
	const struct krt_pids *listed_src;
	/* Per container, the thread that read the last request (pool warm-up). */
	struct {
		const char *container;
		__u32 tid;
	} readers[MAX_READERS];
	unsigned int n_readers;
	struct pending_connect connects[MAX_CONNECTS];
	unsigned int connects_next;
	struct notify_chan chans[NOTIFY_CHANS];
	/*
	 * Import: containers where one thread waited for a socket's bytes
	 * and another read them (Go's goroutines move between threads).
	 */
	const char *tasks_move[TASKS_MOVE_MAX];
	unsigned int n_tasks_move;
};

/*
 * The engine's modules, each calling only those below it:
 *   engine.c -> engine_conn.c -> engine_pool.c -> engine_loop.c
 *            -> engine_trace.c -> engine_thread.c -> engine_util.c
 * (engine.c calls every module; engine_conn.c calls the pool's and the
 * loop's rules.)
 */

/* engine_util.c: hash tables, allocation, the -V decision log */
void *eng_xcalloc(size_t n, size_t size);
void *eng_xrealloc(void *p, size_t size);
void eng_table_init(struct table *t);
void *eng_table_find(const struct table *t, __u64 hash, const void *key, table_eq_fn eq);
void eng_table_resize(struct table *t, size_t cap);
void eng_table_insert(struct table *t, __u64 hash, void *obj);
void eng_table_remove(struct table *t, __u64 hash, const void *obj);
void eng_table_free(struct table *t);
void eng_vlog_out(struct krt_engine *e, __u64 ts, const struct thread *t, __u32 tid, __u64 trace,
		  const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/*
 * The -V decision log: its arguments are evaluated (addresses formatted)
 * only when it is on. Several lines per event: a call each cost the
 * engine 1-2 % when it was off.
 */
#define eng_vlog(e, ...)                                                                           \
	do {                                                                                       \
		if ((e)->cfg.verbose)                                                              \
			eng_vlog_out((e), __VA_ARGS__);                                            \
	} while (0)

/* engine_thread.c: the thread registry, addresses' identity */
bool eng_is_gateway(const struct krt_engine *e, const struct krt_addr *a);
const struct krt_container *eng_container_by_ip(struct krt_engine *e, const struct krt_addr *ip,
						size_t *count);
struct thread *eng_thread_find_slow(struct krt_engine *e, __u32 tid);

static inline struct thread *eng_thread_find(struct krt_engine *e, __u32 tid)
{
	struct thread *t = e->thread_cache[tid & (ENG_THREAD_CACHE - 1)];

	/* no thread has tid 0: the slow path answers NULL for it */
	if (t && t->tid == tid)
		return t;
	return eng_thread_find_slow(e, tid);
}
struct thread *eng_thread_new(struct krt_engine *e, __u32 tid, __u32 pid, const char *comm);
struct thread *eng_thread_touch(struct krt_engine *e, __u32 tid, __u32 pid, const char *comm);
struct thread *eng_thread_listed_or_known(struct krt_engine *e, __u32 tid, __u32 pid,
					  const char *comm);
void eng_thread_container_by_ip(struct krt_engine *e, struct thread *t,
				const struct krt_addr *local);
void eng_thread_add_entry(struct thread *t, __u64 trace, __u64 dir_serial);
bool eng_thread_has_entry(const struct thread *t, __u64 trace, __u64 dir_serial);
void eng_thread_forget(struct krt_engine *e, struct thread *t);
void eng_thread_restart(struct thread *t);

/* engine_trace.c: traces (stats, hops, slices, emission), a thread's trace, kernel tags */
struct trace *eng_trace_find_slow(struct krt_engine *e, __u64 id);

static inline struct trace *eng_trace_find(struct krt_engine *e, __u64 id)
{
	struct trace *tr = e->trace_cache[id & (ENG_TRACE_CACHE - 1)];

	/* no trace has id 0: the slow path answers NULL for it */
	if (tr && tr->pub.id == id)
		return tr;
	return eng_trace_find_slow(e, id);
}
struct trace *eng_trace_live(struct krt_engine *e, __u64 id);
struct trace *eng_trace_new(struct krt_engine *e, __u64 ts);
struct trace *eng_trace_new_provisional(struct krt_engine *e, __u64 ts);
void eng_trace_activity(struct trace *tr, __u64 ts);
void eng_thread_touched(struct thread *t, __u64 id, __u64 ts);
struct krt_thread_stat *eng_trace_thread(struct trace *tr, struct thread *t, __u64 first,
					 __u64 last);
__u32 eng_trace_add_hop(struct trace *tr, const struct krt_hop *h);
void eng_trace_compact(struct krt_engine *e, struct trace *tr);
__u32 eng_trace_send_hop(const struct trace *tr, __u32 hop, __u64 send_ns, __u32 from_tid);
void eng_trace_add_slice(struct trace *tr, __u32 tid, __u64 start, __u64 end);
int eng_cmp_u64(__u64 a, __u64 b);
void eng_trace_free(struct trace *tr);
void eng_trace_mark_hop(struct trace *tr, __u32 hop, __u32 why);
__u32 eng_trace_request_doubt(const struct trace *tr, const struct krt_addr *from,
			      const struct krt_addr *to);
void eng_trace_settle(struct trace *tr, __u32 tid, __u64 since);
void eng_trace_emit(struct krt_engine *e, struct trace *tr);
/* A loss at ts (enum krt_lost_reason): the traces it may have touched are marked. */
/* since: KRT_LOST_REORDER's oldest clamped record's own time (krt_lost.since_ns), or 0 */
void eng_trace_mark_loss(struct krt_engine *e, __u64 ts, __u32 reason, __u64 since);
void eng_charge(struct krt_engine *e, struct thread *t, __u64 start, __u64 end);
void eng_thread_set_trace(struct krt_engine *e, struct thread *t, __u64 id, __u64 ts);
struct kmap_entry *eng_kmap_find(struct krt_engine *e, __u32 kid);
void eng_kmap_bind(struct krt_engine *e, __u32 kid, struct trace *tr);
__u64 eng_kernel_trace(struct krt_engine *e, __u32 kid, __u64 ts);
void eng_kmap_forget(struct krt_engine *e);
__u64 eng_apply_kernel_tag(struct krt_engine *e, const struct krt_xfer *x, __u64 rule, __u64 ts);
/* the kernel's trace, the rules' not checked (they decide later: eng_check_kernel_tag) */
__u64 eng_apply_kernel_tag_unchecked(struct krt_engine *e, const struct krt_xfer *x, __u64 ts);
void eng_check_kernel_tag(struct krt_engine *e, __u32 kid, __u64 rule, __u64 ts);

/* A hop moved to another trace (see eng_trace_move_job): skipped at emission. */
static inline bool eng_hop_dead(const struct krt_hop *h)
{
	return !h->send_ns && !h->recv_ns;
}

/* engine_loop.c: the event-loop rule (docs/handoffs.md, "Event loops") */
void eng_owed_add(struct krt_engine *e, struct thread *t, __u64 trace);
void eng_owed_remove(struct thread *t, __u64 trace);
bool eng_owed_other(struct krt_engine *e, struct thread *t, __u64 tag);
void eng_owed_mark_others(struct krt_engine *e, struct thread *t, __u64 tag);
void eng_loop_tick_begin(struct thread *t, __u64 serial);
void eng_loop_tick_add(struct thread *t, __u64 trace);
void eng_loop_fresh_add(struct thread *t, __u64 trace);
void eng_loop_acted(struct krt_engine *e, struct thread *t, __u64 trace, bool tick_pick);
__u64 eng_loop_pick(struct krt_engine *e, struct thread *t, bool reused_conn, const char **why,
		    bool *tick_pick);
void eng_loop_note_io(struct krt_engine *e, struct thread *t);
bool eng_loop_alone(struct krt_engine *e, const struct thread *t);
void eng_loop_list_add(__u64 *list, __u8 *n, __u64 trace, bool *lost);
bool eng_loop_list_remove(__u64 *list, __u8 *n, __u64 trace);
__u64 eng_loop_first(struct krt_engine *e, struct thread *t, __u64 *list, __u8 *n);

/* engine_unseen.c: event loops after a sampling pause (unseen requests) */
void eng_loop_reply_got(struct krt_engine *e, struct thread *t, __u64 trace);
void eng_loop_called(struct krt_engine *e, struct thread *t, __u64 trace);
void eng_loop_unseen_recv(struct krt_engine *e, struct thread *t, __u64 ts);
__u64 eng_loop_unseen_reply(struct krt_engine *e, struct thread *t, __u64 ts);
void eng_loop_replied(struct krt_engine *e, struct thread *t, __u64 tag);
bool eng_loop_in_step(struct krt_engine *e);
bool eng_loop_kernel_zero_off(struct krt_engine *e, const struct thread *t);

/* engine_pool.c: the thread-pool rule (rule 6) */
void eng_handoff_remove(struct thread *t, __u64 trace);
void eng_handoff_push(struct thread *t, __u64 trace);
__u64 eng_handoff_pick(struct krt_engine *e, struct thread *f, struct thread *taker, __u64 ts);
void eng_handoff_return(struct thread *f, __u64 trace);
bool eng_pool_sampled_job(struct krt_engine *e, struct thread *t, __u32 serial, __u64 ts);
bool eng_worker_take(struct krt_engine *e, struct thread *t, __u64 ts, const char *why);
void eng_handed_remember(struct thread *f, __u32 tid, __u64 trace);
void eng_reader_remember(struct krt_engine *e, struct thread *t);
void eng_pool_send_begins(struct krt_engine *e, struct thread *t, __u64 ts);
bool eng_pool_reply_sent(struct krt_engine *e, struct thread *t, __u64 tag, __u32 reader);
void eng_pool_ran(struct thread *t, __u64 since, __u64 now);
void eng_pool_switch_out(struct krt_engine *e, struct thread *t, __s64 state, __u64 ts);
bool eng_pool_at_work(const struct thread *t);
void eng_pool_switch_in(struct krt_engine *e, struct thread *t, __u64 ts);
void eng_handoff_on_wakeup(struct krt_engine *e, struct thread *waker, struct thread *target,
			   __u64 ts);
unsigned int eng_trace_move_job(struct krt_engine *e, struct thread *w, __u64 from, __u64 to,
				__u64 since, __u64 until);
void eng_pool_notify(struct krt_engine *e, const struct krt_event *ev);
void eng_pool_handback(struct krt_engine *e, struct thread *l, __u64 tag, bool read_since);
__u32 eng_pool_acts(struct krt_engine *e, struct thread *t, __u64 tag);
void eng_pool_settled(struct krt_engine *e, struct thread *t, struct trace *tr);
void eng_pool_pause(struct krt_engine *e);
bool eng_pool_in_step(struct krt_engine *e);
void eng_pool_forget(struct krt_engine *e);

/* engine_conn.c: connections, byte matching, tagging rules 1-3, socket state */
struct segment *eng_seg_at(struct dir *d, __u32 i);
void eng_seg_drop(struct krt_engine *e, struct dir *d, struct segment *s);
void eng_pending_expire(struct krt_engine *e, struct dir *d, __u64 now, bool all);
void eng_dir_free_pair(struct krt_engine *e, struct dir *d);
void eng_on_xfer(struct krt_engine *e, const struct krt_event *ev);
void eng_on_sock_state(struct krt_engine *e, const struct krt_event *ev);
void eng_on_recv_wait(struct krt_engine *e, const struct krt_event *ev);

/* engine_go.c: goroutines on import (a capture with Go's uprobe events) */
/* The tid writers show for t: a goroutine's thread, else its own. */
static inline __u32 eng_thread_shown_tid(const struct thread *t)
{
	return t->go_thread ? t->go_thread : t->tid;
}
void eng_go_event(struct krt_engine *e, const struct krt_event *ev);
void eng_go_owns(struct thread *t); /* t read the request it holds on a server side */
void eng_go_sent(struct thread *t); /* t sent for its trace */
/* engine_goroutine.c: live, the trace each goroutine last held */
void eng_go_note(struct krt_engine *e, const struct thread *t, __u32 goid, __u64 trace, __u64 ts);
__u64 eng_go_current(struct krt_engine *e, const struct thread *t, __u32 goid, bool *known);
void eng_go_forget(struct krt_engine *e);
void eng_conn_prune(struct krt_engine *e);
void eng_conn_flush(struct krt_engine *e);
void eng_conn_free_all(struct krt_engine *e);
void eng_conn_forget(struct krt_engine *e);

#endif
