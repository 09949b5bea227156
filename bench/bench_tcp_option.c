// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * bench_tcp_option [ROUNDS [REQUESTS]]: the cost of the trace-context TCP
 * option (bpf/tcp_option.bpf.c) per segment, on a loopback ping-pong of
 * 100-byte requests and replies (each one data segment) in a cgroup of its
 * own, as root. Three cases alternate within every round:
 *
 *   off     the program attached, loopback not a peer network: the
 *           callbacks never run (what every non-peer connection pays)
 *   armed   loopback a peer network, no context: the header callbacks run
 *           on every segment but write nothing (an untraced send)
 *   option  a context on both sockets: every data segment carries the option
 *
 * It prints per case the median round trip, the sock_ops program's run time
 * per call and calls per round trip (kernel BPF stats, which add their own
 * clock reads to every call), and the option's cost per data segment: the
 * program's run time (steady) and the round trip difference (noisy on a
 * shared machine: compare within one run only).
 */
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
#include <time.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "krtrace_tcp_option.h"
#include "tcp_option.skel.h"

#define CGROOT "/sys/fs/cgroup/unified"
#define MSG 100

enum { OFF, ARMED, OPTION, N_CASES };
static const char *const names[N_CASES] = { "off", "armed", "option" };

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* One connection on 127.0.0.1 or 127.0.0.2 (a peer network or not). */
static int open_pair(const char *ip, int *cl, int *sv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int l, one = 1;

	inet_pton(AF_INET, ip, &sa.sin_addr);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sl) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sa, &sl))
		return -1;
	*cl = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(*cl, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(*cl, (struct sockaddr *)&sa, sl))
		return -1;
	*sv = accept(l, NULL, NULL);
	setsockopt(*sv, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(l);
	return *sv < 0 ? -1 : 0;
}

static int full(int fd, char *buf, size_t len, int wr)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = wr ? write(fd, buf + done, len - done) : read(fd, buf + done, len - done);

		if (n <= 0)
			return -1;
		done += n;
	}
	return 0;
}

/* Round trips of one request and one reply, each one segment; ns per round trip. */
static double ping_pong(int cl, int sv, int n)
{
	char buf[MSG] = { 0 };
	__u64 t0 = now_ns();
	int i;

	for (i = 0; i < n; i++) {
		if (full(cl, buf, MSG, 1) || full(sv, buf, MSG, 0) || full(sv, buf, MSG, 1) ||
		    full(cl, buf, MSG, 0))
			return -1;
	}
	return (double)(now_ns() - t0) / n;
}

static void prog_stats(int prog_fd, __u64 *ns, __u64 *cnt)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);

	*ns = *cnt = 0;
	if (!bpf_obj_get_info_by_fd(prog_fd, &info, &len)) {
		*ns = info.run_time_ns;
		*cnt = info.run_cnt;
	}
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 15, n = argc > 2 ? atoi(argv[2]) : 3000;
	double rtt[N_CASES][64], call_ns[N_CASES] = { 0 }, calls[N_CASES] = { 0 }, med[N_CASES];
	struct tcp_option_bpf *skel = NULL;
	struct bpf_link *cg_link = NULL;
	int cl[N_CASES], sv[N_CASES], cg_fd = -1, stats_fd = -1, prog_fd, r, c, k, ret = 1;
	char cg[128], pid[32];

	if (rounds < 1 || rounds > 64 || n < 1) {
		fprintf(stderr, "usage: bench_tcp_option [ROUNDS (1-64) [REQUESTS]]\n");
		return 2;
	}
	if (geteuid()) {
		fprintf(stderr, "bench_tcp_option: needs root\n");
		return 2;
	}
	snprintf(cg, sizeof(cg), CGROOT "/krt-tcpopt-bench-%d", getpid());
	snprintf(pid, sizeof(pid), "%d", getpid());
	if (mkdir(cg, 0755) || write_file(strcat(strcpy((char[160]){ 0 }, cg), "/cgroup.procs"), pid)) {
		fprintf(stderr, "bench_tcp_option: %s: %s\n", cg, strerror(errno));
		goto out;
	}
	cg_fd = open(cg, O_RDONLY | O_DIRECTORY);
	skel = tcp_option_bpf__open();
	if (cg_fd < 0 || !skel)
		goto out;
	/* Only 127.0.0.1/32 is a peer: 127.0.0.2 is the "off" case. */
	skel->rodata->peer_net[0] = htonl(0x7f000001);
	skel->rodata->peer_mask[0] = 0xffffffff;
	if (tcp_option_bpf__load(skel))
		goto out;
	cg_link = bpf_program__attach_cgroup(skel->progs.krt_tcp_option, cg_fd);
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (!cg_link || stats_fd < 0) {
		fprintf(stderr, "bench_tcp_option: attach or BPF stats failed\n");
		goto out;
	}
	prog_fd = bpf_program__fd(skel->progs.krt_tcp_option);
	for (c = 0; c < N_CASES; c++)
		if (open_pair(c == OFF ? "127.0.0.2" : "127.0.0.1", &cl[c], &sv[c]))
			goto out;
	for (c = 0; c < 2; c++) {
		struct krt_tcpopt_ctx ctx = { .run = 0x8000000000000001ULL, .trace = 1 };
		int fds[2] = { cl[OPTION], sv[OPTION] };

		if (bpf_map_update_elem(bpf_map__fd(skel->maps.tcpopt_tx), &fds[c], &ctx, 0))
			goto out;
	}
	for (c = 0; c < N_CASES; c++)
		ping_pong(cl[c], sv[c], n / 10);	/* warm up */
	for (r = 0; r < rounds; r++) {
		for (k = 0; k < N_CASES; k++) {
			__u64 ns0, cnt0, ns1, cnt1;

			c = (r + k) % N_CASES;	/* rotate the order from round to round */
			prog_stats(prog_fd, &ns0, &cnt0);
			rtt[c][r] = ping_pong(cl[c], sv[c], n);
			prog_stats(prog_fd, &ns1, &cnt1);
			call_ns[c] += ns1 - ns0;
			calls[c] += cnt1 - cnt0;
		}
	}
	printf("case     round trip ns   sock_ops calls/rtt   ns/call\n");
	for (c = 0; c < N_CASES; c++) {
		qsort(rtt[c], rounds, sizeof(double), cmp_double);
		med[c] = rtt[c][rounds / 2];
		printf("%-8s %13.0f %20.2f %9.1f\n", names[c], med[c], calls[c] / ((double)n * rounds),
		       calls[c] ? call_ns[c] / calls[c] : 0.0);
	}
	/* 2 data segments per round trip; the program's time is the steadier figure. */
	printf("option - off, per data segment: program run time %.0f ns, round trip %.0f ns "
	       "(noisy); %u bytes of header\n",
	       (call_ns[OPTION] - call_ns[OFF]) / (2.0 * n * rounds), (med[OPTION] - med[OFF]) / 2,
	       KRT_TCPOPT_LEN);
	printf("segments with the option: %llu written, %llu parsed\n",
	       (unsigned long long)skel->bss->stats.written,
	       (unsigned long long)skel->bss->stats.parsed);
	ret = 0;
out:
	if (stats_fd >= 0)
		close(stats_fd);
	bpf_link__destroy(cg_link);
	tcp_option_bpf__destroy(skel);
	if (cg_fd >= 0)
		close(cg_fd);
	write_file(CGROOT "/cgroup.procs", pid);
	rmdir(cg);
	return ret;
}
