//! Who serves a node's zones: the node itself (primary), the nodes assigned as its secondaries
//! (`dns_secondaries`), and every external secondary. Names are derived, never stored: node N is
//! `ns<N>.<platform domain>` and produces the catalog `catalog.ns<N>.<platform domain>`.

use std::net::SocketAddr;

use protocol::names::DomainName;
use sqlx::PgConnection;

use crate::config::DnsConfig;
use crate::error::{Error, Result};
use crate::model::ids::NodeId;

/// Node `number`'s name server name.
pub fn nameserver(config: &DnsConfig, number: i32) -> Result<DomainName> {
    derived(&format!("ns{number}.{}", config.platform_domain))
}

/// The catalog zone node `number` produces (RFC 9432).
pub fn catalog(config: &DnsConfig, number: i32) -> Result<DomainName> {
    derived(&format!("catalog.ns{number}.{}", config.platform_domain))
}

/// A name built from the platform domain can only fail to parse if the platform domain is so
/// long that the prefix pushes it past 253 characters: a configuration error worth saying.
fn derived(name: &str) -> Result<DomainName> {
    DomainName::parse(name).map_err(|e| {
        Error::Internal(anyhow::anyhow!(
            "[dns] platform_domain is too long to build the name server names: {e}"
        ))
    })
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

/// Every server of `primary`'s zones: the primary first, then its node secondaries in name-server
/// order (every state: pending and retiring ones serve too), then the external secondaries.
/// One query: pages showing a domain's DNS ask for this on every request.
pub async fn servers_of_node(
    conn: &mut PgConnection,
    config: &DnsConfig,
    primary: NodeId,
) -> Result<Vec<Server>> {
    let rows = sqlx::query!(
        r#"select 0 as "part!", n.id as "node_id?", n.ns_number as "ns_number?",
                  n.dns_address as "address?", null::text as "state?", null::text as "nameserver?"
           from nodes n where n.id = $1
           union all
           select 1, n.id, n.ns_number, n.dns_address, s.state, null
           from dns_secondaries s join nodes n on n.id = s.secondary_node_id
           where s.primary_node_id = $1
           union all
           select 2, null, null, e.address, null, e.nameserver
           from dns_external_secondaries e
           order by 1, 3, 6"#,
        primary.0
    )
    .fetch_all(conn)
    .await?;
    if rows.first().map(|r| r.part) != Some(0) {
        return Err(Error::NotFound);
    }
    let mut servers = Vec::with_capacity(rows.len());
    for r in rows {
        let number = || {
            r.ns_number
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("a node without ns_number")))
        };
        servers.push(match r.part {
            0 => Server {
                nameserver: nameserver(config, number()?)?,
                address: address(r.address.as_deref()),
                role: Role::Primary,
                node_id: Some(primary),
                state: None,
            },
            1 => Server {
                nameserver: nameserver(config, number()?)?,
                address: address(r.address.as_deref()),
                role: Role::Secondary,
                node_id: r.node_id.map(NodeId),
                state: r.state,
            },
            _ => Server {
                nameserver: reparse(
                    "nameserver",
                    DomainName::parse(r.nameserver.as_deref().unwrap_or_default()),
                )?,
                address: Some(reparse(
                    "address",
                    r.address
                        .as_deref()
                        .unwrap_or_default()
                        .parse::<SocketAddr>(),
                )?),
                role: Role::External,
                node_id: None,
                state: None,
            },
        });
    }
    Ok(servers)
}

/// The NS records of `primary`'s zones.
pub async fn zone_nameservers(
    conn: &mut PgConnection,
    config: &DnsConfig,
    primary: NodeId,
) -> Result<Vec<DomainName>> {
    Ok(servers_of_node(conn, config, primary)
        .await?
        .into_iter()
        .filter(Server::in_ns_set)
        .map(|s| s.nameserver)
        .collect())
}

/// The NS records of a node's zones, from its name server number, its active secondaries'
/// numbers and the external secondaries' names (each in order): what [`zone_nameservers`]
/// reads, for a caller that read these in its own query.
pub fn ns_set(
    config: &DnsConfig,
    primary: i32,
    active_secondaries: &[i32],
    externals: &[String],
) -> Result<Vec<DomainName>> {
    let mut names = Vec::with_capacity(1 + active_secondaries.len() + externals.len());
    names.push(nameserver(config, primary)?);
    for n in active_secondaries {
        names.push(nameserver(config, *n)?);
    }
    for e in externals {
        names.push(reparse("nameserver", DomainName::parse(e))?);
    }
    Ok(names)
}

/// An external secondary, as stored (every field was parsed before it was stored). Its keys,
/// one per node, are in `dns_external_keys` ([`super::keys`]).
#[derive(Debug, Clone)]
pub struct External {
    pub id: uuid::Uuid,
    pub nameserver: DomainName,
    pub address: SocketAddr,
}

pub async fn externals(conn: &mut PgConnection) -> Result<Vec<External>> {
    let rows = sqlx::query!(
        "select id, nameserver, address from dns_external_secondaries order by nameserver"
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(External {
                id: r.id,
                nameserver: reparse("nameserver", DomainName::parse(&r.nameserver))?,
                address: reparse("address", r.address.parse::<SocketAddr>())?,
            })
        })
        .collect()
}

/// A node's reported address; one that does not parse is treated as not reported (the node API
/// parsed it before storing it, so this only happens if the row was edited by hand).
pub fn address(stored: Option<&str>) -> Option<SocketAddr> {
    stored.and_then(|s| s.parse().ok())
}

pub(crate) fn reparse<T, E: std::fmt::Display>(
    what: &str,
    r: std::result::Result<T, E>,
) -> Result<T> {
    r.map_err(|e| Error::Internal(anyhow::anyhow!("stored {what} does not parse: {e}")))
}
