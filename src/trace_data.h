/*
 * The data the engine hands to writers, and the counters sources fill in:
 * what sources and writers share, so that neither depends on the engine
 * itself (src/engine.h is the engine's API).
 */
#ifndef KRT_TRACE_DATA_H
#define KRT_TRACE_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>
#include "krtrace_event.h"

struct krt_thread_stat {
	__u32 tid, pid; /* pid = tgid; equals tid when unknown */
	char comm[KRT_COMM_LEN];
	const char *container;	 /* "" when unknown; owned by the engine */
	__u64 cpu_ns;		 /* on-CPU time charged to this trace */
	__u64 runq_ns;		 /* run-queue delay while on this trace (live) */
	__u64 first_ns, last_ns; /* first and last activity for this trace */
};

/*
 * Why the kernel could not decide (a trace's or a hop's "uncertain"): bits,
 * so that one trace can carry several reasons. Names in krt_uncertain_str().
 */
enum krt_uncertain {
	KRT_UNCERTAIN_HANDOFF = 1 << 0,	 /* a thread-pool hand-off guessed, not settled */
	KRT_UNCERTAIN_SAMPLING = 1 << 1, /* a thread moved between sampled and unsampled work */
	KRT_UNCERTAIN_ONEWAY = 1 << 2, /* a reply on a shared connection whose request is unclear */
	KRT_UNCERTAIN_LOOP = 1 << 3,   /* an event loop owed several requests a send */
	KRT_UNCERTAIN_PIPELINE = 1 << 4,  /* more requests pipelined on a connection than kept */
	KRT_UNCERTAIN_GOROUTINE = 1 << 5, /* import: a thread's tasks (goroutines) move between
					   * threads; it may run another request's now */
};

/* tid 0 = not a traced thread: the address is the node. */
struct krt_hop {
	__u32 from_tid;
	__u32 to_tid;
	struct krt_addr from_addr; /* sender's end of the connection */
	struct krt_addr to_addr;   /* receiver's end of the connection */
	__u64 bytes;
	__u64 send_ns; /* 0 when the send was not seen */
	__u64 recv_ns; /* 0 when the receive was not seen */
	__u32 seq;     /* has_seq: TCP sequence number of the first byte (krtrace merge) */
	__u8 has_seq;
	__u32 uncertain; /* enum krt_uncertain bits; 0 = decided */
	/* Go programs followed live: the goroutines (low 32 bits of goid) that
	 * sent and received on those threads; 0 = unknown or not Go */
	__u32 from_goid, to_goid;
	/*
	 * Import with goroutine events: the threads the goroutines of
	 * from_tid / to_tid (units of their own) ran on then; the engine
	 * hands the writers these as from_tid / to_tid. 0 = not a goroutine.
	 */
	__u32 from_thread, to_thread;
};

/* One on-CPU interval of a thread charged to a trace (for timelines). */
struct krt_slice {
	__u32 tid;
	__u64 start_ns, end_ns;
};

struct krt_trace {
	__u64 id;
	struct {
		struct krt_addr client; /* gateway side */
		struct krt_addr server; /* container side */
		__u32 tid;		/* thread that received the request */
		__u64 ts_ns;
	} ingress;
	__u64 start_ns, end_ns;
	size_t n_threads;
	struct krt_thread_stat *threads; /* sorted by first_ns */
	size_t n_hops;
	struct krt_hop *hops; /* sorted by send_ns (recv_ns if no send) */
	size_t n_slices;
	struct krt_slice *slices; /* sorted by start_ns */
	/*
	 * KRT_INCOMPLETE_* bits: a loss that may have touched this trace (it
	 * was open, or had started, when the loss was reported). 0 = whole.
	 */
	__u32 incomplete;
	__u32 uncertain; /* enum krt_uncertain: its own and its hops' */
	/* live: the kernel's trace number (0: none), the low half of its 128-bit id */
	__u32 kernel_id;
	/* live, --tcp-option-cgroup: another host's trace this one continues (run 0: none) */
	struct krt_remote_ctx remote;
};

/* Causes of an incomplete trace: bit (1 << enum krt_lost_reason). */
#define KRT_INCOMPLETE_LOST_EVENTS (1u << KRT_LOST_CAPTURE)
#define KRT_INCOMPLETE_RING_DROP (1u << KRT_LOST_RING_FULL)
#define KRT_INCOMPLETE_TABLE_FULL (1u << KRT_LOST_TABLE_FULL)
#define KRT_INCOMPLETE_REORDER (1u << KRT_LOST_REORDER)
#define KRT_INCOMPLETE_UNRESOLVED (1u << KRT_LOST_UNRESOLVED)
#define KRT_INCOMPLETE_UNREPORTED (1u << KRT_LOST_UNREPORTED)
#define KRT_INCOMPLETE_WINDOW (1u << KRT_LOST_WINDOW)
#define KRT_INCOMPLETE_CAUSES 7
/*
 * "lost_events", "ring_drop", "table_full", "reorder_clamp", "unresolved_xfer",
 * "unreported_loss", "window" for cause bit i, or NULL.
 */
const char *krt_incomplete_name(unsigned int i);

/* Counters a source fills in (parser or BPF loader); shown in the summary. */
struct krt_source_stats {
	__u64 lines;		/* import: lines read */
	__u64 bytes;		/* import: bytes read */
	__u64 malformed;	/* import: lines that could not be parsed */
	__u64 unknown_events;	/* import: event names not in the contract */
	__u64 lost_events;	/* ftrace "LOST n EVENTS", or ring buffer drops */
	__u64 ring_drops;	/* live: records dropped, ring full */
	__u64 map_full;		/* live: thread, connection or direction states not kept
				 * (their table's probed slots all held) */
	__u64 ring_records;	/* live: records received */
	__u64 unresolved_xfers; /* transfers whose connection stayed unknown */
	__u32 sample_rate;	/* live: --sample N (0/1 = every request) */
	__u64 go_followed;	/* live: Go programs whose goroutines are followed */
	__u64 sample_rate_cap;	/* live: --sample-rate N, requests per second (0 = no cap) */
	__u64 traces_capped;	/* live: requests left unsampled by that cap */
	__u64 sample_windows;	/* live, --sample-window: windows opened */
	__u64 sample_open_ns;	/* live, --sample-window: time they were open */
	__u64 sample_run_ns;	/* live, --sample-window: the run's time */
	__u64 go_by_thread;	/* live: Go programs attributed by thread (stripped...) */
	/* live: the kernel's goroutine rules (bpf/goroutines.bpf.h), how often each acted */
	__u64 go_synced;	/* goroutine changes a hook found (g from the thread's TLS) */
	__u64 go_switches;	/* goroutine changes that changed the thread's trace */
	__u64 go_inherited;	/* goroutines started with their creator's trace */
	__u64 go_handoffs;	/* goroutines that took a trace from their waker */
	__u64 go_moved;		/* goroutine states fetched from the thread they left */
	__u64 go_reused;	/* runtime.g reused: its last thread made to forget it */
	__u64 go_dials_handed;	/* new connections handed to a request of another trace */
	__u64 go_chan_handoffs; /* --go-channels: traces taken over a channel */
	__u64 go_chan_unpaired; /* --go-channels: values taken that no send noted */
	/* import: report lines the normaliser turned into no event, and why */
	__u64 non_socket_io;	 /* read/write on fds that are not TCP sockets */
	__u64 ack_probes;	 /* tcp_probe with data_len 0 (pure ACKs) */
	__u64 unpaired_syscalls; /* sys_exit without its sys_enter, or the reverse */
	__u64 no_address;	 /* tcp events whose addresses the report lacks */
	__u64 reordered;	 /* timestamps going backwards (clamped) */
	__u64 reorder_window_ns; /* live: the widest the reorder window grew (0: never grew) */
	__u64 table_full;	 /* normaliser state dropped at a table bound */
	/* live: the kernel's state tables (threads, connections, directions) */
	__u64 states_held;	/* held at the end */
	__u64 states_peak;	/* the most held at one sweep */
	__u64 states_reclaimed; /* untouched for the idle time: aged out */
};

struct krt_summary {
	__u64 events; /* events fed to the engine */
	__u64 events_by_type[KRT_EV_TYPE_MAX];
	/* import with goroutine events: switches, started with a trace, hand-offs */
	__u64 go_switches, go_inherited, go_handoffs;
	__u64 traces;		 /* traces emitted */
	__u64 incomplete_traces; /* of which a loss may have touched */
	__u64 hops;
	__u64 attributed_cpu_ns;
	__u64 unattributed_cpu_ns;	/* on-CPU time of threads with no trace */
	__u64 unmatched_recv_bytes;	/* received bytes no traced send explains */
	__u64 unmatched_send_bytes;	/* sent bytes nobody traced received */
	__u64 untraced_peer_recvs;	/* receives from untraced endpoints */
	__u64 duplicate_probes;		/* tcp_probe retransmissions ignored */
	__u64 late_events;		/* activity for an already-emitted trace */
	__u64 kernel_tag_disagreements; /* --debug check-tags: kernel vs engine */
	__u64 kernel_tag_late_checks;	/* of those checks: receives checked when their send came */
	__u64 lost_events;		/* sum of KRT_EV_LOST counts fed */
	__u64 dropped_segments;		/* send segments dropped: queue cap or idle */
	__u64 wakeup_conflicts;		/* wakeup target already held another trace */
	__u64 uncertain_traces;		/* traces emitted with "uncertain" */
	__u64 uncertain_hops;		/* hops emitted with "uncertain" */
	/*
	 * Connection directions whose byte offsets were re-aligned after lost
	 * events or a detected misalignment (stale send segments or pending
	 * receives dropped, a gateway connection's next request split off).
	 */
	__u64 resyncs;
	/* misalignments no reported loss explains: events lost unreported */
	__u64 silent_losses;
	/*
	 * Windowed sampling: KRT_EV_PAUSE events, the tracer's hooks off until
	 * the next window (the engine forgot every request at each).
	 */
	__u64 pauses;
	__u64 first_ns, last_ns; /* time span of the input */
	struct krt_source_stats source;
};

/* Name of an event type ("switch", "xfer", ...) for summaries. */
static inline const char *krt_event_type_name(__u32 type)
{
	static const char *const names[KRT_EV_TYPE_MAX] = {
	    [KRT_EV_FORK] = "fork",
	    [KRT_EV_EXIT] = "exit",
	    [KRT_EV_SWITCH] = "switch",
	    [KRT_EV_XFER] = "xfer",
	    [KRT_EV_SOCK_STATE] = "sock_state",
	    [KRT_EV_WAKEUP] = "wakeup",
	    [KRT_EV_CPU] = "cpu",
	    [KRT_EV_LOST] = "lost",
	    [KRT_EV_NOTIFY] = "notify",
	    [KRT_EV_RECV_WAIT] = "recv_wait",
	    [KRT_EV_GO] = "goroutine",
	    [KRT_EV_PAUSE] = "pause",
	};

	if (type < KRT_EV_TYPE_MAX && names[type])
		return names[type];
	return "unknown";
}

#endif
