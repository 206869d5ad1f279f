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
use tokio::sync::watch;

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

/// One round: verify pending domains, check every server, then move secondaries (which reads
/// what the checks just saw). Each part logs its own failure and the others still run.
pub async fn run_once(pool: &PgPool, base: &DnsConfig) {
    let config = match config(pool, base).await {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "DNS round skipped: cannot read the collective");
            return;
        }
    };
    let config = &config;
    if let Err(e) = verify::run_once(pool, config).await {
        tracing::warn!(error = %e, "DNS verification round failed; will retry");
    }
    if let Err(e) = monitor::run_once(pool, config).await {
        tracing::warn!(error = %e, "DNS server checks failed; will retry");
    }
    if let Err(e) = placement::run_once(pool, config).await {
        tracing::warn!(error = %e, "DNS secondary placement failed; will retry");
    }
}

/// Runs [`run_once`] every `check_interval_seconds` until shutdown.
pub async fn run(pool: PgPool, config: DnsConfig, mut shutdown: watch::Receiver<bool>) {
    let interval = Duration::from_secs(config.check_interval_seconds.max(1));
    loop {
        run_once(&pool, &config).await;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}
