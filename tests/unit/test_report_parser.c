/* Unit tests for the trace-cmd report parser (src/report_parser.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "report_parser.h"

static struct krt_report_parser P;
static struct krt_report_record R;

static unsigned int n_cb;
static __u64 sum_ret;
static int kinds[8], last_kind;
static struct krt_report_record probe;

static void kinds_cb(const struct krt_report_record *rec, void *ctx)
{
	if (n_cb < 8)
		kinds[n_cb] = rec->kind;
	if (rec->kind == KRT_RP_TCP_PROBE)
		probe = *rec;
	last_kind = rec->kind;
	n_cb++;
}

static int parse(const char *line)
{
	return krt_rp_parse_line(&P, line, strlen(line), &R);
}

static int setup(void **state)
{
	krt_rp_init(&P, "test.txt", NULL);
	return 0;
}

static const char *addr(const struct krt_addr *a)
{
	static char buf[4][KRT_ADDR_STRLEN];
	static int i;

	i = (i + 1) % 4;
	return krt_addr_str(a, buf[i], sizeof(buf[i]));
}

static void test_sys_enter_recvfrom(void **state)
{
	assert_int_equal(parse("python3-3441  [001]   256.938989: sys_enter_recvfrom:    "
			       "__syscall_nr=45 fd=0x00000004 ubuf=0x7f8090000ba0 "
			       "size=0x00002000 flags=0x00000000 addr=0x00000000 "
			       "addr_len=0x00000000"),
			 1);
	assert_int_equal(R.kind, KRT_RP_SYS_ENTER);
	assert_int_equal(R.sys, KRT_SYS_RECVFROM);
	assert_false(krt_rp_sys_is_send(R.sys));
	assert_string_equal(R.comm, "python3");
	assert_int_equal(R.tid, 3441);
	assert_int_equal(R.cpu, 1);
	assert_int_equal(R.ts_ns, 256938989000ULL);
	assert_int_equal(R.fd, 4);
	assert_true(R.has & KRT_RP_HAS_SIZE);
	assert_int_equal(R.size, 0x2000);
	assert_int_equal(R.syscall_nr, 45);
}

static void test_sys_enter_size_names(void **state)
{
	assert_int_equal(parse("curl-1 [000] 1.000001: sys_enter_sendto: __syscall_nr=44 "
			       "fd=0x00000005 buff=0x5604 len=0x0000004f flags=0x4000"),
			 1);
	assert_int_equal(R.sys, KRT_SYS_SENDTO);
	assert_true(krt_rp_sys_is_send(R.sys));
	assert_int_equal(R.size, 79);
	assert_int_equal(parse("sh-1 [000] 1.000001: sys_enter_write: fd=0x00000001 buf=0x5 "
			       "count=0x00000002"),
			 1);
	assert_int_equal(R.sys, KRT_SYS_WRITE);
	assert_int_equal(R.size, 2);
	assert_int_equal(parse("sh-1 [000] 1.000001: sys_enter_recvmsg: fd=0x3 msg=0x1 flags=0"),
			 1);
	assert_int_equal(R.sys, KRT_SYS_RECVMSG);
	assert_false(R.has & KRT_RP_HAS_SIZE);
	assert_int_equal(parse("sh-1 [000] 1.000001: sys_enter_sendmsg: fd=0x3 msg=0x1 flags=0"),
			 1);
	assert_int_equal(R.sys, KRT_SYS_SENDMSG);
	assert_int_equal(parse("sh-1 [000] 1.000001: sys_enter_read: fd=0x3 buf=0x1 count=0x10"),
			 1);
	assert_int_equal(R.sys, KRT_SYS_READ);
}

static void test_sys_exit_ret(void **state)
{
	assert_int_equal(parse("python3-3441 [001] 256.939004: sys_exit_recvfrom: "
			       "__syscall_nr=45 ret=0x4f"),
			 1);
	assert_int_equal(R.kind, KRT_RP_SYS_EXIT);
	assert_int_equal(R.ret, 0x4f);
	/* -EAGAIN as the kernel prints a long in hex */
	assert_int_equal(parse("nginx-7 [000] 2.5: sys_exit_read: __syscall_nr=0 "
			       "ret=0xfffffffffffffff5"),
			 1);
	assert_int_equal(R.ret, -11);
	assert_int_equal(parse("nginx-7 [000] 2.5: sys_exit_write: ret=-32"), 1);
	assert_int_equal(R.ret, -32);
	/* the kernel's most per call is fine; 2^63-1 bytes is a corrupt line, not a hop */
	assert_int_equal(parse("nginx-7 [000] 2.5: sys_exit_read: ret=0x7ffff000"), 1);
	assert_int_equal(parse("nginx-7 [000] 2.5: sys_exit_read: ret=0x7fffffffffffffff"), -1);
	assert_non_null(strstr(P.cause, "impossible byte count"));
	assert_int_equal(parse("nginx-7 [000] 2.5: sys_exit_read: ret=0x7ffff001"), -1);
}

static void test_rcv_space_adjust(void **state)
{
	assert_int_equal(parse("python3-3441  [001]   256.939001: tcp_rcv_space_adjust:  "
			       "skaddr=0xffff88810521c0c0 sport=18081 dport=48482 family=2 "
			       "saddr=ARRAY[7f,00,00,01] daddr=ARRAY[ac,18,00,01] saddr_v6= "
			       "daddr_v6= sock_cookie=1"),
			 1);
	assert_int_equal(R.kind, KRT_RP_RCV_SPACE);
	assert_string_equal(addr(&R.tuple.local), "127.0.0.1:18081");
	assert_string_equal(addr(&R.tuple.remote), "172.24.0.1:48482");
	assert_true(R.has & KRT_RP_HAS_COOKIE);
	assert_int_equal(R.sock_cookie, 1);
	assert_int_equal(R.skaddr, 0xffff88810521c0c0ULL);
	/* the kernel prints the cookie with %llx (real capture line) */
	assert_int_equal(parse("      svc_thread-11946 [001]  1366.918019: tcp_rcv_space_adjust:  "
			       "skaddr=0xffff88810adc9bc0 sport=8080 dport=37306 family=2 "
			       "saddr=ARRAY[ac,18,00,06] daddr=ARRAY[ac,18,00,01] saddr_v6= "
			       "daddr_v6= sock_cookie=4b"),
			 1);
	assert_int_equal(R.sock_cookie, 0x4b);
}

static void test_rcv_space_v6_and_old_kernel(void **state)
{
	assert_int_equal(parse("srv-9 [000] 3.000000: tcp_rcv_space_adjust: skaddr=0x1 "
			       "sport=80 dport=5000 family=10 saddr=ARRAY[00,00,00,00] "
			       "daddr=ARRAY[00,00,00,00] "
			       "saddr_v6=ARRAY[fd,00,00,00,00,00,00,00,00,00,00,00,00,00,00,02] "
			       "daddr_v6=ARRAY[fd,00,00,00,00,00,00,00,00,00,00,00,00,00,00,01]"),
			 1);
	assert_string_equal(addr(&R.tuple.local), "[fd00::2]:80");
	assert_string_equal(addr(&R.tuple.remote), "[fd00::1]:5000");
	assert_false(R.has & KRT_RP_HAS_COOKIE);
	/* v4-mapped addresses become IPv4 */
	assert_int_equal(parse("srv-9 [000] 3.000000: tcp_rcv_space_adjust: sport=80 dport=5000 "
			       "family=AF_INET6 "
			       "saddr_v6=ARRAY[00,00,00,00,00,00,00,00,00,00,ff,ff,0a,00,00,02] "
			       "daddr_v6=ARRAY[00,00,00,00,00,00,00,00,00,00,ff,ff,0a,00,00,01] "
			       "saddr=ARRAY[0a,00,00,02] daddr=ARRAY[0a,00,00,01]"),
			 1);
	assert_string_equal(addr(&R.tuple.local), "10.0.0.2:80");
	/* older kernels: no v6 fields, no cookie; fields in another order */
	assert_int_equal(
	    parse("srv-9 [000] 3.000000: tcp_rcv_space_adjust: daddr=ARRAY[0a,00,00,01] "
		  "saddr=ARRAY[0a,00,00,02] dport=5000 sport=80 family=2 skaddr=0x1"),
	    1);
	assert_string_equal(addr(&R.tuple.local), "10.0.0.2:80");
	assert_string_equal(addr(&R.tuple.remote), "10.0.0.1:5000");
}

/*
 * Real trace-cmd 3.1.6 output (kernel 6.18) for IPv6 sockets: an address
 * whose first byte is 0 (::1, ::ffff:a.b.c.d) is printed as an empty string,
 * and the 4-byte field holds the IPv4 address of a v4-mapped socket or the
 * kernel's placeholder 127.0.0.6.
 */
static void test_ipv6_as_trace_cmd_prints_it(void **state)
{
	/* dual-stack server, IPv4 client: the IPv4 addresses */
	assert_int_equal(parse("node-9 [000] 3.0: tcp_rcv_space_adjust: skaddr=0x1 sport=8080 "
			       "dport=41000 family=10 saddr=ARRAY[ac,18,00,02] "
			       "daddr=ARRAY[ac,18,00,01] saddr_v6= daddr_v6= sock_cookie=b57"),
			 1);
	assert_true(R.has & KRT_RP_HAS_ADDR);
	assert_string_equal(addr(&R.tuple.local), "172.24.0.2:8080");
	assert_string_equal(addr(&R.tuple.remote), "172.24.0.1:41000");
	/* ::1 <-> ::1: only the ports are known */
	assert_int_equal(parse("python3-3684  [000]  2478.148178: tcp_rcv_space_adjust:  "
			       "skaddr=0xffff888102a3e180 sport=18086 dport=60236 family=10 "
			       "saddr=ARRAY[7f,00,00,06] daddr=ARRAY[7f,00,00,06] saddr_v6= "
			       "daddr_v6= sock_cookie=b57"),
			 1);
	assert_false(R.has & KRT_RP_HAS_ADDR);
	assert_int_equal(R.tuple.local.port, 18086);
	assert_int_equal(R.tuple.remote.port, 60236);
	assert_int_equal(parse("curl-3683  [001]  2478.142603: inet_sock_set_state:   "
			       "skaddr=0xffff888102a3e180 oldstate=10 newstate=3 sport=18086 "
			       "dport=60236 family=10 protocol=6 saddr=ARRAY[7f,00,00,06] "
			       "daddr=ARRAY[7f,00,00,06] saddr_v6= daddr_v6="),
			 1);
	assert_false(R.has & KRT_RP_HAS_ADDR);
	assert_int_equal(R.newstate, 3);
}

/* A sockaddr_in6 is printed as the string "\n": the record spans three lines. */
static void test_tcp_probe_cut_by_newline(void **state)
{
	const char text[] =
	    "            curl-3683  [001]  2478.148142: tcp_probe:             saddr=\n"
	    " daddr=\n"
	    " sport=18086 dport=60236 family=10 mark=0 data_len=75 snd_nxt=0xa6173e61 "
	    "snd_una=0xa6173e61 snd_cwnd=10 ssthresh=2147483647 snd_wnd=65536 srtt=19 "
	    "rcv_wnd=65464 sock_cookie=b57 skbaddr=0xffff888112efcae0 "
	    "skaddr=0xffff888102a3e180\n"
	    "            curl-3683  [001]  2478.148172: sys_exit_sendto: ret=0x4b\n"
	    /* cut, and not continued: counted malformed, the next line still parses */
	    "            curl-3683  [001]  2478.148173: tcp_probe:             saddr=\n"
	    "            curl-3683  [001]  2478.148174: sys_exit_sendto: ret=0x4b\n";

	krt_rp_init(&P, "v6.txt", NULL);
	n_cb = 0;
	last_kind = 0;
	krt_rp_parse_buffer(&P, text, strlen(text), kinds_cb, NULL);
	assert_int_equal(n_cb, 3);
	assert_int_equal(kinds[0], KRT_RP_TCP_PROBE);
	assert_int_equal(kinds[1], KRT_RP_SYS_EXIT);
	assert_int_equal(kinds[2], KRT_RP_SYS_EXIT);
	assert_int_equal(probe.data_len, 75);
	assert_int_equal(probe.tuple.local.port, 18086);
	assert_int_equal(probe.tuple.remote.port, 60236);
	assert_false(probe.has & KRT_RP_HAS_ADDR);
	assert_int_equal(probe.ts_ns, 2478148142000ULL);
	assert_int_equal(probe.tid, 3683);
	assert_int_equal(P.malformed, 1);
}

static void test_tcp_probe_sockaddr(void **state)
{
	assert_int_equal(
	    parse("   curl-3440  [001]   256.938152: tcp_probe:             "
		  "saddr=ARRAY[02,00,46,a1,7f,00,00,01,00,...] "
		  "daddr=ARRAY[02,00,bd,62,7f,00,00,01,00,...] sport=18081 "
		  "dport=48482 family=2 mark=0 data_len=79 snd_nxt=0x372f3c4e ... "
		  "sock_cookie=1 skbaddr=0xffff88811b96e0e0 skaddr=0xffff88810521c0c0"),
	    1);
	assert_int_equal(R.kind, KRT_RP_TCP_PROBE);
	assert_string_equal(R.comm, "curl");
	assert_string_equal(addr(&R.tuple.local), "127.0.0.1:18081");
	assert_string_equal(addr(&R.tuple.remote), "127.0.0.1:48482");
	assert_true(R.has & KRT_RP_HAS_DATA_LEN);
	assert_int_equal(R.data_len, 79);
	assert_int_equal(R.skaddr, 0xffff88810521c0c0ULL);
}

static void test_tcp_probe_full_array_ports_from_sockaddr(void **state)
{
	/* no sport/dport fields: ports come from the sockaddr; no data_len (old kernel) */
	assert_int_equal(parse("a-1 [000] 1.0: tcp_probe: saddr=ARRAY[02,00,00,50,0a,00,00,02,00,"
			       "00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00] "
			       "daddr=ARRAY[02,00,13,88,0a,00,00,01,00,00,00,00,00,00,00,00,00,"
			       "00,00,00,00,00,00,00,00,00,00,00] family=AF_INET"),
			 1);
	assert_string_equal(addr(&R.tuple.local), "10.0.0.2:80");
	assert_string_equal(addr(&R.tuple.remote), "10.0.0.1:5000");
	assert_false(R.has & KRT_RP_HAS_DATA_LEN);
}

static void test_tcp_probe_v6_sockaddr(void **state)
{
	assert_int_equal(parse("a-1 [000] 1.0: tcp_probe: saddr=ARRAY[0a,00,00,50,00,00,00,00,fd,"
			       "00,00,00,00,00,00,00,00,00,00,00,00,00,00,02,00,00,00,00] "
			       "daddr=ARRAY[0a,00,13,88,00,00,00,00,fd,00,00,00,00,00,00,00,00,"
			       "00,00,00,00,00,00,01,00,00,00,00] sport=80 dport=5000 family=10 "
			       "data_len=5"),
			 1);
	assert_string_equal(addr(&R.tuple.local), "[fd00::2]:80");
	assert_string_equal(addr(&R.tuple.remote), "[fd00::1]:5000");
	/* IPv6 sockaddr cut short by "...": the address is unknown -> malformed */
	assert_int_equal(
	    parse("a-1 [000] 1.0: tcp_probe: saddr=ARRAY[0a,00,00,50,00,00,00,00,fd,...] "
		  "daddr=ARRAY[0a,00,13,88,00,00,00,00,fd,...] sport=80 dport=5000 "
		  "family=10 data_len=5"),
	    -1);
}

static void test_sock_state(void **state)
{
	assert_int_equal(parse("curl-5579 [001] 858.413842: inet_sock_set_state: "
			       "skaddr=0xffff888104ef0940 oldstate=7 newstate=2 sport=0 "
			       "dport=18081 family=2 protocol=6 saddr=ARRAY[7f,00,00,01] "
			       "daddr=ARRAY[7f,00,00,01] saddr_v6= daddr_v6="),
			 1);
	assert_int_equal(R.kind, KRT_RP_SOCK_STATE);
	assert_int_equal(R.oldstate, 7);
	assert_int_equal(R.newstate, 2);
	assert_string_equal(addr(&R.tuple.local), "127.0.0.1:0");
	/* names instead of numbers; a listening socket has an empty daddr */
	assert_int_equal(
	    parse("py-1 [000] 1.0: inet_sock_set_state: skaddr=0x1 "
		  "oldstate=TCP_CLOSE newstate=TCP_LISTEN sport=80 dport=0 "
		  "family=AF_INET protocol=IPPROTO_TCP saddr=ARRAY[0a,00,00,02] daddr= "
		  "saddr_v6= daddr_v6="),
	    1);
	assert_int_equal(R.oldstate, 7);
	assert_int_equal(R.newstate, 10);
	assert_int_equal(parse("py-1 [000] 1.0: inet_sock_set_state: oldstate=TCP_BOGUS "
			       "newstate=1 sport=1 dport=2 saddr=ARRAY[0a,00,00,02] "
			       "daddr=ARRAY[0a,00,00,01]"),
			 -1);
}

static void test_sched_switch(void **state)
{
	assert_int_equal(parse("cap.sh-5535  [000]   857.875079: sched_switch: prev_comm=cap.sh "
			       "prev_pid=5535 prev_prio=120 prev_state=1 next_comm=cap.sh "
			       "next_pid=5537 next_prio=120"),
			 1);
	assert_int_equal(R.kind, KRT_RP_SWITCH);
	assert_int_equal(R.prev_pid, 5535);
	assert_int_equal(R.next_pid, 5537);
	assert_int_equal(R.prev_state, 1);
	assert_string_equal(R.prev_comm, "cap.sh");
	/* 256 = preempted flag alone: still runnable */
	assert_int_equal(parse("a-1 [000] 1.0: sched_switch: prev_comm=a prev_pid=1 prev_prio=120 "
			       "prev_state=256 next_comm=b next_pid=2 next_prio=120"),
			 1);
	assert_int_equal(R.prev_state, 0);
}

static void test_sched_switch_letters_and_spaces(void **state)
{
	/* formatted report: letters, "==>", comms with spaces and dashes */
	assert_int_equal(
	    parse("Web Content-12  [001] 5.000001: sched_switch: prev_comm=Web Content "
		  "prev_pid=12 prev_prio=120 prev_state=R+ ==> next_comm=my-app x "
		  "next_pid=13 next_prio=120"),
	    1);
	assert_string_equal(R.comm, "Web Content");
	assert_int_equal(R.tid, 12);
	assert_string_equal(R.prev_comm, "Web Content");
	assert_string_equal(R.next_comm, "my-app x");
	assert_int_equal(R.prev_state, 0);
	assert_int_equal(R.next_pid, 13);
	assert_int_equal(parse("a-1 [000] 1.0: sched_switch: prev_comm=a prev_pid=1 prev_state=S "
			       "==> next_comm=b next_pid=2"),
			 1);
	assert_int_not_equal(R.prev_state, 0);
	assert_int_equal(parse("a-1 [000] 1.0: sched_switch: prev_comm=a prev_pid=1 prev_state=D|K "
			       "next_comm=b next_pid=2"),
			 1);
	assert_int_not_equal(R.prev_state, 0);
	assert_int_equal(parse("a-1 [000] 1.0: sched_switch: prev_comm=a prev_pid=1 prev_state=Q "
			       "next_comm=b next_pid=2"),
			 -1);
}

static void test_fork_exit_wakeup(void **state)
{
	assert_int_equal(
	    parse("cap.sh-5535 [000] 857.875066: sched_process_fork: parent_comm=cap.sh "
		  "parent_pid=5535 child_comm=cap.sh child_pid=5537"),
	    1);
	assert_int_equal(R.kind, KRT_RP_FORK);
	assert_int_equal(R.pid, 5535);
	assert_int_equal(R.child_pid, 5537);
	assert_string_equal(R.child_comm, "cap.sh");
	/* older kernels: comm/pid */
	assert_int_equal(parse("gunicorn-40 [000] 1.0: sched_process_fork: comm=gunicorn pid=40 "
			       "child_comm=gunicorn child_pid=41"),
			 1);
	assert_int_equal(R.pid, 40);
	assert_int_equal(R.child_pid, 41);
	assert_int_equal(parse("bash-5539 [001] 857.881666: sched_process_exit: comm=bash pid=5539 "
			       "prio=120 group_dead=1"),
			 1);
	assert_int_equal(R.kind, KRT_RP_EXIT);
	assert_int_equal(R.pid, 5539);
	assert_int_equal(
	    parse("python3-5537 [000] 857.875425: sched_wakeup: comm=migration/0 pid=18 "
		  "prio=0 target_cpu=000"),
	    1);
	assert_int_equal(R.kind, KRT_RP_WAKEUP);
	assert_int_equal(R.pid, 18);
	assert_int_equal(parse("x-1 [000] 1.0: sched_waking: comm=y pid=19 prio=0 target_cpu=001"),
			 1);
	assert_int_equal(R.kind, KRT_RP_WAKEUP);
}

/* trace-cmd report without -R (lines of a real capture, tests/fixtures/gthread-wrk) */
static void test_formatted_trace_cmd(void **state)
{
	krt_rp_init(&P, "test.txt", NULL);
	/* the sched_switch plugin; a comm with ':' in it */
	assert_int_equal(parse("           nginx-14109 [000]  3214.044174: sched_switch:         "
			       "nginx:14109 [120] R ==> kworker/0:2:26302 [120]"),
			 1);
	assert_int_equal(R.kind, KRT_RP_SWITCH);
	assert_int_equal(R.prev_pid, 14109);
	assert_string_equal(R.prev_comm, "nginx");
	assert_int_equal(R.prev_state, 0);
	assert_int_equal(R.next_pid, 26302);
	assert_string_equal(R.next_comm, "kworker/0:2");
	assert_int_equal(parse("     rcu_preempt-15    [000]  3214.044205: sched_switch:         "
			       "rcu_preempt:15 [120] W ==> nginx:14109 [120]"),
			 1);
	assert_int_not_equal(R.prev_state, 0);
	assert_int_equal(parse("a-1 [000] 1.0: sched_switch: my app:1 [120] S|D ==> b c:2 [99]"), 1);
	assert_string_equal(R.prev_comm, "my app");
	assert_string_equal(R.next_comm, "b c");
	assert_int_equal(R.next_pid, 2);
	/* syscall arguments "name: value", the return value alone */
	assert_int_equal(parse("    redis-server-14086 [001]  3214.044233: sys_enter_read:       "
			       "fd: 0x0000000c, buf: 0x7ffe5006fbd0, count: 0x00000fff"),
			 1);
	assert_int_equal(R.kind, KRT_RP_SYS_ENTER);
	assert_int_equal(R.sys, KRT_SYS_READ);
	assert_int_equal(R.fd, 12);
	assert_int_equal(R.size, 0xfff);
	/* the import format's sed takes the spaces after commas */
	assert_int_equal(parse("a-1 [000] 1.0: sys_enter_sendto: fd: 0x00000005,buff: 0x1,len: "
			       "0x00000004,flags: 0x00000000"),
			 1);
	assert_int_equal(R.fd, 5);
	assert_int_equal(R.size, 4);
	assert_int_equal(parse("    redis-server-14086 [001]  3214.044262: sys_exit_read:        0x13e"),
			 1);
	assert_int_equal(R.kind, KRT_RP_SYS_EXIT);
	assert_int_equal(R.ret, 0x13e);
	assert_int_equal(parse("g-14881 [000] 3214.063225: sys_exit_recvfrom:    0xfffffffffffffff5"),
			 1);
	assert_int_equal(R.ret, -11);
	/* tcp_probe: src=/dest= instead of the saddr/daddr sockaddr arrays */
	assert_int_equal(parse("nginx-14107 [001]  3214.046987: tcp_probe: family=AF_INET "
			       "src=172.24.0.3:8000 dest=172.24.0.2:40554 mark=0 data_len=111 "
			       "snd_nxt=0xe4eafcd5 sock_cookie=917 skbaddr=0xffff888108f33ae0 "
			       "skaddr=0xffff8881336fca00"),
			 1);
	assert_int_equal(R.kind, KRT_RP_TCP_PROBE);
	assert_string_equal(addr(&R.tuple.local), "172.24.0.3:8000");
	assert_string_equal(addr(&R.tuple.remote), "172.24.0.2:40554");
	assert_int_equal(R.data_len, 111);
	assert_true(R.has & KRT_RP_HAS_ADDR);
	assert_int_equal(parse("a-1 [000] 1.0: tcp_probe: family=AF_INET6 src=[2001:db8::1]:8080 "
			       "dest=[::ffff:10.0.0.2]:4000 data_len=1"),
			 1);
	assert_string_equal(addr(&R.tuple.local), "[2001:db8::1]:8080");
	assert_string_equal(addr(&R.tuple.remote), "10.0.0.2:4000");
	/* dotted addresses, saddrv6= (not saddr_v6=), state names */
	assert_int_equal(parse("nginx-14109 [000] 3214.044792: inet_sock_set_state:  family=AF_INET "
			       "protocol=IPPROTO_TCP sport=80 dport=49898 saddr=172.24.0.2 "
			       "daddr=172.24.0.1 saddrv6=::ffff:172.24.0.2 daddrv6=::ffff:172.24.0.1 "
			       "oldstate=TCP_CLOSE_WAIT newstate=TCP_LAST_ACK"),
			 1);
	assert_int_equal(R.kind, KRT_RP_SOCK_STATE);
	assert_string_equal(addr(&R.tuple.local), "172.24.0.2:80");
	assert_string_equal(addr(&R.tuple.remote), "172.24.0.1:49898");
	assert_int_equal(R.oldstate, 8);
	assert_int_equal(R.newstate, 9);
	assert_int_equal(parse("a-1 [000] 1.0: tcp_rcv_space_adjust: family=AF_INET6 sport=80 "
			       "dport=5000 saddr=127.0.0.6 daddr=127.0.0.6 saddrv6=2001:db8::2 "
			       "daddrv6=2001:db8::3 sock_cookie=4b"),
			 1);
	assert_string_equal(addr(&R.tuple.local), "[2001:db8::2]:80");
	assert_int_equal(R.sock_cookie, 0x4b);
	/* sched_wakeup by the plugin, with and without success= */
	assert_int_equal(parse("a-1 [000] 1.0: sched_wakeup: svc_pool:77 [120] CPU:001"), 1);
	assert_int_equal(R.kind, KRT_RP_WAKEUP);
	assert_int_equal(R.pid, 77);
	assert_int_equal(parse("a-1 [000] 1.0: sched_wakeup: my:app:78 [120] success=1 CPU:000"), 1);
	assert_int_equal(R.pid, 78);
	assert_int_equal(P.malformed, 0);
	/* still malformed: no arrow, no pid, no fd */
	assert_int_equal(parse("a-1 [000] 1.0: sched_switch: a:1 [120] S b:2 [120]"), -1);
	assert_int_equal(parse("a-1 [000] 1.0: sched_switch: a:1 [120] S ==> b [120]"), -1);
	assert_int_equal(parse("a-1 [000] 1.0: sys_enter_read: buf: 0x1, count: 0x2"), -1);
	assert_int_equal(parse("a-1 [000] 1.0: sys_exit_read: 0xzz"), -1);
	assert_int_equal(parse("a-1 [000] 1.0: tcp_probe: src=1.2.3.4 dest=1.2.3.5:80 data_len=1"),
			 -1);
}

/* The kernel's own trace / trace_pipe text (lines of a capture on kernel 6.18) */
static void test_formatted_kernel(void **state)
{
	krt_rp_init(&P, "trace", NULL);
	assert_int_equal(parse("# tracer: nop"), 0);
	assert_int_equal(parse("#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION"), 0);
	assert_int_equal(parse("##### CPU 1 buffer started ####"), 0);
	assert_int_equal(parse("            curl-1939    [001] .....   871.928159: sys_sendto(fd: 5, "
			       "buff: 0x5617358f6410, len: 0x4f, flags: 0x4000, addr: 0, addr_len: 0)"),
			 1);
	assert_int_equal(R.kind, KRT_RP_SYS_ENTER);
	assert_int_equal(R.sys, KRT_SYS_SENDTO);
	assert_int_equal(R.fd, 5);
	assert_int_equal(R.size, 0x4f);
	assert_int_equal(R.tid, 1939);
	assert_int_equal(R.ts_ns, 871928159000ULL);
	assert_int_equal(parse("            curl-1939    [001] .....   871.928185: sys_sendto -> 0x4f"),
			 1);
	assert_int_equal(R.kind, KRT_RP_SYS_EXIT);
	assert_int_equal(R.sys, KRT_SYS_SENDTO);
	assert_int_equal(R.ret, 0x4f);
	assert_int_equal(parse("a-1 [000] ..... 1.0: sys_read -> 0xfffffffffffffff5"), 1);
	assert_int_equal(R.ret, -11);
	assert_int_equal(parse("            bash-1934    [000] d..2.   871.917916: sched_switch: "
			       "prev_comm=bash prev_pid=1934 prev_prio=120 prev_state=S ==> "
			       "next_comm=cc1 next_pid=1932 next_prio=120"),
			 1);
	assert_int_equal(R.next_pid, 1932);
	assert_int_not_equal(R.prev_state, 0);
	assert_int_equal(parse("            curl-1939    [001] d.h3.   871.920220: sched_wakeup: "
			       "comm=memfd:sealed-91 pid=6886 prio=120 target_cpu=001"),
			 1);
	assert_int_equal(R.pid, 6886);
	/* hashed pointers (%p: hex without 0x), %#x of 0 as 0x0 */
	assert_int_equal(parse("            curl-1939    [001] ..s2.   871.928173: tcp_probe: "
			       "family=AF_INET src=127.0.0.1:18093 dest=127.0.0.1:44532 mark=0x0 "
			       "data_len=79 snd_nxt=0x7c5f5e7c snd_una=0x7c5f5e7c snd_cwnd=10 "
			       "ssthresh=2147483647 snd_wnd=65536 srtt=26 rcv_wnd=65483 sock_cookie=e6c "
			       "skbaddr=00000000b1ae87f4 skaddr=000000005c6f2333"),
			 1);
	assert_string_equal(addr(&R.tuple.local), "127.0.0.1:18093");
	assert_int_equal(R.data_len, 79);
	assert_int_equal(R.skaddr, 0x5c6f2333);
	/* other syscalls are skipped and counted, like other events */
	assert_int_equal(parse("a-1 [000] ..... 1.0: sys_openat(dfd: 0xffffff9c, filename: 0x1, "
			       "flags: 0x80000, mode: 0)"),
			 0);
	assert_int_equal(parse("a-1 [000] ..... 1.0: sys_openat -> 0x3"), 0);
	assert_int_equal(P.unknown_events, 2);
	assert_int_equal(P.malformed, 0);
	assert_int_equal(parse("a-1 [000] ..... 1.0: sys_read(fd: 3, buf: 0x1"), -1);
	assert_int_equal(parse("a-1 [000] ..... 1.0: sys_read 0x3"), -1);
}

static void test_line_variants(void **state)
{
	/* a TGID column and latency flags (other trace-cmd versions) */
	assert_int_equal(
	    parse("  my-app-2-77 (   70) [003] d..2. 12.345678901: sys_exit_read: ret=0x1"), 1);
	assert_string_equal(R.comm, "my-app-2");
	assert_int_equal(R.tid, 77);
	assert_int_equal(R.cpu, 3);
	assert_int_equal(R.ts_ns, 12345678901ULL); /* nanosecond timestamps */
	assert_int_equal(parse("a-1 [000] ...1 1.5: sys_exit_read: ret=0x1\r"), 1);
	assert_int_equal(R.ts_ns, 1500000000ULL);
	/* comm with a '[' */
	assert_int_equal(parse("[weird-5 [000] 1.0: sys_exit_read: ret=0x1"), 1);
	assert_string_equal(R.comm, "[weird");
	/* comm longer than 15 chars is cut, like the kernel's */
	assert_int_equal(parse("averyveryverylongname-5 [000] 1.0: sys_exit_read: ret=0x1"), 1);
	assert_string_equal(R.comm, "averyveryverylo");
}

static void test_skipped_lines(void **state)
{
	krt_rp_init(&P, "test.txt", NULL);
	assert_int_equal(parse(""), 0);
	assert_int_equal(parse("   \r"), 0);
	assert_int_equal(parse("version = 6"), 0);
	assert_int_equal(parse("cpus=2"), 0);
	assert_int_equal(parse("CPU 1 is empty"), 0);
	assert_int_equal(parse("a-1 [000] 1.0: sys_enter_writev: fd=0x3 vec=0x1 vlen=0x2"), 0);
	assert_int_equal(parse("a-1 [000] 1.0: kmalloc: call_site=x ptr=y"), 0);
	assert_int_equal(P.unknown_events, 2);
	assert_int_equal(P.malformed, 0);
}

static void test_lost_lines(void **state)
{
	krt_rp_init(&P, "test.txt", NULL);
	assert_int_equal(parse("CPU:1 [LOST 123 EVENTS]"), 1);
	assert_int_equal(R.kind, KRT_RP_LOST);
	assert_int_equal(R.lost, 123);
	assert_int_equal(parse("[LOST 7 EVENTS]"), 1);
	assert_int_equal(R.lost, 7);
	assert_int_equal(P.lost_events, 130);
	/* trace-cmd report's own markers: counted, never taken for headers */
	assert_int_equal(parse("CPU:7 [204600 EVENTS DROPPED]"), 1);
	assert_int_equal(R.kind, KRT_RP_LOST);
	assert_int_equal(R.lost, 204600);
	assert_int_equal(parse("CPU:0 [EVENTS DROPPED]"), 1);
	assert_int_equal(R.lost, 1); /* count unknown: at least one */
	assert_int_equal(P.lost_events, 130 + 204600 + 1);
	assert_int_equal(P.malformed, 0);
}

/* Goroutine events as trace-cmd report -R prints them, and without -R. */
static void test_go_events(void **state)
{
	assert_int_equal(parse("go-http-7069  [001] 31547.192927: go_execute:            "
			       "__probe_ip=43c760 g=0xc0000061a0 goid=17 proc=31367533206225"),
			 1);
	assert_int_equal(R.kind, KRT_RP_GO_EXECUTE);
	assert_int_equal(R.tid, 7069);
	assert_int_equal(R.go_g, 0xc0000061a0ULL);
	assert_int_equal(R.go_goid, 17);
	assert_int_equal(R.go_proc, 31367533206225ULL);
	assert_int_equal(parse("go-http-7069  [001] 31547.193039: go_start: (0x44e8e0) "
			       "g=0xc0000aaea0 proc=31367533206225"),
			 1);
	assert_int_equal(R.kind, KRT_RP_GO_START);
	assert_int_equal(R.go_g, 0xc0000aaea0ULL);
	assert_int_equal(parse("go-http-7069  [001] 31547.193443: go_ready: "
			       "__probe_ip=439140 g=0xc000007380 skip=4 proc=31367533206225"),
			 1);
	assert_int_equal(R.kind, KRT_RP_GO_READY);
	assert_int_equal(R.go_skip, 4);
	assert_string_equal(krt_rp_kind_name(KRT_RP_GO_READY), "go_ready");
	assert_int_equal(P.malformed, 0);
}

/* A goroutine event without its fields, or with bad ones: file, line and cause. */
static void test_go_events_malformed(void **state)
{
	static const struct {
		const char *line, *cause;
	} bad[] = {
	    {"g-1 [000] 1.0: go_execute: __probe_ip=1 g=0xc000 proc=5", "missing field goid"},
	    {"g-1 [000] 1.0: go_execute: __probe_ip=1 g=0xc000 goid=0 proc=5",
	     "bad goroutine field value (g=0x<pointer>, goid=<n > 0>, skip=<n>, proc=<n>)"},
	    {"g-1 [000] 1.0: go_start: __probe_ip=1 g=c000 proc=5",
	     "bad goroutine field value (g=0x<pointer>, goid=<n > 0>, skip=<n>, proc=<n>)"},
	    {"g-1 [000] 1.0: go_start: __probe_ip=1 g=0x0 proc=5",
	     "bad goroutine field value (g=0x<pointer>, goid=<n > 0>, skip=<n>, proc=<n>)"},
	    {"g-1 [000] 1.0: go_start: __probe_ip=1 g=0xc000", "missing field proc"},
	    {"g-1 [000] 1.0: go_ready: __probe_ip=1 g=0xc000 proc=5", "missing field skip"},
	    {"g-1 [000] 1.0: go_ready: g=0xc000 skip=x proc=5",
	     "bad goroutine field value (g=0x<pointer>, goid=<n > 0>, skip=<n>, proc=<n>)"},
	    {"g-1 [000] 1.0: go_ready: skip=3 proc=5", "missing field g"},
	};
	char out[2048] = "", want[256];
	FILE *diag = fmemopen(out, sizeof(out), "w");
	size_t i;

	krt_rp_init(&P, "cap.txt", diag);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		P.lineno = i + 1;
		assert_int_equal(parse(bad[i].line), -1);
		assert_string_equal(P.cause, bad[i].cause);
	}
	fclose(diag);
	assert_int_equal(P.malformed, sizeof(bad) / sizeof(bad[0]));
	snprintf(want, sizeof(want), "cap.txt:1: %s\n", bad[0].cause);
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof(want), "cap.txt:2: %s\n", bad[1].cause);
	assert_non_null(strstr(out, want));
}

static void test_malformed_lines(void **state)
{
	static const char *const bad[] = {
	    "garbage without structure",
	    "a-1 [000] 1.0 sys_exit_read: ret=0x1",	    /* no ':' after time */
	    "a-x [000] 1.0: sys_exit_read: ret=0x1",	    /* tid not a number */
	    "a1 [000] 1.0: sys_exit_read: ret=0x1",	    /* no COMM-TID dash */
	    "a-1 [000] 1.0: sys_exit_read: ret=zz",	    /* bad number */
	    "a-1 [000] 1.0: sys_exit_read: __syscall_nr=0", /* missing ret */
	    "a-1 [000] 1.0: sys_enter_read: buf=0x1",	    /* missing fd */
	    "a-1 [000] 1.0: sched_switch: prev_pid=1",	    /* missing next_pid */
	    "a-1 [000] 1.0: tcp_probe: sport=1 dport=2",    /* no addresses */
	    "a-1 [000] 1.0: tcp_probe: saddr=ARRAY[02,00 daddr=ARRAY[02] sport=1 dport=2",
	    "a-1 [000] 1.0: tcp_probe: saddr=ARRAY[7f,00,00,01] daddr=ARRAY[7f,00,00,01] "
	    "sport=70000 dport=2",				     /* port out of range */
	    "a-1 [000] 1.0: sys_exit_read: ret=0x11111111111111111", /* overflow */
	    "a-1 [000] 1.0: tcp_rcv_space_adjust: sport=1 dport=2 family=99 "
	    "saddr=ARRAY[7f,00,00,01] daddr=ARRAY[7f,00,00,01]", /* unknown family */
	    "a-1 [000] 99999999999999999999.0: sys_exit_read: ret=0x1",
	    "a-1 [000] 1.0:",
	};
	size_t i;

	krt_rp_init(&P, "test.txt", NULL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i]) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(P.cause);
	}
	assert_int_equal(P.malformed, i);
}

static void test_not_nul_terminated(void **state)
{
	/* the parser must stop at len, not at a NUL */
	char buf[] = "a-1 [000] 1.0: sys_exit_read: ret=0x10XXXX";

	assert_int_equal(krt_rp_parse_line(&P, buf, strlen(buf) - 4, &R), 1);
	assert_int_equal(R.ret, 16);
}

static void count_cb(const struct krt_report_record *rec, void *ctx)
{
	n_cb++;
	if (rec->kind == KRT_RP_SYS_EXIT)
		sum_ret += (__u64)rec->ret;
}

static void test_diag_first_five(void **state)
{
	char out[4096] = "";
	FILE *diag = fmemopen(out, sizeof(out), "w");
	const char text[] = "bad 1\nbad 2\na-1 [000] 1.0: sys_exit_read: ret=0x1\nbad 3\nbad 4\n"
			    "bad 5\nbad 6\nbad 7\n";

	krt_rp_init(&P, "r.txt", diag);
	n_cb = 0;
	krt_rp_parse_buffer(&P, text, strlen(text), count_cb, NULL);
	fclose(diag);
	assert_int_equal(n_cb, 1);
	assert_int_equal(P.malformed, 7);
	assert_int_equal(P.lines, 8);
	assert_non_null(strstr(out, "r.txt:1: no [CPU] column\n"));
	assert_non_null(strstr(out, "r.txt:6: "));
	assert_null(strstr(out, "r.txt:7: "));
	assert_null(strstr(out, "r.txt:3: "));
}

/* The stream reader across 1 MiB block boundaries, a long line and a last line without '\n'. */
static void test_read_stream(void **state)
{
	FILE *f = tmpfile();
	const char line[] =
	    "some-app-1234 [001] 100.000001: sys_exit_read: __syscall_nr=0 ret=0x3\n";
	size_t n = (3u << 20) / (sizeof(line) - 1), i;
	char *longline;

	assert_non_null(f);
	for (i = 0; i < n; i++)
		fputs(line, f);
	longline = malloc(KRT_RP_MAX_LINE * 2);
	memset(longline, 'x', KRT_RP_MAX_LINE * 2 - 1);
	longline[KRT_RP_MAX_LINE * 2 - 1] = '\0';
	fprintf(f, "%s\n", longline);
	free(longline);
	/* cut mid-write: "ret=0x4" of 0x49, no newline: reported, never parsed */
	fputs("tail-5 [000] 100.5: sys_exit_read: ret=0x4", f);
	rewind(f);
	krt_rp_init(&P, "big.txt", NULL);
	n_cb = 0;
	sum_ret = 0;
	assert_int_equal(krt_rp_read_stream(&P, f, count_cb, NULL), 0);
	fclose(f);
	assert_int_equal(n_cb, n);
	assert_int_equal(sum_ret, 3 * n);
	assert_int_equal(P.malformed, 2);
	assert_int_equal(P.lines, n + 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_sys_enter_recvfrom, setup),
	    cmocka_unit_test_setup(test_sys_enter_size_names, setup),
	    cmocka_unit_test_setup(test_sys_exit_ret, setup),
	    cmocka_unit_test_setup(test_rcv_space_adjust, setup),
	    cmocka_unit_test_setup(test_rcv_space_v6_and_old_kernel, setup),
	    cmocka_unit_test_setup(test_ipv6_as_trace_cmd_prints_it, setup),
	    cmocka_unit_test_setup(test_tcp_probe_cut_by_newline, setup),
	    cmocka_unit_test_setup(test_tcp_probe_sockaddr, setup),
	    cmocka_unit_test_setup(test_tcp_probe_full_array_ports_from_sockaddr, setup),
	    cmocka_unit_test_setup(test_tcp_probe_v6_sockaddr, setup),
	    cmocka_unit_test_setup(test_sock_state, setup),
	    cmocka_unit_test_setup(test_sched_switch, setup),
	    cmocka_unit_test_setup(test_sched_switch_letters_and_spaces, setup),
	    cmocka_unit_test_setup(test_fork_exit_wakeup, setup),
	    cmocka_unit_test_setup(test_formatted_trace_cmd, setup),
	    cmocka_unit_test_setup(test_formatted_kernel, setup),
	    cmocka_unit_test_setup(test_line_variants, setup),
	    cmocka_unit_test_setup(test_skipped_lines, setup),
	    cmocka_unit_test_setup(test_lost_lines, setup),
	    cmocka_unit_test_setup(test_malformed_lines, setup),
	    cmocka_unit_test_setup(test_go_events, setup),
	    cmocka_unit_test_setup(test_go_events_malformed, setup),
	    cmocka_unit_test_setup(test_not_nul_terminated, setup),
	    cmocka_unit_test_setup(test_diag_first_five, setup),
	    cmocka_unit_test_setup(test_read_stream, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
