// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Kernel-side tagging and sampling, selftests style. The "gateway" is
 * 127.0.0.2: a client socket bound to it plays the outside caller, and
 * sockets between 127.0.0.1 ends are the inside of the application.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include "live_source.h"
#include "krtrace_bpf.h"	/* the state tables' slots */
#include "krtrace_tcp_option.h"
#include "trace_id.h"

#define MAX_EVENTS 8192
#define GATEWAY "127.0.0.2"

static struct krt_live_source *src;
/* The second run of the group reads transfers at syscall exit (the fallback). */
static bool syscall_hooks;
static __u32 state_slots;	/* 0 = all; 8: the tables' probing at work */
static struct krt_event got[MAX_EVENTS];
static size_t n_got;

static void collect(const struct krt_event *ev, void *ctx)
{
	if (n_got < MAX_EVENTS)
		got[n_got++] = *ev;
}

static void drain_from(struct krt_live_source *s)
{
	n_got = 0;
	assert_true(krt_live_poll(s, 10, collect, NULL) >= 0);
	assert_true(krt_live_drain(s, collect, NULL) >= 0);
}

/* What the source said about thread tid, on stderr: why a test failed. */
static void show_thread_events(pid_t tid)
{
	size_t i;

	for (i = 0; i < n_got; i++) {
		const struct krt_event *e = &got[i];

		if (e->type == KRT_EV_XFER && (pid_t)e->tid == tid)
			fprintf(stderr, "#   %llu xfer tid %d dir %u fd %d bytes %llu trace %u flags 0x%x\n",
				(unsigned long long)e->ts_ns, e->tid, e->xfer.dir, e->xfer.fd,
				(unsigned long long)e->xfer.bytes, e->xfer.trace_id, e->xfer.flags);
		else if (e->type == KRT_EV_WAKEUP && (pid_t)e->wakeup.target_tid == tid)
			fprintf(stderr, "#   %llu wakeup %d -> %d\n", (unsigned long long)e->ts_ns,
				e->tid, e->wakeup.target_tid);
		else if (e->type == KRT_EV_SWITCH &&
			 ((pid_t)e->sw.prev_tid == tid || (pid_t)e->sw.next_tid == tid))
			fprintf(stderr, "#   %llu switch %d (state %lld) -> %d\n",
				(unsigned long long)e->ts_ns, e->sw.prev_tid,
				(long long)e->sw.prev_state, e->sw.next_tid);
		else if (e->type == KRT_EV_CPU && (pid_t)e->tid == tid)
			fprintf(stderr, "#   %llu cpu tid %d trace %u on %llu us, waiting %llu us\n",
				(unsigned long long)e->ts_ns, e->tid, e->oncpu.trace_id,
				(unsigned long long)e->oncpu.oncpu_ns / 1000,
				(unsigned long long)e->oncpu.runq_ns / 1000);
	}
}

static const struct krt_event *find_xfer(__u8 dir, int fd, size_t nth)
{
	size_t i;

	for (i = 0; i < n_got; i++) {
		if (got[i].type != KRT_EV_XFER || got[i].xfer.dir != dir || got[i].xfer.fd != fd)
			continue;
		if (nth-- == 0)
			return &got[i];
	}
	return NULL;
}

/* A connected pair: client bound to from_ip, server accepted on to_ip. */
static void tcp_pair_at(const char *from_ip, const char *to_ip, int *client, int *server)
{
	struct sockaddr_in sin = { .sin_family = AF_INET }, cin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int one = 1, lfd, tries;

	/*
	 * The server's port below the client's, as with a real server's
	 * listening port: the kernel side tells a server side whose accept it
	 * did not see by the lower port. Ephemeral ports are random: the
	 * listener takes one low in the range, the client one above it.
	 */
	for (tries = 0;; tries++) {
		lfd = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(lfd >= 0);
		assert_int_equal(inet_pton(AF_INET, to_ip, &sin.sin_addr), 1);
		sin.sin_port = 0;
		len = sizeof(sin);
		assert_int_equal(bind(lfd, (void *)&sin, len), 0);
		assert_int_equal(getsockname(lfd, (void *)&sin, &len), 0);
		if (ntohs(sin.sin_port) < 40000 || tries == 1000)
			break;
		close(lfd);
	}
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(inet_pton(AF_INET, from_ip, &cin.sin_addr), 1);
	for (tries = 0;; tries++) {
		struct sockaddr_in bound;
		socklen_t blen = sizeof(bound);

		*client = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(*client >= 0);
		cin.sin_port = 0;
		assert_int_equal(bind(*client, (void *)&cin, sizeof(cin)), 0);
		assert_int_equal(getsockname(*client, (void *)&bound, &blen), 0);
		if (ntohs(bound.sin_port) > ntohs(sin.sin_port) || tries == 1000)
			break;
		close(*client);
	}
	assert_true(tries < 1000);
	setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	assert_int_equal(connect(*client, (void *)&sin, len), 0);
	*server = accept(lfd, NULL, NULL);
	assert_true(*server >= 0);
	setsockopt(*server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(lfd);
}

/* A connected pair: client bound to from_ip, server accepted on 127.0.0.1. */
static void tcp_pair(const char *from_ip, int *client, int *server)
{
	tcp_pair_at(from_ip, "127.0.0.1", client, server);
}

static void read_n(int fd, size_t n)
{
	char buf[256];
	size_t got_bytes = 0;

	while (got_bytes < n) {
		ssize_t r = read(fd, buf, n - got_bytes < sizeof(buf) ? n - got_bytes : sizeof(buf));

		assert_true(r > 0);
		got_bytes += r;
	}
}

/*
 * The sources tests opened and have not closed yet. A test that fails
 * half-way (cmocka jumps out of it) would leave its source attached and
 * this process untraced by the group's: the next tests would read the
 * wrong source, or find two maps of one name (own_map_fd). Their teardown
 * (test_abandon) closes what is left.
 */
#define MAX_OWN_SOURCES 4
static struct krt_live_source *own_sources[MAX_OWN_SOURCES];

static void own_source_add(struct krt_live_source *s)
{
	int i;

	for (i = 0; i < MAX_OWN_SOURCES; i++) {
		if (!own_sources[i]) {
			own_sources[i] = s;
			return;
		}
	}
	krt_live_close(s);
	fail_msg("more than %d sources open at once", MAX_OWN_SOURCES);
}

/* A source a test opened ends (not the group's: that one the group's teardown closes). */
static void own_source_close(struct krt_live_source *s)
{
	int i;

	for (i = 0; i < MAX_OWN_SOURCES; i++)
		if (own_sources[i] == s)
			own_sources[i] = NULL;
	krt_live_close(s);
}

/*
 * A source with options o (the gateway set here) tracing this process;
 * inside_peer: 127.0.0.1 is a traced container's address (sends there wait
 * for their receiver when o merges hops).
 */
static struct krt_live_source *open_source_with(struct krt_live_opts o, bool inside_peer)
{
	struct krt_addr inside = { .family = KRT_AF_INET, .addr = { 127, 0, 0, 1 } };
	struct krt_live_source *s;

	o.trace_switch = true;
	o.trace_wakeup = true;
	o.syscall_hooks = syscall_hooks;
	o.state_slots = state_slots;
	assert_int_equal(inet_pton(AF_INET, GATEWAY, o.gateway.addr), 1);
	o.gateway.family = KRT_AF_INET;
	s = krt_live_open(&o, "test_kernel_tags");
	if (!s)
		return NULL;
	if (krt_live_syscall_hooks(s) != syscall_hooks ||
	    (inside_peer && krt_live_add_peer(s, &inside)) ||
	    krt_live_trace_tgid(s, getpid()) || krt_live_attach(s, "test_kernel_tags")) {
		krt_live_close(s);
		fail_msg("source not opened as asked (syscall hooks %d)", syscall_hooks);
	}
	own_source_add(s);
	return s;
}

static struct krt_live_source *open_source(__u32 sample_rate)
{
	struct krt_live_opts o = { .kernel_tags = true, .sample_rate = sample_rate };

	return open_source_with(o, false);
}

/* A test's own source ends; the group's traces this process again. */
static void close_own_source(struct krt_live_source *s)
{
	own_source_close(s);
	assert_int_equal(krt_live_trace_tgid(src, getpid()), 0);
}

static int setup_group(void **state)
{
	src = open_source(0);
	if (src)
		own_sources[0] = NULL; /* the group's: closed by teardown_group */
	return src ? 0 : -1;
}

static int setup_group_syscall_hooks(void **state)
{
	syscall_hooks = true;
	return setup_group(state);
}

/*
 * State tables of 8 slots: states collide and probe past their first slot
 * (the path taken in a full table), with room for every test's states.
 */
static int setup_group_small_tables(void **state)
{
	syscall_hooks = false;
	state_slots = 8;
	return setup_group(state);
}

static void leave_test_cgroup(void);

static int teardown_group(void **state)
{
	krt_live_close(src);
	/* the TCP option tests' cgroup, also when an assertion cut one short */
	leave_test_cgroup();
	return 0;
}

/*
 * Rule 1 in the kernel: a receive from the gateway starts a trace; a second
 * receive before the answer stays in it; the answer carries it; the next
 * request on the same keep-alive connection gets a new one.
 */
static void test_ingress_and_keepalive(void **state)
{
	const struct krt_event *r1, *r1b, *s1, *r2;
	int gw, srv;

	tcp_pair(GATEWAY, &gw, &srv);
	drain_from(src);
	assert_int_equal(write(gw, "GET /1", 6), 6);
	read_n(srv, 6);
	assert_int_equal(write(gw, "\r\n", 2), 2);
	read_n(srv, 2);
	assert_int_equal(write(srv, "reply1", 6), 6);
	read_n(gw, 6);
	assert_int_equal(write(gw, "GET /2\r\n", 8), 8);
	read_n(srv, 8);
	drain_from(src);

	r1 = find_xfer(KRT_DIR_RECV, srv, 0);
	r1b = find_xfer(KRT_DIR_RECV, srv, 1);
	s1 = find_xfer(KRT_DIR_SEND, srv, 0);
	r2 = find_xfer(KRT_DIR_RECV, srv, 2);
	assert_non_null(r1);
	assert_non_null(r1b);
	assert_non_null(s1);
	assert_non_null(r2);
	assert_true(r1->xfer.flags & KRT_XF_TAGGED);
	assert_int_not_equal(r1->xfer.trace_id, 0);
	assert_int_equal(r1b->xfer.trace_id, r1->xfer.trace_id);
	assert_int_equal(s1->xfer.trace_id, r1->xfer.trace_id);
	assert_true(r2->xfer.flags & KRT_XF_TAGGED);
	assert_int_not_equal(r2->xfer.trace_id, 0);
	assert_int_not_equal(r2->xfer.trace_id, r1->xfer.trace_id);
	close(gw);
	close(srv);
}

/*
 * A dual-stack server (an AF_INET6 socket, as a JVM opens them) serving an
 * IPv4 client: the kernel names both ends as IPv4-mapped addresses. They
 * must read as the IPv4 ends, or the gateway's request is no ingress and
 * the server's sends name no traced peer (a JVM's sends were all lost).
 */
static void test_dual_stack_server(void **state)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in to = { .sin_family = AF_INET }, from = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin6);
	const struct krt_event *r1, *s1;
	int lfd, gw, srv, zero = 0, one = 1;
	const __u8 gw_addr[4] = { 127, 0, 0, 2 };

	lfd = socket(AF_INET6, SOCK_STREAM, 0);
	if (lfd < 0)
		skip();
	assert_int_equal(setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)), 0);
	assert_int_equal(bind(lfd, (void *)&sin6, len), 0);
	assert_int_equal(getsockname(lfd, (void *)&sin6, &len), 0);
	assert_int_equal(listen(lfd, 4), 0);
	gw = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(gw >= 0);
	assert_int_equal(inet_pton(AF_INET, GATEWAY, &from.sin_addr), 1);
	assert_int_equal(bind(gw, (void *)&from, sizeof(from)), 0);
	setsockopt(gw, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to.sin_port = sin6.sin6_port;
	assert_int_equal(connect(gw, (void *)&to, sizeof(to)), 0);
	srv = accept(lfd, NULL, NULL);
	assert_true(srv >= 0);
	setsockopt(srv, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(lfd);
	drain_from(src);
	assert_int_equal(write(gw, "GET /v6", 7), 7);
	read_n(srv, 7);
	assert_int_equal(write(srv, "reply", 5), 5);
	read_n(gw, 5);
	drain_from(src);

	r1 = find_xfer(KRT_DIR_RECV, srv, 0);
	s1 = find_xfer(KRT_DIR_SEND, srv, 0);
	assert_non_null(r1);
	assert_non_null(s1);
	assert_true(r1->xfer.flags & KRT_XF_TAGGED);
	assert_int_not_equal(r1->xfer.trace_id, 0);
	assert_int_equal(s1->xfer.trace_id, r1->xfer.trace_id);
	assert_int_equal(s1->xfer.tuple.remote.family, KRT_AF_INET);
	assert_int_equal(s1->xfer.tuple.local.family, KRT_AF_INET);
	assert_memory_equal(s1->xfer.tuple.remote.addr, gw_addr, 4);
	close(gw);
	close(srv);
}

struct backend {
	int fd;
	int served;
};

/* Another thread of this process: reads 4 bytes, answers 3. */
static void *backend_serve(void *arg)
{
	struct backend *b = arg;

	/*
	 * Let the sender's hook run first: a receiver faster than it gets the
	 * tag late (late_tag), which the next test does not look at.
	 */
	usleep(5000);
	read_n(b->fd, 4);
	if (write(b->fd, "ok\n", 3) == 3)
		b->served = 1;
	return NULL;
}

/*
 * Rule 2 and 3 across threads: the trace of the request travels with the
 * bytes to a backend thread, and the backend's answer carries it back.
 */
static void test_tag_follows_bytes(void **state)
{
	const struct krt_event *in, *down, *back_recv, *back_send, *up;
	struct backend b = { 0 };
	int gw, srv, cli, back;
	pthread_t t;

	tcp_pair(GATEWAY, &gw, &srv);
	drain_from(src);
	assert_int_equal(write(gw, "req\n", 4), 4);
	read_n(srv, 4);
	/* thread per request: the upstream connection opens for this request */
	tcp_pair("127.0.0.1", &cli, &back);
	b.fd = back;
	assert_int_equal(pthread_create(&t, NULL, backend_serve, &b), 0);
	assert_int_equal(write(cli, "sub\n", 4), 4);
	usleep(20000);
	read_n(cli, 3);
	pthread_join(t, NULL);
	assert_int_equal(b.served, 1);
	drain_from(src);

	in = find_xfer(KRT_DIR_RECV, srv, 0);
	down = find_xfer(KRT_DIR_SEND, cli, 0);
	back_recv = find_xfer(KRT_DIR_RECV, back, 0);
	back_send = find_xfer(KRT_DIR_SEND, back, 0);
	up = find_xfer(KRT_DIR_RECV, cli, 0);
	assert_non_null(in);
	assert_non_null(down);
	assert_non_null(back_recv);
	assert_non_null(back_send);
	assert_non_null(up);
	assert_int_not_equal(in->xfer.trace_id, 0);
	assert_int_equal(down->xfer.trace_id, in->xfer.trace_id);
	assert_int_not_equal(back_recv->tid, in->tid);
	assert_int_equal(back_recv->xfer.trace_id, in->xfer.trace_id);
	assert_int_equal(back_send->xfer.trace_id, in->xfer.trace_id);
	assert_int_equal(up->xfer.trace_id, in->xfer.trace_id);
	close(gw);
	close(srv);
	close(cli);
	close(back);
}

/* The server of test_pipeline_deeper_than_8: reads every request at once, answers each. */
struct pipeline_server {
	int fd;
	size_t requests, bytes;
};

static void *pipeline_serve(void *arg)
{
	struct pipeline_server *p = arg;
	size_t i;

	read_n(p->fd, p->requests * p->bytes);
	for (i = 0; i < p->requests; i++)
		assert_int_equal(write(p->fd, "ok\n", 3), 3);
	return NULL;
}

/*
 * An event loop forwards 14 requests, each of its own trace, on one
 * upstream connection (HTTP pipelining) before the server reads any; the
 * server reads them all at once (its thread was off the CPU: m3 --sample
 * under load read 14 in one receive) and answers each in turn. Each reply
 * carries its own request's trace. The kernel remembered the last 8 sends
 * of a direction: the 6 oldest requests' tags were gone when the server
 * read them, its side's queue began at the 7th, and every reply named the
 * request 6 places later (a later reply's hop in a trace, its own missing).
 */
static void test_pipeline_deeper_than_8(void **state)
{
	enum { N = 14, REQ = 8 };
	struct pipeline_server p = { .requests = N, .bytes = REQ };
	int gw[N], srv[N], cli, back;
	__u32 want[N];
	pthread_t t;
	size_t i;

	/* N < KRT_SIDE_REQS: the side's queue itself holds them all */
	assert_true(N < KRT_SIDE_REQS);
	tcp_pair("127.0.0.1", &cli, &back);
	for (i = 0; i < N; i++)
		tcp_pair(GATEWAY, &gw[i], &srv[i]);
	drain_from(src);
	for (i = 0; i < N; i++) {
		const struct krt_event *in;

		assert_int_equal(write(gw[i], "request", 7), 7);
		read_n(srv[i], 7);
		assert_int_equal(write(cli, "forward\n", REQ), REQ);
		drain_from(src);
		in = find_xfer(KRT_DIR_RECV, srv[i], 0);
		assert_non_null(in);
		assert_int_not_equal(in->xfer.trace_id, 0);
		want[i] = in->xfer.trace_id;
	}
	p.fd = back;
	assert_int_equal(pthread_create(&t, NULL, pipeline_serve, &p), 0);
	pthread_join(t, NULL);
	read_n(cli, 3 * N);
	drain_from(src);
	for (i = 0; i < N; i++) {
		const struct krt_event *reply = find_xfer(KRT_DIR_SEND, back, i);

		assert_non_null(reply);
		if (reply->xfer.trace_id != want[i])
			fprintf(stderr, "# reply %zu: trace %u, its request's %u\n", i,
				reply->xfer.trace_id, want[i]);
		assert_int_equal(reply->xfer.trace_id, want[i]);
	}
	for (i = 0; i < N; i++) {
		close(gw[i]);
		close(srv[i]);
	}
	close(cli);
	close(back);
}

/* A listener on listen_ip, a client from 127.0.0.1: our side connects to listen_ip. */
static void tcp_pair_to(const char *listen_ip, int *client, int *server)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(lfd >= 0);
	assert_int_equal(inet_pton(AF_INET, listen_ip, &sin.sin_addr), 1);
	assert_int_equal(bind(lfd, (void *)&sin, len), 0);
	assert_int_equal(getsockname(lfd, (void *)&sin, &len), 0);
	assert_int_equal(listen(lfd, 4), 0);
	*client = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	assert_int_equal(connect(*client, (void *)&sin, len), 0);
	*server = accept(lfd, NULL, NULL);
	assert_true(*server >= 0);
	setsockopt(*server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(lfd);
}

/* The same over IPv6 loopback (::1). */
static void tcp_pair6(int *client, int *server)
{
	struct sockaddr_in6 sin = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	socklen_t len = sizeof(sin);
	int one = 1, lfd = socket(AF_INET6, SOCK_STREAM, 0);

	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (void *)&sin, len), 0);
	assert_int_equal(getsockname(lfd, (void *)&sin, &len), 0);
	assert_int_equal(listen(lfd, 4), 0);
	*client = socket(AF_INET6, SOCK_STREAM, 0);
	setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	assert_int_equal(connect(*client, (void *)&sin, len), 0);
	*server = accept(lfd, NULL, NULL);
	assert_true(*server >= 0);
	setsockopt(*server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(lfd);
}

/* The newest context socket fd received in the TCP option (-1: none). */
static int tcpopt_newest(struct krt_live_source *s, int fd, struct krt_remote_ctx *ctx,
			 __u32 *len)
{
	struct krt_remote_segs rs;
	socklen_t cl = sizeof(__u64);
	__u64 cookie = 0;
	unsigned int i;

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &cl) ||
	    krt_live_tcpopt_recv(s, cookie, &rs))
		return -1;
	i = (rs.next + KRT_REMOTE_SEGS - 1) % KRT_REMOTE_SEGS;
	*ctx = rs.ctx[i];
	*len = rs.len[i];
	return 0;
}

/* A write by "another host": its bytes carry no tag of this tracer. */
static void untraced_write(struct krt_live_source *s, int fd, const char *buf, size_t n)
{
	assert_int_equal(krt_live_untrace_tgid(s, getpid()), 0);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	assert_int_equal(krt_live_trace_tgid(s, getpid()), 0);
}

/*
 * --peers (127.0.0.3 here): a peer host's request to our server side starts
 * a trace, one per request on a keep-alive connection, as the gateway's do;
 * a peer's reply to our client side starts none (the caller keeps its trace).
 */
static void test_peer_request_starts_trace(void **state)
{
	struct krt_live_opts o = { .kernel_tags = true };
	struct krt_peers peers = { 0 };
	struct krt_live_source *s;
	const struct krt_event *r1, *r2, *in, *call, *reply, *answer;
	int peer, srv, gw, front, cli, psrv;
	char err[64];

	assert_int_equal(krt_peers_add(&peers, "127.0.0.3/32", err, sizeof(err)), 0);
	o.peers = &peers;
	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	s = open_source_with(o, false);
	assert_non_null(s);

	tcp_pair("127.0.0.3", &peer, &srv);
	drain_from(s);
	untraced_write(s, peer, "GET /1\r\n", 8);
	read_n(srv, 8);
	assert_int_equal(write(srv, "ok", 2), 2);
	read_n(peer, 2);
	untraced_write(s, peer, "GET /2\r\n", 8);
	read_n(srv, 8);
	drain_from(s);
	r1 = find_xfer(KRT_DIR_RECV, srv, 0);
	r2 = find_xfer(KRT_DIR_RECV, srv, 1);
	assert_non_null(r1);
	assert_non_null(r2);
	assert_true(r1->xfer.flags & KRT_XF_TAGGED);
	assert_int_not_equal(r1->xfer.trace_id, 0);
	assert_true(r2->xfer.flags & KRT_XF_TAGGED);
	assert_int_not_equal(r2->xfer.trace_id, 0);
	assert_int_not_equal(r2->xfer.trace_id, r1->xfer.trace_id);

	/* A request from the gateway; our thread calls the peer; its reply. */
	tcp_pair(GATEWAY, &gw, &front);
	drain_from(s);
	assert_int_equal(write(gw, "req\n", 4), 4);
	read_n(front, 4);
	/* connected for this request (a first send carries the trace of connect time) */
	tcp_pair_to("127.0.0.3", &cli, &psrv);
	assert_int_equal(write(cli, "call", 4), 4);
	read_n(psrv, 4);
	untraced_write(s, psrv, "rep", 3);
	read_n(cli, 3);
	assert_int_equal(write(front, "ans\n", 4), 4);
	read_n(gw, 4);
	drain_from(s);
	in = find_xfer(KRT_DIR_RECV, front, 0);
	call = find_xfer(KRT_DIR_SEND, cli, 0);
	reply = find_xfer(KRT_DIR_RECV, cli, 0);
	answer = find_xfer(KRT_DIR_SEND, front, 0);
	assert_non_null(in);
	assert_non_null(reply);
	assert_non_null(answer);
	/* the reply started no trace: the answer still carries the request's */
	assert_true(!(reply->xfer.flags & KRT_XF_TAGGED) || reply->xfer.trace_id == in->xfer.trace_id);
	assert_true(answer->xfer.flags & KRT_XF_TAGGED);
	assert_int_equal(answer->xfer.trace_id, in->xfer.trace_id);
	assert_non_null(call);
	assert_int_equal(call->xfer.trace_id, in->xfer.trace_id);
	close(peer);
	close(srv);
	close(gw);
	close(front);
	close(cli);
	close(psrv);
	close_own_source(s);
}

static int write_str(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* The cgroup v2 the TCP option tests attach their sock_ops program to. */
static void test_cgroup_path(char *cg, size_t len)
{
	snprintf(cg, len, "/sys/fs/cgroup/unified/krt-tags-test-%d", getpid());
}

/* This process moves into its own cgroup (cg: 96 bytes); false: none can be made. */
static bool enter_test_cgroup(char *cg)
{
	char procs[160], pid[16];

	test_cgroup_path(cg, 96);
	if (mkdir(cg, 0755) && errno != EEXIST)
		return false;
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
	snprintf(pid, sizeof(pid), "%d", getpid());
	assert_int_equal(write_str(procs, pid), 0);
	return true;
}

/* Back in the root cgroup, the test's cgroup removed. */
static void leave_test_cgroup(void)
{
	char cg[96], pid[16];

	test_cgroup_path(cg, sizeof(cg));
	snprintf(pid, sizeof(pid), "%d", getpid());
	write_str("/sys/fs/cgroup/unified/cgroup.procs", pid);
	rmdir(cg);
}

/*
 * The trace context crosses in the TCP option (--tcp-option-cgroup): a
 * traced thread's call to a peer carries its request's trace, as the
 * kernel's record of the send tags it, and the receiving side parses it.
 */
static void test_tcp_option_carries_trace(void **state)
{
	struct krt_live_opts o = { .kernel_tags = true };
	struct krt_peers peers = { 0 };
	struct krt_remote_ctx ctx;
	struct krt_tcpopt_stats st;
	struct krt_live_source *s;
	const struct krt_event *in, *call, *call6;
	char cg[96], err[64];
	int gw, front, cli, psrv, cli6, psrv6;
	__u32 len;

	if (!enter_test_cgroup(cg)) {
		skip();
		return;
	}
	/* 127.0.0.1 and ::1 too: the "peer" servers below are this process, and must parse */
	assert_int_equal(krt_peers_add_list(&peers, "127.0.0.3/32,127.0.0.1/32,::1/128", err,
					    sizeof(err)), 0);
	o.peers = &peers;
	o.tcpopt_cgroup = cg;
	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	s = open_source_with(o, false);
	assert_non_null(s);

	tcp_pair(GATEWAY, &gw, &front);
	drain_from(s);
	assert_int_equal(write(gw, "req\n", 4), 4);
	read_n(front, 4);
	tcp_pair_to("127.0.0.3", &cli, &psrv);
	tcp_pair6(&cli6, &psrv6);
	assert_int_equal(write(cli, "call", 4), 4);
	read_n(psrv, 4);
	assert_int_equal(write(cli6, "six", 3), 3);
	read_n(psrv6, 3);
	drain_from(s);
	in = find_xfer(KRT_DIR_RECV, front, 0);
	call = find_xfer(KRT_DIR_SEND, cli, 0);
	call6 = find_xfer(KRT_DIR_SEND, cli6, 0);
	assert_non_null(in);
	assert_non_null(call);
	assert_non_null(call6);
	assert_int_equal(call->xfer.trace_id, in->xfer.trace_id);
	assert_int_equal(call6->xfer.trace_id, in->xfer.trace_id);
	assert_int_equal(tcpopt_newest(s, psrv, &ctx, &len), 0);
	assert_int_equal(ctx.trace, in->xfer.trace_id);
	assert_int_equal(ctx.run, krt_run_word());
	/* the sender's span: this thread's, as its host names it */
	assert_int_equal(ctx.span, krt_span_hash32(krt_run_word(), (__u32)syscall(SYS_gettid)));
	assert_int_equal(len, 4);
	/* an IPv6 peer network: the kernel arms the connection and the option crosses */
	assert_int_equal(tcpopt_newest(s, psrv6, &ctx, &len), 0);
	assert_int_equal(ctx.trace, in->xfer.trace_id);
	assert_int_equal(ctx.run, krt_run_word());
	assert_int_equal(len, 3);
	krt_live_tcpopt_stats(s, &st);
	assert_true(st.sockets >= 4); /* both ends of both connections */
	assert_true(st.written >= 2);
	assert_true(st.parsed >= 2);
	close(gw);
	close(front);
	close(cli);
	close(psrv);
	close(cli6);
	close(psrv6);
	close_own_source(s);
	leave_test_cgroup();
}

/*
 * A segment without room for the option (no_room): TCP has 40 bytes of
 * options, timestamps take 12 and the option 20, so a second tracer on the
 * same cgroup (two tools writing header options, or two krtrace-bpf run
 * over one another) finds 8 left and counts its segments as sent without.
 * The first still carries the trace.
 */
static void test_tcp_option_no_room(void **state)
{
	struct krt_live_opts o = { .kernel_tags = true };
	struct krt_peers peers = { 0 };
	struct krt_tcpopt_stats st1, st2;
	struct krt_live_source *s1, *s2;
	char cg[96], err[64];
	int gw, front, cli, psrv;

	if (!enter_test_cgroup(cg)) {
		skip();
		return;
	}
	assert_int_equal(krt_peers_add_list(&peers, "127.0.0.3/32,127.0.0.1/32", err,
					    sizeof(err)), 0);
	o.peers = &peers;
	o.tcpopt_cgroup = cg;
	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	s1 = open_source_with(o, false);
	assert_non_null(s1);
	s2 = open_source_with(o, false);
	assert_non_null(s2);

	tcp_pair(GATEWAY, &gw, &front);
	assert_int_equal(write(gw, "req\n", 4), 4);
	read_n(front, 4);
	tcp_pair_to("127.0.0.3", &cli, &psrv);
	assert_int_equal(write(cli, "call", 4), 4);
	read_n(psrv, 4);
	assert_int_equal(write(psrv, "rep", 3), 3);
	read_n(cli, 3);
	krt_live_tcpopt_stats(s1, &st1);
	krt_live_tcpopt_stats(s2, &st2);
	print_message("written %llu + %llu, without room %llu + %llu\n",
		      (unsigned long long)st1.written, (unsigned long long)st2.written,
		      (unsigned long long)st1.no_room, (unsigned long long)st2.no_room);
	assert_true(st1.no_room + st2.no_room >= 1);
	assert_true(st1.written + st2.written >= 1);
	close(gw);
	close(front);
	close(cli);
	close(psrv);
	own_source_close(s2);
	close_own_source(s1);
	leave_test_cgroup();
}

/* Bytes from an untraced peer (not the gateway) leave the trace unchanged. */
static void test_untraced_peer_keeps_trace(void **state)
{
	const struct krt_event *in, *from_db, *answer;
	int gw, srv, db_client, db_server;
	pid_t child;

	tcp_pair(GATEWAY, &gw, &srv);
	tcp_pair("127.0.0.1", &db_client, &db_server);
	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	child = fork();	/* untraced at fork: plays the database */
	assert_true(child >= 0);
	if (child == 0) {
		_exit(write(db_server, "row\n", 4) == 4 ? 0 : 1);
	}
	assert_int_equal(krt_live_trace_tgid(src, getpid()), 0);
	drain_from(src);
	assert_int_equal(write(gw, "req\n", 4), 4);
	read_n(srv, 4);
	read_n(db_client, 4);
	assert_int_equal(write(srv, "ans\n", 4), 4);
	read_n(gw, 4);
	drain_from(src);
	in = find_xfer(KRT_DIR_RECV, srv, 0);
	from_db = find_xfer(KRT_DIR_RECV, db_client, 0);
	answer = find_xfer(KRT_DIR_SEND, srv, 0);
	assert_non_null(in);
	assert_non_null(from_db);
	assert_non_null(answer);
	/* untagged bytes: not the kernel's decision, left to the engine's rules */
	assert_false(from_db->xfer.flags & KRT_XF_TAGGED);
	/* and the thread kept its request: the answer carries it */
	assert_true(answer->xfer.flags & KRT_XF_TAGGED);
	assert_int_equal(answer->xfer.trace_id, in->xfer.trace_id);
	close(gw);
	close(srv);
	close(db_client);
	close(db_server);
}

/* --sample 2: every other request at the door leaves no record at all. */
static void test_sampling_one_in_two(void **state)
{
	struct krt_live_source *sampled;
	struct krt_live_tag_stats ts;
	int k, traced_requests = 0;
	size_t i;

	/* the group's source would record everything too: stop tracing there */
	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	sampled = open_source(2);
	assert_non_null(sampled);
	drain_from(sampled);
	for (k = 0; k < 4; k++) {
		int gw, srv, cli, back;
		bool seen_in = false, seen_down = false;

		tcp_pair(GATEWAY, &gw, &srv);
		drain_from(sampled);
		assert_int_equal(write(gw, "req\n", 4), 4);
		read_n(srv, 4);
		tcp_pair("127.0.0.1", &cli, &back);
		assert_int_equal(write(cli, "sub\n", 4), 4);
		read_n(back, 4);
		assert_int_equal(write(srv, "ans\n", 4), 4);
		read_n(gw, 4);
		drain_from(sampled);
		for (i = 0; i < n_got; i++) {
			if (got[i].type != KRT_EV_XFER)
				continue;
			seen_in |= got[i].xfer.fd == srv;
			seen_down |= got[i].xfer.fd == cli || got[i].xfer.fd == back;
		}
		/* all or nothing: the decision at the door holds downstream */
		assert_int_equal(seen_in, seen_down);
		traced_requests += seen_in;
		close(gw);
		close(srv);
		close(cli);
		close(back);
	}
	assert_int_equal(traced_requests, 2);
	krt_live_tag_stats(sampled, &ts);
	assert_int_equal(ts.traces_started, 4);
	assert_int_equal(ts.traces_sampled, 2);
	print_message("records not emitted: %llu, of them transfers %llu\n",
		      (unsigned long long)ts.sampled_out_records,
		      (unsigned long long)ts.sampled_out_xfers);
	/*
	 * Exact (plain per-CPU increments no nested hook can lose): each
	 * unsampled request's five transfers (its read at the door, the call
	 * and its read, the answer and its read by the gateway); its
	 * switches and wake-ups besides, as many as the scheduler made.
	 */
	assert_int_equal(ts.sampled_out_xfers, 2 * 5);
	assert_true(ts.sampled_out_records >= ts.sampled_out_xfers);
	close_own_source(sampled);
}

/*
 * A child process (traced, its thread with no trace: it read nothing) sends
 * on fd; not a thread of ours, whose wake-ups would hand it our trace.
 */
static void send_from_child(int fd)
{
	pid_t child = fork();
	int status;

	assert_true(child >= 0);
	if (!child)
		_exit(write(fd, "B-no-trace\n", 11) == 11 ? 0 : 1);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * --sample 2: one read holds a sampled request's bytes and, last, bytes
 * whose tag says nothing (here sent with no trace; in m3, replies whose
 * senders' hooks have not run yet). The reader holds an unsampled request
 * when it reads them: the receive is recorded all the same (untagged, the
 * senders' records decide), not dropped as that request's.
 *
 * In the small tables' group (8 slots, 4 probes a state) the scenario's
 * five to seven connection sides may not all find a slot: socket cookies
 * (the connections' slots) are a machine-wide counter, so where they fall
 * depends on every other socket opened meanwhile. A side not kept goes
 * untagged and unrecorded (counted: slot_full), which is not what this
 * test is about: it failed 3 runs in 27 here under other helpers' loads,
 * the receive on back not recorded, and the source said "1 state not
 * kept" each time it was asked. An attempt whose source counted a state
 * not kept is not judged: the scenario runs again on new sockets, at most
 * 5 times; the last attempt is judged whatever happened.
 */
struct sampled_bytes_result {
	int first, k;		   /* the sampled door request, the unsampled one */
	bool unsampled_recorded;   /* a record of the unsampled request's read */
	bool found;		   /* the receive of both senders' bytes */
	struct krt_event e;	   /* that receive */
	__u64 slot_full;	   /* states not kept over the attempt */
};

static void sampled_bytes_attempt(struct sampled_bytes_result *r)
{
	struct krt_live_source *sampled;
	struct krt_live_tag_stats ts;
	int gw[5], srv[5], cli, back, k, first = -1;
	char buf[64];
	const struct krt_event *e;

	memset(r, 0, sizeof(*r));
	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	sampled = open_source(2);
	assert_non_null(sampled);
	tcp_pair("127.0.0.1", &cli, &back);
	/* door requests until one is sampled (recorded): one in two */
	for (k = 0; k < 4 && first < 0; k++) {
		tcp_pair(GATEWAY, &gw[k], &srv[k]);
		drain_from(sampled);
		assert_int_equal(write(gw[k], "req\n", 4), 4);
		read_n(srv[k], 4);
		drain_from(sampled);
		if (find_xfer(KRT_DIR_RECV, srv[k], 0))
			first = k;
	}
	r->first = first;
	r->k = k;
	if (first >= 0 && k < 4) {
		/* bytes of the sampled request, then the next (unsampled) request read */
		assert_int_equal(write(cli, "A-sampled\n", 10), 10);
		tcp_pair(GATEWAY, &gw[k], &srv[k]);
		assert_int_equal(write(gw[k], "req\n", 4), 4);
		read_n(srv[k], 4);
		/* bytes sent with no trace, behind the sampled ones */
		send_from_child(cli);
		usleep(10000);
		drain_from(sampled);
		r->unsampled_recorded = find_xfer(KRT_DIR_RECV, srv[k], 0) != NULL;
		/* one read of both, under the unsampled request's trace */
		assert_int_equal(read(back, buf, sizeof(buf)), 21);
		drain_from(sampled);
		e = find_xfer(KRT_DIR_RECV, back, 0);
		if (e) {
			r->found = true;
			r->e = *e;
		}
	} else {
		k--; /* gw[k] of the loop's last pass is the last one opened */
	}
	krt_live_tag_stats(sampled, &ts);
	r->slot_full = ts.slot_full;
	if (!r->found && !r->slot_full)
		show_thread_events(syscall(SYS_gettid));
	for (; k >= 0; k--) {
		close(gw[k]);
		close(srv[k]);
	}
	close(cli);
	close(back);
	close_own_source(sampled);
}

static void test_sampled_bytes_then_untagged_recorded(void **state)
{
	struct sampled_bytes_result r;
	int attempt;

	for (attempt = 1;; attempt++) {
		sampled_bytes_attempt(&r);
		if (!r.slot_full || attempt == 5)
			break;
		print_message("attempt %d: %llu state(s) not kept (%u slots): again\n", attempt,
			      (unsigned long long)r.slot_full, state_slots);
	}
	assert_true(r.first >= 0 && r.k < 4);
	/* the unsampled request left no record */
	assert_false(r.unsampled_recorded);
	assert_true(r.found);
	assert_int_equal(r.e.xfer.bytes, 21);
	/* it holds both: the sampled sender's record decides */
	assert_false(r.e.xfer.flags & KRT_XF_TAGGED);
}

/* krtrace-bpf's defaults: tags, CPU summed here, one record per hop */
static struct krt_live_source *open_merging_source(void)
{
	struct krt_live_opts o = { .kernel_tags = true, .cpu_in_kernel = true,
				   .merge_hops = true };
	struct krt_live_source *s = open_source_with(o, true);

	assert_non_null(s);
	return s;
}

/*
 * One record per hop: a send to a traced container waits in the kernel and
 * rides in the record of the receive that reads it; the source hands the
 * engine both ends again, the send with its own thread, time, socket and
 * tag. A send nobody reads goes out on its own when its connection closes.
 */
static void test_merged_hop(void **state)
{
	struct krt_live_source *m;
	struct krt_live_tag_stats ts;
	struct krt_source_stats st;
	const struct krt_event *in, *down_send, *down_recv, *lone;
	int gw, srv, cli, back, cli2, back2, closed;

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	m = open_merging_source();
	tcp_pair(GATEWAY, &gw, &srv);
	tcp_pair("127.0.0.1", &cli, &back);
	tcp_pair("127.0.0.1", &cli2, &back2);
	drain_from(m);
	krt_live_stats(m, &st);
	__u64 records_before = st.ring_records;

	assert_int_equal(write(gw, "req\n", 4), 4);
	read_n(srv, 4);
	assert_int_equal(write(cli, "sub-request\n", 12), 12);
	read_n(back, 12);
	drain_from(m);
	in = find_xfer(KRT_DIR_RECV, srv, 0);
	down_send = find_xfer(KRT_DIR_SEND, cli, 0);
	down_recv = find_xfer(KRT_DIR_RECV, back, 0);
	assert_non_null(in);
	assert_non_null(down_send);
	assert_non_null(down_recv);
	/* both ends, as the engine needs them */
	assert_int_equal(down_send->tid, syscall(SYS_gettid));
	assert_int_equal(down_send->xfer.bytes, 12);
	assert_int_equal(down_send->xfer.seq, down_recv->xfer.seq);
	assert_true(down_send->ts_ns <= down_recv->ts_ns);
	assert_true(down_send->xfer.flags & KRT_XF_TAGGED);
	assert_int_equal(down_send->xfer.trace_id, in->xfer.trace_id);
	assert_int_equal(down_recv->xfer.trace_id, in->xfer.trace_id);
	assert_false(down_recv->xfer.flags & KRT_XF_PEER);
	assert_memory_equal(&down_send->xfer.tuple.local, &down_recv->xfer.tuple.remote,
			    sizeof(struct krt_addr));
	assert_true(down_send->xfer.sock_id && down_send->xfer.sock_id != down_recv->xfer.sock_id);
	/* ... from fewer ring records than events: the hop took one */
	krt_live_stats(m, &st);
	assert_true(st.ring_records - records_before < n_got);
	krt_live_tag_stats(m, &ts);
	assert_true(ts.hops_merged >= 1);

	__u32 trace = in->xfer.trace_id;	/* got[] is refilled below */

	/* never read: out on its own at close, not lost */
	assert_int_equal(write(cli2, "unread\n", 7), 7);
	usleep(5000);	/* past the source's reorder window */
	n_got = 0;
	assert_true(krt_live_poll(m, 10, collect, NULL) >= 0);
	assert_null(find_xfer(KRT_DIR_SEND, cli2, 0));
	close(back2);
	close(cli2);
	usleep(20000);
	drain_from(m);
	lone = NULL;
	for (size_t i = 0; i < n_got; i++)
		if (got[i].type == KRT_EV_XFER && got[i].xfer.dir == KRT_DIR_SEND &&
		    got[i].xfer.bytes == 7)
			lone = &got[i];
	assert_non_null(lone);
	assert_int_equal(lone->xfer.trace_id, trace);
	/* a closing socket still names its local port (given back by then) */
	closed = 0;
	for (size_t i = 0; i < n_got; i++)
		if (got[i].type == KRT_EV_SOCK_STATE && got[i].state.newstate == 7 /* TCP_CLOSE */) {
			assert_int_not_equal(got[i].state.tuple.local.port, 0);
			closed++;
		}
	assert_true(closed > 0);
	krt_live_tag_stats(m, &ts);
	assert_true(ts.sends_flushed >= 1);

	/*
	 * Never read, connection still open at the end: out at the final
	 * drain with its own time, after newer records went out, and not
	 * counted as a record the ring brought late.
	 */
	tcp_pair("127.0.0.1", &cli2, &back2);
	assert_int_equal(write(cli2, "at the end\n", 11), 11);
	usleep(5000);
	assert_int_equal(write(gw, "more\n", 5), 5);
	read_n(srv, 5);
	usleep(5000);	/* the receive goes out before the drain */
	n_got = 0;
	assert_true(krt_live_poll(m, 10, collect, NULL) >= 0);
	assert_null(find_xfer(KRT_DIR_SEND, cli2, 0));
	n_got = 0;
	assert_true(krt_live_drain(m, collect, NULL) >= 0);
	lone = find_xfer(KRT_DIR_SEND, cli2, 0);
	assert_non_null(lone);
	assert_int_equal(lone->xfer.bytes, 11);
	assert_int_equal(krt_live_late_events(m), 0);

	own_source_close(m);
	close(cli2);
	close(back2);
	close(gw);
	close(srv);
	close(cli);
	close(back);
	assert_int_equal(krt_live_trace_tgid(src, getpid()), 0);
}

struct handoff {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int job;		/* 1: a request waits */
	int down;		/* the worker's connection to the inside */
	pid_t worker_tid;
	int reply;		/* the client connection the worker answers on */
};

static void *pool_worker(void *arg)
{
	struct handoff *h = arg;

	h->worker_tid = syscall(SYS_gettid);
	pthread_mutex_lock(&h->lock);
	while (!h->job)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	if (write(h->down, "work\n", 5) != 5)
		return (void *)1;
	/* answers, sleeps (its claim ends), then works with no wake-up from the queue */
	if (write(h->reply, "ans\n", 4) != 4)
		return (void *)1;
	usleep(20000);
	if (write(h->down, "next\n", 5) != 5)
		return (void *)1;
	return NULL;
}

/*
 * A pool worker woken through a queue gets the waker's trace as a guess
 * only: which queued request it dequeues is not visible in the kernel.
 * Its send goes out untagged for the engine's rules to decide, and its
 * context switches are recorded so the engine can count its time. Its
 * reply on the client connection is the kernel's decision. Once it has
 * answered and slept, a send with no wake-up from the queue is a job it
 * took by itself: unsure again, not "no trace". Its guessed call to a
 * traced container waits like a decided one and rides in the record of
 * the receive that reads it (one record per hop), untagged as before
 * (socket hooks only).
 */
static void test_handoff_is_unsure(void **state)
{
	struct handoff h = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, -1, 0, -1 };
	struct krt_live_source *m;
	const struct krt_event *in, *work, *answer, *next, *work_read;
	struct krt_live_tag_stats ts;
	int gw, srv, back;
	bool worker_switch = false, woke_worker = false;
	pthread_t th;
	void *ret;
	size_t i;

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	m = open_merging_source();
	tcp_pair(GATEWAY, &gw, &srv);
	tcp_pair("127.0.0.1", &h.down, &back);
	h.reply = srv;
	assert_int_equal(pthread_create(&th, NULL, pool_worker, &h), 0);
	usleep(50000);	/* the worker waits on the queue */
	drain_from(m);
	assert_int_equal(write(gw, "req\n", 4), 4);
	read_n(srv, 4);		/* the I/O thread reads the request ... */
	pthread_mutex_lock(&h.lock);
	h.job = 1;		/* ... and queues it */
	pthread_cond_signal(&h.cond);
	pthread_mutex_unlock(&h.lock);
	assert_int_equal(pthread_join(th, &ret), 0);
	assert_null(ret);
	read_n(back, 10);
	read_n(gw, 4);
	drain_from(m);
	in = find_xfer(KRT_DIR_RECV, srv, 0);
	work = find_xfer(KRT_DIR_SEND, h.down, 0);
	answer = find_xfer(KRT_DIR_SEND, srv, 0);
	next = find_xfer(KRT_DIR_SEND, h.down, 1);
	assert_non_null(answer);
	assert_true(answer->xfer.flags & KRT_XF_TAGGED);
	assert_int_equal(answer->xfer.trace_id, in->xfer.trace_id);
	assert_non_null(next);
	assert_int_equal(next->tid, h.worker_tid);
	if (next->xfer.flags & KRT_XF_TAGGED)
		show_thread_events(h.worker_tid);
	assert_false(next->xfer.flags & KRT_XF_TAGGED);
	assert_non_null(in);
	assert_true(in->xfer.flags & KRT_XF_TAGGED);
	assert_non_null(work);
	assert_int_equal(work->tid, h.worker_tid);
	assert_false(work->xfer.flags & KRT_XF_TAGGED);
	assert_int_equal(work->xfer.trace_id, 0);
	assert_int_equal(work->xfer.bytes, 5);
	/*
	 * It waited for its reader: out in the receive's record, at its own
	 * time (not with the syscall hooks: that program is at the verifier's
	 * limit, a guess's send goes out on its own there).
	 */
	work_read = find_xfer(KRT_DIR_RECV, back, 0);
	assert_non_null(work_read);
	assert_int_equal(work_read->xfer.seq, work->xfer.seq);
	assert_true(work->ts_ns <= work_read->ts_ns);
	krt_live_tag_stats(m, &ts);
	if (syscall_hooks)
		assert_int_equal(ts.hops_merged, 0);
	else
		assert_true(ts.hops_merged >= 1);
	for (i = 0; i < n_got; i++) {
		if (got[i].type == KRT_EV_SWITCH &&
		    ((__s32)got[i].sw.next_tid == h.worker_tid ||
		     (__s32)got[i].sw.prev_tid == h.worker_tid))
			worker_switch = true;
		if (got[i].type == KRT_EV_WAKEUP && (pid_t)got[i].tid == (pid_t)syscall(SYS_gettid) &&
		    (pid_t)got[i].wakeup.target_tid == h.worker_tid) {
			assert_int_equal(got[i].pid, getpid());
			assert_int_equal(got[i].wakeup.target_pid, getpid());
			woke_worker = true;
		}
	}
	assert_true(worker_switch);
	assert_true(woke_worker);
	/* both came in this CPU's batches, split back into events */
	assert_true(ts.sched_batches >= 1);
	assert_true(ts.sched_batched >= 2);
	assert_true(ts.sched_batched >= ts.sched_batches);
	own_source_close(m);
	close(gw);
	close(srv);
	close(h.down);
	close(back);
	assert_int_equal(krt_live_trace_tgid(src, getpid()), 0);
}

/*
 * Of 20 ms burnt on a request, at least this much must reach its trace. Not
 * all 20: at load 20 on 2 cores the kernel's sums came to 18.4 ms in a few
 * runs (time split around preemptions); what these tests check is where
 * the time goes (the right trace, not the whole test's time), not its
 * precision.
 */
#define BURN_SEEN_NS (15ULL * 1000 * 1000)

static void burn_ns(__u64 ns)
{
	struct timespec a, b;

	/* CPU time, not wall time: a busy machine must not shorten the burn */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	do
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	while ((__u64)((b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec)) < ns);
}

/*
 * Waits until thread tid of process pid sleeps (state S in its stat file),
 * 5 s at most: a fixed sleep was not always long enough on a loaded
 * machine for a new thread or process to reach its wait, or for one to
 * block again after its work (its claim ends at that switch).
 */
static void wait_sleeping(pid_t pid, pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int i, fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	for (i = 0; i < 5000; i++) {
		fd = open(path, O_RDONLY);
		if (fd < 0)
			return; /* gone: nothing to wait for */
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			p = strrchr(buf, ')');
			if (p && p[1] == ' ' && p[2] == 'S')
				return;
		}
		usleep(1000);
	}
	fail_msg("thread %d of %d never slept in 5 s", tid, pid);
}

/*
 * A pool of one worker behind an I/O thread (this one), as a thread-pool
 * server: the I/O thread reads a request, queues it (condvar wake-up);
 * the worker calls downstream (a traced container: 127.0.0.1), where a
 * server process (a child: its socket wake-ups are not a hand-off inside
 * one process) reads the call, works on it for work_ns and answers, and
 * the worker answers the client. jobs requests, one at a time.
 */
struct pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int queued, served;	/* requests queued, answered */
	int reply[2];		/* the client connection of request k (k % 2) */
	int down, back;		/* worker -> downstream server */
	pid_t worker_tid, server_tid;	/* the server: a process of one thread */
	__u64 work_ns;		/* the downstream server's work per call */
	int jobs;
};

static void *pool_loop(void *arg)
{
	struct pool *p = arg;
	char c[5];
	int k;

	__atomic_store_n(&p->worker_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	for (k = 0; k < p->jobs; k++) {
		pthread_mutex_lock(&p->lock);
		while (p->queued <= k)
			pthread_cond_wait(&p->cond, &p->lock);
		pthread_mutex_unlock(&p->lock);
		if (write(p->down, "call\n", 5) != 5 || read(p->down, c, 5) != 5)
			return (void *)1;
		if (write(p->reply[k % 2], "ans\n", 4) != 4)
			return (void *)1;
	}
	/* ends when told (pool_end): its exit record after the requests */
	pthread_mutex_lock(&p->lock);
	while (p->queued <= p->jobs)
		pthread_cond_wait(&p->cond, &p->lock);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void downstream_server(struct pool *p)
{
	char c[5];
	int k;

	/* until the worker's end closes (its exit record after the requests) */
	for (k = 0; read(p->back, c, 5) == 5; k++) {
		burn_ns(p->work_ns);
		if (write(p->back, "done\n", 5) != 5)
			_exit(1);
	}
	_exit(k == p->jobs ? 0 : 1);
}

/*
 * The pool starts: the server process (traced: a child of a traced
 * process) and the worker thread, whose fork records come before any
 * request.
 */
/*
 * The pool a test started and has not ended. A test that fails half-way
 * (cmocka jumps out of it) would leave its worker waiting on the pool's
 * condition variable and its server process reading: the next pool test
 * would share them and wait forever. The tests' pools are static, so the
 * teardown below can still reach them.
 */
static struct {
	struct pool *p;
	pthread_t worker;
	bool open;
} pool_left;

/* The caller process's pipe (pool_caller_start); -1: this thread calls. */
static int pool_caller_go = -1;
static pid_t pool_caller_pid;

/*
 * The wake-ups seen at runtime.send / runtime.recv (krt_go_chan_ready), as
 * for a lazy binary that has them, not at runtime.ready: go_ready calls the
 * send's stand-in on the waker's own stack with a sudog whose g is the one
 * readied. Every test's teardown clears it (test_abandon).
 */
static bool fake_wake_on_chan;

/*
 * Every test's teardown: what a test that failed half-way left behind (its
 * pool, its own sources) stops, and the group's source traces this process
 * again. Nothing to do after a test that passed.
 */
static int test_abandon(void **state)
{
	struct pool *p = pool_left.p;
	bool left = false;
	int k;

	(void)state;
	fake_wake_on_chan = false;
	for (k = 0; k < MAX_OWN_SOURCES; k++) {
		if (own_sources[k]) {
			own_source_close(own_sources[k]);
			left = true;
		}
	}
	if (left)
		fprintf(stderr, "# a test failed half-way: its sources closed\n");
	krt_live_trace_tgid(src, getpid()); /* a test may have stopped it */
	if (pool_caller_go >= 0) {
		close(pool_caller_go); /* its caller process ends at EOF */
		pool_caller_go = -1;
	}
	if (!pool_left.open)
		return 0;
	pool_left.open = false;
	pthread_cancel(pool_left.worker);	/* waits and reads are cancellation points */
	pthread_join(pool_left.worker, NULL);
	kill(p->server_tid, SIGKILL);
	waitpid(p->server_tid, NULL, 0);
	close(p->down);
	for (k = 0; k < p->jobs; k++)
		if (k < 2 && p->reply[k] > 0)
			close(p->reply[k]);
	fprintf(stderr, "# a pool test failed half-way: its worker and server stopped\n");
	return 0;
}

static void pool_start(struct pool *p, pthread_t *worker)
{
	tcp_pair("127.0.0.1", &p->down, &p->back);
	p->server_tid = fork();
	assert_true(p->server_tid >= 0);
	if (!p->server_tid) {
		close(p->down);	/* the worker's end: its close is the server's EOF */
		alarm(60);	/* never outlives a test that failed half-way */
		downstream_server(p);
	}
	close(p->back);
	assert_int_equal(pthread_create(worker, NULL, pool_loop, p), 0);
	pool_left.p = p;
	pool_left.worker = *worker;
	pool_left.open = true;
	while (!__atomic_load_n(&p->worker_tid, __ATOMIC_ACQUIRE))
		usleep(1000);
	wait_sleeping(getpid(), p->worker_tid);
	wait_sleeping(p->server_tid, p->server_tid);
	usleep(50000);		/* both wait: the worker on its queue, the server on its socket */
}

/*
 * Request k through the pool, on the caller's connection gw (connected
 * before, as the pool's were: no connection's records in the request's
 * time): read here, queued, answered by the worker.
 */
/*
 * A caller in a process of its own (pool_caller_start): the request's first
 * bytes come from outside. A door reader that also sends calls and reads a
 * request while another is open is taken for an event loop under sampling
 * (bpf/tagging.bpf.h, loop_hides); wake-ups across processes are no
 * hand-offs.
 */
static pid_t pool_caller_start(int gw[2])
{
	int go[2];
	pid_t pid;
	char k;

	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		close(go[1]);
		while (read(go[0], &k, 1) == 1)
			if (write(gw[(int)k], "req\n", 4) != 4)
				_exit(1);
		_exit(0);
	}
	close(go[0]);
	pool_caller_go = go[1];
	pool_caller_pid = pid;
	return pid;
}

static void pool_caller_end(pid_t pid)
{
	int status;

	close(pool_caller_go);
	pool_caller_go = -1;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The caller sends a request on gw[k] (its process's, if started). */
static void pool_call(int gw[2], int k)
{
	char kc = (char)k;

	if (pool_caller_go >= 0)
		assert_int_equal(write(pool_caller_go, &kc, 1), 1);
	else
		assert_int_equal(write(gw[k], "req\n", 4), 4);
}

static void pool_request(struct pool *p, int k, int *gw)
{
	char kc = (char)k;

	if (pool_caller_go >= 0)
		assert_int_equal(write(pool_caller_go, &kc, 1), 1);
	else
		assert_int_equal(write(*gw, "req\n", 4), 4);
	read_n(p->reply[k], 4);
	pthread_mutex_lock(&p->lock);
	p->queued++;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	read_n(*gw, 4);
	wait_sleeping(getpid(), p->worker_tid);
	wait_sleeping(p->server_tid, p->server_tid);
	if (pool_caller_go >= 0)
		wait_sleeping(pool_caller_pid, pool_caller_pid);
	usleep(20000);		/* every thread blocks again: their claims end */
}

static void pool_end(struct pool *p, pthread_t worker)
{
	void *ret;
	int k, status;

	pool_left.open = false;
	pthread_mutex_lock(&p->lock);
	p->queued = p->jobs + 1;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	assert_int_equal(pthread_join(worker, &ret), 0);
	assert_null(ret);
	close(p->down);
	assert_int_equal(waitpid(p->server_tid, &status, 0), p->server_tid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (k = 0; k < p->jobs && k < 2; k++)
		close(p->reply[k]);
}

/*
 * --sample 2 through a thread pool (krtrace-bpf's defaults: tags, CPU summed
 * here, merged hops). The I/O thread (this one) wakes the idle worker while
 * it holds the request it read: a pool feeder (krt_pool_hidden). Its
 * unsampled request is then recorded as a hidden one: its door record
 * tagged and flagged KRT_XF_SAMPLED_OUT (the engine never shows it), the
 * worker's call and reply as without sampling (no "maybe unsampled" guess:
 * the pool's queue holds no request the engine does not see).
 */
static void test_unsampled_pool_request_hidden(void **state)
{
	struct krt_live_opts o = { .kernel_tags = true, .cpu_in_kernel = true,
				   .merge_hops = true, .sample_rate = 2 };
	static struct pool p;	/* static: see test_abandon */
	struct pool init = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, .jobs = 2,
			     .work_ns = 1000 * 1000 };
	const struct krt_event *in, *call, *answer;
	struct krt_live_tag_stats ts;
	struct krt_live_source *m;
	pthread_t worker;
	pid_t caller;
	int gw[2];

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	m = open_source_with(o, true);
	assert_non_null(m);
	p = init;
	pool_start(&p, &worker);
	/* one keep-alive connection: few states (the small tables' group) */
	tcp_pair(GATEWAY, &gw[0], &p.reply[0]);
	gw[1] = gw[0];
	p.reply[1] = p.reply[0];
	caller = pool_caller_start(gw);
	drain_from(m);
	/* sampled: read and queued here, the idle worker woken */
	pool_request(&p, 0, &gw[0]);
	drain_from(m);
	in = find_xfer(KRT_DIR_RECV, p.reply[0], 0);
	assert_non_null(in);
	assert_false(in->xfer.flags & KRT_XF_SAMPLED_OUT);
	/* unsampled, read by a known feeder: recorded, hidden */
	pool_request(&p, 1, &gw[1]);
	drain_from(m);
	in = find_xfer(KRT_DIR_RECV, p.reply[1], 0);
	if (!in) {
		krt_live_tag_stats(m, &ts);
		fprintf(stderr, "# no door record of the hidden request: traces %llu, sampled %llu, "
			"%zu events; the I/O thread's, then the worker's:\n",
			(unsigned long long)ts.traces_started, (unsigned long long)ts.traces_sampled,
			n_got);
		show_thread_events(gettid());
		show_thread_events(p.worker_tid);
	}
	assert_non_null(in);
	assert_true(in->xfer.flags & KRT_XF_TAGGED);
	assert_true(in->xfer.flags & KRT_XF_SAMPLED_OUT);
	call = find_xfer(KRT_DIR_SEND, p.down, 0);
	assert_non_null(call);
	assert_int_equal(call->tid, p.worker_tid);
	assert_false(call->xfer.flags & KRT_XF_MAYBE_UNSAMPLED);
	/*
	 * its guessed call (and the server's reply) waited for its reader, as
	 * without sampling: nothing in its record that a merged one lacks (not
	 * with the syscall hooks: a guess's send goes out on its own there)
	 */
	krt_live_tag_stats(m, &ts);
	if (!syscall_hooks)
		assert_true(ts.hops_merged >= 2);
	answer = find_xfer(KRT_DIR_SEND, p.reply[1], 0);
	assert_non_null(answer);
	assert_true(answer->xfer.flags & KRT_XF_TAGGED);
	assert_int_equal(answer->xfer.trace_id, in->xfer.trace_id);
	assert_false(answer->xfer.flags & (KRT_XF_MAYBE_UNSAMPLED | KRT_XF_SAMPLED_OUT));
	/* hidden is not sampled: one in two, as asked */
	krt_live_tag_stats(m, &ts);
	assert_int_equal(ts.traces_started, 2);
	assert_int_equal(ts.traces_sampled, 1);
	pool_caller_end(caller);
	p.reply[1] = -1;
	pool_end(&p, worker);
	close(gw[0]);
	close_own_source(m);
}

/*
 * --sample 2: an unsampled request read before its reader was known to
 * feed a pool (its door record went unrecorded). When the reader wakes the
 * idle worker with it, the worker's job is recorded as without sampling,
 * and the reply (the worker's) too, flagged hidden: the pool's rules need
 * every reply that settles a job (and a loop's hand-back every reply).
 */
static void test_pool_reply_hidden_before_feeder_known(void **state)
{
	struct krt_live_opts o = { .kernel_tags = true, .cpu_in_kernel = true,
				   .merge_hops = true, .sample_rate = 2 };
	static struct pool p;	/* static: see test_abandon */
	struct pool init = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, .jobs = 1,
			     .work_ns = 1000 * 1000 };
	const struct krt_event *call, *answer;
	struct krt_live_source *m;
	pthread_t worker;
	pid_t caller;
	int gw[2];

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	m = open_source_with(o, true);
	assert_non_null(m);
	p = init;
	pool_start(&p, &worker);
	/* one keep-alive connection: few states (the small tables' group) */
	tcp_pair(GATEWAY, &gw[0], &p.reply[0]);
	gw[1] = gw[0];
	caller = pool_caller_start(gw);
	/* the first request (sampled), answered here: no pool yet */
	pool_call(gw, 0);
	read_n(p.reply[0], 4);
	assert_int_equal(write(p.reply[0], "ans\n", 4), 4);
	read_n(gw[0], 4);
	usleep(20000);
	drain_from(m);
	assert_non_null(find_xfer(KRT_DIR_SEND, p.reply[0], 0));
	/* the second (unsampled) goes to the pool */
	pool_request(&p, 0, &gw[0]);
	drain_from(m);
	assert_null(find_xfer(KRT_DIR_RECV, p.reply[0], 0));
	call = find_xfer(KRT_DIR_SEND, p.down, 0);
	assert_non_null(call);
	assert_int_equal(call->tid, p.worker_tid);
	assert_false(call->xfer.flags & KRT_XF_MAYBE_UNSAMPLED);
	answer = find_xfer(KRT_DIR_SEND, p.reply[0], 0);
	assert_non_null(answer);
	assert_int_equal(answer->tid, p.worker_tid);
	assert_true(answer->xfer.flags & KRT_XF_TAGGED);
	assert_true(answer->xfer.flags & KRT_XF_SAMPLED_OUT);
	pool_caller_end(caller);
	pool_end(&p, worker);
	close(gw[0]);
	close_own_source(m);
}

/*
 * A hand-back pool (test_handback_reply_stays_unsampled): a worker of this
 * process, woken per job, notifies the loop over a socketpair.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int queued, jobs;
	int note; /* the worker's end of the socketpair */
} handback = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER };

static void *handback_worker(void *arg)
{
	int k;

	(void)arg;
	for (k = 0; k < handback.jobs; k++) {
		pthread_mutex_lock(&handback.lock);
		while (handback.queued <= k)
			pthread_cond_wait(&handback.cond, &handback.lock);
		pthread_mutex_unlock(&handback.lock);
		if (write(handback.note, "x", 1) != 1)
			return (void *)1;
	}
	return NULL;
}

/* A RECV record of process pid on fd, the nth. */
static const struct krt_event *find_recv_of(pid_t pid, int fd, size_t nth)
{
	size_t i;

	for (i = 0; i < n_got; i++) {
		if (got[i].type != KRT_EV_XFER || got[i].xfer.dir != KRT_DIR_RECV ||
		    (pid_t)got[i].pid != pid || got[i].xfer.fd != fd)
			continue;
		if (nth-- == 0)
			return &got[i];
	}
	return NULL;
}

/*
 * --sample 2: a front (a child process: it reads its requests at the door
 * and calls the store) and a hand-back store (this thread: it reads the
 * call, queues it to its worker, reads the worker's notification and
 * answers, as thrift's I/O thread). The store is a pool feeder reading
 * notifications (krt_pool_hidden HANDBACK): the front's unsampled call is
 * recorded there, hidden, and so is its reply. The front's receive of that
 * reply is recorded (the engine's store needs it read), but its request
 * stays unsampled: no time of it (the front works 2 ms after the reply).
 */
static void test_handback_reply_stays_unsampled(void **state)
{
	struct krt_live_opts o = { .kernel_tags = true, .cpu_in_kernel = true,
				   .merge_hops = true, .sample_rate = 2 };
	const struct krt_event *reply;
	struct krt_live_source *m;
	int gw, door, call, store, sp[2], go[2], k, status;
	pthread_t worker;
	pid_t front;
	void *ret;
	char c[8];
	size_t i;

	(void)state;
	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	m = open_source_with(o, true);
	assert_non_null(m);
	tcp_pair(GATEWAY, &gw, &door);
	tcp_pair("127.0.0.1", &call, &store);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(pipe(go), 0);
	front = fork();
	assert_true(front >= 0);
	if (!front) {
		alarm(60); /* never outlives a test that failed half-way */
		close(go[1]);
		while (read(go[0], c, 1) == 1) {
			if (read(door, c, 4) != 4 || write(call, "call\n", 5) != 5 ||
			    read(call, c, 4) != 4)
				_exit(1);
			burn_ns(2 * 1000 * 1000);
			if (write(door, "ans\n", 4) != 4)
				_exit(1);
		}
		_exit(0);
	}
	close(go[0]);
	close(door);
	close(call);
	handback.queued = 0;
	handback.jobs = 2;
	handback.note = sp[1];
	assert_int_equal(pthread_create(&worker, NULL, handback_worker, NULL), 0);
	usleep(50000); /* the worker waits on its queue */
	drain_from(m);
	for (k = 0; k < 2; k++) {
		assert_int_equal(write(go[1], "r", 1), 1);
		assert_int_equal(write(gw, "req\n", 4), 4);
		read_n(store, 5);
		pthread_mutex_lock(&handback.lock);
		handback.queued++;
		pthread_cond_signal(&handback.cond);
		pthread_mutex_unlock(&handback.lock);
		read_n(sp[0], 1);
		assert_int_equal(write(store, "ans\n", 4), 4);
		read_n(gw, 4);
		usleep(20000); /* every thread blocks again: their claims end */
		if (!k) {
			/* sampled: the front's receive of the reply recorded */
			drain_from(m);
			assert_non_null(find_recv_of(front, call, 0));
		}
	}
	drain_from(m);
	/*
	 * unsampled at the front, hidden at the store: its reply recorded
	 * (with the syscall hooks too: they record the notifications)
	 */
	reply = find_xfer(KRT_DIR_SEND, store, 0);
	assert_non_null(reply);
	assert_true(reply->xfer.flags & KRT_XF_TAGGED);
	assert_true(reply->xfer.trace_id && !(reply->xfer.trace_id & KRT_TRACE_SAMPLED_OUT));
	/* read by the front (recorded), its request unsampled still: no time of it */
	{
		const struct krt_event *read_reply = find_recv_of(front, call, 0);

		assert_non_null(read_reply);
		assert_int_equal(read_reply->xfer.trace_id, reply->xfer.trace_id);
		for (i = 0; i < n_got; i++) {
			const struct krt_event *e = &got[i];

			if ((pid_t)e->pid != front)
				continue;
			if (e->type == KRT_EV_CPU && e->oncpu.trace_id == reply->xfer.trace_id)
				fail_msg("front's time for its unsampled request: %llu ns",
					 (unsigned long long)e->oncpu.oncpu_ns);
			if (e->type == KRT_EV_XFER && (e->xfer.flags & KRT_XF_CPU) &&
			    e->xfer.cpu_before.trace_id == reply->xfer.trace_id)
				fail_msg("front's time for its unsampled request carried: %llu ns",
					 (unsigned long long)e->xfer.cpu_before.oncpu_ns);
		}
	}
	assert_int_equal(pthread_join(worker, &ret), 0);
	assert_null(ret);
	close(go[1]);
	assert_int_equal(waitpid(front, &status, 0), front);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(gw);
	close(store);
	close(sp[0]);
	close(sp[1]);
	close_own_source(m);
}

/* An idle thread of this process, woken once (test_caller_wakes_no_pool). */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int go;
} idle_thread = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };

static void *idle_thread_wait(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&idle_thread.lock);
	while (!idle_thread.go)
		pthread_cond_wait(&idle_thread.cond, &idle_thread.lock);
	pthread_mutex_unlock(&idle_thread.lock);
	return NULL;
}

/*
 * A wake-up of a thread of this process, with the switches it causes: in
 * the CPU's batches by default, a record each with sched_unbatched
 * (--debug unbatched); the engine's events are the same either way.
 */
static void wakeup_seen(bool unbatched)
{
	struct krt_live_opts o = { .kernel_tags = true, .cpu_in_kernel = true,
				   .merge_hops = true, .sched_unbatched = unbatched };
	struct krt_live_tag_stats ts;
	struct krt_live_source *m;
	pid_t me = (pid_t)syscall(SYS_gettid);
	bool woke = false;
	pthread_t idle;
	size_t i;

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	m = open_source_with(o, false);
	assert_non_null(m);
	idle_thread.go = 0;
	assert_int_equal(pthread_create(&idle, NULL, idle_thread_wait, NULL), 0);
	usleep(50000); /* the idle thread waits */
	drain_from(m);
	pthread_mutex_lock(&idle_thread.lock);
	idle_thread.go = 1;
	pthread_cond_signal(&idle_thread.cond);
	pthread_mutex_unlock(&idle_thread.lock);
	assert_int_equal(pthread_join(idle, NULL), 0);
	drain_from(m);
	for (i = 0; i < n_got; i++)
		if (got[i].type == KRT_EV_WAKEUP && (pid_t)got[i].tid == me &&
		    got[i].pid == (__u32)getpid() && got[i].wakeup.target_pid == (__u32)getpid())
			woke = true;
	assert_true(woke);
	krt_live_tag_stats(m, &ts);
	if (unbatched) {
		assert_int_equal(ts.sched_batches, 0);
		assert_int_equal(ts.sched_batched, 0);
	} else {
		assert_true(ts.sched_batches >= 1);
		assert_true(ts.sched_batched >= 1);
	}
	close_own_source(m);
}

/*
 * Bytes on a socketpair of this process (a worker waking its loop): a
 * NOTIFY event each way, naming the receiving socket, the fd and (a read)
 * the bytes asked for; in the CPU's batches by default (the transfer hook
 * marks the batch busy while it adds its item: the syscall-exit one can be
 * preempted), a record each with sched_unbatched.
 */
static void notify_seen(bool unbatched)
{
	struct krt_live_opts o = { .kernel_tags = true, .cpu_in_kernel = true,
				   .merge_hops = true, .sched_unbatched = unbatched };
	struct krt_live_tag_stats ts;
	struct krt_live_source *m;
	const struct krt_event *snd = NULL, *rcv = NULL;
	pid_t me = (pid_t)syscall(SYS_gettid);
	char buf[64];
	int sp[2];
	size_t i;

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	m = open_source_with(o, false);
	assert_non_null(m);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	drain_from(m);
	assert_int_equal(write(sp[0], "abc", 3), 3);
	assert_int_equal(read(sp[1], buf, sizeof(buf)), 3);
	drain_from(m);
	for (i = 0; i < n_got; i++) {
		const struct krt_event *e = &got[i];

		if (e->type != KRT_EV_NOTIFY || (pid_t)e->tid != me)
			continue;
		if (e->notify.dir == KRT_DIR_SEND && e->notify.fd == sp[0])
			snd = e;
		if (e->notify.dir == KRT_DIR_RECV && e->notify.fd == sp[1])
			rcv = e;
	}
	assert_non_null(snd);
	assert_non_null(rcv);
	assert_int_equal(snd->pid, getpid());
	assert_int_equal(snd->notify.bytes, 3);
	assert_int_equal(rcv->notify.bytes, 3);
	assert_int_equal(rcv->notify.asked, sizeof(buf));
	assert_true(snd->notify.chan != 0);
	assert_true(snd->notify.chan == rcv->notify.chan);
	assert_true(snd->ts_ns <= rcv->ts_ns);
	krt_live_tag_stats(m, &ts);
	if (unbatched)
		assert_int_equal(ts.sched_notify, 0);
	else
		assert_true(ts.sched_notify >= 2);
	close(sp[0]);
	close(sp[1]);
	close_own_source(m);
}

static void test_notify_batched(void **state)
{
	notify_seen(false);
}

static void test_notify_unbatched(void **state)
{
	notify_seen(true);
}

static void test_wakeup_batched(void **state)
{
	wakeup_seen(false);
}

static void test_wakeup_unbatched(void **state)
{
	wakeup_seen(true);
}

/*
 * --sample 2: a thread that reads its requests at the door and calls out
 * itself (a JVM's pool thread) and wakes an idle thread with a request open
 * (a collector's, an allocator's) feeds no pool (krt_pool_hidden's CALLS):
 * its unsampled request leaves no record, as without pools.
 */
static void test_caller_wakes_no_pool(void **state)
{
	struct krt_live_opts o = { .kernel_tags = true, .cpu_in_kernel = true,
				   .merge_hops = true, .sample_rate = 2 };
	struct krt_live_source *m;
	pthread_t idle;
	int gw, srv, cli, back;

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	m = open_source_with(o, true);
	assert_non_null(m);
	idle_thread.go = 0;
	assert_int_equal(pthread_create(&idle, NULL, idle_thread_wait, NULL), 0);
	tcp_pair(GATEWAY, &gw, &srv);
	tcp_pair("127.0.0.1", &cli, &back);
	usleep(50000); /* the idle thread waits */
	drain_from(m);
	/* sampled: read, a call out, the idle thread woken, answered */
	assert_int_equal(write(gw, "req\n", 4), 4);
	read_n(srv, 4);
	assert_int_equal(write(cli, "sub\n", 4), 4);
	read_n(back, 4);
	pthread_mutex_lock(&idle_thread.lock);
	idle_thread.go = 1;
	pthread_cond_signal(&idle_thread.cond);
	pthread_mutex_unlock(&idle_thread.lock);
	assert_int_equal(pthread_join(idle, NULL), 0);
	assert_int_equal(write(srv, "ans\n", 4), 4);
	read_n(gw, 4);
	usleep(20000);
	drain_from(m);
	assert_non_null(find_xfer(KRT_DIR_RECV, srv, 0));
	/* unsampled, on the same connection: nothing */
	assert_int_equal(write(gw, "req\n", 4), 4);
	read_n(srv, 4);
	assert_int_equal(write(srv, "ans\n", 4), 4);
	read_n(gw, 4);
	usleep(20000);
	drain_from(m);
	assert_null(find_xfer(KRT_DIR_RECV, srv, 0));
	assert_null(find_xfer(KRT_DIR_SEND, srv, 0));
	close(gw);
	close(srv);
	close(cli);
	close(back);
	close_own_source(m);
}

/* A backend's thread for one connection: answers each 4-byte call until EOF. */
static void *backend_answers(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4];

	while (read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf))
		if (write(fd, "bak\n", 4) != 4)
			break;
	return NULL;
}

struct upstream {
	int up, back;
	pthread_t thread;
};

/*
 * A call's connection (opened by this thread now) to a backend of its own,
 * on UPSTREAM_ADDR: the traced container (open_loop_source), not the
 * door's address, where the test's writes as the gateway would be calls.
 */
#define UPSTREAM_ADDR "127.0.0.3"

static void upstream_open(struct upstream *b)
{
	tcp_pair_at("127.0.0.1", UPSTREAM_ADDR, &b->up, &b->back);
	assert_int_equal(pthread_create(&b->thread, NULL, backend_answers,
					(void *)(intptr_t)b->back), 0);
}

static void upstream_close(struct upstream *b)
{
	close(b->up);
	assert_int_equal(pthread_join(b->thread, NULL), 0);
	close(b->back);
}

/*
 * One request at the door on gw/srv, answered at once: more than a loop
 * trial's worth of them ends the trial (KRT_LOOP_TRIAL).
 */
static void door_request(int gw, int srv)
{
	assert_int_equal(write(gw, "req\n", 4), 4);
	read_n(srv, 4);
	assert_int_equal(write(srv, "ans\n", 4), 4);
	read_n(gw, 4);
}

/* --sample 2, krtrace-bpf's defaults; the traced container at UPSTREAM_ADDR */
static struct krt_live_source *open_loop_source(void)
{
	struct krt_live_opts o = { .kernel_tags = true, .cpu_in_kernel = true,
				   .merge_hops = true, .sample_rate = 2 };
	struct krt_addr up = { .family = KRT_AF_INET, .addr = { 127, 0, 0, 3 } };
	struct krt_live_source *m;

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	m = open_source_with(o, false);
	assert_non_null(m);
	assert_int_equal(krt_live_add_peer(m, &up), 0);
	return m;
}

/* More requests on gw/srv than a loop trial's (KRT_LOOP_TRIAL): it ends. */
static void loop_trial_passes(int gw, int srv)
{
	int k;

	for (k = 0; k < KRT_LOOP_TRIAL + 4; k++)
		door_request(gw, srv);
}

/*
 * Of 8 requests on gw/srv (--sample 2): how many door receives are
 * recorded, and how many of those hidden.
 */
static void door_records(struct krt_live_source *m, int gw, int srv, int *recorded, int *hidden)
{
	int k;
	size_t i;

	usleep(20000);
	drain_from(m);
	for (k = 0; k < 8; k++)
		door_request(gw, srv);
	usleep(20000);
	drain_from(m);
	*recorded = *hidden = 0;
	for (i = 0; i < n_got; i++) {
		if (got[i].type != KRT_EV_XFER || got[i].xfer.dir != KRT_DIR_RECV ||
		    got[i].xfer.fd != srv)
			continue;
		(*recorded)++;
		*hidden += !!(got[i].xfer.flags & KRT_XF_SAMPLED_OUT);
	}
}

/*
 * nginx's burst on the door connections gw/srv: the requests read (the
 * second while the first is open), an upstream connect for each; once
 * connected, each one's first request, no receive between; the replies.
 */
static void first_sends_burst(int *gw, int *srv, int n, struct upstream *up)
{
	int k;

	for (k = 0; k < n; k++) {
		assert_int_equal(write(gw[k], "req\n", 4), 4);
		read_n(srv[k], 4);
		upstream_open(&up[k]);
	}
	for (k = 0; k < n; k++)
		assert_int_equal(write(up[k].up, "sub\n", 4), 4);
	for (k = 0; k < n; k++) {
		read_n(up[k].up, 4);
		assert_int_equal(write(srv[k], "ans\n", 4), 4);
		read_n(gw[k], 4);
	}
}

/*
 * --sample 2: nginx's worker reads a batch of requests (the second while
 * the first is open: a loop trial), connects upstream for each, and once
 * the connections are up sends each one's first request, two or more
 * calls after one receive. Each carries its connect-time trace: no loop
 * to correct, so not taken for one: after the trial its unsampled
 * requests leave no record (as a loop, every one would be recorded
 * hidden, at full tracing's cost).
 */
static void test_first_sends_make_no_loop(void **state)
{
	struct krt_live_source *m;
	struct upstream first, up[2], later[3];
	int gw[3], srv[3], k, recorded, hidden;

	/* each connection's state kept: whether it sent before (not in small tables) */
	if (state_slots)
		skip();
	m = open_loop_source();
	for (k = 0; k < 3; k++)
		tcp_pair(GATEWAY, &gw[k], &srv[k]);
	drain_from(m);
	/* a request and its call: a door reader that calls out */
	assert_int_equal(write(gw[0], "req\n", 4), 4);
	read_n(srv[0], 4);
	upstream_open(&first);
	assert_int_equal(write(first.up, "sub\n", 4), 4);
	read_n(first.up, 4);
	/* the next ones read while it is open: its loop trial */
	first_sends_burst(&gw[1], &srv[1], 2, up);
	assert_int_equal(write(srv[0], "ans\n", 4), 4);
	read_n(gw[0], 4);
	loop_trial_passes(gw[0], srv[0]);
	door_records(m, gw[0], srv[0], &recorded, &hidden);
	if (recorded != 4 || hidden)
		show_thread_events(gettid());
	assert_int_equal(hidden, 0);
	assert_int_equal(recorded, 4);
	/* after its trial (new upstream connections: nginx's churn) */
	first_sends_burst(gw, srv, 3, later);
	door_records(m, gw[0], srv[0], &recorded, &hidden);
	assert_int_equal(hidden, 0);
	assert_int_equal(recorded, 4);
	upstream_close(&first);
	for (k = 0; k < 3; k++) {
		if (k < 2)
			upstream_close(&up[k]);
		upstream_close(&later[k]);
		close(gw[k]);
		close(srv[k]);
	}
	close_own_source(m);
}

/*
 * --sample 2: the same first sends after one receive, by a loop that also
 * calls on a connection used before right after reading a reply (node's
 * next call of a request, here on the first request's connection): a loop
 * for good, its unsampled requests recorded hidden after the trial.
 */
static void test_first_sends_and_reply_calls_make_loop(void **state)
{
	struct krt_live_source *m;
	struct upstream first, up[2];
	int gw[3], srv[3], k, recorded, hidden;

	/* each connection's state kept: whether it sent before (not in small tables) */
	if (state_slots)
		skip();
	m = open_loop_source();
	for (k = 0; k < 3; k++)
		tcp_pair(GATEWAY, &gw[k], &srv[k]);
	drain_from(m);
	assert_int_equal(write(gw[0], "req\n", 4), 4);
	read_n(srv[0], 4);
	upstream_open(&first);
	assert_int_equal(write(first.up, "sub\n", 4), 4);
	read_n(first.up, 4);
	first_sends_burst(&gw[1], &srv[1], 2, up);
	/* the burst's first reply read: its request's next call, on a used connection */
	assert_int_equal(write(gw[1], "req\n", 4), 4);
	read_n(srv[1], 4);
	assert_int_equal(write(up[0].up, "sub\n", 4), 4);
	read_n(up[0].up, 4);
	assert_int_equal(write(first.up, "sub\n", 4), 4);
	read_n(first.up, 4);
	assert_int_equal(write(srv[1], "ans\n", 4), 4);
	read_n(gw[1], 4);
	assert_int_equal(write(srv[0], "ans\n", 4), 4);
	read_n(gw[0], 4);
	loop_trial_passes(gw[0], srv[0]);
	door_records(m, gw[0], srv[0], &recorded, &hidden);
	if (recorded != 8 || hidden != 4)
		show_thread_events(gettid());
	assert_int_equal(recorded, 8);
	assert_int_equal(hidden, 4);
	upstream_close(&first);
	for (k = 0; k < 3; k++) {
		if (k < 2)
			upstream_close(&up[k]);
		close(gw[k]);
		close(srv[k]);
	}
	close_own_source(m);
}


/*
 * --sample 2: an event loop (node's): a backend's reply read, then two
 * calls on connections used before: the request's next call and another
 * request's, waiting for that connection, tagged with the reply's trace.
 * Taken for a loop: after the trial its unsampled requests are recorded,
 * hidden (the engine's loop rule needs every request the loop read).
 */
static void loop_made(int *gw, int *srv, struct upstream *up)
{
	int k;

	/* the first request and its call; the second read while it is open */
	assert_int_equal(write(gw[0], "req\n", 4), 4);
	read_n(srv[0], 4);
	assert_int_equal(write(up[0].up, "sub\n", 4), 4);
	assert_int_equal(write(gw[1], "req\n", 4), 4);
	read_n(srv[1], 4);
	/* the first one's reply, then its next call and the second one's */
	read_n(up[0].up, 4);
	assert_int_equal(write(up[1].up, "sub\n", 4), 4);
	assert_int_equal(write(up[0].up, "sub\n", 4), 4);
	for (k = 0; k < 2; k++) {
		read_n(up[k].up, 4);
		assert_int_equal(write(srv[k], "ans\n", 4), 4);
		read_n(gw[k], 4);
	}
	loop_trial_passes(gw[0], srv[0]);
}

/*
 * An event loop made (loop_made) on two gateway connections with an
 * upstream each; each connection's state is kept (whether it sent
 * before), which the small tables do not.
 */
static struct krt_live_source *made_loop_begin(int gw[2], int srv[2], struct upstream up[2])
{
	struct krt_live_source *m;
	int k;

	if (state_slots)
		skip();
	m = open_loop_source();
	for (k = 0; k < 2; k++) {
		tcp_pair(GATEWAY, &gw[k], &srv[k]);
		upstream_open(&up[k]);
	}
	drain_from(m);
	loop_made(gw, srv, up);
	return m;
}

static void made_loop_end(struct krt_live_source *m, int gw[2], int srv[2], struct upstream up[2])
{
	int k;

	for (k = 0; k < 2; k++) {
		upstream_close(&up[k]);
		close(gw[k]);
		close(srv[k]);
	}
	close_own_source(m);
}

static void test_calls_on_used_connections_make_loop(void **state)
{
	struct krt_live_source *m;
	struct upstream up[2];
	int gw[2], srv[2], recorded, hidden;

	m = made_loop_begin(gw, srv, up);
	door_records(m, gw[0], srv[0], &recorded, &hidden);
	if (recorded != 8 || hidden != 4)
		show_thread_events(gettid());
	assert_int_equal(recorded, 8);
	assert_int_equal(hidden, 4);
	made_loop_end(m, gw, srv, up);
}

/*
 * --sample 2, time in the kernel: an event loop's hidden request (recorded
 * for the loop rule, never shown) has no time counted (no CPU record names
 * it: KRT_UNCOUNTED_HIDDEN); a sampled one has. 20 ms burnt on each of
 * four requests, the fifth read makes the fourth's time go out.
 */
static void test_loop_hidden_time_uncounted(void **state)
{
	struct krt_live_source *m;
	struct upstream up[2];
	__u32 id[5] = {0};
	bool hid[5] = {false};
	__u64 cpu[5] = {0};
	int gw[2], srv[2], k, n = 0, n_hidden = 0, n_shown = 0;
	size_t i;

	m = made_loop_begin(gw, srv, up);
	usleep(20000);
	drain_from(m);
	for (k = 0; k < 5; k++) {
		assert_int_equal(write(gw[0], "req\n", 4), 4);
		read_n(srv[0], 4);
		if (k < 4)
			burn_ns(20 * 1000 * 1000);
		assert_int_equal(write(srv[0], "ans\n", 4), 4);
		read_n(gw[0], 4);
	}
	usleep(20000);
	drain_from(m);
	for (i = 0; i < n_got && n < 5; i++) {
		if (got[i].type != KRT_EV_XFER || got[i].xfer.dir != KRT_DIR_RECV ||
		    got[i].xfer.fd != srv[0] || !(got[i].xfer.flags & KRT_XF_TAGGED))
			continue;
		id[n] = got[i].xfer.trace_id;
		hid[n++] = got[i].xfer.flags & KRT_XF_SAMPLED_OUT;
	}
	assert_int_equal(n, 5);
	for (i = 0; i < n_got; i++)
		for (k = 0; k < 4; k++)
			if (got[i].type == KRT_EV_CPU && got[i].oncpu.trace_id == id[k])
				cpu[k] += got[i].oncpu.oncpu_ns;
	for (k = 0; k < 4; k++) {
		fprintf(stderr, "# request %d: %s, %llu ns counted\n", k,
			hid[k] ? "hidden" : "sampled", (unsigned long long)cpu[k]);
		if (hid[k]) {
			n_hidden++;
			assert_true(cpu[k] < 1000 * 1000);
		} else {
			n_shown++;
			assert_true(cpu[k] >= BURN_SEEN_NS);
		}
	}
	assert_int_equal(n_hidden, 2);
	assert_int_equal(n_shown, 2);
	made_loop_end(m, gw, srv, up);
}

/*
 * A server that reads a pool worker's call reads bytes whose trace is a
 * guess (the worker's hand-off is unsure). It is no pool worker: its time
 * is summed here, for the trace the engine decides for it
 * (KRT_CPU_FOLLOWS), and none of its switches goes out; the pool worker's
 * do (the engine counts a worker's time from when it runs).
 */
static void test_unsure_server_time_in_kernel(void **state)
{
	static struct pool p;	/* static: see test_abandon */
	struct pool init = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, .jobs = 1,
			     .work_ns = 20 * 1000 * 1000 };
	struct krt_live_source *m;
	const struct krt_event *call;
	pthread_t worker;
	bool worker_switch = false;
	__u64 follows_ns = 0;
	int gw, tries;
	size_t i;

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	m = open_merging_source();
	p = init;
	pool_start(&p, &worker);
	tcp_pair(GATEWAY, &gw, &p.reply[0]);
	drain_from(m);
	pool_request(&p, 0, &gw);
	drain_from(m);
	/* the worker's call: read downstream, untagged (the engine decides) */
	call = find_xfer(KRT_DIR_RECV, p.back, 0);
	assert_non_null(call);
	assert_int_equal((pid_t)call->tid, p.server_tid);
	assert_false(call->xfer.flags & KRT_XF_TAGGED);
	/*
	 * The server's time leaves when it blocks again after answering; on
	 * a loaded machine that can come after the request's answer reached
	 * us (it was preempted between its write and its read): drain until
	 * the 20 ms are in, for up to 2 s.
	 */
	for (tries = 0;; tries++) {
		for (i = 0; i < n_got; i++) {
			if (got[i].type == KRT_EV_SWITCH) {
				assert_int_not_equal(got[i].sw.prev_tid, p.server_tid);
				assert_int_not_equal(got[i].sw.next_tid, p.server_tid);
				worker_switch |= (__s32)got[i].sw.prev_tid == p.worker_tid ||
						 (__s32)got[i].sw.next_tid == p.worker_tid;
			}
			/* (time with no trace, idle, goes out with none) */
			if (got[i].type == KRT_EV_CPU && (pid_t)got[i].tid == p.server_tid &&
			    got[i].oncpu.trace_id) {
				assert_int_equal(got[i].oncpu.trace_id, KRT_CPU_FOLLOWS);
				follows_ns += got[i].oncpu.oncpu_ns;
			}
		}
		if (follows_ns >= 19 * 1000 * 1000 || tries == 100)
			break;
		usleep(20000);
		drain_from(m);
	}
	assert_true(worker_switch);
	/* the 20 ms it worked on the call */
	assert_in_range(follows_ns, BURN_SEEN_NS, 200 * 1000 * 1000);
	pool_end(&p, worker);
	close(gw);
	own_source_close(m);
	assert_int_equal(krt_live_trace_tgid(src, getpid()), 0);
}

/*
 * The default reorder window grows when a record arrives behind it: a
 * merged hop's send waits in the kernel for its receiver, here 100 ms,
 * while newer records (a second request read) leave the window. The send
 * is clamped and counted, and the window doubles (the summary's
 * reorder_window_ns).
 */
static void test_reorder_window_grows(void **state)
{
	struct krt_source_stats st;
	struct krt_live_source *m;
	int gw, srv, cli, back, i;

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	m = open_merging_source();
	tcp_pair(GATEWAY, &gw, &srv);
	tcp_pair("127.0.0.1", &cli, &back);
	drain_from(m);
	krt_live_stats(m, &st);
	assert_int_equal(st.reorder_window_ns, 0);
	assert_int_equal(write(gw, "req\n", 4), 4);
	read_n(srv, 4);
	assert_int_equal(write(cli, "sub-request\n", 12), 12);	/* waits for its reader */
	assert_int_equal(write(gw, "req2\n", 5), 5);
	read_n(srv, 5);		/* a newer record, handed on past the 20 ms window */
	for (i = 0; i < 10; i++) {
		usleep(10000);
		n_got = 0;
		assert_true(krt_live_poll(m, 1, collect, NULL) >= 0);
	}
	read_n(back, 12);	/* the send's record arrives, 100 ms old */
	for (i = 0; i < 5; i++) {
		usleep(10000);
		n_got = 0;
		assert_true(krt_live_poll(m, 1, collect, NULL) >= 0);
	}
	krt_live_stats(m, &st);
	print_message("clamped %llu, window grew to %llu ms\n", (unsigned long long)st.reordered,
		      (unsigned long long)st.reorder_window_ns / 1000000);
	assert_true(st.reordered >= 1);
	assert_true(st.reorder_window_ns >= 40ULL * 1000 * 1000);
	own_source_close(m);
	close(gw);
	close(srv);
	close(cli);
	close(back);
	assert_int_equal(krt_live_trace_tgid(src, getpid()), 0);
}

/* The CPU records of the thread that received in, for in's trace: on CPU and waiting. */
static void request_cpu(const struct krt_event *in, __u64 *oncpu, __u64 *runq)
{
	size_t i;

	for (i = 0; i < n_got; i++) {
		if (got[i].type != KRT_EV_CPU || got[i].tid != in->tid ||
		    got[i].oncpu.trace_id != in->xfer.trace_id)
			continue;
		*oncpu += got[i].oncpu.oncpu_ns;
		if (runq)
			*runq += got[i].oncpu.runq_ns;
	}
}

/*
 * cpu_in_kernel: the time a thread spends on a request is summed in the
 * kernel and sent as one CPU record for that request when the thread is
 * done with it (answered and blocked); no switch records at all.
 */
/*
 * A source gathering CPU time in the kernel, this process traced by it
 * alone; a request from the gateway read on *srv and 20 ms of work on it.
 */
static struct krt_live_source *cpu_source_request(int *gw, int *srv)
{
	struct krt_live_opts o = { .kernel_tags = true, .cpu_in_kernel = true };
	struct krt_live_source *s;

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	s = open_source_with(o, false);
	assert_non_null(s);

	tcp_pair(GATEWAY, gw, srv);
	n_got = 0;
	assert_true(krt_live_poll(s, 10, collect, NULL) >= 0);
	assert_int_equal(write(*gw, "req\n", 4), 4);
	read_n(*srv, 4);
	burn_ns(20 * 1000 * 1000);
	return s;
}

/*
 * The collected events give cpu_source_request's request at least the
 * 20 ms burnt on it, and not the whole test's time; then s ends.
 */
static void check_request_cpu_and_end(struct krt_live_source *s, int gw, int srv)
{
	const struct krt_event *in = find_xfer(KRT_DIR_RECV, srv, 0);
	__u64 on_request = 0;

	assert_non_null(in);
	request_cpu(in, &on_request, NULL);
	print_message("on the request: %llu us\n", (unsigned long long)on_request / 1000);
	if (on_request < BURN_SEEN_NS)
		show_thread_events(in->tid);
	assert_true(on_request >= BURN_SEEN_NS);
	assert_true(on_request < 200 * 1000 * 1000);
	close(gw);
	close(srv);
	close_own_source(s);
}

static void test_cpu_in_kernel(void **state)
{
	struct krt_live_source *s;
	int gw, srv;
	size_t i;

	s = cpu_source_request(&gw, &srv);
	assert_int_equal(write(srv, "ans\n", 4), 4);
	usleep(10000);		/* blocks after answering: the request is done */
	read_n(gw, 4);
	drain_from(s);

	for (i = 0; i < n_got; i++)
		assert_int_not_equal(got[i].type, KRT_EV_SWITCH);
	check_request_cpu_and_end(s, gw, srv);
}

/*
 * --sample 2, time in the kernel: a thread done with an unsampled request
 * (answered, blocked: its claim ended) is not counted until its next
 * request (KRT_UNCOUNTED_IDLE: no clock read at its switches), and when that
 * one is sampled its time counts from the read on. Requests 1 and 3 are
 * sampled, 2 is not; 60 ms of work between 2 and 3 go to nobody (with
 * them counted as time of no request, the read of 3 carried them: over
 * KRT_IDLE_FLUSH_NS), the 20 ms after the read of 3 go to 3.
 */
static void test_idle_after_unsampled_uncounted(void **state)
{
	struct krt_live_opts o = { .kernel_tags = true, .cpu_in_kernel = true, .sample_rate = 2 };
	struct krt_live_source *s;
	const struct krt_event *in;
	__u64 on_request = 0, idle = 0;
	int gw[3], srv[3], k;
	size_t i;

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	s = open_source_with(o, false);
	assert_non_null(s);
	for (k = 0; k < 3; k++)
		tcp_pair(GATEWAY, &gw[k], &srv[k]);
	drain_from(s);
	/* the replies are read at the end: a read would take their trace */
	for (k = 0; k < 2; k++) {
		assert_int_equal(write(gw[k], "req\n", 4), 4);
		read_n(srv[k], 4);
		assert_int_equal(write(srv[k], "ans\n", 4), 4);
		usleep(10000); /* blocks after answering: the request is done */
	}
	burn_ns(60 * 1000 * 1000);
	assert_int_equal(write(gw[2], "req\n", 4), 4);
	read_n(srv[2], 4);
	burn_ns(20 * 1000 * 1000);
	assert_int_equal(write(srv[2], "ans\n", 4), 4);
	usleep(10000);
	for (k = 0; k < 3; k++)
		read_n(gw[k], 4);
	drain_from(s);

	/* closed first: a failed assert must not leave this source's maps to the next test */
	for (k = 0; k < 3; k++) {
		close(gw[k]);
		close(srv[k]);
	}
	close_own_source(s);
	in = find_xfer(KRT_DIR_RECV, srv[2], 0);
	assert_non_null(in);
	assert_false(in->xfer.trace_id & KRT_TRACE_SAMPLED_OUT);
	request_cpu(in, &on_request, NULL);
	for (i = 0; i < n_got; i++) {
		if (got[i].type == KRT_EV_CPU && got[i].tid == in->tid && !got[i].oncpu.trace_id &&
		    got[i].oncpu.oncpu_ns > idle)
			idle = got[i].oncpu.oncpu_ns;
	}
	print_message("sampled request after an unsampled one: %llu us on CPU; "
		      "largest time of no request %llu us\n",
		      (unsigned long long)on_request / 1000, (unsigned long long)idle / 1000);
	if (on_request < BURN_SEEN_NS || on_request > 50 * 1000 * 1000 ||
	    idle >= 40 * 1000 * 1000) {
		fprintf(stderr, "# the test thread's records (trace %u sampled):\n",
			in->xfer.trace_id);
		show_thread_events(in->tid);
	}
	assert_in_range(on_request, BURN_SEEN_NS, 50 * 1000 * 1000);
	assert_true(idle < 40 * 1000 * 1000);
}

static volatile bool burner_run;

static void *burner(void *arg)
{
	cpu_set_t *one = arg;

	pthread_setaffinity_np(pthread_self(), sizeof(*one), one);
	while (burner_run)
		;
	return NULL;
}

/*
 * This thread's run-queue waits so far by the kernel's own count
 * (/proc/.../schedstat's second field, ns), shown when test_runq_delay
 * fails: the waits there were, against what was counted.
 */
static unsigned long long schedstat_run_delay(void)
{
	unsigned long long on = 0, waited = 0;
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/schedstat", (long)syscall(SYS_gettid));
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &on, &waited) != 2)
		waited = 0;
	fclose(f);
	return waited;
}

/*
 * Run-queue delay: a thread that works on a request while another thread
 * holds its CPU waits on the run queue about as long as it runs; that wait
 * is reported with its CPU time, for its request.
 */
static void test_runq_delay(void **state)
{
	struct krt_live_opts o = { .kernel_tags = true, .cpu_in_kernel = true };
	cpu_set_t one, all;
	struct krt_live_source *s;
	const struct krt_event *in;
	__u64 oncpu = 0, runq = 0, wall_ns;
	unsigned long long rd0, rd1, rd2;
	struct timespec t0, t1;
	pthread_t th;
	int gw, srv;

	/* the kernel's run-queue count (CONFIG_SCHED_INFO) shows in this file */
	if (access("/proc/self/schedstat", R_OK)) {
		print_message("no /proc/self/schedstat: run-queue waits are timed from wake-ups "
			      "only, preemptions are not seen\n");
		skip();
	}
	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	s = open_source_with(o, false);
	assert_non_null(s);
	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);

	tcp_pair(GATEWAY, &gw, &srv);
	drain_from(s);
	/*
	 * The clock before a sleep: the kernel counts a wait on the run queue
	 * at the switch-out after it, so every wait counted for the request
	 * comes after this switch-out.
	 */
	rd0 = schedstat_run_delay();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	usleep(1000);
	assert_int_equal(write(gw, "req\n", 4), 4);
	read_n(srv, 4);
	burner_run = true;
	assert_int_equal(pthread_create(&th, NULL, burner, &one), 0);
	burn_ns(20 * 1000 * 1000);	/* sharing the CPU with the burner */
	burner_run = false;
	pthread_join(th, NULL);
	assert_int_equal(write(srv, "ans\n", 4), 4);
	/* answered and blocked: the request's time goes out at this sleep */
	usleep(10000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rd1 = schedstat_run_delay();
	wall_ns = (t1.tv_sec - t0.tv_sec) * 1000000000ULL + t1.tv_nsec - t0.tv_nsec;
	drain_from(s);
	rd2 = schedstat_run_delay();
	/*
	 * The answer is read (by this thread, the gateway's side too) only
	 * now: its bytes carry the request's tag, so the thread that reads
	 * them takes the request's trace again until it blocks. Read before
	 * the drain, that trace got the reader's time up to the drain's end,
	 * after t1 (waits of 6-38 ms past t1 under load, where the
	 * kernel's own count had them too: the bound below failed 4 times in
	 * 16 runs of this test with other helpers' loads).
	 */
	read_n(gw, 4);
	assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);

	in = find_xfer(KRT_DIR_RECV, srv, 0);
	assert_non_null(in);
	request_cpu(in, &oncpu, &runq);
	print_message("on CPU %llu us, waiting %llu us, in %llu us\n",
		      (unsigned long long)oncpu / 1000, (unsigned long long)runq / 1000,
		      (unsigned long long)wall_ns / 1000);
	assert_true(oncpu >= BURN_SEEN_NS);
	/* the burner ran about as long: the scheduler's slices are a few ms */
	assert_true(runq >= 5 * 1000 * 1000);
	if (oncpu + runq > wall_ns) {
		/* the kernel's count of the waits, and the records counted */
		fprintf(stderr, "#   the kernel's run-queue waits: %llu us from t0 to t1, %llu us to the drain's end\n",
			(rd1 - rd0) / 1000, (rd2 - rd0) / 1000);
		fprintf(stderr, "#   t0 %llu, t1 %llu\n",
			(unsigned long long)(t0.tv_sec * 1000000000ULL + t0.tv_nsec),
			(unsigned long long)(t1.tv_sec * 1000000000ULL + t1.tv_nsec));
		show_thread_events(in->tid);
	}
	/*
	 * No more than the request lasted (the clocks read around it): a fixed
	 * bound (1 s) failed on a machine busy enough that the pinned thread
	 * waited 2 s behind the burner and everyone else's work.
	 */
	assert_true(oncpu + runq <= wall_ns);
	close(gw);
	close(srv);
	close_own_source(s);
}

/*
 * A thread whose state is made while it runs, by a hook other than the
 * switch's (its switch-in unseen: the test bed's kernel does not always run
 * sched_switch, and a new thread's request then had no CPU at all): its
 * time counts from there. Here the thread is traced, and the programs
 * attached, while it runs; it reads a request already queued (no block,
 * so no switch-in before its state is made at the receive), works 2 ms,
 * answers and blocks. Without the count started at the state's making,
 * the request's CPU was 0 (or what followed a preemption).
 */
static void test_cpu_state_made_running(void **state)
{
	struct krt_live_opts o = { .kernel_tags = true, .cpu_in_kernel = true };
	struct krt_live_source *s;
	const struct krt_event *in;
	struct timespec a, b;
	__u64 oncpu = 0, used;
	int gw, srv;

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	tcp_pair(GATEWAY, &gw, &srv);
	assert_int_equal(write(gw, "req\n", 4), 4);
	usleep(1000);
	s = open_source_with(o, false);
	assert_non_null(s);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	read_n(srv, 4);
	burn_ns(2 * 1000 * 1000);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	assert_int_equal(write(srv, "ans\n", 4), 4);
	usleep(10000); /* answered and blocked: the request's time goes out */
	drain_from(s);
	read_n(gw, 4);
	used = (b.tv_sec - a.tv_sec) * 1000000000ULL + b.tv_nsec - a.tv_nsec;
	in = find_xfer(KRT_DIR_RECV, srv, 0);
	assert_non_null(in);
	request_cpu(in, &oncpu, NULL);
	print_message("on CPU %llu us of the %llu us the thread used\n",
		      (unsigned long long)oncpu / 1000, (unsigned long long)used / 1000);
	if (oncpu < used / 2)
		show_thread_events(in->tid);
	assert_true(oncpu >= used / 2);
	close(gw);
	close(srv);
	close_own_source(s);
}

/*
 * A receive that moves its thread to another request carries the time
 * spent on the one before in its own record: the live source hands the
 * engine a CPU event for the old request, at the receive's time, before
 * the receive (whose record no longer shows the time).
 */
static void test_cpu_carried_by_receive(void **state)
{
	const struct krt_event *in2, *r2 = NULL, *cpu1 = NULL;
	struct krt_live_tag_stats ts;
	struct krt_live_source *s;
	__u32 trace1;
	int gw, srv, gw2, srv2;
	size_t i;

	s = cpu_source_request(&gw, &srv);
	tcp_pair(GATEWAY, &gw2, &srv2);
	assert_int_equal(write(gw2, "req2\n", 5), 5);
	read_n(srv2, 5);	/* request 2, on the same thread, while on request 1 */
	drain_from(s);

	trace1 = find_xfer(KRT_DIR_RECV, srv, 0)->xfer.trace_id;
	in2 = find_xfer(KRT_DIR_RECV, srv2, 0);
	assert_non_null(in2);
	assert_int_not_equal(in2->xfer.trace_id, trace1);
	assert_false(in2->xfer.flags & KRT_XF_CPU);
	for (i = 0; i < n_got; i++) {
		if (&got[i] == in2)
			r2 = in2;
		if (!r2 && got[i].type == KRT_EV_CPU && got[i].oncpu.trace_id == trace1 &&
		    got[i].tid == in2->tid)
			cpu1 = &got[i];
	}
	/* before the receive, at its time, with request 1's 20 ms */
	if (!cpu1 || cpu1->oncpu.oncpu_ns < BURN_SEEN_NS) {
		fprintf(stderr, "# request 1 (trace %u) carried by request 2's receive: %llu us; "
			"the thread's records:\n", trace1,
			cpu1 ? (unsigned long long)cpu1->oncpu.oncpu_ns / 1000 : 0ULL);
		show_thread_events(in2->tid);
	}
	assert_non_null(cpu1);
	assert_int_equal(cpu1->ts_ns, in2->ts_ns);
	assert_true(cpu1->oncpu.oncpu_ns >= BURN_SEEN_NS);
	/* and it came inside the receive's record, not as a record of its own */
	krt_live_tag_stats(s, &ts);
	assert_true(ts.cpu_carried >= 1);
	close(gw2);
	close(srv2);
	check_request_cpu_and_end(s, gw, srv);
}

/*
 * Time still gathered in the kernel when the tracer stops (the thread is
 * on its request, nothing ended it) goes out at the final drain, read from
 * the threads' table.
 */
static void test_cpu_left_at_end(void **state)
{
	struct krt_live_source *s;
	int gw, srv;

	s = cpu_source_request(&gw, &srv);
	/* no answer: the request is still open, its time in the kernel */
	n_got = 0;
	assert_true(krt_live_drain(s, collect, NULL) >= 0);
	check_request_cpu_and_end(s, gw, srv);
}

/*
 * A run whose switch-in no hook saw (the kernel does not always run the
 * sched_switch tracepoint: bpf/cpu.bpf.h, run_reconcile) still counts for
 * the thread's request. The switch-in is hidden here by untracing the
 * process while the thread is woken: a helper untraces it, wakes the
 * thread (blocked on a pipe, its switch-out seen), the thread burns 20 ms
 * unseen, the helper traces the process again, and the thread answers and
 * blocks. Its request gets the 20 ms from the kernel's runtime count.
 */
struct unseen_run {
	struct krt_live_source *s;
	pid_t tid;
	int pipe[2];
	volatile bool burnt, traced;
};

static void *unseen_run_waker(void *arg)
{
	struct unseen_run *u = arg;
	int i;

	wait_sleeping(getpid(), u->tid);
	krt_live_untrace_tgid(u->s, getpid());
	if (write(u->pipe[1], "w", 1) != 1)
		return NULL;
	for (i = 0; i < 5000 && !u->burnt; i++)
		usleep(1000);
	krt_live_trace_tgid(u->s, getpid());
	u->traced = true;
	return NULL;
}

static void test_cpu_run_unseen_counted(void **state)
{
	struct krt_live_opts o = { .kernel_tags = true, .cpu_in_kernel = true };
	struct unseen_run u = { .tid = syscall(SYS_gettid) };
	struct krt_live_tag_stats ts;
	const struct krt_event *in;
	__u64 on_request = 0;
	pthread_t th;
	int gw, srv, i;
	char c;

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	u.s = open_source_with(o, false);
	assert_non_null(u.s);
	assert_int_equal(pipe(u.pipe), 0);
	tcp_pair(GATEWAY, &gw, &srv);
	drain_from(u.s);
	assert_int_equal(write(gw, "req\n", 4), 4);
	read_n(srv, 4);
	assert_int_equal(pthread_create(&th, NULL, unseen_run_waker, &u), 0);
	assert_int_equal(read(u.pipe[0], &c, 1), 1); /* switched out seen, in unseen */
	burn_ns(20 * 1000 * 1000);
	u.burnt = true;
	for (i = 0; i < 5000 && !u.traced; i++)
		usleep(1000);	/* a switch seen: the time so far is the kernel's count's */
	assert_true(u.traced);
	pthread_join(th, NULL);
	assert_int_equal(write(srv, "ans\n", 4), 4);
	usleep(10000);		/* blocks after answering: the request is done */
	read_n(gw, 4);
	drain_from(u.s);
	krt_live_tag_stats(u.s, &ts);

	in = find_xfer(KRT_DIR_RECV, srv, 0);
	assert_non_null(in);
	request_cpu(in, &on_request, NULL);
	print_message("on the request: %llu us; runs partly unseen %llu\n",
		      (unsigned long long)on_request / 1000, (unsigned long long)ts.runs_unseen);
	if (on_request < BURN_SEEN_NS)
		show_thread_events(in->tid);
	close(u.pipe[0]);
	close(u.pipe[1]);
	close(gw);
	close(srv);
	close_own_source(u.s);
	assert_true(ts.runs_unseen >= 1);
	assert_true(on_request >= BURN_SEEN_NS);
	assert_true(on_request < 200 * 1000 * 1000);
}

/*
 * A measurement, not run by default (KRT_BURN_REPS=N, its own group): N
 * requests of a 20 ms burn on one source, each one's on-CPU time against
 * the thread's CPU clock over the burn. Under load it showed the runs the
 * hooks did not see (test_cpu_run_unseen_counted): 4 of 180 requests
 * short by more than 1 ms before run_reconcile.
 */
static __u64 thread_cpu_ns(void)
{
	struct timespec a;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	return a.tv_sec * 1000000000ULL + a.tv_nsec;
}

static void schedstat(__u64 *run, __u64 *wait, __u64 *slices)
{
	FILE *f = fopen("/proc/thread-self/schedstat", "r");

	*run = *wait = *slices = 0;
	if (f) {
		if (fscanf(f, "%llu %llu %llu", run, wait, slices) != 3)
			*run = 0;
		fclose(f);
	}
}

static void test_cpu_burn_repeated(void **state)
{
	struct krt_live_opts o = { .kernel_tags = true, .cpu_in_kernel = true };
	const char *reps_s = getenv("KRT_BURN_REPS");
	int reps = reps_s ? atoi(reps_s) : 0, r, bad = 0, lt15 = 0;
	struct krt_live_source *s;

	if (!reps)
		skip();
	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	s = open_source_with(o, false);
	assert_non_null(s);
	for (r = 0; r < reps; r++) {
		__u64 c0, c1, run0, run1, w0, w1, sl0, sl1, on_request = 0;
		const struct krt_event *in;
		int gw, srv;

		tcp_pair(GATEWAY, &gw, &srv);
		drain_from(s);
		assert_int_equal(write(gw, "req\n", 4), 4);
		read_n(srv, 4);
		c0 = thread_cpu_ns();
		schedstat(&run0, &w0, &sl0);
		burn_ns(20 * 1000 * 1000);
		schedstat(&run1, &w1, &sl1);
		c1 = thread_cpu_ns();
		assert_int_equal(write(srv, "ans\n", 4), 4);
		usleep(10000);
		read_n(gw, 4);
		drain_from(s);
		in = find_xfer(KRT_DIR_RECV, srv, 0);
		assert_non_null(in);
		request_cpu(in, &on_request, NULL);
		if (on_request + 1000000 < c1 - c0) {
			bad++;
			if (on_request < BURN_SEEN_NS)
				lt15++;
			fprintf(stderr, "# rep %d: on the request %llu us, burnt %llu us in %llu slices, waited %llu us\n",
				r, (unsigned long long)on_request / 1000,
				(unsigned long long)(c1 - c0) / 1000, (unsigned long long)(sl1 - sl0),
				(unsigned long long)(w1 - w0) / 1000);
			show_thread_events(in->tid);
		}
		close(gw);
		close(srv);
	}
	{
		struct krt_live_tag_stats ts;

		krt_live_tag_stats(s, &ts);
		print_message("burn stress: %d of %d short by > 1 ms, %d under 15 ms; runs unseen %llu\n",
			      bad, reps, lt15, (unsigned long long)ts.runs_unseen);
	}
	close_own_source(s);
	assert_int_equal(bad, 0);
}

/* The reorder window's slots, as the counters (SIGUSR1) print them. */
static unsigned long window_slots(struct krt_live_source *s)
{
	unsigned long slots = 0;
	char *text = NULL, *at;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	krt_live_print_counters(s, f, "test", 1);
	fclose(f);
	at = strstr(text, "window_slots ");
	if (at)
		slots = strtoul(at + 13, NULL, 10);
	free(text);
	return slots;
}

static __u64 last_ts;
static __u64 out_of_order;
static size_t backlog_events;

static void count_in_order(const struct krt_event *ev, void *ctx)
{
	if (ev->ts_ns < last_ts)
		out_of_order++;
	last_ts = ev->ts_ns;
	backlog_events++;
}

/*
 * A reader stalled for a while finds a backlog in the ring: bursts 30 ms
 * apart, read in one consume. Those older than the window's margin behind
 * the newest read go on as they are read, so the window stays near its
 * first size instead of growing to the whole backlog (and keeping that
 * memory for the rest of the run); they still come out in time order.
 */
static void test_backlog_bounded_window(void **state)
{
	/* a window of 20 ms as asked (a loaded machine would widen the default one) */
	struct krt_live_opts o = { .kernel_tags = true, .reorder_ns = 20 * 1000 * 1000 };
	struct krt_live_source *s;
	int gw, srv, burst, i;
	char c;

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	s = open_source_with(o, false);
	assert_non_null(s);
	tcp_pair(GATEWAY, &gw, &srv);
	drain_from(s);
	for (burst = 0; burst < 8; burst++) {
		for (i = 0; i < 1000; i++) {
			assert_int_equal(write(gw, "x", 1), 1);
			assert_int_equal(read(srv, &c, 1), 1);
		}
		usleep(30 * 1000);
	}
	last_ts = out_of_order = backlog_events = 0;
	assert_true(krt_live_poll(s, 10, count_in_order, NULL) >= 0);
	assert_true(krt_live_drain(s, count_in_order, NULL) >= 0);
	print_message("%zu events, window %lu slots\n", backlog_events, window_slots(s));
	assert_true(backlog_events >= 8000);
	assert_int_equal(out_of_order, 0);
	assert_true(window_slots(s) <= 8192);
	close(gw);
	close(srv);
	close_own_source(s);
}

/* The fd of this process's one BPF map named name (-1: none, or more than one). */
static int own_map_fd(const char *name, struct bpf_map_info *info)
{
	int fd, found = -1;

	for (fd = 3; fd < 1024; fd++) {
		struct bpf_map_info mi;
		__u32 len = sizeof(mi);

		memset(&mi, 0, sizeof(mi));
		if (bpf_obj_get_info_by_fd(fd, &mi, &len) || strcmp(mi.name, name))
			continue;
		if (found >= 0)
			return -1;
		found = fd;
		*info = mi;
	}
	return found;
}

static int worker_tid;
static int worker_fd;

/* A traced thread that waits for a request from the gateway and receives it. */
static void *slot_worker(void *arg)
{
	char buf[4];

	__atomic_store_n(&worker_tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
	return read(worker_fd, buf, sizeof(buf)) == 4 ? NULL : arg;
}

/*
 * slot_busy: a hook that finds its thread's slot still being filled after
 * its wait (KRT_FILL_WAIT clock reads) goes without the state, counted.
 * A filler interrupted that long cannot be forced from user space, so the
 * test leaves the claim word in the "being filled" state itself (as a
 * filler stopped between claim and publish would): the worker's receive
 * of a request waits for it, gives up and counts.
 */
static void test_slot_busy_counted(void **state)
{
	struct krt_live_tag_stats before, after;
	struct krt_thread_slot slot;
	struct bpf_map_info info = { 0 };
	__u32 idx = 0, p;
	pthread_t th;
	int fd, tid, gw;
	bool held = false;

	fd = own_map_fd("thread_slots", &info);
	assert_true(fd >= 0);
	tcp_pair(GATEWAY, &gw, &worker_fd);
	worker_tid = 0;
	assert_int_equal(pthread_create(&th, NULL, slot_worker, NULL), 0);
	while (!(tid = __atomic_load_n(&worker_tid, __ATOMIC_ACQUIRE)))
		usleep(1000);
	usleep(50 * 1000);	/* waiting in its read */
	krt_live_tag_stats(src, &before);
	/* its slot (or, when it has none, the first free one it would claim) left "being filled" */
	for (p = 0; p < 2 * KRT_PROBES && !held; p++) {
		idx = (tid + p % KRT_PROBES) & (info.max_entries - 1);
		assert_int_equal(bpf_map_lookup_elem(fd, &idx, &slot), 0);
		if (slot.tid != (__u64)tid && (p < KRT_PROBES || slot.tid != KRT_SLOT_FREE))
			continue;
		slot.tid = tid | KRT_SLOT_FILL_BIT;
		assert_int_equal(bpf_map_update_elem(fd, &idx, &slot, BPF_ANY), 0);
		held = true;
	}
	assert_true(held);
	assert_int_equal(write(gw, "req\n", 4), 4);
	assert_null(pthread_join(th, NULL) ? (void *)1 : NULL);
	krt_live_tag_stats(src, &after);
	/* the slot goes back to the free ones */
	memset(&slot, 0, sizeof(slot));
	assert_int_equal(bpf_map_update_elem(fd, &idx, &slot, BPF_ANY), 0);
	close(gw);
	close(worker_fd);
	print_message("slot_busy %llu -> %llu\n", (unsigned long long)before.slot_busy,
		      (unsigned long long)after.slot_busy);
	assert_true(after.slot_busy > before.slot_busy);
}

/* The nth KRT_EV_NOTIFY record of direction dir on fd. */
static const struct krt_event *find_notify(__u8 dir, int fd, size_t nth)
{
	size_t i;

	for (i = 0; i < n_got; i++) {
		if (got[i].type != KRT_EV_NOTIFY || got[i].notify.dir != dir ||
		    got[i].notify.fd != fd)
			continue;
		if (nth-- == 0)
			return &got[i];
	}
	return NULL;
}

/*
 * A local notification (a worker waking its event loop over a socketpair,
 * as thrift's and asyncio's pools do): the send and the receive each make a
 * KRT_EV_NOTIFY record naming the receiving socket, the same channel on
 * both sides, another one the other way. The hand-back rule needs them:
 * the syscall hooks once skipped AF_UNIX sockets (thrift and asgi 0 %
 * exact, every hand-back uncertain).
 */
static void test_notify_recorded(void **state)
{
	const struct krt_event *s1, *r1, *s2;
	int sp[2];
	char c[4];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	drain_from(src);
	assert_int_equal(write(sp[1], "x", 1), 1);
	assert_int_equal(read(sp[0], c, sizeof(c)), 1);
	assert_int_equal(write(sp[0], "yz", 2), 2);
	assert_int_equal(read(sp[1], c, sizeof(c)), 2);
	drain_from(src);
	s1 = find_notify(KRT_DIR_SEND, sp[1], 0);
	r1 = find_notify(KRT_DIR_RECV, sp[0], 0);
	s2 = find_notify(KRT_DIR_SEND, sp[0], 0);
	assert_non_null(s1);
	assert_non_null(r1);
	assert_non_null(s2);
	assert_int_equal(s1->notify.bytes, 1);
	assert_int_equal(r1->notify.bytes, 1);
	assert_int_equal(s2->notify.bytes, 2);
	assert_int_not_equal(s1->notify.chan, 0);
	assert_int_equal(r1->notify.chan, s1->notify.chan);
	assert_int_not_equal(s2->notify.chan, s1->notify.chan);
	close(sp[0]);
	close(sp[1]);
}

/*
 * Many connections at once, each side moving bytes: every side's state is
 * kept (tables of 65536 slots). With the syscall hooks a socket's id is its
 * keyed address, whose low bits (the tables' first slot) repeat from one
 * slab page to the next: unmixed, 200 sockets found their 4 probed slots
 * held (the test bed's models lost most connections' states).
 */
#define MANY_CONNS 100

static void test_many_connections_kept(void **state)
{
	struct krt_live_tag_stats before, after;
	int gw[MANY_CONNS], srv[MANY_CONNS], k;
	char c;

	krt_live_tag_stats(src, &before);
	for (k = 0; k < MANY_CONNS; k++)
		tcp_pair("127.0.0.1", &gw[k], &srv[k]);
	for (k = 0; k < MANY_CONNS; k++) {
		assert_int_equal(write(gw[k], "x", 1), 1);
		assert_int_equal(read(srv[k], &c, 1), 1);
		assert_int_equal(write(srv[k], "y", 1), 1);
		assert_int_equal(read(gw[k], &c, 1), 1);
	}
	krt_live_tag_stats(src, &after);
	for (k = 0; k < MANY_CONNS; k++) {
		close(gw[k]);
		close(srv[k]);
	}
	drain_from(src);
	print_message("states not kept %llu -> %llu, past their first slot %llu -> %llu\n",
		      (unsigned long long)before.slot_full, (unsigned long long)after.slot_full,
		      (unsigned long long)before.slot_probed,
		      (unsigned long long)after.slot_probed);
	assert_int_equal(after.slot_full, before.slot_full);
}

/*
 * The small tables' group: every test's states found a slot (probing past
 * taken ones; how many did depends on where the ids fell), and the states
 * of closed connections and exited threads left their slots (otherwise the
 * 8 slots would have filled up over the group's tests).
 */
static void test_state_kept(void **state)
{
	struct krt_live_tag_stats st;

	krt_live_tag_stats(src, &st);
	print_message("states past their first slot: %llu\n", (unsigned long long)st.slot_probed);
	assert_int_equal(st.slot_full, 0);
	assert_int_equal(st.slot_busy, 0);
}

/*
 * Tables of one slot: the states after the first find it held and are not
 * kept; the summary counts them (map_full, in the loss warning).
 */
static void test_states_not_kept(void **state)
{
	struct krt_live_opts o = { .kernel_tags = true };
	struct krt_source_stats st = { 0 };
	struct krt_live_source *s;
	__u32 group_slots = state_slots;
	int gw, srv;

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	state_slots = 1;
	s = open_source_with(o, false);
	state_slots = group_slots;
	assert_non_null(s);
	tcp_pair(GATEWAY, &gw, &srv);
	assert_int_equal(write(gw, "req\n", 4), 4);
	read_n(srv, 4);
	assert_int_equal(write(srv, "ans\n", 4), 4);
	read_n(gw, 4);
	krt_live_stats(s, &st);
	print_message("states not kept: %llu\n", (unsigned long long)st.map_full);
	assert_true(st.map_full > 0);
	close(gw);
	close(srv);
	close_own_source(s);
}

/* A thread that runs (its first switch-in gives it a state) and exits. */
static void *run_and_exit(void *arg)
{
	*(pid_t *)arg = (pid_t)syscall(SYS_gettid);
	sched_yield();
	return NULL;
}

/*
 * Tables of two slots, states kept for every thread that runs (on-CPU time
 * in the kernel): a thread whose tid falls on the main thread's slot (the
 * same parity) finds it held and takes the next one (slot_probed, the
 * "states past their first slot" of -v). Threads are started one at a time
 * (each one's state leaves its slot when it exits) until one did.
 */
static void test_state_probed(void **state)
{
	struct krt_live_opts o = { .kernel_tags = true, .cpu_in_kernel = true };
	struct krt_live_tag_stats ts = { 0 };
	struct krt_live_source *s;
	__u32 group_slots = state_slots;
	pthread_t th;
	pid_t tid;
	int i;

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	state_slots = 2;
	s = open_source_with(o, false);
	state_slots = group_slots;
	assert_non_null(s);
	for (i = 0; i < 32 && !ts.slot_probed; i++) {
		sched_yield(); /* the main thread switched in: its state is held */
		assert_int_equal(pthread_create(&th, NULL, run_and_exit, &tid), 0);
		assert_int_equal(pthread_join(th, NULL), 0);
		krt_live_tag_stats(s, &ts);
	}
	print_message("states past their first slot: %llu (after %d threads)\n",
		      (unsigned long long)ts.slot_probed, i);
	assert_true(ts.slot_probed > 0);
	close_own_source(s);
}

#if defined(__x86_64__)
/*
 * Stand-ins for the Go runtime's functions, for goroutine tracking without
 * a Go program: Go's register ABI passes runtime.execute's and ready's gp,
 * gostartcallfn's &gp.sched in RAX (ready's traceskip in RBX), and keeps
 * the running g in R14 (what the probes read it from). The uprobes attach
 * at their first instruction; krt_fake_go_call(fn, ax, bx) calls one with
 * those registers set, R14 = the g in the stand-in TLS slot.
 */
__asm__(".text\n"
	".globl krt_fake_go_execute\n.type krt_fake_go_execute,@function\n"
	"krt_fake_go_execute:\n\tnop\n\tret\n"
	".globl krt_fake_go_newproc\n.type krt_fake_go_newproc,@function\n"
	"krt_fake_go_newproc:\n\tnop\n\tret\n"
	".globl krt_fake_go_ready\n.type krt_fake_go_ready,@function\n"
	"krt_fake_go_ready:\n\tnop\n\tret\n"
	".globl krt_fake_go_chansend\n.type krt_fake_go_chansend,@function\n"
	"krt_fake_go_chansend:\n\tnop\n\tret\n"
	".globl krt_fake_go_chanrecv\n.type krt_fake_go_chanrecv,@function\n"
	"krt_fake_go_chanrecv:\n\tnop\n\tret\n"
	".globl krt_fake_go_selectgo\n.type krt_fake_go_selectgo,@function\n"
	"krt_fake_go_selectgo:\n\tnop\n\tret\n"
	".globl krt_fake_go_send\n.type krt_fake_go_send,@function\n"
	"krt_fake_go_send:\n\tnop\n\tret\n"
	".globl krt_fake_go_recv\n.type krt_fake_go_recv,@function\n"
	"krt_fake_go_recv:\n\tnop\n\tret\n"
	".globl krt_fake_go_call\n.type krt_fake_go_call,@function\n"
	"krt_fake_go_call:\n\tpush %rbx\n\tpush %r14\n\tmov %rsi, %rax\n\tmov %rdx, %rbx\n"
	"\tmov %rcx, %r14\n\tcall *%rdi\n\tpop %r14\n\tpop %rbx\n\tret\n");
void krt_fake_go_execute(void);
void krt_fake_go_newproc(void);
void krt_fake_go_ready(void);
void krt_fake_go_chansend(void);
void krt_fake_go_chanrecv(void);
void krt_fake_go_selectgo(void);
void krt_fake_go_send(void);
void krt_fake_go_recv(void);
void krt_fake_go_call(void (*fn)(void), __u64 ax, __u64 bx, __u64 g);

struct fake_m;

/* A runtime.g as the probes read it: goid at 8, sched at 16, m at 48. */
struct fake_g {
	__u64 pad;
	__u64 goid;
	__u64 sched[4];
	struct fake_m *m;
};

/* A runtime.m as the hooks read it: curg, the goroutine it runs. */
struct fake_m {
	__u64 pad;
	struct fake_g *curg;
};

/*
 * Go's TLS slot of the running runtime.g (runtime.tlsg), and each thread's
 * g0 and m: runtime.ready and gostartcallfn run on the system stack (g0,
 * goid 0), where the hooks find the goroutine in g0.m.curg.
 */
static __thread struct fake_g *fake_tls_g;
static __thread struct fake_m fake_m0;
static __thread struct fake_g fake_g0;

/* fn(ax, bx) called as Go calls it: R14 is the running g (the TLS slot's) */
static void go_call(void (*fn)(void), __u64 ax, __u64 bx)
{
	krt_fake_go_call(fn, ax, bx, (__u64)(unsigned long)fake_tls_g);
}

/* The file offset of code at addr in this executable (what a uprobe attaches at). */
static __u64 own_file_offset(const void *addr)
{
	unsigned long start, end, off;
	char line[512], perms[8];
	__u64 found = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %7s %lx", &start, &end, perms, &off) != 4)
			continue;
		if ((unsigned long)addr >= start && (unsigned long)addr < end && perms[2] == 'x') {
			found = (unsigned long)addr - start + off;
			break;
		}
	}
	fclose(f);
	assert_true(found != 0);
	return found;
}

/* A runtime.sudog as krt_go_chan_ready reads it: g first. */
struct fake_sudog {
	struct fake_g *g;
	__u64 pad[3];
};

/* A runtime.hchan as the channel probes read it (open_go_source's chans). */
struct fake_hchan {
	__u64 qcount, dataqsiz, sendx, recvx;
	__u64 recvq[2], sendq[2];
};

static struct krt_live_source *open_go_source_with(bool lazy, bool chans);
static struct krt_live_source *open_go_source_sampling(bool lazy, bool chans, __u32 sample_rate);

/* A source following this process's goroutines (the stand-ins as its runtime). */
static struct krt_live_source *open_go_source(bool lazy)
{
	return open_go_source_with(lazy, false);
}

/*
 * chans: the channel operations probed (--go-channels), runtime.ready not;
 * lazy: as for a Go binary whose TLS slot and g.m.curg are known (the
 * default): the hooks read the running goroutine, runtime.execute is not
 * probed; otherwise (--go-execute) its stand-in is.
 */
static struct krt_live_source *open_go_source_with(bool lazy, bool chans)
{
	return open_go_source_sampling(lazy, chans, 0);
}

/* The same, sampling one in sample_rate requests (0: every one). */
static struct krt_live_source *open_go_source_sampling(bool lazy, bool chans, __u32 sample_rate)
{
	struct krt_live_opts o = { .kernel_tags = true, .sample_rate = sample_rate };
	struct krt_go_info gi = { .is_go = true, .usable = true, .goid_offset = 8,
				  .sched_offset = 16 };
	struct krt_live_source *s;
	unsigned long fs = 0;

	assert_int_equal(syscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, &fs), 0);
	/* no goroutine yet (an earlier test's were on its stack) */
	fake_tls_g = NULL;
	fake_m0.curg = NULL;
	gi.tls_g_known = lazy;
	gi.tls_g_offset = (int)((long)&fake_tls_g - (long)fs);
	gi.g_m_offset = offsetof(struct fake_g, m);
	gi.m_curg_offset = offsetof(struct fake_m, curg);
	gi.funcs[KRT_GO_EXECUTE].file_offset = own_file_offset(krt_fake_go_execute);
	gi.funcs[KRT_GO_GOSTARTCALLFN].file_offset = own_file_offset(krt_fake_go_newproc);
	gi.funcs[KRT_GO_READY].file_offset = own_file_offset(krt_fake_go_ready);
	if (fake_wake_on_chan) {
		gi.funcs[KRT_GO_SEND].found = gi.funcs[KRT_GO_RECV].found = true;
		gi.funcs[KRT_GO_SEND].file_offset = own_file_offset(krt_fake_go_send);
		gi.funcs[KRT_GO_RECV].file_offset = own_file_offset(krt_fake_go_recv);
	}
	gi.chans = chans;
	if (chans) {
		gi.funcs[KRT_GO_CHANSEND].file_offset = own_file_offset(krt_fake_go_chansend);
		gi.funcs[KRT_GO_CHANRECV].file_offset = own_file_offset(krt_fake_go_chanrecv);
		gi.funcs[KRT_GO_SELECTGO].file_offset = own_file_offset(krt_fake_go_selectgo);
		gi.hchan = (struct krt_go_hchan){
		    .qcount = offsetof(struct fake_hchan, qcount),
		    .dataqsiz = offsetof(struct fake_hchan, dataqsiz),
		    .sendx = offsetof(struct fake_hchan, sendx),
		    .recvx = offsetof(struct fake_hchan, recvx),
		    .recvq = offsetof(struct fake_hchan, recvq),
		    .sendq = offsetof(struct fake_hchan, sendq)};
	}
	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	s = open_source_with(o, false);
	assert_non_null(s);
	assert_int_equal(krt_live_follow_go(s, getpid(), &gi), 0);
	return s;
}

/* g runs on this thread from now on (the runtime's execute, then gogo) */
static void go_execute(struct fake_g *g)
{
	fake_tls_g = g;
	fake_m0.curg = g;
	go_call(krt_fake_go_execute, (__u64)(unsigned long)g, 0);
}

/*
 * fn(ax, bx) called on the system stack, as the runtime calls ready and
 * gostartcallfn. Not inlined: the socket hooks take R14 at a syscall for
 * the running g (Go's register ABI; bpf/goroutines.bpf.h go_syscall_g),
 * and the tests' syscalls are C's, whose R14 holds what the compiler put
 * there: inlined, the g saved here (cur) stayed in R14 over the next
 * write of go_dialed_conn_handed_over, taken for a goroutine that no
 * longer ran.
 */
static __attribute__((noinline)) void go_systemstack(void (*fn)(void), __u64 ax, __u64 bx)
{
	struct fake_g *cur = fake_tls_g;

	fake_g0.m = &fake_m0;
	fake_tls_g = &fake_g0;
	go_call(fn, ax, bx);
	fake_tls_g = cur;
}

static void go_start(struct fake_g *g)
{
	go_systemstack(krt_fake_go_newproc, (__u64)(unsigned long)g->sched, 0);
}

/* The kernel's goroutine counters (printed in the summary). */
static struct krt_source_stats go_counters(struct krt_live_source *s)
{
	struct krt_source_stats st = {};

	krt_live_stats(s, &st);
	return st;
}

/* Another Go thread: its goroutine reads request 2 and starts a goroutine on reused. */
struct go_other {
	struct fake_g *own, *reused;
	int srv;
};

static void *go_other_thread(void *arg)
{
	struct go_other *o = arg;

	go_execute(o->own);
	read_n(o->srv, 6);
	go_start(o->reused);
	return NULL;
}

/*
 * A runtime.g is reused: goroutine B (started by request 1's goroutine)
 * ends on thread X, which then sleeps (no probe sees a goroutine end);
 * request 2's goroutine, on thread Y, starts a new goroutine on B's
 * runtime.g. When X runs it (directly, or after another goroutine), its
 * call belongs to request 2: X must not keep, nor put away over the new
 * goroutine's state, the trace of the goroutine that ended (go-fanout's
 * pairs of requests, one with the other's call).
 */
static void go_ready(struct fake_g *g);

static void go_reused_g(bool other_first, bool lazy)
{
	struct fake_g ga = { .goid = 101 }, gb = { .goid = 102 }, gc = { .goid = 103 },
		      gd = { .goid = 104 };
	struct krt_source_stats st;
	struct go_other other = { .own = &gc, .reused = &gb };
	const struct krt_event *r1, *r2, *call;
	struct krt_live_source *s;
	int gw1, srv1, gw2, srv2, dc, ds;
	pthread_t th;

	s = open_go_source(lazy);
	tcp_pair(GATEWAY, &gw1, &srv1);
	tcp_pair(GATEWAY, &gw2, &srv2);
	tcp_pair("127.0.0.1", &dc, &ds);
	drain_from(s);
	/* thread X: goroutine A reads request 1, starts B, B runs here and ends */
	go_execute(&ga);
	assert_int_equal(write(gw1, "GET /1", 6), 6);
	read_n(srv1, 6);
	go_start(&gb);
	go_execute(&gb);
	/* B wakes A (a hook of B's on X: X names B as running when B ends) */
	go_ready(&ga);
	/* thread Y: goroutine C reads request 2 and starts a goroutine on B's g */
	gb.goid = 105;
	assert_int_equal(write(gw2, "GET /2", 6), 6);
	other.srv = srv2;
	assert_int_equal(pthread_create(&th, NULL, go_other_thread, &other), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	/* thread X runs the new goroutine, which calls downstream */
	if (other_first)
		go_execute(&gd);
	go_execute(&gb);
	assert_int_equal(write(dc, "call", 4), 4);
	read_n(ds, 4);
	drain_from(s);

	r1 = find_xfer(KRT_DIR_RECV, srv1, 0);
	r2 = find_xfer(KRT_DIR_RECV, srv2, 0);
	call = find_xfer(KRT_DIR_SEND, dc, 0);
	assert_non_null(r1);
	assert_non_null(r2);
	assert_non_null(call);
	assert_true(r2->xfer.flags & KRT_XF_TAGGED);
	assert_int_not_equal(r1->xfer.trace_id, r2->xfer.trace_id);
	if (!(call->xfer.flags & KRT_XF_TAGGED) || call->xfer.trace_id != r2->xfer.trace_id) {
		print_message("call tagged %u (flags 0x%x): request 1 is %u, request 2 %u\n",
			      call->xfer.trace_id, call->xfer.flags, r1->xfer.trace_id,
			      r2->xfer.trace_id);
		fail();
	}
	assert_int_equal(call->xfer.goid, 105);
	st = go_counters(s);
	assert_true(st.go_reused >= 1);
	assert_true(st.go_inherited >= 2);
	assert_true(st.go_switches >= 1);
	if (lazy)
		assert_true(st.go_synced >= 3);
	else
		assert_int_equal(st.go_synced, 0);
	close(gw1);
	close(srv1);
	close(gw2);
	close(srv2);
	close(dc);
	close(ds);
	close_own_source(s);
}

/* g readied through runtime.send's stand-in: on the waker's stack, g in a sudog */
static __attribute__((noinline)) void go_send_ready(struct fake_g *g)
{
	static struct fake_sudog sg;

	sg.g = g;
	go_call(krt_fake_go_send, 0, (__u64)(unsigned long)&sg);
}

static void go_ready(struct fake_g *g)
{
	if (fake_wake_on_chan)
		go_send_ready(g);
	else
		go_systemstack(krt_fake_go_ready, (__u64)(unsigned long)g, 3);
}

/* Request 2's goroutine reads its request, then parks (its thread runs another). */
struct go_waiter {
	struct fake_g *own, *next;
	int srv;
	pthread_barrier_t *hold; /* stays (parked) until the test is done with it */
};

static void *go_waiter_thread(void *arg)
{
	struct go_waiter *w = arg;

	go_execute(w->own);
	read_n(w->srv, 6);
	go_execute(w->next);
	if (w->hold) {
		pthread_barrier_wait(w->hold);
		pthread_barrier_wait(w->hold);
	}
	return NULL;
}

/*
 * net/http's new pooled connection: request 1's goroutine starts a dialer,
 * which connects, starts the connection's writer (request 1's trace) and
 * delivers the connection to whichever request waits first: request 2's
 * goroutine, which it readies. The writer's first write, before any
 * hand-off reached it, is request 2's call.
 */
static void go_dialed_conn_handed_over(bool lazy, bool y_stays)
{
	pthread_barrier_t hold;
	struct fake_g ga = { .goid = 201 }, gb = { .goid = 202 }, gd = { .goid = 203 },
		      gw = { .goid = 204 }, gy = { .goid = 205 };
	struct krt_source_stats st;
	struct go_waiter waiter = { .own = &gb, .next = &gy };
	const struct krt_event *r1, *r2, *call;
	struct krt_live_source *s;
	int gw1, srv1, gw2, srv2, dc, ds;
	pthread_t th;

	s = open_go_source(lazy);
	tcp_pair(GATEWAY, &gw1, &srv1);
	tcp_pair(GATEWAY, &gw2, &srv2);
	drain_from(s);
	/* thread X: request 1's goroutine starts the dialer */
	go_execute(&ga);
	assert_int_equal(write(gw1, "GET /1", 6), 6);
	read_n(srv1, 6);
	go_start(&gd);
	/* thread Y: request 2's goroutine reads it and waits for a connection */
	assert_int_equal(write(gw2, "GET /2", 6), 6);
	waiter.srv = srv2;
	/* Y exits (the goroutine keeps the state it left there) or stays */
	waiter.hold = y_stays ? &hold : NULL;
	if (y_stays)
		assert_int_equal(pthread_barrier_init(&hold, NULL, 2), 0);
	assert_int_equal(pthread_create(&th, NULL, go_waiter_thread, &waiter), 0);
	if (y_stays)
		pthread_barrier_wait(&hold);
	else
		assert_int_equal(pthread_join(th, NULL), 0);
	/* thread X: the dialer connects, starts the writer, hands the connection to 2 */
	go_execute(&gd);
	tcp_pair("127.0.0.1", &dc, &ds);
	go_start(&gw);
	go_ready(&gb);
	if (y_stays) {
		pthread_barrier_wait(&hold);
		assert_int_equal(pthread_join(th, NULL), 0);
		pthread_barrier_destroy(&hold);
	}
	/* the writer writes request 2's call */
	go_execute(&gw);
	assert_int_equal(write(dc, "call", 4), 4);
	read_n(ds, 4);
	drain_from(s);

	r1 = find_xfer(KRT_DIR_RECV, srv1, 0);
	r2 = find_xfer(KRT_DIR_RECV, srv2, 0);
	call = find_xfer(KRT_DIR_SEND, dc, 0);
	assert_non_null(r1);
	assert_non_null(r2);
	assert_non_null(call);
	assert_int_not_equal(r1->xfer.trace_id, r2->xfer.trace_id);
	if (!(call->xfer.flags & KRT_XF_TAGGED) || call->xfer.trace_id != r2->xfer.trace_id) {
		print_message("call tagged %u (flags 0x%x): request 1 is %u, request 2 %u\n",
			      call->xfer.trace_id, call->xfer.flags, r1->xfer.trace_id,
			      r2->xfer.trace_id);
		fail();
	}
	assert_int_equal(call->xfer.goid, 204);
	st = go_counters(s);
	assert_int_equal(st.go_dials_handed, 1);
	/* the dialer took request 2's trace */
	assert_true(st.go_handoffs >= 1);
	/* lazy: Y never told it ran another goroutine, the state is fetched from Y */
	if (lazy && y_stays)
		assert_true(st.go_moved >= 1);
	close(gw1);
	close(srv1);
	close(gw2);
	close(srv2);
	close(dc);
	close(ds);
	close_own_source(s);
}
/*
 * --go-channels: request 1's goroutine puts a value in a buffered channel
 * nobody waits on; a worker goroutine takes it (no runtime.ready tells of
 * it) and calls downstream for request 1. A value taken from another
 * channel whose send was never seen is counted.
 */
static void test_go_channel_buffered_handoff(void **state)
{
	struct fake_g ga = { .goid = 301 }, gw = { .goid = 302 };
	struct fake_hchan c = { .dataqsiz = 2 }, other = { .qcount = 1, .dataqsiz = 4 };
	const struct krt_event *r1, *call;
	struct krt_source_stats st;
	struct krt_live_source *s;
	int gw1, srv1, dc, ds;

	s = open_go_source_with(false, true);
	tcp_pair(GATEWAY, &gw1, &srv1);
	tcp_pair("127.0.0.1", &dc, &ds);
	drain_from(s);
	go_execute(&ga);
	assert_int_equal(write(gw1, "GET /1", 6), 6);
	read_n(srv1, 6);
	go_call(krt_fake_go_chansend, (__u64)(unsigned long)&c, 0);
	c.qcount = 1; /* the runtime puts the value in slot 0 */
	c.sendx = 1;
	go_execute(&gw);
	go_call(krt_fake_go_chanrecv, (__u64)(unsigned long)&c, 0);
	assert_int_equal(write(dc, "call", 4), 4);
	read_n(ds, 4);
	go_call(krt_fake_go_chanrecv, (__u64)(unsigned long)&other, 0);
	drain_from(s);

	r1 = find_xfer(KRT_DIR_RECV, srv1, 0);
	call = find_xfer(KRT_DIR_SEND, dc, 0);
	assert_non_null(r1);
	assert_non_null(call);
	if (!(call->xfer.flags & KRT_XF_TAGGED) || call->xfer.trace_id != r1->xfer.trace_id) {
		print_message("call tagged %u (flags 0x%x): request 1 is %u\n",
			      call->xfer.trace_id, call->xfer.flags, r1->xfer.trace_id);
		fail();
	}
	assert_int_equal(call->xfer.goid, 302);
	st = go_counters(s);
	assert_int_equal(st.go_chan_handoffs, 1);
	assert_int_equal(st.go_chan_unpaired, 1);
	close(gw1);
	close(srv1);
	close(dc);
	close(ds);
	close_own_source(s);
}
#else
static void test_go_channel_buffered_handoff(void **state)
{
	skip();
}

static void go_reused_g(bool other_first, bool lazy)
{
	skip(); /* the stand-ins are x86-64 code (Go's register ABI as the probes read it) */
}

static void go_dialed_conn_handed_over(bool lazy, bool y_stays)
{
	skip();
}
#endif

static void test_go_reused_g_runs_next(void **state)
{
	go_reused_g(false, true);
}

static void test_go_reused_g_after_another(void **state)
{
	go_reused_g(true, true);
}

static void test_go_dialed_conn_handed_over(void **state)
{
	go_dialed_conn_handed_over(true, false);
}

/* request 2's goroutine readied while the thread it read on runs another */
static void test_go_dialed_conn_waiter_thread_stays(void **state)
{
	go_dialed_conn_handed_over(true, true);
}

/* the same, the hand-off seen at runtime.send (krt_go_chan_ready) */
static void test_go_dialed_conn_handed_over_send(void **state)
{
	fake_wake_on_chan = true;
	go_dialed_conn_handed_over(true, false);
	fake_wake_on_chan = false;
}

static void test_go_dialed_conn_waiter_thread_stays_send(void **state)
{
	fake_wake_on_chan = true;
	go_dialed_conn_handed_over(true, true);
	fake_wake_on_chan = false;
}

/* the same with runtime.execute probed (--go-execute) */
static void test_go_reused_g_runs_next_execute(void **state)
{
	go_reused_g(false, false);
}

static void test_go_reused_g_after_another_execute(void **state)
{
	go_reused_g(true, false);
}

static void test_go_dialed_conn_handed_over_execute(void **state)
{
	go_dialed_conn_handed_over(false, false);
}

/*
 * Windowed sampling: one request from the gateway on a new connection, its
 * answer read back; whether its door read was recorded (sampled).
 */
static bool gateway_request_sampled(struct krt_live_source *s)
{
	const struct krt_event *in;
	bool sampled;
	int gw, srv;

	tcp_pair(GATEWAY, &gw, &srv);
	drain_from(s);
	assert_int_equal(write(gw, "req\n", 4), 4);
	read_n(srv, 4);
	assert_int_equal(write(srv, "ans\n", 4), 4);
	read_n(gw, 4);
	drain_from(s);
	in = find_xfer(KRT_DIR_RECV, srv, 0);
	sampled = in && (in->xfer.flags & KRT_XF_TAGGED) && in->xfer.trace_id;
	close(gw);
	close(srv);
	return sampled;
}

/*
 * The reader's phase decides at the door before the one-in-N rule: NONE
 * leaves out a request the rule would keep, ALL keeps one it would leave
 * out, RULE is the rule again; the rate cap still holds under ALL.
 */
static void test_sample_phases(void **state)
{
	struct krt_live_opts capped = { .kernel_tags = true, .sample_rate = 2, .rate_cap = 1 };
	struct krt_live_source *s;
	struct krt_live_tag_stats ts;

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	s = open_source(2);
	assert_non_null(s);
	assert_true(gateway_request_sampled(s));  /* 1: kept by the rule */
	assert_false(gateway_request_sampled(s)); /* 2 */
	krt_live_set_phase(s, KRT_PHASE_NONE);
	assert_false(gateway_request_sampled(s)); /* 3: the rule would keep it */
	assert_false(gateway_request_sampled(s));
	krt_live_set_phase(s, KRT_PHASE_ALL);
	assert_true(gateway_request_sampled(s));
	assert_true(gateway_request_sampled(s)); /* 6: the rule would leave it out */
	krt_live_set_phase(s, KRT_PHASE_RULE);
	assert_true(gateway_request_sampled(s));
	assert_false(gateway_request_sampled(s));
	krt_live_tag_stats(s, &ts);
	assert_int_equal(ts.traces_started, 8);
	assert_int_equal(ts.traces_sampled, 4);
	assert_int_equal(ts.traces_capped, 0);
	own_source_close(s);

	/* one a second: of three requests (within a second or two), one at least capped */
	s = open_source_with(capped, false);
	assert_non_null(s);
	krt_live_set_phase(s, KRT_PHASE_ALL);
	for (int k = 0; k < 3; k++)
		gateway_request_sampled(s);
	krt_live_tag_stats(s, &ts);
	assert_int_equal(ts.traces_started, 3);
	assert_true(ts.traces_capped >= 1);
	assert_int_equal(ts.traces_sampled + ts.traces_capped, 3);
	close_own_source(s);
}

/* Runs of program name so far (bpf statistics on), from the source's counters. */
static __u64 prog_runs(struct krt_live_source *s, const char *name)
{
	char *text = NULL, *line, want[96];
	size_t len = 0;
	unsigned long long runs = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	krt_live_print_counters(s, f, "t", 0);
	fclose(f);
	snprintf(want, sizeof(want), "t: counters 0 prog %s runs ", name);
	line = strstr(text, want);
	if (line)
		runs = strtoull(line + strlen(want), NULL, 10);
	free(text);
	return runs;
}

/* The hot programs of this source, each one's runs so far. */
static const char *const hot_names[] = { "krt_switch",	   "krt_waking",	 "krt_sock_send",
					 "krt_sock_recv",  "krt_sys_exit",	 "krt_sock_state",
					 "krt_tcpopt_sendmsg" };

static void hot_runs(struct krt_live_source *s, __u64 runs[])
{
	for (size_t i = 0; i < sizeof(hot_names) / sizeof(hot_names[0]); i++)
		runs[i] = prog_runs(s, hot_names[i]);
}

static size_t count_type(__u32 type)
{
	size_t i, n = 0;

	for (i = 0; i < n_got; i++)
		n += got[i].type == type;
	return n;
}

/* A gateway request read, its call made and read downstream, the answers back. */
static void request_through(int gw, int srv, int cli, int back)
{
	assert_int_equal(write(gw, "req\n", 4), 4);
	read_n(srv, 4);
	assert_int_equal(write(cli, "sub\n", 4), 4);
	read_n(back, 4);
	assert_int_equal(write(back, "sa\n", 3), 3);
	read_n(cli, 3);
	assert_int_equal(write(srv, "ans\n", 4), 4);
	read_n(gw, 4);
}

/*
 * A pause detaches the hot programs: every event up to it is handed over,
 * then one KRT_EV_PAUSE; while paused, traffic, switches and wake-ups run
 * no hot program and make no event (a fork and an exit still do: the traced
 * set stays right); after the resume they are traced again.
 */
static void test_pause_silences_hot_programs(void **state)
{
	__u64 before[sizeof(hot_names) / sizeof(hot_names[0])];
	__u64 after[sizeof(hot_names) / sizeof(hot_names[0])];
	const struct krt_event *in;
	struct krt_live_source *m;
	int gw, srv, cli, back, stats_fd, status;
	__u64 pause_ts;
	pid_t child;
	size_t i;

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	m = open_merging_source();
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	assert_true(stats_fd >= 0);
	tcp_pair(GATEWAY, &gw, &srv);
	tcp_pair("127.0.0.1", &cli, &back);
	drain_from(m);
	request_through(gw, srv, cli, back);
	/* no poll since: all of it comes out of the pause, in time order, PAUSE last */
	n_got = 0;
	assert_int_equal(krt_live_pause(m, collect, NULL), 0);
	assert_true(krt_live_paused(m));
	assert_true(n_got > 0);
	assert_int_equal(got[n_got - 1].type, KRT_EV_PAUSE);
	assert_int_equal(count_type(KRT_EV_PAUSE), 1);
	pause_ts = got[n_got - 1].ts_ns;
	for (i = 1; i < n_got; i++)
		assert_true(got[i - 1].ts_ns <= got[i].ts_ns);
	in = find_xfer(KRT_DIR_RECV, srv, 0);
	assert_non_null(in);
	assert_true(in->xfer.flags & KRT_XF_TAGGED);
	assert_non_null(find_xfer(KRT_DIR_RECV, back, 0));
	assert_non_null(find_xfer(KRT_DIR_RECV, gw, 0));
	assert_int_equal(krt_live_pause(m, collect, NULL), -EALREADY);

	hot_runs(m, before);
	request_through(gw, srv, cli, back);
	child = fork();
	assert_true(child >= 0);
	if (!child)
		_exit(0);
	assert_int_equal(waitpid(child, &status, 0), child);
	drain_from(m);
	hot_runs(m, after);
	for (i = 0; i < sizeof(hot_names) / sizeof(hot_names[0]); i++) {
		if (after[i] != before[i])
			fprintf(stderr, "#   %s ran %llu times while paused\n", hot_names[i],
				(unsigned long long)(after[i] - before[i]));
		assert_true(after[i] == before[i]);
	}
	for (i = 0; i < n_got; i++) {
		assert_true(got[i].type == KRT_EV_FORK || got[i].type == KRT_EV_EXIT);
		assert_true(got[i].ts_ns >= pause_ts);
	}
	assert_true(count_type(KRT_EV_FORK) >= 1);
	assert_true(count_type(KRT_EV_EXIT) >= 1);

	assert_int_equal(krt_live_resume(m), 0);
	assert_false(krt_live_paused(m));
	assert_int_equal(krt_live_resume(m), -EINVAL);
	request_through(gw, srv, cli, back);
	drain_from(m);
	hot_runs(m, after);
	in = find_xfer(KRT_DIR_RECV, srv, 0);
	assert_non_null(in);
	assert_true(in->xfer.flags & KRT_XF_TAGGED);
	assert_non_null(find_xfer(KRT_DIR_RECV, back, 0));
	/* the transfer programs run again (sys_exit's or the socket hooks') */
	assert_true(after[2] + after[3] + after[4] > before[2] + before[3] + before[4]);
	close(stats_fd);
	close(gw);
	close(srv);
	close(cli);
	close(back);
	close_own_source(m);
}

/*
 * A pause forgets the requests the kernel held: a thread's trace, a
 * server side's unanswered request. Connections opened before it are
 * traced after the resume: the gateway's keep-alive one starts a new
 * request, and a pooled one downstream carries it, both ways.
 */
static void test_pause_forgets_requests(void **state)
{
	const struct krt_event *in, *stray, *call, *reply, *answer;
	struct krt_live_source *m;
	int gw, srv, cli, back;
	__u32 a, b;

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	m = open_merging_source();
	tcp_pair(GATEWAY, &gw, &srv);
	tcp_pair("127.0.0.1", &cli, &back);
	drain_from(m);
	/* request A read, its call read downstream, answered by nobody */
	assert_int_equal(write(gw, "A\n", 2), 2);
	read_n(srv, 2);
	assert_int_equal(write(cli, "callA\n", 6), 6);
	read_n(back, 6);
	n_got = 0;
	assert_int_equal(krt_live_pause(m, collect, NULL), 0);
	in = find_xfer(KRT_DIR_RECV, srv, 0);
	assert_non_null(in);
	a = in->xfer.trace_id;
	assert_int_not_equal(a, 0);
	assert_int_equal(krt_live_resume(m), 0);

	/* no request read since: what this thread sends carries none (A is gone) */
	assert_int_equal(write(cli, "stray\n", 6), 6);
	read_n(back, 6);
	/* request B on the gateway's connection of before */
	assert_int_equal(write(gw, "B\n", 2), 2);
	read_n(srv, 2);
	assert_int_equal(write(cli, "callB\n", 6), 6);
	read_n(back, 6);
	/* the server side answers: request B's reply (A's is forgotten) */
	assert_int_equal(write(back, "replyB\n", 7), 7);
	read_n(cli, 7);
	assert_int_equal(write(srv, "ansB\n", 5), 5);
	read_n(gw, 5);
	drain_from(m);
	stray = find_xfer(KRT_DIR_RECV, back, 0);
	in = find_xfer(KRT_DIR_RECV, srv, 0);
	call = find_xfer(KRT_DIR_RECV, back, 1);
	reply = find_xfer(KRT_DIR_RECV, cli, 0);
	answer = find_xfer(KRT_DIR_SEND, srv, 0);
	assert_non_null(stray);
	assert_non_null(in);
	assert_non_null(call);
	assert_non_null(reply);
	assert_non_null(answer);
	if (stray->xfer.trace_id || call->xfer.trace_id == a || reply->xfer.trace_id == a)
		show_thread_events(syscall(SYS_gettid));
	assert_true(stray->xfer.flags & KRT_XF_TAGGED);
	assert_int_equal(stray->xfer.trace_id, 0);
	b = in->xfer.trace_id;
	assert_true(in->xfer.flags & KRT_XF_TAGGED);
	assert_int_not_equal(b, 0);
	assert_int_not_equal(b, a);
	assert_true(call->xfer.flags & KRT_XF_TAGGED);
	assert_int_equal(call->xfer.trace_id, b);
	assert_true(reply->xfer.flags & KRT_XF_TAGGED);
	assert_int_equal(reply->xfer.trace_id, b);
	assert_true(answer->xfer.flags & KRT_XF_TAGGED);
	assert_int_equal(answer->xfer.trace_id, b);
	close(gw);
	close(srv);
	close(cli);
	close(back);
	close_own_source(m);
}

/*
 * A pause forgets the goroutines' states: a goroutine given request A's
 * trace before it carries none after the resume; the Go probes are
 * attached again (a goroutine started by request B's inherits it).
 */
static void test_pause_forgets_goroutines(void **state)
{
	struct fake_g ga = { .goid = 201 }, gb = { .goid = 202 }, gc = { .goid = 203 };
	const struct krt_event *in, *call;
	struct krt_live_source *s;
	__u64 inherited;
	int gw, srv, dc, ds;
	__u32 a;

	s = open_go_source(true);
	tcp_pair(GATEWAY, &gw, &srv);
	tcp_pair("127.0.0.1", &dc, &ds);
	drain_from(s);
	/* goroutine A reads request A and starts B, which inherits its trace */
	go_execute(&ga);
	assert_int_equal(write(gw, "GET /A", 6), 6);
	read_n(srv, 6);
	go_start(&gb);
	inherited = go_counters(s).go_inherited;
	assert_true(inherited >= 1);
	n_got = 0;
	assert_int_equal(krt_live_pause(s, collect, NULL), 0);
	in = find_xfer(KRT_DIR_RECV, srv, 0);
	assert_non_null(in);
	a = in->xfer.trace_id;
	assert_int_not_equal(a, 0);
	assert_int_equal(krt_live_resume(s), 0);

	/* B runs and calls: request A is forgotten with its state */
	go_execute(&gb);
	assert_int_equal(write(dc, "call", 4), 4);
	read_n(ds, 4);
	/* request B, read by B, starts C: the newproc probe is back */
	assert_int_equal(write(gw, "GET /B", 6), 6);
	read_n(srv, 6);
	go_start(&gc);
	drain_from(s);
	call = find_xfer(KRT_DIR_SEND, dc, 0);
	in = find_xfer(KRT_DIR_RECV, srv, 0);
	assert_non_null(call);
	assert_non_null(in);
	assert_int_equal(call->xfer.goid, 202);
	if (call->xfer.trace_id == a)
		print_message("goroutine B's call after the resume carries request A's %u\n", a);
	assert_int_not_equal(call->xfer.trace_id, a);
	assert_true(in->xfer.flags & KRT_XF_TAGGED);
	assert_int_not_equal(in->xfer.trace_id, a);
	assert_true(go_counters(s).go_inherited > inherited);
	close(gw);
	close(srv);
	close(dc);
	close(ds);
	close_own_source(s);
}

/*
 * A goroutine in flight at the resume works for a request the tracer never
 * saw: handler E read request E before the pause; after the resume a
 * worker W, handed request A's job (A read by its goroutine), calls for it
 * and then takes E's job (W readies E, blocked handing it over). Neither
 * E's reply nor W's call for E's job is request A's (go-fanout in
 * windowed sampling: the worker readying the unseen handler gave it the
 * sampled trace, and kept it for E's job). sampled: with sampling (every
 * request admitted), as in a window.
 */
struct go_peer_read {
	int fd;
	size_t n;
};

static void *go_peer_read_thread(void *arg)
{
	const struct go_peer_read *r = arg;

	read_n(r->fd, r->n);
	return NULL;
}

/* n bytes read from fd by another thread (the downstream: not the Go thread) */
static void go_peer_reads(int fd, size_t n)
{
	struct go_peer_read r = { .fd = fd, .n = n };
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, go_peer_read_thread, &r), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
}

static void go_unseen_request_after_pause(bool sampled)
{
	struct fake_g ga = { .goid = 401 }, ge = { .goid = 402 }, gw = { .goid = 403 };
	const struct krt_event *in, *call_a, *call_e, *reply_e;
	struct krt_live_source *s;
	int gwa, srva, gwe, srve, dc, ds;
	__u32 a;

	s = open_go_source_sampling(true, false, sampled ? 2 : 0);
	if (sampled)
		krt_live_set_phase(s, KRT_PHASE_ALL);
	tcp_pair(GATEWAY, &gwa, &srva);
	tcp_pair(GATEWAY, &gwe, &srve);
	tcp_pair("127.0.0.1", &dc, &ds);
	drain_from(s);
	/* before the pause: the worker runs, E reads its request */
	go_execute(&gw);
	go_execute(&ge);
	assert_int_equal(write(gwe, "GET /E", 6), 6);
	read_n(srve, 6);
	n_got = 0;
	assert_int_equal(krt_live_pause(s, collect, NULL), 0);
	assert_int_equal(krt_live_resume(s), 0);

	/* A's goroutine reads request A and hands its job to W */
	go_execute(&ga);
	assert_int_equal(write(gwa, "GET /A", 6), 6);
	read_n(srva, 6);
	go_ready(&gw);
	/* W calls for A, then takes E's job (readies E) and calls for it */
	go_execute(&gw);
	assert_int_equal(write(dc, "callA", 5), 5);
	go_peer_reads(ds, 5);
	go_ready(&ge);
	assert_int_equal(write(dc, "callE", 5), 5);
	go_peer_reads(ds, 5);
	/* E answers its request */
	go_execute(&ge);
	assert_int_equal(write(srve, "reply", 5), 5);
	read_n(gwe, 5);
	drain_from(s);

	in = find_xfer(KRT_DIR_RECV, srva, 0);
	call_a = find_xfer(KRT_DIR_SEND, dc, 0);
	assert_non_null(in);
	assert_true(in->xfer.flags & KRT_XF_TAGGED);
	a = in->xfer.trace_id;
	assert_non_null(call_a);
	assert_true(call_a->xfer.flags & KRT_XF_TAGGED);
	assert_int_equal(call_a->xfer.trace_id, a);
	assert_int_equal(call_a->xfer.goid, 403);
	/* with sampling, an unseen request's transfers go unrecorded */
	call_e = find_xfer(KRT_DIR_SEND, dc, 1);
	reply_e = find_xfer(KRT_DIR_SEND, srve, 0);
	if ((call_e && call_e->xfer.trace_id == a) || (reply_e && reply_e->xfer.trace_id == a))
		print_message("request A is %u: W's call for E's job carries %u, E's reply %u\n",
			      a, call_e ? call_e->xfer.trace_id : 0,
			      reply_e ? reply_e->xfer.trace_id : 0);
	assert_false(call_e && call_e->xfer.trace_id == a);
	assert_false(reply_e && reply_e->xfer.trace_id == a);
	close(gwa);
	close(srva);
	close(gwe);
	close(srve);
	close(dc);
	close(ds);
	close_own_source(s);
}

static void test_pause_unseen_request_goroutine(void **state)
{
	go_unseen_request_after_pause(false);
}

static void test_pause_unseen_request_goroutine_sampled(void **state)
{
	go_unseen_request_after_pause(true);
}

/* A test whose teardown stops what it left behind if it failed half-way. */
#define KRT_TEST(name, fn) { name, fn, NULL, test_abandon, NULL }

/* The same tests for both transfer hooks; the fallback's names say so. */
#define TAG_TEST_LIST(prefix)                                                      \
	KRT_TEST(prefix "ingress_and_keepalive", test_ingress_and_keepalive),    \
	KRT_TEST(prefix "dual_stack_server", test_dual_stack_server),            \
	KRT_TEST(prefix "tag_follows_bytes", test_tag_follows_bytes),            \
	KRT_TEST(prefix "untraced_peer_keeps_trace", test_untraced_peer_keeps_trace), \
	KRT_TEST(prefix "peer_request_starts_trace", test_peer_request_starts_trace), \
	KRT_TEST(prefix "tcp_option_carries_trace", test_tcp_option_carries_trace), \
	KRT_TEST(prefix "sampling_one_in_two", test_sampling_one_in_two),        \
	KRT_TEST(prefix "sampled_bytes_then_untagged_recorded", test_sampled_bytes_then_untagged_recorded), \
	KRT_TEST(prefix "cpu_in_kernel", test_cpu_in_kernel),                    \
	KRT_TEST(prefix "runq_delay", test_runq_delay),                          \
	KRT_TEST(prefix "idle_after_unsampled_uncounted", test_idle_after_unsampled_uncounted), \
	KRT_TEST(prefix "merged_hop", test_merged_hop),                          \
	KRT_TEST(prefix "handoff_is_unsure", test_handoff_is_unsure),            \
	KRT_TEST(prefix "cpu_left_at_end", test_cpu_left_at_end),                \
	KRT_TEST(prefix "cpu_run_unseen_counted", test_cpu_run_unseen_counted),  \
	KRT_TEST(prefix "cpu_carried_by_receive", test_cpu_carried_by_receive),  \
	KRT_TEST(prefix "unsampled_pool_request_hidden", test_unsampled_pool_request_hidden), \
	KRT_TEST(prefix "pool_reply_hidden_before_feeder_known", test_pool_reply_hidden_before_feeder_known), \
	KRT_TEST(prefix "caller_wakes_no_pool", test_caller_wakes_no_pool), \
	KRT_TEST(prefix "first_sends_make_no_loop", test_first_sends_make_no_loop), \
	KRT_TEST(prefix "first_sends_and_reply_calls_make_loop", test_first_sends_and_reply_calls_make_loop), \
	KRT_TEST(prefix "calls_on_used_connections_make_loop", test_calls_on_used_connections_make_loop), \
	KRT_TEST(prefix "loop_hidden_time_uncounted", test_loop_hidden_time_uncounted), \
	KRT_TEST(prefix "handback_reply_stays_unsampled", test_handback_reply_stays_unsampled), \
	KRT_TEST(prefix "unsure_server_time_in_kernel", test_unsure_server_time_in_kernel), \
	KRT_TEST(prefix "reorder_window_grows", test_reorder_window_grows), \
	KRT_TEST(prefix "notify_recorded", test_notify_recorded), \
	KRT_TEST(prefix "notify_batched", test_notify_batched), \
	KRT_TEST(prefix "notify_unbatched", test_notify_unbatched), \
	KRT_TEST(prefix "sample_phases", test_sample_phases), \
	KRT_TEST(prefix "pause_silences_hot_programs", test_pause_silences_hot_programs), \
	KRT_TEST(prefix "pause_forgets_requests", test_pause_forgets_requests)

int main(void)
{
	/* slot_busy only here: the small tables' group asserts none happened */
	const struct CMUnitTest tests[] = {
		TAG_TEST_LIST("test_"),
		KRT_TEST("test_cpu_state_made_running", test_cpu_state_made_running),
		KRT_TEST("test_slot_busy_counted", test_slot_busy_counted),
		KRT_TEST("test_many_connections_kept", test_many_connections_kept),
		/* 15 connections: more than the small tables' 8 slots */
		KRT_TEST("test_pipeline_deeper_than_8", test_pipeline_deeper_than_8),
		KRT_TEST("test_wakeup_batched", test_wakeup_batched),
		KRT_TEST("test_wakeup_unbatched", test_wakeup_unbatched),
		KRT_TEST("test_tcp_option_no_room", test_tcp_option_no_room),
		KRT_TEST("test_backlog_bounded_window", test_backlog_bounded_window),
		KRT_TEST("test_go_reused_g_runs_next", test_go_reused_g_runs_next),
		KRT_TEST("test_go_reused_g_after_another", test_go_reused_g_after_another),
		KRT_TEST("test_go_dialed_conn_handed_over", test_go_dialed_conn_handed_over),
		KRT_TEST("test_go_dialed_conn_waiter_thread_stays", test_go_dialed_conn_waiter_thread_stays),
		KRT_TEST("test_go_dialed_conn_handed_over_send", test_go_dialed_conn_handed_over_send),
		KRT_TEST("test_go_dialed_conn_waiter_thread_stays_send",
			 test_go_dialed_conn_waiter_thread_stays_send),
		KRT_TEST("test_go_channel_buffered_handoff", test_go_channel_buffered_handoff),
		KRT_TEST("test_pause_forgets_goroutines", test_pause_forgets_goroutines),
		KRT_TEST("test_pause_unseen_request_goroutine", test_pause_unseen_request_goroutine),
		KRT_TEST("test_pause_unseen_request_goroutine_sampled",
			 test_pause_unseen_request_goroutine_sampled),
		KRT_TEST("test_go_reused_g_runs_next_execute", test_go_reused_g_runs_next_execute),
		KRT_TEST("test_go_reused_g_after_another_execute", test_go_reused_g_after_another_execute),
		KRT_TEST("test_go_dialed_conn_handed_over_execute", test_go_dialed_conn_handed_over_execute),
	};
	const struct CMUnitTest fallback[] = {
		TAG_TEST_LIST("syscall_hooks: test_"),
		KRT_TEST("syscall_hooks: test_many_connections_kept", test_many_connections_kept),
		KRT_TEST("syscall_hooks: test_pipeline_deeper_than_8", test_pipeline_deeper_than_8),
	};
	/* last: how the group's states fared in the small tables */
	const struct CMUnitTest small[] = {
		TAG_TEST_LIST("small_tables: test_"),
		KRT_TEST("small_tables: test_state_kept", test_state_kept),
		KRT_TEST("small_tables: test_states_not_kept", test_states_not_kept),
		KRT_TEST("small_tables: test_state_probed", test_state_probed),
	};
	const struct CMUnitTest burn[] = {
		KRT_TEST("test_cpu_burn_repeated", test_cpu_burn_repeated),
	};
	int failed;

	if (geteuid() != 0) {
		printf("# SKIP needs root to load BPF programs\n");
		return 0;
	}
	/* KRT_TEST_FILTER=PATTERN (cmocka's * and ?): run only the tests it names */
	if (getenv("KRT_TEST_FILTER"))
		cmocka_set_test_filter(getenv("KRT_TEST_FILTER"));
	if (getenv("KRT_BURN_REPS"))
		return cmocka_run_group_tests_name("20 ms burns", burn, setup_group,
						   teardown_group);
	failed = cmocka_run_group_tests_name("socket tracepoints", tests, setup_group,
					     teardown_group);
	failed += cmocka_run_group_tests_name("syscall hooks (fallback)", fallback,
					      setup_group_syscall_hooks, teardown_group);
	failed += cmocka_run_group_tests_name("small state tables", small,
					      setup_group_small_tables, teardown_group);
	return failed;
}
