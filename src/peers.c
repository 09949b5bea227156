/* --peers CIDR...: parsing and matching the other traced hosts' networks. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "peers.h"

static int addr_bytes(const struct krt_addr *a)
{
	return a->family == KRT_AF_INET6 ? 16 : 4;
}

static void mask_addr(struct krt_addr *a, int bits)
{
	int i, n = addr_bytes(a);

	for (i = 0; i < n; i++) {
		int keep = bits - 8 * i;

		if (keep <= 0)
			a->addr[i] = 0;
		else if (keep < 8)
			a->addr[i] &= (__u8)(0xff << (8 - keep));
	}
}

int krt_peers_add(struct krt_peers *p, const char *cidr, char *err, size_t errlen)
{
	char ip[64];
	const char *slash = strchr(cidr, '/');
	struct krt_peer_net pn = {0};
	size_t len = slash ? (size_t)(slash - cidr) : strlen(cidr);
	long bits;
	char *end;

	if (p->n == KRT_MAX_PEER_NETS) {
		snprintf(err, errlen, "'%s': at most %d peer networks", cidr, KRT_MAX_PEER_NETS);
		return -1;
	}
	if (!len || len >= sizeof(ip)) {
		snprintf(err, errlen, "'%s' is not IP/BITS", cidr);
		return -1;
	}
	memcpy(ip, cidr, len);
	ip[len] = '\0';
	if (krt_addr_parse_ip(ip, &pn.net)) {
		snprintf(err, errlen, "'%s': '%s' is not an IPv4 or IPv6 address", cidr, ip);
		return -1;
	}
	bits = 8 * addr_bytes(&pn.net);
	if (slash) {
		long max = bits;

		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		/* /0 would make every address a peer, the clients' too. */
		if (errno || end == slash + 1 || *end || bits < 1 || bits > max) {
			snprintf(err, errlen, "'%s': the prefix length must be 1 to %ld", cidr,
				 max);
			return -1;
		}
	}
	pn.prefix = (__u8)bits;
	mask_addr(&pn.net, bits);
	p->v[p->n++] = pn;
	return 0;
}

int krt_peers_add_list(struct krt_peers *p, const char *list, char *err, size_t errlen)
{
	char *copy = strdup(list), *tok, *save = NULL;
	int ret = 0;

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (tok = strtok_r(copy, ",", &save); tok && !ret; tok = strtok_r(NULL, ",", &save))
		ret = krt_peers_add(p, tok, err, errlen);
	free(copy);
	return ret;
}

bool krt_peers_match(const struct krt_peers *p, const struct krt_addr *a)
{
	struct krt_addr m = *a;
	int i;

	krt_addr_unmap_v4(&m);
	for (i = 0; i < p->n; i++) {
		struct krt_addr x = m;

		if (x.family != p->v[i].net.family)
			continue;
		mask_addr(&x, p->v[i].prefix);
		if (!memcmp(x.addr, p->v[i].net.addr, addr_bytes(&x)))
			return true;
	}
	return false;
}

int krt_peers_ipv4(const struct krt_peers *p, __u32 *net, __u32 *mask, int max)
{
	int i, n = 0;

	for (i = 0; i < p->n && n < max; i++) {
		if (p->v[i].net.family != KRT_AF_INET)
			continue;
		memcpy(&net[n], p->v[i].net.addr, 4);
		mask[n++] = htonl((__u32)(0xffffffffULL << (32 - p->v[i].prefix)));
	}
	return n;
}

int krt_peers_ipv6(const struct krt_peers *p, __u32 (*net)[4], __u32 (*mask)[4], int max)
{
	int i, j, n = 0;

	for (i = 0; i < p->n && n < max; i++) {
		if (p->v[i].net.family != KRT_AF_INET6)
			continue;
		memcpy(net[n], p->v[i].net.addr, 16);
		for (j = 0; j < 4; j++) {
			int bits = p->v[i].prefix - 32 * j;

			mask[n][j] = bits >= 32	 ? 0xffffffffu
				     : bits <= 0 ? 0
						 : htonl((__u32)(0xffffffffULL << (32 - bits)));
		}
		n++;
	}
	return n;
}
