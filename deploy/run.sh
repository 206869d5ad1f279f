#!/usr/bin/env bash
# deploy/run.sh — runs Ruche on this machine: the run command of the README.
#
# Installs PostgreSQL if it is missing, builds the control plane and the node agent (cargo build
# --release), starts a private PostgreSQL cluster kept in var/pg at the repository root (database
# `ruche`, on 127.0.0.1 only, trust authentication: a development setup, not a production one),
# and runs `control-plane serve`. The control plane prints the portal URL and, until the first
# admin exists, the one-time setup link.
#
# Run as root, it also starts a local node (deploy/node.sh): installs Postfix, Dovecot, rspamd and
# Redis, joins the node to the control plane once, and runs the daemons and `node-agent run`, with
# everything in var/node. Members are placed on it, and their mail works.
#
# Ctrl-C stops the node, the control plane, then the cluster; the data stays in var/ for the next
# run.
#
# Environment:
#   RUCHE_LISTEN    address the portal listens on (default 127.0.0.1:8080)
#   RUCHE_PG_PORT   port of the private cluster on 127.0.0.1 (default 55433)
#   DATABASE_URL    use this database instead; then no cluster is started
#   RUCHE_CONFIG    a TOML configuration file (see deploy/control-plane.example.toml)
#   RUCHE_<SECTION>__<KEY>   any configuration key, e.g. RUCHE_HTTP__PUBLIC_URL or
#                   RUCHE_MAIL__SMTP_URL; passed to the control plane as they are
#   RUCHE_NODE      0 to start no local node (default 1 when run as root)
#   RUCHE_NODE_LISTEN, RUCHE_NODE_ADDRESS, RUCHE_NODE_HOSTNAME, RUCHE_NODE_STANDARD_PORTS,
#                   RUCHE_NODE_ACME_CONTACT, RUCHE_NODE_ACME_DIRECTORY: see deploy/node.sh
#   RUCHE_PUBLIC_HOST  the portal's public name (e.g. portal.example.org) on a real machine: the
#                   local node serves the portal on HTTPS under it (ports 80 and 443, a
#                   certificate by ACME, HTTP redirected), the control plane behind it on
#                   127.0.0.1. Unset: the portal is http://localhost:8080, as for development.
#   CARGO_TARGET_DIR  where cargo builds (default target/)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=deploy/pg.sh
source "$root/deploy/pg.sh"
# shellcheck source=deploy/node.sh
source "$root/deploy/node.sh"

listen="${RUCHE_LISTEN:-127.0.0.1:8080}"
pg_port="${RUCHE_PG_PORT:-55433}"
public_host="${RUCHE_PUBLIC_HOST:-}"
if [ -n "$public_host" ]; then
	if [ "$(id -u)" != 0 ] || [ "${RUCHE_NODE:-1}" != 1 ]; then
		echo "RUCHE_PUBLIC_HOST needs the local node (run as root): it serves the portal on HTTPS" >&2
		exit 1
	fi
	# The portal is the node's to serve: the control plane listens on loopback only and
	# trusts the client address nginx gives it.
	case "$listen" in 127.0.0.1:*) ;; *)
		echo "with RUCHE_PUBLIC_HOST, RUCHE_LISTEN must be on 127.0.0.1" >&2
		exit 1
		;;
	esac
	export RUCHE_HTTP__PUBLIC_URL="https://$public_host"
	export RUCHE_HTTP__TRUST_FORWARDED_FOR=true
	export RUCHE_NODE_STANDARD_PORTS=1
	export RUCHE_NODE_PORTAL="$public_host" RUCHE_NODE_PORTAL_UPSTREAM="$listen"
fi

with_node=0
if [ "$(id -u)" = 0 ] && [ "${RUCHE_NODE:-1}" = 1 ]; then
	with_node=1
elif [ "${RUCHE_NODE:-1}" = 1 ]; then
	echo "not root: starting the control plane only (a local node needs root for Postfix)" >&2
fi

pg_ensure_installed
if [ "$with_node" = 1 ]; then node_install; fi
cargo build --release -p control-plane -p node-agent
bin_dir="${CARGO_TARGET_DIR:-$root/target}/release"
bin="$bin_dir/control-plane"

pg_dir=""
child=""
# shellcheck disable=SC2317 # called by the EXIT trap
stop_cluster() {
	node_stop
	if [ -n "$child" ]; then
		kill -TERM "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
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
env -u RUCHE_LISTEN -u RUCHE_PG_PORT -u RUCHE_NODE -u RUCHE_NODE_LISTEN -u RUCHE_NODE_HOSTNAME \
	-u RUCHE_NODE_STANDARD_PORTS -u RUCHE_NODE_ADDRESS -u RUCHE_NODE_ACME_CONTACT \
	-u RUCHE_NODE_ACME_DIRECTORY -u RUCHE_PUBLIC_HOST -u RUCHE_NODE_PORTAL \
	-u RUCHE_NODE_PORTAL_UPSTREAM "$bin" serve --listen "$listen" &
child=$!
if [ "$with_node" = 1 ]; then
	for _ in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/${listen%:*}/${listen##*:}") 2>/dev/null; then break; fi
		sleep 0.1
	done
	node_start "$bin_dir" "$root/var/node" "http://$listen"
fi
# Background jobs of a script ignore SIGINT: pass Ctrl-C and SIGTERM on as SIGTERM.
trap 'kill -TERM "$child" 2>/dev/null || true' INT TERM
status=0
while kill -0 "$child" 2>/dev/null; do
	wait "$child" || status=$?
done
exit "$status"
