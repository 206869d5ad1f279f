//! The placement round: which nodes are secondaries of which ([`crate::model::placement`] says
//! what to change), written in one transaction with the TSIG keys new pairs and new nodes need
//! and its audit entries, under a transaction-level advisory lock so several control planes never
//! place at once.

use sqlx::PgPool;

use crate::config::Platform;
use crate::db::audit::{self, Actor};
use crate::db::{secondaries, tsig_keys};
use crate::error::Result;
use crate::model::ids::NodeId;
use crate::model::placement::{changes, Change};

/// Reads nodes, assignments and the monitor's latest checks; decides; writes.
pub async fn run_once(pool: &PgPool, config: &Platform) -> Result<()> {
    let mut tx = pool.begin().await?;
    if !secondaries::try_lock_placement(&mut tx).await? {
        return Ok(());
    }
    let nodes = secondaries::candidates(&mut tx).await?;
    let current = secondaries::assignments(&mut tx, &config.platform_domain).await?;
    let changes = changes(
        &nodes,
        &current,
        usize::try_from(config.secondaries).unwrap_or(2),
        config.retire_seconds,
    );
    let added = secondaries::write(&mut tx, &changes).await?;
    // Every pair that transfers needs a key before either end's next desired state.
    for (primary, secondary) in added {
        tsig_keys::pair_key(&mut tx, config, NodeId(primary), NodeId(secondary)).await?;
    }
    // A node that joined after an external secondary was added gets its own key for it.
    let made = tsig_keys::make_missing_external_keys(&mut tx, config).await?;
    if !made.is_empty() {
        audit::record(
            &mut *tx,
            &Actor::round("DNS round"),
            "dns.external_secondary.new_node_keys",
            None,
            serde_json::json!({ "keys": made }),
        )
        .await?;
        tracing::info!(keys = ?made, "made external secondaries' keys for new nodes");
    }
    if !changes.is_empty() {
        audit::record(
            &mut *tx,
            &Actor::round("DNS secondary placement"),
            "dns.secondaries.change",
            None,
            serde_json::json!({ "changes": changes.iter().map(Change::audit).collect::<Vec<_>>() }),
        )
        .await?;
    }
    tx.commit().await?;
    if !changes.is_empty() {
        tracing::info!(?changes, "DNS secondaries changed");
    }
    Ok(())
}
