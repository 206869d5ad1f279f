//! Aliases (and the catch-all, source `*`) on a member's domains.

use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;

use super::audit::{self, Actor};
use super::{domains, members};
use crate::error::{Error, Result};
use crate::model::ids::{AliasId, DomainId, MemberId};
use crate::model::plan::Resource;
use crate::model::{AliasSource, EmailAddress};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Alias {
    pub id: AliasId,
    pub domain_id: DomainId,
    /// A local part, or `*` for the catch-all.
    pub source: String,
    pub targets: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
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

pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    domain: DomainId,
    source: &AliasSource,
    targets: &[EmailAddress],
) -> Result<Alias> {
    let source = source.to_string();
    let targets: Vec<String> = targets.iter().map(ToString::to_string).collect();
    let mut tx = pool.begin().await?;
    let limits = members::lock_limits(&mut tx, member).await?;
    let domain_name = domains::lock_owned(&mut tx, member, domain).await?;
    domains::address_free(&mut tx, domain, &source).await?;
    let usage = members::usage(&mut tx, member).await?;
    limits.check(&usage, Resource::Alias, 0)?;
    let id = AliasId::new();
    let created_at = sqlx::query_scalar!(
        "insert into aliases (id, member_id, domain_id, source, targets) values ($1, $2, $3, $4, $5)
         returning created_at",
        id.0,
        member.0,
        domain.0,
        source,
        &targets
    )
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        actor,
        "alias.create",
        Some(member),
        serde_json::json!({ "alias": id, "source": format!("{source}@{domain_name}"), "targets": targets }),
    )
    .await?;
    tx.commit().await?;
    Ok(Alias {
        id,
        domain_id: domain,
        source,
        targets,
        created_at,
    })
}

/// Returns the domain the alias was on.
pub async fn delete(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    id: AliasId,
) -> Result<DomainId> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        "delete from aliases where id = $1 and member_id = $2 returning source, domain_id",
        id.0,
        member.0
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound)?;
    let source = row.source;
    audit::record(
        &mut *tx,
        actor,
        "alias.delete",
        Some(member),
        serde_json::json!({ "alias": id, "source": source }),
    )
    .await?;
    tx.commit().await?;
    Ok(DomainId(row.domain_id))
}
