#!/usr/bin/env bash
# Request-level overhead of tracing the test bed's nginx -> app -> redis chain
# under wrk. Each round runs every case once, for a few seconds each:
#   A  no tracing
#   B  krtrace-bpf (default: the engine's rules, no kernel tagging)
#   C  an ftrace capture of the original events (utils/krtrace-capture)
#   D  krtrace-bpf --sample 10 (implies --cpu-in-kernel)
#   E  krtrace-bpf --cpu-in-kernel (optional: CASES="A B C D E")
#
# Why rounds and medians: the baseline alone swings by +-12 % between runs on
# a shared 2-core VM, far more than the effects to be shown (a few %). So
# every case's throughput and p99 are divided by those of the A run of the
# SAME round (a pair of runs seconds apart sees the same machine state), the
# case order is rotated from round to round (drift favours no case), and the
# table gives the median of the per-round ratios with their interquartile
# range and the number of rounds in which the case was slower than A (9/10
# or 10/10 is a real slowdown even when the median is small; about half is
# noise). The tracer's start-up (BPF load, attach) and shutdown stay outside
# the measured window: wrk starts only once the tracer has printed "tracing".
#
# Usage: bench/overhead.sh [ROUNDS (10)] [SECONDS per run (3)]
# Env: the test bed's (KRT_BRIDGE, KRT_NET, KRT_NS_PREFIX, KRT_VETH_PREFIX,
#      KRT_STATE...; the test bed is brought up and down again if it is not
#      running), WRK_CONN (4), CASES ("A B C D"), WRK_CPU (CPU wrk is pinned
#      to; default the last one, "" = not pinned), SETTLE (s between the
#      tracer's "tracing" and wrk, 0.5), TRACER_TIMEOUT (s, 20),
#      RESULTS (file: keep the per-run table there).
set -u
cd "$(dirname "$0")/.."
OUT=${OUTPUT:-.output}
ROUNDS=${1:-10}
DUR=${2:-3}
read -r -a CASE_LIST <<<"${CASES:-A B C D}"
CONN=${WRK_CONN:-4}
SETTLE=${SETTLE:-0.5}
TRACER_TIMEOUT=${TRACER_TIMEOUT:-20}
WRK_CPU=${WRK_CPU-$(($(nproc) - 1))}
TB=utils/testbed
BPF=$OUT/bin/krtrace-bpf
die() { echo "overhead: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root"
command -v wrk >/dev/null || die "wrk not installed"
command -v jq >/dev/null || die "jq not installed"
[ -x "$BPF" ] || die "run make first"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "bad ROUNDS '$ROUNDS'"
[[ $DUR =~ ^[1-9][0-9]*$ ]] || die "bad SECONDS '$DUR' (whole seconds, wrk's -d)"
[[ " ${CASE_LIST[*]} " == *" A "* ]] || die "CASES must contain A (the reference)"
for c in "${CASE_LIST[@]}"; do
	[[ $c =~ ^[ABCDE]$ ]] || die "unknown case '$c' (A B C D E)"
done
WRK=(wrk)
[ -n "$WRK_CPU" ] && WRK=(taskset -c "$WRK_CPU" wrk)

STARTED=0
if ! $TB status 2>/dev/null | grep -q "^nginx .*running"; then
	$TB up chain >&2 || die "test bed did not start"
	STARTED=1
fi
TMP=$(mktemp -d)
cleanup() {
	rm -rf "$TMP"
	[ "$STARTED" -eq 1 ] && $TB down >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

URL=http://$($TB addr nginx)/req/wrk
GW=$($TB gateway)
$TB pids >"$TMP/pids.txt" || die "no PIDs file from the test bed"

# to_ms VALUE_WITH_UNIT
to_ms() { awk -v v="$1" 'BEGIN{u=v; sub(/[0-9.]+/, "", u); n=v+0;
	if (u=="us") n/=1000; else if (u=="s") n*=1000; printf "%.3f", n}'; }

# wrk_result FILE -> "rps p50_ms p99_ms requests" (rps 0: wrk failed)
wrk_result() {
	local rps p50 p99 n
	rps=$(awk '/^Requests\/sec/ {print $2}' "$1")
	p50=$(to_ms "$(awk '$1=="50%" {print $2}' "$1")")
	p99=$(to_ms "$(awk '$1=="99%" {print $2}' "$1")")
	n=$(awk '/requests in/ {print $1}' "$1")
	echo "${rps:-0} $p50 $p99 ${n:-0}"
}

run_wrk() {
	"${WRK[@]}" -t1 -c"$CONN" -d"${1:-$DUR}s" --latency "$URL" >"$TMP/wrk" 2>&1
	wrk_result "$TMP/wrk"
}

# wait_tracing PID ERRFILE: until the tracer has attached (it prints
# "tracing" then); fails if it exits first or TRACER_TIMEOUT passes.
wait_tracing() {
	local deadline=$((SECONDS + TRACER_TIMEOUT))
	until grep -q ': tracing ' "$2" 2>/dev/null; do
		kill -0 "$1" 2>/dev/null || return 1
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

# run_case CASE -> "rps p50 p99 records_per_request drops" ("0 ..." = failed)
run_case() {
	local c=$1 r tp rec drops n
	case $c in
	A)
		run_wrk | awk '{print $1, $2, $3, "-", "-"}'
		;;
	B | D | E)
		local extra=()
		[ "$c" = D ] && extra=(--sample 10)
		[ "$c" = E ] && extra=(--cpu-in-kernel)
		rm -f "$TMP/live.jsonl"
		"$BPF" -g "$GW" -i "$TMP/pids.txt" --json -o "$TMP/live.jsonl" "${extra[@]}" \
			2>"$TMP/live.err" &
		tp=$!
		if ! wait_tracing "$tp" "$TMP/live.err"; then
			echo "overhead: case $c: the tracer did not start within ${TRACER_TIMEOUT}s:" >&2
			tail -5 "$TMP/live.err" >&2
			kill -INT "$tp" 2>/dev/null
			wait "$tp" 2>/dev/null
			echo "0 0 0 - -"
			return
		fi
		sleep "$SETTLE"
		r=$(run_wrk)
		kill -INT "$tp"
		wait "$tp"
		grep WARNING "$TMP/live.err" >&2
		rec=$(tail -1 "$TMP/live.jsonl" 2>/dev/null | jq '.summary.ring_records // 0' 2>/dev/null)
		drops=$(tail -1 "$TMP/live.jsonl" 2>/dev/null | jq '.summary.ring_drops // 0' 2>/dev/null)
		n=$(echo "$r" | awk '{print $4}')
		echo "$r" | awk -v rec="${rec:-0}" -v d="${drops:-0}" -v n="$n" \
			'{printf "%s %s %s %.1f %s\n", $1, $2, $3, n ? rec / n : 0, d}'
		;;
	C)
		rm -rf "$TMP/cap" "$TMP/wrk"
		utils/krtrace-capture -p "$TMP/pids.txt" -o "$TMP/cap" -R -- \
			bash -c "sleep $SETTLE; $(printf '%q ' "${WRK[@]}") -t1 -c$CONN -d${DUR}s --latency $URL >$TMP/wrk 2>&1" \
			>/dev/null 2>"$TMP/cap.err"
		[ -s "$TMP/wrk" ] || { tail -5 "$TMP/cap.err" >&2; echo "0 0 0 - -"; return; }
		r=$(wrk_result "$TMP/wrk")
		n=$(echo "$r" | awk '{print $4}')
		# records: events in the per-CPU raw buffers, counted by trace-cmd
		rec=$(trace-cmd report -i "$TMP/cap/trace.dat" 2>/dev/null | grep -vcEi "^ *cpu")
		drops=$(awk '/overrun/ {s += $2} END {print s + 0}' "$TMP/cap/stats.txt" 2>/dev/null)
		echo "$r" | awk -v rec="${rec:-0}" -v n="$n" -v d="${drops:-0}" \
			'{printf "%s %s %s %.1f %s\n", $1, $2, $3, n ? rec / n : 0, d}'
		;;
	esac
}

# spread < numbers -> "n median q1 q3 min max" (quartiles interpolated
# between the sorted values; "0 - - - - -" when there are none)
spread() {
	sort -g | awk 'function q(p,  h, l) { h = (NR - 1) * p + 1; l = int(h)
			return l >= NR ? x[NR] : x[l] + (h - l) * (x[l + 1] - x[l]) }
		{ x[NR] = $1 }
		END { if (!NR) { print "0 - - - - -"; exit }
			printf "%d %.4f %.4f %.4f %.4f %.4f\n", NR, q(0.5), q(0.25), q(0.75), x[1], x[NR] }'
}

echo "overhead: $ROUNDS rounds of ${CASE_LIST[*]}, ${DUR}s each, wrk -c$CONN" \
	"${WRK_CPU:+pinned to CPU $WRK_CPU }on $URL" >&2
# One unrecorded run first: the chain's caches, connections and CPU
# frequency settle, so round 1 is like the others.
run_wrk 1 >/dev/null

: >"$TMP/runs"	# round case rps p50 p99 records/req drops
ncases=${#CASE_LIST[@]}
for round in $(seq "$ROUNDS"); do
	off=$(((round - 1) % ncases))
	order=("${CASE_LIST[@]:off}" "${CASE_LIST[@]:0:off}")
	for c in "${order[@]}"; do
		read -r rps p50 p99 rec drops < <(run_case "$c")
		printf 'round %d case %s: %8.0f req/s  p50 %7.3f ms  p99 %7.3f ms  records/req %s  drops %s\n' \
			"$round" "$c" "$rps" "$p50" "$p99" "$rec" "$drops" >&2
		echo "$round $c $rps $p50 $p99 $rec $drops" >>"$TMP/runs"
		sleep 0.3
	done
	# This round's ratios to its own A run (a failed run has no ratio).
	awk -v r="$round" '$1 == r && $3 > 0 { rps[$2] = $3; p99[$2] = $5; seen[++n] = $2 }
		END { if (!rps["A"]) { print "round " r ": no A run, no ratios"; exit }
			s = "round " r " ratios to A (tput p99):"
			for (i = 1; i <= n; i++) if (seen[i] != "A")
				s = s sprintf("  %s %.3f %.3f", seen[i], rps[seen[i]] / rps["A"],
					p99["A"] > 0 ? p99[seen[i]] / p99["A"] : 0)
			print s }' "$TMP/runs" >&2
done
[ -n "${RESULTS:-}" ] && cp "$TMP/runs" "$RESULTS"

# Per-round ratios: "round case tput_ratio p99_ratio".
awk '$3 > 0 { rps[$1, $2] = $3; p99[$1, $2] = $5; if (!($1 in r)) { r[$1]; order[++nr] = $1 } }
	END { for (i = 1; i <= nr; i++) { k = order[i]; if (!rps[k, "A"]) continue
		for (kc in rps) { split(kc, p, SUBSEP); if (p[1] != k || p[2] == "A") continue
			print k, p[2], rps[kc] / rps[k, "A"], p99[k, "A"] > 0 ? p99[kc] / p99[k, "A"] : 0 } } }' \
	"$TMP/runs" >"$TMP/ratios"

echo
printf '%-4s %9s %8s %8s  %6s %-13s %6s %-13s %7s %11s %6s\n' case req/s p50_ms p99_ms \
	tput/A "(IQR)" p99/A "(IQR)" slower records/req drops
for c in "${CASE_LIST[@]}"; do
	rps=$(awk -v c="$c" '$2 == c && $3 > 0 {print $3}' "$TMP/runs" | spread)
	p50=$(awk -v c="$c" '$2 == c && $3 > 0 {print $4}' "$TMP/runs" | spread)
	p99=$(awk -v c="$c" '$2 == c && $3 > 0 {print $5}' "$TMP/runs" | spread)
	rec=$(awk -v c="$c" '$2 == c && $3 > 0 && $6 != "-" {s += $6; n++}
		END {print n ? sprintf("%.1f", s / n) : "-"}' "$TMP/runs")
	drops=$(awk -v c="$c" '$2 == c && $7 != "-" {s += $7; n++} END {print n ? s : "-"}' "$TMP/runs")
	if [ "$c" = A ]; then
		tr="1 1.000 - - - -" pr="1 1.000 - - - -" slower=-
	else
		tr=$(awk -v c="$c" '$2 == c {print $3}' "$TMP/ratios" | spread)
		pr=$(awk -v c="$c" '$2 == c {print $4}' "$TMP/ratios" | spread)
		slower=$(awk -v c="$c" '$2 == c {n++; if ($3 < 1) s++} END {print (s + 0) "/" (n + 0)}' \
			"$TMP/ratios")
	fi
	echo "$c $rps $p50 $p99 $tr $pr $slower $rec $drops" | awk '
		function iqr(a, b) { return a == "-" ? "" : sprintf("(%.3f-%.3f)", a, b) }
		function num(v, f) { return v == "-" ? "-" : sprintf(f, v) }
		{ printf "%-4s %9s %8s %8s  %6s %-13s %6s %-13s %7s %11s %6s\n",
			$1, num($3, "%.0f"), num($9, "%.3f"), num($15, "%.3f"),
			num($21, "%.3f"), iqr($22, $23), num($27, "%.3f"), iqr($28, $29),
			$32, $33, $34 }'
done
echo "(medians over $ROUNDS rounds; tput/A and p99/A: median of the per-round ratios to the same" \
	"round's A run, IQR their interquartile range; slower: rounds with tput/A < 1;" \
	"C = ftrace capture of the original events)"
