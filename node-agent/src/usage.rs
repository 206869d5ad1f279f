//! How much each mailbox stores: the messages in its Maildir (every folder's `cur` and `new`),
//! counted by walking the mail store. Run on a blocking thread, every few heartbeats.

use std::path::Path;

use protocol::desired::DesiredState;
use protocol::names::EmailAddress;
use protocol::node::MailboxUsage;

/// The mail store under the layout's root: `<mailbox id>/Maildir`.
pub const MAIL_STORE: &str = crate::services::dovecot::VMAIL;

/// The usage of every mailbox of an active member in `desired`. A mailbox never delivered to has
/// no directory yet and uses nothing.
pub fn measure(root: &Path, desired: &DesiredState) -> Vec<MailboxUsage> {
    let mut usage = Vec::new();
    for tenant in desired.tenants.iter().filter(|t| t.active) {
        for domain in &tenant.domains {
            for mailbox in &domain.mailboxes {
                let Ok(address) = EmailAddress::new(&mailbox.local_part, &domain.name) else {
                    continue;
                };
                let Some(id) = &mailbox.id else {
                    continue;
                };
                let maildir = root
                    .join(crate::services::dovecot::home(id))
                    .join("Maildir");
                let (bytes, messages) = maildir_size(&maildir);
                usage.push(MailboxUsage {
                    address,
                    bytes,
                    messages,
                });
            }
        }
    }
    usage
}

/// A digest of a measurement, to tell whether it changed without keeping the last one.
pub fn digest(usage: &[MailboxUsage]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for u in usage {
        u.address.as_str().hash(&mut hasher);
        u.bytes.hash(&mut hasher);
        u.messages.hash(&mut hasher);
    }
    hasher.finish()
}

/// Bytes and count of the messages in a Maildir and its folders (`.Folder/cur`, …).
fn maildir_size(maildir: &Path) -> (u64, u64) {
    let mut bytes = 0;
    let mut messages = 0;
    let mut folders = vec![maildir.to_owned()];
    if let Ok(entries) = std::fs::read_dir(maildir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') && entry.path().is_dir() {
                folders.push(entry.path());
            }
        }
    }
    for folder in folders {
        for sub in ["cur", "new"] {
            let Ok(entries) = std::fs::read_dir(folder.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                if let Ok(meta) = entry.metadata() {
                    if meta.is_file() {
                        bytes += meta.len();
                        messages += 1;
                    }
                }
            }
        }
    }
    (bytes, messages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::desired::{Domain, Mailbox, Tenant};
    use protocol::names::{DomainName, LocalPart, ObjectId};

    #[test]
    fn counts_messages_in_every_folder_and_nothing_else() {
        let root = tempfile::tempdir().unwrap();
        let maildir = root.path().join("var/vmail/mb-alice/Maildir");
        for (dir, name, size) in [
            ("cur", "1:2,S", 100),
            ("new", "2", 50),
            (".Sent/cur", "3:2,S", 25),
            ("tmp", "4", 1000),
        ] {
            std::fs::create_dir_all(maildir.join(dir)).unwrap();
            std::fs::write(maildir.join(dir).join(name), vec![b'x'; size]).unwrap();
        }
        std::fs::write(maildir.join("dovecot.index"), vec![0; 500]).unwrap();
        let mailbox = |local: &str| Mailbox {
            id: Some(ObjectId::parse(&format!("mb-{local}")).unwrap()),
            local_part: LocalPart::parse(local).unwrap(),
            password_hash: "".into(),
            quota_bytes: 1000,
            public: false,
        };
        let desired = DesiredState {
            dns: None,
            schema: 1,
            generation: 1,
            node_id: "n".into(),
            tenants: vec![Tenant {
                member_id: "m".into(),
                active: true,
                domains: vec![Domain {
                    id: Some(ObjectId::parse("d1").unwrap()),
                    name: DomainName::parse("example.org").unwrap(),
                    verified: true,
                    mailboxes: vec![mailbox("alice"), mailbox("bob")],
                    aliases: vec![],
                    xmpp_accounts: vec![],
                }],
                app_passwords: vec![],
                contact: None,
            }]
            .into_iter()
            .map(std::sync::Arc::new)
            .collect(),
        };
        let usage = measure(root.path(), &desired);
        assert_eq!(usage.len(), 2);
        assert_eq!(usage[0].address.as_str(), "alice@example.org");
        assert_eq!((usage[0].bytes, usage[0].messages), (175, 3));
        assert_eq!((usage[1].bytes, usage[1].messages), (0, 0));

        // The digest tells a changed measurement from the same one measured again.
        assert_eq!(digest(&usage), digest(&measure(root.path(), &desired)));
        std::fs::write(maildir.join("new").join("5"), b"x").unwrap();
        let grown = measure(root.path(), &desired);
        assert_eq!(grown[0].bytes, 176);
        assert_ne!(digest(&usage), digest(&grown));
        assert_ne!(digest(&usage), digest(&usage[..1]));
    }
}
