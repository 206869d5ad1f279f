//! What the engine asks of rspamd: `[commands.rspamd]`'s check (`rspamadm configtest`) and
//! reload. It has no named step: rspamd watches its maps itself.

use protocol::desired::DesiredState;

use crate::config::{Commands, ServiceCommands};
use crate::render::{Files, Layout, NodeMaterial};
use crate::services::{CommandKeys, Daemon, Service};

use super::SERVICE;

pub struct Rspamd;

impl Daemon for Rspamd {
    fn service(&self) -> Service {
        SERVICE
    }

    fn render(
        &self,
        desired: &DesiredState,
        layout: &Layout,
        material: &NodeMaterial,
        files: &mut Files,
    ) {
        super::render(desired, layout, material, files);
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
