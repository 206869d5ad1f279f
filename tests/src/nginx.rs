//! nginx for the web tests: Debian's binary on the configuration the agent rendered, in the
//! foreground (`daemon off;`) as a direct child in its own process group ([`Process`]),
//! stopped on drop. Its reload (the agent's `[commands.nginx]`) signals the master through the
//! pid file the rendered configuration names.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use toml::{Table, Value};

use crate::net::wait_for_port;
use crate::process::Process;

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a node's nginx listens.
#[derive(Debug, Clone, Copy)]
pub struct Web {
    pub http: SocketAddr,
    pub https: SocketAddr,
}

impl Web {
    /// Two free ports on `ip`.
    pub fn free_on(ip: std::net::Ipv4Addr) -> Result<Web> {
        Ok(Web {
            http: SocketAddr::from((ip, crate::net::free_port()?)),
            https: SocketAddr::from((ip, crate::net::free_port()?)),
        })
    }
}

/// `<root>/etc/nginx/nginx.conf`, where the agent renders nginx's configuration.
pub fn conf(root: &Path) -> std::path::PathBuf {
    root.join("etc/nginx/nginx.conf")
}

/// Adds agent.toml's `[web]` and `[commands.nginx]` for `web` to `table` (an agent.toml whose
/// layout root is `root`).
pub fn add_web(table: &mut Table, root: &Path, web: Web) -> Result<()> {
    let (check, reload) = commands(&conf(root))?;
    let argv = |items: Vec<String>| Value::Array(items.into_iter().map(Value::from).collect());
    let mut commands_nginx = Table::new();
    commands_nginx.insert("check".to_owned(), argv(check));
    commands_nginx.insert("reload".to_owned(), argv(reload));
    table
        .get_mut("commands")
        .and_then(Value::as_table_mut)
        .context("agent.toml has no [commands]")?
        .insert("nginx".to_owned(), Value::Table(commands_nginx));
    let mut section = Table::new();
    section.insert("http".to_owned(), Value::from(web.http.to_string()));
    section.insert("https".to_owned(), Value::from(web.https.to_string()));
    table.insert("web".to_owned(), Value::Table(section));
    Ok(())
}

/// The agent's `[commands.nginx]` for the configuration at `conf`.
pub fn commands(conf: &Path) -> Result<(Vec<String>, Vec<String>)> {
    let conf = conf
        .to_str()
        .with_context(|| format!("{} is not UTF-8", conf.display()))?
        .to_owned();
    let check = ["nginx", "-t", "-q", "-c", &conf];
    let reload = ["nginx", "-s", "reload", "-c", &conf];
    Ok((
        check.iter().map(|s| (*s).to_owned()).collect(),
        reload.iter().map(|s| (*s).to_owned()).collect(),
    ))
}

/// Starts nginx on `conf` and waits until it answers on `http`.
pub async fn start_nginx(name: &str, conf: &Path, http: SocketAddr) -> Result<Process> {
    let mut command = Process::command("nginx", [std::ffi::OsStr::new("-c"), conf.as_os_str()]);
    command.args(["-g", "daemon off;"]);
    let process = Process::spawn(name, command)
        .context("start nginx (Debian's nginx; tests/run.sh installs it)")?;
    if let Err(e) = wait_for_port(http, START_TIMEOUT).await {
        bail!("{e:#}; nginx said:\n{}", process.output());
    }
    Ok(process)
}
