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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "live_source.h"

#define MAX_EVENTS 8192
#define GATEWAY "127.0.0.2"

static struct krt_live_source *src;
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

/* A connected pair: client bound to from_ip, server accepted on 127.0.0.1. */
static void tcp_pair(const char *from_ip, int *client, int *server)
{
	struct sockaddr_in sin = { .sin_family = AF_INET }, cin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (void *)&sin, len), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (void *)&sin, &len), 0);
	*client = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(*client >= 0);
	assert_int_equal(inet_pton(AF_INET, from_ip, &cin.sin_addr), 1);
	assert_int_equal(bind(*client, (void *)&cin, sizeof(cin)), 0);
	setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	assert_int_equal(connect(*client, (void *)&sin, len), 0);
	*server = accept(lfd, NULL, NULL);
	assert_true(*server >= 0);
	setsockopt(*server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(lfd);
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

static struct krt_live_source *open_source(__u32 sample_rate)
{
	struct krt_live_opts o = { .trace_switch = true, .trace_wakeup = true,
				   .kernel_tags = true, .sample_rate = sample_rate };
	struct krt_live_source *s;

	assert_int_equal(inet_pton(AF_INET, GATEWAY, o.gateway.addr), 1);
	o.gateway.family = KRT_AF_INET;
	s = krt_live_open(&o, "test_kernel_tags");
	if (!s)
		return NULL;
	if (krt_live_trace_tgid(s, getpid()) || krt_live_attach(s, "test_kernel_tags")) {
		krt_live_close(s);
		return NULL;
	}
	return s;
}

static int setup_group(void **state)
{
	src = open_source(0);
	return src ? 0 : -1;
}

static int teardown_group(void **state)
{
	krt_live_close(src);
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
	assert_true(ts.sampled_out_records > 0);
	krt_live_close(sampled);
	assert_int_equal(krt_live_trace_tgid(src, getpid()), 0);
}

static void burn_ns(__u64 ns)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((__u64)((b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec)) < ns);
}

/*
 * --cpu-in-kernel: the time a thread spends on a request is summed in the
 * kernel and sent as one CPU record for that request when the thread is
 * done with it (answered and blocked); no switch records at all.
 */
static void test_cpu_in_kernel(void **state)
{
	struct krt_live_opts o = { .trace_switch = true, .trace_wakeup = true,
				   .kernel_tags = true, .cpu_in_kernel = true };
	struct krt_live_source *s;
	const struct krt_event *in;
	__u64 on_request = 0;
	int gw, srv;
	size_t i;

	assert_int_equal(krt_live_untrace_tgid(src, getpid()), 0);
	assert_int_equal(inet_pton(AF_INET, GATEWAY, o.gateway.addr), 1);
	o.gateway.family = KRT_AF_INET;
	s = krt_live_open(&o, "test_kernel_tags");
	assert_non_null(s);
	assert_int_equal(krt_live_trace_tgid(s, getpid()), 0);
	assert_int_equal(krt_live_attach(s, "test_kernel_tags"), 0);

	tcp_pair(GATEWAY, &gw, &srv);
	drain_from(s);
	assert_int_equal(write(gw, "req\n", 4), 4);
	read_n(srv, 4);
	burn_ns(20 * 1000 * 1000);
	assert_int_equal(write(srv, "ans\n", 4), 4);
	usleep(10000);		/* blocks after answering: the request is done */
	read_n(gw, 4);
	drain_from(s);

	in = find_xfer(KRT_DIR_RECV, srv, 0);
	assert_non_null(in);
	for (i = 0; i < n_got; i++) {
		assert_int_not_equal(got[i].type, KRT_EV_SWITCH);
		if (got[i].type == KRT_EV_CPU && got[i].tid == in->tid &&
		    got[i].oncpu.trace_id == in->xfer.trace_id)
			on_request += got[i].oncpu.oncpu_ns;
	}
	/* at least the 20 ms burnt, and not the whole test's time */
	assert_true(on_request >= 19 * 1000 * 1000);
	assert_true(on_request < 200 * 1000 * 1000);
	close(gw);
	close(srv);
	krt_live_close(s);
	assert_int_equal(krt_live_trace_tgid(src, getpid()), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ingress_and_keepalive),
		cmocka_unit_test(test_tag_follows_bytes),
		cmocka_unit_test(test_untraced_peer_keeps_trace),
		cmocka_unit_test(test_sampling_one_in_two),
		cmocka_unit_test(test_cpu_in_kernel),
	};

	if (geteuid() != 0) {
		printf("# SKIP needs root to load BPF programs\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
