/*
 * bench_uprobe: what a uprobe costs here, and how often the Go runtime
 * functions goroutine tracking would probe are hit.
 *
 *   bench_uprobe price [N [ROUNDS]]
 *       calls an empty function N times per run, in ROUNDS alternating pairs
 *       of runs without and with an empty BPF program on a uprobe on it
 *       (the kernel's price of a hit before a program's first instruction:
 *       the breakpoint trap, the out-of-line single step, the call into the
 *       program); prints the median per-pair difference in ns per hit.
 *   bench_uprobe count BINARY [FUNC,...] -- COMMAND...
 *       counts the hits of runtime.execute, runtime.casgstatus and
 *       runtime.newproc1 (or only the FUNCs listed, without "runtime.") of the
 *       Go program BINARY (every process running it) while COMMAND runs, with
 *       counting uprobes (perf events, no program).
 *
 * Uprobes are perf events of the "uprobe" PMU (config1 = path, config2 =
 * file offset); a BPF program is attached with PERF_EVENT_IOC_SET_BPF.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <bpf/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "go_binary.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) void krt_bench_probed(void)
{
	__asm__ volatile("" ::: "memory");
}

static int uprobe_type(void)
{
	FILE *f = fopen("/sys/bus/event_source/devices/uprobe/type", "r");
	int type = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &type) != 1)
		type = -1;
	fclose(f);
	return type;
}

static int open_uprobe(const char *path, uint64_t offset, int pid, int cpu)
{
	struct perf_event_attr attr = { 0 };
	int type = uprobe_type();

	if (type < 0) {
		errno = ENOENT;
		return -1;
	}
	attr.size = sizeof(attr);
	attr.type = (uint32_t)type;
	attr.config1 = (uint64_t)(uintptr_t)path;
	attr.config2 = offset;
	attr.disabled = 1;
	return (int)syscall(SYS_perf_event_open, &attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

/* The file offset of one of our own functions, through /proc/self/maps. */
static int self_offset(void *fn, char *path, size_t plen, uint64_t *off)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	uintptr_t a = (uintptr_t)fn;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, fileoff;
		char perms[8], file[400] = "";

		if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %399s", &lo, &hi, perms, &fileoff, file) < 4)
			continue;
		if (a >= lo && a < hi && file[0] == '/') {
			snprintf(path, plen, "%s", file);
			*off = a - lo + fileoff;
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	return -1;
}

static double run_loop(long n)
{
	uint64_t t0 = now_ns();

	for (long i = 0; i < n; i++)
		krt_bench_probed();
	return (double)(now_ns() - t0) / (double)n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmd_price(long n, int rounds)
{
	static const struct bpf_insn empty[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	char path[400];
	uint64_t off;
	double *diff = calloc((size_t)rounds, sizeof(double)), base = 0, probed = 0;
	int pfd, prog;

	if (!diff || self_offset((void *)krt_bench_probed, path, sizeof(path), &off)) {
		fprintf(stderr, "bench_uprobe: cannot find krt_bench_probed in /proc/self/maps\n");
		return 1;
	}
	prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "krt_empty", "GPL", empty, 2, NULL);
	if (prog < 0) {
		fprintf(stderr, "bench_uprobe: loading an empty program: %s\n", strerror(-prog));
		return 1;
	}
	run_loop(n / 10);	/* warm up */
	/* the breakpoint stays in the text while the event exists: open and close it */
	for (int r = 0; r < rounds; r++) {
		double a, b;

		a = run_loop(n);
		pfd = open_uprobe(path, off, getpid(), -1);
		if (pfd < 0 || ioctl(pfd, PERF_EVENT_IOC_SET_BPF, prog) ||
		    ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0)) {
			fprintf(stderr, "bench_uprobe: uprobe on %s+0x%llx: %s\n", path,
				(unsigned long long)off, strerror(errno));
			return 1;
		}
		b = run_loop(n);
		close(pfd);
		diff[r] = b - a;
		base += a;
		probed += b;
	}
	qsort(diff, (size_t)rounds, sizeof(*diff), cmp_double);
	printf("uprobe price: %.0f ns per hit (median of %d pairs of %ld calls; "
	       "%.1f ns/call without, %.1f with an empty program)\n",
	       diff[rounds / 2], rounds, n, base / rounds, probed / rounds);
	close(prog);
	free(diff);
	return 0;
}

static int cmd_count(const char *binary, const char *only, char **argv)
{
	struct krt_go_info gi;
	char err[256];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int fds[KRT_GO_N_FUNCS][64], status;
	pid_t child;

	if (krt_go_inspect(binary, &gi, err, sizeof(err))) {
		fprintf(stderr, "bench_uprobe: %s\n", err);
		return 1;
	}
	if (!gi.is_go || !gi.has_symtab) {
		fprintf(stderr, "bench_uprobe: %s: %s\n", binary,
			gi.is_go ? "no symbol table" : "not a Go program");
		return 1;
	}
	if (ncpu > 64)
		ncpu = 64;
	memset(fds, -1, sizeof(fds));
	for (int f = 0; f < KRT_GO_N_FUNCS; f++)
		for (long c = 0; c < ncpu; c++) {
			if (only && !strstr(only, krt_go_func_name(f) + 8))
				continue;
			fds[f][c] = open_uprobe(binary, gi.funcs[f].file_offset, -1, (int)c);
			if (fds[f][c] < 0 || ioctl(fds[f][c], PERF_EVENT_IOC_ENABLE, 0)) {
				fprintf(stderr, "bench_uprobe: uprobe on %s (%s): %s\n",
					krt_go_func_name(f), binary, strerror(errno));
				return 1;
			}
		}
	child = fork();
	if (child == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "bench_uprobe: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (child < 0 || waitpid(child, &status, 0) < 0) {
		fprintf(stderr, "bench_uprobe: running %s: %s\n", argv[0], strerror(errno));
		return 1;
	}
	for (int f = 0; f < KRT_GO_N_FUNCS; f++) {
		uint64_t total = 0, v;

		if (fds[f][0] < 0)
			continue;
		for (long c = 0; c < ncpu; c++) {
			if (read(fds[f][c], &v, sizeof(v)) == sizeof(v))
				total += v;
			close(fds[f][c]);
		}
		printf("%-20s %llu hits\n", krt_go_func_name(f), (unsigned long long)total);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_uprobe price [N [ROUNDS]]\n"
			"       bench_uprobe count GO_BINARY [execute,casgstatus,newproc1] -- COMMAND...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "price")) {
		long n = argc > 2 ? atol(argv[2]) : 200000;
		int rounds = argc > 3 ? atoi(argv[3]) : 9;

		if (n < 1000 || rounds < 1)
			usage();
		return cmd_price(n, rounds);
	}
	if (argc >= 5 && !strcmp(argv[1], "count") && !strcmp(argv[3], "--"))
		return cmd_count(argv[2], NULL, argv + 4);
	if (argc >= 6 && !strcmp(argv[1], "count") && !strcmp(argv[4], "--"))
		return cmd_count(argv[2], argv[3], argv + 5);
	usage();
}
