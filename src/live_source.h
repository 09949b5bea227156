/*
 * The live event source: loads the BPF programs, keeps the set of traced
 * processes, and drains the ring buffer as normalised events in timestamp
 * order (a small reorder window smooths the per-CPU interleaving).
 */
#ifndef KRT_LIVE_SOURCE_H
#define KRT_LIVE_SOURCE_H

#include <stdio.h>
#include <signal.h>
#include <stdbool.h>
#include <linux/types.h>
#include "krtrace_event.h"
#include "krtrace_bpf.h"
#include "trace_data.h"
#include "go_binary.h"
#include "peers.h"

/* Go processes whose goroutines one source can follow. */
#define KRT_LIVE_MAX_GO 64

struct krt_live_source;

struct krt_live_opts {
	struct krt_addr gateway; /* family 0: none (tests) */
	__u32 sample_rate;	 /* 0/1 = every request */
	__u32 rate_cap;		 /* at most this many sampled requests per
				  * second (0 = no cap) */
	bool libbpf_debug;	 /* -v: libbpf's own messages on stderr */
	bool trace_switch;	 /* sched_switch records */
	bool trace_wakeup;	 /* sched_waking records */
	__u32 ring_bytes;	 /* 0 = default (8 MiB); a power of two */
	__u64 wakeup_bytes; /* 0 = default: wake the consumer every this much (rounded up to a power
			       of two) */
	__u64 reorder_ns;   /* 0 = default (20 ms) */
	bool kernel_tags;   /* decide trace ids in the kernel (needed to sample) */
	bool cpu_in_kernel; /* KRT_EV_CPU per (thread, trace), no switch records;
			     * needs kernel_tags */
	bool merge_hops;    /* one record per hop between traced peers;
			     * needs kernel_tags and cpu_in_kernel */
	bool syscall_hooks; /* read transfers at the exit of socket syscalls,
			     * the fallback for kernels before 6.3 (chosen
			     * by itself there) */
	bool empty_hooks;   /* benchmark floor: attached programs that
			     * return at once */
	bool prefilter_hooks;	       /* sampling's floor: transfer and scheduler
					* programs return after their traced test */
	const struct krt_peers *peers; /* --peers (NULL = none): IPv4 networks to the kernel */
	const char *tcpopt_cgroup;     /* cgroup v2 of the traced containers: write and parse
					* the trace-context TCP option on connections to
					* peers there (NULL = off; docs/hosts.md) */
	bool sched_unbatched;	       /* a record per switch and wake-up, not
					* batched per CPU (--debug unbatched) */
	__u32 slow_reader_us;	       /* tests: the reader sleeps this long per ring
					* record, slower than its producers */
	__u32 state_slots;	       /* tests: slots of each state table in use
					* (a power of two; 0 = all): fewer make
					* states probe past their first slot */
	FILE *verifier_stats;	       /* --debug verifier-stats: each loaded program's
					* "processed N insns" here (NULL = off) */
};

/* Kernel tagging and sampling counters. */
struct krt_live_tag_stats {
	__u64 traces_started;	   /* requests seen at the gateway door */
	__u64 traces_sampled;	   /* of which kept */
	__u64 traces_capped;	   /* of the rest: left out by the rate cap */
	__u64 sampled_out_records; /* records not emitted: unsampled requests */
	__u64 sampled_out_xfers;   /* of them, transfers */
	/* the kernel's state tables (threads, connections, directions) */
	__u64 slot_probed;   /* states put past their first slot */
	__u64 slot_full;     /* states not kept: every probed slot held
			      * (that thread or connection went untagged) */
	__u64 slot_busy;     /* hooks that went without a state another
			      * CPU was still filling after the wait */
	__u64 cpu_carried;   /* CPU times that rode in a receive's record */
	__u64 hops_merged;   /* receives that carried the send they read */
	__u64 sends_flushed; /* sends to a traced peer emitted on their own */
	__u64 sched_batches; /* ring records of a CPU's batched switches and wake-ups */
	__u64 sched_batched; /* the switch and wake-up events they carried */
	__u64 sched_notify;  /* of them, notifications (KRT_EV_NOTIFY) */
	/*
	 * runs the kernel counts longer than the hooks saw (a switch no
	 * tracepoint reported: bpf/cpu.bpf.h, run_reconcile)
	 */
	__u64 runs_unseen;
};

typedef void (*krt_live_event_cb)(const struct krt_event *ev, void *ctx);

/*
 * Checks the prerequisites (root, BTF, tracefs), opens, configures and
 * loads the programs. Prints a clear error naming what is missing and
 * returns NULL on failure.
 */
struct krt_live_source *krt_live_open(const struct krt_live_opts *o, const char *prog);
/* Per-program hits and ns/run (needs sysctl kernel.bpf_stats_enabled=1). */
void krt_live_print_prog_stats(struct krt_live_source *s, FILE *f);
/*
 * One numbered block of counters for benchmarks (records, requests, and per
 * program hits and run time): lines "PROG: counters N ...", ending with
 * "PROG: counters N end".
 */
void krt_live_print_counters(struct krt_live_source *s, FILE *f, const char *prog, unsigned int n);
/* A traced container's IP: sends to it wait for their receiver (merge_hops). */
int krt_live_add_peer(struct krt_live_source *s, const struct krt_addr *a);
/* Traces this process (tgid). 0 or -errno. */
int krt_live_trace_tgid(struct krt_live_source *s, __u32 tgid);
/* Traces this process and every existing descendant (walks /proc). */
int krt_live_trace_tree(struct krt_live_source *s, __u32 pid);
int krt_live_untrace_tgid(struct krt_live_source *s, __u32 tgid);
int krt_live_attach(struct krt_live_source *s, const char *prog);
/* Follow the goroutines of Go process pid (gi from krt_go_inspect_pid, usable). */
int krt_live_follow_go(struct krt_live_source *s, __u32 pid, const struct krt_go_info *gi);
/*
 * Waits up to timeout_ms, consumes what the ring holds, and hands every
 * event older than the reorder window to cb, in timestamp order.
 * Returns the number of events handed over, or -errno (-EINTR on a signal).
 */
int krt_live_poll(struct krt_live_source *s, int timeout_ms, krt_live_event_cb cb, void *ctx);
/* Consumes everything left and hands over every pending event. */
int krt_live_drain(struct krt_live_source *s, krt_live_event_cb cb, void *ctx);
/*
 * A poll's consume ends early (the poll returns -EINTR) once *stop is set
 * (stop may be NULL) or seconds have passed (0: never), so a reader slower
 * than the programs still ends on time; the drain then reads what is left.
 */
void krt_live_stop_at(struct krt_live_source *s, const volatile sig_atomic_t *stop, double seconds);
/* Detaches every program: nothing new reaches the ring (before the drain). */
void krt_live_detach(struct krt_live_source *s);
/*
 * Windowed sampling (--sample-window; the programs loaded with sampling
 * on, sample_rate >= 2): which new requests the gateway door samples from
 * now (enum krt_sample_phase in include/krtrace_bpf.h).
 */
void krt_live_set_phase(struct krt_live_source *s, enum krt_sample_phase p);
/*
 * Between two windows: detaches the hot programs (switches, wake-ups,
 * transfers, socket states, the Go runtimes' uprobes; fork and exit stay,
 * so the traced set stays right), hands every event up to the detach to
 * cb, forgets the kernel's request state (threads' traces and CPU time,
 * connections' request queues, directions' tags, goroutines' states, open
 * sampled requests), then hands cb one KRT_EV_PAUSE at the detach time.
 * Connections and threads older than the pause keep what they are (which
 * end connected, pool workers, event loops): their requests after the
 * resume are traced as any. 0 or -errno (a message on stderr).
 */
#define KRT_LIVE_HOT_PROGS 7
int krt_live_pause(struct krt_live_source *s, krt_live_event_cb cb, void *ctx);
/*
 * Maps the kernel's state tables into the reader (25 MiB at the default
 * sizes), which a pause reads: done at a windowed run's start, with the
 * loading, not in its first pause (which took 22-27 ms of CPU against 2-5
 * for the later ones, its drain mapping and unmapping the threads' table
 * before its forgetting mapped them all). 0 or -errno (tables not
 * mappable: a message on stderr; the pause says it again).
 */
int krt_live_map_tables(struct krt_live_source *s);
/* Attaches again what krt_live_pause detached. 0 or -errno (a message on stderr). */
int krt_live_resume(struct krt_live_source *s);
/* Whether the source is paused (between krt_live_pause and krt_live_resume). */
bool krt_live_paused(const struct krt_live_source *s);
/* Loss counters of the kernel side and the loader. */
void krt_live_stats(struct krt_live_source *s, struct krt_source_stats *st);
void krt_live_tag_stats(struct krt_live_source *s, struct krt_live_tag_stats *st);
/*
 * The kernel's state tables over time. A state untouched for longer than
 * the idle time (a close or an exit the hooks never saw, a connection
 * opened before the start and left idle) is reclaimed by krt_live_sweep.
 */
enum krt_live_table { KRT_TABLE_THREADS, KRT_TABLE_CONNS, KRT_TABLE_DIRS, KRT_TABLES };

struct krt_live_table_stats {
	const char *name[KRT_TABLES];
	__u64 slots[KRT_TABLES];     /* in use (the tables' masks) */
	__u64 held[KRT_TABLES];	     /* at the last sweep */
	__u64 peak[KRT_TABLES];	     /* highest at a sweep */
	__u64 reclaimed[KRT_TABLES]; /* aged out */
	__u64 sweeps;
};

/* Advances the kernel's clock of idle states (seconds since the start): call often. */
void krt_live_tick(struct krt_live_source *s);
/*
 * Counts the held states of every table and reclaims those untouched for
 * idle_s seconds or more (0: count only). 0 or -errno (tables not mapped).
 */
int krt_live_sweep(struct krt_live_source *s, unsigned int idle_s);
void krt_live_table_stats(struct krt_live_source *s, struct krt_live_table_stats *st);
/* Whether transfers come from the syscall-exit fallback. */
bool krt_live_syscall_hooks(const struct krt_live_source *s);
/* Events whose timestamp came too late for the reorder window (clamped). */
__u64 krt_live_late_events(struct krt_live_source *s);
/*
 * Records written to the ring and not read yet (safe to call from another
 * thread than the reader's).
 */
__u64 krt_live_backlog(struct krt_live_source *s);
void krt_live_close(struct krt_live_source *s);

struct krt_remote_segs;
struct krt_tcpopt_stats;
/* What a receiving socket (its cookie) last parsed from the TCP option; -1 if nothing. */
int krt_live_tcpopt_recv(struct krt_live_source *s, __u64 cookie, struct krt_remote_segs *rs);
void krt_live_tcpopt_stats(struct krt_live_source *s, struct krt_tcpopt_stats *st);

#endif
