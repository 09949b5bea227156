/*
 * Shared plumbing of the KRTrace test services (the programs in tests/services/).
 *
 * Every service is one small program; what they share lives here as static
 * inline functions (each .c is its own binary, there is no service library).
 *
 * Protocol: HTTP/1.1 subset with keep-alive and pipelining. A request is
 *   GET /req/<id> HTTP/1.1\r\nHost: h\r\nX-Request-Id: <id>\r\n\r\n
 * and a reply carries Content-Length. The request id travels in the URL and
 * the header, so every tier (nginx included) can log it.
 *
 * Ground truth: one JSON line per request and service, appended with a single
 * write() to the truth file (O_APPEND, so lines of concurrent threads never
 * mix). Times are CLOCK_MONOTONIC ns, the clock of ftrace "mono" and BPF.
 * The header also compiles as C++ (the Thrift services include it).
 */
#ifndef KRT_SVC_COMMON_H
#define KRT_SVC_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SVC_ID_LEN 64
#define SVC_ADDR_LEN 48
#define SVC_MAX_CALLS 8
#define SVC_MAX_DOWN 4
#define SVC_BUF 16384

static const char *svc_prog = "svc";

static inline void svc_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", svc_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static inline uint64_t svc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time (user + system) of the calling thread. */
static inline uint64_t svc_thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline int svc_gettid(void)
{
	return (int)syscall(SYS_gettid);
}

/* Burns CPU for about us microseconds, so requests show on-CPU time. */
static inline void svc_busy_us(unsigned int us)
{
	uint64_t end = svc_now_ns() + (uint64_t)us * 1000;
	volatile unsigned long x = 0;

	while (svc_now_ns() < end)
		for (int i = 0; i < 200; i++)
			x = x + (unsigned long)i;
	(void)x;
}

static inline int svc_parse_addr(const char *s, struct sockaddr_in *sa)
{
	char ip[SVC_ADDR_LEN];
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (!colon || (size_t)(colon - s) >= sizeof(ip))
		return -1;
	memcpy(ip, s, (size_t)(colon - s));
	ip[colon - s] = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535)
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1)
		return -1;
	return 0;
}

static inline void svc_fmt_sa(const struct sockaddr_in *sa, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, ntohs(sa->sin_port));
}

static inline void svc_local_addr(int fd, char *buf, size_t len)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
		snprintf(buf, len, "?");
	else
		svc_fmt_sa(&sa, buf, len);
}

static inline void svc_peer_addr(int fd, char *buf, size_t len)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	if (getpeername(fd, (struct sockaddr *)&sa, &sl) < 0)
		snprintf(buf, len, "?");
	else
		svc_fmt_sa(&sa, buf, len);
}

static inline int svc_listen(const char *addr)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	if (svc_parse_addr(addr, &sa) < 0)
		svc_die("bad listen address '%s' (want IP:PORT)", addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		svc_die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		svc_die("bind %s: %s", addr, strerror(errno));
	if (listen(fd, 512) < 0)
		svc_die("listen %s: %s", addr, strerror(errno));
	return fd;
}

/* Connects with a few retries (the downstream may still be starting). */
static inline int svc_connect(const char *addr)
{
	struct sockaddr_in sa;
	int one = 1;

	if (svc_parse_addr(addr, &sa) < 0)
		svc_die("bad address '%s' (want IP:PORT)", addr);
	for (int attempt = 0; attempt < 50; attempt++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0)
			svc_die("socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			return fd;
		}
		close(fd);
		usleep(100000);
	}
	fprintf(stderr, "%s: connect %s: %s\n", svc_prog, addr, strerror(errno));
	return -1;
}

/* Sends everything; on a non-blocking socket waits for room (event loop). */
static inline int svc_send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			poll(&pfd, 1, 1000);
			continue;
		}
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A receive buffer that keeps bytes of the next pipelined message. */
struct svc_rbuf {
	char data[SVC_BUF];
	size_t len;
};

static inline void svc_rbuf_consume(struct svc_rbuf *rb, size_t n)
{
	memmove(rb->data, rb->data + n, rb->len - n);
	rb->len -= n;
}

/* Finds "\r\n\r\n"; returns the header length including it, or 0. */
static inline size_t svc_header_end(const char *buf, size_t len)
{
	for (size_t i = 3; i < len; i++)
		if (buf[i - 3] == '\r' && buf[i - 2] == '\n' && buf[i - 1] == '\r' && buf[i] == '\n')
			return i + 1;
	return 0;
}

/*
 * Parses one complete HTTP request at the start of buf. Returns its length,
 * 0 if incomplete, -1 if malformed. The id comes from "/req/<id>".
 */
static inline long svc_parse_request(const char *buf, size_t len, char *id, size_t idlen)
{
	size_t hl = svc_header_end(buf, len);
	const char *p, *e;

	if (!hl)
		return len >= SVC_BUF - 1 ? -1 : 0;
	p = (const char *)memmem(buf, hl, "/req/", 5);
	if (!p)
		return -1;
	p += 5;
	e = p;
	while (e < buf + hl && *e != ' ' && *e != '?' && *e != '\r')
		e++;
	if ((size_t)(e - p) >= idlen || e == p)
		return -1;
	memcpy(id, p, (size_t)(e - p));
	id[e - p] = 0;
	return (long)hl;
}

/* Parses one complete HTTP response (with Content-Length). Same returns. */
static inline long svc_parse_response(const char *buf, size_t len)
{
	size_t hl = svc_header_end(buf, len);
	const char *p;
	long cl = 0;

	if (!hl)
		return len >= SVC_BUF - 1 ? -1 : 0;
	p = (const char *)memmem(buf, hl, "Content-Length:", 15);
	if (p)
		cl = strtol(p + 15, NULL, 10);
	if (cl < 0 || hl + (size_t)cl >= SVC_BUF)
		return -1;
	if (len < hl + (size_t)cl)
		return 0;
	return (long)(hl + (size_t)cl);
}

/*
 * Reads until parse() finds a complete message; *first_ns is the time the
 * first bytes of it arrived. Returns the message length, 0 on EOF, -1 on error.
 */
static inline long svc_read_msg(int fd, struct svc_rbuf *rb, char *id, size_t idlen,
				uint64_t *first_ns)
{
	uint64_t first = rb->len ? svc_now_ns() : 0;

	for (;;) {
		long m = id ? svc_parse_request(rb->data, rb->len, id, idlen)
			    : svc_parse_response(rb->data, rb->len);
		ssize_t n;

		if (m != 0) {
			if (first_ns)
				*first_ns = first;
			return m;
		}
		n = recv(fd, rb->data + rb->len, sizeof(rb->data) - 1 - rb->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? 0 : -1;
		if (!first)
			first = svc_now_ns();
		rb->len += (size_t)n;
	}
}

static inline int svc_format_request(char *buf, size_t len, const char *id, const char *host)
{
	return snprintf(buf, len, "GET /req/%s HTTP/1.1\r\nHost: %s\r\nX-Request-Id: %s\r\n\r\n",
			id, host, id);
}

static inline int svc_format_response(char *buf, size_t len, const char *id, const char *svc,
				      unsigned int pad)
{
	char body[1024];
	int bl;

	if (pad > 900)
		pad = 900;
	bl = snprintf(body, sizeof(body), "id=%s svc=%s %.*s\n", id, svc, (int)pad,
		      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	return snprintf(buf, len,
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
			"Connection: keep-alive\r\n\r\n%s",
			bl, body);
}

/* One downstream call of a request, as the ground truth records it. */
struct svc_call {
	char peer[SVC_ADDR_LEN];	/* the callee's listening end */
	char local[SVC_ADDR_LEN];	/* our end of the connection used */
	const char *kind;		/* "http", "redis" or "memcache" */
	bool oneway;			/* no reply expected (memcached noreply) */
	int tid;			/* thread that made the call */
	uint64_t start_ns, end_ns;	/* first send .. reply complete (one-way: sent) */
};

struct svc_truth {
	const char *svc, *model;
	char id[SVC_ID_LEN];
	int pid, tid;			/* tid: the thread that replied */
	int io_tid;			/* thread that read the request (0 = tid) */
	char client[SVC_ADDR_LEN];	/* peer that sent the request */
	char local[SVC_ADDR_LEN];	/* our end of that connection */
	uint64_t recv_ns, send_ns;	/* request's first bytes in; reply sent */
	uint64_t cpu_ns;		/* CPU time thread tid spent on this request */
	int n_calls;
	struct svc_call calls[SVC_MAX_CALLS];
};

static int svc_truth_fd = -1;

static inline void svc_truth_open(const char *path)
{
	if (!path)
		return;
	svc_truth_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (svc_truth_fd < 0)
		svc_die("%s: %s", path, strerror(errno));
}

static inline void svc_truth_write(const struct svc_truth *t)
{
	char line[4096];
	int n;

	if (svc_truth_fd < 0)
		return;
	n = snprintf(line, sizeof(line),
		     "{\"svc\":\"%s\",\"model\":\"%s\",\"id\":\"%s\",\"pid\":%d,\"tid\":%d,"
		     "\"io_tid\":%d,\"client\":\"%s\",\"local\":\"%s\",\"recv_ns\":%llu,"
		     "\"send_ns\":%llu,\"cpu_ns\":%llu,\"calls\":[",
		     t->svc, t->model, t->id, t->pid, t->tid, t->io_tid ? t->io_tid : t->tid,
		     t->client, t->local, (unsigned long long)t->recv_ns,
		     (unsigned long long)t->send_ns, (unsigned long long)t->cpu_ns);
	for (int i = 0; i < t->n_calls && n < (int)sizeof(line) - 256; i++) {
		const struct svc_call *c = &t->calls[i];

		n += snprintf(line + n, sizeof(line) - (size_t)n,
			      "%s{\"kind\":\"%s\",\"peer\":\"%s\",\"local\":\"%s\",\"tid\":%d,"
			      "\"start_ns\":%llu,\"end_ns\":%llu%s}",
			      i ? "," : "", c->kind, c->peer, c->local, c->tid,
			      (unsigned long long)c->start_ns, (unsigned long long)c->end_ns,
			      c->oneway ? ",\"oneway\":true" : "");
	}
	n += snprintf(line + n, sizeof(line) - (size_t)n, "]}\n");
	if (write(svc_truth_fd, line, (size_t)n) != n)
		fprintf(stderr, "%s: truth write: %s\n", svc_prog, strerror(errno));
}

/* A downstream service: "http:IP:PORT", "redis:IP:PORT", "memcache:IP:PORT" or "thrift:IP:PORT". */
struct svc_down {
	const char *kind;
	char addr[SVC_ADDR_LEN];
};

static inline void svc_parse_down(const char *s, struct svc_down *d)
{
	struct sockaddr_in sa;

	if (!strncmp(s, "http:", 5))
		d->kind = "http";
	else if (!strncmp(s, "redis:", 6))
		d->kind = "redis";
	else if (!strncmp(s, "memcache:", 9))
		d->kind = "memcache";
	else if (!strncmp(s, "thrift:", 7))
		d->kind = "thrift";	/* thrift_front's own client, not svc_call_down */
	else
		svc_die("bad downstream '%s' (want http:, redis:, memcache: or thrift:IP:PORT)", s);
	snprintf(d->addr, sizeof(d->addr), "%s", strchr(s, ':') + 1);
	if (svc_parse_addr(d->addr, &sa) < 0)
		svc_die("bad downstream address '%s'", d->addr);
}

/* Reads one RESP reply (simple string, error, integer or bulk string). */
static inline long svc_parse_resp(const char *buf, size_t len)
{
	const char *nl = (const char *)memchr(buf, '\n', len);
	long bl;

	if (!nl)
		return len >= SVC_BUF - 1 ? -1 : 0;
	if (buf[0] != '$')
		return nl - buf + 1;
	bl = strtol(buf + 1, NULL, 10);
	if (bl < 0)
		return nl - buf + 1;
	if (len < (size_t)(nl - buf + 1) + (size_t)bl + 2)
		return 0;
	return (nl - buf + 1) + bl + 2;
}

/* Reads one memcached reply to a get: "END\r\n", or VALUE lines and data, then END. */
static inline long svc_parse_mc(const char *buf, size_t len)
{
	const char *end = (const char *)memmem(buf, len, "END\r\n", 5);

	if (!end)
		return len >= SVC_BUF - 1 ? -1 : 0;
	return end - buf + 5;
}

/*
 * One synchronous downstream call on an open connection: an HTTP GET; a
 * redis SET followed by a GET (two round trips, one logged call each); or a
 * memcached get followed by "set ... noreply" (cache-aside: fill after the
 * miss), a one-way message: the next request on this pooled connection gets
 * the next reply, which answers its own get, not this set.
 * Returns the number of calls recorded, or -1 when the connection broke.
 */
static inline int svc_call_down(int fd, struct svc_rbuf *rb, const struct svc_down *d,
				const char *id, const char *host, struct svc_call *out, int max)
{
	char req[512];
	bool http = !strcmp(d->kind, "http"), mc = !strcmp(d->kind, "memcache");
	int len, n = 0, rounds = http ? 1 : 2;

	for (int r = 0; r < rounds && n < max; r++) {
		struct svc_call *c = &out[n];
		long m;

		c->oneway = mc && r == 1;
		if (http)
			len = svc_format_request(req, sizeof(req), id, host);
		else if (mc && r == 0)
			len = snprintf(req, sizeof(req), "get krt:%s\r\n", id);
		else if (mc)
			len = snprintf(req, sizeof(req), "set krt:%s 0 0 %zu noreply\r\n%s\r\n", id,
				       strlen(id), id);
		else if (r == 0)
			len = snprintf(req, sizeof(req),
				       "*3\r\n$3\r\nSET\r\n$%zu\r\nkrt:%s\r\n$%zu\r\n%s\r\n",
				       strlen(id) + 4, id, strlen(id), id);
		else
			len = snprintf(req, sizeof(req), "*2\r\n$3\r\nGET\r\n$%zu\r\nkrt:%s\r\n",
				       strlen(id) + 4, id);
		c->kind = d->kind;
		c->tid = svc_gettid();
		snprintf(c->peer, sizeof(c->peer), "%s", d->addr);
		svc_local_addr(fd, c->local, sizeof(c->local));
		c->start_ns = svc_now_ns();
		if (svc_send_all(fd, req, (size_t)len) < 0)
			return -1;
		if (c->oneway) {
			c->end_ns = svc_now_ns();
			n++;
			continue;
		}
		for (;;) {
			ssize_t got;

			m = http ? svc_parse_response(rb->data, rb->len)
			    : mc ? svc_parse_mc(rb->data, rb->len)
				 : svc_parse_resp(rb->data, rb->len);
			if (m < 0)
				return -1;
			if (m > 0)
				break;
			got = recv(fd, rb->data + rb->len, sizeof(rb->data) - 1 - rb->len, 0);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				return -1;
			rb->len += (size_t)got;
		}
		svc_rbuf_consume(rb, (size_t)m);
		c->end_ns = svc_now_ns();
		n++;
	}
	return n;
}

/* Common options of the services. */
struct svc_opts {
	const char *listen;		/* -l IP:PORT */
	const char *name;		/* -n NAME (svc field of the truth) */
	const char *truth;		/* -t FILE */
	struct svc_down down[SVC_MAX_DOWN];	/* -d KIND:IP:PORT, repeatable */
	int n_down;
	int workers;			/* -w N: pool size (models 2, 4), upstream pool (3) */
	unsigned int work_us;		/* -c US: CPU work per request */
	unsigned int pad;		/* -p BYTES: reply padding */
};

static inline void svc_usage(const char *extra)
{
	fprintf(stderr,
		"usage: %s -l IP:PORT [-n NAME] [-t TRUTH.jsonl] [-d http:IP:PORT|redis:IP:PORT]...\n"
		"          [-w WORKERS] [-c CPU_US] [-p PAD_BYTES]\n%s",
		svc_prog, extra ? extra : "");
	exit(2);
}

static inline void svc_parse_opts(int argc, char **argv, struct svc_opts *o, const char *extra)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->name = svc_prog;
	o->workers = 4;
	o->pad = 64;
	while ((c = getopt(argc, argv, "l:n:t:d:w:c:p:h")) != -1) {
		switch (c) {
		case 'l': o->listen = optarg; break;
		case 'n': o->name = optarg; break;
		case 't': o->truth = optarg; break;
		case 'd':
			if (o->n_down == SVC_MAX_DOWN)
				svc_die("at most %d downstreams", SVC_MAX_DOWN);
			svc_parse_down(optarg, &o->down[o->n_down++]);
			break;
		case 'w': o->workers = atoi(optarg); break;
		case 'c': o->work_us = (unsigned int)atoi(optarg); break;
		case 'p': o->pad = (unsigned int)atoi(optarg); break;
		default: svc_usage(extra);
		}
	}
	if (!o->listen || optind != argc || o->workers < 1 || o->workers > 256)
		svc_usage(extra);
	signal(SIGPIPE, SIG_IGN);
	svc_truth_open(o->truth);
}

#endif
