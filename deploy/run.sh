#!/usr/bin/env bash
# deploy/run.sh — runs Ruche on this machine: the run command of the README.
#
# Installs PostgreSQL if it is missing, builds the control plane (cargo build --release), starts
# a private PostgreSQL cluster kept in var/pg at the repository root (database `ruche`, on
# 127.0.0.1 only, trust authentication: a development setup, not a production one), and runs
# `control-plane serve` in the foreground. The control plane prints the portal URL and, until the
# first admin exists, the one-time setup link. Ctrl-C stops the control plane, then the cluster;
# the data stays in var/pg for the next run.
#
# Environment:
#   RUCHE_LISTEN    address the portal listens on (default 127.0.0.1:8080)
#   RUCHE_PG_PORT   port of the private cluster on 127.0.0.1 (default 55433)
#   DATABASE_URL    use this database instead; then no cluster is started
#   RUCHE_CONFIG    a TOML configuration file (see deploy/control-plane.example.toml)
#   RUCHE_<SECTION>__<KEY>   any configuration key, e.g. RUCHE_HTTP__PUBLIC_URL or
#                   RUCHE_MAIL__SMTP_URL; passed to the control plane as they are
#   CARGO_TARGET_DIR  where cargo builds (default target/)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=deploy/pg.sh
source "$root/deploy/pg.sh"

listen="${RUCHE_LISTEN:-127.0.0.1:8080}"
pg_port="${RUCHE_PG_PORT:-55433}"

pg_ensure_installed
cargo build --release -p control-plane
bin="${CARGO_TARGET_DIR:-$root/target}/release/control-plane"

pg_dir=""
# shellcheck disable=SC2317 # called by the EXIT trap
stop_cluster() {
	if [ -n "$pg_dir" ]; then
		echo "stopping PostgreSQL ($pg_dir)" >&2
		pg_stop "$pg_dir" || true
	fi
}
trap stop_cluster EXIT

if [ -z "${DATABASE_URL:-}" ]; then
	pg_dir="$root/var/pg"
	pg_start "$pg_dir" "$pg_port"
	server="postgres://postgres@127.0.0.1:$pg_port"
	if [ "$(pg_psql "$server/postgres" -tA -c "SELECT 1 FROM pg_database WHERE datname = 'ruche'")" != 1 ]; then
		pg_psql "$server/postgres" -c 'CREATE DATABASE ruche'
	fi
	export DATABASE_URL="$server/ruche"
	echo "PostgreSQL: $DATABASE_URL (data and log in $pg_dir)" >&2
fi

# The control plane rejects RUCHE_* variables that are not RUCHE_<SECTION>__<KEY>: the two above
# are this script's own. Run it as a child (not exec) so that the trap stops the cluster after it.
env -u RUCHE_LISTEN -u RUCHE_PG_PORT "$bin" serve --listen "$listen" &
child=$!
# Background jobs of a script ignore SIGINT: pass Ctrl-C and SIGTERM on as SIGTERM.
trap 'kill -TERM "$child" 2>/dev/null || true' INT TERM
status=0
while kill -0 "$child" 2>/dev/null; do
	wait "$child" || status=$?
done
exit "$status"
