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
//! All three are written atomically with mode 0600 (they hold password verifiers). A journal an
//! older agent wrote with a field per step (`postmap`, `zone_reload`, `purge`) is read as the
//! same named steps: the service that owned each field says which.
//!
//! A change costs what it changes, not what the node holds: `desired.json` and `applied.json`
//! are each a whole document plus a log beside it (`desired.log`, `applied.log`), one
//! [`Delta`] per line, appended and fsynced. Reading takes the document and applies the log's
//! deltas in order; once the log grows past an eighth of the document (at least 64 KiB), the
//! next save writes the whole document again and empties the log. A line cut short by a crash
//! is the save that did not happen: it is dropped when the log is read (the apply it would have
//! recorded is redone from the journal and the desired state). A delta at or below the
//! document's generation is one a whole save already holds (a crash between writing the
//! document and emptying its log): skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;

use protocol::desired::{Delta, DesiredState};
use serde::{Deserialize, Serialize};

use crate::atomic;
use crate::services::{older_journal_field, Service, Step};

const DESIRED: Document = Document {
    whole: "desired.json",
    log: "desired.log",
};
const APPLIED: Document = Document {
    whole: "applied.json",
    log: "applied.log",
};
const JOURNAL: &str = "journal.json";

/// A desired state kept as a whole document and a log of deltas on top of it.
#[derive(Clone, Copy)]
struct Document {
    whole: &'static str,
    log: &'static str,
}

/// The smallest log that makes the next save a whole one: below it, logging beats rewriting
/// a small document anyway.
const MIN_LOG_BYTES: u64 = 64 * 1024;

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
        self.load_document(DESIRED)
    }

    /// Saves `desired`; `delta` (from the document saved last to `desired`), when given, is
    /// appended to the log instead while the log is small.
    pub fn save_desired(
        &self,
        desired: &DesiredState,
        delta: Option<&Delta>,
    ) -> Result<(), SavedError> {
        self.save_document(DESIRED, desired, delta)
    }

    pub fn load_applied(&self) -> Result<Option<DesiredState>, SavedError> {
        self.load_document(APPLIED)
    }

    /// As [`Saved::save_desired`], for the state applied in full.
    pub fn save_applied(
        &self,
        applied: &DesiredState,
        delta: Option<&Delta>,
    ) -> Result<(), SavedError> {
        self.save_document(APPLIED, applied, delta)
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

    fn load_document(&self, document: Document) -> Result<Option<DesiredState>, SavedError> {
        let Some(mut doc) = self.load::<DesiredState>(document.whole)? else {
            return Ok(None);
        };
        let path = self.dir.join(document.log);
        let log = match std::fs::read(&path) {
            Ok(log) => log,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Some(doc)),
            Err(source) => {
                return Err(SavedError::Io {
                    action: "read",
                    path,
                    source,
                })
            }
        };
        let mut complete = 0;
        for line in log.split_inclusive(|b| *b == b'\n') {
            let Some(json) = line.strip_suffix(b"\n") else {
                break; // Cut short: a save that did not happen.
            };
            let delta: Delta = serde_json::from_slice(json).map_err(|err| SavedError::Invalid {
                path: path.clone(),
                message: format!("line at byte {complete}: {err}"),
            })?;
            if delta.generation > doc.generation {
                match doc.apply(&delta) {
                    Ok(next) => doc = next,
                    Err(err) => {
                        // A gap (a save that failed between two that did not): what follows
                        // cannot be read on top of what precedes.
                        tracing::warn!(path = %path.display(), error = %err, "the log breaks off");
                        break;
                    }
                }
            }
            complete += line.len();
        }
        if complete < log.len() {
            tracing::warn!(path = %path.display(), "the end of the log dropped");
            // Before anything is appended after it.
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(complete as u64).and_then(|()| f.sync_all()));
            file.map_err(|source| SavedError::Io {
                action: "truncate",
                path: path.clone(),
                source,
            })?;
        }
        Ok(Some(doc))
    }

    fn save_document(
        &self,
        document: Document,
        doc: &DesiredState,
        delta: Option<&Delta>,
    ) -> Result<(), SavedError> {
        let log = self.dir.join(document.log);
        let size = |name: &Path| std::fs::metadata(name).map(|m| m.len()).ok();
        if let (Some(delta), Some(whole)) = (delta, size(&self.dir.join(document.whole))) {
            let mut line = serde_json::to_vec(delta).map_err(|err| SavedError::Invalid {
                path: log.clone(),
                message: err.to_string(),
            })?;
            line.push(b'\n');
            let logged = size(&log).unwrap_or(0);
            if logged + line.len() as u64 <= (whole / 8).max(MIN_LOG_BYTES) {
                return append(&log, &line, logged == 0).map_err(|source| SavedError::Io {
                    action: "append to",
                    path: log,
                    source,
                });
            }
        }
        self.save(document.whole, doc)?;
        // The document now holds every delta of the log: a crash before this leaves deltas
        // at or below its generation, which reading skips.
        atomic::remove(&log).map_err(|source| SavedError::Io {
            action: "remove",
            path: log,
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
        atomic::write(&path, &[&bytes], 0o600).map_err(|source| SavedError::Io {
            action: "write",
            path,
            source,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Appends `line` to the log at `path` (made 0600 if new) and syncs it; a new log's directory
/// entry is synced too.
fn append(path: &Path, line: &[u8], new: bool) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(line)?;
    file.sync_data()?;
    if new {
        if let Some(dir) = path.parent() {
            atomic::sync_dir(dir)?;
        }
    }
    Ok(())
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
        saved.save_desired(&desired(4), None).unwrap();
        saved.save_applied(&desired(3), None).unwrap();
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
        for name in [DESIRED.whole, APPLIED.whole, JOURNAL] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        saved.clear_journal().unwrap();
        assert!(saved.load_journal().unwrap().is_empty());
    }

    fn with_members(generation: u64, members: &[&str]) -> DesiredState {
        let tenants = members
            .iter()
            .map(|m| protocol::desired::Tenant {
                member_id: (*m).to_owned(),
                active: true,
                domains: vec![],
                app_passwords: vec![],
                contact: None,
            })
            .map(std::sync::Arc::new)
            .collect();
        DesiredState {
            tenants,
            ..desired(generation)
        }
    }

    /// Each save after the first appends one delta; reading gives the last document saved,
    /// through a crash that cut a line short, and after the log grew into a whole save.
    #[test]
    fn a_document_is_kept_as_its_deltas_and_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let saved = Saved::new(dir.path());
        let docs = [
            with_members(1, &["a", "b"]),
            with_members(2, &["a", "b", "c"]),
            with_members(3, &["b", "c"]),
        ];
        saved.save_applied(&docs[0], None).unwrap();
        for pair in docs.windows(2) {
            saved
                .save_applied(&pair[1], Some(&pair[0].delta_to(&pair[1])))
                .unwrap();
        }
        let whole = std::fs::read(dir.path().join(APPLIED.whole)).unwrap();
        let first: DesiredState = serde_json::from_slice(&whole).unwrap();
        assert_eq!(first, docs[0], "the deltas went to the log");
        let log = dir.path().join(APPLIED.log);
        let mode = std::fs::metadata(&log).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(saved.load_applied().unwrap().unwrap(), docs[2]);

        // A crash in the middle of the next append: that save did not happen.
        let next = with_members(4, &["c"]);
        let line = serde_json::to_vec(&docs[2].delta_to(&next)).unwrap();
        let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        file.write_all(&line[..line.len() / 2]).unwrap();
        assert_eq!(saved.load_applied().unwrap().unwrap(), docs[2]);
        // Dropped from the file, so what is appended next is read.
        saved
            .save_applied(&next, Some(&docs[2].delta_to(&next)))
            .unwrap();
        assert_eq!(saved.load_applied().unwrap().unwrap(), next);

        // A delta that does not follow (a save that failed before it): the log ends there.
        let after = with_members(6, &["d"]);
        let skipped = with_members(5, &["e"]);
        saved
            .save_applied(&after, Some(&skipped.delta_to(&after)))
            .unwrap();
        assert_eq!(saved.load_applied().unwrap().unwrap(), next);

        // A log past its size is folded into the whole document.
        let big: Vec<String> = (0..3000).map(|i| format!("member-{i}")).collect();
        let big: Vec<&str> = big.iter().map(String::as_str).collect();
        let large = with_members(7, &big);
        saved
            .save_applied(&large, Some(&next.delta_to(&large)))
            .unwrap();
        assert!(!log.exists());
        assert_eq!(saved.load_applied().unwrap().unwrap(), large);
        // A crash between the whole save and removing the log: the old deltas are skipped.
        std::fs::write(
            &log,
            serde_json::to_vec(&docs[0].delta_to(&docs[1])).unwrap(),
        )
        .unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .unwrap()
            .write_all(b"\n")
            .unwrap();
        assert_eq!(saved.load_applied().unwrap().unwrap(), large);
    }

    #[test]
    fn a_damaged_file_is_an_error_not_an_empty_state() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DESIRED.whole), b"{not json").unwrap();
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
