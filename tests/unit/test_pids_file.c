/* Unit tests for the container PIDs file parser (src/pids_file.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "addr.h"
#include "pids_file.h"

static int parse_text(struct krt_pids *p, const char *text, char *err, size_t errlen)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int rc;

	assert_non_null(f);
	memset(p, 0, sizeof(*p));
	err[0] = '\0';
	rc = krt_pids_parse_stream(p, f, "pids.txt", err, errlen);
	fclose(f);
	return rc;
}

static void test_good_file(void **state)
{
	struct krt_pids p;
	char err[256], ip[KRT_ADDR_STRLEN];

	assert_int_equal(parse_text(&p,
				    "# comment\n"
				    "\n"
				    "1234 nginx 172.24.0.2 abcdef0123\n"
				    "  5678\tapp-1   172.24.0.3\tdeadbeef  \r\n"
				    "91 redis fd00::5 h\n",
				    err, sizeof(err)),
			 0);
	assert_int_equal(p.n, 3);
	assert_int_equal(p.v[0].pid, 1234);
	assert_string_equal(p.v[0].name, "nginx");
	assert_string_equal(krt_ip_str(&p.v[0].ip, ip, sizeof(ip)), "172.24.0.2");
	assert_string_equal(p.v[0].hash, "abcdef0123");
	assert_int_equal(p.v[1].pid, 5678);
	assert_string_equal(p.v[1].name, "app-1");
	assert_string_equal(p.v[1].hash, "deadbeef");
	assert_int_equal(p.v[2].ip.family, KRT_AF_INET6);
	assert_int_equal(p.v[2].ip.port, 0);
	krt_pids_free(&p);
	assert_null(p.v);
}

static void test_hash_optional(void **state)
{
	struct krt_pids p;
	char err[256];

	assert_int_equal(parse_text(&p, "10 web 10.0.0.2\n", err, sizeof(err)), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.v[0].hash, "");
	krt_pids_free(&p);
}

static void test_bad_pid(void **state)
{
	struct krt_pids p;
	char err[256];

	assert_int_equal(
	    parse_text(&p, "1 a 10.0.0.1 h\n2 b 10.0.0.2 h\nx c 10.0.0.3 h\n", err, sizeof(err)),
	    -1);
	assert_string_equal(err, "pids.txt:3: bad PID 'x'");
	krt_pids_free(&p);

	assert_int_equal(parse_text(&p, "-5 a 10.0.0.1\n", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "pids.txt:1: bad PID"));
	krt_pids_free(&p);
	assert_int_equal(parse_text(&p, "0 a 10.0.0.1\n", err, sizeof(err)), -1);
	krt_pids_free(&p);
	assert_int_equal(parse_text(&p, "99999999999999 a 10.0.0.1\n", err, sizeof(err)), -1);
	krt_pids_free(&p);
	assert_int_equal(parse_text(&p, "12abc a 10.0.0.1\n", err, sizeof(err)), -1);
	krt_pids_free(&p);
}

static void test_bad_ip_and_fields(void **state)
{
	struct krt_pids p;
	char err[256];

	assert_int_equal(parse_text(&p, "1 a 300.1.1.1 h\n", err, sizeof(err)), -1);
	assert_string_equal(err, "pids.txt:1: bad container IP '300.1.1.1'");
	krt_pids_free(&p);
	assert_int_equal(parse_text(&p, "\n1 a\n", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "pids.txt:2: expected"));
	krt_pids_free(&p);
	assert_int_equal(parse_text(&p, "1 a 10.0.0.1 h extra\n", err, sizeof(err)), -1);
	assert_string_equal(err, "pids.txt:1: too many fields 'extra'");
	krt_pids_free(&p);
}

static void test_empty_is_error(void **state)
{
	struct krt_pids p;
	char err[256];

	assert_int_equal(parse_text(&p, "# only a comment\n\n", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "pids.txt: no PIDs"));
	krt_pids_free(&p);
}

static void test_long_line(void **state)
{
	struct krt_pids p;
	char err[256];
	size_t n = 10000;
	char *text = malloc(n + 2);

	memset(text, 'a', n);
	text[0] = '1';
	text[1] = ' ';
	text[n] = '\n';
	text[n + 1] = '\0';
	assert_int_equal(parse_text(&p, text, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "line longer than"));
	krt_pids_free(&p);
	free(text);
}

static void test_missing_file(void **state)
{
	struct krt_pids p = {0};
	char err[256];

	assert_int_equal(krt_pids_load(&p, "/nonexistent/pids.txt", err, sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/pids.txt: No such file or directory");
}

/* A bad line after good ones: an error, and nothing left allocated (ASan checks the leak). */
static void test_bad_line_frees(void **state)
{
	char path[] = "/tmp/krt-pids-XXXXXX";
	struct krt_pids p = {0};
	char err[256];
	int fd = mkstemp(path);
	FILE *f;
	int i;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	for (i = 1; i <= 40; i++)	/* past the first allocation (16) */
		fprintf(f, "%d c%d 10.0.0.%d\n", i, i, i);
	fputs("x bad 10.0.0.99\n", f);
	fclose(f);
	assert_int_equal(krt_pids_load(&p, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":41: bad PID 'x'"));
	assert_null(p.v);
	assert_int_equal(p.n, 0);
	unlink(path);
}

static void test_write_roundtrip(void **state)
{
	struct krt_pids p, q;
	char err[256], buf[512];
	FILE *f;

	assert_int_equal(parse_text(&p, "1 a 10.0.0.1 h1\n2 b 10.0.0.2\n", err, sizeof(err)), 0);
	f = fmemopen(buf, sizeof(buf), "w");
	krt_pids_write(&p, f);
	fclose(f);
	assert_string_equal(buf, "1 a 10.0.0.1 h1\n2 b 10.0.0.2\n");
	assert_int_equal(parse_text(&q, buf, err, sizeof(err)), 0);
	assert_int_equal(q.n, 2);
	assert_string_equal(q.v[0].hash, "h1");
	krt_pids_free(&p);
	krt_pids_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_file),	   cmocka_unit_test(test_hash_optional),
	    cmocka_unit_test(test_bad_pid),	   cmocka_unit_test(test_bad_ip_and_fields),
	    cmocka_unit_test(test_empty_is_error), cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_missing_file),   cmocka_unit_test(test_write_roundtrip),
	    cmocka_unit_test(test_bad_line_frees),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
