//! Nodes: created by an admin with a one-time join token, joined by their agent (which gets a
//! long-lived credential), alive while they send heartbeats.

use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;

use super::audit::{self, Actor};
use crate::domain::ids::NodeId;
use crate::domain::secret::{self, Token};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Capacity {
    pub cpus: i64,
    pub memory_bytes: i64,
    pub disk_bytes: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Node {
    pub id: NodeId,
    pub name: String,
    pub joined: bool,
    pub host_name: Option<String>,
    pub addresses: Vec<String>,
    pub version: Option<String>,
    pub capacity: Option<Capacity>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>)]
    pub last_heartbeat_at: Option<OffsetDateTime>,
    /// False when a service reported a problem in the last heartbeat.
    pub healthy: Option<bool>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub created_at: OffsetDateTime,
}

pub async fn list(pool: &PgPool) -> Result<Vec<Node>> {
    let rows = sqlx::query!(
        "select id, name, credential_hash is not null as \"joined!\", host_name, addresses,
                version, cpus, memory_bytes, disk_bytes, last_heartbeat_at, healthy, created_at
         from nodes order by name"
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Node {
            id: NodeId(r.id),
            name: r.name,
            joined: r.joined,
            host_name: r.host_name,
            addresses: r.addresses,
            version: r.version,
            capacity: match (r.cpus, r.memory_bytes, r.disk_bytes) {
                (Some(c), Some(m), Some(d)) => Some(Capacity {
                    cpus: c.into(),
                    memory_bytes: m,
                    disk_bytes: d,
                }),
                _ => None,
            },
            last_heartbeat_at: r.last_heartbeat_at,
            healthy: r.healthy,
            created_at: r.created_at,
        })
        .collect())
}

/// Creates a node waiting to join; returns its id and the join token (shown once).
pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    name: &str,
    hours: i64,
) -> Result<(NodeId, Token)> {
    let id = NodeId::new();
    let token = Token::generate();
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "insert into nodes (id, name, join_token_hash, join_expires_at)
         values ($1, $2, $3, now() + make_interval(hours => $4::int))",
        id.0,
        name,
        token.digest(),
        i32::try_from(hours).unwrap_or(24)
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        actor,
        "node.create",
        None,
        serde_json::json!({ "node": id, "name": name }),
    )
    .await?;
    tx.commit().await?;
    Ok((id, token))
}

/// What a joining node says about itself, already validated.
pub struct Joining {
    pub host_name: String,
    pub addresses: Vec<String>,
    pub version: String,
    pub capacity: Capacity,
}

/// Consumes the join token and gives the node its credential, in one transaction.
pub async fn join(
    pool: &PgPool,
    token: &str,
    node: &Joining,
    ip: Option<String>,
) -> Result<(NodeId, Token)> {
    let credential = Token::generate();
    let mut tx = pool.begin().await?;
    let r = sqlx::query!(
        "update nodes set join_token_hash = null, join_expires_at = null, credential_hash = $2,
                joined_at = now(), host_name = $3, addresses = $4, version = $5,
                cpus = $6, memory_bytes = $7, disk_bytes = $8, last_heartbeat_at = now()
         where join_token_hash = $1 and join_expires_at > now()
         returning id, name",
        secret::digest(token),
        credential.digest(),
        node.host_name,
        &node.addresses,
        node.version,
        i32::try_from(node.capacity.cpus).unwrap_or(i32::MAX),
        node.capacity.memory_bytes,
        node.capacity.disk_bytes
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::Gone)?;
    // Members created while no node existed (the first admin of a new box) go to the first
    // node that joins.
    sqlx::query!(
        "update members set node_id = $1 where node_id is null",
        r.id
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        &Actor {
            member_id: None,
            email: Some(format!("(node {})", r.name)),
            ip,
        },
        "node.join",
        None,
        serde_json::json!({ "node": r.id, "addresses": node.addresses, "version": node.version }),
    )
    .await?;
    tx.commit().await?;
    Ok((NodeId(r.id), credential))
}

/// The node a presented credential belongs to.
pub async fn authenticate(pool: &PgPool, credential: &str) -> Result<Option<NodeId>> {
    Ok(sqlx::query_scalar!(
        "select id from nodes where credential_hash = $1",
        secret::digest(credential)
    )
    .fetch_optional(pool)
    .await?
    .map(NodeId))
}

/// Records a heartbeat. Not audited: it changes only what the node observes, every few seconds.
pub async fn heartbeat(
    pool: &PgPool,
    node: NodeId,
    version: &str,
    healthy: bool,
    services: serde_json::Value,
    observed_generation: Option<i64>,
) -> Result<()> {
    sqlx::query!(
        "update nodes set last_heartbeat_at = now(), version = $2, healthy = $3, services = $4,
                observed_generation = coalesce($5, observed_generation)
         where id = $1",
        node.0,
        version,
        healthy,
        services,
        observed_generation
    )
    .execute(pool)
    .await?;
    Ok(())
}
