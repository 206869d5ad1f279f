#!/usr/bin/env bash
# tests/bench/portal.sh — load benchmark of the control plane's portal and API, with 10,000
# members in the database. Not part of the test suite; no thresholds, it only measures.
#
# Measures, with wrk, requests per second and p50/p99 latency of:
#   1. GET /login                 anonymous (each response issues a fresh CSRF cookie, like a first visit)
#   2. GET /account               the member dashboard, signed in with a real session cookie
#   3. GET /api/v1/domains        the JSON API, with a real personal API token (Bearer)
#   4. GET /account/domains/{id}  a domain's page with its DNS section (registrar checklist,
#                                 servers and their last checks, the member's own records)
#   5. GET /admin/members         the admin's member list (10,000 members, first page)
#   6. GET /admin/dns             the admin's DNS page (nodes, secondaries, faults)
# each with BENCH_CONNECTIONS connections, then all six together, in turn, with 256 connections
# (BENCH_CONNECTIONS_HIGH): slower is fine there, errors are not.
#
# What it does, all on 127.0.0.1 and cleaned up on exit (server stopped by PID, cluster with
# pg_stop, temporary directories removed):
#   - installs wrk if missing, builds `cargo build --release -p control-plane`;
#   - starts a private PostgreSQL 15 cluster (temporary directory, free port, fsync=off) and
#     creates the database ruche_bench;
#   - starts `control-plane serve`, reads the one-time setup link from its log and completes the
#     setup over HTTP (collective, default plan, first admin);
#   - seeds members with SQL (they all reuse the admin's argon2id hash, so seeding takes a
#     second), gives member1 three domains with mailboxes, aliases and DNS records, and spreads
#     some domains, sessions and API tokens over the other members so the tables are not
#     trivially small; three nodes host the members and serve each other's zones as secondaries
#     (with an external secondary), and member1's domains carry what the DNS checks saw;
#   - signs member1 in through POST /login and creates its API token through
#     POST /account/api-tokens, checks that the six URLs answer 200 with real content;
#   - runs wrk on each URL (short warm-up, then the measured run), then the 256-connection run
#     over all six, and prints a Markdown table and headline figures as `bench: NAME = VALUE
#     UNIT` lines, also written to tests/bench/results/portal-<date>.md.
#
# The control plane runs with its default configuration, except that the DNS checks ask
# 127.0.0.1:9 (nothing listens there) for "the world", so they run without leaving loopback.
#
# Environment (all optional):
#   BENCH_MEMBERS      members to seed (default 10000)
#   BENCH_THREADS      wrk threads (default 2)
#   BENCH_CONNECTIONS  wrk connections (default 32)
#   BENCH_CONNECTIONS_HIGH  wrk connections of the run over all URLs (default 256)
#   BENCH_DURATION     measured run per URL (default 15s)
#   BENCH_WARMUP       warm-up run per URL, not measured (default 3s)
#   BENCH_ONLY         measure only these runs, space-separated (login account api_domains
#                      domain_page admin_members admin_dns mixed); results are not written
#   BENCH_HOLD         1: after the checks, keep the server and cluster up and print how to reach
#                      them (for profiling by hand); Ctrl-C stops and cleans up
#   CARGO_TARGET_DIR   where cargo builds (default target/)
set -Eeuo pipefail
# Say which command failed, when one does (die() says it itself).
trap 'printf "FAILED (line %s): %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# shellcheck source=deploy/pg.sh
source "$root/deploy/pg.sh"

members="${BENCH_MEMBERS:-10000}"
threads="${BENCH_THREADS:-2}"
connections="${BENCH_CONNECTIONS:-32}"
connections_high="${BENCH_CONNECTIONS_HIGH:-256}"
duration="${BENCH_DURATION:-15s}"
warmup="${BENCH_WARMUP:-3s}"
started=$SECONDS

log() {
	printf '==> %s  (%ds)\n' "$*" "$((SECONDS - started))" >&2
}

die() {
	printf 'FAILED: %s\n' "$*" >&2
	exit 1
}

# --- Cleanup: everything this script starts is stopped here, by PID or by data directory. ---

pg_dir=""
work=""
server_pid=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local status=$?
	set +e
	trap - ERR
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null
		# Graceful shutdown finishes requests in flight; give it 10 s, then kill.
		for _ in $(seq 1 100); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	if [ "$status" -ne 0 ] && [ -n "$work" ] && [ -s "$work/server.log" ]; then
		echo "--- last lines of the control plane's log ---" >&2
		tail -n 30 "$work/server.log" >&2
	fi
	if [ -n "$pg_dir" ]; then
		pg_stop "$pg_dir"
		rm -rf "$pg_dir"
	fi
	if [ -n "$work" ]; then
		rm -rf "$work"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. Tools and build. ---

log "tools (PostgreSQL 15, wrk, curl)"
pg_ensure_installed
deb_ensure wrk curl

log "cargo build --release -p control-plane"
cargo build --release -p control-plane
bin="${CARGO_TARGET_DIR:-$root/target}/release/control-plane"
[ -x "$bin" ] || die "no binary at $bin after the build"

# Scratch space: server log, HTTP headers and bodies. The cluster gets its own directory, which
# pg_start hands to the postgres user.
work="$(mktemp -d /tmp/ruche-bench.XXXXXX)"
pg_dir="$(mktemp -d /tmp/ruche-bench-pg.XXXXXX)"

# --- 2. PostgreSQL. ---

log "PostgreSQL (private cluster, fsync=off)"
pg_port="$(pg_free_port)"
# fsync=off: commits are not flushed to disk. Fine for a throwaway benchmark database (it makes
# the numbers independent of this machine's disk), and said so in the results.
pg_start "$pg_dir" "$pg_port" fsync=off
pg_psql "postgres://postgres@127.0.0.1:$pg_port/postgres" -c 'CREATE DATABASE ruche_bench'
db_url="postgres://postgres@127.0.0.1:$pg_port/ruche_bench"

# --- 3. The control plane. ---

http_port="$(pg_free_port)"
base="http://127.0.0.1:$http_port"
log "control plane on $base"
# Only the variables the control plane reads; a stray RUCHE_* variable from the caller's shell
# (RUCHE_CONFIG, a pool size...) would make the numbers incomparable, so none is passed on. The
# DNS checks' resolver is a closed port on loopback: the rounds run, and reach nothing outside.
env -i PATH="$PATH" HOME="${HOME:-/root}" \
	DATABASE_URL="$db_url" RUST_LOG="warn,control_plane=info" NO_COLOR=1 \
	RUCHE_DNS__RESOLVERS=127.0.0.1:9 \
	"$bin" serve --listen "127.0.0.1:$http_port" >"$work/server.out" 2>"$work/server.log" &
server_pid=$!

# It applies the migrations, then logs "setup link: http://…/setup?token=TOKEN".
setup_token=""
for _ in $(seq 1 600); do
	kill -0 "$server_pid" 2>/dev/null || die "the control plane exited during start-up"
	# Strip colour codes in case the log has them, then take the token from the setup link.
	setup_token="$(sed 's/\x1b\[[0-9;]*m//g' "$work/server.log" |
		sed -n 's/.*setup link: .*\/setup?token=\([A-Za-z0-9_-]*\).*/\1/p' | head -n 1)"
	[ -n "$setup_token" ] && break
	sleep 0.1
done
[ -n "$setup_token" ] || die "no 'setup link:' line in the control plane's log within 60 s"

# --- HTTP helpers (curl; cookies are handled by hand, see below). ---

# req NAME CURL-ARGS... — one request; headers to $work/NAME.head, body to $work/NAME.body;
# prints the status code.
req() {
	local name="$1"
	shift
	curl -sS --max-time 30 -o "$work/$name.body" -D "$work/$name.head" -w '%{http_code}' "$@"
}

# set_cookie NAME COOKIE — the value a response (its saved headers) sets for COOKIE, if any.
# Read by hand rather than with a cookie jar: the portal's cookies are `__Host-` and Secure, and
# whether curl sends those back over plain http://127.0.0.1 depends on its version.
set_cookie() {
	tr -d '\r' <"$work/$1.head" |
		sed -n "s/^set-cookie: *$2=\([^;]*\).*/\1/Ip" | head -n 1
}

# expect WANTED GOT WHAT — fails loudly when a status code is not the expected one.
expect() {
	if [ "$2" != "$1" ]; then
		die "$3: HTTP $2, expected $1"
	fi
}

# --- 4. Setup over HTTP: the collective, the default plan and the first admin. ---

log "setup over HTTP"
password="$(head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
password="${password:0:20}"
status="$(req setup-get "$base/setup?token=$setup_token")"
expect 200 "$status" "GET /setup"
csrf="$(set_cookie setup-get __Host-ruche_csrf)"
[ -n "$csrf" ] || die "GET /setup set no __Host-ruche_csrf cookie"
status="$(req setup-post -H "Cookie: __Host-ruche_csrf=$csrf" \
	--data-urlencode "csrf=$csrf" \
	--data-urlencode "token=$setup_token" \
	--data-urlencode "collective_name=Bench" \
	--data-urlencode "platform_domain=bench.test" \
	--data-urlencode "email=admin@bench.test" \
	--data-urlencode "password=$password" \
	--data-urlencode "password_confirm=$password" \
	"$base/setup")"
expect 303 "$status" "POST /setup"
admin_session="$(set_cookie setup-post __Host-ruche_session)"
[ -n "$admin_session" ] || die "POST /setup started no session"
# The admin's browser, for the admin pages.
admin_cookies="__Host-ruche_session=$admin_session; __Host-ruche_csrf=$csrf"

# --- 5. Seed the members, with SQL. ---

log "seeding $members members"
# Every seeded member reuses the admin's argon2id hash (so they all share the admin's password):
# hashing 10,000 passwords would take minutes and measures nothing here. member1 gets three
# domains with mailboxes and aliases (what the dashboard and the API list show); every fifth
# other member a domain with a mailbox, every member a live session and every tenth an API
# token, so the indexes the measured queries use are not over tables of two rows.
pg_psql "$db_url" -v members="$members" <<'SQL'
begin;

insert into members (id, email, display_name, password_hash, plan_id, created_at)
select gen_random_uuid(), 'member' || n || '@bench.test', 'Member ' || n,
       (select password_hash from members where email = 'admin@bench.test'),
       (select id from plans order by name limit 1),
       now() - make_interval(mins => n)
from generate_series(1, :members) as n;

-- member1's own domains: two verified, one waiting for its DNS check.
insert into domains (id, member_id, name, status, verification_token)
select gen_random_uuid(), m.id, d.name, d.status, md5(random()::text)
from members m,
     (values ('alpha-member1.test', 'active'),
             ('beta-member1.test', 'active'),
             ('gamma-member1.test', 'pending_verification')) as d (name, status)
where m.email = 'member1@bench.test';

-- Four mailboxes (512 MiB each) and two aliases on each of member1's domains.
insert into mailboxes (id, member_id, domain_id, local_part, password_hash, quota_bytes)
select gen_random_uuid(), d.member_id, d.id, l.local_part, m.password_hash, 512 * 1024 * 1024
from domains d
join members m on m.id = d.member_id
cross join (values ('alice'), ('bob'), ('contact'), ('postmaster')) as l (local_part)
where m.email = 'member1@bench.test';

insert into aliases (id, member_id, domain_id, source, targets)
select gen_random_uuid(), d.member_id, d.id, a.source, array['alice@' || d.name]
from domains d
join members m on m.id = d.member_id
cross join (values ('hello'), ('info')) as a (source)
where m.email = 'member1@bench.test';

-- Background data for the other members.
insert into domains (id, member_id, name, status, verification_token)
select gen_random_uuid(), id, 'site' || substr(email, 7, strpos(email, '@') - 7) || '.test',
       'active', md5(random()::text)
from members
where email like 'member%' and email <> 'member1@bench.test'
  and substr(email, 7, strpos(email, '@') - 7)::int % 5 = 0;

insert into mailboxes (id, member_id, domain_id, local_part, password_hash, quota_bytes)
select gen_random_uuid(), d.member_id, d.id, 'me', m.password_hash, 1024 * 1024 * 1024
from domains d join members m on m.id = d.member_id
where d.name like 'site%';

insert into sessions (token_hash, member_id, mfa_pending, expires_at)
select sha256(convert_to(gen_random_uuid()::text, 'UTF8')), id, false, now() + interval '14 days'
from members where email like 'member%';

insert into api_tokens (id, member_id, label, token_hash)
select gen_random_uuid(), id, 'script', sha256(convert_to(gen_random_uuid()::text, 'UTF8'))
from members
where email like 'member%' and substr(email, 7, strpos(email, '@') - 7)::int % 10 = 0;

-- Three nodes host the members (member1 on node-1); each serves the other two's zones as a
-- secondary, and a friendly collective's server is an external secondary of all.
insert into nodes (id, name, credential_hash, joined_at, host_name, addresses, version,
                   last_heartbeat_at, healthy, dns_address, operator)
select gen_random_uuid(), 'node-' || n, sha256(convert_to(gen_random_uuid()::text, 'UTF8')),
       now(), 'node-' || n || '.bench.test', array['127.0.0.' || (10 + n)], '0.1.0', now(), true,
       '127.0.0.' || (10 + n) || ':9', 'operator ' || n
from generate_series(1, 3) as n;

insert into dns_secondaries (primary_node_id, secondary_node_id, state)
select p.id, s.id, 'active' from nodes p join nodes s on s.id <> p.id;

insert into dns_external_secondaries (id, nameserver, address, key_suffix)
values (gen_random_uuid(), 'ns.friends.test', '127.0.0.20:9', 'friends.tsig.bench.test');

-- Its TSIG keys, one per node (ns<N>.<suffix>), already shown to the admin.
insert into dns_external_keys (external_id, node_id, name, secret, shown_at)
select e.id, n.id, 'ns' || n.ns_number || '.' || e.key_suffix,
       encode(sha256(convert_to('friends ' || n.name, 'UTF8')), 'base64'), now()
from dns_external_secondaries e cross join nodes n;

update members set node_id = (select id from nodes where name = 'node-' || (1 + (
    case when email = 'member1@bench.test' then 0
         else abs(hashtext(email)) % 3 end)));

-- What the DNS checks saw of member1's domains: every server, one of them behind; the DS
-- records of the signed zones; member1's own records and DKIM keys.
insert into dns_checks (domain_id, server, address, role, serial_udp, serial_tcp, authoritative,
                        fault)
select d.id, 'ns' || n.ns_number || '.bench.test', n.dns_address,
       case when n.name = 'node-1' then 'primary' else 'secondary' end,
       case when n.name = 'node-3' then 2026112601 else 2026112602 end,
       case when n.name = 'node-3' then 2026112601 else 2026112602 end, true,
       case when n.name = 'node-3' then 'serial 1 behind the primary' end
from domains d join members m on m.id = d.member_id cross join nodes n
where m.email = 'member1@bench.test' and d.status = 'active';

insert into domain_dns_status (domain_id, ds, txt_seen, ns_seen, ds_seen)
select d.id, case when d.status = 'active' then array['12345 13 2 ' || upper(md5(d.name) || md5(d.name))]
                  else '{}' end,
       d.status = 'active', d.status = 'active', d.status = 'active'
from domains d join members m on m.id = d.member_id
where m.email = 'member1@bench.test';

insert into dns_records (id, domain_id, name, type, ttl, value)
select gen_random_uuid(), d.id, r.name, r.type, 3600, r.value
from domains d join members m on m.id = d.member_id
cross join (values ('www', 'A', '192.0.2.10'), ('www', 'AAAA', '2001:db8::10'),
                   ('blog', 'CNAME', 'www.example.net.'), ('@', 'TXT', '"google-site-verification=bench"'),
                   ('_sip._tcp', 'SRV', '10 5 5060 sip.example.net.')) as r (name, type, value)
where m.email = 'member1@bench.test';

insert into dkim_keys (domain_id, selector, public_key, node_id)
select d.id, 'rsel1', repeat('MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA', 9),
       (select id from nodes where name = 'node-1')
from domains d join members m on m.id = d.member_id
where m.email = 'member1@bench.test';

-- A realistic handful of history for member1.
insert into audit_log (actor_id, actor_email, ip, action, subject_member_id, details)
select m.id, m.email, '127.0.0.1', 'domain.create', m.id, jsonb_build_object('domain', d.name)
from domains d join members m on m.id = d.member_id
where m.email = 'member1@bench.test';

commit;
-- Seeding updated the nodes and members rows thousands of times (each move bumps a node's
-- generation): vacuum, as autovacuum soon would, so that dead rows are not what is measured.
vacuum analyze;
SQL
pg_psql "$db_url" -tA -c "select 'seeded: ' || (select count(*) from members) || ' members, '
	|| (select count(*) from domains) || ' domains, ' || (select count(*) from mailboxes)
	|| ' mailboxes, ' || (select count(*) from sessions) || ' sessions'" >&2

# --- 6. member1 signs in for real, and creates its API token. ---

log "signing member1 in, creating its API token"
# member1's hash is the admin's (seeded so), so the admin's password signs it in.
status="$(req login-get "$base/login")"
expect 200 "$status" "GET /login"
csrf="$(set_cookie login-get __Host-ruche_csrf)"
[ -n "$csrf" ] || die "GET /login set no __Host-ruche_csrf cookie"
status="$(req login-post -H "Cookie: __Host-ruche_csrf=$csrf" \
	--data-urlencode "csrf=$csrf" \
	--data-urlencode "email=member1@bench.test" \
	--data-urlencode "password=$password" \
	"$base/login")"
expect 303 "$status" "POST /login"
session="$(set_cookie login-post __Host-ruche_session)"
[ -n "$session" ] || die "POST /login started no session"
# A signed-in browser sends both cookies.
cookies="__Host-ruche_session=$session; __Host-ruche_csrf=$csrf"

status="$(req token-post -H "Cookie: $cookies" \
	--data-urlencode "csrf=$csrf" --data-urlencode "label=bench" \
	"$base/account/api-tokens")"
expect 200 "$status" "POST /account/api-tokens"
api_token="$(sed -n 's/.*<code id="new-api-token">\(ruche_[A-Za-z0-9_-]*\)<\/code>.*/\1/p' \
	"$work/token-post.body" | head -n 1)"
[ -n "$api_token" ] || die "no <code id=\"new-api-token\"> in the response to POST /account/api-tokens"

# --- 7. Check the six URLs, then measure them. ---

log "checking the six URLs"
status="$(req check-login "$base/login")"
expect 200 "$status" "GET /login"
grep -q 'name="password"' "$work/check-login.body" || die "GET /login: no password field on the page"

# The dashboard must be member1's, not a redirect to /login.
status="$(req check-account -H "Cookie: $cookies" "$base/account")"
expect 200 "$status" "GET /account (a 303 here means the session cookie was refused)"
grep -q 'alpha-member1.test' "$work/check-account.body" ||
	die "GET /account: member1's domains are not on the dashboard"

status="$(req check-api -H "Authorization: Bearer $api_token" "$base/api/v1/domains")"
expect 200 "$status" "GET /api/v1/domains"
n="$(grep -o '"verification_token"' "$work/check-api.body" | wc -l)"
[ "$n" -eq 3 ] || die "GET /api/v1/domains: $n domains listed, expected member1's 3"
grep -q '"nameservers":\["ns' "$work/check-api.body" ||
	die "GET /api/v1/domains: no name servers in the domains' DNS pictures"

# The page of member1's first domain, with its DNS section.
domain_id="$(pg_psql "$db_url" -tA -c "select id from domains where name = 'alpha-member1.test'")"
[ -n "$domain_id" ] || die "no id for alpha-member1.test"
status="$(req check-domain -H "Cookie: $cookies" "$base/account/domains/$domain_id")"
expect 200 "$status" "GET /account/domains/{id}"
for needle in '<table id="registrar">' 'serial 1 behind the primary' '<table id="records">' '2001:db8::10'; do
	grep -qF "$needle" "$work/check-domain.body" ||
		die "GET /account/domains/{id}: no '$needle' on the page"
done

status="$(req check-members -H "Cookie: $admin_cookies" "$base/admin/members")"
expect 200 "$status" "GET /admin/members (a 303 or 404 here means the admin's session was refused)"
grep -q 'bench.test' "$work/check-members.body" || die "GET /admin/members: no member listed"

status="$(req check-dns -H "Cookie: $admin_cookies" "$base/admin/dns")"
expect 200 "$status" "GET /admin/dns"
grep -q 'ns.friends.test' "$work/check-dns.body" ||
	die "GET /admin/dns: the external secondary is not on the page"

# Response sizes (headers + body), to compare with what wrk reads: a run whose average
# differs a lot was not answered by the page that was checked.
size_of() {
	echo $(($(wc -c <"$work/$1.head") + $(wc -c <"$work/$1.body")))
}

# to_ms VALUE — a wrk duration (850.00us, 1.23ms, 1.05s, 1.2m) in milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1
		if (f < 0) { print "?"; exit }
		printf "%.2f", n * f
	}'
}

# to_bytes VALUE — a wrk size (123.45MB, 1.2KB, 800B) in bytes.
to_bytes() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		f = (u == "B") ? 1 : (u == "KB") ? 1024 : (u == "MB") ? 1048576 : (u == "GB") ? 1073741824 : -1
		if (f < 0) { print 0; exit }
		printf "%.0f", n * f
	}'
}

rows=()
# Headline figures, "NAME = VALUE UNIT", printed as `bench:` lines at the end.
figures=()
errors_low=0
# bench NAME LABEL URL EXPECTED-SIZE [HEADER] — warm-up, measured run with $connections
# connections, one table row, figures NAME_rps_<N>c and NAME_p99_<N>c.
bench() {
	local name="$1" label="$2" url="$3" size="$4" out avg
	selected "$name" || return 0
	local args=(-t"$threads" -c"$connections")
	if [ -n "${5:-}" ]; then
		args+=(-H "$5")
	fi
	log "wrk $label: warm-up $warmup, then $duration"
	wrk "${args[@]}" -d"$warmup" "$url" >/dev/null
	out="$(wrk "${args[@]}" -d"$duration" --latency "$url")"
	read_wrk "$label" "$out"
	avg="$(awk -v b="$bytes" -v n="$total" 'BEGIN { printf "%.0f", (n > 0) ? b / n : 0 }')"
	rows+=("| $label | $connections | $rps | $p50 | $p99 | $total | $errors | $avg B (checked: $size B) |")
	figures+=("${name}_rps_${connections}c = $rps req/s" "${name}_p99_${connections}c = $p99 ms")
	errors_low=$((errors_low + errors))
}

# read_wrk LABEL OUTPUT — sets rps, p50, p99 (ms), total, bytes and errors from wrk's output.
read_wrk() {
	local label="$1" out="$2"
	printf '%s\n' "$out" >&2
	rps="$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")"
	p50="$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")"
	p99="$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")"
	# "123456 requests in 15.00s, 456.78MB read"
	total="$(awk '/ requests in / { print $1 }' <<<"$out")"
	bytes="$(to_bytes "$(awk '/ requests in / { print ($NF == "read") ? $(NF-1) : "" }' <<<"$out")")"
	# "Non-2xx or 3xx responses: N" and "Socket errors: connect A, read B, write C, timeout D"
	errors="$(awk '/^  Non-2xx or 3xx responses:/ { n += $NF }
		/^  Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
		END { print n + 0 }' <<<"$out")"
	if [ -z "$rps" ] || [ -z "$total" ]; then
		die "could not read wrk's output for $label"
	fi
}

# selected NAME — whether BENCH_ONLY (when set) names this run.
selected() {
	[ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $1 "* ]]
}

if [ "${BENCH_HOLD:-}" = 1 ]; then
	cat >&2 <<EOF
holding (Ctrl-C stops and cleans up); server PID $server_pid, database $db_url
  curl -H 'Cookie: $cookies' $base/account
  curl -H 'Authorization: Bearer $api_token' $base/api/v1/domains
  curl -H 'Cookie: $cookies' $base/account/domains/$domain_id
  curl -H 'Cookie: $admin_cookies' $base/admin/members
EOF
	sleep infinity &
	wait $!
fi

# The machine's load when measuring starts and ends: other work on it lowers every figure.
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
bench login 'GET /login (anonymous)' "$base/login" "$(size_of check-login)"
bench account 'GET /account (session)' "$base/account" "$(size_of check-account)" "Cookie: $cookies"
bench api_domains 'GET /api/v1/domains (token)' "$base/api/v1/domains" "$(size_of check-api)" \
	"Authorization: Bearer $api_token"
bench domain_page 'GET /account/domains/{id} (session)' "$base/account/domains/$domain_id" \
	"$(size_of check-domain)" "Cookie: $cookies"
bench admin_members 'GET /admin/members (admin session)' "$base/admin/members" \
	"$(size_of check-members)" "Cookie: $admin_cookies"
bench admin_dns 'GET /admin/dns (admin session)' "$base/admin/dns" "$(size_of check-dns)" \
	"Cookie: $admin_cookies"
figures+=("errors_${connections}c = $errors_low count")

# All six URLs in turn on each connection, with many more connections than the server's pool
# has: requests queue for a connection, and must all be answered. wrk's timeout is raised to
# 30 s so that slow answers are measured as slow, not counted as errors.
if ! selected mixed; then
	printf 'bench: %s\n' "${figures[@]}"
	log "BENCH_ONLY=$BENCH_ONLY: results not written"
	exit 0
fi
log "wrk all six URLs with $connections_high connections: warm-up $warmup, then $duration"
cat >"$work/mixed.lua" <<LUA
-- The six measured URLs, each with the header its caller sends.
local routes = {
	{ "/login", nil, nil },
	{ "/account", "Cookie", "$cookies" },
	{ "/api/v1/domains", "Authorization", "Bearer $api_token" },
	{ "/account/domains/$domain_id", "Cookie", "$cookies" },
	{ "/admin/members", "Cookie", "$admin_cookies" },
	{ "/admin/dns", "Cookie", "$admin_cookies" },
}
local i = 0
request = function()
	i = i + 1
	local r = routes[(i % #routes) + 1]
	local headers = {}
	if r[2] then
		headers[r[2]] = r[3]
	end
	return wrk.format("GET", r[1], headers)
end
LUA
high_args=(-t"$threads" -c"$connections_high" --timeout 30s -s "$work/mixed.lua")
wrk "${high_args[@]}" -d"$warmup" "$base" >/dev/null
out="$(wrk "${high_args[@]}" -d"$duration" --latency "$base")"
read_wrk "all six URLs" "$out"
rows+=("| all six URLs in turn | $connections_high | $rps | $p50 | $p99 | $total | $errors | — |")
figures+=("mixed_rps_${connections_high}c = $rps req/s" "mixed_p99_${connections_high}c = $p99 ms"
	"errors_${connections_high}c = $errors count")

load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# The sessions and the token must still work after the runs (nothing was refused midway).
status="$(req recheck-account -H "Cookie: $cookies" "$base/account")"
expect 200 "$status" "GET /account after the run"
status="$(req recheck-api -H "Authorization: Bearer $api_token" "$base/api/v1/domains")"
expect 200 "$status" "GET /api/v1/domains after the run"
status="$(req recheck-dns -H "Cookie: $admin_cookies" "$base/admin/dns")"
expect 200 "$status" "GET /admin/dns after the run"

# --- Results. ---

date_iso="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! git diff --quiet HEAD -- 2>/dev/null; then
	commit="$commit (with uncommitted changes)"
fi
cpu="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)"
report="$(
	cat <<EOF
## Portal load benchmark — $date_iso

- commit $commit, $(nproc) CPUs${cpu:+ ($cpu)}, $(awk '/^MemTotal:/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM
- $members members over 3 nodes; member1 has 3 domains, 12 mailboxes, 6 aliases, 15 DNS records
- wrk -t$threads -c$connections -d$duration --latency (after a $warmup warm-up) per URL, then all six in turn with -c$connections_high --timeout 30s; on the same machine as the server and PostgreSQL 15
- PostgreSQL with **fsync=off** (benchmark only); control plane release build, default configuration (pool of 10 connections), DNS checks asking 127.0.0.1:9
- load average (1, 5, 15 min) when measuring started: $load_before; when it ended: $load_after

| Endpoint | Connections | Req/s | p50 (ms) | p99 (ms) | Requests | Errors | Avg response |
|---|---:|---:|---:|---:|---:|---:|---|
$(printf '%s\n' "${rows[@]}")

Errors: responses with status >= 400 plus socket errors, as counted by wrk. Avg response: bytes wrk read per response; it should be close to the size of the response checked with curl before the run.

\`\`\`
$(printf 'bench: %s\n' "${figures[@]}")
\`\`\`
EOF
)"
results="$root/tests/bench/results"
mkdir -p "$results"
file="$results/portal-$(date -u +%Y-%m-%d).md"
if [ -e "$file" ]; then
	# A second run on the same day keeps the first one's file.
	file="$results/portal-$(date -u +%Y-%m-%d-%H%M%S).md"
fi
printf '%s\n' "$report" >"$file"
echo
printf '%s\n' "$report"
echo
log "written to ${file#"$root"/}"
# The headline figures, last, one per line (also in the results file).
printf 'bench: %s\n' "${figures[@]}"
