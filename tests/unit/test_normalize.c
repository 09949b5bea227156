/*
 * Unit tests for the ftrace normaliser (src/ftrace_normalize.c): report
 * lines in, normalised events out, captured through the emit callback.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "ftrace_normalize.h"
#include "report_parser.h"

#define MAX_EV 64

static struct krt_event ev[MAX_EV];
static int n_ev;
static struct krt_normalizer *N;
static struct krt_report_parser P;

static void capture(const struct krt_event *e, void *ctx)
{
	if (n_ev < MAX_EV)
		ev[n_ev] = *e;
	n_ev++;
}

static int setup(void **state)
{
	n_ev = 0;
	N = krt_norm_new(capture, NULL);
	krt_rp_init(&P, "t", NULL);
	return N ? 0 : -1;
}

static int teardown(void **state)
{
	krt_norm_free(N);
	return 0;
}

static void feed(const char *text)
{
	krt_rp_parse_buffer(&P, text, strlen(text), krt_norm_record_cb, N);
	assert_int_equal(P.malformed, 0);
}

/* Only the XFER events, in order. */
static int xfers(struct krt_event **out, int max)
{
	int i, k = 0;

	for (i = 0; i < n_ev && i < MAX_EV; i++)
		if (ev[i].type == KRT_EV_XFER && k < max)
			out[k++] = &ev[i];
	return k;
}

static const char *addr(const struct krt_addr *a)
{
	static char buf[4][KRT_ADDR_STRLEN];
	static int i;

	i = (i + 1) % 4;
	return krt_addr_str(a, buf[i], sizeof(buf[i]));
}

#define A_CLI "ARRAY[02,00,bd,62,0a,00,00,01,00,...]" /* 10.0.0.1:48482 */
#define A_SRV "ARRAY[02,00,1f,90,0a,00,00,02,00,...]" /* 10.0.0.2:8080 */

/* A receive whose connection comes from tcp_rcv_space_adjust inside it. */
static void test_recv_with_adjust(void **state)
{
	struct krt_event *x[4];

	feed("srv-20 [001] 1.000100: sys_enter_recvfrom: fd=0x4 ubuf=0x1 size=0x2000\n"
	     "srv-20 [001] 1.000110: tcp_rcv_space_adjust: skaddr=0x9 sport=8080 dport=48482 "
	     "family=2 saddr=ARRAY[0a,00,00,02] daddr=ARRAY[0a,00,00,01] saddr_v6= daddr_v6= "
	     "sock_cookie=7\n"
	     "srv-20 [001] 1.000120: sys_exit_recvfrom: ret=0x4f\n");
	assert_int_equal(xfers(x, 4), 1);
	assert_int_equal(x[0]->xfer.dir, KRT_DIR_RECV);
	assert_int_equal(x[0]->tid, 20);
	assert_int_equal(x[0]->pid, 0);
	assert_string_equal(x[0]->comm, "srv");
	assert_int_equal(x[0]->xfer.bytes, 79);
	assert_int_equal(x[0]->xfer.fd, 4);
	assert_int_equal(x[0]->xfer.flags, 0);
	assert_int_equal(x[0]->xfer.sock_id, 7);
	assert_int_equal(x[0]->ts_ns, 1000120000ULL);
	assert_int_equal(x[0]->xfer.enter_ns, 1000100000ULL);
	assert_string_equal(addr(&x[0]->xfer.tuple.local), "10.0.0.2:8080");
	assert_string_equal(addr(&x[0]->xfer.tuple.remote), "10.0.0.1:48482");
}

/* A send: emitted at its probe (before the receiver's RECV), remainder at exit. */
static void test_send_with_probe_and_remainder(void **state)
{
	struct krt_event *x[4];

	feed("cli-10 [000] 2.000000: sys_enter_sendto: fd=0x5 buff=0x1 len=0x00000100\n"
	     "cli-10 [000] 2.000010: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2 data_len=200 sock_cookie=1 skaddr=0x9\n"
	     /* the ACK coming back to the sender's own socket */
	     "cli-10 [000] 2.000011: tcp_probe: saddr=" A_CLI " daddr=" A_SRV " sport=48482 "
	     "dport=8080 family=2 data_len=0 sock_cookie=2 skaddr=0x8\n"
	     "cli-10 [000] 2.000020: sys_exit_sendto: ret=0x100\n");
	assert_int_equal(xfers(x, 4), 2);
	assert_int_equal(x[0]->xfer.dir, KRT_DIR_SEND);
	assert_int_equal(x[0]->xfer.bytes, 200);
	assert_int_equal(x[0]->ts_ns, 2000010000ULL);
	assert_int_equal(x[0]->xfer.enter_ns, 2000000000ULL);
	assert_string_equal(addr(&x[0]->xfer.tuple.local), "10.0.0.1:48482");
	assert_string_equal(addr(&x[0]->xfer.tuple.remote), "10.0.0.2:8080");
	assert_int_equal(x[1]->xfer.bytes, 56);
	assert_int_equal(x[1]->ts_ns, 2000020000ULL);
	assert_int_equal(krt_norm_stats(N)->ack_probes, 1);

	/* The rest's probe fires later in the receiver's context: already counted. */
	feed("srv-20 [001] 2.000100: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2 data_len=56\n");
	assert_int_equal(xfers(x, 4), 2);
	assert_int_equal(krt_norm_stats(N)->duplicate_probes, 0);
}

/* The receiver was busy: no probe in the send; the fd map gives the connection. */
static void test_send_without_probe_uses_fd_map(void **state)
{
	struct krt_event *x[4];

	feed("cli-10 [000] 2.000000: sys_enter_sendto: fd=0x5 len=0x10\n"
	     "cli-10 [000] 2.000010: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2 data_len=16\n"
	     "cli-10 [000] 2.000020: sys_exit_sendto: ret=0x10\n"
	     "cli-10 [000] 3.000000: sys_enter_write: fd=0x5 count=0x20\n"
	     "cli-10 [000] 3.000020: sys_exit_write: ret=0x20\n");
	assert_int_equal(xfers(x, 4), 2);
	assert_int_equal(x[1]->xfer.bytes, 32);
	assert_int_equal(x[1]->ts_ns, 3000020000ULL);
	assert_string_equal(addr(&x[1]->xfer.tuple.local), "10.0.0.1:48482");
	/* its probe, later, in the receiver's context: no second send */
	feed("srv-20 [001] 3.000100: sys_enter_read: fd=0x4 count=0x100\n"
	     "srv-20 [001] 3.000110: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2 data_len=32\n"
	     "srv-20 [001] 3.000120: tcp_rcv_space_adjust: sport=8080 dport=48482 family=2 "
	     "saddr=ARRAY[0a,00,00,02] daddr=ARRAY[0a,00,00,01]\n"
	     "srv-20 [001] 3.000130: sys_exit_read: ret=0x20\n");
	assert_int_equal(xfers(x, 4), 3);
	assert_int_equal(x[2]->xfer.dir, KRT_DIR_RECV);
	assert_int_equal(krt_norm_stats(N)->duplicate_probes, 0);
}

/* A send on an fd never seen before, whose probe fires later in the receiver's context. */
static void test_pending_send_claimed_by_backlog_probe(void **state)
{
	struct krt_event *x[4];

	/* cli-10 received on its end before (so its end is known to be its own) */
	feed("cli-10 [000] 1.000000: tcp_rcv_space_adjust: sport=48482 dport=8080 family=2 "
	     "saddr=ARRAY[0a,00,00,01] daddr=ARRAY[0a,00,00,02]\n"
	     "cli-10 [000] 2.000000: sys_enter_write: fd=0x9 count=0x20\n"
	     "cli-10 [000] 2.000020: sys_exit_write: ret=0x20\n");
	assert_int_equal(xfers(x, 4), 1); /* the readv-like RECV only */
	assert_int_equal(x[0]->xfer.flags, KRT_XF_NO_SYSCALL);
	assert_int_equal(x[0]->xfer.bytes, 0);
	feed("srv-20 [001] 2.000100: sys_enter_read: fd=0x4 count=0x100\n"
	     "srv-20 [001] 2.000110: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2 data_len=32\n"
	     "srv-20 [001] 2.000130: sys_exit_read: ret=0x20\n");
	assert_int_equal(xfers(x, 4), 2);
	assert_int_equal(x[1]->xfer.dir, KRT_DIR_SEND);
	assert_int_equal(x[1]->tid, 10);
	assert_string_equal(x[1]->comm, "cli");
	assert_int_equal(x[1]->xfer.fd, 9);
	assert_int_equal(x[1]->xfer.bytes, 32);
	assert_int_equal(x[1]->xfer.enter_ns, 2000000000ULL);
	assert_int_equal(x[1]->ts_ns, 2000110000ULL);
	/* the receiver's read had no adjust and an unknown fd: not a socket read */
	assert_int_equal(krt_norm_stats(N)->non_socket_io, 1);
}

/* A probe in the receiver's context matching nothing: retransmission, dropped. */
static void test_duplicate_probe(void **state)
{
	struct krt_event *x[4];

	feed("cli-10 [000] 2.000000: sys_enter_sendto: fd=0x5 len=0x10\n"
	     "cli-10 [000] 2.000010: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2 data_len=16\n"
	     "cli-10 [000] 2.000020: sys_exit_sendto: ret=0x10\n"
	     "srv-20 [001] 2.000100: sys_enter_recvfrom: fd=0x4 size=0x100\n"
	     "srv-20 [001] 2.000110: tcp_rcv_space_adjust: sport=8080 dport=48482 family=2 "
	     "saddr=ARRAY[0a,00,00,02] daddr=ARRAY[0a,00,00,01]\n"
	     "srv-20 [001] 2.000130: sys_exit_recvfrom: ret=0x10\n"
	     /* tail-loss probe resending the same 16 bytes, in srv's context */
	     "srv-20 [001] 2.200000: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2 data_len=16\n");
	assert_int_equal(xfers(x, 4), 2);
	assert_int_equal(krt_norm_stats(N)->duplicate_probes, 1);
}

/*
 * Real capture (testbed_all): the backend replies on fd 9 (probe inside),
 * then writes its log on fd 3 (no probe); the reply is retransmitted later
 * from a softirq in another thread's context. The log write must not take
 * the retransmission: the backend is known to use that socket as fd 9.
 */
static void test_log_write_not_claimed_by_retransmission(void **state)
{
	struct krt_event *x[4];

	feed("be-15919 [000] 1.000000: sys_enter_recvfrom: fd=0x9 size=0x3fff\n"
	     "be-15919 [000] 1.000001: tcp_rcv_space_adjust: sport=8080 dport=48482 family=2 "
	     "saddr=ARRAY[0a,00,00,02] daddr=ARRAY[0a,00,00,01]\n"
	     "be-15919 [000] 1.000002: sys_exit_recvfrom: ret=0x50\n"
	     "be-15919 [000] 1.000100: sys_enter_sendto: fd=0x9 len=0xba\n"
	     "be-15919 [000] 1.000101: tcp_probe: saddr=" A_CLI " daddr=" A_SRV " sport=48482 "
	     "dport=8080 family=2 data_len=186\n"
	     "be-15919 [000] 1.000102: sys_exit_sendto: ret=0xba\n"
	     "be-15919 [000] 1.000200: sys_enter_write: fd=0x3 count=0xd3\n"
	     "be-15919 [000] 1.000201: sys_exit_write: ret=0xd3\n"
	     "be-15926 [001] 1.006000: sys_enter_recvfrom: fd=0x4 size=0x3fff\n"
	     "be-15926 [001] 1.006070: tcp_probe: saddr=" A_CLI " daddr=" A_SRV " sport=48482 "
	     "dport=8080 family=2 data_len=186\n"
	     "be-15926 [001] 1.006116: sys_exit_recvfrom: ret=0x0\n");
	krt_norm_finish(N);
	assert_int_equal(xfers(x, 4), 2);
	assert_int_equal(krt_norm_stats(N)->duplicate_probes, 1);
	assert_int_equal(krt_norm_stats(N)->non_socket_io, 1);
}

/*
 * Real capture (testbed_models, model 3 under load): the event loop sends 80 B
 * on its pooled backend connection (probe inside its sendto); 11 ms later,
 * the receiver slow to acknowledge, a tail loss probe resends them from a
 * timer in another backend thread's context, outside any of its syscalls.
 * Not that thread's send (it holds no fd of the socket, whose sends come
 * through syscalls): a duplicate, dropped. It was emitted as the thread's
 * send and put a hop from the backend into another request's trace.
 */
static void test_retransmission_in_third_thread(void **state)
{
	struct krt_event *x[4];

	feed("loop-40 [001] 3.000000: sys_enter_sendto: fd=0x9 len=0x50\n"
	     "loop-40 [001] 3.000005: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2 data_len=80\n"
	     "loop-40 [001] 3.000008: sys_exit_sendto: ret=0x50\n"
	     "be-50 [001] 3.011000: sys_exit_recvfrom: ret=0x50\n"
	     "be-50 [001] 3.011049: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2 data_len=80\n");
	krt_norm_finish(N);
	assert_int_equal(xfers(x, 4), 1);
	assert_int_equal(x[0]->tid, 40);
	assert_int_equal(krt_norm_stats(N)->duplicate_probes, 1);
}

/* nginx writev: the probe in the sender's context outside any listed syscall. */
static void test_unlisted_send_syscall(void **state)
{
	struct krt_event *x[4];

	feed("nginx-30 [000] 5.000000: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2 data_len=300\n");
	assert_int_equal(xfers(x, 4), 1);
	assert_int_equal(x[0]->xfer.dir, KRT_DIR_SEND);
	assert_int_equal(x[0]->tid, 30);
	assert_int_equal(x[0]->xfer.flags, KRT_XF_NO_SYSCALL);
	assert_int_equal(x[0]->xfer.fd, -1);
	assert_int_equal(x[0]->xfer.bytes, 300);
	assert_string_equal(addr(&x[0]->xfer.tuple.local), "10.0.0.1:48482");
	/* the next writev's probe fires in the receiver's context (srv owns 8080) */
	feed("srv-20 [001] 5.000100: tcp_rcv_space_adjust: sport=8080 dport=48482 family=2 "
	     "saddr=ARRAY[0a,00,00,02] daddr=ARRAY[0a,00,00,01]\n"
	     "srv-20 [001] 5.000200: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2 data_len=40\n");
	assert_int_equal(xfers(x, 4), 3);
	/* the sender is found by address: tid 0, local = the sender's end */
	assert_int_equal(x[2]->xfer.dir, KRT_DIR_SEND);
	assert_int_equal(x[2]->tid, 0);
	assert_int_equal(x[2]->xfer.bytes, 40);
	assert_int_equal(x[2]->xfer.flags, KRT_XF_NO_SYSCALL);
	assert_string_equal(addr(&x[2]->xfer.tuple.local), "10.0.0.1:48482");
}

/*
 * Request bytes from the gateway's (untraced) client, processed from the
 * container socket's backlog in a container thread: never that thread's send,
 * whether or not the socket has received before.
 */
static void test_backlog_probe_from_gateway(void **state)
{
	struct krt_event *x[4];
	struct krt_addr gw;

	assert_int_equal(krt_addr_parse_ip("10.0.0.1", &gw), 0);
	krt_norm_set_gateway(N, &gw);
	/* first request on a new connection: nothing known about it yet */
	feed("srv-20 [001] 1.000000: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2 data_len=79\n");
	assert_int_equal(xfers(x, 4), 0);
	assert_int_equal(krt_norm_stats(N)->duplicate_probes, 1);
	/* inside srv's own send on another connection: not its send either */
	feed("srv-20 [001] 1.100000: sys_enter_sendto: fd=0x9 len=0x10\n"
	     "srv-20 [001] 1.100001: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2 data_len=79\n");
	assert_int_equal(xfers(x, 4), 0);
	assert_int_equal(krt_norm_stats(N)->duplicate_probes, 2);
}

/* Bytes from an untraced peer (no gateway given): known by the receiver only. */
static void test_backlog_probe_from_untraced_peer(void **state)
{
	struct krt_event *x[4];

	feed("srv-20 [001] 1.000000: sys_enter_recvfrom: fd=0x4 size=0x100\n"
	     "srv-20 [001] 1.000001: tcp_rcv_space_adjust: sport=8080 dport=48482 family=2 "
	     "saddr=ARRAY[0a,00,00,02] daddr=ARRAY[0a,00,00,01]\n"
	     "srv-20 [001] 1.000002: sys_exit_recvfrom: ret=0x4f\n"
	     /* a worker of srv, outside any syscall, runs the backlog */
	     "srv-21 [000] 2.000000: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2 data_len=79\n");
	assert_int_equal(xfers(x, 4), 1);
	assert_int_equal(x[0]->xfer.dir, KRT_DIR_RECV);
	assert_int_equal(krt_norm_stats(N)->duplicate_probes, 1);
}

/* Inside a send, backlog data for the sender's own socket is not its send. */
static void test_backlog_probe_inside_send(void **state)
{
	struct krt_event *x[4];

	feed("cli-10 [000] 1.000000: sys_enter_recvfrom: fd=0x5 size=0x100\n"
	     "cli-10 [000] 1.000001: tcp_rcv_space_adjust: sport=48482 dport=8080 family=2 "
	     "saddr=ARRAY[0a,00,00,01] daddr=ARRAY[0a,00,00,02]\n"
	     "cli-10 [000] 1.000002: sys_exit_recvfrom: ret=0x1\n"
	     "srv-20 [001] 1.500000: sys_enter_sendto: fd=0x4 len=0x10\n"
	     "srv-20 [001] 1.500020: sys_exit_sendto: ret=0x10\n" /* pending: probe comes later */
	     "cli-10 [000] 2.000000: sys_enter_sendto: fd=0x5 len=0x10\n"
	     /* srv's 16 bytes, processed from cli's backlog inside cli's send */
	     "cli-10 [000] 2.000005: tcp_probe: saddr=" A_CLI " daddr=" A_SRV " sport=48482 "
	     "dport=8080 family=2 data_len=16\n"
	     "cli-10 [000] 2.000010: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2 data_len=16\n"
	     "cli-10 [000] 2.000020: sys_exit_sendto: ret=0x10\n");
	assert_int_equal(xfers(x, 4), 2);
	assert_int_equal(x[0]->xfer.dir, KRT_DIR_RECV);
	assert_int_equal(x[1]->xfer.dir, KRT_DIR_SEND);
	assert_int_equal(x[1]->tid, 10);
	assert_string_equal(addr(&x[1]->xfer.tuple.local), "10.0.0.1:48482");
	/* srv's pending send had no known fd and srv never received on 8080: not claimed */
	assert_int_equal(krt_norm_stats(N)->duplicate_probes, 1);
}

/* readv: an adjust outside any listed syscall consumes the queue. */
static void test_adjust_outside_syscall(void **state)
{
	struct krt_event *x[4];

	feed("nginx-30 [000] 5.000000: tcp_rcv_space_adjust: sport=80 dport=5555 family=2 "
	     "saddr=ARRAY[0a,00,00,02] daddr=ARRAY[0a,00,00,01] sock_cookie=3\n");
	assert_int_equal(xfers(x, 4), 1);
	assert_int_equal(x[0]->xfer.dir, KRT_DIR_RECV);
	assert_int_equal(x[0]->xfer.flags, KRT_XF_NO_SYSCALL);
	assert_int_equal(x[0]->xfer.bytes, 0);
	assert_int_equal(x[0]->xfer.fd, -1);
	assert_int_equal(x[0]->xfer.sock_id, 3);
}

/* Log files, pipes, failed syscalls: no transfer. */
static void test_non_socket_and_errors(void **state)
{
	struct krt_event *x[4];

	feed("app-7 [000] 1.0: sys_enter_write: fd=0x1 count=0x20\n"
	     "app-7 [000] 1.1: sys_exit_write: ret=0x20\n"
	     "app-7 [000] 1.2: sys_enter_read: fd=0x3 count=0x20\n"
	     "app-7 [000] 1.3: sys_exit_read: ret=0x20\n"
	     "app-7 [000] 1.4: sys_enter_recvfrom: fd=0x4 size=0x20\n"
	     "app-7 [000] 1.5: sys_exit_recvfrom: ret=0xfffffffffffffff5\n"
	     "app-7 [000] 1.6: sys_exit_read: ret=0x5\n" /* no enter */
	     "app-7 [000] 1.7: sys_enter_write: fd=0x1 count=0x20\n"
	     "app-7 [000] 1.8: sys_exit_write: ret=0x20\n");
	krt_norm_finish(N);
	assert_int_equal(xfers(x, 4), 0);
	assert_int_equal(krt_norm_stats(N)->non_socket_io, 3);
	assert_int_equal(krt_norm_stats(N)->unpaired_syscalls, 1);
}

/* Only the NOTIFY events, in order. */
static int notifies(struct krt_event **out, int max)
{
	int i, k = 0;

	for (i = 0; i < n_ev && i < MAX_EV; i++)
		if (ev[i].type == KRT_EV_NOTIFY && k < max)
			out[k++] = &ev[i];
	return k;
}

/*
 * thrift's hand-back on a capture: a worker sendto()s 8 bytes on the I/O
 * thread's socketpair, the I/O thread recvfrom()s them; no tcp event in
 * either. Both are notifications (the channel left to the engine: the
 * process); a write() with no probe stays a file's.
 */
static void test_socketpair_notify(void **state)
{
	struct krt_event *x[4];

	feed("store-21 [000] 1.000000: sys_enter_sendto: fd=0x9 len=0x8\n"
	     "store-21 [000] 1.000010: sys_exit_sendto: ret=0x8\n"
	     "store-20 [001] 1.000020: sys_enter_recvfrom: fd=0x8 size=0x8\n"
	     "store-20 [001] 1.000030: sys_exit_recvfrom: ret=0x8\n"
	     "store-21 [000] 1.000040: sys_enter_write: fd=0x3 count=0x20\n"
	     "store-21 [000] 1.000050: sys_exit_write: ret=0x20\n");
	krt_norm_finish(N);
	assert_int_equal(xfers(x, 4), 0);
	assert_int_equal(notifies(x, 4), 2);
	assert_int_equal(x[0]->tid, 21);
	assert_int_equal(x[0]->notify.dir, KRT_DIR_SEND);
	assert_int_equal(x[0]->notify.bytes, 8);
	assert_int_equal(x[0]->notify.fd, 9);
	assert_int_equal(x[0]->notify.chan, 0);
	assert_int_equal(x[0]->notify.flags, 0);
	assert_int_equal(x[1]->tid, 20);
	assert_int_equal(x[1]->notify.dir, KRT_DIR_RECV);
	assert_int_equal(x[1]->notify.bytes, 8);
	assert_int_equal(x[1]->notify.fd, 8);
	assert_int_equal(x[1]->notify.asked, 8); /* recvfrom's size */
	assert_int_equal(x[0]->notify.asked, 0);
	/* the write: not a notification, counted as non-socket I/O */
	assert_int_equal(krt_norm_stats(N)->non_socket_io, 1);
}

/*
 * A sendto with no probe is told as a notification; when the receiver's
 * backlog probe claims it later, it was TCP: the notification is taken
 * back (KRT_NF_RETRACT) and the SEND emitted.
 */
static void test_notify_retracted_by_late_probe(void **state)
{
	struct krt_event *x[4];

	feed("cli-10 [000] 1.000000: tcp_rcv_space_adjust: sport=48482 dport=8080 family=2 "
	     "saddr=ARRAY[0a,00,00,01] daddr=ARRAY[0a,00,00,02]\n"
	     "cli-10 [000] 2.000000: sys_enter_sendto: fd=0x9 len=0x20\n"
	     "cli-10 [000] 2.000020: sys_exit_sendto: ret=0x20\n");
	assert_int_equal(notifies(x, 4), 1);
	assert_int_equal(x[0]->notify.flags, 0);
	feed("srv-20 [001] 2.000100: sys_enter_read: fd=0x4 count=0x100\n"
	     "srv-20 [001] 2.000110: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2 data_len=32\n"
	     "srv-20 [001] 2.000130: sys_exit_read: ret=0x20\n");
	assert_int_equal(notifies(x, 4), 2);
	assert_int_equal(x[1]->tid, 10);
	assert_int_equal(x[1]->notify.dir, KRT_DIR_SEND);
	assert_int_equal(x[1]->notify.flags, KRT_NF_RETRACT);
	assert_int_equal(x[1]->notify.bytes, 32);
	assert_int_equal(xfers(x, 4), 2); /* the readv-like RECV, and the SEND */
	assert_int_equal(x[1]->xfer.dir, KRT_DIR_SEND);
	assert_int_equal(x[1]->xfer.bytes, 32);
}

/*
 * An asgi worker's first command on a new redis connection (a capture at
 * an accuracy run's start): its sendto had no probe, none claimed it later,
 * so it stayed a notification and handed the loop a job that was none.
 * The worker's next receive on that fd shows TCP: the notification is
 * taken back (the send stays unclaimed, as before).
 */
static void test_notify_retracted_by_tcp_fd(void **state)
{
	struct krt_event *x[4];

	feed("py-31 [000] 1.000000: sys_enter_sendto: fd=0xf len=0x41\n"
	     "py-31 [000] 1.000010: sys_exit_sendto: ret=0x41\n");
	assert_int_equal(notifies(x, 4), 1);
	assert_int_equal(x[0]->notify.flags, 0);
	feed("py-31 [000] 1.000100: sys_enter_recvfrom: fd=0xf size=0x10000\n"
	     "py-31 [000] 1.000200: tcp_rcv_space_adjust: sport=34568 dport=6379 family=2 "
	     "saddr=ARRAY[0a,00,00,0d] daddr=ARRAY[0a,00,00,04]\n"
	     "py-31 [000] 1.000210: sys_exit_recvfrom: ret=0x5\n");
	assert_int_equal(notifies(x, 4), 2);
	assert_int_equal(x[1]->tid, 31);
	assert_int_equal(x[1]->notify.dir, KRT_DIR_SEND);
	assert_int_equal(x[1]->notify.flags, KRT_NF_RETRACT);
	assert_int_equal(x[1]->notify.bytes, 0x41);
	assert_int_equal(xfers(x, 4), 1); /* the RECV */
	assert_int_equal(x[0]->xfer.dir, KRT_DIR_RECV);
}

/* fd numbers are per process: two workers with the same fd stay apart. */
static void test_fd_map_per_thread(void **state)
{
	struct krt_event *x[8];

	feed("w1-40 [000] 1.0: sys_enter_read: fd=0x7 count=0x100\n"
	     "w1-40 [000] 1.1: tcp_rcv_space_adjust: sport=80 dport=1001 family=2 "
	     "saddr=ARRAY[0a,00,00,02] daddr=ARRAY[0a,00,00,01]\n"
	     "w1-40 [000] 1.2: sys_exit_read: ret=0x10\n"
	     "w2-41 [001] 1.3: sys_enter_read: fd=0x7 count=0x100\n"
	     "w2-41 [001] 1.4: tcp_rcv_space_adjust: sport=80 dport=1002 family=2 "
	     "saddr=ARRAY[0a,00,00,02] daddr=ARRAY[0a,00,00,01]\n"
	     "w2-41 [001] 1.5: sys_exit_read: ret=0x10\n"
	     "w1-40 [000] 2.0: sys_enter_write: fd=0x7 count=0x10\n"
	     "w1-40 [000] 2.1: sys_exit_write: ret=0x10\n"
	     "w2-41 [001] 2.2: sys_enter_write: fd=0x7 count=0x10\n"
	     "w2-41 [001] 2.3: sys_exit_write: ret=0x10\n");
	assert_int_equal(xfers(x, 8), 4);
	assert_string_equal(addr(&x[2]->xfer.tuple.remote), "10.0.0.1:1001");
	assert_int_equal(x[2]->tid, 40);
	assert_string_equal(addr(&x[3]->xfer.tuple.remote), "10.0.0.1:1002");
	assert_int_equal(x[3]->tid, 41);
}

/*
 * A receive that finds no bytes (EAGAIN) on a known socket: a RECV_WAIT on
 * that connection (the engine learns from it whose tasks move between
 * threads: Go); on an fd the thread never used for a socket, nothing.
 */
static void test_recv_wait(void **state)
{
	int i, waits = 0;
	const struct krt_event *w = NULL;

	feed("go-40 [000] 1.0: sys_enter_read: fd=0x7 count=0x100\n"
	     "go-40 [000] 1.1: tcp_rcv_space_adjust: sport=80 dport=1001 family=2 "
	     "saddr=ARRAY[0a,00,00,02] daddr=ARRAY[0a,00,00,01]\n"
	     "go-40 [000] 1.2: sys_exit_read: ret=0x10\n"
	     "go-40 [000] 1.3: sys_enter_read: fd=0x7 count=0x100\n"
	     "go-40 [000] 1.4: sys_exit_read: ret=0xfffffffffffffff5\n"
	     "go-40 [000] 1.5: sys_enter_read: fd=0x8 count=0x100\n"
	     "go-40 [000] 1.6: sys_exit_read: ret=0xfffffffffffffff5\n");
	krt_norm_finish(N);
	for (i = 0; i < n_ev && i < MAX_EV; i++)
		if (ev[i].type == KRT_EV_RECV_WAIT) {
			waits++;
			w = &ev[i];
		}
	assert_int_equal(waits, 1);
	assert_int_equal(w->tid, 40);
	assert_int_equal(w->xfer.dir, KRT_DIR_RECV);
	assert_int_equal(w->xfer.bytes, 0);
	assert_int_equal(w->xfer.fd, 7);
	assert_string_equal(addr(&w->xfer.tuple.remote), "10.0.0.1:1001");
}

/*
 * Goroutine events: a Go thread's transfers and switches go to the goroutine
 * that runs on it (a unit of its own, KRT_GO_UNIT_BASE up), its starts and
 * ready hand-offs go out as KRT_EV_GO; a goroutine is known by (process
 * key, runtime.g), and a g started again is a new goroutine.
 */
static void test_go_units(void **state)
{
	const struct krt_event *go[8] = {0}, *x[4] = {0}, *sw = NULL;
	int i, n_go = 0, n_x = 0;

	feed("go-40 [000] 1.0: go_execute: __probe_ip=1 g=0xc000001000 goid=7 proc=99\n"
	     "go-40 [000] 1.1: sys_enter_read: fd=0x7 count=0x100\n"
	     "go-40 [000] 1.2: tcp_rcv_space_adjust: sport=80 dport=1001 family=2 "
	     "saddr=ARRAY[0a,00,00,02] daddr=ARRAY[0a,00,00,01]\n"
	     "go-40 [000] 1.3: sys_exit_read: ret=0x10\n"
	     /* g 7 starts a goroutine on runtime.g 0xc000002000 and readies another */
	     "go-40 [000] 1.4: go_start: __probe_ip=2 g=0xc000002000 proc=99\n"
	     "go-40 [000] 1.5: go_ready: __probe_ip=3 g=0xc000003000 skip=4 proc=99\n"
	     /* the new goroutine runs on thread 41; another process's g 7 on 42 */
	     "go-41 [001] 1.6: go_execute: __probe_ip=1 g=0xc000002000 goid=8 proc=99\n"
	     "go-42 [001] 1.7: go_execute: __probe_ip=1 g=0xc000001000 goid=7 proc=100\n"
	     /* g 7 moves to thread 41: thread 40 is the runtime's again */
	     "go-41 [001] 1.8: go_execute: __probe_ip=1 g=0xc000001000 goid=7 proc=99\n"
	     "go-41 [001] 1.9: sched_switch: prev_comm=go prev_pid=41 prev_prio=120 "
	     "prev_state=1 next_comm=go next_pid=40 next_prio=120\n"
	     "go-40 [001] 2.0: sys_enter_read: fd=0x7 count=0x100\n"
	     "go-40 [001] 2.1: tcp_rcv_space_adjust: sport=80 dport=1001 family=2 "
	     "saddr=ARRAY[0a,00,00,02] daddr=ARRAY[0a,00,00,01]\n"
	     "go-40 [001] 2.2: sys_exit_read: ret=0x10\n"
	     /* runtime.g 0xc000002000 reused for a new goroutine */
	     "go-40 [001] 2.3: go_start: __probe_ip=2 g=0xc000002000 proc=99\n");
	krt_norm_finish(N);
	for (i = 0; i < n_ev && i < MAX_EV; i++) {
		if (ev[i].type == KRT_EV_GO && n_go < 8)
			go[n_go++] = &ev[i];
		if (ev[i].type == KRT_EV_XFER && n_x < 4)
			x[n_x++] = &ev[i];
		if (ev[i].type == KRT_EV_SWITCH)
			sw = &ev[i];
	}
	assert_int_equal(n_go, 7);
	assert_int_equal(krt_norm_stats(N)->go_events, 7);
	/* g 7 runs on 40: the thread leaves the CPU to it */
	assert_int_equal(go[0]->go.op, KRT_GO_OP_EXECUTE);
	assert_int_equal(go[0]->tid, 40);
	assert_int_equal(go[0]->go.thread, 40);
	assert_int_equal(go[0]->go.target_goid, 7);
	assert_true(go[0]->go.target_tid >= KRT_GO_UNIT_BASE);
	/* its receive is the goroutine's */
	assert_int_equal(x[0]->tid, go[0]->go.target_tid);
	assert_int_equal(x[0]->xfer.goid, 7);
	assert_int_equal(go[1]->go.op, KRT_GO_OP_START);
	assert_int_equal(go[1]->tid, go[0]->go.target_tid);
	assert_int_equal(go[2]->go.op, KRT_GO_OP_READY);
	assert_int_equal(go[2]->tid, go[0]->go.target_tid);
	/* the started goroutine runs under the unit its start named */
	assert_int_equal(go[3]->go.target_tid, go[1]->go.target_tid);
	assert_int_equal(go[3]->go.target_goid, 8);
	/* the same g and goid in another process is another goroutine */
	assert_int_not_equal(go[4]->go.target_tid, go[0]->go.target_tid);
	/* g 7 on 41: the unit that left is goroutine 8 */
	assert_int_equal(go[5]->tid, go[1]->go.target_tid);
	assert_int_equal(go[5]->go.target_tid, go[0]->go.target_tid);
	/* the switch out of 41 is goroutine 7's; 40 runs no known goroutine now */
	assert_non_null(sw);
	assert_int_equal(sw->sw.prev_tid, go[0]->go.target_tid);
	assert_int_equal(sw->sw.next_tid, 40);
	assert_int_equal(n_x, 2);
	assert_int_equal(x[1]->tid, 40);
	assert_int_equal(x[1]->xfer.goid, 0);
	/* a g started again is a new unit; the one that had it exits */
	assert_int_equal(go[6]->go.op, KRT_GO_OP_START);
	assert_int_not_equal(go[6]->go.target_tid, go[1]->go.target_tid);
	for (i = 0, n_x = 0; i < n_ev && i < MAX_EV; i++)
		if (ev[i].type == KRT_EV_EXIT) {
			assert_int_equal(ev[i].tid, go[1]->go.target_tid);
			n_x++;
		}
	assert_int_equal(n_x, 1);
	assert_int_equal(krt_norm_stats(N)->goroutines, 5);
}

/*
 * A Go process's fds are the process's: a goroutine that read on fd 7 on one
 * thread writes it on another (no tcp event inside the write): the write is
 * a send on that connection. A thread of another Go process (another
 * process key) has its own fd 7.
 */
static void test_go_fds_per_process(void **state)
{
	struct krt_event *x[4];

	feed("go-40 [000] 1.0: go_execute: __probe_ip=1 g=0xc000001000 goid=7 proc=99\n"
	     "go-40 [000] 1.1: sys_enter_read: fd=0x7 count=0x100\n"
	     "go-40 [000] 1.2: tcp_rcv_space_adjust: sport=80 dport=1001 family=2 "
	     "saddr=ARRAY[0a,00,00,02] daddr=ARRAY[0a,00,00,01]\n"
	     "go-40 [000] 1.3: sys_exit_read: ret=0x10\n"
	     "go-41 [001] 1.4: go_execute: __probe_ip=1 g=0xc000001000 goid=7 proc=99\n"
	     "go-41 [001] 1.5: sys_enter_write: fd=0x7 count=0x20\n"
	     "go-41 [001] 1.6: sys_exit_write: ret=0x20\n"
	     "go-42 [001] 1.7: go_execute: __probe_ip=1 g=0xc000001000 goid=7 proc=100\n"
	     "go-42 [001] 1.8: sys_enter_write: fd=0x7 count=0x20\n"
	     "go-42 [001] 1.9: sys_exit_write: ret=0x20\n");
	krt_norm_finish(N);
	assert_int_equal(xfers(x, 4), 2);
	assert_int_equal(x[1]->xfer.dir, KRT_DIR_SEND);
	assert_int_equal(x[1]->xfer.bytes, 0x20);
	assert_int_equal(x[1]->xfer.goid, 7);
	assert_string_equal(addr(&x[1]->xfer.tuple.local), "10.0.0.2:80");
	assert_string_equal(addr(&x[1]->xfer.tuple.remote), "10.0.0.1:1001");
	assert_int_equal(krt_norm_stats(N)->non_socket_io, 1); /* the other process's */
}

/* A capture without goroutine events: events keep their thread. */
static void test_no_go_events_unchanged(void **state)
{
	struct krt_event *x[2];

	feed("go-40 [000] 1.1: sys_enter_read: fd=0x7 count=0x100\n"
	     "go-40 [000] 1.2: tcp_rcv_space_adjust: sport=80 dport=1001 family=2 "
	     "saddr=ARRAY[0a,00,00,02] daddr=ARRAY[0a,00,00,01]\n"
	     "go-40 [000] 1.3: sys_exit_read: ret=0x10\n");
	assert_int_equal(xfers(x, 2), 1);
	assert_int_equal(x[0]->tid, 40);
	assert_int_equal(x[0]->xfer.goid, 0);
	assert_int_equal(krt_norm_stats(N)->go_events, 0);
}

/* A closed connection's fd may be reused for a file. */
static void test_close_forgets_fd(void **state)
{
	struct krt_event *x[4];

	feed("w1-40 [000] 1.0: sys_enter_read: fd=0x7 count=0x100\n"
	     "w1-40 [000] 1.1: tcp_rcv_space_adjust: sport=80 dport=1001 family=2 "
	     "saddr=ARRAY[0a,00,00,02] daddr=ARRAY[0a,00,00,01]\n"
	     "w1-40 [000] 1.2: sys_exit_read: ret=0x10\n"
	     "w1-40 [000] 1.3: inet_sock_set_state: skaddr=0x5 oldstate=TCP_LAST_ACK "
	     "newstate=TCP_CLOSE sport=80 dport=1001 family=2 protocol=6 "
	     "saddr=ARRAY[0a,00,00,02] daddr=ARRAY[0a,00,00,01] saddr_v6= daddr_v6=\n"
	     "w1-40 [000] 2.0: sys_enter_write: fd=0x7 count=0x10\n"
	     "w1-40 [000] 2.1: sys_exit_write: ret=0x10\n");
	krt_norm_finish(N);
	assert_int_equal(xfers(x, 4), 1);
	assert_int_equal(krt_norm_stats(N)->non_socket_io, 1);
	assert_int_equal(ev[1].type, KRT_EV_SOCK_STATE);
	assert_int_equal(ev[1].state.oldstate, 9);
	assert_int_equal(ev[1].state.newstate, 7);
	assert_int_equal(ev[1].state.sock_id, 5);
	assert_string_equal(addr(&ev[1].state.tuple.local), "10.0.0.2:80");
}

static void test_sched_events(void **state)
{
	feed("gunicorn-40 [000] 1.000001: sched_process_fork: comm=gunicorn pid=40 "
	     "child_comm=gunicorn child_pid=41\n"
	     "gunicorn-40 [000] 1.000002: sched_switch: prev_comm=gunicorn prev_pid=40 "
	     "prev_prio=120 prev_state=1 next_comm=gunicorn next_pid=41 next_prio=120\n"
	     "gunicorn-41 [000] 1.000003: sched_wakeup: comm=redis pid=50 prio=120 "
	     "target_cpu=001\n"
	     "gunicorn-41 [000] 1.000004: sched_process_exit: comm=gunicorn pid=41 prio=120\n"
	     "CPU:1 [LOST 12 EVENTS]\n");
	assert_int_equal(n_ev, 5);
	assert_int_equal(ev[0].type, KRT_EV_FORK);
	assert_int_equal(ev[0].tid, 40);
	assert_int_equal(ev[0].fork.parent_tid, 40);
	assert_int_equal(ev[0].fork.child_tid, 41);
	assert_int_equal(ev[0].fork.child_pid, 0);
	assert_string_equal(ev[0].fork.child_comm, "gunicorn");
	assert_int_equal(ev[1].type, KRT_EV_SWITCH);
	assert_int_equal(ev[1].sw.prev_tid, 40);
	assert_int_equal(ev[1].sw.next_tid, 41);
	assert_int_equal(ev[1].sw.prev_state, 1);
	assert_int_equal(ev[1].cpu, 0);
	assert_int_equal(ev[2].type, KRT_EV_WAKEUP);
	assert_int_equal(ev[2].tid, 41);
	assert_int_equal(ev[2].wakeup.target_tid, 50);
	assert_int_equal(ev[3].type, KRT_EV_EXIT);
	assert_int_equal(ev[3].tid, 41);
	assert_int_equal(ev[4].type, KRT_EV_LOST);
	assert_int_equal(ev[4].lost.count, 12);
	assert_int_equal(ev[4].ts_ns, ev[3].ts_ns);
}

/*
 * A wake-up right after a tcp_probe in the same context is the socket waking
 * its reader (real capture: nginx's writev to the app wakes the app thread):
 * not passed on as a hand-off, counted. The thread's next event ends it: a
 * later wake-up (a futex) is passed on.
 */
static void test_socket_wakeup_not_a_handoff(void **state)
{
	const struct krt_norm_stats *st;
	int i, wakeups = 0;

	feed("nginx-30 [000] 5.000000: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2 data_len=300\n"
	     "nginx-30 [000] 5.000003: sched_wakeup: comm=svc pid=41 prio=120 target_cpu=000\n"
	     "nginx-30 [000] 5.000004: sched_wakeup: comm=svc pid=42 prio=120 target_cpu=000\n"
	     "nginx-30 [000] 5.000010: sys_enter_read: fd=0x3 buf=0x1 count=0x10\n"
	     "nginx-30 [000] 5.000011: sys_exit_read: ret=0x0\n"
	     "nginx-30 [000] 5.000012: sched_wakeup: comm=svc pid=43 prio=120 target_cpu=000\n"
	     /* an ACK (data_len 0) wakes a writer waiting for buffer space */
	     "nginx-30 [000] 5.000020: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2 data_len=0\n"
	     "nginx-30 [000] 5.000021: sched_wakeup: comm=svc pid=44 prio=120 target_cpu=000\n"
	     /* another thread's probe does not make this thread's wake-ups the socket's */
	     "nginx-30 [000] 5.000025: sys_enter_read: fd=0x3 buf=0x1 count=0x10\n"
	     "nginx-30 [000] 5.000026: sys_exit_read: ret=0x0\n"
	     "app-50 [001] 5.000030: tcp_probe: saddr=" A_CLI " daddr=" A_SRV " sport=48482 "
	     "dport=8080 family=2 data_len=0\n"
	     "nginx-30 [000] 5.000031: sched_wakeup: comm=svc pid=45 prio=120 target_cpu=000\n");
	for (i = 0; i < n_ev && i < MAX_EV; i++) {
		if (ev[i].type != KRT_EV_WAKEUP)
			continue;
		wakeups++;
		assert_true(ev[i].wakeup.target_tid == 43 || ev[i].wakeup.target_tid == 45);
	}
	assert_int_equal(wakeups, 2);
	st = krt_norm_stats(N);
	assert_int_equal(st->socket_wakeups, 3);
}

/*
 * The engine needs non-decreasing time: a step back is clamped, counted, and
 * reported as a loss (the traces around it say reorder_clamp).
 */
static void test_time_order_clamped(void **state)
{
	feed("a-1 [000] 2.0: sched_wakeup: comm=b pid=2 prio=1 target_cpu=0\n"
	     "a-1 [001] 1.5: sched_wakeup: comm=b pid=2 prio=1 target_cpu=0\n");
	assert_int_equal(n_ev, 3);
	assert_int_equal(ev[1].ts_ns, ev[0].ts_ns);
	assert_int_equal(krt_norm_stats(N)->reordered, 1);
	assert_int_equal(ev[2].type, KRT_EV_LOST);
	assert_int_equal(ev[2].lost.reason, KRT_LOST_REORDER);
	assert_int_equal(ev[2].lost.count, 1);
	assert_int_equal(ev[2].ts_ns, ev[1].ts_ns);
}

/* A probe without data_len (older kernels): the send's size comes from ret. */
static void test_probe_without_data_len(void **state)
{
	struct krt_event *x[4];

	feed("cli-10 [000] 2.000000: sys_enter_sendmsg: fd=0x5 msg=0x1 flags=0\n"
	     "cli-10 [000] 2.000010: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2\n"
	     "cli-10 [000] 2.000020: sys_exit_sendmsg: ret=0x40\n");
	assert_int_equal(xfers(x, 4), 1);
	assert_int_equal(x[0]->xfer.bytes, 64);
	assert_int_equal(x[0]->ts_ns, 2000020000ULL);
	assert_string_equal(addr(&x[0]->xfer.tuple.remote), "10.0.0.2:8080");
}

/*
 * IPv6 as trace-cmd prints it: a probe whose sockaddr_in6 came out as "\n"
 * (three lines, no addresses) takes its addresses from the ports of a
 * connection seen before; with none seen, it is counted and dropped.
 */
static void test_probe_without_addresses(void **state)
{
	struct krt_event *x[4];

	feed("srv-20 [001] 1.0: sys_enter_recvfrom: fd=0x4 size=0x100\n"
	     "srv-20 [001] 1.1: tcp_rcv_space_adjust: sport=8080 dport=48482 family=10 "
	     "saddr=ARRAY[0a,00,00,02] daddr=ARRAY[0a,00,00,01] saddr_v6= daddr_v6=\n"
	     "srv-20 [001] 1.2: sys_exit_recvfrom: ret=0x10\n"
	     "srv-20 [001] 2.0: sys_enter_sendto: fd=0x4 len=0x20\n"
	     "srv-20 [001] 2.1: tcp_probe: saddr=\n"
	     " daddr=\n"
	     " sport=48482 dport=8080 family=10 data_len=32\n"
	     "srv-20 [001] 2.2: sys_exit_sendto: ret=0x20\n"
	     "cli-10 [000] 3.0: tcp_probe: saddr=\n"
	     " daddr=\n"
	     " sport=5555 dport=6666 family=10 data_len=32\n");
	assert_int_equal(xfers(x, 4), 2);
	assert_int_equal(x[1]->xfer.dir, KRT_DIR_SEND);
	assert_int_equal(x[1]->xfer.bytes, 32);
	assert_int_equal(x[1]->ts_ns, 2100000000ULL); /* at the probe */
	assert_string_equal(addr(&x[1]->xfer.tuple.local), "10.0.0.2:8080");
	assert_string_equal(addr(&x[1]->xfer.tuple.remote), "10.0.0.1:48482");
	assert_int_equal(krt_norm_stats(N)->no_address, 1);
}

/* -V: the lines that became no event say why. */
static void test_verbose_notes(void **state)
{
	char out[2048] = "";
	FILE *f = fmemopen(out, sizeof(out), "w");

	krt_norm_set_verbose(N, f);
	feed("app-7 [000] 1.000001: sys_enter_read: fd=0x3 count=0x20\n"
	     "app-7 [000] 1.000002: sys_exit_read: ret=0x20\n"
	     "srv-20 [001] 2.5: tcp_probe: saddr=" A_SRV " daddr=" A_CLI " sport=8080 "
	     "dport=48482 family=2 data_len=16\n"
	     "app-7 [000] 3.0: sys_exit_write: ret=0x20\n");
	fclose(f);
	assert_non_null(
	    strstr(out, "  1.000002 app[7] import: read of 32 B on fd 3: no TCP event"));
	assert_null(strstr(out, "srv[20]")); /* a probe taken as srv's writev: an event */
	assert_non_null(strstr(out, "3.000000 app[7] import: syscall exit without its entry"));
}

/* Many threads and connections: tables grow and shrink without losing entries. */
static void test_many_threads(void **state)
{
	char line[512];
	int i, recvs = 0;

	for (i = 0; i < 5000; i++) {
		snprintf(line, sizeof(line),
			 "t-%d [000] 1.%06d: sys_enter_read: fd=0x7 count=0x100\n"
			 "t-%d [000] 1.%06d: tcp_rcv_space_adjust: sport=80 dport=%d family=2 "
			 "saddr=ARRAY[0a,00,00,02] daddr=ARRAY[0a,00,00,01]\n"
			 "t-%d [000] 1.%06d: sys_exit_read: ret=0x10\n",
			 1000 + i, 3 * i, 1000 + i, 3 * i + 1, 10000 + i, 1000 + i, 3 * i + 2);
		feed(line);
	}
	for (i = 0; i < 5000; i += 2) {
		snprintf(line, sizeof(line), "t-%d [000] 2.0: sched_process_exit: comm=t pid=%d\n",
			 1000 + i, 1000 + i);
		feed(line);
	}
	n_ev = 0;
	for (i = 1; i < 5000; i += 2) {
		snprintf(line, sizeof(line),
			 "t-%d [000] 3.0: sys_enter_write: fd=0x7 count=0x10\n"
			 "t-%d [000] 3.0: sys_exit_write: ret=0x10\n",
			 1000 + i, 1000 + i);
		feed(line);
	}
	for (i = 0; i < n_ev && i < MAX_EV; i++)
		recvs += ev[i].type == KRT_EV_XFER;
	assert_int_equal(n_ev, 2500);
	assert_int_equal(recvs, MAX_EV);
	assert_int_equal(krt_norm_stats(N)->table_full, 0);
}

/*
 * More threads than the normaliser's thread table holds (2^18), none seen
 * exiting: the one over the bound is not kept, counted (table_full) and
 * reported as a loss, so that the engine marks the traces around it.
 */
static void test_thread_table_full(void **state)
{
	const int n = (1 << 18) + 1;
	size_t cap = (size_t)n * 64, len = 0;
	char *buf = malloc(cap);
	int i, lost = 0;

	assert_non_null(buf);
	for (i = 0; i < n; i++)
		len += snprintf(buf + len, cap - len,
				"t-%d [000] 1.%06d: sys_enter_write: fd=0x7 count=0x10\n", 1000 + i,
				i % 1000000);
	krt_rp_parse_buffer(&P, buf, len, krt_norm_record_cb, N);
	free(buf);
	krt_norm_finish(N);
	assert_int_equal(P.malformed, 0);
	assert_int_equal(krt_norm_stats(N)->table_full, 1);
	for (i = 0; i < n_ev && i < MAX_EV; i++)
		lost += ev[i].type == KRT_EV_LOST && ev[i].lost.reason == KRT_LOST_TABLE_FULL;
	assert_int_equal(lost, 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_recv_with_adjust),
	    T(test_send_with_probe_and_remainder),
	    T(test_send_without_probe_uses_fd_map),
	    T(test_pending_send_claimed_by_backlog_probe),
	    T(test_duplicate_probe),
	    T(test_log_write_not_claimed_by_retransmission),
	    T(test_retransmission_in_third_thread),
	    T(test_unlisted_send_syscall),
	    T(test_backlog_probe_inside_send),
	    T(test_backlog_probe_from_gateway),
	    T(test_backlog_probe_from_untraced_peer),
	    T(test_adjust_outside_syscall),
	    T(test_non_socket_and_errors),
	    T(test_socketpair_notify),
	    T(test_notify_retracted_by_late_probe),
	    T(test_notify_retracted_by_tcp_fd),
	    T(test_fd_map_per_thread),
	    T(test_recv_wait),
	    T(test_go_units),
	    T(test_go_fds_per_process),
	    T(test_no_go_events_unchanged),
	    T(test_close_forgets_fd),
	    T(test_sched_events),
	    T(test_socket_wakeup_not_a_handoff),
	    T(test_time_order_clamped),
	    T(test_probe_without_data_len),
	    T(test_probe_without_addresses),
	    T(test_verbose_notes),
	    T(test_many_threads),
	    T(test_thread_table_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
