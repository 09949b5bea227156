#!/usr/bin/env bash
# Where the programs' run time goes, by segment of their path, per model:
# perf does not see JITed BPF programs, so a build with HOOK_PROFILE=1 times
# its own segments (include/krtrace_bpf.h, enum krt_prof_slot) with the
# clock. Per model: WARM seconds of wrk load, then SECONDS measured between
# two counter prints (SIGUSR1); per segment its hits per request and ns per
# hit, the price of a mark (the calib segment: a clock read and a call)
# taken off. The profiled build's programs are slower than the real ones by
# that price per mark; the segments' shares and the ns of one model against
# another's are what it shows.
#
# Build first: make HOOK_PROFILE=1 OUTPUT=.output/hook-profile
# Usage: bench/hook_profile.sh [SECONDS (5)]
# Env: the test bed's (KRT_*; the models must be up: utils/testbed up ...),
#      MODELS (asgi), WRK_CONN (4), WARM (s, 6), BIN (the profiled
#      krtrace-bpf, .output/hook-profile/bin/krtrace-bpf), TRACER_TIMEOUT (30),
#      HP_ARGS (more tracer options, e.g. "--sample 10"), HP_NAMES (containers
#      to trace, `utils/testbed pids NAME...`: default all; the others' idle
#      threads otherwise add their hits to the per-request counts)
set -u
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=bench/lib.sh
. bench/lib.sh
DUR=${1:-5}
WARM=${WARM:-6}
CONN=${WRK_CONN:-4}
BIN=${BIN:-.output/hook-profile/bin/krtrace-bpf}
TRACER_TIMEOUT=${TRACER_TIMEOUT:-30}
TB=utils/testbed
die() { echo "hook_profile: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root"
command -v wrk >/dev/null || die "wrk not installed"
[ -x "$BIN" ] || die "no $BIN: make HOOK_PROFILE=1 OUTPUT=.output/hook-profile"
[[ $DUR =~ ^[1-9][0-9]*$ ]] || die "bad SECONDS '$DUR'"
front() { case $1 in chain) echo nginx ;; thrift) echo tfront ;; mc) echo m5 ;; *) echo "$1" ;; esac; }
TMP=$(mktemp -d)
TP=""
cleanup() {
	[ -n "$TP" ] && kill -INT "$TP" 2>/dev/null && wait "$TP" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
GW=$($TB gateway)
# shellcheck disable=SC2086 # HP_NAMES: a list, split on purpose
$TB pids ${HP_NAMES:-} >"$TMP/pids" 2>/dev/null || die "no PIDs file: is the test bed up?"


for m in ${MODELS:-asgi}; do
	addr=$($TB addr "$(front "$m")" 2>/dev/null) || die "the test bed knows no model '$m'"
	rm -f "$TMP/t.err"
	COUNTERS=0
	# shellcheck disable=SC2086 # HP_ARGS: options, split on purpose
	"$BIN" -g "$GW" -i "$TMP/pids" --bpf-stats ${HP_ARGS:-} --json -o /dev/null 2>"$TMP/t.err" &
	TP=$!
	deadline=$((SECONDS + TRACER_TIMEOUT))
	until grep -q ': tracing ' "$TMP/t.err" 2>/dev/null; do
		kill -0 "$TP" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ] ||
			{ tail -3 "$TMP/t.err" >&2; die "krtrace-bpf did not start"; }
		sleep 0.05
	done
	[ "$WARM" -gt 0 ] && wrk -t1 -c"$CONN" -d"${WARM}s" "http://$addr/req/prof-$m" >/dev/null 2>&1
	counters_wait
	n=$(wrk -t1 -c"$CONN" -d"${DUR}s" "http://$addr/req/prof-$m" 2>/dev/null |
		awk '/requests in/ {print $1}')
	counters_wait
	kill -INT "$TP" 2>/dev/null
	wait "$TP" 2>/dev/null
	TP=""
	grep -q "counters 1 profile" "$TMP/t.err" || die "$BIN prints no profile (not built with HOOK_PROFILE=1)"
	echo "== $m: ${n:-0} requests, wrk -c$CONN ${DUR}s (per request; ns per hit less a mark's price)"
	awk -v n="${n:-0}" '
		$2 == "counters" && $4 == "profile" { k = $5; if ($3 == 1) { h1[k] = $7; t1[k] = $9 } else { h2[k] = $7; t2[k] = $9; order[++nk] = k } }
		$2 == "counters" && $4 == "prog" { k = $5; if ($3 == 1) { p1[k] = $7; q1[k] = $9 } else { p2[k] = $7; q2[k] = $9; porder[++np] = k } }
		END {
			if (n <= 0) { print "  no requests"; exit }
			dh = h2["calib"] - h1["calib"]
			cal = dh > 0 ? (t2["calib"] - t1["calib"]) / dh : 0
			printf "  %-14s %9s %8s %8s\n", "segment", "hits/req", "ns/hit", "us/req"
			for (i = 1; i <= nk; i++) {
				k = order[i]; h = h2[k] - h1[k]; t = t2[k] - t1[k]
				if (h <= 0 || k == "calib") continue
				printf "  %-14s %9.2f %8.1f %8.2f\n", k, h / n, t / h - cal, (t - h * cal) / n / 1000
			}
			printf "  %-14s %9s %8.1f   (a mark: clock read and call)\n", "calib", "", cal
			for (i = 1; i <= np; i++) {
				k = porder[i]; h = p2[k] - p1[k]; t = q2[k] - q1[k]
				if (h > 0 && t > 0)
					printf "  prog %-16s %6.2f hits/req %7.1f ns/hit (marks included)\n", k, h / n, t / h
			}
		}' "$TMP/t.err"
done
