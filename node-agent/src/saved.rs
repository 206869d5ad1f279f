//! The documents a reconcile keeps between runs, in the state directory (beside `node.json`,
//! which is [`crate::identity`]'s):
//!
//! - `desired.json`: the last desired state fetched from the control plane. After a restart the
//!   agent applies it at once, with or without the control plane.
//! - `applied.json`: the last desired state applied in full. A failed check restores the files
//!   rendered from it (the last good files), and the auth broker answers from it.
//! - `journal.json`: what an apply in progress still owes the daemons (tables to rebuild,
//!   services to reload, Knot zones to reload or purge). Written before the first file changes, removed when the apply is done,
//!   so an apply killed half-way is finished by the next start even where the files on disk
//!   already match.
//!
//! All three are written atomically with mode 0600 (they hold password verifiers).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use protocol::desired::DesiredState;
use protocol::names::DomainName;
use serde::{Deserialize, Serialize};

use crate::atomic;
use crate::render::{RelPath, Service};

const DESIRED: &str = "desired.json";
const APPLIED: &str = "applied.json";
const JOURNAL: &str = "journal.json";

/// What an interrupted apply left to do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub postmap: BTreeSet<RelPath>,
    pub reload: BTreeSet<Service>,
    /// Services whose new configuration is on disk but was not checked yet.
    #[serde(default)]
    pub check: BTreeSet<Service>,
    /// Knot zones whose new zone file must be loaded (`knotc zone-reload`).
    #[serde(default)]
    pub zone_reload: BTreeSet<DomainName>,
    /// Knot zones that left knot.conf: once knotd runs the new configuration, their journal,
    /// timers and DNSSEC keys are purged (`knotc zone-purge +orphan`) and their zone file
    /// deleted.
    #[serde(default)]
    pub purge: BTreeSet<DomainName>,
}

impl Journal {
    pub fn is_empty(&self) -> bool {
        self.postmap.is_empty()
            && self.reload.is_empty()
            && self.check.is_empty()
            && self.zone_reload.is_empty()
            && self.purge.is_empty()
    }

    pub fn merge(&mut self, other: Journal) {
        self.postmap.extend(other.postmap);
        self.reload.extend(other.reload);
        self.check.extend(other.check);
        self.zone_reload.extend(other.zone_reload);
        self.purge.extend(other.purge);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SavedError {
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not valid: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone)]
pub struct Saved {
    dir: PathBuf,
}

impl Saved {
    pub fn new(dir: impl Into<PathBuf>) -> Saved {
        Saved { dir: dir.into() }
    }

    pub fn load_desired(&self) -> Result<Option<DesiredState>, SavedError> {
        self.load(DESIRED)
    }

    pub fn save_desired(&self, desired: &DesiredState) -> Result<(), SavedError> {
        self.save(DESIRED, desired)
    }

    pub fn load_applied(&self) -> Result<Option<DesiredState>, SavedError> {
        self.load(APPLIED)
    }

    pub fn save_applied(&self, desired: &DesiredState) -> Result<(), SavedError> {
        self.save(APPLIED, desired)
    }

    pub fn load_journal(&self) -> Result<Journal, SavedError> {
        Ok(self.load(JOURNAL)?.unwrap_or_default())
    }

    pub fn save_journal(&self, journal: &Journal) -> Result<(), SavedError> {
        self.save(JOURNAL, journal)
    }

    pub fn clear_journal(&self) -> Result<(), SavedError> {
        let path = self.dir.join(JOURNAL);
        atomic::remove(&path).map_err(|source| SavedError::Io {
            action: "remove",
            path,
            source,
        })
    }

    fn load<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>, SavedError> {
        let path = self.dir.join(name);
        let Some((bytes, _mode)) = atomic::read(&path).map_err(|source| SavedError::Io {
            action: "read",
            path: path.clone(),
            source,
        })?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|err| SavedError::Invalid {
                path,
                message: err.to_string(),
            })
    }

    fn save<T: Serialize>(&self, name: &str, value: &T) -> Result<(), SavedError> {
        let path = self.dir.join(name);
        let bytes = serde_json::to_vec(value).map_err(|err| SavedError::Invalid {
            path: path.clone(),
            message: err.to_string(),
        })?;
        atomic::write(&path, &bytes, 0o600).map_err(|source| SavedError::Io {
            action: "write",
            path,
            source,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn desired(generation: u64) -> DesiredState {
        DesiredState {
            dns: None,
            schema: protocol::desired::SCHEMA,
            generation,
            node_id: "n".to_owned(),
            tenants: vec![],
        }
    }

    #[test]
    fn keeps_desired_applied_and_journal_private() {
        let dir = tempfile::tempdir().unwrap();
        let saved = Saved::new(dir.path());
        assert_eq!(saved.load_desired().unwrap(), None);
        assert!(saved.load_journal().unwrap().is_empty());
        saved.save_desired(&desired(4)).unwrap();
        saved.save_applied(&desired(3)).unwrap();
        let mut journal = Journal::default();
        journal.reload.insert(Service::Dovecot);
        saved.save_journal(&journal).unwrap();
        assert_eq!(saved.load_desired().unwrap().unwrap().generation, 4);
        assert_eq!(saved.load_applied().unwrap().unwrap().generation, 3);
        assert_eq!(saved.load_journal().unwrap(), journal);
        for name in [DESIRED, APPLIED, JOURNAL] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        saved.clear_journal().unwrap();
        assert!(saved.load_journal().unwrap().is_empty());
    }

    #[test]
    fn a_damaged_file_is_an_error_not_an_empty_state() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DESIRED), b"{not json").unwrap();
        assert!(Saved::new(dir.path()).load_desired().is_err());
    }
}
