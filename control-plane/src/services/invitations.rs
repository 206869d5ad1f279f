//! Inviting a member: the invitation stored and audited, its one-time link mailed when a relay
//! is configured (and returned, so the admin can pass it on another way); an invitation revoked;
//! an invitation accepted, which creates the member. Each is one transaction with its audit
//! entry.

use sqlx::PgPool;
use url::Url;
use web::catalog::Mail;
use web::Reason;

use crate::db::audit::{self, Actor};
use crate::db::invitations::{self, Invitation};
use crate::db::members;
use crate::error::{Error, Result};
use crate::mailer::Mailer;
use crate::model::ids::{InvitationId, MemberId, PlanId};
use crate::model::secret::Token;
use crate::model::EmailAddress;

/// Creates the invitation (valid `days` days) and mails its link through `mailer`. Returns the
/// invitation, the link, and whether the mail went out.
pub async fn invite(
    pool: &PgPool,
    mailer: Option<&Mailer>,
    public_url: &Url,
    days: i64,
    actor: &Actor,
    email: &EmailAddress,
    plan: PlanId,
) -> Result<(Invitation, String, bool)> {
    let (invitation, token) = create(pool, actor, email.as_str(), plan, days).await?;
    let link = format!(
        "{}/invite?token={}",
        public_url.as_str().trim_end_matches('/'),
        token.expose()
    );
    let mail = Mail::Invitation { days, link: &link };
    let sent = match mailer {
        Some(mailer) => match mailer
            .send(email.as_str(), mail.subject(), mail.body())
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, invitation = %invitation.id, "could not send the invitation mail");
                false
            }
        },
        None => false,
    };
    Ok((invitation, link, sent))
}

/// Stores the invitation (valid `days` days) unless a member already has the address: the
/// invitation and its one-time token.
async fn create(
    pool: &PgPool,
    actor: &Actor,
    email: &str,
    plan: PlanId,
    days: i64,
) -> Result<(Invitation, Token)> {
    let mut tx = pool.begin().await?;
    if invitations::email_taken(&mut tx, email).await? {
        return Err(Error::Conflict(Reason::EmailTaken));
    }
    let id = InvitationId::new();
    let token = Token::generate();
    let expires_at =
        invitations::insert(&mut tx, id, email, plan, &token, actor.member_id, days).await?;
    audit::record(
        &mut *tx,
        actor,
        "invitation.create",
        None,
        serde_json::json!({ "invitation": id, "email": email, "plan": plan }),
    )
    .await?;
    tx.commit().await?;
    Ok((
        Invitation {
            id,
            email: email.to_owned(),
            plan_id: plan,
            expires_at,
        },
        token,
    ))
}

/// Revokes an invitation not yet accepted: its link stops working.
pub async fn revoke(pool: &PgPool, actor: &Actor, id: InvitationId) -> Result<()> {
    let mut tx = pool.begin().await?;
    if !invitations::revoke(&mut tx, id).await? {
        return Err(Error::NotFound);
    }
    audit::record(
        &mut *tx,
        actor,
        "invitation.revoke",
        None,
        serde_json::json!({ "invitation": id }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Accepts the invitation `token` (`Gone` if it is unknown, used, revoked or expired) and
/// creates the member it was for, on its plan: the new member.
pub async fn accept(
    pool: &PgPool,
    token: &str,
    display_name: &str,
    password_hash: &str,
    ip: Option<String>,
) -> Result<MemberId> {
    let mut tx = pool.begin().await?;
    let inv = invitations::accept(&mut tx, token)
        .await?
        .ok_or(Error::Gone)?;
    let member = MemberId::new();
    members::insert(
        &mut tx,
        member,
        &inv.email,
        display_name,
        password_hash,
        false,
        Some(inv.plan_id),
    )
    .await?;
    audit::record(
        &mut *tx,
        &Actor {
            member_id: Some(member),
            email: Some(inv.email.clone()),
            ip,
        },
        "invitation.accept",
        Some(member),
        serde_json::json!({ "invitation": inv.id }),
    )
    .await?;
    tx.commit().await?;
    Ok(member)
}
