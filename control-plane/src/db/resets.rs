//! Password reset by mail: a one-time, short-lived link.

use sqlx::PgPool;

use super::audit::Actor;
use super::members;
use crate::error::{Error, Result};
use crate::model::ids::MemberId;
use crate::model::secret::{self, Token};

pub async fn create(pool: &PgPool, member: MemberId, minutes: i64) -> Result<Token> {
    let token = Token::generate();
    sqlx::query!(
        "insert into password_resets (token_hash, member_id, expires_at)
         values ($1, $2, now() + make_interval(mins => $3::int))",
        token.digest(),
        member.0,
        i32::try_from(minutes).unwrap_or(60)
    )
    .execute(pool)
    .await?;
    Ok(token)
}

pub async fn is_valid(pool: &PgPool, token: &str) -> Result<bool> {
    Ok(sqlx::query_scalar!(
        "select exists (select 1 from password_resets
                        where token_hash = $1 and used_at is null and expires_at > now()) as \"v!\"",
        secret::digest(token)
    )
    .fetch_one(pool)
    .await?)
}

/// Uses the link: sets the new password, ends all sessions, revokes every API token and app
/// password, and voids the member's other outstanding reset links.
pub async fn consume(
    pool: &PgPool,
    token: &str,
    password_hash: &str,
    ip: Option<String>,
) -> Result<MemberId> {
    let mut tx = pool.begin().await?;
    let member = sqlx::query_scalar!(
        "update password_resets set used_at = now()
         where token_hash = $1 and used_at is null and expires_at > now() returning member_id",
        secret::digest(token)
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(MemberId)
    .ok_or(Error::Gone)?;
    sqlx::query!(
        "update password_resets set used_at = now() where member_id = $1 and used_at is null",
        member.0
    )
    .execute(&mut *tx)
    .await?;
    let actor = Actor {
        member_id: Some(member),
        email: None,
        ip,
    };
    members::set_password_in(&mut tx, &actor, member, password_hash, None).await?;
    members::revoke_credentials_in(&mut tx, &actor, member).await?;
    tx.commit().await?;
    Ok(member)
}
