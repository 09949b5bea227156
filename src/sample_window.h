/*
 * Windowed sampling (krtrace-bpf --sample N --sample-window MS): the
 * reader's phase machine, on CLOCK_MONOTONIC nanoseconds it is given (no
 * clock of its own, so the unit tests drive it with made times).
 *
 * Per-request sampling must trace every unsampled request of a pool or an
 * event loop hidden (the rules need to know what each worker does) and pays
 * the hooks' price on every event. Between windows nothing sampled is in
 * flight, so the hot hooks can be detached and the kernel's request state
 * dropped. Every cycle of N x MS:
 *
 *   WARM   (KRT_WINDOW_WARM_MS)  hooks attached, every new request hidden:
 *                                the engine learns what every worker does
 *   OPEN   (MS)                  every new request sampled
 *   DRAIN  (KRT_WINDOW_DRAIN_MS) every new request hidden: the sampled
 *                                ones finish
 *   CLOSED (the rest)            hot hooks detached, request state dropped
 *
 * One window in N x MS open for MS: one request in N sampled under a
 * steady load, as --sample N. WARM, OPEN and DRAIN last their length from
 * when they began (the reader may enter one a little late: the window
 * stays MS long); CLOSED ends at the cycle's end, unless the phases
 * before it overran it (then at once).
 */
#ifndef KRT_SAMPLE_WINDOW_H
#define KRT_SAMPLE_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define KRT_WINDOW_WARM_MS 50
/*
 * A warm-up past its length waits for the engine's pools to be in step
 * (krt_window_settled), at most this long from its start, polling every
 * KRT_WINDOW_SETTLE_POLL_MS: a pool's loop out of step after a pause marks
 * its requests' hand-offs uncertain (about 60 ms on thrift, 100-250 ms on
 * asgi at 16 connections), so a window opened then traces uncertain ones.
 */
#define KRT_WINDOW_WARM_MAX_MS 500
#define KRT_WINDOW_SETTLE_POLL_MS 5
#define KRT_WINDOW_DRAIN_MS 100
/* a window shorter than the reader's lateness (a few ms) would not be MS long */
#define KRT_WINDOW_MIN_MS 10
#define KRT_WINDOW_MAX_MS 600000

enum krt_window_phase {
	KRT_WIN_WARM,
	KRT_WIN_OPEN,
	KRT_WIN_DRAIN,
	KRT_WIN_CLOSED,
};

struct krt_window {
	__u64 warm_ns, open_ns, drain_ns, cycle_ns; /* the configuration */
	enum krt_window_phase phase;
	__u64 start;	   /* the run's first WARM */
	__u64 cycle_start; /* the current cycle's WARM */
	__u64 phase_start;
	__u64 windows;	 /* OPEN phases entered */
	__u64 open_done; /* time of the OPEN phases left */
	bool unsettled;	 /* the engine's pools not in step (krt_window_settled) */
	__u64 held;	 /* warm-ups that waited for them past their length */
	__u64 held_max;	 /* ns: the longest such wait */
};

/*
 * Whether --sample n --sample-window ms make a cycle: 0, or -1 with the
 * reason in err (n < 2, ms out of range, n x ms shorter than warm-up,
 * window and drain).
 */
int krt_window_check(__u32 n, __u32 ms, char *err, size_t len);
/* Starts the first cycle's WARM at now (the hooks just attached). */
void krt_window_init(struct krt_window *w, __u32 n, __u32 ms, __u64 now);
/*
 * The phase the machine should be in at now: the current one while its
 * time runs, else the one after it (one step at a time: the caller acts on
 * each change, krt_window_enter, and asks again).
 */
enum krt_window_phase krt_window_next(const struct krt_window *w, __u64 now);
/*
 * Whether the engine's pools are in step (krt_engine_settled), told before
 * krt_window_next: a warm-up waits for them (KRT_WINDOW_WARM_MAX_MS).
 */
void krt_window_settled(struct krt_window *w, bool settled);
/* The caller entered p at now (after acting on it). */
void krt_window_enter(struct krt_window *w, enum krt_window_phase p, __u64 now);
/* When the current phase ends. */
__u64 krt_window_due(const struct krt_window *w);
/* Nanoseconds from now until the current phase ends (0: already due). */
__u64 krt_window_wait_ns(const struct krt_window *w, __u64 now);
/*
 * The reader's poll timeout, ms, woken for the next phase change: with the
 * hooks attached at most busy_ms (their records to read); CLOSED, where
 * only the fork and exit hooks run (a few records, read at the next
 * wake-up or when the ring signals), at most idle_ms (the caller's other
 * timers): a poll every busy_ms there cost the reader more CPU than the
 * open window (asgi: 51 polls, 5-7 ms a cycle of 3 s, at ~110 us each).
 */
int krt_window_poll_ms(const struct krt_window *w, __u64 now, int busy_ms, int idle_ms);
/* Time spent OPEN up to now, a window open now included. */
__u64 krt_window_open_ns(const struct krt_window *w, __u64 now);
const char *krt_window_phase_name(enum krt_window_phase p);

#endif
