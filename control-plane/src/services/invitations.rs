//! Inviting a member: the invitation stored and audited, its one-time link mailed when a relay
//! is configured (and returned, so the admin can pass it on another way).

use sqlx::PgPool;
use url::Url;
use web::catalog::Mail;

use crate::db;
use crate::db::audit::Actor;
use crate::error::Error;
use crate::mailer::Mailer;
use crate::model::ids::PlanId;
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
) -> Result<(db::invitations::Invitation, String, bool), Error> {
    let (invitation, token) =
        db::invitations::create(pool, actor, email.as_str(), plan, days).await?;
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
