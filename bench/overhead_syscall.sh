#!/usr/bin/env bash
# Syscall-level cost of the live tracer: bench_syscall runs with krtrace-bpf
#   off       not loaded,
#   traced    tracing the benchmark's own PID,
#   untraced  loaded and tracing another process (the pre-filter's cost),
# in alternating rounds, and prints ns/op per case and the ratios to "off".
# The benchmark is pinned to CPU 0 (cross-CPU wake-ups in a VM are slow and
# noisy); the tracer runs on the other CPUs.
#
# Usage: bench/overhead_syscall.sh [ROUNDS (3)] [MODES ("pingpong tcpwrite write")]
# Env: PINGPONG_N (20000), WRITE_N (1000000), TCPWRITE_N (200000)
set -u
cd "$(dirname "$0")/.."
OUT=${OUTPUT:-.output}
BENCH=$OUT/tools/bench_syscall
TRACER=${TRACER:-$OUT/bin/krtrace-bpf}
ROUNDS=${1:-3}
MODES=${2:-pingpong tcpwrite write}
[ "$(id -u)" -eq 0 ] || { echo "overhead_syscall: needs root" >&2; exit 1; }
[ -x "$BENCH" ] && [ -x "$TRACER" ] || { echo "overhead_syscall: run make first" >&2; exit 1; }
NCPU=$(nproc)
TRACER_CPUS=$([ "$NCPU" -gt 1 ] && echo "1-$((NCPU - 1))" || echo 0)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

iters() {
	case $1 in
	pingpong) echo "${PINGPONG_N:-20000}" ;;
	write) echo "${WRITE_N:-1000000}" ;;
	tcpwrite) echo "${TCPWRITE_N:-200000}" ;;
	esac
}

# run_case MODE CASE -> ns/op on stdout
run_case() {
	local mode=$1 case=$2 n bpid tpid other ns
	n=$(iters "$mode")
	if [ "$case" = off ]; then
		taskset -c 0 "$BENCH" "$mode" "$n" | awk '{print $2}'
		return
	fi
	taskset -c 0 "$BENCH" "$mode" "$n" 1500 >"$TMP/out" &
	bpid=$!
	if [ "$case" = traced ]; then
		echo "$bpid bench 127.0.0.1 bench" >"$TMP/pids"
	else
		sleep 1000 &
		other=$!
		echo "$other other 127.0.0.1 other" >"$TMP/pids"
	fi
	taskset -c "$TRACER_CPUS" "$TRACER" -g 127.0.0.1 -i "$TMP/pids" --json \
		-o /dev/null 2>"$TMP/tracer.err" &
	tpid=$!
	wait "$bpid"
	kill -INT "$tpid" 2>/dev/null
	wait "$tpid"
	[ -n "${other:-}" ] && kill "$other" 2>/dev/null && wait "$other" 2>/dev/null
	grep WARNING "$TMP/tracer.err" >&2
	ns=$(awk '{print $2}' "$TMP/out")
	echo "${ns:-nan}"
}

declare -A SUM CNT MIN
for r in $(seq "$ROUNDS"); do
	for mode in $MODES; do
		for case in off traced untraced; do
			ns=$(run_case "$mode" "$case")
			printf 'round %d %-9s %-9s %10s ns/op\n' "$r" "$mode" "$case" "$ns" >&2
			SUM[$mode.$case]=$(awk -v a="${SUM[$mode.$case]:-0}" -v b="$ns" 'BEGIN{print a+b}')
			MIN[$mode.$case]=$(awk -v a="${MIN[$mode.$case]:-1e18}" -v b="$ns" 'BEGIN{print (b<a)?b:a}')
			CNT[$mode.$case]=$(( ${CNT[$mode.$case]:-0} + 1 ))
		done
	done
done

# Other load on the machine only ever adds time: the best run of each case
# is the least disturbed; the mean is shown too.
printf '\n%-9s %10s %10s %10s %9s %9s   %s\n' mode off_ns traced_ns untr_ns traced_x untr_x "(best of $ROUNDS; mean ratios)"
for mode in $MODES; do
	awk -v m="$mode" -v o="${MIN[$mode.off]}" -v t="${MIN[$mode.traced]}" -v u="${MIN[$mode.untraced]}" \
		-v so="${SUM[$mode.off]}" -v st="${SUM[$mode.traced]}" -v su="${SUM[$mode.untraced]}" \
		'BEGIN{printf "%-9s %10.1f %10.1f %10.1f %9.3f %9.3f   (%.3f %.3f)\n", m, o, t, u, t/o, u/o, st/so, su/so}'
done
