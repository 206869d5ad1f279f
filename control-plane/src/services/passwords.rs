//! A member's password: changed while signed in, or reset by a link from a mail. Either ends the
//! member's other sessions and may revoke every API token and app password (whoever knew the old
//! password may have made some), in one transaction with the audit entries.

use sqlx::{PgConnection, PgPool};

use crate::db::audit::{self, Actor};
use crate::db::{members, resets};
use crate::error::{Error, Result};
use crate::model::ids::MemberId;

/// Changes the member's password to `password_hash`, signing the member out everywhere but the
/// session `keep_session` (its token digest); with `revoke_credentials`, also revokes every API
/// token and app password of the member.
pub async fn change(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    password_hash: &str,
    keep_session: Option<&[u8]>,
    revoke_credentials: bool,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    set(&mut tx, actor, member, password_hash, keep_session).await?;
    if revoke_credentials {
        revoke(&mut tx, actor, member).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Uses the reset link `token` (`Gone` if it is unknown, used or expired): sets the new
/// password, ends all sessions, revokes every API token and app password, and voids the
/// member's other outstanding reset links. The member it was for.
pub async fn reset(
    pool: &PgPool,
    token: &str,
    password_hash: &str,
    ip: Option<String>,
) -> Result<MemberId> {
    let mut tx = pool.begin().await?;
    let member = resets::use_link(&mut tx, token).await?.ok_or(Error::Gone)?;
    resets::void_all(&mut tx, member).await?;
    let actor = Actor {
        member_id: Some(member),
        email: None,
        ip,
    };
    set(&mut tx, &actor, member, password_hash, None).await?;
    revoke(&mut tx, &actor, member).await?;
    tx.commit().await?;
    Ok(member)
}

/// Changing a password ends every other session of the member.
async fn set(
    conn: &mut PgConnection,
    actor: &Actor,
    member: MemberId,
    password_hash: &str,
    keep_session: Option<&[u8]>,
) -> Result<()> {
    members::update_password(&mut *conn, member, password_hash).await?;
    members::delete_sessions_but(&mut *conn, member, keep_session).await?;
    audit::record(
        &mut *conn,
        actor,
        "member.password",
        Some(member),
        serde_json::json!({}),
    )
    .await
}

/// Revokes every API token and app password of the member, audited as one entry with the
/// counts.
async fn revoke(conn: &mut PgConnection, actor: &Actor, member: MemberId) -> Result<()> {
    let api_tokens = members::revoke_api_tokens(&mut *conn, member).await?;
    let app_passwords = members::revoke_app_passwords(&mut *conn, member).await?;
    audit::record(
        &mut *conn,
        actor,
        "member.credentials_revoked",
        Some(member),
        serde_json::json!({ "api_tokens": api_tokens, "app_passwords": app_passwords }),
    )
    .await
}
