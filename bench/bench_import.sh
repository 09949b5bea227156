#!/usr/bin/env bash
# Import throughput: `krtrace` on a large realistic report (tens of MB, made by
# bench/gen_report.py from a committed real capture), in MB/s, and against
# `wc -l` on the same file in the same run (the floor: reading the bytes).
# Target (SPEC §7, issue 2): >= 250 MB/s. The file is read from the page cache
# (one warm-up read first); each figure is the best of RUNS runs.
#
# Usage: bench/bench_import.sh [SIZE_MB] [RUNS]     (defaults 100 and 5)
# Env:   BASE=path/to/report.txt[.gz] PIDS=path/to/pids.txt GATEWAY=IP
set -eu
cd "$(dirname "$0")/.."
OUT=${OUTPUT:-.output}
SIZE_MB=${1:-100}
RUNS=${2:-5}
BASE=${BASE:-tests/fixtures/models/report.txt.gz}
PIDS=${PIDS:-tests/fixtures/models/pids.txt}
GATEWAY=${GATEWAY:-$(cat "$(dirname "$BASE")/gateway" 2>/dev/null || echo 172.24.0.1)}
KRTRACE=$OUT/bin/krtrace

make -s "$KRTRACE"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 bench/gen_report.py -i "$BASE" -s "$SIZE_MB" -o "$tmp/report.txt" \
	-p "$PIDS" -P "$tmp/pids.txt"
bytes=$(stat -c %s "$tmp/report.txt")
lines=$(wc -l <"$tmp/report.txt")
cat "$tmp/report.txt" >/dev/null

# best_of NAME CMD...: prints "seconds" of the fastest of RUNS runs.
best_of() {
	local best="" t0 t1 dt i
	for ((i = 0; i < RUNS; i++)); do
		t0=$(date +%s%N)
		"$@" >/dev/null 2>"$tmp/err" || { echo "bench_import: $* failed:" >&2; cat "$tmp/err" >&2; exit 1; }
		t1=$(date +%s%N)
		dt=$((t1 - t0))
		if [ -z "$best" ] || [ "$dt" -lt "$best" ]; then best=$dt; fi
	done
	echo "$best"
}
row() { # NAME NS
	awk -v name="$1" -v ns="$2" -v bytes="$bytes" -v wc="$wc_ns" 'BEGIN {
		s = ns / 1e9
		printf "  %-34s %8.3f s %9.0f MB/s %8.1fx wc -l time\n", name, s, bytes / 1e6 / s, ns / wc
	}'
}

wc_ns=$(best_of wc -l "$tmp/report.txt")
text_ns=$(best_of "$KRTRACE" -i "$tmp/pids.txt" -g "$GATEWAY" -o /dev/null "$tmp/report.txt")
json_ns=$(best_of "$KRTRACE" -i "$tmp/pids.txt" -g "$GATEWAY" --json -o /dev/null "$tmp/report.txt")
stdin_ns=$(best_of sh -c "\"$KRTRACE\" -i \"$tmp/pids.txt\" -g $GATEWAY -o /dev/null <\"$tmp/report.txt\"")

printf 'import throughput: %.1f MB, %d lines (from %s), best of %d, %d CPUs\n' \
	"$(awk -v b="$bytes" 'BEGIN { print b / 1e6 }')" "$lines" "$BASE" "$RUNS" "$(nproc)"
row "wc -l" "$wc_ns"
row "krtrace FILE (text)" "$text_ns"
row "krtrace FILE --json" "$json_ns"
row "krtrace < FILE (stdin, text)" "$stdin_ns"
awk -v ns="$text_ns" -v bytes="$bytes" 'BEGIN {
	mbs = bytes / 1e6 / (ns / 1e9)
	printf "target >= 250 MB/s: %s (%.0f MB/s)\n", (mbs >= 250 ? "met" : "NOT met"), mbs
}'
