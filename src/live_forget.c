// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The kernel's request state forgotten at a pause (live_forget.h). Runs
 * with the programs that create and change these states detached: only
 * the fork and exit hooks still run, and they free thread slots (by the
 * claim protocol's compare-and-swap) and flush an exiting thread's time,
 * never claim a slot. A slot freed here is zeroed by its next claimer
 * (bpf/tables.bpf.h, slot_claim), as one freed in the kernel.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "live_forget.h"

/*
 * What a thread state keeps across a pause: what the thread is, learnt
 * from its behaviour over many requests (a pool worker, an event loop, a
 * door reader, a pool's feeder, a Go thread), and its jobs' serial; the
 * rest is its requests' (its trace, claim, entry connection, the time it
 * gathered for them) or its last run's (on CPU since, run-queue and
 * runtime bases: the hooks did not see it run during the pause, so its
 * next switch starts them again, as for a thread first seen then).
 */
static void thread_forget_requests(struct krt_thread_state *st)
{
	struct krt_thread_state kept;

	memset(&kept, 0, sizeof(kept));
	kept.pooled = st->pooled;
	kept.go_thread = st->go_thread;
	kept.job_serial = st->job_serial;
	kept.touched = st->touched;
	kept.evloop = st->evloop;
	kept.reply_calls = st->reply_calls;
	kept.door_reader = st->door_reader;
	kept.loop_trial = st->loop_trial;
	kept.pool_hidden = st->pool_hidden;
	/* its time between requests: counted or not as after its last one */
	kept.uncounted = st->uncounted & KRT_UNCOUNTED_IDLE;
	*st = kept;
}

void krt_forget_threads(struct krt_thread_slot *slots, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		__u64 word = __atomic_load_n(&slots[i].tid, __ATOMIC_RELAXED);

		if (word == KRT_SLOT_FREE || (word & KRT_SLOT_FILL_BIT))
			continue;
		thread_forget_requests(&slots[i].st);
		/*
		 * A Go thread's goroutine (bpf/goroutines.bpf.h): the goroutine
		 * states go too, so the one it ran is not known any more; its
		 * slots are learnt again at its next hook.
		 */
		memset(&slots[i].go, 0, sizeof(slots[i].go));
	}
}

/*
 * A connection side keeps which end connected (client, origin_known: the
 * rules' server side, which a connection older than the pause cannot
 * learn again from its SYN) and what its peer is; its requests' queue and
 * traces go.
 */
static void conn_forget_requests(struct krt_conn_side *c)
{
	memset(&c->reqs, 0, sizeof(c->reqs));
	c->last_recv_trace = 0;
	c->connect_trace = 0;
	c->in_request = 0;
}

void krt_forget_conns(struct krt_conn_slot *slots, size_t n, bool all)
{
	for (size_t i = 0; i < n; i++) {
		__u64 word = __atomic_load_n(&slots[i].cookie, __ATOMIC_RELAXED);

		if (word == KRT_SLOT_FREE || (word & KRT_SLOT_FILL_BIT))
			continue;
		if (all)
			__sync_bool_compare_and_swap(&slots[i].cookie, word, KRT_SLOT_FREE);
		else
			conn_forget_requests(&slots[i].c);
	}
}

void krt_forget_dirs(struct krt_dir_slot *slots, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (__atomic_load_n(&slots[i].claim, __ATOMIC_RELAXED) == KRT_SLOT_USED)
			__sync_bool_compare_and_swap(&slots[i].claim, KRT_SLOT_USED, KRT_SLOT_FREE);
}

/* Keys taken out per batch (go_states holds up to 64 k goroutines). */
#define FORGET_BATCH 1024

/* Without the batch commands (kernels before 5.6): key by key. */
static int forget_map_by_key(int fd, __u32 key_size)
{
	char *key = calloc(2, key_size), *next = key + key_size;
	int err = 0;

	if (!key)
		return -ENOMEM;
	/* the first key each time: the one after a deleted key may not be found */
	while (!bpf_map_get_next_key(fd, NULL, next)) {
		memcpy(key, next, key_size);
		if (bpf_map_delete_elem(fd, key) && errno != ENOENT) {
			err = -errno;
			break;
		}
	}
	free(key);
	return err;
}

int krt_forget_map(int fd)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	__u64 token = 0;
	bool first = true;
	char *keys, *vals;
	int err;

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	keys = malloc((size_t)FORGET_BATCH * info.key_size);
	vals = malloc((size_t)FORGET_BATCH * info.value_size);
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (;;) {
		__u32 count = FORGET_BATCH;

		err = bpf_map_lookup_and_delete_batch(fd, first ? NULL : &token, &token, keys, vals,
						      &count, NULL);
		first = false;
		if (err == -ENOENT) { /* the end of the map */
			err = 0;
			break;
		}
		/* no batch command (524: the kernel's ENOTSUPP), or a bucket past a batch */
		if (err == -EINVAL || err == -EOPNOTSUPP || err == -524 || err == -ENOSPC) {
			err = forget_map_by_key(fd, info.key_size);
			break;
		}
		if (err)
			break;
	}
	free(keys);
	free(vals);
	return err;
}
