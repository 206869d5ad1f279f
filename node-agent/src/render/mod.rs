//! Rendering: the node's desired state in, the daemons' files out. Pure — nothing here reads or
//! writes the disk or runs a command; [`crate::apply`] does that.
//!
//! Every path is relative to the [`Layout`]'s root (`/` in production, a temporary directory in
//! tests), and every value taken from the desired state is a typed name from `protocol::names`
//! or a typed DNS value from `protocol::dns` (records, TSIG keys), whose stored form cannot hold
//! a line break or an unbalanced quote. Renderers still never concatenate free text: they write
//! names through per-format helpers only, and add files through [`put`].
//!
//! This module holds what every renderer shares: [`File`], [`RelPath`], [`OnChange`], the
//! [`Layout`], the node's material and [`put`]. Each daemon's own renderer lives in its folder
//! under [`crate::services`]; [`render`] asks each one in turn. Nothing here names a daemon.

pub mod layout;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

pub use layout::{Layout, MessageLimit, Ports};

use crate::services::Service;

/// The first line of every rendered configuration file.
pub const HEADER: &str =
    "# Rendered by the Ruche node agent; do not edit: it is rewritten on every change.\n";

/// What a daemon needs after one of its files changed. The engine knows these three; what a
/// service's own step does is the service's (`crate::services::Daemon::plan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OnChange {
    /// Configuration: the service's check runs, then the service is reloaded.
    Reload,
    /// Data the daemon re-reads by itself (Dovecot's passwd-file, rspamd's maps): written with a
    /// modification time later than the file it replaces, nothing else.
    Nothing,
    /// Data the service loads with a step of its own, named here (Postfix's `postmap` of a
    /// lookup table, Knot's `zone-reload` of a zone file); the service plans it.
    Step(&'static str),
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
    /// This node's name server, from agent.toml `[dns]`. `None`: the node serves no zone.
    pub dns: Option<DnsSettings>,
}

/// agent.toml `[dns]`, with its defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    /// Where the node's name server answers (UDP and TCP); reported to the control plane.
    pub listen: SocketAddr,
    /// The web addresses the zones point to.
    pub addresses: Vec<IpAddr>,
}

#[derive(Clone)]
pub struct TlsPair {
    pub chain_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

/// Adds one file to `files`: the helper every renderer writes through. `path` is a constant or
/// is built from typed names; one that is not a [`RelPath`] is left out and logged (a test
/// renders every path).
pub fn put(
    files: &mut Files,
    service: Service,
    path: &str,
    mode: u32,
    on_change: OnChange,
    contents: impl Into<Vec<u8>>,
) {
    match RelPath::new(path) {
        Ok(path) => {
            let file = File {
                service,
                mode,
                on_change,
                contents: contents.into(),
            };
            files.insert(path, file);
        }
        Err(problem) => tracing::error!(%service, %problem, "not rendered"),
    }
}

/// Renders every file of every service ([`crate::services::ALL`]).
pub fn render(
    desired: &protocol::desired::DesiredState,
    layout: &Layout,
    material: &NodeMaterial,
) -> Files {
    let mut files = Files::new();
    for daemon in crate::services::ALL {
        daemon.render(desired, layout, material, &mut files);
    }
    files
}
