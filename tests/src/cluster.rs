//! A private PostgreSQL cluster a test owns, for tests that stop and start Postgres under the
//! system (the shared server of `DATABASE_URL` must never be touched that way).
//!
//! The cluster is made and run by `deploy/pg.sh` (the helpers `tests/run.sh` uses): data in a
//! temporary directory, a port of 127.0.0.1 chosen by `pg_free_port` (below the ephemeral range, so
//! no outgoing connection can hold it while the cluster is stopped), `fsync=off`. It is stopped
//! (fast shutdown) and its directory removed on drop.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tempfile::TempDir;

/// Settings every start passes to the server.
const SETTINGS: &[&str] = &["fsync=off", "full_page_writes=off"];

/// A private Postgres cluster on 127.0.0.1, stopped and removed on drop.
#[derive(Debug)]
pub struct PgCluster {
    dir: TempDir,
    port: u16,
}

/// `deploy/pg.sh` of this workspace.
pub fn pg_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/pg.sh")
}

/// Runs `source deploy/pg.sh; <script>` in bash with `args` as `$1`, `$2`, …; returns stdout.
async fn pg_sh_run<I, S>(script: &str, args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail; source \"$PG_SH\"; {script}"))
        .arg("pg-cluster")
        .args(args)
        .env("PG_SH", pg_sh())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .context("run bash")?;
    if !output.status.success() {
        bail!(
            "`{script}` failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

impl PgCluster {
    /// Creates a cluster in a fresh temporary directory and starts it on a free port.
    pub async fn start() -> Result<PgCluster> {
        // A short path: the server's Unix socket lives in it and must fit in a sockaddr_un.
        let dir = tempfile::Builder::new()
            .prefix("ruche-pg-")
            .tempdir_in("/tmp")
            .context("create the cluster directory")?;
        let port: u16 = pg_sh_run("pg_free_port", std::iter::empty::<&str>())
            .await?
            .trim()
            .parse()
            .context("pg_free_port printed no port")?;
        let cluster = PgCluster { dir, port };
        cluster.start_again().await?;
        Ok(cluster)
    }

    /// Starts the (stopped) cluster again, on the same directory and port.
    pub async fn start_again(&self) -> Result<()> {
        let mut args = vec![
            self.dir.path().as_os_str().to_owned(),
            self.port.to_string().into(),
        ];
        args.extend(SETTINGS.iter().map(|s| (*s).into()));
        pg_sh_run("pg_start \"$@\"", args)
            .await
            .with_context(|| format!("start the cluster in {}", self.dir.path().display()))?;
        Ok(())
    }

    /// Stops the cluster (fast shutdown: sessions are ended) and waits until it is down.
    pub async fn stop(&self) -> Result<()> {
        pg_sh_run("pg_stop \"$1\"", [self.dir.path()])
            .await
            .with_context(|| format!("stop the cluster in {}", self.dir.path().display()))?;
        Ok(())
    }

    /// Whether the cluster's server runs.
    pub async fn running(&self) -> Result<bool> {
        let out = pg_sh_run(
            "if pg_running \"$1\"; then echo yes; else echo no; fi",
            [self.dir.path()],
        )
        .await?;
        Ok(out.trim() == "yes")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's directory (data in `data/`, server log in `log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log so far (for error messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// A superuser URL of the cluster's `postgres` database (for `TestDatabase::create_on`).
    pub fn server_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let status = std::process::Command::new("bash")
            .arg("-c")
            .arg("source \"$PG_SH\"; pg_stop \"$1\"")
            .arg("pg-cluster")
            .arg(self.dir.path())
            .env("PG_SH", pg_sh())
            .stdin(std::process::Stdio::null())
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!(
                "[pg-cluster] could not stop the cluster in {} ({status:?})",
                self.dir.path().display()
            );
        }
        // The TempDir field then removes the directory.
    }
}
