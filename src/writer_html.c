/*
 * HTML report (--html FILE): one self-contained page, no script and no
 * external resource: the run's summary, request latency figures, the
 * slowest traces, and for each of them its thread table, its hops and its
 * flow graph as inline SVG (Graphviz `dot -Tsvg`, run at generation time;
 * without Graphviz the page says so).
 *
 * Memory stays bounded on endless runs: one small row per trace (up to
 * MAX_ROWS, then only counted) and full copies of the DETAIL_TRACES slowest.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "addr.h"
#include "writer_util.h"

#define MAX_ROWS 200000	   /* trace rows kept for the latency figures */
#define DETAIL_TRACES 20   /* slowest traces shown in full */
#define LISTED_ROWS 1000   /* rows in the "all traces" table */
#define MAX_SVG (8u << 20) /* a graph bigger than this is not inlined */
#define MAX_MAP_EDGES 512  /* service map: distinct (from, to) pairs kept */
/*
 * Graphviz layout time grows fast with the graph: a trace with more hops
 * than this gets its tables but no picture (the DOT writer still has it),
 * and every dot run is cut off after DOT_TIMEOUT seconds.
 */
#define MAX_GRAPH_HOPS 400
#define DOT_TIMEOUT "20"
#define MAP_NODE_LEN 80

/* One edge of the service map: all hops between two services, summed. */
struct map_edge {
	char from[MAP_NODE_LEN], to[MAP_NODE_LEN];
	__u64 hops, bytes;
};

struct trace_row {
	__u64 id, start_ns, dur_ns, cpu_ns;
	__u32 n_threads, n_hops;
	__u32 incomplete; /* KRT_INCOMPLETE_* */
	__u32 uncertain;  /* enum krt_uncertain */
	struct krt_addr client, server;
};

struct html_priv {
	char *title;
	struct trace_row *rows;
	size_t n_rows, cap_rows;
	__u64 traces, rows_dropped;
	struct krt_trace *detail[DETAIL_TRACES]; /* unordered */
	size_t n_detail;
	int dot_state; /* 0 unknown, 1 works, -1 missing */
	struct map_edge *edges;
	size_t n_edges;
	__u64 edges_dropped; /* hops not drawn: edge table full */
};

static const char no_graphviz[] =
    "<p class=\"note\">Graph not rendered: Graphviz <code>dot</code> is not installed or "
    "failed (apt-get install graphviz).</p>\n";

static __u64 duration(const struct krt_trace *t)
{
	return t->end_ns > t->start_ns ? t->end_ns - t->start_ns : 0;
}

static void esc(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			if ((unsigned char)*s >= 0x20 || *s == '\t')
				fputc(*s, f);
		}
	}
}

static void keep_row(struct html_priv *p, const struct krt_trace *t)
{
	struct trace_row *r;
	size_t i;

	if (p->n_rows == p->cap_rows) {
		size_t cap = p->cap_rows ? p->cap_rows * 2 : 256;

		if (cap > MAX_ROWS)
			cap = MAX_ROWS;
		r = cap > p->cap_rows ? realloc(p->rows, cap * sizeof(*r)) : NULL;
		if (!r) {
			p->rows_dropped++;
			return;
		}
		p->rows = r;
		p->cap_rows = cap;
	}
	r = &p->rows[p->n_rows++];
	memset(r, 0, sizeof(*r));
	r->id = t->id;
	r->start_ns = t->start_ns;
	r->dur_ns = duration(t);
	r->n_threads = t->n_threads;
	r->n_hops = t->n_hops;
	r->uncertain = t->uncertain;
	r->client = t->ingress.client;
	r->server = t->ingress.server;
	r->incomplete = t->incomplete;
	for (i = 0; i < t->n_threads; i++)
		r->cpu_ns += t->threads[i].cpu_ns;
}

/* Keeps a copy of t if it is among the DETAIL_TRACES slowest so far. */
static void keep_detail(struct html_priv *p, const struct krt_trace *t)
{
	size_t i, fastest = 0;
	struct krt_trace *copy;

	if (p->n_detail == DETAIL_TRACES) {
		for (i = 1; i < p->n_detail; i++)
			if (duration(p->detail[i]) < duration(p->detail[fastest]))
				fastest = i;
		if (duration(t) <= duration(p->detail[fastest]))
			return;
	}
	copy = krt_trace_dup(t);
	if (!copy)
		return;
	if (p->n_detail == DETAIL_TRACES) {
		krt_trace_free(p->detail[fastest]);
		p->detail[fastest] = copy;
	} else {
		p->detail[p->n_detail++] = copy;
	}
}

/*
 * A hop end in the service map: the thread's container; the gateway by its IP
 * alone (client ports change with every connection); other addresses as they are.
 */
static void map_node(const struct krt_trace *t, __u32 tid, const struct krt_addr *a, char *buf,
		     size_t len)
{
	const struct krt_thread_stat *th = tid ? krt_trace_thread(t, tid) : NULL;
	char ip[KRT_ADDR_STRLEN];

	if (tid) {
		snprintf(buf, len, "%s",
			 th && th->container && th->container[0] ? th->container
								 : "(no container)");
	} else if (krt_ip_eq(a, &t->ingress.client)) {
		snprintf(buf, len, "gateway %s", krt_ip_str(a, ip, sizeof(ip)));
	} else {
		krt_addr_str(a, buf, len);
	}
}

static void add_to_map(struct html_priv *p, const struct krt_trace *t)
{
	char from[MAP_NODE_LEN], to[MAP_NODE_LEN];
	size_t i, k;

	for (i = 0; i < t->n_hops; i++) {
		const struct krt_hop *h = &t->hops[i];

		map_node(t, h->from_tid, &h->from_addr, from, sizeof(from));
		map_node(t, h->to_tid, &h->to_addr, to, sizeof(to));
		for (k = 0; k < p->n_edges; k++)
			if (!strcmp(p->edges[k].from, from) && !strcmp(p->edges[k].to, to))
				break;
		if (k == p->n_edges) {
			if (!p->edges)
				p->edges = calloc(MAX_MAP_EDGES, sizeof(*p->edges));
			if (!p->edges || p->n_edges == MAX_MAP_EDGES) {
				p->edges_dropped++;
				continue;
			}
			memcpy(p->edges[k].from, from, sizeof(from));
			memcpy(p->edges[k].to, to, sizeof(to));
			p->n_edges++;
		}
		p->edges[k].hops++;
		p->edges[k].bytes += h->bytes;
	}
}

static int html_trace(struct krt_writer *w, const struct krt_trace *t)
{
	struct html_priv *p = w->priv;

	p->traces++;
	keep_row(p, t);
	keep_detail(p, t);
	add_to_map(p, t);
	return 0;
}

static int by_duration_desc(const void *a, const void *b)
{
	__u64 da = duration(*(struct krt_trace *const *)a),
	      db = duration(*(struct krt_trace *const *)b);

	return da < db ? 1 : da > db ? -1 : 0;
}

static int by_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

static void put_ms_cell(FILE *f, __u64 ns)
{
	char ms[32];

	fprintf(f, "<td class=\"n\">%s</td>", krt_fmt_ms(ns, ms, sizeof(ms)));
}

static void put_style(FILE *f)
{
	fputs("<style>\n"
	      "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:80em}\n"
	      "table{border-collapse:collapse;margin:0.5em 0 1.5em}\n"
	      "th,td{border:1px solid #ccc;padding:0.2em 0.6em;text-align:left}\n"
	      "th{background:#f0f0f0}\n"
	      "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
	      ".warn{color:#a60}\n"
	      ".incomplete{color:#a60;font-size:0.8em;font-weight:normal}\n"
	      "section.trace{border-top:2px solid #888;margin-top:2em}\n"
	      ".graph svg{max-width:100%;height:auto}\n"
	      ".note{color:#666;font-style:italic}\n"
	      "</style>\n",
	      f);
}

static void put_count_row(FILE *f, const char *what, __u64 n, bool warn)
{
	fprintf(f, "<tr><th>%s</th><td class=\"n%s\">%" PRIu64 "</td></tr>\n", what,
		warn && n ? " warn" : "", (uint64_t)n);
}

static void put_summary(FILE *f, const struct html_priv *p, const struct krt_summary *s)
{
	char ms[32];
	size_t i;
	__u32 type;

	fputs("<h2 id=\"summary\">Summary</h2>\n<table>\n", f);
	for (i = 0; i < krt_n_summary_fields; i++) {
		const struct krt_summary_field *sf = &krt_summary_fields[i];
		__u64 v = krt_summary_value(sf, s);

		if (!krt_summary_shown(sf, s))
			continue;
		if (sf->unit == KRT_SUM_RATE) {
			fprintf(f, "<tr><th>%s</th><td class=\"n\">1 in %" PRIu64 "</td></tr>\n",
				sf->label, (uint64_t)v);
			continue;
		}
		if (sf->unit == KRT_SUM_NS) {
			fprintf(f, "<tr><th>%s</th><td class=\"n\">%s ms</td></tr>\n", sf->label,
				krt_fmt_ms(v, ms, sizeof(ms)));
			continue;
		}
		/* the traces this report shows when the run had no summary */
		if (!strcmp(sf->key, "traces") && !v)
			v = p->traces;
		put_count_row(f, sf->label, v, sf->loss);
		if (strcmp(sf->key, "events"))
			continue;
		for (type = 1; type < KRT_EV_TYPE_MAX; type++) {
			if (!s->events_by_type[type])
				continue;
			fputs("<tr><th>&nbsp;&nbsp;", f);
			esc(f, krt_event_type_name(type));
			fprintf(f, "</th><td class=\"n\">%" PRIu64 "</td></tr>\n",
				(uint64_t)s->events_by_type[type]);
		}
	}
	fputs("</table>\n", f);
}

static void put_latency(FILE *f, const struct html_priv *p)
{
	static const struct {
		const char *name;
		unsigned permille;
	} q[] = {{"p50", 500}, {"p90", 900}, {"p99", 990}, {"max", 1000}};
	__u64 *d;
	size_t i, k;

	if (!p->n_rows)
		return;
	d = malloc(p->n_rows * sizeof(*d));
	if (!d)
		return;
	for (i = 0; i < p->n_rows; i++)
		d[i] = p->rows[i].dur_ns;
	qsort(d, p->n_rows, sizeof(*d), by_u64);
	fputs("<h2>Request duration</h2>\n<table><tr>", f);
	for (k = 0; k < sizeof(q) / sizeof(q[0]); k++)
		fprintf(f, "<th>%s</th>", q[k].name);
	fputs("</tr><tr>", f);
	for (k = 0; k < sizeof(q) / sizeof(q[0]); k++) {
		i = (p->n_rows - 1) * q[k].permille / 1000;
		put_ms_cell(f, d[i]);
	}
	fputs("</tr></table>\n", f);
	if (p->rows_dropped)
		fprintf(f,
			"<p class=\"note\">Figures over the first %zu traces; %" PRIu64
			" later traces are counted in the summary only.</p>\n",
			p->n_rows, (uint64_t)p->rows_dropped);
	free(d);
}

/* A trace a loss may have touched says so, and why (its causes). */
static void put_incomplete(FILE *f, __u32 incomplete)
{
	char why[96];

	if (incomplete)
		fprintf(f,
			"<td><span class=\"incomplete\" title=\"a loss may have touched this "
			"trace\">incomplete: %s</span></td>",
			krt_incomplete_str(incomplete, ", ", why, sizeof(why)));
	else
		fputs("<td></td>", f);
}

static void put_row(FILE *f, const struct trace_row *r, bool link)
{
	char a[KRT_ADDR_STRLEN], b[KRT_ADDR_STRLEN];

	if (link)
		fprintf(f, "<tr><td><a href=\"#trace-%" PRIu64 "\">%" PRIu64 "</a></td>",
			(uint64_t)r->id, (uint64_t)r->id);
	else
		fprintf(f, "<tr><td>%" PRIu64 "</td>", (uint64_t)r->id);
	put_incomplete(f, r->incomplete);
	if (r->uncertain) {
		char why[KRT_UNCERTAIN_STRLEN];

		krt_uncertain_str(r->uncertain, why, sizeof(why));
		fprintf(f, "<td class=\"warn\" title=\"uncertain: %s\">? ", why);
	} else {
		fputs("<td>", f);
	}
	esc(f, krt_addr_str(&r->client, a, sizeof(a)));
	fputs(" &rarr; ", f);
	esc(f, krt_addr_str(&r->server, b, sizeof(b)));
	fputs("</td>", f);
	put_ms_cell(f, r->dur_ns);
	put_ms_cell(f, r->cpu_ns);
	fprintf(f, "<td class=\"n\">%u</td><td class=\"n\">%u</td></tr>\n", r->n_threads,
		r->n_hops);
}

static void row_of(struct trace_row *r, const struct krt_trace *t)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	r->id = t->id;
	r->dur_ns = duration(t);
	r->n_threads = t->n_threads;
	r->n_hops = t->n_hops;
	r->uncertain = t->uncertain;
	r->client = t->ingress.client;
	r->server = t->ingress.server;
	r->incomplete = t->incomplete;
	for (i = 0; i < t->n_threads; i++)
		r->cpu_ns += t->threads[i].cpu_ns;
}

static const char row_head[] =
    "<table><tr><th>trace</th><th>whole?</th><th>ingress</th><th>duration ms</th>"
    "<th>on-CPU ms</th><th>threads</th><th>hops</th></tr>\n";

/* Renders DOT text to SVG with Graphviz; NULL when that is not possible. */
static char *render_svg(struct html_priv *p, const char *dot)
{
	char path[] = "/tmp/krtrace-dot-XXXXXX", cmd[96];
	char *svg = NULL, *start;
	size_t len = 0, cap = 0;
	FILE *f, *pipe;
	int fd;

	if (p->dot_state < 0)
		return NULL;
	fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(path);
		return NULL;
	}
	fputs(dot, f);
	if (fclose(f)) {
		unlink(path);
		return NULL;
	}
	/* path comes from mkstemp: no character the shell would interpret. */
	snprintf(cmd, sizeof(cmd), "timeout " DOT_TIMEOUT " dot -Tsvg %s 2>/dev/null", path);
	pipe = popen(cmd, "r");
	if (pipe) {
		for (;;) {
			size_t n;

			if (len + 4096 + 1 > cap) {
				char *g;

				cap = cap ? cap * 2 : 65536;
				g = cap <= MAX_SVG ? realloc(svg, cap) : NULL;
				if (!g)
					break;
				svg = g;
			}
			n = fread(svg + len, 1, cap - len - 1, pipe);
			if (!n)
				break;
			len += n;
		}
		if (pclose(pipe) != 0) {
			free(svg);
			svg = NULL;
		}
	}
	unlink(path);
	if (svg) {
		svg[len] = '\0';
		/* Inline SVG: drop the XML prolog and doctype, keep <svg ...>...</svg>. */
		start = strstr(svg, "<svg");
		if (start && strstr(start, "</svg>")) {
			memmove(svg, start, strlen(start) + 1);
			p->dot_state = 1;
			return svg;
		}
		free(svg);
	}
	if (!p->dot_state)
		p->dot_state = -1;
	return NULL;
}

/* Timeline geometry (SVG user units = CSS px). */
#define TL_LABEL_W 230
#define TL_PLOT_W 700
#define TL_ROW_H 22
#define TL_TOP 24
#define TL_MAX_ROWS 64
#define TL_MAX_SLICES 20000
#define TL_MAX_ARROWS 2000

static double tl_x(const struct krt_trace *t, __u64 ts)
{
	__u64 span = t->end_ns > t->start_ns ? t->end_ns - t->start_ns : 1;

	if (ts < t->start_ns)
		ts = t->start_ns;
	if (ts > t->start_ns + span)
		ts = t->start_ns + span;
	return TL_LABEL_W + (double)(ts - t->start_ns) * TL_PLOT_W / (double)span;
}

/* Row of tid in the timeline, -1 when it has none. */
static int tl_row(const struct krt_trace *t, __u32 tid, size_t rows)
{
	size_t i;

	for (i = 0; tid && i < rows; i++)
		if (t->threads[i].tid == tid)
			return (int)i;
	return -1;
}

static double tl_y(int row)
{
	return TL_TOP + row * TL_ROW_H + TL_ROW_H / 2.0;
}

/*
 * A Perfetto-like picture without script: a row per thread, its activity
 * span (grey) and on-CPU slices (blue) on a shared time axis, hops as red
 * arrows from sender to receiver, gateway and other addresses as dots.
 * Hovering shows the figures (SVG <title>).
 */
static void put_timeline(FILE *f, const struct krt_trace *t)
{
	size_t rows = t->n_threads < TL_MAX_ROWS ? t->n_threads : TL_MAX_ROWS, i, drawn = 0;
	double height = TL_TOP + rows * TL_ROW_H + 8, x, x2;
	__u64 span = t->end_ns > t->start_ns ? t->end_ns - t->start_ns : 0;
	char name[KRT_NODE_NAME_LEN], ms[32], ms2[32], peer[KRT_NODE_NAME_LEN];
	int k, r1, r2;

	if (!rows)
		return;
	fprintf(f,
		"<svg class=\"timeline\" width=\"%d\" height=\"%.0f\" viewBox=\"0 0 %d %.0f\" "
		"xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" font-family=\"sans-serif\" "
		"font-size=\"11\">\n",
		TL_LABEL_W + TL_PLOT_W + 40, height, TL_LABEL_W + TL_PLOT_W + 40, height);
	fprintf(f,
		"<defs><marker id=\"arrow-%" PRIu64 "\" viewBox=\"0 0 10 10\" refX=\"10\" "
		"refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">"
		"<path d=\"M0,0 L10,5 L0,10 z\" fill=\"#c0392b\"/></marker></defs>\n",
		(uint64_t)t->id);
	/* Time axis: five ticks, milliseconds from the trace start. */
	for (k = 0; k <= 4; k++) {
		x = TL_LABEL_W + TL_PLOT_W * k / 4.0;
		fprintf(
		    f,
		    "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>"
		    "<text x=\"%.1f\" y=\"14\" text-anchor=\"middle\" fill=\"#666\">%s ms</text>\n",
		    x, TL_TOP - 4, x, height - 4, x, krt_fmt_ms(span * k / 4, ms, sizeof(ms)));
	}
	for (i = 0; i < rows; i++) {
		const struct krt_thread_stat *th = &t->threads[i];
		double y = TL_TOP + i * TL_ROW_H;

		fprintf(f, "<text x=\"4\" y=\"%.0f\">", y + 15);
		esc(f, krt_thread_name(th, name, sizeof(name)));
		fputs("</text>\n", f);
		x = tl_x(t, th->first_ns);
		x2 = tl_x(t, th->last_ns);
		fprintf(f,
			"<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"6\" fill=\"#ccc\">"
			"<title>active %s to %s ms</title></rect>\n",
			x, y + 8, x2 > x ? x2 - x : 1,
			krt_fmt_ms(th->first_ns > t->start_ns ? th->first_ns - t->start_ns : 0, ms,
				   sizeof(ms)),
			krt_fmt_ms(th->last_ns > t->start_ns ? th->last_ns - t->start_ns : 0, ms2,
				   sizeof(ms2)));
	}
	for (i = 0; i < t->n_slices && drawn < TL_MAX_SLICES; i++) {
		const struct krt_slice *sl = &t->slices[i];

		r1 = tl_row(t, sl->tid, rows);
		if (r1 < 0)
			continue;
		x = tl_x(t, sl->start_ns);
		x2 = tl_x(t, sl->end_ns);
		fprintf(f,
			"<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"14\" "
			"fill=\"#3b7dd8\"><title>on CPU %s ms</title></rect>\n",
			x, TL_TOP + r1 * TL_ROW_H + 4.0, x2 - x > 1 ? x2 - x : 1,
			krt_fmt_ms(sl->end_ns > sl->start_ns ? sl->end_ns - sl->start_ns : 0, ms,
				   sizeof(ms)));
		drawn++;
	}
	for (i = 0, drawn = 0; i < t->n_hops && drawn < TL_MAX_ARROWS; i++) {
		const struct krt_hop *h = &t->hops[i];

		r1 = tl_row(t, h->from_tid, rows);
		r2 = tl_row(t, h->to_tid, rows);
		if (r1 >= 0 && r2 >= 0) {
			x = tl_x(t, h->send_ns ? h->send_ns : h->recv_ns);
			x2 = tl_x(t, h->recv_ns ? h->recv_ns : h->send_ns);
			fprintf(f,
				"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
				"stroke=\"#c0392b\" stroke-width=\"1.5\" "
				"marker-end=\"url(#arrow-%" PRIu64 ")\"><title>%zu: %" PRIu64
				" B</title></line>\n",
				x, tl_y(r1), x2, tl_y(r2), (uint64_t)t->id, i + 1,
				(uint64_t)h->bytes);
		} else if (r1 >= 0 || r2 >= 0) {
			/* One end is an address: a dot on the thread's row. */
			bool in = r2 >= 0;

			x = tl_x(t, in ? (h->recv_ns ? h->recv_ns : h->send_ns)
				       : (h->send_ns ? h->send_ns : h->recv_ns));
			krt_node_name(t, in ? h->from_tid : h->to_tid,
				      in ? &h->from_addr : &h->to_addr, peer, sizeof(peer));
			fprintf(f,
				"<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"><title>%zu: "
				"%" PRIu64 " B %s ",
				x, tl_y(in ? r2 : r1), in ? "#27ae60" : "#e67e22", i + 1,
				(uint64_t)h->bytes, in ? "from" : "to");
			esc(f, peer);
			fputs("</title></circle>\n", f);
		} else {
			continue;
		}
		drawn++;
	}
	fputs("</svg>\n", f);
	if (t->n_threads > rows)
		fprintf(f, "<p class=\"note\">Timeline shows the first %zu of %zu threads.</p>\n",
			rows, t->n_threads);
}

static void put_trace_detail(FILE *f, struct html_priv *p, const struct krt_trace *t)
{
	char name[KRT_NODE_NAME_LEN], from[KRT_NODE_NAME_LEN], to[KRT_NODE_NAME_LEN];
	char a[KRT_ADDR_STRLEN], b[KRT_ADDR_STRLEN], ms[32];
	char *svg, *dot;
	bool has_runq = false;
	size_t i, dot_len;
	FILE *mem;

	fprintf(f, "<section class=\"trace\" id=\"trace-%" PRIu64 "\">\n<h3>trace %" PRIu64,
		(uint64_t)t->id, (uint64_t)t->id);
	if (t->incomplete) {
		char why[96];

		fprintf(f,
			" <span class=\"incomplete\" title=\"a loss may have touched this trace\">"
			"incomplete: %s</span>",
			krt_incomplete_str(t->incomplete, ", ", why, sizeof(why)));
	}
	fputs("</h3>\n<p>ingress ", f);
	esc(f, krt_addr_str(&t->ingress.client, a, sizeof(a)));
	fputs(" &rarr; ", f);
	esc(f, krt_addr_str(&t->ingress.server, b, sizeof(b)));
	fputs(" by ", f);
	esc(f, krt_node_name(t, t->ingress.tid, &t->ingress.client, name, sizeof(name)));
	fprintf(f, ", duration %s ms</p>\n", krt_fmt_ms(duration(t), ms, sizeof(ms)));
	if (t->uncertain) {
		char why[KRT_UNCERTAIN_STRLEN];

		fprintf(f,
			"<p class=\"warn\">uncertain: %s (the kernel could not decide the "
			"hops marked ?)</p>\n",
			krt_uncertain_str(t->uncertain, why, sizeof(why)));
	}
	put_timeline(f, t);

	for (i = 0; i < t->n_threads; i++)
		has_runq |= t->threads[i].runq_ns != 0;
	fprintf(f,
		"<table><tr><th>thread</th><th>on-CPU ms</th><th>first ms</th><th>last ms</th>"
		"%s</tr>\n",
		has_runq ? "<th>run-queue ms</th>" : "");
	for (i = 0; i < t->n_threads; i++) {
		const struct krt_thread_stat *th = &t->threads[i];

		fputs("<tr><td>", f);
		esc(f, krt_thread_name(th, name, sizeof(name)));
		fputs("</td>", f);
		put_ms_cell(f, th->cpu_ns);
		put_ms_cell(f, th->first_ns > t->start_ns ? th->first_ns - t->start_ns : 0);
		put_ms_cell(f, th->last_ns > t->start_ns ? th->last_ns - t->start_ns : 0);
		if (has_runq)
			put_ms_cell(f, th->runq_ns);
		fputs("</tr>\n", f);
	}
	fputs("</table>\n", f);

	fputs("<table><tr><th>#</th><th>at ms</th><th>from</th><th>to</th><th>bytes</th>"
	      "<th>latency ms</th></tr>\n",
	      f);
	for (i = 0; i < t->n_hops; i++) {
		const struct krt_hop *h = &t->hops[i];
		__u64 at = krt_hop_ts(h);

		if (h->uncertain) {
			char why[KRT_UNCERTAIN_STRLEN];

			fprintf(
			    f,
			    "<tr class=\"warn\" title=\"uncertain: %s\"><td class=\"n\">?%zu</td>",
			    krt_uncertain_str(h->uncertain, why, sizeof(why)), i + 1);
		} else {
			fprintf(f, "<tr><td class=\"n\">%zu</td>", i + 1);
		}
		put_ms_cell(f, at > t->start_ns ? at - t->start_ns : 0);
		fputs("<td>", f);
		esc(f, krt_node_name(t, h->from_tid, &h->from_addr, from, sizeof(from)));
		fputs("</td><td>", f);
		esc(f, krt_node_name(t, h->to_tid, &h->to_addr, to, sizeof(to)));
		fprintf(f, "</td><td class=\"n\">%" PRIu64 "</td>", (uint64_t)h->bytes);
		if (h->send_ns && h->recv_ns && h->recv_ns >= h->send_ns)
			put_ms_cell(f, h->recv_ns - h->send_ns);
		else
			fputs("<td class=\"n\">-</td>", f);
		fputs("</tr>\n", f);
	}
	fputs("</table>\n", f);

	svg = NULL;
	dot = NULL;
	if (t->n_hops > MAX_GRAPH_HOPS) {
		fprintf(f,
			"<p class=\"note\">Flow graph not drawn: %zu hops is more than %d "
			"(use --dot FILE --trace %" PRIu64 ").</p>\n</section>\n",
			t->n_hops, MAX_GRAPH_HOPS, (uint64_t)t->id);
		return;
	}
	mem = open_memstream(&dot, &dot_len);
	if (mem) {
		krt_dot_write_trace(mem, t);
		if (!fclose(mem))
			svg = render_svg(p, dot);
		free(dot);
	}
	if (svg) {
		fprintf(f, "<div class=\"graph\">%s</div>\n", svg);
		free(svg);
	} else {
		fputs(no_graphviz, f);
	}
	fputs("</section>\n", f);
}

/* Every hop of every trace, summed per pair of services: who talks to whom. */
static void put_service_map(FILE *f, struct html_priv *p)
{
	char *dot = NULL, *svg = NULL, label[64];
	size_t len = 0, i;
	__u64 max_hops = 1;
	FILE *mem;

	if (!p->n_edges)
		return;
	mem = open_memstream(&dot, &len);
	if (!mem)
		return;
	for (i = 0; i < p->n_edges; i++)
		if (p->edges[i].hops > max_hops)
			max_hops = p->edges[i].hops;
	fputs("digraph \"services\" {\n  rankdir=LR;\n"
	      "  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=11];\n"
	      "  edge [fontname=\"Helvetica\", fontsize=9];\n",
	      mem);
	for (i = 0; i < p->n_edges; i++) {
		const struct map_edge *e = &p->edges[i];

		snprintf(label, sizeof(label), "%" PRIu64 " hops\n%" PRIu64 " B", (uint64_t)e->hops,
			 (uint64_t)e->bytes);
		fputs("  ", mem);
		krt_dot_quote(mem, e->from);
		fputs(" -> ", mem);
		krt_dot_quote(mem, e->to);
		fputs(" [label=", mem);
		krt_dot_quote(mem, label);
		/* Line width from 1 to 4 by traffic: the busy paths stand out. */
		fprintf(mem, ", penwidth=%.1f];\n", 1.0 + 3.0 * (double)e->hops / (double)max_hops);
	}
	fputs("}\n", mem);
	if (!fclose(mem))
		svg = render_svg(p, dot);
	free(dot);
	fputs("<h2 id=\"services\">Service map</h2>\n<p class=\"note\">All hops of all traces, "
	      "summed per pair of containers (the gateway by its address).</p>\n",
	      f);
	if (svg)
		fprintf(f, "<div class=\"graph\">%s</div>\n", svg);
	else
		fputs(no_graphviz, f);
	if (p->edges_dropped)
		fprintf(f,
			"<p class=\"note\">%" PRIu64 " hops between further pairs not drawn "
			"(more than %d pairs).</p>\n",
			(uint64_t)p->edges_dropped, MAX_MAP_EDGES);
	free(svg);
}

static int html_finish(struct krt_writer *w, const struct krt_summary *s)
{
	struct html_priv *p = w->priv;
	FILE *f = w->out;
	struct trace_row r;
	char when[64];
	time_t now = time(NULL);
	size_t i;

	qsort(p->detail, p->n_detail, sizeof(p->detail[0]), by_duration_desc);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", f);
	esc(f, p->title);
	fputs("</title>\n", f);
	put_style(f);
	fputs("</head>\n<body>\n<h1>", f);
	esc(f, p->title);
	fprintf(f,
		"</h1>\n<p class=\"note\">Generated by krtrace %s on %s. Times are "
		"CLOCK_MONOTONIC; &ldquo;first&rdquo;/&ldquo;last&rdquo; are relative to the "
		"trace start.</p>\n",
		KRT_VERSION, when);
	put_summary(f, p, s);
	put_latency(f, p);
	put_service_map(f, p);

	fprintf(f, "<h2 id=\"slowest\">Slowest traces</h2>\n");
	if (!p->n_detail) {
		fputs("<p>No traces in this run.</p>\n", f);
	} else {
		fputs(row_head, f);
		for (i = 0; i < p->n_detail; i++) {
			row_of(&r, p->detail[i]);
			put_row(f, &r, true);
		}
		fputs("</table>\n", f);
	}
	if (p->n_rows) {
		fprintf(f, "<details><summary>All traces (%s%zu)</summary>\n",
			p->n_rows > LISTED_ROWS ? "first " : "",
			p->n_rows > LISTED_ROWS ? (size_t)LISTED_ROWS : p->n_rows);
		fputs(row_head, f);
		for (i = 0; i < p->n_rows && i < LISTED_ROWS; i++)
			put_row(f, &p->rows[i], false);
		fputs("</table>\n</details>\n", f);
	}
	if (p->n_detail)
		fprintf(f, "<h2>The %zu slowest traces in detail</h2>\n", p->n_detail);
	for (i = 0; i < p->n_detail; i++)
		put_trace_detail(f, p, p->detail[i]);
	fputs("</body>\n</html>\n", f);
	if (fflush(f) || ferror(f))
		return -1; /* the caller names the file */
	return 0;
}

static void html_destroy(struct krt_writer *w)
{
	struct html_priv *p = w->priv;
	size_t i;

	for (i = 0; i < p->n_detail; i++)
		krt_trace_free(p->detail[i]);
	free(p->rows);
	free(p->edges);
	free(p->title);
	free(p);
	krt_writer_free(w);
}

static const struct krt_writer_ops html_ops = {
    .name = "html",
    .trace = html_trace,
    .finish = html_finish,
    .destroy = html_destroy,
};

struct krt_writer *krt_writer_html_new(FILE *out, const char *title)
{
	struct html_priv *p = calloc(1, sizeof(*p));
	struct krt_writer *w;

	if (!p)
		return NULL;
	p->title = strdup(title ? title : "KRTrace report");
	w = p->title ? krt_writer_alloc(&html_ops, out, p) : NULL;
	if (!w) {
		free(p->title);
		free(p);
	}
	return w;
}
