//! Which domain names a member may claim. A claim is refused when the name is the collective's
//! platform domain (named at setup) or under it, or under a domain another member holds,
//! pending or verified. An unverified claim lapses after `CLAIM_DAYS`, so nobody can squat a
//! name they cannot prove.

use super::text::{Describe, Text};

/// Days an unverified domain is kept before the housekeeping job deletes it.
pub const CLAIM_DAYS: i64 = 7;

/// Why a name cannot be claimed (beyond "taken", which the unique constraint answers the same
/// way whoever holds the name and whatever its state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimRefusal {
    /// The platform domain or a name under it: the collective's own mail and name servers.
    PlatformDomain,
    /// A name under a domain another member holds.
    UnderAnotherMember,
}

impl Describe for ClaimRefusal {
    fn describe(&self) -> Text {
        match self {
            ClaimRefusal::PlatformDomain => Text::new(
                "this is the collective's platform domain, or a name under it; it cannot be added",
                "c’est le domaine de la plateforme du collectif, ou un nom sous celui-ci\u{a0}; il ne peut pas être ajouté",
            ),
            ClaimRefusal::UnderAnotherMember => Text::new(
                "a domain above this name is registered in this collective by another member",
                "un domaine au-dessus de ce nom est enregistré dans ce collectif par un autre membre",
            ),
        }
    }
}

/// Whether `name` is `parent` or a name under it (both in the canonical ASCII form of
/// `DomainName`). `aa.test` is not under `a.test`.
pub fn at_or_under(name: &str, parent: &str) -> bool {
    name == parent
        || name
            .strip_suffix(parent)
            .is_some_and(|head| head.ends_with('.') && head.len() > 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn under() {
        assert!(at_or_under("a.test", "a.test"));
        assert!(at_or_under("mail.a.test", "a.test"));
        assert!(at_or_under("x.y.a.test", "a.test"));
        assert!(!at_or_under("aa.test", "a.test"));
        assert!(!at_or_under("a.test", "mail.a.test"));
        assert!(!at_or_under(".a.test", "a.test"));
        assert!(!at_or_under("test", "a.test"));
    }

    proptest! {
        #[test]
        fn under_means_a_label_boundary(label in "[a-z0-9-]{1,10}", parent in "[a-z]{1,5}\\.[a-z]{2,4}", other in "[a-z0-9.-]{0,20}") {
            let child = format!("{label}.{parent}");
            prop_assert!(at_or_under(&child, &parent));
            prop_assert!(at_or_under(&parent, &parent));
            // Gluing without a dot is never "under".
            let glued = format!("{label}{parent}");
            prop_assert!(!at_or_under(&glued, &parent));
            let dotted = format!(".{parent}");
            if at_or_under(&other, &parent) {
                prop_assert!(other == parent || other.ends_with(&dotted));
            }
        }
    }
}
