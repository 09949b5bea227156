/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * What every program uses: the loader's knobs, the counters user space
 * reads at exit, the traced-process filter and the clock.
 */
#ifndef KRT_COMMON_BPF_H
#define KRT_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "krtrace_event.h"
#include "krtrace_bpf.h"

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
const volatile __u32 sample_rate = 0; /* keep one request in N; 0/1 = all */
const volatile __u32 rate_cap = 0;    /* at most N sampled requests a second; 0 = no cap */
/* Some requests may go unsampled (constants: the verifier drops what it guards when false). */
#define sampling_on() (sample_rate > 1 || rate_cap)
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
 * Benchmark floor (--debug empty-hooks): every program returns at once, so what
 * remains is the kernel's cost of running attached programs at all. A
 * constant: the verifier drops the test when it is false.
 */
const volatile bool empty_hooks = false;
/*
 * Sampling's floor (--debug prefilter-hooks): the transfer and scheduler
 * programs return right after their first test (is the process traced?),
 * what a hit of an unsampled request would cost if it did nothing more.
 */
const volatile bool prefilter_hooks = false;
/* Slots of the state tables in use (tests narrow them to make states probe onward). */
const volatile __u32 thread_slot_mask = KRT_THREAD_SLOTS - 1;
const volatile __u32 conn_slot_mask = KRT_CONN_SLOTS - 1;
const volatile __u32 dir_slot_mask = KRT_DIR_SLOTS - 1;

/* Loss counters, read by the loader at exit (never silent). */
__u64 ring_drops = 0;
/*
 * Counters bumped on every record or transfer live in one cache line per
 * CPU: a machine-wide atomic bounced its line between CPUs on every hook
 * hit (user space sums them).
 */
struct krt_pcpu_counters pcpu[KRT_MAX_CPUS] __attribute__((aligned(64))) = {};

static __always_inline struct krt_pcpu_counters *my_counters(void)
{
	__u32 c = bpf_get_smp_processor_id();

	asm volatile("" : "+r"(c));
	return c < KRT_MAX_CPUS ? &pcpu[c] : &pcpu[KRT_MAX_CPUS - 1];
}

#define COUNT(field) __sync_fetch_and_add(&my_counters()->field, 1)

#ifdef KRT_HOOK_PROFILE
/* The hook profile (include/krtrace_bpf.h, enum krt_prof_slot): per CPU, ns and hits. */
__u64 prof_slots[KRT_MAX_CPUS][KRT_PROF_SLOTS][2] = {};
__u64 prof_last[KRT_MAX_CPUS] = {};

/* Not inlined: its locals stay out of the socket hooks' 512-byte frames. */
static __noinline void prof_mark(int slot)
{
	__u32 c = bpf_get_smp_processor_id() & (KRT_MAX_CPUS - 1);
	__u64 now = bpf_ktime_get_ns();

	if (slot >= 0 && slot < KRT_PROF_SLOTS) {
		prof_slots[c][slot][0] += now - prof_last[c];
		prof_slots[c][slot][1]++;
	}
	prof_last[c] = now;
}
#define PROF_START() prof_mark(-1)
#define PROF_MARK(slot) prof_mark(KRT_PROF_##slot)
#define PROF_MARK_IF(cond, slot)                                                                   \
	do {                                                                                       \
		if (cond)                                                                          \
			prof_mark(KRT_PROF_##slot);                                                \
	} while (0)
#else
#define PROF_START() ((void)0)
#define PROF_MARK(slot) ((void)0)
#define PROF_MARK_IF(cond, slot) ((void)0)
#endif
/*
 * A counter bumped on every unsampled hit: a plain increment of this CPU's
 * line, no locked add. Only for a counter whose writers cannot interrupt
 * one another (struct krt_pcpu_counters): else a program nested on the same
 * CPU between the load and the store would lose one.
 */
#define COUNT_PLAIN(field) (my_counters()->field++)
/*
 * The counters the gateway's receives write (once a request, by every
 * CPU), on a line of their own: their line moved between CPUs with each
 * request, and with it krt_epoch, which every state lookup reads.
 */
__u32 next_trace_id __attribute__((aligned(64))) = 0;
__u64 traces_sampled = 0;
__u64 traces_capped = 0; /* over the rate cap: not sampled */
/* the rate cap's second (ktime / 1e9) and the requests sampled in it */
__u64 rate_second = 0;
__u64 rate_count = 0;
/*
 * Which new requests the door samples (enum krt_sample_phase), written by
 * the reader (mmapped) as its sampling windows open and close
 * (--sample-window): read once per new request, beside the counters that
 * request writes anyway.
 */
volatile __u32 sample_phase = KRT_PHASE_RULE;
/*
 * State tables (threads, connections, directions): states put past their
 * first slot (probing), states not kept (every probed slot held by others:
 * that thread or connection goes untagged), and waits for a slot another
 * CPU was still filling after KRT_FILL_WAIT turns (that hook went without).
 */
__u64 slot_probed = 0, slot_full = 0, slot_busy = 0;
/*
 * Seconds since the start, written by user space (mmapped): a state looked
 * up stores it, so user space can reclaim the ones left untouched longer
 * than the idle time (a close or an exit the hooks never saw).
 */
volatile __u32 krt_epoch __attribute__((aligned(64))) = 0;

/*
 * Traced processes: one bit per tgid, set by the loader (mmapped) and by
 * the fork hook. PID_MAX_LIMIT on 64-bit is 4M, so every tgid has a bit.
 */
#define KRT_PID_LIMIT (1u << 22)
__u64 traced_bits[KRT_PID_LIMIT / 64] = {};

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
 * Go processes whose goroutines are followed (bpf/goroutines.bpf.h): one
 * bit per tgid, set by the loader with their go_procs entry, cleared at
 * the leader's exit. "Is this a Go process" is asked by every transfer
 * record and every wake-up inside a process: a load here, where a lookup
 * in go_procs (a hash map) cost each of them a hash.
 */
__u64 go_bits[KRT_PID_LIMIT / 64] = {};

static __always_inline bool go_process(__u32 tgid)
{
	__u32 w = tgid / 64;

	asm volatile("" : "+r"(w)); /* as in tgid_word: the bound checked on this register */
	return w < KRT_PID_LIMIT / 64 && ((go_bits[w] >> (tgid % 64)) & 1);
}

static __always_inline void go_process_gone(__u32 tgid)
{
	__u32 w = tgid / 64;

	asm volatile("" : "+r"(w));
	if (w < KRT_PID_LIMIT / 64 && ((go_bits[w] >> (tgid % 64)) & 1))
		__sync_fetch_and_and(&go_bits[w], ~(1ULL << (tgid % 64)));
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

/* A decision of the kernel: a trace, not a guess (0 = none is a decision too). */
static __always_inline bool trace_decided(__u32 trace)
{
	return !(trace & KRT_TRACE_UNSURE);
}

#endif /* KRT_COMMON_BPF_H */
