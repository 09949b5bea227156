// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The live source's reorder window (see reorder_window.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "reorder_window.h"

#define FIRST_SLOTS 4096
/* events handed over are prefetched this many ahead: each was read cold */
#define PREFETCH_AHEAD 4

void krt_reorder_init(struct krt_reorder *r)
{
	memset(r, 0, sizeof(*r));
}

void krt_reorder_free(struct krt_reorder *r)
{
	free(r->keys);
	free(r->events);
	free(r->free_slots);
	krt_reorder_init(r);
}

/* Twice the slots (and keys): window, pool and free list grow together. */
static int grow(struct krt_reorder *r)
{
	size_t old = r->cap_keys / 2, slots = old ? 2 * old : FIRST_SLOTS, k;
	void *keys = realloc(r->keys, 2 * slots * sizeof(*r->keys));
	void *ev = keys ? realloc(r->events, slots * sizeof(*r->events)) : NULL;
	void *fr = ev ? realloc(r->free_slots, slots * sizeof(*r->free_slots)) : NULL;

	if (keys)
		r->keys = keys;
	if (ev)
		r->events = ev;
	if (!fr)
		return -ENOMEM;
	r->free_slots = fr;
	/* the new slots are free; the stack hands out low ones first */
	for (k = slots; k > old; k--)
		r->free_slots[r->n_free++] = k - 1;
	r->cap_keys = 2 * slots;
	return 0;
}

struct krt_event *krt_reorder_slot(struct krt_reorder *r, __u32 *slot)
{
	if (!r->n_free && grow(r))
		return NULL;
	*slot = r->free_slots[--r->n_free];
	return &r->events[*slot];
}

void krt_reorder_release(struct krt_reorder *r, __u32 slot)
{
	r->free_slots[r->n_free++] = slot;
}

/*
 * Room for n more keys after tail. Every waiting event holds a slot (the
 * n new ones too) and there are half as many slots as keys: at most half
 * the array is in use, and the window moves back to its start.
 */
static void make_room(struct krt_reorder *r, size_t n)
{
	if (r->tail + n <= r->cap_keys)
		return;
	memmove(r->keys, r->keys + r->head, (r->tail - r->head) * sizeof(*r->keys));
	r->tail -= r->head;
	r->head = 0;
}

void krt_reorder_insert(struct krt_reorder *r, __u32 slot)
{
	__u64 ts = r->events[slot].ts_ns;
	struct krt_reorder_key *w;
	size_t i;

	make_room(r, 1);
	w = r->keys;
	for (i = r->tail; i > r->head && w[i - 1].ts_ns > ts; i--)
		;
	if (i < r->tail)
		memmove(&w[i + 1], &w[i], (r->tail - i) * sizeof(*w));
	r->tail++;
	w[i].ts_ns = ts;
	w[i].slot = slot;
}

void krt_reorder_insert_run(struct krt_reorder *r, const __u32 *slots, size_t n)
{
	struct krt_reorder_key *w;
	size_t i, j, k;

	for (j = 1; j < n; j++) {
		if (r->events[slots[j - 1]].ts_ns > r->events[slots[j]].ts_ns) {
			/* not in order after all: one by one */
			for (j = 0; j < n; j++)
				krt_reorder_insert(r, slots[j]);
			return;
		}
	}
	make_room(r, n);
	w = r->keys;
	/*
	 * Merged from the newest ends: each waiting key newer than a new one
	 * moves once, by the number of new keys older than it; a waiting key
	 * of the same time stays before the new one (arrival order).
	 */
	i = r->tail;
	k = r->tail + n;
	for (j = n; j > 0;) {
		__u64 ts = r->events[slots[j - 1]].ts_ns;

		if (i > r->head && w[i - 1].ts_ns > ts) {
			w[--k] = w[--i];
		} else {
			j--;
			w[--k] = (struct krt_reorder_key){.ts_ns = ts, .slot = slots[j]};
		}
	}
	r->tail += n;
}

int krt_reorder_queue(struct krt_reorder *r, const struct krt_event *ev)
{
	__u32 slot;
	struct krt_event *e = krt_reorder_slot(r, &slot);

	if (!e)
		return -ENOMEM;
	*e = *ev;
	krt_reorder_insert(r, slot);
	return 0;
}

size_t krt_reorder_deliver(struct krt_reorder *r, __u64 cutoff_ts, krt_reorder_cb cb, void *ctx)
{
	size_t n = 0;

	/* inserts only between deliveries: the most that waited comes right before one */
	if (r->tail - r->head > r->peak)
		r->peak = r->tail - r->head;
	while (r->head < r->tail && r->keys[r->head].ts_ns <= cutoff_ts) {
		struct krt_reorder_key k = r->keys[r->head++];
		struct krt_event *ev = &r->events[k.slot];

		/* the events were written a window ago and left the cache */
		if (r->head + PREFETCH_AHEAD < r->tail) {
			const char *next =
			    (const char *)&r->events[r->keys[r->head + PREFETCH_AHEAD].slot];

			for (size_t off = 0; off < sizeof(*ev); off += 64)
				__builtin_prefetch(next + off);
		}
		if (ev->ts_ns < r->last_ts) {
			if (!r->late_from || ev->ts_ns < r->late_from)
				r->late_from = ev->ts_ns;
			ev->ts_ns = r->last_ts;
			r->late++;
		}
		r->last_ts = ev->ts_ns;
		cb(ev, ctx);
		r->free_slots[r->n_free++] = k.slot;
		n++;
	}
	if (r->head == r->tail)
		r->head = r->tail = 0;
	return n;
}

bool krt_reorder_shrink(struct krt_reorder *r)
{
	size_t slots = r->cap_keys / 2, waiting = r->tail - r->head, want = FIRST_SLOTS, j, k;
	size_t peak = r->peak > waiting ? r->peak : waiting;
	struct krt_reorder_key *keys;
	struct krt_event *ev;
	__u32 *fr;

	/* the next check looks at the period from now on */
	r->peak = waiting;
	if (slots <= FIRST_SLOTS || peak * 8 > slots)
		return false;
	while (want < peak * 4)
		want *= 2;
	if (want >= slots)
		return false;
	keys = malloc(2 * want * sizeof(*keys));
	ev = malloc(want * sizeof(*ev));
	fr = malloc(want * sizeof(*fr));
	if (!keys || !ev || !fr) {
		free(keys);
		free(ev);
		free(fr);
		return false;
	}
	for (j = 0; j < waiting; j++) {
		ev[j] = r->events[r->keys[r->head + j].slot];
		keys[j].ts_ns = r->keys[r->head + j].ts_ns;
		keys[j].slot = j;
	}
	r->n_free = 0;
	for (k = want; k > waiting; k--)
		fr[r->n_free++] = k - 1;
	free(r->keys);
	free(r->events);
	free(r->free_slots);
	r->keys = keys;
	r->events = ev;
	r->free_slots = fr;
	r->head = 0;
	r->tail = waiting;
	r->cap_keys = 2 * want;
	return true;
}

size_t krt_reorder_pending(const struct krt_reorder *r)
{
	return r->tail - r->head;
}

void krt_reorder_span_init(struct krt_reorder_span *sp, __u64 base_ns, bool adapts)
{
	*sp = (struct krt_reorder_span){.ns = base_ns, .base_ns = base_ns, .adapts = adapts};
}

__u64 krt_reorder_span_update(struct krt_reorder_span *sp, __u64 late, __u64 now_ns)
{
	if (!sp->adapts)
		return sp->ns;
	if (late != sp->late_seen) {
		sp->late_seen = late;
		sp->changed_at = now_ns;
		if (sp->ns < KRT_REORDER_MAX_NS) {
			sp->ns = sp->ns * 2 < KRT_REORDER_MAX_NS ? sp->ns * 2 : KRT_REORDER_MAX_NS;
			if (sp->ns > sp->widest_ns)
				sp->widest_ns = sp->ns;
		}
	} else if (sp->ns > sp->base_ns && now_ns - sp->changed_at > KRT_REORDER_CALM_NS) {
		sp->ns = sp->ns / 2 > sp->base_ns ? sp->ns / 2 : sp->base_ns;
		sp->changed_at = now_ns;
	}
	return sp->ns;
}
