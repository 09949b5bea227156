// Package svc is the Go side of the test services' plumbing (tests/services/svc_common.h):
// options, ground truth lines, and connections that remember which OS thread last read
// and wrote them. A goroutine moves between threads (Go schedules M:N), so the thread
// of a transfer is known only at the transfer itself: the wrappers here record it right
// after the read returns and right before the write, with no scheduling point between
// the system call and the record.
package svc

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// NowNs is CLOCK_MONOTONIC in ns, the clock of the C services, ftrace "mono" and BPF.
func NowNs() uint64 {
	var ts syscall.Timespec

	// CLOCK_MONOTONIC = 1; the raw call: time.Now() hides the monotonic reading.
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 1, uintptr(unsafe.Pointer(&ts)), 0)
	return uint64(ts.Sec)*1e9 + uint64(ts.Nsec)
}

// Down is a downstream service: "http:IP:PORT" or "redis:IP:PORT".
type Down struct {
	Kind, Addr string
}

type downList []Down

func (d *downList) String() string { return fmt.Sprint(*d) }

func (d *downList) Set(s string) error {
	kind, addr, ok := strings.Cut(s, ":")
	if !ok || (kind != "http" && kind != "redis") {
		return fmt.Errorf("bad downstream '%s' (want http:IP:PORT or redis:IP:PORT)", s)
	}
	if _, err := net.ResolveTCPAddr("tcp4", addr); err != nil {
		return fmt.Errorf("bad downstream address '%s': %v", addr, err)
	}
	*d = append(*d, Down{kind, addr})
	return nil
}

// Opts are the options every service takes (as the C services' svc_parse_opts).
type Opts struct {
	Listen, Name, Truth string
	Down                []Down
	Workers             int
	WorkUs              int
	Pad                 int
}

func ParseOpts(prog, about string) *Opts {
	o := &Opts{}
	var downs downList

	flag.StringVar(&o.Listen, "l", "", "IP:PORT to listen on")
	flag.StringVar(&o.Name, "n", prog, "service name in the truth")
	flag.StringVar(&o.Truth, "t", "", "truth file (JSON lines)")
	flag.Var(&downs, "d", "downstream http:IP:PORT or redis:IP:PORT (repeatable)")
	flag.IntVar(&o.Workers, "w", 2, "connections per downstream / worker goroutines")
	flag.IntVar(&o.WorkUs, "c", 0, "CPU work per request (µs, busy loop)")
	flag.IntVar(&o.Pad, "p", 64, "reply padding (bytes)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: %s -l IP:PORT [-n NAME] [-t TRUTH.jsonl] [-d KIND:IP:PORT]... [-w N] [-c US] [-p BYTES]\n%s\n",
			prog, about)
		flag.PrintDefaults()
	}
	flag.Parse()
	o.Down = downs
	if o.Listen == "" || flag.NArg() != 0 || o.Workers < 1 || o.Workers > 256 {
		flag.Usage()
		os.Exit(2)
	}
	if o.Truth != "" {
		f, err := os.OpenFile(o.Truth, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0644)
		if err != nil {
			Die(prog, "%s: %v", o.Truth, err)
		}
		truthFile = f
	}
	return o
}

func Die(prog, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", prog, fmt.Sprintf(format, args...))
	os.Exit(1)
}

// Busy burns CPU for about us microseconds, so requests show on-CPU time.
func Busy(us int) {
	end := NowNs() + uint64(us)*1000
	x := 0
	for NowNs() < end {
		for i := 0; i < 200; i++ {
			x += i
		}
	}
	sink = x
}

var sink int

// Call is one downstream call as the truth records it. Tid sent the request,
// RecvTid read the reply (another thread, or another goroutine, in Go).
type Call struct {
	Kind, Peer, Local string
	Tid, RecvTid      int
	StartNs, EndNs    uint64
}

// Truth is one request at one service (the C services' struct svc_truth).
// Tid wrote the reply, IoTid read the request's first bytes (net/http's
// background reader may read its first byte on one thread, its server goroutine
// the rest on another: IoTids lists them all); CPU time per thread is not known
// for a goroutine (cpu_ns 0: the scorer skips it).
type Truth struct {
	Svc, Model, ID  string
	Pid, Tid, IoTid int
	IoTids          []int // every thread that read bytes of the request
	Client, Local   string
	RecvNs, SendNs  uint64
	mu              sync.Mutex
	Calls           []Call
}

func (t *Truth) AddCalls(c ...Call) {
	t.mu.Lock()
	t.Calls = append(t.Calls, c...)
	t.mu.Unlock()
}

var truthFile *os.File

// Write appends the line with one write() (O_APPEND: lines never mix).
func (t *Truth) Write() {
	var b strings.Builder

	if truthFile == nil {
		return
	}
	fmt.Fprintf(&b, `{"svc":"%s","model":"%s","id":"%s","pid":%d,"tid":%d,"io_tid":%d,`+
		`"io_tids":[`, t.Svc, t.Model, t.ID, t.Pid, t.Tid, t.IoTid)
	for i, tid := range t.IoTids {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d", tid)
	}
	fmt.Fprintf(&b, `],"client":"%s","local":"%s","recv_ns":%d,"send_ns":%d,"cpu_ns":0,"calls":[`,
		t.Client, t.Local, t.RecvNs, t.SendNs)
	t.mu.Lock()
	for i, c := range t.Calls {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"kind":"%s","peer":"%s","local":"%s","tid":%d,"recv_tid":%d,`+
			`"start_ns":%d,"end_ns":%d}`, c.Kind, c.Peer, c.Local, c.Tid, c.RecvTid,
			c.StartNs, c.EndNs)
	}
	t.mu.Unlock()
	b.WriteString("]}\n")
	if _, err := truthFile.Write([]byte(b.String())); err != nil {
		fmt.Fprintf(os.Stderr, "truth write: %v\n", err)
	}
}

// Conn is a TCP connection that remembers the thread and time of its last
// read returning bytes and of its last write, for the truth.
type Conn struct {
	net.Conn
	raw                 syscall.RawConn
	readTid, writeTid   int64
	firstReadNs, readNs int64 // first read since TakeFirstRead, last read
	firstReadTid        int64
	readTids            []int // threads that read since TakeFirstRead
	onWrite             func(tid int, ns uint64)
	mu                  sync.Mutex
}

// NewConn wraps a TCP connection.
func NewConn(c net.Conn) *Conn {
	k := &Conn{Conn: c}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
		if raw, err := tc.SyscallConn(); err == nil {
			k.raw = raw
		}
	}
	return k
}

// Read reads through the socket's raw file descriptor so that the thread is
// taken right before the read(2) that returns the bytes: after it, leaving the
// system call may move the goroutine to another thread.
func (c *Conn) Read(p []byte) (int, error) {
	var n, tid int
	var err error

	if c.raw == nil {
		return c.Conn.Read(p)
	}
	rerr := c.raw.Read(func(fd uintptr) bool {
		tid = syscall.Gettid()
		n, err = syscall.Read(int(fd), p)
		return err != syscall.EAGAIN
	})
	if rerr != nil {
		return 0, rerr
	}
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	now := int64(NowNs())
	atomic.StoreInt64(&c.readTid, int64(tid))
	atomic.StoreInt64(&c.readNs, now)
	if atomic.CompareAndSwapInt64(&c.firstReadNs, 0, now) {
		atomic.StoreInt64(&c.firstReadTid, int64(tid))
	}
	c.mu.Lock()
	if len(c.readTids) < 8 && !containsInt(c.readTids, tid) {
		c.readTids = append(c.readTids, tid)
	}
	c.mu.Unlock()
	return n, nil
}

func containsInt(v []int, x int) bool {
	for _, y := range v {
		if y == x {
			return true
		}
	}
	return false
}

func (c *Conn) Write(p []byte) (int, error) {
	tid := syscall.Gettid()
	// stored before the write: the reply may be read (and this looked up) before
	// the writer returns from it
	atomic.StoreInt64(&c.writeTid, int64(tid))
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	f := c.onWrite
	c.onWrite = nil
	c.mu.Unlock()
	if f != nil && err == nil {
		f(tid, NowNs())
	}
	return n, err
}

// ReadTid is the thread of the last read that returned bytes.
func (c *Conn) ReadTid() int { return int(atomic.LoadInt64(&c.readTid)) }

// WriteTid is the thread of the last write.
func (c *Conn) WriteTid() int { return int(atomic.LoadInt64(&c.writeTid)) }

// TakeFirstRead returns the time and thread of the first read since the last
// call, and every thread that read since.
func (c *Conn) TakeFirstRead() (uint64, int, []int) {
	c.mu.Lock()
	tids := c.readTids
	c.readTids = nil
	c.mu.Unlock()
	return uint64(atomic.SwapInt64(&c.firstReadNs, 0)), int(atomic.LoadInt64(&c.firstReadTid)), tids
}

// OnNextWrite runs f after the next write (the reply leaves: the truth is complete).
func (c *Conn) OnNextWrite(f func(tid int, ns uint64)) {
	c.mu.Lock()
	c.onWrite = f
	c.mu.Unlock()
}

// Listener hands out *Conn.
type Listener struct{ net.Listener }

func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return NewConn(c), nil
}

// Dial connects (with a few retries: the downstream may still be starting).
func Dial(addr string) (*Conn, error) {
	var err error

	for i := 0; i < 50; i++ {
		var c net.Conn

		c, err = net.Dial("tcp4", addr)
		if err == nil {
			return NewConn(c), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, err
}

// Reply is the body of a reply, as svc_format_response writes it.
func Reply(id, svc string, pad int) string {
	if pad > 900 {
		pad = 900
	}
	return fmt.Sprintf("id=%s svc=%s %s\n", id, svc, strings.Repeat("x", pad))
}
