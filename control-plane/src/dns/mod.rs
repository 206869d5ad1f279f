//! The collective's DNS, seen from the control plane: who serves which zones (`topology`,
//! `placement`), the TSIG keys nodes share (`keys`), ownership verification and the registrar
//! checklist (`verify`), and the checks of every server (`monitor`). Nodes render and run Knot;
//! everything here ends up in their desired state (`db::desired`) or on a page.

pub mod keys;
pub mod monitor;
pub mod placement;
pub mod topology;
pub mod verify;

use std::time::Duration;

use sqlx::PgPool;

use crate::config::DnsConfig;

/// `base` with the collective's platform domain (named at setup); `None` before setup, when
/// there is no collective, hence no name server names, yet. One query on `db`: a caller that
/// holds a connection passes it.
pub async fn config(
    db: impl sqlx::PgExecutor<'_>,
    base: &DnsConfig,
) -> crate::error::Result<Option<DnsConfig>> {
    let Some(collective) = crate::db::setup::collective(db).await? else {
        return Ok(None);
    };
    with_platform(base, &collective.platform_domain).map(Some)
}

/// `base` with `platform_domain` as stored by setup (for a caller that read it itself).
pub fn with_platform(base: &DnsConfig, platform_domain: &str) -> crate::error::Result<DnsConfig> {
    let platform_domain = protocol::names::DomainName::parse(platform_domain).map_err(|e| {
        crate::error::Error::Internal(anyhow::anyhow!("stored platform domain: {e}"))
    })?;
    Ok(DnsConfig {
        platform_domain,
        ..base.clone()
    })
}

/// One round of the `dns` worker: verify pending domains, check every server, then move
/// secondaries (which reads what the checks just saw). Each part runs even when another failed;
/// the failures are logged and returned together.
pub async fn run_once(pool: &PgPool, base: &DnsConfig) -> Result<(), String> {
    let config = match config(pool, base).await {
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
