/*
 * krtrace compare A.jsonl B.jsonl: how well two --json results of the same
 * run agree (live vs ftrace import captured at the same time).
 *
 * Traces are matched by ingress connection (client and server ip:port) and
 * ingress time: among the pairs with the same connection whose ingress
 * times are within the tolerance, the closest pairs are matched first, each
 * trace at most once. For matched traces the hops are compared as multisets
 * of (from node, to node, bytes), a node being the tid or, for tid 0, the
 * address; the CPU time is compared per trace (sum of the threads' cpu_ns).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "compare.h"
#include "json_out.h"
#include "json_get.h"

#define MAX_REPORTED_BAD_LINES 3
#define MAX_LISTED_UNMATCHED 10
#define MAX_EXPLAINED_TRACES 20 /* -v: disagreeing traces shown hop by hop */

struct c_hop {
	__u32 from, to;
	char from_addr[64], to_addr[64];
	__u64 bytes;
};

struct c_trace {
	__u64 id;
	char key[136]; /* "client>server" */
	__u64 ts_ns;   /* ingress time (start when absent) */
	__u64 cpu_ns;
	size_t n_hops;
	struct c_hop *hops;
	long match; /* index in the other file, -1 = none */
};

struct c_file {
	const char *path;
	struct c_trace *v;
	size_t n, cap;
	__u64 bad_lines;
	bool has_summary;
	bool cut_line;			 /* the last line had no newline: skipped */
	__u64 lost, unattributed_cpu_ns; /* from the summary line: explains gaps */
};

struct c_pair {
	size_t a, b;
	__u64 dt;
};

struct c_result {
	size_t matched, only_a, only_b, identical;
	__u64 hops_a, hops_b, hops_agree;
	__u64 edges_a, edges_b, edges_agree; /* (from, to) pairs with their total bytes */
	__u64 cpu_a, cpu_absdiff;
	double cpu_median_pct;
	double offset_median_ms;
};

static const char usage[] =
    "usage: krtrace compare A.jsonl B.jsonl [--min PCT] [--min-hops PCT]\n"
    "                       [--tolerance MS] [--json] [-v]\n"
    "Matches the traces of two --json results of the same run (for example the\n"
    "live path and an ftrace import captured at the same time) by ingress\n"
    "connection and time, and prints traces matched, hops agreeing and the\n"
    "CPU-time difference.\n"
    "  --min PCT        exit 1 when fewer than PCT % of the traces match\n"
    "  --min-hops PCT   exit 1 when fewer than PCT % of the hops agree\n"
    "  --tolerance MS   largest ingress time difference of a match (default 5)\n"
    "  --json           print the comparison as one JSON object\n"
    "  -v, --verbose    show the hops of disagreeing traces (first 20)\n"
    "Exit status: 0 agreement, 1 below --min/--min-hops, 2 usage or input error.\n";

static void copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src);
}

/* One trace object into t; -1 if it lacks what matching needs. */
static int parse_trace(json_object *o, struct c_trace *t)
{
	json_object *ingress, *threads, *hops;
	size_t i, n;

	memset(t, 0, sizeof(*t));
	t->match = -1;
	json_object *v;

	/* the fields every krtrace trace has: others' JSON lines are not taken for traces */
	if (!json_object_object_get_ex(o, "trace_id", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    !json_object_object_get_ex(o, "ingress", &ingress) ||
	    !json_object_is_type(ingress, json_type_object) || !*json_get_str(ingress, "client") ||
	    !*json_get_str(ingress, "server") || !json_object_object_get_ex(o, "hops", &v) ||
	    !json_object_is_type(v, json_type_array))
		return -1;
	t->id = json_get_u64(o, "trace_id");
	snprintf(t->key, sizeof(t->key), "%.64s>%.64s", json_get_str(ingress, "client"),
		 json_get_str(ingress, "server"));
	t->ts_ns = json_get_u64(ingress, "ts_ns");
	if (!t->ts_ns)
		t->ts_ns = json_get_u64(o, "start_ns");
	if (json_object_object_get_ex(o, "threads", &threads) &&
	    json_object_is_type(threads, json_type_array)) {
		n = json_object_array_length(threads);
		for (i = 0; i < n; i++)
			t->cpu_ns += json_get_u64(json_object_array_get_idx(threads, i), "cpu_ns");
	}
	if (json_object_object_get_ex(o, "hops", &hops) &&
	    json_object_is_type(hops, json_type_array)) {
		n = json_object_array_length(hops);
		t->hops = n ? calloc(n, sizeof(*t->hops)) : NULL;
		if (n && !t->hops)
			return -1;
		for (i = 0; i < n; i++) {
			json_object *h = json_object_array_get_idx(hops, i);
			struct c_hop *c = &t->hops[t->n_hops++];

			c->from = json_get_u64(h, "from");
			c->to = json_get_u64(h, "to");
			copy_str(c->from_addr, sizeof(c->from_addr), json_get_str(h, "from_addr"));
			copy_str(c->to_addr, sizeof(c->to_addr), json_get_str(h, "to_addr"));
			c->bytes = json_get_u64(h, "bytes");
		}
	}
	return 0;
}

static int load_file(struct c_file *f)
{
	FILE *in = strcmp(f->path, "-") ? fopen(f->path, "r") : stdin;
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	int ret = 0;

	if (!in) {
		fprintf(stderr, "krtrace compare: %s: %s\n", f->path, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, in)) > 0) {
		json_object *o, *sum;
		struct c_trace t;

		lineno++;
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue;
		/* krtrace ends every line: one without its newline was cut while written */
		if (line[len - 1] != '\n') {
			fprintf(stderr,
				"krtrace compare: %s:%zu: last line cut (no newline): "
				"skipped\n",
				f->path, lineno);
			f->cut_line = true;
			break;
		}
		o = json_tokener_parse(line);
		if (o && json_object_object_get_ex(o, "summary", &sum) &&
		    json_object_is_type(sum, json_type_object)) {
			f->has_summary = true;
			f->lost = json_get_u64(sum, "lost");
			f->unattributed_cpu_ns = json_get_u64(sum, "unattributed_cpu_ns");
			json_object_put(o);
			continue;
		}
		if (!o || !json_object_is_type(o, json_type_object) || parse_trace(o, &t)) {
			if (f->bad_lines++ < MAX_REPORTED_BAD_LINES)
				fprintf(stderr,
					"krtrace compare: %s:%zu: not a trace object of "
					"krtrace --json, skipped\n",
					f->path, lineno);
			json_object_put(o);
			continue;
		}
		json_object_put(o);
		if (f->n == f->cap) {
			size_t ncap = f->cap ? f->cap * 2 : 256;
			struct c_trace *v = realloc(f->v, ncap * sizeof(*v));

			if (!v) {
				fprintf(stderr, "krtrace compare: %s: out of memory\n", f->path);
				free(t.hops);
				ret = -1;
				break;
			}
			f->v = v;
			f->cap = ncap;
		}
		f->v[f->n++] = t;
	}
	if (ferror(in)) {
		fprintf(stderr, "krtrace compare: %s: %s\n", f->path, strerror(errno));
		ret = -1;
	}
	free(line);
	if (in != stdin)
		fclose(in);
	if (!ret && !f->n && !f->bad_lines && !f->has_summary) {
		fprintf(stderr, "krtrace compare: %s: empty, no krtrace --json output\n", f->path);
		ret = -1;
	} else if (!ret && f->bad_lines >= f->n + f->has_summary) {
		/* another tool's JSON, or not JSON: "100 % agreement" would be a lie */
		fprintf(stderr,
			"krtrace compare: %s: not krtrace --json output (%" PRIu64
			" of %zu lines are no krtrace trace or summary): refused\n",
			f->path, (uint64_t)f->bad_lines, lineno);
		ret = -1;
	}
	return ret;
}

static void free_file(struct c_file *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		free(f->v[i].hops);
	free(f->v);
}

/* B's traces sorted by (key, ts) so each A trace finds its candidates by bisection. */
static struct c_file *sort_file;

static int by_key_ts(const void *x, const void *y)
{
	const struct c_trace *a = &sort_file->v[*(const size_t *)x];
	const struct c_trace *b = &sort_file->v[*(const size_t *)y];
	int c = strcmp(a->key, b->key);

	if (c)
		return c;
	return a->ts_ns < b->ts_ns ? -1 : a->ts_ns > b->ts_ns;
}

static int by_dt(const void *x, const void *y)
{
	const struct c_pair *a = x, *b = y;

	if (a->dt != b->dt)
		return a->dt < b->dt ? -1 : 1;
	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	return a->b < b->b ? -1 : a->b > b->b;
}

static int match_traces(struct c_file *fa, struct c_file *fb, __u64 tol_ns)
{
	size_t *order = malloc((fb->n ? fb->n : 1) * sizeof(*order));
	struct c_pair *pairs = NULL, *grown;
	size_t n_pairs = 0, cap_pairs = 0, i, lo, hi, mid, k;

	if (!order)
		return -1;
	for (i = 0; i < fb->n; i++)
		order[i] = i;
	sort_file = fb;
	qsort(order, fb->n, sizeof(*order), by_key_ts);
	for (i = 0; i < fa->n; i++) {
		const struct c_trace *a = &fa->v[i];
		__u64 from = a->ts_ns > tol_ns ? a->ts_ns - tol_ns : 0;

		/* First B trace with key >= a's key and, on that key, ts >= from. */
		lo = 0;
		hi = fb->n;
		while (lo < hi) {
			const struct c_trace *b;
			int c;

			mid = (lo + hi) / 2;
			b = &fb->v[order[mid]];
			c = strcmp(b->key, a->key);
			if (c < 0 || (!c && b->ts_ns < from))
				lo = mid + 1;
			else
				hi = mid;
		}
		for (k = lo; k < fb->n; k++) {
			const struct c_trace *b = &fb->v[order[k]];

			if (strcmp(b->key, a->key) || b->ts_ns > a->ts_ns + tol_ns)
				break;
			if (n_pairs == cap_pairs) {
				cap_pairs = cap_pairs ? cap_pairs * 2 : 256;
				grown = realloc(pairs, cap_pairs * sizeof(*pairs));
				if (!grown) {
					free(pairs);
					free(order);
					return -1;
				}
				pairs = grown;
			}
			pairs[n_pairs++] = (struct c_pair){
			    i, order[k],
			    b->ts_ns > a->ts_ns ? b->ts_ns - a->ts_ns : a->ts_ns - b->ts_ns};
		}
	}
	if (n_pairs) /* qsort(NULL, 0) is undefined (UBSan) */
		qsort(pairs, n_pairs, sizeof(*pairs), by_dt);
	for (i = 0; i < n_pairs; i++) {
		struct c_trace *a = &fa->v[pairs[i].a], *b = &fb->v[pairs[i].b];

		if (a->match >= 0 || b->match >= 0)
			continue;
		a->match = (long)pairs[i].b;
		b->match = (long)pairs[i].a;
	}
	free(pairs);
	free(order);
	return 0;
}

/* Hop order for matching: tids, bytes, then the addresses that name tid-0 nodes. */
static int hop_cmp(const void *x, const void *y)
{
	const struct c_hop *a = x, *b = y;
	int c;

	if (a->from != b->from)
		return a->from < b->from ? -1 : 1;
	if (a->to != b->to)
		return a->to < b->to ? -1 : 1;
	if (a->bytes != b->bytes)
		return a->bytes < b->bytes ? -1 : 1;
	c = a->from ? 0 : strcmp(a->from_addr, b->from_addr);
	if (c)
		return c;
	return a->to ? 0 : strcmp(a->to_addr, b->to_addr);
}

/* Size of the multiset intersection of two traces' hops, both sorted by hop_cmp. */
static size_t hops_agreeing_sorted(const struct c_trace *a, const struct c_trace *b)
{
	size_t i = 0, k = 0, n = 0;
	int c;

	while (i < a->n_hops && k < b->n_hops) {
		c = hop_cmp(&a->hops[i], &b->hops[k]);
		if (!c) {
			n++;
			i++;
			k++;
		} else if (c < 0) {
			i++;
		} else {
			k++;
		}
	}
	return n;
}

/* The same sender and receiver, bytes aside. */
static int edge_cmp(const struct c_hop *a, const struct c_hop *b)
{
	int c;

	if (a->from != b->from)
		return a->from < b->from ? -1 : 1;
	if (a->to != b->to)
		return a->to < b->to ? -1 : 1;
	c = a->from ? 0 : strcmp(a->from_addr, b->from_addr);
	if (c)
		return c;
	return a->to ? 0 : strcmp(a->to_addr, b->to_addr);
}

static int edge_qsort_cmp(const void *x, const void *y)
{
	return edge_cmp(x, y);
}

/*
 * Hops summed per (sender, receiver) into out (room for n_hops): robust to
 * the two sources cutting the same bytes into different hops. Returns the
 * number of edges.
 */
static size_t edges_of(const struct c_trace *t, struct c_hop *out)
{
	size_t i, n = 0;

	if (!t->n_hops) /* hops and out may be NULL: memcpy/qsort must not see them */
		return 0;
	memcpy(out, t->hops, t->n_hops * sizeof(*out));
	qsort(out, t->n_hops, sizeof(*out), edge_qsort_cmp);
	for (i = 0; i < t->n_hops; i++) {
		if (n && !edge_cmp(&out[n - 1], &out[i]))
			out[n - 1].bytes += out[i].bytes;
		else
			out[n++] = out[i];
	}
	return n;
}

/* Edges present on both sides with the same total bytes. */
static void compare_edges(const struct c_trace *a, const struct c_trace *b, struct c_result *r)
{
	struct c_hop *ea = malloc((a->n_hops + 1) * sizeof(*ea));
	struct c_hop *eb = malloc((b->n_hops + 1) * sizeof(*eb));
	size_t na, nb, i = 0, k = 0;
	int c;

	if (!ea || !eb)
		goto out;
	na = edges_of(a, ea);
	nb = edges_of(b, eb);
	r->edges_a += na;
	r->edges_b += nb;
	while (i < na && k < nb) {
		c = edge_cmp(&ea[i], &eb[k]);
		if (!c) {
			r->edges_agree += ea[i].bytes == eb[k].bytes;
			i++;
			k++;
		} else if (c < 0) {
			i++;
		} else {
			k++;
		}
	}
out:
	free(ea);
	free(eb);
}

static size_t hops_agreeing(struct c_trace *a, struct c_trace *b)
{
	if (a->n_hops)
		qsort(a->hops, a->n_hops, sizeof(*a->hops), hop_cmp);
	if (b->n_hops)
		qsort(b->hops, b->n_hops, sizeof(*b->hops), hop_cmp);
	return hops_agreeing_sorted(a, b);
}

static void put_hop_node(__u32 tid, const char *addr)
{
	if (tid)
		printf("[%u]", tid);
	else
		printf("%s", addr);
}

static void put_diff_hop(const char *side, const struct c_hop *h)
{
	printf("    only in %s: ", side);
	put_hop_node(h->from, h->from_addr);
	printf(" -> ");
	put_hop_node(h->to, h->to_addr);
	printf("  %" PRIu64 " B\n", (uint64_t)h->bytes);
}

/* -v: the hops each side has alone, for matched traces whose flows differ (hops sorted). */
static void explain_differences(const struct c_file *fa, const struct c_file *fb)
{
	size_t i, shown = 0, x, y;
	int c;

	for (i = 0; i < fa->n && shown < MAX_EXPLAINED_TRACES; i++) {
		const struct c_trace *a = &fa->v[i], *b;

		if (a->match < 0)
			continue;
		b = &fb->v[a->match];
		if (hops_agreeing_sorted(a, b) == a->n_hops && a->n_hops == b->n_hops)
			continue;
		shown++;
		printf("trace %" PRIu64 " in A / %" PRIu64 " in B: %zu vs %zu hops\n",
		       (uint64_t)a->id, (uint64_t)b->id, a->n_hops, b->n_hops);
		for (x = 0, y = 0; x < a->n_hops || y < b->n_hops;) {
			c = x == a->n_hops   ? 1
			    : y == b->n_hops ? -1
					     : hop_cmp(&a->hops[x], &b->hops[y]);
			if (!c) {
				x++;
				y++;
			} else if (c < 0) {
				put_diff_hop("A", &a->hops[x++]);
			} else {
				put_diff_hop("B", &b->hops[y++]);
			}
		}
	}
}

static int by_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

static double median(double *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), by_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int compute(struct c_file *fa, struct c_file *fb, struct c_result *r)
{
	double *cpu_pct = malloc((fa->n ? fa->n : 1) * sizeof(double));
	double *offs = malloc((fa->n ? fa->n : 1) * sizeof(double));
	size_t n_cpu = 0, i, agree;

	memset(r, 0, sizeof(*r));
	if (!cpu_pct || !offs) {
		free(cpu_pct);
		free(offs);
		return -1;
	}
	for (i = 0; i < fa->n; i++) {
		struct c_trace *a = &fa->v[i], *b;

		if (a->match < 0) {
			r->only_a++;
			continue;
		}
		b = &fb->v[a->match];
		r->matched++;
		compare_edges(a, b, r);
		agree = hops_agreeing(a, b);
		r->hops_a += a->n_hops;
		r->hops_b += b->n_hops;
		r->hops_agree += agree;
		if (agree == a->n_hops && agree == b->n_hops)
			r->identical++;
		r->cpu_a += a->cpu_ns;
		r->cpu_absdiff +=
		    a->cpu_ns > b->cpu_ns ? a->cpu_ns - b->cpu_ns : b->cpu_ns - a->cpu_ns;
		if (a->cpu_ns)
			cpu_pct[n_cpu++] =
			    100.0 * fabs((double)a->cpu_ns - (double)b->cpu_ns) / (double)a->cpu_ns;
		offs[r->matched - 1] = ((double)b->ts_ns - (double)a->ts_ns) / 1e6;
	}
	for (i = 0; i < fb->n; i++)
		r->only_b += fb->v[i].match < 0;
	r->cpu_median_pct = median(cpu_pct, n_cpu);
	r->offset_median_ms = median(offs, r->matched);
	free(cpu_pct);
	free(offs);
	return 0;
}

static double pct(double part, double whole)
{
	return whole > 0 ? 100.0 * part / whole : 100.0;
}

/* No trace on either side is no agreement: 0 %, not 100 %. */
static double matched_pct(const struct c_file *fa, const struct c_file *fb,
			  const struct c_result *r)
{
	if (!fa->n && !fb->n)
		return 0;
	return pct(r->matched, fa->n > fb->n ? fa->n : fb->n);
}

static double hops_pct(const struct c_result *r)
{
	return pct(r->hops_agree, r->hops_a > r->hops_b ? r->hops_a : r->hops_b);
}

static double edges_pct(const struct c_result *r)
{
	return pct(r->edges_agree, r->edges_a > r->edges_b ? r->edges_a : r->edges_b);
}

static void list_unmatched(const struct c_file *f)
{
	size_t i, listed = 0, total = 0;

	for (i = 0; i < f->n; i++) {
		if (f->v[i].match >= 0)
			continue;
		if (listed < MAX_LISTED_UNMATCHED) {
			printf("%s%" PRIu64, listed ? ", " : "", (uint64_t)f->v[i].id);
			listed++;
		}
		total++;
	}
	if (!total)
		return;
	printf("%s\n", total > listed ? ", ..." : "");
}

static void print_side(const char *name, const struct c_file *f)
{
	printf("%s: %s  %zu traces", name, f->path, f->n);
	if (f->has_summary)
		printf("  (lost events %" PRIu64 ", unattributed CPU %" PRIu64 ".%03u ms)",
		       (uint64_t)f->lost, (uint64_t)(f->unattributed_cpu_ns / 1000000),
		       (unsigned)(f->unattributed_cpu_ns / 1000 % 1000));
	putchar('\n');
}

static void print_text(const struct c_file *fa, const struct c_file *fb, const struct c_result *r,
		       __u64 tol_ns)
{
	print_side("A", fa);
	print_side("B", fb);
	printf("traces matched       %zu (%.1f %%)  only in A %zu  only in B %zu  "
	       "(ingress connection, time within %.3f ms)\n",
	       r->matched, matched_pct(fa, fb, r), r->only_a, r->only_b, tol_ns / 1e6);
	printf("hops agreeing        %" PRIu64 " (%.1f %%)  of %" PRIu64 " in A, %" PRIu64
	       " in B (matched traces)\n",
	       (uint64_t)r->hops_agree, hops_pct(r), (uint64_t)r->hops_a, (uint64_t)r->hops_b);
	printf("edges agreeing       %" PRIu64 " (%.1f %%)  of %" PRIu64 " in A, %" PRIu64
	       " in B (sender -> receiver pairs with equal total bytes)\n",
	       (uint64_t)r->edges_agree, edges_pct(r), (uint64_t)r->edges_a, (uint64_t)r->edges_b);
	printf("identical flows      %zu of %zu matched traces (%.1f %%)\n", r->identical,
	       r->matched, pct(r->identical, r->matched));
	printf("CPU time difference  %.1f %% in total (sum |A-B| / sum A), per-trace median "
	       "%.1f %%\n",
	       pct(r->cpu_absdiff, r->cpu_a), r->cpu_median_pct);
	printf("ingress time offset  median %.3f ms (B - A)\n", r->offset_median_ms);
	if (r->only_a) {
		printf("only in A: trace ");
		list_unmatched(fa);
	}
	if (r->only_b) {
		printf("only in B: trace ");
		list_unmatched(fb);
	}
	if (fa->bad_lines || fb->bad_lines)
		printf("skipped lines        %" PRIu64 " in A, %" PRIu64 " in B\n",
		       (uint64_t)fa->bad_lines, (uint64_t)fb->bad_lines);
}

static void put_pct(struct krt_json *j, const char *key, double v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.3f", v);
	krt_json_key(j, key);
	krt_json_raw(j, buf);
}

static void put_side(struct krt_json *j, const char *key, const struct c_file *f, size_t only)
{
	krt_json_key(j, key);
	krt_json_obj_begin(j);
	krt_json_kv_str(j, "file", f->path);
	krt_json_kv_u64(j, "traces", f->n);
	krt_json_kv_u64(j, "unmatched", only);
	krt_json_kv_u64(j, "skipped_lines", f->bad_lines);
	if (f->has_summary) {
		krt_json_kv_u64(j, "lost", f->lost);
		krt_json_kv_u64(j, "unattributed_cpu_ns", f->unattributed_cpu_ns);
	}
	krt_json_obj_end(j);
}

static void print_json(const struct c_file *fa, const struct c_file *fb, const struct c_result *r,
		       __u64 tol_ns, bool pass)
{
	struct krt_json j;

	krt_json_init(&j, stdout);
	krt_json_obj_begin(&j);
	put_side(&j, "a", fa, r->only_a);
	put_side(&j, "b", fb, r->only_b);
	krt_json_kv_u64(&j, "tolerance_ns", tol_ns);
	krt_json_kv_u64(&j, "matched", r->matched);
	put_pct(&j, "matched_pct", matched_pct(fa, fb, r));
	krt_json_kv_u64(&j, "hops_a", r->hops_a);
	krt_json_kv_u64(&j, "hops_b", r->hops_b);
	krt_json_kv_u64(&j, "hops_agree", r->hops_agree);
	put_pct(&j, "hops_agree_pct", hops_pct(r));
	krt_json_kv_u64(&j, "edges_a", r->edges_a);
	krt_json_kv_u64(&j, "edges_b", r->edges_b);
	krt_json_kv_u64(&j, "edges_agree", r->edges_agree);
	put_pct(&j, "edges_agree_pct", edges_pct(r));
	krt_json_kv_u64(&j, "identical_flows", r->identical);
	krt_json_kv_u64(&j, "cpu_a_ns", r->cpu_a);
	krt_json_kv_u64(&j, "cpu_absdiff_ns", r->cpu_absdiff);
	put_pct(&j, "cpu_diff_pct", pct(r->cpu_absdiff, r->cpu_a));
	put_pct(&j, "cpu_diff_median_pct", r->cpu_median_pct);
	put_pct(&j, "ingress_offset_median_ms", r->offset_median_ms);
	krt_json_key(&j, "pass");
	krt_json_bool(&j, pass);
	krt_json_obj_end(&j);
	putchar('\n');
}

static int parse_pct(const char *opt, const char *arg, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(arg, &end);
	if (errno || end == arg || *end || *out < 0 || *out > 100 || isnan(*out)) {
		fprintf(stderr, "krtrace compare: %s: '%s' is not a percentage (0-100)\n", opt,
			arg);
		return -1;
	}
	return 0;
}

int krt_compare_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"min", required_argument, NULL, 'm'},
	    {"min-hops", required_argument, NULL, 'H'},
	    {"tolerance", required_argument, NULL, 't'},
	    {"json", no_argument, NULL, 'j'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct c_file fa = {0}, fb = {0};
	struct c_result r;
	double min_pct = -1, min_hops = -1, tol_ms = 5;
	bool json = false, verbose = false, pass;
	char *end;
	int opt, ret;

	optind = 0; /* the caller may have run getopt already */
	while ((opt = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (parse_pct("--min", optarg, &min_pct))
				return 2;
			break;
		case 'H':
			if (parse_pct("--min-hops", optarg, &min_hops))
				return 2;
			break;
		case 't':
			errno = 0;
			tol_ms = strtod(optarg, &end);
			if (errno || end == optarg || *end || tol_ms < 0 || tol_ms > 1e6 ||
			    isnan(tol_ms)) {
				fprintf(stderr,
					"krtrace compare: --tolerance: '%s' is not a number "
					"of milliseconds\n",
					optarg);
				return 2;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		fputs(usage, stderr);
		return 2;
	}
	fa.path = argv[optind];
	fb.path = argv[optind + 1];
	if (!strcmp(fa.path, "-") && !strcmp(fb.path, "-")) {
		fprintf(stderr, "krtrace compare: only one of A and B can be stdin\n");
		return 2;
	}
	ret = 2;
	if (load_file(&fa) || load_file(&fb))
		goto out;
	if (match_traces(&fa, &fb, (__u64)(tol_ms * 1e6)) || compute(&fa, &fb, &r)) {
		fprintf(stderr, "krtrace compare: out of memory\n");
		goto out;
	}
	pass = (min_pct < 0 || matched_pct(&fa, &fb, &r) >= min_pct) &&
	       (min_hops < 0 || hops_pct(&r) >= min_hops);
	if (json)
		print_json(&fa, &fb, &r, (__u64)(tol_ms * 1e6), pass);
	else
		print_text(&fa, &fb, &r, (__u64)(tol_ms * 1e6));
	if (verbose && !json)
		explain_differences(&fa, &fb);
	if (!pass && !json)
		printf("FAIL: agreement below --min%s\n", min_hops >= 0 ? "/--min-hops" : "");
	ret = pass ? 0 : 1;
out:
	fflush(stdout);
	free_file(&fa);
	free_file(&fb);
	return ret;
}
