#!/usr/bin/env bash
# Syscall-level cost of the live tracer: bench_syscall runs with krtrace-bpf
#   off       not loaded,
#   traced    tracing the benchmark (and every process it forks),
#   untraced  loaded and tracing another process (the pre-filter's cost),
# and prints ns/op per case and the ratios to "off".
#
# Why rounds of short blocks and medians: this shared VM switches between
# states for seconds at a time (a plain write loop runs at 200 or at 265
# ns/op, a ping-pong at 15 or 19 us), far more than the 5 % to be shown. So
# every round runs, for each mode, each case once as a block of REPEAT runs
# (case order rotated from round to round); a case's figure in a round is the
# median of its block's runs, divided by that of the "off" block of the SAME
# round and mode, run a second or two apart (mostly in the same state). The
# table gives the medians of these per-round ratios, their interquartile
# range and in how many rounds the case was slower than "off".
# The tracer's start-up stays outside the measured loops: the block's runs
# come from a driver shell that is started stopped (SIGSTOP), traced from
# then on (its children are traced through the fork hook), and continued
# only once the tracer has printed "tracing" (and SETTLE more).
# The benchmark is pinned to BENCH_CPU (cross-CPU wake-ups in a VM are slow
# and noisy); the tracer runs on the other CPUs.
#
# Usage: bench/overhead_syscall.sh [ROUNDS (10)] [MODES ("pingpong tcpwrite write")]
# Env: REPEAT (runs per mode in a block, 3), PINGPONG_N (20000),
#      WRITE_N (1000000), TCPWRITE_N (200000), BENCH_CPU (0), TRACER,
#      TRACER_ARGS (extra krtrace-bpf options, e.g. --syscall-hooks),
#      SETTLE (s, 0.2), TRACER_TIMEOUT (s, 20), RESULTS (file: keep the
#      per-run table there).
set -u
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
OUT=${OUTPUT:-.output}
BENCH=$OUT/tools/bench_syscall
TRACER=${TRACER:-$OUT/bin/krtrace-bpf}
ROUNDS=${1:-10}
read -r -a MODES <<<"${2:-pingpong tcpwrite write}"
REPEAT=${REPEAT:-3}
SETTLE=${SETTLE:-0.2}
TRACER_TIMEOUT=${TRACER_TIMEOUT:-20}
BENCH_CPU=${BENCH_CPU:-0}
CASES=(off traced untraced)
die() { echo "overhead_syscall: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root"
{ [ -x "$BENCH" ] && [ -x "$TRACER" ]; } || die "run make first"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "bad ROUNDS '$ROUNDS'"
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "bad REPEAT '$REPEAT'"
NCPU=$(nproc)
TRACER_CPUS=$(seq 0 $((NCPU - 1)) | grep -vx "$BENCH_CPU" | paste -sd,)
[ -n "$TRACER_CPUS" ] || TRACER_CPUS=$BENCH_CPU

declare -A ITER
for m in "${MODES[@]}"; do
	case $m in
	pingpong) ITER[$m]=${PINGPONG_N:-20000} ;;
	write) ITER[$m]=${WRITE_N:-1000000} ;;
	tcpwrite) ITER[$m]=${TCPWRITE_N:-200000} ;;
	*) die "unknown mode '$m' (pingpong tcpwrite write)" ;;
	esac
done

TMP=$(mktemp -d)
DRIVER_PID="" TRACER_PID="" OTHER_PID=""
stop_all() {
	[ -n "$DRIVER_PID" ] && kill -CONT "$DRIVER_PID" 2>/dev/null &&
		kill "$DRIVER_PID" 2>/dev/null && wait "$DRIVER_PID" 2>/dev/null
	[ -n "$TRACER_PID" ] && kill -INT "$TRACER_PID" 2>/dev/null && wait "$TRACER_PID" 2>/dev/null
	[ -n "$OTHER_PID" ] && kill "$OTHER_PID" 2>/dev/null && wait "$OTHER_PID" 2>/dev/null
	DRIVER_PID="" TRACER_PID="" OTHER_PID=""
}
trap 'stop_all; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
# Copies: a rebuild while the benchmark runs must not mix two versions.
{ cp "$BENCH" "$TMP/bench_syscall" && cp "$TRACER" "$TMP/tracer"; } || die "cannot copy the binaries"
BENCH=$TMP/bench_syscall TRACER=$TMP/tracer

# The block's runs: REPEAT x every MODE:N, one "MODE ns_per_op N" line each.
# With "stop" first, the shell stops itself until it gets SIGCONT. On
# SIGTERM it ends the run in progress too (the wait builtin lets the trap in).
read -r -d '' DRIVER <<'EOF_DRIVER'
run=""
trap '[ -n "$run" ] && kill "$run" 2>/dev/null; wait; exit 143' TERM
[ "$1" = stop ] && kill -STOP $$
bench=$2 k=$3
shift 3
for ((i = 0; i < k; i++)); do
	for m in "$@"; do
		"$bench" "${m%%:*}" "${m#*:}" &
		run=$!
		wait "$run" || exit 1
		run=""
	done
done
EOF_DRIVER

# proc_state PID -> the state letter (R S T Z...) from /proc/PID/stat
proc_state() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1; }

# wait_for TIMEOUT_S COMMAND...: polls COMMAND until it succeeds
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.02
	done
}
driver_stopped() { [ "$(proc_state "$DRIVER_PID")" = T ]; }
tracer_attached() {
	kill -0 "$TRACER_PID" 2>/dev/null || return 2
	grep -q ': tracing ' "$TMP/tracer.err"
}

# run_block ROUND MODE CASE: appends "round case mode ns" per run to
# $TMP/runs and "round case mode records drops" to $TMP/blocks.
run_block() {
	local round=$1 mode=$2 case=$3 rec=- drops=- spec
	spec=$mode:${ITER[$mode]}
	: >"$TMP/out"
	if [ "$case" = off ]; then
		taskset -c "$BENCH_CPU" bash -c "$DRIVER" driver go "$BENCH" "$REPEAT" "$spec" \
			>"$TMP/out"
	else
		taskset -c "$BENCH_CPU" bash -c "$DRIVER" driver stop "$BENCH" "$REPEAT" "$spec" \
			>"$TMP/out" &
		DRIVER_PID=$!
		wait_for 5 driver_stopped || die "the driver shell did not stop itself"
		if [ "$case" = traced ]; then
			echo "$DRIVER_PID bench 127.0.0.1 bench" >"$TMP/pids"
		else
			sleep 1000 &
			OTHER_PID=$!
			echo "$OTHER_PID other 127.0.0.1 other" >"$TMP/pids"
		fi
		rm -f "$TMP/trace.jsonl"
		# shellcheck disable=SC2086 # TRACER_ARGS: words on purpose
		taskset -c "$TRACER_CPUS" "$TRACER" -g 127.0.0.1 -i "$TMP/pids" --json \
			-o "$TMP/trace.jsonl" ${TRACER_ARGS:-} 2>"$TMP/tracer.err" &
		TRACER_PID=$!
		if wait_for "$TRACER_TIMEOUT" tracer_attached; then
			sleep "$SETTLE"
			kill -CONT "$DRIVER_PID"
			wait "$DRIVER_PID"
			DRIVER_PID=""
		else
			echo "overhead_syscall: round $round $mode $case: the tracer did not start:" >&2
			tail -5 "$TMP/tracer.err" >&2
			: >"$TMP/out"
		fi
		stop_all
		grep WARNING "$TMP/tracer.err" >&2
		rec=$(tail -1 "$TMP/trace.jsonl" 2>/dev/null | jq '.summary.ring_records // 0' 2>/dev/null)
		drops=$(tail -1 "$TMP/trace.jsonl" 2>/dev/null | jq '.summary.ring_drops // 0' 2>/dev/null)
	fi
	awk -v r="$round" -v c="$case" 'NF == 3 && $2 > 0 {print r, c, $1, $2}' "$TMP/out" \
		>>"$TMP/runs"
	echo "$round $case $mode ${rec:-0} ${drops:-0}" >>"$TMP/blocks"
}


# block_median ROUND CASE MODE -> the median ns/op of the block's runs ("-": none)
block_median() {
	awk -v r="$1" -v c="$2" -v m="$3" '$1 == r && $2 == c && $3 == m {print $4}' "$TMP/runs" |
		spread | awk '{print $2}'
}

echo "overhead_syscall: $ROUNDS rounds of ${MODES[*]} x ${CASES[*]}, blocks of $REPEAT runs;" \
	"bench on CPU $BENCH_CPU, tracer on $TRACER_CPUS; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
: >"$TMP/runs"
: >"$TMP/blocks"
: >"$TMP/ratios"	# round mode traced_x untraced_x
for round in $(seq "$ROUNDS"); do
	off=$(((round - 1) % ${#CASES[@]}))
	for m in "${MODES[@]}"; do
		for case in "${CASES[@]:off}" "${CASES[@]:0:off}"; do
			run_block "$round" "$m" "$case"
			awk -v r="$round" -v c="$case" -v m="$m" -v med="$(block_median "$round" "$case" "$m")" \
				'$1 == r && $2 == c && $3 == m {
					printf "round %d %-9s %-9s %9.1f ns/op", r, m, c, med
					if (c != "off") printf "  records %s drops %s", $4, $5
					printf "\n" }' "$TMP/blocks" >&2
		done
		o=$(block_median "$round" off "$m")
		t=$(block_median "$round" traced "$m")
		u=$(block_median "$round" untraced "$m")
		awk -v r="$round" -v m="$m" -v o="$o" -v t="$t" -v u="$u" 'BEGIN {
			if (o == "-" || o <= 0) exit
			printf "%s %s %s %s\n", r, m, (t == "-" ? "-" : t / o), (u == "-" ? "-" : u / o) }' \
			>>"$TMP/ratios"
	done
done
[ -n "${RESULTS:-}" ] && cp "$TMP/runs" "$RESULTS"

printf '\n%-9s %9s %9s %9s  %8s %-13s %8s %-13s %7s %7s\n' mode off_ns traced_ns untr_ns \
	traced_x "(IQR)" untr_x "(IQR)" slower slower
for m in "${MODES[@]}"; do
	med() { awk -v c="$1" -v m="$m" '$2 == c && $3 == m {print $4}' "$TMP/runs" | spread |
		awk '{print $2}'; }
	col() { awk -v m="$m" -v f="$1" '$2 == m && $f != "-" {print $f}' "$TMP/ratios"; }
	tr=$(col 3 | spread)
	ur=$(col 4 | spread)
	ts=$(col 3 | awk '{n++; if ($1 > 1) s++} END {print (s + 0) "/" (n + 0)}')
	us=$(col 4 | awk '{n++; if ($1 > 1) s++} END {print (s + 0) "/" (n + 0)}')
	echo "$m $(med off) $(med traced) $(med untraced) $tr $ur $ts $us" | awk '
		function iqr(a, b) { return a == "-" ? "" : sprintf("(%.3f-%.3f)", a, b) }
		function num(v, f) { return v == "-" ? "-" : sprintf(f, v) }
		{ printf "%-9s %9s %9s %9s  %8s %-13s %8s %-13s %7s %7s\n", $1,
			num($2, "%.1f"), num($3, "%.1f"), num($4, "%.1f"),
			num($6, "%.3f"), iqr($7, $8), num($12, "%.3f"), iqr($13, $14), $17, $18 }'
done
echo "(ns/op: medians of all runs; traced_x, untr_x: medians over the rounds of the ratio to the" \
	"same round's \"off\" block, IQR their interquartile range; slower: rounds with ratio > 1," \
	"traced then untraced; $ROUNDS rounds x $REPEAT runs)"
