// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * bench_pause: what a sampling window's pause and resume cost the reader,
 * and whether anything runs while paused (root).
 *
 *   bench_pause PIDS_FILE GATEWAY SECONDS [OPEN_MS [CLOSED_MS]]
 *
 * Traces the PIDs file's containers as krtrace-bpf --sample 10 does (kernel
 * tags, CPU in the kernel, one record per hop; Go processes' goroutines
 * followed), then cycles: OPEN_MS (100) with every new request sampled,
 * 100 ms with none, krt_live_pause, CLOSED_MS (900) paused (the source
 * polled, as a reader does), krt_live_resume, 50 ms with none. Drive
 * traffic meanwhile (wrk). Prints per cycle phase the reader's CPU (thread
 * CPU clock) and wall time of pause and resume (mean and max), the events
 * a pause handed over, and each program's runs while paused (bpf
 * statistics turned on for the run: the hot ones must show none; the Go
 * probes, detached in the background, return at once meanwhile). The first
 * pause is shown apart (it maps the state tables).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include "live_source.h"
#include "pids_file.h"
#include "go_binary.h"
#include "addr.h"

#define PROG "bench_pause"
#define MAX_PROGS 32

static volatile sig_atomic_t stop;
static __u64 events, pauses;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void count_event(const struct krt_event *ev, void *ctx)
{
	(void)ctx;
	events++;
	pauses += ev->type == KRT_EV_PAUSE;
}

static __u64 clock_of(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Polls the source for ms milliseconds (10 ms waits, as krtrace-bpf's loop). */
static int poll_for(struct krt_live_source *s, unsigned int ms)
{
	__u64 end = clock_of(CLOCK_MONOTONIC) + ms * 1000000ULL;

	while (!stop && clock_of(CLOCK_MONOTONIC) < end) {
		int n = krt_live_poll(s, 10, count_event, NULL);

		if (n < 0 && n != -EINTR)
			return n;
	}
	return 0;
}

/* Each program's runs so far, from the source's counters ("prog NAME runs N"). */
struct runs {
	char name[MAX_PROGS][64];
	unsigned long long n[MAX_PROGS];
	int count;
};

static void runs_read(struct krt_live_source *s, struct runs *r)
{
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	r->count = 0;
	if (!f)
		return;
	krt_live_print_counters(s, f, "b", 0);
	fclose(f);
	for (line = strtok_r(text, "\n", &save); line && r->count < MAX_PROGS;
	     line = strtok_r(NULL, "\n", &save))
		if (sscanf(line, "b: counters 0 prog %63s runs %llu", r->name[r->count],
			   &r->n[r->count]) == 2)
			r->count++;
	free(text);
}

struct cost {
	__u64 cpu_sum, cpu_max, wall_sum, wall_max, n;
};

static void cost_add(struct cost *c, __u64 cpu, __u64 wall)
{
	c->cpu_sum += cpu;
	c->wall_sum += wall;
	c->cpu_max = cpu > c->cpu_max ? cpu : c->cpu_max;
	c->wall_max = wall > c->wall_max ? wall : c->wall_max;
	c->n++;
}

static void cost_print(const char *what, const struct cost *c)
{
	if (!c->n)
		return;
	printf("%s: %llu times, reader CPU mean %.1f us max %.1f us, wall mean %.1f us max %.1f "
	       "us\n",
	       what, (unsigned long long)c->n, c->cpu_sum / 1e3 / c->n, c->cpu_max / 1e3,
	       c->wall_sum / 1e3 / c->n, c->wall_max / 1e3);
}

static int trace_pids(struct krt_live_source *s, const struct krt_pids *pids)
{
	for (size_t i = 0; i < pids->n; i++) {
		struct krt_go_info gi;
		char err[256];
		int rc = krt_live_trace_tree(s, pids->v[i].pid);

		if (!rc && pids->v[i].ip.family)
			rc = krt_live_add_peer(s, &pids->v[i].ip);
		if (rc) {
			fprintf(stderr, PROG ": cannot trace %s[%u]: %s\n", pids->v[i].name,
				pids->v[i].pid, strerror(-rc));
			return rc;
		}
		if (krt_go_inspect_pid("/proc", (int)pids->v[i].pid, &gi, err, sizeof(err)) ||
		    !gi.is_go || !gi.usable)
			continue;
		gi.chans = false; /* krtrace-bpf's default */
		rc = krt_live_follow_go(s, pids->v[i].pid, &gi);
		fprintf(stderr, PROG ": %s[%u]: Go, goroutines %s\n", pids->v[i].name,
			pids->v[i].pid, rc ? "not followed" : "followed");
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct krt_live_opts lo = {.sample_rate = 10,
				   .kernel_tags = true,
				   .cpu_in_kernel = true,
				   .merge_hops = true,
				   .trace_switch = true,
				   .trace_wakeup = true};
	unsigned int open_ms = argc > 4 ? atoi(argv[4]) : 100;
	unsigned int closed_ms = argc > 5 ? atoi(argv[5]) : 900;
	struct cost pause_cost = {0}, resume_cost = {0}, first = {0};
	struct runs before, after, paused_runs = {0};
	struct krt_live_source *s = NULL;
	struct krt_pids pids = {0};
	__u64 end, handed = 0, proc0 = 0, wall_start = 0;
	char err[256];
	int stats_fd, rc = 1;

	if (argc < 4) {
		fprintf(stderr, "usage: " PROG " PIDS_FILE GATEWAY SECONDS [OPEN_MS [CLOSED_MS]]\n");
		return 2;
	}
	if (krt_pids_load(&pids, argv[1], err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}
	if (krt_addr_parse_ip(argv[2], &lo.gateway)) {
		fprintf(stderr, PROG ": %s: not an IP address\n", argv[2]);
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0)
		fprintf(stderr, PROG ": cannot turn bpf statistics on: %s\n", strerror(-stats_fd));
	s = krt_live_open(&lo, PROG);
	if (!s || trace_pids(s, &pids) || krt_live_attach(s, PROG))
		goto out;
	end = clock_of(CLOCK_MONOTONIC) + (__u64)atoi(argv[3]) * 1000000000ULL;
	proc0 = clock_of(CLOCK_PROCESS_CPUTIME_ID);
	wall_start = clock_of(CLOCK_MONOTONIC);
	while (!stop && clock_of(CLOCK_MONOTONIC) < end) {
		__u64 cpu0, wall0, e0;

		krt_live_set_phase(s, KRT_PHASE_ALL);
		if (poll_for(s, open_ms))
			break;
		krt_live_set_phase(s, KRT_PHASE_NONE);
		if (poll_for(s, 100))
			break;
		e0 = events;
		cpu0 = clock_of(CLOCK_THREAD_CPUTIME_ID);
		wall0 = clock_of(CLOCK_MONOTONIC);
		if (krt_live_pause(s, count_event, NULL))
			break;
		/* the first maps the state tables (page faults on 25 MiB): apart */
		cost_add(first.n ? &pause_cost : &first, clock_of(CLOCK_THREAD_CPUTIME_ID) - cpu0,
			 clock_of(CLOCK_MONOTONIC) - wall0);
		handed += events - e0;
		runs_read(s, &before);
		if (poll_for(s, closed_ms))
			break;
		runs_read(s, &after);
		for (int i = 0; i < after.count && i < before.count; i++) {
			snprintf(paused_runs.name[i], sizeof(paused_runs.name[i]), "%s",
				 after.name[i]);
			paused_runs.n[i] += after.n[i] - before.n[i];
		}
		paused_runs.count = after.count;
		cpu0 = clock_of(CLOCK_THREAD_CPUTIME_ID);
		wall0 = clock_of(CLOCK_MONOTONIC);
		if (krt_live_resume(s))
			break;
		cost_add(&resume_cost, clock_of(CLOCK_THREAD_CPUTIME_ID) - cpu0,
			 clock_of(CLOCK_MONOTONIC) - wall0);
		if (poll_for(s, 50))
			break;
	}
	if (krt_live_paused(s))
		krt_live_resume(s);
	krt_live_detach(s);
	krt_live_drain(s, count_event, NULL);
	/* every thread's: the Go probes' detach runs in one of its own */
	printf("reader process CPU %.1f ms over %.1f s, %llu pauses\n",
	       (clock_of(CLOCK_PROCESS_CPUTIME_ID) - proc0) / 1e6,
	       (clock_of(CLOCK_MONOTONIC) - wall_start) / 1e9, (unsigned long long)pauses);
	cost_print("first pause", &first);
	cost_print("pause", &pause_cost);
	cost_print("resume", &resume_cost);
	printf("events %llu, pauses %llu, handed over by the pauses %llu (%.1f a pause)\n",
	       (unsigned long long)events, (unsigned long long)pauses, (unsigned long long)handed,
	       pauses ? (double)handed / pauses : 0.0);
	for (int i = 0; i < paused_runs.count; i++)
		printf("runs while paused: %-20s %llu\n", paused_runs.name[i], paused_runs.n[i]);
	rc = 0;
out:
	krt_live_close(s);
	krt_pids_free(&pids);
	return rc;
}
