//! Who serves a node's zones, as stored: the node itself (primary), the nodes assigned as its
//! secondaries (`dns_secondaries`), and every external secondary. The names are the model's
//! ([`crate::model::nameservers`]): derived, never stored.

use std::net::SocketAddr;

use protocol::names::DomainName;
use sqlx::PgConnection;

use crate::config::Platform;
use crate::error::{Error, Result};
use crate::model::ids::NodeId;
use crate::model::nameservers::{address, nameserver, External, Role, Server};

/// Every server of `primary`'s zones: the primary first, then its node secondaries in name-server
/// order (every state: pending and retiring ones serve too), then the external secondaries.
/// One query: pages showing a domain's DNS ask for this on every request.
pub async fn servers_of_node(
    conn: &mut PgConnection,
    config: &Platform,
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
                nameserver: nameserver(&config.platform_domain, number()?)?,
                address: address(r.address.as_deref()),
                role: Role::Primary,
                node_id: Some(primary),
                state: None,
            },
            1 => Server {
                nameserver: nameserver(&config.platform_domain, number()?)?,
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
    config: &Platform,
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
    config: &Platform,
    primary: i32,
    active_secondaries: &[i32],
    externals: &[String],
) -> Result<Vec<DomainName>> {
    let mut names = Vec::with_capacity(1 + active_secondaries.len() + externals.len());
    names.push(nameserver(&config.platform_domain, primary)?);
    for n in active_secondaries {
        names.push(nameserver(&config.platform_domain, *n)?);
    }
    for e in externals {
        names.push(reparse("nameserver", DomainName::parse(e))?);
    }
    Ok(names)
}

/// Every external secondary, by name.
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

/// A stored value that does not parse: the row was edited by hand (every value is parsed before
/// it is stored).
pub(crate) fn reparse<T, E: std::fmt::Display>(
    what: &str,
    r: std::result::Result<T, E>,
) -> Result<T> {
    r.map_err(|e| Error::Internal(anyhow::anyhow!("stored {what} does not parse: {e}")))
}
