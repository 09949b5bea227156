// go-http: a net/http server whose handler calls its downstreams in order (-d,
// as the C services do), the HTTP ones through net/http's client and its shared
// pool of keep-alive connections, redis through a shared pool of -w connections.
// Goroutines of many requests share a few threads (GOMAXPROCS), and a request's
// goroutine may resume on another thread after every blocking call: the model a
// thread-level tracer gets wrong.
package main

import (
	"net/http"
	"os"
	"strings"

	"krtsvc/svc"
)

const prog = "go-http"

func main() {
	o := svc.ParseOpts(prog, "A net/http server calling its downstreams through shared connection pools.")
	pid := os.Getpid()
	httpc := svc.NewHTTPClient(o.Workers)
	redis := map[string]*svc.RedisPool{}

	for _, d := range o.Down {
		if d.Kind == "redis" {
			redis[d.Addr] = svc.NewRedisPool(d.Addr, o.Workers)
		}
	}
	handler := func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/req/")
		t, c := svc.Begin(o, "go-http", r, id, pid)

		svc.Busy(o.WorkUs)
		for _, d := range o.Down {
			if d.Kind == "redis" {
				calls, err := redis[d.Addr].SetGet(id)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadGateway)
					return
				}
				t.AddCalls(calls...)
				continue
			}
			call, err := httpc.Get(d.Addr, id, o.Name)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			t.AddCalls(call)
		}
		svc.ReplyAndLog(o, w, t, c)
	}
	if err := svc.Serve(o.Listen, handler); err != nil {
		svc.Die(prog, "%s: %v", o.Listen, err)
	}
}
