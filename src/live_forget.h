/*
 * The kernel's request state forgotten (windowed sampling: between two
 * windows the hot programs are detached, and the state they kept of the
 * requests then in flight is dropped, as the engine drops its own at
 * KRT_EV_PAUSE). What a table knows of the threads and connections
 * themselves, which no request made and a later one needs, stays.
 */
#ifndef KRT_LIVE_FORGET_H
#define KRT_LIVE_FORGET_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "krtrace_event.h"
#include "krtrace_bpf.h"

/* Every held thread state: its requests forgotten, what it is kept. */
void krt_forget_threads(struct krt_thread_slot *slots, size_t n);
/*
 * Every held connection side: its requests forgotten, which end connected
 * and what its peer is kept; with all (sides keyed by a socket's address,
 * which a new socket reuses once a close went unseen) the slots are freed.
 */
void krt_forget_conns(struct krt_conn_slot *slots, size_t n, bool all);
/* Every direction's slot freed: tags and waiting sends are all request state. */
void krt_forget_dirs(struct krt_dir_slot *slots, size_t n);
/*
 * Every entry of a hash map goes (the Go maps: goroutines' states, pending
 * dials, channel slots, threads' running goroutines; a thread learns where
 * it reads its goroutine again at its next hook). 0 or -errno.
 */
int krt_forget_map(int fd);

#endif
