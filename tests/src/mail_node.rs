//! A whole mail node on one loopback address: the real `node-agent` rendering the node's
//! configuration, and the real daemons it configures — Redis, rspamd, Dovecot, Postfix — started
//! on what it rendered, on free high ports.
//!
//! [`MailNode::start`] does what an operator and systemd would: the admin adds the node through
//! the admin API, `node-agent join`, an `agent.toml`, one `node-agent reconcile` so the daemons'
//! files exist, the directories the daemons need, the daemons, then `node-agent run`.
//!
//! Every daemon runs in the foreground as a direct child in its own process group ([`Process`]),
//! killed on drop — except Postfix, whose master always detaches: it is started with
//! `postfix start` and stopped with `postfix stop` on drop. Nothing listens anywhere but the
//! node's 127.0.0.0/8 address. Everything lives in one temporary directory, removed on drop.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use reqwest::Method;
use serde_json::json;
use sqlx::{Connection, PgConnection};
use tempfile::TempDir;

use crate::control_plane::ControlPlane;
use crate::http::HttpClient;
use crate::net::wait_for_port;
use crate::process::{run_to_end, CliOutput, Process};
use crate::tls::TestCa;
use crate::{imap, node_agent, submission};

/// How long a daemon may take to listen on its ports (rspamd's first start compiles its
/// regular expressions, which takes about ten seconds without a warm cache).
const LISTEN_TIMEOUT: Duration = Duration::from_secs(90);
/// How long one command (a check, `postfix start`, `node-agent reconcile`) may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// Lines of each log shown when a test fails.
const LOG_TAIL: usize = 80;
/// The group that may read DKIM private keys, and the user rspamd runs as (Debian's).
const RSPAMD_USER: &str = "_rspamd";
/// The two slots of the rspamd DBDIR cache (see [`MailNode::save_rspamd_cache`]).
const FULL_CACHE: &str = "full";
const PARTIAL_CACHE: &str = "partial";
/// Debian's stock rspamd configuration; the node's own files come in through LOCAL_CONFDIR.
const RSPAMD_CONF: &str = "/etc/rspamd/rspamd.conf";

/// What differs between nodes.
#[derive(Clone, Debug)]
pub struct Options {
    /// The node's address (127.0.0.0/8): every daemon listens there, internal ones included.
    pub ip: Ipv4Addr,
    /// The node's name for the admin, e.g. `node-a`; the mail host name is `mail.<name>.test`.
    pub name: String,
    /// A directory where rspamd's compiled data (DBDIR) is kept between node starts, so only the
    /// first start is slow. Keep it inside the tests' own temporary directory
    /// (`CARGO_TARGET_TMPDIR`). `None`: every start is cold.
    pub rspamd_cache: Option<PathBuf>,
    /// Where the node sends every outbound message (its `relayhost`): a test's own SMTP server
    /// standing for the rest of the world. `None`: nothing is meant to leave the node.
    pub relayhost: Option<SocketAddr>,
    /// Whether the node runs its web front (nginx, agent.toml's `[web]`).
    pub web: bool,
}

/// Messages each member's aliases may forward off a test node per hour.
pub const FORWARD_LIMIT: u32 = 3;

/// The node's ports, all on its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    pub smtp: u16,
    pub submission: u16,
    pub submissions: u16,
    pub imap: u16,
    pub imaps: u16,
    pub lmtp: u16,
    pub sasl: u16,
    pub quota_status: u16,
    pub milter: u16,
    pub rspamd_controller: u16,
    pub rspamd_normal: u16,
    pub redis: u16,
    /// The agent's auth broker.
    pub broker: u16,
    /// postsrsd's two tables, and Postfix's listener for forwarded mail.
    pub srs_forward: u16,
    pub srs_reverse: u16,
    pub reinject: u16,
}

impl Ports {
    /// Sixteen distinct ports that were free on `ip` a moment ago.
    pub fn free_on(ip: Ipv4Addr) -> Result<Ports> {
        // Hold every socket until all are chosen, so the kernel cannot hand out one twice.
        let listeners = (0..16)
            .map(|_| TcpListener::bind((ip, 0)).with_context(|| format!("bind {ip}:0")))
            .collect::<Result<Vec<_>>>()?;
        let ports = listeners
            .iter()
            .map(|l| Ok(l.local_addr().context("local_addr")?.port()))
            .collect::<Result<Vec<u16>>>()?;
        let [smtp, submission, submissions, imap, imaps, lmtp, sasl, quota_status, milter, rspamd_controller, rspamd_normal, redis, broker, srs_forward, srs_reverse, reinject] =
            ports[..]
        else {
            bail!("expected 16 ports, got {ports:?}");
        };
        Ok(Ports {
            smtp,
            submission,
            submissions,
            imap,
            imaps,
            lmtp,
            sasl,
            quota_status,
            milter,
            rspamd_controller,
            rspamd_normal,
            redis,
            broker,
            srs_forward,
            srs_reverse,
            reinject,
        })
    }
}

/// The commands the agent runs to check and reload each daemon, and the harness runs to check
/// the rendered files itself.
#[derive(Clone, Debug)]
struct Commands {
    postmap: Vec<String>,
    postfix_check: Vec<String>,
    postfix_reload: Vec<String>,
    dovecot_check: Vec<String>,
    dovecot_reload: Vec<String>,
    rspamd_check: Vec<String>,
    rspamd_reload: Vec<String>,
}

/// Everything `agent.toml` says; see [`agent_toml`].
#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub state_dir: PathBuf,
    pub root: PathBuf,
    pub hostname: String,
    pub ip: Ipv4Addr,
    pub ports: Ports,
    pub vmail_uid: u32,
    pub vmail_gid: u32,
    pub send_limit_messages: u32,
    pub send_limit_minutes: u32,
    pub relayhost: Option<SocketAddr>,
    pub tls_chain: PathBuf,
    pub tls_key: PathBuf,
    /// Where the harness writes rspamd's process id (the reload command reads it).
    pub rspamd_pid_file: PathBuf,
}

impl AgentConfig {
    fn rooted(&self, relative: &str) -> String {
        self.root.join(relative).to_string_lossy().into_owned()
    }

    fn rspamd_vars(&self) -> Vec<String> {
        vec![
            format!("--var=LOCAL_CONFDIR={}", self.rooted("etc/rspamd")),
            format!("--var=DBDIR={}", self.rooted("var/lib/rspamd")),
            format!("--var=RUNDIR={}", self.rooted("run/rspamd")),
            format!("--var=LOGDIR={}", self.rooted("var/log/rspamd")),
        ]
    }

    fn commands(&self) -> Commands {
        let postfix_dir = self.rooted("etc/postfix");
        let dovecot_conf = self.rooted("etc/dovecot/dovecot.conf");
        let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        // `--var` is an option of rspamadm itself: before the command, or it is refused.
        let mut rspamd_check = strings(&["rspamadm"]);
        rspamd_check.extend(self.rspamd_vars());
        rspamd_check.extend(strings(&["configtest", "-c", RSPAMD_CONF]));
        Commands {
            // With the node's own main.cf, not /etc/postfix's (which may not exist).
            postmap: strings(&["postmap", "-c", &postfix_dir]),
            postfix_check: strings(&["postfix", "-c", &postfix_dir, "check"]),
            postfix_reload: strings(&["postfix", "-c", &postfix_dir, "reload"]),
            dovecot_check: strings(&["doveconf", "-n", "-c", &dovecot_conf]),
            dovecot_reload: strings(&["doveadm", "-c", &dovecot_conf, "reload"]),
            rspamd_check,
            // systemd would `systemctl reload rspamd`: the harness knows the pid of the rspamd it
            // started and writes it down for this.
            rspamd_reload: vec![
                "sh".to_owned(),
                "-c".to_owned(),
                format!(
                    "kill -HUP \"$(cat '{}')\"",
                    self.rspamd_pid_file.to_string_lossy()
                ),
            ],
        }
    }
}

/// A TOML basic string.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(", "))
}

fn quote_path(path: &Path) -> String {
    quote(&path.to_string_lossy())
}

/// The agent's configuration file.
pub fn agent_toml(config: &AgentConfig) -> String {
    let p = &config.ports;
    let c = config.commands();
    let ip = config.ip;
    format!(
        "state_dir = {state_dir}\n\
         \n\
         [layout]\n\
         root = {root}\n\
         hostname = {hostname}\n\
         listen = \"{ip}\"\n\
         internal = \"{ip}\"\n\
         broker = \"{ip}:{broker}\"\n\
         vmail_uid = {uid}\n\
         vmail_gid = {gid}\n\
         {relayhost}\
         \n\
         [layout.ports]\n\
         smtp = {smtp}\n\
         submission = {submission}\n\
         submissions = {submissions}\n\
         imap = {imap}\n\
         imaps = {imaps}\n\
         lmtp = {lmtp}\n\
         sasl = {sasl}\n\
         quota_status = {quota_status}\n\
         milter = {milter}\n\
         rspamd_controller = {rspamd_controller}\n\
         rspamd_normal = {rspamd_normal}\n\
         redis = {redis}\n\
         srs_forward = {srs_forward}\n\
         srs_reverse = {srs_reverse}\n\
         reinject = {reinject}\n\
         \n\
         [layout.send_limit]\n\
         messages = {messages}\n\
         minutes = {minutes}\n\
         \n\
         [layout.forward_limit]\n\
         messages = {FORWARD_LIMIT}\n\
         minutes = 60\n\
         \n\
         [tls]\n\
         chain = {chain}\n\
         key = {key}\n\
         \n\
         [mail_store]\n\
         keep_removed_days = 0\n\
         \n\
         [commands]\n\
         postmap = {postmap}\n\
         dkim_group = {dkim_group}\n\
         \n\
         [commands.postfix]\n\
         check = {postfix_check}\n\
         reload = {postfix_reload}\n\
         \n\
         [commands.dovecot]\n\
         check = {dovecot_check}\n\
         reload = {dovecot_reload}\n\
         \n\
         [commands.rspamd]\n\
         check = {rspamd_check}\n\
         reload = {rspamd_reload}\n",
        state_dir = quote_path(&config.state_dir),
        root = quote_path(&config.root),
        hostname = quote(&config.hostname),
        broker = p.broker,
        uid = config.vmail_uid,
        gid = config.vmail_gid,
        smtp = p.smtp,
        submission = p.submission,
        submissions = p.submissions,
        imap = p.imap,
        imaps = p.imaps,
        lmtp = p.lmtp,
        sasl = p.sasl,
        quota_status = p.quota_status,
        milter = p.milter,
        rspamd_controller = p.rspamd_controller,
        rspamd_normal = p.rspamd_normal,
        redis = p.redis,
        srs_forward = p.srs_forward,
        srs_reverse = p.srs_reverse,
        reinject = p.reinject,
        relayhost = config
            .relayhost
            .map(|r| format!("relayhost = \"{r}\"\n"))
            .unwrap_or_default(),
        messages = config.send_limit_messages,
        minutes = config.send_limit_minutes,
        chain = quote_path(&config.tls_chain),
        key = quote_path(&config.tls_key),
        postmap = quote_list(&c.postmap),
        dkim_group = quote(RSPAMD_USER),
        postfix_check = quote_list(&c.postfix_check),
        postfix_reload = quote_list(&c.postfix_reload),
        dovecot_check = quote_list(&c.dovecot_check),
        dovecot_reload = quote_list(&c.dovecot_reload),
        rspamd_check = quote_list(&c.rspamd_check),
        rspamd_reload = quote_list(&c.rspamd_reload),
    )
}

/// Postfix's master detaches from whoever starts it; this stops it with `postfix stop` on drop.
#[derive(Debug)]
struct Postfix {
    config_dir: PathBuf,
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let mut command = std::process::Command::new("postfix");
        command
            .arg("-c")
            .arg(&self.config_dir)
            .arg("stop")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let Ok(mut child) = command.spawn() else {
            eprintln!("[postfix] cannot run postfix stop");
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    eprintln!("[postfix] postfix stop did not finish");
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

/// A running mail node. Dropping it stops the agent, then every daemon, then removes its files.
pub struct MailNode {
    // Field order is drop order: the agent first, the daemons next, the files last.
    agent: Option<Process>,
    nginx: Option<Process>,
    web: Option<crate::nginx::Web>,
    postfix: Option<Postfix>,
    dovecot: Option<Process>,
    rspamd: Option<Process>,
    redis: Option<Process>,
    postsrsd: Option<Process>,
    node_id: String,
    config: AgentConfig,
    config_path: PathBuf,
    db_url: String,
    rspamd_cache: Option<PathBuf>,
    ca: TestCa,
    dir: TempDir,
}

impl std::fmt::Debug for MailNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailNode")
            .field("node_id", &self.node_id)
            .field("ip", &self.config.ip)
            .field("root", &self.config.root)
            .finish_non_exhaustive()
    }
}

impl MailNode {
    /// Adds the node through the admin API (`admin` holds an admin's API token), joins it to
    /// `control_plane`, renders its files and starts its daemons and agent.
    pub async fn start(
        control_plane: &ControlPlane,
        admin: &HttpClient,
        options: &Options,
    ) -> Result<MailNode> {
        let started = Instant::now();
        let ip = options.ip;
        ensure!(
            ip.is_loopback(),
            "a test node must be on 127.0.0.0/8, not {ip}"
        );
        let (vmail_uid, vmail_gid) = user_ids("vmail").context(
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

        let dir = tempfile::Builder::new().prefix("ruche-mail-").tempdir()?;
        // The daemons' users (vmail, _rspamd, postfix) must reach their directories below.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let root = dir.path().join("root");
        let state_dir = dir.path().join("state");
        let hostname = format!("mail.{}.test", options.name);

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

        let joined_at = started.elapsed();
        let ca = TestCa::new().await?;
        let leaf = ca.leaf(&hostname).await?;
        let config = AgentConfig {
            state_dir,
            root,
            hostname,
            ip,
            ports: Ports::free_on(ip)?,
            vmail_uid,
            vmail_gid,
            send_limit_messages: 5,
            send_limit_minutes: 1,
            relayhost: options.relayhost,
            tls_chain: leaf.chain,
            tls_key: leaf.key,
            rspamd_pid_file: dir.path().join("rspamd.pid"),
        };
        let config_path = dir.path().join("agent.toml");
        let web = options
            .web
            .then(|| crate::nginx::Web::free_on(ip))
            .transpose()?;
        let text = match web {
            Some(web) => {
                let mut table: toml::Table = agent_toml(&config).parse()?;
                crate::nginx::add_web(&mut table, &config.root, web)?;
                toml::to_string(&table)?
            }
            None => agent_toml(&config),
        };
        std::fs::write(&config_path, text)
            .with_context(|| format!("write {}", config_path.display()))?;

        let mut node = MailNode {
            agent: None,
            nginx: None,
            web,
            postfix: None,
            dovecot: None,
            rspamd: None,
            redis: None,
            postsrsd: None,
            node_id,
            config,
            config_path,
            db_url: control_plane.db_url().to_owned(),
            rspamd_cache: options.rspamd_cache.clone(),
            ca,
            dir,
        };
        node.prepare_directories()?;
        let configured_at = started.elapsed();
        let reconciled = node.reconcile().await?;
        let reconciled_at = started.elapsed();
        ensure!(
            reconciled.success(),
            "the first node-agent reconcile failed: {reconciled:?}\n{}",
            node.logs()
        );
        node.start_daemons().await.map_err(|e| node.explain(e))?;
        let daemons_at = started.elapsed();
        node.start_agent(&[]).await.map_err(|e| node.explain(e))?;
        eprintln!(
            "[mail-node] {} on {ip} started in {:.1} s (joined {:.1}, certificate and agent.toml \
             {:.1}, reconcile {:.1}, daemons {:.1}, agent {:.1})",
            node.config.hostname,
            started.elapsed().as_secs_f64(),
            joined_at.as_secs_f64(),
            (configured_at - joined_at).as_secs_f64(),
            (reconciled_at - configured_at).as_secs_f64(),
            (daemons_at - reconciled_at).as_secs_f64(),
            (started.elapsed() - daemons_at).as_secs_f64(),
        );
        Ok(node)
    }

    /// The directories the daemons expect, with the owners they expect. The agent renders only
    /// configuration files; creating these is the installer's job (systemd's in production).
    fn prepare_directories(&self) -> Result<()> {
        let (postfix_uid, _) = user_ids("postfix")?;
        let (rspamd_uid, rspamd_gid) = user_ids(RSPAMD_USER)?;
        let c = &self.config;
        let owned = [
            // queue_directory: root-owned; `postfix check` creates its subdirectories.
            ("var/spool/postfix", 0o755, None),
            ("var/lib/postfix", 0o700, Some((postfix_uid, 0))),
            ("var/log", 0o755, None),
            ("run/dovecot", 0o755, None),
            ("var/vmail", 0o750, Some((c.vmail_uid, c.vmail_gid))),
            ("var/lib/rspamd", 0o750, Some((rspamd_uid, rspamd_gid))),
            ("run/rspamd", 0o750, Some((rspamd_uid, rspamd_gid))),
            ("var/log/rspamd", 0o750, Some((rspamd_uid, rspamd_gid))),
            ("var/lib/redis", 0o700, None),
            // postsrsd's chroot: empty, it reads its secret before entering it.
            ("var/lib/postsrsd", 0o755, None),
        ];
        for (relative, mode, owner) in owned {
            let path = c.root.join(relative);
            std::fs::create_dir_all(&path).with_context(|| format!("create {}", path.display()))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                    .with_context(|| format!("chown {}", path.display()))?;
            }
        }
        // Every directory above the daemons' own must be traversable by their users.
        for relative in ["", "var", "var/lib", "run", "etc"] {
            let path = c.root.join(relative);
            std::fs::create_dir_all(&path)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(())
    }

    async fn start_daemons(&mut self) -> Result<()> {
        let c = self.config.clone();
        let ip = c.ip;
        let addr = |port| SocketAddr::from((ip, port));

        let redis = Process::spawn(
            "redis",
            Process::command(
                "redis-server",
                [
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--bind",
                    &ip.to_string(),
                    "--port",
                    &c.ports.redis.to_string(),
                    "--dir",
                    path_str(&c.root.join("var/lib/redis"))?,
                    "--daemonize",
                    "no",
                    "--logfile",
                    "",
                ],
            ),
        )?;
        self.redis = Some(redis);

        // postsrsd, as Debian runs it: its own user, chrooted, a secret only root reads.
        let secret = self.dir.path().join("srs.secret");
        let mut bytes = [0u8; 32];
        std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
        let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&secret)?;
        std::io::Write::write_all(&mut file, format!("{text}\n").as_bytes())?;
        let postsrsd = Process::spawn(
            "postsrsd",
            Process::command(
                "postsrsd",
                [
                    &format!("-s{}", path_str(&secret)?),
                    &format!("-d{}", c.hostname),
                    &format!("-l{ip}"),
                    &format!("-f{}", c.ports.srs_forward),
                    &format!("-r{}", c.ports.srs_reverse),
                    "-upostsrsd",
                    &format!("-c{}", c.rooted("var/lib/postsrsd")),
                ],
            ),
        )?;
        self.postsrsd = Some(postsrsd);

        self.seed_rspamd_dbdir().await?;
        let mut args = vec![
            "-f".to_owned(),
            "-u".to_owned(),
            RSPAMD_USER.to_owned(),
            "-g".to_owned(),
            RSPAMD_USER.to_owned(),
            "-c".to_owned(),
            RSPAMD_CONF.to_owned(),
        ];
        args.extend(c.rspamd_vars());
        let rspamd = Process::spawn("rspamd", Process::command("rspamd", &args))?;
        std::fs::write(&c.rspamd_pid_file, format!("{}\n", rspamd.pid()))?;
        self.rspamd = Some(rspamd);

        let dovecot = Process::spawn(
            "dovecot",
            Process::command(
                "dovecot",
                ["-F", "-c", &c.rooted("etc/dovecot/dovecot.conf")],
            ),
        )?;
        self.dovecot = Some(dovecot);

        // Postfix reads its own files only; it needs nothing else to be up to start.
        let started = run_to_end(
            Process::command("postfix", ["-c", &c.rooted("etc/postfix"), "start"]),
            COMMAND_TIMEOUT,
        )
        .await?;
        ensure!(
            started.success(),
            "postfix start failed: {started:?}\n{}",
            tail_file(&c.root.join("var/log/postfix.log"))
        );
        self.postfix = Some(Postfix {
            config_dir: c.root.join("etc/postfix"),
        });
        if let Some(web) = self.web {
            let conf = crate::nginx::conf(&c.root);
            self.nginx = Some(crate::nginx::start_nginx("nginx", &conf, web.http).await?);
        }

        let p = c.ports;
        let waits = [
            ("redis", p.redis),
            ("postsrsd forward", p.srs_forward),
            ("postsrsd reverse", p.srs_reverse),
            ("postfix forwarding", p.reinject),
            ("rspamd milter", p.milter),
            ("rspamd normal", p.rspamd_normal),
            ("dovecot lmtp", p.lmtp),
            ("dovecot sasl", p.sasl),
            ("dovecot quota-status", p.quota_status),
            ("dovecot imap", p.imap),
            ("dovecot imaps", p.imaps),
            ("postfix smtp", p.smtp),
            ("postfix submission", p.submission),
            ("postfix submissions", p.submissions),
        ];
        for (what, port) in waits {
            self.ensure_daemons_alive()?;
            wait_for_port(addr(port), LISTEN_TIMEOUT)
                .await
                .with_context(|| format!("{what} does not listen"))?;
        }
        Ok(())
    }

    /// Fails if a daemon the harness started has exited.
    fn ensure_daemons_alive(&self) -> Result<()> {
        for process in [&self.redis, &self.postsrsd, &self.rspamd, &self.dovecot]
            .into_iter()
            .flatten()
        {
            if let Some(exit) = process.exit_status()? {
                bail!(
                    "{} exited ({exit}); output:\n{}",
                    process.name(),
                    process.output()
                );
            }
        }
        Ok(())
    }

    /// Copies the cached rspamd DBDIR in, if there is one (the complete one if possible).
    async fn seed_rspamd_dbdir(&self) -> Result<()> {
        let Some(cache) = &self.rspamd_cache else {
            return Ok(());
        };
        let Some(slot) = [FULL_CACHE, PARTIAL_CACHE]
            .iter()
            .map(|slot| cache.join(slot))
            .find(|slot| slot.is_dir())
        else {
            return Ok(());
        };
        let dbdir = self.config.root.join("var/lib/rspamd");
        copy_tree(&slot, &dbdir).await?;
        let chown = run_to_end(
            Process::command(
                "chown",
                [
                    "-R",
                    &format!("{RSPAMD_USER}:{RSPAMD_USER}"),
                    path_str(&dbdir)?,
                ],
            ),
            COMMAND_TIMEOUT,
        )
        .await?;
        ensure!(chown.success(), "chown the rspamd DBDIR: {chown:?}");
        Ok(())
    }

    /// Keeps this node's rspamd DBDIR for later node starts. There are two slots, each written
    /// once and never replaced or removed, so a node copying one in never sees it change: the
    /// complete one (rspamd had loaded its whole compiled regexp database) and, until there is
    /// one, a partial one (which already spares the slow part of a cold start; rspamd compiles
    /// the rest in the background). A slot appears whole, renamed into place.
    pub async fn save_rspamd_cache(&self) -> Result<()> {
        let Some(cache) = &self.rspamd_cache else {
            return Ok(());
        };
        let log = std::fs::read_to_string(self.config.root.join("var/log/rspamd/rspamd.log"))
            .unwrap_or_default();
        let complete = log.contains("full hyperscan database");
        let slot = if complete {
            cache.join(FULL_CACHE)
        } else {
            cache.join(PARTIAL_CACHE)
        };
        if slot.exists() || cache.join(FULL_CACHE).exists() {
            return Ok(());
        }
        std::fs::create_dir_all(cache)?;
        let fresh = tempfile::Builder::new()
            .prefix(".rspamd-cache-")
            .tempdir_in(cache)?;
        copy_tree(&self.config.root.join("var/lib/rspamd"), fresh.path()).await?;
        // Another test may have won the race: then its copy stays and this one goes.
        let _ = std::fs::rename(fresh.path(), &slot);
        Ok(())
    }

    /// Where the node's nginx listens, when it runs one.
    pub fn web(&self) -> Result<crate::nginx::Web> {
        self.web.context("this node runs no web front")
    }

    /// Gives the agent `[acme]` and starts it again with it.
    pub async fn enable_acme(&mut self, acme: &crate::pebble::Acme) -> Result<()> {
        let text = std::fs::read_to_string(&self.config_path)?;
        std::fs::write(&self.config_path, crate::pebble::with_acme(&text, acme)?)?;
        self.restart_agent().await
    }

    /// Issues a new certificate for the node's host name into the files `agent.toml` names, as a
    /// renewal would; the agent installs it at its next apply. Returns it (DER).
    pub async fn renew_certificate(&self) -> Result<Vec<u8>> {
        let leaf = self.ca.leaf(&self.config.hostname).await?;
        ensure!(
            leaf.chain == self.config.tls_chain && leaf.key == self.config.tls_key,
            "the renewed certificate is not where agent.toml says"
        );
        imap::pem_certificate(&leaf.chain)
    }

    /// `node-agent run` on this node's configuration, heartbeats every second (so the observed
    /// generation shows quickly), with extra environment.
    fn agent_command(&self, env: &[(&str, &str)]) -> Result<tokio::process::Command> {
        let mut command = node_agent::daemon_command([
            "run",
            "--config",
            path_str(&self.config_path)?,
            "--interval-seconds",
            "1",
        ])?;
        for (key, value) in env {
            command.env(key, value);
        }
        Ok(command)
    }

    /// Starts `node-agent run` (with extra environment, e.g. `RUCHE_AGENT_TEST_PAUSE_MS`) and
    /// waits until its auth broker listens.
    pub async fn start_agent(&mut self, env: &[(&str, &str)]) -> Result<()> {
        ensure!(self.agent.is_none(), "the agent is running already");
        let command = self.agent_command(env)?;
        let agent = Process::spawn("node-agent", command)?;
        let broker = SocketAddr::from((self.config.ip, self.config.ports.broker));
        let deadline = Instant::now() + LISTEN_TIMEOUT;
        loop {
            if tokio::net::TcpStream::connect(broker).await.is_ok() {
                break;
            }
            if let Some(exit) = agent.exit_status()? {
                bail!(
                    "node-agent run exited ({exit}); output:\n{}",
                    agent.output()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "the agent's broker does not listen on {broker} after {LISTEN_TIMEOUT:?}; \
                     output:\n{}",
                    agent.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.agent = Some(agent);
        Ok(())
    }

    /// Starts `node-agent run` without waiting for anything: for a test that will kill it at a
    /// chosen step of an apply.
    pub fn spawn_agent(&mut self, env: &[(&str, &str)]) -> Result<&Process> {
        ensure!(self.agent.is_none(), "the agent is running already");
        let command = self.agent_command(env)?;
        Ok(self.agent.insert(Process::spawn("node-agent", command)?))
    }

    /// The running agent.
    pub fn agent(&self) -> Result<&Process> {
        self.agent.as_ref().context("the agent is not running")
    }

    /// SIGKILLs the agent's process group (a power cut, as far as the agent can tell) and reaps
    /// it; returns its output.
    pub async fn kill_agent(&mut self) -> Result<String> {
        let agent = self.agent.take().context("the agent is not running")?;
        agent.kill().await
    }

    /// Stops the agent (SIGTERM) if it runs, and starts it again.
    pub async fn restart_agent(&mut self) -> Result<()> {
        if let Some(agent) = self.agent.take() {
            agent.stop().await;
        }
        self.start_agent(&[]).await
    }

    /// Runs `node-agent reconcile --config agent.toml` once.
    pub async fn reconcile(&self) -> Result<CliOutput> {
        run_to_end(
            node_agent::command(["reconcile", "--config", path_str(&self.config_path)?])?,
            COMMAND_TIMEOUT,
        )
        .await
    }

    /// Runs `postfix check`, `doveconf -n` and `rspamadm configtest` on the rendered files and
    /// fails with their output unless all three pass.
    pub async fn check_configs(&self) -> Result<()> {
        let c = self.config.commands();
        let mut failures = Vec::new();
        for argv in [&c.postfix_check, &c.dovecot_check, &c.rspamd_check] {
            let Some((program, args)) = argv.split_first() else {
                continue;
            };
            let out = run_to_end(Process::command(program, args), COMMAND_TIMEOUT).await?;
            // `postfix check` says nothing on success and exits 1 with nothing on stderr when it
            // fails without a terminal: its complaints are in the maillog.
            if !out.success() {
                failures.push(format!(
                    "{} exited {:?}:\n{}{}",
                    argv.join(" "),
                    out.code,
                    out.stdout,
                    out.stderr
                ));
            }
        }
        ensure!(
            failures.is_empty(),
            "the rendered configuration does not pass its checks:\n{}\n{}",
            failures.join("\n"),
            tail_file(&self.config.root.join("var/log/postfix.log"))
        );
        Ok(())
    }

    /// `(desired, observed)` generations of this node, from the control plane's database (the
    /// API does not show them).
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

    /// Waits until the node reports an observed generation of at least `generation`.
    pub async fn wait_for_observed(&self, generation: i64, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let (desired, observed) = self.generations().await?;
            if observed.is_some_and(|o| o >= generation) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "the node observes generation {observed:?}, not {generation} (desired \
                     {desired}) after {timeout:?}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the node has applied everything the control plane wants right now.
    pub async fn wait_until_converged(&self, timeout: Duration) -> Result<()> {
        let (desired, _) = self.generations().await?;
        self.wait_for_observed(desired, timeout).await
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn ip(&self) -> Ipv4Addr {
        self.config.ip
    }

    pub fn ports(&self) -> Ports {
        self.config.ports
    }

    /// The mail host name on the node's certificate.
    pub fn hostname(&self) -> &str {
        &self.config.hostname
    }

    /// The CA certificate (PEM) every client of this node trusts.
    pub fn ca(&self) -> &Path {
        self.ca.cert()
    }

    /// The layout root: every file the agent renders is below it.
    pub fn root(&self) -> &Path {
        &self.config.root
    }

    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// The node's temporary directory (root, state, agent.toml).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The IMAP server, over STARTTLS (port `imap`) or implicit TLS (`imaps`).
    pub fn imap(&self, security: imap::Security) -> imap::Server<'_> {
        let port = match security {
            imap::Security::StartTls => self.config.ports.imap,
            imap::Security::Implicit => self.config.ports.imaps,
        };
        imap::Server {
            addr: SocketAddr::from((self.config.ip, port)),
            host: &self.config.hostname,
            ca: self.ca.cert(),
            security,
        }
    }

    /// Submission with STARTTLS (587) or implicit TLS (465), or plain SMTP on port 25.
    pub fn smtp(&self, security: submission::Security) -> submission::Server<'_> {
        let port = match security {
            submission::Security::StartTls => self.config.ports.submission,
            submission::Security::Implicit => self.config.ports.submissions,
            submission::Security::Plain => self.config.ports.smtp,
        };
        submission::Server {
            addr: SocketAddr::from((self.config.ip, port)),
            host: &self.config.hostname,
            ca: self.ca.cert(),
            security,
        }
    }

    /// The last lines of every daemon log and of the agent's output, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        let root = &self.config.root;
        let mut files = vec![
            root.join("var/log/postfix.log"),
            root.join("var/log/dovecot.log"),
        ];
        if let Ok(entries) = std::fs::read_dir(root.join("var/log/rspamd")) {
            let mut rspamd: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            rspamd.sort();
            files.extend(rspamd);
        }
        for file in files {
            text.push_str(&tail_file(&file));
        }
        for process in [&self.agent, &self.rspamd, &self.dovecot, &self.redis]
            .into_iter()
            .flatten()
        {
            let output = process.output();
            let _ = writeln!(
                text,
                "--- last {LOG_TAIL} lines of {}'s output ---\n{}",
                process.name(),
                tail(&output, LOG_TAIL)
            );
        }
        text
    }

    /// `error` with the node's logs attached.
    pub fn explain(&self, error: anyhow::Error) -> anyhow::Error {
        error.context(format!("mail node logs:\n{}", self.logs()))
    }
}

/// Copies the contents of `from` into `to` (created if needed), keeping modes.
async fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    let source = format!("{}/.", path_str(from)?);
    let out = run_to_end(
        Process::command("cp", ["-a", &source, path_str(to)?]),
        COMMAND_TIMEOUT,
    )
    .await?;
    ensure!(out.success(), "cp -a {source} {}: {out:?}", to.display());
    Ok(())
}

/// `(uid, gid)` of a system user, from /etc/passwd.
pub fn user_ids(name: &str) -> Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").context("read /etc/passwd")?;
    parse_passwd(&passwd, name).with_context(|| format!("no user {name} in /etc/passwd"))
}

fn parse_passwd(passwd: &str, name: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some((uid, gid))
    })
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

/// A titled tail of a log file ("(absent)" when it does not exist).
fn tail_file(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => format!(
            "--- last {LOG_TAIL} lines of {} ---\n{}\n",
            path.display(),
            tail(&String::from_utf8_lossy(&bytes), LOG_TAIL)
        ),
        Err(_) => format!("--- {} (absent) ---\n", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AgentConfig {
        AgentConfig {
            state_dir: PathBuf::from("/tmp/x/state"),
            root: PathBuf::from("/tmp/x/root"),
            hostname: "mail.node-a.test".to_owned(),
            ip: Ipv4Addr::new(127, 0, 0, 2),
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
            relayhost: Some("127.0.0.9:2525".parse().unwrap()),
            tls_chain: PathBuf::from("/tmp/x/tls/mail.pem"),
            tls_key: PathBuf::from("/tmp/x/tls/mail.key"),
            rspamd_pid_file: PathBuf::from("/tmp/x/rspamd.pid"),
        }
    }

    #[test]
    fn agent_toml_has_every_key() {
        let text = agent_toml(&config());
        for line in [
            "state_dir = \"/tmp/x/state\"",
            "root = \"/tmp/x/root\"",
            "hostname = \"mail.node-a.test\"",
            "listen = \"127.0.0.2\"",
            "internal = \"127.0.0.2\"",
            "broker = \"127.0.0.2:40001\"",
            "vmail_uid = 5000",
            "vmail_gid = 5001",
            "redis = 40017",
            "srs_forward = 40018",
            "reinject = 40020",
            "relayhost = \"127.0.0.9:2525\"",
            "messages = 5",
            "minutes = 1",
            "keep_removed_days = 0",
            "chain = \"/tmp/x/tls/mail.pem\"",
            "postmap = [\"postmap\", \"-c\", \"/tmp/x/root/etc/postfix\"]",
            "dkim_group = \"_rspamd\"",
            "check = [\"postfix\", \"-c\", \"/tmp/x/root/etc/postfix\", \"check\"]",
            "reload = [\"doveadm\", \"-c\", \"/tmp/x/root/etc/dovecot/dovecot.conf\", \"reload\"]",
            "reload = [\"sh\", \"-c\", \"kill -HUP \\\"$(cat '/tmp/x/rspamd.pid')\\\"\"]",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing in:\n{text}"
            );
        }
        assert!(text.contains("\"--var=DBDIR=/tmp/x/root/var/lib/rspamd\""));
        for table in [
            "[layout]",
            "[layout.ports]",
            "[layout.send_limit]",
            "[layout.forward_limit]",
            "[tls]",
            "[mail_store]",
            "[commands]",
            "[commands.postfix]",
            "[commands.dovecot]",
            "[commands.rspamd]",
        ] {
            assert!(text.lines().any(|l| l == table), "{table} missing");
        }
    }

    #[test]
    fn quotes_toml_strings() {
        assert_eq!(quote("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }

    #[test]
    fn reads_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nvmail:x:999:995::/:/usr/sbin/nologin\n";
        assert_eq!(parse_passwd(passwd, "vmail"), Some((999, 995)));
        assert_eq!(parse_passwd(passwd, "vmai"), None);
    }

    #[test]
    fn tails() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
