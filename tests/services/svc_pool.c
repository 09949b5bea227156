/*
 * Model 2: thread pool with hand-off.
 *
 * One I/O thread owns every client connection (epoll): it reads a request and
 * queues it (mutex + condition variable) to the worker pool. A worker makes
 * the downstream calls over its own connections and writes the reply on the
 * client connection itself. The hand-off goes through a futex, not a socket:
 * a tracer that only follows bytes loses the request at the queue.
 */
#include <pthread.h>
#include <sys/epoll.h>
#include "svc_common.h"

static struct svc_opts opts;
static int epfd;
static int io_tid;

struct client {
	int fd;
	struct svc_rbuf rb;
	char peer[SVC_ADDR_LEN], local[SVC_ADDR_LEN];
};

struct job {
	struct client *cl;
	char id[SVC_ID_LEN];
	uint64_t recv_ns;
	struct job *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t ready;
	struct job *head, *tail;
} queue = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL };

static void enqueue(struct job *j)
{
	pthread_mutex_lock(&queue.lock);
	j->next = NULL;
	if (queue.tail)
		queue.tail->next = j;
	else
		queue.head = j;
	queue.tail = j;
	pthread_cond_signal(&queue.ready);
	pthread_mutex_unlock(&queue.lock);
}

static struct job *dequeue(void)
{
	struct job *j;

	pthread_mutex_lock(&queue.lock);
	while (!queue.head)
		pthread_cond_wait(&queue.ready, &queue.lock);
	j = queue.head;
	queue.head = j->next;
	if (!queue.head)
		queue.tail = NULL;
	pthread_mutex_unlock(&queue.lock);
	return j;
}

static void close_client(struct client *cl)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, cl->fd, NULL);
	close(cl->fd);
	free(cl);
}

/* Gives the connection back to the I/O thread (one-shot: one reader at a time). */
static void rearm(struct client *cl)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = cl };

	if (epoll_ctl(epfd, EPOLL_CTL_MOD, cl->fd, &ev) < 0)
		close_client(cl);
}

/* I/O thread: the request is complete in cl->rb? Queue it; else read more. */
static void try_dispatch(struct client *cl, uint64_t first_ns)
{
	struct job *j = calloc(1, sizeof(*j));
	long m;

	if (!j)
		svc_die("out of memory");
	m = svc_parse_request(cl->rb.data, cl->rb.len, j->id, sizeof(j->id));
	if (m < 0) {
		free(j);
		close_client(cl);
		return;
	}
	if (m == 0) {
		free(j);
		rearm(cl);
		return;
	}
	svc_rbuf_consume(&cl->rb, (size_t)m);
	j->cl = cl;
	j->recv_ns = first_ns;
	enqueue(j);
}

static void *worker(void *arg)
{
	int down_fd[SVC_MAX_DOWN];
	struct svc_rbuf *down_rb = calloc(SVC_MAX_DOWN, sizeof(*down_rb));

	if (!down_rb)
		svc_die("out of memory");
	for (int i = 0; i < SVC_MAX_DOWN; i++)
		down_fd[i] = -1;
	for (;;) {
		struct job *j = dequeue();
		uint64_t cpu0 = svc_thread_cpu_ns();
		struct client *cl = j->cl;
		struct svc_truth t = { .svc = opts.name, .model = "pool" };
		char reply[2048];
		int len;

		snprintf(t.id, sizeof(t.id), "%s", j->id);
		t.pid = getpid();
		t.tid = svc_gettid();
		t.io_tid = io_tid;
		t.recv_ns = j->recv_ns;
		snprintf(t.client, sizeof(t.client), "%s", cl->peer);
		snprintf(t.local, sizeof(t.local), "%s", cl->local);
		free(j);
		svc_busy_us(opts.work_us);
		for (int i = 0; i < opts.n_down; i++) {
			int n = -1;

			if (down_fd[i] < 0)
				down_fd[i] = svc_connect(opts.down[i].addr);
			if (down_fd[i] >= 0)
				n = svc_call_down(down_fd[i], &down_rb[i], &opts.down[i], t.id,
						  opts.name, &t.calls[t.n_calls],
						  SVC_MAX_CALLS - t.n_calls);
			if (n < 0) {
				fprintf(stderr, "%s: downstream %s broke\n", svc_prog,
					opts.down[i].addr);
				if (down_fd[i] >= 0)
					close(down_fd[i]);
				down_fd[i] = -1;
				down_rb[i].len = 0;
				break;
			}
			t.n_calls += n;
		}
		len = svc_format_response(reply, sizeof(reply), t.id, opts.name, opts.pad);
		if (svc_send_all(cl->fd, reply, (size_t)len) < 0) {
			close_client(cl);
			continue;
		}
		t.send_ns = svc_now_ns();
		t.cpu_ns = svc_thread_cpu_ns() - cpu0;	/* the worker's part */
		svc_truth_write(&t);
		if (svc_parse_request(cl->rb.data, cl->rb.len, t.id, sizeof(t.id)) > 0)
			try_dispatch(cl, svc_now_ns());	/* pipelined: next one is here */
		else
			rearm(cl);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int lfd;

	svc_prog = "svc_pool";
	svc_parse_opts(argc, argv, &opts, "Model 2: I/O thread hands requests to a worker pool.\n");
	lfd = svc_listen(opts.listen);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		svc_die("epoll_create1: %s", strerror(errno));
	ev.data.ptr = NULL;
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
	io_tid = svc_gettid();
	for (int i = 0; i < opts.workers; i++) {
		pthread_t th;

		if (pthread_create(&th, NULL, worker, NULL) != 0)
			svc_die("pthread_create failed");
		pthread_detach(th);
	}
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(epfd, evs, 64, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			svc_die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			struct client *cl = evs[i].data.ptr;
			ssize_t got;

			if (!cl) {
				int fd = accept(lfd, NULL, NULL), one = 1;
				struct epoll_event cev = { .events = EPOLLIN | EPOLLONESHOT };

				if (fd < 0)
					continue;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				cl = calloc(1, sizeof(*cl));
				if (!cl)
					svc_die("out of memory");
				cl->fd = fd;
				svc_peer_addr(fd, cl->peer, sizeof(cl->peer));
				svc_local_addr(fd, cl->local, sizeof(cl->local));
				cev.data.ptr = cl;
				epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &cev);
				continue;
			}
			got = recv(cl->fd, cl->rb.data + cl->rb.len,
				   sizeof(cl->rb.data) - 1 - cl->rb.len, 0);
			if (got <= 0) {
				close_client(cl);
				continue;
			}
			cl->rb.len += (size_t)got;
			try_dispatch(cl, svc_now_ns());
		}
	}
}
