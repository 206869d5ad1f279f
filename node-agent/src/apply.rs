//! Applying a [`Plan`]: the only place that writes the daemons' files and runs their commands.
//! It knows services only through [`crate::services::Daemon`]: their checks and reloads, and
//! their own named steps, which it runs at their [`Phase`].
//!
//! 1. The journal records the checks, reloads and named steps the plan asks for, before any
//!    file changes (an apply killed after this point is finished by the next one).
//! 2. Each file is replaced atomically (temporary file, fsync, rename, fsync of the directory).
//!    A file its service checks before it replaces the old one
//!    ([`crate::services::Daemon::new_file_check`], Knot's `kzonecheck`) is written next to it,
//!    checked, and renamed over it only if accepted: a refused file is never on disk, its
//!    service reports the refusal and the step that would load it does not run. A file the
//!    daemon re-reads by itself gets a modification time later than the one it replaces.
//! 3. Each service with a changed configuration runs its own check. A failed check puts that
//!    service's last good files back (rendered from the last applied state, or what was on
//!    disk before) and reports the error; the service is not reloaded.
//! 4. The services' named steps of [`Phase::BeforeReload`] run (Postfix's tables: only their
//!    changed entries, `postmap -i`/`-d`, when the compiled form is current; else rebuilt
//!    whole, as after a refused check or an interrupted apply).
//! 5. Services whose configuration changed are reloaded; nothing else is.
//! 6. The named steps of [`Phase::AfterReload`] run for each service whose daemon runs the
//!    configuration on disk (Knot: a changed zone is loaded alone, a zone that left knot.conf
//!    is purged after the reload that removed it, and its zone file deleted).
//! 7. The journal is cleared. A reload or a step that failed (say the daemon is not running
//!    yet) stays in it, so the next apply tries again.
//!
//! Only a changed configuration runs its service's check and reload (`postfix check`,
//! `doveconf -n`, `rspamadm configtest`, `knotc conf-check`): data files (Postfix's tables,
//! Dovecot's user list, rspamd's maps, zone files, which pass their own `kzonecheck`) are not
//! configuration. So a mailbox change edits a few table entries and a user list, and checks
//! and reloads nothing. An agent killed at any step finishes the journal at its next start
//! (checks, whole table rebuilds, reloads).
//!
//! The steps are logged (and, for tests, paused after) by name: `journal`, `write`, `check`,
//! each named step (`postmap`, `zone-reload`, `zone-purge`), `reload`, `done`.
//!
//! Blocking: run it on a blocking thread.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::atomic;
use crate::config::{Argv, Commands};
use crate::plan::{Disk, OnDisk, Plan};
use crate::render::{Contents, File, Files, OnChange, RelPath};
use crate::saved::{Journal, Saved, SavedError};
use crate::services::{Daemon, Phase, Service, Step, StepRun, ALL};

/// How long a check, a step or a reload may take before it is killed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a finished command's output is waited for.
const PIPE_GRACE: Duration = Duration::from_secs(2);
/// How much of a failed command's output is reported.
const OUTPUT_CHARS: usize = 2000;
/// The longest wait between two looks at whether a command ended.
const MAX_POLL: Duration = Duration::from_millis(1);

/// What happened to one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceOutcome {
    /// Nothing to do, or everything done.
    Ok,
    /// Its check refused the new files: the last good ones are back.
    CheckFailed(String),
    /// One of its named steps failed (the message says which); retried next time.
    StepFailed(String),
    /// The files are in place and checked but the daemon did not reload; retried next time.
    ReloadFailed(String),
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub services: BTreeMap<Service, ServiceOutcome>,
    /// Files written (and kept).
    pub written: usize,
    /// Services reloaded (including reloads an interrupted apply owed).
    pub reloaded: BTreeSet<Service>,
    /// How many arguments each named step handled (`postmap`: tables, `zone-reload` and
    /// `zone-purge`: zones).
    pub steps: BTreeMap<String, usize>,
}

impl Outcome {
    /// Everything rendered is in place and every daemon runs it.
    pub fn complete(&self) -> bool {
        self.services.values().all(|s| *s == ServiceOutcome::Ok)
    }

    /// How many arguments step `name` handled.
    pub fn step(&self, name: &str) -> usize {
        self.steps.get(name).copied().unwrap_or(0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Saved(#[from] SavedError),
    #[error("cannot write {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl ApplyError {
    /// An I/O error at `path`.
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ApplyError + '_ {
        move |source| ApplyError::Write {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Where the files go and which commands to run.
pub struct Target<'a> {
    pub root: &'a Path,
    pub commands: &'a Commands,
    pub saved: &'a Saved,
}

/// The rendering of the last applied state, made only if a check fails: most applies never
/// need it.
struct LastGood<'f> {
    make: Option<Box<dyn FnOnce() -> Option<Files> + 'f>>,
    files: Option<Option<Files>>,
}

impl LastGood<'_> {
    fn get(&mut self) -> Option<&Files> {
        let make = &mut self.make;
        self.files
            .get_or_insert_with(|| make.take().and_then(|make| make()))
            .as_ref()
    }
}

/// One apply in progress: the journal as it stands and what was seen so far.
struct Run<'a> {
    target: &'a Target<'a>,
    plan: &'a Plan<'a>,
    journal: Journal,
    /// Steps an interrupted apply owed: what it did of them is not known.
    owed: BTreeSet<Step>,
    /// Configurations an interrupted apply wrote but never checked: checked now.
    unchecked: BTreeSet<Service>,
    /// Files written per service, taken back if its check fails.
    written: BTreeMap<Service, usize>,
    /// Services whose check failed in this apply: their last good files are back.
    restored: BTreeSet<Service>,
    outcome: Outcome,
}

/// Applies `plan`. `on_disk` is what the plan was computed against (the previous contents, put
/// back if a check fails and `last_good` has no better version); `last_good` makes the rendering of
/// the last applied state.
pub fn apply(
    target: &Target<'_>,
    plan: &Plan<'_>,
    on_disk: &OnDisk,
    last_good: impl FnOnce() -> Option<Files>,
) -> Result<Outcome, ApplyError> {
    let mut last_good = LastGood {
        make: Some(Box::new(last_good)),
        files: None,
    };
    let Some(mut run) = Run::start(target, plan)? else {
        return Ok(reported(target.commands));
    };
    run.write()?;
    run.check(on_disk, &mut last_good)?;
    run.steps(Phase::BeforeReload)?;
    run.reload();
    run.steps(Phase::AfterReload)?;
    run.finish()
}

/// Every service this node runs, all [`ServiceOutcome::Ok`] so far.
fn reported(commands: &Commands) -> Outcome {
    let mut outcome = Outcome::default();
    for daemon in ALL {
        // A service the node does not run (Knot without [dns]) is not reported on.
        if daemon.commands(commands).is_some() {
            outcome
                .services
                .insert(daemon.service(), ServiceOutcome::Ok);
        }
    }
    outcome
}

impl<'a> Run<'a> {
    /// Phase 1: the journal, with what the plan adds to what an interrupted apply left.
    /// `None`: nothing to do.
    fn start(target: &'a Target<'a>, plan: &'a Plan<'a>) -> Result<Option<Run<'a>>, ApplyError> {
        let mut journal = target.saved.load_journal()?;
        let owed = journal.steps.clone();
        let unchecked = journal.check.clone();
        // The journal holds each step whole (a table rebuilt, not edited): if this apply is
        // killed, the next one cannot know which entries were edited.
        journal.merge(Journal {
            check: plan.check.clone(),
            reload: plan.reload.clone(),
            steps: plan.steps.clone(),
        });
        if journal.is_empty() && plan.writes.is_empty() {
            return Ok(None);
        }
        target.saved.save_journal(&journal)?;
        step("journal");
        Ok(Some(Run {
            target,
            plan,
            journal,
            owed,
            unchecked,
            written: BTreeMap::new(),
            restored: BTreeSet::new(),
            outcome: reported(target.commands),
        }))
    }

    /// Phase 2: every changed file, atomically; a file its service checks first only if
    /// accepted. Each file is written (and checked) on its own, so several at a time: most of
    /// a write is waiting for the disk, and of a check for a command to start.
    fn write(&mut self) -> Result<(), ApplyError> {
        let (root, commands) = (self.target.root, self.target.commands);
        let results = in_parallel(&self.plan.writes, WRITERS, |(path, file)| {
            let result = write_one(root, commands, path, file);
            if matches!(result, Ok(Ok(()))) {
                step("write");
            }
            result
        });
        for ((path, file), result) in self.plan.writes.iter().zip(results) {
            match result? {
                Ok(()) => {
                    *self.written.entry(file.service).or_default() += 1;
                    self.outcome.written += 1;
                }
                Err(Refused { message, loads }) => {
                    tracing::error!(%path, error = %message, "file refused; the last good one stays");
                    if let Some(loads) = loads {
                        self.journal.steps.remove(&loads);
                    }
                    check_failed(&mut self.outcome, file.service, message);
                }
            }
        }
        Ok(())
    }

    /// Phase 3: each changed configuration's check; a refused one's last good files put back.
    fn check(&mut self, on_disk: &OnDisk, last_good: &mut LastGood<'_>) -> Result<(), ApplyError> {
        for service in &self.plan.check | &self.unchecked {
            let result = run(&self.target.commands.of(service).check);
            step("check");
            let Err(message) = result else {
                continue;
            };
            tracing::error!(%service, error = %message, "configuration check failed; restoring the last good files");
            let files = last_good.get();
            restore(self.target, self.plan, on_disk, files, service)?;
            if self.unchecked.contains(&service) {
                // Written by an interrupted apply: only the last good rendering can undo it.
                restore_all(self.target, files, service)?;
            }
            // The running daemon keeps the configuration it has; the service's steps learn
            // that its files were restored ([`StepRun::restored`]).
            self.journal.reload.remove(&service);
            self.restored.insert(service);
            self.outcome.written -= self.written.remove(&service).unwrap_or(0);
            check_failed(&mut self.outcome, service, message);
        }
        Ok(())
    }

    /// Phases 4 and 6: each service's pending named steps of `phase`. After the reloads, only
    /// for services whose daemon runs the configuration on disk (no reload owed).
    fn steps(&mut self, phase: Phase) -> Result<(), ApplyError> {
        for daemon in ALL {
            let service = daemon.service();
            if daemon.commands(self.target.commands).is_none()
                || (phase == Phase::AfterReload && self.journal.reload.contains(&service))
            {
                continue;
            }
            let (pending, others) = std::mem::take(&mut self.journal.steps)
                .into_iter()
                .partition(|s| s.service == service);
            self.journal.steps = others;
            let mut step_run = StepRun {
                root: self.target.root,
                commands: self.target.commands,
                pending,
                owed: &self.owed,
                edits: &self.plan.edits,
                restored: self.restored.contains(&service),
                failure: None,
                done: BTreeMap::new(),
            };
            if !step_run.pending.is_empty() {
                daemon.run_steps(phase, &mut step_run)?;
            }
            self.journal.steps.extend(step_run.pending);
            for (name, n) in step_run.done {
                *self.outcome.steps.entry(name).or_default() += n;
            }
            if let Some(failure) = step_run.failure {
                tracing::warn!(%service, ?failure, "a step failed; retrying at the next apply");
                if self.outcome.services.get(&service) == Some(&ServiceOutcome::Ok) {
                    self.outcome.services.insert(service, failure);
                }
            }
        }
        Ok(())
    }

    /// Phase 5: the reloads the journal holds; a failed one stays in it.
    fn reload(&mut self) {
        let mut reload_failed = BTreeSet::new();
        for service in &self.journal.reload {
            let result = run(&self.target.commands.of(*service).reload);
            step("reload");
            match result {
                Ok(()) => {
                    self.outcome.reloaded.insert(*service);
                }
                Err(message) => {
                    tracing::warn!(%service, error = %message, "reload failed; the files are in place and will be read when the daemon starts, retrying at the next apply");
                    reload_failed.insert(*service);
                    if self.outcome.services.get(service) == Some(&ServiceOutcome::Ok) {
                        self.outcome
                            .services
                            .insert(*service, ServiceOutcome::ReloadFailed(message));
                    }
                }
            }
        }
        self.journal.reload = reload_failed;
        self.journal.check.clear();
    }

    /// Phase 7: the journal cleared, or left with what failed.
    fn finish(self) -> Result<Outcome, ApplyError> {
        if self.journal.is_empty() {
            self.target.saved.clear_journal()?;
        } else {
            self.target.saved.save_journal(&self.journal)?;
        }
        step("done");
        Ok(self.outcome)
    }
}

/// Records a refused check of `service`, after any earlier one.
fn check_failed(outcome: &mut Outcome, service: Service, message: String) {
    let entry = outcome
        .services
        .entry(service)
        .or_insert(ServiceOutcome::Ok);
    *entry = match std::mem::replace(entry, ServiceOutcome::Ok) {
        ServiceOutcome::CheckFailed(earlier) => {
            ServiceOutcome::CheckFailed(format!("{earlier}; {message}"))
        }
        _ => ServiceOutcome::CheckFailed(message),
    };
}

/// A file its service's check refused: the old one stays, and the step that would load it
/// (`loads`) is not run.
struct Refused {
    message: String,
    loads: Option<Step>,
}

/// How many files are written at a time.
const WRITERS: usize = 4;

/// Writes one file of a plan: through its service's check when it has one.
fn write_one(
    root: &Path,
    commands: &Commands,
    path: &RelPath,
    file: &File,
) -> Result<Result<(), Refused>, ApplyError> {
    let daemon = file.service.daemon();
    if let Some(check) = daemon.and_then(|d| d.new_file_check(commands, path)) {
        let loads = check.as_ref().ok().and_then(|c| c.loads.clone());
        let result = write_checked(root, daemon, path, file, check)?;
        return Ok(result.map_err(|message| Refused { message, loads }));
    }
    let full = root.join(path.as_str());
    let before = std::fs::metadata(&full).and_then(|m| m.modified()).ok();
    write_file(root, path, file.service, &file.contents, file.mode)?;
    if file.on_change == OnChange::Nothing {
        newer_than(&full, before).map_err(ApplyError::io(&full))?;
    }
    Ok(Ok(()))
}

/// `work` done on every item, on at most `threads` threads at a time; the results in the
/// items' order. A panic in `work` goes on in the caller.
pub fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    if items.len() <= 1 || threads <= 1 {
        return items.iter().map(work).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(items.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return mine;
                        };
                        mine.push((i, work(item)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Writes one file atomically, then lets its service set what it needs on it
/// ([`Daemon::after_write`]).
fn write_file(
    root: &Path,
    path: &RelPath,
    service: Service,
    contents: &Contents,
    mode: u32,
) -> Result<(), ApplyError> {
    let full = root.join(path.as_str());
    let pieces: Vec<&[u8]> = contents.pieces().collect();
    atomic::write(&full, &pieces, mode).map_err(ApplyError::io(&full))?;
    if let Some(daemon) = service.daemon() {
        daemon.after_write(&full).map_err(ApplyError::io(&full))?;
    }
    Ok(())
}

/// Writes a file only if its service's check accepts it: the new contents go to a temporary
/// file next to it, which is checked, then renamed over the old one. `Ok(Err(_))`: refused,
/// the old file is untouched (and the step that would load it is not run).
fn write_checked(
    root: &Path,
    daemon: Option<&dyn Daemon>,
    path: &RelPath,
    file: &File,
    check: Result<crate::services::NewFileCheck, String>,
) -> Result<Result<(), String>, ApplyError> {
    let check = match check {
        Ok(check) => check,
        Err(message) => return Ok(Err(message)),
    };
    let full = root.join(path.as_str());
    let io = ApplyError::io(&full);
    let Some(dir) = full.parent() else {
        return Err(io(std::io::Error::other("no parent directory")));
    };
    std::fs::create_dir_all(dir).map_err(ApplyError::io(&full))?;
    let temp = atomic::temporary_name(&full);
    let pieces: Vec<&[u8]> = file.contents.pieces().collect();
    let checked = atomic::write_new_file(&temp, &pieces, file.mode).map(|()| {
        let mut argv = check.argv.clone();
        argv.push(temp.to_string_lossy().into_owned());
        run(&argv)
    });
    let result = match checked {
        Ok(Ok(())) => std::fs::rename(&temp, &full)
            .and_then(|()| daemon.map_or(Ok(()), |d| d.after_write(&full)))
            .and_then(|()| atomic::sync_dir(dir)),
        Ok(Err(message)) => {
            let _ = std::fs::remove_file(&temp);
            return Ok(Err(format!("{} refused: {message}", check.what)));
        }
        Err(err) => Err(err),
    };
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map(Ok).map_err(ApplyError::io(&full))
}

/// Puts `service`'s files back as they were before `plan` (preferring the last good rendering).
fn restore(
    target: &Target<'_>,
    plan: &Plan<'_>,
    on_disk: &OnDisk,
    last_good: Option<&Files>,
    service: Service,
) -> Result<(), ApplyError> {
    for (path, rendered) in plan.writes.iter().filter(|(_, f)| f.service == service) {
        let full = target.root.join(path.as_str());
        let previous = match (
            last_good.and_then(|files| files.get(path)),
            on_disk.get(path),
        ) {
            (Some(file), _) => Some((Cow::Borrowed(&file.contents), file.mode)),
            (None, Some(Disk::Other { contents, mode })) => {
                Some((Cow::Owned(Contents::from(contents.as_slice())), *mode))
            }
            // What was there was the rendering itself (a file is written only when it differs,
            // so this does not happen; if it did, the rendering is what to put back).
            (None, Some(Disk::Rendered)) => {
                Some((Cow::Borrowed(&rendered.contents), rendered.mode))
            }
            (None, Some(Disk::Absent) | None) => None,
        };
        match previous {
            Some((contents, mode)) => write_file(target.root, path, service, &contents, mode)?,
            None => atomic::remove(&full).map_err(ApplyError::io(&full))?,
        }
    }
    Ok(())
}

/// Writes every file of `service` from the last good rendering.
fn restore_all(
    target: &Target<'_>,
    last_good: Option<&Files>,
    service: Service,
) -> Result<(), ApplyError> {
    for (path, file) in last_good
        .into_iter()
        .flatten()
        .filter(|(_, f)| f.service == service)
    {
        write_file(target.root, path, service, &file.contents, file.mode)?;
    }
    Ok(())
}

/// Daemons that re-read a file by themselves notice a change by its modification time, in whole
/// seconds (Dovecot's passwd-file compares `st_mtime` and size): a file replaced twice in one
/// second with the same size would go unnoticed. Make its time later than the one it replaced.
fn newer_than(path: &Path, before: Option<std::time::SystemTime>) -> std::io::Result<()> {
    let Some(before) = before else {
        return Ok(());
    };
    let seconds = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    let now = std::fs::metadata(path)?.modified()?;
    if seconds(now) <= seconds(before) {
        let later = std::time::UNIX_EPOCH + Duration::from_secs(seconds(before) + 1);
        std::fs::File::options()
            .write(true)
            .open(path)?
            .set_modified(later)?;
    }
    Ok(())
}

/// Runs `argv`, no shell, output captured; an error carries the exit status and the output.
pub fn run(argv: &Argv) -> Result<(), String> {
    run_with_input(argv, b"")
}

/// [`run`], with `input` on the command's standard input.
pub fn run_with_input(argv: &Argv, input: &[u8]) -> Result<(), String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("empty command".to_owned());
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_empty() {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot run {program}: {err}"))?;
    // Both outputs are read while the command runs: one that prints more than a pipe holds
    // (`doveconf -n` of a thousand domains' `local_name` blocks, 300 KB) would otherwise block
    // on its write until the timeout. Only the head is kept, for the error message.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        let (done, head_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            let mut head = Vec::new();
            if let Some(mut pipe) = pipe {
                let mut buffer = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    if head.len() < OUTPUT_CHARS * 4 {
                        head.extend_from_slice(&buffer[..n]);
                    }
                }
            }
            let _ = done.send(head);
        });
        head_rx
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        // Dropped at the end of this statement: the command sees the end of its input.
        stdin
            .write_all(input)
            .map_err(|err| format!("cannot write to {program}: {err}"))?;
    }
    let started = Instant::now();
    // Polled (std has no wait with a timeout), first often: most commands (postmap, a check)
    // end within milliseconds, and a fixed 5 ms poll added half of that to every change.
    let mut poll = Duration::from_micros(100);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > COMMAND_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{program} did not finish in {COMMAND_TIMEOUT:?}"));
            }
            Ok(None) => {
                std::thread::sleep(poll);
                poll = (poll * 2).min(MAX_POLL);
            }
            Err(err) => return Err(format!("cannot wait for {program}: {err}")),
        }
    };
    // The pipes close when the command exits, unless it left a process holding them (a
    // daemon it started): then its output is not waited for.
    let stdout = stdout.recv_timeout(PIPE_GRACE).unwrap_or_default();
    let stderr = stderr.recv_timeout(PIPE_GRACE).unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&stdout));
    let text: String = text.trim().chars().take(OUTPUT_CHARS).collect();
    Err(format!("{program} failed ({status}): {text}"))
}

/// Marks a step of an apply in the log, and with `RUCHE_AGENT_TEST_PAUSE_MS` set, pauses after
/// it so that a test can kill the agent at a chosen point.
pub fn step(name: &str) {
    match test_pause() {
        Some(pause) => {
            tracing::info!(step = name, "apply step");
            std::thread::sleep(pause);
        }
        None => tracing::debug!(step = name, "apply step"),
    }
}

fn test_pause() -> Option<Duration> {
    std::env::var("RUCHE_AGENT_TEST_PAUSE_MS")
        .ok()?
        .parse()
        .ok()
        .map(Duration::from_millis)
}

/// What is on disk at each rendered path, and which files are stale (their service's step must
/// run though they did not change); each service adds what it owns beyond the rendered files
/// ([`Daemon::read_disk`]).
pub fn read_disk(root: &Path, rendered: &Files) -> std::io::Result<(OnDisk, BTreeSet<RelPath>)> {
    let mut on_disk = OnDisk::new();
    let mut stale = BTreeSet::new();
    for (path, file) in rendered {
        let current = atomic::read(&root.join(path.as_str()))?;
        on_disk.insert(path.clone(), Disk::read(current, Some(file)));
    }
    for daemon in ALL {
        daemon.read_disk(root, rendered, &mut on_disk, &mut stale)?;
    }
    Ok((on_disk, stale))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every item is worked on once, whatever the threads, and the results keep the items' order.
    #[test]
    fn a_command_printing_more_than_a_pipe_holds_finishes() {
        // 1 MiB on stdout, then a failure: the output is read while it runs (it would block
        // on a full pipe otherwise) and its head is in the error.
        let argv: Argv = [
            "sh",
            "-c",
            "head -c 1048576 /dev/zero | tr '\\0' x; echo oops >&2; exit 3",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let err = run(&argv).unwrap_err();
        assert!(!err.contains("did not finish"), "{err}");
        assert!(err.contains("oops") && err.contains("xxxx"), "{err}");
        let ok: Argv = ["sh", "-c", "head -c 1048576 /dev/zero"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(run(&ok), Ok(()));
    }

    #[test]
    fn in_parallel_keeps_the_order_and_works_each_item_once() {
        let items: Vec<u32> = (0..100).collect();
        for threads in [0, 1, 3, 4, 200] {
            let calls = std::sync::atomic::AtomicUsize::new(0);
            let doubled = in_parallel(&items, threads, |i| {
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                i * 2
            });
            assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
            assert_eq!(calls.into_inner(), items.len());
        }
        assert!(in_parallel(&[] as &[u32], 4, |i| *i).is_empty());
    }

    /// Two versions of the same size written within one second still differ in mtime seconds,
    /// so a daemon comparing mtime and size sees the second.
    #[test]
    fn a_rewritten_polled_file_gets_a_later_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        let secs = |p: &Path| {
            std::fs::metadata(p)
                .unwrap()
                .modified()
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        };
        atomic::write(&path, &[b"a:1"], 0o644).unwrap();
        let first = secs(&path);
        let before = std::fs::metadata(&path).unwrap().modified().ok();
        atomic::write(&path, &[b"a:2"], 0o644).unwrap();
        newer_than(&path, before).unwrap();
        assert!(secs(&path) > first);
    }
}
