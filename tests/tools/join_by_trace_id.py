#!/usr/bin/env python3
"""Join the --json results of several hosts by trace id, as a tracing backend
joins spans by traceId: no sequence numbers, no merge step.

    join_by_trace_id.py results A.jsonl B.jsonl ... > joined.jsonl
    join_by_trace_id.py otlp DIR REQUESTS MIN    (OTLP bodies the receiver kept)

results: the traces sharing a "trace_id_hex" become one trace; within it, a
send one host saw leave for another host and the receive the other host saw
arrive on the same connection (same two ends) are one hop, paired in order.
The output is the --json schema, for `krtrace compare` against a reference.

otlp: groups the spans of otlp-*.json and otlp-*.pb (OTLP/HTTP bodies) by
traceId and checks that at least MIN % of REQUESTS traces hold spans of more
than one host with every parent span found in the same trace (the links a
backend draws across hosts). Protobuf is read by a minimal wire-format
reader (the definitions' field numbers, opentelemetry/proto/trace/v1).
"""
import glob
import json
import sys
from collections import defaultdict


def join_results(paths):
    groups = defaultdict(list)
    for path in paths:
        for line in open(path):
            o = json.loads(line)
            if "trace_id_hex" in o:
                groups[o["trace_id_hex"]].append(o)
    out = []
    for n, (hexid, traces) in enumerate(sorted(groups.items()), 1):
        # the ingress: the trace the request started (not one a peer host's call started)
        traces.sort(key=lambda t: t["ingress"]["ts_ns"])
        peers = {h["from_addr"] for t in traces for h in t["hops"] if h["to"] == 0}
        root = next((t for t in traces if t["ingress"]["client"] not in peers), traces[0])
        threads, hops = [], []
        sends = defaultdict(list)  # (from_addr, to_addr) -> send halves, in time order
        recvs = defaultdict(list)
        for t in traces:
            threads += t["threads"]
            for h in t["hops"]:
                key = (h["from_addr"], h["to_addr"])
                if h["to"] == 0 and h["from"]:
                    sends[key].append(h)
                elif h["from"] == 0 and h["to"]:
                    recvs[key].append(h)
                else:
                    hops.append(h)
        for key in set(sends) | set(recvs):
            s = sorted(sends[key], key=lambda h: h["send_ns"])
            r = sorted(recvs[key], key=lambda h: h["recv_ns"])
            for i in range(max(len(s), len(r))):
                if i < len(s) and i < len(r):
                    h = dict(s[i])
                    h["to"], h["recv_ns"] = r[i]["to"], r[i]["recv_ns"]
                    hops.append(h)
                else:
                    hops.append(s[i] if i < len(s) else r[i])
        hops.sort(key=lambda h: h["send_ns"] or h["recv_ns"])
        out.append({"trace_id": n, "trace_id_hex": hexid, "ingress": root["ingress"],
                    "start_ns": min(t["start_ns"] for t in traces),
                    "end_ns": max(t["end_ns"] for t in traces),
                    "threads": threads, "hops": hops})
    for o in out:
        print(json.dumps(o))
    print(json.dumps({"summary": {"traces": len(out), "joined_by": "trace_id_hex"}}))


def pb_fields(b):
    """(field number, wire type, value) of one protobuf message."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        yield f, wt, v


def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def pb_spans(body):
    """(host, trace id hex, span id hex, parent id hex) of a TracesData body."""
    for f, _, rs in pb_fields(body):
        if f != 1:
            continue
        host, spans = None, []
        for g, _, v in pb_fields(rs):
            if g == 1:  # Resource
                for k, _, kv in pb_fields(v):
                    if k != 1:
                        continue
                    d = dict((a, b) for a, _, b in pb_fields(kv))
                    if d.get(1) == b"host.name":
                        host = dict((a, b) for a, _, b in pb_fields(d[2])).get(1, b"").decode()
            elif g == 2:  # ScopeSpans
                for k, _, sp in pb_fields(v):
                    if k == 2:
                        d = dict((a, b) for a, _, b in pb_fields(sp))
                        spans.append((d.get(1, b"").hex(), d.get(2, b"").hex(),
                                      d.get(4, b"").hex()))
        for s in spans:
            yield (host,) + s


def json_spans(body):
    for rs in body["resourceSpans"]:
        host = next((a["value"]["stringValue"] for a in rs["resource"]["attributes"]
                     if a["key"] == "host.name"), None)
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                yield host, s["traceId"], s["spanId"], s.get("parentSpanId", "")


def check_otlp(d, requests, floor):
    spans = []
    for f in glob.glob(d + "/otlp-*.json"):
        spans += json_spans(json.load(open(f)))
    for f in glob.glob(d + "/otlp-*.pb"):
        spans += pb_spans(open(f, "rb").read())
    traces = defaultdict(list)
    for host, tid, sid, parent in spans:
        traces[tid].append((host, sid, parent))
    linked = 0
    for tid, ss in traces.items():
        ids = {s for _, s, _ in ss}
        hosts = {h for h, _, _ in ss}
        roots = [s for _, s, p in ss if not p]
        if len(hosts) > 1 and len(roots) == 1 and all(not p or p in ids for _, _, p in ss):
            linked += 1
    pct = 100.0 * linked / requests if requests else 0.0
    print("# OTLP: %d spans in %d traceIds; %d traces span both hosts with one root and "
          "every parent found (%.1f %% of %d requests)" %
          (len(spans), len(traces), linked, pct, requests))
    return pct >= floor


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "results":
        join_results(sys.argv[2:])
    elif len(sys.argv) == 5 and sys.argv[1] == "otlp":
        sys.exit(0 if check_otlp(sys.argv[2], int(sys.argv[3]), float(sys.argv[4])) else 1)
    else:
        sys.exit(__doc__)
