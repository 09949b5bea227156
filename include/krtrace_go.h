/*
 * Goroutine tracking: what user space tells the kernel side about a traced
 * Go process (bpf/goroutines.bpf.h), keyed by its tgid in the go_procs map.
 */
#ifndef KRTRACE_GO_H
#define KRTRACE_GO_H

/* __u32/__u64: from vmlinux.h in the BPF programs, linux/types.h in user space */

struct krt_go_proc {
	__u32 goid_off;	 /* offset of goid in runtime.g */
	__u32 sched_off; /* offset of sched (gobuf) in runtime.g */
	/* runtime.hchan (src/go_binary.h struct krt_go_hchan); chans: probed */
	__u16 qcount_off, dataqsiz_off, sendx_off, recvx_off, recvq_off, sendq_off;
	__u32 chans;
	/*
	 * runtime.ready's traceskip values (bit n: n) of the wake-ups that hand
	 * a value over (channel operations); 0 = not known, every one counts
	 */
	__u32 handoff_skips;
	/*
	 * lazy: runtime.execute is not probed; the hooks find the running
	 * goroutine themselves (its runtime.g at tls_g_off from the thread's
	 * FS base; on the scheduler's g0, goid 0, g.m.curg)
	 */
	__s32 tls_g_off;
	__u16 g_m_off, m_curg_off;
	__u32 lazy;
	__u32 pad;
};

/* A value in a buffered channel's ring: the channel, its slot, the process. */
struct krt_go_slot_key {
	__u64 chan;
	__u64 slot;
	__u32 tgid;
	__u32 pad;
};

/* Who put it there: the sending goroutine's trace, how it held it, its goid. */
struct krt_go_slot {
	__u32 trace;
	__u8 origin; /* enum krt_go_origin of the sender */
	__u8 pad[3];
	__u64 goid;
};

/* A goroutine's key: its process and the address of its runtime.g. */
struct krt_go_key {
	__u64 g;
	__u32 tgid;
	__u32 pad;
};

#endif
