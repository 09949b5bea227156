/*
 * krtrace merge A.jsonl B.jsonl ...: joins the --json results of tracers on
 * different hosts into one result, as if one tracer had seen every host.
 *
 * Each host's tracer sees its half of a call to another host: a hop from a
 * traced thread to an untraced address (the send) on one host, a hop from
 * an untraced address to a traced thread (the receive) on the other. The
 * halves are the same bytes when their connection direction (from_addr ->
 * to_addr) is the same and their byte ranges overlap: TCP sequence numbers
 * ("seq") when both halves carry them, else the running byte count of the
 * direction on each side (which needs both tracers to have seen the
 * connection from its first byte). Matched halves become one hop per
 * overlap, in the sender's trace (the bytes carry the sender's trace); when
 * the receive started its trace (a request continuing from another host),
 * the two traces become one, named by the one whose request came from a
 * client.
 *
 * Inputs are the JSON schema of docs/outputs.md (live or import); the output is the same
 * schema, threads and joined hops marked with their "host", so `krtrace
 * compare` reads it like any result.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/types.h>
#include "merge.h"
#include "json_get.h"

#define MAX_FILES 64
#define MAX_REPORTED_BAD_LINES 3

struct m_file {
	const char *path;
	char host[128];
	__u64 bad_lines;
	__u64 lost;
	size_t n_traces;
};

struct m_trace {
	json_object *o;
	int file;
	size_t parent;	/* union-find */
	bool from_peer; /* its request came from another host's traced thread */
	__u64 start_ns;
	json_object *joined; /* joined hops whose send half is in this trace */
	bool uncertain;	     /* a join of its was made without sequence numbers */
};

struct m_half {
	size_t trace;
	int file;
	json_object *hop;
	bool send; /* traced sender, untraced receiver; else the reverse */
	const char *from_addr, *to_addr;
	__u64 bytes, ts;
	bool has_seq;
	__u32 seq;
	__u64 lo, hi; /* byte range in the direction's stream */
	bool used;
	bool ingress; /* the receive that started its trace */
};

struct m_state {
	struct m_file files[MAX_FILES];
	int n_files;
	struct m_trace *traces;
	size_t n_traces, cap_traces;
	struct m_half *halves;
	size_t n_halves, cap_halves;
	__u64 joined_hops;
	__u64 joined_no_seq; /* of joined_hops: by running byte counts */
	int no_seq_file;     /* a file with a half lacking "seq" (-1: none) */
};

static const char usage[] =
    "usage: krtrace merge A.jsonl B.jsonl ... [-o FILE]\n"
    "Joins the --json results of one tracer per host (krtrace-bpf or krtrace) into\n"
    "one result: a send one host saw leave for an untraced address and the receive\n"
    "another host saw arrive from it are joined by TCP connection and sequence range\n"
    "(\"seq\"), and their traces become one. Hosts are named by each result's \"host\"\n"
    "(--host-name), else by the file name.\n"
    "  -o, --output FILE   write the joined result to FILE instead of stdout\n"
    "Exit status: 0 ok, 2 usage or input error.\n";

static bool grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t c;
	void *p;

	if (n < *cap)
		return true;
	c = *cap ? *cap * 2 : 256;
	p = realloc(*v, c * size);
	if (!p)
		return false;
	*v = p;
	*cap = c;
	return true;
}

/* A hop's time: its send, or its receive when the send was not seen. */
static __u64 hop_ts(json_object *h)
{
	__u64 t = json_get_u64(h, "send_ns");

	return t ? t : json_get_u64(h, "recv_ns");
}

static int add_halves(struct m_state *s, size_t ti)
{
	json_object *hops = json_get_arr(s->traces[ti].o, "hops");
	size_t i, n = hops ? json_object_array_length(hops) : 0;

	json_object *ingress = NULL;
	const char *client = "", *server = "";
	bool ingress_seen = false;

	if (json_object_object_get_ex(s->traces[ti].o, "ingress", &ingress)) {
		client = json_get_str(ingress, "client");
		server = json_get_str(ingress, "server");
	}
	for (i = 0; i < n; i++) {
		json_object *h = json_object_array_get_idx(hops, i), *seq;
		__u64 from = json_get_u64(h, "from"), to = json_get_u64(h, "to");
		struct m_half *x;

		/* Only halves: exactly one end traced. */
		if (!from == !to)
			continue;
		if (!grow((void **)&s->halves, &s->cap_halves, s->n_halves, sizeof(*s->halves)))
			return -1;
		x = &s->halves[s->n_halves++];
		memset(x, 0, sizeof(*x));
		x->trace = ti;
		x->file = s->traces[ti].file;
		x->hop = h;
		x->send = from != 0;
		x->from_addr = json_get_str(h, "from_addr");
		x->to_addr = json_get_str(h, "to_addr");
		/*
		 * The trace's ingress: its first receive from the ingress
		 * client (or, where the source did not name the ingress, its
		 * first hop when that is a receive).
		 */
		if (!x->send && !ingress_seen &&
		    ((!strcmp(x->from_addr, client) && !strcmp(x->to_addr, server)) ||
		     (i == 0 && (!client[0] || !strcmp(client, "?")))))
			x->ingress = ingress_seen = true;
		x->bytes = json_get_u64(h, "bytes");
		x->ts = x->send ? json_get_u64(h, "send_ns") : json_get_u64(h, "recv_ns");
		if (!x->ts)
			x->ts = hop_ts(h);
		if (json_object_object_get_ex(h, "seq", &seq) &&
		    json_object_is_type(seq, json_type_array) &&
		    json_object_array_length(seq) == 2) {
			x->has_seq = true;
			x->seq = (__u32)json_object_get_uint64(json_object_array_get_idx(seq, 0));
		}
		/* A receive from an untraced address: the request may come from a peer host. */
	}
	return 0;
}

static void file_host(struct m_file *f, json_object *trace)
{
	const char *h = json_get_str(trace, "host");
	char *copy, *base, *dot;

	if (f->host[0])
		return;
	if (h[0]) {
		snprintf(f->host, sizeof(f->host), "%s", h);
		return;
	}
	copy = strdup(f->path);
	if (!copy)
		return;
	base = basename(copy);
	dot = strchr(base, '.');
	if (dot && dot != base)
		*dot = '\0';
	snprintf(f->host, sizeof(f->host), "%s", base);
	free(copy);
}

static int read_file(struct m_state *s, int fi)
{
	struct m_file *f = &s->files[fi];
	FILE *in = strcmp(f->path, "-") ? fopen(f->path, "r") : stdin;
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	bool summary = false;
	int ret = 0;

	if (!in) {
		fprintf(stderr, "krtrace merge: %s: %s\n", f->path, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, in)) > 0) {
		json_object *o, *sum;
		struct m_trace *t;

		lineno++;
		if (len == 1 && line[0] == '\n')
			continue;
		o = json_tokener_parse(line);
		if (o && json_object_object_get_ex(o, "summary", &sum)) {
			f->lost += json_get_u64(sum, "lost");
			summary = true;
			json_object_put(o);
			continue;
		}
		if (!o || !json_object_object_get_ex(o, "trace_id", NULL) ||
		    !json_get_arr(o, "hops") || !json_get_arr(o, "threads")) {
			if (f->bad_lines++ < MAX_REPORTED_BAD_LINES)
				fprintf(stderr, "krtrace merge: %s:%zu: %s\n", f->path, lineno,
					o ? "not a trace object (trace_id, threads, hops)"
					  : "not JSON");
			json_object_put(o);
			continue;
		}
		if (!grow((void **)&s->traces, &s->cap_traces, s->n_traces, sizeof(*s->traces))) {
			json_object_put(o);
			ret = -1;
			break;
		}
		file_host(f, o);
		t = &s->traces[s->n_traces];
		memset(t, 0, sizeof(*t));
		t->o = o;
		t->file = fi;
		t->parent = s->n_traces;
		t->start_ns = json_get_u64(o, "start_ns");
		s->n_traces++;
		f->n_traces++;
		if (add_halves(s, s->n_traces - 1)) {
			ret = -1;
			break;
		}
	}
	free(line);
	if (ferror(in)) {
		fprintf(stderr, "krtrace merge: %s: %s\n", f->path, strerror(errno));
		ret = -1;
	}
	if (in != stdin)
		fclose(in);
	if (ret)
		fprintf(stderr, "krtrace merge: %s: out of memory\n", f->path);
	else if (!f->n_traces && !summary) {
		fprintf(stderr, "krtrace merge: %s: no trace and no summary: not a --json result\n",
			f->path);
		ret = -1;
	}
	if (f->bad_lines > MAX_REPORTED_BAD_LINES)
		fprintf(stderr, "krtrace merge: %s: %" PRIu64 " bad lines in all\n", f->path,
			(uint64_t)f->bad_lines);
	return ret;
}

static size_t uf_find(struct m_state *s, size_t i)
{
	while (s->traces[i].parent != i) {
		s->traces[i].parent = s->traces[s->traces[i].parent].parent;
		i = s->traces[i].parent;
	}
	return i;
}

static void uf_union(struct m_state *s, size_t a, size_t b)
{
	a = uf_find(s, a);
	b = uf_find(s, b);
	if (a != b)
		s->traces[b].parent = a;
}

/* Halves of one direction together, sends before receives, each side in time order. */
static int cmp_half(const void *pa, const void *pb)
{
	const struct m_half *a = pa, *b = pb;
	int c = strcmp(a->from_addr, b->from_addr);

	if (c)
		return c;
	c = strcmp(a->to_addr, b->to_addr);
	if (c)
		return c;
	if (a->send != b->send)
		return a->send ? -1 : 1;
	if (a->file != b->file)
		return a->file < b->file ? -1 : 1;
	return a->ts < b->ts ? -1 : a->ts > b->ts;
}

static int cmp_lo(const void *pa, const void *pb)
{
	const struct m_half *a = pa, *b = pb;

	return a->lo < b->lo ? -1 : a->lo > b->lo;
}

/*
 * Byte ranges of one side (one file's sends or receives of one direction):
 * sequence numbers unwrapped from a reference both sides share, or running
 * byte counts when a half lacks them.
 */
static void place_side(struct m_half *v, size_t n, bool use_seq, __u32 ref)
{
	__u64 cur = (1ULL << 32) + ref, pos = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (use_seq) {
			cur = cur + (__s64)(__s32)(v[i].seq - (__u32)cur);
			v[i].lo = cur;
		} else {
			v[i].lo = pos;
		}
		v[i].hi = v[i].lo + v[i].bytes;
		pos = v[i].hi;
	}
	qsort(v, n, sizeof(*v), cmp_lo);
}

/* Joined halves are marked on their hop object (json-c user data): no lookup table. */
static void mark_used(struct m_half *x)
{
	x->used = true;
	json_object_set_userdata(x->hop, x, NULL);
}

static bool half_used(json_object *hop)
{
	return json_object_get_userdata(hop) != NULL;
}

static json_object *u64(__u64 v)
{
	return json_object_new_uint64(v);
}

static int join_pair(struct m_state *s, struct m_half *snd, struct m_half *rcv, __u64 lo, __u64 hi,
		     bool use_seq)
{
	struct m_trace *ts = &s->traces[snd->trace];
	json_object *h = json_object_new_object(), *seq;

	if (!h)
		return -1;
	json_object_object_add(h, "from", u64(json_get_u64(snd->hop, "from")));
	json_object_object_add(h, "from_addr", json_object_new_string(snd->from_addr));
	json_object_object_add(h, "to", u64(json_get_u64(rcv->hop, "to")));
	json_object_object_add(h, "to_addr", json_object_new_string(rcv->to_addr));
	json_object_object_add(h, "bytes", u64(hi - lo));
	json_object_object_add(h, "send_ns", u64(json_get_u64(snd->hop, "send_ns")));
	json_object_object_add(h, "recv_ns", u64(json_get_u64(rcv->hop, "recv_ns")));
	if (use_seq) {
		seq = json_object_new_array();
		json_object_array_add(seq, u64((__u32)lo));
		json_object_array_add(seq, u64((__u32)hi));
		json_object_object_add(h, "seq", seq);
	} else {
		/*
		 * Byte counts align only while both sides saw every transfer of
		 * the connection: one missed on either side shifts every later
		 * join. Said, not guessed silently.
		 */
		json_object_object_add(h, "uncertain",
				       json_object_new_string("joined by byte counts, without "
							      "sequence numbers"));
		s->traces[snd->trace].uncertain = true;
		s->traces[rcv->trace].uncertain = true;
		s->joined_no_seq++;
	}
	json_object_object_add(h, "from_host", json_object_new_string(s->files[snd->file].host));
	json_object_object_add(h, "to_host", json_object_new_string(s->files[rcv->file].host));
	if (!ts->joined)
		ts->joined = json_object_new_array();
	json_object_array_add(ts->joined, h);
	mark_used(snd);
	mark_used(rcv);
	/*
	 * The hop belongs to the sender's trace (the bytes carry it). The
	 * traces become one only when these bytes started the receiver's
	 * trace: a receive elsewhere in a trace (a reply the receiving host
	 * could not place) moves to the sender's trace and links nothing.
	 */
	if (rcv->ingress) {
		s->traces[rcv->trace].from_peer = true;
		uf_union(s, snd->trace, rcv->trace);
	}
	s->joined_hops++;
	return 0;
}

/* Sends of one file against receives of another, on one direction: interval sweep. */
static int join_sides(struct m_state *s, struct m_half *snd, size_t ns, struct m_half *rcv,
		      size_t nr)
{
	bool use_seq = true;
	size_t i = 0, j = 0;
	__u32 ref;

	for (i = 0; i < ns; i++)
		use_seq &= snd[i].has_seq;
	for (j = 0; j < nr; j++)
		use_seq &= rcv[j].has_seq;
	if (!use_seq && s->no_seq_file < 0) {
		for (i = 0; i < ns && snd[i].has_seq; i++)
			;
		s->no_seq_file = i < ns ? snd[i].file : rcv[0].file;
		for (j = 0; i == ns && j < nr; j++)
			if (!rcv[j].has_seq) {
				s->no_seq_file = rcv[j].file;
				break;
			}
	}
	/* The first send (in time) is the reference of both sides' sequence numbers. */
	ref = snd[0].seq;
	place_side(snd, ns, use_seq, ref);
	place_side(rcv, nr, use_seq, ref);
	i = j = 0;
	while (i < ns && j < nr) {
		__u64 lo = snd[i].lo > rcv[j].lo ? snd[i].lo : rcv[j].lo;
		__u64 hi = snd[i].hi < rcv[j].hi ? snd[i].hi : rcv[j].hi;

		if (hi > lo && join_pair(s, &snd[i], &rcv[j], lo, hi, use_seq))
			return -1;
		if (snd[i].hi <= rcv[j].hi)
			i++;
		else
			j++;
	}
	return 0;
}

static int join_all(struct m_state *s)
{
	size_t i = 0, n = s->n_halves;

	qsort(s->halves, n, sizeof(*s->halves), cmp_half);
	while (i < n) {
		size_t end = i, a, b;

		while (end < n && !strcmp(s->halves[end].from_addr, s->halves[i].from_addr) &&
		       !strcmp(s->halves[end].to_addr, s->halves[i].to_addr))
			end++;
		/* Runs of one file and one side inside the direction [i, end). */
		for (a = i; a < end && s->halves[a].send;) {
			size_t a_end = a, r;

			while (a_end < end && s->halves[a_end].send &&
			       s->halves[a_end].file == s->halves[a].file)
				a_end++;
			for (b = a_end; b < end && s->halves[b].send; b++)
				;
			for (; b < end; b = r) {
				for (r = b; r < end && s->halves[r].file == s->halves[b].file; r++)
					;
				if (s->halves[b].file != s->halves[a].file &&
				    join_sides(s, &s->halves[a], a_end - a, &s->halves[b], r - b))
					return -1;
			}
			a = a_end;
		}
		i = end;
	}
	return 0;
}

static int cmp_hop_ts(const void *pa, const void *pb)
{
	__u64 a = hop_ts(*(json_object *const *)pa), b = hop_ts(*(json_object *const *)pb);

	return a < b ? -1 : a > b;
}

/* The member whose request came from a client names the joined trace. */
static bool names_better(const struct m_trace *a, const struct m_trace *b)
{
	if (a->from_peer != b->from_peer)
		return !a->from_peer;
	return a->start_ns < b->start_ns;
}

static void copy_key(json_object *dst, json_object *src, const char *key)
{
	json_object *v;

	if (json_object_object_get_ex(src, key, &v) && !json_object_object_get_ex(dst, key, NULL))
		json_object_object_add(dst, key, json_object_get(v));
}

static json_object *joined_trace(struct m_state *s, size_t *members, size_t n, bool *used_hop)
{
	struct m_trace *p = &s->traces[members[0]];
	json_object *o = json_object_new_object(), *threads = json_object_new_array();
	json_object *hops = json_object_new_array(), *list = json_object_new_array();
	__u64 start = UINT64_MAX, end = 0;
	size_t i, k, h = 0;

	copy_key(o, p->o, "trace_id");
	copy_key(o, p->o, "trace_id_hex");
	json_object_object_add(o, "host", json_object_new_string(s->files[p->file].host));
	copy_key(o, p->o, "ingress");
	for (i = 0; i < n; i++) {
		struct m_trace *t = &s->traces[members[i]];
		json_object *th = json_get_arr(t->o, "threads"), *hp = json_get_arr(t->o, "hops"),
			    *m;
		const char *host = s->files[t->file].host;

		if (t->start_ns < start)
			start = t->start_ns;
		if (json_get_u64(t->o, "end_ns") > end)
			end = json_get_u64(t->o, "end_ns");
		for (k = 0; k < json_object_array_length(th); k++) {
			json_object *x = json_object_array_get_idx(th, k);

			/* A thread that is not an object is passed on as it is. */
			if (json_object_is_type(x, json_type_object) &&
			    !json_object_object_get_ex(x, "host", NULL))
				json_object_object_add(x, "host", json_object_new_string(host));
			json_object_array_add(threads, json_object_get(x));
		}
		for (k = 0; k < json_object_array_length(hp); k++, h++)
			if (!used_hop[h])
				json_object_array_add(
				    hops, json_object_get(json_object_array_get_idx(hp, k)));
		if (t->joined)
			for (k = 0; k < json_object_array_length(t->joined); k++)
				json_object_array_add(
				    hops, json_object_get(json_object_array_get_idx(t->joined, k)));
		copy_key(o, t->o, "uncertain");
		copy_key(o, t->o, "incomplete");
		if (t->uncertain && !json_object_object_get_ex(o, "uncertain", NULL))
			json_object_object_add(o, "uncertain",
					       json_object_new_string("joined by byte counts, "
								      "without sequence numbers"));
		m = json_object_new_object();
		json_object_object_add(m, "host", json_object_new_string(host));
		json_object_object_add(m, "trace_id", u64(json_get_u64(t->o, "trace_id")));
		if (json_object_object_get_ex(t->o, "trace_id_hex", NULL))
			copy_key(m, t->o, "trace_id_hex");
		json_object_array_add(list, m);
	}
	json_object_array_sort(hops, cmp_hop_ts);
	json_object_object_add(o, "start_ns", u64(start));
	json_object_object_add(o, "end_ns", u64(end));
	json_object_object_add(o, "threads", threads);
	json_object_object_add(o, "hops", hops);
	if (n > 1)
		json_object_object_add(o, "joined", list);
	else
		json_object_put(list);
	return o;
}

static int cmp_group(const void *pa, const void *pb, void *arg)
{
	struct m_state *s = arg;
	size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
	size_t ra = uf_find(s, a), rb = uf_find(s, b);

	if (ra != rb)
		return ra < rb ? -1 : 1;
	return names_better(&s->traces[a], &s->traces[b])   ? -1
	       : names_better(&s->traces[b], &s->traces[a]) ? 1
							    : (a > b) - (a < b);
}

static int write_result(struct m_state *s, FILE *out)
{
	size_t *order = malloc(s->n_traces * sizeof(*order) + 1);
	size_t i, k, n_out = 0, n_joined = 0, unused_sends = 0, unused_recvs = 0;
	__u64 lost = 0;
	json_object *sum, *o;

	if (!order)
		return -1;
	for (i = 0; i < s->n_traces; i++) {
		uf_find(s, i);
		order[i] = i;
	}
	qsort_r(order, s->n_traces, sizeof(*order), cmp_group, s);
	for (i = 0; i < s->n_traces; i = k) {
		size_t root = uf_find(s, order[i]), nh = 0, m, h;
		bool *used;

		for (k = i; k < s->n_traces && uf_find(s, order[k]) == root; k++)
			nh += json_object_array_length(json_get_arr(s->traces[order[k]].o, "hops"));
		used = calloc(nh + 1, sizeof(*used));
		if (!used) {
			free(order);
			return -1;
		}
		for (m = i, h = 0; m < k; m++) {
			json_object *hp = json_get_arr(s->traces[order[m]].o, "hops");
			size_t x;

			for (x = 0; x < json_object_array_length(hp); x++, h++) {
				json_object *hop = json_object_array_get_idx(hp, x);

				if (!json_get_u64(hop, "from") != !json_get_u64(hop, "to"))
					used[h] = half_used(hop);
			}
		}
		o = joined_trace(s, order + i, k - i, used);
		free(used);
		fprintf(out, "%s\n",
			json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		n_out++;
		n_joined += k - i > 1;
	}
	free(order);
	for (i = 0; i < s->n_halves; i++) {
		unused_sends += s->halves[i].send && !s->halves[i].used;
		unused_recvs += !s->halves[i].send && !s->halves[i].used;
	}
	for (i = 0; i < (size_t)s->n_files; i++)
		lost += s->files[i].lost;
	sum = json_object_new_object();
	json_object_object_add(sum, "files", u64(s->n_files));
	json_object_object_add(sum, "traces_in", u64(s->n_traces));
	json_object_object_add(sum, "traces", u64(n_out));
	json_object_object_add(sum, "joined_traces", u64(n_joined));
	json_object_object_add(sum, "joined_hops", u64(s->joined_hops));
	json_object_object_add(sum, "joined_without_seq", u64(s->joined_no_seq));
	/* Halves no other host saw: calls to untraced services, or clients. */
	json_object_object_add(sum, "unjoined_sends", u64(unused_sends));
	json_object_object_add(sum, "unjoined_recvs", u64(unused_recvs));
	json_object_object_add(sum, "lost", u64(lost));
	o = json_object_new_object();
	json_object_object_add(o, "summary", sum);
	fprintf(out, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return 0;
}

/* The same host twice would mix its threads up: the later file gets a suffix. */
static void distinct_hosts(struct m_state *s)
{
	int i, k;

	for (i = 1; i < s->n_files; i++)
		for (k = 0; k < i; k++)
			if (!strcmp(s->files[i].host, s->files[k].host)) {
				size_t len =
				    strnlen(s->files[i].host, sizeof(s->files[i].host) - 8);

				fprintf(stderr,
					"krtrace merge: %s and %s both name host '%s'; "
					"calling the second '%s#%d'\n",
					s->files[k].path, s->files[i].path, s->files[i].host,
					s->files[i].host, i + 1);
				snprintf(s->files[i].host + len, sizeof(s->files[i].host) - len,
					 "#%d", i + 1);
				break;
			}
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	if (!strcmp(a, b))
		return true;
	return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void state_free(struct m_state *s)
{
	size_t i;

	for (i = 0; i < s->n_traces; i++) {
		json_object_put(s->traces[i].o);
		json_object_put(s->traces[i].joined);
	}
	free(s->traces);
	free(s->halves);
}

int krt_merge_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct m_state s = {.no_seq_file = -1};
	const char *out_path = NULL;
	char tmp_path[4096];
	FILE *out = stdout;
	int opt, i, ret = 2, tmp_fd = -1;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			out_path = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (argc - optind < 2 || argc - optind > MAX_FILES) {
		fprintf(stderr, "krtrace merge: needs 2 to %d results\n%s", MAX_FILES, usage);
		return 2;
	}
	for (i = optind; i < argc; i++) {
		s.files[s.n_files].path = argv[i];
		if (read_file(&s, s.n_files++))
			goto out;
	}
	distinct_hosts(&s);
	if (join_all(&s)) {
		fprintf(stderr, "krtrace merge: out of memory\n");
		goto out;
	}
	if (out_path && strcmp(out_path, "-")) {
		for (i = 0; i < s.n_files; i++)
			if (same_file(out_path, s.files[i].path)) {
				fprintf(stderr, "krtrace merge: %s is also an input\n", out_path);
				goto out;
			}
		snprintf(tmp_path, sizeof(tmp_path), "%s.krtrace-XXXXXX", out_path);
		tmp_fd = mkstemp(tmp_path);
		out = tmp_fd >= 0 ? fdopen(tmp_fd, "w") : NULL;
		if (!out) {
			fprintf(stderr, "krtrace merge: %s: %s\n", out_path, strerror(errno));
			out = stdout;
			goto out;
		}
	}
	if (write_result(&s, out)) {
		fprintf(stderr, "krtrace merge: out of memory\n");
		goto out;
	}
	ret = 0;
	/*
	 * Imported captures have no sequence numbers (the capture's events show
	 * none of an incoming direction: docs/hosts.md): their joins by byte
	 * count are marked in the result, and said here, where a user looks.
	 */
	if (s.joined_no_seq)
		fprintf(stderr,
			"krtrace merge: %llu of %llu joined hops by running byte counts, without "
			"TCP sequence numbers (%s has none: an imported capture cannot give "
			"them), marked \"uncertain\": right only if both hosts saw every "
			"transfer of the connection from its first byte\n",
			(unsigned long long)s.joined_no_seq, (unsigned long long)s.joined_hops,
			s.no_seq_file >= 0 ? s.files[s.no_seq_file].path : "an input");
	if (fflush(out) || ferror(out)) {
		fprintf(stderr, "krtrace merge: writing the result: %s\n", strerror(errno));
		ret = 2;
	}
out:
	if (out != stdout) {
		if (fclose(out) && !ret)
			ret = 2;
		if (!ret && rename(tmp_path, out_path)) {
			fprintf(stderr, "krtrace merge: %s: %s\n", out_path, strerror(errno));
			ret = 2;
		}
		if (ret)
			unlink(tmp_path);
	} else if (tmp_fd >= 0) {
		close(tmp_fd);
		unlink(tmp_path);
	}
	state_free(&s);
	return ret;
}
