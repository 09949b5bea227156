/*
 * What a run saw, for the run that produced no trace: a wrong gateway or a
 * stale PIDs file gave "0 traces" and exit 0 with no hint. The sources'
 * events pass through here on their way to the engine; at the end, when no
 * trace came out, the addresses that did send to the traced processes (the
 * gateway is usually among them) and the PIDs the input holds are shown.
 */
#ifndef KRT_RUN_SEEN_H
#define KRT_RUN_SEEN_H

#include <stdio.h>
#include "krtrace_event.h"
#include "pids_file.h"

#define KRT_SEEN_ADDRS 8
#define KRT_SEEN_PIDS 8

struct krt_seen {
	const struct krt_pids *pids; /* the listed processes, may be NULL */
	__u64 events;
	__u64 recvs;
	bool listed_pid_seen; /* an event of a listed PID (import) */
	struct {
		struct krt_addr ip; /* port 0 */
		__u64 n;
	} addr[KRT_SEEN_ADDRS]; /* senders to the traced processes */
	__u64 other_addrs;	/* receives from senders past the table */
	struct {
		__u32 pid;
		__u64 n;
	} pid[KRT_SEEN_PIDS]; /* the input's PIDs, while no listed one is seen */
	bool check_pids;      /* import: the input may hold any PID */
};

/* check_pids: count the input's PIDs against the listed ones (the import path). */
void krt_seen_init(struct krt_seen *s, const struct krt_pids *pids, bool check_pids);
void krt_seen_event(struct krt_seen *s, const struct krt_event *ev);
/* Import: warns when none of the listed PIDs is in the input. True when it warned. */
bool krt_seen_warn_pids(const struct krt_seen *s, FILE *f, const char *prog);
/*
 * Explains a run with no trace on f: the listed PIDs not in the input, the
 * addresses that reached the traced processes, and what to try.
 */
void krt_seen_explain(const struct krt_seen *s, FILE *f, const char *prog,
		      const struct krt_addr *gateway);

#endif
