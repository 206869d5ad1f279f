//! Planning: what must change on disk and in the daemons to go from what is there to what was
//! rendered. Pure: the caller reads the disk and hands it over.

use std::collections::{BTreeMap, BTreeSet};

use crate::render::{File, Files, OnChange, RelPath, Service};

/// What is on disk at a rendered path: contents and mode, or nothing.
pub type OnDisk = BTreeMap<RelPath, Option<(Vec<u8>, u32)>>;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Files whose contents or mode differ from the rendering, in path order.
    pub writes: Vec<(RelPath, File)>,
    /// Lookup tables to rebuild (`postmap`) after the writes.
    pub postmap: BTreeSet<RelPath>,
    /// Services to reload after their check passed.
    pub reload: BTreeSet<Service>,
    /// Services with any written file: their configuration check runs.
    pub check: BTreeSet<Service>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.postmap.is_empty() && self.reload.is_empty()
    }
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
        let table = file.on_change == OnChange::Postmap;
        if table && (!same || stale_tables.contains(path)) {
            plan.postmap.insert(path.clone());
        }
        if same {
            continue;
        }
        plan.check.insert(file.service);
        if file.on_change == OnChange::Reload {
            plan.reload.insert(file.service);
        }
        plan.writes.push((path.clone(), file.clone()));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            plan.check,
            BTreeSet::from([Service::Postfix, Service::Dovecot])
        );
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
        assert_eq!(plan.postmap.len(), 1);
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
