#!/usr/bin/env bash
# The verifier's work per BPF program (instructions processed, of its limit
# of 1000000) on every configuration of the transfer programs that the
# kernel tests and krtrace-bpf's options load: socket hooks and the
# syscall-exit fallback, each with the default rules, --sample 10,
# --sample-rate, kernel tags without CPU in the kernel (--debug check-tags,
# as the kernel tests' own sources), --no-merge, --rules and the trace
# context in a TCP option (--tcp-option-cgroup, with --sample 10). A BPF change
# that brings a program near the limit shows here before a configuration
# fails to load (docs/design.md "Verifier headroom").
#
# Usage: bench/verifier_stats.sh [KRTRACE_BPF (.output/bin/krtrace-bpf)]
# Env: PROGS (regex of program names printed; default the transfer
#      programs and the sched hooks), CONFIGS (space-separated names of the
#      list below; default all). Root needed (it loads the programs).
# Output: "config program insns" lines, then the largest count per program.
set -u
cd "$(dirname "$0")/.." || exit 1
BIN=${1:-.output/bin/krtrace-bpf}
PROGS=${PROGS:-'^krt_(sock_send|sock_recv|sys_exit|switch|waking|go_selectgo)$'}
declare -A OPTS=(
	[full]=""
	[s10]="--sample 10"
	[rate]="--sample-rate 100"
	[tags]="--debug check-tags"
	[tags-s10]="--debug check-tags --sample 10"
	[nomerge]="--no-merge"
	[rules]="--rules"
	[tcpopt-s10]="--peers 10.254.0.0/16 --tcp-option-cgroup /sys/fs/cgroup/unified --sample 10"
	[sys]="--syscall-hooks"
	[sys-s10]="--syscall-hooks --sample 10"
	[sys-rate]="--syscall-hooks --sample-rate 100"
	[sys-tags]="--syscall-hooks --debug check-tags"
	[sys-tags-s10]="--syscall-hooks --debug check-tags --sample 10"
	[sys-nomerge]="--syscall-hooks --no-merge"
	[sys-rules]="--syscall-hooks --rules"
	[sys-tcpopt-s10]="--syscall-hooks --peers 10.254.0.0/16 --tcp-option-cgroup /sys/fs/cgroup/unified --sample 10"
)
CONFIGS=${CONFIGS:-"full s10 rate tags tags-s10 nomerge rules tcpopt-s10 sys sys-s10 sys-rate sys-tags sys-tags-s10 sys-nomerge sys-rules sys-tcpopt-s10"}
[ -x "$BIN" ] || { echo "verifier_stats.sh: $BIN: not built (make)" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
fail=0
for c in $CONFIGS; do
	# shellcheck disable=SC2086 # options split on purpose
	if ! "$BIN" --gateway 10.255.255.1 ${OPTS[$c]} --debug verifier-stats >"$out.1" 2>&1; then
		echo "$c: FAILED to load:" >&2
		sed 's/^/  /' "$out.1" >&2
		fail=1
	fi
	awk -v c="$c" -v re="$PROGS" '$1 ~ re && $3 ~ /^[0-9]+$/ { print c, $1, $3 }
		$1 ~ re && /Processed/ { print c, $1, "over" }' "$out.1" | tee -a "$out"
done
echo "# largest per program (limit 1000000)"
awk '{ if (!($2 in m) || $3 == "over" || ($3 + 0 > m[$2] + 0 && m[$2] != "over")) { m[$2] = $3; w[$2] = $1 } }
	END { for (p in m) printf "%-16s %8s  (%s)\n", p, m[p], w[p] }' "$out" | sort
rm -f "$out.1"
exit $fail
