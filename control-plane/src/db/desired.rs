//! A node's desired state, built from the database in one snapshot so that the generation in
//! the document matches its content.
//!
//! The generation is bumped by triggers, never by this code: `migrations/*_placement.sql` bumps
//! the hosting node's `desired_generation` and sends `NOTIFY ruche_desired` inside the
//! transaction that changes a member, domain, mailbox, alias, XMPP account or app password (the
//! DNS migrations do the same for the DNS part), so new code cannot forget. Each bump also
//! writes a row of `node_changes` (`*_node_changes.sql`): the generation and the member whose
//! part changed, or none for a change to the node as a whole; a delta is answered from that log
//! when it holds every generation since the node's, else the whole document. The log is kept a
//! week (housekeeping prunes it).
//!
//! Only verified (`active`) domains are sent. Under each node this node is a secondary of, the
//! document lists exactly the zones the control plane knows that node is primary for, so a
//! node's catalog never decides what another node serves.

use std::collections::BTreeMap;

use protocol::desired::{self, DesiredState, Tenant};
use sqlx::PgPool;

use super::topology;
use super::tsig_keys as keys;
use crate::config::Platform;
use crate::error::{Error, Result};
use crate::model::ids::NodeId;
use crate::model::nameservers;

/// Stored values were parsed before they were stored; failing to parse them again means the
/// database was changed behind our back, which is worth a loud error rather than a bad config.
fn reparse<T, E: std::fmt::Display>(what: &str, r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(|e| Error::Internal(anyhow::anyhow!("stored {what} does not parse: {e}")))
}

/// A database id as the node keys its stores by it.
fn object_id(id: uuid::Uuid) -> Result<protocol::names::ObjectId> {
    reparse("id", protocol::names::ObjectId::parse(&id.to_string()))
}

pub async fn generation(pool: &PgPool, node: NodeId) -> Result<i64> {
    Ok(
        sqlx::query_scalar!("select desired_generation from nodes where id = $1", node.0)
            .fetch_one(pool)
            .await?,
    )
}

/// Makes the transaction a read-only snapshot: the generation read first matches everything
/// read after it.
async fn snapshot(conn: &mut sqlx::PgConnection) -> Result<()> {
    sqlx::query!("set transaction isolation level repeatable read, read only")
        .execute(conn)
        .await?;
    Ok(())
}

async fn generation_in(conn: &mut sqlx::PgConnection, node: NodeId) -> Result<u64> {
    let generation =
        sqlx::query_scalar!("select desired_generation from nodes where id = $1", node.0)
            .fetch_one(conn)
            .await?;
    Ok(u64::try_from(generation).unwrap_or(0))
}

/// The node's whole desired state. `dns_config` is `None` before setup (no platform domain, so
/// no DNS part yet).
pub async fn build(
    pool: &PgPool,
    dns_config: Option<&Platform>,
    node: NodeId,
) -> Result<DesiredState> {
    let mut tx = pool.begin().await?;
    snapshot(&mut tx).await?;
    let doc = whole(&mut tx, dns_config, node).await?;
    tx.commit().await?;
    Ok(doc)
}

async fn whole(
    conn: &mut sqlx::PgConnection,
    dns_config: Option<&Platform>,
    node: NodeId,
) -> Result<DesiredState> {
    let generation = generation_in(conn, node).await?;
    let tenants = tenants(conn, node, None).await?;
    let dns = match dns_config {
        Some(c) => Some(dns(conn, c, node).await?),
        None => None,
    };
    Ok(DesiredState {
        schema: desired::SCHEMA,
        generation,
        node_id: node.to_string(),
        tenants: tenants.into_iter().map(std::sync::Arc::new).collect(),
        dns,
    })
}

/// What changed on the node since generation `after`: the members named by the change log
/// since then, each whole, with their zones, and the whole DNS part if a node-wide change is
/// among them. The whole document instead when the log does not reach back to `after` (a new
/// node, or one offline for longer than the log is kept) or `after` is not behind.
pub async fn update_since(
    pool: &PgPool,
    dns_config: Option<&Platform>,
    node: NodeId,
    after: u64,
) -> Result<desired::Update> {
    let mut tx = pool.begin().await?;
    snapshot(&mut tx).await?;
    let generation = generation_in(&mut tx, node).await?;
    let since = i64::try_from(after).unwrap_or(i64::MAX);
    let changes = sqlx::query!(
        "select generation, member_id from node_changes
         where node_id = $1 and generation > $2 order by generation",
        node.0,
        since
    )
    .fetch_all(&mut *tx)
    .await?;
    // Generations are unique per node: one row for each generation since `after` means
    // nothing is missing, whatever pruning took.
    let complete = after > 0
        && after < generation
        && u64::try_from(changes.len()).ok() == Some(generation - after);
    if !complete {
        let doc = whole(&mut tx, dns_config, node).await?;
        tx.commit().await?;
        return Ok(desired::Update::Full(doc));
    }
    let node_wide = changes.iter().any(|c| c.member_id.is_none());
    let mut members: Vec<uuid::Uuid> = changes.iter().filter_map(|c| c.member_id).collect();
    members.sort_unstable();
    members.dedup();
    let tenants = tenants(&mut tx, node, Some(&members)).await?;
    let removed_tenants = members
        .iter()
        .map(ToString::to_string)
        .filter(|id| !tenants.iter().any(|t| &t.member_id == id))
        .collect();
    let (zones, dns) = match dns_config {
        Some(c) if node_wide => (Vec::new(), Some(dns(&mut tx, c, node).await?)),
        Some(_) => (zones(&mut tx, node, Some(&members)).await?, None),
        None => (Vec::new(), None),
    };
    tx.commit().await?;
    Ok(desired::Update::Delta(desired::Delta {
        schema: desired::SCHEMA,
        node_id: node.to_string(),
        base: after,
        generation,
        tenants: tenants.into_iter().map(std::sync::Arc::new).collect(),
        removed_tenants,
        zones: zones.into_iter().map(std::sync::Arc::new).collect(),
        dns,
    }))
}

/// How long the change log is kept: a node offline for longer gets its whole document.
const CHANGES_KEPT_DAYS: i32 = 7;

/// Deletes what the change log holds beyond `CHANGES_KEPT_DAYS`, oldest first, so that what is
/// left of each node's log is a run up to its current generation.
pub async fn prune_changes(pool: &PgPool) -> Result<u64> {
    Ok(sqlx::query!(
        "delete from node_changes where changed_at < now() - make_interval(days => $1)",
        CHANGES_KEPT_DAYS
    )
    .execute(pool)
    .await?
    .rows_affected())
}

/// The members hosted on the node (only those in `only`, when given), in id order, each with
/// its verified domains and everything on them.
async fn tenants(
    conn: &mut sqlx::PgConnection,
    node: NodeId,
    only: Option<&[uuid::Uuid]>,
) -> Result<Vec<Tenant>> {
    let members = sqlx::query!(
        "select id, status, email from members
         where node_id = $1 and ($2::uuid[] is null or id = any($2)) order by id",
        node.0,
        only
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut tenants: BTreeMap<uuid::Uuid, Tenant> = members
        .into_iter()
        .map(|m| {
            Ok((
                m.id,
                Tenant {
                    member_id: m.id.to_string(),
                    active: m.status == "active",
                    domains: Vec::new(),
                    app_passwords: Vec::new(),
                    contact: Some(reparse(
                        "member address",
                        protocol::names::EmailAddress::parse(&m.email),
                    )?),
                },
            ))
        })
        .collect::<Result<_>>()?;

    // Only verified domains: a pending claim on a name (another member's domain, a mail
    // provider's, the platform's) must not receive, send or sign anything on the node. Their
    // mailboxes, aliases and accounts are left out below with them (no entry in `by_domain`).
    let domains = sqlx::query!(
        "select d.id, d.member_id, d.name from domains d join members m on m.id = d.member_id
         where m.node_id = $1 and ($2::uuid[] is null or m.id = any($2))
           and d.status = 'active' order by d.name",
        node.0,
        only
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut by_domain: BTreeMap<uuid::Uuid, desired::Domain> = BTreeMap::new();
    let mut domain_owner: BTreeMap<uuid::Uuid, uuid::Uuid> = BTreeMap::new();
    for d in domains {
        domain_owner.insert(d.id, d.member_id);
        by_domain.insert(
            d.id,
            desired::Domain {
                id: Some(object_id(d.id)?),
                name: reparse("domain", protocol::names::DomainName::parse(&d.name))?,
                verified: true,
                mailboxes: Vec::new(),
                aliases: Vec::new(),
                xmpp_accounts: Vec::new(),
            },
        );
    }
    for r in sqlx::query!(
        "select mb.id, mb.domain_id, mb.local_part, mb.password_hash, mb.quota_bytes, mb.public
         from mailboxes mb
         join members m on m.id = mb.member_id
         where m.node_id = $1 and ($2::uuid[] is null or m.id = any($2)) order by mb.local_part",
        node.0,
        only
    )
    .fetch_all(&mut *conn)
    .await?
    {
        if let Some(d) = by_domain.get_mut(&r.domain_id) {
            d.mailboxes.push(desired::Mailbox {
                id: Some(object_id(r.id)?),
                local_part: reparse(
                    "local part",
                    protocol::names::LocalPart::parse(&r.local_part),
                )?,
                password_hash: r.password_hash.into(),
                quota_bytes: u64::try_from(r.quota_bytes).unwrap_or(0),
                public: r.public,
            });
        }
    }
    for r in sqlx::query!(
        "select a.domain_id, a.source, a.targets from aliases a
         join members m on m.id = a.member_id
         where m.node_id = $1 and ($2::uuid[] is null or m.id = any($2)) order by a.source",
        node.0,
        only
    )
    .fetch_all(&mut *conn)
    .await?
    {
        if let Some(d) = by_domain.get_mut(&r.domain_id) {
            let targets = r
                .targets
                .iter()
                .map(|t| reparse("alias target", protocol::names::EmailAddress::parse(t)))
                .collect::<Result<Vec<_>>>()?;
            d.aliases.push(desired::Alias {
                source: reparse(
                    "alias source",
                    protocol::names::AliasSource::parse(&r.source),
                )?,
                targets,
            });
        }
    }
    for r in sqlx::query!(
        "select x.domain_id, x.node, x.password_hash, x.public from xmpp_accounts x
         join members m on m.id = x.member_id
         where m.node_id = $1 and ($2::uuid[] is null or m.id = any($2)) order by x.node",
        node.0,
        only
    )
    .fetch_all(&mut *conn)
    .await?
    {
        if let Some(d) = by_domain.get_mut(&r.domain_id) {
            d.xmpp_accounts.push(desired::XmppAccount {
                node: reparse("XMPP node", protocol::names::XmppNode::parse(&r.node))?,
                password_hash: r.password_hash,
                public: r.public,
            });
        }
    }
    for r in sqlx::query!(
        "select p.id, p.member_id, p.scope, p.password_hash, p.public_id,
                mb.local_part as \"local_part?\", d.name as \"domain?\"
         from app_passwords p
         join members m on m.id = p.member_id
         left join mailboxes mb on mb.id = p.mailbox_id and mb.member_id = p.member_id
         left join domains d on d.id = mb.domain_id
         where m.node_id = $1 and ($2::uuid[] is null or m.id = any($2))
           and p.revoked_at is null and p.public_id is not null
           and (p.mailbox_id is null or mb.id is not null)
         order by p.id",
        node.0,
        only
    )
    .fetch_all(&mut *conn)
    .await?
    {
        if let Some(t) = tenants.get_mut(&r.member_id) {
            let mailbox = match (r.local_part, r.domain) {
                (Some(local), Some(domain)) => Some(reparse(
                    "bound mailbox",
                    protocol::names::EmailAddress::parse(&format!("{local}@{domain}")),
                )?),
                _ => None,
            };
            let public_id = r
                .public_id
                .map(|id| {
                    reparse(
                        "app password id",
                        protocol::app_password::PublicId::parse(&id),
                    )
                })
                .transpose()?;
            t.app_passwords.push(desired::AppPassword {
                id: r.id.to_string(),
                scope: reparse("scope", r.scope.parse::<protocol::scope::AppScope>())?,
                password_hash: r.password_hash,
                public_id,
                mailbox,
            });
        }
    }
    // Domains were read in name order; keep that order inside each tenant.
    for (id, domain) in by_domain {
        let owner = domain_owner.get(&id).copied();
        if let Some(t) = owner.and_then(|o| tenants.get_mut(&o)) {
            t.domains.push(domain);
        }
    }
    for t in tenants.values_mut() {
        t.domains.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(tenants.into_values().collect())
}

/// The node's part in the collective's DNS: the zones it is primary for (its members' verified
/// domains, with their own records), who transfers them (each external secondary with this
/// node's own key for it), and the nodes it is a secondary of, each with the exact zones that
/// node is primary for (a secondary serves nothing else from it). Peers
/// that have not reported their name server's address yet, or with no key yet (placement makes
/// one in the same transaction as the pairing), are left out until they have.
async fn dns(
    conn: &mut sqlx::PgConnection,
    config: &Platform,
    node: NodeId,
) -> Result<desired::Dns> {
    let number = sqlx::query_scalar!("select ns_number from nodes where id = $1", node.0)
        .fetch_one(&mut *conn)
        .await?;
    let servers = topology::servers_of_node(conn, config, node).await?;
    let zone_nameservers = servers
        .iter()
        .filter(|s| s.in_ns_set())
        .map(|s| s.nameserver.clone())
        .collect();

    let zones = zones(conn, node, None).await?;

    let mut secondaries = Vec::new();
    for s in &servers {
        let (Some(address), Some(peer)) = (s.address, s.node_id) else {
            continue;
        };
        if s.role != nameservers::Role::Secondary {
            continue;
        }
        if let Some(tsig) = keys::existing_pair_key(conn, node, peer).await? {
            secondaries.push(desired::DnsPeer {
                nameserver: s.nameserver.clone(),
                address,
                tsig,
            });
        }
    }
    // Each external secondary with this node's own key for it (none yet: left out).
    for (e, tsig) in keys::external_keys_of_node(conn, node).await? {
        secondaries.push(desired::DnsPeer {
            nameserver: e.nameserver,
            address: e.address,
            tsig,
        });
    }

    // The zones each primary of this node is primary for: the only zones it may give us.
    let mut zones_of: BTreeMap<uuid::Uuid, Vec<protocol::names::DomainName>> = BTreeMap::new();
    for z in sqlx::query!(
        "select m.node_id as \"node_id!\", d.name from dns_secondaries s
         join members m on m.node_id = s.primary_node_id
         join domains d on d.member_id = m.id
         where s.secondary_node_id = $1 and d.status = 'active'
         order by d.name",
        node.0
    )
    .fetch_all(&mut *conn)
    .await?
    {
        zones_of.entry(z.node_id).or_default().push(reparse(
            "domain",
            protocol::names::DomainName::parse(&z.name),
        )?);
    }

    let mut primaries = Vec::new();
    for p in sqlx::query!(
        "select n.id, n.ns_number, n.dns_address from dns_secondaries s
         join nodes n on n.id = s.primary_node_id
         where s.secondary_node_id = $1 order by n.ns_number",
        node.0
    )
    .fetch_all(&mut *conn)
    .await?
    {
        let Some(address) = nameservers::address(p.dns_address.as_deref()) else {
            continue;
        };
        if let Some(tsig) = keys::existing_pair_key(conn, node, NodeId(p.id)).await? {
            primaries.push(desired::DnsPrimary {
                nameserver: nameservers::nameserver(&config.platform_domain, p.ns_number)?,
                address,
                catalog: nameservers::catalog(&config.platform_domain, p.ns_number)?,
                tsig,
                zones: zones_of.remove(&p.id).unwrap_or_default(),
            });
        }
    }

    Ok(desired::Dns {
        nameserver: nameservers::nameserver(&config.platform_domain, number)?,
        catalog: nameservers::catalog(&config.platform_domain, number)?,
        zone_nameservers,
        zones: zones.into_iter().map(std::sync::Arc::new).collect(),
        secondaries,
        primaries,
        caa_issuers: config.caa_issuers.clone(),
    })
}

/// The zones the node is primary for (those of the members in `only`, when given): its
/// members' verified domains, each with the member's own records, in name order.
async fn zones(
    conn: &mut sqlx::PgConnection,
    node: NodeId,
    only: Option<&[uuid::Uuid]>,
) -> Result<Vec<desired::Zone>> {
    let mut zones: BTreeMap<uuid::Uuid, desired::Zone> = BTreeMap::new();
    for d in sqlx::query!(
        "select d.id, d.name from domains d join members m on m.id = d.member_id
         where m.node_id = $1 and ($2::uuid[] is null or m.id = any($2))
           and d.status = 'active' order by d.name",
        node.0,
        only
    )
    .fetch_all(&mut *conn)
    .await?
    {
        zones.insert(
            d.id,
            desired::Zone {
                name: reparse("domain", protocol::names::DomainName::parse(&d.name))?,
                records: Vec::new(),
            },
        );
    }
    for r in sqlx::query!(
        "select r.domain_id, r.name, r.type, r.ttl, r.value from dns_records r
         join domains d on d.id = r.domain_id join members m on m.id = d.member_id
         where m.node_id = $1 and ($2::uuid[] is null or m.id = any($2)) and d.status = 'active'
         order by r.name, r.type, r.value",
        node.0,
        only
    )
    .fetch_all(&mut *conn)
    .await?
    {
        if let Some(z) = zones.get_mut(&r.domain_id) {
            z.records.push(reparse(
                "DNS record",
                protocol::dns::Record::try_from(protocol::dns::RecordText {
                    name: r.name,
                    kind: r.r#type,
                    ttl: u32::try_from(r.ttl).unwrap_or(0),
                    value: r.value,
                }),
            )?);
        }
    }
    let mut zones: Vec<desired::Zone> = zones.into_values().collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(zones)
}
