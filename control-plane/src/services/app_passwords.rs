//! A member's app passwords: one made (at most [`MAX_ACTIVE`] active at once) or revoked, each in
//! one transaction with its audit entry.

use protocol::app_password::AppPasswordText;
use sqlx::PgPool;

use crate::db::app_passwords::{self, AppPassword, MAX_ACTIVE};
use crate::db::audit::{self, Actor};
use crate::error::{Error, Result};
use crate::model::ids::{AppPasswordId, MailboxId, MemberId};
use crate::model::plan::LimitError;
use crate::model::AppScope;

/// Gives the member a new app password `text` for `scope`, bound to `mailbox` if given (one of
/// the member's mailboxes, or `NotFound`), unless the member already has [`MAX_ACTIVE`].
pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    label: &str,
    scope: AppScope,
    mailbox: Option<MailboxId>,
    text: &AppPasswordText,
) -> Result<AppPassword> {
    let id = AppPasswordId::new();
    let mut tx = pool.begin().await?;
    app_passwords::lock_member(&mut tx, member).await?;
    if app_passwords::count_active(&mut tx, member).await? >= MAX_ACTIVE {
        return Err(LimitError::AppPasswords { max: MAX_ACTIVE }.into());
    }
    let address = match mailbox {
        Some(m) => Some(app_passwords::mailbox_address(&mut tx, member, m).await?),
        None => None,
    };
    let created_at =
        app_passwords::insert(&mut tx, member, id, label, scope, mailbox, text).await?;
    audit::record(
        &mut *tx,
        actor,
        "app_password.create",
        Some(member),
        serde_json::json!({
            "app_password": id, "label": label, "scope": scope.as_str(), "mailbox": address,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(AppPassword {
        id,
        label: label.to_owned(),
        scope,
        mailbox_id: mailbox,
        mailbox: address,
        created_at,
    })
}

/// Revokes one of the member's app passwords (another member's, or one already revoked, is not
/// found).
pub async fn revoke(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    id: AppPasswordId,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    if !app_passwords::revoke(&mut tx, member, id).await? {
        return Err(Error::NotFound);
    }
    audit::record(
        &mut *tx,
        actor,
        "app_password.revoke",
        Some(member),
        serde_json::json!({ "app_password": id }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
