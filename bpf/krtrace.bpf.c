// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * KRTrace live path, kernel side.
 *
 * Every program starts with the same pre-filter: the current task's tgid
 * must have its bit set in traced_bits, otherwise it returns before touching
 * anything else, so untraced processes pay one load per hook hit (a plain
 * global array: no helper call, no hashing).
 *
 * Socket transfers come from tp_btf/sock_send_length and sock_recv_length:
 * they fire once per completed socket send/receive (write, writev, sendto,
 * sendmsg, sendmmsg, read, readv, ...) with the struct sock and the length,
 * after the transfer, so enter and exit are merged by construction and the
 * TCP sequence of the first byte is the socket's sequence minus the length.
 *
 * Records go to one ring buffer without a wake-up per record (a wake-up per
 * record made each traced syscall 6.5-7x slower here); the consumer is woken
 * when the unread data passes wakeup_bytes and also polls on a short timer.
 *
 * By default (kernel_tags, cpu_in_kernel, merge_hops) the attribution rules
 * of SPEC section 3 run here: a receive from the gateway starts a trace,
 * sends tag their TCP sequence range, receives take the tag of the bytes
 * they read, a server's reply answers the oldest unanswered request of its
 * connection; on-CPU time is summed per thread and trace; a send to a
 * traced container waits for the receive that reads it and rides in its
 * record. A pool worker woken through a queue gets an UNSURE trace: which
 * queued request it dequeues is not visible here, so its records go out
 * untagged, with its switches, for the engine's rules to decide.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "krtrace_event.h"
#include "krtrace_bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Knobs set by the loader between open and load. */
/* a power of two (the loader rounds up): ~(wakeup_bytes - 1) */
const volatile __u64 wakeup_mask = ~(256ULL * 1024 - 1);
const volatile bool trace_switch = true;
const volatile bool trace_wakeup = true;
/* Kernel tagging: trace ids decided here travel with the bytes. */
const volatile bool kernel_tags = true;
/* Aggregate on-CPU time per (thread, trace) here instead of switch records. */
const volatile bool cpu_in_kernel = false;
/* One record per hop: sends to a traced peer ride in the receiver's record. */
const volatile bool merge_hops = false;
const volatile __u32 sample_rate = 0;		/* keep one request in N; 0/1 = all */
const volatile __u32 gateway_family = 0;
const volatile __u8 gateway_addr[16] = {};
/*
 * Transfers from sys_exit instead of the socket tracepoints (kernels before
 * 6.3, or --syscall-hooks); socket ids are then addresses XORed with a key
 * chosen by the loader.
 */
const volatile bool syscall_hooks = false;
const volatile __u64 sock_id_key = 0;
/*
 * Benchmark floor (--empty-hooks): every program returns at once, so what
 * remains is the kernel's cost of running attached programs at all. A
 * constant: the verifier drops the test when it is false.
 */
const volatile bool empty_hooks = false;
/* Slots of the state tables in use (tests narrow them to make states probe onward). */
const volatile __u32 thread_slot_mask = KRT_THREAD_SLOTS - 1;
const volatile __u32 conn_slot_mask = KRT_CONN_SLOTS - 1;
const volatile __u32 dir_slot_mask = KRT_DIR_SLOTS - 1;

/* Loss counters, read by the loader at exit (never silent). */
__u64 ring_drops = 0;
__u64 map_full = 0;
__u64 sock_unreadable = 0;
/*
 * Counters bumped on every record or transfer live in one cache line per
 * CPU: a machine-wide atomic bounced its line between CPUs on every hook
 * hit (user space sums them).
 */
struct krt_pcpu_counters pcpu[KRT_MAX_CPUS] = {};

static __always_inline struct krt_pcpu_counters *my_counters(void)
{
	__u32 c = bpf_get_smp_processor_id();

	asm volatile("" : "+r"(c));
	return c < KRT_MAX_CPUS ? &pcpu[c] : &pcpu[KRT_MAX_CPUS - 1];
}

#define COUNT(field) __sync_fetch_and_add(&my_counters()->field, 1)
__u64 traces_started = 0;	/* ingress decisions, sampled or not */
__u64 traces_sampled = 0;
/*
 * State tables (threads, connections, directions): states put past their
 * first slot (probing), states not kept (every probed slot held by others:
 * that thread or connection goes untagged), and waits for a slot another
 * CPU was still filling after KRT_FILL_WAIT turns (that hook went without).
 */
__u64 slot_probed = 0, slot_full = 0, slot_busy = 0;
__u32 next_trace_id = 0;

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
 * Traced processes: one bit per tgid, set by the loader (mmapped) and by
 * the fork hook. PID_MAX_LIMIT on 64-bit is 4M, so every tgid has a bit.
 */
#define KRT_PID_LIMIT (1u << 22)
__u64 traced_bits[KRT_PID_LIMIT / 64] = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

/*
 * Thread, connection and direction state: open-addressed tables in arrays,
 * indexed by the low bits of tid / socket cookie / a hash of the direction
 * and probed over KRT_PROBES slots. A lookup is a few inlined array
 * accesses: the hash maps' lookups cost about a third of the programs'
 * time, and a fallback from a table to a hash map gave the verifier two
 * kinds of pointer to follow per lookup (loading took a second). Entries
 * leave at thread exit and socket close; a state that finds every probed
 * slot held is not kept (counted). User space reads the threads' and
 * directions' tables at exit (mmapped).
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

__u64 late_tags = 0;	/* receivers tagged by a send that completed after their receive */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct krt_peer_key);
	__type(value, __u8);
} peers SEC(".maps");


/*
 * The word's address, bounds-checked after an optimisation barrier: clang
 * otherwise rebuilds the index from the unchecked register (it knows the
 * check already bounds it), which the verifier refuses.
 */
static __always_inline __u64 *tgid_word(__u32 tgid)
{
	__u32 w = tgid / 64;

	asm volatile("" : "+r"(w));
	if (w >= KRT_PID_LIMIT / 64)
		return NULL;
	return &traced_bits[w];
}

static __always_inline bool tgid_traced(__u32 tgid)
{
	__u64 *w = tgid_word(tgid);

	return w && ((*w >> (tgid % 64)) & 1);
}

static __always_inline void tgid_set_traced(__u32 tgid, bool on)
{
	__u64 *w = tgid_word(tgid);

	if (!w)
		return;
	if (on)
		__sync_fetch_and_or(w, 1ULL << (tgid % 64));
	else
		__sync_fetch_and_and(w, ~(1ULL << (tgid % 64)));
}

/*
 * One clock read per hook run: bpf_ktime_get_ns() costs about 40 ns here
 * (a VM), and a receive both closes its thread's CPU period and stamps
 * its record. *clk is 0 until the first read; NULL means read now.
 */
static __always_inline __u64 clock_now(__u64 *clk)
{
	if (!clk)
		return bpf_ktime_get_ns();
	if (!*clk)
		*clk = bpf_ktime_get_ns();
	return *clk;
}

static __always_inline struct krt_event *event_reserve_at(__u32 type, __u64 ts)
{
	struct krt_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&ring_drops, 1);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = ts;
	e->type = type;
	e->cpu = bpf_get_smp_processor_id();
	return e;
}

static __always_inline struct krt_event *event_reserve(__u32 type)
{
	return event_reserve_at(type, bpf_ktime_get_ns());
}

/* The current task's ids and name: plain loads through its BTF pointer. */
static __always_inline void event_fill_current(struct krt_event *e)
{
	struct task_struct *task = bpf_get_current_task_btf();

	e->pid = task->tgid;
	e->tid = task->pid;
	__builtin_memcpy(e->comm, task->comm, sizeof(e->comm));
}

/*
 * Batched wake-up: wake the consumer only when the unread data crosses a
 * multiple of wakeup_bytes; the loader's poll timer picks up the rest.
 * A power of two, compared under a mask: two divisions per record were
 * a measurable part of a record's cost.
 * Waking on every record above the threshold would cost a self-IPI per
 * record exactly when the consumer lags (measured: 6x per write), making
 * a slow consumer slower still.
 */
static __always_inline void event_submit(struct krt_event *e)
{
	/* this record is already counted in the unread data, with its header */
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u64 before = avail > sizeof(*e) + 8 ? avail - sizeof(*e) - 8 : 0;
	__u64 flags = BPF_RB_NO_WAKEUP;

	if ((avail & wakeup_mask) != (before & wakeup_mask))
		flags = BPF_RB_FORCE_WAKEUP;
	COUNT(records);
	bpf_ringbuf_submit(e, flags);
}

/*
 * tp_btf hands us trusted BTF pointers: plain loads (checked by the
 * verifier, CO-RE relocated) instead of bpf_probe_read_kernel() calls,
 * which cost far more per field.
 */
static __always_inline bool sock_is_tcp(struct sock *sk, __u16 *family)
{
	__u16 fam = sk->__sk_common.skc_family;

	if (fam != KRT_AF_INET && fam != KRT_AF_INET6)
		return false;
	/* sk_protocol became a plain field in 5.6; older kernels have a bitfield. */
	if (bpf_core_field_size(sk->sk_protocol) == sizeof(__u16)) {
		if (sk->sk_protocol != KRT_IPPROTO_TCP)
			return false;
	} else if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != KRT_IPPROTO_TCP) {
		return false;
	}
	*family = fam;
	return true;
}

static __always_inline void read_tuple(struct sock *sk, __u16 family, struct krt_tuple *t)
{
	t->local.family = family;
	t->remote.family = family;
	t->local.port = sk->__sk_common.skc_num;
	/*
	 * By the time a socket reaches CLOSE its local port was given back
	 * (inet_num zeroed); inet_sport keeps it. Without it a closing
	 * socket's directions were never found, and its state record
	 * showed port 0.
	 */
	if (!t->local.port) {
		struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);

		if (tp)
			t->local.port = bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
	}
	t->remote.port = bpf_ntohs(sk->__sk_common.skc_dport);
	if (family == KRT_AF_INET) {
		__u32 l = sk->__sk_common.skc_rcv_saddr, r = sk->__sk_common.skc_daddr;

		__builtin_memcpy(t->local.addr, &l, 4);
		__builtin_memcpy(t->remote.addr, &r, 4);
	} else {
		__u32 i;

		for (i = 0; i < 4; i++) {
			__u32 l = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[i];
			__u32 r = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[i];

			__builtin_memcpy(&t->local.addr[i * 4], &l, 4);
			__builtin_memcpy(&t->remote.addr[i * 4], &r, 4);
		}
	}
}

/* A decision of the kernel: a trace, not a guess (0 = none is a decision too). */
static __always_inline bool trace_decided(__u32 trace)
{
	return !(trace & KRT_TRACE_UNSURE);
}

/* A traced container's address: its receivers will read what is sent there. */
static __always_inline bool peer_traced(const struct krt_addr *a)
{
	struct krt_peer_key k = {};

	__builtin_memcpy(k.addr, a->addr, 16);
	k.family = a->family;
	return bpf_map_lookup_elem(&peers, &k) != NULL;
}

/* The thread's current trace, 0 when it has none or is not known. */
static __always_inline struct krt_thread_state *thread_find(__u32 tid);

static __always_inline __u32 thread_trace(__u32 tid)
{
	struct krt_thread_state *t = thread_find(tid);

	return t ? t->trace : 0;
}

/*
 * Sends the thread's gathered on-CPU time for its current trace (called
 * just before the trace changes, and at exit). A running thread's time is
 * counted up to now. Time of unsampled requests is dropped like the rest
 * of their records.
 */
static __always_inline void cpu_flush(struct krt_thread_state *t, __u32 tid, __u32 pid,
				      const char *comm, __u64 now, struct krt_cpu *carry)
{
	struct krt_event *e;

	if (t->oncpu_since) {
		t->acc_oncpu += now - t->oncpu_since;
		t->oncpu_since = now;
	}
	if (!t->acc_oncpu && !t->acc_runq)
		return;
	/*
	 * Time with no trace only adds to the unattributed total: batch it
	 * (event loops cross "no trace" between every two requests).
	 */
	if (!t->trace) {
		t->acc_idle += t->acc_oncpu;
		t->acc_oncpu = 0;
		t->acc_runq = 0;
		if (t->acc_idle < KRT_IDLE_FLUSH_NS)
			return;
		t->acc_oncpu = t->acc_idle;
		t->acc_idle = 0;
	}
	if (t->trace & KRT_TRACE_SAMPLED_OUT) {
		COUNT(sampled_out);
		goto done;
	}
	/*
	 * A receive that changes its thread's trace carries the time in its
	 * own record (one record instead of two; at a receive, on the test
	 * bed's chain, for 2.4 of the 5.6 CPU records of a request).
	 */
	if (carry && !carry->oncpu_ns && !carry->runq_ns) {
		carry->oncpu_ns = t->acc_oncpu;
		carry->runq_ns = t->acc_runq;
		carry->trace_id = trace_decided(t->trace) ? t->trace & KRT_TRACE_ID_MASK : 0;
		goto done;
	}
	e = event_reserve_at(KRT_EV_CPU, now);
	if (!e)
		goto done;
	e->pid = pid;
	e->tid = tid;
	/* comm: a task's name through its BTF pointer, plain loads */
	if (comm)
		__builtin_memcpy(e->comm, comm, sizeof(e->comm));
	e->oncpu.oncpu_ns = t->acc_oncpu;
	e->oncpu.runq_ns = t->acc_runq;
	e->oncpu.trace_id = trace_decided(t->trace) ? t->trace & KRT_TRACE_ID_MASK : 0;
	event_submit(e);
done:
	t->acc_oncpu = 0;
	t->acc_runq = 0;
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
		if (s && s->tid == tid)
			return &s->st;
	}
	return NULL;
}

/*
 * Thread tid's state, created when missing in the first free probed slot.
 * The slot is claimed by compare-and-swap under a "being filled" mark
 * (tid | KRT_SLOT_FILL_BIT), zeroed, then given its tid: a hook that still
 * wrote through a pointer to the slot's previous state (another CPU, as it
 * was freed) leaves nothing behind. Another CPU creating the same thread
 * at once waits for the mark to go, briefly (hooks run with preemption
 * off), rather than make a second entry.
 */
static __always_inline struct krt_thread_state *thread_get(__u32 tid)
{
	struct krt_thread_state *t = thread_find(tid);
	struct krt_thread_slot *s;
	__u32 p, cur;
	int i;

	if (t || !tid)
		return t;
	for (p = 0; p < KRT_PROBES; p++) {
		s = thread_probe(tid, p);
		if (!s)
			return NULL;
		cur = s->tid;
		if (!cur) {
			cur = __sync_val_compare_and_swap(&s->tid, 0, tid | KRT_SLOT_FILL_BIT);
			if (!cur) {
				__builtin_memset(&s->st, 0, sizeof(s->st));
				__sync_val_compare_and_swap(&s->tid, tid | KRT_SLOT_FILL_BIT, tid);
				if (p)
					__sync_fetch_and_add(&slot_probed, 1);
				return &s->st;
			}
		}
		if (cur == (tid | KRT_SLOT_FILL_BIT) || cur == tid) {
			/* volatile: a load per turn, not one hoisted out of the loop */
			for (i = 0; i < KRT_FILL_WAIT && *(volatile __u32 *)&s->tid != tid; i++)
				fill_wait_turn();
			if (s->tid == tid)
				return &s->st;
			/* still being filled (its filler interrupted): none this time */
			__sync_fetch_and_add(&slot_busy, 1);
			return NULL;
		}
	}
	__sync_fetch_and_add(&slot_full, 1);
	return NULL;
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
			__sync_val_compare_and_swap(&s->tid, tid, 0);
			return;
		}
	}
}

/*
 * A record saying thread tid is on CPU from now: user space counts its
 * time from here (its trace became unsure, or a sampled one while it runs).
 */
static __always_inline void switch_in_record(__u32 tid, __u32 pid, const char *comm)
{
	struct krt_event *e = event_reserve(KRT_EV_SWITCH);

	if (!e)
		return;
	e->pid = pid;
	e->tid = tid;
	if (comm)
		__builtin_memcpy(e->comm, comm, sizeof(e->comm));
	else
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->sw.next_tid = tid;
	e->sw.next_pid = pid;
	__builtin_memcpy(e->sw.next_comm, e->comm, sizeof(e->comm));
	event_submit(e);
}

/*
 * Thread t takes a new trace value. With on-CPU time gathered here, the
 * time so far goes out under the old trace; a thread whose trace becomes
 * unsure is handed to user space's accounting (switch records) from now.
 * comm NULL: t is the current task.
 */
static __always_inline void thread_set_trace(struct krt_thread_state *t, __u32 tid, __u32 pid,
					     const char *comm, __u32 trace, __u64 *clk,
					     struct krt_cpu *carry)
{
	if (t->trace == trace)
		return;
	if (cpu_in_kernel) {
		if (!t->shown_oncpu)
			cpu_flush(t, tid, pid, comm, clock_now(clk), carry);
		if (!trace_decided(trace) && !(trace & KRT_TRACE_SAMPLED_OUT) &&
		    t->oncpu_since && !t->shown_oncpu) {
			switch_in_record(tid, pid, comm);
			t->shown_oncpu = 1;
			t->oncpu_since = 0;
		}
	}
	t->trace = trace;
}

/* Server side: a request's trace was received (after the engine's side_req_received). */
static __always_inline void side_req_received(struct krt_conn_side *c, __u32 trace)
{
	__u32 n = c->req_n;

	if (!trace || (n && n <= KRT_SIDE_REQS && c->req[(n - 1) & (KRT_SIDE_REQS - 1)] == trace))
		return;
	if (n == 1 && c->req_answered) {
		/* the previous request was answered: keep-alive, next request */
		c->req[0] = trace;
		c->req_answered = 0;
		return;
	}
	if (n >= KRT_SIDE_REQS) {
		c->req[0] = c->req[1];
		c->req[1] = c->req[2];
		c->req[2] = c->req[3];
		n = KRT_SIDE_REQS - 1;
	}
	c->req[n & (KRT_SIDE_REQS - 1)] = trace;
	c->req_n = n + 1;
}

/*
 * The request a server's send answers: the oldest not yet answered; it
 * stays the answer while no later one is queued (a reply in several sends).
 */
static __always_inline __u32 side_req_reply(struct krt_conn_side *c)
{
	if (!c->req_n)
		return 0;
	if (c->req_answered && c->req_n > 1) {
		c->req[0] = c->req[1];
		c->req[1] = c->req[2];
		c->req[2] = c->req[3];
		c->req_n--;
	}
	c->req_answered = 1;
	return c->req[0];
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
		if (s && s->cookie == cookie)
			return &s->c;
	}
	return NULL;
}

/* As thread_get: the first free probed slot, claimed, zeroed and named. */
#define KRT_COOKIE_FILL_BIT (1ULL << 63)

static __always_inline struct krt_conn_side *conn_get(__u64 cookie)
{
	struct krt_conn_side *c = conn_find(cookie);
	struct krt_conn_slot *s;
	__u64 cur;
	__u32 p;
	int i;

	if (c || !cookie)
		return c;
	for (p = 0; p < KRT_PROBES; p++) {
		s = conn_probe(cookie, p);
		if (!s)
			return NULL;
		cur = s->cookie;
		if (!cur) {
			cur = __sync_val_compare_and_swap(&s->cookie, 0, cookie | KRT_COOKIE_FILL_BIT);
			if (!cur) {
				__builtin_memset(&s->c, 0, sizeof(s->c));
				__sync_val_compare_and_swap(&s->cookie, cookie | KRT_COOKIE_FILL_BIT,
							    cookie);
				if (p)
					__sync_fetch_and_add(&slot_probed, 1);
				return &s->c;
			}
		}
		if (cur == (cookie | KRT_COOKIE_FILL_BIT) || cur == cookie) {
			for (i = 0; i < KRT_FILL_WAIT && *(volatile __u64 *)&s->cookie != cookie;
			     i++)
				fill_wait_turn();
			if (s->cookie == cookie)
				return &s->c;
			__sync_fetch_and_add(&slot_busy, 1);
			return NULL;
		}
	}
	__sync_fetch_and_add(&slot_full, 1);
	return NULL;
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
			__sync_val_compare_and_swap(&s->cookie, cookie, 0);
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

static __always_inline bool is_gateway(const struct krt_addr *a)
{
	int i;

	if (!gateway_family || a->family != gateway_family)
		return false;
	for (i = 0; i < 16; i++) {
		if (a->family == KRT_AF_INET && i == 4)
			break;
		if (a->addr[i] != gateway_addr[i])
			return false;
	}
	return true;
}

/* A new request at the gateway door: its id, and whether it is sampled. */
static __always_inline __u32 trace_new(void)
{
	__u32 id = (__sync_fetch_and_add(&next_trace_id, 1) + 1) & KRT_TRACE_ID_MASK;

	__sync_fetch_and_add(&traces_started, 1);
	if (sample_rate > 1 && (id - 1) % sample_rate)
		return id | KRT_TRACE_SAMPLED_OUT;
	__sync_fetch_and_add(&traces_sampled, 1);
	return id;
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
		if (s && s->claim == KRT_SLOT_USED && dir_key_eq(&s->key, k))
			return &s->dt;
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
	__u32 h = dir_hash(k), p, cur;
	struct krt_dir_slot *s;
	int i;

	if (dt)
		return dt;
	for (p = 0; p < KRT_PROBES; p++) {
		s = dir_probe(h, p);
		if (!s)
			return NULL;
		cur = s->claim;
		if (cur == KRT_SLOT_FREE) {
			cur = __sync_val_compare_and_swap(&s->claim, KRT_SLOT_FREE, KRT_SLOT_FILLING);
			if (cur == KRT_SLOT_FREE) {
				/* zeroed here, not at the free: see thread_get */
				__builtin_memset(&s->dt, 0, sizeof(s->dt));
				__builtin_memcpy(&s->key, k, sizeof(*k));
				__sync_val_compare_and_swap(&s->claim, KRT_SLOT_FILLING, KRT_SLOT_USED);
				if (p)
					__sync_fetch_and_add(&slot_probed, 1);
				return &s->dt;
			}
		}
		if (cur == KRT_SLOT_FILLING) {
			for (i = 0; i < KRT_FILL_WAIT &&
				    *(volatile __u32 *)&s->claim == KRT_SLOT_FILLING; i++)
				fill_wait_turn();
			cur = s->claim;
			if (cur == KRT_SLOT_FILLING) {
				__sync_fetch_and_add(&slot_busy, 1);
				return NULL;
			}
		}
		if (cur == KRT_SLOT_USED && dir_key_eq(&s->key, k))
			return &s->dt;
	}
	__sync_fetch_and_add(&slot_full, 1);
	return NULL;
}

/* Direction k leaves (its connection closed). */
static __always_inline void dir_forget(const struct krt_dir_key *k)
{
	__u32 h = dir_hash(k), p;
	struct krt_dir_slot *s;

	for (p = 0; p < KRT_PROBES; p++) {
		s = dir_probe(h, p);
		if (s && s->claim == KRT_SLOT_USED && dir_key_eq(&s->key, k)) {
			__sync_val_compare_and_swap(&s->claim, KRT_SLOT_USED, KRT_SLOT_FREE);
			return;
		}
	}
}

/*
 * The tag of the received bytes [seq, last] on direction k: the segment
 * holding the last byte; every segment read is queued as a request on a
 * server side, oldest first (pipelined requests read at once).
 */
static __always_inline __u32 seg_scan(struct krt_conn_side *c, struct krt_dir_tags *dt,
				      __u32 seq, __u32 last, bool queue, __u64 *covered)
{
	__u32 trace = 0;
	int i;

	for (i = 0; i < KRT_TAG_SEGS; i++) {
		struct krt_tag_seg *sg = &dt->seg[(dt->next + i) % KRT_TAG_SEGS];

		if (!sg->len)
			continue;
		/* overlaps [seq, last] */
		if (sg->seq - seq <= last - seq || seq - sg->seq < sg->len) {
			/* the sender's hook ran: tagged, or sent with no trace */
			if (last - sg->seq < sg->len)
				*covered = 1;
			if (!sg->trace)
				continue;
			if (queue)
				side_req_received(c, sg->trace);
			if (last - sg->seq < sg->len)
				trace = sg->trace;
		}
	}
	return trace;
}

/*
 * Receive: the bytes' tag (segment holding the last byte received) becomes
 * the thread's current trace; a first receive from the gateway starts a
 * request; bytes from an untraced peer leave the trace unchanged.
 */
static __always_inline __u32 tag_receive(__u32 tid, __u32 pid, __u64 cookie,
					 const struct krt_tuple *t, __u32 seq, __u32 len,
					 __u64 *decided, struct krt_dir_tags *dt, __u64 *clk,
					 struct krt_cpu *carry)
{
	struct krt_thread_state *th = thread_get(tid);
	struct krt_conn_side *c = conn_get(cookie);
	__u32 last = seq + len - 1, trace = 0;
	__u64 covered = false;

	if (!th || !c) {
		*decided = false;
		return th ? th->trace : 0;
	}
	/* The gateway is outside the application: its bytes carry no tag (dt NULL). */
	if (dt)
		trace = seg_scan(c, dt, seq, last, true, &covered);
	if (!trace && is_gateway(&t->remote)) {
		/* rule 1: first receive since the connection opened or we last sent */
		if (c->in_request && c->last_recv_trace)
			trace = c->last_recv_trace;
		else
			trace = trace_new();
	} else if (!trace && dt) {
		/*
		 * No tag on these bytes from a traced container (yet: the
		 * sender's hook runs after its transfer, maybe on another CPU
		 * right now). Until it comes, the thread's trace is a guess
		 * for what it sends: tag_pending makes those sends unsure (the
		 * engine's rules decide). Its time stays with its trace: the
		 * window is microseconds, and no switch records for it. Set
		 * before the entry is published, so that a late tag finds it.
		 */
		__u64 made_pending = false;

		if (!c->peer)
			c->peer = peer_traced(&t->remote) ? 1 : 2;
		/*
		 * Not when the bytes were sent with no trace (covered) or by an
		 * untraced peer (never tagged): the trace stays as it was.
		 */
		if (!covered && c->peer == 1 && !(th->trace & KRT_TRACE_SAMPLED_OUT)) {
			th->tag_pending = 1;
			made_pending = true;
		}
		dt->untagged.made_pending = made_pending;
		dt->untagged.cookie = cookie;
		dt->untagged.tid = tid;
		dt->untagged.pid = pid;
		dt->untagged.seq = seq;
		dt->untagged.len = len;
		dt->untagged.prev_trace = th->trace;
		/*
		 * Look again after a full barrier: a sender that stored its
		 * tag meanwhile either finds our entry or we find its tag (the
		 * segments read before are queued already).
		 */
		__sync_fetch_and_add(&dt->sync, 0);
		trace = seg_scan(c, dt, seq, last, false, &covered);
		/* tagged, or sent with no trace, meanwhile: nothing pending */
		if (trace || covered)
			th->tag_pending = 0;
	}
	c->in_request = 1;
	*decided = trace && trace_decided(trace);
	if (trace) {
		if (th->trace != trace || th->entry_cookie != cookie) {
			th->replied = 0;
			th->entry_cookie = cookie;
		}
		thread_set_trace(th, tid, pid, NULL, trace, clk, carry);
		th->handed = 0;
		th->tag_pending = 0;
		c->last_recv_trace = trace;
		side_req_received(c, trace);
	}
	return th->trace;
}

/* A receive decided late: the current thread takes the bytes' trace (rule 2). */
static __always_inline void recv_takes_tag(__u32 tid, __u32 pid, __u64 cookie, __u32 trace,
					   __u64 *clk, struct krt_cpu *carry)
{
	struct krt_thread_state *th = thread_find(tid);
	struct krt_conn_side *c = conn_find(cookie);

	if (c) {
		c->last_recv_trace = trace;
		side_req_received(c, trace);
	}
	if (!th)
		return;
	if (th->trace != trace || th->entry_cookie != cookie) {
		th->replied = 0;
		th->entry_cookie = cookie;
	}
	thread_set_trace(th, tid, pid, NULL, trace, clk, carry);
	th->handed = 0;
	th->tag_pending = 0;
}

/*
 * The receiver already read these bytes (its hook ran first, on another
 * CPU) and found no tag: it takes the trace now, unless it has one since.
 */
static __always_inline bool late_tag(struct krt_dir_tags *dt, __u32 seq, __u32 len, __u32 trace)
{
	struct krt_untagged_recv *u = &dt->untagged;
	struct krt_thread_state *th;
	struct krt_conn_side *c;
	__u32 last;

	if (!u->len)
		return false;
	last = u->seq + u->len - 1;
	if (last - seq >= len)
		return false;
	/* the tag has come: nothing is pending for that receive any more */
	th = thread_find(u->tid);
	if (th && u->made_pending)
		th->tag_pending = 0;
	if (!trace) {
		/* read already, bytes of no request: the receiver's trace stays */
		u->len = 0;
		return true;
	}
	/*
	 * The receiver takes it unless its trace changed since that receive
	 * (it has moved on to other bytes).
	 */
	if (th && (!(th->trace & KRT_TRACE_ID_MASK) || th->trace == u->prev_trace)) {
		thread_set_trace(th, u->tid, u->pid, NULL, trace, NULL, NULL);
		th->entry_cookie = u->cookie;
		th->replied = 0;
		th->handed = 0;
	}
	/*
	 * A request for the server side's queue, as if read with its tag: on
	 * a keep-alive connection, missing it would make the reply answer
	 * the previous request.
	 */
	c = conn_find(u->cookie);
	if (c) {
		c->last_recv_trace = trace;
		side_req_received(c, trace);
	}
	__sync_fetch_and_add(&late_tags, 1);
	u->len = 0;
	return true;
}

/*
 * Send: the tag the bytes carry (SPEC section 3): a reply on a connection
 * this side accepted belongs to the request read on it; the first send on
 * a connection this thread opened carries the trace of connect time;
 * otherwise the thread's current trace.
 */
static __always_inline __u32 tag_send(__u32 tid, __u32 pid, __u64 cookie,
				      const struct krt_tuple *t, __u64 *to_peer)
{
	struct krt_thread_state *th = thread_get(tid);
	struct krt_conn_side *c = conn_get(cookie);
	__u32 trace = 0;
	bool server;

	if (!th || !c)
		return th ? th->trace : 0;
	/* looked up once per connection, not per send */
	if (merge_hops && !c->peer)
		c->peer = peer_traced(&t->remote) ? 1 : 2;
	*to_peer = c->peer == 1;
	/* Connections older than the tracer: servers listen on the lower port. */
	server = c->origin_known ? !c->client : t->local.port < t->remote.port;
	if (server && c->req_n)
		trace = side_req_reply(c);
	else if (server && c->last_recv_trace)
		trace = c->last_recv_trace;
	else if (c->client && !c->sent_any && c->connect_trace)
		trace = c->connect_trace;
	else
		trace = th->trace;
	/*
	 * A pool worker between jobs (its claim ended) that sends with no
	 * receive or wake-up since took its next job from the queue by
	 * itself: which one is not visible here. "No trace" would be a
	 * decision, and a wrong one: the send is unsure, without a guess, and
	 * the engine's rule 6 decides (the worker's switches go out from now).
	 */
	if (!trace && th->pooled) {
		thread_set_trace(th, tid, pid, NULL, KRT_TRACE_UNSURE, NULL, NULL);
		trace = KRT_TRACE_UNSURE;
	}
	/* its last receive's tag not stored yet: the trace it would carry is a guess */
	if (th->tag_pending && !(trace & KRT_TRACE_SAMPLED_OUT))
		trace |= KRT_TRACE_UNSURE;
	c->sent_any = 1;
	c->in_request = 0;
	/*
	 * Claim end, step one: the thread answered its request, on the
	 * connection the request came in on, or (a pool worker handed the
	 * request) as a server reply carrying the thread's trace.
	 */
	if (th->trace && (th->entry_cookie == cookie || (server && c->last_recv_trace)))
		th->replied = 1;
	th->handed = 0;
	return trace;
}

/*
 * The sent bytes' tag goes in the direction's segments; true when the
 * receiver read them already (its hook ran first, on another CPU).
 */
static __always_inline bool tag_store(struct krt_dir_tags *dt, __u32 seq, __u32 len,
				      __u32 trace)
{
	__u32 slot;

	slot = dt->next++ % KRT_TAG_SEGS;
	dt->seg[slot].seq = seq;
	dt->seg[slot].len = len;
	dt->seg[slot].trace = trace;
	/*
	 * A full barrier (locked add): the segment is visible before we look
	 * for a receive that missed it; the receiver inserts first and then
	 * looks for a waiting send, so one of the two sees the other.
	 */
	__sync_fetch_and_add(&dt->sync, 0);
	return late_tag(dt, seq, len, trace);
}

/*
 * The syscall that led here and its fd, from the task's saved user
 * registers: cheaper than a sys_enter hook on every syscall of the machine.
 */
static __always_inline void read_syscall_nr(__u16 *nr_out, __s32 *fd_out)
{
	*fd_out = -1;
#if defined(__TARGET_ARCH_x86)
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	long nr = regs->orig_ax;

	switch (nr) {
	case KRT_NR_read:
	case KRT_NR_write:
	case KRT_NR_readv:
	case KRT_NR_writev:
	case KRT_NR_sendto:
	case KRT_NR_recvfrom:
	case KRT_NR_sendmsg:
	case KRT_NR_recvmsg:
	case KRT_NR_sendmmsg:
	case KRT_NR_recvmmsg:
		*nr_out = nr;
		*fd_out = (__s32)regs->di;
		break;
	default:
		/* io_uring, sendfile, splice, kernel sockets: fd unknown */
		if (nr >= 0 && nr < 0xffff)
			*nr_out = nr;
		break;
	}
#endif
}

static __always_inline void read_syscall(struct krt_xfer *x)
{
	read_syscall_nr(&x->syscall_nr, &x->fd);
}

/* A waiting send as a SEND record of its own (direction k: sender -> receiver). */
static __always_inline void emit_waiting_send(const struct krt_dir_key *k,
					      const struct krt_xfer_peer *ps)
{
	struct krt_event *e = event_reserve(KRT_EV_XFER);
	struct krt_tuple t;

	if (!e)
		return;
	krt_dir_key_tuple(k, &t);
	krt_peer_send_fill(e, ps, &t);
	COUNT(sends_flushed);
	event_submit(e);
}

/*
 * The direction's slot, claimed for a send that will wait in it for its
 * receiver, or NULL: a send already waits there (a stream the receiver
 * reads in bulk: the newer sends go out at once, the waiting one rides in
 * the receive that reads it), someone is copying it, or the map is full.
 */
static __always_inline struct krt_deferred_send *send_slot(struct krt_dir_tags *dt)
{
	struct krt_deferred_send *d = &dt->wait;

	if (d->state != KRT_DEFER_EMPTY ||
	    __sync_val_compare_and_swap(&d->state, KRT_DEFER_EMPTY, KRT_DEFER_BUSY) !=
		    KRT_DEFER_EMPTY)
		return NULL;
	return d;
}

/*
 * A receive of [seq, seq + len) on direction k: the waiting send it reads
 * rides in its record (true). One that ends before these bytes was read
 * unseen (or while its slot was busy): it goes out on its own.
 */
static __always_inline bool recv_takes_send(struct krt_dir_tags *dt, const struct krt_dir_key *k,
					    __u32 seq, __u32 len, struct krt_xfer_peer *out)
{
	struct krt_deferred_send *d = &dt->wait;
	__u32 off;

	if (d->state != KRT_DEFER_WAITING ||
	    __sync_val_compare_and_swap(&d->state, KRT_DEFER_WAITING, KRT_DEFER_BUSY) !=
		    KRT_DEFER_WAITING)
		return false;
	off = d->send.seq - seq;	/* where the send starts, from these bytes */
	if (off < len || seq - d->send.seq < d->send.bytes) {
		*out = d->send;
		COUNT(hops_merged);
		__sync_val_compare_and_swap(&d->state, KRT_DEFER_BUSY, KRT_DEFER_EMPTY);
		return true;
	}
	if ((__s32)off < 0) {
		emit_waiting_send(k, &d->send);
		__sync_val_compare_and_swap(&d->state, KRT_DEFER_BUSY, KRT_DEFER_EMPTY);
		return false;
	}
	/* later bytes than these: it keeps waiting */
	__sync_val_compare_and_swap(&d->state, KRT_DEFER_BUSY, KRT_DEFER_WAITING);
	return false;
}

/*
 * Direction k's waiting send goes out now (its connection closes), and the
 * direction leaves the map: the map holds open connections only.
 */
static __always_inline void flush_waiting(const struct krt_dir_key *k)
{
	struct krt_dir_tags *dt = dir_find(k);
	struct krt_deferred_send *d;

	if (!dt)
		return;
	d = &dt->wait;
	if (d->state == KRT_DEFER_WAITING &&
	    __sync_val_compare_and_swap(&d->state, KRT_DEFER_WAITING, KRT_DEFER_BUSY) ==
		    KRT_DEFER_WAITING)
		emit_waiting_send(k, &d->send);
	else if (d->state != KRT_DEFER_EMPTY)
		return;	/* being copied: the next close or the exit collects it */
	dir_forget(k);
}

/* The receiver read these bytes first: our waiting send goes out now. */
static __always_inline void send_unwait(struct krt_dir_tags *dt, const struct krt_dir_key *k,
					__u32 seq)
{
	struct krt_deferred_send *d = &dt->wait;

	if (__sync_val_compare_and_swap(&d->state, KRT_DEFER_WAITING, KRT_DEFER_BUSY) !=
			  KRT_DEFER_WAITING)
		return;	/* the receiver took it: merged after all */
	if (d->send.seq != seq) {
		/* a later send waits there now: ours went out already */
		__sync_val_compare_and_swap(&d->state, KRT_DEFER_BUSY, KRT_DEFER_WAITING);
		return;
	}
	emit_waiting_send(k, &d->send);
	__sync_val_compare_and_swap(&d->state, KRT_DEFER_BUSY, KRT_DEFER_EMPTY);
}

/*
 * With sampling, a running thread that moves to an unsampled request
 * leaves user space's view as if it switched out (its time from now on
 * belongs to no traced request), and comes back as if it switched in when
 * it takes a sampled request again.
 */
static __always_inline void sampling_switch(__u64 pid_tgid, __u32 trace)
{
	__u32 tid = (__u32)pid_tgid;
	struct krt_thread_state *t = thread_find(tid);
	bool out = trace & KRT_TRACE_SAMPLED_OUT;
	struct krt_event *e;

	if (!t || (out && !t->shown_oncpu) || (!out && t->shown_oncpu))
		return;
	e = event_reserve(KRT_EV_SWITCH);
	if (!e)
		return;
	event_fill_current(e);
	if (out) {
		e->sw.prev_tid = tid;
		e->sw.prev_pid = pid_tgid >> 32;
		__builtin_memcpy(e->sw.prev_comm, e->comm, sizeof(e->comm));
	} else {
		e->sw.next_tid = tid;
		e->sw.next_pid = pid_tgid >> 32;
		__builtin_memcpy(e->sw.next_comm, e->comm, sizeof(e->comm));
	}
	t->shown_oncpu = !out;
	event_submit(e);
}

/* A CPU record of the current thread (time a receive would have carried). */
static __always_inline void cpu_record(const struct krt_cpu *c, __u64 now)
{
	struct krt_event *e = event_reserve_at(KRT_EV_CPU, now);

	if (!e)
		return;
	event_fill_current(e);
	e->oncpu = *c;
	event_submit(e);
}

/* What a transfer hook read of its socket. */
struct xfer_sock {
	struct krt_tuple tuple;
	__u64 id;		/* the socket cookie, or its keyed address (syscall hooks) */
	__u32 seq;		/* TCP sequence of the first byte moved */
	__u64 have_seq;		/* 64-bit: clang 14 spill/fill sizes, see handle_xfer */
};

/* A socket hook's struct sock (a trusted BTF pointer): plain loads. */
static __always_inline bool xfer_sock_btf(struct sock *sk, int ret, __u8 dir,
					  struct xfer_sock *f)
{
	struct tcp_sock *tp;
	__u16 family;

	if (!sk || !sock_is_tcp(sk, &family))
		return false;
	read_tuple(sk, family, &f->tuple);
	f->id = bpf_get_socket_cookie(sk);
	/* The hook runs after the transfer: the sequence moved by ret bytes. */
	tp = bpf_skc_to_tcp_sock(sk);
	f->have_seq = tp != NULL;
	if (tp)
		f->seq = (dir == KRT_DIR_SEND ? tp->write_seq : tp->copied_seq) - (__u32)ret;
	else
		__sync_fetch_and_add(&sock_unreadable, 1);
	return true;
}

static __always_inline int handle_xfer(const struct xfer_sock *f, int ret, __u8 dir,
				       __u64 pid_tgid)
{
	const struct krt_tuple *tuple = &f->tuple;
	struct krt_event *e;
	struct krt_xfer *x;
	__u32 seq = f->seq;
	__u64 trace = 0;	/* 64-bit: see the flags below */
	/* 64-bit flags: clang 14 spills bools in one size and fills in another (verifier: "invalid size of register fill") */
	__u64 have_seq = f->have_seq, decided = true, got_peer = false, read_already = false;
	__u64 waiting = false, to_peer = false;
	struct krt_dir_key wk = {};	/* this transfer's direction: sender -> receiver */
	struct krt_dir_tags *dt = NULL;
	struct krt_xfer_peer peer = {};	/* zeroed: clang may load it before testing got_peer */
	__u64 cookie = f->id;
	__u64 clk = 0;		/* this hook's clock, read once (clock_now) */
	struct krt_cpu carry = {};	/* a receive: the thread's time for its trace before */

	if (kernel_tags && have_seq) {
		if (dir == KRT_DIR_SEND) {
			trace = tag_send((__u32)pid_tgid, pid_tgid >> 32, cookie, tuple, &to_peer);
			/* a guess travels with the bytes; the record lets the engine decide */
			decided = trace_decided(trace);
			/*
			 * A send to a traced container waits for its receiver,
			 * published before its tag: a receiver that finds the
			 * tag finds the waiting send too.
			 */
			dir_key(&wk, &tuple->local, &tuple->remote);
			dt = dir_get(&wk);
			if (dt && merge_hops && decided && !(trace & KRT_TRACE_SAMPLED_OUT) &&
			    to_peer) {
				struct krt_deferred_send *d = send_slot(dt);

				if (d) {
					struct krt_xfer_peer *ps = &d->send;

					ps->ts_ns = clock_now(&clk);
					ps->sock_id = cookie;
					ps->tid = (__u32)pid_tgid;
					ps->pid = pid_tgid >> 32;
					ps->seq = seq;
					ps->bytes = ret;
					ps->trace_id = trace;
					ps->cpu = bpf_get_smp_processor_id();
					read_syscall_nr(&ps->syscall_nr, &ps->fd);
					/* two loads through the task's BTF pointer, not a helper call */
					__builtin_memcpy(ps->comm,
							 bpf_get_current_task_btf()->comm,
							 sizeof(ps->comm));
					__sync_val_compare_and_swap(&d->state, KRT_DEFER_BUSY,
								    KRT_DEFER_WAITING);
					waiting = true;
				}
			}
			if (dt)
				read_already = tag_store(dt, seq, ret, trace);
			if (dt && waiting && read_already)
				send_unwait(dt, &wk, seq);
			if (waiting)
				return 0;
		} else {
			/* only sampling without CPU in the kernel needs the trace before */
			__u32 old = sample_rate > 1 && !cpu_in_kernel ?
					    thread_trace((__u32)pid_tgid) : 0;

			/* the gateway's bytes carry no tag: no direction state */
			dir_key(&wk, &tuple->remote, &tuple->local);
			if (!is_gateway(&tuple->remote))
				dt = dir_get(&wk);
			trace = tag_receive((__u32)pid_tgid, pid_tgid >> 32, cookie, tuple, seq,
					    ret, &decided, dt, &clk, &carry);
			if (sample_rate > 1 && !cpu_in_kernel && old != trace)
				sampling_switch(pid_tgid, trace);
		}
		if (trace & KRT_TRACE_SAMPLED_OUT) {
			COUNT(sampled_out);
			/* no record to carry it: the time before goes on its own */
			if (carry.oncpu_ns || carry.runq_ns)
				cpu_record(&carry, clock_now(&clk));
			return 0;
		}
	}

	/* even undecided: a receive that missed the tag may still find the send */
	if (merge_hops && have_seq && dir == KRT_DIR_RECV && dt) {
		got_peer = recv_takes_send(dt, &wk, seq, ret, &peer);
		/*
		 * It missed the tag and the sender missed it (both hooks at
		 * once): the send it took carries the tag.
		 */
		if (got_peer && !decided && trace_decided(peer.trace_id)) {
			trace = peer.trace_id;
			recv_takes_tag((__u32)pid_tgid, pid_tgid >> 32, cookie, trace, &clk,
				       &carry);
			decided = true;
		}
	}

	e = event_reserve_at(KRT_EV_XFER, clock_now(&clk));
	if (!e)
		return 0;
	event_fill_current(e);
	x = &e->xfer;
	x->dir = dir;
	x->bytes = ret;
	x->enter_ns = e->ts_ns;
	x->sock_id = cookie;
	read_syscall(x);
	x->tuple = *tuple;
	if (have_seq) {
		x->seq = seq;
		x->flags |= KRT_XF_SEQ;
	}
	/*
	 * A receive whose bytes carried no tag (untraced peer, or the sender's
	 * hook not run yet) was not decided here: the engine's rules decide.
	 */
	if (kernel_tags && have_seq && decided) {
		x->trace_id = trace;
		x->flags |= KRT_XF_TAGGED;
	}
	if (got_peer) {
		x->peer = peer;
		x->flags |= KRT_XF_PEER;
	}
	if (carry.oncpu_ns || carry.runq_ns) {
		x->cpu_before = carry;
		x->flags |= KRT_XF_CPU;
	}
	event_submit(e);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(krt_sock_send, struct sock *sk, int ret, int flags)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct xfer_sock f = {};

	if (empty_hooks)
		return 0;
	if (ret <= 0 || !tgid_traced(pid_tgid >> 32))
		return 0;
	if (!xfer_sock_btf(sk, ret, KRT_DIR_SEND, &f))
		return 0;
	return handle_xfer(&f, ret, KRT_DIR_SEND, pid_tgid);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(krt_sock_recv, struct sock *sk, int ret, int flags)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct xfer_sock f = {};

	if (empty_hooks)
		return 0;
	/* A peek leaves the bytes queued: the real receive comes later. */
	if (ret <= 0 || (flags & KRT_MSG_PEEK) || !tgid_traced(pid_tgid >> 32))
		return 0;
	if (!xfer_sock_btf(sk, ret, KRT_DIR_RECV, &f))
		return 0;
	return handle_xfer(&f, ret, KRT_DIR_RECV, pid_tgid);
}

/*
 * The syscall-exit fallback reads the socket behind the syscall's fd. Its
 * pointers are plain numbers to the verifier (read through the fd table),
 * so every field is a CO-RE probe read; false when the fd is not a TCP
 * socket (files, pipes, UDP).
 */
static __always_inline bool xfer_sock_fd(long fd, int ret, __u8 dir, struct xfer_sock *f)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *file = NULL;
	struct tcp_sock *tp;
	struct socket *so;
	struct sock *sk;
	__u16 family, proto;

	if (fd < 0 || !fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return false;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return false;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & KRT_S_IFMT) != KRT_S_IFSOCK)
		return false;
	so = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(so, sk);
	if (!sk)
		return false;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != KRT_AF_INET && family != KRT_AF_INET6)
		return false;
	if (bpf_core_field_size(sk->sk_protocol) == sizeof(__u16))
		proto = BPF_CORE_READ(sk, sk_protocol);
	else
		proto = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	if (proto != KRT_IPPROTO_TCP)
		return false;

	f->tuple.local.family = family;
	f->tuple.remote.family = family;
	f->tuple.local.port = BPF_CORE_READ(sk, __sk_common.skc_num);
	f->tuple.remote.port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == KRT_AF_INET) {
		__u32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(f->tuple.local.addr, &l, 4);
		__builtin_memcpy(f->tuple.remote.addr, &r, 4);
	} else {
		bpf_core_read(f->tuple.local.addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(f->tuple.remote.addr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	f->id = (__u64)sk ^ sock_id_key;
	tp = (struct tcp_sock *)sk;
	f->seq = (dir == KRT_DIR_SEND ? BPF_CORE_READ(tp, write_seq) :
					BPF_CORE_READ(tp, copied_seq)) - (__u32)ret;
	f->have_seq = true;
	return true;
}

/*
 * Fallback for kernels without sock_send_length/sock_recv_length (before
 * 6.3), or with --syscall-hooks: a transfer is read at the exit of its
 * socket syscall, from the fd's socket. Every syscall of the machine runs
 * this hook (untraced ones return after two compares and one load);
 * sendfile, splice, io_uring and the mmsg calls are not seen.
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(krt_sys_exit, struct pt_regs *regs, long ret)
{
	if (empty_hooks)
		return 0;
#if defined(__TARGET_ARCH_x86)
	struct xfer_sock f = {};
	__u64 pid_tgid, flags = 0;
	__u8 dir;

	if (ret <= 0)
		return 0;
	switch (regs->orig_ax) {
	case KRT_NR_write:
	case KRT_NR_writev:
	case KRT_NR_sendto:
	case KRT_NR_sendmsg:
		dir = KRT_DIR_SEND;
		break;
	case KRT_NR_read:
	case KRT_NR_readv:
		dir = KRT_DIR_RECV;
		break;
	case KRT_NR_recvfrom:
		flags = regs->r10;	/* recvfrom(fd, buf, len, flags, ...) */
		dir = KRT_DIR_RECV;
		break;
	case KRT_NR_recvmsg:
		flags = regs->dx;	/* recvmsg(fd, msg, flags) */
		dir = KRT_DIR_RECV;
		break;
	default:
		return 0;
	}
	pid_tgid = bpf_get_current_pid_tgid();
	if ((flags & KRT_MSG_PEEK) || !tgid_traced(pid_tgid >> 32))
		return 0;
	if (!xfer_sock_fd(regs->di, ret, dir, &f))
		return 0;
	/* two inlined copies, each with a constant direction, as in the socket hooks */
	if (dir == KRT_DIR_SEND)
		return handle_xfer(&f, ret, KRT_DIR_SEND, pid_tgid);
	return handle_xfer(&f, ret, KRT_DIR_RECV, pid_tgid);
#else
	return 0;
#endif
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(krt_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	struct krt_event *e;

	if (empty_hooks)
		return 0;
	if (!tgid_traced(ptgid))
		return 0;
	/* A new process (not a thread) of a traced process is traced too. */
	if (ctgid != ptgid)
		tgid_set_traced(ctgid, true);
	/* a reused tid starts clean (state left by a thread whose exit we missed) */
	thread_forget(child->pid);

	e = event_reserve(KRT_EV_FORK);
	if (!e)
		return 0;
	event_fill_current(e);
	e->fork.parent_pid = ptgid;
	e->fork.parent_tid = parent->pid;
	e->fork.child_pid = ctgid;
	e->fork.child_tid = child->pid;
	__builtin_memcpy(e->fork.child_comm, child->comm, sizeof(e->fork.child_comm));
	event_submit(e);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(krt_exit, struct task_struct *task)
{
	__u32 tgid = task->tgid, tid = task->pid;
	struct krt_event *e;

	if (empty_hooks)
		return 0;
	if (!tgid_traced(tgid)) {
		/*
		 * A thread of a process no longer traced (its leader exited
		 * first): its slot goes, or it would stay held for good.
		 */
		thread_forget(tid);
		return 0;
	}
	if (cpu_in_kernel) {
		struct krt_thread_state *t = thread_find(tid);

		if (t)
			cpu_flush(t, tid, tgid, task->comm, bpf_ktime_get_ns(), NULL);
	}
	thread_forget(tid);
	e = event_reserve(KRT_EV_EXIT);
	if (e) {
		e->pid = tgid;
		e->tid = tid;
		__builtin_memcpy(e->comm, task->comm, sizeof(e->comm));
		event_submit(e);
	}
	/*
	 * The group leader's exit ends the process for us; a later tgid reuse
	 * by an unrelated process must not be traced.
	 */
	if (tid == tgid)
		tgid_set_traced(tgid, false);
	return 0;
}

/*
 * Idle is not request time: a thread that answered on its entry connection
 * and now blocks is done with the request, and so is one woken with a trace
 * that blocks again having sent nothing (another worker took the job: one
 * condvar signal, several workers).
 */
static __always_inline bool claim_ends(const struct krt_thread_state *t, __s64 state)
{
	return state && t->trace && (t->replied || t->handed);
}

static __always_inline void claim_end(struct krt_thread_state *t)
{
	t->trace = 0;
	t->replied = 0;
	t->handed = 0;
	t->entry_cookie = 0;
}

/*
 * The kernel counts each task's run-queue waits (CONFIG_SCHED_INFO, in
 * every distribution kernel); without it, wake-up to switch-in is timed
 * here.
 */
static __always_inline bool runq_from_sched_info(void)
{
	return bpf_core_field_exists(struct task_struct, sched_info);
}

/* The switch record's two sides; a side with tid 0 is not shown. */
static __always_inline void switch_record(struct task_struct *prev, struct task_struct *next,
					  bool show_prev, bool show_next, __s64 state, __u64 now)
{
	struct krt_event *e = event_reserve_at(KRT_EV_SWITCH, now);

	if (!e)
		return;
	if (show_prev) {
		e->pid = prev->tgid;
		e->tid = prev->pid;
		__builtin_memcpy(e->comm, prev->comm, sizeof(e->comm));
		e->sw.prev_tid = prev->pid;
		e->sw.prev_pid = prev->tgid;
		e->sw.prev_state = state;
		__builtin_memcpy(e->sw.prev_comm, e->comm, sizeof(e->comm));
	}
	if (show_next) {
		e->sw.next_tid = next->pid;
		e->sw.next_pid = next->tgid;
		__builtin_memcpy(e->sw.next_comm, next->comm, sizeof(e->sw.next_comm));
		if (!show_prev) {
			e->pid = next->tgid;
			e->tid = next->pid;
			__builtin_memcpy(e->comm, e->sw.next_comm, sizeof(e->comm));
		}
	}
	event_submit(e);
}

/*
 * On-CPU time gathered here (the default): no record at all, except for
 * threads user space counts itself (their trace is unsure: it sees their
 * switches, and the switch-out of one it saw switching in).
 */
static __always_inline int switch_cpu_in_kernel(struct task_struct *prev, struct task_struct *next,
						struct krt_thread_state *pt,
						struct krt_thread_state *nt, __u32 prev_tid,
						__u32 prev_tgid, __u32 next_tid, bool next_traced,
						__s64 state)
{
	__u64 now = bpf_ktime_get_ns();
	bool show_prev = false, show_next = false;

	if (pt) {
		/*
		 * Run-queue delay from the scheduler's own count (sched_info:
		 * every wait on a run queue, after a wake-up or a preemption,
		 * is added when the task switches in): what the run now
		 * ending waited goes to the trace it worked for. No hook on
		 * the machine's wake-ups needs a clock or a map for it.
		 */
		if (runq_from_sched_info()) {
			__u64 rd = prev->sched_info.run_delay;

			if (pt->runq_known)
				pt->acc_runq += rd - pt->runq_base;
			pt->runq_base = rd;
			pt->runq_known = 1;
		}
		if (pt->shown_oncpu) {
			show_prev = true;
			pt->shown_oncpu = 0;
		} else if (pt->oncpu_since) {
			pt->acc_oncpu += now - pt->oncpu_since;
		}
		pt->oncpu_since = 0;
		if (claim_ends(pt, state)) {
			if (!show_prev)
				cpu_flush(pt, prev_tid, prev_tgid, prev->comm, now, NULL);
			claim_end(pt);
		}
	}
	if (next_traced && !nt)
		nt = thread_get(next_tid);
	if (nt) {
		if (!runq_from_sched_info() && nt->woken_at) {
			nt->acc_runq += now - nt->woken_at;
			nt->woken_at = 0;
		}
		if (!trace_decided(nt->trace) && !(nt->trace & KRT_TRACE_SAMPLED_OUT)) {
			show_next = true;
			nt->shown_oncpu = 1;
			nt->oncpu_since = 0;
		} else {
			nt->oncpu_since = now;
		}
	}
	if (show_prev || show_next)
		switch_record(prev, next, show_prev, show_next, state, now);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(krt_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 prev_tgid = prev->tgid, next_tgid = next->tgid;
	__u32 prev_tid = prev->pid, next_tid = next->pid;
	bool prev_traced = tgid_traced(prev_tgid), next_traced = tgid_traced(next_tgid);
	bool prev_keep = prev_traced, next_keep = next_traced;
	struct krt_thread_state *pt = NULL, *nt = NULL;
	struct krt_event *e;
	__s64 state;

	if (empty_hooks)
		return 0;
	if (!prev_traced && !next_traced)
		return 0;
	/*
	 * 0 = still runnable, as in the sched_switch event: preempted, or
	 * rescheduled on its way back to user space (preempt is false there,
	 * the state TASK_RUNNING): not blocked.
	 */
	state = preempt ? 0 : (prev->__state & 0xff);
	if (kernel_tags) {
		pt = prev_traced ? thread_find(prev_tid) : NULL;
		nt = next_traced ? thread_find(next_tid) : NULL;
		/*
		 * Unsampled requests leave no switch records, except the
		 * switch-out of a thread user space saw switching in (else it
		 * would count the thread on CPU until its next record).
		 */
		if (pt && (pt->trace & KRT_TRACE_SAMPLED_OUT) && !pt->shown_oncpu)
			prev_keep = false;
		if (nt && (nt->trace & KRT_TRACE_SAMPLED_OUT))
			next_keep = false;
		if (cpu_in_kernel)
			return switch_cpu_in_kernel(prev, next, pt, nt, prev_tid, prev_tgid,
						    next_tid, next_traced, state);
		if (pt && claim_ends(pt, state))
			claim_end(pt);
		if (!prev_keep && !next_keep) {
			COUNT(sampled_out);
			return 0;
		}
		if (pt)
			pt->shown_oncpu = 0;
		if (nt)
			nt->shown_oncpu = 1;
	}
	if (!trace_switch)
		return 0;
	e = event_reserve(KRT_EV_SWITCH);
	if (!e)
		return 0;
	e->pid = prev_tgid;
	e->tid = prev_tid;
	__builtin_memcpy(e->comm, prev->comm, sizeof(e->comm));
	e->sw.prev_tid = prev_tid;
	e->sw.prev_pid = prev_tgid;
	e->sw.next_tid = next_tid;
	e->sw.next_pid = next_tgid;
	e->sw.prev_state = state;
	__builtin_memcpy(e->sw.prev_comm, e->comm, sizeof(e->comm));
	__builtin_memcpy(e->sw.next_comm, next->comm, sizeof(e->sw.next_comm));
	event_submit(e);
	return 0;
}

/*
 * sched_waking runs in the waker's context (sched_wakeup may run on the
 * target's CPU from an IPI), so current really is the waker. Only wake-ups
 * inside one process are hand-offs (queue + futex between threads): a
 * wake-up of another process comes from socket data processed in softirq
 * on the sender's stack (an acceptor woken by a SYN), and socket bytes are
 * already followed by the transfer records.
 */
SEC("tp_btf/sched_waking")
int BPF_PROG(krt_waking, struct task_struct *p)
{
	__u32 target_tgid = p->tgid;
	struct krt_event *e;
	__u64 pid_tgid;

	if (empty_hooks)
		return 0;
	/* every wake-up of the machine comes here: untraced targets leave first */
	if (!tgid_traced(target_tgid))
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	if (cpu_in_kernel && !runq_from_sched_info()) {
		__u32 ttid = p->pid;
		struct krt_thread_state *w = thread_get(ttid);

		if (w)
			w->woken_at = bpf_ktime_get_ns();
	}
	if (!trace_wakeup)
		return 0;
	if ((pid_tgid >> 32) != target_tgid)
		return 0;
	if ((__u32)pid_tgid == (__u32)p->pid)
		return 0;
	if (kernel_tags) {
		__u32 waker_trace = thread_trace((__u32)pid_tgid), target_tid = p->pid;
		struct krt_thread_state *t;

		/*
		 * Hand-off policy: the waker's trace passes to a woken thread
		 * that has none (never had one, or its claim ended); a thread
		 * still on another request keeps it.
		 */
		if (waker_trace) {
			t = thread_get(target_tid);
			if (t && !(t->trace & KRT_TRACE_ID_MASK)) {
				/*
				 * A guess: several workers wait on one queue and
				 * the first to run dequeues; the engine decides.
				 */
				thread_set_trace(t, target_tid, target_tgid, p->comm,
						 waker_trace | KRT_TRACE_UNSURE, NULL, NULL);
				t->replied = 0;
				t->handed = 1;
				t->pooled = 1;
				t->entry_cookie = 0;
			}
		}
		if (waker_trace & KRT_TRACE_SAMPLED_OUT) {
			COUNT(sampled_out);
			return 0;
		}
	}
	e = event_reserve(KRT_EV_WAKEUP);
	if (!e)
		return 0;
	event_fill_current(e);
	e->wakeup.target_tid = p->pid;
	e->wakeup.target_pid = target_tgid;
	event_submit(e);
	return 0;
}

/*
 * The connection's id in the maps and records: its cookie, or with the
 * syscall hooks (which cannot get a cookie from a socket read through the
 * fd table) its address, keyed so that no kernel address leaves the kernel.
 */
static __always_inline __u64 sock_state_id(const struct sock *sk)
{
	if (syscall_hooks) {
		__u64 v = 0;

		/* the address as a number: the verifier forbids XOR on a pointer */
		bpf_probe_read_kernel(&v, sizeof(v), &sk);
		return v ^ sock_id_key;
	}
	return bpf_get_socket_cookie((void *)sk);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(krt_sock_state, struct sock *sk, int oldstate, int newstate)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), cookie;
	struct krt_conn_side *c;
	struct krt_event *e;
	__u16 family;

	if (empty_hooks)
		return 0;
	if (kernel_tags && newstate == KRT_TCP_CLOSE) {
		/* in any context: the last state change often runs in softirq */
		cookie = sock_state_id(sk);
		conn_forget(cookie);
		/*
		 * Its directions leave the tags map (so that live entries are
		 * open connections), a send nobody will read any more first.
		 */
		if (sock_is_tcp((struct sock *)sk, &family)) {
			struct krt_tuple t = {};
			struct krt_dir_key k = {};

			read_tuple((struct sock *)sk, family, &t);
			dir_key(&k, &t.local, &t.remote);
			flush_waiting(&k);
			dir_key(&k, &t.remote, &t.local);
			flush_waiting(&k);
		}
	}
	if (!tgid_traced(pid_tgid >> 32))
		return 0;
	if (!sock_is_tcp((struct sock *)sk, &family))
		return 0;
	cookie = sock_state_id(sk);
	if (kernel_tags && newstate == KRT_TCP_SYN_SENT) {
		c = conn_get(cookie);
		if (c) {
			c->client = 1;
			c->origin_known = 1;
			c->connect_trace = thread_trace((__u32)pid_tgid);
		}
	}
	if (kernel_tags && sample_rate > 1 &&
	    (thread_trace((__u32)pid_tgid) & KRT_TRACE_SAMPLED_OUT)) {
		COUNT(sampled_out);
		return 0;
	}
	e = event_reserve(KRT_EV_SOCK_STATE);
	if (!e)
		return 0;
	event_fill_current(e);
	e->state.oldstate = oldstate;
	e->state.newstate = newstate;
	e->state.sock_id = cookie;
	read_tuple((struct sock *)sk, family, &e->state.tuple);
	event_submit(e);
	return 0;
}
