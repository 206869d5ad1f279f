//! A member's domains: claiming one (within the plan's limits), everything its page shows,
//! activating one once its ownership is verified, deleting one, and the housekeeping that drops
//! claims never verified.

use sqlx::PgPool;
use uuid::Uuid;

use crate::config::DnsConfig;
use crate::db::audit::{self, Actor};
use crate::db::domains::{self, Domain};
use crate::db::nodes::NodeStatus;
use crate::db::{aliases, dns_records, mailboxes, members, verification, xmpp};
use crate::error::Result;
use crate::model::claims;
use crate::model::ids::{DomainId, MemberId};
use crate::model::plan::Resource;
use crate::model::DomainName;

/// Claims `name` for `member`, within the member's plan: one transaction, audited. The domain
/// is pending until its TXT challenge is seen (`dns::verify`).
pub async fn create(
    pool: &PgPool,
    config: &DnsConfig,
    actor: &Actor,
    member: MemberId,
    name: &DomainName,
) -> Result<Domain> {
    let mut tx = pool.begin().await?;
    let limits = members::lock_limits(&mut tx, member).await?;
    let usage = members::usage(&mut tx, member).await?;
    limits.check(&usage, Resource::Domain, 0)?;
    let id = domains::claim(&mut tx, member, name).await?;
    audit::record(
        &mut *tx,
        actor,
        "domain.create",
        Some(member),
        serde_json::json!({ "domain": id, "name": name.as_str() }),
    )
    .await?;
    tx.commit().await?;
    domains::get(pool, config, member, id).await
}

/// Activates a pending domain whose challenge the world shows, if its token is still `token`
/// (the one that was seen); audited. Whether this call activated it (another control plane may
/// have been first).
pub async fn activate(pool: &PgPool, actor: &Actor, id: Uuid, token: &str) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let Some((member, name)) = verification::activate(&mut tx, id, token).await? else {
        return Ok(false);
    };
    audit::record(
        &mut *tx,
        actor,
        "domain.verify",
        Some(member),
        serde_json::json!({ "domain": id, "name": name }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(domain = %name, "domain ownership verified");
    Ok(true)
}

/// Deletes the member's domain with every mailbox, alias and XMPP account on it; audited.
pub async fn delete(pool: &PgPool, actor: &Actor, member: MemberId, id: DomainId) -> Result<()> {
    let mut tx = pool.begin().await?;
    let name = domains::delete(&mut tx, member, id).await?;
    audit::record(
        &mut *tx,
        actor,
        "domain.delete",
        Some(member),
        serde_json::json!({ "domain": id, "name": name }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Housekeeping: deletes the domains still unverified `CLAIM_DAYS` after they were added, each
/// with its audit entry, in one transaction; rows another control plane is handling are
/// skipped. Returns how many went.
pub async fn expire_unverified(pool: &PgPool) -> Result<u64> {
    let mut tx = pool.begin().await?;
    let gone = domains::delete_lapsed(&mut tx).await?;
    for d in &gone {
        audit::record(
            &mut *tx,
            &Actor::default(),
            "domain.expire",
            Some(d.member_id),
            serde_json::json!({ "domain": d.id, "name": d.name, "days": claims::CLAIM_DAYS }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(gone.len() as u64)
}

/// Everything a domain's page shows.
pub struct Page {
    pub domain: Domain,
    /// The status of the node hosting the member; `None` while none does.
    pub node: Option<NodeStatus>,
    pub records: Vec<dns_records::DnsRecord>,
    pub mailboxes: Vec<mailboxes::Mailbox>,
    pub aliases: Vec<aliases::Alias>,
    pub xmpp: Vec<xmpp::XmppAccount>,
}

/// A member's own domain with its records, addresses and XMPP accounts: five queries on one
/// connection. Another member's domain is simply not found.
pub async fn page(
    pool: &PgPool,
    config: &DnsConfig,
    member: MemberId,
    id: DomainId,
) -> Result<Page> {
    let mut conn = pool.acquire().await?;
    let (domain, node) = domains::get_with_node(&mut *conn, config, member, id).await?;
    Ok(Page {
        domain,
        node,
        records: dns_records::list(&mut *conn, member, id).await?,
        mailboxes: mailboxes::list(&mut *conn, member, id).await?,
        aliases: aliases::list(&mut *conn, member, id).await?,
        xmpp: xmpp::list(&mut *conn, member, id).await?,
    })
}
