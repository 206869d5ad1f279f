//! The real `node-agent` binary, run as an operator would: `join` as a command that exits, `run`
//! as a daemon ([`Process`]).
//!
//! The binary is found like the control plane's ([`crate::control_plane::binary`]). The agent
//! gets no proxy settings, so it only ever talks to the loopback URL it is given.

use std::ffi::OsStr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rustix::process::{Pid, Signal};

use crate::control_plane::binary;
use crate::process::{CliOutput, Process};

/// How long `node-agent join` may run.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// Proxy variables the agent's HTTP client would honour.
const PROXY_VARIABLES: [&str; 8] = [
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
];

/// A command running the node-agent binary with `args`, logging at `info` without colours.
pub fn command<I, S>(args: I) -> Result<tokio::process::Command>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Ok(environment(Process::command(binary("node-agent")?, args)))
}

/// [`command`] for the daemon (`run …`). With `RUCHE_AGENT_PROFILER` set to a command and its
/// options (say `heaptrack -o /tmp/agent`), the agent runs under it: for benchmarks that find
/// where its memory goes; the process then measured is the profiler's.
pub fn daemon_command<I, S>(args: I) -> Result<tokio::process::Command>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let profiler = std::env::var("RUCHE_AGENT_PROFILER").unwrap_or_default();
    let mut words = profiler.split_whitespace();
    let Some(program) = words.next() else {
        return command(args);
    };
    let binary = binary("node-agent")?;
    let mut all: Vec<std::ffi::OsString> = words.map(Into::into).collect();
    all.push(binary.into_os_string());
    all.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
    Ok(environment(Process::command(program, all)))
}

/// No proxy, plain info-level logs.
fn environment(mut command: tokio::process::Command) -> tokio::process::Command {
    for variable in PROXY_VARIABLES {
        command.env_remove(variable);
    }
    command.env("RUST_LOG", "info").env("NO_COLOR", "1");
    command
}

/// Runs `node-agent ARGS…` (e.g. `join …`) and waits for it to exit.
pub async fn run_cli<I, S>(args: I) -> Result<CliOutput>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    crate::process::run_to_end(command(args)?, CLI_TIMEOUT).await
}

/// Starts `node-agent ARGS…` (e.g. `run …`) as the process `name`.
pub fn spawn<I, S>(name: &str, args: I) -> Result<Process>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Process::spawn(name, command(args)?)
}

/// Sends SIGTERM to the process itself (not its group, unlike [`Process::stop`]) and waits up to
/// `timeout` for it to exit; returns how it exited ("exit status 0", …).
pub async fn terminate(process: &Process, timeout: Duration) -> Result<String> {
    let pid = i32::try_from(process.pid())
        .ok()
        .and_then(Pid::from_raw)
        .with_context(|| format!("{}: invalid pid", process.name()))?;
    rustix::process::kill_process(pid, Signal::TERM)
        .with_context(|| format!("{}: send SIGTERM", process.name()))?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(exit) = process.exit_status()? {
            return Ok(exit);
        }
        if Instant::now() >= deadline {
            bail!(
                "{} did not exit within {timeout:?} of SIGTERM; output:\n{}",
                process.name(),
                process.output()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many DKIM keys the agent rooted at `root` has made (its `.pub` files; the key directory
/// of the layout, `var/lib/ruche-agent/dkim`). For benchmarks that wait until they all are.
pub fn dkim_keys_made(root: &std::path::Path) -> usize {
    std::fs::read_dir(root.join("var/lib/ruche-agent/dkim")).map_or(0, |entries| {
        entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".pub"))
            .count()
    })
}

/// The `elapsed=` of one of the agent's log lines: tracing's `Debug` of a `Duration` (`elapsed=12.3ms`, `1.2s`, `850µs`).
pub fn parse_elapsed(line: &str) -> Option<Duration> {
    parse_duration(line, "elapsed")
}

/// The duration field `name` of one of the agent's log lines (`render=4.1ms`), as
/// [`parse_elapsed`] reads `elapsed=`.
pub fn parse_duration(line: &str, name: &str) -> Option<Duration> {
    let value = line
        .split(' ')
        .find_map(|field| field.strip_prefix(name)?.strip_prefix('='))?;
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => number,
        "ms" => number / 1e3,
        "µs" | "us" => number / 1e6,
        "ns" => number / 1e9,
        _ => return None,
    };
    Some(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tracing_durations() {
        let line = "INFO node_agent::reconcile: reconciled generation=4 files=12 elapsed=12.5ms";
        assert_eq!(parse_elapsed(line), Some(Duration::from_micros(12_500)));
        assert_eq!(
            parse_elapsed("elapsed=1.5s x"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_elapsed("elapsed=850µs"),
            Some(Duration::from_micros(850))
        );
        assert_eq!(parse_elapsed("no duration"), None);
        let line = "reconciled elapsed=30ms material=1.5ms render=9ms plan=4.25ms";
        assert_eq!(
            parse_duration(line, "plan"),
            Some(Duration::from_micros(4_250))
        );
        assert_eq!(
            parse_duration(line, "render"),
            Some(Duration::from_millis(9))
        );
    }
}
