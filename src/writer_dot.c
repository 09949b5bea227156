/*
 * Graphviz DOT (--dot FILE [--trace ID]): one digraph per trace, threads
 * grouped in a cluster per container, address nodes for endpoints that are
 * not traced threads, edges numbered in flow order with bytes and latency.
 * Traces are written as they complete; nothing is buffered.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "writer_util.h"

struct dot_priv {
	__u64 only_trace; /* 0 = every trace */
	__u64 written;
};

/*
 * A quoted DOT id: quotes and backslashes escaped, a newline becomes DOT's
 * own line break escape, other control bytes are dropped.
 */
void krt_dot_quote(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}

static void node_id(const struct krt_trace *t, __u32 tid, const struct krt_addr *a, char *buf,
		    size_t len)
{
	char addr[KRT_ADDR_STRLEN];

	if (tid)
		snprintf(buf, len, "t%u", tid);
	else
		snprintf(buf, len, "a%s", krt_addr_str(a, addr, sizeof(addr)));
}

static void put_thread_node(FILE *f, const struct krt_trace *t, const struct krt_thread_stat *th,
			    const char *indent)
{
	char id[32], label[KRT_NODE_NAME_LEN + 64], comm[KRT_COMM_LEN + 1], ms[32];

	snprintf(id, sizeof(id), "t%u", th->tid);
	memcpy(comm, th->comm, KRT_COMM_LEN);
	comm[KRT_COMM_LEN] = '\0';
	snprintf(label, sizeof(label), "%s[%u]\n%s ms CPU%s", comm, th->tid,
		 krt_fmt_ms(th->cpu_ns, ms, sizeof(ms)),
		 th->tid == t->ingress.tid ? "\ningress" : "");
	fputs(indent, f);
	krt_dot_quote(f, id);
	fputs(" [label=", f);
	krt_dot_quote(f, label);
	fputs(th->tid == t->ingress.tid ? ", penwidth=2];\n" : "];\n", f);
}

static bool seen_before(const char *const *containers, size_t n, const char *c)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(containers[i], c))
			return true;
	return false;
}

static void put_clusters(FILE *f, const struct krt_trace *t)
{
	const char **done = calloc(t->n_threads ? t->n_threads : 1, sizeof(*done));
	size_t n_done = 0, i, k;
	char name[KRT_NAME_LEN + 32];

	for (i = 0; i < t->n_threads; i++) {
		const char *c = t->threads[i].container ? t->threads[i].container : "";

		/* Without memory for the bookkeeping, draw threads outside clusters. */
		if (!done || !c[0]) {
			put_thread_node(f, t, &t->threads[i], "  ");
			continue;
		}
		if (seen_before(done, n_done, c))
			continue;
		done[n_done++] = c;
		snprintf(name, sizeof(name), "cluster_%s", c);
		fputs("  subgraph ", f);
		krt_dot_quote(f, name);
		fputs(" {\n    label=", f);
		krt_dot_quote(f, c);
		fputs(";\n    style=rounded;\n", f);
		for (k = i; k < t->n_threads; k++) {
			const char *ck = t->threads[k].container ? t->threads[k].container : "";

			if (!strcmp(ck, c))
				put_thread_node(f, t, &t->threads[k], "    ");
		}
		fputs("  }\n", f);
	}
	free(done);
}

/* Hop ends that are not listed threads: addresses, or threads the trace does not list. */
static void put_other_node(FILE *f, const struct krt_trace *t, __u32 tid, const struct krt_addr *a)
{
	char id[KRT_ADDR_STRLEN + 2], label[KRT_ADDR_STRLEN + 16];

	if (tid && krt_trace_thread(t, tid))
		return;
	node_id(t, tid, a, id, sizeof(id));
	if (tid)
		snprintf(label, sizeof(label), "tid %u", tid);
	else
		krt_addr_str(a, label, sizeof(label));
	fputs("  ", f);
	krt_dot_quote(f, id);
	fputs(" [label=", f);
	krt_dot_quote(f, label);
	fputs(tid ? "];\n" : ", shape=ellipse, style=dashed];\n", f);
}

void krt_dot_write_trace(FILE *f, const struct krt_trace *t)
{
	char title[128], from[KRT_ADDR_STRLEN + 2], to[KRT_ADDR_STRLEN + 2], label[96];
	char client[KRT_ADDR_STRLEN], server[KRT_ADDR_STRLEN], ms[32], lat[32];
	size_t i;

	snprintf(title, sizeof(title), "trace %" PRIu64, (uint64_t)t->id);
	fputs("digraph ", f);
	krt_dot_quote(f, title);
	fputs(" {\n  rankdir=LR;\n  labelloc=t;\n  fontname=\"Helvetica\";\n  label=", f);
	snprintf(label, sizeof(label), "trace %" PRIu64 "  %s -> %s  %s ms", (uint64_t)t->id,
		 krt_addr_str(&t->ingress.client, client, sizeof(client)),
		 krt_addr_str(&t->ingress.server, server, sizeof(server)),
		 krt_fmt_ms(t->end_ns > t->start_ns ? t->end_ns - t->start_ns : 0, ms, sizeof(ms)));
	krt_dot_quote(f, label);
	fputs(";\n  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n"
	      "  edge [fontname=\"Helvetica\", fontsize=9];\n",
	      f);
	put_clusters(f, t);
	/* Address nodes may repeat across hops: a node statement may too, harmlessly. */
	for (i = 0; i < t->n_hops; i++) {
		put_other_node(f, t, t->hops[i].from_tid, &t->hops[i].from_addr);
		put_other_node(f, t, t->hops[i].to_tid, &t->hops[i].to_addr);
	}
	for (i = 0; i < t->n_hops; i++) {
		const struct krt_hop *h = &t->hops[i];

		node_id(t, h->from_tid, &h->from_addr, from, sizeof(from));
		node_id(t, h->to_tid, &h->to_addr, to, sizeof(to));
		if (h->send_ns && h->recv_ns && h->recv_ns >= h->send_ns)
			snprintf(lat, sizeof(lat), "\n%s ms",
				 krt_fmt_ms(h->recv_ns - h->send_ns, ms, sizeof(ms)));
		else
			lat[0] = '\0';
		snprintf(label, sizeof(label), "%zu: %" PRIu64 " B%s", i + 1, (uint64_t)h->bytes,
			 lat);
		fputs("  ", f);
		krt_dot_quote(f, from);
		fputs(" -> ", f);
		krt_dot_quote(f, to);
		fputs(" [label=", f);
		krt_dot_quote(f, label);
		fputs("];\n", f);
	}
	fputs("}\n", f);
}

static int dot_trace(struct krt_writer *w, const struct krt_trace *t)
{
	struct dot_priv *p = w->priv;

	if (p->only_trace && t->id != p->only_trace)
		return 0;
	krt_dot_write_trace(w->out, t);
	p->written++;
	return 0;
}

static int dot_finish(struct krt_writer *w, const struct krt_summary *s)
{
	struct dot_priv *p = w->priv;
	int ret = 0;

	if (!p->written) {
		/* Keep the file valid DOT even when there is nothing to draw. */
		fputs("digraph \"no traces\" {\n  label=\"no traces\";\n}\n", w->out);
		if (p->only_trace) {
			fprintf(stderr, "krtrace: --trace %" PRIu64 ": no such trace in this run\n",
				(uint64_t)p->only_trace);
			ret = -1;
		}
	}
	if (fflush(w->out) || ferror(w->out))
		ret = -1; /* the caller names the file */
	return ret;
}

static void dot_destroy(struct krt_writer *w)
{
	free(w->priv);
	krt_writer_free(w);
}

static const struct krt_writer_ops dot_ops = {
    .name = "dot",
    .trace = dot_trace,
    .finish = dot_finish,
    .destroy = dot_destroy,
};

struct krt_writer *krt_writer_dot_new(FILE *out, __u64 only_trace)
{
	struct dot_priv *p = calloc(1, sizeof(*p));
	struct krt_writer *w;

	if (!p)
		return NULL;
	p->only_trace = only_trace;
	w = krt_writer_alloc(&dot_ops, out, p);
	if (!w)
		free(p);
	return w;
}
