#!/usr/bin/env bash
# The engine's modules call one way (docs/design.md, "Data path"):
#   engine.c -> engine_conn.c -> engine_go.c -> engine_goroutine.c -> engine_pool.c -> engine_unseen.c -> engine_loop.c
#            -> engine_trace.c -> engine_thread.c -> engine_util.c
# Read from the built objects: a module that calls a function defined by a
# module above it in that order is a back-call (a rule split over a circle).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
OUT=${OUTPUT:-.output}
LAYERS=(engine engine_conn engine_go engine_goroutine engine_pool engine_unseen engine_loop engine_trace engine_thread engine_util)
command -v nm >/dev/null || skip_suite "nm not installed"
for m in "${LAYERS[@]}"; do
	[ -f "$OUT/$m.o" ] || skip_suite "$OUT/$m.o not built (make)"
done
# every engine source is in the order (a new module must be placed in it)
unplaced=
for f in src/engine*.c; do
	m=$(basename "$f" .c)
	[[ " ${LAYERS[*]} " == *" $m "* ]] || unplaced+=" $m"
done
check "every src/engine*.c has its place in the order${unplaced:+ (not:$unplaced)}" test -z "$unplaced"

declare -A level
for i in "${!LAYERS[@]}"; do
	for s in $(nm --defined-only "$OUT/${LAYERS[$i]}.o" | awk '$2 ~ /^[TDBR]$/ { print $3 }'); do
		level[$s]=$i
	done
done
back=
for i in "${!LAYERS[@]}"; do
	for s in $(nm -u "$OUT/${LAYERS[$i]}.o" | awk '{ print $2 }'); do
		if [ -n "${level[$s]+x}" ] && [ "${level[$s]}" -lt "$i" ]; then
			back+=" ${LAYERS[$i]}.c->$s(${LAYERS[${level[$s]}]}.c)"
		fi
	done
done
check "no engine module calls one above it${back:+:$back}" test -z "$back"
