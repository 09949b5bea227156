#!/usr/bin/env bash
# Accuracy on the Go services (issue 19), live: go-http (net/http server, shared
# connection pools through net/http's client) and go-fanout (goroutines per
# downstream call, a WaitGroup, a channel hand-off to a worker pool), both built
# from tests/services/go by `make` when golang-go is installed.
#
# Brings up the test bed's "go" group (go-http, go-fanout, backend, redis), traces
# it with krtrace-bpf by default, with --sample 10 and with --go-channels, drives counted requests
# through both services and scores the results against the services' ground truth.
# Last, go-http is restarted under a discovering krtrace-bpf: the new process's
# goroutines must be followed too (uprobes attached by the re-scan).
#
# Environment: the test bed's KRT_* names (run side by side with other suites),
# KRT_GO_REQUESTS (per service and run, 200), KRT_GO_MIN_HTTP, KRT_GO_MIN_FANOUT,
# KRT_GO_MIN_CHANNELS_FANOUT, KRT_GO_MIN_SAMPLED and KRT_GO_MIN_RESTART (% exact
# asserted per service, see below), KRT_KEEP=DIR (keep results and truth).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
OUT=${OUTPUT:-.output}
need_root
REQUESTS=${KRT_GO_REQUESTS:-200}
LOAD=$OUT/tools/krt_load
SCORE=$OUT/tools/krt_score
BPF=$OUT/bin/krtrace-bpf
TB=utils/testbed
for b in "$OUT/services/go-http" "$OUT/services/go-fanout"; do
	[ -x "$b" ] || skip_suite "$b not built (needs golang-go)"
done
for b in "$LOAD" "$SCORE" "$BPF" "$OUT/services/svc_thread"; do
	[ -x "$b" ] || skip_suite "$b not built"
done
command -v redis-server >/dev/null || skip_suite "redis-server not installed"
ip link show "${KRT_BRIDGE:-krtbr0}" >/dev/null 2>&1 &&
	skip_suite "the test bed is in use (bridge ${KRT_BRIDGE:-krtbr0} exists); run utils/testbed down"
"$BPF" --help >/dev/null 2>&1 || skip_suite "krtrace-bpf does not run here"

# Floors per service, below what goroutine tracking reaches by the noise of a
# shared machine. Fourth round (a reused runtime.g no longer starts with the
# trace of the goroutine that ended on it), four runs of 100 requests: go-http
# and go-fanout 100 % every time, --go-channels 100 % and 98-100 %, sampled
# (23-37 per service) all exact, restart 100 %. Third round: go-http 96-100 %,
# go-fanout 98-100 %; before, go-http 93-100 %, go-fanout 88-99 %. The
# attribution by thread alone gave 8 % and 0 %. A floor of 96 leaves room for
# two pairs of requests (one with the other's call: a pooled connection's
# first request, or its writer finding the next request queued; README, Go).
# go-http's 93: a CI run at 6c371e9 had 95 of 100 (5 missing their calls, 0
# wrong) on a loaded machine; go-fanout has stayed at 96 or above, except
# once: --go-channels 94 of 100 in a loaded CI run (sixth round; 100 % in
# the 7 runs after). The floors are rates: 200 requests per run since the
# seventh round (a second or so of load each; --go-channels go-fanout 196 of
# 200 loaded) halve a burst's share, one stall of the machine taking a few
# requests' calls.
MIN_HTTP=${KRT_GO_MIN_HTTP:-93}
MIN_FANOUT=${KRT_GO_MIN_FANOUT:-96}
# go-fanout under --go-channels (hand-offs on the channel operations, switches
# on runtime.execute: not the default way) is below the default's rate: 97.0,
# 100, 97.0, 97.0 % of 200 here at 889c69b and 99.0, 97.5, 98.5 at 5252313
# (seventh round, quiet machine, alternating), 93.5 % in that round's CI run
# on a fresh clone (6 misses among its first 83 requests) and 94 of 100 in the
# sixth's: a floor of 96 failed one CI run in two rounds. The default mode
# keeps 96.
MIN_CHANNELS_FANOUT=${KRT_GO_MIN_CHANNELS_FANOUT:-92}
# go-http restarted under a discovering tracer: 100 % in four runs (fourth
# round; third: 100 % twice, 89-97 % before); its pools open their connections
# traced (40 warm-up requests)
MIN_RESTART=${KRT_GO_MIN_RESTART:-95}
MIN_SAMPLED=${KRT_GO_MIN_SAMPLED:-90}

tmp=$(mktemp -d)
bpf_pid=
stripped_pid=
cleanup() {
	[ -n "$bpf_pid" ] && stop_live "$bpf_pid"
	[ -n "$stripped_pid" ] && kill "$stripped_pid" 2>/dev/null && wait "$stripped_pid" 2>/dev/null
	"$TB" down >/dev/null 2>&1
	drop_tmp "$tmp"
}
trap cleanup EXIT

# go-http without its symbol table runs beside go-http in its container:
# named on stderr as a Go program that cannot be inspected, traced by thread.
go_bed_up "$tmp"
gohttp_pid=$(awk -v c="${KRT_NS_PREFIX:-krt-}go-http" '$2 == c { print $1; exit }' "$tmp/pids.txt")

# run NAME TRACER_ARGS...: one traced run of REQUESTS per Go service, scored;
# sampled, three times as many: ~60 sampled requests per service make a floor
# (at 10, one request was 10 %: a CI run failed go-fanout at 6 of 10).
run() {
	local name=$1 rc pids=() p lrc=0 sampled=() n=$REQUESTS
	shift
	[[ " $* " == *" --sample "* ]] && sampled=(--sampled) && n=$((3 * REQUESTS))
	"$BPF" --gateway "$GW" -i "$tmp/pids.txt" --json -o "$tmp/$name.jsonl" "$@" \
		2>"$tmp/$name.err" &
	bpf_pid=$!
	check "$name: krtrace-bpf attached" wait_tracing "$bpf_pid" "$tmp/$name.err"
	for s in go-http go-fanout; do
		"$LOAD" -s "$("$TB" addr $s)" -n "$n" -c 4 -k 10 -g 500 -p "$name-$s-" \
			-t "$tmp/client-$name-$s.jsonl" 2>>"$tmp/load.err" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || lrc=1; done
	"$LOAD" -s "$stripped_addr" -n 20 -c 2 -k 10 -p "$name-stripped-" \
		-t "$tmp/stripped-client-$name.jsonl" 2>>"$tmp/load.err" || lrc=1
	check "$name: every request answered" test $lrc -eq 0
	sleep 0.3
	stop_live "$bpf_pid"
	rc=$?
	bpf_pid=
	check "$name: krtrace-bpf ends cleanly on SIGINT (status $rc)" test "$rc" -eq 0
	mkdir -p "$tmp/truth-$name"
	cp "$STATE"/truth/*.jsonl "$tmp/truth-$name/"
	cat "$tmp"/client-"$name"-*.jsonl >"$tmp/truth-$name/client.jsonl"
	# each request has a trace (by thread, until goroutines are followed); sampled: ~1 in 10
	local want=$((2 * n + 20)) got
	got=$(grep -c '"ingress"' "$tmp/$name.jsonl")
	if [ ${#sampled[@]} -eq 0 ]; then
		check "$name: a trace per request ($got traces for $want requests)" test "$got" -ge "$want"
	else
		check "$name: about one request in 10 traced ($got traces for $want requests)" \
			test "$got" -ge $((want / 20)) -a "$got" -le $((want / 5))
	fi
	for s in go-http go-fanout; do
		local MIN=$MIN_HTTP
		[ "$s" = go-fanout ] && MIN=$MIN_FANOUT
		[ "$s" = go-fanout ] && [ "$name" = channels ] && MIN=$MIN_CHANNELS_FANOUT
		# About 60 requests are sampled per service: the floor allows
		# six misses.
		[ ${#sampled[@]} -gt 0 ] && MIN=$MIN_SAMPLED
		if "$SCORE" --truth "$tmp/truth-$name" --prefix "$name-$s-" --model "$s" \
			--json "$tmp/$name.jsonl" --path live --min "$MIN" --slack-us 200 \
			"${sampled[@]}" -v >"$tmp/$name-$s.score" 2>"$tmp/$name-$s.score.err"; then
			sed 's/^/# /' "$tmp/$name-$s.score"
			ok "$name: $s >= $MIN % exact"
		else
			sed 's/^/# /' "$tmp/$name-$s.score"
			not_ok "$name: $s >= $MIN % exact" \
				"$(grep 'below' "$tmp/$name-$s.score.err" | tr '\n' ' ')"
			grep -v '^    ' "$tmp/$name-$s.score.err" | head -n 6
		fi
	done
}

# Warm-up, untraced: the services' pools open their connections. The first
# request on a new pooled connection is often attributed to the request that
# opened it (net/http hands the new connection to whichever request waits, and
# its writer goroutine takes that request before it ever ran: no hand-off is
# seen); README says so, the runs below measure the steady state.
for s in go-http go-fanout; do
	"$LOAD" -s "$("$TB" addr $s)" -n 40 -c 8 -k 5 -p "warmup-$s-" 2>>"$tmp/load.err"
done
"$LOAD" -s "$stripped_addr" -n 10 -c 2 -k 5 -p warmup-stripped- 2>>"$tmp/load.err"

run default
check "the stripped Go binary is named, attributed by thread" grep -q \
	"go-http-strippe\[$stripped_pid\] is a Go program (go1\.[0-9.]*) attributed by thread, its requests may be mixed: no symbol table" \
	"$tmp/default.err"
check "the summary counts 2 Go programs followed, 1 by thread" grep -q \
	'"go_followed":2,"go_by_thread":1' "$tmp/default.jsonl"
check "go-http's goroutines are followed, runtime.execute not probed" grep -q \
	"go-http\[$gohttp_pid\] is a Go program (go1\.[0-9.]*): its goroutines are followed (uprobes on runtime.gostartcallfn, send, recv;" \
	"$tmp/default.err"
# the hooks found the goroutines from the threads' TLS (no runtime.execute probe)
check "the summary counts goroutine changes found at the hooks" python3 -c '
import json, sys
s = [json.loads(l)["summary"] for l in open(sys.argv[1]) if "\"summary\"" in l][-1]
sys.exit(not (s.get("go_synced", 0) >= 200 and s.get("go_switches", 0) > 0 and
              s.get("go_inherited", 0) > 0 and s.get("go_handoffs", 0) > 0))' "$tmp/default.jsonl"
# Goroutine ids on the hops: every Go service's request was read by a known goroutine
# (to_goid on its ingress hop, goids on its thread's row); no hop received by the C
# backend has one.
gaddr=$("$TB" addr go-http) faddr=$("$TB" addr go-fanout) baddr=$("$TB" addr backend)
check "goid: the ingress hop and thread of every go-http / go-fanout request name its goroutine" \
	python3 -c '
import json, sys
go, bad = 0, 0
for l in open(sys.argv[1]):
    t = json.loads(l)
    if "hops" not in t:
        continue
    ing = t["ingress"]
    if ing["server"] in (sys.argv[2], sys.argv[3]):
        go += 1
        bad += not any("to_goid" in h for h in t["hops"]
                       if h["to_addr"] == ing["server"] and h["recv_ns"] == ing["ts_ns"])
        bad += not any("goids" in th for th in t["threads"] if th["tid"] == ing["tid"])
    bad += sum("to_goid" in x for x in t["hops"] if x["to_addr"].split(":")[0] == sys.argv[4])
print("# %d Go requests, %d without goid or with a goid on a C receiver" % (go, bad))
sys.exit(not (go >= 2 * int(sys.argv[5]) and bad == 0))' "$tmp/default.jsonl" "$gaddr" "$faddr" \
	"${baddr%:*}" "$REQUESTS"
# The sender's goroutine on the hops the kernel merges (a Go service's send read by
# the traced backend or redis rides in the receiver's record): from_goid there too.
check "goid: the Go services' sends to the backend and redis name their goroutine (merged hops)" \
	python3 -c '
import json, sys
go = (sys.argv[2].split(":")[0], sys.argv[3].split(":")[0])
n, named = 0, 0
for l in open(sys.argv[1]):
    t = json.loads(l)
    if "hops" not in t or t["ingress"]["server"] not in sys.argv[2:4]:
        continue  # the stripped go-http beside go-http: by thread, no goids
    for h in t["hops"]:
        if h["from_addr"].split(":")[0] in go and h["to"]:
            n += 1
            named += "from_goid" in h
print("# %d sends from Go services to traced peers, %d with from_goid" % (n, named))
sys.exit(not (n >= 2 * int(sys.argv[4]) and named >= n * 98 // 100))' "$tmp/default.jsonl" \
	"$gaddr" "$faddr" "$REQUESTS"
run sampled --sample 10
# --go-channels: hand-offs followed on the channel operations instead of runtime.ready
run channels --go-channels
check "--go-channels: go-http's channel operations are probed" grep -q \
	"go-http\[$gohttp_pid\] is a Go program (go1\.[0-9.]*): its goroutines are followed (uprobes on runtime.execute, gostartcallfn, chansend, chanrecv, selectgo" \
	"$tmp/channels.err"
# --go-execute: goroutine switches seen by a uprobe on runtime.execute (the earlier way)
run execute --go-execute
check "--go-execute: go-http's runtime.execute is probed" grep -q \
	"go-http\[$gohttp_pid\] is a Go program (go1\.[0-9.]*): its goroutines are followed (uprobes on runtime.execute, gostartcallfn, ready" \
	"$tmp/execute.err"

# --go-threads: no uprobes, every Go program named as attributed by thread
"$BPF" --gateway "$GW" -i "$tmp/pids.txt" --json -o "$tmp/threads.jsonl" --go-threads -d 4 \
	2>"$tmp/threads.err" &
bpf_pid=$!
wait_tracing "$bpf_pid" "$tmp/threads.err"
"$LOAD" -s "$gohttp_addr" -n 10 -c 2 -k 10 -p threads- 2>>"$tmp/load.err"
wait "$bpf_pid"
bpf_pid=
check "--go-threads: every Go program by thread, named" grep -q \
	"go-fanout\[[0-9]*\] is a Go program (go1\.[0-9.]*) attributed by thread, its requests may be mixed: goroutines not followed (--go-threads)" \
	"$tmp/threads.err"
check "--go-threads: the summary counts 3 Go programs by thread" grep -q \
	'"go_followed":0,"go_by_thread":3' "$tmp/threads.jsonl"

# A Go service restarted while krtrace-bpf runs (discovery, no -i): the re-scan
# finds the new process and attaches its uprobes too, not only its threads.
"$BPF" --gateway "$GW" --json -o "$tmp/restart.jsonl" 2>"$tmp/restart.err" &
bpf_pid=$!
wait_tracing "$bpf_pid" "$tmp/restart.err"
kill "$gohttp_pid"
for _ in $(seq 100); do [ -d "/proc/$gohttp_pid" ] || break; sleep 0.05; done
"$TB" up go >>"$tmp/up.log" 2>&1
new_pid=$("$TB" pids | awk -v c="${KRT_NS_PREFIX:-krt-}go-http" '$2 == c { p = $1 } END { print p }')
for _ in $(seq 100); do
	grep -q "go-http\[$new_pid\] is a Go program" "$tmp/restart.err" && break
	sleep 0.05
done
check "restarted go-http (PID $gohttp_pid -> $new_pid): its goroutines are followed" grep -q \
	"go-http\[$new_pid\] is a Go program (go1\.[0-9.]*): its goroutines are followed" \
	"$tmp/restart.err"
"$LOAD" -s "$gohttp_addr" -n 40 -c 8 -k 5 -p restart-warmup- 2>>"$tmp/load.err"
"$LOAD" -s "$gohttp_addr" -n "$REQUESTS" -c 4 -k 10 -p restart-go-http- \
	-t "$tmp/client-restart.jsonl" 2>>"$tmp/load.err"
sleep 0.3
stop_live "$bpf_pid"
bpf_pid=
# at the start go-http, go-fanout (followed) and the stripped one; then the new go-http
check "the summary counts the restarted go-http as followed (3 followed, 1 by thread)" grep -q \
	'"go_followed":3,"go_by_thread":1' "$tmp/restart.jsonl"
mkdir -p "$tmp/truth-restart"
cp "$STATE"/truth/*.jsonl "$tmp/truth-restart/"
cp "$tmp/client-restart.jsonl" "$tmp/truth-restart/client.jsonl"
if "$SCORE" --truth "$tmp/truth-restart" --prefix restart-go-http- --model go-http \
	--json "$tmp/restart.jsonl" --path live --min "$MIN_RESTART" --slack-us 200 \
	-v >"$tmp/restart.score" 2>"$tmp/restart.score.err"; then
	sed 's/^/# /' "$tmp/restart.score"
	ok "restart: go-http >= $MIN_RESTART % exact after its restart"
else
	sed 's/^/# /' "$tmp/restart.score"
	not_ok "restart: go-http >= $MIN_RESTART % exact after its restart" \
		"$(grep 'below' "$tmp/restart.score.err" | tr '\n' ' ')"
fi
