//! Postgres access. One module per resource; every function on member data takes the member's
//! id and puts it in the WHERE clause, so one member can never read or change another's rows.
//! Each state-changing function is one transaction that also writes its audit entry.
//!
//! Architecture invariant: nothing here imports axum; handlers call these functions with typed
//! values from `domain`.

pub mod aliases;
pub mod api_tokens;
pub mod app_passwords;
pub mod audit;
pub mod desired;
pub mod dns_admin;
pub mod dns_records;
pub mod domains;
pub mod invitations;
pub mod mailboxes;
pub mod members;
pub mod nodes;
pub mod plans;
pub mod rate_limit;
pub mod resets;
pub mod second_factor;
pub mod sessions;
pub mod setup;
pub mod xmpp;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::config::DatabaseConfig;

pub use audit::Actor;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A lazily connecting pool: the server starts, and keeps running, while Postgres is away;
/// requests in that time fail with 503 and the pool reconnects when it is back.
pub fn pool(config: &DatabaseConfig) -> anyhow::Result<PgPool> {
    let url = config.url.as_deref().ok_or_else(|| {
        anyhow::anyhow!("no database configured: set DATABASE_URL or [database] url")
    })?;
    let options: PgConnectOptions = url.parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_secs(config.acquire_timeout_seconds))
        .connect_lazy_with(options))
}

/// Runs pending migrations. sqlx holds a Postgres advisory lock meanwhile, so several control
/// planes starting together apply each migration once.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// True when the database answers and every embedded migration has been applied.
pub async fn ready(pool: &PgPool) -> bool {
    let applied: Result<i64, _> =
        sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
            .fetch_one(pool)
            .await;
    matches!(applied, Ok(n) if usize::try_from(n).ok() == Some(MIGRATOR.iter().count()))
}
