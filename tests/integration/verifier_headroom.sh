#!/usr/bin/env bash
# The verifier's headroom (docs/design.md "Verifier headroom"): krtrace-bpf
# --debug verifier-stats loads the programs and prints the instructions the
# verifier processed for each. On the two configurations nearest the
# 1,000,000 limit (socket hooks and the syscall-exit fallback, both with
# --sample 10 and the TCP option), every loaded program has a count, and
# the transfer programs stay under HEADROOM (800000): a BPF change that
# brings one near the limit fails here, with its count, before a
# configuration stops loading.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
OUT=${OUTPUT:-.output}
BPF=$OUT/bin/krtrace-bpf
HEADROOM=${KRT_VERIFIER_HEADROOM:-800000}

need_root
[ -x "$BPF" ] || skip_suite "krtrace-bpf not built"
[ -e /sys/kernel/btf/vmlinux ] || skip_suite "kernel without BTF"

tmp=$(mktemp -d)
trap 'drop_tmp "$tmp"' EXIT

# stats NAME OPTIONS...: one load; the program lines in $tmp/NAME
stats() {
	local name=$1
	shift
	if ! "$BPF" --gateway 10.255.255.1 --peers 10.254.0.0/16 \
		--tcp-option-cgroup /sys/fs/cgroup/unified "$@" --debug verifier-stats \
		>"$tmp/$name" 2>"$tmp/$name.err"; then
		not_ok "$name: the programs load" "$(tail -n 3 "$tmp/$name.err")"
		return 1
	fi
	ok "$name: the programs load"
	check "$name: a count for every program" \
		awk 'NF < 3 || $3 !~ /^[0-9]+$/ { bad = 1 } END { exit bad || NR < 5 }' "$tmp/$name"
}

# under NAME PROG: PROG's count is printed and under the headroom
under() {
	local n
	n=$(awk -v p="$2" '$1 == p { print $3 }' "$tmp/$1")
	if [ -n "$n" ] && [ "$n" -lt "$HEADROOM" ]; then
		ok "$1: $2 takes $n of the verifier's 1000000 instructions (< $HEADROOM)"
	else
		not_ok "$1: $2 takes ${n:-no count} instructions, not under $HEADROOM" \
			"split it (docs/design.md \"Verifier headroom\")"
	fi
}

if stats sockets --sample 10; then
	under sockets krt_sock_send
	under sockets krt_sock_recv
fi
if stats syscall-hooks --syscall-hooks --sample 10; then
	under syscall-hooks krt_sys_exit
	check "syscall-hooks: the socket hooks are not loaded" \
		bash -c "! grep -Eq '^krt_sock_(send|recv) ' '$tmp/syscall-hooks'"
fi
