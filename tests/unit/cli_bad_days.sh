#!/usr/bin/env bash
# Bad days, through the built binaries (issue 17): each case is something a
# user ran into, and the test shows nothing is lost and the tool says why.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
OUT=${OUTPUT:-.output}
KRTRACE=$OUT/bin/krtrace
[ -x "$KRTRACE" ] || skip_suite "krtrace not built"
tmp=$(mktemp -d)
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

run() {
	timeout 60 "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
}
err_has() { grep -qF -- "$1" "$tmp/err"; }

FIX=tests/fixtures/chain
zcat $FIX/report.txt.gz >"$tmp/report.txt"
cp $FIX/pids.txt "$tmp/pids.txt"
GW=$(cat $FIX/gateway)

# An output that is also an input would be truncated before it is read.
cp "$tmp/report.txt" "$tmp/r"
run "$KRTRACE" -i "$tmp/pids.txt" -g "$GW" -o "$tmp/r" "$tmp/r"
check "-o r r: refused, exit 1, the file named" \
	bash -c "[ $rc -eq 1 ] && grep -qF '$tmp/r is an input and an output' '$tmp/err'"
check "-o r r: the input is left intact" cmp -s "$tmp/r" "$tmp/report.txt"
run "$KRTRACE" -i "$tmp/pids.txt" -g "$GW" --html "$tmp/pids.txt" "$tmp/r"
check "--html PIDS: refused, the PIDs file intact" \
	bash -c "[ $rc -eq 1 ] && cmp -s '$tmp/pids.txt' '$FIX/pids.txt'"

# A good report is not replaced by the result of a run that failed.
run "$KRTRACE" -i "$tmp/pids.txt" -g "$GW" --html "$tmp/report.html" -o "$tmp/res.txt" "$tmp/r"
check "a good run writes its report" bash -c "[ $rc -eq 0 ] && grep -q 'trace 120' '$tmp/res.txt'"
cp "$tmp/report.html" "$tmp/report.html.good"
: >"$tmp/empty.txt"
run "$KRTRACE" -i "$tmp/pids.txt" -g "$GW" --html "$tmp/report.html" -o "$tmp/res.txt" "$tmp/empty.txt"
check "an empty next input: exit 1, the good report and result kept" \
	bash -c "[ $rc -eq 1 ] && cmp -s '$tmp/report.html' '$tmp/report.html.good' && grep -q 'trace 120' '$tmp/res.txt'"
check "no temporary file left behind" \
	bash -c "! ls -A '$tmp' | grep -q krtrace-"

# A write error names the file.
run "$KRTRACE" -i "$tmp/pids.txt" -g "$GW" -o /dev/full "$tmp/r"
check "write error: exit 1, '/dev/full: No space left on device'" \
	bash -c "[ $rc -eq 1 ] && grep -qF '/dev/full: No space left on device' '$tmp/err'"

# --trace with an id the run does not have: no DOT file, and it says so.
run "$KRTRACE" -i "$tmp/pids.txt" -g "$GW" --dot "$tmp/t.dot" --trace 9999 "$tmp/r"
check "--trace 9999: exit 1, said, no DOT file left" \
	bash -c "[ $rc -eq 1 ] && grep -qF -- '--trace 9999: no such trace' '$tmp/err' && [ ! -e '$tmp/t.dot' ]"
run "$KRTRACE" -i "$tmp/pids.txt" -g "$GW" --dot "$tmp/t.dot" --trace 7 "$tmp/r"
check "--trace 7: the DOT file holds trace 7" \
	bash -c "[ $rc -eq 0 ] && grep -q 'trace 7' '$tmp/t.dot'"

# A collector that accepts and never answers: every trace still reaches the
# file, the run ends on time, and the failed delivery makes it exit non-zero.
hung_collector "$tmp/port"
server_pid=$HUNG_PID
port=$(cat "$tmp/port")
start=$(date +%s.%N)
run "$KRTRACE" -i "$tmp/pids.txt" -g "$GW" --json -o "$tmp/t.jsonl" \
	--otlp-endpoint "http://127.0.0.1:$port/v1/traces" "$tmp/r"
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
check "hung collector: every trace in the JSON file" \
	test "$(grep -c '"trace_id"' "$tmp/t.jsonl")" -eq 120
check "hung collector: the run ends on time (${took} s < 8 s)" \
	awk -v t="$took" 'BEGIN { exit !(t < 8) }'
check "hung collector: exit non-zero, undelivered traces counted" \
	bash -c "[ $rc -ne 0 ] && grep -qE 'WARNING: OTLP endpoint .*: 120 of 120 traces not delivered' '$tmp/err'"
kill "$server_pid" 2>/dev/null
wait "$server_pid" 2>/dev/null
server_pid=

# A wrong gateway: no trace, said with what did reach the containers, exit 1.
run "$KRTRACE" -i "$tmp/pids.txt" -g 172.24.0.9 --json -o "$tmp/res.txt" "$tmp/r"
check "wrong gateway: exit 1, the addresses that reached the containers shown" \
	bash -c "[ $rc -eq 1 ] && grep -qF 'no request from gateway 172.24.0.9' '$tmp/err' && grep -qF '172.24.0.1 (120 receives)' '$tmp/err'"
check "wrong gateway: the earlier result is kept" grep -q 'trace 120' "$tmp/res.txt"
# A stale PIDs file: said, with the PIDs the input holds.
awk '{ $1 = $1 + 100000; print }' "$tmp/pids.txt" >"$tmp/stale.txt"
run "$KRTRACE" -i "$tmp/stale.txt" -g "$GW" "$tmp/r"
check "stale PIDs file: a WARNING naming the input's PIDs" \
	bash -c "grep -qF 'none of the 5 listed PIDs is in the input' '$tmp/err' && grep -qF '8308 (' '$tmp/err'"
run "$KRTRACE" -i "$tmp/pids.txt" -g "$GW" "$tmp/r"
check "the right PIDs file: no such warning" bash -c "[ $rc -eq 0 ] && ! grep -q 'listed PIDs' '$tmp/err'"

# Privileges first: an unprivileged krtrace-bpf says it needs root, before anything else.
BPF=$OUT/bin/krtrace-bpf
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && [ -x "$BPF" ]; then
	mkdir -p "$tmp/nobody" && chmod 755 "$tmp" "$tmp/nobody" && cp "$BPF" "$tmp/nobody/"
	timeout 20 setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
		"$tmp/nobody/krtrace-bpf" -g 172.24.0.1 >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	check "unprivileged krtrace-bpf: exit 1, first line says it needs root" \
		bash -c "[ $rc -eq 1 ] && head -n1 '$tmp/err' | grep -qF 'krtrace-bpf: needs root: CAP_BPF and CAP_PERFMON'"
	check "unprivileged krtrace-bpf: nothing about containers" \
		bash -c "! grep -q container '$tmp/out' && [ \$(wc -l <'$tmp/err') -eq 1 ]"
	timeout 20 capsh --drop=cap_bpf,cap_perfmon,cap_sys_admin -- -c \
		"'$BPF' -g 172.24.0.1 --list-containers" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	check "root without CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN: refused too" \
		bash -c "[ $rc -eq 1 ] && grep -qF 'needs root' '$tmp/err'"
fi

# A capture cut mid-line: "ret=0x4" of "ret=0x49" is reported, not read as a 4-byte receive.
{ head -n 4 "$tmp/r"; sed -n 5p "$tmp/r" | sed 's/ret=0x49$/ret=0x4/' | tr -d '\n'; } >"$tmp/cut.txt"
sed -n 5p "$tmp/r" | grep -q 'ret=0x49$' || not_ok "fixture line 5 is a receive of 0x49 bytes"
run "$KRTRACE" -i "$tmp/pids.txt" -g "$GW" --json "$tmp/cut.txt"
check "cut last line: reported with its line, not parsed" \
	bash -c "grep -qF '$tmp/cut.txt:5: last line cut (no newline): not parsed' '$tmp/err' && ! grep -q '\"bytes\":4[,}]' '$tmp/out'"
# A receive of 2^63-1 bytes is a corrupt line, not a hop.
sed '5s/ret=0x49$/ret=0x7fffffffffffffff/' "$tmp/r" >"$tmp/huge.txt"
run "$KRTRACE" -i "$tmp/pids.txt" -g "$GW" --json "$tmp/huge.txt"
check "impossible size: rejected with its line, no such hop" \
	bash -c "grep -qF '$tmp/huge.txt:5: impossible byte count' '$tmp/err' && ! grep -q '9223372036854775807' '$tmp/out' && [ \$(grep -c '\"trace_id\"' '$tmp/out') -ge 119 ]"

# Interrupted mid-run (SIGHUP, SIGINT): no temporary file left, the earlier result intact.
cp "$tmp/report.html.good" "$tmp/report.html"
mkfifo "$tmp/fifo"
for sig in HUP INT; do
	"$KRTRACE" -i "$tmp/pids.txt" -g "$GW" --html "$tmp/report.html" "$tmp/fifo" >/dev/null 2>&1 &
	k=$!
	exec 7>"$tmp/fifo"
	head -n 100 "$tmp/r" >&7
	# its temporary file comes once it runs: up to 10 s on a loaded machine (0.3 s failed)
	for _ in $(seq 100); do
		ls -A "$tmp" | grep -q krtrace- && break
		sleep 0.1
	done
	ls -A "$tmp" | grep -q krtrace- || not_ok "SIG$sig: the run writes a temporary file meanwhile"
	kill -$sig $k
	wait $k
	rc=$?
	exec 7>&-
	check "SIG$sig mid-import: exit $rc, the earlier report intact, no temporary file" \
		bash -c "[ $rc -ne 0 ] && cmp -s '$tmp/report.html' '$tmp/report.html.good' && ! ls -A '$tmp' | grep -q krtrace-"
done

# Debugging and benchmark knobs live behind --debug FEATURE; options that are
# gone are refused with what to use instead (never accepted and ignored).
"$BPF" --debug help >"$tmp/out" 2>&1
rc=$?
check "--debug help: exit 0, lists check-tags, empty-hooks, prefilter-hooks and dump-events" \
	bash -c "[ $rc -eq 0 ] && grep -q check-tags '$tmp/out' && grep -q empty-hooks '$tmp/out' && grep -q prefilter-hooks '$tmp/out' && grep -q dump-events '$tmp/out'"
check "--debug help: lists the sizes that make losses happen (ring-kb, state-slots, reorder-us)" \
	bash -c "grep -q ring-kb= '$tmp/out' && grep -q state-slots= '$tmp/out' && grep -q reorder-us= '$tmp/out'"
"$BPF" --debug ring-kb=6 -g 172.24.0.1 >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
check "--debug ring-kb=6: refused (exit 2), not a power of two" \
	bash -c "[ $rc -eq 2 ] && grep -q 'ring-kb: 6 is not a power of two' '$tmp/err'"
"$BPF" --help >"$tmp/out" 2>&1
check "--help: no debugging knobs, --debug named" \
	bash -c "! grep -qE 'empty-hooks|check-tags' '$tmp/out' && grep -q -- '--debug FEATURE' '$tmp/out'"
for opt in check-tags empty-hooks kernel-tags cpu-in-kernel; do
	"$BPF" --$opt -g 172.24.0.1 >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	check "--$opt: refused (exit 2), the message names what to use" \
		bash -c "[ $rc -eq 2 ] && grep -qE -- '--debug $opt|--rules' '$tmp/err'"
done
"$BPF" --debug nonsense -g 172.24.0.1 >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
check "--debug nonsense: refused (exit 2), the feature named" \
	bash -c "[ $rc -eq 2 ] && grep -q \"unknown feature 'nonsense'\" '$tmp/err'"
# options that would be ignored in the company of others are refused
"$BPF" -g 172.24.0.1 -i "$tmp/pids.txt" --rescan-ms 100 >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
check "--rescan-ms with -i (no discovery to pace): refused (exit 2), SIGHUP named" \
	bash -c "[ $rc -eq 2 ] && grep -q 'SIGHUP re-reads the PIDs file' '$tmp/err'"
# --sample-window: a window needs a cycle of N x MS around it (src/sample_window.c)
window_refused() { # WHAT GREP OPTIONS...
	local what=$1 pat=$2
	shift 2
	"$BPF" -g 172.24.0.1 "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	check "--sample-window, $what: refused (exit 2), the reason said" \
		bash -c "[ $rc -eq 2 ] && grep -qF -- \"$pat\" '$tmp/err'"
}
window_refused "no --sample" "needs --sample N with N >= 2" --sample-window 100
window_refused "--sample 1" "needs --sample N with N >= 2" --sample 1 --sample-window 100
window_refused "9 ms" "'9' is not a number from 10 to 600000" --sample 10 --sample-window 9
window_refused "600001 ms" "'600001' is not a number" --sample 10 --sample-window 600001
window_refused "2 x 100 ms" "a cycle of 2 x 100 ms = 200 ms is shorter than its warm-up (50 ms), window (100 ms) and drain (100 ms): 250 ms" \
	--sample 2 --sample-window 100
window_refused "with --rules" "--rules cannot be combined with --sample" --rules --sample 10 \
	--sample-window 100
# the window length a user should take, and why, where the option is read
"$BPF" --help >"$tmp/out" 2>&1
check "--help: --sample-window advises 1000 ms or more, the fixed cost per window said" \
	bash -c "grep -q 'Take 1000 ms or more: each window pays a fixed warm-up' '$tmp/out'"
"$BPF" -g 172.24.0.1 --go-threads --go-channels >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
check "--go-threads with --go-channels: refused (exit 2)" \
	bash -c "[ $rc -eq 2 ] && grep -q 'choose one' '$tmp/err'"
run "$KRTRACE" -i "$tmp/pids.txt" -g "$GW" --otlp "$tmp/o.json" --otlp-protocol http/protobuf "$tmp/r"
check "--otlp-protocol without --otlp-endpoint: refused (exit 2), no file written" \
	bash -c "[ $rc -eq 2 ] && grep -q 'needs --otlp-endpoint' '$tmp/err' && [ ! -s '$tmp/o.json' ]"
# output options that do not go together: a usage error (exit 2) before any work, both tools
"$BPF" -g 172.24.0.1 -R --json >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
check "krtrace-bpf -R --json: a usage error (exit 2) before loading anything" \
	bash -c "[ $rc -eq 2 ] && grep -q 'choose one' '$tmp/err' && ! grep -q tracing '$tmp/err'"
run "$KRTRACE" -i "$tmp/pids.txt" -g "$GW" --trace 3 "$tmp/r"
check "krtrace --trace without --dot: a usage error (exit 2)" \
	bash -c "[ $rc -eq 2 ] && grep -q 'needs --dot' '$tmp/err'"

# Whole or not: a capture's lost events mark the traces open at that point.
{ head -n 3000 "$tmp/r"; echo "CPU:0 [LOST 42 EVENTS]"; tail -n +3001 "$tmp/r"; } >"$tmp/lost.txt"
run "$KRTRACE" -i "$tmp/pids.txt" -g "$GW" --json --html "$tmp/lost.html" "$tmp/lost.txt"
n_inc=$(grep -c '"incomplete":\["lost_events"\]' "$tmp/out")
check "lost events: the traces open then say incomplete, [\"lost_events\"] ($n_inc of 120)" \
	bash -c "[ $n_inc -ge 1 ] && [ $n_inc -lt 120 ] && grep -q '\"incomplete_traces\":$n_inc,' '$tmp/out'"
check "lost events: traces far from the loss stay whole (no key)" \
	bash -c "grep '\"trace_id\":1,' '$tmp/out' | grep -vq incomplete"
check "lost events: the HTML report marks them" \
	test "$(grep -o 'class="incomplete"[^>]*>incomplete: lost_events' "$tmp/lost.html" | wc -l)" -ge "$n_inc"
run "$KRTRACE" -i "$tmp/pids.txt" -g "$GW" "$tmp/lost.txt"
check "lost events: the text marks them, the summary counts them" \
	bash -c "[ \$(grep -c 'INCOMPLETE (lost_events)' '$tmp/out') -eq $n_inc ] && grep -qE 'incomplete traces +$n_inc' '$tmp/out'"
