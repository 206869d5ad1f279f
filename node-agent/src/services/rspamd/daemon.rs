//! What the engine asks of rspamd: `[commands.rspamd]`'s check (`rspamadm configtest`) and
//! reload. It has no named step: rspamd watches its DKIM maps itself, and `rspamd.local.lua`
//! reads the others again whenever they changed.

use protocol::desired::{DesiredState, Tenant};

use crate::config::{Commands, ServiceCommands};
use crate::render::{Files, Layout, MemberLines, MemberMaterial, Members, NodeMaterial};
use crate::services::{CommandKeys, Daemon, Service};

use super::SERVICE;

pub struct Rspamd;

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
