//! Inviting a member: the invitation stored and audited, its one-time link mailed when a relay
//! is configured (and returned, so the admin can pass it on another way).

use sqlx::PgPool;
use url::Url;

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
    let sent = match mailer {
        Some(mailer) => match mailer
            .send(
                email.as_str(),
                "Your invitation to Ruche",
                invitation_mail(days, &link),
            )
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

/// The invitation mail, in English then French: the invitee has no language chosen yet.
fn invitation_mail(days: i64, link: &str) -> String {
    format!(
        "You are invited to join a Ruche collective: your own mail, chat and domain, hosted by people you know.\n\n\
         To accept, choose your password here (the link works once, for {days} days):\n\n{link}\n\n\
         Vous êtes invité·e à rejoindre un collectif Ruche. Pour accepter, ouvrez le lien ci-dessus \
         (valable une fois, pendant {days} jours).\n"
    )
}
