#!/usr/bin/env bash
# tests/bench/mail.sh — benchmark of a mail node, end to end. Not part of the test suite; no
# thresholds, it only measures. Runs the ignored test `mail::bench` of tests/tests/e2e/mail.rs
# with release binaries:
#
#   - a node holding 1,000 members × 10 mailboxes (seeded with SQL), its full convergence time
#     and the agent's resident memory at idle before and after, and its peak (VmHWM) taking the
#     members in, through key making, and through the changes and their logins;
#   - provisioning latency: API "create mailbox" -> first successful IMAP login, p50/p95.
#
# The reconcile cost without daemons (render, plan, apply with real postmap) is the criterion
# benchmark `cargo bench -p node-agent --bench reconcile`.
#
# Where the agent's memory goes: RUCHE_AGENT_PROFILER='heaptrack -o /tmp/agent-heap' runs the
# agent under heaptrack (then read it with `heaptrack_print -f /tmp/agent-heap.*.zst`); the RSS
# figures of such a run are the profiler's, not the agent's.
#
# Needs what tests/run.sh installs (mail packages, the vmail user; run that once first). Starts
# its own PostgreSQL cluster in a temporary directory; everything listens on 127.0.0.x.
# Results are printed and written to tests/bench/results/mail-<date>.md (a later run the same day:
# mail-<date>-<HHMM>.md).
set -Eeuo pipefail
trap 'printf "FAILED (line %s): %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# shellcheck source=deploy/pg.sh
source "$root/deploy/pg.sh"

pg_ensure_installed
cargo build --release -p control-plane -p node-agent
pg_dir="$(mktemp -d /tmp/ruche-bench-pg.XXXXXX)"
cleanup() {
	pg_stop "$pg_dir" || true
	rm -rf "$pg_dir"
}
trap cleanup EXIT
pg_port="$(pg_free_port)"
pg_start "$pg_dir" "$pg_port" fsync=off full_page_writes=off max_connections=200
export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"

log="$(mktemp /tmp/ruche-bench-mail.XXXXXX)"
RUCHE_BIN_DIR="${CARGO_TARGET_DIR:-$root/target}/release" \
	cargo test --release -p tests --test e2e mail::bench -- --ignored --nocapture 2>&1 | tee "$log"

mkdir -p tests/bench/results
out="tests/bench/results/mail-$(date -u +%Y-%m-%d).md"
# A second run on the same day keeps the first one's file.
if [ -e "$out" ]; then
	out="tests/bench/results/mail-$(date -u +%Y-%m-%d-%H%M).md"
fi
{
	echo "# Mail node benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); PostgreSQL with fsync=off (benchmark only); release binaries."
	echo "Commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!tests/bench/results' || echo ' (with uncommitted changes)'); command: \`tests/bench/mail.sh\`."
	echo
	grep -F '[bench] RESULT' "$log" | sed 's/^.*RESULT /- /'
	echo
	echo '```'
	grep -E '^bench: ' "$log"
	echo '```'
} >"$out"
grep -E '^bench: ' "$log"
rm -f "$log"
echo "written to $out"
