#!/usr/bin/env bash
# tests/bench/agent.sh — the node agent's cost per change, without daemons: runs the criterion
# benchmark `cargo bench -p node-agent --bench reconcile` (see tests/bench/README.md, "The node
# agent's reconcile") and keeps its headline figures. Not part of the test suite; no
# thresholds, it only measures.
#
# Needs Rust and Debian's `postmap` (package postfix-lmdb) and `kzonecheck` (knot-dnsutils),
# which tests/run.sh installs; without them the benchmark stands `true` in for them and says
# so. All in temporary directories; nothing is started, nothing listens.
#
# Prints criterion's report, then a Markdown table and `bench: <name> = <value> ms` lines (the
# middle of criterion's estimate for each case), also written with the commit, the CPU count
# and the load to tests/bench/results/agent-<date>.md.
#
# Environment (optional):
#   BENCH_FILTER   criterion's filter: only the cases whose name contains it (default: all)
#   CARGO_TARGET_DIR  as cargo reads it
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

log() {
	printf '[agent bench] %s\n' "$*" >&2
}

filter="${BENCH_FILTER:-}"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
log "cargo bench -p node-agent --bench reconcile ${filter:+-- $filter}"
# shellcheck disable=SC2086 # the filter is one word or none
cargo bench -p node-agent --bench reconcile -- $filter 2>&1 | tee "$out" >&2
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# criterion prints each case's name on a line of its own (or before its estimate when short),
# then `time:   [low unit mid unit high unit]`.
mapfile -t figures < <(awk '
	/^[a-z0-9_]+\/[a-z0-9_]+/ { name = $1 }
	/time:[ \t]+\[/ && name != "" {
		sub(/.*\[/, ""); sub(/\].*/, "")
		value = $3; unit = $4
		if (unit == "s") { value *= 1000 } else if (unit == "µs" || unit == "us") { value /= 1000 } else if (unit == "ns") { value /= 1000000 }
		printf "%s = %.2f ms\n", name, value
		name = ""
	}' "$out")
if [ "${#figures[@]}" -eq 0 ]; then
	log "no estimate in criterion's output"
	exit 1
fi

rows=()
for figure in "${figures[@]}"; do
	rows+=("| \`${figure%% = *}\` | ${figure#* = } |")
done
report="$(
	cat <<EOF
# Node agent reconcile benchmark, $(date -u +%Y-%m-%d)

- commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- node-agent protocol || echo ' (with uncommitted changes)')
- $(nproc) CPUs; release build; criterion, 10 samples per case; load average (1, 5, 15 min) before: $load_before, after: $load_after
- command: \`tests/bench/agent.sh\`${filter:+ with \`BENCH_FILTER=$filter\`}

| Case | Time per iteration (middle estimate) |
|---|---:|
$(printf '%s\n' "${rows[@]}")

\`\`\`
$(printf 'bench: %s\n' "${figures[@]}")
\`\`\`
EOF
)"
results="$root/tests/bench/results"
mkdir -p "$results"
file="$results/agent-$(date -u +%Y-%m-%d).md"
if [ -e "$file" ]; then
	# A second run on the same day keeps the first one's file.
	file="$results/agent-$(date -u +%Y-%m-%d-%H%M%S).md"
fi
printf '%s\n' "$report" >"$file"
printf '%s\n' "$report"
log "written to ${file#"$root"/}"
# The headline figures, last, one per line (also in the results file).
printf 'bench: %s\n' "${figures[@]}"
