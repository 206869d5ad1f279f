//! The `housekeeping` worker, run by every control plane: purging members whose deletion grace
//! period is over, deleting domains left unverified past their claim period (7 days), and
//! pruning expired sessions, old rate-limit events and the nodes' change log past a week. Each
//! step is safe to run concurrently on several control planes (`skip locked`, idempotent
//! deletes).

use std::time::Duration;

use sqlx::PgPool;

/// How often it runs.
pub const INTERVAL: Duration = Duration::from_secs(60);

/// One round of housekeeping.
pub async fn run_once(pool: &PgPool) -> crate::error::Result<()> {
    let purged = crate::services::members::purge_due(pool).await?;
    if purged > 0 {
        tracing::info!(purged, "purged members whose deletion grace period ended");
    }
    let expired = crate::services::domains::expire_unverified(pool).await?;
    if expired > 0 {
        tracing::info!(
            expired,
            "deleted domains left unverified past their claim period"
        );
    }
    crate::db::sessions::prune(pool).await?;
    crate::db::rate_limit::prune(pool).await?;
    crate::db::desired::prune_changes(pool).await?;
    Ok(())
}
