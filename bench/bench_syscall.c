// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * bench_syscall: the cost of one syscall-level operation, for the tracer
 * overhead benchmark (bench/overhead_syscall.sh runs it with krtrace-bpf
 * off, tracing it, and tracing another process).
 *
 *   bench_syscall pingpong|write|tcpwrite ITERATIONS [START_DELAY_MS]
 *
 * pingpong: 64-byte request/response over TCP loopback between two threads
 *           (4 socket transfers and 2 context switches per round trip);
 * write:    64-byte write() to /dev/null (a non-socket write);
 * tcpwrite: 64-byte write() to a TCP socket drained by another thread.
 * Prints "MODE ns_per_op N" on stdout. The start delay lets a tracer
 * attach to this PID first.
 *
 * KRT_BENCH_INPROC=kernel|kernel-nomerge|rules loads the live BPF programs in
 * this process instead (tracing itself, a thread discarding the records): the
 * kernel-side cost alone, without the engine. kernel = krtrace-bpf's default
 * (tags, CPU summed in the kernel, one record per hop between 127.0.0.1
 * ends), rules = --rules. A "-noconsume" suffix: no consumer during the run
 * (a 256 MiB ring holds it): the BPF programs only.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "live_source.h"

#define MSG 64

static long iterations;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int full_read(int fd, char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		if (r <= 0)
			return -1;
		got += r;
	}
	return 0;
}

static void tcp_pair(int *client, int *server)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (void *)&sin, len) || listen(lfd, 1) ||
	    getsockname(lfd, (void *)&sin, &len)) {
		perror("bench_syscall: listen");
		exit(1);
	}
	*client = socket(AF_INET, SOCK_STREAM, 0);
	if (*client < 0 || connect(*client, (void *)&sin, len)) {
		perror("bench_syscall: connect");
		exit(1);
	}
	*server = accept(lfd, NULL, NULL);
	if (*server < 0) {
		perror("bench_syscall: accept");
		exit(1);
	}
	setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(*server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(lfd);
}

static void *echo_server(void *arg)
{
	int fd = (int)(long)arg;
	char buf[MSG];

	while (!full_read(fd, buf, MSG))
		if (write(fd, buf, MSG) != MSG)
			break;
	return NULL;
}

static void *drain_server(void *arg)
{
	int fd = (int)(long)arg;
	char buf[65536];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

static double run_pingpong(void)
{
	int client, server;
	char buf[MSG] = { 0 };
	pthread_t t;
	double t0, t1;
	long i;

	tcp_pair(&client, &server);
	pthread_create(&t, NULL, echo_server, (void *)(long)server);
	t0 = now_ns();
	for (i = 0; i < iterations; i++) {
		if (write(client, buf, MSG) != MSG || full_read(client, buf, MSG)) {
			fprintf(stderr, "bench_syscall: ping-pong failed at %ld\n", i);
			exit(1);
		}
	}
	t1 = now_ns();
	close(client);
	pthread_join(t, NULL);
	close(server);
	return (t1 - t0) / iterations;
}

static double run_write(const char *mode)
{
	int fd, server = -1;
	char buf[MSG] = { 0 };
	pthread_t t;
	double t0, t1;
	long i;

	if (!strcmp(mode, "write")) {
		fd = open("/dev/null", O_WRONLY);
	} else {
		tcp_pair(&fd, &server);
		pthread_create(&t, NULL, drain_server, (void *)(long)server);
	}
	if (fd < 0) {
		perror("bench_syscall: open");
		exit(1);
	}
	t0 = now_ns();
	for (i = 0; i < iterations; i++)
		if (write(fd, buf, MSG) != MSG) {
			perror("bench_syscall: write");
			exit(1);
		}
	t1 = now_ns();
	close(fd);
	if (server >= 0) {
		pthread_join(t, NULL);
		close(server);
	}
	return (t1 - t0) / iterations;
}

static volatile int consumer_stop;

static void discard(const struct krt_event *ev, void *ctx)
{
	(*(unsigned long *)ctx)++;
}

static void *consume(void *arg)
{
	unsigned long n = 0;

	while (!consumer_stop)
		krt_live_poll(arg, 50, discard, &n);
	krt_live_drain(arg, discard, &n);
	fprintf(stderr, "bench_syscall: %lu records consumed\n", n);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *inproc = getenv("KRT_BENCH_INPROC");
	struct krt_live_source *src = NULL;
	pthread_t consumer;
	double ns;

	if (argc < 3 || argc > 4 || (strcmp(argv[1], "pingpong") && strcmp(argv[1], "write") &&
				     strcmp(argv[1], "tcpwrite"))) {
		fprintf(stderr, "usage: bench_syscall pingpong|write|tcpwrite ITERATIONS "
			"[START_DELAY_MS]\n");
		return 2;
	}
	iterations = atol(argv[2]);
	if (iterations <= 0) {
		fprintf(stderr, "bench_syscall: ITERATIONS must be positive\n");
		return 2;
	}
	if (argc == 4)
		usleep(atol(argv[3]) * 1000);
	if (inproc && *inproc) {
		/* "...-noconsume": a ring big enough for the whole run, read after it */
		bool noconsume = strstr(inproc, "noconsume") != NULL;
		bool kernel = !strncmp(inproc, "kernel", 6);
		struct krt_live_opts o = { .trace_switch = true, .trace_wakeup = true,
					   .kernel_tags = kernel, .cpu_in_kernel = kernel,
					   .merge_hops = kernel && !strstr(inproc, "nomerge"),
					   .ring_bytes = noconsume ? 256u << 20 : 0 };
		struct krt_addr lo = { .family = KRT_AF_INET, .addr = { 127, 0, 0, 1 } };

		src = krt_live_open(&o, "bench_syscall");
		if (!src || krt_live_add_peer(src, &lo) || krt_live_trace_tgid(src, getpid()) ||
		    krt_live_attach(src, "bench_syscall"))
			return 1;
		if (noconsume)
			consumer_stop = 1;	/* consume() drains once, at the end */
		else
			pthread_create(&consumer, NULL, consume, src);
	}
	ns = !strcmp(argv[1], "pingpong") ? run_pingpong() : run_write(argv[1]);
	if (src) {
		struct krt_source_stats st = { 0 };

		if (consumer_stop)
			consume(src);
		consumer_stop = 1;
		if (!strstr(inproc, "noconsume"))
			pthread_join(consumer, NULL);
		krt_live_stats(src, &st);
		fprintf(stderr, "bench_syscall: %llu ring records, %llu dropped\n",
			(unsigned long long)st.ring_records, (unsigned long long)st.ring_drops);
		/* per program, when sysctl kernel.bpf_stats_enabled=1 */
		krt_live_print_prog_stats(src, stderr);
		krt_live_close(src);
	}
	printf("%s %.1f %ld\n", argv[1], ns, iterations);
	return 0;
}
