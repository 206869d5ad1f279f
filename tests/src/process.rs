//! Child processes run by the harness.
//!
//! Every daemon a test needs runs in the foreground as a direct child of the test, in its own
//! process group. Its stdout and stderr are captured line by line (ANSI colour codes stripped) into
//! a shared buffer and echoed to the test's stderr prefixed with the process name, so a failing test
//! shows what the daemons said. Dropping a [`Process`] terminates the whole group (SIGTERM, then
//! SIGKILL after a grace period) and reaps the child: nothing outlives the test.

use std::ffi::OsStr;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

/// How long a process gets to exit after SIGTERM before the group is SIGKILLed.
const TERM_GRACE: Duration = Duration::from_secs(3);

/// Which stream a captured line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One captured output line.
#[derive(Clone, Debug)]
pub struct Line {
    pub stream: Stream,
    pub text: String,
}

#[derive(Default)]
struct Captured {
    lines: Vec<Line>,
    /// Streams that reached end of file.
    closed: u8,
}

#[derive(Default)]
struct Shared {
    captured: Mutex<Captured>,
    changed: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Captured> {
        // A panic while holding the lock cannot leave the buffer inconsistent: keep going.
        self.captured
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running child process in its own process group; killed with its group on drop.
pub struct Process {
    name: String,
    child: Child,
    pid: Pid,
    shared: Arc<Shared>,
    exit: OnceLock<String>,
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl Process {
    /// Spawns `command` as `name` (used to prefix its echoed output and in errors).
    ///
    /// stdin is closed, stdout and stderr are captured. Must be called inside a Tokio runtime.
    pub fn spawn(name: impl Into<String>, mut command: Command) -> Result<Process> {
        let name = name.into();
        command
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(false);
        let program = command.as_std().get_program().to_owned();
        let mut child = command
            .spawn()
            .with_context(|| format!("{name}: cannot spawn {}", program.to_string_lossy()))?;
        let raw_pid = child
            .id()
            .with_context(|| format!("{name}: no pid after spawn"))?;
        let pid = i32::try_from(raw_pid)
            .ok()
            .and_then(Pid::from_raw)
            .with_context(|| format!("{name}: invalid pid {raw_pid}"))?;
        let shared = Arc::new(Shared::default());
        if let Some(stdout) = child.stdout.take() {
            capture(name.clone(), Stream::Stdout, stdout, shared.clone());
        }
        if let Some(stderr) = child.stderr.take() {
            capture(name.clone(), Stream::Stderr, stderr, shared.clone());
        }
        Ok(Process {
            name,
            child,
            pid,
            shared,
            exit: OnceLock::new(),
        })
    }

    /// Builds a [`Command`] for `program` with `args`; a shorthand for callers.
    pub fn command<I, S>(program: impl AsRef<OsStr>, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(program);
        command.args(args);
        command
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.pid.as_raw_pid().unsigned_abs()
    }

    /// All lines captured so far, stdout and stderr interleaved in arrival order.
    pub fn lines(&self) -> Vec<Line> {
        self.shared.lock().lines.clone()
    }

    /// All output captured so far as one text, one line per line.
    pub fn output(&self) -> String {
        let captured = self.shared.lock();
        let mut text = String::new();
        for line in &captured.lines {
            text.push_str(&line.text);
            text.push('\n');
        }
        text
    }

    /// The first captured line (from the start of the output) matching `predicate`, if any.
    pub fn find_line(&self, predicate: impl Fn(&str) -> bool) -> Option<String> {
        self.shared
            .lock()
            .lines
            .iter()
            .find(|line| predicate(&line.text))
            .map(|line| line.text.clone())
    }

    /// Waits until a line matching `predicate` has been printed (lines printed before the call
    /// count too) and returns it. Fails after `timeout`, or as soon as the process exits without
    /// printing one; the error carries the captured output.
    pub async fn wait_for_line(
        &self,
        predicate: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let mut checked = 0;
        let mut exited_at: Option<Instant> = None;
        loop {
            // Register interest before looking, so a line arriving in between is not missed.
            let changed = self.shared.changed.notified();
            {
                let captured = self.shared.lock();
                if let Some(line) = captured.lines[checked..]
                    .iter()
                    .find(|line| predicate(&line.text))
                {
                    return Ok(line.text.clone());
                }
                checked = captured.lines.len();
                if let Some(status) = self.exit_status()? {
                    // Once both streams are drained no line can come any more. A grandchild may
                    // keep a pipe open: then give up shortly after the exit.
                    let exited_at = *exited_at.get_or_insert_with(Instant::now);
                    if captured.closed >= 2 || exited_at.elapsed() > Duration::from_millis(500) {
                        bail!(
                            "{} exited ({status}) without printing the expected line; output:\n{}",
                            self.name,
                            indent(&captured.lines)
                        );
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                bail!(
                    "{} did not print the expected line within {timeout:?}; output:\n{}",
                    self.name,
                    indent(&self.shared.lock().lines)
                );
            }
            // Wake up regularly to notice an exit even if the streams stay open (grandchildren).
            let nap = (deadline - now).min(Duration::from_millis(100));
            let _ = tokio::time::timeout(nap, changed).await;
        }
    }

    /// `Some(description)` once the process has exited. Does not reap it, so its process group
    /// id stays reserved until [`Process`] is dropped.
    pub fn exit_status(&self) -> Result<Option<String>> {
        if let Some(exit) = self.exit.get() {
            return Ok(Some(exit.clone()));
        }
        let status = rustix::process::waitid(
            WaitId::Pid(self.pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
        )
        .with_context(|| format!("{}: waitid", self.name))?;
        Ok(status.map(|status| {
            let text = if let Some(code) = status.exit_status() {
                format!("exit status {code}")
            } else if let Some(signal) = status.terminating_signal() {
                format!("killed by signal {signal}")
            } else {
                "exited".to_owned()
            };
            self.exit.get_or_init(|| text).clone()
        }))
    }

    /// Stops the process group (SIGTERM, SIGKILL after a grace period) and waits until the
    /// process is reaped, without blocking the runtime.
    pub async fn stop(self) {
        self.signal_group(Signal::TERM);
        let deadline = Instant::now() + TERM_GRACE;
        while Instant::now() < deadline {
            if matches!(self.exit_status(), Ok(Some(_)) | Err(_)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Drop finishes the job: SIGKILL to stragglers of the group, then reap.
    }

    /// SIGKILLs the process group (a power cut, as far as the process can tell) and reaps it;
    /// its output.
    pub async fn kill(self) -> Result<String> {
        rustix::process::kill_process_group(self.pid, Signal::KILL)
            .with_context(|| format!("SIGKILL {}", self.name))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.exit_status()?.is_none() {
            if Instant::now() >= deadline {
                bail!("{} survived SIGKILL", self.name);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(self.output())
    }

    fn signal_group(&self, signal: Signal) {
        // ESRCH (group already gone) is the expected outcome more often than not.
        let _ = rustix::process::kill_process_group(self.pid, signal);
    }

    /// Synchronous teardown used by Drop.
    fn terminate(&mut self) {
        if self.exit_status().ok().flatten().is_none() {
            self.signal_group(Signal::TERM);
            let deadline = Instant::now() + TERM_GRACE;
            while Instant::now() < deadline {
                if matches!(self.exit_status(), Ok(Some(_)) | Err(_)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // The leader is a zombie at worst (not reaped yet), so the group id cannot have been
        // reused: kill whatever is left in the group, then reap the leader.
        self.signal_group(Signal::KILL);
        let deadline = Instant::now() + TERM_GRACE;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    eprintln!("[{}] still not reaped after SIGKILL", self.name);
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.terminate();
    }
}

fn capture<R>(name: String, stream: Stream, reader: R, shared: Arc<Shared>)
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut reader = BufReader::new(reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let raw = String::from_utf8_lossy(&buf);
                    let text = strip_ansi(raw.trim_end_matches(['\n', '\r']));
                    let marker = if stream == Stream::Stderr { "!" } else { "" };
                    eprintln!("[{name}{marker}] {text}");
                    shared.lock().lines.push(Line { stream, text });
                    shared.changed.notify_waiters();
                }
            }
        }
        shared.lock().closed += 1;
        shared.changed.notify_waiters();
    });
}

/// What a command run to completion (not a daemon) did; see [`run_to_end`].
#[derive(Clone, Debug)]
pub struct CliOutput {
    /// `Some(code)` when it exited normally.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs `command` with no input until it exits (killed if it outlasts `timeout`), and returns
/// its status and output with terminal colours removed. For CLI commands, not daemons.
pub async fn run_to_end(mut command: Command, timeout: Duration) -> Result<CliOutput> {
    command
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let what = format!("{:?}", command.as_std());
    let output = tokio::time::timeout(timeout, command.output())
        .await
        .with_context(|| format!("{what} did not exit within {timeout:?}"))?
        .with_context(|| format!("run {what}"))?;
    let strip = |bytes: &[u8]| strip_ansi(&String::from_utf8_lossy(bytes));
    Ok(CliOutput {
        code: output.status.code(),
        stdout: strip(&output.stdout),
        stderr: strip(&output.stderr),
    })
}

/// Removes ANSI escape sequences (colours of tracing's formatter and the like).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            // CSI: ESC [ parameters… final byte in @..~
            Some('[') => {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // OSC: ESC ] … BEL or ESC \
            Some(']') => {
                chars.next();
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            // Two-character sequences.
            Some(_) => {
                chars.next();
            }
            None => {}
        }
    }
    out
}

fn indent(lines: &[Line]) -> String {
    if lines.is_empty() {
        return "    (no output)".to_owned();
    }
    lines
        .iter()
        .map(|line| format!("    {}", line.text))
        .collect::<Vec<_>>()
        .join("\n")
}
