//! pebble, Let's Encrypt's test CA (Debian's package), as the ACME server of the web tests, and
//! `pebble-challtestsrv` as the world's DNS where a test needs names to resolve that no node's
//! Knot serves.
//!
//! pebble serves its ACME API over HTTPS with a certificate from a throw-away [`TestCa`] (for
//! its loopback address), which the agent is told to trust (`[acme] directory_root`). It makes
//! a new issuing root at every start: [`Pebble::roots`] fetches the current one from its
//! management API, the only root a test's client then trusts. It checks HTTP-01 challenges on
//! the node's nginx HTTP port and asks `dns` for every name, both on loopback only.
//!
//! `PEBBLE_VA_NOSLEEP` (no random validation delay), `PEBBLE_WFE_NONCEREJECT=0` (no random
//! nonce refusals) and `PEBBLE_AUTHZREUSE=0` (every order is checked anew) make it
//! deterministic; `certificateValidityPeriod` makes short-lived certificates for renewal tests.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use tempfile::TempDir;

use crate::net::{free_port, wait_for_port};
use crate::process::Process;
use crate::tls::TestCa;

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// agent.toml's `[acme]` of a test node: pebble's directory, the root of its HTTPS, the DNS
/// servers the agent asks, and a short first retry (the default is a minute).
#[derive(Debug, Clone)]
pub struct Acme {
    pub directory: String,
    pub directory_root: PathBuf,
    pub resolvers: Vec<SocketAddr>,
    pub retry_after_seconds: u64,
}

/// Adds `acme` to the agent's configuration `text`.
pub fn with_acme(text: &str, acme: &Acme) -> Result<String> {
    let mut table: toml::Table = text.parse().context("agent.toml does not parse")?;
    let mut section = toml::Table::new();
    section.insert(
        "directory".to_owned(),
        toml::Value::from(acme.directory.clone()),
    );
    section.insert(
        "directory_root".to_owned(),
        toml::Value::from(
            acme.directory_root
                .to_str()
                .context("the root's path is not UTF-8")?,
        ),
    );
    section.insert(
        "resolvers".to_owned(),
        toml::Value::Array(
            acme.resolvers
                .iter()
                .map(|a| toml::Value::from(a.to_string()))
                .collect(),
        ),
    );
    section.insert(
        "retry_after_seconds".to_owned(),
        toml::Value::from(i64::try_from(acme.retry_after_seconds)?),
    );
    table.insert("acme".to_owned(), toml::Value::Table(section));
    toml::to_string(&table).context("write agent.toml")
}

/// Where pebble answers, what it checks and how long its certificates last.
#[derive(Debug, Clone)]
pub struct Options {
    /// Its own address (127.0.0.0/8): the ACME API and the management API listen there.
    pub ip: Ipv4Addr,
    /// The port it connects to for HTTP-01: the node's nginx HTTP port.
    pub http_port: u16,
    /// The DNS server it asks (the node's Knot, or a challtestsrv).
    pub dns: SocketAddr,
    /// Validity of its certificates; `None`: its default (five years).
    pub validity: Option<Duration>,
}

/// A running pebble; stopped on drop.
pub struct Pebble {
    process: Option<Process>,
    options: Options,
    api: SocketAddr,
    management: SocketAddr,
    ca: TestCa,
    config: PathBuf,
    _dir: TempDir,
}

impl Pebble {
    pub async fn start(options: Options) -> Result<Pebble> {
        ensure!(options.ip.is_loopback(), "pebble must be on 127.0.0.0/8");
        let dir = tempfile::Builder::new().prefix("ruche-pebble-").tempdir()?;
        let ca = TestCa::new().await?;
        let leaf = ca.leaf(&options.ip.to_string()).await?;
        let api = SocketAddr::from((options.ip, free_port()?));
        let management = SocketAddr::from((options.ip, free_port()?));
        let mut pebble = serde_json::json!({
            "listenAddress": api.to_string(),
            "managementListenAddress": management.to_string(),
            "certificate": leaf.chain,
            "privateKey": leaf.key,
            "httpPort": options.http_port,
            // TLS-ALPN-01 is not used: a free port nobody listens on.
            "tlsPort": free_port()?,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        });
        if let Some(validity) = options.validity {
            pebble["certificateValidityPeriod"] = serde_json::json!(validity.as_secs());
        }
        let config = dir.path().join("pebble.json");
        std::fs::write(
            &config,
            serde_json::to_vec_pretty(&serde_json::json!({ "pebble": pebble }))?,
        )?;
        let mut started = Pebble {
            process: None,
            options,
            api,
            management,
            ca,
            config,
            _dir: dir,
        };
        started.start_again().await?;
        Ok(started)
    }

    /// Starts pebble again after [`Pebble::stop`] (on the same addresses, with a new issuing
    /// root: certificates it issued before no longer chain to [`Pebble::roots`]).
    pub async fn start_again(&mut self) -> Result<()> {
        ensure!(self.process.is_none(), "pebble is running already");
        let mut command = Process::command(
            "pebble",
            [
                std::ffi::OsStr::new("-config"),
                self.config.as_os_str(),
                std::ffi::OsStr::new("-dnsserver"),
                std::ffi::OsStr::new(&self.options.dns.to_string()),
            ],
        );
        command
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0");
        let process = Process::spawn("pebble", command)
            .context("start pebble (Debian's package pebble; tests/run.sh installs it)")?;
        for addr in [self.api, self.management] {
            if let Err(e) = wait_for_port(addr, START_TIMEOUT).await {
                bail!("{e:#}; pebble said:\n{}", process.output());
            }
        }
        self.process = Some(process);
        Ok(())
    }

    /// Stops pebble (the CA is down).
    pub async fn stop(&mut self) {
        if let Some(process) = self.process.take() {
            process.stop().await;
        }
    }

    /// The ACME directory URL.
    pub fn directory(&self) -> String {
        format!("https://{}/dir", self.api)
    }

    /// The root of pebble's own HTTPS certificate (PEM file): what the agent trusts to talk
    /// to it.
    pub fn api_root(&self) -> &Path {
        self.ca.cert()
    }

    /// The root its certificates chain to now (PEM).
    pub async fn roots(&self) -> Result<String> {
        self.management_get("roots/0").await
    }

    /// The intermediate that signs its certificates now (PEM).
    pub async fn intermediate(&self) -> Result<String> {
        self.management_get("intermediates/0").await
    }

    async fn management_get(&self, path: &str) -> Result<String> {
        let root = reqwest::Certificate::from_pem(&std::fs::read(self.ca.cert())?)?;
        let client = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(root)
            .timeout(Duration::from_secs(10))
            .build()?;
        let url = format!("https://{}/{path}", self.management);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match client.get(&url).send().await {
                Ok(answer) if answer.status().is_success() => return Ok(answer.text().await?),
                other if Instant::now() >= deadline => bail!("GET {url}: {other:?}"),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    pub fn logs(&self) -> String {
        self.process
            .as_ref()
            .map(Process::output)
            .unwrap_or_default()
    }
}

/// `pebble-challtestsrv` as the world's DNS: answers A queries for the names a test adds, on
/// loopback only; every other answer is empty.
pub struct WorldDns {
    _process: Process,
    dns: SocketAddr,
    management: SocketAddr,
}

impl WorldDns {
    pub async fn start(ip: Ipv4Addr) -> Result<WorldDns> {
        let dns = SocketAddr::from((ip, crate::knot::free_dns_port(ip)?));
        let management = SocketAddr::from((ip, free_port()?));
        let command = Process::command(
            "pebble-challtestsrv",
            [
                "-dns01",
                &dns.to_string(),
                "-management",
                &management.to_string(),
                // Nothing else: no HTTP-01, TLS-ALPN-01 or DoH servers of its own.
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-defaultIPv4",
                "",
                "-defaultIPv6",
                "",
            ],
        );
        let process = Process::spawn("challtestsrv", command)
            .context("start pebble-challtestsrv (Debian's package pebble)")?;
        if let Err(e) = wait_for_port(management, START_TIMEOUT).await {
            bail!("{e:#}; challtestsrv said:\n{}", process.output());
        }
        Ok(WorldDns {
            _process: process,
            dns,
            management,
        })
    }

    /// Where it answers (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.dns
    }

    /// From now on `name` resolves to `ip`.
    pub async fn add_a(&self, name: &str, ip: Ipv4Addr) -> Result<()> {
        let url = format!("http://{}/add-a", self.management);
        let answer = reqwest::Client::new()
            .post(&url)
            .json(&serde_json::json!({ "host": format!("{name}."), "addresses": [ip.to_string()] }))
            .send()
            .await?;
        ensure!(
            answer.status().is_success(),
            "POST {url}: {}",
            answer.status()
        );
        Ok(())
    }
}
