//! A member's personal API tokens: one made (shown once) or revoked, each in one transaction with
//! its audit entry.

use sqlx::PgPool;

use crate::db::api_tokens::{self, ApiToken};
use crate::db::audit::{self, Actor};
use crate::error::{Error, Result};
use crate::model::ids::{ApiTokenId, MemberId};
use crate::model::secret::Token;

/// Gives the member a new API token named `label`: the token as listed, and its secret to show
/// this once.
pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    label: &str,
) -> Result<(ApiToken, Token)> {
    let id = ApiTokenId::new();
    let token = Token::generate_api();
    let mut tx = pool.begin().await?;
    let created_at = api_tokens::insert(&mut tx, member, id, label, &token).await?;
    audit::record(
        &mut *tx,
        actor,
        "api_token.create",
        Some(member),
        serde_json::json!({ "api_token": id, "label": label }),
    )
    .await?;
    tx.commit().await?;
    Ok((
        ApiToken {
            id,
            label: label.to_owned(),
            created_at,
            last_used_at: None,
        },
        token,
    ))
}

/// Revokes one of the member's API tokens at once (another member's, or one already revoked,
/// is not found).
pub async fn revoke(pool: &PgPool, actor: &Actor, member: MemberId, id: ApiTokenId) -> Result<()> {
    let mut tx = pool.begin().await?;
    if !api_tokens::revoke(&mut tx, member, id).await? {
        return Err(Error::NotFound);
    }
    audit::record(
        &mut *tx,
        actor,
        "api_token.revoke",
        Some(member),
        serde_json::json!({ "api_token": id }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
