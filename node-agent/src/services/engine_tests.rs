//! The engine (plan, apply, the journal) driven with the registered services' own rules:
//! Postfix's tables, Dovecot's re-read user list, Knot's zone steps, with stand-in commands
//! (`sh`) that log what ran. The engine's modules name no service; their tests live here.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;

use protocol::names::DomainName;

use crate::apply::{apply, read_disk, Outcome, ServiceOutcome, Target};
use crate::atomic;
use crate::config::{Commands, Config};
use crate::plan::{plan, Disk, OnDisk, Plan, TableEdit};
use crate::render::{File, Files, OnChange, RelPath};
use crate::saved::{Journal, Saved};
use crate::services::knot::{ZONE_PURGE, ZONE_RELOAD};
use crate::services::postfix::POSTMAP;
use crate::services::Daemon as _;
use crate::services::{postfix, Step};

/// The services of these tests, by their old names.
#[allow(non_snake_case)]
mod Service {
    pub use crate::services::dovecot::SERVICE as Dovecot;
    pub use crate::services::knot::SERVICE as Knot;
    pub use crate::services::postfix::SERVICE as Postfix;
}

fn postmap(table: &str) -> Step {
    Step::new(postfix::SERVICE, POSTMAP, table)
}

fn path(p: &str) -> RelPath {
    RelPath::new(p).unwrap()
}

/// Real commands: `sh` checks that no file of the service says "bad"; reloads append to a
/// log file so the test sees which ran.
fn commands(root: &Path) -> Commands {
    let sh = |script: String| vec!["sh".to_owned(), "-c".to_owned(), script];
    let mut commands: Commands = toml::from_str("dkim_group = \"root\"").unwrap();
    let postmap = format!("echo \"$0\" >> {}/postmaps", root.display());
    commands.set("postmap", sh(postmap));
    for name in ["postfix", "dovecot", "rspamd"] {
        let check = format!("! grep -rq bad {}/etc/{name}", root.display());
        let reload = format!("echo {name} >> {}/reloads", root.display());
        commands.set(&format!("{name}.check"), sh(check));
        commands.set(&format!("{name}.reload"), sh(reload));
    }
    commands
}

fn files(main: &str, table: &str, users: &str) -> Files {
    let f = |service, on_change, text: &str| File {
        service,
        mode: 0o644,
        on_change,
        contents: text.into(),
    };
    Files::from([
        (
            path("etc/postfix/main.cf"),
            f(Service::Postfix, OnChange::Reload, main),
        ),
        (
            path("etc/postfix/ruche/mailboxes"),
            f(Service::Postfix, OnChange::Step(POSTMAP), table),
        ),
        (
            path("etc/dovecot/users"),
            f(Service::Dovecot, OnChange::Nothing, users),
        ),
    ])
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn apply_files(root: &Path, saved: &Saved, rendered: &Files, last_good: Option<&Files>) -> Outcome {
    let commands = commands(root);
    let target = Target {
        root,
        commands: &commands,
        saved,
    };
    let (on_disk, stale) = read_disk(root, rendered).unwrap();
    let plan = plan(rendered, &on_disk, &stale);
    apply(&target, &plan, &on_disk, || last_good.cloned()).unwrap()
}

#[test]
fn applies_then_does_nothing_the_second_time() {
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let saved = Saved::new(state.path());
    let rendered = files("main", "a@x x/a/", "a@x:::");
    let outcome = apply_files(root.path(), &saved, &rendered, None);
    assert!(outcome.complete(), "{outcome:?}");
    assert_eq!(outcome.written, 3);
    assert_eq!(lines(&root.path().join("reloads")), ["postfix"]);
    assert_eq!(lines(&root.path().join("postmaps")).len(), 1);
    assert!(saved.load_journal().unwrap().is_empty());
    // Level-triggered: the same rendering again changes nothing and reloads nothing.
    // (The fake postmap writes no .lmdb: make one so the table is not seen as stale.)
    std::fs::write(root.path().join("etc/postfix/ruche/mailboxes.lmdb"), b"").unwrap();
    let again = apply_files(root.path(), &saved, &rendered, None);
    assert_eq!(again.written, 0);
    assert_eq!(lines(&root.path().join("reloads")), ["postfix"]);
}

#[test]
fn a_failed_check_restores_the_last_good_files_of_that_service_only() {
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let saved = Saved::new(state.path());
    let good = files("main", "a@x x/a/", "a@x:::");
    assert!(apply_files(root.path(), &saved, &good, None).complete());
    std::fs::write(root.path().join("etc/postfix/ruche/mailboxes.lmdb"), b"").unwrap();

    let bad = files("bad main", "a@x x/a/\nb@x x/b/", "a@x:::\nb@x:::");
    let outcome = apply_files(root.path(), &saved, &bad, Some(&good));
    assert!(matches!(
        outcome.services[&Service::Postfix],
        ServiceOutcome::CheckFailed(_)
    ));
    assert_eq!(outcome.services[&Service::Dovecot], ServiceOutcome::Ok);
    let read = |p: &str| std::fs::read_to_string(root.path().join(p)).unwrap();
    assert_eq!(read("etc/postfix/main.cf"), "main");
    assert_eq!(read("etc/postfix/ruche/mailboxes"), "a@x x/a/");
    // Dovecot's change passed its own check and stays.
    assert_eq!(read("etc/dovecot/users"), "a@x:::\nb@x:::");
    // Postfix was not reloaded with the refused files.
    assert_eq!(lines(&root.path().join("reloads")), ["postfix"]);
}

#[test]
fn a_failed_reload_stays_in_the_journal_and_is_retried() {
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let saved = Saved::new(state.path());
    let mut commands = commands(root.path());
    commands.set("postfix.reload", vec!["false".into()]);
    let rendered = files("main", "a@x x/a/", "a@x:::");
    let target = Target {
        root: root.path(),
        commands: &commands,
        saved: &saved,
    };
    let (on_disk, stale) = read_disk(root.path(), &rendered).unwrap();
    let outcome = apply(
        &target,
        &plan(&rendered, &on_disk, &stale),
        &on_disk,
        || None,
    )
    .unwrap();
    assert!(matches!(
        outcome.services[&Service::Postfix],
        ServiceOutcome::ReloadFailed(_)
    ));
    assert_eq!(
        saved.load_journal().unwrap().reload,
        BTreeSet::from([Service::Postfix])
    );
    // Nothing changed since, but the journal still owes postfix a reload.
    let commands = self::commands(root.path());
    let target = Target {
        root: root.path(),
        commands: &commands,
        saved: &saved,
    };
    std::fs::write(root.path().join("etc/postfix/ruche/mailboxes.lmdb"), b"").unwrap();
    let (on_disk, stale) = read_disk(root.path(), &rendered).unwrap();
    let plan = plan(&rendered, &on_disk, &stale);
    assert!(plan.is_empty());
    let outcome = apply(&target, &plan, &on_disk, || None).unwrap();
    assert!(outcome.complete());
    assert_eq!(lines(&root.path().join("reloads")), ["postfix"]);
    assert!(saved.load_journal().unwrap().is_empty());
}

/// An apply killed after writing but before checking: the next one checks what it finds,
/// and puts the last good files back when the check refuses them.
#[test]
fn files_left_unchecked_by_a_killed_apply_are_checked_next_time() {
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let saved = Saved::new(state.path());
    let good = files("main", "a@x x/a/", "a@x:::");
    assert!(apply_files(root.path(), &saved, &good, None).complete());
    std::fs::write(root.path().join("etc/postfix/ruche/mailboxes.lmdb"), b"").unwrap();
    // What the killed apply left: a refused file on disk and the journal.
    let bad = files("bad main", "a@x x/a/", "a@x:::");
    for (path, file) in &bad {
        let pieces: Vec<&[u8]> = file.contents.pieces().collect();
        atomic::write(&root.path().join(path.as_str()), &pieces, file.mode).unwrap();
    }
    saved
        .save_journal(&Journal {
            reload: BTreeSet::from([Service::Postfix]),
            check: BTreeSet::from([Service::Postfix]),
            ..Journal::default()
        })
        .unwrap();
    // The next apply is asked for the same refused rendering: nothing differs on disk.
    let outcome = apply_files(root.path(), &saved, &bad, Some(&good));
    assert!(matches!(
        outcome.services[&Service::Postfix],
        ServiceOutcome::CheckFailed(_)
    ));
    let main = std::fs::read_to_string(root.path().join("etc/postfix/main.cf")).unwrap();
    assert_eq!(main, "main");
    assert!(saved.load_journal().unwrap().is_empty());
    // Postfix was not reloaded with the refused file.
    assert_eq!(lines(&root.path().join("reloads")), ["postfix"]);
}

/// Knot with stand-ins that log their arguments: a zone file is checked before it replaces
/// the old one, reloaded alone, and a zone that left knot.conf is purged after the reload;
/// what knotd did not take stays in the journal.
#[test]
fn knot_zones_are_checked_reloaded_and_purged() {
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let saved = Saved::new(state.path());
    let log = root.path().join("knotc.log");
    let knot = |commands: &mut Commands, knotc: Vec<String>| {
        commands.set("knot.knotc", knotc);
        // Refuses a zone file that says "refused"; $3 is the file (after -o <zone>).
        let kzonecheck = ["sh", "-c", "! grep -q refused \"$3\"", "kzonecheck"];
        commands.set("knot.kzonecheck", kzonecheck.map(str::to_owned).to_vec());
    };
    let logging = vec![
        "sh".into(),
        "-c".into(),
        format!("echo \"$*\" >> {}", log.display()),
        "knotc".into(),
    ];
    let mut commands = commands(root.path());
    knot(&mut commands, logging.clone());
    let conf = |zones: &[&str]| File {
        service: Service::Knot,
        mode: 0o640,
        on_change: OnChange::Reload,
        contents: zones
            .iter()
            .map(|z| format!("  - domain: {z}\n"))
            .collect::<String>()
            .into(),
    };
    let zone_file = |text: &str| File {
        service: Service::Knot,
        mode: 0o644,
        on_change: OnChange::Step(ZONE_RELOAD),
        contents: text.into(),
    };
    let apply_with = |commands: &Commands, rendered: &Files| {
        let target = Target {
            root: root.path(),
            commands,
            saved: &saved,
        };
        let (on_disk, stale) = read_disk(root.path(), rendered).unwrap();
        apply(&target, &plan(rendered, &on_disk, &stale), &on_disk, || {
            None
        })
        .unwrap()
    };
    let read = |p: &str| std::fs::read_to_string(root.path().join(p)).ok();
    let a = "var/lib/knot/zones/a.example.zone";
    let b = "var/lib/knot/zones/b.example.zone";

    // New zones come with the configuration reload.
    let first = Files::from([
        (
            path("etc/knot/knot.conf"),
            conf(&["a.example", "b.example"]),
        ),
        (path(a), zone_file("a1")),
        (path(b), zone_file("b1")),
    ]);
    let outcome = apply_with(&commands, &first);
    assert!(outcome.complete(), "{outcome:?}");
    assert_eq!(lines(&log), ["conf-check", "reload"]);

    // a.example changes, b.example leaves: zone-reload a, purge b after the reload.
    let second = Files::from([
        (path("etc/knot/knot.conf"), conf(&["a.example"])),
        (path(a), zone_file("a2")),
    ]);
    let outcome = apply_with(&commands, &second);
    assert!(outcome.complete(), "{outcome:?}");
    assert_eq!(
        (outcome.step(ZONE_RELOAD), outcome.step(ZONE_PURGE)),
        (1, 1)
    );
    assert_eq!(
        lines(&log)[2..],
        [
            "conf-check",
            "reload",
            "zone-reload a.example",
            "-f -b zone-purge b.example +orphan"
        ]
    );
    assert_eq!(read(a).as_deref(), Some("a2"));
    assert_eq!(read(b), None);

    // A refused zone never replaces the old file, and is not loaded.
    let refused = Files::from([
        (path("etc/knot/knot.conf"), conf(&["a.example"])),
        (path(a), zone_file("refused")),
    ]);
    let outcome = apply_with(&commands, &refused);
    assert!(matches!(
        outcome.services[&Service::Knot],
        ServiceOutcome::CheckFailed(_)
    ));
    assert_eq!(read(a).as_deref(), Some("a2"));
    assert_eq!(lines(&log).len(), 6);

    // knotd away: the zone reload is owed, then done once knotc works again.
    let mut away = commands.clone();
    knot(&mut away, vec!["false".into()]);
    let third = Files::from([
        (path("etc/knot/knot.conf"), conf(&["a.example"])),
        (path(a), zone_file("a3")),
    ]);
    let outcome = apply_with(&away, &third);
    assert!(matches!(
        outcome.services[&Service::Knot],
        ServiceOutcome::ReloadFailed(_)
    ));
    assert_eq!(
        saved.load_journal().unwrap().steps,
        BTreeSet::from([Step::new(Service::Knot, ZONE_RELOAD, "a.example")])
    );
    let outcome = apply_with(&commands, &third);
    assert!(outcome.complete(), "{outcome:?}");
    assert_eq!(lines(&log)[6..], ["zone-reload a.example"]);
    assert!(saved.load_journal().unwrap().is_empty());
}

fn file(service: crate::services::Service, on_change: OnChange, contents: &str) -> File {
    File {
        service,
        mode: 0o644,
        on_change,
        contents: contents.into(),
    }
}

fn rendered() -> Files {
    Files::from([
        (
            path("etc/postfix/main.cf"),
            file(Service::Postfix, OnChange::Reload, "main"),
        ),
        (
            path("etc/postfix/ruche/mailboxes"),
            file(Service::Postfix, OnChange::Step(POSTMAP), "a@x x/a/"),
        ),
        (
            path("etc/dovecot/users"),
            file(Service::Dovecot, OnChange::Nothing, "a@x:::"),
        ),
    ])
}

/// The disk holding `files`, as read against `rendered`.
fn disk_of(files: &Files, rendered: &Files) -> OnDisk {
    files
        .iter()
        .map(|(p, f)| {
            let read = Some((f.contents.bytes().into_owned(), f.mode));
            (p.clone(), Disk::read(read, rendered.get(p)))
        })
        .collect()
}

#[test]
fn nothing_to_do_when_the_disk_matches() {
    let files = rendered();
    assert!(plan(&files, &disk_of(&files, &files), &BTreeSet::new()).is_empty());
}

#[test]
fn an_empty_disk_writes_everything_and_reloads_what_needs_it() {
    let files = rendered();
    let plan = plan(&files, &OnDisk::new(), &BTreeSet::new());
    assert_eq!(plan.writes.len(), 3);
    assert_eq!(plan.reload, BTreeSet::from([Service::Postfix]));
    // Dovecot's only file here is its user list: data, not configuration.
    assert_eq!(plan.check, BTreeSet::from([Service::Postfix]));
    assert_eq!(
        plan.steps,
        BTreeSet::from([postmap("etc/postfix/ruche/mailboxes")])
    );
}

/// A new mailbox changes tables and the user list only: no daemon reloads.
#[test]
fn a_mailbox_change_rebuilds_one_table_and_reloads_nothing() {
    let before = rendered();
    let mut after = before.clone();
    after.insert(
        path("etc/postfix/ruche/mailboxes"),
        file(
            Service::Postfix,
            OnChange::Step(POSTMAP),
            "a@x x/a/\nb@x x/b/",
        ),
    );
    after.insert(
        path("etc/dovecot/users"),
        file(Service::Dovecot, OnChange::Nothing, "a@x:::\nb@x:::"),
    );
    let plan = plan(&after, &disk_of(&before, &after), &BTreeSet::new());
    assert_eq!(plan.writes.len(), 2);
    assert!(plan.reload.is_empty());
    assert!(plan.check.is_empty());
    // The compiled table is current: one entry is put, nothing is rebuilt.
    let table = postmap("etc/postfix/ruche/mailboxes");
    assert_eq!(plan.steps, BTreeSet::from([table.clone()]));
    assert_eq!(
        plan.edits[&table],
        TableEdit {
            put: vec!["b@x x/b/".to_owned()],
            delete: vec![],
        }
    );
}

/// knot.conf on disk against the rendered one: a changed zone knotd has is reloaded alone, a
/// new one comes with the configuration reload, one that left (or whose file is left over)
/// is purged.
#[test]
fn knot_zones_are_reloaded_or_purged_by_what_knot_conf_says() {
    let conf = |zones: &[&str]| {
        let items: String = zones
            .iter()
            .map(|z| format!("  - domain: {z}\n    template: primary\n"))
            .collect();
        file(Service::Knot, OnChange::Reload, &format!("zone:\n{items}"))
    };
    let zone_file = |text: &str| file(Service::Knot, OnChange::Step(ZONE_RELOAD), text);
    let name = |z: &str| DomainName::parse(z).unwrap();
    let mut disk = OnDisk::new();
    disk.insert(
        path("etc/knot/knot.conf"),
        Disk::Other {
            contents: conf(&["kept.example", "gone.example"])
                .contents
                .bytes()
                .into_owned(),
            mode: 0o644,
        },
    );
    for (zone, text) in [
        ("kept.example", "old"),
        ("gone.example", "x"),
        ("stray.example", "x"),
    ] {
        disk.insert(
            path(&format!("var/lib/knot/zones/{zone}.zone")),
            Disk::Other {
                contents: text.into(),
                mode: 0o644,
            },
        );
    }
    let rendered = Files::from([
        (
            path("etc/knot/knot.conf"),
            conf(&["kept.example", "new.example"]),
        ),
        (
            path("var/lib/knot/zones/kept.example.zone"),
            zone_file("new"),
        ),
        (path("var/lib/knot/zones/new.example.zone"), zone_file("x")),
    ]);
    let plan = plan(&rendered, &disk, &BTreeSet::new());
    let zone = |step: &str, z: &str| Step::new(Service::Knot, step, name(z).as_str());
    assert_eq!(
        plan.steps,
        BTreeSet::from([
            zone(ZONE_RELOAD, "kept.example"),
            zone(ZONE_PURGE, "gone.example"),
            zone(ZONE_PURGE, "stray.example"),
        ])
    );
    assert_eq!(plan.reload, BTreeSet::from([Service::Knot]));
    assert_eq!(plan.check, BTreeSet::from([Service::Knot]));
    assert_eq!(plan.writes.len(), 3);
    // The same rendering on disk: nothing to do.
    let disk: OnDisk = disk_of(&rendered, &rendered);
    assert!(plan_of(&rendered, &disk).is_empty());
}

fn plan_of<'a>(rendered: &'a Files, disk: &OnDisk) -> Plan<'a> {
    plan(rendered, disk, &BTreeSet::new())
}

#[test]
fn a_mode_change_is_a_change_and_a_stale_table_is_rebuilt() {
    let files = rendered();
    let mut disk = disk_of(&files, &files);
    disk.insert(
        path("etc/postfix/main.cf"),
        Disk::Other {
            contents: b"main".to_vec(),
            mode: 0o600,
        },
    );
    let stale = BTreeSet::from([path("etc/postfix/ruche/mailboxes")]);
    let plan = plan(&files, &disk, &stale);
    assert_eq!(plan.writes.len(), 1);
    assert_eq!(plan.reload, BTreeSet::from([Service::Postfix]));
    assert_eq!(
        plan.steps,
        BTreeSet::from([postmap("etc/postfix/ruche/mailboxes")])
    );
    assert!(plan.edits.is_empty());
}
/// The example without its web front (`[web]`, `[commands.nginx]`, see below) and the
/// certificates that need it (`[acme]`).
fn example_without_web() -> String {
    let mut text = include_str!("../../../deploy/agent.example.toml").to_owned();
    for section in ["[web]", "[acme]"] {
        let (before, rest) = text.split_once(section).unwrap();
        let after = &rest[rest.find("\n[").unwrap()..];
        text = format!("{before}{after}");
    }
    let (before, rest) = text.split_once("[commands.nginx]").unwrap();
    let after = rest.find("\n[").map_or("", |i| &rest[i..]);
    format!("{before}{after}")
}

/// The shape the end-to-end tests write; [dns] and [commands.knot] go together.
#[test]
fn dns_is_optional_and_checked() {
    let text = example_without_web();
    let (before_dns, rest) = text.split_once("[dns]").unwrap();
    let after_dns = &rest[rest.find("\n[").unwrap()..];
    let (mail_only, _knot) = format!("{before_dns}{after_dns}")
        .split_once("[commands.knot]")
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .unwrap();
    let config = Config::parse(&mail_only).unwrap();
    assert!(config.dns.is_none() && config.dns_settings().is_none());
    assert!(config.commands.argv("knot.knotc").is_none());

    let knot = "[commands.knot]\nknotc = [\"knotc\", \"-c\", \"/r/etc/knot/knot.conf\"]\n\
                    kzonecheck = [\"kzonecheck\"]\n";
    let dns = "[dns]\nlisten = \"127.0.0.2:40053\"\n";
    let with = |extra: &str| Config::parse(&format!("{mail_only}\n{extra}"));
    // layout.listen is 0.0.0.0 in the example: addresses must be given.
    assert!(with(&format!("{dns}{knot}"))
        .unwrap_err()
        .contains("dns.addresses"));
    let config = with(&format!("{dns}addresses = [\"127.0.0.2\"]\n{knot}")).unwrap();
    assert_eq!(
        config.dns_settings().unwrap().listen,
        "127.0.0.2:40053".parse().unwrap()
    );
    let own_listen = mail_only.replace("listen = \"0.0.0.0\"", "listen = \"192.0.2.7\"");
    let config = Config::parse(&format!("{own_listen}\n{dns}{knot}")).unwrap();
    assert_eq!(
        config.dns_settings().unwrap().addresses,
        ["192.0.2.7".parse::<IpAddr>().unwrap()]
    );
    assert!(with(dns).unwrap_err().contains("commands.knot"));
    assert!(with(knot).is_err());
    let unspecified = "[dns]\nlisten = \"0.0.0.0:53\"\naddresses = [\"192.0.2.1\"]\n";
    assert!(with(&format!("{unspecified}{knot}")).is_err());
    let unknown_key = format!("{dns}addresses = [\"192.0.2.1\"]\n{knot}knotd = [\"x\"]\n");
    assert!(with(&unknown_key).is_err());
}

/// [web] and [commands.nginx] go together; without them no nginx file is rendered and nginx is
/// neither checked nor reported.
#[test]
fn web_is_optional_and_checked() {
    let mail_only = example_without_web();
    let config = Config::parse(&mail_only).unwrap();
    assert!(config.web.is_none() && config.web_settings().is_none());
    assert!(crate::services::nginx::Nginx
        .commands(&config.commands)
        .is_none());
    let nginx =
        "[commands.nginx]\ncheck = [\"nginx\", \"-t\"]\nreload = [\"nginx\", \"-s\", \"reload\"]\n";
    let web = "[web]\nhttp = \"127.0.0.2:40080\"\nhttps = \"127.0.0.2:40443\"\n";
    let with = |extra: &str| Config::parse(&format!("{mail_only}\n{extra}"));
    let config = with(&format!("{web}{nginx}")).unwrap();
    assert_eq!(
        config.web_settings().unwrap().https,
        "127.0.0.2:40443".parse().unwrap()
    );
    assert!(with(web).unwrap_err().contains("commands.nginx"));
    assert!(with(nginx).unwrap_err().contains("[web]"));
    let desired: protocol::desired::DesiredState = serde_json::from_value(serde_json::json!({
        "schema": 1, "generation": 1, "node_id": "n", "tenants": []
    }))
    .unwrap();
    let files = crate::render::render(
        &desired,
        &config.layout,
        &crate::render::NodeMaterial::default(),
    );
    assert!(files.keys().all(|p| !p.as_str().starts_with("etc/nginx")));
}

/// A domain's autoconfiguration file that is no longer rendered is deleted after nginx's
/// reload, and only such a file: the policy, files of other kinds and other names stay.
#[test]
fn nginx_removes_the_autoconfiguration_of_a_domain_that_left() {
    use crate::services::nginx::{self, discovery, REMOVE};
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let saved = Saved::new(state.path());
    let mut commands = commands(root.path());
    let sh = |script: String| vec!["sh".to_owned(), "-c".to_owned(), script];
    commands.set("nginx.check", sh("true".to_owned()));
    let reload = format!("echo nginx >> {}/reloads", root.path().display());
    commands.set("nginx.reload", sh(reload));
    let autoconfig = |d: &str| discovery::autoconfig_path(&DomainName::parse(d).unwrap());
    let rendered = |hosts: &str, domains: &[&str]| {
        let mut files = Files::from([
            (
                path(nginx::HOSTS_CONF),
                file(nginx::SERVICE, OnChange::Reload, hosts),
            ),
            (
                path(discovery::MTA_STS_FILE),
                file(nginx::SERVICE, OnChange::Nothing, "version: STSv1\n"),
            ),
        ]);
        for d in domains {
            let f = file(nginx::SERVICE, OnChange::Nothing, d);
            files.insert(path(&autoconfig(d)), f);
        }
        files
    };
    let apply_with = |rendered: &Files| {
        let target = Target {
            root: root.path(),
            commands: &commands,
            saved: &saved,
        };
        let (on_disk, stale) = read_disk(root.path(), rendered).unwrap();
        let plan = plan(rendered, &on_disk, &stale);
        apply(&target, &plan, &on_disk, || None).unwrap()
    };
    let exists = |p: &str| root.path().join(p).exists();

    let outcome = apply_with(&rendered("a b", &["a.example", "b.example"]));
    assert!(outcome.complete(), "{outcome:?}");
    assert!(exists(&autoconfig("a.example")) && exists(&autoconfig("b.example")));
    // Not ours to remove, though in the same directory.
    let stranger = format!("{}/notes.txt", discovery::AUTOCONFIG_DIR);
    std::fs::write(root.path().join(&stranger), "x").unwrap();

    let outcome = apply_with(&rendered("a", &["a.example"]));
    assert!(outcome.complete(), "{outcome:?}");
    assert_eq!(outcome.step(REMOVE), 1);
    assert_eq!(lines(&root.path().join("reloads")), ["nginx", "nginx"]);
    assert!(exists(&autoconfig("a.example")) && !exists(&autoconfig("b.example")));
    assert!(exists(discovery::MTA_STS_FILE) && exists(&stranger));
    assert!(saved.load_journal().unwrap().is_empty());

    // Nothing left over: nothing planned.
    let outcome = apply_with(&rendered("a", &["a.example"]));
    assert_eq!((outcome.step(REMOVE), outcome.written), (0, 0));

    // A journal naming anything else removes nothing.
    let forged = Step::new(nginx::SERVICE, REMOVE, nginx::HOSTS_CONF);
    let mut journal = Journal::default();
    journal.steps.insert(forged);
    saved.save_journal(&journal).unwrap();
    let outcome = apply_with(&rendered("a", &["a.example"]));
    assert!(outcome.complete(), "{outcome:?}");
    assert!(exists(nginx::HOSTS_CONF));
}
