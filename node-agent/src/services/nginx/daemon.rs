//! What the engine asks of nginx: `[commands.nginx]`'s check (`nginx -t -c <root>/etc/nginx/
//! nginx.conf`) and reload (`nginx -s reload -c …`: the master starts new workers and lets the
//! old ones finish their requests, so no connection is dropped), which go with agent.toml's
//! `[web]`. Both files are configuration; a refused check puts the last good ones back. nginx
//! has no named step.

use protocol::desired::{DesiredState, Tenant};

use crate::config::{Commands, Config, ServiceCommands};
use crate::render::{Files, Layout, MemberLines, MemberMaterial, Members, NodeMaterial};
use crate::services::{CommandKeys, Daemon, Service};

use super::{DIRECTORIES, SERVICE};

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
        _desired: &DesiredState,
        layout: &Layout,
        material: &NodeMaterial,
        members: &Members<'_>,
        files: &mut Files,
    ) {
        super::render(
            material.web.as_ref(),
            layout,
            &material.certs,
            members,
            files,
        );
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
    /// file's) and the ACME challenges' (the agent's). In production Debian's package makes
    /// the first ones under /var.
    fn prepare(&self, layout: &Layout, material: &NodeMaterial) -> std::io::Result<()> {
        if material.web.is_none() {
            return Ok(());
        }
        for dir in DIRECTORIES {
            std::fs::create_dir_all(layout.path(dir))?;
        }
        Ok(())
    }
}
