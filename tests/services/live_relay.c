// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * live_relay: the tiny service of the live integration test.
 *
 *   live_relay PORT [UPSTREAM_IP:PORT]
 *
 * Thread per connection. Each request is one line; the relay burns a little
 * CPU (so on-CPU time is non-zero), forwards the line to the upstream over
 * a keep-alive connection of its own when it has one, and answers
 * "ok <line>" (or the upstream's answer prefixed). A line protocol keeps
 * every transfer small and every hop easy to predict.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN 512

static struct sockaddr_in upstream;
static int have_upstream;

/* Reads one '\n'-terminated line with a single-byte-free buffered read. */
struct line_reader {
	int fd;
	char buf[LINE_MAX_LEN * 2];
	size_t len;
};

static ssize_t read_line(struct line_reader *r, char *out, size_t cap)
{
	for (;;) {
		char *nl = memchr(r->buf, '\n', r->len);
		ssize_t n;

		if (nl) {
			size_t l = nl - r->buf + 1;

			if (l >= cap)
				return -1;
			memcpy(out, r->buf, l);
			out[l] = '\0';
			memmove(r->buf, r->buf + l, r->len - l);
			r->len -= l;
			return l;
		}
		if (r->len == sizeof(r->buf))
			return -1;
		n = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len);
		if (n <= 0)
			return n;
		r->len += n;
	}
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return -1;
		p += w;
		n -= w;
	}
	return 0;
}

static void burn_cpu_us(long us)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000 < us);
}

static int connect_upstream(void)
{
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&upstream, sizeof(upstream))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void *serve(void *arg)
{
	struct line_reader client = { .fd = (int)(long)arg };
	struct line_reader up = { .fd = -1 };
	char line[LINE_MAX_LEN], reply[LINE_MAX_LEN * 2 + 8];
	int one = 1;

	setsockopt(client.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (read_line(&client, line, sizeof(line)) > 0) {
		burn_cpu_us(300);
		if (have_upstream) {
			char down[LINE_MAX_LEN];

			if (up.fd < 0 && (up.fd = connect_upstream()) < 0)
				break;
			if (write_all(up.fd, line, strlen(line)) ||
			    read_line(&up, down, sizeof(down)) <= 0)
				break;
			snprintf(reply, sizeof(reply), "via %s", down);
		} else {
			snprintf(reply, sizeof(reply), "ok %s", line);
		}
		if (write_all(client.fd, reply, strlen(reply)))
			break;
	}
	if (up.fd >= 0)
		close(up.fd);
	close(client.fd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int one = 1, lfd;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: live_relay PORT [UPSTREAM_IP:PORT]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	sin.sin_port = htons(atoi(argv[1]));
	if (argc == 3) {
		char ip[64], *colon;

		snprintf(ip, sizeof(ip), "%s", argv[2]);
		colon = strrchr(ip, ':');
		if (!colon) {
			fprintf(stderr, "live_relay: %s: expected IP:PORT\n", argv[2]);
			return 2;
		}
		*colon = '\0';
		upstream.sin_family = AF_INET;
		upstream.sin_port = htons(atoi(colon + 1));
		if (inet_pton(AF_INET, ip, &upstream.sin_addr) != 1) {
			fprintf(stderr, "live_relay: %s: not an IPv4 address\n", ip);
			return 2;
		}
		have_upstream = 1;
	}
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) || listen(lfd, 64)) {
		fprintf(stderr, "live_relay: port %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	for (;;) {
		int cfd = accept(lfd, NULL, NULL);
		pthread_t t;

		if (cfd < 0)
			continue;
		if (pthread_create(&t, NULL, serve, (void *)(long)cfd)) {
			close(cfd);
			continue;
		}
		pthread_detach(t);
	}
}
