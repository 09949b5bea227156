"""The `asgi` test-bed service: FastAPI under uvicorn with a synchronous
endpoint, logging ground truth per request in the format of svc_common.h.

How a request travels (what a black-box tracer has to follow):
 - uvicorn's event loop (asyncio, the main thread) reads and parses the
   request and runs the ASGI app;
 - FastAPI runs a plain `def` endpoint in its worker thread pool
   (starlette's run_in_threadpool -> anyio.to_thread: a queue to the worker
   threads, which all take turns at the interpreter lock, so threads wake
   each other for the lock as often as for a job);
 - the worker calls redis (SET, GET, python3-redis, a shared blocking pool)
   and the backend (HTTP keep-alive, a shared pool of http.client
   connections), and hands the result back to the loop
   (call_soon_threadsafe: a byte on the loop's self-pipe socketpair);
 - the event loop thread writes the reply.
So "io_tid" = "tid" = the loop thread; the calls are made by a worker.

Times are time.monotonic_ns() (CLOCK_MONOTONIC, the clock of BPF and of
ftrace's "mono"); thread ids are the kernel's (threading.get_native_id).

usage: krt_asgi.py -l IP:PORT -n NAME -t TRUTH.jsonl
                   [-d redis:IP:PORT|http:IP:PORT]... [-P POOL] [-c CPU_US]
"""
import argparse
import http.client
import json
import os
import socket
import sys
import threading
import time

import redis
import uvicorn
from fastapi import FastAPI, Request, Response

opts = None
truth_fd = -1


def ends(addr):
    return f"{addr[0]}:{addr[1]}"


def busy(us):
    end = time.monotonic_ns() + us * 1000
    x = 0
    while time.monotonic_ns() < end:
        for i in range(50):
            x += i
    return x


class HttpPool:
    """At most `size` keep-alive connections to one HTTP server, shared by
    the workers: a worker waits when all are lent out."""

    def __init__(self, addr, size):
        host, port = addr.rsplit(":", 1)
        self.host, self.port, self.addr = host, int(port), addr
        self.slots = threading.BoundedSemaphore(size)
        self.lock = threading.Lock()
        self.idle = []

    def borrow(self):
        self.slots.acquire()
        with self.lock:
            if self.idle:
                return self.idle.pop()
        c = http.client.HTTPConnection(self.host, self.port, timeout=5)
        c.connect()
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return c

    def give_back(self, c, broken=False):
        if broken:
            c.close()
        else:
            with self.lock:
                self.idle.append(c)
        self.slots.release()


class Downstream:
    def __init__(self, spec, size):
        kind, addr = spec.split(":", 1)
        if kind not in ("http", "redis"):
            sys.exit(f"krt_asgi: bad downstream '{spec}' (want http: or redis:IP:PORT)")
        self.kind, self.addr = kind, addr
        if kind == "redis":
            host, port = addr.rsplit(":", 1)
            self.pool = redis.BlockingConnectionPool(host=host, port=int(port),
                                                     max_connections=size, timeout=5)
        else:
            self.pool = HttpPool(addr, size)

    def call(self, rid, calls):
        tid = threading.get_native_id()
        if self.kind == "http":
            c = self.pool.borrow()
            ok = False
            try:
                local = ends(c.sock.getsockname())
                start = time.monotonic_ns()
                c.request("GET", f"/req/{rid}", headers={"X-Request-Id": rid})
                r = c.getresponse()
                r.read()
                end = time.monotonic_ns()
                ok = r.status == 200
            finally:
                self.pool.give_back(c, broken=not ok)
            calls.append(("http", self.addr, local, tid, start, end))
            return
        c = self.pool.get_connection("SET")
        try:
            for cmd in (("SET", f"krt:{rid}", rid), ("GET", f"krt:{rid}")):
                local = ends(c._sock.getsockname())
                start = time.monotonic_ns()
                c.send_command(*cmd)
                c.read_response()
                calls.append(("redis", self.addr, local, tid, start, time.monotonic_ns()))
        finally:
            self.pool.release(c)


app = FastAPI()
downs = []


@app.get("/req/{rid}")
def handle(rid: str, request: Request):
    # a plain def: FastAPI runs it in its worker thread pool
    calls = request.scope["krt.calls"]
    busy(opts.c)
    for d in downs:
        d.call(rid, calls)
    return Response(content=f"id={rid} svc={opts.n}\n", media_type="text/plain")


def write_truth(scope, rid, recv, send, loop_tid):
    calls = ",".join(
        json.dumps({"kind": k, "peer": p, "local": l, "tid": t, "start_ns": s, "end_ns": e},
                   separators=(",", ":"))
        for (k, p, l, t, s, e) in scope["krt.calls"])
    line = ('{"svc":"%s","model":"asgi","id":"%s","pid":%d,"tid":%d,"io_tid":%d,'
            '"client":"%s","local":"%s","recv_ns":%d,"send_ns":%d,"cpu_ns":0,"calls":[%s]}\n'
            % (opts.n, rid, os.getpid(), loop_tid, loop_tid, ends(scope["client"]),
               ends(scope["server"]), recv, send, calls))
    os.write(truth_fd, line.encode())  # one write(): O_APPEND keeps lines whole


async def truth_app(scope, receive, send):
    """Wraps the FastAPI app: the request's arrival and the reply's departure,
    both on the event loop thread."""
    if scope["type"] != "http":
        return await app(scope, receive, send)
    recv = time.monotonic_ns()
    loop_tid = threading.get_native_id()
    sent = {"ns": 0, "status": 0}
    scope["krt.calls"] = []

    async def send_timed(msg):
        if msg["type"] == "http.response.start":
            sent["status"] = msg["status"]
        await send(msg)
        if msg["type"] == "http.response.body" and not msg.get("more_body"):
            sent["ns"] = time.monotonic_ns()

    await app(scope, receive, send_timed)
    path = scope["path"]
    if sent["status"] == 200 and path.startswith("/req/"):
        write_truth(scope, path[5:], recv, sent["ns"], loop_tid)


def main():
    global opts, truth_fd
    ap = argparse.ArgumentParser(description="FastAPI/uvicorn test-bed service")
    ap.add_argument("-l", required=True, help="listen IP:PORT")
    ap.add_argument("-n", default="asgi", help="service name in the truth")
    ap.add_argument("-t", required=True, help="truth file (JSON lines)")
    ap.add_argument("-d", action="append", default=[], help="http:IP:PORT or redis:IP:PORT")
    ap.add_argument("-P", type=int, default=2, help="connections per downstream pool")
    ap.add_argument("-c", type=int, default=0, help="CPU work per request, us")
    opts = ap.parse_args()
    truth_fd = os.open(opts.t, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    for spec in opts.d:
        downs.append(Downstream(spec, opts.P))
    host, port = opts.l.rsplit(":", 1)
    print(f"krt_asgi: listening on {opts.l}", file=sys.stderr)
    uvicorn.run(truth_app, host=host, port=int(port), loop="asyncio", log_level="warning",
                access_log=False, workers=1)


if __name__ == "__main__":
    main()
