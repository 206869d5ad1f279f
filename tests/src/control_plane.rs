//! The real `control-plane` binary, serving on a free port of 127.0.0.1.
//!
//! The binary is the one cargo built next to the test executable (`target/<profile>/`), or the one
//! in `RUCHE_BIN_DIR`. `tests/run.sh` builds it (`cargo build --workspace --bins`) before the tests.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::net::free_port;
use crate::process::Process;

/// How long the control plane may take to print `listening on`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long after `listening on` the setup link may take to be printed.
const SETUP_LINK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a CLI command may run.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// Directory holding the workspace's binaries: `RUCHE_BIN_DIR`, else the directory above the test
/// executable's `deps/` (cargo puts `target/debug/deps/e2e-HASH` and `target/debug/control-plane`
/// there).
pub fn bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("RUCHE_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().context("current_exe")?;
    let mut dir = exe
        .parent()
        .context("test executable has no parent directory")?;
    if dir.file_name().is_some_and(|name| name == "deps") {
        dir = dir.parent().context("deps/ has no parent directory")?;
    }
    Ok(dir.to_path_buf())
}

/// Path of the workspace binary `name` (see [`bin_dir`]); fails with a hint if it is not built.
pub fn binary(name: &str) -> Result<PathBuf> {
    let path = bin_dir()?.join(name);
    if !path.is_file() {
        bail!(
            "{} does not exist: build the workspace binaries first (`cargo build --workspace \
             --bins`, which tests/run.sh does) or point RUCHE_BIN_DIR at them",
            path.display()
        );
    }
    Ok(path)
}

/// A running control plane. Stopped (its process group killed) on drop.
#[derive(Debug)]
pub struct ControlPlane {
    db_url: String,
    smtp_port: u16,
    port: u16,
    extra_env: Vec<(String, String)>,
    process: Option<Process>,
}

impl ControlPlane {
    /// Starts `control-plane serve` on a free port of 127.0.0.1 with the database `db_url`, sending
    /// mail to `smtp://127.0.0.1:<smtp_port>`, and waits until it logs `listening on`.
    pub async fn start(db_url: &str, smtp_port: u16) -> Result<ControlPlane> {
        Self::start_with_env(db_url, smtp_port, std::iter::empty::<(String, String)>()).await
    }

    /// Like [`ControlPlane::start`], with more environment variables for the control plane (e.g.
    /// `RUCHE_DATABASE__ACQUIRE_TIMEOUT_SECONDS`); they win over the harness's own and are kept
    /// by [`ControlPlane::restart`] and [`ControlPlane::run_cli`].
    pub async fn start_with_env<I, K, V>(
        db_url: &str,
        smtp_port: u16,
        extra_env: I,
    ) -> Result<ControlPlane>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut control_plane = ControlPlane {
            db_url: db_url.to_owned(),
            smtp_port,
            port: free_port()?,
            extra_env: extra_env
                .into_iter()
                .map(|(key, value)| (key.into(), value.into()))
                .collect(),
            process: None,
        };
        control_plane.spawn().await?;
        Ok(control_plane)
    }

    /// A command running the control-plane binary with `args` and this control plane's
    /// configuration (database, public URL, mail relay, extra environment).
    fn command<I, S>(&self, args: I) -> Result<tokio::process::Command>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let bin = binary("control-plane")?;
        let mut command = Process::command(&bin, args);
        // Only the configuration below: the control plane rejects unknown RUCHE_* variables
        // (RUCHE_BIN_DIR is the harness's) and a developer's RUCHE_CONFIG must not leak in.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("RUCHE_") {
                command.env_remove(key);
            }
        }
        command
            .env("DATABASE_URL", &self.db_url)
            .env("RUCHE_HTTP__PUBLIC_URL", self.base_url())
            .env(
                "RUCHE_MAIL__SMTP_URL",
                format!("smtp://127.0.0.1:{}", self.smtp_port),
            )
            .env("RUCHE_MAIL__FROM", "Ruche <noreply@ruche.test>")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        for (key, value) in &self.extra_env {
            command.env(key, value);
        }
        Ok(command)
    }

    async fn spawn(&mut self) -> Result<()> {
        let listen = format!("127.0.0.1:{}", self.port);
        let command = self.command(["serve", "--listen", &listen])?;
        let process = Process::spawn("control-plane", command)?;
        process
            .wait_for_line(|line| line.contains("listening on"), START_TIMEOUT)
            .await?;
        self.process = Some(process);
        Ok(())
    }

    /// `http://localhost:<port>`, the public URL the control plane was given.
    pub fn base_url(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    /// `base_url()` followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn db_url(&self) -> &str {
        &self.db_url
    }

    /// The running process, for its captured log.
    pub fn process(&self) -> Result<&Process> {
        self.process
            .as_ref()
            .context("the control plane is stopped")
    }

    /// The one-time setup link this run of the control plane logged (`… setup link:
    /// http://localhost:P/setup?token=…`). Waits a little for it, since it may be logged just after
    /// `listening on`; fails if none is logged (e.g. the database already has an admin).
    pub async fn setup_link(&self) -> Result<String> {
        let process = self.process()?;
        let line = process
            .wait_for_line(|line| line.contains("/setup?token="), SETUP_LINK_TIMEOUT)
            .await
            .context("the control plane logged no setup link")?;
        extract_setup_link(&line, &self.base_url())
            .with_context(|| format!("no setup link in the line {line:?}"))
    }

    /// Stops the control plane (SIGTERM to its process group, SIGKILL after a grace period).
    pub async fn stop(&mut self) {
        if let Some(process) = self.process.take() {
            process.stop().await;
        }
    }

    /// Sets an environment variable for the control plane's next start ([`ControlPlane::restart`]):
    /// e.g. the public URL of a portal served behind a node's HTTPS front, known only once the
    /// node is up.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.extra_env.retain(|(k, _)| k != key);
        self.extra_env.push((key.to_owned(), value.to_owned()));
    }

    /// Stops and starts the control plane again, on the same port and database.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await;
        self.spawn().await
    }

    /// Runs `control-plane ARGS…` (a CLI command such as `invite` or `members`, not the server)
    /// with this control plane's configuration, and waits for it to exit.
    pub async fn run_cli<I, S>(&self, args: I) -> Result<crate::process::CliOutput>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        crate::process::run_to_end(self.command(args)?, CLI_TIMEOUT).await
    }
}

/// Extracts `<scheme>://…/setup?token=<token>` from a log line; a link logged without scheme and
/// host gets `base_url` in front. The token is URL-safe (base64url, hex, alphanumerics, `%`).
pub fn extract_setup_link(line: &str, base_url: &str) -> Option<String> {
    const MARKER: &str = "/setup?token=";
    let at = line.find(MARKER)?;
    let token: String = line[at + MARKER.len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '%' | '.' | '~'))
        .collect();
    let token = token.trim_end_matches('.');
    if token.is_empty() {
        return None;
    }
    let before = &line[..at];
    let prefix = match before.rfind("http://").max(before.rfind("https://")) {
        Some(start) if !before[start..].contains(char::is_whitespace) => &before[start..],
        _ => base_url,
    };
    Some(format!("{prefix}{MARKER}{token}"))
}

#[cfg(test)]
mod tests {
    use super::extract_setup_link;

    #[test]
    fn extracts_setup_links() {
        let base = "http://localhost:9";
        assert_eq!(
            extract_setup_link(
                "2025-01-01T00:00:00Z  INFO control_plane: setup link: \
                 http://localhost:4000/setup?token=Ab-_9z",
                base
            )
            .as_deref(),
            Some("http://localhost:4000/setup?token=Ab-_9z")
        );
        assert_eq!(
            extract_setup_link("setup_link=\"http://h:1/setup?token=xyz\" done", base).as_deref(),
            Some("http://h:1/setup?token=xyz")
        );
        assert_eq!(
            extract_setup_link("visit /setup?token=abc.", base).as_deref(),
            Some("http://localhost:9/setup?token=abc")
        );
        assert_eq!(extract_setup_link("no link here", base), None);
        assert_eq!(extract_setup_link("/setup?token= empty", base), None);
    }
}
