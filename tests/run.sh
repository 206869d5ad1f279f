#!/usr/bin/env bash
# tests/run.sh [CARGO TEST ARGS...] — Ruche's whole test suite: the test command of the README,
# of CI (.ci/run) and of the developer loop.
#
# On a fresh Debian 12 (as root) it installs what is missing (PostgreSQL 15, python3-aiosmtpd,
# chromium, chromium-driver, the mail daemons: postfix, dovecot, rspamd, redis, python3-dkim,
# postsrsd, Knot DNS: knot, knot-dnsutils, knot-dnssecutils, nginx, and pebble (the ACME test CA); it also creates the
# vmail user), starts a
# private PostgreSQL cluster on a free port of 127.0.0.1 (data in a temporary directory, fsync
# off, stopped and removed on exit), exports
# DATABASE_URL=postgres://postgres@127.0.0.1:PORT/ruche_test (a superuser URL: #[sqlx::test] and
# the end-to-end harness create their own databases on that server), then runs, stopping at the
# first failure:
#
#   cargo fmt --all -- --check
#   tests/check-sqlx.sh                      (.sqlx/ matches the queries and migrations)
#   cargo clippy --workspace --all-targets -- -D warnings
#   cargo build --workspace --bins           (the end-to-end tests run these binaries)
#   cargo test --workspace [ARGS...]         e.g. `tests/run.sh portal` runs the tests matching "portal"
#
# With CI=true it first prints the versions of the tools. Nothing here talks to anything but
# 127.0.0.1 (apt-get aside).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=deploy/pg.sh
source "$root/deploy/pg.sh"

started=$SECONDS

banner() {
	printf '\n\033[1m==> %s\033[0m  (%ds)\n' "$*" "$((SECONDS - started))"
}

step() {
	local title="$1"
	shift
	banner "$title"
	if ! "$@"; then
		printf '\n\033[1;31mFAILED: %s\033[0m  (%ds)\n' "$title" "$((SECONDS - started))" >&2
		exit 1
	fi
}

banner "Debian packages"
pg_ensure_installed
deb_ensure python3-aiosmtpd chromium chromium-driver ca-certificates
# The mail node's daemons (the end-to-end mail tests run them on 127.0.0.x). Postfix asks how to
# configure the system's own instance: not at all, the tests bring their own configuration.
# postsrsd rewrites the envelope sender of forwarded mail (the forwarding tests run it).
if [ "$(id -u)" -eq 0 ]; then
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
fi
deb_ensure postfix postfix-lmdb dovecot-imapd dovecot-lmtpd dovecot-auth-lua lua-cjson rspamd \
	redis-server python3-dkim openssl postsrsd
# The name servers of the DNS tests (knotd, knotc, keymgr; kdig; kzonecheck).
deb_ensure knot knot-dnsutils knot-dnssecutils
# The nodes' web front, and the ACME CA its certificates come from in tests (pebble and
# pebble-challtestsrv, the world's DNS of the HTTP-01 test).
deb_ensure nginx pebble
# The owner of the mail store (Debian has no such user).
if ! id vmail >/dev/null 2>&1; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "the vmail user is missing; create it as root:" >&2
		echo "  useradd --system --no-create-home --shell /usr/sbin/nologin vmail" >&2
		exit 1
	fi
	useradd --system --no-create-home --shell /usr/sbin/nologin vmail
fi

if [ "${CI:-}" = true ]; then
	banner "Versions"
	cargo --version
	rustc --version
	"$PG_BIN/postgres" --version
	chromium --version 2>/dev/null || true
	chromedriver --version
	/usr/bin/python3 --version
fi

banner "PostgreSQL"
pg_dir="$(mktemp -d /tmp/ruche-test-pg.XXXXXX)"
cleanup() {
	pg_stop "$pg_dir" || true
	rm -rf "$pg_dir"
}
trap cleanup EXIT
pg_port="$(pg_free_port)"
pg_start "$pg_dir" "$pg_port" fsync=off full_page_writes=off max_connections=200
pg_psql "postgres://postgres@127.0.0.1:$pg_port/postgres" -c 'CREATE DATABASE ruche_test'
export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/ruche_test"
echo "DATABASE_URL=$DATABASE_URL (log: $pg_dir/log)"

step "cargo fmt --all -- --check" cargo fmt --all -- --check
step "tests/check-sqlx.sh" "$root/tests/check-sqlx.sh"
step "cargo clippy --workspace --all-targets -- -D warnings" \
	cargo clippy --workspace --all-targets -- -D warnings
step "cargo build --workspace --bins" cargo build --workspace --bins
step "cargo test --workspace $*" cargo test --workspace "$@"

banner "All checks passed"
