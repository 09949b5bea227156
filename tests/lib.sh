# Helpers for shell test suites: TAP output and cleanup.
# Source it, call `check NAME COMMAND...` or `ok NAME` / `not_ok NAME MSG`.
_tap_n=0
ok() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $1"; }
not_ok() { _tap_n=$((_tap_n + 1)); echo "not ok $_tap_n - $1${2:+: $2}"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi; }
skip_suite() { echo "# SKIP $*"; exit 0; }
need_root() { [ "$(id -u)" -eq 0 ] || skip_suite "needs root (run as root to include this suite)"; }

# ---- krtrace-bpf and scratch directories in the integration suites and bench/ ----

# wait_tracing PID ERRFILE [SECONDS]: until krtrace-bpf (PID, its stderr in
# ERRFILE) says it is tracing (its programs attached); 1 if it exited first
# or did not within SECONDS (default 15).
wait_tracing() {
	local i
	for ((i = 0; i < ${3:-15} * 20; i++)); do
		grep -q ": tracing " "$2" 2>/dev/null && return 0
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	grep -q ": tracing " "$2" 2>/dev/null
}

# stop_live PID [SIGNAL]: SIGINT (as Ctrl-C) or SIGNAL, then the process's
# exit status, or 124 (killed) if it still runs a minute later: a hang is a
# failure, never a stuck suite.
stop_live() {
	local i
	kill -"${2:-INT}" "$1" 2>/dev/null
	for ((i = 0; i < 600; i++)); do
		kill -0 "$1" 2>/dev/null || { wait "$1"; return; }
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 124
}

# hung_collector PORTFILE: an OTLP collector that accepts connections and
# never reads or answers them, in the background (its PID in HUNG_PID); its
# port is in PORTFILE when this returns.
hung_collector() {
	python3 - "$1" <<'PY' &
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
while True:
    c, _ = s.accept()
    held.append(c)  # never read, never answered
PY
	HUNG_PID=$!
	local i
	for ((i = 0; i < 50; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# drop_tmp DIR: a suite's scratch directory removed, or with KRT_KEEP=PATH
# moved there (its results kept for a look).
drop_tmp() {
	if [ -n "${KRT_KEEP:-}" ]; then
		rm -rf "$KRT_KEEP" && mv "$1" "$KRT_KEEP" && echo "# results kept in $KRT_KEEP"
	fi
	rm -rf "$1"
}

# ns_on_bridge NS VETH BRIDGE ADDR/PREFIX [GATEWAY]: a network namespace NS
# whose eth0 (ADDR) is on BRIDGE through the veth pair VETH, lo up, and a
# default route via GATEWAY when given (the caller deletes NS and VETH).
ns_on_bridge() {
	ip netns add "$1" &&
		ip link add "$2" type veth peer name eth0 netns "$1" &&
		ip link set "$2" master "$3" up &&
		ip -n "$1" addr add "$4" dev eth0 &&
		ip -n "$1" link set eth0 up &&
		ip -n "$1" link set lo up &&
		{ [ -z "${5:-}" ] || ip -n "$1" route add default via "$5"; }
}

# summary_value FILE KEY: KEY's number in the summary object that ends a
# --json result FILE (not events_by_type's, which has keys of the same names)
summary_value() {
	tail -n 1 "$1" | sed 's/"events_by_type":{[^}]*}//' | grep -o "\"$2\":[0-9]*" | head -n 1 |
		cut -d: -f2
}
# marked_incomplete FILE CAUSE: how many traces of FILE say "incomplete" with CAUSE
marked_incomplete() { grep '"trace_id"' "$1" | grep -c "\"incomplete\":\[[^]]*\"$2\""; }

# bed_up DIR WHAT GROUP...: the test bed's GROUPs up (an ok line naming
# WHAT; the suite exits when they do not come up), their PIDs in
# DIR/pids.txt. Needs TB; sets STATE and GW.
bed_up() {
	local dir=$1 what=$2
	shift 2
	if ! "$TB" up "$@" >"$dir/up.log" 2>&1; then
		not_ok "test bed up ($*)" "$(tail -n 5 "$dir/up.log")"
		exit 1
	fi
	ok "test bed up ($what)"
	STATE=$("$TB" state)
	GW=$("$TB" gateway)
	"$TB" pids >"$dir/pids.txt"
}

# go_bed_up DIR: the test bed's Go services up (an ok line; the suite exits
# when they do not come up), their PIDs in DIR/pids.txt, and beside go-http in
# its container the same program without its symbol table (a Go program the
# tracer cannot inspect), listed there too. Needs TB and OUT; sets STATE, GW,
# gohttp_addr, stripped_addr and stripped_pid (the caller stops it).
go_bed_up() {
	local dir=$1
	bed_up "$dir" "go-http, go-fanout, backend, redis" go
	gohttp_addr=$("$TB" addr go-http)
	stripped_addr=${gohttp_addr%:*}:8081
	ip netns exec "${KRT_NS_PREFIX:-krt-}go-http" "$OUT/services/go-http-stripped" \
		-l "$stripped_addr" -n go-stripped -t "$STATE/truth/go-stripped.jsonl" \
		-d "http:$("$TB" addr backend)" >"$dir/stripped.log" 2>&1 </dev/null &
	stripped_pid=$!
	echo "$stripped_pid ${KRT_NS_PREFIX:-krt-}go-http ${gohttp_addr%:*} stripped" >>"$dir/pids.txt"
}

# model_runnable MODEL: its runtime is installed and its services are built
# (in $OUT), so an accuracy suite can drive it
model_runnable() {
	case $1 in
	chain) command -v nginx >/dev/null ;;
	m1 | m2 | m3 | m4) [ -x "$OUT/services/svc_pool" ] && [ -x "$OUT/services/svc_evloop" ] ;;
	thrift) [ -x "$OUT/services/thrift_front" ] && [ -x "$OUT/services/thrift_store" ] ;;
	java) [ -f "$OUT/services/java/KrtJava.class" ] && command -v java >/dev/null ;;
	asgi) /usr/bin/python3 -c 'import fastapi, uvicorn, redis' 2>/dev/null ;;
	node) command -v node >/dev/null ;;
	m5) command -v memcached >/dev/null ;;
	go-http | go-fanout) [ -x "$OUT/services/$1" ] ;;
	*) false ;;
	esac
}

# start_loopback_relay SVC LOG: a live_relay on a loopback port nobody uses,
# tried from our PID onwards; sets PORT and RELAY (its PID; empty if none
# could listen). A port that looked free may still be taken by another
# connection's local end: the relay then exits and the next one is tried; it
# is kept once live_client gets an answer through it.
start_loopback_relay() {
	local svc=$1 log=$2 i p r
	RELAY=
	PORT=
	for i in $(seq 0 50); do
		p=$((20000 + ($$ + i * 7) % 30000))
		timeout 0.3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null && continue
		"$svc/live_relay" "$p" >"$log" 2>&1 &
		r=$!
		for _ in $(seq 50); do
			kill -0 "$r" 2>/dev/null || break
			"$svc/live_client" 127.0.0.1 "$p" 1 >/dev/null 2>&1 && { PORT=$p RELAY=$r; return 0; }
			sleep 0.1
		done
		kill "$r" 2>/dev/null
		wait "$r" 2>/dev/null
	done
	return 1
}

# stop_pids PID...: the processes a suite started, stopped and reaped (a
# cleanup trap's first step; no name patterns, only our own PIDs)
stop_pids() {
	local p
	for p in "$@"; do kill "$p" 2>/dev/null; done
	for p in "$@"; do wait "$p" 2>/dev/null; done
}

# need_live_relay SVC: skips the suite unless krtrace-bpf (BIN) and the live
# relay and client services are built and the kernel has BTF
need_live_relay() {
	[ -x "$BIN" ] || skip_suite "krtrace-bpf not built"
	{ [ -x "$1/live_relay" ] && [ -x "$1/live_client" ]; } || skip_suite "live services not built"
	[ -e /sys/kernel/btf/vmlinux ] || skip_suite "kernel without BTF"
}
