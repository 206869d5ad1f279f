//! The agent's configuration file (`agent.toml`): where its state lives, where the daemons live
//! and listen ([`Layout`]), the certificate to install, and the commands that check and reload each
//! daemon. Production uses `/` and systemd; tests use a temporary root, high ports and the
//! daemons' own commands.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::render::{Layout, Service};

/// Where `run` and `reconcile` look for the configuration unless told otherwise.
pub const DEFAULT_CONFIG: &str = "/etc/ruche/agent.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// node.json (from `join`), the last desired state and the apply journal.
    pub state_dir: PathBuf,
    pub layout: Layout,
    /// The certificate for the mail host name. Without it, nothing that needs TLS is offered.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    pub commands: Commands,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM: the certificate, then its intermediates.
    pub chain: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// A command as argv: no shell unless the operator writes one.
pub type Argv = Vec<String>;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Commands {
    /// `postmap`; the agent appends `lmdb:<table>`.
    pub postmap: Argv,
    /// The group that may read DKIM private keys (rspamd's).
    pub dkim_group: String,
    pub postfix: ServiceCommands,
    pub dovecot: ServiceCommands,
    pub rspamd: ServiceCommands,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceCommands {
    /// The daemon's own configuration check, e.g. `postfix check`, `doveconf -n`.
    pub check: Argv,
    /// Makes the running daemon read its configuration again.
    pub reload: Argv,
}

impl Commands {
    pub fn of(&self, service: Service) -> &ServiceCommands {
        match service {
            Service::Postfix => &self.postfix,
            Service::Dovecot => &self.dovecot,
            Service::Rspamd => &self.rspamd,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a valid agent configuration: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.layout.check()?;
        for (name, argv) in [
            ("commands.postmap", &config.commands.postmap),
            ("commands.postfix.check", &config.commands.postfix.check),
            ("commands.postfix.reload", &config.commands.postfix.reload),
            ("commands.dovecot.check", &config.commands.dovecot.check),
            ("commands.dovecot.reload", &config.commands.dovecot.reload),
            ("commands.rspamd.check", &config.commands.rspamd.check),
            ("commands.rspamd.reload", &config.commands.rspamd.reload),
        ] {
            if argv.first().is_none_or(|program| program.is_empty()) {
                return Err(format!(
                    "{name} is empty: give the program and its arguments"
                ));
            }
        }
        if !config.layout.internal.is_loopback() || !config.layout.broker.ip().is_loopback() {
            return Err(
                "layout.internal and layout.broker must be loopback addresses: LMTP, SASL, the \
                 quota policy and the auth broker are not for the network"
                    .to_owned(),
            );
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example shipped in deploy/ stays a valid configuration.
    #[test]
    fn the_shipped_example_parses() {
        let text = include_str!("../../deploy/agent.example.toml");
        let config = Config::parse(text).unwrap();
        assert_eq!(config.layout.root, PathBuf::from("/"));
        assert_eq!(config.layout.ports.submission, 587);
    }

    #[test]
    fn refuses_unknown_keys_and_public_internal_addresses() {
        let text = include_str!("../../deploy/agent.example.toml");
        let unknown = format!("{text}\n[extra]\nx = 1\n");
        assert!(Config::parse(&unknown).is_err());
        let public = text.replace("internal = \"127.0.0.1\"", "internal = \"192.0.2.1\"");
        assert!(Config::parse(&public).unwrap_err().contains("loopback"));
        let bad_root = text.replace("root = \"/\"", "root = \"/tmp/a b\"");
        assert!(Config::parse(&bad_root).is_err());
    }
}
