//! Plans and the limits they put on a member, checked on the server for every creation.

use std::fmt;

use serde::Serialize;

use super::ids::PlanId;
use web::{Counted, Reason};

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub id: PlanId,
    pub name: String,
    pub limits: Limits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    pub max_domains: i64,
    pub max_mailboxes: i64,
    pub max_aliases: i64,
    pub max_xmpp_accounts: i64,
    pub storage_bytes: i64,
}

impl Limits {
    /// What a member without a plan may create: nothing.
    pub const NONE: Limits = Limits {
        max_domains: 0,
        max_mailboxes: 0,
        max_aliases: 0,
        max_xmpp_accounts: 0,
        storage_bytes: 0,
    };
}

/// What a member currently holds. `storage_bytes` is the storage promised to their mailboxes
/// (the sum of mailbox quotas); what the nodes measure in use is reported separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub domains: i64,
    pub mailboxes: i64,
    pub aliases: i64,
    pub xmpp_accounts: i64,
    pub storage_bytes: i64,
    /// What the mailboxes store, as their node last measured it; null until it has measured any.
    pub stored_bytes: Option<i64>,
}

/// The kinds of thing a plan limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Domain,
    Mailbox,
    Alias,
    XmppAccount,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LimitError {
    Count {
        resource: Resource,
        max: i64,
        used: i64,
    },
    /// A cap of the platform's, whatever the plan.
    AppPasswords { max: i64 },
    Storage {
        max_mib: i64,
        used_mib: i64,
        asked_mib: i64,
    },
}

impl Limits {
    /// May a member with `usage` create one more `resource` (with `extra_storage` bytes)?
    pub fn check(
        &self,
        usage: &Usage,
        resource: Resource,
        extra_storage: i64,
    ) -> Result<(), LimitError> {
        let (max, used) = match resource {
            Resource::Domain => (self.max_domains, usage.domains),
            Resource::Mailbox => (self.max_mailboxes, usage.mailboxes),
            Resource::Alias => (self.max_aliases, usage.aliases),
            Resource::XmppAccount => (self.max_xmpp_accounts, usage.xmpp_accounts),
        };
        if used >= max {
            return Err(LimitError::Count {
                resource,
                max,
                used,
            });
        }
        if extra_storage > 0
            && usage.storage_bytes.saturating_add(extra_storage) > self.storage_bytes
        {
            const MIB: i64 = super::input::MIB;
            return Err(LimitError::Storage {
                max_mib: self.storage_bytes / MIB,
                used_mib: usage.storage_bytes / MIB,
                asked_mib: extra_storage / MIB,
            });
        }
        Ok(())
    }
}

impl From<LimitError> for Reason {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::Count {
                resource,
                max,
                used,
            } => Reason::TooMany {
                what: match resource {
                    Resource::Domain => Counted::Domains,
                    Resource::Mailbox => Counted::Mailboxes,
                    Resource::Alias => Counted::Aliases,
                    Resource::XmppAccount => Counted::XmppAccounts,
                },
                max,
                used,
            },
            LimitError::AppPasswords { max } => Reason::AppPasswords { max },
            LimitError::Storage {
                max_mib,
                used_mib,
                asked_mib,
            } => Reason::Storage {
                max_mib,
                used_mib,
                asked_mib,
            },
        }
    }
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Reason::from(*self).fmt(f)
    }
}

impl std::error::Error for LimitError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_speak_french() {
        let t = web::Tr::new(web::Lang::Fr).reason(
            &LimitError::Count {
                resource: Resource::Mailbox,
                max: 2,
                used: 2,
            }
            .into(),
        );
        assert!(t.contains("2 boîtes aux lettres"), "{t}");
    }
    use proptest::prelude::*;

    const LIMITS: Limits = Limits {
        max_domains: 1,
        max_mailboxes: 2,
        max_aliases: 0,
        max_xmpp_accounts: 1,
        storage_bytes: 100,
    };

    #[test]
    fn counts_and_storage_are_enforced() {
        let usage = Usage {
            domains: 1,
            mailboxes: 1,
            storage_bytes: 60,
            ..Usage::default()
        };
        assert!(LIMITS.check(&usage, Resource::Domain, 0).is_err());
        assert!(LIMITS.check(&usage, Resource::Alias, 0).is_err());
        assert!(LIMITS.check(&usage, Resource::Mailbox, 40).is_ok());
        assert!(matches!(
            LIMITS.check(&usage, Resource::Mailbox, 41),
            Err(LimitError::Storage { .. })
        ));
        assert!(Limits::NONE
            .check(&Usage::default(), Resource::XmppAccount, 0)
            .is_err());
    }

    proptest! {
        /// Whatever the numbers, an accepted creation never takes usage past the limit.
        #[test]
        fn accepted_never_exceeds(max in 0i64..50, used in 0i64..60, storage in 0i64..1000, used_storage in 0i64..1000, extra in 0i64..1000) {
            let limits = Limits { max_mailboxes: max, storage_bytes: storage, ..Limits::NONE };
            let usage = Usage { mailboxes: used, storage_bytes: used_storage, ..Usage::default() };
            if limits.check(&usage, Resource::Mailbox, extra).is_ok() {
                prop_assert!(used < max);
                prop_assert!(extra == 0 || used_storage + extra <= storage);
            }
        }
    }
}
