/*
 * Options shared by krtrace and krtrace-bpf: output formats and files.
 * Both tools parse their own source options and hand the rest here.
 */
#ifndef KRT_CLI_COMMON_H
#define KRT_CLI_COMMON_H

#include <stdbool.h>
#include "trace_data.h"
#include "writer.h"

#define KRT_MAX_WRITERS 8
#define KRT_HOST_NAME_MAX 255

struct krt_output_opts {
	bool verbose_pass;    /* -V */
	bool raw;	      /* -R */
	bool json;	      /* --json */
	int color;	      /* -C: 1 asked; resolved against isatty/NO_COLOR */
	const char *out_path; /* -o FILE, NULL = stdout */
	const char *chrome_path;
	const char *dot_path;
	__u64 dot_trace; /* --trace ID */
	const char *html_path;
	const char *otlp_path;
	const char *otlp_endpoint;
	bool otlp_protobuf;	  /* --otlp-protocol http/protobuf */
	bool otlp_protocol_given; /* --otlp-protocol at all: refused without an endpoint */
	const char *host_name;	  /* this host's name in the outputs; NULL = not named */
	bool main_in_place;	  /* --stream: -o FILE grows in place (it is followed) */
				  /* files the run reads: an output naming one of them is refused */
#define KRT_MAX_INPUTS 4
	const char *inputs[KRT_MAX_INPUTS];
};

/* Long options for getopt_long, terminated by a zero entry; values >= 0x100. */
extern const struct option krt_output_long_options[];
/* Short options handled here: "VRCo:". */
#define KRT_OUTPUT_SHORT_OPTS "VRCo:"
/* Help text lines for the shared options. */
extern const char krt_output_help[];

/* Handles one getopt_long result; returns 1 if consumed, 0 if not ours, -1 on error. */
int krt_output_opt(struct krt_output_opts *o, int opt, const char *arg);
/*
 * Output options that do not go together (-R with --json, --trace without
 * --dot, --otlp-protocol without --otlp-endpoint): said on stderr, -1. The
 * tools check at parse time (a usage error, exit 2, before any work);
 * krt_outputs_open checks again.
 */
int krt_output_opts_check(const struct krt_output_opts *o, const char *prog);

/* An output file: written to tmp_path (NULL: in place), renamed to path when kept. */
struct krt_output_file {
	const char *path;
	char *tmp_path;
	FILE *f;
	char *buf; /* f's stdio buffer (NULL: stdio's own) */
};

struct krt_outputs {
	const char *prog;
	struct krt_writer *w[KRT_MAX_WRITERS];
	int n;
	struct krt_output_file files[KRT_MAX_WRITERS + 1];
	int n_files;
	bool discard;	   /* set before close: the run produced nothing, keep the old files */
	FILE *main_out;	   /* stdout or -o FILE */
	FILE *verbose_out; /* where -V goes (main_out; stderr with --json/-R), NULL when off */
	bool color;
	bool need_slices;		  /* a writer draws timelines: set cfg.keep_slices */
	char host[KRT_HOST_NAME_MAX + 1]; /* --host-name, else the hostname */
};

/* Opens files and builds the writers; prints "krtrace: FILE: cause" and returns -1 on error. */
int krt_outputs_open(struct krt_outputs *outs, const struct krt_output_opts *o, const char *prog);
/* Engine callback: forwards the trace to every writer. ctx = struct krt_outputs *. */
void krt_outputs_on_trace(const struct krt_trace *t, void *ctx);
/*
 * Finishes every writer with the summary (NULL: the run failed) and closes
 * the files, renaming each into place when the run succeeded and its
 * writer finished it. Returns 0, -1 when an output failed (named on
 * stderr), or KRT_WRITER_UNDELIVERED when the outputs are complete but
 * traces did not reach the OTLP endpoint.
 */
int krt_outputs_close(struct krt_outputs *outs, const struct krt_summary *s);

/*
 * From a signal handler that exits at once (a second Ctrl-C): removes the
 * temporary files of the open outputs; the earlier results stay.
 */
void krt_outputs_abandon(void);

#endif
