#!/usr/bin/env bash
# tests/check-sqlx.sh [--write] — checks (or, with --write, regenerates) .sqlx/, the offline query
# data sqlx's query macros compile against (builds set SQLX_OFFLINE=true in .cargo/config.toml).
#
# Needs no sqlx-cli: it creates a fresh database ruche_sqlx_<pid> on the server in DATABASE_URL
# (or, when DATABASE_URL is unset, on a private cluster it starts and stops itself), applies
# migrations/*.sql with psql in name order, then recompiles the crates that use query macros with
# the macros online (SQLX_OFFLINE=false) and SQLX_OFFLINE_DIR set, so that sqlx-macros writes one
# query-<hash>.json per query into a temporary directory. Without --write that directory must
# equal .sqlx/ (else: run `tests/check-sqlx.sh --write` and commit .sqlx/); with --write it
# replaces .sqlx/. The temporary database is dropped on exit.
#
# Recompiling means touching those crates' sources, which makes the next build recompile them
# too. So a successful check records a digest of everything it depends on (the crates' sources
# and manifests, migrations, .sqlx/, Cargo.lock) in target/; the next check with the same digest
# passes at once. A fresh clone (CI) always runs the full check.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=deploy/pg.sh
source "$root/deploy/pg.sh"

write=false
case "${1:-}" in
--write) write=true ;;
"") ;;
*)
	echo "usage: tests/check-sqlx.sh [--write]" >&2
	exit 2
	;;
esac

# URL of database $2 on the server of URL $1 (any path and query of $1 dropped).
url_with_db() {
	local url="${1%%\?*}" scheme rest host
	scheme="${url%%://*}"
	rest="${url#*://}"
	host="${rest%%/*}"
	echo "$scheme://$host/$2"
}

# Crates whose sources use query macros.
mapfile -t crates < <(
	grep -rlE --include='*.rs' \
		'query(_as|_scalar|_file|_file_as|_file_scalar)?(_unchecked)?!' \
		-- */src */tests */benches */examples 2>/dev/null | cut -d/ -f1 | LC_ALL=C sort -u
)

shopt -s nullglob
migrations=()
for file in migrations/*.sql; do
	case "$file" in
	*.down.sql) ;;
	*) migrations+=("$file") ;;
	esac
done
shopt -u nullglob
# Name order, byte-wise, whatever the locale.
if [ "${#migrations[@]}" -gt 0 ]; then
	mapfile -t migrations < <(printf '%s\n' "${migrations[@]}" | LC_ALL=C sort)
fi

# Digest of everything the generated query data depends on.
inputs_digest() {
	{
		if [ "${#crates[@]}" -gt 0 ]; then
			find "${crates[@]}" -name target -prune -o -type f \( -name '*.rs' -o -name Cargo.toml \) -print
		fi
		if [ -d .sqlx ]; then
			find .sqlx -type f
		fi
		printf '%s\n' "${migrations[@]}" Cargo.lock
	} | LC_ALL=C sort | xargs -r -d '\n' sha256sum | sha256sum | cut -d' ' -f1
}
target_dir="${CARGO_TARGET_DIR:-$root/target}"
stamp="$target_dir/ruche-check-sqlx.digest"
digest="$(inputs_digest)"
if ! $write && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
	echo ".sqlx/ is up to date (nothing it depends on changed since the last check)"
	exit 0
fi

out="$(mktemp -d /tmp/ruche-sqlx.XXXXXX)"
own_pg=""
admin_url=""
db="ruche_sqlx_$$"
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [ -n "$admin_url" ]; then
		pg_psql "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
	fi
	if [ -n "$own_pg" ]; then
		pg_stop "$own_pg" || true
		rm -rf "$own_pg"
	fi
	rm -rf "$out"
}
trap cleanup EXIT

mkdir -p "$out/queries"
if [ "${#crates[@]}" -gt 0 ]; then
	echo "query macros in: ${crates[*]}"
	# Only the crates with queries are compiled (with their dependencies), so a crate being
	# written elsewhere in the workspace does not stand in the way.
	packages=()
	for crate in "${crates[@]}"; do
		packages+=(-p "$crate")
	done
	if [ -z "${DATABASE_URL:-}" ]; then
		pg_ensure_installed
		own_pg="$(mktemp -d /tmp/ruche-sqlx-pg.XXXXXX)"
		port="$(pg_free_port)"
		pg_start "$own_pg" "$port" fsync=off
		DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
	fi
	admin_url="$DATABASE_URL"
	pg_psql "$admin_url" -c "CREATE DATABASE $db"
	db_url="$(url_with_db "$DATABASE_URL" "$db")"
	for file in "${migrations[@]}"; do
		echo "applying $file"
		pg_psql "$db_url" -f "$file" >/dev/null
	done

	# Touch the crates' sources so that cargo recompiles them and every macro runs again.
	for crate in "${crates[@]}"; do
		find "$crate" -name target -prune -o -name '*.rs' -exec touch {} +
	done
	SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$out/queries" DATABASE_URL="$db_url" \
		cargo check --all-targets "${packages[@]}"
fi

generated="$(find "$out/queries" -name 'query-*.json' | wc -l)"
if $write; then
	rm -rf .sqlx
	if [ "$generated" -gt 0 ]; then
		mkdir .sqlx
		cp "$out/queries"/query-*.json .sqlx/
	fi
	mkdir -p "$target_dir"
	inputs_digest >"$stamp"
	echo "wrote $generated query files to .sqlx/"
	exit 0
fi

committed=0
if [ -d .sqlx ]; then
	committed="$(find .sqlx -type f | wc -l)"
fi
if [ "$generated" -eq 0 ] && [ "$committed" -eq 0 ]; then
	echo "no query macros and no .sqlx/: nothing to check"
	exit 0
fi
if [ ! -d .sqlx ] || ! diff -r .sqlx "$out/queries"; then
	echo >&2
	echo ".sqlx/ does not match the queries and migrations ($generated queries generated," \
		"$committed files in .sqlx/)." >&2
	echo "Run tests/check-sqlx.sh --write and commit .sqlx/." >&2
	exit 1
fi
mkdir -p "$target_dir"
echo "$digest" >"$stamp"
echo ".sqlx/ is up to date ($generated queries)"
