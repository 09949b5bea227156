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

#define KRT_TCPOPT_KIND 253		/* RFC 6994: experimental, with an ExID */
#define KRT_TCPOPT_MAGIC 0x4b52		/* "KR" */
#define KRT_TCPOPT_LEN 16

/* On the wire: big-endian fields, 16 bytes, a multiple of 4 (no padding). */
struct krt_tcp_option {
	__u8 kind;
	__u8 len;
	__u8 magic[2];
	__u8 run[8];		/* the sender's run word: the high half of its trace ids */
	__u8 trace[4];		/* the sender's trace number */
} __attribute__((packed));

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
	__u32 seq;		/* the sequence number of the segment's first byte */
	__u32 len;		/* its payload */
	__u32 segments;		/* data segments parsed with the option */
};

/* Counters in the program's .bss, read by user space. */
struct krt_tcpopt_stats {
	__u64 sockets;		/* connections to a peer host armed */
	__u64 written;		/* data segments that carried the option */
	__u64 no_room;		/* segments without room for it */
	__u64 parsed;		/* data segments received with it */
};

#endif
