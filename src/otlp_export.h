/*
 * Delivery of encoded OTLP payloads to a collector, off the caller's thread.
 *
 * The live path calls the writers on the thread that drains the ring
 * buffer: a collector that is slow, down or hung must never stall it. The
 * writer encodes a batch (OTLP/JSON today; any encoding: the content type
 * travels with the payload) and queues it here; a thread of its own POSTs
 * the queue in order, retrying with back-off while the collector fails.
 * The queue is bounded (payloads and bytes): when it is full a new
 * payload is dropped and its traces counted, never waited for.
 */
#ifndef KRT_OTLP_EXPORT_H
#define KRT_OTLP_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct krt_export;

struct krt_export_opts {
	int post_timeout_ms; /* one POST: connect, send, status line (default 2000) */
	int max_payloads;    /* queue bound in payloads (default 64) */
	size_t max_bytes;    /* queue bound in bytes (default 32 MiB) */
	int max_tries;	     /* per payload before it is given up (default 5) */
	int backoff_min_ms;  /* first wait after a failure, doubling (default 100) */
	int backoff_max_ms;  /* (default 5000) */
	int drain_ms;	     /* at close: how long the queue may still take (default 3000) */
};

struct krt_export_stats {
	__u64 queued_traces;	/* traces handed to krt_export_queue */
	__u64 delivered_traces; /* answered 2xx */
	__u64 dropped_traces;	/* queue full (or out of memory) when queued */
	__u64 failed_traces;	/* given up after retries, a 4xx, or left at close */
	__u64 posts, failed_posts;
	__u64 max_queued_bytes; /* the queue's high-water mark */
	char last_error[160];	/* the cause of the last failed POST, "" if none */
};

/* NULL with the cause in err when endpoint is not an http:// URL or the thread cannot start. */
struct krt_export *krt_export_new(const char *endpoint, const struct krt_export_opts *opts,
				  char *err, size_t errlen);
/*
 * Queues one encoded payload (a complete request body, malloc'ed: ownership
 * passes to the exporter, also on failure) holding n_traces traces, to be
 * POSTed with this Content-Type (a static string). Never blocks on the
 * network. Returns 0 when queued, -1 when dropped (queue full; counted).
 */
int krt_export_queue(struct krt_export *e, const char *content_type, void *payload, size_t len,
		     __u64 n_traces);
/* A snapshot of the counters (any thread). */
void krt_export_stats(struct krt_export *e, struct krt_export_stats *st);
/*
 * Delivers what is queued within opts.drain_ms (plus at most one POST
 * timeout already under way), counts the rest as failed, stops the thread
 * and frees everything. st (may be NULL) gets the final counters.
 */
void krt_export_close(struct krt_export *e, struct krt_export_stats *st);

#endif
