/*
 * Following containers as they come and go during a live run: a restarted
 * service is a new process in an existing network namespace, a new
 * replica a new namespace on the gateway's subnet, an `exec` a process of
 * a traced namespace outside the traced process tree. None of them is a
 * descendant of a traced process, so the kernel's fork hook cannot see
 * them: a periodic re-scan (discovery) or a re-read of the PIDs file
 * (SIGHUP) adds them to the kernel's PID filter and to the list the
 * engine names containers from. Processes that exited leave the list.
 *
 * The list is the engine's (krt_engine_config.pids): it only grows or
 * shrinks in separate steps, so the engine sees its length change and
 * rebuilds its index (engine.c: listed_find).
 */
#ifndef KRT_CONTAINER_FOLLOW_H
#define KRT_CONTAINER_FOLLOW_H

#include <stdio.h>
#include "krtrace_event.h"
#include "live_source.h"
#include "pids_file.h"

struct krt_follow_stats {
	__u64 rescans;	 /* discovery runs / PIDs-file re-reads */
	__u64 added;	 /* processes traced after the start */
	__u64 dropped;	 /* exited processes removed from the list */
	__u64 rescan_ns; /* time spent re-scanning */
};

/*
 * Traces the processes of fresh that pids does not hold yet (with their
 * descendants, and their address as a peer) and appends them to pids.
 * log (may be NULL) gets one line per process. Returns the number added.
 */
int krt_follow_add(struct krt_live_source *src, struct krt_pids *pids, const struct krt_pids *fresh,
		   FILE *log, const char *prog, struct krt_follow_stats *st);
/* Removes the entries of processes that no longer exist. Returns the number removed. */
int krt_follow_prune(struct krt_pids *pids, const char *proc_root, struct krt_follow_stats *st);
/*
 * One discovery pass: new processes on the gateway's subnet are added;
 * when none was, exited ones are pruned. Returns the number added or
 * removed, -1 when discovery failed (message on stderr once).
 */
int krt_follow_rescan(struct krt_live_source *src, struct krt_pids *pids,
		      const struct krt_addr *gateway, FILE *log, const char *prog,
		      struct krt_follow_stats *st);
/* The same from a PIDs file (SIGHUP with -i). -1 when the file is unusable (said why). */
int krt_follow_reload(struct krt_live_source *src, struct krt_pids *pids, const char *path,
		      FILE *log, const char *prog, struct krt_follow_stats *st);

#endif
