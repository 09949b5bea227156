// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The trace-context TCP option (bpf/tcp_option.bpf.c) on real sockets: this
 * process moves itself into a cgroup v2 of its own, attaches the sock_ops
 * program there with loopback as the peer network, and checks what its
 * connections carry: the context on every data segment of a socket that
 * has one, nothing on the others, nothing on connections outside the peer
 * networks, and what the receiving side parsed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "krtrace_tcp_option.h"
#include "tcp_option.skel.h"

#define CGROOT "/sys/fs/cgroup/unified"

static struct tcp_option_bpf *skel;
static struct bpf_link *cg_link;
static char cg_path[128];
static int cg_fd = -1;

struct conn {
	int listener, client, server;
};

static void conn_open(struct conn *c, int family)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	int one = 1;

	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		sl = sizeof(*s6);
	}
	c->listener = socket(family, SOCK_STREAM, 0);
	assert_true(c->listener >= 0);
	assert_int_equal(bind(c->listener, (struct sockaddr *)&ss, sl), 0);
	assert_int_equal(listen(c->listener, 4), 0);
	assert_int_equal(getsockname(c->listener, (struct sockaddr *)&ss, &sl), 0);
	c->client = socket(family, SOCK_STREAM, 0);
	assert_true(c->client >= 0);
	setsockopt(c->client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	assert_int_equal(connect(c->client, (struct sockaddr *)&ss, sl), 0);
	c->server = accept(c->listener, NULL, NULL);
	assert_true(c->server >= 0);
}

static void conn_close(struct conn *c)
{
	close(c->client);
	close(c->server);
	close(c->listener);
}

static void set_ctx(int fd, __u64 run, __u32 trace)
{
	struct krt_tcpopt_ctx ctx = { .run = run, .trace = trace };

	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.tcpopt_tx), &fd, &ctx, 0), 0);
}

static int get_rx(int fd, struct krt_tcpopt_rx *rx)
{
	return bpf_map_lookup_elem(bpf_map__fd(skel->maps.tcpopt_rx), &fd, rx);
}

static void xfer(int from, int to, size_t len)
{
	char *buf = calloc(1, len);
	size_t done = 0;
	ssize_t n;

	assert_non_null(buf);
	assert_int_equal(write(from, buf, len), (ssize_t)len);
	while (done < len) {
		n = read(to, buf, len - done);
		assert_true(n > 0);
		done += n;
	}
	free(buf);
}

static int setup(void **state)
{
	char pid[32];

	snprintf(cg_path, sizeof(cg_path), CGROOT "/krt-tcpopt-test-%d", getpid());
	if (mkdir(cg_path, 0755) && errno != EEXIST)
		return -1;
	snprintf(pid, sizeof(pid), "%d", getpid());
	{
		char procs[160];
		FILE *f;

		snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg_path);
		f = fopen(procs, "w");
		if (!f || fputs(pid, f) < 0 || fclose(f))
			return -1;
	}
	cg_fd = open(cg_path, O_RDONLY | O_DIRECTORY);
	if (cg_fd < 0)
		return -1;
	skel = tcp_option_bpf__open();
	if (!skel)
		return -1;
	/* 127.0.0.0/8: loopback is the "peer host" here. */
	skel->rodata->peer_net[0] = htonl(0x7f000000);
	skel->rodata->peer_mask[0] = htonl(0xff000000);
	if (tcp_option_bpf__load(skel))
		return -1;
	cg_link = bpf_program__attach_cgroup(skel->progs.krt_tcp_option, cg_fd);
	return cg_link ? 0 : -1;
}

static int teardown(void **state)
{
	FILE *f;

	bpf_link__destroy(cg_link);
	tcp_option_bpf__destroy(skel);
	if (cg_fd >= 0)
		close(cg_fd);
	/* Back to the root cgroup, then the test's cgroup can go. */
	f = fopen(CGROOT "/cgroup.procs", "w");
	if (f) {
		fprintf(f, "%d", getpid());
		fclose(f);
	}
	rmdir(cg_path);
	return 0;
}

/* A socket with a context: its data segment carries it, the receiver parses it. */
static void test_context_crosses(void **state)
{
	struct krt_tcpopt_stats before = skel->bss->stats;
	struct krt_tcpopt_rx rx;
	struct conn c;

	conn_open(&c, AF_INET);
	assert_int_equal(skel->bss->stats.sockets, before.sockets + 2);	/* both ends armed */
	set_ctx(c.client, 0x8123456789abcdefULL, 42);
	xfer(c.client, c.server, 100);
	assert_int_equal(get_rx(c.server, &rx), 0);
	assert_int_equal(rx.run, 0x8123456789abcdefULL);
	assert_int_equal(rx.trace, 42);
	assert_int_equal(rx.len, 100);
	assert_int_equal(rx.segments, 1);
	assert_int_equal(skel->bss->stats.written, before.written + 1);
	assert_int_equal(skel->bss->stats.parsed, before.parsed + 1);

	/* The next request of the keep-alive connection carries its own trace. */
	set_ctx(c.client, 0x8123456789abcdefULL, 43);
	xfer(c.client, c.server, 50);
	assert_int_equal(get_rx(c.server, &rx), 0);
	assert_int_equal(rx.trace, 43);
	assert_int_equal(rx.len, 50);
	assert_int_equal(rx.segments, 2);
	conn_close(&c);
}

/* A socket without a context (the reply here) sends no option. */
static void test_no_context_no_option(void **state)
{
	struct krt_tcpopt_stats before = skel->bss->stats;
	struct krt_tcpopt_rx rx;
	struct conn c;

	conn_open(&c, AF_INET);
	set_ctx(c.client, 0x8000000000000001ULL, 7);
	xfer(c.client, c.server, 10);
	xfer(c.server, c.client, 200);
	assert_true(get_rx(c.client, &rx) < 0);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(skel->bss->stats.written, before.written + 1);
	assert_int_equal(skel->bss->stats.parsed, before.parsed + 1);
	conn_close(&c);
}

/*
 * A large send: every segment carries the option and every one is parsed.
 * The option is written once per TSO packet and copied by GSO into each
 * segment cut from it, so segments parsed >= options written.
 */
static void test_every_segment(void **state)
{
	struct krt_tcpopt_stats before = skel->bss->stats;
	struct krt_tcpopt_rx rx;
	struct conn c;
	__u64 written;

	conn_open(&c, AF_INET);
	set_ctx(c.client, 0x8000000000000002ULL, 9);
	xfer(c.client, c.server, 1 << 20);
	written = skel->bss->stats.written - before.written;
	assert_true(written >= 2);
	assert_true(skel->bss->stats.parsed - before.parsed >= written);
	assert_int_equal(get_rx(c.server, &rx), 0);
	assert_int_equal(rx.segments, skel->bss->stats.parsed - before.parsed);
	assert_int_equal(rx.trace, 9);
	assert_int_equal(skel->bss->stats.no_room, before.no_room);
	conn_close(&c);
}

/* Outside the peer networks (IPv6 loopback here): not armed, no option. */
static void test_not_a_peer(void **state)
{
	struct krt_tcpopt_stats before = skel->bss->stats;
	struct krt_tcpopt_rx rx;
	struct conn c;

	conn_open(&c, AF_INET6);
	set_ctx(c.client, 0x8000000000000003ULL, 11);
	xfer(c.client, c.server, 100);
	assert_true(get_rx(c.server, &rx) < 0);
	assert_int_equal(skel->bss->stats.sockets, before.sockets);
	assert_int_equal(skel->bss->stats.written, before.written);
	conn_close(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_context_crosses),
		cmocka_unit_test(test_no_context_no_option),
		cmocka_unit_test(test_every_segment),
		cmocka_unit_test(test_not_a_peer),
	};
	struct stat st;

	if (geteuid() != 0) {
		printf("# SKIP needs root to load BPF programs\n");
		return 0;
	}
	if (stat(CGROOT "/cgroup.procs", &st)) {
		printf("# SKIP no cgroup v2 at " CGROOT "\n");
		return 0;
	}
	return cmocka_run_group_tests_name("tcp option", tests, setup, teardown);
}
