/*
 * Goroutine tracking: what user space tells the kernel side about a traced
 * Go process (bpf/goroutines.bpf.h), keyed by its tgid in the go_procs map.
 */
#ifndef KRTRACE_GO_H
#define KRTRACE_GO_H

/* __u32/__u64: from vmlinux.h in the BPF programs, linux/types.h in user space */

struct krt_go_proc {
	__u32 goid_off;		/* offset of goid in runtime.g */
	__u32 sched_off;	/* offset of sched (gobuf) in runtime.g */
};

/* A goroutine's key: its process and the address of its runtime.g. */
struct krt_go_key {
	__u64 g;
	__u32 tgid;
	__u32 pad;
};

#endif
