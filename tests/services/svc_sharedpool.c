/*
 * Model 4: several threads sharing one client-side connection pool.
 *
 * A thread per client connection (as in model 1), but the downstream
 * connections belong to a pool of -w connections per downstream shared by
 * all threads: a call borrows an idle connection, uses it, and gives it back.
 * One backend connection thus carries, one after another, the requests of
 * different threads and traces.
 */
#include <pthread.h>
#include "svc_common.h"

static struct svc_opts opts;

struct pooled {
	int fd;
	struct svc_rbuf rb;
	struct pooled *next;
};

static struct pool {
	pthread_mutex_t lock;
	pthread_cond_t idle_cv;
	struct pooled *idle;	/* LIFO: the most recently used first */
	int open;		/* connections created so far */
} pools[SVC_MAX_DOWN];

static struct pooled *borrow(int d)
{
	struct pool *p = &pools[d];
	struct pooled *c = NULL;

	pthread_mutex_lock(&p->lock);
	while (!p->idle && p->open >= opts.workers)
		pthread_cond_wait(&p->idle_cv, &p->lock);
	if (p->idle) {
		c = p->idle;
		p->idle = c->next;
	} else {
		p->open++;
	}
	pthread_mutex_unlock(&p->lock);
	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		svc_die("out of memory");
	c->fd = svc_connect(opts.down[d].addr);
	if (c->fd < 0) {
		free(c);
		pthread_mutex_lock(&p->lock);
		p->open--;
		pthread_cond_signal(&p->idle_cv);
		pthread_mutex_unlock(&p->lock);
		return NULL;
	}
	return c;
}

static void give_back(int d, struct pooled *c, bool broken)
{
	struct pool *p = &pools[d];

	pthread_mutex_lock(&p->lock);
	if (broken) {
		close(c->fd);
		free(c);
		p->open--;
	} else {
		c->next = p->idle;
		p->idle = c;
	}
	pthread_cond_signal(&p->idle_cv);
	pthread_mutex_unlock(&p->lock);
}

static void *serve_connection(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct svc_rbuf *rb = calloc(1, sizeof(*rb));
	char client[SVC_ADDR_LEN], local[SVC_ADDR_LEN];

	if (!rb)
		svc_die("out of memory");
	svc_peer_addr(fd, client, sizeof(client));
	svc_local_addr(fd, local, sizeof(local));
	for (;;) {
		struct svc_truth t = { .svc = opts.name, .model = "sharedpool" };
		char reply[2048];
		/* blocked time costs no CPU: from here to the reply is this request's */
		uint64_t cpu0 = svc_thread_cpu_ns();
		long m = svc_read_msg(fd, rb, t.id, sizeof(t.id), &t.recv_ns);
		int len;

		if (m <= 0)
			break;
		svc_rbuf_consume(rb, (size_t)m);
		t.pid = getpid();
		t.tid = svc_gettid();
		snprintf(t.client, sizeof(t.client), "%s", client);
		snprintf(t.local, sizeof(t.local), "%s", local);
		svc_busy_us(opts.work_us);
		for (int i = 0; i < opts.n_down; i++) {
			struct pooled *c = borrow(i);
			int n;

			if (!c)
				goto out;
			n = svc_call_down(c->fd, &c->rb, &opts.down[i], t.id, opts.name,
					  &t.calls[t.n_calls], SVC_MAX_CALLS - t.n_calls);
			give_back(i, c, n < 0);
			if (n < 0)
				goto out;
			t.n_calls += n;
		}
		len = svc_format_response(reply, sizeof(reply), t.id, opts.name, opts.pad);
		if (svc_send_all(fd, reply, (size_t)len) < 0)
			break;
		t.send_ns = svc_now_ns();
		t.cpu_ns = svc_thread_cpu_ns() - cpu0;
		svc_truth_write(&t);
	}
out:
	close(fd);
	free(rb);
	return NULL;
}

int main(int argc, char **argv)
{
	int lfd;

	svc_prog = "svc_sharedpool";
	svc_parse_opts(argc, argv, &opts,
		       "Model 4: threads per connection sharing a pool of -w downstream "
		       "connections.\n");
	for (int i = 0; i < SVC_MAX_DOWN; i++) {
		pthread_mutex_init(&pools[i].lock, NULL);
		pthread_cond_init(&pools[i].idle_cv, NULL);
	}
	lfd = svc_listen(opts.listen);
	for (;;) {
		pthread_t th;
		int fd = accept(lfd, NULL, NULL), one = 1;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			svc_die("accept: %s", strerror(errno));
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (pthread_create(&th, NULL, serve_connection, (void *)(intptr_t)fd) != 0)
			svc_die("pthread_create failed");
		pthread_detach(th);
	}
}
