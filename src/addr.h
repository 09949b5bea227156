/* Address helpers shared by parsers, engine and writers. */
#ifndef KRT_ADDR_H
#define KRT_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "krtrace_event.h"

/* Big enough for "[ffff:...:ffff]:65535". */
#define KRT_ADDR_STRLEN 56

/* Parse "1.2.3.4" or an IPv6 literal (no port) into a (port 0). 0 on success. */
int krt_addr_parse_ip(const char *s, struct krt_addr *a);
/* "ip:port", IPv6 as "[ip]:port"; "?" for family 0. Returns buf. */
const char *krt_addr_str(const struct krt_addr *a, char *buf, size_t len);
/*
 * An IPv4 address "a.b.c.d:port" at p (no NUL); returns its end, or NULL
 * (nothing written) for another family. Up to KRT_ADDR_PUT_MAX bytes at p
 * may change: the ones past the end are scratch.
 */
#define KRT_ADDR_PUT_MAX (sizeof("255.255.255.255:") + 20)
char *krt_addr_put_v4(char *p, const struct krt_addr *a);
/* IP only, no port. */
const char *krt_ip_str(const struct krt_addr *a, char *buf, size_t len);

/* ip only; inline: the engine compares addresses several times per event */
static inline bool krt_ip_eq(const struct krt_addr *a, const struct krt_addr *b)
{
	__u32 x, y;

	if (a->family != b->family)
		return false;
	if (a->family == KRT_AF_INET6)
		return !__builtin_memcmp(a->addr, b->addr, 16);
	/* IPv4: a load each, not a memcmp() call */
	__builtin_memcpy(&x, a->addr, 4);
	__builtin_memcpy(&y, b->addr, 4);
	return x == y;
}

/* ip and port */
static inline bool krt_addr_eq(const struct krt_addr *a, const struct krt_addr *b)
{
	return a->port == b->port && krt_ip_eq(a, b);
}

/* Maps an IPv4-mapped IPv6 address (::ffff:a.b.c.d) to plain IPv4 in place. */
void krt_addr_unmap_v4_slow(struct krt_addr *a);
static inline void krt_addr_unmap_v4(struct krt_addr *a)
{
	/* inline: the engine unmaps both ends of every transfer, nearly all IPv4 already */
	if (a->family == KRT_AF_INET6)
		krt_addr_unmap_v4_slow(a);
}
__u64 krt_addr_hash(const struct krt_addr *a);

#endif
