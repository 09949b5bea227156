#!/usr/bin/env bash
# Import of a real capture with ground truth from the applications' own logs:
# tests/fixtures/gthread-wrk (nginx -> threaded Python WSGI app -> redis,
# memcached under wrk; see its README.md). Scored with the data set's own
# scorer (score.py, its docstring says what exact means).
#  - the trace.dat itself (libtracecmd, no text step) and the import format
#    (trace-cmd report -R text) are each at least MIN_EXACT exact (99.9 %), and
#    no unreported loss is claimed (the capture lost no event);
#  - the same records in the three text forms krtrace reads (forms/: -R,
#    trace-cmd report without -R, the kernel's trace text; a slice of the
#    capture, made by make_forms.sh) give identical traces, with no line
#    malformed or unknown;
#  - bad input: a truncated trace.dat and a file that is no capture are
#    refused with a message naming the file, exit status 1.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
OUT=${OUTPUT:-.output}
KRTRACE=$OUT/bin/krtrace
FX=tests/fixtures/gthread-wrk
MIN_EXACT=${KRT_GTHREAD_MIN:-0.999}
"$KRTRACE" --version >/dev/null 2>&1 || skip_suite "krtrace not built"
[ -f "$FX/trace.dat.xz" ] || skip_suite "$FX missing"
command -v python3 >/dev/null || skip_suite "python3 not installed (the scorer)"
command -v xz >/dev/null || skip_suite "xz not installed"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=(-i "$FX/pids.txt" -g 172.24.0.1 --json)

xz -dc "$FX/trace.dat.xz" >"$tmp/trace.dat"

score() { # NAME RESULT.jsonl ERR
	python3 "$FX/score.py" "$FX/truth.jsonl.gz" "$2" --pids "$FX/pids.txt" \
		--tids "$FX/tids.txt" --min-exact "$MIN_EXACT" >"$tmp/$1.score" 2>&1
	local rc=$? fig
	fig=$(tail -n 1 "$tmp/$1.score" | grep -oE 'exact=[0-9.]+')
	sed 's/^/# /' "$tmp/$1.score" | grep -vE '^# summary:'
	check "$1: ${fig:-no figure} >= $MIN_EXACT (score.py)" test "$rc" -eq 0
	check "$1: no unreported loss claimed (the capture lost none)" \
		sh -c "! grep -q 'did not match up' '$3'"
}

if "$KRTRACE" "${args[@]}" "$tmp/trace.dat" >"$tmp/dat.jsonl" 2>"$tmp/dat.err"; then
	ok "trace.dat read directly: exits 0"
	score trace.dat "$tmp/dat.jsonl" "$tmp/dat.err"
else
	not_ok "trace.dat read directly: exits 0" "$(head -c 300 "$tmp/dat.err")"
fi
if zcat "$FX/report.txt.gz" | "$KRTRACE" "${args[@]}" >"$tmp/txt.jsonl" 2>"$tmp/txt.err"; then
	ok "report -R text: exits 0"
	score report.txt "$tmp/txt.jsonl" "$tmp/txt.err"
else
	not_ok "report -R text: exits 0" "$(head -c 300 "$tmp/txt.err")"
fi

# The three text forms of one slice of the capture: identical traces.
for form in raw plain kernel; do
	xz -dc "$FX/forms/$form.txt.xz" | "$KRTRACE" "${args[@]}" >"$tmp/$form.jsonl" 2>"$tmp/$form.err"
	grep -v '"summary"' "$tmp/$form.jsonl" >"$tmp/$form.traces"
	check "$form form: $(wc -l <"$tmp/$form.traces") traces, no malformed line, no unknown event" \
		grep -q '"malformed":0,"unknown_events":0,' "$tmp/$form.jsonl"
done
check "raw form: the slice holds requests (more than 500 traces)" \
	test "$(wc -l <"$tmp/raw.traces")" -gt 500
check "trace-cmd report without -R: the same traces as with -R" cmp -s "$tmp/raw.traces" "$tmp/plain.traces"
check "the kernel's trace text: the same traces as trace-cmd report -R" \
	cmp -s "$tmp/raw.traces" "$tmp/kernel.traces"

# Bad input.
head -c 1000000 "$tmp/trace.dat" >"$tmp/cut.dat"
timeout 20 "$KRTRACE" "${args[@]}" "$tmp/cut.dat" >/dev/null 2>"$tmp/cut.err"
rc=$?
check "truncated trace.dat: exit 1, message names the file and says why ($(head -n 1 "$tmp/cut.err"))" \
	sh -c "[ $rc -eq 1 ] && grep -q 'cut.dat: trace.dat cannot be read: truncated' '$tmp/cut.err'"
head -c 3 "$tmp/trace.dat" >"$tmp/cut3.dat"
timeout 20 "$KRTRACE" "${args[@]}" "$tmp/cut3.dat" >/dev/null 2>"$tmp/cut3.err"
rc=$?
check "trace.dat cut inside its magic: exit 1, named as a truncated trace.dat" \
	sh -c "[ $rc -eq 1 ] && grep -q 'cut3.dat: trace.dat cannot be read' '$tmp/cut3.err'"
head -c 200000 "$OUT/bin/krtrace" >"$tmp/notatrace.bin"
timeout 20 "$KRTRACE" "${args[@]}" "$tmp/notatrace.bin" >/dev/null 2>"$tmp/bin.err"
rc=$?
check "a file that is no capture: exit 1, message names the file ($(tail -n 1 "$tmp/bin.err" | cut -c1-80)...)" \
	sh -c "[ $rc -eq 1 ] && grep -q 'notatrace.bin: no events of the contract' '$tmp/bin.err'"
