#!/usr/bin/env bash
# The counters benchmarks read from krtrace-bpf (--bpf-stats, SIGUSR1), and
# the rate cap at the door (--sample-rate), on a relay in the root network
# namespace traced with the loopback address as the gateway (no test bed,
# no fixed names: runs beside anything).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
OUT=${OUTPUT:-.output}
BIN=$OUT/bin/krtrace-bpf
SVC=$OUT/services
N=40

need_root
need_live_relay "$SVC"

TMP=$(mktemp -d)
PIDS=()
cleanup() {
	stop_pids "${PIDS[@]+"${PIDS[@]}"}"
	rm -rf "$TMP"
}
trap cleanup EXIT

# The relay on a loopback port nobody uses (tests/lib.sh).
start_loopback_relay "$SVC" "$TMP/relay.log"
[ -n "$RELAY" ] || skip_suite "no port found the relay could listen on ($(head -c 200 "$TMP/relay.log"))"
PIDS+=("$RELAY")
echo "$RELAY relay 127.0.0.1 relay" >"$TMP/pids"

# start_tracer ERRFILE OPTIONS...: krtrace-bpf in the background ($TRACER),
# returning once its programs are attached.
start_tracer() {
	local err=$1
	shift
	"$BIN" -g 127.0.0.1 -i "$TMP/pids" "$@" 2>"$err" &
	TRACER=$!
	PIDS+=("$TRACER")
	wait_tracing "$TRACER" "$err"
}
# counters ERRFILE N: SIGUSR1, then waits for block N
counters() {
	kill -USR1 "$TRACER"
	for _ in $(seq 200); do
		grep -q "counters $2 end" "$1" && return 0
		sleep 0.05
	done
	return 1
}
# field ERRFILE N WHAT: a value of block N (records, started, sampled, or
# "PROGRAM runs" / "PROGRAM run_ns", or a ring record kind: "kind xfer")
field() {
	awk -v n="$2" -v w="$3" -v x="${4:-}" '$2 == "counters" && $3 == n {
		if ($4 == "records") { v["records"] = $5; v["started"] = $7; v["sampled"] = $9 }
		if ($4 == "prog" && $5 == w) { v[w " runs"] = $7; v[w " run_ns"] = $9 }
		if ($4 == "kinds") for (i = 5; i < NF; i += 2) v["kind " $i] = $(i + 1) }
		END { k = x == "" ? w : w " " x; print v[k] + 0 }' "$1"
}

start_tracer "$TMP/c.err" --bpf-stats -o /dev/null
check "krtrace-bpf --bpf-stats starts" grep -q ": tracing " "$TMP/c.err" ||
	sed 's/^/#   /' "$TMP/c.err" | head -20
counters "$TMP/c.err" 1
check "SIGUSR1 prints the counters" grep -q "counters 1 end" "$TMP/c.err"
"$SVC/live_client" 127.0.0.1 "$PORT" $N 1 >/dev/null 2>&1
check "client: every request answered" [ $? -eq 0 ]
counters "$TMP/c.err" 2
check "a second SIGUSR1, a second block" grep -q "counters 2 end" "$TMP/c.err"
started=$(($(field "$TMP/c.err" 2 started) - $(field "$TMP/c.err" 1 started)))
records=$(($(field "$TMP/c.err" 2 records) - $(field "$TMP/c.err" 1 records)))
runs=$(($(field "$TMP/c.err" 2 krt_sock_recv runs) - $(field "$TMP/c.err" 1 krt_sock_recv runs)))
ns=$(($(field "$TMP/c.err" 2 krt_sock_recv run_ns) - $(field "$TMP/c.err" 1 krt_sock_recv run_ns)))
check "requests at the door counted between the blocks ($started of $N)" [ "$started" -eq $N ]
check "ring records counted ($records for $N requests)" [ "$records" -ge $N ]
# Records by kind are counted as the reader takes them from the ring, which
# it drains every 50 ms or so: a block printed just after the client ends may
# come before that (a CI run saw 0 of 360). Further blocks, up to 5 s.
blk=2
for _ in $(seq 25); do
	[ "$(($(field "$TMP/c.err" $blk kind xfer) - $(field "$TMP/c.err" 1 kind xfer)))" -ge $N ] && break
	sleep 0.2
	blk=$((blk + 1))
	counters "$TMP/c.err" $blk || break
done
xfers=$(($(field "$TMP/c.err" $blk kind xfer) - $(field "$TMP/c.err" 1 kind xfer)))
check "transfer records counted by kind ($xfers for $N requests)" [ "$xfers" -ge $N ]
kinds=0
for k in switch wakeup batches xfer cpu fork exit sock_state notify; do
	kinds=$((kinds + $(field "$TMP/c.err" $blk kind $k)))
done
check "records by kind add up to at most the records ($kinds of $(field "$TMP/c.err" $blk records))" \
	[ "$kinds" -le "$(field "$TMP/c.err" $blk records)" -a "$kinds" -gt 0 ]
check "receive hook hits counted ($runs for $N requests)" [ "$runs" -ge $N ]
check "receive hook run time counted with --bpf-stats ($ns ns)" [ "$ns" -gt 0 ]
kill -INT "$TRACER"
wait "$TRACER"
check "krtrace-bpf --bpf-stats exits 0" [ $? -eq 0 ]
check "run time per program at exit" grep -qE "^  krt_sock_recv +[0-9]+ runs +[0-9.]+ ns/run" "$TMP/c.err"

# The rate cap (--sample-rate): each second's first R requests traced, the
# rest leave no record; with --sample 2, R per second of the odd ids.
rate_run() { # NAME OPTIONS...
	local name=$1
	shift
	start_tracer "$TMP/$name.err" --json -o "$TMP/$name.jsonl" "$@"
	t0=$(date +%s%N)
	"$SVC/live_client" 127.0.0.1 "$PORT" $N 1 >/dev/null 2>&1
	t1=$(date +%s%N)
	counters "$TMP/$name.err" 1
	kill -INT "$TRACER"
	wait "$TRACER"
	# the seconds of the kernel's clock the requests could span
	secs=$(((t1 - t0) / 1000000000 + 2))
	started=$(field "$TMP/$name.err" 1 started)
	sampled=$(field "$TMP/$name.err" 1 sampled)
	capped=$(awk '$2 == "counters" && $4 == "records" {print $11}' "$TMP/$name.err")
	traces=$(grep -c '"trace_id"' "$TMP/$name.jsonl")
}
R=5
rate_run rate --sample-rate $R
check "--sample-rate $R: every request seen at the door ($started of $N)" [ "$started" -eq $N ]
check "--sample-rate $R: at most $R a second traced ($sampled in at most $secs s)" \
	test "$sampled" -ge 1 -a "$sampled" -le $((R * secs))
check "--sample-rate $R: the rest counted over the cap ($capped = $started - $sampled)" \
	[ "$capped" -eq $((started - sampled)) ]
check "--sample-rate $R: a trace per request sampled ($traces of $sampled)" [ "$traces" -eq "$sampled" ]
check "--sample-rate $R: in the JSON summary (cap $R, $capped over it)" \
	grep -q "\"sample_rate_cap\":$R,.*\"traces_capped\":${capped}[,}]" "$TMP/rate.jsonl"
check "--sample-rate $R: reported on stderr" \
	grep -q "sampling at most $R per second: $sampled of $N requests traced" "$TMP/rate.err"
rate_run both --sample 2 --sample-rate $R
check "--sample 2 --sample-rate $R: at most $R a second ($sampled in at most $secs s)" \
	test "$sampled" -ge 1 -a "$sampled" -le $((R * secs))
check "--sample 2 --sample-rate $R: the cap counts only the one in 2 kept ($capped = $N / 2 - $sampled)" \
	[ "$capped" -eq $((N / 2 - sampled)) ]
check "--sample 2 --sample-rate $R: a trace per request sampled ($traces of $sampled)" \
	[ "$traces" -eq "$sampled" ]
