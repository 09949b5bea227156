#!/usr/bin/env bash
# Request-level overhead of tracing the test bed's nginx -> app -> redis chain
# under wrk. Every round runs each case once, as a block of REPEAT short wrk
# runs:
#   A  no tracing
#   B  krtrace-bpf (its defaults)
#   C  an ftrace capture of the original events (utils/krtrace-capture)
#   D  krtrace-bpf --sample 10
#   E  krtrace-bpf --rules (optional: CASES="A B C D E"; the engine decides from one
#      record per transfer and per switch, no kernel tagging)
#   N  krtrace-bpf --debug empty-hooks (optional): every hook attached, each program
#      returning at once: the floor, what running attached programs costs
#      the kernel before they do anything
#
# Why so many short runs: on this shared 2-core VM one wrk run's throughput
# is off by 6-9 % at random, and hardly less for a 4 s run than for a 1 s
# run (the VM's state and the placement of connections and threads last for
# seconds), while the effects to show are a few %. So only the number of runs
# helps: each case's throughput and p99 in a round are the medians of its
# block's runs, divided by those of the A block of the SAME round (slow drift
# of the machine cancels), and the case order rotates from round to round
# (no case always runs first or after the capture). The table gives the
# median of the per-round ratios, their interquartile range and in how many
# rounds the case was slower than A (9/10 or 10/10 is a real slowdown even
# when the median is small; about half is noise). The tracer's start-up
# (BPF load, attach) and shutdown stay outside the measured window: wrk
# starts only once the tracer has printed "tracing" (and SETTLE more).
# The tracer is measured in its steady state: an unmeasured wrk run of
# WARMUP seconds comes first, longer than the 5 s after which krtrace-bpf
# writes a finished trace out, so the measured runs pay for writing traces
# and not for the engine's first growth (a tracer measured from its start
# wrote nothing while measured: its reader cost about 40 % less).
#
# Usage: bench/overhead.sh [ROUNDS (10)] [SECONDS per wrk run (1)]
# Env: the test bed's (KRT_BRIDGE, KRT_NET, KRT_NS_PREFIX, KRT_VETH_PREFIX,
#      KRT_STATE...; if its nginx is not running, the test bed is brought up,
#      and down again at the end with its truth logs removed),
#      REPEAT (wrk runs per case and round, 3), WRK_CONN (4),
#      CASES ("A B C D"), WRK_CPU (the CPU wrk is pinned to, so its
#      placement is the same in every case; default the last CPU, "" = not
#      pinned), SETTLE (s between "tracing" and wrk, 0.3), WARMUP (s of
#      unmeasured load with the tracer on before its measured runs, 6),
#      TRACER_TIMEOUT
#      (s, 20), RESULTS (file: keep the per-run table there).
set -u
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
OUT=${OUTPUT:-.output}
ROUNDS=${1:-10}
DUR=${2:-1}
REPEAT=${REPEAT:-3}
read -r -a CASE_LIST <<<"${CASES:-A B C D}"
CONN=${WRK_CONN:-4}
SETTLE=${SETTLE:-0.3}
WARMUP=${WARMUP:-6}
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
[[ $DUR =~ ^[1-9][0-9]*$ ]] || die "bad SECONDS '$DUR' (whole seconds: wrk's -d)"
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "bad REPEAT '$REPEAT'"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "bad WARMUP '$WARMUP' (whole seconds)"
[[ " ${CASE_LIST[*]} " == *" A "* ]] || die "CASES must contain A (the reference)"
for c in "${CASE_LIST[@]}"; do
	[[ $c =~ ^[ABCDEN]$ ]] || die "unknown case '$c' (A B C D E N)"
done
WRK=(wrk)
[ -n "$WRK_CPU" ] && WRK=(taskset -c "$WRK_CPU" wrk)

STARTED=0
if ! $TB status 2>/dev/null | grep -q "^nginx .*running"; then
	$TB up chain >&2 || die "test bed did not start"
	STARTED=1
fi
TMP=$(mktemp -d)
TP=""
cleanup() {
	[ -n "$TP" ] && kill -INT "$TP" 2>/dev/null && wait "$TP" 2>/dev/null
	rm -rf "$TMP"
	if [ "$STARTED" -eq 1 ]; then
		$TB down >&2
		# The test bed's truth logs grew by a line per request of ours
		# (about 1 GB per default run): nobody reads them.
		rm -f "$($TB state)"/truth/*.jsonl
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A copy: a rebuild while the benchmark runs must not mix two versions.
cp "$BPF" "$TMP/krtrace-bpf" || die "cannot copy $BPF"
BPF=$TMP/krtrace-bpf

URL=http://$($TB addr nginx)/req/wrk
GW=$($TB gateway)
$TB pids >"$TMP/pids.txt" || die "no PIDs file from the test bed"
WRK_ARGS="-t1 -c$CONN -d${DUR}s --latency $URL"

# to_ms VALUE_WITH_UNIT
to_ms() { awk -v v="$1" 'BEGIN{u=v; sub(/[0-9.]+/, "", u); n=v+0;
	if (u=="us") n/=1000; else if (u=="s") n*=1000; printf "%.3f", n}'; }

# wrk_result FILE -> "rps p50_ms p99_ms requests" (rps 0: wrk failed)
wrk_result() {
	local rps p50 p99 n
	rps=$(awk '/^Requests\/sec/ {print $2}' "$1" 2>/dev/null)
	p50=$(to_ms "$(awk '$1=="50%" {print $2}' "$1" 2>/dev/null)")
	p99=$(to_ms "$(awk '$1=="99%" {print $2}' "$1" 2>/dev/null)")
	n=$(awk '/requests in/ {print $1}' "$1" 2>/dev/null)
	echo "${rps:-0} $p50 $p99 ${n:-0}"
}

# wrk_block: REPEAT wrk runs, outputs in $TMP/wrk.1..REPEAT
wrk_block() {
	local i
	for i in $(seq "$REPEAT"); do
		# shellcheck disable=SC2086 # WRK_ARGS: words on purpose
		"${WRK[@]}" $WRK_ARGS >"$TMP/wrk.$i" 2>&1
	done
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

# run_block ROUND CASE: the case's REPEAT wrk runs; appends one line per run
# to $TMP/runs ("round case rps p50 p99 requests") and one to $TMP/blocks
# ("round case records drops warmup_requests"; "-" where the case has none).
# A block whose tracer or capture failed leaves no runs.
run_block() {
	local round=$1 c=$2 rec=- drops=- warm=0 i
	rm -f "$TMP"/wrk.*
	case $c in
	A)
		wrk_block
		;;
	B | D | E | N)
		local extra=()
		[ "$c" = D ] && extra=(--sample 10)
		[ "$c" = E ] && extra=(--rules)
		[ "$c" = N ] && extra=(--debug empty-hooks)
		rm -f "$TMP/live.jsonl"
		"$BPF" -g "$GW" -i "$TMP/pids.txt" --json -o "$TMP/live.jsonl" "${extra[@]}" \
			2>"$TMP/live.err" &
		TP=$!
		if ! wait_tracing "$TP" "$TMP/live.err"; then
			echo "overhead: round $round case $c: the tracer did not start within" \
				"${TRACER_TIMEOUT}s:" >&2
			tail -5 "$TMP/live.err" >&2
		else
			sleep "$SETTLE"
			if [ "$WARMUP" -gt 0 ]; then
				warm=$("${WRK[@]}" -t1 -c"$CONN" -d"${WARMUP}s" "$URL" 2>/dev/null |
					awk '/requests in/ {print $1}')
			fi
			wrk_block
		fi
		kill -INT "$TP" 2>/dev/null
		wait "$TP"
		TP=""
		grep WARNING "$TMP/live.err" >&2
		rec=$(tail -1 "$TMP/live.jsonl" 2>/dev/null | jq '.summary.ring_records // 0' 2>/dev/null)
		drops=$(tail -1 "$TMP/live.jsonl" 2>/dev/null | jq '.summary.ring_drops // 0' 2>/dev/null)
		;;
	C)
		rm -rf "$TMP/cap"
		# shellcheck disable=SC2016 # expanded by the inner bash
		utils/krtrace-capture -p "$TMP/pids.txt" -o "$TMP/cap" -R -- bash -c \
			'sleep "$1"; for i in $(seq "$2"); do "${@:5}" $4 >"$3.$i" 2>&1; done' \
			capture "$SETTLE" "$REPEAT" "$TMP/wrk" "$WRK_ARGS" "${WRK[@]}" >/dev/null 2>"$TMP/cap.err"
		if [ -s "$TMP/cap/trace.dat" ]; then
			# records: events in the per-CPU raw buffers, counted by trace-cmd
			rec=$(trace-cmd report -i "$TMP/cap/trace.dat" 2>/dev/null | grep -vcEi "^ *cpu")
			drops=$(awk '/overrun/ {s += $2} END {print s + 0}' "$TMP/cap/stats.txt" 2>/dev/null)
		else
			echo "overhead: round $round case C: the capture failed:" >&2
			tail -5 "$TMP/cap.err" >&2
		fi
		;;
	esac
	for i in $(seq "$REPEAT"); do
		[ -s "$TMP/wrk.$i" ] || continue
		echo "$round $c $(wrk_result "$TMP/wrk.$i")" | awk '$3 > 0' >>"$TMP/runs"
	done
	echo "$round $c ${rec:-0} ${drops:-0} ${warm:-0}" >>"$TMP/blocks"
}


# median ROUND CASE FIELD: the median of a block's runs (3 rps, 4 p50, 5 p99)
median() {
	awk -v r="$1" -v c="$2" -v f="$3" '$1 == r && $2 == c {print $f}' "$TMP/runs" | spread |
		awk '{print $2}'
}

echo "overhead: $ROUNDS rounds of ${CASE_LIST[*]}, each $REPEAT wrk runs of ${DUR}s," \
	"-c$CONN ${WRK_CPU:+pinned to CPU $WRK_CPU }on $URL; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# One unrecorded run first: the chain's caches, connections and CPU
# frequency settle, so round 1 is like the others.
"${WRK[@]}" -t1 -c"$CONN" -d1s "$URL" >/dev/null 2>&1

: >"$TMP/runs"
: >"$TMP/blocks"
: >"$TMP/ratios"	# round case tput_ratio p99_ratio
ncases=${#CASE_LIST[@]}
for round in $(seq "$ROUNDS"); do
	off=$(((round - 1) % ncases))
	order=("${CASE_LIST[@]:off}" "${CASE_LIST[@]:0:off}")
	for c in "${order[@]}"; do
		run_block "$round" "$c"
		awk -v r="$round" -v c="$c" '$1 == r && $2 == c {print $3}' "$TMP/runs" |
			spread | awk -v r="$round" -v c="$c" -v p99="$(median "$round" "$c" 5)" \
			-v b="$(awk -v r="$round" -v c="$c" '$1 == r && $2 == c {print $3, $4}' "$TMP/blocks")" \
			'{ split(b, x, " "); printf "round %d case %s: %d runs, median %5.0f req/s (%.0f-%.0f), p99 %.3f ms, records %s, drops %s\n",
				r, c, $1, $2, $5, $6, p99, x[1], x[2] }' >&2
		sleep 0.2
	done
	# This round's ratios to its own A block (a failed block has none).
	a_rps=$(median "$round" A 3)
	a_p99=$(median "$round" A 5)
	line="round $round ratios to A (tput p99):"
	for c in "${order[@]}"; do
		[ "$c" = A ] && continue
		rps=$(median "$round" "$c" 3)
		p99=$(median "$round" "$c" 5)
		[ "$a_rps" = - ] || [ "$rps" = - ] && continue
		r=$(awk -v a="$a_rps" -v b="$rps" -v ap="$a_p99" -v bp="$p99" \
			'BEGIN {printf "%.4f %.4f", b / a, (ap > 0 ? bp / ap : 0)}')
		echo "$round $c $r" >>"$TMP/ratios"
		line="$line  $c $r"
	done
	echo "$line" >&2
done
[ -n "${RESULTS:-}" ] && cp "$TMP/runs" "$RESULTS"

echo
printf '%-4s %9s %8s %8s  %6s %-13s %6s %-13s %7s %11s %6s\n' case req/s p50_ms p99_ms \
	tput/A "(IQR)" p99/A "(IQR)" slower records/req drops
for c in "${CASE_LIST[@]}"; do
	rps=$(awk -v c="$c" '$2 == c {print $3}' "$TMP/runs" | spread)
	p50=$(awk -v c="$c" '$2 == c {print $4}' "$TMP/runs" | spread)
	p99=$(awk -v c="$c" '$2 == c {print $5}' "$TMP/runs" | spread)
	# records per request: over the blocks that ran, all their requests (warm-up too)
	rec=$(awk -v c="$c" 'FNR == NR { if ($2 == c) n[$1] += $6; next }
		$2 == c && $3 != "-" && n[$1] > 0 { s += $3; t += n[$1] + $5 }
		END { print t ? sprintf("%.1f", s / t) : "-" }' "$TMP/runs" "$TMP/blocks")
	drops=$(awk -v c="$c" '$2 == c && $4 != "-" {s += $4; n++} END {print n ? s : "-"}' \
		"$TMP/blocks")
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
echo "(req/s, p50, p99: medians of all runs; tput/A, p99/A: medians over the rounds of the ratio" \
	"to the same round's A block, IQR their interquartile range; slower: rounds with tput/A < 1;" \
	"$ROUNDS rounds x $REPEAT runs x ${DUR}s, tracers after ${WARMUP}s of unmeasured load;" \
	"C = ftrace capture of the original events)"
