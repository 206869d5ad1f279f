# shellcheck shell=bash
# A local node next to the control plane, for deploy/run.sh: Postfix, Dovecot, rspamd, Redis,
# postsrsd, Knot DNS and nginx from Debian's packages, configured by the real `node-agent`, each started by this script as a
# child (these machines have no systemd). Source it after deploy/pg.sh; it defines functions only:
#
#   node_install               install the mail packages and create the vmail user
#   node_start BIN_DIR DIR URL start a node whose files live in DIR, joined to the control plane
#                              at URL (joins once: DIR/state/node.json is kept across runs)
#   node_stop                  stop what node_start started (agent first, then the daemons)
#
# Ports: with RUCHE_NODE_STANDARD_PORTS=1 the node takes the standard ones (25, 587, 465, 143,
# 993, 53 for DNS, 80 and 443 for the web front); otherwise 2525, 2587, 2465, 2143, 2993, 5300,
# 2080 and 2443, so a development machine's own mail, resolver and web server are left alone.
# RUCHE_NODE_LISTEN (default 127.0.0.1) is where those listen; RUCHE_NODE_ADDRESS (default: the
# same) the node's public address, where its name server answers and its domains point (required
# when RUCHE_NODE_LISTEN is 0.0.0.0); RUCHE_NODE_HOSTNAME (default
# mail.localhost) the name on the node's self-signed certificate (kept in DIR/tls; replace it
# with a real one, same file names). With RUCHE_NODE_ACME_CONTACT (an email address) the node gets
# its members' certificates by ACME, from Let's Encrypt or RUCHE_NODE_ACME_DIRECTORY: only on a
# machine the world reaches on ports 80 and 443 under the names it serves. RUCHE_NODE_PORTAL (a
# name) and RUCHE_NODE_PORTAL_UPSTREAM (the control plane's address) put the portal behind the
# node's HTTPS front (deploy/run.sh sets them from RUCHE_PUBLIC_HOST); they imply [acme].

NODE_PACKAGES=(postfix postfix-lmdb dovecot-imapd dovecot-lmtpd dovecot-auth-lua lua-cjson
	rspamd redis-server openssl knot knot-dnsutils knot-dnssecutils postsrsd nginx)
node_pids=()
node_postfix_dir=""

node_install() {
	if ! dpkg -s postfix >/dev/null 2>&1; then
		echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	fi
	DEBIAN_FRONTEND=noninteractive deb_ensure "${NODE_PACKAGES[@]}"
	if ! id vmail >/dev/null 2>&1; then
		useradd --system --no-create-home --shell /usr/sbin/nologin vmail
	fi
}

# _node_dir DIR MODE [OWNER]: create DIR with MODE (and OWNER).
_node_dir() {
	mkdir -p "$1"
	chmod "$2" "$1"
	if [ -n "${3:-}" ]; then chown "$3" "$1"; fi
}

# _node_wait_port HOST PORT: succeed once something listens there (10 s at most).
_node_wait_port() {
	local _
	for _ in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	return 1
}

node_start() {
	local bin_dir="$1" dir="$2" url="$3"
	local listen="${RUCHE_NODE_LISTEN:-127.0.0.1}" host="${RUCHE_NODE_HOSTNAME:-mail.localhost}"
	local public="${RUCHE_NODE_ADDRESS:-$listen}"
	local root="$dir/root" state="$dir/state" tls="$dir/tls"
	if [ "$public" = 0.0.0.0 ]; then
		echo "node: set RUCHE_NODE_ADDRESS to this machine's public address (DNS answers there)" >&2
		return 1
	fi
	local smtp=2525 submission=2587 submissions=2465 imap=2143 imaps=2993 dns=5300
	local http=2080 https=2443
	if [ "${RUCHE_NODE_STANDARD_PORTS:-0}" = 1 ]; then
		smtp=25 submission=587 submissions=465 imap=143 imaps=993 dns=53 http=80 https=443
	fi
	_node_dir "$dir" 0755
	_node_dir "$tls" 0700
	# postsrsd's secret signs the SRS addresses of forwarded mail: made once, kept across runs.
	if [ ! -f "$dir/srs.secret" ]; then
		(umask 077 && head -c 32 /dev/urandom | base64 >"$dir/srs.secret")
	fi
	if [ ! -f "$tls/mail.pem" ]; then
		openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$host" \
			-addext "subjectAltName=DNS:$host" -keyout "$tls/mail.key" -out "$tls/mail.pem" 2>/dev/null
		echo "node: made a self-signed certificate for $host in $tls" >&2
	fi

	if [ ! -f "$state/node.json" ]; then
		local token
		# The control plane refuses RUCHE_* variables that are not its own keys.
		token="$(env -u RUCHE_LISTEN -u RUCHE_PG_PORT -u RUCHE_NODE -u RUCHE_NODE_LISTEN \
			-u RUCHE_NODE_HOSTNAME -u RUCHE_NODE_STANDARD_PORTS -u RUCHE_NODE_ADDRESS \
			-u RUCHE_NODE_ACME_CONTACT -u RUCHE_NODE_ACME_DIRECTORY -u RUCHE_PUBLIC_HOST \
			-u RUCHE_NODE_PORTAL -u RUCHE_NODE_PORTAL_UPSTREAM \
			"$bin_dir/control-plane" add-node --name "$(hostname)")"
		# The token goes through standard input, never the command line (ps, /proc).
		printf '%s\n' "$token" |
			"$bin_dir/node-agent" join "$url" --token-file - --address "$listen" --state-dir "$state"
	fi

	local postfix_dir="$root/etc/postfix" dovecot_conf="$root/etc/dovecot/dovecot.conf"
	# rspamadm takes --var before its command.
	local rspamd_vars=(--var="LOCAL_CONFDIR=$root/etc/rspamd" --var="DBDIR=$root/var/lib/rspamd"
		--var="RUNDIR=$root/run/rspamd" --var="LOGDIR=$root/var/log/rspamd")
	cat >"$dir/agent.toml" <<-TOML
		# Written by deploy/run.sh at each start; see deploy/agent.example.toml.
		state_dir = "$state"
		[layout]
		root = "$root"
		hostname = "$host"
		listen = "$listen"
		internal = "127.0.0.1"
		broker = "127.0.0.1:24080"
		vmail_uid = $(id -u vmail)
		vmail_gid = $(id -g vmail)
		[layout.ports]
		smtp = $smtp
		submission = $submission
		submissions = $submissions
		imap = $imap
		imaps = $imaps
		lmtp = 24024
		sasl = 24012
		quota_status = 24013
		milter = 24014
		rspamd_controller = 24015
		rspamd_normal = 24016
		redis = 24017
		srs_forward = 24018
		srs_reverse = 24019
		reinject = 24025
		[layout.send_limit]
		messages = 200
		minutes = 60
		[layout.forward_limit]
		messages = 100
		minutes = 60
		[dns]
		listen = "$public:$dns"
		addresses = ["$public"]
		[web]
		http = "$listen:$http"
		https = "$listen:$https"
		[tls]
		chain = "$tls/mail.pem"
		key = "$tls/mail.key"
		[commands]
		postmap = ["postmap", "-c", "$postfix_dir"]
		dkim_group = "_rspamd"
		[commands.postfix]
		check = ["postfix", "-c", "$postfix_dir", "check"]
		reload = ["postfix", "-c", "$postfix_dir", "reload"]
		[commands.dovecot]
		check = ["doveconf", "-n", "-c", "$dovecot_conf"]
		reload = ["doveadm", "-c", "$dovecot_conf", "reload"]
		[commands.rspamd]
		check = ["rspamadm", $(printf '"%s", ' "${rspamd_vars[@]}")"configtest", "-c", "/etc/rspamd/rspamd.conf"]
		reload = ["sh", "-c", "kill -HUP \$(cat $dir/rspamd.pid)"]
		[commands.knot]
		knotc = ["knotc", "-c", "$root/etc/knot/knot.conf"]
		kzonecheck = ["kzonecheck"]
		[commands.nginx]
		check = ["nginx", "-t", "-q", "-c", "$root/etc/nginx/nginx.conf"]
		reload = ["nginx", "-s", "reload", "-c", "$root/etc/nginx/nginx.conf"]
	TOML
	if [ -n "${RUCHE_NODE_PORTAL:-}" ]; then
		cat >>"$dir/agent.toml" <<-TOML
			[web.portal]
			name = "$RUCHE_NODE_PORTAL"
			upstream = "${RUCHE_NODE_PORTAL_UPSTREAM:-127.0.0.1:8080}"
		TOML
	fi
	if [ -n "${RUCHE_NODE_ACME_CONTACT:-}" ] || [ -n "${RUCHE_NODE_PORTAL:-}" ]; then
		cat >>"$dir/agent.toml" <<-TOML
			[acme]
			directory = "${RUCHE_NODE_ACME_DIRECTORY:-https://acme-v02.api.letsencrypt.org/directory}"
		TOML
		if [ -n "${RUCHE_NODE_ACME_CONTACT:-}" ]; then
			echo "contact = \"$RUCHE_NODE_ACME_CONTACT\"" >>"$dir/agent.toml"
		fi
	fi
	chmod 600 "$dir/agent.toml"

	# The directories the daemons expect (systemd's tmpfiles would make them on a real node).
	_node_dir "$root" 0755
	_node_dir "$root/etc" 0755
	_node_dir "$root/var" 0755
	_node_dir "$root/var/lib" 0755
	_node_dir "$root/run" 0755
	_node_dir "$root/var/log" 0755
	_node_dir "$root/var/spool/postfix" 0755
	_node_dir "$root/var/lib/postfix" 0700 postfix
	_node_dir "$root/run/dovecot" 0755
	_node_dir "$root/var/vmail" 0750 vmail:vmail
	_node_dir "$root/var/lib/rspamd" 0750 _rspamd:_rspamd
	_node_dir "$root/run/rspamd" 0750 _rspamd:_rspamd
	_node_dir "$root/var/log/rspamd" 0750 _rspamd:_rspamd
	_node_dir "$root/var/lib/redis" 0700
	_node_dir "$root/var/lib/knot" 0750
	_node_dir "$root/run/knot" 0750
	_node_dir "$root/var/lib/postsrsd" 0755

	"$bin_dir/node-agent" reconcile --config "$dir/agent.toml"

	redis-server --save "" --appendonly no --bind 127.0.0.1 --port 24017 \
		--dir "$root/var/lib/redis" --daemonize no --logfile "$root/var/log/redis.log" &
	node_pids+=($!)
	postsrsd "-s$dir/srs.secret" "-d$host" -l127.0.0.1 -f24018 -r24019 -upostsrsd \
		"-c$root/var/lib/postsrsd" &
	node_pids+=($!)
	rspamd -f -u _rspamd -g _rspamd -c /etc/rspamd/rspamd.conf "${rspamd_vars[@]}" &
	node_pids+=($!)
	echo "$!" >"$dir/rspamd.pid"
	dovecot -F -c "$dovecot_conf" &
	node_pids+=($!)
	postfix -c "$postfix_dir" start
	node_postfix_dir="$postfix_dir"
	knotd -c "$root/etc/knot/knot.conf" &
	node_pids+=($!)
	nginx -c "$root/etc/nginx/nginx.conf" -g "daemon off;" &
	node_pids+=($!)

	local port
	for port in "$smtp" "$submission" "$imap" "$imaps" 24024 24014 24018 24019 24025 "$dns" "$http"; do
		local host_to_try="${listen/0.0.0.0/127.0.0.1}"
		if [ "$port" = "$dns" ]; then host_to_try="$public"; fi
		if ! _node_wait_port "$host_to_try" "$port"; then
			echo "node: nothing listens on port $port: see the logs in $root/var/log" >&2
			return 1
		fi
	done

	"$bin_dir/node-agent" run --config "$dir/agent.toml" &
	# The agent first in the list: node_stop stops it before the daemons.
	node_pids=("$!" "${node_pids[@]}")
	echo "node: mail for $host on $listen — SMTP $smtp, submission $submission/$submissions, IMAP $imap/$imaps, DNS $dns, HTTP $http" >&2
}

node_stop() {
	local pid
	for pid in "${node_pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	node_pids=()
	if [ -n "$node_postfix_dir" ]; then
		postfix -c "$node_postfix_dir" stop || true
		node_postfix_dir=""
	fi
}
