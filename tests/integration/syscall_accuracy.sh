#!/usr/bin/env bash
# Accuracy of the syscall-exit fallback (--syscall-hooks: kernels without the
# socket tracepoints) on every model of the test bed, live, at small scale:
# bench/accuracy.sh KRT_MODES=syscall, 40 requests per model at 4 and 16
# connections. README says the fallback is as exact as the socket hooks; no
# other suite measured it on the real runtimes, and it had dropped unseen:
# connections' states lost to slot collisions of socket addresses (chain 55 %,
# m1 36-49 %), no hand-back notifications (thrift, asgi 0 %, all uncertain),
# Go programs attributed by thread (go-http, go-fanout 0-2 %).
#
# Asserted per model: every request answered, a floor of exact requests,
# at most 5 % wrong; for the run: no kernel state lost to full slots, and
# every Go program's goroutines followed. KRT_FLOOR_<model> overrides a floor.
#
# Environment: KRT_REQUESTS (40), KRT_CONCS ("4 16"), KRT_SYSCALL_MODELS (all
# installed), and the test bed's KRT_BRIDGE, KRT_NET, ... (utils/testbed).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
OUT=${OUTPUT:-.output}
need_root
for b in "$OUT/tools/krt_load" "$OUT/tools/krt_score" "$OUT/bin/krtrace-bpf" \
	"$OUT/services/svc_thread"; do
	[ -x "$b" ] || skip_suite "$b not built"
done
command -v redis-server >/dev/null || skip_suite "redis-server not installed"
[ "$(uname -m)" = x86_64 ] || skip_suite "the syscall-hook fallback is x86-64 only"
ip link show "${KRT_BRIDGE:-krtbr0}" >/dev/null 2>&1 &&
	skip_suite "the test bed is in use (bridge ${KRT_BRIDGE:-krtbr0} exists); run utils/testbed down"
"$OUT/bin/krtrace-bpf" --help >/dev/null 2>&1 || skip_suite "krtrace-bpf cannot run here"

models=()
for m in ${KRT_SYSCALL_MODELS:-chain m1 m2 m3 m4 m5 thrift java asgi node go-http go-fanout}; do
	model_runnable "$m" && models+=("$m") || echo "# $m: runtime not installed or not built, not measured"
done
[ ${#models[@]} -gt 0 ] || skip_suite "no model installed"

# Floors (exact % of the requests). Measured at this scale after the three
# fixes (bench/accuracy.sh KRT_MODES=syscall KRT_REQUESTS=40, 4/8/16): 100 %
# on every model; at 100 requests see README ("--syscall-hooks"). The margins
# are the socket hooks' own floors in runtimes_accuracy.sh and go_services.sh
# (a loaded 2-core machine: the hand-back pools' and Go's first requests).
declare -A FLOOR=(
	[chain]=95 [m1]=95 [m2]=90 [m3]=85 [m4]=95 [m5]=95
	[thrift]=85 [java]=95 [asgi]=85 [node]=90 [go-http]=85 [go-fanout]=85
)

tmp=$(mktemp -d)
trap 'drop_tmp "$tmp"' EXIT

KRT_REQUESTS=${KRT_REQUESTS:-40} KRT_CONCS=${KRT_CONCS:-4 16} KRT_MODES=syscall \
	KRT_OUT=$tmp/acc bash bench/accuracy.sh "${models[@]}" >"$tmp/acc.log" 2>&1
rc=$?
sed 's/^/# /' "$tmp/acc.log"
check "bench/accuracy.sh --syscall-hooks ran (status $rc)" test $rc -eq 0
res=$tmp/acc/results.tsv
err=$tmp/acc/syscall.jsonl.err
[ -s "$res" ] || { not_ok "results.tsv written"; exit 1; }
check "the fallback was used (transfers read at syscall exit)" \
	grep -q "transfers read at syscall exit" "$err"
check "no kernel state lost to held slots ($(grep -o '[0-9]* thread, connection or direction states not kept' "$err" || echo 0))" \
	bash -c "! grep -q 'states not kept in the kernel' '$err'"
if [[ " ${models[*]} " == *" go-"* ]]; then
	check "Go programs' goroutines followed, none attributed by thread" \
		bash -c "grep -q 'its goroutines are followed' '$err' && ! grep -q 'attributed by thread' '$err'"
fi

for m in "${models[@]}"; do
	failed=$(grep -c "request r3-$m-" "$tmp/acc/load-r3.err" 2>/dev/null)
	check "$m: every request answered 200 (${failed:-0} failed)" test "${failed:-0}" -eq 0
	read -r n ex wr un < <(awk -F'\t' -v m="$m" '$1 == m && $2 == "syscall" { print $3, $4, $5, $7 }' "$res")
	if [ -z "${n:-}" ] || [ "$n" -eq 0 ]; then
		not_ok "$m syscall: requests judged"
		continue
	fi
	var=KRT_FLOOR_${m//-/_}
	floor=${!var:-${FLOOR[$m]:-95}}
	pct=$(awk -v e="$ex" -v n="$n" 'BEGIN { printf "%.1f", 100 * e / n }')
	check "$m --syscall-hooks: $pct % exact of $n (uncertain $un, wrong $wr) >= $floor %" \
		awk -v e="$ex" -v n="$n" -v f="$floor" 'BEGIN { exit !(100 * e >= f * n) }'
	check "$m --syscall-hooks: $wr wrong of $n, at most 5 %" \
		awk -v w="$wr" -v n="$n" 'BEGIN { exit !(100 * w <= 5 * n) }'
	if [ "$wr" -gt 0 ]; then
		awk '/^[^ ]/ { show = / wrong \(/ } show' "$tmp/acc/syscall.$m.why" |
			head -n 8 | sed "s/^/# why: syscall: /"
	fi
done
