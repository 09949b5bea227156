/*
 * OTLP/JSON (--otlp FILE, --otlp-endpoint URL): the OpenTelemetry file
 * exporter format, one TracesData object per line and per trace, and the
 * same spans POSTed to a collector's /v1/traces.
 *
 * Span model: one span per (thread, trace) segment, from the thread's first
 * to its last activity on the trace. Resources group the spans by container
 * (service.name). The thread that received the request is the root span
 * (kind SERVER); every other thread's parent is the thread that first sent
 * it bytes of this trace (hops in order, so the tree follows the request);
 * a thread reached by no hop hangs under the root. A non-root thread that
 * passes the request on downstream is a CLIENT span, the others SERVER.
 *
 * Ids: traceId = 8 random bytes per run + the 64-bit traceID, so runs never
 * collide and a trace keeps one id; spanId = a hash of (run, trace, tid),
 * never zero. Times: the engine's CLOCK_MONOTONIC nanoseconds plus the
 * REALTIME - MONOTONIC offset measured when the writer starts.
 *
 * POSTs are batched (up to BATCH_TRACES traces or BATCH_BYTES per request)
 * so a slow collector costs one round trip per batch, retried briefly; a
 * failure is reported on stderr and never touches the file output.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "addr.h"
#include "http_post.h"
#include "json_out.h"
#include "writer_util.h"

#define BATCH_TRACES 64
#define BATCH_BYTES (1u << 20)
#define POST_TRIES 3
#define POST_TIMEOUT_MS 2000
#define GIVE_UP_AFTER 3		/* consecutive failed batches: stop posting */

#define MAX_SPAN_EVENTS 128	/* hop events per span; the rest are counted */

#define SPAN_KIND_SERVER 2
#define SPAN_KIND_CLIENT 3

struct otlp_priv {
	char *endpoint;
	__u8 run_id[8];
	__u64 offset_ns;		/* REALTIME - MONOTONIC */
	char *batch;			/* comma-separated resourceSpans items */
	size_t batch_len, batch_cap, batch_traces;
	__u64 traces, posted_traces, unsent_traces;
	int failed_batches;		/* consecutive */
	bool gave_up;
};

static __u64 clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static __u64 mix64(__u64 x)
{
	/* splitmix64 finaliser: a cheap, well-spread hash of 64 bits. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static __u64 run_word(const struct otlp_priv *p)
{
	__u64 r;

	memcpy(&r, p->run_id, sizeof(r));
	return r;
}

static __u64 span_id(const struct otlp_priv *p, __u64 trace, __u32 tid)
{
	__u64 id = mix64(run_word(p) ^ mix64(trace ^ ((__u64)tid << 40) ^ tid));

	return id ? id : 1;
}

static void put_hex_id(struct krt_json *j, const char *key, __u64 hi, __u64 lo, bool two)
{
	char buf[40];

	if (two)
		snprintf(buf, sizeof(buf), "%016" PRIx64 "%016" PRIx64, (uint64_t)hi, (uint64_t)lo);
	else
		snprintf(buf, sizeof(buf), "%016" PRIx64, (uint64_t)lo);
	krt_json_kv_str(j, key, buf);
}

static void attr_str(struct krt_json *j, const char *key, const char *val)
{
	krt_json_obj_begin(j);
	krt_json_kv_str(j, "key", key);
	krt_json_key(j, "value");
	krt_json_obj_begin(j);
	krt_json_kv_str(j, "stringValue", val);
	krt_json_obj_end(j);
	krt_json_obj_end(j);
}

static void attr_int(struct krt_json *j, const char *key, __u64 val)
{
	krt_json_obj_begin(j);
	krt_json_kv_str(j, "key", key);
	krt_json_key(j, "value");
	krt_json_obj_begin(j);
	krt_json_key(j, "intValue");
	krt_json_u64_str(j, val);
	krt_json_obj_end(j);
	krt_json_obj_end(j);
}

struct span_plan {
	int parent;		/* index into t->threads, -1 = root */
	bool calls_down;	/* sends to a thread it is the parent of, or to a peer */
	__u64 bytes_in, bytes_out;
};

static size_t root_index(const struct krt_trace *t)
{
	const struct krt_thread_stat *th = krt_trace_thread(t, t->ingress.tid);

	return th ? (size_t)(th - t->threads) : 0;
}

/* Parents follow the hops in order, from the root: each thread is reached once. */
static void plan_spans(const struct krt_trace *t, struct span_plan *plan)
{
	size_t root = root_index(t), i;
	bool *reached = calloc(t->n_threads, sizeof(*reached));

	for (i = 0; i < t->n_threads; i++)
		plan[i] = (struct span_plan){ .parent = (int)root };
	plan[root].parent = -1;
	if (reached)
		reached[root] = true;
	for (i = 0; i < t->n_hops; i++) {
		const struct krt_hop *h = &t->hops[i];
		const struct krt_thread_stat *from = krt_trace_thread(t, h->from_tid);
		const struct krt_thread_stat *to = krt_trace_thread(t, h->to_tid);
		size_t fi = from ? (size_t)(from - t->threads) : 0;
		size_t ti = to ? (size_t)(to - t->threads) : 0;

		if (from && h->from_tid)
			plan[fi].bytes_out += h->bytes;
		if (to && h->to_tid)
			plan[ti].bytes_in += h->bytes;
		if (!from || !h->from_tid)
			continue;
		if (to && h->to_tid && reached && !reached[ti] && reached[fi]) {
			reached[ti] = true;
			plan[ti].parent = (int)fi;
			plan[fi].calls_down = true;
		} else if (!h->to_tid && fi != root &&
			   !krt_addr_eq(&h->to_addr, &t->ingress.client)) {
			/* A call to a peer outside the traced set (a database). */
			plan[fi].calls_down = true;
		}
	}
	free(reached);
}

/*
 * The thread's sends and receives of this trace as span events, so a trace
 * viewer shows when the bytes left and arrived and from or to whom.
 */
static void put_hop_events(struct otlp_priv *p, struct krt_json *j, const struct krt_trace *t,
			   __u32 tid)
{
	char peer[KRT_NODE_NAME_LEN];
	size_t i, n = 0, dropped = 0;

	krt_json_key(j, "events");
	krt_json_arr_begin(j);
	for (i = 0; i < t->n_hops; i++) {
		const struct krt_hop *h = &t->hops[i];
		bool out = h->from_tid == tid, in = h->to_tid == tid;
		__u64 ts;

		if (!out && !in)
			continue;
		ts = out ? h->send_ns : h->recv_ns;
		if (!ts)
			ts = krt_hop_ts(h);
		if (n == MAX_SPAN_EVENTS) {
			dropped++;
			continue;
		}
		n++;
		krt_json_obj_begin(j);
		krt_json_key(j, "timeUnixNano");
		krt_json_u64_str(j, ts + p->offset_ns);
		krt_json_kv_str(j, "name", out ? "send" : "recv");
		krt_json_key(j, "attributes");
		krt_json_arr_begin(j);
		if (out)
			krt_node_name(t, h->to_tid, &h->to_addr, peer, sizeof(peer));
		else
			krt_node_name(t, h->from_tid, &h->from_addr, peer, sizeof(peer));
		attr_str(j, "krtrace.peer", peer);
		attr_int(j, "krtrace.bytes", h->bytes);
		krt_json_arr_end(j);
		krt_json_obj_end(j);
	}
	krt_json_arr_end(j);
	if (dropped) {
		krt_json_key(j, "droppedEventsCount");
		krt_json_u64(j, dropped);
	}
}

static void put_span(struct otlp_priv *p, struct krt_json *j, const struct krt_trace *t,
		     const struct span_plan *plan, size_t i)
{
	const struct krt_thread_stat *th = &t->threads[i];
	char comm[KRT_COMM_LEN + 1], name[KRT_COMM_LEN + 16];
	__u64 start = th->first_ns + p->offset_ns;
	__u64 end = (th->last_ns > th->first_ns ? th->last_ns : th->first_ns) + p->offset_ns;
	int kind = plan[i].parent < 0 || !plan[i].calls_down ? SPAN_KIND_SERVER : SPAN_KIND_CLIENT;

	memcpy(comm, th->comm, KRT_COMM_LEN);
	comm[KRT_COMM_LEN] = '\0';
	snprintf(name, sizeof(name), "%s[%u]", comm, th->tid);
	krt_json_obj_begin(j);
	put_hex_id(j, "traceId", run_word(p), t->id, true);
	put_hex_id(j, "spanId", 0, span_id(p, t->id, th->tid), false);
	if (plan[i].parent >= 0)
		put_hex_id(j, "parentSpanId", 0,
			   span_id(p, t->id, t->threads[plan[i].parent].tid), false);
	krt_json_kv_str(j, "name", name);
	krt_json_kv_u64(j, "kind", kind);
	krt_json_key(j, "startTimeUnixNano");
	krt_json_u64_str(j, start);
	krt_json_key(j, "endTimeUnixNano");
	krt_json_u64_str(j, end);
	krt_json_key(j, "attributes");
	krt_json_arr_begin(j);
	attr_int(j, "thread.id", th->tid);
	attr_str(j, "thread.name", comm);
	attr_int(j, "process.pid", th->pid);
	attr_str(j, "krtrace.comm", comm);
	attr_int(j, "krtrace.trace_id", t->id);
	attr_int(j, "krtrace.cpu_ns", th->cpu_ns);
	attr_int(j, "krtrace.runq_ns", th->runq_ns);
	attr_int(j, "krtrace.bytes_in", plan[i].bytes_in);
	attr_int(j, "krtrace.bytes_out", plan[i].bytes_out);
	krt_json_arr_end(j);
	put_hop_events(p, j, t, th->tid);
	krt_json_key(j, "status");
	krt_json_obj_begin(j);
	krt_json_obj_end(j);
	krt_json_obj_end(j);
}

static const char *container_of(const struct krt_thread_stat *th)
{
	return th->container && th->container[0] ? th->container : "unknown";
}

/* The resourceSpans items of one trace, one per container, without the enclosing array. */
static void put_resource_spans(struct otlp_priv *p, struct krt_json *j, const struct krt_trace *t,
			       const struct span_plan *plan)
{
	char run[20];
	size_t i, k;

	snprintf(run, sizeof(run), "%016" PRIx64, (uint64_t)run_word(p));
	for (i = 0; i < t->n_threads; i++) {
		const char *c = container_of(&t->threads[i]);

		/* One resource per container: handled at its first thread. */
		for (k = 0; k < i; k++)
			if (!strcmp(container_of(&t->threads[k]), c))
				break;
		if (k < i)
			continue;
		krt_json_obj_begin(j);
		krt_json_key(j, "resource");
		krt_json_obj_begin(j);
		krt_json_key(j, "attributes");
		krt_json_arr_begin(j);
		attr_str(j, "service.name", c);
		attr_str(j, "krtrace.run_id", run);
		krt_json_arr_end(j);
		krt_json_obj_end(j);
		krt_json_key(j, "scopeSpans");
		krt_json_arr_begin(j);
		krt_json_obj_begin(j);
		krt_json_key(j, "scope");
		krt_json_obj_begin(j);
		krt_json_kv_str(j, "name", "krtrace");
		krt_json_kv_str(j, "version", KRT_VERSION);
		krt_json_obj_end(j);
		krt_json_key(j, "spans");
		krt_json_arr_begin(j);
		for (k = i; k < t->n_threads; k++)
			if (!strcmp(container_of(&t->threads[k]), c))
				put_span(p, j, t, plan, k);
		krt_json_arr_end(j);
		krt_json_obj_end(j);
		krt_json_arr_end(j);
		krt_json_obj_end(j);
	}
}

static int post_batch(struct krt_writer *w)
{
	struct otlp_priv *p = w->priv;
	static const char head[] = "{\"resourceSpans\":[";
	char err[256] = "";
	char *body;
	size_t len;
	int try, status = -1;

	if (!p->batch_traces)
		return 0;
	if (p->gave_up) {
		p->unsent_traces += p->batch_traces;
		goto out;
	}
	len = strlen(head) + p->batch_len + 2;
	body = malloc(len + 1);
	if (!body) {
		p->unsent_traces += p->batch_traces;
		goto out;
	}
	snprintf(body, len + 1, "%s%.*s]}", head, (int)p->batch_len, p->batch);
	for (try = 0; try < POST_TRIES; try++) {
		__u64 t0;

		if (try)
			usleep(100000u << (try - 1));	/* 100 ms, then 200 ms */
		t0 = clock_ns(CLOCK_MONOTONIC);
		status = krt_http_post(p->endpoint, "application/json", body, len, POST_TIMEOUT_MS,
				       err, sizeof(err));
		if (status >= 200 && status <= 299)
			break;
		/* A 4xx will not get better by asking again. */
		if (status >= 400 && status <= 499)
			break;
		/*
		 * A collector that let the whole timeout pass is hung, not
		 * restarting: waiting again would stall the tracer (the live
		 * path drains its ring buffer on this thread).
		 */
		if (clock_ns(CLOCK_MONOTONIC) - t0 >= POST_TIMEOUT_MS * 900000ULL)
			break;
	}
	free(body);
	if (status >= 200 && status <= 299) {
		p->posted_traces += p->batch_traces;
		p->failed_batches = 0;
	} else {
		fprintf(stderr, "krtrace: OTLP endpoint %s: %s (%zu traces not sent)\n", p->endpoint,
			err, p->batch_traces);
		p->unsent_traces += p->batch_traces;
		if (++p->failed_batches >= GIVE_UP_AFTER) {
			fprintf(stderr, "krtrace: OTLP endpoint %s: giving up after %d failed "
				"requests; the file output is unaffected\n", p->endpoint,
				GIVE_UP_AFTER);
			p->gave_up = true;
		}
	}
out:
	p->batch_len = 0;
	p->batch_traces = 0;
	return 0;
}

static int batch_add(struct krt_writer *w, const char *items, size_t len)
{
	struct otlp_priv *p = w->priv;
	size_t need = p->batch_len + len + 1;

	if (need > p->batch_cap) {
		size_t cap = p->batch_cap ? p->batch_cap : 4096;
		char *b;

		while (cap < need)
			cap *= 2;
		b = realloc(p->batch, cap);
		if (!b) {
			p->unsent_traces++;
			return -1;
		}
		p->batch = b;
		p->batch_cap = cap;
	}
	if (p->batch_len)
		p->batch[p->batch_len++] = ',';
	memcpy(p->batch + p->batch_len, items, len);
	p->batch_len += len;
	p->batch_traces++;
	if (p->batch_traces >= BATCH_TRACES || p->batch_len >= BATCH_BYTES)
		post_batch(w);
	return 0;
}

static int otlp_trace(struct krt_writer *w, const struct krt_trace *t)
{
	struct otlp_priv *p = w->priv;
	struct span_plan *plan;
	struct krt_json j;
	char *items = NULL;
	size_t len = 0;
	FILE *mem;

	/* A trace without threads has no span to show. */
	if (!t->n_threads)
		return 0;
	plan = calloc(t->n_threads, sizeof(*plan));
	mem = open_memstream(&items, &len);
	if (!plan || !mem) {
		free(plan);
		if (mem)
			fclose(mem);
		free(items);
		return -1;
	}
	plan_spans(t, plan);
	krt_json_init(&j, mem);
	/* Inside the resourceSpans array: items only, commas placed by the emitter. */
	krt_json_arr_begin(&j);
	put_resource_spans(p, &j, t, plan);
	krt_json_arr_end(&j);
	fclose(mem);
	free(plan);
	p->traces++;
	if (w->out)
		fprintf(w->out, "{\"resourceSpans\":%s}\n", items);
	if (p->endpoint && len >= 2)
		batch_add(w, items + 1, len - 2);
	free(items);
	return 0;
}

static int otlp_finish(struct krt_writer *w, const struct krt_summary *s)
{
	struct otlp_priv *p = w->priv;
	int ret = 0;

	if (p->endpoint) {
		post_batch(w);
		/* The run's result is intact (files, main output): warn, do not fail. */
		if (p->unsent_traces)
			fprintf(stderr, "WARNING: OTLP endpoint %s: %" PRIu64 " of %" PRIu64
				" traces not delivered\n", p->endpoint, (uint64_t)p->unsent_traces,
				(uint64_t)p->traces);
	}
	if (w->out && (fflush(w->out) || ferror(w->out))) {
		fprintf(stderr, "krtrace: writing the OTLP file: %s\n", strerror(errno));
		ret = -1;
	}
	return ret;
}

static void otlp_destroy(struct krt_writer *w)
{
	struct otlp_priv *p = w->priv;

	free(p->endpoint);
	free(p->batch);
	free(p);
	krt_writer_free(w);
}

static const struct krt_writer_ops otlp_ops = {
	.name = "otlp",
	.trace = otlp_trace,
	.finish = otlp_finish,
	.destroy = otlp_destroy,
};

struct krt_writer *krt_writer_otlp_new(FILE *out, const char *endpoint)
{
	struct otlp_priv *p = calloc(1, sizeof(*p));
	struct krt_writer *w;
	__u64 fallback;

	if (!p)
		return NULL;
	if (endpoint && !(p->endpoint = strdup(endpoint))) {
		free(p);
		return NULL;
	}
	/* Random per run; without getrandom, time and pid still separate runs. */
	if (getrandom(p->run_id, sizeof(p->run_id), GRND_NONBLOCK) != sizeof(p->run_id)) {
		fallback = mix64(clock_ns(CLOCK_REALTIME) ^ ((__u64)getpid() << 32));
		memcpy(p->run_id, &fallback, sizeof(fallback));
	}
	p->run_id[0] |= 0x80;	/* never an all-zero traceId */
	p->offset_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	w = krt_writer_alloc(&otlp_ops, out, p);
	if (!w) {
		free(p->endpoint);
		free(p);
	}
	return w;
}
