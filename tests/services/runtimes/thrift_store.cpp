/*
 * The `thrift` test-bed service: a C++ Apache Thrift server built the way
 * DeathStarBench builds its services, logging ground truth per request in
 * the format of svc_common.h.
 *
 * How a request travels (what a black-box tracer has to follow):
 *  - TNonblockingServer's I/O thread (libevent; with one I/O thread it is
 *    the thread that called serve()) reads a whole frame (TFramedTransport,
 *    TBinaryProtocol) and queues a task to the ThreadManager;
 *  - a ThreadManager worker runs the handler: CPU work, then redis SET and
 *    GET on its own connection (DeathStarBench's handlers call their stores
 *    from the worker);
 *  - the worker hands the connection back to the I/O thread through the
 *    server's notification socketpair, and the I/O thread writes the reply.
 * So the request is read and answered by the I/O thread ("io_tid" = "tid"),
 * and its downstream calls are made by whichever worker took the task.
 *
 * usage: thrift_store -l IP:PORT -n NAME -t TRUTH.jsonl -d redis:IP:PORT
 *                     [-w WORKERS] [-c CPU_US]
 */
#include <memory>
#include <string>

#include <thrift/concurrency/ThreadFactory.h>
#include <thrift/concurrency/ThreadManager.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/server/TNonblockingServer.h>
#include <thrift/transport/TNonblockingServerSocket.h>
#include <thrift/transport/TSocket.h>

#include "Store.h"
#include "svc_common.h"

using apache::thrift::concurrency::ThreadFactory;
using apache::thrift::concurrency::ThreadManager;
using apache::thrift::protocol::TBinaryProtocolFactory;
using apache::thrift::server::TNonblockingServer;
using apache::thrift::server::TServerEventHandler;
using apache::thrift::transport::TNonblockingServerSocket;
using apache::thrift::transport::TSocket;
using apache::thrift::transport::TTransport;

static struct svc_opts opts;
static int io_tid;		/* the I/O thread: reads requests, writes replies */

/* What the worker knows of the request it is running (set in processContext). */
struct current {
	char client[SVC_ADDR_LEN], local[SVC_ADDR_LEN];
	uint64_t recv_ns;
};
static thread_local struct current cur;

/* Runs in the worker right before the processor: names the request's connection. */
class ConnNamer : public TServerEventHandler {
public:
	void processContext(void *, std::shared_ptr<TTransport> transport) override
	{
		auto sock = std::dynamic_pointer_cast<TSocket>(transport);

		cur.recv_ns = svc_now_ns();
		snprintf(cur.client, sizeof(cur.client), "?");
		snprintf(cur.local, sizeof(cur.local), "?");
		if (sock) {
			svc_peer_addr(sock->getSocketFD(), cur.client, sizeof(cur.client));
			svc_local_addr(sock->getSocketFD(), cur.local, sizeof(cur.local));
		}
	}
};

/* Each worker's own redis connection. */
struct redis_conn {
	int fd = -1;
	struct svc_rbuf rb;
};
static thread_local struct redis_conn redis;

class StoreHandler : public krt::StoreIf {
public:
	void get(std::string &out, const std::string &id) override
	{
		struct svc_truth t = {};

		t.svc = opts.name;
		t.model = "thrift";
		snprintf(t.id, sizeof(t.id), "%s", id.c_str());
		t.pid = getpid();
		t.tid = io_tid;
		t.io_tid = io_tid;
		snprintf(t.client, sizeof(t.client), "%s", cur.client);
		snprintf(t.local, sizeof(t.local), "%s", cur.local);
		t.recv_ns = cur.recv_ns;
		svc_busy_us(opts.work_us);
		for (int i = 0; i < opts.n_down; i++) {
			int n;

			if (redis.fd < 0) {
				redis.fd = svc_connect(opts.down[i].addr);
				redis.rb.len = 0;
			}
			n = redis.fd < 0 ? -1
					 : svc_call_down(redis.fd, &redis.rb, &opts.down[i], t.id,
							 opts.name, &t.calls[t.n_calls],
							 SVC_MAX_CALLS - t.n_calls);
			if (n < 0) {
				if (redis.fd >= 0)
					close(redis.fd);
				redis.fd = -1;
				throw apache::thrift::TException("redis call failed");
			}
			t.n_calls += n;
		}
		out = "id=" + id + " svc=" + opts.name;
		/* the reply leaves later, from the I/O thread: this is the handler's end */
		t.send_ns = svc_now_ns();
		svc_truth_write(&t);
	}
};

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	char ip[SVC_ADDR_LEN];

	svc_prog = "thrift_store";
	svc_parse_opts(argc, argv, &opts,
		       "Thrift TNonblockingServer + ThreadManager (-w workers) calling redis.\n");
	if (svc_parse_addr(opts.listen, &sa) < 0)
		svc_die("bad listen address '%s'", opts.listen);
	inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
	for (int i = 0; i < opts.n_down; i++)
		if (strcmp(opts.down[i].kind, "redis"))
			svc_die("only redis downstreams (-d redis:IP:PORT)");

	auto workers = ThreadManager::newSimpleThreadManager(opts.workers);
	workers->threadFactory(std::make_shared<ThreadFactory>());
	workers->start();
	auto sock = std::make_shared<TNonblockingServerSocket>(ip, ntohs(sa.sin_port));
	TNonblockingServer server(std::make_shared<krt::StoreProcessor>(
					  std::make_shared<StoreHandler>()),
				  std::make_shared<TBinaryProtocolFactory>(), sock, workers);
	server.setNumIOThreads(1);
	server.setServerEventHandler(std::make_shared<ConnNamer>());
	/* with one I/O thread, serve() runs it in this thread */
	io_tid = svc_gettid();
	fprintf(stderr, "thrift_store: listening on %s, %d workers\n", opts.listen, opts.workers);
	server.serve();
	return 0;
}
