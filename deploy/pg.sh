# shellcheck shell=bash
# Private PostgreSQL clusters for Ruche's scripts (tests/run.sh, tests/check-sqlx.sh,
# deploy/run.sh). Source it; it defines functions only:
#
#   deb_ensure PKG...            install those of the Debian packages that are not installed
#   pg_ensure_installed          install PostgreSQL 15 if its binaries are missing
#   pg_free_port                 print a free TCP port on 127.0.0.1, >= 20000
#   pg_start DIR PORT [OPT...]   create a cluster in DIR/data unless there is one, and start it
#                                on 127.0.0.1:PORT (socket in DIR, log in DIR/log); each OPT is a
#                                server setting such as fsync=off
#   pg_stop DIR                  stop the cluster in DIR/data if it runs (fast shutdown)
#   pg_running DIR               succeed if the cluster in DIR/data runs
#   pg_psql URL ARGS...          psql against URL, quiet, failing on the first error
#
# Clusters belong to the `postgres` user when run by root (initdb refuses root), to the calling
# user otherwise. A cluster is stopped through its data directory, never by process name.

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

# Installs the given Debian packages if they are missing (checked with dpkg -s).
deb_ensure() {
	local missing=() pkg
	for pkg in "$@"; do
		# A removed package keeps its status entry (and dpkg -s succeeds) until it is purged.
		if ! dpkg -s "$pkg" 2>/dev/null | grep -qx 'Status: install ok installed'; then
			missing+=("$pkg")
		fi
	done
	if [ "${#missing[@]}" -eq 0 ]; then
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing Debian packages: ${missing[*]}; install them as root:" >&2
		echo "  apt-get install --no-install-recommends ${missing[*]}" >&2
		return 1
	fi
	echo "installing Debian packages: ${missing[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Installs PostgreSQL unless its server binaries are there.
pg_ensure_installed() {
	if [ ! -x "$PG_BIN/initdb" ]; then
		deb_ensure postgresql
	fi
	if [ ! -x "$PG_BIN/initdb" ]; then
		# The metapackage may be installed while the server package was removed.
		deb_ensure postgresql-15
	fi
	if [ ! -x "$PG_BIN/initdb" ]; then
		echo "PostgreSQL 15 is not in $PG_BIN after installing it" >&2
		return 1
	fi
}

# Runs a command as the owner of the clusters.
_pg_as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# Prints a TCP port of 127.0.0.1 in 20000..32767 (below Linux's ephemeral range, so no outgoing
# connection holds it) that nothing listens on.
pg_free_port() {
	local port tries
	for tries in $(seq 1 200); do
		port=$((20000 + (RANDOM % 12768)))
		# A successful connection means the port is taken.
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	echo "no free port found on 127.0.0.1 after $tries tries" >&2
	return 1
}

pg_running() {
	local dir="$1"
	[ -f "$dir/data/PG_VERSION" ] && _pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

pg_start() {
	local dir="$1" port="$2" opts opt
	shift 2
	case "$dir" in
	*[[:space:]]*)
		echo "pg_start: the cluster directory must not contain spaces: $dir" >&2
		return 1
		;;
	esac
	# The server's socket, DIR/.s.PGSQL.PORT, must fit in a sockaddr_un (107 bytes).
	if [ "${#dir}" -gt 90 ]; then
		echo "pg_start: the cluster directory path is too long for a Unix socket: $dir" >&2
		return 1
	fi
	mkdir -p "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$dir"
		if ! runuser -u postgres -- test -w "$dir"; then
			echo "user postgres cannot write to $dir (check the permissions of its parents)" >&2
			return 1
		fi
	fi
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		_pg_as_owner "$PG_BIN/initdb" --auth=trust --no-sync -U postgres -E UTF8 --locale=C.UTF-8 \
			-D "$dir/data" >"$dir/initdb.log" 2>&1 || {
			cat "$dir/initdb.log" >&2
			return 1
		}
	fi
	if pg_running "$dir"; then
		echo "PostgreSQL in $dir/data is already running" >&2
		return 0
	fi
	opts="-p $port -k $dir -c listen_addresses=127.0.0.1"
	for opt in "$@"; do
		opts="$opts -c $opt"
	done
	if ! _pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 -o "$opts" start >/dev/null; then
		echo "PostgreSQL did not start; its log ($dir/log):" >&2
		tail -n 30 "$dir/log" >&2 || true
		return 1
	fi
}

pg_stop() {
	local dir="$1"
	if pg_running "$dir"; then
		_pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
	fi
}

pg_psql() {
	local url="$1"
	shift
	"$PG_BIN/psql" "$url" -X -q -v ON_ERROR_STOP=1 "$@"
}
