#!/usr/bin/env bash
# tests/bench/memory.sh — where the node agent's memory goes with 1,000 members × 10 mailboxes:
# runs `cargo bench -p node-agent --bench memory` (the heap each structure the agent keeps
# between changes holds, counted by dhat; see tests/bench/README.md) and keeps its figures.
# Not part of the test suite; no thresholds, it only measures. Nothing is started; a temporary
# directory stands for the node's root.
#
# Prints the benchmark's table and `bench: <name> = <value> MiB` lines, also written with the
# commit to tests/bench/results/memory-<date>.md.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
cargo bench -p node-agent --bench memory 2>/dev/null | tee "$out"
if ! grep -q '^bench: ' "$out"; then
	echo "[memory bench] no figures in the benchmark's output" >&2
	exit 1
fi

results="$root/tests/bench/results"
mkdir -p "$results"
file="$results/memory-$(date -u +%Y-%m-%d).md"
if [ -e "$file" ]; then
	# A second run on the same day keeps the first one's file.
	file="$results/memory-$(date -u +%Y-%m-%d-%H%M%S).md"
fi
{
	echo "# Node agent memory benchmark, $(date -u +%Y-%m-%d)"
	echo
	echo "- commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- node-agent protocol || echo ' (with uncommitted changes)')"
	echo "- heap counted by dhat (bytes asked of the allocator; glibc adds about 16 bytes a block); release build"
	echo "- command: \`tests/bench/memory.sh\`"
	echo
	grep '^|' "$out"
	echo
	echo '```'
	grep '^bench: ' "$out"
	echo '```'
} >"$file"
echo "[memory bench] written to ${file#"$root"/}" >&2
