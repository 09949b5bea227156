#!/usr/bin/env bash
# The import's own losses make their counters count and mark the traces they
# may have cost a hop (issue 14: every counter has a test that makes it
# count; issue 17: a trace touched by a loss says so).
#   table_full        the normaliser's thread table at its bound (2^18 threads)
#   unresolved_xfers  sends through an unlisted syscall (nginx's writev) whose
#                     tcp_probe lines carry no data_len: connection unknown
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
OUT=${OUTPUT:-.output}
KRTRACE=$OUT/bin/krtrace
[ -x "$KRTRACE" ] || skip_suite "krtrace not built"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

FIX=tests/fixtures/chain
zcat $FIX/report.txt.gz >"$tmp/report.txt"
GW=$(cat $FIX/gateway)
run() { # output file, then krtrace's input arguments
	local out=$1
	shift
	timeout 120 "$KRTRACE" -i $FIX/pids.txt -g "$GW" --json "$@" >"$out" 2>"$tmp/err" </dev/null
	rc=$?
}
sum() { summary_value "$@"; }   # FILE KEY
marked() { marked_incomplete "$@"; } # FILE CAUSE

run "$tmp/whole.json" "$tmp/report.txt"
check "the capture as it is: no table full, no unresolved send, no trace incomplete" \
	bash -c "[ $rc -eq 0 ] && [ '$(sum "$tmp/whole.json" table_full)' = 0 ] &&
		[ '$(sum "$tmp/whole.json" unresolved_xfers)' = 0 ] &&
		[ '$(sum "$tmp/whole.json" incomplete_traces)' = 0 ]"

# Mid-capture, more threads than the normaliser holds (each a receive that
# never ends): the table reaches its bound and the threads past it are lost.
split=3000
ts=$(sed -n "${split}p" "$tmp/report.txt" | awk '{ print $3 }')
{
	head -n $split "$tmp/report.txt"
	awk -v ts="$ts" 'BEGIN { for (i = 0; i < 262144 + 64; i++)
		printf "filler-%d [000] %s sys_enter_read: fd=0x3\n", 1000000 + i, ts }'
	tail -n +$((split + 1)) "$tmp/report.txt"
} >"$tmp/full.txt"
run "$tmp/full.json" "$tmp/full.txt"
tf=$(sum "$tmp/full.json" table_full)
n=$(marked "$tmp/full.json" table_full)
check "thread table at its bound: table_full counts ($tf), exit 0" \
	bash -c "[ $rc -eq 0 ] && [ '${tf:-0}' -gt 0 ]"
check "thread table at its bound: the traces in flight say incomplete, [\"table_full\"] ($n of 120)" \
	bash -c "[ $n -ge 1 ] && [ $n -lt 120 ] && [ '$(sum "$tmp/full.json" incomplete_traces)' -ge $n ]"
check "thread table at its bound: the last trace, after it, stays whole" \
	bash -c "grep '\"trace_id\":120,' '$tmp/full.json' | grep -vq incomplete"
check "thread table at its bound: said on stderr" grep -q "a state table reached its bound" "$tmp/err"
"$KRTRACE" -i $FIX/pids.txt -g "$GW" "$tmp/full.txt" >"$tmp/full.out" 2>/dev/null
check "thread table at its bound: the text summary shows it" \
	grep -qE "state table full +$tf" "$tmp/full.out"

# tcp_probe without data_len: nginx's writev sends (an unlisted syscall)
# cannot be told apart from retransmissions, so their connection stays unknown.
sed 's/ data_len=[0-9]*//' "$tmp/report.txt" >"$tmp/nolen.txt"
run "$tmp/nolen.json" "$tmp/nolen.txt"
ux=$(sum "$tmp/nolen.json" unresolved_xfers)
n=$(marked "$tmp/nolen.json" unresolved_xfer)
traces=$(sum "$tmp/nolen.json" traces)
check "tcp_probe without data_len: unresolved_xfers counts ($ux), exit 0" \
	bash -c "[ $rc -eq 0 ] && [ '${ux:-0}' -gt 0 ]"
check "tcp_probe without data_len: the traces missing hops say incomplete, unresolved_xfer ($n of $traces)" \
	bash -c "[ $n -ge 1 ] && [ '$(sum "$tmp/nolen.json" incomplete_traces)' -ge $n ]"
# every trace that lost hops (fewer than the 8 of a whole chain trace) is marked
short=$(grep '"trace_id"' "$tmp/nolen.json" | grep -v '"incomplete"' |
	awk -F'"from_addr"' 'NF - 1 < 8' | wc -l)
check "tcp_probe without data_len: no trace with hops missing looks whole ($short unmarked)" \
	test "$short" -eq 0
check "tcp_probe without data_len: said on stderr" \
	grep -q "socket transfers whose connection could not be told" "$tmp/err"
