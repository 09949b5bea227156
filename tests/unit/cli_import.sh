#!/usr/bin/env bash
# krtrace (import) through the built binary: options, bad input, exit codes.
# Exit codes: 0 ok, 1 unusable input, 2 usage error. Bad input must give a
# message naming the file (and line), never a crash, hang or runaway memory.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
OUT=${OUTPUT:-.output}
KRTRACE=$OUT/bin/krtrace
[ -x "$KRTRACE" ] || skip_suite "krtrace not built"
"$KRTRACE" --version >/dev/null 2>&1 || skip_suite "krtrace is the placeholder main"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Runs krtrace with a 20 s limit and 1 GiB of address space (not for a
# sanitizer build: ASan reserves terabytes of shadow address space); stdout,
# stderr and the exit status land in $tmp/out, $tmp/err, $rc.
VMEM=1048576
grep -q __asan_init "$KRTRACE" && VMEM=unlimited
run() {
	(ulimit -v $VMEM; timeout 20 "$KRTRACE" "$@") >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
}
run_in() { # FILE args...: FILE on stdin
	local f=$1; shift
	(ulimit -v $VMEM; timeout 20 "$KRTRACE" "$@") >"$tmp/out" 2>"$tmp/err" <"$f"
	rc=$?
}
err_has() { grep -qF -- "$1" "$tmp/err"; }
out_has() { grep -qF -- "$1" "$tmp/out"; }

printf '100 web 172.24.0.2 abc\n200 app 172.24.0.3 def\n' >"$tmp/pids.txt"
# A minimal real-looking exchange: the gateway's request received by web[100],
# its reply sent back, and a log-file write that must be ignored.
cat >"$tmp/report.txt" <<'EOF'
version = 6
CPU 1 is empty
cpus=2
           web-100   [000]  10.000100: sys_enter_recvfrom:    __syscall_nr=45 fd=0x00000004 ubuf=0x1 size=0x00002000 flags=0x00000000 addr=0x00000000 addr_len=0x00000000
           web-100   [000]  10.000110: tcp_rcv_space_adjust:  skaddr=0xffff888100000001 sport=80 dport=40000 family=2 saddr=ARRAY[ac,18,00,02] daddr=ARRAY[ac,18,00,01] saddr_v6= daddr_v6= sock_cookie=1a
           web-100   [000]  10.000120: sys_exit_recvfrom:     __syscall_nr=45 ret=0x4f
           web-100   [000]  10.000200: sys_enter_write:       __syscall_nr=1 fd=0x00000003 buf=0x1 count=0x00000010
           web-100   [000]  10.000210: sys_exit_write:        __syscall_nr=1 ret=0x10
           web-100   [000]  10.000300: sys_enter_sendto:      __syscall_nr=44 fd=0x00000004 buff=0x1 len=0x00000064 flags=0x00000000 addr=0x00000000 addr_len=0x00000000
           web-100   [000]  10.000310: tcp_probe:             saddr=ARRAY[02,00,9c,40,ac,18,00,01,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00] daddr=ARRAY[02,00,00,50,ac,18,00,02,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00] sport=40000 dport=80 family=2 mark=0 data_len=100 snd_nxt=0x1 snd_una=0x1 snd_cwnd=10 ssthresh=2147483647 snd_wnd=65536 srtt=10 rcv_wnd=65536 sock_cookie=1b skbaddr=0xffff888100000002 skaddr=0xffff888100000003
           web-100   [000]  10.000320: sys_exit_sendto:       __syscall_nr=44 ret=0x64
           web-100   [000]  10.000400: sched_switch:          prev_comm=web prev_pid=100 prev_prio=120 prev_state=1 next_comm=swapper/0 next_pid=0 next_prio=120
EOF

run --help
check "--help exits 0" test $rc -eq 0
check "--help shows usage and EXAMPLES" bash -c "grep -q '^Usage: krtrace' '$tmp/out' && grep -q '^EXAMPLES:' '$tmp/out' && grep -q -- '--json' '$tmp/out'"
run --version
check "--version prints the version" bash -c "[ $rc -eq 0 ] && grep -qE '^krtrace [0-9]+\.[0-9]+' '$tmp/out'"

run_in "$tmp/report.txt" -i "$tmp/pids.txt" -g 172.24.0.1
check "a good report exits 0" test $rc -eq 0
check "the request is one trace, received by web[100]" bash -c "grep -q 'web/web\[100\]' '$tmp/out'"
run -i "$tmp/pids.txt" -g 172.24.0.1 --json "$tmp/report.txt"
check "FILE argument and --json: one trace and a summary" \
	bash -c "[ $rc -eq 0 ] && [ \$(grep -c '\"trace_id\"' '$tmp/out') -eq 1 ] && grep -q '\"summary\"' '$tmp/out'"
check "--json: the hop back to the gateway has the reply's 100 bytes" \
	bash -c "grep '\"trace_id\"' '$tmp/out' | grep -q '\"to_addr\":\"172.24.0.1:40000\",\"bytes\":100'"
run_in "$tmp/report.txt" -i "$tmp/pids.txt" -g 172.24.0.1 -
check "'-' reads stdin" test $rc -eq 0

# Usage errors: exit 2.
run -i "$tmp/pids.txt" -g 300.1.2.3 "$tmp/report.txt"
check "bad gateway: exit 2 and names the value" bash -c "[ $rc -eq 2 ] && grep -q \"'300.1.2.3'\" '$tmp/err'"
run -i "$tmp/pids.txt" "$tmp/report.txt"
check "missing gateway: exit 2" bash -c "[ $rc -eq 2 ] && grep -q -- '--gateway' '$tmp/err'"
run -g 172.24.0.1 "$tmp/report.txt"
check "missing PIDs file option: exit 2" bash -c "[ $rc -eq 2 ] && grep -q -- '--pids' '$tmp/err'"
run -i "$tmp/pids.txt" -g 172.24.0.1 --no-such-option
check "unknown option: exit 2" test $rc -eq 2
run -i "$tmp/pids.txt" -g 172.24.0.1 a b
check "two input files: exit 2" test $rc -eq 2

# Unusable input: exit 1, with the file (and line) named.
printf '100 web 172.24.0.2 abc\n200 app 172.24.0.3 def\nx app 172.24.0.4 h\n' >"$tmp/badpids.txt"
run -i "$tmp/badpids.txt" -g 172.24.0.1 "$tmp/report.txt"
check "bad PIDs line: exit 1 with FILE:LINE and the bad value" \
	bash -c "[ $rc -eq 1 ] && grep -qF \"krtrace: $tmp/badpids.txt:3: bad PID 'x'\" '$tmp/err'"
run -i "$tmp/nonexistent.txt" -g 172.24.0.1 "$tmp/report.txt"
check "missing PIDs file: exit 1 with strerror" \
	bash -c "[ $rc -eq 1 ] && grep -qF '$tmp/nonexistent.txt: No such file or directory' '$tmp/err'"
run -i "$tmp/pids.txt" -g 172.24.0.1 "$tmp/nonexistent-report.txt"
check "missing report file: exit 1 with strerror" \
	bash -c "[ $rc -eq 1 ] && grep -qF 'nonexistent-report.txt: No such file or directory' '$tmp/err'"
run -i "$tmp/pids.txt" -g 172.24.0.1 "$tmp"
check "a directory as input: exit 1 with the cause" \
	bash -c "[ $rc -eq 1 ] && grep -qF 'Is a directory' '$tmp/err'"
: >"$tmp/empty.txt"
run_in "$tmp/empty.txt" -i "$tmp/pids.txt" -g 172.24.0.1
check "empty input: exit 1, '<stdin>: empty input, no events'" \
	bash -c "[ $rc -eq 1 ] && grep -qF 'krtrace: <stdin>: empty input, no events' '$tmp/err'"
run -i "$tmp/pids.txt" -g 172.24.0.1 "$tmp/empty.txt"
check "empty file: the message names the file" \
	bash -c "[ $rc -eq 1 ] && grep -qF '$tmp/empty.txt: empty input' '$tmp/err'"
run -i "$tmp/pids.txt" -g 172.24.0.1 -o /nonexistent-dir/out.txt "$tmp/report.txt"
check "unwritable -o: exit 1 naming the file" \
	bash -c "[ $rc -eq 1 ] && grep -qF '/nonexistent-dir/out.txt' '$tmp/err'"

# Garbage bytes: no crash, malformed lines counted, the first ones reported.
head -c 100000 /dev/urandom >"$tmp/garbage.bin"
run_in "$tmp/garbage.bin" -i "$tmp/pids.txt" -g 172.24.0.1
check "garbage bytes: no crash, exit 1 (no events)" test $rc -eq 1
check "garbage bytes: malformed lines reported as <stdin>:LINE: cause" \
	bash -c "grep -qE '^<stdin>:[0-9]+: ' '$tmp/err' && [ \$(grep -E '^<stdin>:[0-9]+: ' '$tmp/err' | grep -cv 'last line cut') -le 5 ]"
check "garbage bytes: the count is said" err_has "malformed lines"

# Garbage mixed into a good report: the events still count, malformed counted.
# (its first byte fixed: a random '#' made it a comment line, skipped unreported)
{ head -n 6 "$tmp/report.txt"; printf 'x'; head -c 3000 /dev/urandom | tr -d '\n'; echo; tail -n +7 "$tmp/report.txt"; } >"$tmp/mixed.txt"
run -i "$tmp/pids.txt" -g 172.24.0.1 --json "$tmp/mixed.txt"
check "garbage line inside a report: exit 0, still one trace" \
	bash -c "[ $rc -eq 0 ] && [ \$(grep -c '\"trace_id\"' '$tmp/out') -eq 1 ]"
check "garbage line inside a report: reported with its line number" \
	err_has "$tmp/mixed.txt:7: "

# A truncated last line (capture cut mid-write) and a truncated ARRAY.
{ cat "$tmp/report.txt"; printf '           web-100   [000]  10.000500: sys_enter_recvfrom:    __syscall_nr=45 fd=0x000'; } >"$tmp/trunc.txt"
run -i "$tmp/pids.txt" -g 172.24.0.1 "$tmp/trunc.txt"
check "truncated last line: exit 0" test $rc -eq 0
check "truncated last line: reported with its line, not parsed" \
	err_has "$tmp/trunc.txt:13: last line cut (no newline): not parsed"
{ head -n 4 "$tmp/report.txt"; echo '           web-100   [000]  10.000110: tcp_rcv_space_adjust:  skaddr=0x1 sport=80 dport=40000 family=2 saddr=ARRAY[ac,18'; } >"$tmp/trunc2.txt"
run -i "$tmp/pids.txt" -g 172.24.0.1 "$tmp/trunc2.txt"
check "truncated ARRAY: reported as malformed with its line" err_has "$tmp/trunc2.txt:5: "

# A single 10 MB line without newline: bounded memory, counted once.
head -c 10000000 /dev/zero | tr '\0' 'a' >"$tmp/long.txt"
run -i "$tmp/pids.txt" -g 172.24.0.1 "$tmp/long.txt"
check "10 MB line: no crash, exit 1, 'line too long'" \
	bash -c "[ $rc -eq 1 ] && grep -q 'line too long' '$tmp/err'"

# Lost events are never silent.
{ cat "$tmp/report.txt"; echo "CPU:0 [LOST 42 EVENTS]"; } >"$tmp/lost.txt"
run -i "$tmp/pids.txt" -g 172.24.0.1 "$tmp/lost.txt"
check "lost events: exit 0 and a WARNING with the count" \
	bash -c "[ $rc -eq 0 ] && grep -q 'WARNING: 42 events lost' '$tmp/err'"

# trace-cmd report's own drop marker (when not grepped away) counts too.
{ cat "$tmp/report.txt"; echo "CPU:1 [7 EVENTS DROPPED]"; } >"$tmp/dropped.txt"
run -i "$tmp/pids.txt" -g 172.24.0.1 --json "$tmp/dropped.txt"
check "EVENTS DROPPED marker: counted in the summary and warned" \
	bash -c "[ $rc -eq 0 ] && grep -q '},\"lost\":7,' '$tmp/out' && grep -q 'WARNING: 7 events lost' '$tmp/err'"

# What the import turned into no event is in the summary, not only in -V:
# the log-file write, a pure-ACK tcp_probe, a sys_exit without its entry.
{ grep -v sched_switch "$tmp/report.txt"
  grep tcp_probe "$tmp/report.txt" | sed 's/10.000310/10.000330/; s/data_len=100/data_len=0/'
  echo '           web-100   [000]  10.000340: sys_exit_recvfrom:     __syscall_nr=45 ret=0x10'
  grep sched_switch "$tmp/report.txt"; } >"$tmp/skips.txt"
run -i "$tmp/pids.txt" -g 172.24.0.1 --json "$tmp/skips.txt"
check "JSON summary: input_bytes is the bytes read ($(stat -c %s "$tmp/skips.txt"))" \
	grep -q "\"input_bytes\":$(stat -c %s "$tmp/skips.txt")," "$tmp/out"
check "JSON summary: non_socket_io 1, ack_probes 1, unpaired_syscalls 1, no_address 0" \
	bash -c "[ $rc -eq 0 ] && grep -q '\"non_socket_io\":1,\"ack_probes\":1,\"unpaired_syscalls\":1,\"no_address\":0,' '$tmp/out'"
run -i "$tmp/pids.txt" -g 172.24.0.1 "$tmp/skips.txt"
check "text summary: the skipped lines, by cause" \
	bash -c "grep -qE 'non-socket I/O ignored +1' '$tmp/out' && grep -qE 'ACK-only probes ignored +1' '$tmp/out' && grep -qE 'unpaired syscalls +1' '$tmp/out' && grep -qE 'events without address +0' '$tmp/out'"

# The report without sed (", " separators) parses the same.
sed -E 's/,/, /g' "$tmp/report.txt" >"$tmp/nosed.txt"
run -i "$tmp/pids.txt" -g 172.24.0.1 --json "$tmp/nosed.txt"
check "report not passed through sed: same trace" \
	bash -c "[ $rc -eq 0 ] && grep '\"trace_id\"' '$tmp/out' | grep -q '\"bytes\":100'"

# compare subcommand is reachable.
run -i "$tmp/pids.txt" -g 172.24.0.1 --json -o "$tmp/a.jsonl" "$tmp/report.txt"
run compare "$tmp/a.jsonl" "$tmp/a.jsonl"
check "krtrace compare: a result agrees with itself" test $rc -eq 0
