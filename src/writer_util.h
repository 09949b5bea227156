/* Helpers shared by the output writers: names of nodes, trace copies. */
#ifndef KRT_WRITER_UTIL_H
#define KRT_WRITER_UTIL_H

#include <stddef.h>
#include "trace_data.h"
#include "pids_file.h" /* KRT_NAME_LEN: container names */
#include "writer.h"

/* Enough for "container/comm[tid]" with the longest container name. */
#define KRT_NODE_NAME_LEN 128

/* The thread's entry in the trace, NULL when the trace does not list it. */
const struct krt_thread_stat *krt_trace_thread(const struct krt_trace *t, __u32 tid);
/* "container/comm[tid]", or "comm[tid]" when the container is unknown. */
const char *krt_thread_name(const struct krt_thread_stat *th, char *buf, size_t len);
/*
 * The goroutines seen working on the trace on thread tid (Go programs
 * followed live): the distinct goids its hops name for that thread, in hop
 * order, at most max in out. Returns how many were stored.
 */
#define KRT_THREAD_GOIDS_MAX 16
size_t krt_thread_goids(const struct krt_trace *t, __u32 tid, __u32 *out, size_t max);
/* A hop end: the thread's name, "tid N" for an unlisted thread, else the address. */
const char *krt_node_name(const struct krt_trace *t, __u32 tid, const struct krt_addr *a, char *buf,
			  size_t len);
/* When the hop happened: its send time, or its receive time when the send was not seen. */
static inline __u64 krt_hop_ts(const struct krt_hop *h)
{
	return h->send_ns ? h->send_ns : h->recv_ns;
}

/* A writer with the given ops and private data; NULL on allocation failure. */
struct krt_writer *krt_writer_alloc(const struct krt_writer_ops *ops, FILE *out, void *priv);
/* Closes out when owned and frees the writer (not priv). */
void krt_writer_free(struct krt_writer *w);

/* A deep copy for writers that render at finish; NULL on allocation failure. */
struct krt_trace *krt_trace_dup(const struct krt_trace *t);
void krt_trace_free(struct krt_trace *t);

/* One trace's flow as a Graphviz digraph (writer_dot.c; the HTML report uses it too). */
/* A DOT quoted id: quotes and backslashes escaped, newline as DOT's \n. */
void krt_dot_quote(FILE *f, const char *s);
void krt_dot_write_trace(FILE *f, const struct krt_trace *t);

/*
 * Events lost: the source counts them in its stats and the engine counts the
 * LOST events it was fed; both may see the same loss, so take the larger.
 */
static inline __u64 krt_summary_lost(const struct krt_summary *s)
{
	return s->lost_events > s->source.lost_events ? s->lost_events : s->source.lost_events;
}

/*
 * The summary's fields, one table for every writer (JSON and raw by key,
 * text and HTML by label), in the order they are written.
 */
enum krt_sum_show {
	KRT_SUM_ALWAYS,	   /* text/HTML: always */
	KRT_SUM_NONZERO,   /* text/HTML: when not 0 */
	KRT_SUM_LIVE,	   /* text/HTML: from the live source (it reads a ring buffer) */
	KRT_SUM_IMPORT,	   /* text/HTML: from an import (it reads lines) */
	KRT_SUM_IMPORT_NZ, /* text/HTML: from an import, when not 0 */
	KRT_SUM_RESYNC,	   /* text/HTML: when not 0 or events were lost */
	KRT_SUM_MACHINE,   /* JSON and raw only */
};

enum krt_sum_unit {
	KRT_SUM_COUNT,
	KRT_SUM_NS,   /* text/HTML: as milliseconds */
	KRT_SUM_RATE, /* sampling: "1 in N" in text/HTML, 1 for every request */
};

struct krt_summary_field {
	const char *key;   /* JSON key and raw summary key */
	const char *label; /* text and HTML */
	unsigned char show;
	unsigned char unit;
	bool loss;	/* a loss: highlighted when not 0 */
	bool in_source; /* a field of struct krt_source_stats, else of krt_summary */
	unsigned short off;
};

extern const struct krt_summary_field krt_summary_fields[];
extern const size_t krt_n_summary_fields;

/* The field's value in s (lost: krt_summary_lost; sample rate 1 for every request). */
__u64 krt_summary_value(const struct krt_summary_field *f, const struct krt_summary *s);
/* Whether the text and HTML summaries show the field for s. */
bool krt_summary_shown(const struct krt_summary_field *f, const struct krt_summary *s);

/* The causes of an incomplete trace, "ring_drop, reorder_clamp" (sep between), in buf. */
const char *krt_incomplete_str(__u32 bits, const char *sep, char *buf, size_t len);
/*
 * The reasons of an "uncertain" mark (enum krt_uncertain bits) as
 * "handoff", "handoff,sampling"...; "" when bits is 0.
 */
#define KRT_UNCERTAIN_STRLEN 48
const char *krt_uncertain_str(__u32 bits, char *buf, size_t len);

/* Nanoseconds as "1.234" milliseconds. */
const char *krt_fmt_ms(__u64 ns, char *buf, size_t len);
/* v in decimal in buf (at least 21 bytes) */
const char *krt_fmt_u64(__u64 v, char *buf);

#endif
