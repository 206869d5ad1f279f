//! The `/.well-known/` registry (RFC 8615): which Ruche service answers which path, declared
//! once. A node's web front routes each registered path to its owner and answers every other
//! path under `/.well-known/` with 404 itself, so a member's own files (a future `www` folder)
//! can never shadow a registered path, nor add one.
//!
//! Two services can never claim one path: [`REGISTRY`] is checked by the tests below, and
//! [`owner`] finds at most one entry for any path.

/// A service that answers under `/.well-known/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// ACME HTTP-01 challenges (RFC 8555 §8.3), on every host name the node serves.
    Acme,
    /// The MTA-STS policy (RFC 8461 §3.2), on `mta-sts.<domain>`.
    MtaSts,
    /// WebFinger (RFC 7033), on the domain itself.
    WebFinger,
    /// host-meta (RFC 6415), XRD and JSON, on the domain itself.
    HostMeta,
    /// Thunderbird's mail autoconfiguration, on the domain itself.
    Autoconfig,
    /// CalDAV and CardDAV discovery (RFC 6764 §5): redirects to the DAV server.
    CalDav,
    CardDav,
}

/// How an entry matches a request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Exactly this path.
    Exact,
    /// This path followed by `/` and one more segment (a challenge token).
    Directory,
}

/// One registered path: `/.well-known/<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub name: &'static str,
    pub matching: Match,
    pub owner: Owner,
}

const fn entry(name: &'static str, matching: Match, owner: Owner) -> Entry {
    Entry {
        name,
        matching,
        owner,
    }
}

/// ACME HTTP-01 challenges: `acme-challenge/<token>`.
pub const ACME: Entry = entry("acme-challenge", Match::Directory, Owner::Acme);
/// The MTA-STS policy, on `mta-sts.<domain>` only.
pub const MTA_STS: Entry = entry("mta-sts.txt", Match::Exact, Owner::MtaSts);
/// Thunderbird's autoconfiguration, on the domain itself.
pub const AUTOCONFIG: Entry = entry(
    "autoconfig/mail/config-v1.1.xml",
    Match::Exact,
    Owner::Autoconfig,
);

/// WebFinger (RFC 7033), on the domain itself.
pub const WEBFINGER: Entry = entry("webfinger", Match::Exact, Owner::WebFinger);
/// host-meta (RFC 6415), XRD and JSON: where WebFinger is.
pub const HOST_META: Entry = entry("host-meta", Match::Exact, Owner::HostMeta);
pub const HOST_META_JSON: Entry = entry("host-meta.json", Match::Exact, Owner::HostMeta);

/// Thunderbird's autoconfiguration on its own host, `autoconfig.<domain>` (the document of
/// [`AUTOCONFIG`]). Outside `/.well-known/`, so not in the registry (RFC 8615 covers only that
/// prefix): the web front answers it on that host alone, where it serves nothing else.
pub const AUTOCONFIG_HOST_PATH: &str = "/mail/config-v1.1.xml";
/// Outlook's autodiscover (its 2006 response schema), on `autodiscover.<domain>` alone. Not in
/// the registry for the same reason.
pub const AUTODISCOVER_PATH: &str = "/autodiscover/autodiscover.xml";

/// Every path Ruche answers under `/.well-known/`. Names are lowercase, made of `[a-z0-9.-]`
/// and `/`, never empty, never ending in `/`.
pub const REGISTRY: &[Entry] = &[
    ACME,
    MTA_STS,
    WEBFINGER,
    HOST_META,
    HOST_META_JSON,
    AUTOCONFIG,
    entry("caldav", Match::Exact, Owner::CalDav),
    entry("carddav", Match::Exact, Owner::CardDav),
];

/// The prefix of every registered path.
pub const PREFIX: &str = "/.well-known/";

impl Entry {
    /// The path a request names: `/.well-known/<name>`.
    pub fn path(&self) -> String {
        format!("{PREFIX}{}", self.name)
    }

    fn matches(&self, rest: &str) -> bool {
        match self.matching {
            Match::Exact => rest == self.name,
            Match::Directory => rest
                .strip_prefix(self.name)
                .and_then(|r| r.strip_prefix('/'))
                .is_some_and(|token| !token.is_empty() && !token.contains('/')),
        }
    }
}

/// The entry that answers `path` (a request's path, without its query), if any. `None` for a
/// path outside `/.well-known/` and for an unregistered one.
pub fn owner(path: &str) -> Option<&'static Entry> {
    let rest = path.strip_prefix(PREFIX)?;
    REGISTRY.iter().find(|e| e.matches(rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_plain_and_unique() {
        for e in REGISTRY {
            assert!(!e.name.is_empty() && !e.name.ends_with('/') && !e.name.starts_with('/'));
            assert!(
                e.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"./-".contains(&b)),
                "{}",
                e.name
            );
            assert!(
                !e.name.contains("..") && !e.name.contains("//"),
                "{}",
                e.name
            );
        }
        for (i, a) in REGISTRY.iter().enumerate() {
            for b in &REGISTRY[i + 1..] {
                assert_ne!(a.name, b.name, "two entries for one name");
            }
        }
    }

    /// No path can be claimed by two services: no entry's paths overlap another's (a
    /// directory's paths are its name, a slash and one segment).
    #[test]
    fn two_services_never_claim_one_path() {
        for a in REGISTRY {
            for b in REGISTRY {
                if a == b {
                    continue;
                }
                let overlap = match (a.matching, b.matching) {
                    (Match::Exact, Match::Exact) => a.name == b.name,
                    (Match::Directory, Match::Exact) => b.matches_as(a),
                    (Match::Exact, Match::Directory) => a.matches_as(b),
                    (Match::Directory, Match::Directory) => a.name == b.name,
                };
                assert!(!overlap, "{} and {} claim one path", a.name, b.name);
            }
        }
    }

    impl Entry {
        /// Whether this exact entry's path is one of `dir`'s.
        fn matches_as(&self, dir: &Entry) -> bool {
            dir.matches(self.name)
        }
    }

    #[test]
    fn each_path_finds_its_owner() {
        assert_eq!(
            owner("/.well-known/mta-sts.txt").map(|e| e.owner),
            Some(Owner::MtaSts)
        );
        assert_eq!(
            owner("/.well-known/acme-challenge/abc_DEF-1").map(|e| e.owner),
            Some(Owner::Acme)
        );
        assert_eq!(owner("/.well-known/acme-challenge/"), None);
        assert_eq!(owner("/.well-known/acme-challenge"), None);
        assert_eq!(owner("/.well-known/acme-challenge/a/b"), None);
        assert_eq!(owner("/.well-known/webfinger/x"), None);
        assert_eq!(owner("/.well-known/unknown"), None);
        assert_eq!(owner("/webfinger"), None);
        // The host paths outside the registry.
        for path in [AUTOCONFIG_HOST_PATH, AUTODISCOVER_PATH] {
            assert!(path.starts_with('/') && !path.starts_with(PREFIX), "{path}");
            assert_eq!(owner(path), None);
        }
        assert_eq!(MTA_STS.path(), "/.well-known/mta-sts.txt");
        assert_eq!(
            AUTOCONFIG.path(),
            "/.well-known/autoconfig/mail/config-v1.1.xml"
        );
        for e in REGISTRY {
            if e.matching == Match::Exact {
                assert_eq!(owner(&e.path()), Some(e));
            }
        }
    }

    proptest! {
        /// Whatever the path, at most one entry answers it.
        #[test]
        fn at_most_one_owner(rest in "[a-z0-9./_-]{0,40}") {
            let path = format!("{PREFIX}{rest}");
            let n = REGISTRY.iter().filter(|e| e.matches(&rest)).count();
            prop_assert!(n <= 1, "{path}");
        }
    }
}
