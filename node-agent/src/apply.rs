//! Applying a [`Plan`]: the only place that writes the daemons' files and runs their commands.
//!
//! 1. The journal records the tables to rebuild and the services to reload, before any file
//!    changes (an apply killed after this point is finished by the next one).
//! 2. Each file is replaced atomically (temporary file, fsync, rename, fsync of the directory).
//! 3. Each service with a changed file runs its own configuration check. A failed check puts
//!    that service's last good files back (rendered from the last applied state, or what was on
//!    disk before) and reports the error; the service is not reloaded.
//! 4. Changed lookup tables are updated in place: only their changed entries (`postmap -i`,
//!    `postmap -d`) when the compiled form is current, else rebuilt whole (`postmap`).
//! 5. Services whose main configuration changed are reloaded; nothing else is.
//! 6. Knot: a zone file is data. It is checked with `kzonecheck` before it replaces the old one
//!    (a refused zone is never on disk, so never loaded: the old file stays and the service
//!    reports the refusal), then loaded alone with `knotc zone-reload <zone>` once knotd runs
//!    the configuration that holds the zone. A zone that left knot.conf is purged after the
//!    reload that removed it (`knotc -f -b zone-purge <zone> +orphan`: journal, timers, DNSSEC
//!    keys, and for a catalog the member zones it brought) and its zone file deleted.
//! 7. The journal is cleared. A reload that failed (say the daemon is not running yet) stays in
//!    it, so the next apply tries again; so do zone reloads and purges.
//!
//! Blocking: run it on a blocking thread.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use protocol::names::DomainName;

use crate::atomic;
use crate::config::{Argv, Commands, KnotCommands};
use crate::plan::{OnDisk, Plan, TableEdit};
use crate::render::{knot, zone, File, Files, OnChange, RelPath, Service};
use crate::saved::{Journal, Saved, SavedError};

/// How long a check, a postmap or a reload may take before it is killed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// How much of a failed command's output is reported.
const OUTPUT_CHARS: usize = 2000;
/// Zones per `knotc zone-reload` or `zone-purge` command.
const ZONES_PER_COMMAND: usize = 200;

/// What happened to one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceOutcome {
    /// Nothing to do, or everything done.
    Ok,
    /// Its check refused the new files: the last good ones are back.
    CheckFailed(String),
    /// A table rebuild failed.
    PostmapFailed(String),
    /// The files are in place and checked but the daemon did not reload; retried next time.
    ReloadFailed(String),
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub services: BTreeMap<Service, ServiceOutcome>,
    /// Files written (and kept).
    pub written: usize,
    /// Lookup tables updated, whole or entry by entry.
    pub tables: usize,
    /// Services reloaded (including reloads an interrupted apply owed).
    pub reloaded: BTreeSet<Service>,
    /// Knot zones loaded from their new zone file.
    pub zones_reloaded: usize,
    /// Knot zones purged (and their zone files deleted).
    pub zones_purged: usize,
}

impl Outcome {
    /// Everything rendered is in place and every daemon runs it.
    pub fn complete(&self) -> bool {
        self.services.values().all(|s| *s == ServiceOutcome::Ok)
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

/// Where the files go and which commands to run.
pub struct Target<'a> {
    pub root: &'a Path,
    pub commands: &'a Commands,
    pub saved: &'a Saved,
}

/// Applies `plan`. `on_disk` is what the plan was computed against (the previous contents, put
/// back if a check fails and `last_good` has no better version); `last_good` makes the rendering of
/// the last applied state.
pub fn apply(
    target: &Target<'_>,
    plan: &Plan,
    on_disk: &OnDisk,
    last_good: impl FnOnce() -> Option<Files>,
) -> Result<Outcome, ApplyError> {
    // Rendered only if a check fails: most applies never need it.
    let mut last_good = Some(last_good);
    let mut last_good_files: Option<Option<Files>> = None;
    let mut journal = target.saved.load_journal()?;
    // Tables an interrupted apply owed are rebuilt whole: what it wrote is not known.
    let owed = journal.postmap.clone();
    // Configurations an interrupted apply wrote but never checked are checked now.
    let unchecked = journal.check.clone();
    // The journal asks for whole rebuilds of edited tables too: if this apply is killed, the
    // next one cannot know which entries were edited.
    journal.merge(Journal {
        postmap: plan
            .postmap
            .iter()
            .chain(plan.table_edits.keys())
            .cloned()
            .collect(),
        reload: plan.reload.clone(),
        check: plan.check.clone(),
        zone_reload: plan.zone_reload.clone(),
        purge: plan.purge.clone(),
    });
    let mut outcome = Outcome::default();
    for service in Service::ALL {
        // A node without [dns] has no name server to report on.
        if service != Service::Knot || target.commands.knot.is_some() {
            outcome.services.insert(service, ServiceOutcome::Ok);
        }
    }
    if journal.is_empty() && plan.writes.is_empty() {
        return Ok(outcome);
    }
    target.saved.save_journal(&journal)?;
    step("journal");

    let mut written: BTreeMap<Service, usize> = BTreeMap::new();
    for (path, file) in &plan.writes {
        let full = target.root.join(path.as_str());
        if file.on_change == OnChange::ZoneReload {
            if let Err(message) = write_zone(target, path, file)? {
                tracing::error!(%path, error = %message, "zone refused; the last good zone file stays");
                if let Some(zone) = zone::zone_of(path.as_str()) {
                    journal.zone_reload.remove(&zone);
                }
                check_failed(&mut outcome, file.service, message);
                continue;
            }
            *written.entry(file.service).or_default() += 1;
            outcome.written += 1;
            step("write");
            continue;
        }
        let before = std::fs::metadata(&full).and_then(|m| m.modified()).ok();
        write_file(target.root, path, file.service, &file.contents, file.mode)?;
        if file.on_change == OnChange::Nothing {
            newer_than(&full, before).map_err(|source| ApplyError::Write {
                path: full.display().to_string(),
                source,
            })?;
        }
        *written.entry(file.service).or_default() += 1;
        outcome.written += 1;
        step("write");
    }

    for service in &plan.check | &unchecked {
        let result = run(&target.commands.of(service).check);
        step("check");
        if let Err(message) = result {
            tracing::error!(%service, error = %message, "configuration check failed; restoring the last good files");
            let files =
                last_good_files.get_or_insert_with(|| last_good.take().and_then(|make| make()));
            restore(target, plan, on_disk, files.as_ref(), service)?;
            if unchecked.contains(&service) {
                // Written by an interrupted apply: only the last good rendering can undo it.
                restore_all(target, files.as_ref(), service)?;
            }
            let service = &service;
            // The running daemon keeps the configuration it has; the restored tables are
            // rebuilt below (their compiled form may already hold the refused version).
            journal.reload.remove(service);
            if *service == Service::Knot {
                // The zone files are back to what knotd runs.
                journal.zone_reload.clear();
            }
            outcome.written -= written.remove(service).unwrap_or(0);
            check_failed(&mut outcome, *service, message);
        }
    }

    let postfix_refused = matches!(
        outcome.services.get(&Service::Postfix),
        Some(ServiceOutcome::CheckFailed(_))
    );
    let mut postmap_failed = BTreeSet::new();
    for table in &journal.postmap {
        let database = format!("lmdb:{}", target.root.join(table.as_str()).display());
        // An edit applies only on top of the compiled form the plan saw; after a refused check
        // (sources restored) or an interrupted apply, rebuild whole.
        let edit = plan
            .table_edits
            .get(table)
            .filter(|_| !postfix_refused && !owed.contains(table));
        let result = match edit {
            Some(edit) => edit_table(&target.commands.postmap, &database, edit)
                .or_else(|_| run(&with(&target.commands.postmap, &[&database]))),
            None => run(&with(&target.commands.postmap, &[&database])),
        };
        step("postmap");
        outcome.tables += 1;
        if let Err(message) = result {
            tracing::error!(%table, error = %message, "rebuilding a lookup table failed");
            postmap_failed.insert(table.clone());
            if outcome.services.get(&Service::Postfix) == Some(&ServiceOutcome::Ok) {
                outcome
                    .services
                    .insert(Service::Postfix, ServiceOutcome::PostmapFailed(message));
            }
        }
    }
    journal.postmap = postmap_failed;

    let mut reload_failed = BTreeSet::new();
    for service in &journal.reload {
        let result = run(&target.commands.of(*service).reload);
        step("reload");
        if result.is_ok() {
            outcome.reloaded.insert(*service);
        }
        if let Err(message) = result {
            tracing::warn!(%service, error = %message, "reload failed; the files are in place and will be read when the daemon starts, retrying at the next apply");
            reload_failed.insert(*service);
            if outcome.services.get(service) == Some(&ServiceOutcome::Ok) {
                outcome
                    .services
                    .insert(*service, ServiceOutcome::ReloadFailed(message));
            }
        }
    }
    journal.reload = reload_failed;
    journal.check.clear();
    if let Some(knot) = &target.commands.knot {
        // Only once knotd runs the configuration on disk: zones load in it, purges follow it.
        if !journal.reload.contains(&Service::Knot) {
            knot_zones(target, knot, &mut journal, &mut outcome)?;
        }
    }

    if journal.is_empty() {
        target.saved.clear_journal()?;
    } else {
        target.saved.save_journal(&journal)?;
    }
    step("done");
    Ok(outcome)
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

/// Writes one file atomically. Knot's files take the group of their directory: knotd runs as
/// `knot` in production and reads knot.conf (mode 0640, it holds TSIG keys) through the group
/// Debian gives /etc/knot.
fn write_file(
    root: &Path,
    path: &RelPath,
    service: Service,
    contents: &[u8],
    mode: u32,
) -> Result<(), ApplyError> {
    let full = root.join(path.as_str());
    let io = |source| ApplyError::Write {
        path: full.display().to_string(),
        source,
    };
    atomic::write(&full, contents, mode).map_err(io)?;
    if service == Service::Knot {
        directory_group(&full).map_err(io)?;
    }
    Ok(())
}

fn directory_group(full: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Some(dir) = full.parent() else {
        return Ok(());
    };
    let gid = std::fs::metadata(dir)?.gid();
    std::os::unix::fs::chown(full, None, Some(gid))
}

/// Writes a zone file only if `kzonecheck` accepts it: the new contents go to a temporary file
/// next to it, which is checked, then renamed over the old one. `Ok(Err(_))`: refused, the old
/// file is untouched.
fn write_zone(
    target: &Target<'_>,
    path: &RelPath,
    file: &File,
) -> Result<Result<(), String>, ApplyError> {
    let full = target.root.join(path.as_str());
    let io = |source| ApplyError::Write {
        path: full.display().to_string(),
        source,
    };
    let Some(zone) = zone::zone_of(path.as_str()) else {
        return Ok(Err(format!("{path} is not a zone file")));
    };
    let Some(knot) = &target.commands.knot else {
        return Ok(Err("[commands.knot] is not configured".to_owned()));
    };
    let dir = full
        .parent()
        .ok_or_else(|| io(std::io::Error::other("no parent directory")))?;
    std::fs::create_dir_all(dir).map_err(io)?;
    let temp = atomic::temporary_name(&full);
    let checked = atomic::write_new_file(&temp, &file.contents, file.mode)
        .map_err(io)
        .map(|()| {
            let temp_text = temp.to_string_lossy();
            run(&with(&knot.kzonecheck, &["-o", zone.as_str(), &temp_text]))
        });
    let result = match checked {
        Ok(Ok(())) => std::fs::rename(&temp, &full)
            .and_then(|()| directory_group(&full))
            .and_then(|()| atomic::sync_dir(dir))
            .map_err(io),
        Ok(Err(message)) => {
            let _ = std::fs::remove_file(&temp);
            return Ok(Err(format!("zone {} refused: {message}", zone.as_str())));
        }
        Err(err) => Err(err),
    };
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map(Ok)
}

/// Loads the zones whose file changed and purges the zones that left knot.conf, as the journal
/// says, against the knot.conf on disk (which knotd runs): a zone it configures is never purged
/// and a zone it does not is never reloaded (both would fail, or worse). What fails stays in the
/// journal.
fn knot_zones(
    target: &Target<'_>,
    knot: &KnotCommands,
    journal: &mut Journal,
    outcome: &mut Outcome,
) -> Result<(), ApplyError> {
    if journal.zone_reload.is_empty() && journal.purge.is_empty() {
        return Ok(());
    }
    let conf = target.root.join(knot::KNOT_CONF);
    let configured = atomic::read(&conf)
        .map_err(|source| ApplyError::Write {
            path: conf.display().to_string(),
            source,
        })?
        .map(|(contents, _)| knot::configured_zones(&contents))
        .unwrap_or_default();
    let mut failure: Option<String> = None;

    journal.zone_reload.retain(|z| configured.contains(z));
    let reload: Vec<DomainName> = journal.zone_reload.iter().cloned().collect();
    for zones in reload.chunks(ZONES_PER_COMMAND) {
        let mut args = vec!["zone-reload"];
        args.extend(zones.iter().map(DomainName::as_str));
        let result = run(&knot.knotc(&args));
        step("zone-reload");
        match result {
            Ok(()) => {
                outcome.zones_reloaded += zones.len();
                for zone in zones {
                    journal.zone_reload.remove(zone);
                }
            }
            Err(message) => {
                failure.get_or_insert(format!("zone-reload: {message}"));
            }
        }
    }

    journal.purge.retain(|z| !configured.contains(z));
    let purge: Vec<DomainName> = journal.purge.iter().cloned().collect();
    for zones in purge.chunks(ZONES_PER_COMMAND) {
        // -f: purging always needs it; -b: wait until the zones are gone.
        let mut args = vec!["-f", "-b", "zone-purge"];
        args.extend(zones.iter().map(DomainName::as_str));
        args.push("+orphan");
        let result = run(&knot.knotc(&args));
        step("zone-purge");
        if let Err(message) = result {
            failure.get_or_insert(format!("zone-purge: {message}"));
            continue;
        }
        for zone in zones {
            let file = target.root.join(zone::path_of(zone));
            atomic::remove(&file).map_err(|source| ApplyError::Write {
                path: file.display().to_string(),
                source,
            })?;
            journal.purge.remove(zone);
        }
        outcome.zones_purged += zones.len();
    }

    if let Some(message) = failure {
        tracing::warn!(error = %message, "knotd did not take every zone change; retrying at the next apply");
        if outcome.services.get(&Service::Knot) == Some(&ServiceOutcome::Ok) {
            outcome
                .services
                .insert(Service::Knot, ServiceOutcome::ReloadFailed(message));
        }
    }
    Ok(())
}

/// Puts `service`'s files back as they were before `plan` (preferring the last good rendering).
fn restore(
    target: &Target<'_>,
    plan: &Plan,
    on_disk: &OnDisk,
    last_good: Option<&Files>,
    service: Service,
) -> Result<(), ApplyError> {
    for (path, _) in plan.writes.iter().filter(|(_, f)| f.service == service) {
        let full = target.root.join(path.as_str());
        let previous = last_good
            .and_then(|files| files.get(path))
            .map(|f| (f.contents.clone(), f.mode))
            .or_else(|| on_disk.get(path).cloned().flatten());
        match previous {
            Some((contents, mode)) => write_file(target.root, path, service, &contents, mode)?,
            None => atomic::remove(&full).map_err(|source| ApplyError::Write {
                path: full.display().to_string(),
                source,
            })?,
        }
    }
    Ok(())
}

/// `argv` with `extra` arguments appended.
fn with(argv: &Argv, extra: &[&str]) -> Argv {
    let mut argv = argv.clone();
    argv.extend(extra.iter().map(|a| (*a).to_owned()));
    argv
}

/// Puts and deletes the entries of `edit` in the compiled table `database`, in place.
fn edit_table(postmap: &Argv, database: &str, edit: &TableEdit) -> Result<(), String> {
    if !edit.put.is_empty() {
        // -i: incremental, entries from stdin; -r: replace an existing key's value.
        let input = edit.put.join("\n") + "\n";
        run_with_input(&with(postmap, &["-i", "-r", database]), input.as_bytes())?;
    }
    if !edit.delete.is_empty() {
        // -d -: the keys to delete come from stdin. Exit status 1 means "not found", which is
        // fine for a key that is gone already.
        let input = edit.delete.join("\n") + "\n";
        match run_with_input(&with(postmap, &["-d", "-", database]), input.as_bytes()) {
            Ok(()) => {}
            Err(message) if message.contains("exit status: 1") => {}
            Err(message) => return Err(message),
        }
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
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        // Dropped at the end of this statement: the command sees the end of its input.
        stdin
            .write_all(input)
            .map_err(|err| format!("cannot write to {program}: {err}"))?;
    }
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > COMMAND_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{program} did not finish in {COMMAND_TIMEOUT:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(err) => return Err(format!("cannot wait for {program}: {err}")),
        }
    };
    if status.success() {
        return Ok(());
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    let text: String = text.trim().chars().take(OUTPUT_CHARS).collect();
    Err(format!("{program} failed ({status}): {text}"))
}

/// Marks a step of an apply in the log, and with `RUCHE_AGENT_TEST_PAUSE_MS` set, pauses after
/// it so that a test can kill the agent at a chosen point.
fn step(name: &str) {
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

/// What is on disk at each rendered path, and which lookup tables have no compiled form at least
/// as new as their source. When Knot is rendered, zone files no longer rendered are included too
/// (their zones are purged).
pub fn read_disk(root: &Path, rendered: &Files) -> std::io::Result<(OnDisk, BTreeSet<RelPath>)> {
    let mut on_disk = OnDisk::new();
    let mut stale = BTreeSet::new();
    for (path, file) in rendered {
        let full = root.join(path.as_str());
        let current = atomic::read(&full)?;
        if file.on_change == OnChange::Postmap && current.is_some() {
            let compiled = full.with_file_name(format!(
                "{}.lmdb",
                full.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ));
            let source_time = std::fs::metadata(&full)?.modified()?;
            let fresh = std::fs::metadata(&compiled)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= source_time);
            if !fresh {
                stale.insert(path.clone());
            }
        }
        on_disk.insert(path.clone(), current);
    }
    let knot_rendered = RelPath::new(knot::KNOT_CONF).is_ok_and(|p| rendered.contains_key(&p));
    if knot_rendered {
        for path in zone_files(root)? {
            if !rendered.contains_key(&path) {
                let current = atomic::read(&root.join(path.as_str()))?;
                on_disk.insert(path, current);
            }
        }
    }
    Ok((on_disk, stale))
}

/// The zone files in the zones directory (names that [`zone::zone_of`] recognizes).
fn zone_files(root: &Path) -> std::io::Result<Vec<RelPath>> {
    let dir = root.join(zone::ZONES_DIR);
    let mut paths = Vec::new();
    for entry in atomic::read_dir(&dir)? {
        let name = entry.file_name();
        let path = format!("{}/{}", zone::ZONES_DIR, name.to_string_lossy());
        if zone::zone_of(&path).is_some() {
            if let Ok(path) = RelPath::new(&path) {
                paths.push(path);
            }
        }
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{KnotCommands, ServiceCommands};
    use crate::plan::plan;
    use crate::render::{File, OnChange};

    fn path(p: &str) -> RelPath {
        RelPath::new(p).unwrap()
    }

    /// Real commands: `sh` checks that no file of the service says "bad"; reloads append to a
    /// log file so the test sees which ran.
    fn commands(root: &Path) -> Commands {
        let service = |name: &str| ServiceCommands {
            check: vec![
                "sh".into(),
                "-c".into(),
                format!("! grep -rq bad {}/etc/{name}", root.display()),
            ],
            reload: vec![
                "sh".into(),
                "-c".into(),
                format!("echo {name} >> {}/reloads", root.display()),
            ],
        };
        Commands {
            postmap: vec![
                "sh".into(),
                "-c".into(),
                format!("echo \"$0\" >> {}/postmaps", root.display()),
            ],
            dkim_group: "root".into(),
            postfix: service("postfix"),
            dovecot: service("dovecot"),
            rspamd: service("rspamd"),
            knot: None,
        }
    }

    fn files(main: &str, table: &str, users: &str) -> Files {
        let f = |service, on_change, text: &str| File {
            service,
            mode: 0o644,
            on_change,
            contents: text.as_bytes().to_vec(),
        };
        Files::from([
            (
                path("etc/postfix/main.cf"),
                f(Service::Postfix, OnChange::Reload, main),
            ),
            (
                path("etc/postfix/ruche/mailboxes"),
                f(Service::Postfix, OnChange::Postmap, table),
            ),
            (
                path("etc/dovecot/users"),
                f(Service::Dovecot, OnChange::Nothing, users),
            ),
        ])
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn apply_files(
        root: &Path,
        saved: &Saved,
        rendered: &Files,
        last_good: Option<&Files>,
    ) -> Outcome {
        let commands = commands(root);
        let target = Target {
            root,
            commands: &commands,
            saved,
        };
        let (on_disk, stale) = read_disk(root, rendered).unwrap();
        let plan = plan(rendered, &on_disk, &stale);
        apply(&target, &plan, &on_disk, || last_good.cloned()).unwrap()
    }

    #[test]
    fn applies_then_does_nothing_the_second_time() {
        let root = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let saved = Saved::new(state.path());
        let rendered = files("main", "a@x x/a/", "a@x:::");
        let outcome = apply_files(root.path(), &saved, &rendered, None);
        assert!(outcome.complete(), "{outcome:?}");
        assert_eq!(outcome.written, 3);
        assert_eq!(lines(&root.path().join("reloads")), ["postfix"]);
        assert_eq!(lines(&root.path().join("postmaps")).len(), 1);
        assert!(saved.load_journal().unwrap().is_empty());
        // Level-triggered: the same rendering again changes nothing and reloads nothing.
        // (The fake postmap writes no .lmdb: make one so the table is not seen as stale.)
        std::fs::write(root.path().join("etc/postfix/ruche/mailboxes.lmdb"), b"").unwrap();
        let again = apply_files(root.path(), &saved, &rendered, None);
        assert_eq!(again.written, 0);
        assert_eq!(lines(&root.path().join("reloads")), ["postfix"]);
    }

    #[test]
    fn a_failed_check_restores_the_last_good_files_of_that_service_only() {
        let root = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let saved = Saved::new(state.path());
        let good = files("main", "a@x x/a/", "a@x:::");
        assert!(apply_files(root.path(), &saved, &good, None).complete());
        std::fs::write(root.path().join("etc/postfix/ruche/mailboxes.lmdb"), b"").unwrap();

        let bad = files("bad main", "a@x x/a/\nb@x x/b/", "a@x:::\nb@x:::");
        let outcome = apply_files(root.path(), &saved, &bad, Some(&good));
        assert!(matches!(
            outcome.services[&Service::Postfix],
            ServiceOutcome::CheckFailed(_)
        ));
        assert_eq!(outcome.services[&Service::Dovecot], ServiceOutcome::Ok);
        let read = |p: &str| std::fs::read_to_string(root.path().join(p)).unwrap();
        assert_eq!(read("etc/postfix/main.cf"), "main");
        assert_eq!(read("etc/postfix/ruche/mailboxes"), "a@x x/a/");
        // Dovecot's change passed its own check and stays.
        assert_eq!(read("etc/dovecot/users"), "a@x:::\nb@x:::");
        // Postfix was not reloaded with the refused files.
        assert_eq!(lines(&root.path().join("reloads")), ["postfix"]);
    }

    #[test]
    fn a_failed_reload_stays_in_the_journal_and_is_retried() {
        let root = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let saved = Saved::new(state.path());
        let mut commands = commands(root.path());
        commands.postfix.reload = vec!["false".into()];
        let rendered = files("main", "a@x x/a/", "a@x:::");
        let target = Target {
            root: root.path(),
            commands: &commands,
            saved: &saved,
        };
        let (on_disk, stale) = read_disk(root.path(), &rendered).unwrap();
        let outcome = apply(
            &target,
            &plan(&rendered, &on_disk, &stale),
            &on_disk,
            || None,
        )
        .unwrap();
        assert!(matches!(
            outcome.services[&Service::Postfix],
            ServiceOutcome::ReloadFailed(_)
        ));
        assert_eq!(
            saved.load_journal().unwrap().reload,
            BTreeSet::from([Service::Postfix])
        );
        // Nothing changed since, but the journal still owes postfix a reload.
        let commands = self::commands(root.path());
        let target = Target {
            root: root.path(),
            commands: &commands,
            saved: &saved,
        };
        std::fs::write(root.path().join("etc/postfix/ruche/mailboxes.lmdb"), b"").unwrap();
        let (on_disk, stale) = read_disk(root.path(), &rendered).unwrap();
        let plan = plan(&rendered, &on_disk, &stale);
        assert!(plan.is_empty());
        let outcome = apply(&target, &plan, &on_disk, || None).unwrap();
        assert!(outcome.complete());
        assert_eq!(lines(&root.path().join("reloads")), ["postfix"]);
        assert!(saved.load_journal().unwrap().is_empty());
    }

    /// An apply killed after writing but before checking: the next one checks what it finds,
    /// and puts the last good files back when the check refuses them.
    #[test]
    fn files_left_unchecked_by_a_killed_apply_are_checked_next_time() {
        let root = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let saved = Saved::new(state.path());
        let good = files("main", "a@x x/a/", "a@x:::");
        assert!(apply_files(root.path(), &saved, &good, None).complete());
        std::fs::write(root.path().join("etc/postfix/ruche/mailboxes.lmdb"), b"").unwrap();
        // What the killed apply left: a refused file on disk and the journal.
        let bad = files("bad main", "a@x x/a/", "a@x:::");
        for (path, file) in &bad {
            atomic::write(&root.path().join(path.as_str()), &file.contents, file.mode).unwrap();
        }
        saved
            .save_journal(&Journal {
                postmap: BTreeSet::new(),
                reload: BTreeSet::from([Service::Postfix]),
                check: BTreeSet::from([Service::Postfix]),
                ..Journal::default()
            })
            .unwrap();
        // The next apply is asked for the same refused rendering: nothing differs on disk.
        let outcome = apply_files(root.path(), &saved, &bad, Some(&good));
        assert!(matches!(
            outcome.services[&Service::Postfix],
            ServiceOutcome::CheckFailed(_)
        ));
        let main = std::fs::read_to_string(root.path().join("etc/postfix/main.cf")).unwrap();
        assert_eq!(main, "main");
        assert!(saved.load_journal().unwrap().is_empty());
        // Postfix was not reloaded with the refused file.
        assert_eq!(lines(&root.path().join("reloads")), ["postfix"]);
    }

    /// Knot with stand-ins that log their arguments: a zone file is checked before it replaces
    /// the old one, reloaded alone, and a zone that left knot.conf is purged after the reload;
    /// what knotd did not take stays in the journal.
    #[test]
    fn knot_zones_are_checked_reloaded_and_purged() {
        let root = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let saved = Saved::new(state.path());
        let log = root.path().join("knotc.log");
        let knot = |knotc: Vec<String>| KnotCommands {
            knotc,
            // Refuses a zone file that says "refused"; $3 is the file (after -o <zone>).
            kzonecheck: vec![
                "sh".into(),
                "-c".into(),
                "! grep -q refused \"$3\"".into(),
                "kzonecheck".into(),
            ],
        };
        let logging = vec![
            "sh".into(),
            "-c".into(),
            format!("echo \"$*\" >> {}", log.display()),
            "knotc".into(),
        ];
        let mut commands = commands(root.path());
        commands.knot = Some(knot(logging.clone()));
        let conf = |zones: &[&str]| File {
            service: Service::Knot,
            mode: 0o640,
            on_change: OnChange::Reload,
            contents: zones
                .iter()
                .map(|z| format!("  - domain: {z}\n"))
                .collect::<String>()
                .into_bytes(),
        };
        let zone_file = |text: &str| File {
            service: Service::Knot,
            mode: 0o644,
            on_change: OnChange::ZoneReload,
            contents: text.as_bytes().to_vec(),
        };
        let apply_with = |commands: &Commands, rendered: &Files| {
            let target = Target {
                root: root.path(),
                commands,
                saved: &saved,
            };
            let (on_disk, stale) = read_disk(root.path(), rendered).unwrap();
            apply(&target, &plan(rendered, &on_disk, &stale), &on_disk, || {
                None
            })
            .unwrap()
        };
        let read = |p: &str| std::fs::read_to_string(root.path().join(p)).ok();
        let a = "var/lib/knot/zones/a.example.zone";
        let b = "var/lib/knot/zones/b.example.zone";

        // New zones come with the configuration reload.
        let first = Files::from([
            (
                path("etc/knot/knot.conf"),
                conf(&["a.example", "b.example"]),
            ),
            (path(a), zone_file("a1")),
            (path(b), zone_file("b1")),
        ]);
        let outcome = apply_with(&commands, &first);
        assert!(outcome.complete(), "{outcome:?}");
        assert_eq!(lines(&log), ["conf-check", "reload"]);

        // a.example changes, b.example leaves: zone-reload a, purge b after the reload.
        let second = Files::from([
            (path("etc/knot/knot.conf"), conf(&["a.example"])),
            (path(a), zone_file("a2")),
        ]);
        let outcome = apply_with(&commands, &second);
        assert!(outcome.complete(), "{outcome:?}");
        assert_eq!((outcome.zones_reloaded, outcome.zones_purged), (1, 1));
        assert_eq!(
            lines(&log)[2..],
            [
                "conf-check",
                "reload",
                "zone-reload a.example",
                "-f -b zone-purge b.example +orphan"
            ]
        );
        assert_eq!(read(a).as_deref(), Some("a2"));
        assert_eq!(read(b), None);

        // A refused zone never replaces the old file, and is not loaded.
        let refused = Files::from([
            (path("etc/knot/knot.conf"), conf(&["a.example"])),
            (path(a), zone_file("refused")),
        ]);
        let outcome = apply_with(&commands, &refused);
        assert!(matches!(
            outcome.services[&Service::Knot],
            ServiceOutcome::CheckFailed(_)
        ));
        assert_eq!(read(a).as_deref(), Some("a2"));
        assert_eq!(lines(&log).len(), 6);

        // knotd away: the zone reload is owed, then done once knotc works again.
        let mut away = commands.clone();
        away.knot = Some(knot(vec!["false".into()]));
        let third = Files::from([
            (path("etc/knot/knot.conf"), conf(&["a.example"])),
            (path(a), zone_file("a3")),
        ]);
        let outcome = apply_with(&away, &third);
        assert!(matches!(
            outcome.services[&Service::Knot],
            ServiceOutcome::ReloadFailed(_)
        ));
        assert_eq!(
            saved.load_journal().unwrap().zone_reload,
            BTreeSet::from([DomainName::parse("a.example").unwrap()])
        );
        let outcome = apply_with(&commands, &third);
        assert!(outcome.complete(), "{outcome:?}");
        assert_eq!(lines(&log)[6..], ["zone-reload a.example"]);
        assert!(saved.load_journal().unwrap().is_empty());
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
        atomic::write(&path, b"a:1", 0o644).unwrap();
        let first = secs(&path);
        let before = std::fs::metadata(&path).unwrap().modified().ok();
        atomic::write(&path, b"a:2", 0o644).unwrap();
        newer_than(&path, before).unwrap();
        assert!(secs(&path) > first);
    }

    /// With Debian's postmap: an edit changes exactly the entries it names, in place.
    #[test]
    fn edits_a_real_lmdb_table_in_place() {
        if !Path::new("/usr/sbin/postmap").exists() {
            eprintln!("postmap is not installed (package postfix-lmdb): skipped");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.cf"), "").unwrap();
        let postmap: Argv = vec![
            "/usr/sbin/postmap".into(),
            "-c".into(),
            dir.path().display().to_string(),
        ];
        let source = dir.path().join("mailboxes");
        std::fs::write(&source, "a@x x/a/\nb@x x/b/\nc@x x/c/\n").unwrap();
        let database = format!("lmdb:{}", source.display());
        run(&with(&postmap, &[&database])).unwrap();
        let edit = crate::plan::table_edit(
            b"a@x x/a/\nb@x x/b/\nc@x x/c/\n",
            b"a@x x/a/\nb@x moved/\nd@x x/d/\n",
        )
        .unwrap();
        edit_table(&postmap, &database, &edit).unwrap();
        let query = |key: &str| {
            let out = Command::new("/usr/sbin/postmap")
                .args([
                    "-c",
                    &dir.path().display().to_string(),
                    "-q",
                    key,
                    &database,
                ])
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        assert_eq!(query("a@x"), "x/a/");
        assert_eq!(query("b@x"), "moved/");
        assert_eq!(query("c@x"), "");
        assert_eq!(query("d@x"), "x/d/");
        // Deleting a key that is already gone is not an error.
        let again = TableEdit {
            put: vec![],
            delete: vec!["c@x".into()],
        };
        edit_table(&postmap, &database, &again).unwrap();
    }
}
