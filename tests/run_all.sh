#!/usr/bin/env bash
# Runs every test suite and ends with one line "N passed, N failed".
#
# Protocol: every suite prints TAP lines ("ok N - name", "not ok N - name").
# cmocka binaries do so with CMOCKA_MESSAGE_OUTPUT=TAP; shell suites use
# tests/lib.sh. A suite that cannot run prints "# SKIP reason" and is
# reported as skipped with its reason; a suite that crashes or exits non-zero
# without a failing line counts as one failure. Lines "# why: ..." of a suite
# are shown with its TAP lines, passing or not (what CI's log should keep).
#
# Usage: tests/run_all.sh [unit|sanitize|kernel|integration ...]
set -u
cd "$(dirname "$0")/.."
OUT=${OUTPUT:-.output}
export CMOCKA_MESSAGE_OUTPUT=TAP
suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(unit sanitize kernel integration)

passed=0 failed=0 skipped=()

# `make` builds the two programs only: the suites' programs (tests, services,
# tools) are built here, so that `make && tests/run_all.sh` runs them fresh
# (a no-op under `make test`). KRT_NO_BUILD=1 runs what is there.
if [ -z "${KRT_NO_BUILD:-}" ] && [ -f Makefile ] && command -v make >/dev/null; then
	if ! make -s --no-print-directory -j"$(nproc)" OUTPUT="$OUT" tests; then
		echo "not ok - make tests failed: the suites would run stale programs"
		failed=1
	fi
fi
run_suite() { # kind name command...
	local kind=$1 name=$2; shift 2
	local log rc p f
	log=$(mktemp)
	echo "=== [$kind] $name"
	# a hung suite fails (status 124) instead of holding CI until its limit
	timeout -k 10 "${KRT_SUITE_TIMEOUT:-900}" "$@" >"$log" 2>&1
	rc=$?
	# a test that skips itself ("# SKIP" after its number; cmocka prints
	# "not ok N # SKIP") is neither passed nor failed: listed with its reason
	p=$(grep -E '^ok [0-9]+' "$log" | grep -cvE '^ok [0-9]+ # SKIP')
	f=$(grep -E '^not ok [0-9]+' "$log" | grep -cvE '^not ok [0-9]+ # SKIP')
	while IFS= read -r line; do
		skipped+=("$kind/$name: ${line#*# SKIP }")
	done < <(grep -E '^(not )?ok [0-9]+ # SKIP' "$log")
	if grep -qE '^# SKIP' "$log" && [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		skipped+=("$kind/$name: $(grep -m1 -E '^# SKIP' "$log" | sed 's/^# SKIP *//')")
		grep -m1 -E '^# SKIP' "$log"
	else
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			echo "not ok - $name exited with status $rc"
			f=1
		fi
		# "# why: ..." lines: what a passing suite wants in CI's log all the same
		grep -E '^(ok|not ok) |^# why: ' "$log" | sed 's/^/    /'
		if [ "$f" -ne 0 ]; then
			echo "--- output of $name:"
			tail -n 60 "$log"
		fi
	fi
	passed=$((passed + p)) failed=$((failed + f))
	rm -f "$log"
}

for s in "${suites[@]}"; do
	case $s in
	unit)
		for t in "$OUT"/tests/test_*; do
			[ -x "$t" ] || continue
			case $(basename "$t") in test_kernel_*) continue ;; esac
			run_suite unit "$(basename "$t")" "$t"
		done
		for t in tests/unit/*.sh; do
			[ -f "$t" ] && run_suite unit "$(basename "$t")" bash "$t"
		done
		;;
	sanitize)
		run_suite sanitize sanitizers bash tests/sanitize.sh
		;;
	kernel)
		for t in "$OUT"/tests/test_kernel_*; do
			[ -x "$t" ] && run_suite kernel "$(basename "$t")" "$t"
		done
		;;
	integration)
		for t in tests/integration/*.sh; do
			[ -f "$t" ] && run_suite integration "$(basename "$t")" bash "$t"
		done
		;;
	esac
done

for s in "${skipped[@]+"${skipped[@]}"}"; do echo "SKIPPED $s"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
