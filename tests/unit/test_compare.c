/* krtrace compare: matching, hop agreement, CPU difference, --min and bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "compare.h"

static char dir[] = "/tmp/krt-compare-XXXXXX";
static char out[1 << 16];

/*
 * One trace line in the --json schema: a request from the gateway to web
 * (tid 812) passed to app (tid 900); hop bytes and CPU are parameters.
 */
static void put_trace(FILE *f, int id, int client_port, unsigned long long ts, int bytes,
		      unsigned long long cpu)
{
	fprintf(f,
		"{\"trace_id\":%d,\"ingress\":{\"client\":\"172.24.0.1:%d\",\"server\":"
		"\"172.24.0.2:80\",\"tid\":812,\"ts_ns\":%llu},\"start_ns\":%llu,\"end_ns\":%llu,"
		"\"threads\":[{\"tid\":812,\"pid\":812,\"comm\":\"nginx\",\"container\":\"web\","
		"\"cpu_ns\":%llu,\"first_ns\":%llu,\"last_ns\":%llu},{\"tid\":900,\"pid\":900,"
		"\"comm\":\"app\",\"container\":\"app\",\"cpu_ns\":%llu,\"first_ns\":%llu,"
		"\"last_ns\":%llu}],\"hops\":[{\"from\":0,\"from_addr\":\"172.24.0.1:%d\","
		"\"to\":812,\"to_addr\":\"172.24.0.2:80\",\"bytes\":100,\"send_ns\":0,"
		"\"recv_ns\":%llu},{\"from\":812,\"from_addr\":\"172.24.0.2:40000\",\"to\":900,"
		"\"to_addr\":\"172.24.0.3:8000\",\"bytes\":%d,\"send_ns\":%llu,\"recv_ns\":%llu},"
		"{\"from\":900,\"from_addr\":\"172.24.0.3:8000\",\"to\":812,\"to_addr\":"
		"\"172.24.0.2:40000\",\"bytes\":50,\"send_ns\":%llu,\"recv_ns\":%llu}]}\n",
		id, client_port, ts, ts, ts + 1000000, cpu / 2, ts, ts + 900000, cpu - cpu / 2,
		ts + 10000, ts + 800000, client_port, ts, bytes, ts + 5000, ts + 10000,
		ts + 700000, ts + 710000);
}

static const char *path_of(const char *name)
{
	static char paths[32][256];
	static int next;
	char *p = paths[next++ % 32];

	snprintf(p, 256, "%s/%s", dir, name);
	return p;
}

/* Runs compare with args, capturing stdout into out; returns the exit status. */
static int run(int argc, const char **argv)
{
	int saved = dup(1), fd, status;
	ssize_t n;

	fflush(stdout);
	fd = open(path_of("stdout"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0 && saved >= 0);
	dup2(fd, 1);
	status = krt_compare_main(argc, (char **)argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, out, sizeof(out) - 1);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	return status;
}

static const unsigned long long T = 256000000000ULL;

static void write_base(const char *name)
{
	FILE *f = fopen(path_of(name), "w");

	assert_non_null(f);
	put_trace(f, 1, 51000, T, 79, 1000000);
	/* Two requests on one keep-alive connection, 2 ms apart. */
	put_trace(f, 2, 51001, T + 10000000, 79, 1000000);
	put_trace(f, 3, 51001, T + 12000000, 79, 1000000);
	fprintf(f, "{\"summary\":{\"events\":10,\"traces\":3}}\n");
	fclose(f);
}

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	write_base("a.jsonl");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? -1 : 0;
}

static void test_identical(void **state)
{
	const char *argv[] = { "compare", path_of("a.jsonl"), path_of("a.jsonl"), "--min", "100" };

	assert_int_equal(run(5, argv), 0);
	/* The summary line of each file is shown: losses explain missing traces. */
	assert_non_null(strstr(out, "a.jsonl  3 traces  (lost events 0, unattributed CPU 0.000 ms)\n"));
	assert_non_null(strstr(out, "traces matched       3 (100.0 %)  only in A 0  only in B 0"));
	assert_non_null(strstr(out, "hops agreeing        9 (100.0 %)"));
	assert_non_null(strstr(out, "edges agreeing       9 (100.0 %)"));
	assert_non_null(strstr(out, "identical flows      3 of 3"));
	assert_non_null(strstr(out, "CPU time difference  0.0 %"));
}

static json_object *field(json_object *o, const char *k)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, k, &v))
		fail_msg("missing %s", k);
	return v;
}

static void test_mismatch(void **state)
{
	FILE *f = fopen(path_of("b.jsonl"), "w");
	const char *argv[] = { "compare", path_of("a.jsonl"), path_of("b.jsonl"), "--json",
			       "--min", "90" };
	json_object *o;

	/* B: trace 1 seen 1 ms later with other hop bytes and 10 % more CPU; the
	 * keep-alive pair offset by 0.3 ms (must pair 2<->2 and 3<->3, not cross);
	 * an extra trace only B has. */
	put_trace(f, 11, 51000, T + 1000000, 80, 1100000);
	put_trace(f, 13, 51001, T + 12300000, 79, 1000000);
	put_trace(f, 12, 51001, T + 10300000, 79, 1000000);
	put_trace(f, 14, 52000, T + 20000000, 79, 1000000);
	fclose(f);
	/* 3 of max(3, 4) traces matched: 75 % is below --min 90, exit status 1. */
	assert_int_equal(run(6, argv), 1);
	o = json_tokener_parse(out);
	assert_non_null(o);
	assert_int_equal(json_object_get_int(field(o, "matched")), 3);
	assert_int_equal(json_object_get_int(field(field(o, "a"), "unmatched")), 0);
	assert_int_equal(json_object_get_int(field(field(o, "b"), "unmatched")), 1);
	assert_int_equal(json_object_get_int(field(o, "hops_a")), 9);
	assert_int_equal(json_object_get_int(field(o, "hops_agree")), 8);
	assert_int_equal(json_object_get_int(field(o, "edges_a")), 9);
	assert_int_equal(json_object_get_int(field(o, "edges_agree")), 8);
	assert_int_equal(json_object_get_int(field(o, "identical_flows")), 2);
	/* |1.0 - 1.1| ms over 3 ms of A. */
	assert_true(fabs(json_object_get_double(field(o, "cpu_diff_pct")) - 100.0 / 30) < 0.01);
	assert_true(fabs(json_object_get_double(field(o, "matched_pct")) - 75.0) < 0.01);
	assert_false(json_object_get_boolean(field(o, "pass")));
	/* Offsets: 1 ms, 0.3 ms, 0.3 ms: the keep-alive pair did not cross. */
	assert_true(fabs(json_object_get_double(field(o, "ingress_offset_median_ms")) - 0.3) < 1e-6);
	json_object_put(o);
}

static void test_tolerance(void **state)
{
	const char *argv[] = { "compare", path_of("a.jsonl"), path_of("b.jsonl"),
			       "--tolerance", "0.5" };

	/* With 0.5 ms, trace 1 (1 ms off) no longer matches. */
	assert_int_equal(run(5, argv), 0);
	assert_non_null(strstr(out, "traces matched       2 "));
	assert_non_null(strstr(out, "only in A: trace 1\n"));
}

/* -v names the hops that differ (B's trace 11 sent 80 B where A's trace 1 sent 79 B). */
static void test_verbose(void **state)
{
	const char *argv[] = { "compare", "-v", path_of("a.jsonl"), path_of("b.jsonl") };

	assert_int_equal(run(4, argv), 0);
	assert_non_null(strstr(out, "trace 1 in A / 11 in B: 3 vs 3 hops\n"
				    "    only in A: [812] -> [900]  79 B\n"
				    "    only in B: [812] -> [900]  80 B\n"));
	/* Traces whose flows agree are not listed. */
	assert_null(strstr(out, "trace 2 in A"));
}

/* The same bytes cut into different hops: hops disagree, the edge agrees. */
static void test_edges_split(void **state)
{
	static const char head[] = "{\"trace_id\":1,\"ingress\":{\"client\":\"172.24.0.1:1\","
				   "\"server\":\"172.24.0.2:80\",\"tid\":812,\"ts_ns\":1000},"
				   "\"threads\":[],\"hops\":[";
	static const char hop[] = "{\"from\":812,\"from_addr\":\"172.24.0.2:4\",\"to\":900,"
				  "\"to_addr\":\"172.24.0.3:8\",\"bytes\":%d}";
	FILE *f = fopen(path_of("one.jsonl"), "w");
	const char *argv[] = { "compare", "--json", path_of("one.jsonl"), path_of("split.jsonl") };
	json_object *o;

	fprintf(f, "%s", head);
	fprintf(f, hop, 79);
	fprintf(f, "]}\n");
	fclose(f);
	f = fopen(path_of("split.jsonl"), "w");
	fprintf(f, "%s", head);
	fprintf(f, hop, 40);
	fputc(',', f);
	fprintf(f, hop, 39);
	fprintf(f, "]}\n");
	fclose(f);
	assert_int_equal(run(4, argv), 0);
	o = json_tokener_parse(out);
	assert_non_null(o);
	assert_int_equal(json_object_get_int(field(o, "matched")), 1);
	assert_int_equal(json_object_get_int(field(o, "hops_agree")), 0);
	assert_int_equal(json_object_get_int(field(o, "edges_a")), 1);
	assert_int_equal(json_object_get_int(field(o, "edges_agree")), 1);
	json_object_put(o);
}

static void test_bad_input(void **state)
{
	FILE *f = fopen(path_of("bad.jsonl"), "w");
	const char *missing[] = { "compare", path_of("a.jsonl"), path_of("nope.jsonl") };
	const char *one[] = { "compare", path_of("a.jsonl") };
	const char *badmin[] = { "compare", path_of("a.jsonl"), path_of("a.jsonl"), "--min",
				 "lots" };
	const char *empty[] = { "compare", path_of("a.jsonl"), path_of("empty.jsonl") };
	const char *garbage[] = { "compare", path_of("a.jsonl"), path_of("bad.jsonl") };

	assert_non_null(f);
	put_trace(f, 1, 51000, T, 79, 1000000);
	fputs("{\"trace_id\":2,\"ingress\":{\"cli\n\x01\x02\xff garbage\n", f);
	put_trace(f, 2, 51001, T + 10000000, 79, 1000000);
	put_trace(f, 3, 51001, T + 12000000, 79, 1000000);
	fclose(f);
	f = fopen(path_of("empty.jsonl"), "w");
	fclose(f);
	assert_int_equal(run(3, missing), 2);
	assert_int_equal(run(2, one), 2);
	assert_int_equal(run(5, badmin), 2);
	assert_int_equal(run(3, empty), 2);
	/* A few garbage lines are skipped and counted; the good lines still match. */
	assert_int_equal(run(3, garbage), 0);
	assert_non_null(strstr(out, "traces matched       3 "));
	assert_non_null(strstr(out, "skipped lines        0 in A, 2 in B"));
}

/*
 * Not krtrace output (another tool's JSON lines, or lines without the
 * fields of a trace): refused, exit 2, whatever --min says; two results
 * without a trace agree on nothing.
 */
static void test_not_krtrace_refused(void **state)
{
	const char *other[] = { "compare", path_of("otlp.jsonl"), path_of("otlp.jsonl"),
				"--min", "90" };
	const char *fake[] = { "compare", path_of("fake.jsonl"), path_of("fake.jsonl") };
	const char *none[] = { "compare", path_of("none.jsonl"), path_of("none.jsonl"),
			       "--min", "90" };
	FILE *f = fopen(path_of("otlp.jsonl"), "w");
	int i;

	assert_non_null(f);
	for (i = 0; i < 5; i++)
		fputs("{\"resourceSpans\":[{\"resource\":{},\"scopeSpans\":[]}]}\n", f);
	fclose(f);
	f = fopen(path_of("fake.jsonl"), "w");
	assert_non_null(f);
	/* trace_id and ingress, but not krtrace's: no client/server, no hops */
	for (i = 0; i < 5; i++)
		fprintf(f, "{\"trace_id\":%d,\"ingress\":{}}\n", i + 1);
	fclose(f);
	f = fopen(path_of("none.jsonl"), "w");
	assert_non_null(f);
	fputs("{\"summary\":{\"events\":10,\"traces\":0}}\n", f);
	fclose(f);
	assert_int_equal(run(5, other), 2);
	assert_int_equal(run(3, fake), 2);
	assert_int_equal(run(5, none), 1);
	assert_non_null(strstr(out, "traces matched       0 (0.0 %)"));
}

/* A cut last line (no newline) is reported and skipped, not parsed. */
static void test_cut_last_line(void **state)
{
	const char *args[] = { "compare", path_of("a.jsonl"), path_of("cut.jsonl") };
	FILE *f = fopen(path_of("cut.jsonl"), "w");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *mem;

	assert_non_null(f);
	put_trace(f, 1, 51000, T, 79, 1000000);
	put_trace(f, 2, 51001, T + 10000000, 79, 1000000);
	/* trace 3 cut after its closing brace, before the newline: complete JSON */
	mem = open_memstream(&line, &cap);
	put_trace(mem, 3, 51001, T + 12000000, 79, 1000000);
	fclose(mem);
	len = (ssize_t)strlen(line);
	assert_int_equal(line[len - 1], '\n');
	fwrite(line, 1, len - 1, f);
	free(line);
	fclose(f);
	assert_int_equal(run(3, args), 0);
	assert_non_null(strstr(out, "traces matched       2 "));
	assert_non_null(strstr(out, "only in A: trace 3"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identical),
		cmocka_unit_test(test_mismatch),
		cmocka_unit_test(test_tolerance),
		cmocka_unit_test(test_verbose),
		cmocka_unit_test(test_edges_split),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_not_krtrace_refused),
		cmocka_unit_test(test_cut_last_line),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
