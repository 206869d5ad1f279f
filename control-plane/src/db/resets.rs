//! Password reset by mail: a one-time, short-lived link.

use sqlx::{PgConnection, PgPool};

use crate::error::Result;
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

/// Uses the link `token`, once: the member it was for; `None` if it is unknown, used or
/// expired.
pub async fn use_link(conn: &mut PgConnection, token: &str) -> Result<Option<MemberId>> {
    Ok(sqlx::query_scalar!(
        "update password_resets set used_at = now()
         where token_hash = $1 and used_at is null and expires_at > now() returning member_id",
        secret::digest(token)
    )
    .fetch_optional(conn)
    .await?
    .map(MemberId))
}

/// Voids the member's outstanding reset links.
pub async fn void_all(conn: &mut PgConnection, member: MemberId) -> Result<()> {
    sqlx::query!(
        "update password_resets set used_at = now() where member_id = $1 and used_at is null",
        member.0
    )
    .execute(conn)
    .await?;
    Ok(())
}
