#!/usr/bin/env bash
# The soak (bench/soak.sh) for 60 s, sampled every 10 s: krtrace-bpf at a
# steady load on the test bed's chain must keep its memory flat (RSS within
# 10 % + 2 MiB of the first interval's sample), the kernel's state tables
# must not grow (64 slots of slack) and nothing may be lost.
cd "$(dirname "$0")/../.."
. tests/lib.sh
OUT=${OUTPUT:-.output}
need_root
[ -x "$OUT/bin/krtrace-bpf" ] && [ -x "$OUT/tools/krt_load" ] || skip_suite "not built"
[ -e /sys/kernel/btf/vmlinux ] || skip_suite "kernel without BTF"
command -v redis-server >/dev/null && command -v nginx >/dev/null ||
	skip_suite "redis-server or nginx not installed"
ip netns list | grep -q "^${KRT_NS_PREFIX:-krt-}nginx\b" && skip_suite "test bed is up (another run?)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
bash bench/soak.sh 60 10 >"$log" 2>&1
rc=$?
sed 's/^/# /' "$log"
check "soak 60 s: memory and kernel tables flat, no loss" \
	bash -c "[ $rc -eq 0 ] && grep -q '^soak: FLAT' '$log'"
check "soak 60 s: the tracer saw requests all along" \
	bash -c "[ \$(awk -F'\t' 'NR > 1 && \$6 > 100' '$log' | wc -l) -ge 5 ]"
