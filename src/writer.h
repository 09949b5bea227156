/*
 * Output writers. A writer sees completed traces and the final summary;
 * it knows nothing about where the events came from.
 */
#ifndef KRT_WRITER_H
#define KRT_WRITER_H

#include <stdbool.h>
#include <stdio.h>
#include "trace_data.h"

struct krt_writer;

#define KRT_WRITER_UNDELIVERED 1

struct krt_writer_ops {
	const char *name;
	/* Called once per completed trace, in emission order. */
	int (*trace)(struct krt_writer *w, const struct krt_trace *t);
	/*
	 * Called once at the end; writers that need all traces render here.
	 * Returns 0, -1 when the output is unusable (write error), or
	 * KRT_WRITER_UNDELIVERED when the output is complete but traces did not
	 * reach a remote end (the run exits non-zero, files are kept).
	 */
	int (*finish)(struct krt_writer *w, const struct krt_summary *s);
	void (*destroy)(struct krt_writer *w);
};

struct krt_writer {
	const struct krt_writer_ops *ops;
	FILE *out;
	bool owns_out; /* fclose(out) on destroy */
	bool color;
	void *priv;
};

/* Constructors: out is where the writer writes; it is not closed unless owns_out. */
struct krt_writer *krt_writer_text_new(FILE *out, bool color);
struct krt_writer *krt_writer_raw_new(FILE *out);
struct krt_writer *krt_writer_json_new(FILE *out);
/* host != NULL: every trace also carries "host" and its 128-bit "trace_id_hex". */
struct krt_writer *krt_writer_json_new_host(FILE *out, const char *host);
struct krt_writer *krt_writer_chrome_new(FILE *out);
struct krt_writer *krt_writer_dot_new(FILE *out, __u64 only_trace /* 0 = all */);
struct krt_writer *krt_writer_html_new(FILE *out, const char *title);
/* endpoint may be NULL (file only); out may be NULL (endpoint only). */
struct krt_writer *krt_writer_otlp_new(FILE *out, const char *endpoint);
struct krt_otlp_config {
	const char *endpoint; /* NULL: file only */
	bool protobuf;	      /* POST application/x-protobuf (else OTLP/JSON) */
	const char *host;     /* host.name on every resource; NULL = none */
};
struct krt_writer *krt_writer_otlp_new_cfg(FILE *out, const struct krt_otlp_config *cfg);

#endif
