/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Attribution rules that the kernel programs and the engine both run,
 * written once so that the two cannot drift apart (docs/design.md,
 * "Rules both sides run"). Plain fixed-size types, no libc: included by
 * bpf/ (after vmlinux.h) and by user space (after <linux/types.h>).
 */
#ifndef KRTRACE_RULES_H
#define KRTRACE_RULES_H

#define KRT_SIDE_REQS 16 /* requests queued unanswered on one server side */

_Static_assert((KRT_SIDE_REQS & (KRT_SIDE_REQS - 1)) == 0,
	       "KRT_SIDE_REQS indexes under a mask: a power of two");

/*
 * The requests a server side of a connection received and has not
 * answered yet, oldest first: one read may carry several pipelined
 * requests, and replies go out in request order. answered: bytes went
 * out for req[0] already (a reply may take several sends).
 */
struct krt_side_reqs {
	__u64 req[KRT_SIDE_REQS];
	__u8 n;
	__u8 answered;
	__u8 at_reply; /* requests queued when the last reply was sent */
	__u8 pad;
	__u32 from; /* the thread that sent the newest request; 0 unknown */
};

_Static_assert(sizeof(struct krt_side_reqs) == 136, "krt_side_reqs: ABI of the BPF state");

/* The oldest request leaves the queue (a loop the compiler unrolls: no memmove in BPF). */
static __inline__ __attribute__((always_inline)) void krt_side_reqs_shift(struct krt_side_reqs *q)
{
	int i;

	for (i = 0; i + 1 < KRT_SIDE_REQS; i++)
		q->req[i] = q->req[i + 1];
	q->n--;
}

/*
 * A request's bytes (trace 0: bytes of no request) were received on this
 * side, sent by thread from (0: not known).
 *
 * One-way messages on a pooled connection (memcached noreply, a publish):
 * the previous user sent requests and gave the connection back; another
 * thread now sends. A pool lends a connection to one user at a time, so
 * whatever that user sent is settled: answered (a reply answers its last
 * request) or expecting no answer. Keeping its unanswered requests would
 * shift every later reply on the connection by one request. One thread
 * pipelining requests of several traces (an event loop) keeps its queue.
 * Not covered: a client whose threads send on one connection at once (a
 * multiplexing client), and a one-way message followed by a request of the
 * same thread on the same connection (it looks like pipelining).
 */
static __inline__ __attribute__((always_inline)) void
krt_side_req_received_seg(struct krt_side_reqs *q, __u64 trace, __u32 from, int cont)
{
	__u32 n = q->n;

	if (!trace)
		return;
#ifdef __bpf__
	/*
	 * The kernel keeps the plain queue (its receive programs are at the
	 * verifier's limit); the engine, which follows the rules over the
	 * kernel's tags where they differ (side_engine), knows batches.
	 */
	if (n && q->req[(n - 1) & (KRT_SIDE_REQS - 1)] == trace)
		return;
	(void)cont;
#else
	if (n && q->req[(n - 1) & (KRT_SIDE_REQS - 1)] == trace) {
		/*
		 * More bytes of the newest request, or a one-way message after
		 * its reply (memcached "set ... noreply" after a get): as
		 * before, unless the last reply answered a batch of requests
		 * the newest among them.
		 */
		if (!(q->answered && q->at_reply == n && n > 1))
			return;
		/*
		 * The rest of a send read in part before the reply (cont): the
		 * request was not whole, so the reply did not answer it. A new
		 * send of the same trace after the reply that answered its last
		 * request is its next request (redis: GET after SET).
		 */
		if (cont) {
			q->at_reply--;
			return;
		}
	}
	/*
	 * A server that had read several requests when it replied and reads
	 * a new one answered all it had read: in one send (redis writes the
	 * replies of pipelined commands read together at once), or in one
	 * send each before it read on (a server does not read ahead of
	 * replies it has not written). Otherwise every later reply answers
	 * an older request.
	 */
	if (q->answered && q->at_reply > 1 && q->at_reply == n) {
		/* the newest of them stays, answered (no loop: BPF's budget) */
		q->req[0] = q->req[(n - 1) & (KRT_SIDE_REQS - 1)];
		q->n = n = 1;
		q->at_reply = 1;
	}
#endif
	if (n && !(n == 1 && q->answered) && from && q->from && from != q->from) {
		q->req[0] = trace;
		q->n = 1;
		q->answered = 0;
		q->from = from;
		return;
	}
	if (from)
		q->from = from;
	if (n == 1 && q->answered) {
		/* the previous request was answered: keep-alive, next request */
		q->req[0] = trace;
		q->answered = 0;
		return;
	}
	if (n >= KRT_SIDE_REQS) {
		/* the oldest unanswered request is forgotten (a bounded queue) */
		krt_side_reqs_shift(q);
		n = KRT_SIDE_REQS - 1;
	}
	q->req[n & (KRT_SIDE_REQS - 1)] = trace;
	q->n = n + 1;
}

/*
 * The side's queue holds trace already (not answered yet, or the answered
 * oldest): one read that carried several requests queued each of them.
 */
static __inline__ __attribute__((always_inline)) int
krt_side_req_queued(const struct krt_side_reqs *q, __u64 trace)
{
	int i;

	for (i = 0; i < KRT_SIDE_REQS; i++)
		if (i < q->n && q->req[i] == trace)
			return 1;
	return 0;
}

/*
 * A request's bytes: a send of its own (cont: the rest of a send partly
 * read before).
 */
static __inline__ __attribute__((always_inline)) void
krt_side_req_received_from(struct krt_side_reqs *q, __u64 trace, __u32 from)
{
	krt_side_req_received_seg(q, trace, from, 0);
}

/* The same, the sender not known. */
static __inline__ __attribute__((always_inline)) void krt_side_req_received(struct krt_side_reqs *q,
									    __u64 trace)
{
	krt_side_req_received_from(q, trace, 0);
}

/* The request krt_side_req_reply would name, the queue left as it is. */
static __inline__ __attribute__((always_inline)) __u64
krt_side_req_peek(const struct krt_side_reqs *q)
{
	if (!q->n)
		return 0;
	return q->answered && q->n > 1 ? q->req[1] : q->req[0];
}

/*
 * The request a server's send on this side answers: the oldest not yet
 * answered. It stays the answer while no later one is queued, so a reply
 * written in several sends keeps its tag. 0 when nothing was received.
 */
static __inline__ __attribute__((always_inline)) __u64 krt_side_req_reply(struct krt_side_reqs *q)
{
	if (!q->n)
		return 0;
	if (q->answered && q->n > 1)
		krt_side_reqs_shift(q);
	q->answered = 1;
	q->at_reply = q->n;
	return q->req[0];
}

#endif /* KRTRACE_RULES_H */
