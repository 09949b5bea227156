#!/usr/bin/env bash
# Lost events on the import path: a contiguous block of a real capture
# (tests/fixtures/*/report.txt.gz) is cut out, as a ring-buffer overrun
# loses it, once silently (the import format's `grep -v ^cpu` removes
# trace-cmd's drop markers) and once with a loss marker line in its place
# ("CPU:0 [LOST n EVENTS]" and trace-cmd report's "CPU:0 [n EVENTS
# DROPPED]"). Keep-alive connections' byte offsets (running counts on
# import) are then off by what was lost; the engine must re-align, so that
# the requests the gap does not touch (their client window lies outside it)
# stay exact: at least FLOOR % of them (models whose score_args floor is 0,
# i.e. measured only, are left out), and the loss must be shown in the
# summary and on stderr, never silent.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
OUT=${OUTPUT:-.output}
KRTRACE=$OUT/bin/krtrace
SCORE=$OUT/tools/krt_score
FLOOR=${KRT_LOST_FLOOR:-95}
CUT=${KRT_LOST_CUT:-400}
[ -x "$SCORE" ] || skip_suite "krt_score not built"
"$KRTRACE" --version >/dev/null 2>&1 || skip_suite "krtrace not built"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Nanosecond timestamp of report line $2 of file $1.
line_ns() {
	sed -n "$2p" "$1" | grep -oE '\] +[0-9]+\.[0-9]+:' | grep -oE '[0-9]+\.[0-9]+' |
		awk '{ split($1, p, "."); printf "%s%s\n", p[1], substr(p[2] "000000000", 1, 9) }'
}

# exact_untouched TRUTH SCOREV GAP_START GAP_END EXCLUDED_MODELS -> "exact total"
exact_untouched() {
	awk -v gs="$3" -v ge="$4" -v excl=" $5 " '
		FNR == NR {
			# an incomplete trace that is not right counts as flagged in
			# krt_score; not here: a request the gap did not touch must be exact
			if ($2 == "wrong" || $2 == "missing" || /uncertain \(incomplete: .*not right$/) {
				sub(/:$/, "", $1); bad[$1] = 1
			}
			next
		}
		/"svc":"client"/ {
			match($0, /"id":"[^"]*"/); id = substr($0, RSTART + 6, RLENGTH - 7)
			match($0, /"start_ns":[0-9]+/); s = substr($0, RSTART + 11, RLENGTH - 11)
			match($0, /"end_ns":[0-9]+/); e = substr($0, RSTART + 9, RLENGTH - 9)
			m = id; sub(/^[^-]*-/, "", m); sub(/-.*/, "", m)
			if (index(excl, " " m " ")) next
			if (length(s) == length(ge) ? s <= ge : length(s) < length(ge))
				if (length(e) == length(gs) ? e >= gs : length(e) > length(gs))
					next	# touched by the gap
			total++; if (!(id in bad)) exact++
		}
		END { print exact + 0, total + 0 }' "$2" "$1"
}

n=0
for name in testbed_all chain; do
	dir=tests/fixtures/$name
	[ -f "$dir/report.txt.gz" ] && [ -f "$dir/truth.jsonl" ] && [ -f "$dir/pids.txt" ] || continue
	n=$((n + 1))
	gw=172.24.0.1
	[ -f "$dir/gateway" ] && gw=$(cat "$dir/gateway")
	# measured-only models (a 0 floor in score_args) are not asserted here either
	excluded=$(grep -oE 'min-model [a-z0-9]+=0( |$)' "$dir/score_args" 2>/dev/null |
		sed -E 's/min-model ([a-z0-9]+)=0 ?/\1/' | tr '\n' ' ')
	zcat "$dir/report.txt.gz" >"$tmp/full.txt"
	lines=$(wc -l <"$tmp/full.txt")
	first=$((lines / 2)) last=$((lines / 2 + CUT - 1))
	gs=$(line_ns "$tmp/full.txt" $((first - 1)))
	ge=$(line_ns "$tmp/full.txt" $((last + 1)))
	sed "${first},${last}d" "$tmp/full.txt" >"$tmp/silent.txt"
	sed "${first},${last}c\\CPU:0 [LOST $CUT EVENTS]" "$tmp/full.txt" >"$tmp/lost.txt"
	sed "${first},${last}c\\CPU:0 [$CUT EVENTS DROPPED]" "$tmp/full.txt" >"$tmp/dropped.txt"
	for kind in silent lost dropped; do
		what="$name, $CUT of $lines lines cut at the middle ($kind)"
		if ! "$KRTRACE" -i "$dir/pids.txt" -g "$gw" --json <"$tmp/$kind.txt" \
			>"$tmp/$kind.jsonl" 2>"$tmp/$kind.err"; then
			not_ok "$what: krtrace --json exits 0" "$(head -c 300 "$tmp/$kind.err")"
			continue
		fi
		"$SCORE" --truth "$dir/truth.jsonl" --json "$tmp/$kind.jsonl" -v \
			>"$tmp/$kind.score" 2>&1
		read -r exact total < <(exact_untouched "$dir/truth.jsonl" "$tmp/$kind.score" \
			"$gs" "$ge" "$excluded")
		pct=$(awk -v e="$exact" -v t="$total" 'BEGIN { printf "%.1f", t ? 100 * e / t : 0 }')
		check "$what: requests the gap does not touch exact: $exact/$total ($pct %) >= $FLOOR %${excluded:+ (not counted: $excluded)}" \
			awk -v e="$exact" -v t="$total" -v f="$FLOOR" 'BEGIN { exit !(t > 0 && 100 * e >= f * t) }'
		summary=$(tail -n 1 "$tmp/$kind.jsonl")
		resyncs=$(echo "$summary" | grep -oE '"resyncs":[0-9]+' | cut -d: -f2)
		lost=$(echo "$summary" | grep -oE '\},"lost":[0-9]+' | cut -d: -f2)
		silent=$(echo "$summary" | grep -oE '"silent_losses":[0-9]+' | cut -d: -f2)
		check "$what: summary counts the re-alignments (resyncs $resyncs)" \
			test "${resyncs:-0}" -gt 0
		if [ "$kind" = silent ]; then
			check "$what: summary counts an unreported loss (silent_losses $silent)" \
				test "${silent:-0}" -gt 0
			check "$what: stderr warns of the unreported loss" \
				grep -q "WARNING: bytes on connections did not match up" "$tmp/$kind.err"
			marked=$(grep -c '"incomplete":\[[^]]*"unreported_loss"' "$tmp/$kind.jsonl")
			check "$what: the traces around it say incomplete, unreported_loss ($marked)" \
				test "$marked" -gt 0
		else
			check "$what: summary counts the $CUT lost events (lost $lost)" \
				test "${lost:-0}" -eq "$CUT"
			check "$what: stderr warns of the lost events" \
				grep -q "WARNING: $CUT events lost" "$tmp/$kind.err"
			marked=$(grep -c '"incomplete":\[[^]]*"lost_events"' "$tmp/$kind.jsonl")
			check "$what: the traces around it say incomplete, lost_events ($marked)" \
				test "$marked" -gt 0
		fi
	done
	# The clean capture needs no re-alignment: the detectors do not fire.
	"$KRTRACE" -i "$dir/pids.txt" -g "$gw" --json <"$tmp/full.txt" >"$tmp/full.jsonl" 2>/dev/null
	summary=$(tail -n 1 "$tmp/full.jsonl")
	check "$name, whole capture: no resyncs, no unreported loss" \
		grep -qE '"resyncs":0,"silent_losses":0' <<<"$summary"
done
[ "$n" -gt 0 ] || skip_suite "no fixtures (tests/fixtures/testbed_all, chain)"
