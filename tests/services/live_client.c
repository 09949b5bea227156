// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * live_client: drives the live integration test.
 *
 *   live_client IP PORT N [PER_CONNECTION]
 *
 * Sends N one-line requests "req-K", PER_CONNECTION (default 1) on each
 * connection (keep-alive when > 1), one at a time, and checks each answer
 * names its request. Exit status 0 only when every answer came back right.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int read_line(int fd, char *out, size_t cap)
{
	size_t n = 0;

	/* Answers are short and strictly request/response: byte-exact reads are fine. */
	while (n + 1 < cap) {
		ssize_t r = read(fd, out + n, cap - 1 - n);

		if (r <= 0)
			return -1;
		n += r;
		if (out[n - 1] == '\n')
			break;
	}
	out[n] = '\0';
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int n, per_conn = 1, k, fd = -1, one = 1, bad = 0;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: live_client IP PORT N [PER_CONNECTION]\n");
		return 2;
	}
	if (inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1) {
		fprintf(stderr, "live_client: %s: not an IPv4 address\n", argv[1]);
		return 2;
	}
	sin.sin_port = htons(atoi(argv[2]));
	n = atoi(argv[3]);
	if (argc == 5)
		per_conn = atoi(argv[4]);
	if (n <= 0 || per_conn <= 0) {
		fprintf(stderr, "live_client: N and PER_CONNECTION must be positive\n");
		return 2;
	}
	for (k = 0; k < n; k++) {
		char req[64], ans[1024];

		if (fd < 0) {
			fd = socket(AF_INET, SOCK_STREAM, 0);
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin))) {
				perror("live_client: connect");
				return 1;
			}
		}
		snprintf(req, sizeof(req), "req-%d\n", k);
		if (write(fd, req, strlen(req)) != (ssize_t)strlen(req) ||
		    read_line(fd, ans, sizeof(ans))) {
			fprintf(stderr, "live_client: request %d: no answer\n", k);
			return 1;
		}
		req[strlen(req) - 1] = '\0';
		if (!strstr(ans, req) || ans[strlen(ans) - strlen(req) - 2] != ' ') {
			fprintf(stderr, "live_client: request %d: wrong answer '%s'\n", k, ans);
			bad++;
		}
		fputs(ans, stdout);
		if ((k + 1) % per_conn == 0) {
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	return bad ? 1 : 0;
}
