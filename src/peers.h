/*
 * --peers CIDR...: the networks of the other traced hosts. Bytes from a
 * peer are a request continuing on this host (its trace started on the
 * other one), not a new request from a client, and connections to a peer
 * carry the trace context in a TCP header option (docs/hosts.md).
 */
#ifndef KRT_PEERS_H
#define KRT_PEERS_H

#include <stdbool.h>
#include "krtrace_event.h"

#define KRT_MAX_PEER_NETS 8

struct krt_peer_net {
	struct krt_addr net; /* masked, port 0 */
	__u8 prefix;	     /* bits */
};

struct krt_peers {
	struct krt_peer_net v[KRT_MAX_PEER_NETS];
	int n;
};

/*
 * Adds "IP/BITS" (or a bare IP: /32, /128) to p. 0, or -1 with the cause
 * in err (bad syntax, bits out of range, too many networks).
 */
int krt_peers_add(struct krt_peers *p, const char *cidr, char *err, size_t errlen);
/* Adds every comma-separated CIDR of list; stops at the first bad one. */
int krt_peers_add_list(struct krt_peers *p, const char *list, char *err, size_t errlen);
bool krt_peers_match(const struct krt_peers *p, const struct krt_addr *a);
/* The IPv4 networks as (network, mask) in network byte order, for the kernel. */
int krt_peers_ipv4(const struct krt_peers *p, __u32 *net, __u32 *mask, int max);
/* The IPv6 networks as (network, mask) words in network byte order, for the kernel. */
int krt_peers_ipv6(const struct krt_peers *p, __u32 (*net)[4], __u32 (*mask)[4], int max);

#endif
