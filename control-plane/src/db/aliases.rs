//! Aliases (and the catch-all, source `*`) on a member's domains.

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::model::ids::{AliasId, DomainId, MemberId};

#[derive(Debug, Clone)]
pub struct Alias {
    pub id: AliasId,
    pub domain_id: DomainId,
    /// A local part, or `*` for the catch-all.
    pub source: String,
    pub targets: Vec<String>,
    pub created_at: OffsetDateTime,
}

pub async fn list(
    db: impl sqlx::PgExecutor<'_>,
    member: MemberId,
    domain: DomainId,
) -> Result<Vec<Alias>> {
    let rows = sqlx::query!(
        "select id, domain_id, source, targets, created_at from aliases
         where member_id = $1 and domain_id = $2 order by source",
        member.0,
        domain.0
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Alias {
            id: AliasId(r.id),
            domain_id: DomainId(r.domain_id),
            source: r.source,
            targets: r.targets,
            created_at: r.created_at,
        })
        .collect())
}

/// Stores a new alias; its creation time. The caller checked the member's limits and that the
/// address is free, in the same transaction (`services::addresses::create_alias`).
pub async fn insert(
    conn: &mut PgConnection,
    member: MemberId,
    domain: DomainId,
    id: AliasId,
    source: &str,
    targets: &[String],
) -> Result<OffsetDateTime> {
    Ok(sqlx::query_scalar!(
        "insert into aliases (id, member_id, domain_id, source, targets) values ($1, $2, $3, $4, $5)
         returning created_at",
        id.0,
        member.0,
        domain.0,
        source,
        targets
    )
    .fetch_one(conn)
    .await?)
}

/// Deletes the member's alias `id` (another member's is not found): its source and the domain
/// it was on.
pub async fn delete(
    conn: &mut PgConnection,
    member: MemberId,
    id: AliasId,
) -> Result<(String, DomainId)> {
    let row = sqlx::query!(
        "delete from aliases where id = $1 and member_id = $2 returning source, domain_id",
        id.0,
        member.0
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound)?;
    Ok((row.source, DomainId(row.domain_id)))
}
