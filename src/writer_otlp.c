/*
 * OTLP exporter (--otlp FILE, --otlp-endpoint URL): the OpenTelemetry file
 * exporter format (OTLP/JSON, one TracesData object per line and per trace)
 * and the same spans POSTed to a collector's /v1/traces, as OTLP/JSON or
 * protobuf (--otlp-protocol). The span model is otlp_spans.c; its two
 * spellings are otlp_json.c and otlp_proto.c. This file batches and posts.
 *
 * POSTs are batched (up to BATCH_TRACES traces or BATCH_BYTES per request)
 * so a slow collector costs one round trip per batch, retried briefly; a
 * failure is reported on stderr and never touches the file output.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "http_post.h"
#include "otlp_encode.h"
#include "writer_util.h"

#define BATCH_TRACES 64
#define BATCH_BYTES (1u << 20)
#define POST_TRIES 3
#define POST_TIMEOUT_MS 2000
#define GIVE_UP_AFTER 3		/* consecutive failed batches: stop posting */

struct otlp_priv {
	char *endpoint;
	char *host;
	enum krt_otlp_protocol protocol;
	struct krt_otlp_run run;
	/* JSON: comma-separated resourceSpans items; protobuf: ResourceSpans fields */
	struct krt_buf batch;
	size_t batch_traces;
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

static int post_batch(struct krt_writer *w)
{
	struct otlp_priv *p = w->priv;
	char err[256] = "";
	void *body;
	size_t len;
	int try, status = -1;

	if (!p->batch_traces)
		return 0;
	if (p->gave_up) {
		p->unsent_traces += p->batch_traces;
		goto out;
	}
	body = batch_body(p, &len);
	if (!body) {
		p->unsent_traces += p->batch_traces;
		goto out;
	}
	for (try = 0; try < POST_TRIES; try++) {
		__u64 t0;

		if (try)
			usleep(100000u << (try - 1));	/* 100 ms, then 200 ms */
		t0 = clock_ns(CLOCK_MONOTONIC);
		status = krt_http_post(p->endpoint, krt_otlp_content_type(p->protocol), body, len,
				       POST_TIMEOUT_MS, err, sizeof(err));
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
		if (status > 0 && !err[0])
			snprintf(err, sizeof(err), "HTTP status %d", status);
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
	p->batch.len = 0;
	p->batch.oom = false;
	p->batch_traces = 0;
	return 0;
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
		p->unsent_traces++;
		return;
	}
	p->batch_traces++;
	if (p->batch_traces >= BATCH_TRACES || p->batch.len >= BATCH_BYTES)
		post_batch(w);
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
	if (p->endpoint && (p->protocol == KRT_OTLP_HTTP_PROTOBUF || len >= 2))
		batch_add(w, &m, items ? items + 1 : NULL, len >= 2 ? len - 2 : 0);
	free(items);
	krt_otlp_trace_release(&m);
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
	w = krt_writer_alloc(&otlp_ops, out, p);
	if (w)
		return w;
fail:
	free(p->endpoint);
	free(p->host);
	free(p);
	return NULL;
}

struct krt_writer *krt_writer_otlp_new(FILE *out, const char *endpoint)
{
	struct krt_otlp_config cfg = { .endpoint = endpoint };

	return krt_writer_otlp_new_cfg(out, &cfg);
}
