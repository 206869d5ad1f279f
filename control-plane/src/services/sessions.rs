//! A member's sessions: signing out every other browser at once, audited.

use sqlx::PgPool;

use crate::db::audit::{self, Actor};
use crate::db::sessions;
use crate::error::Result;
use crate::model::ids::MemberId;

/// Signs the member out everywhere but the session `keep` (its token digest): how many
/// sessions ended.
pub async fn revoke_others(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    keep: &[u8],
) -> Result<u64> {
    let mut tx = pool.begin().await?;
    let n = sessions::delete_others(&mut *tx, member, keep).await?;
    audit::record(
        &mut *tx,
        actor,
        "session.revoke_others",
        Some(member),
        serde_json::json!({ "sessions": n }),
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}
