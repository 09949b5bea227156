#!/usr/bin/env bash
# The unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer,
# and a short libFuzzer run on the report parser. TAP output.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
command -v clang >/dev/null || skip_suite "clang not installed (needed for sanitizer builds)"

if ! make -s asan >/tmp/krt-asan-build.log 2>&1; then
	not_ok "asan build" "$(tail -n 5 /tmp/krt-asan-build.log | tr '\n' ' ')"
	exit 1
fi
ok "asan+ubsan build"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in .output-asan/tests/test_*; do
	[ -x "$t" ] || continue
	case $(basename "$t") in test_kernel_*) continue ;; esac
	if out=$(CMOCKA_MESSAGE_OUTPUT=TAP "$t" 2>&1) && ! grep -q "^not ok" <<<"$out"; then
		ok "asan $(basename "$t")"
	else
		not_ok "asan $(basename "$t")" "$(grep -m3 -E 'ERROR|not ok|runtime error' <<<"$out" | tr '\n' ' ')"
	fi
done

if [ -f tests/fuzz/fuzz_report_parser.c ]; then
	if make -s fuzz >/tmp/krt-fuzz-build.log 2>&1; then
		corpus=$(mktemp -d)
		cp tests/fuzz/corpus/* "$corpus"/ 2>/dev/null || true
		if .output/fuzz_report_parser -max_total_time=20 -max_len=4096 -timeout=5 \
			"$corpus" >/tmp/krt-fuzz.log 2>&1; then
			ok "libFuzzer report parser 20 s ($(grep -oE '#[0-9]+' /tmp/krt-fuzz.log | tail -n1) runs)"
		else
			not_ok "libFuzzer report parser" "$(grep -m3 -E 'ERROR|SUMMARY' /tmp/krt-fuzz.log | tr '\n' ' ')"
		fi
		rm -rf "$corpus"
	else
		not_ok "fuzz build" "$(tail -n 5 /tmp/krt-fuzz-build.log | tr '\n' ' ')"
	fi
fi
