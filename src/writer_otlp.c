/*
 * OTLP exporter (--otlp FILE, --otlp-endpoint URL): the OpenTelemetry file
 * exporter format (OTLP/JSON, one TracesData object per line and per trace)
 * and the same spans POSTed to a collector's /v1/traces, as OTLP/JSON or
 * protobuf (--otlp-protocol). The span model is otlp_spans.c; its two
 * spellings are otlp_json.c and otlp_proto.c. This file batches and posts.
 *
 * POSTs are batched (up to BATCH_TRACES traces, BATCH_BYTES or BATCH_AGE_NS
 * per request) and handed to the delivery thread (otlp_export.c): a slow,
 * down or hung collector never blocks the caller (the live ring reader).
 * Traces the queue could not take or the collector never acknowledged are
 * counted, and make the run exit non-zero; the file output is unaffected.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "otlp_encode.h"
#include "otlp_export.h"
#include "writer_util.h"

#define BATCH_TRACES 64
#define BATCH_BYTES (1u << 20)
/* at a trickle, a batch still leaves within a second of its first trace */
#define BATCH_AGE_NS 1000000000ULL

struct otlp_priv {
	char *endpoint;
	char *host;
	enum krt_otlp_protocol protocol;
	struct krt_otlp_run run;
	/* JSON: comma-separated resourceSpans items; protobuf: ResourceSpans fields */
	struct krt_buf batch;
	size_t batch_traces;
	__u64 batch_started_ns;
	struct krt_export *exp; /* delivery thread, NULL without an endpoint */
	__u64 traces;
	__u64 unqueued_traces; /* out of memory before the queue */
};

static __u64 clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* The request body of the batch: a TracesData in the writer's encoding. */
static void *batch_body(struct otlp_priv *p, size_t *len)
{
	static const char head[] = "{\"resourceSpans\":[", tail[] = "]}";
	char *body;

	if (p->protocol == KRT_OTLP_HTTP_PROTOBUF) {
		/* A TracesData is its repeated ResourceSpans field, nothing around it. */
		*len = p->batch.len;
		body = malloc(*len ? *len : 1);
		if (body)
			memcpy(body, p->batch.data, *len);
		return body;
	}
	*len = strlen(head) + p->batch.len + strlen(tail);
	body = malloc(*len + 1);
	if (body)
		snprintf(body, *len + 1, "%s%.*s%s", head, (int)p->batch.len,
			 (const char *)p->batch.data, tail);
	return body;
}

/* Hands the batch to the delivery thread: it never waits on the network. */
static void queue_batch(struct otlp_priv *p)
{
	void *body;
	size_t len;

	if (!p->batch_traces)
		return;
	body = batch_body(p, &len);
	if (body)
		krt_export_queue(p->exp, krt_otlp_content_type(p->protocol), body, len,
				 p->batch_traces);
	else
		p->unqueued_traces += p->batch_traces;
	p->batch.len = 0;
	p->batch.oom = false;
	p->batch_traces = 0;
}

static void batch_append(struct krt_buf *b, const void *data, size_t len)
{
	size_t cap;
	__u8 *d;

	if (b->oom)
		return;
	if (b->len + len > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d) {
			b->oom = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

/* The trace's JSON items, or NULL; *len without the enclosing brackets. */
static char *json_items(const struct krt_otlp_trace *m, size_t *len)
{
	struct krt_json j;
	char *items = NULL;
	FILE *mem = open_memstream(&items, len);

	if (!mem)
		return NULL;
	krt_json_init(&j, mem);
	/* Inside the resourceSpans array: items only, commas placed by the emitter. */
	krt_json_arr_begin(&j);
	krt_otlp_json_resource_spans(m, &j);
	krt_json_arr_end(&j);
	if (fclose(mem)) {
		free(items);
		return NULL;
	}
	return items;
}

static void batch_add(struct krt_writer *w, const struct krt_otlp_trace *m, const char *items,
		      size_t len)
{
	struct otlp_priv *p = w->priv;
	size_t before = p->batch.len;

	if (p->protocol == KRT_OTLP_HTTP_PROTOBUF) {
		krt_otlp_proto_resource_spans(m, &p->batch);
	} else {
		if (p->batch.len)
			batch_append(&p->batch, ",", 1);
		batch_append(&p->batch, items, len);
	}
	if (p->batch.oom) {
		/* Out of memory: this trace is not sent, the batch before it is. */
		p->batch.len = before;
		p->batch.oom = false;
		p->unqueued_traces++;
		return;
	}
	if (!p->batch_traces)
		p->batch_started_ns = clock_ns(CLOCK_MONOTONIC);
	p->batch_traces++;
	if (p->batch_traces >= BATCH_TRACES || p->batch.len >= BATCH_BYTES ||
	    clock_ns(CLOCK_MONOTONIC) - p->batch_started_ns >= BATCH_AGE_NS)
		queue_batch(p);
}

static int otlp_trace(struct krt_writer *w, const struct krt_trace *t)
{
	struct otlp_priv *p = w->priv;
	struct krt_otlp_trace m;
	char *items = NULL;
	size_t len = 0;

	/* A trace without threads has no span to show. */
	if (!t->n_threads)
		return 0;
	if (krt_otlp_trace_build(&m, &p->run, t))
		return -1;
	p->traces++;
	/* The file is OTLP/JSON whatever the wire protocol (the file exporter format). */
	if (w->out || p->protocol == KRT_OTLP_HTTP_JSON) {
		items = json_items(&m, &len);
		if (!items) {
			krt_otlp_trace_release(&m);
			return -1;
		}
	}
	if (w->out)
		fprintf(w->out, "{\"resourceSpans\":%s}\n", items);
	if (p->exp && (p->protocol == KRT_OTLP_HTTP_PROTOBUF || len >= 2))
		batch_add(w, &m, items ? items + 1 : NULL, len >= 2 ? len - 2 : 0);
	free(items);
	krt_otlp_trace_release(&m);
	return 0;
}

/*
 * Traces the collector did not get make the run fail (exit non-zero): a
 * service manager or script must see it. The files are complete anyway.
 */
static int otlp_finish(struct krt_writer *w, const struct krt_summary *s)
{
	struct otlp_priv *p = w->priv;
	struct krt_export_stats st;
	__u64 lost;
	int ret = 0;

	if (p->exp) {
		queue_batch(p);
		krt_export_close(p->exp, &st);
		p->exp = NULL;
		lost = st.dropped_traces + st.failed_traces + p->unqueued_traces;
		if (lost) {
			fprintf(stderr,
				"WARNING: OTLP endpoint %s: %" PRIu64 " of %" PRIu64
				" traces not delivered: %" PRIu64
				" dropped (delivery queue full), %" PRIu64 " failed%s%s%s\n",
				p->endpoint, (uint64_t)lost, (uint64_t)p->traces,
				(uint64_t)(st.dropped_traces + p->unqueued_traces),
				(uint64_t)st.failed_traces,
				st.last_error[0] ? " (last error: " : "", st.last_error,
				st.last_error[0] ? ")" : "");
			ret = KRT_WRITER_UNDELIVERED;
		}
	}
	if (w->out && (fflush(w->out) || ferror(w->out)))
		ret = -1; /* the caller names the file */
	return ret;
}

static void otlp_destroy(struct krt_writer *w)
{
	struct otlp_priv *p = w->priv;

	krt_export_close(p->exp, NULL);
	free(p->endpoint);
	free(p->host);
	krt_buf_free(&p->batch);
	free(p);
	krt_writer_free(w);
}

static const struct krt_writer_ops otlp_ops = {
    .name = "otlp",
    .trace = otlp_trace,
    .finish = otlp_finish,
    .destroy = otlp_destroy,
};

struct krt_writer *krt_writer_otlp_new_cfg(FILE *out, const struct krt_otlp_config *cfg)
{
	struct otlp_priv *p = calloc(1, sizeof(*p));
	struct krt_writer *w = NULL;

	if (!p)
		return NULL;
	if (cfg->endpoint && !(p->endpoint = strdup(cfg->endpoint)))
		goto fail;
	if (cfg->host && !(p->host = strdup(cfg->host)))
		goto fail;
	p->protocol = cfg->protobuf ? KRT_OTLP_HTTP_PROTOBUF : KRT_OTLP_HTTP_JSON;
	p->run.host = p->host;
	p->run.offset_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	if (p->endpoint) {
		char err[200];

		p->exp = krt_export_new(p->endpoint, NULL, err, sizeof(err));
		if (!p->exp) {
			fprintf(stderr, "krtrace: OTLP endpoint: %s\n", err);
			goto fail;
		}
	}
	w = krt_writer_alloc(&otlp_ops, out, p);
	if (w)
		return w;
fail:
	krt_export_close(p->exp, NULL);
	free(p->endpoint);
	free(p->host);
	free(p);
	return NULL;
}

struct krt_writer *krt_writer_otlp_new(FILE *out, const char *endpoint)
{
	struct krt_otlp_config cfg = {.endpoint = endpoint};

	return krt_writer_otlp_new_cfg(out, &cfg);
}
