/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * What a hook reads of a socket and of the syscall that moved its bytes:
 * through the socket tracepoints' BTF pointers (plain loads), or through
 * the fd table at syscall exit (probe reads).
 */
#ifndef KRT_SOCK_BPF_H
#define KRT_SOCK_BPF_H

#include "common.bpf.h"

#define KRT_AF_UNIX 1

/*
 * tp_btf hands us trusted BTF pointers: plain loads (checked by the
 * verifier, CO-RE relocated) instead of bpf_probe_read_kernel() calls,
 * which cost far more per field.
 */
/*
 * A TCP connection: protocol TCP on a stream socket. A raw socket of
 * protocol TCP (a SYN scanner, a health probe crafting its own segments)
 * has sk_protocol 6 too, but no connection behind it and no tcp_sock.
 */
static __always_inline bool sock_is_tcp(struct sock *sk, __u16 *family)
{
	__u16 fam = sk->__sk_common.skc_family;

	if (fam != KRT_AF_INET && fam != KRT_AF_INET6)
		return false;
	/* sk_protocol and sk_type became plain fields in 5.6; older kernels have bitfields. */
	if (bpf_core_field_size(sk->sk_protocol) == sizeof(__u16)) {
		if (sk->sk_protocol != KRT_IPPROTO_TCP || sk->sk_type != KRT_SOCK_STREAM)
			return false;
	} else if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != KRT_IPPROTO_TCP ||
		   BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type) != KRT_SOCK_STREAM) {
		return false;
	}
	*family = fam;
	return true;
}

/*
 * A dual-stack socket (AF_INET6, as a JVM opens them) talking to an IPv4
 * peer names both ends as IPv4-mapped addresses (::ffff:a.b.c.d). They are
 * the IPv4 ends of the connection: written as AF_INET, so the containers,
 * the gateway and the peer on the other side (an AF_INET socket) know them.
 */
static __always_inline void unmap_v4(struct krt_addr *a)
{
	__u32 w[4];

	if (a->family != KRT_AF_INET6)
		return;
	__builtin_memcpy(w, a->addr, 16);
	if (w[0] || w[1] || w[2] != bpf_htonl(0xffff))
		return;
	a->family = KRT_AF_INET;
	__builtin_memset(a->addr, 0, 16);
	__builtin_memcpy(a->addr, &w[3], 4);
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
		unmap_v4(&t->local);
		unmap_v4(&t->remote);
	}
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

/* kfunc: obj as a read-only pointer of BTF type btf_id (no check, no helper call) */
extern void *bpf_rdonly_cast(void *obj, __u32 btf_id) __ksym;

/* What a transfer hook read of its socket. */
struct xfer_sock {
	struct krt_tuple tuple;
	__u64 id;	/* the socket cookie, or its keyed address (syscall hooks) */
	__u32 seq;	/* TCP sequence of the first byte moved */
	__u64 have_seq; /* 64-bit: clang 14 spill/fill sizes, see handle_xfer */
};

/*
 * A socket's kernel address as its id (the syscall hooks, which cannot get
 * a cookie): keyed, so that no address leaves the kernel, and mixed. The
 * state tables take their first slot from an id's low bits, and sockets'
 * low bits repeat (slab objects at the same offsets of naturally aligned
 * pages): unmixed, most connections' states found their 4 probed slots
 * held on a test bed of 19 processes (4307 not kept in a run of 40
 * requests per model). A multiply by an odd constant and a shift-XOR are
 * both one-to-one; the top bit is the tables' "being filled" mark
 * (KRT_SLOT_FILL_BIT), cleared: two sockets share an id once in 2^63.
 */
static __always_inline __u64 sock_addr_id(__u64 addr)
{
	__u64 v = (addr ^ sock_id_key) * 0x9e3779b97f4a7c15ULL;

	return (v ^ (v >> 29)) & ~KRT_SLOT_FILL_BIT;
}

/* A socket hook's struct sock (a trusted BTF pointer): plain loads. */
static __always_inline bool xfer_sock_btf(struct sock *sk, int ret, __u8 dir, struct xfer_sock *f)
{
	struct tcp_sock *tp;
	__u16 family;

	if (!sk || !sock_is_tcp(sk, &family))
		return false;
	read_tuple(sk, family, &f->tuple);
	/*
	 * The cookie is made once per socket, by the helper's first call: a
	 * plain load after that (every hit but a connection's first).
	 */
	f->id = sk->__sk_common.skc_cookie.counter;
	if (!f->id)
		f->id = bpf_get_socket_cookie(sk);
	/*
	 * The hook runs after the transfer: the sequence moved by ret bytes.
	 * A stream socket of protocol TCP that sends or receives is a full
	 * tcp_sock: a cast (bpf_rdonly_cast, a register move once verified;
	 * its loads are checked ones), no helper call.
	 */
	tp = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock));
	f->have_seq = true;
	f->seq = (dir == KRT_DIR_SEND ? tp->write_seq : tp->copied_seq) - (__u32)ret;
	return true;
}

/*
 * The syscall-exit fallback reads the socket behind the syscall's fd. Its
 * pointers are plain numbers to the verifier (read through the fd table),
 * so every field is a CO-RE probe read; false when the fd is not a TCP
 * socket (files, pipes, UDP).
 */
static __always_inline bool xfer_sock_fd(long fd, int ret, __u8 dir, struct xfer_sock *f,
					 __u64 *unix_sk)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *file = NULL;
	struct tcp_sock *tp;
	struct socket *so;
	struct sock *sk;
	__u16 family, proto, type;

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
	if (family == KRT_AF_UNIX) {
		/* a local notification's socket (notify.bpf.h), not a transfer */
		*unix_sk = (__u64)sk;
		return false;
	}
	if (family != KRT_AF_INET && family != KRT_AF_INET6)
		return false;
	if (bpf_core_field_size(sk->sk_protocol) == sizeof(__u16)) {
		proto = BPF_CORE_READ(sk, sk_protocol);
		type = BPF_CORE_READ(sk, sk_type);
	} else {
		proto = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
		type = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type);
	}
	/* as sock_is_tcp: a raw socket of protocol TCP is no connection (and no tcp_sock) */
	if (proto != KRT_IPPROTO_TCP || type != KRT_SOCK_STREAM)
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
		unmap_v4(&f->tuple.local);
		unmap_v4(&f->tuple.remote);
	}
	f->id = sock_addr_id((__u64)sk);
	tp = (struct tcp_sock *)sk;
	f->seq =
	    (dir == KRT_DIR_SEND ? BPF_CORE_READ(tp, write_seq) : BPF_CORE_READ(tp, copied_seq)) -
	    (__u32)ret;
	f->have_seq = true;
	return true;
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
		return sock_addr_id(v);
	}
	return bpf_get_socket_cookie((void *)sk);
}

#endif /* KRT_SOCK_BPF_H */
