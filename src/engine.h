/*
 * The attribution engine (SPEC §3): one engine for both sources.
 *
 * Sources feed normalised events (include/krtrace_event.h) in timestamp
 * order; the engine assigns traceIDs at gateway ingress, follows bytes
 * between threads, charges on-CPU time, and hands every completed trace to
 * a callback, then frees it (memory stays bounded on endless runs).
 */
#ifndef KRT_ENGINE_H
#define KRT_ENGINE_H

#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>
#include "krtrace_event.h"
#include "pids_file.h"

struct krt_engine;

struct krt_thread_stat {
	__u32 tid, pid;			/* pid = tgid; equals tid when unknown */
	char comm[KRT_COMM_LEN];
	const char *container;		/* "" when unknown; owned by the engine */
	__u64 cpu_ns;			/* on-CPU time charged to this trace */
	__u64 runq_ns;			/* run-queue delay while on this trace (live) */
	__u64 first_ns, last_ns;	/* first and last activity for this trace */
};

/* tid 0 = not a traced thread: the address is the node. */
struct krt_hop {
	__u32 from_tid;
	__u32 to_tid;
	struct krt_addr from_addr;	/* sender's end of the connection */
	struct krt_addr to_addr;	/* receiver's end of the connection */
	__u64 bytes;
	__u64 send_ns;			/* 0 when the send was not seen */
	__u64 recv_ns;			/* 0 when the receive was not seen */
};

/* One on-CPU interval of a thread charged to a trace (for timelines). */
struct krt_slice {
	__u32 tid;
	__u64 start_ns, end_ns;
};

struct krt_trace {
	__u64 id;
	struct {
		struct krt_addr client;		/* gateway side */
		struct krt_addr server;		/* container side */
		__u32 tid;			/* thread that received the request */
		__u64 ts_ns;
	} ingress;
	__u64 start_ns, end_ns;
	size_t n_threads;
	struct krt_thread_stat *threads;	/* sorted by first_ns */
	size_t n_hops;
	struct krt_hop *hops;			/* sorted by send_ns (recv_ns if no send) */
	size_t n_slices;
	struct krt_slice *slices;		/* sorted by start_ns */
};

/* Counters a source fills in (parser or BPF loader); shown in the summary. */
struct krt_source_stats {
	__u64 lines;			/* import: lines read */
	__u64 bytes;			/* import: bytes read */
	__u64 malformed;		/* import: lines that could not be parsed */
	__u64 unknown_events;		/* import: event names not in the contract */
	__u64 lost_events;		/* ftrace "LOST n EVENTS", or ring buffer drops */
	__u64 ring_drops;		/* live: records dropped, ring full */
	__u64 map_full;			/* live: map insertions that failed */
	__u64 sock_unreadable;		/* live: sockets whose state could not be read */
	__u64 ring_records;		/* live: records received */
	__u64 unresolved_xfers;		/* transfers whose connection stayed unknown */
	__u32 sample_rate;		/* live: --sample N (0/1 = every request) */
	/* import: report lines the normaliser turned into no event, and why */
	__u64 non_socket_io;		/* read/write on fds that are not TCP sockets */
	__u64 ack_probes;		/* tcp_probe with data_len 0 (pure ACKs) */
	__u64 unpaired_syscalls;	/* sys_exit without its sys_enter, or the reverse */
	__u64 no_address;		/* tcp events whose addresses the report lacks */
	__u64 reordered;		/* timestamps going backwards (clamped) */
	__u64 table_full;		/* normaliser state dropped at a table bound */
};

struct krt_summary {
	__u64 events;				/* events fed to the engine */
	__u64 events_by_type[KRT_EV_TYPE_MAX];
	__u64 traces;				/* traces emitted */
	__u64 hops;
	__u64 attributed_cpu_ns;
	__u64 unattributed_cpu_ns;		/* on-CPU time of threads with no trace */
	__u64 unmatched_recv_bytes;		/* received bytes no traced send explains */
	__u64 unmatched_send_bytes;		/* sent bytes nobody traced received */
	__u64 untraced_peer_recvs;		/* receives from untraced endpoints */
	__u64 duplicate_probes;			/* tcp_probe retransmissions ignored */
	__u64 late_events;			/* activity for an already-emitted trace */
	__u64 kernel_tag_disagreements;		/* --check-tags: kernel vs engine */
	__u64 lost_events;			/* sum of KRT_EV_LOST counts fed */
	__u64 dropped_segments;			/* send segments dropped: queue cap or idle */
	__u64 wakeup_conflicts;			/* wakeup target already held another trace */
	/*
	 * Connection directions whose byte offsets were re-aligned after lost
	 * events or a detected misalignment (stale send segments or pending
	 * receives dropped, a gateway connection's next request split off).
	 */
	__u64 resyncs;
	/* misalignments no reported loss explains: events lost unreported */
	__u64 silent_losses;
	__u64 first_ns, last_ns;		/* time span of the input */
	struct krt_source_stats source;
};

typedef void (*krt_trace_cb)(const struct krt_trace *trace, void *ctx);

struct krt_engine_config {
	struct krt_addr gateway;	/* port 0; requests start when received from it */
	const struct krt_pids *pids;	/* containers; may be NULL (live discovery fills it) */
	FILE *verbose;			/* -V: first-pass decisions, one line per event; NULL = off */
	bool color;			/* colour the -V lines */
	/*
	 * A trace is complete when nothing happened on it for this long (event
	 * time) and no thread holds it; it is then emitted and freed.
	 * 0 = keep everything until krt_engine_flush() (import default).
	 */
	__u64 linger_ns;
	bool use_kernel_tags;		/* live: trust KRT_XF_TAGGED trace ids */
	bool check_kernel_tags;		/* live: also run the rules and count disagreements */
	bool keep_slices;		/* fill krt_trace.slices (timeline writers) */
	krt_trace_cb on_trace;
	void *cb_ctx;
};

struct krt_engine *krt_engine_new(const struct krt_engine_config *cfg);
/* Events must come in non-decreasing ts_ns order (per source). */
void krt_engine_feed(struct krt_engine *e, const struct krt_event *ev);
/* Emit every trace still open (end of input or end of run). */
void krt_engine_flush(struct krt_engine *e);
/* The summary so far; the source stats are copied in by the caller. */
struct krt_summary *krt_engine_summary(struct krt_engine *e);
void krt_engine_free(struct krt_engine *e);

/* Name of an event type ("switch", "xfer", ...) for summaries. */
const char *krt_event_type_name(__u32 type);

#endif
