// go-fanout: every request calls its downstreams concurrently, one goroutine per
// downstream started by the request's goroutine, which waits for them on a
// sync.WaitGroup; the last downstream is instead handed over a channel to a fixed
// pool of -w worker goroutines (a hand-off the runtime does not tie to the request).
package main

import (
	"net/http"
	"os"
	"strings"
	"sync"

	"krtsvc/svc"
)

const prog = "go-fanout"

type job struct {
	down svc.Down
	id   string
	done chan result
}

type result struct {
	calls []svc.Call
	err   error
}

var (
	httpc *svc.HTTPClient
	redis = map[string]*svc.RedisPool{}
	name  string
)

func call(d svc.Down, id string) ([]svc.Call, error) {
	if d.Kind == "redis" {
		return redis[d.Addr].SetGet(id)
	}
	c, err := httpc.Get(d.Addr, id, name)
	return []svc.Call{c}, err
}

func worker(jobs <-chan job) {
	for j := range jobs {
		calls, err := call(j.down, j.id)
		j.done <- result{calls, err}
	}
}

func main() {
	o := svc.ParseOpts(prog, "A net/http server fanning out to its downstreams from goroutines.")
	pid := os.Getpid()
	jobs := make(chan job)

	name = o.Name
	if len(o.Down) == 0 {
		svc.Die(prog, "needs at least one downstream (-d)")
	}
	// A connection per concurrent call of every request at -w: the fan-out opens more
	// than one downstream call at a time.
	httpc = svc.NewHTTPClient(2 * o.Workers)
	for _, d := range o.Down {
		if d.Kind == "redis" {
			redis[d.Addr] = svc.NewRedisPool(d.Addr, o.Workers)
		}
	}
	for i := 0; i < o.Workers; i++ {
		go worker(jobs)
	}
	handler := func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/req/")
		t, c := svc.Begin(o, "go-fanout", r, id, pid)
		var wg sync.WaitGroup
		var failed error
		var mu sync.Mutex
		last := len(o.Down) - 1
		done := make(chan result, 1)

		svc.Busy(o.WorkUs)
		for _, d := range o.Down[:last] {
			wg.Add(1)
			go func(d svc.Down) {
				defer wg.Done()
				calls, err := call(d, id)
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
				t.AddCalls(calls...)
			}(d)
		}
		jobs <- job{o.Down[last], id, done}
		res := <-done
		wg.Wait()
		if res.err != nil {
			failed = res.err
		}
		if failed != nil {
			http.Error(w, failed.Error(), http.StatusBadGateway)
			return
		}
		t.AddCalls(res.calls...)
		svc.ReplyAndLog(o, w, t, c)
	}
	if err := svc.Serve(o.Listen, handler); err != nil {
		svc.Die(prog, "%s: %v", o.Listen, err)
	}
}
