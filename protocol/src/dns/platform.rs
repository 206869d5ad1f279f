//! The names the platform writes in every member zone, declared once: the control plane refuses
//! member records at them ([`super::platform_owned`]), and the node agent's zone renderer writes
//! the platform's records at them (and at the apex and its own DKIM selectors) and nowhere else.
//! Here, in the crate both depend on, because the control plane cannot depend on the agent.
//!
//! SRV records ([`SRV_NAMES`]) say how each is served: from the node, whose agent takes the
//! port from its layout (the service that listens there declares it), not offered (RFC 6186
//! §3.4: target `.`), or at a fixed port until the service lands on nodes.

/// A and AAAA records of the node's web addresses (besides the apex).
pub const WWW: &str = "www";
/// Mail clients' autoconfiguration host.
pub const AUTOCONFIG: &str = "autoconfig";
/// The MTA-STS policy host (RFC 8461).
pub const MTA_STS_HOST: &str = "mta-sts";
/// Outlook's autodiscover host (it asks `https://autodiscover.<domain>/autodiscover/
/// autodiscover.xml`). No `_autodiscover._tcp` SRV record: Outlook asks that host before any
/// SRV lookup, and a node answers there.
pub const AUTODISCOVER: &str = "autodiscover";
/// TXT: the DMARC policy.
pub const DMARC: &str = "_dmarc";
/// TXT: the MTA-STS policy id.
pub const MTA_STS: &str = "_mta-sts";
/// TXT: where TLS reports go (RFC 8460).
pub const TLS_RPT: &str = "_smtp._tls";
/// TXT: the domain-verification challenge the control plane checks; never in a zone file.
pub const CHALLENGE: &str = "_ruche-challenge";

/// The names holding the node's web addresses.
pub const ADDRESS_NAMES: [&str; 4] = [WWW, AUTOCONFIG, MTA_STS_HOST, AUTODISCOVER];
/// TXT: an ACME DNS-01 challenge (RFC 8555 §8.4), at this label above each name certified,
/// written by the node that serves the zone while the CA checks it.
pub const ACME_CHALLENGE: &str = "_acme-challenge";

/// The web names of a served domain: itself and each of [`ADDRESS_NAMES`] under it, each a name
/// the node answers for on HTTP(S) and certifies. A name too long to exist is left out (the
/// zone leaves it out the same way).
pub fn web_names(domain: &crate::names::DomainName) -> Vec<crate::names::DomainName> {
    let mut names = vec![domain.clone()];
    for host in ADDRESS_NAMES {
        if let Ok(name) = crate::names::DomainName::parse(&format!("{host}.{domain}")) {
            names.push(name);
        }
    }
    names
}

/// Whether `owner` (relative to its zone, `@` for the apex) is where an ACME DNS-01 challenge
/// goes: `_acme-challenge` or `_acme-challenge.<label>…`. Only the node writes there.
pub fn is_acme_challenge(owner: &str) -> bool {
    owner == ACME_CHALLENGE
        || owner
            .strip_prefix(ACME_CHALLENGE)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Where an SRV record's port comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrvPort {
    /// Served by the node: the port is the node's, from the service that serves it.
    Node,
    /// Not served on nodes yet: the port its service will listen on.
    Fixed(u16),
    /// Not offered: port 0, target `.`.
    NotOffered,
}

/// One SRV name (RFC 2782; RFC 6186 for mail, RFC 6764 for CalDAV and CardDAV).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SrvName {
    pub owner: &'static str,
    pub priority: u16,
    pub weight: u16,
    pub port: SrvPort,
    /// A TXT record beside it (RFC 6764's `path=`).
    pub txt: Option<&'static str>,
}

const fn srv(owner: &'static str, weight: u16, port: SrvPort) -> SrvName {
    SrvName {
        owner,
        priority: 0,
        weight,
        port,
        txt: None,
    }
}

pub const SUBMISSION: &str = "_submission._tcp";
pub const SUBMISSIONS: &str = "_submissions._tcp";
pub const IMAPS: &str = "_imaps._tcp";

/// Every SRV name the platform writes.
pub const SRV_NAMES: [SrvName; 12] = [
    srv(SUBMISSION, 1, SrvPort::Node),
    srv(SUBMISSIONS, 1, SrvPort::Node),
    srv("_imap._tcp", 0, SrvPort::NotOffered),
    srv(IMAPS, 1, SrvPort::Node),
    srv("_pop3._tcp", 0, SrvPort::NotOffered),
    srv("_pop3s._tcp", 0, SrvPort::NotOffered),
    srv("_xmpp-client._tcp", 5, SrvPort::Fixed(5222)),
    srv("_xmpp-server._tcp", 5, SrvPort::Fixed(5269)),
    SrvName {
        txt: Some("path=/.well-known/caldav"),
        ..srv("_caldavs._tcp", 1, SrvPort::Fixed(443))
    },
    SrvName {
        txt: Some("path=/.well-known/carddav"),
        ..srv("_carddavs._tcp", 1, SrvPort::Fixed(443))
    },
    srv("_caldav._tcp", 0, SrvPort::NotOffered),
    srv("_carddav._tcp", 0, SrvPort::NotOffered),
];

/// Every name the platform owns below the apex, besides its DKIM selectors
/// ([`super::is_platform_selector`]).
pub fn names() -> impl Iterator<Item = &'static str> {
    ADDRESS_NAMES
        .into_iter()
        .chain([DMARC, MTA_STS, TLS_RPT, CHALLENGE])
        .chain(SRV_NAMES.iter().map(|s| s.owner))
}

#[cfg(test)]
mod tests {
    /// The list as it was written out before it was declared here: no name left or gained.
    #[test]
    fn the_names_are_the_platform_s() {
        let mut names: Vec<&str> = super::names().collect();
        names.sort_unstable();
        let mut expected = vec![
            "www",
            "autoconfig",
            "mta-sts",
            "autodiscover",
            "_dmarc",
            "_mta-sts",
            "_smtp._tls",
            "_submission._tcp",
            "_submissions._tcp",
            "_imap._tcp",
            "_imaps._tcp",
            "_pop3._tcp",
            "_pop3s._tcp",
            "_xmpp-client._tcp",
            "_xmpp-server._tcp",
            "_caldav._tcp",
            "_caldavs._tcp",
            "_carddav._tcp",
            "_carddavs._tcp",
            "_ruche-challenge",
        ];
        expected.sort_unstable();
        assert_eq!(names, expected);
    }
}
