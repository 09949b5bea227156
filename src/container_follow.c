/*
 * Containers that come and go (container_follow.h).
 *
 * A re-scan costs about a millisecond of system time with 160 processes
 * (a stat of /proc/PID/ns/net each, the addresses of a namespace not seen
 * before); the caller runs it every 500 ms on the reader's thread, between
 * two polls of the ring, so the list never changes under the engine.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "addr.h"
#include "container_discovery.h"
#include "container_follow.h"

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static bool holds_pid(const struct krt_pids *pids, __u32 pid)
{
	size_t i;

	for (i = 0; i < pids->n; i++)
		if (pids->v[i].pid == pid)
			return true;
	return false;
}

int krt_follow_add(struct krt_live_source *src, struct krt_pids *pids, const struct krt_pids *fresh,
		   FILE *log, const char *prog, struct krt_follow_stats *st)
{
	char ip[KRT_ADDR_STRLEN];
	size_t i;
	int added = 0, err;

	for (i = 0; i < fresh->n; i++) {
		const struct krt_container *c = &fresh->v[i];

		if (holds_pid(pids, c->pid))
			continue;
		err = krt_live_trace_tree(src, c->pid);
		if (err) {
			/* gone between the scan and now: nothing to follow */
			if (err != -ENOENT && err != -ESRCH && log)
				fprintf(log, "%s: cannot trace PID %u (%s): %s\n", prog, c->pid,
					c->name, strerror(-err));
			continue;
		}
		if (c->ip.family)
			krt_live_add_peer(src, &c->ip); /* a known address: no error to tell */
		if (krt_pids_add(pids, c)) {
			if (log)
				fprintf(log,
					"%s: PID %u (%s) traced but not named: out of memory\n",
					prog, c->pid, c->name);
			continue;
		}
		added++;
		if (log)
			fprintf(log, "%s: now tracing PID %u of %s (%s)\n", prog, c->pid, c->name,
				krt_ip_str(&c->ip, ip, sizeof(ip)));
	}
	if (st)
		st->added += added;
	return added;
}

int krt_follow_prune(struct krt_pids *pids, const char *proc_root, struct krt_follow_stats *st)
{
	char path[256];
	size_t i, kept = 0;
	int removed;

	for (i = 0; i < pids->n; i++) {
		snprintf(path, sizeof(path), "%s/%u", proc_root ? proc_root : "/proc",
			 pids->v[i].pid);
		if (!access(path, F_OK))
			pids->v[kept++] = pids->v[i];
	}
	removed = (int)(pids->n - kept);
	pids->n = kept;
	if (removed)
		pids->gen++;
	if (st)
		st->dropped += removed;
	return removed;
}

int krt_follow_rescan(struct krt_live_source *src, struct krt_pids *pids,
		      const struct krt_addr *gateway, FILE *log, const char *prog,
		      struct krt_follow_stats *st)
{
	static bool failed_before;
	struct krt_pids fresh = {0};
	__u64 t0 = mono_ns();
	char err[256];
	int n;

	if (krt_discover_containers(gateway, NULL, &fresh, err, sizeof(err)) < 0) {
		if (!failed_before && log)
			fprintf(log, "%s: container re-scan: %s\n", prog, err);
		failed_before = true;
		krt_pids_free(&fresh);
		return -1;
	}
	/* growing and shrinking in separate passes: the engine sees the length change */
	n = krt_follow_add(src, pids, &fresh, log, prog, st);
	if (!n)
		n = krt_follow_prune(pids, NULL, st);
	krt_pids_free(&fresh);
	if (st) {
		st->rescans++;
		st->rescan_ns += mono_ns() - t0;
	}
	return n;
}

int krt_follow_reload(struct krt_live_source *src, struct krt_pids *pids, const char *path,
		      FILE *log, const char *prog, struct krt_follow_stats *st)
{
	struct krt_pids fresh = {0};
	char err[512];
	size_t i;
	int n;

	if (krt_pids_load(&fresh, path, err, sizeof(err))) {
		if (log)
			fprintf(log, "%s: SIGHUP: %s: the traced processes stay as they were\n",
				prog, err);
		return -1;
	}
	/*
	 * Processes no longer listed: the kernel stops tracing them; their
	 * entries stay (names of traces in flight), so one listed again is
	 * traced again below rather than added.
	 */
	for (i = 0; i < pids->n; i++)
		if (!holds_pid(&fresh, pids->v[i].pid))
			krt_live_untrace_tgid(src, pids->v[i].pid);
	for (i = 0; i < fresh.n; i++)
		if (holds_pid(pids, fresh.v[i].pid))
			krt_live_trace_tree(src, fresh.v[i].pid);
	n = krt_follow_add(src, pids, &fresh, log, prog, st);
	if (log)
		fprintf(log, "%s: SIGHUP: re-read %s: %zu listed, %d new\n", prog, path, fresh.n,
			n);
	krt_pids_free(&fresh);
	if (st)
		st->rescans++;
	return n;
}
