#!/usr/bin/env bash
# Request-level overhead of tracing the test bed's nginx -> app -> redis chain
# under wrk, in alternating rounds of:
#   A  no tracing
#   B  krtrace-bpf (default: the engine's rules, no kernel tagging)
#   C  an ftrace capture of the original events (utils/krtrace-capture)
#   D  krtrace-bpf --sample 10 (implies --cpu-in-kernel)
#   E  krtrace-bpf --cpu-in-kernel (optional: CASES="A B C D E")
# Prints per case: throughput, p50/p99 latency, ratios to A, records per
# request and drops. The syscall-level figures (untraced write loop with the
# tracer attached) come from bench/overhead_syscall.sh.
#
# Usage: bench/overhead.sh [ROUNDS (3)] [SECONDS per run (5)]
# Env: the test bed's (KRT_BRIDGE, KRT_NET, KRT_STATE...); WRK_CONN (4),
#      CASES ("A B C D").
set -u
cd "$(dirname "$0")/.."
OUT=${OUTPUT:-.output}
ROUNDS=${1:-3}
DUR=${2:-5}
CASES=${CASES:-A B C D}
CONN=${WRK_CONN:-4}
TB=utils/testbed
BPF=$OUT/bin/krtrace-bpf
[ "$(id -u)" -eq 0 ] || { echo "overhead: needs root" >&2; exit 1; }
command -v wrk >/dev/null || { echo "overhead: wrk not installed" >&2; exit 1; }
[ -x "$BPF" ] || { echo "overhead: run make first" >&2; exit 1; }

STARTED=0
if ! $TB status 2>/dev/null | grep -q "^nginx .*running"; then
	$TB up chain >&2 || { echo "overhead: test bed did not start" >&2; exit 1; }
	STARTED=1
fi
TMP=$(mktemp -d)
cleanup() {
	rm -rf "$TMP"
	[ "$STARTED" -eq 1 ] && $TB down >&2
}
trap cleanup EXIT

URL=http://$($TB addr nginx)/req/wrk
GW=$($TB status | awk '/^bridge/ {sub(/\/.*/, "", $3); print $3}')
$TB pids >"$TMP/pids.txt"

# to_ms VALUE_WITH_UNIT
to_ms() { awk -v v="$1" 'BEGIN{u=v; sub(/[0-9.]+/, "", u); n=v+0;
	if (u=="us") n/=1000; else if (u=="s") n*=1000; printf "%.3f", n}'; }

# run_wrk -> "rps p50_ms p99_ms requests"
run_wrk() {
	wrk -t1 -c"$CONN" -d"${DUR}s" --latency "$URL" >"$TMP/wrk" 2>&1
	local rps p50 p99 n
	rps=$(awk '/^Requests\/sec/ {print $2}' "$TMP/wrk")
	p50=$(to_ms "$(awk '$1=="50%" {print $2}' "$TMP/wrk")")
	p99=$(to_ms "$(awk '$1=="99%" {print $2}' "$TMP/wrk")")
	n=$(awk '/requests in/ {print $1}' "$TMP/wrk")
	echo "${rps:-0} $p50 $p99 ${n:-0}"
}

# run_case CASE -> "rps p50 p99 records_per_request drops"
run_case() {
	local c=$1 r tp rec drops n
	case $c in
	A)
		r=$(run_wrk)
		echo "$r" | awk '{print $1, $2, $3, "-", "-"}'
		;;
	B | D | E)
		local extra=()
		[ "$c" = D ] && extra=(--sample 10)
		[ "$c" = E ] && extra=(--cpu-in-kernel)
		"$BPF" -g "$GW" -i "$TMP/pids.txt" --json -o "$TMP/live.jsonl" "${extra[@]}" \
			2>"$TMP/live.err" &
		tp=$!
		sleep 1.5
		r=$(run_wrk)
		kill -INT "$tp"
		wait "$tp"
		rec=$(tail -1 "$TMP/live.jsonl" | jq '.summary.ring_records // 0')
		drops=$(tail -1 "$TMP/live.jsonl" | jq '.summary.ring_drops // 0')
		n=$(echo "$r" | awk '{print $4}')
		echo "$r" | awk -v rec="$rec" -v d="$drops" -v n="$n" \
			'{printf "%s %s %s %.1f %s\n", $1, $2, $3, n ? rec / n : 0, d}'
		;;
	C)
		rm -rf "$TMP/cap"
		utils/krtrace-capture -p "$TMP/pids.txt" -o "$TMP/cap" -R -- \
			bash -c "sleep 1; wrk -t1 -c$CONN -d${DUR}s --latency $URL >$TMP/wrk 2>&1" \
			>/dev/null 2>"$TMP/cap.err"
		local rps p50 p99
		rps=$(awk '/^Requests\/sec/ {print $2}' "$TMP/wrk")
		p50=$(to_ms "$(awk '$1=="50%" {print $2}' "$TMP/wrk")")
		p99=$(to_ms "$(awk '$1=="99%" {print $2}' "$TMP/wrk")")
		n=$(awk '/requests in/ {print $1}' "$TMP/wrk")
		# records: events in the per-CPU raw buffers, counted by trace-cmd
		rec=$(trace-cmd report -i "$TMP/cap/trace.dat" 2>/dev/null | grep -vcEi "^ *cpu")
		drops=$(awk '/overrun/ {s += $2} END {print s + 0}' "$TMP/cap/stats.txt" 2>/dev/null)
		awk -v r="${rps:-0}" -v a="$p50" -v b="$p99" -v rec="$rec" -v n="${n:-0}" -v d="${drops:-0}" \
			'BEGIN{printf "%s %s %s %.1f %s\n", r, a, b, n ? rec / n : 0, d}'
		;;
	esac
}

declare -A RPS P50 P99 REC DROP CNT
for round in $(seq "$ROUNDS"); do
	for c in $CASES; do
		read -r rps p50 p99 rec drops < <(run_case "$c")
		printf 'round %d case %s: %8.0f req/s  p50 %7.3f ms  p99 %7.3f ms  records/req %s  drops %s\n' \
			"$round" "$c" "$rps" "$p50" "$p99" "$rec" "$drops" >&2
		RPS[$c]=$(awk -v a="${RPS[$c]:-0}" -v b="$rps" 'BEGIN{print a+b}')
		P50[$c]=$(awk -v a="${P50[$c]:-0}" -v b="$p50" 'BEGIN{print a+b}')
		P99[$c]=$(awk -v a="${P99[$c]:-0}" -v b="$p99" 'BEGIN{print a+b}')
		[ "$rec" != - ] && REC[$c]=$(awk -v a="${REC[$c]:-0}" -v b="$rec" 'BEGIN{print a+b}')
		[ "$drops" != - ] && DROP[$c]=$(( ${DROP[$c]:-0} + drops ))
		CNT[$c]=$(( ${CNT[$c]:-0} + 1 ))
	done
done

echo
printf '%-4s %10s %9s %9s %9s %9s %12s %8s\n' case req/s p50_ms p99_ms tput/A p99/A records/req drops
a_rps=$(awk -v s="${RPS[A]:-0}" -v n="${CNT[A]:-1}" 'BEGIN{print s/n}')
a_p99=$(awk -v s="${P99[A]:-0}" -v n="${CNT[A]:-1}" 'BEGIN{print s/n}')
for c in $CASES; do
	awk -v r="${RPS[$c]}" -v a="${P50[$c]}" -v b="${P99[$c]}" -v n="${CNT[$c]}" \
		-v rec="${REC[$c]:-}" -v d="${DROP[$c]:--}" -v ar="$a_rps" -v ap="$a_p99" -v c="$c" \
		'BEGIN{rps=r/n; p99=b/n; printf "%-4s %10.0f %9.3f %9.3f %9.3f %9.3f %12s %8s\n",
		c, rps, a/n, p99, ar ? rps/ar : 0, ap ? p99/ap : 0,
		rec == "" ? "-" : sprintf("%.1f", rec/n), d}'
done
echo "(tput/A < 1 and p99/A > 1 are the slowdown; C = ftrace capture of the original events)"
