/*
 * The rules the kernel programs and the engine both run
 * (include/krtrace_rules.h), on their own: the server side's request queue.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <linux/types.h>
#include "krtrace_rules.h"

#define A 11
#define B 12
#define C 13
#define D 14

/* Pipelined requests of one thread (an event loop): replies in request order. */
static void test_pipelined_one_thread(void **state)
{
	struct krt_side_reqs q;

	memset(&q, 0, sizeof(q));
	krt_side_req_received_from(&q, A, 7);
	krt_side_req_received_from(&q, B, 7);
	assert_int_equal(krt_side_req_reply(&q), A);
	assert_int_equal(krt_side_req_reply(&q), B);
	assert_int_equal(krt_side_req_reply(&q), B); /* a reply in several sends */
	krt_side_req_received_from(&q, C, 7);	     /* keep-alive: the next one */
	assert_int_equal(q.n, 1);
	assert_int_equal(krt_side_req_reply(&q), C);
}

/*
 * A one-way message (memcached noreply) from one user of a pooled
 * connection, then another user's request: the reply answers the latter.
 */
static void test_oneway_then_other_user(void **state)
{
	struct krt_side_reqs q;

	memset(&q, 0, sizeof(q));
	krt_side_req_received_from(&q, A, 7); /* set ... noreply */
	krt_side_req_received_from(&q, B, 8); /* get, by the next user */
	assert_int_equal(q.n, 1);
	assert_int_equal(krt_side_req_reply(&q), B);
	/* a user whose last request was answered after a one-way one */
	krt_side_req_received_from(&q, A, 7);
	krt_side_req_received_from(&q, C, 7);
	assert_int_equal(krt_side_req_reply(&q), A); /* one thread: pipelining, as before */
	krt_side_req_received_from(&q, B, 8);
	assert_int_equal(q.n, 1);
	assert_int_equal(krt_side_req_reply(&q), B);
}

/* Senders not known (0: import's probes in another context): the queue as it was. */
static void test_sender_unknown(void **state)
{
	struct krt_side_reqs q;

	memset(&q, 0, sizeof(q));
	krt_side_req_received_from(&q, A, 7);
	krt_side_req_received(&q, B);
	assert_int_equal(q.n, 2);
	assert_int_equal(q.from, 7); /* the last known sender stays */
	assert_int_equal(krt_side_req_reply(&q), A);
	krt_side_req_received_from(&q, D, 0);
	krt_side_req_received(&q, C); /* sent before the reply went out: pipelined */
	assert_int_equal(q.n, 2);
	assert_int_equal(krt_side_req_reply(&q), D);
}

/*
 * A server that read requests A and B before it replied and then reads C
 * answered both (redis: the replies of commands read together go out in
 * one send), unless B's bytes went on after the reply (B was not whole).
 */
static void test_batched_reply(void **state)
{
	struct krt_side_reqs q;

	memset(&q, 0, sizeof(q));
	krt_side_req_received(&q, A);
	krt_side_req_received(&q, B);
	assert_int_equal(krt_side_req_reply(&q), A); /* A's and B's replies */
	krt_side_req_received(&q, C);
	assert_int_equal(q.n, 1);
	assert_int_equal(krt_side_req_reply(&q), C);

	memset(&q, 0, sizeof(q));
	krt_side_req_received(&q, A);
	krt_side_req_received(&q, B);
	assert_int_equal(krt_side_req_reply(&q), A);
	krt_side_req_received_seg(&q, B, 0, 1); /* the rest of B's send */
	krt_side_req_received(&q, C);
	assert_int_equal(q.n, 3);
	assert_int_equal(krt_side_req_reply(&q), B);
	assert_int_equal(krt_side_req_reply(&q), C);
}

/* Bytes of no request (trace 0) and repeats of the newest change nothing. */
/*
 * Eight pipelined requests read at once (an event loop's upstream pool at
 * 16 clients on 2 connections: model 3): every one keeps its place, so
 * the eighth reply answers the eighth request.
 */
static void test_eight_pipelined(void **state)
{
	struct krt_side_reqs q;
	__u64 t;

	(void)state;
	memset(&q, 0, sizeof(q));
	for (t = 1; t <= 8; t++)
		krt_side_req_received_from(&q, 100 + t, 7);
	for (t = 1; t <= 8; t++)
		assert_int_equal(krt_side_req_reply(&q), 100 + t);
}

/*
 * krt_side_req_queued: a request queued already (one read carried it with
 * others, and its send came late in the receive's record) is found
 * anywhere in the queue; one answered and shifted out is not.
 */
static void test_queued(void **state)
{
	struct krt_side_reqs q;

	(void)state;
	memset(&q, 0, sizeof(q));
	krt_side_req_received_from(&q, A, 7);
	krt_side_req_received_from(&q, B, 7);
	krt_side_req_received_from(&q, C, 7);
	assert_true(krt_side_req_queued(&q, A));
	assert_true(krt_side_req_queued(&q, C));
	assert_false(krt_side_req_queued(&q, 99));
	assert_int_equal(krt_side_req_reply(&q), A);
	assert_int_equal(krt_side_req_reply(&q), B);
	assert_false(krt_side_req_queued(&q, A));
	assert_true(krt_side_req_queued(&q, B));
}

static void test_no_request_bytes(void **state)
{
	struct krt_side_reqs q;

	memset(&q, 0, sizeof(q));
	krt_side_req_received_from(&q, 0, 7);
	assert_int_equal(q.n, 0);
	assert_int_equal(krt_side_req_reply(&q), 0);
	krt_side_req_received_from(&q, A, 7);
	krt_side_req_received_from(&q, A, 8); /* the same request, more bytes */
	assert_int_equal(q.n, 1);
	assert_int_equal(q.from, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_one_thread),
		cmocka_unit_test(test_oneway_then_other_user),
		cmocka_unit_test(test_sender_unknown),
		cmocka_unit_test(test_batched_reply),
		cmocka_unit_test(test_no_request_bytes),
		cmocka_unit_test(test_eight_pipelined),
		cmocka_unit_test(test_queued),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
