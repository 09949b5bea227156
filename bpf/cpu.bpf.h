/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * CPU accounting: on-CPU and run-queue time summed per thread and trace in
 * the kernel (cpu_in_kernel), and the switch records of the threads whose
 * time user space counts itself.
 */
#ifndef KRT_CPU_BPF_H
#define KRT_CPU_BPF_H

#include "events.bpf.h"
#include "tables.bpf.h"

/*
 * Whose time user space counts from switch records: a thread whose trace
 * the kernel only guessed (unsure), if it is a pool worker (the engine's
 * rules decide which job it dequeued, from when it runs) or a Go thread
 * (goroutines swap traces on it). Any other unsure thread (one that read
 * bytes a pool worker sent with its guess: a database, a backend) keeps
 * its time here, for the trace the engine decides for it (KRT_CPU_FOLLOWS):
 * on asgi and thrift their switch records were 6 and 3.5 of 44 and 26
 * records per request.
 */
static __always_inline bool cpu_shown(const struct krt_thread_state *t, __u32 trace)
{
	return !trace_decided(trace) && !(trace & KRT_TRACE_SAMPLED_OUT) &&
	       (t->pooled || t->go_thread);
}

/* The trace a CPU record names for t's time (enum above: KRT_CPU_FOLLOWS). */
static __always_inline __u32 cpu_trace_id(const struct krt_thread_state *t)
{
	if (trace_decided(t->trace))
		return t->trace & KRT_TRACE_ID_MASK;
	return t->pooled || t->go_thread ? 0 : KRT_CPU_FOLLOWS;
}

/*
 * Sampling: time of thread t no rule reads (enum krt_uncounted): an
 * unsampled request's, a hidden one's, and between requests after one.
 */
static __always_inline bool cpu_uncounted(const struct krt_thread_state *t)
{
	return (t->trace & KRT_TRACE_SAMPLED_OUT) ||
	       (t->trace ? t->uncounted & KRT_UNCOUNTED_HIDDEN : t->uncounted & KRT_UNCOUNTED_IDLE);
}

/*
 * Whether the time thread t spends now counts here: not time no rule
 * reads, nor that of a thread user space counts from switch records (the
 * switch-in's decision).
 */
static __always_inline bool cpu_counted_here(const struct krt_thread_state *t)
{
	return !cpu_uncounted(t) && !cpu_shown(t, t->trace);
}

/*
 * The current thread changes trace while running since a switch-in no
 * hook saw (exec_state KRT_EXEC_OUT, run_reconcile): the run so far goes
 * to the old trace by the kernel's runtime count, which the scheduler
 * brings up to date at each tick (up to a tick of it goes to the new one).
 * A thread not current (a late tag's receiver) is left as it is.
 */
static __always_inline void run_unseen_split(struct krt_thread_state *t, __u32 tid)
{
	struct task_struct *task;
	__u64 runtime;

	if (tid != (__u32)bpf_get_current_pid_tgid())
		return;
	task = bpf_get_current_task_btf();
	runtime = task->se.sum_exec_runtime;
	if ((__s64)(runtime - t->exec_base) > (__s64)KRT_EXEC_SLACK_NS) {
		COUNT(runs_unseen); /* outside the sched hooks: locked */
		if (cpu_counted_here(t))
			t->acc_oncpu += runtime - t->exec_base;
	}
	t->exec_base = runtime;
}

/*
 * Sends the thread's gathered on-CPU time for its current trace (called
 * just before the trace changes, and at exit). A running thread's time is
 * counted up to now. Time of unsampled requests is dropped like the rest
 * of their records.
 */
static __always_inline void cpu_flush(struct krt_thread_state *t, __u32 tid, __u32 pid,
				      const char *comm, __u64 *clk, struct krt_cpu *carry,
				      bool in_sched)
{
	struct krt_sched_batch *b;
	struct krt_sched_item *it;
	struct krt_event *e;
	__u64 own = 0, now;

	if (!clk)
		clk = &own; /* one read for the time and its record */
	/*
	 * The clock is read only when the time counts (about 40 ns a read): a
	 * thread leaving an unsampled request, or ending its claim on one, has
	 * nothing counted since it switched in.
	 */
	if (t->oncpu_since > KRT_ONCPU_UNCOUNTED) {
		now = clock_now(clk);
		t->acc_oncpu += now - t->oncpu_since;
		t->oncpu_since = now;
	}
	if (!t->acc_oncpu && !t->acc_runq)
		return;
	/*
	 * Time with no trace only adds to the unattributed total: batch it
	 * (event loops cross "no trace" between every two requests).
	 */
	if (!t->trace) {
		t->acc_idle += t->acc_oncpu;
		t->acc_oncpu = 0;
		t->acc_runq = 0;
		if (t->acc_idle < KRT_IDLE_FLUSH_NS)
			return;
		t->acc_oncpu = t->acc_idle;
		t->acc_idle = 0;
	}
	if (t->trace & KRT_TRACE_SAMPLED_OUT) {
		/* its own counter at a switch (interrupts off); from any hook, locked */
		if (in_sched)
			COUNT_PLAIN(sampled_out_sched);
		else
			COUNT(sampled_out);
		goto done;
	}
	/* a hidden request's run-queue time (its on-CPU time is not counted) */
	if (t->trace && (t->uncounted & KRT_UNCOUNTED_HIDDEN))
		goto done;
	/*
	 * A receive that changes its thread's trace carries the time in its
	 * own record (one record instead of two; at a receive, on the test
	 * bed's chain, for 2.4 of the 5.6 CPU records of a request).
	 */
	if (carry && !carry->oncpu_ns && !carry->runq_ns) {
		carry->oncpu_ns = t->acc_oncpu;
		carry->runq_ns = t->acc_runq;
		carry->trace_id = cpu_trace_id(t);
		goto done;
	}
	/* at a switch (interrupts off): in this CPU's batch (events.bpf.h) */
	it = in_sched ? sched_item_add(&b, KRT_EV_CPU, clock_now(clk)) : NULL;
	if (it) {
		it->prev_tid = tid;
		it->prev_pid = pid;
		if (comm)
			__builtin_memcpy(it->prev_comm, comm, sizeof(it->prev_comm));
		it->next_tid = cpu_trace_id(t);
		it->cpu.oncpu_ns = t->acc_oncpu;
		it->cpu.runq_ns = t->acc_runq;
		sched_item_done(b);
		goto done;
	}
	e = event_reserve_at(KRT_EV_CPU, clock_now(clk));
	if (!e)
		goto done;
	e->pid = pid;
	e->tid = tid;
	/* comm: a task's name through its BTF pointer, plain loads */
	if (comm)
		__builtin_memcpy(e->comm, comm, sizeof(e->comm));
	e->oncpu.oncpu_ns = t->acc_oncpu;
	e->oncpu.runq_ns = t->acc_runq;
	e->oncpu.trace_id = cpu_trace_id(t);
	event_submit(e);
done:
	t->acc_oncpu = 0;
	t->acc_runq = 0;
}

/*
 * A record saying thread tid is on CPU from now: user space counts its
 * time from here (its trace became unsure, or a sampled one while it runs).
 */
static __always_inline void switch_in_record(__u32 tid, __u32 pid, const char *comm)
{
	struct krt_event *e = event_reserve(KRT_EV_SWITCH);

	if (!e)
		return;
	e->pid = pid;
	e->tid = tid;
	if (comm)
		__builtin_memcpy(e->comm, comm, sizeof(e->comm));
	else
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->sw.next_tid = tid;
	e->sw.next_pid = pid;
	__builtin_memcpy(e->sw.next_comm, e->comm, sizeof(e->comm));
	event_submit(e);
}

/*
 * Thread t takes a new trace value. With on-CPU time gathered here, the
 * time so far goes out under the old trace; a pool worker whose trace
 * becomes unsure is handed to user space's accounting (switch records)
 * from now (cpu_shown).
 * comm NULL: t is the current task.
 */
static __always_inline void thread_set_trace(struct krt_thread_state *t, __u32 tid, __u32 pid,
					     const char *comm, __u32 trace, __u64 *clk,
					     struct krt_cpu *carry)
{
	if (t->trace == trace)
		return;
	if (cpu_in_kernel) {
		if (!comm && t->exec_state == KRT_EXEC_OUT)
			run_unseen_split(t, tid);
		if (!t->shown_oncpu)
			cpu_flush(t, tid, pid, comm, clk, carry, false);
		/*
		 * An unsampled request's time is not counted (no clock at
		 * switch-in for it); a running thread leaving one starts its
		 * count now.
		 */
		if (t->oncpu_since && (trace & KRT_TRACE_SAMPLED_OUT))
			t->oncpu_since = KRT_ONCPU_UNCOUNTED;
		else if (t->oncpu_since == KRT_ONCPU_UNCOUNTED)
			t->oncpu_since = clock_now(clk);
		if (cpu_shown(t, trace) && t->oncpu_since && !t->shown_oncpu) {
			switch_in_record(tid, pid, comm);
			t->shown_oncpu = 1;
			t->oncpu_since = 0;
		}
	}
	if (trace)
		t->uncounted = trace & KRT_TRACE_SAMPLED_OUT ? KRT_UNCOUNTED_IDLE : 0;
	t->trace = trace;
}

/*
 * Sampling: the current thread t read a hidden request at the door (an
 * event loop's or a pool feeder's, tag_receive): while it holds it, and
 * between requests after it, its time is not counted (enum krt_uncounted).
 */
static __always_inline void thread_hides_time(struct krt_thread_state *t)
{
	t->uncounted = KRT_UNCOUNTED_IDLE | KRT_UNCOUNTED_HIDDEN;
	if (t->oncpu_since)
		t->oncpu_since = KRT_ONCPU_UNCOUNTED;
	t->acc_runq = 0;
}

/* A CPU record of the current thread (time a receive would have carried). */
static __always_inline void cpu_record(const struct krt_cpu *c, __u64 now)
{
	struct krt_event *e = event_reserve_at(KRT_EV_CPU, now);

	if (!e)
		return;
	event_fill_current(e);
	e->oncpu = *c;
	event_submit(e);
}

/*
 * The kernel counts each task's run-queue waits (CONFIG_SCHED_INFO, in
 * every distribution kernel); without it, wake-up to switch-in is timed
 * here.
 */
static __always_inline bool runq_from_sched_info(void)
{
	return bpf_core_field_exists(struct task_struct, sched_info);
}

/*
 * The switch record's two sides; a side with tid 0 is not shown. It goes
 * in this CPU's batch (events.bpf.h) when the reader flushes them: the
 * sched hook runs with interrupts off.
 */
static __always_inline void switch_record(struct task_struct *prev, struct task_struct *next,
					  bool show_prev, bool show_next, __s64 state, __u64 now)
{
	struct krt_sched_batch *b;
	struct krt_sched_item *it = sched_item_add(&b, KRT_EV_SWITCH, now);
	struct krt_event *e;

	if (!it)
		goto record;
	if (show_prev) {
		it->prev_tid = prev->pid;
		it->prev_pid = prev->tgid;
		it->prev_state = state;
		__builtin_memcpy(it->prev_comm, prev->comm, sizeof(it->prev_comm));
	}
	if (show_next) {
		it->next_tid = next->pid;
		it->next_pid = next->tgid;
		__builtin_memcpy(it->next_comm, next->comm, sizeof(it->next_comm));
	}
	sched_item_done(b);
	return;
record:
	e = event_reserve_at(KRT_EV_SWITCH, now);
	if (!e)
		return;
	if (show_prev) {
		e->pid = prev->tgid;
		e->tid = prev->pid;
		__builtin_memcpy(e->comm, prev->comm, sizeof(e->comm));
		e->sw.prev_tid = prev->pid;
		e->sw.prev_pid = prev->tgid;
		e->sw.prev_state = state;
		__builtin_memcpy(e->sw.prev_comm, e->comm, sizeof(e->comm));
	}
	if (show_next) {
		e->sw.next_tid = next->pid;
		e->sw.next_pid = next->tgid;
		__builtin_memcpy(e->sw.next_comm, next->comm, sizeof(e->sw.next_comm));
		if (!show_prev) {
			e->pid = next->tgid;
			e->tid = next->pid;
			__builtin_memcpy(e->comm, e->sw.next_comm, sizeof(e->comm));
		}
	}
	event_submit(e);
}

/*
 * The scheduler does not always run the sched_switch tracepoint: on the
 * test bed's kernel the switches away from some tasks reach no tracer
 * (ftrace's neither: 34 of 14468 switches in a loaded minute), and the run
 * that follows one was lost (a 20 ms burn measured 15-18 ms in 2 % of
 * loaded runs). A run's length by the kernel's own count of the task's
 * runtime (se.sum_exec_runtime, brought up to date before the tracepoint)
 * is compared at its switch-out with what the hooks timed (exec_base, enum
 * krt_exec_state): what they did not see goes to the thread's trace, as a
 * switch-in would have decided; a thread whose time user space counts from
 * switch records (cpu_shown) loses it there. Counted either way.
 */
static __always_inline void run_reconcile(struct krt_thread_state *t, __u64 runtime, __u64 *clk)
{
	__s64 unseen = 0;

	if (t->exec_state == KRT_EXEC_OUT)
		unseen = runtime - t->exec_base; /* no switch-in seen: all of it */
	else if (t->exec_state == KRT_EXEC_TIMED)
		unseen = runtime - clock_now(clk) - t->exec_base;
	if (unseen > (__s64)KRT_EXEC_SLACK_NS) {
		COUNT_PLAIN(runs_unseen);
		if (cpu_counted_here(t))
			t->acc_oncpu += unseen;
	}
	t->exec_base = runtime;
	t->exec_state = KRT_EXEC_OUT;
}

/* Thread t switches in (now: the time its count starts, 0 when not counted here). */
static __always_inline void run_begins(struct krt_thread_state *t, __u64 now)
{
	if (t->exec_state == KRT_EXEC_OUT && now) {
		t->exec_base -= now;
		t->exec_state = KRT_EXEC_TIMED;
	} else if (t->exec_state == KRT_EXEC_OUT) {
		t->exec_state = KRT_EXEC_UNTIMED;
	} else {
		/* its last switch-out unseen (or none yet): no check this run */
		t->exec_state = KRT_EXEC_UNKNOWN;
	}
}

/*
 * On-CPU time gathered here (the default): no record at all, except for
 * threads user space counts itself (their trace is unsure: it sees their
 * switches, and the switch-out of one it saw switching in).
 */
static __always_inline int switch_cpu_in_kernel(struct task_struct *prev, struct task_struct *next,
						struct krt_thread_state *pt,
						struct krt_thread_state *nt, __u32 prev_tid,
						__u32 prev_tgid, __u32 next_tid, bool next_traced,
						__s64 state)
{
	bool show_prev = false, show_next = false;
	__u64 clk = 0; /* the clock, read when needed (clock_now) */

	if (pt) {
		/*
		 * Run-queue delay from the scheduler's own count (sched_info:
		 * every wait on a run queue, after a wake-up or a preemption,
		 * is added when the task switches in): what the run now
		 * ending waited goes to the trace it worked for. No hook on
		 * the machine's wake-ups needs a clock or a map for it.
		 */
		if (runq_from_sched_info()) {
			__u64 rd = prev->sched_info.run_delay;

			if (pt->runq_known)
				pt->acc_runq += rd - pt->runq_base;
			pt->runq_base = rd;
			pt->runq_known = 1;
		}
		if (pt->shown_oncpu) {
			show_prev = true;
			pt->shown_oncpu = 0;
		} else if (pt->oncpu_since > KRT_ONCPU_UNCOUNTED) {
			pt->acc_oncpu += clock_now(&clk) - pt->oncpu_since;
		}
		pt->oncpu_since = 0;
		run_reconcile(pt, prev->se.sum_exec_runtime, &clk);
		if (claim_ends(pt, state)) {
			if (!show_prev)
				cpu_flush(pt, prev_tid, prev_tgid, prev->comm, &clk, NULL, true);
			claim_end(pt);
		}
	}
	if (next_traced && !nt)
		nt = thread_get(next_tid);
	if (nt) {
		if (!runq_from_sched_info() && nt->woken_at) {
			nt->acc_runq += clock_now(&clk) - nt->woken_at;
			nt->woken_at = 0;
		}
		if (cpu_uncounted(nt)) {
			/*
			 * An unsampled request's time is dropped: on CPU, not
			 * counted, no clock read (thread_set_trace starts the
			 * count if it takes a sampled request while it runs).
			 * So is the time of a thread between an unsampled
			 * request and its next (a thread per request, a loop
			 * between its requests): most of a server's runs
			 * under sampling, two clock reads each.
			 */
			nt->oncpu_since = KRT_ONCPU_UNCOUNTED;
		} else if (cpu_shown(nt, nt->trace)) {
			show_next = true;
			nt->shown_oncpu = 1;
			nt->oncpu_since = 0;
		} else {
			nt->oncpu_since = clock_now(&clk);
		}
		run_begins(nt, nt->oncpu_since > KRT_ONCPU_UNCOUNTED ? nt->oncpu_since : 0);
	}
	if (show_prev || show_next)
		switch_record(prev, next, show_prev, show_next, state, clock_now(&clk));
	return 0;
}

#endif /* KRT_CPU_BPF_H */
