//! The platform's policy over members' records: the (name, type) pairs it writes itself, and
//! records that cannot stand beside each other.
//!
//! [`platform_owned`] refuses records where the platform writes its own (apex MX, A, AAAA and
//! SPF, `_dmarc`, the platform's DKIM selectors, the SRV names, …: [`super::platform`]), and
//! [`conflicts_with`] keeps a CNAME alone at its name. The control plane asks both before it
//! stores a record; the agent's zone renderer asks them again, so no desired state can put a
//! member's record over the platform's. A refusal is a [`Rule`], a value: the web catalogs say
//! it in each language, and its `Display` is the English the API and the logs show.

use super::platform;
use super::records::{Owner, Record, RecordData};

/// Why a member's record cannot be added, though it parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rule {
    #[error("the domain's SPF policy is managed by the platform")]
    SpfIsThePlatforms,
    #[error("a CNAME cannot be at the domain itself")]
    CnameAtApex,
    #[error("this record at the domain itself is managed by the platform")]
    ApexIsThePlatforms,
    #[error("this name is managed by the platform")]
    NameIsThePlatforms,
    #[error("this DKIM selector is the platform's")]
    SelectorIsThePlatforms,
    #[error("a CNAME must be the only record at its name")]
    CnameNotAlone,
    #[error("this name already has a CNAME, which must be alone")]
    NameHasCname,
    #[error("this record already exists")]
    Duplicate,
}

/// What the platform itself writes at `owner`, for a member record of type `kind` to be refused.
///
/// The platform owns: every type at names it manages for mail, web, autoconfiguration and
/// service discovery ([`platform::names`], the list the node agent's zones are written from),
/// except that a member may add TXT records (site verifications) and
/// CAA records at the apex as long as the TXT is not a second SPF policy. Any CNAME at the apex or
/// at a platform name is refused (a CNAME may have no other record beside it, RFC 1034 §3.6.2).
/// DKIM selectors the platform uses (`r` + six digits) are its own; other `_domainkey` selectors
/// are the member's (a mailing service's key).
pub fn platform_owned(owner: &Owner, data: &RecordData) -> Option<Rule> {
    let name = owner.as_str();
    if owner.is_apex() {
        return match data {
            RecordData::Txt(t) if !t.as_str().to_ascii_lowercase().starts_with("v=spf1") => None,
            RecordData::Caa { .. } => None,
            RecordData::Txt(_) => Some(Rule::SpfIsThePlatforms),
            RecordData::Cname(_) => Some(Rule::CnameAtApex),
            _ => Some(Rule::ApexIsThePlatforms),
        };
    }
    if platform::names().any(|n| n == name) || platform::is_acme_challenge(name) {
        return Some(Rule::NameIsThePlatforms);
    }
    if let Some(selector) = name.strip_suffix("._domainkey") {
        if is_platform_selector(selector) {
            return Some(Rule::SelectorIsThePlatforms);
        }
    }
    None
}

/// A DKIM selector either side accepts: one DNS label as RFC 1035 allows it, lowercase
/// (`[a-z0-9]`, inner `-`, 1..=63). The control plane stores only these (its database checks the
/// same expression) and the agent writes only these into rspamd's selector map.
pub fn is_dkim_selector(s: &str) -> bool {
    let b = s.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            b.len() <= 63 && ok(first) && ok(last) && b.iter().all(|c| ok(c) || *c == b'-')
        }
        _ => false,
    }
}

/// The platform's DKIM selectors are `r<yyyymm>`.
pub fn is_platform_selector(selector: &str) -> bool {
    selector.len() == 7
        && selector.starts_with('r')
        && selector[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Refuses `new` if it conflicts with the member's other records in the zone (`existing`, which
/// must not contain `new` itself): a CNAME must be alone at its name (RFC 1034 §3.6.2).
pub fn conflicts_with(new: &Record, existing: &[Record]) -> Option<Rule> {
    let same_name = existing.iter().filter(|r| r.owner == new.owner);
    for other in same_name {
        if matches!(new.data, RecordData::Cname(_)) {
            return Some(Rule::CnameNotAlone);
        }
        if matches!(other.data, RecordData::Cname(_)) {
            return Some(Rule::NameHasCname);
        }
        if other.data == new.data {
            return Some(Rule::Duplicate);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::records::{RecordError, RecordField};

    #[test]
    fn dkim_selectors_are_dns_labels() {
        for ok in [
            "a",
            "s1",
            "ruche2026",
            "ruche-2026",
            "s-1",
            "0",
            &"a".repeat(63),
        ] {
            assert!(is_dkim_selector(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "a.b",
            "a_b",
            "a b",
            "a\"",
            "a\n",
            "a#",
            "é",
            &"a".repeat(64),
        ] {
            assert!(!is_dkim_selector(bad), "{bad:?}");
        }
    }

    fn rec(name: &str, kind: &str, value: &str) -> Result<Record, (RecordField, RecordError)> {
        Record::parse(name, kind, "", value)
    }

    #[test]
    fn acme_challenge_names_are_the_nodes() {
        for owner in [
            "_acme-challenge",
            "_acme-challenge.www",
            "_acme-challenge.mta-sts",
        ] {
            let txt = rec(owner, "TXT", "anything").unwrap();
            assert_eq!(
                platform_owned(&txt.owner, &txt.data),
                Some(Rule::NameIsThePlatforms),
                "{owner}"
            );
        }
        for owner in ["_acme-challengex", "x._acme-challenge", "acme-challenge"] {
            let txt = rec(owner, "TXT", "anything").unwrap();
            assert_eq!(platform_owned(&txt.owner, &txt.data), None, "{owner}");
        }
    }

    #[test]
    fn platform_names_are_refused_but_members_keep_their_own() {
        let r = |n, k, v| rec(n, k, v).unwrap();
        assert!(platform_owned(
            &r("@", "MX", "10 mx.example.org").owner,
            &r("@", "MX", "10 mx.example.org").data
        )
        .is_some());
        assert!(platform_owned(
            &r("@", "CNAME", "x.example.org").owner,
            &r("@", "CNAME", "x.example.org").data
        )
        .is_some());
        let spf = r("@", "TXT", "v=spf1 include:x -all");
        assert!(platform_owned(&spf.owner, &spf.data).is_some());
        let verification = r("@", "TXT", "google-site-verification=abc");
        assert!(platform_owned(&verification.owner, &verification.data).is_none());
        let dmarc = r("_dmarc", "TXT", "v=DMARC1; p=none");
        assert!(platform_owned(&dmarc.owner, &dmarc.data).is_some());
        let ours = r("r202611._domainkey", "TXT", "v=DKIM1; p=x");
        assert!(platform_owned(&ours.owner, &ours.data).is_some());
        let theirs = r("s1._domainkey", "CNAME", "s1.mailer.example");
        assert!(platform_owned(&theirs.owner, &theirs.data).is_none());
        let blog = r("blog", "CNAME", "host.example.net");
        assert!(platform_owned(&blog.owner, &blog.data).is_none());
        let a = r("blog", "A", "192.0.2.1");
        assert!(conflicts_with(&blog, std::slice::from_ref(&a)).is_some());
        assert!(conflicts_with(&a, &[blog]).is_some());
        assert!(conflicts_with(&a, std::slice::from_ref(&a)).is_some());
    }
}
