/*
 * Engine threads: the registry (tid -> identity, container, entry
 * connections), and the identity of addresses (gateway, containers by IP).
 * It knows nothing of traces: a thread's trace changes in engine_trace.c.
 */
#include "engine_internal.h"

static const char *intern(struct krt_engine *e, const char *name)
{
	size_t i;

	if (!name || !*name)
		return "";
	for (i = 0; i < e->n_names; i++)
		if (!strcmp(e->names[i], name))
			return e->names[i];
	e->names = eng_xrealloc(e->names, (e->n_names + 1) * sizeof(*e->names));
	e->names[e->n_names] = strdup(name);
	if (!e->names[e->n_names]) {
		fprintf(stderr, "krtrace: engine: out of memory\n");
		abort();
	}
	return e->names[e->n_names++];
}

bool eng_is_gateway(const struct krt_engine *e, const struct krt_addr *a)
{
	return e->cfg.gateway.family && krt_ip_eq(a, &e->cfg.gateway);
}

/* The listed pids change when live discovery adds containers: rebuild lazily. */
static void listed_rebuild(struct krt_engine *e)
{
	const struct krt_pids *p = e->cfg.pids;
	size_t i, cap = 16;

	while (p && cap < p->n * 4)
		cap *= 2;
	free(e->listed);
	e->listed = eng_xcalloc(cap, sizeof(*e->listed));
	e->listed_cap = cap;
	e->listed_src_gen = p ? p->gen : 0;
	e->listed_src = p;
	for (i = 0; p && i < p->n; i++) {
		__u32 pid = p->v[i].pid;
		size_t j = mix64(pid) & (cap - 1);

		if (!pid)
			continue;
		while (e->listed[j].pid && e->listed[j].pid != pid)
			j = (j + 1) & (cap - 1);
		if (!e->listed[j].pid) {
			e->listed[j].pid = pid;
			e->listed[j].idx = i;
		}
	}
}

/* The container entry listing pid, or NULL. */
static const struct krt_container *listed_find(struct krt_engine *e, __u32 pid)
{
	const struct krt_pids *p = e->cfg.pids;
	size_t j;

	if (!p || !pid)
		return NULL;
	if (e->listed_src != p || e->listed_src_gen != p->gen || !e->listed)
		listed_rebuild(e);
	j = mix64(pid) & (e->listed_cap - 1);
	while (e->listed[j].pid) {
		if (e->listed[j].pid == pid)
			return &p->v[e->listed[j].idx];
		j = (j + 1) & (e->listed_cap - 1);
	}
	return NULL;
}

const struct krt_container *eng_container_by_ip(struct krt_engine *e, const struct krt_addr *ip,
						size_t *count)
{
	const struct krt_pids *p = e->cfg.pids;
	const struct krt_container *found = NULL;
	size_t i;

	*count = 0;
	for (i = 0; p && i < p->n; i++) {
		if (krt_ip_eq(&p->v[i].ip, ip)) {
			if (!found)
				found = &p->v[i];
			(*count)++;
		}
	}
	return found;
}

static bool thread_eq(const void *obj, const void *key)
{
	return ((const struct thread *)obj)->tid == *(const __u32 *)key;
}

struct thread *eng_thread_find_slow(struct krt_engine *e, __u32 tid)
{
	struct thread *t;

	if (!tid)
		return NULL;
	t = eng_table_find(&e->threads, mix64(tid), &tid, thread_eq);
	if (t)
		e->thread_cache[tid & (ENG_THREAD_CACHE - 1)] = t;
	return t;
}

struct thread *eng_thread_new(struct krt_engine *e, __u32 tid, __u32 pid, const char *comm)
{
	struct thread *t = eng_xcalloc(1, sizeof(*t));
	const struct krt_container *c;

	t->tid = tid;
	t->pid = pid;
	t->container = "";
	if (comm)
		memcpy(t->comm, comm, KRT_COMM_LEN);
	t->comm[KRT_COMM_LEN - 1] = 0;
	if ((c = listed_find(e, tid))) {
		t->container = intern(e, c->name);
		if (!t->pid)
			t->pid = tid; /* a listed pid is a process: tgid == tid */
	} else if ((c = listed_find(e, pid))) {
		t->container = intern(e, c->name);
	}
	eng_table_insert(&e->threads, mix64(tid), t);
	return t;
}

/*
 * The current task of a non-SWITCH event: traced by definition (sources
 * already filter), created on first sight.
 */
struct thread *eng_thread_touch(struct krt_engine *e, __u32 tid, __u32 pid, const char *comm)
{
	struct thread *t;

	if (!tid)
		return NULL;
	t = eng_thread_find(e, tid);
	if (!t)
		t = eng_thread_new(e, tid, pid, comm);
	t->traced = true;
	if (pid && !t->pid)
		t->pid = pid;
	/* the same bytes (the common case) in two loads, before the string compare */
	if (comm && comm[0] && memcmp(t->comm, comm, KRT_COMM_LEN) &&
	    strncmp(t->comm, comm, KRT_COMM_LEN)) {
		memcpy(t->comm, comm, KRT_COMM_LEN);
		t->comm[KRT_COMM_LEN - 1] = 0;
	}
	return t;
}

/* A thread named in a SWITCH/WAKEUP: known, or listed in the PIDs file. */
struct thread *eng_thread_listed_or_known(struct krt_engine *e, __u32 tid, __u32 pid,
					  const char *comm)
{
	struct thread *t;

	if (!tid)
		return NULL;
	t = eng_thread_find(e, tid);
	if (t)
		return t;
	if (listed_find(e, tid) || listed_find(e, pid)) {
		t = eng_thread_new(e, tid, pid, comm);
		t->traced = true;
	}
	return t;
}

/* Import fallback: the container whose IP is the thread's local socket IP. */
void eng_thread_container_by_ip(struct krt_engine *e, struct thread *t,
				const struct krt_addr *local)
{
	const struct krt_container *c;
	size_t n;

	if (t->container[0] || krt_ip_eq(&t->ip_checked, local))
		return;
	t->ip_checked = *local;
	c = eng_container_by_ip(e, local, &n);
	if (!c)
		return;
	t->container = intern(e, c->name);
	if (!t->pid)
		t->pid = n == 1 ? c->pid : t->tid;
}

void eng_thread_add_entry(struct thread *t, __u64 trace, __u64 dir_serial)
{
	unsigned int i;

	for (i = 0; i < RECENT_ENTRIES; i++) {
		if (t->recent[i].trace == trace && t->recent[i].dir_serial == dir_serial)
			return;
	}
	t->recent[t->recent_next].trace = trace;
	t->recent[t->recent_next].dir_serial = dir_serial;
	t->recent_next = (t->recent_next + 1) % RECENT_ENTRIES;
}

bool eng_thread_has_entry(const struct thread *t, __u64 trace, __u64 dir_serial)
{
	unsigned int i;

	for (i = 0; i < RECENT_ENTRIES; i++) {
		if (t->recent[i].trace == trace && t->recent[i].dir_serial == dir_serial)
			return true;
	}
	return false;
}

/* Thread t leaves the registry (its trace was let go by the caller). */
void eng_thread_forget(struct krt_engine *e, struct thread *t)
{
	eng_table_remove(&e->threads, mix64(t->tid), t);
	if (e->thread_cache[t->tid & (ENG_THREAD_CACHE - 1)] == t)
		e->thread_cache[t->tid & (ENG_THREAD_CACHE - 1)] = NULL;
	free(t);
}

/*
 * A sampling pause (KRT_EV_PAUSE): t forgets every request and everything
 * it learned of them (its trace, queues, hand-offs, loop and goroutine
 * state, what the pool rules deduced), as a thread a freshly started
 * engine meets mid-traffic. Kept: who it is (identity, container, traced:
 * its fork is not seen again). The caller ended its time on CPU and let
 * its traces go.
 */
void eng_thread_restart(struct thread *t)
{
	struct thread keep = *t;

	memset(t, 0, sizeof(*t));
	t->tid = keep.tid;
	t->pid = keep.pid;
	memcpy(t->comm, keep.comm, sizeof(t->comm));
	t->container = keep.container;
	t->traced = keep.traced;
	t->go_thread = keep.go_thread; /* import: a goroutine's unit stays one */
	t->ip_checked = keep.ip_checked;
	/*
	 * Structure, not request state: a loop its pool's workers hand jobs
	 * back to stays one (how it reads them too). Its first replies after
	 * the pause answer requests read before it, whose jobs come back after
	 * it: a loop not known as one would let the next known reply take
	 * such a job, and every later one its predecessor's (engine_conn.c
	 * reply_unseen). Its hand-backs are in doubt until its jobs and
	 * replies are seen in step (engine_pool.c, handback_unsettled).
	 */
	t->handback_known = keep.handback_known;
	t->reads_batched = keep.reads_batched;
	t->handback_unsettled = keep.handback_known;
	/*
	 * An event loop may still serve requests read before the pause: its
	 * first receives and replies after it are checked for them
	 * (engine_unseen.c).
	 */
	t->loop_after_pause = true;
	t->proc_io_multi_ever = keep.proc_io_multi_ever || keep.proc_io_multi;
}
