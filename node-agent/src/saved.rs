//! The documents a reconcile keeps between runs, in the state directory (beside `node.json`,
//! which is [`crate::identity`]'s):
//!
//! - `desired.json`: the last desired state fetched from the control plane. After a restart the
//!   agent applies it at once, with or without the control plane.
//! - `applied.json`: the last desired state applied in full. A failed check restores the files
//!   rendered from it (the last good files), and the auth broker answers from it.
//! - `journal.json`: what an apply in progress still owes the daemons (checks, reloads, the
//!   services' named steps). Written before the first file changes, removed when the apply is done,
//!   so an apply killed half-way is finished by the next start even where the files on disk
//!   already match.
//!
//! All three are written atomically with mode 0600 (they hold password verifiers).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use protocol::desired::DesiredState;
use serde::{Deserialize, Serialize};

use crate::atomic;
use crate::services::{older_journal_field, Service, Step};

const DESIRED: &str = "desired.json";
const APPLIED: &str = "applied.json";
const JOURNAL: &str = "journal.json";

/// What an interrupted apply left to do: checks, reloads and the services' named steps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "JournalOnDisk")]
pub struct Journal {
    /// Services whose new configuration is on disk but was not checked yet.
    pub check: BTreeSet<Service>,
    pub reload: BTreeSet<Service>,
    /// Named steps still owed (`postfix postmap <table>`, `knot zone-reload <zone>`).
    pub steps: BTreeSet<Step>,
}

/// `journal.json` as any agent wrote it. Agents older than named steps kept each step's
/// arguments in a field of its own (`postmap`, `zone_reload`, `purge`); the service that owns
/// such a field ([`crate::services::Daemon::older_journal_fields`]) says which step it was, so
/// an upgraded agent finishes what the older one left.
#[derive(Deserialize)]
struct JournalOnDisk {
    #[serde(default)]
    check: BTreeSet<Service>,
    #[serde(default)]
    reload: BTreeSet<Service>,
    #[serde(default)]
    steps: BTreeSet<Step>,
    #[serde(flatten)]
    older: BTreeMap<String, serde_json::Value>,
}

impl From<JournalOnDisk> for Journal {
    fn from(disk: JournalOnDisk) -> Journal {
        let mut steps = disk.steps;
        for (field, value) in disk.older {
            let args: Vec<String> = serde_json::from_value(value).unwrap_or_default();
            match older_journal_field(&field) {
                Some((service, name)) => {
                    steps.extend(args.iter().map(|arg| Step::new(service, name, arg)));
                }
                None if args.is_empty() => {}
                None => tracing::warn!(field, "journal.json: a field no service knows, ignored"),
            }
        }
        Journal {
            check: disk.check,
            reload: disk.reload,
            steps,
        }
    }
}

impl Journal {
    pub fn is_empty(&self) -> bool {
        self.check.is_empty() && self.reload.is_empty() && self.steps.is_empty()
    }

    pub fn merge(&mut self, other: Journal) {
        self.check.extend(other.check);
        self.reload.extend(other.reload);
        self.steps.extend(other.steps);
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
        let service = crate::services::ALL[1].service();
        journal.reload.insert(service);
        journal
            .steps
            .insert(Step::new(service, "a-step", "an/argument"));
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

    /// A journal an agent older than named steps left (its own fields, literally): finished by
    /// this one as the same checks, reloads and steps.
    #[test]
    fn an_older_journal_is_read_as_named_steps() {
        let dir = tempfile::tempdir().unwrap();
        let older = r#"{"postmap":["etc/postfix/ruche/mailboxes","etc/postfix/ruche/aliases"],
            "reload":["postfix","knot"],"check":["knot"],
            "zone_reload":["example.org"],"purge":["gone.example","xn--bcher-kva.example"]}"#;
        std::fs::write(dir.path().join(JOURNAL), older).unwrap();
        let journal = Saved::new(dir.path()).load_journal().unwrap();
        let named = |n: &str| Service::named(n).unwrap();
        let step = |s: &str, name: &str, arg: &str| Step::new(named(s), name, arg);
        assert_eq!(
            journal.reload,
            BTreeSet::from([named("postfix"), named("knot")])
        );
        assert_eq!(journal.check, BTreeSet::from([named("knot")]));
        assert_eq!(
            journal.steps,
            BTreeSet::from([
                step("postfix", "postmap", "etc/postfix/ruche/aliases"),
                step("postfix", "postmap", "etc/postfix/ruche/mailboxes"),
                step("knot", "zone-reload", "example.org"),
                step("knot", "zone-purge", "gone.example"),
                step("knot", "zone-purge", "xn--bcher-kva.example"),
            ])
        );
        // Its oldest form had no check (nor Knot): still read.
        std::fs::write(
            dir.path().join(JOURNAL),
            r#"{"postmap":[],"reload":["dovecot"]}"#,
        )
        .unwrap();
        let journal = Saved::new(dir.path()).load_journal().unwrap();
        assert_eq!(journal.reload, BTreeSet::from([named("dovecot")]));
        assert!(journal.steps.is_empty() && journal.check.is_empty());
        // Written again, it takes the new form, and reads back the same.
        Saved::new(dir.path()).save_journal(&journal).unwrap();
        let text = std::fs::read_to_string(dir.path().join(JOURNAL)).unwrap();
        assert!(!text.contains("postmap"), "{text}");
        assert_eq!(Saved::new(dir.path()).load_journal().unwrap(), journal);
    }
}
