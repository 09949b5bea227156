/*
 * The default human-readable output: per trace a header line, a table of
 * the threads that worked on it, and its hops in order; then a summary.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "writer_util.h"

#define C_BOLD "\033[1m"
#define C_CYAN "\033[36m"
#define C_YELLOW "\033[33m"
#define C_DIM "\033[2m"
#define C_OFF "\033[0m"

static const char *col(const struct krt_writer *w, const char *code)
{
	return w->color ? code : "";
}

/* Offset of ts from the trace start, 0 when the time is unknown or earlier. */
static __u64 rel(const struct krt_trace *t, __u64 ts)
{
	return ts > t->start_ns ? ts - t->start_ns : 0;
}

static void print_header(struct krt_writer *w, const struct krt_trace *t)
{
	char client[KRT_ADDR_STRLEN], server[KRT_ADDR_STRLEN], who[KRT_NODE_NAME_LEN];
	char dur[32];

	krt_node_name(t, t->ingress.tid, &t->ingress.client, who, sizeof(who));
	fprintf(
	    w->out,
	    "%strace %" PRIu64 "%s  ingress %s -> %s by %s%s%s  start %" PRIu64
	    ".%06u s  duration %s ms",
	    col(w, C_BOLD), (uint64_t)t->id, col(w, C_OFF),
	    krt_addr_str(&t->ingress.client, client, sizeof(client)),
	    krt_addr_str(&t->ingress.server, server, sizeof(server)), col(w, C_CYAN), who,
	    col(w, C_OFF), (uint64_t)(t->start_ns / 1000000000ULL),
	    (unsigned)(t->start_ns / 1000 % 1000000),
	    krt_fmt_ms(t->end_ns > t->start_ns ? t->end_ns - t->start_ns : 0, dur, sizeof(dur)));
	if (t->incomplete) {
		char why[96];

		fprintf(w->out, "  %sINCOMPLETE (%s)%s", col(w, C_YELLOW),
			krt_incomplete_str(t->incomplete, ", ", why, sizeof(why)), col(w, C_OFF));
	}
	if (t->uncertain) {
		char why[KRT_UNCERTAIN_STRLEN];

		fprintf(w->out, "  %suncertain: %s%s", col(w, C_YELLOW),
			krt_uncertain_str(t->uncertain, why, sizeof(why)), col(w, C_OFF));
	}
	fputc('\n', w->out);
}

/* A Go thread's goroutines that worked on the trace: "  g117 g14" (up to 16). */
static void print_goids(struct krt_writer *w, const struct krt_trace *t, __u32 tid)
{
	__u32 goids[KRT_THREAD_GOIDS_MAX];
	size_t i, n = krt_thread_goids(t, tid, goids, KRT_THREAD_GOIDS_MAX);

	if (n)
		fputc(' ', w->out);
	for (i = 0; i < n; i++)
		fprintf(w->out, " g%u", goids[i]);
}

static void print_threads(struct krt_writer *w, const struct krt_trace *t)
{
	char name[KRT_NODE_NAME_LEN], cpu[32], first[32], last[32], runq[32];
	bool has_runq = false;
	size_t i;

	if (!t->n_threads)
		return;
	/* Run-queue delay is measured on the live path only: a column when there is one. */
	for (i = 0; i < t->n_threads; i++)
		has_runq |= t->threads[i].runq_ns != 0;
	fprintf(w->out, "  %s%-36s %12s %12s %12s%s%s\n", col(w, C_DIM), "thread", "on-CPU ms",
		"first ms", "last ms", has_runq ? "  run-queue ms" : "", col(w, C_OFF));
	for (i = 0; i < t->n_threads; i++) {
		const struct krt_thread_stat *th = &t->threads[i];

		fprintf(w->out, "  %-36s %12s %12s %12s", krt_thread_name(th, name, sizeof(name)),
			krt_fmt_ms(th->cpu_ns, cpu, sizeof(cpu)),
			krt_fmt_ms(rel(t, th->first_ns), first, sizeof(first)),
			krt_fmt_ms(rel(t, th->last_ns), last, sizeof(last)));
		if (has_runq)
			fprintf(w->out, " %14s", krt_fmt_ms(th->runq_ns, runq, sizeof(runq)));
		print_goids(w, t, th->tid);
		fputc('\n', w->out);
	}
}

/* A hop end's name: a thread of the trace (named once per trace), or its address. */
static const char *hop_end(const struct krt_trace *t, __u32 tid, const struct krt_addr *a,
			   char (*names)[KRT_NODE_NAME_LEN], size_t n_names, char *buf, size_t len)
{
	size_t i;

	for (i = 0; tid && i < n_names; i++)
		if (t->threads[i].tid == tid)
			return names[i];
	return krt_node_name(t, tid, a, buf, len);
}

/* Appends s to line (cap bytes, NUL kept) at *n. */
static void put(char *line, size_t cap, size_t *n, const char *s)
{
	size_t k = strlen(s);

	if (k > cap - 1 - *n)
		k = cap - 1 - *n;
	memcpy(line + *n, s, k);
	*n += k;
}

#define HOP_NAMES 16

static void print_hops(struct krt_writer *w, const struct krt_trace *t)
{
	char from[KRT_NODE_NAME_LEN], to[KRT_NODE_NAME_LEN], at[32], lat[32], bytes[24];
	char names[HOP_NAMES][KRT_NODE_NAME_LEN], line[3 * KRT_NODE_NAME_LEN + 128];
	size_t i, n_names = t->n_threads < HOP_NAMES ? t->n_threads : HOP_NAMES;

	/* a hop line per transfer, built by hand: printf per hop was most of a live run's output
	 * cost */
	for (i = 0; i < n_names; i++)
		krt_thread_name(&t->threads[i], names[i], sizeof(names[i]));
	for (i = 0; i < t->n_hops; i++) {
		const struct krt_hop *h = &t->hops[i];
		bool has_lat = h->send_ns && h->recv_ns && h->recv_ns >= h->send_ns;
		size_t n = 0;

		if (has_lat)
			krt_fmt_ms(h->recv_ns - h->send_ns, lat, sizeof(lat));
		put(line, sizeof(line), &n, "  +");
		put(line, sizeof(line), &n, krt_fmt_ms(rel(t, krt_hop_ts(h)), at, sizeof(at)));
		put(line, sizeof(line), &n, " ms  ");
		put(line, sizeof(line), &n,
		    hop_end(t, h->from_tid, &h->from_addr, names, n_names, from, sizeof(from)));
		put(line, sizeof(line), &n, " -> ");
		put(line, sizeof(line), &n,
		    hop_end(t, h->to_tid, &h->to_addr, names, n_names, to, sizeof(to)));
		put(line, sizeof(line), &n, "  ");
		put(line, sizeof(line), &n, krt_fmt_u64(h->bytes, bytes));
		put(line, sizeof(line), &n, " B  latency ");
		put(line, sizeof(line), &n, has_lat ? lat : "-");
		put(line, sizeof(line), &n, has_lat ? " ms" : "");
		if (h->uncertain) {
			char why[KRT_UNCERTAIN_STRLEN];

			put(line, sizeof(line), &n, "  uncertain: ");
			put(line, sizeof(line), &n,
			    krt_uncertain_str(h->uncertain, why, sizeof(why)));
		}
		put(line, sizeof(line), &n, "\n");
		fwrite(line, 1, n, w->out);
	}
}

static int text_trace(struct krt_writer *w, const struct krt_trace *t)
{
	print_header(w, t);
	print_threads(w, t);
	print_hops(w, t);
	fputc('\n', w->out);
	return 0;
}

static void print_count(struct krt_writer *w, const char *what, __u64 n, bool warn)
{
	const char *on = warn && n ? col(w, C_YELLOW) : "";
	const char *off = warn && n ? col(w, C_OFF) : "";

	fprintf(w->out, "  %-24s %s%" PRIu64 "%s\n", what, on, (uint64_t)n, off);
}

static int text_finish(struct krt_writer *w, const struct krt_summary *s)
{
	char ms[32];
	size_t i;
	__u32 type;

	fprintf(w->out, "%ssummary%s\n", col(w, C_BOLD), col(w, C_OFF));
	for (i = 0; i < krt_n_summary_fields; i++) {
		const struct krt_summary_field *f = &krt_summary_fields[i];
		__u64 v = krt_summary_value(f, s);
		bool first = true;

		if (!krt_summary_shown(f, s))
			continue;
		if (f->unit == KRT_SUM_RATE) {
			fprintf(w->out, "  %-24s 1 in %" PRIu64 " requests\n", f->label,
				(uint64_t)v);
		} else if (f->unit == KRT_SUM_NS) {
			fprintf(w->out, "  %-24s %s ms\n", f->label, krt_fmt_ms(v, ms, sizeof(ms)));
		} else if (!strcmp(f->key, "events")) {
			/* the events, and how many of each type */
			fprintf(w->out, "  %-24s %" PRIu64, f->label, (uint64_t)v);
			for (type = 1; type < KRT_EV_TYPE_MAX; type++) {
				if (!s->events_by_type[type])
					continue;
				fprintf(w->out, "%s%s %" PRIu64, first ? "  (" : ", ",
					krt_event_type_name(type),
					(uint64_t)s->events_by_type[type]);
				first = false;
			}
			fprintf(w->out, "%s\n", first ? "" : ")");
		} else {
			print_count(w, f->label, v, f->loss);
		}
	}
	return 0;
}

static void text_destroy(struct krt_writer *w)
{
	krt_writer_free(w);
}

static const struct krt_writer_ops text_ops = {
    .name = "text",
    .trace = text_trace,
    .finish = text_finish,
    .destroy = text_destroy,
};

struct krt_writer *krt_writer_text_new(FILE *out, bool color)
{
	struct krt_writer *w = krt_writer_alloc(&text_ops, out, NULL);

	if (w)
		w->color = color;
	return w;
}
