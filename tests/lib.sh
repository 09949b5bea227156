# Helpers for shell test suites: TAP output and cleanup.
# Source it, call `check NAME COMMAND...` or `ok NAME` / `not_ok NAME MSG`.
_tap_n=0
ok() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $1"; }
not_ok() { _tap_n=$((_tap_n + 1)); echo "not ok $_tap_n - $1${2:+: $2}"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi; }
skip_suite() { echo "# SKIP $*"; exit 0; }
need_root() { [ "$(id -u)" -eq 0 ] || skip_suite "needs root (run as root to include this suite)"; }
