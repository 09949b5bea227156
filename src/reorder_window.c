// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The live source's reorder window (see reorder_window.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "reorder_window.h"

#define FIRST_SLOTS 4096
/* events handed over are prefetched this many ahead: each was read cold */
#define PREFETCH_AHEAD 4

void krt_reorder_init(struct krt_reorder *r, krt_reorder_expand_fn expand)
{
	memset(r, 0, sizeof(*r));
	r->expand = expand;
}

void krt_reorder_free(struct krt_reorder *r)
{
	krt_reorder_expand_fn expand = r->expand;

	free(r->keys);
	free(r->events);
	free(r->free_slots);
	free(r->small);
	free(r->free_small);
	krt_reorder_init(r, expand);
}

/* Twice the slots of both pools in keys: at most half the array is in use. */
static int keys_fit(struct krt_reorder *r)
{
	size_t want = 2 * (r->cap_events + r->cap_small);
	void *keys;

	if (want <= r->cap_keys)
		return 0;
	keys = realloc(r->keys, want * sizeof(*r->keys));
	if (!keys)
		return -ENOMEM;
	r->keys = keys;
	r->cap_keys = want;
	return 0;
}

/* Twice the event slots: pool and free list grow together, the keys with them. */
static int grow(struct krt_reorder *r)
{
	size_t old = r->cap_events, slots = old ? 2 * old : FIRST_SLOTS, k;
	void *ev = realloc(r->events, slots * sizeof(*r->events));
	void *fr = ev ? realloc(r->free_slots, slots * sizeof(*r->free_slots)) : NULL;

	if (ev)
		r->events = ev;
	if (!fr)
		return -ENOMEM;
	r->free_slots = fr;
	r->cap_events = slots;
	if (keys_fit(r)) {
		r->cap_events = old;
		return -ENOMEM;
	}
	/* the new slots are free; the stack hands out low ones first */
	for (k = slots; k > old; k--)
		r->free_slots[r->n_free++] = k - 1;
	return 0;
}

static int grow_small(struct krt_reorder *r)
{
	size_t old = r->cap_small, slots = old ? 2 * old : FIRST_SLOTS, k;
	void *sm = realloc(r->small, slots * sizeof(*r->small));
	void *fr = sm ? realloc(r->free_small, slots * sizeof(*r->free_small)) : NULL;

	if (sm)
		r->small = sm;
	if (!fr)
		return -ENOMEM;
	r->free_small = fr;
	r->cap_small = slots;
	if (keys_fit(r)) {
		r->cap_small = old;
		return -ENOMEM;
	}
	for (k = slots; k > old; k--)
		r->free_small[r->n_free_small++] = (__u32)(k - 1) | KRT_REORDER_SMALL;
	return 0;
}

struct krt_event *krt_reorder_slot(struct krt_reorder *r, __u32 *slot)
{
	if (!r->n_free && grow(r))
		return NULL;
	*slot = r->free_slots[--r->n_free];
	return &r->events[*slot];
}

struct krt_reorder_small *krt_reorder_small_slot(struct krt_reorder *r, __u32 *slot)
{
	if (!r->n_free_small && grow_small(r))
		return NULL;
	*slot = r->free_small[--r->n_free_small];
	return &r->small[*slot & ~KRT_REORDER_SMALL];
}

void krt_reorder_release(struct krt_reorder *r, __u32 slot)
{
	if (slot & KRT_REORDER_SMALL)
		r->free_small[r->n_free_small++] = slot;
	else
		r->free_slots[r->n_free++] = slot;
}

static inline __u64 slot_ts(const struct krt_reorder *r, __u32 slot)
{
	if (slot & KRT_REORDER_SMALL)
		return r->small[slot & ~KRT_REORDER_SMALL].ts_ns;
	return r->events[slot].ts_ns;
}

/*
 * Room for n more keys after tail. Every waiting record holds a slot (the
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
	__u64 ts = slot_ts(r, slot);
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
		if (slot_ts(r, slots[j - 1]) > slot_ts(r, slots[j])) {
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
		__u64 ts = slot_ts(r, slots[j - 1]);

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
	struct krt_event tmp;
	size_t n = 0;

	/* inserts only between deliveries: the most in use comes right before one */
	if (r->cap_events - r->n_free > r->peak)
		r->peak = r->cap_events - r->n_free;
	if (r->cap_small - r->n_free_small > r->peak_small)
		r->peak_small = r->cap_small - r->n_free_small;
	while (r->head < r->tail && r->keys[r->head].ts_ns <= cutoff_ts) {
		struct krt_reorder_key k = r->keys[r->head++];
		struct krt_event *ev;

		/* the records were written a window ago and left the cache */
		if (r->head + PREFETCH_AHEAD < r->tail) {
			__u32 next = r->keys[r->head + PREFETCH_AHEAD].slot;

			if (next & KRT_REORDER_SMALL) {
				__builtin_prefetch(&r->small[next & ~KRT_REORDER_SMALL]);
			} else {
				const char *p = (const char *)&r->events[next];

				for (size_t off = 0; off < sizeof(*ev); off += 64)
					__builtin_prefetch(p + off);
			}
		}
		if (k.slot & KRT_REORDER_SMALL) {
			r->expand(&r->small[k.slot & ~KRT_REORDER_SMALL], &tmp);
			ev = &tmp;
		} else {
			ev = &r->events[k.slot];
		}
		if (ev->ts_ns < r->last_ts) {
			ev->ts_ns = r->last_ts;
			r->late++;
		}
		r->last_ts = ev->ts_ns;
		cb(ev, ctx);
		krt_reorder_release(r, k.slot);
		n++;
	}
	if (r->head == r->tail)
		r->head = r->tail = 0;
	return n;
}

/* The size a pool of slots in use at most peak may shrink to (slots: none). */
static size_t shrunk_size(size_t slots, size_t peak)
{
	size_t want = FIRST_SLOTS;

	if (slots <= FIRST_SLOTS || peak * 8 > slots)
		return slots;
	while (want < peak * 4)
		want *= 2;
	return want < slots ? want : slots;
}

bool krt_reorder_shrink(struct krt_reorder *r)
{
	size_t waiting = r->tail - r->head, used = r->cap_events - r->n_free,
	       used_small = r->cap_small - r->n_free_small, j, k, ne = 0, ns = 0;
	size_t peak = r->peak > used ? r->peak : used;
	size_t peak_small = r->peak_small > used_small ? r->peak_small : used_small;
	size_t want = shrunk_size(r->cap_events, peak),
	       want_small = shrunk_size(r->cap_small, peak_small);
	struct krt_reorder_key *keys;
	struct krt_reorder_small *sm;
	struct krt_event *ev;
	__u32 *fr, *frs;

	/* the next check looks at the period from now on */
	r->peak = used;
	r->peak_small = used_small;
	/* every slot taken waits in the window (none is held between calls) */
	if ((want == r->cap_events && want_small == r->cap_small) || used + used_small != waiting)
		return false;
	keys = malloc(2 * (want + want_small) * sizeof(*keys));
	ev = malloc(want * sizeof(*ev));
	fr = malloc(want * sizeof(*fr));
	sm = want_small ? malloc(want_small * sizeof(*sm)) : NULL;
	frs = want_small ? malloc(want_small * sizeof(*frs)) : NULL;
	if (!keys || !ev || !fr || (want_small && (!sm || !frs))) {
		free(keys);
		free(ev);
		free(fr);
		free(sm);
		free(frs);
		return false;
	}
	for (j = 0; j < waiting; j++) {
		__u32 slot = r->keys[r->head + j].slot;

		keys[j].ts_ns = r->keys[r->head + j].ts_ns;
		if (slot & KRT_REORDER_SMALL) {
			sm[ns] = r->small[slot & ~KRT_REORDER_SMALL];
			keys[j].slot = (__u32)ns++ | KRT_REORDER_SMALL;
		} else {
			ev[ne] = r->events[slot];
			keys[j].slot = (__u32)ne++;
		}
	}
	r->n_free = 0;
	for (k = want; k > ne; k--)
		fr[r->n_free++] = (__u32)(k - 1);
	r->n_free_small = 0;
	for (k = want_small; k > ns; k--)
		frs[r->n_free_small++] = (__u32)(k - 1) | KRT_REORDER_SMALL;
	free(r->keys);
	free(r->events);
	free(r->free_slots);
	free(r->small);
	free(r->free_small);
	r->keys = keys;
	r->events = ev;
	r->free_slots = fr;
	r->small = sm;
	r->free_small = frs;
	r->head = 0;
	r->tail = waiting;
	r->cap_keys = 2 * (want + want_small);
	r->cap_events = want;
	r->cap_small = want_small;
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
