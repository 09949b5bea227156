/*
 * OTLP/HTTP protobuf spelling of the span model: a hand-written encoder for
 * the few messages of opentelemetry-proto's trace/v1/trace.proto we send
 * (field numbers below are that file's). The test suite decodes the output
 * with protoc and the official .proto files (tests/fixtures/otlp-proto).
 *
 * Nested messages are length-prefixed: a message is written in place and
 * its contents moved up by the size of the length once it is known (one
 * move per nesting level; at most five levels here).
 */
#include <stdlib.h>
#include <string.h>
#include "otlp_encode.h"

enum wire_type { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2 };

/* TracesData */
#define F_TRACES_RESOURCE_SPANS 1
/* ResourceSpans */
#define F_RS_RESOURCE 1
#define F_RS_SCOPE_SPANS 2
/* Resource */
#define F_RESOURCE_ATTRIBUTES 1
/* ScopeSpans */
#define F_SS_SCOPE 1
#define F_SS_SPANS 2
/* InstrumentationScope */
#define F_SCOPE_NAME 1
#define F_SCOPE_VERSION 2
/* Span */
#define F_SPAN_TRACE_ID 1
#define F_SPAN_SPAN_ID 2
#define F_SPAN_PARENT_SPAN_ID 4
#define F_SPAN_NAME 5
#define F_SPAN_KIND 6
#define F_SPAN_START 7
#define F_SPAN_END 8
#define F_SPAN_ATTRIBUTES 9
#define F_SPAN_EVENTS 11
#define F_SPAN_DROPPED_EVENTS 12
#define F_SPAN_STATUS 15
/* Span.Event */
#define F_EVENT_TIME 1
#define F_EVENT_NAME 2
#define F_EVENT_ATTRIBUTES 3
/* KeyValue, AnyValue */
#define F_KV_KEY 1
#define F_KV_VALUE 2
#define F_ANY_STRING 1
#define F_ANY_INT 3

#define MAX_NESTING 8

struct pb {
	struct krt_buf *b;
	size_t open[MAX_NESTING]; /* where each open message's contents start */
	int depth;
};

void krt_buf_free(struct krt_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static bool reserve(struct krt_buf *b, size_t more)
{
	size_t cap;
	__u8 *d;

	if (b->oom)
		return false;
	if (b->len + more <= b->cap)
		return true;
	cap = b->cap ? b->cap : 1024;
	while (cap < b->len + more)
		cap *= 2;
	d = realloc(b->data, cap);
	if (!d) {
		b->oom = true;
		return false;
	}
	b->data = d;
	b->cap = cap;
	return true;
}

static size_t varint_len(__u64 v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void put_varint_at(__u8 *p, __u64 v)
{
	while (v >= 0x80) {
		*p++ = (__u8)(v | 0x80);
		v >>= 7;
	}
	*p = (__u8)v;
}

static void put_varint(struct pb *pb, __u64 v)
{
	size_t n = varint_len(v);

	if (!reserve(pb->b, n))
		return;
	put_varint_at(pb->b->data + pb->b->len, v);
	pb->b->len += n;
}

static void put_tag(struct pb *pb, unsigned field, enum wire_type wt)
{
	put_varint(pb, (__u64)field << 3 | wt);
}

static void put_uint(struct pb *pb, unsigned field, __u64 v)
{
	put_tag(pb, field, WT_VARINT);
	put_varint(pb, v);
}

static void put_fixed64(struct pb *pb, unsigned field, __u64 v)
{
	int i;

	put_tag(pb, field, WT_I64);
	if (!reserve(pb->b, 8))
		return;
	/* Little-endian whatever the host. */
	for (i = 0; i < 8; i++, v >>= 8)
		pb->b->data[pb->b->len++] = (__u8)v;
}

static void put_bytes(struct pb *pb, unsigned field, const void *data, size_t len)
{
	put_tag(pb, field, WT_LEN);
	put_varint(pb, len);
	if (!reserve(pb->b, len))
		return;
	memcpy(pb->b->data + pb->b->len, data, len);
	pb->b->len += len;
}

static void put_str(struct pb *pb, unsigned field, const char *s)
{
	put_bytes(pb, field, s, strlen(s));
}

static void msg_begin(struct pb *pb, unsigned field)
{
	put_tag(pb, field, WT_LEN);
	if (pb->depth == MAX_NESTING) {
		pb->b->oom = true; /* a programming error: make the output unusable */
		return;
	}
	pb->open[pb->depth++] = pb->b->len;
}

static void msg_end(struct pb *pb)
{
	struct krt_buf *b = pb->b;
	size_t start, len, n;

	if (!pb->depth)
		return;
	start = pb->open[--pb->depth];
	if (b->oom)
		return;
	len = b->len - start;
	n = varint_len(len);
	if (!reserve(b, n))
		return;
	memmove(b->data + start + n, b->data + start, len);
	put_varint_at(b->data + start, len);
	b->len += n;
}

static void put_attr(struct pb *pb, unsigned field, const struct krt_otlp_attr *a)
{
	msg_begin(pb, field);
	put_str(pb, F_KV_KEY, a->key);
	msg_begin(pb, F_KV_VALUE);
	if (a->str)
		put_str(pb, F_ANY_STRING, a->str);
	else
		put_uint(pb, F_ANY_INT, a->num); /* int64: two's complement varint */
	msg_end(pb);
	msg_end(pb);
}

static void put_event(struct pb *pb, const struct krt_otlp_event *ev)
{
	msg_begin(pb, F_SPAN_EVENTS);
	put_fixed64(pb, F_EVENT_TIME, ev->time_ns);
	put_str(pb, F_EVENT_NAME, ev->out ? "send" : "recv");
	put_attr(pb, F_EVENT_ATTRIBUTES,
		 &(struct krt_otlp_attr){.key = "krtrace.peer", .str = ev->peer});
	put_attr(pb, F_EVENT_ATTRIBUTES,
		 &(struct krt_otlp_attr){.key = "krtrace.bytes", .num = ev->bytes});
	msg_end(pb);
}

static void put_span(struct pb *pb, const struct krt_otlp_trace *m, const struct krt_otlp_span *s)
{
	size_t i;

	msg_begin(pb, F_SS_SPANS);
	put_bytes(pb, F_SPAN_TRACE_ID, m->trace_id, sizeof(m->trace_id));
	put_bytes(pb, F_SPAN_SPAN_ID, s->span_id, sizeof(s->span_id));
	if (s->has_parent)
		put_bytes(pb, F_SPAN_PARENT_SPAN_ID, s->parent_id, sizeof(s->parent_id));
	put_str(pb, F_SPAN_NAME, s->name);
	put_uint(pb, F_SPAN_KIND, s->kind);
	put_fixed64(pb, F_SPAN_START, s->start_ns);
	put_fixed64(pb, F_SPAN_END, s->end_ns);
	for (i = 0; i < s->n_attrs; i++)
		put_attr(pb, F_SPAN_ATTRIBUTES, &s->attrs[i]);
	for (i = 0; i < s->n_events; i++)
		put_event(pb, &s->events[i]);
	if (s->dropped_events)
		put_uint(pb, F_SPAN_DROPPED_EVENTS, s->dropped_events);
	/* An empty Status (code UNSET), as the JSON encoding sends. */
	msg_begin(pb, F_SPAN_STATUS);
	msg_end(pb);
	msg_end(pb);
}

int krt_otlp_proto_resource_spans(const struct krt_otlp_trace *m, struct krt_buf *b)
{
	struct pb pb = {.b = b};
	size_t i, k;

	for (i = 0; i < m->n_spans; i++) {
		const char *service = m->spans[i].service;

		if (!krt_otlp_first_of_service(m, i))
			continue;
		msg_begin(&pb, F_TRACES_RESOURCE_SPANS);
		msg_begin(&pb, F_RS_RESOURCE);
		put_attr(&pb, F_RESOURCE_ATTRIBUTES,
			 &(struct krt_otlp_attr){.key = "service.name", .str = service});
		put_attr(&pb, F_RESOURCE_ATTRIBUTES,
			 &(struct krt_otlp_attr){.key = "krtrace.run_id", .str = m->run_hex});
		if (m->host)
			put_attr(&pb, F_RESOURCE_ATTRIBUTES,
				 &(struct krt_otlp_attr){.key = "host.name", .str = m->host});
		msg_end(&pb);
		msg_begin(&pb, F_RS_SCOPE_SPANS);
		msg_begin(&pb, F_SS_SCOPE);
		put_str(&pb, F_SCOPE_NAME, "krtrace");
		put_str(&pb, F_SCOPE_VERSION, KRT_VERSION);
		msg_end(&pb);
		for (k = i; k < m->n_spans; k++)
			if (!strcmp(m->spans[k].service, service))
				put_span(&pb, m, &m->spans[k]);
		msg_end(&pb);
		msg_end(&pb);
	}
	return b->oom ? -1 : 0;
}
