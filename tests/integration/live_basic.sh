#!/usr/bin/env bash
# Live path end to end: two "containers" (network namespaces on a bridge
# whose address is the gateway), a two-tier relay chain, krtrace-bpf with
# container discovery (no PIDs file) traced during a run of counted requests
# from the root namespace (= from the gateway). Asserts every request's flow.
#
# Own names (no clash with utils/testbed): bridge krtlb0, 10.213.0.0/24,
# namespaces krtlive-front / krtlive-back.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
OUT=${OUTPUT:-.output}
BIN=$OUT/bin/krtrace-bpf
SVC=$OUT/services
BR=krtlb0
NET=10.213.0
GW=$NET.1
NS_FRONT=krtlive-front
NS_BACK=krtlive-back
N_SINGLE=20	# requests, one connection each
N_KEEP=20	# requests, 5 per keep-alive connection

need_root
[ -x "$BIN" ] || skip_suite "krtrace-bpf not built"
[ -x "$SVC/live_relay" ] && [ -x "$SVC/live_client" ] || skip_suite "live services not built"
command -v jq >/dev/null || skip_suite "jq not installed"
[ -e /sys/kernel/btf/vmlinux ] || skip_suite "kernel without BTF"
for ns in $NS_FRONT $NS_BACK; do
	ip netns list | grep -qw "^$ns" && skip_suite "namespace $ns exists (another run?)"
done
ip link show $BR >/dev/null 2>&1 && skip_suite "bridge $BR exists (another run?)"

TMP=$(mktemp -d)
PIDS=()
cleanup() {
	stop_pids "${PIDS[@]+"${PIDS[@]}"}"
	ip link del krtlv2 2>/dev/null
	ip link del krtlv3 2>/dev/null
	ip netns del $NS_FRONT 2>/dev/null
	ip netns del $NS_BACK 2>/dev/null
	ip link del $BR 2>/dev/null
	drop_tmp "$TMP"
}
trap cleanup EXIT

ip link add $BR type bridge && ip addr add $GW/24 dev $BR && ip link set $BR up || {
	not_ok "bridge setup"; exit 1; }
setup_ns() { ns_on_bridge "$1" krtlv$2 $BR $NET.$2/24 $GW; } # NS HOSTNUM
for i in 2 3; do ip link show krtlv$i >/dev/null 2>&1 && skip_suite "link krtlv$i exists (another run?)"; done
setup_ns $NS_FRONT 2 && setup_ns $NS_BACK 3 || { not_ok "namespace setup"; exit 1; }

ip netns exec $NS_BACK "$SVC/live_relay" 9090 &
PIDS+=($!)
ip netns exec $NS_FRONT "$SVC/live_relay" 8080 $NET.3:9090 &
PIDS+=($!)
for _ in $(seq 50); do
	"$SVC/live_client" $NET.2 8080 1 >/dev/null 2>&1 && break
	sleep 0.1
done
FRONT_PID=${PIDS[1]} BACK_PID=${PIDS[0]}

# Discovery alone: both relays, named after their ip netns names.
"$BIN" --gateway $GW --list-containers >"$TMP/containers" 2>"$TMP/containers.err"
check "list-containers exits 0" [ $? -eq 0 ]
check "discovery finds the front relay" grep -qE "^$FRONT_PID +$NS_FRONT +$NET.2 " "$TMP/containers"
check "discovery finds the back relay" grep -qE "^$BACK_PID +$NS_BACK +$NET.3 " "$TMP/containers"

# start_tracer ERRFILE OPTIONS...: krtrace-bpf in the background ($TRACER),
# returning once its programs are attached ("tracing" on stderr).
start_tracer() {
	local err=$1
	shift
	"$BIN" --gateway $GW "$@" 2>"$err" &
	TRACER=$!
	PIDS+=($TRACER)
	wait_tracing "$TRACER" "$err"
}

start_tracer "$TMP/live.err" -d 6 --json -o "$TMP/live.jsonl"
"$SVC/live_client" $NET.2 8080 $N_SINGLE 1 >"$TMP/client1" 2>&1
check "client: every single-connection request answered" [ $? -eq 0 ]
"$SVC/live_client" $NET.2 8080 $N_KEEP 5 >"$TMP/client2" 2>&1
check "client: every keep-alive request answered" [ $? -eq 0 ]
wait $TRACER
check "krtrace-bpf exits 0 after -d" [ $? -eq 0 ]

J=$TMP/live.jsonl
TOTAL=$((N_SINGLE + N_KEEP))
traces=$(jq -s "[.[] | select(.trace_id != null and (.ingress.client | startswith(\"$GW:\")))] | length" "$J" 2>/dev/null)
check "one trace per request ($traces of $TOTAL)" [ "${traces:-0}" -eq $TOTAL ]

# Each request: gateway -> front -> back -> front -> gateway, 4 hops between
# two traced threads (one per tier), with the request's own byte counts.
# Edges, not positions: hops are listed by send time, and a send is stamped
# once it returns, when its receiver may have answered already (the back's
# reply can be listed after the front's).
exact=$(jq -s --arg gw "$GW:" --argjson fp "$FRONT_PID" --argjson bp "$BACK_PID" '
	[.[] | select(.trace_id != null) | . as $t
	 | ($t.threads | map(select(.pid == $fp)) | .[0].tid) as $f
	 | ($t.threads | map(select(.pid == $bp)) | .[0].tid) as $b
	 | select($f != null and $b != null)
	 | select(($t.hops | length) == 4)
	 | ([$t.hops[] | select(.from == 0 and (.from_addr | startswith($gw)) and .to == $f)] | .[0]) as $in
	 | ([$t.hops[] | select(.from == $f and .to == $b)] | .[0]) as $call
	 | select($in != null and $call != null)
	 | select(any($t.hops[]; .from == $b and .to == $f))
	 | select(any($t.hops[]; .from == $f and .to == 0 and (.to_addr | startswith($gw))))
	 | select($in.bytes == $call.bytes)
	] | length' "$J" 2>/dev/null)
check "every request's flow exact ($exact of $TOTAL)" [ "${exact:-0}" -eq $TOTAL ]

cpu_ok=$(jq -s '[.[] | select(.trace_id != null) | select(all(.threads[]; .cpu_ns > 0))] | length' "$J" 2>/dev/null)
check "on-CPU time > 0 for every thread of every trace ($cpu_ok of $TOTAL)" [ "${cpu_ok:-0}" -eq $TOTAL ]

lost=$(jq -s '[.[] | select(.summary != null) | .summary.lost // .summary.lost_events // 0] | .[0] // -1' "$J" 2>/dev/null)
check "summary present, nothing lost (lost=$lost)" [ "${lost:--1}" -eq 0 ]
check "no WARNING on stderr" bash -c "! grep -q WARNING '$TMP/live.err'"
grep WARNING "$TMP/live.err" | sed 's/^/#   /' # which one, if any

# Sampling and in-kernel CPU time: one request in 2 kept at the door, the
# rest leave no record; the kept ones are complete, with CPU from the kernel.
start_tracer "$TMP/sampled.err" -d 5 --sample 2 --json -o "$TMP/sampled.jsonl"
"$SVC/live_client" $NET.2 8080 $N_SINGLE 1 >/dev/null 2>&1
check "client under sampling: every request answered" [ $? -eq 0 ]
wait $TRACER
check "krtrace-bpf --sample 2 exits 0" [ $? -eq 0 ]
S=$TMP/sampled.jsonl
half=$((N_SINGLE / 2))
straces=$(jq -s '[.[] | select(.trace_id != null)] | length' "$S" 2>/dev/null)
check "sampling keeps one request in 2 ($straces of $N_SINGLE)" [ "${straces:-0}" -eq $half ]
sexact=$(jq -s '[.[] | select(.trace_id != null) | select((.hops | length) == 4)
	| select((.threads | length) == 2)] | length' "$S" 2>/dev/null)
check "sampled requests complete ($sexact of $half)" [ "${sexact:-0}" -eq $half ]
scpu=$(jq -s '[.[] | select(.trace_id != null) | select(all(.threads[]; .cpu_ns > 0))] | length' "$S" 2>/dev/null)
check "sampled requests carry CPU time from the kernel ($scpu of $half)" [ "${scpu:-0}" -eq $half ]
[ "${scpu:-0}" -eq $half ] || jq -c 'select(.trace_id != null) | {hops: [.hops[] | [.from, .to, .bytes]],
	threads: [.threads[] | [.tid, .pid, .cpu_ns]]}' "$S" | sed 's/^/#   /'
switches=$(jq -s '[.[] | select(.summary != null) | .summary.events_by_type.switch] | .[0] // -1' "$S" 2>/dev/null)
cpurecs=$(jq -s '[.[] | select(.summary != null) | .summary.events_by_type.cpu] | .[0] // 0' "$S" 2>/dev/null)
# CPU is summed in the kernel: CPU records, and switch records only around a
# thread whose trace is unsure for a moment (a receive that ran before its
# sender's tag was stored), never one per context switch.
check "CPU records, not a switch record per context switch (switch=$switches cpu=$cpurecs)" \
	test "${switches:--1}" -ge 0 -a "${cpurecs:-0}" -gt 0 -a "${switches:--1}" -lt "${cpurecs:-0}"
check "sampling reported on stderr" grep -q "sampling 1 in 2: $half of $N_SINGLE requests traced" "$TMP/sampled.err"

# The other modes: --rules (no kernel tagging, the engine decides from
# every transfer and switch), --debug check-tags (both, disagreements counted) and
# --syscall-hooks (the default mode with transfers read at syscall exit: the
# fallback for kernels without the socket tracepoints, forced here).
other_mode() { # NAME FLAGS...
	local name=$1 out="$TMP/$1.jsonl" t n ex dis
	shift
	start_tracer "$TMP/$name.err" -d 4 --json -o "$out" "$@"
	"$SVC/live_client" $NET.2 8080 $N_SINGLE 1 >/dev/null 2>&1
	wait $TRACER
	check "krtrace-bpf $* exits 0" [ $? -eq 0 ]
	n=$(jq -s '[.[] | select(.trace_id != null)] | length' "$out" 2>/dev/null)
	# the same edges as above (in any order: see there)
	ex=$(jq -s '[.[] | select(.trace_id != null) | . as $t | select((.hops | length) == 4)
		| ([.hops[] | select(.from == 0)] | .[0].to) as $f
		| ([.hops[] | select(.from == $f and .to != 0)] | .[0].to) as $b
		| select($f != null and $f != 0 and $b != null and $b != $f)
		| select(any($t.hops[]; .from == $b and .to == $f))
		| select(any($t.hops[]; .from == $f and .to == 0))
		| select(all(.threads[]; .cpu_ns > 0))] | length' "$out" 2>/dev/null)
	check "$*: every request traced with its flow and CPU time ($ex exact of $n, $N_SINGLE sent)" \
		test "${n:-0}" -eq $N_SINGLE -a "${ex:-0}" -eq $N_SINGLE
	if [ "$name" = check ]; then
		dis=$(jq -s '[.[] | select(.summary != null) | .summary.kernel_tag_disagreements] | .[0] // -1' "$out" 2>/dev/null)
		# receives whose record came before their send's (no merged hops
		# here: the send is stamped when its hook returns): checked when
		# the send came (about one run in eight has one; before, counted
		# a disagreement, this check failed those runs)
		late=$(jq -s '[.[] | select(.summary != null) | .summary.kernel_tag_late_checks // 0] | .[0] // 0' "$out" 2>/dev/null)
		check "--debug check-tags: the rules agree with the kernel's tags (disagreements $dis; $late receive(s) before their send, checked at it)" \
			[ "${dis:--1}" -eq 0 ]
		# -V: which transfers, and what came before them
		[ "${dis:--1}" -eq 0 ] || grep -B8 "TAGS DISAGREE" "$TMP/$name.err" | head -60 | sed 's/^/#   /'
	fi
}
other_mode rules --rules
other_mode check --debug check-tags -V # -V: the decisions, shown if they disagree
other_mode syscalls --syscall-hooks
check "--syscall-hooks: the fallback is announced" grep -q "transfers read at syscall exit" "$TMP/syscalls.err"

# Text on standard output (a file here: not a terminal) is fully buffered
# (256 KiB, cli_common.c) and flushed every second: a trace ends, lingers
# 5 s of event time in the engine (requests keep coming), and is in the
# file while the tracer still runs (with stdio's 4 KiB buffer a few traces
# waited there until the end).
start_tracer "$TMP/stdout.err" -d 15 >"$TMP/stdout.txt"
sent=0
for _ in $(seq 40); do
	"$SVC/live_client" $NET.2 8080 1 1 >/dev/null 2>&1 && sent=$((sent + 1))
	grep -q '^trace ' "$TMP/stdout.txt" && break
	sleep 0.3
done
check "text on stdout (a file) written while tracing (after $sent requests)" \
	bash -c "grep -q '^trace ' '$TMP/stdout.txt' && kill -0 $TRACER"
wait $TRACER
check "krtrace-bpf exits 0, stdout to a file" [ $? -eq 0 ]
check "every trace on stdout at the end ($sent requests)" \
	test "$(grep -c '^trace ' "$TMP/stdout.txt")" -eq $sent

if [ "${traces:-0}" -ne $TOTAL ] || [ "${exact:-0}" -ne $TOTAL ]; then
	echo "# stderr of krtrace-bpf:"; sed 's/^/#   /' "$TMP/live.err" | tail -20
	echo "# first traces:"; head -c 3000 "$J" | sed 's/^/#   /'
fi

