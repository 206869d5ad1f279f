//! A member's second factor (TOTP): enrolment confirmed with a first code (and recovery codes
//! given), the code checked at login, and turning it off. Each is one transaction; the changes
//! and the use of a recovery code are audited.

use sqlx::PgPool;
use web::Reason;

use crate::db::audit::{self, Actor};
use crate::db::second_factor;
use crate::error::{Error, Result};
use crate::model::ids::MemberId;
use crate::model::totp;

/// Confirms enrolment with a first valid code (the clock at `now_unix`), turning the second
/// factor on: the recovery codes, to show once.
pub async fn confirm(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    code: &str,
    now_unix: u64,
) -> Result<Vec<String>> {
    let mut tx = pool.begin().await?;
    let secret = second_factor::lock_pending_secret(&mut tx, member)
        .await?
        .ok_or_else(|| Error::Conflict(Reason::TotpStartAgain))?;
    let step = totp::verify(&secret, code, now_unix, None)
        .ok_or_else(|| Error::field("code", Reason::CodeInvalidCheckClock))?;
    second_factor::enable(&mut tx, member, step).await?;
    let codes = totp::generate_recovery_codes();
    second_factor::replace_recovery_codes(&mut tx, member, &codes).await?;
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

/// Checks a login's second factor: a TOTP code (not reused) or an unused recovery code (whose
/// use is audited). Whether it passed.
pub async fn check(pool: &PgPool, member: MemberId, code: &str, now_unix: u64) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let Some((secret, last_step)) = second_factor::lock_enabled(&mut tx, member).await? else {
        return Ok(false);
    };
    if let Some(step) = totp::verify(&secret, code, now_unix, last_step) {
        second_factor::set_last_step(&mut tx, member, step).await?;
        tx.commit().await?;
        return Ok(true);
    }
    let normalized = totp::normalize_recovery_code(code);
    let used = second_factor::use_recovery_code(&mut tx, member, &normalized).await?;
    if used {
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
    Ok(used)
}

/// Turns the member's second factor off; its recovery codes stop working.
pub async fn disable(pool: &PgPool, actor: &Actor, member: MemberId) -> Result<()> {
    let mut tx = pool.begin().await?;
    second_factor::clear(&mut tx, member).await?;
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
