#!/usr/bin/env python3
"""Large synthetic-but-realistic `trace-cmd report -R` text for the import benchmark.

Replicates a real capture (default: tests/fixtures/models/report.txt.gz) until the
output reaches the requested size. Each copy is renumbered so that it is a new
stretch of the same workload, not a repeat: thread ids (the COMM-TID column and
every pid field) are shifted by a per-copy stride, timestamps continue after
the previous copy, and client (ephemeral) ports in sport/dport and in the ARRAY
sockaddrs are shifted so that connections are new.

Usage: gen_report.py [-i REPORT(.gz)] [-s MB] [-o OUT] [-p PIDS -P PIDS_OUT]
(OUT default: stdout). With -p/-P, the PIDs file is replicated the same way, so
that every copy's processes are known containers.
"""
import argparse
import gzip
import re
import sys

TID_RE = re.compile(r'^(.*?-)(\d+)(\s+(?:\(\s*\d+\)\s+)?\[\d+\]\s+)(\d+)\.(\d+)(:.*)$')
PID_FIELD_RE = re.compile(r'\b(prev_pid|next_pid|pid|parent_pid|child_pid)=(\d+)')
PORT_FIELD_RE = re.compile(r'\b(sport|dport)=(\d+)')
SOCKADDR_RE = re.compile(r'ARRAY\[02,00,([0-9a-f]{2}),([0-9a-f]{2}),')
EPHEMERAL = 32768


def shift_port(p, k):
    if p < EPHEMERAL:
        return p
    return EPHEMERAL + (p - EPHEMERAL + k * 97) % (65536 - EPHEMERAL)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('-i', '--input', default='tests/fixtures/models/report.txt.gz')
    ap.add_argument('-s', '--size-mb', type=float, default=100.0)
    ap.add_argument('-o', '--output', default='-')
    ap.add_argument('-p', '--pids', help='PIDs file of the input capture')
    ap.add_argument('-P', '--pids-out', help='where to write the replicated PIDs file')
    a = ap.parse_args()

    opener = gzip.open if a.input.endswith('.gz') else open
    with opener(a.input, 'rt', errors='replace') as f:
        lines = [l.rstrip('\n') for l in f]
    parsed = []
    max_tid, first_ts, last_ts = 0, None, 0
    for l in lines:
        m = TID_RE.match(l)
        if not m:
            continue
        tid = int(m.group(2))
        ts = int(m.group(4)) * 1000000 + int(m.group(5).ljust(6, '0')[:6])
        max_tid = max(max_tid, tid)
        first_ts = ts if first_ts is None else first_ts
        last_ts = max(last_ts, ts)
        parsed.append((m.group(1), tid, m.group(3), ts, m.group(6)))
    if not parsed:
        sys.exit('gen_report: no event lines in %s' % a.input)
    stride = max_tid + 1
    span = last_ts - first_ts + 1000  # usecs, plus a 1 ms gap between copies

    out = sys.stdout if a.output == '-' else open(a.output, 'w')
    target = int(a.size_mb * 1e6)
    written, k = 0, 0
    while written < target:
        if (k + 2) * stride >= 4194304:  # pid_max: start again with the tid space
            k_tid = k % max(1, 4194304 // stride - 1)
        else:
            k_tid = k
        tid_off, ts_off = k_tid * stride, k * span

        def pid_sub(m):
            v = int(m.group(2))
            return '%s=%d' % (m.group(1), v + tid_off if v else 0)

        def port_sub(m):
            return '%s=%d' % (m.group(1), shift_port(int(m.group(2)), k))

        def sockaddr_sub(m):
            p = shift_port(int(m.group(1) + m.group(2), 16), k)
            return 'ARRAY[02,00,%02x,%02x,' % (p >> 8, p & 0xff)

        buf = []
        for head, tid, mid, ts, rest in parsed:
            rest = PID_FIELD_RE.sub(pid_sub, rest)
            if 'port=' in rest:
                rest = PORT_FIELD_RE.sub(port_sub, rest)
                rest = SOCKADDR_RE.sub(sockaddr_sub, rest)
            t = ts + ts_off
            buf.append('%s%d%s%d.%06d%s\n' % (head, tid + tid_off if tid else 0, mid,
                                               t // 1000000, t % 1000000, rest))
        chunk = ''.join(buf)
        out.write(chunk)
        written += len(chunk)
        k += 1
    if out is not sys.stdout:
        out.close()
    if a.pids and a.pids_out:
        with open(a.pids) as f:
            pids = [l.split() for l in f if l.strip() and not l.startswith('#')]
        with open(a.pids_out, 'w') as f:
            for c in range(min(k, max(1, 4194304 // stride - 1))):
                for p in pids:
                    f.write(' '.join([str(int(p[0]) + c * stride)] + p[1:]) + '\n')
    print('gen_report: %d copies of %s, %.1f MB' % (k, a.input, written / 1e6), file=sys.stderr)


if __name__ == '__main__':
    main()
