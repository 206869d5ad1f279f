//! Nodes: created by an admin with a one-time join token, joined by their agent (which gets a
//! long-lived credential), alive while they send heartbeats.
//!
//! A heartbeat's DKIM keys and mailbox usage are observations: stored only for members the node
//! hosts, not audited, and never bumping a generation. The mailbox trigger ignores updates that
//! touch only `used_bytes`, `used_messages` and `usage_at` (`migrations/*_mail_status.sql`), and
//! `dkim_keys` (one row per domain; a new selector replaces it) has no trigger. `NodeStatus`
//! (the portal's "Applying changes…" / "Live", `GET /api/v1/me`'s `node`) compares the node's
//! observed and desired generations. A heartbeat that carries the node's certificates replaces
//! its rows of `node_certificates` in the same transaction (`db::certificates::replace`).

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::model::certificate::Certificate;
use crate::model::ids::NodeId;
use crate::model::report::Report;
use crate::model::secret::{self, Token};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub cpus: i64,
    pub memory_bytes: i64,
    pub disk_bytes: i64,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub id: NodeId,
    pub name: String,
    /// Whether the node holds a working credential.
    pub joined: bool,
    /// `waiting` (to join, with a join token), `joined`, `rotating` (joined, and a new join
    /// token is out: joining with it replaces the credential) or `revoked` (no credential: its
    /// polls and heartbeats get 401 until it joins again with a token from a rotation).
    pub state: String,
    pub host_name: Option<String>,
    pub addresses: Vec<String>,
    pub version: Option<String>,
    pub capacity: Option<Capacity>,
    pub last_heartbeat_at: Option<OffsetDateTime>,
    /// False when a service reported a problem in the last heartbeat.
    pub healthy: Option<bool>,
    /// Grows with every change to what the node serves.
    pub desired_generation: i64,
    /// The generation the node last reported as applied; null until it applies one.
    pub observed_generation: Option<i64>,
    /// How many members it hosts.
    pub members: i64,
    pub created_at: OffsetDateTime,
}

pub async fn list(pool: &PgPool) -> Result<Vec<Node>> {
    read(pool, None).await
}

/// One node; not found if there is no such node.
pub async fn get(pool: &PgPool, node: NodeId) -> Result<Node> {
    read(pool, Some(node))
        .await?
        .into_iter()
        .next()
        .ok_or(Error::NotFound)
}

/// Every node by name, or only `only`.
async fn read(pool: &PgPool, only: Option<NodeId>) -> Result<Vec<Node>> {
    let rows = sqlx::query!(
        "select n.id, n.name, n.credential_hash is not null as \"joined!\",
                case when n.credential_hash is not null and n.join_token_hash is not null then 'rotating'
                     when n.credential_hash is not null then 'joined'
                     when n.join_token_hash is not null then 'waiting'
                     else 'revoked' end as \"state!\",
                n.host_name,
                n.addresses, n.version, n.cpus, n.memory_bytes, n.disk_bytes, n.last_heartbeat_at,
                n.healthy, n.desired_generation, n.observed_generation, n.created_at,
                (select count(*) from members m where m.node_id = n.id) as \"members!\"
         from nodes n where ($1::uuid is null or n.id = $1) order by n.name",
        only.map(|n| n.0)
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Node {
            id: NodeId(r.id),
            name: r.name,
            joined: r.joined,
            state: r.state,
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
            desired_generation: r.desired_generation,
            observed_generation: r.observed_generation,
            members: r.members,
            created_at: r.created_at,
        })
        .collect())
}

/// Stores a node `id` waiting to join with the join token `token` (only its digest), valid
/// `hours`.
pub async fn insert(
    conn: &mut PgConnection,
    id: NodeId,
    name: &str,
    token: &Token,
    hours: i64,
) -> Result<()> {
    sqlx::query!(
        "insert into nodes (id, name, join_token_hash, join_expires_at)
         values ($1, $2, $3, now() + make_interval(hours => $4::int))",
        id.0,
        name,
        token.digest(),
        i32::try_from(hours).unwrap_or(24)
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// What a joining node says about itself, already validated.
pub struct Joining {
    pub host_name: String,
    pub addresses: Vec<String>,
    pub version: String,
    pub capacity: Capacity,
}

/// Uses the join token `token`, once, and gives the node the credential `credential` (only its
/// digest is stored) with what it says about itself: the node's id and name; `None` if the token
/// is unknown, used or expired. A node that joins again with a token from a rotation keeps its
/// id, members and DNS role; its new credential replaces the old one.
pub async fn join(
    conn: &mut PgConnection,
    token: &str,
    credential: &Token,
    node: &Joining,
) -> Result<Option<(NodeId, String)>> {
    Ok(sqlx::query!(
        "update nodes set join_token_hash = null, join_expires_at = null, credential_hash = $2,
                credential_revoked_at = null, joined_at = now(), host_name = $3, addresses = $4, version = $5,
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
    .fetch_optional(conn)
    .await?
    .map(|r| (NodeId(r.id), r.name)))
}

/// Hosts on `node` every member no node hosts yet.
pub async fn host_unplaced_members(conn: &mut PgConnection, node: NodeId) -> Result<()> {
    sqlx::query!(
        "update members set node_id = $1 where node_id is null",
        node.0
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes the node's credential (and any join token out for it): its name; not found if there
/// is no such node.
pub async fn revoke(conn: &mut PgConnection, node: NodeId) -> Result<String> {
    sqlx::query_scalar!(
        "update nodes set credential_hash = null, join_token_hash = null, join_expires_at = null,
                credential_revoked_at = now()
         where id = $1 returning name",
        node.0
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound)
}

/// Gives the node the new join token `token` (only its digest), valid `hours`: its name; not
/// found if there is no such node.
pub async fn rotate(
    conn: &mut PgConnection,
    node: NodeId,
    token: &Token,
    hours: i64,
) -> Result<String> {
    sqlx::query_scalar!(
        "update nodes set join_token_hash = $2,
                join_expires_at = now() + make_interval(hours => $3::int)
         where id = $1 returning name",
        node.0,
        token.digest(),
        i32::try_from(hours).unwrap_or(24)
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound)
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

/// What a heartbeat carried that the node may not write: entries for domains or mailboxes it
/// does not host (another node's member, or deleted since), by name, for the log.
#[derive(Debug, Default)]
pub struct Ignored {
    pub domains: Vec<String>,
    pub addresses: Vec<String>,
    /// Certificates of domains not placed on the node (not a member's it hosts, or not
    /// verified).
    pub certificates: Vec<String>,
}

/// Records a heartbeat: health, the applied generation, DKIM keys, mailbox usage and, when it
/// carries them (`Some`), the node's certificates, in one transaction. Not audited: it changes
/// only what the node observes, every few seconds.
///
/// Keys and usage are stored only for domains and mailboxes of members this node hosts, and
/// certificates only for their verified domains (and the node's own name); the rest is
/// returned as ignored. One statement per list whatever its length (a node may report
/// 10,000 mailboxes every 30 s), and a row is written only when its value changed or was last
/// confirmed more than ten minutes ago, so steady reports cost reads, not writes. None of these
/// writes bumps the desired generation (see migrations/*_mail_status.sql).
pub async fn heartbeat(
    pool: &PgPool,
    node: NodeId,
    beat: &Beat<'_>,
    report: &Report,
    certificates: Option<&[Certificate]>,
) -> Result<Ignored> {
    let mut tx = pool.begin().await?;
    let mut ignored = Ignored::default();
    if let Some(certificates) = certificates {
        ignored.certificates = super::certificates::replace(&mut tx, node, certificates).await?;
    }
    if !report.keys.is_empty() {
        let mut domains = Vec::with_capacity(report.keys.len());
        let mut domain_ids = Vec::with_capacity(report.keys.len());
        let mut selectors = Vec::with_capacity(report.keys.len());
        let mut keys = Vec::with_capacity(report.keys.len());
        for k in &report.keys {
            domains.push(k.domain.as_str());
            domain_ids.push(k.domain_id.as_deref().unwrap_or(""));
            selectors.push(k.selector.as_str());
            keys.push(k.public_key.as_str());
        }
        // A key counts only for a domain of a member the node hosts and, when the agent names
        // the domain id it made the key for, for that very domain (an empty id: an agent older
        // than ids), so a key made for a former holder of the name is never the next one's.
        ignored.domains = sqlx::query_scalar!(
            "with k as (
                 select * from unnest($2::text[], $3::text[], $4::text[], $5::text[])
                     as k(domain, domain_id, selector, public_key)
             ), owned as (
                 select d.id, k.domain, k.selector, k.public_key from k
                 join domains d on d.name = k.domain
                     and (k.domain_id = '' or d.id::text = k.domain_id)
                 join members m on m.id = d.member_id
                 where m.node_id = $1
             ), stored as (
                 insert into dkim_keys as dk (domain_id, selector, public_key, node_id)
                 select id, selector, public_key, $1 from owned
                 on conflict (domain_id) do update
                     set selector = excluded.selector, public_key = excluded.public_key,
                         node_id = excluded.node_id, reported_at = now()
                     where (dk.selector, dk.public_key, dk.node_id)
                               is distinct from (excluded.selector, excluded.public_key, excluded.node_id)
                        or dk.reported_at < now() - interval '10 minutes'
             )
             select k.domain as \"domain!\" from k
             where not exists (select 1 from owned o where o.domain = k.domain)",
            node.0,
            &domains as &[&str],
            &domain_ids as &[&str],
            &selectors as &[&str],
            &keys as &[&str]
        )
        .fetch_all(&mut *tx)
        .await?;
    }
    if !report.usage.is_empty() {
        let mut domains = Vec::with_capacity(report.usage.len());
        let mut locals = Vec::with_capacity(report.usage.len());
        let mut bytes = Vec::with_capacity(report.usage.len());
        let mut messages = Vec::with_capacity(report.usage.len());
        for u in &report.usage {
            domains.push(u.domain.as_str());
            locals.push(u.local_part.as_str());
            bytes.push(u.bytes);
            messages.push(u.messages);
        }
        ignored.addresses = sqlx::query_scalar!(
            "with u as (
                 select * from unnest($2::text[], $3::text[], $4::int8[], $5::int8[])
                     as u(domain, local_part, bytes, messages)
             ), owned as (
                 select mb.id, u.domain, u.local_part, u.bytes, u.messages from u
                 join domains d on d.name = u.domain
                 join mailboxes mb on mb.domain_id = d.id and mb.local_part = u.local_part
                 join members m on m.id = mb.member_id
                 where m.node_id = $1
             ), stored as (
                 update mailboxes mb
                 set used_bytes = o.bytes, used_messages = o.messages, usage_at = now()
                 from owned o
                 where mb.id = o.id
                   and ((mb.used_bytes, mb.used_messages) is distinct from (o.bytes, o.messages)
                        or mb.usage_at is null
                        or mb.usage_at < now() - interval '10 minutes')
             )
             select u.local_part || '@' || u.domain as \"address!\" from u
             where not exists
                 (select 1 from owned o where o.domain = u.domain and o.local_part = u.local_part)",
            node.0,
            &domains as &[&str],
            &locals as &[&str],
            &bytes,
            &messages
        )
        .fetch_all(&mut *tx)
        .await?;
    }
    // The node's own row last: every change to a member's part bumps it (`ruche_bump_node`)
    // while holding that member's rows, so a heartbeat that held it first and then waited for
    // one of those rows would deadlock with the change.
    sqlx::query!(
        "update nodes set last_heartbeat_at = now(), version = $2, healthy = $3, services = $4,
                observed_generation = coalesce($5, observed_generation),
                dns_address = coalesce($6, dns_address)
         where id = $1",
        node.0,
        beat.version,
        beat.healthy,
        beat.services,
        beat.observed_generation,
        beat.dns_address
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ignored)
}

/// A heartbeat's own fields, validated.
pub struct Beat<'a> {
    pub version: &'a str,
    pub healthy: bool,
    pub services: serde_json::Value,
    pub observed_generation: Option<i64>,
    /// Where the node's name server answers, when it runs one. A change bumps the generation of
    /// the node and of its DNS peers (migrations/*_dns.sql), which must reach it there.
    pub dns_address: Option<String>,
}

/// Where a member's changes stand on their node: applied once the node reports a generation at
/// least the desired one. The generation is the node's, not the member's, so "applying" may
/// also mean another member's change is on its way; that errs on the side of caution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeStatus {
    pub desired_generation: i64,
    /// Null until the node applies its first desired state.
    pub observed_generation: Option<i64>,
    pub applied: bool,
}

impl NodeStatus {
    pub fn new(desired_generation: i64, observed_generation: Option<i64>) -> Self {
        NodeStatus {
            desired_generation,
            observed_generation,
            applied: observed_generation.is_some_and(|o| o >= desired_generation),
        }
    }
}
