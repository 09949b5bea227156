/*
 * Parsed report records -> normalised events (include/krtrace_event.h).
 *
 * ftrace shows a socket transfer in pieces: sys_enter/sys_exit of the
 * syscall, and tcp_probe / tcp_rcv_space_adjust telling the connection.
 * The normaliser joins them per thread into one KRT_EV_XFER, in input
 * order, and hands every event to a callback (the engine, or a test).
 * It knows nothing about traces; it only decides which connection and how
 * many bytes.
 */
#ifndef KRT_FTRACE_NORMALIZE_H
#define KRT_FTRACE_NORMALIZE_H

#include <stdio.h>
#include <linux/types.h>
#include "krtrace_event.h"
#include "report_parser.h"

struct krt_normalizer;

typedef void (*krt_norm_emit_fn)(const struct krt_event *ev, void *ctx);

/* What the normaliser could not turn into events; shown in the summary. */
struct krt_norm_stats {
	__u64 events;		/* events emitted */
	__u64 non_socket_io;	/* read/write on fds never seen as TCP sockets (log files, pipes) */
	__u64 unresolved_xfers; /* socket transfers whose connection stayed unknown */
	__u64 duplicate_probes; /* tcp_probe matching no send: retransmission or duplicate */
	__u64 ack_probes;	/* tcp_probe with data_len 0 (pure ACKs): ignored */
	__u64 unpaired_syscalls; /* sys_exit without its sys_enter, or the reverse */
	__u64 reordered;	 /* timestamps going backwards (clamped to keep order) */
	__u64 table_full;	 /* state dropped because a table reached its bound */
	__u64 no_address;	 /* tcp events whose addresses the report lacks (IPv6) */
	__u64 socket_wakeups;	 /* wake-ups by TCP data delivery: not passed on as hand-offs */
	__u64 go_events;	 /* goroutine events (go_execute, go_start, go_ready) */
	__u64 goroutines;	 /* goroutines followed as units of their own */
};

struct krt_normalizer *krt_norm_new(krt_norm_emit_fn emit, void *ctx);
/*
 * The gateway's address (port ignored): bytes from it are never a traced
 * thread's send, whatever context their tcp_probe fires in.
 */
void krt_norm_set_gateway(struct krt_normalizer *n, const struct krt_addr *gateway);
/* -V: one line per report line the import turned into no event, and why. */
void krt_norm_set_verbose(struct krt_normalizer *n, FILE *f);
/* Feeds one parsed record; emits zero or more events through the callback. */
void krt_norm_record(struct krt_normalizer *n, const struct krt_report_record *rec);
/* End of input: counts what is still open (syscalls without exit, pending sends). */
void krt_norm_finish(struct krt_normalizer *n);
const struct krt_norm_stats *krt_norm_stats(const struct krt_normalizer *n);
void krt_norm_free(struct krt_normalizer *n);

/* Adapter for krt_rp_read_stream(): ctx is the struct krt_normalizer *. */
void krt_norm_record_cb(const struct krt_report_record *rec, void *ctx);

#endif
