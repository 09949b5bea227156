/*
 * One trace as OpenTelemetry spans, for the OTLP encoders (otlp_encode.h):
 * the span model is decided here once, and the JSON and protobuf encodings
 * only spell it.
 *
 * Span model: one span per (thread, trace) segment, from the thread's first
 * to its last activity on the trace. Resources group the spans by container
 * (service.name). The thread that received the request is the root span
 * (kind SERVER); every other thread's parent is the thread that first sent
 * it bytes of this trace (hops in order, so the tree follows the request);
 * a thread reached by no hop hangs under the root. A non-root thread that
 * passes the request on downstream is a CLIENT span, the others SERVER.
 *
 * Ids: traceId is the trace's 128-bit id (trace_id.h); spanId = a hash of
 * (run, trace, tid), never zero. Times: the engine's CLOCK_MONOTONIC
 * nanoseconds plus the REALTIME - MONOTONIC offset the writer measured.
 */
#ifndef KRT_OTLP_SPANS_H
#define KRT_OTLP_SPANS_H

#include <stdbool.h>
#include "trace_data.h"
#include "writer_util.h"

#define KRT_OTLP_MAX_EVENTS 128 /* hop events per span; the rest are counted */
#define KRT_OTLP_MAX_ATTRS 13

#define KRT_OTLP_KIND_SERVER 2
#define KRT_OTLP_KIND_CLIENT 3

/* An attribute: a string when str is set, else the integer num. */
struct krt_otlp_attr {
	const char *key;
	const char *str;
	__u64 num;
};

/* A send or receive of the span's thread on this trace. */
struct krt_otlp_event {
	__u64 time_ns; /* Unix time */
	bool out;      /* "send" (else "recv") */
	char peer[KRT_NODE_NAME_LEN];
	__u64 bytes;
};

struct krt_otlp_span {
	const char *service; /* the container, "unknown" when not known */
	__u8 span_id[8];
	__u8 parent_id[8];
	bool has_parent;
	int kind;
	__u64 start_ns, end_ns;	      /* Unix time */
	char name[KRT_COMM_LEN + 16]; /* comm[tid] */
	char comm[KRT_COMM_LEN + 1];
	char goids[KRT_THREAD_GOIDS_MAX * 11]; /* "117 14": krtrace.goids */
	struct krt_otlp_attr attrs[KRT_OTLP_MAX_ATTRS];
	size_t n_attrs;
	struct krt_otlp_event *events;
	size_t n_events, dropped_events;
};

/* What every trace of one writer shares. */
struct krt_otlp_run {
	__u64 offset_ns;  /* REALTIME - MONOTONIC */
	const char *host; /* host.name on every resource; NULL = none */
};

struct krt_otlp_trace {
	__u8 trace_id[16];
	char run_hex[17]; /* krtrace.run_id on every resource */
	const char *host;
	size_t n_spans;
	struct krt_otlp_span *spans; /* in the trace's thread order */
};

/* Builds the spans of t; 0, or -1 when out of memory. An empty trace has no span. */
int krt_otlp_trace_build(struct krt_otlp_trace *m, const struct krt_otlp_run *run,
			 const struct krt_trace *t);
void krt_otlp_trace_release(struct krt_otlp_trace *m);

/* Whether span i is the first of its service: the encoders start a resource there. */
bool krt_otlp_first_of_service(const struct krt_otlp_trace *m, size_t i);

#endif
