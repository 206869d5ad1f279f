//! The command line: `node-agent join …` and `node-agent run …`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use url::Url;

use crate::capacity::Host;
use crate::client::{parse_base_url, NodeClient};
use crate::config::{Config, DEFAULT_CONFIG};
use crate::daemon;
use crate::heartbeat;
use crate::identity::{StateDir, DEFAULT_STATE_DIR};
use crate::join::{join, JoinOptions};
use crate::secret::Secret;

/// The Ruche node agent.
#[derive(Debug, Parser)]
#[command(name = "node-agent", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Join the collective with a one-time join token an admin created for this node.
    Join(JoinArgs),
    /// Serve: apply the desired state, answer logins, report to the control plane, until
    /// stopped (SIGTERM or SIGINT).
    Run(RunArgs),
    /// Apply the desired state once (from the control plane, or the copy on disk) and exit.
    Reconcile(ReconcileArgs),
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The agent's configuration
    #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The control plane's URL, e.g. https://ruche.example.org
    #[arg(value_parser = parse_base_url)]
    pub control_plane_url: Url,
    /// Where to read the one-time join token (valid 24 hours): a file, or `-` for standard input
    /// (paste it, then Enter). Never on the command line, where the shell's history and every
    /// user's process list would see it.
    #[arg(long, value_name = "PATH")]
    pub token_file: PathBuf,
    /// The node's name as admins see it [default: the host name]
    #[arg(long)]
    pub name: Option<String>,
    /// An address the node serves on (IPv4 or IPv6); repeat for several
    #[arg(long = "address", value_name = "IP", required = true)]
    pub addresses: Vec<IpAddr>,
    /// Where the agent keeps its state (created with mode 0700)
    #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// Replace an existing node.json (joining again after an admin rotated the node's credential,
    /// or as a new node)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The agent's configuration (daemons, paths, commands). Without it the agent only reports
    /// to the control plane: a node that serves nothing yet.
    #[arg(long, value_name = "FILE", conflicts_with = "state_dir")]
    pub config: Option<PathBuf>,
    /// Where the agent keeps its state (node.json, written by `join`), when run without --config
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Seconds between two heartbeats
    #[arg(
        long,
        value_name = "N",
        default_value_t = heartbeat::DEFAULT_INTERVAL.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub interval_seconds: u64,
}

/// The most a join token file may hold: tokens are a few dozen characters.
const TOKEN_FILE_LIMIT: u64 = 4096;

/// Reads the join token: the first line of the file (or of standard input for `-`), trimmed.
fn read_token(path: &std::path::Path) -> anyhow::Result<Secret> {
    use std::io::{BufRead, Read};
    let mut text = String::new();
    if path == std::path::Path::new("-") {
        if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            eprint!("join token: ");
        }
        std::io::stdin()
            .lock()
            .take(TOKEN_FILE_LIMIT)
            .read_line(&mut text)?;
    } else {
        std::fs::File::open(path)
            .map_err(|e| {
                anyhow::anyhow!("cannot read the join token from {}: {e}", path.display())
            })?
            .take(TOKEN_FILE_LIMIT)
            .read_to_string(&mut text)?;
    }
    let token = text.lines().next().unwrap_or("").trim();
    if token.is_empty() {
        anyhow::bail!("no join token in {}", path.display());
    }
    Ok(Secret::new(token))
}

/// Runs the command. What a successful `join` prints goes to stdout; logs go to stderr.
pub async fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Join(args) => {
            let options = JoinOptions {
                control_plane_url: args.control_plane_url,
                token: read_token(&args.token_file)?,
                name: args.name,
                addresses: args.addresses,
                force: args.force,
            };
            let state = join(&options, &StateDir::new(args.state_dir), &Host::default()).await?;
            println!("joined as {}", state.node_id);
            Ok(())
        }
        Command::Run(RunArgs {
            config: Some(path),
            interval_seconds,
            ..
        }) => {
            let config = Config::load(&path)?;
            daemon::run(config, Duration::from_secs(interval_seconds)).await
        }
        Command::Reconcile(args) => daemon::reconcile_once(Config::load(&args.config)?).await,
        Command::Run(args) => {
            let state_dir = args
                .state_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
            let state = StateDir::new(state_dir).load()?;
            let client = NodeClient::new(&state)?;
            let interval = Duration::from_secs(args.interval_seconds);
            let shutdown = heartbeat::shutdown_signal()?;
            tracing::info!(
                node_id = state.node_id,
                control_plane = %state.control_plane_url,
                ?interval,
                "reporting to the control plane"
            );
            heartbeat::run(
                &client,
                interval,
                rand::random::<f64>,
                heartbeat::heartbeat,
                &tokio::sync::Notify::new(),
                shutdown,
            )
            .await;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_join() {
        let cli = Cli::try_parse_from([
            "node-agent",
            "join",
            "https://cp.example.org",
            "--token-file",
            "-",
            "--address",
            "192.0.2.1",
            "--address",
            "2001:db8::1",
        ])
        .unwrap();
        let Command::Join(args) = cli.command else {
            panic!("not a join");
        };
        assert_eq!(args.token_file, PathBuf::from("-"));
        assert_eq!(args.addresses.len(), 2);
        assert_eq!(args.state_dir, PathBuf::from("/var/lib/ruche-agent"));
        assert!(!args.force);
    }

    #[test]
    fn reads_the_token_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "join_abc \nignored\n").unwrap();
        assert_eq!(read_token(&path).unwrap().expose(), "join_abc");
        std::fs::write(&path, "\n").unwrap();
        assert!(read_token(&path).is_err());
        assert!(read_token(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn refuses_bad_join_arguments() {
        for args in [
            // No address.
            &[
                "node-agent",
                "join",
                "https://cp.example.org",
                "--token-file",
                "-",
            ][..],
            &[
                "node-agent",
                "join",
                "https://cp.example.org",
                "--token-file",
                "-",
                "--address",
                "not-an-ip",
            ],
            &[
                "node-agent",
                "join",
                "cp.example.org",
                "--token-file",
                "-",
                "--address",
                "192.0.2.1",
            ],
            // The token on the command line is refused.
            &[
                "node-agent",
                "join",
                "https://cp.example.org",
                "join_tok",
                "--address",
                "192.0.2.1",
            ],
            // No token source.
            &[
                "node-agent",
                "join",
                "https://cp.example.org",
                "--address",
                "192.0.2.1",
            ],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn parses_run() {
        let cli = Cli::try_parse_from(["node-agent", "run"]).unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not a run");
        };
        assert_eq!(args.interval_seconds, 30);
        let zero = Cli::try_parse_from(["node-agent", "run", "--interval-seconds", "0"]);
        assert!(zero.is_err());
    }
}
