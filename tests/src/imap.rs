//! A real IMAP client (async-imap over tokio-rustls), as a mail program would connect: TLS
//! verified against the test CA for the node's host name, either STARTTLS on the IMAP port or
//! implicit TLS on the IMAPS port, then `LOGIN`.
//!
//! A refused login is an answer, not an error: [`login`] returns the server's `NO`/`BAD` text so a
//! test can assert on it. Transport problems (connection, certificate) are errors.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::TryStreamExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// How long connecting, the TLS handshake or one command may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// How the connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// Plain IMAP (port 143), upgraded with `STARTTLS` before anything else.
    StartTls,
    /// TLS from the first byte (IMAPS, port 993).
    Implicit,
}

/// Where and how to connect, and whom to believe.
#[derive(Clone, Debug)]
pub struct Server<'a> {
    pub addr: SocketAddr,
    /// The name the certificate must carry (TLS SNI and verification).
    pub host: &'a str,
    /// The only root trusted (PEM).
    pub ca: &'a Path,
    pub security: Security,
}

type Stream = TlsStream<TcpStream>;

/// A logged-in IMAP session.
pub struct Session {
    // Boxed: the TLS session is large, and a `Login` carries it or a short text.
    inner: Box<async_imap::Session<Stream>>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("imap::Session").finish_non_exhaustive()
    }
}

/// What a `LOGIN` got.
#[derive(Debug)]
pub enum Login {
    LoggedIn(Session),
    /// The server said `NO` or `BAD`; its text (e.g. `[AUTHENTICATIONFAILED] Authentication
    /// failed.`).
    Refused(String),
}

impl Login {
    /// The session, or an error quoting the refusal.
    pub fn session(self) -> Result<Session> {
        match self {
            Login::LoggedIn(session) => Ok(session),
            Login::Refused(text) => bail!("IMAP login refused: {text}"),
        }
    }

    /// The refusal text, or an error if the login worked.
    pub async fn refusal(self) -> Result<String> {
        match self {
            Login::Refused(text) => Ok(text),
            Login::LoggedIn(session) => {
                session.logout().await?;
                bail!("IMAP login worked although it should have been refused")
            }
        }
    }
}

/// A TLS client configuration trusting only the PEM certificates in `ca` (ring provider).
pub fn client_config(ca: &Path) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .with_context(|| format!("read the CA {}", ca.display()))?;
    for cert in certs {
        let cert = cert.with_context(|| format!("parse the CA {}", ca.display()))?;
        roots
            .add(cert)
            .with_context(|| format!("trust the CA {}", ca.display()))?;
    }
    if roots.is_empty() {
        bail!("no certificate in {}", ca.display());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Connects and secures the connection (certificate verified); no login yet.
async fn connect(server: &Server<'_>) -> Result<async_imap::Client<Stream>> {
    connect_from(server, None).await
}

/// A TCP connection to `addr`, from the local address `source` when given (e.g. another
/// 127.0.0.0/8 address, so the server sees several clients).
async fn tcp_connect(addr: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(addr).await;
    };
    let socket = match source {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}

async fn connect_from(
    server: &Server<'_>,
    source: Option<IpAddr>,
) -> Result<async_imap::Client<Stream>> {
    let config = client_config(server.ca)?;
    let name = ServerName::try_from(server.host.to_owned())
        .with_context(|| format!("not a server name: {:?}", server.host))?;
    let tcp = step(tcp_connect(server.addr, source), "connect").await?;
    let tls = TlsConnector::from(config);
    let what = format!("IMAP {:?} to {}", server.security, server.addr);
    match server.security {
        Security::Implicit => {
            let stream = step(tls.connect(name, tcp), "TLS handshake")
                .await
                .with_context(|| what.clone())?;
            let mut client = async_imap::Client::new(stream);
            read_greeting(&mut client).await.context(what)?;
            Ok(client)
        }
        Security::StartTls => {
            let mut plain = async_imap::Client::new(tcp);
            read_greeting(&mut plain).await.context(what.clone())?;
            step(plain.run_command_and_check_ok("STARTTLS", None), "STARTTLS")
                .await
                .with_context(|| what.clone())?;
            let stream = step(tls.connect(name, plain.into_inner()), "TLS handshake")
                .await
                .context(what)?;
            // No second greeting after STARTTLS (RFC 3501 6.2.1).
            Ok(async_imap::Client::new(stream))
        }
    }
}

/// The certificate (DER) the server presents, verified against the test CA like any login.
pub async fn server_certificate(server: &Server<'_>) -> Result<Vec<u8>> {
    let client = connect(server).await?;
    let stream = client.into_inner();
    let (_, tls) = stream.get_ref();
    let certificate = tls
        .peer_certificates()
        .and_then(|chain| chain.first())
        .context("the server presented no certificate")?;
    Ok(certificate.as_ref().to_vec())
}

/// The first certificate (DER) of a PEM file.
pub fn pem_certificate(path: &Path) -> Result<Vec<u8>> {
    let certificate = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("read {}", path.display()))?
        .next()
        .with_context(|| format!("no certificate in {}", path.display()))?
        .with_context(|| format!("parse {}", path.display()))?;
    Ok(certificate.as_ref().to_vec())
}

async fn read_greeting<T>(client: &mut async_imap::Client<T>) -> Result<()>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + fmt::Debug + Send,
{
    match step(client.read_response(), "greeting").await? {
        Some(_) => Ok(()),
        None => bail!("the server closed the connection before its greeting"),
    }
}

/// Connects, secures the connection and sends `LOGIN user password`.
pub async fn login(server: &Server<'_>, user: &str, password: &str) -> Result<Login> {
    login_from(server, None, user, password).await
}

/// [`login`] from the local address `source` (any 127.0.0.0/8 address on loopback).
pub async fn login_from(
    server: &Server<'_>,
    source: Option<IpAddr>,
    user: &str,
    password: &str,
) -> Result<Login> {
    let client = connect_from(server, source).await?;
    let attempt = tokio::time::timeout(STEP_TIMEOUT, client.login(user, password))
        .await
        .with_context(|| format!("LOGIN did not answer within {STEP_TIMEOUT:?}"))?;
    match attempt {
        Ok(inner) => Ok(Login::LoggedIn(Session {
            inner: Box::new(inner),
        })),
        Err((async_imap::error::Error::No(text), _)) => Ok(Login::Refused(format!("NO {text}"))),
        Err((async_imap::error::Error::Bad(text), _)) => Ok(Login::Refused(format!("BAD {text}"))),
        Err((error, _)) => Err(error).context("LOGIN"),
    }
}

impl Session {
    /// Every message in INBOX (`BODY.PEEK[]`, so nothing is marked seen), oldest first.
    pub async fn inbox(&mut self) -> Result<Vec<Vec<u8>>> {
        let mailbox = step(self.inner.select("INBOX"), "SELECT INBOX").await?;
        if mailbox.exists == 0 {
            return Ok(Vec::new());
        }
        let fetches = step(self.inner.fetch("1:*", "BODY.PEEK[]"), "FETCH").await?;
        let fetches: Vec<_> = step(fetches.try_collect(), "FETCH answers").await?;
        let mut messages = Vec::with_capacity(fetches.len());
        for fetch in &fetches {
            let body = fetch
                .body()
                .with_context(|| format!("FETCH {} returned no body", fetch.message))?;
            messages.push(body.to_vec());
        }
        Ok(messages)
    }

    /// Polls INBOX until `done` holds for its messages (oldest first); returns them.
    pub async fn wait_for_inbox(
        &mut self,
        done: impl Fn(&[Vec<u8>]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<Vec<u8>>> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.inbox().await?;
            if done(&messages) {
                return Ok(messages);
            }
            if Instant::now() >= deadline {
                let subjects: Vec<String> = messages.iter().map(|m| subject_of(m)).collect();
                bail!(
                    "INBOX still not as expected after {timeout:?}; it holds {} message(s) with \
                     subjects {subjects:?}",
                    messages.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `LOGOUT`.
    pub async fn logout(mut self) -> Result<()> {
        step(self.inner.logout(), "LOGOUT").await
    }
}

/// The `Subject:` header's value of a raw message ("" when absent), for messages in errors.
pub fn subject_of(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    let header_end = text.find("\r\n\r\n").unwrap_or(text.len());
    text[..header_end]
        .split("\r\n")
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("subject")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default()
}

async fn step<T, E>(
    future: impl std::future::Future<Output = Result<T, E>>,
    what: &str,
) -> Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    tokio::time::timeout(STEP_TIMEOUT, future)
        .await
        .with_context(|| format!("IMAP {what} did not finish within {STEP_TIMEOUT:?}"))?
        .with_context(|| format!("IMAP {what}"))
}

#[cfg(test)]
mod tests {
    use super::subject_of;

    #[test]
    fn reads_the_subject() {
        let message = b"From: a@b.test\r\nSubject: Hello  \r\n\r\nSubject: not this\r\n";
        assert_eq!(subject_of(message), "Hello");
        assert_eq!(subject_of(b"From: a@b.test\r\n\r\nbody"), "");
    }
}
