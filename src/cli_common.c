/*
 * Output options shared by krtrace and krtrace-bpf: parsing them, opening
 * the files and building the writers, and fanning each trace out to them.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
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
};

const struct option krt_output_long_options[] = {
	{ "json", no_argument, NULL, OPT_JSON },
	{ "raw", no_argument, NULL, 'R' },
	{ "color", no_argument, NULL, 'C' },
	{ "output", required_argument, NULL, 'o' },
	{ "chrome", required_argument, NULL, OPT_CHROME },
	{ "dot", required_argument, NULL, OPT_DOT },
	{ "trace", required_argument, NULL, OPT_TRACE },
	{ "html", required_argument, NULL, OPT_HTML },
	{ "otlp", required_argument, NULL, OPT_OTLP },
	{ "otlp-endpoint", required_argument, NULL, OPT_OTLP_ENDPOINT },
	{ "otlp-protocol", required_argument, NULL, OPT_OTLP_PROTOCOL },
	{ NULL, 0, NULL, 0 },
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
	"                           (--otlp FILE is always OTLP/JSON lines)\n";

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
			fprintf(stderr, "--otlp-endpoint: '%s': only http:// URLs are supported\n", arg);
			return -1;
		}
		o->otlp_endpoint = arg;
		return 1;
	case OPT_OTLP_PROTOCOL:
		if (!strcmp(arg, "http/protobuf")) {
			o->otlp_protobuf = true;
		} else if (!strcmp(arg, "http/json")) {
			o->otlp_protobuf = false;
		} else {
			fprintf(stderr, "--otlp-protocol: '%s': expected http/protobuf or http/json\n",
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
 * larger buffer (stream mode still flushes every trace).
 */
#define OUTPUT_BUFFER (256 * 1024)

static FILE *open_output(const char *prog, const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
	else
		setvbuf(f, NULL, _IOFBF, OUTPUT_BUFFER);
	return f;
}

static int add_writer(struct krt_outputs *outs, struct krt_writer *w, FILE *owned,
		      const char *prog, const char *what)
{
	if (!w) {
		fprintf(stderr, "%s: cannot create the %s writer: out of memory\n", prog, what);
		if (owned)
			fclose(owned);
		return -1;
	}
	if (owned)
		w->owns_out = true;
	outs->w[outs->n++] = w;
	return 0;
}

/* A file writer: open FILE, build the writer around it. */
#define ADD_FILE_WRITER(path, what, ctor_call)                                  \
	do {                                                                    \
		FILE *f_ = open_output(prog, (path));                           \
		if (!f_)                                                        \
			goto fail;                                              \
		struct krt_writer *w_ = (ctor_call);                           \
		if (add_writer(outs, w_, f_, prog, (what)))                     \
			goto fail;                                              \
	} while (0)

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
		.host = o->host_name,
	};
	struct krt_writer *w;

	memset(outs, 0, sizeof(*outs));
	if (o->raw && o->json) {
		fprintf(stderr, "%s: -R and --json both write the main output: choose one\n", prog);
		return -1;
	}
	if (o->dot_trace && !o->dot_path) {
		fprintf(stderr, "%s: --trace needs --dot FILE\n", prog);
		return -1;
	}
	outs->main_out = stdout;
	if (o->out_path && strcmp(o->out_path, "-")) {
		outs->main_out = open_output(prog, o->out_path);
		if (!outs->main_out)
			return -1;
	}
	outs->color = color_wanted(o, outs->main_out);
	/* -V lines between JSON or TSV records would break their readers: stderr then. */
	if (o->verbose_pass)
		outs->verbose_out = o->json || o->raw ? stderr : outs->main_out;

	if (o->json)
		w = krt_writer_json_new(outs->main_out);
	else if (o->raw)
		w = krt_writer_raw_new(outs->main_out);
	else
		w = krt_writer_text_new(outs->main_out, outs->color);
	if (add_writer(outs, w, NULL, prog, "main"))
		goto fail;

	if (o->chrome_path) {
		ADD_FILE_WRITER(o->chrome_path, "Chrome trace", krt_writer_chrome_new(f_));
		outs->need_slices = true;
	}
	if (o->dot_path)
		ADD_FILE_WRITER(o->dot_path, "DOT", krt_writer_dot_new(f_, o->dot_trace));
	if (o->html_path) {
		ADD_FILE_WRITER(o->html_path, "HTML", krt_writer_html_new(f_, "KRTrace report"));
		outs->need_slices = true;	/* the report draws timelines */
	}
	if (o->otlp_path)
		ADD_FILE_WRITER(o->otlp_path, "OTLP", krt_writer_otlp_new_cfg(f_, &otlp));
	else if (o->otlp_endpoint &&
		 add_writer(outs, krt_writer_otlp_new_cfg(NULL, &otlp), NULL, prog, "OTLP"))
		goto fail;
	return 0;

fail:
	while (outs->n > 0) {
		w = outs->w[--outs->n];
		w->ops->destroy(w);
	}
	if (outs->main_out != stdout)
		fclose(outs->main_out);
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

/* retsnoop style: losses are never silent, whatever the output format. */
static void warn_losses(const struct krt_summary *s)
{
	const struct krt_source_stats *src = &s->source;

	if (krt_summary_lost(s))
		fprintf(stderr, "WARNING: %" PRIu64 " events lost by the source: "
			"traces may be incomplete\n", (uint64_t)krt_summary_lost(s));
	if (src->ring_drops)
		fprintf(stderr, "WARNING: %" PRIu64 " records dropped, ring buffer full\n",
			(uint64_t)src->ring_drops);
	if (src->map_full)
		fprintf(stderr, "WARNING: %" PRIu64 " BPF map insertions failed, map full\n",
			(uint64_t)src->map_full);
	if (s->dropped_segments)
		fprintf(stderr, "WARNING: %" PRIu64 " send segments dropped by the engine "
			"(queue cap or idle connection): some hops may be missing\n",
			(uint64_t)s->dropped_segments);
}

int krt_outputs_close(struct krt_outputs *outs, const struct krt_summary *s)
{
	static const struct krt_summary none;
	int i, ret = 0;

	for (i = 0; i < outs->n; i++) {
		struct krt_writer *w = outs->w[i];

		/*
		 * Without a summary (the run failed), the main output gets no
		 * summary, but files are still completed so that they parse.
		 */
		if (s) {
			if (w->ops->finish(w, s))
				ret = -1;
		} else if (w->out != outs->main_out) {
			w->ops->finish(w, &none);
		}
		w->ops->destroy(w);
	}
	outs->n = 0;
	if (s)
		warn_losses(s);
	if (outs->main_out) {
		if (fflush(outs->main_out) || ferror(outs->main_out)) {
			fprintf(stderr, "krtrace: writing the output: %s\n", strerror(errno));
			ret = -1;
		}
		if (outs->main_out != stdout && fclose(outs->main_out))
			ret = -1;
		outs->main_out = NULL;
	}
	return ret;
}
