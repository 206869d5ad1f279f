//! What the engine asks of Dovecot: `[commands.dovecot]`'s check (`doveconf -n`) and reload.
//! It has no named step: its userdb and passdb ask the auth broker, and the user list (the
//! fallback userdb while the broker is away) is re-read by Dovecot itself.

use protocol::desired::{DesiredState, Tenant};
use protocol::dns::platform;

use crate::config::{Commands, ServiceCommands};
use crate::render::{Files, Layout, MemberLines, MemberMaterial, Members, NodeMaterial, Ports};
use crate::services::{CommandKeys, Daemon, Service};

use super::SERVICE;

pub struct Dovecot;

impl Daemon for Dovecot {
    fn service(&self) -> Service {
        SERVICE
    }

    fn render_member(
        &self,
        tenant: &Tenant,
        layout: &Layout,
        _material: &MemberMaterial<'_>,
    ) -> MemberLines {
        super::render_member(tenant, layout)
    }

    fn render(
        &self,
        _desired: &DesiredState,
        layout: &Layout,
        material: &NodeMaterial,
        members: &Members<'_>,
        files: &mut Files,
    ) {
        super::render(layout, material, members, files);
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
