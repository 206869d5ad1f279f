//! The second factor's state: a TOTP secret pending or enabled, the last time step used, the
//! recovery codes (enrolment, the login check and turning it off: `services::second_factor`).

use sqlx::{PgConnection, PgPool};
use web::Reason;

use crate::error::{Error, Result};
use crate::model::ids::MemberId;
use crate::model::secret;

/// Stores a new, not yet confirmed secret (replacing an unconfirmed one).
pub async fn begin_enrolment(pool: &PgPool, member: MemberId, secret: &[u8]) -> Result<()> {
    let n = sqlx::query!(
        "update members set totp_secret = $2 where id = $1 and totp_enabled_at is null",
        member.0,
        secret
    )
    .execute(pool)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(Error::Conflict(Reason::TotpAlreadyEnabled));
    }
    Ok(())
}

pub async fn pending_secret(pool: &PgPool, member: MemberId) -> Result<Option<Vec<u8>>> {
    Ok(sqlx::query_scalar!(
        "select totp_secret from members where id = $1 and totp_enabled_at is null",
        member.0
    )
    .fetch_optional(pool)
    .await?
    .flatten())
}

/// Locks the member's row while enrolment is pending: the secret not yet confirmed (`None`: no
/// enrolment pending, or the second factor is already on).
pub async fn lock_pending_secret(
    conn: &mut PgConnection,
    member: MemberId,
) -> Result<Option<Vec<u8>>> {
    Ok(sqlx::query_scalar!(
        "select totp_secret from members where id = $1 and totp_enabled_at is null for update",
        member.0
    )
    .fetch_optional(conn)
    .await?
    .flatten())
}

/// Turns the second factor on, `step` being the time step of the code that confirmed it.
pub async fn enable(conn: &mut PgConnection, member: MemberId, step: i64) -> Result<()> {
    sqlx::query!(
        "update members set totp_enabled_at = now(), totp_last_step = $2 where id = $1",
        member.0,
        step
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Replaces the member's recovery codes by `codes` (only their digests are stored).
pub async fn replace_recovery_codes(
    conn: &mut PgConnection,
    member: MemberId,
    codes: &[String],
) -> Result<()> {
    delete_recovery_codes(&mut *conn, member).await?;
    for code in codes {
        sqlx::query!(
            "insert into recovery_codes (member_id, code_hash) values ($1, $2)",
            member.0,
            secret::digest(code)
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn delete_recovery_codes(conn: &mut PgConnection, member: MemberId) -> Result<()> {
    sqlx::query!("delete from recovery_codes where member_id = $1", member.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// Locks the member's row when the second factor is on: its secret and the time step of the
/// last code accepted (`None`: the second factor is off).
pub async fn lock_enabled(
    conn: &mut PgConnection,
    member: MemberId,
) -> Result<Option<(Vec<u8>, Option<i64>)>> {
    let r = sqlx::query!(
        "select totp_secret, totp_last_step from members
         where id = $1 and totp_enabled_at is not null for update",
        member.0
    )
    .fetch_optional(conn)
    .await?;
    Ok(r.and_then(|r| Some((r.totp_secret?, r.totp_last_step))))
}

/// Records the time step of the code just accepted, so that it cannot be used again.
pub async fn set_last_step(conn: &mut PgConnection, member: MemberId, step: i64) -> Result<()> {
    sqlx::query!(
        "update members set totp_last_step = $2 where id = $1",
        member.0,
        step
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Uses the member's recovery code `normalized`, once: whether it was an unused one.
pub async fn use_recovery_code(
    conn: &mut PgConnection,
    member: MemberId,
    normalized: &str,
) -> Result<bool> {
    let used = sqlx::query!(
        "update recovery_codes set used_at = now()
         where member_id = $1 and code_hash = $2 and used_at is null",
        member.0,
        secret::digest(normalized)
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(used == 1)
}

/// Turns the second factor off: its secret and recovery codes are forgotten.
pub async fn clear(conn: &mut PgConnection, member: MemberId) -> Result<()> {
    sqlx::query!(
        "update members set totp_secret = null, totp_enabled_at = null, totp_last_step = null
         where id = $1",
        member.0
    )
    .execute(&mut *conn)
    .await?;
    delete_recovery_codes(conn, member).await
}
