#!/usr/bin/env bash
# Soak: krtrace-bpf for a long time at a steady load, sampled every interval:
# its memory (RSS), the kernel's state tables (held slots), its CPU per
# request, and the losses (ring drops, states not kept, late records).
# A tracer that runs for days must be flat in all of them.
#
#   bash bench/soak.sh [SECONDS [INTERVAL]]      (default 3600 60)
#
# Load: the test bed's chain (nginx -> app1 -> redis), requests from the
# gateway in batches of fresh keep-alive connections (so connections open
# and close all the time), paced by KRT_SOAK_GAP_US between requests on a
# connection (default 2000, two connections: about 700 requests/s here).
# KRT_SOAK_PER_CONN (default 200) requests per connection: 1 makes every
# request a new connection (churn: the engine's connection memory).
# The tracer runs as a service would: --stream, JSON lines to /dev/null.
#
# Prints one TSV line per interval and a verdict: FLAT when the RSS of the
# last sample is within 10 % (+2 MiB) of the first and no table holds more
# than its first sample plus 64 slots; exit 1 otherwise (or on a loss).
# Honours the test bed's KRT_* environment. KRT_SOAK_TSV=FILE keeps the TSV.
set -u
cd "$(dirname "$0")/.."
DURATION=${1:-3600}
INTERVAL=${2:-60}
GAP_US=${KRT_SOAK_GAP_US:-2000}
PER_CONN=${KRT_SOAK_PER_CONN:-200}
OUT=${OUTPUT:-.output}
BPF=$OUT/bin/krtrace-bpf
LOAD=$OUT/tools/krt_load
TB=utils/testbed

[ "$(id -u)" -eq 0 ] || { echo "soak: needs root" >&2; exit 2; }
[ -x "$BPF" ] && [ -x "$LOAD" ] || { echo "soak: build first (make)" >&2; exit 2; }
tmp=$(mktemp -d)
bpf_pid= load_pid=
cleanup() {
	# The load loop and the client it is running: killing the loop alone
	# left that client sending to the next test's services (the test bed's
	# addresses are reused) until its 2000 requests were done.
	if [ -n "$load_pid" ]; then
		local kids
		kids=$(pgrep -P "$load_pid")
		kill "$load_pid" 2>/dev/null
		# shellcheck disable=SC2086 # one PID per word
		[ -n "$kids" ] && kill $kids 2>/dev/null
		wait "$load_pid" 2>/dev/null
	fi
	[ -n "$bpf_pid" ] && kill -INT "$bpf_pid" 2>/dev/null && wait "$bpf_pid" 2>/dev/null
	"$TB" down >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$TB" up chain >"$tmp/up.log" 2>&1 || { tail -n 5 "$tmp/up.log"; exit 2; }
GW=$("$TB" gateway)
NGINX=$("$TB" addr nginx)
"$BPF" -g "$GW" --stream --json -o /dev/null 2>"$tmp/bpf.err" &
bpf_pid=$!
for _ in $(seq 150); do grep -q tracing "$tmp/bpf.err" && break; sleep 0.1; done
grep -q tracing "$tmp/bpf.err" || { cat "$tmp/bpf.err"; exit 2; }

(
	while :; do
		"$LOAD" -s "$NGINX" -n 2000 -c 2 -k "$PER_CONN" -g "$GAP_US" -p soak- >/dev/null 2>&1
	done
) &
load_pid=$!

hz=$(getconf CLK_TCK)
n=0
# sample N: the tracer's counters (SIGUSR1) and /proc figures, as "key value" lines
sample() {
	n=$((n + 1))
	kill -USR1 "$bpf_pid"
	for _ in $(seq 50); do grep -q "counters $n end" "$tmp/bpf.err" && break; sleep 0.1; done
	{
		awk '/^VmRSS:/ { print "rss_kb", $2 }
			/^RssAnon:/ { print "anon_kb", $2 }
			/^RssFile:/ { print "file_kb", $2 }
			/^RssShmem:/ { print "shmem_kb", $2 }' "/proc/$bpf_pid/status"
		awk -v hz="$hz" '{ sub(/.*\) /, ""); split($0, f, " "); print "cpu_ms", (f[12] + f[13]) * 1000 / hz }' \
			"/proc/$bpf_pid/stat"
		grep "counters $n " "$tmp/bpf.err" | awk -v n="$n" '
			$4 == "records" { print "records", $5; print "requests", $7 }
			$4 == "table" { print $5, $7 }
			$4 == "lost" { print "ring_drops", $6; print "slot_full", $8; print "late", $10 }
			$4 == "memory" { print "heap_kb", int($6 / 1024); print "heap_total_kb", int($8 / 1024)
				print "window_slots", $10 }'
	} >"$tmp/s$n"
}
val() { awk -v k="$2" '$1 == k { print $2 }' "$tmp/s$1"; }

tsv=${KRT_SOAK_TSV:-$tmp/soak.tsv}
printf 't_s\trss_kb\tthreads\tconnections\tdirections\trequests\tcpu_us_per_req\tring_drops\tslot_full\tlate\tanon_kb\tfile_kb\tshmem_kb\theap_kb\theap_total_kb\twindow_slots\n' |
	tee "$tsv"
start=$(date +%s)
sample
prev=$n
while [ $(($(date +%s) - start)) -lt "$DURATION" ]; do
	sleep "$INTERVAL" &
	wait $!		# a signal ends the wait, not only the sleep
	sample
	dreq=$(($(val $n requests) - $(val $prev requests)))
	dcpu=$(awk -v a="$(val $prev cpu_ms)" -v b="$(val $n cpu_ms)" 'BEGIN { print b - a }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(($(date +%s) - start))" \
		"$(val $n rss_kb)" "$(val $n threads)" "$(val $n connections)" "$(val $n directions)" \
		"$dreq" "$(awk -v c="$dcpu" -v r="$dreq" 'BEGIN { printf "%.1f", r ? c * 1000 / r : 0 }')" \
		"$(val $n ring_drops)" "$(val $n slot_full)" "$(val $n late)" \
		"$(val $n anon_kb)" "$(val $n file_kb)" "$(val $n shmem_kb)" \
		"$(val $n heap_kb)" "$(val $n heap_total_kb)" "$(val $n window_slots)" | tee -a "$tsv"
	prev=$n
done

# Flat: the end against the first interval's sample (the tracer's buffers
# and the engine's tables reach their working size in the first seconds).
verdict=FLAT
first=2
[ $n -lt 2 ] && first=1
rss0=$(val $first rss_kb) rss1=$(val $n rss_kb)
if ! awk -v a="$rss0" -v b="$rss1" 'BEGIN { exit !(b <= a * 1.10 + 2048) }'; then
	echo "soak: RSS grew from $rss0 to $rss1 kB"
	verdict=GROWING
fi
for t in threads connections directions; do
	a=$(val $first $t) b=$(val $n $t)
	if [ "$b" -gt $((a + 64)) ]; then
		echo "soak: the $t table grew from $a to $b held slots"
		verdict=GROWING
	fi
done
for l in ring_drops slot_full; do
	[ "$(val $n $l)" = 0 ] || { echo "soak: $l $(val $n $l)"; verdict=LOSSY; }
done
echo "soak: $verdict over $(($(date +%s) - start)) s, $(($(val $n requests) - $(val 1 requests))) requests"
[ $verdict = FLAT ]
