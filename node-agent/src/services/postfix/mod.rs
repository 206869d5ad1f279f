//! Postfix: `main.cf`, `master.cf`, five lookup tables (sources for `postmap lmdb:`) and a copy
//! of the mail host's TLS certificate and key.
//!
//! Mail routing, as the tables say it:
//! - every domain the node serves (verified: the agent renders from `DesiredState::served`) of
//!   every tenant, suspended or not, is a virtual mailbox domain, and every mailbox is listed, so
//!   the tables do not change when a member is suspended; a pending claim on a name is unknown to
//!   Postfix, so mail to it leaves the node for the name's real servers;
//! - `aliases` (virtual_alias_maps): explicit aliases, the catch-all `@domain`, each mailbox to
//!   itself on a domain that has a catch-all (else the catch-all would swallow the mailbox), and
//!   the RFC 2142 `postmaster@` and `abuse@` of every domain, unless the tenant has a mailbox or
//!   an alias of that name there: to the tenant's first mailbox on that domain, else its first
//!   mailbox anywhere, else its contact address; with none of these the address is left out and
//!   mail to it is refused as unknown (there is nobody to deliver it to);
//! - `senders` (smtpd_sender_login_maps): `@domain` for each domain of an active tenant, to all
//!   its mailbox addresses (the SASL login is a mailbox address): every address of the domain
//!   is the member's, its mailboxes', aliases' and role addresses alike;
//! - `recipients` (check_recipient_access): each domain of a suspended tenant answers a temporary
//!   `450 4.2.1`, so senders retry and nothing is lost while the member is suspended. The key is
//!   the domain (which covers the catch-all too); `parent_domain_matches_subdomains` leaves out
//!   `smtpd_access_maps` so that it does not also match another member's subdomain.
//!
//! Forwarded mail (SRS): mail from elsewhere that an alias or catch-all sends off the node
//! leaves with its envelope sender rewritten by postsrsd (`SRS0=…@<host name>`), so that the
//! receiver's SPF check sees this host, not the original sender's domain; a bounce to such an
//! address is accepted only if postsrsd signed it, and goes back to the original sender.
//! Only forwarded mail is rewritten, so members still see the real sender of what they
//! receive:
//! - `direct-senders` (sender_dependent_default_transport_maps) sends mail from every domain the
//!   node serves, from the host name (rewritten senders, the postmaster) and from the null sender
//!   straight out (`smtp`, or the layout's relay host);
//! - anything else that leaves the node can only be forwarded mail (port 25 relays nothing, and
//!   submission only takes the login's own senders): `default_transport` hands it to an internal
//!   listener (`ports.reinject`) whose cleanup service asks postsrsd (`ports.srs_forward`), and
//!   the rewritten message then leaves as mail from the host name;
//! - `recipient_canonical_maps` pipes addresses that look like SRS at the host name (the
//!   `srs-addresses` regexp table) to postsrsd's reverse table (`ports.srs_reverse`); every
//!   other recipient is never sent to postsrsd, so port 25 keeps working if it is down. The
//!   host name is a virtual alias domain only so that port 25 accepts those addresses.
//!
//! Each member's forwarding is rate-limited by rspamd (see `rspamd.rs`).
//!
//! Submission refuses the null sender (`reject_sender_login_mismatch` does not look at it), and
//! defers mail while rspamd, which checks the header senders against the login, does not
//! answer (`milter_default_action = tempfail`); see `rspamd.rs`.
//!
//! Submission (587 STARTTLS, 465 implicit TLS) is only offered when the node has TLS material:
//! without a certificate there would be no way to send a password safely, so the services are
//! not rendered at all, and port 25 runs without STARTTLS.
//!
//! Every table line goes through `Table::insert`, whose keys are built from typed names only and
//! whose values are checked once more; a value Postfix could misread is left out and counted in
//! a comment at the end of the file.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use protocol::desired::{Alias, DesiredState, Domain, Tenant};
use protocol::names::{AliasSource, DomainName, EmailAddress, LocalPart};

use crate::render::{
    put, tls, Contents, Files, Layout, MemberLines, Members, NodeMaterial, OnChange, HEADER,
};
use crate::services::Service;

mod daemon;

pub use daemon::{Postfix, POSTMAP};

/// Postfix's id in the registry, the journal and agent.toml.
pub const SERVICE: Service = Service::new("postfix");

pub const MAIN_CF: &str = "etc/postfix/main.cf";
pub const MASTER_CF: &str = "etc/postfix/master.cf";
pub const DOMAINS: &str = "etc/postfix/ruche/domains";
pub const MAILBOXES: &str = "etc/postfix/ruche/mailboxes";
pub const ALIASES: &str = "etc/postfix/ruche/aliases";
pub const SENDERS: &str = "etc/postfix/ruche/senders";
pub const RECIPIENTS: &str = "etc/postfix/ruche/recipients";
pub const DIRECT_SENDERS: &str = "etc/postfix/ruche/direct-senders";
pub const SRS_ADDRESSES: &str = "etc/postfix/ruche/srs-addresses";
/// The certificate of each member name, by SNI: `postmap -F` puts the files' contents (keys
/// included) into the compiled table, so the source is 0600 and the table inherits it.
pub const SNI: &str = "etc/postfix/ruche/sni";
pub const TLS_CHAIN: &str = "etc/postfix/tls/chain.pem";
pub const TLS_KEY: &str = "etc/postfix/tls/key.pem";

/// Not rendered: created by whoever starts Postfix.
pub const QUEUE_DIRECTORY: &str = "var/spool/postfix";
pub const DATA_DIRECTORY: &str = "var/lib/postfix";
pub const LOG_DIRECTORY: &str = "var/log";
pub const MAILLOG_FILE: &str = "var/log/postfix.log";

/// The answer to mail for a suspended member: temporary, so the sender keeps it and retries.
pub const SUSPENDED_REPLY: &str = "450 4.2.1 Mailbox temporarily disabled";

/// An access table refusing the null sender (`smtpd_null_access_lookup_key` is `<>`). A
/// constant: no member value.
const NULL_SENDER: &str =
    "inline:{ { <> = REJECT 5.7.1 The null sender is for bounces, not for mail you send } }";

/// The cleanup service of the reinjection listener, which rewrites forwarded mail's sender.
const SRS_CLEANUP: &str = "srs-cleanup";

/// The RFC 2142 mailboxes every domain has.
pub const ROLE_ADDRESSES: [&str; 2] = ["postmaster", "abuse"];

/// The lookup tables a member has lines in.
const MEMBER_TABLES: [&str; 6] = [
    DOMAINS,
    MAILBOXES,
    ALIASES,
    SENDERS,
    RECIPIENTS,
    DIRECT_SENDERS,
];

/// A member's entries in the lookup tables: its domains, mailboxes, aliases (and the role
/// addresses it did not name), who may send as its addresses, its refusal while suspended, and
/// its domains among those whose mail leaves without SRS.
pub fn render_member(tenant: &Tenant, layout: &Layout) -> MemberLines {
    let mut tables = Tables::empty();
    tables.add_tenant(tenant);
    let mut direct = Table::default();
    // The host name is the node's line (it may be a member's domain too).
    for domain in tenant.domains.iter().filter(|d| d.name != layout.hostname) {
        direct.insert(
            Key::AnyAt(&domain.name),
            Value::Transport(direct_transport(layout)),
        );
    }
    let mut lines = MemberLines::default();
    for (path, table) in [
        (DOMAINS, &tables.domains),
        (MAILBOXES, &tables.mailboxes),
        (ALIASES, &tables.aliases),
        (SENDERS, &tables.senders),
        (RECIPIENTS, &tables.recipients),
        (DIRECT_SENDERS, &direct),
    ] {
        lines.set(path, table.lines());
    }
    lines
}

pub fn render(
    desired: &DesiredState,
    layout: &Layout,
    material: &NodeMaterial,
    members: &Members<'_>,
    files: &mut Files,
) {
    if let Err(problem) = layout.check() {
        tracing::error!(%problem, "postfix: the layout cannot be written into a config file");
        return;
    }
    let host = material.host_cert(&layout.hostname, (TLS_CHAIN, TLS_KEY));
    let tls = host.is_some();
    let hostname_served = desired
        .tenants
        .iter()
        .flat_map(|t| &t.domains)
        .any(|d| d.name == layout.hostname);
    let config = |files: &mut Files, path: &str, text: String| {
        put(files, SERVICE, path, 0o644, OnChange::Reload, text);
    };
    // A lookup table's source: `postmap` compiles it; smtpd reads it afresh, no reload.
    let table = |files: &mut Files, path: &str, text: Contents| {
        put(files, SERVICE, path, 0o644, OnChange::Step(POSTMAP), text);
    };
    config(
        files,
        MAIN_CF,
        main_cf(layout, host.as_ref(), !hostname_served),
    );
    if tls {
        put(
            files,
            SERVICE,
            SNI,
            0o600,
            OnChange::Step(POSTMAP),
            sni_table(layout, material),
        );
    }
    config(files, MASTER_CF, master_cf(layout, tls));
    config(files, SRS_ADDRESSES, srs_addresses(&layout.hostname));
    // Each table: the node's own lines, then every member's.
    for path in MEMBER_TABLES {
        let node = if path == DIRECT_SENDERS {
            direct_senders(layout).lines()
        } else {
            String::new()
        };
        table(files, path, members.file(&[HEADER, &node], path));
    }
    if let Some(pair) = &material.tls {
        let reload = OnChange::Reload;
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

fn endpoint(ip: IpAddr, port: u16) -> String {
    SocketAddr::new(ip, port).to_string()
}

/// `[ip]:port`: an SMTP next hop Postfix connects to as it is, without looking up MX records.
fn next_hop(address: SocketAddr) -> String {
    format!("[{}]:{}", address.ip(), address.port())
}

fn lmdb(layout: &Layout, table: &str) -> String {
    format!("lmdb:{}", layout.path_text(table))
}

/// The transport for mail that leaves as it is: to each domain's MX, or to the relay host.
fn direct_transport(layout: &Layout) -> String {
    match layout.relayhost {
        Some(relay) => format!("smtp:{}", next_hop(relay)),
        None => "smtp".to_owned(),
    }
}

/// The node's senders whose mail leaves without SRS: the host name (what postsrsd rewrites
/// to, and the postmaster) and the null sender (bounces). Every domain the node serves is one
/// too (any member's, so a member's mail keeps its own SPF): the members' lines
/// ([`render_member`]). See the module's comment.
fn direct_senders(layout: &Layout) -> Table {
    let mut table = Table::default();
    let direct = || Value::Transport(direct_transport(layout));
    table.insert(Key::NullSender, direct());
    table.insert(Key::AnyAt(&layout.hostname), direct());
    table
}

/// A regexp table that passes on, unchanged, only addresses that look like SRS at the host
/// name, so that postsrsd is asked about nothing else. The host name is a typed domain name
/// (`[a-z0-9.-]`): escaping its dots is enough.
fn srs_addresses(hostname: &DomainName) -> String {
    let host = hostname.as_str().replace('.', "\\.");
    format!("{HEADER}/^(srs[01][-+=][^@]+@{host})$/ ${{1}}\n")
}

/// The SNI table: each member domain with a certificate (`NodeMaterial::mail_sni`), to its key
/// and chain (in that order, as `postmap -F` wants them). Names are typed; paths are the
/// layout's.
fn sni_table(layout: &Layout, material: &NodeMaterial) -> String {
    let mut lines: Vec<String> = material
        .mail_sni()
        .map(|(name, cert)| {
            format!(
                "{name} {},{}\n",
                layout.path_text(&cert.key()),
                layout.path_text(&cert.chain())
            )
        })
        .collect();
    lines.sort_unstable();
    lines.dedup_by(|a, b| a.split(' ').next() == b.split(' ').next());
    let mut text = String::from(HEADER);
    text.extend(lines);
    text
}

/// `host`: the node's certificate (chain, key), relative to the root; `None`: no TLS.
fn main_cf(
    layout: &Layout,
    host: Option<&(String, String)>,
    hostname_as_srs_domain: bool,
) -> String {
    let tls = host.is_some();
    let recipients = lmdb(layout, RECIPIENTS);
    let quota_policy = format!(
        "check_policy_service inet:{}",
        endpoint(layout.internal, layout.ports.quota_status)
    );
    let mut lines =
        vec![
        HEADER.trim_end().to_owned(),
        "compatibility_level = 3.6".to_owned(),
        format!("myhostname = {}", layout.hostname),
        "myorigin = $myhostname".to_owned(),
        "# No local delivery and no trusted networks: every address is virtual, and sending"
            .to_owned(),
        "# through this host needs a SASL login.".to_owned(),
        "mydestination =".to_owned(),
        "mynetworks =".to_owned(),
        "alias_maps =".to_owned(),
        "alias_database =".to_owned(),
        "local_recipient_maps =".to_owned(),
        "local_transport = error:5.1.1 local delivery is disabled".to_owned(),
        // Each listener names its address in master.cf. A single address here would have to
        // be configured on an interface (127.0.0.2 on a test machine is not: postfix refuses).
        "inet_interfaces = all".to_owned(),
        "inet_protocols = all".to_owned(),
        format!("queue_directory = {}", layout.path_text(QUEUE_DIRECTORY)),
        format!("data_directory = {}", layout.path_text(DATA_DIRECTORY)),
        format!("maillog_file = {}", layout.path_text(MAILLOG_FILE)),
        format!("maillog_file_prefixes = {}", layout.path_text(LOG_DIRECTORY)),
        "biff = no".to_owned(),
        "append_dot_mydomain = no".to_owned(),
        "readme_directory = no".to_owned(),
        "smtpd_banner = $myhostname ESMTP".to_owned(),
        "disable_vrfy_command = yes".to_owned(),
        "smtpd_helo_required = yes".to_owned(),
        // `alice+lists@` is delivered to `alice@` (LocalPart has no `+`).
        "recipient_delimiter = +".to_owned(),
        "# smtpd_access_maps left out: a suspended member's domain in the recipients table must"
            .to_owned(),
        "# not match another member's subdomain.".to_owned(),
        "parent_domain_matches_subdomains = debug_peer_list, fast_flush_domains, mynetworks, \
         permit_mx_backup_networks, qmqpd_authorized_clients, relay_domains"
            .to_owned(),
        String::new(),
        "# Every member domain, mailbox and alias, from the desired state.".to_owned(),
        format!("virtual_mailbox_domains = {}", lmdb(layout, DOMAINS)),
        format!("virtual_mailbox_maps = {}", lmdb(layout, MAILBOXES)),
        format!("virtual_alias_maps = {}", lmdb(layout, ALIASES)),
        format!(
            "virtual_transport = lmtp:inet:{}",
            endpoint(layout.internal, layout.ports.lmtp)
        ),
        format!("smtpd_sender_login_maps = {}", lmdb(layout, SENDERS)),
        String::new(),
        "# Forwarded mail leaves with an SRS sender (postsrsd): everything that is not from one"
            .to_owned(),
        "# of our domains, the host name or the null sender passes through the reinjection"
            .to_owned(),
        "# listener first. Bounces to SRS addresses go back to the original sender.".to_owned(),
        format!(
            "default_transport = smtp:{}",
            next_hop(SocketAddr::new(layout.internal, layout.ports.reinject))
        ),
        format!(
            "sender_dependent_default_transport_maps = {}",
            lmdb(layout, DIRECT_SENDERS)
        ),
        format!(
            "recipient_canonical_maps = pipemap:{{regexp:{}, tcp:{}}}",
            layout.path_text(SRS_ADDRESSES),
            endpoint(layout.internal, layout.ports.srs_reverse)
        ),
        "recipient_canonical_classes = envelope_recipient".to_owned(),
        if hostname_as_srs_domain {
            format!("virtual_alias_domains = {}", layout.hostname)
        } else {
            "# The host name is a member domain here: port 25 already accepts it.".to_owned()
        },
        match layout.relayhost {
            Some(relay) => format!("relayhost = {}", next_hop(relay)),
            None => "relayhost =".to_owned(),
        },
        String::new(),
        "# Port 25: mail for our domains only. Suspended members are deferred, full mailboxes"
            .to_owned(),
        "# refused at RCPT by Dovecot's quota-status.".to_owned(),
        "smtpd_relay_restrictions = reject_unauth_destination".to_owned(),
        format!(
            "smtpd_recipient_restrictions = check_recipient_access {recipients}, \
             reject_unlisted_recipient, {quota_policy}"
        ),
        "# Inbound mail is scanned by rspamd (spam filtering). If rspamd is down, mail is"
            .to_owned(),
        "# accepted unscanned rather than refused.".to_owned(),
        format!(
            "smtpd_milters = inet:{}",
            endpoint(layout.internal, layout.ports.milter)
        ),
        "milter_default_action = accept".to_owned(),
        "milter_protocol = 6".to_owned(),
        String::new(),
        "# SASL through Dovecot's auth service, enabled on submission only.".to_owned(),
        "smtpd_sasl_type = dovecot".to_owned(),
        format!(
            "smtpd_sasl_path = inet:{}",
            endpoint(layout.internal, layout.ports.sasl)
        ),
        "smtpd_sasl_auth_enable = no".to_owned(),
        "smtpd_sasl_security_options = noanonymous, noplaintext".to_owned(),
        "smtpd_sasl_tls_security_options = noanonymous".to_owned(),
        "smtpd_sasl_authenticated_header = no".to_owned(),
    ];
    if tls {
        lines.extend([
            String::new(),
            "# TLS: offered on port 25, required on submission.".to_owned(),
            format!(
                "smtpd_tls_cert_file = {}",
                layout.path_text(host.map_or(TLS_CHAIN, |h| &h.0))
            ),
            format!(
                "smtpd_tls_key_file = {}",
                layout.path_text(host.map_or(TLS_KEY, |h| &h.1))
            ),
            "# Each member name with a certificate presents it by SNI (`postmap -F`).".to_owned(),
            format!("tls_server_sni_maps = {}", lmdb(layout, SNI)),
            "smtpd_tls_security_level = may".to_owned(),
            "smtpd_tls_auth_only = yes".to_owned(),
            format!("smtpd_tls_protocols = >={}", tls::MIN_PROTOCOL),
            format!("smtpd_tls_mandatory_protocols = >={}", tls::MIN_PROTOCOL),
            "# The node's TLS profile (Mozilla's intermediate): its suites as the medium grade,"
                .to_owned(),
            "# required where TLS is (submission), the client's order.".to_owned(),
            "smtpd_tls_mandatory_ciphers = medium".to_owned(),
            format!("tls_medium_cipherlist = {}", tls::CIPHERS),
            "tls_preempt_cipherlist = no".to_owned(),
            "smtp_tls_security_level = may".to_owned(),
            String::new(),
            "# Submission's restrictions, referenced from master.cf.".to_owned(),
            "# The null sender is for bounces: a login that sends with it would escape".to_owned(),
            "# reject_sender_login_mismatch, which does not look at it.".to_owned(),
            format!(
                "ruche_submission_sender_restrictions = check_sender_access {NULL_SENDER}, \
                 reject_non_fqdn_sender, reject_sender_login_mismatch, permit_sasl_authenticated, \
                 reject"
            ),
            "ruche_submission_relay_restrictions = permit_sasl_authenticated, reject".to_owned(),
            format!(
                "ruche_submission_recipient_restrictions = reject_non_fqdn_recipient, \
                 check_recipient_access {recipients}, {quota_policy}, permit"
            ),
            format!(
                "ruche_submission_milters = inet:{}",
                endpoint(layout.internal, layout.ports.milter)
            ),
        ]);
    } else {
        lines.extend([
            String::new(),
            "# No TLS material on this node: no STARTTLS and no submission service.".to_owned(),
            "smtp_tls_security_level = may".to_owned(),
        ]);
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// The standard Postfix services, none chrooted (the tables, sockets and TLS files live under
/// the layout's root, outside any chroot).
const MASTER_SERVICES: &str = "\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
  -o syslog_name=postfix/$service_name
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
";

fn master_cf(layout: &Layout, tls: bool) -> String {
    let mut text = String::from(HEADER);
    text.push_str("# service type  private unpriv  chroot  wakeup  maxproc command + args\n");
    text.push_str(&format!(
        "{} inet n - n - - smtpd\n",
        endpoint(layout.listen, layout.ports.smtp)
    ));
    if tls {
        for (port, name, wrapper) in [
            (layout.ports.submission, "submission", "no"),
            (layout.ports.submissions, "submissions", "yes"),
        ] {
            text.push_str(&format!(
                "{} inet n - n - - smtpd\n\
                 \x20 -o syslog_name=postfix/{name}\n\
                 \x20 -o smtpd_tls_wrappermode={wrapper}\n\
                 \x20 -o smtpd_tls_security_level=encrypt\n\
                 \x20 -o smtpd_sasl_auth_enable=yes\n\
                 \x20 -o smtpd_client_restrictions=\n\
                 \x20 -o smtpd_helo_restrictions=\n\
                 \x20 -o smtpd_sender_restrictions=$ruche_submission_sender_restrictions\n\
                 \x20 -o smtpd_relay_restrictions=$ruche_submission_relay_restrictions\n\
                 \x20 -o smtpd_recipient_restrictions=$ruche_submission_recipient_restrictions\n\
                 \x20 -o smtpd_milters=$ruche_submission_milters\n\
                 \x20 -o milter_default_action=tempfail\n\
                 \x20 -o milter_macro_daemon_name=ORIGINATING\n",
                endpoint(layout.listen, port)
            ));
        }
    }
    text.push_str(&reinjection(layout));
    text.push_str(MASTER_SERVICES);
    text
}

/// The internal listener forwarded mail passes through (see the module's comment): it listens
/// on the internal address and takes mail from loopback only (Postfix's SMTP client connects
/// from the interface's first address, not the internal one), runs no milter (rspamd saw the message on port 25), and its
/// cleanup rewrites the envelope sender through postsrsd. It greets with a name of its own:
/// Postfix's SMTP client defers mail to a server that answers with its own host name (a loop).
fn reinjection(layout: &Layout) -> String {
    format!(
        "{listen} inet n - n - - smtpd\n\
         \x20 -o syslog_name=postfix/forward\n\
         \x20 -o myhostname=forward.{hostname}\n\
         \x20 -o cleanup_service_name={SRS_CLEANUP}\n\
         \x20 -o mynetworks=127.0.0.0/8,[::1]/128\n\
         \x20 -o smtpd_client_restrictions=permit_mynetworks,reject\n\
         \x20 -o smtpd_helo_restrictions=\n\
         \x20 -o smtpd_sender_restrictions=\n\
         \x20 -o smtpd_relay_restrictions=permit_mynetworks,reject\n\
         \x20 -o smtpd_recipient_restrictions=\n\
         \x20 -o smtpd_milters=\n\
         \x20 -o smtpd_sasl_auth_enable=no\n\
         \x20 -o smtpd_tls_security_level=none\n\
         {SRS_CLEANUP} unix n - n - 0 cleanup\n\
         \x20 -o syslog_name=postfix/{SRS_CLEANUP}\n\
         \x20 -o sender_canonical_maps=tcp:{srs}\n\
         \x20 -o sender_canonical_classes=envelope_sender\n\
         \x20 -o recipient_canonical_maps=\n\
         \x20 -o virtual_alias_maps=\n",
        listen = endpoint(layout.internal, layout.ports.reinject),
        hostname = layout.hostname,
        srs = endpoint(layout.internal, layout.ports.srs_forward),
    )
}

/// A key of a lookup table, built from typed names only: their stored forms have no whitespace,
/// no `#` and no `,`.
enum Key<'a> {
    /// `local@domain`.
    Address(&'a LocalPart, &'a DomainName),
    /// `@domain`: every address of the domain (virtual_alias_maps, smtpd_sender_login_maps).
    AnyAt(&'a DomainName),
    /// `domain` (virtual_mailbox_domains, access tables).
    Domain(&'a DomainName),
    /// `<>`: the null sender, as `*_lookup_key` parameters name it.
    NullSender,
}

impl Key<'_> {
    fn text(&self) -> String {
        match self {
            Key::Address(local, domain) => format!("{local}@{domain}"),
            Key::AnyAt(domain) => format!("@{domain}"),
            Key::Domain(domain) => domain.to_string(),
            Key::NullSender => "<>".to_owned(),
        }
    }
}

/// The right-hand side of a table line.
enum Value {
    /// Any value: for tables where only the key matters.
    Ok,
    /// A comma-separated list of addresses.
    Addresses(Vec<String>),
    /// A fixed access-table answer (may hold spaces; a constant).
    Reply(&'static str),
    /// A transport and next hop, from the layout (`smtp`, `smtp:[192.0.2.1]:25`).
    Transport(String),
}

impl Value {
    /// The text, or `None` when Postfix could misread it.
    fn text(&self) -> Option<String> {
        match self {
            Value::Ok => Some("OK".to_owned()),
            Value::Addresses(addresses) => {
                let all_plain = !addresses.is_empty()
                    && addresses
                        .iter()
                        .all(|a| is_table_token(a) && !a.contains(','));
                all_plain.then(|| addresses.join(","))
            }
            Value::Reply(reply) => {
                let plain = !reply.is_empty()
                    && reply.chars().all(|c| c == ' ' || c.is_ascii_graphic())
                    && !reply.starts_with(' ');
                plain.then(|| (*reply).to_owned())
            }
            Value::Transport(transport) => is_table_token(transport).then(|| transport.clone()),
        }
    }
}

/// One token of a table line: printable ASCII without whitespace, not starting a comment.
fn is_table_token(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('#') && s.chars().all(|c| c.is_ascii_graphic())
}

/// The source text of one lookup table: one `key value` line per key, sorted by key. The first
/// insert of a key wins (postmap would keep the first duplicate too, with a warning).
#[derive(Default)]
struct Table {
    entries: BTreeMap<String, String>,
    refused: usize,
}

impl Table {
    fn insert(&mut self, key: Key<'_>, value: Value) {
        self.insert_text(key, value.text());
    }

    /// Inserts a value already made into text by [`Value::text`]: for one value under many
    /// keys, checked once.
    fn insert_text(&mut self, key: Key<'_>, value: Option<String>) {
        let key = key.text();
        match value {
            Some(value) if is_table_token(&key) => {
                self.entries.entry(key).or_insert(value);
            }
            _ => self.refused += 1,
        }
    }

    fn contains(&self, key: Key<'_>) -> bool {
        self.entries.contains_key(&key.text())
    }

    /// Its lines, without the header: one member's, or the node's own.
    fn lines(&self) -> String {
        let mut text = String::new();
        for (key, value) in &self.entries {
            text.push_str(key);
            text.push(' ');
            text.push_str(value);
            text.push('\n');
        }
        if self.refused > 0 {
            tracing::warn!(refused = self.refused, "postfix: table entries left out");
            text.push_str(&format!(
                "# {} entries left out: a value Postfix could misread\n",
                self.refused
            ));
        }
        text
    }
}

struct Tables {
    domains: Table,
    mailboxes: Table,
    aliases: Table,
    senders: Table,
    recipients: Table,
}

impl Tables {
    fn empty() -> Tables {
        Tables {
            domains: Table::default(),
            mailboxes: Table::default(),
            aliases: Table::default(),
            senders: Table::default(),
            recipients: Table::default(),
        }
    }

    fn add_tenant(&mut self, tenant: &Tenant) {
        for domain in &tenant.domains {
            self.domains.insert(Key::Domain(&domain.name), Value::Ok);
            for mailbox in &domain.mailboxes {
                // Only the key matters: delivery is Dovecot's (LMTP), into the mailbox's home,
                // which is named after its id.
                self.mailboxes
                    .insert(Key::Address(&mailbox.local_part, &domain.name), Value::Ok);
            }
            self.add_aliases(tenant, domain);
            if !tenant.active {
                self.recipients
                    .insert(Key::Domain(&domain.name), Value::Reply(SUSPENDED_REPLY));
            }
        }
        if tenant.active {
            self.add_senders(tenant);
        }
    }

    fn add_aliases(&mut self, tenant: &Tenant, domain: &Domain) {
        let name = &domain.name;
        for alias in domain.aliases.iter().filter(|a| !a.targets.is_empty()) {
            let targets = Value::Addresses(addresses(&alias.targets));
            match &alias.source {
                AliasSource::Local(local) => {
                    self.aliases.insert(Key::Address(local, name), targets)
                }
                AliasSource::CatchAll => self.aliases.insert(Key::AnyAt(name), targets),
            }
        }
        // With `@domain` in virtual_alias_maps, every mailbox must resolve to itself first, or
        // the catch-all would take its mail too.
        if has_catch_all(domain) {
            for mailbox in &domain.mailboxes {
                let key = Key::Address(&mailbox.local_part, name);
                let itself = vec![format!("{}@{name}", mailbox.local_part)];
                self.aliases.insert(key, Value::Addresses(itself));
            }
        }
        for role in ROLE_ADDRESSES {
            let Ok(role) = LocalPart::parse(role) else {
                continue;
            };
            if has_local_part(domain, &role) || self.aliases.contains(Key::Address(&role, name)) {
                continue;
            }
            if let Some(target) = role_target(tenant, domain) {
                self.aliases
                    .insert(Key::Address(&role, name), Value::Addresses(vec![target]));
            }
        }
    }

    fn add_senders(&mut self, tenant: &Tenant) {
        let owners: Vec<String> = tenant
            .domains
            .iter()
            .flat_map(|d| {
                d.mailboxes
                    .iter()
                    .map(|m| format!("{}@{}", m.local_part, d.name))
            })
            .collect();
        if owners.is_empty() {
            // Nobody could log in to send as these addresses.
            return;
        }
        // Every address of a domain is the member's: smtpd looks up `user@domain`, then
        // `@domain`, so one key per domain owns them all (one per address would only repeat
        // the same list, and make one mailbox change rewrite every one of them).
        let owned = Value::Addresses(owners).text();
        for domain in &tenant.domains {
            self.senders
                .insert_text(Key::AnyAt(&domain.name), owned.clone());
        }
    }
}

fn addresses(targets: &[EmailAddress]) -> Vec<String> {
    targets.iter().map(|t| t.as_str().to_owned()).collect()
}

fn has_catch_all(domain: &Domain) -> bool {
    domain
        .aliases
        .iter()
        .any(|a: &Alias| a.source == AliasSource::CatchAll && !a.targets.is_empty())
}

/// A mailbox, or an alias with targets, named `local` on `domain`.
fn has_local_part(domain: &Domain, local: &LocalPart) -> bool {
    domain.mailboxes.iter().any(|m| &m.local_part == local)
        || domain.aliases.iter().any(|a| {
            !a.targets.is_empty() && matches!(&a.source, AliasSource::Local(l) if l == local)
        })
}

/// A member's entries of the virtual alias table (`key target,target` lines, as the table
/// holds them): what [`forwarding`] follows. rspamd keeps them per member.
pub(super) fn alias_lines(tenant: &Tenant) -> String {
    let mut tables = Tables::empty();
    for domain in &tenant.domains {
        tables.add_aliases(tenant, domain);
    }
    tables.aliases.lines()
}

/// The member of each domain the node serves: what [`forwarding`] counts a key against.
pub(super) fn owners(tenants: &[Arc<Tenant>]) -> HashMap<&str, &str> {
    tenants
        .iter()
        .flat_map(|t| {
            t.domains
                .iter()
                .map(|d| (d.name.as_str(), t.member_id.as_str()))
        })
        .collect()
}

/// The virtual alias table's keys (`local@domain`, `@domain`) whose mail leaves the node, each
/// with the member it counts against (the owner of the key's domain), for rspamd's forwarding
/// limit. `aliases` is every member's [`alias_lines`]; `owners` the member of each domain the
/// node serves. An address forwards if its expansion, followed through the node's own aliases
/// as Postfix follows them, reaches an address at a domain the node does not serve. On a
/// domain whose catch-all forwards, the keys that do not forward are listed too, with `None`,
/// so a lookup that falls back to `@domain` only does so where Postfix would.
pub(super) fn forwarding(
    aliases: &str,
    owners: &HashMap<&str, &str>,
) -> BTreeMap<String, Option<String>> {
    // Borrowed from the lines: following a chain allocates nothing but its `@domain` lookups.
    let aliases: HashMap<&str, &str> = aliases
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(' '))
        .collect();
    let domain_of = |key: &str| key.rsplit_once('@').map(|(_, domain)| domain.to_owned());
    let targets = |address: &str| -> Option<&str> {
        aliases.get(address).copied().or_else(|| {
            let (_, domain) = address.rsplit_once('@')?;
            aliases.get(format!("@{domain}").as_str()).copied()
        })
    };
    let catch_alls: std::collections::HashSet<&str> = aliases
        .keys()
        .filter_map(|key| key.strip_prefix('@'))
        .collect();
    let leaves = |key: &str| -> bool {
        let Some(list) = aliases.get(key) else {
            return false;
        };
        // Most keys end at their own targets: an address off the node (it leaves), or one here
        // that no alias or catch-all takes further (it stays). Only the others are followed.
        let mut further = false;
        for address in list.split(',') {
            let Some((_, domain)) = address.rsplit_once('@') else {
                continue;
            };
            if !owners.contains_key(domain) {
                return true;
            }
            further |=
                address != key && (aliases.contains_key(address) || catch_alls.contains(domain));
        }
        if !further {
            return false;
        }
        // Depth-first over the expansion; each address once, so a cycle ends.
        let mut seen = std::collections::HashSet::new();
        let mut stack: Vec<&str> = list.split(',').collect();
        while let Some(address) = stack.pop() {
            if !seen.insert(address) {
                continue;
            }
            let Some((_, domain)) = address.rsplit_once('@') else {
                continue;
            };
            if !owners.contains_key(domain) {
                return true;
            }
            // An address that maps to itself is delivered here (a mailbox on a catch-all
            // domain); Postfix stops there too.
            stack.extend(
                targets(address)
                    .into_iter()
                    .flat_map(|list| list.split(','))
                    .filter(|t| *t != address),
            );
        }
        false
    };
    let mut forwarding: BTreeMap<String, Option<String>> = BTreeMap::new();
    for key in aliases.keys() {
        if leaves(key) {
            let member = domain_of(key).and_then(|d| owners.get(d.as_str()).map(|m| m.to_string()));
            if member.is_some() {
                forwarding.insert((*key).to_owned(), member);
            }
        }
    }
    let forwarding_catch_alls: std::collections::HashSet<String> = forwarding
        .keys()
        .filter_map(|key| key.strip_prefix('@').map(str::to_owned))
        .collect();
    if !forwarding_catch_alls.is_empty() {
        for key in aliases.keys() {
            let on_it = domain_of(key).is_some_and(|d| forwarding_catch_alls.contains(&d));
            if !key.starts_with('@') && on_it {
                forwarding.entry((*key).to_owned()).or_insert(None);
            }
        }
    }
    forwarding
}

/// Where `postmaster@` and `abuse@` of `domain` go when the tenant did not say: its first
/// mailbox on that domain, else its first mailbox anywhere, else its contact address.
fn role_target(tenant: &Tenant, domain: &Domain) -> Option<String> {
    let first_mailbox = |d: &Domain| {
        d.mailboxes
            .first()
            .map(|m| format!("{}@{}", m.local_part, d.name))
    };
    first_mailbox(domain)
        .or_else(|| tenant.domains.iter().find_map(first_mailbox))
        .or_else(|| tenant.contact.as_ref().map(|c| c.as_str().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::desired::{Mailbox, Tenant};
    use protocol::names::ObjectId;

    fn domain(name: &str) -> DomainName {
        DomainName::parse(name).unwrap()
    }

    fn local(name: &str) -> LocalPart {
        LocalPart::parse(name).unwrap()
    }

    fn mailbox(name: &str) -> Mailbox {
        Mailbox {
            id: Some(ObjectId::parse(&format!("mb-{name}")).unwrap()),
            local_part: local(name),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            quota_bytes: 1_000_000,
            public: false,
        }
    }

    fn alias(source: &str, targets: &[&str]) -> Alias {
        Alias {
            source: AliasSource::parse(source).unwrap(),
            targets: targets
                .iter()
                .map(|t| EmailAddress::parse(t).unwrap())
                .collect(),
        }
    }

    fn tenant(active: bool, domains: Vec<Domain>, contact: Option<&str>) -> Tenant {
        Tenant {
            member_id: "m1".to_owned(),
            active,
            domains,
            app_passwords: Vec::new(),
            contact: contact.map(|c| EmailAddress::parse(c).unwrap()),
        }
    }

    fn dom(name: &str, mailboxes: &[&str], aliases: Vec<Alias>) -> Domain {
        Domain {
            id: Some(ObjectId::parse(&format!("d-{}", name.replace('.', "-"))).unwrap()),
            name: domain(name),
            verified: true,
            mailboxes: mailboxes.iter().map(|m| mailbox(m)).collect(),
            aliases,
            xmpp_accounts: Vec::new(),
        }
    }

    fn tables(tenants: Vec<Tenant>) -> Tables {
        let mut tables = Tables::empty();
        for tenant in &tenants {
            tables.add_tenant(tenant);
        }
        tables
    }

    fn get<'a>(table: &'a Table, key: &str) -> Option<&'a str> {
        table.entries.get(key).map(String::as_str)
    }

    #[test]
    fn a_catch_all_keeps_mailboxes_delivering_to_themselves() {
        let t = tables(vec![tenant(
            true,
            vec![dom(
                "example.org",
                &["alice"],
                vec![alias("*", &["alice@example.org"])],
            )],
            None,
        )]);
        assert_eq!(get(&t.aliases, "@example.org"), Some("alice@example.org"));
        assert_eq!(
            get(&t.aliases, "alice@example.org"),
            Some("alice@example.org")
        );
        // Without a catch-all there is no self entry.
        let t = tables(vec![tenant(
            true,
            vec![dom("example.org", &["alice"], vec![])],
            None,
        )]);
        assert_eq!(get(&t.aliases, "alice@example.org"), None);
    }

    #[test]
    fn an_explicit_alias_wins_over_the_catch_all_self_entry() {
        let t = tables(vec![tenant(
            true,
            vec![dom(
                "example.org",
                &["alice", "bob"],
                vec![
                    alias("bob", &["alice@example.org"]),
                    alias("*", &["alice@example.org"]),
                ],
            )],
            None,
        )]);
        assert_eq!(
            get(&t.aliases, "bob@example.org"),
            Some("alice@example.org")
        );
    }

    #[test]
    fn role_addresses_fall_back_in_order() {
        // Own mailbox on the domain: nothing added for postmaster; abuse to the first mailbox.
        let t = tables(vec![tenant(
            true,
            vec![
                dom("a.example", &[], vec![]),
                dom(
                    "b.example",
                    &["zed", "postmaster"],
                    vec![alias("abuse", &["x@elsewhere.example"])],
                ),
            ],
            Some("owner@contact.example"),
        )]);
        assert_eq!(get(&t.aliases, "postmaster@b.example"), None);
        assert_eq!(
            get(&t.aliases, "abuse@b.example"),
            Some("x@elsewhere.example")
        );
        // No mailbox on a.example: the tenant's first mailbox anywhere.
        assert_eq!(
            get(&t.aliases, "postmaster@a.example"),
            Some("zed@b.example")
        );
        assert_eq!(get(&t.aliases, "abuse@a.example"), Some("zed@b.example"));

        let t = tables(vec![tenant(
            true,
            vec![dom("a.example", &[], vec![])],
            Some("o'brien+x@contact.example"),
        )]);
        assert_eq!(
            get(&t.aliases, "postmaster@a.example"),
            Some("o'brien+x@contact.example")
        );

        // Nobody at all: left out (refused as unknown) rather than sent nowhere.
        let t = tables(vec![tenant(
            true,
            vec![dom("a.example", &[], vec![])],
            None,
        )]);
        assert_eq!(get(&t.aliases, "postmaster@a.example"), None);
    }

    #[test]
    fn senders_map_every_owned_address_to_every_mailbox() {
        let t = tables(vec![tenant(
            true,
            vec![
                dom(
                    "a.example",
                    &["alice"],
                    vec![alias("sales", &["alice@a.example"])],
                ),
                dom("b.example", &["bob"], vec![]),
            ],
            None,
        )]);
        let owners = Some("alice@a.example,bob@b.example");
        for key in ["@a.example", "@b.example"] {
            assert_eq!(get(&t.senders, key), owners, "{key}");
        }
        // Its addresses are found through their domain.
        assert_eq!(t.senders.entries.len(), 2);
    }

    #[test]
    fn a_suspended_tenant_is_deferred_and_cannot_send() {
        let t = tables(vec![tenant(
            false,
            vec![dom("a.example", &["alice"], vec![])],
            None,
        )]);
        assert_eq!(get(&t.recipients, "a.example"), Some(SUSPENDED_REPLY));
        assert!(t.senders.entries.is_empty());
        // Still provisioned, so nothing is bounced as unknown.
        assert_eq!(get(&t.domains, "a.example"), Some("OK"));
        assert_eq!(get(&t.mailboxes, "alice@a.example"), Some("OK"));
    }

    #[test]
    fn values_postfix_could_misread_are_left_out_and_counted() {
        let mut table = Table::default();
        let d = domain("a.example");
        let l = local("alice");
        table.insert(
            Key::Address(&l, &d),
            Value::Addresses(vec!["a b@x.example".to_owned()]),
        );
        table.insert(
            Key::AnyAt(&d),
            Value::Addresses(vec!["a,b@x.example".to_owned()]),
        );
        table.insert(Key::Domain(&d), Value::Addresses(Vec::new()));
        assert!(table.entries.is_empty());
        assert_eq!(table.refused, 3);
        assert!(table
            .lines()
            .ends_with("# 3 entries left out: a value Postfix could misread\n"));
    }

    fn forwarding_of(tenants: Vec<Tenant>) -> BTreeMap<String, Option<String>> {
        let aliases: String = tenants.iter().map(alias_lines).collect();
        let tenants: Vec<Arc<Tenant>> = tenants.into_iter().map(Arc::new).collect();
        forwarding(&aliases, &owners(&tenants))
    }

    #[test]
    fn forwarding_follows_aliases_through_the_node_to_the_first_outside_address() {
        let mut b = tenant(
            true,
            vec![dom(
                "b.example",
                &["bob"],
                vec![alias("out", &["x@elsewhere.example"])],
            )],
            None,
        );
        b.member_id = "m2".to_owned();
        let a = tenant(
            true,
            vec![
                dom(
                    "a.example",
                    &["alice"],
                    vec![
                        alias("here", &["alice@a.example"]),
                        alias("far", &["alice@a.example", "y@elsewhere.example"]),
                        // Through another of A's domains, then out.
                        alias("chain", &["hop@a2.example"]),
                        // Through B's alias, then out: A's alias makes the mail leave.
                        alias("via-b", &["out@b.example"]),
                        // A cycle that never leaves ends.
                        alias("ping", &["pong@a.example"]),
                        alias("pong", &["ping@a.example"]),
                    ],
                ),
                dom(
                    "a2.example",
                    &[],
                    vec![alias("hop", &["z@elsewhere.example"])],
                ),
            ],
            Some("owner@contact.example"),
        );
        let f = forwarding_of(vec![a, b]);
        let member = |m: &str| Some(Some(m.to_owned()));
        assert_eq!(f.get("far@a.example"), member("m1").as_ref());
        assert_eq!(f.get("chain@a.example"), member("m1").as_ref());
        assert_eq!(f.get("hop@a2.example"), member("m1").as_ref());
        assert_eq!(f.get("via-b@a.example"), member("m1").as_ref());
        assert_eq!(f.get("out@b.example"), member("m2").as_ref());
        for stays in ["here@a.example", "ping@a.example", "pong@a.example"] {
            assert_eq!(f.get(stays), None, "{stays}");
        }
        // a2.example has no mailbox: its postmaster goes to A's first mailbox, which stays.
        assert_eq!(f.get("postmaster@a2.example"), None);
        // B has no contact and its postmaster is bob: nothing of B's leaves but `out`.
        assert_eq!(f.keys().filter(|k| k.ends_with("b.example")).count(), 1);
    }

    #[test]
    fn a_forwarding_catch_all_lists_what_stays_on_its_domain() {
        let f = forwarding_of(vec![tenant(
            true,
            vec![dom(
                "a.example",
                &["alice"],
                vec![
                    alias("*", &["someone@elsewhere.example"]),
                    alias("team", &["alice@a.example"]),
                ],
            )],
            None,
        )]);
        assert_eq!(f.get("@a.example"), Some(&Some("m1".to_owned())));
        assert_eq!(f.get("alice@a.example"), Some(&None));
        assert_eq!(f.get("team@a.example"), Some(&None));
    }

    #[test]
    fn a_role_address_to_an_outside_contact_forwards() {
        let f = forwarding_of(vec![tenant(
            true,
            vec![dom("a.example", &[], vec![])],
            Some("owner@contact.example"),
        )]);
        assert_eq!(f.get("postmaster@a.example"), Some(&Some("m1".to_owned())));
        assert_eq!(f.get("abuse@a.example"), Some(&Some("m1".to_owned())));
    }

    #[test]
    fn the_direct_senders_are_the_served_domains_the_host_and_the_null_sender() {
        let member = tenant(
            false,
            vec![
                dom("a.example", &["alice"], vec![]),
                dom("mail.example.net", &["bob"], vec![]),
            ],
            None,
        );
        let mut layout = crate::render::Layout {
            root: "/srv/r".into(),
            hostname: domain("mail.example.net"),
            listen: "192.0.2.1".parse().unwrap(),
            internal: "127.0.0.1".parse().unwrap(),
            ports: crate::render::Ports::default(),
            broker: "127.0.0.1:1".parse().unwrap(),
            vmail_uid: 1,
            vmail_gid: 1,
            send_limit: crate::render::MessageLimit::default(),
            forward_limit: crate::render::MessageLimit::forwarding(),
            relayhost: None,
        };
        let table = direct_senders(&layout);
        let keys: Vec<&str> = table.entries.keys().map(String::as_str).collect();
        assert_eq!(keys, ["<>", "@mail.example.net"]);
        assert!(table.entries.values().all(|v| v == "smtp"));
        // The member's domains, but the host name, which is the node's line already.
        let lines = render_member(&member, &layout);
        assert_eq!(lines.get(DIRECT_SENDERS), "@a.example smtp\n");
        layout.relayhost = Some("127.0.0.40:2525".parse().unwrap());
        let table = direct_senders(&layout);
        assert!(table
            .entries
            .values()
            .all(|v| v == "smtp:[127.0.0.40]:2525"));
        let lines = render_member(&member, &layout);
        assert_eq!(
            lines.get(DIRECT_SENDERS),
            "@a.example smtp:[127.0.0.40]:2525\n"
        );
        layout.relayhost = Some("[::1]:25".parse().unwrap());
        assert_eq!(next_hop(layout.relayhost.unwrap()), "[::1]:25");
    }

    #[test]
    fn the_srs_table_matches_srs_at_the_host_name_only() {
        assert!(srs_addresses(&domain("mail.example.net"))
            .ends_with("/^(srs[01][-+=][^@]+@mail\\.example\\.net)$/ ${1}\n"));
    }

    #[test]
    fn the_suspended_reply_is_a_temporary_refusal() {
        assert!(SUSPENDED_REPLY.starts_with("450 4.2.1 "));
        assert!(Value::Reply(SUSPENDED_REPLY).text().is_some());
    }
}
