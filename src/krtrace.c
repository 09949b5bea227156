/*
 * krtrace: the ftrace import path.
 *
 *   krtrace -i pids.txt -g 172.24.0.1 trace.dat
 *   trace-cmd report [-R] -i trace.dat | krtrace -i pids.txt -g 172.24.0.1
 *
 * One straight line: trace.dat (libtracecmd) or report text (parser) ->
 * normaliser -> engine -> writers. Exit status: 0 ok, 1 unusable input,
 * 2 usage error.
 */
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "cli_common.h"
#include "compare.h"
#include "merge.h"
#include "peers.h"
#include "engine.h"
#include "ftrace_normalize.h"
#include "pids_file.h"
#include "report_parser.h"
#include "run_seen.h"
#include "tracedat_source.h"

#define PROG "krtrace"
#define EXIT_INPUT 1
#define EXIT_USAGE 2
/* --stream: a trace is complete after this much event time without activity. */
#define STREAM_LINGER_NS 2000000000ULL

enum {
	OPT_VERSION = 0x200,
	OPT_STREAM,
	OPT_PEERS,
};

static const struct option own_options[] = {
    {"pids", required_argument, NULL, 'i'},	 {"gateway", required_argument, NULL, 'g'},
    {"stream", no_argument, NULL, OPT_STREAM},	 {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION}, {"peers", required_argument, NULL, OPT_PEERS},
};

struct options {
	const char *pids_path;
	struct krt_addr gateway;
	bool have_gateway;
	bool stream;
	struct krt_peers peers; /* --peers: the other traced hosts' networks */
	const char *input;	/* NULL or "-" = stdin */
	struct krt_output_opts out;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: " PROG " -i PIDS -g GATEWAY [options] [FILE|-]\n"
	    "       " PROG " compare A.jsonl B.jsonl [--min PCT]\n"
	    "       " PROG " merge A.jsonl B.jsonl ... [-o FILE]   (one tracer per host, joined)\n"
	    "Reads an ftrace capture and prints, for every request that entered the\n"
	    "containers from the gateway, the threads that worked on it, their time, and\n"
	    "the flow of bytes between them. FILE is a trace.dat (read directly), or text:\n"
	    "`trace-cmd report` with or without -R, or the kernel's trace / trace_pipe\n"
	    "(the form is told line by line); stdin is text.\n"
	    "\n"
	    "Input:\n"
	    "  -i, --pids FILE          PIDs file: 'PID Container_Name Container_IP [Hash]' per "
	    "line\n"
	    "  -g, --gateway IP         the container network's gateway address (e.g. 172.24.0.1)\n"
	    "      --stream             print each trace once it is complete (2 s of trace time\n"
	    "                           without activity) instead of at the end\n"
	    "      --peers CIDR[,CIDR]  the other traced hosts' networks: their requests to this\n"
	    "                           host's servers start a trace here (for krtrace merge)\n"
	    "  -h, --help               this text\n"
	    "      --version            print the version\n"
	    "\n%s"
	    "\n"
	    "Exit status: 0 ok, 1 unusable input (bad PIDs file, unreadable or empty report),\n"
	    "2 usage error.\n"
	    "\n"
	    "EXAMPLES:\n"
	    "  " PROG " -i pids.txt -g 172.24.0.1 trace.dat              # the capture itself\n"
	    "  trace-cmd report -R -i trace.dat | grep -vEi '^cpu' | sed -E 's/,\\s*/,/g' > "
	    "report.txt\n"
	    "  " PROG " -i pids.txt -g 172.24.0.1 report.txt             # text, per trace\n"
	    "  cat report.txt | " PROG " -i pids.txt -g 172.24.0.1 --json -o traces.jsonl\n"
	    "  " PROG
	    " -i pids.txt -g 172.24.0.1 -V report.txt | less  # decisions, event by event\n"
	    "  " PROG " -i pids.txt -g 172.24.0.1 --chrome t.json --dot t.dot report.txt\n"
	    "  " PROG " compare live.jsonl import.jsonl --min 95\n",
	    krt_output_help);
}

/* Returns 0, or the exit status to use. */
static int parse_options(int argc, char **argv, struct options *o)
{
	struct option longopts[40];
	size_t n = 0, i;
	int opt, r;

	for (i = 0; i < sizeof(own_options) / sizeof(own_options[0]); i++)
		longopts[n++] = own_options[i];
	for (i = 0; krt_output_long_options[i].name && n < 39; i++)
		longopts[n++] = krt_output_long_options[i];
	memset(&longopts[n], 0, sizeof(longopts[n]));

	while ((opt = getopt_long(argc, argv, "i:g:h" KRT_OUTPUT_SHORT_OPTS, longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'i':
			o->pids_path = optarg;
			continue;
		case 'g':
			if (krt_addr_parse_ip(optarg, &o->gateway)) {
				fprintf(stderr,
					PROG ": --gateway: '%s' is not an IPv4 or IPv6 address\n",
					optarg);
				return EXIT_USAGE;
			}
			o->have_gateway = true;
			continue;
		case OPT_STREAM:
			o->stream = true;
			continue;
		case OPT_PEERS: {
			char err[160];

			if (krt_peers_add_list(&o->peers, optarg, err, sizeof(err))) {
				fprintf(stderr, PROG ": --peers: %s\n", err);
				return EXIT_USAGE;
			}
			continue;
		}
		case 'h':
			usage(stdout);
			exit(0);
		case OPT_VERSION:
			printf(PROG " %s (event ABI %d)\n", KRT_VERSION, KRT_ABI_VERSION);
			exit(0);
		case '?':
			fprintf(stderr, "Try '" PROG " --help'.\n");
			return EXIT_USAGE;
		}
		r = krt_output_opt(&o->out, opt, optarg);
		if (r < 0)
			return EXIT_USAGE;
		if (r == 0) {
			fprintf(stderr, PROG ": unexpected option\nTry '" PROG " --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		o->input = argv[optind++];
	if (optind < argc) {
		fprintf(stderr,
			PROG ": unexpected argument '%s' (one input file at most)\n"
			     "Try '" PROG " --help'.\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	if (krt_output_opts_check(&o->out, PROG))
		return EXIT_USAGE;
	if (!o->have_gateway) {
		fprintf(stderr, PROG ": --gateway IP is required (the container network's gateway, "
				     "e.g. 172.24.0.1)\nTry '" PROG " --help'.\n");
		return EXIT_USAGE;
	}
	if (!o->pids_path) {
		fprintf(stderr, PROG ": --pids FILE is required (lines 'PID Container_Name "
				     "Container_IP [Hash]')\nTry '" PROG " --help'.\n");
		return EXIT_USAGE;
	}
	return 0;
}

struct feed_ctx {
	struct krt_engine *engine;
	struct krt_seen seen; /* for a run that yields no trace */
};

static void feed_engine(const struct krt_event *ev, void *ctx)
{
	struct feed_ctx *f = ctx;

	krt_seen_event(&f->seen, ev);
	krt_engine_feed(f->engine, ev);
}

/* Losses and guesses are never silent: one line each on stderr. */
static void report_source(const struct krt_report_parser *p, const struct krt_norm_stats *ns)
{
	if (p->malformed)
		fprintf(stderr, PROG ": %s: %" PRIu64 " malformed line%s skipped%s\n", p->name,
			(uint64_t)p->malformed, p->malformed == 1 ? "" : "s",
			p->malformed > KRT_RP_MAX_REPORTED ? " (the first ones are shown above)"
							   : "");
	if (ns->unresolved_xfers)
		fprintf(stderr,
			PROG ": %s: %" PRIu64 " socket transfers whose connection "
			     "could not be told\n",
			p->name, (uint64_t)ns->unresolved_xfers);
	if (ns->reordered)
		fprintf(stderr, PROG ": %s: %" PRIu64 " events out of time order (clamped)\n",
			p->name, (uint64_t)ns->reordered);
	if (ns->no_address)
		fprintf(stderr,
			PROG ": %s: %" PRIu64 " tcp events without addresses: trace-cmd prints "
			     "some IPv6 addresses as strings, and these connections were never "
			     "seen with theirs\n",
			p->name, (uint64_t)ns->no_address);
	if (ns->table_full)
		fprintf(stderr, PROG ": %s: %" PRIu64 " times a state table reached its bound\n",
			p->name, (uint64_t)ns->table_full);
}

static int run(const struct options *o)
{
	struct krt_pids pids = {0};
	struct krt_outputs outs;
	struct krt_engine_config cfg;
	struct krt_engine *engine = NULL;
	struct feed_ctx fctx;
	struct krt_normalizer *norm = NULL;
	struct krt_report_parser parser;
	struct krt_summary *sum;
	const struct krt_norm_stats *ns;
	const char *name;
	FILE *in = stdin;
	char err[512];
	bool tracedat;
	int ret = EXIT_INPUT, rc;

	if (krt_pids_load(&pids, o->pids_path, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		return EXIT_INPUT;
	}
	tracedat = o->input && strcmp(o->input, "-") && krt_tracedat_is(o->input);
	if (tracedat) {
		name = o->input;
	} else if (o->input && strcmp(o->input, "-")) {
		in = fopen(o->input, "r");
		if (!in) {
			fprintf(stderr, PROG ": %s: %s\n", o->input, strerror(errno));
			krt_pids_free(&pids);
			return EXIT_INPUT;
		}
		name = o->input;
		posix_fadvise(fileno(in), 0, 0, POSIX_FADV_SEQUENTIAL);
	} else {
		name = "<stdin>";
	}
	if (krt_outputs_open(&outs, &o->out, PROG)) {
		ret = EXIT_INPUT;
		goto out_input;
	}

	memset(&cfg, 0, sizeof(cfg));
	cfg.gateway = o->gateway;
	cfg.peers = o->peers.n ? &o->peers : NULL;
	cfg.pids = &pids;
	cfg.verbose = outs.verbose_out;
	cfg.color = outs.color;
	cfg.linger_ns = o->stream ? STREAM_LINGER_NS : 0;
	cfg.keep_slices = outs.need_slices;
	cfg.on_trace = krt_outputs_on_trace;
	cfg.cb_ctx = &outs;
	engine = krt_engine_new(&cfg);
	fctx.engine = engine;
	krt_seen_init(&fctx.seen, &pids, true);
	norm = engine ? krt_norm_new(feed_engine, &fctx) : NULL;
	if (!engine || !norm) {
		fprintf(stderr, PROG ": out of memory\n");
		krt_outputs_close(&outs, NULL);
		goto out;
	}

	krt_norm_set_gateway(norm, &o->gateway);
	krt_norm_set_verbose(norm, outs.verbose_out);
	krt_rp_init(&parser, name, stderr);
	if (tracedat) {
		rc = krt_tracedat_read(name, &parser, krt_norm_record_cb, norm, err, sizeof(err));
		if (rc)
			fprintf(stderr, PROG ": %s\n", err);
	} else {
		rc = krt_rp_read_stream(&parser, in, krt_norm_record_cb, norm);
		if (rc)
			fprintf(stderr, PROG ": %s: read error: %s\n", name, strerror(errno));
	}
	if (rc) {
		krt_outputs_close(&outs, NULL);
		goto out;
	}
	krt_norm_finish(norm);
	ns = krt_norm_stats(norm);
	if (parser.bytes == 0 || parser.records == 0) {
		if (parser.bytes == 0)
			fprintf(stderr, PROG ": %s: empty input, no events\n", name);
		else
			fprintf(stderr,
				PROG ": %s: no events of the contract in %" PRIu64
				     " lines (%" PRIu64 " malformed, %" PRIu64
				     " unknown events): is it a trace.dat, or the text of "
				     "`trace-cmd report` or of the kernel's trace?\n",
				name, (uint64_t)parser.lines, (uint64_t)parser.malformed,
				(uint64_t)parser.unknown_events);
		krt_outputs_close(&outs, NULL);
		goto out;
	}
	krt_engine_flush(engine);

	sum = krt_engine_summary(engine);
	sum->source.lines = parser.lines;
	sum->source.bytes = parser.bytes;
	sum->source.malformed = parser.malformed;
	sum->source.unknown_events = parser.unknown_events;
	sum->source.lost_events = parser.lost_events;
	sum->source.unresolved_xfers = ns->unresolved_xfers;
	sum->duplicate_probes += ns->duplicate_probes;
	sum->source.non_socket_io = ns->non_socket_io;
	sum->source.ack_probes = ns->ack_probes;
	sum->source.unpaired_syscalls = ns->unpaired_syscalls;
	sum->source.no_address = ns->no_address;
	sum->source.reordered = ns->reordered;
	sum->source.table_full = ns->table_full;
	report_source(&parser, ns);
	if (sum->silent_losses)
		fprintf(stderr,
			PROG ": %s: WARNING: bytes on connections did not match up %" PRIu64
			     " time%s although no loss was reported: events were lost (the "
			     "'grep -v ^cpu' of the import format removes trace-cmd's "
			     "drop markers); traces near the gap may be incomplete\n",
			name, (uint64_t)sum->silent_losses, sum->silent_losses == 1 ? "" : "s");
	if (sum->resyncs)
		fprintf(stderr,
			PROG ": %s: %" PRIu64 " connection directions re-aligned (lost events or "
			     "bytes that did not fit): their stale bytes were dropped\n",
			name, (uint64_t)sum->resyncs);
	if (!sum->traces) {
		/* the summary still goes out; the files of an earlier run stay */
		krt_seen_explain(&fctx.seen, stderr, PROG, &o->gateway);
		outs.discard = true;
	} else {
		krt_seen_warn_pids(&fctx.seen, stderr, PROG);
	}
	ret = krt_outputs_close(&outs, sum) || !sum->traces ? EXIT_INPUT : 0;

out:
	krt_norm_free(norm);
	krt_engine_free(engine);
out_input:
	if (in != stdin)
		fclose(in);
	krt_pids_free(&pids);
	return ret;
}

/*
 * Interrupted, killed or its terminal gone: the run produced no result, so
 * the temporary files go and the earlier outputs stay as they were.
 */
static void on_signal(int sig)
{
	krt_outputs_abandon();
	_exit(128 + sig);
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};
	struct options o;
	int rc;

	if (argc > 1 && !strcmp(argv[1], "compare"))
		return krt_compare_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "merge"))
		return krt_merge_main(argc - 1, argv + 1);
	memset(&o, 0, sizeof(o));
	rc = parse_options(argc, argv, &o);
	if (rc)
		return rc;
	o.out.inputs[0] = o.pids_path;
	o.out.inputs[1] = o.input && strcmp(o.input, "-") ? o.input : NULL;
	o.out.main_in_place = o.stream;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return run(&o);
}
