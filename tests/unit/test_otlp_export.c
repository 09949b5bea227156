/*
 * The OTLP delivery thread against loopback collectors that answer, hang
 * (accept and never answer), refuse with a 4xx, or come up late: queueing
 * never waits on the network, the queue stays bounded, every trace is
 * counted as delivered, dropped or failed, and closing ends on time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "otlp_export.h"

enum server_mode { ANSWER_200, ANSWER_400, HANG };

struct server {
	int lfd;
	int port;
	enum server_mode mode;
	pthread_t thread;
	volatile int requests;
	char content_type[64];
	int held[64];		/* HANG: connections kept open, never answered */
	int n_held;
	volatile int stop;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads one request (headers and Content-Length bytes of body). */
static int read_request(int fd, struct server *s)
{
	char buf[65536];
	size_t got = 0;
	char *end, *cl, *ct;
	long body;
	ssize_t n;

	for (;;) {
		n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n <= 0)
			return -1;
		got += n;
		buf[got] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end)
			break;
	}
	cl = strcasestr(buf, "Content-Length:");
	ct = strcasestr(buf, "Content-Type: ");
	if (ct)
		sscanf(ct + 14, "%63[^\r]", s->content_type);
	body = cl ? atol(cl + 15) : 0;
	body -= (long)(got - (end + 4 - buf));
	while (body > 0) {
		n = recv(fd, buf, sizeof(buf) < (size_t)body ? sizeof(buf) : (size_t)body, 0);
		if (n <= 0)
			return -1;
		body -= n;
	}
	return 0;
}

static void *serve(void *arg)
{
	struct server *s = arg;

	while (!s->stop) {
		int fd = accept(s->lfd, NULL, NULL);

		if (fd < 0)
			continue;
		if (s->mode == HANG) {
			if (s->n_held < 64)
				s->held[s->n_held++] = fd;
			else
				close(fd);
			__sync_fetch_and_add(&s->requests, 1);
			continue;
		}
		if (!read_request(fd, s)) {
			const char *r = s->mode == ANSWER_200 ?
				"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" :
				"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";

			__sync_fetch_and_add(&s->requests, 1);
			if (send(fd, r, strlen(r), MSG_NOSIGNAL) < 0)
				perror("send");
		}
		close(fd);
	}
	return NULL;
}

/* port 0: any free port */
static void server_start(struct server *s, enum server_mode mode, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(port) };
	socklen_t al = sizeof(a);
	int one = 1;
	struct timeval tv = { 0, 100000 };

	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->lfd >= 0);
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* accept wakes up now and then to see the stop flag */
	setsockopt(s->lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->lfd, 64), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(struct server *s)
{
	int i;

	s->stop = 1;
	pthread_join(s->thread, NULL);
	for (i = 0; i < s->n_held; i++)
		close(s->held[i]);
	close(s->lfd);
}

static char *url_of(int port, char *buf, size_t len)
{
	snprintf(buf, len, "http://127.0.0.1:%d/v1/traces", port);
	return buf;
}

static void *payload(size_t len)
{
	char *p = malloc(len);

	assert_non_null(p);
	memset(p, 'x', len);
	return p;
}

/* A collector that answers: every payload delivered, in order, with its content type. */
static void test_delivers(void **state)
{
	struct krt_export_opts o = { .drain_ms = 5000 };
	struct krt_export_stats st;
	struct krt_export *e;
	struct server s;
	char url[64], err[128];
	int i;

	server_start(&s, ANSWER_200, 0);
	e = krt_export_new(url_of(s.port, url, sizeof(url)), &o, err, sizeof(err));
	assert_non_null(e);
	for (i = 0; i < 20; i++)
		assert_int_equal(krt_export_queue(e, "application/x-protobuf", payload(1000), 1000,
						  3), 0);
	krt_export_close(e, &st);
	server_stop(&s);
	assert_int_equal(st.queued_traces, 60);
	assert_int_equal(st.delivered_traces, 60);
	assert_int_equal(st.dropped_traces + st.failed_traces, 0);
	assert_int_equal(s.requests, 20);
	assert_string_equal(s.content_type, "application/x-protobuf");
}

/*
 * A collector that accepts and never answers: queueing never waits, the
 * queue holds its bound and drops the rest (counted), and closing ends
 * within the drain time plus one POST timeout.
 */
static void test_hung_collector_never_blocks(void **state)
{
	struct krt_export_opts o = { .post_timeout_ms = 300, .max_payloads = 4, .drain_ms = 400 };
	struct krt_export_stats st;
	struct krt_export *e;
	struct server s;
	char url[64], err[128];
	double t0, worst = 0, t;
	int i, dropped = 0;

	server_start(&s, HANG, 0);
	e = krt_export_new(url_of(s.port, url, sizeof(url)), &o, err, sizeof(err));
	assert_non_null(e);
	for (i = 0; i < 200; i++) {
		t0 = now_s();
		if (krt_export_queue(e, "application/json", payload(4096), 4096, 2))
			dropped++;
		t = now_s() - t0;
		if (t > worst)
			worst = t;
		if (i % 50 == 0)
			usleep(100000);	/* let the thread start its hung POSTs */
	}
	/* a lock and an append: far below one POST timeout */
	assert_true(worst < 0.05);
	assert_true(dropped >= 200 - 4 - 4);
	t0 = now_s();
	krt_export_close(e, &st);
	t = now_s() - t0;
	server_stop(&s);
	assert_true(t < (o.drain_ms + o.post_timeout_ms) / 1000.0 + 0.5);
	assert_true(s.requests >= 1);
	assert_int_equal(st.queued_traces, 400);
	assert_int_equal(st.delivered_traces, 0);
	assert_int_equal(st.dropped_traces, 2 * dropped);
	assert_int_equal(st.dropped_traces + st.failed_traces, 400);
	assert_true(st.max_queued_bytes <= 5 * 4096);
	assert_non_null(strstr(st.last_error, "timed out"));
}

/* The byte bound holds too: a payload larger than the queue is dropped, not kept. */
static void test_byte_bound(void **state)
{
	struct krt_export_opts o = { .max_bytes = 10000, .drain_ms = 100 };
	struct krt_export_stats st;
	struct krt_export *e;
	char err[128];

	/* port 1 on loopback: nothing listens, each POST is refused at once */
	e = krt_export_new("http://127.0.0.1:1/v1/traces", &o, err, sizeof(err));
	assert_non_null(e);
	assert_int_equal(krt_export_queue(e, "application/json", payload(20000), 20000, 7), -1);
	krt_export_close(e, &st);
	assert_int_equal(st.dropped_traces, 7);
}

/* A 4xx is final: one POST, its traces failed, no retry. */
static void test_4xx_not_retried(void **state)
{
	struct krt_export_opts o = { .drain_ms = 2000 };
	struct krt_export_stats st;
	struct krt_export *e;
	struct server s;
	char url[64], err[128];

	server_start(&s, ANSWER_400, 0);
	e = krt_export_new(url_of(s.port, url, sizeof(url)), &o, err, sizeof(err));
	assert_non_null(e);
	assert_int_equal(krt_export_queue(e, "application/json", payload(10), 10, 5), 0);
	krt_export_close(e, &st);
	server_stop(&s);
	assert_int_equal(st.failed_traces, 5);
	assert_int_equal(st.posts, 1);
	assert_int_equal(s.requests, 1);
	assert_non_null(strstr(st.last_error, "HTTP 400"));
}

/* A collector that comes up late: the payload is retried with back-off and delivered. */
static void test_reconnects_with_backoff(void **state)
{
	struct krt_export_opts o = { .backoff_min_ms = 50, .max_tries = 10, .drain_ms = 5000 };
	struct krt_export_stats st;
	struct krt_export *e;
	struct server s;
	char url[64], err[128];
	int port;

	/* a free port, closed again: connections to it are refused until the server starts */
	server_start(&s, ANSWER_200, 0);
	port = s.port;
	server_stop(&s);
	e = krt_export_new(url_of(port, url, sizeof(url)), &o, err, sizeof(err));
	assert_non_null(e);
	assert_int_equal(krt_export_queue(e, "application/json", payload(10), 10, 1), 0);
	usleep(300000);
	krt_export_stats(e, &st);
	assert_true(st.failed_posts >= 2);	/* 50 ms, 100 ms, ... */
	assert_true(st.failed_posts <= 4);	/* ... backed off, not spinning */
	server_start(&s, ANSWER_200, port);
	krt_export_close(e, &st);
	server_stop(&s);
	assert_int_equal(st.delivered_traces, 1);
	assert_int_equal(s.requests, 1);
}

static void test_bad_url(void **state)
{
	char err[128];

	assert_null(krt_export_new("https://x/v1/traces", NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "https://x/v1/traces"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delivers),
		cmocka_unit_test(test_hung_collector_never_blocks),
		cmocka_unit_test(test_byte_bound),
		cmocka_unit_test(test_4xx_not_retried),
		cmocka_unit_test(test_reconnects_with_backoff),
		cmocka_unit_test(test_bad_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
