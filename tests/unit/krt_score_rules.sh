#!/usr/bin/env bash
# The accuracy scorer (tests/tools/krt_score) on hand-made truth and traces:
# a hop must be on its call's connection as well as inside its call's time
# window, a one-way call has no reply edge, "uncertain" traces are counted
# apart from exact and wrong, and --sampled judges only traced requests.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
OUT=${OUTPUT:-.output}
SCORE=$OUT/tools/krt_score
[ -x "$SCORE" ] || skip_suite "krt_score not built"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Two requests through svc "s" (thread 10) calling memcached (thread 50):
# a get (reply) and a one-way set each, both on the pooled connection
# 1.0.0.2:4000 <-> 1.0.0.3:11211.
cat >"$tmp/truth.jsonl" <<'EOF'
{"svc":"node","name":"mc","addr":"1.0.0.3:11211","tid":50}
{"svc":"client","id":"q1","local":"1.0.0.1:5001","peer":"1.0.0.2:80","start_ns":1000000,"end_ns":2000000,"status":200}
{"svc":"client","id":"q2","local":"1.0.0.1:5002","peer":"1.0.0.2:80","start_ns":3000000,"end_ns":4000000,"status":200}
{"svc":"s","model":"t","id":"q1","pid":10,"tid":10,"io_tid":10,"client":"1.0.0.1:5001","local":"1.0.0.2:80","recv_ns":1000100,"send_ns":1900000,"calls":[{"kind":"memcache","peer":"1.0.0.3:11211","local":"1.0.0.2:4000","tid":10,"start_ns":1200000,"end_ns":1300000},{"kind":"memcache","peer":"1.0.0.3:11211","local":"1.0.0.2:4000","tid":10,"start_ns":1400000,"end_ns":1400100,"oneway":true}]}
{"svc":"s","model":"t","id":"q2","pid":10,"tid":10,"io_tid":10,"client":"1.0.0.1:5002","local":"1.0.0.2:80","recv_ns":3000100,"send_ns":3900000,"calls":[{"kind":"memcache","peer":"1.0.0.3:11211","local":"1.0.0.2:4000","tid":10,"start_ns":3200000,"end_ns":3300000},{"kind":"memcache","peer":"1.0.0.3:11211","local":"1.0.0.2:4000","tid":10,"start_ns":3400000,"end_ns":3400100,"oneway":true}]}
EOF
# trace JSON of a request: ID CLIENT_PORT T0(ms offset) CALL_LOCAL [EXTRA_TRACE_FIELDS]
trace() {
	local id=$1 port=$2 t=$3 conn=$4 extra=${5:-}
	echo "{\"trace_id\":$id,\"ingress\":{\"client\":\"1.0.0.1:$port\",\"server\":\"1.0.0.2:80\",\"tid\":10,\"ts_ns\":${t}000100}$extra,\"start_ns\":0,\"end_ns\":0,\"threads\":[],\"hops\":[" \
"{\"from\":0,\"from_addr\":\"1.0.0.1:$port\",\"to\":10,\"to_addr\":\"1.0.0.2:80\",\"bytes\":9,\"send_ns\":0,\"recv_ns\":${t}000100}," \
"{\"from\":10,\"from_addr\":\"$conn\",\"to\":50,\"to_addr\":\"1.0.0.3:11211\",\"bytes\":9,\"send_ns\":${t}200100,\"recv_ns\":${t}200200}," \
"{\"from\":50,\"from_addr\":\"1.0.0.3:11211\",\"to\":10,\"to_addr\":\"$conn\",\"bytes\":9,\"send_ns\":${t}250000,\"recv_ns\":${t}250100}," \
"{\"from\":10,\"from_addr\":\"$conn\",\"to\":50,\"to_addr\":\"1.0.0.3:11211\",\"bytes\":9,\"send_ns\":${t}400050,\"recv_ns\":${t}400090}," \
"{\"from\":10,\"from_addr\":\"1.0.0.2:80\",\"to\":0,\"to_addr\":\"1.0.0.1:$port\",\"bytes\":9,\"send_ns\":${t}900000,\"recv_ns\":0}]}" | tr -d ' '
}
# column of the model row: 4 exact 5 wrong 6 missing 8 uncertain 9 uncertain-and-right 12 sampled%
col() { awk -v c="$2" '$1 == "t" { print $c }' "$1"; }

{ trace 1 5001 1 1.0.0.2:4000; trace 2 5002 3 1.0.0.2:4000; } >"$tmp/good.jsonl"
"$SCORE" --truth "$tmp/truth.jsonl" --json "$tmp/good.jsonl" --model t --min 100 >"$tmp/good.score" 2>&1
check "calls on their connection, inside their windows: both requests exact" \
	test "$(col "$tmp/good.score" 4)" = 2

# q3 makes only a one-way call: its trace has no reply from memcached
{ echo '{"svc":"client","id":"q3","local":"1.0.0.1:5003","peer":"1.0.0.2:80","start_ns":5000000,"end_ns":6000000,"status":200}'
  echo '{"svc":"s","model":"t","id":"q3","pid":10,"tid":10,"io_tid":10,"client":"1.0.0.1:5003","local":"1.0.0.2:80","recv_ns":5000100,"send_ns":5900000,"calls":[{"kind":"memcache","peer":"1.0.0.3:11211","local":"1.0.0.2:4000","tid":10,"start_ns":5400000,"end_ns":5400100,"oneway":true}]}'
} >"$tmp/truth3.jsonl"
trace 3 5003 5 1.0.0.2:4000 | sed -E 's/\{"from":10,"from_addr":"1.0.0.2:4000","to":50,[^}]*"send_ns":5200100[^}]*\},\{"from":50[^}]*\},//' \
	>"$tmp/oneway.jsonl"
"$SCORE" --truth "$tmp/truth.jsonl" --truth "$tmp/truth3.jsonl" --prefix q3 --json "$tmp/oneway.jsonl" \
	--model t --min 100 >"$tmp/oneway.score" 2>&1
check "a one-way call expects no reply edge: exact without one" \
	test "$(col "$tmp/oneway.score" 4)" = 1
# its receiver reads it after the request has ended: judged by the send
sed 's/"send_ns":5400050,"recv_ns":5400090/"send_ns":5400050,"recv_ns":6500000/' "$tmp/oneway.jsonl" \
	>"$tmp/oneway-late.jsonl"
"$SCORE" --truth "$tmp/truth.jsonl" --truth "$tmp/truth3.jsonl" --prefix q3 \
	--json "$tmp/oneway-late.jsonl" --model t --min 100 >"$tmp/oneway-late.score" 2>&1
check "a one-way message read after the request's end is still the request's" \
	test "$(grep -c 6500000 "$tmp/oneway-late.jsonl")/$(col "$tmp/oneway-late.score" 4)" = 1/1
# sent outside its call (during the request, but not in its call's window)
sed 's/"send_ns":5400050,"recv_ns":5400090/"send_ns":5600000,"recv_ns":5600100/' "$tmp/oneway.jsonl" \
	>"$tmp/oneway-off.jsonl"
"$SCORE" --truth "$tmp/truth.jsonl" --truth "$tmp/truth3.jsonl" --prefix q3 \
	--json "$tmp/oneway-off.jsonl" --model t >"$tmp/oneway-off.score" 2>&1
check "a one-way message sent outside its call's window is wrong" \
	test "$(grep -c 5600000 "$tmp/oneway-off.jsonl")/$(col "$tmp/oneway-off.score" 5)" = 1/1

# q2's hops on another connection between the same two threads, in its window
{ trace 1 5001 1 1.0.0.2:4000; trace 2 5002 3 1.0.0.2:4999; } >"$tmp/conn.jsonl"
"$SCORE" --truth "$tmp/truth.jsonl" --json "$tmp/conn.jsonl" --model t >"$tmp/conn.score" 2>&1
check "a hop on another connection than its call's is wrong (edge and window alone would pass it)" \
	test "$(col "$tmp/conn.score" 4)/$(col "$tmp/conn.score" 5)" = 1/1

# q2's trace says it is not sure (on the trace), q1's on a hop
{ trace 1 5001 1 1.0.0.2:4999 | sed 's/"bytes":9,"send_ns":1200100/"bytes":9,"uncertain":"handoff","send_ns":1200100/'
  trace 2 5002 3 1.0.0.2:4000 ',"uncertain":"sampling"'; } >"$tmp/unc.jsonl"
"$SCORE" --truth "$tmp/truth.jsonl" --json "$tmp/unc.jsonl" --model t --max-wrong 0 \
	>"$tmp/unc.score" 2>&1
rc=$?
check "uncertain traces counted apart (2 uncertain, 1 of them right, 0 wrong, --max-wrong 0 holds)" \
	test "$(col "$tmp/unc.score" 8)/$(col "$tmp/unc.score" 9)/$(col "$tmp/unc.score" 5)/$rc" = 2/1/0/0
"$SCORE" --truth "$tmp/truth.jsonl" --json "$tmp/conn.jsonl" --model t --max-wrong 10 \
	>/dev/null 2>&1
check "--max-wrong fails a model above it (1 of 2 wrong)" test $? -eq 1

trace 1 5001 1 1.0.0.2:4000 >"$tmp/sampled.jsonl"
"$SCORE" --truth "$tmp/truth.jsonl" --json "$tmp/sampled.jsonl" --model t --sampled --min 100 \
	>"$tmp/sampled.score" 2>&1
rc=$?
check "--sampled judges the traced request only (1 of 2: 50 % sampled, 100 % exact)" \
	test "$(col "$tmp/sampled.score" 3)/$(col "$tmp/sampled.score" 12)/$rc" = 1/50.0/0
"$SCORE" --truth "$tmp/truth.jsonl" --json "$tmp/sampled.jsonl" --model t --min 100 \
	>"$tmp/unsampled.score" 2>&1
rc=$?
check "without --sampled the untraced request is missing" \
	test "$(col "$tmp/unsampled.score" 6)/$rc" = 1/1
