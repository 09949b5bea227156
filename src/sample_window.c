// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Windowed sampling's phase machine (sample_window.h says why and how). */
#include <stdio.h>
#include "sample_window.h"

#define MS_NS 1000000ULL

int krt_window_check(__u32 n, __u32 ms, char *err, size_t len)
{
	__u64 need = (__u64)KRT_WINDOW_WARM_MS + ms + KRT_WINDOW_DRAIN_MS;

	if (n < 2) {
		snprintf(err, len,
			 "--sample-window needs --sample N with N >= 2 (one window of "
			 "MS ms every N x MS ms)");
		return -1;
	}
	if (ms < KRT_WINDOW_MIN_MS || ms > KRT_WINDOW_MAX_MS) {
		snprintf(err, len, "--sample-window: %u ms is not from %u to %u ms", ms,
			 KRT_WINDOW_MIN_MS, KRT_WINDOW_MAX_MS);
		return -1;
	}
	if ((__u64)n * ms < need) {
		snprintf(err, len,
			 "--sample-window: a cycle of %u x %u ms = %llu ms is shorter than its "
			 "warm-up (%u ms), window (%u ms) and drain (%u ms): %llu ms; take a "
			 "larger N or MS",
			 n, ms, (unsigned long long)n * ms, KRT_WINDOW_WARM_MS, ms,
			 KRT_WINDOW_DRAIN_MS, (unsigned long long)need);
		return -1;
	}
	return 0;
}

void krt_window_init(struct krt_window *w, __u32 n, __u32 ms, __u64 now)
{
	*w = (struct krt_window){
	    .warm_ns = KRT_WINDOW_WARM_MS * MS_NS,
	    .open_ns = ms * MS_NS,
	    .drain_ns = KRT_WINDOW_DRAIN_MS * MS_NS,
	    .cycle_ns = (__u64)n * ms * MS_NS,
	    .phase = KRT_WIN_WARM,
	    .start = now,
	    .cycle_start = now,
	    .phase_start = now,
	};
}

__u64 krt_window_due(const struct krt_window *w)
{
	switch (w->phase) {
	case KRT_WIN_WARM:
		return w->phase_start +
		       (w->unsettled ? KRT_WINDOW_WARM_MAX_MS * MS_NS : w->warm_ns);
	case KRT_WIN_OPEN:
		return w->phase_start + w->open_ns;
	case KRT_WIN_DRAIN:
		return w->phase_start + w->drain_ns;
	case KRT_WIN_CLOSED:
		break;
	}
	return w->cycle_start + w->cycle_ns;
}

enum krt_window_phase krt_window_next(const struct krt_window *w, __u64 now)
{
	if (now < krt_window_due(w))
		return w->phase;
	return w->phase == KRT_WIN_CLOSED ? KRT_WIN_WARM : w->phase + 1;
}

void krt_window_settled(struct krt_window *w, bool settled)
{
	w->unsettled = !settled;
}

void krt_window_enter(struct krt_window *w, enum krt_window_phase p, __u64 now)
{
	/* a warm-up longer than its length: it waited for the engine's pools */
	if (w->phase == KRT_WIN_WARM && p != KRT_WIN_WARM && now > w->phase_start + w->warm_ns) {
		__u64 waited = now - w->phase_start - w->warm_ns;

		w->held++;
		if (waited > w->held_max)
			w->held_max = waited;
	}
	if (w->phase == KRT_WIN_OPEN && now > w->phase_start)
		w->open_done += now - w->phase_start;
	if (p == KRT_WIN_OPEN)
		w->windows++;
	if (p == KRT_WIN_WARM)
		w->cycle_start = now;
	w->phase = p;
	w->phase_start = now;
}

__u64 krt_window_wait_ns(const struct krt_window *w, __u64 now)
{
	__u64 end = krt_window_due(w), wait = end > now ? end - now : 0;

	/*
	 * Waiting for the pools: until the warm-up's length as ever, then ask
	 * again every few ms, not at the wait's bound.
	 */
	if (w->phase == KRT_WIN_WARM && w->unsettled) {
		__u64 warm_end = w->phase_start + w->warm_ns;

		if (now < warm_end)
			return warm_end - now;
		if (wait > KRT_WINDOW_SETTLE_POLL_MS * MS_NS)
			wait = KRT_WINDOW_SETTLE_POLL_MS * MS_NS;
	}
	return wait;
}

int krt_window_poll_ms(const struct krt_window *w, __u64 now, int busy_ms, int idle_ms)
{
	int max_ms = w->phase == KRT_WIN_CLOSED ? idle_ms : busy_ms;
	/* rounded up: a poll that wakes before the change would only spin */
	__u64 wait = (krt_window_wait_ns(w, now) + MS_NS - 1) / MS_NS;

	if (max_ms < 0)
		max_ms = 0;
	return wait < (__u64)max_ms ? (int)wait : max_ms;
}

__u64 krt_window_open_ns(const struct krt_window *w, __u64 now)
{
	if (w->phase == KRT_WIN_OPEN && now > w->phase_start)
		return w->open_done + now - w->phase_start;
	return w->open_done;
}

const char *krt_window_phase_name(enum krt_window_phase p)
{
	static const char *const names[] = {
	    [KRT_WIN_WARM] = "warm-up",
	    [KRT_WIN_OPEN] = "open",
	    [KRT_WIN_DRAIN] = "drain",
	    [KRT_WIN_CLOSED] = "closed",
	};

	return p <= KRT_WIN_CLOSED ? names[p] : "?";
}
