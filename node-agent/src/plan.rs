//! Planning: what must change on disk and in the daemons to go from what is there to what was
//! rendered. Pure: the caller reads the disk and hands it over.
//!
//! The engine plans the writes (files whose contents or mode differ), and the check and reload
//! of each service whose configuration ([`OnChange::Reload`]) changed; each service then adds
//! its own named steps ([`crate::services::Daemon::plan`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::render::{File, Files, OnChange, RelPath};
use crate::services::{Service, Step, ALL};

/// What is on disk at a rendered path: contents and mode, or nothing.
pub type OnDisk = BTreeMap<RelPath, Option<(Vec<u8>, u32)>>;

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
        let current = on_disk.get(path).and_then(Option::as_ref);
        let same = current
            .is_some_and(|(contents, mode)| *contents == file.contents && *mode == file.mode);
        if same {
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
