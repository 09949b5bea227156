#!/usr/bin/env bash
# The design lives in the repository: what the code's comments, the tests and
# the docs cite resolves there. Every docs/FILE.md named exists; every
# docs/FILE.md, "Section" names a heading of that file; nothing cites the
# project's specification outside the repository ("SPEC §3": the rules are
# docs/design.md's, the JSON schema docs/outputs.md's).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
WHERE=(src bpf include tests/unit tests/kernel tests/integration tests/tools tests/services
	bench utils docs README.md)

missing=$(grep -rhoE --exclude=docs_refs.sh 'docs/[A-Za-z0-9_-]+\.md' "${WHERE[@]}" 2>/dev/null | sort -u |
	while read -r f; do [ -f "$f" ] || printf ' %s' "$f"; done)
check "every docs/*.md cited exists${missing:+ (not:$missing)}" test -z "$missing"

unresolved=$(grep -rhoE --exclude=docs_refs.sh 'docs/[A-Za-z0-9_-]+\.md,? *"[^"]+"' "${WHERE[@]}" 2>/dev/null | sort -u |
	while read -r ref; do
		f=$(grep -oE 'docs/[A-Za-z0-9_-]+\.md' <<<"$ref")
		title=$(sed -E 's/.*"([^"]+)".*/\1/' <<<"$ref")
		[ -f "$f" ] && grep -E '^#+ ' "$f" | grep -qiF -- "$title" || printf ' [%s]' "$ref"
	done)
check "every docs/FILE.md, \"Section\" cited is a heading of FILE${unresolved:+ (not:$unresolved)}" \
	test -z "$unresolved"

spec=$(grep -rlE --exclude=docs_refs.sh 'SPEC §|SPEC\.md' "${WHERE[@]}" 2>/dev/null |
	tr '\n' ' ')
check "no citation of the specification outside the repository${spec:+ (in: $spec)}" test -z "$spec"
