/*
 * krt_load: counted HTTP requests through the gateway, each with its own
 * request id, logging client-side ground truth (local port, CLOCK_MONOTONIC
 * start/end) so the scorer can find the trace of every request.
 *
 * wrk measures throughput; this tool is for requests that must be counted
 * and matched one by one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 65536

static const char *target;
static struct sockaddr_in target_sa;
static const char *prefix = "r";
static long total = 10;
static int concurrency = 1;
static long per_conn;		/* requests per connection; 0 = all on one */
static unsigned int gap_us;
static int truth_fd = -1;
static int timeout_ms = 5000;
static atomic_long next_req;
static atomic_long n_ok, n_fail;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int open_conn(char *local, size_t len)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
	char ip[INET_ADDRSTRLEN];

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&target_sa, sizeof(target_sa)) < 0) {
		fprintf(stderr, "krt_load: connect %s: %s\n", target, strerror(errno));
		close(fd);
		return -1;
	}
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
	snprintf(local, len, "%s:%u", ip, ntohs(sa.sin_port));
	return fd;
}

/* Reads one HTTP response; returns its status code, or -1. */
static int read_response(int fd, char *buf)
{
	size_t len = 0, hl = 0;
	long cl = -1;

	for (;;) {
		ssize_t n;

		if (!hl) {
			char *e = memmem(buf, len, "\r\n\r\n", 4);

			if (e) {
				/* any case: the JDK writes "Content-length", uvicorn "content-length" */
				char *p;

				*e = 0;
				p = strcasestr(buf, "\r\ncontent-length:");
				*e = '\r';
				if (p)
					p += 2;
				hl = (size_t)(e - buf) + 4;
				cl = p ? strtol(p + 15, NULL, 10) : 0;
			}
		}
		if (hl && len >= hl + (size_t)cl)
			break;
		if (len >= BUF_SIZE - 1)
			return -1;
		n = recv(fd, buf + len, BUF_SIZE - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
	}
	buf[len] = 0;
	if (strncmp(buf, "HTTP/1.", 7))
		return -1;
	return atoi(buf + 9);
}

static void log_truth(const char *id, const char *local, uint64_t start, uint64_t end, int status)
{
	char line[512];
	int n;

	if (truth_fd < 0)
		return;
	n = snprintf(line, sizeof(line),
		     "{\"svc\":\"client\",\"id\":\"%s\",\"local\":\"%s\",\"peer\":\"%s\","
		     "\"start_ns\":%llu,\"end_ns\":%llu,\"status\":%d}\n",
		     id, local, target, (unsigned long long)start, (unsigned long long)end, status);
	if (write(truth_fd, line, (size_t)n) != n)
		fprintf(stderr, "krt_load: truth write: %s\n", strerror(errno));
}

static void *client_thread(void *arg)
{
	char *buf = malloc(BUF_SIZE);
	char local[64];
	long on_conn = 0;
	int fd = -1;

	if (!buf)
		return NULL;
	for (;;) {
		long i = atomic_fetch_add(&next_req, 1);
		char id[64], req[256];
		uint64_t start, end;
		int len, status;

		if (i >= total)
			break;
		if (fd >= 0 && per_conn && on_conn >= per_conn) {
			close(fd);
			fd = -1;
		}
		if (fd < 0) {
			fd = open_conn(local, sizeof(local));
			on_conn = 0;
			if (fd < 0) {
				atomic_fetch_add(&n_fail, 1);
				usleep(100000);
				continue;
			}
		}
		snprintf(id, sizeof(id), "%s%06ld", prefix, i);
		len = snprintf(req, sizeof(req),
			       "GET /req/%s HTTP/1.1\r\nHost: krt\r\nX-Request-Id: %s\r\n\r\n", id, id);
		start = now_ns();
		if (send(fd, req, (size_t)len, MSG_NOSIGNAL) != len)
			status = -1;
		else
			status = read_response(fd, buf);
		end = now_ns();
		on_conn++;
		log_truth(id, local, start, end, status);
		if (status == 200) {
			atomic_fetch_add(&n_ok, 1);
		} else {
			fprintf(stderr, "krt_load: request %s failed (status %d)\n", id, status);
			atomic_fetch_add(&n_fail, 1);
			close(fd);
			fd = -1;
		}
		if (gap_us)
			usleep(gap_us);
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static void usage(int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: krt_load -s IP:PORT [-n REQUESTS] [-c CONCURRENCY] [-k PER_CONN]\n"
		"                [-g GAP_US] [-p ID_PREFIX] [-t TRUTH.jsonl] [-T TIMEOUT_MS]\n"
		"Sends REQUESTS HTTP requests (GET /req/<id>), CONCURRENCY at a time, each\n"
		"connection carrying PER_CONN requests (0 = all: keep-alive). Writes one JSON\n"
		"line per request (id, local ip:port, CLOCK_MONOTONIC start/end) to TRUTH.\n"
		"Exits 1 if any request failed.\n"
		"example: krt_load -s 172.24.0.2:80 -n 100 -c 4 -t client.jsonl\n");
	exit(rc);
}

int main(int argc, char **argv)
{
	pthread_t th[256];
	const char *truth = NULL;
	uint64_t t0, t1;
	int c;

	while ((c = getopt(argc, argv, "s:n:c:k:g:p:t:T:h")) != -1) {
		switch (c) {
		case 's': target = optarg; break;
		case 'n': total = atol(optarg); break;
		case 'c': concurrency = atoi(optarg); break;
		case 'k': per_conn = atol(optarg); break;
		case 'g': gap_us = (unsigned int)atoi(optarg); break;
		case 'p': prefix = optarg; break;
		case 't': truth = optarg; break;
		case 'T': timeout_ms = atoi(optarg); break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (!target || optind != argc || total < 0 || concurrency < 1 || concurrency > 256 ||
	    per_conn < 0 || timeout_ms <= 0)
		usage(2);
	{
		char ip[64];
		const char *colon = strrchr(target, ':');

		if (!colon || (size_t)(colon - target) >= sizeof(ip))
			usage(2);
		memcpy(ip, target, (size_t)(colon - target));
		ip[colon - target] = 0;
		target_sa.sin_family = AF_INET;
		target_sa.sin_port = htons((uint16_t)atoi(colon + 1));
		if (inet_pton(AF_INET, ip, &target_sa.sin_addr) != 1 || !target_sa.sin_port) {
			fprintf(stderr, "krt_load: bad target '%s' (want IP:PORT)\n", target);
			return 2;
		}
	}
	if (truth) {
		truth_fd = open(truth, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (truth_fd < 0) {
			fprintf(stderr, "krt_load: %s: %s\n", truth, strerror(errno));
			return 2;
		}
	}
	t0 = now_ns();
	for (int i = 0; i < concurrency; i++)
		if (pthread_create(&th[i], NULL, client_thread, NULL)) {
			fprintf(stderr, "krt_load: pthread_create failed\n");
			return 2;
		}
	for (int i = 0; i < concurrency; i++)
		pthread_join(th[i], NULL);
	t1 = now_ns();
	fprintf(stderr, "krt_load: %ld ok, %ld failed, %.3f s, %.0f req/s\n", atomic_load(&n_ok),
		atomic_load(&n_fail), (double)(t1 - t0) / 1e9,
		(double)atomic_load(&n_ok) * 1e9 / (double)(t1 - t0 ? t1 - t0 : 1));
	return atomic_load(&n_fail) ? 1 : 0;
}
