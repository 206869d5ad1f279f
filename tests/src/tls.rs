//! A throw-away certificate authority for one test, made with the `openssl` command line.
//!
//! Every client in the harness trusts exactly this CA (never the system's roots, never "accept
//! anything"), so a test only passes if the daemon presents the certificate the agent installed
//! for the right host name. Keys are ECDSA P-256: fast to make, and every daemon here takes them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use tempfile::TempDir;

use crate::process::{run_to_end, Process};

/// How long one `openssl` command may run.
const OPENSSL_TIMEOUT: Duration = Duration::from_secs(30);
/// Validity of every certificate: long enough for any test run, short enough to never matter.
const DAYS: &str = "30";

/// A test CA in its own temporary directory (removed on drop).
#[derive(Debug)]
pub struct TestCa {
    dir: TempDir,
    cert: PathBuf,
    key: PathBuf,
}

/// A leaf certificate for one host name, signed by a [`TestCa`]; the files live in the CA's
/// directory.
#[derive(Clone, Debug)]
pub struct Leaf {
    /// The leaf certificate (PEM); the CA itself is not in it, as a server sends it.
    pub chain: PathBuf,
    /// Its private key (PKCS#8 PEM, mode 0600).
    pub key: PathBuf,
}

impl TestCa {
    /// Makes a new CA (a self-signed certificate with `CA:TRUE`).
    pub async fn new() -> Result<TestCa> {
        let dir = tempfile::Builder::new().prefix("ruche-ca-").tempdir()?;
        let cert = dir.path().join("ca.pem");
        let key = dir.path().join("ca.key");
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-noenc",
            "-keyout",
            path_str(&key)?,
            "-out",
            path_str(&cert)?,
            "-days",
            DAYS,
            "-subj",
            "/O=Ruche tests/CN=Ruche test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ])
        .await?;
        Ok(TestCa { dir, cert, key })
    }

    /// The CA certificate (PEM): the one root every client of the test trusts.
    pub fn cert(&self) -> &Path {
        &self.cert
    }

    /// Issues a server certificate for `host` (subject alternative name `DNS:host`).
    pub async fn leaf(&self, host: &str) -> Result<Leaf> {
        ensure!(
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'),
            "not a host name for a test certificate: {host:?}"
        );
        let base = self.dir.path().join(host);
        let key = base.with_extension("key");
        let csr = base.with_extension("csr");
        let chain = base.with_extension("pem");
        let extensions = base.with_extension("ext");
        std::fs::write(&extensions, leaf_extensions(host))
            .with_context(|| format!("write {}", extensions.display()))?;
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-noenc",
            "-keyout",
            path_str(&key)?,
            "-out",
            path_str(&csr)?,
            "-subj",
            &format!("/CN={host}"),
        ])
        .await?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            path_str(&csr)?,
            "-CA",
            path_str(&self.cert)?,
            "-CAkey",
            path_str(&self.key)?,
            "-CAcreateserial",
            "-out",
            path_str(&chain)?,
            "-days",
            DAYS,
            "-extfile",
            path_str(&extensions)?,
        ])
        .await?;
        Ok(Leaf { chain, key })
    }
}

/// The extensions of a server certificate for `host` (an `openssl x509 -extfile`): a DNS name,
/// or an IP address (pebble's API on loopback).
pub fn leaf_extensions(host: &str) -> String {
    let kind = if host.parse::<std::net::IpAddr>().is_ok() {
        "IP"
    } else {
        "DNS"
    };
    format!(
        "basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature\n\
         extendedKeyUsage = serverAuth\n\
         subjectAltName = {kind}:{host}\n"
    )
}

/// Whether `openssl s_client` completes a handshake with `addr` (implicit TLS) trusting only
/// `ca`, restricted by `args` (`-tls1_2`, `-cipher …`). A refusal by either side is `false`.
pub async fn handshake_succeeds(addr: SocketAddr, ca: &Path, args: &[&str]) -> Result<bool> {
    let connect = addr.to_string();
    let mut all = vec![
        "s_client",
        "-connect",
        &connect,
        "-CAfile",
        path_str(ca)?,
        "-verify_return_error",
        "-brief",
    ];
    all.extend_from_slice(args);
    let out = run_to_end(Process::command("openssl", &all), OPENSSL_TIMEOUT).await?;
    Ok(out.success())
}

/// Checks that `addr` offers the node's TLS profile (Mozilla's intermediate; the harness's keys
/// are ECDSA): TLS 1.3 and TLS 1.2 with an ECDHE AEAD suite are taken, TLS 1.1 and a TLS 1.2
/// CBC suite are refused. `what` names the service in errors.
pub async fn check_profile(addr: SocketAddr, ca: &Path, what: &str) -> Result<()> {
    for (args, taken) in [
        (&["-tls1_3"][..], true),
        (
            &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"][..],
            true,
        ),
        (
            &["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"][..],
            true,
        ),
        (&["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"][..], false),
        (
            &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA384"][..],
            false,
        ),
        // The client's own floor is lowered, so only the server can refuse.
        (&["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"][..], false),
    ] {
        let got = handshake_succeeds(addr, ca, args).await?;
        ensure!(
            got == taken,
            "{what} on {addr}: a handshake with {args:?} was {}",
            if got { "taken" } else { "refused" }
        );
    }
    Ok(())
}

async fn openssl(args: &[&str]) -> Result<()> {
    let out = run_to_end(Process::command("openssl", args), OPENSSL_TIMEOUT).await?;
    ensure!(
        out.success(),
        "openssl {} failed ({:?}):\n{}{}",
        args.join(" "),
        out.code,
        out.stdout,
        out.stderr
    );
    Ok(())
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

#[cfg(test)]
mod tests {
    use super::leaf_extensions;

    #[test]
    fn leaf_extensions_name_the_host() {
        let text = leaf_extensions("mail.node-a.test");
        assert!(text.contains("subjectAltName = DNS:mail.node-a.test\n"));
        assert!(text.contains("CA:FALSE"));
        assert!(text.contains("serverAuth"));
    }
}
