/*
 * The live reader's engine and writers on a recorded live stream (not a
 * test): the events a krtrace-bpf run fed its engine (--debug
 * record-events=FILE) go through an engine configured as krtrace-bpf's
 * (kernel tags, the batch linger) and the output options given, once. The
 * recording is read into memory first: what is timed is the engine and
 * the writers at their steady state (their CPU time per event and per
 * trace, on stderr), without the ring, the machine's other tracers or its
 * load. Two builds' outputs of the same
 * recording compare byte for byte (only the summary's source counters,
 * which the recording has not, are zero).
 *
 * usage: bench_replay RECORDING PIDS GATEWAY [output options: --json -o FILE ...]
 * KRT_DROP_HIDDEN=CLASS,...: a class of hidden requests' records left out
 * (drop_hidden below). KRT_PAUSE_MS=A,B, KRT_START_MS=B: a closed sampling
 * window, or a late start (cut_window below).
 */
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../src/addr.h"
#include "../src/cli_common.h"
#include "../src/engine.h"
#include "../src/event_record.h"
#include "../src/pids_file.h"

/* krtrace-bpf's BATCH_LINGER_NS: a trace leaves 5 s of event time after its end */
#define LINGER_NS (5ULL * 1000 * 1000 * 1000)

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct krt_event *read_recording(const char *path, size_t *n)
{
	struct krt_event_record_header h;
	struct krt_event *v = NULL;
	size_t cap = 0, got;
	FILE *f = fopen(path, "r");

	*n = 0;
	if (!f) {
		fprintf(stderr, "bench_replay: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (fread(&h, sizeof(h), 1, f) != 1 ||
	    memcmp(h.magic, KRT_EVENT_RECORD_MAGIC, sizeof(h.magic))) {
		fprintf(stderr, "bench_replay: %s: not a recording of events\n", path);
		goto fail;
	}
	if (h.event_size != sizeof(struct krt_event)) {
		fprintf(stderr, "bench_replay: %s: events of %u bytes, this build's are %zu\n",
			path, h.event_size, sizeof(struct krt_event));
		goto fail;
	}
	for (;;) {
		if (*n == cap) {
			void *p = realloc(v, (cap = cap ? 2 * cap : 65536) * sizeof(*v));

			if (!p) {
				fprintf(stderr, "bench_replay: %s: out of memory\n", path);
				goto fail;
			}
			v = p;
		}
		got = fread(v + *n, sizeof(*v), cap - *n, f);
		*n += got;
		if (*n < cap)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "bench_replay: %s: %s\n", path, strerror(errno));
		goto fail;
	}
	fclose(f);
	return v;
fail:
	fclose(f);
	free(v);
	return NULL;
}

/*
 * KRT_DROP_HIDDEN=CLASS[,CLASS...]: leave out a class of the records of
 * hidden requests (--sample: unsampled requests recorded for the pool and
 * loop rules, whose door read is flagged KRT_XF_SAMPLED_OUT) before the
 * engine sees them. Whether the shown traces stay byte-identical tells
 * whether the kernel could stop recording that class (ids and tids are
 * kept in tables indexed by their low bits: an experiment's tool).
 */
#define DROP_SLOTS (1u << 22)

static const struct {
	const char *name, *what;
} drop_classes[] = {
    {"cpu", "CPU records of a hidden trace"},
    {"cpupool", "CPU records of a hidden trace, of its door's process only"},
    {"down", "tagged transfers of a hidden trace outside its door's process"},
    {"downsw", "switches and wake-ups of threads whose last tagged transfer was a "
	       "hidden trace's outside its door's process"},
    {"pool", "tagged transfers of a hidden trace in its door's process, the door read kept"},
    {"poolwake", "wake-ups by a thread of a door's process whose last tagged transfer "
		 "was a hidden trace's"},
};
/* bits in drop_classes' order */
enum {
	DROP_CPU = 1,
	DROP_CPUPOOL = 2,
	DROP_DOWN = 4,
	DROP_DOWNSW = 8,
	DROP_POOL = 16,
	DROP_POOLWAKE = 32
};

static int drop_parse(const char *list, unsigned int *what)
{
	char *d = strdup(list), *tok, *save = NULL;
	size_t i;

	*what = 0;
	for (tok = strtok_r(d, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < sizeof(drop_classes) / sizeof(drop_classes[0]); i++)
			if (!strcmp(tok, drop_classes[i].name))
				break;
		if (i == sizeof(drop_classes) / sizeof(drop_classes[0])) {
			fprintf(stderr, "bench_replay: KRT_DROP_HIDDEN: no class '%s'; classes:\n",
				tok);
			for (i = 0; i < sizeof(drop_classes) / sizeof(drop_classes[0]); i++)
				fprintf(stderr, "  %-9s %s\n", drop_classes[i].name,
					drop_classes[i].what);
			free(d);
			return -1;
		}
		*what |= 1u << i;
	}
	free(d);
	return 0;
}

static size_t drop_hidden(struct krt_event *v, size_t n, unsigned int what)
{
	static __u32 door_pid[DROP_SLOTS];   /* by hidden kernel id: its door's process */
	static __u8 down_hidden[DROP_SLOTS]; /* by tid: last tagged transfer a hidden
					      * trace's, outside its door's process */
	static __u8 pool_hidden[DROP_SLOTS]; /* the same, in its door's process */
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (v[i].type == KRT_EV_XFER && (v[i].xfer.flags & KRT_XF_TAGGED) &&
		    (v[i].xfer.flags & KRT_XF_SAMPLED_OUT) && v[i].xfer.trace_id)
			door_pid[v[i].xfer.trace_id % DROP_SLOTS] = v[i].pid;
	for (i = 0; i < n; i++) {
		struct krt_event *ev = &v[i];
		__u32 id, door;
		bool drop = false;

		switch (ev->type) {
		case KRT_EV_CPU:
			id = ev->oncpu.trace_id;
			door = id && id != KRT_CPU_FOLLOWS ? door_pid[id % DROP_SLOTS] : 0;
			drop = ((what & DROP_CPU) && door) ||
			       ((what & DROP_CPUPOOL) && door && door == ev->pid);
			break;
		case KRT_EV_XFER:
			if (!(ev->xfer.flags & KRT_XF_TAGGED))
				break;
			id = ev->xfer.trace_id;
			door = id ? door_pid[id % DROP_SLOTS] : 0;
			down_hidden[ev->tid % DROP_SLOTS] = door && door != ev->pid;
			pool_hidden[ev->tid % DROP_SLOTS] = door && door == ev->pid;
			if (door && door != ev->pid)
				drop = what & DROP_DOWN;
			else if (door && !(ev->xfer.flags & KRT_XF_SAMPLED_OUT))
				drop = what & DROP_POOL;
			break;
		case KRT_EV_SWITCH:
			drop = (what & DROP_DOWNSW) && down_hidden[ev->sw.prev_tid % DROP_SLOTS] &&
			       down_hidden[ev->sw.next_tid % DROP_SLOTS];
			break;
		case KRT_EV_WAKEUP:
			drop = ((what & DROP_DOWNSW) && down_hidden[ev->tid % DROP_SLOTS]) ||
			       ((what & DROP_POOLWAKE) && pool_hidden[ev->tid % DROP_SLOTS]);
			break;
		}
		if (!drop)
			v[k++] = *ev;
	}
	fprintf(stderr, "bench_replay: %zu of %zu events of hidden requests left out\n", n - k, n);
	return k;
}

/*
 * KRT_PAUSE_MS=A,B[,A,B...]: closed sampling windows cut into the
 * recording (ms after its first event): a KRT_EV_PAUSE at each A, the
 * events from A to B left out. KRT_START_MS=B: the events from B on only,
 * as a tracer started then sees them. The traces after a B of the two
 * runs compare: the engine after a pause against a fresh one
 * (docs/design.md, "Windowed sampling's pause (engine)").
 */
#define CUTS_MAX 256

static int parse_cuts(const char *list, __u64 t0, __u64 *a, __u64 *b)
{
	const char *p = list;
	int n = 0;

	while (*p && n < CUTS_MAX) {
		unsigned long long x, y;
		int used;

		if (sscanf(p, "%llu,%llu%n", &x, &y, &used) != 2 || y < x ||
		    (n && x < (b[n - 1] - t0) / 1000000ULL))
			return -1;
		a[n] = t0 + x * 1000000ULL;
		b[n++] = t0 + y * 1000000ULL;
		p += used;
		if (*p == ',')
			p++;
	}
	return *p ? -1 : n;
}

static struct krt_event *cut_window(struct krt_event *v, size_t *n, const char *pause,
				    const char *start)
{
	__u64 a[CUTS_MAX], b[CUTS_MAX], t0 = *n ? v[0].ts_ns : 0;
	unsigned long long from = 0;
	int cuts = 0, c = 0, paused = -1;
	struct krt_event *w;
	size_t i, k = 0, pauses = 0;

	if (pause)
		cuts = parse_cuts(pause, t0, a, b);
	else if (sscanf(start, "%llu", &from) != 1)
		cuts = -1;
	w = cuts < 0 ? NULL : malloc((*n + (size_t)cuts + 1) * sizeof(*w));
	if (!w) {
		fprintf(stderr, "bench_replay: KRT_PAUSE_MS=A,B[,A,B...] (each A <= B, in order) "
				"or KRT_START_MS=B, in ms after the first event\n");
		return NULL;
	}
	for (i = 0; i < *n; i++) {
		__u64 ts = v[i].ts_ns;

		/* each window's pause goes out once, before the first event after its start */
		for (; c < cuts && ts >= a[c]; c += ts >= b[c]) {
			if (paused != c) {
				memset(&w[k], 0, sizeof(w[k]));
				w[k].type = KRT_EV_PAUSE;
				w[k++].ts_ns = a[c];
				pauses++;
				paused = c;
			}
			if (ts < b[c])
				break;
		}
		if (c < cuts && ts >= a[c])
			continue; /* inside the window */
		if (!pause && ts < t0 + from * 1000000ULL)
			continue;
		w[k++] = v[i];
	}
	fprintf(stderr, "bench_replay: %zu of %zu events left out, %zu pauses\n", *n - (k - pauses),
		*n, pauses);
	free(v);
	*n = k;
	return w;
}

int main(int argc, char **argv)
{
	struct option longopts[40];
	struct krt_output_opts oo = {0};
	struct krt_engine_config cfg = {0};
	struct krt_outputs outs;
	struct krt_pids pids = {0};
	struct krt_engine *e;
	struct krt_event *ev;
	char err[256];
	size_t n, i, k = 0, steady = 0;
	__u64 traces, traces0 = 0;
	double t0, t1;
	int opt, ret;

	for (i = 0; krt_output_long_options[i].name && k < 39; i++)
		longopts[k++] = krt_output_long_options[i];
	memset(&longopts[k], 0, sizeof(longopts[k]));
	while ((opt = getopt_long(argc, argv, KRT_OUTPUT_SHORT_OPTS, longopts, NULL)) != -1)
		if (krt_output_opt(&oo, opt, optarg) != 1)
			return 2;
	if (argc - optind != 3) {
		fprintf(stderr,
			"usage: bench_replay RECORDING PIDS GATEWAY [--json -o FILE ...]\n");
		return 2;
	}
	if (krt_pids_load(&pids, argv[optind + 1], err, sizeof(err))) {
		fprintf(stderr, "bench_replay: %s\n", err);
		return 1;
	}
	if (krt_addr_parse_ip(argv[optind + 2], &cfg.gateway)) {
		fprintf(stderr, "bench_replay: bad gateway '%s'\n", argv[optind + 2]);
		return 2;
	}
	ev = read_recording(argv[optind], &n);
	if (!ev)
		return 1;
	if (getenv("KRT_DROP_HIDDEN")) {
		unsigned int what;

		if (drop_parse(getenv("KRT_DROP_HIDDEN"), &what))
			return 2;
		n = drop_hidden(ev, n, what);
	}
	if (getenv("KRT_PAUSE_MS") || getenv("KRT_START_MS")) {
		ev = cut_window(ev, &n, getenv("KRT_PAUSE_MS"),
				getenv("KRT_PAUSE_MS") ? NULL : getenv("KRT_START_MS"));
		if (!ev)
			return 2;
	}
	if (krt_outputs_open(&outs, &oo, "bench_replay"))
		return 1;
	cfg.pids = &pids;
	cfg.verbose = outs.verbose_out;
	cfg.color = outs.color;
	cfg.linger_ns = LINGER_NS;
	cfg.keep_slices = outs.need_slices;
	cfg.use_kernel_tags = true;
	cfg.on_trace = krt_outputs_on_trace;
	cfg.cb_ctx = &outs;
	t0 = cpu_s();
	e = krt_engine_new(&cfg);
	if (!e) {
		fprintf(stderr, "bench_replay: cannot create the engine\n");
		return 1;
	}
	/*
	 * Timed from the end of the first linger and a second on: before it
	 * the engine's memory grows (page faults of fresh heap), after it a
	 * live run's steady state, where traces leave as others come.
	 */
	for (i = 0; i < n; i++) {
		if (!steady && ev[i].ts_ns >= ev[0].ts_ns + LINGER_NS + 1000000000ULL) {
			steady = i;
			traces0 = krt_engine_summary(e)->traces;
			t0 = cpu_s();
		}
		krt_engine_feed(e, &ev[i]);
	}
	krt_engine_flush(e);
	ret = krt_outputs_close(&outs, krt_engine_summary(e)) ? 1 : 0;
	t1 = cpu_s();
	traces = krt_engine_summary(e)->traces - traces0;
	fprintf(stderr,
		"bench_replay: %zu events (%zu timed), %llu traces timed: %.3f s CPU, %.0f ns per "
		"event, %.2f us per trace\n",
		n, n - steady, (unsigned long long)traces, t1 - t0,
		n - steady ? (t1 - t0) * 1e9 / (n - steady) : 0, traces ? (t1 - t0) * 1e6 / traces : 0);
	krt_engine_free(e);
	krt_pids_free(&pids);
	free(ev);
	return ret;
}
