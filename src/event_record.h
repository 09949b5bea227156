/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * A recording of the events a live run fed its engine (krtrace-bpf --debug
 * record-events=FILE), in delivery order, as they were in memory: a header,
 * then struct krt_event after struct krt_event. bench/bench_replay.c feeds
 * one to the engine and the writers again, so their CPU per event is
 * measured without the machine's noise and two builds' outputs can be
 * compared byte for byte on a real live stream. Same build only: the
 * header's size tells a recording of another layout.
 */
#ifndef KRT_EVENT_RECORD_H
#define KRT_EVENT_RECORD_H

#include <linux/types.h>

#define KRT_EVENT_RECORD_MAGIC "KRTEVREC"

struct krt_event_record_header {
	char magic[8];	  /* KRT_EVENT_RECORD_MAGIC, no NUL */
	__u32 event_size; /* sizeof(struct krt_event) of the recording build */
	__u32 reserved;
};

#endif
