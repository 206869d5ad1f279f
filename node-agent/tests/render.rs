//! The renderers (Postfix, Dovecot, rspamd, Knot, nginx) as a whole: golden files, properties over
//! arbitrary desired states, and the real daemons' own config checks (for Knot: `kzonecheck` on
//! every zone and `knotc conf-check`).
//!
//! Everything is inside `mod render` so that `cargo test -p node-agent render::` selects it;
//! `RUCHE_BLESS=1 cargo test -p node-agent render::` rewrites the golden files, which live in
//! each service's folder (`src/services/<name>/golden`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod render {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use node_agent::certs::{CertKey, Installed};
    use node_agent::dkim::Key;
    use node_agent::render::{
        self, DnsSettings, Files, Layout, MessageLimit, MxCertificate, NodeMaterial, Portal, Ports,
        TlsPair, WebSettings,
    };
    use node_agent::services::knot::{self, zone};
    use node_agent::services::{dovecot, nginx, postfix, rspamd, Service};
    use proptest::prelude::*;
    use protocol::desired::{
        Alias, DesiredState, Dns, DnsPeer, DnsPrimary, Domain, Mailbox, Tenant, Zone,
    };
    use protocol::dns::{Record, TsigAlgorithm, TsigKey, TsigSecret};
    use protocol::names::{AliasSource, DomainName, EmailAddress, LocalPart, ObjectId};
    use protocol::well_known;

    fn fixture_desired() -> DesiredState {
        // Through serde, as the agent receives it: every name goes through its parser.
        let json = serde_json::json!({
            "schema": 1,
            "generation": 42,
            "node_id": "node-a",
            "tenants": [
                {
                    "member_id": "0b6f4f0e-2d6a-4c53-9f55-3c1c1e0a9b7d",
                    "active": true,
                    "contact": "owner@contact.example",
                    "app_passwords": [
                        {"id": "ap1", "scope": "imap", "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"}
                    ],
                    "domains": [
                        {
                            "id": "7c1e0a9b-0000-4000-8000-00000000d001",
                            "name": "example.org",
                            "verified": true,
                            "mailboxes": [
                                {"id": "7c1e0a9b-0000-4000-8000-00000000m001", "local_part": "alice", "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$YWxpY2U", "quota_bytes": 1073741824, "public": true},
                                {"id": "7c1e0a9b-0000-4000-8000-00000000m002", "local_part": "bob", "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$Ym9i", "quota_bytes": 104857600}
                            ],
                            "aliases": [
                                {"source": "sales", "targets": ["alice@example.org", "o'brien+x@partner.example"]},
                                {"source": "*", "targets": ["alice@example.org"]}
                            ],
                            "xmpp_accounts": []
                        },
                        {
                            "id": "7c1e0a9b-0000-4000-8000-00000000d002",
                            "name": "bücher.example",
                            "verified": false,
                            "mailboxes": [],
                            "aliases": [
                                {"source": "kontakt", "targets": ["bob@example.org"]}
                            ],
                            "xmpp_accounts": []
                        }
                    ]
                },
                {
                    "member_id": "5d0c3a6e-8f1b-4e2a-b7c9-0a1b2c3d4e5f",
                    "active": false,
                    "contact": "carol@elsewhere.example",
                    "app_passwords": [],
                    "domains": [
                        {
                            "id": "7c1e0a9b-0000-4000-8000-00000000d003",
                            "name": "suspended.example",
                            "verified": true,
                            "mailboxes": [
                                {"id": "7c1e0a9b-0000-4000-8000-00000000m003", "local_part": "carol", "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$Y2Fyb2w", "quota_bytes": 5000000}
                            ],
                            "aliases": [
                                {"source": "*", "targets": ["carol@suspended.example"]}
                            ],
                            "xmpp_accounts": []
                        }
                    ]
                }
            ],
            "dns": {
                "nameserver": "ns1.ruche.test",
                "catalog": "catalog.ns1.ruche.test",
                "zone_nameservers": ["ns1.ruche.test", "ns2.ruche.test", "ns3.ruche.test"],
                "zones": [
                    {
                        "name": "example.org",
                        "records": [
                            {"name": "blog", "type": "CNAME", "ttl": 300, "value": "host.example.net"},
                            {"name": "@", "type": "TXT", "ttl": 300, "value": "google-site-verification=abc \"quoted\""},
                            {"name": "@", "type": "CAA", "ttl": 3600, "value": "0 issue \"sectigo.com\""},
                            {"name": "*.dev", "type": "A", "ttl": 3600, "value": "192.0.2.9"},
                            {"name": "lists", "type": "MX", "ttl": 3600, "value": "10 mx.example.net"},
                            {"name": "_sip._tcp", "type": "SRV", "ttl": 3600, "value": "10 5 5060 sip.example.net"},
                            {"name": "s1._domainkey", "type": "CNAME", "ttl": 3600, "value": "s1._domainkey.mailer.example"},
                            {"name": "v6", "type": "AAAA", "ttl": 3600, "value": "2001:db8::1"},
                            {"name": "blog", "type": "A", "ttl": 3600, "value": "192.0.2.1"},
                            {"name": "ruche2026._domainkey", "type": "TXT", "ttl": 3600, "value": "v=DKIM1; p=theirs"}
                        ]
                    },
                    {"name": "xn--bcher-kva.example", "records": []}
                ],
                "secondaries": [
                    {"nameserver": "ns2.ruche.test", "address": "203.0.113.2:53",
                     "tsig": {"name": "ns1-ns2.tsig.ruche.test", "algorithm": "hmac-sha256",
                              "secret": "cnVjaGUtZml4dHVyZS1rZXktbnMxLW5zMi0wMDAwMDE="}},
                    {"nameserver": "ns.friends.example", "address": "[2001:db8::53]:53",
                     "tsig": {"name": "ext-1.tsig.ruche.test", "algorithm": "hmac-sha256",
                              "secret": "cnVjaGUtZml4dHVyZS1rZXktZXh0LTEtMDAwMDAwMDM="}}
                ],
                "primaries": [
                    {"nameserver": "ns2.ruche.test", "address": "203.0.113.2:53",
                     "catalog": "catalog.ns2.ruche.test",
                     "tsig": {"name": "ns1-ns2.tsig.ruche.test", "algorithm": "hmac-sha256",
                              "secret": "cnVjaGUtZml4dHVyZS1rZXktbnMxLW5zMi0wMDAwMDE="},
                     "zones": ["b.example", "a.example"]},
                    {"nameserver": "ns3.ruche.test", "address": "203.0.113.3:53",
                     "catalog": "catalog.ns3.ruche.test",
                     "tsig": {"name": "ns1-ns3.tsig.ruche.test", "algorithm": "hmac-sha256",
                              "secret": "cnVjaGUtZml4dHVyZS1rZXktbnMxLW5zMy0wMDAwMDI="},
                     "zones": ["c.example", "example.org"]}
                ],
                "caa_issuers": ["letsencrypt.org"]
            }
        });
        serde_json::from_value(json).expect("the fixture parses")
    }

    fn layout_at(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
            hostname: DomainName::parse("mail.example.net").expect("hostname"),
            listen: "203.0.113.25".parse().expect("listen"),
            internal: "127.0.0.1".parse().expect("internal"),
            ports: Ports::default(),
            broker: "127.0.0.1:8025".parse().expect("broker"),
            vmail_uid: 5000,
            vmail_gid: 5000,
            send_limit: MessageLimit::default(),
            forward_limit: MessageLimit::forwarding(),
            relayhost: None,
        }
    }

    fn fixture_material() -> NodeMaterial {
        let mut dkim_selectors = BTreeMap::new();
        for domain in ["example.org", "xn--bcher-kva.example", "suspended.example"] {
            dkim_selectors.insert(
                DomainName::parse(domain).expect("domain"),
                "ruche2026".to_owned(),
            );
        }
        NodeMaterial {
            tls: Some(TlsPair {
                chain_pem: b"-----BEGIN CERTIFICATE-----\nZml4dHVyZSBjaGFpbg==\n-----END CERTIFICATE-----\n".to_vec(),
                key_pem: b"-----BEGIN PRIVATE KEY-----\nZml4dHVyZSBrZXk=\n-----END PRIVATE KEY-----\n".to_vec(),
            }),
            dkim_selectors,
            dkim_keys: fixture_dkim_keys(),
            web: Some(WebSettings {
                http: "203.0.113.25:80".parse().expect("http"),
                https: "203.0.113.25:443".parse().expect("https"),
                portal: Some(Portal {
                    name: DomainName::parse("portal.ruche.test").expect("name"),
                    upstream: "127.0.0.1:8080".parse().expect("upstream"),
                }),
            }),
            dns: Some(DnsSettings {
                listen: "203.0.113.25:53".parse().expect("listen"),
                addresses: vec![
                    "203.0.113.25".parse().expect("ip"),
                    "2001:db8::25".parse().expect("ip"),
                ],
            }),
            certs: fixture_certs(),
            acme_challenges: BTreeMap::from([
                (
                    DomainName::parse("example.org").expect("name"),
                    vec!["fixture-dns-01-value-apex".to_owned()],
                ),
                (
                    DomainName::parse("mta-sts.example.org").expect("name"),
                    vec!["fixture-dns-01-value-one".to_owned(), "fixture-dns-01-value-two".to_owned()],
                ),
            ]),
            mx_certificate: MxCertificate::Valid,
        }
    }

    /// example.org holds a certificate for two of its five web names (the other three did not
    /// resolve to the node yet).
    fn fixture_certs() -> BTreeMap<CertKey, Installed> {
        let name = |n: &str| DomainName::parse(n).expect("name");
        let installed = |names: Vec<DomainName>, dir: &str| Installed {
            names,
            dir: dir.to_owned(),
            not_before: 1_800_000_000,
            not_after: 1_807_776_000,
            leaf: std::sync::Arc::from(Vec::new()),
        };
        BTreeMap::from([
            (
                CertKey::Domain(name("example.org")),
                installed(
                    vec![name("example.org"), name("www.example.org")],
                    "var/lib/ruche/certs/domain/example.org/00112233aabbccdd",
                ),
            ),
            (
                CertKey::Node(name("portal.ruche.test")),
                installed(
                    vec![name("portal.ruche.test")],
                    "var/lib/ruche/certs/node/portal.ruche.test/8899aabbccddeeff",
                ),
            ),
        ])
    }

    fn fixture_dkim_keys() -> BTreeMap<DomainName, Key> {
        let mut keys = BTreeMap::new();
        for (domain, id) in [
            ("example.org", "7c1e0a9b-0000-4000-8000-00000000d001"),
            (
                "xn--bcher-kva.example",
                "7c1e0a9b-0000-4000-8000-00000000d002",
            ),
        ] {
            keys.insert(
                DomainName::parse(domain).expect("domain"),
                Key {
                    domain_id: ObjectId::parse(id).expect("id"),
                    selector: "ruche2026".to_owned(),
                    // A real RSA-2048 SubjectPublicKeyInfo is 392 characters: more than one
                    // 255-byte TXT string.
                    public_key: format!(
                        "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA{}IDAQAB",
                        "x".repeat(346)
                    )
                    .into(),
                },
            );
        }
        keys
    }

    fn text(files: &Files, path: &str) -> String {
        let file = files
            .iter()
            .find(|(p, _)| p.as_str() == path)
            .unwrap_or_else(|| panic!("{path} is not rendered"))
            .1;
        String::from_utf8(file.contents.bytes().into_owned()).expect("UTF-8")
    }

    /// Each service's golden files are in its folder: `src/services/<name>/golden`.
    fn golden_dir(service: Service) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/services")
            .join(service.name())
            .join("golden")
    }

    fn golden_name(path: &str) -> String {
        path.replace('/', "__")
    }

    /// Compares one service's files with the golden ones (or rewrites them with RUCHE_BLESS=1).
    fn check_golden(service: Service) {
        let files = render::render(
            &fixture_desired(),
            &layout_at(Path::new("/srv/ruche")),
            &fixture_material(),
        );
        let dir = golden_dir(service);
        let bless = std::env::var_os("RUCHE_BLESS").is_some();
        let mut expected_names = BTreeSet::new();
        for (path, file) in files.iter().filter(|(_, f)| f.service == service) {
            let name = golden_name(path.as_str());
            let golden = dir.join(&name);
            expected_names.insert(name);
            if bless {
                std::fs::create_dir_all(&dir).expect("golden dir");
                std::fs::write(&golden, file.contents.bytes()).expect("write golden");
                continue;
            }
            let want = std::fs::read(&golden)
                .unwrap_or_else(|e| panic!("{}: {e} (bless with RUCHE_BLESS=1)", golden.display()));
            assert!(
                file.contents.is(&want),
                "{path} differs from {}; if the change is intended, bless with RUCHE_BLESS=1\n--- rendered:\n{}",
                golden.display(),
                String::from_utf8_lossy(&file.contents.bytes())
            );
        }
        // A golden file of this service that is no longer rendered is stale.
        for entry in std::fs::read_dir(&dir).expect("golden dir") {
            let name = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            if !expected_names.contains(&name) {
                if bless {
                    std::fs::remove_file(dir.join(&name)).expect("remove stale golden");
                } else {
                    panic!(
                        "golden file {name} is not rendered any more (bless with RUCHE_BLESS=1)"
                    );
                }
            }
        }
    }

    #[test]
    fn golden_postfix() {
        check_golden(postfix::SERVICE);
    }

    #[test]
    fn golden_dovecot() {
        check_golden(dovecot::SERVICE);
    }

    #[test]
    fn golden_rspamd() {
        check_golden(rspamd::SERVICE);
    }

    #[test]
    fn golden_knot() {
        check_golden(knot::SERVICE);
    }

    #[test]
    fn golden_nginx() {
        check_golden(nginx::SERVICE);
    }

    #[test]
    fn the_fixture_zone_holds_the_platform_and_member_records() {
        let files = render::render(
            &fixture_desired(),
            &layout_at(Path::new("/srv/ruche")),
            &fixture_material(),
        );
        let zone = text(&files, "var/lib/knot/zones/example.org.zone");
        for line in [
            "@ 3600 IN SOA ns1.ruche.test. postmaster.example.org. 1 3600 900 1209600 300",
            "@ 3600 IN NS ns3.ruche.test.",
            "@ 3600 IN MX 10 mail.example.net.",
            "www 3600 IN AAAA 2001:db8::25",
            "mta-sts 3600 IN A 203.0.113.25",
            "_submissions._tcp 3600 IN SRV 0 1 465 mail.example.net.",
            "_pop3._tcp 3600 IN SRV 0 0 0 .",
            "@ 3600 IN CAA 0 iodef \"mailto:postmaster@example.org\"",
            "@ 3600 IN CAA 0 issue \"letsencrypt.org\"",
            "@ 3600 IN CAA 0 issue \"sectigo.com\"",
            // The member's TXT joins the SPF record's RRset: one TTL, the smallest.
            "@ 300 IN TXT \"v=spf1 mx -all\"",
            "@ 300 IN TXT \"google-site-verification=abc \\\"quoted\\\"\"",
            "blog 300 IN CNAME host.example.net.",
            "s1._domainkey 3600 IN CNAME s1._domainkey.mailer.example.",
            "*.dev 3600 IN A 192.0.2.9",
        ] {
            assert!(
                zone.lines().any(|l| l == line),
                "{line:?} missing from:\n{zone}"
            );
        }
        // The DKIM key is split into 255-byte strings.
        assert!(zone.contains("ruche2026._domainkey 3600 IN TXT \"v=DKIM1; k=rsa; p=MIIB"));
        // An A beside the member's CNAME is left out (the first record wins), as is a TXT at
        // a name the platform writes.
        assert!(!zone.contains("192.0.2.1\n"));
        assert!(!zone.contains("theirs"));
        let conf = text(&files, knot::KNOT_CONF);
        let zones: Vec<String> = knot::configured_zones(conf.as_bytes())
            .into_iter()
            .map(|z| z.as_str().to_owned())
            .collect();
        assert_eq!(
            zones,
            [
                "a.example",
                "b.example",
                "c.example",
                "catalog.ns1.ruche.test",
                "example.org",
                "xn--bcher-kva.example"
            ]
        );
        // A secondary serves from each primary exactly the zones listed for it (and never a zone
        // of its own), and consumes no other node's catalog.
        assert!(conf.contains("  - domain: a.example\n    template: secondary.ns2.ruche.test\n"));
        assert!(conf.contains("  - domain: c.example\n    template: secondary.ns3.ruche.test\n"));
        assert!(conf.contains("  - domain: example.org\n    template: primary\n"));
        assert!(!conf.contains("interpret"), "{conf}");
        // Without [dns] in agent.toml, nothing of Knot.
        let material = NodeMaterial {
            dns: None,
            ..fixture_material()
        };
        let files = render::render(
            &fixture_desired(),
            &layout_at(Path::new("/srv/ruche")),
            &material,
        );
        assert!(files.values().all(|f| f.service != knot::SERVICE));
    }

    /// Every zone's `_mta-sts` record carries the id of the policy nginx serves, which changes
    /// when the host's certificate becomes valid (testing, then enforce).
    #[test]
    fn the_mta_sts_id_follows_the_policy() {
        let layout = layout_at(Path::new("/srv/ruche"));
        let id_in_zone = |mx_certificate| {
            let material = NodeMaterial {
                mx_certificate,
                ..fixture_material()
            };
            let files = render::render(&fixture_desired(), &layout, &material);
            let zone = text(&files, "var/lib/knot/zones/example.org.zone");
            let line = zone
                .lines()
                .find(|l| l.starts_with("_mta-sts "))
                .expect("an _mta-sts record")
                .to_owned();
            let id = line
                .split("id=")
                .nth(1)
                .and_then(|rest| rest.strip_suffix('"'))
                .expect("an id")
                .to_owned();
            (id, material.mta_sts(&layout.hostname).id())
        };
        let (testing, testing_policy) = id_in_zone(MxCertificate::NotValid);
        let (enforce, enforce_policy) = id_in_zone(MxCertificate::Valid);
        assert_eq!(testing, testing_policy);
        assert_eq!(enforce, enforce_policy);
        assert_ne!(testing, enforce);
    }

    #[test]
    fn every_path_and_mode_of_the_brief() {
        let files = render::render(
            &fixture_desired(),
            &layout_at(Path::new("/srv/ruche")),
            &fixture_material(),
        );
        let modes: BTreeMap<&str, (Service, u32, render::OnChange)> = files
            .iter()
            .map(|(p, f)| (p.as_str(), (f.service, f.mode, f.on_change)))
            .collect();
        use render::OnChange::{Nothing, Reload};
        const TABLE: render::OnChange = render::OnChange::Step(postfix::POSTMAP);
        const ZONE: render::OnChange = render::OnChange::Step(knot::ZONE_RELOAD);
        let expected = [
            ("etc/postfix/main.cf", postfix::SERVICE, 0o644, Reload),
            ("etc/postfix/master.cf", postfix::SERVICE, 0o644, Reload),
            ("etc/postfix/ruche/domains", postfix::SERVICE, 0o644, TABLE),
            (
                "etc/postfix/ruche/mailboxes",
                postfix::SERVICE,
                0o644,
                TABLE,
            ),
            ("etc/postfix/ruche/aliases", postfix::SERVICE, 0o644, TABLE),
            ("etc/postfix/ruche/senders", postfix::SERVICE, 0o644, TABLE),
            (
                "etc/postfix/ruche/recipients",
                postfix::SERVICE,
                0o644,
                TABLE,
            ),
            ("etc/postfix/tls/chain.pem", postfix::SERVICE, 0o644, Reload),
            ("etc/postfix/tls/key.pem", postfix::SERVICE, 0o600, Reload),
            ("etc/dovecot/dovecot.conf", dovecot::SERVICE, 0o644, Reload),
            ("etc/dovecot/users", dovecot::SERVICE, 0o644, Nothing),
            ("etc/dovecot/passdb.lua", dovecot::SERVICE, 0o644, Reload),
            ("etc/dovecot/tls/chain.pem", dovecot::SERVICE, 0o644, Reload),
            ("etc/dovecot/tls/key.pem", dovecot::SERVICE, 0o600, Reload),
            (
                "etc/rspamd/override.d/worker-proxy.inc",
                rspamd::SERVICE,
                0o644,
                Reload,
            ),
            (
                "etc/rspamd/override.d/worker-controller.inc",
                rspamd::SERVICE,
                0o644,
                Reload,
            ),
            (
                "etc/rspamd/override.d/worker-normal.inc",
                rspamd::SERVICE,
                0o644,
                Reload,
            ),
            (
                "etc/rspamd/local.d/options.inc",
                rspamd::SERVICE,
                0o644,
                Reload,
            ),
            (
                "etc/rspamd/local.d/redis.conf",
                rspamd::SERVICE,
                0o644,
                Reload,
            ),
            (
                "etc/rspamd/local.d/dkim_signing.conf",
                rspamd::SERVICE,
                0o644,
                Reload,
            ),
            (
                "etc/rspamd/local.d/ratelimit.conf",
                rspamd::SERVICE,
                0o644,
                Reload,
            ),
            (
                "etc/rspamd/rspamd.local.lua",
                rspamd::SERVICE,
                0o644,
                Reload,
            ),
            (
                "etc/rspamd/ruche/selectors.map",
                rspamd::SERVICE,
                0o644,
                Nothing,
            ),
            (
                "etc/rspamd/ruche/domains.map",
                rspamd::SERVICE,
                0o644,
                Nothing,
            ),
            // TSIG secrets: readable by knotd's group only.
            ("etc/knot/knot.conf", knot::SERVICE, 0o640, Reload),
            (
                "var/lib/knot/zones/example.org.zone",
                knot::SERVICE,
                0o644,
                ZONE,
            ),
            ("etc/nginx/nginx.conf", nginx::SERVICE, 0o644, Reload),
            ("etc/nginx/ruche/hosts.conf", nginx::SERVICE, 0o644, Reload),
            (
                "etc/nginx/ruche/discovery.conf",
                nginx::SERVICE,
                0o644,
                Reload,
            ),
            // Read by nginx's workers at each request.
            (
                "var/lib/ruche/web/mta-sts.txt",
                nginx::SERVICE,
                0o644,
                Nothing,
            ),
            (
                "var/lib/ruche/web/autodiscover.xml",
                nginx::SERVICE,
                0o644,
                Nothing,
            ),
            (
                "var/lib/ruche/web/autoconfig/example.org.xml",
                nginx::SERVICE,
                0o644,
                Nothing,
            ),
        ];
        for (path, service, mode, on_change) in expected {
            assert_eq!(modes.get(path), Some(&(service, mode, on_change)), "{path}");
        }
    }

    #[test]
    fn the_fixture_routes_as_the_brief_says() {
        let files = render::render(
            &fixture_desired(),
            &layout_at(Path::new("/srv/ruche")),
            &fixture_material(),
        );
        let aliases = text(&files, postfix::ALIASES);
        // Catch-all, and the mailboxes that must not fall into it.
        assert!(aliases.contains("\n@example.org alice@example.org\n"));
        assert!(aliases.contains("\nalice@example.org alice@example.org\n"));
        assert!(aliases.contains("\nbob@example.org bob@example.org\n"));
        assert!(
            aliases.contains("\nsales@example.org alice@example.org,o'brien+x@partner.example\n")
        );
        // RFC 2142 on the IDN domain (no mailbox there): the tenant's first mailbox.
        assert!(aliases.contains("\npostmaster@xn--bcher-kva.example alice@example.org\n"));
        assert!(aliases.contains("\nabuse@xn--bcher-kva.example alice@example.org\n"));
        let recipients = text(&files, postfix::RECIPIENTS);
        assert!(recipients.contains("\nsuspended.example 450 4.2.1 "));
        assert!(!recipients.contains("example.org"));
        let senders = text(&files, postfix::SENDERS);
        assert!(senders.contains("\n@xn--bcher-kva.example alice@example.org,bob@example.org\n"));
        // Its alias there is the member's through the domain's key.
        assert!(!senders.contains("kontakt@"));
        assert!(!senders.contains("suspended"));
        let users = text(&files, dovecot::USERS);
        // Homes are named after mailbox ids, never addresses.
        assert!(users.contains("\nalice@example.org::5000:5000::/srv/ruche/var/vmail/7c1e0a9b-0000-4000-8000-00000000m001::userdb_quota_rule=*:storage=1073741824B\n"));
        assert!(!users.contains("carol"));
        let selectors = text(&files, rspamd::SELECTORS_MAP);
        assert!(selectors.contains("\nexample.org ruche2026\n"));
        assert!(selectors.contains("\nxn--bcher-kva.example ruche2026\n"));
        assert!(!selectors.contains("suspended"));
        // Keys are files named after domain ids; senders and logins are their domain owner's.
        let paths = text(&files, rspamd::PATHS_MAP);
        assert!(paths.contains("\nexample.org /srv/ruche/var/lib/ruche-agent/dkim/7c1e0a9b-0000-4000-8000-00000000d001.ruche2026.key\n"));
        assert!(!paths.contains("suspended"));
        let domains = text(&files, rspamd::DOMAINS_MAP);
        assert!(domains.contains("\nexample.org 0b6f4f0e-2d6a-4c53-9f55-3c1c1e0a9b7d\n"));
        assert!(!domains.contains("suspended"));
    }

    #[test]
    fn a_domain_waiting_for_verification_serves_nothing() {
        let served = fixture_desired().served();
        let files = render::render(
            &served,
            &layout_at(Path::new("/srv/ruche")),
            &fixture_material(),
        );
        for path in [
            postfix::DOMAINS,
            postfix::ALIASES,
            postfix::SENDERS,
            rspamd::SELECTORS_MAP,
            rspamd::PATHS_MAP,
            rspamd::DOMAINS_MAP,
        ] {
            let text = text(&files, path);
            assert!(
                !text.contains("bcher"),
                "{path} names the pending domain:\n{text}"
            );
            assert!(
                text.contains("example.org"),
                "{path} lost the verified domain"
            );
        }
    }

    #[test]
    fn without_tls_material_there_is_no_submission_and_no_tls_file() {
        let material = NodeMaterial {
            tls: None,
            ..fixture_material()
        };
        let files = render::render(
            &fixture_desired(),
            &layout_at(Path::new("/srv/ruche")),
            &material,
        );
        assert!(files.keys().all(|p| !p.as_str().contains("/tls/")));
        let master = text(&files, postfix::MASTER_CF);
        assert!(!master.contains(":587 "));
        assert!(!master.contains(":465 "));
        assert!(master.contains("203.0.113.25:25 inet"));
        let main = text(&files, postfix::MAIN_CF);
        assert!(!main.contains("smtpd_tls_cert_file"));
        assert!(!main.contains("ruche_submission"));
    }

    /// Under `/.well-known/` nginx serves only the registry's paths: each location there is
    /// the ACME directory, a 404, or answers from the discovery map, whose routes under
    /// `/.well-known/` are registered paths (taken from `protocol::well_known`) and whose
    /// others are its two host paths.
    #[test]
    fn only_registered_well_known_paths_answer() {
        let files = render::render(
            &fixture_desired(),
            &layout_at(Path::new("/srv/ruche")),
            &fixture_material(),
        );
        let from_map = "try_files /$ruche_discovery =404;";
        for (path, file) in files.iter().filter(|(_, f)| f.service == nginx::SERVICE) {
            if !path.as_str().ends_with(".conf") {
                continue;
            }
            let text = String::from_utf8(file.contents.bytes().into_owned()).expect("UTF-8");
            let lines: Vec<&str> = text.lines().map(str::trim).collect();
            for (i, line) in lines.iter().enumerate() {
                let Some(location) = line.strip_prefix("location ") else {
                    continue;
                };
                let location = location.strip_suffix(" {").expect("a block");
                let block: Vec<&str> = lines[i + 1..]
                    .iter()
                    .take_while(|l| **l != "}")
                    .copied()
                    .collect();
                match location.split_once(' ') {
                    Some(("^~", "/.well-known/")) => assert!(
                        block == ["return 404;"] || block.contains(&from_map),
                        "{path}: {block:?}"
                    ),
                    Some(("^~", dir)) if dir.starts_with(well_known::PREFIX) => {
                        let token = format!("{dir}token");
                        let entry = well_known::owner(&token).expect("a registered directory");
                        assert_eq!(entry.owner, well_known::Owner::Acme, "{path}: {dir}");
                    }
                    // Under the prefix, only WebFinger's and host-meta's own locations.
                    Some(("=", exact)) => assert!(
                        !exact.starts_with(well_known::PREFIX)
                            || well_known::owner(exact).is_some_and(|e| matches!(
                                e.owner,
                                well_known::Owner::WebFinger | well_known::Owner::HostMeta
                            )),
                        "{path}: {exact}"
                    ),
                    _ => {}
                }
            }
        }
        // The map's routes, their paths unescaped.
        let map = text(&files, nginx::DISCOVERY_CONF);
        let mut owners = BTreeSet::new();
        let mut elsewhere = BTreeSet::new();
        for line in map.lines().filter(|l| l.trim_start().starts_with("\"~^")) {
            let pattern = line.trim().split('"').nth(1).expect("a quoted pattern");
            let path = pattern
                .rsplit(' ')
                .next()
                .and_then(|p| p.strip_suffix('$'))
                .expect("a path")
                .replace('\\', "");
            match well_known::owner(&path) {
                Some(entry) => {
                    owners.insert(entry.owner);
                }
                None => {
                    assert!(!path.starts_with(well_known::PREFIX), "unregistered {path}");
                    elsewhere.insert(path);
                }
            }
        }
        assert_eq!(
            owners,
            BTreeSet::from([well_known::Owner::MtaSts, well_known::Owner::Autoconfig])
        );
        assert_eq!(
            elsewhere,
            BTreeSet::from([
                well_known::AUTOCONFIG_HOST_PATH.to_owned(),
                well_known::AUTODISCOVER_PATH.to_owned()
            ])
        );
    }

    /// What the discovery files say follows the node: the policy's mode its certificate, the
    /// mail clients' documents whether it offers TLS at all, and only the active members'
    /// domains with a certificate get an autoconfiguration file.
    #[test]
    fn discovery_files_follow_the_node() {
        let layout = layout_at(Path::new("/srv/ruche"));
        let files = render::render(&fixture_desired(), &layout, &fixture_material());
        let web: Vec<&str> = files
            .keys()
            .map(|p| p.as_str())
            .filter(|p| p.starts_with(nginx::discovery::WEB_ROOT))
            .collect();
        // bücher.example has no certificate yet; suspended.example's member is suspended.
        assert_eq!(
            web,
            [
                "var/lib/ruche/web/autoconfig/example.org.xml",
                "var/lib/ruche/web/autodiscover.xml",
                "var/lib/ruche/web/mta-sts.txt"
            ]
        );
        assert!(text(&files, nginx::discovery::MTA_STS_FILE).contains("\nmode: enforce\n"));

        // No certificate for the host name at all: no submission, no IMAPS, so nothing to
        // tell mail clients; the policy is served, testing.
        let material = NodeMaterial {
            tls: None,
            mx_certificate: MxCertificate::NotValid,
            ..fixture_material()
        };
        let files = render::render(&fixture_desired(), &layout, &material);
        assert!(files
            .keys()
            .all(|p| !p.as_str().ends_with(".xml") || !p.as_str().contains("ruche/web")));
        let policy = text(&files, nginx::discovery::MTA_STS_FILE);
        assert_eq!(
            policy,
            "version: STSv1\nmode: testing\nmx: mail.example.net\nmax_age: 86400\n"
        );
        let map = text(&files, nginx::DISCOVERY_CONF);
        assert!(map.contains("/\\.well-known/mta-sts\\.txt$\" mta-sts.txt;"));
        assert!(!map.contains("autoconfig") && !map.contains("autodiscover"));

        // ACME's certificate for the host name offers TLS as well as [tls]'s files.
        let mut material = material;
        material.certs.insert(
            CertKey::Node(layout.hostname.clone()),
            Installed {
                names: vec![layout.hostname.clone()],
                dir: "var/lib/ruche/certs/node/mail.example.net/0011223344556677".to_owned(),
                not_before: 1_800_000_000,
                not_after: 1_807_776_000,
                leaf: std::sync::Arc::from(Vec::new()),
            },
        );
        let files = render::render(&fixture_desired(), &layout, &material);
        let autodiscover = text(&files, nginx::discovery::AUTODISCOVER_FILE);
        assert!(autodiscover.contains("<Server>mail.example.net</Server>"));
    }

    #[test]
    fn a_layout_root_that_cannot_be_written_renders_nothing() {
        let files = render::render(
            &fixture_desired(),
            &layout_at(Path::new("/srv/a b")),
            &fixture_material(),
        );
        assert!(files.is_empty());
    }

    // ---- Properties -------------------------------------------------------------------------

    /// Strings some parser refuses, and that must therefore never reach a file.
    const HOSTILE: &[&str] = &[
        "evil\nline",
        "evil\rline",
        "evil\0nul",
        "evil line",
        "evil\"quote",
        "evil;semi",
        "evil{brace",
        "evil:colon",
        "evil\\back",
        "ex\u{430}mple.org",
        "évil",
        "evil..dots",
        "#evil",
        "$EVIL",
    ];

    fn local_part() -> impl Strategy<Value = LocalPart> {
        prop_oneof![
            Just("postmaster".to_owned()),
            Just("abuse".to_owned()),
            "[a-z0-9]([a-z0-9._-]{0,12}[a-z0-9])?",
        ]
        .prop_filter_map("a local part", |s| LocalPart::parse(&s).ok())
    }

    fn domain_name() -> impl Strategy<Value = DomainName> {
        prop_oneof![
            "[a-z0-9]{1,8}(-[a-z0-9]{1,4})?(\\.[a-z0-9]{1,8}){0,2}\\.(org|example|net)",
            prop::sample::select(vec![
                "bücher.example".to_owned(),
                "café.example".to_owned(),
                "例え.テスト".to_owned(),
            ]),
        ]
        .prop_filter_map("a domain", |s| DomainName::parse(&s).ok())
    }

    fn email_address() -> impl Strategy<Value = EmailAddress> {
        (
            "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,10}(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,6})?",
            domain_name(),
        )
            .prop_filter_map("an address", |(local, domain)| {
                EmailAddress::parse(&format!("{local}@{domain}")).ok()
            })
    }

    fn member_id() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[a-f0-9]{8}-[a-f0-9]{4}",
            1 => prop::sample::select(HOSTILE.to_vec()).prop_map(str::to_owned),
        ]
    }

    fn selector() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[a-z0-9]{1,10}",
            1 => prop::sample::select(HOSTILE.to_vec()).prop_map(str::to_owned),
        ]
    }

    fn domain() -> impl Strategy<Value = Domain> {
        (
            domain_name(),
            any::<bool>(),
            prop::collection::vec((local_part(), 0u64..5_000_000_000), 0..4),
            prop::collection::vec(
                (
                    prop_oneof![
                        1 => Just(AliasSource::CatchAll),
                        3 => local_part().prop_map(AliasSource::Local),
                    ],
                    prop::collection::vec(email_address(), 0..3),
                ),
                0..4,
            ),
        )
            .prop_map(|(name, verified, mailboxes, aliases)| Domain {
                id: Some(ObjectId::parse("d").expect("id")),
                name,
                verified,
                mailboxes: mailboxes
                    .into_iter()
                    .enumerate()
                    .map(|(i, (local_part, quota_bytes))| Mailbox {
                        id: Some(ObjectId::parse(&format!("m{i}")).expect("id")),
                        local_part,
                        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
                        quota_bytes,
                        public: false,
                    })
                    .collect(),
                aliases: aliases
                    .into_iter()
                    .map(|(source, targets)| Alias { source, targets })
                    .collect(),
                xmpp_accounts: Vec::new(),
            })
    }

    fn tenant() -> impl Strategy<Value = Tenant> {
        (
            member_id(),
            any::<bool>(),
            prop::collection::vec(domain(), 0..3),
            prop::option::of(email_address()),
        )
            .prop_map(|(member_id, active, domains, contact)| Tenant {
                member_id,
                active,
                domains,
                app_passwords: Vec::new(),
                contact,
            })
    }

    fn desired() -> impl Strategy<Value = DesiredState> {
        prop::collection::vec(tenant(), 0..4).prop_map(|tenants| DesiredState {
            dns: None,
            schema: 1,
            generation: 1,
            node_id: "node".to_owned(),
            tenants: tenants.into_iter().map(std::sync::Arc::new).collect(),
        })
    }

    /// `after` rendered by a renderer that rendered `before` last, its members compared and
    /// named by the delta from `before`: the two renderings.
    fn render_again(
        layout: &Layout,
        (before, material_before): (DesiredState, NodeMaterial),
        (after, material_after): (DesiredState, NodeMaterial),
    ) -> [Files; 2] {
        let before = std::sync::Arc::new(before);
        let (material_before, after, material_after) = (
            std::sync::Arc::new(material_before),
            std::sync::Arc::new(after),
            std::sync::Arc::new(material_after),
        );
        let delta = before.delta_to(&after);
        [false, true].map(|since| {
            let mut renderer = render::Renderer::default();
            renderer.render_kept(before.clone(), layout, material_before.clone(), None);
            renderer.render_kept(
                after.clone(),
                layout,
                material_after.clone(),
                since.then_some((&before, &delta)),
            )
        })
    }

    /// Material for `desired`: each domain's DKIM selector from `selectors` and its certificate
    /// and ACME challenge from `versions`, in turn (so two lists give two materials that differ
    /// domain by domain), a web front, and the fixture's certificate when `tls`.
    fn material_for(
        desired: &DesiredState,
        selectors: &[String],
        versions: &[u8],
        tls: bool,
    ) -> NodeMaterial {
        let mut dkim_selectors = BTreeMap::new();
        let mut certs = BTreeMap::new();
        let mut acme_challenges = BTreeMap::new();
        let domains = desired.tenants.iter().flat_map(|t| t.domains.iter());
        let versions = versions.iter().chain(&[0]).cycle();
        for ((domain, selector), version) in domains.zip(selectors.iter().cycle()).zip(versions) {
            dkim_selectors.insert(domain.name.clone(), selector.clone());
            certs.insert(
                CertKey::Domain(domain.name.clone()),
                Installed {
                    names: vec![domain.name.clone()],
                    dir: format!("var/lib/ruche/certs/domain/{}/{version:016x}", domain.name),
                    not_before: 0,
                    not_after: 1,
                    leaf: std::sync::Arc::from(Vec::new()),
                },
            );
            acme_challenges.insert(domain.name.clone(), vec![format!("value-{version}")]);
        }
        NodeMaterial {
            tls: tls.then(|| fixture_material().tls).flatten(),
            dkim_selectors,
            certs,
            acme_challenges,
            web: fixture_material().web,
            ..NodeMaterial::default()
        }
    }

    /// Whitespace-separated fields of each non-comment line of a Postfix table.
    fn table_fields(path: &str) -> Option<usize> {
        let reply_words = postfix::SUSPENDED_REPLY.split_whitespace().count();
        match path {
            postfix::DOMAINS | postfix::MAILBOXES | postfix::ALIASES | postfix::SENDERS => Some(2),
            postfix::RECIPIENTS => Some(1 + reply_words),
            rspamd::SELECTORS_MAP | rspamd::DOMAINS_MAP => Some(2),
            _ => None,
        }
    }

    /// Files that hold configuration or code, where no member value may appear.
    fn is_config(path: &str) -> bool {
        path.ends_with(".cf")
            || path.ends_with(".conf")
            || path.ends_with(".inc")
            || path.ends_with(".lua")
    }

    fn check_invariants(desired: &DesiredState, files: &Files) {
        let member_ids: Vec<&str> = desired
            .tenants
            .iter()
            .map(|t| t.member_id.as_str())
            .collect();
        for (path, file) in files {
            let path = path.as_str();
            let bytes = file.contents.bytes();
            let text =
                std::str::from_utf8(&bytes).unwrap_or_else(|e| panic!("{path} is not UTF-8: {e}"));
            assert!(!text.contains('\r'), "{path} holds a CR");
            assert!(!text.contains('\0'), "{path} holds a NUL");
            // Secrets stay with the broker: no verifier is ever rendered.
            assert!(!text.contains("argon2"), "{path} holds a password hash");
            for hostile in HOSTILE {
                assert!(!text.contains(hostile), "{path} holds {hostile:?}");
            }
            let lines = text.lines().filter(|l| !l.starts_with('#'));
            if let Some(fields) = table_fields(path) {
                for line in lines {
                    assert_eq!(line.split_whitespace().count(), fields, "{path}: {line:?}");
                    assert!(!line.starts_with(char::is_whitespace), "{path}: {line:?}");
                }
            } else if path == dovecot::USERS {
                for line in lines {
                    assert_eq!(line.matches(':').count(), 8, "{path}: {line:?}");
                    assert!(!line.contains(char::is_whitespace), "{path}: {line:?}");
                }
            } else if path.ends_with(".xml") {
                roxmltree::Document::parse(text)
                    .unwrap_or_else(|e| panic!("{path} is not well-formed XML: {e}"));
            } else if path.ends_with("mta-sts.txt") {
                let keys: Vec<&str> = text
                    .lines()
                    .filter_map(|l| l.split_once(": ").map(|(k, _)| k))
                    .collect();
                assert_eq!(keys, ["version", "mode", "mx", "max_age"], "{path}");
            } else if is_config(path) {
                // No address (nor anything else from a member) in configuration or code.
                assert!(!text.contains('@'), "{path} holds an address");
                for id in &member_ids {
                    assert!(!text.contains(id), "{path} holds member id {id:?}");
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn rendering_is_injection_proof_and_deterministic(
            desired in desired(),
            selectors in prop::collection::vec(selector(), 1..4),
            tls in any::<bool>(),
        ) {
            let layout = layout_at(Path::new("/srv/ruche"));
            let material = material_for(&desired, &selectors, &[1, 2], tls);
            let files = render::render(&desired, &layout, &material);
            check_invariants(&desired, &files);
            prop_assert_eq!(&files, &render::render(&desired, &layout, &material));
        }

        /// A renderer that keeps members' lines from one rendering to the next renders what a
        /// fresh rendering does, whatever changed in between: members changed, kept, gone or
        /// new, their domains' selectors, certificates and challenges, and whether the host's
        /// certificate is valid.
        #[test]
        fn rendering_again_gives_what_rendering_afresh_gives(
            before in desired(),
            changes in prop::collection::vec(prop::option::of(tenant()), 0..4),
            new_members in prop::collection::vec(tenant(), 0..2),
            selectors_before in prop::collection::vec(selector(), 1..3),
            selectors_after in prop::collection::vec(selector(), 1..3),
            versions_before in prop::collection::vec(0..3u8, 1..3),
            versions_after in prop::collection::vec(0..3u8, 1..3),
            mx_certificates in (any::<bool>(), any::<bool>()),
        ) {
            let layout = layout_at(Path::new("/srv/ruche"));
            // Each member of `before` kept (`None`), changed (a new part under its id) or,
            // past the changes given, gone; and new members.
            let mut after = before.clone();
            after.tenants = before
                .tenants
                .iter()
                .zip(&changes)
                .map(|(t, change)| match change {
                    None => t.clone(),
                    Some(new) => {
                        Arc::new(Tenant { member_id: t.member_id.clone(), ..new.clone() })
                    }
                })
                .chain(new_members.into_iter().map(Arc::new))
                .collect();
            let mx = |valid| if valid { MxCertificate::Valid } else { MxCertificate::NotValid };
            let material_before = NodeMaterial {
                mx_certificate: mx(mx_certificates.0),
                ..material_for(&before, &selectors_before, &versions_before, false)
            };
            let material_after = NodeMaterial {
                mx_certificate: mx(mx_certificates.1),
                ..material_for(&after, &selectors_after, &versions_after, false)
            };
            let fresh = render::render(&after, &layout, &material_after);
            for again in render_again(&layout, (before, material_before), (after, material_after)) {
                prop_assert_eq!(&again, &fresh);
            }
        }

        #[test]
        fn hostile_strings_never_pass_the_parsers(hostile in prop::sample::select(HOSTILE.to_vec()),
                                                   valid in "[a-z]{1,8}") {
            // The property above relies on these never becoming names.
            prop_assert!(LocalPart::parse(hostile).is_err());
            prop_assert!(DomainName::parse(hostile).is_err());
            let as_local = EmailAddress::parse(&format!("{hostile}@{valid}.org"));
            let outside_atext = hostile.contains(['\n', '\r', '\0', ' ', '"', ';', ':', '\\']);
            prop_assert!(as_local.is_err() || !outside_atext);
            let as_domain = EmailAddress::parse(&format!("{valid}@{hostile}"));
            prop_assert!(as_domain.is_err());
        }
    }

    // ---- DNS: hostile but valid desired states ------------------------------------------------

    /// Owners a member might try, including the platform's names, names that only fit short
    /// zones, and wildcards.
    fn owner_text() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => prop::sample::select(vec![
                "@", "www", "_dmarc", "mta-sts", "autoconfig", "autodiscover", "_imap._tcp", "_tcp",
                "r202611._domainkey", "ruche2026._domainkey", "_domainkey", "*", "*.dev",
                "blog", "a.b.c", "_ruche-challenge", "WWW",
            ])
            .prop_map(str::to_owned),
            3 => "[a-z0-9_]{1,10}(\\.[a-z0-9-]{1,10}){0,2}",
            1 => "[a-z]{60,63}\\.[a-z]{60,63}\\.[a-z]{60,63}",
        ]
    }

    fn host_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9]{1,8}\\.(example|org|net)",
            "s1\\._domainkey\\.[a-z]{1,6}\\.example",
            "[a-z]{60,63}\\.[a-z]{60,63}\\.[a-z]{60,63}\\.example",
        ]
    }

    /// (type, value) pairs of every type members may add, values hostile where the type allows
    /// free text.
    fn typed_value() -> impl Strategy<Value = (&'static str, String)> {
        prop_oneof![
            "192\\.0\\.2\\.[0-9]{1,3}".prop_map(|v| ("A", v)),
            "2001:db8::[0-9a-f]{1,4}".prop_map(|v| ("AAAA", v)),
            host_text().prop_map(|v| ("CNAME", v)),
            ("[0-9]{1,5}", host_text()).prop_map(|(p, h)| ("MX", format!("{p} {h}"))),
            prop_oneof![
                "[ -~]{1,300}",
                Just("v=spf1 include:evil -all".to_owned()),
                Just("x\" ; $INCLUDE /etc/shadow ( \\".to_owned()),
            ]
            .prop_map(|v| ("TXT", v)),
            (
                "[0-9]{1,5} [0-9]{1,5} [0-9]{1,5}",
                prop_oneof![host_text(), Just(".".to_owned())]
            )
                .prop_map(|(n, h)| ("SRV", format!("{n} {h}"))),
            ("0|128", "issue|issuewild|iodef", "[ !#-\\[\\]-~]{1,40}",)
                .prop_map(|(f, t, v)| ("CAA", format!("{f} {t} \"{v}\""))),
        ]
    }

    fn record() -> impl Strategy<Value = Record> {
        (owner_text(), typed_value(), prop::option::of(60u32..86_400)).prop_filter_map(
            "a valid record",
            |(owner, (kind, value), ttl)| {
                let ttl = ttl.map(|t| t.to_string()).unwrap_or_default();
                Record::parse(&owner, kind, &ttl, &value).ok()
            },
        )
    }

    fn zone_name() -> impl Strategy<Value = DomainName> {
        prop_oneof![
            4 => domain_name(),
            1 => "[a-z]{55,63}\\.[a-z]{55,63}\\.[a-z]{55,63}\\.example"
                .prop_filter_map("a long domain", |s| DomainName::parse(&s).ok()),
        ]
    }

    /// Name servers from a small set, so peers repeat, and sometimes this node itself.
    fn nameserver() -> impl Strategy<Value = DomainName> {
        prop::sample::select(vec![
            "ns1.ruche.test",
            "ns2.ruche.test",
            "ns3.ruche.test",
            "ns4.ruche.test",
            "ns.friends.example",
        ])
        .prop_map(|s| DomainName::parse(s).expect("name server"))
    }

    fn tsig() -> impl Strategy<Value = TsigKey> {
        (
            prop::sample::select(vec!["ns1-ns2", "ns1-ns3", "ns1-ns4", "ext-1"]),
            "[A-Za-z0-9+/]{43}=",
        )
            .prop_map(|(name, secret)| TsigKey {
                name: DomainName::parse(&format!("{name}.tsig.ruche.test")).expect("key name"),
                algorithm: TsigAlgorithm::HmacSha256,
                secret: TsigSecret::parse(&secret).expect("secret"),
            })
    }

    fn socket_address() -> impl Strategy<Value = std::net::SocketAddr> {
        prop_oneof![
            (1u8..250, 1u16..65535)
                .prop_map(|(h, p)| std::net::SocketAddr::from(([127, 0, 0, h], p))),
            (1u16..65535).prop_map(|p| std::net::SocketAddr::from((
                "2001:db8::53".parse::<std::net::Ipv6Addr>().expect("ip"),
                p
            ))),
        ]
    }

    fn dns() -> impl Strategy<Value = Dns> {
        (
            prop::collection::vec(nameserver(), 0..4),
            prop::collection::vec((zone_name(), prop::collection::vec(record(), 0..12)), 0..4),
            prop::collection::vec((nameserver(), socket_address(), tsig()), 0..4),
            prop::collection::vec(
                (
                    nameserver(),
                    socket_address(),
                    tsig(),
                    any::<bool>(),
                    prop::collection::vec(zone_name(), 0..3),
                ),
                0..3,
            ),
            prop::collection::vec(domain_name(), 0..3),
        )
            .prop_map(
                |(zone_nameservers, zones, secondaries, primaries, caa_issuers)| {
                    let catalog_of = |ns: &DomainName| {
                        DomainName::parse(&format!("catalog.{}", ns.as_str())).expect("catalog")
                    };
                    Dns {
                        nameserver: DomainName::parse("ns1.ruche.test").expect("ns"),
                        catalog: DomainName::parse("catalog.ns1.ruche.test").expect("catalog"),
                        zone_nameservers,
                        zones: zones
                            .into_iter()
                            .map(|(name, records)| Arc::new(Zone { name, records }))
                            .collect(),
                        secondaries: secondaries
                            .into_iter()
                            .map(|(nameserver, address, tsig)| DnsPeer {
                                nameserver,
                                address,
                                tsig,
                            })
                            .collect(),
                        primaries: primaries
                            .into_iter()
                            .map(
                                |(nameserver, address, tsig, own_catalog, zones)| DnsPrimary {
                                    // Sometimes a catalog named like this node's own.
                                    catalog: if own_catalog {
                                        catalog_of(&nameserver)
                                    } else {
                                        DomainName::parse("catalog.ns1.ruche.test")
                                            .expect("catalog")
                                    },
                                    nameserver,
                                    address,
                                    tsig,
                                    zones,
                                },
                            )
                            .collect(),
                        caa_issuers,
                    }
                },
            )
    }

    /// A DNS desired state and the node's material for it (DKIM keys, `[dns]`).
    type DnsCase = (DesiredState, BTreeMap<DomainName, Key>, DnsSettings);

    fn dns_material((_, dkim_keys, settings): &DnsCase) -> NodeMaterial {
        NodeMaterial {
            dkim_keys: dkim_keys.clone(),
            dns: Some(settings.clone()),
            ..NodeMaterial::default()
        }
    }

    fn dns_desired() -> impl Strategy<Value = DnsCase> {
        (
            dns(),
            prop::collection::vec(selector(), 1..3),
            prop_oneof![
                Just("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxyz+/IDAQAB".to_owned()),
                prop::sample::select(HOSTILE.to_vec()).prop_map(str::to_owned),
            ],
            prop::collection::vec(
                prop_oneof!["192\\.0\\.2\\.[0-9]{1,3}", "2001:db8::[0-9a-f]{1,4}"]
                    .prop_map(|s| s.parse::<std::net::IpAddr>().ok()),
                1..3,
            ),
        )
            .prop_map(|(dns, selectors, public_key, addresses)| {
                let mut dkim_keys = BTreeMap::new();
                for (zone, selector) in dns.zones.iter().zip(selectors.iter().cycle()) {
                    dkim_keys.insert(
                        zone.name.clone(),
                        Key {
                            domain_id: ObjectId::parse("d").expect("id"),
                            selector: selector.clone(),
                            public_key: public_key.as_str().into(),
                        },
                    );
                }
                let desired = DesiredState {
                    dns: Some(dns),
                    schema: 1,
                    generation: 1,
                    node_id: "node".to_owned(),
                    tenants: Vec::new(),
                };
                let settings = DnsSettings {
                    listen: "127.0.0.2:40053".parse().expect("listen"),
                    addresses: addresses.into_iter().flatten().collect(),
                };
                (desired, dkim_keys, settings)
            })
    }

    /// knot.conf: sections, items and list items only; every value is a quoted path or a
    /// token of names, addresses, numbers and base64.
    fn check_knot_conf(text: &str) {
        let token = |v: &str| {
            !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-@:+/=[], ".contains(c))
        };
        let quoted = |v: &str| {
            v.len() > 2
                && v.starts_with('"')
                && v.ends_with('"')
                && v[1..v.len() - 1]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-%".contains(c))
        };
        for line in text.lines() {
            if line.is_empty() || line.starts_with("# ") {
                continue;
            }
            let item = line
                .strip_prefix("  - ")
                .or_else(|| line.strip_prefix("    "))
                .unwrap_or(line);
            let (key, value) = item
                .split_once(':')
                .unwrap_or_else(|| panic!("knot.conf: {line:?}"));
            assert!(
                !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "knot.conf key: {line:?}"
            );
            if item == line {
                assert_eq!(value, "", "knot.conf section: {line:?}");
                continue;
            }
            let value = value
                .strip_prefix(' ')
                .unwrap_or_else(|| panic!("knot.conf: {line:?}"));
            assert!(token(value) || quoted(value), "knot.conf value: {line:?}");
        }
    }

    /// A zone file: the header, `$ORIGIN`, `$TTL`, then one record per line: owner, TTL, IN,
    /// type, data, where only balanced quoted strings may hold anything but names and numbers.
    fn check_zone_file(path: &str, text: &str) {
        let mut lines = text.lines();
        assert!(
            lines.next().is_some_and(|l| l.starts_with("; Rendered")),
            "{path}"
        );
        assert!(
            lines.next().is_some_and(|l| l.starts_with("; Knot")),
            "{path}"
        );
        assert!(
            lines.next().is_some_and(|l| l.starts_with("$ORIGIN ")),
            "{path}"
        );
        assert!(
            lines.next().is_some_and(|l| l.starts_with("$TTL ")),
            "{path}"
        );
        for line in lines {
            let mut fields = line.splitn(5, ' ');
            let owner = fields.next().unwrap_or_default();
            assert!(
                owner == "@"
                    || owner.split('.').enumerate().all(|(i, l)| {
                        (i == 0 && l == "*")
                            || (!l.is_empty()
                                && l.chars().all(|c| {
                                    c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(c)
                                }))
                    }),
                "{path}: owner {line:?}"
            );
            assert!(
                fields.next().is_some_and(|t| t.parse::<u32>().is_ok()),
                "{path}: TTL {line:?}"
            );
            assert_eq!(fields.next(), Some("IN"), "{path}: {line:?}");
            assert!(
                fields.next().is_some_and(|t| [
                    "SOA", "NS", "A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA"
                ]
                .contains(&t)),
                "{path}: type {line:?}"
            );
            let mut quoted = false;
            let mut escaped = false;
            for c in fields.next().unwrap_or_default().chars() {
                if escaped {
                    escaped = false;
                    continue;
                }
                match c {
                    '\\' if quoted => escaped = true,
                    '"' => quoted = !quoted,
                    ';' | '(' | ')' | '$' | '\\' if !quoted => {
                        panic!("{path}: {c:?} outside quotes: {line:?}")
                    }
                    _ => {}
                }
            }
            assert!(!quoted, "{path}: unbalanced quotes: {line:?}");
        }
    }

    fn check_dns_files(files: &Files) {
        for (path, file) in files.iter().filter(|(_, f)| f.service == knot::SERVICE) {
            let path = path.as_str();
            let bytes = file.contents.bytes();
            let text =
                std::str::from_utf8(&bytes).unwrap_or_else(|e| panic!("{path} is not UTF-8: {e}"));
            assert!(!text.contains('\r') && !text.contains('\0'), "{path}");
            for hostile in HOSTILE {
                assert!(!text.contains(hostile), "{path} holds {hostile:?}");
            }
            if path == knot::KNOT_CONF {
                check_knot_conf(text);
            } else {
                assert!(zone::zone_of(path).is_some(), "{path}");
                check_zone_file(path, text);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Zone files kept per member come out as a fresh rendering's, whatever changed: a
        /// zone's records, the node's DNS part, the name server's addresses, a domain's key, an
        /// ACME challenge, whether the host's certificate is valid (the MTA-STS policy's mode).
        #[test]
        fn zones_rendered_again_are_those_rendered_afresh(
            case in dns_desired(),
            other in dns_desired(),
            changed_zones in prop::collection::vec(any::<bool>(), 4),
            change_part in any::<bool>(),
            change_settings in any::<bool>(),
            change_key in any::<bool>(),
            change_challenge in any::<bool>(),
            mx_certificates in (any::<bool>(), any::<bool>()),
        ) {
            let layout = layout_at(Path::new("/srv/ruche"));
            // Each zone's domain held by a member of its own.
            let mut before = case.0.clone();
            let zones: Vec<DomainName> = before.dns.iter().flat_map(|d| &d.zones).map(|z| z.name.clone()).collect();
            before.tenants = zones
                .iter()
                .enumerate()
                .map(|(i, name)| Tenant {
                    member_id: format!("m{i:03}"),
                    active: true,
                    domains: vec![Domain {
                        id: Some(ObjectId::parse(&format!("d{i}")).expect("id")),
                        name: name.clone(),
                        verified: true,
                        mailboxes: Vec::new(),
                        aliases: Vec::new(),
                        xmpp_accounts: Vec::new(),
                    }],
                    app_passwords: Vec::new(),
                    contact: None,
                })
                .map(Arc::new)
                .collect();
            let mut after = before.clone();
            after.generation += 1;
            let other_records = other.0.dns.iter().flat_map(|d| &d.zones).next().map(|z| z.records.clone());
            if let Some(dns) = after.dns.as_mut() {
                for (zone, change) in dns.zones.iter_mut().zip(&changed_zones) {
                    if *change {
                        Arc::make_mut(zone).records = other_records.clone().unwrap_or_default();
                    }
                }
                if change_part {
                    if let Some(part) = &other.0.dns {
                        dns.caa_issuers = part.caa_issuers.clone();
                        dns.zone_nameservers = part.zone_nameservers.clone();
                    }
                }
            }
            let mx = |valid| if valid { MxCertificate::Valid } else { MxCertificate::NotValid };
            let material_before = NodeMaterial {
                mx_certificate: mx(mx_certificates.0),
                ..dns_material(&case)
            };
            let mut material_after = material_before.clone();
            // The host's certificate becoming valid or not: every zone's MTA-STS id changes.
            material_after.mx_certificate = mx(mx_certificates.1);
            if change_settings {
                material_after.dns = Some(other.2.clone());
            }
            if change_key {
                if let (Some(name), Some(key)) = (zones.first(), other.1.values().next()) {
                    material_after.dkim_keys.insert(name.clone(), key.clone());
                }
            }
            if change_challenge {
                // A DNS-01 value published under the first zone, nothing else changed.
                if let Some(name) = zones.first() {
                    material_after
                        .acme_challenges
                        .insert(name.clone(), vec!["LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0".to_owned()]);
                }
            }
            let fresh = render::render(&after, &layout, &material_after);
            for again in render_again(&layout, (before, material_before), (after, material_after)) {
                prop_assert_eq!(&again, &fresh);
            }
        }

        #[test]
        fn dns_rendering_is_injection_proof_and_deterministic(case in dns_desired()) {
            let (desired, material) = (&case.0, dns_material(&case));
            let layout = layout_at(Path::new("/srv/ruche"));
            let files = render::render(desired, &layout, &material);
            prop_assert!(files.contains_key(&render::RelPath::new(knot::KNOT_CONF).expect("path")));
            check_dns_files(&files);
            prop_assert_eq!(&files, &render::render(desired, &layout, &material));
        }
    }

    proptest! {
        // Real tools: a few dozen cases, several zones each.
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Every rendered zone passes `kzonecheck`, and knot.conf passes `knotc conf-check`.
        #[test]
        fn knot_accepts_every_rendered_zone_and_configuration(case in dns_desired()) {
            let (desired, material) = (&case.0, dns_material(&case));
            if !Path::new("/usr/bin/kzonecheck").exists() {
                eprintln!("SKIPPED: kzonecheck is not installed (package knot-dnsutils)");
                return Ok(());
            }
            let dir = tempfile::tempdir().expect("tempdir");
            let files = render::render(desired, &layout_at(dir.path()), &material);
            write_files(dir.path(), &files);
            let limit = Duration::from_secs(30);
            for (path, file) in &files {
                if let Some(zone) = zone::zone_of(path.as_str()) {
                    let (ok, out) = run(
                        Command::new("kzonecheck")
                            .arg("-o")
                            .arg(zone.as_str())
                            .arg(dir.path().join(path.as_str())),
                        limit,
                    );
                    prop_assert!(ok, "kzonecheck {}: {}\n{}", path, out,
                                 String::from_utf8_lossy(&file.contents.bytes()));
                }
            }
            let (ok, out) = run(
                Command::new("knotc")
                    .arg("-c")
                    .arg(dir.path().join(knot::KNOT_CONF))
                    .arg("conf-check"),
                limit,
            );
            prop_assert!(ok, "knotc conf-check: {}\n{}", out,
                         String::from_utf8_lossy(&files[&render::RelPath::new(knot::KNOT_CONF).expect("path")].contents.bytes()));
        }
    }

    // ---- The real daemons' own checks --------------------------------------------------------

    /// The rendered nginx configuration passes `nginx -t`, the check the agent runs before a
    /// reload.
    #[test]
    fn nginx_accepts_the_rendered_configuration() {
        if !Path::new("/usr/sbin/nginx").exists() {
            eprintln!("SKIPPED: nginx is not installed (package nginx)");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        // `nginx -t` binds the addresses it is given: free loopback ports, not the fixture's.
        let free = || {
            let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            socket.local_addr().expect("address")
        };
        let mut material = fixture_material();
        material.web = Some(WebSettings {
            http: free(),
            https: free(),
            portal: fixture_material().web.and_then(|w| w.portal),
        });
        // A node without any domain first (nothing but the defaults), then the fixture.
        let empty = DesiredState {
            tenants: Vec::new(),
            dns: None,
            ..fixture_desired()
        };
        let files = render::render(
            &empty,
            &layout_at(root),
            &NodeMaterial {
                certs: BTreeMap::new(),
                ..material.clone()
            },
        );
        write_files(root, &files);
        for d in nginx::DIRECTORIES {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        let (ok, out) = run(
            Command::new("nginx")
                .arg("-t")
                .arg("-c")
                .arg(root.join(nginx::NGINX_CONF)),
            Duration::from_secs(30),
        );
        assert!(ok, "nginx -t on a node without domains: {out}");
        let files = render::render(&fixture_desired(), &layout_at(root), &material);
        write_files(root, &files);
        // nginx -t reads the certificates the servers name.
        for installed in material.certs.values() {
            let key = rcgen::KeyPair::generate().expect("key");
            let params = rcgen::CertificateParams::new(
                installed
                    .names
                    .iter()
                    .map(|n| n.as_str().to_owned())
                    .collect::<Vec<_>>(),
            )
            .expect("params");
            let cert = params.self_signed(&key).expect("certificate");
            std::fs::create_dir_all(root.join(&installed.dir)).expect("mkdir");
            std::fs::write(root.join(installed.chain()), cert.pem()).expect("chain");
            std::fs::write(root.join(installed.key()), key.serialize_pem()).expect("key");
        }
        for d in nginx::DIRECTORIES {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        let (ok, out) = run(
            Command::new("nginx")
                .arg("-t")
                .arg("-c")
                .arg(root.join(nginx::NGINX_CONF)),
            Duration::from_secs(30),
        );
        assert!(ok, "nginx -t: {out}");
        // Two servers claiming one name would be a warning, not an error: there is none.
        assert!(!out.contains("conflicting server name"), "{out}");
    }

    /// Runs `command`, killing it after `limit`; returns (success, stdout + stderr).
    fn run(command: &mut Command, limit: Duration) -> (bool, String) {
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
        let started = Instant::now();
        loop {
            match child.try_wait().expect("wait") {
                Some(_) => break,
                None if started.elapsed() > limit => {
                    let _ = child.kill();
                    break;
                }
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        let output = child.wait_with_output().expect("output");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }

    fn write_files(root: &Path, files: &Files) {
        use std::os::unix::fs::PermissionsExt;
        for (path, file) in files {
            let target = root.join(path.as_str());
            std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            std::fs::write(&target, file.contents.bytes()).expect("write");
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(file.mode))
                .expect("chmod");
        }
    }

    #[test]
    fn postfix_dovecot_and_rspamd_accept_the_rendered_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let mut layout = layout_at(root);
        // Loopback only, and an address no interface holds, as in the end-to-end tests.
        layout.listen = "127.0.0.9".parse().expect("ip");
        layout.internal = "127.0.0.9".parse().expect("ip");
        let files = render::render(&fixture_desired(), &layout, &fixture_material());
        assert!(
            !files.is_empty(),
            "the temporary root {} was refused",
            root.display()
        );
        write_files(root, &files);

        if !Path::new("/usr/sbin/postfix").exists() {
            // Without the daemons, at least every main.cf line must be a parameter or a comment.
            eprintln!("SKIPPED the daemons' checks: /usr/sbin/postfix is not installed");
            let main = text(&files, postfix::MAIN_CF);
            for line in main
                .lines()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
            {
                assert!(line.contains(" = ") || line.ends_with(" ="), "{line:?}");
            }
            return;
        }
        let limit = Duration::from_secs(60);
        for dir in [
            postfix::QUEUE_DIRECTORY,
            postfix::DATA_DIRECTORY,
            postfix::LOG_DIRECTORY,
        ] {
            std::fs::create_dir_all(root.join(dir)).expect("mkdir");
        }
        let (ok, out) = run(
            Command::new("chown")
                .arg("postfix")
                .arg(root.join(postfix::DATA_DIRECTORY)),
            limit,
        );
        assert!(ok, "chown: {out}");
        for table in [
            postfix::DOMAINS,
            postfix::MAILBOXES,
            postfix::ALIASES,
            postfix::SENDERS,
            postfix::RECIPIENTS,
        ] {
            let source = root.join(table);
            let (ok, out) = run(
                Command::new("postmap")
                    .arg("-c")
                    .arg(root.join("etc/postfix"))
                    .arg(format!("lmdb:{}", source.display())),
                limit,
            );
            assert!(ok && out.is_empty(), "postmap {table}: {out}");
        }
        let confdir = root.join("etc/postfix");
        // postconf warns about unknown or unused parameters: there must be none.
        let (ok, out) = run(
            Command::new("postconf").arg("-c").arg(&confdir).arg("-n"),
            limit,
        );
        assert!(ok && !out.contains("warning"), "postconf -n: {out}");
        let (ok, out) = run(
            Command::new("postfix").arg("-c").arg(&confdir).arg("check"),
            limit,
        );
        assert!(ok, "postfix check: {out}");
        // The tables answer as the routing rules say.
        let query = |key: &str, table: &str| {
            let (ok, out) = run(
                Command::new("postmap")
                    .arg("-c")
                    .arg(root.join("etc/postfix"))
                    .arg("-q")
                    .arg(key)
                    .arg(format!("lmdb:{}", root.join(table).display())),
                limit,
            );
            ok.then(|| out.trim().to_owned())
        };
        assert_eq!(
            query("alice@example.org", postfix::ALIASES).as_deref(),
            Some("alice@example.org")
        );
        assert_eq!(
            query("@example.org", postfix::ALIASES).as_deref(),
            Some("alice@example.org")
        );
        assert_eq!(
            query("suspended.example", postfix::RECIPIENTS).as_deref(),
            Some(postfix::SUSPENDED_REPLY)
        );

        let conf = root.join(dovecot::DOVECOT_CONF);
        let (ok, out) = run(
            Command::new("doveconf").arg("-n").arg("-c").arg(&conf),
            limit,
        );
        assert!(
            ok && !out.contains("Warning") && !out.contains("Error"),
            "doveconf -n: {out}"
        );

        let vars = [
            format!("--var=LOCAL_CONFDIR={}", root.join("etc/rspamd").display()),
            format!("--var=DBDIR={}", root.join("var/lib/rspamd").display()),
            format!(
                "--var=RUNDIR={}",
                root.join(rspamd::RUN_DIRECTORY).display()
            ),
            format!("--var=LOGDIR={}", root.join("var/log/rspamd").display()),
        ];
        for dir in ["var/lib/rspamd", rspamd::RUN_DIRECTORY, "var/log/rspamd"] {
            std::fs::create_dir_all(root.join(dir)).expect("mkdir");
        }
        let (ok, out) = run(
            // `--var` is rspamadm's own option: before the command.
            Command::new("rspamadm")
                .args(&vars)
                .arg("configtest")
                .arg("-c")
                .arg("/etc/rspamd/rspamd.conf"),
            Duration::from_secs(120),
        );
        assert!(
            ok && out.contains("syntax OK"),
            "rspamadm configtest: {out}"
        );
    }
}
