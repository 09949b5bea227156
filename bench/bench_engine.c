/*
 * Engine throughput benchmark (not a test): a synthetic stream of requests
 * gateway -> web -> api -> redis -> api -> web -> gateway across worker
 * threads, keep-alive ingress connections and pooled upstream connections,
 * with sched_switch around every hop. Prints events/s of krt_engine_feed().
 *
 * usage: bench_engine [REQUESTS] [--no-linger] [--seq]
 *   REQUESTS   requests to feed (default 500000, ~22 events each)
 *   --no-linger keep every trace until the final flush (import mode)
 *   --seq      live-path events with TCP sequence numbers
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../tests/unit/engine_test_helpers.h"

#define WINDOW_REQS 4096 /* requests generated once and replayed */
#define WORKERS 8
#define CLIENTS 256
#define REQ_NS 20000 /* one request every 20 us of event time */

struct stream {
	struct krt_event *v;
	size_t n, cap;
	bool seq;
	__u32 seqs[2][WORKERS][2]; /* [web-api, api-redis][worker][dir] */
};

static void push(struct stream *s, struct krt_event ev)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4096;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v) {
			perror("bench_engine: realloc");
			exit(1);
		}
	}
	s->v[s->n++] = ev;
}

/* A send and its receive on a pooled connection; seq numbers when live. */
static void xfer_pair(struct stream *s, __u64 ts, __u32 from, __u32 to, struct krt_addr a,
		      struct krt_addr b, __u64 bytes, __u32 *seq)
{
	struct krt_event snd = ev_send(ts, from, a, b, bytes);
	struct krt_event rcv = ev_recv(ts + 500, to, b, a, bytes);

	if (s->seq) {
		snd = ev_seq(snd, *seq);
		rcv = ev_seq(rcv, *seq);
		*seq += bytes;
	}
	push(s, snd);
	push(s, ev_switch(ts + 400, from, 1, to));
	push(s, rcv);
}

static void gen_request(struct stream *s, __u64 i, __u64 t0)
{
	__u32 w = i % WORKERS;
	__u32 web_tid = 1000 + w, api_tid = 2000 + w, redis_tid = 3000;
	struct krt_addr client = ip4(172, 24, 0, 1, 40000 + i % CLIENTS);
	struct krt_addr web80 = ip4(172, 24, 0, 2, 80);
	struct krt_addr web_up = ip4(172, 24, 0, 2, 50000 + w);
	struct krt_addr api8080 = ip4(172, 24, 0, 3, 8080);
	struct krt_addr api_up = ip4(172, 24, 0, 3, 51000 + w);
	struct krt_addr redis = ip4(172, 24, 0, 4, 6379);
	__u64 ts = t0;

	push(s, ev_switch(ts, 0, 0, web_tid));
	push(s, ev_recv(ts + 1000, web_tid, web80, client, 300));
	xfer_pair(s, ts + 2000, web_tid, api_tid, web_up, api8080, 350, &s->seqs[0][w][0]);
	xfer_pair(s, ts + 4000, api_tid, redis_tid, api_up, redis, 40, &s->seqs[1][w][0]);
	xfer_pair(s, ts + 6000, redis_tid, api_tid, redis, api_up, 120, &s->seqs[1][w][1]);
	xfer_pair(s, ts + 8000, api_tid, web_tid, api8080, web_up, 900, &s->seqs[0][w][1]);
	push(s, ev_send(ts + 10000, web_tid, web80, client, 1000));
	push(s, ev_switch(ts + 11000, web_tid, 1, 0));
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	__u64 requests = 500000, fed = 0, i, round;
	bool linger = true;
	struct stream s = {0};
	struct krt_pids pids = {0};
	struct krt_container c;
	struct collected col = {0};
	struct krt_engine_config cfg;
	struct krt_engine *e;
	struct krt_summary *sum;
	double t0, t1, elapsed;
	int a;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--no-linger"))
			linger = false;
		else if (!strcmp(argv[a], "--seq"))
			s.seq = true;
		else if (argv[a][0] >= '0' && argv[a][0] <= '9')
			requests = strtoull(argv[a], NULL, 10);
		else {
			fprintf(stderr, "usage: %s [REQUESTS] [--no-linger] [--seq]\n", argv[0]);
			return 2;
		}
	}
	memset(&c, 0, sizeof(c));
	for (i = 0; i < 3; i++) {
		c.pid = 1000 * (i + 1);
		snprintf(c.name, sizeof(c.name), "svc%llu", (unsigned long long)i);
		c.ip = ip4(172, 24, 0, 2 + i, 0);
		krt_pids_add(&pids, &c);
	}
	for (i = 0; i < WINDOW_REQS; i++)
		gen_request(&s, i, i * REQ_NS);

	memset(&cfg, 0, sizeof(cfg));
	cfg.gateway = ip4(172, 24, 0, 1, 0);
	cfg.pids = &pids;
	cfg.linger_ns = linger ? 2000000 : 0; /* 2 ms of event time */
	cfg.on_trace = collect_trace;
	cfg.cb_ctx = &col;
	e = krt_engine_new(&cfg);

	elapsed = 0;
	for (round = 0; fed < requests; round++) {
		__u64 shift = round * WINDOW_REQS * REQ_NS;

		t0 = now_s();
		for (i = 0; i < s.n; i++) {
			struct krt_event ev = s.v[i];

			ev.ts_ns += shift;
			krt_engine_feed(e, &ev);
		}
		elapsed += now_s() - t0;
		fed += WINDOW_REQS;
		/* live: the next round continues each connection's sequence space */
		if (s.seq) {
			s.n = 0;
			for (i = 0; i < WINDOW_REQS; i++)
				gen_request(&s, i, i * REQ_NS);
		}
	}
	t0 = now_s();
	krt_engine_flush(e);
	t1 = now_s() - t0 + elapsed;
	t0 = 0;

	sum = krt_engine_summary(e);
	printf("bench_engine: %llu requests, %llu events, %llu traces, %llu hops in %.3f s\n",
	       (unsigned long long)fed, (unsigned long long)sum->events,
	       (unsigned long long)sum->traces, (unsigned long long)sum->hops, t1 - t0);
	printf("bench_engine: %.2f M events/s, %.0f traces/s (%s%s)\n",
	       sum->events / (t1 - t0) / 1e6, sum->traces / (t1 - t0),
	       linger ? "linger 2 ms" : "no linger", s.seq ? ", seq" : "");
	if (sum->traces != fed || sum->unmatched_recv_bytes || sum->late_events)
		printf(
		    "bench_engine: WARNING: traces %llu of %llu, unmatched recv %llu, late %llu\n",
		    (unsigned long long)sum->traces, (unsigned long long)fed,
		    (unsigned long long)sum->unmatched_recv_bytes,
		    (unsigned long long)sum->late_events);
	krt_engine_free(e);
	krt_pids_free(&pids);
	free(s.v);
	return 0;
}
