#!/usr/bin/env bash
# Accuracy per server model, both paths, on the live test bed.
#
# Brings the test bed up (nginx -> app1 -> redis chain and the four C models
# -> backend), runs krtrace-bpf and an ftrace capture (utils/krtrace-capture)
# of the same run at the same time, drives counted requests through every
# model, imports the capture with krtrace, scores both results against the
# services' ground truth and compares them with `krtrace compare`.
# Targets (issues 4 and 5): >= 99 % exact on models 1, 3, 4 and the chain, on
# both paths; model 2 (hand-off through a futex) >= 99 % live (issue 5), and
# measured and printed on import.
#
# Environment: KRT_REQUESTS (per model, 200: one odd request must not decide a 99 % floor), KRT_MIN (99), KRT_MIN_M2_LIVE (99), KRT_MIN_M2_IMPORT (98), KRT_MIN_AGREE (95: %
# of traces matched and of hops agreeing between live and import), KRT_KEEP=DIR
# (keep the capture, results and truth there).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
OUT=${OUTPUT:-.output}
need_root
REQUESTS=${KRT_REQUESTS:-200}
MIN=${KRT_MIN:-99}
MIN_AGREE=${KRT_MIN_AGREE:-95}
LOAD=$OUT/tools/krt_load
SCORE=$OUT/tools/krt_score
KRTRACE=$OUT/bin/krtrace
BPF=$OUT/bin/krtrace-bpf
TB=utils/testbed
for b in "$LOAD" "$SCORE" "$OUT/services/svc_thread" "$OUT/services/svc_pool" \
	"$OUT/services/svc_evloop" "$OUT/services/svc_sharedpool"; do
	[ -x "$b" ] || skip_suite "$b not built"
done
command -v nginx >/dev/null && command -v redis-server >/dev/null ||
	skip_suite "nginx or redis-server not installed"
command -v trace-cmd >/dev/null || skip_suite "trace-cmd not installed"
ip link show "${KRT_BRIDGE:-krtbr0}" >/dev/null 2>&1 &&
	skip_suite "the test bed is in use (bridge ${KRT_BRIDGE:-krtbr0} exists); run utils/testbed down"
have_live=1
"$BPF" --help >/dev/null 2>&1 || have_live=0
have_import=1
"$KRTRACE" --version >/dev/null 2>&1 || have_import=0

tmp=$(mktemp -d)
bpf_pid=
cleanup() {
	[ -n "$bpf_pid" ] && stop_live "$bpf_pid"
	"$TB" down >/dev/null 2>&1
	drop_tmp "$tmp"
}
trap cleanup EXIT

bed_up "$tmp" "chain and four models" all
run=t$$

if [ $have_live = 1 ]; then
	"$BPF" --gateway "$GW" -i "$tmp/pids.txt" --json -o "$tmp/live.jsonl" 2>"$tmp/live.err" &
	bpf_pid=$!
	check "krtrace-bpf attached" wait_tracing "$bpf_pid" "$tmp/live.err"
else
	echo "# krtrace-bpf not built: live path not measured"
fi

# The workload: every model at once, counted requests with ids, keep-alive.
cat >"$tmp/load.sh" <<EOF
#!/usr/bin/env bash
rc=0 pids=()
for t in nginx m1 m2 m3 m4; do
	"$LOAD" -s "\$("$TB" addr \$t)" -n $REQUESTS -c 4 -k 10 -g 500 -p "$run-\$t-" \
		-t "$tmp/client-\$t.jsonl" &
	pids+=(\$!)
done
for p in "\${pids[@]}"; do wait \$p || rc=1; done
exit \$rc
EOF
if utils/krtrace-capture -p "$tmp/pids.txt" -o "$tmp/cap" -- bash "$tmp/load.sh" 2>"$tmp/cap.err"; then
	ok "workload ran under the ftrace capture ($(grep -h 'krt_load:' "$tmp/cap.err" | awk '{ s += $2 } END { print s + 0 }') requests ok)"
else
	not_ok "workload ran under the ftrace capture" "$(tail -n 5 "$tmp/cap.err")"
fi
check "capture lost no events" bash -c "! grep -q 'events lost' '$tmp/cap.err'"
sleep 0.3
if [ -n "$bpf_pid" ]; then
	stop_live "$bpf_pid"
	rc=$?
	bpf_pid=
	check "krtrace-bpf ends cleanly on SIGINT (status $rc)" test "$rc" -eq 0
fi

mkdir -p "$tmp/truth"
cp "$STATE"/truth/*.jsonl "$tmp/truth/"
cat "$tmp"/client-*.jsonl >"$tmp/truth/client.jsonl"

# Model 2 (thread-pool hand-off through a futex) is followed through sched_wakeup and
# scheduler causality on the live path: measured at 100 % (issue 5 target 99 %); the floor
# here is lower so that scheduling noise on a shared CI machine cannot fail the run, while
# a broken hand-off rule (76-89 % before it was fixed) still does. The import path gets
# sched_wakeup from utils/krtrace-capture (its default since issue 16): asserted with a
# floor of KRT_MIN_M2_IMPORT (98: five captures of this suite imported at the commit that
# set it gave 99.5-100 %, were 97-99 %: the pool rule's queue and first jobs, and a
# retransmission's probe taken for a send; 2 µs timestamps make its races closer than
# live's).
#
# Slack: the import path's times are syscall entries and exits (truncated to µs: 2 µs).
# The live path's send times are taken by sock_send_length, after the transfer: on
# loopback and veth the transfer delivers the bytes to the receiver inside the send
# itself, so a client can hold its reply some tens of µs before the server's send is
# stamped (seen: +4 to +25 µs). 200 µs covers that; a hop stitched to the neighbouring
# request still shows as absent from its own.
score() { # PATHNAME JSON M2_FLOOR SLACK_US
	local name=$1 json=$2 m2=$3 slack=$4
	if "$SCORE" --truth "$tmp/truth" --prefix "$run-" --json "$json" --path "$name" \
		--min "$MIN" --min-model "m2=$m2" --slack-us "$slack" -v \
		>"$tmp/$name.score" 2>"$tmp/$name.score.err"; then
		sed 's/^/# /' "$tmp/$name.score"
		ok "$name: >= $MIN % exact on the chain and models 1, 3, 4; model 2 >= $m2 %"
	else
		sed 's/^/# /' "$tmp/$name.score"
		not_ok "$name: >= $MIN % exact on the chain and models 1, 3, 4; model 2 >= $m2 %" \
			"$(grep 'below' "$tmp/$name.score.err" | tr '\n' ' ')"
		# the details of the asserted models first (model 2 is only measured)
		{ grep -v "^$run-m2-" "$tmp/$name.score.err" | grep -v '^    ' | head -n 12
		  grep -A2 -E "^$run-(nginx|m[134])-" "$tmp/$name.score.err" | grep '^    ' | head -n 6; }
	fi
}

if [ $have_import = 1 ]; then
	if "$KRTRACE" -i "$tmp/pids.txt" -g "$GW" --json "$tmp/cap/report.txt" \
		>"$tmp/import.jsonl" 2>"$tmp/import.err"; then
		ok "krtrace imports the capture"
		score import "$tmp/import.jsonl" "${KRT_MIN_M2_IMPORT:-98}" 2
	else
		not_ok "krtrace imports the capture" "$(head -n 5 "$tmp/import.err")"
	fi
else
	echo "# krtrace not built: import path not measured"
fi
[ $have_live = 1 ] && [ -s "$tmp/live.jsonl" ] && score live "$tmp/live.jsonl" "${KRT_MIN_M2_LIVE:-99}" 200

if [ $have_live = 1 ] && [ $have_import = 1 ] && [ -s "$tmp/live.jsonl" ] && [ -s "$tmp/import.jsonl" ]; then
	if "$KRTRACE" compare "$tmp/live.jsonl" "$tmp/import.jsonl" --min "$MIN_AGREE" \
		--min-hops "$MIN_AGREE" >"$tmp/compare.txt" 2>&1; then
		sed 's/^/# /' "$tmp/compare.txt"
		ok "krtrace compare: live and import agree (>= $MIN_AGREE % traces and hops)"
	else
		sed 's/^/# /' "$tmp/compare.txt"
		not_ok "krtrace compare: live and import agree (>= $MIN_AGREE % traces and hops)"
	fi
fi
