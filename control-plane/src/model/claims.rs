//! Which domain names a member may claim. A claim is refused when the name is the collective's
//! platform domain (named at setup) or under it, or under or above a domain another member
//! holds, pending or verified (above: the web names the node serves for a domain, `www.` and
//! the rest, and its zone's platform records would be that member's names). An unverified claim lapses after `CLAIM_DAYS`, so nobody can squat a
//! name they cannot prove: housekeeping deletes it, audited.
//!
//! The platform's names are refused as invalid input (422), names under or above another
//! member's domain as a conflict (409); a name already taken is the unique constraint's 409, the same whatever
//! its holder's state. Claims serialise on a transaction advisory lock (`db::domains`), so two
//! members cannot claim `a.test` and `x.a.test` at the same moment and both pass.

use web::Reason;

/// Days an unverified domain is kept before the housekeeping job deletes it.
pub const CLAIM_DAYS: i64 = 7;

/// The label under the member's domain that holds the ownership challenge.
pub const CHALLENGE_LABEL: &str = "_ruche-challenge";

/// `_ruche-challenge.<domain>`: the TXT record that proves a claim.
pub fn challenge_name(domain: &str) -> String {
    format!("{CHALLENGE_LABEL}.{domain}")
}

/// Why a name cannot be claimed (beyond "taken", which the unique constraint answers the same
/// way whoever holds the name and whatever its state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimRefusal {
    /// The platform domain or a name under it: the collective's own mail and name servers.
    PlatformDomain,
    /// A name under a domain another member holds.
    UnderAnotherMember,
    /// A name above a domain another member holds: its web names and zone (`www.`, …) would
    /// be that member's names.
    AboveAnotherMember,
}

impl From<ClaimRefusal> for Reason {
    fn from(e: ClaimRefusal) -> Self {
        match e {
            ClaimRefusal::PlatformDomain => Reason::PlatformDomain,
            ClaimRefusal::UnderAnotherMember => Reason::UnderAnotherMember,
            ClaimRefusal::AboveAnotherMember => Reason::AboveAnotherMember,
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

/// What the world showed of one domain in one round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    /// Pending domains only: whether the challenge TXT was seen (`None`: could not ask, or the
    /// domain is active and nothing was asked).
    pub txt_seen: Option<bool>,
    /// For pending domains: whether TXT records exist at the challenge name at all (to tell
    /// "not there" from "another value").
    pub txt_present: bool,
    pub ns_seen: Option<bool>,
    pub ds_seen: Option<bool>,
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
