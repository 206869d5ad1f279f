//! The agent's configuration file (`agent.toml`): where its state lives, where the daemons live
//! and listen ([`Layout`]), the certificate to install, the node's name server (`[dns]`), and the
//! commands that check and reload each daemon. Production uses `/` and systemd; tests use a
//! temporary root, high ports and the daemons' own commands.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::render::{DnsSettings, Layout, WebSettings};
use crate::services::Service;

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
    /// The node's web front (nginx). Without it the agent renders no nginx file.
    #[serde(default)]
    pub web: Option<WebConfig>,
    /// Certificates by ACME for every name the node serves (needs `[web]`). Without it the
    /// node serves HTTPS for no member name and mail with `[tls]` alone.
    #[serde(default)]
    pub acme: Option<AcmeConfig>,
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

/// `[dns]`: where this node's name server answers, and the web addresses its zones point to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// UDP and TCP, reported to the control plane: peers transfer zones from it and the control
    /// plane checks it there. Port 53 on a real node.
    pub listen: SocketAddr,
    /// A/AAAA records of the zones (the apex and `platform::ADDRESS_NAMES`: www, autoconfig,
    /// mta-sts, autodiscover). Default: `layout.listen`.
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
}

/// `[web]`: where the node's nginx listens for its members' web names.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Plain HTTP (ACME challenges, redirects). Port 80 on a real node.
    pub http: SocketAddr,
    /// HTTPS. Port 443 on a real node.
    pub https: SocketAddr,
    /// The control plane's portal, served on HTTPS under its own name (`[web.portal]`).
    #[serde(default)]
    pub portal: Option<PortalConfig>,
}

/// `[web.portal]`: the collective's portal behind this node's HTTPS front, with a certificate
/// for its name (HTTP-01: the name must resolve to the node).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalConfig {
    /// The portal's public name, e.g. `portal.example.org`.
    pub name: protocol::names::DomainName,
    /// Where the control plane listens (plain HTTP, on this machine): `127.0.0.1:8080`.
    pub upstream: SocketAddr,
}

/// `[acme]`: see [`crate::certs`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeConfig {
    /// The CA's directory. Default: Let's Encrypt's production directory.
    #[serde(default = "AcmeConfig::default_directory")]
    pub directory: url::Url,
    /// An address the CA may write to about the account (expiry notices). Optional.
    #[serde(default)]
    pub contact: Option<protocol::names::EmailAddress>,
    /// PEM of the root that signs the CA's own HTTPS certificate, when it is not one the
    /// system trusts (a test CA such as pebble).
    #[serde(default)]
    pub directory_root: Option<PathBuf>,
    /// DNS servers asked whether a name resolves to this node. Default: the system's.
    #[serde(default)]
    pub resolvers: Vec<SocketAddr>,
    /// The addresses a name must resolve to before it is checked over HTTP. Default:
    /// `[dns] addresses` (or `layout.listen`), as the zones publish them.
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    /// Seconds before the first retry of a failed certificate; each failure doubles it, up to
    /// six hours. Default 60.
    #[serde(default = "AcmeConfig::default_retry")]
    pub retry_after_seconds: u64,
}

impl AcmeConfig {
    pub const LETS_ENCRYPT: &'static str = "https://acme-v02.api.letsencrypt.org/directory";

    fn default_directory() -> url::Url {
        // A constant that parses.
        url::Url::parse(Self::LETS_ENCRYPT).unwrap_or_else(|_| unreachable!())
    }

    fn default_retry() -> u64 {
        60
    }
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

/// `[commands]`: the group that may read DKIM private keys, then each service's commands as
/// argv lists, in a table of its name (`[commands.<service>] check = [...]`) or as keys of its
/// own beside the tables. Which keys exist is each service's to say
/// ([`crate::services::Daemon::command_keys`]); any other key is refused.
#[derive(Debug, Clone)]
pub struct Commands {
    /// The group that may read DKIM private keys (rspamd's).
    pub dkim_group: String,
    /// By key: `<service>.<name>` for a table's entry, else the key itself.
    argv: BTreeMap<String, Argv>,
}

/// One entry of `[commands]` as written.
#[derive(Deserialize)]
#[serde(untagged)]
enum Entry {
    Text(String),
    Argv(Argv),
    Table(BTreeMap<String, Argv>),
}

impl<'de> Deserialize<'de> for Commands {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Commands, D::Error> {
        use serde::de::Error;
        let entries = BTreeMap::<String, Entry>::deserialize(deserializer)?;
        let mut dkim_group = None;
        let mut argv = BTreeMap::new();
        for (key, entry) in entries {
            match (key.as_str(), entry) {
                ("dkim_group", Entry::Text(group)) => dkim_group = Some(group),
                (_, Entry::Argv(value)) => {
                    argv.insert(key, value);
                }
                (_, Entry::Table(table)) => {
                    for (name, value) in table {
                        argv.insert(format!("{key}.{name}"), value);
                    }
                }
                (_, Entry::Text(_)) => {
                    return Err(D::Error::custom(format!(
                        "commands.{key}: expected a list of strings (program and arguments)"
                    )))
                }
            }
        }
        let dkim_group = dkim_group.ok_or_else(|| D::Error::missing_field("dkim_group"))?;
        Ok(Commands { dkim_group, argv })
    }
}

/// A service's check and reload.
#[derive(Debug, Clone, Default)]
pub struct ServiceCommands {
    /// The daemon's own configuration check, e.g. `postfix check`, `doveconf -n`.
    pub check: Argv,
    /// Makes the running daemon read its configuration again.
    pub reload: Argv,
}

impl Commands {
    /// The command at `key` (`postmap`, `postfix.check`), if agent.toml gives it.
    pub fn argv(&self, key: &str) -> Option<&Argv> {
        self.argv.get(key)
    }

    /// The command at `key` with `args` appended; empty (a command that fails) when not given.
    pub fn argv_with(&self, key: &str, args: &[&str]) -> Argv {
        let mut argv = self.argv(key).cloned().unwrap_or_default();
        if !argv.is_empty() {
            argv.extend(args.iter().map(|a| (*a).to_owned()));
        }
        argv
    }

    /// `[commands.<service>]`'s `check` and `reload`, if both are given.
    pub fn check_and_reload(&self, service: Service) -> Option<ServiceCommands> {
        let name = service.name();
        Some(ServiceCommands {
            check: self.argv(&format!("{name}.check"))?.clone(),
            reload: self.argv(&format!("{name}.reload"))?.clone(),
        })
    }

    /// Sets the command at `key` (tests).
    pub fn set(&mut self, key: &str, argv: Argv) {
        self.argv.insert(key.to_owned(), argv);
    }

    /// Removes the commands under `prefix` (tests: a node without a service).
    pub fn remove_all(&mut self, prefix: &str) {
        self.argv.retain(|key, _| !key.starts_with(prefix));
    }

    /// The check and reload of `service`, as [`crate::services::Daemon::commands`] says.
    /// Empty commands (which fail) for a service the node does not run.
    pub fn of(&self, service: Service) -> ServiceCommands {
        service
            .daemon()
            .and_then(|daemon| daemon.commands(self))
            .unwrap_or_default()
    }

    /// Every key is some service's, each service's keys are all given (or, for an optional
    /// service, all absent), and none is an empty command.
    fn check(&self) -> Result<(), String> {
        let mut known = BTreeSet::new();
        for daemon in crate::services::ALL {
            let spec = daemon.command_keys();
            let given: Vec<&str> = spec
                .keys
                .iter()
                .copied()
                .filter(|k| self.argv.contains_key(*k))
                .collect();
            if !(spec.optional && given.is_empty()) {
                if let Some(missing) = spec.keys.iter().find(|k| !given.contains(k)) {
                    return Err(format!("commands.{missing} is missing"));
                }
            }
            known.extend(spec.keys.iter().copied());
        }
        for (key, argv) in &self.argv {
            if !known.contains(key.as_str()) {
                return Err(format!("commands.{key} is not a command of any service"));
            }
            if argv.first().is_none_or(|program| program.is_empty()) {
                return Err(format!(
                    "commands.{key} is empty: give the program and its arguments"
                ));
            }
        }
        Ok(())
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
        config.commands.check()?;
        for daemon in crate::services::ALL {
            daemon.check_config(&config)?;
        }
        config.check_dns()?;
        config.check_acme()?;
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
        let Some(dns) = &self.dns else {
            return Ok(());
        };
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

    fn check_acme(&self) -> Result<(), String> {
        let Some(acme) = &self.acme else {
            return Ok(());
        };
        if self.web.is_none() {
            return Err(
                "[acme] needs [web]: the node's nginx answers the CA's HTTP checks".to_owned(),
            );
        }
        if let Some(portal) = self.web.as_ref().and_then(|w| w.portal.as_ref()) {
            if portal.upstream.ip().is_unspecified() || portal.upstream.port() == 0 {
                return Err("web.portal.upstream must be where the control plane listens".into());
            }
        }
        if acme.directory.scheme() != "https" {
            return Err("acme.directory must be an https:// URL".to_owned());
        }
        if acme.addresses.is_empty() && self.dns.is_none() && self.layout.listen.is_unspecified() {
            return Err(
                "set acme.addresses: the public addresses the node's names resolve to".to_owned(),
            );
        }
        Ok(())
    }

    /// The certificate manager's settings, with `[acme]`; `None` without it.
    pub fn certs_settings(&self) -> Option<crate::certs::Settings> {
        let acme = self.acme.clone()?;
        let addresses = if acme.addresses.is_empty() {
            self.dns_settings()
                .map_or_else(|| vec![self.layout.listen], |d| d.addresses)
        } else {
            acme.addresses.clone()
        };
        Some(crate::certs::Settings {
            acme,
            state_dir: self.state_dir.clone(),
            root: self.layout.root.clone(),
            hostname: self.layout.hostname.clone(),
            portal: self
                .web
                .as_ref()
                .and_then(|w| w.portal.as_ref())
                .map(|p| p.name.clone()),
            addresses,
            own_dns: self.dns.as_ref().map(|d| d.listen),
        })
    }

    /// `[web]`, for the renderers; `None` without `[web]`.
    pub fn web_settings(&self) -> Option<WebSettings> {
        self.web.as_ref().map(|web| WebSettings {
            http: web.http,
            https: web.https,
            portal: web.portal.as_ref().map(|p| crate::render::Portal {
                name: p.name.clone(),
                upstream: p.upstream,
            }),
        })
    }

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
        for daemon in crate::services::ALL {
            let commands = daemon.commands(&config.commands).unwrap();
            assert!(!commands.check.is_empty() && !commands.reload.is_empty());
        }
        assert_eq!(
            config.commands.argv_with("postmap", &["lmdb:/x"]),
            ["postmap", "lmdb:/x"]
        );
        let certs = config.certs_settings().unwrap();
        assert_eq!(certs.acme.directory.as_str(), AcmeConfig::LETS_ENCRYPT);
        assert_eq!(certs.acme.contact.unwrap().as_str(), "admin@example.org");
        assert_eq!(certs.addresses, ["203.0.113.25".parse::<IpAddr>().unwrap()]);
        assert_eq!(certs.own_dns, Some("203.0.113.25:53".parse().unwrap()));
    }

    #[test]
    fn acme_needs_web_and_https() {
        let text = include_str!("../../deploy/agent.example.toml");
        // Without [web] and [commands.nginx] (the last section), [acme] is refused.
        let (before_web, after_web) = text.split_once("[web]\n").unwrap();
        let (_, after_web) = after_web.split_once("\n\n").unwrap();
        let no_web = format!("{before_web}{after_web}");
        let no_web = no_web.split("[commands.nginx]").next().unwrap();
        assert!(Config::parse(no_web)
            .unwrap_err()
            .contains("[acme] needs [web]"));
        // Without [acme] too, the node simply serves no web name.
        let (before_acme, after_acme) = no_web.split_once("[acme]\n").unwrap();
        let (_, after_acme) = after_acme.split_once("\n\n").unwrap();
        let plain_node = Config::parse(&format!("{before_acme}{after_acme}")).unwrap();
        assert!(plain_node.certs_settings().is_none() && plain_node.web.is_none());
        let plain = text.replace(
            "https://acme-v02.api.letsencrypt.org/directory",
            "http://ca.example/directory",
        );
        assert!(Config::parse(&plain).unwrap_err().contains("https://"));
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
        // [commands] holds the services' commands and nothing else, each a program.
        let stray = text.replace("[commands]\n", "[commands]\nsendmail = [\"x\"]\n");
        assert!(Config::parse(&stray)
            .unwrap_err()
            .contains("commands.sendmail"));
        let empty = text.replace("postmap = [\"postmap\"]", "postmap = []");
        assert!(Config::parse(&empty).unwrap_err().contains("is empty"));
        let missing = text.replace("postmap = [\"postmap\"]\n", "");
        assert!(Config::parse(&missing).unwrap_err().contains("missing"));
    }
}
