//! Dovecot: a self-contained `dovecot.conf` (IMAP, LMTP, the auth service Postfix uses for SASL,
//! quota-status for Postfix's quota policy), the Lua passdb and userdb that ask the agent's auth
//! broker, the passwd-file userdb `users` Dovecot falls back to while the broker does not
//! answer, and a copy of the mail host's TLS certificate and key.
//!
//! The broker answers user lookups from the state the agent has just applied, so a new mailbox
//! is served at once; a passwd-file alone would be re-read by Dovecot only when its modification
//! time changes, at most once a second. The broker's "unknown user" is final (the fallback is
//! asked only when the broker fails), so a removed mailbox is gone at once too.
//!
//! Only mailboxes of active tenants are known, to the broker as in `users`: a suspended member
//! cannot log in and LMTP refuses their mail (Postfix defers it before that, see `postfix.rs`).
//! No member value is ever written into `dovecot.conf` or the Lua source: addresses live only in
//! `users`, whose lines go through `users_line`.
//!
//! Without TLS material, `ssl = no` and the imaps listener is off; `disable_plaintext_auth` then
//! leaves no way to log in except from loopback.

use std::fmt::Write as _;

use protocol::desired::Tenant;
use protocol::names::{DomainName, LocalPart, ObjectId};

use crate::render::{
    put, tls, Files, Layout, MemberLines, Members, NodeMaterial, OnChange, HEADER,
};
use crate::services::Service;

mod daemon;

pub use daemon::Dovecot;

/// Dovecot's id in the registry, the journal and agent.toml.
pub const SERVICE: Service = Service::new("dovecot");

pub const DOVECOT_CONF: &str = "etc/dovecot/dovecot.conf";
pub const USERS: &str = "etc/dovecot/users";
pub const PASSDB_LUA: &str = "etc/dovecot/passdb.lua";
pub const TLS_CHAIN: &str = "etc/dovecot/tls/chain.pem";
pub const TLS_KEY: &str = "etc/dovecot/tls/key.pem";

/// Not rendered. Dovecot creates `base_dir`; `var/vmail` must exist and belong to the vmail
/// user, since homes are created under it with the mail uid. Each mailbox's home is
/// [`home`]: named after the mailbox's id, never its address, so a later mailbox of the same
/// address starts empty (`crate::mail_store` removes the stores of mailboxes that are gone).
pub const BASE_DIR: &str = "run/dovecot";
pub const LOG_PATH: &str = "var/log/dovecot.log";
pub const VMAIL: &str = "var/vmail";

/// What Postfix answers at RCPT for a full mailbox (through quota-status).
pub const OVERQUOTA_REPLY: &str = "552 5.2.2 Mailbox is full";

/// A mailbox's home (its `Maildir` is inside), relative to the layout's root.
pub fn home(mailbox: &ObjectId) -> String {
    format!("{VMAIL}/{mailbox}")
}

/// The passdb and userdb script, with `@BROKER@` standing for the broker's `host:port` and
/// `@VMAIL@` for the absolute directory of the homes.
const PASSDB_TEMPLATE: &str = include_str!("passdb.lua");

pub fn render(layout: &Layout, material: &NodeMaterial, members: &Members<'_>, files: &mut Files) {
    if let Err(problem) = layout.check() {
        tracing::error!(%problem, "dovecot: the layout cannot be written into a config file");
        return;
    }
    let host = material.host_cert(&layout.hostname, (TLS_CHAIN, TLS_KEY));
    let reload = OnChange::Reload;
    put(
        files,
        SERVICE,
        DOVECOT_CONF,
        0o644,
        reload,
        dovecot_conf(layout, host.as_ref(), material),
    );
    put(files, SERVICE, PASSDB_LUA, 0o644, reload, auth_lua(layout));
    // Re-read by Dovecot when its modification time changes.
    let users = members.file(&[HEADER], USERS);
    put(files, SERVICE, USERS, 0o644, OnChange::Nothing, users);
    if let Some(pair) = &material.tls {
        put(
            files,
            SERVICE,
            TLS_CHAIN,
            0o644,
            reload,
            pair.chain_pem.clone(),
        );
        put(files, SERVICE, TLS_KEY, 0o600, reload, pair.key_pem.clone());
    }
}

fn auth_lua(layout: &Layout) -> String {
    // A socket address prints as `1.2.3.4:5` or `[::1]:5`, and a checked layout's paths hold
    // letters, digits and `/._-` only: nothing that could end a Lua string.
    PASSDB_TEMPLATE
        .replace("@BROKER@", &layout.broker.to_string())
        .replace("@VMAIL@", &layout.path_text(VMAIL))
}

/// `host`: the node's certificate (chain, key), relative to the root; the members' domains'
/// certificates are presented by SNI (`local_name`).
fn dovecot_conf(
    layout: &Layout,
    host: Option<&(String, String)>,
    material: &NodeMaterial,
) -> String {
    let listen = layout.listen;
    let internal = layout.internal;
    let ports = &layout.ports;
    let mut c = String::from(HEADER);
    c.push_str("# Self-contained: nothing under /etc/dovecot is read.\n");
    let _ = writeln!(c, "protocols = imap lmtp");
    let _ = writeln!(c, "listen = {listen}");
    let _ = writeln!(c, "hostname = {}", layout.hostname);
    let _ = writeln!(c, "base_dir = {}", layout.path_text(BASE_DIR));
    let _ = writeln!(c, "log_path = {}", layout.path_text(LOG_PATH));
    c.push_str(
        "# A reload (a renewed certificate, a member's new name) keeps every open session;\n",
    );
    c.push_str("# by default Dovecot ends them all with \"Server shutting down\".\n");
    c.push_str("shutdown_clients = no\n");
    c.push('\n');
    c.push_str("# Mail is stored as one system user; homes come from the userdb.\n");
    let _ = writeln!(c, "mail_uid = {}", layout.vmail_uid);
    let _ = writeln!(c, "mail_gid = {}", layout.vmail_gid);
    let _ = writeln!(c, "first_valid_uid = {}", layout.vmail_uid);
    let _ = writeln!(c, "first_valid_gid = {}", layout.vmail_gid);
    c.push_str("mail_location = maildir:~/Maildir\n");
    c.push_str("mail_plugins = $mail_plugins quota\n");
    c.push_str("# A `+tag` after the local part is delivered to the mailbox, as in Postfix.\n");
    c.push_str("recipient_delimiter = +\n");
    c.push('\n');
    c.push_str("# Passwords only after TLS (ssl = required holds even on loopback).\n");
    c.push_str("disable_plaintext_auth = yes\n");
    c.push_str("auth_mechanisms = plain login\n");
    if let Some((chain, key)) = host {
        c.push_str("ssl = required\n");
        let _ = writeln!(c, "ssl_cert = <{}", layout.path_text(chain));
        let _ = writeln!(c, "ssl_key = <{}", layout.path_text(key));
        // The node's TLS profile (Mozilla's intermediate).
        let _ = writeln!(c, "ssl_min_protocol = {}", tls::MIN_PROTOCOL);
        let _ = writeln!(c, "ssl_cipher_list = {}", tls::CIPHERS);
        c.push_str("ssl_prefer_server_ciphers = no\n");
        // Each member domain with a certificate presents it to a client that asks for the
        // domain by name (SNI; `NodeMaterial::mail_sni`). Names are typed (`[a-z0-9.-]`);
        // paths are the layout's.
        for (name, cert) in material.mail_sni() {
            let _ = writeln!(
                c,
                "local_name {name} {{\n  ssl_cert = <{}\n  ssl_key = <{}\n}}",
                layout.path_text(&cert.chain()),
                layout.path_text(&cert.key()),
            );
        }
    } else {
        c.push_str("# No TLS material on this node.\n");
        c.push_str("ssl = no\n");
    }
    c.push('\n');
    c.push_str("# The agent's auth broker decides every password (mailbox or app password).\n");
    c.push_str("passdb {\n  driver = lua\n");
    let _ = writeln!(
        c,
        "  args = file={} blocking=yes",
        layout.path_text(PASSDB_LUA)
    );
    c.push_str("}\n");
    c.push_str(
        "# The broker knows every mailbox the moment it is applied; its \"unknown\" is final.\n",
    );
    c.push_str(
        "# Only when it does not answer is the passwd-file asked (mail keeps arriving while\n",
    );
    c.push_str("# the agent restarts).\n");
    c.push_str("userdb {\n  driver = lua\n");
    let _ = writeln!(
        c,
        "  args = file={} blocking=yes",
        layout.path_text(PASSDB_LUA)
    );
    c.push_str("  result_failure = return-fail\n  result_internalfail = continue\n}\n");
    c.push_str("userdb {\n  driver = passwd-file\n");
    let _ = writeln!(c, "  args = {}", layout.path_text(USERS));
    c.push_str("}\n");
    c.push('\n');
    c.push_str(NAMESPACE);
    c.push('\n');
    c.push_str("service imap-login {\n");
    let _ = writeln!(
        c,
        "  inet_listener imap {{\n    address = {listen}\n    port = {}\n  }}",
        ports.imap
    );
    if host.is_some() {
        let _ = writeln!(
            c,
            "  inet_listener imaps {{\n    address = {listen}\n    port = {}\n    ssl = yes\n  }}",
            ports.imaps
        );
    } else {
        c.push_str("  inet_listener imaps {\n    port = 0\n  }\n");
    }
    c.push_str("}\n");
    let _ = writeln!(
        c,
        "service lmtp {{\n  inet_listener lmtp {{\n    address = {internal}\n    port = {}\n  }}\n}}",
        ports.lmtp
    );
    c.push_str("# Postfix's SASL client (smtpd_sasl_type = dovecot) connects here.\n");
    let _ = writeln!(
        c,
        "service auth {{\n  inet_listener sasl {{\n    address = {internal}\n    port = {}\n  }}\n}}",
        ports.sasl
    );
    c.push_str("# Postfix's check_policy_service asks here whether a recipient has room.\n");
    let _ = writeln!(
        c,
        "service quota-status {{\n  executable = quota-status -p postfix\n  \
         inet_listener quota-status {{\n    address = {internal}\n    port = {}\n  }}\n  \
         client_limit = 1\n}}",
        ports.quota_status
    );
    c.push('\n');
    c.push_str("protocol imap {\n  mail_plugins = $mail_plugins imap_quota\n}\n");
    c.push_str("protocol lmtp {\n  mail_plugins = $mail_plugins\n}\n");
    c.push_str("# Refuse at RCPT rather than bounce after DATA.\n");
    c.push_str("lmtp_rcpt_check_quota = yes\n");
    c.push('\n');
    c.push_str("plugin {\n");
    c.push_str("  quota = count:User quota\n");
    c.push_str("  quota_vsizes = yes\n");
    c.push_str("  quota_status_success = DUNNO\n");
    c.push_str("  quota_status_nouser = DUNNO\n");
    let _ = writeln!(c, "  quota_status_overquota = \"{OVERQUOTA_REPLY}\"");
    c.push_str("}\n");
    c
}

const NAMESPACE: &str = "\
namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
}
";

/// A member's lines of the user list: its mailboxes, none while it is suspended.
pub fn render_member(tenant: &Tenant, layout: &Layout) -> MemberLines {
    let mut lines = MemberLines::default();
    lines.set(USERS, users(tenant, layout));
    lines
}

fn users(tenant: &Tenant, layout: &Layout) -> String {
    let mut lines = Vec::new();
    let mut refused = 0usize;
    if tenant.active {
        for domain in &tenant.domains {
            for mailbox in &domain.mailboxes {
                let Some(id) = &mailbox.id else {
                    // Not served (see `DesiredState::served`): no store to name it after.
                    continue;
                };
                match users_line(
                    &mailbox.local_part,
                    &domain.name,
                    id,
                    mailbox.quota_bytes,
                    layout,
                ) {
                    Some(line) => lines.push(line),
                    None => refused += 1,
                }
            }
        }
    }
    // Stable whatever the order of the member's mailboxes, and passwd-file keeps the first of
    // duplicates.
    lines.sort();
    lines.dedup_by(|a, b| user_of(a) == user_of(b));
    let mut text = String::new();
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    if refused > 0 {
        tracing::warn!(refused, "dovecot: users left out");
        let _ = writeln!(
            text,
            "# {refused} users left out: a field Dovecot could misread"
        );
    }
    text
}

fn user_of(line: &str) -> &str {
    line.split(':').next().unwrap_or_default()
}

/// One passwd-file userdb line:
/// `user:password:uid:gid:gecos:home:shell:extra fields` with no password (the passdb is Lua)
/// and the quota as a userdb extra field. The fields come from typed names and the checked
/// layout; a field holding `:` would shift the columns and a space would split the extra
/// fields, so such a line is refused (`None`).
fn users_line(
    local: &LocalPart,
    domain: &DomainName,
    id: &ObjectId,
    quota: u64,
    layout: &Layout,
) -> Option<String> {
    let user = format!("{local}@{domain}");
    let home = layout.path_text(&home(id));
    let plain = |field: &str| {
        !field.is_empty()
            && field
                .chars()
                .all(|c| c.is_ascii_graphic() && c != ':' && c != '#')
    };
    if !plain(&user) || !plain(&home) {
        return None;
    }
    // Dovecot reads a zero limit as "no limit"; the control plane never sends one, but a
    // mailbox must not become unlimited by accident.
    let quota = quota.max(1);
    Some(format!(
        "{user}::{}:{}::{home}::userdb_quota_rule=*:storage={quota}B",
        layout.vmail_uid, layout.vmail_gid
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{MessageLimit, Ports};
    use std::path::PathBuf;

    fn layout(root: &str) -> Layout {
        Layout {
            root: PathBuf::from(root),
            hostname: DomainName::parse("mail.example.net").unwrap(),
            listen: "127.0.0.9".parse().unwrap(),
            internal: "127.0.0.9".parse().unwrap(),
            ports: Ports::default(),
            broker: "127.0.0.9:40001".parse().unwrap(),
            vmail_uid: 5000,
            vmail_gid: 5001,
            send_limit: MessageLimit::default(),
            forward_limit: MessageLimit::forwarding(),
            relayhost: None,
        }
    }

    #[test]
    fn a_users_line_has_eight_fields_and_the_quota_in_bytes() {
        let local = LocalPart::parse("alice").unwrap();
        let domain = DomainName::parse("example.org").unwrap();
        let id = ObjectId::parse("0b7c6f7e-1c2d").unwrap();
        let line = users_line(&local, &domain, &id, 1024, &layout("/srv/r")).unwrap();
        assert_eq!(
            line,
            "alice@example.org::5000:5001::/srv/r/var/vmail/0b7c6f7e-1c2d::\
             userdb_quota_rule=*:storage=1024B"
        );
        assert_eq!(line.matches(':').count(), 8);
        // Zero never means unlimited.
        let line = users_line(&local, &domain, &id, 0, &layout("/srv/r")).unwrap();
        assert!(line.ends_with("storage=1B"));
    }

    #[test]
    fn a_root_that_would_shift_the_columns_is_refused() {
        let local = LocalPart::parse("alice").unwrap();
        let domain = DomainName::parse("example.org").unwrap();
        let id = ObjectId::parse("m1").unwrap();
        assert_eq!(
            users_line(&local, &domain, &id, 1, &layout("/srv/a:b")),
            None
        );
        assert_eq!(
            users_line(&local, &domain, &id, 1, &layout("/srv/a b")),
            None
        );
    }

    #[test]
    fn the_lua_script_names_the_broker_and_the_homes_and_nothing_else() {
        let lua = auth_lua(&layout("/srv/r"));
        assert!(lua.contains("local BROKER = \"http://127.0.0.9:40001\""));
        assert!(lua.contains("local VMAIL = \"/srv/r/var/vmail\""));
        assert!(!lua.contains("@BROKER@") && !lua.contains("@VMAIL@"));
        let mut v6 = layout("/srv/r");
        v6.broker = "[::1]:40001".parse().unwrap();
        assert!(auth_lua(&v6).contains("local BROKER = \"http://[::1]:40001\""));
    }

    #[test]
    fn without_tls_there_is_no_imaps_and_no_ssl() {
        let conf = dovecot_conf(&layout("/srv/r"), None, &NodeMaterial::default());
        assert!(conf.contains("ssl = no\n"));
        assert!(conf.contains("inet_listener imaps {\n    port = 0\n  }"));
        assert!(!conf.contains("ssl_key"));
    }
}
