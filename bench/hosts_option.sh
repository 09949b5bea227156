#!/usr/bin/env bash
# The trace-context TCP option's cost inside the tracer, on the two-host bed
# (utils/testbed-hosts: nginx on A -> app1 on B -> redis on A): a tracer per
# host (--peers, --bpf-stats), with and without --tcp-option-cgroup, the two
# cases alternating within every round (the machine is shared: ratios within
# one run, not absolute figures).
#
# Per round and case, on a fresh bed: REQUESTS requests at concurrency 4 (keep-alive, 10 per
# connection), the requests' median latency (the client's own clock) and
# throughput; with the option, the programs' run time the option adds (the
# sock_ops program: header length, write, parse; the tcp_sendmsg_locked
# program: the send's context) over both hosts, divided by the data
# segments that carried it, and the other hooks' run time per call in both
# cases (the receive hook looks for a remote context only with the option).
#
# A third case, "empty", attaches the sock_ops program to an empty cgroup:
# the tracer's side of the option (the tcp_sendmsg_locked program, the
# receive hook's lookups) without any segment carrying it.
#
# usage: bench/hosts_option.sh [ROUNDS [REQUESTS]]   (root; 5 rounds of 2000)
# Environment: the test beds' KRT_NET, KRT_NS_PREFIX, KRT_VETH_PREFIX, KRT_STATE.
set -u
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
OUT=${OUTPUT:-.output}
ROUNDS=${1:-5}
REQUESTS=${2:-2000}
TB=utils/testbed-hosts
BPF=$OUT/bin/krtrace-bpf
LOAD=$OUT/tools/krt_load
[ "$(id -u)" -eq 0 ] || { echo "hosts_option: needs root" >&2; exit 1; }
for b in "$BPF" "$LOAD"; do [ -x "$b" ] || { echo "hosts_option: $b not built" >&2; exit 1; }; done

tmp=$(mktemp -d)
empty_cg=/sys/fs/cgroup/unified/krt-hosts-option-empty-$$
tracers=()
cleanup() {
	local p
	for p in "${tracers[@]+"${tracers[@]}"}"; do kill -INT "$p" 2>/dev/null && wait "$p"; done
	"$TB" down >/dev/null 2>&1
	rmdir "$empty_cg" 2>/dev/null
	if [ -n "${KRT_KEEP:-}" ]; then rm -rf "$KRT_KEEP" && mv "$tmp" "$KRT_KEEP"; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
gw_a=$("$TB" gateway a) gw_b=$("$TB" gateway b) net_a=$("$TB" net a) net_b=$("$TB" net b)
nginx=$("$TB" addr nginx)
mkdir -p "$empty_cg"

# run CASE ROUND: a fresh bed (the option needs connections opened while its
# program is attached: nginx's keep-alive connections would outlive a case),
# one tracer per host, the load, the tracers' exit reports
run() {
	local c=$1 r=$2 h opt
	"$TB" down >/dev/null 2>&1
	"$TB" up >"$tmp/up.log" 2>&1 || { cat "$tmp/up.log" >&2; exit 1; }
	"$TB" pids a >"$tmp/pids-a.txt"
	"$TB" pids b >"$tmp/pids-b.txt"
	tracers=()
	for h in a b; do
		opt=()
		[ "$c" = option ] && opt=(--tcp-option-cgroup "$("$TB" cgroup $h)")
		[ "$c" = empty ] && opt=(--tcp-option-cgroup "$empty_cg")
		if [ $h = a ]; then
			"$BPF" -g "$gw_a" -i "$tmp/pids-a.txt" --peers "$net_b" --bpf-stats "${opt[@]}" \
				-o /dev/null 2>"$tmp/$c.$r.$h.err" &
		else
			"$BPF" -g "$gw_b" -i "$tmp/pids-b.txt" --peers "$net_a" --bpf-stats "${opt[@]}" \
				-o /dev/null 2>"$tmp/$c.$r.$h.err" &
		fi
		tracers+=($!)
	done
	for _ in $(seq 1 300); do
		grep -q tracing "$tmp/$c.$r.a.err" 2>/dev/null && grep -q tracing "$tmp/$c.$r.b.err" 2>/dev/null && break
		sleep 0.1
	done
	"$TB" client "$LOAD" -s "$nginx" -n "$REQUESTS" -c 4 -k 10 -p "opt-$c-$r-" \
		-t "$tmp/$c.$r.client.jsonl" >"$tmp/$c.$r.load" 2>&1
	for h in "${tracers[@]}"; do kill -INT "$h" 2>/dev/null && wait "$h"; done
	tracers=()
	# median latency (us) and requests per second
	python3 - "$tmp/$c.$r.client.jsonl" >>"$tmp/$c.lat" <<'PY'
import json, sys
v = sorted((o["end_ns"] - o["start_ns"]) / 1000 for o in map(json.loads, open(sys.argv[1])))
print("%.1f" % v[len(v) // 2])
PY
	sed -n 's/.* \([0-9.]*\) req\/s.*/\1/p' "$tmp/$c.$r.load" >>"$tmp/$c.rps"
	# programs: name runs ns/run, summed over both hosts
	for h in a b; do
		sed -n 's/^  \([a-z_0-9]*\) *\([0-9]*\) runs *\([0-9.]*\) ns\/run$/\1 \2 \3/p' "$tmp/$c.$r.$h.err"
	done >"$tmp/$c.$r.progs"
	if [ "$c" = option ]; then
		cat "$tmp/$c.$r.a.err" "$tmp/$c.$r.b.err" |
			sed -n 's/.*TCP option: [0-9]* connection(s) to or from peer hosts, \([0-9]*\) data segment(s) sent with it.*/\1/p' |
			awk '{ s += $1 } END { print s }' >"$tmp/$c.$r.segs"
		awk -v segs="$(cat "$tmp/$c.$r.segs")" '$1 ~ /^krt_tcpopt/ { ns += $2 * $3 }
			END { if (segs) printf "%.1f\n", ns / segs }' "$tmp/$c.$r.progs" >>"$tmp/option.perseg"
	fi
	awk '{ runs[$1] += $2; ns[$1] += $2 * $3 } END { for (p in runs) printf "%s %.1f\n", p, ns[p] / runs[p] }' \
		"$tmp/$c.$r.progs" >>"$tmp/$c.hooks"
}

for r in $(seq 1 "$ROUNDS"); do
	case $((r % 3)) in
	1) run off "$r"; run empty "$r"; run option "$r" ;;
	2) run empty "$r"; run option "$r"; run off "$r" ;;
	0) run option "$r"; run off "$r"; run empty "$r" ;;
	esac
	echo "# round $r done" >&2
done

echo "hosts_option: $ROUNDS rounds of $REQUESTS requests (A -> B -> A), cases alternating"
printf '%-8s %-28s %s\n' case measure "n median q1 q3 min max"
for c in off empty option; do
	printf '%-8s %-28s %s\n' "$c" "latency median (us)" "$(spread <"$tmp/$c.lat")"
	printf '%-8s %-28s %s\n' "$c" "requests/s" "$(spread <"$tmp/$c.rps")"
	for p in krt_sock_recv krt_sock_send krt_tcpopt_sendmsg krt_tcpopt_sockops; do
		grep -q "^$p" "$tmp/$c.hooks" || continue
		printf '%-8s %-28s %s\n' "$c" "$p ns/run" "$(awk -v p="$p" '$1 == p { print $2 }' "$tmp/$c.hooks" | spread)"
	done
done
printf '%-8s %-28s %s\n' option "option ns per data segment" "$(spread <"$tmp/option.perseg")"
echo "(option ns per data segment: the sock_ops and tcp_sendmsg_locked programs' run time on"
echo " both hosts over the data segments sent with the option; BPF stats add their own clock reads)"
