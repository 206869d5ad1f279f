//! nginx for the web tests: Debian's binary on the configuration the agent rendered, in the
//! foreground (`daemon off;`) as a direct child in its own process group ([`Process`]),
//! stopped on drop. Its reload (the agent's `[commands.nginx]`) signals the master through the
//! pid file the rendered configuration names.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::net::wait_for_port;
use crate::process::Process;

const START_TIMEOUT: Duration = Duration::from_secs(30);

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
