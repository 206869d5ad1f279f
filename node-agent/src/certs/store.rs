//! The certificates on disk: `var/lib/ruche/certs/<node|domain>/<name>/<id>/{key.pem,chain.pem}`
//! under the layout's root, directories 0700 and files 0600 (root reads them for the daemons,
//! nobody else).
//!
//! `<id>` is the first 16 hex digits of the SHA-256 of the leaf certificate, so a new
//! certificate is a new directory, never an old one changed: the daemons' files name the
//! directory, so a renewal changes what they render and the engine writes, checks and reloads
//! them like any other change (Postfix's SNI table is compiled again). A certificate is written
//! into `.tmp-<id>`, synced, and renamed into place: a crash leaves a whole directory or a
//! `.tmp-` one, which the next scan removes. Nothing is installed that does not parse, is
//! expired, or whose key does not match its leaf; the previous certificate stays until the
//! next is installed.

use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use protocol::names::DomainName;
use rcgen::PublicKeyData;
use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

use crate::atomic;
use crate::certs::CertKey;

/// The store, relative to the layout's root.
pub const CERTS: &str = "var/lib/ruche/certs";
const CHAIN: &str = "chain.pem";
const KEY: &str = "key.pem";
const TEMPORARY: &str = ".tmp-";

/// A certificate in the store, as the renderers name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The DNS names on it.
    pub names: Vec<DomainName>,
    /// Its directory, relative to the layout's root.
    pub dir: String,
    /// Seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// The leaf, DER: the CA's renewal information is asked by its id.
    pub leaf: Arc<[u8]>,
}

impl Installed {
    /// The chain's path (the leaf first, then its intermediates), relative to the root.
    pub fn chain(&self) -> String {
        format!("{}/{CHAIN}", self.dir)
    }

    /// The private key's path, relative to the root.
    pub fn key(&self) -> String {
        format!("{}/{KEY}", self.dir)
    }

    /// Whether it holds every one of `names`.
    pub fn covers<'a>(&self, names: impl IntoIterator<Item = &'a DomainName>) -> bool {
        names.into_iter().all(|n| self.names.contains(n))
    }

    /// When it is due for renewal: two thirds into its lifetime (Let's Encrypt's advice, and
    /// 60 of 90 days), or at once once expired.
    pub fn renew_at(&self) -> i64 {
        self.not_before + (self.not_after - self.not_before) * 2 / 3
    }

    pub fn valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now < self.not_after
    }
}

/// Why a certificate was not installed or read. Never holds key material.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the certificate is not usable: {0}")]
    Invalid(String),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

/// What a chain and key say, once they are known to belong together.
struct Checked {
    names: Vec<DomainName>,
    not_before: i64,
    not_after: i64,
    leaf: Vec<u8>,
}

/// Parses `chain` (PEM certificates, the leaf first) and `key` (PEM private key) and checks
/// that the key is the leaf's.
fn check(chain: &[u8], key: &str) -> Result<Checked, StoreError> {
    let invalid = |what: &str| StoreError::Invalid(what.to_owned());
    let blocks = Pem::iter_from_buffer(chain)
        .collect::<Result<Vec<Pem>, _>>()
        .map_err(|e| StoreError::Invalid(format!("the chain is not PEM: {e}")))?;
    let leaf_pem = blocks
        .iter()
        .find(|p| p.label == "CERTIFICATE")
        .ok_or_else(|| invalid("the chain holds no certificate"))?;
    let leaf = leaf_pem
        .parse_x509()
        .map_err(|e| StoreError::Invalid(format!("the leaf does not parse: {e}")))?;
    // Never the key's text in an error: only whether it parsed and matched.
    let pair =
        rcgen::KeyPair::from_pem(key).map_err(|_| invalid("the private key does not parse"))?;
    if leaf.public_key().raw != pair.subject_public_key_info().as_slice() {
        return Err(invalid("the private key is not the certificate's"));
    }
    let mut names = Vec::new();
    if let Ok(Some(san)) = leaf.subject_alternative_name() {
        for general in &san.value.general_names {
            if let GeneralName::DNSName(text) = general {
                if let Ok(name) = DomainName::parse(text) {
                    names.push(name);
                }
            }
        }
    }
    if names.is_empty() {
        return Err(invalid("the certificate names no DNS name"));
    }
    Ok(Checked {
        names,
        not_before: leaf.validity().not_before.timestamp(),
        not_after: leaf.validity().not_after.timestamp(),
        leaf: leaf_pem.contents.clone(),
    })
}

/// The certificate store under `root` (the layout's root).
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: &Path) -> Store {
        Store {
            root: root.to_owned(),
        }
    }

    fn base(&self) -> PathBuf {
        self.root.join(CERTS)
    }

    /// Installs `chain` and `key` for `cert` after checking them (`now`: seconds since the
    /// epoch; an expired certificate is refused). Installing the same certificate again
    /// returns the one in place.
    pub fn install(
        &self,
        cert: &CertKey,
        chain: &[u8],
        key: &str,
        now: i64,
    ) -> Result<Installed, StoreError> {
        let checked = check(chain, key)?;
        if now >= checked.not_after {
            return Err(StoreError::Invalid(
                "the certificate has expired".to_owned(),
            ));
        }
        let id = hex_prefix(&checked.leaf);
        let rel = format!("{CERTS}/{}/{id}", cert.dir());
        let installed = Installed {
            names: checked.names,
            dir: rel.clone(),
            not_before: checked.not_before,
            not_after: checked.not_after,
            leaf: Arc::from(checked.leaf),
        };
        let dir = self.root.join(&rel);
        if dir.is_dir() && self.read(&dir).is_ok() {
            return Ok(installed);
        }
        let parent = self.base().join(cert.dir());
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&parent)
            .map_err(io("create", &parent))?;
        let temporary = parent.join(format!("{TEMPORARY}{id}"));
        if temporary.exists() {
            std::fs::remove_dir_all(&temporary).map_err(io("remove", &temporary))?;
        }
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&temporary)
            .map_err(io("create", &temporary))?;
        let key_path = temporary.join(KEY);
        atomic::write_new_file(&key_path, &[key.as_bytes()], 0o600)
            .map_err(io("write", &key_path))?;
        // A test kills the agent here: half a certificate is a `.tmp-` directory.
        crate::apply::step("certificate write");
        let chain_path = temporary.join(CHAIN);
        atomic::write_new_file(&chain_path, &[chain], 0o600).map_err(io("write", &chain_path))?;
        atomic::sync_dir(&temporary).map_err(io("sync", &temporary))?;
        if dir.exists() {
            // Left by an interrupted install of this very certificate, unreadable.
            std::fs::remove_dir_all(&dir).map_err(io("remove", &dir))?;
        }
        std::fs::rename(&temporary, &dir).map_err(io("rename", &temporary))?;
        atomic::sync_dir(&parent).map_err(io("sync", &parent))?;
        Ok(installed)
    }

    fn read(&self, dir: &Path) -> Result<Installed, StoreError> {
        let chain_path = dir.join(CHAIN);
        let key_path = dir.join(KEY);
        let chain = std::fs::read(&chain_path).map_err(io("read", &chain_path))?;
        let key = std::fs::read_to_string(&key_path).map_err(io("read", &key_path))?;
        let checked = check(&chain, &key)?;
        let rel = dir
            .strip_prefix(&self.root)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Ok(Installed {
            names: checked.names,
            dir: rel,
            not_before: checked.not_before,
            not_after: checked.not_after,
            leaf: Arc::from(checked.leaf),
        })
    }

    /// Every certificate on disk, by what it is filed under: each the newest (latest expiry)
    /// whole and matching one. Removes what an interrupted install left (`.tmp-` directories)
    /// and logs (keeps) what does not read.
    pub fn scan(&self) -> Result<BTreeMap<CertKey, Vec<Installed>>, StoreError> {
        let mut found: BTreeMap<CertKey, Vec<Installed>> = BTreeMap::new();
        for (kind, make) in [
            ("node", CertKey::Node as fn(DomainName) -> CertKey),
            ("domain", CertKey::Domain),
        ] {
            let dir = self.base().join(kind);
            for entry in atomic::read_dir(&dir).map_err(io("read", &dir))? {
                let file_name = entry.file_name();
                let Some(name) = file_name
                    .to_str()
                    .and_then(|n| DomainName::parse(n).ok().filter(|d| d.as_str() == n))
                else {
                    continue;
                };
                let key = make(name);
                let cert_dir = entry.path();
                for version in atomic::read_dir(&cert_dir).map_err(io("read", &cert_dir))? {
                    let path = version.path();
                    let temporary = version
                        .file_name()
                        .to_str()
                        .is_some_and(|n| n.starts_with(TEMPORARY));
                    if temporary {
                        tracing::info!(path = %path.display(), "certificate: removing what an interrupted install left");
                        std::fs::remove_dir_all(&path).map_err(io("remove", &path))?;
                        continue;
                    }
                    // Only the store's own names (16 hex digits) reach a daemon's configuration.
                    let ours = version.file_name().to_str().is_some_and(|n| {
                        n.len() == 16
                            && n.bytes()
                                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    });
                    if !ours {
                        tracing::warn!(path = %path.display(), "certificate: not a version of ours, left out");
                        continue;
                    }
                    match self.read(&path) {
                        Ok(installed) => found.entry(key.clone()).or_default().push(installed),
                        Err(err) => {
                            tracing::warn!(path = %path.display(), error = %err, "certificate: not usable, left out")
                        }
                    }
                }
            }
        }
        for versions in found.values_mut() {
            // Newest first.
            versions.sort_by_key(|i| std::cmp::Reverse((i.not_after, i.not_before)));
        }
        Ok(found)
    }

    /// Removes every version of `cert` but those in `keep` (directories, relative to the root).
    pub fn prune(&self, cert: &CertKey, keep: &[&str]) -> Result<(), StoreError> {
        let dir = self.base().join(cert.dir());
        for version in atomic::read_dir(&dir).map_err(io("read", &dir))? {
            let path = version.path();
            let rel = format!(
                "{CERTS}/{}/{}",
                cert.dir(),
                version.file_name().to_string_lossy()
            );
            if !keep.contains(&rel.as_str()) {
                std::fs::remove_dir_all(&path).map_err(io("remove", &path))?;
            }
        }
        Ok(())
    }

    /// Removes every version of `cert` (its domain left the node: no key stays behind).
    pub fn remove(&self, cert: &CertKey) -> Result<(), StoreError> {
        let dir = self.base().join(cert.dir());
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", &dir)(e)),
            _ => Ok(()),
        }
    }

    /// What is filed in the store, whether or not it is still wanted: the directories' names
    /// only (nothing is read or parsed; the manager asks after every applied document).
    pub fn keys(&self) -> Result<Vec<CertKey>, StoreError> {
        let mut keys = Vec::new();
        for (kind, make) in [
            ("node", CertKey::Node as fn(DomainName) -> CertKey),
            ("domain", CertKey::Domain),
        ] {
            let dir = self.base().join(kind);
            for entry in atomic::read_dir(&dir).map_err(io("read", &dir))? {
                let file_name = entry.file_name();
                if let Some(name) = file_name
                    .to_str()
                    .and_then(|n| DomainName::parse(n).ok().filter(|d| d.as_str() == n))
                {
                    keys.push(make(name));
                }
            }
        }
        Ok(keys)
    }
}

fn hex_prefix(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// The permission bits of `path`.
    fn mode(path: &Path) -> std::io::Result<u32> {
        Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
    }

    pub fn name(s: &str) -> DomainName {
        DomainName::parse(s).unwrap()
    }

    /// A self-signed certificate for `names`, valid from `from` to `until` (Unix seconds),
    /// and its key.
    pub fn self_signed(names: &[&str], from: i64, until: i64) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .unwrap();
        params.not_before = time::OffsetDateTime::from_unix_timestamp(from).unwrap();
        params.not_after = time::OffsetDateTime::from_unix_timestamp(until).unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn installs_reads_back_and_keeps_keys_private() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::new(root.path());
        let key = CertKey::Domain(name("a.test"));
        let (chain, pem) = self_signed(&["a.test", "www.a.test"], NOW - 10, NOW + 900);
        let installed = store.install(&key, chain.as_bytes(), &pem, NOW).unwrap();
        assert_eq!(installed.names, [name("a.test"), name("www.a.test")]);
        assert!(installed
            .dir
            .starts_with("var/lib/ruche/certs/domain/a.test/"));
        assert_eq!(installed.renew_at(), NOW - 10 + 910 * 2 / 3);
        let scanned = store.scan().unwrap();
        assert_eq!(scanned[&key], std::slice::from_ref(&installed));
        assert_eq!(mode(&root.path().join(installed.key())).unwrap(), 0o600);
        assert_eq!(mode(&root.path().join(installed.chain())).unwrap(), 0o600);
        assert_eq!(mode(&root.path().join(&installed.dir)).unwrap(), 0o700);
        // Again: the same directory, nothing rewritten.
        assert_eq!(
            store.install(&key, chain.as_bytes(), &pem, NOW).unwrap(),
            installed
        );
    }

    #[test]
    fn refuses_a_key_that_is_not_the_certificates_an_expired_one_and_garbage() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::new(root.path());
        let key = CertKey::Node(name("h.test"));
        let (chain, _) = self_signed(&["h.test"], NOW - 10, NOW + 900);
        let (_, other) = self_signed(&["h.test"], NOW - 10, NOW + 900);
        let err = store
            .install(&key, chain.as_bytes(), &other, NOW)
            .unwrap_err();
        assert!(err.to_string().contains("not the certificate's"), "{err}");
        assert!(!err.to_string().contains("PRIVATE"), "{err}");
        let (old, old_key) = self_signed(&["h.test"], NOW - 1000, NOW - 1);
        assert!(store.install(&key, old.as_bytes(), &old_key, NOW).is_err());
        assert!(store.install(&key, b"junk", &old_key, NOW).is_err());
        assert!(store.scan().unwrap().is_empty());
    }

    #[test]
    fn an_interrupted_install_is_removed_and_the_old_certificate_kept() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::new(root.path());
        let key = CertKey::Domain(name("a.test"));
        let (chain, pem) = self_signed(&["a.test"], NOW - 10, NOW + 900);
        let old = store.install(&key, chain.as_bytes(), &pem, NOW).unwrap();
        // What a kill between the key and the chain leaves.
        let half = root
            .path()
            .join(CERTS)
            .join("domain/a.test/.tmp-0123456789abcdef");
        std::fs::create_dir_all(&half).unwrap();
        std::fs::write(half.join(KEY), "-----BEGIN PRIVATE KEY-----\n").unwrap();
        // And what no install makes is never named.
        let odd = root.path().join(CERTS).join("domain/a.test/x;y");
        std::fs::create_dir_all(&odd).unwrap();
        std::fs::copy(root.path().join(old.chain()), odd.join(CHAIN)).unwrap();
        std::fs::copy(root.path().join(old.key()), odd.join(KEY)).unwrap();
        let scanned = store.scan().unwrap();
        assert_eq!(scanned[&key], [old]);
        assert!(!half.exists());
    }

    #[test]
    fn newest_first_prune_and_remove() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::new(root.path());
        let key = CertKey::Domain(name("a.test"));
        let mut made = Vec::new();
        for i in 0..3 {
            let (chain, pem) = self_signed(&["a.test"], NOW - 10, NOW + 900 + i);
            made.push(store.install(&key, chain.as_bytes(), &pem, NOW).unwrap());
        }
        let scanned = store.scan().unwrap();
        let expiries: Vec<i64> = scanned[&key].iter().map(|i| i.not_after).collect();
        assert_eq!(expiries, [NOW + 902, NOW + 901, NOW + 900]);
        assert_eq!(store.keys().unwrap(), std::slice::from_ref(&key));
        store.prune(&key, &[&made[2].dir, &made[1].dir]).unwrap();
        assert_eq!(store.scan().unwrap()[&key].len(), 2);
        store.remove(&key).unwrap();
        assert!(store.scan().unwrap().is_empty());
        assert!(!root.path().join(CERTS).join("domain/a.test").exists());
        store.remove(&key).unwrap();
    }
}
