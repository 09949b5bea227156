#!/usr/bin/env bash
# Every output format checked by real tools: python3's json parser, Graphviz
# `dot`, an HTTP listener for the OTLP POST, awk for the raw columns, and the
# built krtrace for `compare`. The formats come from `test_writers --emit`,
# which runs the real writers through krt_outputs_open on hand-built traces.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
OUT=${OUTPUT:-.output}
EMIT=$OUT/tests/test_writers
[ -x "$EMIT" ] || skip_suite "$EMIT not built (make)"
command -v python3 >/dev/null || skip_suite "python3 not installed"

dir=$(mktemp -d)
listener_pid=
cleanup() {
	[ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

# An OTLP/HTTP collector stand-in for two requests (OTLP/JSON, then
# protobuf): records each, answers 200.
cat >"$dir/listener.py" <<'PY'
import http.server, json, sys
out = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        kind = self.headers.get("Content-Type")
        if kind == "application/x-protobuf":
            open(out + "/request.pb", "wb").write(body)
        else:
            with open(out + "/request.json", "w") as f:
                json.dump({"path": self.path, "type": kind, "body": body.decode()}, f)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(out + "/port", "w").write(str(s.server_port))
s.timeout = 20
s.handle_request()
s.handle_request()
PY
python3 "$dir/listener.py" "$dir" &
listener_pid=$!
for _ in $(seq 50); do [ -s "$dir/port" ] && break; sleep 0.1; done
port=$(cat "$dir/port" 2>/dev/null)

check "writers emit every format" \
	env KRT_TEST_OTLP_ENDPOINT="http://127.0.0.1:${port:-1}/v1/traces" "$EMIT" --emit "$dir"
wait "$listener_pid" 2>/dev/null
listener_pid=

check "JSON lines: every line parses, traces then one summary" python3 - "$dir/out.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 3, len(lines)
assert [l.get("trace_id") for l in lines[:2]] == [1, 2]
assert list(lines[2]) == ["summary"] and lines[2]["summary"]["traces"] == 2
for t in lines[:2]:
    assert set(t) == {"trace_id", "ingress", "start_ns", "end_ns", "threads", "hops"}
    assert all(set(h) == {"from", "from_addr", "to", "to_addr", "bytes", "send_ns", "recv_ns"}
               for h in t["hops"])
PY

check "Chrome trace: parses, X slices have dur, flows pair up by id" python3 - "$dir/trace.json" <<'PY'
import json, sys, collections
ev = json.load(open(sys.argv[1]))["traceEvents"]
xs = [e for e in ev if e["ph"] == "X"]
assert xs and all("dur" in e and e["dur"] >= 0 for e in xs)
flows = collections.Counter()
for e in ev:
    if e["ph"] in "sf":
        flows[(e["id"], e["ph"])] += 1
ids = {i for i, _ in flows}
assert ids and all(flows[(i, "s")] == 1 and flows[(i, "f")] == 1 for i in ids)
# Each flow end lies inside a slice of its own thread (what Perfetto binds to).
for e in ev:
    if e["ph"] in "sf":
        assert any(x["tid"] == e["tid"] and x["ts"] <= e["ts"] <= x["ts"] + x["dur"] for x in xs), e
names = {e["args"]["name"] for e in ev if e["ph"] == "M"}
assert {"web", "app", "nginx[812]", "python3[900]"} <= names, names
PY

if command -v dot >/dev/null; then
	check "DOT: accepted by dot -Tsvg" sh -c "dot -Tsvg '$dir/flow.dot' >'$dir/flow.svg' 2>'$dir/dot.err' && ! [ -s '$dir/dot.err' ] && grep -q '<svg' '$dir/flow.svg'"
else
	not_ok "DOT: accepted by dot -Tsvg" "graphviz not installed"
fi

check "HTML: complete page, service map, a timeline and a flow graph per trace" python3 - "$dir/report.html" <<'PY'
import sys, html.parser
text = open(sys.argv[1]).read()
assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.svg = 0; self.external = []
    def handle_starttag(self, tag, attrs):
        self.svg += tag == "svg"
        for k, v in attrs:
            if k in ("src", "href") and v and "://" in v:
                self.external.append(v)
p = P(); p.feed(text); p.close()
assert p.svg == 5, p.svg  # the service map, a timeline and a graph per trace
assert not p.external, p.external
assert "<script" not in text
PY

check "OTLP file: ids, times as strings, parents inside the trace" python3 - "$dir/otlp.jsonl" <<'PY'
import json, re, sys
for line in open(sys.argv[1]):
    td = json.loads(line)
    spans = [s for rs in td["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    ids = {s["spanId"] for s in spans}
    assert len({s["traceId"] for s in spans}) == 1
    for s in spans:
        assert re.fullmatch(r"[0-9a-f]{32}", s["traceId"]) and s["traceId"] != "0" * 32
        assert re.fullmatch(r"[0-9a-f]{16}", s["spanId"]) and s["spanId"] != "0" * 16
        assert isinstance(s["startTimeUnixNano"], str) and isinstance(s["endTimeUnixNano"], str)
        assert int(s["endTimeUnixNano"]) >= int(s["startTimeUnixNano"]) > 1.5e18
        assert s.get("parentSpanId", s["spanId"]) in ids
    assert sum("parentSpanId" not in s for s in spans) == 1
    for rs in td["resourceSpans"]:
        assert any(a["key"] == "service.name" for a in rs["resource"]["attributes"])
PY

check "OTLP endpoint: POST /v1/traces received with both traces" python3 - "$dir/request.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["path"] == "/v1/traces" and r["type"] == "application/json", r
body = json.loads(r["body"])
trace_ids = {s["traceId"] for rs in body["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]}
assert len(trace_ids) == 2, trace_ids
PY

# The protobuf body decoded by protoc with the official opentelemetry-proto
# definitions (tests/tools/otlp-proto.sh: taken once from the npm registry,
# not kept here), then compared span by span with the OTLP/JSON file the same
# writer wrote from the same spans.
name="OTLP protobuf: protoc decodes TracesData, same spans as the JSON"
if ! command -v protoc >/dev/null; then
	not_ok "$name" "protoc not installed (protobuf-compiler)"
elif ! proto_dir=$(bash tests/tools/otlp-proto.sh 2>"$dir/proto.err"); then
	not_ok "$name" "no opentelemetry-proto definitions: $(cat "$dir/proto.err")"
else
	check "$name" sh -c "
		protoc -I '$proto_dir' --decode=opentelemetry.proto.trace.v1.TracesData \
			opentelemetry/proto/trace/v1/trace.proto <'$dir/request.pb' >'$dir/request.txt' &&
		python3 tests/unit/otlp_pb_vs_json.py '$dir/request.txt' '$dir/otlp-pb.jsonl'"
fi

check "raw: fixed column count per record type" awk -F'\t' '
	$1 == "trace" && NF != 10 { bad = 1 } $1 == "thread" && NF != 10 { bad = 1 }
	$1 == "hop" && NF != 10 { bad = 1 } $1 == "summary" && NF != 3 { bad = 1 }
	$1 !~ /^(trace|thread|hop|summary)$/ { bad = 1 }
	{ n[$1]++ }
	END { exit bad || n["trace"] != 2 || n["hop"] != 12 || n["thread"] != 6 }' "$dir/out.tsv"

check "text: trace header and hops" grep -q \
	'^trace 1  ingress 172.24.0.1:51234 -> 172.24.0.2:80 by web/nginx\[812\]  start 256.938989 s  duration 1.234 ms$' \
	"$dir/out.txt"

if [ -x "$OUT/bin/krtrace" ]; then
	check "krtrace compare: a result agrees with itself" sh -c \
		"'$OUT/bin/krtrace' compare '$dir/out.jsonl' '$dir/out.jsonl' --min 100 | grep -q 'traces matched       2 (100.0 %)'"
fi
