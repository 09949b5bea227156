#!/usr/bin/env bash
# Prints a directory holding the official opentelemetry-proto definitions
# (opentelemetry/proto/{common,resource,trace}/v1/*.proto), for tests that
# decode our OTLP/protobuf output with protoc. They are not kept in this
# repository: they are taken once from the npm registry, from an
# OpenTelemetry JS package that ships them unchanged (build/protos), into a
# cache directory. Exit 1 with the reason when they cannot be had.
set -euo pipefail
PKG=@opentelemetry/otlp-grpc-exporter-base@0.38.0
CACHE=${KRT_CACHE:-/var/cache/krtrace}/otlp-proto
want=opentelemetry/proto/trace/v1/trace.proto

if [ -f "$CACHE/$want" ]; then
	echo "$CACHE"
	exit 0
fi
command -v npm >/dev/null || { echo "otlp-proto: npm not installed (needed once to get $PKG)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tgz=$(cd "$tmp" && timeout 120 npm pack --silent "$PKG" 2>"$tmp/err" | tail -n 1) ||
	{ echo "otlp-proto: npm pack $PKG failed: $(tail -n 1 "$tmp/err")" >&2; exit 1; }
tar -xzf "$tmp/$tgz" -C "$tmp" package/build/protos ||
	{ echo "otlp-proto: $PKG holds no build/protos" >&2; exit 1; }
[ -f "$tmp/package/build/protos/$want" ] || { echo "otlp-proto: $PKG has no $want" >&2; exit 1; }
mkdir -p "$(dirname "$CACHE")"
rm -rf "$CACHE.new" && cp -r "$tmp/package/build/protos" "$CACHE.new" && mv "$CACHE.new" "$CACHE"
echo "$CACHE"
