# Shell helpers shared by the overhead benchmarks (sourced).

# spread < numbers -> "n median q1 q3 min max" (quartiles interpolated
# between the sorted values; "0 - - - - -" when there are none)
spread() {
	sort -g | awk 'function q(p,  h, l) { h = (NR - 1) * p + 1; l = int(h)
			return l >= NR ? x[NR] : x[l] + (h - l) * (x[l + 1] - x[l]) }
		{ x[NR] = $1 }
		END { if (!NR) { print "0 - - - - -"; exit }
			printf "%d %.4f %.4f %.4f %.4f %.4f\n", NR, q(0.5), q(0.25), q(0.75), x[1], x[NR] }'
}

# counters_wait: asks the tracer ($TP) for its next counter block
# (SIGUSR1) and waits until its stderr ($TMP/t.err) shows the block's end;
# COUNTERS is that block's number. Dies (die, the caller's) if the tracer is
# gone or prints nothing within TRACER_TIMEOUT seconds.
COUNTERS=0
counters_wait() {
	local deadline=$((SECONDS + TRACER_TIMEOUT))
	COUNTERS=$((COUNTERS + 1))
	kill -USR1 "$TP" || die "krtrace-bpf is gone"
	until grep -q "counters $COUNTERS end" "$TMP/t.err"; do
		[ "$SECONDS" -lt "$deadline" ] || die "krtrace-bpf printed no counters"
		sleep 0.02
	done
}
