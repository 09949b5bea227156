#!/usr/bin/env bash
# The files kept in .clang-format's style (Makefile FORMAT_FILES) stay so:
# `make format-check`, here too so that a change is told before it lands
# (`make format` fixes them).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
command -v "${CLANG_FORMAT:-clang-format}" >/dev/null || skip_suite "clang-format not installed"
where=$(make -s --no-print-directory format-check 2>&1 | grep -oE '^[^ :]+:[0-9]+:[0-9]+: error' |
	cut -d: -f1,2 | sort -u | head -5 | tr '\n' ' ')
check "the files of FORMAT_FILES are in .clang-format's style${where:+ (not: $where; make format)}" \
	test -z "$where"
