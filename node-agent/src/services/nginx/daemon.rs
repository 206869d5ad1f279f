//! What the engine asks of nginx: `[commands.nginx]`'s check (`nginx -t -c <root>/etc/nginx/
//! nginx.conf`) and reload (`nginx -s reload -c …`: the master starts new workers and lets the
//! old ones finish their requests, so no connection is dropped), which go with agent.toml's
//! `[web]`. nginx.conf, hosts.conf and discovery.conf are configuration; a refused check puts
//! the last good ones back. The files they serve are data nginx reads at each request: written,
//! nothing reloaded.
//!
//! One named step, `remove`: a domain's autoconfiguration file that is no longer rendered (the
//! domain left the node, lost its certificate, or its member was suspended) is deleted after
//! the reload that stopped serving it, so nothing of a domain stays behind.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use protocol::desired::{DesiredState, Tenant};

use crate::apply::{step, ApplyError};
use crate::atomic;
use crate::config::{Commands, Config, ServiceCommands};
use crate::plan::{Disk, OnDisk, Plan};
use crate::render::{Files, Layout, MemberLines, MemberMaterial, Members, NodeMaterial, RelPath};
use crate::services::{CommandKeys, Daemon, Phase, Service, Step, StepRun};

use super::discovery::{self, AUTOCONFIG_DIR, WEB_ROOT};
use super::{DIRECTORIES, HOSTS_CONF, SERVICE};

/// Deletes a file no longer rendered (argument: its path under the root, an autoconfiguration
/// file's).
pub const REMOVE: &str = "remove";

pub struct Nginx;

const CHECK: &str = "nginx.check";
const RELOAD: &str = "nginx.reload";

impl Daemon for Nginx {
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
            keys: &[CHECK, RELOAD],
            optional: true,
        }
    }

    /// `None` without `[commands.nginx]`: the node has no web front.
    fn commands(&self, commands: &Commands) -> Option<ServiceCommands> {
        commands.check_and_reload(SERVICE)
    }

    fn check_config(&self, config: &Config) -> Result<(), String> {
        match (&config.web, config.commands.argv(CHECK)) {
            (Some(_), None) => Err("[web] needs [commands.nginx] (check, reload)".into()),
            (None, Some(_)) => Err("[commands.nginx] is set but [web] is not".into()),
            _ => Ok(()),
        }
    }

    /// The directories nginx writes in and does not make (logs, temporary files, the pid
    /// file's), the ACME challenges' and the discovery files' (the agent's). In production
    /// Debian's package makes the first ones under /var. nginx's workers (`www-data`) read the
    /// discovery files: their directories are 0755 whatever the agent's umask.
    fn prepare(&self, layout: &Layout, material: &NodeMaterial) -> std::io::Result<()> {
        if material.web.is_none() {
            return Ok(());
        }
        for dir in DIRECTORIES {
            std::fs::create_dir_all(layout.path(dir))?;
        }
        for dir in [WEB_ROOT, AUTOCONFIG_DIR] {
            std::fs::set_permissions(layout.path(dir), std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(())
    }

    /// When nginx is rendered, the autoconfiguration files no longer rendered.
    fn read_disk(
        &self,
        root: &Path,
        rendered: &Files,
        on_disk: &mut OnDisk,
        _stale: &mut BTreeSet<RelPath>,
    ) -> std::io::Result<()> {
        if !RelPath::new(HOSTS_CONF).is_ok_and(|p| rendered.contains_key(&p)) {
            return Ok(());
        }
        for entry in atomic::read_dir(&root.join(AUTOCONFIG_DIR))? {
            let path = format!("{AUTOCONFIG_DIR}/{}", entry.file_name().to_string_lossy());
            if discovery::autoconfig_domain(&path).is_none() {
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

    /// A `remove` step for each autoconfiguration file on disk that is not rendered.
    fn plan(
        &self,
        rendered: &Files,
        on_disk: &OnDisk,
        _stale: &BTreeSet<RelPath>,
        plan: &mut Plan<'_>,
    ) {
        for (path, current) in on_disk {
            let leftover = current.is_present()
                && !rendered.contains_key(path)
                && discovery::autoconfig_domain(path.as_str()).is_some();
            if leftover {
                plan.steps.insert(Step::new(SERVICE, REMOVE, path.as_str()));
            }
        }
    }

    /// Deletes the files of the pending `remove` steps, once nginx runs the configuration that
    /// no longer serves them. After a refused check the old configuration is back, and may
    /// serve them: they wait for the next plan.
    fn run_steps(&self, phase: Phase, run: &mut StepRun<'_>) -> Result<(), ApplyError> {
        if phase != Phase::AfterReload {
            return Ok(());
        }
        for pending in run.pending_named(REMOVE) {
            run.pending.remove(&pending);
            // The journal could say anything: only an autoconfiguration file is removed.
            if run.restored || discovery::autoconfig_domain(&pending.arg).is_none() {
                continue;
            }
            let file = run.root.join(&pending.arg);
            atomic::remove(&file).map_err(ApplyError::io(&file))?;
            step(REMOVE);
            run.count(REMOVE, 1);
        }
        Ok(())
    }
}
