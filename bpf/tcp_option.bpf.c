// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The trace context in a TCP header option (docs/hosts.md): a cgroup v2
 * sock_ops program that, on connections to a peer host only, writes a
 * 20-byte option (kind 253, ExID "KR", the sender's run word, trace and span) on
 * every data segment whose socket has a context, and parses it on the
 * receiving side.
 *
 * Only connections to or from a peer network (peer_net/peer_mask) ask for
 * the header callbacks, so other connections never run them; the receive
 * side asks only for options the kernel does not know
 * (PARSE_UNKNOWN_HDR_OPT), so segments without ours cost nothing.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "krtrace_tcp_option.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* IPv4 peer networks, network byte order; mask 0 = none. */
#define MAX_PEER_NETS 8
const volatile __u32 peer_net[MAX_PEER_NETS] = {};
const volatile __u32 peer_mask[MAX_PEER_NETS] = {};

struct krt_tcpopt_stats stats = {};

/* The context a socket's data segments carry (set by the tracer). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct krt_tcpopt_ctx);
} tcpopt_tx SEC(".maps");

/* What a socket last received (read by the tracer). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct krt_tcpopt_rx);
} tcpopt_rx SEC(".maps");

/* BPF_SOCK_OPS_* flag values of Linux 5.10+, in case vmlinux.h lacks the enum's names. */
#define WRITE_HDR_OPT_FLAG (1 << 6)
#define PARSE_UNKNOWN_HDR_OPT_FLAG (1 << 5)
#define WRITE_HDR_CURRENT_MSS (1 << 0)

static __always_inline bool is_peer(__u32 addr)
{
	int i;

	for (i = 0; i < MAX_PEER_NETS; i++)
		if (peer_mask[i] && (addr & peer_mask[i]) == peer_net[i])
			return true;
	return false;
}

static __always_inline void arm(struct bpf_sock_ops *skops)
{
	if (skops->family != 2 /* AF_INET */ || !is_peer(skops->remote_ip4))
		return;
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | WRITE_HDR_OPT_FLAG |
					     PARSE_UNKNOWN_HDR_OPT_FLAG);
	__sync_fetch_and_add(&stats.sockets, 1);
}

static __always_inline struct krt_tcpopt_ctx *tx_ctx(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct krt_tcpopt_ctx *c;

	if (!sk)
		return NULL;
	c = bpf_sk_storage_get(&tcpopt_tx, sk, NULL, 0);
	return c && c->trace ? c : NULL;
}

static __always_inline void reserve(struct bpf_sock_ops *skops)
{
	/*
	 * The MSS is computed with the largest header we may write: reserve
	 * then whatever this segment is, or segments would outgrow it.
	 */
	if (skops->args[0] & WRITE_HDR_CURRENT_MSS) {
		bpf_reserve_hdr_opt(skops, KRT_TCPOPT_LEN, 0);
		return;
	}
	if (!skops->skb_len || !tx_ctx(skops))
		return;
	if (bpf_reserve_hdr_opt(skops, KRT_TCPOPT_LEN, 0))
		__sync_fetch_and_add(&stats.no_room, 1);
}

static __always_inline void put_be(__u8 *b, __u64 v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--, v >>= 8)
		b[i] = (__u8)v;
}

static __always_inline void write_opt(struct bpf_sock_ops *skops)
{
	struct krt_tcp_option o = {.kind = KRT_TCPOPT_KIND, .len = KRT_TCPOPT_LEN};
	struct krt_tcpopt_ctx *c = tx_ctx(skops);

	if (!c || !skops->skb_len)
		return;
	o.magic[0] = KRT_TCPOPT_MAGIC >> 8;
	o.magic[1] = KRT_TCPOPT_MAGIC & 0xff;
	put_be(o.run, c->run, 8);
	put_be(o.trace, c->trace, 4);
	if (!bpf_store_hdr_opt(skops, &o, sizeof(o), 0))
		__sync_fetch_and_add(&stats.written, 1);
}

static __always_inline __u64 get_be(const __u8 *b, int n)
{
	__u64 v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = v << 8 | b[i];
	return v;
}

static __always_inline void parse_opt(struct bpf_sock_ops *skops)
{
	struct krt_tcp_option o = {.kind = KRT_TCPOPT_KIND, .len = 4};
	struct tcphdr *th = skops->skb_data;
	struct bpf_sock *sk = skops->sk;
	struct krt_tcpopt_rx *rx;
	__u32 hdr;

	o.magic[0] = KRT_TCPOPT_MAGIC >> 8;
	o.magic[1] = KRT_TCPOPT_MAGIC & 0xff;
	if (!sk || (void *)(th + 1) > skops->skb_data_end)
		return;
	hdr = th->doff * 4;
	if (skops->skb_len <= hdr)
		return; /* no payload */
	if (bpf_load_hdr_opt(skops, &o, sizeof(o), 0) != KRT_TCPOPT_LEN)
		return;
	rx = bpf_sk_storage_get(&tcpopt_rx, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!rx)
		return;
	rx->run = get_be(o.run, 8);
	rx->trace = get_be(o.trace, 4);
	rx->seq = bpf_ntohl(th->seq);
	rx->len = skops->skb_len - hdr;
	rx->segments++;
	__sync_fetch_and_add(&stats.parsed, 1);
}

SEC("sockops")
int krt_tcp_option(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		arm(skops);
		break;
	case BPF_SOCK_OPS_HDR_OPT_LEN_CB:
		reserve(skops);
		break;
	case BPF_SOCK_OPS_WRITE_HDR_OPT_CB:
		write_opt(skops);
		break;
	case BPF_SOCK_OPS_PARSE_HDR_OPT_CB:
		parse_opt(skops);
		break;
	}
	return 1;
}
