//! What the engine asks of Dovecot: `[commands.dovecot]`'s check (`doveconf -n`) and reload.
//! It has no named step: its userdb and passdb ask the auth broker, and the user list (the
//! fallback userdb while the broker is away) is re-read by Dovecot itself.

use protocol::desired::DesiredState;
use protocol::dns::platform;

use crate::config::{Commands, ServiceCommands};
use crate::render::{Files, Layout, NodeMaterial, Ports};
use crate::services::{CommandKeys, Daemon, Service};

use super::SERVICE;

pub struct Dovecot;

impl Daemon for Dovecot {
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
            keys: &["dovecot.check", "dovecot.reload"],
            optional: false,
        }
    }

    fn commands(&self, commands: &Commands) -> Option<ServiceCommands> {
        commands.check_and_reload(SERVICE)
    }

    fn srv_ports(&self, ports: &Ports) -> Vec<(&'static str, u16)> {
        vec![(platform::IMAPS, ports.imaps)]
    }
}
