/*
 * 128-bit trace ids (W3C trace-context style), unique across hosts and
 * runs: the high 64 bits are random per run (per tracer process), the low
 * 64 bits the engine's trace number (1 << 32 | the kernel's, when it numbered
 * the trace). A trace continuing another host's (the TCP option) takes
 * that trace's id. JSON's "trace_id_hex" and OTLP's traceId are the same
 * id, so a backend and `krtrace merge` agree.
 */
#ifndef KRT_TRACE_ID_H
#define KRT_TRACE_ID_H

#include <linux/types.h>
#include "trace_data.h"

#define KRT_TRACE_ID_HEX_LEN 32

/* This run's random word, never zero; the same for the whole process. */
__u64 krt_run_word(void);
/* Big-endian bytes, as OTLP carries them. */
void krt_trace_id128(const struct krt_trace *t, __u8 out[16]);
/* 32 lower-case hex digits and a NUL. */
void krt_trace_id_hex(const struct krt_trace *t, char out[KRT_TRACE_ID_HEX_LEN + 1]);
/* The same for raw bytes. */
void krt_hex(const __u8 *b, size_t n, char *out);

#endif
