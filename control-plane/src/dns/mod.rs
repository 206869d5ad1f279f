//! The collective's DNS rounds, seen from the control plane: which nodes serve which zones as
//! secondaries (`placement`), ownership verification and the registrar checklist (`verify`),
//! and the checks of every server (`monitor`). Who serves what and the TSIG keys are stored
//! (`db::topology`, `db::tsig_keys`); their names are the model's (`model::nameservers`).
//! Nodes render and run Knot; everything here ends up in their desired state (`db::desired`)
//! or on a page.
//!
//! Each node is primary for its members' verified domains and produces an RFC 9432 catalog of
//! them; its secondaries (other nodes, `dns_secondaries`) transfer them with a TSIG key per node
//! pair, configured zone by zone from the list the control plane keeps (never from the
//! primary's catalog, which only external secondaries consume; they are always in the NS
//! records). A new or removed domain reaches the secondaries with no further step: triggers
//! (`migrations/*_dns_boundaries.sql`) bump every secondary of a node whose set of zones
//! changes (a domain activated, renamed or removed, a member moved or deleted) in the same
//! transaction. A listed server always has the zone: see `model::placement` for `pending`,
//! `active` and `retiring`.

pub mod monitor;
pub mod placement;
pub mod verify;

use std::time::Duration;

use sqlx::PgPool;

use crate::config::DnsConfig;

/// One round of the `dns` worker: verify pending domains, check every server, then move
/// secondaries (which reads what the checks just saw). Each part runs even when another failed;
/// the failures are logged and returned together.
pub async fn run_once(pool: &PgPool, base: &DnsConfig) -> Result<(), String> {
    let config = match crate::db::setup::dns_config(pool, base).await {
        Ok(Some(c)) => c,
        Ok(None) => return Ok(()),
        Err(e) => return Err(format!("cannot read the collective: {e}")),
    };
    let config = &config;
    let mut failed = Vec::new();
    if let Err(e) = verify::run_once(pool, config).await {
        failed.push(format!("verification: {e}"));
    }
    if let Err(e) = monitor::run_once(pool, config).await {
        failed.push(format!("server checks: {e}"));
    }
    if let Err(e) = placement::run_once(pool, config).await {
        failed.push(format!("secondary placement: {e}"));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// How often the `dns` worker runs.
pub fn interval(config: &DnsConfig) -> Duration {
    Duration::from_secs(config.check_interval_seconds.max(1))
}
