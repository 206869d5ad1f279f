//! Planning: what must change on disk and in the daemons to go from what is there to what was
//! rendered. Pure: the caller reads the disk and hands it over.

use std::collections::{BTreeMap, BTreeSet};

use protocol::names::DomainName;

use crate::render::{knot, zone, File, Files, OnChange, RelPath, Service};

/// What is on disk at a rendered path: contents and mode, or nothing.
pub type OnDisk = BTreeMap<RelPath, Option<(Vec<u8>, u32)>>;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Files whose contents or mode differ from the rendering, in path order.
    pub writes: Vec<(RelPath, File)>,
    /// Lookup tables to rebuild whole (`postmap`) after the writes: new, or with a compiled
    /// form older than their source.
    pub postmap: BTreeSet<RelPath>,
    /// Lookup tables whose compiled form is current: only the entries that changed are put or
    /// deleted (`postmap -i`, `postmap -d`), so a one-mailbox change costs one entry.
    pub table_edits: BTreeMap<RelPath, TableEdit>,
    /// Services to reload after their check passed.
    pub reload: BTreeSet<Service>,
    /// Services whose configuration changed: their check runs.
    pub check: BTreeSet<Service>,
    /// Knot zones whose zone file changed and that knotd already has (configured in the
    /// knot.conf on disk and in the new one): `knotc zone-reload`. A new zone is loaded by the
    /// reload of knot.conf.
    pub zone_reload: BTreeSet<DomainName>,
    /// Knot zones that leave knot.conf, or whose zone file is no longer rendered: purged after
    /// the reload, their zone file deleted.
    pub purge: BTreeSet<DomainName>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
            && self.postmap.is_empty()
            && self.table_edits.is_empty()
            && self.reload.is_empty()
            && self.zone_reload.is_empty()
            && self.purge.is_empty()
    }
}

/// The entries of a lookup table that changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TableEdit {
    /// Source lines (`key value`) whose key is new or whose value changed.
    pub put: Vec<String>,
    /// Keys no longer in the table.
    pub delete: Vec<String>,
}

/// The entries of a Postfix lookup table source: key (up to the first whitespace) -> line.
/// `None` if a key appears twice (the table is then rebuilt whole rather than guessed at).
fn table_entries(source: &[u8]) -> Option<BTreeMap<&str, &str>> {
    let text = std::str::from_utf8(source).ok()?;
    let mut entries = BTreeMap::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let key = trimmed.split_whitespace().next()?;
        if entries.insert(key, trimmed).is_some() {
            return None;
        }
    }
    Some(entries)
}

/// Changed entries above which a table is rebuilt whole: `postmap -i` commits each entry on its
/// own (a thousand new members' ten thousand entries took minutes), a rebuild takes about a
/// second for 10,000 entries.
pub const MAX_TABLE_EDIT: usize = 256;

/// What changed between two versions of a table's source, or `None` when they cannot be
/// compared entry by entry or when so much changed that a whole rebuild is cheaper.
pub fn table_edit(old: &[u8], new: &[u8]) -> Option<TableEdit> {
    let old = table_entries(old)?;
    let new = table_entries(new)?;
    let put: Vec<String> = new
        .iter()
        .filter(|(key, line)| old.get(*key) != Some(*line))
        .map(|(_, line)| (*line).to_owned())
        .collect();
    let delete: Vec<String> = old
        .keys()
        .filter(|key| !new.contains_key(*key))
        .map(|key| (*key).to_owned())
        .collect();
    if put.len() + delete.len() > MAX_TABLE_EDIT {
        return None;
    }
    Some(TableEdit { put, delete })
}

/// Compares `rendered` with `on_disk`. `stale_tables` are lookup tables whose compiled form is
/// missing or older than their source (the caller checks `<table>.lmdb`): they are rebuilt even
/// when their source is unchanged.
pub fn plan(rendered: &Files, on_disk: &OnDisk, stale_tables: &BTreeSet<RelPath>) -> Plan {
    let mut plan = Plan::default();
    for (path, file) in rendered {
        let current = on_disk.get(path).and_then(Option::as_ref);
        let same = current
            .is_some_and(|(contents, mode)| *contents == file.contents && *mode == file.mode);
        if file.on_change == OnChange::Postmap {
            let edit = match current {
                Some((contents, _)) if !stale_tables.contains(path) => {
                    if same {
                        None
                    } else {
                        table_edit(contents, &file.contents)
                    }
                }
                _ => None,
            };
            match edit {
                Some(edit) => {
                    plan.table_edits.insert(path.clone(), edit);
                }
                None if !same || stale_tables.contains(path) => {
                    plan.postmap.insert(path.clone());
                }
                None => {}
            }
        }
        if same {
            continue;
        }
        // A daemon's own check reads its configuration, not its data (lookup tables, the user
        // list, maps): only a configuration change is worth its cost (about half a second).
        if file.on_change == OnChange::Reload {
            plan.check.insert(file.service);
            plan.reload.insert(file.service);
        }
        plan.writes.push((path.clone(), file.clone()));
    }
    plan_knot_zones(rendered, on_disk, &mut plan);
    plan
}

/// Which Knot zones to reload and which to purge: knot.conf on disk against the rendered one,
/// and zone files on disk that are no longer rendered.
fn plan_knot_zones(rendered: &Files, on_disk: &OnDisk, plan: &mut Plan) {
    let Ok(conf_path) = RelPath::new(knot::KNOT_CONF) else {
        return;
    };
    let Some(conf) = rendered.get(&conf_path) else {
        return;
    };
    let new = knot::configured_zones(&conf.contents);
    let old = on_disk
        .get(&conf_path)
        .and_then(Option::as_ref)
        .map(|(contents, _)| knot::configured_zones(contents))
        .unwrap_or_default();
    for (path, file) in &plan.writes {
        if file.on_change != OnChange::ZoneReload {
            continue;
        }
        if let Some(zone) = zone::zone_of(path.as_str()) {
            if old.contains(&zone) && new.contains(&zone) {
                plan.zone_reload.insert(zone);
            }
        }
    }
    plan.purge.extend(old.difference(&new).cloned());
    for (path, current) in on_disk {
        if current.is_some() && !rendered.contains_key(path) {
            if let Some(zone) = zone::zone_of(path.as_str()) {
                if !new.contains(&zone) {
                    plan.purge.insert(zone);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_edit_holds_only_what_changed() {
        let old = b"# rendered\na@x x/a/\nb@x x/b/\nc@x x/c/\n";
        let new = b"# rendered\na@x x/a/\nb@x elsewhere/\nd@x x/d/\n";
        let edit = table_edit(old, new).unwrap();
        assert_eq!(edit.put, ["b@x elsewhere/", "d@x x/d/"]);
        assert_eq!(edit.delete, ["c@x"]);
        // A duplicated key cannot be edited entry by entry.
        assert_eq!(table_edit(b"a x\na y\n", b"a x\n"), None);
    }

    fn file(service: Service, on_change: OnChange, contents: &str) -> File {
        File {
            service,
            mode: 0o644,
            on_change,
            contents: contents.as_bytes().to_vec(),
        }
    }

    fn path(p: &str) -> RelPath {
        RelPath::new(p).unwrap()
    }

    fn rendered() -> Files {
        Files::from([
            (
                path("etc/postfix/main.cf"),
                file(Service::Postfix, OnChange::Reload, "main"),
            ),
            (
                path("etc/postfix/ruche/mailboxes"),
                file(Service::Postfix, OnChange::Postmap, "a@x x/a/"),
            ),
            (
                path("etc/dovecot/users"),
                file(Service::Dovecot, OnChange::Nothing, "a@x:::"),
            ),
        ])
    }

    fn disk_of(files: &Files) -> OnDisk {
        files
            .iter()
            .map(|(p, f)| (p.clone(), Some((f.contents.clone(), f.mode))))
            .collect()
    }

    #[test]
    fn nothing_to_do_when_the_disk_matches() {
        let files = rendered();
        assert!(plan(&files, &disk_of(&files), &BTreeSet::new()).is_empty());
    }

    #[test]
    fn an_empty_disk_writes_everything_and_reloads_what_needs_it() {
        let plan = plan(&rendered(), &OnDisk::new(), &BTreeSet::new());
        assert_eq!(plan.writes.len(), 3);
        assert_eq!(plan.reload, BTreeSet::from([Service::Postfix]));
        // Dovecot's only file here is its user list: data, not configuration.
        assert_eq!(plan.check, BTreeSet::from([Service::Postfix]));
        assert_eq!(
            plan.postmap,
            BTreeSet::from([path("etc/postfix/ruche/mailboxes")])
        );
    }

    /// A new mailbox changes tables and the user list only: no daemon reloads.
    #[test]
    fn a_mailbox_change_rebuilds_one_table_and_reloads_nothing() {
        let before = rendered();
        let mut after = before.clone();
        after.insert(
            path("etc/postfix/ruche/mailboxes"),
            file(Service::Postfix, OnChange::Postmap, "a@x x/a/\nb@x x/b/"),
        );
        after.insert(
            path("etc/dovecot/users"),
            file(Service::Dovecot, OnChange::Nothing, "a@x:::\nb@x:::"),
        );
        let plan = plan(&after, &disk_of(&before), &BTreeSet::new());
        assert_eq!(plan.writes.len(), 2);
        assert!(plan.reload.is_empty());
        assert!(plan.check.is_empty());
        // The compiled table is current: one entry is put, nothing is rebuilt.
        assert!(plan.postmap.is_empty());
        assert_eq!(
            plan.table_edits[&path("etc/postfix/ruche/mailboxes")],
            TableEdit {
                put: vec!["b@x x/b/".to_owned()],
                delete: vec![],
            }
        );
    }

    /// A change of many entries rebuilds the table instead of putting them one by one.
    #[test]
    fn a_large_change_rebuilds_the_table_whole() {
        let lines = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|i| format!("u{i}@x x/u{i}/\n"))
                .collect::<String>()
                .into_bytes()
        };
        let small = table_edit(&lines(10), &lines(10 + MAX_TABLE_EDIT)).unwrap();
        assert_eq!(small.put.len(), MAX_TABLE_EDIT);
        assert_eq!(table_edit(&lines(10), &lines(11 + MAX_TABLE_EDIT)), None);
        assert_eq!(table_edit(&lines(11 + MAX_TABLE_EDIT), &lines(10)), None);
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
        let zone_file = |text: &str| file(Service::Knot, OnChange::ZoneReload, text);
        let name = |z: &str| DomainName::parse(z).unwrap();
        let mut disk = OnDisk::new();
        disk.insert(
            path("etc/knot/knot.conf"),
            Some((conf(&["kept.example", "gone.example"]).contents, 0o644)),
        );
        for (zone, text) in [
            ("kept.example", "old"),
            ("gone.example", "x"),
            ("stray.example", "x"),
        ] {
            disk.insert(
                path(&format!("var/lib/knot/zones/{zone}.zone")),
                Some((text.as_bytes().to_vec(), 0o644)),
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
        assert_eq!(plan.zone_reload, BTreeSet::from([name("kept.example")]));
        assert_eq!(
            plan.purge,
            BTreeSet::from([name("gone.example"), name("stray.example")])
        );
        assert_eq!(plan.reload, BTreeSet::from([Service::Knot]));
        assert_eq!(plan.check, BTreeSet::from([Service::Knot]));
        assert_eq!(plan.writes.len(), 3);
        // The same rendering on disk: nothing to do.
        let disk: OnDisk = disk_of(&rendered);
        assert!(plan_of(&rendered, &disk).is_empty());
    }

    fn plan_of(rendered: &Files, disk: &OnDisk) -> Plan {
        plan(rendered, disk, &BTreeSet::new())
    }

    #[test]
    fn a_mode_change_is_a_change_and_a_stale_table_is_rebuilt() {
        let files = rendered();
        let mut disk = disk_of(&files);
        disk.insert(path("etc/postfix/main.cf"), Some((b"main".to_vec(), 0o600)));
        let stale = BTreeSet::from([path("etc/postfix/ruche/mailboxes")]);
        let plan = plan(&files, &disk, &stale);
        assert_eq!(plan.writes.len(), 1);
        assert_eq!(plan.reload, BTreeSet::from([Service::Postfix]));
        assert_eq!(plan.postmap, stale);
    }
}
