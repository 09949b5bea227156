/*
 * The front of the `thrift` test-bed group: an HTTP service (a thread per
 * client connection) that calls the Thrift store through a pool of Thrift
 * clients, the way DeathStarBench's services call each other
 * (ClientPool: a mutex and a condition variable around a list of clients,
 * TFramedTransport + TBinaryProtocol). The pool holds -w clients, fewer than
 * the client connections, so one Thrift connection carries the calls of
 * many requests in turn. Ground truth per request as in svc_common.h.
 *
 * usage: thrift_front -l IP:PORT -n NAME -t TRUTH.jsonl -d thrift:IP:PORT
 *                     [-w POOL] [-c CPU_US]
 */
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TSocket.h>

#include "Store.h"
#include "svc_common.h"

using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::transport::TFramedTransport;
using apache::thrift::transport::TSocket;

static struct svc_opts opts;

struct pooled_client {
	std::shared_ptr<TSocket> sock;
	std::shared_ptr<TFramedTransport> transport;
	std::unique_ptr<krt::StoreClient> client;
};

class ClientPool {
public:
	ClientPool(const char *addr, int size) : size_(size)
	{
		struct sockaddr_in sa;
		char ip[SVC_ADDR_LEN];

		if (svc_parse_addr(addr, &sa) < 0)
			svc_die("bad thrift address '%s'", addr);
		inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
		host_ = ip;
		port_ = ntohs(sa.sin_port);
	}

	std::unique_ptr<pooled_client> borrow()
	{
		std::unique_lock<std::mutex> lock(mu_);

		cv_.wait(lock, [this] { return !idle_.empty() || open_ < size_; });
		if (!idle_.empty()) {
			auto c = std::move(idle_.back());
			idle_.pop_back();
			return c;
		}
		open_++;
		lock.unlock();
		auto c = std::make_unique<pooled_client>();
		c->sock = std::make_shared<TSocket>(host_, port_);
		c->sock->setNoDelay(true);
		c->transport = std::make_shared<TFramedTransport>(c->sock);
		c->client = std::make_unique<krt::StoreClient>(
			std::make_shared<TBinaryProtocol>(c->transport));
		try {
			c->transport->open();
		} catch (const std::exception &e) {
			fprintf(stderr, "thrift_front: connect %s:%d: %s\n", host_.c_str(), port_,
				e.what());
			give_back(nullptr);
			return nullptr;
		}
		return c;
	}

	/* nullptr: the client broke (closed, forgotten). */
	void give_back(std::unique_ptr<pooled_client> c)
	{
		std::lock_guard<std::mutex> lock(mu_);

		if (c)
			idle_.push_back(std::move(c));
		else
			open_--;
		cv_.notify_one();
	}

private:
	std::string host_;
	int port_;
	int size_, open_ = 0;
	std::mutex mu_;
	std::condition_variable cv_;
	std::vector<std::unique_ptr<pooled_client>> idle_;
};

static ClientPool *pool;

static void serve_connection(int fd)
{
	auto rb = std::make_unique<struct svc_rbuf>();
	char client[SVC_ADDR_LEN], local[SVC_ADDR_LEN];

	svc_peer_addr(fd, client, sizeof(client));
	svc_local_addr(fd, local, sizeof(local));
	for (;;) {
		struct svc_truth t = {};
		char reply[2048];
		uint64_t cpu0 = svc_thread_cpu_ns();
		long m = svc_read_msg(fd, rb.get(), t.id, sizeof(t.id), &t.recv_ns);
		int len;

		if (m <= 0)
			break;
		svc_rbuf_consume(rb.get(), (size_t)m);
		t.svc = opts.name;
		t.model = "thrift-front";
		t.pid = getpid();
		t.tid = svc_gettid();
		snprintf(t.client, sizeof(t.client), "%s", client);
		snprintf(t.local, sizeof(t.local), "%s", local);
		svc_busy_us(opts.work_us);
		for (int i = 0; i < opts.n_down; i++) {
			auto c = pool->borrow();
			struct svc_call *k = &t.calls[t.n_calls];
			std::string value;

			if (!c)
				goto out;
			k->kind = "thrift";
			k->tid = t.tid;
			snprintf(k->peer, sizeof(k->peer), "%s", opts.down[i].addr);
			svc_local_addr(c->sock->getSocketFD(), k->local, sizeof(k->local));
			k->start_ns = svc_now_ns();
			try {
				c->client->get(value, t.id);
			} catch (const std::exception &e) {
				fprintf(stderr, "thrift_front: %s: %s\n", t.id, e.what());
				pool->give_back(nullptr);
				goto out;
			}
			k->end_ns = svc_now_ns();
			pool->give_back(std::move(c));
			t.n_calls++;
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
}

int main(int argc, char **argv)
{
	int lfd;

	svc_prog = "thrift_front";
	svc_parse_opts(argc, argv, &opts,
		       "HTTP front calling a Thrift store through a pool of -w Thrift clients.\n");
	if (opts.n_down != 1 || strcmp(opts.down[0].kind, "thrift"))
		svc_die("want one downstream -d thrift:IP:PORT");
	pool = new ClientPool(opts.down[0].addr, opts.workers);
	lfd = svc_listen(opts.listen);
	for (;;) {
		int fd = accept(lfd, NULL, NULL), one = 1;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			svc_die("accept: %s", strerror(errno));
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		std::thread(serve_connection, fd).detach();
	}
}
