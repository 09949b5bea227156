#!/usr/bin/env python3
"""Compares a protoc --decode text dump of an OTLP TracesData (protobuf) with
the OTLP/JSON lines the same writer wrote from the same spans: every span,
with its ids, name, kind, times, attributes and events, must be the same.

Usage: otlp_pb_vs_json.py DECODED.txt OTLP.jsonl"""
import codecs
import json
import re
import sys


def parse_text_format(text):
    """protoc's text format as nested dicts of lists."""
    root = {}
    stack = [root]
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line == "}":
            stack.pop()
            continue
        m = re.fullmatch(r"(\w+) \{", line)
        if m:
            child = {}
            stack[-1].setdefault(m.group(1), []).append(child)
            stack.append(child)
            continue
        m = re.fullmatch(r"(\w+): (.*)", line)
        assert m, "unexpected line: " + raw
        key, val = m.groups()
        if val.startswith('"'):
            val = codecs.escape_decode(val[1:-1].encode("latin-1"))[0]
        elif re.fullmatch(r"-?\d+", val):
            val = int(val)
        stack[-1].setdefault(key, []).append(val)
    assert len(stack) == 1, "unbalanced braces"
    return root


def one(d, key, default=None):
    v = d.get(key)
    return v[0] if v else default


def attrs_pb(kvs):
    out = {}
    for kv in kvs:
        v = one(kv, "value")
        if "string_value" in v:
            out[one(kv, "key").decode()] = one(v, "string_value").decode()
        else:
            out[one(kv, "key").decode()] = int(one(v, "int_value"))
    return out


def attrs_json(kvs):
    out = {}
    for kv in kvs:
        v = kv["value"]
        out[kv["key"]] = v["stringValue"] if "stringValue" in v else int(v["intValue"])
    return out


KINDS = {"SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3}


def spans_pb(td):
    out = []
    for rs in td.get("resource_spans", []):
        res = attrs_pb(one(rs, "resource").get("attributes", []))
        for ss in rs["scope_spans"]:
            scope = one(ss, "scope")
            assert one(scope, "name") == b"krtrace"
            for s in ss.get("spans", []):
                events = [(int(one(e, "time_unix_nano")), one(e, "name").decode(),
                           attrs_pb(e.get("attributes", []))) for e in s.get("events", [])]
                out.append({
                    "resource": res,
                    "traceId": one(s, "trace_id").hex(),
                    "spanId": one(s, "span_id").hex(),
                    "parentSpanId": one(s, "parent_span_id", b"").hex(),
                    "name": one(s, "name").decode(),
                    "kind": KINDS[one(s, "kind")],
                    "start": int(one(s, "start_time_unix_nano")),
                    "end": int(one(s, "end_time_unix_nano")),
                    "attributes": attrs_pb(s.get("attributes", [])),
                    "events": events,
                })
    return out


def spans_json(lines):
    out = []
    for line in lines:
        td = json.loads(line)
        for rs in td["resourceSpans"]:
            res = attrs_json(rs["resource"]["attributes"])
            for ss in rs["scopeSpans"]:
                for s in ss["spans"]:
                    events = [(int(e["timeUnixNano"]), e["name"], attrs_json(e["attributes"]))
                              for e in s.get("events", [])]
                    out.append({
                        "resource": res,
                        "traceId": s["traceId"],
                        "spanId": s["spanId"],
                        "parentSpanId": s.get("parentSpanId", ""),
                        "name": s["name"],
                        "kind": s["kind"],
                        "start": int(s["startTimeUnixNano"]),
                        "end": int(s["endTimeUnixNano"]),
                        "attributes": attrs_json(s["attributes"]),
                        "events": events,
                    })
    return out


def main():
    pb = spans_pb(parse_text_format(open(sys.argv[1]).read()))
    js = spans_json(open(sys.argv[2]).readlines())
    assert pb, "no span decoded from the protobuf body"
    assert len(pb) == len(js), (len(pb), len(js))
    for a, b in zip(pb, js):
        assert a == b, "protobuf %r\n    json %r" % (a, b)
    assert all(s["resource"].get("host.name") == "host-a" for s in pb)
    assert len({s["traceId"] for s in pb}) == 2
    assert all(re.fullmatch("[0-9a-f]{32}", s["traceId"]) for s in pb)
    print("%d spans agree" % len(pb))


main()
