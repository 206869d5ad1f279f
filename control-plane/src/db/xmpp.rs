//! XMPP accounts on a member's domains.

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::model::ids::{DomainId, MemberId, XmppAccountId};
use crate::model::XmppNode;

#[derive(Debug, Clone)]
pub struct XmppAccount {
    pub id: XmppAccountId,
    pub domain_id: DomainId,
    pub jid: String,
    pub node: String,
    /// Its member made it public: WebFinger on the node answers for it.
    pub public: bool,
    pub created_at: OffsetDateTime,
}

pub async fn list(
    db: impl sqlx::PgExecutor<'_>,
    member: MemberId,
    domain: DomainId,
) -> Result<Vec<XmppAccount>> {
    let rows = sqlx::query!(
        "select x.id, x.domain_id, x.node, d.name, x.public, x.created_at
         from xmpp_accounts x join domains d on d.id = x.domain_id
         where x.member_id = $1 and x.domain_id = $2 order by x.node",
        member.0,
        domain.0
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| XmppAccount {
            id: XmppAccountId(r.id),
            domain_id: DomainId(r.domain_id),
            jid: format!("{}@{}", r.node, r.name),
            node: r.node,
            public: r.public,
            created_at: r.created_at,
        })
        .collect())
}

/// The member's XMPP account `id` on their domain `domain`, locked until the end of the
/// transaction (another member's, or one on another domain, is not found).
pub async fn lock_owned(
    conn: &mut PgConnection,
    member: MemberId,
    domain: DomainId,
    id: XmppAccountId,
) -> Result<XmppAccount> {
    let r = sqlx::query!(
        "select x.id, x.domain_id, x.node, d.name, x.public, x.created_at
         from xmpp_accounts x join domains d on d.id = x.domain_id
         where x.id = $1 and x.member_id = $2 and x.domain_id = $3
         for update of x",
        id.0,
        member.0,
        domain.0
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound)?;
    Ok(XmppAccount {
        id: XmppAccountId(r.id),
        domain_id: DomainId(r.domain_id),
        jid: format!("{}@{}", r.node, r.name),
        node: r.node,
        public: r.public,
        created_at: r.created_at,
    })
}

/// Makes the member's XMPP account `id` public or not (another member's is not found). The
/// row's trigger bumps the hosting node's generation.
pub async fn set_public(
    conn: &mut PgConnection,
    member: MemberId,
    id: XmppAccountId,
    public: bool,
) -> Result<()> {
    sqlx::query!(
        "update xmpp_accounts set public = $3 where id = $1 and member_id = $2 returning id",
        id.0,
        member.0,
        public
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound)?;
    Ok(())
}

/// Stores a new XMPP account; its creation time. The caller checked the member's limits in the
/// same transaction (`services::addresses::create_xmpp`).
pub async fn insert(
    conn: &mut PgConnection,
    member: MemberId,
    domain: DomainId,
    id: XmppAccountId,
    node: &XmppNode,
    password_hash: &str,
) -> Result<OffsetDateTime> {
    Ok(sqlx::query_scalar!(
        "insert into xmpp_accounts (id, member_id, domain_id, node, password_hash)
         values ($1, $2, $3, $4, $5) returning created_at",
        id.0,
        member.0,
        domain.0,
        node.as_str(),
        password_hash
    )
    .fetch_one(conn)
    .await?)
}

/// Deletes the member's XMPP account `id` (another member's is not found): its node (the part
/// before the `@`) and the domain it was on.
pub async fn delete(
    conn: &mut PgConnection,
    member: MemberId,
    id: XmppAccountId,
) -> Result<(String, DomainId)> {
    let row = sqlx::query!(
        "delete from xmpp_accounts where id = $1 and member_id = $2 returning node, domain_id",
        id.0,
        member.0
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound)?;
    Ok((row.node, DomainId(row.domain_id)))
}
