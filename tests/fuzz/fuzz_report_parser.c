/*
 * libFuzzer target: arbitrary bytes through the report parser and the
 * normaliser. Besides the sanitizers' checks, it asserts what the engine
 * relies on: events in non-decreasing time, valid types and directions,
 * known address families.
 *
 *   make fuzz && .output/fuzz_report_parser -max_total_time=60 tests/fuzz/corpus
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ftrace_normalize.h"
#include "report_parser.h"

static __u64 last_ts;

static void check_family(const struct krt_addr *a)
{
	if (a->family != 0 && a->family != KRT_AF_INET && a->family != KRT_AF_INET6)
		abort();
}

static void check_event(const struct krt_event *ev, void *ctx)
{
	(void)ctx;
	if (ev->ts_ns < last_ts)
		abort();
	last_ts = ev->ts_ns;
	if (ev->type < KRT_EV_FORK || ev->type >= KRT_EV_TYPE_MAX)
		abort();
	if (ev->type == KRT_EV_XFER) {
		if (ev->xfer.dir != KRT_DIR_SEND && ev->xfer.dir != KRT_DIR_RECV)
			abort();
		if (ev->xfer.enter_ns > ev->ts_ns)
			abort();
		check_family(&ev->xfer.tuple.local);
		check_family(&ev->xfer.tuple.remote);
	}
	if (ev->type == KRT_EV_SOCK_STATE) {
		check_family(&ev->state.tuple.local);
		check_family(&ev->state.tuple.remote);
	}
	if (memchr(ev->comm, '\0', sizeof(ev->comm)) == NULL)
		abort();
}

static void check_record(const struct krt_report_record *rec, void *ctx)
{
	if (rec->kind <= KRT_RP_SKIP || rec->kind > KRT_RP_LOST)
		abort();
	if (memchr(rec->comm, '\0', sizeof(rec->comm)) == NULL)
		abort();
	krt_norm_record(ctx, rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct krt_report_parser p;
	struct krt_report_record rec;
	struct krt_normalizer *n;

	/* The whole input as one line: the parser must stop at len. */
	krt_rp_init(&p, "fuzz", NULL);
	krt_rp_parse_line(&p, (const char *)data, size, &rec);

	last_ts = 0;
	n = krt_norm_new(check_event, NULL);
	if (!n)
		return 0;
	if (size & 1) { /* half the runs know a gateway (the corpus's) */
		struct krt_addr gw = {.family = KRT_AF_INET, .addr = {172, 24, 0, 1}};

		krt_norm_set_gateway(n, &gw);
	}
	krt_rp_init(&p, "fuzz", NULL);
	krt_rp_parse_buffer(&p, (const char *)data, size, check_record, n);
	krt_norm_finish(n);
	if (p.lines == 0 && size > 0)
		abort();
	krt_norm_free(n);
	return 0;
}
