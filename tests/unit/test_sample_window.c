/* Unit tests for windowed sampling's phase machine (src/sample_window.c), on made times. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "sample_window.h"

#define MS 1000000ULL
#define T0 (5000 * MS) /* any start: the machine has no clock of its own */

/* What the driver does: every change due at now, one step at a time. */
static int advance(struct krt_window *w, __u64 now)
{
	enum krt_window_phase p;
	int changes = 0;

	while ((p = krt_window_next(w, now)) != w->phase) {
		krt_window_enter(w, p, now);
		changes++;
	}
	return changes;
}

static void test_check(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(krt_window_check(10, 100, err, sizeof(err)), 0);
	/* the cycle exactly warm-up + window + drain: CLOSED lasts 0 */
	assert_int_equal(krt_window_check(2, 150, err, sizeof(err)), 0);

	assert_int_equal(krt_window_check(1, 100, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--sample N with N >= 2"));
	assert_int_equal(krt_window_check(0, 100, err, sizeof(err)), -1);

	assert_int_equal(krt_window_check(10, KRT_WINDOW_MIN_MS - 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not from 10 to 600000 ms"));
	assert_int_equal(krt_window_check(10, KRT_WINDOW_MAX_MS + 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "600001 ms is not"));

	/* 2 x 100 = 200 < 50 + 100 + 100 */
	assert_int_equal(krt_window_check(2, 100, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "a cycle of 2 x 100 ms = 200 ms is shorter"));
	assert_non_null(strstr(err, ": 250 ms;"));
	/* a large N x MS does not wrap 32 bits */
	assert_int_equal(krt_window_check(1000000, KRT_WINDOW_MAX_MS, err, sizeof(err)), 0);
}

/* One cycle of --sample 10 --sample-window 100, the reader on time. */
static void test_one_cycle(void **state)
{
	struct krt_window w;

	(void)state;
	krt_window_init(&w, 10, 100, T0);
	assert_int_equal(w.phase, KRT_WIN_WARM);
	assert_int_equal(krt_window_wait_ns(&w, T0), 50 * MS);
	assert_int_equal(advance(&w, T0 + 49 * MS), 0);
	assert_int_equal(krt_window_next(&w, T0 + 50 * MS), KRT_WIN_OPEN);

	assert_int_equal(advance(&w, T0 + 50 * MS), 1);
	assert_int_equal(w.phase, KRT_WIN_OPEN);
	assert_int_equal(w.windows, 1);
	assert_int_equal(krt_window_wait_ns(&w, T0 + 60 * MS), 90 * MS);
	/* the window open now counts as far as it went */
	assert_int_equal(krt_window_open_ns(&w, T0 + 80 * MS), 30 * MS);

	assert_int_equal(advance(&w, T0 + 150 * MS), 1);
	assert_int_equal(w.phase, KRT_WIN_DRAIN);
	assert_int_equal(krt_window_open_ns(&w, T0 + 200 * MS), 100 * MS);
	assert_int_equal(advance(&w, T0 + 250 * MS), 1);
	assert_int_equal(w.phase, KRT_WIN_CLOSED);
	/* CLOSED lasts until the cycle's end */
	assert_int_equal(krt_window_wait_ns(&w, T0 + 250 * MS), 750 * MS);
	assert_int_equal(advance(&w, T0 + 999 * MS), 0);
	assert_int_equal(advance(&w, T0 + 1000 * MS), 1);
	assert_int_equal(w.phase, KRT_WIN_WARM);
	assert_int_equal(w.cycle_start, T0 + 1000 * MS);
	assert_int_equal(w.windows, 1);
	assert_int_equal(krt_window_open_ns(&w, T0 + 1000 * MS), 100 * MS);
}

/* A reader that comes late: the window stays MS long, the cycle its length. */
static void test_late_reader(void **state)
{
	struct krt_window w;

	(void)state;
	krt_window_init(&w, 10, 100, T0);
	advance(&w, T0 + 53 * MS); /* 3 ms late */
	assert_int_equal(w.phase, KRT_WIN_OPEN);
	assert_int_equal(advance(&w, T0 + 152 * MS), 0); /* 100 ms from its start */
	assert_int_equal(advance(&w, T0 + 153 * MS), 1);
	assert_int_equal(krt_window_open_ns(&w, T0 + 153 * MS), 100 * MS);
	advance(&w, T0 + 255 * MS);
	assert_int_equal(w.phase, KRT_WIN_CLOSED);
	/* the cycle's end does not move with the lateness */
	assert_int_equal(krt_window_wait_ns(&w, T0 + 255 * MS), 745 * MS);
}

/* Phases that overran the cycle (a long pause): CLOSED ends at once, one step at a time. */
static void test_overrun(void **state)
{
	struct krt_window w;

	(void)state;
	krt_window_init(&w, 2, 150, T0); /* a cycle of 300 ms, CLOSED 0 ms */
	assert_int_equal(advance(&w, T0 + 50 * MS), 1);
	assert_int_equal(advance(&w, T0 + 200 * MS), 1);
	assert_int_equal(w.phase, KRT_WIN_DRAIN);
	/* far past the cycle's end: DRAIN -> CLOSED -> WARM in one call */
	assert_int_equal(krt_window_next(&w, T0 + 900 * MS), KRT_WIN_CLOSED);
	assert_int_equal(advance(&w, T0 + 900 * MS), 2);
	assert_int_equal(w.phase, KRT_WIN_WARM);
	/* and the new cycle is whole: its warm-up from now */
	assert_int_equal(krt_window_wait_ns(&w, T0 + 900 * MS), 50 * MS);
	assert_int_equal(w.windows, 1);
}

/*
 * Many cycles, the reader 2 ms late at every change: open time over run
 * time stays about 1 in N (the share of a steady load's requests sampled;
 * each window 2 ms longer, each cycle too: 52 / 502).
 */
static void test_share(void **state)
{
	struct krt_window w;
	__u64 now = T0, end = T0 + 100000 * MS;
	double share;

	(void)state;
	krt_window_init(&w, 10, 50, T0);
	while (now < end) {
		now += krt_window_wait_ns(&w, now) + 2 * MS;
		advance(&w, now);
	}
	assert_in_range(w.windows, 199, 201);
	share = (double)krt_window_open_ns(&w, now) / (double)(now - w.start);
	assert_true(share > 0.098 && share < 0.105);
}

/*
 * A warm-up past its length waits for the engine's pools to be in step,
 * asking every few ms, at most KRT_WINDOW_WARM_MAX_MS; the window is whole
 * from when it opens, and the wait is counted.
 */
static void test_warm_waits_for_pools(void **state)
{
	struct krt_window w;

	(void)state;
	krt_window_init(&w, 10, 100, T0);
	krt_window_settled(&w, false);
	/* before the warm-up's length: as ever */
	assert_int_equal(krt_window_wait_ns(&w, T0), 50 * MS);
	assert_int_equal(advance(&w, T0 + 60 * MS), 0);
	assert_int_equal(w.phase, KRT_WIN_WARM);
	assert_int_equal(krt_window_wait_ns(&w, T0 + 60 * MS), KRT_WINDOW_SETTLE_POLL_MS * MS);
	/* in step at 120 ms: the window opens then, 100 ms long */
	krt_window_settled(&w, true);
	assert_int_equal(advance(&w, T0 + 120 * MS), 1);
	assert_int_equal(w.phase, KRT_WIN_OPEN);
	assert_int_equal(w.held, 1);
	assert_int_equal(w.held_max, 70 * MS);
	assert_int_equal(krt_window_due(&w), T0 + 220 * MS);
	/* the cycle still ends N x MS after its warm-up began */
	advance(&w, T0 + 220 * MS);
	advance(&w, T0 + 320 * MS);
	assert_int_equal(w.phase, KRT_WIN_CLOSED);
	assert_int_equal(krt_window_due(&w), T0 + 1000 * MS);

	/* never in step: the window opens at the bound */
	advance(&w, T0 + 1000 * MS);
	assert_int_equal(w.phase, KRT_WIN_WARM);
	krt_window_settled(&w, false);
	assert_int_equal(advance(&w, T0 + 1000 * MS + (KRT_WINDOW_WARM_MAX_MS - 1) * MS), 0);
	assert_int_equal(advance(&w, T0 + 1000 * MS + KRT_WINDOW_WARM_MAX_MS * MS), 1);
	assert_int_equal(w.phase, KRT_WIN_OPEN);
	assert_int_equal(w.held, 2);
	assert_int_equal(w.held_max, (KRT_WINDOW_WARM_MAX_MS - KRT_WINDOW_WARM_MS) * MS);

	/* in step from the start: no wait, none counted */
	krt_window_init(&w, 10, 100, T0);
	krt_window_settled(&w, true);
	assert_int_equal(advance(&w, T0 + 50 * MS), 1);
	assert_int_equal(w.phase, KRT_WIN_OPEN);
	assert_int_equal(w.held, 0);
}

/*
 * The reader's poll timeout: with the hooks attached at most busy_ms (50),
 * woken for the phase change; closed, up to the caller's idle_ms, which
 * may reach the cycle's end (not 50 ms polls for nothing to read).
 */
static void test_poll_ms(void **state)
{
	struct krt_window w;

	(void)state;
	krt_window_init(&w, 10, 100, T0);
	krt_window_settled(&w, true);
	assert_int_equal(krt_window_poll_ms(&w, T0, 50, 10000), 50);
	assert_int_equal(krt_window_poll_ms(&w, T0 + 10 * MS, 50, 10000), 40);
	/* rounded up: never woken before the change */
	assert_int_equal(krt_window_poll_ms(&w, T0 + 10 * MS + 1, 50, 10000), 40);
	advance(&w, T0 + 50 * MS);
	assert_int_equal(krt_window_poll_ms(&w, T0 + 50 * MS, 50, 10000), 50);
	advance(&w, T0 + 150 * MS);
	assert_int_equal(w.phase, KRT_WIN_DRAIN);
	assert_int_equal(krt_window_poll_ms(&w, T0 + 150 * MS, 50, 10000), 50);
	advance(&w, T0 + 250 * MS);
	assert_int_equal(w.phase, KRT_WIN_CLOSED);
	/* closed: to the cycle's end, or the caller's next timer */
	assert_int_equal(krt_window_poll_ms(&w, T0 + 250 * MS, 50, 10000), 750);
	assert_int_equal(krt_window_poll_ms(&w, T0 + 250 * MS, 50, 300), 300);
	assert_int_equal(krt_window_poll_ms(&w, T0 + 250 * MS, 50, 0), 0);
	assert_int_equal(krt_window_poll_ms(&w, T0 + 250 * MS, 50, -5), 0);
	assert_int_equal(krt_window_poll_ms(&w, T0 + 999 * MS, 50, 10000), 1);
	/* the warm-up after it: 50 ms polls again */
	advance(&w, T0 + 1000 * MS);
	assert_int_equal(w.phase, KRT_WIN_WARM);
	assert_int_equal(krt_window_poll_ms(&w, T0 + 1000 * MS, 50, 10000), 50);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(krt_window_phase_name(KRT_WIN_WARM), "warm-up");
	assert_string_equal(krt_window_phase_name(KRT_WIN_OPEN), "open");
	assert_string_equal(krt_window_phase_name(KRT_WIN_DRAIN), "drain");
	assert_string_equal(krt_window_phase_name(KRT_WIN_CLOSED), "closed");
	assert_string_equal(krt_window_phase_name((enum krt_window_phase)9), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_one_cycle),
	    cmocka_unit_test(test_late_reader),
	    cmocka_unit_test(test_overrun),
	    cmocka_unit_test(test_share),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_warm_waits_for_pools),
	    cmocka_unit_test(test_poll_ms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
