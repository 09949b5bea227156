/* --peers CIDR parsing and matching (src/peers.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <string.h>
#include "addr.h"
#include "peers.h"

static struct krt_addr ip(const char *s)
{
	struct krt_addr a;

	assert_int_equal(krt_addr_parse_ip(s, &a), 0);
	return a;
}

static void test_match(void **state)
{
	struct krt_peers p = { 0 };
	struct krt_addr a;
	char err[128];

	assert_int_equal(krt_peers_add_list(&p, "10.36.0.0/16,172.36.5.7,fd00::/8", err,
					    sizeof(err)), 0);
	assert_int_equal(p.n, 3);
	a = ip("10.36.200.3");
	assert_true(krt_peers_match(&p, &a));
	a = ip("10.37.0.3");
	assert_false(krt_peers_match(&p, &a));
	a = ip("172.36.5.7");
	assert_true(krt_peers_match(&p, &a));
	a = ip("172.36.5.8");
	assert_false(krt_peers_match(&p, &a));
	a = ip("fd12::1");
	assert_true(krt_peers_match(&p, &a));
	a = ip("fe80::1");
	assert_false(krt_peers_match(&p, &a));
	/* An IPv4-mapped IPv6 address is its IPv4 address. */
	a = ip("::ffff:10.36.1.1");
	assert_true(krt_peers_match(&p, &a));
	/* The network is stored masked: 10.36.7.7/16 is 10.36.0.0/16. */
	assert_int_equal(krt_peers_add(&p, "192.168.7.7/24", err, sizeof(err)), 0);
	a = ip("192.168.7.200");
	assert_true(krt_peers_match(&p, &a));
}

static void test_bad(void **state)
{
	struct krt_peers p = { 0 };
	char err[128];
	int i;

	assert_int_equal(krt_peers_add(&p, "10.0.0.0/33", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "1 to 32"));
	assert_int_equal(krt_peers_add(&p, "10.0.0.0/0", err, sizeof(err)), -1);
	assert_int_equal(krt_peers_add(&p, "10.0.0/8", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not an IPv4 or IPv6 address"));
	assert_int_equal(krt_peers_add(&p, "/8", err, sizeof(err)), -1);
	assert_int_equal(krt_peers_add(&p, "10.0.0.0/8x", err, sizeof(err)), -1);
	assert_int_equal(krt_peers_add(&p, "::1/129", err, sizeof(err)), -1);
	assert_int_equal(p.n, 0);
	for (i = 0; i < KRT_MAX_PEER_NETS; i++)
		assert_int_equal(krt_peers_add(&p, "10.0.0.0/8", err, sizeof(err)), 0);
	assert_int_equal(krt_peers_add(&p, "10.0.0.0/8", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "at most"));
}

static void test_ipv4_for_kernel(void **state)
{
	struct krt_peers p = { 0 };
	__u32 net[4], mask[4];
	char err[128];

	assert_int_equal(krt_peers_add_list(&p, "10.36.0.0/16,fd00::/8,172.36.5.7", err,
					    sizeof(err)), 0);
	assert_int_equal(krt_peers_ipv4(&p, net, mask, 4), 2);
	assert_int_equal(net[0], htonl(0x0a240000));
	assert_int_equal(mask[0], htonl(0xffff0000));
	assert_int_equal(net[1], htonl(0xac240507));
	assert_int_equal(mask[1], 0xffffffff);
}

static void test_ipv6_for_kernel(void **state)
{
	struct krt_peers p = { 0 };
	__u32 net[4][4], mask[4][4];
	char err[128];

	assert_int_equal(krt_peers_add_list(&p, "10.36.0.0/16,fd00:1::/40,::1", err, sizeof(err)),
			 0);
	assert_int_equal(krt_peers_ipv6(&p, net, mask, 4), 2);
	/* fd00:1::/40: the first word whole, 8 bits of the second, none after */
	assert_int_equal(net[0][0], htonl(0xfd000001));
	assert_int_equal(net[0][1], 0);
	assert_int_equal(mask[0][0], 0xffffffff);
	assert_int_equal(mask[0][1], htonl(0xff000000));
	assert_int_equal(mask[0][2], 0);
	assert_int_equal(mask[0][3], 0);
	/* ::1 is /128 */
	assert_int_equal(net[1][3], htonl(1));
	assert_int_equal(mask[1][0], 0xffffffff);
	assert_int_equal(mask[1][3], 0xffffffff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_ipv4_for_kernel),
		cmocka_unit_test(test_ipv6_for_kernel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
