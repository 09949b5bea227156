/*
 * Go binaries seen from outside: what the live path needs to follow
 * goroutines in a traced Go process with uprobes on its runtime.
 *
 * A Go program schedules its goroutines M:N on a few threads: the thread
 * that reads a request is often not the one that sends its downstream call,
 * and one thread runs the goroutines of many requests in turn, so attribution
 * by thread mixes requests. Following goroutines takes, per binary:
 *   - that it is Go at all, and which Go: the build info the linker writes
 *     in the ".go.buildinfo" section (even in stripped binaries);
 *   - the runtime functions to probe, by name from the ELF symbol table
 *     (runtime.execute: a goroutine starts running on the current thread;
 *     runtime.gostartcallfn: called once per new goroutine, by its creator,
 *     with the new goroutine's sched field; runtime.ready: a goroutine made
 *     runnable by another one, the hand-off of a channel, WaitGroup or lock);
 *     runtime.chansend, chanrecv and selectgo: a value put in a buffered
 *     channel and taken by a goroutine that was not parked waiting for it,
 *     which no runtime.ready tells (optional: without them, hand-offs are
 *     followed through runtime.ready only);
 *     runtime.newproc1 and runtime.casgstatus are only counted (benchmarks);
 *   - where a goroutine keeps its id and its sched field in runtime.g: from
 *     the DWARF of the binary when present, else a table of checked versions;
 *   - where the running goroutine is: with the register ABI (amd64, Go 1.17+)
 *     the g pointer lives in R14 in Go code, so a uprobe on a Go function
 *     reads it from the registers; the first arguments are RAX, RBX, RCX.
 * A binary missing any of these is attributed by thread, and said so.
 */
#ifndef KRT_GO_BINARY_H
#define KRT_GO_BINARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The runtime functions, in this order in krt_go_info.funcs. */
enum krt_go_func {
	KRT_GO_EXECUTE,	      /* runtime.execute(gp *g, inheritTime bool) */
	KRT_GO_GOSTARTCALLFN, /* runtime.gostartcallfn(gobuf *gobuf, fv *funcval) */
	KRT_GO_READY,	      /* runtime.ready(gp *g, traceskip int, next bool) */
	KRT_GO_N_NEEDED,      /* the ones above are needed to follow goroutines */
	/* buffered channels' hand-offs (no runtime.ready when the receiver runs) */
	KRT_GO_CHANSEND = KRT_GO_N_NEEDED, /* runtime.chansend(c *hchan, ep, block, pc) */
	KRT_GO_CHANRECV,		   /* runtime.chanrecv(c *hchan, ep, block bool) */
	KRT_GO_SELECTGO, /* runtime.selectgo(cas0, order0, pc0, nsends, nrecvs, block) */
	KRT_GO_N_PROBED, /* the ones above get uprobes (the channel ones if all found) */
	KRT_GO_NEWPROC1 = KRT_GO_N_PROBED, /* counted by benchmarks only */
	KRT_GO_CASGSTATUS,
	/*
	 * runtime.goready(gp *g, traceskip int): ready's caller on the waker's
	 * own stack (R14 its g); lazy switches probe it in ready's place
	 */
	KRT_GO_GOREADY,
	/*
	 * runtime.send(c, sg *sudog, ep, unlockf, skip) and runtime.recv(same):
	 * a channel operation that finds the other side parked, which it
	 * readies (goready(sg.g)); lazy switches probe them in goready's place
	 * (src/live_source.c, go_wake_links)
	 */
	KRT_GO_SEND,
	KRT_GO_RECV,
	KRT_GO_N_FUNCS,
};

/*
 * runtime.hchan's fields the channel probes read (offsets in bytes): a value
 * sent into a buffered channel's ring goes to slot sendx, the next receive
 * takes slot recvx; recvq/sendq: the goroutines parked on it.
 */
struct krt_go_hchan {
	int qcount, dataqsiz, sendx, recvx, recvq, sendq;
};

/* Where the goid offset came from. */
enum krt_go_offset_source {
	KRT_GO_OFFSET_UNKNOWN,
	KRT_GO_OFFSET_DWARF, /* the binary's own debug info */
	KRT_GO_OFFSET_TABLE, /* the table of checked versions (no DWARF: -ldflags=-w) */
};

struct krt_go_func_addr {
	uint64_t vaddr;	      /* symbol value (virtual address) */
	uint64_t file_offset; /* what a uprobe attaches at */
	bool found;
};

struct krt_go_info {
	bool is_go;	  /* has Go build info */
	char version[32]; /* "go1.19.8" ("" when the build info holds none) */
	int major, minor; /* 1, 19 (0 when unknown) */
	bool has_symtab;  /* an ELF .symtab (not -ldflags=-s) */
	bool has_dwarf;	  /* .debug_info (not -ldflags=-w) */
	bool g_in_r14;	  /* amd64 register ABI: Go 1.17+ on x86-64 */
	struct krt_go_func_addr funcs[KRT_GO_N_FUNCS];
	int goid_offset;  /* offset of goid in runtime.g, -1 unknown */
	int sched_offset; /* offset of sched (a gobuf) in runtime.g, -1 unknown */
	enum krt_go_offset_source goid_from; /* (both offsets come from one source) */
	struct krt_go_hchan hchan;	     /* (the same source as goid's) */
	bool chans;			     /* hchan known and the channel functions found */
	uint32_t handoff_skips;		     /* krt_go_handoff_skips() */
	int gobuf_g_offset;	 /* runtime.gobuf's g (captures' go_start), -1 unknown */
	uint64_t proc_key_vaddr; /* KRT_GO_PROC_KEY_SYM's address, 0 = not found */
	/*
	 * The running goroutine at any hook, without runtime.execute's probe:
	 * the thread's runtime.g pointer at tls_g_offset from its FS base (the
	 * TLS slot runtime.tlsg: -8 in a binary without a TLS segment, Go's
	 * own linker), and when that is the scheduler's g0 (goid 0: in
	 * runtime.ready and newproc1, which run on the system stack), the
	 * goroutine its thread serves, g.m.curg.
	 */
	int g_m_offset;	     /* runtime.g's m, -1 unknown */
	int m_curg_offset;   /* runtime.m's curg, -1 unknown */
	int tls_g_offset;    /* runtime.g's slot from the FS base */
	bool tls_g_known;    /* all three known: goroutines found at the hooks */
	uint64_t tlsg_value; /* runtime.tlsg's symbol value (a TLS offset), when found */
	bool tlsg_found;
	bool usable;   /* everything needed to follow its goroutines */
	char why[160]; /* when !usable (and is_go): what is missing */
};

/*
 * Inspects the ELF file at path. Returns 0 with *info filled (is_go false for
 * a binary that is not Go), or -1 with a message naming the file and cause in
 * err (unreadable, not ELF).
 */
int krt_go_inspect(const char *path, struct krt_go_info *info, char *err, size_t errlen);

/* The same for a running process (its /proc/PID/exe under proc_root). */
int krt_go_inspect_pid(const char *proc_root, int pid, struct krt_go_info *info, char *err,
		       size_t errlen);

/* The symbol name of a probed function. */
const char *krt_go_func_name(enum krt_go_func f);

/*
 * goid's and sched's offsets in runtime.g for a Go version in the checked
 * table; returns -1 when the version is not in it.
 */
int krt_go_offsets_table(int major, int minor, int *goid, int *sched);
/*
 * runtime.ready(gp, traceskip, next) is called for every goroutine made
 * runnable: by a channel operation (a value handed over), and by a lock, a
 * WaitGroup or a timer, which hand nothing over. Its traceskip argument
 * tells them apart (the depth of the caller it skips differs); the values
 * of the hand-offs, as a bit mask, for a Go version whose runtime was read
 * (1.19: chan.go send/recv 4, select 3, closechan 3, sync.Cond 4; locks and
 * semaphores 5-6, timers 0-1). 0 when the version is not known: every wake
 * counts, as before.
 */
uint32_t krt_go_handoff_skips(int major, int minor);
/* runtime.hchan's layout for a Go version in the checked table; -1 when not in it. */
int krt_go_hchan_table(int major, int minor, struct krt_go_hchan *h);
/* runtime.g's m and runtime.m's curg for a Go version in the checked table; -1 when not. */
int krt_go_curg_table(int major, int minor, int *g_m, int *m_curg);

/*
 * Captures (utils/krtrace-capture) tell the goroutines of one process from
 * another's by a value no two processes share: the monotonic time at which
 * the runtime started (set in runtime.main, before main.main runs), read by
 * each uprobe event. An import knows threads, not processes, and goids and
 * runtime.g addresses repeat from one Go process to the next.
 */
#define KRT_GO_PROC_KEY_SYM "runtime.runtimeInitTime"
/* runtime.gobuf's g (after sp and pc) for the versions of the checked table */
#define KRT_GO_GOBUF_G_TABLE 16

/*
 * The tracefs uprobe_events definitions that record a Go binary's goroutine
 * switches in a capture (docs/handoffs.md, "Goroutine events in a
 * capture"), one line
 * each, written to out as "probe NAME DEFINITION" and "filter NAME EXPR"
 * (NAME: go_execute, go_start, go_ready; DEFINITION: what follows
 * "p:GROUP/NAME " in uprobe_events). path is the binary as the kernel can
 * open it. Returns 0, or -1 with the reason in why when the binary cannot
 * be followed (not Go, stripped, unknown layout).
 */
int krt_go_uprobe_lines(const char *path, const struct krt_go_info *info, FILE *out, char *why,
			size_t whylen);

/* Parsers exposed for the unit tests. */
/* The Go version from a .go.buildinfo section's bytes (1.18+ inline strings). */
int krt_go_parse_buildinfo(const uint8_t *data, size_t len, char *version, size_t vlen);
/* "go1.19.8" -> 1, 19; returns -1 when it does not parse. */
int krt_go_parse_version(const char *version, int *major, int *minor);
/*
 * The offset of member in the structure named type from DWARF 4 .debug_info
 * and .debug_abbrev, or -1.
 */
int krt_go_dwarf_member_offset(const uint8_t *info, size_t info_len, const uint8_t *abbrev,
			       size_t abbrev_len, const char *type, const char *member);

#endif
