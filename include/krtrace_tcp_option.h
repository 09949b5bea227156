/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The trace context KRTrace carries across hosts in a TCP header option
 * (RFC 6994 experimental kind 253 with a 2-byte ExID), and the state the
 * sock_ops program (bpf/tcp_option.bpf.c) shares with user space. Included
 * by the kernel program (after vmlinux.h) and by user space (after
 * <linux/types.h>).
 */
#ifndef KRT_TCP_OPTION_H
#define KRT_TCP_OPTION_H

#define KRT_TCPOPT_KIND 253	/* RFC 6994: experimental, with an ExID */
#define KRT_TCPOPT_MAGIC 0x4b52 /* "KR" */
#define KRT_TCPOPT_LEN 20

/*
 * On the wire: big-endian fields, 20 bytes, a multiple of 4 (no padding).
 * run and trace name the trace (its 128-bit id is run, then 1 << 32 |
 * trace: krt_remote_trace_id128); span names the sending thread's span in
 * it (krt_span_id), the parent of the span the receiving host starts.
 */
struct krt_tcp_option {
	__u8 kind;
	__u8 len;
	__u8 magic[2];
	__u8 run[8];   /* the trace's origin run word: the high half of its id */
	__u8 trace[4]; /* its trace number on the origin host */
	__u8 span[4];  /* krt_span_hash32 of the sending thread */
} __attribute__((packed));

/*
 * The trace context a receive from a peer host brought (the option of its
 * first segment): the trace on the receiving host continues it.
 */
struct krt_remote_ctx {
	__u64 run; /* 0 = none */
	__u32 trace;
	__u32 span; /* the sender's span hash (its thread on its host) */
};

/*
 * Span ids both hosts compute alike: the high half from the run word of the
 * host whose thread it is and the thread id, the low half from the trace
 * id. The sender's kernel puts the high half in the option; the receiver
 * rebuilds its parent's span id from it and the trace id.
 */
static __inline__ __attribute__((always_inline)) __u64 krt_mix64(__u64 x)
{
	/* splitmix64 finaliser: a cheap, well-spread hash of 64 bits */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static __inline__ __attribute__((always_inline)) __u32 krt_span_hash32(__u64 run, __u32 tid)
{
	__u32 h = (__u32)(krt_mix64(run ^ krt_mix64(tid)) >> 32);

	return h ? h : 1;
}

/* A socket's context to write on its data segments (0 = write none). */
struct krt_tcpopt_ctx {
	__u64 run;
	__u32 trace;
	__u32 pad;
};

/* What a receiving socket last parsed. */
struct krt_tcpopt_rx {
	__u64 run;
	__u32 trace;
	__u32 seq;	/* the sequence number of the segment's first byte */
	__u32 len;	/* its payload */
	__u32 segments; /* data segments parsed with the option */
};

#define KRT_REMOTE_SEGS 4

/* The tracer: the last segments a socket received with the option (oldest overwritten). */
struct krt_remote_segs {
	__u32 seq[KRT_REMOTE_SEGS]; /* the sequence number of the segment's first byte */
	__u32 len[KRT_REMOTE_SEGS]; /* its payload */
	struct krt_remote_ctx ctx[KRT_REMOTE_SEGS];
	__u32 next;
	__u32 segments; /* data segments parsed with the option */
};

/* Counters in the program's .bss, read by user space. */
struct krt_tcpopt_stats {
	__u64 sockets;	     /* connections to a peer host armed */
	__u64 written;	     /* data segments that carried the option */
	__u64 no_room;	     /* segments without room for it */
	__u64 parsed;	     /* data segments received with it */
	__u64 continued;     /* requests from peer hosts that continued their trace */
	__u64 not_continued; /* requests from peer hosts without it (a new trace) */
};

#endif
