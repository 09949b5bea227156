/* Unit tests for the live source's reorder window (src/reorder_window.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "reorder_window.h"

#define MAX_OUT 70000

struct out {
	__u64 ts[MAX_OUT];
	__u32 tid[MAX_OUT];	/* the arrival number, to check ties */
	size_t n;
};

static void collect(const struct krt_event *ev, void *ctx)
{
	struct out *o = ctx;

	assert_true(o->n < MAX_OUT);
	o->ts[o->n] = ev->ts_ns;
	o->tid[o->n] = ev->tid;
	o->n++;
}

static void queue(struct krt_reorder *r, __u64 ts, __u32 arrival)
{
	struct krt_event ev = { .ts_ns = ts, .tid = arrival, .type = KRT_EV_XFER };

	assert_int_equal(krt_reorder_queue(r, &ev), 0);
}

/* Out of order within the window: out in time order, ties in arrival order. */
static void test_sorted_and_stable(void **state)
{
	static const __u64 ts[] = { 100, 90, 120, 90, 110, 100, 95 };
	struct krt_reorder r;
	struct out *o = calloc(1, sizeof(*o));
	size_t i;

	krt_reorder_init(&r);
	for (i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
		queue(&r, ts[i], (__u32)i);
	assert_int_equal(krt_reorder_deliver(&r, ~0ULL, collect, o), 7);
	assert_int_equal(o->n, 7);
	for (i = 1; i < o->n; i++)
		assert_true(o->ts[i - 1] <= o->ts[i]);
	/* 90 came as arrivals 1 and 3, 100 as 0 and 5: first come, first out */
	assert_int_equal(o->tid[0], 1);
	assert_int_equal(o->tid[1], 3);
	assert_int_equal(o->tid[3], 0);
	assert_int_equal(o->tid[4], 5);
	assert_int_equal(krt_reorder_pending(&r), 0);
	krt_reorder_free(&r);
	free(o);
}

/* Only events not newer than the cutoff leave; the rest wait. */
static void test_cutoff(void **state)
{
	struct krt_reorder r;
	struct out *o = calloc(1, sizeof(*o));

	krt_reorder_init(&r);
	queue(&r, 300, 0);
	queue(&r, 100, 1);
	queue(&r, 200, 2);
	assert_int_equal(krt_reorder_deliver(&r, 200, collect, o), 2);
	assert_int_equal(o->ts[0], 100);
	assert_int_equal(o->ts[1], 200);
	assert_int_equal(krt_reorder_pending(&r), 1);
	assert_int_equal(krt_reorder_deliver(&r, 299, collect, o), 0);
	assert_int_equal(krt_reorder_deliver(&r, 300, collect, o), 1);
	assert_int_equal(r.late, 0);
	krt_reorder_free(&r);
	free(o);
}

/* An event older than what already left goes out at that time, counted late. */
static void test_late_event_clamped(void **state)
{
	struct krt_reorder r;
	struct out *o = calloc(1, sizeof(*o));

	krt_reorder_init(&r);
	queue(&r, 500, 0);
	krt_reorder_deliver(&r, 500, collect, o);
	queue(&r, 400, 1);
	queue(&r, 600, 2);
	krt_reorder_deliver(&r, ~0ULL, collect, o);
	assert_int_equal(o->n, 3);
	assert_int_equal(o->ts[1], 500);	/* 400, clamped */
	assert_int_equal(o->tid[1], 1);
	assert_int_equal(o->ts[2], 600);
	assert_int_equal(r.late, 1);
	assert_int_equal(r.late_from, 400); /* its own time: how far back the loss reaches */
	assert_int_equal(r.last_ts, 600);
	krt_reorder_free(&r);
	free(o);
}

/*
 * A long stream, nearly sorted (every third event a few behind), delivered
 * in steps: the pool grows past its first size, the window moves back to
 * the start of its array many times, and every event comes out once, in
 * order.
 */
static void test_long_stream_grows_and_wraps(void **state)
{
	struct krt_reorder r;
	struct out *o = calloc(1, sizeof(*o));
	__u64 ts = 1000, sum_in = 0, sum_out = 0;
	__u32 n = 0;
	size_t i;

	krt_reorder_init(&r);
	for (int step = 0; step < 40; step++) {
		/* a burst bigger than the first pool (4096 slots) now and then */
		int burst = step % 10 == 0 ? 9000 : 700;

		for (int k = 0; k < burst; k++, n++) {
			__u64 t = ts + (n % 3 == 0 ? 0 : 7) - (n % 5);

			queue(&r, t, n);
			sum_in += t;
			ts += 3;
		}
		/* what is older than 200 ns behind the newest leaves */
		krt_reorder_deliver(&r, ts - 200, collect, o);
	}
	krt_reorder_deliver(&r, ~0ULL, collect, o);
	assert_int_equal(o->n, n);
	for (i = 0; i < o->n; i++)
		sum_out += o->ts[i];
	for (i = 1; i < o->n; i++)
		assert_true(o->ts[i - 1] <= o->ts[i]);
	assert_int_equal(r.late, 0);
	assert_int_equal(sum_out, sum_in);
	assert_true(r.cap_keys >= 2 * 9000);
	krt_reorder_free(&r);
	free(o);
}

/* Fills a slot with an event of time ts and arrival number arrival. */
static __u32 fill(struct krt_reorder *r, __u64 ts, __u32 arrival)
{
	__u32 slot;
	struct krt_event *ev = krt_reorder_slot(r, &slot);

	assert_non_null(ev);
	memset(ev, 0, sizeof(*ev));
	ev->ts_ns = ts;
	ev->tid = arrival;
	return slot;
}

/*
 * A run of events inserted at once (a CPU's batch) comes out as the same
 * events inserted one by one: merged among older and newer waiting ones,
 * a waiting event of the same time before the run's (arrival order), the
 * run's own ties in their order; a run out of order is still placed right.
 * Random runs of up to 16 among a nearly sorted stream, delivered in steps,
 * against a window fed one by one.
 */
static void test_insert_run_as_one_by_one(void **state)
{
	struct krt_reorder a, b;
	struct out *oa = calloc(1, sizeof(*oa)), *ob = calloc(1, sizeof(*ob));
	__u64 ts = 1000;
	__u32 arrival = 0, slots[16];
	size_t i;

	srand(18);
	krt_reorder_init(&a);
	krt_reorder_init(&b);
	for (int step = 0; step < 3000; step++) {
		/* a record or two of newer times, then a run reaching back */
		for (int k = rand() % 3; k > 0; k--, arrival++) {
			ts += rand() % 4;
			krt_reorder_insert(&a, fill(&a, ts, arrival));
			krt_reorder_insert(&b, fill(&b, ts, arrival));
		}
		size_t n = rand() % 17;
		__u64 t = ts > 40 ? ts - rand() % 40 : ts;
		bool shuffled = rand() % 8 == 0;

		for (i = 0; i < n; i++, arrival++) {
			__u64 at = shuffled ? ts - rand() % 40 : (t += rand() % 3);

			krt_reorder_insert(&a, fill(&a, at, arrival));
			slots[i] = fill(&b, at, arrival);
		}
		krt_reorder_insert_run(&b, slots, n);
		if (step % 50 == 49) {
			krt_reorder_deliver(&a, ts - 100, collect, oa);
			krt_reorder_deliver(&b, ts - 100, collect, ob);
		}
	}
	krt_reorder_deliver(&a, ~0ULL, collect, oa);
	krt_reorder_deliver(&b, ~0ULL, collect, ob);
	assert_true(oa->n > 10000);
	assert_int_equal(ob->n, oa->n);
	for (i = 0; i < oa->n; i++) {
		assert_int_equal(ob->ts[i], oa->ts[i]);
		assert_int_equal(ob->tid[i], oa->tid[i]);
	}
	assert_int_equal(b.late, a.late);
	krt_reorder_free(&a);
	krt_reorder_free(&b);
	free(oa);
	free(ob);
}

/* A run older than everything waiting goes first; ties with a waiting event after it. */
static void test_insert_run_ties(void **state)
{
	struct krt_reorder r;
	struct out *o = calloc(1, sizeof(*o));
	__u32 slots[3];

	krt_reorder_init(&r);
	krt_reorder_insert(&r, fill(&r, 100, 0));
	krt_reorder_insert(&r, fill(&r, 200, 1));
	slots[0] = fill(&r, 50, 2);
	slots[1] = fill(&r, 100, 3);
	slots[2] = fill(&r, 100, 4);
	krt_reorder_insert_run(&r, slots, 3);
	assert_int_equal(krt_reorder_pending(&r), 5);
	assert_int_equal(krt_reorder_deliver(&r, ~0ULL, collect, o), 5);
	assert_int_equal(o->tid[0], 2);
	assert_int_equal(o->tid[1], 0); /* waiting before the run's 100s */
	assert_int_equal(o->tid[2], 3);
	assert_int_equal(o->tid[3], 4);
	assert_int_equal(o->tid[4], 1);
	krt_reorder_free(&r);
	free(o);
}

/*
 * After a burst the pool gives its slots back: once a whole period between
 * two checks had few events waiting, it shrinks to four times the most
 * that waited (the first size at least), and the waiting events come out
 * as they would have, in order, ties in arrival order; more events after
 * it are taken as before.
 */
static void test_shrinks_after_burst(void **state)
{
	struct krt_reorder r;
	struct out *o = calloc(1, sizeof(*o));
	__u32 n = 0;
	size_t i;

	krt_reorder_init(&r);
	for (; n < 20000; n++)
		queue(&r, 1000 + n / 2, n);
	assert_true(r.cap_keys / 2 >= 20000);
	assert_false(krt_reorder_shrink(&r));	/* all still waiting */
	krt_reorder_deliver(&r, 1000 + 19000 / 2, collect, o);
	assert_int_equal(krt_reorder_pending(&r), 998);
	assert_false(krt_reorder_shrink(&r));	/* the burst waited in this period */
	assert_true(krt_reorder_shrink(&r));
	assert_int_equal(r.cap_keys / 2, 4096);
	assert_int_equal(krt_reorder_pending(&r), 998);
	assert_false(krt_reorder_shrink(&r));	/* at the first size */
	for (; n < 30000; n++)
		queue(&r, 1000 + n / 2, n);
	krt_reorder_deliver(&r, ~0ULL, collect, o);
	assert_int_equal(o->n, 30000);
	for (i = 0; i < o->n; i++)
		assert_int_equal(o->tid[i], i);
	assert_int_equal(r.late, 0);
	krt_reorder_free(&r);
	free(o);
}

/*
 * What waited right before a delivery counts: a window that fills up
 * between polls keeps its pool even when a check comes just after one.
 */
static void test_shrink_keeps_peak(void **state)
{
	struct krt_reorder r;
	struct out *o = calloc(1, sizeof(*o));
	__u32 n = 0;

	krt_reorder_init(&r);
	for (; n < 20000; n++)
		queue(&r, 1000 + n, n);
	krt_reorder_deliver(&r, 1000 + 19500, collect, o);
	assert_int_equal(krt_reorder_pending(&r), 499);
	assert_false(krt_reorder_shrink(&r));
	for (; n < 25000; n++)
		queue(&r, 1000 + n, n);
	krt_reorder_deliver(&r, 1000 + 24500, collect, o);
	assert_int_equal(krt_reorder_pending(&r), 499);
	assert_false(krt_reorder_shrink(&r));	/* 5499 waited: more than an eighth */
	assert_true(krt_reorder_shrink(&r));	/* no delivery since: 499 */
	assert_int_equal(r.cap_keys / 2, 4096);
	krt_reorder_deliver(&r, ~0ULL, collect, o);
	assert_int_equal(o->n, 25000);
	krt_reorder_free(&r);
	free(o);
}

/* A slot taken and given back unused is handed out again. */
static void test_release(void **state)
{
	struct krt_reorder r;
	struct out *o = calloc(1, sizeof(*o));
	__u32 a, b;

	krt_reorder_init(&r);
	assert_non_null(krt_reorder_slot(&r, &a));
	krt_reorder_release(&r, a);
	assert_non_null(krt_reorder_slot(&r, &b));
	assert_int_equal(a, b);
	r.events[b].ts_ns = 7;
	krt_reorder_insert(&r, b);
	assert_int_equal(krt_reorder_deliver(&r, ~0ULL, collect, o), 1);
	assert_int_equal(o->ts[0], 7);
	krt_reorder_free(&r);
	free(o);
}

/*
 * The live source's default span grows at each late record (a loaded
 * machine), up to its cap, and shrinks back after a calm period; a span
 * asked for stays as asked.
 */
static void test_span_adapts_to_load(void **state)
{
	struct krt_reorder_span sp;
	const __u64 ms = 1000 * 1000, base = 20 * ms;
	__u64 t = 1000 * ms;
	int i;

	krt_reorder_span_init(&sp, base, true);
	assert_int_equal(krt_reorder_span_update(&sp, 0, t), base);
	assert_int_equal(sp.widest_ns, 0);
	assert_int_equal(krt_reorder_span_update(&sp, 3, t), 2 * base);
	/* no new late record: stays */
	assert_int_equal(krt_reorder_span_update(&sp, 3, t + ms), 2 * base);
	for (i = 4; i < 20; i++)
		krt_reorder_span_update(&sp, i, t + i * ms);
	assert_int_equal(sp.ns, KRT_REORDER_MAX_NS);
	assert_int_equal(sp.widest_ns, KRT_REORDER_MAX_NS);
	/* calm: halves once per calm period, down to the base, never below */
	t += 20 * ms;
	assert_int_equal(krt_reorder_span_update(&sp, 19, t), KRT_REORDER_MAX_NS);
	t += KRT_REORDER_CALM_NS + 1;
	assert_int_equal(krt_reorder_span_update(&sp, 19, t), KRT_REORDER_MAX_NS / 2);
	assert_int_equal(krt_reorder_span_update(&sp, 19, t + ms), KRT_REORDER_MAX_NS / 2);
	for (i = 0; i < 10; i++) {
		t += KRT_REORDER_CALM_NS + 1;
		krt_reorder_span_update(&sp, 19, t);
	}
	assert_int_equal(sp.ns, base);
	assert_int_equal(sp.widest_ns, KRT_REORDER_MAX_NS);

	/* asked for: fixed, whatever comes late */
	krt_reorder_span_init(&sp, 1, false);
	assert_int_equal(krt_reorder_span_update(&sp, 100, t), 1);
	assert_int_equal(sp.widest_ns, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sorted_and_stable),
		cmocka_unit_test(test_cutoff),
		cmocka_unit_test(test_late_event_clamped),
		cmocka_unit_test(test_long_stream_grows_and_wraps),
		cmocka_unit_test(test_insert_run_as_one_by_one),
		cmocka_unit_test(test_insert_run_ties),
		cmocka_unit_test(test_shrinks_after_burst),
		cmocka_unit_test(test_shrink_keeps_peak),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_span_adapts_to_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
