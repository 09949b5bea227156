/* Address helpers: parsing, printing and comparing struct krt_addr. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include "addr.h"
#include "dec_digits.h"

int krt_addr_parse_ip(const char *s, struct krt_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->addr) == 1) {
		a->family = KRT_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->addr) == 1) {
		a->family = KRT_AF_INET6;
		krt_addr_unmap_v4(a);
		return 0;
	}
	return -1;
}

const char *krt_ip_str(const struct krt_addr *a, char *buf, size_t len)
{
	if (a->family == KRT_AF_INET)
		inet_ntop(AF_INET, a->addr, buf, len);
	else if (a->family == KRT_AF_INET6)
		inet_ntop(AF_INET6, a->addr, buf, len);
	else
		snprintf(buf, len, "?");
	return buf;
}

char *krt_addr_put_v4(char *p, const struct krt_addr *a)
{
	if (a->family != KRT_AF_INET)
		return NULL;
	for (int i = 0; i < 4; i++) {
		p = krt_dec_put_octet(p, a->addr[i]);
		*p++ = i < 3 ? '.' : ':';
	}
	return krt_dec_put(p, a->port);
}

const char *krt_addr_str(const struct krt_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (a->family != KRT_AF_INET && a->family != KRT_AF_INET6) {
		snprintf(buf, len, "?");
		return buf;
	}
	/* IPv4 by hand: writers print two addresses per hop, per trace */
	if (a->family == KRT_AF_INET && len >= KRT_ADDR_PUT_MAX) {
		*krt_addr_put_v4(buf, a) = 0;
		return buf;
	}
	krt_ip_str(a, ip, sizeof(ip));
	if (a->family == KRT_AF_INET6)
		snprintf(buf, len, "[%s]:%u", ip, a->port);
	else
		snprintf(buf, len, "%s:%u", ip, a->port);
	return buf;
}

static size_t addr_len(const struct krt_addr *a)
{
	return a->family == KRT_AF_INET6 ? 16 : 4;
}

void krt_addr_unmap_v4_slow(struct krt_addr *a)
{
	static const __u8 prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (a->family != KRT_AF_INET6 || memcmp(a->addr, prefix, sizeof(prefix)))
		return;
	memmove(a->addr, a->addr + 12, 4);
	memset(a->addr + 4, 0, 12);
	a->family = KRT_AF_INET;
}

/* FNV-1a over the significant bytes; good enough for hash-table buckets. */
__u64 krt_addr_hash(const struct krt_addr *a)
{
	__u64 h = 0xcbf29ce484222325ULL;
	size_t i, n = addr_len(a);

	/* IPv4 unrolled (the engine hashes two addresses per connection lookup) */
	if (n == 4) {
		h = (h ^ a->addr[0]) * 0x100000001b3ULL;
		h = (h ^ a->addr[1]) * 0x100000001b3ULL;
		h = (h ^ a->addr[2]) * 0x100000001b3ULL;
		h = (h ^ a->addr[3]) * 0x100000001b3ULL;
	} else {
		for (i = 0; i < n; i++)
			h = (h ^ a->addr[i]) * 0x100000001b3ULL;
	}
	h = (h ^ a->port) * 0x100000001b3ULL;
	h = (h ^ (a->port >> 8)) * 0x100000001b3ULL;
	return (h ^ a->family) * 0x100000001b3ULL;
}
