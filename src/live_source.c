// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The live event source: open -> configure -> load -> trace PIDs -> attach
 * -> poll, every step checked and explained.
 *
 * Records reach user space in ring-buffer order, which is reservation
 * order across CPUs; timestamps taken on different CPUs can be slightly out
 * of order, and a merged hop's send is older than its receive, so events
 * wait in a reorder window before they go to the engine, which needs
 * non-decreasing time (reorder_window.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "live_source.h"
#include "live_forget.h"
#include "reorder_window.h"
#include "krtrace_go.h"
#include "krtrace_bpf.h" /* before the skeleton: its types */
#include "krtrace_tcp_option.h"
#include "trace_id.h"
#include "krtrace.skel.h"

/* a merged hop's send waits for its receiver: under load that takes milliseconds */
#define DEFAULT_REORDER_NS (20ULL * 1000 * 1000)
/* a record's size in the ring: its 8-byte header and the event */
#define RING_RECORD_BYTES (8 + sizeof(struct krt_event))
/* events waiting in the window past which a consume hands the old ones over (see below) */
#define BACKLOG_WAITING 2048

struct krt_live_source {
	struct krtrace_bpf *skel;
	struct bpf_link *tcpopt_link; /* the TCP option's sock_ops program on its cgroup */
	const char *tcpopt_cgroup;    /* where it attaches (the caller's string) */
	struct ring_buffer *rb;
	struct krt_reorder_span span; /* how long records wait: grows under load */
	struct krt_reorder window;    /* records wait here for span.ns */
	__u64 newest_ts;	      /* the newest record's time read so far */
	__u64 shrink_checked;	      /* when the window's pool last could shrink */
	krt_live_event_cb backlog_cb; /* while a consume runs: where a backlog goes */
	void *backlog_ctx;
	__u64 arrivals;	 /* ring records read */
	__u64 malformed; /* ring samples of the wrong size */
	__u64 ring_drops_reported;
	__u64 slot_full_reported; /* kernel states not kept, as LOST events */
	__u64 late_reported;	  /* records clamped by the reorder window, as LOST events */
	bool collected_at_end;	  /* delivering the kernel's leftovers: old, not late */
	__u64 sends_at_exit;	  /* waiting sends collected at the end */
	__u64 cpu_carried;	  /* CPU events that came inside a receive's record */
	/* ring records by kind (the counters' "kinds" line: where records go) */
	__u64 kinds[KRT_EV_TYPE_MAX];
	__u64 xfer_untagged; /* transfer records the kernel left to the engine */
	__u64 batches;	     /* ring records of batched switches and wake-ups */
	__u64 batched;	     /* the events they carried */
	__u64 notified;	     /* of them, notifications */
	/*
	 * Nothing still in a CPU's batch, or in the ring unread from a
	 * flush, is older than flushed_ts (sched_flush): the reorder window
	 * hands over nothing newer.
	 */
	__u64 flushed_ts;
	__u64 flush_t0; /* the last flush's clock, read before it */
	/*
	 * The oldest item the last flush left in a busy batch (a transfer
	 * hook was adding one there): flushed_ts stays below it. ~0: none.
	 */
	__u64 flush_held;
	unsigned int flushes_due;	   /* its batch records not read yet */
	struct krt_sched_batch *batch_buf; /* the batches' map value, every CPU's */
	int n_cpus;			   /* possible CPUs, at most KRT_MAX_CPUS */
	bool syscall_hooks;		   /* transfers from sys_exit (the fallback) */
	bool out_of_memory;
	/* uprobes on Go runtimes, and where each goes (a pause detaches them: link NULL) */
	struct krt_go_link {
		struct bpf_link *link;
		struct bpf_program *prog;
		__u32 pid;
		__u64 offset;
	} go_links[KRT_LIVE_MAX_GO * KRT_GO_N_PROBED];
	int n_go_links;
	/* between krt_live_pause and krt_live_resume: which hot programs it detached */
	bool paused;
	bool hot_detached[KRT_LIVE_HOT_PROGS];
	/* the pause's Go probes still being detached (go_detach_background) */
	pthread_t go_detacher;
	bool go_detach_started;
	int go_detaching;
	/* idle states: the tables mapped for the sweeps, seconds since the start */
	void *table[KRT_TABLES];
	size_t table_len[KRT_TABLES];
	bool tables_unmappable;
	double start_s;
	struct krt_live_table_stats tables;
	/*
	 * A consume ends early when *stop is set or the clock passes until_ns
	 * (krt_live_stop_at): with producers faster than the reader the ring
	 * is never empty, and a consume that read until it was made -d and
	 * SIGTERM wait for the traffic to pause (27 s for -d 8, loaded).
	 */
	const volatile sig_atomic_t *stop;
	__u64 until_ns;
	unsigned int since_check; /* records since the last look at stop, until_ns */
	bool consume_cut;	  /* the last consume ended early */
	__u32 slow_reader_us;	  /* --debug slow-reader: sleep per record (tests) */
};

static bool libbpf_debug;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !libbpf_debug)
		return 0;
	if (level != LIBBPF_WARN && !libbpf_debug)
		return 0;
	return vfprintf(stderr, fmt, args);
}

/* Names what the kernel or the user lacks, before libbpf's cryptic errors. */
/*
 * Root, BTF and the ring buffer are required. *sock_hooks tells whether
 * the kernel has the sock_send_length/sock_recv_length tracepoints (Linux
 * 6.3+): they see every socket send and receive, writev/readv included, at
 * one hook per transfer; without them the live path falls back to the exit
 * of the socket syscalls.
 */
static int check_prerequisites(const char *prog, bool *sock_hooks)
{
	struct btf *vmlinux_btf;
	int ret = 0;

	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		fprintf(stderr,
			"%s: /sys/kernel/btf/vmlinux: %s: the kernel has no BTF "
			"(CONFIG_DEBUG_INFO_BTF=y is required for CO-RE)\n",
			prog, strerror(errno));
		return -1;
	}
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) != 1) {
		if (geteuid() != 0)
			fprintf(stderr,
				"%s: not permitted to load BPF programs: run as root "
				"(CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN, are needed)\n",
				prog);
		else
			fprintf(stderr,
				"%s: this kernel has no BPF ring buffer (Linux 5.8+ "
				"needed)\n",
				prog);
		return -1;
	}
	vmlinux_btf = btf__load_vmlinux_btf();
	if (!vmlinux_btf) {
		fprintf(stderr, "%s: /sys/kernel/btf/vmlinux: cannot parse: %s\n", prog,
			strerror(errno));
		return -1;
	}
	*sock_hooks = btf__find_by_name_kind(vmlinux_btf, "btf_trace_sock_send_length",
					     BTF_KIND_TYPEDEF) >= 0 &&
		      btf__find_by_name_kind(vmlinux_btf, "btf_trace_sock_recv_length",
					     BTF_KIND_TYPEDEF) >= 0;
	if (btf__find_by_name_kind(vmlinux_btf, "btf_trace_sys_exit", BTF_KIND_TYPEDEF) < 0 &&
	    !*sock_hooks) {
		fprintf(stderr,
			"%s: the kernel has neither the sock_send_length/sock_recv_length "
			"tracepoints (Linux 6.3+) nor a BTF sys_exit tracepoint: no transfer "
			"hook for the live path\n",
			prog);
		ret = -1;
	}
	btf__free(vmlinux_btf);
	return ret;
}

static __u64 clock_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec * 1000000000ULL + now.tv_nsec;
}

/*
 * A cleared event, copied whole over a slot: vector moves, where
 * memset(ev, 0, 216) was a rep stosq, the hottest instruction of the
 * reader's own code (perf annotate, asgi: 18 % of on_ring_record).
 */
static const struct krt_event zero_event;

static int queue_event(struct krt_live_source *s, const struct krt_event *ev)
{
	int err = krt_reorder_queue(&s->window, ev);

	if (err)
		s->out_of_memory = true;
	return err;
}

/*
 * The SEND a merged hop record carries, as the sender's own event: the
 * engine sees the two ends of the hop as two transfers, as on import.
 */
static void peer_send_event(const struct krt_event *recv, struct krt_event *ev)
{
	struct krt_tuple t = {.local = recv->xfer.tuple.remote, .remote = recv->xfer.tuple.local};

	*ev = zero_event;
	krt_peer_send_fill(ev, &recv->xfer.peer, &t);
}

/*
 * The CPU time a receive carries (its thread's, for the trace it had
 * before), as the CPU event the kernel would have sent at the same time.
 */
static void carried_cpu_event(const struct krt_event *recv, struct krt_event *ev)
{
	*ev = zero_event;
	ev->ts_ns = recv->ts_ns;
	ev->type = KRT_EV_CPU;
	ev->cpu = recv->cpu;
	ev->pid = recv->pid;
	ev->tid = recv->tid;
	memcpy(ev->comm, recv->comm, sizeof(ev->comm));
	ev->oncpu = recv->xfer.cpu_before;
}

/* What the last flush sent is all read: nothing older waits in a batch. */
static __u64 flush_done_ts(const struct krt_live_source *s)
{
	return s->flush_t0 < s->flush_held ? s->flush_t0 : s->flush_held;
}

/*
 * A batch of switches, wake-ups, CPU times and notifications (struct
 * krt_sched_batch), as the SWITCH, WAKEUP, CPU and NOTIFY events the
 * kernel used to send one record each.
 */
static int sched_batch_events(struct krt_live_source *s, const struct krt_sched_batch *b,
			      size_t size)
{
	size_t n = (size - offsetof(struct krt_sched_batch, items)) / sizeof(b->items[0]), i;
	__u32 slots[KRT_SCHED_BATCH_ITEMS];
	struct krt_event *ev;
	int err = 0;

	if (b->n < n)
		n = b->n;
	if (n > KRT_SCHED_BATCH_ITEMS)
		n = KRT_SCHED_BATCH_ITEMS;
	s->batches++;
	if (b->flush && b->held && b->held <= s->flush_held)
		s->flush_held = b->held - 1;
	/* the last of a flush's records: what it flushed is all in the window */
	if (b->flush && s->flushes_due && !--s->flushes_due)
		s->flushed_ts = flush_done_ts(s);
	for (i = 0; i < n; i++) {
		const struct krt_sched_item *it = &b->items[i];

		ev = krt_reorder_slot(&s->window, &slots[i]);
		if (!ev) {
			err = -ENOMEM;
			break;
		}
		*ev = zero_event;
		ev->ts_ns = it->ts_ns;
		ev->type = it->type;
		ev->cpu = b->cpu;
		if (it->type == KRT_EV_NOTIFY) {
			ev->pid = it->prev_pid;
			ev->tid = it->prev_tid;
			memcpy(ev->comm, it->prev_comm, sizeof(ev->comm));
			ev->notify.dir = (__u8)it->prev_state;
			ev->notify.fd = (__s32)it->next_tid;
			ev->notify.asked = it->next_pid;
			ev->notify.chan = it->notify.chan;
			ev->notify.bytes = it->notify.bytes;
			s->notified++;
		} else if (it->type == KRT_EV_CPU) {
			ev->pid = it->prev_pid;
			ev->tid = it->prev_tid;
			memcpy(ev->comm, it->prev_comm, sizeof(ev->comm));
			ev->oncpu.oncpu_ns = it->cpu.oncpu_ns;
			ev->oncpu.runq_ns = it->cpu.runq_ns;
			ev->oncpu.trace_id = it->next_tid;
		} else if (it->type == KRT_EV_WAKEUP) {
			ev->pid = it->prev_pid;
			ev->tid = it->prev_tid;
			memcpy(ev->comm, it->prev_comm, sizeof(ev->comm));
			ev->wakeup.target_tid = it->next_tid;
			ev->wakeup.target_pid = it->next_pid;
		} else {
			/* the event's task: the side switching out, if shown */
			ev->pid = it->prev_tid ? it->prev_pid : it->next_pid;
			ev->tid = it->prev_tid ? it->prev_tid : it->next_tid;
			memcpy(ev->comm, it->prev_tid ? it->prev_comm : it->next_comm,
			       sizeof(ev->comm));
			ev->sw.prev_tid = it->prev_tid;
			ev->sw.prev_pid = it->prev_pid;
			ev->sw.prev_state = it->prev_state;
			memcpy(ev->sw.prev_comm, it->prev_comm, sizeof(ev->sw.prev_comm));
			ev->sw.next_tid = it->next_tid;
			ev->sw.next_pid = it->next_pid;
			memcpy(ev->sw.next_comm, it->next_comm, sizeof(ev->sw.next_comm));
		}
		s->batched++;
		if (it->ts_ns > s->newest_ts)
			s->newest_ts = it->ts_ns;
	}
	/*
	 * A CPU's items are in its time order, and older than most records
	 * read since its batch began: one merge into the window, not a move
	 * of the newer keys per item (5-7 % of the reader's CPU on asgi and
	 * thrift, perf).
	 */
	krt_reorder_insert_run(&s->window, slots, i);
	return err;
}

/*
 * A cutoff for the reorder window: nothing still in a CPU's batch may be
 * older (sched_flush).
 */
static __u64 flushed_cutoff(const struct krt_live_source *s, __u64 cutoff)
{
	return cutoff < s->flushed_ts ? cutoff : s->flushed_ts;
}

static int ring_record(void *ctx, void *data, size_t size)
{
	struct krt_live_source *s = ctx;
	const struct krt_event *rec;
	struct krt_event *ev, *send, *cpu;
	bool merged;
	__u32 slot;

	/* krt_live_backlog() reads it from another thread */
	__atomic_store_n(&s->arrivals, s->arrivals + 1, __ATOMIC_RELAXED);
	if (size >= offsetof(struct krt_sched_batch, items) &&
	    ((const struct krt_sched_batch *)data)->type == KRT_REC_SCHED_BATCH) {
		if (sched_batch_events(s, data, size))
			goto oom;
		goto queued;
	}
	if (size < sizeof(struct krt_event)) {
		s->malformed++;
		return 0;
	}
	/*
	 * The records behind this one follow it in the ring, written by
	 * another CPU: fetch the one four behind (each was a cache miss).
	 */
	for (size_t off = 4 * RING_RECORD_BYTES; off < 5 * RING_RECORD_BYTES; off += 64)
		__builtin_prefetch((const char *)data + off);
	/*
	 * Straight from the ring into the slots: one copy. A merged hop's
	 * send goes first, as the sender's own event (older than the receive).
	 */
	rec = data;
	if (rec->type < KRT_EV_TYPE_MAX)
		s->kinds[rec->type]++;
	if (rec->type == KRT_EV_XFER && !(rec->xfer.flags & KRT_XF_TAGGED))
		s->xfer_untagged++;
	if (rec->type == KRT_EV_XFER && rec->xfer.flags & KRT_XF_CPU) {
		/* the receiving thread's time for its trace before, as its own CPU event */
		cpu = krt_reorder_slot(&s->window, &slot);
		if (!cpu)
			goto oom;
		carried_cpu_event(rec, cpu);
		krt_reorder_insert(&s->window, slot);
		s->cpu_carried++;
	}
	merged = rec->type == KRT_EV_XFER && rec->xfer.flags & KRT_XF_PEER;
	if (merged) {
		send = krt_reorder_slot(&s->window, &slot);
		if (!send)
			goto oom;
		peer_send_event(rec, send);
		krt_reorder_insert(&s->window, slot);
	}
	ev = krt_reorder_slot(&s->window, &slot);
	if (!ev)
		goto oom;
	memcpy(ev, rec, sizeof(*ev));
	if (merged) {
		ev->xfer.flags &= ~KRT_XF_PEER;
		memset(&ev->xfer.peer, 0, sizeof(ev->xfer.peer));
	}
	if (ev->type == KRT_EV_XFER && ev->xfer.flags & KRT_XF_CPU) {
		ev->xfer.flags &= ~KRT_XF_CPU;
		memset(&ev->xfer.cpu_before, 0, sizeof(ev->xfer.cpu_before));
	}
	krt_reorder_insert(&s->window, slot);
	if (rec->ts_ns > s->newest_ts)
		s->newest_ts = rec->ts_ns;
queued:
	/*
	 * A backlog (the reader was stalled: up to a ring of records in one
	 * consume) waited in the window all at once until the consume ended,
	 * and the window keeps its largest size: 8 MiB of slots after one
	 * stall, 16 MiB at most for the 8 MiB ring, for the rest of the run.
	 * Past BACKLOG_WAITING events, those older than the newest read by
	 * the window go now: the window's margin, counted in the records'
	 * time instead of the clock's (a backlog is older than the clock).
	 */
	if (s->backlog_cb && krt_reorder_pending(&s->window) > BACKLOG_WAITING &&
	    s->newest_ts > s->span.ns)
		krt_reorder_deliver(&s->window, flushed_cutoff(s, s->newest_ts - s->span.ns),
				    s->backlog_cb, s->backlog_ctx);
	return 0;
oom:
	s->out_of_memory = true;
	return -ENOMEM;
}

/* records between two looks at the stop flag and the clock (~20 ns each) */
#define CONSUME_CHECK_EVERY 64

static int on_ring_record(void *ctx, void *data, size_t size)
{
	struct krt_live_source *s = ctx;
	int err = ring_record(ctx, data, size);

	if (err)
		return err;
	if (s->slow_reader_us)
		usleep(s->slow_reader_us);
	if (!s->stop && !s->until_ns)
		return 0;
	if (++s->since_check < CONSUME_CHECK_EVERY)
		return 0;
	s->since_check = 0;
	if ((s->stop && *s->stop) || (s->until_ns && clock_ns() >= s->until_ns)) {
		/* this record is read: libbpf moved past it before returning */
		s->consume_cut = true;
		return -ECANCELED;
	}
	return 0;
}

/*
 * --debug verifier-stats: the verifier's statistics (log level 4, a few
 * lines) of every program loaded, so a change's cost against the verifier's
 * 1M-instruction limit is seen before it is hit (docs/design.md "Verifier
 * headroom").
 */
#define VSTATS_LOG_SIZE 4096

static char **vstats_logs_set(struct bpf_object *obj)
{
	struct bpf_program *p;
	char **logs;
	size_t n = 0, i = 0;

	bpf_object__for_each_program(p, obj) n++;
	logs = calloc(n + 1, sizeof(*logs));
	if (!logs)
		return NULL;
	bpf_object__for_each_program(p, obj)
	{
		if (!bpf_program__autoload(p))
			continue;
		logs[i] = calloc(1, VSTATS_LOG_SIZE);
		if (logs[i] && !bpf_program__set_log_buf(p, logs[i], VSTATS_LOG_SIZE))
			bpf_program__set_log_level(p, 4); /* BPF_LOG_STATS */
		i++;
	}
	return logs;
}

/* One line per program: "NAME processed N insns" (or what the log says instead). */
static void vstats_print(struct bpf_object *obj, char **logs, FILE *f)
{
	struct bpf_program *p;
	size_t i = 0;

	bpf_object__for_each_program(p, obj)
	{
		const char *line;
		int len;

		if (!bpf_program__autoload(p))
			continue;
		line = logs[i] ? strstr(logs[i], "processed ") : NULL;
		if (!line && logs[i])
			line = strstr(logs[i], "Processed "); /* "too large. Processed N insn" */
		len = line ? (int)strcspn(line, "\n") : 0;
		fprintf(f, "%-28s %.*s\n", bpf_program__name(p), len, line ? line : "no count");
		free(logs[i]);
		i++;
	}
	free(logs);
}

/*
 * Switches and wake-ups go in per-CPU batches once the reader can flush
 * them (sched_flush): the flush program must run on a CPU of its choice.
 * If it cannot, each stays a record of its own.
 */
static void sched_batching_on(struct krt_live_source *s, const char *prog)
{
	LIBBPF_OPTS(bpf_test_run_opts, run, .flags = BPF_F_TEST_RUN_ON_CPU);
	int ncpu = libbpf_num_possible_cpus(), err;

	s->flushed_ts = ~0ULL; /* nothing waits in a batch */
	if (ncpu <= 0)
		return;
	s->batch_buf = calloc(ncpu, sizeof(*s->batch_buf));
	if (!s->batch_buf)
		return;
	err = bpf_prog_test_run_opts(bpf_program__fd(s->skel->progs.krt_sched_flush), &run);
	if (err) {
		fprintf(stderr,
			"%s: cannot run the batch flush on a CPU (%s): a ring record per "
			"switch and wake-up\n",
			prog, strerror(errno));
		free(s->batch_buf);
		s->batch_buf = NULL;
		return;
	}
	s->flushed_ts = s->flush_t0 = clock_ns();
	s->flush_held = ~0ULL;
	__atomic_store_n(&s->skel->bss->sched_batching, true, __ATOMIC_RELEASE);
}

struct krt_live_source *krt_live_open(const struct krt_live_opts *o, const char *prog)
{
	struct krt_live_source *s;
	bool sock_hooks = false;
	char **vstats = NULL;
	int err;

	libbpf_debug = o->libbpf_debug;
	libbpf_set_print(libbpf_print);
	if (check_prerequisites(prog, &sock_hooks))
		return NULL;
	if (!sock_hooks && !o->syscall_hooks)
		fprintf(stderr,
			"%s: this kernel lacks the sock_send_length/sock_recv_length "
			"tracepoints (Linux 6.3+): transfers are read at the exit of the socket "
			"syscalls instead (every syscall of the machine pays for a hook; "
			"sendfile, splice and io_uring transfers are not seen)\n",
			prog);

	s = calloc(1, sizeof(*s));
	if (!s) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return NULL;
	}
	s->flushed_ts = ~0ULL; /* until batches are on (sched_batching_on) */
	/* a window asked for (--debug reorder-us) stays as asked */
	krt_reorder_span_init(&s->span, o->reorder_ns ? o->reorder_ns : DEFAULT_REORDER_NS,
			      !o->reorder_ns);
	krt_reorder_init(&s->window);
	s->n_cpus = libbpf_num_possible_cpus();
	if (s->n_cpus <= 0 || s->n_cpus > KRT_MAX_CPUS)
		s->n_cpus = KRT_MAX_CPUS;

	s->skel = krtrace_bpf__open();
	if (!s->skel) {
		fprintf(stderr, "%s: cannot open the BPF object: %s\n", prog, strerror(errno));
		goto fail;
	}
	s->skel->rodata->trace_switch = o->trace_switch;
	s->skel->rodata->kernel_tags = o->kernel_tags;
	s->skel->rodata->cpu_in_kernel = o->kernel_tags && o->cpu_in_kernel;
	if (o->kernel_tags && o->cpu_in_kernel)
		s->skel->rodata->trace_switch = false;
	s->skel->rodata->sample_rate = o->sample_rate;
	s->skel->rodata->rate_cap = o->rate_cap;
	if (o->gateway.family) {
		s->skel->rodata->gateway_family = o->gateway.family;
		memcpy((void *)s->skel->rodata->gateway_addr, o->gateway.addr,
		       sizeof(o->gateway.addr));
	}
	if (o->peers) {
		__u32 net[KRT_MAX_PEER_NETS], mask[KRT_MAX_PEER_NETS];
		__u32 net6[KRT_MAX_PEER_NETS][4], mask6[KRT_MAX_PEER_NETS][4];
		int i, n = krt_peers_ipv4(o->peers, net, mask, KRT_MAX_PEER_NETS);

		for (i = 0; i < n; i++) {
			((__u32 *)s->skel->rodata->peer_net)[i] = net[i];
			((__u32 *)s->skel->rodata->peer_mask)[i] = mask[i];
		}
		n = krt_peers_ipv6(o->peers, net6, mask6, KRT_MAX_PEER_NETS);
		memcpy((void *)s->skel->rodata->peer6_net, net6, n * sizeof(net6[0]));
		memcpy((void *)s->skel->rodata->peer6_mask, mask6, n * sizeof(mask6[0]));
		s->skel->rodata->peer6_n = n;
	}
	s->skel->rodata->trace_wakeup = o->trace_wakeup;
	s->skel->rodata->merge_hops = o->kernel_tags && o->cpu_in_kernel && o->merge_hops;
	s->syscall_hooks = o->syscall_hooks || !sock_hooks;
#if !defined(__x86_64__)
	/* it reads the syscall number and arguments from x86-64 registers */
	if (s->syscall_hooks) {
		fprintf(stderr,
			"%s: the syscall-hook fallback is x86-64 only: this kernel needs "
			"the sock_send_length/sock_recv_length tracepoints (Linux 6.3+)\n",
			prog);
		goto fail;
	}
#endif
	s->skel->rodata->syscall_hooks = s->syscall_hooks;
	s->skel->rodata->empty_hooks = o->empty_hooks;
	s->skel->rodata->prefilter_hooks = o->prefilter_hooks;
	if (o->state_slots) {
		if (o->state_slots & (o->state_slots - 1) || o->state_slots > KRT_DIR_SLOTS) {
			fprintf(stderr, "%s: state slots must be a power of two up to %u\n", prog,
				KRT_DIR_SLOTS);
			goto fail;
		}
		s->skel->rodata->thread_slot_mask = o->state_slots - 1;
		s->skel->rodata->conn_slot_mask = o->state_slots - 1;
		s->skel->rodata->dir_slot_mask = o->state_slots - 1;
	}
	{
		/*
		 * Socket ids that are kernel addresses (the syscall hooks'; the
		 * AF_UNIX channels of KRT_EV_NOTIFY) are keyed before they
		 * leave the kernel.
		 */
		__u64 key = 0;

		if (getrandom(&key, sizeof(key), 0) != sizeof(key))
			key = 0x9e3779b97f4a7c15ULL ^ (__u64)getpid() << 32 ^ (__u64)time(NULL);
		s->skel->rodata->sock_id_key = key | 1;
	}
	/* only the transfer hooks this kernel has are loaded */
	bpf_program__set_autoload(s->skel->progs.krt_sock_send, !s->syscall_hooks);
	bpf_program__set_autoload(s->skel->progs.krt_sock_recv, !s->syscall_hooks);
	bpf_program__set_autoload(s->skel->progs.krt_sys_exit, s->syscall_hooks);
	/* the trace context in a TCP option: only with a cgroup to attach it to */
	bpf_program__set_autoload(s->skel->progs.krt_tcpopt_sendmsg, o->tcpopt_cgroup != NULL);
	bpf_program__set_autoload(s->skel->progs.krt_tcpopt_sockops, o->tcpopt_cgroup != NULL);
	if (o->tcpopt_cgroup) {
		s->skel->rodata->tcpopt_run_word = krt_run_word();
	} else {
		/* unused without the option: no memory for them */
		bpf_map__set_max_entries(s->skel->maps.tcpopt_rx, 1);
		bpf_map__set_max_entries(s->skel->maps.remote_of, 1);
		bpf_map__set_max_entries(s->skel->maps.local_of, 1);
	}
	s->tcpopt_cgroup = o->tcpopt_cgroup;
	if (o->wakeup_bytes) {
		__u64 w = 4096;

		/* a power of two: the kernel side compares under a mask */
		while (w < o->wakeup_bytes && w < (1ULL << 40))
			w <<= 1;
		s->skel->rodata->wakeup_mask = ~(w - 1);
	}
	if (o->ring_bytes) {
		err = bpf_map__set_max_entries(s->skel->maps.events, o->ring_bytes);
		if (err) {
			fprintf(stderr, "%s: ring size %u: %s\n", prog, o->ring_bytes,
				strerror(-err));
			goto fail;
		}
	}

	if (o->verifier_stats)
		vstats = vstats_logs_set(s->skel->obj);
	/* run by the reader on each CPU, attached nowhere */
	bpf_program__set_autoattach(s->skel->progs.krt_sched_flush, false);
	err = krtrace_bpf__load(s->skel);
	if (vstats)
		vstats_print(s->skel->obj, vstats, o->verifier_stats);
	if (err) {
		fprintf(stderr, "%s: cannot load the BPF programs: %s%s\n", prog, strerror(-err),
			(err == -EPERM || (err == -EACCES && geteuid()))
			    ? " (run as root: CAP_BPF and CAP_PERFMON are needed)"
			    : " (the verifier refused a program: run with -v to see its log)");
		goto fail;
	}
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.events), on_ring_record, s, NULL);
	if (!s->rb) {
		fprintf(stderr, "%s: cannot set up the ring buffer: %s\n", prog, strerror(errno));
		goto fail;
	}
	if (!o->sched_unbatched)
		sched_batching_on(s, prog);
	s->slow_reader_us = o->slow_reader_us;
	return s;
fail:
	krt_live_close(s);
	return NULL;
}

/*
 * The traced set is a bitmap in the programs' mmapped global data: one
 * atomic store here, one load per hook hit there (the fork and exit hooks
 * change it too, hence the atomics).
 */
int krt_live_trace_tgid(struct krt_live_source *s, __u32 tgid)
{
	__u64 *bits = s->skel->bss->traced_bits;

	if (tgid / 64 >= sizeof(s->skel->bss->traced_bits) / sizeof(*bits))
		return -ERANGE;
	__atomic_fetch_or(&bits[tgid / 64], 1ULL << (tgid % 64), __ATOMIC_SEQ_CST);
	return 0;
}

int krt_live_untrace_tgid(struct krt_live_source *s, __u32 tgid)
{
	__u64 *bits = s->skel->bss->traced_bits;

	if (tgid / 64 >= sizeof(s->skel->bss->traced_bits) / sizeof(*bits))
		return -ERANGE;
	__atomic_fetch_and(&bits[tgid / 64], ~(1ULL << (tgid % 64)), __ATOMIC_SEQ_CST);
	return 0;
}

/* Parent pid of a process from /proc/PID/stat (after the comm's ')'). */
static int read_ppid(__u32 pid, __u32 *ppid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;
	unsigned int v;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %u", &v) != 1)
		return -1;
	*ppid = v;
	return 0;
}

/*
 * The pid and every existing descendant process; threads share the tgid
 * so they are covered by their process. Processes created from now on
 * are added by the kernel side at fork.
 */
int krt_live_trace_tree(struct krt_live_source *s, __u32 pid)
{
	__u32 *pids = NULL, *parents = NULL;
	size_t n = 0, cap = 0, i;
	bool changed = true, *in;
	struct dirent *de;
	DIR *d;
	int err;

	err = krt_live_trace_tgid(s, pid);
	if (err)
		return err;
	d = opendir("/proc");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		unsigned long v = strtoul(de->d_name, &end, 10);
		__u32 ppid;

		if (*end || !v || read_ppid(v, &ppid))
			continue;
		if (n == cap) {
			size_t c = cap ? cap * 2 : 1024;
			void *a = realloc(pids, c * sizeof(*pids));
			void *b = a ? realloc(parents, c * sizeof(*parents)) : NULL;

			if (a)
				pids = a;
			if (!a || !b) {
				closedir(d);
				free(pids);
				free(parents);
				return -ENOMEM;
			}
			parents = b;
			cap = c;
		}
		pids[n] = v;
		parents[n++] = ppid;
	}
	closedir(d);

	/* Mark descendants until nothing changes (process trees are shallow). */
	in = calloc(n ? n : 1, sizeof(*in));
	if (!in) {
		free(pids);
		free(parents);
		return -ENOMEM;
	}
	while (changed) {
		changed = false;
		for (i = 0; i < n; i++) {
			size_t j;

			if (in[i])
				continue;
			if (parents[i] == pid) {
				in[i] = true;
				changed = true;
				continue;
			}
			for (j = 0; j < n; j++) {
				if (in[j] && pids[j] == parents[i]) {
					in[i] = true;
					changed = true;
					break;
				}
			}
		}
	}
	for (i = 0; i < n && !err; i++)
		if (in[i])
			err = krt_live_trace_tgid(s, pids[i]);
	free(in);
	free(pids);
	free(parents);
	return err;
}

int krt_live_attach(struct krt_live_source *s, const char *prog)
{
	int err = krtrace_bpf__attach(s->skel), cg;

	if (err) {
		fprintf(stderr, "%s: cannot attach the BPF programs: %s\n", prog, strerror(-err));
		return err;
	}
	if (!s->tcpopt_cgroup)
		return 0;
	/* sock_ops programs attach to a cgroup v2: the traced containers' */
	cg = open(s->tcpopt_cgroup, O_RDONLY | O_DIRECTORY);
	if (cg < 0) {
		err = -errno;
		fprintf(stderr, "%s: --tcp-option-cgroup %s: %s\n", prog, s->tcpopt_cgroup,
			strerror(errno));
		return err;
	}
	s->tcpopt_link = bpf_program__attach_cgroup(s->skel->progs.krt_tcpopt_sockops, cg);
	err = s->tcpopt_link ? 0 : -errno;
	close(cg);
	if (err)
		fprintf(stderr,
			"%s: --tcp-option-cgroup %s: cannot attach the sock_ops program: %s\n",
			prog, s->tcpopt_cgroup, strerror(-err));
	return err;
}

int krt_live_tcpopt_recv(struct krt_live_source *s, __u64 cookie, struct krt_remote_segs *rs)
{
	if (!s->tcpopt_cgroup)
		return -1;
	return bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.tcpopt_rx), &cookie, rs) ? -1 : 0;
}

void krt_live_tcpopt_stats(struct krt_live_source *s, struct krt_tcpopt_stats *st)
{
	*st = s->skel->bss->tcpopt_stats;
}

/* A loss counter that moved since last time becomes a LOST event: the engine marks the traces. */
static void report_loss(struct krt_live_source *s, __u64 now, __u64 *reported, __u32 reason,
			__u64 since, krt_live_event_cb cb, void *ctx)
{
	struct krt_event ev;

	if (now == *reported)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.ts_ns = s->window.last_ts;
	ev.type = KRT_EV_LOST;
	ev.lost.count = now - *reported;
	ev.lost.reason = reason;
	ev.lost.since_ns = since;
	*reported = now;
	cb(&ev, ctx);
}

static void report_ring_drops(struct krt_live_source *s, krt_live_event_cb cb, void *ctx)
{
	report_loss(s, s->skel->bss->ring_drops, &s->ring_drops_reported, KRT_LOST_RING_FULL, 0, cb,
		    ctx);
	report_loss(s, s->skel->bss->slot_full, &s->slot_full_reported, KRT_LOST_TABLE_FULL, 0, cb,
		    ctx);
	if (!s->collected_at_end && s->window.late != s->late_reported) {
		/* how far back the clamped records reach: the traces active since */
		report_loss(s, s->window.late, &s->late_reported, KRT_LOST_REORDER,
			    s->window.late_from, cb, ctx);
		s->window.late_from = 0;
	}
}

/* Hands over pending events up to cutoff_ts, in timestamp order. */
static int deliver(struct krt_live_source *s, __u64 cutoff_ts, krt_live_event_cb cb, void *ctx)
{
	size_t n = krt_reorder_deliver(&s->window, cutoff_ts, cb, ctx);

	report_ring_drops(s, cb, ctx);
	return n;
}

/*
 * Every CPU's batch of switches and wake-ups into the ring
 * (bpf/events.bpf.h): the flush program runs on each CPU whose batch
 * holds any (BPF_F_TEST_RUN_ON_CPU: an IPI, where the sched hooks that
 * fill it cannot be). An item added after its CPU's flush is newer than
 * the clock read first (flush_t0); what the flush sent is older, and
 * waits behind the ring's unread records: flushed_ts moves to flush_t0
 * when the last of them is read (flushes_due), or when a consume that
 * began after the flush ends.
 */
static void sched_flush(struct krt_live_source *s)
{
	LIBBPF_OPTS(bpf_test_run_opts, run, .flags = BPF_F_TEST_RUN_ON_CPU);
	int fd = bpf_program__fd(s->skel->progs.krt_sched_flush);
	int ncpu = libbpf_num_possible_cpus();
	__u64 t0 = clock_ns();
	unsigned int due = 0;
	__u32 zero = 0;
	bool blind;

	if (!s->batch_buf || fd < 0)
		return;
	s->flush_held = ~0ULL;
	/* a CPU whose batch was empty (and not busy) then adds newer items only */
	blind = bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.sched_batches), &zero, s->batch_buf);
	for (int c = 0; c < ncpu; c++) {
		if (!blind && !s->batch_buf[c].n && !s->batch_buf[c].busy)
			continue;
		run.cpu = c;
		if (!bpf_prog_test_run_opts(fd, &run))
			due++;
		else if (errno != ENXIO) /* an offline CPU holds nothing it could add to */
			return;
	}
	s->flush_t0 = t0;
	s->flushes_due = due;
	if (!due)
		s->flushed_ts = flush_done_ts(s);
}

/* The ring's records into the window; a backlog goes on to cb as it is read. */
static int consume(struct krt_live_source *s, krt_live_event_cb cb, void *ctx)
{
	int err;

	s->backlog_cb = cb;
	s->backlog_ctx = ctx;
	s->consume_cut = false;
	err = ring_buffer__consume(s->rb);
	s->backlog_cb = NULL;
	if (err == -ECANCELED && s->consume_cut)
		return 0; /* stopped early, every record read so far handled */
	return err;
}

int krt_live_poll(struct krt_live_source *s, int timeout_ms, krt_live_event_cb cb, void *ctx)
{
	struct epoll_event ready;
	__u64 now_ns;
	int err;

	err = epoll_wait(ring_buffer__epoll_fd(s->rb), &ready, 1, timeout_ms);
	if (err < 0 && errno == EINTR)
		return -EINTR;
	/*
	 * Records are submitted without a wake-up until enough data waits, so
	 * a timed-out poll must still consume what is there; the batches
	 * first (what they hold is older than records read after them).
	 */
	sched_flush(s);
	err = consume(s, cb, ctx);
	if (s->consume_cut)
		/*
		 * Asked to stop (the caller drains next): the flush's records
		 * may not be read yet, so flushed_ts stays where it was.
		 */
		return s->out_of_memory ? -ENOMEM : -EINTR;
	if (s->batch_buf) {
		/* read up to the end: what the flush sent, unless the ring dropped it */
		s->flushed_ts = flush_done_ts(s);
		s->flushes_due = 0;
	}
	if (s->out_of_memory)
		return -ENOMEM;
	if (err < 0 && err != -EINTR)
		return err;
	/*
	 * Records are committed microseconds after their timestamp: whatever
	 * is older than the window by the clock (the BPF clock is
	 * CLOCK_MONOTONIC) is complete, even when nothing new arrives.
	 */
	now_ns = clock_ns();
	krt_reorder_span_update(&s->span, s->window.late, now_ns);
	if (now_ns < s->span.ns)
		return 0;
	err = deliver(s, flushed_cutoff(s, now_ns - s->span.ns), cb, ctx);
	/*
	 * A burst or a wide span made the window's pool grow; every 10 s it
	 * goes back to four times what waits, when that is an eighth or less
	 * (a soak's RSS kept every step the window ever took; on a loaded
	 * machine the span seldom is at its base for long, so that is no
	 * condition: a pool too small for a wider span grows again).
	 */
	if (now_ns - s->shrink_checked > KRT_REORDER_CALM_NS) {
		krt_reorder_shrink(&s->window);
		s->shrink_checked = now_ns;
	}
	return err;
}

/* One thread's on-CPU time still gathered in the kernel: CPU events now. */
static void leftover_cpu_of(struct krt_live_source *s, __u32 tid, struct krt_thread_state st,
			    __u64 now_ns)
{
	struct krt_event ev;

	if (st.oncpu_since > KRT_ONCPU_UNCOUNTED && now_ns > st.oncpu_since)
		st.acc_oncpu += now_ns - st.oncpu_since;
	if (!st.trace) {
		st.acc_oncpu += st.acc_idle;
	} else if (st.acc_idle) {
		memset(&ev, 0, sizeof(ev));
		ev.ts_ns = now_ns;
		ev.type = KRT_EV_CPU;
		ev.tid = tid;
		ev.oncpu.oncpu_ns = st.acc_idle;
		queue_event(s, &ev);
	}
	if (!st.acc_oncpu || (st.trace & KRT_TRACE_SAMPLED_OUT))
		return;
	memset(&ev, 0, sizeof(ev));
	ev.ts_ns = now_ns;
	ev.type = KRT_EV_CPU;
	ev.tid = tid;
	ev.oncpu.oncpu_ns = st.acc_oncpu;
	ev.oncpu.runq_ns = st.acc_runq;
	ev.oncpu.trace_id = st.trace & KRT_TRACE_ID_MASK;
	/* a guess of a thread that is no pool worker: as bpf/cpu.bpf.h's cpu_trace_id() */
	if ((st.trace & KRT_TRACE_UNSURE) && !st.pooled && !st.go_thread)
		ev.oncpu.trace_id = KRT_CPU_FOLLOWS;
	queue_event(s, &ev);
}

/* A state table of the kernel (BPF_F_MMAPABLE array) mapped for reading, or NULL. */
static const void *table_map(const struct bpf_map *m, size_t len, const char *what)
{
	void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, bpf_map__fd(m), 0);

	if (p == MAP_FAILED) {
		fprintf(stderr, "krtrace-bpf: warning: cannot read %s in the kernel: %s\n", what,
			strerror(errno));
		return NULL;
	}
	return p;
}

/*
 * On-CPU time still gathered in the kernel at the end of the run (threads
 * whose trace did not change since their last CPU record) becomes one CPU
 * event per thread, as if the trace changed now: read from the threads'
 * table through a mapping (not 64 k lookups).
 */
static void collect_leftover_cpu(struct krt_live_source *s, __u64 now_ns)
{
	size_t len = (size_t)KRT_THREAD_SLOTS * sizeof(struct krt_thread_slot);
	const struct krt_thread_slot *slots = s->table[KRT_TABLE_THREADS];
	size_t i;

	if (!slots)
		slots = table_map(s->skel->maps.thread_slots, len, "the threads' CPU time left");
	if (!slots)
		return;
	for (i = 0; i < KRT_THREAD_SLOTS; i++)
		if (slots[i].tid && !(slots[i].tid & KRT_SLOT_FILL_BIT))
			leftover_cpu_of(s, slots[i].tid, slots[i].st, now_ns);
	if (slots != s->table[KRT_TABLE_THREADS])
		munmap((void *)slots, len);
}

/* A send still waiting in direction key at the end: emitted now. */
static void waiting_send_of(struct krt_live_source *s, const struct krt_dir_key *key,
			    const struct krt_dir_tags *d)
{
	struct krt_tuple t;
	struct krt_event ev;

	if (d->wait_state != KRT_DEFER_WAITING)
		return;
	krt_dir_key_tuple(key, &t);
	memset(&ev, 0, sizeof(ev));
	krt_peer_send_fill(&ev, &d->wait_send, &t);
	queue_event(s, &ev);
	s->sends_at_exit++;
}

/*
 * Sends still waiting for a receiver at the end (programs detached):
 * emitted now, from the directions' table.
 */
static void collect_waiting_sends(struct krt_live_source *s)
{
	size_t len = (size_t)KRT_DIR_SLOTS * sizeof(struct krt_dir_slot);
	const struct krt_dir_slot *slots = s->table[KRT_TABLE_DIRS];
	size_t i;

	if (!slots)
		slots = table_map(s->skel->maps.dir_slots, len, "the sends left waiting");
	if (!slots)
		return;
	for (i = 0; i < KRT_DIR_SLOTS; i++)
		if (slots[i].claim == KRT_SLOT_USED)
			waiting_send_of(s, &slots[i].key, &slots[i].dt);
	if (slots != s->table[KRT_TABLE_DIRS])
		munmap((void *)slots, len);
}

static void pcpu_sum(struct krt_live_source *s, struct krt_pcpu_counters *sum);

/*
 * Per program: hits and average run time, as the kernel counts them while
 * kernel.bpf_stats_enabled=1 (sysctl); nothing when it is off.
 */
void krt_live_print_prog_stats(struct krt_live_source *s, FILE *f)
{
	struct bpf_program *p;

	bpf_object__for_each_program(p, s->skel->obj)
	{
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(p);

		memset(&info, 0, sizeof(info));
		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) || !info.run_cnt)
			continue;
		fprintf(f, "  %-16s %12llu runs %8.1f ns/run\n", bpf_program__name(p),
			(unsigned long long)info.run_cnt, (double)info.run_time_ns / info.run_cnt);
	}
}

/*
 * The counters a benchmark reads between two moments (SIGUSR1), one per
 * line so that a script can take differences: ring records submitted,
 * requests at the door and sampled, and per program its hits and run time
 * (run time only while BPF statistics are on: --bpf-stats or the sysctl).
 * Read through the skeleton's own program fds: only this tracer's
 * programs, whatever else is loaded on the machine.
 */
void krt_live_print_counters(struct krt_live_source *s, FILE *f, const char *prog, unsigned int n)
{
	const struct krtrace_bpf__bss *b = s->skel->bss;
	struct krt_pcpu_counters sum;
	struct bpf_program *p;

	pcpu_sum(s, &sum);
	fprintf(f, "%s: counters %u records %llu started %llu sampled %llu capped %llu\n", prog, n,
		(unsigned long long)sum.records, (unsigned long long)sum.traces_started,
		(unsigned long long)b->traces_sampled, (unsigned long long)b->traces_capped);
	bpf_object__for_each_program(p, s->skel->obj)
	{
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(p);

		memset(&info, 0, sizeof(info));
		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		fprintf(f, "%s: counters %u prog %s runs %llu run_ns %llu\n", prog, n,
			bpf_program__name(p), (unsigned long long)info.run_cnt,
			(unsigned long long)info.run_time_ns);
	}
	for (int t = 0; t < KRT_TABLES && s->tables.sweeps; t++)
		fprintf(
		    f, "%s: counters %u table %s held %llu peak %llu slots %llu reclaimed %llu\n",
		    prog, n, s->tables.name[t], (unsigned long long)s->tables.held[t],
		    (unsigned long long)s->tables.peak[t], (unsigned long long)s->tables.slots[t],
		    (unsigned long long)s->tables.reclaimed[t]);
	/* records read so far by kind (those still in the ring are not in them) */
	fprintf(f,
		"%s: counters %u kinds switch %llu wakeup %llu xfer %llu untagged %llu "
		"cpu %llu carried %llu fork %llu exit %llu sock_state %llu notify %llu "
		"batches %llu batched %llu\n",
		prog, n, (unsigned long long)s->kinds[KRT_EV_SWITCH],
		(unsigned long long)s->kinds[KRT_EV_WAKEUP],
		(unsigned long long)s->kinds[KRT_EV_XFER], (unsigned long long)s->xfer_untagged,
		(unsigned long long)s->kinds[KRT_EV_CPU], (unsigned long long)s->cpu_carried,
		(unsigned long long)s->kinds[KRT_EV_FORK],
		(unsigned long long)s->kinds[KRT_EV_EXIT],
		(unsigned long long)s->kinds[KRT_EV_SOCK_STATE],
		(unsigned long long)s->kinds[KRT_EV_NOTIFY], (unsigned long long)s->batches,
		(unsigned long long)s->batched);
	fprintf(f, "%s: counters %u lost ring_drops %llu slot_full %llu late %llu\n", prog, n,
		(unsigned long long)s->skel->bss->ring_drops,
		(unsigned long long)s->skel->bss->slot_full, (unsigned long long)s->window.late);
	/*
	 * Where the memory is, for a soak that must tell a table filling to
	 * its fixed size from a leak: the allocator's bytes in use and its
	 * footprint (in use + free chunks it keeps), and the reorder
	 * window's slots (it grows to the largest burst and stays).
	 */
	{
		struct mallinfo2 mi = mallinfo2();

		fprintf(f, "%s: counters %u memory heap_used %zu heap_total %zu window_slots %zu\n",
			prog, n, mi.uordblks + mi.hblkhd, mi.arena + mi.hblkhd,
			s->window.cap_keys / 2);
	}
#ifdef KRT_HOOK_PROFILE
	{
		static const char *const names[KRT_PROF_SLOTS] = KRT_PROF_NAMES;

		for (int sl = 0; sl < KRT_PROF_SLOTS; sl++) {
			unsigned long long ns = 0, hits = 0;

			for (int c = 0; c < KRT_MAX_CPUS; c++) {
				ns += s->skel->bss->prof_slots[c][sl][0];
				hits += s->skel->bss->prof_slots[c][sl][1];
			}
			fprintf(f, "%s: counters %u profile %s hits %llu ns %llu\n", prog, n,
				names[sl], hits, ns);
		}
	}
#endif
	fprintf(f, "%s: counters %u end\n", prog, n);
	fflush(f);
}

int krt_live_add_peer(struct krt_live_source *s, const struct krt_addr *a)
{
	struct krt_peer_key k;
	__u8 one = 1;

	memset(&k, 0, sizeof(k));
	memcpy(k.addr, a->addr, sizeof(k.addr));
	k.family = a->family;
	if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.peers), &k, &one, BPF_ANY))
		return -errno;
	return 0;
}

/*
 * The window up to cutoff handed over, then what the kernel still holds
 * (threads' CPU time since their last switch, counted up to now; sends
 * that waited for a receive that never read them), handed over too: the
 * tail of a drain, at the end of a run and at a pause alike.
 * What is collected here is old by nature: it is no reorder loss. A send
 * that waited in the kernel until now is older than what went out before
 * it: it goes with the time last handed over, as expected, and is counted
 * among the sends emitted on their own, not as a record the ring brought
 * late (the late count is restored).
 */
static int deliver_with_leftovers(struct krt_live_source *s, __u64 cutoff, __u64 now,
				  krt_live_event_cb cb, void *ctx)
{
	__u64 late, late_from;
	int n, m;

	n = deliver(s, cutoff, cb, ctx);
	if (n < 0)
		return n;
	late = s->window.late;
	late_from = s->window.late_from;
	if (s->skel->rodata->cpu_in_kernel)
		collect_leftover_cpu(s, now);
	if (s->skel->rodata->merge_hops)
		collect_waiting_sends(s);
	if (s->out_of_memory)
		return -ENOMEM;
	s->collected_at_end = true;
	m = deliver(s, cutoff, cb, ctx);
	s->window.late = late;
	s->window.late_from = late_from;
	s->late_reported = late;
	return m < 0 ? m : n + m;
}

int krt_live_drain(struct krt_live_source *s, krt_live_event_cb cb, void *ctx)
{
	int err;

	/* everything left: no early end (the stop flag is set by now) */
	s->stop = NULL;
	s->until_ns = 0;
	sched_flush(s);
	err = consume(s, cb, ctx);
	if (err < 0 && err != -EINTR)
		return err;
	/* what the ring held, first and in time order; then the kernel's leftovers */
	return deliver_with_leftovers(s, ~0ULL, clock_ns(), cb, ctx);
}

void krt_live_stats(struct krt_live_source *s, struct krt_source_stats *st)
{
	struct krt_pcpu_counters sum;

	st->ring_drops = s->skel->bss->ring_drops;
	st->lost_events = s->skel->bss->ring_drops;
	/* states not kept: every probed slot of their table held by others */
	st->map_full = s->skel->bss->slot_full;
	st->ring_records = s->arrivals;
	st->malformed = s->malformed;
	st->sample_rate = s->skel->rodata->sample_rate;
	/* behind the reorder window: timestamps clamped */
	st->reordered = s->window.late;
	pcpu_sum(s, &sum);
	st->go_synced = sum.go_synced;
	st->go_switches = sum.go_switches;
	st->go_inherited = s->skel->bss->go_inherited;
	st->go_handoffs = sum.go_handoffs;
	st->go_moved = s->skel->bss->go_moved;
	st->go_reused = s->skel->bss->go_reused;
	st->go_dials_handed = s->skel->bss->go_dials_handed;
	st->go_chan_handoffs = s->skel->bss->go_chan_handoffs;
	st->go_chan_unpaired = s->skel->bss->go_chan_unpaired;
	st->reorder_window_ns = s->span.widest_ns;
	for (int t = 0; t < KRT_TABLES; t++) {
		st->states_held += s->tables.held[t];
		st->states_peak += s->tables.peak[t];
		st->states_reclaimed += s->tables.reclaimed[t];
	}
}

/* The per-CPU counters, summed (CPUs beyond KRT_MAX_CPUS share the last line). */
static void pcpu_sum(struct krt_live_source *s, struct krt_pcpu_counters *sum)
{
	const struct krt_pcpu_counters *c = s->skel->bss->pcpu;
	int i;

	memset(sum, 0, sizeof(*sum));
	/* the possible CPUs only: the watchdog sums these every few ms */
	for (i = 0; i < s->n_cpus; i++) {
		sum->records += __atomic_load_n(&c[i].records, __ATOMIC_RELAXED);
		sum->sampled_out += c[i].sampled_out;
		sum->sampled_out_xfer += c[i].sampled_out_xfer;
		sum->sampled_out_sched += c[i].sampled_out_sched;
		sum->hops_merged += c[i].hops_merged;
		sum->sends_flushed += c[i].sends_flushed;
		sum->traces_started += c[i].traces_started;
		sum->go_synced += c[i].go_synced;
		sum->go_switches += c[i].go_switches;
		sum->go_handoffs += c[i].go_handoffs;
		sum->runs_unseen += c[i].runs_unseen;
	}
}

void krt_live_tag_stats(struct krt_live_source *s, struct krt_live_tag_stats *st)
{
	struct krt_pcpu_counters sum;

	const struct krtrace_bpf__bss *b = s->skel->bss;

	pcpu_sum(s, &sum);
	st->traces_started = sum.traces_started;
	st->traces_sampled = b->traces_sampled;
	st->traces_capped = b->traces_capped;
	st->sampled_out_records = sum.sampled_out + sum.sampled_out_xfer + sum.sampled_out_sched;
	st->sampled_out_xfers = sum.sampled_out_xfer;
	st->slot_probed = b->slot_probed;
	st->slot_full = b->slot_full;
	st->slot_busy = b->slot_busy;
	st->cpu_carried = s->cpu_carried;
	st->hops_merged = sum.hops_merged;
	st->sends_flushed = sum.sends_flushed + s->sends_at_exit;
	st->sched_batches = s->batches;
	st->sched_batched = s->batched;
	st->sched_notify = s->notified;
	st->runs_unseen = sum.runs_unseen;
}

bool krt_live_syscall_hooks(const struct krt_live_source *s)
{
	return s->syscall_hooks;
}

__u64 krt_live_late_events(struct krt_live_source *s)
{
	return s->window.late;
}

__u64 krt_live_backlog(struct krt_live_source *s)
{
	__u64 read = __atomic_load_n(&s->arrivals, __ATOMIC_RELAXED);
	struct krt_pcpu_counters sum;

	pcpu_sum(s, &sum);
	return sum.records > read ? sum.records - read : 0;
}

/*
 * Where function f's program attaches. Lazy, ready's program goes on
 * runtime.goready, its only caller for a goroutine's wake-up (channels,
 * locks, timers, the poller's deadlines): the waker runs there on its own
 * stack, so R14 is its g, where ready runs on the scheduler's (g0: its
 * m.curg read from user memory at every hit, 7 and 15 of them per
 * go-http and go-fanout request). The runtime's own calls of ready (the
 * GC's workers and assists) hand no request over.
 */
static __u64 go_probe_offset(const struct krt_go_info *gi, int f, bool lazy)
{
	if (f == KRT_GO_READY && lazy && gi->funcs[KRT_GO_GOREADY].found)
		return gi->funcs[KRT_GO_GOREADY].file_offset;
	return gi->funcs[f].file_offset;
}

/*
 * Lazy, with runtime.send and runtime.recv in the binary: the wake-ups
 * are seen there, not at runtime.goready. Those two are the only channel
 * operations that ready a goroutine parked on the other side (chansend,
 * chanrecv and selectgo call them), the only wake-ups that hand a value
 * over; goready is also called for every lock and semaphore released,
 * WaitGroup done, sync.Cond signalled, channel closed and timer fired,
 * whose hits the program then ignored (traceskip) or took for hand-offs
 * (closes, sync.Cond) that hand nothing: each hit is a trap of the
 * service's thread (15-23 us here, bench/uprobe_cost.sh) before any
 * program runs.
 */
static bool go_wake_on_chan(const struct krt_go_info *gi, bool lazy)
{
	return lazy && gi->funcs[KRT_GO_SEND].found && gi->funcs[KRT_GO_RECV].found;
}

/* A Go runtime's uprobe, on its process's executable (through /proc: its mount namespace). */
static int go_link_attach(struct krt_go_link *l)
{
	char exe[64];

	snprintf(exe, sizeof(exe), "/proc/%u/exe", l->pid);
	l->link = bpf_program__attach_uprobe(l->prog, false, (pid_t)l->pid, exe, l->offset);
	return l->link ? 0 : -errno;
}

static void go_link_detach(struct krt_go_link *l)
{
	bpf_link__destroy(l->link);
	l->link = NULL;
}

/* Process pid's next Go link: prog at offset (attached unless paused). */
static int go_link_add(struct krt_live_source *s, struct bpf_program *prog, __u32 pid, __u64 offset)
{
	struct krt_go_link *l = &s->go_links[s->n_go_links];
	int err;

	l->prog = prog;
	l->pid = pid;
	l->offset = offset;
	l->link = NULL;
	/* paused: krt_live_resume attaches it with the others */
	if (!s->paused) {
		err = go_link_attach(l);
		if (err)
			return err;
	}
	s->n_go_links++;
	return 0;
}

/*
 * A pause's Go probes, detached in the background: each detach waits for
 * a grace period of the kernel's, and one after the other (the kernel
 * serialises them: in parallel threads took as long) go-http's and
 * go-fanout's 8 probes kept a pause 200-350 ms long. Meanwhile the probes
 * return at once (go_probes_paused).
 */
static void *go_detach_background(void *arg)
{
	struct krt_live_source *s = arg;

	for (int i = 0; i < s->go_detaching; i++)
		go_link_detach(&s->go_links[i]);
	return NULL;
}

/* The background detach is over (before the links are touched again). */
static void go_detach_wait(struct krt_live_source *s)
{
	if (s->go_detach_started)
		pthread_join(s->go_detacher, NULL);
	s->go_detach_started = false;
	s->go_detaching = 0;
}

static void go_links_detach_all(struct krt_live_source *s)
{
	go_detach_wait(s);
	while (s->n_go_links)
		go_link_detach(&s->go_links[--s->n_go_links]);
}

/*
 * Goroutines of Go process pid are followed (bpf/goroutines.bpf.h): its
 * runtime offsets go in go_procs, and a uprobe per runtime function, for
 * this process only, on its executable (through /proc: its mount namespace
 * may not be ours).
 */
int krt_live_follow_go(struct krt_live_source *s, __u32 pid, const struct krt_go_info *gi)
{
	struct bpf_program *progs[KRT_GO_N_PROBED] = {
	    [KRT_GO_EXECUTE] = s->skel->progs.krt_go_execute,
	    [KRT_GO_GOSTARTCALLFN] = s->skel->progs.krt_go_newproc,
	    [KRT_GO_READY] = s->skel->progs.krt_go_ready,
	    [KRT_GO_CHANSEND] = s->skel->progs.krt_go_chansend,
	    [KRT_GO_CHANRECV] = s->skel->progs.krt_go_chanrecv,
	    [KRT_GO_SELECTGO] = s->skel->progs.krt_go_selectgo,
	};
	struct krt_go_proc proc = {
	    .goid_off = (__u32)gi->goid_offset,
	    .sched_off = (__u32)gi->sched_offset,
	    .qcount_off = (__u16)gi->hchan.qcount,
	    .dataqsiz_off = (__u16)gi->hchan.dataqsiz,
	    .sendx_off = (__u16)gi->hchan.sendx,
	    .recvx_off = (__u16)gi->hchan.recvx,
	    .recvq_off = (__u16)gi->hchan.recvq,
	    .sendq_off = (__u16)gi->hchan.sendq,
	    .chans = gi->chans,
	    .handoff_skips = gi->handoff_skips,
	    /*
	     * the hooks find the running goroutine: runtime.execute not
	     * probed. Not the syscall-exit hook: its frame and the lookup's
	     * go past the BPF stack (528 of 512 bytes); runtime.execute's
	     * probe switches the thread's goroutine there.
	     */
	    .lazy = gi->tls_g_known && !s->syscall_hooks,
	    .tls_g_off = gi->tls_g_offset,
	    .g_m_off = (__u16)gi->g_m_offset,
	    .m_curg_off = (__u16)gi->m_curg_offset,
	};
	int first = s->n_go_links, err;

	if (!gi->usable)
		return -EINVAL;
	if (s->n_go_links + KRT_GO_N_PROBED > (int)(sizeof(s->go_links) / sizeof(s->go_links[0])))
		return -E2BIG;
	for (int f = 0; f < KRT_GO_N_PROBED; f++) {
		/*
		 * With the channels probed, hand-offs are seen there: runtime.ready
		 * also wakes the waiters of locks and WaitGroups, which hand no
		 * work over. Without, ready is all there is.
		 */
		if (proc.chans ? f == KRT_GO_READY : f >= KRT_GO_N_NEEDED)
			continue;
		if (proc.lazy && f == KRT_GO_EXECUTE)
			continue;
		if (f == KRT_GO_READY && go_wake_on_chan(gi, proc.lazy)) {
			err = go_link_add(s, s->skel->progs.krt_go_chan_ready, pid,
					  gi->funcs[KRT_GO_SEND].file_offset);
			if (!err)
				err = go_link_add(s, s->skel->progs.krt_go_chan_ready, pid,
						  gi->funcs[KRT_GO_RECV].file_offset);
		} else {
			err = go_link_add(s, progs[f], pid, go_probe_offset(gi, f, proc.lazy));
		}
		if (err)
			goto undo;
	}
	if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.go_procs), &pid, &proc, BPF_ANY)) {
		err = -errno;
		goto undo;
	}
	/* the programs' "is this a Go process": a bit (bpf/common.bpf.h, go_bits) */
	if (pid / 64 < sizeof(s->skel->bss->go_bits) / sizeof(s->skel->bss->go_bits[0]))
		__atomic_fetch_or(&s->skel->bss->go_bits[pid / 64], 1ULL << (pid % 64),
				  __ATOMIC_SEQ_CST);
	return 0;
undo:
	while (s->n_go_links > first)
		go_link_detach(&s->go_links[--s->n_go_links]);
	return err ? err : -EINVAL;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * The epoch starts at 1 so that states made before the first tick are not
 * taken for ancient ones; it is 16 bits wide in the states, compared
 * modulo 2^16 (18 hours): a sweep every few seconds sees every idle state
 * cross its idle time long before its age could wrap.
 */
void krt_live_tick(struct krt_live_source *s)
{
	__u32 epoch;

	if (!s->start_s)
		s->start_s = mono_s();
	epoch = 1 + (__u32)(mono_s() - s->start_s);
	if (s->skel->bss->krt_epoch != epoch)
		s->skel->bss->krt_epoch = epoch;
}

static int map_tables(struct krt_live_source *s)
{
	const struct bpf_map *maps[KRT_TABLES] = {
	    s->skel->maps.thread_slots, s->skel->maps.conn_slots, s->skel->maps.dir_slots};
	static const char *const names[KRT_TABLES] = {"threads", "connections", "directions"};
	int i;

	if (s->tables_unmappable)
		return -EPERM;
	if (s->table[0])
		return 0;
	s->tables.slots[KRT_TABLE_THREADS] = (__u64)s->skel->rodata->thread_slot_mask + 1;
	s->tables.slots[KRT_TABLE_CONNS] = (__u64)s->skel->rodata->conn_slot_mask + 1;
	s->tables.slots[KRT_TABLE_DIRS] = (__u64)s->skel->rodata->dir_slot_mask + 1;
	for (i = 0; i < KRT_TABLES; i++) {
		s->tables.name[i] = names[i];
		s->table_len[i] =
		    (size_t)bpf_map__max_entries(maps[i]) * bpf_map__value_size(maps[i]);
		s->table[i] = mmap(NULL, s->table_len[i], PROT_READ | PROT_WRITE, MAP_SHARED,
				   bpf_map__fd(maps[i]), 0);
		if (s->table[i] == MAP_FAILED) {
			int err = -errno;

			fprintf(stderr,
				"krtrace-bpf: warning: cannot map the %s' table: %s: idle "
				"states will not age out\n",
				names[i], strerror(-err));
			s->table[i] = NULL;
			while (i--) {
				munmap(s->table[i], s->table_len[i]);
				s->table[i] = NULL;
			}
			s->tables_unmappable = true;
			return err;
		}
	}
	return 0;
}

/*
 * One table: its claim word at the start of each slot (owner, or free, or
 * being filled), its touched epoch at touched_off. Reclaiming is the
 * claim protocol's own free (a compare-and-swap from the owner's value),
 * so a state its hook is creating at this moment is never taken.
 */
static void sweep_table(struct krt_live_source *s, int t, size_t slot_size, size_t touched_off,
			__u64 used_word, unsigned int idle_s)
{
	__u16 epoch = (__u16)s->skel->bss->krt_epoch;
	char *base = s->table[t];
	__u64 i, held = 0;

	for (i = 0; i < s->tables.slots[t]; i++) {
		char *slot = base + i * slot_size;
		__u64 word = __atomic_load_n((__u64 *)slot, __ATOMIC_RELAXED);
		__u16 touched;

		if (word == KRT_SLOT_FREE)
			continue;
		held++;
		if (!idle_s || (used_word ? word != used_word : (word & KRT_SLOT_FILL_BIT)))
			continue; /* being filled */
		touched = __atomic_load_n((__u16 *)(slot + touched_off), __ATOMIC_RELAXED);
		if ((__u16)(epoch - touched) < idle_s)
			continue;
		if (__sync_bool_compare_and_swap((__u64 *)slot, word, KRT_SLOT_FREE)) {
			s->tables.reclaimed[t]++;
			held--;
		}
	}
	s->tables.held[t] = held;
	if (held > s->tables.peak[t])
		s->tables.peak[t] = held;
}

int krt_live_sweep(struct krt_live_source *s, unsigned int idle_s)
{
	int err = map_tables(s);

	if (err)
		return err;
	krt_live_tick(s);
	/* an idle time past the epoch's range could never be told from a young state */
	if (idle_s > 60000)
		idle_s = 60000;
	sweep_table(s, KRT_TABLE_THREADS, sizeof(struct krt_thread_slot),
		    offsetof(struct krt_thread_slot, st.touched), 0, idle_s);
	sweep_table(s, KRT_TABLE_CONNS, sizeof(struct krt_conn_slot),
		    offsetof(struct krt_conn_slot, c.touched), 0, idle_s);
	sweep_table(s, KRT_TABLE_DIRS, sizeof(struct krt_dir_slot),
		    offsetof(struct krt_dir_slot, dt.touched), KRT_SLOT_USED, idle_s);
	s->tables.sweeps++;
	return 0;
}

int krt_live_map_tables(struct krt_live_source *s)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t step = page > 0 ? (size_t)page : 4096;
	int err = map_tables(s);

	if (err)
		return err;
	/*
	 * Each page read once: mapped is not yet touched (here, a virtual
	 * machine's first access of each page costs ~2 us: the first pause's
	 * drain and forgetting took 6 ms each more than the later ones').
	 */
	for (int i = 0; i < KRT_TABLES; i++)
		for (size_t off = 0; off < s->table_len[i]; off += step)
			(void)*(volatile const char *)((const char *)s->table[i] + off);
	return 0;
}

void krt_live_table_stats(struct krt_live_source *s, struct krt_live_table_stats *st)
{
	*st = s->tables;
}

void krt_live_stop_at(struct krt_live_source *s, const volatile sig_atomic_t *stop, double seconds)
{
	s->stop = stop;
	s->until_ns = seconds > 0 ? clock_ns() + (__u64)(seconds * 1e9) : 0;
	s->since_check = 0;
}

void krt_live_detach(struct krt_live_source *s)
{
	krtrace_bpf__detach(s->skel);
	s->paused = false; /* nothing to attach again */
	go_links_detach_all(s);
	bpf_link__destroy(s->tcpopt_link);
	s->tcpopt_link = NULL;
}

void krt_live_set_phase(struct krt_live_source *s, enum krt_sample_phase p)
{
	__atomic_store_n(&s->skel->bss->sample_phase, (__u32)p, __ATOMIC_RELAXED);
}

/*
 * The hot programs, which a pause detaches: a hit on every transfer,
 * switch, wake-up and socket state change (or TCP send, with the TCP
 * option) of the machine or of the traced processes; those not loaded
 * (sys_exit or the socket hooks, the option's) have no link. The socket
 * state hook too: what it keeps that is no request's (which end of a
 * connection connected) a connection opened meanwhile goes without, as one
 * older than the tracer (the lower port serves); a close it misses leaves a
 * connection's state to age out (socket cookies are never reused; with the
 * syscall hooks, socket addresses are, and the pause frees those states).
 * Stay: fork and exit (which processes are traced, a tid's state gone at
 * its exit), and the TCP option's sock_ops program (a connection set up
 * without it would never carry the option).
 */
static void hot_progs(struct krt_live_source *s, struct bpf_program *prog[KRT_LIVE_HOT_PROGS],
		      struct bpf_link **link[KRT_LIVE_HOT_PROGS])
{
	struct krtrace_bpf *k = s->skel;
	int i = 0;

#define HOT(name) (prog[i] = k->progs.name, link[i++] = &k->links.name)
	HOT(krt_switch);
	HOT(krt_waking);
	HOT(krt_sock_send);
	HOT(krt_sock_recv);
	HOT(krt_sys_exit);
	HOT(krt_sock_state);
	HOT(krt_tcpopt_sendmsg);
#undef HOT
	_Static_assert(KRT_LIVE_HOT_PROGS == 7, "hot_progs: every hot program");
}

/*
 * Every event up to t (the detach) into cb: the CPUs' batches and the ring
 * read to the end (a batch a transfer hook was adding to when flushed is
 * flushed again: the hook is gone by now), the window emptied up to t; then
 * what the kernel still gathers (threads' CPU time, sends waiting for their
 * receiver), as at the end of a run, at t.
 */
static int pause_drain(struct krt_live_source *s, __u64 t, krt_live_event_cb cb, void *ctx)
{
	int err;

	for (int round = 0; round < 2; round++) {
		sched_flush(s);
		err = consume(s, cb, ctx);
		if (err < 0 && err != -EINTR)
			return err;
		if (s->flush_held == ~0ULL)
			break;
	}
	if (s->batch_buf) {
		s->flushed_ts = flush_done_ts(s);
		s->flushes_due = 0;
	}
	if (s->out_of_memory)
		return -ENOMEM;
	err = deliver_with_leftovers(s, t, t, cb, ctx);
	/* the run goes on: later records can be late again */
	s->collected_at_end = false;
	return err < 0 ? err : 0;
}

/* The kernel's request state forgotten (live_forget.c says what stays). */
static int forget_requests(struct krt_live_source *s)
{
	/* a thread's goroutine is in its slot: krt_forget_threads */
	const struct bpf_map *go_maps[] = {s->skel->maps.go_states, s->skel->maps.go_dials,
					   s->skel->maps.go_slots};
	int err = map_tables(s);

	if (err)
		return err;
	krt_forget_threads(s->table[KRT_TABLE_THREADS], s->tables.slots[KRT_TABLE_THREADS]);
	krt_forget_conns(s->table[KRT_TABLE_CONNS], s->tables.slots[KRT_TABLE_CONNS],
			 s->syscall_hooks);
	krt_forget_dirs(s->table[KRT_TABLE_DIRS], s->tables.slots[KRT_TABLE_DIRS]);
	memset((void *)s->skel->bss->open_sampled, 0, sizeof(s->skel->bss->open_sampled));
	for (size_t i = 0; i < sizeof(go_maps) / sizeof(go_maps[0]); i++) {
		err = krt_forget_map(bpf_map__fd(go_maps[i]));
		if (err)
			return err;
	}
	return 0;
}

int krt_live_pause(struct krt_live_source *s, krt_live_event_cb cb, void *ctx)
{
	const volatile sig_atomic_t *stop = s->stop;
	struct bpf_link **link[KRT_LIVE_HOT_PROGS];
	struct bpf_program *prog[KRT_LIVE_HOT_PROGS];
	__u64 until = s->until_ns, t;
	struct krt_event ev;
	int err;

	if (s->paused) {
		fprintf(stderr, "krtrace-bpf: pause: the tracer is paused already\n");
		return -EALREADY;
	}
	/* the Go probes first do nothing, then go in the background (the slowest) */
	__atomic_store_n(&s->skel->bss->go_probes_paused, 1, __ATOMIC_SEQ_CST);
	s->go_detaching = s->n_go_links;
	s->go_detach_started =
	    s->go_detaching && !pthread_create(&s->go_detacher, NULL, go_detach_background, s);
	if (!s->go_detach_started)
		go_detach_background(s);
	hot_progs(s, prog, link);
	for (int i = 0; i < KRT_LIVE_HOT_PROGS; i++) {
		s->hot_detached[i] = *link[i] != NULL;
		bpf_link__destroy(*link[i]);
		*link[i] = NULL;
	}
	s->paused = true;
	/* the drain's leftover CPU reads the threads' table: mapped once, for good */
	(void)map_tables(s);
	t = clock_ns();
	/* all of it, whatever the stop flag: the caller's drain comes after */
	s->stop = NULL;
	s->until_ns = 0;
	err = pause_drain(s, t, cb, ctx);
	s->stop = stop;
	s->until_ns = until;
	if (err) {
		fprintf(stderr, "krtrace-bpf: pause: cannot hand over the events before it: %s\n",
			strerror(-err));
		return err;
	}
	err = forget_requests(s);
	if (err) {
		fprintf(stderr, "krtrace-bpf: pause: cannot clear the kernel's request state: %s\n",
			strerror(-err));
		return err;
	}
	/* from here the engine forgets too; nothing handed over later is older */
	memset(&ev, 0, sizeof(ev));
	ev.ts_ns = t > s->window.last_ts ? t : s->window.last_ts;
	ev.type = KRT_EV_PAUSE;
	s->window.last_ts = ev.ts_ns;
	cb(&ev, ctx);
	return 0;
}

/*
 * A Go process's probes at the resume: gone with the process (its go_bits
 * cleared by the exit hook; its pid may be another process's by now).
 */
static bool go_link_gone(struct krt_live_source *s, const struct krt_go_link *l)
{
	const __u64 *bits = s->skel->bss->go_bits;

	return l->pid / 64 >= sizeof(s->skel->bss->go_bits) / sizeof(*bits) ||
	       !((__atomic_load_n(&bits[l->pid / 64], __ATOMIC_RELAXED) >> (l->pid % 64)) & 1);
}

int krt_live_resume(struct krt_live_source *s)
{
	struct bpf_link **link[KRT_LIVE_HOT_PROGS];
	struct bpf_program *prog[KRT_LIVE_HOT_PROGS];
	int err = 0, i, kept = 0;

	if (!s->paused) {
		fprintf(stderr, "krtrace-bpf: resume: the tracer is not paused\n");
		return -EINVAL;
	}
	hot_progs(s, prog, link);
	for (i = 0; i < KRT_LIVE_HOT_PROGS; i++) {
		if (!s->hot_detached[i])
			continue;
		*link[i] = bpf_program__attach(prog[i]);
		if (!*link[i]) {
			err = -errno;
			fprintf(stderr, "krtrace-bpf: resume: cannot attach %s again: %s\n",
				bpf_program__name(prog[i]), strerror(-err));
			/* still paused: what this call attached goes again */
			while (i--) {
				bpf_link__destroy(*link[i]);
				*link[i] = NULL;
			}
			return err;
		}
	}
	s->paused = false;
	go_detach_wait(s);
	for (i = 0; i < s->n_go_links; i++) {
		struct krt_go_link *l = &s->go_links[i];
		int e;

		if (go_link_gone(s, l))
			continue;
		e = go_link_attach(l);
		if (e && !go_link_gone(s, l)) {
			fprintf(stderr,
				"krtrace-bpf: resume: cannot attach Go process %u's probe again: "
				"%s: its goroutines are not followed\n",
				l->pid, strerror(-e));
			err = err ? err : e;
			continue;
		}
		if (!e)
			s->go_links[kept++] = *l;
	}
	s->n_go_links = kept;
	__atomic_store_n(&s->skel->bss->go_probes_paused, 0, __ATOMIC_SEQ_CST);
	return err;
}

bool krt_live_paused(const struct krt_live_source *s)
{
	return s->paused;
}

void krt_live_close(struct krt_live_source *s)
{
	int i;

	if (!s)
		return;
	go_links_detach_all(s);
	bpf_link__destroy(s->tcpopt_link);
	for (i = 0; i < KRT_TABLES; i++)
		if (s->table[i])
			munmap(s->table[i], s->table_len[i]);
	ring_buffer__free(s->rb);
	krtrace_bpf__destroy(s->skel);
	krt_reorder_free(&s->window);
	free(s->batch_buf);
	free(s);
}
