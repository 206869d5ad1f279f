//! Who serves a node's zones, as names: the node itself (primary), the nodes assigned as its
//! secondaries, and every external secondary. Names are derived, never stored: node N is
//! `ns<N>.<platform domain>` and produces the catalog `catalog.ns<N>.<platform domain>`.
//! Reading who serves what is the store's (`db::topology`).

use std::fmt;
use std::net::SocketAddr;

use protocol::names::{DomainName, NameError};

use super::ids::NodeId;

/// A name built from the platform domain fails to parse only when the platform domain is so long
/// that the prefix pushes it past 253 characters: a configuration error worth saying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformTooLong(pub NameError);

impl fmt::Display for PlatformTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the platform domain is too long to build the name server names: {}",
            self.0
        )
    }
}

impl std::error::Error for PlatformTooLong {}

/// Node `number`'s name server name.
pub fn nameserver(platform: &DomainName, number: i32) -> Result<DomainName, PlatformTooLong> {
    derived(&format!("ns{number}.{platform}"))
}

/// The catalog zone node `number` produces (RFC 9432).
pub fn catalog(platform: &DomainName, number: i32) -> Result<DomainName, PlatformTooLong> {
    derived(&format!("catalog.ns{number}.{platform}"))
}

fn derived(name: &str) -> Result<DomainName, PlatformTooLong> {
    DomainName::parse(name).map_err(PlatformTooLong)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    Secondary,
    External,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Secondary => "secondary",
            Role::External => "external",
        }
    }
}

/// One server of a node's zones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub nameserver: DomainName,
    /// Where it answers; `None` for a node that has not reported its name server yet.
    pub address: Option<SocketAddr>,
    pub role: Role,
    /// The node, for the primary and node secondaries.
    pub node_id: Option<NodeId>,
    /// A node secondary's state: `pending`, `active` or `retiring`.
    pub state: Option<String>,
}

impl Server {
    /// Whether it is in the zones' NS records: the primary, active secondaries, externals.
    pub fn in_ns_set(&self) -> bool {
        match self.role {
            Role::Primary | Role::External => true,
            Role::Secondary => self.state.as_deref() == Some("active"),
        }
    }
}

/// An external secondary, as stored (every field was parsed before it was stored). Its keys,
/// one per node, are in `dns_external_keys` (`db::tsig_keys`).
#[derive(Debug, Clone)]
pub struct External {
    pub id: uuid::Uuid,
    pub nameserver: DomainName,
    pub address: SocketAddr,
}

/// A node's reported address; one that does not parse is treated as not reported (the node API
/// parsed it before storing it, so this only happens if the row was edited by hand).
pub fn address(stored: Option<&str>) -> Option<SocketAddr> {
    stored.and_then(|s| s.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derive_from_the_platform_domain() {
        let platform = DomainName::parse("collective.example").unwrap();
        assert_eq!(
            nameserver(&platform, 3).unwrap().as_str(),
            "ns3.collective.example"
        );
        assert_eq!(
            catalog(&platform, 3).unwrap().as_str(),
            "catalog.ns3.collective.example"
        );
        let labels = vec!["a".repeat(60); 4].join(".");
        let long = DomainName::parse(&format!("{labels}.example")).unwrap();
        assert!(catalog(&long, 1).is_err());
    }

    #[test]
    fn only_active_secondaries_are_in_the_ns_set() {
        let server = |role, state: Option<&str>| Server {
            nameserver: DomainName::parse("ns1.example.org").unwrap(),
            address: None,
            role,
            node_id: None,
            state: state.map(str::to_owned),
        };
        assert!(server(Role::Primary, None).in_ns_set());
        assert!(server(Role::External, None).in_ns_set());
        assert!(server(Role::Secondary, Some("active")).in_ns_set());
        assert!(!server(Role::Secondary, Some("pending")).in_ns_set());
        assert!(!server(Role::Secondary, Some("retiring")).in_ns_set());
        assert_eq!(address(Some("127.0.0.1:53")), "127.0.0.1:53".parse().ok());
        assert_eq!(address(Some("nonsense")), None);
    }
}
