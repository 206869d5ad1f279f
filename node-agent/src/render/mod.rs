//! Rendering: the node's desired state in, the daemons' files out. Pure — nothing here reads or
//! writes the disk or runs a command; [`crate::apply`] does that.
//!
//! Every path is relative to the [`Layout`]'s root (`/` in production, a temporary directory in
//! tests), and every value taken from the desired state is a typed name from `protocol::names`
//! or a typed DNS value from `protocol::dns` (records, TSIG keys), whose stored form cannot hold
//! a line break or an unbalanced quote. Renderers still never concatenate free text: they write
//! names through [`crate::render`]'s helpers only. Knot's files ([`knot`], [`zone`]) are rendered
//! only when agent.toml has `[dns]` ([`NodeMaterial::dns`]).

pub mod dovecot;
pub mod knot;
pub mod layout;
pub mod postfix;
pub mod rspamd;
pub mod zone;

use std::collections::BTreeMap;
use std::fmt;

pub use layout::{Layout, MessageLimit, Ports};

/// The daemons whose files the agent renders. Each is checked and reloaded on its own.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Postfix,
    Dovecot,
    Rspamd,
    /// Knot DNS: rendered only when agent.toml has a `[dns]` section.
    Knot,
}

impl Service {
    pub const ALL: [Service; 4] = [
        Service::Postfix,
        Service::Dovecot,
        Service::Rspamd,
        Service::Knot,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Service::Postfix => "postfix",
            Service::Dovecot => "dovecot",
            Service::Rspamd => "rspamd",
            Service::Knot => "knot",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a daemon needs after one of its files changed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum OnChange {
    /// Reload the service (its main configuration changed).
    Reload,
    /// A Postfix lookup table's source: run `postmap lmdb:<file>` in place; running smtpd
    /// processes see the new table without a reload.
    Postmap,
    /// The daemon re-reads the file by itself (Dovecot's passwd-file, rspamd's maps).
    Nothing,
    /// A Knot zone file (`var/lib/knot/zones/<zone>.zone`): checked with `kzonecheck` before it
    /// replaces the old one, then loaded with `knotc zone-reload <zone>` (no full reload).
    #[serde(rename = "zone-reload")]
    ZoneReload,
}

/// One file to put on disk.
#[derive(Clone, PartialEq, Eq)]
pub struct File {
    pub service: Service,
    /// Unix permission bits, e.g. `0o644`; keys are `0o600` or `0o640`.
    pub mode: u32,
    pub on_change: OnChange,
    pub contents: Vec<u8>,
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Contents may hold a private key: never print them.
        f.debug_struct("File")
            .field("service", &self.service)
            .field("mode", &format_args!("{:04o}", self.mode))
            .field("on_change", &self.on_change)
            .field("bytes", &self.contents.len())
            .finish()
    }
}

/// A path relative to the layout's root: no leading `/`, no `.` or `..` component, no empty
/// component. Built only from constants and typed names.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct RelPath(String);

impl RelPath {
    pub fn new(path: &str) -> Result<RelPath, String> {
        let ok = !path.is_empty()
            && !path.starts_with('/')
            && path
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'));
        if ok {
            Ok(RelPath(path.to_owned()))
        } else {
            Err(format!("not a relative path: {path:?}"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RelPath {
    type Error = String;
    fn try_from(s: String) -> Result<RelPath, String> {
        RelPath::new(&s)
    }
}

impl From<RelPath> for String {
    fn from(p: RelPath) -> String {
        p.0
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything rendered for one node: every file the agent owns, by path.
pub type Files = BTreeMap<RelPath, File>;

/// Material that is not in the desired state but lives on the node, read at the I/O edge and
/// handed to the renderers.
#[derive(Clone, Default)]
pub struct NodeMaterial {
    /// The mail host's certificate chain and key (PEM), as given to the agent.
    pub tls: Option<TlsPair>,
    /// The DKIM selector of each domain that signs (a served domain of an active member) and
    /// whose private key exists on disk. A domain without a key is not in the selector map
    /// (rspamd would send its mail unsigned with only a log line); the agent generates the key
    /// first.
    pub dkim_selectors: BTreeMap<protocol::names::DomainName, String>,
    /// The DKIM key (the domain id it belongs to, selector and public half) of each domain whose
    /// key exists on disk: rspamd's path map names its file, the zones publish it.
    pub dkim_keys: BTreeMap<protocol::names::DomainName, crate::dkim::Key>,
    /// This node's name server, from agent.toml `[dns]`. `None`: no Knot file is rendered.
    pub dns: Option<knot::DnsSettings>,
}

#[derive(Clone)]
pub struct TlsPair {
    pub chain_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

/// Renders every file of every service.
pub fn render(
    desired: &protocol::desired::DesiredState,
    layout: &Layout,
    material: &NodeMaterial,
) -> Files {
    let mut files = Files::new();
    postfix::render(desired, layout, material, &mut files);
    dovecot::render(desired, layout, material, &mut files);
    rspamd::render(desired, layout, material, &mut files);
    knot::render(desired, layout, material, &mut files);
    files
}
