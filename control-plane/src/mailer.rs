//! Outgoing mail (invitations, password resets) through the configured SMTP relay.

use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::MailConfig;

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// None when no relay is configured.
    pub fn from_config(config: &MailConfig) -> anyhow::Result<Option<Self>> {
        let Some(url) = config.smtp_url.as_deref() else {
            return Ok(None);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("mail.smtp_url is not a valid SMTP URL: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        let from = config
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("mail.from is not a valid address: {e}"))?;
        Ok(Some(Self { transport, from }))
    }

    /// Sends a plain-text mail. The body may hold a secret link, so neither it nor the link is
    /// logged; only the failure reason is.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.parse()?)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)?;
        self.transport.send(message).await?;
        Ok(())
    }
}
