//! What the node agent's benchmarks share: a node of 1,000 members with 10 mailboxes each
//! (10,000 mailboxes, 1,000 domains, an alias per domain), a name server with 1,000 zones, and
//! a layout, commands and reconciler on a temporary root. Each benchmark uses a part.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use node_agent::config::Commands;
use node_agent::config::{Config, DnsConfig, MailStoreConfig};
use node_agent::dkim::Key;
use node_agent::reconcile::Reconciler;
use node_agent::render::{DnsSettings, Layout, MessageLimit, NodeMaterial, Ports};
use protocol::desired::{Alias, DesiredState, Dns, DnsPeer, Domain, Mailbox, Tenant, Zone};
use protocol::dns::{Record, TsigAlgorithm, TsigKey, TsigSecret};
use protocol::names::{AliasSource, DomainName, EmailAddress, LocalPart, ObjectId};

pub const MEMBERS: usize = 1_000;
pub const MAILBOXES: usize = 10;
/// Any argon2id PHC string: rendering never verifies it.
pub const HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

pub fn desired(extra_mailbox: bool) -> DesiredState {
    desired_with(MEMBERS, extra_mailbox)
}

/// `members` members with [`MAILBOXES`] mailboxes each; with `extra_mailbox`, one more.
pub fn desired_with(members: usize, extra_mailbox: bool) -> DesiredState {
    let tenants = (0..members)
        .map(|m| {
            let name = DomainName::parse(&format!("member{m}.example")).unwrap();
            let mut mailboxes: Vec<Mailbox> = (0..MAILBOXES)
                .map(|i| Mailbox {
                    id: Some(ObjectId::parse(&format!("m{m}-{i}")).unwrap()),
                    local_part: LocalPart::parse(&format!("user{i}")).unwrap(),
                    password_hash: HASH.into(),
                    quota_bytes: 1 << 30,
                    public: false,
                })
                .collect();
            if extra_mailbox && m == members / 2 {
                mailboxes.push(Mailbox {
                    id: Some(ObjectId::parse(&format!("m{m}-new")).unwrap()),
                    local_part: LocalPart::parse("newcomer").unwrap(),
                    password_hash: HASH.into(),
                    quota_bytes: 1 << 30,
                    public: false,
                });
            }
            Tenant {
                member_id: format!("00000000-0000-0000-0000-{m:012}"),
                active: true,
                domains: vec![Domain {
                    id: Some(ObjectId::parse(&format!("d{m}")).unwrap()),
                    aliases: vec![Alias {
                        source: AliasSource::parse("info").unwrap(),
                        targets: vec![EmailAddress::parse(&format!("user0@{name}")).unwrap()],
                    }],
                    name,
                    verified: true,
                    mailboxes,
                    xmpp_accounts: vec![],
                }],
                app_passwords: vec![],
                contact: None,
            }
        })
        .map(Arc::new)
        .collect();
    DesiredState {
        dns: None,
        schema: 1,
        generation: if extra_mailbox { 2 } else { 1 },
        node_id: "bench".to_owned(),
        tenants,
    }
}

/// 1,000 zones (no mailboxes: the mail side is measured above), each with a few member
/// records; with `extra_record`, one more in one zone.
pub fn dns_desired(extra_record: bool) -> DesiredState {
    let record =
        |owner: &str, kind: &str, value: &str| Record::parse(owner, kind, "", value).unwrap();
    // In name order, as the control plane lists them.
    let mut zones: Vec<Arc<Zone>> = (0..MEMBERS)
        .map(|m| {
            let mut records = vec![
                record("blog", "CNAME", "host.example.net"),
                record("@", "TXT", "site-verification=abcdef"),
                record("files", "A", "192.0.2.10"),
            ];
            if extra_record && m == MEMBERS / 2 {
                records.push(record("new", "A", "192.0.2.77"));
            }
            Arc::new(Zone {
                name: DomainName::parse(&format!("member{m}.example")).unwrap(),
                records,
            })
        })
        .collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    let peer = |n: u32| DnsPeer {
        nameserver: DomainName::parse(&format!("ns{n}.bench.example")).unwrap(),
        address: format!("127.0.0.{n}:53").parse().unwrap(),
        tsig: TsigKey {
            name: DomainName::parse(&format!("ns1-ns{n}.tsig.bench.example")).unwrap(),
            algorithm: TsigAlgorithm::HmacSha256,
            secret: TsigSecret::parse("YmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtMTI=").unwrap(),
        },
    };
    DesiredState {
        dns: Some(Dns {
            nameserver: DomainName::parse("ns1.bench.example").unwrap(),
            catalog: DomainName::parse("catalog.ns1.bench.example").unwrap(),
            zone_nameservers: ["ns1", "ns2", "ns3"]
                .iter()
                .map(|n| DomainName::parse(&format!("{n}.bench.example")).unwrap())
                .collect(),
            zones,
            secondaries: vec![peer(2), peer(3)],
            primaries: vec![],
            caa_issuers: vec![DomainName::parse("letsencrypt.org").unwrap()],
        }),
        schema: 1,
        generation: if extra_record { 4 } else { 3 },
        node_id: "bench".to_owned(),
        tenants: vec![],
    }
}

pub fn layout(root: &Path) -> Layout {
    Layout {
        root: root.to_owned(),
        hostname: DomainName::parse("mail.bench.example").unwrap(),
        listen: "127.0.0.1".parse().unwrap(),
        internal: "127.0.0.1".parse().unwrap(),
        ports: Ports::default(),
        broker: "127.0.0.1:10080".parse().unwrap(),
        vmail_uid: 5000,
        vmail_gid: 5000,
        send_limit: MessageLimit::default(),
        forward_limit: MessageLimit::forwarding(),
        relayhost: None,
    }
}

pub fn commands(root: &Path) -> Commands {
    let mut commands: Commands = toml::from_str("dkim_group = \"root\"").unwrap();
    for service in ["postfix", "dovecot", "rspamd"] {
        commands.set(&format!("{service}.check"), vec!["true".into()]);
        commands.set(&format!("{service}.reload"), vec!["true".into()]);
    }
    // `-c`: postmap reads main.cf, and this machine need not have /etc/postfix/main.cf.
    let postmap = if Path::new("/usr/sbin/postmap").exists() {
        vec![
            "/usr/sbin/postmap".into(),
            "-c".into(),
            root.join("etc/postfix").display().to_string(),
        ]
    } else {
        vec!["true".into()]
    };
    commands.set("postmap", postmap);
    commands.set("knot.knotc", vec!["true".into()]);
    let kzonecheck = if Path::new("/usr/bin/kzonecheck").exists() {
        vec!["/usr/bin/kzonecheck".into()]
    } else {
        vec!["true".into()]
    };
    commands.set("knot.kzonecheck", kzonecheck);
    commands
}

/// The `p=` value of an RSA-2048 key's size: rendering never parses it.
pub fn public_key() -> String {
    format!(
        "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA{}",
        "A".repeat(348)
    )
}

pub fn material(desired: &DesiredState) -> NodeMaterial {
    let dkim_keys = desired
        .dns
        .iter()
        .flat_map(|d| d.zones.iter())
        .map(|z| {
            let key = Key {
                domain_id: ObjectId::parse("d").unwrap(),
                selector: "r202611".to_owned(),
                public_key: public_key().into(),
            };
            (z.name.clone(), key)
        })
        .collect();
    NodeMaterial {
        dkim_keys,
        dns: desired.dns.as_ref().map(|_| DnsSettings {
            listen: "127.0.0.1:53".parse().unwrap(),
            addresses: vec!["192.0.2.1".parse().unwrap()],
        }),
        tls: None,
        // No web front: these benchmarks measure mail and DNS.
        web: None,
        certs: Default::default(),
        acme_challenges: Default::default(),
        mx_certificate: Default::default(),
        dkim_selectors: desired
            .tenants
            .iter()
            .flat_map(|t| {
                t.domains
                    .iter()
                    .map(|d| (d.name.clone(), "r202611".to_owned()))
            })
            .collect(),
    }
}

/// A reconciler on a fresh root whose DKIM keys for `desired`'s domains are already on disk
/// (made as the agent names them; their contents are never read as keys here); a name server
/// when `desired` has a DNS part.
pub fn reconciler(root: &Path, desired: &DesiredState) -> Reconciler {
    // The same layout and commands as the render-only cases above.
    let config = Config {
        state_dir: root.join("var/lib/ruche-agent"),
        layout: layout(root),
        tls: None,
        dns: desired.dns.as_ref().map(|_| DnsConfig {
            listen: "127.0.0.1:53".parse().unwrap(),
            addresses: vec!["192.0.2.1".parse().unwrap()],
        }),
        web: None,
        acme: None,
        mail_store: MailStoreConfig::default(),
        commands: commands(root),
    };
    std::fs::create_dir_all(&config.state_dir).unwrap();
    let keys = root.join(node_agent::dkim::DIR);
    std::fs::create_dir_all(&keys).unwrap();
    for domain in desired.tenants.iter().flat_map(|t| &t.domains) {
        let id = domain.id.as_ref().unwrap();
        std::fs::write(keys.join(format!("{id}.r202611.pub")), public_key()).unwrap();
        std::fs::write(keys.join(format!("{id}.r202611.key")), "bench").unwrap();
    }
    Reconciler::new(config).unwrap()
}
