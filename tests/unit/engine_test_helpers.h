/*
 * Hand-built events and a trace collector for the engine unit tests and the
 * engine benchmark. Header-only: each test program includes it once.
 */
#ifndef KRT_ENGINE_TEST_HELPERS_H
#define KRT_ENGINE_TEST_HELPERS_H

#include <stdlib.h>
#include <string.h>
#include "engine.h"
#include "addr.h"

static inline struct krt_addr ip4(__u8 a, __u8 b, __u8 c, __u8 d, __u16 port)
{
	struct krt_addr x;

	memset(&x, 0, sizeof(x));
	x.family = KRT_AF_INET;
	x.port = port;
	x.addr[0] = a;
	x.addr[1] = b;
	x.addr[2] = c;
	x.addr[3] = d;
	return x;
}

static inline struct krt_event ev_base(__u64 ts, __u32 type, __u32 tid, const char *comm)
{
	struct krt_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.ts_ns = ts;
	ev.type = type;
	ev.tid = tid;
	if (comm)
		strncpy(ev.comm, comm, KRT_COMM_LEN - 1);
	return ev;
}

static inline struct krt_event ev_xfer(__u64 ts, __u32 tid, __u8 dir, struct krt_addr local,
				       struct krt_addr remote, __u64 bytes)
{
	struct krt_event ev = ev_base(ts, KRT_EV_XFER, tid, "t");

	ev.xfer.dir = dir;
	ev.xfer.fd = -1;
	ev.xfer.bytes = bytes;
	ev.xfer.enter_ns = ts;
	ev.xfer.tuple.local = local;
	ev.xfer.tuple.remote = remote;
	return ev;
}

static inline struct krt_event ev_send(__u64 ts, __u32 tid, struct krt_addr local,
				       struct krt_addr remote, __u64 bytes)
{
	return ev_xfer(ts, tid, KRT_DIR_SEND, local, remote, bytes);
}

static inline struct krt_event ev_recv(__u64 ts, __u32 tid, struct krt_addr local,
				       struct krt_addr remote, __u64 bytes)
{
	return ev_xfer(ts, tid, KRT_DIR_RECV, local, remote, bytes);
}

/* Live path: the TCP sequence number of the first byte. */
static inline struct krt_event ev_seq(struct krt_event ev, __u32 seq)
{
	ev.xfer.flags |= KRT_XF_SEQ;
	ev.xfer.seq = seq;
	return ev;
}

static inline struct krt_event ev_switch(__u64 ts, __u32 prev, __s64 prev_state, __u32 next)
{
	struct krt_event ev = ev_base(ts, KRT_EV_SWITCH, prev, "t");

	ev.sw.prev_tid = prev;
	ev.sw.prev_state = prev_state;
	ev.sw.next_tid = next;
	return ev;
}

static inline struct krt_event ev_fork(__u64 ts, __u32 parent, __u32 child_pid, __u32 child_tid)
{
	struct krt_event ev = ev_base(ts, KRT_EV_FORK, parent, "t");

	ev.fork.parent_tid = parent;
	ev.fork.child_pid = child_pid;
	ev.fork.child_tid = child_tid;
	strcpy(ev.fork.child_comm, "child");
	return ev;
}

static inline struct krt_event ev_exit(__u64 ts, __u32 tid)
{
	return ev_base(ts, KRT_EV_EXIT, tid, "t");
}

static inline struct krt_event ev_wakeup(__u64 ts, __u32 waker, __u32 target)
{
	struct krt_event ev = ev_base(ts, KRT_EV_WAKEUP, waker, "t");

	ev.wakeup.target_tid = target;
	return ev;
}

/* Bytes on a local notification channel (an AF_UNIX socketpair). */
static inline struct krt_event ev_notify(__u64 ts, __u32 tid, __u8 dir, __u64 chan, __u64 bytes)
{
	struct krt_event ev = ev_base(ts, KRT_EV_NOTIFY, tid, "t");

	ev.notify.dir = dir;
	ev.notify.chan = chan;
	ev.notify.bytes = bytes;
	ev.notify.asked = bytes; /* a receive asking for what it got (thrift) */
	ev.notify.fd = -1;
	return ev;
}

static inline struct krt_event ev_state(__u64 ts, __u32 tid, struct krt_addr local,
					struct krt_addr remote, int oldstate, int newstate)
{
	struct krt_event ev = ev_base(ts, KRT_EV_SOCK_STATE, tid, "t");

	ev.state.oldstate = oldstate;
	ev.state.newstate = newstate;
	ev.state.tuple.local = local;
	ev.state.tuple.remote = remote;
	return ev;
}

static inline struct krt_event ev_lost(__u64 ts, __u64 count)
{
	struct krt_event ev = ev_base(ts, KRT_EV_LOST, 0, NULL);

	ev.lost.count = count;
	return ev;
}

/* Windowed sampling: the tracer's hooks off from ts until the next event. */
static inline struct krt_event ev_pause(__u64 ts)
{
	return ev_base(ts, KRT_EV_PAUSE, 0, NULL);
}

/* Deep copies of the traces the engine emitted, in emission order. */
struct collected {
	size_t n, cap;
	struct krt_trace *v;
	bool keep; /* false: only count (benchmarks, big streams) */
};

static inline void collect_trace(const struct krt_trace *tr, void *ctx)
{
	struct collected *c = ctx;
	struct krt_trace *t;

	c->n++;
	if (!c->keep)
		return;
	if (c->n > c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
	}
	t = &c->v[c->n - 1];
	*t = *tr;
	t->threads = malloc((tr->n_threads + 1) * sizeof(*t->threads));
	t->hops = malloc((tr->n_hops + 1) * sizeof(*t->hops));
	t->slices = malloc((tr->n_slices + 1) * sizeof(*t->slices));
	if (tr->n_threads)
		memcpy(t->threads, tr->threads, tr->n_threads * sizeof(*t->threads));
	if (tr->n_hops)
		memcpy(t->hops, tr->hops, tr->n_hops * sizeof(*t->hops));
	if (tr->n_slices)
		memcpy(t->slices, tr->slices, tr->n_slices * sizeof(*t->slices));
}

static inline void collected_free(struct collected *c)
{
	size_t i;

	for (i = 0; c->keep && i < c->n; i++) {
		free(c->v[i].threads);
		free(c->v[i].hops);
		free(c->v[i].slices);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static inline const struct krt_trace *collected_id(const struct collected *c, __u64 id)
{
	size_t i;

	for (i = 0; c->keep && i < c->n; i++)
		if (c->v[i].id == id)
			return &c->v[i];
	return NULL;
}

static inline const struct krt_thread_stat *trace_tid(const struct krt_trace *t, __u32 tid)
{
	size_t i;

	for (i = 0; t && i < t->n_threads; i++)
		if (t->threads[i].tid == tid)
			return &t->threads[i];
	return NULL;
}

/* The first hop from -> to (tids; 0 = address node), or NULL. */
static inline const struct krt_hop *trace_hop(const struct krt_trace *t, __u32 from, __u32 to)
{
	size_t i;

	for (i = 0; t && i < t->n_hops; i++)
		if (t->hops[i].from_tid == from && t->hops[i].to_tid == to)
			return &t->hops[i];
	return NULL;
}

static inline size_t trace_count_hops(const struct krt_trace *t, __u32 from, __u32 to)
{
	size_t i, n = 0;

	for (i = 0; t && i < t->n_hops; i++)
		if (t->hops[i].from_tid == from && t->hops[i].to_tid == to)
			n++;
	return n;
}

#endif
