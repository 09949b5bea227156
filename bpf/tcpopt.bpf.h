/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The trace context on the segments of traced sends to a peer host
 * (docs/hosts.md), in the tracer's object so that it reads the tracer's
 * state: at the start of every TCP send of a traced thread to a peer
 * (tp_btf/tcp_sendmsg_locked: sender's context, socket locked, nothing
 * queued yet) the trace the send will carry is stored with the send's first
 * sequence number in the socket's storage; the sock_ops program writes it
 * on each data segment whose bytes follow that number, and parses it on the
 * receiving side. Loaded only with --tcp-option-cgroup.
 */
#ifndef KRT_TCPOPT_BPF_H
#define KRT_TCPOPT_BPF_H

#include <bpf/bpf_endian.h>
#include "peers.bpf.h"
#include "remote.bpf.h"
#include "sock.bpf.h"
#include "tables.bpf.h"
#include "tagging.bpf.h"
#include "krtrace_tcp_option.h"

#define KRT_TCPOPT_SENDS 4

/*
 * The last sends' first sequence numbers and what their segments carry
 * (the trace's context, the sender's span), oldest overwritten.
 */
struct krt_tcpopt_sends {
	__u32 seq[KRT_TCPOPT_SENDS];
	struct krt_remote_ctx ctx[KRT_TCPOPT_SENDS];
	__u32 next;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct krt_tcpopt_sends);
} tcpopt_sends SEC(".maps");

/* tag_send's decision, without its effects (the send hook makes them). */
static __always_inline __u32 send_trace_peek(struct krt_thread_state *th, struct krt_conn_side *c,
					     const struct krt_tuple *t)
{
	return send_rule3(th, c, conn_side_serves(c, t), true);
}

SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(krt_tcpopt_sendmsg, struct sock *sk, struct msghdr *msg, struct sk_buff *skb,
	     int size_goal)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct krt_thread_state *th;
	struct krt_conn_side *c;
	struct krt_tcpopt_sends *ss;
	const struct krt_remote_ctx *rc;
	struct krt_tuple t = {};
	__u16 family;
	__u32 trace, id, i;

	if (!tcpopt_run_word || !tgid_traced(pid_tgid >> 32) || !sock_is_tcp(sk, &family))
		return 0;
	read_tuple(sk, family, &t);
	if (!is_peer(&t.remote))
		return 0;
	th = thread_find((__u32)pid_tgid);
	c = conn_find(sock_state_id(sk));
	if (!th || !c)
		return 0;
	trace = send_trace_peek(th, c, &t);
	/* unsure, sampled out or none: the segments carry no option */
	if (!trace || !trace_decided(trace) || (trace & KRT_TRACE_SAMPLED_OUT))
		return 0;
	ss = bpf_sk_storage_get(&tcpopt_sends, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!ss)
		return 0;
	i = ss->next % KRT_TCPOPT_SENDS;
	ss->seq[i] = BPF_CORE_READ((struct tcp_sock *)sk, write_seq);
	/* a trace that continues another host's carries that one on */
	id = trace & KRT_TRACE_ID_MASK;
	rc = remote_of_trace(id);
	if (rc) {
		ss->ctx[i].run = rc->run;
		ss->ctx[i].trace = rc->trace;
	} else {
		ss->ctx[i].run = tcpopt_run_word;
		ss->ctx[i].trace = id;
	}
	ss->ctx[i].span = krt_span_hash32(tcpopt_run_word, (__u32)pid_tgid);
	ss->next = i + 1;
	return 0;
}

/* The send the segment starting at seq belongs to (-1: none known). */
static __always_inline int segment_send(struct krt_tcpopt_sends *ss, __u32 seq)
{
	__u32 best_d = ~0U;
	int i, best = -1;

	for (i = 0; i < KRT_TCPOPT_SENDS; i++) {
		__u32 d = seq - ss->seq[i];

		/* the latest send starting at or before seq (within 1 GiB) */
		if (ss->ctx[i].run && d < (1U << 30) && d < best_d) {
			best_d = d;
			best = i;
		}
	}
	return best;
}

static __always_inline void tcpopt_put_be(__u8 *b, __u64 v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--, v >>= 8)
		b[i] = (__u8)v;
}

static __always_inline __u64 tcpopt_get_be(const __u8 *b, int n)
{
	__u64 v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = v << 8 | b[i];
	return v;
}

#define TCPOPT_WRITE_FLAG (1 << 6)
#define TCPOPT_PARSE_UNKNOWN_FLAG (1 << 5)
#define TCPOPT_CURRENT_MSS (1 << 0)

static __always_inline void tcpopt_write(struct bpf_sock_ops *skops)
{
	struct krt_tcp_option o = {.kind = KRT_TCPOPT_KIND, .len = KRT_TCPOPT_LEN};
	struct tcphdr *th = skops->skb_data;
	struct krt_tcpopt_sends *ss;
	struct bpf_sock *sk = skops->sk;
	int i;

	if (!sk || (void *)(th + 1) > skops->skb_data_end || skops->skb_len <= th->doff * 4)
		return;
	ss = bpf_sk_storage_get(&tcpopt_sends, sk, NULL, 0);
	if (!ss)
		return;
	i = segment_send(ss, bpf_ntohl(th->seq));
	if (i < 0 || i >= KRT_TCPOPT_SENDS)
		return;
	o.magic[0] = KRT_TCPOPT_MAGIC >> 8;
	o.magic[1] = KRT_TCPOPT_MAGIC & 0xff;
	tcpopt_put_be(o.run, ss->ctx[i].run, 8);
	tcpopt_put_be(o.trace, ss->ctx[i].trace, 4);
	tcpopt_put_be(o.span, ss->ctx[i].span, 4);
	if (!bpf_store_hdr_opt(skops, &o, sizeof(o), 0))
		__sync_fetch_and_add(&tcpopt_stats.written, 1);
}

static __always_inline void tcpopt_parse(struct bpf_sock_ops *skops)
{
	struct krt_tcp_option o = {.kind = KRT_TCPOPT_KIND, .len = 4};
	struct tcphdr *th = skops->skb_data;
	struct krt_remote_segs *rs, fresh = {};
	__u64 cookie;
	__u32 hdr, i;

	o.magic[0] = KRT_TCPOPT_MAGIC >> 8;
	o.magic[1] = KRT_TCPOPT_MAGIC & 0xff;
	if ((void *)(th + 1) > skops->skb_data_end)
		return;
	hdr = th->doff * 4;
	if (skops->skb_len <= hdr || bpf_load_hdr_opt(skops, &o, sizeof(o), 0) != KRT_TCPOPT_LEN)
		return;
	cookie = bpf_get_socket_cookie(skops);
	rs = bpf_map_lookup_elem(&tcpopt_rx, &cookie);
	if (!rs) {
		bpf_map_update_elem(&tcpopt_rx, &cookie, &fresh, BPF_NOEXIST);
		rs = bpf_map_lookup_elem(&tcpopt_rx, &cookie);
		if (!rs)
			return;
	}
	/* one writer: the socket is locked while its segments are processed */
	i = rs->next % KRT_REMOTE_SEGS;
	rs->seq[i] = bpf_ntohl(th->seq);
	rs->len[i] = skops->skb_len - hdr;
	rs->ctx[i].run = tcpopt_get_be(o.run, 8);
	rs->ctx[i].trace = tcpopt_get_be(o.trace, 4);
	rs->ctx[i].span = tcpopt_get_be(o.span, 4);
	rs->next = i + 1;
	rs->segments++;
	__sync_fetch_and_add(&tcpopt_stats.parsed, 1);
}

static __always_inline void tcpopt_reserve(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;

	/* the MSS is computed with the largest header we may write */
	if (!(skops->args[0] & TCPOPT_CURRENT_MSS)) {
		if (!skops->skb_len || !sk || !bpf_sk_storage_get(&tcpopt_sends, sk, NULL, 0))
			return;
	}
	/* counted per data segment, not per MSS computation */
	if (bpf_reserve_hdr_opt(skops, KRT_TCPOPT_LEN, 0) && !(skops->args[0] & TCPOPT_CURRENT_MSS))
		__sync_fetch_and_add(&tcpopt_stats.no_room, 1);
}

SEC("sockops")
int krt_tcpopt_sockops(struct bpf_sock_ops *skops)
{
	struct krt_addr remote = {};
	__u32 w[4];

	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		if (skops->family == KRT_AF_INET) {
			remote.family = KRT_AF_INET;
			w[0] = skops->remote_ip4;
			__builtin_memcpy(remote.addr, w, 4);
		} else if (skops->family == KRT_AF_INET6) {
			remote.family = KRT_AF_INET6;
			w[0] = skops->remote_ip6[0];
			w[1] = skops->remote_ip6[1];
			w[2] = skops->remote_ip6[2];
			w[3] = skops->remote_ip6[3];
			__builtin_memcpy(remote.addr, w, 16);
		}
		if (!is_peer(&remote))
			break;
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | TCPOPT_WRITE_FLAG |
						     TCPOPT_PARSE_UNKNOWN_FLAG);
		__sync_fetch_and_add(&tcpopt_stats.sockets, 1);
		break;
	case BPF_SOCK_OPS_HDR_OPT_LEN_CB:
		tcpopt_reserve(skops);
		break;
	case BPF_SOCK_OPS_WRITE_HDR_OPT_CB:
		tcpopt_write(skops);
		break;
	case BPF_SOCK_OPS_PARSE_HDR_OPT_CB:
		tcpopt_parse(skops);
		break;
	}
	return 1;
}

#endif /* KRT_TCPOPT_BPF_H */
