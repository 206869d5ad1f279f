//! Invitations: the only way a member account comes to exist (besides the first admin).

use sqlx::PgPool;
use time::OffsetDateTime;
use web::Reason;

use super::audit::{self, Actor};
use super::members;
use crate::error::{Error, Result};
use crate::model::ids::{InvitationId, MemberId, PlanId};
use crate::model::secret::{self, Token};

#[derive(Debug, Clone)]
pub struct Invitation {
    pub id: InvitationId,
    pub email: String,
    pub plan_id: PlanId,
    pub expires_at: OffsetDateTime,
}

pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    email: &str,
    plan: PlanId,
    days: i64,
) -> Result<(Invitation, Token)> {
    let mut tx = pool.begin().await?;
    let exists = sqlx::query_scalar!(
        "select exists (select 1 from members where lower(email) = lower($1)) as \"e!\"",
        email
    )
    .fetch_one(&mut *tx)
    .await?;
    if exists {
        return Err(Error::Conflict(Reason::EmailTaken));
    }
    let id = InvitationId::new();
    let token = Token::generate();
    let expires_at = sqlx::query_scalar!(
        "insert into invitations (id, email, plan_id, token_hash, invited_by, expires_at)
         values ($1, $2, $3, $4, $5, now() + make_interval(days => $6::int)) returning expires_at",
        id.0,
        email,
        plan.0,
        token.digest(),
        actor.member_id.map(|m| m.0),
        i32::try_from(days).unwrap_or(7)
    )
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        actor,
        "invitation.create",
        None,
        serde_json::json!({ "invitation": id, "email": email, "plan": plan }),
    )
    .await?;
    tx.commit().await?;
    Ok((
        Invitation {
            id,
            email: email.to_owned(),
            plan_id: plan,
            expires_at,
        },
        token,
    ))
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

pub async fn revoke(pool: &PgPool, actor: &Actor, id: InvitationId) -> Result<()> {
    let mut tx = pool.begin().await?;
    let n = sqlx::query!(
        "update invitations set revoked_at = now()
         where id = $1 and accepted_at is null and revoked_at is null",
        id.0
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(Error::NotFound);
    }
    audit::record(
        &mut *tx,
        actor,
        "invitation.revoke",
        None,
        serde_json::json!({ "invitation": id }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Consumes the invitation and creates the member, in one transaction.
pub async fn accept(
    pool: &PgPool,
    token: &str,
    display_name: &str,
    password_hash: &str,
    ip: Option<String>,
) -> Result<MemberId> {
    let mut tx = pool.begin().await?;
    let inv = sqlx::query!(
        "update invitations set accepted_at = now()
         where token_hash = $1 and accepted_at is null and revoked_at is null and expires_at > now()
         returning id, email, plan_id",
        secret::digest(token)
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::Gone)?;
    let member = MemberId::new();
    members::insert(
        &mut tx,
        member,
        &inv.email,
        display_name,
        password_hash,
        false,
        Some(PlanId(inv.plan_id)),
    )
    .await?;
    audit::record(
        &mut *tx,
        &Actor {
            member_id: Some(member),
            email: Some(inv.email.clone()),
            ip,
        },
        "invitation.accept",
        Some(member),
        serde_json::json!({ "invitation": inv.id }),
    )
    .await?;
    tx.commit().await?;
    Ok(member)
}
