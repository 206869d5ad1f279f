//! The one-time setup that creates the collective and its first admin. There is no default
//! account: until setup completes, only the holder of the current setup token can create one.

use sqlx::{PgConnection, PgPool};

use crate::config::{DnsConfig, Platform};
use crate::error::{Error, Result};
use crate::model::secret::{self, Token};

pub async fn is_done(pool: &PgPool) -> Result<bool> {
    Ok(
        sqlx::query_scalar!("select exists (select 1 from collective) as \"done!\"")
            .fetch_one(pool)
            .await?,
    )
}

/// When setup has not happened yet, replaces any earlier unused token with a fresh one and
/// returns it (so only the most recently printed link works).
pub async fn issue_token(pool: &PgPool) -> Result<Option<Token>> {
    let mut tx = pool.begin().await?;
    // Serialise concurrent starts of several control planes.
    sqlx::query!("lock table setup_tokens in exclusive mode")
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query_scalar!("select exists (select 1 from collective) as \"done!\"")
        .fetch_one(&mut *tx)
        .await?;
    if done {
        tx.commit().await?;
        return Ok(None);
    }
    sqlx::query!("delete from setup_tokens where used_at is null")
        .execute(&mut *tx)
        .await?;
    let token = Token::generate();
    sqlx::query!(
        "insert into setup_tokens (token_hash) values ($1)",
        token.digest()
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(token))
}

pub async fn token_is_valid(pool: &PgPool, token: &str) -> Result<bool> {
    Ok(sqlx::query_scalar!(
        "select exists (select 1 from setup_tokens where token_hash = $1 and used_at is null) as \"valid!\"",
        secret::digest(token)
    )
    .fetch_one(pool)
    .await?)
}

/// Uses the setup token `token`, once: whether it was unused (a used or unknown one changes
/// nothing).
pub async fn use_token(conn: &mut PgConnection, token: &str) -> Result<bool> {
    let used = sqlx::query!(
        "update setup_tokens set used_at = now() where token_hash = $1 and used_at is null",
        secret::digest(token)
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(used > 0)
}

/// Stores the collective (there is one; setup makes it).
pub async fn insert_collective(
    conn: &mut PgConnection,
    name: &str,
    platform_domain: &str,
) -> Result<()> {
    sqlx::query!(
        "insert into collective (name, platform_domain) values ($1, $2)",
        name,
        platform_domain
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub struct Collective {
    pub name: String,
    pub platform_domain: String,
}

/// The collective, once setup created it. Takes any executor, so a caller that holds a
/// connection passes it rather than asking the pool for a second one.
pub async fn collective(db: impl sqlx::PgExecutor<'_>) -> Result<Option<Collective>> {
    Ok(
        sqlx::query_as!(Collective, "select name, platform_domain from collective")
            .fetch_optional(db)
            .await?,
    )
}

/// `base` with the collective's platform domain (named at setup); `None` before setup, when
/// there is no collective, hence no name server names, yet. One query on `db`: a caller that
/// holds a connection passes it.
pub async fn dns_config(
    db: impl sqlx::PgExecutor<'_>,
    base: &DnsConfig,
) -> crate::error::Result<Option<Platform>> {
    let Some(collective) = collective(db).await? else {
        return Ok(None);
    };
    with_platform(base, &collective.platform_domain).map(Some)
}

/// `base` with `platform_domain` as stored by setup (for a caller that read it itself).
pub fn with_platform(base: &DnsConfig, platform_domain: &str) -> Result<Platform> {
    base.with_platform(platform_domain)
        .map_err(|e| Error::Internal(anyhow::anyhow!("stored platform domain: {e}")))
}
