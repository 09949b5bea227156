'use strict';
/*
 * The `node` test-bed service: Node.js's own HTTP server on one event loop,
 * logging ground truth per request in the format of svc_common.h.
 *
 * How a request travels (what a black-box tracer has to follow): everything
 * happens on the one event-loop thread, many requests in flight at once.
 *  - http.createServer parses the request and calls the handler;
 *  - the handler calls the backend through an http.Agent with keep-alive
 *    and at most -P sockets (requests queue for a free socket, so one
 *    connection carries the calls of many requests in turn), and redis over
 *    -P net.Socket connections shared by every request: commands are
 *    written as they come (pipelined) and replies answer them in order;
 *  - the reply is written when the downstream calls have answered.
 *
 * Times are process.hrtime.bigint() (libuv's uv_hrtime: CLOCK_MONOTONIC, the
 * clock of BPF and ftrace's "mono"). The loop thread's id is the process id.
 *
 * usage: node krt_node.js -l IP:PORT -n NAME -t TRUTH.jsonl
 *             [-d http:IP:PORT|redis:IP:PORT]... [-P POOL] [-c CPU_US]
 */
const http = require('http');
const net = require('net');
const fs = require('fs');

const opts = { l: null, n: 'node', t: null, d: [], P: 2, c: 0 };
for (let i = 2; i < process.argv.length; i += 2) {
	const k = process.argv[i].replace(/^-/, ''), v = process.argv[i + 1];
	if (!(k in opts) || v === undefined) {
		console.error('usage: krt_node.js -l IP:PORT [-n NAME] [-t TRUTH.jsonl] ' +
			      '[-d http:IP:PORT|redis:IP:PORT]... [-P POOL] [-c CPU_US]');
		process.exit(2);
	}
	if (k === 'd')
		opts.d.push(v);
	else
		opts[k] = ['P', 'c'].includes(k) ? Number(v) : v;
}
if (!opts.l || !opts.t) {
	console.error('krt_node.js: -l and -t are required');
	process.exit(2);
}
const truthFd = fs.openSync(opts.t, 'a');
const now = () => process.hrtime.bigint();

function busy(us) {
	const end = now() + BigInt(us) * 1000n;
	let x = 0;
	while (now() < end)
		for (let i = 0; i < 200; i++)
			x += i;
	return x;
}

function splitAddr(a) {
	const c = a.lastIndexOf(':');
	return { host: a.slice(0, c), port: Number(a.slice(c + 1)) };
}

/* A RESP connection: commands pipelined, replies matched to them in order. */
class RedisConn {
	constructor(addr) {
		const { host, port } = splitAddr(addr);
		this.waiting = [];
		this.buf = Buffer.alloc(0);
		this.sock = net.connect({ host, port, noDelay: true });
		this.sock.setNoDelay(true);
		this.sock.on('data', (d) => this.onData(d));
		this.sock.on('error', (e) => {
			console.error(`krt_node.js: redis ${addr}: ${e.message}`);
			process.exit(1);
		});
	}

	/* One complete reply at the start of buf: its length, or 0. */
	static replyLen(buf) {
		const nl = buf.indexOf('\r\n');
		if (nl < 0)
			return 0;
		if (buf[0] !== 0x24) /* '$' */
			return nl + 2;
		const n = Number(buf.slice(1, nl).toString());
		if (n < 0)
			return nl + 2;
		return buf.length >= nl + 2 + n + 2 ? nl + 2 + n + 2 : 0;
	}

	onData(d) {
		this.buf = Buffer.concat([this.buf, d]);
		let n;
		while (this.waiting.length && (n = RedisConn.replyLen(this.buf)) > 0) {
			this.buf = this.buf.subarray(n);
			this.waiting.shift()();
		}
	}

	command(args, done) {
		let s = `*${args.length}\r\n`;
		for (const a of args)
			s += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
		this.waiting.push(done);
		this.sock.write(s);
	}
}

class Downstream {
	constructor(spec) {
		const c = spec.indexOf(':');
		this.kind = spec.slice(0, c);
		this.addr = spec.slice(c + 1);
		if (this.kind === 'http') {
			this.agent = new http.Agent({ keepAlive: true, maxSockets: opts.P });
		} else if (this.kind === 'redis') {
			this.conns = [];
			for (let i = 0; i < opts.P; i++)
				this.conns.push(new RedisConn(this.addr));
			this.next = 0;
		} else {
			console.error(`krt_node.js: bad downstream '${spec}'`);
			process.exit(2);
		}
	}

	/* Calls with the request id; done() when every call of it has answered. */
	call(id, calls, done) {
		if (this.kind === 'http') {
			const { host, port } = splitAddr(this.addr);
			const k = { kind: 'http', peer: this.addr, local: '?', tid: process.pid };
			const req = http.get({ host, port, path: `/req/${id}`, agent: this.agent,
					       headers: { 'X-Request-Id': id } }, (res) => {
				res.on('data', () => {});
				res.on('end', () => {
					k.end_ns = now();
					calls.push(k);
					done(res.statusCode === 200);
				});
			});
			/* the request waits for a pooled socket: its call starts when written to it */
			req.on('socket', (s) => {
				const mark = () => {
					k.local = `${s.localAddress}:${s.localPort}`;
					k.start_ns = now();
				};
				if (s.connecting)
					s.once('connect', mark);
				else
					mark();
			});
			req.on('error', (e) => {
				console.error(`krt_node.js: ${id}: ${e.message}`);
				done(false);
			});
			return;
		}
		/* SET then GET on one connection, round robin over the shared ones */
		const rc = this.conns[this.next++ % this.conns.length];
		const local = `${rc.sock.localAddress}:${rc.sock.localPort}`;
		const set = { kind: 'redis', peer: this.addr, local, tid: process.pid, start_ns: now() };
		rc.command(['SET', `krt:${id}`, id], () => {
			set.end_ns = now();
			calls.push(set);
			const get = { kind: 'redis', peer: this.addr, local, tid: process.pid,
				      start_ns: now() };
			rc.command(['GET', `krt:${id}`], () => {
				get.end_ns = now();
				calls.push(get);
				done(true);
			});
		});
	}
}

const downs = opts.d.map((s) => new Downstream(s));

const server = http.createServer((req, res) => {
	const recv = now();
	const m = /^\/req\/([^/?]+)/.exec(req.url);
	if (!m) {
		res.writeHead(404).end();
		return;
	}
	const id = m[1], calls = [];
	const client = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
	const local = `${req.socket.localAddress}:${req.socket.localPort}`;
	busy(opts.c);
	let i = 0;
	const next = (ok) => {
		if (!ok) {
			res.writeHead(502).end();
			return;
		}
		if (i < downs.length) {
			downs[i++].call(id, calls, next);
			return;
		}
		const body = `id=${id} svc=${opts.n}\n`;
		res.writeHead(200, { 'Content-Type': 'text/plain',
				     'Content-Length': Buffer.byteLength(body) });
		res.end(body);
		const send = now();
		const c = calls.map((k) => `{"kind":"${k.kind}","peer":"${k.peer}","local":"${k.local}",` +
					   `"tid":${k.tid},"start_ns":${k.start_ns},"end_ns":${k.end_ns}}`);
		fs.writeSync(truthFd, `{"svc":"${opts.n}","model":"node","id":"${id}",` +
			     `"pid":${process.pid},"tid":${process.pid},"io_tid":${process.pid},` +
			     `"client":"${client}","local":"${local}","recv_ns":${recv},` +
			     `"send_ns":${send},"cpu_ns":0,"calls":[${c.join(',')}]}\n`);
	};
	next(true);
});
server.keepAliveTimeout = 60000;
const { host, port } = splitAddr(opts.l);
server.listen(port, host, () => console.error(`krt_node.js: listening on ${opts.l}`));
