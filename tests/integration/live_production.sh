#!/usr/bin/env bash
# Production days on the live path (issue 17), on the test bed's chain
# (nginx -> app1 -> redis): containers that come and go while krtrace-bpf
# runs (a restarted redis, an exec into a traced namespace, a new namespace
# on the gateway's subnet), SIGHUP (re-read the PIDs file, or end the run
# with the full result), a hung OTLP collector under load, a wrong gateway.
#
# Honours the test bed's KRT_* environment (bridge, subnet, prefixes,
# state directory), so it can run beside other suites on their own names.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
OUT=${OUTPUT:-.output}
BPF=$OUT/bin/krtrace-bpf
LOAD=$OUT/tools/krt_load
SCORE=$OUT/tools/krt_score
TB=utils/testbed

need_root
[ -x "$BPF" ] && [ -x "$LOAD" ] && [ -x "$SCORE" ] || skip_suite "krtrace-bpf or test tools not built"
[ -e /sys/kernel/btf/vmlinux ] || skip_suite "kernel without BTF"
command -v redis-server >/dev/null && command -v nginx >/dev/null ||
	skip_suite "redis-server or nginx not installed"
NS_PREFIX=${KRT_NS_PREFIX:-krt-}
BRIDGE=${KRT_BRIDGE:-krtbr0}
ip netns list | grep -q "^${NS_PREFIX}nginx\b" && skip_suite "test bed ${NS_PREFIX}* is up (another run?)"

tmp=$(mktemp -d)
bpf_pid= hang_pid= extra_pids=() new_ns=${NS_PREFIX}extra new_veth=${KRT_VETH_PREFIX:-kv}x50
cleanup() {
	local p
	[ -n "$bpf_pid" ] && stop_live "$bpf_pid"
	[ -n "$hang_pid" ] && kill "$hang_pid" 2>/dev/null
	for p in "${extra_pids[@]+"${extra_pids[@]}"}"; do kill "$p" 2>/dev/null; done
	ip link del "$new_veth" 2>/dev/null
	ip netns del "$new_ns" 2>/dev/null
	"$TB" down >/dev/null 2>&1
	drop_tmp "$tmp"
}
trap cleanup EXIT

if ! "$TB" up chain >"$tmp/up.log" 2>&1; then
	not_ok "test bed up" "$(tail -n 5 "$tmp/up.log")"
	exit 1
fi
STATE=$("$TB" state)
GW=$("$TB" gateway)
NET=${GW%.0.1}
NGINX=$("$TB" addr nginx)

# start_tracer LOG ARGS...: krtrace-bpf in the background until it traces.
start_tracer() {
	local log=$1
	shift
	"$BPF" -g "$GW" "$@" 2>"$log" &
	bpf_pid=$!
	wait_tracing "$bpf_pid" "$log"
}
stop_tracer() { # SIGNAL: the tracer's exit status in $rc
	stop_live "$bpf_pid" "$1"
	rc=$?
	bpf_pid=
}
# waits until FILE holds PATTERN; prints the seconds waited
wait_for() { # FILE PATTERN TIMEOUT_S
	local start end
	start=$(date +%s%N)
	for _ in $(seq $(($3 * 50))); do
		grep -q -- "$2" "$1" && break
		sleep 0.02
	done
	end=$(date +%s%N)
	grep -q -- "$2" "$1" || { echo 99; return 1; }
	awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'
}
redis_pid() { awk '$2 == "redis" { p = $1 } END { print p }' "$STATE/procs"; }

# ---- a restarted service: followed within 1 s, its requests exact ----
start_tracer "$tmp/follow.err" --json -o "$tmp/follow.jsonl"
check "krtrace-bpf started with container discovery" test -n "$bpf_pid"
"$LOAD" -s "$NGINX" -n 40 -c 2 -k 10 -p before- -t "$tmp/client-before.jsonl" >/dev/null 2>&1
old=$(redis_pid)
kill "$old"
for _ in $(seq 50); do [ -d "/proc/$old" ] || break; sleep 0.05; done
"$TB" up chain >>"$tmp/up.log" 2>&1
new=$(redis_pid)
# Within a few re-scans (every 0.5 s): 0.01-0.25 s on a quiet machine, up to
# 1.75 s with every core busy (a 1 s bound failed there); a process the
# re-scans miss is never traced (99 s).
FOLLOW_S=3
took=$(wait_for "$tmp/follow.err" "now tracing PID $new " 6)
check "restarted redis (PID $old -> $new) traced within $FOLLOW_S s (${took} s)" \
	awk -v t="$took" -v b=$FOLLOW_S 'BEGIN { exit !(t < b) }'
# Each app1 thread held a connection to the old redis: the first request on
# each of nginx's idle upstream connections (up to 16 per worker) meets it
# broken, app1 closes, nginx sends the request again elsewhere (a real
# detour the trace shows, which the services' truth does not log). Cycle
# through them before the requests that are scored: batches of 200 until
# one made no detour (nginx's log names one upstream address a request, two
# or more for a detour) and reached every nginx worker (each keeps its own
# idle connections, LIFO: a worker no request reached keeps its broken ones).
# nginx retries a broken cached connection on the next one, so the first
# requests of each worker take them all: the first batch makes the detours
# (1-3 here, all among its first 10 requests), the second shows none is
# left (2 batches in each of 14 runs). A detour among the scored requests
# was the likeliest cause of a CI failure here (one "after" request
# uncertain and not right), though none was seen again in 6 runs of this
# suite and 40 restarts in a loop: a failure now names the request, why,
# and nginx's line for it.
nginx_workers=$(pgrep -c -P "$(cat "$STATE/nginx/nginx.pid" 2>/dev/null)" 2>/dev/null)
[ -n "$nginx_workers" ] && [ "$nginx_workers" -gt 0 ] || nginx_workers=1
for b in 1 2 3 4 5; do
	"$LOAD" -s "$NGINX" -n 200 -c 8 -k 1 -p "warm$b-" >/dev/null 2>&1
	grep "\"id\":\"warm$b-" "$STATE/truth/nginx.jsonl" >"$tmp/warm$b.jsonl"
	detours=$(grep -c '"upstream":"[^"]*,' "$tmp/warm$b.jsonl")
	reached=$(grep -o '"pid":[0-9]*' "$tmp/warm$b.jsonl" | sort -u | wc -l)
	[ "$detours" -eq 0 ] && [ "$reached" -ge "$nginx_workers" ] && break
done
echo "# warm-up after the restart: $b batch(es) of 200 (the last: $detours detour(s), $reached of $nginx_workers workers)"
"$LOAD" -s "$NGINX" -n 60 -c 2 -k 10 -p after- -t "$tmp/client-after.jsonl" >/dev/null 2>&1

# an exec into a traced namespace, outside the traced process tree
ip netns exec "${NS_PREFIX}redis" sleep 30 &
extra_pids+=($!)
# its own PID: the restarted redis's line names the same namespace
took=$(wait_for "$tmp/follow.err" "now tracing PID $! of ${NS_PREFIX}redis" 6)
check "a process exec'ed into a traced namespace traced within $FOLLOW_S s (${took} s)" \
	awk -v t="$took" -v b=$FOLLOW_S 'BEGIN { exit !(t < b) }'

# a new namespace (a new replica) on the gateway's subnet
ns_on_bridge "$new_ns" "$new_veth" "$BRIDGE" "$NET.0.50/16"
ip netns exec "$new_ns" "$OUT/services/svc_thread" -l "$NET.0.50:8080" -n extra \
	>"$tmp/extra.log" 2>&1 &
extra_pids+=($!)
extra_pid=$!
took=$(wait_for "$tmp/follow.err" "now tracing PID $! of .*($NET.0.50)" 6)
check "a new namespace on the subnet traced within $FOLLOW_S s (${took} s)" \
	awk -v t="$took" -v b=$FOLLOW_S 'BEGIN { exit !(t < b) }'
for _ in $(seq 50); do "$LOAD" -s "$NET.0.50:8080" -n 1 -p probe- >/dev/null 2>&1 && break; sleep 0.1; done
"$LOAD" -s "$NET.0.50:8080" -n 5 -p extra- >"$tmp/extra-load.txt" 2>&1
extra_rc=$?
kill "${extra_pids[@]}" 2>/dev/null
wait "${extra_pids[@]}" 2>/dev/null
extra_pids=()
sleep 1.2	# a re-scan sees them gone
stop_tracer INT
check "the run ends cleanly (status $rc)" test "$rc" -eq 0
n_extra=$(grep -c "\"server\":\"$NET.0.50:8080\"" "$tmp/follow.jsonl")
check "the new namespace's requests are traced ($n_extra of 5 or more; load status $extra_rc)" \
	test "$n_extra" -ge 5
# A failure (once in CI: 0 of 5, the probe's neither, its PID traced) says
# what was seen of the service: traces naming its address or a thread of
# its PID elsewhere (named differently), or none (its events never came),
# and the run's losses.
[ "$n_extra" -ge 5 ] || { sed 's/^/# load: /' "$tmp/extra-load.txt" | tail -n 5
	grep -E "now tracing|$NET.0.50|WARNING" "$tmp/follow.err" | tail -n 8 | sed 's/^/# tracer: /'
	echo "# traces naming $NET.0.50 anywhere: $(grep -c "$NET\.0\.50[:\"]" "$tmp/follow.jsonl"), with a thread of PID $extra_pid: $(grep -c "\"pid\":$extra_pid," "$tmp/follow.jsonl")"
	for k in traces ring_drops lost map_full table_full late_events unresolved_xfers no_address; do
		printf '%s %s ' "$k" "$(summary_value "$tmp/follow.jsonl" "$k")"
	done | sed 's/^/# summary: /'
	echo; }
check "exited processes dropped from the list (counted), the re-scans counted" \
	grep -qE 'containers followed: [0-9]+ process\(es\) traced after the start, [1-9][0-9]* exited one\(s\) dropped \([1-9][0-9]* re-scans' "$tmp/follow.err"

# Ground truth: redis logs nothing per request; the test bed names its
# thread in nodes.jsonl, one line per start: each phase gets its own.
mkdir -p "$tmp/truth-before" "$tmp/truth-after"
for d in before after; do
	cp "$STATE"/truth/*.jsonl "$tmp/truth-$d/"
	cp "$tmp/client-$d.jsonl" "$tmp/truth-$d/client.jsonl"
done
grep -v "\"tid\":$new," "$STATE/truth/nodes.jsonl" >"$tmp/truth-before/nodes.jsonl"
grep -v "\"tid\":$old," "$STATE/truth/nodes.jsonl" >"$tmp/truth-after/nodes.jsonl"
for d in before after; do
	if "$SCORE" --truth "$tmp/truth-$d" --json "$tmp/follow.jsonl" --prefix "$d-" \
		--slack-us 200 --min 100 >"$tmp/score-$d.txt" 2>&1; then
		ok "requests $d the restart: 100 % exact"
	else
		not_ok "requests $d the restart: 100 % exact" "$(head -n 3 "$tmp/score-$d.txt" | tr '\n' ' ')"
		# which requests, why, and nginx's line for each (two upstream
		# addresses or more: a detour)
		"$SCORE" --truth "$tmp/truth-$d" --json "$tmp/follow.jsonl" --prefix "$d-" \
			--slack-us 200 -v 2>&1 | grep -A3 ': wrong\|: missing\|: uncertain' | head -n 12 | sed 's/^/# /'
		"$SCORE" --truth "$tmp/truth-$d" --json "$tmp/follow.jsonl" --prefix "$d-" \
			--slack-us 200 -v 2>&1 | sed -n 's/^\([a-z]*-[0-9]*\): \(wrong\|missing\|uncertain\).*/\1/p' |
			head -n 4 | while read -r id; do
				grep "\"id\":\"$id\"" "$tmp/truth-$d/nginx.jsonl" | sed 's/^/# nginx: /'
			done
	fi
done

# ---- kernel states age out: reclaimed after the idle time, counted, requests still exact ----
start_tracer "$tmp/idle.err" --idle-timeout 2 -v --json -o "$tmp/idle.jsonl"
"$LOAD" -s "$NGINX" -n 20 -c 2 -k 10 -p idle1- -t "$tmp/client-idle1.jsonl" >/dev/null 2>&1
sleep 4	# every state of the chain idle past 2 s: the sweeps (every second) reclaim them
"$LOAD" -s "$NGINX" -n 40 -c 2 -k 10 -p idle2- -t "$tmp/client-idle2.jsonl" >/dev/null 2>&1
sleep 0.3
stop_tracer INT
check "idle states reclaimed and counted (connections and directions)" \
	grep -qE 'kernel states untouched for 2 s reclaimed \(threads [0-9]+, connections [1-9][0-9]*, directions [1-9]' "$tmp/idle.err"
check "-v: table occupancy (held, peak, slots)" \
	grep -qE 'kernel state tables \(held at the end, peak, slots\): threads [0-9]+, [1-9][0-9]*, [0-9]+; connections' "$tmp/idle.err"
mkdir -p "$tmp/truth-idle"
cp "$STATE"/truth/*.jsonl "$tmp/truth-idle/"
grep -v "\"tid\":$old," "$STATE/truth/nodes.jsonl" >"$tmp/truth-idle/nodes.jsonl"
cat "$tmp"/client-idle*.jsonl >"$tmp/truth-idle/client.jsonl"
if "$SCORE" --truth "$tmp/truth-idle" --json "$tmp/idle.jsonl" --prefix idle2- \
	--slack-us 200 --min 100 >"$tmp/score-idle.txt" 2>&1; then
	ok "requests on connections whose states were reclaimed: 100 % exact"
else
	not_ok "requests on connections whose states were reclaimed: 100 % exact" \
		"$(head -n 3 "$tmp/score-idle.txt" | tr '\n' ' ')"
fi

# ---- SIGHUP with -i: the PIDs file re-read ----
"$TB" pids | grep -v "${NS_PREFIX}redis" >"$tmp/pids.txt"
start_tracer "$tmp/hup.err" -i "$tmp/pids.txt" --json -o "$tmp/hup.jsonl"
"$LOAD" -s "$NGINX" -n 10 -c 1 -p hup1- >/dev/null 2>&1
"$TB" pids >"$tmp/pids.txt"
kill -HUP "$bpf_pid"
took=$(wait_for "$tmp/hup.err" "SIGHUP: re-read" 3)
check "SIGHUP with -i: the PIDs file re-read, redis added" \
	grep -q "now tracing PID $(redis_pid) of ${NS_PREFIX}redis" "$tmp/hup.err"
"$LOAD" -s "$NGINX" -n 10 -c 1 -p hup2- >/dev/null 2>&1
sleep 0.3
stop_tracer TERM
r=$(redis_pid)
check "SIGHUP with -i: the run goes on (status $rc)" test "$rc" -eq 0
check "SIGHUP with -i: requests afterwards reach the redis thread" \
	test "$(grep -c "\"to\":$r," "$tmp/hup.jsonl")" -ge 10

# ---- SIGHUP without -i: the run ends like SIGTERM, with the full result ----
start_tracer "$tmp/hup2.err" --json -o "$tmp/hup2.jsonl"
"$LOAD" -s "$NGINX" -n 20 -c 2 -p hup3- >/dev/null 2>&1
sleep 0.3
stop_tracer HUP
check "SIGHUP without -i: exit 0, every trace and the summary written" \
	bash -c "[ $rc -eq 0 ] && [ \$(grep -c '\"trace_id\"' '$tmp/hup2.jsonl') -ge 20 ] && grep -q '\"summary\"' '$tmp/hup2.jsonl'"

# ---- a hung OTLP collector under load: the ring reader never waits ----
hung_collector "$tmp/port"
hang_pid=$HUNG_PID
start_tracer "$tmp/otlp.err" -d 8 --stream --json -o "$tmp/otlp.jsonl" \
	--otlp-endpoint "http://127.0.0.1:$(cat "$tmp/port")/v1/traces"
start=$(date +%s%N)
# the load in the background: the tracer's end is timed, not the load's
{
	"$LOAD" -s "$NGINX" -n 3000 -c 4 -k 100 -p otlp- >"$tmp/otlp-load.txt" 2>&1
	date +%s%N >"$tmp/otlp-load.end"
} &
load_pid=$!
wait "$bpf_pid"
rc=$?
bpf_pid=
end=$(date +%s%N)
wait "$load_pid"
took=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
# The ring is read until it is empty, so with every core busy the reader
# may still be behind a load that outlasts the 8 s: the exit is timed from
# the later of the two (a load of 27 s held a quiet run's 11 s to 27 s).
after=$(awk -v a="$start" -v b="$end" -v l="$(cat "$tmp/otlp-load.end")" \
	'BEGIN { s = a + 8e9; if (l > s) s = l; printf "%.1f", (b - s) / 1e9 }')
kill "$hang_pid"
hang_pid=
check "hung collector: every request's trace in the JSON file" \
	test "$(grep -c '"client":"'"$GW"':' "$tmp/otlp.jsonl")" -ge 3000
check "hung collector: no ring drop" grep -q '"ring_drops":0[,}]' "$tmp/otlp.jsonl"
# 8 s, then at most the delivery's drain time (3 s) and one POST timeout (2 s)
check "hung collector: -d 8 ends on time (${took} s: ${after} s after the 8 s or the load's end, < 5.5 s)" \
	awk -v t="$after" 'BEGIN { exit !(t < 5.5) }'
check "hung collector: failed delivery exits non-zero and is counted" \
	bash -c "[ $rc -ne 0 ] && grep -qE 'WARNING: OTLP endpoint .* traces not delivered' '$tmp/otlp.err'"

# ---- a wrong gateway: nothing traced, said, exit 1 ----
"$TB" pids >"$tmp/pids.txt"
echo "previous" >"$tmp/wrong.jsonl"
start_tracer "$tmp/wrong.err" -i "$tmp/pids.txt" -g "$NET.0.99" -d 3 --json -o "$tmp/wrong.jsonl"
"$LOAD" -s "$NGINX" -n 10 -p wrong- >/dev/null 2>&1
wait "$bpf_pid"
rc=$?
bpf_pid=
check "wrong gateway: exit 1, the gateway's address shown as the one that reached them" \
	bash -c "[ $rc -eq 1 ] && grep -qF 'no request from gateway $NET.0.99' '$tmp/wrong.err' && grep -qF '$GW (' '$tmp/wrong.err'"
check "wrong gateway: the earlier output kept" grep -qx previous "$tmp/wrong.jsonl"
