//! A member's domains: claiming one (within the plan's limits) and everything its page shows.

use sqlx::PgPool;

use crate::config::DnsConfig;
use crate::db::audit::{self, Actor};
use crate::db::domains::{self, Domain};
use crate::db::nodes::NodeStatus;
use crate::db::{aliases, dns_records, mailboxes, members, xmpp};
use crate::error::Result;
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
