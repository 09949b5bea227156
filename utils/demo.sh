#!/usr/bin/env bash
# make demo: KRTrace end to end on a fresh machine (as root).
#
# Installs what is missing (Debian packages), builds, brings up the test bed
# (nginx -> app -> redis, and four C server models behind a gateway), runs
# krtrace-bpf during a short workload, prints a few traces and the summary,
# writes the pictures (Chrome/Perfetto JSON, DOT/SVG, HTML), and tears
# everything down. Where the live tool cannot run, the demo uses the ftrace
# path (utils/krtrace-capture + krtrace) instead and says so.
#
# Environment: KRT_DEMO_DIR (where results go, default .output/demo),
# KRT_DEMO_NO_INSTALL=1 (skip apt-get).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
DEMO=${KRT_DEMO_DIR:-$ROOT/.output/demo}
TB=$ROOT/utils/testbed
OUT=$ROOT/.output
PACKAGES=(build-essential clang llvm libbpf-dev libelf-dev zlib1g-dev libcmocka-dev libjson-c-dev
	bpftool trace-cmd nginx-light redis-server wrk graphviz iproute2 pkg-config)

say() { printf '\n\033[1m== %s\033[0m\n' "$*" 2>/dev/null || echo "== $*"; }
die() { echo "demo: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (network namespaces, BPF, tracefs): sudo make demo"

if [ "${KRT_DEMO_NO_INSTALL:-0}" != 1 ] && command -v apt-get >/dev/null; then
	missing=()
	for p in "${PACKAGES[@]}"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		say "installing ${missing[*]}"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" ||
			die "apt-get install failed"
	fi
fi

say "building"
make -s -j"$(nproc)" tests || die "build failed"

if ip link show "${KRT_BRIDGE:-krtbr0}" >/dev/null 2>&1; then
	die "the test bed is already up; run utils/testbed down first"
fi
rm -rf "$DEMO"
mkdir -p "$DEMO"
bpf_pid=
cleanup() {
	[ -n "$bpf_pid" ] && stop_live "$bpf_pid"
	"$TB" down >/dev/null 2>&1
}
trap cleanup EXIT

say "test bed: gateway $("$TB" gateway), containers as network namespaces"
"$TB" up all 2>&1 | sed 's/^testbed: /  /'
"$TB" pids >"$DEMO/pids.txt"
GW=$("$TB" gateway)

# Ends krtrace-bpf like Ctrl-C does; a run that does not finish within a minute
# is killed and reported (the demo must never hang).
stop_live() {
	kill -INT "$1" 2>/dev/null
	for _ in $(seq 1 600); do
		kill -0 "$1" 2>/dev/null || { wait "$1"; return; }
		sleep 0.1
	done
	echo "demo: krtrace-bpf did not exit within 60 s of SIGINT; killed" >&2
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 1
}

workload() {
	local t pids=()
	for t in nginx m1 m3 m4; do
		"$OUT/tools/krt_load" -s "$("$TB" addr "$t")" -n 50 -c 2 -k 10 -g 1000 -p "demo-$t-" \
			-t "$DEMO/client.jsonl" &
		pids+=($!)
	done
	wait "${pids[@]}"	# not a bare wait: krtrace-bpf runs in the background too
}

say "throughput through nginx -> app1 -> redis, untraced (wrk, 2 s)"
wrk -t2 -c8 -d2s "http://$("$TB" addr nginx)/req/wrk" 2>&1 | grep -E 'Requests/sec|Latency' |
	sed 's/^/  wrk: /'

pictures=(--chrome "$DEMO/trace.json" --dot "$DEMO/flows.dot" --html "$DEMO/report.html")
if "$OUT/bin/krtrace-bpf" --help >/dev/null 2>&1; then
	# No PIDs file: krtrace-bpf discovers the containers on the gateway's subnet itself.
	say "live: krtrace-bpf --gateway $GW (BPF on sched and socket tracepoints; containers discovered)"
	"$OUT/bin/krtrace-bpf" --gateway "$GW" -o "$DEMO/traces.txt" \
		"${pictures[@]}" 2>"$DEMO/krtrace-bpf.log" &
	bpf_pid=$!
	for _ in $(seq 1 100); do
		grep -q tracing "$DEMO/krtrace-bpf.log" 2>/dev/null && break
		kill -0 "$bpf_pid" 2>/dev/null || break
		sleep 0.1
	done
	workload
	sleep 0.5
	stop_live "$bpf_pid"
	bpf_pid=
	sed 's/^/  /' "$DEMO/krtrace-bpf.log"
else
	say "krtrace-bpf cannot run here: ftrace path (krtrace-capture + krtrace) instead"
	"$ROOT/utils/krtrace-capture" -p "$DEMO/pids.txt" -o "$DEMO/capture" -- \
		bash -c "$(declare -f workload); OUT='$OUT' TB='$TB' DEMO='$DEMO' workload"
	"$OUT/bin/krtrace" -i "$DEMO/pids.txt" -g "$GW" -o "$DEMO/traces.txt" "${pictures[@]}" \
		"$DEMO/capture/report.txt" || die "krtrace failed"
fi

say "a few traces through nginx -> app1 -> redis (all of them: $DEMO/traces.txt)"
awk -v a="$("$TB" addr nginx)" '/^summary/ { exit }
	/^trace / { show = index($0, "-> " a " ") && n < 3; if (show) n++ }
	show' "$DEMO/traces.txt" | head -n 80
say "summary"
awk '/^[Ss]ummary/ { s = 1 } s' "$DEMO/traces.txt" | head -n 30

if [ -s "$DEMO/flows.dot" ] && command -v dot >/dev/null; then
	# One picture: the first trace through nginx that reached redis (the DOT file has one
	# digraph per trace).
	awk -v a="-> $("$TB" addr nginx) " '/^digraph/ { buf = ""; keep = 0 }
		{ buf = buf $0 "\n" } /label=/ && index($0, a) { keep = 1 }
		/^}/ && keep && buf ~ /redis/ { printf "%s", buf; exit }' "$DEMO/flows.dot" >"$DEMO/flow-nginx.dot"
	[ -s "$DEMO/flow-nginx.dot" ] && dot -Tsvg "$DEMO/flow-nginx.dot" -o "$DEMO/flow-nginx.svg" \
		>/dev/null 2>&1
fi
say "pictures"
for f in trace.json flows.dot flow-nginx.svg report.html; do
	[ -s "$DEMO/$f" ] && echo "  $DEMO/$f"
done
echo "  (trace.json opens in https://ui.perfetto.dev; report.html in a browser)"
say "tearing down"
