// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * krtrace-bpf: the live path. Loads the BPF programs, traces the container
 * processes (from -i PIDS or discovered on the gateway's subnet), and feeds
 * the ring buffer into the same attribution engine as krtrace.
 *
 * open -> configure -> load -> trace PIDs -> attach -> poll -> drain ->
 * flush -> summary.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <sched.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "addr.h"
#include "cli_common.h"
#include "container_discovery.h"
#include "container_follow.h"
#include "engine.h"
#include "event_record.h"
#include "go_binary.h"
#include "live_source.h"
#include "peers.h"
#include "pids_file.h"
#include "run_seen.h"
#include "sample_window.h"

#define PROG "krtrace-bpf"
/*
 * Kernel states untouched this long are reclaimed: longer than any request
 * and than most keep-alive idle times (a connection reclaimed while idle
 * starts again as one opened before the start, which the tagging handles).
 */
#define DEFAULT_IDLE_S 300
#define MAX_SWEEP_S 10
#define POLL_INTERVAL_MS 50
#define DEFAULT_RING_BYTES (8u << 20) /* bpf/krtrace.bpf.c: events */
#define STREAM_LINGER_NS (2ULL * 1000 * 1000 * 1000)
#define BATCH_LINGER_NS (5ULL * 1000 * 1000 * 1000)

enum {
	OPT_GATEWAY = 0x200,
	OPT_STREAM,
	OPT_LIST_CONTAINERS,
	OPT_SAMPLE,
	OPT_RING_MB,
	OPT_DEBUG,
	OPT_NORMAL_PRIORITY,
	OPT_GONE,
	OPT_RULES,
	OPT_NO_MERGE,
	OPT_SYSCALL_HOOKS,
	OPT_GO_THREADS,
	OPT_GO_CHANNELS,
	OPT_GO_EXECUTE,
	OPT_BPF_STATS,
	OPT_RESCAN_MS,
	OPT_SAMPLE_RATE,
	OPT_PEERS,
	OPT_TCP_OPTION_CGROUP,
	OPT_IDLE_TIMEOUT,
	OPT_SAMPLE_WINDOW,
};

static const struct option own_options[] = {
    {"gateway", required_argument, NULL, 'g'},
    {"pids", required_argument, NULL, 'i'},
    {"duration", required_argument, NULL, 'd'},
    {"verbose", no_argument, NULL, 'v'},
    {"stream", no_argument, NULL, OPT_STREAM},
    {"list-containers", no_argument, NULL, OPT_LIST_CONTAINERS},
    {"sample", required_argument, NULL, OPT_SAMPLE},
    {"sample-rate", required_argument, NULL, OPT_SAMPLE_RATE},
    {"sample-window", required_argument, NULL, OPT_SAMPLE_WINDOW},
    {"ring-mb", required_argument, NULL, OPT_RING_MB},
    {"debug", required_argument, NULL, OPT_DEBUG},
    {"normal-priority", no_argument, NULL, OPT_NORMAL_PRIORITY},
    /* gone: refused with what to use instead (gone_options) */
    {"check-tags", no_argument, NULL, OPT_GONE},
    {"empty-hooks", no_argument, NULL, OPT_GONE},
    {"kernel-tags", no_argument, NULL, OPT_GONE},
    {"cpu-in-kernel", no_argument, NULL, OPT_GONE},
    {"rules", no_argument, NULL, OPT_RULES},
    {"no-merge", no_argument, NULL, OPT_NO_MERGE},
    {"syscall-hooks", no_argument, NULL, OPT_SYSCALL_HOOKS},
    {"go-threads", no_argument, NULL, OPT_GO_THREADS},
    {"go-channels", no_argument, NULL, OPT_GO_CHANNELS},
    {"go-execute", no_argument, NULL, OPT_GO_EXECUTE},
    {"bpf-stats", no_argument, NULL, OPT_BPF_STATS},
    {"rescan-ms", required_argument, NULL, OPT_RESCAN_MS},
    {"peers", required_argument, NULL, OPT_PEERS},
    {"tcp-option-cgroup", required_argument, NULL, OPT_TCP_OPTION_CGROUP},
    {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
    {"help", no_argument, NULL, 'h'},
};

struct options {
	struct krt_addr gateway;
	bool have_gateway;
	const char *pids_path;
	double duration; /* seconds, 0 = until Ctrl-C */
	bool libbpf_verbose;
	bool stream;
	bool list_containers;
	__u32 sample_rate;
	__u32 rate_cap;	 /* --sample-rate: sampled requests per second at most */
	__u32 window_ms; /* --sample-window: one window this long every sample_rate x it */
	__u32 ring_mb;
	bool check_tags;
	bool rules;		 /* the engine's rules decide, from full records */
	bool no_merge;		 /* one record per transfer */
	bool syscall_hooks;	 /* the pre-6.3 fallback, forced */
	bool empty_hooks;	 /* benchmark floor: hooks that return at once */
	bool prefilter_hooks;	 /* sampling's floor: hooks return after the traced test */
	bool unbatched;		 /* a ring record per switch and wake-up */
	__u32 slow_reader_us;	 /* --debug slow-reader: the reader sleeps per record */
	bool go_threads;	 /* Go programs by thread: no uprobes on their runtime */
	bool go_channels;	 /* uprobes on Go's channel operations, not on ready */
	bool go_execute;	 /* a uprobe on runtime.execute, not g from TLS at the hooks */
	bool bpf_stats;		 /* count the programs' run time while we run */
	const char *dump_path;	 /* --debug dump-events=FILE: every event fed to the engine */
	const char *record_path; /* --debug record-events=FILE: the same, binary (replayable) */
	bool verifier_stats; /* --debug verifier-stats: load, print each program's count, exit */
	/* --debug ring-kb, state-slots, reorder-us: small sizes make losses happen (tests) */
	__u32 ring_kb, state_slots, reorder_us;
	bool have_reorder_us;
	bool normal_priority;
	__u32 rescan_ms;	   /* discovery re-scan period, 0 = off */
	bool rescan_given;	   /* --rescan-ms at all: refused with -i (no discovery) */
	struct krt_peers peers;	   /* --peers: the other traced hosts' networks */
	const char *tcpopt_cgroup; /* --tcp-option-cgroup */
	__u32 idle_s;		   /* kernel states untouched this long are reclaimed, 0 = never */
	struct krt_output_opts out;
};

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t counters_requested;

/* SIGUSR1: print the counters (benchmarks take differences between two). */
static void on_usr1(int sig)
{
	(void)sig;
	counters_requested = 1;
}

static void on_signal(int sig)
{
	/* A second Ctrl-C means: stop now, without the result (the earlier files stay). */
	if (stop_requested) {
		krt_outputs_abandon();
		_exit(128 + sig);
	}
	stop_requested = 1;
}

/*
 * SIGHUP: with -i, re-read the PIDs file (a service manager's "reload");
 * otherwise the terminal went away: end the run as SIGTERM does, with the
 * full result (it used to kill the run and leave an empty output file).
 */
static volatile sig_atomic_t reload_requested;
static bool reload_on_hup;

static void on_hup(int sig)
{
	if (reload_on_hup)
		reload_requested = 1;
	else
		on_signal(sig);
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: " PROG " --gateway IP [-i PIDS] [-d SECONDS] [options]\n"
	    "Traces requests entering containers from the gateway, live, with BPF.\n"
	    "\n"
	    "Source:\n"
	    "  -g, --gateway IP         the container network's gateway (bridge) address\n"
	    "  -i, --pids FILE          PIDs file (PID Name IP Hash); default: discover the\n"
	    "                           processes whose network namespace is on the gateway's "
	    "subnet\n"
	    "  -d, --duration SECONDS   stop after this long (default: until Ctrl-C)\n"
	    "      --rescan-ms MS       without -i: look for new container processes (a\n"
	    "                           restarted service, a new replica, an exec) this often\n"
	    "                           (default 500, 0 = never); with -i, SIGHUP re-reads PIDS\n"
	    "      --peers CIDR[,CIDR]  the other traced hosts' networks (IPv4 or IPv6, "
	    "repeatable):\n"
	    "                           their requests to this host's servers start a trace here\n"
	    "                           (for krtrace merge), their replies do not (docs/hosts.md)\n"
	    "      --tcp-option-cgroup DIR  the traced containers' cgroup v2 (e.g. under\n"
	    "                           /sys/fs/cgroup/unified): traced sends to peers carry\n"
	    "                           their trace in a TCP header option (kind 253, 20 bytes);\n"
	    "                           a peer's request carrying one continues its trace here\n"
	    "      --idle-timeout S     reclaim kernel thread and connection states untouched\n"
	    "                           for S seconds (a close or exit never seen; default\n"
	    "                           300, 0 = never)\n"
	    "      --stream             print each trace as soon as it is complete\n"
	    "      --list-containers    print the discovered containers as a PIDs file and exit\n"
	    "      --sample N           keep one request in N, decided in the kernel at ingress\n"
	    "      --sample-rate N      keep at most N requests per second (each second's\n"
	    "                           first ones), decided in the kernel at ingress; with\n"
	    "                           --sample, at most N per second of the one in N kept\n"
	    "      --sample-window MS   with --sample N: sample by time windows, not per\n"
	    "                           request: every N x MS ms, a window of MS ms where every\n"
	    "                           new request is traced (after a 50 ms warm-up, and a\n"
	    "                           100 ms drain where the traced ones finish); between\n"
	    "                           windows the hot hooks are detached (cheaper on thread\n"
	    "                           pools, event loops and Go); --sample-rate still caps.\n"
	    "                           Take 1000 ms or more: each window pays a fixed warm-up\n"
	    "                           (50 ms, up to 500 on pools and event loops), drain and\n"
	    "                           hook detach and attach: half or more of the tracer's\n"
	    "                           CPU at 300 ms, a third to a half at 1000 (README)\n"
	    "      --ring-mb N          ring buffer size in MiB (power of two, default 8)\n"
	    "      --rules              no tagging in the kernel: one record per transfer and\n"
	    "                           per context switch, the engine's rules decide (as on\n"
	    "                           the import path)\n"
	    "      --no-merge           one record per transfer (by default a send to a traced\n"
	    "                           container rides in its receiver's record)\n"
	    "      --syscall-hooks      read transfers at the exit of the socket syscalls,\n"
	    "                           the fallback used by itself on kernels before 6.3\n"
	    "                           (costs every syscall of the machine a hook)\n"
	    "      --go-threads         attribute Go programs by thread: no uprobes on their\n"
	    "                           runtime (cheaper; their requests get mixed)\n"
	    "      --go-channels        follow Go hand-offs on channel operations (uprobes on\n"
	    "                           chansend, chanrecv, selectgo instead of ready: also\n"
	    "                           a value taken from a buffered channel by a goroutine\n"
	    "                           that did not wait for it; costs more uprobe hits;\n"
	    "                           runtime.execute is probed too)\n"
	    "      --go-execute         see goroutine switches with a uprobe on runtime.execute\n"
	    "                           (CPU split per goroutine at each switch; costs 12-23\n"
	    "                           more uprobe hits per request); by default the hooks\n"
	    "                           read the running goroutine from the thread's TLS\n"
	    "      --bpf-stats          count the programs' run time while tracing (as sysctl\n"
	    "                           kernel.bpf_stats_enabled=1, without changing it) and\n"
	    "                           print it per program at the end; SIGUSR1 prints the\n"
	    "                           counters (records, requests, hits, run time) at once\n"
	    "      --normal-priority    read the ring at normal priority (default: idle\n"
	    "                           priority, raised while the ring fills up)\n"
	    "  -v, --verbose            show libbpf's messages (verifier log on load errors)\n"
	    "      --debug FEATURE      debugging and benchmark aids, comma-separated;\n"
	    "                           '--debug help' lists them (see bench/README)\n"
	    "  -h, --help               this text\n"
	    "%s"
	    "\nExamples:\n"
	    "  sudo " PROG " --gateway 172.24.0.1                 # until Ctrl-C, text\n"
	    "  sudo " PROG " -g 172.24.0.1 -d 10 --json -o t.jsonl\n"
	    "  sudo " PROG " -g 172.24.0.1 --list-containers > pids.txt\n"
	    "  sudo " PROG " -g 172.24.0.1 -i pids.txt --stream --chrome t.json\n",
	    krt_output_help);
}

static int parse_uint(const char *opt, const char *arg, __u32 min, __u32 max, __u32 *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v < min || v > max) {
		fprintf(stderr, PROG ": %s: '%s' is not a number from %u to %u\n", opt, arg, min,
			max);
		return -1;
	}
	*out = v;
	return 0;
}

/* --debug FEATURE[,FEATURE...]: knobs users never need (as retsnoop's --debug). */
static const struct {
	const char *name;
	const char *help;
} debug_features[] = {
    {"check-tags", "also run the engine's rules on full records (every context switch)\n"
		   "                   and count where they disagree with the kernel's tags"},
    {"empty-hooks", "benchmark floor: attach every hook, each returning at once (what\n"
		    "                   attaching costs; traces nothing)"},
    {"prefilter-hooks", "sampling's floor: the transfer and scheduler hooks return right\n"
			"                   after testing whether the process is traced (what\n"
			"                   an unsampled request's hits would cost doing nothing\n"
			"                   more; traces nothing, Go runtime probes not attached)"},
    {"unbatched", "a ring record per context switch, wake-up and switch-out CPU time\n"
		  "                   (not batched per CPU)"},
    {"dump-events=FILE", "write every event fed to the engine to FILE, one line each"},
    {"record-events=FILE",
     "write every event fed to the engine to FILE as it is in memory\n"
     "                   (bench/bench_replay.c feeds it to the engine again)"},
    {"verifier-stats", "load the programs as the other options ask, print the instructions\n"
		       "                   the verifier processed for each (limit 1000000), exit"},
    {"ring-kb=N", "a ring buffer of N KiB (a power of two, 4 or more): ring drops\n"
		  "                   under a small load (tests of losses)"},
    {"state-slots=N", "use N slots of each kernel state table (a power of two): states\n"
		      "                   not kept, table_full (tests of losses)"},
    {"reorder-us=N", "hold records N microseconds for reordering (default 20000):\n"
		     "                   fewer make records arrive late, reorder_clamp"},
    {"slow-reader=US", "the reader sleeps US microseconds per ring record: slower than\n"
		       "                   the programs (tests: -d and SIGTERM still end on time)"},
};

static void debug_help(FILE *f)
{
	size_t i;

	fprintf(f, "--debug features (comma-separated):\n");
	for (i = 0; i < sizeof(debug_features) / sizeof(debug_features[0]); i++)
		fprintf(f, "  %-16s %s\n", debug_features[i].name, debug_features[i].help);
}

static int parse_debug(const char *arg, struct options *o)
{
	char *list = strdup(arg), *save = NULL, *f;
	int ret = 0;

	if (!list) {
		fprintf(stderr, PROG ": --debug: out of memory\n");
		return -1;
	}
	for (f = strtok_r(list, ",", &save); f && !ret; f = strtok_r(NULL, ",", &save)) {
		if (!strcmp(f, "help")) {
			debug_help(stdout);
			exit(0);
		} else if (!strcmp(f, "check-tags")) {
			o->check_tags = true;
		} else if (!strcmp(f, "empty-hooks")) {
			o->empty_hooks = true;
		} else if (!strcmp(f, "prefilter-hooks")) {
			o->prefilter_hooks = true;
		} else if (!strcmp(f, "verifier-stats")) {
			o->verifier_stats = true;
		} else if (!strcmp(f, "unbatched")) {
			o->unbatched = true;
		} else if (!strncmp(f, "ring-kb=", 8)) {
			ret = parse_uint("--debug ring-kb", f + 8, 4, 1 << 20, &o->ring_kb);
			if (!ret && (o->ring_kb & (o->ring_kb - 1))) {
				fprintf(stderr,
					PROG ": --debug ring-kb: %u is not a power of two\n",
					o->ring_kb);
				ret = -1;
			}
		} else if (!strncmp(f, "state-slots=", 12)) {
			/* the loader checks the power of two and the table sizes */
			ret =
			    parse_uint("--debug state-slots", f + 12, 1, 1 << 20, &o->state_slots);
		} else if (!strncmp(f, "reorder-us=", 11)) {
			ret = parse_uint("--debug reorder-us", f + 11, 0, 10000000, &o->reorder_us);
			o->have_reorder_us = !ret;
		} else if (!strncmp(f, "slow-reader=", 12)) {
			ret = parse_uint("--debug slow-reader", f + 12, 1, 1000000,
					 &o->slow_reader_us);
		} else if (!strncmp(f, "record-events=", 14) && f[14]) {
			o->record_path = strdup(f + 14);
			if (!o->record_path) {
				fprintf(stderr, PROG ": --debug: out of memory\n");
				ret = -1;
			}
		} else if (!strncmp(f, "dump-events=", 12) && f[12]) {
			/* kept for the whole run */
			o->dump_path = strdup(f + 12);
			if (!o->dump_path) {
				fprintf(stderr, PROG ": --debug: out of memory\n");
				ret = -1;
			}
		} else {
			fprintf(stderr,
				PROG ": --debug: unknown feature '%s' ('--debug help' "
				     "lists them)\n",
				f);
			ret = -1;
		}
	}
	free(list);
	return ret;
}

/* Options that are gone: what to use instead. */
static void gone_option(const char *arg)
{
	const char *opt = arg + strspn(arg, "-");

	if (!strcmp(opt, "check-tags") || !strcmp(opt, "empty-hooks"))
		fprintf(stderr, PROG ": --%s is now '--debug %s' (a debugging aid)\n", opt, opt);
	else
		fprintf(stderr,
			PROG ": --%s: removed; kernel tagging and on-CPU time in the "
			     "kernel are the default (--rules turns them off)\n",
			opt);
}

static int parse_options(int argc, char **argv, struct options *o)
{
	struct option longopts[64];
	char *end;
	size_t n = 0, i;
	int opt, r;

	for (i = 0; i < sizeof(own_options) / sizeof(own_options[0]); i++)
		longopts[n++] = own_options[i];
	for (i = 0; krt_output_long_options[i].name && n < 63; i++)
		longopts[n++] = krt_output_long_options[i];
	memset(&longopts[n], 0, sizeof(longopts[n]));

	while ((opt = getopt_long(argc, argv, "g:i:d:vh" KRT_OUTPUT_SHORT_OPTS, longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'g':
			if (krt_addr_parse_ip(optarg, &o->gateway)) {
				fprintf(stderr,
					PROG ": --gateway: '%s' is not an IPv4 or IPv6 "
					     "address\n",
					optarg);
				return -1;
			}
			o->have_gateway = true;
			continue;
		case 'i':
			o->pids_path = optarg;
			continue;
		case 'd':
			errno = 0;
			o->duration = strtod(optarg, &end);
			if (errno || end == optarg || *end || !isfinite(o->duration) ||
			    o->duration <= 0 || o->duration > 1e7) {
				fprintf(stderr,
					PROG ": -d: '%s' is not a positive number of "
					     "seconds\n",
					optarg);
				return -1;
			}
			continue;
		case 'v':
			o->libbpf_verbose = true;
			continue;
		case 'h':
			usage(stdout);
			exit(0);
		case OPT_STREAM:
			o->stream = true;
			continue;
		case OPT_LIST_CONTAINERS:
			o->list_containers = true;
			continue;
		case OPT_SAMPLE:
			if (parse_uint("--sample", optarg, 1, 1000000, &o->sample_rate))
				return -1;
			continue;
		case OPT_SAMPLE_RATE:
			if (parse_uint("--sample-rate", optarg, 1, 100000000, &o->rate_cap))
				return -1;
			continue;
		case OPT_SAMPLE_WINDOW:
			/* the cycle is checked below, with --sample's N */
			if (parse_uint("--sample-window", optarg, KRT_WINDOW_MIN_MS,
				       KRT_WINDOW_MAX_MS, &o->window_ms))
				return -1;
			continue;
		case OPT_RING_MB:
			if (parse_uint("--ring-mb", optarg, 1, 1024, &o->ring_mb))
				return -1;
			if (o->ring_mb & (o->ring_mb - 1)) {
				fprintf(stderr, PROG ": --ring-mb: %u is not a power of two\n",
					o->ring_mb);
				return -1;
			}
			continue;
		case OPT_DEBUG:
			if (parse_debug(optarg, o))
				return -1;
			continue;
		case OPT_GONE:
			gone_option(argv[optind - 1]);
			return -1;
		case OPT_NORMAL_PRIORITY:
			o->normal_priority = true;
			continue;
		case OPT_RULES:
			o->rules = true;
			continue;
		case OPT_NO_MERGE:
			o->no_merge = true;
			continue;
		case OPT_SYSCALL_HOOKS:
			o->syscall_hooks = true;
			continue;
		case OPT_GO_CHANNELS:
			o->go_channels = true;
			continue;
		case OPT_GO_EXECUTE:
			o->go_execute = true;
			continue;
		case OPT_GO_THREADS:
			o->go_threads = true;
			continue;
		case OPT_BPF_STATS:
			o->bpf_stats = true;
			continue;
		case OPT_IDLE_TIMEOUT:
			if (parse_uint("--idle-timeout", optarg, 0, 60000, &o->idle_s))
				return -1;
			continue;
		case OPT_RESCAN_MS:
			if (parse_uint("--rescan-ms", optarg, 0, 3600000, &o->rescan_ms))
				return -1;
			o->rescan_given = true;
			continue;
		case OPT_TCP_OPTION_CGROUP:
			o->tcpopt_cgroup = optarg;
			continue;
		case OPT_PEERS: {
			char err[160];

			if (krt_peers_add_list(&o->peers, optarg, err, sizeof(err))) {
				fprintf(stderr, PROG ": --peers: %s\n", err);
				return -1;
			}
			continue;
		}
		case '?':
			fprintf(stderr, "Try '" PROG " --help'.\n");
			return -1;
		}
		r = krt_output_opt(&o->out, opt, optarg);
		if (r < 0)
			return -1;
		if (r == 0) {
			fprintf(stderr, PROG ": unexpected option\n");
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\nTry '" PROG " --help'.\n",
			argv[optind]);
		return -1;
	}
	if (o->tcpopt_cgroup && !o->peers.n) {
		fprintf(stderr, PROG ": --tcp-option-cgroup needs --peers (the option goes only to "
				     "peer hosts)\n");
		return -1;
	}
	if (krt_output_opts_check(&o->out, PROG))
		return -1;
	if (o->pids_path && o->rescan_given) {
		fprintf(stderr,
			PROG ": --rescan-ms paces the discovery, which -i replaces (with -i, "
			     "SIGHUP re-reads the PIDs file)\n");
		return -1;
	}
	if (o->go_threads && o->go_channels) {
		fprintf(stderr, PROG ": --go-threads puts no uprobe on Go programs, --go-channels "
				     "probes their channels: choose one\n");
		return -1;
	}
	if (o->peers.n && o->rules) {
		fprintf(stderr, PROG ": --peers needs the kernel's tags (not --rules)\n");
		return -1;
	}
	if (o->rules && (o->sample_rate > 1 || o->rate_cap || o->check_tags)) {
		fprintf(stderr, PROG ": --rules cannot be combined with --sample, --sample-rate or "
				     "--debug check-tags (they need the kernel's tags)\n");
		return -1;
	}
	if (o->window_ms) {
		char err[256];

		if (krt_window_check(o->sample_rate, o->window_ms, err, sizeof(err))) {
			fprintf(stderr, PROG ": %s\n", err);
			return -1;
		}
	}
	if (!o->have_gateway) {
		fprintf(stderr, PROG ": --gateway IP is required (the container network's "
				     "bridge address, e.g. 172.24.0.1)\nTry '" PROG " --help'.\n");
		return -1;
	}
	return 0;
}

/*
 * Privileges first: without them, container discovery cannot read other
 * users' /proc/PID/ns and found "0 container processes", which sent users
 * looking for the wrong fault. CAP_SYS_ADMIN covers both on kernels
 * before 5.8 (no CAP_BPF and CAP_PERFMON there).
 */
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#define CAP_SYS_ADMIN_BIT 21

static bool have_cap(const struct __user_cap_data_struct *d, int cap)
{
	return d[cap / 32].effective & (1u << (cap % 32));
}

static int check_privileges(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {0};

	if (syscall(SYS_capget, &h, d)) {
		fprintf(stderr, PROG ": cannot read this process's capabilities: %s\n",
			strerror(errno));
		return -1;
	}
	if ((have_cap(d, CAP_BPF) && have_cap(d, CAP_PERFMON)) || have_cap(d, CAP_SYS_ADMIN_BIT))
		return 0;
	fprintf(stderr,
		PROG ": needs root: CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) to load "
		     "the BPF programs and read the containers' namespaces; run it with sudo\n");
	return -1;
}

static void print_container_table(const struct krt_pids *pids, FILE *f)
{
	char ip[KRT_ADDR_STRLEN];
	size_t i;

	fprintf(f, PROG ": %zu container process(es) on the gateway's subnet:\n", pids->n);
	fprintf(f, "  %-8s %-24s %-16s %s\n", "PID", "CONTAINER", "IP", "ID");
	for (i = 0; i < pids->n; i++)
		fprintf(f, "  %-8u %-24s %-16s %.24s\n", pids->v[i].pid, pids->v[i].name,
			krt_ip_str(&pids->v[i].ip, ip, sizeof(ip)), pids->v[i].hash);
}

static int load_containers(const struct options *o, struct krt_pids *pids)
{
	char err[512];
	int found;

	if (o->pids_path) {
		if (krt_pids_load(pids, o->pids_path, err, sizeof(err))) {
			fprintf(stderr, PROG ": %s\n", err);
			return -1;
		}
		return 0;
	}
	found = krt_discover_containers(&o->gateway, NULL, pids, err, sizeof(err));
	if (found < 0) {
		char ip[KRT_ADDR_STRLEN];

		fprintf(stderr, PROG ": container discovery for gateway %s: %s\n",
			krt_ip_str(&o->gateway, ip, sizeof(ip)), err);
		return -1;
	}
	if (!o->list_containers)
		print_container_table(pids, stderr);
	return 0;
}

struct feed_ctx {
	struct krt_engine *engine;
	struct krt_seen seen; /* for a run that yields no trace */
	FILE *dump;	      /* --debug dump-events=FILE: every event, for debugging */
	FILE *record;	      /* --debug record-events=FILE: every event, binary */
};

static void dump_event(FILE *f, const struct krt_event *ev)
{
	fprintf(f, "%llu %s cpu=%u pid=%u tid=%u", (unsigned long long)ev->ts_ns,
		krt_event_type_name(ev->type), ev->cpu, ev->pid, ev->tid);
	switch (ev->type) {
	case KRT_EV_XFER:
		fprintf(f, " dir=%u bytes=%llu seq=%llu trace=%u flags=%#x fd=%d", ev->xfer.dir,
			(unsigned long long)ev->xfer.bytes, (unsigned long long)ev->xfer.seq,
			ev->xfer.trace_id, ev->xfer.flags, ev->xfer.fd);
		fprintf(f, " lport=%u rport=%u goid=%u", ev->xfer.tuple.local.port,
			ev->xfer.tuple.remote.port, ev->xfer.goid);
		break;
	case KRT_EV_WAKEUP:
		fprintf(f, " target=%u", ev->wakeup.target_tid);
		break;
	case KRT_EV_NOTIFY:
		fprintf(f, " dir=%u bytes=%llu chan=%#llx fd=%d", ev->notify.dir,
			(unsigned long long)ev->notify.bytes, (unsigned long long)ev->notify.chan,
			ev->notify.fd);
		break;
	case KRT_EV_CPU:
		fprintf(f, " oncpu=%llu runq=%llu trace=%u", (unsigned long long)ev->oncpu.oncpu_ns,
			(unsigned long long)ev->oncpu.runq_ns, ev->oncpu.trace_id);
		break;
	case KRT_EV_LOST:
		fprintf(f, " reason=%u val=%#llx", ev->lost.reason,
			(unsigned long long)ev->lost.count);
		break;
	case KRT_EV_SWITCH:
		fprintf(f, " prev=%u next=%u state=%lld", ev->sw.prev_tid, ev->sw.next_tid,
			(long long)ev->sw.prev_state);
		break;
	}
	fputc('\n', f);
}

static void feed_engine(const struct krt_event *ev, void *ctx)
{
	struct feed_ctx *f = ctx;

	if (f->dump)
		dump_event(f->dump, ev);
	if (f->record)
		fwrite(ev, sizeof(*ev), 1, f->record);
	krt_seen_event(&f->seen, ev);
	krt_engine_feed(f->engine, ev);
}

struct stream_ctx {
	struct krt_outputs *outs;
	bool flush;
};

static void on_trace(const struct krt_trace *t, void *ctx)
{
	struct stream_ctx *s = ctx;

	krt_outputs_on_trace(t, s->outs);
	if (s->flush)
		fflush(s->outs->main_out);
}

/*
 * The consumer (ring reading, engine, writers) competes for the CPUs with
 * the traced workload: at normal priority it cost the test bed's chain
 * about 5 % of its throughput, at SCHED_IDLE less (it runs in the idle
 * time the workload leaves). A busy machine would starve it and fill the
 * ring, so a watchdog thread at normal priority, which only sleeps and
 * counts, raises the reader to normal priority while the unread backlog
 * passes a quarter of the ring, and lowers it again below a sixteenth.
 */
struct consumer_priority {
	struct krt_live_source *src;
	pid_t reader_tid;
	bool idle;
	__u64 high_mark, low_mark; /* unread records */
	bool calm_checks;	   /* the ring allows CALM_CHECK_MS while the reader keeps up */
	pthread_t thread;
	bool running;
	volatile bool stop;
};

/* the ring holds about half a second at the test bed's top rate */
#define PRIORITY_CHECK_MS 20
/*
 * While the reader keeps up (backlog under the low mark), a check every
 * 100 ms: each wake-up of the watchdog cost ~28 us of CPU here (a timer,
 * two context switches), 50 a second were 2.8 us per request of asgi's
 * ~20 (schedstat per thread). Only for a ring where a reader starved
 * right after a calm check, at TOP_RECORDS_PER_S, is seen over the high
 * mark before the ring is half full (the 8 MiB default: at most 9840 of
 * 37449 records at the next check, then checks every PRIORITY_CHECK_MS).
 */
#define CALM_CHECK_MS 100
#define TOP_RECORDS_PER_S 75000

static int reader_set_idle(struct consumer_priority *p, bool idle)
{
	struct sched_param sp = {0};

	if (sched_setscheduler(p->reader_tid, idle ? SCHED_IDLE : SCHED_OTHER, &sp)) {
		fprintf(stderr, PROG ": cannot set the reader's %s priority: %s\n",
			idle ? "idle" : "normal", strerror(errno));
		return -1;
	}
	p->idle = idle;
	return 0;
}

static void *priority_watchdog(void *arg)
{
	struct consumer_priority *p = arg;
	struct timespec tick = {0, 0};

	while (!p->stop) {
		__u64 backlog = krt_live_backlog(p->src);
		bool calm = p->calm_checks && p->idle && backlog < p->low_mark;

		if (p->idle && backlog > p->high_mark) {
			if (reader_set_idle(p, false))
				break;
		} else if (!p->idle && backlog < p->low_mark) {
			if (reader_set_idle(p, true))
				break;
		}
		tick.tv_nsec = (calm ? CALM_CHECK_MS : PRIORITY_CHECK_MS) * 1000000L;
		nanosleep(&tick, NULL);
	}
	return NULL;
}

static void consumer_priority_stop(struct consumer_priority *p)
{
	if (!p->running)
		return;
	p->stop = true;
	pthread_join(p->thread, NULL);
	p->running = false;
	if (p->idle)
		reader_set_idle(p, false);
}

/* Starts idle priority with its watchdog; on any failure the reader stays normal. */
static void consumer_priority_start(struct consumer_priority *p, struct krt_live_source *src,
				    unsigned int ring_bytes)
{
	int err;

	p->src = src;
	p->reader_tid = gettid();
	p->high_mark = ring_bytes / (sizeof(struct krt_event) + 8) / 4;
	p->low_mark = p->high_mark / 4;
	p->calm_checks =
	    p->low_mark + (__u64)TOP_RECORDS_PER_S * CALM_CHECK_MS / 1000 <= 2 * p->high_mark;
	/* created while the reader is normal: it inherits the normal policy */
	err = pthread_create(&p->thread, NULL, priority_watchdog, p);
	if (err) {
		fprintf(stderr, PROG ": cannot start the priority watchdog: %s\n", strerror(err));
		return;
	}
	/* its first check, backlog empty, lowers the reader to idle */
	p->running = true;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

/*
 * --sample-window: the phase machine (src/sample_window.c) acting on the
 * live source. The kernel's admission follows the phases (NONE in the
 * warm-up and the drain: every new request hidden; ALL while open); at
 * CLOSED the hot hooks are detached, every event up to then delivered and
 * the engine told to forget every request (KRT_EV_PAUSE); the cycle's end
 * attaches them again.
 */
struct window_driver {
	struct krt_window w;
	bool on;
	bool verbose;	       /* -v: each phase change on stderr */
	__u64 late_max;	       /* ns: the latest a phase change came after its time */
	__u64 pause_max;       /* ns: the longest a pause took (detach, drain, forget) */
	__u64 resume_max;      /* ns: the longest a resume took (attach) */
	__u64 open_ns, run_ns; /* at the end: time open, the run's time */
	/*
	 * The process's CPU (every thread: the reader, the Go probes'
	 * detacher) by phase, the pauses and resumes apart (-v): where
	 * windowed sampling's CPU goes.
	 */
	__u64 cpu_mark;			     /* CPU ns at the last phase change */
	__u64 phase_cpu[KRT_WIN_CLOSED + 1]; /* in each phase, its change's work not in it */
	__u64 pause_cpu, resume_cpu;	     /* in the pauses (detach, drain, forget), resumes */
	__u64 closed_polls; /* the reader's polls while CLOSED (window_timeout_ms) */
};

static __u64 process_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts))
		return 0;
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

/* The first warm-up begins: the hooks just attached (admission NONE before). */
static void window_start(struct window_driver *d, struct krt_live_source *src, __u32 n, __u32 ms,
			 bool verbose)
{
	/* the pauses' tables mapped now, with the loading (live_source.h) */
	(void)krt_live_map_tables(src);
	d->on = true;
	d->verbose = verbose;
	krt_window_init(&d->w, n, ms, now_ns());
	d->cpu_mark = process_cpu_ns();
	if (verbose)
		fprintf(stderr, PROG ": window 1: warm-up at 0.000 s\n");
}

/*
 * Acts on every phase change due now, in order. -1 when the source could
 * not detach or attach the hooks again: the run ends (its traces out).
 */
static int window_step(struct window_driver *d, struct krt_live_source *src, struct feed_ctx *fctx)
{
	enum krt_window_phase p;
	__u64 now = now_ns();

	/* a warm-up waits for the pools' rules to be in step (sample_window.h) */
	if (d->w.phase == KRT_WIN_WARM)
		krt_window_settled(&d->w, krt_engine_settled(fctx->engine));
	while ((p = krt_window_next(&d->w, now)) != d->w.phase) {
		__u64 late = now - krt_window_due(&d->w), took = 0, held = d->w.held;
		__u64 cpu = process_cpu_ns(), cpu_phase = cpu - d->cpu_mark, cpu_change;
		int err = 0;

		d->phase_cpu[d->w.phase] += cpu_phase;
		switch (p) {
		case KRT_WIN_OPEN:
			krt_live_set_phase(src, KRT_PHASE_ALL);
			break;
		case KRT_WIN_DRAIN:
			krt_live_set_phase(src, KRT_PHASE_NONE);
			break;
		case KRT_WIN_CLOSED:
			err = krt_live_pause(src, feed_engine, fctx);
			took = now_ns() - now;
			if (took > d->pause_max)
				d->pause_max = took;
			break;
		case KRT_WIN_WARM:
			err = krt_live_resume(src);
			took = now_ns() - now;
			if (took > d->resume_max)
				d->resume_max = took;
			/* the warm-up counts from the hooks' return: it is whole */
			now += took;
			break;
		}
		/* a Go probe not attached again is said (its goroutines by thread): on */
		if (err && (p == KRT_WIN_CLOSED || krt_live_paused(src))) {
			fprintf(stderr,
				PROG ": windowed sampling: cannot %s the hooks: %s; the run ends "
				     "here\n",
				p == KRT_WIN_CLOSED ? "detach" : "attach again", strerror(-err));
			return -1;
		}
		d->cpu_mark = process_cpu_ns();
		cpu_change = d->cpu_mark - cpu;
		if (p == KRT_WIN_CLOSED)
			d->pause_cpu += cpu_change;
		else if (p == KRT_WIN_WARM)
			d->resume_cpu += cpu_change;
		else
			d->phase_cpu[p] += cpu_change;
		krt_window_enter(&d->w, p, now);
		/* a warm-up that waited for the pools was not late */
		if (d->w.held != held)
			late = 0;
		if (late > d->late_max)
			d->late_max = late;
		if (d->verbose) {
			char how[64] = "";

			if (p == KRT_WIN_CLOSED || p == KRT_WIN_WARM)
				snprintf(how, sizeof(how), ", %s %.1f ms, CPU %.2f ms",
					 p == KRT_WIN_CLOSED ? "pause" : "resume", took / 1e6,
					 cpu_change / 1e6);
			else if (d->w.held != held)
				snprintf(how, sizeof(how),
					 ", the warm-up waited %.1f ms for the pools",
					 (now - d->w.cycle_start) / 1e6 - KRT_WINDOW_WARM_MS);
			fprintf(stderr,
				PROG ": window %llu: %s at %.3f s (%.1f ms late%s; CPU %.2f ms in "
				     "the %s)\n",
				(unsigned long long)(d->w.windows + (p == KRT_WIN_WARM)),
				krt_window_phase_name(p), (now - d->w.start) / 1e9, late / 1e6, how,
				cpu_phase / 1e6,
				krt_window_phase_name(p == KRT_WIN_WARM ? KRT_WIN_CLOSED : p - 1));
		}
	}
	return 0;
}

/*
 * The poll's timeout: at most max_ms, and woken for the next phase change;
 * while the hooks are detached, up to idle_ms (sample_window.h).
 */
static int window_timeout_ms(struct window_driver *d, int max_ms, int idle_ms)
{
	if (!d->on)
		return max_ms;
	d->closed_polls += d->w.phase == KRT_WIN_CLOSED;
	return krt_window_poll_ms(&d->w, now_ns(), max_ms, idle_ms);
}

/* Milliseconds from now to t (seconds, now_s's clock), rounded up: at least 0. */
static int ms_until(double t, double now)
{
	return t > now ? (int)((t - now) * 1000 + 0.999) : 0;
}

static int trace_containers(struct krt_live_source *src, const struct krt_pids *pids)
{
	size_t i, traced = 0;

	for (i = 0; i < pids->n; i++) {
		int err = krt_live_trace_tree(src, pids->v[i].pid);

		if (err == -ENOENT || err == -ESRCH || kill(pids->v[i].pid, 0)) {
			fprintf(stderr, PROG ": warning: PID %u (%s) does not exist; skipped\n",
				pids->v[i].pid, pids->v[i].name);
			continue;
		}
		if (err) {
			fprintf(stderr, PROG ": cannot trace PID %u: %s\n", pids->v[i].pid,
				strerror(-err));
			return -1;
		}
		traced++;
		/* sends to its address may wait in the kernel for their receiver */
		if (pids->v[i].ip.family) {
			err = krt_live_add_peer(src, &pids->v[i].ip);
			if (err)
				fprintf(stderr,
					PROG ": warning: %s: its address not registered: %s "
					     "(its hops take two records)\n",
					pids->v[i].name, strerror(-err));
		}
	}
	if (!traced) {
		fprintf(stderr,
			PROG ": none of the %zu listed processes exists: nothing to trace\n",
			pids->n);
		return -1;
	}
	return 0;
}

/*
 * Go programs among the traced processes: their goroutines share a few
 * threads and move between them, so attribution by thread mixes their
 * requests; the goroutines of each one whose binary tells enough (symbols,
 * runtime.g's layout, register ABI) are followed with uprobes on its
 * runtime. Each Go process is named with what is done for it. Only the
 * entries from `from` on are looked at: the re-scan and SIGHUP append the
 * processes they found, which get their uprobes the same way. Returns the
 * number attributed by thread only.
 */
static bool go_channels; /* --go-channels */
static bool go_execute;	 /* --go-execute */

/* The probes that see wake-ups (src/live_source.c, go_probe_offset). */
static const char *go_wake_probes(const struct krt_go_info *gi)
{
	if (gi->chans)
		return "chansend, chanrecv, selectgo";
	if (gi->tls_g_known && gi->funcs[KRT_GO_SEND].found && gi->funcs[KRT_GO_RECV].found)
		return "send, recv";
	return gi->tls_g_known && gi->funcs[KRT_GO_GOREADY].found ? "goready" : "ready";
}

static size_t follow_go_processes(struct krt_live_source *src, const struct krt_pids *pids,
				  size_t from, const char *by_thread_why, __u64 *followed)
{
	size_t i, by_thread = 0;

	for (i = from; i < pids->n; i++) {
		struct krt_go_info gi;
		char err[256], comm[64] = "?", path[64];
		FILE *f;
		int rc = 0;

		if (krt_go_inspect_pid("/proc", (int)pids->v[i].pid, &gi, err, sizeof(err)) ||
		    !gi.is_go)
			continue;
		snprintf(path, sizeof(path), "/proc/%u/comm", pids->v[i].pid);
		f = fopen(path, "r");
		if (f) {
			if (fgets(comm, sizeof(comm), f))
				comm[strcspn(comm, "\n")] = 0;
			fclose(f);
		}
		if (gi.usable && by_thread_why) {
			snprintf(gi.why, sizeof(gi.why), "%s", by_thread_why);
			gi.usable = false;
		}
		if (!go_channels)
			gi.chans = false;
		/*
		 * runtime.execute probed (krt_live_follow_go): asked for, or with
		 * the channel probes, whose rules were measured with it (lazy,
		 * go-fanout fell to 91 % in one go_services.sh run), or with the
		 * syscall hooks (krt_live_follow_go: no lazy switches there)
		 */
		if (go_execute || go_channels || krt_live_syscall_hooks(src))
			gi.tls_g_known = false;
		if (gi.usable)
			rc = krt_live_follow_go(src, pids->v[i].pid, &gi);
		if (gi.usable && !rc) {
			fprintf(
			    stderr,
			    PROG ": %s/%s[%u] is a Go program (%s): its goroutines are "
				 "followed (uprobes on runtime.%sgostartcallfn, %s; goid at "
				 "runtime.g+%d from %s)\n",
			    pids->v[i].name, comm, pids->v[i].pid, gi.version,
			    gi.tls_g_known ? "" : "execute, ", go_wake_probes(&gi), gi.goid_offset,
			    gi.goid_from == KRT_GO_OFFSET_DWARF ? "DWARF" : "the version table");
			(*followed)++;
			continue;
		}
		by_thread++;
		if (gi.usable)
			snprintf(gi.why, sizeof(gi.why), "uprobes not attached: %s", strerror(-rc));
		fprintf(stderr,
			PROG ": WARNING: %s/%s[%u] is a Go program (%s) attributed by "
			     "thread, its requests may be mixed: %s\n",
			pids->v[i].name, comm, pids->v[i].pid,
			gi.version[0] ? gi.version : "version unknown", gi.why);
	}
	return by_thread;
}

static void report_tags(struct krt_live_source *src, __u32 sample_rate, __u32 rate_cap,
			__u32 window_ms, bool verbose)
{
	struct krt_live_tag_stats ts;
	char how[96];

	krt_live_tag_stats(src, &ts);
	if (window_ms && rate_cap)
		snprintf(how, sizeof(how),
			 "by windows of %u ms every %llu ms, at most %u per second", window_ms,
			 (unsigned long long)sample_rate * window_ms, rate_cap);
	else if (window_ms)
		snprintf(how, sizeof(how), "by windows of %u ms every %llu ms", window_ms,
			 (unsigned long long)sample_rate * window_ms);
	else if (sample_rate > 1 && rate_cap)
		snprintf(how, sizeof(how), "1 in %u, at most %u per second", sample_rate, rate_cap);
	else if (rate_cap)
		snprintf(how, sizeof(how), "at most %u per second", rate_cap);
	else
		snprintf(how, sizeof(how), "1 in %u", sample_rate);
	if (sample_rate > 1 || rate_cap)
		fprintf(stderr,
			PROG ": sampling %s: %llu of %llu requests traced, "
			     "%llu records of unsampled requests not emitted\n",
			how, (unsigned long long)ts.traces_sampled,
			(unsigned long long)ts.traces_started,
			(unsigned long long)ts.sampled_out_records);
	if (rate_cap)
		fprintf(stderr, PROG ": sampling: %llu requests over the rate cap not traced\n",
			(unsigned long long)ts.traces_capped);
	if (verbose && (ts.hops_merged || ts.sends_flushed))
		fprintf(stderr,
			PROG ": %llu hops in one record each, %llu sends to traced "
			     "containers emitted on their own\n",
			(unsigned long long)ts.hops_merged, (unsigned long long)ts.sends_flushed);
	if (verbose)
		fprintf(stderr,
			PROG ": kernel state tables: %llu states past their first slot; "
			     "%llu CPU times carried in receive records; %llu runs partly "
			     "unseen (a switch not traced; timed by the kernel's count)\n",
			(unsigned long long)ts.slot_probed, (unsigned long long)ts.cpu_carried,
			(unsigned long long)ts.runs_unseen);
	/* states not kept (slot_full): the summary's map_full, in the loss warning */
	if (ts.slot_busy)
		fprintf(stderr,
			PROG ": WARNING: %llu transfers or switches went without their "
			     "state (another CPU was still creating it): decided by the rules\n",
			(unsigned long long)ts.slot_busy);
}

/* --sample-window: the windows opened, the time open of the run's time (the summary's too). */
static void report_windows(const struct window_driver *d, bool verbose)
{
	fprintf(stderr, PROG ": sampling windows: %llu opened, open %.3f s of %.3f s (%.1f %%)\n",
		(unsigned long long)d->w.windows, d->open_ns / 1e9, d->run_ns / 1e9,
		d->run_ns ? 100.0 * d->open_ns / d->run_ns : 0.0);
	if (verbose)
		fprintf(stderr,
			PROG
			": sampling windows: phase changes at most %.1f ms late; a pause took "
			"at most %.1f ms, a resume %.1f ms; %llu warm-ups waited for the pools' "
			"rules to be in step, at most %.1f ms\n",
			d->late_max / 1e6, d->pause_max / 1e6, d->resume_max / 1e6,
			(unsigned long long)d->w.held, d->w.held_max / 1e6);
	if (verbose)
		fprintf(stderr,
			PROG ": sampling windows: CPU %.1f ms warming up, %.1f open, %.1f "
			     "draining, %.1f closed (%llu polls), %.1f in pauses, %.1f in "
			     "resumes\n",
			d->phase_cpu[KRT_WIN_WARM] / 1e6, d->phase_cpu[KRT_WIN_OPEN] / 1e6,
			d->phase_cpu[KRT_WIN_DRAIN] / 1e6, d->phase_cpu[KRT_WIN_CLOSED] / 1e6,
			(unsigned long long)d->closed_polls, d->pause_cpu / 1e6,
			d->resume_cpu / 1e6);
}

/* Occupancy of the kernel's state tables (-v) and the states aged out (always). */
static void report_tables(struct krt_live_source *src, unsigned int idle_s, bool verbose)
{
	struct krt_live_table_stats ts;
	__u64 reclaimed = 0;
	int t;

	krt_live_table_stats(src, &ts);
	for (t = 0; t < KRT_TABLES; t++)
		reclaimed += ts.reclaimed[t];
	if (verbose && ts.sweeps) {
		fprintf(stderr, PROG ": kernel state tables (held at the end, peak, slots):");
		for (t = 0; t < KRT_TABLES; t++)
			fprintf(stderr, "%s %s %llu, %llu, %llu", t ? ";" : "", ts.name[t],
				(unsigned long long)ts.held[t], (unsigned long long)ts.peak[t],
				(unsigned long long)ts.slots[t]);
		fputc('\n', stderr);
	}
	if (reclaimed)
		fprintf(stderr,
			PROG
			": %llu kernel states untouched for %u s reclaimed (threads "
			"%llu, connections %llu, directions %llu): closes or exits never seen\n",
			(unsigned long long)reclaimed, idle_s,
			(unsigned long long)ts.reclaimed[KRT_TABLE_THREADS],
			(unsigned long long)ts.reclaimed[KRT_TABLE_CONNS],
			(unsigned long long)ts.reclaimed[KRT_TABLE_DIRS]);
}

/* Sampling 1 in N may keep none of fewer than N requests: no trace is then right. */
static bool nothing_expected(struct krt_live_source *src, const struct options *o)
{
	struct krt_live_tag_stats ts;

	if (o->sample_rate <= 1 || o->rules)
		return false;
	krt_live_tag_stats(src, &ts);
	return ts.traces_started > 0;
}

/* --tcp-option-cgroup: what crossed in the option, both ways. */
static void report_tcp_option(struct krt_live_source *src)
{
	struct krt_tcpopt_stats st;

	krt_live_tcpopt_stats(src, &st);
	fprintf(stderr,
		PROG ": TCP option: %llu connection(s) to or from peer hosts, %llu data "
		     "segment(s) sent with it (%llu without room), %llu received with it; %llu "
		     "request(s) from peer hosts continued their trace, %llu did not (no option)\n",
		(unsigned long long)st.sockets, (unsigned long long)st.written,
		(unsigned long long)st.no_room, (unsigned long long)st.parsed,
		(unsigned long long)st.continued, (unsigned long long)st.not_continued);
}

/*
 * krtrace-bpf --go-uprobe-events PID...: for utils/krtrace-capture, the
 * uprobe_events lines that record the goroutines of the Go binaries among
 * the PIDs (each binary once, after a "binary PATH" line; the definitions
 * name it as /proc/PID/exe, which a container's binary is found by); a Go binary that
 * cannot be followed is named on stderr, and its threads are imported by
 * thread. Loads nothing.
 */
static int print_go_uprobe_events(int argc, char **argv)
{
	char(*seen)[PATH_MAX] = calloc((size_t)argc, PATH_MAX);
	int n_seen = 0;

	if (!seen)
		return 1;
	for (int i = 2; i < argc; i++) {
		char link[64], path[PATH_MAX], err[256], why[256];
		struct krt_go_info info;
		ssize_t len;
		char *end;
		long pid = strtol(argv[i], &end, 10);
		bool dup = false;

		if (*end || pid <= 0) {
			fprintf(stderr, "krtrace-bpf: --go-uprobe-events: bad PID '%s'\n", argv[i]);
			free(seen);
			return 2;
		}
		snprintf(link, sizeof(link), "/proc/%ld/exe", pid);
		len = readlink(link, path, sizeof(path) - 1);
		if (len <= 0)
			continue; /* gone, or a kernel thread */
		path[len] = 0;
		for (int k = 0; k < n_seen; k++)
			dup = dup || !strcmp(seen[k], path);
		if (dup)
			continue;
		snprintf(seen[n_seen++], PATH_MAX, "%s", path);
		if (krt_go_inspect_pid(NULL, (int)pid, &info, err, sizeof(err))) {
			fprintf(stderr, "krtrace-bpf: process %ld: %s\n", pid, err);
			continue;
		}
		if (!info.is_go)
			continue;
		printf("binary %s\n", path);
		/* the kernel opens it through the process: its mount namespace's file */
		if (krt_go_uprobe_lines(link, &info, stdout, why, sizeof(why)))
			fprintf(stderr,
				"krtrace-bpf: process %ld (%s, %s): goroutines not followed, "
				"attributed by thread: %s\n",
				pid, path, info.version[0] ? info.version : "Go", why);
	}
	free(seen);
	return fflush(stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct options o = {.rescan_ms = 500, .idle_s = DEFAULT_IDLE_S};
	struct krt_pids pids = {0};
	struct krt_outputs outs;
	struct krt_engine_config cfg = {0};
	struct krt_engine *engine = NULL;
	struct krt_live_source *src = NULL;
	struct krt_live_opts lo = {0};
	struct krt_summary *summary;
	struct stream_ctx sctx;
	struct feed_ctx fctx;
	struct consumer_priority prio = {0};
	struct window_driver win = {0};
	__u64 go_followed = 0;
	size_t go_by_thread = 0, n_before;
	const char *go_why;
	struct sigaction sa = {.sa_handler = on_signal};
	struct sigaction su = {.sa_handler = on_usr1};
	struct sigaction sh = {.sa_handler = on_hup};
	struct krt_follow_stats follow = {0};
	double next_rescan = 0, next_sweep = 0, sweep_s, next_out_flush = 0;
	unsigned int counters_n = 0;
	int stats_fd = -1;
	bool outs_open = false;
	double deadline = 0, last_event;
	bool unflushed = false, produced_nothing, window_failed = false;
	int ret = 1, n, idle_ms = POLL_INTERVAL_MS;

	if (argc >= 2 && !strcmp(argv[1], "--go-uprobe-events"))
		return print_go_uprobe_events(argc, argv);
	if (parse_options(argc, argv, &o))
		return 2;
	if (check_privileges())
		return 1;
	o.out.inputs[0] = o.pids_path;
	o.out.main_in_place = o.stream;
	/* From here a Ctrl-C ends the run cleanly, even during load and attach. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&su.sa_mask);
	sigaction(SIGUSR1, &su, NULL);
	reload_on_hup = o.pids_path != NULL;
	sigemptyset(&sh.sa_mask);
	sigaction(SIGHUP, &sh, NULL);
	if (!o.verifier_stats && load_containers(&o, &pids))
		goto cleanup;
	if (o.list_containers) {
		krt_pids_write(&pids, stdout);
		ret = 0;
		goto cleanup;
	}
	/* the verifier's counts need no container: nothing is traced */
	if (!pids.n && !o.verifier_stats) {
		char ip[KRT_ADDR_STRLEN];

		fprintf(stderr,
			PROG ": no container process found on the subnet of gateway %s "
			     "(use -i PIDS to name them)\n",
			krt_ip_str(&o.gateway, ip, sizeof(ip)));
		goto cleanup;
	}

	lo.gateway = o.gateway;
	lo.sample_rate = o.sample_rate;
	lo.rate_cap = o.rate_cap;
	lo.libbpf_debug = o.libbpf_verbose;
	lo.trace_switch = true;
	lo.trace_wakeup = true;
	lo.ring_bytes = o.ring_kb ? o.ring_kb << 10 : o.ring_mb << 20;
	lo.state_slots = o.state_slots;
	/* 0 is the default's: a window of 0 is one nanosecond */
	if (o.have_reorder_us)
		lo.reorder_ns = o.reorder_us ? (__u64)o.reorder_us * 1000 : 1;
	/*
	 * By default the kernel decides: trace ids travel with the bytes, on-CPU
	 * time is summed per thread and request, and a send to a traced
	 * container rides in its receiver's record. Where the kernel can only
	 * guess (a pool worker woken through a queue), the thread's records go
	 * out untagged with its context switches and the engine's rules decide.
	 * --debug check-tags keeps every switch record so the rules can check all of it.
	 */
	lo.kernel_tags = !o.rules;
	lo.cpu_in_kernel = !o.rules && !o.check_tags;
	lo.merge_hops = !o.rules && !o.no_merge;
	lo.syscall_hooks = o.syscall_hooks;
	lo.empty_hooks = o.empty_hooks;
	lo.prefilter_hooks = o.prefilter_hooks;
	lo.sched_unbatched = o.unbatched;
	lo.slow_reader_us = o.slow_reader_us;
	lo.peers = &o.peers;
	lo.tcpopt_cgroup = o.tcpopt_cgroup;
	lo.verifier_stats = o.verifier_stats ? stdout : NULL;
	src = krt_live_open(&lo, PROG);
	if (!src || o.verifier_stats) {
		ret = src ? 0 : 1;
		goto cleanup;
	}
	if (trace_containers(src, &pids))
		goto cleanup;
	go_why = o.go_threads	     ? "goroutines not followed (--go-threads)"
		 : o.rules	     ? "goroutines not followed with --rules"
		 : o.empty_hooks     ? "goroutines not followed with --debug empty-hooks"
		 : o.prefilter_hooks ? "goroutines not followed with --debug prefilter-hooks"
				     : NULL;
	go_channels = o.go_channels;
	go_execute = o.go_execute;
	go_by_thread = follow_go_processes(src, &pids, 0, go_why, &go_followed);

	if (krt_outputs_open(&outs, &o.out, PROG))
		goto cleanup;
	outs_open = true;
	sctx.outs = &outs;
	sctx.flush = o.stream;
	cfg.gateway = o.gateway;
	cfg.gateway.port = 0;
	cfg.pids = &pids;
	cfg.verbose = outs.verbose_out;
	cfg.color = outs.color;
	/* Complete traces leave memory as they finish, so long runs stay flat. */
	cfg.linger_ns = o.stream ? STREAM_LINGER_NS : BATCH_LINGER_NS;
	cfg.keep_slices = outs.need_slices;
	cfg.use_kernel_tags = lo.kernel_tags;
	cfg.peers = o.peers.n ? &o.peers : NULL;
	cfg.check_kernel_tags = o.check_tags;
	cfg.cpu_from_switches = !lo.cpu_in_kernel;
	cfg.on_trace = on_trace;
	cfg.cb_ctx = &sctx;
	engine = krt_engine_new(&cfg);
	if (!engine) {
		fprintf(stderr, PROG ": cannot create the engine: out of memory\n");
		goto cleanup;
	}
	fctx.engine = engine;
	fctx.dump = NULL;
	fctx.record = NULL;
	krt_seen_init(&fctx.seen, &pids, false);
	if (o.dump_path) {
		fctx.dump = fopen(o.dump_path, "w");
		if (!fctx.dump)
			fprintf(stderr, PROG ": --debug dump-events: %s: %s\n", o.dump_path,
				strerror(errno));
	}
	if (o.record_path) {
		struct krt_event_record_header h = {.event_size = sizeof(struct krt_event)};

		memcpy(h.magic, KRT_EVENT_RECORD_MAGIC, sizeof(h.magic));
		fctx.record = fopen(o.record_path, "w");
		if (!fctx.record || fwrite(&h, sizeof(h), 1, fctx.record) != 1)
			fprintf(stderr, PROG ": --debug record-events: %s: %s\n", o.record_path,
				strerror(errno));
	}

	/*
	 * Run-time statistics held by a file descriptor: counted while it is
	 * open, whatever others do with the sysctl meanwhile.
	 */
	if (o.bpf_stats) {
		stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (stats_fd < 0)
			fprintf(stderr,
				PROG ": --bpf-stats: cannot enable BPF statistics: %s "
				     "(run time not counted)\n",
				strerror(errno));
	}
	/* the load set RULE (0): no request of the first warm-up may be sampled */
	if (o.window_ms)
		krt_live_set_phase(src, KRT_PHASE_NONE);
	if (krt_live_attach(src, PROG))
		goto cleanup;
	if (o.window_ms)
		window_start(&win, src, o.sample_rate, o.window_ms, o.libbpf_verbose);
	if (o.duration > 0)
		deadline = now_s() + o.duration;
	krt_live_stop_at(src, &stop_requested, o.duration > 0 ? o.duration : 0);
	fprintf(stderr, PROG ": tracing %zu process(es)%s%s; Ctrl-C to stop\n", pids.n,
		o.duration > 0 ? " for the given duration" : "",
		o.empty_hooks		      ? " (empty hooks: nothing is traced)"
		: o.prefilter_hooks	      ? " (prefilter hooks: nothing is traced)"
		: krt_live_syscall_hooks(src) ? " (transfers read at syscall exit)"
					      : "");

	if (stop_requested)
		fprintf(stderr, PROG ": stopped before tracing began\n");
	/*
	 * Windowed sampling's phase changes are the reader's: at idle priority
	 * a loaded machine delayed them by up to 60 ms (a window of 50 ms
	 * open 110); the reader has little to do between windows anyway.
	 */
	if (!o.normal_priority && !win.on)
		consumer_priority_start(&prio, src,
					lo.ring_bytes ? lo.ring_bytes : DEFAULT_RING_BYTES);
	last_event = now_s();
	/* a few sweeps per idle time: a state goes at most a quarter late */
	sweep_s = o.idle_s ? o.idle_s / 4.0 : MAX_SWEEP_S;
	if (sweep_s > MAX_SWEEP_S)
		sweep_s = MAX_SWEEP_S;
	if (sweep_s < 1)
		sweep_s = 1;
	next_sweep = now_s() + sweep_s;
	while (!stop_requested && (!deadline || now_s() < deadline)) {
		if (counters_requested) {
			counters_requested = 0;
			krt_live_print_counters(src, stderr, PROG, ++counters_n);
		}
		if (reload_requested) {
			reload_requested = 0;
			n_before = pids.n;
			krt_follow_reload(src, &pids, o.pids_path, stderr, PROG, &follow);
			if (pids.n > n_before)
				go_by_thread +=
				    follow_go_processes(src, &pids, n_before, go_why, &go_followed);
		}
		krt_live_tick(src);
		/* stdout is fully buffered (cli_common.c): a pipe's reader sees each second's
		 * traces */
		if (outs.main_out == stdout && now_s() >= next_out_flush) {
			fflush(stdout);
			next_out_flush = now_s() + 1;
		}
		if (now_s() >= next_sweep) {
			krt_live_sweep(src, o.idle_s);
			next_sweep = now_s() + sweep_s;
		}
		/* containers that came after the start: within a re-scan period */
		if (!o.pids_path && o.rescan_ms && now_s() >= next_rescan) {
			n_before = pids.n;
			krt_follow_rescan(src, &pids, &o.gateway, stderr, PROG, &follow);
			/* a (re)started Go service: its goroutines too, not by thread */
			if (pids.n > n_before)
				go_by_thread +=
				    follow_go_processes(src, &pids, n_before, go_why, &go_followed);
			next_rescan = now_s() + o.rescan_ms / 1000.0;
		}
		if (win.on && window_step(&win, src, &fctx)) {
			window_failed = true;
			break;
		}
		if (win.on) {
			/* a closed window's sleep ends at the loop's next timer */
			double now = now_s();

			idle_ms = ms_until(next_sweep, now);
			if (!o.pids_path && o.rescan_ms && ms_until(next_rescan, now) < idle_ms)
				idle_ms = ms_until(next_rescan, now);
			if (deadline && ms_until(deadline, now) < idle_ms)
				idle_ms = ms_until(deadline, now);
			if (outs.main_out == stdout && ms_until(next_out_flush, now) < idle_ms)
				idle_ms = ms_until(next_out_flush, now);
			if (o.stream && unflushed &&
			    ms_until(last_event + 2.0 * STREAM_LINGER_NS / 1e9, now) < idle_ms)
				idle_ms = ms_until(last_event + 2.0 * STREAM_LINGER_NS / 1e9, now);
		}
		n = krt_live_poll(src, window_timeout_ms(&win, POLL_INTERVAL_MS, idle_ms),
				  feed_engine, &fctx);
		if (n == -EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, PROG ": reading the ring buffer: %s\n", strerror(-n));
			goto cleanup;
		}
		if (n > 0) {
			last_event = now_s();
			unflushed = true;
		} else if (o.stream && unflushed &&
			   now_s() - last_event > 2.0 * STREAM_LINGER_NS / 1e9) {
			/*
			 * The engine's linger runs on event time, which stops
			 * when the traced processes fall quiet: print what is
			 * open now rather than when the next request comes.
			 */
			krt_engine_flush(engine);
			unflushed = false;
		}
	}
	consumer_priority_stop(&prio);
	if (win.on) {
		__u64 end = now_ns();

		win.open_ns = krt_window_open_ns(&win.w, end);
		win.run_ns = end - win.w.start;
	}
	/*
	 * Nothing new after the end: with programs faster than the reader the
	 * ring would never be empty and the drain would not end.
	 */
	krt_live_detach(src);
	n = krt_live_drain(src, feed_engine, &fctx);
	if (n < 0)
		fprintf(stderr, PROG ": draining the ring buffer: %s\n", strerror(-n));
	krt_engine_flush(engine);
	if (fctx.dump)
		fclose(fctx.dump);
	if (fctx.record && fclose(fctx.record))
		fprintf(stderr, PROG ": --debug record-events: %s: %s\n", o.record_path,
			strerror(errno));

	summary = krt_engine_summary(engine);
	krt_live_sweep(src, 0); /* the occupancy at the end */
	krt_live_stats(src, &summary->source);
	summary->source.sample_rate = o.sample_rate;
	summary->source.go_followed = go_followed;
	summary->source.sample_rate_cap = o.rate_cap;
	if (o.rate_cap) {
		struct krt_live_tag_stats ts;

		krt_live_tag_stats(src, &ts);
		summary->source.traces_capped = ts.traces_capped;
	}
	summary->source.go_by_thread = go_by_thread;
	summary->source.sample_windows = win.w.windows;
	summary->source.sample_open_ns = win.open_ns;
	summary->source.sample_run_ns = win.run_ns;
	if (lo.kernel_tags)
		report_tags(src, o.sample_rate, o.rate_cap, o.window_ms, o.libbpf_verbose);
	if (win.on)
		report_windows(&win, o.libbpf_verbose);
	report_tables(src, o.idle_s, o.libbpf_verbose);
	if (o.tcpopt_cgroup)
		report_tcp_option(src);
	if (follow.added || follow.dropped || (o.libbpf_verbose && follow.rescans))
		fprintf(stderr,
			PROG ": containers followed: %llu process(es) traced after the "
			     "start, %llu exited one(s) dropped (%llu re-scans, %.1f ms)\n",
			(unsigned long long)follow.added, (unsigned long long)follow.dropped,
			(unsigned long long)follow.rescans, follow.rescan_ns / 1e6);
	if (o.libbpf_verbose || o.bpf_stats) {
		fprintf(stderr, PROG ": BPF programs (with --bpf-stats or sysctl "
				     "kernel.bpf_stats_enabled=1):\n");
		krt_live_print_prog_stats(src, stderr);
	}
	produced_nothing = !summary->traces && !nothing_expected(src, &o);
	if (produced_nothing) {
		/* the summary still goes out; the files of an earlier run stay */
		krt_seen_explain(&fctx.seen, stderr, PROG, &o.gateway);
		outs.discard = true;
	}
	outs_open = false;
	ret = krt_outputs_close(&outs, summary) ? 1 : 0;
	/* nothing at all happened in the traced processes: an idle run, not an error */
	if ((produced_nothing && summary->events) || window_failed)
		ret = 1;

cleanup:
	consumer_priority_stop(&prio);
	if (outs_open) {
		struct krt_summary empty = {0};

		krt_outputs_close(&outs, engine ? krt_engine_summary(engine) : &empty);
	}
	if (stats_fd >= 0)
		close(stats_fd);
	krt_live_close(src);
	if (engine)
		krt_engine_free(engine);
	krt_pids_free(&pids);
	return ret;
}
