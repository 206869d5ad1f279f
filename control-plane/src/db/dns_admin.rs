//! The collective's DNS as the admin sees and runs it: each node's name server and secondaries,
//! the external secondaries, the current faults; adding and removing external secondaries and
//! naming a node's operator. Every node's desired state follows by the database triggers
//! (an external secondary changes every node's configuration).

use std::net::SocketAddr;

use protocol::dns::TsigKey;
use protocol::names::DomainName;
use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::audit::{self, Actor};
use crate::config::DnsConfig;
use crate::dns::topology;
use crate::domain::ids::NodeId;
use crate::domain::text::Text;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DnsOverview {
    pub nodes: Vec<DnsNode>,
    pub external_secondaries: Vec<ExternalSecondary>,
    /// Every server of every zone that the last check found at fault.
    pub faults: Vec<Fault>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NodeSecondary {
    pub nameserver: String,
    /// `pending` (not yet in the NS records), `active` or `retiring` (left them, still serves).
    pub state: String,
}

/// An external secondary, without its TSIG secret (shown once, when it was added).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExternalSecondary {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    pub nameserver: String,
    pub address: String,
    pub tsig_name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Fault {
    pub domain: String,
    /// The server's name server name.
    pub server: String,
    /// A few English words: "unreachable", "not authoritative (lame)", …
    pub fault: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub checked_at: OffsetDateTime,
}

pub async fn overview(pool: &PgPool, config: &DnsConfig) -> Result<DnsOverview> {
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
                nameserver: topology::nameserver(config, p.ns_number)?.to_string(),
                state: p.state.clone(),
            });
        }
        out.push(DnsNode {
            id: NodeId(n.id),
            name: n.name,
            nameserver: topology::nameserver(config, n.ns_number)?.to_string(),
            address: n.dns_address,
            catalog: topology::catalog(config, n.ns_number)?.to_string(),
            operator: n.operator,
            secondaries,
        });
    }
    let external_secondaries = topology::externals(&mut conn)
        .await?
        .into_iter()
        .map(|e| ExternalSecondary {
            id: e.id,
            nameserver: e.nameserver.to_string(),
            address: e.address.to_string(),
            tsig_name: e.tsig.name.to_string(),
        })
        .collect();
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

/// Adds an external secondary (every value already parsed); every joined node then serves it
/// its catalog. A name or key name already in use is refused with the field named.
pub async fn add_external(
    pool: &PgPool,
    actor: &Actor,
    nameserver: &DomainName,
    address: SocketAddr,
    tsig: &TsigKey,
) -> Result<Uuid> {
    let id = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "insert into dns_external_secondaries (id, nameserver, address, tsig_name, tsig_secret)
         values ($1, $2, $3, $4, $5)",
        id,
        nameserver.as_str(),
        address.to_string(),
        tsig.name.as_str(),
        tsig.secret.expose()
    )
    .execute(&mut *tx)
    .await
    .map_err(taken)?;
    audit::record(
        &mut *tx,
        actor,
        "dns.external_secondary.create",
        None,
        serde_json::json!({
            "id": id,
            "nameserver": nameserver.as_str(),
            "address": address.to_string(),
            "tsig_name": tsig.name.as_str(),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The unique constraints of `dns_external_secondaries` as errors on the form's fields.
fn taken(e: sqlx::Error) -> Error {
    let constraint = match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => db.constraint(),
        _ => None,
    };
    match constraint {
        Some("dns_external_secondaries_nameserver_key") => Error::field(
            "nameserver",
            Text::new(
                "is already an external secondary",
                "est déjà un serveur secondaire externe",
            ),
        ),
        Some("dns_external_secondaries_tsig_name_key") => Error::field(
            "tsig_name",
            Text::new(
                "is already the key of another external secondary",
                "est déjà la clé d’un autre serveur secondaire externe",
            ),
        ),
        _ => Error::from(e),
    }
}

pub async fn remove_external(pool: &PgPool, actor: &Actor, id: Uuid) -> Result<()> {
    let mut tx = pool.begin().await?;
    let nameserver = sqlx::query_scalar!(
        "delete from dns_external_secondaries where id = $1 returning nameserver",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound)?;
    audit::record(
        &mut *tx,
        actor,
        "dns.external_secondary.delete",
        None,
        serde_json::json!({ "id": id, "nameserver": nameserver }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Names who runs a node (`None` forgets it). Placement reads it at its next round; nothing a
/// node serves changes until then.
pub async fn set_operator(
    pool: &PgPool,
    actor: &Actor,
    node: NodeId,
    operator: Option<&str>,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query_scalar!(
        "update nodes set operator = $2 where id = $1 returning id",
        node.0,
        operator
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound)?;
    audit::record(
        &mut *tx,
        actor,
        "node.operator",
        None,
        serde_json::json!({ "node": node, "operator": operator }),
    )
    .await?;
    tx.commit().await?;
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
