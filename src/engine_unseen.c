/*
 * Event loops after a sampling pause: the requests a loop read while the
 * hooks were off (unseen), their work kept off the requests it read since,
 * the loop rule's doubt and re-sync (docs/handoffs.md, "Windowed sampling
 * and event loops"). Called from engine_conn.c's send and receive paths and
 * krt_engine_settled; keeps the loop rule's lists (engine_loop.c) right, so
 * it sits above it.
 */
#include "engine_internal.h"

/* After a pause: loop t received bytes of a reply to its call under trace. */
void eng_loop_reply_got(struct krt_engine *e, struct thread *t, __u64 trace)
{
	struct trace *tr = t->loop_after_pause ? eng_trace_find(e, trace) : NULL;

	if (tr && tr->loop_calls)
		tr->loop_calls--;
}

/* After a pause: loop t sent a call under trace (see struct trace's loop_calls). */
void eng_loop_called(struct krt_engine *e, struct thread *t, __u64 trace)
{
	struct trace *tr = t->loop_after_pause ? eng_trace_find(e, trace) : NULL;

	if (tr && tr->loop_calls < 0xffff)
		tr->loop_calls++;
}

/*
 * Unseen requests. A sampling pause detaches the hooks while an event loop
 * serves requests; after the resume it still serves those it read before
 * (at 16 connections, Node.js always holds some), and neither the kernel
 * nor the engine saw them read. Their calls and replies then follow the
 * last receive like any callback: a reply to a call no seen send made
 * left the loop's trace as it was (the request read last), so the unseen
 * request's next call went out under that request, its reply came back
 * under it, and the loop rule gave it the unseen request's reply to the
 * gateway, sure of it; worse, each such send counted as that request's
 * first (fresh), so every later "oldest request not started" pick was one
 * request behind, for as long as the loop's queue never emptied (node at
 * 16 connections: whole windows wrong).
 *
 * So after a pause, a loop's receive of bytes no seen send covers, on a
 * connection it called out on, gets a hidden trace of its own
 * (loop_unseen): the loop rule names it as the callback of that receive,
 * its next call carries it, and so does the reply that comes back, up to
 * the loop's reply to the gateway on a connection it read no request on
 * since the pause (eng_loop_unseen_reply), which answers it. Each of these
 * is evidence that the loop is not in step: its picks are marked
 * uncertain (a queued unseen request's first call is not told from a
 * request's read since) until its replies to the gateway are seen in step
 * with its receives again (eng_loop_replied).
 */
#define LOOP_IN_STEP_REPLIES 8

/*
 * After a pause, and a loop of its own: a loop its pool's workers hand
 * jobs back to has its own check (engine_conn.c reply_unseen, engine_pool.c
 * handback_unsettled), and its replies follow its workers' notifications,
 * not its receives.
 */
static bool loop_unseen_checked(struct krt_engine *e, const struct thread *t)
{
	const struct thread *leader = t->pid == t->tid ? t : eng_thread_find(e, t->pid);

	return t->loop_after_pause && !t->handback_known && eng_loop_alone(e, t) &&
	       !leader->proc_io_multi_ever;
}

static void loop_doubt(struct krt_engine *e, struct thread *t, __u64 ts, const char *what)
{
	if (!t->loop_doubt)
		eng_vlog(e, ts, t, t->tid, 0, "event loop out of step after the pause: %s", what);
	t->loop_doubt = true;
	t->loop_in_step = 0;
}

static struct trace *loop_unseen_new(struct krt_engine *e, struct thread *t, __u64 ts)
{
	struct trace *tr = eng_trace_new(e, ts);

	tr->hidden = true;
	tr->loop_unseen = true;
	tr->pub.ingress.tid = t->tid; /* the loop's own, for the loop rule */
	return tr;
}

/* t's receive (a reply to its call) held bytes no seen send covers. */
void eng_loop_unseen_recv(struct krt_engine *e, struct thread *t, __u64 ts)
{
	struct trace *tr;

	if (!loop_unseen_checked(e, t))
		return;
	loop_doubt(e, t, ts, "a reply to a call not seen");
	tr = loop_unseen_new(e, t, ts);
	eng_owed_add(e, t, tr->pub.id);
	eng_loop_tick_add(t, tr->pub.id);
	t->tick_unknown = false; /* its unknown bytes are the hidden trace's */
	eng_vlog(e, ts, t, t->tid, tr->pub.id,
		 "a reply to a call of a request read before the pause: hidden trace %llu",
		 (unsigned long long)tr->pub.id);
}

/*
 * t replies to the gateway on a connection it read no request on since the
 * pause: a request read before it. Its trace: the unseen one of the last
 * receive (its callback), else a new hidden one; never a request read
 * since, whose work so far was then the unseen request's (marked).
 * 0 when t is not such a loop.
 */
__u64 eng_loop_unseen_reply(struct krt_engine *e, struct thread *t, __u64 ts)
{
	struct trace *tr;
	__u64 pick;

	if (!loop_unseen_checked(e, t))
		return 0;
	loop_doubt(e, t, ts, "a reply to a request not seen");
	pick = eng_loop_first(e, t, t->tick, &t->n_tick);
	tr = pick ? eng_trace_find(e, pick) : NULL;
	if (tr && tr->loop_unseen)
		return pick;
	if (tr) {
		tr->pub.uncertain |= KRT_UNCERTAIN_LOOP;
		eng_loop_list_remove(t->tick, &t->n_tick, pick);
	}
	return loop_unseen_new(e, t, ts)->pub.id;
}

/*
 * A re-sync. The loop answers request y, its last receive's bytes were
 * of x, read after y: the calls in flight under x are y's. The loop rule
 * named each request's first call one or more requests late (a call of a
 * request read before the pause took a request's turn, or a reply to the
 * gateway of one took a request's trace): as many as it read from y to x,
 * the last ones it counted as started are not. They go back to the head
 * of fresh, in order, so that the next requests' first calls are theirs
 * again; the requests it named since the pause are not sure to be whole,
 * and the calls in flight under them tell nothing of the loop's step.
 */
static void loop_resync(struct krt_engine *e, struct thread *t, __u64 y, __u64 x)
{
	__u64 back[LOOP_LIST_MAX];
	unsigned int k = 0, n = 0, i;

	for (i = 0; i < e->n_open; i++) {
		const struct trace *o = e->open[i];

		if (o->pub.id > y && o->pub.id <= x && o->pub.ingress.tid == t->tid &&
		    !o->loop_unseen)
			k++;
	}
	for (i = t->n_started; i-- > 0;) {
		struct trace *tr = eng_trace_find(e, t->started[i]);

		if (!tr)
			continue;
		tr->loop_stale = true;
		tr->pub.uncertain |= KRT_UNCERTAIN_LOOP;
		if (n < k && !tr->answered) {
			tr->loop_refresh = true;
			back[n++] = tr->pub.id;
		}
	}
	t->n_started = 0;
	/* oldest first, before every request not started (they were read after) */
	while (n--) {
		eng_loop_list_remove(t->fresh, &t->n_fresh, back[n]);
		if (t->n_fresh == LOOP_LIST_MAX) {
			t->fresh_lost = true;
			break;
		}
		memmove(t->fresh + 1, t->fresh, t->n_fresh * sizeof(t->fresh[0]));
		t->fresh[0] = back[n];
		t->n_fresh++;
	}
	eng_vlog(e, e->now, t, t->tid, y,
		 "event loop re-sync: the reply of %llu follows bytes of %llu, %u request(s) "
		 "later; the last ones counted as started are not",
		 (unsigned long long)y, (unsigned long long)x, k);
}

/*
 * t answers request tag to the gateway. After a pause, a reply in step
 * with the loop's last receive (the callback of bytes of its own trace)
 * counts towards the loop being in step again; one that is not (its last
 * receive named other requests only) is out of step, re-synced when its
 * bytes were of a request read after it.
 */
void eng_loop_replied(struct krt_engine *e, struct thread *t, __u64 tag)
{
	struct trace *y = eng_trace_find(e, tag), *x;
	unsigned int i;
	__u64 first;

	if (!loop_unseen_checked(e, t) || !y || y->loop_unseen ||
	    !(first = eng_loop_first(e, t, t->tick, &t->n_tick)))
		return;
	/*
	 * Its last call's reply has not come under its trace: it came with
	 * the bytes of another call the server answered in the same send
	 * (redis, pipelined), named after that one. Says nothing of the step.
	 */
	if (y->loop_calls)
		return;
	for (i = 0; i < t->n_tick && t->tick[i] != tag; i++)
		;
	if (i == t->n_tick) {
		/* the reply is the callback of x's bytes: x's calls were tag's */
		eng_loop_list_remove(t->tick, &t->n_tick, first);
		x = eng_trace_find(e, first);
		if (!x || x->loop_stale)
			return; /* a call named before a re-sync: says nothing */
		eng_vlog(
		    e, e->now, t, t->tid, tag,
		    "event loop: reply of %llu (calls %u), its last receive of %llu: out of step",
		    (unsigned long long)tag, y->loop_calls, (unsigned long long)first);
		loop_doubt(e, t, e->now, "a reply out of step with its last receive");
		if (!x->loop_unseen && first > tag)
			loop_resync(e, t, tag, first);
		return;
	}
	if (++t->loop_in_step < LOOP_IN_STEP_REPLIES)
		return;
	if (t->loop_doubt)
		eng_vlog(e, e->now, t, t->tid, tag, "event loop in step again after the pause");
	/* still checked: a reply out of step later puts it in doubt again */
	t->loop_doubt = false;
}

/* krt_engine_settled: no event loop out of step since a pause. */
bool eng_loop_in_step(struct krt_engine *e)
{
	struct thread *t;
	size_t i;

	table_for_each(&e->threads, i, t)
	{
		if (t->loop_doubt && loop_unseen_checked(e, t))
			return false;
	}
	return true;
}

/*
 * The kernel tagged a send of event loop t with no trace. After a pause
 * that is not believed: the kernel forgot the loop's trace there and tags
 * the calls of requests read before it with none (right), but a reply to
 * such a call, merged into the loop's receive, gives the loop no trace
 * again (bpf/xfer.bpf.h, xfer_recv_merge), so that its next calls, a new
 * request's too, go out with none, and so do their replies: at 16
 * connections the loop never gets out of it (node: a whole window's calls
 * untraced, its requests missing their calls). The engine's rules decide
 * such a send, the loop rule and the hidden traces of unseen requests
 * included; the kernel's tag of what comes back is then not read (the
 * engine's over the kernel's, struct segment's over_kernel).
 */
bool eng_loop_kernel_zero_off(struct krt_engine *e, const struct thread *t)
{
	return loop_unseen_checked(e, t);
}
