/*
 * Normaliser: parsed ftrace records -> struct krt_event (docs/design.md, "Data path").
 *
 * What the events of the contract tell, and how they are joined:
 * - sys_enter_X / sys_exit_X of the same thread bracket one syscall; the
 *   exit's ret is the byte count.
 * - tcp_rcv_space_adjust fires inside a receive, on the receiving socket:
 *   local = saddr:sport, remote = daddr:dport. Outside a listed receive
 *   (readv) it still means "the queue was consumed": a RECV of unknown size.
 * - tcp_probe fires on the socket that RECEIVES the segment, usually in the
 *   sender's context inside its send syscall (loopback, veth). So the
 *   sender's connection is the probe's tuple reversed, and the send is
 *   emitted at the probe so that it precedes the receiver's RECV. It may also
 *   fire in the receiver's context (socket backlog processed at release),
 *   for retransmissions, or for sends through unlisted syscalls (writev).
 *   Probes with data_len 0 are ACKs and carry nothing.
 *
 * fd -> connection is remembered per THREAD. fd numbers are per process,
 * but an import cannot tell a thread from a process: sched_process_fork
 * looks the same for both, and two worker processes reuse fd numbers. A
 * per-thread map is never wrong; its cost is a miss when one thread reads
 * a socket and another writes it without any tcp event inside the write:
 * such a write is held ("pending") until a later probe of the receiver
 * claims it, else counted with the non-socket I/O, never guessed.
 *
 * A send emitted without its probe (fd map, or the reconciled rest of a
 * large send) leaves a "debt" on its direction: the probes that show up
 * later, in other contexts, pay it off instead of counting twice.
 *
 * What is known about a socket is keyed by its connection (local and remote
 * end), never by the local end alone: every connection accepted by a server
 * shares the server's address and port.
 *
 * Every table is bounded: caches (fds, connections, send debts) are cleared
 * when full, thread state is refused (and counted) beyond its bound.
 *
 * Goroutines (a capture with Go's uprobe events: docs/handoffs.md,
 * "Goroutine events in a capture"): the events of a Go thread belong to the goroutine that runs on
 * it, the last go_execute there, as in the live path (bpf/goroutines.bpf.h). Each goroutine is a
 * unit of its own for the engine (a tid from KRT_GO_UNIT_BASE up): its transfers, CPU and switches
 * go out under that tid, and starts and ready hand-offs as KRT_EV_GO, whose rules the engine
 * applies (engine_go.c). A goroutine is known by its process (the capture's
 * process key) and runtime.g; a g reused for a new goroutine is a new unit.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "ftrace_normalize.h"

#define MAX_THREADS (1u << 18)
#define MAX_FDS (1u << 19)
#define MAX_CONNS (1u << 19)
#define MAX_DEBTS (1u << 17)
#define MAX_PORT_PAIRS (1u << 18)
#define MAX_GOROUTINES (1u << 20)
#define MAX_GO_PROCS 4096
/* fd tables of Go processes: ids outside tids' and goroutine units' ranges */
#define GO_FD_OWNER_BASE 0xc0000000u
/* Threads with a send whose connection is not known yet. */
#define MAX_UNRESOLVED 128

#define TCP_STATE_CLOSE 7

/* ---- a small open-addressing hash table (linear probing) ----------------- */

/* A slot: 8 bytes of "used" flag, the key, then the value, each 8-aligned. */
#define ALIGN8(x) (((x) + 7) & ~(size_t)7)
#define SLOT_KEY 8

struct htab {
	unsigned char *slots;
	size_t key_size, val_size, slot_size, val_off;
	size_t cap, n, max;
};

static bool htab_init(struct htab *h, size_t key_size, size_t val_size, size_t max)
{
	h->key_size = key_size;
	h->val_size = val_size;
	h->val_off = SLOT_KEY + ALIGN8(key_size);
	h->slot_size = h->val_off + ALIGN8(val_size);
	h->cap = 64;
	h->n = 0;
	h->max = max;
	h->slots = calloc(h->cap, h->slot_size);
	return h->slots != NULL;
}

static void htab_free(struct htab *h)
{
	free(h->slots);
	h->slots = NULL;
}

static void htab_clear(struct htab *h)
{
	memset(h->slots, 0, h->cap * h->slot_size);
	h->n = 0;
}

static __u64 hash_key(const void *key, size_t n)
{
	const unsigned char *p = key;
	__u64 h = 0x9e3779b97f4a7c15ULL ^ n;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		__u64 w;

		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	for (; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	h ^= h >> 29;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 32);
}

static inline unsigned char *slot_at(const struct htab *h, size_t i)
{
	return h->slots + i * h->slot_size;
}

static void *htab_find(const struct htab *h, const void *key)
{
	size_t mask = h->cap - 1, i = hash_key(key, h->key_size) & mask;

	for (;;) {
		unsigned char *s = slot_at(h, i);

		if (!s[0])
			return NULL;
		if (!memcmp(s + SLOT_KEY, key, h->key_size))
			return s + h->val_off;
		i = (i + 1) & mask;
	}
}

static bool htab_grow(struct htab *h)
{
	struct htab bigger = *h;
	size_t i;

	bigger.cap = h->cap * 2;
	bigger.n = 0;
	bigger.slots = calloc(bigger.cap, h->slot_size);
	if (!bigger.slots)
		return false;
	for (i = 0; i < h->cap; i++) {
		unsigned char *s = slot_at(h, i);
		size_t mask = bigger.cap - 1, j;

		if (!s[0])
			continue;
		j = hash_key(s + SLOT_KEY, h->key_size) & mask;
		while (slot_at(&bigger, j)[0])
			j = (j + 1) & mask;
		memcpy(slot_at(&bigger, j), s, h->slot_size);
		bigger.n++;
	}
	free(h->slots);
	*h = bigger;
	return true;
}

/* Finds or inserts (value zeroed); NULL when the table is at its bound. */
static void *htab_get(struct htab *h, const void *key, bool *created)
{
	size_t mask, i;
	void *v = htab_find(h, key);

	if (created)
		*created = false;
	if (v)
		return v;
	if (h->n >= h->max)
		return NULL;
	if ((h->n + 1) * 2 > h->cap && !htab_grow(h))
		return NULL;
	mask = h->cap - 1;
	i = hash_key(key, h->key_size) & mask;
	while (slot_at(h, i)[0])
		i = (i + 1) & mask;
	{
		unsigned char *s = slot_at(h, i);

		memset(s, 0, h->slot_size);
		s[0] = 1;
		memcpy(s + SLOT_KEY, key, h->key_size);
		h->n++;
		if (created)
			*created = true;
		return s + h->val_off;
	}
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void htab_del(struct htab *h, const void *key)
{
	size_t mask = h->cap - 1, i = hash_key(key, h->key_size) & mask, j;

	for (;;) {
		unsigned char *s = slot_at(h, i);

		if (!s[0])
			return;
		if (!memcmp(s + SLOT_KEY, key, h->key_size))
			break;
		i = (i + 1) & mask;
	}
	j = i;
	for (;;) {
		size_t home;
		unsigned char *sj;

		j = (j + 1) & mask;
		sj = slot_at(h, j);
		if (!sj[0])
			break;
		home = hash_key(sj + SLOT_KEY, h->key_size) & mask;
		/* Move sj back into the hole unless its home lies in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			memcpy(slot_at(h, i), sj, h->slot_size);
			i = j;
		}
	}
	slot_at(h, i)[0] = 0;
	h->n--;
}

/* ---- normaliser state ---------------------------------------------------- */

enum tuple_source {
	TUPLE_NONE = 0,
	TUPLE_FDMAP,  /* remembered from an earlier transfer on this fd */
	TUPLE_PROBE,  /* a tcp_probe inside this send */
	TUPLE_ADJUST, /* a tcp_rcv_space_adjust inside this receive */
};

struct nthread {
	__u8 in_sys;	  /* enum krt_rp_sys, 0 = not in a listed syscall */
	__u8 tuple_src;	  /* enum tuple_source */
	bool probe_nolen; /* a probe without data_len: bytes known at exit only */
	bool pending;	  /* a finished send whose connection is unknown */
	bool p_notified;  /* the pending send went out as a KRT_EV_NOTIFY too */
	__u64 asked;	  /* the syscall's buffer size, 0 = not known */
	bool unresolved;  /* listed in n->unresolved */
	bool tcp_wakes;	  /* its last event was a tcp_probe: wake-ups now are the socket's */
	__u16 syscall_nr;
	__s32 fd;
	__u64 enter_ns;
	__u64 probe_bytes; /* bytes already emitted from probes in this send */
	__u64 sock_id;
	struct krt_tuple tuple;
	/* the pending send */
	__s32 p_fd;
	__u16 p_nr;
	__u64 p_bytes, p_enter_ns;
	char comm[KRT_COMM_LEN];
	/* the goroutine running on it (its unit, its goid), 0: none known */
	__u32 go_unit;
	__u64 go_goid;
	/* a Go thread: its process's fd table (go_procs), 0: its own */
	__u32 fd_owner;
};

/* A goroutine: its process (the capture's key) and runtime.g. */
struct go_key {
	__u64 proc, g;
};

struct ngo {
	__u32 unit;   /* its tid for the engine */
	__u32 on_tid; /* the thread it last ran on (may have left it) */
	__u64 goid;   /* 0 until its first go_execute */
};

struct fd_key {
	__u32 tid;
	__s32 fd;
};

struct fd_val {
	struct krt_tuple tuple;
	__u64 sock_id;
};

enum conn_flags {
	CONN_SENT_SYSCALL = 1 << 0, /* a listed send syscall sent on this socket */
	CONN_SENT_NOSYS = 1 << 1,   /* sends seen only as probes (writev) */
};

#define CONN_FDS 6

/* One socket, seen from its own end: key = its tuple (local = this socket). */
struct conn_val {
	__u32 recv_tid; /* last traced thread that received on it */
	__u32 flags;
	/* fd-map entries naming this socket, forgotten when it closes */
	struct fd_key fds[CONN_FDS];
	__u32 n_fds;
};

struct krt_normalizer {
	krt_norm_emit_fn emit;
	void *ctx;
	struct krt_norm_stats st;
	__u64 last_ts;
	struct htab threads;	/* tid -> struct nthread */
	struct htab fds;	/* (tid, fd) -> struct fd_val */
	struct htab conns;	/* struct krt_tuple -> struct conn_val */
	struct htab debts;	/* send direction (struct krt_tuple) -> __u64 bytes */
	struct htab port_pairs; /* (local port, remote port) -> struct krt_tuple */
	struct htab goroutines; /* struct go_key -> struct ngo */
	struct htab go_procs;	/* a Go process's key -> its fd table's owner id */
	__u32 next_unit;	/* the next goroutine's unit, from KRT_GO_UNIT_BASE */
	__u32 unresolved[MAX_UNRESOLVED];
	int n_unresolved;
	struct krt_addr gateway; /* family 0: not known */
	FILE *verbose;		 /* -V: the normaliser's own decisions */
	/* losses already handed on as LOST events, and when the last went */
	__u64 table_full_reported, unresolved_reported, reordered_reported, loss_report_ts;
};

struct krt_normalizer *krt_norm_new(krt_norm_emit_fn emit, void *ctx)
{
	struct krt_normalizer *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->emit = emit;
	n->ctx = ctx;
	if (!htab_init(&n->threads, sizeof(__u32), sizeof(struct nthread), MAX_THREADS) ||
	    !htab_init(&n->fds, sizeof(struct fd_key), sizeof(struct fd_val), MAX_FDS) ||
	    !htab_init(&n->conns, sizeof(struct krt_tuple), sizeof(struct conn_val), MAX_CONNS) ||
	    !htab_init(&n->debts, sizeof(struct krt_tuple), sizeof(__u64), MAX_DEBTS) ||
	    !htab_init(&n->port_pairs, sizeof(__u32), sizeof(struct krt_tuple), MAX_PORT_PAIRS) ||
	    !htab_init(&n->goroutines, sizeof(struct go_key), sizeof(struct ngo), MAX_GOROUTINES) ||
	    !htab_init(&n->go_procs, sizeof(__u64), sizeof(__u32), MAX_GO_PROCS)) {
		krt_norm_free(n);
		return NULL;
	}
	return n;
}

void krt_norm_free(struct krt_normalizer *n)
{
	if (!n)
		return;
	htab_free(&n->threads);
	htab_free(&n->fds);
	htab_free(&n->conns);
	htab_free(&n->debts);
	htab_free(&n->port_pairs);
	htab_free(&n->goroutines);
	htab_free(&n->go_procs);
	free(n);
}

const struct krt_norm_stats *krt_norm_stats(const struct krt_normalizer *n)
{
	return &n->st;
}

void krt_norm_set_gateway(struct krt_normalizer *n, const struct krt_addr *gateway)
{
	n->gateway = *gateway;
}

void krt_norm_set_verbose(struct krt_normalizer *n, FILE *f)
{
	n->verbose = f;
}

/* One -V line: what the import made of a report line that became no event. */
__attribute__((format(printf, 3, 4))) static void
note(struct krt_normalizer *n, const struct krt_report_record *r, const char *fmt, ...)
{
	va_list ap;

	if (!n->verbose)
		return;
	fprintf(n->verbose,
		"  %llu.%06llu %s[%u] import: ", (unsigned long long)(r->ts_ns / 1000000000ULL),
		(unsigned long long)(r->ts_ns % 1000000000ULL / 1000), r->comm, r->tid);
	va_start(ap, fmt);
	vfprintf(n->verbose, fmt, ap);
	va_end(ap);
	fputc('\n', n->verbose);
}

/* "S -> R" of a send direction, for notes. */
static const char *dir_str(const struct krt_tuple *t, char *buf, size_t len)
{
	char a[KRT_ADDR_STRLEN], b[KRT_ADDR_STRLEN];

	snprintf(buf, len, "%s -> %s", krt_addr_str(&t->local, a, sizeof(a)),
		 krt_addr_str(&t->remote, b, sizeof(b)));
	return buf;
}

/* Keys must have no stray bytes: addresses are compared as raw memory. */
static struct krt_addr clean_addr(const struct krt_addr *a)
{
	struct krt_addr c;

	memset(&c, 0, sizeof(c));
	c.family = a->family;
	c.port = a->port;
	memcpy(c.addr, a->addr, a->family == KRT_AF_INET ? 4 : 16);
	return c;
}

static struct krt_tuple reversed(const struct krt_tuple *t)
{
	struct krt_tuple r = {.local = t->remote, .remote = t->local};

	return r;
}

static bool tuple_eq(const struct krt_tuple *a, const struct krt_tuple *b)
{
	return krt_addr_eq(&a->local, &b->local) && krt_addr_eq(&a->remote, &b->remote);
}

static struct nthread *thread_find(struct krt_normalizer *n, __u32 tid)
{
	return htab_find(&n->threads, &tid);
}

static struct nthread *thread_get(struct krt_normalizer *n, __u32 tid)
{
	struct nthread *t = htab_get(&n->threads, &tid, NULL);

	if (!t)
		n->st.table_full++;
	return t;
}

static struct krt_tuple clean_tuple(const struct krt_tuple *t)
{
	struct krt_tuple k = {clean_addr(&t->local), clean_addr(&t->remote)};

	return k;
}

static struct conn_val *conn_find(struct krt_normalizer *n, const struct krt_tuple *t)
{
	struct krt_tuple k = clean_tuple(t);

	return htab_find(&n->conns, &k);
}

static struct conn_val *conn_get(struct krt_normalizer *n, const struct krt_tuple *t)
{
	struct krt_tuple k = clean_tuple(t);
	struct conn_val *v = htab_get(&n->conns, &k, NULL);

	if (!v) {
		/* A cache: forgetting old connections only costs precision. */
		n->st.table_full++;
		htab_clear(&n->conns);
		v = htab_get(&n->conns, &k, NULL);
	}
	return v;
}

static __u64 *debt_slot(struct krt_normalizer *n, const struct krt_tuple *t, bool create)
{
	struct krt_tuple k = clean_tuple(t);
	__u64 *d;

	if (!create)
		return htab_find(&n->debts, &k);
	d = htab_get(&n->debts, &k, NULL);
	if (!d) {
		n->st.table_full++;
		htab_clear(&n->debts);
		d = htab_get(&n->debts, &k, NULL);
	}
	return d;
}

static void debt_add(struct krt_normalizer *n, const struct krt_tuple *t, __u64 bytes)
{
	__u64 *d = debt_slot(n, t, true);

	if (d)
		*d += bytes;
}

/* Takes up to len bytes of debt; returns true if there was any. */
static bool debt_take(struct krt_normalizer *n, const struct krt_tuple *t, __u64 len)
{
	__u64 *d = debt_slot(n, t, false);
	struct krt_tuple k;

	if (!d || !*d)
		return false;
	if (len && len < *d) {
		*d -= len;
		return true;
	}
	k.local = clean_addr(&t->local);
	k.remote = clean_addr(&t->remote);
	htab_del(&n->debts, &k);
	return true;
}

/*
 * Whose fd table tid's fds are in: its own, or for a thread of a Go process
 * (known by its goroutine events) the process's. A goroutine uses its
 * connection on whichever thread runs it: a map per thread misses, and an
 * entry of a closed connection lingers on threads its close did not name.
 */
static __u32 fd_tid(struct krt_normalizer *n, __u32 tid)
{
	const struct nthread *t = tid ? thread_find(n, tid) : NULL;

	return t && t->fd_owner ? t->fd_owner : tid;
}

static const struct fd_val *fd_lookup(struct krt_normalizer *n, __u32 tid, __s32 fd)
{
	struct fd_key k = {fd_tid(n, tid), fd};

	if (fd < 0)
		return NULL;
	return htab_find(&n->fds, &k);
}

static void fd_remember(struct krt_normalizer *n, __u32 tid, __s32 fd, const struct krt_tuple *t,
			__u64 sock_id)
{
	struct fd_key k = {fd_tid(n, tid), fd};
	struct fd_val *v;
	struct conn_val *c;
	__u32 i;

	if (fd < 0)
		return;
	v = htab_get(&n->fds, &k, NULL);
	if (!v) {
		/* Full of sockets whose close was never seen: start afresh. */
		n->st.table_full++;
		htab_clear(&n->fds);
		v = htab_get(&n->fds, &k, NULL);
		if (!v)
			return;
	}
	v->tuple = *t;
	v->sock_id = sock_id;
	c = conn_get(n, t);
	if (!c)
		return;
	for (i = 0; i < c->n_fds; i++)
		if (c->fds[i].tid == k.tid && c->fds[i].fd == fd)
			return;
	if (c->n_fds < CONN_FDS)
		c->fds[c->n_fds++] = k;
	else
		c->fds[k.tid % CONN_FDS] = k; /* many threads on one socket: keep some */
}

static void unresolved_add(struct krt_normalizer *n, __u32 tid, struct nthread *t)
{
	if (t->unresolved)
		return;
	if (n->n_unresolved == MAX_UNRESOLVED) {
		/* Drop the oldest: its send stays unresolved (counted at its exit or here). */
		struct nthread *old = thread_find(n, n->unresolved[0]);

		if (old) {
			old->unresolved = false;
			if (old->pending) {
				old->pending = false;
				/* a local socket's send went out as a notification */
				if (!old->p_notified)
					n->st.non_socket_io++;
			}
		}
		memmove(n->unresolved, n->unresolved + 1,
			(MAX_UNRESOLVED - 1) * sizeof(n->unresolved[0]));
		n->n_unresolved--;
	}
	n->unresolved[n->n_unresolved++] = tid;
	t->unresolved = true;
}

static void unresolved_del(struct krt_normalizer *n, __u32 tid, struct nthread *t)
{
	int i;

	if (!t->unresolved)
		return;
	t->unresolved = false;
	for (i = 0; i < n->n_unresolved; i++) {
		if (n->unresolved[i] == tid) {
			memmove(n->unresolved + i, n->unresolved + i + 1,
				(size_t)(n->n_unresolved - i - 1) * sizeof(n->unresolved[0]));
			n->n_unresolved--;
			return;
		}
	}
}

/* ---- emission ------------------------------------------------------------ */

static void base_event(struct krt_normalizer *n, struct krt_event *ev, __u32 type,
		       const struct krt_report_record *r)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->ts_ns = r->ts_ns;
	if (ev->ts_ns < n->last_ts) {
		n->st.reordered++;
		note(n, r, "time goes back: clamped to the previous event's");
		ev->ts_ns = n->last_ts;
	}
	n->last_ts = ev->ts_ns;
	ev->cpu = r->cpu;
	ev->tid = r->tid;
	memcpy(ev->comm, r->comm, KRT_COMM_LEN);
}

/* The unit a thread's events go to: its goroutine's, else its own tid. */
static __u32 unit_of(struct krt_normalizer *n, __u32 tid, __u64 *goid)
{
	struct nthread *t = tid ? thread_find(n, tid) : NULL;

	if (!t || !t->go_unit)
		return tid;
	if (goid)
		*goid = t->go_goid;
	return t->go_unit;
}

static void emit(struct krt_normalizer *n, const struct krt_event *in)
{
	struct krt_event ev;
	__u64 goid = 0;

	n->st.events++;
	if (!n->goroutines.n) {
		n->emit(in, n->ctx);
		return;
	}
	/* a Go thread's events are its goroutine's */
	ev = *in;
	switch (ev.type) {
	case KRT_EV_XFER:
	case KRT_EV_RECV_WAIT:
		ev.tid = unit_of(n, ev.tid, &goid);
		ev.xfer.goid = (__u32)goid;
		break;
	case KRT_EV_NOTIFY:
		ev.tid = unit_of(n, ev.tid, NULL);
		break;
	case KRT_EV_SWITCH:
		ev.sw.prev_tid = unit_of(n, ev.sw.prev_tid, NULL);
		ev.sw.next_tid = unit_of(n, ev.sw.next_tid, NULL);
		break;
	case KRT_EV_WAKEUP:
		ev.tid = unit_of(n, ev.tid, NULL);
		ev.wakeup.target_tid = unit_of(n, ev.wakeup.target_tid, NULL);
		break;
	}
	n->emit(&ev, n->ctx);
}

static void emit_xfer(struct krt_normalizer *n, const struct krt_report_record *r, __u32 tid,
		      int dir, __u8 flags, __u16 nr, __s32 fd, __u64 bytes, __u64 enter_ns,
		      const struct krt_tuple *t, __u64 sock_id)
{
	struct krt_event ev;

	base_event(n, &ev, KRT_EV_XFER, r);
	ev.tid = tid;
	if (tid != r->tid) {
		/* Emitted on behalf of another thread (backlog): its comm is not known here. */
		memset(ev.comm, 0, sizeof(ev.comm));
		if (tid) {
			struct nthread *o = thread_find(n, tid);

			if (o)
				memcpy(ev.comm, o->comm, KRT_COMM_LEN);
		}
	}
	ev.xfer.dir = (__u8)dir;
	ev.xfer.flags = flags;
	ev.xfer.syscall_nr = nr;
	ev.xfer.fd = fd;
	ev.xfer.bytes = bytes;
	ev.xfer.sock_id = sock_id;
	ev.xfer.enter_ns = enter_ns && enter_ns <= ev.ts_ns ? enter_ns : ev.ts_ns;
	ev.xfer.tuple = *t;
	if (dir == KRT_DIR_SEND && !(flags & KRT_XF_NO_SYSCALL)) {
		struct conn_val *c = conn_get(n, t);

		if (c)
			c->flags |= CONN_SENT_SYSCALL;
	}
	emit(n, &ev);
}

/*
 * A sendto/sendmsg or recvfrom/recvmsg on an fd that is no TCP connection
 * (no tcp event inside it, never seen as one): a local socket, such as the
 * socketpair a pool worker writes to wake its loop (docs/handoffs.md, "The
 * hand-back"). The capture names no socket: the engine pairs them by
 * process. read/write are left out (files, pipes, eventfds).
 */
static void emit_notify(struct krt_normalizer *n, const struct krt_report_record *r, __u32 tid,
			int dir, __u8 flags, __s32 fd, __u64 bytes, __u64 asked)
{
	struct krt_event ev;

	base_event(n, &ev, KRT_EV_NOTIFY, r);
	ev.tid = tid;
	if (tid != r->tid) {
		struct nthread *o = thread_find(n, tid);

		memset(ev.comm, 0, sizeof(ev.comm));
		if (o)
			memcpy(ev.comm, o->comm, KRT_COMM_LEN);
	}
	ev.notify.dir = (__u8)dir;
	ev.notify.flags = flags;
	ev.notify.fd = fd;
	ev.notify.bytes = bytes;
	ev.notify.asked = asked;
	emit(n, &ev);
}

static __u64 record_sock_id(const struct krt_report_record *r)
{
	if (r->has & KRT_RP_HAS_COOKIE)
		return r->sock_cookie;
	if (r->has & KRT_RP_HAS_SKADDR)
		return r->skaddr;
	return 0;
}

/* ---- syscalls ------------------------------------------------------------ */

static void on_sys_enter(struct krt_normalizer *n, const struct krt_report_record *r)
{
	struct nthread *t = thread_get(n, r->tid);

	if (!t)
		return;
	memcpy(t->comm, r->comm, KRT_COMM_LEN);
	if (t->in_sys)
		n->st.unpaired_syscalls++; /* its exit was lost */
	t->in_sys = (__u8)r->sys;
	t->syscall_nr = (__u16)r->syscall_nr;
	t->fd = (__s32)r->fd;
	t->asked = r->has & KRT_RP_HAS_SIZE ? r->size : 0;
	t->enter_ns = r->ts_ns;
	t->probe_bytes = 0;
	t->probe_nolen = false;
	t->tuple_src = TUPLE_NONE;
	t->sock_id = 0;
	if (krt_rp_sys_is_send(r->sys))
		unresolved_add(n, r->tid, t);
}

/*
 * A receive on a known TCP socket that found no bytes (EAGAIN): the task
 * that made it waits for them. Go's runtime parks the goroutine and runs
 * another on the thread; the engine learns from these which threads' tasks
 * move between threads (docs/handoffs.md, "Go on import").
 */
static void recv_wait(struct krt_normalizer *n, const struct krt_report_record *r,
		      struct nthread *t)
{
	const struct fd_val *fv = fd_lookup(n, r->tid, t->fd);
	struct krt_event ev;

	if (!fv)
		return;
	base_event(n, &ev, KRT_EV_RECV_WAIT, r);
	ev.xfer.dir = KRT_DIR_RECV;
	ev.xfer.syscall_nr = t->syscall_nr;
	ev.xfer.fd = t->fd;
	ev.xfer.sock_id = fv->sock_id;
	ev.xfer.enter_ns = t->enter_ns && t->enter_ns <= ev.ts_ns ? t->enter_ns : ev.ts_ns;
	ev.xfer.tuple = fv->tuple;
	emit(n, &ev);
}

/*
 * The fd of thread t's pending send shows TCP now (its receive on it): the
 * send was the connection's, its probe never seen (the first command on a
 * new connection: seen, an asgi worker's redis command, whose send had been
 * told as a notification and handed its loop a job that was none). The
 * notification is taken back; the send stays pending (a probe may still
 * claim it; emitted now, after its receiver's read, it would put the
 * connection's bytes out of step).
 */
static void pending_is_tcp(struct krt_normalizer *n, const struct krt_report_record *r,
			   struct nthread *t)
{
	note(n, r, "fd %d shows TCP: the earlier write on it (%llu B) was no notification", t->p_fd,
	     (unsigned long long)t->p_bytes);
	if (t->p_notified)
		emit_notify(n, r, r->tid, KRT_DIR_SEND, KRT_NF_RETRACT, t->p_fd, t->p_bytes, 0);
	t->p_notified = false;
}

static void exit_recv(struct krt_normalizer *n, const struct krt_report_record *r,
		      struct nthread *t)
{
	const struct fd_val *fv;

	if (r->ret == -EAGAIN) {
		recv_wait(n, r, t);
		return;
	}
	if (r->ret <= 0)
		return;
	if (t->tuple_src == TUPLE_ADJUST) {
		if (t->pending && t->p_notified && t->p_fd == t->fd)
			pending_is_tcp(n, r, t);
		emit_xfer(n, r, r->tid, KRT_DIR_RECV, 0, t->syscall_nr, t->fd, (__u64)r->ret,
			  t->enter_ns, &t->tuple, t->sock_id);
		fd_remember(n, r->tid, t->fd, &t->tuple, t->sock_id);
		return;
	}
	fv = fd_lookup(n, r->tid, t->fd);
	if (fv) {
		struct krt_tuple tuple = fv->tuple;

		emit_xfer(n, r, r->tid, KRT_DIR_RECV, 0, t->syscall_nr, t->fd, (__u64)r->ret,
			  t->enter_ns, &tuple, fv->sock_id);
		return;
	}
	if (t->in_sys == KRT_SYS_RECVFROM || t->in_sys == KRT_SYS_RECVMSG) {
		note(n, r, "receive of %lld B on fd %d: no TCP event: a local socket (notify)",
		     (long long)r->ret, t->fd);
		emit_notify(n, r, r->tid, KRT_DIR_RECV, 0, t->fd, (__u64)r->ret, t->asked);
		return;
	}
	n->st.non_socket_io++;
	note(n, r, "read of %lld B on fd %d: no TCP event, not a known socket: ignored",
	     (long long)r->ret, t->fd);
}

static void exit_send(struct krt_normalizer *n, const struct krt_report_record *r,
		      struct nthread *t)
{
	__u64 ret = r->ret > 0 ? (__u64)r->ret : 0;
	const struct fd_val *fv;

	if (t->tuple_src == TUPLE_PROBE) {
		/* Reconcile: bytes the probes did not show were still sent. */
		if (ret > t->probe_bytes) {
			__u64 rest = ret - t->probe_bytes;

			emit_xfer(n, r, r->tid, KRT_DIR_SEND, 0, t->syscall_nr, t->fd, rest,
				  t->enter_ns, &t->tuple, t->sock_id);
			/* Their probes, if any, fire later in other contexts. */
			if (!t->probe_nolen)
				debt_add(n, &t->tuple, rest);
		}
		fd_remember(n, r->tid, t->fd, &t->tuple, t->sock_id);
		return;
	}
	if (!ret)
		return;
	fv = t->tuple_src == TUPLE_FDMAP ? NULL : fd_lookup(n, r->tid, t->fd);
	if (t->tuple_src == TUPLE_FDMAP || fv) {
		struct krt_tuple tuple = fv ? fv->tuple : t->tuple;
		__u64 sock_id = fv ? fv->sock_id : t->sock_id;

		/* The receiver's socket was busy: its probe will fire later, elsewhere. */
		emit_xfer(n, r, r->tid, KRT_DIR_SEND, 0, t->syscall_nr, t->fd, ret, t->enter_ns,
			  &tuple, sock_id);
		debt_add(n, &tuple, ret);
		return;
	}
	/*
	 * No probe and an fd never seen as a socket: a log file or pipe, or a
	 * socket whose probe comes later in the receiver's context. Keep it
	 * until such a probe claims it.
	 */
	if (t->pending && !t->p_notified)
		n->st.non_socket_io++;
	note(n, r,
	     "write of %llu B on fd %d: no probe, not a known socket: held until a "
	     "probe claims it (else a file or pipe)",
	     (unsigned long long)ret, t->fd);
	t->pending = true;
	t->p_fd = t->fd;
	t->p_nr = t->syscall_nr;
	t->p_bytes = ret;
	t->p_enter_ns = t->enter_ns;
	/*
	 * A socket-only call with no probe: a local socket, unless the probe
	 * comes later (the receiver held its socket). Told now, taken back
	 * if a probe claims it.
	 */
	t->p_notified = t->in_sys == KRT_SYS_SENDTO || t->in_sys == KRT_SYS_SENDMSG;
	if (t->p_notified)
		emit_notify(n, r, r->tid, KRT_DIR_SEND, 0, t->fd, ret, 0);
}

static void on_sys_exit(struct krt_normalizer *n, const struct krt_report_record *r)
{
	struct nthread *t = thread_find(n, r->tid);

	if (!t || !t->in_sys || t->in_sys != r->sys) {
		n->st.unpaired_syscalls++;
		note(n, r, "syscall exit without its entry: ignored");
		if (t) {
			t->in_sys = 0;
			if (!t->pending)
				unresolved_del(n, r->tid, t);
		}
		return;
	}
	if (krt_rp_sys_is_send(t->in_sys))
		exit_send(n, r, t);
	else
		exit_recv(n, r, t);
	t->in_sys = 0;
	if (!t->pending)
		unresolved_del(n, r->tid, t);
}

/* ---- tcp events ---------------------------------------------------------- */

static void on_rcv_space(struct krt_normalizer *n, const struct krt_report_record *r)
{
	struct nthread *t = thread_get(n, r->tid);
	struct conn_val *c = conn_get(n, &r->tuple);

	if (c)
		c->recv_tid = r->tid;
	if (t && t->in_sys && !krt_rp_sys_is_send(t->in_sys)) {
		t->tuple = r->tuple;
		t->tuple_src = TUPLE_ADJUST;
		t->sock_id = record_sock_id(r);
		return;
	}
	/* A receive through an unlisted syscall (readv): it consumed the queue. */
	emit_xfer(n, r, r->tid, KRT_DIR_RECV, KRT_XF_NO_SYSCALL, 0, -1, 0, r->ts_ns, &r->tuple,
		  record_sock_id(r));
}

/*
 * The thread is known to use this socket through another fd: a write on
 * this fd (a log file) is not a write to the socket.
 */
static bool conn_has_other_fd(struct krt_normalizer *n, const struct conn_val *c, __u32 tid,
			      __s32 fd)
{
	__u32 i;

	for (i = 0; i < c->n_fds; i++)
		if (c->fds[i].tid == fd_tid(n, tid) && c->fds[i].fd != fd)
			return true;
	return false;
}

/*
 * A data probe that is not the current thread's own send: the receiver's
 * context (backlog), a retransmission, or a segment of an earlier send.
 */
static void probe_elsewhere(struct krt_normalizer *n, const struct krt_report_record *r,
			    const struct krt_tuple *send, __u64 len, bool has_len)
{
	struct conn_val *sender;
	char dbuf[2 * KRT_ADDR_STRLEN + 8];
	int i;

	/* A segment of a send already emitted from its syscall. */
	if (debt_take(n, send, len))
		return;

	/* A send still waiting for its connection: an open syscall or a pending one. */
	sender = conn_find(n, send);
	for (i = 0; i < n->n_unresolved; i++) {
		__u32 tid = n->unresolved[i];
		struct nthread *p = thread_find(n, tid);
		__s32 fd;
		const struct fd_val *fv;
		bool match;

		if (!p)
			continue;
		if (p->in_sys && krt_rp_sys_is_send(p->in_sys) && p->tuple_src == TUPLE_NONE)
			fd = p->fd;
		else if (p->pending)
			fd = p->p_fd;
		else
			continue;
		fv = fd_lookup(n, tid, fd);
		if (fv)
			match = tuple_eq(&fv->tuple, send);
		else
			match = sender && sender->recv_tid == tid &&
				!conn_has_other_fd(n, sender, tid, fd);
		/* More bytes than the syscall wrote: not its segment. */
		if (match && has_len && p->pending && !p->in_sys && len > p->p_bytes)
			match = false;
		if (!match)
			continue;
		if (p->in_sys && krt_rp_sys_is_send(p->in_sys) && p->tuple_src == TUPLE_NONE) {
			p->tuple = *send;
			p->tuple_src = TUPLE_PROBE;
			if (has_len) {
				emit_xfer(n, r, tid, KRT_DIR_SEND, 0, p->syscall_nr, p->fd, len,
					  p->enter_ns, send, 0);
				p->probe_bytes += len;
			} else {
				p->probe_nolen = true;
			}
			if (!p->pending)
				unresolved_del(n, tid, p);
		} else {
			note(n, r, "probe %s: the earlier write of thread %u on fd %d (%llu B)",
			     dir_str(send, dbuf, sizeof(dbuf)), tid, p->p_fd,
			     (unsigned long long)p->p_bytes);
			if (p->p_notified)
				emit_notify(n, r, tid, KRT_DIR_SEND, KRT_NF_RETRACT, p->p_fd,
					    p->p_bytes, 0);
			p->p_notified = false;
			emit_xfer(n, r, tid, KRT_DIR_SEND, 0, p->p_nr, p->p_fd, p->p_bytes,
				  p->p_enter_ns, send, 0);
			fd_remember(n, tid, p->p_fd, send, 0);
			if (has_len && len < p->p_bytes)
				debt_add(n, send, p->p_bytes - len);
			p->pending = false;
			if (!p->in_sys)
				unresolved_del(n, tid, p);
		}
		return;
	}

	/*
	 * A traced sender that never sends through a listed syscall (nginx's
	 * writev) shows its bytes only as probes: when one fires in the
	 * receiver's context, the engine finds the sender by its address.
	 */
	if (has_len && sender && !(sender->flags & CONN_SENT_SYSCALL) &&
	    (sender->recv_tid || (sender->flags & CONN_SENT_NOSYS))) {
		note(n, r,
		     "probe %s %llu B in the receiver's context: a send through an "
		     "unlisted syscall, sender found by address",
		     dir_str(send, dbuf, sizeof(dbuf)), (unsigned long long)len);
		emit_xfer(n, r, 0, KRT_DIR_SEND, KRT_XF_NO_SYSCALL, 0, -1, len, r->ts_ns, send, 0);
		return;
	}
	n->st.duplicate_probes++;
	note(n, r, "probe %s %llu B matches no send: retransmission or duplicate, dropped",
	     dir_str(send, dbuf, sizeof(dbuf)), (unsigned long long)len);
}

/*
 * Bytes whose sender cannot be a traced thread: sent from the gateway, or
 * to a traced socket that has received before from a peer never seen as a
 * traced socket itself. Their probe in a traced thread's context is socket
 * backlog processing, never that thread's send.
 */
static bool from_untraced_peer(struct krt_normalizer *n, const struct krt_tuple *send,
			       const struct conn_val *receiving)
{
	if (n->gateway.family && krt_ip_eq(&send->local, &n->gateway))
		return true;
	return receiving && receiving->recv_tid && !conn_find(n, send);
}

/*
 * A socket whose sends come through listed syscalls, none of them by thread
 * tid (no fd of tid names it): a probe of its bytes in tid's context, outside
 * any syscall, is no send of tid's but a timer's retransmission (a tail loss
 * probe when the receiver is slow to acknowledge, under load) or backlog
 * processing, run by whatever task was on the CPU.
 */
static bool sent_by_others(struct krt_normalizer *n, const struct krt_tuple *send, __u32 tid)
{
	const struct conn_val *c = conn_find(n, send);
	__u32 i;

	if (!c || !(c->flags & CONN_SENT_SYSCALL))
		return false;
	for (i = 0; i < c->n_fds; i++)
		if (c->fds[i].tid == fd_tid(n, tid))
			return false;
	return true;
}

static void on_probe(struct krt_normalizer *n, const struct krt_report_record *r)
{
	bool has_len = r->has & KRT_RP_HAS_DATA_LEN;
	__u64 len = has_len ? r->data_len : 0;
	struct krt_tuple send = reversed(&r->tuple);
	struct conn_val *receiving;
	struct nthread *t;
	bool receiver_here;

	if (has_len && len == 0) {
		/* an ACK may wake a writer waiting for buffer space: the socket's wake-up too */
		t = thread_find(n, r->tid);
		if (t)
			t->tcp_wakes = true;
		n->st.ack_probes++;
		return;
	}
	t = thread_get(n, r->tid);
	if (!t)
		return;
	memcpy(t->comm, r->comm, KRT_COMM_LEN);
	t->tcp_wakes = true;
	receiving = conn_find(n, &r->tuple);
	receiver_here = receiving && receiving->recv_tid == r->tid;

	if (t->in_sys && krt_rp_sys_is_send(t->in_sys)) {
		bool ours;

		if (t->tuple_src == TUPLE_NONE) {
			const struct fd_val *fv = fd_lookup(n, r->tid, t->fd);

			if (fv) {
				t->tuple = fv->tuple;
				t->sock_id = fv->sock_id;
				t->tuple_src = TUPLE_FDMAP;
			}
		}
		if (t->tuple_src != TUPLE_NONE)
			ours = tuple_eq(&t->tuple, &send);
		else
			ours = !receiver_here && !from_untraced_peer(n, &send, receiving);
		if (ours) {
			if (t->tuple_src != TUPLE_PROBE && t->tuple_src != TUPLE_FDMAP)
				t->sock_id = 0; /* the probe names the receiver's socket */
			t->tuple = send;
			t->tuple_src = TUPLE_PROBE;
			unresolved_del(n, r->tid, t);
			if (t->pending)
				unresolved_add(n, r->tid, t);
			if (has_len) {
				emit_xfer(n, r, r->tid, KRT_DIR_SEND, 0, t->syscall_nr, t->fd, len,
					  t->enter_ns, &send, t->sock_id);
				t->probe_bytes += len;
			} else {
				t->probe_nolen = true;
			}
			return;
		}
		probe_elsewhere(n, r, &send, len, has_len);
		return;
	}
	if ((t->in_sys && !krt_rp_sys_is_send(t->in_sys)) || receiver_here ||
	    from_untraced_peer(n, &send, receiving) || sent_by_others(n, &send, r->tid)) {
		probe_elsewhere(n, r, &send, len, has_len);
		return;
	}
	/* The current thread sends through an unlisted syscall (writev). */
	if (debt_take(n, &send, len))
		return;
	if (!has_len) {
		n->st.unresolved_xfers++;
		return;
	}
	{
		struct conn_val *c = conn_get(n, &send);

		if (c)
			c->flags |= CONN_SENT_NOSYS;
	}
	emit_xfer(n, r, r->tid, KRT_DIR_SEND, KRT_XF_NO_SYSCALL, 0, -1, len, r->ts_ns, &send, 0);
}

static void forget_connection(struct krt_normalizer *n, const struct krt_tuple *t)
{
	struct krt_tuple k = clean_tuple(t);
	struct conn_val *c = htab_find(&n->conns, &k);
	struct krt_tuple rev = reversed(t);

	if (c) {
		__u32 i;

		/* Its fds may be reused for files or other sockets. */
		for (i = 0; i < c->n_fds; i++) {
			struct fd_key fk = c->fds[i];
			const struct fd_val *fv = htab_find(&n->fds, &fk);

			if (fv && tuple_eq(&fv->tuple, t))
				htab_del(&n->fds, &fk);
		}
		htab_del(&n->conns, &k);
	}
	debt_take(n, t, 0);
	debt_take(n, &rev, 0);
}

static void on_sock_state(struct krt_normalizer *n, const struct krt_report_record *r)
{
	struct krt_event ev;

	base_event(n, &ev, KRT_EV_SOCK_STATE, r);
	ev.state.oldstate = r->oldstate;
	ev.state.newstate = r->newstate;
	ev.state.sock_id = r->skaddr;
	ev.state.tuple = r->tuple;
	emit(n, &ev);
	if (r->newstate == TCP_STATE_CLOSE && r->tuple.local.port)
		forget_connection(n, &r->tuple);
}

/* ---- scheduler ----------------------------------------------------------- */

static void on_switch(struct krt_normalizer *n, const struct krt_report_record *r)
{
	struct krt_event ev;

	base_event(n, &ev, KRT_EV_SWITCH, r);
	ev.sw.prev_tid = r->prev_pid;
	ev.sw.next_tid = r->next_pid;
	ev.sw.prev_state = r->prev_state;
	memcpy(ev.sw.prev_comm, r->prev_comm, KRT_COMM_LEN);
	memcpy(ev.sw.next_comm, r->next_comm, KRT_COMM_LEN);
	emit(n, &ev);
}

static void on_fork(struct krt_normalizer *n, const struct krt_report_record *r)
{
	struct krt_event ev;

	base_event(n, &ev, KRT_EV_FORK, r);
	ev.fork.parent_tid = r->pid ? r->pid : r->tid;
	ev.fork.child_tid = r->child_pid;
	/* Thread or process? sched_process_fork does not say: tgid unknown. */
	ev.fork.child_pid = 0;
	memcpy(ev.fork.child_comm, r->child_comm, KRT_COMM_LEN);
	emit(n, &ev);
}

static void on_task_exit(struct krt_normalizer *n, const struct krt_report_record *r)
{
	struct krt_event ev;
	__u32 tid = r->pid ? r->pid : r->tid;
	struct nthread *t = thread_find(n, tid);

	base_event(n, &ev, KRT_EV_EXIT, r);
	ev.tid = tid;
	emit(n, &ev);
	if (t) {
		if (t->pending && !t->p_notified)
			n->st.non_socket_io++;
		unresolved_del(n, tid, t);
		htab_del(&n->threads, &tid);
	}
}

/*
 * A wake-up is a hand-off between threads only inside one process (a
 * queue and a futex); the live source emits only those. Import does not
 * know processes, but a wake-up the kernel makes while it delivers TCP
 * data (right after the segment's tcp_probe, in the same context) is the
 * socket waking its reader, and the bytes are already followed by the
 * transfer records: passing the sender's trace along it would make the
 * reader a worker of the sender.
 */
static void on_wakeup(struct krt_normalizer *n, const struct krt_report_record *r)
{
	struct nthread *t = thread_find(n, r->tid);
	struct krt_event ev;

	if (t && t->tcp_wakes) {
		n->st.socket_wakeups++;
		note(n, r,
		     "wake-up of %u by TCP data (after a tcp_probe): the socket's, not a hand-off",
		     r->pid);
		return;
	}

	base_event(n, &ev, KRT_EV_WAKEUP, r);
	ev.wakeup.target_tid = r->pid;
	emit(n, &ev);
}

/* ---- goroutines ---------------------------------------------------------- */

static struct ngo *go_find(struct krt_normalizer *n, const struct krt_report_record *r,
			   bool *created)
{
	struct go_key k = {r->go_proc, r->go_g};
	struct ngo *g = htab_get(&n->goroutines, &k, created);

	if (!g) {
		/* the goroutines seen so far start afresh: their state is lost */
		n->st.table_full++;
		htab_clear(&n->goroutines);
		g = htab_get(&n->goroutines, &k, created);
		if (!g)
			return NULL;
	}
	if (*created) {
		g->unit = KRT_GO_UNIT_BASE + n->next_unit++;
		n->st.goroutines++;
	}
	return g;
}

/* The id of Go process proc's fd table (0: table full, the thread keeps its own). */
static __u32 go_fd_owner(struct krt_normalizer *n, __u64 proc)
{
	bool created;
	__u32 *id = htab_get(&n->go_procs, &proc, &created);

	if (!id) {
		n->st.table_full++;
		return 0;
	}
	if (created)
		*id = GO_FD_OWNER_BASE + (__u32)n->go_procs.n;
	return *id;
}

/*
 * A new goroutine on an old runtime.g: a unit of its own. The goroutine that
 * had the g ended: its unit exits (the engine forgets it; a Go program's
 * units are as many as its runtime.g's, not as its goroutines ever).
 */
static void go_renew(struct krt_normalizer *n, const struct krt_report_record *r, struct ngo *g)
{
	struct krt_event ev;

	base_event(n, &ev, KRT_EV_EXIT, r);
	ev.tid = g->unit;
	n->st.events++;
	n->emit(&ev, n->ctx); /* a unit already: not through emit()'s mapping */
	g->unit = KRT_GO_UNIT_BASE + n->next_unit++;
	g->goid = 0;
	g->on_tid = 0;
	n->st.goroutines++;
}

/*
 * g no longer runs on the thread it last ran on (it runs, is started or is
 * readied elsewhere): that thread, until it runs another, is the runtime's
 * (bpf/goroutines.bpf.h, go_settle).
 */
static void go_leaves(struct krt_normalizer *n, struct ngo *g, __u32 tid)
{
	struct nthread *o;

	if (g->on_tid && g->on_tid != tid && (o = thread_find(n, g->on_tid)) &&
	    o->go_unit == g->unit) {
		o->go_unit = 0;
		o->go_goid = 0;
	}
	g->on_tid = 0;
}

static void emit_go(struct krt_normalizer *n, const struct krt_report_record *r, __u32 op,
		    __u32 from, const struct ngo *g)
{
	struct krt_event ev;

	base_event(n, &ev, KRT_EV_GO, r);
	ev.tid = from;
	ev.go.op = op;
	ev.go.target_tid = g->unit;
	ev.go.target_goid = g->goid;
	ev.go.thread = r->tid;
	n->st.events++;
	n->emit(&ev, n->ctx); /* units already: not through emit()'s mapping */
}

static void on_go(struct krt_normalizer *n, const struct krt_report_record *r)
{
	struct nthread *t = thread_get(n, r->tid);
	bool created;
	struct ngo *g;
	__u32 from;

	n->st.go_events++;
	if (!t || !(g = go_find(n, r, &created)))
		return;
	if (!t->fd_owner)
		t->fd_owner = go_fd_owner(n, r->go_proc);
	memcpy(t->comm, r->comm, KRT_COMM_LEN);
	from = t->go_unit ? t->go_unit : r->tid;
	switch (r->kind) {
	case KRT_RP_GO_EXECUTE:
		if (g->goid && g->goid != (__u64)r->go_goid)
			go_renew(n, r, g); /* its go_start came before the capture */
		g->goid = (__u64)r->go_goid;
		if (t->go_unit == g->unit)
			return;
		go_leaves(n, g, r->tid);
		emit_go(n, r, KRT_GO_OP_EXECUTE, from, g);
		t->go_unit = g->unit;
		t->go_goid = g->goid;
		g->on_tid = r->tid;
		break;
	case KRT_RP_GO_START:
		go_leaves(n, g, r->tid);
		if (!created)
			go_renew(n, r, g);
		emit_go(n, r, KRT_GO_OP_START, from, g);
		break;
	case KRT_RP_GO_READY:
		go_leaves(n, g, r->tid);
		emit_go(n, r, KRT_GO_OP_READY, from, g);
		break;
	}
}

static void on_lost(struct krt_normalizer *n, const struct krt_report_record *r)
{
	struct krt_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = KRT_EV_LOST;
	ev.ts_ns = n->last_ts; /* a LOST line has no time of its own */
	ev.lost.count = r->lost;
	emit(n, &ev);
}

static __u32 port_pair(__u16 local, __u16 remote)
{
	return (__u32)local << 16 | remote;
}

/* Remembers the addresses behind a connection's ports, both ways round. */
static void learn_ports(struct krt_normalizer *n, const struct krt_tuple *t)
{
	struct krt_tuple rev = reversed(t);
	__u32 k1 = port_pair(t->local.port, t->remote.port);
	__u32 k2 = port_pair(t->remote.port, t->local.port);
	struct krt_tuple *v;

	if (!t->local.port || !t->remote.port)
		return;
	if (n->port_pairs.n + 2 > n->port_pairs.max)
		htab_clear(&n->port_pairs); /* a cache */
	v = htab_get(&n->port_pairs, &k1, NULL);
	if (v)
		*v = *t;
	v = htab_get(&n->port_pairs, &k2, NULL);
	if (v)
		*v = rev;
}

/*
 * trace-cmd prints some IPv6 addresses as empty strings (see
 * KRT_RP_HAS_ADDR): the ports then name the connection, if it was seen
 * with its addresses before (the peer's IPv4 view of a dual-stack server).
 */
static bool resolve_by_ports(struct krt_normalizer *n, struct krt_report_record *r)
{
	__u32 k = port_pair(r->tuple.local.port, r->tuple.remote.port);
	const struct krt_tuple *t = htab_find(&n->port_pairs, &k);

	if (!t)
		return false;
	r->tuple = *t;
	r->has |= KRT_RP_HAS_ADDR;
	return true;
}

/*
 * State dropped at a table bound, sends whose connection stayed unknown
 * and times clamped to keep order cost the traces around them a hop or its
 * place: LOST events, so that the engine marks them incomplete (never a
 * whole-looking trace with a hop missing). At most
 * one per millisecond of capture time: a full thread table counts every
 * event of each thread it cannot hold, and the engine's reach covers the
 * traces between two reports.
 */
#define LOSS_REPORT_GAP_NS 1000000ULL

static void report_one(struct krt_normalizer *n, __u64 now, __u64 *reported, __u32 reason)
{
	struct krt_event ev;

	if (now == *reported)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.type = KRT_EV_LOST;
	ev.ts_ns = n->last_ts;
	ev.lost.count = now - *reported;
	ev.lost.reason = reason;
	*reported = now;
	emit(n, &ev);
}

static void report_losses(struct krt_normalizer *n, bool now)
{
	if (n->st.table_full == n->table_full_reported &&
	    n->st.unresolved_xfers == n->unresolved_reported &&
	    n->st.reordered == n->reordered_reported)
		return;
	if (!now && n->loss_report_ts && n->last_ts < n->loss_report_ts + LOSS_REPORT_GAP_NS)
		return;
	n->loss_report_ts = n->last_ts ? n->last_ts : 1;
	report_one(n, n->st.table_full, &n->table_full_reported, KRT_LOST_TABLE_FULL);
	report_one(n, n->st.unresolved_xfers, &n->unresolved_reported, KRT_LOST_UNRESOLVED);
	report_one(n, n->st.reordered, &n->reordered_reported, KRT_LOST_REORDER);
}

void krt_norm_record(struct krt_normalizer *n, const struct krt_report_record *r)
{
	struct krt_report_record fixed;

	if (r->kind == KRT_RP_TCP_PROBE || r->kind == KRT_RP_RCV_SPACE ||
	    r->kind == KRT_RP_SOCK_STATE) {
		if (r->has & KRT_RP_HAS_ADDR) {
			if (r->tuple.remote.port)
				learn_ports(n, &r->tuple);
		} else {
			fixed = *r;
			if (!resolve_by_ports(n, &fixed)) {
				n->st.no_address++;
				note(n, r,
				     "%s %u -> %u: addresses not in the report (IPv6 printed as a "
				     "string), connection unknown: ignored",
				     krt_rp_kind_name(r->kind), r->tuple.local.port,
				     r->tuple.remote.port);
				return;
			}
			r = &fixed;
		}
	}
	if (r->kind != KRT_RP_WAKEUP && r->kind != KRT_RP_TCP_PROBE && r->kind != KRT_RP_LOST &&
	    r->kind < KRT_RP_GO_EXECUTE) {
		struct nthread *t = thread_find(n, r->tid);

		if (t)
			t->tcp_wakes = false;
	}
	switch (r->kind) {
	case KRT_RP_SWITCH:
		on_switch(n, r);
		break;
	case KRT_RP_FORK:
		on_fork(n, r);
		break;
	case KRT_RP_EXIT:
		on_task_exit(n, r);
		break;
	case KRT_RP_WAKEUP:
		on_wakeup(n, r);
		break;
	case KRT_RP_SYS_ENTER:
		on_sys_enter(n, r);
		break;
	case KRT_RP_SYS_EXIT:
		on_sys_exit(n, r);
		break;
	case KRT_RP_SOCK_STATE:
		on_sock_state(n, r);
		break;
	case KRT_RP_TCP_PROBE:
		on_probe(n, r);
		break;
	case KRT_RP_RCV_SPACE:
		on_rcv_space(n, r);
		break;
	case KRT_RP_LOST:
		on_lost(n, r);
		break;
	case KRT_RP_GO_EXECUTE:
	case KRT_RP_GO_START:
	case KRT_RP_GO_READY:
		on_go(n, r);
		break;
	}
	report_losses(n, false);
}

void krt_norm_record_cb(const struct krt_report_record *rec, void *ctx)
{
	krt_norm_record(ctx, rec);
}

void krt_norm_finish(struct krt_normalizer *n)
{
	int i;

	for (i = 0; i < n->n_unresolved; i++) {
		struct nthread *t = thread_find(n, n->unresolved[i]);

		if (t && t->pending && !t->p_notified)
			n->st.non_socket_io++;
		if (t) {
			t->pending = false;
			t->unresolved = false;
		}
	}
	n->n_unresolved = 0;
	report_losses(n, true);
}
