// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Container discovery: group every process by network namespace (inode of
 * /proc/PID/ns/net), read each namespace's addresses once through one of
 * its processes (/proc/PID/net/fib_trie and if_inet6 show the namespace of
 * that process, no setns needed), and keep the namespaces holding an
 * address in the gateway's subnet. Works without a container engine: a
 * "container" is anything with its own network namespace on the bridge.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "addr.h"
#include "container_discovery.h"

#define MAX_NS_ADDRS 32

struct netns {
	ino_t ino;
	dev_t dev;
	bool checked; /* addresses read */
	bool member;  /* holds an address in the subnet */
	struct krt_addr ip;
	char name[KRT_NAME_LEN];
	char hash[KRT_HASH_LEN];
};

struct proc_entry {
	__u32 pid;
	size_t ns; /* index into the netns table */
};

int krt_addr_in_subnet(const struct krt_addr *ip, const struct krt_addr *net, __u8 prefix_len)
{
	size_t len = ip->family == KRT_AF_INET ? 4 : 16;
	size_t full = prefix_len / 8, rest = prefix_len % 8;

	if (ip->family != net->family || !ip->family || prefix_len > len * 8)
		return 0;
	if (memcmp(ip->addr, net->addr, full))
		return 0;
	if (rest) {
		__u8 mask = (__u8)(0xff << (8 - rest));

		if ((ip->addr[full] & mask) != (net->addr[full] & mask))
			return 0;
	}
	return 1;
}

static int mask_to_prefix(const struct sockaddr *sa)
{
	const __u8 *b;
	size_t len, i;
	int bits = 0;

	if (sa->sa_family == AF_INET) {
		b = (const __u8 *)&((const struct sockaddr_in *)sa)->sin_addr;
		len = 4;
	} else {
		b = (const __u8 *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		len = 16;
	}
	for (i = 0; i < len; i++)
		bits += __builtin_popcount(b[i]);
	return bits;
}

int krt_gateway_prefix(const struct krt_addr *gateway)
{
	struct ifaddrs *ifa, *it;
	int prefix = -1;

	if (getifaddrs(&ifa))
		return -1;
	for (it = ifa; it && prefix < 0; it = it->ifa_next) {
		struct krt_addr a = {0};

		if (!it->ifa_addr || !it->ifa_netmask)
			continue;
		if (it->ifa_addr->sa_family == AF_INET) {
			a.family = KRT_AF_INET;
			memcpy(a.addr, &((struct sockaddr_in *)it->ifa_addr)->sin_addr, 4);
		} else if (it->ifa_addr->sa_family == AF_INET6) {
			a.family = KRT_AF_INET6;
			memcpy(a.addr, &((struct sockaddr_in6 *)it->ifa_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		if (a.family == gateway->family &&
		    !memcmp(a.addr, gateway->addr, a.family == KRT_AF_INET ? 4 : 16))
			prefix = mask_to_prefix(it->ifa_netmask);
	}
	freeifaddrs(ifa);
	return prefix;
}

size_t krt_parse_fib_trie_local(const char *text, struct krt_addr *addrs, size_t n)
{
	struct krt_addr last = {0};
	const char *line = text;
	size_t found = 0;

	while (line && *line && found < n) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char buf[128], *p;

		if (len >= sizeof(buf))
			len = sizeof(buf) - 1;
		memcpy(buf, line, len);
		buf[len] = '\0';
		p = strstr(buf, "|-- ");

		if (p) {
			struct in_addr in;

			last.family = 0;
			if (inet_pton(AF_INET, p + 4, &in) == 1) {
				last.family = KRT_AF_INET;
				memcpy(last.addr, &in, 4);
			}
		} else if (strstr(buf, "host LOCAL") && last.family) {
			size_t i;
			bool dup = false;

			for (i = 0; i < found; i++)
				dup |= !memcmp(addrs[i].addr, last.addr, 4);
			if (!dup)
				addrs[found++] = last;
		}
		line = eol ? eol + 1 : NULL;
	}
	return found;
}

size_t krt_parse_if_inet6(const char *text, struct krt_addr *addrs, size_t n)
{
	const char *line = text;
	size_t found = 0;

	while (line && *line && found < n) {
		const char *eol = strchr(line, '\n');
		struct krt_addr a = {.family = KRT_AF_INET6};
		int i;

		for (i = 0; i < 16; i++) {
			unsigned int byte;

			if (!isxdigit((unsigned char)line[2 * i]) ||
			    !isxdigit((unsigned char)line[2 * i + 1]) ||
			    sscanf(line + 2 * i, "%2x", &byte) != 1)
				break;
			a.addr[i] = byte;
		}
		if (i == 16)
			addrs[found++] = a;
		line = eol ? eol + 1 : NULL;
	}
	return found;
}

int krt_parse_cgroup_id(const char *text, char *id, size_t idlen)
{
	const char *p = text;

	/* docker-<id>.scope, /docker/<id>, cri-containerd-<id>, crio-<id>, libpod-<id> */
	while (*p) {
		size_t run = 0;

		while (isxdigit((unsigned char)p[run]) && !isupper((unsigned char)p[run]))
			run++;
		if (run == 64 && (p == text || !isxdigit((unsigned char)p[-1]))) {
			if (idlen < 65)
				return -1;
			memcpy(id, p, 64);
			id[64] = '\0';
			return 0;
		}
		p += run ? run : 1;
	}
	return -1;
}

static char *read_small_file(const char *path, size_t max)
{
	char *buf = malloc(max + 1);
	size_t n = 0;
	ssize_t r;
	int fd;

	if (!buf)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return NULL;
	}
	while (n < max && (r = read(fd, buf + n, max - n)) > 0)
		n += r;
	close(fd);
	buf[n] = '\0';
	return buf;
}

/* The namespace's address in the subnet, read through one of its processes. */
static bool netns_address(const char *proc, __u32 pid, const struct krt_addr *gw, __u8 prefix,
			  struct krt_addr *out)
{
	struct krt_addr addrs[MAX_NS_ADDRS];
	char path[256], *text;
	size_t n = 0, i;

	snprintf(path, sizeof(path), "%s/%u/net/%s", proc, pid,
		 gw->family == KRT_AF_INET ? "fib_trie" : "if_inet6");
	text = read_small_file(path, 1 << 20);
	if (!text)
		return false;
	if (gw->family == KRT_AF_INET)
		n = krt_parse_fib_trie_local(text, addrs, MAX_NS_ADDRS);
	else
		n = krt_parse_if_inet6(text, addrs, MAX_NS_ADDRS);
	free(text);
	for (i = 0; i < n; i++) {
		if (krt_ip_eq(&addrs[i], gw))
			continue;
		if (krt_addr_in_subnet(&addrs[i], gw, prefix)) {
			*out = addrs[i];
			return true;
		}
	}
	return false;
}

static bool netns_name_from_run(const char *dir, const struct netns *ns, char *name, size_t len)
{
	struct dirent *de;
	bool found = false;
	DIR *d = opendir(dir);

	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		char path[512];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!stat(path, &st) && st.st_ino == ns->ino && st.st_dev == ns->dev) {
			/* names longer than the PIDs file allows are cut */
			size_t n = strnlen(de->d_name, len - 1);

			memcpy(name, de->d_name, n);
			name[n] = '\0';
			found = true;
		}
	}
	closedir(d);
	return found;
}

/*
 * The UTS hostname of another namespace: only readable from inside it, so a
 * short-lived child joins it and reports through a pipe.
 */
static bool uts_hostname(const char *proc, __u32 pid, char *name, size_t len)
{
	char path[256], host[65] = "";
	struct stat mine, theirs;
	int p[2], status;
	ssize_t n;
	pid_t child;

	snprintf(path, sizeof(path), "%s/%u/ns/uts", proc, pid);
	if (stat("/proc/self/ns/uts", &mine) || stat(path, &theirs) || mine.st_ino == theirs.st_ino)
		return false;
	if (pipe(p))
		return false;
	child = fork();
	if (child < 0) {
		close(p[0]);
		close(p[1]);
		return false;
	}
	if (child == 0) {
		int fd = open(path, O_RDONLY);

		close(p[0]);
		if (fd >= 0 && !setns(fd, CLONE_NEWUTS) && !gethostname(host, sizeof(host) - 1))
			n = write(p[1], host, strlen(host));
		_exit(0);
	}
	close(p[1]);
	n = read(p[0], host, sizeof(host) - 1);
	close(p[0]);
	waitpid(child, &status, 0);
	if (n <= 0)
		return false;
	host[n] = '\0';
	snprintf(name, len, "%s", host);
	return true;
}

static void netns_identify(const struct krt_discovery_opts *o, const char *proc, __u32 pid,
			   struct netns *ns)
{
	char path[256], id[65], *text;

	snprintf(path, sizeof(path), "%s/%u/cgroup", proc, pid);
	text = read_small_file(path, 64 * 1024);
	if (text && !krt_parse_cgroup_id(text, id, sizeof(id)))
		snprintf(ns->hash, sizeof(ns->hash), "%s", id);
	else
		snprintf(ns->hash, sizeof(ns->hash), "netns:%lu", (unsigned long)ns->ino);
	free(text);

	if (netns_name_from_run(o && o->netns_dir ? o->netns_dir : "/run/netns", ns, ns->name,
				sizeof(ns->name)))
		return;
	if (ns->hash[0] != 'n') {
		snprintf(ns->name, sizeof(ns->name), "%.12s", ns->hash);
		return;
	}
	if (uts_hostname(proc, pid, ns->name, sizeof(ns->name)))
		return;
	snprintf(ns->name, sizeof(ns->name), "netns-%lu", (unsigned long)ns->ino);
}

static int cmp_container(const void *a, const void *b)
{
	const struct krt_container *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

int krt_discover_containers(const struct krt_addr *gateway, const struct krt_discovery_opts *o,
			    struct krt_pids *out, char *err, size_t errlen)
{
	const char *proc = o && o->proc_root ? o->proc_root : "/proc";
	struct netns *nss = NULL;
	size_t n_ns = 0, cap_ns = 0, i, first = out->n;
	struct stat self_ns;
	struct dirent *de;
	int prefix, found = 0;
	DIR *d;

	prefix = o && o->prefix_len ? o->prefix_len : krt_gateway_prefix(gateway);
	if (prefix <= 0) {
		snprintf(err, errlen,
			 "no interface of this host holds the gateway address "
			 "(looked at every interface; is it the bridge's address?)");
		return -1;
	}
	if (stat("/proc/self/ns/net", &self_ns)) {
		snprintf(err, errlen, "/proc/self/ns/net: %s", strerror(errno));
		return -1;
	}
	d = opendir(proc);
	if (!d) {
		snprintf(err, errlen, "%s: %s", proc, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		char path[256], *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);
		struct stat st;
		struct netns *ns = NULL;

		if (*end || !pid)
			continue;
		snprintf(path, sizeof(path), "%s/%lu/ns/net", proc, pid);
		if (stat(path, &st))
			continue; /* exited meanwhile, or a kernel thread */
		if (st.st_ino == self_ns.st_ino && st.st_dev == self_ns.st_dev)
			continue;
		for (i = 0; i < n_ns; i++)
			if (nss[i].ino == st.st_ino && nss[i].dev == st.st_dev)
				ns = &nss[i];
		if (!ns) {
			if (n_ns == cap_ns) {
				size_t c = cap_ns ? cap_ns * 2 : 16;
				void *v = realloc(nss, c * sizeof(*nss));

				if (!v)
					goto oom;
				nss = v;
				cap_ns = c;
			}
			ns = &nss[n_ns++];
			memset(ns, 0, sizeof(*ns));
			ns->ino = st.st_ino;
			ns->dev = st.st_dev;
		}
		if (!ns->checked) {
			ns->checked = true;
			ns->member = netns_address(proc, pid, gateway, prefix, &ns->ip);
			if (ns->member) {
				netns_identify(o, proc, pid, ns);
				found++;
			}
		}
		if (ns->member) {
			struct krt_container c = {.pid = pid, .ip = ns->ip};

			snprintf(c.name, sizeof(c.name), "%s", ns->name);
			snprintf(c.hash, sizeof(c.hash), "%s", ns->hash);
			if (krt_pids_add(out, &c))
				goto oom;
		}
	}
	closedir(d);
	free(nss);
	qsort(out->v + first, out->n - first, sizeof(*out->v), cmp_container);
	return found;
oom:
	closedir(d);
	free(nss);
	snprintf(err, errlen, "out of memory");
	return -1;
}
