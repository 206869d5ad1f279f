//! A plain HTTPS client for the web tests: TLS (tokio-rustls, trusting only the given CA, the
//! server name sent by SNI and verified), then one HTTP/1.1 request on the connection, closed
//! after it. No redirects followed, no cookies: the test reads the answer as it came.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use crate::imap::client_config;

const TIMEOUT: Duration = Duration::from_secs(10);

/// One answer, and the certificate it came with.
pub struct Answer {
    pub status: u16,
    /// Header names lowercase.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The leaf certificate the server presented (DER).
    pub leaf: Vec<u8>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .field("leaf", &format_args!("{} bytes", self.leaf.len()))
            .finish()
    }
}

impl Answer {
    /// The first header named `name` (lowercase), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `method path` on `addr` with SNI and `Host` `host`, the chain verified against `ca` (PEM).
pub async fn request(
    addr: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    body: &str,
    ca: &Path,
) -> Result<Answer> {
    let name = ServerName::try_from(host.to_owned())
        .with_context(|| format!("not a server name: {host:?}"))?;
    let tcp = tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .with_context(|| format!("connect to {addr}: timed out"))??;
    let tls = TlsConnector::from(client_config(ca)?);
    let mut stream = tokio::time::timeout(TIMEOUT, tls.connect(name, tcp))
        .await
        .with_context(|| format!("TLS to {host} on {addr}: timed out"))?
        .with_context(|| format!("TLS to {host} on {addr}"))?;
    let leaf = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|c| c.as_ref().to_vec())
        .context("no certificate presented")?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    // A server that closes without close_notify is still an answer: keep what came.
    let read = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut raw))
        .await
        .with_context(|| format!("{method} {path} on {host}: no answer"))?;
    if let Err(e) = read {
        if raw.is_empty() {
            return Err(e).with_context(|| format!("{method} {path} on {host}"));
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("not an HTTP answer: {text:?}"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status line: {head:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Answer {
        status,
        headers,
        body: body.to_owned(),
        leaf,
    })
}

/// The leaf certificate (DER) `addr` presents for `host` by SNI, verified against `ca`: a
/// handshake and nothing else (IMAPS, SMTPS, HTTPS alike).
pub async fn leaf(addr: SocketAddr, host: &str, ca: &Path) -> Result<Vec<u8>> {
    let name = ServerName::try_from(host.to_owned())
        .with_context(|| format!("not a server name: {host:?}"))?;
    let tcp = tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .with_context(|| format!("connect to {addr}: timed out"))??;
    let tls = TlsConnector::from(client_config(ca)?);
    let stream = tokio::time::timeout(TIMEOUT, tls.connect(name, tcp))
        .await
        .with_context(|| format!("TLS to {host} on {addr}: timed out"))?
        .with_context(|| format!("TLS to {host} on {addr}"))?;
    stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|c| c.as_ref().to_vec())
        .context("no certificate presented")
}

/// `GET path`; see [`request`].
pub async fn get(addr: SocketAddr, host: &str, path: &str, ca: &Path) -> Result<Answer> {
    request(addr, host, "GET", path, "", ca).await
}

/// Full TLS handshakes per second with `host` on `addr`, one client, one after another, for
/// `seconds` (a benchmark's figure: each a new TCP connection and a full handshake, no session
/// resumption). The server's certificate is not checked: what is measured is the server's
/// work, and a benchmark's certificates are self-signed.
pub async fn handshakes_per_second(addr: SocketAddr, host: &str, seconds: u64) -> Result<f64> {
    use tokio_rustls::rustls::client::danger::{
        HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
    };
    use tokio_rustls::rustls::pki_types::{CertificateDer, UnixTime};
    use tokio_rustls::rustls::{self, DigitallySignedStruct, SignatureScheme};

    #[derive(Debug)]
    struct AnyCertificate(std::sync::Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for AnyCertificate {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    // A full handshake every time.
    config.resumption = rustls::client::Resumption::disabled();
    let connector = TlsConnector::from(std::sync::Arc::new(config));
    let name = ServerName::try_from(host.to_owned())?;
    let started = std::time::Instant::now();
    let mut count = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let stream = connector
            .connect(name.clone(), tcp)
            .await
            .with_context(|| format!("TLS to {host} on {addr}"))?;
        drop(stream);
        count += 1;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}
