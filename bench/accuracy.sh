#!/usr/bin/env bash
# Accuracy per server model and mode, on the live test bed, against the
# services' own ground truth (per request and per downstream call).
#
# usage: bench/accuracy.sh [MODEL...]       (default: every model)
#
# Models: chain (nginx -> app1 -> redis), m1..m4 (the C models), m5 (threads
# sharing a pool of memcached connections, `set ... noreply` after each get:
# one-way messages on pooled connections), java, asgi, thrift, node (the real
# runtimes, see tests/services/README.md), go-http and go-fanout (the Go
# services of the test bed's group "go", built when golang-go is installed).
#
# Two runs, each driving every model in turn at each concurrency:
#   run 1  krtrace-bpf (default)  and, at the same time, an ftrace capture
#          with sched_wakeup (utils/krtrace-capture -e sched/sched_wakeup)
#          imported with krtrace: modes "live" and "import"
#   run 2  krtrace-bpf --sample N: mode "sample", judged among the requests
#          that have a trace (krt_score --sampled), whose share is printed
#   run 3  krtrace-bpf --syscall-hooks: mode "syscall" (not in the default
#          modes), the fallback for kernels without the socket tracepoints
#   run 4  krtrace-bpf --sample N --sample-window KRT_WINDOW_MS: mode
#          "window" (not in the default modes), windowed sampling, judged
#          as "sample" (among the requests that have a trace); 50 ms by
#          default, a cycle of 500 ms at N = 10: a model's requests at one
#          concurrency take from 0.3 s (chain at 4) to a few seconds here,
#          so most see a window or more (the share is printed)
# Every request is scored by tests/tools/krt_score: exact (the request's own
# hops, each on its call's connection inside its call's time window),
# uncertain (the trace says so), wrong, missing.
#
# Prints a table model x mode (exact %, uncertain %, wrong %) and writes
# DIR/results.tsv (model mode requests exact wrong missing uncertain sampled%
# uncertain_right: of the uncertain traces, how many were right all the same),
# the per-concurrency figures (DIR/by_concurrency.tsv), per mode the scorer's
# verbose list of what went wrong (DIR/MODE.MODEL.why) and its kinds counted
# (DIR/why.tsv).
#
# Environment: KRT_REQUESTS (per model and concurrency, 500),
# KRT_SAMPLE_REQUESTS (the same for run 2, KRT_REQUESTS unless set), KRT_CONCS
# ("4 8 16"), KRT_MODES ("live import sample"; also "syscall" and "window"), KRT_SAMPLE (10),
# KRT_WINDOW_MS (50), KRT_OUT (the
# result directory, default a new one under /tmp, kept), KRT_SLACK_LIVE_US
# (200), KRT_SLACK_IMPORT_US (2), KRT_LIVE_ARGS (more krtrace-bpf options for
# both live runs, e.g. --go-channels), KRT_RECORD (1: each live run records
# its engine's input, --debug record-events=DIR/MODE.rec, which
# bench/bench_replay replays through another build's engine), and the test bed's KRT_BRIDGE, KRT_NET, ...
# (utils/testbed); the test bed must be down (this script brings it up and
# down). Needs root, a built tree (make), and the runtimes' Debian packages
# for their models (a model whose service is not built is reported absent).
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh # stop_live, wait_tracing
OUT=${OUTPUT:-.output}
REQUESTS=${KRT_REQUESTS:-500}
SAMPLE_REQUESTS=${KRT_SAMPLE_REQUESTS:-$REQUESTS}
CONCS=${KRT_CONCS:-4 8 16}
MODES=${KRT_MODES:-live import sample}
SAMPLE=${KRT_SAMPLE:-10}
WINDOW_MS=${KRT_WINDOW_MS:-50}
SLACK_LIVE=${KRT_SLACK_LIVE_US:-200}
SLACK_IMPORT=${KRT_SLACK_IMPORT_US:-2}
LOAD=$OUT/tools/krt_load
SCORE=$OUT/tools/krt_score
KRTRACE=$OUT/bin/krtrace
BPF=$OUT/bin/krtrace-bpf
TB=utils/testbed

die() { echo "accuracy: $*" >&2; exit 2; }
if [ -z "${KRT_RESCORE:-}" ]; then
	[ "$(id -u)" -eq 0 ] || die "needs root"
	for b in "$LOAD" "$SCORE" "$KRTRACE" "$BPF"; do
		[ -x "$b" ] || die "$b not built (make)"
	done
	ip link show "${KRT_BRIDGE:-krtbr0}" >/dev/null 2>&1 &&
		die "the test bed is in use (bridge ${KRT_BRIDGE:-krtbr0}); utils/testbed down first"
fi

# model -> test bed group and the container the client calls
declare -A GROUP=([chain]=chain [m1]=m1 [m2]=m2 [m3]=m3 [m4]=m4 [m5]=mc [java]=java
	[asgi]=asgi [thrift]=thrift [node]=node [go-http]=go [go-fanout]=go)
declare -A ENTRY=([chain]=nginx [m1]=m1 [m2]=m2 [m3]=m3 [m4]=m4 [m5]=m5 [java]=java
	[asgi]=asgi [thrift]=tfront [node]=node [go-http]=go-http [go-fanout]=go-fanout)
MODELS=("$@")
[ ${#MODELS[@]} -eq 0 ] && MODELS=(chain m1 m2 m3 m4 m5 thrift java asgi node go-http go-fanout)
groups=()
for m in "${MODELS[@]}"; do
	[ -n "${GROUP[$m]:-}" ] || die "unknown model '$m' (${!GROUP[*]})"
	[[ " ${groups[*]} " == *" ${GROUP[$m]} "* ]] || groups+=("${GROUP[$m]}")
done

if [ -n "${KRT_RESCORE:-}" ]; then
	# score the results of an earlier run again (after a scorer change)
	DIR=$KRT_RESCORE
	present=()
	for m in "${MODELS[@]}"; do
		grep -q "\"r[1234]-$m-" "$DIR"/client-r*.jsonl 2>/dev/null && present+=("$m")
	done
fi
DIR=${DIR:-${KRT_OUT:-$(mktemp -d /tmp/krt-accuracy.XXXXXX)}}
mkdir -p "$DIR"
bpf_pid=
cleanup() {
	[ -n "$bpf_pid" ] && stop_live "$bpf_pid"
	"$TB" down >/dev/null 2>&1
}
# the runs (not when scoring an earlier run again)
if [ -z "${KRT_RESCORE:-}" ]; then
	trap cleanup EXIT

	echo "# accuracy: models ${MODELS[*]}; $REQUESTS requests per model at each concurrency ($CONCS);" \
		"modes $MODES; commit $(git rev-parse --short HEAD 2>/dev/null); results in $DIR"
	"$TB" up "${groups[@]}" >"$DIR/up.log" 2>&1 || { tail -n 5 "$DIR/up.log"; die "test bed up failed"; }
	STATE=$("$TB" state)
	GW=$("$TB" gateway)
	"$TB" pids >"$DIR/pids.txt"
	present=()
	for m in "${MODELS[@]}"; do
		if grep -q " ${KRT_NS_PREFIX:-krt-}${ENTRY[$m]} " "$DIR/pids.txt"; then
			present+=("$m")
		else
			echo "# $m: not started (see $DIR/up.log)"
		fi
	done
	[ ${#present[@]} -gt 0 ] || die "no model started"

	# The workload of one run: each model in turn at each concurrency, ids
	# RUN-MODEL-cC-NNNNNN, a new connection every 10 requests.
	write_load() { # RUN [REQUESTS]
		local n=${2:-$REQUESTS}

		# the client log is appended to by each load run: a KRT_OUT
		# used before would score its old requests as missing
		: >"$DIR/client-$1.jsonl"
		: >"$DIR/load-$1.err"
		{
			echo "#!/usr/bin/env bash"
			echo "rc=0"
			for c in $CONCS; do
				for m in "${present[@]}"; do
					echo "\"$LOAD\" -s $("$TB" addr "${ENTRY[$m]}") -n $n -c $c -k 10 -p $1-$m-c$c- -t \"$DIR/client-$1.jsonl\" 2>>\"$DIR/load-$1.err\" || rc=1"
				done
			done
			echo "exit \$rc"
		} >"$DIR/load-$1.sh"
	}

	start_live() { # OUTPUT.jsonl EXTRA_ARGS...
		local out=$1
		shift
		[ -n "${KRT_RECORD:-}" ] && set -- "$@" --debug "record-events=${out%.jsonl}.rec"
		# shellcheck disable=SC2086 # KRT_LIVE_ARGS: words
		"$BPF" --gateway "$GW" -i "$DIR/pids.txt" --json -o "$out" ${KRT_LIVE_ARGS:-} "$@" \
			2>"$out.err" &
		bpf_pid=$!
		wait_tracing "$bpf_pid" "$out.err" 30 && return 0
		echo "# krtrace-bpf did not start: $(tail -n 3 "$out.err")"
		return 1
	}

	mode_on() { [[ " $MODES " == *" $1 "* ]]; }

	# run 1: live default, and the import of a simultaneous capture
	if mode_on live || mode_on import; then
		write_load r1
		mode_on live && start_live "$DIR/live.jsonl"
		if mode_on import; then
			utils/krtrace-capture -p "$DIR/pids.txt" -o "$DIR/cap" -e sched/sched_wakeup \
				-- bash "$DIR/load-r1.sh" 2>"$DIR/cap.err" || echo "# run 1: some requests failed ($DIR/load-r1.err)"
			grep -h 'events lost\|LOST\|DROPPED' "$DIR/cap.err" | sed 's/^/# capture: /'
		else
			bash "$DIR/load-r1.sh" || echo "# run 1: some requests failed ($DIR/load-r1.err)"
		fi
		sleep 0.3
		if [ -n "$bpf_pid" ]; then
			stop_live "$bpf_pid" || echo "# krtrace-bpf (run 1) ended with status $?"
			bpf_pid=
		fi
		if mode_on import; then
			"$KRTRACE" -i "$DIR/pids.txt" -g "$GW" --json "$DIR/cap/report.txt" \
				>"$DIR/import.jsonl" 2>"$DIR/import.err" ||
				echo "# krtrace import failed: $(head -n 3 "$DIR/import.err")"
			rm -f "$DIR/cap/trace.dat"
		fi
	fi
	# run 2: live, sampled
	if mode_on sample; then
		write_load r2 "$SAMPLE_REQUESTS"
		start_live "$DIR/sample.jsonl" --sample "$SAMPLE"
		bash "$DIR/load-r2.sh" || echo "# run 2: some requests failed ($DIR/load-r2.err)"
		sleep 0.3
		stop_live "$bpf_pid" || echo "# krtrace-bpf (run 2) ended with status $?"
		bpf_pid=
	fi
	# run 3: live, transfers read at syscall exit
	if mode_on syscall; then
		write_load r3
		start_live "$DIR/syscall.jsonl" --syscall-hooks
		bash "$DIR/load-r3.sh" || echo "# run 3: some requests failed ($DIR/load-r3.err)"
		sleep 0.3
		stop_live "$bpf_pid" || echo "# krtrace-bpf (run 3) ended with status $?"
		bpf_pid=
	fi
	# run 4: live, sampled by time windows
	if mode_on window; then
		write_load r4 "$SAMPLE_REQUESTS"
		start_live "$DIR/window.jsonl" --sample "$SAMPLE" --sample-window "$WINDOW_MS"
		bash "$DIR/load-r4.sh" || echo "# run 4: some requests failed ($DIR/load-r4.err)"
		sleep 0.3
		stop_live "$bpf_pid" || echo "# krtrace-bpf (run 4) ended with status $?"
		bpf_pid=
		grep -h ': sampling' "$DIR/window.jsonl.err" | sed 's/^/# window: /'
	fi
	"$TB" down >/dev/null 2>&1
	mkdir -p "$DIR/truth"
	cp "$STATE"/truth/*.jsonl "$DIR/truth/"
fi

# score MODE MODEL PREFIX WHY -> "requests exact wrong missing uncertain sampled% unc_ok"
score() {
	local mode=$1 model=$2 prefix=$3 why=$4 json run=r1 slack=$SLACK_LIVE extra=()
	case $mode in
	import) json=$DIR/import.jsonl slack=$SLACK_IMPORT ;;
	live) json=$DIR/live.jsonl ;;
	sample) json=$DIR/sample.jsonl run=r2 extra=(--sampled) ;;
	syscall) json=$DIR/syscall.jsonl run=r3 ;;
	window) json=$DIR/window.jsonl run=r4 extra=(--sampled) ;;
	esac
	[ -s "$json" ] || return 1
	"$SCORE" --truth "$DIR/truth" --truth "$DIR/client-$run.jsonl" --json "$json" \
		--prefix "$run-$prefix" --model "$model" --path "$mode" --slack-us "$slack" \
		"${extra[@]}" -v 2>"$why" |
		awk -v m="$model" '$1 == m { print $3, $4, $5, $6, $8, $12, $9 }'
}

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }'; }
printf 'model\tmode\trequests\texact\twrong\tmissing\tuncertain\tsampled%%\tuncertain_right\n' \
	>"$DIR/results.tsv"
printf 'model\tmode\tconcurrency\trequests\texact\twrong\tmissing\tuncertain\n' >"$DIR/by_concurrency.tsv"
declare -A CELL
for m in "${present[@]}"; do
	for mode in $MODES; do
		read -r n ex wr mi un sh uok < <(score "$mode" "$m" "$m-" "$DIR/$mode.$m.why")
		[ -n "${n:-}" ] || { CELL[$m.$mode]="-"; continue; }
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$m" "$mode" "$n" "$ex" "$wr" "$mi" "$un" \
			"$sh" "$uok" >>"$DIR/results.tsv"
		CELL[$m.$mode]="$(pct "$ex" "$n") / $(pct "$un" "$n") / $(pct "$wr" "$n")"
		[ "$mode" = sample ] || [ "$mode" = window ] && CELL[$m.$mode]+=" (${sh} %)"
		for c in $CONCS; do
			read -r n ex wr mi un sh uok < <(score "$mode" "$m" "$m-c$c-" /dev/null)
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$m" "$mode" "$c" "${n:-0}" "${ex:-0}" \
				"${wr:-0}" "${mi:-0}" "${un:-0}" >>"$DIR/by_concurrency.tsv"
		done
	done
done

# What the non-exact requests have in common, from the scorer's -v lines.
printf 'model\tmode\tno_trace\tedges_absent\textra_edges\thops_outside_only\tuncertain\n' \
	>"$DIR/why.tsv"
for m in "${present[@]}"; do
	for mode in $MODES; do
		[ -f "$DIR/$mode.$m.why" ] || continue
		awk -v m="$m" -v mo="$mode" '
			/: missing \(no trace/ { nt++ }
			/: (missing|wrong) \(trace/ {
				match($0, /[0-9]+ extra edges, [0-9]+ absent, [0-9]+ hops outside/)
				split(substr($0, RSTART, RLENGTH), f, " ")
				if (f[1] > 0) ex++
				else if (f[6] > 0) out++
				else if (f[4] > 0) ab++
			}
			/: uncertain \(/ { un++ }
			END { printf "%s\t%s\t%d\t%d\t%d\t%d\t%d\n", m, mo, nt, ab, ex, out, un }' \
			"$DIR/$mode.$m.why" >>"$DIR/why.tsv"
	done
done

echo
echo "exact % / uncertain % / wrong % of requests (sample, window: of the sampled requests, their share in brackets)"
printf '%-10s' model
for mode in $MODES; do printf ' | %-28s' "$mode"; done
echo
for m in "${present[@]}"; do
	printf '%-10s' "$m"
	for mode in $MODES; do printf ' | %-28s' "${CELL[$m.$mode]}"; done
	echo
done
echo
echo "# per concurrency: $DIR/by_concurrency.tsv; why requests were not exact: $DIR/MODE.MODEL.why"
echo "# kinds of failure per model and mode (no trace, expected edges absent, edges of other"
echo "# requests, hops outside their call's window or connection): $DIR/why.tsv"
