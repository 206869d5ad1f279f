#!/usr/bin/env bash
# tests/bench/dns.sh — benchmark of members' DNS, end to end. Not part of the test suite; no
# thresholds, it only measures. Runs the ignored test `dns::bench` of tests/tests/e2e/dns.rs with
# release binaries, on three DNS nodes (agent + knotd) on 127.0.0.86-88 and a registrar Knot:
#
#   (a) 100 record changes through the API, each timed from the API call until every secondary
#       (and the primary) serves a newer SOA serial (polled over TCP): p50/p95/max;
#   (b) 1,000 verified member domains seeded on the primary with SQL: the time until the primary
#       reports them applied and until every server serves all of them; then the same 100
#       changes, and the agent's apply time for one change (its `reconciled … elapsed=` line).
#
# Needs what tests/run.sh installs (Knot, the vmail user; run that once first). Starts its own
# PostgreSQL cluster in a temporary directory; everything listens on 127.0.0.x.
# Results are printed and written to tests/bench/results/dns-<date>.md.
set -Eeuo pipefail
trap 'printf "FAILED (line %s): %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# shellcheck source=deploy/pg.sh
source "$root/deploy/pg.sh"

pg_ensure_installed
deb_ensure knot knot-dnsutils knot-dnssecutils python3-aiosmtpd
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

log="$(mktemp /tmp/ruche-bench-dns.XXXXXX)"
RUCHE_BIN_DIR="${CARGO_TARGET_DIR:-$root/target}/release" \
	cargo test --release -p tests --test e2e dns::bench -- --ignored --nocapture 2>&1 | tee "$log"

mkdir -p tests/bench/results
out="tests/bench/results/dns-$(date -u +%Y-%m-%d).md"
# A second run on the same day keeps the first one's file.
if [ -e "$out" ]; then
	out="tests/bench/results/dns-$(date -u +%Y-%m-%d-%H%M).md"
fi
{
	echo "# DNS benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(knotd --version | head -n 1); PostgreSQL with fsync=off (benchmark only); release binaries; commit $(git rev-parse --short HEAD)."
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
