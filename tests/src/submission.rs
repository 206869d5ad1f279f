//! A real SMTP client (lettre's connection API), one session per message, step by step, so a test
//! sees exactly which command the server refused and with what reply:
//!
//! - submission on 587 with `STARTTLS` (required), or 465 with implicit TLS, `AUTH PLAIN`;
//! - plain SMTP on port 25 (no TLS, no AUTH), as another mail server delivers inbound mail.
//!
//! TLS trusts only the test CA, for the node's host name. `MAIL FROM` can declare `SIZE=` so a
//! quota policy can refuse a message that would not fit already at `RCPT`.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, Certificate, CertificateStore, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, MailParameter};
use lettre::Address;

/// How long one SMTP command (or connecting) may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// The name the client greets with (`EHLO`).
const HELLO: &str = "client.ruche.test";

/// How the session is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// Plain SMTP, upgraded with `STARTTLS` (refused if the server does not offer it).
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS at all: inbound mail on port 25 from a server that does not bother.
    Plain,
}

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct Server<'a> {
    pub addr: SocketAddr,
    /// The name the certificate must carry.
    pub host: &'a str,
    /// The only root trusted (PEM).
    pub ca: &'a Path,
    pub security: Security,
}

/// The SMTP command a refusal answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    Auth,
    Mail,
    Rcpt(String),
    Data,
    /// The reply to the message's content (end of `DATA`): where milters and rate limits answer.
    Message,
}

/// What the server said to one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `250` after the content; the reply text (e.g. `2.0.0 Ok: queued as …`).
    Accepted(String),
    Refused {
        stage: Stage,
        /// The reply code, e.g. 535, 553, 552, 451.
        code: u16,
        /// The reply text after the code, e.g. `5.7.1 <bob@…>: Sender address rejected: …`.
        text: String,
    },
}

impl Outcome {
    /// `Ok` with the reply text when accepted, else an error quoting the refusal.
    pub fn accepted(&self) -> Result<&str> {
        match self {
            Outcome::Accepted(text) => Ok(text),
            Outcome::Refused { stage, code, text } => {
                bail!("the message was refused at {stage:?}: {code} {text}")
            }
        }
    }

    /// `code text` of a refusal, `None` when accepted.
    pub fn refusal(&self) -> Option<String> {
        match self {
            Outcome::Accepted(_) => None,
            Outcome::Refused { code, text, .. } => Some(format!("{code} {text}")),
        }
    }
}

/// One message to send.
#[derive(Clone, Debug)]
pub struct Envelope<'a> {
    /// The envelope sender; empty for the null sender (`MAIL FROM:<>`).
    pub from: &'a str,
    pub to: &'a [&'a str],
    /// Declare the message's size in `MAIL FROM` (`SIZE=`, RFC 1870).
    pub declare_size: bool,
}

/// Builds a simple RFC 5322 message (CRLF line ends) from `from` to `to`, with a unique
/// `Message-ID`.
pub fn message(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let mut text = String::new();
    text.push_str(&format!("From: {from}\r\n"));
    text.push_str(&format!("To: {to}\r\n"));
    text.push_str(&format!("Subject: {subject}\r\n"));
    text.push_str(&format!(
        "Message-ID: <{}.{}@client.ruche.test>\r\n",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    text.push_str("Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n");
    text.push_str("MIME-Version: 1.0\r\n");
    text.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\n");
    for line in body.lines() {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.into_bytes()
}

fn tls_parameters(server: &Server<'_>) -> Result<TlsParameters> {
    let pem =
        std::fs::read(server.ca).with_context(|| format!("read the CA {}", server.ca.display()))?;
    let ca = Certificate::from_pem(&pem).context("parse the test CA")?;
    TlsParameters::builder(server.host.to_owned())
        // Only the test CA: not the bundled web roots.
        .certificate_store(CertificateStore::None)
        .add_root_certificate(ca)
        .build_rustls()
        .context("TLS parameters")
}

/// Sends `content` in one session: connect (TLS as `server.security` says), `AUTH PLAIN` with
/// `credentials` if given, `MAIL FROM`, one `RCPT TO` per recipient, `DATA`. A negative reply
/// ends the session and is returned as [`Outcome::Refused`]; transport and TLS failures are
/// errors.
pub async fn send(
    server: &Server<'_>,
    credentials: Option<(&str, &str)>,
    envelope: &Envelope<'_>,
    content: &[u8],
) -> Result<Outcome> {
    let hello = ClientId::Domain(HELLO.to_owned());
    let implicit = match server.security {
        Security::Implicit => Some(tls_parameters(server)?),
        Security::StartTls | Security::Plain => None,
    };
    let what = format!("SMTP {:?} to {}", server.security, server.addr);
    let mut conn = AsyncSmtpConnection::connect_tokio1(
        server.addr,
        Some(COMMAND_TIMEOUT),
        &hello,
        implicit,
        None,
    )
    .await
    .with_context(|| format!("{what}: connect"))?;
    if server.security == Security::StartTls {
        conn.starttls(tls_parameters(server)?, &hello)
            .await
            .with_context(|| format!("{what}: STARTTLS"))?;
    }
    let outcome = session(&mut conn, credentials, envelope, content).await;
    // Closing politely is not part of the test.
    conn.abort().await;
    outcome.with_context(|| what)
}

async fn session(
    conn: &mut AsyncSmtpConnection,
    credentials: Option<(&str, &str)>,
    envelope: &Envelope<'_>,
    content: &[u8],
) -> Result<Outcome> {
    if let Some((user, password)) = credentials {
        let credentials = Credentials::new(user.to_owned(), password.to_owned());
        if let Err(e) = conn.auth(&[Mechanism::Plain], &credentials).await {
            return refused(Stage::Auth, e);
        }
    }
    // An empty sender is the null sender, `MAIL FROM:<>`.
    let from: Option<Address> = if envelope.from.is_empty() {
        None
    } else {
        Some(
            envelope
                .from
                .parse()
                .with_context(|| format!("not an address: {:?}", envelope.from))?,
        )
    };
    let parameters = if envelope.declare_size {
        vec![MailParameter::Size(content.len())]
    } else {
        Vec::new()
    };
    if let Err(e) = conn.command(Mail::new(from, parameters)).await {
        return refused(Stage::Mail, e);
    }
    for to in envelope.to {
        let address: Address = to
            .parse()
            .with_context(|| format!("not an address: {to:?}"))?;
        if let Err(e) = conn.command(Rcpt::new(address, Vec::new())).await {
            return refused(Stage::Rcpt((*to).to_owned()), e);
        }
    }
    if let Err(e) = conn.command(Data).await {
        return refused(Stage::Data, e);
    }
    match conn.message(content).await {
        Ok(response) => Ok(Outcome::Accepted(
            response.message().collect::<Vec<_>>().join(" "),
        )),
        Err(e) => refused(Stage::Message, e),
    }
}

/// Only `AUTH PLAIN` (after TLS as `server.security` says), from the local address `source`
/// when given: [`Outcome::Accepted`] when the server took the credentials, else the refusal at
/// [`Stage::Auth`] (e.g. `535 5.7.8` wrong credentials, `454 4.7.0` temporary failure).
pub async fn authenticate(
    server: &Server<'_>,
    source: Option<IpAddr>,
    (user, password): (&str, &str),
) -> Result<Outcome> {
    let hello = ClientId::Domain(HELLO.to_owned());
    let implicit = match server.security {
        Security::Implicit => Some(tls_parameters(server)?),
        Security::StartTls | Security::Plain => None,
    };
    let what = format!(
        "SMTP {:?} to {} from {source:?}",
        server.security, server.addr
    );
    let mut conn = AsyncSmtpConnection::connect_tokio1(
        server.addr,
        Some(COMMAND_TIMEOUT),
        &hello,
        implicit,
        source,
    )
    .await
    .with_context(|| format!("{what}: connect"))?;
    if server.security == Security::StartTls {
        conn.starttls(tls_parameters(server)?, &hello)
            .await
            .with_context(|| format!("{what}: STARTTLS"))?;
    }
    let credentials = Credentials::new(user.to_owned(), password.to_owned());
    let outcome = match conn.auth(&[Mechanism::Plain], &credentials).await {
        Ok(response) => Ok(Outcome::Accepted(
            response.message().collect::<Vec<_>>().join(" "),
        )),
        Err(e) => refused(Stage::Auth, e),
    };
    conn.abort().await;
    outcome.with_context(|| what)
}

/// An SMTP reply error as a refusal; any other error (network, TLS, parse) stays an error.
fn refused(stage: Stage, error: lettre::transport::smtp::Error) -> Result<Outcome> {
    let Some(code) = error.status() else {
        return Err(error).with_context(|| format!("SMTP {stage:?}"));
    };
    let code: u16 = code
        .to_string()
        .parse()
        .with_context(|| format!("reply code {code}"))?;
    let text = std::error::Error::source(&error)
        .map(ToString::to_string)
        .unwrap_or_default();
    Ok(Outcome::Refused { stage, code, text })
}

#[cfg(test)]
mod tests {
    use super::{message, Outcome, Stage};

    #[test]
    fn builds_a_crlf_message() {
        let m = message("a@x.test", "b@x.test", "Hi there", "line 1\nline 2");
        let text = String::from_utf8(m).unwrap_or_default();
        assert!(text.starts_with("From: a@x.test\r\nTo: b@x.test\r\nSubject: Hi there\r\n"));
        assert!(text.ends_with("\r\n\r\nline 1\r\nline 2\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'));
    }

    #[test]
    fn describes_refusals() {
        let refused = Outcome::Refused {
            stage: Stage::Rcpt("b@x.test".to_owned()),
            code: 552,
            text: "5.2.2 Mailbox is full".to_owned(),
        };
        assert_eq!(
            refused.refusal().as_deref(),
            Some("552 5.2.2 Mailbox is full")
        );
        assert!(refused.accepted().is_err());
        assert_eq!(Outcome::Accepted("ok".to_owned()).refusal(), None);
    }
}
