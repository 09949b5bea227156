#!/usr/bin/env bash
# trace.dat import end to end: `krtrace trace.dat` (libtracecmd, no text)
# against the text pipeline `trace-cmd report -R -i trace.dat | krtrace` on
# the same file, both writing --json to /dev/null. The two cases alternate
# within each round (the machine is shared: a round's ratio is what is
# compared, see bench/README); prints each case's median wall and CPU time
# (user + sys of every process of the case) and the median of the per-round
# ratios. Also the pipeline through `trace-cmd report` without -R.
# Target (issue 16): the direct path at least 4x faster than the -R pipeline.
#
# Usage: bench/bench_tracedat.sh [ROUNDS]          (default 7)
# Env:   DAT=path/to/trace.dat[.xz] PIDS=path/to/pids.txt GATEWAY=IP
#        NICE=-10: run both cases at that priority (root), so that other load on a shared
#        machine takes less of their CPU: wall time then says what an idle machine does
#        (the pipeline's two processes run on two cores at once).
set -eu
cd "$(dirname "$0")/.."
OUT=${OUTPUT:-.output}
ROUNDS=${1:-7}
DAT=${DAT:-tests/fixtures/gthread-wrk/trace.dat.xz}
PIDS=${PIDS:-tests/fixtures/gthread-wrk/pids.txt}
GATEWAY=${GATEWAY:-172.24.0.1}
KRTRACE=$OUT/bin/krtrace
command -v trace-cmd >/dev/null || { echo "bench_tracedat: trace-cmd not installed" >&2; exit 1; }

make -s "$KRTRACE"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
case $DAT in
*.xz) xz -dc "$DAT" >"$tmp/trace.dat" ;;
*) cp "$DAT" "$tmp/trace.dat" ;;
esac
cat "$tmp/trace.dat" >/dev/null
export KRTRACE PIDS GATEWAY DATFILE="$tmp/trace.dat"

# time_case NAME CMD: appends "wall_ns cpu_ns" to $tmp/NAME
time_case() {
	local t0 t1
	t0=$(date +%s%N)
	/usr/bin/time -f '%U %S' -o "$tmp/time" nice -n "${NICE:-0}" bash -c "$2" >/dev/null 2>"$tmp/err" ||
		{ echo "bench_tracedat: $1 failed:" >&2; cat "$tmp/err" >&2; exit 1; }
	t1=$(date +%s%N)
	awk -v w=$((t1 - t0)) '{ printf "%.0f %.0f\n", w, ($1 + $2) * 1e9 }' "$tmp/time" >>"$tmp/$1"
}
direct='"$KRTRACE" -i "$PIDS" -g "$GATEWAY" --json "$DATFILE"'
pipe_raw='trace-cmd report -R -i "$DATFILE" 2>/dev/null | "$KRTRACE" -i "$PIDS" -g "$GATEWAY" --json'
pipe_plain='trace-cmd report -i "$DATFILE" 2>/dev/null | "$KRTRACE" -i "$PIDS" -g "$GATEWAY" --json'
for ((i = 0; i < ROUNDS; i++)); do
	time_case direct "$direct"
	time_case raw "$pipe_raw"
	time_case plain "$pipe_plain"
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "trace.dat: $(stat -c %s "$tmp/trace.dat") bytes, $ROUNDS rounds (cases alternating)"
for c in direct raw plain; do
	w=$(cut -d' ' -f1 "$tmp/$c" | median)
	u=$(cut -d' ' -f2 "$tmp/$c" | median)
	awk -v c="$c" -v w="$w" -v u="$u" 'BEGIN { printf "  %-7s wall %6.3f s  cpu %6.3f s\n", c, w / 1e9, u / 1e9 }'
done
for c in raw plain; do
	r=$(paste -d' ' "$tmp/$c" "$tmp/direct" | awk '{ print $1 / $3 }' | median)
	rc=$(paste -d' ' "$tmp/$c" "$tmp/direct" | awk '{ print $2 / $4 }' | median)
	printf '  %s pipeline / direct: %.1fx wall, %.1fx cpu (median of per-round ratios)\n' "$c" "$r" "$rc"
done
