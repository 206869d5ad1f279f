#!/usr/bin/env bash
# tests/bench/web.sh — benchmark of a node's web front and certificates, end to end. Not part of
# the test suite; no thresholds, it only measures. Runs the ignored test `web::bench` of
# tests/tests/e2e/web.rs with release binaries, on a whole mail node with nginx, pebble (Debian's
# ACME test CA) and pebble-challtestsrv as the world's DNS, all on 127.0.0.x:
#
#   - a member's domain verified -> first HTTPS answer with a valid certificate (HTTP-01), p50/p95;
#   - 1,000 member domains on the node, each with a certificate: the agent's reconcile that
#     renders, checks (nginx -t) and reloads nginx for one added domain, p50/p95; nginx's
#     resident memory (master and workers);
#   - full TLS handshakes per second (one rustls client, no resumption) against the rendered
#     configuration and against a hand-written one-server configuration on the same certificate.
#
# Needs what tests/run.sh installs (run it once first). Starts its own PostgreSQL cluster in a
# temporary directory. Results are printed and written to tests/bench/results/web-<date>.md (a
# later run the same day: web-<date>-<HHMM>.md).
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

log="$(mktemp /tmp/ruche-bench-web.XXXXXX)"
RUCHE_BIN_DIR="${CARGO_TARGET_DIR:-$root/target}/release" \
	cargo test --release -p tests --test e2e web::bench -- --ignored --nocapture 2>&1 | tee "$log"

mkdir -p tests/bench/results
out="tests/bench/results/web-$(date -u +%Y-%m-%d).md"
# A second run on the same day keeps the first one's file.
if [ -e "$out" ]; then
	out="tests/bench/results/web-$(date -u +%Y-%m-%d-%H%M).md"
fi
{
	echo "# Web front benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); PostgreSQL with fsync=off (benchmark only); release binaries; nginx $(nginx -v 2>&1 | sed 's/.*\///'), pebble $(dpkg-query -W -f '${Version}' pebble)."
	echo "Commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!tests/bench/results' || echo ' (with uncommitted changes)'); command: \`tests/bench/web.sh\`."
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
