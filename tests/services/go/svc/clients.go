package svc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync/atomic"
	"syscall"
)

// HTTPClient calls HTTP downstreams through net/http's Transport: a shared pool of
// keep-alive connections, each with its own reader and writer goroutines, so the
// request's goroutine hands its call to the writer and gets the reply from the reader
// over channels (the runtime's hand-offs a tracer must follow).
type HTTPClient struct {
	client *http.Client
}

func NewHTTPClient(poolSize int) *HTTPClient {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return Dial(addr)
		},
		MaxIdleConnsPerHost: poolSize,
		MaxConnsPerHost:     poolSize,
		DisableCompression:  true,
	}
	return &HTTPClient{client: &http.Client{Transport: tr}}
}

// Get makes one call; the truth names the threads that wrote the request and read
// the reply (the transport's writer and reader goroutines, on whatever thread ran them).
func (h *HTTPClient) Get(addr, id, host string) (Call, error) {
	var conn atomic.Value
	var sendTid, recvTid int64
	c := Call{Kind: "http", Peer: addr}
	// At the reply's first byte the request is written (WroteRequest may come
	// before the writer's buffer is flushed) and the connection is still ours.
	tr := &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { conn.Store(i.Conn) },
		GotFirstResponseByte: func() {
			if k, ok := conn.Load().(*Conn); ok {
				atomic.StoreInt64(&sendTid, int64(k.WriteTid()))
				atomic.StoreInt64(&recvTid, int64(k.ReadTid()))
			}
		},
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), tr),
		"GET", "http://"+addr+"/req/"+id, nil)
	if err != nil {
		return c, err
	}
	req.Host = host
	req.Header.Set("X-Request-Id", id)
	c.StartNs = NowNs()
	resp, err := h.client.Do(req)
	if err != nil {
		return c, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.EndNs = NowNs()
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("%s: status %d", addr, resp.StatusCode)
	}
	if k, ok := conn.Load().(*Conn); ok {
		c.Local = k.LocalAddr().String()
	}
	c.Tid = int(atomic.LoadInt64(&sendTid))
	c.RecvTid = int(atomic.LoadInt64(&recvTid))
	return c, err
}

type redisConn struct {
	*Conn
	r *bufio.Reader
}

// RedisPool is a shared pool of connections to one redis server: a call borrows one,
// a connection carries the calls of many requests, one after the other.
type RedisPool struct {
	addr string
	idle chan *redisConn // nil entries: connections not opened yet
}

func NewRedisPool(addr string, size int) *RedisPool {
	p := &RedisPool{addr: addr, idle: make(chan *redisConn, size)}
	for i := 0; i < size; i++ {
		p.idle <- nil
	}
	return p
}

func readResp(r *bufio.Reader) error {
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	switch line[0] {
	case '-':
		return errors.New("redis: " + line)
	case '$':
		n, err := strconv.Atoi(line[1 : len(line)-2])
		if err != nil || n < 0 {
			return err
		}
		_, err = io.ReadFull(r, make([]byte, n+2))
		return err
	}
	return nil
}

// SetGet stores and reads back the request's key: two calls (round trips), as the
// C services make.
func (p *RedisPool) SetGet(id string) ([]Call, error) {
	rc := <-p.idle
	var calls []Call
	var err error

	if rc == nil {
		var c *Conn

		if c, err = Dial(p.addr); err != nil {
			p.idle <- nil
			return nil, err
		}
		rc = &redisConn{Conn: c, r: bufio.NewReader(c)}
	}
	key := "krt:" + id
	cmds := []string{
		fmt.Sprintf("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(key), key, len(id), id),
		fmt.Sprintf("*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", len(key), key),
	}
	for _, cmd := range cmds {
		c := Call{Kind: "redis", Peer: p.addr, Local: rc.LocalAddr().String(),
			Tid: syscall.Gettid(), StartNs: NowNs()}

		if _, err = rc.Write([]byte(cmd)); err == nil {
			c.Tid = rc.WriteTid()
			err = readResp(rc.r)
		}
		if err != nil {
			break
		}
		c.RecvTid = rc.ReadTid()
		c.EndNs = NowNs()
		calls = append(calls, c)
	}
	if err != nil {
		rc.Close()
		p.idle <- nil
		return nil, err
	}
	p.idle <- rc
	return calls, nil
}

// Serve runs handler on every request of an HTTP/1.1 server on addr; the handler finds
// its connection with ConnOf.
func Serve(addr string, handler http.HandlerFunc) error {
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: handler,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	return srv.Serve(Listener{l})
}

type connKey struct{}

func ConnOf(r *http.Request) *Conn {
	c, _ := r.Context().Value(connKey{}).(*Conn)
	return c
}

// Begin starts the truth of a request read on its connection: the thread and time of
// the read that brought it. Finish completes it when the reply leaves.
func Begin(o *Opts, model string, r *http.Request, id string, pid int) (*Truth, *Conn) {
	c := ConnOf(r)
	recvNs, first, tids := c.TakeFirstRead()
	t := &Truth{Svc: o.Name, Model: model, ID: id, Pid: pid, IoTid: first, IoTids: tids,
		RecvNs: recvNs, Client: c.RemoteAddr().String(), Local: c.LocalAddr().String()}
	return t, c
}

// Reply writes the body; the truth line goes out once the server wrote the reply
// (net/http flushes it after the handler returns).
func ReplyAndLog(o *Opts, w http.ResponseWriter, t *Truth, c *Conn) {
	body := Reply(t.ID, o.Name, o.Pad)

	c.OnNextWrite(func(tid int, ns uint64) {
		t.Tid = tid
		t.SendNs = ns
		t.Write()
	})
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	io.WriteString(w, body)
}
