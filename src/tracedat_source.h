/*
 * trace.dat source: reads a trace-cmd capture file directly through
 * libtracecmd / libtraceevent, with no text step, and hands the events of
 * the contract to the same callback as the report parser, as the same
 * struct krt_report_record the parser makes of `trace-cmd report -R` text.
 */
#ifndef KRT_TRACEDAT_SOURCE_H
#define KRT_TRACEDAT_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include "report_parser.h"

/* The first bytes of every trace.dat: "\027\010Dtracing". */
#define KRT_TRACEDAT_MAGIC "\027\010Dtracing"
#define KRT_TRACEDAT_MAGIC_LEN 10

/* Does the file at path start like a trace.dat (or a piece of its magic)? false if unreadable. */
bool krt_tracedat_is(const char *path);

/*
 * Reads path and calls fn for every record of the contract, in time order.
 * Counts into *counts as the text parser does (name set by the caller's
 * krt_rp_init; lines = records in the file, bytes = its size, lost events
 * from the buffers' missed-event counts). Returns 0, or -1 with a message
 * naming the file in err (not a trace.dat, truncated, unreadable).
 */
int krt_tracedat_read(const char *path, struct krt_report_parser *counts, krt_rp_record_fn fn,
		      void *ctx, char *err, size_t errlen);

#endif
