//! What the engine asks of rspamd: `[commands.rspamd]`'s check (`rspamadm configtest`) and
//! reload. It has no named step: `rspamd.local.lua` reads the maps again whenever they changed.

use std::path::Path;

use protocol::desired::{DesiredState, Tenant};

use crate::config::{Commands, ServiceCommands};
use crate::render::{Files, Layout, MemberLines, MemberMaterial, Members, NodeMaterial};
use crate::services::{CommandKeys, Daemon, Service};

use super::SERVICE;

pub struct Rspamd;

/// Files an earlier agent wrote for rspamd and this one does not: `members.map` listed every
/// address with its member, so it must not stay behind the members it named.
const RETIRED: &[&str] = &["etc/rspamd/ruche/members.map"];

/// Removes the [`RETIRED`] files under `root` that are there.
fn remove_retired(root: &Path) -> std::io::Result<()> {
    for path in RETIRED {
        match std::fs::remove_file(root.join(path)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

impl Daemon for Rspamd {
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
        _material: &NodeMaterial,
        members: &Members<'_>,
        files: &mut Files,
    ) {
        super::render(desired, layout, members, files);
    }

    fn prepare(&self, layout: &Layout, _material: &NodeMaterial) -> std::io::Result<()> {
        remove_retired(&layout.root)
    }

    fn command_keys(&self) -> CommandKeys {
        CommandKeys {
            keys: &["rspamd.check", "rspamd.reload"],
            optional: false,
        }
    }

    fn commands(&self, commands: &Commands) -> Option<ServiceCommands> {
        commands.check_and_reload(SERVICE)
    }
}

#[cfg(test)]
mod tests {
    /// A map an earlier version wrote is removed; nothing else is, and no file is no error.
    #[test]
    fn retired_maps_are_removed() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("etc/rspamd/ruche");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("members.map"), "alice@example.org m1\n").unwrap();
        std::fs::write(dir.join("domains.map"), "example.org m1\n").unwrap();
        super::remove_retired(root.path()).unwrap();
        assert!(!dir.join("members.map").exists());
        assert!(dir.join("domains.map").exists());
        super::remove_retired(root.path()).unwrap();
    }
}
