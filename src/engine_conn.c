/*
 * Engine connections: byte matching per connection direction (segments,
 * pending receives, sequence numbers), the request and tagging rules 1-3,
 * thread-pool hand-off queues, and connect()/socket state.
 */
#include "engine_internal.h"
#include "peers.h"

/* ---------------------------------------------------------------------- */
/* Connection directions                                                   */

struct dir_key {
	const struct krt_addr *src, *dst;
};

static bool dir_eq(const void *obj, const void *key)
{
	const struct dir *d = obj;
	const struct dir_key *k = key;

	return krt_addr_eq(&d->src, k->src) && krt_addr_eq(&d->dst, k->dst);
}

static __u64 dir_hash(const struct krt_addr *src, const struct krt_addr *dst)
{
	return mix64(krt_addr_hash(src) * 31 + krt_addr_hash(dst));
}

static struct dir *dir_alloc(struct krt_engine *e, const struct krt_addr *src,
			     const struct krt_addr *dst)
{
	struct dir *d = eng_xcalloc(1, sizeof(*d));

	d->src = *src;
	d->dst = *dst;
	d->hash = dir_hash(src, dst);
	d->serial = ++e->next_dir_serial;
	d->loss_epoch = e->loss_epoch;
	eng_table_insert(&e->dirs, d->hash, d);
	return d;
}

/* Direction src -> dst; both directions of the connection are made together. */
static struct dir *conn_get(struct krt_engine *e, const struct krt_addr *src,
			    const struct krt_addr *dst, __u64 ts)
{
	struct dir_key k = {src, dst};
	struct dir *d = e->dir_hit;

	/* the last connection, either way */
	if (d && !dir_eq(d, &k))
		d = dir_eq(d->rev, &k) ? d->rev : NULL;
	if (!d)
		d = eng_table_find(&e->dirs, dir_hash(src, dst), &k, dir_eq);
	if (!d) {
		d = dir_alloc(e, src, dst);
		d->rev = dir_alloc(e, dst, src);
		d->rev->rev = d;
	}
	d->last_ns = d->rev->last_ns = ts;
	e->dir_hit = d;
	return d;
}

_Static_assert((MAX_SEGMENTS & (MAX_SEGMENTS - 1)) == 0, "segment queues are indexed by a mask");

struct segment *eng_seg_at(struct dir *d, __u32 i)
{
	/* q_cap is a power of two (4 doubling to MAX_SEGMENTS): a mask, not a division */
	return &d->q[(d->q_head + i) & (d->q_cap - 1)];
}

static __u64 queued_end(const struct dir *d)
{
	return d->send_next;
}

/*
 * Is addr (the src end of d) a traced endpoint: used by a traced thread, or
 * an address of a listed container (and not the gateway)?
 */
static bool endpoint_traced(struct krt_engine *e, const struct dir *d)
{
	size_t n;

	if (eng_is_gateway(e, &d->src))
		return false;
	if (d->side_last_tid)
		return true;
	return eng_container_by_ip(e, &d->src, &n) != NULL;
}

/* The unreceived rest of a segment leaves the queue: it stays a hop to an address. */
void eng_seg_drop(struct krt_engine *e, struct dir *d, struct segment *s)
{
	__u64 rest = s->len > s->used ? s->len - s->used : 0;

	if (rest && endpoint_traced(e, d->rev))
		e->sum.unmatched_send_bytes += rest;
}

static void pending_drop(struct krt_engine *e, struct dir *d, __u32 i)
{
	/* no send decides it any more: the rules' trace is what they had (none) */
	if (d->pend[i].check)
		eng_check_kernel_tag(e, d->pend[i].check_kid, d->pend[i].check_rule,
				     d->pend[i].recv_ns);
	e->sum.unmatched_recv_bytes += d->pend[i].len;
	memmove(&d->pend[i], &d->pend[i + 1], (d->n_pend - i - 1) * sizeof(d->pend[0]));
	d->n_pend--;
}

/*
 * A pending receive that waited too long: its send was never seen. Resync
 * the send offset past it, otherwise every later send would pair with the
 * receive before it (import offsets are running counts).
 */
void eng_pending_expire(struct krt_engine *e, struct dir *d, __u64 now, bool all)
{
	while (d->n_pend && (all || d->pend[0].recv_ns + PENDING_NS < now)) {
		__u64 end = d->pend[0].off + d->pend[0].len;

		if (end > d->send_next)
			d->send_next = end;
		pending_drop(e, d, 0);
	}
}

/* Forget the data state of a connection that (re)opens on the same tuple. */
static void dir_reset_data(struct krt_engine *e, struct dir *d)
{
	while (d->q_len) {
		eng_seg_drop(e, d, eng_seg_at(d, 0));
		d->q_head = (d->q_head + 1) & (d->q_cap - 1);
		d->q_len--;
	}
	eng_pending_expire(e, d, 0, true);
	d->send_next = d->recv_next = 0;
	d->sends = 0;
	d->loss_epoch = e->loss_epoch;
	d->seq_init = false;
	d->side_last_recv_trace = 0;
	d->side_received = false;
	d->side_reqs.n = 0;
	d->side_reqs.answered = false;
	d->side_ingress = false;
	d->side_ingress_tid = 0;
	d->side_in_request = false;
}

void eng_dir_free_pair(struct krt_engine *e, struct dir *d)
{
	struct dir *r = d->rev;

	dir_reset_data(e, d);
	dir_reset_data(e, r);
	eng_table_remove(&e->dirs, d->hash, d);
	eng_table_remove(&e->dirs, r->hash, r);
	if (e->dir_hit == d || e->dir_hit == r)
		e->dir_hit = NULL;
	free(d->q);
	free(r->q);
	free(d);
	free(r);
}

/* Unwrap a 32-bit TCP sequence number to 64 bits near the last one seen. */
static __u64 seq_unwrap(struct dir *d, __u64 seq)
{
	__u32 s = (__u32)seq;
	__u64 v;

	if (!d->seq_init) {
		d->seq_init = true;
		d->seq_ref = (1ULL << 32) + s;
		/* offsets of this direction now live in sequence space */
		d->send_next = d->recv_next = d->seq_ref;
		return d->seq_ref;
	}
	v = d->seq_ref + (__s64)(__s32)(s - (__u32)d->seq_ref);
	if (v > d->seq_ref)
		d->seq_ref = v;
	return v;
}

static void seg_push(struct krt_engine *e, struct dir *d, const struct segment *s)
{
	while (d->q_len && eng_seg_at(d, 0)->send_ns + SEGMENT_MAX_AGE_NS < s->send_ns) {
		eng_seg_drop(e, d, eng_seg_at(d, 0));
		d->q_head = (d->q_head + 1) & (d->q_cap - 1);
		d->q_len--;
		e->sum.dropped_segments++;
	}
	if (d->q_len == d->q_cap) {
		if (d->q_cap >= MAX_SEGMENTS) {
			/* nobody is receiving this direction (untraced peer): drop oldest */
			eng_seg_drop(e, d, eng_seg_at(d, 0));
			d->q_head = (d->q_head + 1) & (d->q_cap - 1);
			d->q_len--;
			e->sum.dropped_segments++;
		} else {
			__u32 cap = d->q_cap ? d->q_cap * 2 : 4, i;
			struct segment *q = eng_xcalloc(cap, sizeof(*q));

			for (i = 0; i < d->q_len; i++)
				q[i] = *eng_seg_at(d, i);
			free(d->q);
			d->q = q;
			d->q_cap = cap;
			d->q_head = 0;
		}
	}
	*eng_seg_at(d, d->q_len++) = *s;
}

static const char *addr_s(const struct krt_addr *a, char *buf)
{
	return krt_addr_str(a, buf, KRT_ADDR_STRLEN);
}

/* When a transfer's syscall began (its event time when unknown). */
static __u64 xfer_start(const struct krt_event *ev)
{
	const struct krt_xfer *x = &ev->xfer;

	return x->enter_ns && x->enter_ns < ev->ts_ns ? x->enter_ns : ev->ts_ns;
}

static bool side_is_server(const struct dir *side);

/*
 * Requests the side received before a loss and has not answered: their
 * replies went out unseen. Forgotten, or the next reply would be charged
 * to the oldest of them (rule 3a).
 */
static void side_req_forget(struct dir *side)
{
	side->side_reqs.n = 0;
	side->side_reqs.answered = false;
}

/*
 * A misalignment no reported loss explains: events were lost silently (the
 * import format's grep removes trace-cmd's drop markers). Every connection
 * re-aligns at its next transfer, as after a reported loss.
 */
static void silent_loss(struct krt_engine *e, const struct krt_event *ev)
{
	if (e->loss_epoch && e->loss_ns + SILENT_LOSS_GAP_NS > ev->ts_ns)
		return;
	e->loss_epoch++;
	e->loss_ns = ev->ts_ns;
	e->sum.silent_losses++;
	eng_trace_mark_loss(e, ev->ts_ns, KRT_LOST_UNREPORTED, 0);
	if (e->cfg.verbose)
		eng_vlog(e, ev->ts_ns, NULL, ev->tid, 0,
			 "misaligned bytes, no loss reported: events were lost, re-aligning");
}

static void resync_log(struct krt_engine *e, const struct krt_event *ev, const struct dir *d,
		       const char *what, __u64 bytes)
{
	char a[KRT_ADDR_STRLEN], b[KRT_ADDR_STRLEN];

	e->sum.resyncs++;
	if (e->cfg.verbose)
		eng_vlog(e, ev->ts_ns, NULL, ev->tid, 0, "RESYNC %s -> %s: %s (%llu B)",
			 addr_s(&d->src, a), addr_s(&d->dst, b), what, (unsigned long long)bytes);
}

/*
 * Pending receives a send on d cannot explain: received before a loss this
 * send comes after, or before the send's syscall even began. Their own
 * sends were lost: the send offset moves past them, otherwise this send
 * would pair with them and every later one with the receive before its own
 * (import offsets are running counts).
 */
static void pending_drop_stale(struct krt_engine *e, struct dir *d, const struct krt_event *ev)
{
	__u64 start = xfer_start(ev), bytes = 0;

	while (d->n_pend) {
		struct pending_recv *p = &d->pend[0];

		if (p->loss_epoch == e->loss_epoch && p->recv_ns + PENDING_CAUSAL_SLACK_NS >= start)
			break;
		if (p->off + p->len > d->send_next)
			d->send_next = p->off + p->len;
		bytes += p->len;
		pending_drop(e, d, 0);
	}
	if (!bytes)
		return;
	resync_log(e, ev, d, "receives without their sends dropped", bytes);
	silent_loss(e, ev);
	/*
	 * The lost sends answered the older requests this side received:
	 * the newest one is what it answers now (rule 3a).
	 */
	if (d->side_reqs.n > 1) {
		d->side_reqs.req[0] = d->side_reqs.req[d->side_reqs.n - 1];
		d->side_reqs.n = 1;
		d->side_reqs.answered = false;
	}
}

/*
 * Where a receive of len bytes on d starts. Import offsets are running
 * byte counts: one lost send or receive shifts every later pairing on the
 * direction (keep-alive connections pair each request with the one before).
 * The receive is re-aligned when
 *  - a loss happened since d was last aligned: it ends where the sends seen
 *    so far end. What was queued before it was received unseen; what it
 *    holds beyond the queue was sent unseen (*lost: those bytes, they must
 *    not wait for a send);
 *  - it read fewer bytes than were queued well before its syscall began,
 *    and the newest of those are exactly its size, whole segments: the
 *    older ones were received unseen (a loss the source did not report).
 */
/*
 * Are the unread bytes of d, from off on, one send made after the last
 * loss (reported, or noticed as a misalignment) and not read from yet? A
 * receive of fewer bytes reads its head (a length prefix, a small buffer):
 * its tail would mean the head was received unseen after the loss. With
 * more sends queued, the newest whole ones are what the receive more
 * likely read (the loss may have left a send on the wrong connection).
 */
static bool sent_after_loss(const struct krt_engine *e, struct dir *d, __u64 off)
{
	const struct segment *s = d->q_len == 1 ? eng_seg_at(d, 0) : NULL;

	return s && s->off == off && !s->used && s->send_ns > e->loss_ns;
}

static __u64 recv_align(struct krt_engine *e, struct dir *d, const struct krt_event *ev, __u64 len,
			__u64 *lost)
{
	__u64 off = d->recv_next, queued, avail_end, start;
	__u32 i;

	*lost = 0;
	if (d->loss_epoch != e->loss_epoch) {
		__u64 pend = 0;

		d->loss_epoch = e->loss_epoch;
		if (side_is_server(d->rev) && d->rev->side_reqs.n && !d->rev->side_reqs.answered) {
			side_req_forget(d->rev);
			resync_log(e, ev, d->rev, "after lost events: unanswered requests", 0);
		}
		for (i = 0; i < d->n_pend; i++)
			pend += d->pend[i].len;
		eng_pending_expire(e, d, 0, true);
		queued = d->send_next > off ? d->send_next - off : 0;
		if (len < queued && sent_after_loss(e, d, off)) {
			/*
			 * Only a send made since the loss waits: the receive reads
			 * its head (thrift reads a frame's length, then its body:
			 * aligned to the end, the body lost its receiver).
			 */
			return off;
		}
		if (len < queued) {
			off = d->send_next - len;
			resync_log(e, ev, d, "after lost events: older sends dropped",
				   queued - len);
		} else if (len > queued) {
			*lost = len - queued;
			resync_log(e, ev, d, "after lost events: bytes of unseen sends", *lost);
		} else if (pend) {
			resync_log(e, ev, d, "after lost events: pending receives dropped", pend);
		}
		return off;
	}
	start = xfer_start(ev);
	avail_end = off;
	for (i = 0; i < d->q_len; i++) {
		struct segment *s = eng_seg_at(d, i);

		if (s->send_ns + AVAIL_SLACK_NS >= start)
			break;
		avail_end = u64max(avail_end, s->off + s->len);
	}
	if (avail_end <= off + len)
		return off;
	for (i = 0; i < d->q_len; i++) {
		struct segment *s = eng_seg_at(d, i);

		if (s->off > avail_end - len)
			break;
		if (s->off == avail_end - len && !s->used && s->off > off) {
			resync_log(e, ev, d, "read fewer bytes than queued: older sends dropped",
				   s->off - off);
			silent_loss(e, ev);
			d->loss_epoch = e->loss_epoch; /* aligned now */
			return s->off;
		}
	}
	return off;
}

/* ---------------------------------------------------------------------- */
/* Byte matching                                                           */

/* Offsets of a direction are TCP sequence numbers once a source gave one. */
static void hop_seq(const struct dir *d, struct krt_hop *h, __u64 off)
{
	if (d->seq_init) {
		h->seq = (__u32)off;
		h->has_seq = 1;
	}
}

/* The hop of k bytes of segment s (from offset first) to thread to, in trace tr. */
static void seg_add_hop(struct trace *tr, struct dir *d, const struct segment *s, __u64 k,
			__u64 first, struct thread *to, __u32 to_goid, __u64 recv_ns)
{
	struct krt_hop h;

	memset(&h, 0, sizeof(h));
	h.from_tid = s->from_tid;
	h.to_tid = to ? to->tid : 0;
	h.from_thread = s->from_thread;
	h.to_thread = to ? to->go_thread : 0;
	h.from_goid = s->from_goid;
	h.to_goid = to_goid;
	h.from_addr = d->src;
	h.to_addr = d->dst;
	h.bytes = k;
	h.send_ns = s->send_ns;
	h.recv_ns = recv_ns;
	hop_seq(d, &h, first);
	eng_trace_mark_hop(tr, eng_trace_add_hop(tr, &h), s->uncertain);
	if (to)
		eng_trace_thread(tr, to, recv_ns, recv_ns);
}

/*
 * k bytes of segment s (sent on d) reach thread to (NULL: unknown
 * receiver). The send's hop to the address node shrinks by k, or becomes
 * the thread-to-thread hop when it is consumed whole.
 */
static void seg_deliver_main(struct krt_engine *e, struct dir *d, struct segment *s, __u64 k,
			     struct thread *to, __u32 to_goid, __u64 recv_ns)
{
	struct trace *tr;
	__u64 first = s->off + s->used; /* the delivered bytes come first */

	s->used += k;
	tr = s->trace ? eng_trace_live(e, s->trace) : NULL;
	/*
	 * After a pause, untagged bytes of a reply to an event loop's call are
	 * a request's read while the hooks were off (engine_unseen.c,
	 * eng_loop_unseen_recv gives them a hidden trace): not the work of the
	 * request the loop read last, its current one. No hop rather than a
	 * wrong one (seen at 16 connections once the loop is back in step: the
	 * request read last sure of another's reply).
	 */
	if (!tr && to && !side_is_server(d->rev) && eng_loop_kernel_zero_off(e, to))
		return;
	if (!tr && to && to->cur) {
		struct thread *from = eng_thread_find(e, s->from_tid);

		tr = eng_trace_find(e, to->cur); /* untagged bytes: receiver's trace */
		/* the sender's work is in it too (a hand-back looks there) */
		if (tr && from)
			eng_thread_touched(from, tr->pub.id, recv_ns);
	}
	if (!tr)
		return;
	if (s->hop != ~0U && eng_trace_find(e, s->trace) == tr)
		s->hop = eng_trace_send_hop(tr, s->hop, s->send_ns, s->from_tid);
	if (s->hop != ~0U && eng_trace_find(e, s->trace) == tr && s->hop < tr->pub.n_hops) {
		struct krt_hop *sh = &tr->pub.hops[s->hop];

		if (sh->to_tid == 0 && sh->recv_ns == 0 && sh->bytes <= k) {
			sh->to_tid = to ? to->tid : 0;
			sh->to_thread = to ? to->go_thread : 0;
			sh->to_goid = to_goid;
			sh->recv_ns = recv_ns;
			sh->bytes = k;
			s->hop = ~0U;
			eng_trace_activity(tr, recv_ns);
			if (to)
				eng_trace_thread(tr, to, recv_ns, recv_ns);
			return;
		}
		sh->bytes -= u64min(sh->bytes, k);
		sh->seq += (__u32)k; /* what is left of the send follows what was read */
	}
	seg_add_hop(tr, d, s, k, first, to, to_goid, recv_ns);
}

/*
 * Does request trace, which the reply s may also answer, have a reply of
 * its own sent after s (a server that writes one reply per send)?
 */
static bool also_sent_apart(struct dir *d, const struct segment *s, __u64 trace)
{
	__u32 i;

	for (i = 0; i < d->q_len; i++) {
		const struct segment *o = eng_seg_at(d, i);

		if (o->off > s->off && o->trace == trace)
			return true;
	}
	return false;
}

static bool side_is_server(const struct dir *side);

/*
 * A receive of reply s on d: the later requests it may also answer (struct
 * segment's also) are owed by the receiver and in its loop's tick, each a
 * callback of its own (recv_consume, and match_pending for a receive read
 * before the send was seen).
 */
static void recv_takes_also(struct krt_engine *e, struct thread *t, struct dir *d,
			    const struct segment *s)
{
	__u8 i;

	for (i = 0; i < s->n_also; i++) {
		if (also_sent_apart(d, s, s->also[i]))
			continue;
		eng_owed_add(e, t, s->also[i]);
		eng_loop_tick_add(t, s->also[i]);
		if (!side_is_server(d->rev))
			eng_loop_reply_got(e, t, s->also[i]);
	}
}

/*
 * The same, and a reply that may also answer later requests of its side
 * (struct segment's also) is a hop of each of them too: the send is not
 * split by request, so each holds its bytes.
 */
static void seg_deliver(struct krt_engine *e, struct dir *d, struct segment *s, __u64 k,
			struct thread *to, __u32 to_goid, __u64 recv_ns)
{
	__u64 first = s->off + s->used;
	__u8 i;

	seg_deliver_main(e, d, s, k, to, to_goid, recv_ns);
	for (i = 0; i < s->n_also; i++) {
		struct trace *tr = eng_trace_live(e, s->also[i]);

		if (!tr || also_sent_apart(d, s, s->also[i]))
			continue;
		seg_add_hop(tr, d, s, k, first, to, to_goid, recv_ns);
	}
}

/*
 * A traced receive learnt the trace of the bytes: rule 2. doubt: the bytes
 * were tagged by a guess (enum krt_uncertain), which the receiver inherits.
 */
static void receiver_takes(struct krt_engine *e, struct thread *t, struct dir *d, __u64 trace,
			   __u64 ts, __u32 doubt)
{
	/*
	 * The trace it holds, read on a connection it called out on: the
	 * reply to one of its own calls. That connection is no entry of the
	 * trace (rule 5): a later send on it (a second command, a one-way
	 * message such as memcached's "set ... noreply") answers nothing, and
	 * the thread blocking after it is still at work (as the kernel's
	 * thread_takes_trace keeps the request's connection as the entry).
	 */
	bool own_call = trace == t->cur && !side_is_server(d->rev);

	if (!trace)
		return;
	/* a request it read may go to a pool; a reply to its own call may not */
	if (trace != t->cur && side_is_server(d->rev)) {
		eng_handoff_push(t, trace);
		eng_reader_remember(e, t);
	}
	eng_thread_set_trace(e, t, trace, ts);
	/*
	 * Bytes decide: a trace a wake-up passed on (a guess) and the bytes
	 * confirm is no longer a claim that ends at the next block (a thread
	 * waiting for a runtime's lock blocks mid-request).
	 */
	t->wake_claim = false;
	t->guess = doubt != 0;
	eng_owed_add(e, t, trace);
	eng_loop_tick_add(t, trace);
	if (!own_call)
		eng_thread_add_entry(t, trace, d->serial);
	d->rev->side_last_recv_trace = trace;
}

static void side_queue(struct krt_engine *e, struct dir *sv, const struct segment *s, bool cont);

/* A send completes receives that were waiting for it. Returns bytes used. */
static void match_pending(struct krt_engine *e, struct dir *d, struct segment *s)
{
	while (d->n_pend && s->used < s->len) {
		struct pending_recv *p = &d->pend[0];
		__u64 a = u64max(s->off + s->used, p->off);
		__u64 b = u64min(s->off + s->len, p->off + p->len);
		struct thread *to;

		if (b <= a) {
			if (p->off + p->len <= s->off + s->used) {
				pending_drop(e, d, 0); /* before this send: lost */
				continue;
			}
			break; /* pending is after this segment */
		}
		if (a > p->off)
			e->sum.unmatched_recv_bytes += a - p->off;
		s->used = a - s->off;
		to = eng_thread_find(e, p->to_tid);
		seg_deliver(e, d, s, b - a, to, p->to_goid, p->recv_ns);
		side_queue(e, d->rev, s, a > s->off);
		if (to && to->recv_count == p->recv_count && s->trace) {
			receiver_takes(e, to, d, s->trace, p->recv_ns, s->uncertain);
			/*
			 * A pipelined reply read before its send was seen (node
			 * under load: the receive's hook ran first) answers its
			 * later requests too, as in recv_consume: without them
			 * the loop's tick held one trace for several callbacks,
			 * the others fell to "oldest request not started", sure
			 * of it, and every pick after was one request off (525
			 * wrong of 20000 at 16 connections, two busy loops).
			 */
			recv_takes_also(e, to, d, s);
		}
		/* its goroutine's, unless it had another since (eng_go_note) */
		if (to && s->trace)
			eng_go_note(e, to, p->to_goid, s->trace, p->recv_ns);
		if (s->trace)
			p->check_rule = s->trace; /* as recv_consume: the last traced send */
		p->len = p->off + p->len - b;
		p->off = b;
		/* its last receive is known now (but not whose a doubted reply is: recv_consume) */
		if (to && to->recv_count == p->recv_count && !p->len && !s->answers_unseen)
			to->tick_unknown = false;
		if (!p->len && p->check)
			eng_check_kernel_tag(e, p->check_kid, p->check_rule, p->recv_ns);
		if (!p->len)
			memmove(&d->pend[0], &d->pend[1], --d->n_pend * sizeof(d->pend[0]));
	}
}

static struct pending_connect *connect_find(struct krt_engine *e, __u64 sock_id,
					    const struct krt_tuple *tp, __u32 tid);
static void dir_set_connect(struct dir *d, __u32 tid, __u64 trace);

static bool side_is_server(const struct dir *side)
{
	if (side->side_role)
		return side->side_role == ROLE_SERVER;
	return side->src.port < 32768 && side->dst.port >= 32768;
}

/*
 * --peers: bytes from another traced host to the server side of d's
 * connection are a request continuing here (docs/hosts.md); to a client
 * side they are the reply to its call, and leave its trace as it is.
 */
static bool peer_request(const struct krt_engine *e, const struct dir *d)
{
	return e->cfg.peers && side_is_server(d->rev) && krt_peers_match(e->cfg.peers, &d->src);
}

/*
 * A server replies on side d while its thread already works on a newer
 * request of that side (it sent for it): the older requests before it were
 * answered unseen (their replies lost), or this reply would answer the
 * wrong one, and every later one too. Not pipelining: a pipelining server
 * answers a request before it works on the next.
 */
static void side_req_catch_up(struct krt_engine *e, const struct krt_event *ev, struct dir *d,
			      const struct thread *t)
{
	unsigned int next = d->side_reqs.answered ? 1 : 0, k;

	/*
	 * It works on cur if it sent for it since the side's newest request
	 * came: a server that read pipelined requests of which the newest
	 * belongs to the trace it last answered has sent nothing for it yet.
	 */
	if (ev->xfer.flags & KRT_XF_SEQ || d->side_reqs.n <= next + 1 || !t->cur ||
	    t->last_sent_trace != t->cur || t->last_sent_ns < d->side_recv_ns)
		return; /* live: every receive is seen unless a loss is reported */
	/*
	 * The oldest unanswered request came in the last receive, with no
	 * reply since: requests pipelined and read at once (redis reading an
	 * event loop's commands of several traces), answered in order; the
	 * thread's trace is the last bytes', whatever it sent elsewhere.
	 */
	if (d->side_reply_ns < d->side_recv_ns && d->side_batch_base <= next)
		return;
	for (k = next + 1; k < d->side_reqs.n; k++)
		if (d->side_reqs.req[k] == t->cur)
			break;
	if (k == d->side_reqs.n)
		return;
	memmove(&d->side_reqs.req[0], &d->side_reqs.req[k],
		(d->side_reqs.n - k) * sizeof(d->side_reqs.req[0]));
	d->side_reqs.n -= k;
	d->side_reqs.answered = false;
	resync_log(e, ev, d, "works on a newer request: older ones answered unseen", 0);
	silent_loss(e, ev);
}

/* Is trace one of the requests queued on server side d? */
static bool side_holds(const struct dir *d, __u64 trace)
{
	__u8 i;

	for (i = 0; i < d->side_reqs.n && i < KRT_SIDE_REQS; i++)
		if (d->side_reqs.req[i] == trace)
			return true;
	return false;
}

/* Bytes received on d after ns that no seen send explains (yet). */
static bool pending_since(const struct dir *d, __u64 ns)
{
	__u32 i;

	for (i = 0; i < d->n_pend; i++)
		if (d->pend[i].recv_ns > ns)
			return true;
	return false;
}

/* The thread that sends on d: the event's, or (no context) the side's last. */
static struct thread *send_thread(struct krt_engine *e, const struct krt_event *ev, struct dir *d,
				  const struct krt_tuple *tp)
{
	struct thread *t;

	if (ev->tid)
		t = eng_thread_touch(e, ev->tid, ev->pid, ev->comm);
	else
		t = eng_thread_find(e, d->side_last_tid); /* probe in another context */
	if (!t)
		return NULL;
	d->side_last_tid = t->tid;
	eng_thread_container_by_ip(e, t, &tp->local);
	if (!d->sends && !d->side_connect_pending) {
		/* first send: its connect() may not have shown the port */
		struct pending_connect *c = connect_find(e, 0, tp, t->tid);

		if (c) {
			dir_set_connect(d, c->tid, c->trace);
			c->live = false;
		}
	}
	/* not a reply on a connection it serves: maybe a pool worker's next job */
	if (!d->side_ingress && !(side_is_server(d) && d->side_received) &&
	    !(ev->xfer.flags & KRT_XF_MAYBE_UNSAMPLED && !(ev->xfer.flags & KRT_XF_TAGGED) &&
	      e->cfg.use_kernel_tags && eng_pool_sampled_job(e, t, ev->xfer.trace_id, ev->ts_ns)))
		eng_pool_send_begins(e, t, ev->ts_ns);
	return t;
}

/*
 * Import: a reply on side d with no request seen since its last one either
 * continues that reply (a response written in several sends, however late
 * the last of them: a threaded app under load writes a chunked body's end
 * milliseconds later) or answers a request whose events were lost. Only
 * the reply's own exchange tells, never the time since: it is over when
 * the request it answers has been answered to its client, or when the
 * client thread acted on the reply (sent bytes of that trace after it
 * received the reply's last bytes). Then a request went unseen.
 */
static bool side_exchange_over(struct krt_engine *e, const struct dir *d, __u32 tid)
{
	struct trace *tr = eng_trace_find(e, d->side_reqs.req[0]);
	__u32 client = 0;
	__u64 got = 0;
	size_t i;

	if (!tr)
		return true;
	/*
	 * Answered to its client elsewhere. On the gateway's connection the
	 * reply's own first send answered it: a second send of the same
	 * thread (a JVM writes the headers, then the body; so does asyncio)
	 * continues it. Another thread answering there (a pool thread on a
	 * keep-alive connection) answers a request not seen.
	 */
	if (tr->answered && d->side_ingress) {
		for (i = tr->pub.n_hops; i-- > 0;) {
			const struct krt_hop *h = &tr->pub.hops[i];

			if (krt_addr_eq(&h->from_addr, &d->src) &&
			    krt_addr_eq(&h->to_addr, &d->dst))
				return h->from_tid != tid;
		}
		return true;
	}
	if (tr->answered)
		return true;
	for (i = tr->pub.n_hops; i-- > 0;) {
		const struct krt_hop *h = &tr->pub.hops[i];

		if (h->to_tid && h->recv_ns && krt_addr_eq(&h->from_addr, &d->src) &&
		    krt_addr_eq(&h->to_addr, &d->dst)) {
			client = h->to_tid;
			got = h->recv_ns;
			break;
		}
	}
	for (i = 0; client && i < tr->pub.n_hops; i++)
		if (tr->pub.hops[i].from_tid == client && tr->pub.hops[i].send_ns > got)
			return true;
	return false;
}

/*
 * Rule 3: the tag of thread t's send on d. A server's reply answers the
 * oldest unanswered request of its side (3a); a client's first send carries
 * the trace of connect time (3b); otherwise the thread's current trace.
 */
static __u64 send_tag(struct krt_engine *e, const struct krt_event *ev, struct dir *d,
		      struct thread *t, const char **why, bool *reply)
{
	const struct krt_xfer *x = &ev->xfer;
	bool serves = side_is_server(d) && d->side_received;
	__u64 tag;

	if (serves && d->side_reqs.n == 1 && d->side_reqs.answered &&
	    (d->side_reply_epoch != e->loss_epoch ||
	     (!(x->flags & KRT_XF_SEQ) &&
	      ((d->side_recv_ns < d->side_reply_ns && side_exchange_over(e, d, t->tid)) ||
	       pending_since(d->rev, d->side_reply_ns))))) {
		/*
		 * The last request was answered before events were lost, or
		 * (import, where losses may go unreported) its exchange is
		 * over with no request seen since, or what came since is bytes
		 * of a send not seen: this replies to a request whose trace is
		 * unknown (the thread's current one is the old request's).
		 */
		if (d->side_reply_epoch == e->loss_epoch && !(x->flags & KRT_XF_SEQ))
			silent_loss(e, ev);
		side_req_forget(d);
		resync_log(e, ev, d, "reply to a request not seen", x->bytes);
		*why = "reply to an unseen request";
		return 0;
	}
	/*
	 * Sampling (a window's drain, --sample): the kernel says this send is
	 * an unsampled request's (KRT_XF_SAMPLED_OUT: the thread holds its
	 * hidden trace), on a side whose last request, sampled, was answered
	 * with nothing read since: the reply to a request whose read went
	 * unrecorded (not sampled), not the rest of that reply. Rule 3a would
	 * name the answered request (seen: thrift's front in a window's
	 * drain, a keep-alive connection's next replies in the trace before,
	 * wrong); the kernel's tag decides.
	 */
	if (serves && d->side_reqs.n == 1 && d->side_reqs.answered &&
	    x->flags & KRT_XF_SAMPLED_OUT && x->flags & KRT_XF_TAGGED && x->trace_id &&
	    d->side_recv_ns < d->side_reply_ns) {
		side_req_forget(d);
		*why = "reply to an unsampled request";
		return 0;
	}
	if (serves && d->side_reqs.n) {
		side_req_catch_up(e, ev, d, t);
		d->side_reply_epoch = e->loss_epoch;
		d->side_reply_ns = ev->ts_ns;
		tag = krt_side_req_reply(&d->side_reqs);
		if (d->side_reqs.n <= 1)
			d->side_overflow = false; /* drained: replies answer in order again */
		*reply = true;
		*why = d->side_reqs.n > 1 ? "reply on request conn, pipelined"
					  : "reply on request conn";
		return tag;
	}
	if (d->side_connect_pending && d->side_connect_tid == t->tid && d->side_connect_trace) {
		*why = "deferred: trace at connect";
		return d->side_connect_trace;
	}
	if (t->cur) {
		*why = "current";
		return t->cur;
	}
	return 0;
}

/*
 * What a send of tag tells about its thread and its request: rule 5's
 * "answered" (on the connection its trace came in on), and at the
 * gateway, the request done. True when t, a pool worker, takes its next
 * job right after this reply.
 */
static bool send_answers(struct krt_engine *e, struct dir *d, struct thread *t, __u64 tag)
{
	struct trace *done;

	if (t && tag)
		t->last_sent_trace = tag;
	/* the traced side answered: the next gateway receive is a new request */
	d->side_in_request = false;
	if (t && t->cur && eng_thread_has_entry(t, t->cur, d->rev->serial)) {
		t->replied = true;
		eng_handoff_remove(t, t->cur); /* answered here, not handed off */
	}
	if (!d->side_ingress || !tag)
		return false;
	/* the reply to the client: that request is done */
	done = eng_trace_find(e, tag);
	if (done)
		done->answered = true;
	return t && eng_pool_reply_sent(e, t, tag, d->side_ingress_tid);
}

/*
 * The sent bytes as a segment of d for their receiver, and as a hop of
 * their trace to the destination address until a receive names the thread.
 */
static void send_segment(struct krt_engine *e, const struct krt_event *ev, struct dir *d,
			 struct thread *t, __u64 tag, __u32 doubt, bool over_kernel, bool reply,
			 bool answers_unseen, const char *why)
{
	const struct krt_xfer *x = &ev->xfer;
	struct segment s;
	struct trace *tr;

	memset(&s, 0, sizeof(s));
	s.off = x->flags & KRT_XF_SEQ ? seq_unwrap(d, x->seq) : d->send_next;
	s.len = x->bytes;
	s.trace = tag;
	s.send_ns = ev->ts_ns;
	s.from_tid = t ? t->tid : 0;
	s.from_thread = t ? t->go_thread : 0;
	s.from_goid = x->goid;
	s.hop = ~0U;
	s.uncertain = doubt;
	s.over_kernel = over_kernel;
	s.answers_unseen = answers_unseen;
	if (reply && d->side_reqs.n > 1 && d->side_reqs.req[0] == tag) {
		__u8 i;

		for (i = 1; i < d->side_reqs.n && s.n_also < KRT_SIDE_REQS - 1; i++)
			if (d->side_reqs.req[i] != tag)
				s.also[s.n_also++] = d->side_reqs.req[i];
	}
	if (s.off + s.len > d->send_next)
		d->send_next = s.off + s.len;

	if (e->cfg.verbose) {
		char a[KRT_ADDR_STRLEN], b[KRT_ADDR_STRLEN];

		eng_vlog(e, ev->ts_ns, t, ev->tid, tag, "SEND %s -> %s %llu B  tag %llu (%s)",
			 addr_s(&d->src, a), addr_s(&d->dst, b), (unsigned long long)s.len,
			 (unsigned long long)tag, why);
	}
	if (!s.len)
		return;
	tr = tag ? eng_trace_live(e, tag) : NULL;
	if (tr && t && t->tid == tr->pub.ingress.tid)
		tr->ingress_acted = true;
	if (tr) {
		struct krt_hop h = {.from_tid = s.from_tid,
				    .from_thread = s.from_thread,
				    .from_goid = s.from_goid,
				    .from_addr = d->src,
				    .to_addr = d->dst,
				    .bytes = s.len,
				    .send_ns = s.send_ns};

		hop_seq(d, &h, s.off);
		s.hop = eng_trace_add_hop(tr, &h);
		eng_trace_mark_hop(tr, s.hop, doubt);
		if (t)
			eng_trace_thread(tr, t, ev->ts_ns, ev->ts_ns);
	}
	match_pending(e, d, &s);
	/* the gateway's client is never traced: its bytes stay a hop to the address */
	if (s.used < s.len && !eng_is_gateway(e, &d->dst))
		seg_push(e, d, &s);
}

/*
 * Import: a send inferred from a probe outside any syscall (KRT_XF_NO_SYSCALL)
 * from an address no listed container has. The probe fired in a traced
 * thread's context while the kernel processed other namespaces' packets
 * (softirq): never that thread's send (seen: another test bed's 172.38.0.1
 * traffic, a hop in 0.3 % of one model's traces).
 */
static bool foreign_probe_send(struct krt_engine *e, const struct krt_event *ev,
			       const struct krt_tuple *tp)
{
	size_t n;

	if (!(ev->xfer.flags & KRT_XF_NO_SYSCALL) || !e->cfg.pids || !e->cfg.pids->n)
		return false;
	return !eng_container_by_ip(e, &tp->local, &n);
}

/*
 * Import: do thread t's tasks move between threads? A container where a
 * task waited for a socket's bytes on one thread and another thread read
 * them runs an M:N scheduler (Go: the goroutine parked on one thread,
 * the netpoller made it runnable, another thread ran it). A thread pool's
 * worker or an event loop reads the bytes it waited for itself.
 */
static bool tasks_move(const struct krt_engine *e, const struct thread *t)
{
	unsigned int i;

	if (t->runs_goroutines)
		return false; /* followed goroutine by goroutine */

	for (i = 0; i < e->n_tasks_move; i++)
		if (e->tasks_move[i] == t->container)
			return true;
	return false;
}

/*
 * A request came into t, a thread of a container whose tasks move: the
 * goroutines that work on it may send on any thread, and what they send
 * can land in other requests' traces (marked goroutine there), so this
 * one may lack hops.
 */
static void tasks_move_request(struct krt_engine *e, const struct thread *t, __u64 trace)
{
	struct trace *tr = trace && tasks_move(e, t) ? eng_trace_find(e, trace) : NULL;

	if (tr)
		tr->pub.uncertain |= KRT_UNCERTAIN_GOROUTINE;
}

static void tasks_move_seen(struct krt_engine *e, const struct thread *t)
{
	size_t i, k;

	if (!t->container || !t->container[0] || t->runs_goroutines || tasks_move(e, t) ||
	    e->n_tasks_move >= TASKS_MOVE_MAX)
		return;
	e->tasks_move[e->n_tasks_move++] = t->container;
	eng_vlog(e, e->now, t, t->tid, 0,
		 "tasks of %s move between threads (Go): its sends are uncertain", t->container);
	/* the requests it has worked on so far were followed as if they did not */
	for (i = 0; i < e->n_open; i++)
		for (k = 0; k < e->open[i]->pub.n_threads; k++)
			if (e->open[i]->pub.threads[k].container == t->container) {
				e->open[i]->pub.uncertain |= KRT_UNCERTAIN_GOROUTINE;
				break;
			}
}

/*
 * Live, Go: a goroutine sends, not as a reply, with the trace of a request
 * already answered to its client. net/http's writer goroutine (one per
 * pooled connection) writes with its last waker's trace; when it finds the
 * next request's call already in its one-slot channel it is not readied,
 * and writes that call with the trace of the request before (seen after
 * that request's reply: its trace got the call and the next request's was
 * missing, about one in 1500 go-http requests at 8-16 connections). A
 * goroutine's tag can be stale the same way before the reply too; that is
 * not told from a request calling one host twice through a pooled
 * connection (go-fanout), and is not marked.
 */
static bool go_send_after_answer(struct krt_engine *e, const struct krt_xfer *x, __u64 tag)
{
	const struct trace *tr = x->goid ? eng_trace_find(e, tag) : NULL;

	return tr && tr->answered;
}

/*
 * Live, Go: a goroutine's send the kernel did not decide (its last receive
 * read bytes whose sender's hook had not run yet), which rule 2 gave the
 * thread's current trace: the trace of whatever goroutine last received on
 * that thread. The goroutine's own last trace is rule 2's for it
 * (engine_goroutine.c). Not known (its slot was taken since): the thread's,
 * marked, as the kernel's own guess would be. Not on import, where each
 * goroutine is a unit of its own (engine_go.c: its current trace is its
 * own, handed over by the ready events too).
 */
static __u64 go_current(struct krt_engine *e, struct thread *t, const struct krt_xfer *x, __u64 tag,
			const char **why, __u32 *doubt)
{
	bool known;
	__u64 own = eng_go_current(e, t, x->goid, &known);

	if (!known) {
		*doubt |= KRT_UNCERTAIN_HANDOFF;
		*why = "current, goroutine's trace not known";
		return tag;
	}
	if (own != tag)
		*why = "goroutine's current";
	return own;
}

/*
 * A loop its pool's workers hand jobs back to (thrift's I/O thread,
 * uvicorn's) sends on the server side of a connection it read nothing on
 * since the tracer saw it: the reply to a request read before a sampling
 * pause (or the tracer's start), while nothing was seen. Its worker's job
 * comes back after the pause like any other, and the loop's replies take
 * the jobs in order: taken by no reply, the job would go to the next
 * known request's reply, and every later one its predecessor's, sure of
 * it (asgi after a pause at 8-16 connections, whole windows wrong). The
 * request gets a hidden trace of its own, never emitted, as an unsampled
 * one a pool records, so that the send is not the loop's current
 * request's (rule 2 would name that one). Its reply takes no job: the
 * send may be the last part of a reply begun before the pause (seen: an
 * asgi body written after it, its header and job before), and a reply
 * that took a job not its own would put every later reply one job behind.
 * The loop's jobs are out of step instead (engine_pool.c, unsettled)
 * until its replies have taken every job pending.
 */
static bool reply_unseen(struct krt_engine *e, const struct krt_event *ev, struct dir *d,
			 struct thread *t)
{
	struct trace *tr;
	__u64 id;

	if (t->runs_goroutines || !side_is_server(d) || d->side_received || d->sends)
		return false;
	/*
	 * An event loop after a pause (Node.js) answering to the gateway a
	 * request read before it: the same, its trace the unseen request's
	 * of the loop's last receive (engine_unseen.c). The
	 * kernel's mark of an unsampled request says nothing of it: the kernel
	 * forgot the connection, and tags the loop's current request.
	 */
	if (!t->handback_known) {
		if (!eng_is_gateway(e, &d->dst) || !(id = eng_loop_unseen_reply(e, t, ev->ts_ns)))
			return false;
		tr = eng_trace_find(e, id);
		if (!tr)
			return false;
	} else {
		if (ev->xfer.flags & KRT_XF_SAMPLED_OUT)
			return false;
		tr = eng_trace_new(e, ev->ts_ns);
		tr->hidden = true;
		tr->handback_taken = true;
		t->handback_unsettled = true;
	}
	d->side_unseen = tr->pub.id;
	d->side_role = ROLE_SERVER;
	d->side_received = true;
	d->side_ingress = eng_is_gateway(e, &d->dst);
	d->side_ingress_tid = t->tid;
	krt_side_req_received(&d->side_reqs, tr->pub.id);
	eng_vlog(e, ev->ts_ns, t, t->tid, tr->pub.id,
		 "SEND on a server side with no request seen: a reply to one read unseen");
	return true;
}

/*
 * The rest of such a reply (nothing read on the side since): its request is
 * the hidden one still. The kernel's tag of these sends is not read: it is
 * the thread's trace (the kernel forgot the connection at the pause), or
 * at a start mid-traffic a number the kernel gave the request before,
 * which would make a trace of its own.
 */
static bool side_unseen_reply(const struct dir *d)
{
	return d->side_unseen && d->side_reqs.n == 1 && d->side_reqs.req[0] == d->side_unseen;
}

static void on_send(struct krt_engine *e, const struct krt_event *ev, struct krt_tuple *tp)
{
	const struct krt_xfer *x = &ev->xfer;
	struct dir *d;
	const char *why = "no trace";
	bool take_next, reply = false, decided = false, by_thread, loop, ktagged = false, unseen;
	bool untraced, answers_unseen;
	bool tick_pick = false;
	struct thread *t;
	struct trace *tr;
	__u32 doubt = 0, go_doubt = 0;
	__u64 tag = 0, ktag = 0, prev_reply_ns = 0;

	if (foreign_probe_send(e, ev, tp)) {
		eng_vlog(e, ev->ts_ns, NULL, ev->tid, 0,
			 "SEND from an address of no listed container, outside any syscall: "
			 "another namespace's packet, ignored");
		return;
	}
	d = conn_get(e, &tp->local, &tp->remote, ev->ts_ns);

	if (!(x->flags & KRT_XF_SEQ) && d->n_pend)
		pending_drop_stale(e, d, ev);
	t = send_thread(e, ev, d, tp);
	if (t && x->goid)
		t->runs_goroutines = true;
	if (t)
		eng_loop_note_io(e, t);
	unseen = t && (reply_unseen(e, ev, d, t) || side_unseen_reply(d));
	untraced = t && d->side_untraced && side_is_server(d) && d->side_received;
	if (t) {
		prev_reply_ns = d->side_reply_ns;
		tag = send_tag(e, ev, d, t, &why, &reply);
		if (x->goid && t->runs_goroutines && !t->go_thread && e->cfg.use_kernel_tags &&
		    !(x->flags & KRT_XF_TAGGED) && !strcmp(why, "current"))
			tag = go_current(e, t, x, tag, &why, &go_doubt);
		t->claim_active = true;
		if (tag)
			eng_go_sent(t);
	}
	d->side_connect_pending = false;
	d->sends++;
	/* the kernel's tag of such a send is the thread's trace too (rule 2) */
	by_thread = t && !reply && strcmp(why, "deferred: trace at connect");
	/* a reply to a request read unseen: the kernel's tag names nothing it knows */
	if (x->flags & KRT_XF_TAGGED && !unseen &&
	    (e->cfg.use_kernel_tags || e->cfg.check_kernel_tags)) {
		__u64 k = eng_apply_kernel_tag(e, x, tag, ev->ts_ns);

		ktagged = e->cfg.use_kernel_tags;
		ktag = k;
		/*
		 * The rules decide for a thread whose kernel trace is not the
		 * engine's, for a reply on a side that queued requests the
		 * rules named (side_engine), and for a reply the kernel
		 * tagged with the thread's trace, no request of its side (its
		 * queue missed them: the receive ran before the sender's tags
		 * were stored).
		 */
		if (!(ktagged && t &&
		      (t->kernel_off ||
		       (reply && tag && k != tag &&
			(d->side_engine || (k == t->cur && !side_holds(d, k)))) ||
		       (by_thread && !k && eng_loop_kernel_zero_off(e, t))))) {
			if (k != tag)
				why = "kernel tag";
			decided = e->cfg.use_kernel_tags && k;
			tag = k;
		}
		/*
		 * --sample: a pool's reply to an unsampled request read before
		 * the pool was known (its read went unrecorded): a reply all
		 * the same, whose hand-back binds a job (to a hidden trace).
		 */
		if (x->flags & KRT_XF_SAMPLED_OUT && ktagged && tag && side_is_server(d))
			reply = true;
	}
	/*
	 * Rule 2 names the trace of the last bytes received; a thread that
	 * received bytes of other traces it has not acted on since (an event
	 * loop with requests queued for a pooled connection, or a read of
	 * several pipelined replies) may be writing for any of them. The loop
	 * rule (eng_loop_pick) names which where the order of its receives
	 * decides; otherwise the send is marked.
	 */
	loop = by_thread && tag && !t->runs_goroutines && eng_owed_other(e, t, tag);
	if (loop) {
		bool reused =
		    d->rev->serial == t->tick_serial && !d->rev->pipelined && !d->trace_repeats;
		__u64 pick = eng_loop_pick(e, t, reused, &why, &tick_pick);

		if (pick) {
			tag = pick;
			loop = false;
		}
	}
	if (t && tag && !reply)
		doubt = eng_pool_acts(e, t, tag);
	if (reply && tag && (tr = eng_trace_find(e, tag))) {
		/*
		 * A reply is as sure as the request it answers; a sure request
		 * answered by this thread settles the guesses that put its
		 * work in that trace.
		 */
		doubt = eng_trace_request_doubt(tr, &d->src, &d->dst);
		if (t)
			eng_handoff_remove(t, tag); /* answered: not queued for a pool */
		if (!doubt && t)
			eng_pool_settled(e, t, tr);
	}
	if (loop)
		eng_owed_mark_others(e, t, tag);
	/* after a pause: is the loop's reply in step with its last receive? */
	if (reply && tag && t && d->side_ingress)
		eng_loop_replied(e, t, tag);
	if (t && tag) {
		eng_owed_remove(t, tag);
		eng_loop_acted(e, t, tag, tick_pick);
		if (by_thread && !side_is_server(d))
			eng_loop_called(e, t, tag);
	}
	if (decided)
		doubt = 0; /* the kernel decided which trace the thread had */
	/*
	 * A reply to an untraced request (side_untraced): rule 3a, and the
	 * kernel's queue, which missed that request too, name the request
	 * answered before on that side. Its trace is not known: the one named
	 * is a guess (a pool worker's hand-back settles it when the call was
	 * its job's), and the client that reads it holds a guess.
	 */
	if (reply && tag && untraced)
		doubt |= KRT_UNCERTAIN_HANDOFF;
	/*
	 * An event loop out of step after a pause (engine_unseen.c): whatever
	 * it sends for a request read since, rule 2's or the kernel's "current"
	 * too, may be the work of a request read before the pause.
	 */
	if (by_thread && tag && t->loop_doubt && eng_loop_alone(e, t)) {
		struct trace *own = eng_trace_find(e, tag);

		if (own && !own->loop_unseen) {
			own->pub.uncertain |= KRT_UNCERTAIN_LOOP;
			doubt |= KRT_UNCERTAIN_LOOP;
		}
	}
	if (!reply && tag && go_send_after_answer(e, x, tag))
		doubt |= KRT_UNCERTAIN_HANDOFF;
	if (tag && !decided)
		doubt |= go_doubt;
	/* what a goroutine sends, not as a reply, is its trace (the kernel's too) */
	if (t && !reply && tag)
		eng_go_note(e, t, x->goid, tag, ev->ts_ns);
	/*
	 * Live: a server replies while bytes it read since its last reply have
	 * no send seen yet (their sender's hook ran late, preempted by the
	 * server it woke). The queue, the kernel's too, did not hold their
	 * request when this reply was tagged: it may answer them (the test
	 * bed's m5: a get read behind a one-way "set ... noreply" whose reply
	 * took the set's trace to the get's thread, about one in 1500).
	 */
	answers_unseen =
	    reply && tag && x->flags & KRT_XF_SEQ && pending_since(d->rev, prev_reply_ns);
	if (answers_unseen)
		doubt |= KRT_UNCERTAIN_HANDOFF;
	/*
	 * Sampling: a pool worker's guess that may be an unsampled request's
	 * work, or (decided) a reply whose request's work went unrecorded.
	 */
	if (x->flags & KRT_XF_MAYBE_UNSAMPLED && e->cfg.use_kernel_tags)
		doubt |= KRT_UNCERTAIN_SAMPLING;
	if (loop)
		doubt |= KRT_UNCERTAIN_LOOP; /* not which of its traces the send is */
	/*
	 * Import, Go: the thread runs goroutines, switching between them with
	 * no event the capture shows (a channel, a WaitGroup, a parked read):
	 * what it received last, or had at connect time, says nothing sure of
	 * the goroutine sending now. Only a reply on the request's own
	 * connection is decided.
	 */
	if (t && !reply && tag && !decided && tasks_move(e, t))
		doubt |= KRT_UNCERTAIN_GOROUTINE;
	if (!reply && tag) {
		if (d->replied_since_send && d->last_req_trace == tag)
			d->trace_repeats = true;
		d->last_req_trace = tag;
	}
	d->replied_since_send = false;
	take_next = send_answers(e, d, t, tag);
	if (t)
		t->last_sent_ns = ev->ts_ns;
	send_segment(e, ev, d, t, tag, doubt, ktagged && tag != ktag, reply, answers_unseen, why);
	/*
	 * A loop answering a job a worker handed back (engine_pool.c); a
	 * receive on the side since its last reply: a new request's reply,
	 * not the rest of the last one.
	 */
	if (reply && tag && t && x->bytes)
		eng_pool_handback(e, t, tag, d->side_recv_ns > prev_reply_ns);
	if (take_next && x->bytes)
		eng_worker_take(e, t, ev->ts_ns, "next job after its reply");
}

/*
 * Was the request read on side worked on to its end since: did a traced
 * peer's reply come back into the container that read it? (A proxy that
 * streams a request body upstream while reading it sends, but gets no
 * reply before the body ends.)
 */
static bool ingress_answered_downstream(struct krt_engine *e, const struct dir *side,
					const struct trace *tr)
{
	const struct thread *reader = eng_thread_find(e, side->side_ingress_tid);
	size_t i;

	if (!reader)
		return false;
	i = side->side_ingress_hops;
	if (side->side_ingress_gen != tr->hops_gen) {
		/* dead hops were dropped since: after the ingress hop, found again */
		for (i = 0; i < tr->pub.n_hops; i++)
			if (!tr->pub.hops[i].from_tid && tr->pub.hops[i].to_tid == reader->tid &&
			    tr->pub.hops[i].recv_ns == side->side_ingress_ns)
				break;
		i = i < tr->pub.n_hops ? i + 1 : 0;
	}
	for (; i < tr->pub.n_hops; i++) {
		const struct krt_hop *h = &tr->pub.hops[i];
		const struct thread *to;

		/* a goroutine's call (import, Go) may be another request's */
		if (!h->from_tid || !h->to_tid || !h->recv_ns ||
		    h->uncertain & KRT_UNCERTAIN_GOROUTINE)
			continue;
		to = eng_thread_find(e, h->to_tid);
		if (to &&
		    (to == reader || (to->container[0] && to->container == reader->container)))
			return true;
	}
	return false;
}

/* Rule 1: a receive from the gateway. */
static void on_ingress(struct krt_engine *e, const struct krt_event *ev, struct thread *t,
		       struct dir *d, __u64 off, __u64 len)
{
	struct dir *side = d->rev;
	const char *why = "same request";
	struct trace *tr = NULL;
	struct krt_hop h;
	__u32 kid = 0;
	__u64 id = 0;

	if (side->side_in_request) {
		tr = eng_trace_find(e, side->side_last_recv_trace);
		/*
		 * More bytes of the same request, unless it was worked on to
		 * its end since (a downstream reply came back) or events were
		 * lost since: then its reply went unseen and this is the next
		 * request on the connection.
		 */
		bool worked = tr && ingress_answered_downstream(e, side, tr);

		if (tr && (worked || (e->loss_epoch && side->side_ingress_ns <= e->loss_ns))) {
			if (worked && !(ev->xfer.flags & KRT_XF_SEQ))
				silent_loss(e, ev);
			resync_log(e, ev, d, "reply not seen: new request", len);
			side_req_forget(side);
			tr = NULL;
		}
	}
	if (ev->xfer.flags & KRT_XF_TAGGED && e->cfg.use_kernel_tags && ev->xfer.trace_id) {
		/* the kernel decided whether this is a new request */
		struct kmap_entry *k = eng_kmap_find(e, ev->xfer.trace_id);
		struct trace *kt = k ? eng_trace_find(e, k->trace_id) : NULL;

		if (e->cfg.check_kernel_tags && kt != tr) {
			e->sum.kernel_tag_disagreements++;
			eng_vlog(e, ev->ts_ns, t, t->tid, 0,
				 "TAGS DISAGREE on a request: rules trace %llu, kernel trace %llu "
				 "(id %u)",
				 (unsigned long long)(tr ? tr->pub.id : 0),
				 (unsigned long long)(kt ? kt->pub.id : 0), ev->xfer.trace_id);
		}
		if (k && !kt)
			e->sum.late_events++; /* its trace is gone: rules decide */
		else
			tr = kt;
		kid = k ? 0 : ev->xfer.trace_id;
	}
	if (!tr) {
		tr = eng_trace_new(e, ev->ts_ns);
		tr->pub.ingress.client = d->src;
		tr->pub.ingress.server = d->dst;
		tr->pub.ingress.tid = t->tid;
		tr->ingress_thread = t->go_thread;
		tr->pub.ingress.ts_ns = ev->ts_ns;
		side->side_in_request = true;
		why = "ingress";
	}
	/* an event loop's unsampled request, recorded for the loop rule's sake */
	if (ev->xfer.flags & KRT_XF_SAMPLED_OUT && e->cfg.use_kernel_tags)
		tr->hidden = true;
	if (tr->pub.ingress.tid == t->tid && !tr->ingress_acted)
		eng_loop_fresh_add(t, tr->pub.id);
	t->kernel_off = false; /* the kernel named the request it read */
	if (kid)
		eng_kmap_bind(e, kid, tr);
	/* a peer host's request carrying its trace: this trace continues it */
	if (ev->xfer.flags & KRT_XF_REMOTE && !tr->pub.remote.run)
		tr->pub.remote = ev->xfer.remote;
	id = tr->pub.id;
	if (ev->xfer.flags & KRT_XF_TAGGED && !e->cfg.use_kernel_tags)
		eng_apply_kernel_tag(e, &ev->xfer, id, ev->ts_ns);
	side->side_role = ROLE_SERVER;
	side->side_received = true;
	side->side_ingress = true;
	side->side_ingress_tid = t->tid;
	eng_reader_remember(e, t);
	memset(&h, 0, sizeof(h));
	h.to_tid = t->tid;
	h.to_thread = t->go_thread;
	h.to_goid = ev->xfer.goid;
	h.from_addr = d->src;
	h.to_addr = d->dst;
	h.bytes = len;
	h.recv_ns = ev->ts_ns;
	hop_seq(d, &h, off);
	eng_trace_add_hop(tr, &h);
	side->side_ingress_ns = ev->ts_ns;
	side->side_ingress_hops = tr->pub.n_hops;
	side->side_ingress_gen = tr->hops_gen;
	receiver_takes(e, t, d, id, ev->ts_ns, 0);
	krt_side_req_received(&side->side_reqs, id);
	eng_trace_thread(tr, t, ev->ts_ns, ev->ts_ns);
	if (e->cfg.verbose) {
		char a[KRT_ADDR_STRLEN], b[KRT_ADDR_STRLEN];

		eng_vlog(e, ev->ts_ns, t, t->tid, id, "RECV %s -> %s %llu B  => trace %llu (%s)",
			 addr_s(&d->src, a), addr_s(&d->dst, b), (unsigned long long)len,
			 (unsigned long long)id, why);
	}
}

/*
 * Where a receive on d starts, and how long it is: by TCP sequence (live),
 * or by running byte counts re-aligned after losses (import). *lost: bytes
 * it holds that were sent while events were lost.
 */
static __u64 recv_range(struct krt_engine *e, const struct krt_event *ev, struct dir *d, __u64 *len,
			__u64 *lost)
{
	const struct krt_xfer *x = &ev->xfer;
	__u64 off;

	*lost = 0;
	if (x->flags & KRT_XF_NO_SYSCALL && x->bytes == 0) {
		/* everything queued: aligned by definition, but a loss still resets */
		off = d->recv_next;
		*len = queued_end(d) > off ? queued_end(d) - off : 0;
		if (!eng_is_gateway(e, &d->src) && !d->seq_init)
			off = recv_align(e, d, ev, *len, lost);
		*len = queued_end(d) > off ? queued_end(d) - off : 0;
	} else if (x->flags & KRT_XF_SEQ) {
		off = seq_unwrap(d, x->seq);
		*len = x->bytes;
	} else {
		*len = x->bytes;
		off = eng_is_gateway(e, &d->src) || d->seq_init ? d->recv_next
								: recv_align(e, d, ev, *len, lost);
	}
	return off;
}

/*
 * Rule 3a's queue of server side sv gets the request of segment s. More requests
 * pipelined than it keeps (a loop that queued 16 on one upstream
 * connection): the oldest unanswered is forgotten and the replies that
 * follow answer the wrong requests, so every request queued until the
 * queue drains is marked "pipeline".
 */
static void side_queue(struct krt_engine *e, struct dir *sv, const struct segment *s, bool cont)
{
	struct krt_side_reqs *q = &sv->side_reqs;
	__u64 oldest = q->req[0];
	bool full = q->n == KRT_SIDE_REQS && !q->answered;
	bool batch = q->answered && q->at_reply > 1;
	struct trace *tr;
	__u8 i;

	/*
	 * A send seen with no trace, read after the side answered all it had
	 * queued: an untraced request (a java worker's call for an unsampled
	 * request, on a pooled connection a sampled one used before). Neither
	 * queue holds it, the kernel's nor this one (untagged bytes queue
	 * nothing): rule 3a would give its reply to the request answered
	 * before, and the client the trace with it, sure of it.
	 */
	if (!s->trace && s->from_tid && (!q->n || (q->n == 1 && q->answered)))
		sv->side_untraced = true;
	else if (s->trace)
		sv->side_untraced = false;
	krt_side_req_received_seg(q, s->trace, s->from_tid, cont);
	/* the kernel's queue does not know batches: its replies here lag */
	if ((s->over_kernel && s->trace) || (batch && q->at_reply == 1))
		sv->side_engine = true;
	if (q->n > 1)
		sv->pipelined = true;
	if (!side_is_server(sv))
		return; /* a client's side: what it reads are replies */
	if (full && q->n == KRT_SIDE_REQS && q->req[0] != oldest) {
		sv->side_overflow = true;
		if ((tr = eng_trace_find(e, oldest)))
			tr->pub.uncertain |= KRT_UNCERTAIN_PIPELINE;
	}
	for (i = 0; sv->side_overflow && i < q->n && i < KRT_SIDE_REQS; i++)
		if ((tr = eng_trace_find(e, q->req[i])))
			tr->pub.uncertain |= KRT_UNCERTAIN_PIPELINE;
}

/*
 * Rule 2: the queued segments [off, end) of d reach thread t, each a hop
 * of its trace, and the tag of the last tagged one is the bytes' tag.
 * *covered_to: where the segments seen so far end.
 */
static __u64 recv_consume(struct krt_engine *e, const struct krt_event *ev, struct dir *d,
			  struct thread *t, __u64 off, __u64 end, __u64 *covered_to, __u32 *doubt,
			  bool *over_kernel)
{
	__u64 tag = 0;

	/* segments entirely before this receive were never received: drop them */
	while (d->q_len && eng_seg_at(d, 0)->off + eng_seg_at(d, 0)->len <= off) {
		eng_seg_drop(e, d, eng_seg_at(d, 0));
		d->q_head = (d->q_head + 1) & (d->q_cap - 1);
		d->q_len--;
	}
	*covered_to = off;
	while (d->q_len) {
		struct segment *s = eng_seg_at(d, 0);
		__u64 a = u64max(s->off + s->used, off), b = u64min(s->off + s->len, end);

		if (s->off >= end)
			break;
		if (b > a) {
			seg_deliver(e, d, s, b - a, t, ev->xfer.goid, ev->ts_ns);
			if (s->trace) {
				*doubt = s->trace == tag ? *doubt | s->uncertain : s->uncertain;
				tag = s->trace;
				if (t) {
					eng_owed_add(e, t, s->trace);
					eng_loop_tick_add(t, s->trace);
					if (!side_is_server(d->rev))
						eng_loop_reply_got(e, t, s->trace);
					/*
					 * Under load (node preempted in its send, redis
					 * reading the bytes first): two replies tagged
					 * the request answered before, read in one
					 * receive, are one trace in the tick; the second
					 * callback fell to "oldest request not started",
					 * sure of it, and every pick after it was one
					 * request off (thousands wrong a run at 16
					 * connections). Which callback is whose: unknown.
					 */
					if (s->answers_unseen)
						t->tick_unknown = true;
					recv_takes_also(e, t, d, s);
				}
			}
			*over_kernel |= s->over_kernel;
			side_queue(e, d->rev, s, a > s->off);
			*covered_to = b;
		}
		s->used = b - s->off > s->used ? b - s->off : s->used;
		if (s->used < s->len)
			break;
		d->q_head = (d->q_head + 1) & (d->q_cap - 1);
		d->q_len--;
	}
	return tag;
}

/*
 * Bytes [from, end) of a receive beyond everything sent so far: sent while
 * events were lost (never explained), waiting for a send still to come
 * from a traced peer, or from an untraced peer (a hop of t's trace from
 * the address). Returns the reason for the -V log.
 */
static const char *recv_beyond(struct krt_engine *e, const struct krt_event *ev, struct dir *d,
			       struct thread *t, __u64 from, __u64 end, __u64 lost, __u64 tag,
			       const char *why, bool check_later)
{
	__u64 excess = end - from;

	if (lost) {
		/* sent while events were lost: no send will come for them */
		e->sum.unmatched_recv_bytes += excess;
		if (end > d->send_next)
			d->send_next = end;
		return tag ? "bytes' tag, rest sent unseen" : "sent unseen (lost events)";
	}
	if (endpoint_traced(e, d)) {
		struct pending_recv *p;

		/* the send may still come (probe in the receiver's context) */
		if (d->n_pend == MAX_PENDING)
			pending_drop(e, d, 0);
		p = &d->pend[d->n_pend++];
		p->off = from;
		p->len = excess;
		p->recv_ns = ev->ts_ns;
		p->recv_count = t->recv_count;
		p->to_tid = t->tid;
		p->to_goid = ev->xfer.goid;
		p->loss_epoch = e->loss_epoch;
		p->check = check_later;
		p->check_kid = ev->xfer.trace_id;
		p->check_rule = 0;
		return tag ? "bytes' tag, rest pending" : "pending: send not seen yet";
	}
	{
		struct trace *tr = eng_trace_find(e, t->cur);

		e->sum.untraced_peer_recvs++;
		if (tr) {
			struct krt_hop h = {.to_tid = t->tid,
					    .to_thread = t->go_thread,
					    .to_goid = ev->xfer.goid,
					    .from_addr = d->src,
					    .to_addr = d->dst,
					    .bytes = excess,
					    .recv_ns = ev->ts_ns};

			hop_seq(d, &h, from);
			eng_trace_mark_hop(tr, eng_trace_add_hop(tr, &h),
					   t->guess ? KRT_UNCERTAIN_HANDOFF : 0);
			eng_trace_thread(tr, t, ev->ts_ns, ev->ts_ns);
		}
	}
	return tag ? why : "untraced peer: trace unchanged";
}

static void on_recv(struct krt_engine *e, const struct krt_event *ev, struct krt_tuple *tp)
{
	const struct krt_xfer *x = &ev->xfer;
	struct dir *d = conn_get(e, &tp->remote, &tp->local, ev->ts_ns);
	struct dir *side = d->rev;
	struct thread *t;
	__u64 off, len, end, tag, seg_tag, covered_to, lost;
	bool over_kernel = false, check_later = false;
	__u32 doubt = 0;
	const char *why = "";

	if (ev->tid)
		t = eng_thread_touch(e, ev->tid, ev->pid, ev->comm);
	else
		t = eng_thread_find(e, side->side_last_tid);
	off = recv_range(e, ev, d, &len, &lost);
	end = off + len;
	if (end > d->recv_next)
		d->recv_next = end;
	eng_pending_expire(e, d, ev->ts_ns, false);
	if (!t)
		return; /* nobody to attribute to (no context, socket never seen) */
	if (x->goid)
		t->runs_goroutines = true;
	side->side_last_tid = t->tid;
	side->side_recv_ns = ev->ts_ns;
	side->side_batch_base = side->side_reqs.n;
	side->replied_since_send = true;
	eng_thread_container_by_ip(e, t, &tp->local);
	if (side->side_wait_tid && side->side_wait_tid != t->tid)
		tasks_move_seen(e, t); /* another thread waited for these bytes */
	side->side_wait_tid = 0;
	t->recv_count++;
	t->claim_active = true;
	eng_loop_note_io(e, t);
	eng_loop_tick_begin(t, d->serial);

	if (eng_is_gateway(e, &d->src) || peer_request(e, d)) {
		on_ingress(e, ev, t, d, off, len);
		tasks_move_request(e, t, t->cur);
		eng_go_owns(t);
		eng_go_note(e, t, x->goid, t->cur, ev->ts_ns);
		return;
	}
	tag = recv_consume(e, ev, d, t, off, end, &covered_to, &doubt, &over_kernel);
	seg_tag = tag;
	if (side_is_server(side))
		tasks_move_request(e, t, tag);
	/*
	 * Bytes whose trace the engine's rules chose over the kernel's tag
	 * (the loop rule): the tag is not their trace, and the receiver's
	 * kernel trace is not its trace until it reads bytes both agree on.
	 */
	if (x->flags & KRT_XF_TAGGED && e->cfg.use_kernel_tags)
		t->kernel_off = over_kernel;
	if (!over_kernel && x->flags & KRT_XF_TAGGED &&
	    (e->cfg.use_kernel_tags || e->cfg.check_kernel_tags)) {
		/*
		 * --debug check-tags: no send of these bytes seen yet, and one
		 * may still come (recv_beyond: pending). Without merged hops
		 * (CPU summed in user space) a send's record is stamped when
		 * its hook returns, after the transfer: the receiver, on
		 * another CPU, can read the bytes, find the tag the sender
		 * stored, and stamp its record first (rare: one run of
		 * live_basic.sh in 5-10 had one, counted a disagreement).
		 * The rules decide such bytes when their send comes
		 * (match_pending): the kernel's tag is checked then, against
		 * the trace the send gives them (as recv_consume does for
		 * bytes whose send came first), not against "none yet".
		 */
		check_later = e->cfg.check_kernel_tags && !tag && covered_to <= off && end > off &&
			      !lost && endpoint_traced(e, d);
		if (check_later)
			tag = eng_apply_kernel_tag_unchecked(e, x, ev->ts_ns);
		else
			tag = eng_apply_kernel_tag(e, x, tag, ev->ts_ns);
		if (e->cfg.use_kernel_tags && tag)
			doubt = 0; /* the kernel decided */
		/*
		 * --sample: a pool feeder's unsampled request, hidden, whose
		 * send went unrecorded: its side's queue learns it here.
		 */
		if (x->flags & KRT_XF_SAMPLED_OUT && tag && side_is_server(side))
			krt_side_req_received(&side->side_reqs, tag);
	} else if (x->flags & KRT_XF_MAYBE_UNSAMPLED) {
		doubt |= KRT_UNCERTAIN_SAMPLING; /* maybe an unsampled request's work */
	}
	if (tag) {
		receiver_takes(e, t, d, tag, ev->ts_ns, doubt);
		eng_go_note(e, t, x->goid, tag, ev->ts_ns);
		why = "bytes' tag";
		if (side_is_server(side))
			eng_go_owns(t); /* a request read: its goroutine serves it */
	}
	side->side_received = true;
	if (end > covered_to)
		t->tick_unknown = true; /* bytes of a send not seen (yet), or untraced */
	/*
	 * After a pause: a reply to a call of a request read before it? Its
	 * bytes are of no send seen, or of sends with no trace (the loop's
	 * calls before it read a request since the pause).
	 */
	if (len && (end > covered_to || !seg_tag) && !side_is_server(side))
		eng_loop_unseen_recv(e, t, ev->ts_ns);
	if (end > covered_to)
		why = recv_beyond(e, ev, d, t, u64max(covered_to, off), end, lost, tag, why,
				  check_later);
	if (e->cfg.verbose) {
		char a[KRT_ADDR_STRLEN], b[KRT_ADDR_STRLEN];

		eng_vlog(e, ev->ts_ns, t, t->tid, t->cur,
			 "RECV %s -> %s %llu B  => trace %llu (%s)", addr_s(&d->src, a),
			 addr_s(&d->dst, b), (unsigned long long)len, (unsigned long long)t->cur,
			 why);
	}
}

void eng_on_xfer(struct krt_engine *e, const struct krt_event *ev)
{
	struct krt_tuple tp = ev->xfer.tuple;
	struct thread *t = eng_thread_find(e, ev->tid);

	if (t) {
		t->last_xfer_ns = ev->ts_ns;
		t->preempted_ns = 0; /* on CPU with its work: engine_pool.c's hand-back */
		t->queued_by_ns = 0;
		if (!t->job_first_ns)
			t->job_first_ns = ev->ts_ns;
	}
	krt_addr_unmap_v4(&tp.local);
	krt_addr_unmap_v4(&tp.remote);
	if (!tp.local.family || !tp.remote.family)
		return; /* connection unknown: the source counts these */
	if (ev->xfer.dir == KRT_DIR_SEND)
		on_send(e, ev, &tp);
	else if (ev->xfer.dir == KRT_DIR_RECV)
		on_recv(e, ev, &tp);
	/*
	 * A transfer shows its thread on CPU. Where CPU is counted from the
	 * switch records, a thread the engine thinks off CPU had its
	 * switch-in unrecorded (the test bed's kernel does not always run
	 * sched_switch: 3 new threads of 240 ran first with none, their
	 * requests' CPU then 0): its time counts from here, for the trace
	 * the transfer left it in (after on_recv: a thread first met here
	 * is known by now).
	 */
	if (e->cfg.cpu_from_switches && (t = eng_thread_find(e, ev->tid)) && t->traced &&
	    !t->oncpu) {
		t->oncpu = true;
		t->oncpu_since = ev->ts_ns;
	}
}

/*
 * Import: thread t's receive on a socket found no bytes (EAGAIN). Its task
 * waits for them: in Go the goroutine parks, and the thread that reads
 * them later may be another (tasks_move).
 */
void eng_on_recv_wait(struct krt_engine *e, const struct krt_event *ev)
{
	struct krt_tuple tp = ev->xfer.tuple;
	struct dir_key k;
	struct dir *side;
	struct thread *t;

	krt_addr_unmap_v4(&tp.local);
	krt_addr_unmap_v4(&tp.remote);
	if (!tp.local.family || !tp.remote.family || !ev->tid)
		return;
	t = eng_thread_find(e, ev->tid);
	if (!t)
		return;
	k.src = &tp.local;
	k.dst = &tp.remote;
	side = eng_table_find(&e->dirs, dir_hash(&tp.local, &tp.remote), &k, dir_eq);
	if (side)
		side->side_wait_tid = t->tid;
}

/* Rule 3b: the first send on a connection carries the trace current at connect. */
static void dir_set_connect(struct dir *d, __u32 tid, __u64 trace)
{
	d->side_role = ROLE_CLIENT;
	d->rev->side_role = ROLE_SERVER;
	d->side_connect_pending = true;
	d->side_connect_tid = tid;
	d->side_connect_trace = trace;
	d->side_last_tid = tid;
}

/*
 * connect() enters SYN_SENT before the local port is chosen (the event shows
 * sport 0): remember it until the tuple is known (SYN_SENT -> ESTABLISHED,
 * or the first send of that thread to that peer).
 */
static void connect_remember(struct krt_engine *e, const struct krt_sock_state *st,
			     const struct krt_tuple *tp, struct thread *t, __u64 ts)
{
	struct pending_connect *c = &e->connects[e->connects_next];

	e->connects_next = (e->connects_next + 1) % MAX_CONNECTS;
	c->sock_id = st->sock_id;
	c->local_ip = tp->local;
	c->local_ip.port = 0;
	c->remote = tp->remote;
	c->tid = t->tid;
	c->trace = t->cur;
	c->ts = ts;
	c->live = true;
}

/* The oldest remembered connect matching sock_id, or (ip, peer[, tid]). */
static struct pending_connect *connect_find(struct krt_engine *e, __u64 sock_id,
					    const struct krt_tuple *tp, __u32 tid)
{
	struct pending_connect *best = NULL;
	unsigned int i;

	for (i = 0; i < MAX_CONNECTS; i++) {
		struct pending_connect *c = &e->connects[i];

		if (!c->live || c->ts + CONNECT_MAX_NS < e->now) {
			c->live = false;
			continue;
		}
		if (sock_id && c->sock_id && c->sock_id != sock_id)
			continue;
		if (!krt_ip_eq(&c->local_ip, &tp->local) || !krt_addr_eq(&c->remote, &tp->remote))
			continue;
		if (tid && c->tid != tid)
			continue;
		if (sock_id && c->sock_id == sock_id)
			return c; /* the same socket: certain */
		if (!best || c->ts < best->ts)
			best = c;
	}
	return best;
}

void eng_on_sock_state(struct krt_engine *e, const struct krt_event *ev)
{
	const struct krt_sock_state *st = &ev->state;
	struct krt_tuple tp = st->tuple;
	struct pending_connect *c;
	struct thread *t;
	struct dir *d;

	krt_addr_unmap_v4(&tp.local);
	krt_addr_unmap_v4(&tp.remote);
	if (!tp.local.family || !tp.remote.family)
		return;
	t = eng_thread_touch(e, ev->tid, ev->pid, ev->comm);
	if (st->newstate == TCP_SYN_SENT && !tp.local.port) {
		if (t) {
			connect_remember(e, st, &tp, t, ev->ts_ns);
			if (e->cfg.verbose) {
				char b[KRT_ADDR_STRLEN];

				eng_vlog(e, ev->ts_ns, t, t->tid, t->cur,
					 "CONNECT -> %s  trace %llu", addr_s(&tp.remote, b),
					 (unsigned long long)t->cur);
			}
		}
		return;
	}
	if (!tp.local.port || !tp.remote.port)
		return;
	d = conn_get(e, &tp.local, &tp.remote, ev->ts_ns); /* side = local end */
	switch (st->newstate) {
	case TCP_SYN_SENT:
		/* a new connection on this tuple: forget the old one's bytes */
		dir_reset_data(e, d);
		dir_reset_data(e, d->rev);
		d->side_closed = d->rev->side_closed = false;
		d->side_role = ROLE_CLIENT;
		d->rev->side_role = ROLE_SERVER;
		if (t) {
			dir_set_connect(d, t->tid, t->cur);
			eng_vlog(e, ev->ts_ns, t, t->tid, t->cur, "CONNECT (SYN_SENT) trace %llu",
				 (unsigned long long)t->cur);
		}
		break;
	case TCP_SYN_RECV:
		if (st->oldstate == TCP_LISTEN || d->side_role != ROLE_SERVER) {
			dir_reset_data(e, d);
			dir_reset_data(e, d->rev);
		}
		d->side_closed = d->rev->side_closed = false;
		d->side_role = ROLE_SERVER;
		d->rev->side_role = ROLE_CLIENT;
		break;
	case TCP_ESTABLISHED:
		if (st->oldstate == TCP_SYN_SENT) {
			d->side_role = ROLE_CLIENT;
			d->rev->side_role = ROLE_SERVER;
			c = connect_find(e, st->sock_id, &tp, 0);
			if (c && !d->side_connect_pending) {
				dir_reset_data(e, d);
				dir_reset_data(e, d->rev);
				dir_set_connect(d, c->tid, c->trace);
				c->live = false;
			}
		} else if (st->oldstate == TCP_SYN_RECV) {
			d->side_role = ROLE_SERVER;
			d->rev->side_role = ROLE_CLIENT;
		}
		break;
	case TCP_FIN_WAIT1: /* this end closed first */
	case TCP_LAST_ACK:  /* this end closed after its peer */
	case TCP_CLOSE:	    /* reset, or closed before it was established */
		d->side_closed = true;
		break;
	default:
		break;
	}
}

/* ---------------------------------------------------------------------- */
/* Housekeeping of the connections                                         */

static void conn_prune_idle(struct krt_engine *e)
{
	__u64 open_limit = u64max(DIR_IDLE_NS, e->cfg.linger_ns * 10);
	__u64 closed_limit = u64max(DIR_CLOSED_IDLE_NS, e->cfg.linger_ns * 2);
	struct dir *d;
	size_t i;

	if (e->now < closed_limit)
		return;
	table_for_each(&e->dirs, i, d)
	{
		__u64 limit = d->side_closed || d->rev->side_closed ? closed_limit : open_limit;

		/* the pair is visited twice; decide on the lower serial */
		if (d->serial > d->rev->serial)
			continue;
		if (d->last_ns + limit < e->now && d->rev->last_ns + limit < e->now) {
			if (d->q_len)
				e->sum.dropped_segments += d->q_len;
			if (d->rev->q_len)
				e->sum.dropped_segments += d->rev->q_len;
			eng_dir_free_pair(e, d);
		}
	}
	/* deleted slots pile up in a long run: rebuild when they dominate */
	if (e->dirs.tombs > e->dirs.cap / 4)
		eng_table_resize(&e->dirs, e->dirs.cap);
}

/*
 * Receives that waited too long for their send give up, and (once a
 * second of event time) idle connections go (with linger only).
 */
void eng_conn_prune(struct krt_engine *e)
{
	struct dir *d;
	size_t i;

	if (e->now - e->last_dir_prune_ns < 1000000000ULL)
		return;
	e->last_dir_prune_ns = e->now;
	table_for_each(&e->dirs, i, d) eng_pending_expire(e, d, e->now, false);
	conn_prune_idle(e);
}

/* End of input: what waits for a send or a receive never gets it (counted). */
void eng_conn_flush(struct krt_engine *e)
{
	struct dir *d;
	size_t i;

	table_for_each(&e->dirs, i, d)
	{
		eng_pending_expire(e, d, e->now, true);
		for (__u32 j = 0; j < d->q_len; j++) {
			struct segment *s = eng_seg_at(d, j);

			eng_seg_drop(e, d, s);
			s->used = s->len; /* counted once */
		}
	}
}

void eng_conn_free_all(struct krt_engine *e)
{
	struct dir *d;
	size_t i;

	table_for_each(&e->dirs, i, d)
	{
		free(d->q);
		free(d);
	}
	eng_table_free(&e->dirs);
}

/*
 * A sampling pause: every connection direction goes (running offsets,
 * queued segments, pending receives, its side's requests and roles), and
 * the connect()s not resolved yet. The caller counted what waited
 * (eng_conn_flush). Directions are made again at their next transfer,
 * their offsets from its sequence number.
 */
void eng_conn_forget(struct krt_engine *e)
{
	eng_conn_free_all(e);
	eng_table_init(&e->dirs);
	e->dir_hit = NULL;
	memset(e->connects, 0, sizeof(e->connects));
	e->connects_next = 0;
}
