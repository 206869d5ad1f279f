//! Two nodes' name servers for real: node A is primary for its zones, node B is its secondary
//! for exactly the zones its desired state lists under A (no catalog consumed). Each node's files are rendered and applied by the agent's own
//! reconcile (render, plan, apply with knotc and kzonecheck); two `knotd` processes run in the
//! foreground, each in its own process group, on 127.0.x.y addresses and ports derived from the
//! test process id. `kdig` over TCP checks what they serve.
//!
//! `cargo test -p node-agent --test knot`. Skipped (with a message) when knotd is not installed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod knot {
    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use node_agent::config::Config;
    use node_agent::reconcile::{ReconcileError, Reconciler};
    use node_agent::services::knot::{self, zone, ZONE_PURGE, ZONE_RELOAD};
    use protocol::desired::{DesiredState, Dns, DnsPeer, DnsPrimary, Zone};
    use protocol::dns::{Record, TsigAlgorithm, TsigKey, TsigSecret};
    use protocol::names::DomainName;

    const KEY_NAME: &str = "ns1-ns2.tsig.ruche.test";
    const SECRET: &str = "cnVjaGUtdGVzdC1rZXktbnMxLW5zMi0wMDAwMDAwMDE=";

    fn name(s: &str) -> DomainName {
        DomainName::parse(s).unwrap()
    }

    fn key() -> TsigKey {
        TsigKey {
            name: name(KEY_NAME),
            algorithm: TsigAlgorithm::HmacSha256,
            secret: TsigSecret::parse(SECRET).unwrap(),
        }
    }

    fn record(owner: &str, kind: &str, value: &str) -> Record {
        Record::parse(owner, kind, "300", value).unwrap()
    }

    /// Two addresses and a port of their own for this test process: 127.<a>.<b>.1 and .2.
    fn endpoints() -> (SocketAddr, SocketAddr) {
        let pid = std::process::id();
        let (a, b) = (100 + (pid / 250) % 100, 1 + pid % 250);
        let port = 20_000 + (pid % 20_000) as u16;
        let ip = |host: u8| format!("127.{a}.{b}.{host}:{port}").parse().unwrap();
        (ip(1), ip(2))
    }

    /// A node: its temporary root, its agent and its knotd.
    struct Node {
        root: tempfile::TempDir,
        listen: SocketAddr,
        reconciler: Reconciler,
        knotd: Option<Child>,
    }

    impl Node {
        fn new(listen: SocketAddr) -> Node {
            let root = tempfile::tempdir().unwrap();
            let r = root.path().display();
            let toml = format!(
                r#"
state_dir = "{r}/var/lib/ruche-agent"
[layout]
root = "{r}"
hostname = "mail.{host}.ruche.test"
listen = "{ip}"
internal = "127.0.0.1"
broker = "127.0.0.1:1"
vmail_uid = 0
vmail_gid = 0
[layout.ports]
smtp = 1
submission = 2
submissions = 3
imap = 4
imaps = 5
lmtp = 6
sasl = 7
quota_status = 8
milter = 9
rspamd_controller = 10
rspamd_normal = 11
redis = 12
[layout.send_limit]
messages = 1
minutes = 1
[dns]
listen = "{listen}"
addresses = ["{ip}"]
[commands]
postmap = ["true"]
dkim_group = "root"
[commands.postfix]
check = ["true"]
reload = ["true"]
[commands.dovecot]
check = ["true"]
reload = ["true"]
[commands.rspamd]
check = ["true"]
reload = ["true"]
[commands.knot]
knotc = ["knotc", "-c", "{r}/etc/knot/knot.conf"]
kzonecheck = ["kzonecheck"]
"#,
                ip = listen.ip(),
                host = listen.ip().to_string().replace('.', "-"),
            );
            let config = Config::parse(&toml).unwrap();
            std::fs::create_dir_all(&config.state_dir).unwrap();
            Node {
                reconciler: Reconciler::new(config).unwrap(),
                root,
                listen,
                knotd: None,
            }
        }

        fn path(&self, relative: &str) -> PathBuf {
            self.root.path().join(relative)
        }

        fn conf(&self) -> PathBuf {
            self.path(knot::KNOT_CONF)
        }

        /// Runs `knotd -c knot.conf` in the foreground, in its own process group, and waits
        /// until its control socket answers.
        fn start_knotd(&mut self) {
            use std::os::unix::process::CommandExt;
            let log = std::fs::File::create(self.path("knotd.log")).unwrap();
            let child = Command::new("knotd")
                .arg("-c")
                .arg(self.conf())
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .process_group(0)
                .spawn()
                .unwrap();
            self.knotd = Some(child);
            wait_for("knotd to answer on its control socket", || {
                Command::new("knotc")
                    .arg("-c")
                    .arg(self.conf())
                    .arg("status")
                    .output()
                    .is_ok_and(|o| o.status.success())
            });
        }

        fn log(&self) -> String {
            std::fs::read_to_string(self.path("knotd.log")).unwrap_or_default()
        }

        fn reconcile(&self, desired: &DesiredState) -> node_agent::apply::Outcome {
            self.reconciler
                .reconcile(desired)
                .unwrap_or_else(|e| panic!("reconcile: {e:?}\nknotd log:\n{}", self.log()))
        }

        fn dig(&self, args: &[&str]) -> Dig {
            dig(self.listen, args)
        }
    }

    impl Drop for Node {
        fn drop(&mut self) {
            if let Some(mut child) = self.knotd.take() {
                // The whole process group, by its id (knotd's pid): TERM, then KILL.
                let group = format!("-{}", child.id());
                let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
                let started = Instant::now();
                while started.elapsed() < Duration::from_secs(5) {
                    if let Ok(Some(_)) = child.try_wait() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
                let _ = child.wait();
            }
        }
    }

    /// What kdig saw: the status, whether the answer is authoritative, and the records.
    #[derive(Debug)]
    struct Dig {
        status: String,
        aa: bool,
        records: Vec<String>,
        text: String,
    }

    impl Dig {
        fn soa_serial(&self) -> Option<u32> {
            self.records.iter().find_map(|r| {
                let fields: Vec<&str> = r.split_whitespace().collect();
                (fields.get(3) == Some(&"SOA"))
                    .then(|| fields.get(6).and_then(|s| s.parse().ok()))
                    .flatten()
            })
        }

        fn has(&self, kind: &str) -> bool {
            self.records
                .iter()
                .any(|r| r.split_whitespace().nth(3) == Some(kind))
        }
    }

    fn dig(server: SocketAddr, args: &[&str]) -> Dig {
        let output = Command::new("kdig")
            .arg(format!("@{}", server.ip()))
            .arg("-p")
            .arg(server.port().to_string())
            .args(["+tcp", "+retry=2", "+time=2", "+norec"])
            .args(args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let status = text
            .split("status: ")
            .nth(1)
            .and_then(|s| s.split(';').next())
            .unwrap_or("")
            .to_owned();
        let aa = text.lines().any(|l| {
            l.starts_with(";; Flags:")
                && l.split(';')
                    .any(|f| f.split_whitespace().any(|w| w == "aa"))
        });
        let records = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with(';'))
            .map(str::to_owned)
            .collect();
        Dig {
            status,
            aa,
            records,
            text,
        }
    }

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `node` answers `zone`'s SOA authoritatively, with a signature; its serial.
    fn serving(node: &Node, zone: &str) -> u32 {
        let mut last = None;
        let started = Instant::now();
        loop {
            let answer = node.dig(&["+dnssec", zone, "SOA"]);
            if answer.status == "NOERROR" && answer.aa && answer.has("RRSIG") {
                if let Some(serial) = answer.soa_serial() {
                    return serial;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{} does not serve {zone}: {last:?}\nknotd log:\n{}",
                node.listen,
                node.log()
            );
            last = Some(answer);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `node` no longer serves `zone`.
    fn gone(node: &Node, zone: &str) {
        wait_for(&format!("{} to drop {zone}", node.listen), || {
            let answer = node.dig(&[zone, "SOA"]);
            answer.status == "REFUSED" || answer.status == "NOTAUTH"
        });
    }

    fn dns_a(zones: Vec<Zone>, secondary: SocketAddr) -> Dns {
        Dns {
            nameserver: name("ns1.ruche.test"),
            catalog: name("catalog.ns1.ruche.test"),
            zone_nameservers: vec![name("ns1.ruche.test"), name("ns2.ruche.test")],
            zones: zones.into_iter().map(std::sync::Arc::new).collect(),
            secondaries: vec![DnsPeer {
                nameserver: name("ns2.ruche.test"),
                address: secondary,
                tsig: key(),
            }],
            primaries: vec![],
            caa_issuers: vec![name("letsencrypt.org")],
        }
    }

    /// B, a secondary of A (when `primary` is given) for exactly `zones`.
    fn dns_b(primary: Option<SocketAddr>, zones: &[&str]) -> Dns {
        Dns {
            nameserver: name("ns2.ruche.test"),
            catalog: name("catalog.ns2.ruche.test"),
            zone_nameservers: vec![name("ns2.ruche.test")],
            zones: vec![],
            secondaries: vec![],
            primaries: primary
                .into_iter()
                .map(|address| DnsPrimary {
                    nameserver: name("ns1.ruche.test"),
                    address,
                    catalog: name("catalog.ns1.ruche.test"),
                    tsig: key(),
                    zones: zones.iter().map(|z| name(z)).collect(),
                })
                .collect(),
            caa_issuers: vec![],
        }
    }

    fn desired(generation: u64, dns: Dns) -> DesiredState {
        DesiredState {
            schema: protocol::desired::SCHEMA,
            generation,
            node_id: "node".to_owned(),
            tenants: vec![],
            dns: Some(dns),
        }
    }

    fn keys_of(node: &Node, zone: &str) -> String {
        let output = Command::new("keymgr")
            .arg("-c")
            .arg(node.conf())
            .arg(zone)
            .arg("list")
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    #[test]
    fn a_primary_and_its_secondary_serve_sign_transfer_and_forget_zones() {
        if !Path::new("/usr/sbin/knotd").exists() {
            eprintln!("SKIPPED: knotd is not installed (packages knot knot-dnsutils)");
            return;
        }
        let (a_listen, b_listen) = endpoints();
        let mut a = Node::new(a_listen);
        let mut b = Node::new(b_listen);
        let zone_one = Zone {
            name: name("one.example"),
            records: vec![
                record("blog", "CNAME", "host.example.net"),
                record("@", "TXT", "site-verification=1"),
            ],
        };
        let zone_two = Zone {
            name: name("two.example"),
            records: vec![record("www2", "A", "192.0.2.2")],
        };
        let a1 = desired(1, dns_a(vec![zone_one.clone(), zone_two.clone()], b_listen));
        let b1 = desired(1, dns_b(Some(a_listen), &["one.example", "two.example"]));

        // Before knotd runs: everything is written and checked, the reload is owed.
        for (node, state) in [(&a, &a1), (&b, &b1)] {
            match node.reconciler.reconcile(state) {
                Err(ReconcileError::Incomplete {
                    reloads_only: true, ..
                }) => {}
                other => panic!("expected pending reloads: {other:?}"),
            }
        }
        assert!(a.path("var/lib/knot/zones/one.example.zone").exists());
        a.start_knotd();
        b.start_knotd();
        // knotd read the files at start; the owed reloads now succeed.
        a.reconcile(&a1);
        b.reconcile(&b1);

        // Both answer both zones with AA, the same serial and signatures.
        for zone in ["one.example", "two.example"] {
            let serial = serving(&a, zone);
            wait_for(&format!("B to serve {zone} at {serial}"), || {
                serving(&b, zone) == serial
            });
        }
        let cname = b.dig(&["blog.one.example", "CNAME"]);
        assert!(cname.text.contains("host.example.net."), "{cname:?}");
        let mx = a.dig(&["one.example", "MX"]);
        assert!(mx.text.contains("10 mail.127-"), "{mx:?}");
        let ds = a.dig(&["one.example", "CDS"]);
        assert!(ds.has("CDS"), "CDS is published: {ds:?}");

        // Transfers: refused without the key or with a wrong one, complete with it.
        let refused = a.dig(&["one.example", "AXFR"]);
        assert!(
            refused.text.contains("NOTAUTH") || refused.text.contains("REFUSED"),
            "{refused:?}"
        );
        let wrong = a.dig(&[
            "one.example",
            "AXFR",
            "-y",
            &format!("hmac-sha256:{KEY_NAME}:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ]);
        assert!(!wrong.has("SOA"), "{wrong:?}");
        let with_key = a.dig(&[
            "one.example",
            "AXFR",
            "-y",
            &format!("hmac-sha256:{KEY_NAME}:{SECRET}"),
        ]);
        assert!(with_key.has("SOA") && with_key.has("RRSIG") && with_key.has("DNSKEY"));
        let catalog = a.dig(&["catalog.ns1.ruche.test", "AXFR"]);
        assert!(
            !catalog.has("SOA"),
            "the catalog is not public: {catalog:?}"
        );
        // B consumes no catalog: it has the zones it was told of, and not A's catalog.
        let consumed = b.dig(&["catalog.ns1.ruche.test", "SOA"]);
        assert!(!consumed.aa, "B serves A's catalog: {consumed:?}");

        // B is told of a zone before A has it: B's first transfer fails, A's NOTIFY when it
        // loads the zone brings it to B.
        let b2 = desired(
            2,
            dns_b(
                Some(a_listen),
                &["one.example", "two.example", "three.example"],
            ),
        );
        b.reconcile(&b2);
        let zone_three = Zone {
            name: name("three.example"),
            records: vec![],
        };
        let a_three = desired(
            10,
            dns_a(
                vec![zone_one.clone(), zone_two.clone(), zone_three.clone()],
                b_listen,
            ),
        );
        a.reconcile(&a_three);
        let serial = serving(&a, "three.example");
        wait_for(&format!("B to serve three.example at {serial}"), || {
            serving(&b, "three.example") == serial
        });

        // A record change: one zone file, one zone reload, no full reload; B follows.
        let before = serving(&b, "one.example");
        let mut changed_one = zone_one.clone();
        changed_one.records.push(record("new", "A", "192.0.2.77"));
        let a2 = desired(
            11,
            dns_a(
                vec![changed_one.clone(), zone_two.clone(), zone_three.clone()],
                b_listen,
            ),
        );
        let outcome = a.reconcile(&a2);
        assert_eq!(outcome.written, 1, "{outcome:?}");
        assert_eq!(outcome.step(ZONE_RELOAD), 1, "{outcome:?}");
        assert!(!outcome.reloaded.contains(&knot::SERVICE), "{outcome:?}");
        wait_for("B to serve the new record", || {
            let answer = b.dig(&["new.one.example", "A"]);
            answer.aa && answer.text.contains("192.0.2.77")
        });
        let after = serving(&b, "one.example");
        assert!(after > before, "serial {before} -> {after}");
        assert_eq!(serving(&a, "one.example"), after);
        // Nothing changed: nothing is written or reloaded.
        let again = a.reconcile(&a2);
        assert_eq!(
            (again.written, again.step(ZONE_RELOAD)),
            (0, 0),
            "{again:?}"
        );

        // A zone leaves: gone from A and B (told with A), its keys and zone file purged on A.
        assert!(!keys_of(&a, "two.example").is_empty());
        let a3 = desired(12, dns_a(vec![changed_one, zone_three], b_listen));
        let outcome = a.reconcile(&a3);
        assert_eq!(outcome.step(ZONE_PURGE), 1, "{outcome:?}");
        assert_eq!(outcome.step(ZONE_RELOAD), 0, "{outcome:?}");
        assert!(outcome.reloaded.contains(&knot::SERVICE), "{outcome:?}");
        let outcome = b.reconcile(&desired(
            3,
            dns_b(Some(a_listen), &["one.example", "three.example"]),
        ));
        assert_eq!(outcome.step(ZONE_PURGE), 1, "{outcome:?}");
        gone(&a, "two.example");
        gone(&b, "two.example");
        assert_eq!(keys_of(&a, "two.example"), "", "keys of two.example remain");
        assert!(!a.path(&zone::path_of(&name("two.example"))).exists());
        serving(&b, "one.example");

        // B stops being A's secondary: A's zones go from B.
        let outcome = b.reconcile(&desired(4, dns_b(None, &[])));
        assert_eq!(outcome.step(ZONE_PURGE), 2, "{outcome:?}");
        gone(&b, "one.example");
        gone(&b, "three.example");
        serving(&a, "one.example");
    }
}
