/*
 * OTLP/JSON spelling of the span model: lowerCamelCase keys, ids in hex,
 * 64-bit integers as decimal strings, enums as integers.
 */
#include <string.h>
#include "otlp_encode.h"
#include "trace_id.h"

int krt_otlp_protocol_parse(const char *name, enum krt_otlp_protocol *out)
{
	if (!strcmp(name, "http/json"))
		*out = KRT_OTLP_HTTP_JSON;
	else if (!strcmp(name, "http/protobuf"))
		*out = KRT_OTLP_HTTP_PROTOBUF;
	else
		return -1;
	return 0;
}

const char *krt_otlp_content_type(enum krt_otlp_protocol p)
{
	return p == KRT_OTLP_HTTP_PROTOBUF ? "application/x-protobuf" : "application/json";
}

static void kv_hex(struct krt_json *j, const char *key, const __u8 *b, size_t n)
{
	char buf[33];

	krt_hex(b, n, buf);
	krt_json_kv_str(j, key, buf);
}

static void put_attr(struct krt_json *j, const struct krt_otlp_attr *a)
{
	krt_json_obj_begin(j);
	krt_json_kv_str(j, "key", a->key);
	KRT_JSON_KEY(j, "value");
	krt_json_obj_begin(j);
	if (a->str) {
		krt_json_kv_str(j, "stringValue", a->str);
	} else {
		KRT_JSON_KEY(j, "intValue");
		krt_json_u64_str(j, a->num);
	}
	krt_json_obj_end(j);
	krt_json_obj_end(j);
}

static void put_events(struct krt_json *j, const struct krt_otlp_span *s)
{
	size_t i;

	KRT_JSON_KEY(j, "events");
	krt_json_arr_begin(j);
	for (i = 0; i < s->n_events; i++) {
		const struct krt_otlp_event *ev = &s->events[i];

		krt_json_obj_begin(j);
		KRT_JSON_KEY(j, "timeUnixNano");
		krt_json_u64_str(j, ev->time_ns);
		krt_json_kv_str(j, "name", ev->out ? "send" : "recv");
		KRT_JSON_KEY(j, "attributes");
		krt_json_arr_begin(j);
		put_attr(j, &(struct krt_otlp_attr){.key = "krtrace.peer", .str = ev->peer});
		put_attr(j, &(struct krt_otlp_attr){.key = "krtrace.bytes", .num = ev->bytes});
		krt_json_arr_end(j);
		krt_json_obj_end(j);
	}
	krt_json_arr_end(j);
	if (s->dropped_events) {
		KRT_JSON_KEY(j, "droppedEventsCount");
		krt_json_u64(j, s->dropped_events);
	}
}

static void put_span(struct krt_json *j, const struct krt_otlp_trace *m,
		     const struct krt_otlp_span *s)
{
	size_t i;

	krt_json_obj_begin(j);
	kv_hex(j, "traceId", m->trace_id, sizeof(m->trace_id));
	kv_hex(j, "spanId", s->span_id, sizeof(s->span_id));
	if (s->has_parent)
		kv_hex(j, "parentSpanId", s->parent_id, sizeof(s->parent_id));
	krt_json_kv_str(j, "name", s->name);
	KRT_JSON_KV_U64(j, "kind", s->kind);
	KRT_JSON_KEY(j, "startTimeUnixNano");
	krt_json_u64_str(j, s->start_ns);
	KRT_JSON_KEY(j, "endTimeUnixNano");
	krt_json_u64_str(j, s->end_ns);
	KRT_JSON_KEY(j, "attributes");
	krt_json_arr_begin(j);
	for (i = 0; i < s->n_attrs; i++)
		put_attr(j, &s->attrs[i]);
	krt_json_arr_end(j);
	put_events(j, s);
	KRT_JSON_KEY(j, "status");
	krt_json_obj_begin(j);
	krt_json_obj_end(j);
	krt_json_obj_end(j);
}

void krt_otlp_json_resource_spans(const struct krt_otlp_trace *m, struct krt_json *j)
{
	size_t i, k;

	for (i = 0; i < m->n_spans; i++) {
		const char *service = m->spans[i].service;

		if (!krt_otlp_first_of_service(m, i))
			continue;
		krt_json_obj_begin(j);
		KRT_JSON_KEY(j, "resource");
		krt_json_obj_begin(j);
		KRT_JSON_KEY(j, "attributes");
		krt_json_arr_begin(j);
		put_attr(j, &(struct krt_otlp_attr){.key = "service.name", .str = service});
		put_attr(j, &(struct krt_otlp_attr){.key = "krtrace.run_id", .str = m->run_hex});
		if (m->host)
			put_attr(j, &(struct krt_otlp_attr){.key = "host.name", .str = m->host});
		krt_json_arr_end(j);
		krt_json_obj_end(j);
		KRT_JSON_KEY(j, "scopeSpans");
		krt_json_arr_begin(j);
		krt_json_obj_begin(j);
		KRT_JSON_KEY(j, "scope");
		krt_json_obj_begin(j);
		krt_json_kv_str(j, "name", "krtrace");
		krt_json_kv_str(j, "version", KRT_VERSION);
		krt_json_obj_end(j);
		KRT_JSON_KEY(j, "spans");
		krt_json_arr_begin(j);
		for (k = i; k < m->n_spans; k++)
			if (!strcmp(m->spans[k].service, service))
				put_span(j, m, &m->spans[k]);
		krt_json_arr_end(j);
		krt_json_obj_end(j);
		krt_json_arr_end(j);
		krt_json_obj_end(j);
	}
}
