//! The mail store on disk: one home per mailbox under `var/vmail`, named after the mailbox's id
//! ([`crate::services::dovecot::home`]), never after its address. An address can be taken again by
//! a later mailbox (of the same member or another); an id never is, so nobody finds a former
//! holder's mail.
//!
//! After every complete apply, [`retire_gone`] moves the homes of the mailboxes that apply's
//! delta took away (deleted, or their member purged or moved away) out of every login's reach
//! into `var/vmail/.removed/<name>.<unix seconds>`, without reading the whole store; at the
//! first complete apply after start and hourly, [`retire`] reads the whole store, retires every
//! home no served mailbox names (what a crash between an apply and its sweep left), and deletes
//! what has been in `.removed` longer than the node keeps removed stores (`[mail_store]
//! keep_removed_days` in agent.toml, 7 by default, so an operator can still copy a moved
//! member's mail; 0 deletes at once). A mailbox's home reappears only if the control plane
//! names the same id again, which it never does for another mailbox.
//!
//! Stores made before homes were named after ids (`var/vmail/<domain>/<local part>`) are adopted
//! once, by [`adopt_legacy`], by the mailbox that holds that address when the agent upgrades;
//! whatever is left under those names afterwards is retired like any other.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use protocol::desired::{DesiredState, Tenant};
use protocol::names::ObjectId;

use crate::services::dovecot::{home, VMAIL};

/// Where retired homes wait before they are deleted. Inside the store, so a retirement is a
/// rename on one file system; a mailbox id never starts with `.`, so it is never a home.
pub const REMOVED: &str = "var/vmail/.removed";

/// What [`retire`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Retired {
    /// Homes moved out of the store.
    pub moved: usize,
    /// Retired homes deleted for good.
    pub deleted: usize,
}

/// The ids of every mailbox `desired` serves, whatever the state of its member (a suspended
/// member's or one in its deletion grace period keeps its mail).
pub fn served_mailboxes(desired: &DesiredState) -> BTreeSet<ObjectId> {
    desired
        .tenants
        .iter()
        .flat_map(|t| &t.domains)
        .flat_map(|d| &d.mailboxes)
        .filter_map(|m| m.id.clone())
        .collect()
}

/// The store's top directory, owned by the mail user (Dovecot creates the homes).
pub fn prepare(root: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    let store = root.join(VMAIL);
    std::fs::create_dir_all(&store)?;
    std::os::unix::fs::chown(&store, Some(uid), Some(gid))?;
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o750))
}

/// Renames `var/vmail/<domain>/<local>` to the home of the mailbox that holds that address
/// among `tenants`, for each mailbox whose home does not exist yet. Returns how many were
/// adopted. The agent asks for the members that changed since its last apply (all of them
/// the first time): a mailbox only gets an id, and so a home, in a change.
pub fn adopt_legacy(root: &Path, tenants: &[std::sync::Arc<Tenant>]) -> std::io::Result<usize> {
    let mut adopted = 0;
    for domain in tenants.iter().flat_map(|t| &t.domains) {
        let legacy_domain = root.join(VMAIL).join(domain.name.as_str());
        if !legacy_domain.is_dir() {
            continue;
        }
        for mailbox in &domain.mailboxes {
            let Some(id) = &mailbox.id else { continue };
            let legacy = legacy_domain.join(mailbox.local_part.as_str());
            let target = root.join(home(id));
            if legacy.is_dir() && !target.exists() {
                std::fs::rename(&legacy, &target)?;
                tracing::info!(mailbox = %id, "adopted a mail store named after its address");
                adopted += 1;
            }
        }
    }
    Ok(adopted)
}

/// Moves every entry of the store that is not the home of a mailbox in `served` out of the
/// store, then deletes retired homes older than `keep`. `now` is a parameter so tests need no
/// clock.
pub fn retire(
    root: &Path,
    served: &BTreeSet<ObjectId>,
    now: SystemTime,
    keep: Duration,
) -> std::io::Result<Retired> {
    let mut retired = Retired::default();
    let store = root.join(VMAIL);
    let removed = root.join(REMOVED);
    let stamp = unix_seconds(now);
    for entry in crate::atomic::read_dir(&store)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == ".removed" {
            continue;
        }
        if ObjectId::parse(&name).is_ok_and(|id| served.contains(&id)) {
            continue;
        }
        retire_one(&entry.path(), &name, &removed, stamp, keep)?;
        retired.moved += 1;
    }
    for entry in crate::atomic::read_dir(&removed)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        // An entry whose name carries no time (put there by hand) is left alone.
        let Some(since) = name
            .rsplit_once('.')
            .and_then(|(_, secs)| secs.parse::<u64>().ok())
        else {
            continue;
        };
        if stamp.saturating_sub(since) >= keep.as_secs() {
            remove(&entry.path())?;
            retired.deleted += 1;
        }
    }
    Ok(retired)
}

/// Retires the homes of the mailboxes `gone` only, without reading the whole store: after an
/// apply that removed them. Retired homes past their time wait for the next [`retire`] (at
/// start, and now and then).
pub fn retire_gone(
    root: &Path,
    gone: &BTreeSet<ObjectId>,
    now: SystemTime,
    keep: Duration,
) -> std::io::Result<usize> {
    let removed = root.join(REMOVED);
    let stamp = unix_seconds(now);
    let mut moved = 0;
    for id in gone {
        let path = root.join(home(id));
        if std::fs::symlink_metadata(&path).is_ok() {
            retire_one(&path, id.as_str(), &removed, stamp, keep)?;
            moved += 1;
        }
    }
    Ok(moved)
}

/// Moves the store entry `path` (named `name`) into `removed`, or deletes it when nothing is
/// kept.
fn retire_one(
    path: &Path,
    name: &str,
    removed: &Path,
    stamp: u64,
    keep: Duration,
) -> std::io::Result<()> {
    if keep.is_zero() {
        remove(path)?;
    } else {
        std::fs::create_dir_all(removed)?;
        std::fs::rename(path, removed.join(format!("{name}.{stamp}")))?;
    }
    tracing::info!(
        store = name,
        "retired the mail store of a mailbox that is gone"
    );
    Ok(())
}

fn unix_seconds(now: SystemTime) -> u64 {
    now.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Removes a directory tree (symbolic links inside are removed, never followed) or a file.
fn remove(path: &Path) -> std::io::Result<()> {
    let result = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(err) => Err(err),
    };
    match result {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::desired::{Domain, Mailbox, Tenant};
    use protocol::names::{DomainName, LocalPart};

    const DAY: Duration = Duration::from_secs(86_400);

    fn id(s: &str) -> ObjectId {
        ObjectId::parse(s).unwrap()
    }

    fn desired(mailboxes: &[(&str, &str)]) -> DesiredState {
        DesiredState {
            dns: None,
            schema: 1,
            generation: 1,
            node_id: "n".into(),
            tenants: vec![Tenant {
                member_id: "m".into(),
                active: true,
                domains: vec![Domain {
                    id: Some(id("d1")),
                    name: DomainName::parse("example.org").unwrap(),
                    verified: true,
                    mailboxes: mailboxes
                        .iter()
                        .map(|(mid, local)| Mailbox {
                            id: Some(id(mid)),
                            local_part: LocalPart::parse(local).unwrap(),
                            password_hash: "".into(),
                            quota_bytes: 1,
                            public: false,
                        })
                        .collect(),
                    aliases: vec![],
                    xmpp_accounts: vec![],
                }],
                app_passwords: vec![],
                contact: None,
            }]
            .into_iter()
            .map(std::sync::Arc::new)
            .collect(),
        }
    }

    fn mail(root: &Path, home: &str) {
        let dir = root.join(VMAIL).join(home).join("Maildir/cur");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("1:2,S"),
            "Subject: secret\n\nfor the holder only\n",
        )
        .unwrap();
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn a_gone_mailbox_leaves_the_store_and_is_deleted_once_kept_long_enough() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        mail(root, "mb-stays");
        mail(root, "mb-gone");
        let doc = desired(&[("mb-stays", "alice")]);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let r = retire(root, &served_mailboxes(&doc), t0, 7 * DAY).unwrap();
        assert_eq!(
            r,
            Retired {
                moved: 1,
                deleted: 0
            }
        );
        assert_eq!(names(&root.join(VMAIL)), [".removed", "mb-stays"]);
        assert_eq!(names(&root.join(REMOVED)), ["mb-gone.1800000000"]);
        // A day later it is still kept; a week later it is gone.
        let r = retire(root, &served_mailboxes(&doc), t0 + DAY, 7 * DAY).unwrap();
        assert_eq!(r, Retired::default());
        let r = retire(root, &served_mailboxes(&doc), t0 + 7 * DAY, 7 * DAY).unwrap();
        assert_eq!(
            r,
            Retired {
                moved: 0,
                deleted: 1
            }
        );
        assert!(names(&root.join(REMOVED)).is_empty());
    }

    /// After an apply that removed mailboxes, only their homes are looked at and retired.
    #[test]
    fn the_homes_of_the_mailboxes_gone_are_retired_and_no_other() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        mail(root, "mb1");
        mail(root, "mb2");
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let gone = BTreeSet::from([id("mb1"), id("never-had-a-home")]);
        assert_eq!(retire_gone(root, &gone, t0, 7 * DAY).unwrap(), 1);
        assert!(!root.join(VMAIL).join("mb1").exists());
        assert!(root.join(VMAIL).join("mb2/Maildir/cur/1:2,S").exists());
        assert!(root
            .join(REMOVED)
            .join("mb1.1000000/Maildir/cur/1:2,S")
            .exists());
        // Nothing kept: deleted at once.
        assert_eq!(
            retire_gone(root, &BTreeSet::from([id("mb2")]), t0, Duration::ZERO).unwrap(),
            1
        );
        assert!(!root.join(VMAIL).join("mb2").exists());
        assert!(!root.join(REMOVED).join("mb2.1000000").exists());
    }

    #[test]
    fn with_nothing_kept_a_gone_mailbox_is_deleted_at_once() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        mail(root, "mb-gone");
        let r = retire(root, &BTreeSet::new(), SystemTime::now(), Duration::ZERO).unwrap();
        assert_eq!(r.moved, 1);
        assert!(names(&root.join(VMAIL)).is_empty());
    }

    #[test]
    fn a_store_named_after_an_address_is_adopted_by_its_holder_and_the_rest_retired() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        mail(root, "example.org/alice");
        mail(root, "example.org/former");
        let doc = desired(&[("mb-alice", "alice"), ("mb-new", "former2")]);
        assert_eq!(adopt_legacy(root, &doc.tenants).unwrap(), 1);
        assert!(root
            .join(VMAIL)
            .join("mb-alice/Maildir/cur/1:2,S")
            .is_file());
        let r = retire(
            root,
            &served_mailboxes(&doc),
            SystemTime::now(),
            Duration::ZERO,
        )
        .unwrap();
        // The domain directory, holding only the former holder's mail, is gone.
        assert_eq!(r.moved, 1);
        assert_eq!(names(&root.join(VMAIL)), ["mb-alice"]);
        // Adopting again changes nothing.
        assert_eq!(adopt_legacy(root, &doc.tenants).unwrap(), 0);
    }
}
