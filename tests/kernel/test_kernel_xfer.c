// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Kernel-side tests of the live path, selftests style: this process loads
 * the programs, traces only itself, makes real syscalls on real sockets and
 * checks the records that come back through the ring buffer.
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
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include "live_source.h"

#define MAX_EVENTS 4096

static struct krt_live_source *src;
static struct krt_event got[MAX_EVENTS];
static size_t n_got;

static void collect(const struct krt_event *ev, void *ctx)
{
	if (n_got < MAX_EVENTS)
		got[n_got++] = *ev;
}

/* Everything the ring holds now; the window is flushed completely. */
static void drain(void)
{
	n_got = 0;
	assert_true(krt_live_poll(src, 10, collect, NULL) >= 0);
	assert_true(krt_live_drain(src, collect, NULL) >= 0);
}

static size_t count_xfers(__u32 pid)
{
	size_t i, n = 0;

	for (i = 0; i < n_got; i++)
		if (got[i].type == KRT_EV_XFER && (!pid || got[i].pid == pid))
			n++;
	return n;
}

static const struct krt_event *find_xfer(__u8 dir, __s32 fd, size_t nth)
{
	size_t i;

	for (i = 0; i < n_got; i++) {
		if (got[i].type != KRT_EV_XFER || got[i].xfer.dir != dir)
			continue;
		if (fd >= 0 && got[i].xfer.fd != fd)
			continue;
		if (nth-- == 0)
			return &got[i];
	}
	return NULL;
}

struct conn {
	int listener, client, server;
	int family;
};

static void conn_open(struct conn *c, int family)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (void *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (void *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		len = sizeof(*sin6);
	}
	c->family = family;
	c->listener = socket(family, SOCK_STREAM, 0);
	assert_true(c->listener >= 0);
	assert_int_equal(bind(c->listener, (void *)&ss, len), 0);
	assert_int_equal(listen(c->listener, 4), 0);
	assert_int_equal(getsockname(c->listener, (void *)&ss, &len), 0);
	c->client = socket(family, SOCK_STREAM, 0);
	assert_true(c->client >= 0);
	setsockopt(c->client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	assert_int_equal(connect(c->client, (void *)&ss, len), 0);
	c->server = accept(c->listener, NULL, NULL);
	assert_true(c->server >= 0);
}

static void conn_close(struct conn *c)
{
	close(c->client);
	close(c->server);
	close(c->listener);
}

static __u16 local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	assert_int_equal(getsockname(fd, (void *)&ss, &len), 0);
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void read_exactly(int fd, char *buf, size_t n)
{
	size_t got_bytes = 0;

	while (got_bytes < n) {
		ssize_t r = read(fd, buf + got_bytes, n - got_bytes);

		assert_true(r > 0);
		got_bytes += r;
	}
}

static int open_source(bool syscall_hooks)
{
	struct krt_live_opts o = { .trace_switch = true, .trace_wakeup = true,
				   .syscall_hooks = syscall_hooks };

	src = krt_live_open(&o, "test_kernel_xfer");
	if (!src || krt_live_syscall_hooks(src) != syscall_hooks)
		return -1;
	if (krt_live_trace_tgid(src, getpid()) || krt_live_attach(src, "test_kernel_xfer"))
		return -1;
	return 0;
}

/* The socket tracepoints (Linux 6.3+): the default transfer hooks. */
static int setup_group(void **state)
{
	return open_source(false);
}

/* The fallback for older kernels, forced here: the same tests must hold. */
static int setup_group_syscall_hooks(void **state)
{
	return open_source(true);
}

static int teardown_group(void **state)
{
	krt_live_close(src);
	return 0;
}

/* A send and its receive: bytes, direction, 4-tuple, same sequence on both ends. */
static void test_tcp_send_recv_ipv4(void **state)
{
	const struct krt_event *s1, *s2, *r1;
	char buf[300];
	struct conn c;

	conn_open(&c, AF_INET);
	drain();
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(write(c.client, buf, 100), 100);
	read_exactly(c.server, buf, 100);
	assert_int_equal(send(c.client, buf, 200, 0), 200);
	read_exactly(c.server, buf, 200);
	drain();

	s1 = find_xfer(KRT_DIR_SEND, c.client, 0);
	s2 = find_xfer(KRT_DIR_SEND, c.client, 1);
	r1 = find_xfer(KRT_DIR_RECV, c.server, 0);
	assert_non_null(s1);
	assert_non_null(s2);
	assert_non_null(r1);
	assert_int_equal(s1->pid, getpid());
	assert_int_equal(s1->tid, syscall(SYS_gettid));
	assert_int_equal(s1->xfer.bytes, 100);
	assert_int_equal(s1->xfer.syscall_nr, SYS_write);
	assert_int_equal(s2->xfer.bytes, 200);
	assert_int_equal(s2->xfer.syscall_nr, SYS_sendto);
	assert_int_equal(s1->xfer.tuple.local.family, AF_INET);
	assert_int_equal(s1->xfer.tuple.local.port, local_port(c.client));
	assert_int_equal(s1->xfer.tuple.remote.port, local_port(c.server));
	assert_memory_equal(s1->xfer.tuple.remote.addr, "\x7f\0\0\x01", 4);
	assert_int_equal(r1->xfer.tuple.local.port, local_port(c.server));
	assert_int_equal(r1->xfer.tuple.remote.port, local_port(c.client));
	/* The receiver sees the sender's sequence numbers. */
	assert_true(s1->xfer.flags & KRT_XF_SEQ);
	assert_true(r1->xfer.flags & KRT_XF_SEQ);
	assert_int_equal(r1->xfer.seq, s1->xfer.seq);
	assert_int_equal(s2->xfer.seq, (__u32)(s1->xfer.seq + 100));
	assert_int_equal(s1->xfer.sock_id != r1->xfer.sock_id, 1);
	assert_true(s1->ts_ns <= s2->ts_ns);
	conn_close(&c);
}

static void test_tcp_ipv6_tuple(void **state)
{
	const struct krt_event *s;
	struct conn c;

	conn_open(&c, AF_INET6);
	drain();
	assert_int_equal(write(c.client, "hello", 5), 5);
	drain();
	s = find_xfer(KRT_DIR_SEND, c.client, 0);
	assert_non_null(s);
	assert_int_equal(s->xfer.bytes, 5);
	assert_int_equal(s->xfer.tuple.local.family, AF_INET6);
	assert_memory_equal(s->xfer.tuple.remote.addr, &in6addr_loopback, 16);
	assert_int_equal(s->xfer.tuple.remote.port, local_port(c.server));
	conn_close(&c);
}

/* writev/readv are one record each, like nginx's sends. */
static void test_writev_readv(void **state)
{
	const struct krt_event *s, *r;
	char a[10] = "0123456789", b[20], in1[15], in2[15];
	struct iovec out[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	struct iovec inv[2] = { { in1, sizeof(in1) }, { in2, sizeof(in2) } };
	struct conn c;

	memset(b, 'b', sizeof(b));
	conn_open(&c, AF_INET);
	drain();
	assert_int_equal(writev(c.client, out, 2), 30);
	usleep(10000);
	assert_int_equal(readv(c.server, inv, 2), 30);
	drain();
	s = find_xfer(KRT_DIR_SEND, c.client, 0);
	r = find_xfer(KRT_DIR_RECV, c.server, 0);
	assert_non_null(s);
	assert_non_null(r);
	assert_int_equal(s->xfer.bytes, 30);
	assert_int_equal(s->xfer.syscall_nr, SYS_writev);
	assert_int_equal(r->xfer.bytes, 30);
	assert_int_equal(r->xfer.syscall_nr, SYS_readv);
	assert_int_equal(r->xfer.seq, s->xfer.seq);
	assert_null(find_xfer(KRT_DIR_SEND, c.client, 1));
	conn_close(&c);
}

/* A MSG_PEEK leaves the bytes queued: no record until the real receive. */
static void test_peek_is_not_a_receive(void **state)
{
	char buf[16];
	struct conn c;

	conn_open(&c, AF_INET);
	assert_int_equal(write(c.client, "abcdef", 6), 6);
	usleep(10000);
	drain();
	assert_int_equal(recv(c.server, buf, sizeof(buf), MSG_PEEK), 6);
	drain();
	assert_null(find_xfer(KRT_DIR_RECV, -1, 0));
	assert_int_equal(recv(c.server, buf, sizeof(buf), 0), 6);
	drain();
	assert_non_null(find_xfer(KRT_DIR_RECV, c.server, 0));
	conn_close(&c);
}

/* Writes to files, pipes and UDP sockets are not TCP transfers. */
static void test_non_tcp_writes_produce_nothing(void **state)
{
	int pipefd[2], null_fd, udp;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(9),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char buf[64] = { 0 };

	assert_int_equal(pipe(pipefd), 0);
	null_fd = open("/dev/null", O_WRONLY);
	assert_true(null_fd >= 0);
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(udp >= 0);
	drain();
	assert_int_equal(write(pipefd[1], buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(read(pipefd[0], buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(write(null_fd, buf, sizeof(buf)), sizeof(buf));
	sendto(udp, buf, 8, 0, (void *)&sin, sizeof(sin));
	drain();
	assert_int_equal(count_xfers(0), 0);
	close(pipefd[0]);
	close(pipefd[1]);
	close(null_fd);
	close(udp);
}

/*
 * A raw socket of protocol TCP (a SYN scanner, a probe crafting segments)
 * has no connection behind it: its sends and receives are no transfers
 * (they were once read as a TCP connection, with a sequence of garbage).
 */
static void test_raw_tcp_socket_produces_nothing(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(9),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char seg[20] = { 0 }, buf[128];
	int raw = socket(AF_INET, SOCK_RAW, IPPROTO_TCP);

	assert_true(raw >= 0);
	drain();
	assert_int_equal(sendto(raw, seg, sizeof(seg), 0, (void *)&sin, sizeof(sin)), sizeof(seg));
	/* the segment comes back to every raw TCP socket: a receive too */
	assert_true(recv(raw, buf, sizeof(buf), MSG_DONTWAIT) > 0);
	drain();
	assert_int_equal(count_xfers(0), 0);
	close(raw);
}

/* Once this process is not traced, its socket traffic leaves no record. */
static void test_untraced_process_produces_nothing(void **state)
{
	char buf[64];
	struct conn c;
	size_t before;

	conn_open(&c, AF_INET);
	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	drain();
	assert_int_equal(write(c.client, "ping", 4), 4);
	read_exactly(c.server, buf, 4);
	drain();
	before = n_got;
	assert_int_equal(krt_live_trace_tgid(src, getpid()), 0);
	assert_int_equal(before, 0);
	conn_close(&c);
}

/* A child process forked by a traced process is traced by the kernel side. */
static void test_fork_traces_child(void **state)
{
	const struct krt_event *s;
	char buf[8];
	struct conn c;
	pid_t child;
	int status;
	size_t i;
	bool fork_seen = false;

	conn_open(&c, AF_INET);
	drain();
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(write(c.client, "child", 5) == 5 ? 0 : 1);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(WEXITSTATUS(status), 0);
	read_exactly(c.server, buf, 5);
	drain();
	for (i = 0; i < n_got; i++)
		if (got[i].type == KRT_EV_FORK && got[i].fork.child_pid == (__u32)child &&
		    got[i].fork.parent_pid == (__u32)getpid())
			fork_seen = true;
	assert_true(fork_seen);
	s = find_xfer(KRT_DIR_SEND, c.client, 0);
	assert_non_null(s);
	assert_int_equal(s->pid, child);
	assert_int_equal(s->xfer.bytes, 5);
	conn_close(&c);
}

/* Records reach the consumer in timestamp order and are counted. */
static void test_order_and_counters(void **state)
{
	struct krt_source_stats st = { 0 };
	char buf[32];
	struct conn c;
	size_t i;
	int k;

	conn_open(&c, AF_INET);
	drain();
	for (k = 0; k < 50; k++) {
		assert_int_equal(write(c.client, "0123456789", 10), 10);
		read_exactly(c.server, buf, 10);
	}
	drain();
	assert_int_equal(count_xfers(getpid()), 100);
	for (i = 1; i < n_got; i++)
		assert_true(got[i - 1].ts_ns <= got[i].ts_ns);
	krt_live_stats(src, &st);
	assert_true(st.ring_records >= 100);
	assert_int_equal(st.ring_drops, 0);
	assert_int_equal(st.map_full, 0);
	conn_close(&c);
}

/* The same tests for both transfer hooks; the fallback's names say so. */
#define XFER_TESTS(prefix)                                                        \
	{                                                                         \
		{ prefix "tcp_send_recv_ipv4", test_tcp_send_recv_ipv4 },         \
		{ prefix "tcp_ipv6_tuple", test_tcp_ipv6_tuple },                 \
		{ prefix "writev_readv", test_writev_readv },                     \
		{ prefix "peek_is_not_a_receive", test_peek_is_not_a_receive },   \
		{ prefix "non_tcp_writes_produce_nothing",                        \
		  test_non_tcp_writes_produce_nothing },                          \
		{ prefix "raw_tcp_socket_produces_nothing",                       \
		  test_raw_tcp_socket_produces_nothing },                         \
		{ prefix "untraced_process_produces_nothing",                     \
		  test_untraced_process_produces_nothing },                       \
		{ prefix "fork_traces_child", test_fork_traces_child },           \
		{ prefix "order_and_counters", test_order_and_counters },         \
	}

int main(void)
{
	const struct CMUnitTest tests[] = XFER_TESTS("test_");
	const struct CMUnitTest fallback[] = XFER_TESTS("syscall_hooks: test_");
	int failed;

	if (geteuid() != 0) {
		printf("# SKIP needs root to load BPF programs\n");
		return 0;
	}
	failed = cmocka_run_group_tests_name("socket tracepoints", tests, setup_group,
					     teardown_group);
	failed += cmocka_run_group_tests_name("syscall hooks (fallback)", fallback,
					      setup_group_syscall_hooks, teardown_group);
	return failed;
}
