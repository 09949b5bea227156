#!/usr/bin/env bash
# Windowed sampling (krtrace-bpf --sample N --sample-window MS) on real
# services of the test bed: the C chain (nginx -> app1 -> redis), a pool
# runtime (FastAPI/uvicorn, else the JDK HttpServer) and a Go service
# (go-http), driven together by tests/tools/krt_load and judged per request
# and per downstream call by tests/tools/krt_score --sampled.
#
# --sample 10 --sample-window 50: a cycle of 500 ms (warm-up 50, open 50,
# drain 100, closed 300), about ten windows in the five seconds the load
# takes at the least (each connection waits 20 ms between its requests).
# Asserted:
#   - windows opened: at least half of the cycles the load lasted;
#   - the share of each model's requests traced near 1 in 10 (5-20 %);
#   - every traced request exact or uncertain (wrong 0, missing 0): a
#     window's requests are traced whole, their pools' workers known from
#     the warm-up;
#   - the programs ran less than under full tracing (runs per request,
#     --bpf-stats and -v's per-program counts, a run of full tracing on
#     the same load just before): the hot hooks are detached between
#     windows (at most 0.8 of full's runs; about 0.4 expected: 200 ms
#     attached of 500);
#   - -d, and SIGTERM while the hooks are detached (CLOSED), end the run
#     cleanly: exit 0, the summary written, every trace out;
#   - --sample-rate still caps inside the windows.
#
# Environment: KRT_WINDOW_MODELS ("chain asgi go-http"; java replaces asgi
# when FastAPI is not installed), KRT_WINDOW_REQUESTS (per model, 500), and
# the test bed's KRT_BRIDGE, KRT_NET, ... (utils/testbed).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
OUT=${OUTPUT:-.output}
TB=utils/testbed
LOAD=$OUT/tools/krt_load
SCORE=$OUT/tools/krt_score
BPF=$OUT/bin/krtrace-bpf
need_root
for b in "$LOAD" "$SCORE" "$BPF"; do
	[ -x "$b" ] || skip_suite "$b not built"
done
ip link show "${KRT_BRIDGE:-krtbr0}" >/dev/null 2>&1 &&
	skip_suite "the test bed is in use (bridge ${KRT_BRIDGE:-krtbr0} exists); run utils/testbed down"
"$BPF" --help 2>/dev/null | grep -q -- --sample-window || skip_suite "krtrace-bpf has no --sample-window"

N=10 MS=50
REQ=${KRT_WINDOW_REQUESTS:-500}
GAP_US=20000
declare -A GROUP=([chain]=chain [asgi]=asgi [java]=java [go-http]=go)
declare -A ENTRY=([chain]=nginx [asgi]=asgi [java]=java [go-http]=go-http)
wanted=${KRT_WINDOW_MODELS:-chain asgi go-http}
/usr/bin/python3 -c 'import fastapi, uvicorn, redis' 2>/dev/null ||
	wanted=${wanted/asgi/java}
models=() groups=()
for m in $wanted; do
	[ -n "${GROUP[$m]:-}" ] || { not_ok "model '$m' known (${!GROUP[*]})"; exit 1; }
	if model_runnable "$m"; then
		models+=("$m")
		groups+=("${GROUP[$m]}")
	else
		echo "# $m: runtime not installed or not built, not measured"
	fi
done
[ ${#models[@]} -gt 0 ] || skip_suite "none of the models ($wanted) can run here"

tmp=$(mktemp -d)
bpf_pid= load_pids=()
cleanup() {
	[ -n "$bpf_pid" ] && stop_live "$bpf_pid"
	stop_pids "${load_pids[@]}"
	"$TB" down >/dev/null 2>&1
	drop_tmp "$tmp"
}
trap cleanup EXIT

bed_up "$tmp" "${groups[*]}" "${groups[@]}"

# start_live NAME ARGS...: krtrace-bpf on the test bed, -v --bpf-stats, JSON into NAME.jsonl
start_live() {
	local name=$1
	shift
	"$BPF" --gateway "$GW" -i "$tmp/pids.txt" --json -o "$tmp/$name.jsonl" -v --bpf-stats \
		"$@" 2>"$tmp/$name.err" &
	bpf_pid=$!
	wait_tracing "$bpf_pid" "$tmp/$name.err" 30 && return 0
	not_ok "$name: krtrace-bpf started" "$(tail -n 3 "$tmp/$name.err")"
	exit 1
}

# load RUN [REQUESTS]: every model at once, 2 connections each with a gap
# between requests (the load lasts long enough for many windows), in the
# background (load_pids), client truth in RUN-MODEL.jsonl
load() {
	local m
	load_pids=()
	for m in "${models[@]}"; do
		"$LOAD" -s "$("$TB" addr "${ENTRY[$m]}")" -n "${2:-$REQ}" -c 2 -k 10 -g "$GAP_US" \
			-p "$1-$m-" -t "$tmp/client-$1-$m.jsonl" >>"$tmp/load-$1.out" 2>&1 &
		load_pids+=($!)
	done
}
load_wait() { # -> 0 when every request was answered
	local p rc=0
	for p in "${load_pids[@]}"; do wait "$p" || rc=1; done
	load_pids=()
	return $rc
}

# hits NAME -> program runs over the run (-v's list at exit; --bpf-stats counted them)
hits() { sed -n '/BPF programs/,$p' "$tmp/$1.err" | awk '/ runs / {r += $2} END {print r + 0}'; }

# run 1: full tracing, the runs' reference
start_live full
load f
check "full: every request answered" load_wait
sleep 0.3
stop_live "$bpf_pid"
bpf_pid=
# run 2: windows, the same load
start_live window --sample "$N" --sample-window "$MS"
t0=$(date +%s%N)
load w
check "window: every request answered" load_wait
t1=$(date +%s%N)
sleep 0.3
stop_live "$bpf_pid"
rc=$?
bpf_pid=
check "window: krtrace-bpf exit 0 (status $rc)" test "$rc" -eq 0
sed -n '/: sampling /p' "$tmp/window.err" | sed 's/^/# /'

windows=$(summary_value "$tmp/window.jsonl" sample_windows)
open_ns=$(summary_value "$tmp/window.jsonl" sample_open_ns)
run_ns=$(summary_value "$tmp/window.jsonl" sample_run_ns)
cycles=$(((t1 - t0) / (N * MS * 1000000)))
check "windows opened: ${windows:-none}, at least half of the $cycles cycles the load lasted" \
	test "${windows:-0}" -ge $((cycles / 2)) -a "$cycles" -ge 4
check "summary: open ${open_ns:-?} ns of a run of ${run_ns:-?} ns, 5-20 %" \
	awk -v o="${open_ns:-0}" -v r="${run_ns:-0}" 'BEGIN { exit !(r > 0 && o >= 0.05 * r && o <= 0.2 * r) }'
check "stderr: the windows opened and the time open said" \
	grep -qE ": sampling windows: ${windows:-x} opened, open [0-9.]+ s of [0-9.]+ s" "$tmp/window.err"
check "-v: each phase change logged (${windows:-x} opens)" \
	test "$(grep -c ': window [0-9]*: open at ' "$tmp/window.err")" -eq "${windows:--1}"
closes=$(grep -c ': window [0-9]*: closed at ' "$tmp/window.err")
check "the engine's pauses ($(summary_value "$tmp/window.jsonl" pauses)) are the windows closed ($closes)" \
	test "$(summary_value "$tmp/window.jsonl" pauses)" = "$closes" -a "$closes" -gt 0
read -r pause_ms resume_ms < <(sed -n 's/.*a pause took at most \([0-9.]*\) ms, a resume \([0-9.]*\) ms.*/\1 \2/p' \
	"$tmp/window.err")
check "-v: the longest pause (${pause_ms:-?} ms) and resume (${resume_ms:-?} ms) said" \
	awk -v p="${pause_ms:-0}" -v r="${resume_ms:-0}" 'BEGIN { exit !(p > 0 && r > 0) }'
# Closed, the reader sleeps to the cycle's end (only fork and exit records
# come): not a poll every 50 ms (6 in a closed phase of 300 ms).
closed_polls=$(sed -n 's/.*closed (\([0-9]*\) polls).*/\1/p' "$tmp/window.err")
check "-v: the reader's polls while closed (${closed_polls:-?}), at most 3 a closed phase ($closes)" \
	test -n "$closed_polls" -a "${closed_polls:-99}" -le $((3 * closes))

mkdir -p "$tmp/truth"
cp "$STATE"/truth/*.jsonl "$tmp/truth/"
for m in "${models[@]}"; do
	read -r n ex wr mi un sh < <("$SCORE" --truth "$tmp/truth" --truth "$tmp/client-w-$m.jsonl" \
		--json "$tmp/window.jsonl" --prefix "w-$m-" --model "$m" --path window \
		--slack-us 200 --sampled -v 2>"$tmp/window.$m.why" |
		awk -v m="$m" '$1 == m { print $3, $4, $5, $6, $8, $12 }')
	if [ -z "${n:-}" ] || [ "$n" -eq 0 ]; then
		not_ok "$m: traced requests judged"
		continue
	fi
	check "$m: $sh % of the requests traced, 5-20 % (1 in $N)" \
		awk -v s="$sh" 'BEGIN { exit !(s >= 5 && s <= 20) }'
	check "$m: $n traced, $ex exact, $un uncertain, $wr wrong, $mi missing: none wrong or missing" \
		test "$wr" -eq 0 -a "$mi" -eq 0
	if [ "$wr" -gt 0 ] || [ "$mi" -gt 0 ]; then
		awk '/^[^ ]/ { show = / (wrong|missing) \(/ } show' "$tmp/window.$m.why" |
			head -n 16 | sed "s/^/# why: $m: /"
	fi
done

full_req=$(cat "$tmp"/client-f-*.jsonl | grep -c '"client"')
win_req=$(cat "$tmp"/client-w-*.jsonl | grep -c '"client"')
full_hits=$(hits full) win_hits=$(hits window)
read -r full_per win_per ratio < <(awk -v a="$full_hits" -v n="$full_req" -v b="$win_hits" \
	-v m="$win_req" 'BEGIN { x = n ? a / n : 0; y = m ? b / m : 0
		printf "%.1f %.1f %.2f\n", x, y, x ? y / x : 1 }')
check "programs' runs per request: windows $win_per, full $full_per ($ratio), at most 0.8 of full" \
	awk -v r="$ratio" -v f="$full_per" 'BEGIN { exit !(f > 0 && r <= 0.8) }'

# The end of a run while the hooks are detached, and in a window: clean,
# every trace out. A background load keeps requests coming.
load e 100000
# SIGTERM after the second window closed (CLOSED lasts 300 ms: still closed)
start_live closed --sample "$N" --sample-window "$MS"
for ((i = 0; i < 300; i++)); do
	grep -q ': window 2: closed at ' "$tmp/closed.err" && break
	kill -0 "$bpf_pid" 2>/dev/null || break
	sleep 0.02
done
stop_live "$bpf_pid" TERM
rc=$?
bpf_pid=
last=$(grep -o ': window [0-9]*: [a-z-]* at' "$tmp/closed.err" | tail -n 1)
check "SIGTERM while closed (last phase '${last#: }'): exit 0 (status $rc)" test "$rc" -eq 0
traces=$(grep -c '"trace_id"' "$tmp/closed.jsonl")
check "SIGTERM while closed: summary written, its $(summary_value "$tmp/closed.jsonl" traces) traces all out ($traces)" \
	test "$(summary_value "$tmp/closed.jsonl" traces)" = "$traces" -a "$traces" -gt 0
# -d 1.08: the third window is open then (1.05-1.10 s from the start)
"$BPF" --gateway "$GW" -i "$tmp/pids.txt" --json -o "$tmp/dur.jsonl" -v -d 1.08 \
	--sample "$N" --sample-window "$MS" 2>"$tmp/dur.err"
rc=$?
last=$(grep -o ': window [0-9]*: [a-z-]* at' "$tmp/dur.err" | tail -n 1)
check "-d in a window (last phase '${last#: }'): exit 0 (status $rc)" test "$rc" -eq 0
traces=$(grep -c '"trace_id"' "$tmp/dur.jsonl")
check "-d: summary written, its $(summary_value "$tmp/dur.jsonl" traces) traces all out ($traces)" \
	test "$(summary_value "$tmp/dur.jsonl" traces)" = "$traces" -a "$traces" -gt 0
# -d 0.8: the second cycle is closed then (0.7-1.0 s); its sleep ends at the deadline
"$BPF" --gateway "$GW" -i "$tmp/pids.txt" --json -o "$tmp/dur2.jsonl" -v -d 0.8 \
	--sample "$N" --sample-window "$MS" 2>"$tmp/dur2.err"
rc=$?
last=$(grep -o ': window [0-9]*: [a-z-]* at' "$tmp/dur2.err" | tail -n 1)
run_ns=$(summary_value "$tmp/dur2.jsonl" sample_run_ns)
check "-d 0.8 while closed (last phase '${last#: }'): exit $rc, the run ${run_ns:-?} ns, ended on time (< 0.87 s)" \
	test "$rc" -eq 0 -a "${run_ns:-0}" -gt 700000000 -a "${run_ns:-999999999}" -lt 870000000
# --sample-rate still caps inside the windows: 10 a second of the ~30 the windows open to
"$BPF" --gateway "$GW" -i "$tmp/pids.txt" --json -o "$tmp/cap.jsonl" -d 2 --sample "$N" \
	--sample-window "$MS" --sample-rate 10 2>"$tmp/cap.err"
rc=$?
traces=$(grep -c '"trace_id"' "$tmp/cap.jsonl")
capped=$(summary_value "$tmp/cap.jsonl" traces_capped)
check "--sample-rate 10 in windows: exit $rc, $traces traces (at most 40: the 4 seconds a 2 s run may touch), ${capped:-?} capped" \
	test "$rc" -eq 0 -a "$traces" -gt 0 -a "$traces" -le 40 -a "${capped:-0}" -gt 0
stop_pids "${load_pids[@]}"
load_pids=()
