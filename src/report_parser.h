/*
 * Parser for the text of `trace-cmd report -R` (README, "Import an ftrace capture"):
 *
 *   COMM-TID [CPU] SECS.FRAC: EVENT: field=value field=value ...
 *
 * One line in, one parsed record out, in place and without allocation.
 * The parser knows the field names of the contract's events and nothing
 * about attribution: src/ftrace_normalize.c turns records into events.
 */
#ifndef KRT_REPORT_PARSER_H
#define KRT_REPORT_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>
#include "krtrace_event.h"

/* Longest line accepted; longer ones are counted as malformed. */
#define KRT_RP_MAX_LINE (64 * 1024)
/* How many malformed lines are reported on the diagnostic stream. */
#define KRT_RP_MAX_REPORTED 5

enum krt_rp_kind {
	KRT_RP_SKIP = 0, /* blank, header, "CPU n is empty", unknown event */
	KRT_RP_SWITCH,
	KRT_RP_FORK,
	KRT_RP_EXIT,
	KRT_RP_WAKEUP, /* sched_wakeup, sched_waking */
	KRT_RP_SYS_ENTER,
	KRT_RP_SYS_EXIT,
	KRT_RP_SOCK_STATE, /* inet_sock_set_state */
	KRT_RP_TCP_PROBE,
	KRT_RP_RCV_SPACE, /* tcp_rcv_space_adjust */
	KRT_RP_LOST,	  /* "[LOST n EVENTS]" */
	/*
	 * Goroutine events of a capture (uprobes on a Go runtime, recorded by
	 * utils/krtrace-capture; docs/handoffs.md, "Goroutine events in a
	 * capture"): .go_g, .go_proc, and
	 * .go_goid (execute) or .go_skip (ready).
	 */
	KRT_RP_GO_EXECUTE, /* go_execute: runtime.execute(g): g runs on this thread */
	KRT_RP_GO_START,   /* go_start: gostartcallfn: the running goroutine starts g */
	KRT_RP_GO_READY,   /* go_ready: runtime.ready(g): the running goroutine readies g */
	KRT_RP_KIND_MAX
};

/* The syscalls of the contract, split by direction. */
enum krt_rp_sys {
	KRT_SYS_SENDTO = 1,
	KRT_SYS_SENDMSG,
	KRT_SYS_WRITE,
	KRT_SYS_RECVFROM,
	KRT_SYS_RECVMSG,
	KRT_SYS_READ,
};

static inline bool krt_rp_sys_is_send(int sys)
{
	return sys >= KRT_SYS_SENDTO && sys <= KRT_SYS_WRITE;
}

/* Presence bits of optional fields. */
enum krt_rp_has {
	KRT_RP_HAS_SIZE = 1 << 0,     /* sys_enter: size/len/count */
	KRT_RP_HAS_DATA_LEN = 1 << 1, /* tcp_probe: data_len */
	KRT_RP_HAS_COOKIE = 1 << 2,   /* sock_cookie */
	KRT_RP_HAS_SKADDR = 1 << 3,
	/*
	 * tcp events: the addresses of .tuple are known. Without it only the
	 * ports are: trace-cmd prints an IPv6 address starting with a zero byte
	 * (::1, ::ffff:a.b.c.d) as an empty string, and a sockaddr_in6 as "\n".
	 */
	KRT_RP_HAS_ADDR = 1 << 4,
};

struct krt_report_record {
	__u64 ts_ns;
	__u32 tid; /* the current task */
	__u32 cpu;
	char comm[KRT_COMM_LEN];
	int kind;  /* enum krt_rp_kind */
	int sys;   /* enum krt_rp_sys for SYS_ENTER/SYS_EXIT */
	__u32 has; /* enum krt_rp_has */
	/* sched_switch */
	__u32 prev_pid, next_pid;
	__s64 prev_state; /* 0 = runnable (R, R+), else the blocked state bits */
	char prev_comm[KRT_COMM_LEN], next_comm[KRT_COMM_LEN];
	/* sched_process_fork (pid = parent), sched_process_exit, sched_wakeup (pid = target) */
	__u32 pid, child_pid;
	char child_comm[KRT_COMM_LEN];
	/* syscalls */
	__s64 fd;
	__u64 size; /* enter: buffer size */
	__s64 ret;  /* exit: return value (negative errno) */
	__u32 syscall_nr;
	/* tcp / sock: local = saddr:sport, remote = daddr:dport of the event */
	struct krt_tuple tuple;
	__u32 data_len;
	__s32 oldstate, newstate;
	__u64 sock_cookie;
	__u64 skaddr;
	/* LOST */
	__u64 lost;
	/* goroutine events: the runtime.g, its goid, ready's traceskip, the process key */
	__u64 go_g;
	__s64 go_goid, go_skip;
	__u64 go_proc;
};

/* The address fields of a record being parsed (the parser's own scratch). */
struct krt_rp_addr_scratch {
	__u32 family;
	bool have_family;
	struct krt_addr s4, d4, s6, d6; /* 4-byte / v6 arrays */
	bool has_s6, has_d6;
};

struct krt_report_parser {
	const char *name; /* file name for messages, "<stdin>" */
	FILE *diag;	  /* where malformed lines are reported; NULL = silent */
	__u64 lineno;
	__u64 lines;
	__u64 bytes;
	__u64 malformed;
	__u64 unknown_events;
	__u64 lost_events;
	__u64 records;	   /* records of the contract returned */
	const char *cause; /* why the last line was malformed */
	/*
	 * A record cut by a newline inside a field value (a sockaddr_in6
	 * printed as the string "\n"): its fields go on on the next lines.
	 */
	bool cont;
	int cont_lines;
	unsigned int cont_got;
	__u64 cont_lineno;
	struct krt_report_record cont_rec;
	struct krt_rp_addr_scratch cont_as;
};

void krt_rp_init(struct krt_report_parser *p, const char *name, FILE *diag);

/*
 * Parses one line (without its newline; it need not be NUL-terminated and
 * is not modified). Returns 1 and fills rec for an event of the contract
 * or a LOST line, 0 for a line to skip (counted when it is an unknown
 * event), -1 for a malformed line (counted, reported, p->cause says why).
 */
int krt_rp_parse_line(struct krt_report_parser *p, const char *line, size_t len,
		      struct krt_report_record *rec);

typedef void (*krt_rp_record_fn)(const struct krt_report_record *rec, void *ctx);

/*
 * Reads a whole stream in large blocks and calls fn for every record.
 * Lines longer than KRT_RP_MAX_LINE are skipped and counted as malformed.
 * Returns 0, or -1 on a read error (errno set).
 */
int krt_rp_read_stream(struct krt_report_parser *p, FILE *f, krt_rp_record_fn fn, void *ctx);

/* Parses a buffer holding whole lines (fuzzing, tests); the last line may lack '\n'. */
void krt_rp_parse_buffer(struct krt_report_parser *p, const char *buf, size_t len,
			 krt_rp_record_fn fn, void *ctx);

/* The contract's event of this name (e.g. "sys_enter_read"): its kind (KRT_RP_SKIP: none) and *sys.
 */
int krt_rp_event_kind(const char *name, size_t n, int *sys);

/* Name of a record kind, for messages. */
const char *krt_rp_kind_name(int kind);

#endif
