/* Minimal HTTP/1.1 POST over TCP: connect with a deadline, send, read the status line. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "http_post.h"

int krt_http_parse_url(const char *url, struct krt_http_url *u)
{
	const char *p, *host_end, *port = NULL, *path;
	size_t n;

	memset(u, 0, sizeof(*u));
	if (strncmp(url, "http://", 7))
		return -1;
	p = url + 7;
	path = strchr(p, '/');
	if (!path)
		path = p + strlen(p);
	if (*p == '[') {
		host_end = memchr(p, ']', path - p);
		if (!host_end)
			return -1;
		n = host_end - (p + 1);
		if (!n || n >= sizeof(u->host))
			return -1;
		memcpy(u->host, p + 1, n);
		if (host_end[1] == ':')
			port = host_end + 2;
		else if (host_end + 1 != path)
			return -1;
	} else {
		host_end = memchr(p, ':', path - p);
		if (host_end)
			port = host_end + 1;
		else
			host_end = path;
		n = host_end - p;
		if (!n || n >= sizeof(u->host))
			return -1;
		memcpy(u->host, p, n);
	}
	if (port) {
		n = path - port;
		if (!n || n >= sizeof(u->port) || strspn(port, "0123456789") < n)
			return -1;
		memcpy(u->port, port, n);
	} else {
		strcpy(u->port, "80");
	}
	if (!*path)
		path = "/";
	if (strlen(path) >= sizeof(u->path))
		return -1;
	strcpy(u->path, path);
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or the deadline passes. 0 ready, -1 timeout/error. */
static int wait_fd(int fd, short events, long long deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	long long left;
	int r;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = poll(&pfd, 1, (int)left);
		if (r > 0)
			return 0;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

static int connect_to(const struct krt_http_url *u, long long deadline, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res, *ai;
	int fd = -1, r, soerr;
	socklen_t sl = sizeof(soerr);

	r = getaddrinfo(u->host, u->port, &hints, &res);
	if (r) {
		snprintf(err, errlen, "%s: %s", u->host, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		if (errno == EINPROGRESS && !wait_fd(fd, POLLOUT, deadline) &&
		    !getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl)) {
			if (!soerr)
				break;
			errno = soerr;
		}
		snprintf(err, errlen, "connect to %s port %s: %s", u->host, u->port,
			 strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int send_all(int fd, const char *buf, size_t len, long long deadline)
{
	ssize_t n;

	while (len) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    !wait_fd(fd, POLLOUT, deadline))
			continue;
		return -1;
	}
	return 0;
}

/* Reads until the status line is complete; returns the status code or -1. */
static int read_status(int fd, long long deadline, char *err, size_t errlen)
{
	char buf[512];
	size_t got = 0;
	ssize_t n;
	int status;

	while (got < sizeof(buf) - 1) {
		n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n > 0) {
			got += n;
			buf[got] = '\0';
			if (strchr(buf, '\n'))
				break;
			continue;
		}
		if (n == 0)
			break;
		if (errno == EINTR)
			continue;
		if ((errno == EAGAIN || errno == EWOULDBLOCK) && !wait_fd(fd, POLLIN, deadline))
			continue;
		snprintf(err, errlen, "reading the response: %s", strerror(errno));
		return -1;
	}
	buf[got] = '\0';
	if (sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1 || status < 100 || status > 999) {
		snprintf(err, errlen,
			 got ? "not an HTTP response" : "connection closed without a response");
		return -1;
	}
	return status;
}

int krt_http_post(const char *url, const char *content_type, const void *body, size_t len,
		  int timeout_ms, char *err, size_t errlen)
{
	long long deadline = now_ms() + timeout_ms;
	struct krt_http_url u;
	char head[1024];
	int fd, n, status;
	bool v6;

	if (krt_http_parse_url(url, &u)) {
		snprintf(err, errlen, "'%s' is not an http://host[:port]/path URL", url);
		return -1;
	}
	fd = connect_to(&u, deadline, err, errlen);
	if (fd < 0)
		return -1;
	v6 = strchr(u.host, ':') != NULL;
	n = snprintf(head, sizeof(head),
		     "POST %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: krtrace/" KRT_VERSION
		     "\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		     u.path, v6 ? "[" : "", u.host, v6 ? "]" : "", u.port, content_type, len);
	if (n < 0 || (size_t)n >= sizeof(head)) {
		snprintf(err, errlen, "request header too long");
		close(fd);
		return -1;
	}
	if (send_all(fd, head, n, deadline) || send_all(fd, body, len, deadline)) {
		snprintf(err, errlen, "sending to %s port %s: %s", u.host, u.port, strerror(errno));
		close(fd);
		return -1;
	}
	status = read_status(fd, deadline, err, errlen);
	close(fd);
	if (status >= 0 && (status < 200 || status > 299))
		snprintf(err, errlen, "collector answered HTTP %d", status);
	return status;
}
