#!/usr/bin/env bash
# The HTML report in a real browser: headless Chromium loads the page from
# `test_writers --emit` with no console message at all (no script error, no
# failed resource), the DOM holds an inline SVG flow graph per trace, and a
# screenshot is taken (kept in .output/tests/html_report.png for a look).
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
OUT=${OUTPUT:-.output}
EMIT=$OUT/tests/test_writers
[ -x "$EMIT" ] || skip_suite "$EMIT not built (make)"
CHROMIUM=$(command -v chromium || command -v chromium-browser) || skip_suite "chromium not installed"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$EMIT" --emit "$dir" 2>/dev/null

chromium_run() { # extra args...
	local profile
	profile=$(mktemp -d -p "$dir")
	timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$profile" --enable-logging=stderr --v=0 "$@"
}

chromium_run --dump-dom "file://$dir/report.html" >"$dir/dom.html" 2>"$dir/dom.log"
check "page loads in Chromium" test -s "$dir/dom.html"
if grep -q ':CONSOLE' "$dir/dom.log"; then
	not_ok "no console messages" "$(grep ':CONSOLE' "$dir/dom.log" | head -3)"
else
	ok "no console messages"
fi
check "the DOM holds the service map, a timeline and a flow graph per trace" \
	test "$(grep -o "<svg" "$dir/dom.html" | wc -l)" -eq 5 -a "$(grep -o "<svg class=\"timeline\"" "$dir/dom.html" | wc -l)" -eq 2
check "the DOM holds the slowest-traces table" grep -q 'Slowest traces' "$dir/dom.html"

chromium_run --window-size=1280,2400 --screenshot="$dir/shot.png" "file://$dir/report.html" \
	>/dev/null 2>"$dir/shot.log"
check "screenshot taken" sh -c "head -c 8 '$dir/shot.png' | od -An -tx1 | grep -q '89 50 4e 47' && [ \$(stat -c %s '$dir/shot.png') -gt 20000 ]"
mkdir -p "$OUT/tests" && cp -f "$dir/shot.png" "$OUT/tests/html_report.png" 2>/dev/null
