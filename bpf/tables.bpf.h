/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The state tables: threads, connection sides and connection directions,
 * open-addressed in arrays, all claimed by one protocol (slot_take).
 */
#ifndef KRT_TABLES_BPF_H
#define KRT_TABLES_BPF_H

#include "common.bpf.h"

/*
 * Thread, connection and direction state: open-addressed tables in arrays,
 * indexed by the low bits of tid / socket cookie / a hash of the direction
 * and probed over KRT_PROBES slots. A lookup is a few inlined array
 * accesses: the hash maps' lookups cost about a third of the programs'
 * time, and a fallback from a table to a hash map gave the verifier two
 * kinds of pointer to follow per lookup (loading took a second). Entries
 * leave at thread exit and socket close; a state that finds every probed
 * slot held is not kept (counted). User space reads the threads' and
 * directions' tables at exit, and sweeps all three for states untouched
 * longer than the idle time (mmapped; live_source.c, krt_live_sweep).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KRT_THREAD_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct krt_thread_slot);
} thread_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KRT_CONN_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct krt_conn_slot);
} conn_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KRT_DIR_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct krt_dir_slot);
} dir_slots SEC(".maps");

/*
 * One turn of waiting for a slot being filled: a clock read (about 40 ns
 * here), so that KRT_FILL_WAIT turns span microseconds, the time another
 * CPU's few writes take when they fight us for the cache line, without a
 * loop the verifier would walk thousands of times.
 */
#define KRT_FILL_WAIT 128

static __always_inline void fill_wait_turn(void)
{
	bpf_ktime_get_ns();
}

/*
 * The claim protocol of every state table, in three steps. A free slot
 * (word 0) is claimed by compare-and-swap under a "being filled" value
 * (slot_claim), zeroed and filled, then published with its owner's value
 * (slot_publish): a hook that still wrote through a pointer to the slot's
 * previous state (another CPU, as it was freed) leaves nothing behind.
 * Another CPU that finds the same fill value (the same owner being
 * created, or for the directions an anonymous fill whose key it cannot
 * read yet) waits for the owner to appear (slot_wait), briefly (hooks run
 * with preemption off), rather than make a second entry.
 *
 * Each caller returns straight from the wait's outcome: a result checked
 * again after the helper gave the verifier twice the paths to walk.
 */
static __always_inline bool slot_claim(__u64 *word, __u64 fill, __u64 *cur)
{
	*cur = *word;
	if (*cur != KRT_SLOT_FREE)
		return false;
	*cur = __sync_val_compare_and_swap(word, KRT_SLOT_FREE, fill);
	return *cur == KRT_SLOT_FREE;
}

/*
 * Waits while the slot is being filled (word == fill): true when it ends
 * up owner's, false when it still is being filled after KRT_FILL_WAIT
 * turns (go without; counted), or went to someone else.
 */
static __always_inline bool slot_wait(__u64 *word, __u64 fill, __u64 owner)
{
	int i;

	/* volatile: a load per turn, not one hoisted out of the loop */
	for (i = 0; i < KRT_FILL_WAIT && *(volatile __u64 *)word == fill; i++)
		fill_wait_turn();
	if (*word == owner)
		return true;
	if (*word != fill)
		return false;
	/* still being filled (its filler interrupted): none this time */
	__sync_fetch_and_add(&slot_busy, 1);
	return false;
}

/* The slot claimed at probe p is filled: it is its owner's from now. */
static __always_inline void slot_publish(__u64 *word, __u64 fill, __u64 owner, __u32 p)
{
	__sync_val_compare_and_swap(word, fill, owner);
	if (p)
		__sync_fetch_and_add(&slot_probed, 1);
}

/* The slot goes back to the free ones, if owner still holds it. */
static __always_inline void slot_free(__u64 *word, __u64 owner)
{
	__sync_val_compare_and_swap(word, owner, KRT_SLOT_FREE);
}

/* Every probed slot was held by others: the state is not kept. */
static __always_inline void *slot_none_free(void)
{
	__sync_fetch_and_add(&slot_full, 1);
	return NULL;
}

/*
 * A state looked up is stamped with the epoch (user space reclaims the ones
 * left untouched). Stored on every lookup: stored only when it changed
 * (once a second) saved a waker's or receiver's store to another CPU's
 * line, 5-10 ns per switch hit and nothing measurable on transfers, but
 * the compare in every lookup took krt_sock_recv's verifier count from
 * 276k to 390k instructions and krt_sys_exit's from 401k to 528k.
 */
static __always_inline void touch(__u16 *touched)
{
	__u16 now = krt_epoch;

	*touched = now;
}

static __always_inline struct krt_thread_slot *thread_probe(__u32 tid, __u32 p)
{
	__u32 i = (tid + p) & thread_slot_mask;

	return bpf_map_lookup_elem(&thread_slots, &i);
}

/* Thread tid's state, or NULL when it has none (tid 0, the idle task, never has). */
static __always_inline struct krt_thread_state *thread_find(__u32 tid)
{
	struct krt_thread_slot *s;
	__u32 p;

	if (!tid)
		return NULL;
	for (p = 0; p < KRT_PROBES; p++) {
		s = thread_probe(tid, p);
		if (s && s->tid == tid) {
			touch(&s->st.touched);
			return &s->st;
		}
	}
	return NULL;
}

/* Thread tid's state, created when missing in the first free probed slot. */
static __always_inline struct krt_thread_state *thread_get(__u32 tid)
{
	struct krt_thread_state *t = thread_find(tid);
	struct krt_thread_slot *s;
	__u64 fill = tid | KRT_SLOT_FILL_BIT, cur;
	__u32 p;

	if (t || !tid)
		return t;
	for (p = 0; p < KRT_PROBES; p++) {
		s = thread_probe(tid, p);
		if (!s)
			return NULL;
		if (slot_claim(&s->tid, fill, &cur)) {
			__builtin_memset(&s->st, 0, sizeof(s->st));
			__builtin_memset(&s->go, 0, sizeof(s->go));
			s->st.touched = krt_epoch;
			/*
			 * Made for the running thread by a hook other than the
			 * switch's: its switch-in went unseen (the test bed's
			 * kernel does not always run sched_switch: 3 new
			 * threads of 240 in two recordings ran first with no
			 * switch-in, their requests' CPU then 0), so its
			 * time counts from now, as a switch-in starts it
			 * (cpu.bpf.h). The switch hook makes the next task's
			 * state, never the current one's.
			 */
			if (cpu_in_kernel && tid == (__u32)bpf_get_current_pid_tgid())
				s->st.oncpu_since = bpf_ktime_get_ns();
			slot_publish(&s->tid, fill, tid, p);
			return &s->st;
		}
		if (cur == fill || cur == tid)
			return slot_wait(&s->tid, fill, tid) ? &s->st : NULL;
	}
	return slot_none_free();
}

/*
 * The goroutine part of thread state t's slot (struct krt_thread_slot .go):
 * t is &slot->st, a map value pointer; the offset between them is constant.
 */
static __always_inline struct krt_go_running *thread_go(struct krt_thread_state *t)
{
	if (!t)
		return NULL;
	return (struct krt_go_running *)((char *)t +
					 (__builtin_offsetof(struct krt_thread_slot, go) -
					  __builtin_offsetof(struct krt_thread_slot, st)));
}

/* The thread state beside goroutine part run (thread_go's inverse). */
static __always_inline struct krt_thread_state *go_thread_state(struct krt_go_running *run)
{
	return (struct krt_thread_state *)((char *)run -
					   (__builtin_offsetof(struct krt_thread_slot, go) -
					    __builtin_offsetof(struct krt_thread_slot, st)));
}

/* Thread tid's state goes (exit, or a tid reused by a new thread). */
static __always_inline void thread_forget(__u32 tid)
{
	struct krt_thread_slot *s;
	__u32 p;

	if (!tid)
		return;
	for (p = 0; p < KRT_PROBES; p++) {
		s = thread_probe(tid, p);
		if (s && s->tid == tid) {
			slot_free(&s->tid, tid);
			return;
		}
	}
}

/* The thread's current trace, 0 when it has none or is not known. */
static __always_inline __u32 thread_trace(__u32 tid)
{
	struct krt_thread_state *t = thread_find(tid);

	return t ? t->trace : 0;
}

/* The thread read bytes whose tag is not stored yet. */
static __always_inline bool thread_pending(__u32 tid)
{
	struct krt_thread_state *t = thread_find(tid);

	return t && t->tag_pending;
}

/*
 * Claim end (enum krt_claim): idle is not request time. A thread that
 * answered its request and now blocks is done with it, and so is one woken
 * with a trace that blocks again having sent nothing (another worker took
 * the job: one condvar signal, several workers).
 */
static __always_inline bool claim_ends(const struct krt_thread_state *t, __s64 state)
{
	return state && t->trace && t->claim != KRT_CLAIM_OPEN;
}

static __always_inline void claim_end(struct krt_thread_state *t)
{
	t->trace = 0;
	t->claim = KRT_CLAIM_OPEN;
	t->entry_cookie = 0;
	t->maybe_unsampled = 0;
}

static __always_inline struct krt_conn_slot *conn_probe(__u64 cookie, __u32 p)
{
	__u32 i = ((__u32)cookie + p) & conn_slot_mask;

	return bpf_map_lookup_elem(&conn_slots, &i);
}

/* Connection side cookie's state, or NULL (cookies start at 1). */
static __always_inline struct krt_conn_side *conn_find(__u64 cookie)
{
	struct krt_conn_slot *s;
	__u32 p;

	if (!cookie)
		return NULL;
	for (p = 0; p < KRT_PROBES; p++) {
		s = conn_probe(cookie, p);
		if (s && s->cookie == cookie) {
			touch(&s->c.touched);
			return &s->c;
		}
	}
	return NULL;
}

/*
 * Side c (tuple t) is a connection's server side: it did not connect
 * (SYN_SENT seen), or, for a connection older than the tracer, it has the
 * lower port (servers listen on low ports, clients get ephemeral ones).
 */
static __always_inline bool conn_side_serves(const struct krt_conn_side *c,
					     const struct krt_tuple *t)
{
	return c->origin_known ? !c->client : t->local.port < t->remote.port;
}

/* Connection side cookie's state, created when missing, as thread_get. */
static __always_inline struct krt_conn_side *conn_get(__u64 cookie)
{
	struct krt_conn_side *c = conn_find(cookie);
	struct krt_conn_slot *s;
	__u64 fill = cookie | KRT_SLOT_FILL_BIT, cur;
	__u32 p;

	if (c || !cookie)
		return c;
	for (p = 0; p < KRT_PROBES; p++) {
		s = conn_probe(cookie, p);
		if (!s)
			return NULL;
		if (slot_claim(&s->cookie, fill, &cur)) {
			__builtin_memset(&s->c, 0, sizeof(s->c));
			s->c.touched = krt_epoch;
			slot_publish(&s->cookie, fill, cookie, p);
			return &s->c;
		}
		if (cur == fill || cur == cookie)
			return slot_wait(&s->cookie, fill, cookie) ? &s->c : NULL;
	}
	return slot_none_free();
}

/* The socket closed: its state goes. */
static __always_inline void conn_forget(__u64 cookie)
{
	struct krt_conn_slot *s;
	__u32 p;

	if (!cookie)
		return;
	for (p = 0; p < KRT_PROBES; p++) {
		s = conn_probe(cookie, p);
		if (s && s->cookie == cookie) {
			slot_free(&s->cookie, cookie);
			return;
		}
	}
}

static __always_inline void dir_key(struct krt_dir_key *k, const struct krt_addr *src,
				    const struct krt_addr *dst)
{
	__builtin_memcpy(k->saddr, src->addr, 16);
	__builtin_memcpy(k->daddr, dst->addr, 16);
	k->sport = src->port;
	k->dport = dst->port;
	k->family = src->family;
}

/* Direction k's first slot: a multiplicative hash of the key's ten words. */
static __always_inline __u32 dir_hash(const struct krt_dir_key *k)
{
	const __u32 *w = (const __u32 *)k;
	__u32 h = 0, i;

	for (i = 0; i < sizeof(*k) / 4; i++)
		h = (h ^ w[i]) * 0x9e3779b1u;
	return h ^ (h >> 15);
}

static __always_inline struct krt_dir_slot *dir_probe(__u32 h, __u32 p)
{
	__u32 i = (h + p) & dir_slot_mask;

	return bpf_map_lookup_elem(&dir_slots, &i);
}

static __always_inline bool dir_key_eq(const struct krt_dir_key *a, const struct krt_dir_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	__u32 d = 0, i;

	for (i = 0; i < sizeof(*a) / 4; i++)
		d |= x[i] ^ y[i];
	return !d;
}

/* Direction k's state, or NULL. */
static __always_inline struct krt_dir_tags *dir_find(const struct krt_dir_key *k)
{
	__u32 h = dir_hash(k), p;
	struct krt_dir_slot *s;

	for (p = 0; p < KRT_PROBES; p++) {
		s = dir_probe(h, p);
		if (s && s->claim == KRT_SLOT_USED && dir_key_eq(&s->key, k)) {
			touch(&s->dt.touched);
			return &s->dt;
		}
	}
	return NULL;
}

/*
 * Direction k's state; created when missing, as thread_get. The key is
 * written while the slot is marked "being filled", so a CPU that finds
 * that mark cannot tell whose it is: it waits. A connection's first send
 * and first receive often create its direction at the same moment on two
 * CPUs, and two entries would split it (sender and receiver each with
 * their own); if the mark stays, the transfer goes without (untagged, for
 * the engine's rules).
 */
static __always_inline struct krt_dir_tags *dir_get(const struct krt_dir_key *k)
{
	struct krt_dir_tags *dt = dir_find(k);
	__u32 h = dir_hash(k), p;
	struct krt_dir_slot *s;
	__u64 cur;

	if (dt)
		return dt;
	for (p = 0; p < KRT_PROBES; p++) {
		s = dir_probe(h, p);
		if (!s)
			return NULL;
		if (slot_claim(&s->claim, KRT_SLOT_FILLING, &cur)) {
			/* zeroed here, not at the free: see slot_claim */
			__builtin_memset(&s->dt, 0, sizeof(s->dt));
			s->dt.touched = krt_epoch;
			__builtin_memcpy(&s->key, k, sizeof(*k));
			slot_publish(&s->claim, KRT_SLOT_FILLING, KRT_SLOT_USED, p);
			return &s->dt;
		}
		if (cur == KRT_SLOT_FILLING) {
			if (!slot_wait(&s->claim, KRT_SLOT_FILLING, KRT_SLOT_USED))
				return NULL;
			cur = KRT_SLOT_USED;
		}
		if (cur == KRT_SLOT_USED && dir_key_eq(&s->key, k)) {
			touch(&s->dt.touched);
			return &s->dt;
		}
	}
	return slot_none_free();
}

/* Direction k leaves (its connection closed). */
static __always_inline void dir_forget(const struct krt_dir_key *k)
{
	__u32 h = dir_hash(k), p;
	struct krt_dir_slot *s;

	for (p = 0; p < KRT_PROBES; p++) {
		s = dir_probe(h, p);
		if (s && s->claim == KRT_SLOT_USED && dir_key_eq(&s->key, k)) {
			slot_free(&s->claim, KRT_SLOT_USED);
			return;
		}
	}
}

#endif /* KRT_TABLES_BPF_H */
