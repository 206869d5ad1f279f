//! The collective's DNS as the admin sees and runs it: each node's name server and secondaries,
//! the external secondaries, the current faults; the statements that add and remove external
//! secondaries and name a node's operator (the use cases: `services::dns_admin`). Every node's
//! desired state follows by the database triggers (an external secondary changes every node's
//! configuration).

use std::net::SocketAddr;

use protocol::names::DomainName;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;
use web::Reason;

use super::topology;
use crate::config::Platform;
use crate::error::{Error, Result};
use crate::model::ids::NodeId;
use crate::model::nameservers;

#[derive(Debug, Clone)]
pub struct DnsOverview {
    pub nodes: Vec<DnsNode>,
    pub external_secondaries: Vec<ExternalSecondary>,
    /// Every server of every zone that the last check found at fault.
    pub faults: Vec<Fault>,
}

#[derive(Debug, Clone)]
pub struct DnsNode {
    pub id: NodeId,
    pub name: String,
    /// `ns<N>.<platform domain>`.
    pub nameserver: String,
    /// Where its name server answers (`ip:port`), as the node last reported; null before.
    pub address: Option<String>,
    /// The catalog zone it produces: `catalog.ns<N>.<platform domain>`.
    pub catalog: String,
    /// Who runs the machine; secondaries are picked among other operators first.
    pub operator: Option<String>,
    /// The nodes that serve its zones as secondaries.
    pub secondaries: Vec<NodeSecondary>,
}

#[derive(Debug, Clone)]
pub struct NodeSecondary {
    pub nameserver: String,
    /// `pending` (not yet in the NS records), `active` or `retiring` (left them, still serves).
    pub state: String,
}

/// An external secondary and the names of its keys, one per node, without their secrets (each
/// shown once: when made by the admin, or when the admin asks for keys not shown yet).
#[derive(Debug, Clone)]
pub struct ExternalSecondary {
    pub id: Uuid,
    pub nameserver: String,
    pub address: String,
    /// Its key for node N is named `ns<N>.<key_suffix>`.
    pub key_suffix: String,
    pub keys: Vec<ExternalKey>,
}

/// An external secondary's key for one node (never its secret).
#[derive(Debug, Clone)]
pub struct ExternalKey {
    pub node_id: NodeId,
    /// The node's name server: the primary this key transfers from.
    pub nameserver: String,
    pub name: String,
    pub created_at: OffsetDateTime,
    /// False until the admin has seen the secret (a key made for a node that joined later, or
    /// by the upgrade to per-node keys): `reveal-keys` shows it, once.
    pub shown: bool,
}

#[derive(Debug, Clone)]
pub struct Fault {
    pub domain: String,
    /// The server's name server name.
    pub server: String,
    /// A few English words: "unreachable", "not authoritative (lame)", …
    pub fault: String,
    pub checked_at: OffsetDateTime,
}

pub async fn overview(pool: &PgPool, config: &Platform) -> Result<DnsOverview> {
    let mut conn = pool.acquire().await?;
    let nodes = sqlx::query!(
        "select id, name, ns_number, dns_address, operator from nodes order by ns_number"
    )
    .fetch_all(&mut *conn)
    .await?;
    let pairs = sqlx::query!(
        "select s.primary_node_id, n.ns_number, s.state
         from dns_secondaries s join nodes n on n.id = s.secondary_node_id
         order by n.ns_number"
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(nodes.len());
    for n in nodes {
        let mut secondaries = Vec::new();
        for p in pairs.iter().filter(|p| p.primary_node_id == n.id) {
            secondaries.push(NodeSecondary {
                nameserver: nameservers::nameserver(&config.platform_domain, p.ns_number)?
                    .to_string(),
                state: p.state.clone(),
            });
        }
        out.push(DnsNode {
            id: NodeId(n.id),
            name: n.name,
            nameserver: nameservers::nameserver(&config.platform_domain, n.ns_number)?.to_string(),
            address: n.dns_address,
            catalog: nameservers::catalog(&config.platform_domain, n.ns_number)?.to_string(),
            operator: n.operator,
            secondaries,
        });
    }
    let suffixes = sqlx::query!("select id, key_suffix from dns_external_secondaries")
        .fetch_all(&mut *conn)
        .await?;
    let keys = sqlx::query!(
        "select k.external_id, k.node_id, n.ns_number, k.name, k.created_at,
                k.shown_at is not null as \"shown!\"
         from dns_external_keys k join nodes n on n.id = k.node_id
         order by n.ns_number"
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut external_secondaries = Vec::new();
    for e in topology::externals(&mut conn).await? {
        let mut own = Vec::new();
        for k in keys.iter().filter(|k| k.external_id == e.id) {
            own.push(ExternalKey {
                node_id: NodeId(k.node_id),
                nameserver: nameservers::nameserver(&config.platform_domain, k.ns_number)?
                    .to_string(),
                name: k.name.clone(),
                created_at: k.created_at,
                shown: k.shown,
            });
        }
        external_secondaries.push(ExternalSecondary {
            id: e.id,
            nameserver: e.nameserver.to_string(),
            address: e.address.to_string(),
            key_suffix: suffixes
                .iter()
                .find(|s| s.id == e.id)
                .map(|s| s.key_suffix.clone())
                .unwrap_or_default(),
            keys: own,
        });
    }
    let faults = sqlx::query!(
        "select d.name, c.server, c.fault as \"fault!\", c.checked_at
         from dns_checks c join domains d on d.id = c.domain_id
         where c.fault is not null
         order by d.name, c.server"
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|f| Fault {
        domain: f.name,
        server: f.server,
        fault: f.fault,
        checked_at: f.checked_at,
    })
    .collect();
    Ok(DnsOverview {
        nodes: out,
        external_secondaries,
        faults,
    })
}

/// Stores the external secondary `id` (every value already parsed). A name or key suffix
/// already in use is refused with the field named.
pub async fn insert_external(
    conn: &mut PgConnection,
    id: Uuid,
    nameserver: &DomainName,
    address: SocketAddr,
    key_suffix: &DomainName,
) -> Result<()> {
    sqlx::query!(
        "insert into dns_external_secondaries (id, nameserver, address, key_suffix)
         values ($1, $2, $3, $4)",
        id,
        nameserver.as_str(),
        address.to_string(),
        key_suffix.as_str()
    )
    .execute(conn)
    .await
    .map_err(taken)?;
    Ok(())
}

/// The unique constraints of `dns_external_secondaries` as errors on the form's fields.
fn taken(e: sqlx::Error) -> Error {
    let constraint = match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => db.constraint(),
        _ => None,
    };
    match constraint {
        Some("dns_external_secondaries_nameserver_key") => {
            Error::field("nameserver", Reason::ExternalSecondaryExists)
        }
        Some("dns_external_secondaries_key_suffix_key") => suffix_taken(),
        _ => Error::from(e),
    }
}

/// The error for a key suffix already in use (by a secondary, or in one of its keys' names).
pub fn suffix_taken() -> Error {
    Error::field("key_suffix", Reason::KeySuffixTaken)
}

/// Deletes the external secondary `id` (and its keys): its name server; not found if there is
/// none.
pub async fn delete_external(conn: &mut PgConnection, id: Uuid) -> Result<String> {
    sqlx::query_scalar!(
        "delete from dns_external_secondaries where id = $1 returning nameserver",
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound)
}

/// Names who runs a node (`None` forgets it); not found if there is no such node.
pub async fn update_operator(
    conn: &mut PgConnection,
    node: NodeId,
    operator: Option<&str>,
) -> Result<()> {
    sqlx::query_scalar!(
        "update nodes set operator = $2 where id = $1 returning id",
        node.0,
        operator
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound)?;
    Ok(())
}

/// `Err(NotFound)` unless the node exists.
pub async fn ensure_node(pool: &PgPool, node: NodeId) -> Result<()> {
    sqlx::query_scalar!("select id from nodes where id = $1", node.0)
        .fetch_optional(pool)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(())
}
