/*
 * krt_score: accuracy of KRTrace's --json traces against the test bed's
 * ground truth.
 *
 * Ground truth (JSON lines, from the test bed): one "client" record per
 * request (krt_load: id, local ip:port, start/end), one record per request
 * and service (svc, model, id, tid, io_tid, client, local, calls[] with peer
 * and local ends and, when another thread read the reply than sent the call
 * (Go), recv_tid; Go's io_tids: every thread that read bytes of the request,
 * their edges from the client optional; or nginx's "upstream"), and "node" records for servers
 * that log nothing per request (redis: addr -> tid).
 *
 * For every client request the expected edge set is built by following the
 * calls from the service that received it: nodes are threads ("t:TID") or,
 * for untraced endpoints and the gateway, addresses ("a:IP"); edges are
 * ordered pairs (sender, receiver). The request's trace is the one whose
 * ingress client is the request's local ip:port with the ingress time inside
 * the request's window. The trace's hops give its edge set.
 *   exact     edge sets equal and every hop inside the request's time window
 *             and, on the edges of a downstream call, inside that call's window
 *             on that call's connection (its two ends)
 *   uncertain the trace says the kernel could not decide ("uncertain" on the
 *             trace or on a hop): counted apart whether it is right or not
 *             (how many of them were right is printed too); so is a trace
 *             that is not exact and says it may be incomplete (a loss, or a
 *             sampling window that closed before its reply: it told the
 *             user not to trust it)
 *   wrong     an edge the request never had, or a hop outside its window or
 *             on another connection (stitched to another request)
 *   missing   no trace, or some expected edges absent
 * A one-way call (memcached noreply: "oneway" in the truth) has no reply edge.
 * --sampled judges only the requests that have a trace (krtrace-bpf --sample)
 * and prints which share of the requests that is.
 */
#include <errno.h>
#include <dirent.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <math.h>
#include <json-c/json.h>

#define MAX_CALLS 16
#define NODE_LEN 64
#define MAX_EDGES 64
#define MAX_DEPTH 8

struct call {
	char peer[64], local[64];
	bool oneway;			/* no reply expected */
	int tid;
	int recv_tid;		/* read the reply, when not tid (Go: another thread) */
	uint64_t start_ns, end_ns;
};

struct svc_rec {
	char svc[32], model[32], id[64];
	int tid, io_tid;
	int io_tids[4], n_io_tids;	/* Go: every thread that read the request's bytes */
	char client[64], local[64];
	uint64_t recv_ns, send_ns;
	uint64_t cpu_ns;		/* CPU time of tid on the request (0 = unknown) */
	int n_calls;
	struct call calls[MAX_CALLS];
};

struct client_rec {
	char id[64], local[64], peer[64];
	uint64_t start_ns, end_ns;
	int status;
};

struct node_rec {
	char addr[64], name[32];
	int tid;
};

struct hop {
	char from[NODE_LEN], to[NODE_LEN];
	char from_addr[64], to_addr[64];	/* the connection's ends ("" = not given) */
	uint64_t send_ns, recv_ns;
};

struct trace {
	uint64_t id;
	char client[64];
	char server[64];	/* "" when the result does not say */
	uint64_t ingress_ns;
	int n_hops;
	struct hop *hops;
	int n_threads;
	uint32_t *thread_tid;
	uint64_t *thread_cpu;
	bool uncertain;		/* on the trace or on one of its hops */
	char reason[32];
	char incomplete[32];	/* its first "incomplete" cause, "" when none */
	bool used;
};

#define MAX_WINDOWS 8

/*
 * Expected edges carry the time windows of the downstream calls they belong
 * to (call start .. reply complete, from the caller's truth) and the call's
 * connection: a hop on such an edge must lie inside one of them, on that
 * connection, which tells a hop of this request from a hop of another
 * request between the same two threads (a pooled connection carries both in
 * turn; two connections between the same threads carry them at once).
 */
struct edge_set {
	int n;
	char from[MAX_EDGES][NODE_LEN], to[MAX_EDGES][NODE_LEN];
	int n_win[MAX_EDGES];
	uint64_t win_lo[MAX_EDGES][MAX_WINDOWS], win_hi[MAX_EDGES][MAX_WINDOWS];
	/* the call's connection ends, "" when the truth does not say (nginx) */
	char win_a[MAX_EDGES][MAX_WINDOWS][48], win_b[MAX_EDGES][MAX_WINDOWS][48];
	/* a one-way call: the callee reads it when it will, after the call */
	bool win_oneway[MAX_EDGES][MAX_WINDOWS];
	bool optional[MAX_EDGES];	/* may be absent (a request's other reading threads) */
};

#define VEC(T) struct { T *v; size_t n, cap; }
#define VEC_PUSH(vec, item)                                                         \
	do {                                                                        \
		if ((vec).n == (vec).cap) {                                         \
			(vec).cap = (vec).cap ? (vec).cap * 2 : 64;                 \
			(vec).v = realloc((vec).v, (vec).cap * sizeof(*(vec).v));   \
			if (!(vec).v) {                                             \
				fprintf(stderr, "krt_score: out of memory\n");      \
				exit(2);                                            \
			}                                                           \
		}                                                                   \
		(vec).v[(vec).n++] = (item);                                        \
	} while (0)

static VEC(struct svc_rec) svcs;
static VEC(struct client_rec) clients;
static VEC(struct node_rec) nodes;
static VEC(struct trace) traces;
static const char *prefix = "";
static uint64_t slack_ns = 2000;	/* report timestamps are truncated to µs */
static int verbose;
static FILE *emit;	/* --emit-truth: write the ideal trace of each request */
static bool sampled;	/* --sampled: a request with no trace was not sampled */

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int64_t jint(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (json_object_is_type(v, json_type_string))
		return strtoll(json_object_get_string(v), NULL, 10);
	return json_object_get_int64(v);
}

static uint64_t juint(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	return json_object_get_uint64(v);
}

static void copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/* "ip:port" or "[v6]:port" -> "a:ip" (the address node: ports vary). */
static void addr_node(char *out, size_t len, const char *addr)
{
	const char *colon = strrchr(addr, ':');
	int n = colon ? (int)(colon - addr) : (int)strlen(addr);

	if (addr[0] == '[' && n > 2)
		snprintf(out, len, "a:%.*s", n - 2, addr + 1);
	else
		snprintf(out, len, "a:%.*s", n, addr);
}

static void parse_truth_obj(struct json_object *o, const char *path, int line)
{
	const char *svc = jstr(o, "svc"), *id = jstr(o, "id");
	struct json_object *calls;

	if (!svc) {
		fprintf(stderr, "krt_score: %s:%d: no \"svc\" field\n", path, line);
		exit(2);
	}
	if (!strcmp(svc, "node")) {
		struct node_rec n = { .tid = (int)jint(o, "tid") };

		copy(n.addr, sizeof(n.addr), jstr(o, "addr"));
		copy(n.name, sizeof(n.name), jstr(o, "name") ? jstr(o, "name") : "node");
		VEC_PUSH(nodes, n);
		return;
	}
	if (!id || strncmp(id, prefix, strlen(prefix)))
		return;
	if (!strcmp(svc, "client")) {
		struct client_rec c = { .start_ns = juint(o, "start_ns"),
					.end_ns = juint(o, "end_ns"),
					.status = (int)jint(o, "status") };

		copy(c.id, sizeof(c.id), id);
		copy(c.local, sizeof(c.local), jstr(o, "local"));
		copy(c.peer, sizeof(c.peer), jstr(o, "peer"));
		VEC_PUSH(clients, c);
		return;
	}
	struct svc_rec r = { .tid = (int)jint(o, "tid"), .io_tid = (int)jint(o, "io_tid"),
			     .recv_ns = juint(o, "recv_ns"), .send_ns = juint(o, "send_ns"),
			     .cpu_ns = juint(o, "cpu_ns") };

	copy(r.svc, sizeof(r.svc), svc);
	copy(r.model, sizeof(r.model), jstr(o, "model"));
	copy(r.id, sizeof(r.id), id);
	copy(r.client, sizeof(r.client), jstr(o, "client"));
	copy(r.local, sizeof(r.local), jstr(o, "local"));
	if (!r.io_tid)
		r.io_tid = r.tid;
	if (json_object_object_get_ex(o, "io_tids", &calls) &&
	    json_object_is_type(calls, json_type_array)) {
		size_t n = json_object_array_length(calls);

		for (size_t i = 0; i < n && r.n_io_tids < 4; i++)
			r.io_tids[r.n_io_tids++] =
				json_object_get_int(json_object_array_get_idx(calls, i));
	}
	if (json_object_object_get_ex(o, "calls", &calls) &&
	    json_object_is_type(calls, json_type_array)) {
		size_t n = json_object_array_length(calls);

		for (size_t i = 0; i < n && r.n_calls < MAX_CALLS; i++) {
			struct json_object *c = json_object_array_get_idx(calls, i);
			struct call *k = &r.calls[r.n_calls++];

			copy(k->peer, sizeof(k->peer), jstr(c, "peer"));
			copy(k->local, sizeof(k->local), jstr(c, "local"));
			k->tid = (int)jint(c, "tid");
			k->recv_tid = (int)jint(c, "recv_tid");
			k->oneway = jint(c, "oneway") != 0;
			k->start_ns = juint(c, "start_ns");
			k->end_ns = juint(c, "end_ns");
		}
	}
	/* nginx: "$upstream_addr" may list several tries ("a, b"); the last served. */
	const char *up = jstr(o, "upstream");

	if (up && *up && *up != '-' && r.n_calls < MAX_CALLS) {
		const char *last = strrchr(up, ' ');
		struct call *k = &r.calls[r.n_calls++];

		memset(k, 0, sizeof(*k));
		copy(k->peer, sizeof(k->peer), last ? last + 1 : up);
	}
	VEC_PUSH(svcs, r);
}

typedef void (*line_fn)(struct json_object *o, const char *path, int line);

static void read_jsonl(const char *path, line_fn fn)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0;

	if (!f) {
		fprintf(stderr, "krt_score: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	while (getline(&line, &cap, f) > 0) {
		struct json_object *o;
		enum json_tokener_error jerr;

		lineno++;
		if (line[strspn(line, " \t\r\n")] == 0)
			continue;
		o = json_tokener_parse_verbose(line, &jerr);
		if (!o || !json_object_is_type(o, json_type_object)) {
			fprintf(stderr, "krt_score: %s:%d: not a JSON object (%s)\n", path, lineno,
				o ? "wrong type" : json_tokener_error_desc(jerr));
			exit(2);
		}
		fn(o, path, lineno);
		json_object_put(o);
	}
	free(line);
	fclose(f);
}

static void load_truth(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "krt_score: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	if (S_ISDIR(st.st_mode)) {
		struct dirent **ents;
		int n = scandir(path, &ents, NULL, alphasort);

		if (n < 0) {
			fprintf(stderr, "krt_score: %s: %s\n", path, strerror(errno));
			exit(2);
		}
		for (int i = 0; i < n; i++) {
			size_t l = strlen(ents[i]->d_name);
			char full[4096];

			if (l > 6 && !strcmp(ents[i]->d_name + l - 6, ".jsonl")) {
				snprintf(full, sizeof(full), "%s/%s", path, ents[i]->d_name);
				read_jsonl(full, parse_truth_obj);
			}
			free(ents[i]);
		}
		free(ents);
	} else {
		read_jsonl(path, parse_truth_obj);
	}
}

static void hop_node(char *out, size_t len, struct json_object *h, const char *tid_key,
		     const char *addr_key)
{
	int64_t tid = jint(h, tid_key);
	const char *addr = jstr(h, addr_key);

	if (tid)
		snprintf(out, len, "t:%lld", (long long)tid);
	else
		addr_node(out, len, addr ? addr : "?");
}

/* "uncertain": a reason string (or true) on a trace or a hop; false/absent = sure. */
static bool uncertain_of(struct json_object *o, char *reason, size_t len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, "uncertain", &v) || !v)
		return false;
	if (json_object_is_type(v, json_type_string)) {
		if (reason && !*reason)
			copy(reason, len, json_object_get_string(v));
		return true;
	}
	if (json_object_get_boolean(v)) {
		if (reason && !*reason)
			copy(reason, len, "yes");
		return true;
	}
	return false;
}

static void parse_trace_obj(struct json_object *o, const char *path, int line)
{
	struct json_object *ingress, *hops, *threads;
	struct trace t = { 0 };

	if (json_object_object_get_ex(o, "summary", &hops))
		return;
	if (!json_object_object_get_ex(o, "ingress", &ingress) ||
	    !json_object_object_get_ex(o, "hops", &hops) ||
	    !json_object_is_type(hops, json_type_array)) {
		fprintf(stderr, "krt_score: %s:%d: trace without ingress or hops\n", path, line);
		exit(2);
	}
	t.id = juint(o, "trace_id");
	copy(t.client, sizeof(t.client), jstr(ingress, "client"));
	copy(t.server, sizeof(t.server), jstr(ingress, "server"));
	t.ingress_ns = juint(ingress, "ts_ns");
	t.uncertain = uncertain_of(o, t.reason, sizeof(t.reason));
	if (json_object_object_get_ex(o, "incomplete", &threads) &&
	    json_object_is_type(threads, json_type_array) && json_object_array_length(threads))
		snprintf(t.incomplete, sizeof(t.incomplete), "incomplete: %s",
			 json_object_get_string(json_object_array_get_idx(threads, 0)));
	if (json_object_object_get_ex(o, "threads", &threads) &&
	    json_object_is_type(threads, json_type_array)) {
		t.n_threads = (int)json_object_array_length(threads);
		t.thread_tid = calloc((size_t)t.n_threads + 1, sizeof(*t.thread_tid));
		t.thread_cpu = calloc((size_t)t.n_threads + 1, sizeof(*t.thread_cpu));
		if (!t.thread_tid || !t.thread_cpu) {
			fprintf(stderr, "krt_score: out of memory\n");
			exit(2);
		}
		for (int i = 0; i < t.n_threads; i++) {
			struct json_object *th = json_object_array_get_idx(threads, (size_t)i);

			t.thread_tid[i] = (uint32_t)jint(th, "tid");
			t.thread_cpu[i] = juint(th, "cpu_ns");
		}
	}
	t.n_hops = (int)json_object_array_length(hops);
	t.hops = calloc((size_t)t.n_hops + 1, sizeof(*t.hops));
	if (!t.hops) {
		fprintf(stderr, "krt_score: out of memory\n");
		exit(2);
	}
	for (int i = 0; i < t.n_hops; i++) {
		struct json_object *h = json_object_array_get_idx(hops, (size_t)i);

		hop_node(t.hops[i].from, NODE_LEN, h, "from", "from_addr");
		hop_node(t.hops[i].to, NODE_LEN, h, "to", "to_addr");
		copy(t.hops[i].from_addr, sizeof(t.hops[i].from_addr), jstr(h, "from_addr"));
		copy(t.hops[i].to_addr, sizeof(t.hops[i].to_addr), jstr(h, "to_addr"));
		if (uncertain_of(h, t.reason, sizeof(t.reason)))
			t.uncertain = true;
		t.hops[i].send_ns = juint(h, "send_ns");
		t.hops[i].recv_ns = juint(h, "recv_ns");
	}
	VEC_PUSH(traces, t);
}

static int edge_find(const struct edge_set *s, const char *from, const char *to)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->from[i], from) && !strcmp(s->to[i], to))
			return i;
	return -1;
}

/* Adds an edge (once); lo..hi != 0 adds a call window (on connection a-b) to it. */
static void edge_add_win(struct edge_set *s, const char *from, const char *to, uint64_t lo,
			 uint64_t hi, const char *a, const char *b, bool oneway)
{
	int i = edge_find(s, from, to);

	if (i < 0) {
		if (s->n == MAX_EDGES)
			return;
		i = s->n++;
		copy(s->from[i], NODE_LEN, from);
		copy(s->to[i], NODE_LEN, to);
		s->n_win[i] = 0;
	}
	if (lo && hi >= lo && s->n_win[i] < MAX_WINDOWS) {
		int w = s->n_win[i]++;

		s->win_lo[i][w] = lo;
		s->win_hi[i][w] = hi;
		s->win_oneway[i][w] = oneway;
		/* both ends known, or the connection is not checked */
		copy(s->win_a[i][w], sizeof(s->win_a[i][w]), a && *a && b && *b ? a : "");
		copy(s->win_b[i][w], sizeof(s->win_b[i][w]), a && *a && b && *b ? b : "");
	}
}

static bool edge_has(const struct edge_set *s, const char *from, const char *to)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->from[i], from) && !strcmp(s->to[i], to))
			return true;
	return false;
}

/* The service record of request id that received on local (from client, if known). */
static int svc_cmp(const void *a, const void *b)
{
	return strcmp(((const struct svc_rec *)a)->id, ((const struct svc_rec *)b)->id);
}

/* svcs is sorted by id: the index of the first record of this id. */
static size_t first_svc(const char *id)
{
	size_t a = 0, b = svcs.n;

	while (a < b) {
		size_t m = a + (b - a) / 2;

		if (strcmp(svcs.v[m].id, id) < 0)
			a = m + 1;
		else
			b = m;
	}
	return a;
}

static const struct svc_rec *find_svc(const char *id, const char *local, const char *client)
{
	const struct svc_rec *best = NULL;

	for (size_t i = first_svc(id); i < svcs.n && !strcmp(svcs.v[i].id, id); i++) {
		const struct svc_rec *r = &svcs.v[i];

		if (strcmp(r->local, local))
			continue;
		if (client && *client && *r->client && !strcmp(r->client, client))
			return r;
		if (!best)
			best = r;
	}
	return best;
}

static const struct node_rec *find_node(const char *addr)
{
	for (size_t i = 0; i < nodes.n; i++)
		if (!strcmp(nodes.v[i].addr, addr))
			return &nodes.v[i];
	return NULL;
}

static void expand(const struct svc_rec *x, const char *id, struct edge_set *s, char *path,
		   size_t plen, int depth)
{
	if (depth > MAX_DEPTH)
		return;
	for (int i = 0; i < x->n_calls; i++) {
		const struct call *c = &x->calls[i];
		const struct svc_rec *y = find_svc(id, c->peer, c->local);
		const struct node_rec *nd;
		char caller[NODE_LEN], caller_in[NODE_LEN], callee_in[NODE_LEN], callee_out[NODE_LEN];

		snprintf(caller, sizeof(caller), "t:%d", c->tid ? c->tid : x->tid);
		if (c->recv_tid)
			snprintf(caller_in, sizeof(caller_in), "t:%d", c->recv_tid);
		else
			copy(caller_in, sizeof(caller_in), caller);
		if (y) {
			snprintf(callee_in, sizeof(callee_in), "t:%d", y->io_tid);
			snprintf(callee_out, sizeof(callee_out), "t:%d", y->tid);
		} else if ((nd = find_node(c->peer))) {
			snprintf(callee_in, sizeof(callee_in), "t:%d", nd->tid);
			copy(callee_out, sizeof(callee_out), callee_in);
		} else {
			addr_node(callee_in, sizeof(callee_in), c->peer);
			copy(callee_out, sizeof(callee_out), callee_in);
		}
		edge_add_win(s, caller, callee_in, c->start_ns, c->end_ns, c->local, c->peer,
			     c->oneway);
		if (!c->oneway)
			edge_add_win(s, callee_out, caller_in, c->start_ns, c->end_ns, c->local,
				     c->peer, false);
		if (y) {
			if (!strstr(path, y->svc) && strlen(path) + strlen(y->svc) + 2 < plen) {
				strcat(path, ">");
				strcat(path, y->svc);
			}
			expand(y, id, s, path, plen, depth + 1);
		} else if (nd && !strstr(path, nd->name) && strlen(path) + strlen(nd->name) + 2 < plen) {
			strcat(path, ">");
			strcat(path, nd->name);
		}
	}
}

struct model_stat {
	char name[128];
	long requests, exact, wrong, missing, no_truth;
	long uncertain, uncertain_right;	/* flagged; of them, right all the same */
	long unsampled;				/* --sampled: no trace, not judged */
	/* on-CPU time: truth (services' thread CPU clocks) against the traces */
	long cpu_threads, cpu_absent;
	uint64_t cpu_truth, cpu_trace;
	double *cpu_err;	/* |trace - truth| per (request, thread), µs */
	size_t n_err, cap_err;
};

static VEC(struct model_stat) stats;

/* --min-model NAME=PCT: a model (label starting with NAME) with its own floor. */
struct model_min {
	const char *prefix;
	size_t len;
	double pct;
};
static struct model_min model_mins[16];
static int n_model_mins;

static double min_for(const char *model, double dflt)
{
	for (int i = n_model_mins - 1; i >= 0; i--)
		if (!strncmp(model, model_mins[i].prefix, model_mins[i].len))
			return model_mins[i].pct;
	return dflt;
}

static struct model_stat *model_stat(const char *name)
{
	struct model_stat m = { 0 };

	for (size_t i = 0; i < stats.n; i++)
		if (!strcmp(stats.v[i].name, name))
			return &stats.v[i];
	copy(m.name, sizeof(m.name), name);
	VEC_PUSH(stats, m);
	return &stats.v[stats.n - 1];
}

static void print_edges(const char *what, const struct edge_set *s)
{
	fprintf(stderr, "    %s:", what);
	for (int i = 0; i < s->n; i++)
		fprintf(stderr, " %s>%s", s->from[i], s->to[i]);
	fputc('\n', stderr);
}

static int trace_cmp(const void *a, const void *b)
{
	const struct trace *x = a, *y = b;
	int c = strcmp(x->client, y->client);

	if (c)
		return c;
	if (x->ingress_ns != y->ingress_ns)
		return x->ingress_ns < y->ingress_ns ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Index of the first trace with this client and ingress_ns >= lo (binary search). */
static size_t first_trace_at(const char *client, uint64_t lo)
{
	size_t a = 0, b = traces.n;

	while (a < b) {
		size_t m = a + (b - a) / 2;
		int c = strcmp(traces.v[m].client, client);

		if (c < 0 || (c == 0 && traces.v[m].ingress_ns < lo))
			a = m + 1;
		else
			b = m;
	}
	return a;
}

/* A node as a hop end in the --json schema: tid, or 0 and an address. */
static void emit_node(const char *node, const char *key)
{
	if (node[0] == 't')
		fprintf(emit, "\"%s\":%s,\"%s_addr\":\"\"", key, node + 2, key);
	else
		fprintf(emit, "\"%s\":0,\"%s_addr\":\"%s:0\"", key, key, node + 2);
}

/* The trace a perfect tracer would print for this request (scorer self-test). */
static void emit_ideal(const struct client_rec *c, const struct svc_rec *entry,
		       const struct edge_set *want)
{
	static unsigned long long next_id = 1;
	uint64_t ts = entry->recv_ns ? entry->recv_ns : c->start_ns + 1;

	fprintf(emit,
		"{\"trace_id\":%llu,\"ingress\":{\"client\":\"%s\",\"server\":\"%s\",\"tid\":%d,"
		"\"ts_ns\":%llu},\"start_ns\":%llu,\"end_ns\":%llu,\"threads\":[],\"hops\":[",
		next_id++, c->local, c->peer, entry->io_tid, (unsigned long long)ts,
		(unsigned long long)ts, (unsigned long long)c->end_ns);
	for (int i = 0; i < want->n; i++) {
		fprintf(emit, "%s{", i ? "," : "");
		emit_node(want->from[i], "from");
		fputc(',', emit);
		emit_node(want->to[i], "to");
		/* inside the edge's first call window, else (edges 0, 1: the request's
		 * own connection) at the ingress time */
		uint64_t at = i >= 2 && want->n_win[i] ? want->win_lo[i][0] : ts;

		fprintf(emit, ",\"bytes\":1,\"send_ns\":%llu,\"recv_ns\":%llu}",
			(unsigned long long)at, (unsigned long long)at);
	}
	fprintf(emit, "]}\n");
}

/* Each service record with a CPU figure against the trace's time for that thread. */
static void compare_cpu(struct model_stat *ms, const char *id, const struct trace *t)
{
	for (size_t i = first_svc(id); i < svcs.n && !strcmp(svcs.v[i].id, id); i++) {
		const struct svc_rec *r = &svcs.v[i];
		int k;

		if (!r->cpu_ns)
			continue;
		for (k = 0; k < t->n_threads; k++)
			if (t->thread_tid[k] == (uint32_t)r->tid)
				break;
		ms->cpu_threads++;
		if (k == t->n_threads) {
			ms->cpu_absent++;
			continue;
		}
		ms->cpu_truth += r->cpu_ns;
		ms->cpu_trace += t->thread_cpu[k];
		if (ms->n_err == ms->cap_err) {
			ms->cap_err = ms->cap_err ? ms->cap_err * 2 : 256;
			ms->cpu_err = realloc(ms->cpu_err, ms->cap_err * sizeof(*ms->cpu_err));
			if (!ms->cpu_err) {
				fprintf(stderr, "krt_score: out of memory\n");
				exit(2);
			}
		}
		ms->cpu_err[ms->n_err++] =
			fabs((double)t->thread_cpu[k] - (double)r->cpu_ns) / 1000.0;
	}
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static bool in_range(uint64_t t, uint64_t lo, uint64_t hi)
{
	return !t || (t >= lo && t <= hi);
}

/* Is a hop's connection the one of window w (either direction; unknown ends pass)? */
static bool hop_on_conn(const struct edge_set *want, int e, int w, const struct hop *h)
{
	const char *a = want->win_a[e][w], *b = want->win_b[e][w];

	if (!*a || !*h->from_addr || !*h->to_addr)
		return true;
	return (!strcmp(h->from_addr, a) && !strcmp(h->to_addr, b)) ||
	       (!strcmp(h->from_addr, b) && !strcmp(h->to_addr, a));
}

/*
 * A hop belongs to the request when its times lie inside the request's window
 * and, on an edge of a downstream call, inside one of that call's windows on
 * that call's connection. A one-way call's hop is judged by its send: nobody
 * waits for its receiver, who may read it after the request has ended.
 */
static bool hop_in_window(const struct edge_set *want, const struct hop *h, uint64_t lo,
			  uint64_t hi)
{
	int e = edge_find(want, h->from, h->to);
	bool send_in = in_range(h->send_ns, lo, hi), recv_in = in_range(h->recv_ns, lo, hi);

	if (e < 0 || !want->n_win[e])
		return send_in && recv_in;
	if (!send_in)
		return false;
	for (int w = 0; w < want->n_win[e]; w++) {
		uint64_t wlo = want->win_lo[e][w] > slack_ns ? want->win_lo[e][w] - slack_ns : 0;
		uint64_t whi = want->win_hi[e][w] + slack_ns;

		if (!in_range(h->send_ns, wlo, whi) || !hop_on_conn(want, e, w, h))
			continue;
		if (want->win_oneway[e][w] ? !h->recv_ns || h->recv_ns >= wlo
					   : recv_in && in_range(h->recv_ns, wlo, whi))
			return true;
	}
	return false;
}

static void score_request(const struct client_rec *c, const char *model_override)
{
	struct edge_set want = { 0 }, got = { 0 };
	char path[128], gw[NODE_LEN], entry_in[NODE_LEN], entry_out[NODE_LEN];
	const struct svc_rec *entry = find_svc(c->id, c->peer, c->local);
	struct trace *t = NULL;
	struct model_stat *ms;
	uint64_t lo = c->start_ns > slack_ns ? c->start_ns - slack_ns : 0;
	uint64_t hi = c->end_ns + slack_ns;
	int outside = 0, extra = 0, absent = 0, candidates = 0;

	if (!entry) {
		ms = model_stat(model_override ? model_override : "?");
		ms->requests++;
		ms->no_truth++;
		ms->missing++;
		if (verbose)
			fprintf(stderr, "%s: no service record received it at %s\n", c->id, c->peer);
		return;
	}
	copy(path, sizeof(path), entry->svc);
	addr_node(gw, sizeof(gw), c->local);
	snprintf(entry_in, sizeof(entry_in), "t:%d", entry->io_tid);
	snprintf(entry_out, sizeof(entry_out), "t:%d", entry->tid);
	/* the request's own connection, over its whole window */
	edge_add_win(&want, gw, entry_in, lo ? lo : 1, hi, c->local, c->peer, false);
	edge_add_win(&want, entry_out, gw, lo ? lo : 1, hi, c->local, c->peer, false);
	/* other threads that read bytes of the request (Go's background reader) */
	for (int i = 0; i < entry->n_io_tids; i++) {
		char other[NODE_LEN];

		snprintf(other, sizeof(other), "t:%d", entry->io_tids[i]);
		if (edge_find(&want, gw, other) >= 0)
			continue;
		edge_add_win(&want, gw, other, lo ? lo : 1, hi, c->local, c->peer, false);
		want.optional[edge_find(&want, gw, other)] = true;
	}
	expand(entry, c->id, &want, path, sizeof(path), 0);
	ms = model_stat(model_override ? model_override : path);
	ms->requests++;
	if (emit) {
		emit_ideal(c, entry, &want);
		return;
	}

	/* traces are sorted by (client, ingress time): find the first in the window */
	for (size_t i = first_trace_at(c->local, lo); i < traces.n; i++) {
		struct trace *x = &traces.v[i];

		/*
		 * The request arrived before its reply did: a trace that starts
		 * after the request's end is the next request's on the same
		 * keep-alive connection (2 µs: import times are truncated).
		 */
		if (strcmp(x->client, c->local) || x->ingress_ns > c->end_ns + 2000)
			break;
		/*
		 * The same client port may be in use towards two servers at
		 * once (the test bed loads every model together): not ours.
		 */
		if (x->server[0] && c->peer[0] && strcmp(x->server, c->peer))
			continue;
		candidates++;
		if (!t)
			t = x;
	}
	if (!t && sampled) {
		ms->requests--;
		ms->unsampled++;
		return;
	}
	if (!t) {
		ms->missing++;
		if (verbose)
			fprintf(stderr, "%s: missing (no trace from %s in its window)\n", c->id,
				c->local);
		return;
	}
	t->used = true;
	compare_cpu(ms, c->id, t);
	for (int i = 0; i < t->n_hops; i++) {
		const struct hop *h = &t->hops[i];

		edge_add_win(&got, h->from, h->to, 0, 0, NULL, NULL, false);
		if (!hop_in_window(&want, h, lo, hi))
			outside++;
	}
	for (int i = 0; i < got.n; i++)
		if (!edge_has(&want, got.from[i], got.to[i]))
			extra++;
	for (int i = 0; i < want.n; i++)
		if (!want.optional[i] && !edge_has(&got, want.from[i], want.to[i]))
			absent++;
	if (!t->uncertain && *t->incomplete && (extra || outside || absent)) {
		t->uncertain = true;
		copy(t->reason, sizeof(t->reason), t->incomplete);
	}
	if (t->uncertain) {
		ms->uncertain++;
		ms->uncertain_right += !extra && !outside && !absent;
		if (verbose > 1 || (verbose && (extra || outside || absent)))
			fprintf(stderr, "%s: uncertain (%s), %s\n", c->id, t->reason,
				!extra && !outside && !absent ? "right" : "not right");
		return;
	}
	if (!extra && !outside && !absent) {
		ms->exact++;
		return;
	}
	if (extra || outside)
		ms->wrong++;
	else
		ms->missing++;
	if (verbose) {
		fprintf(stderr, "%s: %s (trace %llu: %d extra edges, %d absent, %d hops outside "
			"its window or connection, %d candidate traces)\n",
			c->id, extra || outside ? "wrong" : "missing", (unsigned long long)t->id,
			extra, absent, outside, candidates);
		print_edges("want", &want);
		print_edges("got ", &got);
		for (int i = 0; i < t->n_hops; i++) {
			const struct hop *h = &t->hops[i];

			if (!hop_in_window(&want, h, lo, hi))
				fprintf(stderr,
					"    outside: %s>%s %s>%s send %+.3f ms recv %+.3f ms (request 0 .. %.3f ms, or not in its call)\n",
					h->from, h->to, h->from_addr, h->to_addr,
					h->send_ns ? ((double)h->send_ns - (double)c->start_ns) / 1e6 : 0.0,
					h->recv_ns ? ((double)h->recv_ns - (double)c->start_ns) / 1e6 : 0.0,
					(double)(c->end_ns - c->start_ns) / 1e6);
		}
	}
}

/*
 * On-CPU time per thread and request: the services measure their own thread
 * CPU clock from the request's arrival to the reply; the trace charges
 * sched_switch intervals. Reported, not asserted (--min is about flows).
 */
static void print_cpu_table(const char *pathname)
{
	bool any = false;

	for (size_t i = 0; i < stats.n; i++)
		any |= stats.v[i].cpu_threads > 0;
	if (!any)
		return;
	printf("%-28s %-8s %8s %8s %10s %10s %7s %9s %9s\n", "cpu: model", "path", "threads",
	       "absent", "truth ms", "trace ms", "ratio", "med |d|us", "p90 |d|us");
	for (size_t i = 0; i < stats.n; i++) {
		struct model_stat *m = &stats.v[i];
		double med = 0, p90 = 0;

		if (!m->cpu_threads)
			continue;
		if (m->n_err) {
			qsort(m->cpu_err, m->n_err, sizeof(*m->cpu_err), dbl_cmp);
			med = m->cpu_err[m->n_err / 2];
			p90 = m->cpu_err[(m->n_err * 9) / 10];
		}
		printf("%-28s %-8s %8ld %8ld %10.3f %10.3f %7.2f %9.1f %9.1f\n", m->name, pathname,
		       m->cpu_threads, m->cpu_absent, (double)m->cpu_truth / 1e6,
		       (double)m->cpu_trace / 1e6,
		       m->cpu_truth ? (double)m->cpu_trace / (double)m->cpu_truth : 0.0, med, p90);
	}
}

static void usage(int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: krt_score --truth DIR_OR_FILE [--truth ...] --json KRTRACE.jsonl\n"
		"                 [--model NAME] [--path NAME] [--min PCT] [--prefix ID_PREFIX]\n"
		"                 [--min-model NAME=PCT]... [--max-wrong PCT] [--sampled]\n"
		"                 [--slack-us US] [-v]\n"
		"       krt_score --truth DIR_OR_FILE --emit-truth   (ideal traces, self-test)\n"
		"Scores each ground-truth request (client records of krt_load) against the\n"
		"trace KRTrace made of it: exact (edge set equal, every hop inside the\n"
		"request's window, on its call's connection), uncertain (the trace says so),\n"
		"wrong (stitched to another request) or missing. --sampled: judge only the\n"
		"requests that have a trace (krtrace-bpf --sample N) and print their share.\n"
		"Prints a table per model and path; exits 1 when a model is below --min %%\n"
		"(or its own --min-model floor; NAME matches the start of the model label)\n"
		"or above --max-wrong %% wrong.\n"
		"example: krt_score --truth tests/fixtures/chain/truth.jsonl --json out.jsonl --min 100\n");
	exit(rc);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "truth", required_argument, NULL, 't' },
		{ "json", required_argument, NULL, 'j' },
		{ "model", required_argument, NULL, 'm' },
		{ "path", required_argument, NULL, 'p' },
		{ "min", required_argument, NULL, 'n' },
		{ "prefix", required_argument, NULL, 'x' },
		{ "slack-us", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "emit-truth", no_argument, NULL, 'E' },
		{ "min-model", required_argument, NULL, 'M' },
		{ "max-wrong", required_argument, NULL, 'W' },
		{ "sampled", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *truths[32], *json = NULL, *model = NULL, *pathname = "import";
	double min_pct = 0, max_wrong = 100;
	int n_truths = 0, opt, rc = 0;
	long total = 0, total_exact = 0, unused = 0, unsampled = 0;

	while ((opt = getopt_long(argc, argv, "t:j:m:p:n:x:s:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 't':
			if (n_truths == 32)
				usage(2);
			truths[n_truths++] = optarg;
			break;
		case 'j': json = optarg; break;
		case 'm': model = optarg; break;
		case 'p': pathname = optarg; break;
		case 'n': min_pct = atof(optarg); break;
		case 'x': prefix = optarg; break;
		case 's': slack_ns = (uint64_t)atol(optarg) * 1000; break;
		case 'v': verbose++; break;
		case 'E': emit = stdout; break;
		case 'W': max_wrong = atof(optarg); break;
		case 'S': sampled = true; break;
		case 'M': {
			char *eq = strchr(optarg, '=');

			if (!eq || eq == optarg || n_model_mins == 16)
				usage(2);
			model_mins[n_model_mins].prefix = optarg;
			model_mins[n_model_mins].len = (size_t)(eq - optarg);
			model_mins[n_model_mins++].pct = atof(eq + 1);
			break;
		}
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (!n_truths || (!json && !emit) || optind != argc)
		usage(2);
	for (int i = 0; i < n_truths; i++)
		load_truth(truths[i]);
	if (json)
		read_jsonl(json, parse_trace_obj);
	if (!clients.n) {
		fprintf(stderr, "krt_score: no client records (svc \"client\") in the truth\n");
		return 2;
	}
	if (traces.n)
		qsort(traces.v, traces.n, sizeof(*traces.v), trace_cmp);
	if (svcs.n)
		qsort(svcs.v, svcs.n, sizeof(*svcs.v), svc_cmp);
	for (size_t i = 0; i < clients.n; i++)
		score_request(&clients.v[i], model);
	if (emit)
		return 0;
	for (size_t i = 0; i < traces.n; i++)
		unused += !traces.v[i].used;

	/*
	 * One row per model; the percentages are of the judged requests. "unc_ok":
	 * uncertain traces that were right all the same. "sampled%": with
	 * --sampled, the share of requests that had a trace (the judged ones).
	 */
	printf("%-28s %-8s %8s %8s %8s %8s %8s %8s %8s %7s %7s %8s\n", "model", "path",
	       "requests", "exact", "wrong", "missing", "exact%", "uncert", "unc_ok", "unc%",
	       "wrong%", "sampled%");
	for (size_t i = 0; i < stats.n; i++) {
		const struct model_stat *m = &stats.v[i];
		double den = m->requests ? (double)m->requests : 1;
		double pct = 100.0 * (double)m->exact / den;
		double wrong = 100.0 * (double)m->wrong / den;
		long all = m->requests + m->unsampled;

		printf("%-28s %-8s %8ld %8ld %8ld %8ld %8.1f %8ld %8ld %7.1f %7.1f %8.1f\n", m->name,
		       pathname, m->requests, m->exact, m->wrong, m->missing, pct, m->uncertain,
		       m->uncertain_right, 100.0 * (double)m->uncertain / den, wrong,
		       all ? 100.0 * (double)m->requests / (double)all : 0.0);
		if (pct < min_for(m->name, min_pct)) {
			fprintf(stderr, "krt_score: %s: %.1f%% exact, below %.1f%%\n", m->name, pct,
				min_for(m->name, min_pct));
			rc = 1;
		}
		if (wrong > max_wrong) {
			fprintf(stderr, "krt_score: %s: %.1f%% wrong, above %.1f%%\n", m->name, wrong,
				max_wrong);
			rc = 1;
		}
		total += m->requests;
		total_exact += m->exact;
		unsampled += m->unsampled;
	}
	printf("# %ld requests, %ld exact, %zu traces, %ld traces matched to no request\n", total,
	       total_exact, traces.n, unused);
	if (sampled)
		printf("# %ld requests not sampled (no trace in their window), not scored\n",
		       unsampled);
	print_cpu_table(pathname);
	return rc;
}
