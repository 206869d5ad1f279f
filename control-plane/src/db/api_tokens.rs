//! Personal API tokens: random, shown once, stored as a digest, revocable.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::members::{to_member, Member};
use crate::error::Result;
use crate::model::ids::{ApiTokenId, MemberId};
use crate::model::secret::{self, Token};

#[derive(Debug, Clone)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub label: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

pub async fn list(pool: &PgPool, member: MemberId) -> Result<Vec<ApiToken>> {
    Ok(sqlx::query!(
        "select id, label, created_at, last_used_at from api_tokens
         where member_id = $1 and revoked_at is null order by created_at desc",
        member.0
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| ApiToken {
        id: ApiTokenId(r.id),
        label: r.label,
        created_at: r.created_at,
        last_used_at: r.last_used_at,
    })
    .collect())
}

/// Stores a new token `id` (only its digest): its creation time.
pub async fn insert(
    conn: &mut PgConnection,
    member: MemberId,
    id: ApiTokenId,
    label: &str,
    token: &Token,
) -> Result<OffsetDateTime> {
    Ok(sqlx::query_scalar!(
        "insert into api_tokens (id, member_id, label, token_hash) values ($1, $2, $3, $4)
         returning created_at",
        id.0,
        member.0,
        label,
        token.digest()
    )
    .fetch_one(conn)
    .await?)
}

/// The member owning a presented, unrevoked token, if they are active: one query, with the
/// member. Records the use at most once a minute: writing on every call would serialise a
/// client's parallel requests on the token's row.
pub async fn authenticate(conn: &mut PgConnection, token: &str) -> Result<Option<Member>> {
    let Some(r) = sqlx::query!(
        "select t.id as token_id,
                coalesce(t.last_used_at > now() - interval '1 minute', false) as \"fresh!\",
                m.id, m.email, m.display_name, m.is_admin, m.plan_id, p.name as \"plan_name?\",
                m.status, m.delete_after, m.totp_enabled_at is not null as \"totp_enabled!\",
                m.locale, m.node_id, m.created_at
         from api_tokens t join members m on m.id = t.member_id
         left join plans p on p.id = m.plan_id
         where t.token_hash = $1 and t.revoked_at is null and m.status = 'active'",
        secret::digest(token)
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    if !r.fresh {
        sqlx::query!(
            "update api_tokens set last_used_at = now() where id = $1",
            r.token_id
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(Some(to_member!(r)))
}

/// Revokes the member's token `id`; whether it was live (another member's is not).
pub async fn revoke(conn: &mut PgConnection, member: MemberId, id: ApiTokenId) -> Result<bool> {
    let n = sqlx::query!(
        "update api_tokens set revoked_at = now()
         where id = $1 and member_id = $2 and revoked_at is null",
        id.0,
        member.0
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n > 0)
}
