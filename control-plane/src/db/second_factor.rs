//! TOTP enrolment, verification at login, recovery codes.

use sqlx::PgPool;
use web::Reason;

use super::audit::{self, Actor};
use crate::error::{Error, Result};
use crate::model::ids::MemberId;
use crate::model::secret;
use crate::model::totp;

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

/// Confirms enrolment with a first valid code; returns the recovery codes to show once.
pub async fn confirm(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    code: &str,
    now_unix: u64,
) -> Result<Vec<String>> {
    let mut tx = pool.begin().await?;
    let secret = sqlx::query_scalar!(
        "select totp_secret from members where id = $1 and totp_enabled_at is null for update",
        member.0
    )
    .fetch_optional(&mut *tx)
    .await?
    .flatten()
    .ok_or_else(|| Error::Conflict(Reason::TotpStartAgain))?;
    let step = totp::verify(&secret, code, now_unix, None)
        .ok_or_else(|| Error::field("code", Reason::CodeInvalidCheckClock))?;
    sqlx::query!(
        "update members set totp_enabled_at = now(), totp_last_step = $2 where id = $1",
        member.0,
        step
    )
    .execute(&mut *tx)
    .await?;
    let codes = totp::generate_recovery_codes();
    sqlx::query!("delete from recovery_codes where member_id = $1", member.0)
        .execute(&mut *tx)
        .await?;
    for code in &codes {
        sqlx::query!(
            "insert into recovery_codes (member_id, code_hash) values ($1, $2)",
            member.0,
            secret::digest(code)
        )
        .execute(&mut *tx)
        .await?;
    }
    audit::record(
        &mut *tx,
        actor,
        "member.totp.enable",
        Some(member),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(codes)
}

/// Checks a login's second factor: a TOTP code (not reused) or an unused recovery code.
pub async fn check(pool: &PgPool, member: MemberId, code: &str, now_unix: u64) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let r = sqlx::query!(
        "select totp_secret, totp_last_step from members
         where id = $1 and totp_enabled_at is not null for update",
        member.0
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(r) = r else {
        return Ok(false);
    };
    let Some(secret) = r.totp_secret else {
        return Ok(false);
    };
    if let Some(step) = totp::verify(&secret, code, now_unix, r.totp_last_step) {
        sqlx::query!(
            "update members set totp_last_step = $2 where id = $1",
            member.0,
            step
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(true);
    }
    let normalized = totp::normalize_recovery_code(code);
    let used = sqlx::query!(
        "update recovery_codes set used_at = now()
         where member_id = $1 and code_hash = $2 and used_at is null",
        member.0,
        secret::digest(&normalized)
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if used == 1 {
        audit::record(
            &mut *tx,
            &Actor {
                member_id: Some(member),
                ..Actor::default()
            },
            "member.totp.recovery_code_used",
            Some(member),
            serde_json::json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(used == 1)
}

pub async fn disable(pool: &PgPool, actor: &Actor, member: MemberId) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "update members set totp_secret = null, totp_enabled_at = null, totp_last_step = null
         where id = $1",
        member.0
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("delete from recovery_codes where member_id = $1", member.0)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        actor,
        "member.totp.disable",
        Some(member),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
