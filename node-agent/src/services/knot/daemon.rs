//! What the engine asks of Knot: `[commands.knot]` (`knotc`, to which the agent appends
//! `conf-check`, `reload`, `zone-reload <zone>…`, `-f -b zone-purge <zone>… +orphan`; and
//! `kzonecheck`, to which it appends `-o <zone> <file>`), which goes with agent.toml's `[dns]`.
//!
//! - knot.conf is configuration: `knotc conf-check`, then `knotc reload`.
//! - A zone file is data. It is checked with `kzonecheck` before it replaces the old one (a
//!   refused zone is never on disk, so never loaded: the old file stays and Knot reports the
//!   refusal), then loaded alone (`zone-reload <zone>`), only for a zone knotd already has (in
//!   the knot.conf on disk and in the new one); a new zone comes with the reload of knot.conf.
//! - A zone that leaves knot.conf (or whose zone file is left over) is purged after the reload
//!   that removed it (`zone-purge <zone> +orphan`: journal, timers, DNSSEC keys, and for a
//!   catalog the member zones it brought), and its zone file deleted.
//!
//! Both steps run after the reload, against the knot.conf on disk (which knotd then runs): a
//! zone it configures is never purged and one it does not is never reloaded (both would fail,
//! or worse). Files take the group of their directory: knotd runs as `knot` in production and
//! reads knot.conf (mode 0640, it holds TSIG keys) through the group Debian gives /etc/knot.

use std::collections::BTreeSet;
use std::path::Path;

use protocol::desired::{DesiredState, Tenant};
use protocol::names::DomainName;

use crate::apply::{step, ApplyError, ServiceOutcome};
use crate::atomic;
use crate::config::{Commands, Config, ServiceCommands};
use crate::plan::{Disk, OnDisk, Plan};
use crate::render::{
    Files, Layout, MemberLines, MemberMaterial, Members, NodeMaterial, OnChange, RelPath,
};
use crate::services::{CommandKeys, Daemon, NewFileCheck, Phase, Service, Step, StepRun};

use super::zone::{self, ZONES_DIR};
use super::{configured_zones, KNOT_CONF, RUN_DIRECTORY, SERVICE};

/// Loads a changed zone file (argument: the zone).
pub const ZONE_RELOAD: &str = "zone-reload";
/// Purges a zone that left knot.conf and deletes its zone file (argument: the zone).
pub const ZONE_PURGE: &str = "zone-purge";

const KNOTC: &str = "knot.knotc";
const KZONECHECK: &str = "knot.kzonecheck";
/// Zones per `knotc zone-reload` or `zone-purge` command.
const ZONES_PER_COMMAND: usize = 200;

pub struct Knot;

impl Daemon for Knot {
    fn service(&self) -> Service {
        SERVICE
    }

    fn render_member(
        &self,
        tenant: &Tenant,
        layout: &Layout,
        material: &MemberMaterial<'_>,
    ) -> MemberLines {
        super::render_member(tenant, layout, material)
    }

    /// Only with `[dns]` (see [`super::render`]).
    fn render(
        &self,
        desired: &DesiredState,
        layout: &Layout,
        material: &NodeMaterial,
        members: &Members<'_>,
        files: &mut Files,
    ) {
        super::render(desired, layout, material, members, files);
    }

    fn command_keys(&self) -> CommandKeys {
        CommandKeys {
            keys: &[KNOTC, KZONECHECK],
            optional: true,
        }
    }

    /// `knotc conf-check` and `knotc reload`; `None` without `[commands.knot]`.
    fn commands(&self, commands: &Commands) -> Option<ServiceCommands> {
        commands.argv(KNOTC)?;
        Some(ServiceCommands {
            check: commands.argv_with(KNOTC, &["conf-check"]),
            reload: commands.argv_with(KNOTC, &["reload"]),
        })
    }

    fn check_config(&self, config: &Config) -> Result<(), String> {
        match (&config.dns, config.commands.argv(KNOTC)) {
            (Some(_), None) => Err("[dns] needs [commands.knot] (knotc, kzonecheck)".into()),
            (None, Some(_)) => Err("[commands.knot] is set but [dns] is not".into()),
            _ => Ok(()),
        }
    }

    fn older_journal_fields(&self) -> &'static [(&'static str, &'static str)] {
        &[("zone_reload", ZONE_RELOAD), ("purge", ZONE_PURGE)]
    }

    /// knotd's run directory (it does not make it) and the zones directory. In production
    /// systemd makes /run/knot for the `knot` user (`RuntimeDirectory=`, which also re-owns one
    /// the agent made) and Debian's package /var/lib/knot.
    fn prepare(&self, layout: &Layout, material: &NodeMaterial) -> std::io::Result<()> {
        if material.dns.is_none() {
            return Ok(());
        }
        for dir in [RUN_DIRECTORY, ZONES_DIR] {
            std::fs::create_dir_all(layout.root.join(dir))?;
        }
        Ok(())
    }

    /// When Knot is rendered, the zone files no longer rendered (their zones are purged).
    fn read_disk(
        &self,
        root: &Path,
        rendered: &Files,
        on_disk: &mut OnDisk,
        _stale: &mut BTreeSet<RelPath>,
    ) -> std::io::Result<()> {
        if !RelPath::new(KNOT_CONF).is_ok_and(|p| rendered.contains_key(&p)) {
            return Ok(());
        }
        for entry in atomic::read_dir(&root.join(ZONES_DIR))? {
            let path = format!("{ZONES_DIR}/{}", entry.file_name().to_string_lossy());
            if zone::zone_of(&path).is_none() {
                continue;
            }
            if let Ok(path) = RelPath::new(&path) {
                if !rendered.contains_key(&path) {
                    let current = atomic::read(&root.join(path.as_str()))?;
                    on_disk.insert(path, Disk::read(current, None));
                }
            }
        }
        Ok(())
    }

    /// Which zones to reload and which to purge: knot.conf on disk against the rendered one,
    /// and zone files on disk that are no longer rendered.
    fn plan(
        &self,
        rendered: &Files,
        on_disk: &OnDisk,
        _stale: &BTreeSet<RelPath>,
        plan: &mut Plan<'_>,
    ) {
        let Ok(conf_path) = RelPath::new(KNOT_CONF) else {
            return;
        };
        let Some(conf) = rendered.get(&conf_path) else {
            return;
        };
        let new = configured_zones(&conf.contents.bytes());
        let old = on_disk
            .get(&conf_path)
            .and_then(|disk| disk.contents(Some(conf)))
            .map(|contents| configured_zones(&contents))
            .unwrap_or_default();
        let mut steps = BTreeSet::new();
        for (path, file) in &plan.writes {
            if file.service != SERVICE || file.on_change != OnChange::Step(ZONE_RELOAD) {
                continue;
            }
            if let Some(zone) = zone::zone_of(path.as_str()) {
                if old.contains(&zone) && new.contains(&zone) {
                    steps.insert(zone_step(ZONE_RELOAD, &zone));
                }
            }
        }
        let mut purge: BTreeSet<DomainName> = old.difference(&new).cloned().collect();
        for (path, current) in on_disk {
            if current.is_present() && !rendered.contains_key(path) {
                if let Some(zone) = zone::zone_of(path.as_str()) {
                    if !new.contains(&zone) {
                        purge.insert(zone);
                    }
                }
            }
        }
        steps.extend(purge.iter().map(|zone| zone_step(ZONE_PURGE, zone)));
        plan.steps.extend(steps);
    }

    /// A zone file passes `kzonecheck` before it replaces the old one.
    fn new_file_check(
        &self,
        commands: &Commands,
        path: &RelPath,
    ) -> Option<Result<NewFileCheck, String>> {
        let zone = zone::zone_of(path.as_str())?;
        if commands.argv(KZONECHECK).is_none() {
            return Some(Err("[commands.knot] is not configured".to_owned()));
        }
        Some(Ok(NewFileCheck {
            argv: commands.argv_with(KZONECHECK, &["-o", zone.as_str()]),
            what: format!("zone {}", zone.as_str()),
            loads: Some(zone_step(ZONE_RELOAD, &zone)),
        }))
    }

    fn after_write(&self, full: &Path) -> std::io::Result<()> {
        directory_group(full)
    }

    /// Loads the zones whose file changed and purges the zones that left knot.conf, as the
    /// journal says, against the knot.conf on disk. What fails stays pending.
    fn run_steps(&self, phase: Phase, run: &mut StepRun<'_>) -> Result<(), ApplyError> {
        if phase != Phase::AfterReload {
            return Ok(());
        }
        if run.restored {
            // The zone files are back to what knotd runs: nothing to load.
            run.pending.retain(|s| s.name != ZONE_RELOAD);
        }
        let reload = zones_of(run, ZONE_RELOAD);
        let purge = zones_of(run, ZONE_PURGE);
        if reload.is_empty() && purge.is_empty() {
            return Ok(());
        }
        let conf = run.root.join(KNOT_CONF);
        let configured = atomic::read(&conf)
            .map_err(ApplyError::io(&conf))?
            .map(|(contents, _)| configured_zones(&contents))
            .unwrap_or_default();
        let mut failure: Option<String> = None;

        // A zone knotd does not configure cannot be reloaded: that step is dropped.
        for zone in reload.iter().filter(|z| !configured.contains(*z)) {
            run.pending.remove(&zone_step(ZONE_RELOAD, zone));
        }
        let reload: Vec<&DomainName> = reload.iter().filter(|z| configured.contains(*z)).collect();
        for zones in reload.chunks(ZONES_PER_COMMAND) {
            let mut args = vec!["zone-reload"];
            args.extend(zones.iter().map(|z| z.as_str()));
            let result = run_knotc(run, &args);
            step(ZONE_RELOAD);
            match result {
                Ok(()) => {
                    run.count(ZONE_RELOAD, zones.len());
                    for zone in zones {
                        run.pending.remove(&zone_step(ZONE_RELOAD, zone));
                    }
                }
                Err(message) => {
                    failure.get_or_insert(format!("zone-reload: {message}"));
                }
            }
        }

        // A zone knotd configures again is not purged.
        for zone in purge.iter().filter(|z| configured.contains(*z)) {
            run.pending.remove(&zone_step(ZONE_PURGE, zone));
        }
        let purge: Vec<&DomainName> = purge.iter().filter(|z| !configured.contains(*z)).collect();
        for zones in purge.chunks(ZONES_PER_COMMAND) {
            // -f: purging always needs it; -b: wait until the zones are gone.
            let mut args = vec!["-f", "-b", "zone-purge"];
            args.extend(zones.iter().map(|z| z.as_str()));
            args.push("+orphan");
            let result = run_knotc(run, &args);
            step(ZONE_PURGE);
            if let Err(message) = result {
                failure.get_or_insert(format!("zone-purge: {message}"));
                continue;
            }
            for zone in zones {
                let file = run.root.join(zone::path_of(zone));
                atomic::remove(&file).map_err(ApplyError::io(&file))?;
                run.pending.remove(&zone_step(ZONE_PURGE, zone));
            }
            run.count(ZONE_PURGE, zones.len());
        }

        if let Some(message) = failure {
            tracing::warn!(error = %message, "knotd did not take every zone change; retrying at the next apply");
            run.failed(ServiceOutcome::ReloadFailed(message));
        }
        Ok(())
    }
}

fn zone_step(name: &str, zone: &DomainName) -> Step {
    Step::new(SERVICE, name, zone.as_str())
}

/// The zones of the pending steps named `name` (an argument that is not a zone is dropped).
fn zones_of(run: &mut StepRun<'_>, name: &str) -> BTreeSet<DomainName> {
    let mut zones = BTreeSet::new();
    for step in run.pending_named(name) {
        match DomainName::parse(&step.arg) {
            Ok(zone) => {
                zones.insert(zone);
            }
            Err(_) => {
                run.pending.remove(&step);
            }
        }
    }
    zones
}

fn run_knotc(run: &StepRun<'_>, args: &[&str]) -> Result<(), String> {
    crate::apply::run(&run.commands.argv_with(KNOTC, args))
}

/// Gives `full` the group of its directory.
fn directory_group(full: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Some(dir) = full.parent() else {
        return Ok(());
    };
    let gid = std::fs::metadata(dir)?.gid();
    std::os::unix::fs::chown(full, None, Some(gid))
}
