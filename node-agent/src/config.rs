//! The agent's configuration file (`agent.toml`): where its state lives, where the daemons live
//! and listen ([`Layout`]), the certificate to install, the node's name server (`[dns]`), and the
//! commands that check and reload each daemon. Production uses `/` and systemd; tests use a
//! temporary root, high ports and the daemons' own commands.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::render::knot::DnsSettings;
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
    /// The node's name server (Knot). Without it the agent renders no Knot file.
    #[serde(default)]
    pub dns: Option<DnsConfig>,
    /// How long the stores of removed mailboxes are kept, out of every login's reach.
    #[serde(default)]
    pub mail_store: MailStoreConfig,
    pub commands: Commands,
}

/// `[mail_store]`: see [`crate::mail_store`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailStoreConfig {
    /// Days a removed mailbox's store is kept (under `var/vmail/.removed`, where no login
    /// reaches it) before it is deleted; 0 deletes it at once. Default 7, so an operator can
    /// still copy the mail of a member moved to another node.
    #[serde(default = "MailStoreConfig::default_keep_removed_days")]
    pub keep_removed_days: u32,
}

impl MailStoreConfig {
    fn default_keep_removed_days() -> u32 {
        7
    }

    pub fn keep_removed(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.keep_removed_days) * 86_400)
    }
}

impl Default for MailStoreConfig {
    fn default() -> MailStoreConfig {
        MailStoreConfig {
            keep_removed_days: MailStoreConfig::default_keep_removed_days(),
        }
    }
}

/// `[dns]`: where this node's knotd answers, and the web addresses its zones point to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// UDP and TCP, reported to the control plane: peers transfer zones from it and the control
    /// plane checks it there. Port 53 on a real node.
    pub listen: SocketAddr,
    /// A/AAAA records of the zones (apex, www, autoconfig, mta-sts). Default: `layout.listen`.
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
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
    /// Required with `[dns]`.
    #[serde(default)]
    pub knot: Option<KnotCommands>,
}

/// Knot's tools, as argv prefixes: the agent appends `conf-check`, `reload`,
/// `zone-reload <zone>…`, `-f zone-purge <zone>… +orphan` to `knotc` (which finds the control
/// socket in knot.conf, so pass `-c <root>/etc/knot/knot.conf`), and `-o <zone> <file>` to
/// `kzonecheck`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnotCommands {
    pub knotc: Argv,
    pub kzonecheck: Argv,
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
    /// The check and reload of `service`. Knot's are `knotc conf-check` and `knotc reload`
    /// (empty commands, which fail, without `[commands.knot]`).
    pub fn of(&self, service: Service) -> ServiceCommands {
        match service {
            Service::Postfix => self.postfix.clone(),
            Service::Dovecot => self.dovecot.clone(),
            Service::Rspamd => self.rspamd.clone(),
            Service::Knot => match &self.knot {
                Some(knot) => ServiceCommands {
                    check: knot.knotc(&["conf-check"]),
                    reload: knot.knotc(&["reload"]),
                },
                None => ServiceCommands {
                    check: Vec::new(),
                    reload: Vec::new(),
                },
            },
        }
    }
}

impl KnotCommands {
    /// `knotc` with `args` appended.
    pub fn knotc(&self, args: &[&str]) -> Argv {
        let mut argv = self.knotc.clone();
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        argv
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
        config.check_dns()?;
        if !config.layout.internal.is_loopback() || !config.layout.broker.ip().is_loopback() {
            return Err(
                "layout.internal and layout.broker must be loopback addresses: LMTP, SASL, the \
                 quota policy and the auth broker are not for the network"
                    .to_owned(),
            );
        }
        Ok(config)
    }

    fn check_dns(&self) -> Result<(), String> {
        let (dns, knot) = match (&self.dns, &self.commands.knot) {
            (None, None) => return Ok(()),
            (Some(dns), Some(knot)) => (dns, knot),
            (Some(_), None) => return Err("[dns] needs [commands.knot] (knotc, kzonecheck)".into()),
            (None, Some(_)) => return Err("[commands.knot] is set but [dns] is not".into()),
        };
        for (name, argv) in [
            ("commands.knot.knotc", &knot.knotc),
            ("commands.knot.kzonecheck", &knot.kzonecheck),
        ] {
            if argv.first().is_none_or(|program| program.is_empty()) {
                return Err(format!(
                    "{name} is empty: give the program and its arguments"
                ));
            }
        }
        if dns.listen.ip().is_unspecified() || dns.listen.port() == 0 {
            return Err(
                "dns.listen must be the address and port where peers reach this node's name \
                 server, not 0.0.0.0, :: or port 0"
                    .to_owned(),
            );
        }
        if dns.addresses.is_empty() && self.layout.listen.is_unspecified() {
            return Err(
                "set dns.addresses: layout.listen is 0.0.0.0 or ::, which zones cannot point to"
                    .to_owned(),
            );
        }
        if let Some(bad) = dns
            .addresses
            .iter()
            .find(|a| a.is_unspecified() || a.is_multicast())
        {
            return Err(format!(
                "dns.addresses holds {bad}, which zones cannot point to"
            ));
        }
        Ok(())
    }

    /// `[dns]` with its defaults, for the renderers; `None` without `[dns]`.
    pub fn dns_settings(&self) -> Option<DnsSettings> {
        self.dns.as_ref().map(|dns| DnsSettings {
            listen: dns.listen,
            addresses: if dns.addresses.is_empty() {
                vec![self.layout.listen]
            } else {
                dns.addresses.clone()
            },
        })
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
        let dns = config.dns_settings().unwrap();
        assert_eq!(dns.listen, "203.0.113.25:53".parse().unwrap());
        assert_eq!(dns.addresses, ["203.0.113.25".parse::<IpAddr>().unwrap()]);
        let knot = config.commands.knot.as_ref().unwrap();
        assert_eq!(
            knot.knotc(&["zone-reload", "example.org"]),
            [
                "knotc",
                "-c",
                "/etc/knot/knot.conf",
                "zone-reload",
                "example.org"
            ]
        );
    }

    /// The shape the end-to-end tests write; [dns] and [commands.knot] go together.
    #[test]
    fn dns_is_optional_and_checked() {
        let text = include_str!("../../deploy/agent.example.toml");
        let (before_dns, rest) = text.split_once("[dns]").unwrap();
        let after_dns = &rest[rest.find("\n[").unwrap()..];
        let (mail_only, _knot) = format!("{before_dns}{after_dns}")
            .split_once("[commands.knot]")
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .unwrap();
        let config = Config::parse(&mail_only).unwrap();
        assert!(config.dns.is_none() && config.dns_settings().is_none());
        assert!(config.commands.knot.is_none());

        let knot = "[commands.knot]\nknotc = [\"knotc\", \"-c\", \"/r/etc/knot/knot.conf\"]\n\
                    kzonecheck = [\"kzonecheck\"]\n";
        let dns = "[dns]\nlisten = \"127.0.0.2:40053\"\n";
        let with = |extra: &str| Config::parse(&format!("{mail_only}\n{extra}"));
        // layout.listen is 0.0.0.0 in the example: addresses must be given.
        assert!(with(&format!("{dns}{knot}"))
            .unwrap_err()
            .contains("dns.addresses"));
        let config = with(&format!("{dns}addresses = [\"127.0.0.2\"]\n{knot}")).unwrap();
        assert_eq!(
            config.dns_settings().unwrap().listen,
            "127.0.0.2:40053".parse().unwrap()
        );
        let own_listen = mail_only.replace("listen = \"0.0.0.0\"", "listen = \"192.0.2.7\"");
        let config = Config::parse(&format!("{own_listen}\n{dns}{knot}")).unwrap();
        assert_eq!(
            config.dns_settings().unwrap().addresses,
            ["192.0.2.7".parse::<IpAddr>().unwrap()]
        );
        assert!(with(dns).unwrap_err().contains("commands.knot"));
        assert!(with(knot).is_err());
        let unspecified = "[dns]\nlisten = \"0.0.0.0:53\"\naddresses = [\"192.0.2.1\"]\n";
        assert!(with(&format!("{unspecified}{knot}")).is_err());
        let unknown_key = format!("{dns}addresses = [\"192.0.2.1\"]\n{knot}knotd = [\"x\"]\n");
        assert!(with(&unknown_key).is_err());
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
