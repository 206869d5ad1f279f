//! Invitations: the only way a member account comes to exist (besides the first admin).

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use crate::error::Result;
use crate::model::ids::{InvitationId, MemberId, PlanId};
use crate::model::secret::{self, Token};

#[derive(Debug, Clone)]
pub struct Invitation {
    pub id: InvitationId,
    pub email: String,
    pub plan_id: PlanId,
    pub expires_at: OffsetDateTime,
}

/// Whether a member already has the address `email` (in any case).
pub async fn email_taken(conn: &mut PgConnection, email: &str) -> Result<bool> {
    Ok(sqlx::query_scalar!(
        "select exists (select 1 from members where lower(email) = lower($1)) as \"e!\"",
        email
    )
    .fetch_one(conn)
    .await?)
}

/// Stores the invitation `id` of `email` to `plan` (only the token's digest), valid `days` days:
/// when it expires.
pub async fn insert(
    conn: &mut PgConnection,
    id: InvitationId,
    email: &str,
    plan: PlanId,
    token: &Token,
    invited_by: Option<MemberId>,
    days: i64,
) -> Result<OffsetDateTime> {
    Ok(sqlx::query_scalar!(
        "insert into invitations (id, email, plan_id, token_hash, invited_by, expires_at)
         values ($1, $2, $3, $4, $5, now() + make_interval(days => $6::int)) returning expires_at",
        id.0,
        email,
        plan.0,
        token.digest(),
        invited_by.map(|m| m.0),
        i32::try_from(days).unwrap_or(7)
    )
    .fetch_one(conn)
    .await?)
}

pub async fn find_valid(pool: &PgPool, token: &str) -> Result<Option<Invitation>> {
    let r = sqlx::query!(
        "select id, email, plan_id, expires_at from invitations
         where token_hash = $1 and accepted_at is null and revoked_at is null and expires_at > now()",
        secret::digest(token)
    )
    .fetch_optional(pool)
    .await?;
    Ok(r.map(|r| Invitation {
        id: InvitationId(r.id),
        email: r.email,
        plan_id: PlanId(r.plan_id),
        expires_at: r.expires_at,
    }))
}

pub async fn pending(pool: &PgPool) -> Result<Vec<Invitation>> {
    let rows = sqlx::query!(
        "select id, email, plan_id, expires_at from invitations
         where accepted_at is null and revoked_at is null and expires_at > now()
         order by created_at desc"
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Invitation {
            id: InvitationId(r.id),
            email: r.email,
            plan_id: PlanId(r.plan_id),
            expires_at: r.expires_at,
        })
        .collect())
}

/// Revokes the invitation `id`; whether it was still open (neither accepted nor revoked).
pub async fn revoke(conn: &mut PgConnection, id: InvitationId) -> Result<bool> {
    let n = sqlx::query!(
        "update invitations set revoked_at = now()
         where id = $1 and accepted_at is null and revoked_at is null",
        id.0
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// An invitation just accepted: what the new member's account is made of.
pub struct Accepted {
    pub id: InvitationId,
    pub email: String,
    pub plan_id: PlanId,
}

/// Uses the invitation link `token`, once; `None` if it is unknown, used, revoked or expired.
pub async fn accept(conn: &mut PgConnection, token: &str) -> Result<Option<Accepted>> {
    Ok(sqlx::query!(
        "update invitations set accepted_at = now()
         where token_hash = $1 and accepted_at is null and revoked_at is null and expires_at > now()
         returning id, email, plan_id",
        secret::digest(token)
    )
    .fetch_optional(conn)
    .await?
    .map(|r| Accepted {
        id: InvitationId(r.id),
        email: r.email,
        plan_id: PlanId(r.plan_id),
    }))
}
