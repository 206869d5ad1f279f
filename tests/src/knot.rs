//! Knot DNS servers the tests run: `knotd` in the foreground as a direct child ([`Process`]),
//! on a 127.0.0.x address and a high port free for both UDP and TCP.
//!
//! Two kinds, both configured by the test itself (not by the agent):
//!
//! - the **registrar / old provider** of a member's domain: primary for that domain from a zone
//!   file the test writes ([`parent_zone`]) and changes ([`KnotServer::set_zone`]: the file, then
//!   `knotc zone-reload`). The control plane's resolvers point at it: it is "the world" that
//!   ownership verification and the registrar checklist ask. No DNSSEC: it stands for a plain
//!   provider. Zone files are loaded with `zonefile-load: difference-no-serial` and
//!   `serial-policy: unixtime`, so the test never manages serials;
//! - an **external secondary** (a friendly collective's server): it consumes catalog zones
//!   (RFC 9432, `catalog-role: interpret`) of a node with the TSIG key the admin API returned, and
//!   serves every member zone listed there without any other step ([`Catalog`]).
//!
//! What Knot 3.2 needs here, found by running it: on loopback the kernel sends from 127.0.0.1
//! whatever address a server listens on, so every remote gets `via: <own address>` (else a
//! primary's ACL by address refuses the transfer, which the secondary reports as "failed to
//! verify TSIG"); the ACLs here match on the key only. Everything (configuration, zone files,
//! storage, KASP, journal, the control socket) lives in one temporary directory, removed on drop.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use tempfile::TempDir;

use crate::net::wait_for_port;
use crate::process::{run_to_end, CliOutput, Process};

/// How long knotd may take to answer on its port.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one knotc or keymgr command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A TSIG key as Knot and kdig write it (`hmac-sha256`, the secret in base64).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsigKey {
    pub name: String,
    pub algorithm: String,
    pub secret: String,
}

impl TsigKey {
    pub fn hmac_sha256(name: &str, secret: &str) -> TsigKey {
        TsigKey {
            name: name.to_owned(),
            algorithm: "hmac-sha256".to_owned(),
            secret: secret.to_owned(),
        }
    }

    /// `kdig -y` / `knotc -y` argument: `algorithm:name:secret`.
    pub fn kdig_arg(&self) -> String {
        format!("{}:{}:{}", self.algorithm, self.name, self.secret)
    }
}

/// A catalog zone an external secondary consumes: the catalog's name, the primary that serves it
/// (and every member zone it lists), and the key for both transfers and NOTIFY.
#[derive(Clone, Debug)]
pub struct Catalog {
    pub zone: String,
    pub primary: SocketAddr,
    pub key: TsigKey,
}

/// Everything a standalone server's knot.conf says.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where knotd answers, UDP and TCP; its address is also the source of its own queries.
    pub listen: SocketAddr,
    /// Configuration, zone files, storage, control socket.
    pub dir: PathBuf,
    /// Zones served from `<dir>/zones/<zone>.zone`.
    pub primary_zones: Vec<String>,
    /// Catalogs consumed (member zones kept in the journal only).
    pub catalogs: Vec<Catalog>,
}

impl Config {
    pub fn conf_path(&self) -> PathBuf {
        self.dir.join("knot.conf")
    }

    pub fn zone_path(&self, zone: &str) -> PathBuf {
        self.dir
            .join("zones")
            .join(format!("{}.zone", zone.trim_end_matches('.')))
    }
}

/// Refuses anything but a plain host name (letters, digits, `-`, `_`, `.`) so that nothing a
/// test passes can change the structure of knot.conf.
fn name(text: &str) -> Result<&str> {
    ensure!(
        !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')),
        "{text:?} is not a plain DNS name"
    );
    Ok(text)
}

/// A base64 secret, nothing else.
fn secret(text: &str) -> Result<&str> {
    ensure!(
        !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')),
        "the TSIG secret is not base64"
    );
    Ok(text)
}

/// A path as a knot.conf string.
fn path(path: &Path) -> Result<String> {
    let text = path
        .to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))?;
    ensure!(
        !text.contains(['"', '\\', '\n', '\r']),
        "{text:?} cannot be written in knot.conf"
    );
    Ok(format!("\"{text}\""))
}

/// `ip@port`, Knot's way of writing a socket address.
fn at(addr: SocketAddr) -> String {
    format!("{}@{}", addr.ip(), addr.port())
}

/// The remote and template ids of a catalog: derived from its position, so they are valid ids
/// whatever the catalog is called.
fn catalog_ids(index: usize) -> (String, String) {
    (format!("primary{index}"), format!("members{index}"))
}

/// knot.conf for a standalone server (pure; see the module docs for why it looks so).
pub fn render_conf(config: &Config) -> Result<String> {
    let dir = &config.dir;
    let mut out = String::new();
    let _ = write!(
        out,
        "# A standalone Knot of the end-to-end tests (tests/src/knot.rs).\n\
         server:\n    rundir: {rundir}\n    listen: {listen}\n\
         control:\n    listen: {socket}\n\
         log:\n  - target: stderr\n    any: info\n\
         database:\n    storage: {storage}\n",
        rundir = path(dir)?,
        listen = at(config.listen),
        socket = path(&dir.join("knot.sock"))?,
        storage = path(&dir.join("storage"))?,
    );
    if !config.catalogs.is_empty() {
        // One key entry per distinct key name.
        out.push_str("key:\n");
        let mut seen = Vec::new();
        for catalog in &config.catalogs {
            let key = &catalog.key;
            if seen.contains(&key.name) {
                continue;
            }
            seen.push(key.name.clone());
            let _ = write!(
                out,
                "  - id: {}\n    algorithm: {}\n    secret: {}\n",
                name(&key.name)?,
                name(&key.algorithm)?,
                secret(&key.secret)?
            );
        }
        out.push_str("remote:\n");
        for (index, catalog) in config.catalogs.iter().enumerate() {
            let (remote, _) = catalog_ids(index);
            let _ = write!(
                out,
                "  - id: {remote}\n    address: {}\n    via: {}\n    key: {}\n",
                at(catalog.primary),
                config.listen.ip(),
                name(&catalog.key.name)?
            );
        }
        out.push_str("acl:\n");
        for (index, catalog) in config.catalogs.iter().enumerate() {
            let (remote, _) = catalog_ids(index);
            let _ = write!(
                out,
                "  - id: {remote}\n    key: {}\n    action: notify\n",
                name(&catalog.key.name)?
            );
        }
        out.push_str("template:\n");
        for index in 0..config.catalogs.len() {
            let (remote, template) = catalog_ids(index);
            // Member zones live in the journal only: there is no zone file to write.
            let _ = write!(
                out,
                "  - id: {template}\n    master: {remote}\n    acl: {remote}\n    \
                 zonefile-sync: -1\n    zonefile-load: none\n    journal-content: all\n"
            );
        }
    }
    if !config.primary_zones.is_empty() || !config.catalogs.is_empty() {
        out.push_str("zone:\n");
    }
    for zone in &config.primary_zones {
        let _ = write!(
            out,
            "  - domain: {}\n    file: {}\n    zonefile-load: difference-no-serial\n    \
             journal-content: all\n    serial-policy: unixtime\n    zonefile-sync: -1\n",
            name(zone)?,
            path(&config.zone_path(zone))?
        );
    }
    for (index, catalog) in config.catalogs.iter().enumerate() {
        let (remote, template) = catalog_ids(index);
        let _ = write!(
            out,
            "  - domain: {}\n    master: {remote}\n    acl: {remote}\n    \
             catalog-role: interpret\n    catalog-template: {template}\n    \
             zonefile-sync: -1\n    zonefile-load: none\n    journal-content: all\n",
            name(&catalog.zone)?
        );
    }
    Ok(out)
}

/// The member's zone at their old provider, as a registrar's form would produce it: SOA and NS of
/// `nameservers`, plus TXT records `(owner relative to the zone, text)`. The serial is Knot's to
/// manage (see the module docs); texts are plain ASCII without quotes or backslashes.
pub fn parent_zone(zone: &str, nameservers: &[String], txt: &[(String, String)]) -> Result<String> {
    let zone = name(zone.trim_end_matches('.'))?;
    ensure!(!nameservers.is_empty(), "a zone needs a name server");
    let mut out = format!(
        "$ORIGIN {zone}.\n$TTL 60\n@ SOA {ns}. hostmaster.{zone}. 1 60 30 600 30\n",
        ns = name(nameservers[0].trim_end_matches('.'))?
    );
    for ns in nameservers {
        let _ = writeln!(out, "@ NS {}.", name(ns.trim_end_matches('.'))?);
    }
    for (owner, text) in txt {
        ensure!(
            text.bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'),
            "{text:?} is not plain text"
        );
        let _ = writeln!(out, "{} TXT \"{text}\"", name(owner)?);
    }
    Ok(out)
}

/// A port of `ip` that was free for both TCP and UDP a moment ago (a name server needs both).
pub fn free_dns_port(ip: Ipv4Addr) -> Result<u16> {
    for _ in 0..50 {
        let tcp = TcpListener::bind((ip, 0)).with_context(|| format!("bind {ip}:0"))?;
        let port = tcp.local_addr().context("local_addr")?.port();
        if UdpSocket::bind((ip, port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("found no port of {ip} free for both TCP and UDP")
}

/// [`free_dns_port`] on `ip`, as a socket address.
pub fn free_dns_addr(ip: Ipv4Addr) -> Result<SocketAddr> {
    Ok(SocketAddr::new(IpAddr::V4(ip), free_dns_port(ip)?))
}

/// Starts `knotd -c <conf>` as `name` and waits until it answers on `listen` (TCP).
pub async fn start_knotd(name: &str, conf: &Path, listen: SocketAddr) -> Result<Process> {
    let process = Process::spawn(
        name,
        Process::command("knotd", [std::ffi::OsStr::new("-c"), conf.as_os_str()]),
    )
    .context("start knotd (Debian's knot package; tests/run.sh installs it)")?;
    process
        .wait_for_line(|line| line.contains("server started"), START_TIMEOUT)
        .await?;
    if let Err(e) = wait_for_port(listen, START_TIMEOUT).await {
        bail!("{e:#}; knotd said:\n{}", process.output());
    }
    Ok(process)
}

/// Runs `knotc -c <conf> ARGS…`.
pub async fn knotc(conf: &Path, args: &[&str]) -> Result<CliOutput> {
    let mut command = Process::command("knotc", [std::ffi::OsStr::new("-c"), conf.as_os_str()]);
    command.args(args);
    run_to_end(command, COMMAND_TIMEOUT).await
}

/// Runs `keymgr -c <conf> ARGS…` (DNSSEC keys of the zones of that configuration).
pub async fn keymgr(conf: &Path, args: &[&str]) -> Result<CliOutput> {
    let mut command = Process::command("keymgr", [std::ffi::OsStr::new("-c"), conf.as_os_str()]);
    command.args(args);
    run_to_end(command, COMMAND_TIMEOUT).await
}

/// A standalone knotd; stopped and its directory removed on drop.
pub struct KnotServer {
    // Field order is drop order: the daemon before its directory.
    process: Option<Process>,
    config: Config,
    _dir: TempDir,
}

impl std::fmt::Debug for KnotServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnotServer")
            .field("listen", &self.config.listen)
            .field("dir", &self.config.dir)
            .finish_non_exhaustive()
    }
}

impl KnotServer {
    /// A registrar / old provider answering on `listen` (see [`free_dns_addr`]), primary for
    /// `zones` (`(name, zone file text)`).
    pub async fn primary(
        name: &str,
        listen: SocketAddr,
        zones: &[(&str, String)],
    ) -> Result<KnotServer> {
        let server = Self::configure(
            listen,
            zones.iter().map(|(z, _)| (*z).to_owned()).collect(),
            Vec::new(),
        )?;
        std::fs::create_dir_all(server.config.dir.join("zones"))?;
        for (zone, text) in zones {
            let file = server.config.zone_path(zone);
            std::fs::write(&file, text).with_context(|| format!("write {}", file.display()))?;
        }
        server.start(name).await
    }

    /// An external secondary answering on `listen` (see [`free_dns_addr`]), consuming
    /// `catalogs`.
    pub async fn secondary(
        name: &str,
        listen: SocketAddr,
        catalogs: Vec<Catalog>,
    ) -> Result<KnotServer> {
        Self::configure(listen, Vec::new(), catalogs)?
            .start(name)
            .await
    }

    fn configure(
        listen: SocketAddr,
        primary_zones: Vec<String>,
        catalogs: Vec<Catalog>,
    ) -> Result<KnotServer> {
        ensure!(
            listen.ip().is_loopback(),
            "a test name server must be on 127.0.0.0/8, not {listen}"
        );
        // A short path: the control socket lives in it.
        let dir = tempfile::Builder::new()
            .prefix("ruche-knot-")
            .tempdir_in("/tmp")
            .context("create the Knot directory")?;
        let config = Config {
            listen,
            dir: dir.path().to_path_buf(),
            primary_zones,
            catalogs,
        };
        std::fs::create_dir_all(config.dir.join("storage"))?;
        std::fs::write(config.conf_path(), render_conf(&config)?)?;
        Ok(KnotServer {
            process: None,
            config,
            _dir: dir,
        })
    }

    async fn start(mut self, name: &str) -> Result<KnotServer> {
        let checked = knotc(&self.config.conf_path(), &["conf-check"]).await?;
        ensure!(
            checked.success(),
            "knotc conf-check refused the test's own knot.conf: {checked:?}\n{}",
            std::fs::read_to_string(self.config.conf_path()).unwrap_or_default()
        );
        self.process = Some(start_knotd(name, &self.config.conf_path(), self.config.listen).await?);
        Ok(self)
    }

    /// Where it answers (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.config.listen
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Replaces the zone file of `zone` (a primary zone of this server) and reloads it; returns
    /// once Knot has loaded it (`knotc -b`).
    pub async fn set_zone(&self, zone: &str, text: &str) -> Result<()> {
        ensure!(
            self.config.primary_zones.iter().any(|z| z == zone),
            "{zone} is not a zone of this server"
        );
        let file = self.config.zone_path(zone);
        std::fs::write(&file, text).with_context(|| format!("write {}", file.display()))?;
        let out = self.knotc(&["-b", "zone-reload", zone]).await?;
        ensure!(
            out.success(),
            "knotc zone-reload {zone}: {out:?}\n{}",
            self.logs()
        );
        Ok(())
    }

    /// Runs `knotc ARGS…` against this server.
    pub async fn knotc(&self, args: &[&str]) -> Result<CliOutput> {
        knotc(&self.config.conf_path(), args).await
    }

    /// What knotd logged so far.
    pub fn logs(&self) -> String {
        self.process
            .as_ref()
            .map(Process::output)
            .unwrap_or_default()
    }

    /// Stops knotd (its directory stays until drop).
    pub async fn stop(&mut self) {
        if let Some(process) = self.process.take() {
            process.stop().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TsigKey {
        TsigKey::hmac_sha256(
            "ext-1.tsig.ruche.test",
            "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=",
        )
    }

    #[test]
    fn renders_a_catalog_consumer() -> Result<()> {
        let config = Config {
            listen: "127.0.0.6:40053".parse()?,
            dir: PathBuf::from("/tmp/k"),
            primary_zones: Vec::new(),
            catalogs: vec![Catalog {
                zone: "catalog.ns1.ruche.test".to_owned(),
                primary: "127.0.0.2:40054".parse()?,
                key: key(),
            }],
        };
        let text = render_conf(&config)?;
        for line in [
            "    listen: 127.0.0.6@40053",
            "    listen: \"/tmp/k/knot.sock\"",
            "  - id: ext-1.tsig.ruche.test",
            "    secret: c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=",
            "    address: 127.0.0.2@40054",
            "    via: 127.0.0.6",
            "  - domain: catalog.ns1.ruche.test",
            "    catalog-role: interpret",
            "    catalog-template: members0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing in:\n{text}"
            );
        }
        Ok(())
    }

    #[test]
    fn renders_a_primary() -> Result<()> {
        let config = Config {
            listen: "127.0.0.5:40053".parse()?,
            dir: PathBuf::from("/tmp/k"),
            primary_zones: vec!["example.test".to_owned()],
            catalogs: Vec::new(),
        };
        let text = render_conf(&config)?;
        assert!(text
            .contains("  - domain: example.test\n    file: \"/tmp/k/zones/example.test.zone\"\n"));
        assert!(!text.contains("key:"), "{text}");
        Ok(())
    }

    #[test]
    fn refuses_what_would_break_the_file() -> Result<()> {
        let mut config = Config {
            listen: "127.0.0.5:40053".parse()?,
            dir: PathBuf::from("/tmp/k"),
            primary_zones: vec!["example.test\nzone:".to_owned()],
            catalogs: Vec::new(),
        };
        assert!(render_conf(&config).is_err());
        config.primary_zones = vec!["example.test".to_owned()];
        config.dir = PathBuf::from("/tmp/k\"");
        assert!(render_conf(&config).is_err());
        Ok(())
    }

    #[test]
    fn writes_a_parent_zone() -> Result<()> {
        let text = parent_zone(
            "example.test.",
            &["ns1.ruche.test".to_owned(), "ns2.ruche.test".to_owned()],
            &[("_ruche-challenge".to_owned(), "ruche-verify=abc".to_owned())],
        )?;
        assert_eq!(
            text,
            "$ORIGIN example.test.\n$TTL 60\n\
             @ SOA ns1.ruche.test. hostmaster.example.test. 1 60 30 600 30\n\
             @ NS ns1.ruche.test.\n@ NS ns2.ruche.test.\n\
             _ruche-challenge TXT \"ruche-verify=abc\"\n"
        );
        assert!(parent_zone(
            "example.test",
            &["ns".to_owned()],
            &[("a".to_owned(), "x\"y".to_owned())]
        )
        .is_err());
        Ok(())
    }
}
