/*
 * The two OTLP/HTTP encodings of a trace's spans (otlp_spans.h): JSON and
 * protobuf (opentelemetry-proto's TracesData, trace/v1/trace.proto). Each
 * call yields the trace's ResourceSpans only, so a batch of traces is their
 * concatenation: JSON items joined by commas inside {"resourceSpans":[...]},
 * protobuf messages simply one after the other (repeated field 1).
 */
#ifndef KRT_OTLP_ENCODE_H
#define KRT_OTLP_ENCODE_H

#include "json_out.h"
#include "otlp_spans.h"

enum krt_otlp_protocol {
	KRT_OTLP_HTTP_JSON,
	KRT_OTLP_HTTP_PROTOBUF,
};

/* "http/json" or "http/protobuf" (the OTEL_EXPORTER_OTLP_PROTOCOL names); -1 if neither. */
int krt_otlp_protocol_parse(const char *name, enum krt_otlp_protocol *out);
const char *krt_otlp_content_type(enum krt_otlp_protocol p);

/* JSON: the trace's resourceSpans objects, into an array the caller opened. */
void krt_otlp_json_resource_spans(const struct krt_otlp_trace *m, struct krt_json *j);

/* A growing byte buffer; oom is sticky and the bytes are then incomplete. */
struct krt_buf {
	__u8 *data;
	size_t len, cap;
	bool oom;
};

void krt_buf_free(struct krt_buf *b);

/* protobuf: appends the trace's ResourceSpans as TracesData field 1; -1 when out of memory. */
int krt_otlp_proto_resource_spans(const struct krt_otlp_trace *m, struct krt_buf *b);

#endif
