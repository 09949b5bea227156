/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * --peers: the networks of the other traced hosts (IPv4 and IPv6, set by the
 * loader).
 * Bytes a peer host sends to the server side of a connection are a request
 * continuing here (its trace started on the other host): they start a
 * trace as the gateway's do. On the client side (our thread called the
 * peer) they are the reply, and leave the trace as it is.
 */
#ifndef KRT_PEERS_BPF_H
#define KRT_PEERS_BPF_H

#include "common.bpf.h"
#include "tables.bpf.h"

#define KRT_BPF_PEER_NETS 8

const volatile __u32 peer_net[KRT_BPF_PEER_NETS] = {};	/* network byte order */
const volatile __u32 peer_mask[KRT_BPF_PEER_NETS] = {}; /* 0 = unused */
/* IPv6 networks: 4 words each, network byte order; the first peer6_n used */
const volatile __u32 peer6_net[KRT_BPF_PEER_NETS][4] = {};
const volatile __u32 peer6_mask[KRT_BPF_PEER_NETS][4] = {};
const volatile __u32 peer6_n = 0;

static __always_inline bool is_peer4(__u32 ip)
{
	int i;

	for (i = 0; i < KRT_BPF_PEER_NETS; i++)
		if (peer_mask[i] && (ip & peer_mask[i]) == peer_net[i])
			return true;
	return false;
}

static __always_inline bool is_peer(const struct krt_addr *a)
{
	__u32 w[4];
	int i;

	if (a->family == KRT_AF_INET) {
		if (!peer_mask[0])
			return false;
		__builtin_memcpy(&w[0], a->addr, 4);
		return is_peer4(w[0]);
	}
	if (a->family != KRT_AF_INET6)
		return false;
	__builtin_memcpy(w, a->addr, 16);
	/* an IPv4 peer on a dual-stack socket: ::ffff:a.b.c.d */
	if (!w[0] && !w[1] && w[2] == bpf_htonl(0xffff))
		return peer_mask[0] && is_peer4(w[3]);
	for (i = 0; i < KRT_BPF_PEER_NETS; i++) {
		if (i >= peer6_n)
			break;
		if ((w[0] & peer6_mask[i][0]) == peer6_net[i][0] &&
		    (w[1] & peer6_mask[i][1]) == peer6_net[i][1] &&
		    (w[2] & peer6_mask[i][2]) == peer6_net[i][2] &&
		    (w[3] & peer6_mask[i][3]) == peer6_net[i][3])
			return true;
	}
	return false;
}

/* Bytes from a peer host to a server side (conn_side_serves): a request continuing here. */
static __always_inline bool peer_request(const struct krt_conn_side *c, const struct krt_tuple *t)
{
	return conn_side_serves(c, t) && is_peer(&t->remote);
}

#endif /* KRT_PEERS_BPF_H */
