/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Constants of the BPF side that vmlinux.h does not carry (macros). */
#ifndef KRTRACE_BPF_H
#define KRTRACE_BPF_H

#define KRT_MAX_TRACED_TGIDS 65536
#define KRT_IPPROTO_TCP 6
#define KRT_MSG_PEEK 2

/* x86-64 syscall numbers of the socket transfers we name in records. */
#define KRT_NR_read 0
#define KRT_NR_write 1
#define KRT_NR_readv 19
#define KRT_NR_writev 20
#define KRT_NR_sendto 44
#define KRT_NR_recvfrom 45
#define KRT_NR_sendmsg 46
#define KRT_NR_recvmsg 47
#define KRT_NR_recvmmsg 299
#define KRT_NR_sendmmsg 307

#endif
