/*
 * Model 3: single-threaded epoll event loop with a keep-alive upstream pool.
 *
 * One thread multiplexes every client. A request is forwarded on one of -w
 * persistent upstream connections (round robin, HTTP pipelining): requests
 * of different clients, hence different traces, interleave on one upstream
 * connection, and replies come back in order. When a request's downstream
 * calls are done, the loop replies to its client. Only http downstreams.
 */
#include <sys/epoll.h>
#include "svc_common.h"

#define MAX_PENDING 256

static struct svc_opts opts;
static int epfd;

enum kind { K_LISTEN, K_CLIENT, K_UPSTREAM };

struct client {
	enum kind kind;
	int fd;
	struct svc_rbuf rb;
	char peer[SVC_ADDR_LEN], local[SVC_ADDR_LEN];
	bool busy, dead;
	int next_down;
	struct svc_truth t;
};

struct upstream {
	enum kind kind;
	int fd, down;
	struct svc_rbuf rb;
	struct client *pending[MAX_PENDING];	/* FIFO of requests awaiting replies */
	int head, count;
};

static struct upstream *ups[SVC_MAX_DOWN][64];
static unsigned int rr[SVC_MAX_DOWN];
static enum kind listen_kind = K_LISTEN;

/*
 * CPU time per request on a thread that serves them all: each stretch of work
 * done for one client (from a parsed request or reply to the next wait) is a
 * segment, added to that request's cpu_ns when the segment ends.
 */
static struct client *seg_client;
static uint64_t seg_cpu0;

static void seg_begin(struct client *cl)
{
	seg_client = cl;
	seg_cpu0 = svc_thread_cpu_ns();
}

static void seg_end(void)
{
	if (seg_client)
		seg_client->t.cpu_ns += svc_thread_cpu_ns() - seg_cpu0;
	seg_client = NULL;
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void free_client(struct client *cl)
{
	if (seg_client == cl)
		seg_client = NULL;
	epoll_ctl(epfd, EPOLL_CTL_DEL, cl->fd, NULL);
	close(cl->fd);
	free(cl);
}

static struct upstream *get_upstream(int d)
{
	int k = (int)(rr[d]++ % (unsigned int)opts.workers);
	struct upstream *u = ups[d][k];
	struct epoll_event ev = { .events = EPOLLIN };

	if (u)
		return u;
	u = calloc(1, sizeof(*u));
	if (!u)
		svc_die("out of memory");
	u->kind = K_UPSTREAM;
	u->down = d;
	u->fd = svc_connect(opts.down[d].addr);
	if (u->fd < 0)
		svc_die("upstream %s unreachable", opts.down[d].addr);
	set_nonblock(u->fd);
	ev.data.ptr = u;
	epoll_ctl(epfd, EPOLL_CTL_ADD, u->fd, &ev);
	ups[d][k] = u;
	return u;
}

static void handle_client_input(struct client *cl);

static void finish(struct client *cl)
{
	char reply[2048];
	int len;

	cl->busy = false;
	if (cl->dead) {
		free_client(cl);
		return;
	}
	len = svc_format_response(reply, sizeof(reply), cl->t.id, opts.name, opts.pad);
	if (svc_send_all(cl->fd, reply, (size_t)len) < 0) {
		free_client(cl);
		return;
	}
	cl->t.send_ns = svc_now_ns();
	seg_end();
	svc_truth_write(&cl->t);
	handle_client_input(cl);	/* a pipelined request may be waiting */
}

/* Sends the request's next downstream call, or replies when all are done. */
static void next_call(struct client *cl)
{
	struct upstream *u;
	struct svc_call *c;
	char req[512];
	int len;

	if (cl->next_down >= opts.n_down || cl->t.n_calls >= SVC_MAX_CALLS) {
		finish(cl);
		return;
	}
	u = get_upstream(cl->next_down);
	if (u->count == MAX_PENDING)
		svc_die("upstream queue full");
	c = &cl->t.calls[cl->t.n_calls];
	c->kind = "http";
	c->tid = cl->t.tid;
	snprintf(c->peer, sizeof(c->peer), "%s", opts.down[u->down].addr);
	svc_local_addr(u->fd, c->local, sizeof(c->local));
	len = svc_format_request(req, sizeof(req), cl->t.id, opts.name);
	c->start_ns = svc_now_ns();
	if (svc_send_all(u->fd, req, (size_t)len) < 0)
		svc_die("upstream %s: send failed", c->peer);
	u->pending[(u->head + u->count++) % MAX_PENDING] = cl;
}

static void handle_upstream_input(struct upstream *u)
{
	for (;;) {
		ssize_t got = recv(u->fd, u->rb.data + u->rb.len, sizeof(u->rb.data) - 1 - u->rb.len,
				   0);
		long m;

		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (got <= 0)
			svc_die("upstream %s closed", opts.down[u->down].addr);
		u->rb.len += (size_t)got;
		while ((m = svc_parse_response(u->rb.data, u->rb.len)) > 0) {
			struct client *cl;

			svc_rbuf_consume(&u->rb, (size_t)m);
			if (!u->count)
				svc_die("reply with no request pending");
			cl = u->pending[u->head];
			u->head = (u->head + 1) % MAX_PENDING;
			u->count--;
			seg_begin(cl);
			cl->t.calls[cl->t.n_calls++].end_ns = svc_now_ns();
			cl->next_down++;
			next_call(cl);
			seg_end();
		}
		if (m < 0)
			svc_die("bad reply from upstream");
	}
}

/* Starts the next complete request in the client's buffer, if not busy. */
static void handle_client_input(struct client *cl)
{
	struct svc_truth *t = &cl->t;
	long m;

	if (cl->busy)
		return;
	memset(t, 0, sizeof(*t));
	m = svc_parse_request(cl->rb.data, cl->rb.len, t->id, sizeof(t->id));
	if (m < 0) {
		free_client(cl);
		return;
	}
	if (m == 0)
		return;
	svc_rbuf_consume(&cl->rb, (size_t)m);
	seg_begin(cl);
	t->svc = opts.name;
	t->model = "evloop";
	t->pid = getpid();
	t->tid = svc_gettid();
	t->recv_ns = svc_now_ns();
	snprintf(t->client, sizeof(t->client), "%s", cl->peer);
	snprintf(t->local, sizeof(t->local), "%s", cl->local);
	cl->busy = true;
	cl->next_down = 0;
	svc_busy_us(opts.work_us);
	next_call(cl);
	seg_end();
}

static void client_readable(struct client *cl)
{
	for (;;) {
		ssize_t got = recv(cl->fd, cl->rb.data + cl->rb.len,
				   sizeof(cl->rb.data) - 1 - cl->rb.len, 0);

		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (got <= 0 || cl->rb.len + (size_t)got >= sizeof(cl->rb.data) - 1) {
			if (cl->busy) {
				/* the reply is still coming from upstream: free then */
				epoll_ctl(epfd, EPOLL_CTL_DEL, cl->fd, NULL);
				cl->dead = true;
			} else {
				free_client(cl);
			}
			return;
		}
		cl->rb.len += (size_t)got;
	}
	handle_client_input(cl);
}

int main(int argc, char **argv)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int lfd;

	svc_prog = "svc_evloop";
	svc_parse_opts(argc, argv, &opts,
		       "Model 3: one epoll thread, -w pipelined upstream connections.\n");
	if (opts.workers > 64)
		svc_die("at most 64 upstream connections");
	for (int i = 0; i < opts.n_down; i++)
		if (strcmp(opts.down[i].kind, "http"))
			svc_die("model 3 supports http downstreams only");
	lfd = svc_listen(opts.listen);
	set_nonblock(lfd);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		svc_die("epoll_create1: %s", strerror(errno));
	ev.data.ptr = &listen_kind;
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(epfd, evs, 64, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			svc_die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			enum kind k = *(enum kind *)evs[i].data.ptr;

			if (k == K_LISTEN) {
				int fd, one = 1;

				while ((fd = accept(lfd, NULL, NULL)) >= 0) {
					struct client *cl = calloc(1, sizeof(*cl));
					struct epoll_event cev = { .events = EPOLLIN };

					if (!cl)
						svc_die("out of memory");
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					set_nonblock(fd);
					cl->kind = K_CLIENT;
					cl->fd = fd;
					svc_peer_addr(fd, cl->peer, sizeof(cl->peer));
					svc_local_addr(fd, cl->local, sizeof(cl->local));
					cev.data.ptr = cl;
					epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &cev);
				}
			} else if (k == K_CLIENT) {
				client_readable(evs[i].data.ptr);
			} else {
				handle_upstream_input(evs[i].data.ptr);
			}
		}
	}
}
