#!/usr/bin/env bash
# Every benchmark, one after the other (make bench). Figures are ratios
# measured within one run: the machine is shared and noisy, absolute
# numbers move from run to run.
#   engine      bench_engine: synthetic requests through the engine, events/s
#   import      bench_import.sh: report text -> krtrace, MB/s and ratio to wc -l
#   tracedat    bench_tracedat.sh: krtrace trace.dat against trace-cmd report -R | krtrace
#   syscalls    overhead_syscall.sh: traced/untraced ping-pong and write loops (root)
#   overhead    overhead.sh: wrk on the test bed, A none / B krtrace-bpf /
#               C ftrace capture / D krtrace-bpf --sample 10 (root)
#   cost        overhead_cost.sh: the same chain as CPU per request, with the
#               kernel's price of a hook hit (root)
#   models      cost_models.sh: the tracer's own CPU per request on every
#               model of the test bed, full and sampled (root)
#   uprobes     uprobe_cost.sh: a uprobe hit's price, Go runtime hits and CPU
#               per request on the Go services (root, golang-go)
#   tcpoption   bench_tcp_option: the trace-context TCP option's cost per
#               data segment (root, cgroup v2)
#   hostsoption hosts_option.sh: the option inside the tracer on the two-host
#               bed, per request and per data segment (root, cgroup v2)
#   accuracy    accuracy.sh: exact / uncertain / wrong per model of the test
#               bed, live, --sample 10 and import (root; about 4 minutes)
# The two overhead benchmarks take about 3 minutes each: 10 rounds of short
# paired runs (bench/README explains the statistics). BENCH_ROUNDS sets the
# number of rounds; their other settings (REPEAT, the test bed's KRT_*...)
# pass on through the environment.
# Usage: bench/run_all.sh [engine|import|tracedat|syscalls|overhead|cost|models|uprobes|tcpoption|hostsoption|accuracy ...]
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUTPUT:-.output}
which=("$@")
[ ${#which[@]} -eq 0 ] && which=(engine import tracedat syscalls overhead cost models uprobes tcpoption hostsoption accuracy)
for b in "${which[@]}"; do
	echo "===== bench: $b"
	case $b in
	engine) "$OUT"/tools/bench_engine 1000000 ;;
	import) bash bench/bench_import.sh ;;
	tracedat) bash bench/bench_tracedat.sh ;;
	syscalls) bash bench/overhead_syscall.sh ${BENCH_ROUNDS:+"$BENCH_ROUNDS"} ;;
	overhead) bash bench/overhead.sh ${BENCH_ROUNDS:+"$BENCH_ROUNDS"} ;;
	cost) bash bench/overhead_cost.sh ;;
	models) bash bench/cost_models.sh ${BENCH_ROUNDS:+"$BENCH_ROUNDS"} ;;
	uprobes) bash bench/uprobe_cost.sh ${BENCH_ROUNDS:+"$BENCH_ROUNDS"} ;;
	tcpoption) "$OUT"/tools/bench_tcp_option ${BENCH_ROUNDS:+"$BENCH_ROUNDS"} ;;
	hostsoption) bash bench/hosts_option.sh ${BENCH_ROUNDS:+"$BENCH_ROUNDS"} ;;
	accuracy) bash bench/accuracy.sh ;;
	*) echo "unknown benchmark '$b'" >&2; exit 2 ;;
	esac
done
