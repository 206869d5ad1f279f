//! Mailboxes on a member's domains.

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::model::ids::{DomainId, MailboxId, MemberId};
use crate::model::LocalPart;

#[derive(Debug, Clone)]
pub struct Mailbox {
    pub id: MailboxId,
    pub domain_id: DomainId,
    pub address: String,
    pub local_part: String,
    pub quota_bytes: i64,
    /// What the hosting node last measured; null until it has.
    pub used_bytes: Option<i64>,
    pub used_messages: Option<i64>,
    /// When the measurement was last reported (re-confirmed at least every ten minutes while
    /// the node reports in).
    pub usage_at: Option<OffsetDateTime>,
    /// Its member made it public: WebFinger on the node answers for it.
    pub public: bool,
    pub created_at: OffsetDateTime,
}

pub async fn list(
    db: impl sqlx::PgExecutor<'_>,
    member: MemberId,
    domain: DomainId,
) -> Result<Vec<Mailbox>> {
    let rows = sqlx::query!(
        "select mb.id, mb.domain_id, mb.local_part, d.name, mb.quota_bytes, mb.used_bytes,
                mb.used_messages, mb.usage_at, mb.public, mb.created_at
         from mailboxes mb join domains d on d.id = mb.domain_id
         where mb.member_id = $1 and mb.domain_id = $2 order by mb.local_part",
        member.0,
        domain.0
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Mailbox {
            id: MailboxId(r.id),
            domain_id: DomainId(r.domain_id),
            address: format!("{}@{}", r.local_part, r.name),
            local_part: r.local_part,
            quota_bytes: r.quota_bytes,
            used_bytes: r.used_bytes,
            used_messages: r.used_messages,
            usage_at: r.usage_at,
            public: r.public,
            created_at: r.created_at,
        })
        .collect())
}

/// The member's mailbox `id` on their domain `domain`, locked until the end of the transaction
/// (another member's, or one on another domain, is not found).
pub async fn lock_owned(
    conn: &mut PgConnection,
    member: MemberId,
    domain: DomainId,
    id: MailboxId,
) -> Result<Mailbox> {
    let r = sqlx::query!(
        "select mb.id, mb.domain_id, mb.local_part, d.name, mb.quota_bytes, mb.used_bytes,
                mb.used_messages, mb.usage_at, mb.public, mb.created_at
         from mailboxes mb join domains d on d.id = mb.domain_id
         where mb.id = $1 and mb.member_id = $2 and mb.domain_id = $3
         for update of mb",
        id.0,
        member.0,
        domain.0
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound)?;
    Ok(Mailbox {
        id: MailboxId(r.id),
        domain_id: DomainId(r.domain_id),
        address: format!("{}@{}", r.local_part, r.name),
        local_part: r.local_part,
        quota_bytes: r.quota_bytes,
        used_bytes: r.used_bytes,
        used_messages: r.used_messages,
        usage_at: r.usage_at,
        public: r.public,
        created_at: r.created_at,
    })
}

/// Makes the member's mailbox `id` public or not (another member's is not found). The row's
/// trigger bumps the hosting node's generation when the value changes.
pub async fn set_public(
    conn: &mut PgConnection,
    member: MemberId,
    id: MailboxId,
    public: bool,
) -> Result<()> {
    sqlx::query!(
        "update mailboxes set public = $3 where id = $1 and member_id = $2 returning id",
        id.0,
        member.0,
        public
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound)?;
    Ok(())
}

/// Stores a new mailbox; its creation time. The caller checked the member's limits and that
/// the address is free, in the same transaction (`services::addresses::create_mailbox`).
pub async fn insert(
    conn: &mut PgConnection,
    member: MemberId,
    domain: DomainId,
    id: MailboxId,
    local: &LocalPart,
    password_hash: &str,
    quota_bytes: i64,
) -> Result<OffsetDateTime> {
    Ok(sqlx::query_scalar!(
        "insert into mailboxes (id, member_id, domain_id, local_part, password_hash, quota_bytes)
         values ($1, $2, $3, $4, $5, $6) returning created_at",
        id.0,
        member.0,
        domain.0,
        local.as_str(),
        password_hash,
        quota_bytes
    )
    .fetch_one(conn)
    .await?)
}

/// Deletes the member's mailbox `id` (another member's is not found): its local part and the
/// domain it was on.
pub async fn delete(
    conn: &mut PgConnection,
    member: MemberId,
    id: MailboxId,
) -> Result<(String, DomainId)> {
    let row = sqlx::query!(
        "delete from mailboxes where id = $1 and member_id = $2 returning local_part, domain_id",
        id.0,
        member.0
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound)?;
    Ok((row.local_part, DomainId(row.domain_id)))
}
