//! A sliding-window rate limiter kept in Postgres, so every control plane behind a load
//! balancer counts the same attempts.

use sqlx::PgPool;

use crate::error::{Error, Result};

/// Fails with `RateLimited` when `key` has `limit` or more events in the last `window_minutes`.
pub async fn check(pool: &PgPool, key: &str, limit: i64, window_minutes: i64) -> Result<()> {
    let count = sqlx::query_scalar!(
        "select count(*) from rate_limit_events
         where key = $1 and at > now() - make_interval(mins => $2::int)",
        key,
        i32::try_from(window_minutes).unwrap_or(i32::MAX)
    )
    .fetch_one(pool)
    .await?
    .unwrap_or(0);
    if count >= limit {
        return Err(Error::RateLimited);
    }
    Ok(())
}

pub async fn record(pool: &PgPool, key: &str) -> Result<()> {
    sqlx::query!("insert into rate_limit_events (key) values ($1)", key)
        .execute(pool)
        .await?;
    Ok(())
}

/// Housekeeping: events older than a day no longer count for any window.
pub async fn prune(pool: &PgPool) -> Result<u64> {
    Ok(
        sqlx::query!("delete from rate_limit_events where at < now() - interval '1 day'")
            .execute(pool)
            .await?
            .rows_affected(),
    )
}
