#!/usr/bin/env bash
# screenshot-chrome-trace: a PNG of a KRTrace --chrome file as a trace viewer
# shows it, made offline.
#
# usage: utils/screenshot-chrome-trace.sh [TRACE.json [OUT.png [FROM_MS TO_MS [X,Y]]]]
#
# Without TRACE.json it builds one from the recorded chain fixture
# (tests/fixtures/chain: nginx -> app -> redis):
#   zcat tests/fixtures/chain/report.txt.gz |
#     .output/bin/krtrace -i tests/fixtures/chain/pids.txt -g 172.24.0.1 --chrome TRACE.json
# OUT.png defaults to docs/img/chrome-trace-devtools.png. FROM_MS..TO_MS is the
# visible window in ms from the start of the trace (at least 1 ms: the viewer
# refuses narrower ones); X,Y is the page point (1600x900 viewport) clicked to
# select the slice whose flow arrows are drawn.
#
# The viewer: ui.perfetto.dev cannot be reached from here, and Chromium 156
# no longer ships the legacy trace viewer behind chrome://tracing (the page
# fails with net::ERR_FAILED even with internal debug pages enabled; its
# resources are not in resources.pak). What Chromium does ship is DevTools'
# standalone Performance panel, devtools://devtools/bundled/trace_app.html,
# which loads Chrome Trace Event JSON. utils/screenshot-chrome-trace.js drives
# it through playwright-core (the npm library only; the browser is Debian's
# chromium). That panel binds a flow event only to a slice with the very same
# ts and category, where Perfetto and catapult bind it to the enclosing slice,
# so the page is given a copy whose flow events sit at the start of their
# enclosing slice (same links, see rebindFlows in the .js file).
#
# The track rows clicked to expand processes and threads are those of the
# chain fixture (3 processes, 7 threads); another trace needs other rows.
#
# Environment: KRT_CHROMIUM (browser, default /usr/bin/chromium),
# KRT_SCREENSHOT_NODE_DIR (where playwright-core is installed, default
# ~/.cache/krtrace/screenshot-node; installed with npm when missing).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PLAYWRIGHT_VERSION=1.65.1
NODE_DIR=${KRT_SCREENSHOT_NODE_DIR:-${HOME:-/root}/.cache/krtrace/screenshot-node}
CHROMIUM=${KRT_CHROMIUM:-/usr/bin/chromium}

die() { echo "screenshot-chrome-trace: $*" >&2; exit 1; }

trace=${1:-}
out=${2:-$ROOT/docs/img/chrome-trace-devtools.png}
from=${3:-4.2}
to=${4:-5.3}
pick=${5:-1018,387}

[ -x "$CHROMIUM" ] || die "$CHROMIUM not found: apt-get install chromium"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	die "node and npm are needed: apt-get install nodejs npm"
fi

tmp=$(mktemp -d) || die "mktemp failed"
trap 'rm -rf "$tmp"' EXIT

if [ -z "$trace" ]; then
	fixture=$ROOT/tests/fixtures/chain
	if ! make -s -C "$ROOT" >"$tmp/make.log" 2>&1; then
		[ -x "$ROOT/.output/bin/krtrace" ] || { cat "$tmp/make.log" >&2; die "build failed"; }
		echo "screenshot-chrome-trace: build failed, using the existing .output/bin/krtrace" >&2
	fi
	trace=$tmp/chain.json
	zcat "$fixture/report.txt.gz" |
		"$ROOT/.output/bin/krtrace" -i "$fixture/pids.txt" -g 172.24.0.1 \
			--chrome "$trace" -o /dev/null || die "krtrace failed on $fixture"
fi
[ -r "$trace" ] || die "$trace: cannot read"

if [ ! -d "$NODE_DIR/node_modules/playwright-core" ]; then
	mkdir -p "$NODE_DIR" || die "mkdir $NODE_DIR failed"
	echo "screenshot-chrome-trace: installing playwright-core@$PLAYWRIGHT_VERSION into $NODE_DIR" >&2
	npm install --silent --no-audit --no-fund --prefix "$NODE_DIR" \
		"playwright-core@$PLAYWRIGHT_VERSION" >&2 || die "npm install playwright-core failed"
fi

KRT_CHROMIUM=$CHROMIUM NODE_PATH=$NODE_DIR/node_modules \
	timeout 180 node "$ROOT/utils/screenshot-chrome-trace.js" "$trace" "$out" "$from" "$to" "$pick" ||
	die "rendering failed"
echo "screenshot-chrome-trace: wrote $out ($(stat -c %s "$out") bytes)" >&2
