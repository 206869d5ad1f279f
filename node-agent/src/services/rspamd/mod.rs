//! rspamd: the milter Postfix's submission services use, for DKIM signing and the per-member
//! outbound rate limit.
//!
//! rspamd runs with Debian's `/etc/rspamd/rspamd.conf` and `--var=LOCAL_CONFDIR=<root>/etc/rspamd`
//! (and DBDIR, RUNDIR, LOGDIR under the root), so everything here is a `local.d` (merged) or
//! `override.d` (replacing) file:
//! - workers on the layout's internal address; the milter proxy scans by itself (`self_scan`);
//! - nothing phones home: DNS goes to the local resolver only, and the modules that fetch
//!   remote maps or ask third parties (fuzzy_check, multimap, url_redirector, asn, phishing,
//!   whitelist, rbl, mid) are disabled; `mime_types` keeps its local map only;
//! - the sender is the login's own: `rspamd.local.lua` registers a prefilter,
//!   `RUCHE_FOREIGN_SENDER`, that rejects authenticated mail unless its envelope sender is not
//!   null, it has exactly one `From` header holding exactly one address, at most one `Sender`,
//!   and every one of these addresses is at a domain of the login's member (`domains.map`). If
//!   rspamd does not answer, submission defers (see `postfix`). So a member cannot send, and
//!   rspamd never signs, as another member's domain: not with `MAIL FROM:<>` (which Postfix's
//!   `reject_sender_login_mismatch` does not look at), not with a forged header;
//! - DKIM: authenticated mail only, signed when the header From domain is the envelope sender's
//!   and that domain is in `selectors.map`: a verified domain of an active tenant whose key the
//!   agent holds, at the key file `paths.map` names (keys are named after domain ids, see
//!   `crate::dkim`); never for a null envelope sender. The prefilter reads both maps and hands
//!   the key to the dkim_signing module in the task's variables;
//! - rate limit: one bucket per member (`layout.send_limit`), counted in messages, whatever the
//!   number of recipients; `rspamd.local.lua` registers the `ruche_member` selector, which maps
//!   the login to its member through its domain (`domains.map`: every mailbox of a domain is
//!   its owner's, and a node-wide map of every address would be rewritten at every mailbox
//!   change);
//! - forwarding limit: one bucket per member (`layout.forward_limit`) for the mail its aliases
//!   and catch-alls send off the node, counted once per message and member; the
//!   `ruche_forwarders` selector finds those members through `forwards.map` (built from
//!   Postfix's own alias table, following aliases through the node, see `postfix::forwarding`).
//!   Past either limit the message is deferred (4.7.1), so the sending server keeps it and
//!   retries;
//! - no recipient exempts a message from the limits (the module's default lets any message with
//!   `postmaster@` among its recipients through unlimited).
//!
//! Addresses appear only in the maps, written through `MapFile::insert`; `.conf`, `.inc` and
//! Lua files hold layout values only (paths, addresses of the node, ports).
//!
//! The maps are read by our own Lua (`rspamd.local.lua`) whenever a file's size or modification
//! time changed, not by rspamd's map watcher: a worker rspamd starts (after a reload) while a
//! map is replaced could keep the old contents and never see the change (a mailbox made as the
//! node started could not send; a key made during a reload was never used). So no change waits
//! on rspamd, and rspamd is reloaded only when its configuration changed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use protocol::desired::{DesiredState, Tenant};
use protocol::dns::is_dkim_selector;
use protocol::names::DomainName;

use crate::render::{
    Contents, Files, Layout, MemberLines, MemberMaterial, Members, MessageLimit, OnChange, HEADER,
};
use crate::services::Service;

mod daemon;

pub use daemon::Rspamd;

/// rspamd's id in the registry, the journal and agent.toml.
pub const SERVICE: Service = Service::new("rspamd");

pub const WORKER_PROXY: &str = "etc/rspamd/override.d/worker-proxy.inc";
pub const WORKER_CONTROLLER: &str = "etc/rspamd/override.d/worker-controller.inc";
pub const WORKER_NORMAL: &str = "etc/rspamd/override.d/worker-normal.inc";
pub const OPTIONS: &str = "etc/rspamd/local.d/options.inc";
pub const REDIS: &str = "etc/rspamd/local.d/redis.conf";
pub const DKIM_SIGNING: &str = "etc/rspamd/local.d/dkim_signing.conf";
pub const RATELIMIT: &str = "etc/rspamd/local.d/ratelimit.conf";
pub const MIME_TYPES: &str = "etc/rspamd/override.d/mime_types.conf";
pub const LOCAL_LUA: &str = "etc/rspamd/rspamd.local.lua";
pub const SELECTORS_MAP: &str = "etc/rspamd/ruche/selectors.map";
pub const DOMAINS_MAP: &str = "etc/rspamd/ruche/domains.map";
pub const PATHS_MAP: &str = "etc/rspamd/ruche/paths.map";
pub const FORWARDS_MAP: &str = "etc/rspamd/ruche/forwards.map";

/// Not a file: the name under which each member's Postfix alias entries are kept with its
/// lines, which the forwarding map follows across members (a member's forwarding may depend
/// on another member's aliases, so the map is the node's).
const ALIAS_ENTRIES: &str = "postfix alias entries";

/// Modules that fetch remote maps or send message data to third parties; each gets a
/// `local.d/<module>.conf` with `enabled = false;`.
pub const DISABLED_MODULES: [&str; 8] = [
    "asn",
    "fuzzy_check",
    "mid",
    "multimap",
    "phishing",
    "rbl",
    "url_redirector",
    "whitelist",
];

/// The RUNDIR given to rspamd. rspamd writes its pid file there only when it daemonizes: with
/// `-f` (foreground) the process that started it must signal the pid it knows.
pub const RUN_DIRECTORY: &str = "run/rspamd";

/// The resolver rspamd asks: a local one, so nothing but DNS leaves the node, and only through
/// the operator's resolver.
pub const NAMESERVER: &str = "127.0.0.1:53";

/// A member's entries in the maps: while it is active, its domains (and the selector and key
/// path of those that sign).
pub fn render_member(
    tenant: &Tenant,
    layout: &Layout,
    material: &MemberMaterial<'_>,
) -> MemberLines {
    let mut lines = MemberLines::default();
    if !tenant.active {
        return lines;
    }
    let mut selectors = MapFile::default();
    let mut paths = MapFile::default();
    let mut domains = MapFile::default();
    let member = tenant.member_id.as_str();
    for domain in &tenant.domains {
        let name = &domain.name;
        if let Some(selector) = material.dkim_selector(name) {
            selectors.insert(MapKey::Domain(name), selector, is_dkim_selector);
            // The key file of each signing domain, named after the domain's id.
            if let Some(key) = material.dkim_key(name) {
                let path = layout.path_text(&key.private_path());
                paths.insert(MapKey::Domain(name), &path, is_key_path);
            }
        }
        // The member each domain belongs to: the domains it may send from, and the member of
        // every login at that domain.
        domains.insert(MapKey::Domain(name), member, is_member_id);
    }
    lines.set(SELECTORS_MAP, selectors.lines("selector"));
    lines.set(PATHS_MAP, paths.lines("key path"));
    lines.set(DOMAINS_MAP, domains.lines("member id"));
    lines.set(ALIAS_ENTRIES, super::postfix::alias_lines(tenant));
    lines
}

pub fn render(desired: &DesiredState, layout: &Layout, members: &Members<'_>, files: &mut Files) {
    if let Err(problem) = layout.check() {
        tracing::error!(%problem, "rspamd: the layout cannot be written into a config file");
        return;
    }
    let internal = layout.internal;
    let ports = &layout.ports;
    let conf = OnChange::Reload;
    put(
        files,
        WORKER_PROXY,
        conf,
        worker_proxy(internal, ports.milter),
    );
    put(
        files,
        WORKER_CONTROLLER,
        conf,
        worker_controller(internal, ports.rspamd_controller),
    );
    put(
        files,
        WORKER_NORMAL,
        conf,
        worker("normal", internal, ports.rspamd_normal),
    );
    put(files, OPTIONS, conf, options(layout));
    put(files, REDIS, conf, redis(internal, ports.redis));
    put(files, DKIM_SIGNING, conf, dkim_signing());
    put(files, RATELIMIT, conf, ratelimit(layout));
    put(files, MIME_TYPES, conf, mime_types());
    for module in DISABLED_MODULES {
        let text =
            format!("{HEADER}# Fetches remote data or asks a third party.\nenabled = false;\n");
        put(
            files,
            &format!("etc/rspamd/local.d/{module}.conf"),
            conf,
            text,
        );
    }
    put(files, LOCAL_LUA, conf, local_lua(layout));
    for map in [SELECTORS_MAP, DOMAINS_MAP, PATHS_MAP] {
        let text = members.file(&[HEADER], map);
        put(files, map, OnChange::Nothing, text);
    }
    // Follows aliases across members: the node's, from every member's alias entries.
    let aliases = members.text(&[], ALIAS_ENTRIES);
    put(
        files,
        FORWARDS_MAP,
        OnChange::Nothing,
        format!("{HEADER}{}", forwards_map(desired, &aliases)),
    );
}

/// Every rspamd file is 0644: its keys are elsewhere (`crate::dkim`).
fn put(files: &mut Files, path: &str, on_change: OnChange, text: impl Into<Contents>) {
    crate::render::put(files, SERVICE, path, 0o644, on_change, text);
}

/// A UCL double-quoted string. Values are layout paths and socket addresses (checked by
/// `Layout::check`, or printed by the standard library); anything that could end the string
/// or be expanded (`$VAR`) is dropped rather than written.
fn quoted(value: &str) -> String {
    format!("\"{}\"", plain(value))
}

fn plain(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "/._-:[]".contains(*c))
        .collect()
}

fn endpoint(ip: IpAddr, port: u16) -> String {
    quoted(&SocketAddr::new(ip, port).to_string())
}

fn worker_proxy(internal: IpAddr, port: u16) -> String {
    format!(
        "{HEADER}# The milter Postfix's submission services use. It scans by itself: no normal\n\
         # worker is needed on the way.\n\
         bind_socket = {};\n\
         milter = yes;\n\
         timeout = 120s;\n\
         count = 1;\n\
         upstream \"local\" {{\n  default = yes;\n  self_scan = yes;\n}}\n",
        endpoint(internal, port)
    )
}

/// The controller (web UI, learning, statistics) is off: Debian's default gives it the password
/// "q1" and trusts every local process, and nothing on a node needs it yet. No default
/// passwords, ever.
fn worker_controller(internal: IpAddr, port: u16) -> String {
    format!(
        "{HEADER}# The controller worker: disabled (no default password; nothing needs it yet).\n\
         enabled = false;\n\
         bind_socket = {};\n\
         count = 1;\n",
        endpoint(internal, port)
    )
}

fn worker(name: &str, internal: IpAddr, port: u16) -> String {
    format!(
        "{HEADER}# The {name} worker, on the node's internal address only.\n\
         bind_socket = {};\n\
         count = 1;\n",
        endpoint(internal, port)
    )
}

fn options(layout: &Layout) -> String {
    format!(
        "{HEADER}# Written only when rspamd daemonizes (not with -f).\n\
         pidfile = {};\n\
         # fuzzy_check is left out of the C filters (it asks rspamd.com's fuzzy servers).\n\
         filters = \"chartable,dkim,regexp\";\n\
         dns {{\n  nameserver = [{}];\n}}\n",
        quoted(&layout.path_text(&format!("{RUN_DIRECTORY}/rspamd.pid"))),
        quoted(NAMESERVER)
    )
}

fn redis(internal: IpAddr, port: u16) -> String {
    format!("{HEADER}servers = {};\n", endpoint(internal, port))
}

fn dkim_signing() -> String {
    format!(
        "{HEADER}# Authenticated mail only, when the header From domain is the envelope sender's,\n\
         # never for the null sender. The ruche prefilter (rspamd.local.lua) has already rejected\n\
         # mail whose senders are not the login's member's, and names the From domain's selector\n\
         # and key file (selectors.map, paths.map) in the task's variables, where this module\n\
         # looks when no other source is set: a domain without both is not signed. So a login of\n\
         # one domain of a member may sign for another of the same member.\n\
         enabled = true;\n\
         sign_authenticated = true;\n\
         sign_local = false;\n\
         sign_inbound = false;\n\
         use_domain = \"header\";\n\
         use_esld = false;\n\
         allow_envfrom_empty = false;\n\
         allow_hdrfrom_mismatch = false;\n\
         allow_hdrfrom_multiple = false;\n\
         allow_username_mismatch = true;\n\
         try_fallback = false;\n\
         use_redis = false;\n"
    )
}

fn ratelimit(layout: &Layout) -> String {
    format!(
        "{HEADER}# One bucket per member for what its mailboxes send, one for what its aliases\n\
         # forward off the node.\n\
         rates {{\n{member}{forwards}}}\n\
         # The limits are the operator's: do not let them grow with a sender's ham history.\n\
         max_rate_mult = 1;\n\
         max_bucket_mult = 1;\n\
         # No recipient exempts a message (the default exempts postmaster and mailer-daemon):\n\
         # the one entry is a line feed, which no SMTP address can hold.\n\
         whitelisted_rcpts = [\"\\n\"];\n",
        member = rate(
            "member",
            "ruche_member",
            layout.send_limit,
            "You have sent too many messages: try again later",
        ),
        forwards = rate(
            "forwards",
            "ruche_forwarders",
            layout.forward_limit,
            "This address forwards more mail than its owner may: try again later",
        ),
    )
}

/// One rate of the ratelimit module: `limit.messages` per `limit.minutes` per selector value,
/// counted in messages whatever their number of recipients. `message` is a constant.
fn rate(name: &str, selector: &str, limit: MessageLimit, message: &str) -> String {
    format!(
        "  {name} {{\n    selector = \"{selector}\";\n    bucket {{\n      \
         burst = {messages};\n      rate = \"{messages} / {minutes}m\";\n      \
         skip_recipients = true;\n      message = \"{message}\";\n    }}\n  }}\n",
        messages = limit.messages,
        minutes = limit.minutes.max(1),
    )
}

fn mime_types() -> String {
    format!(
        "{HEADER}# Debian's local map only, not maps.rspamd.com.\n\
         file = [\"${{CONFDIR}}/maps.d/mime_types.inc\"];\n"
    )
}

/// Registers the `ruche_member` selector the rate limit uses, the prefilter that keeps each
/// member to its own senders and names the DKIM key to sign with. The maps are files the agent
/// rewrites; the Lua re-reads one when it changed (not through rspamd's maps: see the file).
fn local_lua(layout: &Layout) -> String {
    LOCAL_LUA_TEMPLATE
        .replace("@DOMAINS_MAP@", &quoted(&layout.path_text(DOMAINS_MAP)))
        .replace("@FORWARDS_MAP@", &quoted(&layout.path_text(FORWARDS_MAP)))
        .replace("@SELECTORS_MAP@", &quoted(&layout.path_text(SELECTORS_MAP)))
        .replace("@PATHS_MAP@", &quoted(&layout.path_text(PATHS_MAP)))
}

/// `rspamd.local.lua`, with `@DOMAINS_MAP@`, `@FORWARDS_MAP@`, `@SELECTORS_MAP@` and
/// `@PATHS_MAP@` standing for the maps' quoted paths.
const LOCAL_LUA_TEMPLATE: &str = include_str!("rspamd.local.lua");

/// A member id as the maps hold it: `[A-Za-z0-9_-]`, 1..=128 (ids are UUIDs today).
pub fn is_member_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The key of a map line, from typed names only: lowercase, no whitespace, no `#`.
enum MapKey<'a> {
    Domain(&'a DomainName),
    /// A key of Postfix's virtual alias table (`local@domain` or `@domain`), which that table
    /// built from typed names.
    Alias(&'a str),
}

/// An rspamd map file: `key value` lines, sorted, first insert of a key wins. A value outside
/// its allowed characters is left out and counted.
#[derive(Default)]
struct MapFile {
    entries: BTreeMap<String, String>,
    refused: usize,
}

impl MapFile {
    fn insert(&mut self, key: MapKey<'_>, value: &str, allowed: fn(&str) -> bool) {
        let key = match key {
            MapKey::Domain(domain) => domain.to_string(),
            MapKey::Alias(key) => key.to_owned(),
        };
        let plain_key = !key.is_empty() && key.chars().all(|c| c.is_ascii_graphic() && c != '#');
        if plain_key && allowed(value) {
            self.entries.entry(key).or_insert_with(|| value.to_owned());
        } else {
            self.refused += 1;
        }
    }

    /// Its lines, without the header.
    fn lines(&self, what: &str) -> String {
        let mut text = String::new();
        for (key, value) in &self.entries {
            let _ = writeln!(text, "{key} {value}");
        }
        if self.refused > 0 {
            tracing::warn!(
                refused = self.refused,
                map = what,
                "rspamd: map entries left out"
            );
            let _ = writeln!(
                text,
                "# {} entries left out: not a valid {what}",
                self.refused
            );
        }
        text
    }
}

/// An absolute path a map can hold: `/` then `[A-Za-z0-9/._-]` (the layout's root was checked
/// to hold only these; the rest is constants and ids).
fn is_key_path(s: &str) -> bool {
    s.starts_with('/')
        && !s.contains("..")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
}

/// The addresses whose mail leaves the node, to the member each counts against; `-` for the
/// addresses of a forwarding catch-all's domain that stay here (see `postfix::forwarding`).
/// `aliases`: every member's alias entries ([`ALIAS_ENTRIES`]).
fn forwards_map(desired: &DesiredState, aliases: &str) -> String {
    let owners = super::postfix::owners(&desired.tenants);
    let mut map = MapFile::default();
    for (key, member) in super::postfix::forwarding(aliases, &owners) {
        let value = member.as_deref().unwrap_or(STAYS_HERE);
        map.insert(MapKey::Alias(&key), value, is_member_id);
    }
    map.lines("member id")
}

/// The value `forwards.map` gives an address that does not forward. Not a member id: those are
/// UUIDs.
const STAYS_HERE: &str = "-";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids_are_plain() {
        assert!(is_member_id("0b6f4f0e-2d6a-4c53-9f55-3c1c1e0a9b7d"));
        for bad in ["", "a b", "a#b", "a\nb", "a\"b", &"a".repeat(129)] {
            assert!(!is_member_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_bad_value_is_left_out_and_counted() {
        let mut map = MapFile::default();
        let d = DomainName::parse("example.org").unwrap();
        map.insert(MapKey::Domain(&d), "bad selector", is_dkim_selector);
        map.insert(MapKey::Domain(&d), "good", is_dkim_selector);
        assert_eq!(
            map.entries.get("example.org").map(String::as_str),
            Some("good")
        );
        assert_eq!(map.refused, 1);
        assert!(map
            .lines("selector")
            .ends_with("# 1 entries left out: not a valid selector\n"));
    }

    #[test]
    fn quoted_values_cannot_end_the_string_or_expand() {
        assert_eq!(quoted("/srv/a\"b$VAR\\;"), "\"/srv/abVAR\"");
        assert_eq!(quoted("[::1]:11332"), "\"[::1]:11332\"");
    }

    #[test]
    fn the_rate_is_messages_per_minutes() {
        let mut layout = crate::render::Layout {
            root: "/srv/r".into(),
            hostname: DomainName::parse("mail.example.net").unwrap(),
            listen: "127.0.0.9".parse().unwrap(),
            internal: "127.0.0.9".parse().unwrap(),
            ports: crate::render::Ports::default(),
            broker: "127.0.0.9:1".parse().unwrap(),
            vmail_uid: 1,
            vmail_gid: 1,
            send_limit: crate::render::MessageLimit {
                messages: 5,
                minutes: 1,
            },
            forward_limit: crate::render::MessageLimit {
                messages: 3,
                minutes: 30,
            },
            relayhost: None,
        };
        let text = ratelimit(&layout);
        assert!(text.contains("burst = 5;"));
        assert!(text.contains("rate = \"5 / 1m\";"));
        assert!(text.contains("rate = \"3 / 30m\";"));
        layout.send_limit.minutes = 0;
        assert!(ratelimit(&layout).contains("rate = \"5 / 1m\";"));
    }
}
