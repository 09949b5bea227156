/*
 * Model 1: thread per connection, synchronous downstream calls.
 *
 * Each accepted connection gets its own thread, which serves the requests of
 * that (keep-alive) connection one after another. For every request it makes
 * the downstream calls in order over connections private to the thread, then
 * replies. Without -d it is a leaf (the backend of the other models).
 */
#include <pthread.h>
#include "svc_common.h"

static struct svc_opts opts;

struct conn_ctx {
	int fd;
};

static void *serve_connection(void *arg)
{
	struct conn_ctx *cc = arg;
	int fd = cc->fd, down_fd[SVC_MAX_DOWN];
	struct svc_rbuf *rb = calloc(1, sizeof(*rb));
	struct svc_rbuf *down_rb = calloc(SVC_MAX_DOWN, sizeof(*down_rb));
	char client[SVC_ADDR_LEN], local[SVC_ADDR_LEN];

	free(cc);
	if (!rb || !down_rb)
		svc_die("out of memory");
	for (int i = 0; i < SVC_MAX_DOWN; i++)
		down_fd[i] = -1;
	svc_peer_addr(fd, client, sizeof(client));
	svc_local_addr(fd, local, sizeof(local));
	for (;;) {
		struct svc_truth t = { .svc = opts.name, .model = "thread" };
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
			int n;

			if (down_fd[i] < 0) {
				down_fd[i] = svc_connect(opts.down[i].addr);
				if (down_fd[i] < 0)
					goto out;
			}
			n = svc_call_down(down_fd[i], &down_rb[i], &opts.down[i], t.id, opts.name,
					  &t.calls[t.n_calls], SVC_MAX_CALLS - t.n_calls);
			if (n < 0) {
				fprintf(stderr, "%s: downstream %s broke\n", svc_prog,
					opts.down[i].addr);
				goto out;
			}
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
	for (int i = 0; i < SVC_MAX_DOWN; i++)
		if (down_fd[i] >= 0)
			close(down_fd[i]);
	close(fd);
	free(rb);
	free(down_rb);
	return NULL;
}

int main(int argc, char **argv)
{
	int lfd;

	svc_prog = "svc_thread";
	svc_parse_opts(argc, argv, &opts, "Model 1: one thread per connection.\n");
	lfd = svc_listen(opts.listen);
	for (;;) {
		struct conn_ctx *cc;
		pthread_t th;
		int fd = accept(lfd, NULL, NULL), one = 1;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			svc_die("accept: %s", strerror(errno));
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		cc = malloc(sizeof(*cc));
		if (!cc)
			svc_die("out of memory");
		cc->fd = fd;
		if (pthread_create(&th, NULL, serve_connection, cc) != 0)
			svc_die("pthread_create: %s", strerror(errno));
		pthread_detach(th);
	}
}
