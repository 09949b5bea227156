#!/usr/bin/env bash
# The tracer's own CPU per request on every model of the test bed, full
# tracing and sampled, alternating within one run.
#
# For each case (full tracing, --sample 10, --sample-rate RATE, and w10:
# --sample 10 --sample-window WINDOW_MS) one krtrace-bpf traces every
# container of the test bed; each model in turn
# takes WARM seconds of wrk load (the tracer reaches its steady state: it
# writes a trace out 5 s after it ends) and then SECONDS of measured load.
# Around the measured run krtrace-bpf prints its counters (SIGUSR1): ring
# records, and per program its hits and run time, read through its own
# program fds (--bpf-stats holds a statistics fd: other tracers loaded on
# the machine and the sysctl kernel.bpf_stats_enabled do not enter).
# Per request of the measured run:
#   records  ring records submitted by the kernel
#   hits     program runs, per hook (send, recv, switch, waking, other)
#   bpf      the programs' run time (bpf_stats: from the program's first
#            instruction to its last; the kernel's price of calling it,
#            PRICE_NS per hit, is not in it and shown as "floor")
#   reader   krtrace-bpf's CPU time (all its threads, schedstat: ns)
#   total    bpf + reader: the tracer's own CPU
# The sched hooks fire for every task of the machine, other helpers' and
# benchmarks' too: the hits and run time of an idle window measured with
# the same tracer just before (no load on the test bed), per second, are
# subtracted.
#
# w10, windowed sampling: a window of WINDOW_MS (300) every 10 x WINDOW_MS,
# its hot hooks detached in between. With 300 ms the cycle is 3 s: the
# measured run (3 s), warm-up (6 s) and idle window (3 s) hold whole cycles,
# so each sees the same share of windows whichever phase it begins in (with
# other run lengths take a WINDOW_MS whose cycle divides them; the script
# warns when the measured run or the idle window does not hold whole
# cycles). w10L is w10 with WINDOW_MS_LONG (1000: a cycle of 10 s), so two
# window lengths alternate in one run: the runs must hold whole cycles of
# both (WINDOW_MS=300 WINDOW_MS_LONG=1000: SECONDS and IDLE of 30). Each cycle
# costs the reader a pause (2-5 ms of CPU here: the tracepoints' text
# patching 1-3, the drain 0.5-1, the forgetting 0.7-1) and a resume (1.5-4
# ms), whatever the load: ~1.5-2 ms a second at no load with 300 ms, the
# "idle" column (10.7 before the closed window's 50 ms polls went, and the
# first pause's mapping of the state tables); a cycle of 1 s (100 ms) pays
# them three times as often. The hook floor (hits x price) is lower too:
# the hooks detached are not called at all; the ratio table gives the
# totals over full's with and without it, and with the idle CPU of both.
#
# Usage: bench/cost_models.sh [ROUNDS (2)] [SECONDS per measured run (3)]
# Env: the test bed's (KRT_*; brought up with the groups the models need and
#      down again if it was not running), MODELS (chain m1 m2 m3 m4 and the
#      runtimes the test bed knows: java asgi thrift node mc go-http
#      go-fanout), CASES ("full s10 rate"; also "w10", and "empty" and "prefilter", below), RATE (--sample-rate, 100),
#      WINDOW_MS (w10's --sample-window, 300), WINDOW_MS_LONG (w10L's, 1000),
#      WARM (s, 6), IDLE (s, 3),
#      WRK_CONN (4), WRK_CPU (last CPU; "" = any), PRICE_NS (111: the price
#      of a hook hit, bench/overhead_cost.sh), RESULTS (file: raw lines),
#      TRACER_TIMEOUT (s, 30), REPORT (a RESULTS file of an earlier run: its
#      tables printed again, nothing measured), ALT (another krtrace-bpf, e.g.
#      main's: a case named CASE+alt runs CASE's options with it, alternating
#      with the others: an A/B of two builds within one run), TRACER_ARGS
#      (more options for every case's tracer, e.g. -v: a window's phase
#      changes with their CPU and how long each warm-up waited for the
#      pools), LOGS (a directory: each tracer's stderr kept there as
#      ROUND-CASE.err).
# Floors: "empty" (--debug empty-hooks) runs every program empty; "prefilter"
# (--debug prefilter-hooks) returns from the transfer and scheduler programs
# right after their traced-process test, what an unsampled request's hits
# would cost if they did nothing more (the Go runtime probes not attached).
# --sample N cannot go below about (full / N + prefilter bpf_us x (N - 1) / N)
# over full: the floor of "--sample N <= 0.3 x full" with this design of hooks.
# shellcheck disable=SC2016 # awk programs in single quotes on purpose
set -u
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=bench/lib.sh
. bench/lib.sh
OUT=${OUTPUT:-.output}
ROUNDS=${1:-2}
DUR=${2:-3}
WARM=${WARM:-6}
IDLE=${IDLE:-3}
RATE=${RATE:-100}
WINDOW_MS=${WINDOW_MS:-300}
WINDOW_MS_LONG=${WINDOW_MS_LONG:-1000}
CONN=${WRK_CONN:-4}
WRK_CPU=${WRK_CPU-$(($(nproc) - 1))}
PRICE_NS=${PRICE_NS:-111}
TRACER_TIMEOUT=${TRACER_TIMEOUT:-30}
TB=utils/testbed
die() { echo "cost_models: $*" >&2; exit 1; }
# median(x, n): of x[1..n] (sorted in place), for the report's awk programs
AWK_MEDIAN='function median(x, n,  i, j, t) {
	for (i = 2; i <= n; i++) { t = x[i]; for (j = i - 1; j >= 1 && x[j] > t; j--) x[j + 1] = x[j]; x[j + 1] = t }
	return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
}
' 
if [ -n "${REPORT:-}" ]; then
	[ -r "$REPORT" ] || die "cannot read $REPORT"
	RES=$REPORT
	MODELS=${MODELS:-$(awk '!s[$3]++ {printf "%s ", $3}' "$RES")}
	CASES=${CASES:-$(awk '!s[$2]++ {printf "%s ", $2}' "$RES")}
	ROUNDS=$(awk '$1 > r {r = $1} END {print r + 0}' "$RES")
else
[ "$(id -u)" -eq 0 ] || die "needs root"
command -v wrk >/dev/null || die "wrk not installed"
[ -x "$OUT/bin/krtrace-bpf" ] || die "run make first"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "bad ROUNDS '$ROUNDS'"
[[ $DUR =~ ^[1-9][0-9]*$ ]] || die "bad SECONDS '$DUR' (whole seconds: wrk's -d)"
[[ $WARM =~ ^[0-9]+$ ]] || die "bad WARM '$WARM'"
[[ $IDLE =~ ^[1-9][0-9]*$ ]] || die "bad IDLE '$IDLE'"
[[ $RATE =~ ^[1-9][0-9]*$ ]] || die "bad RATE '$RATE'"
[[ $WINDOW_MS =~ ^[1-9][0-9]*$ ]] || die "bad WINDOW_MS '$WINDOW_MS'"
[[ $WINDOW_MS_LONG =~ ^[1-9][0-9]*$ ]] || die "bad WINDOW_MS_LONG '$WINDOW_MS_LONG'"
WRK=(wrk)
[ -n "$WRK_CPU" ] && WRK=(taskset -c "$WRK_CPU" wrk)

TMP=$(mktemp -d)
STARTED=0 TP=""
stop_tracer() {
	[ -n "$TP" ] && kill -INT "$TP" 2>/dev/null && wait "$TP" 2>/dev/null
	TP=""
}
cleanup() {
	stop_tracer
	if [ "$STARTED" -eq 1 ]; then
		$TB down >&2
		rm -f "$($TB state)"/truth/*.jsonl
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A copy: a rebuild while the benchmark runs must not mix two versions.
cp "$OUT/bin/krtrace-bpf" "$TMP/" || die "cannot copy krtrace-bpf"
BPF=$TMP/krtrace-bpf
"$BPF" --help | grep -q -- --bpf-stats || die "krtrace-bpf has no --bpf-stats (rebuild)"
if [ -n "${ALT:-}" ]; then
	cp "$ALT" "$TMP/krtrace-bpf-alt" || die "cannot copy ALT '$ALT'"
	"$TMP/krtrace-bpf-alt" --help | grep -q -- --bpf-stats || die "ALT has no --bpf-stats"
fi

# model -> the container that takes its requests, and its test-bed group
front() {
	case $1 in chain) echo nginx ;; thrift) echo tfront ;; mc) echo m5 ;; *) echo "$1" ;; esac
}
group() {
	case $1 in chain) echo chain ;; m[1-4]) echo models ;; go-*) echo go ;; *) echo "$1" ;; esac
}
if [ -z "${MODELS:-}" ]; then
	MODELS="chain m1 m2 m3 m4"
	for m in java asgi thrift node mc go-http go-fanout; do
		$TB addr "$(front "$m")" >/dev/null 2>&1 && MODELS="$MODELS $m"
	done
fi
CASES=${CASES:-full s10 rate}
if [[ " $CASES " == *" rate "* ]] && ! "$BPF" --help | grep -q -- --sample-rate; then
	echo "cost_models: krtrace-bpf has no --sample-rate: case rate left out" >&2
	CASES=$(echo "$CASES" | tr ' ' '\n' | grep -vx rate | paste -sd' ')
fi
if [[ " $CASES " == *" w10"* ]] && ! "$BPF" --help | grep -q -- --sample-window; then
	echo "cost_models: krtrace-bpf has no --sample-window: case w10 left out" >&2
	CASES=$(echo "$CASES" | tr ' ' '\n' | grep -vx 'w10L\?\(+alt\)\?' | paste -sd' ')
fi
case_args() {
	case $1 in
	*+alt)
		[ -n "${ALT:-}" ] || die "case '$1' needs ALT (a krtrace-bpf to compare with)"
		case_args "${1%+alt}"
		;;
	full) ;;
	s10) echo --sample 10 ;;
	w10) echo --sample 10 --sample-window "$WINDOW_MS" ;;
	w10L) echo --sample 10 --sample-window "$WINDOW_MS_LONG" ;;
	rate) echo --sample-rate "$RATE" ;;
	empty) echo --debug empty-hooks ;;
	prefilter) echo --debug prefilter-hooks ;;
	*) die "unknown case '$1' (full s10 w10 w10L rate empty prefilter)" ;;
	esac
}
for c in $CASES; do case_args "$c" >/dev/null; done
# A window case's measured run and idle window must hold whole cycles (10 x
# its window): otherwise the share of windows each sees depends on the
# phase it begins in, and the figures move with it.
for c in $CASES; do
	case ${c%+alt} in w10) ms=$WINDOW_MS ;; w10L) ms=$WINDOW_MS_LONG ;; *) continue ;; esac
	for t in "SECONDS:$DUR" "IDLE:$IDLE"; do
		[ $((${t#*:} * 1000 % (10 * ms))) -eq 0 ] ||
			echo "cost_models: warning: ${t%:*} (${t#*:} s) holds no whole number of" \
				"$c's cycles ($((10 * ms)) ms): its share of windows depends on the phase" >&2
	done
done

# The test bed: what the models need, brought up (and down at the end) if
# not running.
need_up=0
for m in $MODELS; do
	$TB addr "$(front "$m")" >/dev/null 2>&1 || die "the test bed knows no model '$m'"
	$TB status 2>/dev/null | grep -q "^$(front "$m") .*running" || need_up=1
done
if [ $need_up = 1 ]; then
	$TB status >/dev/null 2>&1 || STARTED=1
	# shellcheck disable=SC2046 # one word per group
	$TB up $(for m in $MODELS; do group "$m"; done | sort -u) >&2 || die "test bed did not start"
fi
# a model whose service is not built (no Go, no JDK...) is left out
avail=""
for m in $MODELS; do
	if $TB status 2>/dev/null | grep -q "^$(front "$m") .*running"; then
		avail="$avail $m"
	else
		echo "cost_models: $m is not running (not built?): left out" >&2
	fi
done
MODELS=${avail# }
[ -n "$MODELS" ] || die "no model running"
GW=$($TB gateway)
$TB pids >"$TMP/pids" || die "no PIDs file from the test bed"

# reader_ns -> CPU ns of the tracer process so far (every thread)
reader_ns() { cat /proc/"$TP"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
now_ns() { date +%s%N; }

# counters N -> waits for block N of the tracer's counters, prints it as
# "prog runs run_ns" lines plus "records R 0" and "started S sampled"
counters() {
	counters_wait
	awk -v n="$COUNTERS" '$2 == "counters" && $3 == n && $4 == "prog" {print $5, $7, $9}
		$2 == "counters" && $3 == n && $4 == "records" {
			print "records", $5, 0; print "started", $7, $9 }
		$2 == "counters" && $3 == n && $4 == "kinds" {
			for (i = 5; i < NF; i += 2) print "kind_" $i, $(i + 1), 0 }' "$TMP/t.err"
}

start_tracer() { # BINARY ARGS...
	local deadline=$((SECONDS + TRACER_TIMEOUT)) bin=$1
	shift
	COUNTERS=0
	rm -f "$TMP/t.err"	# a new file: the last tracer's "tracing" line must not count
	# shellcheck disable=SC2086 # TRACER_ARGS: options, word by word
	taskset -c 0-$(($(nproc) - 1)) "$bin" -g "$GW" -i "$TMP/pids" --bpf-stats --json \
		-o "$TMP/live.jsonl" ${TRACER_ARGS:-} "$@" 2>"$TMP/t.err" &
	TP=$!
	until grep -q ': tracing ' "$TMP/t.err" 2>/dev/null; do
		if ! kill -0 "$TP" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
			tail -5 "$TMP/t.err" >&2
			die "krtrace-bpf did not start"
		fi
		sleep 0.05
	done
}

wrk_run() { # SECONDS URL -> requests
	"${WRK[@]}" -t1 -c"$CONN" -d"$1s" "$2" 2>/dev/null | awk '/requests in/ {print $1}'
}

# snap FILE: counters, reader CPU and time into FILE
snap() {
	{ counters; echo "reader $(reader_ns) 0"; echo "time $(now_ns) 0"; } >"$1"
}
# delta A B -> "name d1 d2" per line (B - A)
delta() {
	awk 'NR == FNR {a1[$1] = $2; a2[$1] = $3; next}
		{print $1, $2 - a1[$1], $3 - a2[$1]}' "$1" "$2"
}

# RESULTS lines: round case model requests name value1 value2 (per window:
# requests, and per counter its net difference; idle rates subtracted)
RES=${RESULTS:-$TMP/results}
: >"$RES"
echo "== cost per request: models ($MODELS), cases ($CASES), $ROUNDS rounds," \
	"wrk -c$CONN: ${WARM}s warm + ${DUR}s measured per model; idle ${IDLE}s" >&2
r=0
while [ $r -lt "$ROUNDS" ]; do
	r=$((r + 1))
	# the case order rotates from round to round
	# shellcheck disable=SC2086 # one word per case
	set -- $CASES
	for _ in $(seq 2 "$r"); do set -- "$@" "$1"; shift; done
	for c in "$@"; do
		bin=$BPF
		[[ $c == *+alt ]] && bin=$TMP/krtrace-bpf-alt
		# shellcheck disable=SC2046 # the case's options, word by word
		start_tracer "$bin" $(case_args "$c")
		snap "$TMP/i0"
		sleep "$IDLE"
		snap "$TMP/i1"
		delta "$TMP/i0" "$TMP/i1" >"$TMP/idle"
		for m in $MODELS; do
			url=http://$($TB addr "$(front "$m")")/req/cost-$m
			[ "$WARM" -gt 0 ] && wrk_run "$WARM" "$url" >/dev/null
			snap "$TMP/a"
			n=$(wrk_run "$DUR" "$url")
			snap "$TMP/b"
			delta "$TMP/a" "$TMP/b" >"$TMP/d"
			# the idle window's rates, scaled to this window, off the
			# programs' hits and run time and the reader's CPU
			awk -v r="$r" -v c="$c" -v m="$m" -v n="${n:-0}" '
				NR == FNR {i1[$1] = $2; i2[$1] = $3; next}
				{d[$1] = $2; e[$1] = $3; order[++k] = $1}
				END {
					scale = i1["time"] ? d["time"] / i1["time"] : 0
					for (j = 1; j <= k; j++) {
						x = order[j]; v1 = d[x]; v2 = e[x]
						if (x != "time" && x != "records" && x != "started" && x !~ /^kind_/) {
							v1 -= i1[x] * scale; v2 -= i2[x] * scale
						}
						print r, c, m, n, x, v1, v2
					}
					# the reader CPU the idle window took off, per second (ns)
					print r, c, m, n, "idle_reader", i1["time"] ? 1e9 * i1["reader"] / i1["time"] : 0, 0
				}' "$TMP/idle" "$TMP/d" >>"$RES"
			echo "  round $r $c $m: ${n:-0} requests" >&2
		done
		stop_tracer
		[ -n "${LOGS:-}" ] && mkdir -p "$LOGS" && cp "$TMP/t.err" "$LOGS/$r-$c.err"
		grep -q "WARNING" "$TMP/t.err" && grep "WARNING" "$TMP/t.err" | sed "s/^/  ($c) /" >&2
	done
done

fi	# REPORT

# The table: per model and case, medians over the rounds of per-request figures.
echo
echo "KRTrace's own CPU per request, every model ($ROUNDS rounds, medians;" \
	"wrk -c$CONN, ${DUR}s per run; price of a hook hit ${PRICE_NS} ns)"
printf "  %-9s %-8s %7s %7s | %5s %5s %6s %6s %5s %6s | %7s %7s %7s %7s | %6s %6s\n" \
	model case req/s records send recv switch waking other uprobe bpf_us reader total floor "traced" idle
TOTALS=$(mktemp)	# "model case total floor" per row, for the ratios to full
for m in $MODELS; do
	for c in $CASES; do
		awk -v m="$m" -v c="$c" -v dur="$DUR" -v price="$PRICE_NS" -v side="$TOTALS" "$AWK_MEDIAN"'
			$2 == c && $3 == m && $4 > 0 {
				n = $4; r = $1
				req[r] = n
				if ($5 == "records") rec[r] = $6 / n
				else if ($5 == "reader") rd[r] = $6 / n / 1000
				else if ($5 == "started") { st[r] = $6; sa[r] = $7 }
				else if ($5 == "idle_reader") idle[r] = $6 / 1e6
				else if ($5 != "time" && $5 !~ /^kind_/) {
					h = "other"
					if ($5 == "krt_sock_send") h = "send"
					else if ($5 == "krt_sock_recv") h = "recv"
					else if ($5 == "krt_switch") h = "switch"
					else if ($5 == "krt_waking") h = "waking"
					else if ($5 ~ /^krt_go_/) h = "uprobe"
					hit[r, h] += $6 / n; ns[r] += $7 / n / 1000; hits[r] += $6 / n
				}
				if (!(r in rounds)) nr++
				rounds[r] = 1
			}
			function med(a,  i, n, x) {
				n = 0
				for (i in rounds) x[++n] = a[i]
				return median(x, n)
			}
			END {
				if (!nr) exit
				for (r in rounds) {
					s[r] = hit[r, "send"]; v[r] = hit[r, "recv"]; w[r] = hit[r, "switch"]
					k[r] = hit[r, "waking"]; o[r] = hit[r, "other"]; rps[r] = req[r] / dur
					u[r] = hit[r, "uprobe"]
					tot[r] = ns[r] + rd[r]; fl[r] = hits[r] * price / 1000
					# of the requests wrk made: windows see none while closed
					tr[r] = req[r] ? 100 * sa[r] / req[r] : 0
					fix[r] = rps[r] ? 1000 * idle[r] / rps[r] : 0
				}
				printf "  %-9s %-8s %7.0f %7.1f | %5.1f %5.1f %6.1f %6.1f %5.1f %6.1f | %7.1f %7.1f %7.1f %7.1f | %5.1f%% %6.1f\n",
					m, c, med(rps), med(rec), med(s), med(v), med(w), med(k), med(o),
					med(u), med(ns), med(rd), med(tot), med(fl), med(tr), med(idle)
				printf "%s %s %.3f %.3f %.3f\n", m, c, med(tot), med(fl), med(fix) >>side
			}' "$RES"
	done
done
echo "  (records = ring records; send..uprobe = program runs by hook, uprobe: Go runtime"
echo "   probes; bpf_us = their run time; reader = krtrace-bpf's CPU; total = bpf + reader;"
echo "   floor = hits x price, the kernel's cost of calling the programs, not in total (a"
echo "   uprobe's trap costs the traced service 10-35 us, not the tracepoint price: see"
echo "   bench/uprobe_cost.sh); traced = requests sampled of wrk's; per request, an idle window's"
echo "   rates subtracted; idle = the reader's CPU in that window, ms per second: the part"
echo "   of it no load changes, e.g. w10's pause and resume every cycle, is not in total)"

# Each case over full tracing: the issue's "--sample 10 <= 0.3 x full" (total), and with
# the floor, which only windowed sampling lowers (its hooks detached between windows).
if [[ " $CASES " == *" full "* ]] && [ "$(echo "$CASES" | wc -w)" -gt 1 ]; then
	echo
	echo "Over full tracing, per model (medians of the rounds): total / (total + floor) /"
	echo "(total + floor + idle: the reader's idle CPU per request at the run's rate) /"
	echo "(total + idle), the fair one without the floor: everything the tracer's own"
	echo "CPU counts on both sides (full's idle reader CPU too)"
	printf "  %-9s" model
	for c in $CASES; do [ "$c" = full ] || printf " %27s" "$c"; done
	echo
	for m in $MODELS; do
		printf "  %-9s" "$m"
		for c in $CASES; do
			[ "$c" = full ] && continue
			awk -v m="$m" -v c="$c" '$1 == m && $2 == "full" { ft = $3; ff = $3 + $4; fi = ff + $5; fe = $3 + $5 }
				$1 == m && $2 == c { t = $3; f = $3 + $4; i = f + $5; e = $3 + $5; have = 1 }
				END { if (have && ft > 0 && fe > 0)
						printf " %6.2f / %4.2f / %4.2f / %4.2f", t / ft, f / ff, i / fi, e / fe
					else printf " %27s", "-" }' "$TOTALS"
		done
		echo
	done
fi
rm -f "$TOTALS"

# Ring records by kind: where the records go.
echo
echo "Ring records per request by kind (medians of the rounds; read by the tracer)"
printf "  %-9s %-8s %7s %7s %7s %7s %8s %7s %7s %7s\n" model case switch wakeup batch xfer untagged cpu carried other
for m in $MODELS; do
	for c in $CASES; do
		awk -v m="$m" -v c="$c" "$AWK_MEDIAN"'
			$2 == c && $3 == m && $4 > 0 && $5 ~ /^kind_/ {
				if (!(($1) in rounds)) nr++
				rounds[$1] = 1
				k = substr($5, 6)
				if (k == "batched")
					next	# events split from a record, not records
				if (k == "batches")
					k = "batch"
				if (k != "switch" && k != "wakeup" && k != "batch" && k != "xfer" &&
				    k != "untagged" && k != "cpu" && k != "carried")
					k = "other"
				v[k, $1] += $6 / $4
			}
			function med(h,  i, n, x) {
				n = 0
				for (i in rounds) x[++n] = v[h, i]
				return median(x, n)
			}
			END {
				if (!nr) exit
				printf "  %-9s %-8s %7.2f %7.2f %7.2f %7.2f %8.2f %7.2f %7.2f %7.2f\n", m, c,
					med("switch"), med("wakeup"), med("batch"), med("xfer"), med("untagged"),
					med("cpu"), med("carried"), med("other")
			}' "$RES"
	done
done
echo "  (switch, wakeup: records of one each; batch: records of a CPU's batched switches and"
echo "   wake-ups; untagged: transfer records whose trace the kernel left to the engine; carried: CPU"
echo "   events inside a receive's record, not records of their own; other: fork, exit,"
echo "   socket state, notify)"

# Per hook: run time per hit (ns) and per request (µs): where the programs' time goes.
echo
echo "Per hook: ns per hit (run time / hits, medians of the rounds)"
printf "  %-9s %-8s %8s %8s %8s %8s\n" model case send recv switch waking
for m in $MODELS; do
	for c in $CASES; do
		awk -v m="$m" -v c="$c" "$AWK_MEDIAN"'
			$2 == c && $3 == m && $4 > 0 && ($5 == "krt_sock_send" || $5 == "krt_sock_recv" ||
			    $5 == "krt_switch" || $5 == "krt_waking") {
				if (!(($1) in rounds)) nr++
				rounds[$1] = 1
				v[$5, $1] = $6 > 0 ? $7 / $6 : 0
			}
			function med(h,  i, n, x) {
				n = 0
				for (i in rounds) x[++n] = v[h, i]
				return median(x, n)
			}
			END {
				if (!nr) exit
				printf "  %-9s %-8s %8.0f %8.0f %8.0f %8.0f\n", m, c, med("krt_sock_send"),
					med("krt_sock_recv"), med("krt_switch"), med("krt_waking")
			}' "$RES"
	done
done
echo "  (the idle window's hits and run time subtracted first; --debug empty-hooks (CASES=empty) gives"
echo "   what an empty program's run costs with statistics on)"
