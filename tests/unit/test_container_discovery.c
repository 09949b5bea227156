// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Parsers behind container discovery: fib_trie, if_inet6, cgroup ids, subnets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include "addr.h"
#include "container_discovery.h"

static const char fib_trie[] =
	"Main:\n"
	"  +-- 0.0.0.0/0 3 0 5\n"
	"     |-- 0.0.0.0\n"
	"        /0 universe UNICAST\n"
	"     +-- 10.99.0.0/24 2 0 2\n"
	"        |-- 10.99.0.0\n"
	"           /24 link UNICAST\n"
	"        |-- 10.99.0.2\n"
	"           /32 host LOCAL\n"
	"Local:\n"
	"  +-- 10.99.0.0/24 2 0 2\n"
	"     |-- 10.99.0.2\n"
	"        /32 host LOCAL\n"
	"     |-- 10.99.0.255\n"
	"        /32 link BROADCAST\n"
	"     |-- 127.0.0.1\n"
	"        /32 host LOCAL\n";

static void test_fib_trie_locals(void **state)
{
	struct krt_addr a[8];
	char buf[KRT_ADDR_STRLEN];

	assert_int_equal(krt_parse_fib_trie_local(fib_trie, a, 8), 2);
	assert_string_equal(krt_ip_str(&a[0], buf, sizeof(buf)), "10.99.0.2");
	assert_string_equal(krt_ip_str(&a[1], buf, sizeof(buf)), "127.0.0.1");
	/* bounded by the caller's array */
	assert_int_equal(krt_parse_fib_trie_local(fib_trie, a, 1), 1);
	assert_int_equal(krt_parse_fib_trie_local("garbage\n|-- not-an-ip\n/32 host LOCAL\n", a, 8), 0);
	assert_int_equal(krt_parse_fib_trie_local("", a, 8), 0);
}

static void test_if_inet6(void **state)
{
	static const char text[] =
		"00000000000000000000000000000001 01 80 10 80       lo\n"
		"fd000000000000000000000000000002 05 40 00 80     eth0\n"
		"short line\n";
	struct krt_addr a[4], want;

	assert_int_equal(krt_parse_if_inet6(text, a, 4), 2);
	assert_int_equal(krt_addr_parse_ip("fd00::2", &want), 0);
	assert_true(krt_ip_eq(&a[1], &want));
}

static void test_cgroup_id(void **state)
{
	char id[65];
	const char *docker = "0::/system.slice/docker-"
			     "4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c.scope\n";

	assert_int_equal(krt_parse_cgroup_id(docker, id, sizeof(id)), 0);
	assert_string_equal(id, "4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c");
	assert_int_equal(krt_parse_cgroup_id("0::/user.slice/session-3.scope\n", id, sizeof(id)), -1);
	/* 65 hex digits is not an id */
	assert_int_equal(krt_parse_cgroup_id("0::/x/"
		"04f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c\n", id, sizeof(id)), -1);
}

static void test_subnet(void **state)
{
	struct krt_addr gw, in, out, v6;

	assert_int_equal(krt_addr_parse_ip("172.24.0.1", &gw), 0);
	assert_int_equal(krt_addr_parse_ip("172.24.3.9", &in), 0);
	assert_int_equal(krt_addr_parse_ip("172.25.0.9", &out), 0);
	assert_int_equal(krt_addr_parse_ip("::1", &v6), 0);
	assert_true(krt_addr_in_subnet(&in, &gw, 16));
	assert_false(krt_addr_in_subnet(&in, &gw, 24));
	assert_false(krt_addr_in_subnet(&out, &gw, 16));
	assert_true(krt_addr_in_subnet(&out, &gw, 14));
	assert_false(krt_addr_in_subnet(&v6, &gw, 8));
	assert_false(krt_addr_in_subnet(&in, &gw, 33));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fib_trie_locals),
		cmocka_unit_test(test_if_inet6),
		cmocka_unit_test(test_cgroup_id),
		cmocka_unit_test(test_subnet),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
