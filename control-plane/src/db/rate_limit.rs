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

/// One counted attempt, taken before the attempt is evaluated. `give_back` returns it (for
/// attempts that succeeded and so should not count against the caller).
#[must_use = "an attempt that succeeded should be given back"]
pub struct Slot {
    key: String,
    row: String,
}

/// Counts and records an attempt in one step: fails with `RateLimited` when `key` already has
/// `limit` events in the last `window_minutes`, else records one and returns it. A transaction
/// advisory lock on the key serialises concurrent callers, so parallel attempts cannot all pass
/// the count before any of them is recorded (check-then-record would let them).
pub async fn take(pool: &PgPool, key: &str, limit: i64, window_minutes: i64) -> Result<Slot> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('ruche_rate_limit:' || $1, 0))",
        key
    )
    .execute(&mut *tx)
    .await?;
    // A statement after the lock: under read committed it sees every event committed by whoever
    // held the lock before.
    let row = sqlx::query_scalar!(
        "insert into rate_limit_events (key)
         select $1 where (select count(*) from rate_limit_events
                          where key = $1 and at > now() - make_interval(mins => $3::int)) < $2
         returning ctid::text as \"row!\"",
        key,
        limit,
        i32::try_from(window_minutes).unwrap_or(i32::MAX)
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    match row {
        Some(row) => Ok(Slot {
            key: key.to_owned(),
            row,
        }),
        None => Err(Error::RateLimited),
    }
}

/// Takes a slot under each key, all or none: when one is exhausted, the ones taken are given
/// back and the error returned.
pub async fn take_all(
    pool: &PgPool,
    keys: &[(&str, i64)],
    window_minutes: i64,
) -> Result<Vec<Slot>> {
    let mut slots = Vec::with_capacity(keys.len());
    for (key, limit) in keys {
        match take(pool, key, *limit, window_minutes).await {
            Ok(s) => slots.push(s),
            Err(e) => {
                for s in slots {
                    give_back(pool, s).await?;
                }
                return Err(e);
            }
        }
    }
    Ok(slots)
}

/// Removes the event a slot recorded.
pub async fn give_back(pool: &PgPool, slot: Slot) -> Result<()> {
    sqlx::query!(
        "delete from rate_limit_events where key = $1 and ctid = $2::text::tid",
        slot.key,
        slot.row
    )
    .execute(pool)
    .await?;
    Ok(())
}
