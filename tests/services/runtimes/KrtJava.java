/*
 * The `java` test-bed service: the JDK's own HTTP server on a fixed thread
 * pool, calling downstream through a small connection pool shared by all
 * workers, with ground truth per request in the format of svc_common.h.
 *
 * How a request travels (what a black-box tracer has to follow):
 *  - com.sun.net.httpserver's dispatcher thread accepts and polls the
 *    connections; when one is readable it hands an exchange to the
 *    Executors.newFixedThreadPool executor (a LinkedBlockingQueue: futex
 *    wake-ups, and a running worker may take the job first);
 *  - a pool thread reads the request, borrows a connection per downstream
 *    call from a shared pool (fewer connections than workers, so one
 *    connection carries the calls of many requests in turn), and writes
 *    the reply itself.
 * Downstream: "http:IP:PORT" (GET /req/<id>, keep-alive) and
 * "redis:IP:PORT" (SET then GET, RESP written and parsed by hand).
 *
 * Times are System.nanoTime(): CLOCK_MONOTONIC on Linux, the clock of BPF
 * and ftrace's "mono". Thread ids are the kernel's, read from /proc.
 * As any JVM by default, its sockets are AF_INET6 (dual stack): the kernel
 * sees IPv4 peers as IPv4-mapped addresses (::ffff:a.b.c.d); the truth
 * names them in IPv4 form, as the JDK does.
 *
 * usage: java -cp DIR KrtJava -l IP:PORT -n NAME -t TRUTH.jsonl
 *             [-d http:IP:PORT|redis:IP:PORT]... [-w WORKERS] [-P POOL] [-c CPU_US]
 */
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;

public final class KrtJava {
	static String name = "java";
	static FileOutputStream truth;
	static int workUs;
	static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();

	/* The kernel's id of the calling thread: /proc/thread-self -> "PID/task/TID". */
	static final ThreadLocal<Integer> TID = ThreadLocal.withInitial(() -> {
		try {
			String link = Files.readSymbolicLink(Paths.get("/proc/thread-self")).toString();
			return Integer.parseInt(link.substring(link.lastIndexOf('/') + 1));
		} catch (IOException | RuntimeException e) {
			return 0;
		}
	});

	static String ends(InetSocketAddress a) {
		return a.getAddress().getHostAddress() + ":" + a.getPort();
	}

	/* One downstream connection; the pool hands it to one worker at a time. */
	static final class Conn {
		final Socket sock;
		final InputStream in;
		final OutputStream out;
		final String local;

		Conn(String host, int port) throws IOException {
			sock = new Socket(host, port);
			sock.setTcpNoDelay(true);
			in = new BufferedInputStream(sock.getInputStream(), 16384);
			out = sock.getOutputStream();
			local = ends((InetSocketAddress) sock.getLocalSocketAddress());
		}

		String line() throws IOException {
			ByteArrayOutputStream b = new ByteArrayOutputStream();
			int c;

			while ((c = in.read()) != '\n') {
				if (c < 0)
					throw new IOException("connection closed");
				if (c != '\r')
					b.write(c);
			}
			return b.toString(StandardCharsets.ISO_8859_1);
		}

		void skip(int n) throws IOException {
			byte[] buf = new byte[n];

			for (int got = 0; got < n;) {
				int r = in.read(buf, got, n - got);

				if (r < 0)
					throw new IOException("connection closed");
				got += r;
			}
		}
	}

	/*
	 * A downstream and its pool: at most `size` connections, a worker waits
	 * (monitor wait/notify, futexes underneath) when all are lent out.
	 */
	static final class Down {
		final String kind, host, addr;
		final int port, size;
		final ArrayDeque<Conn> idle = new ArrayDeque<>();
		int open;

		Down(String spec, int size) {
			int c1 = spec.indexOf(':'), c2 = spec.lastIndexOf(':');

			kind = spec.substring(0, c1);
			host = spec.substring(c1 + 1, c2);
			port = Integer.parseInt(spec.substring(c2 + 1));
			addr = host + ":" + port;
			this.size = size;
			if (!kind.equals("http") && !kind.equals("redis"))
				throw new IllegalArgumentException("bad downstream '" + spec + "'");
		}

		Conn borrow() throws IOException, InterruptedException {
			synchronized (this) {
				while (idle.isEmpty() && open >= size)
					wait();
				if (!idle.isEmpty())
					return idle.pop();
				open++;
			}
			try {
				return new Conn(host, port);
			} catch (IOException e) {
				giveBack(null);
				throw e;
			}
		}

		synchronized void giveBack(Conn c) {
			if (c != null)
				idle.push(c);
			else
				open--;
			notify();
		}
	}

	static final class Call {
		String kind, peer, local;
		int tid;
		long start, end;
	}

	static Call begin(Down d, Conn c) {
		Call k = new Call();

		k.kind = d.kind;
		k.peer = d.addr;
		k.local = c.local;
		k.tid = TID.get();
		k.start = System.nanoTime();
		return k;
	}

	/* GET /req/<id>, reply with Content-Length: one call. */
	static void callHttp(Down d, Conn c, String id, List<Call> calls) throws IOException {
		String req = "GET /req/" + id + " HTTP/1.1\r\nHost: " + name + "\r\nX-Request-Id: " + id +
			     "\r\n\r\n";
		Call k = begin(d, c);
		int len = 0;
		String l;

		c.out.write(req.getBytes(StandardCharsets.ISO_8859_1));
		c.out.flush();
		if (!c.line().startsWith("HTTP/1.1 200"))
			throw new IOException("backend refused " + id);
		while (!(l = c.line()).isEmpty())
			if (l.regionMatches(true, 0, "content-length:", 0, 15))
				len = Integer.parseInt(l.substring(15).trim());
		c.skip(len);
		k.end = System.nanoTime();
		calls.add(k);
	}

	static String resp(String... args) {
		StringBuilder b = new StringBuilder("*" + args.length + "\r\n");

		for (String a : args)
			b.append('$').append(a.length()).append("\r\n").append(a).append("\r\n");
		return b.toString();
	}

	/* One RESP command and its reply (status, integer, error or bulk string): one call. */
	static void callRedis(Down d, Conn c, String cmd, List<Call> calls) throws IOException {
		Call k = begin(d, c);
		String l;

		c.out.write(cmd.getBytes(StandardCharsets.ISO_8859_1));
		c.out.flush();
		l = c.line();
		if (l.startsWith("-"))
			throw new IOException("redis: " + l);
		if (l.startsWith("$") && Integer.parseInt(l.substring(1)) >= 0)
			c.skip(Integer.parseInt(l.substring(1)) + 2);
		k.end = System.nanoTime();
		calls.add(k);
	}

	static void busy(int us) {
		long end = System.nanoTime() + us * 1000L;
		long x = 0;

		while (System.nanoTime() < end)
			for (int i = 0; i < 200; i++)
				x += i;
		if (x == 42)
			System.out.print("");
	}

	static synchronized void writeTruth(String line) {
		try {
			truth.write(line.getBytes(StandardCharsets.UTF_8)); /* one write(): O_APPEND */
		} catch (IOException e) {
			System.err.println(name + ": truth write: " + e.getMessage());
		}
	}

	static void handle(HttpExchange ex, List<Down> downs) throws IOException {
		long recv = System.nanoTime(), cpu0 = MX.getCurrentThreadCpuTime();
		/* now: once the client has closed, a closed channel names 0.0.0.0 */
		String client = ends(ex.getRemoteAddress()), local = ends(ex.getLocalAddress());
		String path = ex.getRequestURI().getPath();
		String id = path.startsWith("/req/") ? path.substring(5) : "";
		List<Call> calls = new ArrayList<>();
		int status = 200;

		busy(workUs);
		try {
			for (Down d : downs) {
				Conn c = d.borrow();
				boolean ok = false;

				try {
					if (d.kind.equals("http")) {
						callHttp(d, c, id, calls);
					} else {
						callRedis(d, c, resp("SET", "krt:" + id, id), calls);
						callRedis(d, c, resp("GET", "krt:" + id), calls);
					}
					ok = true;
				} finally {
					if (ok) {
						d.giveBack(c);
					} else {
						c.sock.close();
						d.giveBack(null);
					}
				}
			}
		} catch (IOException | InterruptedException e) {
			System.err.println(name + ": " + id + ": " + e.getMessage());
			status = 502;
		}
		byte[] body = ("id=" + id + " svc=" + name + "\n").getBytes(StandardCharsets.ISO_8859_1);
		ex.getResponseHeaders().set("Content-Type", "text/plain");
		ex.sendResponseHeaders(status, body.length);
		try (OutputStream o = ex.getResponseBody()) {
			o.write(body);
		}
		long send = System.nanoTime();
		if (status != 200)
			return;

		int tid = TID.get();
		StringBuilder b = new StringBuilder(512);
		b.append("{\"svc\":\"").append(name).append("\",\"model\":\"java\",\"id\":\"").append(id)
			.append("\",\"pid\":").append(ProcessHandle.current().pid())
			.append(",\"tid\":").append(tid).append(",\"io_tid\":").append(tid)
			.append(",\"client\":\"").append(client)
			.append("\",\"local\":\"").append(local)
			.append("\",\"recv_ns\":").append(recv).append(",\"send_ns\":").append(send)
			.append(",\"cpu_ns\":").append(MX.getCurrentThreadCpuTime() - cpu0)
			.append(",\"calls\":[");
		for (int i = 0; i < calls.size(); i++) {
			Call k = calls.get(i);

			b.append(i > 0 ? "," : "").append("{\"kind\":\"").append(k.kind)
				.append("\",\"peer\":\"").append(k.peer).append("\",\"local\":\"")
				.append(k.local).append("\",\"tid\":").append(k.tid)
				.append(",\"start_ns\":").append(k.start).append(",\"end_ns\":")
				.append(k.end).append('}');
		}
		b.append("]}\n");
		writeTruth(b.toString());
	}

	static void usage() {
		System.err.println("usage: KrtJava -l IP:PORT [-n NAME] [-t TRUTH.jsonl] " +
				   "[-d http:IP:PORT|redis:IP:PORT]... [-w WORKERS] [-P POOL] [-c CPU_US]");
		System.exit(2);
	}

	public static void main(String[] argv) throws Exception {
		String listen = null, truthPath = null;
		List<String> downSpecs = new ArrayList<>();
		int workers = 8, pool = 2;

		for (int i = 0; i < argv.length; i++) {
			if (i + 1 >= argv.length)
				usage();
			switch (argv[i]) {
			case "-l": listen = argv[++i]; break;
			case "-n": name = argv[++i]; break;
			case "-t": truthPath = argv[++i]; break;
			case "-d": downSpecs.add(argv[++i]); break;
			case "-w": workers = Integer.parseInt(argv[++i]); break;
			case "-P": pool = Integer.parseInt(argv[++i]); break;
			case "-c": workUs = Integer.parseInt(argv[++i]); break;
			default: usage();
			}
		}
		if (listen == null || truthPath == null)
			usage();
		truth = new FileOutputStream(truthPath, true);
		List<Down> downs = new ArrayList<>();
		for (String s : downSpecs)
			downs.add(new Down(s, pool));
		MX.setThreadCpuTimeEnabled(true);

		int colon = listen.lastIndexOf(':');
		HttpServer server = HttpServer.create(
			new InetSocketAddress(listen.substring(0, colon),
					      Integer.parseInt(listen.substring(colon + 1))), 512);
		server.createContext("/req/", ex -> {
			try {
				handle(ex, downs);
			} finally {
				ex.close();
			}
		});
		server.setExecutor(Executors.newFixedThreadPool(workers));
		server.start();
		System.err.println(name + ": listening on " + listen + ", " + workers + " workers, pool " +
				   pool + " per downstream");
	}
}
