//! A DNS node on one loopback address: the real `node-agent` rendering Knot's configuration and
//! zone files, and the real `knotd` started on what it rendered.
//!
//! [`DnsNode::start`] does what an operator and systemd would: the admin adds the node through
//! the admin API, `node-agent join`, an `agent.toml` with a `[dns]` section, one
//! `node-agent reconcile` so `<root>/etc/knot/knot.conf` exists, the directories Knot needs,
//! `knotd -c <root>/etc/knot/knot.conf`, then `node-agent run` (a heartbeat a second).
//!
//! **DNS test nodes run no mail daemons.** The agent still renders the mail configuration (it
//! always does), but `agent.toml` gives it `["true"]` as the check and reload command of
//! Postfix, Dovecot and rspamd, and no certificate. The mail stack has its own end-to-end tests
//! (`tests/tests/e2e/mail.rs`); what this node exercises is the agent's DNS side and Knot. The
//! file is otherwise the mail node's ([`mail_node::agent_toml`]), edited as a TOML table, so both
//! stay in step with the agent's configuration.
//!
//! knotd runs in the foreground as a direct child in its own process group ([`Process`]), as
//! root, with everything below the node's root; it is killed on drop, as is the agent. Nothing
//! listens anywhere but the node's 127.0.0.0/8 address.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use reqwest::Method;
use serde_json::json;
use sqlx::{Connection, PgConnection};
use tempfile::TempDir;
use toml::{Table, Value};

use crate::control_plane::ControlPlane;
use crate::http::HttpClient;
use crate::knot::{free_dns_port, keymgr, knotc, start_knotd};
use crate::mail_node::{self, AgentConfig, Ports};
use crate::nginx::{self, start_nginx};
use crate::node_agent;
use crate::process::{run_to_end, CliOutput, Process};

/// How long one command (`node-agent reconcile`, knotc) may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the agent may take to render knot.conf or to listen.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Lines of each log shown when a test fails.
const LOG_TAIL: usize = 60;
/// The mail daemons' check and reload command on a DNS test node.
const NO_OP: &str = "true";

/// What differs between nodes.
#[derive(Clone, Debug)]
pub struct Options {
    /// The node's address (127.0.0.0/8): knotd and the agent's broker listen there.
    pub ip: Ipv4Addr,
    /// The node's name for the admin, e.g. `node-a`.
    pub name: String,
    /// Whether the node runs its web front (nginx, agent.toml's `[web]`).
    pub web: bool,
}

pub use crate::nginx::{conf as nginx_conf, Web};

/// `<root>/etc/knot/knot.conf`, where the agent renders Knot's configuration.
pub fn knot_conf(root: &Path) -> PathBuf {
    root.join("etc/knot/knot.conf")
}

/// The agent's configuration for a DNS test node: the mail node's file without a certificate,
/// `true` as every mail daemon's check and reload, and the `[dns]` and `[commands.knot]`
/// sections the agent reads (knotd on `listen`, web records for `listen`'s address).
pub fn agent_toml(config: &AgentConfig, listen: SocketAddr, web: Option<Web>) -> Result<String> {
    let mut table: Table = mail_node::agent_toml(config)
        .parse()
        .context("the mail node's agent.toml does not parse")?;
    table.remove("tls");
    let strings = |items: &[&str]| Value::Array(items.iter().map(|s| Value::from(*s)).collect());
    let commands = table
        .get_mut("commands")
        .and_then(Value::as_table_mut)
        .context("agent.toml has no [commands]")?;
    for service in ["postfix", "dovecot", "rspamd"] {
        let mut stub = Table::new();
        stub.insert("check".to_owned(), strings(&[NO_OP]));
        stub.insert("reload".to_owned(), strings(&[NO_OP]));
        commands.insert(service.to_owned(), Value::Table(stub));
    }
    let conf = knot_conf(&config.root);
    let conf = conf
        .to_str()
        .with_context(|| format!("{} is not UTF-8", conf.display()))?;
    let mut knot = Table::new();
    knot.insert("knotc".to_owned(), strings(&["knotc", "-c", conf]));
    knot.insert("kzonecheck".to_owned(), strings(&["kzonecheck"]));
    commands.insert("knot".to_owned(), Value::Table(knot));
    let mut dns = Table::new();
    dns.insert("listen".to_owned(), Value::from(listen.to_string()));
    dns.insert(
        "addresses".to_owned(),
        Value::Array(vec![Value::from(listen.ip().to_string())]),
    );
    table.insert("dns".to_owned(), Value::Table(dns));
    if let Some(web) = web {
        nginx::add_web(&mut table, &config.root, web)?;
    }
    toml::to_string(&table).context("write agent.toml")
}

/// A running DNS node. Dropping it stops the agent, then knotd, then removes its files.
pub struct DnsNode {
    // Field order is drop order: the agent first, the daemons next, the files last.
    agent: Option<Process>,
    nginx: Option<Process>,
    knotd: Option<Process>,
    web: Option<Web>,
    name: String,
    node_id: String,
    config: AgentConfig,
    listen: SocketAddr,
    config_path: PathBuf,
    db_url: String,
    dir: TempDir,
}

impl std::fmt::Debug for DnsNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsNode")
            .field("name", &self.name)
            .field("node_id", &self.node_id)
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

impl DnsNode {
    /// Adds the node through the admin API (`admin` holds an admin's API token), joins it to
    /// `control_plane`, renders its files and starts knotd and the agent.
    pub async fn start(
        control_plane: &ControlPlane,
        admin: &HttpClient,
        options: &Options,
    ) -> Result<DnsNode> {
        let started = Instant::now();
        let ip = options.ip;
        ensure!(
            ip.is_loopback(),
            "a test node must be on 127.0.0.0/8, not {ip}"
        );
        let (vmail_uid, vmail_gid) = mail_node::user_ids("vmail").context(
            "the vmail user is missing: `useradd --system --no-create-home --shell \
             /usr/sbin/nologin vmail` (tests/run.sh does)",
        )?;
        let created = admin
            .api(
                Method::POST,
                "/api/v1/admin/nodes",
                Some(&json!({ "name": options.name })),
            )
            .await?;
        ensure!(
            created.status == 201,
            "create a node: {}",
            created.describe()
        );
        let created = created.json()?;
        let join_token = created["join_token"]
            .as_str()
            .with_context(|| format!("no join_token in {created}"))?
            .to_owned();
        let node_id = created["node"]["id"]
            .as_str()
            .with_context(|| format!("no node.id in {created}"))?
            .to_owned();

        let dir = tempfile::Builder::new().prefix("ruche-dns-").tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let root = dir.path().join("root");
        let state_dir = dir.path().join("state");
        // The token is read from a file, never taken from the command line.
        let token_file = dir.path().join("join-token");
        std::fs::write(&token_file, format!("{join_token}\n"))?;
        let joined = node_agent::run_cli([
            "join",
            &control_plane.base_url(),
            "--token-file",
            path_str(&token_file)?,
            "--address",
            &ip.to_string(),
            "--state-dir",
            path_str(&state_dir)?,
        ])
        .await?;
        ensure!(joined.success(), "node-agent join failed: {joined:?}");

        let config = AgentConfig {
            state_dir,
            root,
            hostname: format!("mail.{}.test", options.name),
            ip,
            ports: Ports::free_on(ip)?,
            vmail_uid,
            vmail_gid,
            send_limit_messages: 5,
            send_limit_minutes: 1,
            relayhost: None,
            // Left out of agent.toml (see the module docs): no mail daemon runs.
            tls_chain: PathBuf::new(),
            tls_key: PathBuf::new(),
            rspamd_pid_file: dir.path().join("rspamd.pid"),
        };
        let listen = SocketAddr::from((ip, free_dns_port(ip)?));
        let web = if options.web {
            Some(Web {
                http: SocketAddr::from((ip, free_dns_port(ip)?)),
                https: SocketAddr::from((ip, free_dns_port(ip)?)),
            })
        } else {
            None
        };
        let config_path = dir.path().join("agent.toml");
        std::fs::write(&config_path, agent_toml(&config, listen, web)?)
            .with_context(|| format!("write {}", config_path.display()))?;
        let mut node = DnsNode {
            agent: None,
            nginx: None,
            knotd: None,
            web,
            name: options.name.clone(),
            node_id,
            config,
            listen,
            config_path,
            db_url: control_plane.db_url().to_owned(),
            dir,
        };
        node.prepare_directories()?;
        let reconciled = node.reconcile().await?;
        ensure!(
            reconciled.success(),
            "the first node-agent reconcile failed: {reconciled:?}"
        );
        node.start_again().await.map_err(|e| node.explain(e))?;
        eprintln!(
            "[dns-node] {} on {listen} started in {:.1} s",
            node.name,
            started.elapsed().as_secs_f64()
        );
        Ok(node)
    }

    /// The directories Knot expects (rundir, storage); the installer's job in production.
    fn prepare_directories(&self) -> Result<()> {
        let root = &self.config.root;
        for relative in ["run/knot", "var/lib/knot", "var/vmail", "var/log"] {
            let path = root.join(relative);
            std::fs::create_dir_all(&path).with_context(|| format!("create {}", path.display()))?;
        }
        std::os::unix::fs::chown(
            root.join("var/vmail"),
            Some(self.config.vmail_uid),
            Some(self.config.vmail_gid),
        )
        .context("chown var/vmail")?;
        Ok(())
    }

    /// Starts knotd and the agent (after [`DnsNode::stop`], or the first time). knotd starts
    /// first when its configuration is there already; otherwise once the agent has rendered it.
    pub async fn start_again(&mut self) -> Result<()> {
        if self.knot_conf().is_file() {
            self.start_knotd().await?;
        }
        if let Some(web) = self.web {
            // The first reconcile rendered nginx.conf (start() runs it before this).
            let name = format!("nginx-{}", self.name);
            let conf = nginx_conf(&self.config.root);
            self.nginx = Some(start_nginx(&name, &conf, web.http).await?);
        }
        self.start_agent().await?;
        if self.knotd.is_none() {
            let deadline = Instant::now() + START_TIMEOUT;
            while !self.knot_conf().is_file() {
                if Instant::now() >= deadline {
                    bail!(
                        "the agent rendered no {} within {START_TIMEOUT:?}",
                        self.knot_conf().display()
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            self.start_knotd().await?;
        }
        Ok(())
    }

    /// Starts knotd on the rendered configuration.
    pub async fn start_knotd(&mut self) -> Result<()> {
        ensure!(self.knotd.is_none(), "knotd is running already");
        let name = format!("knotd-{}", self.name);
        self.knotd = Some(start_knotd(&name, &self.knot_conf(), self.listen).await?);
        Ok(())
    }

    /// Starts `node-agent run` and waits until its auth broker listens (it is up then).
    pub async fn start_agent(&mut self) -> Result<()> {
        self.start_agent_with(&[]).await
    }

    /// The same, with `env` added to the agent's environment (`RUCHE_AGENT_TEST_PAUSE_MS`: an
    /// agent that dawdles at every apply step, to be killed at one).
    pub async fn start_agent_with(&mut self, env: &[(&str, &str)]) -> Result<()> {
        ensure!(self.agent.is_none(), "the agent is running already");
        let mut command = node_agent::command([
            "run",
            "--config",
            path_str(&self.config_path)?,
            "--interval-seconds",
            "1",
        ])?;
        command.envs(env.iter().copied());
        let agent = Process::spawn(format!("agent-{}", self.name), command)?;
        let broker = SocketAddr::from((self.config.ip, self.config.ports.broker));
        let deadline = Instant::now() + START_TIMEOUT;
        while tokio::net::TcpStream::connect(broker).await.is_err() {
            if let Some(exit) = agent.exit_status()? {
                bail!(
                    "node-agent run exited ({exit}); output:\n{}",
                    agent.output()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "the agent's broker does not listen on {broker} after {START_TIMEOUT:?}; \
                     output:\n{}",
                    agent.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.agent = Some(agent);
        Ok(())
    }

    /// Gives the agent `[acme]` and starts it again with it.
    pub async fn enable_acme(&mut self, acme: &crate::pebble::Acme) -> Result<()> {
        self.write_acme(acme)?;
        self.stop_agent().await;
        self.start_agent().await
    }

    /// Adds `[web.portal]` to agent.toml (the portal `name` served here, proxied to `upstream`),
    /// for the agent's next start.
    pub fn write_portal(&self, name: &str, upstream: SocketAddr) -> Result<()> {
        let text = std::fs::read_to_string(&self.config_path)?;
        let mut table: Table = text.parse().context("agent.toml does not parse")?;
        let web = table
            .get_mut("web")
            .and_then(Value::as_table_mut)
            .context("agent.toml has no [web]")?;
        let mut portal = Table::new();
        portal.insert("name".to_owned(), Value::from(name));
        portal.insert("upstream".to_owned(), Value::from(upstream.to_string()));
        web.insert("portal".to_owned(), Value::Table(portal));
        std::fs::write(&self.config_path, toml::to_string(&table)?)
            .with_context(|| format!("write {}", self.config_path.display()))
    }

    /// The node's mail host name (`mail.<name>.test`).
    pub fn hostname(&self) -> &str {
        &self.config.hostname
    }

    /// Gives agent.toml a `[tls]` section (the host name's certificate, as an operator would
    /// install one), for the agent's next start.
    pub fn write_tls(&self, chain: &Path, key: &Path) -> Result<()> {
        let text = std::fs::read_to_string(&self.config_path)?;
        let mut table: Table = text.parse().context("agent.toml does not parse")?;
        let mut tls = Table::new();
        tls.insert("chain".to_owned(), Value::from(path_str(chain)?));
        tls.insert("key".to_owned(), Value::from(path_str(key)?));
        table.insert("tls".to_owned(), Value::Table(tls));
        std::fs::write(&self.config_path, toml::to_string(&table)?)
            .with_context(|| format!("write {}", self.config_path.display()))
    }

    /// Adds `[acme]` to agent.toml, for the agent's next start.
    pub fn write_acme(&self, acme: &crate::pebble::Acme) -> Result<()> {
        let text = std::fs::read_to_string(&self.config_path)?;
        std::fs::write(&self.config_path, crate::pebble::with_acme(&text, acme)?)
            .with_context(|| format!("write {}", self.config_path.display()))
    }

    /// SIGKILLs the agent (a power cut, as far as it can tell); its output.
    pub async fn kill_agent(&mut self) -> Result<String> {
        let agent = self.agent.take().context("the agent is not running")?;
        agent.kill().await
    }

    /// Stops the agent alone: knotd keeps serving what it has (an attacker with root on the node
    /// editing Knot by hand, without the agent putting its files back).
    pub async fn stop_agent(&mut self) {
        if let Some(agent) = self.agent.take() {
            agent.stop().await;
        }
    }

    /// Stops the node entirely: the agent, then knotd. Files stay (see [`DnsNode::start_again`]).
    pub async fn stop(&mut self) {
        if let Some(agent) = self.agent.take() {
            agent.stop().await;
        }
        if let Some(nginx) = self.nginx.take() {
            nginx.stop().await;
        }
        if let Some(knotd) = self.knotd.take() {
            knotd.stop().await;
        }
    }

    /// Where the node's nginx listens, when it runs one.
    pub fn web(&self) -> Result<Web> {
        self.web.context("this node runs no web front")
    }

    /// Runs `node-agent reconcile --config agent.toml` once.
    pub async fn reconcile(&self) -> Result<CliOutput> {
        run_to_end(
            node_agent::command(["reconcile", "--config", path_str(&self.config_path)?])?,
            COMMAND_TIMEOUT,
        )
        .await
    }

    /// Runs `knotc -c <root>/etc/knot/knot.conf ARGS…`.
    pub async fn knotc(&self, args: &[&str]) -> Result<CliOutput> {
        knotc(&self.knot_conf(), args).await
    }

    /// Runs `keymgr -c <root>/etc/knot/knot.conf ARGS…`.
    pub async fn keymgr(&self, args: &[&str]) -> Result<CliOutput> {
        keymgr(&self.knot_conf(), args).await
    }

    /// `(desired, observed)` generations of this node, from the control plane's database.
    pub async fn generations(&self) -> Result<(i64, Option<i64>)> {
        let mut conn = PgConnection::connect(&self.db_url)
            .await
            .context("connect to the control plane's database")?;
        let row: (i64, Option<i64>) = sqlx::query_as(
            "select desired_generation, observed_generation from nodes where id = $1::uuid",
        )
        .bind(&self.node_id)
        .fetch_one(&mut conn)
        .await
        .context("read the node's generations")?;
        let _ = conn.close().await;
        Ok(row)
    }

    /// Waits until the node has applied everything the control plane wants right now.
    pub async fn wait_until_converged(&self, timeout: Duration) -> Result<()> {
        let (desired, _) = self.generations().await?;
        let deadline = Instant::now() + timeout;
        loop {
            let (now_desired, observed) = self.generations().await?;
            if observed.is_some_and(|o| o >= desired) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} observes generation {observed:?}, not {desired} (desired now \
                     {now_desired}) after {timeout:?}",
                    self.name
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn ip(&self) -> Ipv4Addr {
        self.config.ip
    }

    /// Where knotd answers (UDP and TCP), as the agent reports it.
    pub fn dns_addr(&self) -> SocketAddr {
        self.listen
    }

    /// The layout root: every file the agent renders is below it.
    pub fn root(&self) -> &Path {
        &self.config.root
    }

    /// The node's temporary directory (root, state, agent.toml).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn knot_conf(&self) -> PathBuf {
        knot_conf(&self.config.root)
    }

    /// `<root>/var/lib/knot/zones/<zone>.zone`, where the agent writes a primary zone.
    pub fn zone_file(&self, zone: &str) -> PathBuf {
        self.config
            .root
            .join("var/lib/knot/zones")
            .join(format!("{zone}.zone"))
    }

    /// The running agent.
    pub fn agent(&self) -> Result<&Process> {
        self.agent.as_ref().context("the agent is not running")
    }

    /// The last lines of the agent's and knotd's output, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for process in [&self.agent, &self.nginx, &self.knotd]
            .into_iter()
            .flatten()
        {
            let _ = writeln!(
                text,
                "--- last {LOG_TAIL} lines of {}'s output ---\n{}",
                process.name(),
                tail(&process.output(), LOG_TAIL)
            );
        }
        text
    }

    /// `error` with the node's logs attached.
    pub fn explain(&self, error: anyhow::Error) -> anyhow::Error {
        error.context(format!("{} logs:\n{}", self.name, self.logs()))
    }
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AgentConfig {
        AgentConfig {
            state_dir: PathBuf::from("/tmp/x/state"),
            root: PathBuf::from("/tmp/x/root"),
            hostname: "mail.node-a.test".to_owned(),
            ip: Ipv4Addr::new(127, 0, 0, 51),
            ports: Ports {
                smtp: 40025,
                submission: 40587,
                submissions: 40465,
                imap: 40143,
                imaps: 40993,
                lmtp: 40024,
                sasl: 40012,
                quota_status: 40013,
                milter: 40014,
                rspamd_controller: 40015,
                rspamd_normal: 40016,
                redis: 40017,
                broker: 40001,
                srs_forward: 40018,
                srs_reverse: 40019,
                reinject: 40020,
            },
            vmail_uid: 5000,
            vmail_gid: 5001,
            send_limit_messages: 5,
            send_limit_minutes: 1,
            relayhost: None,
            tls_chain: PathBuf::new(),
            tls_key: PathBuf::new(),
            rspamd_pid_file: PathBuf::from("/tmp/x/rspamd.pid"),
        }
    }

    #[test]
    fn agent_toml_has_dns_and_stub_mail_commands() -> Result<()> {
        let text = agent_toml(&config(), "127.0.0.51:40053".parse()?, None)?;
        let table: Table = text.parse()?;
        assert!(table.get("tls").is_none(), "{text}");
        assert_eq!(table["dns"]["listen"].as_str(), Some("127.0.0.51:40053"));
        assert_eq!(
            table["dns"]["addresses"],
            Value::Array(vec![Value::from("127.0.0.51")])
        );
        let commands = &table["commands"];
        assert_eq!(
            commands["knot"]["knotc"],
            Value::Array(
                ["knotc", "-c", "/tmp/x/root/etc/knot/knot.conf"]
                    .into_iter()
                    .map(Value::from)
                    .collect()
            )
        );
        assert_eq!(
            commands["knot"]["kzonecheck"],
            Value::Array(vec![Value::from("kzonecheck")])
        );
        for service in ["postfix", "dovecot", "rspamd"] {
            for action in ["check", "reload"] {
                assert_eq!(
                    commands[service][action],
                    Value::Array(vec![Value::from("true")]),
                    "{service}.{action}"
                );
            }
        }
        // The rest is the mail node's.
        assert_eq!(table["layout"]["listen"].as_str(), Some("127.0.0.51"));
        assert_eq!(table["layout"]["ports"]["smtp"].as_integer(), Some(40025));
        assert!(commands["postmap"].is_array());
        Ok(())
    }
}
