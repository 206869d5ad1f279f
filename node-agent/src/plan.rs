//! Planning: what must change on disk and in the daemons to go from what is there to what was
//! rendered. Pure: the caller reads the disk and hands it over.
//!
//! The engine plans the writes (files whose contents or mode differ), and the check and reload
//! of each service whose configuration ([`OnChange::Reload`]) changed; each service then adds
//! its own named steps ([`crate::services::Daemon::plan`]).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use crate::render::{File, Files, OnChange, RelPath};
use crate::services::{Service, Step, ALL};

/// What is on disk at each path the agent owns (every rendered path, and what the services add:
/// [`crate::services::Daemon::read_disk`]).
pub type OnDisk = BTreeMap<RelPath, Disk>;

/// What is on disk at one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disk {
    /// Nothing.
    Absent,
    /// Exactly the rendering of that path, contents and mode. Not kept: at 10,000 mailboxes a
    /// change would otherwise hold a second copy of every node-wide file it did not change.
    Rendered,
    /// Something else: kept, for a service to compare entries and for a refused check to put
    /// back.
    Other { contents: Vec<u8>, mode: u32 },
}

impl Disk {
    /// What was read at a path (`atomic::read`), against its rendering if it has one.
    pub fn read(current: Option<(Vec<u8>, u32)>, rendered: Option<&File>) -> Disk {
        match current {
            None => Disk::Absent,
            Some((contents, mode))
                if rendered.is_some_and(|f| f.contents.is(&contents) && f.mode == mode) =>
            {
                Disk::Rendered
            }
            Some((contents, mode)) => Disk::Other { contents, mode },
        }
    }

    pub fn is_present(&self) -> bool {
        !matches!(self, Disk::Absent)
    }

    /// Its contents, given the rendering of its path (what [`Disk::Rendered`] stands for).
    pub fn contents<'a>(&'a self, rendered: Option<&'a File>) -> Option<Cow<'a, [u8]>> {
        match self {
            Disk::Absent => None,
            Disk::Rendered => rendered.map(|f| f.contents.bytes()),
            Disk::Other { contents, .. } => Some(Cow::Borrowed(contents)),
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan<'a> {
    /// Files whose contents or mode differ from the rendering, in path order: the rendering's
    /// own (a copy would double what a change holds, several MiB of node-wide files).
    pub writes: Vec<(&'a RelPath, &'a File)>,
    /// Services to reload after their check passed.
    pub reload: BTreeSet<Service>,
    /// Services whose configuration changed: their check runs.
    pub check: BTreeSet<Service>,
    /// The services' own named steps (a table to compile, a zone to load or purge).
    pub steps: BTreeSet<Step>,
    /// A cheaper form of some of [`Plan::steps`]: only the entries of a keyed file that changed
    /// (valid on top of what is on disk now; the journal records the whole step).
    pub edits: BTreeMap<Step, TableEdit>,
}

impl Plan<'_> {
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.steps.is_empty() && self.reload.is_empty()
    }
}

/// The entries of a keyed data file (a lookup table's source) that changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TableEdit {
    /// Source lines (`key value`) whose key is new or whose value changed.
    pub put: Vec<String>,
    /// Keys no longer in the table.
    pub delete: Vec<String>,
}

/// Compares `rendered` with `on_disk`. `stale` files are the services' to judge (a lookup
/// table whose compiled form is missing or older than its source): see
/// [`crate::services::Daemon::read_disk`].
pub fn plan<'a>(rendered: &'a Files, on_disk: &OnDisk, stale: &BTreeSet<RelPath>) -> Plan<'a> {
    let mut plan = Plan::default();
    for (path, file) in rendered {
        if on_disk.get(path) == Some(&Disk::Rendered) {
            continue;
        }
        // A daemon's own check reads its configuration, not its data (lookup tables, the user
        // list, maps): only a configuration change is worth its cost (about half a second).
        if file.on_change == OnChange::Reload {
            plan.check.insert(file.service);
            plan.reload.insert(file.service);
        }
        plan.writes.push((path, file));
    }
    for daemon in ALL {
        daemon.plan(rendered, on_disk, stale, &mut plan);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::Service;

    const SOME: Service = Service::new("postfix");

    /// A file equal to its rendering is not kept; anything else is, mode included.
    #[test]
    fn only_what_differs_from_the_rendering_is_kept() {
        let file = File {
            service: SOME,
            mode: 0o644,
            on_change: OnChange::Nothing,
            contents: b"a b\n".to_vec().into(),
        };
        let read = |contents: &[u8], mode| Disk::read(Some((contents.to_vec(), mode)), Some(&file));
        assert_eq!(read(b"a b\n", 0o644), Disk::Rendered);
        assert_eq!(
            read(b"a b\n", 0o644).contents(Some(&file)).as_deref(),
            Some(&b"a b\n"[..])
        );
        let other_mode = read(b"a b\n", 0o600);
        assert_eq!(
            other_mode,
            Disk::Other {
                contents: b"a b\n".to_vec(),
                mode: 0o600
            }
        );
        assert_eq!(
            read(b"a c\n", 0o644).contents(Some(&file)).as_deref(),
            Some(&b"a c\n"[..])
        );
        assert_eq!(Disk::read(None, Some(&file)), Disk::Absent);
        assert!(!Disk::Absent.is_present() && Disk::Rendered.is_present());
        // A path with no rendering (a service's own, such as a zone no longer served).
        assert!(matches!(
            Disk::read(Some((b"x".to_vec(), 0o644)), None),
            Disk::Other { .. }
        ));
    }
}
