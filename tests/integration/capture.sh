#!/usr/bin/env bash
# utils/krtrace-capture on a real workload (a model-1 service on loopback):
# the report has the contract's events for the traced threads only, its
# clock is CLOCK_MONOTONIC (it matches the service's own ground truth), and
# tracefs is left exactly as it was found. Also its bad-input messages and
# utils/get-all-pids without a Docker engine (a stand-in docker CLI).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
OUT=${OUTPUT:-.output}
need_root
command -v trace-cmd >/dev/null || skip_suite "trace-cmd not installed"
[ -x "$OUT/services/svc_thread" ] && [ -x "$OUT/tools/krt_load" ] || skip_suite "services not built"
T=/sys/kernel/tracing
[ -d "$T/instances" ] || skip_suite "tracefs not mounted at $T"
CAP=utils/krtrace-capture

tmp=$(mktemp -d)
svc=
cleanup() {
	[ -n "$svc" ] && kill "$svc" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# Bad input first (no tracing involved).
"$CAP" -p "$tmp/none" -o "$tmp/x" >/dev/null 2>"$tmp/err"
check "capture: missing PIDs file is an error naming it" \
	bash -c "[ $? -eq 1 ] && grep -q '$tmp/none' '$tmp/err'"
printf '1 a 1.2.3.4 h\nxyz b 1.2.3.5 h\n' >"$tmp/bad.txt"
"$CAP" -p "$tmp/bad.txt" -o "$tmp/x" -d 1 >/dev/null 2>"$tmp/err"
check "capture: bad PID line is reported with file and line" \
	bash -c "[ $? -eq 1 ] && grep -q 'bad.txt:2: bad PID' '$tmp/err'"
"$CAP" -p "$tmp/bad.txt" -o "$tmp/x" -d 1 -- true >/dev/null 2>&1
check "capture: -d and a command together are refused" test $? -ne 0

port=$((20000 + $$ % 20000))
"$OUT/services/svc_thread" -l "127.0.0.1:$port" -n cap -t "$tmp/svc.jsonl" -c 100 &
svc=$!
for _ in $(seq 1 50); do
	timeout 0.2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null && break
	sleep 0.1
done
echo "$svc cap 127.0.0.1 capturetest" >"$tmp/pids.txt"

snapshot() {
	for f in tracing_on trace_clock current_tracer buffer_size_kb set_event set_event_pid \
		options/event-fork uprobe_events; do
		printf '%s=%s\n' "$f" "$(cat "$T/$f" 2>/dev/null | tr '\n' ' ')"
	done
	find "$T/instances" -mindepth 1 -maxdepth 1 -name "krtrace-*" -printf "%f\n" | sort
}
snapshot >"$tmp/before"
"$CAP" -p "$tmp/pids.txt" -o "$tmp/cap" -- "$OUT/tools/krt_load" -s "127.0.0.1:$port" \
	-n 30 -c 2 -k 5 -t "$tmp/client.jsonl" 2>"$tmp/cap.err"
check "capture: runs the workload and exits with its status (0)" test $? -eq 0
snapshot >"$tmp/after"
check "capture: top-level tracefs settings and instances unchanged" cmp -s "$tmp/before" "$tmp/after"
R=$tmp/cap/report.txt
check "capture: report.txt written" test -s "$R"
check "capture: no CPU lines in the report" bash -c "! grep -qiE '^cpu' '$R'"
check "capture: records sched_wakeup by default (events.txt)" grep -qx sched/sched_wakeup "$tmp/cap/events.txt"
check "capture: no Go process, no goroutine events (the 18 events and sched_wakeup)" \
	bash -c "! grep -q krtgo '$tmp/cap/events.txt' && [ \$(wc -l <'$tmp/cap/events.txt') -eq 19 ]"
for ev in sched_switch sys_enter_recvfrom sys_exit_recvfrom sys_enter_sendto tcp_rcv_space_adjust \
	tcp_probe inet_sock_set_state sched_process_fork sched_wakeup; do
	check "capture: report has $ev" grep -q " $ev: " "$R"
done
check "capture: commas without spaces (import format)" bash -c "! grep -q ', ' '$R'"
# Only the service's threads are the current task of events; sched_switch and
# sched_wakeup are the exceptions (they pass the filter when either side is
# traced: a client's socket data wakes the service).
tids=$(grep -vE ' sched_(switch|wakeup): ' "$R" | sed -n 's/^ *.*-\([0-9]*\) *\[.*/\1/p' | sort -u)
foreign=0
for t in $tids; do
	[ "$t" = 0 ] && continue
	grep -qx "$t" "$tmp/cap/tids.txt" && continue
	[ -d "/proc/$svc/task/$t" ] && continue
	# threads the service created during the capture (event-fork)
	grep -q "parent_pid=[0-9]* child_comm=[^ ]* child_pid=$t\b" "$R" && continue
	foreign=$((foreign + 1))
	echo "# foreign task $t: $(grep -m1 -- "-$t  *\[" "$R")"
done
check "capture: no untraced task's events ($foreign foreign)" test "$foreign" -eq 0
# Clock: the service's CLOCK_MONOTONIC receive time of the first request lies
# within a millisecond of a tcp_rcv_space_adjust line of the report.
first_ns=$(head -n 1 "$tmp/svc.jsonl" | sed 's/.*"recv_ns":\([0-9]*\).*/\1/')
check "capture: report timestamps are CLOCK_MONOTONIC" \
	awk -v t="$first_ns" '/tcp_rcv_space_adjust/ { ts = $3; sub(":", "", ts); d = ts * 1e9 - t;
		if (d < 0) d = -d; if (d < 1e6) found = 1 } END { exit !found }' "$R"
kill "$svc"
wait "$svc" 2>/dev/null
svc=

# A capture with -d on an idle process ends after about that long.
sleep 300 &
idle=$!
echo "$idle idle 127.0.0.1 h" >"$tmp/idle.txt"
start=$(date +%s%N)
"$CAP" --original-events -p "$tmp/idle.txt" -o "$tmp/cap2" -d 1 2>/dev/null
rc=$?
el=$((($(date +%s%N) - start) / 1000000))
kill "$idle"
check "capture: -d 1 ends after ~1 s (status $rc, $el ms)" bash -c "[ $rc -eq 0 ] && [ $el -ge 900 ] && [ $el -lt 8000 ]"
check "capture: --original-events records exactly the original list (18 events, no sched_wakeup)" \
	bash -c "! grep -q sched_wakeup '$tmp/cap2/events.txt' && [ \$(wc -l <'$tmp/cap2/events.txt') -eq 18 ]"

# get-all-pids with a stand-in docker CLI: engine down, then a network.
mkdir -p "$tmp/bin"
cat >"$tmp/bin/docker" <<'EOF'
#!/bin/bash
case "$1 $2" in
"info --format") [ -n "$FAKE_DOWN" ] && { echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1; }; echo 28.2.2 ;;
"network inspect")
	[ "$3" = web_default ] || { echo "Error: No such network: $3" >&2; exit 1; }
	case "$5" in
	*IPAM*) echo "172.30.0.1 " ;;
	*) printf 'aaaa1111 web-nginx-1 172.30.0.2/16\nbbbb2222 web-app-1 172.30.0.3/16\ncccc3333 web-old-1 172.30.0.4/16\n' ;;
	esac ;;
inspect\ -f) case "$4" in aaaa1111) echo 4242 ;; bbbb2222) echo 4343 ;; *) echo 0 ;; esac ;;
*) exit 1 ;;
esac
EOF
chmod +x "$tmp/bin/docker"
FAKE_DOWN=1 DOCKER="$tmp/bin/docker" utils/get-all-pids web_default >"$tmp/gap.out" 2>"$tmp/gap.err"
check "get-all-pids: engine down -> exit 1 with a clear message" \
	bash -c "[ $? -eq 1 ] && grep -q 'cannot reach the Docker engine' '$tmp/gap.err' && [ ! -s '$tmp/gap.out' ]"
DOCKER="$tmp/bin/docker" utils/get-all-pids web_default >"$tmp/gap.out" 2>"$tmp/gap.err"
check "get-all-pids: PID name ip hash per running container" \
	bash -c "[ $? -eq 0 ] && diff <(printf '4242 web-nginx-1 172.30.0.2 aaaa1111\n4343 web-app-1 172.30.0.3 bbbb2222\n') '$tmp/gap.out' >/dev/null"
check "get-all-pids: stopped container skipped, gateway on stderr" \
	bash -c "grep -q 'web-old-1 is not running' '$tmp/gap.err' && grep -q 'gateway: 172.30.0.1' '$tmp/gap.err'"
DOCKER="$tmp/bin/docker" utils/get-all-pids nonet >/dev/null 2>"$tmp/gap.err"
check "get-all-pids: unknown network -> exit 1 naming it" \
	bash -c "[ $? -eq 1 ] && grep -q \"network 'nonet'\" '$tmp/gap.err'"
DOCKER=/nonexistent/docker utils/get-all-pids x >/dev/null 2>"$tmp/gap.err"
check "get-all-pids: no docker CLI -> exit 1 with a clear message" \
	bash -c "[ $? -eq 1 ] && grep -q 'docker CLI is not installed' '$tmp/gap.err'"
