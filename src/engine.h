/*
 * The attribution engine (docs/design.md): one engine for both sources.
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
#include "trace_data.h"

struct krt_engine;

typedef void (*krt_trace_cb)(const struct krt_trace *trace, void *ctx);

struct krt_engine_config {
	struct krt_addr gateway;     /* port 0; requests start when received from it */
	const struct krt_pids *pids; /* containers; may be NULL (live discovery fills it) */
	FILE *verbose;		     /* -V: first-pass decisions, one line per event; NULL = off */
	bool color;		     /* colour the -V lines */
	/*
	 * A trace is complete when nothing happened on it for this long (event
	 * time) and no thread holds it; it is then emitted and freed.
	 * 0 = keep everything until krt_engine_flush() (import default).
	 */
	__u64 linger_ns;
	bool use_kernel_tags;	/* live: trust KRT_XF_TAGGED trace ids */
	bool check_kernel_tags; /* live: also run the rules and count disagreements */
	bool keep_slices;	/* fill krt_trace.slices (timeline writers) */
	/*
	 * live --rules / --debug check-tags: on-CPU time is counted here from
	 * the switch records (not the kernel's CPU records); a transfer by a
	 * thread with no switch-in seen starts its count (engine_conn.c).
	 */
	bool cpu_from_switches;
	/*
	 * --peers: the other traced hosts' networks (NULL = none). A peer's
	 * request to a server side starts a trace here, as the gateway's do.
	 */
	const struct krt_peers *peers;
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
/*
 * After a sampling pause (KRT_EV_PAUSE): are its pools' loops in step again
 * (no job of a request read before the pause left among the jobs they
 * hand back)? Until then their requests' traces are guesses, marked
 * uncertain: windowed sampling's warm-up may wait for it. True when no
 * pool needs it (none, or none paused).
 */
bool krt_engine_settled(struct krt_engine *e);
void krt_engine_free(struct krt_engine *e);

#endif
