#!/usr/bin/env bash
# What following goroutines with uprobes would cost on the test bed's Go
# services (issue 19): the kernel's price of one uprobe hit here, the hits per
# request of the runtime functions a goroutine tracker probes, and the CPU per
# request the probes add to the Go service.
#
#   price    bench_uprobe price: an empty function called in a loop, with and
#            without an empty BPF program on a uprobe on it (median of pairs);
#   hits     counting uprobes on runtime.execute, gostartcallfn, ready,
#            chansend, chanrecv, selectgo, newproc1 and casgstatus while
#            krt_load drives REQUESTS requests;
#   CPU      the service's own CPU time (utime + stime) per request, in
#            ROUNDS alternating pairs: no probes, then counting uprobes on
#            execute and newproc1 (the probes a tracker needs at the least:
#            a goroutine starts running on a thread; a goroutine is created);
#   tracer   the same, under krtrace-bpf --go-threads (no uprobes),
#            krtrace-bpf (goroutines followed: uprobes on gostartcallfn and
#            ready, the running goroutine read from the thread's TLS at the
#            hooks), krtrace-bpf --go-execute (the same plus runtime.execute,
#            as before the fifth round) and krtrace-bpf --go-channels
#            (execute, gostartcallfn, chansend, chanrecv, selectgo),
#            alternating: what following goroutines adds to the service, per
#            request.
#
# Usage: bench/uprobe_cost.sh [ROUNDS (3)] [REQUESTS (1000)]
# Env: the test bed's (KRT_*; the "go" group is brought up and down again if
#      go-http is not running); TRACER_ONLY=1: the tracer part only.
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUTPUT:-.output}
ROUNDS=${1:-3}
REQUESTS=${2:-1000}
TB=utils/testbed
die() { echo "uprobe_cost: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root"
for b in tools/bench_uprobe tools/krt_load bin/krtrace-bpf; do [ -x "$OUT/$b" ] || die "run make first"; done
[ -x "$OUT/services/go-http" ] || die "$OUT/services/go-http not built (needs golang-go)"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "bad ROUNDS '$ROUNDS'"
[[ $REQUESTS =~ ^[1-9][0-9]*$ ]] || die "bad REQUESTS '$REQUESTS'"

brought_up=0
if ! "$TB" pids go-http 2>/dev/null | grep -q .; then
	"$TB" up go >/dev/null || die "test bed up go failed"
	brought_up=1
fi
cleanup() { [ $brought_up = 1 ] && "$TB" down >/dev/null 2>&1; }
trap cleanup EXIT

TCK=$(getconf CLK_TCK)
cpu_of() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
load() { "$OUT/tools/krt_load" -s "$("$TB" addr "$1")" -n "$REQUESTS" -c 4 -k 10 -p "$2" 2>/dev/null; }
[ -n "${TRACER_ONLY:-}" ] ||
	"$OUT/tools/bench_uprobe" price 20000 9 || die "bench_uprobe price failed"
for s in go-http go-fanout; do
	[ -n "${TRACER_ONLY:-}" ] && break
	pid=$("$TB" pids "$s" | awk '{ print $1; exit }')
	[ -n "$pid" ] || { echo "$s: not running, skipped"; continue; }
	bin=$OUT/services/$s
	"$OUT/tools/bench_uprobe" count "$bin" -- "$OUT/tools/krt_load" -s "$("$TB" addr "$s")" \
		-n "$REQUESTS" -c 4 -k 10 -p "uc-$s-hits-" >"/tmp/uprobe_cost.$$" 2>/dev/null
	awk -v s="$s" -v n="$REQUESTS" '/hits/ { printf "%-10s %-20s %6.1f hits per request\n", s, $1, $2 / n }' \
		"/tmp/uprobe_cost.$$"
	rm -f "/tmp/uprobe_cost.$$"
	plain=0 probed=0
	for r in $(seq 1 "$ROUNDS"); do
		a=$(cpu_of "$pid"); load "$s" "uc-$s-$r-a-"; b=$(cpu_of "$pid")
		plain=$((plain + b - a))
		a=$(cpu_of "$pid")
		"$OUT/tools/bench_uprobe" count "$bin" execute,newproc1 -- "$OUT/tools/krt_load" \
			-s "$("$TB" addr "$s")" -n "$REQUESTS" -c 4 -k 10 -p "uc-$s-$r-b-" >/dev/null 2>&1
		b=$(cpu_of "$pid")
		probed=$((probed + b - a))
	done
	awk -v s="$s" -v p="$plain" -v q="$probed" -v t="$TCK" -v n="$REQUESTS" -v r="$ROUNDS" 'BEGIN {
		u = p * 1e6 / t / (n * r); v = q * 1e6 / t / (n * r)
		printf "%-10s CPU per request: %.0f us without probes, %.0f us with uprobes on execute and newproc1 (+%.0f us)\n", s, u, v, v - u }'
done

# The tracer itself: the services' CPU per request traced by thread and with
# goroutines followed, alternating.
"$TB" pids >"/tmp/uprobe_cost.pids.$$"
traced() { # MODE_ARGS...: one run of both services under krtrace-bpf; prints "http fanout" CPU ticks
	local err=/tmp/uprobe_cost.err.$$ bpid a1 a2 b1 b2 hp fp
	hp=$("$TB" pids go-http | awk '{ print $1; exit }')
	fp=$("$TB" pids go-fanout | awk '{ print $1; exit }')
	"$OUT/bin/krtrace-bpf" -g "$("$TB" gateway)" -i "/tmp/uprobe_cost.pids.$$" --json \
		-o /dev/null "$@" 2>"$err" &
	bpid=$!
	for _ in $(seq 1 150); do grep -q tracing "$err" 2>/dev/null && break; sleep 0.1; done
	a1=$(cpu_of "$hp"); load go-http "uc-t-$RANDOM-"; b1=$(cpu_of "$hp")
	a2=$(cpu_of "$fp"); load go-fanout "uc-t-$RANDOM-"; b2=$(cpu_of "$fp")
	kill -INT "$bpid"; wait "$bpid"
	rm -f "$err"
	echo "$((b1 - a1)) $((b2 - a2))"
}
th=0 tf=0 gh=0 gf=0 eh=0 ef=0 ch=0 cf=0
for r in $(seq 1 "$ROUNDS"); do
	read -r x y < <(traced --go-threads); th=$((th + x)) tf=$((tf + y))
	read -r x y < <(traced); gh=$((gh + x)) gf=$((gf + y))
	read -r x y < <(traced --go-execute); eh=$((eh + x)) ef=$((ef + y))
	read -r x y < <(traced --go-channels); ch=$((ch + x)) cf=$((cf + y))
done
rm -f "/tmp/uprobe_cost.pids.$$"
awk -v th="$th" -v tf="$tf" -v gh="$gh" -v gf="$gf" -v eh="$eh" -v ef="$ef" -v ch="$ch" \
	-v cf="$cf" -v t="$TCK" -v n="$REQUESTS" -v r="$ROUNDS" 'BEGIN {
	k = 1e6 / t / (n * r)
	printf "go-http    traced: %.0f us per request by thread (--go-threads), %.0f us with goroutines followed (+%.0f us), %.0f us with --go-execute (+%.0f us), %.0f us with --go-channels (+%.0f us)\n", th * k, gh * k, (gh - th) * k, eh * k, (eh - th) * k, ch * k, (ch - th) * k
	printf "go-fanout  traced: %.0f us per request by thread (--go-threads), %.0f us with goroutines followed (+%.0f us), %.0f us with --go-execute (+%.0f us), %.0f us with --go-channels (+%.0f us)\n", tf * k, gf * k, (gf - tf) * k, ef * k, (ef - tf) * k, cf * k, (cf - tf) * k }'

