/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The live source's reorder window: events wait here until they are older
 * than a cutoff, then leave in time order (arrival order among equal
 * times). Records arrive nearly sorted (a merged hop's send is a few
 * records behind its receive), so the window is a sorted array of small
 * keys filled by insertion from its newest end, and the events themselves
 * wait in a pool of slots: an insert moves only the few keys newer than
 * it. (A binary heap cost about 10 % of the reader's CPU in mispredicted
 * compares on every pop.)
 */
#ifndef KRT_REORDER_WINDOW_H
#define KRT_REORDER_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "krtrace_event.h"

struct krt_reorder_key {
	__u64 ts_ns;
	__u32 slot; /* in events[] */
};

struct krt_reorder {
	/*
	 * keys[head, tail): sorted; room for twice the slots, so that moving
	 * the window back to the start of the array is rare.
	 */
	struct krt_reorder_key *keys;
	size_t head, tail, cap_keys;
	struct krt_event *events; /* cap_keys / 2 slots */
	__u32 *free_slots;	  /* stack of unused slots */
	size_t n_free;
	size_t peak;	 /* most events waiting since the last shrink check */
	__u64 last_ts;	 /* newest time handed over */
	__u64 late;	 /* arrived behind last_ts: handed over at last_ts */
	__u64 late_from; /* the oldest own time of those since it was reset (0: none) */
};

typedef void (*krt_reorder_cb)(const struct krt_event *ev, void *ctx);

void krt_reorder_init(struct krt_reorder *r);
void krt_reorder_free(struct krt_reorder *r);
/* A free slot to fill (the pool grows when empty), or NULL: out of memory. */
struct krt_event *krt_reorder_slot(struct krt_reorder *r, __u32 *slot);
/* Slot goes back unused. */
void krt_reorder_release(struct krt_reorder *r, __u32 slot);
/* The event filled in slot joins the window, after every event not newer. */
void krt_reorder_insert(struct krt_reorder *r, __u32 slot);
/*
 * The events filled in slots join the window, as n krt_reorder_insert()
 * calls would place them. Cheaper when they come in time order (a CPU's
 * batch of switches, older than the records read since it began): the
 * window's newer keys move once for all of them, not once each.
 */
void krt_reorder_insert_run(struct krt_reorder *r, const __u32 *slots, size_t n);
/* A copy of ev joins the window; -ENOMEM when no slot can be had. */
int krt_reorder_queue(struct krt_reorder *r, const struct krt_event *ev);
/*
 * Hands over, oldest first, every event not newer than cutoff_ts; one older
 * than what was handed over before goes with that time (the engine needs
 * time that never goes back) and is counted in late. Returns how many.
 */
size_t krt_reorder_deliver(struct krt_reorder *r, __u64 cutoff_ts, krt_reorder_cb cb, void *ctx);
/* Events waiting. */
size_t krt_reorder_pending(const struct krt_reorder *r);
/*
 * The pool gives back what a burst made it take: when at most an eighth of
 * its slots were in use at any delivery since the last call, the waiting
 * events move (in order) to a pool four times that peak (not below the
 * first size). Returns true when it shrank; false also when the smaller
 * pool could not be had (the old one stays). Measured from the peak, not
 * from what waits after a delivery: a live run's window holds a poll
 * interval more just before each delivery, and a pool sized from the
 * quiet moment grew back (page faults, realloc) after every check.
 */
bool krt_reorder_shrink(struct krt_reorder *r);

/*
 * How long records wait. On a loaded machine they arrive later than the
 * live source's 20 ms (a receiver that waits 50 ms to run holds its merged
 * hop's send; at load 20 on 2 cores a test-bed run clamped 54 records, and
 * 8 of 80 chain requests came out wrong or incomplete). An adaptive span
 * doubles at each late record, up to KRT_REORDER_MAX_NS, and halves back
 * towards its base after KRT_REORDER_CALM_NS without one: a load spike
 * costs the output latency, not traces.
 */
#define KRT_REORDER_MAX_NS (640ULL * 1000 * 1000)
#define KRT_REORDER_CALM_NS (10ULL * 1000 * 1000 * 1000)

struct krt_reorder_span {
	__u64 ns;	  /* records wait this long */
	__u64 base_ns;	  /* the span it shrinks back to */
	__u64 widest_ns;  /* the widest it grew (0: never grew) */
	__u64 late_seen;  /* late records counted at the last update */
	__u64 changed_at; /* when it last grew or shrank (or saw a late record) */
	bool adapts;	  /* false: stays at base_ns */
};

void krt_reorder_span_init(struct krt_reorder_span *sp, __u64 base_ns, bool adapts);
/* late: the window's late count so far; now_ns: the clock. Returns sp->ns. */
__u64 krt_reorder_span_update(struct krt_reorder_span *sp, __u64 late, __u64 now_ns);

#endif
