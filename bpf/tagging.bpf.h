/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Kernel tagging: the trace a send's bytes carry, stored per connection
 * direction, and taken by the receive that reads them (docs/design.md,
 * "Kernel tagging").
 */
#ifndef KRT_TAGGING_BPF_H
#define KRT_TAGGING_BPF_H

#include "cpu.bpf.h"
#include "sampling.bpf.h"
#include "peers.bpf.h"
#include "remote.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct krt_peer_key);
	__type(value, __u8);
} peers SEC(".maps");

/* A traced container's address: its receivers will read what is sent there. */
static __always_inline bool peer_traced(const struct krt_addr *a)
{
	struct krt_peer_key k = {};

	__builtin_memcpy(k.addr, a->addr, 16);
	k.family = a->family;
	return bpf_map_lookup_elem(&peers, &k) != NULL;
}

/* Connection side c's remote end, looked up once per connection (enum krt_peer). */
static __always_inline bool conn_peer_traced(struct krt_conn_side *c, const struct krt_addr *remote)
{
	if (c->peer == KRT_PEER_UNKNOWN)
		c->peer = peer_traced(remote) ? KRT_PEER_TRACED : KRT_PEER_UNTRACED;
	return c->peer == KRT_PEER_TRACED;
}

/*
 * Thread th takes the trace of bytes it read on connection cookie (enum
 * krt_claim): a new claim when the trace is new (or new_claim), and a
 * hand-off's claim becomes its own. The same trace read on another
 * connection is the reply to one of its own calls: the request's
 * connection stays its entry (a later send on the call's connection, a
 * second command or a one-way message, answers nothing). Its tag_pending
 * is the caller's: a late tag must not clear what a later receive set.
 */
static __always_inline void thread_takes_trace(struct krt_thread_state *th, __u32 tid, __u32 pid,
					       __u64 cookie, __u32 trace, bool new_claim,
					       __u64 *clk, struct krt_cpu *carry)
{
	if (new_claim || th->trace != trace) {
		th->claim = KRT_CLAIM_OPEN;
		th->entry_cookie = cookie;
		/* bytes decide; an unsure tag (its own call's reply) leaves the doubt */
		if (trace_decided(trace))
			th->maybe_unsampled = 0;
	}
	thread_set_trace(th, tid, pid, NULL, trace, clk, carry);
	if (th->claim == KRT_CLAIM_HANDED)
		th->claim = KRT_CLAIM_OPEN;
}

/*
 * Thread t (with no trace) is woken by a thread of its process holding
 * trace: a pool hand-off. A guess: several workers wait on one queue and
 * the first to run dequeues; the engine decides (the trace is unsure).
 */
static __always_inline void thread_handed_trace(struct krt_thread_state *t, __u32 tid, __u32 pid,
						const char *comm, __u32 trace)
{
	/* a pool worker first: user space counts its time from here */
	t->pooled |= KRT_POOLED_WORKER;
	thread_set_trace(t, tid, pid, comm, trace | KRT_TRACE_UNSURE, NULL, NULL);
	t->claim = KRT_CLAIM_HANDED;
	/*
	 * With sampling, the queue also holds unsampled requests, invisible
	 * to the engine: the job the worker dequeues may be one of them.
	 */
	t->maybe_unsampled =
	    sampling_on() && !t->evloop && !(t->pool_hidden & ~KRT_POOL_HIDDEN_CALLS)
		? KRT_MAYBE_UNSAMPLED_GUESS
		: 0;
	t->job_serial++;
	t->entry_cookie = 0;
}

/*
 * With sampling, thread w wakes idle sibling t: a pool feeder when it holds
 * a request it read (on a server side) and has not answered; t is then one
 * of its workers (enum krt_pool_hidden: from the next request on, the
 * feeder's unsampled ones are recorded, hidden).
 */
static __always_inline bool pool_hidden_feeds(const struct krt_thread_state *w)
{
	return (w->pool_hidden & KRT_POOL_HIDDEN_HANDBACK) ||
	       ((w->pool_hidden & (KRT_POOL_HIDDEN_FEEDER | KRT_POOL_HIDDEN_CALLS)) ==
		    KRT_POOL_HIDDEN_FEEDER &&
		w->door_reader);
}

static __always_inline void pool_hidden_learn(struct krt_thread_state *w,
					      struct krt_thread_state *t, bool idle)
{
	if (!w || w->evloop || w->go_thread)
		return;
	if (idle && w->entry_server && w->claim == KRT_CLAIM_OPEN && (w->trace & KRT_TRACE_ID_MASK))
		w->pool_hidden |= KRT_POOL_HIDDEN_FEEDER;
	if (pool_hidden_feeds(w))
		t->pool_hidden |= KRT_POOL_HIDDEN_WORKER;
}

/*
 * Worker t, woken, holds an unsampled guess from before its feeder was
 * known (a pool worker keeps its guess across jobs): it takes a new one.
 */
static __always_inline bool pool_hidden_stale(const struct krt_thread_state *t)
{
	return (t->pool_hidden & KRT_POOL_HIDDEN_WORKER) && (t->trace & KRT_TRACE_SAMPLED_OUT) &&
	       (t->trace & KRT_TRACE_UNSURE);
}

/*
 * The guess a wake-up hands to worker t: a worker of a feeder that hides
 * records its job as without sampling (an unsampled request it holds, read
 * before the feeder was known, goes on hidden: its reply is, below).
 */
static __always_inline __u32 pool_hidden_guess(const struct krt_thread_state *t, __u32 guess)
{
	return t->pool_hidden & KRT_POOL_HIDDEN_WORKER ? guess & ~KRT_TRACE_SAMPLED_OUT : guess;
}

/*
 * Connection side c received bytes of trace sent by thread from (0: not
 * known): a request for a server side's queue.
 */
static __always_inline void conn_takes_trace(struct krt_conn_side *c, __u32 trace, __u32 from)
{
	c->last_recv_trace = trace;
	krt_side_req_received_from(&c->reqs, trace, from);
}

static __always_inline bool is_gateway(const struct krt_addr *a)
{
	int i;

	if (!gateway_family || a->family != gateway_family)
		return false;
	for (i = 0; i < 16; i++) {
		if (a->family == KRT_AF_INET && i == 4)
			break;
		if (a->addr[i] != gateway_addr[i])
			return false;
	}
	return true;
}

/*
 * A segment read on side q: queued as a request (rule 3a). A global
 * function, verified once: inlined in seg_scan's loop over KRT_TAG_SEGS (16)
 * segments, its branches made the verifier walk 799k instructions of
 * krt_sock_recv and 903k of krt_sys_exit (402k and 505k with 8 segments).
 */
__noinline int side_queue_seg(struct krt_side_reqs *q, __u32 trace, __u32 from)
{
	if (q) /* a global function's pointer argument may be NULL to the verifier */
		krt_side_req_received_from(q, trace, from);
	return 0;
}

/*
 * The tag of the received bytes [seq, last] on direction k: the segment
 * holding the last byte; every segment read is queued as a request on a
 * server side, oldest first (pipelined requests read at once).
 */
static __always_inline __u32 seg_scan(struct krt_conn_side *c, struct krt_dir_tags *dt, __u32 seq,
				      __u32 last, bool queue, __u64 *covered, __u32 *sampled)
{
	__u32 trace = 0;
	int i;

	for (i = 0; i < KRT_TAG_SEGS; i++) {
		struct krt_tag_seg *sg = &dt->seg[(dt->next + i) % KRT_TAG_SEGS];

		if (!sg->len)
			continue;
		/* overlaps [seq, last] */
		if (sg->seq - seq <= last - seq || seq - sg->seq < sg->len) {
			/* the sender's hook ran: tagged, or sent with no trace */
			if (last - sg->seq < sg->len)
				*covered = 1;
			if (!sg->trace)
				continue;
			if (queue)
				side_queue_seg(&c->reqs, sg->trace, sg->from);
			if (!(sg->trace & KRT_TRACE_SAMPLED_OUT))
				*sampled = sg->trace;
			if (last - sg->seq < sg->len)
				trace = sg->trace;
		}
	}
	return trace;
}

/*
 * Unsampled request trace, just queued on server side c by a pool feeder
 * (pool_hidden), is recorded as a hidden one: its reply too (the queue's
 * newest entry loses SAMPLED_OUT; one already there is not queued twice).
 */
static __always_inline void feeder_unhides(struct krt_conn_side *c, __u32 trace)
{
	__u32 n = c->reqs.n, shown = trace & ~KRT_TRACE_SAMPLED_OUT;

	if (!n || n > KRT_SIDE_REQS || c->reqs.req[(n - 1) & (KRT_SIDE_REQS - 1)] != trace)
		return;
	if (n > 1 && c->reqs.req[(n - 2) & (KRT_SIDE_REQS - 1)] == shown)
		c->reqs.n = n - 1;
	else
		c->reqs.req[(n - 1) & (KRT_SIDE_REQS - 1)] = shown;
}

/*
 * With sampling, does door reader th, reading a new request now, record its
 * unsampled ones (hidden)? Yes when it is an event loop (evloop), or may
 * be one: it reads this request while another is open (a loop trial).
 */
static __always_inline bool loop_hides(struct krt_thread_state *th)
{
	if (!sampling_on() || th->go_thread)
		return false;
	if (th->evloop == KRT_EVLOOP)
		return true;
	if ((th->pool_hidden & (KRT_POOL_HIDDEN_FEEDER | KRT_POOL_HIDDEN_CALLS)) ==
	    KRT_POOL_HIDDEN_FEEDER)
		return true;
	/* not a pool's feeder: its workers call out, it does not */
	if (!th->loop_trial && (th->trace & KRT_TRACE_ID_MASK) && th->claim == KRT_CLAIM_OPEN &&
	    th->door_reader == KRT_DOOR_READER_CALLS)
		th->loop_trial = KRT_LOOP_TRIAL;
	if (!th->loop_trial || th->loop_trial == KRT_LOOP_TRIAL_OVER)
		return false;
	if (!--th->loop_trial) {
		th->loop_trial = KRT_LOOP_TRIAL_OVER;
		/* its calls after one receive were first sends only (tag_send) */
		if (th->evloop == KRT_EVLOOP_TRIAL)
			th->evloop = th->reply_calls ? KRT_EVLOOP : 0;
	}
	return true;
}

/*
 * Receive: the bytes' tag (segment holding the last byte received) becomes
 * the thread's current trace; a first receive from the gateway (or from a
 * peer host, on the server side) starts a request; bytes from an untraced
 * peer leave the trace unchanged. A peer host's request that carried its
 * trace in the TCP option continues that trace (*remote, remote.bpf.h).
 */
static __always_inline __u32 tag_receive(__u32 tid, __u32 pid, __u64 cookie,
					 const struct krt_tuple *t, __u32 seq, __u32 len,
					 __u64 *decided, struct krt_dir_tags *dt, __u64 *clk,
					 struct krt_cpu *carry, struct krt_remote_ctx *remote)
{
	struct krt_thread_state *th = thread_get(tid);
	struct krt_conn_side *c = conn_get(cookie);
	__u32 last = seq + len - 1, trace = 0, sampled = 0, last_tag = 0;
	__u64 covered = false, mixed = false, hidden = false;

	if (!th || !c) {
		*decided = false;
		return th ? th->trace : 0;
	}
	th->calls_since_recv = 0;
	/* The gateway is outside the application: its bytes carry no tag (dt NULL). */
	if (dt)
		trace = seg_scan(c, dt, seq, last, true, &covered, &sampled);
	/*
	 * Bytes of several requests read at once (pipelined replies), the
	 * last one unsampled: a sampled one among them must not lose its
	 * receive. The thread takes the sampled trace; the record goes
	 * untagged (it holds both) and the senders' records decide.
	 */
	if (sampling_on() && (trace & KRT_TRACE_SAMPLED_OUT) && sampled) {
		last_tag = trace;
		trace = sampled;
		mixed = true;
	}
	/*
	 * A hand-back loop's unsampled request from a traced peer (thrift's
	 * I/O thread): recorded, hidden (pool_hidden), and so is its reply.
	 */
	if ((trace & KRT_TRACE_SAMPLED_OUT) && (th->pool_hidden & KRT_POOL_HIDDEN_HANDBACK) &&
	    !mixed && trace_decided(trace) && conn_side_serves(c, t)) {
		feeder_unhides(c, trace);
		trace &= ~KRT_TRACE_SAMPLED_OUT;
		hidden = true;
	}
	/* bytes from another host carrying a trace of ours back (a reply to our call) */
	if (!trace && tcpopt_run_word && is_peer(&t->remote) && !peer_request(c, t))
		trace = remote_local_trace(cookie, seq);
	if (!trace && (is_gateway(&t->remote) || peer_request(c, t))) {
		/* rule 1: first receive since the connection opened or we last sent */
		if (c->in_request && c->last_recv_trace) {
			trace = c->last_recv_trace;
		} else {
			hidden = loop_hides(th);
			trace = trace_new();
			th->door_reader = KRT_DOOR_READER;
			/*
			 * An event loop's unsampled request: recorded as if
			 * sampled, its door record says it is hidden (the
			 * engine never emits it). The loop's sends carry the
			 * tag of its last receive, often another request's:
			 * the engine's loop rule puts them right only when it
			 * sees every request the loop read, and their calls'
			 * whole way down.
			 */
			hidden = hidden && (trace & KRT_TRACE_SAMPLED_OUT);
			trace &= hidden ? ~KRT_TRACE_SAMPLED_OUT : ~0u;
			if (!(trace & KRT_TRACE_SAMPLED_OUT) && !hidden && !is_gateway(&t->remote))
				remote_continue(cookie, seq, trace, remote);
			/*
			 * An unsampled request read: until the thread sends
			 * under its mark, what it sends under another's may be
			 * this one's (an event loop with both read). Not a Go
			 * thread: its trace is its goroutine's, swapped with it.
			 */
			if ((trace & KRT_TRACE_SAMPLED_OUT) && !th->maybe_unsampled &&
			    !th->go_thread)
				th->maybe_unsampled = KRT_MAYBE_UNSAMPLED_LOOP;
		}
	} else if (!trace && dt) {
		/*
		 * No tag on these bytes from a traced container (yet: the
		 * sender's hook runs after its transfer, maybe on another CPU
		 * right now). Until it comes, the thread's trace is a guess
		 * for what it sends: tag_pending makes those sends unsure (the
		 * engine's rules decide). Its time stays with its trace: the
		 * window is microseconds, and no switch records for it. Set
		 * before the entry is published, so that a late tag finds it.
		 */
		__u64 made_pending = false;
		bool from_peer = conn_peer_traced(c, &t->remote);

		/*
		 * Not when the bytes were sent with no trace (covered) or by an
		 * untraced peer (never tagged): the trace stays as it was.
		 */
		if (!covered && from_peer) {
			th->tag_pending = 1;
			made_pending = true;
		}
		dt->untagged.made_pending = made_pending;
		dt->untagged.cookie = cookie;
		dt->untagged.tid = tid;
		dt->untagged.pid = pid;
		dt->untagged.seq = seq;
		dt->untagged.len = len;
		dt->untagged.prev_trace = th->trace;
		/*
		 * Look again after a full barrier: a sender that stored its
		 * tag meanwhile either finds our entry or we find its tag (the
		 * segments read before are queued already).
		 */
		__sync_fetch_and_add(&dt->sync, 0);
		trace = seg_scan(c, dt, seq, last, false, &covered, &sampled);
		/* tagged, or sent with no trace, meanwhile: nothing pending */
		if (trace || covered)
			th->tag_pending = 0;
	}
	c->in_request = 1;
	*decided = trace && trace_decided(trace) && !mixed;
	if (trace) {
		/* a request read on a server side: its reader serves it (goroutines.bpf.h) */
		bool side_serves = conn_side_serves(c, t);
		bool serves = side_serves || (th->entry_server && th->trace == trace);
		/*
		 * The reply to its own unsampled call, hidden by the pool it
		 * called (a hand-back store records its requests and replies
		 * for its rules: thrift's front reading the store's reply): the
		 * receive is recorded as before, but the thread's request stays
		 * unsampled (its wake-ups and time after it are no rule's).
		 */
		bool stays_out = sampling_on() && th->trace == (trace | KRT_TRACE_SAMPLED_OUT) &&
				 !th->evloop && !(th->pool_hidden & ~KRT_POOL_HIDDEN_CALLS);

		/* a sampled request read: its process holds one open */
		if (sampling_on() && serves && th->trace != trace && trace_decided(trace) &&
		    !(trace & KRT_TRACE_SAMPLED_OUT) && !hidden)
			open_sampled_op(pid, trace, KRT_OPEN_READ);
		thread_takes_trace(th, tid, pid, cookie, trace, false, clk, carry);
		th->entry_server = serves;
		/* a reply to its call: what it sends next is that request's next call */
		if (!side_serves)
			th->calls_since_recv = KRT_CALLS_AFTER_REPLY;
		th->tag_pending = 0;
		if (hidden) {
			th->maybe_unsampled = KRT_MAYBE_UNSAMPLED_HIDDEN;
			thread_hides_time(th);
		}
		/* queued by seg_scan, or late; the queue's newest is the last tag */
		conn_takes_trace(c, mixed ? last_tag : trace, 0);
		if (stays_out) {
			th->trace = trace | KRT_TRACE_SAMPLED_OUT;
			return trace;
		}
	}
	/*
	 * A sampled request's bytes among them, the last ones with no tag (not
	 * stored yet: replies read at once, the later senders' hooks not run;
	 * or sent with none): under the thread's unsampled trace the receive
	 * would go unrecorded, the sampled reply read by nobody (m3's loop).
	 * Recorded untagged (0): the senders' records decide; the thread's
	 * trace stays as it is, for the late tag to decide. Not its own
	 * request's hidden id (stays_out above).
	 */
	if (sampling_on() && !trace && sampled && (th->trace & KRT_TRACE_SAMPLED_OUT) &&
	    (sampled | KRT_TRACE_SAMPLED_OUT) != th->trace)
		return 0;
	return th->trace;
}

/*
 * A receive decided late: the current thread takes the bytes' trace (rule
 * 2). A request the side's queue holds already is not queued again: the
 * bytes of several requests read at once (seg_scan queued each) whose
 * first one's send rides in the record; a second entry would make a later
 * reply (an unsampled request's) answer it.
 */
static __always_inline void recv_takes_tag(__u32 tid, __u32 pid, __u64 cookie, __u32 trace,
					   __u64 *clk, struct krt_cpu *carry)
{
	struct krt_thread_state *th = thread_find(tid);
	struct krt_conn_side *c = conn_find(cookie);

	/*
	 * With sampling, a thread that took this trace from these bytes
	 * already (requests read at once, the last an unsampled one: the
	 * "mixed" receive of tag_receive) had their segments queued by
	 * seg_scan; queued again behind the unsampled one, a request no reply
	 * answers (memcached's "set ... noreply" after its get's reply) would
	 * name the next reply: another client's (m5).
	 */
	if (c && !krt_side_req_queued(&c->reqs, trace) &&
	    !(sampling_on() && th && th->trace == trace))
		conn_takes_trace(c, trace, 0);
	if (!th)
		return;
	thread_takes_trace(th, tid, pid, cookie, trace, false, clk, carry);
	th->tag_pending = 0;
}

/*
 * The receiver already read these bytes (its hook ran first, on another
 * CPU) and found no tag: it takes the trace now, unless it has one since.
 */
static __always_inline bool late_tag(struct krt_dir_tags *dt, __u32 seq, __u32 len, __u32 trace,
				     __u32 from)
{
	struct krt_untagged_recv *u = &dt->untagged;
	struct krt_thread_state *th;
	struct krt_conn_side *c;
	__u32 last;

	if (!u->len)
		return false;
	last = u->seq + u->len - 1;
	if (last - seq >= len)
		return false;
	/* the tag has come: nothing is pending for that receive any more */
	th = thread_find(u->tid);
	if (th && u->made_pending)
		th->tag_pending = 0;
	if (!trace) {
		/* read already, bytes of no request: the receiver's trace stays */
		u->len = 0;
		return true;
	}
	/*
	 * The receiver takes it unless its trace changed since that receive
	 * (it has moved on to other bytes).
	 */
	if (th && (!(th->trace & KRT_TRACE_ID_MASK) || th->trace == u->prev_trace))
		thread_takes_trace(th, u->tid, u->pid, u->cookie, trace, true, NULL, NULL);
	/*
	 * A request for the server side's queue, as if read with its tag: on
	 * a keep-alive connection, missing it would make the reply answer
	 * the previous request.
	 */
	c = conn_find(u->cookie);
	if (c)
		conn_takes_trace(c, trace, from);
	u->len = 0;
	return true;
}

/*
 * Rule 3's choice for a send on side c (server: conn_side_serves): a reply
 * answers the oldest request read on it (and, unless peek, takes it off
 * the queue), or the last request read; the first send on a connection
 * the thread opened carries the trace of connect time; otherwise the
 * thread's trace. peek: the TCP option's question (tcpopt.bpf.h) before
 * the send, which tag_send then decides.
 */
static __always_inline __u32 send_rule3(const struct krt_thread_state *th, struct krt_conn_side *c,
					bool server, bool peek)
{
	if (server && c->reqs.n)
		return peek ? krt_side_req_peek(&c->reqs) : krt_side_req_reply(&c->reqs);
	if (server && c->last_recv_trace)
		return c->last_recv_trace;
	if (c->client && !c->sent_any && c->connect_trace)
		return c->connect_trace;
	return th->trace;
}

/*
 * Send: the tag the bytes carry (docs/design.md, rule 3): a reply on a connection
 * this side accepted belongs to the request read on it; the first send on
 * a connection this thread opened carries the trace of connect time;
 * otherwise the thread's current trace.
 */
static __always_inline __u32 tag_send(__u32 tid, __u32 pid, __u64 cookie, const struct krt_tuple *t,
				      __u64 *to_peer)
{
	struct krt_thread_state *th = thread_get(tid);
	struct krt_conn_side *c = conn_get(cookie);
	__u32 trace = 0;
	bool server;

	if (!th || !c)
		return th ? th->trace : 0;
	/* looked up once per connection, not per send */
	*to_peer = merge_hops ? conn_peer_traced(c, &t->remote) : c->peer == KRT_PEER_TRACED;
	server = conn_side_serves(c, t);
	trace = send_rule3(th, c, server, false);
	/*
	 * A pool's reply (its feeder's or a worker's) to an unsampled request
	 * read before the feeder was known (or whose tag came late): recorded,
	 * hidden, as the pool's rules need each of its replies (the hand-back,
	 * the reply that settles a worker's job); in a record of its own (the
	 * flag is the sender's).
	 */
	if ((trace & KRT_TRACE_SAMPLED_OUT) && server &&
	    (th->pool_hidden & (KRT_POOL_HIDDEN_WORKER | KRT_POOL_HIDDEN_HANDBACK))) {
		trace &= ~KRT_TRACE_SAMPLED_OUT;
		th->maybe_unsampled = KRT_MAYBE_UNSAMPLED_HIDDEN;
		*to_peer = false;
	}
	/* a sampled request answered (open_sampled) */
	if (sampling_on() && server && trace_decided(trace) && !(trace & KRT_TRACE_SAMPLED_OUT))
		open_sampled_op(pid, trace, KRT_OPEN_ANSWERED);
	/*
	 * With sampling: a door reader that sends two calls (to traced peers)
	 * after one receive runs several callbacks per receive, an event loop
	 * when it also reads requests while others are open (see loop_hides).
	 * For good when one of them is a send on a connection used before:
	 * the first send on a connection the thread opened carries the trace
	 * of connect time, right whoever sends it. nginx reads a batch of
	 * requests, connects upstream for each, then sends each one's first
	 * request: no loop to correct, and hiding every unsampled request
	 * from then on cost what full tracing costs (chain --sample 10, in
	 * about half of the tracer runs). First sends only: a loop during its
	 * trial (node's first calls on new agent sockets: known from them, its
	 * first requests' sends are corrected), for good if it showed
	 * reply_calls (a loop's callbacks: node's next call after a reply on
	 * a used connection; nginx only relays its replies).
	 */
	if (sampling_on() && !server && *to_peer && th->door_reader && !th->go_thread &&
	    th->evloop != KRT_EVLOOP) {
		__u8 n = th->calls_since_recv;

		th->door_reader = KRT_DOOR_READER_CALLS;
		th->pool_hidden |= KRT_POOL_HIDDEN_CALLS; /* no pool's feeder */
		if (!(c->client && !c->sent_any && c->connect_trace)) {
			n |= KRT_CALLS_REUSED;
			if (n & KRT_CALLS_AFTER_REPLY)
				th->reply_calls = 1;
		}
		if ((n & KRT_CALLS_COUNT) < 2)
			n++;
		th->calls_since_recv = n;
		/* and reads requests while others are open (not a thread per request) */
		if ((n & KRT_CALLS_COUNT) >= 2 && th->loop_trial) {
			if ((n & KRT_CALLS_REUSED) || th->reply_calls)
				th->evloop = KRT_EVLOOP;
			else if (th->loop_trial != KRT_LOOP_TRIAL_OVER)
				th->evloop = KRT_EVLOOP_TRIAL;
		}
	}
	/*
	 * A pool worker between jobs (its claim ended) that sends with no
	 * receive or wake-up since took its next job from the queue by
	 * itself: which one is not visible here. "No trace" would be a
	 * decision, and a wrong one: the send is unsure, without a guess, and
	 * the engine's rule 6 decides (the worker's switches go out from now).
	 */
	/*
	 * With sampling, a pool worker that answered a sampled request (or
	 * one it had on a guess) and calls out again without blocking took
	 * its next job from the queue, most likely an unsampled one: not the
	 * request it answered. Which one is not visible here: unsure, without
	 * a guess, a new job (job_serial), as below. After an unsampled job
	 * too while a sampled request of its process is open (open_sampled);
	 * then an unsampled guess is not trusted either: the job it has goes
	 * on without a guess. Outside that window its sends stay unrecorded
	 * (the queue holds unsampled requests only; a sampled reply of its
	 * says its work went unrecorded).
	 */
	if (sampling_on() && th->pooled && !th->evloop &&
	    !(th->pool_hidden & ~KRT_POOL_HIDDEN_CALLS) && !server && trace == th->trace && trace) {
		bool out = trace & KRT_TRACE_SAMPLED_OUT;
		bool answers = th->pooled & KRT_POOLED_ANSWERS;

		if (th->claim == KRT_CLAIM_REPLIED) {
			if (!out || (answers && open_sampled_op(pid, 0, KRT_OPEN_ASK)))
				trace = 0;
		} else if (out && answers && (trace & KRT_TRACE_UNSURE) &&
			   open_sampled_op(pid, 0, KRT_OPEN_ASK)) {
			thread_set_trace(th, tid, pid, NULL, KRT_TRACE_UNSURE, NULL, NULL);
			th->maybe_unsampled = KRT_MAYBE_UNSAMPLED_GUESS;
			trace = KRT_TRACE_UNSURE;
		}
	}
	if (!trace && th->pooled) {
		thread_set_trace(th, tid, pid, NULL, KRT_TRACE_UNSURE, NULL, NULL);
		th->maybe_unsampled = sampling_on() && !(th->pool_hidden & ~KRT_POOL_HIDDEN_CALLS)
					  ? KRT_MAYBE_UNSAMPLED_GUESS
					  : 0;
		th->job_serial++;
		trace = KRT_TRACE_UNSURE;
	}
	/*
	 * Its last receive's tag not stored yet: the trace it would carry is a
	 * guess. Not an unsampled one: its bytes go unrecorded (a server's
	 * reply takes its request's mark from the queue; marking it unsure
	 * would record it, and the engine would guess it into a sampled trace).
	 */
	if (th->tag_pending && !(trace & KRT_TRACE_SAMPLED_OUT)) {
		trace |= KRT_TRACE_UNSURE;
		/*
		 * with sampling, those bytes may be an unsampled request's (not
		 * an event loop's: it records its unsampled requests, hidden)
		 */
		if (sampling_on() && !th->evloop && !(th->pool_hidden & ~KRT_POOL_HIDDEN_CALLS))
			th->maybe_unsampled = KRT_MAYBE_UNSAMPLED_GUESS;
	}
	/*
	 * A pool worker answering a sampled request while its own trace was an
	 * unsampled one (a hand-off's guess, or the job it answered before,
	 * and it went on without blocking): its work for this request went
	 * unrecorded. The reply says so (the engine marks it "sampling").
	 */
	if (sampling_on() && server && !*to_peer && th->pooled && !th->evloop &&
	    !(th->pool_hidden & ~KRT_POOL_HIDDEN_CALLS) && (th->trace & KRT_TRACE_SAMPLED_OUT) &&
	    trace && !(trace & KRT_TRACE_SAMPLED_OUT))
		th->maybe_unsampled = KRT_MAYBE_UNSAMPLED_REPLY;
	/*
	 * A pool worker that answers its clients (open_sampled): its reply
	 * ends a job it had on a guess (not a loop answering a request it
	 * read itself: thrift's I/O thread, woken by workers), known from a
	 * sampled reply, recorded, from which the engine learns it too (its
	 * provisional jobs); before that, a window's records would find the
	 * engine without them, and the reply would look whole.
	 */
	if (server && th->pooled && (th->trace & KRT_TRACE_UNSURE) && trace &&
	    trace_decided(trace) && !(trace & KRT_TRACE_SAMPLED_OUT))
		th->pooled |= KRT_POOLED_ANSWERS;
	/* it acted on its unsampled request (KRT_MAYBE_UNSAMPLED_LOOP) */
	if ((trace & KRT_TRACE_SAMPLED_OUT) && th->maybe_unsampled == KRT_MAYBE_UNSAMPLED_LOOP)
		th->maybe_unsampled = 0;
	c->sent_any = 1;
	c->in_request = 0;
	th->sent = 1;
	/*
	 * Claim end, step one: the thread answered its request, on the
	 * connection the request came in on, or (a pool worker handed the
	 * request) as a server reply carrying the thread's trace.
	 */
	if (th->trace && (th->entry_cookie == cookie || (server && c->last_recv_trace)))
		th->claim = KRT_CLAIM_REPLIED;
	else if (th->claim == KRT_CLAIM_HANDED)
		th->claim = KRT_CLAIM_OPEN;
	return trace;
}

/*
 * The sent bytes' tag goes in the direction's segments; true when the
 * receiver read them already (its hook ran first, on another CPU).
 */
static __always_inline bool tag_store(struct krt_dir_tags *dt, __u32 seq, __u32 len, __u32 trace,
				      __u32 from)
{
	__u32 slot;

	slot = dt->next++ % KRT_TAG_SEGS;
	dt->seg[slot].seq = seq;
	dt->seg[slot].len = len;
	dt->seg[slot].trace = trace;
	dt->seg[slot].from = from;
	/*
	 * A full barrier (locked add): the segment is visible before we look
	 * for a receive that missed it; the receiver inserts first and then
	 * looks for a waiting send, so one of the two sees the other.
	 */
	__sync_fetch_and_add(&dt->sync, 0);
	return late_tag(dt, seq, len, trace, from);
}

#endif /* KRT_TAGGING_BPF_H */
