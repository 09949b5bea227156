#!/usr/bin/env bash
# The tracer's overhead as a CPU cost account per request, on the test bed's
# nginx -> app -> redis chain under wrk: what each part costs in µs of CPU
# per request, next to what a request costs the machine without tracing.
#
# Why beside overhead.sh: a throughput ratio on this shared VM scatters by
# about 10 % per round, so a 1 % effect takes 100+ rounds to show; CPU time
# per request is counted by the kernel and repeats within a few %. On a
# machine that wrk keeps busy, throughput falls by about the CPU added per
# request over the CPU a request costs, so the account predicts the ratios
# overhead.sh measures, and says which part of the cost is whose.
#
# The account, per request:
#   floor    the kernel's price of calling an attached BPF program at all
#            (hook hits per request on the chain x price per hit), paid
#            before a program runs its first instruction; any tracer that
#            hooks these events pays it;
#   bpf      the programs' own run time above the empty programs'
#            (bpf_stats run time, minus --debug empty-hooks'; counted through
#            the tracer's own statistics fd, --bpf-stats: the sysctl
#            kernel.bpf_stats_enabled is the machine's: another benchmark
#            may turn it off mid-run (a run with it counted 0.064 hits per
#            TCP write, where every write is a hit);
#   reader   the krtrace-bpf process's CPU time (ring, engine, JSON out).
# Cases: N (--debug empty-hooks: every hook attached, each program returning
# at once), B (full tracing), D (--sample 10), W (--sample 10
# --sample-window 300: windowed sampling, a window of 300 ms every 3 s,
# the hot hooks detached in between). W's floor is its own hits x the
# price (the hooks detached are not called), its bpf its run time above what
# the empty programs take for as many hits; the others' floor is N's.
# CPU per request without tracing: the machine's busy time (user, system,
# irq, softirq of every CPU, from /proc/stat) over a wrk run, divided by its
# requests.
#
# The price per hit: bench_syscall's TCP write loop (a socket send per op,
# the hook every transfer pays) on BENCH_CPU, with `krtrace-bpf
# --debug empty-hooks` attached (tracing another process) and without, in ROUNDS
# alternating pairs of REPEAT runs; the median of the per-pair differences in
# ns/op, divided by the hooks' hits per op (counted with bpf_stats in a
# separate run: the counting itself costs time).
#
# Usage: bench/overhead_cost.sh [ROUNDS (6)] [SECONDS per wrk run (3)]
# Env: the test bed's (KRT_*; brought up and down again if its nginx is not
#      running), REPEAT (3), TCPWRITE_N (200000), BENCH_CPU (0), WRK_CONN (4),
#      WRK_CPU (last CPU), TRACER_TIMEOUT (s, 20), ALT (another krtrace-bpf,
#      e.g. main's: cases B+alt and D+alt run it in the same rounds, the
#      order of the two builds swapped from round to round: an A/B).
# shellcheck disable=SC2016 # col's field expressions are awk's, in single quotes on purpose
set -u
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=bench/lib.sh
. bench/lib.sh
OUT=${OUTPUT:-.output}
ROUNDS=${1:-6}
DUR=${2:-3}
REPEAT=${REPEAT:-3}
TCPWRITE_N=${TCPWRITE_N:-200000}
BENCH_CPU=${BENCH_CPU:-0}
CONN=${WRK_CONN:-4}
WRK_CPU=${WRK_CPU-$(($(nproc) - 1))}
TRACER_TIMEOUT=${TRACER_TIMEOUT:-20}
TB=utils/testbed
die() { echo "overhead_cost: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root"
command -v wrk >/dev/null || die "wrk not installed"
{ [ -x "$OUT/bin/krtrace-bpf" ] && [ -x "$OUT/tools/bench_syscall" ]; } || die "run make first"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "bad ROUNDS '$ROUNDS'"
[[ $DUR =~ ^[1-9][0-9]*$ ]] || die "bad SECONDS '$DUR' (whole seconds: wrk's -d)"
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "bad REPEAT '$REPEAT'"
NCPU=$(nproc)
OTHER_CPUS=$(seq 0 $((NCPU - 1)) | grep -vx "$BENCH_CPU" | paste -sd,)
[ -n "$OTHER_CPUS" ] || OTHER_CPUS=$BENCH_CPU
WRK=(wrk)
[ -n "$WRK_CPU" ] && WRK=(taskset -c "$WRK_CPU" wrk)

STARTED=0 TP="" OTHER=""
TMP=$(mktemp -d)
stop_tracer() {
	[ -n "$TP" ] && kill -INT "$TP" 2>/dev/null && wait "$TP" 2>/dev/null
	TP=""
}
cleanup() {
	stop_tracer
	[ -n "$OTHER" ] && kill "$OTHER" 2>/dev/null && wait "$OTHER" 2>/dev/null
	if [ "$STARTED" -eq 1 ]; then
		$TB down >&2
		rm -f "$($TB state)"/truth/*.jsonl
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Copies: a rebuild while the benchmark runs must not mix two versions.
cp "$OUT/bin/krtrace-bpf" "$OUT/tools/bench_syscall" "$TMP/" || die "cannot copy the binaries"
BPF=$TMP/krtrace-bpf BENCH=$TMP/bench_syscall
CASES="N B D W"
if [ -n "${ALT:-}" ]; then
	cp "$ALT" "$TMP/krtrace-bpf-alt" || die "cannot copy ALT '$ALT'"
	CASES="N B D W B+alt D+alt"
fi
"$BPF" --help | grep -q -- --sample-window || CASES=${CASES/ W/}

# start_tracer ERRFILE ARGS...: krtrace-bpf (BIN, default BPF) in the
# background (TP), on the CPUs other than BENCH_CPU; waits for its
# "tracing" line.
start_tracer() {
	local err=$1 deadline=$((SECONDS + TRACER_TIMEOUT))
	shift
	taskset -c "$OTHER_CPUS" "${BIN:-$BPF}" -v "$@" 2>"$err" &
	TP=$!
	until grep -q ': tracing ' "$err" 2>/dev/null; do
		if ! kill -0 "$TP" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
			tail -5 "$err" >&2
			die "krtrace-bpf did not start"
		fi
		sleep 0.05
	done
}

# prog_sum ERRFILE -> "runs run_ns": totals over the programs krtrace-bpf -v
# listed at exit (with bpf_stats on)
prog_sum() {
	sed -n '/BPF programs/,$p' "$1" | awk '/ runs / {r += $2; t += $2 * $4}
		END {printf "%d %.0f\n", r, t}'
}

# tcpwrite_block -> median ns/op of REPEAT runs
tcpwrite_block() {
	local _
	for _ in $(seq "$REPEAT"); do
		taskset -c "$BENCH_CPU" "$BENCH" tcpwrite "$TCPWRITE_N" | awk '{print $2}'
	done | spread | awk '{print $2}'
}

echo "== price of a hook hit: TCP write loop, --debug empty-hooks attached vs not" \
	"($ROUNDS pairs x $REPEAT runs of $TCPWRITE_N writes)" >&2
sleep 1000 &
OTHER=$!
echo "$OTHER other 127.0.0.1 other" >"$TMP/pids"
: >"$TMP/deltas"
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) -eq 1 ]; then
		off=$(tcpwrite_block)
		start_tracer "$TMP/t.err" -g 127.0.0.1 -i "$TMP/pids" --debug empty-hooks -o /dev/null
		on=$(tcpwrite_block)
		stop_tracer
	else
		start_tracer "$TMP/t.err" -g 127.0.0.1 -i "$TMP/pids" --debug empty-hooks -o /dev/null
		on=$(tcpwrite_block)
		stop_tracer
		off=$(tcpwrite_block)
	fi
	printf "  pair %d: off %.0f ns/op, attached %.0f ns/op\n" "$r" "$off" "$on" >&2
	echo "$on $off" | awk '{print $1 - $2}' >>"$TMP/deltas"
done
read -r _ dmed dq1 dq3 _ _ < <(spread <"$TMP/deltas")
start_tracer "$TMP/t.err" -g 127.0.0.1 -i "$TMP/pids" --debug empty-hooks --bpf-stats -o /dev/null
taskset -c "$BENCH_CPU" "$BENCH" tcpwrite "$TCPWRITE_N" >/dev/null
stop_tracer
read -r loop_hits _ < <(prog_sum "$TMP/t.err")
[ "${loop_hits:-0}" -gt 0 ] || die "no hook hits counted on the write loop (krtrace-bpf -v printed no BPF program statistics)"
kill "$OTHER" 2>/dev/null && wait "$OTHER" 2>/dev/null
OTHER=""
read -r hits_per_op price < <(awk -v h="$loop_hits" -v n="$TCPWRITE_N" -v d="$dmed" \
	'BEGIN {hp = h / n; printf "%.3f %.1f\n", hp, d / hp}')
printf "   +%.0f ns/op (IQR %.0f-%.0f) over %s hook hits per op: %s ns per hit\n" \
	"$dmed" "$dq1" "$dq3" "$hits_per_op" "$price" >&2

if ! $TB status 2>/dev/null | grep -q "^nginx .*running"; then
	$TB up chain >&2 || die "test bed did not start"
	STARTED=1
fi
URL=http://$($TB addr nginx)/req/cost
GW=$($TB gateway)
$TB pids >"$TMP/chain.pids" || die "no PIDs file from the test bed"

# busy_ticks -> the machine's busy clock ticks so far (user nice system irq
# softirq; guest time is inside user; idle, iowait and steal are not busy)
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
# wrk_requests: one wrk run, its request count
wrk_requests() {
	"${WRK[@]}" -t1 -c"$CONN" -d"${DUR}s" "$URL" 2>/dev/null | awk '/requests in/ {print $1}'
}
# proc_ticks PID -> utime + stime of the process (all its threads)
proc_ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }

HZ=$(getconf CLK_TCK)
echo "== the chain: wrk -t1 -c$CONN -d${DUR}s, $ROUNDS rounds of: none, N" \
	"(--debug empty-hooks), B (defaults), D (--sample 10), W (--sample 10 --sample-window 300)${ALT:+, B+alt and D+alt (ALT)}" >&2
wrk_requests >/dev/null	# warm the chain up
: >"$TMP/acct"
for r in $(seq "$ROUNDS"); do
	b0=$(busy_ticks)
	n=$(wrk_requests)
	b1=$(busy_ticks)
	echo "$r none $(awk -v b="$((b1 - b0))" -v n="${n:-0}" -v hz="$HZ" \
		'BEGIN {printf "%.1f", n ? b * 1e6 / hz / n : 0}') $n" >>"$TMP/acct"
	order=$CASES
	# the two builds' order swapped every other round
	[ -n "${ALT:-}" ] && [ $((r % 2)) -eq 0 ] && order="N B+alt D+alt B D W"
	for c in $order; do
		extra=()
		BIN=$BPF
		[[ $c == *+alt ]] && BIN=$TMP/krtrace-bpf-alt
		[ "$c" = N ] && extra=(--debug empty-hooks)
		[ "${c%+alt}" = D ] && extra=(--sample 10)
		[ "$c" = W ] && extra=(--sample 10 --sample-window 300)
		start_tracer "$TMP/c.err" -g "$GW" -i "$TMP/chain.pids" --bpf-stats --json \
			-o "$TMP/live.jsonl" "${extra[@]}"
		# the steady state: past the 5 s after which traces are written out
		warm=$("${WRK[@]}" -t1 -c"$CONN" -d6s "$URL" 2>/dev/null | awk '/requests in/ {print $1}')
		t0=$(proc_ticks "$TP")
		n=$(wrk_requests)
		t1=$(proc_ticks "$TP")
		stop_tracer
		# hits and program time count the tracer's whole life: per
		# request of both wrk runs (the idle moments around them add
		# little: the chain is quiet then)
		read -r runs run_ns < <(prog_sum "$TMP/c.err")
		echo "$r $c $(awk -v t="$((t1 - t0))" -v n="${n:-0}" -v hz="$HZ" \
			'BEGIN {printf "%.2f", n ? t * 1e6 / hz / n : 0}') $n $runs $run_ns \
			$((${warm:-0} + ${n:-0}))" >>"$TMP/acct"
	done
	echo "  round $r done" >&2
done

# acct lines: "round none cpu_us n" and "round CASE reader_us n runs run_ns requests"
col() { # col CASE FIELD-EXPRESSION -> per-round values
	awk -v c="$1" '$2 == c && $4 > 0 {print '"$2"'}' "$TMP/acct"
}
med() { spread | awk '{print $2}'; }
iqr() { spread | awk '{printf "%s-%s", $3, $4}'; }
cpu_req=$(col none '$3' | med)
hits_req=$(col N '$5 / $7' | med)
n_prog=$(col N '$6 / $7 / 1000' | med)
n_hit_ns=$(col N '$5 ? $6 / $5 : 0' | med)	# an empty program's run, with statistics on
floor=$(awk -v h="$hits_req" -v p="$price" 'BEGIN {printf "%.2f", h * p / 1000}')
echo
echo "KRTrace overhead as CPU per request on the chain ($ROUNDS rounds; medians, IQR in brackets)"
printf "  a request without tracing: %.0f µs of CPU (%s)\n" "$cpu_req" "$(col none '$3' | iqr)"
printf "  hook hits per request: %.1f; price per hit: %s ns (TCP write loop: +%.0f ns/op," \
	"$hits_req" "$price" "$dmed"
printf " %s hits/op)\n" "$hits_per_op"
printf "  %-26s %8s %8s %8s %8s %10s\n" case floor bpf reader total "predicted"
for c in $CASES; do
	prog=$(col "$c" '$6 / $7 / 1000' | med)
	reader=$(col "$c" '$3' | med)
	f=$floor n=$n_prog
	if [ "$c" = W ]; then
		# its own hits: the floor and the empty programs' share of them
		hits=$(col W '$5 / $7' | med)
		f=$(awk -v h="$hits" -v p="$price" 'BEGIN {printf "%.2f", h * p / 1000}')
		n=$(awk -v h="$hits" -v e="$n_hit_ns" 'BEGIN {printf "%.3f", h * e / 1000}')
	fi
	awk -v c="$c" -v f="$f" -v p="$prog" -v n="$n" -v r="$reader" -v q="$cpu_req" '
		BEGIN { name["N"] = "N --debug empty-hooks"; name["B"] = "B krtrace-bpf"
			name["D"] = "D krtrace-bpf --sample 10"
			name["W"] = "W --sample-window 300"
			name["B+alt"] = "B ALT"; name["D+alt"] = "D ALT --sample 10"
			b = c == "N" ? 0 : p - n; if (b < 0) b = 0
			t = f + b + r
			printf "  %-26s %7.2fus %7.2fus %7.2fus %7.2fus %9.3fx\n",
				name[c], f, b, r, t, q / (q + t) }' | tee -a "$TMP/rows"
done
# (D - N) / (B - N): what sampling leaves of full tracing's cost above N's
# (floor and reader; B and D pay N's floor, so it is the programs and the
# reader above N's reader; W's lower floor counts for it)
ratio() { # B-ROW-REGEX D-ROW-REGEX NAME [LETTER]
	awk -v b="$1" -v d="$2" -v name="$3" -v l="${4:-D}" '
		{ for (i = 1; i <= NF; i++) sub(/us$/, "", $i) }
		$0 ~ b {bb = $(NF - 1)}
		$0 ~ d {dd = $(NF - 1)}
		$1 == "N" {nn = $(NF - 1)}
		END { if (bb - nn > 0)
			printf "  (%s - N) / (B - N), %s: %.2f\n", l, name, (dd - nn) / (bb - nn) }' "$TMP/rows"
}
ratio '^ *B krtrace-bpf ' '^ *D krtrace-bpf ' "this build"
[[ " $CASES " == *" W "* ]] && ratio '^ *B krtrace-bpf ' '^ *W --sample-window ' "this build" W
[ -n "${ALT:-}" ] && ratio '^ *B ALT ' '^ *D ALT ' "ALT"
echo "  (floor = hits x price; bpf = program run time above the empty programs';"
echo "   reader = krtrace-bpf's CPU; predicted throughput = cpu / (cpu + total))"
