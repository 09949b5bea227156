#!/usr/bin/env bash
# The hook profile (make HOOK_PROFILE=1, bench/hook_profile.sh): a profiled
# krtrace-bpf is built into its own output directory, traces a relay in the
# root network namespace (loopback as the gateway, no test bed, no fixed
# names), and its counter blocks time every segment of the transfer path;
# the default build prints no profile.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
OUT=${OUTPUT:-.output}
POUT=$OUT/hook-profile
BIN=$POUT/bin/krtrace-bpf
SVC=$OUT/services
N=40

need_root
BIN=$OUT/bin/krtrace-bpf need_live_relay "$SVC"

TMP=$(mktemp -d)
PIDS=()
cleanup() {
	stop_pids "${PIDS[@]+"${PIDS[@]}"}"
	rm -rf "$TMP"
}
trap cleanup EXIT

make -s --no-print-directory -j"$(nproc)" HOOK_PROFILE=1 OUTPUT="$POUT" "$BIN" >"$TMP/make.log" 2>&1
check "make HOOK_PROFILE=1 builds krtrace-bpf" [ -x "$BIN" ] || {
	sed 's/^/#   /' "$TMP/make.log" | tail -20
	exit 0
}

# The relay on a loopback port nobody uses (tests/lib.sh).
start_loopback_relay "$SVC" "$TMP/relay.log"
[ -n "$RELAY" ] || skip_suite "no port found the relay could listen on ($(head -c 200 "$TMP/relay.log"))"
PIDS+=("$RELAY")
echo "$RELAY relay 127.0.0.1 relay" >"$TMP/pids"

# run BINARY ERRFILE: the tracer, a counter block, N requests, a second block
run() {
	local i
	"$1" -g 127.0.0.1 -i "$TMP/pids" -o /dev/null 2>"$2" &
	TRACER=$!
	PIDS+=("$TRACER")
	wait_tracing "$TRACER" "$2" || return 1
	for n in 1 2; do
		[ $n = 2 ] && "$SVC/live_client" 127.0.0.1 "$PORT" $N 1 >/dev/null 2>&1
		kill -USR1 "$TRACER"
		for i in $(seq 200); do
			grep -q "counters $n end" "$2" && break
			sleep 0.05
		done
	done
	stop_live "$TRACER"
}
# seg ERRFILE SEGMENT hits|ns: its growth between the two blocks
seg() {
	awk -v s="$2" -v w="$3" '$2 == "counters" && $4 == "profile" && $5 == s {
		v[$3] = w == "hits" ? $7 : $9 } END { print v[2] - v[1] }' "$1"
}

run "$BIN" "$TMP/p.err"
check "the profiled build traces and prints two counter blocks" grep -q "counters 2 end" "$TMP/p.err" ||
	sed 's/^/#   /' "$TMP/p.err" | head -20
for s in send_sock send_tag send_dir send_store recv_sock recv_dir recv_tag recv_record; do
	h=$(seg "$TMP/p.err" $s hits)
	ns=$(seg "$TMP/p.err" $s ns)
	# each request: the relay's read of it and its reply (no record is merged:
	# the gateway's side is untraced)
	check "segment $s timed for $N requests ($h hits, $ns ns)" [ "$h" -ge $N -a "$ns" -gt 0 ]
done
h=$(seg "$TMP/p.err" calib hits)
ns=$(seg "$TMP/p.err" calib ns)
check "a mark's price measured (calib: $h hits, $ns ns)" \
	[ "$h" -ge $N -a "$ns" -gt 0 -a "$ns" -lt $((h * 100000)) ]
run "$OUT/bin/krtrace-bpf" "$TMP/d.err"
check "the default build prints counters but no profile" \
	eval 'grep -q "counters 2 end" "$TMP/d.err" && ! grep -q " profile " "$TMP/d.err"'
