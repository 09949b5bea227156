/*
 * Container discovery for the live path without a PIDs file: the processes
 * whose network namespace holds an address in the gateway's subnet.
 */
#ifndef KRT_CONTAINER_DISCOVERY_H
#define KRT_CONTAINER_DISCOVERY_H

#include <stddef.h>
#include <linux/types.h>
#include "krtrace_event.h"
#include "pids_file.h"

struct krt_discovery_opts {
	const char *proc_root; /* "/proc" unless testing */
	const char *netns_dir; /* "/run/netns" unless testing */
	__u8 prefix_len;       /* 0 = from the interface holding the gateway */
};

/*
 * Appends one entry per process found (name from `ip netns`, the container
 * runtime's cgroup id, the UTS hostname, else "netns-INODE"); sorted by
 * name then pid. Returns the number of containers (network namespaces)
 * found, or -1 with a message in err.
 */
int krt_discover_containers(const struct krt_addr *gateway, const struct krt_discovery_opts *o,
			    struct krt_pids *out, char *err, size_t errlen);

/* Is ip inside gateway/prefix_len? (Same family only.) */
int krt_addr_in_subnet(const struct krt_addr *ip, const struct krt_addr *net, __u8 prefix_len);

/*
 * Finds the prefix length of the local interface address equal to gateway.
 * Returns the prefix length, or -1 when no interface holds it.
 */
int krt_gateway_prefix(const struct krt_addr *gateway);

/* Parsers of /proc/PID/net files, exposed for the unit tests. */
/* Local IPv4 addresses from a fib_trie text; returns the count stored (max n). */
size_t krt_parse_fib_trie_local(const char *text, struct krt_addr *addrs, size_t n);
/* Addresses from an if_inet6 text; returns the count stored (max n). */
size_t krt_parse_if_inet6(const char *text, struct krt_addr *addrs, size_t n);
/* A container id (64 hex digits) from a /proc/PID/cgroup text, into id (65 bytes). */
int krt_parse_cgroup_id(const char *text, char *id, size_t idlen);

#endif
