/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The trace context another host sent in the TCP option (tcpopt.bpf.h,
 * docs/hosts.md): the receiving socket keeps what its last segments
 * carried, by sequence range; the receive that starts a trace from a peer
 * host takes the context of its first byte, and the trace it starts
 * continues it: its record says so (KRT_XF_REMOTE), and its own sends to
 * other peer hosts carry that context on (remote_of), so a trace keeps one
 * id however many hosts it crosses.
 */
#ifndef KRT_REMOTE_BPF_H
#define KRT_REMOTE_BPF_H

#include "common.bpf.h"

/* Set by the loader with --tcp-option-cgroup: this run's word (0 = off). */
const volatile __u64 tcpopt_run_word = 0;

struct krt_tcpopt_stats tcpopt_stats = {};

/* By socket cookie (the receive hooks' f->id); LRU: closed sockets age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct krt_remote_segs);
} tcpopt_rx SEC(".maps");

/*
 * Direct-mapped tables (arrays: a lookup is a load, where a hash map's
 * update cost hundreds of ns on every request from a peer host), each
 * entry checked against its key: an entry overwritten by a later trace
 * (16384 traces on) is not found.
 */
#define KRT_REMOTE_SLOTS 16384 /* a power of two */

/* Local kernel trace id -> the remote trace it continues. */
struct krt_remote_of {
	__u32 local;
	__u32 pad;
	struct krt_remote_ctx ctx;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KRT_REMOTE_SLOTS);
	__type(key, __u32);
	__type(value, struct krt_remote_of);
} remote_of SEC(".maps");

/* (origin run word, its trace) -> the local trace continuing it. */
struct krt_local_of {
	__u64 run;
	__u32 trace;
	__u32 local;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KRT_REMOTE_SLOTS);
	__type(key, __u32);
	__type(value, struct krt_local_of);
} local_of SEC(".maps");

static __always_inline __u32 local_of_slot(__u64 run, __u32 trace)
{
	return (__u32)krt_mix64(run ^ trace) & (KRT_REMOTE_SLOTS - 1);
}

/* The remote trace local trace id continues (NULL: none). */
static __always_inline const struct krt_remote_ctx *remote_of_trace(__u32 id)
{
	__u32 slot = id & (KRT_REMOTE_SLOTS - 1);
	struct krt_remote_of *r = bpf_map_lookup_elem(&remote_of, &slot);

	return r && r->local == id && r->ctx.run ? &r->ctx : NULL;
}

/* The context of the segment holding byte seq on socket cookie, if one carried it. */
static __always_inline bool remote_seg_ctx(__u64 cookie, __u32 seq, struct krt_remote_ctx *ctx)
{
	struct krt_remote_segs *rs = bpf_map_lookup_elem(&tcpopt_rx, &cookie);
	int i;

	for (i = 0; rs && i < KRT_REMOTE_SEGS; i++) {
		if (!rs->len[i] || seq - rs->seq[i] >= rs->len[i] || !rs->ctx[i].run)
			continue;
		*ctx = rs->ctx[i];
		return true;
	}
	return false;
}

/*
 * Bytes from another host that are not a request (a reply to our call):
 * the local trace their option names, one of ours or one continuing
 * another host's here (0: none, the receive's rules decide).
 */
static __always_inline __u32 remote_local_trace(__u64 cookie, __u32 seq)
{
	struct krt_remote_ctx ctx;
	struct krt_local_of *l;
	__u32 slot;

	if (!tcpopt_run_word || !remote_seg_ctx(cookie, seq, &ctx))
		return 0;
	if (ctx.run == tcpopt_run_word)
		return ctx.trace & KRT_TRACE_ID_MASK;
	slot = local_of_slot(ctx.run, ctx.trace);
	l = bpf_map_lookup_elem(&local_of, &slot);
	return l && l->run == ctx.run && l->trace == ctx.trace ? l->local : 0;
}

/*
 * Trace trace (just started by a receive on socket cookie whose first byte
 * is seq) continues the remote trace of the segment holding that byte, if
 * one carried the option: *ctx gets it, remote_of and local_of too.
 */
static __always_inline bool remote_continue(__u64 cookie, __u32 seq, __u32 trace,
					    struct krt_remote_ctx *ctx)
{
	__u32 id = trace & KRT_TRACE_ID_MASK, slot = id & (KRT_REMOTE_SLOTS - 1);
	struct krt_remote_of *r;
	struct krt_local_of *l;

	if (!tcpopt_run_word)
		return false;
	if (!remote_seg_ctx(cookie, seq, ctx)) {
		__sync_fetch_and_add(&tcpopt_stats.not_continued, 1);
		return false;
	}
	r = bpf_map_lookup_elem(&remote_of, &slot);
	if (r) {
		r->local = id;
		r->ctx = *ctx;
	}
	slot = local_of_slot(ctx->run, ctx->trace);
	l = bpf_map_lookup_elem(&local_of, &slot);
	if (l) {
		l->run = ctx->run;
		l->trace = ctx->trace;
		l->local = id;
	}
	__sync_fetch_and_add(&tcpopt_stats.continued, 1);
	return true;
}

#endif /* KRT_REMOTE_BPF_H */
