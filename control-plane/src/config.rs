//! One typed configuration for the control plane.
//!
//! Sources, later ones winning: built-in defaults, the TOML file given with `--config`,
//! environment variables `RUCHE_<SECTION>__<KEY>` (e.g. `RUCHE_HTTP__PUBLIC_URL`), the conventional
//! `DATABASE_URL`, and for secrets `RUCHE_<SECTION>__<KEY>_FILE` naming a file that holds the value.
//! Unknown keys are an error in every source, so a typo never silently falls back to a default.
//! The shipped example (`deploy/control-plane.example.toml`) must parse and list every key
//! (`example_config_parses_and_lists_every_key`), so it cannot drift from the code.
//! The configuration is passed explicitly; there is no global.

use std::net::SocketAddr;
use std::path::Path;

use protocol::names::{DomainName, NameError};
use serde::{Deserialize, Serialize};
use url::Url;

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub mail: MailConfig,
    pub security: SecurityConfig,
    pub dns: DnsConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// The URL members use to reach the portal; links in mails are built from it. When empty,
    /// `http://<bound address>` is used (fine on a laptop, wrong behind a proxy).
    pub public_url: Option<Url>,
    /// Take the client address from the last `X-Forwarded-For` entry (only behind a trusted
    /// reverse proxy; otherwise clients could pick their own rate-limit key).
    pub trust_forwarded_for: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Postgres URL. Also read from `DATABASE_URL`.
    pub url: Option<String>,
    /// Connections of the pool that serves requests (portal, API, node API).
    pub max_connections: u32,
    /// Connections of the background tasks' own pool: the `LISTEN` connection, housekeeping and
    /// the DNS rounds, one each; requests never wait behind them.
    pub background_connections: u32,
    /// How long a request waits for a connection before failing with 503.
    pub acquire_timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// Relay for outgoing mail (invitations, password resets), as a lettre SMTP URL:
    /// `smtp://host:port` (plain, loopback only), `smtp://user:pass@host:587?tls=required`,
    /// `smtps://host:465`. When empty, no mail is sent: invitation links are shown to the admin
    /// instead and password reset by mail is unavailable.
    pub smtp_url: Option<String>,
    /// The From header of those mails.
    pub from: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    pub session_hours: i64,
    pub invitation_days: i64,
    pub password_reset_minutes: i64,
    /// Days between a deletion request and the purge of the member's data.
    pub deletion_grace_days: i64,
    /// Failed logins allowed per account, and per client address, within `rate_window_minutes`.
    pub login_failures_per_account: i64,
    pub login_failures_per_address: i64,
    /// Password-reset requests allowed per account and per address within the window.
    pub resets_per_account: i64,
    pub resets_per_address: i64,
    pub rate_window_minutes: i64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            trust_forwarded_for: false,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
            background_connections: 3,
            acquire_timeout_seconds: 5,
        }
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "Ruche <noreply@localhost>".to_owned(),
        }
    }
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            session_hours: 24 * 14,
            invitation_days: 7,
            password_reset_minutes: 60,
            deletion_grace_days: 14,
            login_failures_per_account: 10,
            login_failures_per_address: 50,
            resets_per_account: 3,
            resets_per_address: 20,
            rate_window_minutes: 15,
        }
    }
}

/// The collective's DNS: name server names, how ownership and delegation are checked, and how
/// often. See `crate::dns`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// Resolvers that stand for "the world": ownership verification and the registrar checklist
    /// ask them. Empty: the system's (`/etc/resolv.conf`). A list, or one string of
    /// comma-separated `ip:port` in the environment.
    #[serde(deserialize_with = "addresses")]
    pub resolvers: Vec<SocketAddr>,
    /// Seconds between rounds of verification, server checks and secondary rebalancing.
    pub check_interval_seconds: u64,
    /// Secondaries per primary node (fewer when fewer other nodes exist).
    pub secondaries: u32,
    /// Seconds a replaced secondary keeps serving after it left the NS records, so resolvers
    /// that cached the old NS set still get answers.
    pub retire_seconds: u64,
    /// Certificate authorities allowed by every zone's CAA records.
    pub caa_issuers: Vec<DomainName>,
}

impl DnsConfig {
    /// This configuration with the collective's platform domain as setup stored it.
    pub fn with_platform(&self, platform_domain: &str) -> Result<Platform, NameError> {
        Ok(Platform {
            platform_domain: DomainName::parse(platform_domain)?,
            dns: self.clone(),
        })
    }
}

/// The `[dns]` configuration with the collective's platform domain, which setup names (the
/// `collective` row): what every name server, catalog and key name is built from. Before
/// setup there is none (`db::setup::dns_config` says `None`), so no code can build a name from a
/// placeholder. Reads as the configuration it extends.
#[derive(Debug, Clone, PartialEq)]
pub struct Platform {
    /// Node N's name server is `ns<N>.<platform domain>`, its catalog zone
    /// `catalog.ns<N>.<platform domain>`. The collective publishes the `ns<N>` addresses in its
    /// own zone, so members' domains need no glue.
    pub platform_domain: DomainName,
    pub dns: DnsConfig,
}

impl std::ops::Deref for Platform {
    type Target = DnsConfig;
    fn deref(&self) -> &DnsConfig {
        &self.dns
    }
}

impl Default for DnsConfig {
    fn default() -> Self {
        #[allow(clippy::unwrap_used)] // constant names that parse
        Self {
            resolvers: Vec::new(),
            check_interval_seconds: 60,
            secondaries: 2,
            retire_seconds: 7200,
            caa_issuers: vec![DomainName::parse("letsencrypt.org").unwrap()],
        }
    }
}

fn addresses<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SocketAddr>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        List(Vec<SocketAddr>),
        Text(String),
    }
    match Form::deserialize(d)? {
        Form::List(list) => Ok(list),
        Form::Text(text) => text
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map_err(serde::de::Error::custom))
            .collect(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

const ENV_PREFIX: &str = "RUCHE_";
/// `RUCHE_` variables that are not configuration keys: the config file's path (read by the
/// command line) and the ones `deploy/run.sh` reads for itself.
const NOT_KEYS: &[&str] = &["RUCHE_CONFIG", "RUCHE_LISTEN", "RUCHE_PG_PORT"];

impl Config {
    /// Loads the configuration from an optional file and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let text = match file {
            Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.display().to_string(),
                source,
            })?,
            None => String::new(),
        };
        Self::from_sources(&text, std::env::vars())
    }

    /// Pure core of [`Config::load`]: TOML text plus environment pairs.
    pub fn from_sources(
        toml_text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table: toml::Table = toml_text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        for (key, value) in env {
            let (path, value) = if key == "DATABASE_URL" {
                (vec!["database".to_owned(), "url".to_owned()], value)
            } else if NOT_KEYS.contains(&key.as_str()) {
                continue;
            } else if let Some(rest) = key.strip_prefix(ENV_PREFIX) {
                let (rest, value) = match rest.strip_suffix("_FILE") {
                    Some(rest) => {
                        let content = std::fs::read_to_string(&value).map_err(|source| {
                            ConfigError::Read {
                                path: value.clone(),
                                source,
                            }
                        })?;
                        (rest, content.trim_end_matches(['\n', '\r']).to_owned())
                    }
                    None => (rest, value),
                };
                let path: Vec<String> = rest.split("__").map(|p| p.to_lowercase()).collect();
                if path.len() != 2 {
                    return Err(ConfigError::Invalid(format!(
                        "environment variable {key} is not of the form RUCHE_SECTION__KEY"
                    )));
                }
                (path, value)
            } else {
                continue;
            };
            set_path(&mut table, &path, env_value(&value))?;
        }
        Config::deserialize(toml::Value::Table(table))
            .map_err(|e| ConfigError::Invalid(e.to_string()))
    }
}

/// Environment values are strings; numbers and booleans are recognised so that
/// `RUCHE_DATABASE__MAX_CONNECTIONS=20` means the integer 20.
fn env_value(raw: &str) -> toml::Value {
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_owned()),
    }
}

fn set_path(
    table: &mut toml::Table,
    path: &[String],
    value: toml::Value,
) -> Result<(), ConfigError> {
    let [section, key] = path else {
        return Err(ConfigError::Invalid("expected SECTION__KEY".to_owned()));
    };
    let entry = table
        .entry(section.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(section_table) = entry else {
        return Err(ConfigError::Invalid(format!("{section} is not a section")));
    };
    section_table.insert(key.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_apply_without_sources() {
        let c = Config::from_sources("", env(&[])).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn env_overrides_file_and_database_url_is_read() {
        let c = Config::from_sources(
            "[http]\nlisten = \"127.0.0.1:9000\"\n[database]\nmax_connections = 3\n",
            env(&[
                ("RUCHE_HTTP__PUBLIC_URL", "https://portal.example.org"),
                ("RUCHE_DATABASE__MAX_CONNECTIONS", "20"),
                ("DATABASE_URL", "postgres://x@127.0.0.1/y"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(c.http.listen.port(), 9000);
        assert_eq!(
            c.http.public_url.unwrap().as_str(),
            "https://portal.example.org/"
        );
        assert_eq!(c.database.max_connections, 20);
        assert_eq!(c.database.url.as_deref(), Some("postgres://x@127.0.0.1/y"));
    }

    #[test]
    fn unknown_keys_are_rejected_in_file_and_env() {
        let err = Config::from_sources("[http]\nlisen = \"127.0.0.1:1\"\n", env(&[])).unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
        let err = Config::from_sources("", env(&[("RUCHE_MAIL__FORM", "x")])).unwrap_err();
        assert!(err.to_string().contains("form"), "{err}");
        assert!(Config::from_sources("", env(&[("RUCHE_NOPE", "x")])).is_err());
        // The config file's own variable is not a key.
        assert!(Config::from_sources("", env(&[("RUCHE_CONFIG", "/etc/ruche.toml")])).is_ok());
    }

    #[test]
    fn secrets_can_come_from_files() {
        let dir = std::env::temp_dir().join(format!("ruche-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("smtp");
        std::fs::write(&file, "smtp://user:secret@127.0.0.1:2525\n").unwrap();
        let c = Config::from_sources(
            "",
            env(&[("RUCHE_MAIL__SMTP_URL_FILE", file.to_str().unwrap())]),
        )
        .unwrap();
        assert_eq!(
            c.mail.smtp_url.as_deref(),
            Some("smtp://user:secret@127.0.0.1:2525")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// The shipped example must parse and mention every key, so it cannot drift from the code.
    #[test]
    fn example_config_parses_and_lists_every_key() {
        let text = include_str!("../../deploy/control-plane.example.toml");
        let parsed = Config::from_sources(text, env(&[])).unwrap();
        let example: toml::Table = text.parse().unwrap();
        let defaults = toml::Table::try_from(Config::default()).unwrap();
        for (section, keys) in &defaults {
            let keys = keys.as_table().unwrap();
            for key in keys.keys() {
                let documented = example
                    .get(section)
                    .and_then(|s| s.as_table())
                    .is_some_and(|s| s.contains_key(key))
                    || text.contains(&format!("# {key} ="));
                assert!(documented, "example config lacks {section}.{key}");
            }
        }
        assert_eq!(parsed.security, SecurityConfig::default());
    }
}
