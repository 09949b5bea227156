/*
 * Unit tests for what a pause forgets of the kernel's state tables
 * (src/live_forget.c): each table as the kernel lays it out, in memory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "live_forget.h"

/* A thread state with every field set (none 0). */
static void thread_busy(struct krt_thread_slot *s, __u64 tid)
{
	memset(&s->st, 0x5a, sizeof(s->st));
	s->tid = tid;
	s->st.trace = 7;
	s->st.pooled = KRT_POOLED_WORKER | KRT_POOLED_ANSWERS;
	s->st.go_thread = 1;
	s->st.evloop = KRT_EVLOOP;
	s->st.pool_hidden = KRT_POOL_HIDDEN_FEEDER | KRT_POOL_HIDDEN_HANDBACK;
	s->st.uncounted = KRT_UNCOUNTED_IDLE | KRT_UNCOUNTED_HIDDEN;
	memset(&s->go, 0x5a, sizeof(s->go));
}

/*
 * A thread keeps what it is (pool worker, Go thread, loop, door reader,
 * feeder; its jobs' serial, its age); its requests, its time gathered for
 * them and its last run's bases go. A slot being filled is left alone.
 */
static void test_threads_keep_what_they_are(void **state)
{
	struct krt_thread_slot slots[3], before;
	struct krt_thread_state *t = &slots[0].st;

	(void)state;
	thread_busy(&slots[0], 41);
	thread_busy(&slots[1], 42 | KRT_SLOT_FILL_BIT);
	memset(&slots[2], 0, sizeof(slots[2]));
	before = slots[0];
	krt_forget_threads(slots, 3);
	assert_int_equal(slots[0].tid, 41);
	assert_int_equal(t->pooled, before.st.pooled);
	assert_int_equal(t->go_thread, 1);
	assert_int_equal(t->evloop, KRT_EVLOOP);
	assert_int_equal(t->pool_hidden, before.st.pool_hidden);
	assert_int_equal(t->door_reader, before.st.door_reader);
	assert_int_equal(t->loop_trial, before.st.loop_trial);
	assert_int_equal(t->reply_calls, before.st.reply_calls);
	assert_int_equal(t->job_serial, before.st.job_serial);
	assert_int_equal(t->touched, before.st.touched);
	assert_int_equal(t->uncounted, KRT_UNCOUNTED_IDLE);
	/* the requests' and the last run's */
	assert_int_equal(t->trace, 0);
	assert_int_equal(t->claim, KRT_CLAIM_OPEN);
	assert_int_equal(t->shown_oncpu, 0);
	assert_int_equal(t->tag_pending, 0);
	assert_int_equal(t->entry_cookie, 0);
	assert_int_equal(t->entry_server, 0);
	assert_int_equal(t->maybe_unsampled, 0);
	assert_int_equal(t->calls_since_recv, 0);
	assert_int_equal(t->oncpu_since, 0);
	assert_int_equal(t->acc_oncpu, 0);
	assert_int_equal(t->acc_runq, 0);
	assert_int_equal(t->acc_idle, 0);
	assert_int_equal(t->runq_known, 0);
	assert_int_equal(t->runq_base, 0);
	assert_int_equal(t->exec_state, KRT_EXEC_UNKNOWN);
	assert_int_equal(t->exec_base, 0);
	assert_int_equal(t->woken_at, 0);
	assert_int_equal(t->go_stash.oncpu_ns, 0);
	/* a Go thread's goroutine and where it reads it: learnt again */
	assert_int_equal(slots[0].go.g, 0);
	assert_int_equal(slots[0].go.goid, 0);
	assert_int_equal(slots[0].go.tls_slot, 0);
	assert_int_equal(slots[0].go.slots_tgid, 0);
	assert_int_equal(slots[0].go.origin, 0);
	assert_int_equal(slots[0].go.skips_known, 0);
	/* being filled: its filler's */
	assert_int_equal(slots[1].st.trace, 7);
	assert_int_equal(slots[1].go.g, 0x5a5a5a5a5a5a5a5aULL);
	assert_int_equal(slots[2].tid, KRT_SLOT_FREE);
}

/*
 * A connection side keeps which end connected and its peer; its requests'
 * queue and traces go. Keyed by socket addresses (all), the slot is freed.
 */
static void test_conns_keep_their_ends(void **state)
{
	struct krt_conn_slot slots[2];
	struct krt_conn_side *c = &slots[0].c;

	(void)state;
	for (int i = 0; i < 2; i++) {
		memset(&slots[i], 0x33, sizeof(slots[i]));
		slots[i].cookie = 1000 + i;
		slots[i].c.client = 1;
		slots[i].c.origin_known = 1;
		slots[i].c.peer = KRT_PEER_TRACED;
		slots[i].c.sent_any = 1;
	}
	krt_forget_conns(slots, 1, false);
	assert_int_equal(slots[0].cookie, 1000);
	assert_int_equal(c->client, 1);
	assert_int_equal(c->origin_known, 1);
	assert_int_equal(c->peer, KRT_PEER_TRACED);
	assert_int_equal(c->sent_any, 1);
	assert_int_equal(c->reqs.n, 0);
	assert_int_equal(c->reqs.req[0], 0);
	assert_int_equal(c->last_recv_trace, 0);
	assert_int_equal(c->connect_trace, 0);
	assert_int_equal(c->in_request, 0);
	krt_forget_conns(&slots[1], 1, true);
	assert_int_equal(slots[1].cookie, KRT_SLOT_FREE);
}

/* Directions are all request state: every held slot is freed, one being filled stays. */
static void test_dirs_freed(void **state)
{
	struct krt_dir_slot slots[3];

	(void)state;
	memset(slots, 0x11, sizeof(slots));
	slots[0].claim = KRT_SLOT_USED;
	slots[1].claim = KRT_SLOT_FILLING;
	slots[2].claim = KRT_SLOT_USED;
	krt_forget_dirs(slots, 3);
	assert_int_equal(slots[0].claim, KRT_SLOT_FREE);
	assert_int_equal(slots[1].claim, KRT_SLOT_FILLING);
	assert_int_equal(slots[2].claim, KRT_SLOT_FREE);
}

/* A map that is no BPF map's fd: an error, not a crash. */
static void test_forget_map_bad_fd(void **state)
{
	(void)state;
	assert_true(krt_forget_map(-1) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads_keep_what_they_are),
		cmocka_unit_test(test_conns_keep_their_ends),
		cmocka_unit_test(test_dirs_freed),
		cmocka_unit_test(test_forget_map_bad_fd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
