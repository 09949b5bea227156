/*
 * Output options shared by krtrace and krtrace-bpf: parsing them, opening
 * the files and building the writers, and fanning each trace out to them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli_common.h"
#include "writer_util.h"

enum {
	OPT_JSON = 0x100,
	OPT_CHROME,
	OPT_DOT,
	OPT_TRACE,
	OPT_HTML,
	OPT_OTLP,
	OPT_OTLP_ENDPOINT,
	OPT_OTLP_PROTOCOL,
	OPT_HOST_NAME,
};

const struct option krt_output_long_options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"raw", no_argument, NULL, 'R'},
    {"color", no_argument, NULL, 'C'},
    {"output", required_argument, NULL, 'o'},
    {"chrome", required_argument, NULL, OPT_CHROME},
    {"dot", required_argument, NULL, OPT_DOT},
    {"trace", required_argument, NULL, OPT_TRACE},
    {"html", required_argument, NULL, OPT_HTML},
    {"otlp", required_argument, NULL, OPT_OTLP},
    {"otlp-endpoint", required_argument, NULL, OPT_OTLP_ENDPOINT},
    {"otlp-protocol", required_argument, NULL, OPT_OTLP_PROTOCOL},
    {"host-name", required_argument, NULL, OPT_HOST_NAME},
    {NULL, 0, NULL, 0},
};

const char krt_output_help[] =
    "Output:\n"
    "  -o, --output FILE        write the result to FILE instead of stdout\n"
    "  -R, --raw                tab-separated records for scripts (docs/raw-format.md)\n"
    "      --json               JSON lines: one object per trace, then a summary object\n"
    "  -C, --color              colour the text output (terminal only; NO_COLOR wins)\n"
    "  -V                       print the first-pass decisions, event by event\n"
    "                           (on stderr with --json or -R)\n"
    "      --chrome FILE        Chrome Trace Event JSON (Perfetto UI, chrome://tracing)\n"
    "      --dot FILE           Graphviz DOT of each trace's flow (dot -Tsvg FILE)\n"
    "      --trace ID           with --dot: only this trace\n"
    "      --html FILE          self-contained HTML report with flow graphs\n"
    "      --otlp FILE          OTLP/JSON lines (OpenTelemetry file exporter format)\n"
    "      --otlp-endpoint URL  POST OTLP to a collector, e.g. http://127.0.0.1:4318/v1/traces\n"
    "      --otlp-protocol P    http/json (default) or http/protobuf for --otlp-endpoint\n"
    "                           (--otlp FILE is always OTLP/JSON lines)\n"
    "      --host-name NAME     this host's name: \"host\" and the 128-bit \"trace_id_hex\"\n"
    "                           in --json (for krtrace merge), host.name in OTLP\n"
    "                           (default: the hostname, OTLP only)\n";

int krt_output_opt(struct krt_output_opts *o, int opt, const char *arg)
{
	char *end;

	switch (opt) {
	case 'V':
		o->verbose_pass = true;
		return 1;
	case 'R':
		o->raw = true;
		return 1;
	case 'C':
		o->color = 1;
		return 1;
	case 'o':
		o->out_path = arg;
		return 1;
	case OPT_JSON:
		o->json = true;
		return 1;
	case OPT_CHROME:
		o->chrome_path = arg;
		return 1;
	case OPT_DOT:
		o->dot_path = arg;
		return 1;
	case OPT_TRACE:
		errno = 0;
		o->dot_trace = strtoull(arg, &end, 10);
		if (errno || end == arg || *end || !o->dot_trace || arg[0] == '-') {
			fprintf(stderr, "--trace: '%s' is not a trace id (a number from 1)\n", arg);
			return -1;
		}
		return 1;
	case OPT_HTML:
		o->html_path = arg;
		return 1;
	case OPT_OTLP:
		o->otlp_path = arg;
		return 1;
	case OPT_OTLP_ENDPOINT:
		if (strncmp(arg, "http://", 7)) {
			fprintf(stderr, "--otlp-endpoint: '%s': only http:// URLs are supported\n",
				arg);
			return -1;
		}
		o->otlp_endpoint = arg;
		return 1;
	case OPT_HOST_NAME:
		if (!arg[0] || strlen(arg) > KRT_HOST_NAME_MAX) {
			fprintf(stderr, "--host-name: '%s': 1 to %d characters\n", arg,
				KRT_HOST_NAME_MAX);
			return -1;
		}
		o->host_name = arg;
		return 1;
	case OPT_OTLP_PROTOCOL:
		o->otlp_protocol_given = true;
		if (!strcmp(arg, "http/protobuf")) {
			o->otlp_protobuf = true;
		} else if (!strcmp(arg, "http/json")) {
			o->otlp_protobuf = false;
		} else {
			fprintf(stderr,
				"--otlp-protocol: '%s': expected http/protobuf or http/json\n",
				arg);
			return -1;
		}
		return 1;
	}
	return 0;
}

/*
 * A live run writes megabytes per second: with stdio's default 4 KiB
 * buffer, a write() per few traces was a fifth of the reader's CPU. A
 * larger buffer (stream mode still flushes every trace), ours: glibc's
 * setvbuf() without one keeps its own st_blksize (4 KiB) and ignores the
 * size (a live run wrote 4096 bytes at a time, 440 write()s a second on
 * thrift, until round 6).
 */
#define OUTPUT_BUFFER (256 * 1024)

/*
 * Standard output, when not a terminal, gets the same buffer (stdio's is
 * 4 KiB: a write() per few traces). Static: stdout outlives the outputs
 * (exit() flushes it). Nothing is written to stdout before the outputs
 * open; the fflush() makes a setvbuf() after output safe anyway.
 * krtrace-bpf flushes it every second, so a reader of a pipe still sees
 * traces as they come.
 */
static void stdout_buffered(void)
{
	static char buf[OUTPUT_BUFFER];
	static bool done;

	if (done || isatty(fileno(stdout)))
		return;
	fflush(stdout);
	setvbuf(stdout, buf, _IOFBF, sizeof(buf));
	done = true;
}

/* The outputs open now, for krt_outputs_abandon() in a signal handler. */
static struct krt_outputs *volatile open_outputs;

void krt_outputs_abandon(void)
{
	struct krt_outputs *outs = open_outputs;
	int i;

	/* async-signal-safe: unlink only; the previous results stay in place */
	for (i = 0; outs && i < outs->n_files; i++)
		if (outs->files[i].tmp_path)
			unlink(outs->files[i].tmp_path);
}

/* Same file: both exist and share device and inode. */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return a && b && !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/*
 * Opens an output. A regular file (or a new one) is written to a temporary
 * file beside it, renamed into place by krt_outputs_close() only when the
 * run succeeded: a failed or empty run leaves the previous result intact.
 * Anything else (a terminal, a pipe, /dev/stdout) and a streamed output
 * (its readers follow it as it grows) are written in place.
 */
static FILE *open_output(struct krt_outputs *outs, const char *path, bool in_place)
{
	struct krt_output_file *of;
	struct stat st;
	FILE *f;
	int fd;

	if (outs->n_files == KRT_MAX_WRITERS + 1)
		return NULL;
	of = &outs->files[outs->n_files];
	memset(of, 0, sizeof(*of));
	of->path = path;
	if (!in_place && (stat(path, &st) || S_ISREG(st.st_mode))) {
		const char *slash = strrchr(path, '/');
		int dir_len = slash ? (int)(slash - path + 1) : 0;
		mode_t mask = umask(0);

		umask(mask);
		if (asprintf(&of->tmp_path, "%.*s.%s.krtrace-XXXXXX", dir_len, path,
			     slash ? slash + 1 : path) < 0) {
			of->tmp_path = NULL;
			fprintf(stderr, "%s: %s: out of memory\n", outs->prog, path);
			return NULL;
		}
		fd = mkostemp(of->tmp_path, O_CLOEXEC);
		if (fd < 0) {
			/* the directory's error is the file's: "DIR/x: No such file..." */
			fprintf(stderr, "%s: %s: %s\n", outs->prog, path, strerror(errno));
			free(of->tmp_path);
			return NULL;
		}
		/* mkstemp creates 0600; an output is as readable as fopen would make it */
		if (fchmod(fd, 0666 & ~mask))
			fprintf(stderr, "%s: %s: %s\n", outs->prog, of->tmp_path, strerror(errno));
		f = fdopen(fd, "w");
		if (!f) {
			close(fd);
			unlink(of->tmp_path);
			free(of->tmp_path);
		}
	} else {
		f = fopen(path, "w");
	}
	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", outs->prog, path, strerror(errno));
		return NULL;
	}
	of->buf = malloc(OUTPUT_BUFFER);
	setvbuf(f, of->buf, _IOFBF, of->buf ? OUTPUT_BUFFER : BUFSIZ);
	of->f = f;
	outs->n_files++;
	return f;
}

/* Flushes and closes one output; renames it into place when keep. Returns 0 or -1. */
static int close_output(struct krt_outputs *outs, struct krt_output_file *of, bool keep)
{
	int err = 0;

	if (fflush(of->f))
		err = errno;
	if (ferror(of->f) && !err)
		err = EIO;
	if (fclose(of->f) && !err)
		err = errno;
	of->f = NULL;
	free(of->buf); /* after the close: it flushes from there */
	of->buf = NULL;
	if (err)
		fprintf(stderr, "%s: %s: %s\n", outs->prog, of->path, strerror(err));
	if (of->tmp_path) {
		if (keep && !err && rename(of->tmp_path, of->path)) {
			err = errno;
			fprintf(stderr, "%s: %s: cannot rename %s into place: %s\n", outs->prog,
				of->path, of->tmp_path, strerror(err));
		}
		if (!keep || err)
			unlink(of->tmp_path);
		free(of->tmp_path);
		of->tmp_path = NULL;
	}
	return err ? -1 : 0;
}

static int add_writer(struct krt_outputs *outs, struct krt_writer *w, const char *prog,
		      const char *what)
{
	if (!w) {
		fprintf(stderr, "%s: cannot create the %s writer\n", prog, what);
		return -1;
	}
	outs->w[outs->n++] = w;
	return 0;
}

/* A file writer: open FILE, build the writer around it. */
#define ADD_FILE_WRITER(path, what, ctor_call)                                                     \
	do {                                                                                       \
		FILE *f_ = open_output(outs, (path), false);                                       \
		if (!f_)                                                                           \
			goto fail;                                                                 \
		struct krt_writer *w_ = (ctor_call);                                               \
		if (add_writer(outs, w_, prog, (what)))                                            \
			goto fail;                                                                 \
	} while (0)

/*
 * Refuses an output that is also an input (it would be truncated before it
 * is read: `krtrace -i pids -g GW -o r r`) or that two outputs share.
 */
int krt_output_opts_check(const struct krt_output_opts *o, const char *prog)
{
	if (o->raw && o->json) {
		fprintf(stderr, "%s: -R and --json both write the main output: choose one\n", prog);
		return -1;
	}
	if (o->dot_trace && !o->dot_path) {
		fprintf(stderr, "%s: --trace needs --dot FILE\n", prog);
		return -1;
	}
	if (o->otlp_protocol_given && !o->otlp_endpoint) {
		fprintf(stderr,
			"%s: --otlp-protocol needs --otlp-endpoint URL (--otlp FILE is always "
			"OTLP/JSON lines)\n",
			prog);
		return -1;
	}
	return 0;
}

static int check_paths(const struct krt_output_opts *o, const char *prog)
{
	const char *outs[] = {o->out_path && strcmp(o->out_path, "-") ? o->out_path : NULL,
			      o->chrome_path, o->dot_path, o->html_path, o->otlp_path};
	size_t i, k;

	for (i = 0; i < sizeof(outs) / sizeof(outs[0]); i++) {
		if (!outs[i])
			continue;
		for (k = 0; k < KRT_MAX_INPUTS; k++)
			if (o->inputs[k] &&
			    (same_file(outs[i], o->inputs[k]) || !strcmp(outs[i], o->inputs[k]))) {
				fprintf(stderr,
					"%s: %s is an input and an output: refused (it "
					"would be overwritten before it is read)\n",
					prog, outs[i]);
				return -1;
			}
		for (k = 0; k < i; k++)
			if (outs[k] && (!strcmp(outs[i], outs[k]) || same_file(outs[i], outs[k]))) {
				fprintf(stderr, "%s: %s is given for two outputs\n", prog, outs[i]);
				return -1;
			}
	}
	return 0;
}

static bool color_wanted(const struct krt_output_opts *o, FILE *out)
{
	const char *no_color = getenv("NO_COLOR");

	if (!o->color || o->json || o->raw)
		return false;
	if (no_color && no_color[0])
		return false;
	return isatty(fileno(out));
}

int krt_outputs_open(struct krt_outputs *outs, const struct krt_output_opts *o, const char *prog)
{
	struct krt_otlp_config otlp = {
	    .endpoint = o->otlp_endpoint,
	    .protobuf = o->otlp_protobuf,
	};
	struct krt_writer *w;

	memset(outs, 0, sizeof(*outs));
	outs->prog = prog;
	open_outputs = outs;
	if (check_paths(o, prog))
		return -1;
	/* OTLP resources name their host whatever the options (host.name is conventional). */
	if (o->host_name)
		snprintf(outs->host, sizeof(outs->host), "%s", o->host_name);
	else if (gethostname(outs->host, sizeof(outs->host) - 1))
		outs->host[0] = '\0';
	otlp.host = outs->host[0] ? outs->host : NULL;
	if (krt_output_opts_check(o, prog))
		return -1;
	outs->main_out = stdout;
	stdout_buffered();
	if (o->out_path && strcmp(o->out_path, "-")) {
		outs->main_out = open_output(outs, o->out_path, o->main_in_place);
		if (!outs->main_out)
			return -1;
	}
	outs->color = color_wanted(o, outs->main_out);
	/* -V lines between JSON or TSV records would break their readers: stderr then. */
	if (o->verbose_pass)
		outs->verbose_out = o->json || o->raw ? stderr : outs->main_out;

	if (o->json)
		w = krt_writer_json_new_host(outs->main_out, o->host_name);
	else if (o->raw)
		w = krt_writer_raw_new(outs->main_out);
	else
		w = krt_writer_text_new(outs->main_out, outs->color);
	if (add_writer(outs, w, prog, "main"))
		goto fail;

	if (o->chrome_path) {
		ADD_FILE_WRITER(o->chrome_path, "Chrome trace", krt_writer_chrome_new(f_));
		outs->need_slices = true;
	}
	if (o->dot_path)
		ADD_FILE_WRITER(o->dot_path, "DOT", krt_writer_dot_new(f_, o->dot_trace));
	if (o->html_path) {
		ADD_FILE_WRITER(o->html_path, "HTML", krt_writer_html_new(f_, "KRTrace report"));
		outs->need_slices = true; /* the report draws timelines */
	}
	if (o->otlp_path)
		ADD_FILE_WRITER(o->otlp_path, "OTLP", krt_writer_otlp_new_cfg(f_, &otlp));
	else if (o->otlp_endpoint &&
		 add_writer(outs, krt_writer_otlp_new_cfg(NULL, &otlp), prog, "OTLP"))
		goto fail;
	return 0;

fail:
	open_outputs = NULL;
	while (outs->n > 0) {
		w = outs->w[--outs->n];
		w->ops->destroy(w);
	}
	while (outs->n_files > 0)
		close_output(outs, &outs->files[--outs->n_files], false);
	outs->main_out = NULL;
	return -1;
}

void krt_outputs_on_trace(const struct krt_trace *t, void *ctx)
{
	struct krt_outputs *outs = ctx;
	int i;

	for (i = 0; i < outs->n; i++)
		outs->w[i]->ops->trace(outs->w[i], t);
}

/*
 * retsnoop style: losses are never silent, whatever the output format. The
 * one place both tools warn about what they lost, each loss once.
 */
static void warn_losses(const struct krt_summary *s)
{
	const struct krt_source_stats *src = &s->source;
	__u64 lost = krt_summary_lost(s);

	/* the live source counts its ring drops among the lost events too */
	if (src->ring_drops)
		fprintf(stderr,
			"WARNING: %" PRIu64 " records dropped, ring buffer full (try "
			"--ring-mb): traces may be incomplete\n",
			(uint64_t)src->ring_drops);
	if (lost > src->ring_drops)
		fprintf(stderr,
			"WARNING: %" PRIu64 " events lost by the source: "
			"traces may be incomplete\n",
			(uint64_t)(lost - src->ring_drops));
	if (src->map_full)
		fprintf(stderr,
			"WARNING: %" PRIu64 " thread, connection or direction states not "
			"kept in the kernel (their table's slots held): their tags and CPU time "
			"may be wrong\n",
			(uint64_t)src->map_full);
	if (src->reordered && src->reorder_window_ns)
		fprintf(stderr,
			"WARNING: %" PRIu64 " events out of timestamp order (times "
			"clamped; the machine was loaded: the reorder window grew to %" PRIu64
			" ms)\n",
			(uint64_t)src->reordered, (uint64_t)(src->reorder_window_ns / 1000000));
	else if (src->reordered)
		fprintf(stderr,
			"WARNING: %" PRIu64 " events out of timestamp order (times "
			"clamped)\n",
			(uint64_t)src->reordered);
	if (s->dropped_segments)
		fprintf(stderr,
			"WARNING: %" PRIu64 " send segments dropped by the engine "
			"(queue cap or idle connection): some hops may be missing\n",
			(uint64_t)s->dropped_segments);
}

int krt_outputs_close(struct krt_outputs *outs, const struct krt_summary *s)
{
	static const struct krt_summary none;
	bool failed[KRT_MAX_WRITERS] = {0};
	int i, k, ret = 0;

	for (i = 0; i < outs->n; i++) {
		struct krt_writer *w = outs->w[i];
		int r = 0;

		/*
		 * Without a summary (the run failed), the main output gets no
		 * summary; the files are completed but will not replace the
		 * previous ones.
		 */
		if (s)
			r = w->ops->finish(w, s);
		else if (w->out != outs->main_out)
			w->ops->finish(w, &none);
		if (r < 0) {
			failed[i] = true;
			ret = -1;
		} else if (r == KRT_WRITER_UNDELIVERED && !ret) {
			ret = KRT_WRITER_UNDELIVERED;
		}
	}
	if (s)
		warn_losses(s);
	/* A file is kept when the run succeeded and its writer finished it. */
	for (k = 0; k < outs->n_files; k++) {
		struct krt_output_file *of = &outs->files[k];
		bool keep = s != NULL && !outs->discard;

		for (i = 0; i < outs->n; i++)
			if (outs->w[i]->out == of->f && failed[i])
				keep = false;
		if (close_output(outs, of, keep))
			ret = -1;
	}
	outs->n_files = 0;
	open_outputs = NULL;
	for (i = 0; i < outs->n; i++)
		outs->w[i]->ops->destroy(outs->w[i]);
	outs->n = 0;
	if (outs->main_out == stdout && (fflush(stdout) || ferror(stdout))) {
		fprintf(stderr, "%s: writing to standard output: %s\n", outs->prog,
			strerror(errno));
		ret = -1;
	}
	outs->main_out = NULL;
	return ret;
}
