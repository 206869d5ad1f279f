//! DKIM keys, made on the node: one RSA-2048 key per domain, whose private half never leaves the
//! node. Keys are bound to the domain's **id**, never its name: a key is
//! `<dir>/<domain id>.<selector>.key` (and `.pub`, the DNS record's `p=` value), rspamd finds it
//! through the path map the agent renders, and [`Keys::retain`] deletes the keys of domains that
//! left the node. A later holder of the same name (another member, or the same name added again)
//! gets a new key; nobody can sign with a former holder's.
//!
//! A key is written before its domain enters rspamd's selector map: rspamd sends mail unsigned
//! (with only a log line) when the map names a key file that does not exist. Its file has mode
//! 0640 and the group agent.toml's `[commands] dkim_group` names (`_rspamd` in production), so
//! rspamd reads it and nobody else; only the public half leaves the node, in the heartbeat.
//!
//! Keys are made **aside** by the running agent: an RSA-2048 key takes about a quarter of a
//! second, so a thousand new domains would hold every other member's change for minutes. The
//! reconcile takes the keys that exist ([`Keys::available`]), hands the missing ones to the
//! [`Maker`]'s thread and goes on; a domain signs, and its zone publishes its key, from the
//! reconcile that follows its key. The maker makes one key at a time, only for what the latest
//! reconcile still wants, and wakes the reconcile worker at once after the last key waiting and
//! at most once a second during a burst. The one-shot `node-agent reconcile` makes them in line
//! ([`Keys::ensure`]).
//!
//! RSA only, no Ed25519 first: Ed25519 DKIM (RFC 8463) is still not verified by several large
//! receivers, which would treat such a domain's mail as unsigned, and a second key per domain
//! would double what members must publish for no gain until they do.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use base64::Engine;
use protocol::names::ObjectId;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

use crate::atomic;

/// Where the keys live, under the layout's root.
pub const DIR: &str = "var/lib/ruche-agent/dkim";
const BITS: usize = 2048;

/// A domain's signing key, as far as anyone but rspamd needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The domain the key was made for.
    pub domain_id: ObjectId,
    pub selector: String,
    /// base64 of the DER SubjectPublicKeyInfo.
    pub public_key: std::sync::Arc<str>,
}

impl Key {
    /// The private key's path relative to the layout's root, as rspamd's path map names it.
    pub fn private_path(&self) -> String {
        format!("{DIR}/{}.{}.key", self.domain_id, self.selector)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot make a DKIM key: {0}")]
    Generate(String),
    #[error("there is no group {0:?} (rspamd's, which must read the DKIM keys)")]
    NoGroup(String),
}

pub struct Keys {
    dir: PathBuf,
    gid: u32,
    /// The keys on disk, read once (the agent is the only writer of the directory).
    known: std::sync::Mutex<Option<BTreeMap<ObjectId, Key>>>,
    /// Held while key files are written and while [`Keys::retain`] sweeps the directory, so the
    /// sweep never takes a key being written (its temporary file) for a stray file.
    files: std::sync::Mutex<()>,
}

impl Keys {
    /// The keys under `root`, readable by the group `group`.
    pub fn new(root: &Path, group: &str) -> Result<Keys, DkimError> {
        let gid = group_id(group)?;
        Ok(Keys {
            dir: root.join(DIR),
            gid,
            known: std::sync::Mutex::new(None),
            files: std::sync::Mutex::new(()),
        })
    }

    /// The key of each of the domains `ids`, making the missing ones with `new_selector` (a DNS
    /// label) in line.
    pub fn ensure<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a ObjectId>,
        new_selector: &str,
    ) -> Result<BTreeMap<ObjectId, Key>, DkimError> {
        let (mut keys, missing) = self.available(ids)?;
        for id in missing {
            let key = self.make(&id, new_selector)?;
            keys.insert(id, key);
        }
        Ok(keys)
    }

    /// The keys of the domains `ids` that exist, and the ids that have none yet.
    pub fn available<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a ObjectId>,
    ) -> Result<(BTreeMap<ObjectId, Key>, BTreeSet<ObjectId>), DkimError> {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.is_none() {
            *known = Some(self.existing()?);
        }
        let existing = known.get_or_insert_with(BTreeMap::new);
        let mut keys = BTreeMap::new();
        let mut missing = BTreeSet::new();
        for id in ids {
            match existing.get(id) {
                Some(key) => {
                    keys.insert(id.clone(), key.clone());
                }
                None => {
                    missing.insert(id.clone());
                }
            }
        }
        Ok((keys, missing))
    }

    /// Makes a key for the domain `id`, unless it has one. The list of known keys is not locked
    /// while the key is made, so reconciles go on meanwhile.
    pub fn make(&self, id: &ObjectId, selector: &str) -> Result<Key, DkimError> {
        let (have, _) = self.available([id])?;
        if let Some(key) = have.into_values().next() {
            return Ok(key);
        }
        let key = self.generate(id, selector, |key| {
            // Known before the sweep can run again, so a key is on disk exactly when known.
            let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            known
                .get_or_insert_with(BTreeMap::new)
                .insert(id.clone(), key.clone());
        })?;
        Ok(key)
    }

    /// Deletes every key file but those of the domains `keep`: the keys of domains that left the
    /// node (deleted, moved, given up), and files named the old way, after a domain name.
    /// Returns how many files went. Run after rspamd's maps stopped naming them.
    pub fn retain(&self, keep: &BTreeSet<ObjectId>) -> Result<usize, DkimError> {
        let _files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let entries = crate::atomic::read_dir(&self.dir)
            .map_err(|source| self.io("read", &self.dir, source))?;
        let mut removed = 0;
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let owner = name
                .split_once('.')
                .and_then(|(id, _)| ObjectId::parse(id).ok());
            if owner.is_some_and(|id| keep.contains(&id)) {
                continue;
            }
            let path = entry.path();
            match std::fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(self.io("remove", &path, source)),
            }
        }
        if let Some(known) = known.as_mut() {
            known.retain(|id, _| keep.contains(id));
        }
        if removed > 0 {
            tracing::info!(
                removed,
                "removed the DKIM key files of domains that left the node"
            );
        }
        Ok(removed)
    }

    /// The keys on disk, by domain id: the latest selector of each (selectors sort by date).
    /// Files named after a domain name (before keys were bound to ids) are not keys any more.
    fn existing(&self) -> Result<BTreeMap<ObjectId, Key>, DkimError> {
        let mut keys = BTreeMap::new();
        let entries = crate::atomic::read_dir(&self.dir)
            .map_err(|source| self.io("read", &self.dir, source))?;
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".pub") else {
                continue;
            };
            let Some((id, selector)) = stem.split_once('.') else {
                continue;
            };
            let Ok(id) = ObjectId::parse(id) else {
                continue;
            };
            // Only a key whose private half is there counts.
            if !self.dir.join(format!("{stem}.key")).exists() {
                continue;
            }
            let path = entry.path();
            let public_key = std::fs::read_to_string(&path)
                .map_err(|source| self.io("read", &path, source))?
                .trim()
                .to_owned();
            let newer = keys
                .get(&id)
                .is_none_or(|k: &Key| k.selector.as_str() < selector);
            if newer {
                keys.insert(
                    id.clone(),
                    Key {
                        domain_id: id,
                        selector: selector.to_owned(),
                        public_key: public_key.into(),
                    },
                );
            }
        }
        Ok(keys)
    }

    /// Makes a key (without any lock: it takes a quarter of a second), then writes it and runs
    /// `written` while no sweep runs.
    fn generate(
        &self,
        domain: &ObjectId,
        selector: &str,
        written: impl FnOnce(&Key),
    ) -> Result<Key, DkimError> {
        let started = std::time::Instant::now();
        let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, BITS)
            .map_err(|e| DkimError::Generate(e.to_string()))?;
        let pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| DkimError::Generate(e.to_string()))?;
        let der = private
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| DkimError::Generate(e.to_string()))?;
        let public_key = base64::engine::general_purpose::STANDARD.encode(der.as_bytes());

        let stem = format!("{domain}.{selector}");
        let key_path = self.dir.join(format!("{stem}.key"));
        let _files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        atomic::write(&key_path, &[pem.as_bytes()], 0o640)
            .map_err(|source| self.io("write", &key_path, source))?;
        std::os::unix::fs::chown(&key_path, None, Some(self.gid))
            .map_err(|source| self.io("set the group of", &key_path, source))?;
        // The public half last: its presence says the key is complete.
        let pub_path = self.dir.join(format!("{stem}.pub"));
        atomic::write(&pub_path, &[public_key.as_bytes()], 0o644)
            .map_err(|source| self.io("write", &pub_path, source))?;
        let key = Key {
            domain_id: domain.clone(),
            selector: selector.to_owned(),
            public_key: public_key.into(),
        };
        written(&key);
        tracing::info!(domain_id = domain.as_str(), selector, elapsed = ?started.elapsed(), "made a DKIM key");
        Ok(key)
    }

    fn io(&self, action: &'static str, path: &Path, source: std::io::Error) -> DkimError {
        DkimError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

/// How long the maker waits after a key it could not make before it asks for a reconcile (which
/// asks for the key again).
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// How often, at most, the maker says it made keys while more are waiting; the last key of a
/// batch is told at once.
const TELL_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// A thread that makes missing keys one at a time and says so (after the last one waiting, and
/// every `TELL_EVERY` meanwhile), so that the reconcile that follows signs with them. It holds
/// only what the latest reconcile wanted: a domain that left meanwhile is not made a key.
pub struct Maker {
    shared: std::sync::Arc<Shared>,
}

struct Shared {
    queue: std::sync::Mutex<Queue>,
    wake: std::sync::Condvar,
}

#[derive(Default)]
struct Queue {
    wanted: BTreeSet<ObjectId>,
    /// The key being made: not wanted again while it is.
    making: Option<ObjectId>,
    stop: bool,
}

impl Maker {
    /// Starts the thread; `made` runs on it after keys were made (and after a failure, once
    /// `RETRY_AFTER` has passed).
    pub fn start(
        keys: std::sync::Arc<Keys>,
        made: impl Fn() + Send + 'static,
    ) -> std::io::Result<Maker> {
        let shared = std::sync::Arc::new(Shared {
            queue: std::sync::Mutex::new(Queue::default()),
            wake: std::sync::Condvar::new(),
        });
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("dkim-keys".to_owned())
            .spawn(move || make_wanted(&thread_shared, &keys, &made))?;
        Ok(Maker { shared })
    }

    /// The domains that need a key now: replaces what was wanted before.
    pub fn want(&self, missing: BTreeSet<ObjectId>) {
        let mut queue = self.shared.lock();
        let mut missing = missing;
        if let Some(making) = &queue.making {
            missing.remove(making);
        }
        queue.wanted = missing;
        if !queue.wanted.is_empty() {
            tracing::info!(
                waiting = queue.wanted.len(),
                "domains wait for their DKIM key"
            );
        }
        self.shared.wake.notify_one();
    }
}

impl Drop for Maker {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn make_wanted(shared: &Shared, keys: &Keys, made: &dyn Fn()) {
    // When `made` last ran.
    let mut told = None;
    loop {
        let id = {
            let mut queue = shared.lock();
            queue.making = None;
            loop {
                if queue.stop {
                    return;
                }
                if let Some(id) = queue.wanted.pop_first() {
                    queue.making = Some(id.clone());
                    break id;
                }
                queue = shared.wake.wait(queue).unwrap_or_else(|e| e.into_inner());
            }
        };
        match keys.make(&id, &selector_for(std::time::SystemTime::now())) {
            Ok(_) => {
                // During a burst (a thousand new domains), one reconcile a second takes in the
                // keys made meanwhile: one per key would cost as much as making them.
                let last = shared.lock().wanted.is_empty();
                if last || told.is_none_or(|t: std::time::Instant| t.elapsed() >= TELL_EVERY) {
                    told = Some(std::time::Instant::now());
                    made();
                }
            }
            Err(err) => {
                tracing::error!(domain_id = id.as_str(), error = %crate::error_chain(&err), retry_in = ?RETRY_AFTER, "cannot make a DKIM key");
                let queue = shared.lock();
                let (queue, _) = shared
                    .wake
                    .wait_timeout_while(queue, RETRY_AFTER, |q| !q.stop)
                    .unwrap_or_else(|e| e.into_inner());
                if queue.stop {
                    return;
                }
                drop(queue);
                made();
            }
        }
    }
}

/// The selector for keys made now: `r` and the year and month, so a later rotation sorts after.
pub fn selector_for(now: std::time::SystemTime) -> String {
    let days = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0);
    let (year, month) = civil_year_month(days);
    format!("r{year:04}{month:02}")
}

/// Year and month of a day count since 1970-01-01 (Howard Hinnant's civil-from-days).
fn civil_year_month(days: u64) -> (u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month)
}

/// The id of group `name`, from `/etc/group`.
fn group_id(name: &str) -> Result<u32, DkimError> {
    let text = std::fs::read_to_string("/etc/group").map_err(|source| DkimError::Io {
        action: "read",
        path: PathBuf::from("/etc/group"),
        source,
    })?;
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let group = fields.next()?;
            let gid = fields.nth(1)?.parse().ok()?;
            (group == name).then_some(gid)
        })
        .next()
        .ok_or_else(|| DkimError::NoGroup(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn selectors_follow_the_calendar() {
        let at = |secs| selector_for(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
        assert_eq!(at(0), "r197001");
        // 2026-11-26
        assert_eq!(at(1_795_651_200), "r202611");
        // 2024-02-29 and 2024-03-01
        assert_eq!(at(1_709_164_800), "r202402");
        assert_eq!(at(1_709_251_200), "r202403");
    }

    #[test]
    fn makes_a_key_once_then_reuses_it() {
        let root = tempfile::tempdir().unwrap();
        let keys = Keys::new(root.path(), "root").unwrap();
        let domain = ObjectId::parse("d-1").unwrap();
        let first = keys.ensure([&domain], "r202611").unwrap();
        let key = &first[&domain];
        assert_eq!(key.selector, "r202611");
        // A DER SubjectPublicKeyInfo of RSA-2048 is 294 bytes: 392 base64 characters.
        assert_eq!(key.public_key.len(), 392);
        let path = root.path().join(key.private_path());
        assert!(path.ends_with("dkim/d-1.r202611.key"));
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o640);
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = keys.ensure([&domain], "r202612").unwrap();
        assert_eq!(again, first);
        // Read back from disk by a new agent, too.
        let fresh = Keys::new(root.path(), "root").unwrap();
        assert_eq!(fresh.ensure([&domain], "r202612").unwrap(), first);
    }

    #[test]
    fn a_domain_that_left_takes_its_key_along_and_a_new_holder_gets_another() {
        let root = tempfile::tempdir().unwrap();
        let keys = Keys::new(root.path(), "root").unwrap();
        let (gone, stays) = (
            ObjectId::parse("d-gone").unwrap(),
            ObjectId::parse("d-stays").unwrap(),
        );
        let made = keys.ensure([&gone, &stays], "r202611").unwrap();
        // A key named the old way, after a domain name.
        let dir = root.path().join(DIR);
        std::fs::write(dir.join("example.org.r202601.key"), "old").unwrap();
        std::fs::write(dir.join("example.org.r202601.pub"), "old").unwrap();
        let removed = keys.retain(&BTreeSet::from([stays.clone()])).unwrap();
        assert_eq!(removed, 4);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["d-stays.r202611.key", "d-stays.r202611.pub"]);
        // The same name comes back under a new id: a new key, never the old one.
        let again = ObjectId::parse("d-new").unwrap();
        let new = keys.ensure([&again], "r202611").unwrap();
        assert_ne!(new[&again].public_key, made[&gone].public_key);
    }

    #[test]
    fn an_unknown_group_is_refused() {
        let root = tempfile::tempdir().unwrap();
        assert!(matches!(
            Keys::new(root.path(), "no-such-group-here"),
            Err(DkimError::NoGroup(_))
        ));
    }

    #[test]
    fn the_maker_makes_what_the_latest_reconcile_wanted_and_says_so_after_each() {
        let root = tempfile::tempdir().unwrap();
        let keys = std::sync::Arc::new(Keys::new(root.path(), "root").unwrap());
        let id = |s: &str| ObjectId::parse(s).unwrap();
        let (made_tx, made_rx) = std::sync::mpsc::channel();
        let maker = Maker::start(keys.clone(), move || {
            let _ = made_tx.send(());
        })
        .unwrap();
        // Nothing is made before anything is wanted.
        assert!(made_rx
            .recv_timeout(std::time::Duration::from_millis(200))
            .is_err());
        maker.want(BTreeSet::from([id("d-1"), id("d-2")]));
        // The next reconcile no longer wants d-2 (its domain left). Keys are made in id order,
        // so d-1's is made or being made: d-2's never will be.
        maker.want(BTreeSet::from([id("d-1")]));
        made_rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .unwrap();
        let (have, missing) = keys.available([&id("d-1"), &id("d-2")]).unwrap();
        assert!(have.contains_key(&id("d-1")));
        assert_eq!(missing, BTreeSet::from([id("d-2")]));
        assert!(maker.shared.lock().wanted.is_empty());
        // A key that exists is not made again, and is what the reconcile then finds.
        maker.want(BTreeSet::from([id("d-1")]));
        let again = keys.available([&id("d-1")]).unwrap().0;
        assert_eq!(again, have);
        drop(maker);
    }

    #[test]
    fn available_keys_are_told_apart_from_missing_ones_without_making_any() {
        let root = tempfile::tempdir().unwrap();
        let keys = Keys::new(root.path(), "root").unwrap();
        let (one, two) = (
            ObjectId::parse("d-1").unwrap(),
            ObjectId::parse("d-2").unwrap(),
        );
        keys.ensure([&one], "r202611").unwrap();
        let (have, missing) = keys.available([&one, &two]).unwrap();
        assert_eq!(have.keys().collect::<Vec<_>>(), [&one]);
        assert_eq!(missing, BTreeSet::from([two.clone()]));
        assert!(!root.path().join(DIR).join("d-2.r202611.pub").exists());
    }

    /// The sweep after each apply runs while the maker writes keys: it must never take a key
    /// being written (its temporary file) for a stray file.
    #[test]
    fn a_sweep_during_a_write_keeps_the_key_being_written() {
        let root = tempfile::tempdir().unwrap();
        let keys = std::sync::Arc::new(Keys::new(root.path(), "root").unwrap());
        let id = ObjectId::parse("d-1").unwrap();
        keys.available([&id]).unwrap();
        let (made_tx, made_rx) = std::sync::mpsc::channel();
        let maker = Maker::start(keys.clone(), move || {
            let _ = made_tx.send(());
        })
        .unwrap();
        maker.want(BTreeSet::from([id.clone()]));
        let keep = BTreeSet::from([id.clone()]);
        while made_rx.try_recv().is_err() {
            keys.retain(&keep).unwrap();
        }
        let (have, _) = keys.available([&id]).unwrap();
        let key = &have[&id];
        assert!(root.path().join(key.private_path()).exists());
        assert!(maker.shared.lock().wanted.is_empty());
    }
}
